//! Command-line shape. Exit codes are part of the interface: 0 success, 1 a negative answer (an invalid
//! token, a failed check), 2 a usage or configuration problem (clap uses 2 for usage errors as well).

use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};

use crate::{
    backup_cmd, doctor_cmd, manifest_cmd, rollout_cmd, serve, smoke_cmd, token_verify, usage_cmd,
};

#[derive(Debug, Parser)]
#[command(name = "soapp", version, about = "Operate the SuperOffice app backend", long_about = None)]
pub struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the whole app locally on loopback (embedded store; SuperOffice simulator by default).
    Serve(ServeArgs),
    /// Check a configuration end to end (SuperOffice reachable, keys, credentials, store), one line
    /// per check with a fix. Exits 1 if any check fails.
    #[command(after_help = soapp::doctor::variables_help())]
    Doctor(DoctorArgs),
    /// Check a deployment from outside after a deploy: every public route, the security headers,
    /// the sign-in's SuperOffice environment and client, forged input refused; with --tenant, an
    /// install, the management page and an uninstall (simulator only). One line per check; exits 1
    /// if any check fails, 2 on a usage problem.
    Smoke(SmokeArgs),
    /// Security tokens (id_tokens, system-user tokens).
    #[command(subcommand)]
    Token(TokenCommand),
    /// The provisioning manifest (what the app puts into a tenant).
    #[command(subcommand)]
    Manifest(ManifestCommand),
    /// What the app sent each tenant's WebAPI, per tenant and day (calls, bytes, throttled and
    /// failed calls), from the store a configuration names: for SuperOffice's operations centre.
    /// Exits 2 on a usage or configuration error or a store that cannot be read.
    Usage(UsageArgs),
    /// Encrypted backups: run one, list them, verify one against its manifest, restore.
    ///
    /// Against AWS with the backup function's variables (APP_TABLE_NAME, APP_BACKUP_BUCKET,
    /// APP_BACKUP_KEY_ARN, APP_ENVIRONMENT, APP_NAME; --env-file or the environment), or locally with
    /// --data-dir (the folder `soapp serve` uses; stop it first). Exits 1 when a backup does not
    /// verify or a restore is refused, 2 on a configuration problem.
    Backup(BackupArgs),
    /// A release's manifest taken to every installed tenant (the worker ticks it once a minute).
    #[command(subcommand)]
    Rollout(RolloutCommand),
}

/// Where a deployment's store is: a stack's table (the worker's variables) or a local data folder.
#[derive(Debug, Args)]
pub struct DeploymentSource {
    /// A local data folder, as `soapp serve --data-dir` (stop it first).
    #[arg(long, value_name = "DIR", conflicts_with = "env_file")]
    pub data_dir: Option<std::path::PathBuf>,
    /// A file of KEY=VALUE lines (the worker function's variables: APP_TABLE_NAME, APP_BASE_URL,
    /// SO_*, ...); the environment fills the rest.
    #[arg(long, value_name = "FILE")]
    pub env_file: Option<std::path::PathBuf>,
}

#[derive(Debug, Subcommand)]
pub enum RolloutCommand {
    /// Where the rollout of the release stands: how many installed tenants hold its manifest, and
    /// each tenant's place (current, upgrading since when and why, suspended, waiting).
    Status(RolloutStatusArgs),
}

#[derive(Debug, Args)]
pub struct RolloutStatusArgs {
    #[command(flatten)]
    pub source: DeploymentSource,
    /// The release's manifest (default: the deployment's APP_MANIFEST; the demo for --data-dir).
    #[arg(long, value_name = "FILE")]
    pub manifest: Option<std::path::PathBuf>,
    /// The deployment's base URL (default: APP_BASE_URL; http://127.0.0.1:8123 for --data-dir).
    #[arg(long, value_name = "URL")]
    pub base_url: Option<String>,
    #[arg(long, value_enum, default_value = "text")]
    pub format: DiffFormat,
}

#[derive(Debug, Args)]
pub struct ManifestPlanArgs {
    /// The tenant (context identifier, e.g. Cust12345).
    #[arg(long, value_name = "ID")]
    pub tenant: String,
    #[command(flatten)]
    pub source: DeploymentSource,
    /// The manifest to plan for (default: the deployment's APP_MANIFEST; the demo for --data-dir).
    #[arg(long, value_name = "FILE")]
    pub manifest: Option<std::path::PathBuf>,
    /// The deployment's base URL (default: APP_BASE_URL; http://127.0.0.1:8123 for --data-dir).
    #[arg(long, value_name = "URL")]
    pub base_url: Option<String>,
    /// Also read what the tenant holds (read-only WebAPI calls as the system user; needs the
    /// deployment's credentials): finds items deleted or changed by hand, or brought back.
    #[arg(long)]
    pub look_in_tenant: bool,
    #[arg(long, value_enum, default_value = "text")]
    pub format: DiffFormat,
}

#[derive(Debug, Args)]
#[command(group = clap::ArgGroup::new("store").required(true).args(["env_file", "data_dir"]))]
pub struct UsageArgs {
    /// A file of KEY=VALUE lines (the function's variables): APP_TABLE_NAME names the deployment's
    /// DynamoDB table (the AWS SDK reads the region and credentials from the environment), or
    /// APP_DATA_DIR an embedded store.
    #[arg(long, value_name = "FILE")]
    pub env_file: Option<std::path::PathBuf>,
    /// The local runner's data folder (`soapp serve --data-dir`), instead of an env file.
    #[arg(long, value_name = "DIR")]
    pub data_dir: Option<std::path::PathBuf>,
    /// The first day, YYYY-MM-DD (days are UTC).
    #[arg(long, value_name = "DATE")]
    pub from: String,
    /// The last day, YYYY-MM-DD (included).
    #[arg(long, value_name = "DATE")]
    pub to: String,
    /// CSV with a header line, or a JSON array with the same columns.
    #[arg(long, value_enum, default_value = "csv")]
    pub format: UsageFormat,
    /// One row per tenant for the whole range instead of one per tenant and day.
    #[arg(long)]
    pub total: bool,
    /// A tenant's context id (Cust12345); repeat for several. Without it, every tenant the store
    /// holds (listed by the store's partition walk, never a table scan).
    #[arg(long = "tenant", value_name = "ID")]
    pub tenants: Vec<String>,
}

#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub enum UsageFormat {
    Csv,
    Json,
}

#[derive(Debug, Args)]
pub struct BackupArgs {
    #[command(flatten)]
    pub source: BackupSource,
    #[command(subcommand)]
    pub command: BackupCommand,
}

#[derive(Debug, Args)]
pub struct BackupSource {
    /// A local data folder (embedded store, key file, backups/ folder), as `soapp serve --data-dir`.
    #[arg(long, value_name = "DIR", global = true)]
    pub data_dir: Option<std::path::PathBuf>,
    /// A file of KEY=VALUE lines (the backup function's variables); the environment fills the rest.
    #[arg(long, value_name = "FILE", global = true)]
    pub env_file: Option<std::path::PathBuf>,
}

#[derive(Debug, Subcommand)]
pub enum BackupCommand {
    /// Back up every tenant and the app's records now (continues a run that stopped midway).
    Run,
    /// Complete backups, newest first.
    List {
        #[arg(long, default_value_t = 20)]
        limit: usize,
    },
    /// Decrypt a backup (the newest by default) and compare it with its manifest; changes nothing.
    Verify {
        /// A backup id (from `list`), or `newest`.
        #[arg(long, value_name = "ID")]
        backup: Option<String>,
    },
    /// Write a backup back into the table, one tenant or everything. Checks the whole backup first
    /// and writes nothing if any of it fails; refuses to overwrite items changed since the backup
    /// unless --overwrite; running it twice changes nothing the second time.
    Restore {
        /// A backup id (from `list`), or `newest` (the default).
        #[arg(long, value_name = "ID")]
        backup: Option<String>,
        /// The tenant (context id, e.g. Cust12345) to restore.
        #[arg(long, value_name = "ID", conflicts_with = "all")]
        tenant: Option<String>,
        /// Restore the app's records and every tenant in the backup (tenants whose key was erased
        /// are left out).
        #[arg(long)]
        all: bool,
        /// Replace items whose content differs from the backup (changed since it was taken).
        #[arg(long)]
        overwrite: bool,
        /// Check and count only; write nothing.
        #[arg(long)]
        dry_run: bool,
    },
}

#[derive(Debug, Subcommand)]
enum ManifestCommand {
    /// Print the list of provisioned items SuperOffice asks for, after validating the manifest.
    List(ManifestListArgs),
    /// What a release with manifest NEW changes in a tenant that holds manifest OLD: one line per
    /// item created, updated or removed (the same plan the upgrade applies). Exits 0 with a change,
    /// 0 with "no change", 1 if either manifest is invalid, 2 if one cannot be read.
    Diff(ManifestDiffArgs),
    /// What the next upgrade or repair would do in one installed tenant, without doing it: against
    /// the app's ledger, or with --look-in-tenant against what the tenant holds. Exits 1 for a
    /// tenant the app does not know.
    Plan(ManifestPlanArgs),
}

#[derive(Debug, Args)]
pub struct ManifestDiffArgs {
    /// The manifest installed tenants hold now.
    #[arg(value_name = "OLD")]
    pub old: std::path::PathBuf,
    /// The manifest of the new release.
    #[arg(value_name = "NEW")]
    pub new: std::path::PathBuf,
    /// The deployment's base URL (a changed one updates every panel, button and webhook).
    #[arg(long, value_name = "URL", default_value = "https://app.example.com")]
    pub base_url: String,
    /// Text for people, JSON for tools.
    #[arg(long, value_enum, default_value = "text")]
    pub format: DiffFormat,
}

#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub enum DiffFormat {
    Text,
    Json,
}

#[derive(Debug, Args)]
pub struct ManifestListArgs {
    /// Markdown for people, JSON for tools.
    #[arg(long, value_enum, default_value = "md")]
    pub format: ListFormat,
    /// The manifest file (default: the demo manifest built into soapp, manifest/demo.toml).
    #[arg(long, value_name = "FILE")]
    pub manifest: Option<std::path::PathBuf>,
    /// The deployment's base URL, to show full web panel and webhook URLs.
    #[arg(long, value_name = "URL", default_value = "https://app.example.com")]
    pub base_url: String,
}

#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub enum ListFormat {
    Md,
    Json,
}

#[derive(Debug, Args)]
pub struct DoctorArgs {
    /// A file of KEY=VALUE lines (the function's variables); the process environment fills the rest.
    #[arg(long, value_name = "FILE")]
    pub env_file: Option<std::path::PathBuf>,
}

#[derive(Debug, Args)]
#[command(group = clap::ArgGroup::new("issuer_source").required(true).args(["env", "issuer"]))]
pub struct SmokeArgs {
    /// The deployment's base URL (the stack's BaseUrl output).
    #[arg(long, value_name = "URL")]
    pub url: String,
    /// The environment the deployment is: sod, stage or online (its SuperOffice sign-in).
    #[arg(long, value_enum)]
    pub env: Option<SmokeEnv>,
    /// Any other issuer base URL instead of --env (the simulator of a local run).
    #[arg(long, value_name = "URL")]
    pub issuer: Option<String>,
    /// The app's client id in that environment: the sign-in redirect must name it.
    #[arg(long, value_name = "ID")]
    pub client_id: Option<String>,
    /// Also install, open the management page and uninstall in this test tenant (its context id).
    /// Drives the simulator's sign-in pages, so only with --issuer.
    #[arg(long, value_name = "CONTEXT_ID", requires = "user")]
    pub tenant: Option<String>,
    /// The test tenant's administrator to sign in as (with --tenant).
    #[arg(long, value_name = "EMAIL", requires = "tenant")]
    pub user: Option<String>,
    /// Seconds one request may take.
    #[arg(long, value_name = "SECONDS", default_value_t = 10)]
    pub timeout: u64,
    /// Seconds the install and the uninstall may each take (with --tenant).
    #[arg(long, value_name = "SECONDS", default_value_t = 180)]
    pub tenant_wait: u64,
}

#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub enum SmokeEnv {
    Sod,
    Stage,
    Online,
}

#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Where to listen.
    #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:8123")]
    pub listen: std::net::SocketAddr,
    /// Where the embedded store, keys and simulator state are kept (created if missing).
    #[arg(long, value_name = "DIR", default_value = ".data")]
    pub data_dir: std::path::PathBuf,
    /// The SuperOffice to use: `simulator` (built in), sod, qaonline, online, or the base URL of any
    /// provider that serves SuperOffice's discovery path.
    #[arg(
        long,
        value_name = "TARGET",
        default_value = "simulator",
        env = "SO_ENVIRONMENT"
    )]
    pub superoffice: String,
    /// The app's client id (needed unless the target is the simulator).
    #[arg(long, value_name = "ID", env = "SO_CLIENT_ID")]
    pub client_id: Option<String>,
    /// A file holding the app's client secret (needed unless the target is the simulator).
    #[arg(long, value_name = "FILE", env = "SO_CLIENT_SECRET_FILE")]
    pub client_secret_file: Option<std::path::PathBuf>,
    /// A file holding the app's system-user RSA private key (PEM or RSA XML).
    #[arg(long, value_name = "FILE", env = "SO_SYSTEM_USER_KEY_FILE")]
    pub system_user_key_file: Option<std::path::PathBuf>,
    /// The address browsers use, if not http://{listen} (e.g. http://localhost:8123).
    #[arg(long, value_name = "URL")]
    pub public_url: Option<String>,
    /// The provisioning manifest to install (default: the demo manifest built into soapp).
    #[arg(long, value_name = "FILE", env = "APP_MANIFEST")]
    pub manifest: Option<std::path::PathBuf>,
    /// Back up the local store every this many hours (the first a minute after start) into
    /// DATA_DIR/backups/local; 0 turns it off. `soapp backup --data-dir` reads them.
    #[arg(long, value_name = "HOURS", default_value_t = 24)]
    pub backup_every_hours: u64,
    /// Tick the rollout of the manifest (--manifest) to every installed tenant this often, as the
    /// worker's schedule does once a minute in AWS; 0 turns it off. Restart with a changed
    /// manifest and the installed tenants follow, APP_ROLLOUT_PER_MINUTE (10) per tick.
    #[arg(long, value_name = "SECONDS", default_value_t = 60)]
    pub rollout_every_seconds: u64,
}

#[derive(Debug, Subcommand)]
enum TokenCommand {
    /// Validate an id_token exactly as the redirect function does, and say precisely why it fails.
    ///
    /// Exits 0 and prints the claims as JSON (system_token and ticket values redacted) when the token
    /// is valid; exits 1 and prints `invalid: <reason>` on stderr when it is not; exits 2 on a usage or
    /// configuration error (including keys that cannot be loaded).
    Verify(VerifyArgs),
}

#[derive(Debug, Args)]
#[command(group = clap::ArgGroup::new("issuer_source").required(true).args(["env", "issuer"]))]
#[command(group = clap::ArgGroup::new("key_source").args(["jwks", "cert"]))]
pub struct VerifyArgs {
    /// Our application's client id (the token's audience).
    #[arg(long, value_name = "ID")]
    pub client_id: String,
    /// The SuperOffice environment: sod, qaonline (stage) or online.
    #[arg(long, value_name = "ENV")]
    pub env: Option<String>,
    /// Any other issuer base URL (the simulator, a test provider); keys come from its discovery.
    #[arg(long, value_name = "URL")]
    pub issuer: Option<String>,
    /// A JWKS file to take keys from instead of fetching them.
    #[arg(long, value_name = "FILE")]
    pub jwks: Option<std::path::PathBuf>,
    /// A certificate (PEM or DER) to take the key from, such as SuperOfficeFederatedLogin.crt.
    #[arg(long, value_name = "FILE")]
    pub cert: Option<std::path::PathBuf>,
    /// Validate as of this time instead of now (RFC 3339, e.g. 2026-11-28T12:00:00Z).
    #[arg(long, value_name = "RFC3339")]
    pub now: Option<String>,
    /// The nonce the sign-in started with; without it the nonce is not checked.
    #[arg(long, value_name = "VALUE")]
    pub nonce: Option<String>,
    /// The token; `-` or nothing reads it from standard input.
    #[arg(value_name = "TOKEN")]
    pub token: Option<String>,
}

impl Cli {
    pub fn run(self) -> ExitCode {
        match self.command {
            Command::Serve(args) => serve::run(args),
            Command::Doctor(args) => doctor_cmd::run(args),
            Command::Smoke(args) => smoke_cmd::run(args),
            Command::Token(TokenCommand::Verify(args)) => token_verify::run(args),
            Command::Manifest(ManifestCommand::List(args)) => manifest_cmd::list(args),
            Command::Manifest(ManifestCommand::Diff(args)) => manifest_cmd::diff(args),
            Command::Usage(args) => usage_cmd::run(args),
            Command::Manifest(ManifestCommand::Plan(args)) => rollout_cmd::plan(args),
            Command::Backup(args) => backup_cmd::run(args),
            Command::Rollout(command) => rollout_cmd::run(command),
        }
    }
}

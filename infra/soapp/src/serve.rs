//! `soapp serve`: start the local app and say where to open it.

use std::process::ExitCode;

use soapp::local::{self, ServeOptions, SuperOfficeTarget};

use crate::cli::ServeArgs;

pub fn run(args: ServeArgs) -> ExitCode {
    let target = if args.superoffice == "simulator" {
        SuperOfficeTarget::Simulator
    } else {
        let (Some(client_id), Some(client_secret_file)) = (args.client_id, args.client_secret_file)
        else {
            eprintln!(
                "error: --superoffice {} needs --client-id and --client-secret-file \
                 (or SO_CLIENT_ID and SO_CLIENT_SECRET_FILE)",
                args.superoffice
            );
            return ExitCode::from(2);
        };
        SuperOfficeTarget::Remote {
            environment: args.superoffice.clone(),
            client_id,
            client_secret_file,
            system_user_key_file: args.system_user_key_file,
        }
    };
    app::telemetry::init(domain::config::LogFormat::Text);
    let data_dir = args.data_dir.clone();
    crate::block_on(async move {
        let options = ServeOptions {
            listen: args.listen,
            data_dir: data_dir.clone(),
            superoffice: target,
            public_url: args.public_url,
            manifest: args.manifest,
            settings: Vec::new(),
        };
        let mut app = match local::start(options).await {
            Ok(app) => app,
            Err(e) => {
                eprintln!("error: {e}");
                return ExitCode::from(2);
            }
        };
        if args.backup_every_hours > 0 {
            let every = std::time::Duration::from_secs(args.backup_every_hours * 3600);
            let first = std::time::Duration::from_secs(60);
            if let Err(e) = app.schedule_backups(&data_dir, first, every) {
                eprintln!("error: {e}");
                app.stop().await;
                return ExitCode::from(2);
            }
        }
        if args.rollout_every_seconds > 0 {
            app.schedule_rollout(std::time::Duration::from_secs(args.rollout_every_seconds));
        }
        println!("The app is running. Open {}/", app.url);
        match &app.simulator {
            Some(sim) => {
                println!("SuperOffice is the built-in simulator at {}", sim.issuer());
                println!(
                    "  sign in as ada@demo.example (administrator of Demo Company AS, Cust12345)"
                );
                println!("  or ulf@demo.example (a user of the same tenant)");
                println!(
                    "  SuperOffice's side of a tenant's life (restore, suspend, move, delete): {}/__sim/tenants",
                    sim.issuer()
                );
            }
            None => println!("SuperOffice: {}", args.superoffice),
        }
        println!("Press Ctrl-C to stop.");
        let _ = tokio::signal::ctrl_c().await;
        app.stop().await;
        ExitCode::SUCCESS
    })
}

//! The harness the end-to-end tests share: a simulator with our app registered, and the platform crate
//! pointed at it exactly as production points it at SuperOffice (real HTTP transport, discovery, JWKS).

pub mod browser;
pub mod fleet;
pub mod install_app;
pub mod logs;

use std::sync::{Arc, OnceLock};

use superoffice::Secret;
use superoffice::client::{PlatformConfig, SuperOffice};
use superoffice::clock::{Clock, Jitter, RandomJitter, SystemClock};
use superoffice::system_user::SystemUserKey;
use superoffice::testing::TestSigner;
use superoffice::transport::ReqwestTransport;
use superoffice_simulator::{AppRegistration, Simulator, SimulatorConfig, SimulatorHandle};

pub const CLIENT_ID: &str = "6cf25376616343b38d14ddcd804f2891";
pub const CLIENT_SECRET: &str = "83d0f3bcb9afbc7eb9d0682e9b86db52";
pub const APP_NAME: &str = "Acme Sync";
pub const TENANT: &str = "Cust12345";
pub const ADMIN: &str = "ada@demo.example";
pub const USER: &str = "ulf@demo.example";

/// The app's system-user key pair, generated once per test binary (key generation is slow in debug).
fn partner_signer() -> &'static TestSigner {
    static KEY: OnceLock<TestSigner> = OnceLock::new();
    KEY.get_or_init(|| TestSigner::generate("partner"))
}

/// The app's system-user private key (PKCS#8 DER).
pub fn partner_key_pkcs8() -> &'static [u8] {
    static DER: OnceLock<Vec<u8>> = OnceLock::new();
    DER.get_or_init(|| partner_signer().pkcs8_der())
}

/// The same key as PEM, as the system-user key file (`SO_SYSTEM_USER_KEY_FILE`) holds it.
pub fn partner_key_pem() -> String {
    use base64::Engine as _;
    let b64 = base64::engine::general_purpose::STANDARD.encode(partner_key_pkcs8());
    let mut out = String::from("-----BEGIN PRIVATE KEY-----\n");
    for line in b64.as_bytes().chunks(64) {
        out.push_str(std::str::from_utf8(line).expect("base64 is ASCII"));
        out.push('\n');
    }
    out.push_str("-----END PRIVATE KEY-----\n");
    out
}

pub fn partner_key() -> Arc<SystemUserKey> {
    Arc::new(SystemUserKey::from_bytes(partner_key_pkcs8()).expect("partner key"))
}

/// The simulator's signing key (PKCS#8 DER), generated once per test binary.
fn simulator_key() -> Vec<u8> {
    static KEY: OnceLock<Vec<u8>> = OnceLock::new();
    KEY.get_or_init(|| TestSigner::generate("simulator").pkcs8_der())
        .clone()
}

pub fn app_registration(redirect_uris: Vec<String>) -> AppRegistration {
    AppRegistration {
        name: APP_NAME.into(),
        client_id: CLIENT_ID.into(),
        client_secret: CLIENT_SECRET.into(),
        redirect_uris,
        system_user_public_key_der: Some(partner_signer().public_key_der()),
    }
}

/// The demo simulator (tenants Cust12345 and Cust67890) with our app registered.
pub async fn simulator(redirect_uris: Vec<String>) -> SimulatorHandle {
    let mut config = SimulatorConfig::demo(app_registration(redirect_uris));
    config.signing_key_pkcs8_der = Some(simulator_key());
    Simulator::start(config, "127.0.0.1:0".parse().expect("addr"))
        .await
        .expect("the simulator starts on loopback")
}

pub const REDIRECT: &str = "http://127.0.0.1:9/callback";

/// The platform crate configured for the simulator, with the given clock and jitter.
pub fn platform_with(
    sim: &SimulatorHandle,
    clock: Arc<dyn Clock>,
    jitter: Arc<dyn Jitter>,
) -> SuperOffice {
    let env = sim.base_url().as_str().parse().expect("simulator URL");
    let config = PlatformConfig::new(env, CLIENT_ID, Secret::new(CLIENT_SECRET));
    SuperOffice::new(
        config,
        Arc::new(ReqwestTransport::new().expect("transport")),
        clock,
        jitter,
    )
}

pub fn platform(sim: &SimulatorHandle) -> SuperOffice {
    platform_with(sim, Arc::new(SystemClock), Arc::new(RandomJitter))
}

/// The AWS API emulator the test command started (`AWS_ENDPOINT_URL`). Tests that need it fail with
/// this message when it is missing instead of passing silently.
pub fn aws_emulator() -> String {
    std::env::var("AWS_ENDPOINT_URL").unwrap_or_else(|_| {
        panic!(
            "this test needs the AWS API emulator: run it through scripts/test, which installs moto \
             and sets AWS_ENDPOINT_URL (or start `moto_server -H 127.0.0.1 -p PORT` and set \
             AWS_ENDPOINT_URL=http://127.0.0.1:PORT with dummy credentials and AWS_REGION)"
        )
    })
}

/// The AWS SDK configuration for the emulator: its endpoint, with region and credentials from the
/// environment the test command set.
pub async fn emulator_sdk() -> aws_config::SdkConfig {
    aws_config::defaults(aws_config::BehaviorVersion::latest())
        .endpoint_url(aws_emulator())
        .load()
        .await
}

/// A DynamoDB table shaped like the deployed one (pk/sk, TTL on `expires_at`, the inverted index
/// the adapter lists partitions with) in the emulator.
pub async fn emulator_table(prefix: &str) -> adapters::aws::dynamo::DynamoItems {
    let client = aws_sdk_dynamodb::Client::new(&emulator_sdk().await);
    let table = format!(
        "{prefix}-{}",
        superoffice::oidc::random_token().expect("random")[..8]
            .to_ascii_lowercase()
            .replace(['-', '_'], "x")
    );
    adapters::aws::dynamo::create_table(&client, &table)
        .await
        .unwrap_or_else(|e| panic!("the emulator: {e}"));
    adapters::aws::dynamo::DynamoItems::new(client, table)
}

/// A versioned bucket in the emulator, and the S3 client (path-style addressing, as the adapter
/// uses against an emulator).
pub async fn emulator_bucket(prefix: &str) -> (aws_sdk_s3::Client, String) {
    use aws_sdk_s3::types::{
        BucketLocationConstraint, BucketVersioningStatus, CreateBucketConfiguration,
        VersioningConfiguration,
    };
    let sdk = emulator_sdk().await;
    let client = adapters::aws::s3::s3_client(&sdk);
    let bucket = format!(
        "{prefix}-{}",
        superoffice::oidc::random_token().expect("random")[..10]
            .to_ascii_lowercase()
            .replace(['-', '_'], "x")
    );
    let region = sdk
        .region()
        .map(|r| r.to_string())
        .unwrap_or_else(|| "eu-west-1".into());
    let mut create = client.create_bucket().bucket(&bucket);
    if region != "us-east-1" {
        create = create.create_bucket_configuration(
            CreateBucketConfiguration::builder()
                .location_constraint(BucketLocationConstraint::from(region.as_str()))
                .build(),
        );
    }
    create
        .send()
        .await
        .expect("the emulator creates the bucket");
    client
        .put_bucket_versioning()
        .bucket(&bucket)
        .versioning_configuration(
            VersioningConfiguration::builder()
                .status(BucketVersioningStatus::Enabled)
                .build(),
        )
        .send()
        .await
        .expect("versioning");
    (client, bucket)
}

/// A symmetric KMS key in the emulator: its id.
pub async fn emulator_kms_key() -> String {
    let kms = aws_sdk_kms::Client::new(&emulator_sdk().await);
    let key = kms.create_key().send().await.expect("a KMS key");
    key.key_metadata().expect("metadata").key_id().to_owned()
}

/// Writes items as the DynamoDB adapter stores them, 25 to a BatchWriteItem and `parallel` batches
/// at a time (test data in bulk; the app itself writes item by item with conditions).
pub async fn seed_items(
    items: &adapters::aws::dynamo::DynamoItems,
    all: Vec<domain::store::Item>,
    parallel: usize,
) {
    use aws_sdk_dynamodb::types::{AttributeValue, PutRequest, WriteRequest};
    let requests: Vec<WriteRequest> = all
        .iter()
        .map(|item| {
            let mut a = std::collections::HashMap::from([
                ("pk".to_owned(), AttributeValue::S(item.pk.clone())),
                ("sk".to_owned(), AttributeValue::S(item.sk.clone())),
                ("data".to_owned(), AttributeValue::S(item.data.to_string())),
                ("version".to_owned(), AttributeValue::N("1".into())),
            ]);
            if let Some(e) = item.expires_at {
                a.insert("expires_at".to_owned(), AttributeValue::N(e.to_string()));
            }
            WriteRequest::builder()
                .put_request(
                    PutRequest::builder()
                        .set_item(Some(a))
                        .build()
                        .expect("put"),
                )
                .build()
        })
        .collect();
    let batches: Vec<Vec<WriteRequest>> = requests.chunks(25).map(<[_]>::to_vec).collect();
    let client = items.client().clone();
    let table = items.table().to_owned();
    let semaphore = std::sync::Arc::new(tokio::sync::Semaphore::new(parallel.max(1)));
    let mut tasks = Vec::new();
    for batch in batches {
        let (client, table, semaphore) = (client.clone(), table.clone(), semaphore.clone());
        tasks.push(tokio::spawn(async move {
            let _permit = semaphore.acquire().await.expect("semaphore");
            let mut pending = batch;
            for _ in 0..20 {
                let out = client
                    .batch_write_item()
                    .request_items(&table, pending.clone())
                    .send()
                    .await
                    .expect("BatchWriteItem");
                match out.unprocessed_items().and_then(|u| u.get(&table)) {
                    Some(left) if !left.is_empty() => pending = left.clone(),
                    _ => return,
                }
            }
            panic!("the emulator left items unprocessed 20 times");
        }));
    }
    for t in tasks {
        t.await.expect("seeding task");
    }
}

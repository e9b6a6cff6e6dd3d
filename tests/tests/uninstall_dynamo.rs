//! The uninstall on DynamoDB (the AWS API emulator) with the real SDK, against the simulator over
//! HTTP: the engine installs a manifest, the tenant has a session, usage and a webhook event, then
//! the uninstall removes every artifact from the simulated tenant and every item of the tenant
//! from the table, leaving the audit record.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use adapters::local::sealer::LocalSealer;
use domain::audit::Audit;
use domain::ledger::Ledger;
use domain::manifest::Manifest;
use domain::provisioning::{Engine, Run};
use domain::sealing::{self, Sealer};
use domain::signin::{Intent, Session, Sessions};
use domain::store::Items;
use domain::tenant::{Consent, InstallStatus, Tenants};
use domain::webhook_events::{WebhookEvent, WebhookEvents};
use integration_tests::*;
use superoffice::usage::UsageCounters;
use superoffice::{Secret, TenantId};

const MANIFEST: &str = r#"
[app]
name = "Dynamo App"
prog_id_prefix = "DynamoApp"

[[lists]]
key = "kinds"
name = "Dynamo App kinds"
items = [{ US = "One" }, { US = "Two" }]

[[user_defined_fields]]
prog_id = "DynamoApp.Kind"
entity = "Contact"
type = "List"
label = "Kind"
list = "kinds"

[[web_panels]]
prog_id = "DynamoApp.Panel"
name = "Dynamo App"
visible_in = "ContactCard"
path = "/panels/contact?ctx=<uctx>&user=<usid>"

[[buttons]]
prog_id = "DynamoApp.Open"
name = "Dynamo App"
path = "/panels/home?ctx=<uctx>&user=<usid>"

[[preferences]]
section = "DynamoApp"
key = "Enabled"
value = "1"
"#;

/// Everything of the Dynamo App in the simulated tenant.
fn ours(sim: &superoffice_simulator::SimulatorHandle) -> Vec<String> {
    let snap = sim.webapi_snapshot(TENANT).unwrap();
    let mut out = Vec::new();
    for (entity, layout) in &snap.udefs {
        for f in layout.admin.iter().chain(&layout.published) {
            if f["ProgId"]
                .as_str()
                .is_some_and(|p| p.starts_with("DynamoApp"))
            {
                out.push(format!("field {entity} {}", f["ProgId"]));
            }
        }
    }
    out.extend(
        snap.lists
            .iter()
            .filter(|l| l.list["Name"] == "Dynamo App kinds")
            .map(|_| "list".to_owned()),
    );
    out.extend(
        snap.web_panels
            .iter()
            .filter(|p| {
                p.panel["ProgId"]
                    .as_str()
                    .is_some_and(|p| p.starts_with("DynamoApp"))
            })
            .map(|p| format!("panel {}", p.panel["ProgId"])),
    );
    out.extend(
        snap.preferences
            .iter()
            .filter(|p| p["Specification"]["Section"] == "DynamoApp")
            .map(|_| "preference".to_owned()),
    );
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_uninstall_on_dynamodb_leaves_only_the_audit_record() {
    let items = Arc::new(emulator_table("uninstall").await);
    let sim = simulator(vec![REDIRECT.into()]).await;
    let so = platform(&sim);
    let tickets = Arc::new(so.system_user(partner_key()).await.unwrap());
    let webapi = Arc::new(so.webapi(tickets, Arc::new(UsageCounters::default()), None));
    let dir = tempfile::tempdir().unwrap();
    let sealer = Arc::new(LocalSealer::open_or_create(&dir.path().join("key")).unwrap());
    let tenant = TenantId::parse(TENANT).unwrap();
    sim.grant_consent(TENANT, CLIENT_ID);
    let system_token = Secret::new(sim.system_token(TENANT, CLIENT_ID).unwrap());
    let now = superoffice::clock::unix_seconds(SystemTime::now());
    let tenants = Tenants::new(items.clone());
    tenants
        .record_consent(
            &Consent {
                tenant: tenant.clone(),
                company: Some("Demo Company AS".into()),
                sealed_system_token: sealer
                    .seal(&system_token, &sealing::context(&tenant, "system_token"))
                    .await
                    .unwrap(),
                approved_by: "subject-ada".into(),
            },
            now,
        )
        .await
        .unwrap();
    let engine = Engine {
        items: items.clone(),
        manifest: Arc::new(Manifest::parse(MANIFEST).unwrap()),
        base_url: "https://app.example.com".into(),
        tenants: tenants.clone(),
        ledger: Ledger::new(items.clone()),
        sealer,
        api: webapi,
        clock: Arc::new(superoffice::clock::SystemClock),
    };
    let deadline = SystemTime::now() + Duration::from_secs(60);
    assert_eq!(engine.install(&tenant, deadline).await.unwrap(), Run::Done);
    // The field in the admin and the published layout, the list, three panels, the preference.
    assert_eq!(ours(&sim).len(), 7, "{:?}", ours(&sim));

    // What the app keeps for the tenant besides: a session, an event, usage.
    let session_id = superoffice::oidc::random_token().unwrap();
    Sessions::new(items.clone())
        .create(
            &session_id,
            &Session {
                subject: "subject-ada".into(),
                email: Some("ada@demo.example".into()),
                tenant: tenant.clone(),
                company: None,
                associate_id: None,
                is_administrator: true,
                intent: Intent::SignIn,
                csrf_token: Secret::new("csrf"),
                created_at: now,
                expires_at: now + 3600,
            },
            now,
        )
        .await
        .unwrap();
    WebhookEvents::new(items.clone())
        .record(
            &tenant,
            "event-1",
            &WebhookEvent {
                event: Some("contact.changed".into()),
                entity: Some("contact".into()),
                primary_key: None,
                timestamp: None,
                received_at: now,
            },
            now,
        )
        .await
        .unwrap();
    assert!(
        !items
            .query("TENANT#Cust12345", "", 0)
            .await
            .unwrap()
            .is_empty()
    );

    tenants
        .update(&tenant, now, |t| {
            t.status = InstallStatus::Uninstalling;
            t.uninstall_requested_by = Some(domain::audit::pseudonym(&t.id, "subject-ada"));
        })
        .await
        .unwrap();
    assert_eq!(
        engine.uninstall(&tenant, deadline).await.unwrap(),
        Run::Done
    );

    assert_eq!(
        ours(&sim),
        Vec::<String>::new(),
        "nothing of the app's in the tenant"
    );
    assert!(
        items
            .query("TENANT#Cust12345", "", 0)
            .await
            .unwrap()
            .is_empty(),
        "nothing of the tenant's in the table"
    );
    assert_eq!(
        Sessions::new(items.clone())
            .find(&session_id, now)
            .await
            .unwrap(),
        None,
        "the tenant's sessions ended"
    );
    let audit = Audit::new(items.clone())
        .records(&tenant, now)
        .await
        .unwrap();
    assert_eq!(audit.len(), 1);
    assert_eq!(audit[0].by.as_deref().map(str::len), Some(16));
    // A second uninstall finds nothing to do.
    assert_eq!(
        engine.uninstall(&tenant, deadline).await.unwrap(),
        Run::Done
    );
    sim.shutdown().await;
}

//! The webhook receiver with the simulator as SuperOffice: signed deliveries are recorded once,
//! forgeries, missing signatures and altered bodies are refused with 401 and change nothing.

use domain::store::Items;
use integration_tests::install_app::*;
use reqwest::StatusCode;

const OTHER: &str = "Cust67890";

/// Installs the app for `tenant` as its administrator `admin`; returns the webhook's id there.
async fn install(app: &App, tenant: &str, admin: &str) -> i32 {
    let session = app.sign_in_to_install_at(tenant, admin).await;
    app.press_install(&session).await;
    app.wait_for_status(&session, "installed").await;
    let snap = app.sim().webapi_snapshot(tenant).unwrap();
    assert_eq!(snap.webhooks.len(), 1, "{tenant}: one webhook");
    snap.webhooks[0].webhook["WebhookId"].as_i64().unwrap() as i32
}

async fn installed() -> (App, i32) {
    let app = App::start().await;
    let id = install(&app, "Cust12345", "ada@demo.example").await;
    (app, id)
}

async fn events(app: &App) -> Vec<String> {
    events_of(app, "Cust12345").await
}

async fn events_of(app: &App, tenant: &str) -> Vec<String> {
    app.app
        .items
        .query(&format!("TENANT#{tenant}"), "EVENT#", 0)
        .await
        .unwrap()
        .into_iter()
        .map(|i| i.sk)
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn signed_deliveries_are_recorded_once_and_forgeries_change_nothing() {
    let (app, webhook) = installed().await;
    // The registration's test event already passed the signature check at save time.
    let delivery = app
        .sim()
        .deliver_webhook_event("Cust12345", webhook, "contact.changed", "contact", 42)
        .await
        .unwrap();
    assert_eq!(delivery.status, Some(200), "{:?}", delivery.error);
    assert_eq!(
        events(&app).await,
        vec![format!("EVENT#{}", delivery.event_id)]
    );

    // SuperOffice's retry of the same event (same EventId) is accepted and recorded once.
    let retry = app
        .http
        .post(&delivery.url)
        .header("content-type", "application/json")
        .header(
            "x-superoffice-signature",
            delivery.signature.clone().unwrap(),
        )
        .header("x-superoffice-event", "contact.changed")
        .body(delivery.body.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(retry.status(), StatusCode::OK);
    assert_eq!(events(&app).await.len(), 1);

    let body = delivery.body.clone();
    let forged_body = body.replace("\"PrimaryKey\":42", "\"PrimaryKey\":43");
    assert_ne!(forged_body, body);
    let forged_signature = "aGVsbG8gd29ybGQgaGVsbG8gd29ybGQgaGVsbG8gd29y".to_owned();
    for (what, signature, body) in [
        ("a forged signature", Some(forged_signature), body.clone()),
        ("no signature", None, body.clone()),
        ("an altered body", delivery.signature.clone(), forged_body),
        ("garbage", Some("%%%".to_owned()), body.clone()),
    ] {
        let mut req = app
            .http
            .post(&delivery.url)
            .header("content-type", "application/json")
            .body(body.replace(&delivery.event_id, &format!("{}-x", delivery.event_id)));
        if let Some(s) = signature {
            req = req.header("x-superoffice-signature", s);
        }
        let r = req.send().await.unwrap();
        assert_eq!(r.status(), StatusCode::UNAUTHORIZED, "{what}");
    }
    // Another tenant that has installed the app too (so it has a webhook secret of its own): our
    // validly signed delivery posted to its URL is refused, and neither tenant records anything.
    let other_webhook = install(&app, OTHER, "eve@other.example").await;
    let other = delivery.url.replace("Cust12345", OTHER);
    assert_ne!(other, delivery.url);
    let r = app
        .http
        .post(&other)
        .header("content-type", "application/json")
        .header(
            "x-superoffice-signature",
            delivery.signature.clone().unwrap(),
        )
        .header("x-superoffice-event", "contact.changed")
        .body(delivery.body.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(
        events(&app).await.len(),
        1,
        "nothing recorded by refused deliveries"
    );
    assert!(
        events_of(&app, OTHER).await.is_empty(),
        "nothing recorded for the other tenant"
    );
    // The other tenant's URL is live: its own signed delivery is accepted and recorded there.
    let own = app
        .sim()
        .deliver_webhook_event(OTHER, other_webhook, "contact.changed", "contact", 7)
        .await
        .unwrap();
    assert_eq!(own.url, other);
    assert_eq!(own.status, Some(200), "{:?}", own.error);
    assert_eq!(
        events_of(&app, OTHER).await,
        vec![format!("EVENT#{}", own.event_id)]
    );
    assert_eq!(events(&app).await.len(), 1);
    app.app.stop().await;
}

//! The webhook receiver with the simulator as SuperOffice: signed deliveries are recorded once,
//! forgeries, missing signatures and altered bodies are refused with 401 and change nothing.

use domain::store::Items;
use integration_tests::install_app::*;
use reqwest::StatusCode;

async fn installed() -> (App, i32) {
    let app = App::start().await;
    let session = app.sign_in_to_install("ada@demo.example").await;
    app.press_install(&session).await;
    app.wait_for_status(&session, "installed").await;
    let snap = app.sim().webapi_snapshot("Cust12345").unwrap();
    let id = snap.webhooks[0].webhook["WebhookId"].as_i64().unwrap() as i32;
    (app, id)
}

async fn events(app: &App) -> Vec<String> {
    app.app
        .items
        .query("TENANT#Cust12345", "EVENT#", 0)
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
    // Another tenant's URL with a valid signature for ours.
    let other = delivery.url.replace("Cust12345", "Cust67890");
    let r = app
        .http
        .post(&other)
        .header(
            "x-superoffice-signature",
            delivery.signature.clone().unwrap(),
        )
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
    app.app.stop().await;
}

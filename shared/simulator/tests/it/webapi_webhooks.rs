//! Webhooks: the test POST at save time, signatures, the sender API, filters and CRUD.

use std::collections::BTreeSet;

use serde_json::{Value, json};
use superoffice_simulator::{WebhookError, WebhookEvent};

use crate::common::*;
use crate::webapi_support::*;

const REST: &str = "swagger-rest-provisioning.json";
const SECRET_TEXT: &str = "Something Super Secret";

fn keys(v: &Value) -> BTreeSet<String> {
    v.as_object().expect("object").keys().cloned().collect()
}

fn hook(name: &str, target: &str, secret: Option<&str>) -> Value {
    json!({
        "Name": name,
        "Events": ["contact.created", "contact.changed", "contact.deleted"],
        "TargetUrl": target,
        "Secret": secret,
        "State": "Active",
        "Type": "webhook",
    })
}

#[tokio::test]
async fn save_posts_a_signed_test_event_first() {
    let sim = demo().await;
    let api = system_api(&sim, "Cust12345").await;
    let rx = Receiver::start(200).await;
    let (status, saved) = api
        .post(
            "Webhook",
            &hook("Acme contacts", &rx.url, Some(SECRET_TEXT)),
        )
        .await;
    assert_eq!(status, 200, "{saved}");
    assert_response_shape(REST, "/api/v1/Webhook", "post", &saved);
    assert!(saved["WebhookId"].as_i64().unwrap() > 0);
    assert_eq!(saved["State"], "Active");
    assert_eq!(saved["Type"], "webhook");
    assert_eq!(saved["RegisteredAssociate"]["AssociateId"], 1);
    assert!(
        saved["_Links"]["Self"]
            .as_str()
            .unwrap()
            .ends_with(&format!("/api/v1/Webhook/{}", saved["WebhookId"]))
    );

    let hits = rx.hits();
    assert_eq!(hits.len(), 1, "exactly one test POST");
    let t = &hits[0];
    assert_eq!(t.method, "POST");
    assert_eq!(t.header("x-hook-test"), Some("true"));
    assert_eq!(t.header("x-superoffice-event"), Some("test"));
    assert!(
        t.header("content-type")
            .unwrap()
            .starts_with("application/json")
    );
    assert!(
        t.header("user-agent")
            .unwrap()
            .starts_with("NetServer-Webhook/")
    );
    let sig = t
        .header("x-superoffice-signature")
        .expect("signature with a secret");
    assert!(verify_signature(SECRET_TEXT, &t.body, sig));
    assert!(!verify_signature("wrong secret", &t.body, sig));
    let body = t.json();
    // The documented test event's properties, nothing else.
    let example = example_json_blocks("webhook-test-event.txt").remove(0);
    assert_eq!(keys(&body), keys(&example));
    assert_eq!(body["Event"], "test");
    assert_eq!(body["Entity"], "test");
    assert_eq!(body["PrimaryKey"], 0);
    assert_eq!(body["Changes"], json!([]));
    assert_eq!(body["ContextIdentifier"], "Cust12345");
    assert_eq!(body["WebhookName"], "Acme contacts");
    assert_eq!(t.header("x-superoffice-eventid"), body["EventId"].as_str());

    // Without a secret there is no signature.
    let (status, _) = api.post("Webhook", &hook("No secret", &rx.url, None)).await;
    assert_eq!(status, 200);
    assert!(rx.hits()[1].header("x-superoffice-signature").is_none());
    sim.shutdown().await;
}

#[tokio::test]
async fn a_target_that_does_not_answer_200_refuses_the_save() {
    let sim = demo().await;
    let api = system_api(&sim, "Cust12345").await;
    let rx = Receiver::start(500).await;
    let (status, body) = api
        .post("Webhook", &hook("Broken", &rx.url, Some("s")))
        .await;
    assert_error(status, &body, 400);
    assert!(
        body["ErrorMessage"].as_str().unwrap().contains("200"),
        "{body}"
    );
    assert_eq!(rx.hits().len(), 1);
    rx.set_status(204);
    let (status, _) = api
        .post("Webhook", &hook("Broken", &rx.url, Some("s")))
        .await;
    assert_eq!(status, 400, "only 200 counts");
    // Nobody listening.
    let closed = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        format!("http://{}/hook", l.local_addr().unwrap())
    };
    let (status, body) = api.post("Webhook", &hook("Nobody", &closed, None)).await;
    assert_error(status, &body, 400);
    assert_eq!(api.get("Webhook").await.1, json!([]), "nothing saved");
    // http to a non-loopback host, bad events, other types: refused before any POST.
    rx.set_status(200);
    let before = rx.hits().len();
    for bad in [
        hook("x", "http://example.com/hook", None),
        hook("x", "not a url", None),
        json!({"Name": "x", "Events": [], "TargetUrl": rx.url}),
        json!({"Name": "x", "Events": ["contact"], "TargetUrl": rx.url}),
        json!({"Name": "x", "Events": ["contact.changed"]}),
        json!({"Name": "x", "Events": ["contact.changed"], "TargetUrl": rx.url, "Type": "crmscript"}),
        json!({"Name": "x", "Events": ["contact.changed"], "TargetUrl": rx.url, "State": "Sleeping"}),
        json!({"Name": "x", "Events": ["contact.changed"], "TargetUrl": rx.url, "Headers": {"X-Num": 1}}),
    ] {
        let (status, body) = api.post("Webhook", &bad).await;
        assert_error(status, &body, 400);
    }
    assert_eq!(rx.hits().len(), before);
    sim.shutdown().await;
}

#[tokio::test]
async fn crud_filters_and_default() {
    let sim = demo().await;
    let api = system_api(&sim, "Cust12345").await;
    let rx = Receiver::start(200).await;
    let (status, default) = api.get("Webhook/default").await;
    assert_eq!(status, 200);
    assert_response_shape(REST, "/api/v1/Webhook/default", "get", &default);
    let documented = vendor_json("webhook-default-entity.json");
    for (k, v) in documented.as_object().unwrap() {
        assert_eq!(&default[k], v, "{k}");
    }
    // The documented register request, pointed at our receiver.
    let mut body = example_json_blocks("webhook-register-request.http").remove(0);
    body["TargetUrl"] = json!(rx.url);
    let (_, a) = api.post("Webhook", &body).await;
    let (_, b) = api
        .post("Webhook", &json!({"Name": "Sales", "Events": ["sale.changed"], "TargetUrl": rx.url, "State": "Stopped"}))
        .await;
    let (a_id, b_id) = (
        a["WebhookId"].as_i64().unwrap(),
        b["WebhookId"].as_i64().unwrap(),
    );
    let (status, all) = api.get("Webhook").await;
    assert_eq!(status, 200);
    assert_response_shape(REST, "/api/v1/Webhook", "get", &all);
    assert_eq!(all.as_array().unwrap().len(), 2);
    let only = |v: &Value| {
        v.as_array()
            .unwrap()
            .iter()
            .map(|w| w["WebhookId"].as_i64().unwrap())
            .collect::<Vec<_>>()
    };
    assert_eq!(
        only(
            &api.get("Webhook?nameFilter=tonys%20contact%20handler")
                .await
                .1
        ),
        vec![a_id]
    );
    assert_eq!(
        only(&api.get("Webhook?eventFilter=sale.changed").await.1),
        vec![b_id]
    );
    assert_eq!(
        only(&api.get("Webhook?statusFilter=Stopped").await.1),
        vec![b_id]
    );
    assert_eq!(
        only(&api.get("Webhook?statusFilter=Unknown").await.1),
        vec![a_id, b_id]
    );
    let (status, body) = api.get("Webhook?statusFilter=Nope").await;
    assert_error(status, &body, 400);

    let (status, one) = api.get(&format!("Webhook/{a_id}")).await;
    assert_eq!(status, 200);
    assert_response_shape(REST, "/api/v1/Webhook/{id}", "get", &one);
    assert_eq!(one["Secret"], "Something Super Secret");
    // PUT tests the target again.
    let hits = rx.hits().len();
    let mut changed = one.clone();
    changed["Events"] = json!(["person.created"]);
    let (status, put) = api.put(&format!("Webhook/{a_id}"), &changed).await;
    assert_eq!(status, 200, "{put}");
    assert_response_shape(REST, "/api/v1/Webhook/{id}", "put", &put);
    assert_eq!(put["Events"], json!(["person.created"]));
    assert_eq!(put["Registered"], one["Registered"]);
    assert_eq!(rx.hits().len(), hits + 1);
    let (status, body) = api.put("Webhook/999", &changed).await;
    assert_error(status, &body, 404);
    let (status, last) = api.get(&format!("Webhook/{a_id}/LastError")).await;
    assert_eq!(status, 200);
    assert_eq!(last, json!(""));

    let snap = sim.webapi_snapshot("Cust12345").unwrap();
    assert_eq!(snap.webhooks.len(), 2);
    assert_eq!(
        snap.webhooks_named("Sales")[0].created_by_client_id,
        CLIENT_ID
    );

    let (status, _) = api.delete(&format!("Webhook/{a_id}")).await;
    assert_eq!(status, 204);
    let (status, body) = api.get(&format!("Webhook/{a_id}")).await;
    assert_error(status, &body, 404);
    let (status, body) = api.delete(&format!("Webhook/{a_id}")).await;
    assert_error(status, &body, 404);
    let (status, body) = api.get("Webhook/abc").await;
    assert_error(status, &body, 400);

    // Webhook/Test answers a WebhookResult.
    let (status, result) = api
        .post("Webhook/Test", &hook("t", &rx.url, Some("s")))
        .await;
    assert_eq!(status, 200);
    assert_shape(&result, "WebhookResult");
    assert_eq!(result["Success"], true);
    sim.shutdown().await;
}

#[tokio::test]
async fn the_simulator_sends_signed_events_like_superoffice() {
    let sim = demo().await;
    let api = system_api(&sim, "Cust12345").await;
    let rx = Receiver::start(200).await;
    let (_, saved) = api
        .post(
            "Webhook",
            &hook("Tonys Contact Handler", &rx.url, Some(SECRET_TEXT)),
        )
        .await;
    let id = i32::try_from(saved["WebhookId"].as_i64().unwrap()).unwrap();

    let d = sim
        .deliver_webhook_event("cust12345", id, "contact.changed", "contact", 994863)
        .await
        .unwrap();
    assert_eq!(d.status, Some(200));
    assert_eq!(d.error, None);
    let hits = rx.hits();
    let h = hits.last().unwrap();
    assert_eq!(h.header("x-superoffice-event"), Some("contact.changed"));
    assert_eq!(h.header("x-superoffice-eventid"), Some(d.event_id.as_str()));
    assert!(h.header("x-hook-test").is_none());
    assert!(h.header("x-superoffice-retry").is_none());
    let sig = h.header("x-superoffice-signature").unwrap();
    assert_eq!(Some(sig), d.signature.as_deref());
    assert!(verify_signature(SECRET_TEXT, &h.body, sig));
    assert_eq!(
        h.body.as_ref(),
        d.body.as_bytes(),
        "the signed bytes are the sent bytes"
    );
    let body = h.json();
    let example = vendor_json("webhook-payload-contact-changed-register-page.json");
    assert_eq!(keys(&body), keys(&example));
    assert_eq!(body["Event"], "contact.changed");
    assert_eq!(body["Entity"], "contact");
    assert_eq!(body["PrimaryKey"], 994863);
    assert_eq!(body["ContextIdentifier"], "Cust12345");
    assert_eq!(body["WebhookName"], "Tonys Contact Handler");
    assert_eq!(body["EventId"], d.event_id.as_str());

    // Everything under control, e.g. a retry with the same event id and FieldValues.
    let fv = example_json_blocks("webhook-payload-contact-changed-with-headers.txt").remove(0)["FieldValues"]
        .as_object()
        .unwrap()
        .clone();
    let ev = WebhookEvent::new("contact.changed", "contact", 18)
        .changes(["contact_id", "name"])
        .field_values(fv)
        .changed_by(5)
        .event_id(d.event_id.clone())
        .retry(1);
    let again = sim.deliver_webhook("Cust12345", id, &ev).await.unwrap();
    assert_eq!(again.event_id, d.event_id);
    let h = rx.hits().pop().unwrap();
    assert_eq!(h.header("x-superoffice-retry"), Some("1"));
    let body = h.json();
    assert_eq!(body["ChangedByAssociateId"], 5);
    assert_eq!(body["Changes"], json!(["contact_id", "name"]));
    assert_eq!(body["FieldValues"]["associate_id"], 12);

    // A failing receiver: recorded on the webhook.
    rx.set_status(500);
    let failed = sim
        .deliver_webhook_event("Cust12345", id, "contact.deleted", "contact", 1)
        .await
        .unwrap();
    assert_eq!(failed.status, Some(500));
    assert!(failed.error.is_some());
    let (_, w) = api.get(&format!("Webhook/{id}")).await;
    assert_eq!(w["TotalCalls"], 3);
    assert_eq!(w["TotalErrors"], 1);
    assert_eq!(w["ConsecutiveErrors"], 1);
    assert!(w["LastError"].as_str().unwrap().contains("500"));
    assert_eq!(
        api.get(&format!("Webhook/{id}/LastError")).await.1,
        w["LastError"]
    );

    // Errors.
    assert_eq!(
        sim.deliver_webhook_event("Cust99999", id, "contact.changed", "contact", 1)
            .await,
        Err(WebhookError::UnknownTenant("Cust99999".into()))
    );
    assert_eq!(
        sim.deliver_webhook_event("Cust12345", 999, "contact.changed", "contact", 1)
            .await,
        Err(WebhookError::UnknownWebhook(999))
    );
    assert_eq!(
        sim.deliver_webhook_event("Cust67890", id, "contact.changed", "contact", 1)
            .await,
        Err(WebhookError::UnknownWebhook(id)),
        "webhooks are per tenant"
    );
    let mut stopped = w.clone();
    stopped["State"] = json!("Stopped");
    rx.set_status(200);
    api.put(&format!("Webhook/{id}"), &stopped).await;
    assert!(matches!(
        sim.deliver_webhook_event("Cust12345", id, "contact.changed", "contact", 1)
            .await,
        Err(WebhookError::NotActive { .. })
    ));

    // Over HTTP for tests in another process.
    stopped["State"] = json!("Active");
    api.put(&format!("Webhook/{id}"), &stopped).await;
    let (status, resp) = admin_post(
        &sim,
        &format!("tenants/Cust12345/webhooks/{id}/events"),
        &json!({"event": "person.created", "entity": "person", "primary_key": 7}),
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(resp["status"], 200);
    assert!(verify_signature(
        SECRET_TEXT,
        resp["body"].as_str().unwrap().as_bytes(),
        resp["signature"].as_str().unwrap()
    ));
    assert_eq!(rx.hits().last().unwrap().json()["PrimaryKey"], 7);
    sim.shutdown().await;
}

#[tokio::test]
async fn nine_failures_in_a_row_stop_the_webhook() {
    let sim = demo().await;
    let api = system_api(&sim, "Cust12345").await;
    let rx = Receiver::start(200).await;
    let (_, saved) = api.post("Webhook", &hook("Flaky", &rx.url, None)).await;
    let id = i32::try_from(saved["WebhookId"].as_i64().unwrap()).unwrap();
    rx.set_status(503);
    for _ in 0..9 {
        let d = sim
            .deliver_webhook_event("Cust12345", id, "contact.changed", "contact", 1)
            .await
            .unwrap();
        assert_eq!(d.status, Some(503));
    }
    let (_, w) = api.get(&format!("Webhook/{id}")).await;
    assert_eq!(w["State"], "TooManyErrors");
    assert_eq!(w["ConsecutiveErrors"], 9);
    sim.shutdown().await;
}

//! User-defined fields: the documented create → PUT → publish flow, id renumbering on publish,
//! publish-in-progress, deletes and agents.

use std::collections::BTreeSet;
use std::time::Duration;

use serde_json::{Value, json};

use crate::common::*;
use crate::webapi_support::*;

const REST: &str = "swagger-rest-provisioning.json";

fn keys(v: &Value) -> BTreeSet<String> {
    v.as_object().expect("object").keys().cloned().collect()
}

#[tokio::test]
async fn default_field_has_the_documented_shape_and_is_not_stored() {
    let sim = demo().await;
    let api = system_api(&sim, "Cust12345").await;
    let (status, field) = api
        .post_empty("Contact/UdefLayout?udefFieldType=Number")
        .await;
    assert_eq!(status, 200, "{field}");
    assert_shape(&field, "UserDefinedFieldInfo");
    assert_response_shape(REST, "/api/v1/Contact/UdefLayout", "post", &field);
    // Same properties as the documented agent answer (our FieldProperties is from it too).
    let example = vendor_json("udef-agent-create-response-example.json");
    assert_eq!(keys(&field), keys(&example));
    for k in [
        "FieldHeight",
        "FieldLeft",
        "FieldWidth",
        "LabelHeight",
        "LabelWidth",
        "Justification",
    ] {
        assert_eq!(field[k], example[k], "{k}");
    }
    assert_eq!(field["FieldProperties"], example["FieldProperties"]);
    assert_eq!(field["UDefFieldId"], 0);
    assert_eq!(field["FieldType"], "Number");
    assert_eq!(field["Type"], "Contact");
    assert_eq!(field["ProgId"], "SuperOffice:1");
    assert_eq!(field["TemplateVariableName"], "cl1");
    assert_eq!(field["HasBeenPublished"], false);
    // A second default gets the next identity, so two fields fetched before one save stay apart.
    let (_, second) = api
        .post_empty("Contact/UdefLayout?udefFieldType=shorttext")
        .await;
    assert_eq!(second["ProgId"], "SuperOffice:2");
    assert_eq!(second["FieldType"], "ShortText");
    // "It only fetches the default structure."
    let (status, layout) = api.get("Contact/UdefLayout").await;
    assert_eq!(status, 200);
    assert_eq!(layout, json!([]));
    // Bad or missing type.
    let (status, body) = api
        .post_empty("Contact/UdefLayout?udefFieldType=Money")
        .await;
    assert_error(status, &body, 400);
    let (status, body) = api.post_empty("Contact/UdefLayout").await;
    assert_error(status, &body, 400);
    sim.shutdown().await;
}

#[tokio::test]
async fn create_put_publish_renumbers_every_field() {
    let sim = demo().await;
    let api = system_api(&sim, "Cust12345").await;
    // 1. default structure
    let (_, mut field) = api
        .post_empty("Contact/UdefLayout?udefFieldType=Number")
        .await;
    // 2. edit, as in the documented flow
    field["FieldLabel"] = json!("My Number Udef");
    field["IsMandatory"] = json!(true);
    field["ShortLabel"] = json!("NumUdef");
    field["Tooltip"] = json!("Tooltip for this Number UD field");
    // 3. PUT an array
    let (status, saved) = api.put("Contact/UdefLayout", &json!([field])).await;
    assert_eq!(status, 200, "{saved}");
    assert_response_shape(REST, "/api/v1/Contact/UdefLayout", "put", &saved);
    let saved = &saved[0];
    let prog_id = saved["ProgId"].as_str().unwrap().to_owned();
    assert_eq!(prog_id, "SuperOffice:1");
    let admin_id = saved["UDefFieldId"].as_i64().unwrap();
    assert!(admin_id > 0);
    assert_eq!(saved["FieldLabel"], "My Number Udef");
    assert_eq!(saved["HasBeenPublished"], false);
    let (_, layout) = api.get("Contact/UdefLayout").await;
    assert_response_shape(REST, "/api/v1/Contact/UdefLayout", "get", &layout);
    assert_eq!(layout.as_array().unwrap().len(), 1);
    let (_, published) = api.get("Contact/UdefLayout/Published").await;
    assert_eq!(published, json!([]));
    // A second field in a second PUT: the first one is not deleted.
    let (_, mut text) = api
        .post_empty("Contact/UdefLayout?udefFieldType=ShortText")
        .await;
    text["FieldLabel"] = json!("Partner key");
    let (status, _) = api.put("Contact/UdefLayout", &json!([text])).await;
    assert_eq!(status, 200);
    let (_, layout) = api.get("Contact/UdefLayout").await;
    assert_eq!(layout.as_array().unwrap().len(), 2);

    // 4. no publish running
    let (status, running) = api.get("Contact/UdefLayout/Publish").await;
    assert_eq!(status, 200);
    assert_eq!(running, json!(false));
    assert_response_shape(REST, "/api/v1/Contact/UdefLayout/Publish", "get", &running);
    // 5. publish
    let (status, version) = api.post_empty("Contact/UdefLayout/Publish").await;
    assert_eq!(status, 200, "{version}");
    assert_response_shape(REST, "/api/v1/Contact/UdefLayout/Publish", "post", &version);
    // 6. rebuild deltas
    let (status, body) = api
        .post_empty("Agents/Configuration/RebuildUdefDeltas")
        .await;
    assert_eq!(status, 204, "{body}");

    // Every field has a new id in both versions; ProgId stays, LastVersionId is the old id.
    let (_, published) = api.get("Contact/UdefLayout/Published").await;
    let published = published.as_array().unwrap().clone();
    assert_eq!(published.len(), 2);
    let pf = published
        .iter()
        .find(|f| f["ProgId"] == prog_id.as_str())
        .unwrap();
    assert_ne!(pf["UDefFieldId"].as_i64().unwrap(), admin_id);
    assert_eq!(pf["LastVersionId"].as_i64().unwrap(), admin_id);
    assert_eq!(pf["HasBeenPublished"], true);
    assert_eq!(pf["Version"], version);
    let (status, by_prog_id) = api.get(&format!("Contact/UdefLayout/{prog_id}")).await;
    assert_eq!(status, 200);
    assert_ne!(by_prog_id["UDefFieldId"].as_i64().unwrap(), admin_id);
    let (_, by_label) = api.get("Contact/UdefLayout/my%20number%20udef").await;
    assert_eq!(by_label["ProgId"], prog_id.as_str());
    let (status, _) = api
        .get(&format!("Contact/UdefLayout/Published/{prog_id}"))
        .await;
    assert_eq!(status, 200);
    // The old id is gone.
    let (status, body) = api.get(&format!("Contact/UdefLayout/{admin_id}")).await;
    assert_error(status, &body, 404);

    // Updating with the stale id still works when the ProgId is sent...
    let mut stale = saved.clone();
    stale["Tooltip"] = json!("changed");
    let (status, again) = api.put("Contact/UdefLayout", &json!([stale])).await;
    assert_eq!(status, 200, "{again}");
    assert_eq!(again[0]["UDefFieldId"], by_prog_id["UDefFieldId"]);
    assert_eq!(again[0]["Tooltip"], "changed");
    // ...but not without it.
    stale["ProgId"] = json!("");
    let (status, body) = api.put("Contact/UdefLayout", &json!([stale])).await;
    assert_error(status, &body, 404);

    let snap = sim.webapi_snapshot("Cust12345").unwrap();
    let contact = snap.udef("Contact").unwrap();
    assert_eq!(contact.publishes, 1);
    assert_eq!(contact.admin.len(), 2);
    assert_eq!(
        contact.published_field(&prog_id).unwrap()["Tooltip"],
        "Tooltip for this Number UD field"
    );
    assert_eq!(contact.admin_field(&prog_id).unwrap()["Tooltip"], "changed");
    assert!(snap.udef("Person").unwrap().admin.is_empty());
    assert_eq!(snap.rebuild_udef_deltas_calls, 1);
    assert_eq!(sim.webapi_calls("Cust12345", "POST UdefLayout/Publish"), 1);
    assert_eq!(
        sim.webapi_calls("Cust12345", "GET Contact/UdefLayout/Publish"),
        1
    );
    assert_eq!(sim.webapi_calls("Cust12345", "udeflayout/publish"), 2);
    assert_eq!(sim.webapi_calls("Cust67890", "UdefLayout"), 0);
    sim.shutdown().await;
}

#[tokio::test]
async fn the_documented_put_body_is_accepted() {
    let sim = demo().await;
    let api = system_api(&sim, "Cust12345").await;
    // Step 3 of docs:…/rest-create-udef-field.mdx, verbatim (a Number field with ListTableId 136).
    let body = example_json_blocks("udef-create-rest-flow.http")
        .into_iter()
        .find(Value::is_array)
        .expect("PUT body");
    let (status, saved) = api.put("Contact/UdefLayout", &body).await;
    assert_eq!(status, 200, "{saved}");
    assert_eq!(saved[0]["ProgId"], "SuperOffice:12");
    assert_eq!(saved[0]["ColumnId"], 8971);
    assert_eq!(saved[0]["IsMandatory"], true);
    // Automatic prog-ids stay clear of SuperOffice:12.
    let (_, next) = api
        .post_empty("Contact/UdefLayout?udefFieldType=Date")
        .await;
    assert_eq!(next["ProgId"], "SuperOffice:13");
    sim.shutdown().await;
}

#[tokio::test]
async fn bad_put_bodies_are_refused_without_changing_anything() {
    let sim = demo().await;
    let api = system_api(&sim, "Cust12345").await;
    let field = |label: &str, prog_id: &str| json!({"FieldType": "ShortText", "FieldLabel": label, "ProgId": prog_id});
    for (body, want) in [
        (json!({"FieldType": "Number"}), 400),
        (json!([{"FieldLabel": "no type"}]), 400),
        (json!([{"FieldType": "Money", "FieldLabel": "x"}]), 400),
        (
            json!([{"FieldType": "Number", "FieldLabel": "x", "Type": "Person"}]),
            400,
        ),
        (json!([{"FieldType": "Number", "FieldLabel": ""}]), 400),
        (json!([field("a", "p:1"), field("b", "p:1")]), 400),
        (
            json!([{"FieldType": "List", "FieldLabel": "l", "ListTableId": 136, "UDListDefinitionId": 999}]),
            400,
        ),
        (
            json!([field("ok", "p:2"), {"FieldType": "List", "FieldLabel": "l"}]),
            400,
        ),
        (
            json!([{"FieldType": "Number", "FieldLabel": "x", "UDefFieldId": 4242}]),
            404,
        ),
    ] {
        let (status, resp) = api.put("Contact/UdefLayout", &body).await;
        assert_error(status, &resp, want);
    }
    let (_, layout) = api.get("Contact/UdefLayout").await;
    assert_eq!(layout, json!([]), "nothing saved by a refused PUT");
    let resp = api
        .http
        .put(format!("{}Contact/UdefLayout", api.root))
        .header("Authorization", &api.authorization)
        .header("SO-AppToken", SECRET)
        .header("Content-Type", "application/json")
        .body("[{nope")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 400);
    // A list field pointing at a real user-defined list is fine.
    let (_, list) = api
        .post(
            "List",
            &json!({"Name": "Sizes", "Tooltip": "", "UseGroupsAndHeadings": false}),
        )
        .await;
    let list_id = list["Id"].clone();
    let (status, saved) = api
        .put(
            "Project/UdefLayout",
            &json!([{"FieldType": "List", "FieldLabel": "Size", "ListTableId": 136, "UDListDefinitionId": list_id}]),
        )
        .await;
    assert_eq!(status, 200, "{saved}");
    assert_eq!(saved[0]["Type"], "Project");
    assert_eq!(saved[0]["ProgId"], "SuperOffice:1");
    let (_, list) = api.get(&format!("List/{list_id}")).await;
    assert_eq!(list["InUseByUserDefinedFields"], true);
    sim.shutdown().await;
}

#[tokio::test]
async fn delete_uses_the_case_sensitive_prog_id_and_hits_the_admin_version() {
    let sim = demo().await;
    let api = system_api(&sim, "Cust12345").await;
    let (status, _) = api
        .put(
            "Sale/UdefLayout",
            &json!([{"FieldType": "Checkbox", "FieldLabel": "Synced", "ProgId": "Acme:Synced"}]),
        )
        .await;
    assert_eq!(status, 200);
    api.post_empty("Sale/UdefLayout/Publish").await;
    let (status, body) = api.delete("Sale/UdefLayout/acme:synced").await;
    assert_error(status, &body, 404);
    let (status, _) = api.delete("Sale/UdefLayout/Acme:Synced").await;
    assert_eq!(status, 204);
    let (status, body) = api.delete("Sale/UdefLayout/Acme:Synced").await;
    assert_error(status, &body, 404);
    // Still published until the next publish.
    let (_, published) = api.get("Sale/UdefLayout/Published").await;
    assert_eq!(published.as_array().unwrap().len(), 1);
    api.post_empty("Sale/UdefLayout/Publish").await;
    let (_, published) = api.get("Sale/UdefLayout/Published").await;
    assert_eq!(published, json!([]));
    // Unknown entity → the generic 404.
    let (status, body) = api.get("Ticket/UdefLayout").await;
    assert_error(status, &body, 404);
    sim.shutdown().await;
}

#[tokio::test]
async fn a_running_publish_answers_true_and_refuses_another() {
    let mut config = config();
    config.udef_publish_duration = Duration::from_millis(400);
    let sim = start(config).await;
    let api = system_api(&sim, "Cust12345").await;
    api.put(
        "Person/UdefLayout",
        &json!([{"FieldType": "Date", "FieldLabel": "Onboarded"}]),
    )
    .await;
    let (status, _) = api.post_empty("Person/UdefLayout/Publish").await;
    assert_eq!(status, 200);
    assert_eq!(api.get("Person/UdefLayout/Publish").await.1, json!(true));
    // Another entity is not affected.
    assert_eq!(api.get("Contact/UdefLayout/Publish").await.1, json!(false));
    let (status, body) = api.post_empty("Person/UdefLayout/Publish").await;
    assert_error(status, &body, 409);
    assert!(
        sim.webapi_snapshot("Cust12345")
            .unwrap()
            .udef("person")
            .unwrap()
            .publish_running
    );
    // Wait for false, as a client must.
    let mut polls = 0;
    while api.get("Person/UdefLayout/Publish").await.1 == json!(true) {
        polls += 1;
        assert!(polls < 100, "publish never finished");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(polls > 0);
    let (status, _) = api.post_empty("Person/UdefLayout/Publish").await;
    assert_eq!(status, 200);
    assert_eq!(
        sim.webapi_snapshot("Cust12345")
            .unwrap()
            .udef("Person")
            .unwrap()
            .publishes,
        2
    );

    // Scripted: someone else's publish is running.
    sim.set_udef_publish_duration(Duration::ZERO);
    assert!(sim.begin_udef_publish("Cust12345", "document", Duration::from_millis(200)));
    assert!(!sim.begin_udef_publish("Cust12345", "Ticket", Duration::from_millis(200)));
    assert_eq!(api.get("Document/UdefLayout/Publish").await.1, json!(true));
    let (status, _) = api.post_empty("Document/UdefLayout/Publish").await;
    assert_eq!(status, 409);
    tokio::time::sleep(Duration::from_millis(250)).await;
    let (status, _) = api.post_empty("Document/UdefLayout/Publish").await;
    assert_eq!(status, 200);
    assert_eq!(api.get("Document/UdefLayout/Publish").await.1, json!(false));
    sim.shutdown().await;
}

#[tokio::test]
async fn flush_caches_by_name_takes_the_documented_body() {
    let sim = demo().await;
    let api = system_api(&sim, "Cust12345").await;
    let (status, _) = api
        .post(
            "Agents/Diagnostics/FlushCachesByName",
            &json!({"CacheNames": ["ExtAppCache"]}),
        )
        .await;
    assert_eq!(status, 204);
    let (status, body) = api
        .post(
            "Agents/Diagnostics/FlushCachesByName",
            &json!({"Names": "x"}),
        )
        .await;
    assert_error(status, &body, 400);
    let (status, body) = api.post_empty("Agents/Diagnostics/FlushCachesByName").await;
    assert_error(status, &body, 400);
    let snap = sim.webapi_snapshot("Cust12345").unwrap();
    assert_eq!(
        snap.flush_caches_by_name,
        vec![vec!["ExtAppCache".to_owned()]]
    );
    assert_eq!(sim.webapi_calls("Cust12345", "FlushCachesByName"), 3);
    sim.shutdown().await;
}

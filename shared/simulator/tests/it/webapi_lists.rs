//! Lists and list items: CRUD, the documented create example, multi-language names and
//! built-in list protection.

use std::collections::BTreeSet;

use serde_json::{Value, json};

use crate::common::*;
use crate::webapi_support::*;

const REST: &str = "swagger-rest-provisioning.json";

fn keys(v: &Value) -> BTreeSet<String> {
    v.as_object().expect("object").keys().cloned().collect()
}

#[tokio::test]
async fn built_in_lists_include_webpanel_and_cannot_be_deleted() {
    let sim = demo().await;
    let api = system_api(&sim, "Cust12345").await;
    let (status, lists) = api.get("List").await;
    assert_eq!(status, 200);
    assert_response_shape(REST, "/api/v1/List", "get", &lists);
    let lists = lists.as_array().unwrap().clone();
    let webpanel = lists
        .iter()
        .find(|l| l["ListType"] == "webpanel")
        .expect("a webpanel list");
    assert!(lists.iter().any(|l| l["ListType"] == "usergroup"));
    assert!(lists.iter().any(|l| l["ListType"] == "category"));
    for l in &lists {
        let id = l["Id"].as_i64().unwrap();
        let (status, body) = api.delete(&format!("List/{id}")).await;
        assert_error(status, &body, 400);
    }
    let id = webpanel["Id"].as_i64().unwrap();
    let (status, one) = api.get(&format!("List/{id}")).await;
    assert_eq!(status, 200);
    assert_response_shape(REST, "/api/v1/List/{id}", "get", &one);
    assert_eq!(one["ListType"], "webpanel");
    // Also by name and through the WebPanel endpoint.
    let (_, by_name) = api.get("List/webpanel").await;
    assert_eq!(by_name["Id"], id);
    let (_, wp) = api.get("List/WebPanel").await;
    assert_eq!(wp["Id"], id);
    assert_response_shape(REST, "/api/v1/List/WebPanel", "get", &wp);
    // Built-in items: categories.
    let (status, items) = api.get("List/category/Items").await;
    assert_eq!(status, 200);
    assert_response_shape(
        REST,
        "/api/v1/List/{udListDefinitionId}/Items",
        "get",
        &items,
    );
    assert!(!items.as_array().unwrap().is_empty());
    let snap = sim.webapi_snapshot("Cust12345").unwrap();
    assert!(snap.lists.iter().all(|l| l.built_in));
    assert_eq!(snap.lists.len(), lists.len());
    sim.shutdown().await;
}

#[tokio::test]
async fn create_list_like_the_documented_example() {
    let sim = demo().await;
    let api = system_api(&sim, "Cust12345").await;
    let blocks = example_json_blocks("list-create-rest-example.http");
    let (request, example) = (&blocks[0], &blocks[1]);
    let (status, created) = api.post("List", request).await;
    assert_eq!(status, 200, "{created}");
    assert_response_shape(REST, "/api/v1/List", "post", &created);
    assert_eq!(keys(&created), keys(example));
    for k in [
        "Name",
        "Tooltip",
        "Deleted",
        "Rank",
        "IsCustomList",
        "IsMDOList",
        "UseGroupsAndHeadings",
        "ListType",
        "InUseByUserDefinedFields",
        "TableRight",
        "FieldProperties",
    ] {
        assert_eq!(created[k], example[k], "{k}");
    }
    let id = created["Id"].as_i64().unwrap();
    assert!(id >= 100);
    let self_link = created["_Links"]["Self"].as_str().unwrap();
    assert_eq!(
        self_link,
        format!("{}v1/List/{id}/", sim.webapi_url("Cust12345").unwrap())
    );
    // The same name again → 409.
    let (status, body) = api.post("List", request).await;
    assert_error(status, &body, 409);
    let (status, body) = api.post("List", &json!({"Tooltip": "no name"})).await;
    assert_error(status, &body, 400);
    let (status, body) = api.post("List", &json!([])).await;
    assert_error(status, &body, 400);
    // Rename through PUT.
    let (status, renamed) = api
        .put(
            &format!("List/{id}"),
            &json!({"Name": "Renamed", "Tooltip": "t"}),
        )
        .await;
    assert_eq!(status, 200);
    assert_eq!(renamed["Name"], "Renamed");
    let (_, by_name) = api.get("List/renamed").await;
    assert_eq!(by_name["Id"], id);
    sim.shutdown().await;
}

#[tokio::test]
async fn list_items_crud_with_multi_language_names() {
    let sim = demo().await;
    let api = system_api(&sim, "Cust12345").await;
    let (_, list) = api
        .post(
            "List",
            &json!({"Name": "Vehicle", "Tooltip": "", "UseGroupsAndHeadings": false}),
        )
        .await;
    let id = list["Id"].as_i64().unwrap();
    let name = r#"NO:"Bil";US:"Car""#;
    let (status, item) = api
        .post(
            &format!("List/{id}/Items"),
            &json!({"Name": name, "Tooltip": "t", "Rank": 1}),
        )
        .await;
    assert_eq!(status, 200, "{item}");
    assert_response_shape(
        REST,
        "/api/v1/List/{udListDefinitionId}/Items",
        "post",
        &item,
    );
    assert_eq!(item["Name"], name);
    assert_eq!(item["UdListDefinitionId"], id);
    let item_id = item["Id"].as_i64().unwrap();
    let (_, second) = api
        .post(
            &format!("List/{id}/Items"),
            &json!({"Name": r#"NO:"Båt";US:"Boat""#}),
        )
        .await;
    let (status, items) = api.get(&format!("List/{id}/Items")).await;
    assert_eq!(status, 200);
    assert_eq!(items.as_array().unwrap().len(), 2);
    let (status, one) = api.get(&format!("List/{id}/Items/{item_id}")).await;
    assert_eq!(status, 200);
    assert_response_shape(
        REST,
        "/api/v1/List/{udListDefinitionId}/Items/{id}",
        "get",
        &one,
    );
    // Deleted items are hidden unless asked for.
    let (status, _) = api
        .put(
            &format!("List/{id}/Items/{}", second["Id"]),
            &json!({"Name": "x", "Deleted": true}),
        )
        .await;
    assert_eq!(status, 200);
    assert_eq!(
        api.get(&format!("List/{id}/Items"))
            .await
            .1
            .as_array()
            .unwrap()
            .len(),
        1
    );
    assert_eq!(
        api.get(&format!("List/{id}/Items?includeDeleted=true"))
            .await
            .1
            .as_array()
            .unwrap()
            .len(),
        2
    );
    // Delete an item, then the list.
    let (status, _) = api.delete(&format!("List/{id}/Items/{item_id}")).await;
    assert_eq!(status, 204);
    let (status, body) = api.delete(&format!("List/{id}/Items/{item_id}")).await;
    assert_error(status, &body, 404);
    let (status, body) = api.get(&format!("List/{id}/Items/abc")).await;
    assert_error(status, &body, 400);
    let (status, body) = api
        .post(&format!("List/{id}/Items"), &json!({"Tooltip": "x"}))
        .await;
    assert_error(status, &body, 400);
    let snap = sim.webapi_snapshot("Cust12345").unwrap();
    let vehicle = snap.list("vehicle").unwrap();
    assert!(!vehicle.built_in);
    assert_eq!(vehicle.items.len(), 1);
    let (status, _) = api.delete(&format!("List/{id}")).await;
    assert_eq!(status, 204);
    let (status, body) = api.get(&format!("List/{id}")).await;
    assert_error(status, &body, 404);
    let (status, body) = api.get(&format!("List/{id}/Items")).await;
    assert_error(status, &body, 404);
    let (status, body) = api.get("List/NoSuchList/Items").await;
    assert_error(status, &body, 404);
    // Lists are per tenant.
    let other = system_api(&sim, "Cust67890").await;
    let (_, lists) = other.get("List").await;
    assert!(
        lists
            .as_array()
            .unwrap()
            .iter()
            .all(|l| l["Name"] != "Vehicle")
    );
    sim.shutdown().await;
}

#[tokio::test]
async fn user_groups() {
    let sim = demo().await;
    let api = system_api(&sim, "Cust12345").await;
    let (status, groups) = api.get("List/UserGroup/Items").await;
    assert_eq!(status, 200);
    assert_response_shape(REST, "/api/v1/List/UserGroup/Items", "get", &groups);
    assert!(groups.as_array().unwrap().len() >= 2);
    // IIS ignores case: the lowercase spelling reaches the same endpoint.
    let (_, lower) = api.get("List/usergroup/Items").await;
    assert_eq!(lower, groups);
    let (status, list) = api.get("List/UserGroup").await;
    assert_eq!(status, 200);
    assert_eq!(list["ListType"], "usergroup");
    let (status, body) = api
        .post("List/usergroup/Items", &json!({"Name": "New group"}))
        .await;
    assert_error(status, &body, 400);
    sim.shutdown().await;
}

//! Web panels: ownership by the calling app, the app-scoped agents, soft and hard deletes,
//! ProgId uniqueness and user-group visibility.

use serde_json::{Value, json};

use crate::common::*;
use crate::webapi_support::*;

const REST: &str = "swagger-rest-provisioning.json";
const AGENTS: &str = "swagger-agents-provisioning.json";

fn panel(name: &str, prog_id: &str) -> Value {
    json!({
        "Name": name,
        "Tooltip": format!("{name} by Acme Sync"),
        "ProgId": prog_id,
        "VisibleIn": "ContactCard",
        "Url": "https://app.example.com/panel?ctx=<uctx>&assoc=<usid>",
        "UrlEncoding": "None",
        "OnSalesMarketingWeb": true,
        "Rank": 100,
    })
}

fn two_apps() -> superoffice_simulator::SimulatorConfig {
    let mut c = config();
    c.apps.push(other_app());
    c
}

fn ids(v: &Value) -> Vec<i64> {
    v.as_array()
        .expect("array")
        .iter()
        .map(|p| p["WebPanelId"].as_i64().expect("id"))
        .collect()
}

#[tokio::test]
async fn panels_belong_to_the_app_that_created_them() {
    let sim = start(two_apps()).await;
    let ours = system_api(&sim, "Cust12345").await;
    let theirs = app_api(&sim, "Cust12345", OTHER_CLIENT_ID, OTHER_SECRET).await;

    let (status, a) = ours
        .post("List/WebPanel/Items", &panel("Acme panel", "acme.panel"))
        .await;
    assert_eq!(status, 200, "{a}");
    assert_shape(&a, "WebPanelEntity");
    assert_response_shape(REST, "/api/v1/List/WebPanel/Items", "post", &a);
    let a_id = a["WebPanelId"].as_i64().unwrap();
    assert!(a_id > 0);
    let (status, b) = theirs
        .post(
            "Agents/List/SaveWebPanelEntity",
            &panel("Other panel", "other.panel"),
        )
        .await;
    assert_eq!(status, 200, "{b}");
    assert_response_shape(AGENTS, "/api/v1/Agents/List/SaveWebPanelEntity", "post", &b);
    let b_id = b["WebPanelId"].as_i64().unwrap();
    let (_, button) = ours
        .post("List/WebPanel/Items", &json!({"Name": "Acme button", "ProgId": "acme.button", "VisibleIn": "NavigatorButton", "Url": "soprotocol:browser.acme"}))
        .await;
    let button_id = button["WebPanelId"].as_i64().unwrap();

    let (status, mine) = ours.post_empty("Agents/List/GetAppWebPanels").await;
    assert_eq!(status, 200);
    assert_response_shape(AGENTS, "/api/v1/Agents/List/GetAppWebPanels", "post", &mine);
    assert_eq!(ids(&mine), vec![a_id, button_id]);
    assert_eq!(
        ids(&theirs.post_empty("Agents/List/GetAppWebPanels").await.1),
        vec![b_id]
    );
    let (_, all) = ours.get("List/WebPanel/Items").await;
    assert_response_shape(REST, "/api/v1/List/WebPanel/Items", "get", &all);
    assert_eq!(ids(&all), vec![a_id, b_id, button_id]);

    let snap = sim.webapi_snapshot("Cust12345").unwrap();
    assert_eq!(snap.web_panels_owned_by(CLIENT_ID).len(), 2);
    assert_eq!(
        snap.web_panel("other.panel")
            .unwrap()
            .owner_client_id
            .as_deref(),
        Some(OTHER_CLIENT_ID)
    );

    // Uninstall of our app: only our panels go, for good.
    let (status, _) = ours.post_empty("Agents/List/DeleteAppWebPanels").await;
    assert_eq!(status, 204);
    assert_eq!(ids(&ours.get("List/WebPanel/Items").await.1), vec![b_id]);
    assert_eq!(
        ours.post_empty("Agents/List/GetAppWebPanels").await.1,
        json!([])
    );
    assert_eq!(
        ids(&theirs.post_empty("Agents/List/GetAppWebPanels").await.1),
        vec![b_id]
    );
    let (status, body) = ours.get(&format!("List/WebPanel/Items/{a_id}")).await;
    assert_error(status, &body, 404);
    // A ProgId is free again once its panel is gone.
    let (status, _) = ours
        .post("List/WebPanel/Items", &panel("Acme panel", "acme.panel"))
        .await;
    assert_eq!(status, 200);
    sim.shutdown().await;
}

#[tokio::test]
async fn a_user_token_without_app_token_owns_nothing() {
    let sim = demo().await;
    let http = client();
    let t = tokens(&sim, &http, &Flow::default()).await;
    let api = Api {
        root: format!("{}v1/", sim.webapi_url("Cust12345").unwrap()),
        authorization: format!("Bearer {}", t["access_token"].as_str().unwrap()),
        app_token: None,
        http: client(),
    };
    let (status, p) = api
        .post("List/WebPanel/Items", &panel("User panel", "user.panel"))
        .await;
    assert_eq!(status, 200, "{p}");
    assert_eq!(
        api.post_empty("Agents/List/GetAppWebPanels").await.1,
        json!([])
    );
    let (status, _) = api.post_empty("Agents/List/DeleteAppWebPanels").await;
    assert_eq!(status, 204);
    let snap = sim.webapi_snapshot("Cust12345").unwrap();
    assert_eq!(
        snap.web_panels.len(),
        1,
        "nothing happens without an app token"
    );
    assert_eq!(snap.web_panels[0].owner_client_id, None);
    // With the app token the same user is the app.
    let with_app = Api {
        app_token: Some(SECRET.into()),
        ..api
    };
    with_app
        .post("List/WebPanel/Items", &panel("App panel", "app.panel"))
        .await;
    assert_eq!(
        ids(&with_app.post_empty("Agents/List/GetAppWebPanels").await.1).len(),
        1
    );
    sim.shutdown().await;
}

#[tokio::test]
async fn get_put_soft_delete_hard_delete_and_prog_id_uniqueness() {
    let sim = demo().await;
    let api = system_api(&sim, "Cust12345").await;
    let (status, default) = api.get("List/WebPanel/Items/Default").await;
    assert_eq!(status, 200);
    assert_response_shape(REST, "/api/v1/List/WebPanel/Items/Default", "get", &default);
    assert_eq!(default["WebPanelId"], 0);

    let (_, p) = api
        .post("List/WebPanel/Items", &panel("Acme", "acme.p"))
        .await;
    let id = p["WebPanelId"].as_i64().unwrap();
    let (status, body) = api
        .post("List/WebPanel/Items", &panel("Again", "acme.p"))
        .await;
    assert_error(status, &body, 409);
    for bad in [
        json!({"Name": ""}),
        json!({"Name": "x", "VisibleIn": "Somewhere"}),
        json!({"Name": "x", "UrlEncoding": "UTF-9"}),
        json!({"Name": "x", "Rank": "high"}),
    ] {
        let (status, body) = api.post("List/WebPanel/Items", &bad).await;
        assert_error(status, &body, 400);
    }

    let mut changed = p.clone();
    changed["Url"] = json!("https://app.example.com/v2");
    let (status, put) = api
        .put(&format!("List/WebPanel/Items/{id}"), &changed)
        .await;
    assert_eq!(status, 200, "{put}");
    assert_response_shape(REST, "/api/v1/List/WebPanel/Items/{id}", "put", &put);
    let (status, got) = api.get(&format!("List/WebPanel/Items/{id}")).await;
    assert_eq!(status, 200);
    assert_response_shape(REST, "/api/v1/List/WebPanel/Items/{id}", "get", &got);
    assert_eq!(got["Url"], "https://app.example.com/v2");
    let (status, body) = api.put("List/WebPanel/Items/999", &changed).await;
    assert_error(status, &body, 404);
    let (_, by_prog_id) = api
        .post(
            "Agents/List/GetWebPanelByProgId",
            &json!({"ProgId": "acme.p"}),
        )
        .await;
    assert_eq!(by_prog_id["WebPanelId"], id);
    let (_, none) = api
        .post(
            "Agents/List/GetWebPanelByProgId",
            &json!({"ProgId": "nope"}),
        )
        .await;
    assert_eq!(none, Value::Null);
    let (_, by_id) = api
        .post_empty(&format!(
            "Agents/List/GetWebPanelEntity?webPanelEntityId={id}"
        ))
        .await;
    assert_eq!(by_id["WebPanelId"], id);

    // REST DELETE only marks it deleted.
    let (status, _) = api.delete(&format!("List/WebPanel/Items/{id}")).await;
    assert_eq!(status, 204);
    let (_, got) = api.get(&format!("List/WebPanel/Items/{id}")).await;
    assert_eq!(got["Deleted"], true);
    assert_eq!(ids(&api.get("List/WebPanel/Items").await.1), vec![id]);
    // The agent's DeleteWebPanel removes it; `{"id": N}` as the DevNet sample writes it.
    let (status, _) = api
        .post("Agents/List/DeleteWebPanel", &json!({"id": id}))
        .await;
    assert_eq!(status, 204);
    let (status, body) = api.get(&format!("List/WebPanel/Items/{id}")).await;
    assert_error(status, &body, 404);
    let (status, body) = api
        .post("Agents/List/DeleteWebPanel", &json!({"id": id}))
        .await;
    assert_error(status, &body, 404);
    let (status, body) = api
        .post("Agents/List/DeleteWebPanel", &json!({"x": 1}))
        .await;
    assert_error(status, &body, 400);
    sim.shutdown().await;
}

#[tokio::test]
async fn user_group_visibility() {
    let sim = demo().await;
    let api = system_api(&sim, "Cust12345").await;
    let (_, lists) = api.get("List").await;
    let list_id = lists
        .as_array()
        .unwrap()
        .iter()
        .find(|l| l["ListType"] == "webpanel")
        .unwrap()["Id"]
        .as_i64()
        .unwrap();
    let (_, groups) = api.get("List/UserGroup/Items").await;
    let all: Vec<i64> = groups
        .as_array()
        .unwrap()
        .iter()
        .map(|g| g["Id"].as_i64().unwrap())
        .collect();
    let (_, p) = api
        .post("List/WebPanel/Items", &panel("Acme", "acme.v"))
        .await;
    let id = p["WebPanelId"].as_i64().unwrap();
    let path = format!("List/{list_id}/Items/{id}/UserGroups");

    // Visible for all groups by default.
    let (status, visible) = api.get(&path).await;
    assert_eq!(status, 200);
    assert_response_shape(
        REST,
        "/api/v1/List/{udListDefinitionId}/Items/{listItemId}/UserGroups",
        "get",
        &visible,
    );
    let got: Vec<i64> = visible
        .as_array()
        .unwrap()
        .iter()
        .map(|g| g["Id"].as_i64().unwrap())
        .collect();
    assert_eq!(got, all);
    assert!(
        sim.webapi_snapshot("Cust12345")
            .unwrap()
            .web_panel("acme.v")
            .unwrap()
            .visible_for_user_groups
            .is_none()
    );

    // SelectableMDOListItems (unselected ones left out) or plain ids.
    let body = json!([{"Id": all[0], "Selected": true}, {"Id": all[1], "Selected": false}, all[2]]);
    let (status, visible) = api.put(&path, &body).await;
    assert_eq!(status, 200, "{visible}");
    assert_response_shape(
        REST,
        "/api/v1/List/{udListDefinitionId}/Items/{listItemId}/UserGroups",
        "put",
        &visible,
    );
    let got: Vec<i64> = visible
        .as_array()
        .unwrap()
        .iter()
        .map(|g| g["Id"].as_i64().unwrap())
        .collect();
    assert_eq!(got, vec![all[0], all[2]]);
    assert_eq!(api.get(&path).await.1, visible);
    // The same through the WebPanel path.
    assert_eq!(
        api.get(&format!("List/WebPanel/Items/{id}/UserGroups"))
            .await
            .1,
        visible
    );
    assert_eq!(
        sim.webapi_snapshot("Cust12345")
            .unwrap()
            .web_panel("acme.v")
            .unwrap()
            .visible_for_user_groups,
        Some(vec![all[0] as i32, all[2] as i32])
    );
    let (status, body) = api.put(&path, &json!([999])).await;
    assert_error(status, &body, 400);
    let (status, body) = api.put(&path, &json!({"Id": 1})).await;
    assert_error(status, &body, 400);
    let (status, body) = api
        .get(&format!("List/{list_id}/Items/4242/UserGroups"))
        .await;
    assert_error(status, &body, 404);
    sim.shutdown().await;
}

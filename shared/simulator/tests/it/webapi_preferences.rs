//! Preferences: round trip, levels, sections and keys, the delete agents.

use serde_json::json;

use crate::webapi_support::*;

const REST: &str = "swagger-rest-provisioning.json";

#[tokio::test]
async fn preference_round_trip() {
    let sim = crate::common::demo().await;
    let api = system_api(&sim, "Cust12345").await;
    let body = json!({
        "Level": "Database",
        "RawValue": "https://app.example.com",
        "Specification": {"Section": "AcmeSync", "Key": "BaseUrl"},
    });
    let (status, resp) = api.put("Preference/AcmeSync/BaseUrl", &body).await;
    assert_eq!(status, 204, "{resp}");
    let (status, pref) = api.get("Preference/AcmeSync/BaseUrl").await;
    assert_eq!(status, 200);
    assert_response_shape(REST, "/api/v1/Preference/{section}/{key}", "get", &pref);
    assert_eq!(pref["Level"], "Database");
    assert_eq!(pref["RawValue"], "https://app.example.com");
    assert_eq!(pref["Specification"]["Section"], "AcmeSync");
    assert_eq!(pref["Specification"]["Key"], "BaseUrl");
    assert!(pref["UserPreferenceId"].as_i64().unwrap() > 0);
    // Names ignore case; POST works like PUT and overwrites the same level.
    let (status, _) = api
        .post(
            "Preference/acmesync/baseurl",
            &json!({"Level": "Database", "RawValue": "v2"}),
        )
        .await;
    assert_eq!(status, 204);
    assert_eq!(
        api.get("Preference/AcmeSync/BaseUrl").await.1["RawValue"],
        "v2"
    );
    // A value closer to the user wins.
    api.put(
        "Preference/AcmeSync/BaseUrl",
        &json!({"Level": "Individual", "RawValue": "mine"}),
    )
    .await;
    assert_eq!(
        api.get("Preference/AcmeSync/BaseUrl").await.1["RawValue"],
        "mine"
    );
    assert_eq!(
        api.get("Preference/AcmeSync/BaseUrl/Database").await.1,
        json!("v2")
    );
    assert_eq!(
        api.get("Preference/AcmeSync/BaseUrl/Undefined").await.1,
        json!("mine")
    );
    // Raw value at a level through the query.
    let (status, _) = api
        .put(
            "Preference/AcmeSync/Enabled/SystemWide?value=true",
            &json!(null),
        )
        .await;
    assert_eq!(status, 204);
    assert_eq!(
        api.get("Preference/AcmeSync/Enabled").await.1["Level"],
        "SystemWide"
    );
    // Sections and keys.
    let (status, sections) = api.get("Preference").await;
    assert_eq!(status, 200);
    assert_response_shape(REST, "/api/v1/Preference", "get", &sections);
    assert_eq!(sections[0]["Name"], "AcmeSync");
    let (_, keys) = api.get("Preference/AcmeSync").await;
    assert_response_shape(REST, "/api/v1/Preference/{section}", "get", &keys);
    let names: Vec<&str> = keys
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["Name"].as_str().unwrap())
        .collect();
    assert_eq!(names, vec!["BaseUrl", "Enabled"]);
    assert_eq!(
        sim.webapi_snapshot("Cust12345")
            .unwrap()
            .preferences_for("acmesync", "BASEURL")
            .len(),
        2
    );
    // Not set: Level Undefined.
    let (status, missing) = api.get("Preference/AcmeSync/Nothing").await;
    assert_eq!(status, 200);
    assert_eq!(missing["Level"], "Undefined");
    assert_response_shape(REST, "/api/v1/Preference/{section}/{key}", "get", &missing);
    // Bad bodies.
    let (status, body) = api
        .put(
            "Preference/AcmeSync/BaseUrl",
            &json!({"Level": "Planet", "RawValue": "x"}),
        )
        .await;
    assert_error(status, &body, 400);
    let (status, body) = api.put("Preference/AcmeSync/BaseUrl", &json!("x")).await;
    assert_error(status, &body, 400);
    let (status, body) = api
        .call(reqwest::Method::PUT, "Preference/AcmeSync/BaseUrl", None)
        .await;
    assert_error(status, &body, 400);

    // Uninstall: DeleteFromSectionAndKey removes the key at every level.
    let (status, _) = api
        .post(
            "Agents/Preference/DeleteFromSectionAndKey",
            &json!({"Section": "AcmeSync", "Key": "BaseUrl"}),
        )
        .await;
    assert_eq!(status, 204);
    assert_eq!(
        api.get("Preference/AcmeSync/BaseUrl").await.1["Level"],
        "Undefined"
    );
    let (status, body) = api
        .post(
            "Agents/Preference/DeleteFromSectionAndKey",
            &json!({"Section": "AcmeSync"}),
        )
        .await;
    assert_error(status, &body, 400);
    // DeletePreference / DeletePreferences by UserPreferenceId.
    let id = api.get("Preference/AcmeSync/Enabled").await.1["UserPreferenceId"].clone();
    let (status, _) = api
        .post("Agents/Preference/DeletePreference", &json!({"Id": id}))
        .await;
    assert_eq!(status, 204);
    assert_eq!(
        api.get("Preference/AcmeSync/Enabled").await.1["Level"],
        "Undefined"
    );
    api.put("Preference/S/K1", &json!({"RawValue": "1"})).await;
    api.put("Preference/S/K2", &json!({"RawValue": "2"})).await;
    let snap = sim.webapi_snapshot("Cust12345").unwrap();
    assert_eq!(snap.preferences_for("S", "K1")[0]["Level"], "Database");
    let ids: Vec<_> = snap
        .preferences
        .iter()
        .map(|p| p["UserPreferenceId"].clone())
        .collect();
    let (status, _) = api
        .post("Agents/Preference/DeletePreferences", &json!({"Ids": ids}))
        .await;
    assert_eq!(status, 204);
    assert!(
        sim.webapi_snapshot("Cust12345")
            .unwrap()
            .preferences
            .is_empty()
    );
    assert_eq!(api.get("Preference").await.1, json!([]));
    sim.shutdown().await;
}

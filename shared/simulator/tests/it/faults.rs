//! Scripted faults, from Rust and over HTTP, and the request log.

use std::time::{Duration, Instant};

use serde_json::{Value, json};
use superoffice_simulator::{FaultAction, FaultRule, Route, WRONG_SUBDOMAIN_TEXT};

use crate::common::*;

#[tokio::test]
async fn status_429_with_retry_after_n_times_then_normal() {
    let sim = demo().await;
    let http = client();
    sim.faults().push(
        FaultRule::new(
            Route::Jwks,
            FaultAction::Status {
                status: 429,
                retry_after: Some("3".into()),
            },
        )
        .times(2),
    );
    let jwks = url(&sim, "/login/.well-known/jwks");
    for _ in 0..2 {
        let resp = http.get(&jwks).send().await.unwrap();
        assert_eq!(resp.status(), 429);
        assert_eq!(resp.headers()["retry-after"], "3");
    }
    let resp = http.get(&jwks).send().await.unwrap();
    assert_eq!(resp.status(), 200);
    assert!(resp.headers().get("retry-after").is_none());
    assert_eq!(sim.count(Route::Jwks), 3);
    let log = sim.requests();
    assert_eq!(log.len(), 3);
    assert_eq!(log[0].status, Some(429));
    assert_eq!(log[0].fault.as_deref(), Some("status 429"));
    assert_eq!(log[2].status, Some(200));
    assert_eq!(log[2].fault, None);
    assert_eq!(log[2].path, "/login/.well-known/jwks");
    assert!(sim.faults().rules().is_empty());
    sim.shutdown().await;
}

#[tokio::test]
async fn status_503_until_cleared_and_http_date_retry_after() {
    let sim = demo().await;
    let http = client();
    sim.faults().push(FaultRule::new(
        Route::TenantState,
        FaultAction::Status {
            status: 503,
            retry_after: Some("Wed, 21 Oct 2015 07:28:00 GMT".into()),
        },
    ));
    let u = url(&sim, "/api/state/Cust12345");
    for _ in 0..3 {
        let resp = http.get(&u).send().await.unwrap();
        assert_eq!(resp.status(), 503);
        assert_eq!(
            resp.headers()["retry-after"],
            "Wed, 21 Oct 2015 07:28:00 GMT"
        );
    }
    sim.faults().clear();
    assert_eq!(http.get(&u).send().await.unwrap().status(), 200);
    sim.shutdown().await;
}

#[tokio::test]
async fn latency_delays_then_answers() {
    let sim = demo().await;
    let http = client();
    sim.faults().push(
        FaultRule::new(
            Route::Discovery,
            FaultAction::Latency(Duration::from_millis(400)),
        )
        .times(1),
    );
    let u = url(&sim, "/login/.well-known/openid-configuration");
    let started = Instant::now();
    let slow = async {
        let resp = http.get(&u).send().await.unwrap();
        (resp.status(), started.elapsed())
    };
    // Another route answers while the slow one waits.
    let quick = async {
        tokio::time::sleep(Duration::from_millis(50)).await;
        let resp = http
            .get(url(&sim, "/login/.well-known/jwks"))
            .send()
            .await
            .unwrap();
        (resp.status(), started.elapsed())
    };
    let ((slow_status, slow_took), (quick_status, quick_took)) = tokio::join!(slow, quick);
    assert_eq!(slow_status, 200);
    assert!(slow_took >= Duration::from_millis(400), "{slow_took:?}");
    assert_eq!(quick_status, 200);
    assert!(quick_took < slow_took, "{quick_took:?} vs {slow_took:?}");
    assert_eq!(sim.requests()[0].fault.as_deref(), Some("latency 400ms"));
    let started = Instant::now();
    assert_eq!(http.get(&u).send().await.unwrap().status(), 200);
    assert!(started.elapsed() < Duration::from_millis(400));
    sim.shutdown().await;
}

#[tokio::test]
async fn hang_makes_the_client_time_out_while_other_routes_answer() {
    let sim = demo().await;
    let http = client();
    sim.faults()
        .push(FaultRule::new(Route::Token, FaultAction::Hang).times(1));
    let impatient = reqwest::Client::builder()
        .timeout(Duration::from_millis(300))
        .build()
        .unwrap();
    let token_url = url(&sim, "/login/common/oauth/tokens");
    let hung = impatient
        .post(&token_url)
        .form(&[("grant_type", "authorization_code")])
        .send();
    let other = async {
        tokio::time::sleep(Duration::from_millis(50)).await;
        let started = Instant::now();
        let resp = http
            .get(url(&sim, "/api/state/Cust12345"))
            .send()
            .await
            .unwrap();
        (resp.status(), started.elapsed())
    };
    let (hung, (other_status, other_took)) = tokio::join!(hung, other);
    let err = hung.unwrap_err();
    assert!(err.is_timeout(), "{err}");
    assert_eq!(other_status, 200);
    // Answered while the other request hangs (a blocking hang would stall this whole test).
    assert!(other_took < Duration::from_secs(2), "{other_took:?}");
    let log = sim.requests();
    let token = log.iter().find(|r| r.route == Route::Token).unwrap();
    assert_eq!(token.status, None);
    assert_eq!(token.fault.as_deref(), Some("hang"));
    // The rule was used up: the next request is answered (401: no client authentication).
    let resp = http
        .post(&token_url)
        .form(&[("grant_type", "authorization_code")])
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 401);
    sim.shutdown().await;
}

#[tokio::test]
async fn reset_closes_the_connection_and_misdirected_answers_421() {
    let sim = demo().await;
    let http = client();
    sim.faults()
        .push(FaultRule::new(Route::TenantState, FaultAction::Reset).times(1));
    sim.faults()
        .push(FaultRule::new(Route::TenantState, FaultAction::Misdirected).times(1));
    let u = url(&sim, "/api/state/Cust12345");
    let err = http.get(&u).send().await.unwrap_err();
    assert!(!err.is_timeout(), "{err}");
    let resp = http.get(&u).send().await.unwrap();
    assert_eq!(resp.status(), 421);
    assert_eq!(resp.text().await.unwrap(), WRONG_SUBDOMAIN_TEXT);
    assert_eq!(http.get(&u).send().await.unwrap().status(), 200);
    sim.shutdown().await;
}

#[tokio::test]
async fn tenant_filtered_rules() {
    let sim = demo().await;
    let http = client();
    sim.faults().push(
        FaultRule::new(
            Route::TenantState,
            FaultAction::Status {
                status: 500,
                retry_after: None,
            },
        )
        .for_tenant("Cust67890"),
    );
    assert_eq!(
        http.get(url(&sim, "/api/state/Cust12345"))
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
    assert_eq!(
        http.get(url(&sim, "/api/state/Cust67890"))
            .send()
            .await
            .unwrap()
            .status(),
        500
    );
    // System-user requests are matched by the ContextIdentifier in their body.
    sim.faults().clear();
    sim.faults().push(
        FaultRule::new(
            Route::SystemUser,
            FaultAction::Status {
                status: 503,
                retry_after: None,
            },
        )
        .for_tenant("Cust67890"),
    );
    let _ticket = ticket(&sim, &http, "Cust12345").await;
    let resp = http
        .post(url(&sim, "/Login/api/PartnerSystemUser/Authenticate"))
        .json(&json!({"ContextIdentifier": "Cust67890"}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 503);
    let log = sim.requests();
    let last = log.last().unwrap();
    assert_eq!(last.tenant.as_deref(), Some("Cust67890"));
    sim.shutdown().await;
}

#[tokio::test]
async fn scripting_over_http() {
    let sim = demo().await;
    let http = client();
    let (status, added) = admin_post(
        &sim,
        "faults",
        &json!([
            {"route": "Jwks", "action": "status", "status": 429, "retry_after": "1", "times": 1},
            {"route": "discovery", "action": "latency", "latency_ms": 10, "times": 1}
        ]),
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(added["added"], 2);
    let (_, listed) = admin_get(&sim, "faults").await;
    assert_eq!(listed.as_array().unwrap().len(), 2);
    assert_eq!(listed[0]["route"], "Jwks");
    assert_eq!(listed[0]["status"], 429);
    assert_eq!(sim.faults().rules().len(), 2);

    // Bad rules are rejected whole: alone, or after a valid rule in the same array.
    let valid = json!({"route": "Token", "action": "hang"});
    for bad in [
        json!({"route": "Nope", "action": "hang"}),
        json!({"route": "Jwks", "action": "explode"}),
        json!({"route": "Jwks", "action": "status"}),
        json!({"route": "Jwks", "action": "status", "status": 99}),
        json!({"route": "Jwks", "action": "hang", "extra": 1}),
    ] {
        let (status, body) = admin_post(&sim, "faults", &bad).await;
        assert_eq!(status, 400, "{bad}");
        assert!(
            body["error"]
                .as_str()
                .unwrap()
                .starts_with("invalid fault rule"),
            "{body}"
        );
        let (status, _) = admin_post(&sim, "faults", &json!([valid, bad])).await;
        assert_eq!(status, 400, "{bad}");
        assert_eq!(sim.faults().rules().len(), 2, "{bad}");
    }
    let resp = http
        .post(url(&sim, "/__sim/faults"))
        .body("{")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 400);
    let (_, listed_after) = admin_get(&sim, "faults").await;
    assert_eq!(listed_after, listed);

    let resp = http
        .get(url(&sim, "/login/.well-known/jwks"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 429);
    let faults = url(&sim, "/__sim/faults");
    assert_eq!(http.delete(&faults).send().await.unwrap().status(), 200);
    assert!(sim.faults().rules().is_empty());

    // Tenant operations.
    let state = json!({"state": "Suspended", "valid_until": "2030-01-02T03:04:05Z"});
    let (status, _) = admin_post(&sim, "tenants/Cust12345/state", &state).await;
    assert_eq!(status, 200);
    let s: Value = http
        .get(url(&sim, "/api/state/Cust12345"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(s["State"], "Suspended");
    assert_eq!(s["IsRunning"], false);
    assert_eq!(s["ValidUntil"], "2030-01-02T03:04:05.0000000Z");
    let sleeping = json!({"state": "Sleeping"});
    let (status, _) = admin_post(&sim, "tenants/Cust12345/state", &sleeping).await;
    assert_eq!(status, 400);
    let running = json!({"state": "Running"});
    let (status, _) = admin_post(&sim, "tenants/Cust99999/state", &running).await;
    assert_eq!(status, 404);

    let (status, _) = admin_post(&sim, "tenants/Cust12345/move", &json!({"shard": "sod9"})).await;
    assert_eq!(status, 200);
    assert_eq!(
        sim.webapi_url("Cust12345").unwrap(),
        format!("{}/sod9/Cust12345/api/", sim.issuer())
    );

    let consent = url(
        &sim,
        &format!("/__sim/tenants/Cust12345/consents/{CLIENT_ID}"),
    );
    assert_eq!(http.post(&consent).send().await.unwrap().status(), 200);
    assert!(sim.has_consent("Cust12345", CLIENT_ID));
    let (_, st) = admin_get(
        &sim,
        &format!("tenants/Cust12345/system-tokens/{CLIENT_ID}"),
    )
    .await;
    assert_eq!(
        st["SystemToken"],
        sim.system_token("Cust12345", CLIENT_ID).unwrap().as_str()
    );
    assert_eq!(http.delete(&consent).send().await.unwrap().status(), 200);
    assert!(!sim.has_consent("Cust12345", CLIENT_ID));

    let old_kid = sim.signing_kid();
    let (_, rotated) = admin_post(&sim, "keys/rotate", &json!({"keep_old": true})).await;
    assert_eq!(rotated["kid"], sim.signing_kid().as_str());
    assert_ne!(sim.signing_kid(), old_kid);
    assert_eq!(sim.jwks()["keys"].as_array().unwrap().len(), 2);

    let (_, info) = admin_get(&sim, "info").await;
    assert_eq!(info["issuer"], sim.issuer().as_str());
    assert_eq!(info["tenants"][0]["Shard"], "sod9");

    // The log over HTTP.
    let (_, log) = admin_get(&sim, "requests").await;
    let entries = log.as_array().unwrap();
    let jwks = entries.iter().find(|e| e["route"] == "Jwks").unwrap();
    assert_eq!(jwks["status"], 429);
    assert_eq!(jwks["fault"], "status 429");
    assert_eq!(jwks["method"], "GET");
    assert!(jwks["at"].is_i64());
    assert_eq!(
        http.delete(url(&sim, "/__sim/requests"))
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
    // Only the DELETE itself may have been recorded after clearing.
    assert!(sim.requests().iter().all(|r| r.route == Route::Admin));
    sim.shutdown().await;
}

#[tokio::test]
async fn moves_take_the_shards_the_configuration_takes() {
    let sim = demo().await;
    let before = sim.webapi_url("Cust12345").unwrap();
    for shard in ["", "a/b", "..", "sod 2", "sod_2", "login", "API", "__sim"] {
        let (status, body) =
            admin_post(&sim, "tenants/Cust12345/move", &json!({ "shard": shard })).await;
        assert_eq!(status, 400, "{shard:?}");
        let error = body["error"].as_str().unwrap();
        assert!(
            error.contains(&format!("shard {shard:?} must be letters, digits")),
            "{error}"
        );
        // Checked before the tenant: a bad shard is 400 for an unknown tenant too.
        let (status, _) =
            admin_post(&sim, "tenants/Cust99999/move", &json!({ "shard": shard })).await;
        assert_eq!(status, 400, "{shard:?}");

        let refused = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            sim.move_tenant("Cust12345", shard)
        }));
        let panic = refused.expect_err(shard);
        let message = panic.downcast_ref::<String>().unwrap();
        assert!(message.contains("move_tenant(\"Cust12345\")"), "{message}");
        assert!(
            message.contains(&format!("shard {shard:?} must be")),
            "{message}"
        );
    }
    assert_eq!(sim.webapi_url("Cust12345").unwrap(), before);
    let (status, body) =
        admin_post(&sim, "tenants/Cust99999/move", &json!({"shard": "sod4"})).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (404, Some("unknown tenant"))
    );
    assert!(!sim.move_tenant("Cust99999", "sod4"));
    let (status, _) = admin_post(
        &sim,
        "tenants/Cust12345/move",
        &json!({"shard": "eu-1.sod4"}),
    )
    .await;
    assert_eq!(status, 200);
    assert!(sim.move_tenant("Cust67890", "SOD-5"));
    let (_, info) = admin_get(&sim, "info").await;
    assert_eq!(info["tenants"][0]["Shard"], "eu-1.sod4");
    assert_eq!(info["tenants"][1]["Shard"], "SOD-5");
    sim.shutdown().await;
}

#[tokio::test]
async fn the_configuration_refuses_shards_it_could_not_route() {
    for shard in ["", "a/b", "..", "login", "Api", "__sim", "sød"] {
        let mut config = config();
        config.tenants[1].shard = shard.into();
        let err = superoffice_simulator::Simulator::start(config, "127.0.0.1:0".parse().unwrap())
            .await
            .expect_err(shard)
            .to_string();
        assert!(err.contains("tenant Cust67890"), "{err}");
        assert!(
            err.contains(&format!("shard {shard:?} must be letters, digits")),
            "{err}"
        );
    }
}

#[tokio::test]
async fn request_counting() {
    let sim = demo().await;
    let http = client();
    assert_eq!(sim.count(Route::Jwks), 0);
    http.get(url(&sim, "/login/.well-known/jwks"))
        .send()
        .await
        .unwrap();
    http.get(url(&sim, "/api/state/Cust12345"))
        .send()
        .await
        .unwrap();
    http.get(url(&sim, "/LOGIN/.well-known/JWKS"))
        .send()
        .await
        .unwrap();
    assert_eq!(sim.count(Route::Jwks), 2);
    assert_eq!(sim.count(Route::TenantState), 1);
    assert_eq!(sim.count(Route::Token), 0);
    let log = sim.requests();
    assert_eq!(log[2].path, "/LOGIN/.well-known/JWKS");
    assert_eq!(log[2].status, Some(200));
    assert!(log[0].id < log[1].id && log[1].id < log[2].id);
    sim.clear_requests();
    assert_eq!(sim.count(Route::Jwks), 0);
    assert!(sim.requests().is_empty());
    sim.shutdown().await;
}

#[tokio::test]
async fn shutdown_stops_serving_even_with_a_hanging_request() {
    let sim = demo().await;
    let u = url(&sim, "/login/.well-known/jwks");
    sim.faults()
        .push(FaultRule::new(Route::Discovery, FaultAction::Hang));
    let hung = tokio::spawn({
        let u = url(&sim, "/login/.well-known/openid-configuration");
        async move { reqwest::get(u).await }
    });
    tokio::time::sleep(Duration::from_millis(100)).await;
    sim.clone().shutdown().await;
    let err = hung.await.unwrap().unwrap_err();
    assert!(!err.is_timeout());
    assert!(reqwest::get(&u).await.is_err());
}

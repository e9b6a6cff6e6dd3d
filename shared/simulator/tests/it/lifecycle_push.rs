//! State-change pushes: the documented body, the signed token and its claims, the options that
//! spoil the token or the body, errors before anything is sent, and an app that does not answer.

use std::collections::BTreeSet;
use std::time::{Duration, Instant, SystemTime};

use aws_lc_rs::encoding::AsDer;
use aws_lc_rs::signature::{KeyPair as _, RsaKeyPair};
use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use serde_json::Value;
use superoffice_simulator::{
    Lifecycle, LifecycleError, NETSERVER_LABEL, PushOptions, Simulator, SimulatorError,
    SimulatorHandle, StateChange, TenantStatus, TokenOptions,
};

use crate::common::*;
use crate::lifecycle_support::*;
use crate::webapi_support::*;

fn keys(v: &Value) -> BTreeSet<String> {
    v.as_object().expect("object").keys().cloned().collect()
}

fn set(names: &[&str]) -> BTreeSet<String> {
    names.iter().map(|s| (*s).to_owned()).collect()
}

fn unix(t: SystemTime) -> i64 {
    i64::try_from(t.duration_since(SystemTime::UNIX_EPOCH).unwrap().as_secs()).unwrap()
}

/// Pushes a Delete about Cust12345 with `token` options; the token that arrived.
async fn pushed_token(sim: &SimulatorHandle, rx: &Receiver, token: TokenOptions) -> String {
    let d = sim
        .push_state_change_with(
            "Cust12345",
            StateChange::Delete,
            &PushOptions::new().token(token),
        )
        .await
        .expect("sent");
    assert_eq!(d.status, Some(200));
    let arrived = last_push(rx)["Token"].as_str().expect("Token").to_owned();
    assert_eq!(d.token.as_deref(), Some(arrived.as_str()));
    arrived
}

#[tokio::test]
async fn a_push_posts_the_documented_body_with_a_token_the_jwks_verifies() {
    let sim = demo().await;
    let rx = registered_receiver(&sim).await;
    rx.set_answer("{\"Received\":true}");
    assert_eq!(
        sim.state_change_url(CLIENT_ID).as_deref(),
        Some(rx.url.as_str())
    );
    let before = unix(SystemTime::now());
    let d = sim
        .push_state_change("cust12345", StateChange::Suspend)
        .await
        .expect("sent");
    let after = unix(SystemTime::now());

    // What the delivery reports.
    assert_eq!(d.status, Some(200));
    assert!(d.accepted());
    assert_eq!(d.error, None);
    assert_eq!(d.response_body, "{\"Received\":true}");
    assert_eq!(d.url, rx.url);
    assert_eq!(d.client_id, CLIENT_ID);
    assert_eq!(d.context_id, "Cust12345", "the configured spelling");
    assert_eq!(d.change, StateChange::Suspend);
    assert!(d.describe().contains("HTTP 200 OK"), "{}", d.describe());

    // What arrived: one POST of JSON, exactly the bytes reported.
    let hits = rx.hits();
    assert_eq!(hits.len(), 1);
    let hit = &hits[0];
    assert_eq!(hit.method, "POST");
    assert!(
        hit.header("content-type")
            .unwrap()
            .starts_with("application/json"),
        "{:?}",
        hit.header("content-type")
    );
    assert_eq!(hit.body, d.request_body.as_bytes());
    // The documented properties, in the documented order.
    let text = std::str::from_utf8(&hit.body).unwrap();
    let order = [
        "ChangeType",
        "ContextIdentifier",
        "VersionName",
        "FileVersion",
        "Token",
        "PublicEndpoint",
    ];
    let positions: Vec<usize> = order
        .iter()
        .map(|k| text.find(&format!("\"{k}\"")).expect(k))
        .collect();
    assert!(positions.windows(2).all(|w| w[0] < w[1]), "{text}");
    let body = hit.json();
    assert_eq!(keys(&body), set(&order));
    assert_eq!(body["ChangeType"], 2);
    assert_eq!(body["ContextIdentifier"], "Cust12345");
    assert_eq!(body["VersionName"], NETSERVER_LABEL);
    assert_eq!(body["FileVersion"], "11.10.721.0");
    assert_eq!(body["PublicEndpoint"], "sod2.superoffice.com");
    let token = body["Token"].as_str().unwrap();
    assert_eq!(d.token.as_deref(), Some(token));

    // The token: the id_tokens' header, and the claims the simulator documents.
    let header = jwt_header(token);
    assert_eq!(keys(&header), set(&["alg", "kid", "typ", "x5t"]));
    assert_eq!(header["alg"], "RS256");
    assert_eq!(header["typ"], "JWT");
    assert_eq!(header["kid"], sim.signing_kid().as_str());
    let claims = verify_push_token(&sim, token, CLIENT_ID)
        .await
        .expect("the token verifies against the JWKS");
    let ctx = ctx_claim();
    assert_eq!(
        keys(&claims),
        set(&["iss", "aud", "iat", "nbf", "exp", "jti", ctx.as_str()])
    );
    assert_eq!(claims["iss"], sim.issuer().as_str());
    assert_eq!(claims["aud"], CLIENT_ID);
    assert_eq!(claims[&ctx], "Cust12345");
    let iat = claims["iat"].as_i64().unwrap();
    assert!((before..=after).contains(&iat), "{iat}");
    assert_eq!(claims["nbf"], iat);
    assert_eq!(claims["exp"], iat + 300);
    let jti = claims["jti"].as_str().unwrap();
    assert_eq!(jti.len(), 36, "{jti}");
    assert!(jti.chars().all(|c| c == '-' || c.is_ascii_hexdigit()));

    // A push changes nothing, and every push has its own jti.
    assert_eq!(sim.tenant_state("Cust12345"), Some(TenantStatus::Running));
    let again = sim
        .push_state_change("Cust12345", StateChange::Suspend)
        .await
        .unwrap();
    let claims2 = jwt_claims(again.token.as_deref().unwrap());
    assert_ne!(claims2["jti"], claims["jti"]);
    sim.shutdown().await;
}

#[tokio::test]
async fn each_token_option_spoils_the_token_in_its_own_way() {
    let sim = demo().await;
    let rx = registered_receiver(&sim).await;
    let ctx = ctx_claim();
    let now = SystemTime::now();

    let t = pushed_token(&sim, &rx, TokenOptions::new().without_aud()).await;
    assert!(jwt_claims(&t).get("aud").is_none());
    assert_eq!(
        verify_push_token(&sim, &t, CLIENT_ID).await.unwrap_err(),
        "MissingRequiredClaim(\"aud\")"
    );

    let t = pushed_token(&sim, &rx, TokenOptions::new().without_ctx()).await;
    let claims = verify_push_token(&sim, &t, CLIENT_ID)
        .await
        .expect("signed as usual");
    assert!(claims.get(&ctx).is_none());

    let t = pushed_token(
        &sim,
        &rx,
        TokenOptions::new().issuer("https://sod.superoffice.com"),
    )
    .await;
    assert_eq!(jwt_claims(&t)["iss"], "https://sod.superoffice.com");
    assert_eq!(
        verify_push_token(&sim, &t, CLIENT_ID).await.unwrap_err(),
        "InvalidIssuer"
    );

    let t = pushed_token(&sim, &rx, TokenOptions::new().audience(OTHER_CLIENT_ID)).await;
    assert_eq!(
        verify_push_token(&sim, &t, CLIENT_ID).await.unwrap_err(),
        "InvalidAudience"
    );

    // A token about another tenant, in a push about this one.
    let t = pushed_token(&sim, &rx, TokenOptions::new().context_id("Cust67890")).await;
    let claims = verify_push_token(&sim, &t, CLIENT_ID).await.unwrap();
    assert_eq!(claims[&ctx], "Cust67890");
    assert_eq!(last_push(&rx)["ContextIdentifier"], "Cust12345");

    // Expired: issued 15 minutes ago, expired 10 minutes ago.
    let t = pushed_token(
        &sim,
        &rx,
        TokenOptions::new()
            .issued_at(now - Duration::from_secs(900))
            .expires_at(now - Duration::from_secs(600)),
    )
    .await;
    let claims = jwt_claims(&t);
    assert_eq!(claims["iat"], unix(now) - 900);
    assert_eq!(claims["nbf"], unix(now) - 900);
    assert_eq!(claims["exp"], unix(now) - 600);
    assert_eq!(
        verify_push_token(&sim, &t, CLIENT_ID).await.unwrap_err(),
        "ExpiredSignature"
    );
    // Issued in an hour: not yet valid; exp follows iat.
    let t = pushed_token(
        &sim,
        &rx,
        TokenOptions::new().issued_at(now + Duration::from_secs(3600)),
    )
    .await;
    assert_eq!(jwt_claims(&t)["exp"], unix(now) + 3600 + 300);
    assert_eq!(
        verify_push_token(&sim, &t, CLIENT_ID).await.unwrap_err(),
        "ImmatureSignature"
    );

    // Replays: a fixed jti with a fresh signature, or the very token of an earlier push.
    let t = pushed_token(&sim, &rx, TokenOptions::new().jti("same-jti")).await;
    assert_eq!(jwt_claims(&t)["jti"], "same-jti");
    let replay = pushed_token(&sim, &rx, TokenOptions::new().custom(t.clone())).await;
    assert_eq!(replay, t);
    let rubbish = pushed_token(&sim, &rx, TokenOptions::new().custom("not a JWT")).await;
    assert_eq!(rubbish, "not a JWT");

    // A key that is not in the JWKS, under its own kid or under the simulator's.
    let foreign = generate_pkcs8();
    let t = pushed_token(&sim, &rx, TokenOptions::new().signed_with(foreign.clone())).await;
    assert_ne!(jwt_header(&t)["kid"], sim.signing_kid().as_str());
    assert_eq!(
        verify_push_token(&sim, &t, CLIENT_ID).await.unwrap_err(),
        "kid not in the JWKS"
    );
    // It is a proper signature by that key.
    let kp = RsaKeyPair::from_pkcs8(&foreign).unwrap();
    let public = kp.public_key();
    let mut v = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::RS256);
    v.set_audience(&[CLIENT_ID]);
    let dk = jsonwebtoken::DecodingKey::from_rsa_raw_components(
        public.modulus().big_endian_without_leading_zero(),
        public.exponent().big_endian_without_leading_zero(),
    );
    jsonwebtoken::decode::<Value>(&t, &dk, &v).expect("signed by the foreign key");
    let t = pushed_token(
        &sim,
        &rx,
        TokenOptions::new()
            .signed_with(foreign)
            .kid(sim.signing_kid()),
    )
    .await;
    assert_eq!(jwt_header(&t)["kid"], sim.signing_kid().as_str());
    assert_eq!(
        verify_push_token(&sim, &t, CLIENT_ID).await.unwrap_err(),
        "InvalidSignature"
    );

    // alg tricks: unsigned, and HMAC keyed with the public key's PEM.
    let t = pushed_token(&sim, &rx, TokenOptions::new().alg("none")).await;
    assert_eq!(jwt_header(&t)["alg"], "none");
    assert!(t.ends_with('.'), "{t}");
    assert_eq!(t.split('.').count(), 3);
    assert!(verify_push_token(&sim, &t, CLIENT_ID).await.is_err());
    let t = pushed_token(&sim, &rx, TokenOptions::new().alg("HS256")).await;
    assert_eq!(jwt_header(&t)["alg"], "HS256");
    assert_eq!(
        verify_push_token(&sim, &t, CLIENT_ID).await.unwrap_err(),
        "InvalidAlgorithm"
    );
    let spki = RsaKeyPair::from_pkcs8(&sim.signing_key_pkcs8_der())
        .unwrap()
        .public_key()
        .as_der()
        .unwrap()
        .as_ref()
        .to_vec();
    let b64 = STANDARD.encode(spki);
    let mut pem = String::from("-----BEGIN PUBLIC KEY-----\n");
    for line in b64.as_bytes().chunks(64) {
        pem.push_str(std::str::from_utf8(line).unwrap());
        pem.push('\n');
    }
    pem.push_str("-----END PUBLIC KEY-----\n");
    let (input, sig) = t.rsplit_once('.').unwrap();
    let key = aws_lc_rs::hmac::Key::new(aws_lc_rs::hmac::HMAC_SHA256, pem.as_bytes());
    aws_lc_rs::hmac::verify(
        &key,
        input.as_bytes(),
        &URL_SAFE_NO_PAD.decode(sig).unwrap(),
    )
    .expect("HMAC keyed with the PEM public key");
    sim.shutdown().await;
}

#[tokio::test]
async fn raw_bodies_and_the_older_shape() {
    let sim = demo().await;
    let rx = registered_receiver(&sim).await;

    let d = sim
        .push_state_change_with(
            "Cust12345",
            StateChange::Resume,
            &PushOptions::new().without_public_endpoint(),
        )
        .await
        .unwrap();
    assert_eq!(d.status, Some(200));
    assert_eq!(
        keys(&last_push(&rx)),
        set(&[
            "ChangeType",
            "ContextIdentifier",
            "VersionName",
            "FileVersion",
            "Token"
        ])
    );

    let d = sim
        .push_state_change_with(
            "Cust12345",
            StateChange::Resume,
            &PushOptions::new().raw_body("{\"ChangeType\": 3, oops"),
        )
        .await
        .unwrap();
    assert_eq!(d.token, None);
    assert_eq!(d.request_body, "{\"ChangeType\": 3, oops");
    let hit = rx.hits().pop().unwrap();
    assert_eq!(&hit.body[..], b"{\"ChangeType\": 3, oops");
    assert!(
        hit.header("content-type")
            .unwrap()
            .starts_with("application/json")
    );

    // 3 MiB: sent whole; the receiver's own limit (2 MiB) answers 413, which is reported.
    let big = vec![b'x'; 3 * 1024 * 1024];
    let hits_before = rx.hits().len();
    let d = sim
        .push_state_change_with(
            "Cust12345",
            StateChange::Resume,
            &PushOptions::new().raw_body(big),
        )
        .await
        .unwrap();
    assert_eq!(d.status, Some(413));
    assert!(!d.accepted());
    assert_eq!(d.request_body.len(), 3 * 1024 * 1024);
    assert!(d.describe().contains("did not accept"), "{}", d.describe());
    assert_eq!(rx.hits().len(), hits_before, "refused before the handler");

    // A long answer is kept only in part.
    rx.set_answer(&"é".repeat(500_000));
    let d = sim
        .push_state_change("Cust12345", StateChange::Resume)
        .await
        .unwrap();
    assert_eq!(d.status, Some(200));
    assert_eq!(d.error, None);
    assert_eq!(
        d.response_body.chars().count(),
        2001,
        "2,000 and an ellipsis"
    );
    assert!(d.response_body.starts_with("éé") && d.response_body.ends_with('…'));
    sim.shutdown().await;
}

#[tokio::test]
async fn nothing_is_sent_or_changed_when_the_push_cannot_be_made() {
    let sim = demo().await;
    // No URL registered.
    let err = sim
        .push_state_change("Cust12345", StateChange::Suspend)
        .await
        .unwrap_err();
    assert_eq!(err, LifecycleError::NoStateChangeUrl { client_id: None });
    assert!(err.to_string().contains("register one"), "{err}");
    let err = sim
        .tenant_lifecycle("Cust12345", &Lifecycle::Suspend)
        .await
        .unwrap_err();
    assert!(matches!(err, LifecycleError::NoStateChangeUrl { .. }));
    assert_eq!(sim.tenant_state("Cust12345"), Some(TenantStatus::Running));

    // URLs: only https, or http to loopback; only for registered apps.
    for bad in ["http://example.com/state", "ftp://127.0.0.1/x", "not a url"] {
        let err = sim.set_state_change_url(CLIENT_ID, Some(bad)).unwrap_err();
        assert!(matches!(err, LifecycleError::InvalidUrl(_)), "{bad}: {err}");
    }
    assert_eq!(sim.state_change_url(CLIENT_ID), None);
    assert!(
        sim.set_state_change_url(CLIENT_ID, Some("https://app.example/state"))
            .is_ok()
    );
    assert_eq!(
        sim.set_state_change_url("nope", Some("https://app.example/state")),
        Err(LifecycleError::UnknownApp("nope".into()))
    );
    sim.set_state_change_url(CLIENT_ID, None).unwrap();
    assert_eq!(sim.state_change_url(CLIENT_ID), None);

    let rx = registered_receiver(&sim).await;
    assert_eq!(
        sim.push_state_change("Cust99999", StateChange::Suspend)
            .await
            .unwrap_err(),
        LifecycleError::UnknownTenant("Cust99999".into())
    );
    let err = sim
        .push_state_change_with(
            "Cust12345",
            StateChange::Suspend,
            &PushOptions::new().token(TokenOptions::new().signed_with(b"not a key".to_vec())),
        )
        .await
        .unwrap_err();
    assert!(matches!(err, LifecycleError::InvalidSigningKey(_)), "{err}");
    // An invalid change is refused before the push: no push, no change.
    let err = sim
        .tenant_lifecycle(
            "Cust12345",
            &Lifecycle::Move {
                shard: "login".into(),
            },
        )
        .await
        .unwrap_err();
    assert!(matches!(err, LifecycleError::InvalidShard(_)), "{err}");
    assert!(rx.hits().is_empty());
    assert_eq!(
        sim.webapi_url("Cust12345").unwrap(),
        format!("{}/sod2/Cust12345/api/", sim.issuer())
    );
    sim.shutdown().await;
}

#[tokio::test]
async fn with_several_apps_the_push_names_its_app() {
    let mut config = config();
    config.apps.push(other_app());
    let rx = Receiver::start(200).await;
    let other_rx = Receiver::start(202).await;
    config
        .state_change_urls
        .insert(CLIENT_ID.into(), rx.url.clone());
    config
        .state_change_urls
        .insert(OTHER_CLIENT_ID.into(), other_rx.url.clone());
    let sim = start(config).await;
    let err = sim
        .push_state_change("Cust12345", StateChange::Upgrade)
        .await
        .unwrap_err();
    assert_eq!(
        err,
        LifecycleError::SeveralApps(vec![OTHER_CLIENT_ID.into(), CLIENT_ID.into()])
    );
    let d = sim
        .push_state_change_with(
            "Cust12345",
            StateChange::Upgrade,
            &PushOptions::new().to_app(OTHER_CLIENT_ID),
        )
        .await
        .unwrap();
    assert_eq!(d.status, Some(202));
    assert!(d.accepted());
    assert_eq!(d.client_id, OTHER_CLIENT_ID);
    assert!(rx.hits().is_empty());
    let token = last_push(&other_rx)["Token"].as_str().unwrap().to_owned();
    verify_push_token(&sim, &token, OTHER_CLIENT_ID)
        .await
        .expect("aud is the app pushed to");
    assert_eq!(
        sim.push_state_change_with(
            "Cust12345",
            StateChange::Upgrade,
            &PushOptions::new().to_app("nope"),
        )
        .await
        .unwrap_err(),
        LifecycleError::UnknownApp("nope".into())
    );
    sim.shutdown().await;
}

#[tokio::test]
async fn the_configuration_refuses_unusable_state_change_urls() {
    for (client_id, url, says) in [
        ("0123", "https://app.example/state", "no app has"),
        (CLIENT_ID, "http://app.example/state", "must be https"),
    ] {
        let mut config = config();
        config
            .state_change_urls
            .insert(client_id.into(), url.into());
        match Simulator::start(config, "127.0.0.1:0".parse().unwrap()).await {
            Err(SimulatorError::Config(msg)) => assert!(msg.contains(says), "{msg}"),
            other => panic!("{url}: {other:?}"),
        }
    }
}

#[tokio::test]
async fn an_app_that_does_not_answer_is_reported_within_the_timeout() {
    // Accepts connections (the kernel's backlog) but never reads or answers.
    let silent = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let mut config = config();
    config.state_change_timeout = Duration::from_millis(300);
    config.state_change_urls.insert(
        CLIENT_ID.into(),
        format!("http://{}/state", silent.local_addr().unwrap()),
    );
    let sim = start(config).await;
    let started = Instant::now();
    let d = sim
        .tenant_lifecycle("Cust12345", &Lifecycle::Suspend)
        .await
        .expect("a delivery, not an error");
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(d.status, None);
    assert!(!d.accepted());
    let why = d.error.clone().unwrap();
    assert!(why.contains("no answer within 300 ms"), "{why}");
    assert!(d.describe().contains("did not answer"), "{}", d.describe());
    // The change was made all the same (SuperOffice does not undo a suspension the app missed).
    assert_eq!(sim.tenant_state("Cust12345"), Some(TenantStatus::Suspended));

    // Nobody listening: refused at once.
    let closed = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        format!("http://{}/state", l.local_addr().unwrap())
    };
    sim.set_state_change_url(CLIENT_ID, Some(&closed)).unwrap();
    let d = sim
        .push_state_change("Cust12345", StateChange::Resume)
        .await
        .unwrap();
    assert_eq!(d.status, None);
    assert!(
        d.error.as_deref().unwrap().starts_with("connection failed"),
        "{:?}",
        d.error
    );
    drop(silent);
    sim.shutdown().await;
}

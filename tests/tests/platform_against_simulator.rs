//! The platform crate against the SuperOffice simulator over real HTTP: discovery, the code flow,
//! JWKS rotation and outages as the simulator serves them (the key store's rules themselves, floods of
//! unknown kids included, are the token cases in `shared/superoffice/tests/token_cases.rs`), the system user, tenant state, and WebAPI calls
//! through the retry layer with throttling, moves, maintenance and hangs.

use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use integration_tests::*;
use serde_json::json;
use superoffice::clock::{Clock, FixedJitter, ManualClock, SystemClock, unix_seconds};
use superoffice::jwt::TokenError;
use superoffice::oidc::{self, AuthorizeOptions, CodeExchange, OidcError};
use superoffice::system_user::SystemUserError;
use superoffice::tenant_state::TenantStatus as SoStatus;
use superoffice::usage::UsageCounters;
use superoffice::webapi::{ApiRequest, TenantAuth, WebApiError};
use superoffice::{Secret, TenantId};
use superoffice_simulator::user_agent::{self, Choice};
use superoffice_simulator::{FaultAction, FaultRule, Route, SimulatorHandle, TenantStatus};
use url::Url;

fn redirect() -> Url {
    Url::parse(REDIRECT).unwrap()
}

fn manual_clock() -> Arc<ManualClock> {
    Arc::new(ManualClock::new(SystemTime::now()))
}

/// Signs in through the simulator's pages and exchanges the code, as the redirect function will.
async fn sign_in(so: &superoffice::client::SuperOffice, email: &str) -> (Secret, String) {
    let discovery = so.discovery().await.expect("discovery");
    let request = oidc::authorization_request(
        discovery,
        CLIENT_ID,
        &redirect(),
        &AuthorizeOptions::default(),
    )
    .unwrap();
    let delivery = user_agent::sign_in(
        &request.url,
        &Choice {
            context_id: TENANT,
            email,
            approve: true,
        },
    )
    .await
    .expect("sign-in pages");
    assert_eq!(
        delivery.param("state").as_deref(),
        Some(request.state.as_str())
    );
    let code = delivery.param("code").expect("a code");
    let tokens = oidc::exchange_code(
        &**so.transport(),
        CodeExchange {
            token_endpoint: &discovery.token_endpoint,
            client_id: CLIENT_ID,
            client_secret: &Secret::new(CLIENT_SECRET),
            code: &code,
            redirect_uri: &redirect(),
            code_verifier: &request.code_verifier,
            timeout: Duration::from_secs(5),
        },
    )
    .await
    .expect("code exchange");
    (tokens.id_token.expect("id_token"), request.nonce)
}

#[tokio::test]
async fn a_full_sign_in_yields_a_validated_id_token_with_superoffice_claims() {
    let sim = simulator(vec![REDIRECT.into()]).await;
    let so = platform(&sim);
    let (id_token, nonce) = sign_in(&so, ADMIN).await;
    let validator = so.id_token_validator().await.unwrap();
    let token = validator
        .validate(id_token.expose(), Some(&nonce))
        .await
        .expect("valid");
    assert_eq!(token.subject, ADMIN);
    assert_eq!(token.issuer, sim.issuer());
    let claims = &token.superoffice;
    assert_eq!(claims.tenant.as_ref().map(|t| t.as_str()), Some(TENANT));
    assert_eq!(claims.is_administrator, Some(true));
    assert_eq!(claims.company_name.as_deref(), Some("Demo Company AS"));
    assert!(
        claims
            .system_token
            .as_ref()
            .is_some_and(|t| t.expose().starts_with(APP_NAME))
    );
    let webapi = claims.webapi_url.as_ref().unwrap();
    assert_eq!(webapi.host_str(), sim.base_url().host_str());
    // One discovery and one JWKS fetch for the whole flow.
    assert_eq!(sim.count(Route::Discovery), 1);
    assert_eq!(sim.count(Route::Jwks), 1);
}

#[tokio::test]
async fn a_user_who_is_not_an_administrator_is_reported_as_such() {
    let sim = simulator(vec![REDIRECT.into()]).await;
    sim.grant_consent(TENANT, CLIENT_ID);
    let so = platform(&sim);
    let (id_token, nonce) = sign_in(&so, USER).await;
    let token = so
        .id_token_validator()
        .await
        .unwrap()
        .validate(id_token.expose(), Some(&nonce))
        .await
        .unwrap();
    assert_eq!(token.superoffice.is_administrator, Some(false));
}

#[tokio::test]
async fn the_token_endpoint_refuses_a_wrong_pkce_verifier_and_a_reused_code() {
    let sim = simulator(vec![REDIRECT.into()]).await;
    let so = platform(&sim);
    let discovery = so.discovery().await.unwrap();
    let mut codes = Vec::new();
    let mut verifiers = Vec::new();
    for _ in 0..2 {
        let request = oidc::authorization_request(
            discovery,
            CLIENT_ID,
            &redirect(),
            &AuthorizeOptions::default(),
        )
        .unwrap();
        let delivery = user_agent::sign_in(
            &request.url,
            &Choice {
                context_id: TENANT,
                email: ADMIN,
                approve: true,
            },
        )
        .await
        .unwrap();
        codes.push(delivery.param("code").unwrap());
        verifiers.push(request.code_verifier);
    }
    let exchange = |code: &str, verifier: &Secret| {
        let code = code.to_owned();
        let verifier = verifier.clone();
        let transport = so.transport().clone();
        let endpoint = discovery.token_endpoint.clone();
        async move {
            oidc::exchange_code(
                &*transport,
                CodeExchange {
                    token_endpoint: &endpoint,
                    client_id: CLIENT_ID,
                    client_secret: &Secret::new(CLIENT_SECRET),
                    code: &code,
                    redirect_uri: &redirect(),
                    code_verifier: &verifier,
                    timeout: Duration::from_secs(5),
                },
            )
            .await
        }
    };
    // The first code with the second sign-in's verifier: refused.
    let wrong = exchange(&codes[0], &verifiers[1]).await.unwrap_err();
    assert!(
        matches!(wrong, OidcError::Rejected { ref error, .. } if error == "invalid_grant"),
        "{wrong:?}"
    );
    // The second code works once, then never again.
    exchange(&codes[1], &verifiers[1]).await.expect("first use");
    let reused = exchange(&codes[1], &verifiers[1]).await.unwrap_err();
    assert!(matches!(reused, OidcError::Rejected { .. }), "{reused:?}");
}

fn forged(sim: &SimulatorHandle, kid: &str, now: i64) -> String {
    sim.sign_jwt(
        &json!({"alg": "RS256", "kid": kid, "typ": "JWT"}),
        &json!({
            "sub": ADMIN, "iss": sim.issuer(), "aud": CLIENT_ID,
            "iat": now, "nbf": now - 60, "exp": now + 300, "nonce": "n",
        }),
    )
}

fn good(sim: &SimulatorHandle, now: i64) -> String {
    forged(sim, &sim.signing_kid(), now)
}

#[tokio::test]
async fn after_key_rotation_new_tokens_pass_after_one_refresh_and_old_ones_fail() {
    let sim = simulator(vec![REDIRECT.into()]).await;
    let clock = manual_clock();
    let so = platform_with(&sim, clock.clone(), Arc::new(FixedJitter(1.0)));
    let validator = so.id_token_validator().await.unwrap();
    let now = unix_seconds(clock.now());
    let old = good(&sim, now);
    validator.validate(&old, Some("n")).await.unwrap();
    sim.rotate_signing_key(false);
    clock.advance(Duration::from_secs(61));
    let now = unix_seconds(clock.now());
    validator
        .validate(&good(&sim, now), Some("n"))
        .await
        .expect("the new key after one refresh");
    assert_eq!(sim.count(Route::Jwks), 2);
    let err = validator.validate(&old, Some("n")).await.unwrap_err();
    assert_eq!(err.code(), "unknown_kid");
}

fn jwks_down() -> FaultRule {
    FaultRule::new(
        Route::Jwks,
        FaultAction::Status {
            status: 503,
            retry_after: None,
        },
    )
}

#[tokio::test]
async fn a_jwks_outage_keeps_sign_in_working_with_the_last_good_keys() {
    let sim = simulator(vec![REDIRECT.into()]).await;
    let clock = manual_clock();
    let so = platform_with(&sim, clock.clone(), Arc::new(FixedJitter(1.0)));
    let validator = so.id_token_validator().await.unwrap();
    validator
        .validate(&good(&sim, unix_seconds(clock.now())), Some("n"))
        .await
        .unwrap();
    assert_eq!(sim.count(Route::Jwks), 1);
    sim.faults().push(jwks_down());
    for _ in 0..10 {
        // Past the keys' maximum age (an hour): every use tries one refresh, which the outage fails.
        clock.advance(Duration::from_secs(3601));
        let now = unix_seconds(clock.now());
        validator
            .validate(&good(&sim, now), Some("n"))
            .await
            .expect("last known good keys");
    }
    assert_eq!(
        sim.count(Route::Jwks),
        11,
        "one refresh attempted per use during the outage, no more (and no retries)"
    );
}

#[tokio::test]
async fn no_signing_keys_at_all_is_unavailable_not_invalid() {
    let sim = simulator(vec![REDIRECT.into()]).await;
    sim.faults().push(jwks_down());
    let so = platform(&sim);
    let validator = so.id_token_validator().await.unwrap();
    let err = validator
        .validate(&good(&sim, unix_seconds(SystemTime::now())), Some("n"))
        .await
        .unwrap_err();
    assert!(matches!(err, TokenError::KeysUnavailable(_)), "{err}");
    assert_eq!(sim.count(Route::Jwks), 1);
}

#[tokio::test]
async fn jku_and_x5u_headers_cause_no_request_anywhere() {
    let sim = simulator(vec![REDIRECT.into()]).await;
    let attacker = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    attacker.set_nonblocking(true).unwrap();
    let so = platform(&sim);
    let validator = so.id_token_validator().await.unwrap();
    let now = unix_seconds(SystemTime::now());
    validator
        .validate(&good(&sim, now), Some("n"))
        .await
        .unwrap();
    sim.clear_requests();
    for header in ["jku", "x5u"] {
        let t = sim.sign_jwt(
            &json!({"alg": "RS256", "kid": "evil", header: format!("http://{}/jwks", attacker.local_addr().unwrap())}),
            &json!({"sub": ADMIN, "iss": sim.issuer(), "aud": CLIENT_ID, "iat": now, "exp": now + 300}),
        );
        let err = validator.validate(&t, None).await.unwrap_err();
        assert_eq!(err.code(), "key_in_header");
    }
    assert!(
        attacker.accept().is_err(),
        "no connection to the attacker's listener"
    );
    assert!(
        sim.requests().is_empty(),
        "no request to SuperOffice either"
    );
}

// --- system user --------------------------------------------------------------------------------

fn ctx() -> TenantId {
    TenantId::parse(TENANT).unwrap()
}

fn system_token(sim: &SimulatorHandle) -> Secret {
    sim.grant_consent(TENANT, CLIENT_ID);
    Secret::new(
        sim.system_token(TENANT, CLIENT_ID)
            .expect("a system token after consent"),
    )
}

#[tokio::test]
async fn the_system_user_ticket_exchange_works_and_tickets_are_cached() {
    let sim = simulator(vec![REDIRECT.into()]).await;
    let so = platform(&sim);
    let tickets = so.system_user(partner_key()).await.unwrap();
    let token = system_token(&sim);
    let ticket = tickets.ticket(&ctx(), &token, None).await.expect("ticket");
    assert!(ticket.expose().starts_with("7T:"));
    assert_eq!(sim.count(Route::SystemUser), 1);
    let again = tickets.ticket(&ctx(), &token, None).await.unwrap();
    assert_eq!(again, ticket);
    assert_eq!(
        sim.count(Route::SystemUser),
        1,
        "the second call is served from the cache"
    );
    tickets.invalidate(&ctx()).await;
    tickets.ticket(&ctx(), &token, None).await.unwrap();
    assert_eq!(
        sim.count(Route::SystemUser),
        2,
        "a new ticket after invalidation"
    );
}

#[tokio::test]
async fn revoked_consent_is_reported_as_refused_with_superoffices_message() {
    let sim = simulator(vec![REDIRECT.into()]).await;
    let so = platform(&sim);
    let tickets = so.system_user(partner_key()).await.unwrap();
    let token = system_token(&sim);
    sim.revoke_consent(TENANT, CLIENT_ID);
    let err = tickets.ticket(&ctx(), &token, None).await.unwrap_err();
    match err {
        SystemUserError::Refused { message } => {
            assert!(message.starts_with("Revoked"), "{message}")
        }
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn a_wrong_private_key_is_refused_as_an_invalid_signature() {
    let sim = simulator(vec![REDIRECT.into()]).await;
    let so = platform(&sim);
    let other = superoffice::testing::TestSigner::generate("x").pkcs8_der();
    let key = Arc::new(superoffice::system_user::SystemUserKey::from_bytes(&other).unwrap());
    let tickets = so.system_user(key).await.unwrap();
    let err = tickets
        .ticket(&ctx(), &system_token(&sim), None)
        .await
        .unwrap_err();
    assert!(
        matches!(&err, SystemUserError::Refused { message } if message.starts_with("InvalidSignature")),
        "{err:?}"
    );
}

// --- tenant state and WebAPI --------------------------------------------------------------------

struct Api {
    webapi: superoffice::webapi::WebApi,
    usage: Arc<UsageCounters>,
    auth: TenantAuth,
}

async fn webapi(sim: &SimulatorHandle, so: &superoffice::client::SuperOffice) -> Api {
    let tickets = Arc::new(so.system_user(partner_key()).await.unwrap());
    let usage = Arc::new(UsageCounters::default());
    Api {
        webapi: so.webapi(tickets, usage.clone(), None),
        usage,
        auth: TenantAuth {
            tenant: ctx(),
            system_token: system_token(sim),
        },
    }
}

fn principal() -> ApiRequest {
    ApiRequest::get("User/currentPrincipal")
}

#[tokio::test]
async fn the_tenant_state_is_cached_until_it_must_be_checked_again() {
    let sim = simulator(vec![REDIRECT.into()]).await;
    let clock = manual_clock();
    let so = platform_with(&sim, clock.clone(), Arc::new(FixedJitter(1.0)));
    let states = so.tenant_states();
    let s = states.get(&ctx(), None).await.unwrap();
    assert_eq!(s.status, SoStatus::Running);
    assert!(s.api.as_str().contains("/sod2/Cust12345/api"));
    states.get(&ctx(), None).await.unwrap();
    assert_eq!(sim.count(Route::TenantState), 1);
    // The simulator says ValidUntil = now + 10 minutes.
    clock.advance(Duration::from_secs(11 * 60));
    states.get(&ctx(), None).await.unwrap();
    assert_eq!(sim.count(Route::TenantState), 2);
}

#[tokio::test]
async fn a_webapi_call_sends_the_ticket_and_app_token_and_is_counted() {
    let sim = simulator(vec![REDIRECT.into()]).await;
    let so = platform(&sim);
    let api = webapi(&sim, &so).await;
    let r = api
        .webapi
        .call(&api.auth, &principal(), None)
        .await
        .expect("200");
    let body: serde_json::Value = r.json().unwrap();
    assert!(body.is_object());
    let usage = api.usage.get(&ctx());
    assert_eq!(usage.calls, 1);
    assert!(usage.bytes_received > 0);
}

#[tokio::test]
async fn a_tenant_in_offline_maintenance_gets_no_webapi_call_and_a_time_to_come_back() {
    let sim = simulator(vec![REDIRECT.into()]).await;
    let until = SystemTime::now() + Duration::from_secs(900);
    sim.set_tenant_state(TENANT, TenantStatus::OfflineMaintenance, Some(until));
    let so = platform(&sim);
    let api = webapi(&sim, &so).await;
    let err = api
        .webapi
        .call(&api.auth, &principal(), None)
        .await
        .unwrap_err();
    match err {
        WebApiError::TenantNotRunning {
            status,
            check_again_at,
        } => {
            assert_eq!(status, SoStatus::OfflineMaintenance);
            let diff = unix_seconds(check_again_at) - unix_seconds(until);
            assert!(diff.abs() <= 1, "come back at ValidUntil");
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(sim.count(Route::WebApi), 0);
    assert_eq!(
        sim.count(Route::SystemUser),
        0,
        "not even a ticket is fetched"
    );
}

#[tokio::test]
async fn a_moved_tenant_answers_421_and_the_call_follows_it_to_the_new_host() {
    let sim = simulator(vec![REDIRECT.into()]).await;
    let so = platform(&sim);
    let api = webapi(&sim, &so).await;
    api.webapi
        .call(&api.auth, &principal(), None)
        .await
        .unwrap();
    sim.move_tenant(TENANT, "sod7");
    sim.clear_requests();
    api.webapi
        .call(&api.auth, &principal(), None)
        .await
        .expect("followed the move");
    let log = sim.requests();
    let webapi: Vec<_> = log.iter().filter(|r| r.route == Route::WebApi).collect();
    assert_eq!(webapi.len(), 2);
    assert_eq!(webapi[0].status, Some(421));
    assert!(webapi[0].path.starts_with("/sod2/"));
    assert_eq!(webapi[1].status, Some(200));
    assert!(webapi[1].path.starts_with("/sod7/"));
    assert_eq!(
        sim.count(Route::TenantState),
        1,
        "the state was read again once"
    );
}

#[tokio::test]
async fn throttling_waits_exactly_retry_after_and_sends_nothing_earlier() {
    let sim = simulator(vec![REDIRECT.into()]).await;
    let clock = manual_clock();
    let so = platform_with(&sim, clock.clone(), Arc::new(FixedJitter(1.0)));
    let api = webapi(&sim, &so).await;
    sim.faults().push(
        FaultRule::new(
            Route::WebApi,
            FaultAction::Status {
                status: 429,
                retry_after: Some("3".into()),
            },
        )
        .times(2),
    );
    api.webapi
        .call(&api.auth, &principal(), None)
        .await
        .expect("after two 429s");
    assert_eq!(
        clock.sleeps(),
        vec![Duration::from_secs(3), Duration::from_secs(3)]
    );
    let usage = api.usage.get(&ctx());
    assert_eq!((usage.calls, usage.throttles), (3, 2));
}

#[tokio::test]
async fn a_retry_after_beyond_the_deadline_is_returned_not_slept() {
    let sim = simulator(vec![REDIRECT.into()]).await;
    let clock = manual_clock();
    let so = platform_with(&sim, clock.clone(), Arc::new(FixedJitter(1.0)));
    let api = webapi(&sim, &so).await;
    sim.faults().push(FaultRule::new(
        Route::WebApi,
        FaultAction::Status {
            status: 429,
            retry_after: Some("600".into()),
        },
    ));
    let deadline = clock.now() + Duration::from_secs(30);
    let err = api
        .webapi
        .call(&api.auth, &principal(), Some(deadline))
        .await
        .unwrap_err();
    assert!(
        matches!(err, WebApiError::Throttled { retry_after } if retry_after == Duration::from_secs(600)),
        "{err:?}"
    );
    assert!(clock.sleeps().is_empty(), "no sleep at all");
    assert_eq!(sim.count(Route::WebApi), 1);
}

#[tokio::test]
async fn an_expired_ticket_is_replaced_once_and_revoked_consent_stops_the_call() {
    let sim = simulator(vec![REDIRECT.into()]).await;
    let so = platform(&sim);
    let api = webapi(&sim, &so).await;
    api.webapi
        .call(&api.auth, &principal(), None)
        .await
        .unwrap();
    sim.revoke_consent(TENANT, CLIENT_ID);
    let err = api
        .webapi
        .call(&api.auth, &principal(), None)
        .await
        .unwrap_err();
    // The cached ticket gets 401; a new ticket is asked for once and SuperOffice says Revoked.
    assert!(
        matches!(&err, WebApiError::SystemUser(SystemUserError::Refused { message }) if message.starts_with("Revoked")),
        "{err:?}"
    );
    assert_eq!(sim.count(Route::SystemUser), 2);
}

#[tokio::test]
async fn a_hanging_superoffice_is_cut_off_by_the_timeout() {
    let sim = simulator(vec![REDIRECT.into()]).await;
    sim.faults()
        .push(FaultRule::new(Route::TenantState, FaultAction::Hang));
    let env = sim.base_url().as_str().parse().unwrap();
    let mut config =
        superoffice::client::PlatformConfig::new(env, CLIENT_ID, Secret::new(CLIENT_SECRET));
    config.timeouts.tenant_state = Duration::from_millis(300);
    let so = superoffice::client::SuperOffice::new(
        config,
        Arc::new(superoffice::transport::ReqwestTransport::new().unwrap()),
        Arc::new(SystemClock),
        Arc::new(FixedJitter(0.0)),
    );
    let started = Instant::now();
    let err = so.tenant_states().get(&ctx(), None).await.unwrap_err();
    let took = started.elapsed();
    assert!(err.to_string().contains("unavailable"), "{err}");
    // Four attempts of 300 ms and no backoff (jitter 0): far from a hang.
    assert!(took < Duration::from_secs(5), "{took:?}");
    assert_eq!(sim.count(Route::TenantState), 4);
}

/// Records the (manual) time of every request sent.
struct Timed {
    inner: superoffice::transport::ReqwestTransport,
    clock: Arc<ManualClock>,
    sent: std::sync::Mutex<Vec<(String, SystemTime)>>,
}

impl superoffice::transport::Transport for Timed {
    fn send(
        &self,
        request: superoffice::transport::HttpRequest,
    ) -> superoffice::clock::BoxFuture<
        '_,
        Result<superoffice::transport::HttpResponse, superoffice::transport::TransportError>,
    > {
        self.sent
            .lock()
            .unwrap()
            .push((request.url.path().to_owned(), self.clock.now()));
        self.inner.send(request)
    }
}

#[tokio::test]
async fn a_burst_for_one_tenant_is_held_to_the_rate_cap_and_another_tenant_is_not_slowed() {
    let sim = simulator(vec![REDIRECT.into()]).await;
    sim.grant_consent("Cust67890", CLIENT_ID);
    let clock = manual_clock();
    let timed = Arc::new(Timed {
        inner: superoffice::transport::ReqwestTransport::new().unwrap(),
        clock: clock.clone(),
        sent: Default::default(),
    });
    let env = sim.base_url().as_str().parse().unwrap();
    let so = superoffice::client::SuperOffice::new(
        superoffice::client::PlatformConfig::new(env, CLIENT_ID, Secret::new(CLIENT_SECRET)),
        timed.clone(),
        clock.clone(),
        Arc::new(FixedJitter(1.0)),
    );
    let tickets = Arc::new(so.system_user(partner_key()).await.unwrap());
    let rate = Arc::new(superoffice::rate::TenantRateLimiter::new(
        10,
        10,
        clock.clone(),
    ));
    let api = so.webapi(tickets, Arc::new(UsageCounters::default()), Some(rate));
    let a = TenantAuth {
        tenant: ctx(),
        system_token: system_token(&sim),
    };
    let b = TenantAuth {
        tenant: TenantId::parse("Cust67890").unwrap(),
        system_token: Secret::new(sim.system_token("Cust67890", CLIENT_ID).unwrap()),
    };
    for _ in 0..1000 {
        api.call(&a, &principal(), None).await.unwrap();
    }
    let to_a: Vec<SystemTime> = timed
        .sent
        .lock()
        .unwrap()
        .iter()
        .filter(|(p, _)| p.contains("/Cust12345/api/"))
        .map(|(_, t)| *t)
        .collect();
    assert_eq!(to_a.len(), 1000);
    let mut worst = 0;
    for (i, start) in to_a.iter().enumerate() {
        let n = to_a[i..]
            .iter()
            .take_while(|t| t.duration_since(*start).unwrap() < Duration::from_secs(1))
            .count();
        worst = worst.max(n);
    }
    assert!(
        worst <= 20,
        "at most rate + burst in any second, saw {worst}"
    );
    let span = to_a[999].duration_since(to_a[0]).unwrap();
    assert!(
        span >= Duration::from_secs(98),
        "1,000 calls at 10/s take about 99 s, took {span:?}"
    );

    let before = clock.now();
    api.call(&b, &principal(), None).await.unwrap();
    assert_eq!(clock.now(), before, "another tenant's call does not wait");
}

//! The library's scripted user (`superoffice_simulator::user_agent`), which other crates' tests use
//! to sign in without a browser.

use superoffice_simulator::user_agent::{Choice, Delivery, sign_in};
use url::Url;

use crate::common::{self, *};

const ADA: Choice<'static> = Choice {
    context_id: "Cust12345",
    email: "ada@demo.example",
    approve: true,
};

fn authorize(sim: &superoffice_simulator::SimulatorHandle, flow: &Flow<'_>, extra: &str) -> Url {
    Url::parse(&format!("{}{extra}", authorize_url(sim, flow))).unwrap()
}

fn fields(delivery: &Delivery) -> Vec<(&str, &str)> {
    let Delivery::FormPost { action, fields } = delivery else {
        panic!("form_post expected: {delivery:?}");
    };
    assert_eq!(action, REDIRECT);
    fields
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect()
}

#[tokio::test]
async fn a_refused_authorize_request_is_delivered_to_the_app() {
    let sim = demo().await;
    // form_post: the authorize GET answers 200 with the form_post page carrying the error.
    let unknown_tenant = authorize(&sim, &Flow::default(), "&acr_values=tenant%3ACust99999");
    let delivery = sign_in(&unknown_tenant, &ADA).await.unwrap();
    let fields = fields(&delivery);
    assert_eq!(
        fields.iter().map(|(k, _)| *k).collect::<Vec<_>>(),
        ["state", "error", "error_description"]
    );
    assert_eq!(delivery.param("error").as_deref(), Some("invalid_request"));
    assert_eq!(delivery.param("state").as_deref(), Some("st-123"));
    assert!(
        delivery
            .param("error_description")
            .unwrap()
            .contains("Cust99999")
    );
    // query: a redirect straight from the authorize GET.
    let query = Flow {
        form_post: false,
        ..Flow::default()
    };
    let delivery = sign_in(&authorize(&sim, &query, "&prompt=none"), &ADA)
        .await
        .unwrap();
    let Delivery::Redirect(to) = &delivery else {
        panic!("a redirect expected: {delivery:?}");
    };
    assert!(to.as_str().starts_with(&format!("{REDIRECT}?")), "{to}");
    assert_eq!(delivery.param("error").as_deref(), Some("login_required"));
    assert!(delivery.param("code").is_none());
    // No user was asked, nobody consented.
    assert!(!sim.has_consent("Cust12345", CLIENT_ID));
    // A request that cannot go back to the app is an error, not a delivery.
    let bad_redirect = Url::parse(&authorize_url(
        &sim,
        &Flow {
            redirect_uri: "http://evil.example/cb",
            ..Flow::default()
        },
    ))
    .unwrap();
    let err = sign_in(&bad_redirect, &ADA).await.unwrap_err();
    assert!(err.contains("400"), "{err}");
    sim.shutdown().await;
}

#[tokio::test]
async fn signs_in_approves_or_cancels_consent_in_both_response_modes() {
    let sim = demo().await;
    let http = client();
    let flow = Flow::default();
    // Cancel on the consent page.
    let cancel = Choice {
        approve: false,
        ..ADA
    };
    let delivery = sign_in(&authorize(&sim, &flow, ""), &cancel).await.unwrap();
    assert_eq!(
        fields(&delivery),
        [
            ("state", "st-123"),
            ("error", "access_denied"),
            ("error_description", "The user cancelled the sign-in."),
        ]
    );
    assert!(!sim.has_consent("Cust12345", CLIENT_ID));

    // Approve: a code that the token endpoint takes.
    let delivery = sign_in(&authorize(&sim, &flow, ""), &ADA).await.unwrap();
    let code = delivery.param("code").unwrap();
    assert_eq!(delivery.param("state").as_deref(), Some("st-123"));
    assert!(delivery.param("error").is_none());
    assert!(sim.has_consent("Cust12345", CLIENT_ID));
    let resp = exchange(&sim, &http, &code, REDIRECT, None).await;
    assert_eq!(resp.status(), 200);

    // Query mode, consent remembered: a redirect with the code; another user of the tenant.
    let query = Flow {
        form_post: false,
        ..Flow::default()
    };
    let ulf = Choice {
        email: "ulf@demo.example",
        ..ADA
    };
    let delivery = sign_in(&authorize(&sim, &query, ""), &ulf).await.unwrap();
    assert!(matches!(delivery, Delivery::Redirect(_)));
    let code = delivery.param("code").unwrap();
    let tokens: serde_json::Value = exchange(&sim, &http, &code, REDIRECT, None)
        .await
        .json()
        .await
        .unwrap();
    let claims = common::jwt_claims(tokens["id_token"].as_str().unwrap());
    assert_eq!(claims["sub"], "ulf@demo.example");
    sim.shutdown().await;
}

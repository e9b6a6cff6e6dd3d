//! `POST /Login/api/PartnerSystemUser/Authenticate`: exchanges a signed system-user token for a
//! JWT that carries a system-user ticket.
//!
//! Request (JSON; property names matched ignoring case, as ASP.NET model binding does):
//! `{"SignedSystemToken", "ApplicationToken", "ContextIdentifier", "ReturnTokenType"}`.
//! Response: `{"IsSuccessful", "Token", "ErrorMessage"}` (the WSDL's AuthenticationResponse).
//!
//! Failures are HTTP 200 with `IsSuccessful: false` and an `ErrorMessage` that starts with the
//! AuthorizeErrorCode name where one fits (`Revoked`, `InvalidTimestamp`, `InvalidSignature`,
//! `Denied`). The real service's failure status and message texts are undocumented.

use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use axum::Json;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::{Map, Value, json};

use crate::CLAIM_PREFIX;
use crate::state::{AppState, SYSTEM_USER_ASSOCIATE_ID, TICKET_LIFETIME, Ticket};
use crate::util::{b64std, b64std_decode, clip, random_bytes, unix_now, unix_seconds};

/// How far the signed timestamp may be from the simulator's clock.
pub(crate) const TIMESTAMP_TOLERANCE: Duration = Duration::from_secs(5 * 60);
const JWT_LIFETIME_SECS: i64 = 300;

pub(crate) async fn authenticate(State(st): State<Arc<AppState>>, body: Bytes) -> Response {
    let Ok(Value::Object(obj)) = serde_json::from_slice::<Value>(&body) else {
        return (
            StatusCode::BAD_REQUEST,
            Json(json!({ "Message": "The request body is not a JSON object." })),
        )
            .into_response();
    };
    let field = |name: &str| -> Option<String> {
        obj.iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .and_then(|(_, v)| v.as_str())
            .map(str::to_owned)
    };
    let result = check(
        &st,
        field("SignedSystemToken"),
        field("ApplicationToken"),
        field("ContextIdentifier"),
        field("ReturnTokenType"),
    );
    let body = match result {
        Ok(token) => json!({ "IsSuccessful": true, "Token": token, "ErrorMessage": "" }),
        Err(message) => json!({ "IsSuccessful": false, "Token": null, "ErrorMessage": message }),
    };
    (StatusCode::OK, Json(body)).into_response()
}

fn check(
    st: &AppState,
    signed: Option<String>,
    app_token: Option<String>,
    ctx: Option<String>,
    return_type: Option<String>,
) -> Result<String, String> {
    let app_token = app_token
        .filter(|s| !s.is_empty())
        .ok_or("Denied: ApplicationToken is required")?;
    let ctx = ctx
        .filter(|s| !s.is_empty())
        .ok_or("Denied: ContextIdentifier is required")?;
    let signed = signed
        .filter(|s| !s.is_empty())
        .ok_or("InvalidSignature: SignedSystemToken is required")?;
    // The WSDL's TokenType is Jwt|Saml and optional (a missing value means Jwt).
    match return_type.as_deref() {
        None => {}
        Some(t) if t.eq_ignore_ascii_case("jwt") => {}
        Some(t) if t.eq_ignore_ascii_case("saml") => {
            return Err("Denied: ReturnTokenType SAML is not supported by the simulator".into());
        }
        Some(t) => {
            return Err(format!(
                "Denied: unknown ReturnTokenType {:?} (Jwt or Saml)",
                clip(t, 20)
            ));
        }
    }
    let app = st
        .app_by_secret(&app_token)
        .ok_or("Denied: unknown ApplicationToken")?;
    let Some(public_key) = &app.system_user_key else {
        return Err(format!(
            "Denied: {} has no system-user certificate registered",
            app.reg.name
        ));
    };
    let client_id = app.reg.client_id.clone();

    let (ctx, serial, expected_token) = {
        let store = st.store();
        let tenant = store
            .tenant(&ctx)
            .ok_or_else(|| format!("Denied: unknown ContextIdentifier {}", clip(&ctx, 40)))?;
        let ctx = tenant.cfg.context_id.clone();
        if !store.has_consent(&ctx, &client_id) {
            return Err(format!(
                "Revoked: {ctx} has not approved {} (or the approval was revoked)",
                app.reg.name
            ));
        }
        let expected = store
            .system_tokens
            .get(&(ctx.clone(), client_id.clone()))
            .cloned()
            .unwrap_or_default();
        (ctx, tenant.cfg.serial.clone(), expected)
    };

    // "{system_token}.{yyyyMMddHHmm}.{base64 signature}", split from the right: the system token
    // itself may contain dots, spaces and dashes.
    let (data, signature_b64) = signed
        .rsplit_once('.')
        .ok_or("InvalidSignature: SignedSystemToken is not token.timestamp.signature")?;
    let (system_token, stamp) = data
        .rsplit_once('.')
        .ok_or("InvalidTimestamp: SignedSystemToken has no timestamp")?;
    if expected_token.is_empty()
        || !crate::state::constant_time_eq(system_token.as_bytes(), expected_token.as_bytes())
    {
        return Err(format!(
            "Denied: the system token does not belong to {ctx} and {}",
            app.reg.name
        ));
    }
    let signed_at =
        parse_stamp(stamp).ok_or("InvalidTimestamp: the timestamp must be yyyyMMddHHmm in UTC")?;
    let skew = unix_now().abs_diff(signed_at);
    if skew > TIMESTAMP_TOLERANCE.as_secs() {
        return Err(format!(
            "InvalidTimestamp: the timestamp is {skew} s away from the server clock (at most {} s allowed)",
            TIMESTAMP_TOLERANCE.as_secs()
        ));
    }
    let signature = b64std_decode(signature_b64)
        .ok_or("InvalidSignature: the signature is not standard base64")?;
    public_key
        .verify_sig(data.as_bytes(), &signature)
        .map_err(|_| "InvalidSignature: the signature does not verify with the app's public key")?;

    let ticket = format!("7T:{}", b64std(&random_bytes(64)));
    st.store().tickets.insert(
        ticket.clone(),
        Ticket {
            ctx: ctx.clone(),
            client_id,
            associate_id: SYSTEM_USER_ASSOCIATE_ID,
            expires: Instant::now() + TICKET_LIFETIME,
        },
    );

    let now = unix_seconds(SystemTime::now());
    let mut claims = Map::new();
    claims.insert("iss".into(), json!("SuperOffice AS"));
    claims.insert("aud".into(), json!(format!("spn:{serial}")));
    claims.insert("sub".into(), json!(format!("system.user@{ctx}")));
    claims.insert("iat".into(), json!(now));
    claims.insert("nbf".into(), json!(now - 60));
    claims.insert("exp".into(), json!(now + JWT_LIFETIME_SECS));
    for (k, v) in [
        ("ticket", ticket),
        ("ctx", ctx),
        ("serial", serial),
        ("associateid", SYSTEM_USER_ASSOCIATE_ID.to_string()),
    ] {
        claims.insert(format!("{CLAIM_PREFIX}{k}"), Value::String(v));
    }
    st.current_key()
        .issue(&Value::Object(claims))
        .map_err(|_| "Denied: the simulator could not sign the token".to_owned())
}

/// `yyyyMMddHHmm` (UTC) to Unix seconds.
fn parse_stamp(s: &str) -> Option<i64> {
    if s.len() != 12 || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let num = |r: std::ops::Range<usize>| s.get(r)?.parse::<u16>().ok();
    let year = i32::from(num(0..4)?);
    let month = time::Month::try_from(u8::try_from(num(4..6)?).ok()?).ok()?;
    let day = u8::try_from(num(6..8)?).ok()?;
    let hour = u8::try_from(num(8..10)?).ok()?;
    let minute = u8::try_from(num(10..12)?).ok()?;
    let date = time::Date::from_calendar_date(year, month, day).ok()?;
    let t = time::Time::from_hms(hour, minute, 0).ok()?;
    Some(
        time::PrimitiveDateTime::new(date, t)
            .assume_utc()
            .unix_timestamp(),
    )
}

#[cfg(test)]
mod tests {
    use super::parse_stamp;

    #[test]
    fn stamps() {
        assert_eq!(parse_stamp("197001010001"), Some(60));
        assert_eq!(parse_stamp("202602231952"), Some(1_771_876_320));
        assert_eq!(parse_stamp("202613011200"), None);
        assert_eq!(parse_stamp("20260101120"), None);
        assert_eq!(parse_stamp("2026010112a0"), None);
        assert_eq!(parse_stamp("+02601011200"), None);
    }
}

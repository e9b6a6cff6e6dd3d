//! What a right answer looks like, for the checks that run against a new deployment.
//!
//! Two callers read the same answers in two ways: the PreTraffic hook invokes a new function version
//! directly with a synthetic API Gateway event (before any traffic reaches it), and `soapp smoke`
//! calls the deployed API over the internet afterwards. Both judge the answer here, so "the sign-in
//! redirect is right" means one thing in both places.
//!
//! Every judgement is a [`Verdict`]: `Ok` with what was seen, or `Err` with the one-line reason it is
//! wrong. Reasons name what differs, never a value that could matter to an attacker (the sign-in's
//! state, nonce and cookie values are not repeated).

use std::borrow::Cow;

use url::Url;

/// `Ok(what was seen)` or `Err(why it is wrong)`, each one line.
pub type Verdict = Result<String, String>;

/// An HTTP answer: the status, the header lines in order (names in lower case; each `Set-Cookie` a
/// line of its own) and the body.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Answer {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Answer {
    /// The first value of a header.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// Every value of a header (several `Set-Cookie` lines, for example).
    pub fn all<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        self.headers
            .iter()
            .filter(move |(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    pub fn text(&self) -> Cow<'_, str> {
        String::from_utf8_lossy(&self.body)
    }

    fn content_type(&self) -> &str {
        self.header("content-type").unwrap_or("")
    }
}

/// What the deployment should say: the SuperOffice environment's issuer it signs in against, the
/// app's client id there (when the checker knows it) and the app's own base URL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Expected {
    /// `https://sod.superoffice.com` and the like, without a trailing slash.
    pub issuer: String,
    pub client_id: Option<String>,
    /// The deployment's public base URL (`APP_BASE_URL`), without a trailing slash.
    pub base_url: String,
}

impl Expected {
    pub fn new(issuer: &str, client_id: Option<&str>, base_url: &str) -> Self {
        Self {
            issuer: issuer.trim_end_matches('/').to_owned(),
            client_id: client_id.map(str::to_owned),
            base_url: base_url.trim_end_matches('/').to_owned(),
        }
    }

    /// Where SuperOffice's sign-in lives for this issuer (the discovery document's
    /// `authorization_endpoint` at every SuperOffice environment).
    pub fn authorize_endpoint(&self) -> String {
        format!("{}/login/common/oauth/authorize", self.issuer)
    }
}

fn status(a: &Answer, want: u16) -> Result<(), String> {
    if a.status == want {
        Ok(())
    } else {
        Err(format!("answered {} instead of {want}", a.status))
    }
}

/// `GET /` without a session: the sign-in page, as HTML.
pub fn front_page(a: &Answer) -> Verdict {
    status(a, 200)?;
    if !a.content_type().starts_with("text/html") {
        return Err(format!(
            "answered 200 with content type {:?} instead of HTML",
            a.content_type()
        ));
    }
    if !a.text().contains("href=\"/login\"") {
        return Err("answered 200 HTML without the link to /login".into());
    }
    Ok("200, the sign-in page".into())
}

/// `GET /login`: `303` to SuperOffice's authorize endpoint of the expected environment, for our
/// client and our redirect URI, with the code flow's parameters, and a sign-in cookie that only our
/// origin gets back over HTTPS.
pub fn sign_in_redirect(a: &Answer, e: &Expected) -> Verdict {
    status(a, 303)?;
    let location = a.header("location").ok_or("303 without a Location")?;
    let url = Url::parse(location).map_err(|_| "the Location is not an absolute URL".to_owned())?;
    let endpoint = format!(
        "{}{}",
        url.origin().ascii_serialization(),
        url.path().trim_end_matches('/')
    );
    if !endpoint.eq_ignore_ascii_case(&e.authorize_endpoint()) {
        return Err(format!(
            "redirects to {endpoint} instead of {}",
            e.authorize_endpoint()
        ));
    }
    let one = |name: &str| -> Result<String, String> {
        let mut values = url.query_pairs().filter(|(k, _)| k == name).map(|(_, v)| v);
        match (values.next(), values.next()) {
            (Some(v), None) if !v.is_empty() => Ok(v.into_owned()),
            (None, _) => Err(format!("the authorize request has no {name}")),
            _ => Err(format!("the authorize request has {name} empty or twice")),
        }
    };
    let client_id = one("client_id")?;
    match &e.client_id {
        Some(want) if &client_id != want => {
            return Err(format!(
                "the authorize request is for client {client_id}, not {want}"
            ));
        }
        None if !(client_id.len() == 32 && client_id.bytes().all(|b| b.is_ascii_hexdigit())) => {
            return Err("the client_id is not a Developer Portal client id".into());
        }
        _ => {}
    }
    let redirect_uri = one("redirect_uri")?;
    let want_redirect = format!("{}/callback", e.base_url);
    if redirect_uri != want_redirect {
        return Err(format!(
            "the redirect_uri is {redirect_uri} instead of {want_redirect}"
        ));
    }
    for (name, want) in [
        ("response_type", "code"),
        ("response_mode", "form_post"),
        ("code_challenge_method", "S256"),
    ] {
        let got = one(name)?;
        if got != want {
            return Err(format!("{name} is {got} instead of {want}"));
        }
    }
    if !one("scope")?.split(' ').any(|s| s == "openid") {
        return Err("the scope lacks openid".into());
    }
    for name in ["state", "nonce", "code_challenge"] {
        one(name)?;
    }
    // The sign-in under way lives in its own cookie: host-only, HTTPS only, out of scripts' reach.
    let cookie = a
        .all("set-cookie")
        .find(|c| c.starts_with("__Host-signin-") && !c.contains("Max-Age=0"))
        .ok_or("no __Host-signin- cookie for the sign-in under way")?;
    let attributes: Vec<String> = cookie
        .split(';')
        .skip(1)
        .map(|p| p.trim().to_ascii_lowercase())
        .collect();
    for want in ["secure", "httponly", "path=/"] {
        if !attributes.iter().any(|a| a == want) {
            return Err(format!("the sign-in cookie lacks {want}"));
        }
    }
    if attributes.iter().any(|a| a.starts_with("domain=")) {
        return Err("the sign-in cookie names a Domain".into());
    }
    Ok(format!(
        "303 to {endpoint} for client {client_id}, back to {redirect_uri}"
    ))
}

/// A page that needs a signed-in administrator, asked without a session: `303` to the install
/// sign-in (a recent sign-in that records the tenant's consent) with the page as the way back.
pub fn needs_sign_in(a: &Answer, path: &str) -> Verdict {
    status(a, 303)?;
    let location = a.header("location").ok_or("303 without a Location")?;
    let want = format!("/login?intent=install&return={path}");
    if location != want {
        return Err(format!("redirects to {location} instead of {want}"));
    }
    Ok(format!("303 to {want}"))
}

/// A forged or unsigned request refused with `401`.
pub fn refused(a: &Answer) -> Verdict {
    status(a, 401).map_err(|e| format!("a forged request was not refused: {e}"))?;
    Ok("401, refused".into())
}

/// The headers every page of the app sends: a strict Content-Security-Policy that allows framing by
/// SuperOffice only, HSTS for a year, no MIME sniffing, no referrer.
pub fn security_headers(a: &Answer) -> Verdict {
    let csp = a
        .header("content-security-policy")
        .ok_or("no Content-Security-Policy")?;
    let directives: Vec<&str> = csp.split(';').map(str::trim).collect();
    for want in [
        "default-src 'none'",
        "base-uri 'none'",
        "form-action 'self'",
    ] {
        if !directives.contains(&want) {
            return Err(format!("the Content-Security-Policy lacks {want}"));
        }
    }
    let frame = directives
        .iter()
        .find(|d| d.starts_with("frame-ancestors"))
        .ok_or("the Content-Security-Policy lacks frame-ancestors")?;
    if frame
        .split_whitespace()
        .skip(1)
        .any(|s| s == "*" || s == "https:")
    {
        return Err("the Content-Security-Policy lets any site frame the app".into());
    }
    let hsts = a
        .header("strict-transport-security")
        .ok_or("no Strict-Transport-Security")?;
    let max_age = hsts
        .split(';')
        .filter_map(|p| p.trim().strip_prefix("max-age="))
        .find_map(|v| v.trim_matches('"').parse::<u64>().ok())
        .ok_or("Strict-Transport-Security without a max-age")?;
    if max_age < 31_536_000 {
        return Err(format!(
            "Strict-Transport-Security max-age is {max_age} s, less than a year"
        ));
    }
    if a.header("x-content-type-options") != Some("nosniff") {
        return Err("no X-Content-Type-Options: nosniff".into());
    }
    if a.header("referrer-policy") != Some("no-referrer") {
        return Err("no Referrer-Policy: no-referrer".into());
    }
    Ok("CSP, HSTS, nosniff, no-referrer".into())
}

/// Words that only an internal error would show: a Rust panic or backtrace, source paths, the
/// Lambda task folder, AWS error codes and resource names.
const INTERNALS: &[&str] = &[
    "panicked at",
    "stack backtrace",
    "RUST_BACKTRACE",
    "called `Result::unwrap()`",
    "called `Option::unwrap()`",
    ".rs:",
    "/var/task",
    "/home/",
    "/root/",
    "Traceback (most recent call last)",
    "arn:aws",
    "AccessDenied",
    "ResourceNotFoundException",
    "dispatch failure",
    "DynamoDB",
    "Secrets Manager",
];

/// The answer shows nothing of the app's insides (error pages give a reason code and a request id,
/// see `web::Problem`), and no header names the software behind it.
pub fn no_internals(a: &Answer) -> Verdict {
    let text = a.text();
    if let Some(word) = INTERNALS.iter().find(|w| text.contains(**w)) {
        return Err(format!("the body shows internals ({word:?})"));
    }
    for name in ["x-powered-by", "x-aspnet-version"] {
        if a.header(name).is_some() {
            return Err(format!("a {name} header names the software"));
        }
    }
    Ok("no internals shown".into())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn answer(status: u16, headers: &[(&str, &str)], body: &str) -> Answer {
        Answer {
            status,
            headers: headers
                .iter()
                .map(|(n, v)| ((*n).to_owned(), (*v).to_owned()))
                .collect(),
            body: body.as_bytes().to_vec(),
        }
    }

    fn expected() -> Expected {
        Expected::new(
            "https://sod.superoffice.com/",
            Some("0a1b2c3d4e5f60718293a4b5c6d7e8f9"),
            "https://app.example.com",
        )
    }

    const LOCATION: &str = "https://sod.superoffice.com/login/common/oauth/authorize?client_id=0a1b2c3d4e5f60718293a4b5c6d7e8f9&scope=openid&response_type=code&response_mode=form_post&redirect_uri=https%3A%2F%2Fapp.example.com%2Fcallback&state=s&nonce=n&code_challenge=c&code_challenge_method=S256";
    const COOKIE: &str =
        "__Host-signin-abc=v; Path=/; Secure; HttpOnly; SameSite=None; Max-Age=600";

    #[test]
    fn the_sign_in_redirect_names_the_issuer_the_client_and_our_callback() {
        let good = answer(303, &[("location", LOCATION), ("set-cookie", COOKIE)], "");
        let seen = sign_in_redirect(&good, &expected()).unwrap();
        assert!(seen.contains("0a1b2c3d4e5f60718293a4b5c6d7e8f9"), "{seen}");
        assert!(
            !seen.contains("state=s"),
            "no sign-in values repeated: {seen}"
        );

        let online = Expected::new(
            "https://online.superoffice.com",
            None,
            "https://app.example.com",
        );
        let e = sign_in_redirect(&good, &online).unwrap_err();
        assert!(
            e.contains("instead of https://online.superoffice.com/login/common/oauth/authorize"),
            "{e}"
        );

        let other_client = Expected::new(
            "https://sod.superoffice.com",
            Some("ffffffffffffffffffffffffffffffff"),
            "https://app.example.com",
        );
        assert!(
            sign_in_redirect(&good, &other_client)
                .unwrap_err()
                .contains("for client")
        );

        let elsewhere = Expected::new(
            "https://sod.superoffice.com",
            None,
            "https://other.example.com",
        );
        assert!(
            sign_in_redirect(&good, &elsewhere)
                .unwrap_err()
                .contains("redirect_uri")
        );

        for (from, to) in [
            ("response_mode=form_post", "response_mode=query"),
            ("code_challenge_method=S256", "code_challenge_method=plain"),
            ("&nonce=n", ""),
            ("scope=openid", "scope=profile"),
            (
                "client_id=0a1b2c3d4e5f60718293a4b5c6d7e8f9",
                "client_id=0a1b2c3d4e5f60718293a4b5c6d7e8f9&client_id=x",
            ),
        ] {
            let bad = answer(
                303,
                &[
                    ("location", &LOCATION.replace(from, to)),
                    ("set-cookie", COOKIE),
                ],
                "",
            );
            assert!(sign_in_redirect(&bad, &expected()).is_err(), "{to}");
        }
        for (from, to) in [
            ("; Secure", ""),
            ("; HttpOnly", ""),
            ("Path=/", "Path=/x; Domain=example.com"),
        ] {
            let bad = answer(
                303,
                &[
                    ("location", LOCATION),
                    ("set-cookie", &COOKIE.replace(from, to)),
                ],
                "",
            );
            assert!(
                sign_in_redirect(&bad, &expected())
                    .unwrap_err()
                    .contains("cookie"),
                "{to}"
            );
        }
        assert!(
            sign_in_redirect(&answer(302, &[("location", LOCATION)], ""), &expected()).is_err()
        );
        assert!(
            sign_in_redirect(&answer(303, &[("location", LOCATION)], ""), &expected()).is_err()
        );
    }

    #[test]
    fn pages_for_administrators_send_strangers_to_the_sign_in() {
        let a = answer(
            303,
            &[("location", "/login?intent=install&return=/install")],
            "",
        );
        assert!(needs_sign_in(&a, "/install").is_ok());
        let a = answer(
            303,
            &[("location", "/login?intent=install&return=/manage")],
            "",
        );
        assert!(needs_sign_in(&a, "/manage").is_ok());
        let a = answer(200, &[], "<html>install</html>");
        assert!(needs_sign_in(&a, "/install").is_err());
        let a = answer(303, &[("location", "https://evil.example/login")], "");
        assert!(needs_sign_in(&a, "/manage").is_err());
    }

    const CSP: &str = "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; frame-ancestors 'self' https://*.superoffice.com; base-uri 'none'";

    #[test]
    fn security_headers_are_all_there_and_strict() {
        let good = [
            ("content-security-policy", CSP),
            (
                "strict-transport-security",
                "max-age=31536000; includeSubDomains",
            ),
            ("x-content-type-options", "nosniff"),
            ("referrer-policy", "no-referrer"),
        ];
        assert!(security_headers(&answer(200, &good, "")).is_ok());
        for drop in 0..good.len() {
            let fewer: Vec<_> = good
                .iter()
                .enumerate()
                .filter(|(i, _)| *i != drop)
                .map(|(_, h)| *h)
                .collect();
            assert!(
                security_headers(&answer(200, &fewer, "")).is_err(),
                "{:?}",
                good[drop]
            );
        }
        let mut weak = good;
        weak[0].1 = "default-src 'none'; form-action 'self'; base-uri 'none'; frame-ancestors *";
        assert!(
            security_headers(&answer(200, &weak, ""))
                .unwrap_err()
                .contains("frame")
        );
        let mut short = good;
        short[1].1 = "max-age=300";
        assert!(
            security_headers(&answer(200, &short, ""))
                .unwrap_err()
                .contains("less than a year")
        );
    }

    #[test]
    fn internals_are_recognised_in_bodies_and_headers() {
        assert!(no_internals(&answer(404, &[], "<p>Not found. Request id abc.</p>")).is_ok());
        for body in [
            "thread 'main' panicked at src/main.rs:10:5",
            "Error: dispatch failure",
            "User: arn:aws:sts::123456789012:assumed-role/x is not authorized",
        ] {
            assert!(no_internals(&answer(500, &[], body)).is_err(), "{body}");
        }
        assert!(no_internals(&answer(200, &[("x-powered-by", "Express")], "")).is_err());
    }

    #[test]
    fn refusals_and_the_front_page() {
        assert!(refused(&answer(401, &[], "not verified\n")).is_ok());
        assert!(
            refused(&answer(200, &[], "ok\n"))
                .unwrap_err()
                .contains("not refused")
        );
        let page = answer(
            200,
            &[("content-type", "text/html; charset=utf-8")],
            "<a href=\"/login\">Sign in</a>",
        );
        assert!(front_page(&page).is_ok());
        assert!(front_page(&answer(200, &[("content-type", "application/json")], "{}")).is_err());
        assert!(front_page(&answer(500, &[], "")).is_err());
    }
}

//! Small helpers: randomness, encodings, clocks, form parsing.

use std::collections::HashMap;
use std::time::{SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};

/// `n` bytes from the operating system's random source.
pub(crate) fn random_bytes(n: usize) -> Vec<u8> {
    let mut buf = vec![0u8; n];
    // aws-lc's RNG only fails if the operating system cannot provide entropy at all; nothing a
    // request sends can cause that, and handing out predictable codes or tokens would be worse.
    aws_lc_rs::rand::fill(&mut buf).expect("the operating system random source is available");
    buf
}

const ALNUM: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";

/// `n` random characters from `[A-Za-z0-9]`, without modulo bias.
pub(crate) fn random_alnum(n: usize) -> String {
    let mut out = String::with_capacity(n);
    while out.len() < n {
        for b in random_bytes(n * 2) {
            // 248 = 4 * 62: reject the top bytes so every character is equally likely.
            if b < 248 && out.len() < n {
                out.push(char::from(ALNUM[usize::from(b % 62)]));
            }
        }
    }
    out
}

/// Random URL-safe token of `bytes` random bytes.
pub(crate) fn random_urlsafe(bytes: usize) -> String {
    b64url(&random_bytes(bytes))
}

pub(crate) fn b64url(data: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(data)
}

pub(crate) fn b64std(data: &[u8]) -> String {
    STANDARD.encode(data)
}

pub(crate) fn b64std_decode(s: &str) -> Option<Vec<u8>> {
    STANDARD.decode(s).ok()
}

pub(crate) fn hex_upper(data: &[u8]) -> String {
    data.iter().map(|b| format!("{b:02X}")).collect()
}

/// Seconds since the Unix epoch (0 for a clock before 1970).
pub(crate) fn unix_now() -> i64 {
    unix_seconds(SystemTime::now())
}

pub(crate) fn unix_seconds(t: SystemTime) -> i64 {
    match t.duration_since(UNIX_EPOCH) {
        Ok(d) => i64::try_from(d.as_secs()).unwrap_or(i64::MAX),
        Err(e) => -i64::try_from(e.duration().as_secs()).unwrap_or(i64::MAX),
    }
}

/// .NET's round-trip format as the tenant state API writes it: `2026-02-23T09:52:01.9342965Z`.
pub(crate) fn dotnet_utc(t: SystemTime) -> String {
    let dt = time::OffsetDateTime::from(t).to_offset(time::UtcOffset::UTC);
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:07}Z",
        dt.year(),
        u8::from(dt.month()),
        dt.day(),
        dt.hour(),
        dt.minute(),
        dt.second(),
        dt.nanosecond() / 100
    )
}

/// RFC 3339 in UTC, `2026-02-23T09:52:01.934296512Z` (.NET's round-trip form for a time outside
/// what RFC 3339 can write).
pub(crate) fn rfc3339_utc(t: SystemTime) -> String {
    time::OffsetDateTime::from(t)
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_else(|_| dotnet_utc(t))
}

/// `2026-02-23 09:52:01 UTC`, for people.
pub(crate) fn human_utc(t: SystemTime) -> String {
    let dt = time::OffsetDateTime::from(t).to_offset(time::UtcOffset::UTC);
    format!(
        "{:04}-{:02}-{:02} {:02}:{:02}:{:02} UTC",
        dt.year(),
        u8::from(dt.month()),
        dt.day(),
        dt.hour(),
        dt.minute(),
        dt.second()
    )
}

/// Parses an RFC 3339 time (as accepted by the `/__sim` API).
pub(crate) fn parse_rfc3339(s: &str) -> Option<SystemTime> {
    let dt = time::OffsetDateTime::parse(s, &time::format_description::well_known::Rfc3339).ok()?;
    Some(SystemTime::from(dt))
}

/// Escapes text for HTML element content and double- or single-quoted attribute values.
pub(crate) fn html_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 8);
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// A parsed `application/x-www-form-urlencoded` body or query string.
#[derive(Debug, Default, Clone)]
pub(crate) struct Params {
    map: HashMap<String, String>,
    /// The first parameter name that occurred more than once (OAuth forbids repeats).
    pub(crate) repeated: Option<String>,
}

impl Params {
    pub(crate) fn parse(input: &[u8]) -> Self {
        let mut params = Params::default();
        for (k, v) in url::form_urlencoded::parse(input) {
            if params.map.contains_key(k.as_ref()) {
                if params.repeated.is_none() {
                    params.repeated = Some(k.clone().into_owned());
                }
                continue;
            }
            params.map.insert(k.into_owned(), v.into_owned());
        }
        params
    }

    /// The value, with an empty value treated as absent (as OAuth says).
    pub(crate) fn get(&self, key: &str) -> Option<&str> {
        self.map
            .get(key)
            .map(String::as_str)
            .filter(|v| !v.is_empty())
    }
}

/// A URL the simulator calls back (a webhook's `TargetUrl`, an app's state-change URL): https to
/// any host, or plain http only to a loopback address, so a test or local run needs no TLS but
/// nothing is sent in clear over a network. `what` names the URL in the error.
pub(crate) fn check_callback_url(url: &str, what: &str) -> Result<url::Url, String> {
    use url::Host;
    let u = url::Url::parse(url)
        .map_err(|e| format!("{what} {:?} is not a URL: {e}", clip(url, 200)))?;
    let loopback = match u.host() {
        Some(Host::Domain(d)) => d.eq_ignore_ascii_case("localhost"),
        Some(Host::Ipv4(ip)) => ip.is_loopback(),
        Some(Host::Ipv6(ip)) => ip.is_loopback(),
        None => false,
    };
    match u.scheme() {
        "https" if u.host().is_some() => Ok(u),
        "http" if loopback => Ok(u),
        _ => Err(format!(
            "{what} {:?} must be https (plain http only to a loopback address)",
            clip(url, 200)
        )),
    }
}

/// Truncates a string to at most `max` characters for echoing in error messages.
pub(crate) fn clip(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        s.to_owned()
    } else {
        let mut out: String = s.chars().take(max).collect();
        out.push('…');
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn dotnet_format_has_seven_fraction_digits() {
        let t = UNIX_EPOCH + Duration::new(1_771_840_321, 934_296_512);
        assert_eq!(dotnet_utc(t), "2026-02-23T09:52:01.9342965Z");
    }

    #[test]
    fn alnum_has_requested_length_and_alphabet() {
        let s = random_alnum(10);
        assert_eq!(s.len(), 10);
        assert!(s.chars().all(|c| c.is_ascii_alphanumeric()));
    }

    #[test]
    fn escapes_html() {
        assert_eq!(
            html_escape(r#"<a href="x">'&'</a>"#),
            "&lt;a href=&quot;x&quot;&gt;&#39;&amp;&#39;&lt;/a&gt;"
        );
    }

    #[test]
    fn params_detect_repeats_and_empty_values() {
        let p = Params::parse(b"a=1&b=&a=2&c=x%20y");
        assert_eq!(p.get("a"), Some("1"));
        assert_eq!(p.get("b"), None);
        assert_eq!(p.get("c"), Some("x y"));
        assert_eq!(p.repeated.as_deref(), Some("a"));
    }
}

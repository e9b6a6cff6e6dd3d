//! Where a sign-in may send the browser afterwards: only to one of the app's own pages.
//!
//! The `return` parameter of `/login` is attacker-controlled (anyone can send a victim a link), and
//! the callback redirects there after a real SuperOffice sign-in, so it is an open-redirect target
//! unless it is pinned down. An earlier version checked the raw value and then returned the path
//! *after* URL resolution; resolution removes dot segments, so `/.//attacker.example` passed the
//! check and came out as `//attacker.example` (a host, for a browser). The rules here decide on the
//! final value and never transform it:
//!
//! * **Accepted spellings are already canonical.** The path is plain ASCII from a small alphabet
//!   (letters, digits, `-`, `_`, `.`, `~`, `/`), has no empty, `.` or `..` segment and no percent
//!   escape at all: every decoding or normalisation trick (`%2e`, `%2f`, `%5c`, `%252e`, `;`
//!   parameters, backslashes, tabs, fullwidth `／`, `@`, schemes) is refused rather than interpreted,
//!   so what we check is byte for byte what the browser is sent.
//! * **Only the app's own pages** ([`OWN_PAGES`]) are accepted; everything else falls back to `/`.
//!   This list is the one place a page is added: a new page module (management, web panels) adds
//!   its entry here and every function that redirects after sign-in follows it.
//! * A query string is allowed (`/manage?tab=usage`) but held to the same discipline: a closed
//!   alphabet, well-formed `%XX` escapes that do not decode to control characters, no `#`.
//! * As a last guard the value is resolved against a fixed origin with the WHATWG URL parser (the
//!   browsers' algorithm) and must come out unchanged and on that origin.

/// A page (or a family of pages) of the app.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Page {
    /// Exactly this path.
    Exact(&'static str),
    /// Any path strictly below this one (`Under("/panels")` accepts `/panels/contact`, not
    /// `/panels` or `/panelsX`).
    Under(&'static str),
}

impl Page {
    fn admits(&self, path: &str) -> bool {
        match self {
            Page::Exact(p) => path == *p,
            Page::Under(p) => path
                .strip_prefix(p)
                .and_then(|rest| rest.strip_prefix('/'))
                .is_some_and(|rest| !rest.is_empty()),
        }
    }
}

/// The app's own pages a sign-in may return to. Add a page here when you add it to a function.
pub const OWN_PAGES: &[Page] = &[
    Page::Exact("/"),
    Page::Exact("/install"),
    Page::Exact("/install/status"),
    Page::Exact("/manage"),
    Page::Under("/panels"),
];

/// The longest return value we consider (it travels in a cookie during the sign-in).
pub const MAX_RETURN_LEN: usize = 512;

/// Why a return value is not followed (for the log; the person is simply sent to `/`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Unfollowed {
    #[error("empty or longer than the limit")]
    Length,
    #[error("not a path on this site (no leading slash, or a second one)")]
    NotALocalPath,
    #[error("a character outside the accepted alphabet (escapes, backslashes, spaces, non-ASCII…)")]
    Character,
    #[error("an empty, `.` or `..` path segment")]
    Segment,
    #[error("a malformed or control-character escape in the query")]
    Query,
    #[error("not one of the app's pages")]
    NotAnAppPage,
    #[error("the browser's URL parser would read it differently")]
    Resolution,
}

impl Unfollowed {
    /// The reason code for the log.
    pub fn code(self) -> &'static str {
        match self {
            Unfollowed::Length => "return_length",
            Unfollowed::NotALocalPath => "return_not_local",
            Unfollowed::Character => "return_character",
            Unfollowed::Segment => "return_segment",
            Unfollowed::Query => "return_query",
            Unfollowed::NotAnAppPage => "return_not_app_page",
            Unfollowed::Resolution => "return_resolution",
        }
    }
}

fn path_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~' | b'/')
}

fn query_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~' | b'=' | b'&' | b'+' | b'%')
}

/// `value` as a return target on this site, exactly as given, or why it is not followed.
pub fn check(value: &str) -> Result<&str, Unfollowed> {
    if value.is_empty() || value.len() > MAX_RETURN_LEN {
        return Err(Unfollowed::Length);
    }
    let (path, query) = match value.split_once('?') {
        Some((p, q)) => (p, Some(q)),
        None => (value, None),
    };
    if !path.starts_with('/') || path.starts_with("//") {
        return Err(Unfollowed::NotALocalPath);
    }
    if !path.bytes().all(path_byte) {
        return Err(Unfollowed::Character);
    }
    // `/` alone has one empty segment and is fine; anywhere else an empty segment (`//`, a
    // trailing `/`) or a dot segment is a spelling the browser would rewrite.
    if path != "/"
        && path[1..]
            .split('/')
            .any(|s| s.is_empty() || s == "." || s == "..")
    {
        return Err(Unfollowed::Segment);
    }
    if let Some(q) = query {
        check_query(q)?;
    }
    if !OWN_PAGES.iter().any(|p| p.admits(path)) {
        return Err(Unfollowed::NotAnAppPage);
    }
    // The last guard: the browsers' parser resolves it to the same path and query on our origin.
    let base = url::Url::parse("https://app.invalid/").map_err(|_| Unfollowed::Resolution)?;
    let resolved = base.join(value).map_err(|_| Unfollowed::Resolution)?;
    if resolved.origin() != base.origin()
        || resolved.path() != path
        || resolved.query() != query
        || resolved.fragment().is_some()
    {
        return Err(Unfollowed::Resolution);
    }
    Ok(value)
}

fn check_query(q: &str) -> Result<(), Unfollowed> {
    let bytes = q.as_bytes();
    if !bytes.iter().copied().all(query_byte) {
        return Err(Unfollowed::Query);
    }
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = bytes
                .get(i + 1..i + 3)
                .and_then(|h| std::str::from_utf8(h).ok())
                .and_then(|h| u8::from_str_radix(h, 16).ok())
                .ok_or(Unfollowed::Query)?;
            if hex.is_ascii_control() {
                return Err(Unfollowed::Query);
            }
            i += 3;
        } else {
            i += 1;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_apps_pages_are_followed_exactly_as_given() {
        for ok in [
            "/",
            "/install",
            "/install/status",
            "/manage",
            "/manage?tab=usage",
            "/manage?q=a%20b&x=1",
            "/panels/contact",
            "/panels/contact/card-1.html",
        ] {
            assert_eq!(check(ok), Ok(ok), "{ok}");
        }
    }

    #[test]
    fn every_other_spelling_is_refused_with_its_reason() {
        use Unfollowed::*;
        for (value, why) in [
            ("", Length),
            ("https://evil.example/", NotALocalPath),
            ("//evil.example", NotALocalPath),
            ("evil.example", NotALocalPath),
            ("/.//evil.example", Segment),
            ("/..//evil.example", Segment),
            ("/install/../manage", Segment),
            ("/install/", Segment),
            ("/%2e%2e//evil.example", Character),
            ("/%2F%2Fevil.example", Character),
            ("/\\evil.example", Character),
            ("/\tinstall", Character),
            ("/install;jsessionid=1", Character),
            ("/install@evil.example", Character),
            ("/\u{ff0f}evil.example", Character),
            ("/install\u{0000}", Character),
            ("/manage?x=%0d%0aSet-Cookie:a=1", Query),
            ("/manage?x=%zz", Query),
            ("/manage?x=1#frag", Query),
            ("/manage?x=<script>", Query),
            ("/evil", NotAnAppPage),
            ("/panels", NotAnAppPage),
            ("/panelsevil", NotAnAppPage),
            ("/installx", NotAnAppPage),
        ] {
            assert_eq!(check(value), Err(why), "{value:?}");
        }
        assert_eq!(
            check(&format!("/{}", "a".repeat(MAX_RETURN_LEN))),
            Err(Length)
        );
    }
}

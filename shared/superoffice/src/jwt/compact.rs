//! The JWS compact serialization, checked before anything is decoded.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

use super::Reason;

/// A token split into its three segments, none of them decoded yet.
#[derive(Debug, Clone, Copy)]
pub struct Compact<'a> {
    pub header: &'a str,
    pub payload: &'a str,
    pub signature: &'a str,
    /// `header.payload`: the bytes the signature covers.
    pub signing_input: &'a str,
}

/// Splits a token, refusing oversize input, JSON serialization, any segment count but three, and any
/// character outside the base64url alphabet (no padding, no whitespace), all before decoding.
pub fn split(token: &str, max_len: usize) -> Result<Compact<'_>, Reason> {
    if token.len() > max_len {
        return Err(Reason::TooLarge {
            len: token.len(),
            max: max_len,
        });
    }
    if token.is_empty() {
        return Err(Reason::Malformed("the token is empty"));
    }
    if token.starts_with('{') {
        return Err(Reason::Malformed(
            "JSON serialization is not accepted; a compact JWT is expected",
        ));
    }
    // Size and segment count are checked here, before any decoding. Characters outside base64url
    // are refused by the strict decoder of each segment; when a segment fails to decode or the
    // signature fails, `explain_characters` names the character problem instead (a line break
    // pasted into a token should say so, not "bad signature"). This keeps the valid path to one
    // pass over the token.
    let bytes = token.as_bytes();
    let mut dots = [0usize; 2];
    let mut count = 0usize;
    for i in memchr::memchr_iter(b'.', bytes).take(5) {
        if count < 2 {
            dots[count] = i;
        }
        count += 1;
    }
    let (d1, d2) = match count {
        2 => (dots[0], dots[1]),
        0 => {
            return Err(Reason::Malformed(
                "the token has 1 segment; a signed JWT has 3",
            ));
        }
        1 => {
            return Err(Reason::Malformed(
                "the token has 2 segments; a signed JWT has 3",
            ));
        }
        4 => {
            return Err(Reason::Malformed(
                "the token has 5 segments (an encrypted JWE?); a signed JWT has 3",
            ));
        }
        _ => return Err(Reason::Malformed("a signed JWT has exactly 3 segments")),
    };
    let header = &token[..d1];
    let payload = &token[d1 + 1..d2];
    let signature = &token[d2 + 1..];
    if header.is_empty() {
        return Err(Reason::Malformed("the header segment is empty"));
    }
    if payload.is_empty() {
        return Err(Reason::Malformed("the payload segment is empty"));
    }
    // An empty signature is reported after the header checks, so `alg:none` tokens (which have one)
    // are refused for their algorithm, the more telling reason.
    Ok(Compact {
        header,
        payload,
        signature,
        signing_input: &token[..d2],
    })
}

const OTHER: u8 = 0;
const ALLOWED: u8 = 1;

/// Byte classes: the base64url alphabet and the dot, or anything else.
static CLASS: [u8; 256] = {
    let mut t = [OTHER; 256];
    let mut i = 0;
    while i < 256 {
        let b = i as u8;
        if b.is_ascii_alphanumeric() || b == b'-' || b == b'_' {
            t[i] = ALLOWED;
        }
        i += 1;
    }
    t[b'.' as usize] = ALLOWED;
    t
};

/// If the token holds a character outside base64url (or the dots), the reason naming it.
pub fn explain_characters(token: &str) -> Option<Reason> {
    let b = *token
        .as_bytes()
        .iter()
        .find(|&&b| CLASS[b as usize] == OTHER)?;
    Some(if b == b'=' {
        Reason::Malformed("base64 padding '=' is not allowed in a JWT")
    } else if b.is_ascii_whitespace() {
        Reason::Malformed("whitespace or a line break inside the token")
    } else {
        Reason::Malformed("a character outside the base64url alphabet")
    })
}

/// Strict base64url without padding; non-canonical trailing bits are refused too.
pub fn decode_segment(segment: &str, what: &'static str) -> Result<Vec<u8>, Reason> {
    URL_SAFE_NO_PAD
        .decode(segment)
        .map_err(|_| Reason::Malformed(what))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn three_segments_split() {
        let c = split("aGVh.cGF5.c2ln", 100).unwrap();
        assert_eq!(c.header, "aGVh");
        assert_eq!(c.payload, "cGF5");
        assert_eq!(c.signature, "c2ln");
        assert_eq!(c.signing_input, "aGVh.cGF5");
    }

    #[test]
    fn shapes_are_refused_before_decoding() {
        assert!(matches!(split("a.b", 100), Err(Reason::Malformed(_))));
        assert!(matches!(split("abc", 100), Err(Reason::Malformed(_))));
        assert!(matches!(split("a.b.c.d", 100), Err(Reason::Malformed(_))));
        assert!(matches!(split("a.b.c.d.e", 100), Err(Reason::Malformed(_))));
        assert!(split("a.b.", 100).unwrap().signature.is_empty());
        assert!(matches!(split(".b.c", 100), Err(Reason::Malformed(_))));
        assert!(matches!(split("a..c", 100), Err(Reason::Malformed(_))));
        assert!(matches!(
            split(&"a".repeat(101), 100),
            Err(Reason::TooLarge { len: 101, max: 100 })
        ));
        assert!(matches!(
            split(r#"{"payload":"x","signatures":[]}"#, 100),
            Err(Reason::Malformed(_))
        ));
        for bad in [
            "a+b.c.d", "a/b.c.d", "ab==.c.d", "a b.c.d", "a\nb.c.d", "a.b.c\r",
        ] {
            assert!(
                matches!(explain_characters(bad), Some(Reason::Malformed(_))),
                "{bad:?}"
            );
        }
        assert_eq!(explain_characters("aGVh.cGF5.c2ln"), None);
    }

    #[test]
    fn non_canonical_base64_is_refused() {
        // "QQ" decodes to "A"; "QR" has non-zero trailing bits.
        assert_eq!(decode_segment("QQ", "x").unwrap(), b"A");
        assert!(decode_segment("QR", "x").is_err());
        assert!(decode_segment("Q", "x").is_err());
    }
}

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
    let bytes = token.as_bytes();
    let dots: Vec<usize> = bytes
        .iter()
        .enumerate()
        .filter_map(|(i, &b)| (b == b'.').then_some(i))
        .collect();
    let (d1, d2) = match dots.as_slice() {
        [a, b] => (*a, *b),
        [_] => {
            return Err(Reason::Malformed(
                "the token has 2 segments; a signed JWT has 3",
            ));
        }
        [] => {
            return Err(Reason::Malformed(
                "the token has 1 segment; a signed JWT has 3",
            ));
        }
        [_, _, _, _] => {
            return Err(Reason::Malformed(
                "the token has 5 segments (an encrypted JWE?); a signed JWT has 3",
            ));
        }
        _ => return Err(Reason::Malformed("a signed JWT has exactly 3 segments")),
    };
    if let Some(&b) = bytes.iter().find(|&&b| !is_b64url(b) && b != b'.') {
        return Err(if b == b'=' {
            Reason::Malformed("base64 padding '=' is not allowed in a JWT")
        } else if b.is_ascii_whitespace() {
            Reason::Malformed("whitespace or a line break inside the token")
        } else {
            Reason::Malformed("a character outside the base64url alphabet")
        });
    }
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

fn is_b64url(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'-' || b == b'_'
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
                matches!(split(bad, 100), Err(Reason::Malformed(_))),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn non_canonical_base64_is_refused() {
        // "QQ" decodes to "A"; "QR" has non-zero trailing bits.
        assert_eq!(decode_segment("QQ", "x").unwrap(), b"A");
        assert!(decode_segment("QR", "x").is_err());
        assert!(decode_segment("Q", "x").is_err());
    }
}

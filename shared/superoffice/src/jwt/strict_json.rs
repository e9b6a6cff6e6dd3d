//! A JSON reader that refuses what a lenient one would silently accept.
//!
//! Two parsers that disagree about a token are an attack (RFC 8725 §2.6): with `{"aud":"a","aud":"b"}`
//! one library sees `a`, another `b`. We refuse duplicate keys at every depth, invalid UTF-8 and a byte
//! order mark, and rely on serde_json's recursion limit (128) so 10,000 nested `[` end in an error, not
//! a stack overflow.

use serde::Deserialize;
use serde::de::{self, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Number, Value};

use super::Reason;

const DUPLICATE_MARK: &str = "duplicate key ";

/// Parses bytes into a JSON object under the rules above.
pub fn parse_object(bytes: &[u8], what: &'static str) -> Result<Map<String, Value>, Reason> {
    if bytes.starts_with(&[0xEF, 0xBB, 0xBF]) {
        return Err(Reason::BadEncoding(
            "the JSON starts with a byte order mark",
        ));
    }
    let text =
        std::str::from_utf8(bytes).map_err(|_| Reason::BadEncoding("the JSON is not UTF-8"))?;
    let mut de = serde_json::Deserializer::from_str(text);
    let value = Strict::deserialize(&mut de).map_err(json_reason)?;
    de.end().map_err(json_reason)?;
    match value.0 {
        Value::Object(map) => Ok(map),
        _ => Err(Reason::BadJson(format!("the {what} is not a JSON object"))),
    }
}

fn json_reason(e: serde_json::Error) -> Reason {
    let msg = e.to_string();
    match msg.strip_prefix(DUPLICATE_MARK) {
        Some(rest) => Reason::DuplicateKey(super::reason::shown(
            rest.split(" at line").next().unwrap_or(rest),
        )),
        None => Reason::BadJson(msg),
    }
}

struct Strict(Value);

impl<'de> Deserialize<'de> for Strict {
    fn deserialize<D: de::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(StrictVisitor).map(Strict)
    }
}

struct StrictVisitor;

impl<'de> Visitor<'de> for StrictVisitor {
    type Value = Value;

    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("JSON")
    }

    fn visit_bool<E>(self, v: bool) -> Result<Value, E> {
        Ok(Value::Bool(v))
    }

    fn visit_i64<E>(self, v: i64) -> Result<Value, E> {
        Ok(Value::Number(v.into()))
    }

    fn visit_u64<E>(self, v: u64) -> Result<Value, E> {
        Ok(Value::Number(v.into()))
    }

    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Value, E> {
        Number::from_f64(v)
            .map(Value::Number)
            .ok_or_else(|| E::custom("a number that is not finite"))
    }

    fn visit_str<E>(self, v: &str) -> Result<Value, E> {
        Ok(Value::String(v.to_owned()))
    }

    fn visit_string<E>(self, v: String) -> Result<Value, E> {
        Ok(Value::String(v))
    }

    fn visit_unit<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_none<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let mut out = Vec::new();
        while let Some(Strict(v)) = seq.next_element()? {
            out.push(v);
        }
        Ok(Value::Array(out))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        let mut out = Map::new();
        while let Some(key) = map.next_key::<String>()? {
            if out.contains_key(&key) {
                return Err(de::Error::custom(format_args!("{DUPLICATE_MARK}{key}")));
            }
            let Strict(v) = map.next_value()?;
            out.insert(key, v);
        }
        Ok(Value::Object(out))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn objects_parse() {
        let m = parse_object(
            br#"{"a":1,"b":[true,null,"x",1.5],"c":{"d":-2}}"#,
            "payload",
        )
        .unwrap();
        assert_eq!(m["a"], 1);
        assert_eq!(m["c"]["d"], -2);
    }

    #[test]
    fn duplicate_keys_are_refused_at_any_depth() {
        assert_eq!(
            parse_object(br#"{"aud":"a","aud":"b"}"#, "payload"),
            Err(Reason::DuplicateKey("aud".into()))
        );
        assert!(matches!(
            parse_object(br#"{"x":{"k":1,"k":2}}"#, "payload"),
            Err(Reason::DuplicateKey(_))
        ));
        assert!(matches!(
            parse_object(br#"{"x":[{"k":1,"k":2}]}"#, "payload"),
            Err(Reason::DuplicateKey(_))
        ));
    }

    #[test]
    fn encodings_and_shapes_are_checked() {
        assert!(matches!(
            parse_object(b"\xEF\xBB\xBF{}", "payload"),
            Err(Reason::BadEncoding(_))
        ));
        assert!(matches!(
            parse_object(b"{\"a\":\"\xff\"}", "payload"),
            Err(Reason::BadEncoding(_))
        ));
        assert!(matches!(
            parse_object(b"[1]", "payload"),
            Err(Reason::BadJson(_))
        ));
        assert!(matches!(
            parse_object(b"{} x", "payload"),
            Err(Reason::BadJson(_))
        ));
        assert!(matches!(
            parse_object(br#"{"exp":1e400}"#, "payload"),
            Err(Reason::BadJson(_))
        ));
        assert!(matches!(
            parse_object(br#"{"exp":NaN}"#, "payload"),
            Err(Reason::BadJson(_))
        ));
    }

    #[test]
    fn deep_nesting_is_an_error_not_a_crash() {
        let mut doc = String::from("{\"a\":");
        doc.push_str(&"[".repeat(10_000));
        doc.push_str(&"]".repeat(10_000));
        doc.push('}');
        assert!(matches!(
            parse_object(doc.as_bytes(), "payload"),
            Err(Reason::BadJson(_))
        ));
    }
}

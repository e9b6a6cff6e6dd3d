//! A JSON reader that refuses what a lenient one would silently accept.
//!
//! Two parsers that disagree about a token are an attack (RFC 8725 §2.6): with `{"aud":"a","aud":"b"}`
//! one library sees `a`, another `b`. We refuse duplicate keys at every depth, invalid UTF-8 and a byte
//! order mark, and rely on serde_json's recursion limit (128) so 10,000 nested `[` end in an error, not
//! a stack overflow.

use std::borrow::Cow;

use serde::de::{self, MapAccess, SeqAccess, Visitor};
use serde::{Deserialize, Deserializer as _};
use serde_json::value::RawValue;
use serde_json::{Map, Number, Value};

use super::Reason;

const DUPLICATE_MARK: &str = "duplicate key ";

/// A JSON object read without copying: keys and values borrow from the decoded segment. Top-level
/// keys are checked for duplicates here; nested arrays and objects go through the strict reader.
/// This is the hot path of token validation (see the `token_validation` bench).
pub struct Object<'a> {
    entries: Vec<(Cow<'a, str>, &'a RawValue)>,
}

impl<'a> Object<'a> {
    pub fn parse(bytes: &'a [u8], what: &'static str) -> Result<Self, Reason> {
        Self::parse_with_capacity(bytes, what, 32)
    }

    /// As [`Object::parse`], sized for about `capacity` keys.
    pub fn parse_with_capacity(
        bytes: &'a [u8],
        what: &'static str,
        capacity: usize,
    ) -> Result<Self, Reason> {
        let text = checked_text(bytes)?;
        let mut de = serde_json::Deserializer::from_str(text);
        let entries = de
            .deserialize_map(TopVisitor(capacity))
            .and_then(|entries| de.end().map(|()| entries))
            .map_err(|e| {
                if e.classify() == serde_json::error::Category::Data
                    && !text.trim_start().starts_with('{')
                {
                    Reason::BadJson(format!("the {what} is not a JSON object"))
                } else {
                    json_reason(e)
                }
            })?;
        for (i, (key, _)) in entries.iter().enumerate() {
            let last = key.as_bytes().last();
            if entries[..i]
                .iter()
                .any(|(k, _)| k.len() == key.len() && k.as_bytes().last() == last && k == key)
            {
                return Err(Reason::DuplicateKey(super::reason::shown(key)));
            }
        }
        for (_, raw) in &entries {
            if matches!(raw.get().as_bytes().first(), Some(b'{' | b'[')) {
                serde_json::from_str::<Strict>(raw.get()).map_err(json_reason)?;
            }
        }
        Ok(Self { entries })
    }

    pub fn get(&self, key: &str) -> Option<&'a RawValue> {
        // SuperOffice's claim names share a 40-byte prefix: compare length and last byte first.
        let last = key.as_bytes().last();
        self.entries
            .iter()
            .find(|(k, _)| k.len() == key.len() && k.as_bytes().last() == last && k == key)
            .map(|(_, v)| *v)
    }

    pub fn contains_key(&self, key: &str) -> bool {
        self.get(key).is_some()
    }
}

/// The JSON type of a raw value, from its first byte.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    String,
    Number,
    Bool,
    Null,
    Array,
    Object,
}

pub fn kind(raw: &RawValue) -> Kind {
    match raw.get().as_bytes().first() {
        Some(b'"') => Kind::String,
        Some(b'{') => Kind::Object,
        Some(b'[') => Kind::Array,
        Some(b't' | b'f') => Kind::Bool,
        Some(b'n') => Kind::Null,
        _ => Kind::Number,
    }
}

/// The string a raw value holds, borrowed unless it has escapes.
pub fn string(raw: &RawValue) -> Option<Cow<'_, str>> {
    let text = raw.get();
    if kind(raw) != Kind::String {
        return None;
    }
    // The parser has already checked this string; without a backslash its content is the text
    // between the quotes.
    if text.len() >= 2 && memchr::memchr(b'\\', text.as_bytes()).is_none() {
        return Some(Cow::Borrowed(&text[1..text.len() - 1]));
    }
    serde_json::from_str::<Key<'_>>(text).ok().map(|k| k.0)
}

/// The number a raw value holds.
pub fn number(raw: &RawValue) -> Option<f64> {
    if kind(raw) != Kind::Number {
        return None;
    }
    serde_json::from_str::<f64>(raw.get()).ok()
}

/// The elements of a raw array.
pub fn array(raw: &RawValue) -> Option<Vec<&RawValue>> {
    if kind(raw) != Kind::Array {
        return None;
    }
    serde_json::from_str(raw.get()).ok()
}

struct TopVisitor(usize);

impl<'de> Visitor<'de> for TopVisitor {
    type Value = Vec<(Cow<'de, str>, &'de RawValue)>;

    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("a JSON object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut entries = Vec::with_capacity(self.0);
        while let Some(Key(k)) = map.next_key()? {
            let v: &'de RawValue = map.next_value()?;
            entries.push((k, v));
        }
        Ok(entries)
    }
}

/// A string that borrows from the input when it can.
struct Key<'a>(Cow<'a, str>);

impl<'de: 'a, 'a> Deserialize<'de> for Key<'a> {
    fn deserialize<D: de::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Key<'de>;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a string")
            }
            fn visit_borrowed_str<E>(self, v: &'de str) -> Result<Key<'de>, E> {
                Ok(Key(Cow::Borrowed(v)))
            }
            fn visit_str<E>(self, v: &str) -> Result<Key<'de>, E> {
                Ok(Key(Cow::Owned(v.to_owned())))
            }
            fn visit_string<E>(self, v: String) -> Result<Key<'de>, E> {
                Ok(Key(Cow::Owned(v)))
            }
        }
        d.deserialize_str(V)
    }
}

fn checked_text(bytes: &[u8]) -> Result<&str, Reason> {
    if bytes.starts_with(&[0xEF, 0xBB, 0xBF]) {
        return Err(Reason::BadEncoding(
            "the JSON starts with a byte order mark",
        ));
    }
    std::str::from_utf8(bytes).map_err(|_| Reason::BadEncoding("the JSON is not UTF-8"))
}

/// Parses bytes into a JSON object under the rules above.
pub fn parse_object(bytes: &[u8], what: &'static str) -> Result<Map<String, Value>, Reason> {
    let text = checked_text(bytes)?;
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
    fn objects_borrow_and_apply_the_same_rules() {
        let text = br#"{"a":"x","b":[1,{"c":2}],"e":"\u00e9","n":1.5}"#;
        let o = Object::parse(text, "payload").unwrap();
        assert_eq!(string(o.get("a").unwrap()).unwrap(), "x");
        assert!(matches!(
            string(o.get("a").unwrap()).unwrap(),
            Cow::Borrowed(_)
        ));
        assert_eq!(string(o.get("e").unwrap()).unwrap(), "\u{e9}");
        assert_eq!(number(o.get("n").unwrap()), Some(1.5));
        assert_eq!(array(o.get("b").unwrap()).unwrap().len(), 2);
        assert!(o.get("zz").is_none());
        assert_eq!(
            Object::parse(br#"{"aud":"a","aud":"b"}"#, "payload").err(),
            Some(Reason::DuplicateKey("aud".into()))
        );
        assert!(matches!(
            Object::parse(br#"{"x":[{"k":1,"k":2}]}"#, "payload"),
            Err(Reason::DuplicateKey(_))
        ));
        assert!(matches!(
            Object::parse(b"[1]", "payload"),
            Err(Reason::BadJson(_))
        ));
        assert!(matches!(
            Object::parse(b"{} x", "payload"),
            Err(Reason::BadJson(_))
        ));
        assert!(matches!(
            Object::parse(b"\xEF\xBB\xBF{}", "payload"),
            Err(Reason::BadEncoding(_))
        ));
        // Out-of-range numbers are refused where they are read (as an invalid claim), not here.
        let big = Object::parse(br#"{"exp":1e400}"#, "payload").unwrap();
        assert_eq!(number(big.get("exp").unwrap()), None);
        let mut deep = String::from("{\"a\":");
        deep.push_str(&"[".repeat(10_000));
        deep.push_str(&"]".repeat(10_000));
        deep.push('}');
        assert!(matches!(
            Object::parse(deep.as_bytes(), "payload"),
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

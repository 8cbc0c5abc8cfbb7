//! Client wire types (types only; mapping lives in `translate`). Borrowed from the request body
//! where possible; unknown fields are always ignored, never rejected.

pub mod cache_marker;
pub mod claude;
mod claude_block;
pub mod message_list;
mod one_pass;
pub mod openai;
mod openai_part;
pub mod tool_list;

use serde::de::{self, Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};
use std::fmt;
use std::io::Write as _;

/// Any JSON value, kept as compact JSON text (tool schemas, tool inputs, `response_format`).
/// Built while deserializing, without an intermediate value tree: strings are escaped and
/// numbers formatted straight into one byte buffer, which becomes the `String` once at the end
/// (no allocation per string or number).
/// The text can only come from a parsed value, so it is always one valid JSON value (no
/// `Default`: an empty text is not one). The bytes are checked as UTF-8 once, when done.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JsonText(String);

impl JsonText {
    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn into_string(self) -> String {
        self.0
    }
}

impl<'de> Deserialize<'de> for JsonText {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let mut out = Vec::new();
        d.deserialize_any(TextVisitor { out: &mut out, depth: 0 })?;
        // Only escaped UTF-8 strings, ASCII numbers and punctuation went in.
        String::from_utf8(out).map(Self).map_err(|_| de::Error::custom("JSON text is not UTF-8"))
    }
}

/// Deepest nesting accepted in a free-form value.
const MAX_DEPTH: usize = 128;

struct TextVisitor<'o> {
    out: &'o mut Vec<u8>,
    depth: usize,
}

struct Nested<'o> {
    out: &'o mut Vec<u8>,
    depth: usize,
}

impl<'de> de::DeserializeSeed<'de> for Nested<'_> {
    type Value = ();
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_any(TextVisitor { out: self.out, depth: self.depth })
    }
}

/// A map key, borrowed from the body when the deserializer can (no allocation per key).
struct Key<'o> {
    out: &'o mut Vec<u8>,
}

impl<'de> de::DeserializeSeed<'de> for Key<'_> {
    type Value = ();
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_str(self)
    }
}

impl Visitor<'_> for Key<'_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a string key")
    }

    fn visit_str<E>(self, v: &str) -> Result<(), E> {
        crate::util::json::push_str(self.out, v);
        Ok(())
    }
}

impl<'de> Visitor<'de> for TextVisitor<'_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any JSON value")
    }

    fn visit_bool<E>(self, v: bool) -> Result<(), E> {
        self.out.extend_from_slice(if v { b"true" } else { b"false" });
        Ok(())
    }

    fn visit_i64<E>(self, v: i64) -> Result<(), E> {
        let _ = write!(self.out, "{v}");
        Ok(())
    }

    fn visit_u64<E>(self, v: u64) -> Result<(), E> {
        let _ = write!(self.out, "{v}");
        Ok(())
    }

    fn visit_f64<E: de::Error>(self, v: f64) -> Result<(), E> {
        if !v.is_finite() {
            return Err(E::custom("non-finite number"));
        }
        let _ = write!(self.out, "{v}");
        Ok(())
    }

    fn visit_str<E>(self, v: &str) -> Result<(), E> {
        crate::util::json::push_str(self.out, v);
        Ok(())
    }

    fn visit_unit<E>(self) -> Result<(), E> {
        self.out.extend_from_slice(b"null");
        Ok(())
    }

    fn visit_none<E>(self) -> Result<(), E> {
        self.out.extend_from_slice(b"null");
        Ok(())
    }

    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_any(self)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        if self.depth >= MAX_DEPTH {
            return Err(de::Error::custom("nesting too deep"));
        }
        self.out.push(b'[');
        let mut first = true;
        loop {
            if !first {
                self.out.push(b',');
            }
            let mark = self.out.len();
            if seq.next_element_seed(Nested { out: self.out, depth: self.depth + 1 })?.is_none() {
                self.out.truncate(if first { mark } else { mark - 1 });
                break;
            }
            first = false;
        }
        self.out.push(b']');
        Ok(())
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        if self.depth >= MAX_DEPTH {
            return Err(de::Error::custom("nesting too deep"));
        }
        self.out.push(b'{');
        let mut first = true;
        loop {
            let mark = self.out.len();
            if !first {
                self.out.push(b',');
            }
            if map.next_key_seed(Key { out: self.out })?.is_none() {
                self.out.truncate(mark);
                break;
            }
            first = false;
            self.out.push(b':');
            map.next_value_seed(Nested { out: self.out, depth: self.depth + 1 })?;
        }
        self.out.push(b'}');
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::JsonText;

    #[test]
    fn any_value_becomes_compact_json() {
        let mut b = br#"{"a":[1,-2,3.5,true,null,"x\"y"],"b":{},"c":[]}"#.to_vec();
        let v: JsonText = simd_json::serde::from_slice(&mut b).unwrap();
        let back: serde_json::Value = serde_json::from_str(v.as_str()).unwrap();
        assert_eq!(back, serde_json::json!({"a":[1,-2,3.5,true,null,"x\"y"],"b":{},"c":[]}));
    }

    #[test]
    fn keys_strings_and_numbers_are_written_exactly() {
        let src = r#"{ "k\"ey\n" : "\u00e9 \"q\" \\ \t😀", "n" : [18446744073709551615, -9223372036854775808, 0.5], "e": [ ], "o": { } }"#;
        let mut b = src.as_bytes().to_vec();
        let v: JsonText = simd_json::serde::from_slice(&mut b).unwrap();
        assert_eq!(
            v.as_str(),
            r#"{"k\"ey\n":"é \"q\" \\ \t😀","n":[18446744073709551615,-9223372036854775808,0.5],"e":[],"o":{}}"#
        );
    }
}

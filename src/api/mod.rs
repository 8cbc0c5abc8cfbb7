//! Client wire types (types only; mapping lives in `translate`). Borrowed from the request body
//! where possible; unknown fields are always ignored, never rejected.

pub mod claude;
pub mod openai;

use serde::de::{self, Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};
use std::fmt;

/// Any JSON value, kept as compact JSON text (tool schemas, tool inputs, `response_format`).
/// Built while deserializing, without an intermediate value tree.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct JsonText(pub String);

impl<'de> Deserialize<'de> for JsonText {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let mut out = String::new();
        d.deserialize_any(TextVisitor { out: &mut out, depth: 0 })?;
        Ok(Self(out))
    }
}

/// Deepest nesting accepted in a free-form value.
const MAX_DEPTH: usize = 128;

struct TextVisitor<'o> {
    out: &'o mut String,
    depth: usize,
}

struct Nested<'o> {
    out: &'o mut String,
    depth: usize,
}

impl<'de> de::DeserializeSeed<'de> for Nested<'_> {
    type Value = ();
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_any(TextVisitor { out: self.out, depth: self.depth })
    }
}

fn push_json_str(out: &mut String, s: &str) {
    let mut buf = Vec::with_capacity(s.len() + 2);
    crate::util::json::push_str(&mut buf, s);
    out.push_str(&String::from_utf8_lossy(&buf));
}

impl<'de> Visitor<'de> for TextVisitor<'_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any JSON value")
    }

    fn visit_bool<E>(self, v: bool) -> Result<(), E> {
        self.out.push_str(if v { "true" } else { "false" });
        Ok(())
    }

    fn visit_i64<E>(self, v: i64) -> Result<(), E> {
        self.out.push_str(&v.to_string());
        Ok(())
    }

    fn visit_u64<E>(self, v: u64) -> Result<(), E> {
        self.out.push_str(&v.to_string());
        Ok(())
    }

    fn visit_f64<E: de::Error>(self, v: f64) -> Result<(), E> {
        if !v.is_finite() {
            return Err(E::custom("non-finite number"));
        }
        self.out.push_str(&v.to_string());
        Ok(())
    }

    fn visit_str<E>(self, v: &str) -> Result<(), E> {
        push_json_str(self.out, v);
        Ok(())
    }

    fn visit_unit<E>(self) -> Result<(), E> {
        self.out.push_str("null");
        Ok(())
    }

    fn visit_none<E>(self) -> Result<(), E> {
        self.out.push_str("null");
        Ok(())
    }

    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_any(self)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        if self.depth >= MAX_DEPTH {
            return Err(de::Error::custom("nesting too deep"));
        }
        self.out.push('[');
        let mut first = true;
        loop {
            if !first {
                self.out.push(',');
            }
            let mark = self.out.len();
            if seq.next_element_seed(Nested { out: self.out, depth: self.depth + 1 })?.is_none() {
                self.out.truncate(if first { mark } else { mark - 1 });
                break;
            }
            first = false;
        }
        self.out.push(']');
        Ok(())
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        if self.depth >= MAX_DEPTH {
            return Err(de::Error::custom("nesting too deep"));
        }
        self.out.push('{');
        let mut first = true;
        while let Some(k) = map.next_key::<std::borrow::Cow<'de, str>>()? {
            if !first {
                self.out.push(',');
            }
            first = false;
            push_json_str(self.out, &k);
            self.out.push(':');
            map.next_value_seed(Nested { out: self.out, depth: self.depth + 1 })?;
        }
        self.out.push('}');
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
        let back: serde_json::Value = serde_json::from_str(&v.0).unwrap();
        assert_eq!(back, serde_json::json!({"a":[1,-2,3.5,true,null,"x\"y"],"b":{},"c":[]}));
    }
}

//! A request's `messages` member: the messages, of which the first may be the marker
//! `translate::messages_cache` writes in place of the elements it already decoded.
//!
//! The marker (`api::cache_marker`) can only stand first: the cache replaces a run of elements
//! from the array's start. Reading it there proves that the spliced bytes were the first
//! elements of the top-level `messages`. Everywhere else, and in a body the cache did not
//! splice, it is an error like any string where a message belongs.

use super::cache_marker::Marker;
use serde::de::{self, Deserialize, DeserializeSeed, Deserializer, IntoDeserializer, MapAccess, SeqAccess, Visitor};
use std::fmt;
use std::marker::PhantomData;

/// `messages` as sent: the messages, and whether the cache's marker stood before them.
#[derive(Debug)]
pub struct MessageList<T> {
    /// The marker was the first element: the cache's elements come before `items`.
    pub cached_prefix: bool,
    pub items: Vec<T>,
}

impl<T> MessageList<T> {
    /// Whether the list holds no message and no marker.
    pub fn is_empty(&self) -> bool {
        !self.cached_prefix && self.items.is_empty()
    }
}

impl<'de, T: Deserialize<'de>> Deserialize<'de> for MessageList<T> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_seq(ListVisitor(PhantomData))
    }
}

struct ListVisitor<T>(PhantomData<T>);

impl<'de, T: Deserialize<'de>> Visitor<'de> for ListVisitor<T> {
    type Value = MessageList<T>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an array of messages")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        // The same bound serde's own Vec uses against a hint a document lies about.
        let mut items = Vec::with_capacity(seq.size_hint().unwrap_or(0).min(4096));
        let cached_prefix = match seq.next_element_seed(ElementSeed { first: true, item: PhantomData })? {
            None => false,
            Some(Element::Marker) => true,
            Some(Element::Item(t)) => {
                items.push(t);
                false
            }
        };
        while let Some(e) = seq.next_element_seed(ElementSeed { first: false, item: PhantomData })? {
            if let Element::Item(t) = e {
                items.push(t);
            }
        }
        Ok(MessageList { cached_prefix, items })
    }
}

/// One element: the marker (first only), or a message.
enum Element<T> {
    Marker,
    Item(T),
}

/// Reads one element. Every element takes this road, the first as the others, so a bad element
/// gets the same error wherever it stands (the message type's own, through serde's value
/// deserializers, where simd-json would say `ExpectedMap`).
struct ElementSeed<T> {
    first: bool,
    item: PhantomData<T>,
}

impl<'de, T: Deserialize<'de>> DeserializeSeed<'de> for ElementSeed<T> {
    type Value = Element<T>;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_any(ElementVisitor { first: self.first, item: PhantomData })
    }
}

struct ElementVisitor<T> {
    first: bool,
    item: PhantomData<T>,
}

impl<'de, T: Deserialize<'de>> Visitor<'de> for ElementVisitor<T> {
    type Value = Element<T>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a message")
    }

    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Self::Value, A::Error> {
        T::deserialize(de::value::MapAccessDeserializer::new(map)).map(Element::Item)
    }

    /// A message is an object. (serde would read a struct from an array too, without checking
    /// that the array ends with its fields.)
    fn visit_seq<A: SeqAccess<'de>>(self, _seq: A) -> Result<Self::Value, A::Error> {
        Err(de::Error::invalid_type(de::Unexpected::Seq, &self))
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
        if self.first && Marker::Messages.is(v) {
            return Ok(Element::Marker);
        }
        T::deserialize(v.into_deserializer()).map(Element::Item)
    }

    fn visit_bool<E: de::Error>(self, v: bool) -> Result<Self::Value, E> {
        T::deserialize(v.into_deserializer()).map(Element::Item)
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Self::Value, E> {
        T::deserialize(v.into_deserializer()).map(Element::Item)
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Self::Value, E> {
        T::deserialize(v.into_deserializer()).map(Element::Item)
    }

    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Self::Value, E> {
        T::deserialize(v.into_deserializer()).map(Element::Item)
    }

    fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
        T::deserialize(().into_deserializer()).map(Element::Item)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, serde::Deserialize, PartialEq)]
    struct Msg {
        role: String,
    }

    fn parse(json: &str) -> Result<MessageList<Msg>, simd_json::Error> {
        simd_json::serde::from_slice(&mut json.as_bytes().to_vec())
    }

    fn roles(l: &MessageList<Msg>) -> Vec<&str> {
        l.items.iter().map(|m| m.role.as_str()).collect()
    }

    #[test]
    fn messages_read_as_a_plain_list_does() {
        let l = parse(r#"[{"role":"a"},{"role":"b"}]"#).unwrap();
        assert!(!l.cached_prefix);
        assert_eq!(roles(&l), ["a", "b"]);
        let empty = parse("[]").unwrap();
        assert!(empty.is_empty() && !empty.cached_prefix);
        // A message is an object, not an array of its fields.
        assert!(parse(r#"[["x"],{"role":"y"}]"#).is_err());
        for bad in [r#"{"role":"a"}"#, r#"[{"role":"a"},"b"]"#, r#"["a"]"#, "[1]", r#"[{"x":1}]"#, "null"] {
            assert!(parse(bad).is_err(), "{bad}");
        }
    }

    /// A bad element gets the message type's own error, first or later.
    #[test]
    fn a_bad_element_gets_the_same_error_first_or_later() {
        for bad in [r#""x""#, "1", "-1", "1.5", "true", "null", r#"{"x":1}"#, r#"["a","b"]"#] {
            let first = parse(&format!("[{bad}]")).unwrap_err().to_string();
            let later = parse(&format!(r#"[{{"role":"a"}},{bad}]"#)).unwrap_err().to_string();
            assert_eq!(first, later, "{bad}");
            let named = ["expected struct Msg", "missing field", "expected a message"];
            assert!(named.iter().any(|n| first.contains(n)), "{bad}: {first}");
        }
    }

    #[test]
    fn the_marker_counts_first_only() {
        let m = Marker::Messages.text();
        let l = parse(&format!(r#"["{m}",{{"role":"c"}}]"#)).unwrap();
        assert!(l.cached_prefix && !l.is_empty());
        assert_eq!(roles(&l), ["c"]);
        assert!(parse(&format!(r#"["{m}"]"#)).is_ok_and(|l| l.cached_prefix && l.items.is_empty()));
        assert!(parse(&format!(r#"[{{"role":"c"}},"{m}"]"#)).is_err(), "not first");
        assert!(parse(&format!(r#"["{m}","{m}"]"#)).is_err(), "twice");
        let tools = Marker::Tools.text();
        assert!(parse(&format!(r#"["{tools}"]"#)).is_err(), "the other cache's marker");
        let there = std::thread::spawn(|| Marker::Messages.text()).join().unwrap();
        assert!(parse(&format!(r#"["{there}"]"#)).is_err(), "another thread's marker");
    }
}

//! A request's `messages` member: the messages, of which the first may be the marker
//! `translate::messages_cache` writes in place of the elements it already decoded.
//!
//! The marker (`api::cache_marker`) can only stand first: the cache replaces a run of elements
//! from the array's start. Reading it there proves that the spliced bytes were the first
//! elements of the top-level `messages`. Everywhere else, and in a body the cache did not
//! splice, it is an error like any string where a message belongs.

use super::cache_marker::Marker;
use serde::de::{self, Deserialize, DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};
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
        let cached_prefix = match seq.next_element_seed(FirstSeed(PhantomData))? {
            None => false,
            Some(First::Marker) => true,
            Some(First::Item(t)) => {
                items.push(t);
                false
            }
        };
        while let Some(t) = seq.next_element()? {
            items.push(t);
        }
        Ok(MessageList { cached_prefix, items })
    }
}

/// The first element: the marker, or a message like the others.
enum First<T> {
    Marker,
    Item(T),
}

/// Reads the first element as a [`First`].
struct FirstSeed<T>(PhantomData<T>);

impl<'de, T: Deserialize<'de>> DeserializeSeed<'de> for FirstSeed<T> {
    type Value = First<T>;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_any(FirstVisitor(PhantomData))
    }
}

struct FirstVisitor<T>(PhantomData<T>);

impl<'de, T: Deserialize<'de>> Visitor<'de> for FirstVisitor<T> {
    type Value = First<T>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a message")
    }

    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Self::Value, A::Error> {
        T::deserialize(de::value::MapAccessDeserializer::new(map)).map(First::Item)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<Self::Value, A::Error> {
        T::deserialize(de::value::SeqAccessDeserializer::new(seq)).map(First::Item)
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
        if Marker::Messages.is(v) { Ok(First::Marker) } else { Err(E::invalid_type(de::Unexpected::Str(v), &self)) }
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
        // A struct reads from an array too; the first element keeps that.
        assert_eq!(roles(&parse(r#"[["x"],{"role":"y"}]"#).unwrap()), ["x", "y"]);
        for bad in [r#"{"role":"a"}"#, r#"[{"role":"a"},"b"]"#, r#"["a"]"#, "[1]", r#"[{"x":1}]"#, "null"] {
            assert!(parse(bad).is_err(), "{bad}");
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

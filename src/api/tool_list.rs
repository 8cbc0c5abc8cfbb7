//! A request's `tools` member: the tool definitions, or the marker `translate::tools_cache`
//! writes in their place when it already holds them.
//!
//! The marker (`api::cache_marker`) in place of the array proves, when the top-level `tools`
//! reads it, that the spliced bytes were that member's value.

use super::cache_marker::Marker;
use serde::de::{self, Deserialize, Deserializer, SeqAccess, Unexpected, Visitor};
use std::fmt;
use std::marker::PhantomData;

/// `tools` as sent: definitions, or the cache's marker.
#[derive(Debug)]
pub enum ToolList<T> {
    Defs(Vec<T>),
    /// The cache's marker stood where the array was.
    Cached,
}

impl<'de, T: Deserialize<'de>> Deserialize<'de> for ToolList<T> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(ListVisitor(PhantomData))
    }
}

struct ListVisitor<T>(PhantomData<T>);

impl<'de, T: Deserialize<'de>> Visitor<'de> for ListVisitor<T> {
    type Value = ToolList<T>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an array of tool definitions")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<Self::Value, A::Error> {
        Vec::deserialize(de::value::SeqAccessDeserializer::new(seq)).map(ToolList::Defs)
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
        if Marker::Tools.is(v) { Ok(ToolList::Cached) } else { Err(E::invalid_type(Unexpected::Str(v), &self)) }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(json: &str) -> Result<ToolList<u32>, simd_json::Error> {
        simd_json::serde::from_slice(&mut json.as_bytes().to_vec())
    }

    #[test]
    fn an_array_a_marker_and_anything_else() {
        assert!(matches!(parse("[1,2]"), Ok(ToolList::Defs(v)) if v == [1, 2]));
        assert!(matches!(parse(&format!("\"{}\"", Marker::Tools.text())), Ok(ToolList::Cached)));
        let other = parse(r#""orchids-cached-tools-0000""#).unwrap_err().to_string();
        assert!(other.contains("expected an array of tool definitions"), "{other}");
        assert!(parse(r#"{"a":1}"#).is_err());
        assert!(parse("[1,\"x\"]").is_err());
    }
}

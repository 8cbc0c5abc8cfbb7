//! A request's `tools` member: the tool definitions, or the marker `translate::tools_cache`
//! writes in their place when it already holds them.
//!
//! The marker is a string no client can send on purpose: 128 bits per thread drawn from the
//! standard library's randomly keyed hasher for this purpose alone (not derived from the ids the
//! gateway sends out), never written to any client. Seeing it as the top-level `tools` of a body
//! the cache spliced proves that the spliced bytes were that member's value; a body as a client
//! sent it is refused when it holds the marker there (`translate::request`).

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

thread_local! {
    static MARKER: String = {
        use std::hash::BuildHasher;
        // Two independently keyed SipHash outputs: unpredictable without the keys, which never
        // leave this process.
        let draw = |salt: u64| std::hash::RandomState::new().hash_one((salt, std::thread::current().id()));
        format!("orchids-cached-tools-{:016x}{:016x}", draw(1), draw(2))
    };
}

/// This thread's marker (letters, digits and `-`: written into JSON as it is).
#[cfg(test)]
pub fn marker() -> String {
    MARKER.with(Clone::clone)
}

/// Appends this thread's marker as a JSON string (with its quotes).
pub fn write_marker(out: &mut Vec<u8>) {
    MARKER.with(|m| {
        out.push(b'"');
        out.extend_from_slice(m.as_bytes());
        out.push(b'"');
    });
}

fn is_marker(s: &str) -> bool {
    MARKER.with(|m| m == s)
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
        if is_marker(v) { Ok(ToolList::Cached) } else { Err(E::invalid_type(Unexpected::Str(v), &self)) }
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
        assert!(matches!(parse(&format!("\"{}\"", marker())), Ok(ToolList::Cached)));
        let other = parse(r#""orchids-cached-tools-0000""#).unwrap_err().to_string();
        assert!(other.contains("expected an array of tool definitions"), "{other}");
        assert!(parse(r#"{"a":1}"#).is_err());
        assert!(parse("[1,\"x\"]").is_err());
        // Another thread has another marker.
        let there = std::thread::spawn(marker).join().unwrap();
        assert_ne!(there, marker());
        assert!(there.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-'));
    }
}

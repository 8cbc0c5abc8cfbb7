//! Claude content blocks (and their image sources) read in one pass over the block object: the
//! fields every known `type` may use are collected, unknown fields skipped, then the block is
//! built from its `type`. Unknown types become [`ContentBlock::Other`] whatever their fields
//! hold; a known type without a field it needs is an error naming both.
//!
//! Fields a type does not use are read past whatever they hold, so a block never fails on
//! another type's field. A `content` or `source` seen before `type` is read leniently (a value
//! of another shape is skipped), since which type it belongs to is not known yet.

use super::JsonText;
use super::claude::{Content, ContentBlock, ImageSource};
use super::one_pass::{
    BoolOrSkip, KnownKey, Seen, StrOrSkip, TextOrList, need, scalars_to_other, text_or_list_or_skip,
};
use serde::de::{self, Deserialize, DeserializeSeed, Deserializer, IgnoredAny, MapAccess, Visitor};
use std::borrow::Cow;
use std::fmt;

/// Everything a block of any known type may carry.
#[derive(Default)]
struct Fields<'a> {
    kind: Option<Cow<'a, str>>,
    text: Option<Cow<'a, str>>,
    source: Option<ImageSource<'a>>,
    id: Option<Cow<'a, str>>,
    name: Option<Cow<'a, str>>,
    input: Option<JsonText>,
    tool_use_id: Option<Cow<'a, str>>,
    content: Option<Content<'a>>,
    is_error: Option<bool>,
    /// A `content` of another shape than a string or an array (read before `type`): refused
    /// only if the block turns out to be a tool result.
    content_wrong: bool,
    thinking: Option<Cow<'a, str>>,
    signature: Option<Cow<'a, str>>,
    data: Option<Cow<'a, str>>,
}

impl<'de: 'a, 'a> Deserialize<'de> for ContentBlock<'a> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_map(BlockVisitor)
    }
}

struct BlockVisitor;

impl<'de> Visitor<'de> for BlockVisitor {
    type Value = ContentBlock<'de>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a content block object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        const KEYS: &[&str] = &[
            "type",
            "text",
            "id",
            "name",
            "tool_use_id",
            "thinking",
            "signature",
            "data",
            "is_error",
            "input",
            "content",
            "source",
        ];
        let mut f = Fields::default();
        while let Some(key) = map.next_key_seed(KnownKey(KEYS))? {
            // Which type the block is, if its `type` came first (it does from the SDKs; clients
            // that sort keys send it last).
            let kind = f.kind.as_deref();
            let uses = |t: &str| kind.is_none_or(|k| k == t);
            match key {
                Some("type") => f.kind = map.next_value::<StrOrSkip<'de>>()?.0,
                Some("text") => f.text = map.next_value::<StrOrSkip<'de>>()?.0,
                Some("id") => f.id = map.next_value::<StrOrSkip<'de>>()?.0,
                Some("name") => f.name = map.next_value::<StrOrSkip<'de>>()?.0,
                Some("tool_use_id") => f.tool_use_id = map.next_value::<StrOrSkip<'de>>()?.0,
                Some("thinking") => f.thinking = map.next_value::<StrOrSkip<'de>>()?.0,
                Some("signature") => f.signature = map.next_value::<StrOrSkip<'de>>()?.0,
                Some("data") => f.data = map.next_value::<StrOrSkip<'de>>()?.0,
                Some("is_error") => f.is_error = map.next_value::<BoolOrSkip>()?.0,
                Some("input") if uses("tool_use") => f.input = map.next_value::<Option<JsonText>>()?,
                Some("content") if kind == Some("tool_result") => {
                    f.content = map.next_value::<Option<Content<'de>>>()?;
                }
                Some("content") if kind.is_none() => match map.next_value_seed(ContentOrSkip)? {
                    Seen::Value(c) => f.content = Some(c),
                    Seen::Null => f.content = None,
                    Seen::Wrong => f.content_wrong = true,
                },
                Some("source") if kind == Some("image") => f.source = Some(map.next_value::<ImageSource<'de>>()?),
                Some("source") if kind.is_none() => f.source = map.next_value_seed(SourceOrSkip)?,
                _ => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        build(f)
    }
}

/// The block its `type` names, from the collected fields.
fn build<E: de::Error>(f: Fields<'_>) -> Result<ContentBlock<'_>, E> {
    let need = |v, kind, field| need(v, "a content block", kind, field);
    let Some(kind) = f.kind else { return Err(E::missing_field("type")) };
    Ok(match &*kind {
        "text" => ContentBlock::Text { text: need(f.text, "text", "text")? },
        "image" => ContentBlock::Image {
            source: f.source.ok_or_else(|| E::custom("a content block of type `image` needs a `source`"))?,
        },
        "tool_use" => ContentBlock::ToolUse {
            id: need(f.id, "tool_use", "id")?,
            name: need(f.name, "tool_use", "name")?,
            input: f.input,
        },
        "tool_result" if f.content_wrong => {
            return Err(E::custom(
                "a content block of type `tool_result` needs a `content` that is a string or an array of content blocks",
            ));
        }
        "tool_result" => ContentBlock::ToolResult {
            tool_use_id: need(f.tool_use_id, "tool_result", "tool_use_id")?,
            content: f.content,
            is_error: f.is_error,
        },
        "thinking" => {
            ContentBlock::Thinking { thinking: need(f.thinking, "thinking", "thinking")?, signature: f.signature }
        }
        "redacted_thinking" => ContentBlock::RedactedThinking { data: need(f.data, "redacted_thinking", "data")? },
        _ => ContentBlock::Other,
    })
}

/// A `content` met before the block's `type`: a string or an array of blocks, `null`, or
/// another shape (read past, and refused later only for a tool result).
struct ContentOrSkip;

impl<'de> DeserializeSeed<'de> for ContentOrSkip {
    type Value = Seen<Content<'de>>;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        Ok(match text_or_list_or_skip(d, "a string or an array of content blocks")? {
            Seen::Value(v) => Seen::Value(Content::from(v)),
            Seen::Null => Seen::Null,
            Seen::Wrong => Seen::Wrong,
        })
    }
}

/// A `source` met before the block's `type`: an image source when it is an object (one without
/// a `type` of its own is `Other`), `None` for any other value (read past). A document's or a
/// search result's `source` must not fail the block.
struct SourceOrSkip;

impl<'de> DeserializeSeed<'de> for SourceOrSkip {
    type Value = Option<ImageSource<'de>>;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_any(SourceVisitor { lenient: true })
    }
}

impl<'a> From<TextOrList<'a, ContentBlock<'a>>> for Content<'a> {
    fn from(v: TextOrList<'a, ContentBlock<'a>>) -> Self {
        match v {
            TextOrList::Text(t) => Content::Text(t),
            TextOrList::List(bs) => Content::Blocks(bs),
        }
    }
}

impl<'de: 'a, 'a> Deserialize<'de> for ImageSource<'a> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(SourceVisitor { lenient: false })?
            .ok_or_else(|| de::Error::custom("expected an image source object"))
    }
}

/// An image source object. `lenient` (a `source` read before its block's `type`): any other
/// value is read past as `None`, and an object without a `type` is `Other`.
struct SourceVisitor {
    lenient: bool,
}

impl SourceVisitor {
    fn other<T, E: de::Error>(self, unexpected: de::Unexpected<'_>) -> Result<Option<T>, E> {
        if self.lenient { Ok(None) } else { Err(E::invalid_type(unexpected, &self)) }
    }
}

impl<'de> Visitor<'de> for SourceVisitor {
    type Value = Option<ImageSource<'de>>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an image source object")
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
        self.other(de::Unexpected::Str(v))
    }

    scalars_to_other!();

    fn visit_seq<A: de::SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        while seq.next_element::<IgnoredAny>()?.is_some() {}
        self.other(de::Unexpected::Seq)
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let (mut kind, mut media_type, mut data, mut url) = (None, None, None, None);
        while let Some(key) = map.next_key_seed(KnownKey(&["type", "media_type", "data", "url"]))? {
            let slot = match key {
                Some("type") => &mut kind,
                Some("media_type") => &mut media_type,
                Some("data") => &mut data,
                Some("url") => &mut url,
                _ => {
                    map.next_value::<IgnoredAny>()?;
                    continue;
                }
            };
            *slot = map.next_value::<StrOrSkip<'de>>()?.0;
        }
        let need = |v, kind, field| need(v, "an image source", kind, field);
        Ok(Some(match kind.as_deref() {
            Some("base64") => ImageSource::Base64 {
                media_type: need(media_type, "base64", "media_type")?,
                data: need(data, "base64", "data")?,
            },
            Some("url") => ImageSource::Url { url: need(url, "url", "url")? },
            Some(_) => ImageSource::Other,
            None if self.lenient => ImageSource::Other,
            None => return Err(de::Error::missing_field("type")),
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::super::claude::{Content, ContentBlock, ImageSource, System};

    /// `Debug` of the value `json` reads as `T`, or the error's text.
    macro_rules! parse {
        ($t:ty, $json:expr) => {{
            let mut b = $json.as_bytes().to_vec();
            simd_json::serde::from_slice::<$t>(&mut b).map(|v| format!("{v:?}")).map_err(|e| e.to_string())
        }};
    }

    fn block(json: &str) -> Result<String, String> {
        let mut b = json.as_bytes().to_vec();
        simd_json::serde::from_slice::<ContentBlock<'_>>(&mut b).map(|v| format!("{v:?}")).map_err(|e| e.to_string())
    }

    #[test]
    fn each_known_type_is_built_from_its_fields_in_any_order() {
        assert_eq!(block(r#"{"type":"text","text":"hi"}"#).unwrap(), r#"Text { text: "hi" }"#);
        assert_eq!(
            block(r#"{"text":"hi","cache_control":{"type":"ephemeral"},"type":"text"}"#).unwrap(),
            r#"Text { text: "hi" }"#
        );
        assert_eq!(
            block(r#"{"input":{"a":[1,"x"]},"name":"f","type":"tool_use","id":"t1"}"#).unwrap(),
            r#"ToolUse { id: "t1", name: "f", input: Some(JsonText("{\"a\":[1,\"x\"]}")) }"#
        );
        assert_eq!(
            block(r#"{"type":"tool_result","tool_use_id":"t1","content":"ok","is_error":true}"#).unwrap(),
            r#"ToolResult { tool_use_id: "t1", content: Some(Text("ok")), is_error: Some(true) }"#
        );
        assert_eq!(
            block(r#"{"content":[{"text":"a","type":"text"}],"type":"tool_result","tool_use_id":"t1"}"#).unwrap(),
            r#"ToolResult { tool_use_id: "t1", content: Some(Blocks([Text { text: "a" }])), is_error: None }"#
        );
        assert_eq!(
            block(r#"{"type":"tool_result","tool_use_id":"t1","content":null}"#).unwrap(),
            r#"ToolResult { tool_use_id: "t1", content: None, is_error: None }"#
        );
        assert_eq!(
            block(r#"{"type":"thinking","thinking":"hm","signature":"sig"}"#).unwrap(),
            r#"Thinking { thinking: "hm", signature: Some("sig") }"#
        );
        assert_eq!(block(r#"{"type":"redacted_thinking","data":"xx"}"#).unwrap(), r#"RedactedThinking { data: "xx" }"#);
        assert_eq!(
            block(r#"{"type":"image","source":{"type":"base64","media_type":"image/png","data":"AAAA"}}"#).unwrap(),
            r#"Image { source: Base64 { media_type: "image/png", data: "AAAA" } }"#
        );
        assert_eq!(
            block(r#"{"source":{"url":"https://x/y.png","type":"url"},"type":"image"}"#).unwrap(),
            r#"Image { source: Url { url: "https://x/y.png" } }"#
        );
        assert_eq!(
            block(r#"{"type":"image","source":{"type":"file","file_id":"f"}}"#).unwrap(),
            "Image { source: Other }"
        );
    }

    #[test]
    fn another_types_fields_never_fail_a_block() {
        // Server tool results carry an object `content`; documents a `source` of their own.
        assert_eq!(
            block(
                r#"{"type":"web_search_tool_result","tool_use_id":5,"content":{"type":"web_search_tool_result_error"}}"#
            )
            .unwrap(),
            "Other"
        );
        assert_eq!(block(r#"{"content":{"error_code":"x"},"type":"web_search_tool_result"}"#).unwrap(), "Other");
        assert_eq!(block(r#"{"type":"document","source":"not an object","title":"t"}"#).unwrap(), "Other");
        assert_eq!(
            block(r#"{"type":"text","text":"a","id":5,"content":{},"input":7,"is_error":"no"}"#).unwrap(),
            r#"Text { text: "a" }"#
        );
    }

    #[test]
    fn fields_before_the_type_are_read_leniently_and_judged_by_the_type() {
        // Clients that sort keys (Go maps, serde_json without preserve_order) send `type` last.
        assert_eq!(
            block(
                r#"{"content":[{"text":"a","type":"text"}],"source":"https://x","title":"t","type":"search_result"}"#
            )
            .unwrap(),
            "Other"
        );
        assert_eq!(block(r#"{"source":{"data":"A","media_type":"text/plain"},"type":"document"}"#).unwrap(), "Other");
        assert_eq!(block(r#"{"content":{"error_code":"x"},"type":"web_search_tool_result"}"#).unwrap(), "Other");
        assert_eq!(
            block(r#"{"source":{"data":"AAAA","media_type":"image/png","type":"base64"},"type":"image"}"#).unwrap(),
            r#"Image { source: Base64 { media_type: "image/png", data: "AAAA" } }"#
        );
        // An object content is refused for a tool result in either order.
        for json in [
            r#"{"content":{"a":1},"tool_use_id":"t","type":"tool_result"}"#,
            r#"{"type":"tool_result","tool_use_id":"t","content":{"a":1}}"#,
        ] {
            assert!(block(json).unwrap_err().contains("a string or an array of content blocks"), "{json}");
        }
        assert_eq!(
            block(r#"{"content":null,"tool_use_id":"t","type":"tool_result"}"#).unwrap(),
            r#"ToolResult { tool_use_id: "t", content: None, is_error: None }"#
        );
        assert!(block(r#"{"source":"not an object","type":"image"}"#).unwrap_err().contains("needs a `source`"));
    }

    #[test]
    fn a_null_tool_input_is_no_input() {
        for json in [
            r#"{"type":"tool_use","id":"t","name":"f","input":null}"#,
            r#"{"id":"t","input":null,"name":"f","type":"tool_use"}"#,
        ] {
            assert_eq!(block(json).unwrap(), r#"ToolUse { id: "t", name: "f", input: None }"#, "{json}");
        }
    }

    #[test]
    fn a_known_type_without_what_it_needs_is_an_error_naming_it() {
        let e = block(r#"{"type":"text"}"#).unwrap_err();
        assert!(e.contains("`text` needs a string `text`"), "{e}");
        let e = block(r#"{"type":"text","text":5}"#).unwrap_err();
        assert!(e.contains("needs a string `text`"), "{e}");
        let e = block(r#"{"type":"tool_use","id":"t"}"#).unwrap_err();
        assert!(e.contains("`tool_use` needs a string `name`"), "{e}");
        let e = block(r#"{"type":"tool_result"}"#).unwrap_err();
        assert!(e.contains("`tool_use_id`"), "{e}");
        let e = block(r#"{"type":"image"}"#).unwrap_err();
        assert!(e.contains("needs a `source`"), "{e}");
        let e = block(r#"{"type":"image","source":{"type":"base64","data":"A"}}"#).unwrap_err();
        assert!(e.contains("`media_type`"), "{e}");
        assert!(block(r#"{"text":"no type"}"#).unwrap_err().contains("missing field `type`"));
        assert!(block(r#""a string""#).is_err());
        let e = block(r#"{"type":"tool_result","tool_use_id":"t","content":{"a":1}}"#).unwrap_err();
        assert!(e.contains("a string or an array of content blocks"), "{e}");
    }

    #[test]
    fn content_and_system_are_a_string_or_an_array() {
        assert_eq!(parse!(Content<'_>, r#""hi""#).unwrap(), r#"Text("hi")"#);
        assert_eq!(parse!(Content<'_>, "[]").unwrap(), "Blocks([])");
        assert_eq!(parse!(System<'_>, r#"[{"type":"text","text":"s"}]"#).unwrap(), r#"Blocks([Text { text: "s" }])"#);
        for bad in ["5", "{}", "null", "true"] {
            let e = parse!(Content<'_>, bad).unwrap_err();
            assert!(e.contains("a string or an array of content blocks"), "{bad}: {e}");
            assert!(parse!(System<'_>, bad).unwrap_err().contains("a string or an array of text blocks"));
        }
        assert_eq!(parse!(Content<'_>, r#""a\nb""#).unwrap(), r#"Text("a\nb")"#);
        assert_eq!(parse!(ImageSource<'_>, r#"{"type":"url","url":"u"}"#).unwrap(), r#"Url { url: "u" }"#);
    }
}

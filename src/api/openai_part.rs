//! OpenAI content parts (and their `image_url`) read in one pass over the part object, like
//! Claude's blocks (`claude_block.rs`): the fields of every known `type` are collected, unknown
//! fields skipped, then the part is built from its `type`. Unknown types become
//! [`Part::Other`]; a known type without a field it needs is an error naming both.

use super::one_pass::{KnownKey, StrOrSkip, TextOrList, need, text_or_list};
use super::openai::{ImageUrl, MessageContent, Part};
use serde::de::{self, Deserialize, Deserializer, IgnoredAny, MapAccess, Visitor};
use std::borrow::Cow;
use std::fmt;

impl<'de: 'a, 'a> Deserialize<'de> for MessageContent<'a> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Ok(match text_or_list(d, "a string or an array of content parts")? {
            TextOrList::Text(t) => Self::Text(t),
            TextOrList::List(ps) => Self::Parts(ps),
        })
    }
}

impl<'de: 'a, 'a> Deserialize<'de> for Part<'a> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_map(PartVisitor)
    }
}

fn need_part<'a, E: de::Error>(v: Option<Cow<'a, str>>, kind: &str, field: &str) -> Result<Cow<'a, str>, E> {
    need(v, "a content part", kind, field)
}

struct PartVisitor;

impl<'de> Visitor<'de> for PartVisitor {
    type Value = Part<'de>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a content part object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let (mut kind, mut text, mut refusal, mut image_url) = (None, None, None, None);
        while let Some(key) = map.next_key_seed(KnownKey(&["type", "text", "refusal", "image_url"]))? {
            match key {
                Some("type") => kind = map.next_value::<StrOrSkip<'de>>()?.0,
                Some("text") => text = map.next_value::<StrOrSkip<'de>>()?.0,
                Some("refusal") => refusal = map.next_value::<StrOrSkip<'de>>()?.0,
                Some("image_url") if kind.as_deref().is_none_or(|k| k == "image_url") => {
                    image_url = Some(map.next_value::<ImageUrl<'de>>()?);
                }
                _ => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        let Some(kind) = kind else { return Err(de::Error::missing_field("type")) };
        Ok(match &*kind {
            "text" => Part::Text { text: need_part(text, "text", "text")? },
            "refusal" => Part::Refusal { refusal: need_part(refusal, "refusal", "refusal")? },
            "image_url" => Part::ImageUrl {
                image_url: image_url
                    .ok_or_else(|| de::Error::custom("a content part of type `image_url` needs an `image_url`"))?,
            },
            _ => Part::Other,
        })
    }
}

impl<'de: 'a, 'a> Deserialize<'de> for ImageUrl<'a> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(ImageUrlVisitor)
    }
}

/// `image_url`: `{"url": …}` or, as some clients send it, the URL string itself.
struct ImageUrlVisitor;

impl<'de> Visitor<'de> for ImageUrlVisitor {
    type Value = ImageUrl<'de>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an object with a `url`, or a URL string")
    }

    fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Self::Value, E> {
        Ok(ImageUrl::Bare(Cow::Borrowed(v)))
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
        Ok(ImageUrl::Bare(Cow::Owned(v.to_owned())))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut url = None;
        while let Some(key) = map.next_key_seed(KnownKey(&["url"]))? {
            if key.is_some() {
                url = map.next_value::<StrOrSkip<'de>>()?.0;
            } else {
                map.next_value::<IgnoredAny>()?;
            }
        }
        Ok(ImageUrl::Object { url: need_part(url, "image_url", "image_url.url")? })
    }
}

#[cfg(test)]
mod tests {
    use super::super::openai::MessageContent;

    fn content(json: &str) -> Result<String, String> {
        let mut b = json.as_bytes().to_vec();
        simd_json::serde::from_slice::<MessageContent<'_>>(&mut b).map(|v| format!("{v:?}")).map_err(|e| e.to_string())
    }

    #[test]
    fn parts_are_built_from_their_fields_in_any_order() {
        assert_eq!(content(r#""hi""#).unwrap(), r#"Text("hi")"#);
        assert_eq!(
            content(r#"[{"type":"text","text":"a"},{"text":"b","type":"text"},{"refusal":"no","type":"refusal"}]"#)
                .unwrap(),
            r#"Parts([Text { text: "a" }, Text { text: "b" }, Refusal { refusal: "no" }])"#
        );
        assert_eq!(
            content(r#"[{"image_url":{"url":"https://x/a.png","detail":"low"},"type":"image_url"},{"type":"image_url","image_url":"data:x"}]"#)
                .unwrap(),
            r#"Parts([ImageUrl { image_url: Object { url: "https://x/a.png" } }, ImageUrl { image_url: Bare("data:x") }])"#
        );
        // Other types are skipped whatever their fields hold.
        assert_eq!(
            content(r#"[{"type":"input_audio","input_audio":{"data":"A"},"text":7,"image_url":5}]"#).unwrap(),
            "Parts([Other])"
        );
    }

    #[test]
    fn bad_parts_are_errors_naming_what_is_missing() {
        assert!(content(r#"[{"type":"text"}]"#).unwrap_err().contains("`text` needs a string `text`"));
        assert!(content(r#"[{"type":"image_url"}]"#).unwrap_err().contains("needs an `image_url`"));
        assert!(
            content(r#"[{"type":"image_url","image_url":{"detail":"low"}}]"#).unwrap_err().contains("image_url.url")
        );
        assert!(content(r#"[{"text":"no type"}]"#).unwrap_err().contains("missing field `type`"));
        for bad in ["5", "{}", "true"] {
            assert!(content(bad).unwrap_err().contains("a string or an array of content parts"), "{bad}");
        }
    }
}

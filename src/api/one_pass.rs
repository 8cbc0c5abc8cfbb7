//! Single-pass readers for the request fields whose JSON shape varies: "a string or an array"
//! (`content`, `system`) and "an object whose `type` says which fields count" (content blocks,
//! content parts).
//!
//! serde's derived `untagged` and internally tagged (`tag = "type"`) enums first copy the whole
//! value into a buffered tree and then try each variant against it: for a 60 KiB agent turn
//! that was most of the allocations of the request path (`benches/request.rs`). These readers
//! look at the value once and borrow its strings from the body.

use serde::de::{self, Deserialize, DeserializeSeed, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use std::borrow::Cow;
use std::fmt;
use std::marker::PhantomData;

/// The `visit_*` methods of the JSON scalars (`true`/`false`, numbers, `null`) for a visitor
/// whose `other(self, de::Unexpected)` says what a value of an unexpected kind gives.
macro_rules! scalars_to_other {
    () => {
        fn visit_bool<E: serde::de::Error>(self, v: bool) -> Result<Self::Value, E> {
            self.other(serde::de::Unexpected::Bool(v))
        }

        fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<Self::Value, E> {
            self.other(serde::de::Unexpected::Signed(v))
        }

        fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<Self::Value, E> {
            self.other(serde::de::Unexpected::Unsigned(v))
        }

        fn visit_f64<E: serde::de::Error>(self, v: f64) -> Result<Self::Value, E> {
            self.other(serde::de::Unexpected::Float(v))
        }

        fn visit_unit<E: serde::de::Error>(self) -> Result<Self::Value, E> {
            self.other(serde::de::Unexpected::Unit)
        }

        fn visit_none<E: serde::de::Error>(self) -> Result<Self::Value, E> {
            self.other(serde::de::Unexpected::Option)
        }
    };
}
pub(super) use scalars_to_other;

/// A string field that takes any JSON value: `Some` for a string, `None` for anything else
/// (read past). For fields a block type may not use, so an unrelated value never fails a
/// request; the block's own checks then say when a field it needs is missing.
#[derive(Debug, Default)]
pub(super) struct StrOrSkip<'a>(pub Option<Cow<'a, str>>);

impl<'de: 'a, 'a> Deserialize<'de> for StrOrSkip<'a> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let kinds = Kinds { list: false, skip: true };
        Ok(Self(match d.deserialize_any(AnyOf::<IgnoredAny>::new("a string", kinds))? {
            Seen::Value(TextOrList::Text(t)) => Some(t),
            Seen::Value(TextOrList::List(_)) | Seen::Null | Seen::Wrong => None,
        }))
    }
}

/// A string field a value of some `kind` needs: the field, or an error naming the value
/// (`what`: "a content block"…), its kind and the field.
pub(super) fn need<'a, E: de::Error>(
    v: Option<Cow<'a, str>>,
    what: &str,
    kind: &str,
    field: &str,
) -> Result<Cow<'a, str>, E> {
    v.ok_or_else(|| E::custom(format_args!("{what} of type `{kind}` needs a string `{field}`")))
}

/// A boolean field that takes any JSON value: `Some` for `true`/`false`, `None` otherwise.
#[derive(Debug, Default)]
pub(super) struct BoolOrSkip(pub Option<bool>);

impl<'de> Deserialize<'de> for BoolOrSkip {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = BoolOrSkip;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("any JSON value")
            }
            fn visit_bool<E>(self, v: bool) -> Result<BoolOrSkip, E> {
                Ok(BoolOrSkip(Some(v)))
            }
            fn visit_i64<E>(self, _: i64) -> Result<BoolOrSkip, E> {
                Ok(BoolOrSkip(None))
            }
            fn visit_u64<E>(self, _: u64) -> Result<BoolOrSkip, E> {
                Ok(BoolOrSkip(None))
            }
            fn visit_f64<E>(self, _: f64) -> Result<BoolOrSkip, E> {
                Ok(BoolOrSkip(None))
            }
            fn visit_str<E>(self, _: &str) -> Result<BoolOrSkip, E> {
                Ok(BoolOrSkip(None))
            }
            fn visit_unit<E>(self) -> Result<BoolOrSkip, E> {
                Ok(BoolOrSkip(None))
            }
            fn visit_none<E>(self) -> Result<BoolOrSkip, E> {
                Ok(BoolOrSkip(None))
            }
            fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<BoolOrSkip, D::Error> {
                d.deserialize_any(self)
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<BoolOrSkip, A::Error> {
                while seq.next_element::<IgnoredAny>()?.is_some() {}
                Ok(BoolOrSkip(None))
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<BoolOrSkip, A::Error> {
                while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
                Ok(BoolOrSkip(None))
            }
        }
        d.deserialize_any(V)
    }
}

/// What a lenient reader found: `null`, a value of the expected shape, or another shape (read
/// past).
#[derive(Debug)]
pub(super) enum Seen<T> {
    Null,
    Value(T),
    Wrong,
}

/// A key among `names` (the `&'static` name itself), or `None` for any other key: object keys
/// compared without an allocation (serde's `Cow<str>` keys are always owned).
pub(super) struct KnownKey(pub(super) &'static [&'static str]);

impl<'de> DeserializeSeed<'de> for KnownKey {
    type Value = Option<&'static str>;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_str(self)
    }
}

impl Visitor<'_> for KnownKey {
    type Value = Option<&'static str>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an object key")
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
        Ok(self.0.iter().copied().find(|n| *n == v))
    }
}

/// "A string or an array of `T`", read in one pass.
#[derive(Debug)]
pub enum TextOrList<'a, T> {
    Text(Cow<'a, str>),
    List(Vec<T>),
}

/// Reads a value that must be a string or an array of `T` (anything else is an error naming
/// `what`).
pub(super) fn text_or_list<'de: 'a, 'a, D, T>(d: D, what: &'static str) -> Result<TextOrList<'a, T>, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de>,
{
    match d.deserialize_any(AnyOf::new(what, Kinds { list: true, skip: false }))? {
        Seen::Value(v) => Ok(v),
        Seen::Null | Seen::Wrong => Err(de::Error::custom(format_args!("expected {what}"))),
    }
}

/// [`text_or_list`] for a field a block may carry for another purpose: `null` and any other
/// shape are read past and said so.
pub(super) fn text_or_list_or_skip<'de: 'a, 'a, D, T>(
    d: D,
    what: &'static str,
) -> Result<Seen<TextOrList<'a, T>>, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de>,
{
    d.deserialize_any(AnyOf::new(what, Kinds { list: true, skip: true }))
}

/// What an [`AnyOf`] accepts besides a string: arrays (`list`); every other kind is read past
/// (`skip`) or refused.
#[derive(Debug, Clone, Copy)]
struct Kinds {
    list: bool,
    skip: bool,
}

/// The visitor behind the readers above.
struct AnyOf<'a, T> {
    what: &'static str,
    kinds: Kinds,
    _t: PhantomData<(&'a (), T)>,
}

impl<'a, T> AnyOf<'a, T> {
    fn new(what: &'static str, kinds: Kinds) -> Self {
        Self { what, kinds, _t: PhantomData }
    }

    fn other<E: de::Error>(self, unexpected: de::Unexpected<'_>) -> Result<Seen<TextOrList<'a, T>>, E> {
        match unexpected {
            _ if !self.kinds.skip => Err(E::invalid_type(unexpected, &self.what)),
            de::Unexpected::Unit | de::Unexpected::Option => Ok(Seen::Null),
            _ => Ok(Seen::Wrong),
        }
    }
}

impl<'de: 'a, 'a, T: Deserialize<'de>> Visitor<'de> for AnyOf<'a, T> {
    type Value = Seen<TextOrList<'a, T>>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.what)
    }

    fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Self::Value, E> {
        Ok(Seen::Value(TextOrList::Text(Cow::Borrowed(v))))
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
        Ok(Seen::Value(TextOrList::Text(Cow::Owned(v.to_owned()))))
    }

    fn visit_string<E: de::Error>(self, v: String) -> Result<Self::Value, E> {
        Ok(Seen::Value(TextOrList::Text(Cow::Owned(v))))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        if !self.kinds.list {
            while seq.next_element::<IgnoredAny>()?.is_some() {}
            return self.other(de::Unexpected::Seq);
        }
        let mut items = Vec::with_capacity(seq.size_hint().unwrap_or(0).min(64));
        while let Some(item) = seq.next_element::<T>()? {
            items.push(item);
        }
        Ok(Seen::Value(TextOrList::List(items)))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        if self.kinds.skip {
            while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
        }
        self.other(de::Unexpected::Map)
    }

    scalars_to_other!();

    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_any(self)
    }
}

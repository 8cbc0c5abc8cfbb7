//! Decoding a large body with what this worker decoded before: its `tools` array
//! (`translate::tools_cache`), its conversation's first messages (`translate::messages_cache`)
//! and a Claude body's `system` value (`translate::system_cache`), each replaced in a copy of
//! the body by its cache's marker.
//!
//! The decode of the spliced copy proves the splices: it counts only if the top-level `tools`
//! read the tools marker, the top-level `messages` read the messages marker first and the
//! top-level `system` read the system marker, so the replaced bytes were those values. Whatever
//! fails on that road ends in the plain decode of the body as it came, so a bad request gets the
//! plain decode's error. See `docs/translation.md`, "Repeated tool definitions", "Repeated
//! conversations" and "Repeated system prompts".

use super::{Decoded, RequestError};
use crate::api::cache_marker::Marker;
use crate::translate::canonical::{CanonicalRequest, Text, Tool, WireFormat};
use crate::translate::messages_cache::{self, Prefix};
use crate::translate::system_cache::{self, Found};
use crate::translate::text::{CUTS, Cut, Sent};
use crate::translate::tools_cache;
use bytes::Bytes;
use std::ops::Range;
use std::rc::Rc;

/// Decodes `body` with `decode` (a format's decoder: the parsed copy, how it differs from the
/// body, the conversation prefix the cache spliced out of it).
///
/// Tools: the cached array is looked for first where it started or ended last time (an agent's
/// turn grows between the two); failing that, the body's top-level `tools` value is located by
/// a scan and looked up. A hit counts (and is marked as seen) only when the decode read the
/// marker where the array stood. A miss decodes the tools with the body and keeps them.
/// Messages: a kept conversation whose first elements the body repeats
/// ([`messages_cache::find`]) is spliced out in every decode tried, and after the decode the
/// body's conversation is kept for the next turn. System (Claude): a kept `system` value the body
/// holds ([`system_cache::find`]) is spliced out in every decode tried; a value the cache does
/// not hold is kept after the decode.
pub(super) fn decode(
    body: &Bytes,
    format: WireFormat,
    decode: impl Fn(&mut [u8], Sent<'_>, Option<&Prefix>) -> Result<Decoded, RequestError>,
) -> Result<CanonicalRequest, RequestError> {
    // The caches take bodies from the same size (`messages_cache::MIN_BODY` is this one).
    if body.len() < tools_cache::MIN_BODY {
        return plain(body, &decode).map(|d| d.req);
    }
    let prefix = messages_cache::find(format, body);
    let system = if format == WireFormat::Claude { system_cache::find(body) } else { None };
    let kept = Kept {
        prefix: prefix.as_ref(),
        system: match &system {
            Some(Found::Kept(span, texts)) => Some((span.clone(), Rc::clone(texts))),
            _ => None,
        },
    };
    let d = with_tools(body, format, &kept, &decode)?;
    match system {
        Some(Found::Kept(span, texts)) if d.system_cached => system_cache::seen(&texts, &span, body.len()),
        Some(Found::New(span)) if !d.system_cached => {
            system_cache::remember(body, span, d.req.system.get(..d.system_base).unwrap_or_default());
        }
        _ => {}
    }
    Ok(keep_conversation(format, body, kept.prefix, d))
}

/// What the body repeats of what this worker kept, besides its tools: the conversation's first
/// messages, and a Claude body's `system` value (where it stands, its texts).
struct Kept<'p> {
    prefix: Option<&'p Prefix>,
    system: Option<(Range<usize>, Rc<[Text]>)>,
}

impl Kept<'_> {
    fn is_empty(&self) -> bool {
        self.prefix.is_none() && self.system.is_none()
    }
}

/// The body decoded with `kept` spliced out and its tools from the tools cache when it holds
/// them (a proven hit is marked as seen there; a miss keeps them there).
fn with_tools(
    body: &Bytes,
    format: WireFormat,
    kept: &Kept<'_>,
    decode: impl Fn(&mut [u8], Sent<'_>, Option<&Prefix>) -> Result<Decoded, RequestError>,
) -> Result<Decoded, RequestError> {
    let mut tried = None;
    if let Some((span, tools)) = tools_cache::guess(format, body) {
        if let Some(d) = spliced(body, kept, Some((span.clone(), Rc::clone(&tools))), &decode) {
            tools_cache::seen(&tools, &span, body.len());
            return Ok(d);
        }
        tried = Some(span);
    }
    match tools_cache::span(body) {
        // The same splice just failed: the body is bad, or the marker was not read there.
        Some(span) if tried.as_ref() != Some(&span) => {
            let raw = body.get(span.clone()).unwrap_or_default();
            if let Some(tools) = tools_cache::lookup(format, raw) {
                match spliced(body, kept, Some((span.clone(), Rc::clone(&tools))), &decode) {
                    Some(d) => {
                        tools_cache::seen(&tools, &span, body.len());
                        Ok(d)
                    }
                    None => plain(body, &decode),
                }
            } else {
                let d = spliced_or_plain(body, kept, None, &decode)?;
                let tools = if d.from_tools == d.req.tools.len() {
                    Rc::clone(&d.req.tools)
                } else {
                    d.req.tools.get(..d.from_tools).unwrap_or_default().into()
                };
                tools_cache::remember(format, body, span, &tools);
                Ok(d)
            }
        }
        _ => spliced_or_plain(body, kept, None, &decode),
    }
}

/// Keeps the conversation `d` decoded from `body` (with `prefix` replayed when it read it).
fn keep_conversation(format: WireFormat, body: &Bytes, prefix: Option<&Prefix>, d: Decoded) -> CanonicalRequest {
    let used = prefix.filter(|_| d.prefix_read);
    let system = d.req.system.get(d.system_base..).unwrap_or_default();
    messages_cache::remember(format, body, used, d.marks, system, &d.req.messages);
    d.req
}

/// The body as it came, decoded; a marker in it (which no client can know) is refused.
fn plain(
    body: &Bytes,
    decode: impl Fn(&mut [u8], Sent<'_>, Option<&Prefix>) -> Result<Decoded, RequestError>,
) -> Result<Decoded, RequestError> {
    match decode(&mut body.to_vec(), Sent::plain(body), None) {
        Ok(d) if d.cached => Err(RequestError::new("tools: expected an array of tool definitions", Some("tools"))),
        Ok(d) if d.system_cached => {
            Err(RequestError::new("system: expected a string or an array of text blocks", Some("system")))
        }
        other => other,
    }
}

/// [`spliced`] when there is something to splice and it decodes, else [`plain`].
fn spliced_or_plain(
    body: &Bytes,
    kept: &Kept<'_>,
    tools: Option<(Range<usize>, Rc<[Tool]>)>,
    decode: impl Fn(&mut [u8], Sent<'_>, Option<&Prefix>) -> Result<Decoded, RequestError>,
) -> Result<Decoded, RequestError> {
    if kept.is_empty() && tools.is_none() {
        return plain(body, decode);
    }
    match spliced(body, kept, tools, &decode) {
        Some(d) => Ok(d),
        None => plain(body, decode),
    }
}

/// The body decoded with the prefix's elements, the `tools` span and the `system` span replaced
/// by their markers, and the cached tools and system texts in place; `None` when that does not
/// decode, a marker was not read where it was put, or two spans overlap.
fn spliced(
    body: &Bytes,
    kept: &Kept<'_>,
    tools: Option<(Range<usize>, Rc<[Tool]>)>,
    decode: impl Fn(&mut [u8], Sent<'_>, Option<&Prefix>) -> Result<Decoded, RequestError>,
) -> Option<Decoded> {
    let (tool_span, tools) = tools.map_or((None, None), |(s, t)| (Some(s), Some(t)));
    let mut spans = [
        kept.prefix.map(|p| (p.span(), Marker::Messages)),
        tool_span.map(|s| (s, Marker::Tools)),
        kept.system.as_ref().map(|(s, _)| (s.clone(), Marker::System)),
    ];
    spans.sort_by_key(|s| s.as_ref().map(|(span, _)| span.start));
    let mut copy = Vec::with_capacity(body.len() + 128);
    let mut cuts = [None; CUTS];
    let mut from = 0;
    for ((span, marker), cut) in spans.into_iter().flatten().zip(&mut cuts) {
        // Spans that overlap cannot both be what their markers stand for.
        if span.start < from {
            return None;
        }
        copy.extend_from_slice(body.get(from..span.start)?);
        let at = copy.len();
        marker.write(&mut copy);
        *cut = Some(Cut { start: span.start, end: span.end, marker_len: copy.len() - at });
        from = span.end;
    }
    copy.extend_from_slice(body.get(from..)?);
    let mut d = decode(&mut copy, Sent::spliced(body, cuts), kept.prefix).ok()?;
    if d.cached != tools.is_some() || d.prefix_read != kept.prefix.is_some() || d.system_cached != kept.system.is_some()
    {
        return None;
    }
    if let Some(tools) = tools {
        d.req.tools =
            if d.req.tools.is_empty() { tools } else { tools.iter().chain(d.req.tools.iter()).cloned().collect() };
    }
    if let Some((_, texts)) = &kept.system {
        // The value's texts come first, before any the messages added (a Claude `system`-role
        // message adds some).
        d.req.system.splice(0..0, texts.iter().cloned());
        d.system_base += texts.len();
    }
    Some(d)
}

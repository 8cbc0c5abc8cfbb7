//! Whole (non-streaming) upstream answers, [`super::StreamItem::Whole`].
//!
//! - Same format as the client (an OpenAI client, an OpenAI-compatible upstream): the body is
//!   forwarded as it came, validated, with only the top-level `model` rewritten to the id the
//!   client asked for ([`passthrough`]); usage is read for accounting. No decode, no re-encode.
//! - Otherwise the completion becomes the chunk frames a streaming answer would have carried
//!   ([`openai_completion_frames`]), so one decoder path serves both.
//!
//! A body with a non-null `error`, or without `choices`, is never passed through: [`check`] (at
//! the channel) refuses one without `choices`, [`error_of`] (before anything reaches the client)
//! types an error answered with 200.

use crate::translate::StreamDecoder;
use crate::translate::canonical::{CanonicalEvent, ErrorKind, JsonStr, Usage, WireFormat};
use crate::translate::jscan::{self, Kind, Val};
use crate::translate::passthrough::splice;
use bytes::{Bytes, BytesMut};

/// The error a whole answer carries instead of an answer (an error answered with 200), typed
/// by the format's decoder.
pub fn error_of(format: WireFormat, body: &[u8]) -> Option<(ErrorKind, String)> {
    let has_error =
        jscan::with_tape(|tape| tape.parse(body).ok().and_then(|root| root.get("error")).is_some_and(|e| !e.is_null()));
    if !has_error {
        return None;
    }
    let mut events = Vec::new();
    let mut decoder = StreamDecoder::new(format);
    for data in frames(format, body).ok()? {
        let _ = decoder.frame(None, &data, &mut events);
    }
    events.into_iter().find_map(|e| match e {
        CanonicalEvent::Error { kind, message } => Some((kind, message.unescape().into_owned())),
        _ => None,
    })
}

/// The body to send as is (model rewritten) and its usage, when `body` can be forwarded.
pub fn passthrough(format: WireFormat, body: &[u8], model: Option<&JsonStr>) -> Option<(Bytes, Usage)> {
    if format != WireFormat::OpenAi {
        return None;
    }
    let mut out = BytesMut::with_capacity(body.len() + 32);
    let u = jscan::with_tape(|tape| {
        let root = tape.parse(body).ok()?;
        let [error, choices, usage, old_model] = root.pick(["error", "choices", "usage", "model"]);
        if error.is_some_and(|e| !e.is_null()) || choices.is_none_or(|c| c.kind() != Kind::Array) {
            return None;
        }
        let mut u = Usage::default();
        if let Some(obj) = usage.filter(|u| !u.is_null()) {
            let [input, output] = obj.pick(["prompt_tokens", "completion_tokens"]);
            u.input_tokens = input.and_then(|v| v.as_u64()).unwrap_or(0);
            u.output_tokens = output.and_then(|v| v.as_u64()).unwrap_or(0);
        }
        splice(&mut out, body, old_model.map(|m| m.bytes()), model);
        Some(u)
    })?;
    Some((out.freeze(), u))
}

/// The frames of a whole answer, in the answer's format, for the decoders (`data:` payloads;
/// whole answers carry no event names).
pub fn frames(format: WireFormat, body: &[u8]) -> Result<Vec<Bytes>, String> {
    match format {
        WireFormat::OpenAi => openai_completion_frames(body),
        WireFormat::Claude => Err("a whole Claude answer cannot be re-framed yet".into()),
    }
}

/// `v` when it is a non-empty string.
fn nonempty(v: Option<Val<'_>>) -> Option<Val<'_>> {
    v.filter(|v| v.str_content().is_some_and(|c| !c.is_empty()))
}

/// A non-streaming OpenAI completion as the chunk frames (`data:` payloads, ending with
/// `[DONE]`) a streaming answer would carry. `Err` names what is missing.
///
/// Written by splicing the completion's own JSON values (each one validated by the scan) into
/// the chunk skeletons: no value tree, no re-serialisation.
pub fn openai_completion_frames(body: &[u8]) -> Result<Vec<Bytes>, String> {
    jscan::with_tape(|tape| frames_on(tape, body))
}

fn frames_on(tape: &mut jscan::Tape, body: &[u8]) -> Result<Vec<Bytes>, String> {
    let root = tape.parse(body).map_err(|e| format!("the completion is not JSON: {e}"))?;
    let [error, id, created, model, choices, usage] =
        root.pick(["error", "id", "created", "model", "choices", "usage"]);
    if let Some(err) = error.filter(|e| !e.is_null()) {
        // An error answered with 200: one error chunk, which the decoder types.
        let mut chunk = BytesMut::with_capacity(err.bytes().len() + 10);
        chunk.extend_from_slice(b"{\"error\":");
        chunk.extend_from_slice(err.bytes());
        chunk.extend_from_slice(b"}");
        return Ok(vec![chunk.freeze()]);
    }
    let choice = choices.and_then(|c| c.index(0)).ok_or("the completion has no choices")?;
    let [message, finish] = choice.pick(["message", "finish_reason"]);
    let message = message.filter(|m| m.kind() == Kind::Object).ok_or("the completion's choice has no message")?;
    let [reasoning, content, calls] = message.pick(["reasoning_content", "content", "tool_calls"]);

    // `{"id":…,"object":"chat.completion.chunk","created":…,"model":…,"choices":` opens the
    // first frame only: the decoder reads `id` and `model` once, at the start, so the later
    // frames are just `{"choices":…}` (less to scan again).
    let mut head = BytesMut::with_capacity(128);
    head.extend_from_slice(b"{\"id\":");
    head.extend_from_slice(id.map_or(&b"\"chatcmpl-upstream\""[..], |v| v.bytes()));
    head.extend_from_slice(b",\"object\":\"chat.completion.chunk\",\"created\":");
    head.extend_from_slice(created.map_or(&b"0"[..], |v| v.bytes()));
    head.extend_from_slice(b",\"model\":");
    head.extend_from_slice(model.map_or(&b"null"[..], |v| v.bytes()));
    head.extend_from_slice(b",\"choices\":");
    let short: &[u8] = b"{\"choices\":";
    let frame = |delta: &[&[u8]], finish: &[u8]| {
        let mut f = BytesMut::with_capacity(head.len() + delta.iter().map(|d| d.len()).sum::<usize>() + 64);
        f.extend_from_slice(short);
        f.extend_from_slice(b"[{\"index\":0,\"delta\":");
        for d in delta {
            f.extend_from_slice(d);
        }
        f.extend_from_slice(b",\"finish_reason\":");
        f.extend_from_slice(finish);
        f.extend_from_slice(b"}]}");
        f.freeze()
    };

    let mut first = BytesMut::with_capacity(head.len() + 96);
    first.extend_from_slice(&head);
    first.extend_from_slice(b"[{\"index\":0,\"delta\":{\"role\":\"assistant\",\"content\":\"\"},\"finish_reason\":null}]}");
    let mut out = vec![first.freeze()];
    if let Some(r) = nonempty(reasoning) {
        out.push(frame(&[b"{\"reasoning_content\":", r.bytes(), b"}"], b"null"));
    }
    if let Some(c) = nonempty(content) {
        out.push(frame(&[b"{\"content\":", c.bytes(), b"}"], b"null"));
    }
    if let Some(calls) = calls.filter(|c| c.kind() == Kind::Array) {
        for (i, call) in calls.elements().enumerate() {
            if call.kind() != Kind::Object {
                return Err("a tool call that is not an object".into());
            }
            // The call as it came, with its position prepended as `index`.
            let inner = call.bytes().get(1..).unwrap_or_default();
            let sep = if inner.trim_ascii_start().starts_with(b"}") { "" } else { "," };
            let prefix = format!("{{\"tool_calls\":[{{\"index\":{i}{sep}");
            out.push(frame(&[prefix.as_bytes(), inner, b"]}"], b"null"));
        }
    }
    let finish = finish.filter(|f| !f.is_null()).map_or(&b"\"stop\""[..], |f| f.bytes());
    out.push(frame(&[b"{}"], finish));
    if let Some(u) = usage.filter(|u| u.kind() == Kind::Object) {
        let mut last = BytesMut::with_capacity(u.bytes().len() + 32);
        last.extend_from_slice(short);
        last.extend_from_slice(b"[],\"usage\":");
        last.extend_from_slice(u.bytes());
        last.extend_from_slice(b"}");
        out.push(last.freeze());
    }
    out.push(Bytes::from_static(b"[DONE]"));
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::Value;

    const COMPLETION: &[u8] = br#"{"id":"c1","object":"chat.completion","created":5,"model":"grok-4","choices":[{"index":0,
        "message":{"role":"assistant","content":"hi","reasoning_content":"hmm","tool_calls":[{"id":"call_9","type":"function",
        "function":{"name":"f","arguments":"{\"a\":1}"}}]},"finish_reason":"tool_calls"}],
        "usage":{"prompt_tokens":3,"completion_tokens":4,"total_tokens":7}}"#;

    #[test]
    fn completion_becomes_decodable_frames() {
        let frames = openai_completion_frames(COMPLETION).unwrap();
        assert_eq!(frames.last().unwrap().as_ref(), b"[DONE]");
        let mut dec = StreamDecoder::new(WireFormat::OpenAi);
        let mut evs = Vec::new();
        for f in &frames {
            dec.frame(None, f, &mut evs).unwrap();
        }
        assert!(evs.iter().any(|e| matches!(e, CanonicalEvent::ThinkingDelta(t) if t.unescape() == "hmm")));
        assert!(evs.iter().any(|e| matches!(e, CanonicalEvent::TextDelta(t) if t.unescape() == "hi")));
        assert!(evs.iter().any(|e| matches!(e, CanonicalEvent::ToolCallStart { name, .. } if name.unescape() == "f")));
        assert!(evs.iter().any(|e| matches!(e, CanonicalEvent::Usage(u) if u.output_tokens == 4)));
        assert!(matches!(evs.last(), Some(CanonicalEvent::Stop { .. })));
        assert!(openai_completion_frames(b"{}").is_err());
        assert!(openai_completion_frames(b"nope").is_err());
    }

    #[test]
    fn frames_are_json_and_keep_the_completion_values() {
        let frames = openai_completion_frames(COMPLETION).unwrap();
        let parsed: Vec<Value> =
            frames[..frames.len() - 1].iter().map(|f| serde_json::from_slice(f).unwrap()).collect();
        // The first frame carries the completion's id, created and model; the rest only choices.
        assert!(parsed[0]["id"] == "c1" && parsed[0]["created"] == 5 && parsed[0]["model"] == "grok-4");
        assert!(parsed[1..].iter().all(|v| v.get("id").is_none() && v.get("model").is_none()));
        let call = parsed.iter().find_map(|v| v["choices"][0]["delta"]["tool_calls"].get(0).cloned()).unwrap();
        assert_eq!(call["index"], 0);
        assert_eq!(call["id"], "call_9");
        assert_eq!(call["function"]["arguments"], "{\"a\":1}");
        assert_eq!(parsed.iter().rev().nth(1).unwrap()["choices"][0]["finish_reason"], "tool_calls");
        assert_eq!(parsed.last().unwrap()["usage"]["completion_tokens"], 4);
        // Odd but valid shapes: an empty call object, no finish reason, no usage, no id.
        let odd = br#"{"choices":[{"message":{"content":"x","tool_calls":[{} , {"id":"b"}]}}]}"#;
        let frames = openai_completion_frames(odd).unwrap();
        let parsed: Vec<Value> =
            frames[..frames.len() - 1].iter().map(|f| serde_json::from_slice(f).unwrap()).collect();
        let calls: Vec<&Value> = parsed.iter().filter_map(|v| v["choices"][0]["delta"]["tool_calls"].get(0)).collect();
        assert_eq!(
            (calls[0]["index"].clone(), calls[1]["index"].clone(), calls[1]["id"].clone()),
            (0.into(), 1.into(), "b".into())
        );
        assert_eq!(parsed.last().unwrap()["choices"][0]["finish_reason"], "stop");
        assert!(openai_completion_frames(br#"{"choices":[{"message":{"tool_calls":[1]}}]}"#).is_err());
        assert!(openai_completion_frames(br#"{"choices":[{"message":"no"}]}"#).is_err());
    }

    #[test]
    fn error_in_a_200_becomes_a_typed_error_event() {
        let frames =
            openai_completion_frames(br#"{"error":{"message":"slow down","type":"rate_limit_error"}}"#).unwrap();
        let mut dec = StreamDecoder::new(WireFormat::OpenAi);
        let mut evs = Vec::new();
        let _ = dec.frame(None, &frames[0], &mut evs);
        assert!(evs.iter().any(|e| matches!(e, CanonicalEvent::Error { .. })), "{evs:?}");
    }

    #[test]
    fn error_of_types_an_error_answer() {
        let err = br#"{"error":{"message":"slow down","type":"rate_limit_error"}}"#;
        let (kind, msg) = error_of(WireFormat::OpenAi, err).unwrap();
        assert_eq!((kind, msg.as_str()), (ErrorKind::RateLimit, "slow down"));
        assert!(error_of(WireFormat::OpenAi, COMPLETION).is_none());
    }

    #[test]
    fn passthrough_rewrites_only_the_model_and_reads_usage() {
        let model = JsonStr::from_static("grok-4-fast");
        let (out, usage) = passthrough(WireFormat::OpenAi, COMPLETION, Some(&model)).unwrap();
        let v: Value = serde_json::from_slice(&out).unwrap();
        let orig: Value = serde_json::from_slice(COMPLETION).unwrap();
        assert_eq!(v["model"], "grok-4-fast");
        assert_eq!(v["choices"], orig["choices"]);
        assert_eq!(v["usage"], orig["usage"]);
        assert_eq!((usage.input_tokens, usage.output_tokens), (3, 4));
    }

    #[test]
    fn passthrough_refuses_errors_missing_choices_bad_json_and_other_formats() {
        let m = JsonStr::from_static("m");
        assert!(passthrough(WireFormat::OpenAi, br#"{"error":{"message":"x"},"choices":[]}"#, Some(&m)).is_none());
        assert!(passthrough(WireFormat::OpenAi, br#"{"id":"x","model":"y"}"#, Some(&m)).is_none());
        assert!(passthrough(WireFormat::OpenAi, br#"{"choices":[1,}"#, Some(&m)).is_none());
        assert!(passthrough(WireFormat::Claude, COMPLETION, Some(&m)).is_none());
        // A null error is no error.
        assert!(passthrough(WireFormat::OpenAi, br#"{"error":null,"choices":[],"model":"y"}"#, Some(&m)).is_some());
    }
}

//! Whole (non-streaming) upstream answers, [`StreamItem::Whole`].
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

use crate::channel::StreamItem;
use crate::translate::StreamDecoder;
use crate::translate::canonical::{CanonicalEvent, ErrorKind, JsonStr, Usage, WireFormat};
use crate::translate::jscan;
use crate::translate::passthrough::splice;
use bytes::{Bytes, BytesMut};
use serde_json::{Value, json};

/// Whether `body` is a usable whole answer: JSON with `choices` (or with an `error`, which
/// [`error_of`] types). `Err` says what is wrong.
pub fn check(format: WireFormat, body: &[u8]) -> Result<(), String> {
    if format != WireFormat::OpenAi {
        return Err("only OpenAI completions are taken whole".into());
    }
    let root = jscan::parse(body).map_err(|e| format!("the completion is not JSON: {e}"))?;
    let [error, choices] = root.pick(["error", "choices"]).map_err(|e| format!("the completion is not JSON: {e}"))?;
    if error.is_some_and(|e| !e.is_null()) {
        return Ok(());
    }
    match choices {
        Some(c) if c.bytes.first() == Some(&b'[') => Ok(()),
        _ => Err("the completion has no choices".into()),
    }
}

/// The error a whole answer carries instead of an answer (an error answered with 200), typed
/// by the format's decoder.
pub fn error_of(format: WireFormat, body: &[u8]) -> Option<(ErrorKind, String)> {
    let root = jscan::parse(body).ok()?;
    root.get("error").ok().flatten().filter(|e| !e.is_null())?;
    let mut events = Vec::new();
    for item in frames(format, body).ok()? {
        if let StreamItem::Frame { event, data, .. } = item {
            let _ = StreamDecoder::new(format).frame(event.as_deref(), &data, &mut events);
        }
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
    let root = jscan::parse(body).ok()?;
    let [error, choices, usage, old_model] = root.pick(["error", "choices", "usage", "model"]).ok()?;
    if error.is_some_and(|e| !e.is_null()) || choices.is_none_or(|c| c.bytes.first() != Some(&b'[')) {
        return None;
    }
    let mut u = Usage::default();
    if let Some(obj) = usage.filter(|u| !u.is_null()) {
        let [input, output] = obj.pick(["prompt_tokens", "completion_tokens"]).ok()?;
        u.input_tokens = input.and_then(|v| v.as_u64()).unwrap_or(0);
        u.output_tokens = output.and_then(|v| v.as_u64()).unwrap_or(0);
    }
    let mut out = BytesMut::with_capacity(body.len() + 32);
    splice(&mut out, body, old_model.map(|m| m.bytes), model);
    Some((out.freeze(), u))
}

/// The frames of a whole answer, in the answer's format (for the decoders).
pub fn frames(format: WireFormat, body: &[u8]) -> Result<Vec<StreamItem>, String> {
    match format {
        WireFormat::OpenAi => Ok(openai_completion_frames(body)?
            .into_iter()
            .map(|data| StreamItem::Frame { format, event: None, data })
            .collect()),
        WireFormat::Claude => Err("a whole Claude answer cannot be re-framed yet".into()),
    }
}

fn set(v: &mut Value, key: &str, x: Value) {
    if let Some(o) = v.as_object_mut() {
        o.insert(key.into(), x);
    }
}

/// A non-streaming OpenAI completion as the chunk frames (`data:` payloads, ending with
/// `[DONE]`) a streaming answer would carry. `Err` names what is missing.
pub fn openai_completion_frames(body: &[u8]) -> Result<Vec<Bytes>, String> {
    let v: Value = serde_json::from_slice(body).map_err(|e| format!("the completion is not JSON: {e}"))?;
    if let Some(err) = v.get("error").filter(|e| !e.is_null()) {
        // An error answered with 200: one error chunk, which the decoder types.
        let chunk = json!({"error": err});
        return Ok(vec![Bytes::from(serde_json::to_vec(&chunk).unwrap_or_default())]);
    }
    let choice = v.get("choices").and_then(|c| c.get(0)).ok_or("the completion has no choices")?;
    let msg = choice.get("message").ok_or("the completion's choice has no message")?;
    let head = |delta: Value, finish: Value| {
        json!({
            "id": v.get("id").cloned().unwrap_or_else(|| json!("chatcmpl-upstream")),
            "object": "chat.completion.chunk",
            "created": v.get("created").cloned().unwrap_or_else(|| json!(0)),
            "model": v.get("model").cloned().unwrap_or(Value::Null),
            "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
        })
    };
    let mut frames: Vec<Value> = vec![head(json!({"role": "assistant", "content": ""}), Value::Null)];
    let nonempty = |k: &str| msg.get(k).and_then(Value::as_str).filter(|s| !s.is_empty()).map(str::to_owned);
    if let Some(r) = nonempty("reasoning_content") {
        frames.push(head(json!({"reasoning_content": r}), Value::Null));
    }
    if let Some(c) = nonempty("content") {
        frames.push(head(json!({"content": c}), Value::Null));
    }
    for (i, tc) in msg.get("tool_calls").and_then(Value::as_array).into_iter().flatten().enumerate() {
        let mut call = tc.clone();
        set(&mut call, "index", i.into());
        frames.push(head(json!({"tool_calls": [call]}), Value::Null));
    }
    let finish = choice.get("finish_reason").cloned().filter(|f| !f.is_null()).unwrap_or_else(|| json!("stop"));
    frames.push(head(json!({}), finish));
    if let Some(u) = v.get("usage").filter(|u| u.is_object()) {
        let mut last = head(json!({}), Value::Null);
        set(&mut last, "choices", json!([]));
        set(&mut last, "usage", u.clone());
        frames.push(last);
    }
    let mut out: Vec<Bytes> = frames.iter().map(|f| Bytes::from(serde_json::to_vec(f).unwrap_or_default())).collect();
    out.push(Bytes::from_static(b"[DONE]"));
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

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
    fn error_in_a_200_becomes_a_typed_error_event() {
        let frames =
            openai_completion_frames(br#"{"error":{"message":"slow down","type":"rate_limit_error"}}"#).unwrap();
        let mut dec = StreamDecoder::new(WireFormat::OpenAi);
        let mut evs = Vec::new();
        let _ = dec.frame(None, &frames[0], &mut evs);
        assert!(evs.iter().any(|e| matches!(e, CanonicalEvent::Error { .. })), "{evs:?}");
    }

    #[test]
    fn check_and_error_of() {
        assert!(check(WireFormat::OpenAi, COMPLETION).is_ok());
        assert!(check(WireFormat::OpenAi, br#"{"id":"x"}"#).unwrap_err().contains("no choices"));
        assert!(check(WireFormat::OpenAi, b"nope").unwrap_err().contains("not JSON"));
        let err = br#"{"error":{"message":"slow down","type":"rate_limit_error"}}"#;
        assert!(check(WireFormat::OpenAi, err).is_ok());
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

//! Whole (non-streaming) upstream answers, [`super::StreamItem::Whole`].
//!
//! - Same format as the client (an OpenAI client, an OpenAI-compatible upstream): the body is
//!   forwarded as it came, validated, with only the top-level `model` rewritten to the id the
//!   client asked for ([`passthrough`]); usage is read for accounting. No decode, no re-encode,
//!   and for a body of a shape the worker saw before no parse either.
//! - Otherwise the stream decoder reads the completion in one parse
//!   (`StreamDecoder::whole`, `OpenAiDecoder::completion`): its message as one delta, then the
//!   finish reason, usage and end, the same events its chunks would have given.
//!
//! A body with a non-null `error`, or without `choices`, is never passed through
//! ([`passthrough`] refuses it; the decoder fails one without `choices`), and [`error_of`]
//! (before anything reaches the client) types an error answered with 200.

use crate::translate::canonical::{ErrorKind, JsonStr, Usage, WireFormat};
use crate::translate::completion_shape;
use crate::translate::jscan::{self, Kind};
use crate::translate::passthrough::splice;
use crate::translate::{StreamDecoder, first_error};
use bytes::{Bytes, BytesMut};

/// The error a whole answer carries instead of an answer (an error answered with 200), typed
/// by the format's decoder.
///
/// A scan for a non-null top-level `error` comes first, so a completion that merely mentions
/// the word is not decoded twice (here and in the pipeline).
pub fn error_of(format: WireFormat, body: &Bytes) -> Option<(ErrorKind, String)> {
    let has_error = jscan::with_tape(|tape| {
        tape.parse(body).is_ok_and(|doc| doc.root().get("error").is_some_and(|e| !e.is_null()))
    });
    if !has_error {
        return None;
    }
    let mut events = Vec::new();
    StreamDecoder::new(format).whole(body, &mut events).ok()?;
    first_error(events)
}

/// The body to send as is (model rewritten) and its usage, when `body` can be forwarded.
///
/// A body of a shape this worker saw before takes no parse (`translate::completion_shape`);
/// any other is parsed, and its shape learned.
pub fn passthrough(format: WireFormat, body: &Bytes, model: Option<&JsonStr>) -> Option<(Bytes, Usage)> {
    if format != WireFormat::OpenAi {
        return None;
    }
    let mut out = BytesMut::with_capacity(body.len() + 32);
    if let Some(m) = completion_shape::lookup(body) {
        // The full path's replacement: the model's whole value, quotes included.
        let old = m.model.and_then(|r| body.get(r.start.checked_sub(1)?..r.end + 1));
        splice(&mut out, body, old, model);
        let [prompt, completion, ..] = m.counts;
        let usage = Usage { input_tokens: prompt, output_tokens: completion, ..Usage::default() };
        return Some((out.freeze(), usage));
    }
    let u = jscan::with_tape(|tape| {
        let doc = tape.parse(body).ok()?;
        let root = doc.root();
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
        completion_shape::learn(body, root, None);
        Some(u)
    })?;
    Some((out.freeze(), u))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::translate::canonical::{BlockKind, CanonicalEvent, StopReason};
    use serde_json::Value;

    const COMPLETION: &[u8] = br#"{"id":"c1","object":"chat.completion","created":5,"model":"grok-4","choices":[{"index":0,
        "message":{"role":"assistant","content":"hi","reasoning_content":"hmm","tool_calls":[{"id":"call_9","type":"function",
        "function":{"name":"f","arguments":"{\"a\":1}"}}]},"finish_reason":"tool_calls"}],
        "usage":{"prompt_tokens":3,"completion_tokens":4,"total_tokens":7}}"#;

    fn decode(body: &[u8]) -> Result<Vec<CanonicalEvent>, String> {
        let mut evs = Vec::new();
        let mut dec = StreamDecoder::new(WireFormat::OpenAi);
        dec.whole(&Bytes::copy_from_slice(body), &mut evs).map_err(|e| e.to_string())?;
        dec.finish(&mut evs);
        Ok(evs)
    }

    #[test]
    fn a_completion_decodes_in_one_parse() {
        let evs = decode(COMPLETION).unwrap();
        let id = JsonStr::from_text;
        assert_eq!(
            evs,
            vec![
                CanonicalEvent::MessageStart { id: id("c1"), model: id("grok-4") },
                CanonicalEvent::BlockStart { index: 0, kind: BlockKind::Thinking },
                CanonicalEvent::ThinkingDelta(id("hmm")),
                CanonicalEvent::BlockStop { index: 0 },
                CanonicalEvent::BlockStart { index: 1, kind: BlockKind::Text },
                CanonicalEvent::TextDelta(id("hi")),
                CanonicalEvent::BlockStop { index: 1 },
                CanonicalEvent::ToolCallStart { index: 2, id: id("call_9"), name: id("f") },
                CanonicalEvent::ToolArgsDelta(JsonStr::from_text("{\"a\":1}")),
                CanonicalEvent::BlockStop { index: 2 },
                CanonicalEvent::Usage(Usage { input_tokens: 3, output_tokens: 4, ..Usage::default() }),
                CanonicalEvent::Stop { reason: StopReason::ToolUse, stop_sequence: None },
            ]
        );
        assert!(decode(b"{}").is_err());
        assert!(decode(b"nope").unwrap_err().contains("not JSON"));
    }

    #[test]
    fn odd_but_valid_completions_and_refusals() {
        // An empty call object and a call without a name, no finish reason, no usage, no id:
        // each call is a block of its own (indexed by position), the finish reason is `stop`.
        let evs = decode(br#"{"choices":[{"message":{"content":"x","tool_calls":[{} , {"id":"b"}]}}]}"#).unwrap();
        let starts: Vec<_> = evs
            .iter()
            .filter_map(|e| match e {
                CanonicalEvent::ToolCallStart { index, id, .. } => Some((*index, id.unescape().into_owned())),
                _ => None,
            })
            .collect();
        assert_eq!(starts, vec![(1, String::new()), (2, "b".to_owned())]);
        assert!(
            matches!(evs.first(), Some(CanonicalEvent::MessageStart { id, .. }) if id.unescape() == "chatcmpl-upstream")
        );
        assert!(matches!(evs.last(), Some(CanonicalEvent::Stop { reason: StopReason::EndTurn, .. })));
        // A second call without an id still gets its own block and its own arguments.
        let evs = decode(
            br#"{"choices":[{"message":{"tool_calls":[{"id":"1","function":{"name":"f","arguments":"{}"}},{"function":{"arguments":"[1]"}}]}}]}"#,
        )
        .unwrap();
        let args: Vec<_> = evs
            .iter()
            .filter_map(|e| match e {
                CanonicalEvent::ToolArgsDelta(a) => Some(a.unescape().into_owned()),
                _ => None,
            })
            .collect();
        assert_eq!(args, vec!["{}".to_owned(), "[1]".to_owned()]);
        assert_eq!(evs.iter().filter(|e| matches!(e, CanonicalEvent::ToolCallStart { .. })).count(), 2);
        // `tool_calls` that is not an array is ignored; null content and calls give no block.
        assert!(decode(br#"{"choices":[{"message":{"content":"t","tool_calls":{}}}]}"#).is_ok());
        let evs = decode(br#"{"choices":[{"message":{"content":null,"tool_calls":null}}]}"#).unwrap();
        assert!(!evs.iter().any(|e| matches!(e, CanonicalEvent::BlockStart { .. })));
        assert!(decode(br#"{"choices":[{"message":{"tool_calls":[1]}}]}"#).is_err());
        assert!(decode(br#"{"choices":[{"message":"no"}]}"#).is_err());
        assert!(decode(br#"{"choices":[]}"#).is_err());
    }

    #[test]
    fn error_in_a_200_becomes_a_typed_error_event() {
        let evs = decode(br#"{"error":{"message":"slow down","type":"rate_limit_error"}}"#).unwrap();
        assert!(matches!(evs.as_slice(), [CanonicalEvent::Error { .. }]), "{evs:?}");
    }

    #[test]
    fn error_of_types_an_error_answer() {
        let err = br#"{"error":{"message":"slow down","type":"rate_limit_error"}}"#;
        let (kind, msg) = error_of(WireFormat::OpenAi, &Bytes::from_static(err)).unwrap();
        assert_eq!((kind, msg.as_str()), (ErrorKind::RateLimit, "slow down"));
        assert!(error_of(WireFormat::OpenAi, &Bytes::from_static(COMPLETION)).is_none());
    }

    #[test]
    fn passthrough_rewrites_only_the_model_and_reads_usage() {
        let model = JsonStr::from_static("grok-4-fast");
        let (out, usage) = passthrough(WireFormat::OpenAi, &Bytes::from_static(COMPLETION), Some(&model)).unwrap();
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
        let pass = |format, body: &'static [u8]| passthrough(format, &Bytes::from_static(body), Some(&m));
        assert!(pass(WireFormat::OpenAi, br#"{"error":{"message":"x"},"choices":[]}"#).is_none());
        assert!(pass(WireFormat::OpenAi, br#"{"id":"x","model":"y"}"#).is_none());
        assert!(pass(WireFormat::OpenAi, br#"{"choices":[1,}"#).is_none());
        assert!(pass(WireFormat::Claude, COMPLETION).is_none());
        // A null error is no error.
        assert!(pass(WireFormat::OpenAi, br#"{"error":null,"choices":[],"model":"y"}"#).is_some());
    }
}

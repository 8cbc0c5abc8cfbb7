//! grok.com NDJSON events -> canonical events (reference B.4, B.5). Pure; one per response.
//!
//! - Thinking tokens (`isThinking`) become a thinking block; answer tokens go through the
//!   [`AnswerAssembler`] (final-message suffix, UI markup stripped) and then the
//!   [`ToolMarkupParser`], whose text becomes a text block and whose `<tool_call>` blocks
//!   become tool calls (start, the whole arguments JSON as one delta, stop). Markup never
//!   reaches the client; unusable blocks are dropped and logged.
//! - `MessageStart` is emitted just before the first content, so an error as the very first
//!   thing is a failed attempt (failover) rather than a started answer.
//! - At the end: a usage estimate (bytes / 4 of the prompt and of what was emitted; the web
//!   protocol reports no usage) and `Stop` with `tool_use` when a call was emitted, else
//!   `end_turn`.
//! - In-stream errors (`streamErrors`, a top-level `error`, `renderToolRateLimited`) and
//!   malformed lines end the stream with an `Err` item classified by `classify_stream_error`.

use crate::channel::{AttemptError, StreamItem};
use crate::domain::FailureClass;
use crate::grok::classify::classify_stream_error;
use crate::grok::ndjson::{GrokWebEvent, NdjsonError};
use crate::grok::tool_markup::{MarkupEvent, ToolMarkupParser, ToolPolicy};
use crate::grok::web_text::{AnswerAssembler, TextPiece};
use crate::translate::canonical::{BlockKind, CanonicalEvent, JsonStr, StopReason, Usage};
use std::collections::VecDeque;

/// The decoder.
#[derive(Debug)]
pub struct WebDecoder {
    assembler: AnswerAssembler,
    markup: ToolMarkupParser,
    em: Emitter,
}

#[derive(Debug)]
struct Emitter {
    model: JsonStr,
    started: bool,
    ended: bool,
    next_index: u32,
    open: Option<(u32, BlockKind)>,
    out: VecDeque<Result<StreamItem, AttemptError>>,
    input_tokens: u64,
    answer_bytes: usize,
    thinking_bytes: usize,
    calls: usize,
}

impl WebDecoder {
    /// `model`: the id shown in `MessageStart`; `input_tokens`: the prompt estimate.
    pub fn new(model: &str, policy: ToolPolicy, input_tokens: u64) -> Self {
        Self {
            assembler: AnswerAssembler::new(),
            markup: ToolMarkupParser::new(policy),
            em: Emitter {
                model: JsonStr::from_text(model),
                started: false,
                ended: false,
                next_index: 0,
                open: None,
                out: VecDeque::new(),
                input_tokens,
                answer_bytes: 0,
                thinking_bytes: 0,
                calls: 0,
            },
        }
    }

    /// Whether the answer is complete (stopped or failed).
    pub fn ended(&self) -> bool {
        self.em.ended
    }

    /// Tool calls emitted so far.
    pub fn calls(&self) -> usize {
        self.em.calls
    }

    /// The next ready item.
    pub fn pop(&mut self) -> Option<Result<StreamItem, AttemptError>> {
        self.em.out.pop_front()
    }

    /// One decoded line (or the line's decode error).
    pub fn line(&mut self, line: Result<GrokWebEvent<'_>, NdjsonError>) {
        if self.em.ended {
            return;
        }
        let ev = match line {
            Ok(ev) => ev,
            Err(e) => {
                self.fail(AttemptError::new(
                    FailureClass::Server,
                    format!("grok.com sent a malformed answer line: {e}"),
                ));
                return;
            }
        };
        let (assembler, markup, em) = (&mut self.assembler, &mut self.markup, &mut self.em);
        match ev {
            GrokWebEvent::Token { text, is_thinking, .. } => {
                assembler.on_token(&text, is_thinking, &mut |p| em.piece(p, markup));
            }
            GrokWebEvent::Final(f) => {
                if f.stream_errors.is_empty() {
                    assembler.on_final(&f.message, &mut |p| em.piece(p, markup));
                } else {
                    let msg = format!("grok.com reported an error in the answer: {}", f.stream_errors.join("; "));
                    self.fail(AttemptError::new(FailureClass::Server, msg));
                }
            }
            GrokWebEvent::Error(e) => {
                let c = classify_stream_error(&e);
                let mut err = AttemptError::new(c.class, format!("grok.com reported an error in the stream: {e}"));
                err.scope = c.scope;
                err.retry_after = c.retry_after;
                self.fail(err);
            }
            // Media progress belongs to the images step; conversation ids and echoes carry nothing.
            GrokWebEvent::Conversation { .. }
            | GrokWebEvent::ImageProgress(_)
            | GrokWebEvent::VideoProgress(_)
            | GrokWebEvent::Assets { .. }
            | GrokWebEvent::Ignored => {}
        }
    }

    /// The upstream body ended cleanly: flush, close, usage, stop.
    pub fn finish(&mut self) {
        if self.em.ended {
            return;
        }
        let (assembler, markup, em) = (&mut self.assembler, &mut self.markup, &mut self.em);
        assembler.finish(&mut |p| em.piece(p, markup));
        markup.finish(&mut |m| em.markup(m));
        em.start();
        em.close();
        let usage = Usage {
            input_tokens: em.input_tokens,
            output_tokens: u64::try_from((em.answer_bytes + em.thinking_bytes).div_ceil(4)).unwrap_or(u64::MAX),
            reasoning_tokens: u64::try_from(em.thinking_bytes.div_ceil(4)).unwrap_or(u64::MAX),
            ..Usage::default()
        };
        em.push(CanonicalEvent::Usage(usage));
        let reason = if em.calls > 0 { StopReason::ToolUse } else { StopReason::EndTurn };
        em.push(CanonicalEvent::Stop { reason, stop_sequence: None });
        em.ended = true;
    }

    /// Ends the answer with an error (after whatever is already queued).
    pub fn fail(&mut self, e: AttemptError) {
        if self.em.ended {
            return;
        }
        self.em.out.push_back(Err(e));
        self.em.ended = true;
    }
}

impl Emitter {
    fn push(&mut self, ev: CanonicalEvent) {
        self.out.push_back(Ok(StreamItem::Event(ev)));
    }

    fn start(&mut self) {
        if !self.started {
            self.started = true;
            let id = JsonStr::from_text(&crate::translate::new_message_id("msg_"));
            let model = self.model.clone();
            self.push(CanonicalEvent::MessageStart { id, model });
        }
    }

    fn close(&mut self) {
        if let Some((index, _)) = self.open.take() {
            self.push(CanonicalEvent::BlockStop { index });
        }
    }

    fn open(&mut self, kind: BlockKind) {
        self.start();
        if self.open.is_some_and(|(_, k)| k == kind) {
            return;
        }
        self.close();
        let index = self.next_index;
        self.next_index += 1;
        self.open = Some((index, kind));
        self.push(CanonicalEvent::BlockStart { index, kind });
    }

    fn piece(&mut self, p: TextPiece<'_>, markup: &mut ToolMarkupParser) {
        match p {
            TextPiece::Thinking(s) => {
                if s.is_empty() {
                    return;
                }
                self.open(BlockKind::Thinking);
                self.thinking_bytes += s.len();
                self.push(CanonicalEvent::ThinkingDelta(JsonStr::from_text(s)));
            }
            TextPiece::Answer(s) => markup.push(s, &mut |m| self.markup(m)),
        }
    }

    fn markup(&mut self, m: MarkupEvent<'_>) {
        match m {
            MarkupEvent::Text(t) => {
                if t.is_empty() {
                    return;
                }
                self.open(BlockKind::Text);
                self.answer_bytes += t.len();
                self.push(CanonicalEvent::TextDelta(JsonStr::from_text(t)));
            }
            MarkupEvent::ToolCall(call) => {
                self.start();
                self.close();
                let index = self.next_index;
                self.next_index += 1;
                self.calls += 1;
                self.answer_bytes += call.arguments.len() + call.name.len();
                let id = JsonStr::from_text(&crate::grok::ids::call_id());
                self.push(CanonicalEvent::ToolCallStart { index, id, name: JsonStr::from_text(&call.name) });
                self.push(CanonicalEvent::ToolArgsDelta(JsonStr::from_text(&call.arguments)));
                self.push(CanonicalEvent::BlockStop { index });
            }
            MarkupEvent::Invalid(e) => {
                log::warn!("grok.com answer: dropped an unusable <tool_call> block ({e})");
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::grok::ndjson::decode_line;

    fn run(lines: &[&str], policy: ToolPolicy) -> Vec<Result<StreamItem, AttemptError>> {
        let mut d = WebDecoder::new("grok-4.20-fast", policy, 10);
        for l in lines {
            d.line(decode_line(l.as_bytes()));
        }
        d.finish();
        std::iter::from_fn(|| d.pop()).collect()
    }

    fn events(items: &[Result<StreamItem, AttemptError>]) -> Vec<CanonicalEvent> {
        items
            .iter()
            .filter_map(|i| match i {
                Ok(StreamItem::Event(e)) => Some(e.clone()),
                _ => None,
            })
            .collect()
    }

    fn text(evs: &[CanonicalEvent], thinking: bool) -> String {
        evs.iter()
            .filter_map(|e| match e {
                CanonicalEvent::TextDelta(t) if !thinking => Some(t.unescape().into_owned()),
                CanonicalEvent::ThinkingDelta(t) if thinking => Some(t.unescape().into_owned()),
                _ => None,
            })
            .collect()
    }

    #[test]
    fn thinking_text_final_suffix_and_stop() {
        let items = run(
            &[
                r#"{"result":{"conversation":{"conversationId":"c-1"}}}"#,
                r#"{"result":{"response":{"token":"Let me think","isThinking":true}}}"#,
                r#"{"result":{"response":{"token":"Hello","isThinking":false}}}"#,
                r#"{"result":{"response":{"modelResponse":{"message":"Hello world"}}}}"#,
            ],
            ToolPolicy::default(),
        );
        let evs = events(&items);
        assert!(matches!(evs.first(), Some(CanonicalEvent::MessageStart { .. })));
        assert_eq!(text(&evs, true), "Let me think");
        assert_eq!(text(&evs, false), "Hello world");
        assert!(matches!(evs.last(), Some(CanonicalEvent::Stop { reason: StopReason::EndTurn, .. })));
        let starts = evs.iter().filter(|e| matches!(e, CanonicalEvent::BlockStart { .. })).count();
        let stops = evs.iter().filter(|e| matches!(e, CanonicalEvent::BlockStop { .. })).count();
        assert_eq!((starts, stops), (2, 2));
    }

    #[test]
    fn tool_markup_split_across_tokens_becomes_a_call() {
        let policy = ToolPolicy { declared: vec!["get_weather".into()], forced: None };
        let pieces = [
            "Sure. <to",
            "ol_call>{\"name\":\"get_w",
            "eather\",\"arguments\":{\"city\":\"Paris\"}}</tool",
            "_call> done",
        ];
        let lines: Vec<String> = pieces
            .iter()
            .map(|p| serde_json::json!({"result": {"response": {"token": p, "isThinking": false}}}).to_string())
            .collect();
        let refs: Vec<&str> = lines.iter().map(String::as_str).collect();
        let evs = events(&run(&refs, policy));
        assert_eq!(text(&evs, false), "Sure.  done");
        assert!(
            evs.iter()
                .any(|e| matches!(e, CanonicalEvent::ToolCallStart { name, .. } if name.unescape() == "get_weather"))
        );
        assert!(
            evs.iter().any(|e| matches!(e, CanonicalEvent::ToolArgsDelta(a) if a.unescape() == r#"{"city":"Paris"}"#))
        );
        assert!(matches!(evs.last(), Some(CanonicalEvent::Stop { reason: StopReason::ToolUse, .. })));
        assert!(!text(&evs, false).contains("tool_call"));
    }

    #[test]
    fn errors_end_the_stream() {
        let items = run(&[r#"{"result":{"response":{"token":"Hi"}}}"#, "not json"], ToolPolicy::default());
        assert!(matches!(items.last(), Some(Err(e)) if e.class == FailureClass::Server));
        let items = run(&[r#"{"error":{"code":"x","message":"boom"}}"#], ToolPolicy::default());
        assert_eq!(items.len(), 1, "an error first is the only item: {items:?}");
        assert!(items[0].is_err());
    }

    #[test]
    fn an_image_limit_in_the_stream_applies_to_the_account_and_model_only() {
        let items = run(&[r#"{"result":{"response":{"renderToolRateLimited":true}}}"#], ToolPolicy::default());
        let Some(Err(e)) = items.last() else { panic!("an error item: {items:?}") };
        assert_eq!((e.class, &e.scope), (FailureClass::RateLimit, &crate::pool::FailureScope::AccountModel));
    }
}

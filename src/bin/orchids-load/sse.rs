//! Reading a streamed answer as the load client sees it: a split-safe SSE line parser, the text
//! delta (or terminal / error event) of each frame in the OpenAI or Claude format, and a
//! verifier that checks the text arrives complete and in order against the simulator's known
//! token sequence — so a lost, duplicated or reordered chunk fails the stream.

use serde::Deserialize;
use std::borrow::Cow;

/// The client format of a lane.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Format {
    /// OpenAI Chat Completions (`data: {chunk}` … `data: [DONE]`).
    OpenAi,
    /// Claude Messages (`event: …` + `data: {…}` … `message_stop`).
    Claude,
}

/// What one SSE frame means to the verifier.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Frame<'a> {
    /// A non-empty text delta.
    Text(Cow<'a, str>),
    /// The stream's terminal event (`[DONE]` / `message_stop`).
    End,
    /// An error event (its raw data, shortened).
    Error(String),
    /// Anything else (role frames, block starts, usage, pings).
    Other,
}

#[derive(Deserialize)]
struct OaChunk<'a> {
    #[serde(borrow, default)]
    choices: Vec<OaChoice<'a>>,
    #[serde(default)]
    error: Option<serde::de::IgnoredAny>,
}

#[derive(Deserialize)]
struct OaChoice<'a> {
    #[serde(borrow, default)]
    delta: Option<OaDelta<'a>>,
}

#[derive(Deserialize)]
struct OaDelta<'a> {
    #[serde(borrow, default)]
    content: Option<Cow<'a, str>>,
}

#[derive(Deserialize)]
struct ClEvent<'a> {
    #[serde(rename = "type", borrow)]
    kind: Cow<'a, str>,
    #[serde(borrow, default)]
    delta: Option<ClDelta<'a>>,
}

#[derive(Deserialize)]
struct ClDelta<'a> {
    #[serde(borrow, default)]
    text: Option<Cow<'a, str>>,
}

fn short(data: &[u8]) -> String {
    String::from_utf8_lossy(data.get(..200).unwrap_or(data)).into_owned()
}

/// Classifies one frame's `data` payload.
pub(crate) fn classify(format: Format, data: &[u8]) -> Frame<'_> {
    match format {
        Format::OpenAi => {
            if data == b"[DONE]" {
                return Frame::End;
            }
            match serde_json::from_slice::<OaChunk<'_>>(data) {
                Ok(c) if c.error.is_some() => Frame::Error(short(data)),
                Ok(c) => {
                    let text = c.choices.into_iter().next().and_then(|ch| ch.delta).and_then(|d| d.content);
                    match text {
                        Some(t) if !t.is_empty() => Frame::Text(t),
                        _ => Frame::Other,
                    }
                }
                Err(_) => Frame::Error(format!("malformed frame: {}", short(data))),
            }
        }
        Format::Claude => match serde_json::from_slice::<ClEvent<'_>>(data) {
            Ok(e) if e.kind == "content_block_delta" => match e.delta.and_then(|d| d.text) {
                Some(t) if !t.is_empty() => Frame::Text(t),
                _ => Frame::Other,
            },
            Ok(e) if e.kind == "message_stop" => Frame::End,
            Ok(e) if e.kind == "error" => Frame::Error(short(data)),
            Ok(_) => Frame::Other,
            Err(_) => Frame::Error(format!("malformed frame: {}", short(data))),
        },
    }
}

/// Split-safe SSE parser: feed body pieces, get each complete event's `data` (multi-line data
/// joined with `\n`). Buffers are reused; no allocation per event once warm.
#[derive(Debug, Default)]
pub(crate) struct SseParser {
    line: Vec<u8>,
    data: Vec<u8>,
    has_data: bool,
}

impl SseParser {
    /// Forgets any partial line or event (a new stream).
    pub(crate) fn reset(&mut self) {
        self.line.clear();
        self.data.clear();
        self.has_data = false;
    }

    /// Consumes `input`; calls `on_event(data)` for every event it completes.
    pub(crate) fn feed(&mut self, mut input: &[u8], on_event: &mut impl FnMut(&[u8])) {
        while !input.is_empty() {
            let Some(nl) = memchr::memchr(b'\n', input) else {
                self.line.extend_from_slice(input);
                return;
            };
            let (head, rest) = input.split_at(nl);
            input = rest.get(1..).unwrap_or_default();
            if self.line.is_empty() {
                self.line_done(head, on_event);
            } else {
                let mut line = std::mem::take(&mut self.line);
                line.extend_from_slice(head);
                self.line_done(&line, on_event);
                line.clear();
                self.line = line;
            }
        }
    }

    fn line_done(&mut self, line: &[u8], on_event: &mut impl FnMut(&[u8])) {
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        if line.is_empty() {
            if self.has_data {
                on_event(&self.data);
            }
            self.data.clear();
            self.has_data = false;
            return;
        }
        if let Some(v) = line.strip_prefix(b"data:") {
            let v = v.strip_prefix(b" ").unwrap_or(v);
            if self.has_data {
                self.data.push(b'\n');
            }
            self.data.extend_from_slice(v);
            self.has_data = true;
        }
        // `event:`, `id:`, `retry:` and `:` comments carry nothing the verifier needs (Claude
        // events repeat their type inside the data).
    }
}

/// Checks a stream's text against the expected answer, piece by piece, without storing it.
#[derive(Debug)]
pub(crate) struct Verifier<'e> {
    expected: &'e str,
    pos: usize,
    pub(crate) frames: u64,
    pub(crate) ended: bool,
    pub(crate) problem: Option<String>,
}

impl<'e> Verifier<'e> {
    pub(crate) fn new(expected: &'e str) -> Self {
        Self { expected, pos: 0, frames: 0, ended: false, problem: None }
    }

    /// Takes one text delta; false once the text diverged (lost, duplicated or reordered).
    pub(crate) fn text(&mut self, t: &str) -> bool {
        self.frames += 1;
        if self.problem.is_some() {
            return false;
        }
        if self.ended {
            self.problem = Some("text after the terminal event".to_owned());
            return false;
        }
        let want = self.expected.get(self.pos..).unwrap_or_default();
        if want.starts_with(t) {
            self.pos += t.len();
            true
        } else {
            let got: String = t.chars().take(24).collect();
            let exp: String = want.chars().take(24).collect();
            self.problem = Some(format!("frame {} at byte {}: got {got:?}, expected {exp:?}", self.frames, self.pos));
            false
        }
    }

    /// The whole text arrived.
    pub(crate) fn complete(&self) -> bool {
        self.problem.is_none() && self.pos == self.expected.len()
    }

    /// Bytes of expected text still missing.
    pub(crate) fn missing(&self) -> usize {
        self.expected.len().saturating_sub(self.pos)
    }
}

/// The answer the simulator streams for `sim:tokens=N`.
pub(crate) fn expected_text(tokens: usize) -> String {
    (0..tokens).map(orchids2api::sim::grok::text::long_token).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn events(chunks: &[&[u8]]) -> Vec<String> {
        let mut p = SseParser::default();
        let mut out = Vec::new();
        for c in chunks {
            p.feed(c, &mut |d| {
                out.push(String::from_utf8_lossy(d).into_owned());
            });
        }
        out
    }

    #[test]
    fn parser_is_split_safe() {
        let whole: &[u8] = b"event: a\ndata: {\"x\":1}\n\n: ping\n\ndata: one\ndata: two\r\n\r\ndata: [DONE]\n\n";
        let want = vec!["{\"x\":1}".to_owned(), "one\ntwo".to_owned(), "[DONE]".to_owned()];
        assert_eq!(events(&[whole]), want);
        for cut in 1..whole.len() {
            let (a, b) = whole.split_at(cut);
            assert_eq!(events(&[a, b]), want, "cut at {cut}");
        }
        let bytes: Vec<&[u8]> = whole.chunks(1).collect();
        assert_eq!(events(&bytes), want);
    }

    #[test]
    fn frames_of_both_formats() {
        let oa = br#"{"id":"x","choices":[{"index":0,"delta":{"content":" lorem"},"finish_reason":null}]}"#;
        assert_eq!(classify(Format::OpenAi, oa), Frame::Text(Cow::Borrowed(" lorem")));
        let role = br#"{"choices":[{"index":0,"delta":{"role":"assistant","content":""}}]}"#;
        assert_eq!(classify(Format::OpenAi, role), Frame::Other);
        assert_eq!(classify(Format::OpenAi, b"[DONE]"), Frame::End);
        assert!(matches!(classify(Format::OpenAi, br#"{"error":{"message":"x"}}"#), Frame::Error(_)));
        assert!(matches!(classify(Format::OpenAi, b"{broken"), Frame::Error(_)));
        let esc = br#"{"choices":[{"delta":{"content":"a \"q\""}}]}"#;
        assert_eq!(classify(Format::OpenAi, esc), Frame::Text(Cow::Owned("a \"q\"".to_owned())));
        let cl = br#"{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"Token"}}"#;
        assert_eq!(classify(Format::Claude, cl), Frame::Text(Cow::Borrowed("Token")));
        assert_eq!(classify(Format::Claude, br#"{"type":"message_stop"}"#), Frame::End);
        assert_eq!(classify(Format::Claude, br#"{"type":"ping"}"#), Frame::Other);
        assert!(matches!(classify(Format::Claude, br#"{"type":"error","error":{}}"#), Frame::Error(_)));
    }

    #[test]
    fn verifier_catches_loss_and_reordering() {
        let exp = expected_text(20);
        let toks: Vec<&str> = (0..20).map(orchids2api::sim::grok::text::long_token).collect();
        let mut v = Verifier::new(&exp);
        assert!(toks.iter().all(|t| v.text(t)));
        assert!(v.complete());
        // Coalesced frames are fine.
        let mut v = Verifier::new(&exp);
        assert!(v.text(&toks[..3].concat()) && toks[3..].iter().all(|t| v.text(t)) && v.complete());
        // A lost frame.
        let mut v = Verifier::new(&exp);
        let lost: Vec<bool> = toks.iter().enumerate().filter(|(i, _)| *i != 5).map(|(_, t)| v.text(t)).collect();
        assert!(lost.contains(&false) && !v.complete());
        // Two frames swapped.
        let mut v = Verifier::new(&exp);
        let mut sw = toks.clone();
        sw.swap(7, 8);
        for t in &sw {
            v.text(t);
        }
        assert!(!v.complete() && v.problem.is_some());
        // Truncated.
        let mut v = Verifier::new(&exp);
        for t in &toks[..10] {
            v.text(t);
        }
        assert!(!v.complete() && v.missing() > 0);
    }
}

//! Turning grok.com token events into clean answer text (reference B.4, "Reconciling text").
//!
//! Key components:
//! - [`UiMarkupStripper`]: removes the web-UI blocks `<xai:tool_usage_card …>…</xai:tool_usage_card>`
//!   and `<grok:render …>…</grok:render>` from a stream of text pieces, however the pieces split
//!   the tags, including an unterminated trailing block. Text with no markup passes through as
//!   slices of the input (no copy).
//! - [`AnswerAssembler`]: routes thinking vs answer tokens through their own strippers and, when
//!   the final `modelResponse.message` arrives, emits only the part of it not yet streamed.
//!
//! The emitted prefix is tracked by length and an FNV-1a hash, not by keeping a copy of the text:
//! the final message's suffix is used only when its first `len` bytes hash to what was streamed,
//! otherwise the streamed tokens win and the final message adds nothing.

/// The web-UI markup blocks (opener prefix, closer).
const BLOCKS: [(&str, &str); 2] =
    [("<xai:tool_usage_card", "</xai:tool_usage_card>"), ("<grok:render", "</grok:render>")];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Strip {
    Text,
    /// Inside a block; the closer that ends it.
    Skip(&'static str),
}

/// Split-safe remover of the web-UI markup blocks.
#[derive(Debug, Clone)]
pub struct UiMarkupStripper {
    state: Strip,
    /// Held-back bytes: a possible opener prefix (in text) or closer prefix (in a block).
    pending: String,
}

impl Default for UiMarkupStripper {
    fn default() -> Self {
        Self { state: Strip::Text, pending: String::new() }
    }
}

impl UiMarkupStripper {
    pub fn new() -> Self {
        Self::default()
    }

    /// Feeds one piece; clean text goes to `sink` (never empty pieces).
    pub fn push(&mut self, piece: &str, sink: &mut impl FnMut(&str)) {
        if self.pending.is_empty() {
            self.run(piece, sink);
        } else {
            let mut buf = std::mem::take(&mut self.pending);
            buf.push_str(piece);
            self.run(&buf, sink);
        }
    }

    /// Ends the stream: a held-back partial opener is plain text; an open block is dropped.
    pub fn finish(&mut self, sink: &mut impl FnMut(&str)) {
        let pending = std::mem::take(&mut self.pending);
        if self.state == Strip::Text && !pending.is_empty() {
            sink(&pending);
        }
        self.state = Strip::Text;
    }

    fn run(&mut self, input: &str, sink: &mut impl FnMut(&str)) {
        let mut pos = 0;
        while pos < input.len() {
            let rest = input.get(pos..).unwrap_or_default();
            match self.state {
                Strip::Text => match find_opener(rest) {
                    Found::Full(i, closer, skip) => {
                        emit(sink, rest.get(..i));
                        self.state = Strip::Skip(closer);
                        pos += i + skip;
                    }
                    Found::Partial(i) => {
                        emit(sink, rest.get(..i));
                        self.pending.push_str(rest.get(i..).unwrap_or_default());
                        return;
                    }
                    Found::None => {
                        emit(sink, Some(rest));
                        return;
                    }
                },
                Strip::Skip(closer) => {
                    if let Some(i) = memchr::memmem::find(rest.as_bytes(), closer.as_bytes()) {
                        self.state = Strip::Text;
                        pos += i + closer.len();
                    } else {
                        let keep = partial_suffix(rest, &[closer]);
                        self.pending.push_str(rest.get(keep..).unwrap_or_default());
                        return;
                    }
                }
            }
        }
    }
}

fn emit(sink: &mut impl FnMut(&str), s: Option<&str>) {
    if let Some(s) = s.filter(|s| !s.is_empty()) {
        sink(s);
    }
}

enum Found {
    /// An opener at this offset: the closer to look for and the opener's length.
    Full(usize, &'static str, usize),
    /// A possible opener prefix runs to the end from this offset.
    Partial(usize),
    None,
}

fn find_opener(s: &str) -> Found {
    for i in memchr::memchr_iter(b'<', s.as_bytes()) {
        let tail = s.get(i..).unwrap_or_default();
        for (open, close) in BLOCKS {
            if tail.starts_with(open) {
                return Found::Full(i, close, open.len());
            }
            if tail.len() < open.len() && open.starts_with(tail) {
                return Found::Partial(i);
            }
        }
    }
    Found::None
}

/// Offset of the longest suffix of `s` that is a proper prefix of one of `tags` (all start with
/// `<`), or `s.len()` when none is.
pub(crate) fn partial_suffix(s: &str, tags: &[&str]) -> usize {
    let longest = tags.iter().map(|t| t.len()).max().unwrap_or(0);
    let start = s.len().saturating_sub(longest);
    for i in memchr::memchr_iter(b'<', s.as_bytes().get(start..).unwrap_or_default()) {
        let tail = s.get(start + i..).unwrap_or_default();
        if tags.iter().any(|t| tail.len() < t.len() && t.starts_with(tail)) {
            return start + i;
        }
    }
    s.len()
}

/// One piece of cleaned text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TextPiece<'s> {
    Thinking(&'s str),
    Answer(&'s str),
}

/// Reconciles streamed tokens with the final message and strips UI markup from both channels.
#[derive(Debug, Clone, Default)]
pub struct AnswerAssembler {
    answer: UiMarkupStripper,
    thinking: UiMarkupStripper,
    /// Bytes of raw (unstripped) answer tokens seen, and their FNV-1a hash.
    raw_len: usize,
    raw_hash: Fnv,
    final_seen: bool,
}

impl AnswerAssembler {
    pub fn new() -> Self {
        Self::default()
    }

    /// A `token` line.
    pub fn on_token(&mut self, text: &str, is_thinking: bool, sink: &mut impl FnMut(TextPiece<'_>)) {
        if is_thinking {
            self.thinking.push(text, &mut |s| sink(TextPiece::Thinking(s)));
        } else if !self.final_seen {
            self.raw_len += text.len();
            self.raw_hash.write(text.as_bytes());
            self.answer.push(text, &mut |s| sink(TextPiece::Answer(s)));
        }
    }

    /// `modelResponse.message`: emits the part beyond what the tokens already streamed (once).
    pub fn on_final(&mut self, message: &str, sink: &mut impl FnMut(TextPiece<'_>)) {
        if self.final_seen {
            return;
        }
        self.final_seen = true;
        if message.len() <= self.raw_len || !message.is_char_boundary(self.raw_len) {
            return;
        }
        let (head, tail) = message.split_at(self.raw_len);
        let mut h = Fnv::default();
        h.write(head.as_bytes());
        if h == self.raw_hash {
            self.raw_len = message.len();
            self.answer.push(tail, &mut |s| sink(TextPiece::Answer(s)));
        }
    }

    /// Whether the final message was seen.
    pub fn final_seen(&self) -> bool {
        self.final_seen
    }

    /// Ends the stream: flushes held-back text, drops unterminated markup blocks.
    pub fn finish(&mut self, sink: &mut impl FnMut(TextPiece<'_>)) {
        self.thinking.finish(&mut |s| sink(TextPiece::Thinking(s)));
        self.answer.finish(&mut |s| sink(TextPiece::Answer(s)));
    }
}

/// FNV-1a 64-bit running hash.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Fnv(u64);

impl Default for Fnv {
    fn default() -> Self {
        Self(0xcbf2_9ce4_8422_2325)
    }
}

impl Fnv {
    fn write(&mut self, bytes: &[u8]) {
        for b in bytes {
            self.0 ^= u64::from(*b);
            self.0 = self.0.wrapping_mul(0x0100_0000_01b3);
        }
    }
}

/// Strips UI markup from a whole text (non-streaming answers, tests).
pub fn strip_ui_markup(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut s = UiMarkupStripper::new();
    s.push(text, &mut |p| out.push_str(p));
    s.finish(&mut |p| out.push_str(p));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn strip_split(pieces: &[&str]) -> String {
        let mut out = String::new();
        let mut s = UiMarkupStripper::new();
        for p in pieces {
            s.push(p, &mut |x| out.push_str(x));
        }
        s.finish(&mut |x| out.push_str(x));
        out
    }

    #[test]
    fn strips_blocks_whole_and_split() {
        let text = "a<grok:render card_id=\"1\" type=\"x\">junk</grok:render>b<xai:tool_usage_card>\n<x/></xai:tool_usage_card>c";
        assert_eq!(strip_ui_markup(text), "abc");
        for cut in 0..text.len() {
            if text.is_char_boundary(cut) {
                assert_eq!(strip_split(&[&text[..cut], &text[cut..]]), "abc", "cut at {cut}");
            }
        }
        let bytes: Vec<String> = text.chars().map(String::from).collect();
        let refs: Vec<&str> = bytes.iter().map(String::as_str).collect();
        assert_eq!(strip_split(&refs), "abc");
    }

    #[test]
    fn unterminated_trailing_block_is_dropped_and_partial_opener_kept() {
        assert_eq!(strip_ui_markup("answer<grok:render type=\"x\">half"), "answer");
        assert_eq!(strip_split(&["answer <gro"]), "answer <gro");
        assert_eq!(strip_split(&["a < b and <x> ok"]), "a < b and <x> ok");
    }

    #[test]
    fn passthrough_borrows() {
        let mut s = UiMarkupStripper::new();
        let input = String::from("plain text");
        let mut seen = Vec::new();
        s.push(&input, &mut |x| seen.push(x.as_ptr()));
        assert_eq!(seen, [input.as_ptr()]);
    }

    #[test]
    fn assembler_adds_only_the_missing_suffix() {
        let mut a = AnswerAssembler::new();
        let mut out = Vec::new();
        let mut sink = |p: TextPiece<'_>| out.push(format!("{p:?}"));
        a.on_token("Let me think", true, &mut sink);
        a.on_token("Hello", false, &mut sink);
        a.on_final("Hello world", &mut sink);
        a.on_token(" late", false, &mut sink);
        a.finish(&mut sink);
        assert_eq!(out, ["Thinking(\"Let me think\")", "Answer(\"Hello\")", "Answer(\" world\")"]);
    }

    #[test]
    fn assembler_ignores_a_disagreeing_final() {
        let mut a = AnswerAssembler::new();
        let mut out = String::new();
        let mut sink = |p: TextPiece<'_>| {
            if let TextPiece::Answer(s) = p {
                out.push_str(s);
            }
        };
        a.on_token("Hello", false, &mut sink);
        a.on_final("Goodbye world", &mut sink);
        a.finish(&mut sink);
        assert_eq!(out, "Hello");
        let mut b = AnswerAssembler::new();
        let mut out2 = String::new();
        b.on_final("All at <grok:render>x</grok:render>once", &mut |p| {
            if let TextPiece::Answer(s) = p {
                out2.push_str(s);
            }
        });
        assert_eq!(out2, "All at once");
    }
}

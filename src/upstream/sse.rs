//! Incremental, split-safe `text/event-stream` parser (the WHATWG event-stream rules).
//!
//! Feed body chunks as they arrive ([`SseParser::feed`]); pull events ([`SseParser::next_event`])
//! that *borrow* the parser's buffer: `event`, `id` and a single-line `data` are slices of the
//! received bytes; multi-line `data` is joined with `\n` into one reused scratch buffer. Nothing
//! is allocated per event in the steady state and every byte is scanned once, whatever the read
//! boundaries (a `\r\n` or a UTF-8 character split across reads included: fields stay bytes
//! until the caller asks for text, by which time the event is complete).
//!
//! A caller that keeps events past the next call (the proxy queues frames for the re-framing
//! pipeline) takes them with [`SseParser::next_shared`] instead: the same fields as [`Bytes`]
//! that share the received buffer (no copy; only multi-line `data` is joined into a new one).
//! Once those are dropped the buffer is reclaimed for the next reads, so a steady stream
//! allocates nothing per event or per read either.
//!
//! A caller that holds the body as [`Bytes`] feeds it with [`SseParser::feed_shared`]: the
//! common blocks (below) are then sliced out of those bytes themselves, and only what they
//! cannot be taken from whole (a block split across reads, another layout) is copied into the
//! parser's buffer, up to the end of the block it needs. Bytes fed that way come after the
//! parser's buffer, so any mix of the two feeds and any split parse the same.
//!
//! Rules: lines end in LF, CRLF or CR; a blank line dispatches; `:` starts a comment; a field
//! without `:` has an empty value; one space after `:` is dropped; `data` lines accumulate;
//! `id` containing NUL is ignored; `retry` must be all digits; unknown fields are ignored; a
//! leading UTF-8 BOM is dropped. Blocks with no field at all (comments, heartbeats) produce no
//! event. An event larger than `max_event_bytes` is an error rather than unbounded growth.

use super::lines::LineBuf;
use bytes::{Buf, Bytes, BytesMut};
use std::ops::Range;

/// Event names handed out as static `Bytes` by [`SseParser::next_shared`] (every Anthropic
/// Messages event): no reference on the read buffer to take and drop per event.
fn known_event(name: &[u8]) -> Option<&'static [u8]> {
    Some(match name {
        b"content_block_delta" => b"content_block_delta",
        b"content_block_start" => b"content_block_start",
        b"content_block_stop" => b"content_block_stop",
        b"message_start" => b"message_start",
        b"message_delta" => b"message_delta",
        b"message_stop" => b"message_stop",
        b"ping" => b"ping",
        b"error" => b"error",
        _ => return None,
    })
}

/// The UTF-8 byte order mark a stream may start with (dropped).
const BOM: &[u8] = b"\xEF\xBB\xBF";

/// Default cap on one event (all its lines together).
pub const DEFAULT_MAX_EVENT_BYTES: usize = 16 * 1024 * 1024;

/// Why the stream cannot be parsed further.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SseError {
    /// One event grew past the limit without a blank line.
    EventTooLarge { limit: usize },
}

impl std::fmt::Display for SseError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::EventTooLarge { limit } => {
                write!(f, "server-sent event larger than {limit} bytes")
            }
        }
    }
}

impl std::error::Error for SseError {}

/// One dispatched event, borrowing the parser.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SseEvent<'a> {
    /// The `event` field, if the block had one.
    pub event: Option<&'a [u8]>,
    /// All `data` lines joined with `\n` (empty when there were none).
    pub data: &'a [u8],
    /// Whether the block had at least one `data` line.
    pub has_data: bool,
    pub id: Option<&'a [u8]>,
    pub retry: Option<u64>,
}

impl<'a> SseEvent<'a> {
    /// The event type, `message` when none was given.
    pub fn event_type(&self) -> &'a [u8] {
        self.event.unwrap_or(b"message")
    }

    /// The data as text; `Err` only for invalid UTF-8 in a complete event.
    pub fn data_str(&self) -> Result<&'a str, std::str::Utf8Error> {
        std::str::from_utf8(self.data)
    }
}

/// One dispatched event as shared slices of the received bytes ([`SseParser::next_shared`]).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct SharedEvent {
    /// The `event` field, if the block had one.
    pub event: Option<Bytes>,
    /// All `data` lines joined with `\n` (empty when there were none).
    pub data: Bytes,
    /// Whether the block had at least one `data` line.
    pub has_data: bool,
    pub id: Option<Bytes>,
    pub retry: Option<u64>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Bom {
    /// Still looking at the first bytes of the stream.
    Pending,
    Done,
}

/// The parser; one per response body.
#[derive(Debug)]
pub struct SseParser {
    lines: LineBuf,
    /// The block of the event last returned (kept so the event can borrow it).
    block: BytesMut,
    scratch: Vec<u8>,
    data: Vec<Range<usize>>,
    event: Option<Range<usize>>,
    id: Option<Range<usize>>,
    retry: Option<u64>,
    fields: bool,
    max_event_bytes: usize,
    bom: Bom,
    bom_buf: Vec<u8>,
    /// Bytes given by [`SseParser::feed_shared`] not yet looked at: they follow everything in
    /// `lines`, and blocks are sliced out of them while `lines` is clear.
    fresh: Bytes,
}

impl Default for SseParser {
    fn default() -> Self {
        Self::new(DEFAULT_MAX_EVENT_BYTES)
    }
}

impl SseParser {
    pub fn new(max_event_bytes: usize) -> Self {
        Self {
            lines: LineBuf::new(),
            block: BytesMut::new(),
            scratch: Vec::new(),
            data: Vec::new(),
            event: None,
            id: None,
            retry: None,
            fields: false,
            max_event_bytes,
            bom: Bom::Pending,
            bom_buf: Vec::new(),
            fresh: Bytes::new(),
        }
    }

    /// Appends a chunk of the body (copied into the parser's buffer).
    pub fn feed(&mut self, chunk: &[u8]) {
        self.spill_fresh();
        self.feed_copy(chunk);
    }

    /// Appends a chunk of the body that the caller holds as [`Bytes`]: blocks that lie whole in
    /// it are handed out by [`SseParser::next_shared`] as slices of it, without a copy.
    pub fn feed_shared(&mut self, mut chunk: Bytes) {
        if chunk.is_empty() {
            return;
        }
        if self.bom == Bom::Pending {
            // A first read long enough to tell has its BOM (if any) dropped in place.
            if !self.bom_buf.is_empty() || chunk.len() < BOM.len() {
                self.feed(&chunk);
                return;
            }
            if chunk.starts_with(BOM) {
                chunk.advance(BOM.len());
            }
            self.bom = Bom::Done;
        }
        // Two feeds without a look in between: the older bytes go to the buffer first.
        self.spill_fresh();
        self.fresh = chunk;
    }

    /// Moves every fresh byte into the line buffer (the borrowed API, the end of the stream,
    /// and a copying feed read only from there).
    fn spill_fresh(&mut self) {
        if !self.fresh.is_empty() {
            let fresh = std::mem::take(&mut self.fresh);
            self.lines.feed(&fresh);
        }
    }

    /// Moves fresh bytes into the line buffer up to the end of the first block they end (a
    /// blank line after an LF or CRLF line end), or all of them: what the buffer needs to finish
    /// the block it holds or to read a block of another layout. The rest stays fresh. (A stream
    /// whose lines end in a lone CR has no such cut: its reads are copied whole.)
    fn spill_block(&mut self) {
        let cut = block_end(&self.fresh).unwrap_or(self.fresh.len());
        let head = self.fresh.split_to(cut);
        self.lines.feed(&head);
    }

    fn feed_copy(&mut self, chunk: &[u8]) {
        if self.bom == Bom::Done {
            self.lines.feed(chunk);
            return;
        }
        self.bom_buf.extend_from_slice(chunk);
        if self.bom_buf.len() < BOM.len() && BOM.starts_with(&self.bom_buf) {
            return;
        }
        self.bom = Bom::Done;
        let head = std::mem::take(&mut self.bom_buf);
        self.lines.feed(head.strip_prefix(BOM).unwrap_or(&head));
    }

    /// The next complete event, if the input so far holds one.
    pub fn next_event(&mut self) -> Result<Option<SseEvent<'_>>, SseError> {
        self.spill_fresh();
        Ok(if self.complete()? { Some(self.dispatch()) } else { None })
    }

    /// [`SseParser::next_event`] as shared slices of the received bytes, for a caller that
    /// keeps the event (no copy; the parser keeps no reference to it).
    pub fn next_shared(&mut self) -> Result<Option<SharedEvent>, SseError> {
        loop {
            if self.lines.is_clear() {
                if let Some(e) = self.quick_fresh() {
                    return Ok(Some(e));
                }
                if self.fresh.is_empty() {
                    return Ok(None);
                }
                self.spill_block();
            }
            if let Some(e) = self.quick_shared() {
                return Ok(Some(e));
            }
            if self.complete()? {
                return Ok(Some(self.dispatch_shared()));
            }
            if self.fresh.is_empty() {
                return Ok(None);
            }
            // A buffer that only held comments is clear again: the fresh bytes are sliced.
            if !self.lines.is_clear() {
                self.spill_block();
            }
        }
    }

    /// The common block at the start of the fresh bytes, sliced out of them (the parser's
    /// buffer is clear, so they start a line).
    fn quick_fresh(&mut self) -> Option<SharedEvent> {
        let (event, data, len) = quick_block(&self.fresh)?;
        let block = self.fresh.split_to(len);
        Some(self.quick_event(block, 0, event, data))
    }

    /// The common block, `event: NAME\n` (optional) `data: PAYLOAD\n\n`, recognised whole
    /// at a block boundary without the line-by-line machinery. Anything else (other fields,
    /// comments, CR line ends, several data lines, an incomplete block) is left to it, and so
    /// is a partial line it has begun to scan (looking again from its start at every read
    /// would scan a long line once per read).
    fn quick_shared(&mut self) -> Option<SharedEvent> {
        if self.fields || self.lines.partial_scanned() {
            return None;
        }
        let unread = self.lines.unread()?;
        let (event, data, len) = quick_block(unread)?;
        // Finished lines before the block (comments) go with it.
        let lead = self.lines.bytes().len() - unread.len();
        let block = self.lines.take_unread(len).freeze();
        Some(self.quick_event(block, lead, event, data))
    }

    /// The event of a block [`quick_block`] recognised at `lead` bytes into `block`: a known
    /// name as a static `Bytes` (no reference on the block), another as a slice of it, and the
    /// data as the block narrowed.
    fn quick_event(
        &mut self,
        mut block: Bytes,
        lead: usize,
        event: Option<QuickName>,
        data: Range<usize>,
    ) -> SharedEvent {
        // Drop the block a borrowed event may have kept, so the buffer can be reclaimed.
        self.block = BytesMut::new();
        let event = event.map(|name| match name {
            QuickName::Delta => Bytes::from_static(DELTA_NAME),
            QuickName::Other(r) => name_at(&block, lead + r.start..lead + r.end),
        });
        block.truncate(lead + data.end);
        block.advance(lead + data.start);
        SharedEvent { event, data: block, has_data: true, id: None, retry: None }
    }

    /// Reads lines up to the end of the next event with fields; `false` when the input so far
    /// holds none.
    #[inline(always)]
    #[expect(
        clippy::inline_always,
        reason = "measured (benches/sse_parse.rs): out of line, the borrowed path loses ~20%"
    )]
    fn complete(&mut self) -> Result<bool, SseError> {
        loop {
            let Some(line) = self.lines.next_line() else {
                if self.lines.buffered() > self.max_event_bytes {
                    return Err(SseError::EventTooLarge { limit: self.max_event_bytes });
                }
                return Ok(false);
            };
            if line.is_empty() {
                if self.fields {
                    return Ok(true);
                }
                // A block of comments only: forget it.
                let _ = self.lines.take_consumed();
                continue;
            }
            self.field(line);
        }
    }

    /// At end of stream: the WHATWG rules discard an event without its blank line; this
    /// lenient variant dispatches it (servers that close right after their last `data:` line
    /// exist). Call it once after the last `feed`.
    pub fn finish(&mut self) -> Option<SseEvent<'_>> {
        self.spill_fresh();
        if self.complete_at_end() { Some(self.dispatch()) } else { None }
    }

    /// [`SseParser::finish`] as shared slices ([`SseParser::next_shared`]).
    pub fn finish_shared(&mut self) -> Option<SharedEvent> {
        self.spill_fresh();
        if self.complete_at_end() { Some(self.dispatch_shared()) } else { None }
    }

    fn complete_at_end(&mut self) -> bool {
        if self.bom == Bom::Pending {
            self.bom = Bom::Done;
            let head = std::mem::take(&mut self.bom_buf);
            self.lines.feed(&head);
        }
        while let Some(line) = self.lines.next_line().or_else(|| self.lines.finish_line()) {
            if line.is_empty() {
                if self.fields {
                    return true;
                }
                continue;
            }
            self.field(line);
        }
        self.fields
    }

    /// Bytes buffered and not yet returned as events.
    pub fn buffered(&self) -> usize {
        self.lines.buffered() + self.fresh.len()
    }

    fn field(&mut self, line: Range<usize>) {
        let bytes = self.lines.bytes();
        let Some(text) = bytes.get(line.clone()) else {
            return;
        };
        if text.first() == Some(&b':') {
            return;
        }
        let (name, value) = match memchr::memchr(b':', text) {
            Some(c) => {
                let mut v = line.start + c + 1;
                if bytes.get(v) == Some(&b' ') && v < line.end {
                    v += 1;
                }
                (text.get(..c).unwrap_or_default(), v..line.end)
            }
            None => (text, line.end..line.end),
        };
        match name {
            b"data" => {
                self.data.push(value);
                self.fields = true;
            }
            b"event" => {
                self.event = Some(value);
                self.fields = true;
            }
            b"id" if !bytes.get(value.clone()).unwrap_or_default().contains(&0) => {
                self.id = Some(value);
                self.fields = true;
            }
            b"retry" => {
                let v = bytes.get(value).unwrap_or_default();
                if !v.is_empty() && v.len() <= 19 && v.iter().all(u8::is_ascii_digit) {
                    self.retry = v.iter().try_fold(0u64, |a, d| a.checked_mul(10)?.checked_add(u64::from(d - b'0')));
                    self.fields = true;
                }
            }
            _ => {}
        }
    }

    /// Ends the event whose fields were read: its data as one range into `block` (`None` for
    /// multi-line data, joined into `scratch`), its other fields, and `has_data`.
    #[inline(always)]
    #[expect(
        clippy::inline_always,
        reason = "measured (benches/sse_parse.rs): out of line, the borrowed path loses ~20%"
    )]
    #[expect(clippy::type_complexity, reason = "one private hand-off between the two dispatch forms")]
    fn end_event(
        &mut self,
        block: &[u8],
    ) -> (Option<Range<usize>>, Option<Range<usize>>, Option<Range<usize>>, Option<u64>, bool) {
        let event = self.event.take();
        let id = self.id.take();
        let retry = self.retry.take();
        self.fields = false;
        let has_data = !self.data.is_empty();
        let single = match self.data.as_slice() {
            [] => Some(0..0),
            [one] => Some(one.clone()),
            many => {
                self.scratch.clear();
                for (i, r) in many.iter().enumerate() {
                    if i > 0 {
                        self.scratch.push(b'\n');
                    }
                    self.scratch.extend_from_slice(block.get(r.clone()).unwrap_or_default());
                }
                None
            }
        };
        // The range vector keeps its allocation for the next event.
        self.data.clear();
        (single, event, id, retry, has_data)
    }

    #[inline(always)]
    #[expect(
        clippy::inline_always,
        reason = "measured (benches/sse_parse.rs): out of line, the borrowed path loses ~20%"
    )]
    fn dispatch(&mut self) -> SseEvent<'_> {
        let block = self.lines.take_consumed();
        let (single, event, id, retry, has_data) = self.end_event(&block);
        self.block = block;
        let block: &[u8] = &self.block;
        let data: &[u8] = match single {
            Some(r) => block.get(r).unwrap_or_default(),
            None => &self.scratch,
        };
        SseEvent { event: event.and_then(|r| block.get(r)), data, has_data, id: id.and_then(|r| block.get(r)), retry }
    }

    fn dispatch_shared(&mut self) -> SharedEvent {
        // Drop the block a borrowed event may have kept, so the buffer can be reclaimed.
        self.block = BytesMut::new();
        let block = self.lines.take_consumed().freeze();
        let (single, event, id, retry, has_data) = self.end_event(&block);
        let event = event.map(|r| name_at(&block, r));
        let id = id.map(|r| slice_within(&block, r));
        let data = match single {
            Some(r) if r.is_empty() => Bytes::new(),
            // The data is the block itself, narrowed (no reference count taken).
            Some(r) if r.end <= block.len() => {
                let mut data = block;
                data.truncate(r.end);
                data.advance(r.start);
                data
            }
            Some(_) => Bytes::new(),
            None => Bytes::copy_from_slice(&self.scratch),
        };
        SharedEvent { event, data, has_data, id, retry }
    }
}

/// A slice of `block` (a second reference), empty when `r` is not within it.
#[inline]
fn slice_within(block: &Bytes, r: Range<usize>) -> Bytes {
    if block.get(r.clone()).is_some() { block.slice(r) } else { Bytes::new() }
}

/// The event name at `r` in `block`: a known name as a static `Bytes` (no reference on the
/// block), another as a slice of it.
#[inline]
fn name_at(block: &Bytes, r: Range<usize>) -> Bytes {
    match block.get(r.clone()).and_then(known_event) {
        Some(name) => Bytes::from_static(name),
        None => slice_within(block, r),
    }
}

/// The name of most events of a Claude stream, recognised whole by [`quick_block`].
const DELTA_NAME: &[u8] = b"content_block_delta";
/// Its line.
const DELTA_LINE: &[u8] = b"event: content_block_delta\n";

/// The event name of a block [`quick_block`] recognised.
#[derive(Debug, Clone, PartialEq, Eq)]
enum QuickName {
    /// `event: content_block_delta` with an LF (no search for the line's end, no name lookup).
    Delta,
    /// Any other name, where it stands.
    Other(Range<usize>),
}

/// Where the first block of `b` ends: just after the first LF that another LF or a CRLF
/// follows (the block's blank line). Steps from line end to line end, so it reads about one
/// block, where a substring search for each of the two endings read a whole LF-only read for
/// the CRLF one it never found (and set up a searcher per call).
fn block_end(b: &[u8]) -> Option<usize> {
    let mut from = 0;
    loop {
        let at = from + memchr::memchr(b'\n', b.get(from..)?)? + 1;
        match b.get(at..) {
            Some([b'\n', ..]) => return Some(at + 1),
            Some([b'\r', b'\n', ..]) => return Some(at + 2),
            _ => from = at,
        }
    }
}

/// `event: NAME` (optional) then `data: PAYLOAD` and a blank line at the start of `b`, lines
/// ending in LF or CRLF: the name (or where it stands), the payload's range and the block's
/// length. `None` for any other layout or an incomplete block (a lone CR, or a CR that may be
/// half of a CRLF, takes the general path).
fn quick_block(b: &[u8]) -> Option<(Option<QuickName>, Range<usize>, usize)> {
    const EVENT: &[u8] = b"event: ";
    const DATA: &[u8] = b"data: ";
    // The line end at or after `from`: where the line's content ends and the next line starts.
    let line_end = |from: usize| -> Option<(usize, usize)> {
        let end = from + memchr::memchr2(b'\r', b'\n', b.get(from..)?)?;
        match b.get(end..end + 2)? {
            [b'\n', _] => Some((end, end + 1)),
            [b'\r', b'\n'] => Some((end, end + 2)),
            _ => None,
        }
    };
    let (event, at) = if b.starts_with(DELTA_LINE) {
        (Some(QuickName::Delta), DELTA_LINE.len())
    } else if b.starts_with(EVENT) {
        let (end, next) = line_end(EVENT.len())?;
        (Some(QuickName::Other(EVENT.len()..end)), next)
    } else {
        (None, 0)
    };
    if !b.get(at..)?.starts_with(DATA) {
        return None;
    }
    let start = at + DATA.len();
    let (end, next) = line_end(start)?;
    match b.get(next..)? {
        [b'\n', ..] => Some((event, start..end, next + 1)),
        [b'\r', b'\n', ..] => Some((event, start..end, next + 2)),
        _ => None,
    }
}

/// Parses `input` fed in the given pieces as shared reads ([`SseParser::feed_shared`]), every
/// event taken with [`SseParser::next_shared`], then the lenient trailing one: the same events
/// as [`parse_all`] (the fuzz target and the tests compare them).
pub fn parse_all_shared<'a>(
    pieces: impl IntoIterator<Item = &'a [u8]>,
    max_event_bytes: usize,
) -> Result<Vec<OwnedEvent>, SseError> {
    parse_pieces(pieces, max_event_bytes, true)
}

impl SharedEvent {
    /// The event as the borrowed form gives it.
    pub fn borrowed(&self) -> SseEvent<'_> {
        SseEvent {
            event: self.event.as_deref(),
            data: &self.data,
            has_data: self.has_data,
            id: self.id.as_deref(),
            retry: self.retry,
        }
    }
}

impl From<SharedEvent> for OwnedEvent {
    fn from(e: SharedEvent) -> Self {
        e.borrowed().into()
    }
}

/// An owned copy of an event (tests, fuzzing, the rare caller that must keep one).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OwnedEvent {
    pub event: Option<Vec<u8>>,
    pub data: Vec<u8>,
    pub has_data: bool,
    pub id: Option<Vec<u8>>,
    pub retry: Option<u64>,
}

impl From<SseEvent<'_>> for OwnedEvent {
    fn from(e: SseEvent<'_>) -> Self {
        Self {
            event: e.event.map(<[u8]>::to_vec),
            data: e.data.to_vec(),
            has_data: e.has_data,
            id: e.id.map(<[u8]>::to_vec),
            retry: e.retry,
        }
    }
}

/// Parses `input` fed in the given pieces; every event, then the lenient trailing one.
pub fn parse_all<'a>(
    pieces: impl IntoIterator<Item = &'a [u8]>,
    max_event_bytes: usize,
) -> Result<Vec<OwnedEvent>, SseError> {
    parse_pieces(pieces, max_event_bytes, false)
}

/// [`parse_all`] (copied feeds, borrowed events) or, when `shared`, [`parse_all_shared`].
fn parse_pieces<'a>(
    pieces: impl IntoIterator<Item = &'a [u8]>,
    max_event_bytes: usize,
    shared: bool,
) -> Result<Vec<OwnedEvent>, SseError> {
    let mut p = SseParser::new(max_event_bytes);
    let mut out = Vec::new();
    for piece in pieces {
        if shared {
            p.feed_shared(Bytes::copy_from_slice(piece));
            while let Some(e) = p.next_shared()? {
                out.push(e.into());
            }
        } else {
            p.feed(piece);
            while let Some(e) = p.next_event()? {
                out.push(e.into());
            }
        }
    }
    let last = if shared { p.finish_shared().map(OwnedEvent::from) } else { p.finish().map(OwnedEvent::from) };
    out.extend(last);
    Ok(out)
}

#[cfg(test)]
mod tests;

//! Byte writers the encoders share (integers: `util::decimal`): JSON strings from [`JsonStr`]
//! (copied, never re-escaped) or from plain text (escaped), SSE framing. All write into a
//! caller-owned `BytesMut`, so a warm encoder allocates nothing per event.

use super::canonical::JsonStr;
use bytes::{BufMut, BytesMut};

/// Appends `"…"` from already-escaped content.
pub fn jstr<B: BufMut>(out: &mut B, s: &JsonStr) {
    out.put_u8(b'"');
    out.put_slice(s.escaped());
    out.put_u8(b'"');
}

/// Appends `"…"` escaping plain text.
pub fn text(out: &mut BytesMut, s: &str) {
    crate::util::json::push_str(out, s);
}

/// Starts an SSE event with an `event:` line and opens its `data:` line.
pub fn sse_open(out: &mut BytesMut, event: &str) {
    out.put_slice(b"event: ");
    out.put_slice(event.as_bytes());
    out.put_slice(b"\ndata: ");
}

/// Opens a bare `data:` line.
pub fn data_open<B: BufMut>(out: &mut B) {
    out.put_slice(b"data: ");
}

/// Ends the current `data:` line and the event.
pub fn sse_close<B: BufMut>(out: &mut B) {
    out.put_slice(b"\n\n");
}

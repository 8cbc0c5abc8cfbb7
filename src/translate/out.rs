//! Byte writers the encoders share: integers without `fmt`, JSON strings from [`JsonStr`]
//! (copied, never re-escaped) or from plain text (escaped), SSE framing. All write into a
//! caller-owned `BytesMut`, so a warm encoder allocates nothing per event.

use super::canonical::JsonStr;
use bytes::{BufMut, BytesMut};

/// Appends a decimal integer.
pub fn u64_<B: BufMut>(out: &mut B, mut n: u64) {
    if let Ok(d) = u8::try_from(n) {
        if d < 10 {
            // Block and tool indices: almost always one digit.
            out.put_u8(b'0' + d);
            return;
        }
    }
    let mut tmp = [0u8; 20];
    let mut i = tmp.len();
    loop {
        i -= 1;
        if let Some(slot) = tmp.get_mut(i) {
            // n % 10 < 10, so the cast is exact.
            *slot = b'0' + u8::try_from(n % 10).unwrap_or(0);
        }
        n /= 10;
        if n == 0 || i == 0 {
            break;
        }
    }
    out.put_slice(tmp.get(i..).unwrap_or_default());
}

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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn integers() {
        for n in [0u64, 7, 10, 1_234_567_890, u64::MAX] {
            let mut b = BytesMut::new();
            u64_(&mut b, n);
            assert_eq!(&b[..], n.to_string().as_bytes());
        }
    }
}

//! Server-side SSE framing and the producer half of a streamed response.
//!
//! A handler that streams creates [`channel`], returns `Response::sse(rx)`, and spawns a task
//! that writes frames with [`SseSender::send`]. The connection loop writes each frame as it comes
//! (one flush per event), so the producer never touches the socket. When the client goes away the
//! receiver is dropped: the next `send` fails with [`ClientGone`], and [`SseSender::closed`]
//! completes (a producer waiting on a silent upstream selects on it). Either way the producer
//! stops and drops its upstream request with it.

use super::sse_queue;
use bytes::{BufMut, Bytes, BytesMut};

/// The client disconnected (or the server is closing the connection).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClientGone;

/// Producer half of an SSE response.
#[derive(Debug, Clone)]
pub struct SseSender {
    tx: sse_queue::Sender,
}

/// Creates a stream with room for `capacity` queued frames (backpressure beyond that), on the
/// worker's own queue ([`sse_queue`]).
pub fn channel(capacity: usize) -> (SseSender, sse_queue::Receiver) {
    let (tx, rx) = sse_queue::queue(capacity);
    (SseSender { tx }, rx)
}

impl SseSender {
    /// Queues one complete frame; waits when the client is slower than the producer.
    pub async fn send(&self, frame: Bytes) -> Result<(), ClientGone> {
        self.tx.send(frame).await.map_err(|_| ClientGone)
    }

    /// Queues one complete frame if there is room now; the frame back when there is none or the
    /// client is gone. A producer queues its first frame with it before it returns the
    /// response, so the connection writes the head and that frame at once.
    pub fn try_send(&self, frame: Bytes) -> Result<(), Bytes> {
        self.tx.try_send(frame)
    }

    /// Frames and queues one event.
    pub async fn event(&self, event: Option<&str>, data: &[u8]) -> Result<(), ClientGone> {
        let mut buf = BytesMut::with_capacity(data.len() + 32);
        write_event(&mut buf, event, data);
        self.send(buf.freeze()).await
    }

    /// Completes once the client side is gone (the connection dropped its receiver). A producer
    /// waiting on a silent upstream races this, so a client that leaves is noticed at once,
    /// not at the next frame.
    pub async fn closed(&self) {
        self.tx.closed().await;
    }

    /// True once the client side is gone.
    pub fn is_closed(&self) -> bool {
        self.tx.is_closed()
    }
}

/// Appends one SSE event: optional `event:` line, one `data:` line per line of `data`, blank line.
pub fn write_event(out: &mut BytesMut, event: Option<&str>, data: &[u8]) {
    if let Some(name) = event {
        out.put_slice(b"event: ");
        out.put_slice(name.as_bytes());
        out.put_u8(b'\n');
    }
    for line in data.split(|b| *b == b'\n') {
        out.put_slice(b"data: ");
        out.put_slice(line.strip_suffix(b"\r").unwrap_or(line));
        out.put_u8(b'\n');
    }
    out.put_u8(b'\n');
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_multiline_data() {
        let mut b = BytesMut::new();
        write_event(&mut b, Some("message_start"), b"{\"a\":1}");
        write_event(&mut b, None, b"one\ntwo");
        assert_eq!(&b[..], b"event: message_start\ndata: {\"a\":1}\n\ndata: one\ndata: two\n\n");
    }
}

//! Feeding input to the HTTP parsers in pieces, as the server's read loop does: one place for
//! the "same verdict however the bytes are split" checks that the property tests
//! (`tests/prop_http.rs`) and the fuzz targets (`fuzz/fuzz_targets/http_*.rs`) share.
//!
//! Cut points are byte offsets into `data` (sorted, each `<= data.len()`); out-of-range or
//! unsorted cuts are clamped, never a panic.

use super::chunked::{Chunk, ChunkedDecoder, ChunkedError};
use super::head::{HeadError, HeadLimits, RequestHead, parse_request_head};
use bytes::BytesMut;

/// A head parse verdict: a head, "need more", or the error.
pub type HeadVerdict = Result<Option<RequestHead>, HeadError>;

/// The pieces of `data` ending at `cuts`, then the rest.
fn pieces<'a>(data: &'a [u8], cuts: &'a [usize]) -> impl Iterator<Item = (&'a [u8], usize)> + 'a {
    let mut from = 0;
    cuts.iter().copied().chain(std::iter::once(data.len())).map(move |cut| {
        let cut = cut.clamp(from, data.len());
        let piece = data.get(from..cut).unwrap_or_default();
        from = cut;
        (piece, cut)
    })
}

/// Parses after each piece until a verdict. For a parsed head, also returns what is left in the
/// buffer once every byte is in.
pub fn feed_head(data: &[u8], cuts: &[usize], limits: HeadLimits) -> (HeadVerdict, Option<Vec<u8>>) {
    let mut buf = BytesMut::new();
    for (piece, end) in pieces(data, cuts) {
        buf.extend_from_slice(piece);
        match parse_request_head(&mut buf, limits) {
            Ok(None) => {}
            Ok(Some(head)) => {
                buf.extend_from_slice(data.get(end..).unwrap_or_default());
                return (Ok(Some(head)), Some(buf.to_vec()));
            }
            Err(e) => return (Err(e), None),
        }
    }
    (Ok(None), None)
}

/// What a chunked body fed in pieces came to.
#[derive(Debug, PartialEq, Eq)]
pub struct Decoded {
    pub body: Vec<u8>,
    /// `Ok(true)`: complete; `Ok(false)`: needs more.
    pub verdict: Result<bool, ChunkedError>,
    /// Bytes after the body (only once complete).
    pub leftover: Vec<u8>,
    /// Whether the decoder ever yielded an empty `Data` chunk (it never should).
    pub empty_data: bool,
}

/// Drains the decoder after each piece.
pub fn feed_chunked(data: &[u8], cuts: &[usize]) -> Decoded {
    let mut dec = ChunkedDecoder::new();
    let mut buf = BytesMut::new();
    let mut out = Decoded { body: Vec::new(), verdict: Ok(false), leftover: Vec::new(), empty_data: false };
    for (piece, end) in pieces(data, cuts) {
        buf.extend_from_slice(piece);
        loop {
            match dec.decode(&mut buf) {
                Ok(Chunk::Data(d)) => {
                    out.empty_data |= d.is_empty();
                    out.body.extend_from_slice(&d);
                }
                Ok(Chunk::NeedMore) => break,
                Ok(Chunk::Done) => {
                    buf.extend_from_slice(data.get(end..).unwrap_or_default());
                    out.verdict = Ok(true);
                    out.leftover = buf.to_vec();
                    return out;
                }
                Err(e) => {
                    out.verdict = Err(e);
                    return out;
                }
            }
        }
    }
    out
}

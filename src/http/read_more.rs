//! One socket read appended to a `BytesMut`'s spare capacity: the read every buffered reader of
//! a plain stream uses (the server's connection loop, the grok simulator, the load client).
//!
//! monoio reads into a `BytesMut` from its *start* (its write pointer is the base pointer, and
//! `set_init` only ever grows `len`), so reading into the buffer itself overwrote whatever was
//! already buffered: a head or body that arrived in two reads was corrupted. Reading through a
//! slice that begins at `len` appends instead.

use bytes::BytesMut;
use monoio::buf::IoBufMut;
use monoio::io::AsyncReadRent;

/// Reads once into `buf` after what it holds, first growing it by `chunk` when less than half
/// of that is spare. The buffer comes back whatever the result.
pub async fn read_more<R: AsyncReadRent>(
    stream: &mut R,
    mut buf: BytesMut,
    chunk: usize,
) -> (std::io::Result<usize>, BytesMut) {
    if buf.capacity() - buf.len() < chunk / 2 {
        buf.reserve(chunk);
    }
    let len = buf.len();
    let (r, slice) = stream.read(buf.slice_mut(len..)).await;
    (r, slice.into_inner())
}

//! The HTTP/1.1 layer: head parsing (httparse for requests, `head_lines` for answers),
//! chunked bodies, the server connection loop, path parameters, responses and error bodies, and the
//! SSE writer with its producer-to-connection queue.
//! The upstream client, which shares `head_lines` and `headers`, lives in `crate::upstream`.

pub mod chunked;
pub mod head;
pub mod head_lines;
pub mod headers;
pub mod path_params;
pub mod read_more;
pub mod request;
pub mod response;
pub mod server;
pub mod split_feed;
pub mod sse_queue;
pub mod sse_writer;

pub use request::Request;
pub use response::{Body, ErrorFlavor, Response};

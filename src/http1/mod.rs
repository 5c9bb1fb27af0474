//! The HTTP/1.1 codec, sans-IO: pure functions and state machines over bytes, with
//! no runtime or socket in sight (DESIGN.md §3), so every rule is unit-tested and
//! fuzzed without a connection.
//!
//! Where each piece sits in a worker's data path:
//!
//! ```text
//! client bytes ─► request::parse_request_head ─► (route, handler)
//!              ─► body::BodyDecoder (Length | chunked::ChunkedDecoder) ─► upstream
//! upstream bytes ─► response::parse_response_head ─► headers::is_hop_by_hop
//!              ─► write::* + status::reason_phrase + date::DateCache ─► client
//! ```
//!
//! Framing is strict (RFC 9112 §6, nginx's choices where the RFC allows several):
//! conflicting or repeated `Content-Length`, `Content-Length` with
//! `Transfer-Encoding`, any `Transfer-Encoding` but `chunked`, obs-fold, whitespace
//! before a colon, bare CR, control bytes and missing or repeated `Host` are refused
//! before anything is forwarded. Bare LF line endings in heads and runs of SP in the
//! request line are accepted, as nginx accepts them (RFC 9112 §2.2 and §3 allow it);
//! inside chunked bodies only CRLF is. Every buffer and loop has a named limit
//! ([`HeadLimits`], [`UpstreamHeadLimits`], [`chunked::MAX_CHUNK_SIZE_LINE`], ...).

pub mod body;
pub mod browser;
pub mod chunked;
pub mod date;
pub mod error;
pub mod forwarded;
pub mod head;
pub mod header_name;
pub mod headers;
pub mod host;
pub mod method;
pub mod request;
mod request_line;
pub mod response;
pub mod status;
pub mod value;
pub mod write;

pub use body::{BodyChunk, BodyDecoder};
pub use chunked::{Chunk, ChunkedDecoder, ChunkedEncoder};
pub use date::DateCache;
pub use error::{
    BodyError, ChunkError, HeadError, HeaderDefect, RequestLineDefect, UpstreamHeadError,
};
pub use head::{Header, Version};
pub use header_name::HeaderNameRules;
pub(crate) use host::is_valid_host;
pub use method::Method;
pub use request::{parse_request_head, HeadLimits, RequestFraming, RequestHead};
pub(crate) use request_line::parse_target;
pub use response::{parse_response_head, ResponseFraming, ResponseHead, UpstreamHeadLimits};
pub use status::reason_phrase;
pub use value::HeaderValue;

//! Errors of the HTTP/1.1 codec, one type per concern: a bad request head from a
//! client ([`HeadError`]), a bad response head from an upstream ([`UpstreamHeadError`]),
//! a bad chunked body ([`ChunkError`]) and a body that ends early ([`BodyError`]).
//!
//! Each `reason()` is the text nginx writes to its error log for the same fault, so a
//! user searching for the message finds the nginx answer too; `Display` adds what was
//! wrong in detail. The connection layer answers a [`HeadError`] with `status()` and
//! closes the connection (DESIGN.md §3: nothing ambiguous is forwarded).

use std::fmt;

use super::method::Method;

/// The error page title nginx uses for its internal status 494, which it sends as a
/// `400 Bad Request` status line.
pub const HEADER_TOO_LARGE_TITLE: &str = "Request Header Or Cookie Too Large";

/// A client's request head that must not be served. Every variant ends the
/// connection after the error response.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HeadError {
    /// The method is not a run of `A-Z`, `_` or `-` (nginx's rule, stricter than the
    /// RFC 9110 §9.1 token so that lowercase methods are refused as Gunicorn refuses them).
    #[error("client sent invalid method")]
    InvalidMethod,
    /// The request line is malformed (RFC 9112 §3).
    #[error("client sent invalid request ({0})")]
    InvalidRequestLine(RequestLineDefect),
    /// The request line names an HTTP major version other than 1 (RFC 9110 §15.6.6).
    #[error("client sent invalid version (HTTP/{major}.x is not supported; vestibule speaks HTTP/1.0 and HTTP/1.1)")]
    UnsupportedVersion { major: u32 },
    /// The request line, with any empty lines before it, does not fit in
    /// `large_client_header_buffers`' size.
    #[error("client sent too long URI (the request line is longer than {limit} bytes; raise the size in \"large_client_header_buffers\")")]
    UriTooLong { limit: usize },
    /// A header line could not be parsed (RFC 9112 §5).
    #[error("client sent invalid header line (line {line}: {defect})")]
    InvalidHeaderLine { line: usize, defect: HeaderDefect },
    /// One header line does not fit in `large_client_header_buffers`' size.
    #[error("client sent too long header line (line {line} is longer than {limit} bytes; raise the size in \"large_client_header_buffers\")")]
    HeaderLineTooLong { line: usize, limit: usize },
    /// The whole head is larger than the header buffers together.
    #[error("client sent too large request (the request head is longer than {limit} bytes; raise \"large_client_header_buffers\")")]
    HeadTooLarge { limit: usize },
    /// More header lines than the parser has slots for.
    #[error("client sent too many header lines (more than {limit})")]
    TooManyHeaders { limit: usize },
    /// An HTTP/1.1 request without `Host` (RFC 9112 §3.2).
    #[error("client sent HTTP/1.1 request without \"Host\" header")]
    MissingHost,
    /// More than one `Host` line (RFC 9112 §3.2).
    #[error("client sent duplicate host header")]
    DuplicateHost,
    /// A `Host` value that is not a valid `uri-host [ ":" port ]` (RFC 9110 §7.2).
    #[error("client sent invalid host header (\"{value}\")")]
    InvalidHost { value: String },
    /// The authority of an absolute-form target is not a valid host (RFC 9112 §3.2.2).
    #[error("client sent invalid host in request line (\"{value}\")")]
    InvalidHostInRequestLine { value: String },
    /// A header that must appear once appeared again, even with the same value
    /// (`Content-Length`, `Transfer-Encoding`), as nginx refuses it.
    #[error("client sent duplicate header line (\"{name}\" appears more than once)")]
    DuplicateHeader { name: String },
    /// `Content-Length` is not `1*DIGIT` or is larger than nginx's `off_t` (RFC 9110 §8.6).
    #[error("client sent invalid \"Content-Length\" header (\"{value}\")")]
    InvalidContentLength { value: String },
    /// Both framings at once: the classic request smuggling vector (RFC 9112 §6.3).
    #[error("client sent \"Content-Length\" and \"Transfer-Encoding\" headers at the same time")]
    ContentLengthWithTransferEncoding,
    /// `Transfer-Encoding` in an HTTP/1.0 request (RFC 9112 §6.1).
    #[error("client sent HTTP/1.0 request with \"Transfer-Encoding\" header")]
    TransferEncodingOnHttp10,
    /// A `Transfer-Encoding` other than exactly `chunked` (RFC 9112 §6.1, nginx).
    #[error(
        "client sent unknown \"Transfer-Encoding\": \"{value}\" (only \"chunked\" is supported)"
    )]
    UnknownTransferEncoding { value: String },
    /// CONNECT and TRACE are refused as nginx refuses them.
    #[error("client sent {method} method")]
    MethodNotAllowed { method: Method },
}

impl HeadError {
    /// The response status: 400, 405, 414, 501 or 505.
    pub fn status(&self) -> u16 {
        match self {
            Self::UriTooLong { .. } => 414,
            Self::UnsupportedVersion { .. } => 505,
            Self::UnknownTransferEncoding { .. } => 501,
            Self::MethodNotAllowed { .. } => 405,
            _ => 400,
        }
    }

    /// nginx's error-log text for this fault, without the detail `Display` adds.
    pub fn reason(&self) -> &'static str {
        match self {
            Self::InvalidMethod => "client sent invalid method",
            Self::InvalidRequestLine(_) => "client sent invalid request",
            Self::UnsupportedVersion { .. } => "client sent invalid version",
            Self::UriTooLong { .. } => "client sent too long URI",
            Self::InvalidHeaderLine { .. } => "client sent invalid header line",
            Self::HeaderLineTooLong { .. } => "client sent too long header line",
            Self::HeadTooLarge { .. } => "client sent too large request",
            Self::TooManyHeaders { .. } => "client sent too many header lines",
            Self::MissingHost => "client sent HTTP/1.1 request without \"Host\" header",
            Self::DuplicateHost => "client sent duplicate host header",
            Self::InvalidHost { .. } => "client sent invalid host header",
            Self::InvalidHostInRequestLine { .. } => "client sent invalid host in request line",
            Self::DuplicateHeader { .. } => "client sent duplicate header line",
            Self::InvalidContentLength { .. } => "client sent invalid \"Content-Length\" header",
            Self::ContentLengthWithTransferEncoding => {
                "client sent \"Content-Length\" and \"Transfer-Encoding\" headers at the same time"
            }
            Self::TransferEncodingOnHttp10 => {
                "client sent HTTP/1.0 request with \"Transfer-Encoding\" header"
            }
            Self::UnknownTransferEncoding { .. } => "client sent unknown \"Transfer-Encoding\"",
            Self::MethodNotAllowed { method } => match method {
                Method::Trace => "client sent TRACE method",
                _ => "client sent CONNECT method",
            },
        }
    }

    /// The title of the error page: nginx's "Request Header Or Cookie Too Large" for
    /// the oversized-header faults (its status 494, sent as 400), else `None` for the
    /// status's own reason phrase.
    pub fn page_title(&self) -> Option<&'static str> {
        match self {
            Self::HeaderLineTooLong { .. }
            | Self::HeadTooLarge { .. }
            | Self::TooManyHeaders { .. } => Some(HEADER_TOO_LARGE_TITLE),
            _ => None,
        }
    }
}

/// What is wrong with a request line (RFC 9112 §3).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RequestLineDefect {
    /// `GET /` with no version: HTTP/0.9, which vestibule does not speak.
    Http09,
    /// Not `method SP request-target SP HTTP-version` (runs of SP are allowed, as
    /// nginx allows them; nothing else separates the parts).
    Malformed,
    /// A byte that may not appear in a request-target (RFC 9112 §3.2).
    TargetByte(u8),
    /// The version is not `HTTP/` DIGIT `.` DIGIT (RFC 9112 §2.3).
    Version,
    /// A CR not followed by LF (RFC 9112 §2.2).
    BareCr,
    /// Asterisk-form with a method other than OPTIONS, authority-form with a method
    /// other than CONNECT, or a target that is none of the four forms (RFC 9112 §3.2).
    TargetForm,
    /// Absolute-form with a scheme other than `http` or `https`.
    Scheme,
    /// Absolute-form with `userinfo@` in the authority (RFC 9110 §4.2.4).
    Userinfo,
}

impl fmt::Display for RequestLineDefect {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Http09 => f.write_str("HTTP/0.9 request lines are not supported"),
            Self::Malformed => {
                f.write_str("the request line is not \"METHOD SP request-target SP HTTP-version\"")
            }
            Self::TargetByte(b) => write!(f, "byte 0x{b:02x} in the request target"),
            Self::Version => f.write_str("the HTTP version is not \"HTTP/1.0\" or \"HTTP/1.1\""),
            Self::BareCr => f.write_str("a CR without LF in the request line"),
            Self::TargetForm => f.write_str("the request target's form does not fit the method"),
            Self::Scheme => f.write_str("an absolute URI whose scheme is not http or https"),
            Self::Userinfo => f.write_str("userinfo in the request target's authority"),
        }
    }
}

/// What is wrong with a header line (RFC 9112 §5, RFC 9110 §5.5).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HeaderDefect {
    /// A line starting with SP or HTAB continues the previous one (RFC 9112 §5.2).
    ObsFold,
    /// SP or HTAB after the field name where the colon belongs (RFC 9112 §5.1:
    /// "No whitespace is allowed between the field name and colon").
    WhitespaceBeforeColon,
    /// A byte that is not a `tchar` in the field name (RFC 9110 §5.1).
    NameByte(u8),
    /// A line with nothing before the colon.
    EmptyName,
    /// A line without a colon.
    MissingColon,
    /// A CR not followed by LF (RFC 9112 §2.2).
    BareCr,
    /// NUL, DEL or a control byte other than HTAB in the value (RFC 9110 §5.5).
    ControlByte(u8),
    /// The parser refused the line for a reason the diagnosis did not find.
    Other,
}

impl fmt::Display for HeaderDefect {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::ObsFold => f.write_str("obsolete line folding (a line starting with a space)"),
            Self::WhitespaceBeforeColon => {
                f.write_str("whitespace after the header name, before the colon")
            }
            Self::NameByte(b) => write!(f, "byte 0x{b:02x} in the header name"),
            Self::EmptyName => f.write_str("an empty header name"),
            Self::MissingColon => f.write_str("no colon after the header name"),
            Self::BareCr => f.write_str("a CR without LF"),
            Self::ControlByte(b) => write!(f, "control byte 0x{b:02x} in the header value"),
            Self::Other => f.write_str("malformed header"),
        }
    }
}

/// An upstream's response head that must not be relayed; the proxy answers the client
/// with `status()` (502, as nginx does) and closes the upstream connection.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UpstreamHeadError {
    #[error(
        "upstream sent no valid HTTP/1.0 header (the status line is not \"HTTP/1.x NNN reason\")"
    )]
    InvalidStatusLine,
    #[error("upstream sent too big header (more than {limit} bytes; raise \"proxy_buffer_size\")")]
    TooBig { limit: usize },
    #[error("upstream sent invalid header (line {line}: {defect})")]
    InvalidHeader { line: usize, defect: HeaderDefect },
    #[error("upstream sent too many header lines (more than {limit})")]
    TooManyHeaders { limit: usize },
    #[error("upstream sent duplicate header line (\"{name}\" appears more than once)")]
    DuplicateHeader { name: String },
    #[error("upstream sent invalid \"Content-Length\" header (\"{value}\")")]
    InvalidContentLength { value: String },
    #[error("upstream sent \"Content-Length\" and \"Transfer-Encoding\" headers at the same time")]
    ContentLengthWithTransferEncoding,
    #[error("upstream sent HTTP/1.0 response with \"Transfer-Encoding\" header")]
    TransferEncodingOnHttp10,
    #[error("upstream sent unknown \"Transfer-Encoding\": \"{value}\"")]
    UnknownTransferEncoding { value: String },
}

impl UpstreamHeadError {
    /// The status the client gets: always 502 Bad Gateway.
    pub fn status(&self) -> u16 {
        502
    }

    /// nginx's error-log text for this fault, without the detail `Display` adds.
    pub fn reason(&self) -> &'static str {
        match self {
            Self::InvalidStatusLine => "upstream sent no valid HTTP/1.0 header",
            Self::TooBig { .. } => "upstream sent too big header",
            Self::InvalidHeader { .. } => "upstream sent invalid header",
            Self::TooManyHeaders { .. } => "upstream sent too many header lines",
            Self::DuplicateHeader { .. } => "upstream sent duplicate header line",
            Self::InvalidContentLength { .. } => "upstream sent invalid \"Content-Length\" header",
            Self::ContentLengthWithTransferEncoding => {
                "upstream sent \"Content-Length\" and \"Transfer-Encoding\" headers at the same time"
            }
            Self::TransferEncodingOnHttp10 => {
                "upstream sent HTTP/1.0 response with \"Transfer-Encoding\" header"
            }
            Self::UnknownTransferEncoding { .. } => "upstream sent unknown \"Transfer-Encoding\"",
        }
    }
}

/// A chunked body that breaks RFC 9112 §7.1. The caller words it for its side: nginx
/// logs "client sent invalid chunked body" or "upstream sent invalid chunked response".
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ChunkError {
    #[error("invalid byte 0x{byte:02x} in chunk size")]
    SizeByte { byte: u8 },
    /// Larger than nginx's `NGX_MAX_OFF_T_VALUE`, however many leading zeros it has.
    #[error("chunk size is larger than {limit:#x}")]
    SizeTooLarge { limit: u64 },
    #[error("chunk size line is longer than {limit} bytes")]
    SizeLineTooLong { limit: usize },
    #[error("invalid byte 0x{byte:02x} in chunk extension")]
    ExtensionByte { byte: u8 },
    #[error("chunk size line does not end with CRLF")]
    SizeLineEnd,
    #[error("chunk data is not followed by CRLF")]
    DataEnd,
    #[error("trailer line does not end with CRLF")]
    TrailerLineEnd,
    #[error("trailer section is larger than {limit} bytes")]
    TrailerTooLarge { limit: usize },
    #[error("invalid trailer line ({defect})")]
    Trailer { defect: HeaderDefect },
}

/// A message body that cannot be read to its end.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BodyError {
    #[error(transparent)]
    Chunked(#[from] ChunkError),
    /// The connection ended before the framing said the body was complete.
    #[error("connection closed before the body was complete ({})", match .remaining {
        Some(n) => format!("{n} bytes missing"),
        None => "in the middle of a chunked body".to_owned(),
    })]
    Truncated { remaining: Option<u64> },
}

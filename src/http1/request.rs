//! The request head parser: the first step of the data path after `accept`
//! (DESIGN.md §3, "read head (httparse, bounded) ─► validate"). The connection loop
//! calls [`parse_request_head`] on its read buffer after every read; `Ok(None)` means
//! read more, an error means answer with its status and close.
//!
//! The request line is parsed by `request_line`, so that each fault gets
//! nginx's status and words (505 for HTTP/2, 414 for a long line, 400 otherwise), with
//! the line limits applied here; the header block is parsed by
//! httparse with a bounded slot array and its strict defaults (no obs-fold, no space
//! before the colon, no bare CR, no control bytes). The framing rules of RFC 9112 §6
//! are then checked, so nothing ambiguous is ever forwarded upstream.

use httparse::Status;

use super::error::{HeadError, RequestLineDefect};
use super::head::{
    diagnose_header_block, excerpt, is_chunked_only, overlong_line, owned_headers,
    parse_content_length, Header, Version, DEFAULT_MAX_HEADERS, FEW_SLOTS, HEADER_SLOTS,
};
use super::header_name::HeaderNameRules;
use super::headers::ConnectionTokens;
use super::host::is_valid_host;
use super::method::Method;
use super::request_line::{is_method_byte, method_prefix, parse_request_line, parse_target};

/// How much head a client may send, in nginx's terms.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HeadLimits {
    /// The request line, with its terminator and any empty lines before it; past
    /// this, 414.
    pub max_request_line: usize,
    /// One header line with its terminator; past this, 400.
    pub max_header_line: usize,
    /// The whole head up to and including the empty line; past this, 400.
    pub max_head: usize,
    /// Header lines in one head (at most [`HEADER_SLOTS`]); past this, 400.
    pub max_headers: usize,
    /// Which header names are kept (`underscores_in_headers`, `ignore_invalid_headers`);
    /// a dropped line still counts towards the limits above.
    pub names: HeaderNameRules,
}

impl HeadLimits {
    /// The limits nginx's directives imply: a line must fit in one buffer (the
    /// larger of `client_header_buffer_size` and a large buffer), the head in all
    /// the large buffers together. nginx's exact total depends on how lines fall
    /// across buffers; `number × size` is the bound it approaches.
    pub fn from_nginx(
        client_header_buffer_size: u64,
        large_client_header_buffers: (u32, u64),
    ) -> Self {
        let (number, size) = large_client_header_buffers;
        let small = usize::try_from(client_header_buffer_size).unwrap_or(usize::MAX);
        let large = usize::try_from(size).unwrap_or(usize::MAX);
        let number = usize::try_from(number).unwrap_or(usize::MAX);
        let line = small.max(large);
        Self {
            max_request_line: line,
            max_header_line: line,
            max_head: large.saturating_mul(number).max(small),
            max_headers: DEFAULT_MAX_HEADERS,
            names: HeaderNameRules::default(),
        }
    }

    /// These limits with the header name rules of `underscores_in_headers` and
    /// `ignore_invalid_headers`.
    pub fn with_names(self, names: HeaderNameRules) -> Self {
        Self { names, ..self }
    }
}

impl Default for HeadLimits {
    /// nginx's defaults: `client_header_buffer_size 1k; large_client_header_buffers 4 8k;`.
    fn default() -> Self {
        Self::from_nginx(1024, (4, 8 * 1024))
    }
}

/// How the request body is delimited (RFC 9112 §6.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RequestFraming {
    /// Neither `Content-Length` nor `Transfer-Encoding`: no body (rule 7).
    None,
    ContentLength(u64),
    Chunked,
}

/// A parsed, validated request head.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestHead {
    pub method: Method,
    /// The request-target exactly as received.
    pub target: String,
    /// The path, raw (not percent-decoded): before `?` in origin-form, after the
    /// authority in absolute-form (`/` when empty), `*` in asterisk-form. A
    /// `#fragment`, which clients should not send, is dropped as nginx drops it.
    pub path: String,
    /// After `?`, raw; `Some("")` for a bare `?`.
    pub query: Option<String>,
    pub version: Version,
    pub headers: Vec<Header>,
    /// The authority of an absolute-form target (which wins, RFC 9112 §3.2.2), else
    /// the raw `Host` value; validated either way.
    pub host: Option<String>,
    pub framing: RequestFraming,
    /// Whether the connection may serve another request after this one.
    pub keep_alive: bool,
    /// `Expect: 100-continue` on HTTP/1.1 (RFC 9110 §10.1.1; ignored on 1.0).
    pub expect_continue: bool,
    /// The `Upgrade` value when `Connection` names `upgrade` on HTTP/1.1 (RFC 9110 §7.8).
    pub upgrade: Option<String>,
    /// Lowercased tokens of every `Connection` line, for hop-by-hop removal.
    pub connection_tokens: ConnectionTokens,
}

/// Parses the request head at the start of `buf`. `Ok(None)` asks for more bytes;
/// `Ok(Some((head, consumed)))` leaves the body (or the next request) at
/// `buf[consumed..]`. A limit is reported as soon as the buffered bytes prove it is
/// exceeded, so a client cannot make the caller buffer without end.
pub fn parse_request_head(
    buf: &[u8],
    limits: &HeadLimits,
) -> Result<Option<(RequestHead, usize)>, HeadError> {
    // RFC 9112 §2.2: empty lines before the request line are ignored. They count
    // towards the request line's limit.
    let mut start = 0;
    loop {
        match buf.get(start..).unwrap_or_default() {
            [b'\r', b'\n', ..] => start += 2,
            [b'\n', ..] => start += 1,
            [b'\r'] | [] => return need_more_line(buf, &[], limits),
            [b'\r', ..] => return Err(HeadError::InvalidRequestLine(RequestLineDefect::BareCr)),
            _ => break,
        }
    }
    let rest = buf.get(start..).unwrap_or_default();
    let Some(lf) = rest.iter().position(|&b| b == b'\n') else {
        return need_more_line(buf, rest, limits);
    };
    let line_end = start + lf + 1;
    if line_end > limits.max_request_line {
        return Err(too_long_uri(limits));
    }
    let line = rest.get(..lf).unwrap_or_default();
    let line = line.strip_suffix(b"\r").unwrap_or(line);
    let (method, target, version) = parse_request_line(line)?;

    let block = buf.get(line_end..).unwrap_or_default();
    let max_headers = limits.max_headers.min(HEADER_SLOTS);
    // Most heads fit the small slot array, which costs a quarter of the stores to
    // set up; only a head with more lines is parsed again with all the slots.
    let mut few = [httparse::EMPTY_HEADER; FEW_SLOTS];
    let mut all;
    let first = max_headers.min(FEW_SLOTS);
    let mut parsed = httparse::parse_headers(block, few.get_mut(..first).unwrap_or_default());
    if max_headers > FEW_SLOTS && matches!(parsed, Err(httparse::Error::TooManyHeaders)) {
        all = [httparse::EMPTY_HEADER; HEADER_SLOTS];
        parsed = httparse::parse_headers(block, all.get_mut(..max_headers).unwrap_or_default());
    }
    match parsed {
        Err(httparse::Error::TooManyHeaders) => {
            Err(HeadError::TooManyHeaders { limit: max_headers })
        }
        Err(_) => {
            let (index, defect) = diagnose_header_block(block);
            Err(HeadError::InvalidHeaderLine {
                line: index + 2,
                defect,
            })
        }
        Ok(Status::Partial) => {
            check_header_limits(block, limits)?;
            if buf.len() >= limits.max_head {
                return Err(HeadError::HeadTooLarge {
                    limit: limits.max_head,
                });
            }
            Ok(None)
        }
        Ok(Status::Complete((len, headers))) => {
            check_header_limits(block.get(..len).unwrap_or_default(), limits)?;
            let consumed = line_end + len;
            if consumed > limits.max_head {
                return Err(HeadError::HeadTooLarge {
                    limit: limits.max_head,
                });
            }
            let head = validate(method, target, version, headers, limits.names)?;
            Ok(Some((head, consumed)))
        }
    }
}

fn too_long_uri(limits: &HeadLimits) -> HeadError {
    HeadError::UriTooLong {
        limit: limits.max_request_line,
    }
}

/// The request line is incomplete: refuse a bad method at once (a TLS handshake on
/// a plain port fails here), and refuse a line that can no longer fit.
fn need_more_line(
    buf: &[u8],
    partial_line: &[u8],
    limits: &HeadLimits,
) -> Result<Option<(RequestHead, usize)>, HeadError> {
    let method = method_prefix(partial_line);
    if (method.is_empty() && !partial_line.is_empty()) || !method.iter().all(|&b| is_method_byte(b))
    {
        return Err(HeadError::InvalidMethod);
    }
    if buf.len() >= limits.max_request_line {
        return Err(too_long_uri(limits));
    }
    Ok(None)
}

fn check_header_limits(block: &[u8], limits: &HeadLimits) -> Result<(), HeadError> {
    match overlong_line(block, limits.max_header_line) {
        Some(index) => Err(HeadError::HeaderLineTooLong {
            line: index + 2,
            limit: limits.max_header_line,
        }),
        None => Ok(()),
    }
}

/// The framing and connection rules of RFC 9112 §3.2, §6 and §9, in nginx's order.
fn validate(
    method: Method,
    target: &str,
    version: Version,
    headers: &[httparse::Header<'_>],
    names: HeaderNameRules,
) -> Result<RequestHead, HeadError> {
    let parsed = parse_target(&method, target)?;
    // Dropped lines are gone before anything reads the head (nginx's
    // `ngx_http_process_request_headers`): not framing, not `Host`, not forwarded.
    let kept;
    let headers = if headers.iter().all(|h| names.keeps(h.name)) {
        headers
    } else {
        kept = headers
            .iter()
            .filter(|h| names.keeps(h.name))
            .copied()
            .collect::<Vec<_>>();
        kept.as_slice()
    };
    let mut host = None;
    let mut content_length = None;
    let mut transfer_encoding = None;
    let mut expect = None;
    let mut upgrade = None;
    let mut connection_tokens = ConnectionTokens::new();
    for h in headers {
        let name = h.name;
        if name.eq_ignore_ascii_case("host") {
            if host.is_some() {
                return Err(HeadError::DuplicateHost);
            }
            if !is_valid_host(h.value) {
                return Err(HeadError::InvalidHost {
                    value: excerpt(h.value),
                });
            }
            host = Some(h.value);
        } else if name.eq_ignore_ascii_case("content-length") {
            if content_length.replace(h.value).is_some() {
                return Err(HeadError::DuplicateHeader {
                    name: name.to_owned(),
                });
            }
        } else if name.eq_ignore_ascii_case("transfer-encoding") {
            if transfer_encoding.replace(h.value).is_some() {
                return Err(HeadError::DuplicateHeader {
                    name: name.to_owned(),
                });
            }
        } else if name.eq_ignore_ascii_case("connection") {
            connection_tokens.push_value(h.value);
        } else if name.eq_ignore_ascii_case("expect") {
            expect.get_or_insert(h.value);
        } else if name.eq_ignore_ascii_case("upgrade") {
            upgrade.get_or_insert(h.value);
        }
    }
    let http11 = version == Version::Http11;
    if http11 && host.is_none() {
        return Err(HeadError::MissingHost);
    }
    // nginx's order (`ngx_http_process_request_header`): both framings at once is a
    // 400 whatever their values, before either is read.
    if content_length.is_some() && transfer_encoding.is_some() {
        return Err(HeadError::ContentLengthWithTransferEncoding);
    }
    let length =
        match content_length {
            Some(value) => Some(parse_content_length(value).ok_or_else(|| {
                HeadError::InvalidContentLength {
                    value: excerpt(value),
                }
            })?),
            None => None,
        };
    let framing = match (transfer_encoding, length) {
        (Some(_), _) if !http11 => return Err(HeadError::TransferEncodingOnHttp10),
        (Some(te), _) if is_chunked_only(te) => RequestFraming::Chunked,
        (Some(te), _) => return Err(HeadError::UnknownTransferEncoding { value: excerpt(te) }),
        (None, Some(n)) => RequestFraming::ContentLength(n),
        (None, None) => RequestFraming::None,
    };
    if matches!(method, Method::Connect | Method::Trace) {
        return Err(HeadError::MethodNotAllowed { method });
    }
    let has_token = |t: &str| connection_tokens.has(t);
    let keep_alive = !has_token("close") && (http11 || has_token("keep-alive"));
    let expect_continue =
        http11 && expect.is_some_and(|v| v.trim_ascii().eq_ignore_ascii_case(b"100-continue"));
    let upgrade = upgrade
        .filter(|_| http11 && has_token("upgrade"))
        .map(|v| String::from_utf8_lossy(v).into_owned());
    let host = parsed.authority.or_else(|| host.map(ascii_text));
    Ok(RequestHead {
        method,
        target: target.to_owned(),
        path: parsed.path,
        query: parsed.query,
        version,
        headers: owned_headers(headers),
        host,
        framing,
        keep_alive,
        expect_continue,
        upgrade,
        connection_tokens,
    })
}

/// A validated `Host` value as text: [`is_valid_host`] admits only ASCII, so this is
/// a copy after a quick check, not the byte-by-byte lossy conversion.
fn ascii_text(value: &[u8]) -> String {
    match std::str::from_utf8(value) {
        Ok(text) => text.to_owned(),
        Err(_) => String::from_utf8_lossy(value).into_owned(),
    }
}

#[cfg(test)]
#[path = "request_tests.rs"]
mod tests;

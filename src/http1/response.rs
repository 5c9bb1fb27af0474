//! The upstream response head parser: the proxy calls [`parse_response_head`] on
//! what Gunicorn sends back, then relays the head and reads the body with the
//! [`ResponseFraming`] it returns (DESIGN.md §3, "proxy to upstream").
//!
//! The upstream is trusted no more than a client: httparse's strict defaults refuse
//! obs-fold, space before the colon, bare CR and control bytes, and the framing
//! rules of RFC 9112 §6 are applied with nginx's strictness, so a confused upstream
//! cannot desynchronise a pooled keep-alive connection. Every error becomes a 502.

use httparse::Status;

use super::error::UpstreamHeadError;
use super::head::{
    diagnose_header_block, excerpt, is_chunked_only, owned_headers, parse_content_length, Header,
    Version, DEFAULT_MAX_HEADERS, HEADER_SLOTS,
};
use super::headers::{connection_tokens, ConnectionTokens};
use super::method::Method;

/// How much head an upstream may send.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UpstreamHeadLimits {
    /// The whole head, status line to empty line; nginx's `proxy_buffer_size`.
    pub max_head: usize,
    /// Header lines in one head (at most [`HEADER_SLOTS`]).
    pub max_headers: usize,
}

impl UpstreamHeadLimits {
    /// The limits of `proxy_buffer_size`: nginx needs the whole response head in
    /// that one buffer.
    pub fn from_nginx(proxy_buffer_size: u64) -> Self {
        Self {
            max_head: usize::try_from(proxy_buffer_size).unwrap_or(usize::MAX),
            max_headers: HEADER_SLOTS,
        }
    }
}

impl Default for UpstreamHeadLimits {
    /// nginx's default `proxy_buffer_size` is one memory page: 4k on x86-64.
    fn default() -> Self {
        Self {
            max_head: 4 * 1024,
            max_headers: DEFAULT_MAX_HEADERS,
        }
    }
}

/// How the response body is delimited (RFC 9112 §6.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ResponseFraming {
    /// HEAD, 1xx, 204, 304: the head is the whole message (rules 1, 2).
    NoBody,
    /// `Transfer-Encoding: chunked` (rule 4).
    Chunked,
    /// `Content-Length` (rule 6).
    Length(u64),
    /// Neither: the body runs to the end of the connection (rule 8).
    CloseDelimited,
}

/// A parsed, validated upstream response head.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResponseHead {
    pub version: Version,
    pub status: u16,
    /// The reason phrase as sent; empty if it held obs-text.
    pub reason: String,
    pub headers: Vec<Header>,
    pub framing: ResponseFraming,
    /// Whether the upstream connection may go back to the pool after the body:
    /// HTTP/1.1 without `Connection: close`, or 1.0 with `keep-alive`, and a body
    /// that does not run to the end of the connection.
    pub keep_alive: bool,
    /// Lowercased tokens of every `Connection` line, for hop-by-hop removal.
    pub connection_tokens: ConnectionTokens,
}

impl ResponseHead {
    /// 1xx (RFC 9110 §15.2): 100 Continue is skipped by the caller, 101 switches
    /// protocols, and the final response follows on the same connection.
    pub fn is_informational(&self) -> bool {
        (100..200).contains(&self.status)
    }
}

/// Parses the response head at the start of `buf`, sent in answer to a request
/// with `request_method`. `Ok(None)` asks for more bytes; an oversized head is
/// reported as soon as the buffered bytes prove it.
pub fn parse_response_head(
    buf: &[u8],
    request_method: &Method,
    limits: &UpstreamHeadLimits,
) -> Result<Option<(ResponseHead, usize)>, UpstreamHeadError> {
    // Uninitialised slots: httparse writes only those it fills, so setting up all
    // 128 (4 KiB of stores) is not paid per response.
    let mut slots =
        [const { std::mem::MaybeUninit::<httparse::Header<'_>>::uninit() }; HEADER_SLOTS];
    let max_headers = limits.max_headers.min(HEADER_SLOTS);
    let mut response = httparse::Response::new(&mut []);
    let parsed = httparse::ParserConfig::default().parse_response_with_uninit_headers(
        &mut response,
        buf,
        slots.get_mut(..max_headers).unwrap_or_default(),
    );
    let len = match parsed {
        Ok(Status::Partial) if buf.len() >= limits.max_head => {
            return Err(UpstreamHeadError::TooBig {
                limit: limits.max_head,
            })
        }
        Ok(Status::Partial) => return Ok(None),
        Ok(Status::Complete(len)) => len,
        Err(httparse::Error::Version | httparse::Error::Status) => {
            return Err(UpstreamHeadError::InvalidStatusLine)
        }
        Err(httparse::Error::TooManyHeaders) => {
            return Err(UpstreamHeadError::TooManyHeaders { limit: max_headers })
        }
        Err(_) => {
            let block_start = buf
                .iter()
                .position(|&b| b == b'\n')
                .map_or(buf.len(), |lf| lf + 1);
            let (index, defect) = diagnose_header_block(buf.get(block_start..).unwrap_or_default());
            return Err(UpstreamHeadError::InvalidHeader {
                line: index + 2,
                defect,
            });
        }
    };
    if len > limits.max_head {
        return Err(UpstreamHeadError::TooBig {
            limit: limits.max_head,
        });
    }
    let version = match response.version {
        Some(0) => Version::Http10,
        _ => Version::Http11,
    };
    let status = response.code.unwrap_or_default();
    // RFC 9110 §15: three digits, the first 1-5; nginx accepts a first digit to 9.
    if !(100..=999).contains(&status) {
        return Err(UpstreamHeadError::InvalidStatusLine);
    }
    let headers = owned_headers(response.headers);
    let framing = response_framing(version, request_method, status, &headers)?;
    let connection_tokens = connection_tokens(&headers);
    let has_token = |t: &str| connection_tokens.has(t);
    let keep_alive = !has_token("close")
        && (version == Version::Http11 || has_token("keep-alive"))
        && framing != ResponseFraming::CloseDelimited;
    let head = ResponseHead {
        version,
        status,
        reason: response.reason.unwrap_or_default().to_owned(),
        headers,
        framing,
        keep_alive,
        connection_tokens,
    };
    Ok(Some((head, len)))
}

/// The framing of a response (RFC 9112 §6.3), after the header checks nginx makes:
/// one `Content-Length` with only digits, one `Transfer-Encoding` that is exactly
/// `chunked` and only on HTTP/1.1, never both. The checks apply even when the
/// status or method means there is no body.
pub fn response_framing(
    version: Version,
    request_method: &Method,
    status: u16,
    headers: &[Header],
) -> Result<ResponseFraming, UpstreamHeadError> {
    let mut content_length = None;
    let mut transfer_encoding = None;
    for h in headers {
        let slot = if h.is("content-length") {
            &mut content_length
        } else if h.is("transfer-encoding") {
            &mut transfer_encoding
        } else {
            continue;
        };
        if slot.replace(h.value.as_slice()).is_some() {
            return Err(UpstreamHeadError::DuplicateHeader {
                name: h.name.to_string(),
            });
        }
    }
    let length = match content_length {
        Some(value) => Some(parse_content_length(value).ok_or_else(|| {
            UpstreamHeadError::InvalidContentLength {
                value: excerpt(value),
            }
        })?),
        None => None,
    };
    let framing = match (transfer_encoding, length) {
        (Some(_), _) if version == Version::Http10 => {
            return Err(UpstreamHeadError::TransferEncodingOnHttp10)
        }
        (Some(te), _) if !is_chunked_only(te) => {
            return Err(UpstreamHeadError::UnknownTransferEncoding { value: excerpt(te) })
        }
        (Some(_), Some(_)) => return Err(UpstreamHeadError::ContentLengthWithTransferEncoding),
        (Some(_), None) => ResponseFraming::Chunked,
        (None, Some(n)) => ResponseFraming::Length(n),
        (None, None) => ResponseFraming::CloseDelimited,
    };
    let no_body = *request_method == Method::Head
        || (100..200).contains(&status)
        || status == 204
        || status == 304;
    Ok(if no_body {
        ResponseFraming::NoBody
    } else {
        framing
    })
}

#[cfg(test)]
#[path = "response_tests.rs"]
mod tests;

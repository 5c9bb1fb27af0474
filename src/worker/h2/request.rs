//! An HTTP/2 request as the rest of vestibule sees a request: a [`RequestHead`] like
//! the one the HTTP/1.1 parser makes, so routing, the rewrite module, logs and the
//! proxy need not know the protocol.
//!
//! The codec (`h2`) has already refused what RFC 9113 §8.2 and §8.3 call malformed —
//! missing or repeated pseudo-headers, upper-case names, connection-specific fields,
//! `TE` other than `trailers`, a `Content-Length` the DATA frames contradict — with a
//! stream reset. Here: `:authority` becomes the `Host` (validated as a `Host` is),
//! several `cookie` fields are joined with `; ` (§8.2.3), `:path` is split and checked
//! as an HTTP/1.1 request-target is, and `underscores_in_headers` and
//! `ignore_invalid_headers` apply as they do on HTTP/1.1 (as nginx applies them).

use http::header::{COOKIE, HOST};

use crate::http1::{
    parse_target, HeadError, Header, HeaderNameRules, Method, RequestFraming, RequestHead, Version,
};

/// Why a request cannot be served.
#[derive(Debug)]
pub enum Refusal {
    /// Malformed as RFC 9113 §8.1.1 defines it: the stream is reset with
    /// `PROTOCOL_ERROR`.
    Malformed(&'static str),
    /// A request HTTP/1.1 would refuse too: answered with its status (400).
    Head(HeadError),
}

impl From<HeadError> for Refusal {
    fn from(e: HeadError) -> Refusal {
        Refusal::Head(e)
    }
}

/// Converts the head of an h2 request; `end_stream`: no DATA follows. Also returns
/// the head's size as `$request_length` counts it (field names and values, as
/// nginx's HPACK-decoded lengths).
pub fn head(
    parts: &http::request::Parts,
    end_stream: bool,
    rules: HeaderNameRules,
) -> Result<(RequestHead, u64), Refusal> {
    if let Some(why) = malformed(parts) {
        return Err(Refusal::Malformed(why));
    }
    let method = Method::from_token(parts.method.as_str());
    let target = parts
        .uri
        .path_and_query()
        .map_or("/", |p| p.as_str())
        .to_string();
    let parsed = parse_target(&method, &target)?;
    let authority = parts.uri.authority().map(|a| a.as_str().to_string());
    let mut headers = Vec::with_capacity(parts.headers.len() + 1);
    let mut host = None;
    let mut cookies: Vec<&[u8]> = Vec::new();
    let mut length = target.len() as u64 + parts.method.as_str().len() as u64;
    let mut content_length = None;
    for (name, value) in &parts.headers {
        length += (name.as_str().len() + value.len()) as u64;
        if name == COOKIE {
            cookies.push(value.as_bytes());
            continue;
        }
        if name.as_str().contains('_')
            && !rules.underscores_in_headers
            && rules.ignore_invalid_headers
        {
            continue;
        }
        if name == HOST {
            if host.is_some() {
                return Err(HeadError::DuplicateHost.into());
            }
            host = Some(value.as_bytes());
        }
        if name == http::header::CONTENT_LENGTH {
            content_length = std::str::from_utf8(value.as_bytes())
                .ok()
                .and_then(|v| v.parse::<u64>().ok());
        }
        headers.push(Header::parsed(name.as_str(), value.as_bytes()));
    }
    if !cookies.is_empty() {
        headers.push(Header::new("cookie", cookies.join(&b"; "[..])));
    }
    // RFC 9113 §8.3.1: `:authority` over `Host`; either is validated as a Host.
    let host = match authority {
        Some(a) => Some(a),
        None => host.map(|h| String::from_utf8_lossy(h).into_owned()),
    };
    if let Some(h) = &host {
        if !crate::http1::is_valid_host(h.as_bytes()) {
            return Err(HeadError::InvalidHost {
                value: h.chars().take(128).collect(),
            }
            .into());
        }
        // The proxy and `$http_host` read the `Host` field: it is the authority.
        headers.retain(|f| !f.name.eq_ignore_ascii_case("host"));
        headers.insert(0, Header::new("host", h.as_bytes()));
    }
    let framing = match content_length {
        Some(n) => RequestFraming::ContentLength(n),
        None if end_stream => RequestFraming::None,
        // A body of unknown length: read to the stream's end, as a chunked one is.
        None => RequestFraming::Chunked,
    };
    let head = RequestHead {
        method,
        target,
        path: parsed.path,
        query: parsed.query,
        version: Version::Http2,
        headers,
        host,
        framing,
        keep_alive: true,
        expect_continue: false,
        upgrade: None,
        connection_tokens: Default::default(),
    };
    Ok((head, length))
}

/// What RFC 9113 §8.1.1 calls malformed and the codec let through.
fn malformed(parts: &http::request::Parts) -> Option<&'static str> {
    // §8.2.1: no leading or trailing whitespace in a field value.
    let padded = parts.headers.values().any(|v| {
        let b = v.as_bytes();
        matches!(b.first(), Some(b' ' | b'\t')) || matches!(b.last(), Some(b' ' | b'\t'))
    });
    if padded {
        return Some("a field value with leading or trailing whitespace");
    }
    // §8.5: CONNECT names its target in `:authority`.
    if parts.method == http::Method::CONNECT && parts.uri.authority().is_none() {
        return Some("CONNECT without :authority");
    }
    // §8.3.1: `Host` and `:authority` must agree.
    if let (Some(authority), Some(host)) = (parts.uri.authority(), parts.headers.get(HOST)) {
        if authority.as_str().as_bytes() != host.as_bytes() {
            return Some(":authority and Host disagree");
        }
    }
    None
}

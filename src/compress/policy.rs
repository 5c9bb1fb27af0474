//! Whether a response is compressed, and with what: nginx's gzip filter's rules
//! (`ngx_http_gzip_header_filter` and `ngx_http_gzip_ok`), extended to brotli.
//!
//! A response may be compressed when its status is 200, 403 or 404, it has no
//! `Content-Encoding` yet, its length is unknown or at least `*_min_length`, and its
//! type is in `*_types`. Such a response gets `Vary: Accept-Encoding` under
//! `gzip_vary on`, whatever this client accepts. It is then compressed if the request
//! allows it: HTTP/1.1 (or 1.0 under `gzip_http_version 1.0`), not `msie6` or a
//! `gzip_disable` User-Agent, a request through a proxy (`Via`) only as
//! `gzip_proxied` says, and a coding the client accepts (q-values).
//!
//! Pure: everything comes in as arguments, so the static handler can ask the same
//! question before it decides on ranges (a compressed response ignores `Range`).

use super::encoder::Coding;
use super::negotiate::{is_msie6, Accepted};
use crate::config::model::compress::{Coder, Compression, Proxied};
use crate::exchange::response::BodyLength;
use crate::http1::{date, headers, Header, RequestHead, Version};

/// What the response is, as far as the decision goes.
#[derive(Debug, Clone, Copy)]
pub struct Response<'a> {
    pub status: u16,
    pub content_type: Option<&'a [u8]>,
    pub length: BodyLength,
    /// Its header lines (for `Content-Encoding` and `gzip_proxied`'s tests): the
    /// borrowed fields a handler names, then the owned lines.
    pub fields: &'a [(&'static str, &'a [u8])],
    pub headers: &'a [Header],
}

impl<'a> Response<'a> {
    /// A response whose type is looked up in its own lines.
    pub fn new(
        status: u16,
        length: BodyLength,
        fields: &'a [(&'static str, &'a [u8])],
        headers: &'a [Header],
    ) -> Response<'a> {
        let mut r = Response {
            status,
            content_type: None,
            length,
            fields,
            headers,
        };
        r.content_type = r.lookup("content-type");
        r
    }

    /// The value of the first line called `name`.
    pub fn lookup(&self, name: &str) -> Option<&'a [u8]> {
        self.fields
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| *v)
            .or_else(|| headers::get(self.headers, name))
    }
}

/// The decision.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Decision {
    /// `Vary: Accept-Encoding` is sent.
    pub vary: bool,
    /// The coding the body is sent in; `None`: as it is.
    pub coding: Option<Coding>,
}

/// Decides for one response to `request`.
pub fn decide(c: &Compression, request: &RequestHead, r: &Response<'_>) -> Decision {
    if !matches!(r.status, 200 | 403 | 404) {
        return Decision::default();
    }
    if r.lookup("content-encoding").is_some_and(|v| !v.is_empty()) {
        return Decision::default();
    }
    let gzip = fits(&c.gzip, r);
    let brotli = fits(&c.brotli, r);
    if !gzip && !brotli {
        return Decision::default();
    }
    let vary = c.vary;
    if !request_allows(c, request, r) {
        return Decision { vary, coding: None };
    }
    let accepted = Accepted::parse(headers::get(&request.headers, "accept-encoding"));
    Decision {
        vary,
        coding: accepted.choose(gzip, brotli),
    }
}

/// Whether a coding is on and the response's length and type fit it.
fn fits(coder: &Coder, r: &Response<'_>) -> bool {
    coder.enabled
        && match r.length {
            BodyLength::Known(n) => n >= coder.min_length,
            BodyLength::Unknown => true,
            BodyLength::None => false,
        }
        && match r.content_type {
            Some(t) => coder.types.contains(t),
            None => coder.types.any,
        }
}

/// nginx's `ngx_http_gzip_ok` apart from `Accept-Encoding`: the protocol version,
/// `gzip_disable`, and `gzip_proxied` for a request that came through a proxy. The
/// same rules hold for `gzip_static` (see [`client_may_get`]).
pub fn request_allows(c: &Compression, request: &RequestHead, r: &Response<'_>) -> bool {
    if request.version == Version::Http10 && !c.http10 {
        return false;
    }
    let user_agent = headers::get(&request.headers, "user-agent");
    if c.disable.msie6 && user_agent.is_some_and(is_msie6) {
        return false;
    }
    if headers::get(&request.headers, "via").is_some() && !proxied_allows(c.proxied, request, r) {
        return false;
    }
    match (user_agent, c.disable.regexes.is_empty()) {
        (Some(ua), false) => {
            let ua = String::from_utf8_lossy(ua);
            !c.disable.regexes.iter().any(|(_, re)| re.is_match(&ua))
        }
        _ => true,
    }
}

/// Whether the client may be sent a precompressed file in `coding`
/// (`gzip_static on`: the rules of [`request_allows`] and `Accept-Encoding`).
pub fn client_may_get(c: &Compression, request: &RequestHead, r: &Response<'_>) -> Accepted {
    if !request_allows(c, request, r) {
        return Accepted::default();
    }
    Accepted::parse(headers::get(&request.headers, "accept-encoding"))
}

/// `gzip_proxied`, for a request with `Via`.
fn proxied_allows(p: Proxied, request: &RequestHead, r: &Response<'_>) -> bool {
    if p.has(Proxied::OFF) {
        return false;
    }
    if p.has(Proxied::ANY) {
        return true;
    }
    if p.has(Proxied::AUTH) && headers::get(&request.headers, "authorization").is_some() {
        return true;
    }
    if let Some(expires) = r.lookup("expires") {
        if !p.has(Proxied::EXPIRED) {
            return false;
        }
        let Some(expires) = date::parse_http_date(expires) else {
            return false;
        };
        let now = match r.lookup("date") {
            Some(d) => match date::parse_http_date(d) {
                Some(d) => d,
                None => return false,
            },
            None => crate::sys::coarse_wall_time(),
        };
        return expires < now;
    }
    if let Some(cc) = r.lookup("cache-control") {
        let has = |word: &str| {
            cc.split(|b| *b == b',')
                .any(|d| d.trim_ascii().eq_ignore_ascii_case(word.as_bytes()))
        };
        return (p.has(Proxied::NO_CACHE) && has("no-cache"))
            || (p.has(Proxied::NO_STORE) && has("no-store"))
            || (p.has(Proxied::PRIVATE) && has("private"));
    }
    // A file's own `Last-Modified` does not count, as in nginx (whose static handler
    // sets the time, not the header line, when this runs): only an upstream's does.
    (p.has(Proxied::NO_LAST_MODIFIED) && headers::get(r.headers, "last-modified").is_none())
        || (p.has(Proxied::NO_ETAG) && r.lookup("etag").is_none())
}

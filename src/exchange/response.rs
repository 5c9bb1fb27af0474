//! A response as handlers describe it, before any protocol frames it: the status,
//! the header lines (with nginx's order: `Server`, `Date`, the handler's lines, then
//! `add_header`) and how long the body is. [`compose`] walks those lines into a
//! [`HeadWriter`] that the protocol supplies (HTTP/1.1 writes text lines; HTTP/2
//! will encode a header block), so `add_header`, error pages and `$status` work the
//! same on every protocol. Also nginx's default error pages, rendered in one place.

use super::expires;
use super::Exchange;
use crate::config::model::{Expires, HeaderSetting, LocationConf};
use crate::config::template::VariableSource;
use crate::http1::{reason_phrase, Header};

/// `Server:` when `server_tokens on`.
pub const SERVER_TOKEN: &str = concat!("vestibule/", env!("CARGO_PKG_VERSION"));

/// How long the response body is, as the handler knows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BodyLength {
    /// No body at all (204, 304, 1xx, 101): no `Content-Length` is sent.
    None,
    /// This many bytes (also sent for a HEAD request, with no body after it).
    Known(u64),
    /// Unknown until it ends (an upstream's chunked or close-delimited body).
    Unknown,
}

/// A response head to send.
#[derive(Debug)]
pub struct ResponseHead<'a> {
    pub status: u16,
    /// The upstream's reason phrase; nginx's text for the status when `None`.
    pub reason: Option<&'a str>,
    /// Borrowed header lines with names spelled out in the code, sent after `Server`
    /// and `Date` (the static handler's validators: no allocation per line).
    pub fields: &'a [(&'static str, &'a [u8])],
    /// Content-Type, Location, upstream headers: sent after `fields`.
    pub headers: Vec<Header>,
    pub length: BodyLength,
    /// A `101 Switching Protocols` whose upgrade headers are in `headers`: the
    /// protocol adds no connection management of its own.
    pub upgrade: bool,
}

impl<'a> ResponseHead<'a> {
    /// A head with only the status, the body's length and `headers`.
    pub fn new(status: u16, headers: Vec<Header>, length: BodyLength) -> ResponseHead<'a> {
        ResponseHead {
            status,
            reason: None,
            fields: &[],
            headers,
            length,
            upgrade: false,
        }
    }
}

/// Where [`compose`] puts the head's lines; each protocol has its own.
pub trait HeadWriter {
    fn status(&mut self, status: u16, reason: &str);
    /// `Server` (`server_tokens on` adds the version).
    fn server(&mut self, tokens: bool);
    fn date(&mut self);
    /// A line whose value vestibule wrote itself (not checked for control bytes).
    fn known(&mut self, name: &'static str, value: &[u8]);
    /// A configured or upstream line (checked as it is written).
    fn header(&mut self, name: &str, value: &[u8]);
    /// After the handler's lines and before `add_header`'s: framing and connection
    /// management, which the protocol decides.
    fn protocol_lines(&mut self, length: BodyLength, upgrade: bool);
}

/// Statuses `add_header` applies to without `always`.
fn add_header_applies(status: u16) -> bool {
    matches!(
        status,
        200 | 201 | 204 | 206 | 301 | 302 | 303 | 304 | 307 | 308
    )
}

/// Response headers that `add_header` replaces rather than adds to (nginx's headers
/// filter: `ngx_http_set_last_modified` and `ngx_http_set_response_header`): the
/// built-in or upstream line is dropped, the last such `add_header` is sent in its
/// place, and an empty value leaves the header out. `Cache-Control`, `Link` and the
/// rest are added beside what is there, as in nginx.
const REPLACED_BY_ADD_HEADER: [&str; 2] = ["Last-Modified", "ETag"];

fn replaced_by_add_header(name: &str) -> bool {
    REPLACED_BY_ADD_HEADER
        .iter()
        .any(|r| r.eq_ignore_ascii_case(name))
}

/// Whether an `add_header` line applies to a response with this status.
fn add_header_in_force(h: &HeaderSetting, status: u16) -> bool {
    h.always || add_header_applies(status)
}

/// Whether an `add_header` in force for `status` replaces the header `name`.
fn header_replaced(conf: &LocationConf, status: u16, name: &str) -> bool {
    conf.add_headers.iter().any(|h| {
        add_header_in_force(h, status)
            && h.name.eq_ignore_ascii_case(name)
            && replaced_by_add_header(name)
    })
}

/// The value `add_header` gives `name` (`Last-Modified`, `ETag`) on a 200, expanded:
/// `None` when no `add_header` replaces it, an empty value when one removes it. The
/// static handler checks `If-Range` against it, as nginx's range filter runs after
/// the headers filter (the 304 check runs before it, on the file's own validators).
pub fn add_header_replacement(x: &Exchange, conf: &LocationConf, name: &str) -> Option<Vec<u8>> {
    if !replaced_by_add_header(name) {
        return None;
    }
    let h = conf
        .add_headers
        .iter()
        .rev()
        .find(|h| add_header_in_force(h, 200) && h.name.eq_ignore_ascii_case(name))?;
    let mut value = Vec::new();
    h.value.expand(x as &dyn VariableSource, &mut value);
    Some(value)
}

/// nginx's charset filter, declaration only: a `Content-Type` whose type is in
/// `charset_types` and that names no charset gets `; charset=NAME` under `charset
/// NAME` — a file's, a proxied response's, `return`'s text, an error page — except
/// on a 301 or 302 (nginx leaves redirects alone). `None`: the line is sent as it is.
pub fn with_charset(conf: &LocationConf, status: u16, name: &str, value: &[u8]) -> Option<Vec<u8>> {
    conf.files.charset.as_ref()?;
    if matches!(status, 301 | 302) || !name.eq_ignore_ascii_case("content-type") {
        return None;
    }
    let text = std::str::from_utf8(value).ok()?;
    let charset = conf.files.charset_for(text)?;
    Some(format!("{text}; charset={charset}").into_bytes())
}

/// nginx's headers filter for `expires`: the `Expires` and `Cache-Control` lines for
/// this response (none for `expires off`, for a status it does not apply to, or for a
/// variable value that does not parse). `expires modified` counts from the
/// response's `Last-Modified` (the file's, or an upstream's), else from now.
pub fn expiry_lines(
    x: &Exchange,
    conf: &LocationConf,
    status: u16,
    fields: &[(&'static str, &[u8])],
    headers: &[Header],
) -> Vec<Header> {
    if matches!(conf.expires, Expires::Off) || !expires::applies(status) {
        return Vec::new();
    }
    // Only `modified` reads the time: the date is parsed for nothing else.
    let counts_from_modification = matches!(
        conf.expires,
        Expires::Modified(_) | Expires::Variable { modified: true, .. }
    );
    let last_modified = fields
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case("last-modified"))
        .map(|(_, v)| *v)
        .or_else(|| {
            headers
                .iter()
                .find(|h| h.name.eq_ignore_ascii_case("last-modified"))
                .map(|h| &h.value[..])
        })
        .filter(|_| counts_from_modification)
        .and_then(crate::http1::date::parse_http_date);
    let now = crate::sys::coarse_wall_time();
    expires::headers_for(&conf.expires, x as &dyn VariableSource, now, last_modified)
}

/// The lines `expires` replaces.
pub fn is_expiry(name: &str) -> bool {
    name.eq_ignore_ascii_case("expires") || name.eq_ignore_ascii_case("cache-control")
}

/// Walks a response head into `w`, recording what was sent in the exchange (`$status`):
/// status, `Server`, `Date`, the given lines, the protocol's lines, then `add_header`.
/// An error page (`error_page 404 /404.html`) answered with 200 keeps the error's
/// status.
pub fn compose<W: HeadWriter>(
    x: &mut Exchange,
    conf: &LocationConf,
    head: ResponseHead<'_>,
    w: &mut W,
) {
    let ResponseHead {
        status,
        reason,
        fields,
        headers,
        length,
        upgrade,
    } = head;
    let (status, reason) = match x.status_override {
        Some(code) if status == 200 => (code, None),
        _ => (status, reason),
    };
    x.status = status;
    let expiry = expiry_lines(x, conf, status, fields, &headers);
    let reason = reason
        .filter(|r| !r.is_empty())
        .unwrap_or_else(|| reason_phrase(status));
    w.status(status, reason);
    w.server(conf.server_tokens);
    w.date();
    // Most locations have no add_header: then nothing is looked up per line.
    let replacing = !conf.add_headers.is_empty();
    for (name, value) in fields {
        if replacing && header_replaced(conf, status, name) {
            continue;
        }
        if !expiry.is_empty() && is_expiry(name) {
            continue;
        }
        match with_charset(conf, status, name, value) {
            Some(v) => w.known(name, &v),
            None => w.known(name, value),
        }
    }
    for h in &headers {
        if replacing && header_replaced(conf, status, &h.name) {
            continue;
        }
        if !expiry.is_empty() && is_expiry(&h.name) {
            continue;
        }
        match with_charset(conf, status, &h.name, &h.value) {
            Some(v) => w.header(&h.name, &v),
            None => w.header(&h.name, &h.value),
        }
    }
    for h in &expiry {
        w.header(&h.name, &h.value);
    }
    // The access phase's challenge, also on an `error_page` answering the 401.
    if let (401, Some(realm)) = (status, &x.auth_realm) {
        let mut value = b"Basic realm=\"".to_vec();
        value.extend_from_slice(realm);
        value.push(b'"');
        w.header("WWW-Authenticate", &value);
    }
    w.protocol_lines(length, upgrade);
    let mut value = Vec::new();
    for (i, h) in conf.add_headers.iter().enumerate() {
        if !add_header_in_force(h, status) {
            continue;
        }
        // Of several lines replacing the same header, the last wins.
        let replaced_later = replaced_by_add_header(&h.name)
            && conf.add_headers.iter().skip(i + 1).any(|later| {
                add_header_in_force(later, status) && later.name.eq_ignore_ascii_case(&h.name)
            });
        if replaced_later {
            continue;
        }
        value.clear();
        h.value.expand(x as &dyn VariableSource, &mut value);
        if !value.is_empty() {
            w.header(&h.name, &value);
        }
    }
}

/// nginx's default page, titled `title` (`404 Not Found`, or nginx's own wording
/// for some protocol errors).
pub fn default_page_titled(title: &str, server_tokens: bool) -> Vec<u8> {
    let token = if server_tokens {
        SERVER_TOKEN
    } else {
        "vestibule"
    };
    format!(
        "<html>\r\n<head><title>{title}</title></head>\r\n<body>\r\n<center><h1>{title}</h1></center>\r\n<hr><center>{token}</center>\r\n</body>\r\n</html>\r\n"
    )
    .into_bytes()
}

/// nginx's own statuses 494–497, which go to `error_page` under their number and
/// are answered as `400 Bad Request` with a line saying why.
pub fn bad_request_reason(status: u16) -> Option<&'static str> {
    match status {
        494 => Some("Request Header Or Cookie Too Large"),
        495 => Some("The SSL certificate error"),
        496 => Some("No required SSL certificate was sent"),
        497 => Some("The plain HTTP request was sent to HTTPS port"),
        _ => None,
    }
}

/// nginx's page for a status of [`bad_request_reason`]: titled with the reason,
/// headed `400 Bad Request`, the reason below.
pub fn bad_request_page(reason: &str, server_tokens: bool) -> Vec<u8> {
    let token = if server_tokens {
        SERVER_TOKEN
    } else {
        "vestibule"
    };
    format!(
        "<html>\r\n<head><title>400 {reason}</title></head>\r\n<body>\r\n<center><h1>400 Bad Request</h1></center>\r\n<center>{reason}</center>\r\n<hr><center>{token}</center>\r\n</body>\r\n</html>\r\n"
    )
    .into_bytes()
}

/// nginx's default page for an error or redirect status. Its title is the status
/// line's but for 302, whose page nginx titles `302 Found` (`ngx_http_error_302_page`)
/// while its status line says `Moved Temporarily`.
pub fn default_page(status: u16, server_tokens: bool) -> Vec<u8> {
    let reason = match status {
        302 => "Found",
        _ => reason_phrase(status),
    };
    default_page_titled(&format!("{status} {reason}"), server_tokens)
}

/// Whether a status carries no body (RFC 9110 §6.4.1).
pub fn status_has_no_body(status: u16) -> bool {
    (100..200).contains(&status) || status == 204 || status == 304
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_pages_look_like_nginx() {
        let page = String::from_utf8(default_page(502, false)).unwrap();
        assert_eq!(
            page,
            "<html>\r\n<head><title>502 Bad Gateway</title></head>\r\n<body>\r\n<center><h1>502 Bad Gateway</h1></center>\r\n<hr><center>vestibule</center>\r\n</body>\r\n</html>\r\n"
        );
        let page = String::from_utf8(default_page(302, false)).unwrap();
        assert!(
            page.starts_with("<html>\r\n<head><title>302 Found</title>"),
            "{page}"
        );
        assert!(status_has_no_body(304) && status_has_no_body(204) && !status_has_no_body(200));
        assert!(add_header_applies(200) && !add_header_applies(404));
    }
}

//! Writing responses that vestibule makes itself: response heads with nginx's header
//! order (`Server`, `Date`, then the rest), `add_header`, keep-alive, and the default
//! error pages nginx users recognise.

use super::Worker;
use crate::config::model::{HeaderSetting, LocationConf};
use crate::config::template::VariableSource;
use crate::exchange::Exchange;
use crate::http1::{reason_phrase, write, Header, Method, Version};

/// `Server:` when `server_tokens on`.
pub const SERVER_TOKEN: &str = concat!("vestibule/", env!("CARGO_PKG_VERSION"));

/// The `Server` line for `server_tokens on` and for `off`.
const SERVER_LINE: &[u8] =
    concat!("Server: vestibule/", env!("CARGO_PKG_VERSION"), "\r\n").as_bytes();
const SERVER_LINE_BARE: &[u8] = b"Server: vestibule\r\n";

/// How the response body is delimited for the client.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Framing {
    /// No body at all (204, 304, 1xx): no `Content-Length` is sent.
    None,
    Length(u64),
    /// Chunked (HTTP/1.1 clients when the length is not known).
    Chunked,
    /// The body ends with the connection (HTTP/1.0 clients, unknown length).
    Close,
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

/// A response head to write.
#[derive(Debug)]
pub struct Head<'a> {
    pub status: u16,
    /// The upstream's reason phrase; nginx's text for the status when `None`.
    pub reason: Option<&'a str>,
    /// Borrowed header lines with names spelled out in the code, written after
    /// `Server` and `Date` (the static handler's validators: no allocation per line).
    pub fields: &'a [(&'static str, &'a [u8])],
    /// Content-Type, Location, upstream headers: written after `fields`.
    pub headers: Vec<Header>,
    pub framing: Framing,
    pub keep_alive: bool,
}

/// Serialises a response head into `out`, recording what was sent in the exchange:
/// `Server`, `Date`, the given headers, framing, `Connection`, then `add_header`.
pub fn write_head(
    worker: &Worker,
    x: &mut Exchange,
    conf: &LocationConf,
    head: Head<'_>,
    out: &mut Vec<u8>,
) {
    let Head {
        status,
        reason,
        fields,
        headers,
        framing,
        keep_alive,
    } = head;
    // An error page (`error_page 404 /404.html`) keeps the error's status.
    let (status, reason) = match x.status_override {
        Some(code) if status == 200 => (code, None),
        _ => (status, reason),
    };
    // A graceful shutdown began while the request was in flight: say goodbye.
    let keep_alive = keep_alive && !worker.draining.get();
    x.status = status;
    let reason = reason
        .filter(|r| !r.is_empty())
        .unwrap_or_else(|| reason_phrase(status));
    write::write_status_line(Version::Http11, status, reason, out);
    // The header lines go straight into `out`; one copy of them is kept for
    // `$sent_http_*` when a configuration reads it (no allocation per header).
    let lines_start = out.len();
    // The lines vestibule writes itself are literals or values it formats: copied
    // whole, not scanned for control bytes as a configured or upstream value is.
    let server = if conf.server_tokens {
        SERVER_LINE
    } else {
        SERVER_LINE_BARE
    };
    write::write_known_line(server, out);
    {
        let mut date = worker.date.borrow_mut();
        write::write_formatted_header(
            "Date",
            date.http_date(crate::sys::coarse_wall_time()).as_bytes(),
            out,
        );
    }
    // Most locations have no add_header: then nothing is looked up per line.
    let replacing = !conf.add_headers.is_empty();
    for (name, value) in fields {
        if replacing && header_replaced(conf, status, name) {
            continue;
        }
        write::write_known_header(name, value, out);
    }
    for h in &headers {
        if replacing && header_replaced(conf, status, &h.name) {
            continue;
        }
        write::write_header(&h.name, &h.value, out);
    }
    let mut digits = [0u8; 20];
    match framing {
        Framing::None | Framing::Close => {}
        Framing::Length(n) => {
            write::write_formatted_header("Content-Length", decimal(n, &mut digits), out)
        }
        Framing::Chunked => write::write_known_line(b"Transfer-Encoding: chunked\r\n", out),
    }
    if keep_alive {
        write::write_known_line(b"Connection: keep-alive\r\n", out);
        if let Some(t) = conf.keepalive_header_timeout {
            let value = format!("timeout={}", t.as_secs());
            write::write_known_header("Keep-Alive", value.as_bytes(), out);
        }
    } else {
        write::write_known_line(b"Connection: close\r\n", out);
    }
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
            write::write_header(&h.name, &value, out);
        }
    }
    if crate::config::template::sent_headers_read() {
        x.sent_head = out
            .get(lines_start..)
            .map(<[u8]>::to_vec)
            .unwrap_or_default();
    }
    write::write_head_end(out);
}

/// `n` in decimal, in `buf`.
fn decimal(mut n: u64, buf: &mut [u8; 20]) -> &[u8] {
    let mut at = buf.len();
    loop {
        at -= 1;
        buf[at] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            return &buf[at..];
        }
    }
}

/// nginx's default page for an error or redirect status.
pub fn default_page(status: u16, server_tokens: bool) -> Vec<u8> {
    let title = format!("{status} {}", reason_phrase(status));
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

/// Whether a status carries no body (RFC 9110 §6.4.1).
pub fn status_has_no_body(status: u16) -> bool {
    (100..200).contains(&status) || status == 204 || status == 304
}

/// A complete response with a body held in memory: head and body in one buffer, so
/// small responses go out in one write. HEAD requests get the head only.
#[allow(clippy::too_many_arguments)] // each is a distinct part of the response
pub fn simple_response(
    worker: &Worker,
    x: &mut Exchange,
    conf: &LocationConf,
    status: u16,
    mut headers: Vec<Header>,
    content_type: Option<&str>,
    body: &[u8],
    keep_alive: bool,
) -> Vec<u8> {
    let mut out = Vec::with_capacity(256 + body.len());
    let no_body = status_has_no_body(status);
    if let (Some(ct), false) = (content_type, no_body) {
        headers.insert(0, Header::new("Content-Type", ct));
    }
    let framing = if no_body {
        Framing::None
    } else {
        Framing::Length(body.len() as u64)
    };
    write_head(
        worker,
        x,
        conf,
        Head {
            status,
            reason: None,
            fields: &[],
            headers,
            framing,
            keep_alive,
        },
        &mut out,
    );
    let head_len = out.len();
    if !no_body && x.head.method != Method::Head {
        out.extend_from_slice(body);
    }
    x.body_bytes_sent = (out.len() - head_len) as u64;
    x.bytes_sent = out.len() as u64;
    out
}

/// An error or redirect page with nginx's default body.
pub fn error_response(
    worker: &Worker,
    x: &mut Exchange,
    conf: &LocationConf,
    status: u16,
    headers: Vec<Header>,
    keep_alive: bool,
) -> Vec<u8> {
    let body = default_page(status, conf.server_tokens);
    simple_response(
        worker,
        x,
        conf,
        status,
        headers,
        Some("text/html"),
        &body,
        keep_alive,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_server_lines_spell_the_server_token() {
        let line = |l: &[u8]| String::from_utf8(l.to_vec()).unwrap();
        assert_eq!(line(SERVER_LINE), format!("Server: {SERVER_TOKEN}\r\n"));
        assert_eq!(line(SERVER_LINE_BARE), "Server: vestibule\r\n");
    }

    #[test]
    fn default_pages_look_like_nginx() {
        let page = String::from_utf8(default_page(502, false)).unwrap();
        assert_eq!(
            page,
            "<html>\r\n<head><title>502 Bad Gateway</title></head>\r\n<body>\r\n<center><h1>502 Bad Gateway</h1></center>\r\n<hr><center>vestibule</center>\r\n</body>\r\n</html>\r\n"
        );
        assert!(status_has_no_body(304) && status_has_no_body(204) && !status_has_no_body(200));
        assert!(add_header_applies(200) && !add_header_applies(404));
    }
}

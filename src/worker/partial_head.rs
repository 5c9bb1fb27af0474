//! A request head cut off by `client_header_timeout`: what had arrived of it, read
//! as nginx reads it for its log lines. nginx logs such a request with 408 in the
//! access log (fail2ban and goaccess count these), with the request line as far as it
//! came as `$request` (`"GET /partial"`) and the header lines complete so far
//! (`$http_user_agent`, the error log's `host: "..."`).
//!
//! Nothing here decides anything about the request: it is already over.

use crate::http1::{Header, Method, RequestFraming, RequestHead, Version};

/// What a timed-out head said: the head as far as it can be told, and the request
/// line as received (possibly cut short), for `$request`.
#[derive(Debug)]
pub struct PartialHead {
    pub head: RequestHead,
    pub request_line: String,
    /// Whether the request line had ended (nginx: "while reading client request
    /// headers", else "... request line").
    pub line_complete: bool,
}

/// Reads `buf`, the bytes of a head that never completed. `None` when not even a
/// method had arrived (only empty lines, say).
pub fn read(buf: &[u8]) -> Option<PartialHead> {
    let start = buf.iter().position(|&b| b != b'\r' && b != b'\n')?;
    let rest = buf.get(start..)?;
    let line_end = rest.iter().position(|&b| b == b'\n');
    let (line, headers) = match line_end {
        Some(end) => (
            rest.get(..end).unwrap_or_default(),
            rest.get(end + 1..).unwrap_or_default(),
        ),
        None => (rest, &[][..]),
    };
    let line = String::from_utf8_lossy(line).trim_end().to_string();
    let mut words = line.split(' ').filter(|w| !w.is_empty());
    let method = Method::from_token(words.next()?);
    let target = words.next().unwrap_or_default().to_string();
    let version = match words.next() {
        Some("HTTP/1.1") => Version::Http11,
        _ => Version::Http10,
    };
    let (path, query) = match target.split_once('?') {
        Some((p, q)) => (p.to_string(), Some(q.to_string())),
        None => (target.clone(), None),
    };
    let headers = complete_header_lines(headers);
    let host = headers
        .iter()
        .find(|h| h.name.eq_ignore_ascii_case("host"))
        .map(|h| String::from_utf8_lossy(h.value.as_slice()).into_owned());
    Some(PartialHead {
        head: RequestHead {
            method,
            target,
            path,
            query,
            version,
            headers,
            host,
            framing: RequestFraming::None,
            keep_alive: false,
            expect_continue: false,
            upgrade: None,
            connection_tokens: Default::default(),
        },
        request_line: line,
        line_complete: line_end.is_some(),
    })
}

/// The `name: value` lines that end in a line feed; a line still arriving is left out.
fn complete_header_lines(mut buf: &[u8]) -> Vec<Header> {
    let mut out = Vec::new();
    while let Some(end) = buf.iter().position(|&b| b == b'\n') {
        let line = buf.get(..end).unwrap_or_default();
        buf = buf.get(end + 1..).unwrap_or_default();
        let line = String::from_utf8_lossy(line);
        let line = line.trim_end();
        if line.is_empty() {
            break;
        }
        if let Some((name, value)) = line.split_once(':') {
            out.push(Header::new(name.trim().to_string(), value.trim()));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn a_line_cut_short_is_logged_as_far_as_it_came() {
        let p = read(b"GET /partial").unwrap();
        assert_eq!(p.request_line, "GET /partial");
        assert_eq!(p.head.path, "/partial");
        assert!(p.head.host.is_none());
        assert!(read(b"\r\n\r\n").is_none());
    }

    #[test]
    fn complete_header_lines_count_and_the_one_arriving_does_not() {
        let p =
            read(b"\r\nGET /p?q=1 HTTP/1.1\r\nUser-Agent: ua1\r\nHost: a.example\r\nX-Half: ab")
                .unwrap();
        assert_eq!(p.request_line, "GET /p?q=1 HTTP/1.1");
        assert_eq!(p.head.query.as_deref(), Some("q=1"));
        assert_eq!(p.head.host.as_deref(), Some("a.example"));
        let names: Vec<&str> = p.head.headers.iter().map(|h| h.name.as_ref()).collect();
        assert_eq!(names, ["User-Agent", "Host"]);
    }
}

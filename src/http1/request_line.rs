//! The request line and the forms of its request-target (RFC 9112 §3), parsed for
//! [`super::request::parse_request_head`] before httparse reads the header block, so
//! that each fault gets nginx's status: 505 for HTTP/2 and later, 400 with "client
//! sent invalid method" or "client sent invalid request" otherwise, 405 later for
//! CONNECT (whose authority-form target is therefore never parsed).

use super::error::{HeadError, RequestLineDefect};
use super::head::{excerpt, Version};
use super::host::is_valid_authority;
use super::method::Method;

/// The bytes before the first SP or CR: the method, or as much of it as has arrived.
pub(crate) fn method_prefix(line: &[u8]) -> &[u8] {
    let end = line
        .iter()
        .position(|&b| b == b' ' || b == b'\r')
        .unwrap_or(line.len());
    line.get(..end).unwrap_or_default()
}

/// nginx's method alphabet: `A-Z`, `_`, `-`.
pub(crate) fn is_method_byte(b: u8) -> bool {
    b.is_ascii_uppercase() || b == b'_' || b == b'-'
}

/// `method SP request-target SP HTTP-version` (RFC 9112 §3). As nginx does (and as
/// RFC 9112 §3 allows: "recipients MAY instead parse on whitespace-delimited word
/// boundaries"), runs of SP between the parts and after the version are accepted;
/// only SP is a separator, never HTAB or a bare CR. vestibule writes its own request
/// line upstream, so the lenience cannot reach a second parser.
pub(crate) fn parse_request_line(line: &[u8]) -> Result<(Method, &str, Version), HeadError> {
    use RequestLineDefect as D;
    let method = method_prefix(line);
    if method.is_empty() || !method.iter().all(|&b| is_method_byte(b)) {
        return Err(HeadError::InvalidMethod);
    }
    if line.contains(&b'\r') {
        return Err(HeadError::InvalidRequestLine(D::BareCr));
    }
    let rest = line.get(method.len()..).unwrap_or_default();
    if rest.first() != Some(&b' ') {
        return Err(HeadError::InvalidRequestLine(D::Malformed));
    }
    let (target, rest) = next_word(rest);
    // RFC 9112 §3.2: the target is visible ASCII; raw UTF-8 is let through as nginx does.
    if let Some(&bad) = target.iter().find(|&&b| b < b' ' || b == 0x7f) {
        return Err(HeadError::InvalidRequestLine(D::TargetByte(bad)));
    }
    let (version, rest) = next_word(rest);
    if version.is_empty() {
        let defect = if target.first() == Some(&b'/') {
            D::Http09
        } else {
            D::Malformed
        };
        return Err(HeadError::InvalidRequestLine(defect));
    }
    if !rest.is_empty() {
        return Err(HeadError::InvalidRequestLine(D::Malformed));
    }
    let target = std::str::from_utf8(target).map_err(|e| {
        let bad = target.get(e.valid_up_to()).copied().unwrap_or_default();
        HeadError::InvalidRequestLine(D::TargetByte(bad))
    })?;
    let version = parse_version(version)?;
    // `method` is ASCII, so this is never the empty fallback.
    let method = Method::from_token(std::str::from_utf8(method).unwrap_or_default());
    Ok((method, target, version))
}

/// Skips the SPs at the start of `s` and splits off the word that follows: the word
/// (empty at the end of the line) and what comes after it, leading SPs skipped.
fn next_word(s: &[u8]) -> (&[u8], &[u8]) {
    let s = trim_spaces(s);
    let end = s.iter().position(|&b| b == b' ').unwrap_or(s.len());
    let (word, rest) = s.split_at(end);
    (word, trim_spaces(rest))
}

fn trim_spaces(s: &[u8]) -> &[u8] {
    let start = s.iter().position(|&b| b != b' ').unwrap_or(s.len());
    s.get(start..).unwrap_or_default()
}

/// The highest minor version accepted before one more digit: nginx's bound, so a
/// minor version has at most three significant digits (leading zeros are free).
const MAX_MINOR_BEFORE_DIGIT: u32 = 99;

/// `HTTP/` DIGIT `.` DIGIT (RFC 9112 §2.3), read as nginx reads it
/// (`ngx_http_parse_request_line`): the major version starts with 1-9 (`HTTP/0.9` and
/// `HTTP/01.1` are 400), a major version above 1 is 505 as soon as it is known, and a
/// 1.x above 1.1 is served as 1.1 (RFC 9110 §6.2). Anything else is 400.
fn parse_version(version: &[u8]) -> Result<Version, HeadError> {
    let garbage = || HeadError::InvalidRequestLine(RequestLineDefect::Version);
    let digit = |b: u8| b.is_ascii_digit().then(|| u32::from(b - b'0'));
    let mut bytes = version
        .strip_prefix(b"HTTP/")
        .ok_or_else(garbage)?
        .iter()
        .copied();
    let mut major = bytes
        .next()
        .and_then(digit)
        .filter(|&d| d > 0)
        .ok_or_else(garbage)?;
    loop {
        if major > 1 {
            return Err(HeadError::UnsupportedVersion { major });
        }
        match bytes.next() {
            Some(b'.') => break,
            Some(b) => major = major * 10 + digit(b).ok_or_else(garbage)?,
            None => return Err(garbage()),
        }
    }
    let mut minor = bytes.next().and_then(digit).ok_or_else(garbage)?;
    for b in bytes {
        let d = digit(b).ok_or_else(garbage)?;
        if minor > MAX_MINOR_BEFORE_DIGIT {
            return Err(garbage());
        }
        minor = minor * 10 + d;
    }
    Ok(if minor == 0 {
        Version::Http10
    } else {
        Version::Http11
    })
}

/// The parts of a request-target (RFC 9112 §3.2).
pub(crate) struct Target {
    pub path: String,
    pub query: Option<String>,
    pub authority: Option<String>,
}

pub(crate) fn parse_target(method: &Method, target: &str) -> Result<Target, HeadError> {
    use RequestLineDefect as D;
    let invalid = |d| Err(HeadError::InvalidRequestLine(d));
    if *method == Method::Connect {
        // Refused with 405 once the head is read; its authority-form is not parsed.
        return Ok(Target {
            path: target.to_owned(),
            query: None,
            authority: None,
        });
    }
    if target.starts_with('/') {
        let (path, query) = split_path_query(target);
        return Ok(Target {
            path,
            query,
            authority: None,
        });
    }
    if target == "*" {
        return match method {
            Method::Options => Ok(Target {
                path: "*".to_owned(),
                query: None,
                authority: None,
            }),
            _ => invalid(D::TargetForm),
        };
    }
    let Some((scheme, rest)) = target.split_once("://") else {
        return invalid(D::TargetForm);
    };
    if !scheme.eq_ignore_ascii_case("http") && !scheme.eq_ignore_ascii_case("https") {
        return invalid(D::Scheme);
    }
    let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let (authority, path_and_query) = rest.split_at(end);
    if authority.contains('@') {
        return invalid(D::Userinfo);
    }
    if !is_valid_authority(authority.as_bytes()) {
        return Err(HeadError::InvalidHostInRequestLine {
            value: excerpt(authority.as_bytes()),
        });
    }
    let (mut path, query) = split_path_query(path_and_query);
    if path.is_empty() {
        path.push('/'); // RFC 9112 §3.2.2 with RFC 3986 §6.2.3: an empty path is "/".
    }
    Ok(Target {
        path,
        query,
        authority: Some(authority.to_owned()),
    })
}

fn split_path_query(s: &str) -> (String, Option<String>) {
    let s = s.split_once('#').map_or(s, |(before, _)| before);
    match s.split_once('?') {
        Some((path, query)) => (path.to_owned(), Some(query.to_owned())),
        None => (s.to_owned(), None),
    }
}

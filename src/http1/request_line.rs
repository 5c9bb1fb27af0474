//! The request line and the forms of its request-target (RFC 9112 §3), parsed for
//! [`super::request::parse_request_head`] before httparse reads the header block, so
//! that each fault gets nginx's status: 505 for HTTP/2 and later, 400 with "client
//! sent invalid method" or "client sent invalid request" otherwise, 405 later for
//! CONNECT (whose authority-form target is therefore never parsed).

use super::error::{HeadError, RequestLineDefect};
use super::head::{excerpt, Version};
use super::host::is_valid_host;
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

/// `method SP request-target SP HTTP-version` with single spaces (RFC 9112 §3).
pub(crate) fn parse_request_line(line: &[u8]) -> Result<(Method, &str, Version), HeadError> {
    use RequestLineDefect as D;
    let method = method_prefix(line);
    if method.is_empty() || !method.iter().all(|&b| is_method_byte(b)) {
        return Err(HeadError::InvalidMethod);
    }
    if line.contains(&b'\r') {
        return Err(HeadError::InvalidRequestLine(D::BareCr));
    }
    let Some(rest) = line.get(method.len()..).and_then(|r| r.strip_prefix(b" ")) else {
        return Err(HeadError::InvalidRequestLine(D::Malformed));
    };
    let mut parts = rest.splitn(2, |&b| b == b' ');
    let target = parts.next().unwrap_or_default();
    let Some(version) = parts.next() else {
        let defect = if target.first() == Some(&b'/') {
            D::Http09
        } else {
            D::Malformed
        };
        return Err(HeadError::InvalidRequestLine(defect));
    };
    if target.is_empty() || version.contains(&b' ') {
        return Err(HeadError::InvalidRequestLine(D::Malformed));
    }
    // RFC 9112 §3.2: the target is visible ASCII; raw UTF-8 is let through as nginx does.
    if let Some(&bad) = target.iter().find(|&&b| b <= b' ' || b == 0x7f) {
        return Err(HeadError::InvalidRequestLine(D::TargetByte(bad)));
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

/// Digits allowed in each part of the version number.
const MAX_VERSION_DIGITS: usize = 3;

/// `HTTP/` DIGIT `.` DIGIT (RFC 9112 §2.3). A 1.x above 1.1 is served as 1.1
/// (RFC 9110 §6.2); any other major version is 505, garbage is 400.
fn parse_version(version: &[u8]) -> Result<Version, HeadError> {
    let garbage = HeadError::InvalidRequestLine(RequestLineDefect::Version);
    let number = version
        .strip_prefix(b"HTTP/")
        .ok_or_else(|| garbage.clone())?;
    let mut parts = number.splitn(2, |&b| b == b'.');
    let major = parts
        .next()
        .and_then(parse_version_part)
        .ok_or_else(|| garbage.clone())?;
    let minor = match parts.next() {
        Some(minor) => Some(parse_version_part(minor).ok_or_else(|| garbage.clone())?),
        None => None,
    };
    match (major, minor) {
        (1, Some(0)) => Ok(Version::Http10),
        (1, Some(_)) => Ok(Version::Http11),
        (1, None) => Err(garbage),
        (major, _) => Err(HeadError::UnsupportedVersion { major }),
    }
}

fn parse_version_part(digits: &[u8]) -> Option<u32> {
    if digits.is_empty() || digits.len() > MAX_VERSION_DIGITS {
        return None;
    }
    digits.iter().try_fold(0u32, |n, &b| {
        b.is_ascii_digit().then(|| n * 10 + u32::from(b - b'0'))
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
    if !is_valid_host(authority.as_bytes()) {
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

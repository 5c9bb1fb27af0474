//! The `Host` header (or the host of an absolute-form request target) made into the
//! name server selection compares: nginx's `ngx_http_validate_host`.
//!
//! Sits in the data path after head parsing and before server selection; a `None` from
//! [`normalize_host`] is the 400 "client sent invalid host header" the worker answers.

use std::borrow::Cow;

/// Where the scanner is in `host[:port]` or `[v6]:port`.
#[derive(Clone, Copy, PartialEq, Eq)]
enum State {
    /// In the host name.
    Usual,
    /// Inside `[...]` (an IPv6 literal), where `:` is part of the host.
    Literal,
    /// After the host (the port): still checked, no longer part of the name.
    Rest,
}

/// Lowercases the host, strips `:port` (also after `[v6]`) and one trailing dot.
///
/// Returns `None`, as nginx does, for an empty host, two consecutive dots, `/`, NUL,
/// control bytes, space and DEL. Two rules are stricter than nginx on Linux, on purpose:
/// a leading dot (nginx lets `.example.com` through to wildcard matching) and `\` (a
/// path separator only on Windows for nginx) are rejected too, since no real host has
/// either and the host may later be used in a path or a log line.
///
/// Borrows when nothing needs lowercasing, so a well-formed host costs no allocation.
pub fn normalize_host(raw: &str) -> Option<Cow<'_, str>> {
    let mut state = State::Usual;
    let mut host_len = raw.len();
    let mut last_dot: Option<usize> = None;
    for (i, b) in raw.bytes().enumerate() {
        match b {
            b'.' if i == 0 || last_dot.is_some_and(|d| d + 1 == i) => return None,
            b'.' => last_dot = Some(i),
            b':' if state == State::Usual => {
                host_len = i;
                state = State::Rest;
            }
            b'[' if i == 0 => state = State::Literal,
            b']' if state == State::Literal => {
                host_len = i + 1;
                state = State::Rest;
            }
            b'/' | b'\\' | 0..=0x20 | 0x7f => return None,
            _ => {}
        }
    }
    // nginx compares with the last dot anywhere, the port part included.
    if host_len > 0 && last_dot == Some(host_len - 1) {
        host_len -= 1;
    }
    if host_len == 0 {
        return None;
    }
    let host = raw.get(..host_len)?;
    if host.bytes().any(|b| b.is_ascii_uppercase()) {
        Some(Cow::Owned(host.to_ascii_lowercase()))
    } else {
        Some(Cow::Borrowed(host))
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::panic)]

    use super::*;

    #[test]
    fn normalize_host_table() {
        let cases: &[(&str, &str, Option<&str>)] = &[
            ("plain", "example.com", Some("example.com")),
            ("lowercased", "Example.COM", Some("example.com")),
            ("port_stripped", "Example.COM:8080", Some("example.com")),
            ("empty_port_stripped", "example.com:", Some("example.com")),
            ("trailing_dot_stripped", "example.com.", Some("example.com")),
            (
                "trailing_dot_before_port",
                "example.com.:80",
                Some("example.com"),
            ),
            ("ipv4", "127.0.0.1:8000", Some("127.0.0.1")),
            ("ipv6_literal_with_port", "[::1]:80", Some("[::1]")),
            ("ipv6_literal", "[::1]", Some("[::1]")),
            ("ipv6_uppercase", "[FE80::1]", Some("[fe80::1]")),
            ("single_label", "localhost", Some("localhost")),
            ("port_twice", "Example.com:80:80", Some("example.com")),
            ("ipv6_port_twice", "[::1]:80:80", Some("[::1]")),
            ("ip_future", "[v1.fe80::a+en1]", Some("[v1.fe80::a+en1]")),
            (
                "ip_future_upper",
                "[V1.FE80::A+en1]",
                Some("[v1.fe80::a+en1]"),
            ),
            (
                "ip_future_port",
                "[v1.fe80::a+en1]:8080",
                Some("[v1.fe80::a+en1]"),
            ),
            ("underscore_allowed", "my_host", Some("my_host")),
            (
                "utf8_passed_through",
                "bücher.example",
                Some("bücher.example"),
            ),
            ("empty", "", None),
            ("only_port", ":80", None),
            ("only_dot", ".", None),
            ("leading_dot", ".example.com", None),
            ("double_dot", "example..com", None),
            ("double_dot_in_port", "example.com:8..0", None),
            ("slash", "example.com/x", None),
            ("backslash", "example.com\\x", None),
            ("space", "example .com", None),
            ("tab", "example.com\t", None),
            ("nul", "exa\0mple.com", None),
            ("control", "exa\x01mple.com", None),
            ("del", "example.com\x7f", None),
        ];
        for (name, input, want) in cases {
            assert_eq!(normalize_host(input).as_deref(), *want, "{name}: {input:?}");
        }
    }

    #[test]
    fn lowercase_host_is_borrowed() {
        assert!(matches!(
            normalize_host("example.com:80"),
            Some(Cow::Borrowed("example.com"))
        ));
        assert!(matches!(normalize_host("EXAMPLE.com"), Some(Cow::Owned(_))));
    }
}

//! `listen 127.0.0.1:8000-8010;` (nginx 1.15.10+): a port range in a listen address,
//! each port bound as if written on its own line. Pure; read once at load.
//!
//! nginx's rules, checked against 1.22: the ports are decimal digits, each 1..=65535
//! (`0-5` and `8000-70000` are `invalid port`), the first not above the last
//! (`8010-8000` is `invalid port range`), and `8000-8000` is one port. How many ports a
//! configuration may bind in all is bounded by `worker_connections`, as nginx's
//! `N worker_connections are not enough for M listening sockets` (see `main_ctx.rs`).

use std::ops::RangeInclusive;

use crate::config::error::ConfigErrorKind;

/// A listen address whose port part is a range: the address with the range's first
/// port in its place (for the ordinary parser), and the range. `Ok(None)` when the
/// port part is not a range (`-` inside a host name is not one).
pub fn split(value: &str) -> Result<Option<(String, RangeInclusive<u16>)>, ConfigErrorKind> {
    if value.starts_with("unix:") {
        return Ok(None);
    }
    let (host, ports) = match value.rfind(':') {
        Some(at) => (&value[..=at], &value[at + 1..]),
        None => ("", value),
    };
    if !ports.contains('-') || !ports.bytes().all(|b| b.is_ascii_digit() || b == b'-') {
        return Ok(None);
    }
    let invalid_port = || ConfigErrorKind::InvalidPort {
        directive: "listen".to_string(),
        value: value.to_string(),
    };
    let (first, last) = ports.split_once('-').ok_or_else(invalid_port)?;
    let port = |text: &str| {
        text.parse::<u16>()
            .ok()
            .filter(|p| *p > 0 && !text.is_empty())
            .ok_or_else(invalid_port)
    };
    let (first, last) = (port(first)?, port(last)?);
    if first > last {
        return Err(ConfigErrorKind::InvalidPortRange {
            directive: "listen".to_string(),
            value: value.to_string(),
        });
    }
    Ok(Some((format!("{host}{first}"), first..=last)))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::split;

    /// The address with the first port, the first port and the last.
    type Split<'a> = Option<(&'a str, u16, u16)>;

    #[test]
    fn ranges_as_nginx_reads_them() {
        let cases: &[(&str, Split)] = &[
            ("127.0.0.1:8000-8010", Some(("127.0.0.1:8000", 8000, 8010))),
            ("8000-8002", Some(("8000", 8000, 8002))),
            ("*:8000-8001", Some(("*:8000", 8000, 8001))),
            ("[::1]:8000-8001", Some(("[::1]:8000", 8000, 8001))),
            ("localhost:8000-8001", Some(("localhost:8000", 8000, 8001))),
            ("127.0.0.1:8000-8000", Some(("127.0.0.1:8000", 8000, 8000))),
            ("127.0.0.1:08000-8001", Some(("127.0.0.1:8000", 8000, 8001))),
            ("127.0.0.1:8000", None),
            ("my-host", None),
            ("my-host:80", None),
            ("unix:/run/a-1", None),
            ("[::1]", None),
        ];
        for (value, want) in cases {
            let got = split(value).unwrap();
            let got = got
                .as_ref()
                .map(|(a, r)| (a.as_str(), *r.start(), *r.end()));
            assert_eq!(got, *want, "{value}");
        }
    }

    #[test]
    fn bad_ranges_as_nginx_words_them() {
        let cases = [
            (
                "127.0.0.1:8010-8000",
                "invalid port range in \"127.0.0.1:8010-8000\" of the \"listen\" directive",
            ),
            (
                "127.0.0.1:0-5",
                "invalid port in \"127.0.0.1:0-5\" of the \"listen\" directive",
            ),
            (
                "127.0.0.1:8000-70000",
                "invalid port in \"127.0.0.1:8000-70000\" of the \"listen\" directive",
            ),
            (
                "127.0.0.1:8000-",
                "invalid port in \"127.0.0.1:8000-\" of the \"listen\" directive",
            ),
            (
                "127.0.0.1:-8000",
                "invalid port in \"127.0.0.1:-8000\" of the \"listen\" directive",
            ),
            (
                "127.0.0.1:8000--8001",
                "invalid port in \"127.0.0.1:8000--8001\" of the \"listen\" directive",
            ),
        ];
        for (value, want) in cases {
            assert_eq!(split(value).unwrap_err().to_string(), want, "{value}");
        }
    }
}

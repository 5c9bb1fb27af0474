//! The request path as nginx sees it for routing (`$uri`): percent-decoded, with `//`
//! merged and `.` / `..` segments resolved — nginx's `ngx_http_parse_complex_uri`.
//! A path that climbs above `/`, contains an encoded NUL or a broken `%` escape is a
//! 400. Pure functions; routing, proxying and static files all start from this.
//!
//! The inverse, [`escape_path`], re-encodes a normalised path for `proxy_pass` with a
//! URI part, as nginx's `ngx_escape_uri` does.

/// Why a request path is refused (each is a 400, as in nginx).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum UriError {
    #[error("client sent invalid request: the path must start with \"/\"")]
    NotAbsolute,
    #[error("client sent invalid request: \"..\" climbs above the root")]
    AboveRoot,
    #[error("client sent invalid request: the path contains a NUL byte")]
    Nul,
    #[error("client sent invalid request: broken percent-encoding")]
    BadEscape,
    #[error("client sent invalid request: the decoded path is not UTF-8")]
    NotUtf8,
}

/// The value of one hexadecimal digit (either case).
pub fn hex_value(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

/// Percent-decodes `raw` (the path part of the request target, before `?`).
pub fn percent_decode(raw: &[u8]) -> Result<Vec<u8>, UriError> {
    let mut out = Vec::with_capacity(raw.len());
    let mut i = 0;
    while i < raw.len() {
        let b = raw[i];
        if b == b'%' {
            let hi = raw
                .get(i + 1)
                .copied()
                .and_then(hex_value)
                .ok_or(UriError::BadEscape)?;
            let lo = raw
                .get(i + 2)
                .copied()
                .and_then(hex_value)
                .ok_or(UriError::BadEscape)?;
            out.push(hi << 4 | lo);
            i += 3;
        } else {
            out.push(b);
            i += 1;
        }
    }
    Ok(out)
}

/// `$uri` from the raw path: decode, then merge slashes and resolve dot segments.
pub fn normalize_path(raw: &str) -> Result<String, UriError> {
    if !raw.starts_with('/') {
        return Err(UriError::NotAbsolute);
    }
    // Most paths need nothing done: no escapes, no empty or dot segments. They are
    // their own `$uri` (one allocation rather than three).
    if !raw.contains(['%', '\0']) && !raw.contains("//") && !raw.contains("/.") {
        return Ok(raw.to_string());
    }
    normalize_path_general(raw)
}

/// [`normalize_path`] without its shortcut: every step, for every path (the fuzz
/// property checks that both agree).
pub fn normalize_path_general(raw: &str) -> Result<String, UriError> {
    if !raw.starts_with('/') {
        return Err(UriError::NotAbsolute);
    }
    let decoded = percent_decode(raw.as_bytes())?;
    if decoded.contains(&0) {
        return Err(UriError::Nul);
    }
    let decoded = String::from_utf8(decoded).map_err(|_| UriError::NotUtf8)?;
    let mut segments: Vec<&str> = Vec::new();
    for seg in decoded.split('/') {
        match seg {
            "" | "." => {}
            ".." => {
                if segments.pop().is_none() {
                    return Err(UriError::AboveRoot);
                }
            }
            s => segments.push(s),
        }
    }
    let mut out = String::with_capacity(decoded.len());
    for s in &segments {
        out.push('/');
        out.push_str(s);
    }
    // A trailing slash (or a trailing "." / ".." segment) names a directory.
    let ends_as_dir = decoded.ends_with('/') || decoded.ends_with("/.") || decoded.ends_with("/..");
    if out.is_empty() || ends_as_dir {
        out.push('/');
    }
    Ok(out)
}

/// Appends `path` percent-encoding what may not appear raw in a request target
/// (controls, space, `"#%<>?\^`{|}` and bytes ≥ 0x80), as nginx's `NGX_ESCAPE_URI`.
pub fn escape_path(path: &str, out: &mut String) {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    for &b in path.as_bytes() {
        let keep = b.is_ascii_graphic() && !b"\"#%<>?\\^`{|}".contains(&b);
        if keep {
            out.push(char::from(b));
        } else {
            out.push('%');
            out.push(char::from(HEX[usize::from(b >> 4)]));
            out.push(char::from(HEX[usize::from(b & 15)]));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalisation_as_nginx() {
        let cases: &[(&str, Result<&str, UriError>)] = &[
            ("/", Ok("/")),
            ("/static/app.css", Ok("/static/app.css")),
            ("//static//app.css", Ok("/static/app.css")),
            ("/static/./app.css", Ok("/static/app.css")),
            ("/static/../app.css", Ok("/app.css")),
            ("/static/x/..", Ok("/static/")),
            ("/static/.", Ok("/static/")),
            ("/dir/", Ok("/dir/")),
            ("/a%20b", Ok("/a b")),
            ("/%2e%2e/etc/passwd", Err(UriError::AboveRoot)),
            ("/static/%2e%2e/%2e%2e/etc/passwd", Err(UriError::AboveRoot)),
            ("/..", Err(UriError::AboveRoot)),
            ("/a/../..", Err(UriError::AboveRoot)),
            ("/a%2Fb", Ok("/a/b")),
            ("/%252e%252e/x", Ok("/%2e%2e/x")),
            ("/a%00b", Err(UriError::Nul)),
            ("/a%zz", Err(UriError::BadEscape)),
            ("/a%2", Err(UriError::BadEscape)),
            ("/%ff", Err(UriError::NotUtf8)),
            ("/caf%C3%A9", Ok("/café")),
            ("relative", Err(UriError::NotAbsolute)),
            ("", Err(UriError::NotAbsolute)),
        ];
        for (raw, want) in cases {
            assert_eq!(normalize_path(raw).as_deref(), want.as_deref(), "{raw:?}");
        }
    }

    #[test]
    fn escape_round_trips_through_decode() {
        for path in ["/a b/c%d", "/café?#", "/plain/path-_.~!$&'()*+,;=:@"] {
            let mut escaped = String::new();
            escape_path(path, &mut escaped);
            assert!(!escaped.contains(' ') && !escaped.contains('?'));
            assert_eq!(percent_decode(escaped.as_bytes()).unwrap(), path.as_bytes());
        }
        let mut s = String::new();
        escape_path("/plain/path", &mut s);
        assert_eq!(s, "/plain/path");
    }
}

/// Randomised checks of [`normalize_path`]'s invariants over many generated paths
/// (a fuzz target in `fuzz/` explores further; this keeps the invariants in every
/// ordinary test run).
#[cfg(test)]
mod generated {
    use super::*;

    /// A small deterministic generator (xorshift), so failures reproduce.
    struct Gen(u64);

    impl Gen {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            self.0
        }

        fn pick<'a>(&mut self, options: &[&'a str]) -> &'a str {
            options[(self.next() % options.len() as u64) as usize]
        }
    }

    const PIECES: &[&str] = &[
        "/", "//", ".", "..", "%2e", "%2E%2e", "%2f", "%2F", "a", "static", "%00", "%", "%zz",
        "%25", "%252e", "\\", "~", "é", "%c3%a9", "%ff", " ", "?", "#", "...", ".%2e", "%2e.",
    ];

    #[test]
    fn normalised_paths_never_leave_the_root() {
        let mut g = Gen(0x5eed_1234_abcd_ef01);
        for _ in 0..200_000 {
            let mut raw = String::from("/");
            for _ in 0..(g.next() % 12) {
                raw.push_str(g.pick(PIECES));
            }
            let Ok(path) = normalize_path(&raw) else {
                continue;
            };
            assert!(path.starts_with('/'), "{raw:?} → {path:?}");
            assert!(!path.contains("//"), "{raw:?} → {path:?}");
            assert!(!path.contains('\0'), "{raw:?} → {path:?}");
            for seg in path.split('/') {
                assert!(seg != ".." && seg != ".", "{raw:?} → {path:?}");
            }
            // Normalising is idempotent once decoded text contains no '%'.
            if !path.contains('%') {
                assert_eq!(
                    normalize_path(&path).as_deref(),
                    Ok(path.as_str()),
                    "{raw:?}"
                );
            }
        }
    }
}

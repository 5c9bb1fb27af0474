//! What a matching `rewrite` makes of its replacement, byte for byte as nginx 1.22
//! makes it (`ngx_http_script_regex_start_code`, `..._copy_capture_code`,
//! `..._regex_end_code`):
//!
//! - an internal rewrite takes the text before the first `?` written in the
//!   replacement as the new `$uri`, as it is (not decoded, not normalised), and what
//!   follows as the new arguments, to which the request's own are appended with `&`
//!   unless the replacement ends with `?`;
//! - a redirect's `Location` is the whole expansion with `%XX` decoded before its
//!   first `?` where the byte is printable and above `%` (`NGX_UNESCAPE_REDIRECT`),
//!   then `?` (or `&` when a `?` was written) and the request's arguments;
//! - a capture `$1`..`$9` copied into a redirect or into the arguments is escaped
//!   (`NGX_ESCAPE_ARGS`) when the request's path had a `%` or a `+`, since the
//!   capture holds decoded text then.
//!
//! Pure functions over bytes.

use crate::config::template::{Part, Template, Variable, VariableSource};

/// Whether captures copied into a redirect or into arguments are escaped: when the
/// request's path, as sent, holds a `%` or a `+` (nginx's `r->quoted_uri` and
/// `r->plus_in_uri`).
pub fn captures_need_escaping(request_target: &str) -> bool {
    let path = request_target
        .split_once('?')
        .map_or(request_target, |(p, _)| p);
    path.contains(['%', '+'])
}

/// Appends the expansion of a replacement; captures are escaped as nginx's
/// `NGX_ESCAPE_ARGS` when `escape_captures` (other variables never are).
pub fn expand(t: &Template, vars: &dyn VariableSource, escape_captures: bool, out: &mut Vec<u8>) {
    let mut scratch = Vec::new();
    for part in &t.parts {
        match part {
            Part::Literal(s) => out.extend_from_slice(s.as_bytes()),
            Part::Var(v @ Variable::Capture(_)) if escape_captures => {
                scratch.clear();
                vars.write_variable(v, &mut scratch);
                escape_args(&scratch, out);
            }
            Part::Var(v) => {
                vars.write_variable(v, out);
            }
        }
    }
}

/// nginx's `NGX_ESCAPE_ARGS`: space, `#`, `%`, `&`, `+`, `;`, `?`, controls and
/// bytes from 0x7f up, as `%XX`.
pub fn escape_args(bytes: &[u8], out: &mut Vec<u8>) {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    for &b in bytes {
        if b <= b' ' || b >= 0x7f || b"#%&+;?".contains(&b) {
            out.extend_from_slice(&[b'%', HEX[usize::from(b >> 4)], HEX[usize::from(b & 15)]]);
        } else {
            out.push(b);
        }
    }
}

/// nginx's `ngx_unescape_uri(.., NGX_UNESCAPE_REDIRECT)` followed by the copy of
/// what it left: up to the first `?` (written, or decoded from `%3F`), `%XX` becomes
/// its byte when that is above `%` and below DEL, and stays as written otherwise; a
/// `%` not followed by two hex digits is dropped with the digit it had, as nginx's
/// state machine drops them. After the `?`, everything is copied as is.
pub fn unescape_redirect(input: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(input.len());
    let mut i = 0;
    while let Some(&b) = input.get(i) {
        i += 1;
        if b == b'?' {
            out.push(b);
            break;
        }
        if b != b'%' {
            out.push(b);
            continue;
        }
        // `%`: nginx's sw_quoted state.
        let Some(&h) = input.get(i) else { break };
        i += 1;
        let Some(high) = crate::uri::hex_value(h) else {
            // "the invalid quoted character": the `%` is dropped, the byte kept.
            out.push(h);
            continue;
        };
        let Some(&l) = input.get(i) else { break };
        i += 1;
        let Some(low) = crate::uri::hex_value(l) else {
            // Invalid second digit: `%`, the first digit and this byte are dropped.
            continue;
        };
        let decoded = (high << 4) | low;
        if decoded == b'?' {
            out.push(decoded);
            break;
        }
        if decoded > b'%' && decoded < 0x7f {
            out.push(decoded);
        } else {
            out.extend_from_slice(&[b'%', h, l]);
        }
    }
    out.extend_from_slice(input.get(i..).unwrap_or_default());
    out
}

/// A redirecting rewrite's `Location`: the expansion unescaped, then the request's
/// arguments (when kept and not empty) after `&` if a `?` was written in the
/// replacement, else after `?`.
pub fn redirect_location(
    expanded: &[u8],
    has_question_mark: bool,
    add_args: bool,
    args: Option<&str>,
) -> String {
    let mut location = unescape_redirect(expanded);
    if let Some(args) = args.filter(|a| add_args && !a.is_empty()) {
        location.push(if has_question_mark { b'&' } else { b'?' });
        location.extend_from_slice(args.as_bytes());
    }
    String::from_utf8_lossy(&location).into_owned()
}

/// The arguments after an internal rewrite: those written after the replacement's
/// `?` (expanded into `written`), with the request's appended after `&` when kept;
/// without a written part, the request's when kept, else none.
pub fn internal_args(
    written: Option<Vec<u8>>,
    add_args: bool,
    args: Option<&str>,
) -> Option<String> {
    let kept = args.filter(|_| add_args);
    match written {
        Some(mut w) => {
            if let Some(a) = kept.filter(|a| !a.is_empty()) {
                w.push(b'&');
                w.extend_from_slice(a.as_bytes());
            }
            (!w.is_empty()).then(|| String::from_utf8_lossy(&w).into_owned())
        }
        None => kept.map(str::to_string),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn captures_are_escaped_only_for_requests_with_percent_or_plus() {
        let cases: &[(&str, bool)] = &[
            ("/a/b?q=%20", false),
            ("/a%20b", true),
            ("/a+b?q", true),
            ("/plain", false),
            ("/x?a+b", false),
        ];
        for (target, want) in cases {
            assert_eq!(captures_need_escaping(target), *want, "{target}");
        }
    }

    #[test]
    fn args_escaping_as_nginx() {
        let mut out = Vec::new();
        escape_args(b"a b#%&+;?/=:\x01\x7f\xc3\xa9~", &mut out);
        assert_eq!(out, b"a%20b%23%25%26%2B%3B%3F/=:%01%7F%C3%A9~");
    }

    /// Each row is what nginx 1.22 sent as `Location` for the same replacement
    /// (checked with curl against `/usr/sbin/nginx`).
    #[test]
    fn redirect_unescaping_as_nginx() {
        let cases: &[(&str, &[u8], &str)] = &[
            (
                "printable_decoded_space_kept",
                b"http://e.test/%41%20b/",
                "http://e.test/A%20b/",
            ),
            (
                "decoded_question_mark_ends",
                b"http://e.test/b%3F%26",
                "http://e.test/b?%26",
            ),
            ("after_question_mark_as_is", b"/n/b?a=%41", "/n/b?a=%41"),
            ("escaped_capture_round_trip", b"/b%20c", "/b%20c"),
            ("plus_decoded", b"/b%2Bc", "/b+c"),
            ("percent_itself_kept", b"/a%25b", "/a%25b"),
            ("non_ascii_kept", b"/b%C3%A9", "/b%C3%A9"),
            ("lowercase_hex", b"/%7e", "/~"),
            ("invalid_first_digit", b"/a%zb", "/azb"),
            ("invalid_second_digit", b"/a%4zb", "/ab"),
            ("cut_short", b"/a%4", "/a"),
        ];
        for (name, input, want) in cases {
            assert_eq!(
                String::from_utf8_lossy(&unescape_redirect(input)),
                *want,
                "{name}"
            );
        }
    }

    #[test]
    fn redirect_arguments_as_nginx() {
        let loc = |e: &str, q: bool, add: bool, a: Option<&str>| {
            redirect_location(e.as_bytes(), q, add, a)
        };
        assert_eq!(
            loc("http://e.test/b", false, true, Some("q=1")),
            "http://e.test/b?q=1"
        );
        assert_eq!(
            loc("http://e.test/b?x=1", true, true, Some("q=1")),
            "http://e.test/b?x=1&q=1"
        );
        // A `?` from a variable is not one written: nginx adds a second `?`.
        assert_eq!(loc("/n?a=2", false, true, Some("q=1")), "/n?a=2?q=1");
        assert_eq!(loc("/t/b", false, false, Some("q=1")), "/t/b");
        assert_eq!(loc("/t/b", false, true, Some("")), "/t/b");
        assert_eq!(loc("/t/b", false, true, None), "/t/b");
    }

    #[test]
    fn internal_arguments_as_nginx() {
        let w = |s: &str| Some(s.as_bytes().to_vec());
        assert_eq!(
            internal_args(w("x=1"), true, Some("q=1")),
            Some("x=1&q=1".into())
        );
        assert_eq!(internal_args(w("x=1"), true, None), Some("x=1".into()));
        assert_eq!(
            internal_args(w("x=1"), false, Some("q=1")),
            Some("x=1".into())
        );
        assert_eq!(internal_args(None, true, Some("q=1")), Some("q=1".into()));
        assert_eq!(internal_args(None, false, Some("q=1")), None);
        assert_eq!(internal_args(w(""), false, Some("q=1")), None);
    }
}

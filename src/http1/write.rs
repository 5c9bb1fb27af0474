//! Serialisation of heads: the last step of the data path ("write response"), and
//! of the request line the proxy sends upstream. Appends to a caller's `Vec<u8>`.
//!
//! A value is never allowed to break the framing: CR, LF and NUL in a field value
//! or reason phrase are written as SP (RFC 9110 §5.5 permits exactly this), so a
//! variable that decodes to `%0d%0a` cannot split a response.

use super::head::{is_tchar, Version};
use super::method::Method;

/// The interim response to `Expect: 100-continue` (RFC 9110 §15.2.1).
pub const CONTINUE_100: &[u8] = b"HTTP/1.1 100 Continue\r\n\r\n";

/// Appends `HTTP/1.1 200 OK\r\n`.
pub fn write_status_line(version: Version, status: u16, reason: &str, out: &mut Vec<u8>) {
    // Nearly every response: one copy of a literal.
    if version == Version::Http11 && status == 200 && reason == "OK" {
        out.extend_from_slice(b"HTTP/1.1 200 OK\r\n");
        return;
    }
    out.extend_from_slice(version.as_str().as_bytes());
    out.push(b' ');
    push_status_code(status, out);
    out.push(b' ');
    push_sanitised(reason.as_bytes(), out);
    out.extend_from_slice(b"\r\n");
}

/// Appends `GET /path HTTP/1.1\r\n`. The target comes from a validated request or
/// the configuration; a SP, CR, LF or NUL in it is percent-encoded.
pub fn write_request_line(method: &Method, target: &str, version: Version, out: &mut Vec<u8>) {
    out.extend_from_slice(method.as_str().as_bytes());
    out.push(b' ');
    for &b in target.as_bytes() {
        match b {
            b' ' => out.extend_from_slice(b"%20"),
            b'\r' => out.extend_from_slice(b"%0D"),
            b'\n' => out.extend_from_slice(b"%0A"),
            0 => out.extend_from_slice(b"%00"),
            _ => out.push(b),
        }
    }
    out.push(b' ');
    out.extend_from_slice(version.as_str().as_bytes());
    out.extend_from_slice(b"\r\n");
}

/// Appends `Name: value\r\n`. A name that is not a token (RFC 9110 §5.1) cannot
/// come from a parsed head; from elsewhere it is not written at all.
pub fn write_header(name: &str, value: &[u8], out: &mut Vec<u8>) {
    if name.is_empty() || !name.bytes().all(is_tchar) {
        return;
    }
    push_line(name.as_bytes(), value, out);
}

/// [`write_header`] for a name spelled out in the code (a literal such as `"ETag"`),
/// which is a token by construction and not checked again on every response.
pub fn write_known_header(name: &'static str, value: &[u8], out: &mut Vec<u8>) {
    debug_assert!(!name.is_empty() && name.bytes().all(is_tchar), "{name}");
    push_line(name.as_bytes(), value, out);
}

/// Appends a whole header line spelled out in the code, CRLF included
/// (`"Connection: close\r\n"`): one copy, nothing to check.
pub fn write_known_line(line: &'static [u8], out: &mut Vec<u8>) {
    debug_assert!(line.ends_with(b"\r\n") && !line[..line.len() - 2].contains(&b'\n'));
    out.extend_from_slice(line);
}

/// [`write_known_header`] for a value vestibule formats itself (digits, an
/// HTTP-date), which holds no control byte and is not scanned for one.
pub fn write_formatted_header(name: &'static str, value: &[u8], out: &mut Vec<u8>) {
    debug_assert!(!value.iter().any(|&b| b < b' '), "{value:?}");
    out.reserve(name.len() + value.len() + 4);
    out.extend_from_slice(name.as_bytes());
    out.extend_from_slice(b": ");
    out.extend_from_slice(value);
    out.extend_from_slice(b"\r\n");
}

fn push_line(name: &[u8], value: &[u8], out: &mut Vec<u8>) {
    out.reserve(name.len() + value.len() + 4);
    out.extend_from_slice(name);
    out.extend_from_slice(b": ");
    push_sanitised(value, out);
    out.extend_from_slice(b"\r\n");
}

/// Appends the empty line that ends a head.
pub fn write_head_end(out: &mut Vec<u8>) {
    out.extend_from_slice(b"\r\n");
}

/// Appends a status code as three digits; a code outside 100–999 is not valid HTTP
/// and is written as 500.
fn push_status_code(status: u16, out: &mut Vec<u8>) {
    let status = if (100..=999).contains(&status) {
        status
    } else {
        500
    };
    for divisor in [100, 10, 1] {
        out.push(b'0' + (status / divisor % 10) as u8);
    }
}

fn push_sanitised(value: &[u8], out: &mut Vec<u8>) {
    if !may_hold_controls(value) || !value.iter().any(|&b| matches!(b, b'\r' | b'\n' | 0)) {
        out.extend_from_slice(value);
        return;
    }
    out.extend(value.iter().map(|&b| match b {
        b'\r' | b'\n' | 0 => b' ',
        _ => b,
    }));
}

/// Whether any byte of `value` is below 14, as CR, LF and NUL are (and a tab, which
/// is rare in values): the cheap first test of every value written, eight bytes at a
/// time. A value shorter than eight bytes is tested byte by byte; a longer one's
/// last word overlaps the one before it, which an "any byte" test allows.
fn may_hold_controls(value: &[u8]) -> bool {
    let mut words = value.chunks_exact(8);
    if words.by_ref().any(|w| word_has_byte_below_14(word(w))) {
        return true;
    }
    if words.remainder().is_empty() {
        return false;
    }
    match value
        .len()
        .checked_sub(8)
        .and_then(|start| value.get(start..))
    {
        Some(last) => word_has_byte_below_14(word(last)),
        None => value.iter().any(|&b| b < 14),
    }
}

/// Eight bytes as one word (`bytes` holds exactly eight).
fn word(bytes: &[u8]) -> u64 {
    let mut w = [0u8; 8];
    w.copy_from_slice(bytes);
    u64::from_le_bytes(w)
}

/// Whether some byte of `word` is below 14 ("hasless(x, n)" of the bit-twiddling
/// folklore, exact for n ≤ 128): a byte below 14 borrows into its high bit when 14 is
/// subtracted, and only a byte that was below 128 can show that high bit cleared in
/// `!word`.
fn word_has_byte_below_14(word: u64) -> bool {
    const ONES: u64 = u64::from_le_bytes([1; 8]);
    const HIGH_BITS: u64 = u64::from_le_bytes([0x80; 8]);
    word.wrapping_sub(ONES * 14) & !word & HIGH_BITS != 0
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
    use super::*;

    #[test]
    fn the_word_test_for_control_bytes_agrees_with_the_byte_test() {
        // Every byte value at every position of values 0 to 24 bytes long, the
        // other bytes being a spread of printable and high (obs-text) bytes.
        let filler: Vec<u8> = (0..24u8)
            .map(|i| [b'a', b' ', 0x80, 0xff, b'~', 14][usize::from(i % 6)])
            .collect();
        for len in 0..=24 {
            let base = filler.get(..len).unwrap();
            assert!(!may_hold_controls(base), "len {len}");
            for pos in 0..len {
                for b in 0..=255u8 {
                    let mut v = base.to_vec();
                    v[pos] = b;
                    assert_eq!(
                        may_hold_controls(&v),
                        b < 14,
                        "len {len} pos {pos} byte {b}"
                    );
                }
            }
        }
    }

    #[test]
    fn heads_serialise() {
        let mut out = Vec::new();
        write_status_line(Version::Http11, 504, "Gateway Time-out", &mut out);
        write_header("Content-Length", b"0", &mut out);
        write_head_end(&mut out);
        assert_eq!(
            out,
            b"HTTP/1.1 504 Gateway Time-out\r\nContent-Length: 0\r\n\r\n"
        );

        let mut out = Vec::new();
        write_request_line(&Method::Get, "/a b", Version::Http10, &mut out);
        assert_eq!(out, b"GET /a%20b HTTP/1.0\r\n");
    }

    #[test]
    fn the_literal_lines_are_what_the_general_path_writes() {
        // `200 OK` is copied whole; any other status or phrase goes the long way.
        for (version, status, reason, line) in [
            (Version::Http11, 200, "OK", &b"HTTP/1.1 200 OK\r\n"[..]),
            (Version::Http11, 200, "Fine", b"HTTP/1.1 200 Fine\r\n"),
            (Version::Http10, 200, "OK", b"HTTP/1.0 200 OK\r\n"),
            (Version::Http11, 201, "OK", b"HTTP/1.1 201 OK\r\n"),
        ] {
            let mut out = Vec::new();
            write_status_line(version, status, reason, &mut out);
            assert_eq!(out, line, "{status} {reason}");
        }
        let (mut literal, mut general) = (Vec::new(), Vec::new());
        write_known_line(b"Connection: keep-alive\r\n", &mut literal);
        write_formatted_header("Content-Length", b"1024", &mut literal);
        write_known_header("Connection", b"keep-alive", &mut general);
        write_known_header("Content-Length", b"1024", &mut general);
        assert_eq!(literal, general);
    }

    #[test]
    fn values_cannot_split_the_response() {
        let mut out = Vec::new();
        write_header("Location", b"/x\r\nSet-Cookie: a=b\0", &mut out);
        assert_eq!(out, b"Location: /x  Set-Cookie: a=b \r\n");

        let mut out = Vec::new();
        write_header("Bad Name", b"x", &mut out);
        write_header("", b"x", &mut out);
        assert!(out.is_empty());

        let mut out = Vec::new();
        write_status_line(Version::Http11, 7, "a\r\nb", &mut out);
        assert_eq!(out, b"HTTP/1.1 500 a  b\r\n");
    }

    #[test]
    fn a_control_byte_is_found_at_every_position_of_every_length() {
        for len in 1..48 {
            for at in 0..len {
                for bad in [b'\r', b'\n', 0] {
                    let mut value = vec![b'a'; len];
                    value[at] = bad;
                    let mut out = Vec::new();
                    write_known_header("X", &value, &mut out);
                    let mut want = b"X: ".to_vec();
                    want.extend(std::iter::repeat_n(b'a', len));
                    want[3 + at] = b' ';
                    want.extend_from_slice(b"\r\n");
                    assert_eq!(out, want, "len {len} at {at}");
                }
                // A tab is a valid value byte and stays.
                let mut value = vec![b'a'; len];
                value[at] = b'\t';
                let mut out = Vec::new();
                write_known_header("X", &value, &mut out);
                assert_eq!(&out[3..3 + len], &value[..]);
            }
        }
    }
}

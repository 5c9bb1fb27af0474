//! Pieces shared by the request head parser ([`super::request`], client side) and the
//! response head parser ([`super::response`], upstream side): the version, the owned
//! header line, the per-line limit scan, the diagnosis of a header line the parser
//! refused, and the framing header values (RFC 9112 §6).

use std::borrow::Cow;
use std::fmt;

use super::error::HeaderDefect;
use super::value::HeaderValue;

/// The header slots each parse gives httparse; [`DEFAULT_MAX_HEADERS`] and any
/// configured maximum are clamped to this. 128 slots of 32 bytes live on the stack.
pub const HEADER_SLOTS: usize = 128;

/// The header slots a request head is first parsed with: 32 slots, 1 KiB, cover
/// what browsers and clients send; a head with more lines is parsed again with
/// [`HEADER_SLOTS`].
pub const FEW_SLOTS: usize = 32;

/// Header lines accepted in one head by default. nginx has no count limit; Gunicorn
/// refuses more than 100 request fields (`limit_request_fields`), so a request with
/// more would fail upstream anyway.
pub const DEFAULT_MAX_HEADERS: usize = 100;

/// Longest excerpt of a network value kept in an error for the log.
const EXCERPT_LIMIT: usize = 128;

/// The protocol version of a message. Other versions are refused at parse time;
/// `Http2` is a request that came on an HTTP/2 stream (src/worker/h2/), never parsed
/// from text.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Version {
    Http10,
    Http11,
    Http2,
}

impl Version {
    /// `HTTP/1.0`, `HTTP/1.1`, or `HTTP/2.0` (nginx's `$server_protocol` for h2).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Http10 => "HTTP/1.0",
            Self::Http11 => "HTTP/1.1",
            Self::Http2 => "HTTP/2.0",
        }
    }
}

impl fmt::Display for Version {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One header field line: the name as received (case kept) and the value without
/// surrounding whitespace (RFC 9110 §5.5). The value may hold obs-text, so it is bytes.
/// The name borrows a `'static` string when it is one of [`COMMON_NAMES`] or a
/// literal, and a short value is kept in place ([`HeaderValue`]), so most lines
/// cost no allocation of their own.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct Header {
    pub name: Cow<'static, str>,
    pub value: HeaderValue,
}

impl Header {
    pub fn new(name: impl Into<Cow<'static, str>>, value: impl Into<HeaderValue>) -> Self {
        Self {
            name: name.into(),
            value: value.into(),
        }
    }

    /// A header as parsed: the name borrowed from [`COMMON_NAMES`] when it is spelled
    /// as there, else copied.
    pub fn parsed(name: &str, value: &[u8]) -> Self {
        let name = match common_name(name) {
            Some(common) => Cow::Borrowed(common),
            None => Cow::Owned(name.to_owned()),
        };
        Self {
            name,
            value: HeaderValue::copy_of(value),
        }
    }

    /// Whether this header is called `name`, ignoring ASCII case (RFC 9110 §5.1).
    pub fn is(&self, name: &str) -> bool {
        self.name.eq_ignore_ascii_case(name)
    }

    /// The value as text when it is UTF-8.
    pub fn value_str(&self) -> Option<&str> {
        std::str::from_utf8(&self.value).ok()
    }
}

impl fmt::Debug for Header {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.name, self.value.escape_ascii())
    }
}

/// Header names as browsers, Gunicorn and nginx spell them, which a parsed line
/// borrows instead of copying.
pub const COMMON_NAMES: &[&str] = &[
    "Host",
    "User-Agent",
    "Accept",
    "Accept-Encoding",
    "Accept-Language",
    "Connection",
    "Content-Type",
    "Content-Length",
    "Cookie",
    "Referer",
    "Origin",
    "Cache-Control",
    "Upgrade-Insecure-Requests",
    "X-Real-IP",
    "X-Forwarded-For",
    "X-Forwarded-Proto",
    "X-Forwarded-Host",
    "Server",
    "Date",
    "Vary",
    "Set-Cookie",
    "Location",
    "Last-Modified",
    "ETag",
    "Transfer-Encoding",
    "Keep-Alive",
    "Expires",
    "Accept-Ranges",
    "host",
    "user-agent",
    "accept",
    "accept-encoding",
    "connection",
    "content-type",
    "content-length",
    "cookie",
    "x-real-ip",
    "x-forwarded-for",
    "x-forwarded-proto",
    "server",
    "date",
    "vary",
];

/// Slots in [`COMMON_TABLE`]: a power of two, three times [`COMMON_NAMES`]' length,
/// so a lookup mostly lands on its name or an empty slot at the first probe.
const COMMON_SLOTS: usize = 128;

/// [`COMMON_NAMES`] by [`common_slot`], with linear probing; `""` marks an empty slot.
/// Every parsed header line is looked up here, so the lookup is one probe and one
/// comparison instead of a walk through the list.
static COMMON_TABLE: [&str; COMMON_SLOTS] = {
    let mut table = [""; COMMON_SLOTS];
    let mut i = 0;
    while i < COMMON_NAMES.len() {
        let name = COMMON_NAMES[i];
        let mut slot = common_slot(name.as_bytes());
        while !table[slot].is_empty() {
            slot = (slot + 1) % COMMON_SLOTS;
        }
        table[slot] = name;
        i += 1;
    }
    table
};

/// Where a name starts its probe in [`COMMON_TABLE`]: from its length and its first
/// and last bytes, which tell the common names apart well. Case matters, as the
/// table holds exact spellings.
const fn common_slot(name: &[u8]) -> usize {
    let (first, last) = match (name.first(), name.last()) {
        (Some(&f), Some(&l)) => (f as usize, l as usize),
        _ => (0, 0),
    };
    (name.len() * 31 + first * 7 + last * 3) % COMMON_SLOTS
}

/// The `'static` copy of `name` when it is one of [`COMMON_NAMES`], spelled the same.
fn common_name(name: &str) -> Option<&'static str> {
    let mut slot = common_slot(name.as_bytes());
    loop {
        let candidate = *COMMON_TABLE.get(slot)?;
        if candidate.is_empty() {
            return None;
        }
        if candidate == name {
            return Some(candidate);
        }
        slot = (slot + 1) % COMMON_SLOTS;
    }
}

pub(crate) fn owned_headers(parsed: &[httparse::Header<'_>]) -> Vec<Header> {
    parsed
        .iter()
        .map(|h| Header::parsed(h.name, h.value))
        .collect()
}

/// `tchar` (RFC 9110 §5.6.2): the bytes of a token such as a field name.
pub(crate) fn is_tchar(b: u8) -> bool {
    TCHAR[usize::from(b)]
}

/// [`is_tchar`] as a table: it runs over every byte of every header name.
static TCHAR: [bool; 256] = {
    let mut table = [false; 256];
    let mut b = 0;
    while b < 256 {
        let c = b as u8;
        table[b] = c.is_ascii_alphanumeric()
            || matches!(
                c,
                b'!' | b'#'
                    | b'$'
                    | b'%'
                    | b'&'
                    | b'\''
                    | b'*'
                    | b'+'
                    | b'-'
                    | b'.'
                    | b'^'
                    | b'_'
                    | b'`'
                    | b'|'
                    | b'~'
            );
        b += 1;
    }
    table
};

/// A network value made safe and short for an error message.
pub(crate) fn excerpt(value: &[u8]) -> String {
    let cut = value.get(..EXCERPT_LIMIT).unwrap_or(value);
    let mut text = cut.escape_ascii().to_string();
    if cut.len() < value.len() {
        text.push_str("...");
    }
    text
}

/// The 0-based index of the first line in `block` longer than `max_line` bytes,
/// counting its terminator. A last line without LF is incomplete: once it holds
/// `max_line` bytes it can no longer fit, so it is reported before it completes.
pub(crate) fn overlong_line(block: &[u8], max_line: usize) -> Option<usize> {
    if block.len() < max_line {
        return None;
    }
    let mut rest = block;
    let mut index = 0;
    loop {
        match rest.iter().position(|&b| b == b'\n') {
            Some(lf) => {
                if lf + 1 > max_line {
                    return Some(index);
                }
                rest = rest.get(lf + 1..).unwrap_or_default();
                index += 1;
            }
            None => return (rest.len() >= max_line).then_some(index),
        }
    }
}

/// Finds which line of a header block httparse refused and why. `block` starts at
/// the first header line; the returned index is 0-based within it.
pub(crate) fn diagnose_header_block(block: &[u8]) -> (usize, HeaderDefect) {
    let mut rest = block;
    let mut index = 0;
    while !rest.is_empty() {
        let (line, complete, next) = match rest.iter().position(|&b| b == b'\n') {
            Some(lf) => (
                rest.get(..lf).unwrap_or_default(),
                true,
                rest.get(lf + 1..).unwrap_or_default(),
            ),
            None => (rest, false, &[][..]),
        };
        if let Some(defect) = line_defect(line, complete) {
            return (index, defect);
        }
        rest = next;
        index += 1;
    }
    (index, HeaderDefect::Other)
}

/// What is wrong with one header line (without its LF), if anything.
fn line_defect(line: &[u8], complete: bool) -> Option<HeaderDefect> {
    // A CR is only allowed as the last byte of a complete line (RFC 9112 §2.2).
    let body = match line.split_last() {
        Some((b'\r', body)) if complete => body,
        _ => line,
    };
    match body.first() {
        Some(b' ' | b'\t') => return Some(HeaderDefect::ObsFold),
        // The empty line that should end the head, but with a byte after its CR.
        Some(b'\r') => return Some(HeaderDefect::BareCr),
        _ => {}
    }
    let colon = body.iter().position(|&b| b == b':');
    let name = colon.map_or(body, |c| body.get(..c).unwrap_or_default());
    for &b in name {
        // The parser stops at the first SP or HTAB after a name, before it can know
        // whether a colon follows; the diagnosis must agree for every prefix.
        if b == b' ' || b == b'\t' {
            return Some(HeaderDefect::WhitespaceBeforeColon);
        }
        if b == b'\r' {
            return Some(HeaderDefect::MissingColon); // the name ends at a CR, not a colon
        }
        if !is_tchar(b) {
            return Some(HeaderDefect::NameByte(b));
        }
    }
    let Some(colon) = colon else {
        return (complete && !body.is_empty()).then_some(HeaderDefect::MissingColon);
    };
    if colon == 0 {
        return Some(HeaderDefect::EmptyName);
    }
    let value = body.get(colon + 1..).unwrap_or_default();
    value.iter().find_map(|&b| match b {
        b'\r' => Some(HeaderDefect::BareCr),
        b'\t' => None,
        0..=0x1f | 0x7f => Some(HeaderDefect::ControlByte(b)),
        _ => None,
    })
}

/// The largest body length accepted, nginx's `NGX_MAX_OFF_T_VALUE`.
const MAX_CONTENT_LENGTH: u64 = i64::MAX as u64;

/// `Content-Length = 1*DIGIT` (RFC 9110 §8.6). Signs, commas (even `5, 5`) and
/// values past `i64::MAX` are refused, as nginx refuses them.
pub(crate) fn parse_content_length(value: &[u8]) -> Option<u64> {
    if value.is_empty() {
        return None;
    }
    let mut n: u64 = 0;
    for &b in value {
        if !b.is_ascii_digit() {
            return None;
        }
        n = n.checked_mul(10)?.checked_add(u64::from(b - b'0'))?;
    }
    (n <= MAX_CONTENT_LENGTH).then_some(n)
}

/// Whether a `Transfer-Encoding` value is exactly `chunked` (ASCII case-insensitive,
/// RFC 9112 §7: coding names are case-insensitive). Any other list — `gzip, chunked`,
/// `chunked, identity`, `xchunked` — is refused, as nginx refuses it.
pub(crate) fn is_chunked_only(value: &[u8]) -> bool {
    value.trim_ascii().eq_ignore_ascii_case(b"chunked")
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
    use super::*;

    #[test]
    fn content_length_accepts_only_digits_up_to_off_t() {
        let rows: [(&str, &[u8], Option<u64>); 11] = [
            ("zero", b"0", Some(0)),
            ("plain", b"42", Some(42)),
            ("leading_zeros", b"007", Some(7)),
            ("off_t_max", b"9223372036854775807", Some(i64::MAX as u64)),
            ("past_off_t_max", b"9223372036854775808", None),
            ("past_u64", b"99999999999999999999999", None),
            ("plus_sign", b"+5", None),
            ("minus_sign", b"-1", None),
            ("comma_list", b"1,1", None),
            ("empty", b"", None),
            ("hex", b"0x10", None),
        ];
        for (name, value, want) in rows {
            assert_eq!(parse_content_length(value), want, "{name}");
        }
    }

    #[test]
    fn transfer_encoding_must_be_exactly_chunked() {
        let rows: [(&str, &[u8], bool); 8] = [
            ("chunked", b"chunked", true),
            ("odd_case", b"Chunked", true),
            ("upper_case", b"CHUNKED", true),
            ("xchunked", b"xchunked", false),
            ("chunked_identity", b"chunked, identity", false),
            ("gzip_chunked", b"gzip, chunked", false),
            ("identity", b"identity", false),
            ("chunked_twice", b"chunked, chunked", false),
        ];
        for (name, value, want) in rows {
            assert_eq!(is_chunked_only(value), want, "{name}");
        }
    }

    #[test]
    fn overlong_line_is_found_at_the_limit_and_one_past() {
        // (name, block, max_line, expected)
        let rows: [(&str, &[u8], usize, Option<usize>); 6] = [
            ("fits_exactly", b"abc\r\n", 5, None),
            ("one_past", b"abcd\r\n", 5, Some(0)),
            ("second_line", b"a\r\nabcd\r\n", 5, Some(1)),
            ("incomplete_below_limit", b"abcd", 5, None),
            ("incomplete_at_limit", b"abcde", 5, Some(0)),
            ("bare_lf_counts_one", b"abcd\n", 5, None),
        ];
        for (name, block, max, want) in rows {
            assert_eq!(overlong_line(block, max), want, "{name}");
        }
    }

    #[test]
    fn header_defects_are_named() {
        let rows: [(&str, &[u8], (usize, HeaderDefect)); 9] = [
            ("obs_fold", b"A: b\r\n c\r\n", (1, HeaderDefect::ObsFold)),
            (
                "space_before_colon",
                b"A : b\r\n",
                (0, HeaderDefect::WhitespaceBeforeColon),
            ),
            (
                "tab_before_colon",
                b"A\t: b\r\n",
                (0, HeaderDefect::WhitespaceBeforeColon),
            ),
            (
                "space_in_name",
                b"A B: c\r\n",
                (0, HeaderDefect::WhitespaceBeforeColon),
            ),
            (
                "bad_name_byte",
                b"A(: c\r\n",
                (0, HeaderDefect::NameByte(b'(')),
            ),
            ("empty_name", b": c\r\n", (0, HeaderDefect::EmptyName)),
            ("missing_colon", b"Abc\r\n", (0, HeaderDefect::MissingColon)),
            ("bare_cr", b"A: b\rc\r\n", (0, HeaderDefect::BareCr)),
            ("nul", b"A: b\0c\r\n", (0, HeaderDefect::ControlByte(0))),
        ];
        for (name, block, want) in rows {
            assert_eq!(diagnose_header_block(block), want, "{name}");
        }
    }

    #[test]
    fn excerpt_escapes_and_truncates() {
        assert_eq!(excerpt(b"a\x1bb"), "a\\x1bb");
        let long = vec![b'x'; EXCERPT_LIMIT + 1];
        assert_eq!(excerpt(&long).len(), EXCERPT_LIMIT + 3);
    }

    #[test]
    fn common_names_are_borrowed_and_others_copied_as_received() {
        let host = Header::parsed("Host", b"example.org");
        assert!(matches!(host.name, Cow::Borrowed("Host")));
        let odd = Header::parsed("HOST", b"example.org");
        assert!(
            matches!(odd.name, Cow::Owned(ref n) if n == "HOST"),
            "case is kept"
        );
        let custom = Header::parsed("X-Request-Start", b"t=1");
        assert_eq!(&*custom.name, "X-Request-Start");
        assert!(custom.is("x-request-start") && host.is("HOST"));
        assert!(COMMON_NAMES.iter().all(|n| n.bytes().all(is_tchar)));
    }

    #[test]
    fn every_common_name_is_found_in_the_table_and_nothing_else() {
        for name in COMMON_NAMES {
            assert_eq!(common_name(name), Some(*name));
            let mut upper = name.to_ascii_uppercase();
            if upper == *name {
                upper = name.to_ascii_lowercase();
            }
            if !COMMON_NAMES.contains(&upper.as_str()) {
                assert_eq!(common_name(&upper), None, "{upper}");
            }
        }
        for other in ["", "X", "Hos", "Hostt", "X-Request-Id", "Set-Cookie2"] {
            assert_eq!(common_name(other), None, "{other}");
        }
        let filled = COMMON_TABLE.iter().filter(|n| !n.is_empty()).count();
        assert_eq!(filled, COMMON_NAMES.len(), "no name is listed twice");
    }

    #[test]
    fn the_tchar_table_is_rfc_9110s_token_set() {
        for b in 0..=255u8 {
            let want = b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b);
            assert_eq!(is_tchar(b), want, "{b:#x}");
        }
    }
}

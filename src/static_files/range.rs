//! Byte ranges (RFC 9110 §14) for a static file, as nginx's
//! `ngx_http_range_filter_module` answers them: which ranges a `Range` header selects,
//! the `Content-Range` values, the framing of a `multipart/byteranges` body (§14.6)
//! with its exact length, and `If-Range` (§13.1.5).
//!
//! Place in the data path: after the preconditions (`conditional::evaluate`) said
//! proceed and before the head is written, the static handler — for a response that
//! would be 200 — calls [`evaluate`] with the `Range` and `If-Range` fields and the
//! file's length. [`RangeOutcome::Full`] sends the 200 with `Accept-Ranges: bytes`;
//! [`RangeOutcome::Unsatisfiable`] a 416 with `Content-Range: bytes */LEN`
//! ([`unsatisfied_range`]) and no `Content-Length` of the file; one range a 206 with
//! [`content_range`]; several a 206 whose body [`Multipart`] frames.
//!
//! Pure functions: no I/O, no allocation beyond the result, nothing that panics on
//! request bytes; numbers are bounded to `i64::MAX` as nginx's `off_t`.
//!
//! # nginx's semantics, kept on purpose
//!
//! - A `Range` that does not start with `bytes=` (any case) is ignored: 200 (§14.2:
//!   an unknown range unit MUST be ignored).
//! - After `bytes=`, a syntax error anywhere, or a number past `i64::MAX`, is **416**,
//!   not 200: nginx rejects rather than ignores an invalid ranges-specifier, which
//!   §14.2 allows ("MAY ignore or reject").
//! - A range-spec that selects nothing — first-pos past the end, or first-pos greater
//!   than last-pos (§14.1.1 "invalid") — is dropped, and the others are served; when
//!   none is left the answer is 416 (§15.5.17).
//! - On an empty file a range starting at byte 0 (`0-`, `0-0`, any suffix `-N`,
//!   including `-0`) is ignored: 200 with the empty body. Anything else is 416.
//! - Ranges are neither sorted nor merged. If their lengths add up to more than the
//!   file, the whole header is ignored (200): overlapping ranges would otherwise send
//!   the file more than once (§14.2, §17.15).
//! - More satisfiable ranges than `max_ranges` (at most [`MAX_RANGES`]): the header
//!   is ignored (200), as nginx does past `max_ranges`. nginx's default is
//!   unlimited; vestibule bounds it. `max_ranges 0` is handled by the caller (no
//!   range is looked at, and no `Accept-Ranges` is sent).

use std::fmt::Write as _;
use std::time::SystemTime;

use super::conditional::{unix_seconds, EntityTag};
use crate::http1::date;

/// The most satisfiable ranges one request may ask for; beyond, the `Range` header
/// is ignored and the whole file is sent (nginx's `max_ranges`, there unlimited by
/// default). A hundred covers every real client (media players and download
/// resumers ask for one) while bounding the parts of a multipart body.
pub const MAX_RANGES: usize = 100;

/// A satisfiable byte range of the file: bytes `start..end`, **end exclusive**,
/// `start < end <= len` (the `Content-Range` shows `start` and `end - 1`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ByteRange {
    pub start: u64,
    pub end: u64,
}

impl ByteRange {
    /// How many bytes the range selects.
    pub fn len(&self) -> u64 {
        self.end.saturating_sub(self.start)
    }

    /// Whether it selects nothing (never the case for a range [`parse_range`] returns).
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The last byte it selects, inclusive: the `last-pos` of `Content-Range`.
    pub fn last(&self) -> u64 {
        self.end.saturating_sub(1)
    }
}

/// What a `Range` header asks of a file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RangeOutcome {
    /// Ignore the header and send the whole file with 200: no `bytes=` unit, an
    /// `If-Range` that does not match, a range from byte 0 of an empty file, more
    /// than [`MAX_RANGES`] ranges, or ranges adding up to more than the file.
    Full,
    /// 206 with these ranges, in request order, each non-empty and within the file.
    Satisfiable(Vec<ByteRange>),
    /// 416 Range Not Satisfiable (§15.5.17): a syntax error after `bytes=`, or no
    /// range overlaps the file.
    Unsatisfiable,
}

/// The range step of the static handler: nginx's order, in which `If-Range` is
/// looked at only for a `Range` with the `bytes=` unit, and a failed `If-Range`
/// means the whole file however the ranges are written (§13.1.5, §13.2.2 step 5).
pub fn evaluate(
    range: Option<&[u8]>,
    if_range: Option<&[u8]>,
    etag: &str,
    last_modified: Option<SystemTime>,
    len: u64,
    max_ranges: usize,
) -> RangeOutcome {
    let Some(range) = range else {
        return RangeOutcome::Full;
    };
    if ranges_specifier(range).is_none() {
        return RangeOutcome::Full;
    }
    if if_range.is_some_and(|v| !if_range_allows(v, etag, last_modified)) {
        return RangeOutcome::Full;
    }
    parse_range_at_most(range, len, max_ranges)
}

/// The ranges a `Range` field value selects from a file of `len` bytes (§14.1.2:
/// `bytes=0-499`, open `500-`, suffix `-500`; last-pos past the end is clipped).
/// Spaces are allowed around numbers and `-` (not between a suffix's `-` and its
/// number), as in nginx; a trailing comma is a syntax error.
pub fn parse_range(header: &[u8], len: u64) -> RangeOutcome {
    parse_range_at_most(header, len, MAX_RANGES)
}

/// [`parse_range`] with `max_ranges` satisfiable ranges at most (never more than
/// [`MAX_RANGES`]); past it the header is ignored: [`RangeOutcome::Full`].
pub fn parse_range_at_most(header: &[u8], len: u64, max_ranges: usize) -> RangeOutcome {
    let max_ranges = max_ranges.min(MAX_RANGES);
    let Some(mut rest) = ranges_specifier(header) else {
        return RangeOutcome::Full;
    };
    let mut ranges = Vec::new();
    let mut total: u64 = 0;
    // Each turn consumes at least one digit: bounded by the field length.
    loop {
        let Some((spec, after)) = range_spec(rest) else {
            return RangeOutcome::Unsatisfiable;
        };
        let (start, end) = spec.resolve(len);
        if start < end {
            if ranges.len() == max_ranges {
                return RangeOutcome::Full;
            }
            let Some(sum) = total.checked_add(end - start) else {
                return RangeOutcome::Unsatisfiable;
            };
            total = sum;
            ranges.push(ByteRange { start, end });
        } else if start == 0 {
            // Only an empty file gets here: nginx serves it whole.
            return RangeOutcome::Full;
        }
        match after.strip_prefix(b",") {
            Some(next) => rest = next,
            None => break,
        }
    }
    if ranges.is_empty() {
        RangeOutcome::Unsatisfiable
    } else if total > len {
        RangeOutcome::Full
    } else {
        RangeOutcome::Satisfiable(ranges)
    }
}

/// The part after `bytes=`, when the value (trimmed) is at least one byte longer.
fn ranges_specifier(header: &[u8]) -> Option<&[u8]> {
    let value = header.trim_ascii();
    let (unit, rest) = value.split_at_checked(6)?;
    (unit.eq_ignore_ascii_case(b"bytes=") && !rest.is_empty()).then_some(rest)
}

/// One range-spec (§14.1.2), before it is placed in a file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Spec {
    /// `first-last`
    Bounded { first: u64, last: u64 },
    /// `first-`
    Open { first: u64 },
    /// `-length`
    Suffix { length: u64 },
}

impl Spec {
    /// The selected bytes `start..end` of a file of `len` bytes; `start >= end` when
    /// the spec selects nothing.
    fn resolve(self, len: u64) -> (u64, u64) {
        match self {
            Spec::Bounded { first, last } => (first, if last >= len { len } else { last + 1 }),
            Spec::Open { first } => (first, len),
            Spec::Suffix { length } => (len.saturating_sub(length), len),
        }
    }
}

/// Parses one range-spec and the spaces after it; what follows is empty or `,`.
fn range_spec(input: &[u8]) -> Option<(Spec, &[u8])> {
    let s = skip_spaces(input);
    if let Some(rest) = s.strip_prefix(b"-") {
        let (length, rest) = number(rest)?;
        let rest = skip_spaces(rest);
        return at_spec_end(rest).then_some((Spec::Suffix { length }, rest));
    }
    let (first, rest) = number(s)?;
    let rest = skip_spaces(rest).strip_prefix(b"-")?;
    let rest = skip_spaces(rest);
    if at_spec_end(rest) {
        return Some((Spec::Open { first }, rest));
    }
    let (last, rest) = number(rest)?;
    let rest = skip_spaces(rest);
    at_spec_end(rest).then_some((Spec::Bounded { first, last }, rest))
}

fn at_spec_end(s: &[u8]) -> bool {
    s.is_empty() || s.starts_with(b",")
}

fn skip_spaces(s: &[u8]) -> &[u8] {
    let n = s.iter().take_while(|&&b| b == b' ').count();
    s.get(n..).unwrap_or_default()
}

/// One or more digits, no larger than `i64::MAX` (nginx's `off_t`).
fn number(s: &[u8]) -> Option<(u64, &[u8])> {
    let digits = s.iter().take_while(|b| b.is_ascii_digit()).count();
    let (text, rest) = s.split_at_checked(digits)?;
    if text.is_empty() {
        return None;
    }
    let mut n: u64 = 0;
    for &d in text {
        n = n.checked_mul(10)?.checked_add(u64::from(d - b'0'))?;
        if n > i64::MAX as u64 {
            return None;
        }
    }
    Some((n, rest))
}

/// `bytes 0-499/1234`: the `Content-Range` of a 206 with one range, or of one part
/// of a multipart body (§14.4).
pub fn content_range(range: ByteRange, len: u64) -> String {
    format!("bytes {}-{}/{len}", range.start, range.last())
}

/// `bytes */1234`: the `Content-Range` of a 416 (§14.4, §15.5.17).
pub fn unsatisfied_range(len: u64) -> String {
    format!("bytes */{len}")
}

/// Whether `If-Range` lets the ranges through (§13.1.5), as nginx decides: a value
/// ending in `"` is an entity-tag and must equal the current `ETag` by strong
/// comparison (a weak tag never does); anything else is an HTTP-date, which must
/// equal `Last-Modified` to the second. An unparsable date never matches, nor does
/// any date when the response has no `Last-Modified` (`add_header Last-Modified ""`),
/// nor any tag when its `ETag` is empty.
pub fn if_range_allows(if_range: &[u8], etag: &str, last_modified: Option<SystemTime>) -> bool {
    let value = if_range.trim_ascii();
    if value.ends_with(b"\"") {
        return match (EntityTag::parse(value), EntityTag::parse(etag.as_bytes())) {
            (Some(sent), Some(current)) => sent.strong_eq(&current),
            _ => false,
        };
    }
    match (date::parse_http_date(value), last_modified) {
        (Some(d), Some(current)) => unix_seconds(d) == unix_seconds(current),
        _ => false,
    }
}

/// A nginx-style boundary: a number written as 20 digits, zero-padded
/// (`%0muA` of `ngx_next_temp_number`). The caller picks the number.
pub fn boundary(n: u64) -> String {
    format!("{n:020}")
}

/// The framing of a `multipart/byteranges` body (§14.6), byte for byte as nginx
/// writes it:
///
/// ```text
/// \r\n--BOUNDARY\r\nContent-Type: T\r\nContent-Range: bytes a-b/len\r\n\r\n<bytes a..=b>
/// ... one such part per range, in request order ...
/// \r\n--BOUNDARY--\r\n
/// ```
///
/// The `Content-Type` line is left out when the file has no type. The total length
/// is known before anything is sent, so the 206 carries a `Content-Length`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Multipart {
    boundary: String,
    /// `\r\n--BOUNDARY\r\n[Content-Type: T\r\n]Content-Range: bytes `, shared by all parts.
    part_prefix: String,
    ranges: Vec<ByteRange>,
    len: u64,
}

impl Multipart {
    /// Frames `ranges` of a file of `len` bytes whose own type is `content_type`
    /// (with any `; charset=`; empty for none).
    pub fn new(boundary: String, content_type: &str, ranges: Vec<ByteRange>, len: u64) -> Self {
        let mut part_prefix = format!("\r\n--{boundary}\r\n");
        if !content_type.is_empty() {
            let _ = write!(part_prefix, "Content-Type: {content_type}\r\n");
        }
        part_prefix.push_str("Content-Range: bytes ");
        Self {
            boundary,
            part_prefix,
            ranges,
            len,
        }
    }

    /// The response's `Content-Type`: `multipart/byteranges; boundary=BOUNDARY`.
    pub fn content_type(&self) -> String {
        format!("multipart/byteranges; boundary={}", self.boundary)
    }

    /// The ranges, in the order their parts are sent.
    pub fn ranges(&self) -> &[ByteRange] {
        &self.ranges
    }

    /// Appends the header of the part for `range`, up to and including the blank line.
    pub fn write_part_header(&self, range: ByteRange, out: &mut Vec<u8>) {
        out.extend_from_slice(self.part_prefix.as_bytes());
        out.extend_from_slice(
            format!("{}-{}/{}\r\n\r\n", range.start, range.last(), self.len).as_bytes(),
        );
    }

    /// The header of the part for `range`.
    pub fn part_header(&self, range: ByteRange) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.part_prefix.len() + 64);
        self.write_part_header(range, &mut out);
        out
    }

    /// Each part's header with the file range to send after it, in order.
    pub fn parts(&self) -> impl Iterator<Item = (Vec<u8>, ByteRange)> + '_ {
        self.ranges.iter().map(|&r| (self.part_header(r), r))
    }

    /// The closing delimiter: `\r\n--BOUNDARY--\r\n`.
    pub fn closing(&self) -> Vec<u8> {
        format!("\r\n--{}--\r\n", self.boundary).into_bytes()
    }

    /// The exact length of the whole body: every part header and its bytes, and the
    /// closing delimiter.
    pub fn content_length(&self) -> u64 {
        self.ranges
            .iter()
            .fold(self.closing().len() as u64, |sum, &r| {
                let header = self.part_prefix.len()
                    + digits(r.start)
                    + digits(r.last())
                    + digits(self.len)
                    + 6;
                sum.saturating_add(header as u64).saturating_add(r.len())
            })
    }
}

/// How many decimal digits `n` is written with.
fn digits(n: u64) -> usize {
    n.checked_ilog10().map_or(1, |d| d as usize + 1)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::{Duration, UNIX_EPOCH};
    use RangeOutcome::{Full, Satisfiable, Unsatisfiable};

    fn r(start: u64, end: u64) -> ByteRange {
        ByteRange { start, end }
    }

    fn sat(ranges: &[(u64, u64)]) -> RangeOutcome {
        Satisfiable(ranges.iter().map(|&(s, e)| r(s, e)).collect())
    }

    /// `max_ranges N`: N satisfiable ranges are served, one more sends the whole
    /// file; the configured limit never exceeds [`MAX_RANGES`].
    #[test]
    fn max_ranges_configured() {
        let two = b"bytes=0-0,2-2";
        let want = RangeOutcome::Satisfiable(vec![
            ByteRange { start: 0, end: 1 },
            ByteRange { start: 2, end: 3 },
        ]);
        assert_eq!(parse_range_at_most(two, 10, 2), want);
        assert_eq!(parse_range_at_most(two, 10, 1), RangeOutcome::Full);
        let unsatisfiable_one_does_not_count = b"bytes=0-0,50-60";
        let one = RangeOutcome::Satisfiable(vec![ByteRange { start: 0, end: 1 }]);
        assert_eq!(
            parse_range_at_most(unsatisfiable_one_does_not_count, 10, 1),
            one
        );
        let many = vec!["0-0"; MAX_RANGES + 1].join(",");
        let header = format!("bytes={many}");
        assert_eq!(
            parse_range_at_most(header.as_bytes(), 10, usize::MAX),
            RangeOutcome::Full
        );
    }

    #[test]
    fn parse_range_rules() {
        let max = format!("bytes={}-", i64::MAX);
        let over = format!("bytes={}-", i64::MAX as u64 + 1);
        let huge_suffix = format!("bytes=-{}", i64::MAX);
        let hundred = vec!["0-0"; MAX_RANGES].join(",");
        let hundred_one = vec!["0-0"; MAX_RANGES + 1].join(",");
        let hundred = format!("bytes={hundred}");
        let hundred_one = format!("bytes={hundred_one}");
        let hundred_want = vec![(0, 1); MAX_RANGES];
        #[rustfmt::skip]
        let rows: Vec<(&str, &str, u64, RangeOutcome)> = vec![
            // §14.1.2 the three forms.
            ("first_500", "bytes=0-499", 1000, sat(&[(0, 500)])),
            ("second_500", "bytes=500-999", 1000, sat(&[(500, 1000)])),
            ("open_ended", "bytes=500-", 1000, sat(&[(500, 1000)])),
            ("suffix", "bytes=-500", 1000, sat(&[(500, 1000)])),
            ("single_first_byte", "bytes=0-0", 1000, sat(&[(0, 1)])),
            ("single_last_byte", "bytes=-1", 1000, sat(&[(999, 1000)])),
            // Boundaries of the end.
            ("end_is_len_minus_1", "bytes=0-999", 1000, sat(&[(0, 1000)])),
            ("end_is_len_clipped", "bytes=0-1000", 1000, sat(&[(0, 1000)])),
            ("end_past_len_clipped", "bytes=990-5000", 1000, sat(&[(990, 1000)])),
            ("start_is_last_byte", "bytes=999-", 1000, sat(&[(999, 1000)])),
            ("start_is_len", "bytes=1000-", 1000, Unsatisfiable),
            ("start_past_len", "bytes=1000-2000", 1000, Unsatisfiable),
            ("suffix_equal_to_len", "bytes=-1000", 1000, sat(&[(0, 1000)])),
            ("suffix_longer_than_file", "bytes=-5000", 1000, sat(&[(0, 1000)])),
            ("suffix_zero", "bytes=-0", 1000, Unsatisfiable),
            ("largest_number", &max, 1000, Unsatisfiable),
            ("huge_suffix_is_whole_file", &huge_suffix, 1000, sat(&[(0, 1000)])),
            // §14.1.1 first > last: that spec is dropped.
            ("first_after_last_alone", "bytes=500-400", 1000, Unsatisfiable),
            ("first_after_last_with_good", "bytes=500-400,0-9", 1000, sat(&[(0, 10)])),
            // Several ranges: request order, no merging.
            ("two_ranges", "bytes=0-0,-1", 1000, sat(&[(0, 1), (999, 1000)])),
            ("out_of_order", "bytes=900-999,0-99", 1000, sat(&[(900, 1000), (0, 100)])),
            ("overlapping_within_len", "bytes=0-9,5-14", 1000, sat(&[(0, 10), (5, 15)])),
            ("unsatisfiable_member_dropped", "bytes=0-9,2000-3000", 1000, sat(&[(0, 10)])),
            ("all_members_unsatisfiable", "bytes=2000-,-0", 1000, Unsatisfiable),
            ("total_equal_to_len", "bytes=0-499,500-", 1000, sat(&[(0, 500), (500, 1000)])),
            ("total_exceeds_len_ignored", "bytes=0-,0-", 1000, Full),
            ("total_exceeds_len_by_one", "bytes=0-500,500-", 1000, Full),
            ("max_ranges", &hundred, 1000, sat(&hundred_want)),
            ("past_max_ranges_ignored", &hundred_one, 1000, Full),
            // Unit and whitespace.
            ("unit_case_insensitive", "Bytes=0-1", 10, sat(&[(0, 2)])),
            ("other_unit_ignored", "items=0-1", 10, Full),
            ("no_equals_ignored", "bytes 0-1", 10, Full),
            ("nothing_after_unit_ignored", "bytes=", 10, Full),
            ("empty_ignored", "", 10, Full),
            ("surrounding_whitespace", " \tbytes=0-1 ", 10, sat(&[(0, 2)])),
            ("spaces_everywhere_nginx_allows", "bytes= 0 - 1 , 7 - , -2 ", 10, sat(&[(0, 2), (7, 10), (8, 10)])),
            // Syntax errors after bytes=: 416, as nginx.
            ("space_inside_suffix", "bytes=- 5", 10, Unsatisfiable),
            ("tab_separator", "bytes=0-1,\t2-3", 10, Unsatisfiable),
            ("garbage", "bytes=abc", 10, Unsatisfiable),
            ("lone_dash", "bytes=-", 10, Unsatisfiable),
            ("missing_dash", "bytes=5", 10, Unsatisfiable),
            ("negative_number", "bytes=0--1", 10, Unsatisfiable),
            ("trailing_comma", "bytes=0-1,", 10, Unsatisfiable),
            ("empty_member", "bytes=0-1,,2-3", 10, Unsatisfiable),
            ("trailing_garbage", "bytes=0-1x", 10, Unsatisfiable),
            ("plus_sign", "bytes=+1-2", 10, Unsatisfiable),
            ("number_overflow", &over, 1000, Unsatisfiable),
            ("u64_overflow", "bytes=0-99999999999999999999999", 1000, Unsatisfiable),
            // Empty file: a range from byte 0 serves it whole, others are 416.
            ("empty_file_from_zero", "bytes=0-", 0, Full),
            ("empty_file_first_byte", "bytes=0-0", 0, Full),
            ("empty_file_suffix", "bytes=-5", 0, Full),
            ("empty_file_suffix_zero", "bytes=-0", 0, Full),
            ("empty_file_later_byte", "bytes=1-2", 0, Unsatisfiable),
            ("empty_file_later_then_zero", "bytes=1-2,0-", 0, Full),
            ("one_byte_file", "bytes=0-", 1, sat(&[(0, 1)])),
        ];
        for (name, header, len, want) in rows {
            assert_eq!(parse_range(header.as_bytes(), len), want, "{name}");
        }
    }

    const LM: u64 = 784_111_777;
    const TAG: &str = "\"2ebc98a1-3e8\"";

    fn lm() -> SystemTime {
        UNIX_EPOCH + Duration::from_secs(LM) + Duration::from_millis(300)
    }

    #[test]
    fn if_range_rules() {
        #[rustfmt::skip]
        let rows = [
            ("same_strong_tag", "\"2ebc98a1-3e8\"", true),
            ("same_tag_spaces", " \"2ebc98a1-3e8\" ", true),
            ("other_tag", "\"2ebc98a1-3e9\"", false),
            ("weak_same_tag_never", "W/\"2ebc98a1-3e8\"", false),
            ("malformed_tag", "x\"", false),
            ("date_imf_equal", "Sun, 06 Nov 1994 08:49:37 GMT", true),
            ("date_rfc850_equal", "Sunday, 06-Nov-94 08:49:37 GMT", true),
            ("date_asctime_equal", "Sun Nov  6 08:49:37 1994", true),
            ("date_later_not_equal", "Sun, 06 Nov 1994 08:49:38 GMT", false),
            ("date_earlier_not_equal", "Sun, 06 Nov 1994 08:49:36 GMT", false),
            ("invalid_date", "yesterday", false),
            ("empty", "", false),
            ("unclosed_tag_read_as_date", "\"2ebc98a1-3e8", false),
        ];
        for (name, value, want) in rows {
            assert_eq!(
                if_range_allows(value.as_bytes(), TAG, Some(lm())),
                want,
                "{name}"
            );
        }
        assert!(
            !if_range_allows(b"W/\"a\"", "W/\"a\"", Some(lm())),
            "weak_current_tag_never"
        );
        let date = b"Sun, 06 Nov 1994 08:49:37 GMT";
        assert!(
            !if_range_allows(date, TAG, None),
            "date_without_last_modified_never"
        );
        assert!(
            !if_range_allows(b"\"2ebc98a1-3e8\"", "", Some(lm())),
            "tag_without_etag_never"
        );
    }

    #[test]
    fn evaluate_order() {
        let range = Some(&b"bytes=0-9"[..]);
        let bad = Some(&b"bytes=x"[..]);
        let other_tag = Some(&b"\"nope\""[..]);
        let same_tag = Some(TAG.as_bytes());
        #[rustfmt::skip]
        let rows = [
            ("no_range", None, None, Full),
            ("range_only", range, None, sat(&[(0, 10)])),
            ("if_range_matches", range, same_tag, sat(&[(0, 10)])),
            ("if_range_fails_whole_file", range, other_tag, Full),
            ("if_range_fails_before_syntax", bad, other_tag, Full),
            ("syntax_error_with_matching_if_range", bad, same_tag, Unsatisfiable),
            ("other_unit_with_if_range", Some(&b"items=0-9"[..]), other_tag, Full),
            ("if_range_without_range", None, same_tag, Full),
        ];
        for (name, range, if_range, want) in rows {
            assert_eq!(
                evaluate(range, if_range, TAG, Some(lm()), 1000, MAX_RANGES),
                want,
                "{name}"
            );
        }
    }

    #[test]
    fn content_range_values() {
        assert_eq!(content_range(r(0, 500), 1234), "bytes 0-499/1234");
        assert_eq!(content_range(r(1233, 1234), 1234), "bytes 1233-1233/1234");
        assert_eq!(unsatisfied_range(1234), "bytes */1234");
        assert_eq!(unsatisfied_range(0), "bytes */0");
        assert_eq!(r(5, 10).len(), 5);
        assert_eq!(r(5, 10).last(), 9);
        assert!(r(5, 5).is_empty());
    }

    #[test]
    fn multipart_framing_is_byte_exact() {
        let ranges = vec![r(0, 1), r(999, 1000)];
        let m = Multipart::new(
            boundary(42),
            "text/plain; charset=utf-8",
            ranges.clone(),
            1000,
        );
        assert_eq!(boundary(42), "00000000000000000042");
        assert_eq!(
            m.content_type(),
            "multipart/byteranges; boundary=00000000000000000042"
        );
        assert_eq!(m.ranges(), &ranges[..]);
        let body_of = |r: ByteRange| vec![b'x'; r.len() as usize];
        let mut body = Vec::new();
        for (head, range) in m.parts() {
            body.extend_from_slice(&head);
            body.extend_from_slice(&body_of(range));
        }
        body.extend_from_slice(&m.closing());
        let want = "\r\n--00000000000000000042\r\n\
                    Content-Type: text/plain; charset=utf-8\r\n\
                    Content-Range: bytes 0-0/1000\r\n\r\nx\
                    \r\n--00000000000000000042\r\n\
                    Content-Type: text/plain; charset=utf-8\r\n\
                    Content-Range: bytes 999-999/1000\r\n\r\nx\
                    \r\n--00000000000000000042--\r\n";
        assert_eq!(String::from_utf8(body.clone()).unwrap(), want);
        assert_eq!(m.content_length(), body.len() as u64);
    }

    #[test]
    fn multipart_without_type_and_length_at_digit_boundaries() {
        let m = Multipart::new(boundary(7), "", vec![r(0, 10)], 10);
        assert_eq!(
            m.part_header(r(0, 10)),
            b"\r\n--00000000000000000007\r\nContent-Range: bytes 0-9/10\r\n\r\n"
        );
        #[rustfmt::skip]
        let rows: [(&str, Vec<ByteRange>, u64); 5] = [
            ("single_digits", vec![r(0, 1), r(8, 9)], 9),
            ("nine_to_ten", vec![r(9, 10), r(10, 11), r(0, 11)], 11),
            ("ninety_nine", vec![r(99, 100), r(0, 100)], 100),
            ("no_ranges", vec![], 5),
            ("large", vec![r(0, 1), r(u64::MAX / 2, u64::MAX / 2 + 1)], u64::MAX / 2 + 1),
        ];
        for (name, ranges, len) in rows {
            let m = Multipart::new(boundary(u64::MAX), "image/png", ranges, len);
            let headers: usize = m.parts().map(|(h, _)| h.len()).sum();
            let bytes: u64 = m.ranges().iter().map(|r| r.len()).sum();
            let want = headers as u64 + bytes + m.closing().len() as u64;
            assert_eq!(m.content_length(), want, "{name}");
        }
    }

    #[test]
    fn digits_counts() {
        for (n, d) in [(0, 1), (9, 1), (10, 2), (99, 2), (100, 3), (u64::MAX, 20)] {
            assert_eq!(digits(n), d, "{n}");
        }
    }
}

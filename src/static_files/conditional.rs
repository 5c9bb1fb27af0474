//! Conditional requests (RFC 9110 §13) for a static file: the validators the file
//! handler sends (`ETag` and `Last-Modified`, §8.8) and the evaluation of `If-Match`,
//! `If-Unmodified-Since`, `If-None-Match` and `If-Modified-Since` against them.
//!
//! Place in the data path: the static handler has opened the file and knows its size
//! and mtime, would answer 200, and has not written anything yet. It calls
//! [`evaluate`]; [`Precondition::NotModified`] becomes a 304 without a body,
//! [`Precondition::Failed`] a 412, [`Precondition::Proceed`] goes on to the `Range`
//! step (`range::evaluate`, which handles `If-Range`, §13.1.5).
//!
//! Pure functions: no I/O, no clock (the validators are given), nothing that panics on
//! request bytes.
//!
//! # Where this differs from nginx's `ngx_http_not_modified_filter_module`
//!
//! The order and the ignoring rules are RFC 9110 §13.2.2's, not nginx's, which matters
//! only for requests no browser sends:
//! - nginx tests `If-Unmodified-Since` even when `If-Match` is present, and answers
//!   412 to an unparsable `If-Unmodified-Since`; here it is ignored in both cases
//!   (§13.1.4).
//! - nginx requires `If-Modified-Since` *and* `If-None-Match` to both say "not
//!   modified" when both are sent; here `If-Modified-Since` is ignored when
//!   `If-None-Match` is present (§13.1.3).
//! - nginx answers 304 to a matching `If-None-Match` whatever the method; here a
//!   method other than GET or HEAD gets 412 (§13.1.2). The static handler only serves
//!   GET and HEAD, so this does not show.
//!
//! Like nginx's default `if_modified_since exact`, `If-Modified-Since` yields 304 only
//! when its date equals the file's `Last-Modified` to the second; RFC 9110 §13.1.3
//! would also accept any later date (nginx's `if_modified_since before`). Exact
//! equality is what a cache revalidating the `Last-Modified` it stored sends, and it
//! keeps a file replaced by an older copy (a deploy rollback) from being reported as
//! unchanged.

use std::time::{SystemTime, UNIX_EPOCH};

use crate::config::model::IfModifiedSince;
use crate::http1::{date, Header};

/// The result of evaluating the preconditions of a request (RFC 9110 §13.2.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Precondition {
    /// No precondition stops the request: serve it (200, or 206 after `Range`).
    Proceed,
    /// 304 Not Modified (§15.4.5): the client's copy is current.
    NotModified,
    /// 412 Precondition Failed (§15.5.13).
    Failed,
}

/// An entity-tag (RFC 9110 §8.8.3): `"xyzzy"` or, weak, `W/"xyzzy"`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EntityTag<'a> {
    pub weak: bool,
    /// The opaque-tag without its quotes.
    pub opaque: &'a [u8],
}

impl<'a> EntityTag<'a> {
    /// Parses a whole field value holding one entity-tag, surrounding whitespace allowed.
    pub fn parse(value: &'a [u8]) -> Option<Self> {
        match Self::parse_prefix(value.trim_ascii()) {
            Some((tag, [])) => Some(tag),
            _ => None,
        }
    }

    /// Parses the entity-tag at the start of `input`; returns it and what follows.
    fn parse_prefix(input: &'a [u8]) -> Option<(Self, &'a [u8])> {
        let (weak, rest) = match input.strip_prefix(b"W/") {
            Some(rest) => (true, rest),
            None => (false, input),
        };
        let rest = rest.strip_prefix(b"\"")?;
        let close = rest.iter().position(|&b| b == b'"')?;
        let (opaque, after) = rest.split_at_checked(close)?;
        // etagc = %x21 / %x23-7E / obs-text
        if !opaque
            .iter()
            .all(|&b| b == 0x21 || (0x23..=0x7e).contains(&b) || b >= 0x80)
        {
            return None;
        }
        Some((EntityTag { weak, opaque }, after.strip_prefix(b"\"")?))
    }

    /// Strong comparison (§8.8.3.2): neither is weak and the opaque-tags are equal.
    pub fn strong_eq(&self, other: &EntityTag<'_>) -> bool {
        !self.weak && !other.weak && self.opaque == other.opaque
    }

    /// Weak comparison (§8.8.3.2): the opaque-tags are equal, `W/` aside.
    pub fn weak_eq(&self, other: &EntityTag<'_>) -> bool {
        self.opaque == other.opaque
    }
}

/// Which comparison a list field uses (§8.8.3.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Comparison {
    /// `If-Match` (§13.1.1).
    Strong,
    /// `If-None-Match` (§13.1.2).
    Weak,
}

/// Evaluates the preconditions of a request for a file whose validators are `etag`
/// (as sent in the `ETag` field, with its quotes) and `last_modified`, in RFC 9110
/// §13.2.2's order:
///
/// 1. `If-Match` present: 412 unless `*` or a listed tag matches strongly (§13.1.1).
/// 2. Otherwise `If-Unmodified-Since` with a valid date: 412 if the file changed
///    after it (§13.1.4).
/// 3. `If-None-Match` present: when `*` or a listed tag matches weakly, 304 for GET
///    and HEAD, 412 for other methods (§13.1.2).
/// 4. Otherwise, GET and HEAD only, `If-Modified-Since` with a valid date: 304 when
///    it equals `Last-Modified` exactly (nginx's default `if_modified_since exact`),
///    or is at or after it (`before`); never under `if_modified_since off`.
///
/// An empty `etag` (`etag off`) matches only `*`.
///
/// `If-Range` (step 5) belongs to the range step. A date field sent more than once,
/// or not a valid HTTP-date in any of the three forms (§5.6.7), is ignored (§13.1.3,
/// §13.1.4). List fields sent more than once are one list (§5.3).
///
/// The caller evaluates only when it would otherwise answer 2xx (§13.2.1).
pub fn evaluate(
    method_is_get_or_head: bool,
    headers: &[Header],
    etag: &str,
    last_modified: SystemTime,
    if_modified_since: IfModifiedSince,
) -> Precondition {
    // Most requests carry no precondition: one look at the names, nothing parsed.
    let conditional = headers.iter().any(|h| {
        h.name
            .get(..3)
            .is_some_and(|p| p.eq_ignore_ascii_case("if-"))
    });
    if !conditional {
        return Precondition::Proceed;
    }
    let current = EntityTag::parse(etag.as_bytes());
    let modified = unix_seconds(last_modified);
    match list_field(headers, "If-Match", current.as_ref(), Comparison::Strong) {
        Some(false) => return Precondition::Failed,
        Some(true) => {}
        None => {
            if date_field(headers, "If-Unmodified-Since").is_some_and(|d| modified > d) {
                return Precondition::Failed;
            }
        }
    }
    match list_field(headers, "If-None-Match", current.as_ref(), Comparison::Weak) {
        Some(true) if method_is_get_or_head => Precondition::NotModified,
        Some(true) => Precondition::Failed,
        Some(false) => Precondition::Proceed,
        None if method_is_get_or_head
            && date_field(headers, "If-Modified-Since")
                .is_some_and(|d| not_modified_since(if_modified_since, d, modified)) =>
        {
            Precondition::NotModified
        }
        None => Precondition::Proceed,
    }
}

/// Whether an `If-Modified-Since` date says the client's copy is current.
fn not_modified_since(mode: IfModifiedSince, date: i64, modified: i64) -> bool {
    match mode {
        IfModifiedSince::Off => false,
        IfModifiedSince::Exact => date == modified,
        IfModifiedSince::Before => date >= modified,
    }
}

/// A file's validators, worked out once per opened file (kept with its descriptor,
/// [`super::open`]): its modification time in whole seconds, and the `ETag` and
/// `Last-Modified` values made from it.
#[derive(Debug, Clone)]
pub struct Validators {
    pub mtime: SystemTime,
    pub etag: String,
    pub last_modified: String,
}

impl Validators {
    /// The validators of a file of `len` bytes modified at `mtime_secs` (Unix
    /// seconds; before 1970 counts as 1970).
    pub fn new(mtime_secs: i64, len: u64) -> Validators {
        let mtime =
            UNIX_EPOCH + std::time::Duration::from_secs(u64::try_from(mtime_secs).unwrap_or(0));
        Validators {
            mtime,
            etag: etag(mtime, len),
            last_modified: last_modified(mtime),
        }
    }
}

/// The `ETag` nginx sends for a static file: `"<mtime>-<size>"`, both in lowercase
/// hex, the mtime in whole Unix seconds (`ngx_http_set_etag`). A strong validator
/// (§8.8.3): a file rewritten within the same second at the same size keeps its tag,
/// as in nginx.
pub fn etag(mtime: SystemTime, len: u64) -> String {
    let secs = unix_seconds(mtime);
    // nginx prints a negative time_t as `-` and the hex of its magnitude.
    let mut tag = String::with_capacity(32);
    tag.push('"');
    if secs < 0 {
        tag.push('-');
    }
    push_hex(&mut tag, secs.unsigned_abs());
    tag.push('-');
    push_hex(&mut tag, len);
    tag.push('"');
    tag
}

/// `n` in lowercase hex without leading zeros (what `{:x}` prints), without `fmt`.
fn push_hex(out: &mut String, n: u64) {
    let digits = (64 - n.leading_zeros()).div_ceil(4).max(1);
    for i in (0..digits).rev() {
        let d = ((n >> (4 * i)) & 0xf) as u8;
        out.push(char::from(if d < 10 { b'0' + d } else { b'a' + d - 10 }));
    }
}

/// The `Last-Modified` value for a file (§8.8.2): its mtime as an IMF-fixdate, the
/// fraction of a second dropped.
pub fn last_modified(mtime: SystemTime) -> String {
    date::format_http_date(mtime)
}

/// Whole seconds since the Unix epoch, rounded down (also before 1970), the
/// resolution of HTTP-dates and of nginx's `last_modified_time`.
pub(crate) fn unix_seconds(t: SystemTime) -> i64 {
    match t.duration_since(UNIX_EPOCH) {
        Ok(d) => i64::try_from(d.as_secs()).unwrap_or(i64::MAX),
        Err(e) => {
            let d = e.duration();
            let secs = i64::try_from(d.as_secs()).unwrap_or(i64::MAX);
            -secs - i64::from(d.subsec_nanos() > 0)
        }
    }
}

/// Whether any field line called `name` holds `*` or a tag matching `current`;
/// `None` when the request has no such field. Without a current tag only `*` matches.
fn list_field(
    headers: &[Header],
    name: &str,
    current: Option<&EntityTag<'_>>,
    comparison: Comparison,
) -> Option<bool> {
    let mut present = false;
    for h in headers.iter().filter(|h| h.is(name)) {
        present = true;
        if list_matches(&h.value, current, comparison) {
            return Some(true);
        }
    }
    present.then_some(false)
}

/// `"*" / #entity-tag` (§13.1.1, §13.1.2). A malformed member ends the list: what
/// came before it still counts, nothing after it does.
fn list_matches(value: &[u8], current: Option<&EntityTag<'_>>, comparison: Comparison) -> bool {
    let value = value.trim_ascii();
    if value == b"*" {
        return true;
    }
    let Some(current) = current else {
        return false;
    };
    // Each turn consumes at least the two quotes of a tag: bounded by the field length.
    let mut rest = value;
    loop {
        rest = skip_list_separators(rest);
        if rest.is_empty() {
            return false;
        }
        let Some((tag, after)) = EntityTag::parse_prefix(rest) else {
            return false;
        };
        let matched = match comparison {
            Comparison::Strong => tag.strong_eq(current),
            Comparison::Weak => tag.weak_eq(current),
        };
        if matched {
            return true;
        }
        rest = skip_ows(after);
        if !(rest.is_empty() || rest.starts_with(b",")) {
            return false;
        }
    }
}

fn skip_ows(s: &[u8]) -> &[u8] {
    let n = s.iter().take_while(|&&b| b == b' ' || b == b'\t').count();
    s.get(n..).unwrap_or_default()
}

fn skip_list_separators(s: &[u8]) -> &[u8] {
    let n = s
        .iter()
        .take_while(|&&b| b == b' ' || b == b'\t' || b == b',')
        .count();
    s.get(n..).unwrap_or_default()
}

/// The date of the single field line called `name`, in Unix seconds; `None` when
/// absent, repeated or not an HTTP-date (all three: the field is ignored).
fn date_field(headers: &[Header], name: &str) -> Option<i64> {
    let mut lines = headers.iter().filter(|h| h.is(name));
    let first = lines.next()?;
    if lines.next().is_some() {
        return None;
    }
    date::parse_http_date(&first.value).map(unix_seconds)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    /// RFC 9110 §5.6.7's example instant, Sun, 06 Nov 1994 08:49:37 GMT.
    const LM: u64 = 784_111_777;
    const IMF: &str = "Sun, 06 Nov 1994 08:49:37 GMT";
    const RFC850: &str = "Sunday, 06-Nov-94 08:49:37 GMT";
    const ASCTIME: &str = "Sun Nov  6 08:49:37 1994";
    const ONE_LATER: &str = "Sun, 06 Nov 1994 08:49:38 GMT";
    const ONE_EARLIER: &str = "Sun, 06 Nov 1994 08:49:36 GMT";
    const TAG: &str = "\"2ebc98a1-1c\"";

    fn lm() -> SystemTime {
        // A fraction of a second on the file's mtime must not matter.
        UNIX_EPOCH + Duration::from_secs(LM) + Duration::from_millis(750)
    }

    fn h(name: &str, value: &str) -> Header {
        Header::new(name.to_string(), value)
    }

    use Precondition::{Failed, NotModified, Proceed};

    #[test]
    fn rfc_9110_13_2_2_order() {
        #[rustfmt::skip]
        let rows: Vec<(&str, bool, Vec<Header>, Precondition)> = vec![
            ("no_conditionals", true, vec![], Proceed),
            // §13.1.1 If-Match: strong comparison.
            ("if_match_same_tag", true, vec![h("If-Match", TAG)], Proceed),
            ("if_match_star", true, vec![h("If-Match", "*")], Proceed),
            ("if_match_other_tag", true, vec![h("If-Match", "\"x\"")], Failed),
            ("if_match_weak_never_matches", true, vec![h("If-Match", "W/\"2ebc98a1-1c\"")], Failed),
            ("if_match_list_with_spaces", true, vec![h("If-Match", "\"a\" ,\t\"2ebc98a1-1c\" , \"b\"")], Proceed),
            ("if_match_list_without_spaces", true, vec![h("If-Match", "\"a\",\"2ebc98a1-1c\"")], Proceed),
            ("if_match_two_field_lines", true, vec![h("If-Match", "\"a\""), h("If-Match", TAG)], Proceed),
            ("if_match_empty_value", true, vec![h("If-Match", "")], Failed),
            ("if_match_unquoted", true, vec![h("If-Match", "2ebc98a1-1c")], Failed),
            ("if_match_malformed_member_ends_list", true, vec![h("If-Match", "\"a\" junk, \"2ebc98a1-1c\"")], Failed),
            ("if_match_prefix_of_tag", true, vec![h("If-Match", "\"2ebc98a1-1\"")], Failed),
            ("if_match_star_in_list_is_not_star", true, vec![h("If-Match", "\"a\", *")], Failed),
            ("if_match_case_insensitive_name", true, vec![h("if-match", "\"x\"")], Failed),
            // §13.1.4 If-Unmodified-Since.
            ("ius_equal", true, vec![h("If-Unmodified-Since", IMF)], Proceed),
            ("ius_later", true, vec![h("If-Unmodified-Since", ONE_LATER)], Proceed),
            ("ius_earlier", true, vec![h("If-Unmodified-Since", ONE_EARLIER)], Failed),
            ("ius_rfc850", true, vec![h("If-Unmodified-Since", "Sunday, 06-Nov-94 08:49:36 GMT")], Failed),
            ("ius_asctime", true, vec![h("If-Unmodified-Since", "Sun Nov  6 08:49:36 1994")], Failed),
            ("ius_invalid_date_ignored", true, vec![h("If-Unmodified-Since", "yesterday")], Proceed),
            ("ius_repeated_ignored", true, vec![h("If-Unmodified-Since", ONE_EARLIER), h("If-Unmodified-Since", ONE_EARLIER)], Proceed),
            ("ius_ignored_when_if_match_present", true, vec![h("If-Match", TAG), h("If-Unmodified-Since", ONE_EARLIER)], Proceed),
            ("if_match_fails_before_ius", true, vec![h("If-Match", "\"x\""), h("If-Unmodified-Since", ONE_LATER)], Failed),
            // §13.1.2 If-None-Match: weak comparison.
            ("inm_same_tag", true, vec![h("If-None-Match", TAG)], NotModified),
            ("inm_weak_matches", true, vec![h("If-None-Match", "W/\"2ebc98a1-1c\"")], NotModified),
            ("inm_star", true, vec![h("If-None-Match", "*")], NotModified),
            ("inm_other_tag", true, vec![h("If-None-Match", "\"x\"")], Proceed),
            ("inm_list_with_spaces", true, vec![h("If-None-Match", " \"a\", W/\"b\" ,  \"2ebc98a1-1c\" ")], NotModified),
            ("inm_tag_containing_comma", true, vec![h("If-None-Match", "\"a,b\", \"2ebc98a1-1c\"")], NotModified),
            ("inm_match_post_fails", false, vec![h("If-None-Match", TAG)], Failed),
            ("inm_star_post_fails", false, vec![h("If-None-Match", "*")], Failed),
            ("inm_no_match_post_proceeds", false, vec![h("If-None-Match", "\"x\"")], Proceed),
            ("if_match_ok_then_inm_match", true, vec![h("If-Match", TAG), h("If-None-Match", TAG)], NotModified),
            ("ius_fails_before_inm", true, vec![h("If-Unmodified-Since", ONE_EARLIER), h("If-None-Match", TAG)], Failed),
            // §13.1.3 If-Modified-Since, nginx `if_modified_since exact`.
            ("ims_equal_imf", true, vec![h("If-Modified-Since", IMF)], NotModified),
            ("ims_equal_rfc850", true, vec![h("If-Modified-Since", RFC850)], NotModified),
            ("ims_equal_asctime", true, vec![h("If-Modified-Since", ASCTIME)], NotModified),
            ("ims_surrounding_spaces", true, vec![h("If-Modified-Since", "  Sun, 06 Nov 1994 08:49:37 GMT ")], NotModified),
            ("ims_later_is_modified_under_exact", true, vec![h("If-Modified-Since", ONE_LATER)], Proceed),
            ("ims_earlier", true, vec![h("If-Modified-Since", ONE_EARLIER)], Proceed),
            ("ims_invalid_date_ignored", true, vec![h("If-Modified-Since", "Sun, 06 Nov 1994 08:49:37 UTC")], Proceed),
            ("ims_lowercase_month_invalid", true, vec![h("If-Modified-Since", "Sun, 06 nov 1994 08:49:37 GMT")], Proceed),
            ("ims_repeated_ignored", true, vec![h("If-Modified-Since", IMF), h("If-Modified-Since", IMF)], Proceed),
            ("ims_ignored_for_post", false, vec![h("If-Modified-Since", IMF)], Proceed),
            ("ims_ignored_when_inm_present", true, vec![h("If-None-Match", "\"x\""), h("If-Modified-Since", IMF)], Proceed),
            ("inm_match_wins_over_stale_ims", true, vec![h("If-None-Match", TAG), h("If-Modified-Since", ONE_EARLIER)], NotModified),
        ];
        for (name, get_or_head, headers, want) in rows {
            let exact = IfModifiedSince::Exact;
            assert_eq!(
                evaluate(get_or_head, &headers, TAG, lm(), exact),
                want,
                "{name}"
            );
        }
    }

    #[test]
    fn unparsable_current_tag_matches_only_star() {
        let bad = "no-quotes";
        let star = [h("If-Match", "*")];
        assert_eq!(
            evaluate(true, &star, bad, lm(), IfModifiedSince::Exact),
            Proceed
        );
        let same = [h("If-Match", "no-quotes")];
        assert_eq!(
            evaluate(true, &same, bad, lm(), IfModifiedSince::Exact),
            Failed
        );
        let inm = [h("If-None-Match", "\"no-quotes\"")];
        assert_eq!(
            evaluate(true, &inm, bad, lm(), IfModifiedSince::Exact),
            Proceed
        );
    }

    /// nginx's `if_modified_since`: `off` ignores the field, `before` accepts any
    /// date at or after the modification time.
    #[test]
    fn if_modified_since_modes() {
        use IfModifiedSince::{Before, Exact, Off};
        for (name, mode, date, want) in [
            ("exact_equal", Exact, IMF, NotModified),
            ("exact_later", Exact, ONE_LATER, Proceed),
            ("before_equal", Before, IMF, NotModified),
            ("before_later", Before, ONE_LATER, NotModified),
            ("before_earlier", Before, ONE_EARLIER, Proceed),
            ("off_equal", Off, IMF, Proceed),
        ] {
            let headers = [h("If-Modified-Since", date)];
            assert_eq!(evaluate(true, &headers, TAG, lm(), mode), want, "{name}");
        }
    }

    #[test]
    fn etag_off_matches_only_star() {
        let inm = [h("If-None-Match", TAG)];
        assert_eq!(
            evaluate(true, &inm, "", lm(), IfModifiedSince::Exact),
            Proceed
        );
        let star = [h("If-None-Match", "*")];
        assert_eq!(
            evaluate(true, &star, "", lm(), IfModifiedSince::Exact),
            NotModified
        );
    }

    #[test]
    fn entity_tag_parsing_and_comparison() {
        let strong = EntityTag::parse(b"\"abc\"").unwrap();
        let weak = EntityTag::parse(b" W/\"abc\" ").unwrap();
        let other = EntityTag::parse(b"\"abd\"").unwrap();
        #[rustfmt::skip]
        let rows = [
            // (name, a, b, strong_eq, weak_eq) — RFC 9110 §8.8.3.2's table.
            ("w1_w1", weak, weak, false, true),
            ("w1_w2", weak, other, false, false),
            ("w1_s1", weak, strong, false, true),
            ("s1_s1", strong, strong, true, true),
            ("s1_s2", strong, other, false, false),
        ];
        for (name, a, b, s, w) in rows {
            assert_eq!(a.strong_eq(&b), s, "{name}: strong");
            assert_eq!(a.weak_eq(&b), w, "{name}: weak");
        }
        for bad in [
            &b""[..],
            b"abc",
            b"\"abc",
            b"w/\"abc\"",
            b"\"a\"b\"",
            b"\"a b\"",
            b"\"a\" x",
        ] {
            assert_eq!(EntityTag::parse(bad), None, "{}", bad.escape_ascii());
        }
        assert_eq!(EntityTag::parse(b"\"\"").unwrap().opaque, b"");
        assert_eq!(
            EntityTag::parse(b"\"\xc3\xa9\"").unwrap().opaque,
            b"\xc3\xa9"
        );
    }

    #[test]
    fn validators_in_nginx_form() {
        #[rustfmt::skip]
        let rows = [
            ("example", UNIX_EPOCH + Duration::from_secs(LM), 28, "\"2ebc98a1-1c\"", IMF),
            ("fraction_dropped", lm(), 28, "\"2ebc98a1-1c\"", IMF),
            ("empty_file", UNIX_EPOCH + Duration::from_secs(LM), 0, "\"2ebc98a1-0\"", IMF),
            ("epoch", UNIX_EPOCH, 4096, "\"0-1000\"", "Thu, 01 Jan 1970 00:00:00 GMT"),
            ("before_epoch", UNIX_EPOCH - Duration::from_secs(16), 1, "\"-10-1\"", "Wed, 31 Dec 1969 23:59:44 GMT"),
            ("large_file", UNIX_EPOCH + Duration::from_secs(LM), u64::MAX, "\"2ebc98a1-ffffffffffffffff\"", IMF),
        ];
        for (name, mtime, len, tag, date) in rows {
            assert_eq!(etag(mtime, len), tag, "{name}: etag");
            assert_eq!(last_modified(mtime), date, "{name}: last_modified");
        }
    }

    #[test]
    fn unix_seconds_round_down() {
        assert_eq!(unix_seconds(lm()), LM as i64);
        assert_eq!(unix_seconds(UNIX_EPOCH - Duration::from_millis(1)), -1);
        assert_eq!(unix_seconds(UNIX_EPOCH - Duration::from_secs(2)), -2);
    }
}

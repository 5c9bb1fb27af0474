//! Date tests: known vectors from RFC 9110 §5.6.7 and nginx's formats, a round trip
//! over a wide span of times, calendar edge cases, and the once-a-second cache.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use super::*;

fn at(secs: i64) -> SystemTime {
    from_unix_seconds(secs).unwrap()
}

/// RFC 9110 §5.6.7's example instant.
const EXAMPLE: i64 = 784_111_777;

#[test]
fn formats_known_vectors() {
    // (name, unix seconds, IMF-fixdate, $time_local, $time_iso8601)
    #[rustfmt::skip]
    let rows = [
        ("epoch", 0, "Thu, 01 Jan 1970 00:00:00 GMT", "01/Jan/1970:00:00:00 +0000", "1970-01-01T00:00:00+00:00"),
        ("rfc_9110_example", EXAMPLE, "Sun, 06 Nov 1994 08:49:37 GMT", "06/Nov/1994:08:49:37 +0000", "1994-11-06T08:49:37+00:00"),
        ("leap_day", 951_782_400, "Tue, 29 Feb 2000 00:00:00 GMT", "29/Feb/2000:00:00:00 +0000", "2000-02-29T00:00:00+00:00"),
        ("end_of_year", 1_704_067_199, "Sun, 31 Dec 2023 23:59:59 GMT", "31/Dec/2023:23:59:59 +0000", "2023-12-31T23:59:59+00:00"),
        ("brief_example", 1_795_332_809, "Sun, 22 Nov 2026 07:33:29 GMT", "22/Nov/2026:07:33:29 +0000", "2026-11-22T07:33:29+00:00"),
        ("before_epoch", -1, "Wed, 31 Dec 1969 23:59:59 GMT", "31/Dec/1969:23:59:59 +0000", "1969-12-31T23:59:59+00:00"),
        ("year_2038", 2_147_483_648, "Tue, 19 Jan 2038 03:14:08 GMT", "19/Jan/2038:03:14:08 +0000", "2038-01-19T03:14:08+00:00"),
    ];
    for (name, secs, http, local, iso) in rows {
        assert_eq!(format_http_date(at(secs)), http, "{name}: http date");
        assert_eq!(format_time_local(at(secs)), local, "{name}: time_local");
        assert_eq!(format_iso8601(at(secs)), iso, "{name}: iso8601");
    }
}

#[test]
fn fractions_of_a_second_round_down() {
    let t = UNIX_EPOCH + Duration::from_millis(EXAMPLE as u64 * 1000 + 999);
    assert_eq!(format_http_date(t), "Sun, 06 Nov 1994 08:49:37 GMT");
    let before = UNIX_EPOCH - Duration::from_millis(500);
    assert_eq!(format_http_date(before), "Wed, 31 Dec 1969 23:59:59 GMT");
}

#[test]
fn parses_the_three_formats() {
    let now = at(1_795_332_809); // 2026
                                 // (name, value, unix seconds)
    #[rustfmt::skip]
    let rows: [(&str, &[u8], Option<i64>); 17] = [
        ("imf_fixdate", b"Sun, 06 Nov 1994 08:49:37 GMT", Some(EXAMPLE)),
        ("rfc850", b"Sunday, 06-Nov-94 08:49:37 GMT", Some(EXAMPLE)),
        ("asctime", b"Sun Nov  6 08:49:37 1994", Some(EXAMPLE)),
        ("asctime_two_digit_day", b"Sun Nov 16 08:49:37 1994", Some(EXAMPLE + 10 * 86_400)),
        ("surrounding_whitespace", b" Sun, 06 Nov 1994 08:49:37 GMT ", Some(EXAMPLE)),
        ("rfc850_recent_year", b"Thursday, 01-Jan-30 00:00:00 GMT", Some(1_893_456_000)),
        ("leap_second", b"Sat, 31 Dec 2016 23:59:60 GMT", Some(1_483_228_800)),
        ("leap_day", b"Tue, 29 Feb 2000 00:00:00 GMT", Some(951_782_400)),
        ("not_a_leap_day", b"Thu, 29 Feb 2001 00:00:00 GMT", None),
        ("day_31_in_april", b"Thu, 31 Apr 2020 00:00:00 GMT", None),
        ("hour_24", b"Sun, 06 Nov 1994 24:00:00 GMT", None),
        ("lowercase_month", b"Sun, 06 nov 1994 08:49:37 GMT", None),
        ("not_gmt", b"Sun, 06 Nov 1994 08:49:37 UTC", None),
        ("single_digit_day", b"Sun, 6 Nov 1994 08:49:37 GMT", None),
        ("trailing_garbage", b"Sun, 06 Nov 1994 08:49:37 GMTx", None),
        ("empty", b"", None),
        ("etag_not_date", b"\"abc\"", None),
    ];
    for (name, value, want) in rows {
        assert_eq!(parse_http_date_at(value, now), want.map(at), "{name}");
    }
}

#[test]
fn rfc850_years_more_than_50_years_ahead_are_in_the_past() {
    let now = at(1_795_332_809); // 2026
    let year = |v: &[u8]| civil(unix_seconds(parse_http_date_at(v, now).unwrap())).year;
    assert_eq!(year(b"Monday, 01-Jan-76 00:00:00 GMT"), 2076);
    assert_eq!(year(b"Friday, 01-Jan-77 00:00:00 GMT"), 1977);
    assert_eq!(year(b"Saturday, 01-Jan-00 00:00:00 GMT"), 2000);
}

#[test]
fn format_then_parse_round_trips() {
    let mut secs = -2_208_988_800; // 1900-01-01
    while secs < 4_102_444_800 {
        // 2100-01-01
        let t = at(secs);
        assert_eq!(
            parse_http_date(format_http_date(t).as_bytes()),
            Some(t),
            "{secs}"
        );
        secs += 7_919_993; // about three months, prime, so every field varies
    }
}

#[test]
fn civil_conversion_is_inverse_over_four_centuries() {
    for days in (-146_097 * 2..146_097 * 2).step_by(97) {
        let (y, m, d) = civil_from_days(days);
        assert_eq!(days_from_civil(y, m, d), days);
    }
}

#[test]
fn cache_reformats_once_per_second() {
    let mut cache = DateCache::new();
    let t = at(EXAMPLE);
    assert_eq!(cache.http_date(t), "Sun, 06 Nov 1994 08:49:37 GMT");
    assert_eq!(
        cache.time_local(t + Duration::from_millis(400)),
        "06/Nov/1994:08:49:37 +0000"
    );
    assert_eq!(
        cache.iso8601(t + Duration::from_millis(999)),
        "1994-11-06T08:49:37+00:00"
    );
    assert_eq!(cache.refreshes, 1);
    assert_eq!(
        cache.http_date(t + Duration::from_secs(1)),
        "Sun, 06 Nov 1994 08:49:38 GMT"
    );
    assert_eq!(cache.refreshes, 2);
}

#[test]
fn http_dates_past_year_9999_keep_every_digit() {
    assert_eq!(
        format_http_date(at(253_402_300_799)),
        "Fri, 31 Dec 9999 23:59:59 GMT"
    );
    assert_eq!(
        format_http_date(at(253_402_300_800)),
        "Sat, 01 Jan 10000 00:00:00 GMT"
    );
}

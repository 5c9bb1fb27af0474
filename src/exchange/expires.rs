//! The `expires` directive: the `Expires` (RFC 9111 §5.3) and `Cache-Control`
//! (RFC 9111 §5.2) fields nginx's `ngx_http_headers_filter_module` adds to a response.
//!
//! Place in the data path: while the response head is composed
//! ([`super::response::compose`]), after the status is final (a 200 that became 206
//! or 304 included), for every response — a file, a proxied answer, `return`. When
//! [`applies`] to the status and the setting gives lines, the response's own
//! `Expires` and `Cache-Control` (an upstream's) are dropped for them, as nginx
//! replaces them. A proxied response's modification time is its `Last-Modified`,
//! when it has one.
//!
//! Pure: the clock is passed in as `now`.
//!
//! What nginx sends, kept here byte for byte:
//!
//! | directive | `Expires` | `Cache-Control` |
//! |---|---|---|
//! | `expires off` | — | — |
//! | `expires epoch` | `Thu, 01 Jan 1970 00:00:01 GMT` | `no-cache` |
//! | `expires max` | `Thu, 31 Dec 2037 23:55:55 GMT` | `max-age=315360000` (10 years) |
//! | `expires 0` / `expires modified 0` | now | `max-age=0` |
//! | `expires 1h` | now + 1h | `max-age=3600` |
//! | `expires -1h` | now − 1h | `no-cache` |
//! | `expires modified 1h` | mtime + 1h | `max-age=`(mtime + 1h − now), `no-cache` once past |
//!
//! | `expires @15h30m` | the next 15:30 local time | `max-age=` the seconds until then |
//!
//! `modified` without a modification time (a proxied response without
//! `Last-Modified`) counts from now, as nginx. `expires $variable` parses the
//! variable's value per request ([`headers_for`]); a value that does not parse, or
//! `off`, adds nothing.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crate::config::model::Expires;
use crate::config::template::VariableSource;
use crate::http1::date::{self, unix_seconds};
use crate::http1::Header;

/// `expires epoch`: one second after the epoch, as nginx.
pub const EPOCH_EXPIRES: &str = "Thu, 01 Jan 1970 00:00:01 GMT";
/// `expires max`: nginx's fixed date, short of 2038 for 32-bit `time_t` clients.
pub const MAX_EXPIRES: &str = "Thu, 31 Dec 2037 23:55:55 GMT";
/// `expires max`: ten years.
pub const MAX_CACHE_CONTROL: &str = "max-age=315360000";

/// Whether nginx adds `expires` headers to a response with this status: 200, 201,
/// 204, 206, 301, 302, 303, 304, 307, 308 (the same list as `add_header` without
/// `always`). Error responses never get them.
pub fn applies(status: u16) -> bool {
    matches!(
        status,
        200 | 201 | 204 | 206 | 301 | 302 | 303 | 304 | 307 | 308
    )
}

/// The `Expires` and `Cache-Control` fields, in that order, for the `expires`
/// setting at time `now` for a file modified at `mtime` (`None` when unknown);
/// empty for `expires off`.
pub fn headers(expires: &Expires, now: SystemTime, mtime: Option<SystemTime>) -> Vec<Header> {
    let now = unix_seconds(now);
    let (at, offset, max_age) = match *expires {
        Expires::Off | Expires::Variable { .. } => return Vec::new(),
        Expires::Daily(t) => {
            let at = next_daily(now, t);
            (at, 0, at.saturating_sub(now))
        }
        Expires::Epoch => return pair(EPOCH_EXPIRES.to_string(), "no-cache".to_string()),
        Expires::Max => return pair(MAX_EXPIRES.to_string(), MAX_CACHE_CONTROL.to_string()),
        // nginx: a zero time is "now, max-age=0" whether or not `modified` is given.
        Expires::Access(0) | Expires::Modified(0) => (now, 0, 0),
        Expires::Access(t) => (now.saturating_add(t), t, t),
        Expires::Modified(t) => match mtime {
            Some(m) => {
                let at = unix_seconds(m).saturating_add(t);
                (at, t, at.saturating_sub(now))
            }
            None => (now.saturating_add(t), t, t),
        },
    };
    let cache_control = if offset < 0 || max_age < 0 {
        "no-cache".to_string()
    } else {
        format!("max-age={max_age}")
    };
    pair(date::format_http_date(at_seconds(at)), cache_control)
}

/// [`headers`] for the setting in force for this request: a value with variables
/// is expanded and parsed first (after `modified` when so written), and adds nothing
/// when it does not parse, as in nginx.
pub fn headers_for(
    expires: &Expires,
    vars: &dyn VariableSource,
    now: SystemTime,
    mtime: Option<SystemTime>,
) -> Vec<Header> {
    let Expires::Variable { modified, value } = expires else {
        return headers(expires, now, mtime);
    };
    let mut text = Vec::new();
    value.expand(vars, &mut text);
    match std::str::from_utf8(&text).map(|t| Expires::parse(*modified, t)) {
        Ok(Ok(parsed)) => headers(&parsed, now, mtime),
        _ => Vec::new(),
    }
}

/// The next instant strictly after `now` that is `secs_of_day` seconds after a local
/// midnight (nginx's `ngx_next_time`: today's, else tomorrow's, by `mktime`).
pub fn next_daily(now: i64, secs_of_day: i64) -> i64 {
    let t = now as libc::time_t;
    // SAFETY: tm is plain old data; zero is valid for every field.
    let mut tm: libc::tm = unsafe { std::mem::zeroed() };
    // SAFETY: both pointers are valid for the call; localtime_r writes only into tm.
    if unsafe { libc::localtime_r(&t, &mut tm) }.is_null() {
        return now.saturating_add(secs_of_day);
    }
    // Bounded by the parser: at most 24 hours.
    tm.tm_hour = (secs_of_day / 3600) as libc::c_int;
    tm.tm_min = (secs_of_day % 3600 / 60) as libc::c_int;
    tm.tm_sec = (secs_of_day % 60) as libc::c_int;
    // SAFETY: tm is a valid broken-down time; mktime normalizes it in place.
    let next: i64 = unsafe { libc::mktime(&mut tm) };
    if next > now {
        return next;
    }
    tm.tm_mday += 1;
    // SAFETY: as above; mktime normalizes the 32nd of a month and the like.
    let next: i64 = unsafe { libc::mktime(&mut tm) };
    if next == -1 {
        now.saturating_add(86_400)
    } else {
        next
    }
}

fn pair(expires: String, cache_control: String) -> Vec<Header> {
    vec![
        Header::new("Expires", expires),
        Header::new("Cache-Control", cache_control),
    ]
}

/// The instant `secs` seconds from the epoch, saturating where `SystemTime` ends.
fn at_seconds(secs: i64) -> SystemTime {
    let d = Duration::from_secs(secs.unsigned_abs());
    let t = if secs >= 0 {
        UNIX_EPOCH.checked_add(d)
    } else {
        UNIX_EPOCH.checked_sub(d)
    };
    t.unwrap_or(UNIX_EPOCH)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Sun, 06 Nov 1994 08:49:37 GMT.
    const NOW: u64 = 784_111_777;

    fn at(secs: u64) -> SystemTime {
        UNIX_EPOCH + Duration::from_secs(secs)
    }

    fn values(h: &[Header]) -> Vec<(String, String)> {
        h.iter()
            .map(|h| {
                (
                    h.name.to_string(),
                    String::from_utf8(h.value.to_vec()).unwrap(),
                )
            })
            .collect()
    }

    /// (name, setting, mtime, expected `Expires` and `Cache-Control`).
    type Row = (
        &'static str,
        Expires,
        Option<SystemTime>,
        Option<(&'static str, &'static str)>,
    );

    #[test]
    fn nginx_expires_rows() {
        let now = at(NOW) + Duration::from_millis(900);
        let mtime = Some(at(NOW - 3600) + Duration::from_millis(500));
        #[rustfmt::skip]
        let rows: Vec<Row> = vec![
            ("off", Expires::Off, mtime, None),
            ("epoch", Expires::Epoch, mtime, Some((EPOCH_EXPIRES, "no-cache"))),
            ("max", Expires::Max, mtime, Some((MAX_EXPIRES, "max-age=315360000"))),
            ("zero", Expires::Access(0), mtime, Some(("Sun, 06 Nov 1994 08:49:37 GMT", "max-age=0"))),
            ("modified_zero_is_now", Expires::Modified(0), mtime, Some(("Sun, 06 Nov 1994 08:49:37 GMT", "max-age=0"))),
            ("one_hour", Expires::Access(3600), mtime, Some(("Sun, 06 Nov 1994 09:49:37 GMT", "max-age=3600"))),
            ("thirty_days", Expires::Access(30 * 86_400), None, Some(("Tue, 06 Dec 1994 08:49:37 GMT", "max-age=2592000"))),
            ("negative", Expires::Access(-3600), mtime, Some(("Sun, 06 Nov 1994 07:49:37 GMT", "no-cache"))),
            ("modified_future", Expires::Modified(7200), mtime, Some(("Sun, 06 Nov 1994 09:49:37 GMT", "max-age=3600"))),
            ("modified_exactly_now", Expires::Modified(3600), mtime, Some(("Sun, 06 Nov 1994 08:49:37 GMT", "max-age=0"))),
            ("modified_past", Expires::Modified(1800), mtime, Some(("Sun, 06 Nov 1994 08:19:37 GMT", "no-cache"))),
            ("modified_negative", Expires::Modified(-60), mtime, Some(("Sun, 06 Nov 1994 07:48:37 GMT", "no-cache"))),
            ("modified_without_mtime_counts_from_now", Expires::Modified(60), None, Some(("Sun, 06 Nov 1994 08:50:37 GMT", "max-age=60"))),
            ("huge_time_saturates", Expires::Access(i64::MAX), mtime, None),
        ];
        for (name, expires, mtime, want) in rows {
            let got = headers(&expires, now, mtime);
            match (want, name) {
                (None, "huge_time_saturates") => {
                    let got = values(&got);
                    assert_eq!(got.len(), 2, "{name}");
                    assert_eq!(got[1].1, format!("max-age={}", i64::MAX), "{name}");
                }
                (None, _) => assert!(got.is_empty(), "{name}"),
                (Some((e, cc)), _) => assert_eq!(
                    values(&got),
                    vec![
                        ("Expires".to_string(), e.to_string()),
                        ("Cache-Control".to_string(), cc.to_string())
                    ],
                    "{name}"
                ),
            }
        }
    }

    /// `@TIME`: strictly in the future, within a day, at that local time of day.
    #[test]
    fn daily_is_the_next_such_local_time() {
        let now = 1_796_605_773; // 2026-12-07 01:09:33 UTC
        for secs in [0, 1, 55_800, 86_399] {
            let next = next_daily(now, secs);
            assert!(next > now && next <= now + 86_400 + 3600, "{secs}: {next}");
            let t = next as libc::time_t;
            // SAFETY: plain old data, valid pointers.
            let mut tm: libc::tm = unsafe { std::mem::zeroed() };
            // SAFETY: as above.
            unsafe { libc::localtime_r(&t, &mut tm) };
            let of_day = i64::from(tm.tm_hour) * 3600 + i64::from(tm.tm_min) * 60;
            assert_eq!(of_day + i64::from(tm.tm_sec), secs, "{secs}");
        }
        let h = values(&headers(&Expires::Daily(3600), at(now as u64), None));
        let max_age: i64 = h[1].1.strip_prefix("max-age=").unwrap().parse().unwrap();
        assert_eq!(max_age, next_daily(now, 3600) - now);
    }

    #[test]
    fn statuses_that_get_expires() {
        let yes = [200, 201, 204, 206, 301, 302, 303, 304, 307, 308];
        for status in 100..=599 {
            assert_eq!(applies(status), yes.contains(&status), "{status}");
        }
    }

    #[test]
    fn at_seconds_saturates() {
        assert_eq!(at_seconds(-1), UNIX_EPOCH - Duration::from_secs(1));
        assert_eq!(at_seconds(5), at(5));
        let _ = at_seconds(i64::MIN);
        let _ = at_seconds(i64::MAX);
    }
}

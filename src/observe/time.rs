//! Timestamps in the formats nginx writes: the error log's `2026/11/22 07:33:29` and the
//! access log's `$time_local` (`22/Nov/2026:07:33:29 +0000`) and `$time_iso8601`.

use std::fmt::Write;
use std::time::{SystemTime, UNIX_EPOCH};

use crate::sys::{local_time, LocalTime};

const MONTHS: [&str; 12] = [
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
];

/// Seconds since the epoch for a time (0 before 1970).
pub fn epoch_secs(t: SystemTime) -> i64 {
    t.duration_since(UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

fn local(t: SystemTime) -> LocalTime {
    local_time(epoch_secs(t))
}

/// `2026/11/22 07:33:29`
pub fn error_log_time(t: SystemTime, out: &mut String) {
    let l = local(t);
    let _ = write!(
        out,
        "{:04}/{:02}/{:02} {:02}:{:02}:{:02}",
        l.year, l.month, l.day, l.hour, l.minute, l.second
    );
}

fn offset(l: &LocalTime, colon: bool) -> String {
    let sign = if l.utc_offset < 0 { '-' } else { '+' };
    let abs = l.utc_offset.unsigned_abs();
    let (h, m) = (abs / 3600, (abs % 3600) / 60);
    if colon {
        format!("{sign}{h:02}:{m:02}")
    } else {
        format!("{sign}{h:02}{m:02}")
    }
}

/// `$time_local`: `22/Nov/2026:07:33:29 +0000`
pub fn time_local(t: SystemTime, out: &mut String) {
    let l = local(t);
    let month = MONTHS
        .get(usize::try_from(l.month.saturating_sub(1)).unwrap_or(0))
        .copied()
        .unwrap_or("Jan");
    let _ = write!(
        out,
        "{:02}/{month}/{:04}:{:02}:{:02}:{:02} {}",
        l.day,
        l.year,
        l.hour,
        l.minute,
        l.second,
        offset(&l, false)
    );
}

/// `$time_iso8601`: `2026-11-22T07:33:29+00:00`
pub fn time_iso8601(t: SystemTime, out: &mut String) {
    let l = local(t);
    let _ = write!(
        out,
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}{}",
        l.year,
        l.month,
        l.day,
        l.hour,
        l.minute,
        l.second,
        offset(&l, true)
    );
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn formats_have_nginx_shapes() {
        let t = UNIX_EPOCH + Duration::from_secs(1_795_333_999);
        let (mut a, mut b, mut c) = (String::new(), String::new(), String::new());
        error_log_time(t, &mut a);
        time_local(t, &mut b);
        time_iso8601(t, &mut c);
        assert_eq!(a.len(), "2026/11/22 07:33:29".len(), "{a}");
        assert_eq!(a.as_bytes()[4], b'/');
        assert_eq!(b.len(), "22/Nov/2026:07:33:29 +0000".len(), "{b}");
        assert!(b.contains("/Nov/2026:") || b.contains("/Dec/2026:"), "{b}");
        assert_eq!(c.len(), "2026-11-22T07:33:29+00:00".len(), "{c}");
    }
}

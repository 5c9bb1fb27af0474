//! The error log's timestamp, `2026/11/22 07:33:29`, in local time as nginx writes it.
//! (The access log's `$time_local` and `$time_iso8601` come from `http1::date`.)

use std::fmt::Write;
use std::time::{SystemTime, UNIX_EPOCH};

use crate::sys::local_time;

/// Seconds since the epoch for a time (0 before 1970).
pub fn epoch_secs(t: SystemTime) -> i64 {
    t.duration_since(UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

/// `2026/11/22 07:33:29`
pub fn error_log_time(t: SystemTime, out: &mut String) {
    let l = local_time(epoch_secs(t));
    let _ = write!(
        out,
        "{:04}/{:02}/{:02} {:02}:{:02}:{:02}",
        l.year, l.month, l.day, l.hour, l.minute, l.second
    );
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn error_log_time_has_nginx_shape() {
        let t = UNIX_EPOCH + Duration::from_secs(1_795_333_999);
        let mut a = String::new();
        error_log_time(t, &mut a);
        assert_eq!(a.len(), "2026/11/22 07:33:29".len(), "{a}");
        assert_eq!((&a[4..5], &a[7..8], &a[10..11]), ("/", "/", " "));
    }
}

//! Dates: the `Date` and `Last-Modified` headers vestibule writes (IMF-fixdate,
//! RFC 9110 §5.6.7), the access log's `$time_local` and `$time_iso8601`, and the
//! parsing of `If-Modified-Since` / `If-Unmodified-Since` for the static handler.
//!
//! No external crate: calendar arithmetic is Howard Hinnant's civil-from-days
//! algorithm over Unix seconds. Everything is UTC: `$time_local` and `$time_iso8601`
//! carry `+0000` / `+00:00` rather than the host's zone, so log lines never depend on
//! `TZ` or need a zone database in a chroot; set the service's clock to UTC to match
//! nginx exactly. A [`DateCache`] formats at most once per second per worker.

use std::fmt::Write as _;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

const DAY_NAMES: [&str; 7] = ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"];
const DAY_NAMES_LONG: [&str; 7] = [
    "Sunday",
    "Monday",
    "Tuesday",
    "Wednesday",
    "Thursday",
    "Friday",
    "Saturday",
];
pub const MONTHS: [&str; 12] = [
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
];

const SECONDS_PER_DAY: i64 = 86_400;

/// A broken-down UTC time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Civil {
    pub year: i64,
    /// 1–12.
    pub month: u32,
    /// 1–31.
    pub day: u32,
    pub hour: u32,
    pub minute: u32,
    pub second: u32,
    /// 0 = Sunday.
    weekday: usize,
}

/// Whole seconds since the Unix epoch, rounded down (also before 1970).
pub fn unix_seconds(t: SystemTime) -> i64 {
    match t.duration_since(UNIX_EPOCH) {
        Ok(d) => i64::try_from(d.as_secs()).unwrap_or(i64::MAX),
        Err(e) => {
            let d = e.duration();
            let secs = i64::try_from(d.as_secs()).unwrap_or(i64::MAX);
            -secs - i64::from(d.subsec_nanos() > 0)
        }
    }
}

fn from_unix_seconds(secs: i64) -> Option<SystemTime> {
    if secs >= 0 {
        UNIX_EPOCH.checked_add(Duration::from_secs(secs.unsigned_abs()))
    } else {
        UNIX_EPOCH.checked_sub(Duration::from_secs(secs.unsigned_abs()))
    }
}

/// Year, month, day of a day count since 1970-01-01 (Hinnant, `civil_from_days`).
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097); // [0, 146096]
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365; // [0, 399]
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100); // [0, 365]
    let mp = (5 * doy + 2) / 153; // [0, 11], March-based
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

/// Days since 1970-01-01 of a date (Hinnant, `days_from_civil`).
fn days_from_civil(year: i64, month: u32, day: u32) -> i64 {
    let y = year - i64::from(month <= 2);
    let era = y.div_euclid(400);
    let yoe = y.rem_euclid(400); // [0, 399]
    let m = i64::from(month);
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + i64::from(day) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy; // [0, 146096]
    era * 146_097 + doe - 719_468
}

/// The broken-down time of `secs` seconds since the epoch (UTC unless the caller
/// added an offset).
pub fn civil(secs: i64) -> Civil {
    let days = secs.div_euclid(SECONDS_PER_DAY);
    let rem = secs.rem_euclid(SECONDS_PER_DAY) as u32;
    let (year, month, day) = civil_from_days(days);
    Civil {
        year,
        month,
        day,
        hour: rem / 3600,
        minute: rem / 60 % 60,
        second: rem % 60,
        // 1970-01-01 was a Thursday.
        weekday: (days + 4).rem_euclid(7) as usize,
    }
}

fn month_name(month: u32) -> &'static str {
    MONTHS
        .get((month as usize).wrapping_sub(1))
        .copied()
        .unwrap_or("???")
}

/// Appends `Sun, 06 Nov 1994 08:49:37 GMT` (IMF-fixdate, RFC 9110 §5.6.7).
pub fn write_http_date(t: SystemTime, out: &mut String) {
    let c = civil(unix_seconds(t));
    let day_name = DAY_NAMES.get(c.weekday).copied().unwrap_or("???");
    // Written digit by digit: `write!` cost ~2,000 instructions per `Last-Modified`.
    out.push_str(day_name);
    out.push_str(", ");
    push_digits(out, c.day, 2);
    out.push(' ');
    out.push_str(month_name(c.month));
    out.push(' ');
    match u32::try_from(c.year) {
        Ok(year) if year <= 9999 => push_digits(out, year, 4),
        _ => {
            let _ = write!(out, "{:04}", c.year);
        }
    }
    out.push(' ');
    push_digits(out, c.hour, 2);
    out.push(':');
    push_digits(out, c.minute, 2);
    out.push(':');
    push_digits(out, c.second, 2);
    out.push_str(" GMT");
}

/// `n` in decimal, zero-padded to `width` digits (`n` has at most `width` digits).
fn push_digits(out: &mut String, n: u32, width: u32) {
    let mut div = 10u32.pow(width - 1);
    while div > 0 {
        out.push(char::from(b'0' + ((n / div) % 10) as u8));
        div /= 10;
    }
}

/// `Sun, 06 Nov 1994 08:49:37 GMT`.
pub fn format_http_date(t: SystemTime) -> String {
    let mut s = String::with_capacity(29);
    write_http_date(t, &mut s);
    s
}

/// Appends nginx's `$time_local`, `06/Nov/1994:08:49:37 +0000`, in UTC.
pub fn write_time_local(t: SystemTime, out: &mut String) {
    let c = civil(unix_seconds(t));
    let _ = write!(
        out,
        "{:02}/{}/{:04}:{:02}:{:02}:{:02} +0000",
        c.day,
        month_name(c.month),
        c.year,
        c.hour,
        c.minute,
        c.second
    );
}

/// `06/Nov/1994:08:49:37 +0000`.
pub fn format_time_local(t: SystemTime) -> String {
    let mut s = String::with_capacity(26);
    write_time_local(t, &mut s);
    s
}

/// Appends nginx's `$time_iso8601`, `1994-11-06T08:49:37+00:00`, in UTC.
pub fn write_iso8601(t: SystemTime, out: &mut String) {
    let c = civil(unix_seconds(t));
    let _ = write!(
        out,
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}+00:00",
        c.year, c.month, c.day, c.hour, c.minute, c.second
    );
}

/// `1994-11-06T08:49:37+00:00`.
pub fn format_iso8601(t: SystemTime) -> String {
    let mut s = String::with_capacity(25);
    write_iso8601(t, &mut s);
    s
}

/// The three date strings of the current second, reformatted only when the second
/// changes.
#[derive(Debug, Clone, Default)]
pub struct DateCache {
    second: Option<i64>,
    http_date: String,
    time_local: String,
    iso8601: String,
    refreshes: u64,
}

impl DateCache {
    pub fn new() -> Self {
        Self::default()
    }

    fn refresh(&mut self, now: SystemTime) {
        let second = unix_seconds(now);
        if self.second == Some(second) {
            return;
        }
        self.second = Some(second);
        self.refreshes += 1;
        self.http_date.clear();
        write_http_date(now, &mut self.http_date);
        self.time_local.clear();
        write_time_local(now, &mut self.time_local);
        self.iso8601.clear();
        write_iso8601(now, &mut self.iso8601);
    }

    /// The `Date` header value for `now`.
    pub fn http_date(&mut self, now: SystemTime) -> &str {
        self.refresh(now);
        &self.http_date
    }

    /// `$time_local` for `now`.
    pub fn time_local(&mut self, now: SystemTime) -> &str {
        self.refresh(now);
        &self.time_local
    }

    /// `$time_iso8601` for `now`.
    pub fn iso8601(&mut self, now: SystemTime) -> &str {
        self.refresh(now);
        &self.iso8601
    }
}

/// Parses an HTTP-date in any of its three formats (RFC 9110 §5.6.7): IMF-fixdate,
/// the obsolete RFC 850 form and asctime. Anything else is `None`, and a
/// conditional request with an unparsable date is then unconditional (§13.1.3).
pub fn parse_http_date(value: &[u8]) -> Option<SystemTime> {
    parse_http_date_at(value, SystemTime::now())
}

/// [`parse_http_date`] with the current time given, which places an RFC 850
/// two-digit year: one that would be more than 50 years in the future is the most
/// recent past year with those digits.
pub fn parse_http_date_at(value: &[u8], now: SystemTime) -> Option<SystemTime> {
    let value = value.trim_ascii();
    let (year, month, day, time) = parse_imf_fixdate(value)
        .or_else(|| parse_rfc850(value, civil(unix_seconds(now)).year))
        .or_else(|| parse_asctime(value))?;
    let days_in_month = match month {
        2 if year % 4 == 0 && (year % 100 != 0 || year % 400 == 0) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    };
    let (hour, minute, second) = time;
    if !(1..=12).contains(&month)
        || day == 0
        || day > days_in_month
        || hour > 23
        || minute > 59
        || second > 60
    {
        return None;
    }
    let secs = days_from_civil(year, month, day) * SECONDS_PER_DAY
        + i64::from(hour * 3600 + minute * 60 + second);
    from_unix_seconds(secs)
}

type Parsed = (i64, u32, u32, (u32, u32, u32));

/// `Sun, 06 Nov 1994 08:49:37 GMT`
fn parse_imf_fixdate(value: &[u8]) -> Option<Parsed> {
    let mut c = Cursor(value);
    c.name(&DAY_NAMES)?;
    c.tag(b", ")?;
    let day = c.digits(2)?;
    c.tag(b" ")?;
    let month = c.month()?;
    c.tag(b" ")?;
    let year = c.digits(4)?;
    c.tag(b" ")?;
    let time = c.time()?;
    c.tag(b" GMT")?;
    c.end()?;
    Some((i64::from(year), month, day, time))
}

/// `Sunday, 06-Nov-94 08:49:37 GMT`
fn parse_rfc850(value: &[u8], now_year: i64) -> Option<Parsed> {
    let mut c = Cursor(value);
    c.name(&DAY_NAMES_LONG)?;
    c.tag(b", ")?;
    let day = c.digits(2)?;
    c.tag(b"-")?;
    let month = c.month()?;
    c.tag(b"-")?;
    let yy = i64::from(c.digits(2)?);
    c.tag(b" ")?;
    let time = c.time()?;
    c.tag(b" GMT")?;
    c.end()?;
    let mut year = now_year.div_euclid(100) * 100 + yy;
    if year > now_year + 50 {
        year -= 100;
    }
    Some((year, month, day, time))
}

/// `Sun Nov  6 08:49:37 1994`
fn parse_asctime(value: &[u8]) -> Option<Parsed> {
    let mut c = Cursor(value);
    c.name(&DAY_NAMES)?;
    c.tag(b" ")?;
    let month = c.month()?;
    c.tag(b" ")?;
    let day = if c.tag(b" ").is_some() {
        c.digits(1)?
    } else {
        c.digits(2)?
    };
    c.tag(b" ")?;
    let time = c.time()?;
    c.tag(b" ")?;
    let year = c.digits(4)?;
    c.end()?;
    Some((i64::from(year), month, day, time))
}

/// A reader over the bytes of a date; each step consumes on success.
struct Cursor<'a>(&'a [u8]);

impl Cursor<'_> {
    fn tag(&mut self, tag: &[u8]) -> Option<()> {
        self.0 = self.0.strip_prefix(tag)?;
        Some(())
    }

    fn digits(&mut self, n: usize) -> Option<u32> {
        let (digits, rest) = self.0.split_at_checked(n)?;
        let value = digits.iter().try_fold(0u32, |acc, &b| {
            b.is_ascii_digit().then(|| acc * 10 + u32::from(b - b'0'))
        })?;
        self.0 = rest;
        Some(value)
    }

    /// One of `names`, case-sensitive (RFC 9110 §5.6.7); returns its index.
    fn name(&mut self, names: &[&str]) -> Option<usize> {
        let index = names
            .iter()
            .position(|n| self.0.starts_with(n.as_bytes()))?;
        self.tag(names.get(index)?.as_bytes())?;
        Some(index)
    }

    fn month(&mut self) -> Option<u32> {
        self.name(&MONTHS).map(|i| i as u32 + 1)
    }

    fn time(&mut self) -> Option<(u32, u32, u32)> {
        let hour = self.digits(2)?;
        self.tag(b":")?;
        let minute = self.digits(2)?;
        self.tag(b":")?;
        let second = self.digits(2)?;
        Some((hour, minute, second))
    }

    fn end(&self) -> Option<()> {
        self.0.is_empty().then_some(())
    }
}

#[cfg(test)]
#[path = "date_tests.rs"]
mod tests;

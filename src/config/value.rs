//! Parsers for the scalar values of directives, with nginx's syntax: sizes (`10m`),
//! times (`1h30m`, `500ms`), flags (`on`/`off`) and plain numbers. Pure functions; the
//! builder turns a `None` into the error nginx prints for that slot.

use std::time::Duration;

/// A size as nginx's `ngx_parse_offset`: digits with an optional `k`/`m`/`g` suffix
/// (either case). `None` on anything else or on overflow.
pub fn parse_size(s: &str) -> Option<u64> {
    let (digits, shift) = match s.as_bytes().last()? {
        b'k' | b'K' => (&s[..s.len() - 1], 10),
        b'm' | b'M' => (&s[..s.len() - 1], 20),
        b'g' | b'G' => (&s[..s.len() - 1], 30),
        _ => (s, 0),
    };
    let n = parse_number(digits)?;
    n.checked_mul(1u64 << shift)
}

/// A non-negative decimal number with no sign and no suffix.
pub fn parse_number(s: &str) -> Option<u64> {
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse().ok()
}

/// A time as nginx's `ngx_parse_time`: one or more `NUMBER[unit]` groups, units
/// `ms s m h d w M y` in decreasing order, no unit meaning seconds. `"0"` is zero.
pub fn parse_time(s: &str) -> Option<Duration> {
    const UNITS: [(&str, u64); 8] = [
        ("y", 365 * 24 * 3600 * 1000),
        ("M", 30 * 24 * 3600 * 1000),
        ("w", 7 * 24 * 3600 * 1000),
        ("d", 24 * 3600 * 1000),
        ("h", 3600 * 1000),
        ("ms", 1),
        ("m", 60 * 1000),
        ("s", 1000),
    ];
    if s.is_empty() {
        return None;
    }
    let mut rest = s;
    let mut total_ms: u64 = 0;
    // Each unit may appear at most once and in decreasing order, as nginx requires.
    let mut last_rank = usize::MAX;
    while !rest.is_empty() {
        let digits_end = rest
            .find(|c: char| !c.is_ascii_digit())
            .unwrap_or(rest.len());
        if digits_end == 0 {
            return None;
        }
        let n: u64 = rest[..digits_end].parse().ok()?;
        rest = &rest[digits_end..];
        let (rank, mult, unit_len) = if rest.is_empty() {
            (UNITS.len(), 1000, 0)
        } else {
            let (rank, (unit, mult)) = UNITS
                .iter()
                .enumerate()
                .find(|(_, (u, _))| rest.starts_with(u))?;
            (rank, *mult, unit.len())
        };
        let order = unit_order(rank);
        if order >= last_rank {
            return None;
        }
        last_rank = order;
        total_ms = total_ms.checked_add(n.checked_mul(mult)?)?;
        rest = &rest[unit_len..];
    }
    Some(Duration::from_millis(total_ms))
}

/// Position of a unit in nginx's required order (y M w d h m s ms, then bare seconds).
fn unit_order(rank: usize) -> usize {
    // UNITS lists `ms` before `m` so that prefix matching finds it first; the order in
    // which groups may appear puts it after `s`.
    match rank {
        0..=4 => 10 - rank,
        5 => 2, // ms
        6 => 4, // m
        7 => 3, // s
        _ => 1, // bare number: seconds, must come last
    }
}

/// `on` or `off`, exactly as nginx's flag slot accepts (case-insensitive).
pub fn parse_flag(s: &str) -> Option<bool> {
    if s.eq_ignore_ascii_case("on") {
        Some(true)
    } else if s.eq_ignore_ascii_case("off") {
        Some(false)
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes() {
        let cases: &[(&str, Option<u64>)] = &[
            ("0", Some(0)),
            ("1024", Some(1024)),
            ("1k", Some(1024)),
            ("8K", Some(8192)),
            ("1m", Some(1 << 20)),
            ("10M", Some(10 << 20)),
            ("2g", Some(2 << 30)),
            ("", None),
            ("k", None),
            ("1kb", None),
            ("-1", None),
            ("1.5m", None),
            ("99999999999999999999", None),
            ("18446744073709551615k", None),
        ];
        for (input, want) in cases {
            assert_eq!(parse_size(input), *want, "parse_size({input:?})");
        }
    }

    #[test]
    fn times() {
        let cases: &[(&str, Option<u64>)] = &[
            ("0", Some(0)),
            ("60", Some(60_000)),
            ("60s", Some(60_000)),
            ("500ms", Some(500)),
            ("1m", Some(60_000)),
            ("1h30m", Some(5_400_000)),
            ("1d", Some(86_400_000)),
            ("1w", Some(604_800_000)),
            ("1M", Some(2_592_000_000)),
            ("1y", Some(31_536_000_000)),
            ("1m30s", Some(90_000)),
            ("1s500ms", Some(1_500)),
            ("1m1h", None),
            ("1s1s", None),
            ("s", None),
            ("", None),
            ("10x", None),
            ("-5s", None),
            ("1 s", None),
        ];
        for (input, want) in cases {
            assert_eq!(
                parse_time(input),
                want.map(Duration::from_millis),
                "parse_time({input:?})"
            );
        }
    }

    #[test]
    fn flags() {
        assert_eq!(parse_flag("on"), Some(true));
        assert_eq!(parse_flag("OFF"), Some(false));
        assert_eq!(parse_flag("yes"), None);
    }
}

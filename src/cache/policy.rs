//! Whether a response may be stored, and until when it is fresh: nginx's rules
//! (`ngx_http_upstream_process_cache_control`, `_expires`, `_accel_expires`,
//! `_set_cookie`, `_vary`), in nginx's order of precedence, each field skipped when
//! `proxy_ignore_headers` names it:
//!
//! 1. `Set-Cookie` → not stored; `Vary: *` → not stored.
//! 2. `X-Accel-Expires: N` (seconds; `@T` an absolute time; 0 → not stored).
//! 3. `Cache-Control`: `no-store`, `no-cache`, `private` → not stored; `s-maxage`,
//!    else `max-age` (0 → not stored); `stale-while-revalidate` and
//!    `stale-if-error` are kept whatever sets the freshness.
//! 4. `Expires` (in the past → not stored).
//! 5. `proxy_cache_valid` for the status; none → not stored.
//!
//! A freshness the upstream's fields give applies only to the statuses a shared
//! cache may keep by default (RFC 9110 §15.1); others need `proxy_cache_valid`.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crate::config::model::cache::CacheConf;
use crate::http1::Header;

/// How long a stored response is fresh, and how long past that it may serve stale.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Freshness {
    /// Unix seconds.
    pub expires: u64,
    pub while_revalidate: u32,
    pub if_error: u32,
}

/// Why a response is not stored (for the debug log and tests).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    SetCookie,
    VaryStar,
    AccelExpiresZero,
    CacheControl,
    Expired,
    NoValidity,
}

/// Statuses RFC 9110 calls cacheable by default: a header-given freshness counts.
const HEURISTIC: &[u16] = &[200, 203, 204, 206, 300, 301, 308, 404, 405, 410, 414, 501];

fn field<'a>(headers: &'a [Header], name: &str) -> impl Iterator<Item = &'a [u8]> + 'a {
    let name = name.to_owned();
    headers
        .iter()
        .filter(move |h| h.name.eq_ignore_ascii_case(&name))
        .map(|h| &*h.value)
}

/// Unix seconds of `t`.
pub fn unix(t: SystemTime) -> u64 {
    t.duration_since(UNIX_EPOCH).unwrap_or_default().as_secs()
}

/// The response's fate under `conf`: stored until when, or why not.
pub fn judge(
    status: u16,
    headers: &[Header],
    conf: &CacheConf,
    ignore: &[String],
    now: u64,
) -> Result<Freshness, Refusal> {
    let ignored = |n: &str| ignore.iter().any(|i| i == n);
    if !ignored("set-cookie") && field(headers, "set-cookie").next().is_some() {
        return Err(Refusal::SetCookie);
    }
    if !ignored("vary")
        && field(headers, "vary").any(|v| v.split(|&b| b == b',').any(|t| t.trim_ascii() == b"*"))
    {
        return Err(Refusal::VaryStar);
    }
    let mut fresh = Freshness::default();
    let mut given: Option<u64> = None;
    if !ignored("x-accel-expires") {
        if let Some(v) = field(headers, "x-accel-expires").next() {
            let text = std::str::from_utf8(v).unwrap_or("").trim();
            let at = match text.strip_prefix('@') {
                Some(abs) => abs.parse::<u64>().ok(),
                None => match text.parse::<u64>() {
                    Ok(0) => return Err(Refusal::AccelExpiresZero),
                    Ok(n) => Some(now.saturating_add(n)),
                    Err(_) => None,
                },
            };
            // X-Accel-Expires outranks Cache-Control and Expires: they are not read.
            given = at;
        }
    }
    if given.is_none() && !ignored("cache-control") {
        let mut max_age = None;
        let mut s_maxage = None;
        for v in field(headers, "cache-control") {
            for token in v.split(|&b| b == b',') {
                let token = token.trim_ascii();
                let (name, value) = match token.iter().position(|&b| b == b'=') {
                    Some(i) => (&token[..i], Some(token[i + 1..].trim_ascii())),
                    None => (token, None),
                };
                let number = || {
                    let v = value?;
                    let v = v.strip_prefix(b"\"").unwrap_or(v);
                    let v = v.strip_suffix(b"\"").unwrap_or(v);
                    std::str::from_utf8(v).ok()?.parse::<u64>().ok()
                };
                let lower = name.to_ascii_lowercase();
                match lower.as_slice() {
                    b"no-cache" | b"no-store" | b"private" => return Err(Refusal::CacheControl),
                    b"max-age" => max_age = number().or(max_age),
                    b"s-maxage" => s_maxage = number().or(s_maxage),
                    b"stale-while-revalidate" => {
                        fresh.while_revalidate =
                            number().unwrap_or(0).min(u64::from(u32::MAX)) as u32
                    }
                    b"stale-if-error" => {
                        fresh.if_error = number().unwrap_or(0).min(u64::from(u32::MAX)) as u32
                    }
                    _ => {}
                }
            }
        }
        if let Some(age) = s_maxage.or(max_age) {
            if age == 0 {
                return Err(Refusal::CacheControl);
            }
            given = Some(now.saturating_add(age));
        }
    }
    if given.is_none() && !ignored("expires") {
        if let Some(v) = field(headers, "expires").next() {
            match crate::http1::date::parse_http_date(v) {
                Some(t) if unix(t) > now => given = Some(unix(t)),
                _ => return Err(Refusal::Expired),
            }
        }
    }
    match given {
        Some(at) if HEURISTIC.contains(&status) || conf.valid_for(status).is_some() => {
            fresh.expires = at;
        }
        _ => {
            let valid = conf.valid_for(status).ok_or(Refusal::NoValidity)?;
            if valid == Duration::ZERO {
                return Err(Refusal::NoValidity);
            }
            fresh.expires = now.saturating_add(valid.as_secs().max(1));
        }
    }
    Ok(fresh)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;
    use crate::config::model::cache::CacheValid;

    fn conf() -> CacheConf {
        CacheConf {
            valid: vec![CacheValid {
                statuses: vec![200, 301, 302],
                time: Duration::from_secs(10),
            }],
            ..CacheConf::default()
        }
    }

    fn h(pairs: &[(&'static str, &'static str)]) -> Vec<Header> {
        pairs.iter().map(|(n, v)| Header::new(*n, *v)).collect()
    }

    #[test]
    fn nginx_order_of_precedence() {
        let c = conf();
        let now = 1000;
        assert_eq!(judge(200, &[], &c, &[], now).unwrap().expires, 1010);
        assert_eq!(judge(500, &[], &c, &[], now), Err(Refusal::NoValidity));
        let cc = h(&[("Cache-Control", "public, max-age=60, stale-if-error=30")]);
        let f = judge(200, &cc, &c, &[], now).unwrap();
        assert_eq!((f.expires, f.if_error), (1060, 30));
        let both = h(&[("Cache-Control", "max-age=60"), ("X-Accel-Expires", "5")]);
        assert_eq!(judge(200, &both, &c, &[], now).unwrap().expires, 1005);
        let shared = h(&[("Cache-Control", "max-age=60, s-maxage=120")]);
        assert_eq!(judge(200, &shared, &c, &[], now).unwrap().expires, 1120);
        for refused in [
            h(&[("Set-Cookie", "a=1")]),
            h(&[("Cache-Control", "private")]),
            h(&[("Cache-Control", "no-store")]),
            h(&[("Cache-Control", "max-age=0")]),
            h(&[("X-Accel-Expires", "0")]),
            h(&[("Vary", "Accept, *")]),
            h(&[("Expires", "Thu, 01 Jan 1970 00:00:01 GMT")]),
        ] {
            assert!(judge(200, &refused, &c, &[], now).is_err(), "{refused:?}");
        }
        let ignore = vec!["set-cookie".to_string(), "cache-control".to_string()];
        let both = h(&[("Set-Cookie", "a=1"), ("Cache-Control", "private")]);
        assert!(judge(200, &both, &c, &ignore, now).is_ok());
    }
}

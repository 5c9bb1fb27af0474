//! `proxy_cache_revalidate`: an expired entry is asked for with its own validators
//! (the client's set aside for that request), and a 304 renews it in place.

use std::time::{Duration, UNIX_EPOCH};

use super::entry::{self, Meta};
use super::index::Key;
use super::{now_secs, Cache};
use crate::exchange::Exchange;
use crate::http1::Header;

/// The request's own `If-None-Match`/`If-Modified-Since` swapped for the stored
/// entry's validators (`proxy_cache_revalidate`); returns the client's, to put back.
pub fn ask_conditionally(x: &mut Exchange, meta: &Meta) -> Vec<Header> {
    let saved: Vec<Header> = x
        .head
        .headers
        .iter()
        .filter(|h| conditional(h))
        .cloned()
        .collect();
    x.head.headers.retain(|h| !conditional(h));
    if !meta.etag.is_empty() {
        x.head
            .headers
            .push(Header::new("If-None-Match", meta.etag.as_str()));
    }
    if meta.last_modified != 0 {
        let t = UNIX_EPOCH + Duration::from_secs(meta.last_modified);
        let date = crate::http1::date::format_http_date(t);
        x.head.headers.push(Header::new("If-Modified-Since", date));
    }
    saved
}

fn conditional(h: &Header) -> bool {
    h.name.eq_ignore_ascii_case("if-none-match") || h.name.eq_ignore_ascii_case("if-modified-since")
}

pub fn restore_conditionals(x: &mut Exchange, saved: Vec<Header>) {
    x.head.headers.retain(|h| !conditional(h));
    x.head.headers.extend(saved);
}

/// A 304 from the upstream: the stored entry is fresh again until `expires`.
pub fn renew(cache: &Cache, key: &Key, expires: u64) {
    let file = std::fs::OpenOptions::new()
        .write(true)
        .open(cache.file_of(key));
    if let Ok(file) = file {
        let _ = entry::write_expires(&file, expires, now_secs());
    }
    cache.index.refresh(key, expires);
}

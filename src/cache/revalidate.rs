//! `proxy_cache_revalidate`: an expired entry is asked for with its own validators
//! (the client's never go upstream from a cached location), and a 304 renews it in
//! place.

use std::time::{Duration, UNIX_EPOCH};

use super::entry::{self, Meta};
use super::index::Key;
use super::Cache;
use crate::exchange::Exchange;
use crate::http1::Header;

/// Asks the upstream with the stored entry's validators (`proxy_cache_revalidate`):
/// the proxy sends them in place of the client's (see `proxy::head`).
pub fn ask_conditionally(x: &mut Exchange, meta: &Meta) {
    let mut validators = Vec::new();
    if !meta.etag.is_empty() {
        validators.push(Header::new("If-None-Match", meta.etag.as_str()));
    }
    if meta.last_modified != 0 {
        let t = UNIX_EPOCH + Duration::from_secs(meta.last_modified);
        let date = crate::http1::date::format_http_date(t);
        validators.push(Header::new("If-Modified-Since", date));
    }
    x.cache_validators = Some(validators);
}

/// A 304 from the upstream: the stored entry is fresh again until `expires`.
pub fn renew(cache: &Cache, key: &Key, expires: u64) {
    let file = std::fs::OpenOptions::new()
        .write(true)
        .open(cache.file_of(key));
    if let Ok(file) = file {
        let _ = entry::write_expires(&file, expires);
    }
    cache.index.refresh(key, expires);
}

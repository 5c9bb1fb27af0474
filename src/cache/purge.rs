//! `proxy_cache_purge` (NGINX Plus's syntax; open-source nginx has no purge): a
//! request whose purge condition is true removes its key's entry, or, when the key
//! ends in `*`, every entry whose key starts with what comes before it. Who may
//! purge is the location's `allow`/`deny`, as NGINX Plus documents it. The answer
//! is `204 No Content`, as NGINX Plus gives.
//!
//! A prefix purge reads the key at the start of every file in the cache directory:
//! the index holds hashes, not keys. It runs in the worker's loop; a cache of many
//! files is better purged by key. A purge by key removes the key's main entry; the
//! variants stored beside it (`Vary`, under secondary keys) are then never served:
//! a variant older than its main entry's generation is fetched again.

use std::path::Path;

use super::entry::{self, Meta};
use super::index::Key;
use super::Cache;
use crate::config::model::LocationConf;
use crate::exchange::response::{BodyLength, ResponseHead};
use crate::exchange::{Downstream, Exchange, Outcome};

/// Answers a purge request.
pub async fn handle<D: Downstream>(
    d: &mut D,
    x: &mut Exchange,
    conf: &LocationConf,
    cache: &Cache,
    key_text: &str,
    key: &Key,
) -> Outcome {
    match key_text.strip_suffix('*') {
        Some(prefix) => {
            for_each_file(&cache.path.path, &mut |path, meta| {
                if meta.key.starts_with(prefix) {
                    // The file's own name: a variant's secondary key, or the key's.
                    let name = path.file_name().map(|n| n.to_string_lossy());
                    if let Some(k) = name.and_then(|n| entry::key_of_name(&n)) {
                        cache.index.remove(&k, None);
                    }
                    let _ = std::fs::remove_file(path);
                }
            });
        }
        None => {
            cache.index.remove(key, None);
            cache.delete_file(key);
        }
    }
    d.send_head(
        x,
        conf,
        ResponseHead::new(204, Vec::new(), BodyLength::None),
    );
    if d.finish().await {
        Outcome::Done
    } else {
        Outcome::Close
    }
}

/// Calls `f` with every cache file under `root` and its header (the loader's walk
/// too). Temporary files and anything not a cache file are skipped.
pub fn for_each_file(root: &Path, f: &mut dyn FnMut(&Path, &Meta)) {
    let Ok(dir) = std::fs::read_dir(root) else {
        return;
    };
    for e in dir.flatten() {
        let path = e.path();
        let Ok(kind) = e.file_type() else {
            continue;
        };
        if kind.is_dir() {
            for_each_file(&path, f);
            continue;
        }
        let name = e.file_name();
        if !kind.is_file() || entry::key_of_name(&name.to_string_lossy()).is_none() {
            continue;
        }
        if let Ok(file) = std::fs::File::open(&path) {
            if let Ok(Some(meta)) = Meta::read(&file) {
                f(&path, &meta);
            }
        }
    }
}

//! The cache loader and manager, run by one worker (slot 0, the one that runs the
//! health probes), as nginx's cache loader and cache manager processes:
//!
//! - **loader**: once per cache directory (at start, and for a cache a reload adds),
//!   enters every file already on disk in the index, unless the index has the key
//!   (the zone survives reloads and worker restarts, so a reload loads nothing
//!   twice); removes temporary files left by a crash (older than [`STALE_TEMP`]).
//! - **manager**: every tick of the worker's loop (`worker::cache_manager`), removes entries not asked for in `inactive`, then
//!   the least recently used while the files take more than `max_size` or the file
//!   system has less than `min_free` free.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use super::entry::Meta;
use super::index::Stored;
use super::Cache;

/// A temporary file this old was left by a process that died writing it.
const STALE_TEMP: Duration = Duration::from_secs(600);

/// Enters the files under the cache's directory in the index; returns how many and
/// their bytes.
pub fn load(cache: &Cache) -> (u64, u64) {
    remove_stale_temp(&cache.path.path);
    let now = super::now_ms();
    let (mut files, mut bytes) = (0u64, 0u64);
    super::purge::for_each_file(&cache.path.path, &mut |path, meta: &Meta| {
        // Under its key, or under a variant's secondary key.
        let main = super::key_of(meta.key.as_bytes());
        let secondary = super::variant_key(&main, &meta.variant);
        let key = if cache.file_of(&main) == path {
            main
        } else if !meta.vary.is_empty() && cache.file_of(&secondary) == path {
            secondary
        } else {
            // A file of another `levels` layout or a renamed one: not this cache's.
            return;
        };
        if cache.index.peek(&key).is_some() {
            return;
        }
        let size = std::fs::metadata(path).map(|m| m.len()).unwrap_or(0);
        let s = Stored {
            expires: meta.expires,
            size,
            while_revalidate: meta.while_revalidate,
            if_error: meta.if_error,
        };
        if let Some((old, _)) = cache.index.store(&key, s, now) {
            cache.delete_file(&old);
        }
        files += 1;
        bytes += size;
    });
    (files, bytes)
}

fn remove_stale_temp(root: &Path) {
    let Ok(dir) = std::fs::read_dir(root) else {
        return;
    };
    for e in dir.flatten() {
        if !e.file_name().to_string_lossy().starts_with(".tmp-") {
            continue;
        }
        let old = e
            .metadata()
            .and_then(|m| m.modified())
            .ok()
            .and_then(|t| t.elapsed().ok())
            .is_some_and(|age| age > STALE_TEMP);
        if old {
            let _ = std::fs::remove_file(e.path());
        }
    }
}

/// One pass of the manager over `cache`.
pub fn manage(cache: &Arc<Cache>) {
    let p = &cache.path;
    let inactive = u64::try_from(p.inactive.as_millis()).unwrap_or(u64::MAX);
    let cutoff = super::now_ms().saturating_sub(inactive);
    let mut entries = cache.index.entries();
    entries.retain(|(key, accessed, _)| {
        if *accessed < cutoff && cache.index.remove(key, Some(cutoff)) {
            cache.delete_file(key);
            return false;
        }
        true
    });
    let over_size = || p.max_size > 0 && cache.index.stored_bytes() > p.max_size;
    let short_of_space = || p.min_free > 0 && free_space(&p.path).is_some_and(|f| f < p.min_free);
    if !over_size() && !short_of_space() {
        return;
    }
    entries.sort_by_key(|(_, accessed, _)| *accessed);
    for (key, _, _) in entries {
        if !over_size() && !short_of_space() {
            break;
        }
        if cache.index.remove(&key, None) {
            cache.delete_file(&key);
        }
    }
}

/// Bytes free for unprivileged users on the file system of `path`.
fn free_space(path: &Path) -> Option<u64> {
    use std::os::unix::ffi::OsStrExt;
    let c = std::ffi::CString::new(path.as_os_str().as_bytes()).ok()?;
    let mut s = std::mem::MaybeUninit::<libc::statvfs>::uninit();
    // SAFETY: `c` is a valid C string; `s` is written by statvfs on success.
    let rc = unsafe { libc::statvfs(c.as_ptr(), s.as_mut_ptr()) };
    if rc != 0 {
        return None;
    }
    // SAFETY: statvfs returned 0, so it filled `s`.
    let s = unsafe { s.assume_init() };
    #[allow(clippy::useless_conversion)] // the field types differ by target
    Some(u64::from(s.f_bavail).saturating_mul(u64::from(s.f_frsize)))
}

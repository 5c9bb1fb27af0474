//! The response cache's settings: `proxy_cache_path` (http level: a directory and
//! its keys zone) and the `proxy_cache*` directives of a location, as nginx's
//! `ngx_http_proxy_module` and `ngx_http_file_cache` read them.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use crate::config::template::Template;

/// `proxy_cache_path PATH [levels=1:2] keys_zone=NAME:SIZE [inactive=10m]
/// [max_size=N] [min_free=N] [use_temp_path=on|off] [loader_*] [manager_*] [purger*]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CachePath {
    /// The keys zone's name (what `proxy_cache` names).
    pub name: String,
    pub path: PathBuf,
    /// Characters of the hash per directory level, from the end (`1:2` → `c/29/`).
    pub levels: Vec<u8>,
    /// The keys zone's size in bytes.
    pub keys_size: usize,
    /// Entries not requested for this long are removed (default 10 minutes).
    pub inactive: Duration,
    /// The most the bodies on disk may take (0: no limit); the manager removes the
    /// least recently used past it.
    pub max_size: u64,
    /// Free space the manager keeps on the file system (0: none).
    pub min_free: u64,
    /// `use_temp_path`: accepted; vestibule always writes temporary files inside
    /// the cache directory, so a finished file is renamed into place, never copied.
    pub use_temp_path: bool,
}

impl CachePath {
    /// The shared zone's name (kept apart from other modules' zones).
    pub fn zone_name(&self) -> String {
        format!("proxy_cache:{}", self.name)
    }
}

/// `proxy_cache_valid [CODE...|any] TIME`: how long responses with these statuses are
/// fresh when the upstream says nothing itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CacheValid {
    /// Empty: `any`.
    pub statuses: Vec<u16>,
    pub time: Duration,
}

/// `proxy_cache_use_stale`: when an expired entry may be served instead.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct UseStale {
    pub error: bool,
    pub timeout: bool,
    pub invalid_header: bool,
    /// While one request refreshes the entry, others get the stale copy.
    pub updating: bool,
    /// Upstream statuses (500, 502, 503, 504, 403, 404, 429) that make it serve stale.
    pub statuses: Vec16,
}

/// A small fixed set of statuses (no allocation in a `Copy` setting).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Vec16 {
    items: [u16; 8],
    len: u8,
}

impl Vec16 {
    pub fn push(&mut self, status: u16) {
        if usize::from(self.len) < self.items.len() && !self.contains(status) {
            self.items[usize::from(self.len)] = status;
            self.len += 1;
        }
    }

    pub fn contains(&self, status: u16) -> bool {
        self.items[..usize::from(self.len)].contains(&status)
    }
}

/// A location's cache settings.
#[derive(Debug, Clone)]
pub struct CacheConf {
    /// `proxy_cache NAME`; `None`: `off`.
    pub zone: Option<String>,
    /// `proxy_cache_key` (default `$scheme$proxy_host$request_uri`).
    pub key: Template,
    pub valid: Vec<CacheValid>,
    /// `proxy_cache_methods`: GET and HEAD always, plus these (uppercase).
    pub methods: Vec<String>,
    pub min_uses: u32,
    /// `proxy_cache_bypass`: any non-empty value but "0" answers from the upstream.
    pub bypass: Vec<Template>,
    /// `proxy_no_cache`: any non-empty value but "0" keeps the response out.
    pub no_cache: Vec<Template>,
    pub use_stale: UseStale,
    pub background_update: bool,
    pub lock: bool,
    pub lock_timeout: Duration,
    pub lock_age: Duration,
    pub revalidate: bool,
    pub convert_head: bool,
    /// `proxy_cache_purge` (NGINX Plus): a non-empty value but "0" makes the request
    /// a purge of its key (a key ending in `*` purges the prefix).
    pub purge: Vec<Template>,
}

impl Default for CacheConf {
    fn default() -> CacheConf {
        CacheConf {
            zone: None,
            key: Template::literal(""),
            valid: Vec::new(),
            methods: Vec::new(),
            min_uses: 1,
            bypass: Vec::new(),
            no_cache: Vec::new(),
            use_stale: UseStale::default(),
            background_update: false,
            lock: false,
            lock_timeout: Duration::from_secs(5),
            lock_age: Duration::from_secs(5),
            revalidate: false,
            convert_head: true,
            purge: Vec::new(),
        }
    }
}

impl CacheConf {
    /// How long a response with `status` stays fresh by `proxy_cache_valid` (`None`:
    /// not cached). A line with only a time covers 200, 301 and 302.
    pub fn valid_for(&self, status: u16) -> Option<Duration> {
        let mut any = None;
        for v in &self.valid {
            if v.statuses.contains(&status) {
                return Some(v.time);
            }
            if v.statuses.is_empty() {
                any = Some(v.time);
            }
        }
        any
    }

    /// Whether `method` may be answered from the cache.
    pub fn caches_method(&self, method: &str) -> bool {
        method == "GET" || method == "HEAD" || self.methods.iter().any(|m| m == method)
    }
}

/// The cache settings a location shares with its nested levels.
pub type SharedCacheConf = Arc<CacheConf>;

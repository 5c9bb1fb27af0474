//! The response cache (`proxy_cache`): nginx's file cache, shared by every worker.
//!
//! ```text
//! request ─► key (proxy_cache_key, MD5) ─► index (keys zone, shared) ─┬─ fresh ──► HIT: head + body from the file
//!                                                                     ├─ stale ──► STALE/UPDATING, or fetch (EXPIRED)
//!                                                                     └─ none ───► MISS: [lock] fetch through the proxy,
//!                                                                                  recorded into a temp file, renamed
//!                                                                                  into place, entered in the index
//! ```
//!
//! - [`index`]: the keys zone, one row per key (freshness, size, uses, the lock).
//! - [`entry`]: the file format and names (nginx's `levels` layout).
//! - [`policy`]: whether a response may be stored and until when.
//! - [`store`]: the recording downstream the proxy writes through.
//! - [`hit`]: answering from a stored entry (304 and 412, ranges, the body by
//!   sendfile); [`revalidate`]: `proxy_cache_revalidate`.
//! - [`manager`]: the loader (an existing directory at start) and the manager
//!   (`inactive`, `max_size`, `min_free`), run by one worker.
//! - [`purge`]: `proxy_cache_purge` by key or prefix.
//!
//! The proxy handler does not know about the cache: it answers into a
//! [`store::Recorder`] instead of the client's downstream. `$upstream_cache_status`
//! says what happened.

pub mod entry;
pub mod hit;
pub mod index;
pub mod manager;
pub mod policy;
pub mod purge;
pub mod revalidate;
pub mod store;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use md5::{Digest, Md5};

use crate::config::model::cache::{CacheConf, CachePath, Vec16};
use crate::config::model::{LocationConf, ProxyPass};
use crate::config::template::{Template, VariableSource};
use crate::exchange::{Downstream, Env, Exchange, Outcome};
use crate::http1::{Header, Method};
use crate::proxy::Upstreams;
use crate::route::RoutedLocation;
use hit::{open, serve, Opened, Opening};
use index::{Index, Key, Stored};
use revalidate::{ask_conditionally, renew};
use store::{NoClient, Plan, Recorded, Recorder};

/// One cache: its directory settings and its index.
#[derive(Debug)]
pub struct Cache {
    pub path: CachePath,
    pub index: Index,
}

impl Cache {
    pub fn new(path: CachePath, zone: Arc<crate::zone::Zone>) -> Cache {
        Cache {
            path,
            index: Index::new(zone),
        }
    }

    pub fn file_of(&self, key: &Key) -> PathBuf {
        entry::path_of(&self.path.path, &self.path.levels, key)
    }

    /// Removes the body file of `key` (gone already is fine).
    pub fn delete_file(&self, key: &Key) {
        let _ = std::fs::remove_file(self.file_of(key));
    }
}

/// The MD5 of a key's text, as nginx hashes it.
pub fn key_of(text: &[u8]) -> Key {
    Md5::digest(text).into()
}

/// Whether any of `list` expands to a value that is neither empty nor "0" (nginx's
/// `ngx_http_test_predicates`).
pub fn any_true(list: &[Template], x: &Exchange) -> bool {
    let mut out = Vec::new();
    list.iter().any(|t| {
        out.clear();
        t.expand(x as &dyn VariableSource, &mut out);
        !out.is_empty() && out != b"0"
    })
}

/// The `Vary` names of a response, lowercased, in order.
pub fn vary_names(headers: &[Header]) -> String {
    let mut names: Vec<String> = Vec::new();
    for h in headers
        .iter()
        .filter(|h| h.name.eq_ignore_ascii_case("vary"))
    {
        for n in String::from_utf8_lossy(&h.value).split(',') {
            let n = n.trim().to_ascii_lowercase();
            if !n.is_empty() && !names.contains(&n) {
                names.push(n);
            }
        }
    }
    names.join(",")
}

/// The hash of the request's values of the `vary` names (zero when none).
pub fn variant(vary: &str, request: &[Header]) -> [u8; 16] {
    if vary.is_empty() {
        return [0; 16];
    }
    let mut h = Md5::new();
    for name in vary.split(',') {
        h.update(name.as_bytes());
        h.update(b":");
        for v in request.iter().filter(|r| r.name.eq_ignore_ascii_case(name)) {
            h.update(v.value.as_slice());
            h.update(b",");
        }
        h.update(b"\n");
    }
    h.finalize().into()
}

/// nginx's secondary key: where the response for `variant` is kept when another
/// variant is stored under the main key.
pub fn variant_key(main: &Key, variant: &[u8; 16]) -> Key {
    let mut h = Md5::new();
    h.update(main);
    h.update(variant);
    h.finalize().into()
}

/// Looks `key` up in the index (removing what the lookup evicted) and opens its
/// file when the index has it.
fn look_up(cache: &Cache, key: &Key, key_text: &str, x: &Exchange) -> (index::Lookup, Opening) {
    let found = cache.index.lookup(key, now_ms());
    if let Some((old, _)) = found.evicted {
        cache.delete_file(&old);
    }
    let opened = match found.stored {
        Some(_) => open(cache, key, key_text, x),
        None => Opening::Absent,
    };
    (found, opened)
}

/// Whether a time limit in whole seconds still holds at `now`: through the whole
/// second it names, as nginx compares (`valid_sec >= now`), so `proxy_cache_valid 1s`
/// keeps an entry for one to two seconds.
fn fresh(until: u64, now: u64) -> bool {
    now <= until
}

pub fn now_secs() -> u64 {
    policy::unix(SystemTime::now())
}

/// Milliseconds since the Unix epoch (the index's clock for when a key was asked for).
pub fn now_ms() -> u64 {
    u64::try_from(
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default()
            .as_millis(),
    )
    .unwrap_or(u64::MAX)
}

fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

/// The proxy's side of a request: what the cache hands the proxy handler.
#[derive(Debug)]
pub struct Fetch<'a> {
    pub env: Env<'a>,
    pub ups: Upstreams<'a>,
    pub location: Option<&'a RoutedLocation>,
    pub conf: &'a Arc<LocationConf>,
    pub pass: &'a ProxyPass,
}

impl Fetch<'_> {
    /// Proxies the request into `d`, recorded by `plan`.
    async fn run<D: Downstream>(
        &self,
        d: &mut D,
        x: &mut Exchange,
        plan: Plan,
    ) -> (Outcome, Recorded) {
        let converted = plan.converted_head;
        if converted {
            x.head.method = Method::Get;
        }
        // A response that may be stored is asked for whole: the client's conditions
        // and ranges stay with the cache (a revalidation has set its validators).
        if plan.store && x.cache_validators.is_none() {
            x.cache_validators = Some(Vec::new());
        }
        let mut rec = Recorder::new(d, plan);
        let outcome = Box::pin(crate::proxy::handle(
            &mut rec,
            x,
            self.env,
            self.ups,
            self.location,
            self.conf,
            self.pass,
        ))
        .await;
        for e in rec.errors.drain(..) {
            self.env.error_log.error(Some(x.connection), &e);
        }
        if converted {
            x.head.method = Method::Head;
        }
        x.cache_validators = None;
        (outcome, rec.recorded)
    }

    /// Proxies the request with no cache in the way.
    async fn plain<D: Downstream>(&self, d: &mut D, x: &mut Exchange) -> Outcome {
        Box::pin(crate::proxy::handle(
            d,
            x,
            self.env,
            self.ups,
            self.location,
            self.conf,
            self.pass,
        ))
        .await
    }
}

/// Makes the [`Plan`]s of one request's fetches, for its key or a variant's.
struct Planner<'a> {
    cache: &'a Arc<Cache>,
    key_text: &'a str,
    head_request: bool,
    convert_head: bool,
}

/// Where a request's entry is: the key's main entry, or a variant's secondary key.
#[derive(Debug, Clone, Copy)]
struct Place {
    key: Key,
    main: bool,
}

impl Planner<'_> {
    fn plan(&self, place: Place, store: bool, hold_back: Vec16) -> Plan {
        // A HEAD is asked upstream as GET so that the answer can be stored
        // (`proxy_cache_convert_head on`, the default), else passed on unstored.
        Plan {
            cache: Arc::clone(self.cache),
            key: place.key,
            main: place.main,
            key_text: self.key_text.to_owned(),
            store: store && (!self.head_request || self.convert_head),
            hold_back,
            revalidating: None,
            converted_head: store && self.head_request && self.convert_head,
            background: false,
        }
    }
}

/// Serves a request for a location with `proxy_cache`.
pub async fn handle<D: Downstream>(
    d: &mut D,
    x: &mut Exchange,
    f: Fetch<'_>,
    cache: Arc<Cache>,
) -> Outcome {
    let conf = f.conf;
    let cc: &CacheConf = &conf.proxy.cache;
    let mut text = Vec::new();
    cc.key.expand(x as &dyn VariableSource, &mut text);
    let main_key = key_of(&text);
    let key_text = String::from_utf8_lossy(&text).into_owned();
    if !cc.purge.is_empty() && any_true(&cc.purge, x) {
        return purge::handle(d, x, conf, &cache, &key_text, &main_key).await;
    }
    if !cc.caches_method(x.head.method.as_str()) {
        return f.plain(d, x).await;
    }
    let planner = Planner {
        cache: &cache,
        key_text: &key_text,
        head_request: x.head.method == Method::Head,
        convert_head: cc.convert_head,
    };
    let main = Place {
        key: main_key,
        main: true,
    };
    // RFC 9111 §3.5: a shared cache answers no request with credentials from store.
    let authorized = x
        .head
        .headers
        .iter()
        .any(|h| h.name.eq_ignore_ascii_case("authorization"));
    if authorized || any_true(&cc.bypass, x) {
        x.cache_status = Some("BYPASS");
        let plan = planner.plan(main, !authorized, Vec16::default());
        return f.run(d, x, plan).await.0;
    }
    // Twice at most: a request that waited on the lock for a response of another
    // variant looks again, for its own variant's key.
    let mut waited = false;
    loop {
        let now = now_secs();
        let (place, found, opened) = locate(&cache, main, &key_text, x);
        let (Some(stored), Opening::Opened(opened)) = (found.stored, opened) else {
            let store = found.uses >= u64::from(cc.min_uses);
            match miss(d, x, &f, &planner, place, store, waited).await {
                Missed::Answered(outcome) => return outcome,
                Missed::OtherVariant => {
                    waited = true;
                    continue;
                }
            }
        };
        if fresh(stored.expires, now) {
            x.cache_status = Some("HIT");
            return serve(d, x, conf, opened).await;
        }
        return expired(d, x, &f, &planner, place, stored, opened).await;
    }
}

/// Finds the request's entry: under the main key, or, when the main entry is
/// another variant of a response with `Vary`, under this request's variant's
/// secondary key (nginx's), so variants do not replace each other.
fn locate(
    cache: &Cache,
    main: Place,
    key_text: &str,
    x: &Exchange,
) -> (Place, index::Lookup, Opening) {
    let (found, opened) = look_up(cache, &main.key, key_text, x);
    let Opening::OtherVariant { vary, stored } = &opened else {
        return (main, found, opened);
    };
    let generation = *stored;
    let place = Place {
        key: variant_key(&main.key, &variant(vary, &x.head.headers)),
        main: false,
    };
    let (found, mut opened) = look_up(cache, &place.key, key_text, x);
    // A variant stored before its main entry's generation began predates a purge
    // or an eviction of it: forgotten (so no request waiting on the lock takes it),
    // fetched again.
    if matches!(&opened, Opening::Opened(o) if o.meta.stored < generation) {
        cache.index.remove(&place.key, None);
        cache.delete_file(&place.key);
        opened = Opening::Absent;
    }
    (place, found, opened)
}

/// How a miss ended.
enum Missed {
    Answered(Outcome),
    /// The request waited on the lock for a response that is another variant.
    OtherVariant,
}

/// No usable entry: fetch, one request at a time with `proxy_cache_lock`.
async fn miss<D: Downstream>(
    d: &mut D,
    x: &mut Exchange,
    f: &Fetch<'_>,
    planner: &Planner<'_>,
    place: Place,
    store: bool,
    waited: bool,
) -> Missed {
    let cc = &f.conf.proxy.cache;
    let cache = planner.cache;
    let key = &place.key;
    x.cache_status = Some("MISS");
    if !(cc.lock && store) {
        let plan = planner.plan(place, store, Vec16::default());
        return Missed::Answered(f.run(d, x, plan).await.0);
    }
    let age = millis(cc.lock_age);
    if !cache.index.try_lock(key, now_ms(), age) {
        // Another request (in any worker) is fetching: wait for its answer.
        let deadline = now_ms().saturating_add(millis(cc.lock_timeout));
        loop {
            monoio::time::sleep(LOCK_POLL).await;
            if cache
                .index
                .peek(key)
                .is_some_and(|s| fresh(s.expires, now_secs()))
            {
                match open(cache, key, planner.key_text, x) {
                    Opening::Opened(opened) => {
                        x.cache_status = Some("HIT");
                        return Missed::Answered(serve(d, x, f.conf, opened).await);
                    }
                    Opening::OtherVariant { .. } if !waited => return Missed::OtherVariant,
                    _ => {}
                }
            }
            if now_ms() >= deadline {
                // nginx: past proxy_cache_lock_timeout the request goes to the
                // upstream, and its response is not stored.
                let plan = planner.plan(place, false, Vec16::default());
                return Missed::Answered(f.run(d, x, plan).await.0);
            }
            if cache.index.try_lock(key, now_ms(), age) {
                break;
            }
        }
    }
    let plan = planner.plan(place, true, Vec16::default());
    let (outcome, recorded) = f.run(d, x, plan).await;
    if recorded != Recorded::Stored {
        cache.index.unlock(key);
    }
    Missed::Answered(outcome)
}

/// How often a request waiting on `proxy_cache_lock` looks again.
const LOCK_POLL: Duration = Duration::from_millis(5);

/// An entry past its freshness: served stale while another request refreshes it,
/// refreshed in the background, or fetched again with the stale copy as a fallback.
async fn expired<D: Downstream>(
    d: &mut D,
    x: &mut Exchange,
    f: &Fetch<'_>,
    planner: &Planner<'_>,
    place: Place,
    stored: Stored,
    opened: Opened,
) -> Outcome {
    let (cache, key) = (planner.cache, &place.key);
    let plan = |store: bool, hold_back: Vec16| planner.plan(place, store, hold_back);
    let cc = &f.conf.proxy.cache;
    let now = now_secs();
    let revalidating = fresh(
        stored
            .expires
            .saturating_add(u64::from(stored.while_revalidate)),
        now,
    );
    let updating_allowed = cc.use_stale.updating || revalidating;
    let bound = f.conf.proxy.connect_timeout + f.conf.proxy.read_timeout;
    let fetching = cache
        .index
        .try_lock(key, now_ms(), millis(bound.max(cc.lock_age)));
    if !fetching && updating_allowed {
        x.cache_status = Some("UPDATING");
        return serve(d, x, f.conf, opened).await;
    }
    if fetching && updating_allowed && (cc.background_update || revalidating) {
        // The client gets the stale copy now; the refresh runs after it, before the
        // connection takes its next request (as nginx's background subrequest).
        x.cache_status = Some("STALE");
        let outcome = serve(d, x, f.conf, opened).await;
        let status = x.status;
        let mut update = plan(true, Vec16::default());
        update.background = true;
        let (_, recorded) = f.run(&mut NoClient, x, update).await;
        if recorded != Recorded::Stored {
            cache.index.unlock(key);
        }
        x.status = status;
        x.cache_status = Some("STALE");
        return outcome;
    }
    // Fetched again; a failure may be answered with the stale copy.
    let in_error_window = fresh(
        stored.expires.saturating_add(u64::from(stored.if_error)),
        now,
    );
    let mut hold_back = cc.use_stale.statuses;
    if in_error_window {
        for s in [500, 502, 503, 504] {
            hold_back.push(s);
        }
    }
    x.cache_status = Some("EXPIRED");
    let mut p = plan(true, hold_back);
    let meta = &opened.meta;
    if p.store && cc.revalidate && (!meta.etag.is_empty() || meta.last_modified != 0) {
        p.revalidating = Some(meta.status);
        ask_conditionally(x, meta);
    }
    let (outcome, recorded) = f.run(d, x, p).await;
    if fetching && !matches!(recorded, Recorded::Stored | Recorded::Revalidated(Some(_))) {
        cache.index.unlock(key);
    }
    if let Recorded::Revalidated(renewed) = recorded {
        // nginx answers a 304 to its revalidation from the stored copy, renewed when
        // the 304 allows it.
        if let Some(fresh) = renewed {
            renew(cache, key, fresh.expires);
        }
        x.cache_status = Some("REVALIDATED");
        return serve(d, x, f.conf, opened).await;
    }
    let stale = match (recorded, &outcome) {
        (Recorded::HeldBack(_), _) => true,
        (Recorded::Nothing, Outcome::Status(502)) => {
            cc.use_stale.error || cc.use_stale.invalid_header || in_error_window
        }
        (Recorded::Nothing, Outcome::Status(504)) => cc.use_stale.timeout || in_error_window,
        _ => false,
    };
    if stale {
        x.cache_status = Some("STALE");
        return serve(d, x, f.conf, opened).await;
    }
    outcome
}

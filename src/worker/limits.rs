//! The preaccess phase's limits: `limit_req` (nginx's `ngx_http_limit_req_module`)
//! then `limit_conn` (`ngx_http_limit_conn_module`), in nginx's order, once per
//! request (an internal redirect does not count it again). The state is in the zones
//! the master made ([`crate::zone::limits`]), so every worker counts together. What
//! each decided is `$limit_req_status` / `$limit_conn_status`, as nginx's.
//!
//! - limit_req: each `limit_req` of the location in order; a key that expands empty
//!   is not limited. The last one's lookup stores the request in its bucket, the
//!   others store it once all passed, as nginx's. A request beyond `burst` is
//!   refused with `limit_req_status` (503) and `limiting requests, excess: E by zone
//!   "Z"` at `limit_req_log_level`; one beyond `delay` (0 unless `nodelay`/`delay=`)
//!   waits `(excess - delay) / rate` and logs `delaying request, excess: E, by zone
//!   "Z"` one level lower. `limit_req_dry_run on` logs and lets it through.
//! - limit_conn: each `limit_conn` counts the request under its key until the
//!   request ends (the count is a guard in [`Exchange::held`], dropped with the
//!   exchange whatever ended it); at the limit the request is refused with
//!   `limit_conn_status` and `limiting connections by zone "Z"`.

use std::sync::Arc;
use std::time::Duration;

use super::{Snapshot, Worker};
use crate::config::model::limits::{delay_level, LimitKind, LimitZone, Limits};
use crate::config::template::VariableSource;
use crate::exchange::{context, Exchange, Outcome};
use crate::zone::limits::{key_hash, Acquired, ConnTable, Lookup, ReqTable};

/// The longest key nginx limits (longer ones are logged and not limited).
const KEY_MAX: usize = 65535;

/// The worker's parts the limits use.
#[derive(Debug, Clone, Copy)]
pub struct Conn<'a> {
    pub worker: &'a Worker,
    pub snap: &'a Snapshot,
}

/// Runs both limits; `Some` answers the request instead of going on.
pub async fn preaccess(c: Conn<'_>, x: &mut Exchange, limits: &Limits) -> Option<Outcome> {
    if !limits.any() {
        return None;
    }
    if !limits.req.is_empty() && x.limit_req_status.is_none() {
        if let Some(outcome) = limit_req(c, x, limits).await {
            return Some(outcome);
        }
    }
    if !limits.conn.is_empty() && x.limit_conn_status.is_none() {
        return limit_conn(c, x, limits);
    }
    None
}

fn declared<'a>(c: &Conn<'a>, kind: LimitKind, name: &str) -> Option<&'a LimitZone> {
    c.snap
        .config
        .http
        .as_ref()?
        .limit_zones
        .iter()
        .find(|z| z.kind == kind && z.name == name)
}

/// The expanded key's hash, or `None` when the key is empty (or too long, logged).
fn key(c: &Conn<'_>, x: &Exchange, zone: &LimitZone) -> Option<u64> {
    let mut buf = Vec::new();
    zone.key.expand(x as &dyn VariableSource, &mut buf);
    if buf.is_empty() {
        return None;
    }
    if buf.len() > KEY_MAX {
        c.worker.error_log.error(
            Some(x.connection),
            &format!(
                "the value of the \"{}\" key is more than {KEY_MAX} bytes: \"{}\"{}",
                zone.key.source,
                String::from_utf8_lossy(buf.get(..64).unwrap_or_default()),
                context(x, None)
            ),
        );
        return None;
    }
    Some(key_hash(&buf))
}

fn thousandths(excess: u64) -> String {
    format!("{}.{:03}", excess / 1000, excess % 1000)
}

fn now_ms() -> u64 {
    u64::try_from(crate::sys::coarse_monotonic().as_millis()).unwrap_or(u64::MAX)
}

async fn limit_req(c: Conn<'_>, x: &mut Exchange, limits: &Limits) -> Option<Outcome> {
    let dry = if limits.req_dry_run { ", dry run" } else { "" };
    let last = limits.req.len() - 1;
    let now = now_ms();
    // The limits looked up without storing, to be accounted once all passed.
    let mut pending: Vec<(Arc<ReqTable>, u64, u64, u64)> = Vec::new();
    let mut passed: Option<(u64, u64, u64, String)> = None;
    for (i, limit) in limits.req.iter().enumerate() {
        let Some(zone) = declared(&c, LimitKind::Req, &limit.zone) else {
            continue;
        };
        let Some(hash) = key(&c, x, zone) else {
            continue;
        };
        let Some(table) = c.worker.req_table(&c.snap.tls_shared.zones, zone) else {
            continue;
        };
        let found = table.lookup(hash, now, zone.rate, limit.burst, i == last);
        if table.full_to_tell() {
            c.worker.error_log.warn(
                &format!(
                    "the \"{}\" zone is full: the state of the keys used longest ago is dropped; make it larger",
                    limit.zone
                ),
            );
        }
        match found {
            None => continue,
            Some(Lookup::Busy(excess)) => {
                c.worker.error_log.log(
                    limits.req_log_level,
                    Some(x.connection),
                    &format!(
                        "limiting requests{dry}, excess: {} by zone \"{}\"{}",
                        thousandths(excess),
                        limit.zone,
                        context(x, None)
                    ),
                );
                if limits.req_dry_run {
                    x.limit_req_status = Some("REJECTED_DRY_RUN");
                    return None;
                }
                x.limit_req_status = Some("REJECTED");
                return Some(Outcome::Status(limits.req_status));
            }
            Some(Lookup::Pass(excess)) => {
                if i != last {
                    pending.push((table, hash, zone.rate, limit.delay));
                }
                // nginx: when the last limit was not looked up (an empty key), the
                // others are all accounted below and the excess starts at 0.
                let excess = if i == last { excess } else { 0 };
                passed = Some((excess, limit.delay, zone.rate, limit.zone.clone()));
            }
        }
    }
    let (mut excess, delay, rate, mut by) = passed?;
    let mut max_delay = wait_ms(excess, delay, rate);
    // The longest wait is the one waited and logged, with its zone's excess.
    for (table, hash, rate, delay) in pending {
        if let Some(e) = table.account(hash, now, rate) {
            let d = wait_ms(e, delay, rate);
            if d > max_delay {
                max_delay = d;
                excess = e;
                by = table
                    .name()
                    .trim_start_matches(LimitKind::Req.prefix())
                    .to_string();
            }
        }
    }
    if max_delay == 0 {
        x.limit_req_status = Some("PASSED");
        return None;
    }
    c.worker.error_log.log(
        delay_level(limits.req_log_level),
        Some(x.connection),
        &format!(
            "delaying request{dry}, excess: {}, by zone \"{by}\"{}",
            thousandths(excess),
            context(x, None)
        ),
    );
    if limits.req_dry_run {
        x.limit_req_status = Some("DELAYED_DRY_RUN");
        return None;
    }
    x.limit_req_status = Some("DELAYED");
    monoio::time::sleep(Duration::from_millis(max_delay)).await;
    None
}

/// How long a request with `excess` waits: nginx's `(excess - delay) * 1000 / rate` ms.
fn wait_ms(excess: u64, delay: u64, rate: u64) -> u64 {
    if excess <= delay || rate == 0 {
        return 0;
    }
    (excess - delay).saturating_mul(1000) / rate
}

/// A counted request: released when dropped.
struct Held {
    table: Arc<ConnTable>,
    hash: u64,
}

impl std::fmt::Debug for Held {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "limit_conn {}", self.table.name())
    }
}

impl Held {
    fn new(table: Arc<ConnTable>, hash: u64) -> Held {
        HELD.with(|h| h.borrow_mut().push((Arc::clone(&table), hash)));
        Held { table, hash }
    }
}

impl Drop for Held {
    fn drop(&mut self) {
        self.table.release(self.hash);
        HELD.with(|h| {
            let mut h = h.borrow_mut();
            if let Some(i) = h
                .iter()
                .position(|(t, k)| Arc::ptr_eq(t, &self.table) && *k == self.hash)
            {
                h.swap_remove(i);
            }
        });
    }
}

thread_local! {
    /// The counts this worker holds, so an exit with requests still in flight
    /// (`worker_shutdown_timeout`, TERM) releases them first ([`release_all`]).
    static HELD: std::cell::RefCell<Vec<(Arc<ConnTable>, u64)>> =
        const { std::cell::RefCell::new(Vec::new()) };
}

/// Releases every count this worker still holds: called just before it exits
/// without ending the requests in flight.
pub fn release_all() {
    let held = HELD.with(|h| std::mem::take(&mut *h.borrow_mut()));
    for (table, hash) in held {
        table.release(hash);
    }
}

fn limit_conn(c: Conn<'_>, x: &mut Exchange, limits: &Limits) -> Option<Outcome> {
    let dry = if limits.conn_dry_run {
        ", dry run,"
    } else {
        ""
    };
    for limit in &limits.conn {
        let Some(zone) = declared(&c, LimitKind::Conn, &limit.zone) else {
            continue;
        };
        let Some(hash) = key(&c, x, zone) else {
            continue;
        };
        let Some(table) = c.worker.conn_table(&c.snap.tls_shared.zones, zone) else {
            continue;
        };
        x.limit_conn_status = Some("PASSED");
        match table.acquire(hash, limit.max) {
            Some(Acquired::Yes) => x.held.push(Box::new(Held::new(table, hash))),
            None => {}
            Some(refused) => {
                if refused == Acquired::Full && table.full_to_tell() {
                    c.worker.error_log.warn(&format!(
                        "the \"{}\" zone is full: new keys are refused; make it larger",
                        limit.zone
                    ));
                }
                // nginx releases what this request counted in the other zones.
                x.held.clear();
                if refused == Acquired::Busy {
                    c.worker.error_log.log(
                        limits.conn_log_level,
                        Some(x.connection),
                        &format!(
                            "limiting connections{dry} by zone \"{}\"{}",
                            limit.zone,
                            context(x, None)
                        ),
                    );
                }
                if limits.conn_dry_run {
                    x.limit_conn_status = Some("REJECTED_DRY_RUN");
                    return None;
                }
                x.limit_conn_status = Some("REJECTED");
                return Some(Outcome::Status(limits.conn_status));
            }
        }
    }
    None
}

//! Choosing the upstream server for a request, per worker: nginx's smooth weighted
//! round robin (or `least_conn`, `ip_hash`, `hash KEY [consistent]`, `random [two]`,
//! the hashes computed as nginx's in [`super::hashing`]), skipping servers marked `down` and servers that
//! failed `max_fails` times within `fail_timeout`; `backup` servers only when no primary
//! server is available. Time is passed in, so every rule is a plain unit test; it is
//! the coarse monotonic clock's ([`crate::sys::coarse_monotonic`]), as `fail_timeout`
//! is counted in seconds.
//!
//! The failure counts are the whole server's, not the worker's: each server's window
//! lives in a row of the upstream zone ([`crate::zone::peer_fails`]) that every worker
//! reads and writes with atomics, as nginx keeps them in shared memory with `zone`.
//! Weights and requests in flight stay per worker. Without a zone (unit
//! tests) a balancer keeps its own counts.

use std::time::Duration;

use super::hashing::{self, Ring};
use crate::config::model::{Balance, Upstream, UpstreamAddr};
use crate::zone::health::HealthRow;
use crate::zone::peer_fails::{Field, PeerFails, SharedRow};

/// A server's failure window (nginx's `fails`, `accessed`, `checked`), times as
/// coarse monotonic milliseconds plus one (0: never).
#[derive(Debug, Clone)]
enum FailState {
    /// This balancer's own (no zone): the three fields by [`Field::index`].
    Local([u64; 3]),
    /// The server's row in the upstream zone, shared by every worker.
    Shared(SharedRow),
}

impl FailState {
    /// The row for `key` in the worker's fail table, or a local window.
    fn for_key(key: &str, table: Option<&PeerFails>) -> FailState {
        let now = stamp(crate::sys::coarse_monotonic());
        table
            .and_then(|table| table.row(key, now))
            .map_or(FailState::Local([0; 3]), FailState::Shared)
    }

    fn get(&self, field: Field) -> u64 {
        match self {
            FailState::Local(words) => words.get(field.index()).copied().unwrap_or(0),
            FailState::Shared(row) => row.get(field),
        }
    }

    fn set(&mut self, field: Field, value: u64) {
        match self {
            FailState::Local(words) => {
                if let Some(w) = words.get_mut(field.index()) {
                    *w = value;
                }
            }
            FailState::Shared(row) => row.set(field, value),
        }
    }

    fn add_failure(&mut self, now: u64) {
        match self {
            FailState::Local(_) => {
                let fails = self.get(Field::Fails).saturating_add(1);
                self.set(Field::Fails, fails);
            }
            FailState::Shared(row) => row.increment(Field::Fails),
        }
        self.set(Field::FailedAt, now);
        self.set(Field::Checked, now);
    }

    /// Moves `checked` from `current` to `now` unless another worker moved it first.
    fn open_window(&mut self, current: u64, now: u64) {
        match self {
            FailState::Local(_) => self.set(Field::Checked, now),
            FailState::Shared(row) => {
                row.replace(Field::Checked, current, now);
            }
        }
    }
}

/// The key of a group's server in the zones' tables (fail counts, health).
pub fn health_key(group: &str, addr: &UpstreamAddr) -> String {
    format!("upstream {group}|{addr}")
}

/// A generator seed that differs per worker and per target.
fn seed() -> u64 {
    let t = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64);
    (t ^ (u64::from(std::process::id()) << 32)) | 1
}

/// A coarse monotonic time as a zone word: milliseconds plus one.
fn stamp(t: Duration) -> u64 {
    u64::try_from(t.as_millis())
        .unwrap_or(u64::MAX - 1)
        .saturating_add(1)
}

/// Whether the window that started at `checked` (a [`stamp`], 0 for none) is still
/// open at `now`.
fn within(checked: u64, now: Duration, timeout: Duration) -> bool {
    let timeout = u64::try_from(timeout.as_millis()).unwrap_or(u64::MAX);
    checked != 0 && stamp(now).saturating_sub(checked) <= timeout
}

/// What the passive checks know of a server: its `max_fails` and `fail_timeout`, and
/// its failure window (from its row in the `upstream_fails` zone).
#[derive(Debug, Clone, Copy, Default)]
pub struct Passive {
    pub max_fails: u32,
    pub fail_timeout: Duration,
    /// Failures counted in the window.
    pub fails: u64,
    /// When the window started (a zone stamp: coarse ms + 1, 0 for never).
    pub checked: u64,
}

/// Whether an upstream server is up: not marked `down`, found healthy by the active
/// health checks when its group has them (`healthy`), and not failed `max_fails`
/// times within `fail_timeout` (nginx's passive checks) — both must allow it, as
/// HAProxy combines its checks with `observe`. The balancer skips a server that is
/// not up, and the metrics report it (`vestibule_upstream_server_up`).
pub fn server_up(down: bool, healthy: bool, passive: &Passive, now: Duration) -> bool {
    let failed = passive.max_fails > 0
        && passive.fails >= u64::from(passive.max_fails)
        && within(passive.checked, now, passive.fail_timeout);
    !(down || !healthy || failed)
}

/// What the active health checks say of a server: healthy, unless its group has a
/// check (`Some(mandatory)`) and the probes found it unhealthy (or, `mandatory`,
/// have not yet found it healthy).
pub fn actively_healthy(row: Option<&HealthRow>, mandatory: Option<bool>) -> bool {
    match (row, mandatory) {
        (_, None) => true,
        (Some(row), Some(mandatory)) => row.usable(mandatory),
        (None, Some(mandatory)) => !mandatory,
    }
}

/// The passive state of the server whose `upstream_fails` key is `key`, as every
/// worker shares it (a server no request has reached yet has no row: no failures).
pub fn passive_state(
    key: &str,
    max_fails: u32,
    fail_timeout: Duration,
    table: Option<&PeerFails>,
) -> Passive {
    let row = table.and_then(|t| t.find(key));
    Passive {
        max_fails,
        fail_timeout,
        fails: row.as_ref().map_or(0, |r| r.get(Field::Fails)),
        checked: row.as_ref().map_or(0, |r| r.get(Field::Checked)),
    }
}

/// One upstream server's state in this worker.
#[derive(Debug, Clone)]
pub struct PeerState {
    pub addr: UpstreamAddr,
    /// As written in the configuration, for `$upstream_addr` and logs (shared with
    /// each request's [`crate::exchange::UpstreamAttempt`], not copied).
    pub name: std::rc::Rc<str>,
    weight: i64,
    current_weight: i64,
    max_fails: u32,
    fail_timeout: Duration,
    /// The failures counted; when the last was (nginx's `accessed`); when the window
    /// last started: the last failure, or the first pick after `fail_timeout` had
    /// passed since (nginx's `checked`).
    fail: FailState,
    backup: bool,
    down: bool,
    /// The server's row of the health probes' table and whether the check is
    /// `mandatory`, when its group has a `health_check`.
    health: Option<(HealthRow, bool)>,
    /// Requests in flight (for `least_conn`).
    pub active: u32,
    /// Its place among the metrics' upstream servers (none without metrics).
    pub metric: Option<usize>,
}

/// The servers of one `proxy_pass` target.
#[derive(Debug, Clone)]
pub struct Peers {
    peers: Vec<PeerState>,
    balance: Balance,
    /// `hash ... consistent`: the ring of points.
    ring: Option<Ring>,
    /// `random`: this worker's generator (xorshift64).
    rng: u64,
}

/// What a hashing method hashes, worked out per request by the caller.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Key {
    /// Round robin, least_conn, random; or `ip_hash` for a client without an IP
    /// address (a unix socket), which nginx serves round robin.
    None,
    /// `ip_hash`: the client's address.
    Addr(std::net::IpAddr),
    /// `hash KEY`: the expanded key.
    Bytes(Vec<u8>),
}

/// Defaults for a `proxy_pass host:port` that names no `upstream`, as nginx's implicit
/// upstream: weight 1, max_fails 1, fail_timeout 10s.
const IMPLICIT_MAX_FAILS: u32 = 1;
const IMPLICIT_FAIL_TIMEOUT: Duration = Duration::from_secs(10);

impl Peers {
    /// The servers of group `u`; `health_check` is `Some(mandatory)` when the group
    /// has active health checks.
    pub fn from_upstream(
        u: &Upstream,
        fails: Option<&PeerFails>,
        health_check: Option<bool>,
    ) -> Peers {
        let peers = u
            .servers
            .iter()
            .map(|s| PeerState {
                health: health_check.and_then(|mandatory| {
                    let row = crate::zone::health::row(&health_key(&u.name, &s.addr))?;
                    Some((row, mandatory))
                }),
                addr: s.addr.clone(),
                name: s.addr.to_string().into(),
                weight: i64::from(s.weight.max(1)),
                current_weight: 0,
                max_fails: s.max_fails,
                fail_timeout: s.fail_timeout,
                fail: FailState::for_key(&health_key(&u.name, &s.addr), fails),
                backup: s.backup,
                down: s.down,
                active: 0,
                metric: crate::zone::metrics::peer_index(&format!(
                    "upstream {}|{}",
                    u.name, s.addr
                )),
            })
            .collect();
        let ring = match &u.balance {
            Balance::Hash {
                consistent: true, ..
            } => Some(Ring::new(&u.servers)),
            _ => None,
        };
        Peers {
            peers,
            balance: u.balance.clone(),
            ring,
            rng: seed(),
        }
    }

    pub fn direct(addrs: &[UpstreamAddr], fails: Option<&PeerFails>) -> Peers {
        let peers = addrs
            .iter()
            .map(|a| PeerState {
                addr: a.clone(),
                name: a.to_string().into(),
                weight: 1,
                current_weight: 0,
                max_fails: IMPLICIT_MAX_FAILS,
                fail_timeout: IMPLICIT_FAIL_TIMEOUT,
                // Keyed by address: every `proxy_pass` to it shares the count, as
                // nginx's implicit upstreams are shared by host and port.
                fail: FailState::for_key(&a.to_string(), fails),
                backup: false,
                down: false,
                health: None,
                active: 0,
                metric: crate::zone::metrics::peer_index(&a.to_string()),
            })
            .collect();
        Peers {
            peers,
            balance: Balance::RoundRobin,
            ring: None,
            rng: seed(),
        }
    }

    /// The group's method.
    pub fn balance(&self) -> &Balance {
        &self.balance
    }

    pub fn peer(&self, i: usize) -> Option<&PeerState> {
        self.peers.get(i)
    }

    fn available(&self, p: &PeerState, now: Duration) -> bool {
        // A server the probes found unhealthy is out, even alone (NGINX Plus's "no
        // live upstreams").
        let healthy = p
            .health
            .as_ref()
            .map_or(true, |(row, mandatory)| row.usable(*mandatory));
        // A single server is otherwise always tried, as nginx does (nothing else to
        // fall back to).
        if self.peers.len() == 1 {
            return !p.down && healthy;
        }
        let passive = Passive {
            max_fails: p.max_fails,
            fail_timeout: p.fail_timeout,
            fails: p.fail.get(Field::Fails),
            checked: p.fail.get(Field::Checked),
        };
        server_up(p.down, healthy, &passive, now)
    }

    /// Picks a server not in `tried` (`key` for the hashing methods). Primary servers
    /// first; backups only when no primary is available.
    pub fn pick(&mut self, now: Duration, tried: &[usize], key: &Key) -> Option<usize> {
        // One server (a Gunicorn behind `proxy_pass`), backup or not: its weight
        // would cancel out, so it is chosen without building the candidate list.
        if let [only] = self.peers.as_slice() {
            return (tried.is_empty() && self.available(only, now)).then_some(0);
        }
        let chosen = match self.by_hash(now, tried, key) {
            Some(i) => i,
            None => self.pick_among(now, tried)?,
        };
        // The first pick after `fail_timeout` opens a new window: a success from here
        // on clears the failures (see `succeeded`).
        let p = &mut self.peers[chosen];
        let checked = p.fail.get(Field::Checked);
        if checked != 0 && !within(checked, now, p.fail_timeout) {
            p.fail.open_window(checked, stamp(now));
        }
        Some(chosen)
    }

    fn pick_among(&mut self, now: Duration, tried: &[usize]) -> Option<usize> {
        for backup in [false, true] {
            let candidates: Vec<usize> = (0..self.peers.len())
                .filter(|&i| {
                    let p = &self.peers[i];
                    p.backup == backup && !tried.contains(&i) && self.available(p, now)
                })
                .collect();
            if candidates.is_empty() {
                continue;
            }
            let chosen = match self.balance {
                Balance::LeastConn => self.least_conn(&candidates),
                Balance::Random { two } => self.random(&candidates, two),
                // The hashes fall back to round robin, as nginx's after 20 tries.
                Balance::RoundRobin | Balance::IpHash | Balance::Hash { .. } => {
                    self.smooth_weighted(&candidates)
                }
            };
            if chosen.is_some() {
                return chosen;
            }
        }
        None
    }

    /// `ip_hash` and `hash`: the first server in the key's order that is up, has not
    /// failed and was not tried; `None` when the method does not hash, the key is
    /// missing, or 20 tries found none (round robin then, as nginx).
    fn by_hash(&self, now: Duration, tried: &[usize], key: &Key) -> Option<usize> {
        let weights = || {
            self.peers
                .iter()
                .map(|p| p.weight as u32)
                .collect::<Vec<_>>()
        };
        let order = match (&self.balance, key, &self.ring) {
            (Balance::IpHash, Key::Addr(a), _) => hashing::ip_hash_order(*a, &weights()),
            (Balance::Hash { .. }, Key::Bytes(k), Some(ring)) => ring.order(k),
            (Balance::Hash { .. }, Key::Bytes(k), None) => hashing::hash_order(k, &weights()),
            _ => return None,
        };
        order.into_iter().find(|&i| {
            !tried.contains(&i) && self.peers.get(i).is_some_and(|p| self.available(p, now))
        })
    }

    /// `random`: a weighted random candidate; with `two`, the less busy of two.
    fn random(&mut self, candidates: &[usize], two: bool) -> Option<usize> {
        let first = self.weighted_random(candidates)?;
        if !two || candidates.len() < 2 {
            return Some(first);
        }
        let rest: Vec<usize> = candidates.iter().copied().filter(|&i| i != first).collect();
        let second = self.weighted_random(&rest)?;
        let load = |p: &PeerState| (i64::from(p.active) * 1_000_000) / p.weight;
        Some(if load(&self.peers[second]) < load(&self.peers[first]) {
            second
        } else {
            first
        })
    }

    fn weighted_random(&mut self, candidates: &[usize]) -> Option<usize> {
        let total: i64 = candidates.iter().map(|&i| self.peers[i].weight).sum();
        if total <= 0 {
            return None;
        }
        // xorshift64: fast, and good enough to spread requests.
        self.rng ^= self.rng << 13;
        self.rng ^= self.rng >> 7;
        self.rng ^= self.rng << 17;
        let mut w = (self.rng % total as u64) as i64;
        for &i in candidates {
            w -= self.peers[i].weight;
            if w < 0 {
                return Some(i);
            }
        }
        candidates.last().copied()
    }

    /// nginx's smooth weighted round robin: every candidate gains its weight, the
    /// heaviest is chosen and pays back the total.
    fn smooth_weighted(&mut self, candidates: &[usize]) -> Option<usize> {
        let mut total = 0;
        let mut best: Option<usize> = None;
        let mut best_weight = i64::MIN;
        for &i in candidates {
            let p = &mut self.peers[i];
            p.current_weight += p.weight;
            total += p.weight;
            if best.is_none() || p.current_weight > best_weight {
                best = Some(i);
                best_weight = p.current_weight;
            }
        }
        let b = best?;
        self.peers[b].current_weight -= total;
        Some(b)
    }

    /// Fewest requests in flight relative to weight; ties go round robin.
    fn least_conn(&mut self, candidates: &[usize]) -> Option<usize> {
        let score = |p: &PeerState| (i64::from(p.active) * 1_000_000) / p.weight;
        let min = candidates.iter().map(|&i| score(&self.peers[i])).min()?;
        let tied: Vec<usize> = candidates
            .iter()
            .copied()
            .filter(|&i| score(&self.peers[i]) == min)
            .collect();
        self.smooth_weighted(&tied)
    }

    /// Records a failure (`proxy_next_upstream` conditions count as failures).
    pub fn failed(&mut self, i: usize, now: Duration) {
        if let Some(p) = self.peers.get_mut(i) {
            p.fail.add_failure(stamp(now));
        }
    }

    /// Records a success. As nginx counts: failures within `fail_timeout` of each
    /// other add up even with successes between them; only a success on a pick made
    /// after `fail_timeout` had passed since the last failure clears the count.
    pub fn succeeded(&mut self, i: usize) {
        if let Some(p) = self.peers.get_mut(i) {
            // Written only when there is something to clear: a store per request into
            // the shared row would bounce its cache line between the workers.
            if p.fail.get(Field::Fails) != 0
                && p.fail.get(Field::Checked) > p.fail.get(Field::FailedAt)
            {
                p.fail.set(Field::Fails, 0);
            }
        }
    }

    /// How many servers the target has (backups included).
    pub fn count(&self) -> usize {
        self.peers.len()
    }

    pub fn started(&mut self, i: usize) {
        if let Some(p) = self.peers.get_mut(i) {
            p.active += 1;
        }
    }

    pub fn finished(&mut self, i: usize) {
        if let Some(p) = self.peers.get_mut(i) {
            p.active = p.active.saturating_sub(1);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::model::UpstreamServer;
    use crate::config::source::{Origin, Span};
    use std::sync::Arc;

    fn server(port: u16, weight: u32, backup: bool, down: bool) -> UpstreamServer {
        UpstreamServer {
            name: format!("127.0.0.1:{port}"),
            addr: UpstreamAddr::Tcp(format!("127.0.0.1:{port}").parse().unwrap()),
            weight,
            max_fails: 1,
            fail_timeout: Duration::from_secs(10),
            backup,
            down,
            span: Span::new(Arc::new(Origin::CommandLine), 1),
        }
    }

    fn group(servers: Vec<UpstreamServer>, balance: Balance) -> Peers {
        Peers::from_upstream(
            &Upstream {
                name: "app".into(),
                servers,
                balance,
                keepalive: 0,
                keepalive_timeout: Duration::from_secs(60),
                keepalive_requests: 100,
                span: Span::new(Arc::new(Origin::CommandLine), 1),
            },
            None,
            None,
        )
    }

    fn picks(p: &mut Peers, n: usize, now: Duration) -> Vec<usize> {
        (0..n)
            .map(|_| p.pick(now, &[], &Key::None).unwrap())
            .collect()
    }

    #[test]
    fn smooth_weighted_round_robin_spreads_by_weight() {
        let mut p = group(
            vec![
                server(1, 5, false, false),
                server(2, 1, false, false),
                server(3, 1, false, false),
            ],
            Balance::RoundRobin,
        );
        // nginx's documented sequence for weights 5,1,1: a a b a c a a
        assert_eq!(
            picks(&mut p, 7, Duration::from_secs(1000)),
            [0, 0, 1, 0, 2, 0, 0]
        );
    }

    #[test]
    fn down_servers_are_never_chosen_and_backups_only_when_needed() {
        let now = Duration::from_secs(1000);
        let mut p = group(
            vec![
                server(1, 1, false, true),
                server(2, 1, false, false),
                server(3, 1, true, false),
            ],
            Balance::RoundRobin,
        );
        assert_eq!(picks(&mut p, 3, now), [1, 1, 1]);
        p.failed(1, now);
        assert_eq!(
            p.pick(now, &[], &Key::None),
            Some(2),
            "primary failed: the backup serves"
        );
        assert_eq!(
            p.pick(now + Duration::from_secs(11), &[], &Key::None),
            Some(1),
            "after fail_timeout the primary is tried again"
        );
    }

    #[test]
    fn failed_servers_rest_for_fail_timeout_and_tried_ones_are_skipped() {
        let now = Duration::from_secs(1000);
        let mut p = group(
            vec![server(1, 1, false, false), server(2, 1, false, false)],
            Balance::RoundRobin,
        );
        p.failed(0, now);
        assert_eq!(picks(&mut p, 3, now), [1, 1, 1]);
        assert_eq!(
            p.pick(now, &[1], &Key::None),
            None,
            "the only live server was already tried"
        );
        p.succeeded(0);
        assert_eq!(
            p.pick(now, &[1], &Key::None),
            None,
            "a success within fail_timeout does not end the rest"
        );
    }

    /// nginx's counting: failures within `fail_timeout` add up across successes; a
    /// success on the first pick after the window clears them.
    #[test]
    fn failures_add_up_within_the_window_despite_successes() {
        let t = Duration::from_secs(1000);
        let s = Duration::from_secs;
        let two = |fails| {
            let mut a = server(1, 1, false, false);
            a.max_fails = fails;
            group(vec![a, server(2, 1, false, false)], Balance::RoundRobin)
        };
        let mut p = two(2);
        p.failed(0, t);
        p.succeeded(0);
        p.failed(0, t + s(2));
        assert_eq!(picks(&mut p, 4, t + s(3)), [1, 1, 1, 1], "two fails in 10s");
        let mut p = two(2);
        p.failed(0, t);
        // The window passes; the first pick after it, and its success, start afresh.
        let later = t + s(11);
        assert!(picks(&mut p, 2, later).contains(&0));
        p.succeeded(0);
        p.failed(0, later + s(1));
        assert!(
            picks(&mut p, 2, later + s(2)).contains(&0),
            "one fail since the count was cleared"
        );
        let mut p = two(2);
        p.failed(0, t);
        // With no success in between, a failure after the window still adds up.
        assert!(picks(&mut p, 2, t + s(11)).contains(&0));
        p.failed(0, t + s(12));
        assert_eq!(picks(&mut p, 2, t + s(13)), [1, 1]);
    }

    #[test]
    fn a_single_server_is_always_tried() {
        let now = Duration::from_secs(1000);
        let mut p = Peers::direct(&[UpstreamAddr::Unix("/run/g.sock".into())], None);
        p.failed(0, now);
        assert_eq!(p.pick(now, &[], &Key::None), Some(0));
        assert_eq!(p.pick(now, &[0], &Key::None), None);
        let mut backup = group(vec![server(1, 3, true, false)], Balance::RoundRobin);
        assert_eq!(
            picks(&mut backup, 3, now),
            [0, 0, 0],
            "a lone backup serves"
        );
        let mut down = group(vec![server(1, 1, false, true)], Balance::LeastConn);
        assert_eq!(
            down.pick(now, &[], &Key::None),
            None,
            "a lone down server does not"
        );
    }

    #[test]
    fn least_conn_prefers_the_idlest() {
        let now = Duration::from_secs(1000);
        let mut p = group(
            vec![server(1, 1, false, false), server(2, 1, false, false)],
            Balance::LeastConn,
        );
        p.started(0);
        assert_eq!(picks(&mut p, 2, now), [1, 1]);
        p.started(1);
        p.started(1);
        assert_eq!(p.pick(now, &[], &Key::None), Some(0));
    }
}

//! A worker: one thread running one monoio runtime (io_uring where the kernel allows
//! it, epoll otherwise), accepting on the listeners it was given and serving each
//! connection on its own task. Nothing here is global: the configuration snapshot,
//! logs, upstream pools, balancers and the shared fail table the master handed over
//! live in [`Worker`].
//!
//! ```text
//! accept ─► connection::serve ─► read head ─► dispatch (nginx's phases) ─► handler
//!                 ▲                                                          │
//!                 │        h1::Http1, the HTTP/1.1 Downstream: framing, ◄────┘
//!                 │        keep-alive, send_timeout
//!                 └──────── keep-alive ◄──── access log ◄───┘
//! ```

pub mod body;
pub mod cache_manager;
pub mod connection;
pub mod context;
pub mod control;
pub mod dispatch;
pub mod h1;
pub mod h2;
pub mod health;
pub mod idle;
pub mod limits;
pub mod listener;
pub mod metrics;
pub mod partial_head;
pub mod realip;
mod rewrite_phase;
pub mod wake;

use std::cell::{Cell, RefCell};
use std::rc::Rc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use arc_swap::ArcSwap;

use crate::tls::{self, configs::ServerConfigs};
use monoio::io::{CancelHandle, Canceller};

use crate::config::model::limits::LimitZone;
use crate::config::Config;
use crate::http1::DateCache;
use crate::observe::{AccessLogs, ErrorLog};
use crate::proxy::balancer::Peers;
use crate::proxy::pool::Pool;
use crate::route::Router;
use crate::zone::limits::{ConnTable, ReqTable};
use crate::zone::peer_fails::PeerFails;
use crate::zone::Zones;
use idle::IdleConnections;

pub use crate::exchange::{Peer, RequestId};
pub use listener::{bind_all, BindError, BoundListener, Listener};

/// A configuration and the router compiled from it: what a request loads once and
/// keeps until it ends.
#[derive(Debug)]
pub struct Snapshot {
    pub config: Config,
    pub router: Router,
    /// Counts in-place reloads in this worker (per-worker state such as balancer
    /// weights is rebuilt when it changes).
    pub generation: u64,
    /// The rustls configuration of each server block that has certificates.
    pub tls: ServerConfigs,
    /// What every snapshot of this worker shares (ticket keys, session caches): the
    /// next snapshot is built with it.
    pub tls_shared: tls::Shared,
}

impl Snapshot {
    pub fn new(config: Config, tls_shared: &tls::Shared) -> Snapshot {
        Snapshot::with_generation(config, 1, tls_shared)
    }

    pub fn with_generation(config: Config, generation: u64, tls_shared: &tls::Shared) -> Snapshot {
        let router = Router::from_config(&config);
        let tls = ServerConfigs::build(config.http.as_ref(), tls_shared);
        Snapshot {
            config,
            router,
            generation,
            tls,
            tls_shared: tls_shared.clone(),
        }
    }
}

/// Which io driver the runtime uses, logged at start.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Driver {
    IoUring,
    Epoll,
}

impl Driver {
    pub fn as_str(self) -> &'static str {
        match self {
            Driver::IoUring => "io_uring",
            Driver::Epoll => "epoll",
        }
    }
}

/// Everything a worker's tasks share. Single-threaded: `Cell`/`RefCell`, no locks.
pub struct Worker {
    /// The configuration in force; the control thread swaps it on an in-place reload.
    pub snapshot: Arc<ArcSwap<Snapshot>>,
    /// The snapshot generation the balancer state in `peers` was built for.
    peers_generation: Cell<u64>,
    pub error_log: ErrorLog,
    /// `error_log` of http, server and location blocks.
    pub site_error_logs: crate::observe::error_log::SiteErrorLogs,
    /// Answers for names `proxy_pass` variables give, by name.
    pub dns: crate::net::dns::DnsCache,
    /// rustls client configurations for `https://` upstreams.
    pub tls_clients: crate::tls::upstream::ClientConfigs,
    pub access_logs: AccessLogs,
    pub date: RefCell<DateCache>,
    pub pool: RefCell<Pool>,
    /// Balancer state per `proxy_pass` target (upstream name or URL).
    pub peers: RefCell<crate::fast_hash::FastMap<String, Peers>>,
    /// The upstream fail counts in the zone the master made (shared by every worker);
    /// `None` when there is none (each balancer then counts for this worker alone).
    pub peer_fails: Option<Arc<PeerFails>>,
    next_connection: Cell<u64>,
    random: Cell<u64>,
    pub hostname: Rc<str>,
    /// Ends pending accepts and idle keep-alive reads when a graceful shutdown starts.
    drain: RefCell<Canceller>,
    /// A graceful shutdown is under way: no new connections, no keep-alive.
    pub draining: Cell<bool>,
    /// HTTP/2 connections waiting for events, by connection id: a graceful shutdown
    /// wakes them to send GOAWAY ([`DrainWatch`]).
    drain_wakers: RefCell<crate::fast_hash::FastMap<u64, std::task::Waker>>,
    /// Connections being served.
    pub active: Cell<usize>,
    /// Accept loops still running (a graceful shutdown waits for them to see the
    /// cancel, so a connection accepted at that moment is still served).
    accepting: Cell<usize>,
    /// Connections waiting for a request, which `worker_connections` may close.
    pub idle: RefCell<IdleConnections>,
    /// The second (coarse monotonic) of the last "reusing connections" warning: as
    /// nginx, at most one a second.
    reuse_warned: Cell<u64>,
    /// The `limit_req` and `limit_conn` tables over the zones, by zone name (made on
    /// first use; a worker's zones never change).
    req_tables: RefCell<Vec<Arc<ReqTable>>>,
    conn_tables: RefCell<Vec<Arc<ConnTable>>>,
    /// The caches over their keys zones (`proxy_cache_path`), made on first use.
    caches: RefCell<Vec<Arc<crate::cache::Cache>>>,
}

impl Worker {
    pub fn new(snapshot: Arc<Snapshot>, error_log: ErrorLog) -> Worker {
        let seed = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos() as u64)
            .unwrap_or(0x9e37_79b9_7f4a_7c15)
            ^ u64::from(std::process::id()).rotate_left(32);
        Worker {
            snapshot: Arc::new(ArcSwap::new(snapshot)),
            peers_generation: Cell::new(1),
            error_log,
            site_error_logs: Default::default(),
            dns: Default::default(),
            tls_clients: Default::default(),
            access_logs: AccessLogs::new(),
            date: RefCell::new(DateCache::new()),
            pool: RefCell::new(Pool::new()),
            peers: RefCell::new(Default::default()),
            peer_fails: None,
            next_connection: Cell::new(1),
            random: Cell::new(seed | 1),
            hostname: Rc::from(crate::sys::hostname().as_str()),
            drain: RefCell::new(Canceller::new()),
            draining: Cell::new(false),
            drain_wakers: RefCell::default(),
            active: Cell::new(0),
            accepting: Cell::new(0),
            idle: RefCell::new(IdleConnections::default()),
            reuse_warned: Cell::new(u64::MAX),
            req_tables: RefCell::default(),
            conn_tables: RefCell::default(),
            caches: RefCell::default(),
        }
    }

    /// The `limit_req` table of `zone` in `zones` (`None`: the master made none).
    pub fn req_table(&self, zones: &Zones, zone: &LimitZone) -> Option<Arc<ReqTable>> {
        let name = zone.zone_name();
        let mut tables = self.req_tables.borrow_mut();
        if let Some(t) = tables.iter().find(|t| t.name() == name) {
            return Some(Arc::clone(t));
        }
        let t = Arc::new(ReqTable::new(Arc::clone(zones.get(&name)?)));
        tables.push(Arc::clone(&t));
        Some(t)
    }

    /// The `limit_conn` table of `zone` in `zones`.
    pub fn conn_table(&self, zones: &Zones, zone: &LimitZone) -> Option<Arc<ConnTable>> {
        let name = zone.zone_name();
        let mut tables = self.conn_tables.borrow_mut();
        if let Some(t) = tables.iter().find(|t| t.name() == name) {
            return Some(Arc::clone(t));
        }
        let t = Arc::new(ConnTable::new(Arc::clone(zones.get(&name)?)));
        tables.push(Arc::clone(&t));
        Some(t)
    }

    /// The cache of `path` over its keys zone in `zones` (made on first use; a
    /// reload that moves a zone's directory gets a new one).
    pub fn cache(
        &self,
        zones: &Zones,
        path: &crate::config::model::cache::CachePath,
    ) -> Option<Arc<crate::cache::Cache>> {
        let mut caches = self.caches.borrow_mut();
        if let Some(c) = caches.iter().find(|c| &c.path == path) {
            return Some(Arc::clone(c));
        }
        let zone = Arc::clone(zones.get(&path.zone_name())?);
        caches.retain(|c| c.path.name != path.name);
        let c = Arc::new(crate::cache::Cache::new(path.clone(), zone));
        caches.push(Arc::clone(&c));
        Some(c)
    }

    /// Drops balancer state built for an older configuration.
    pub fn sync_peers(&self, generation: u64) {
        if self.peers_generation.replace(generation) != generation {
            self.peers.borrow_mut().clear();
        }
    }

    /// A handle that the start of a graceful shutdown cancels.
    pub fn drain_handle(&self) -> CancelHandle {
        self.drain.borrow().handle()
    }

    /// Starts a graceful shutdown: stop accepting, let requests in flight finish
    /// (each answered with `Connection: close`), and close keep-alive connections
    /// once they are quiet ([`IdleConnections::close_quiet_keep_alive`], from the
    /// signal task's ticks).
    pub fn start_drain(&self) {
        if self.draining.replace(true) {
            return;
        }
        let canceller = self.drain.replace(Canceller::new());
        // Cancelling also marks the old handles, so accepts started later end at once.
        drop(canceller.cancel());
        let wakers: Vec<std::task::Waker> = self
            .drain_wakers
            .borrow_mut()
            .drain()
            .map(|(_, w)| w)
            .collect();
        for w in wakers {
            w.wake();
        }
    }

    /// The next connection number (`*N` in the error log, `$connection`).
    pub fn connection_id(&self) -> u64 {
        let id = self.next_connection.get();
        self.next_connection.set(id + 1);
        id
    }

    /// The 128 random bits of a request's `$request_id`, from a per-worker xorshift
    /// generator (unique enough for tracing, not for secrets). Drawn for every
    /// request; written out as text only when something asks for it.
    pub fn request_id(&self) -> RequestId {
        let next = || {
            let mut x = self.random.get();
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            self.random.set(x);
            x
        };
        let high = next();
        RequestId::from_bits(high, next())
    }
}

/// A connection task's wait for a graceful shutdown (an HTTP/2 connection, which
/// must send GOAWAY rather than be closed while idle).
#[derive(Debug)]
pub struct DrainWatch<'w> {
    worker: &'w Worker,
    id: u64,
}

impl<'w> DrainWatch<'w> {
    pub fn new(worker: &'w Worker, id: u64) -> DrainWatch<'w> {
        DrainWatch { worker, id }
    }

    /// Wakes `waker` when the shutdown starts.
    pub fn register(&self, waker: &std::task::Waker) {
        let mut wakers = self.worker.drain_wakers.borrow_mut();
        match wakers.get(&self.id) {
            Some(w) if w.will_wake(waker) => {}
            _ => {
                wakers.insert(self.id, waker.clone());
            }
        }
    }
}

impl Drop for DrainWatch<'_> {
    fn drop(&mut self) {
        self.worker.drain_wakers.borrow_mut().remove(&self.id);
    }
}

impl std::fmt::Debug for Worker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Worker")
            .field("draining", &self.draining.get())
            .field("active", &self.active.get())
            .finish_non_exhaustive()
    }
}

/// Builds the runtime for this thread: io_uring when available, else epoll
/// (`MONOIO_FORCE_LEGACY_DRIVER=1` forces epoll).
fn driver_in_use() -> Driver {
    if monoio::utils::detect_uring() {
        Driver::IoUring
    } else {
        Driver::Epoll
    }
}

/// How the worker's ring is set up: one thread submits (`SINGLE_ISSUER`) and
/// completions are processed only when the loop waits for them (`DEFER_TASKRUN`,
/// Linux 6.1). Without it the kernel runs completion work at the end of every system
/// call the worker makes (`openat2`, `sendfile`, ...), taking the socket locks of
/// other connections there while the client's CPU holds them; measured in
/// docs/performance.md. Older kernels refuse the flags, and get a plain ring.
fn uring_setup() -> io_uring::Builder {
    let mut deferred = io_uring::IoUring::builder();
    deferred.setup_single_issuer().setup_defer_taskrun();
    if deferred.build(8).is_ok() {
        deferred
    } else {
        io_uring::IoUring::builder()
    }
}

/// Runs a worker on the current thread until every listener fails. Blocks.
pub fn run(
    snapshot: Arc<Snapshot>,
    listeners: Vec<BoundListener>,
    error_log: ErrorLog,
    ready: Option<std::os::fd::OwnedFd>,
    control: Option<control::Control>,
    peer_fails: Option<Arc<PeerFails>>,
) -> std::io::Result<()> {
    let driver = driver_in_use();
    let mut runtime = monoio::RuntimeBuilder::<monoio::FusionDriver>::new()
        .uring_builder(uring_setup())
        .enable_timer()
        .build()?;
    runtime.block_on(async move {
        let mut worker = Worker::new(snapshot, error_log);
        worker.peer_fails = peer_fails;
        let worker = Rc::new(worker);
        monoio::spawn(crate::net::timer::sweep());
        if crate::zone::health::probes_here() {
            monoio::spawn(health::run(Rc::clone(&worker)));
            monoio::spawn(cache_manager::run(Rc::clone(&worker)));
        }
        if let Some(control) = control {
            control::spawn(control, Arc::clone(&worker.snapshot));
        }
        worker.error_log.notice(&format!(
            "worker process {} started, io driver: {}",
            std::process::id(),
            driver.as_str()
        ));
        let mut tasks = Vec::new();
        for bound in listeners {
            let (addr, listener) = Listener::adopt(bound)?;
            let worker = Rc::clone(&worker);
            tasks.push(monoio::spawn(accept_loop(worker, addr, listener)));
        }
        let flusher = Rc::clone(&worker);
        let signals = Signals::register()?;
        // Tell the master this worker accepts (systemd's READY=1 waits for every one).
        if let Some(fd) = ready {
            let _ = std::io::Write::write_all(&mut std::fs::File::from(fd), b"r");
        }
        monoio::spawn(async move {
            let mut since_flush = std::time::Duration::ZERO;
            let mut quit_since: Option<std::time::Instant> = None;
            loop {
                monoio::time::sleep(SIGNAL_POLL).await;
                since_flush += SIGNAL_POLL;
                flusher.pool.borrow_mut().trim(crate::sys::coarse_monotonic());
                if since_flush >= crate::observe::access_log::FLUSH_INTERVAL {
                    flusher.access_logs.flush();
                    since_flush = std::time::Duration::ZERO;
                }
                if signals.reopen.swap(false, Ordering::Relaxed) {
                    flusher.access_logs.reopen();
                    flusher.error_log.reopen();
                    flusher.site_error_logs.reopen();
                    flusher.error_log.notice("reopening logs");
                }
                if signals.reload.swap(false, Ordering::Relaxed) {
                    flusher.error_log.warn(
                        "reload (SIGHUP) is not implemented yet: the running configuration is unchanged; restart vestibule to apply a new one",
                    );
                }
                if signals.quit.load(Ordering::Relaxed) && quit_since.is_none() {
                    flusher.error_log.notice("gracefully shutting down");
                    flusher.start_drain();
                    quit_since = Some(std::time::Instant::now());
                }
                if quit_since.is_some() {
                    flusher.idle.borrow_mut().close_quiet_keep_alive();
                }
                let drained = quit_since.is_some_and(|since| {
                    (flusher.accepting.get() == 0 && flusher.active.get() == 0)
                        || flusher
                            .snapshot
                            .load()
                            .config
                            .main
                            .worker_shutdown_timeout
                            .is_some_and(|limit| since.elapsed() >= limit)
                });
                if drained || signals.stop.load(Ordering::Relaxed) {
                    flusher.error_log.notice("exiting");
                    flusher.access_logs.flush();
                    // Requests cut off here never end: their limit_conn counts go now.
                    limits::release_all();
                    std::process::exit(0);
                }
            }
        });
        for t in tasks {
            t.await;
        }
        // The accept loops end only for a graceful shutdown; the signal task exits
        // the process once the connections in flight are done.
        loop {
            monoio::time::sleep(SIGNAL_POLL).await;
        }
    })
}

/// How often the worker looks at the signal flags.
const SIGNAL_POLL: std::time::Duration = std::time::Duration::from_millis(100);

/// Flags set by signal handlers (signal-hook: async-signal-safe stores only).
struct Signals {
    /// TERM or INT: flush the logs and exit now.
    stop: Arc<AtomicBool>,
    /// QUIT: graceful shutdown — finish what is in flight, then exit.
    quit: Arc<AtomicBool>,
    /// USR1: reopen the log files (after logrotate moved them).
    reopen: Arc<AtomicBool>,
    /// HUP: a reload was asked for; caught so it does not end the process.
    reload: Arc<AtomicBool>,
}

impl Signals {
    fn register() -> std::io::Result<Signals> {
        let stop = Arc::new(AtomicBool::new(false));
        let reopen = Arc::new(AtomicBool::new(false));
        for sig in [signal_hook::consts::SIGTERM, signal_hook::consts::SIGINT] {
            signal_hook::flag::register(sig, Arc::clone(&stop))?;
        }
        let quit = Arc::new(AtomicBool::new(false));
        signal_hook::flag::register(signal_hook::consts::SIGQUIT, Arc::clone(&quit))?;
        signal_hook::flag::register(signal_hook::consts::SIGUSR1, Arc::clone(&reopen))?;
        let reload = Arc::new(AtomicBool::new(false));
        signal_hook::flag::register(signal_hook::consts::SIGHUP, Arc::clone(&reload))?;
        Ok(Signals {
            stop,
            quit,
            reopen,
            reload,
        })
    }
}

/// Keeps a worker within `worker_connections`: at the limit, the oldest idle
/// connection is closed for the new one; with none idle, the new one is refused (false)
/// and nginx's alert logged.
fn make_room(worker: &Worker) -> bool {
    let limit = worker.snapshot.load().config.main.worker_connections as usize;
    if worker.active.get() < limit {
        return true;
    }
    if worker.idle.borrow_mut().close_oldest() {
        let second = crate::sys::coarse_monotonic().as_secs();
        if worker.reuse_warned.replace(second) != second {
            worker.error_log.warn(&format!(
                "{limit} worker_connections are not enough, reusing connections"
            ));
        }
        return true;
    }
    worker.error_log.log(
        crate::config::model::LogLevel::Alert,
        None,
        &format!("{limit} worker_connections are not enough"),
    );
    false
}

/// How long to pause accepting after an error such as EMFILE, so the loop does not spin.
const ACCEPT_ERROR_PAUSE: std::time::Duration = std::time::Duration::from_millis(100);

async fn accept_loop(
    worker: Rc<Worker>,
    addr: crate::config::model::ListenAddr,
    listener: Listener,
) {
    worker.accepting.set(worker.accepting.get() + 1);
    loop {
        // A cancelled handle does not stop an accept that finds a connection already
        // queued, so the loop itself checks.
        if worker.draining.get() {
            worker
                .accepting
                .set(worker.accepting.get().saturating_sub(1));
            return;
        }
        match listener.accept(&addr, worker.drain_handle()).await {
            Ok((stream, peer)) => {
                if !make_room(&worker) {
                    drop(stream);
                    continue;
                }
                let id = worker.connection_id();
                let active = connection::Active::enter(&worker);
                monoio::spawn(connection::serve(
                    Rc::clone(&worker),
                    stream,
                    peer,
                    id,
                    active,
                ));
            }
            Err(_) if worker.draining.get() => {
                worker
                    .accepting
                    .set(worker.accepting.get().saturating_sub(1));
                return;
            }
            Err(e) => {
                let errno = e.raw_os_error().unwrap_or(0);
                worker.error_log.error(
                    None,
                    &format!(
                        "accept() failed ({errno}: {}) on {addr}",
                        crate::sys::strerror(errno)
                    ),
                );
                monoio::time::sleep(ACCEPT_ERROR_PAUSE).await;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_ring_setup_builds_a_ring() {
        // Deferred task work where the kernel has it, a plain ring otherwise; either
        // way the builder handed to monoio works (where io_uring exists at all).
        if monoio::utils::detect_uring() {
            assert!(uring_setup().build(8).is_ok());
        }
    }
}

//! Idle keep-alive connections to upstream servers, per worker and per address:
//! last in, first out (the most recently used connection is the least likely to have
//! been closed by the upstream), dropped after `keepalive_timeout` idle or
//! `keepalive_requests` uses. No locks: a worker is one thread.
//!
//! `keepalive N` bounds the connections that stay idle. A burst of more than N
//! requests at once needs more than N connections; when they come back together,
//! closing all but N at once only to open new ones at the next burst cost a proxy
//! at 50 clients over `keepalive 32` a new connection for one request in seven, and
//! 3.7 µs of kernel time per request (docs/performance.md). So connections beyond N
//! may stay while they were returned within the last [`SURPLUS_GRACE`]; the oldest
//! are closed as soon as they idle longer, on the next return to the pool or at the
//! worker's next [`Pool::trim`], whichever comes first.
//!
//! Times are read from the coarse monotonic clock ([`crate::sys::coarse_monotonic`]):
//! a take and a put on every proxied request cost a clock read each, and idle limits
//! of 100 ms and more do not need nanoseconds.

use std::time::Duration;

use crate::config::model::UpstreamAddr;
use crate::net::stream::Stream;

/// Upstream keep-alive settings for a target: `keepalive`, `keepalive_timeout`,
/// `keepalive_requests`.
#[derive(Debug, Clone, Copy)]
pub struct KeepAlive {
    pub max_idle: u32,
    pub idle_timeout: Duration,
    pub max_requests: u32,
}

/// How long a connection beyond `keepalive` may idle before it is closed.
pub const SURPLUS_GRACE: Duration = Duration::from_millis(100);

#[derive(Debug)]
struct Idle<S> {
    stream: S,
    /// When it was put back, on the coarse monotonic clock.
    since: Duration,
    requests: u32,
}

/// One address's idle connections, oldest first, with the limits they were put
/// back under (a reload may change them; the latest return's limits hold).
#[derive(Debug)]
struct Shelf<S> {
    idle: Vec<Idle<S>>,
    max_idle: usize,
    idle_timeout: Duration,
}

impl<S> Shelf<S> {
    /// Closes the connections idle past `idle_timeout`, and the oldest of those
    /// beyond `max_idle` that idled past [`SURPLUS_GRACE`]. Oldest are at the front.
    fn trim(&mut self, now: Duration) {
        let stale = |idle: &Idle<S>, limit: Duration| now.saturating_sub(idle.since) > limit;
        let expired = self
            .idle
            .iter()
            .take_while(|idle| stale(idle, self.idle_timeout))
            .count();
        let beyond = self.idle.len().saturating_sub(self.max_idle);
        let surplus = self
            .idle
            .iter()
            .take(beyond)
            .take_while(|idle| stale(idle, SURPLUS_GRACE))
            .count();
        let close = expired.max(surplus);
        if close > 0 {
            self.idle.drain(..close);
        }
    }
}

/// A worker's idle upstream connections (`S` is a stream; other types in tests).
#[derive(Debug)]
pub struct Pool<S = Stream> {
    shelves: crate::fast_hash::FastMap<UpstreamAddr, Shelf<S>>,
}

impl<S> Default for Pool<S> {
    fn default() -> Self {
        Pool {
            shelves: Default::default(),
        }
    }
}

/// A connection taken from the pool, with how many requests it has carried.
#[derive(Debug)]
pub struct Pooled<S = Stream> {
    pub stream: S,
    pub requests: u32,
}

impl<S> Pool<S> {
    pub fn new() -> Pool<S> {
        Pool::default()
    }

    /// The most recent idle connection to `addr` that has not idled past `idle_timeout`.
    pub fn take(
        &mut self,
        addr: &UpstreamAddr,
        now: Duration,
        idle_timeout: Duration,
    ) -> Option<Pooled<S>> {
        let shelf = self.shelves.get_mut(addr)?;
        while let Some(idle) = shelf.idle.pop() {
            if now.saturating_sub(idle.since) <= idle_timeout {
                return Some(Pooled {
                    stream: idle.stream,
                    requests: idle.requests,
                });
            }
            // Expired: dropped here, which closes it.
        }
        None
    }

    /// Returns a connection after a complete exchange. It is closed instead when it has
    /// carried `max_requests` or `max_idle` is 0; connections beyond `max_idle` are
    /// closed once they idle past [`SURPLUS_GRACE`].
    pub fn put(
        &mut self,
        addr: &UpstreamAddr,
        stream: S,
        requests: u32,
        ka: &KeepAlive,
        now: Duration,
    ) {
        if ka.max_idle == 0 || requests >= ka.max_requests {
            return;
        }
        let shelf = self.shelves.entry(addr.clone()).or_insert_with(|| Shelf {
            idle: Vec::new(),
            max_idle: 0,
            idle_timeout: ka.idle_timeout,
        });
        shelf.max_idle = usize::try_from(ka.max_idle).unwrap_or(usize::MAX);
        shelf.idle_timeout = ka.idle_timeout;
        shelf.idle.push(Idle {
            stream,
            since: now,
            requests,
        });
        shelf.trim(now);
    }

    /// Closes what idled too long, on every address; the worker calls it periodically
    /// so that nothing waits for the next request to that address to be closed.
    pub fn trim(&mut self, now: Duration) {
        for shelf in self.shelves.values_mut() {
            shelf.trim(now);
        }
    }

    /// Idle connections to `addr`.
    #[cfg(test)]
    fn idle(&self, addr: &UpstreamAddr) -> usize {
        self.shelves.get(addr).map_or(0, |s| s.idle.len())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const LIMITS: KeepAlive = KeepAlive {
        max_idle: 2,
        idle_timeout: Duration::from_secs(60),
        max_requests: 1000,
    };

    fn addr() -> UpstreamAddr {
        UpstreamAddr::Tcp("127.0.0.1:8000".parse().unwrap())
    }

    /// The stream `take` hands out at `now` under [`LIMITS`], if any.
    fn taken(pool: &mut Pool<i32>, now: Duration) -> Option<i32> {
        pool.take(&addr(), now, LIMITS.idle_timeout)
            .map(|p| p.stream)
    }

    #[test]
    fn the_newest_connection_is_taken_first() {
        let (mut pool, t0) = (Pool::new(), Duration::from_secs(1000));
        pool.put(&addr(), 1, 0, &LIMITS, t0);
        pool.put(&addr(), 2, 0, &LIMITS, t0);
        assert_eq!(taken(&mut pool, t0), Some(2));
        assert_eq!(taken(&mut pool, t0), Some(1));
        assert_eq!(taken(&mut pool, t0), None);
    }

    #[test]
    fn a_burst_beyond_keepalive_stays_for_the_grace_then_the_oldest_go() {
        let (mut pool, t0) = (Pool::new(), Duration::from_secs(1000));
        for s in 0..5 {
            pool.put(&addr(), s, 0, &LIMITS, t0);
        }
        assert_eq!(
            pool.idle(&addr()),
            5,
            "returned together: all kept for the grace"
        );
        pool.trim(t0 + SURPLUS_GRACE);
        assert_eq!(pool.idle(&addr()), 5, "not yet past the grace");
        pool.trim(t0 + SURPLUS_GRACE + Duration::from_millis(1));
        assert_eq!(pool.idle(&addr()), 2, "past it: back to keepalive");
        assert_eq!(taken(&mut pool, t0), Some(4));
        assert_eq!(taken(&mut pool, t0), Some(3));
    }

    #[test]
    fn a_return_closes_the_surplus_that_idled_past_the_grace() {
        let (mut pool, t0) = (Pool::new(), Duration::from_secs(1000));
        for s in 0..4 {
            pool.put(&addr(), s, 0, &LIMITS, t0);
        }
        let later = t0 + SURPLUS_GRACE * 2;
        pool.put(&addr(), 9, 0, &LIMITS, later);
        // keepalive 2: the newest return and the newest of the old ones remain.
        assert_eq!(pool.idle(&addr()), 2);
        assert_eq!(taken(&mut pool, later), Some(9));
        assert_eq!(taken(&mut pool, later), Some(3));
    }

    #[test]
    fn keepalive_timeout_and_requests_close_connections() {
        let (mut pool, t0) = (Pool::new(), Duration::from_secs(1000));
        let limits = KeepAlive {
            max_idle: 8,
            idle_timeout: Duration::from_secs(1),
            max_requests: 3,
        };
        pool.put(&addr(), 1, 3, &limits, t0);
        assert_eq!(pool.idle(&addr()), 0, "keepalive_requests reached");
        pool.put(&addr(), 2, 0, &limits, t0);
        pool.trim(t0 + Duration::from_millis(999));
        assert_eq!(pool.idle(&addr()), 1);
        pool.trim(t0 + Duration::from_millis(1001));
        assert_eq!(
            pool.idle(&addr()),
            0,
            "closed at keepalive_timeout without a request"
        );
        pool.put(&addr(), 3, 0, &limits, t0);
        assert!(pool
            .take(&addr(), t0 + Duration::from_secs(2), limits.idle_timeout)
            .is_none());
    }

    #[test]
    fn keepalive_0_keeps_nothing() {
        let (mut pool, t0) = (Pool::new(), Duration::from_secs(1000));
        let none = KeepAlive {
            max_idle: 0,
            ..LIMITS
        };
        pool.put(&addr(), 1, 0, &none, t0);
        assert_eq!(pool.idle(&addr()), 0);
    }
}

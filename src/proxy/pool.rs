//! Idle keep-alive connections to upstream servers, per worker and per address:
//! last in, first out (the most recently used connection is the least likely to have
//! been closed by the upstream), bounded by `keepalive`, dropped after
//! `keepalive_timeout` idle or `keepalive_requests` uses. No locks: a worker is one
//! thread.

use std::time::{Duration, Instant};

use crate::config::model::UpstreamAddr;
use crate::worker::stream::Stream;

#[derive(Debug)]
struct Idle {
    stream: Stream,
    since: Instant,
    requests: u32,
}

/// A worker's idle upstream connections.
#[derive(Debug, Default)]
pub struct Pool {
    idle: crate::fast_hash::FastMap<UpstreamAddr, Vec<Idle>>,
}

/// A connection taken from the pool, with how many requests it has carried.
#[derive(Debug)]
pub struct Pooled {
    pub stream: Stream,
    pub requests: u32,
}

impl Pool {
    pub fn new() -> Pool {
        Pool::default()
    }

    /// The most recent idle connection to `addr` that has not idled past `idle_timeout`.
    pub fn take(
        &mut self,
        addr: &UpstreamAddr,
        now: Instant,
        idle_timeout: Duration,
    ) -> Option<Pooled> {
        let list = self.idle.get_mut(addr)?;
        while let Some(idle) = list.pop() {
            if now.saturating_duration_since(idle.since) <= idle_timeout {
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
    /// carried `max_requests` or the address already holds `max_idle` connections.
    pub fn put(
        &mut self,
        addr: &UpstreamAddr,
        stream: Stream,
        requests: u32,
        max_idle: u32,
        max_requests: u32,
        now: Instant,
    ) {
        if max_idle == 0 || requests >= max_requests {
            return;
        }
        let list = self.idle.entry(addr.clone()).or_default();
        if list.len() >= usize::try_from(max_idle).unwrap_or(usize::MAX) {
            // Drop the oldest to make room for the newest (LIFO keeps the fresh ones).
            list.remove(0);
        }
        list.push(Idle {
            stream,
            since: now,
            requests,
        });
    }
}

//! `upstream NAME { ... }` groups.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use crate::config::source::Span;

/// Idle upstream connections cached per worker and address when `keepalive` is not set.
pub const DEFAULT_UPSTREAM_KEEPALIVE: u32 = 32;

/// How a group picks a server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Balance {
    /// Weighted round robin (the default).
    RoundRobin,
    /// `least_conn;`
    LeastConn,
    /// `ip_hash;`: by the client's address (its first three octets for IPv4).
    IpHash,
    /// `hash KEY [consistent];`
    Hash {
        key: crate::config::template::Template,
        consistent: bool,
    },
    /// `random [two [least_conn]];`: weighted random, or the less busy of two.
    Random { two: bool },
}

impl Balance {
    /// Whether the method allows `backup` servers (round robin and least_conn only,
    /// as nginx).
    pub fn allows_backup(&self) -> bool {
        matches!(self, Balance::RoundRobin | Balance::LeastConn)
    }
}

/// Where an upstream server listens. A host name is resolved at load time, as nginx
/// does, and may give several addresses.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum UpstreamAddr {
    Tcp(SocketAddr),
    Unix(PathBuf),
}

impl std::fmt::Display for UpstreamAddr {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            UpstreamAddr::Tcp(a) => write!(f, "{a}"),
            UpstreamAddr::Unix(p) => write!(f, "unix:{}", p.display()),
        }
    }
}

/// `server ADDR [weight=N] [max_fails=N] [fail_timeout=T] [backup] [down];`
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UpstreamServer {
    /// The address as written (`app.internal:8000`), for logs.
    pub name: String,
    pub addr: UpstreamAddr,
    pub weight: u32,
    pub max_fails: u32,
    pub fail_timeout: Duration,
    pub backup: bool,
    pub down: bool,
    pub span: Span,
}

/// An `upstream` block.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Upstream {
    pub name: String,
    /// One entry per resolved address.
    pub servers: Vec<UpstreamServer>,
    pub balance: Balance,
    /// `keepalive N`: idle connections cached per worker and per address. Unlike nginx,
    /// vestibule keeps upstream connections alive by default (DESIGN.md §3), with
    /// [`DEFAULT_UPSTREAM_KEEPALIVE`] when the directive is absent; `keepalive 0;` turns
    /// the cache off.
    pub keepalive: u32,
    /// `keepalive_timeout` (default 60s).
    pub keepalive_timeout: Duration,
    /// `keepalive_requests` (default 1000).
    pub keepalive_requests: u32,
    pub span: Span,
}

//! The http context: servers, their listen addresses and names, MIME types, log formats.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use crate::pcre::Pcre;

use super::location::{Location, LocationConf};
use super::upstream::Upstream;
use crate::config::source::Span;
use crate::config::template::Template;

/// A listen address.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ListenAddr {
    Tcp(SocketAddr),
    Unix(PathBuf),
}

impl std::fmt::Display for ListenAddr {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ListenAddr::Tcp(a) => write!(f, "{a}"),
            ListenAddr::Unix(p) => write!(f, "unix:{}", p.display()),
        }
    }
}

/// `listen ADDR [default_server] [ssl] [SOCKET OPTIONS];`
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Listen {
    pub addr: ListenAddr,
    pub default_server: bool,
    /// `ssl`: connections to this address speak TLS (for every server on it, as
    /// nginx: one `listen ... ssl` makes the address a TLS one).
    pub ssl: bool,
    /// `http2`: connections to this address may speak HTTP/2 (ALPN `h2` on TLS, the
    /// preface on plain TCP), for every server on it, as nginx before 1.25.1.
    pub http2: bool,
    /// The socket's options, as this `listen` gives them.
    pub options: ListenOptions,
    pub span: Span,
}

/// nginx's default `backlog` on Linux.
pub const DEFAULT_BACKLOG: i32 = 511;

/// The options of a listening socket, from the parameters of `listen`. nginx takes them
/// from one `listen` per address ("duplicate listen options for ..." otherwise), so an
/// address has one set, from the `listen` that gives any ([`ListenOptions::set`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListenOptions {
    /// Whether this `listen` gave any socket option (nginx's `set`); `bind` counts,
    /// and changes nothing else: vestibule binds every address on its own socket.
    pub set: bool,
    /// `backlog=N` (default [`DEFAULT_BACKLOG`]).
    pub backlog: i32,
    /// `reuseport`: accepted; vestibule's sockets always have `SO_REUSEPORT` (one per
    /// worker, docs/processes.md).
    pub reuseport: bool,
    /// `ipv6only=on|off` (default on, nginx's since 1.3.4): `IPV6_V6ONLY`, whether an
    /// IPv6 socket takes only IPv6 connections or IPv4 ones too (as `::ffff:a.b.c.d`).
    /// No effect on IPv4 and unix sockets.
    pub ipv6only: bool,
    /// `rcvbuf=SIZE`: `SO_RCVBUF`.
    pub rcvbuf: Option<i32>,
    /// `sndbuf=SIZE`: `SO_SNDBUF`.
    pub sndbuf: Option<i32>,
    /// `deferred`: `TCP_DEFER_ACCEPT` (a connection is handed over once data arrives).
    pub deferred: bool,
    /// `fastopen=N`: `TCP_FASTOPEN` with a queue of N.
    pub fastopen: Option<i32>,
    /// `so_keepalive=on|off|[IDLE]:[INTERVAL]:[COUNT]`.
    pub keepalive: Option<SoKeepalive>,
}

impl Default for ListenOptions {
    fn default() -> Self {
        ListenOptions {
            set: false,
            backlog: DEFAULT_BACKLOG,
            reuseport: false,
            ipv6only: true,
            rcvbuf: None,
            sndbuf: None,
            deferred: false,
            fastopen: None,
            keepalive: None,
        }
    }
}

/// `so_keepalive=`: TCP keepalive on accepted connections (they inherit it from the
/// listening socket).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SoKeepalive {
    /// `off`: `SO_KEEPALIVE` 0.
    Off,
    /// `on` (the system's timers), or `IDLE:INTERVAL:COUNT` with any part left out:
    /// `SO_KEEPALIVE` 1 and `TCP_KEEPIDLE` (seconds), `TCP_KEEPINTVL` (seconds),
    /// `TCP_KEEPCNT` for the parts given.
    On {
        idle: Option<u32>,
        interval: Option<u32>,
        count: Option<u32>,
    },
}

/// One `server_name` entry, classified as nginx classifies it.
#[derive(Debug, Clone)]
pub enum ServerName {
    /// `example.com`, `_`, or `""` (matches a request with no Host). Lowercased.
    Exact(String),
    /// `*.example.com` stored as `.example.com`; `.example.com` is also an exact name.
    LeadingWildcard(String),
    /// `example.*` stored as `example.`.
    TrailingWildcard(String),
    /// `~^(?<sub>.+)\.example\.com$`.
    Regex { regex: Pcre, source: String },
}

impl ServerName {
    /// The name as written in the configuration.
    pub fn source(&self) -> String {
        match self {
            ServerName::Exact(s) => s.clone(),
            ServerName::LeadingWildcard(s) => format!("*{s}"),
            ServerName::TrailingWildcard(s) => format!("{s}*"),
            ServerName::Regex { source, .. } => format!("~{source}"),
        }
    }
}

impl PartialEq for ServerName {
    fn eq(&self, other: &Self) -> bool {
        self.source() == other.source()
    }
}

/// `log_format NAME [escape=default|json|none] STRING...;`
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogFormat {
    pub name: String,
    pub escape: LogEscape,
    pub template: Template,
}

/// How variable values are escaped in an access log line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogEscape {
    /// `"`, `\` and bytes < 32 or > 126 as `\xHH` (nginx's default).
    Default,
    Json,
    None,
}

/// A `server { }` block.
#[derive(Debug, Clone)]
pub struct Server {
    /// At least one: nginx's default is `*:80` as root and `*:8000` otherwise.
    pub listen: Vec<Listen>,
    /// At least one: the default is `""`.
    pub server_names: Vec<ServerName>,
    /// `client_header_buffer_size` (default 1k).
    pub client_header_buffer_size: u64,
    /// `large_client_header_buffers NUMBER SIZE` (default 4 8k).
    pub large_client_header_buffers: (u32, u64),
    /// `client_header_timeout` (default 60s).
    pub client_header_timeout: Duration,
    /// `underscores_in_headers` (default off). Like the three above, read from the
    /// default server of the listening socket, as nginx reads it.
    pub underscores_in_headers: bool,
    /// `ignore_invalid_headers` (default on); read as `underscores_in_headers` is.
    pub ignore_invalid_headers: bool,
    /// The server-level rewrite directives (`return`, `rewrite`, `if`, `set`,
    /// `break`), which nginx runs before any location is chosen, and again after an
    /// internal redirect to a URI.
    pub rewrite: Option<Arc<super::Script>>,
    /// What applies when no location matches: the server level merged over http.
    pub conf: Arc<LocationConf>,
    /// Top-level locations in configuration order (named ones included).
    pub locations: Vec<Location>,
    /// The TLS settings and certificates, used when a connection to a `listen ... ssl`
    /// address chooses this server (by SNI, or as the address's default).
    pub tls: Arc<super::tls::ServerTls>,
    /// `http2` and the `http2_*` settings.
    pub http2: super::http2::Http2Conf,
    pub span: Span,
}

impl Server {
    /// The first name, which `$server_name` gives.
    pub fn primary_name(&self) -> String {
        self.server_names
            .first()
            .map(ServerName::source)
            .unwrap_or_default()
    }
}

/// The http context.
#[derive(Debug, Clone)]
pub struct HttpConfig {
    pub servers: Vec<Server>,
    pub upstreams: Vec<Upstream>,
    pub log_formats: HashMap<String, LogFormat>,
    /// `limit_req_zone` and `limit_conn_zone`.
    pub limit_zones: Vec<super::limits::LimitZone>,
    /// `proxy_cache_path`: the caches and their keys zones.
    pub cache_paths: Vec<super::cache::CachePath>,
    /// `match` blocks, by name.
    pub matches: Vec<super::health::Match>,
    /// The upstream groups with a `health_check`, one each.
    pub health_checks: Vec<super::health::GroupCheck>,
}

impl HttpConfig {
    pub fn upstream(&self, name: &str) -> Option<&Upstream> {
        self.upstreams.iter().find(|u| u.name == name)
    }

    /// The settings of every server and every location, nested ones included (what
    /// the master prepares files for).
    pub fn location_confs(&self) -> Vec<&Arc<LocationConf>> {
        let mut out = Vec::new();
        let mut stack: Vec<&Location> = Vec::new();
        for server in &self.servers {
            out.push(&server.conf);
            stack.extend(server.locations.iter());
        }
        while let Some(location) = stack.pop() {
            out.push(&location.conf);
            stack.extend(location.locations.iter());
        }
        out
    }
}

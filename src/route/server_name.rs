//! Server selection: the connection's local address picks a group of servers, the
//! normalised `Host` picks one of them, in nginx's order (`ngx_http_find_virtual_server`
//! over the names of the address the connection came in on).
//!
//! Sits in the data path after head parsing (and [`super::normalize_host`]) and before
//! location selection. Lookups are hash probes and slices of the host: no allocation,
//! except the captures of a regex name with groups.

use crate::fast_hash::FastMap;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use super::captures::{Captures, CompiledRegex, RegexMatch};
use super::ServerId;
use crate::config::model::{ListenAddr, Server, ServerName};

/// How the server of a request was chosen, for debug logs and tests.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NameMatch {
    /// `server_name example.com` (also `""` for a request without `Host`).
    Exact,
    /// `server_name *.example.com`, the longest one that matches.
    LeadingWildcard,
    /// `server_name www.example.*`, the longest one that matches.
    TrailingWildcard,
    /// `server_name ~...`, the first in configuration order that matches.
    Regex,
    /// No name matched: the server marked `listen ... default_server` on this address.
    DefaultServer,
    /// No name matched and no `default_server`: the first server listening here.
    FirstServer,
}

/// The server that answers a request.
#[derive(Debug, Clone)]
pub struct ServerMatch {
    /// Index into `HttpConfig::servers`.
    pub server: ServerId,
    pub by: NameMatch,
    /// Captures of a regex `server_name` with groups (`$1`, `$sub`).
    pub captures: Option<Captures>,
}

/// The names of one address: nginx's "virtual names" of an `ngx_http_addr_conf_t`.
#[derive(Debug, Default)]
struct NameTable {
    exact: FastMap<Box<str>, ServerId>,
    /// `*.example.com` keyed `.example.com`.
    leading: FastMap<Box<str>, ServerId>,
    /// `www.example.*` keyed `www.example.`.
    trailing: FastMap<Box<str>, ServerId>,
    /// In configuration order.
    regexes: Vec<(CompiledRegex, ServerId)>,
}

/// The servers that listen on one address, and how a host chooses among them.
#[derive(Debug)]
pub struct ListenGroup {
    names: NameTable,
    /// The first server that listens here, until a `default_server` is seen.
    default: ServerId,
    default_is_explicit: bool,
    /// Some server's `listen ... ssl` names this address: connections speak TLS.
    ssl: bool,
    /// HTTP/2 is offered here: some `listen ... http2` names this address, or a
    /// server on it has `http2 on`.
    http2: bool,
}

impl ListenGroup {
    fn new(first: ServerId) -> ListenGroup {
        ListenGroup {
            names: NameTable::default(),
            default: first,
            default_is_explicit: false,
            ssl: false,
            http2: false,
        }
    }

    /// Adds a server's names; a name already claimed on this address keeps its first
    /// server, as nginx does after warning "conflicting server name".
    fn add(&mut self, id: ServerId, server: &Server, default_server: bool) {
        if default_server && !self.default_is_explicit {
            self.default = id;
            self.default_is_explicit = true;
        }
        for name in &server.server_names {
            match name {
                ServerName::Exact(n) => claim(&mut self.names.exact, n, id),
                ServerName::LeadingWildcard(n) => claim(&mut self.names.leading, n, id),
                ServerName::TrailingWildcard(n) => claim(&mut self.names.trailing, n, id),
                ServerName::Regex { regex, .. } => {
                    self.names.regexes.push((CompiledRegex::new(regex), id));
                }
            }
        }
    }

    /// Whether connections to this address speak TLS.
    pub fn ssl(&self) -> bool {
        self.ssl
    }

    /// Whether connections to this address may speak HTTP/2.
    pub fn http2(&self) -> bool {
        self.http2
    }

    /// The server `listen ... default_server` names here, or the first one listening.
    pub fn default_server(&self) -> ServerId {
        self.default
    }

    /// Chooses the server for a normalised host ([`super::normalize_host`]); `None` is a
    /// request without `Host` (HTTP/1.0), which matches the name `""`.
    ///
    /// Order: exact name; longest `*.` wildcard; longest `.*` wildcard; first regex
    /// (not tried for an empty host, as in nginx); the default server.
    pub fn select(&self, host: Option<&str>) -> ServerMatch {
        let host = host.unwrap_or("");
        let names = &self.names;
        let found = |server: ServerId, by: NameMatch| ServerMatch {
            server,
            by,
            captures: None,
        };
        if let Some(&id) = names.exact.get(host) {
            return found(id, NameMatch::Exact);
        }
        if !names.leading.is_empty() {
            // Suffixes starting at each dot, left to right: longest first.
            for (i, _) in host.match_indices('.') {
                if let Some(&id) = host.get(i..).and_then(|s| names.leading.get(s)) {
                    return found(id, NameMatch::LeadingWildcard);
                }
            }
        }
        if !names.trailing.is_empty() {
            // Prefixes ending at each dot, right to left: longest first.
            for (i, _) in host.rmatch_indices('.') {
                if let Some(&id) = host.get(..=i).and_then(|s| names.trailing.get(s)) {
                    return found(id, NameMatch::TrailingWildcard);
                }
            }
        }
        if !host.is_empty() {
            for (regex, id) in &names.regexes {
                if let RegexMatch::Match(captures) = regex.exec(host) {
                    return ServerMatch {
                        server: *id,
                        by: NameMatch::Regex,
                        captures,
                    };
                }
            }
        }
        let by = if self.default_is_explicit {
            NameMatch::DefaultServer
        } else {
            NameMatch::FirstServer
        };
        found(self.default, by)
    }
}

fn claim(map: &mut FastMap<Box<str>, ServerId>, name: &str, id: ServerId) {
    map.entry(Box::from(name)).or_insert(id);
}

/// Every listen address of the configuration with its group.
#[derive(Debug, Default)]
pub(crate) struct ListenGroups {
    by_addr: FastMap<ListenAddr, ListenGroup>,
}

impl ListenGroups {
    pub(crate) fn compile(servers: &[Server]) -> ListenGroups {
        let mut by_addr: FastMap<ListenAddr, ListenGroup> = FastMap::default();
        for (i, server) in servers.iter().enumerate() {
            let id = ServerId(i);
            for listen in &server.listen {
                by_addr
                    .entry(key(&listen.addr))
                    .or_insert_with(|| ListenGroup::new(id))
                    .add(id, server, listen.default_server);
                if let Some(group) = by_addr.get_mut(&key(&listen.addr)) {
                    group.ssl |= listen.ssl;
                    group.http2 |= listen.http2 || server.http2.enabled;
                }
            }
        }
        ListenGroups { by_addr }
    }

    /// The group for a connection's local address (`getsockname` of the accepted
    /// socket): the servers that listen on exactly that address if any, otherwise those
    /// on the wildcard address of the same port and family. Unix sockets by path.
    pub(crate) fn find(&self, local: &ListenAddr) -> Option<&ListenGroup> {
        match local {
            ListenAddr::Unix(_) => self.by_addr.get(local),
            ListenAddr::Tcp(addr) => {
                let exact = ListenAddr::Tcp(SocketAddr::new(addr.ip(), addr.port()));
                self.by_addr.get(&exact).or_else(|| {
                    let any = match addr.ip() {
                        IpAddr::V4(_) => IpAddr::V4(Ipv4Addr::UNSPECIFIED),
                        IpAddr::V6(_) => IpAddr::V6(Ipv6Addr::UNSPECIFIED),
                    };
                    let wildcard = ListenAddr::Tcp(SocketAddr::new(any, addr.port()));
                    self.by_addr.get(&wildcard)
                })
            }
        }
    }

    pub(crate) fn addresses(&self) -> impl Iterator<Item = &ListenAddr> + '_ {
        self.by_addr.keys()
    }
}

/// An address as a map key: IPv6 flow info and scope id do not tell listeners apart.
fn key(addr: &ListenAddr) -> ListenAddr {
    match addr {
        ListenAddr::Tcp(a) => ListenAddr::Tcp(SocketAddr::new(a.ip(), a.port())),
        ListenAddr::Unix(p) => ListenAddr::Unix(p.clone()),
    }
}

//! Routing: which server and which location answer a request.
//!
//! ```text
//! accept ─► read head ─► validate ─► route ─► handler
//!                                     │
//!              local addr + Host ─────┤ select_server   (server_name.rs, host.rs)
//!              URI path ──────────────┘ select_location (location.rs)
//! ```
//!
//! A [`Router`] is compiled once per configuration, next to it: it holds indices into
//! `HttpConfig::servers` and clones of the locations' `Arc<LocationConf>`, never
//! references into the configuration, so a worker can keep `Arc<(Config, Router)>` in
//! its `ArcSwap` and swap both together on reload. Every lookup is pure and allocates
//! nothing, except the [`Captures`] of a winning regex that has capture groups.
//!
//! What stays with the caller: answering 400 when [`normalize_host`] gives `None`; a
//! server-level `return` (nginx runs it before any location is chosen); 404 for an
//! `internal` location reached by an external request; building the `301` target
//! (`path/` plus the query string) for [`LocationOutcome::Redirect`]; and keeping
//! earlier captures when a later regex matches without groups.

mod alias;
mod captures;
mod host;
mod location;
mod server_name;
#[cfg(test)]
mod tests;

use std::collections::HashMap;
use std::sync::Arc;

pub use alias::AliasScope;
pub use captures::{exec_script_regex, Captures};
pub use host::normalize_host;
pub use server_name::{ListenGroup, NameMatch, ServerMatch};

use crate::config::model::{
    Config, HttpConfig, ListenAddr, Location, LocationConf, LocationMatch, Server,
};
use location::{find_location, Level, LevelItem, Node, Step};
use server_name::ListenGroups;

/// A server of the configuration: its index in `HttpConfig::servers`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ServerId(usize);

impl ServerId {
    pub fn index(self) -> usize {
        self.0
    }

    /// The server in the configuration this router was compiled from.
    pub fn get(self, http: &HttpConfig) -> Option<&Server> {
        http.servers.get(self.0)
    }
}

/// A location known to a [`Router`] (any level, named ones included).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct LocationId(usize);

impl LocationId {
    pub fn index(self) -> usize {
        self.0
    }
}

/// What the handler needs of a location, owned by the router.
#[derive(Debug)]
pub struct RoutedLocation {
    pub id: LocationId,
    pub server: ServerId,
    /// Indices from `Server::locations` down through nested `Location::locations`.
    pub tree_path: Box<[usize]>,
    pub matcher: LocationMatch,
    /// `internal;`: the caller answers 404 when an external request lands here.
    pub internal: bool,
    pub auto_redirect: bool,
    pub conf: Arc<LocationConf>,
    /// What part of the URI the `alias` in force replaces (unused under `root`).
    pub alias_scope: AliasScope,
}

impl RoutedLocation {
    /// The location block in the configuration this router was compiled from (for its
    /// span in log lines).
    pub fn resolve<'c>(&self, http: &'c HttpConfig) -> Option<&'c Location> {
        let server = self.server.get(http)?;
        let (first, rest) = self.tree_path.split_first()?;
        let mut location = server.locations.get(*first)?;
        for i in rest {
            location = location.locations.get(*i)?;
        }
        Some(location)
    }
}

/// The result of location selection.
#[derive(Debug)]
pub enum LocationOutcome<'r> {
    /// This location serves the request.
    Location {
        location: &'r RoutedLocation,
        /// Captures of the regex location that matched, when it has groups.
        captures: Option<Captures>,
    },
    /// nginx's auto-redirect: the path is this location's URI without its final `/`;
    /// answer 301 to the path plus `/` (and the query string).
    Redirect(&'r RoutedLocation),
    /// No location matches: the server-level settings (`Server::conf`) apply.
    Server,
}

/// The locations of one server.
#[derive(Debug, Default)]
struct ServerRoutes {
    top: Level,
    named: HashMap<Box<str>, LocationId>,
}

/// Server and location selection for one configuration, compiled once.
#[derive(Debug, Default)]
pub struct Router {
    groups: ListenGroups,
    servers: Vec<ServerRoutes>,
    nodes: Vec<Node>,
}

impl Router {
    /// Compiles the router of an http context. Cannot fail: the builder has already
    /// validated every name, location and regex.
    pub fn compile(http: &HttpConfig) -> Router {
        let mut nodes = Vec::new();
        let servers = http
            .servers
            .iter()
            .enumerate()
            .map(|(i, server)| {
                let mut named = HashMap::new();
                let mut tree_path = Vec::new();
                let cx = &mut Compiling {
                    nodes: &mut nodes,
                    server: ServerId(i),
                    tree_path: &mut tree_path,
                };
                let top = cx.level(&server.locations, Some(&mut named), None);
                ServerRoutes { top, named }
            })
            .collect();
        Router {
            groups: ListenGroups::compile(&http.servers),
            servers,
            nodes,
        }
    }

    /// The router of a whole configuration; one without `http` routes nothing.
    pub fn from_config(config: &Config) -> Router {
        config
            .http
            .as_ref()
            .map(Router::compile)
            .unwrap_or_default()
    }

    /// The servers of a connection's local address (`getsockname` of the accepted
    /// socket): exactly that address if some server listens there, else the wildcard of
    /// its port and family. `None` when no server listens there at all.
    pub fn listen_group(&self, local: &ListenAddr) -> Option<&ListenGroup> {
        self.groups.find(local)
    }

    /// [`Router::listen_group`] then [`ListenGroup::select`]: `host` is the output of
    /// [`normalize_host`], `None` for a request without `Host`.
    pub fn select_server(&self, local: &ListenAddr, host: Option<&str>) -> Option<ServerMatch> {
        self.groups.find(local).map(|g| g.select(host))
    }

    /// Every address some server listens on.
    pub fn addresses(&self) -> impl Iterator<Item = &ListenAddr> + '_ {
        self.groups.addresses()
    }

    /// The location for a URI path (decoded and normalised, without the query) in
    /// nginx's order; see `location.rs`. Prefix matching is case-sensitive.
    pub fn select_location(&self, server: ServerId, uri_path: &str) -> LocationOutcome<'_> {
        let Some(routes) = self.servers.get(server.0) else {
            return LocationOutcome::Server;
        };
        let (id, captures, redirect) = match find_location(&self.nodes, &routes.top, uri_path) {
            Step::Found { id, captures } => (id, captures, false),
            Step::Prefix(id) => (id, None, false),
            Step::Redirect(id) => (id, None, true),
            Step::Declined => return LocationOutcome::Server,
        };
        match self.location(id) {
            Some(location) if redirect => LocationOutcome::Redirect(location),
            Some(location) => LocationOutcome::Location { location, captures },
            None => LocationOutcome::Server,
        }
    }

    /// A named location (`@fallback`, with the `@`), for `try_files` and `error_page`.
    /// Named locations are never matched by a URI.
    pub fn named(&self, server: ServerId, name: &str) -> Option<&RoutedLocation> {
        let id = self.servers.get(server.0)?.named.get(name)?;
        self.location(*id)
    }

    pub fn location(&self, id: LocationId) -> Option<&RoutedLocation> {
        self.nodes.get(id.0).map(|n| &n.info)
    }
}

/// State of [`Router::compile`] while it walks one server's location tree.
struct Compiling<'a> {
    nodes: &'a mut Vec<Node>,
    server: ServerId,
    tree_path: &'a mut Vec<usize>,
}

impl Compiling<'_> {
    /// Numbers the locations of one level (depth first) and compiles the level. Named
    /// locations go to `named` (only the server level has them).
    fn level(
        &mut self,
        locations: &[Location],
        mut named: Option<&mut HashMap<Box<str>, LocationId>>,
        parent: Option<(&LocationConf, AliasScope)>,
    ) -> Level {
        let mut items = Vec::with_capacity(locations.len());
        for (i, loc) in locations.iter().enumerate() {
            self.tree_path.push(i);
            let id = LocationId(self.nodes.len());
            let alias_scope = AliasScope::of(&loc.matcher, &loc.conf, parent);
            self.nodes.push(Node {
                info: RoutedLocation {
                    id,
                    server: self.server,
                    tree_path: self.tree_path.as_slice().into(),
                    matcher: loc.matcher.clone(),
                    internal: loc.internal,
                    auto_redirect: loc.auto_redirect,
                    conf: Arc::clone(&loc.conf),
                    alias_scope,
                },
                nested: Level::default(),
                no_regex: matches!(loc.matcher, LocationMatch::Prefix { no_regex: true, .. }),
            });
            let nested = self.level(&loc.locations, None, Some((&loc.conf, alias_scope)));
            if let Some(node) = self.nodes.get_mut(id.0) {
                node.nested = nested;
            }
            self.tree_path.pop();
            let auto_redirect = loc.auto_redirect;
            match &loc.matcher {
                LocationMatch::Exact(path) => items.push(LevelItem::Static {
                    path,
                    exact: true,
                    auto_redirect,
                    id,
                }),
                LocationMatch::Prefix { path, .. } => items.push(LevelItem::Static {
                    path,
                    exact: false,
                    auto_redirect,
                    id,
                }),
                LocationMatch::Regex { regex, .. } => items.push(LevelItem::Regex { regex, id }),
                LocationMatch::Named(name) => {
                    if let Some(named) = named.as_deref_mut() {
                        named.entry(Box::from(name.as_str())).or_insert(id);
                    }
                }
            }
        }
        Level::compile(&items)
    }
}

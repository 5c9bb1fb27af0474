//! Which part of a URI an `alias` replaces, worked out once when the router is
//! compiled (nginx's `clcf->alias`). An alias belongs to the location that set it: a
//! nested location that inherits it replaces the *outer* location's prefix
//! (`location /a/ { alias /x/; location /a/b/ {} }` serves `/a/b/f` from `/x/b/f`),
//! and an alias set in a regex location is the whole path, also where it is inherited.
//!
//! Read by the static handler's [`resolve`](crate::static_files::resolve).

use crate::config::model::{DocRoot, LocationConf, LocationMatch};

/// How the `alias` in force in a location maps a URI onto the file system.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AliasScope {
    /// The first `n` bytes of the URI (the prefix, exact or named location that set
    /// the alias) are replaced by it.
    Prefix(usize),
    /// Set in a regex location: the alias (with its captures) is the whole path.
    Whole,
}

impl AliasScope {
    /// The scope of a location's alias: inherited from the enclosing location when
    /// the alias is the one it has (the location does not set its own), else the
    /// location's own.
    pub fn of(
        matcher: &LocationMatch,
        conf: &LocationConf,
        parent: Option<(&LocationConf, AliasScope)>,
    ) -> AliasScope {
        if let Some((outer, scope)) = parent {
            if matches!(conf.root, DocRoot::Alias(_)) && conf.root == outer.root {
                return scope;
            }
        }
        match matcher {
            LocationMatch::Prefix { path, .. } | LocationMatch::Exact(path) => {
                AliasScope::Prefix(path.len())
            }
            LocationMatch::Named(name) => AliasScope::Prefix(name.len()),
            LocationMatch::Regex { .. } => AliasScope::Whole,
        }
    }
}

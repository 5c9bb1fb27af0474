//! `map $source $result { ... }` (nginx's `ngx_http_map_module`) as loaded: a
//! variable whose value is looked up from another one. Built by the `map` row of
//! `config::build`; evaluated by [`crate::exchange`] when a request reads `$result`
//! (see `exchange/map.rs` for the lookup).

use std::collections::HashMap;
use std::fmt;
use std::hash::{Hash, Hasher};
use std::sync::{Arc, OnceLock};

use super::Template;
use crate::config::source::Span;

/// A `map` result as a template refers to it: its slot in a request's cache of map
/// values, and the map, filled once every `map` block is built (a value may name a
/// map written further down).
#[derive(Clone)]
pub struct MapVar {
    pub index: usize,
    pub name: Arc<str>,
    pub slot: Arc<MapSlot>,
}

/// Where a map is kept once built.
#[derive(Debug)]
pub struct MapSlot {
    /// The last `map` block for this variable: as in nginx, a later block replaces an
    /// earlier one.
    pub last: Span,
    pub map: OnceLock<Map>,
}

// A map's values may name the map itself (a cycle): compare and print by name only.
impl fmt::Debug for MapVar {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "MapVar(${})", self.name)
    }
}

impl PartialEq for MapVar {
    fn eq(&self, other: &MapVar) -> bool {
        self.index == other.index
    }
}

impl Eq for MapVar {}

impl Hash for MapVar {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.index.hash(state);
    }
}

/// A built `map` block.
#[derive(Debug)]
pub struct Map {
    /// The value looked up (`$http_upgrade`, or any template such as `$host$uri`).
    pub source: Template,
    /// `volatile`: evaluated at every read, never kept for the request.
    pub volatile: bool,
    /// Whether `hostnames` was written (a trailing dot of the value is dropped).
    pub hostnames: bool,
    /// Exact keys, lowercased, to the index of their value.
    pub exact: HashMap<String, usize>,
    /// `*.example.com` and `.example.com` as the suffix `.example.com`, longest first
    /// (`.example.com` is also the exact key `example.com`).
    pub head_wildcards: Vec<(String, usize)>,
    /// `www.example.*` as the prefix `www.example.`, longest first.
    pub tail_wildcards: Vec<(String, usize)>,
    /// `~regex` and `~*regex`, in the order written.
    pub regexes: Vec<MapRegex>,
    pub values: Vec<Template>,
    /// The value of `default`, by index.
    pub default: Option<usize>,
}

/// One `~regex VALUE` line.
#[derive(Debug)]
pub struct MapRegex {
    pub regex: crate::pcre::Pcre,
    pub value: usize,
}

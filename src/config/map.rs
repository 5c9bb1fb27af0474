//! `map $source $result { ... }` (nginx's `ngx_http_map_module`): a variable whose value
//! is looked up from another one. Built at load time by [`super::build`]'s `map` row;
//! evaluated when a request reads `$result` (a header, a log line, an `if`), once per
//! request unless the map is `volatile` (the exchange keeps the value).
//!
//! The lookup is nginx's `ngx_http_map_find`: the source value, lowercased, against the
//! exact keys; with `hostnames`, a trailing dot dropped first and then the wildcard
//! keys (`*.example.com` and `.example.com`, the longest first; then `www.example.*`);
//! then the regexes in the order written, against the value as it is (an empty value
//! matches no regex). No match gives `default`, or the empty string.

use std::collections::HashMap;
use std::fmt;
use std::hash::{Hash, Hasher};
use std::sync::{Arc, OnceLock};

use super::source::Span;
use super::template::{Template, Variable, VariableSource};
use crate::route::{exec_script_regex, Captures};

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
    pub regex: regex::Regex,
    pub names: Arc<[Option<Box<str>>]>,
    pub value: usize,
}

impl Map {
    /// The value for `subject`, with the captures of the regex that chose it.
    pub fn find(&self, subject: &str) -> Option<(&Template, Option<Captures>)> {
        let subject = match subject.strip_suffix('.') {
            Some(s) if self.hostnames => s,
            _ => subject,
        };
        let low = subject.to_ascii_lowercase();
        let value = |i: usize| self.values.get(i).map(|t| (t, None));
        if let Some(&i) = self.exact.get(&low) {
            return value(i);
        }
        if let Some((_, i)) = self
            .head_wildcards
            .iter()
            .find(|(suffix, _)| low.ends_with(suffix.as_str()) && low.len() > suffix.len())
        {
            return value(*i);
        }
        if let Some((_, i)) = self
            .tail_wildcards
            .iter()
            .find(|(prefix, _)| low.starts_with(prefix.as_str()) && low.len() > prefix.len())
        {
            return value(*i);
        }
        if subject.is_empty() {
            return None;
        }
        self.regexes.iter().find_map(|r| {
            let captures = exec_script_regex(&r.regex, &r.names, subject)?;
            self.values.get(r.value).map(|t| (t, captures))
        })
    }

    /// Appends the map's value for the request `vars` gives the variables of.
    pub fn evaluate(&self, vars: &dyn VariableSource, out: &mut Vec<u8>) {
        let mut source = Vec::new();
        self.source.expand(vars, &mut source);
        let subject = String::from_utf8_lossy(&source);
        match self.find(&subject) {
            Some((value, captures)) => {
                let with = WithCaptures {
                    inner: vars,
                    captures: captures.as_ref(),
                };
                value.expand(&with, out);
            }
            None => {
                if let Some(value) = self.default.and_then(|i| self.values.get(i)) {
                    value.expand(vars, out);
                }
            }
        }
    }
}

/// The request's variables, with `$1`..`$9` and named captures from a map's regex.
struct WithCaptures<'a> {
    inner: &'a dyn VariableSource,
    captures: Option<&'a Captures>,
}

impl VariableSource for WithCaptures<'_> {
    fn write_variable(&self, var: &Variable, out: &mut Vec<u8>) -> bool {
        let Some(captures) = self.captures else {
            return self.inner.write_variable(var, out);
        };
        let found = match var {
            Variable::Capture(i) => captures.get(usize::from(*i)),
            Variable::NamedCapture(name) if captures.has_name(name) => captures.name(name),
            _ => return self.inner.write_variable(var, out),
        };
        match found {
            Some(s) => {
                out.extend_from_slice(s.as_bytes());
                true
            }
            None => false,
        }
    }
}

/// A request's cache of one map's value.
#[derive(Debug, Clone, Default)]
pub enum Cached {
    #[default]
    Unread,
    /// Being evaluated: reading it again is a cycle (nginx's "cycle while evaluating
    /// variable"), which gives no value.
    Evaluating,
    Done(Vec<u8>),
}

//! Location selection inside a server, in nginx's order (`ngx_http_core_find_location`
//! and `ngx_http_core_find_static_location`):
//!
//! 1. Among the exact (`=`) and prefix locations of the level, a location whose URI
//!    equals the request path: `=` stops the search at once; a prefix of that URI is
//!    the longest prefix possible.
//! 2. Otherwise, a location whose URI is the path plus `/` with `auto_redirect`
//!    (a proxied `location /app/` and a request for `/app`): 301 to `path/`. The
//!    regexes are not consulted, as in nginx.
//! 3. Otherwise the longest matching prefix. If one matched, its nested locations are
//!    searched the same way; a `=` or regex found there, or a redirect, ends the search.
//! 4. Unless the prefix chosen at this level is `^~`, the regexes of this level in
//!    configuration order: the first that matches wins, and its nested locations are
//!    searched (a match there serves the request, and its captures replace the outer
//!    ones when it has groups).
//! 5. Otherwise the longest prefix (the deepest found in step 3), or no location.
//!
//! Sits in the data path after server selection and before the handler.
//!
//! Complexity per level: the static locations are a `Vec` sorted by URI; one binary
//! search finds the greatest URI not after the path, O(log n · |path|), then a walk up
//! precomputed "longest proper prefix" links, O(depth of prefixes within prefixes) —
//! every location URI that is a prefix of the path is a prefix of that greatest one.
//! Regexes are tried one by one, as in nginx. No allocation except regex captures.
//!
//! One deliberate difference: nginx's location tree can miss the `auto_redirect`
//! location when a sibling such as `/app.x` sorts between `/app` and `/app/`; here the
//! redirect does not depend on which other locations happen to exist.

use std::cmp::Ordering;

use super::captures::{Captures, CompiledRegex, RegexMatch};
use super::{LocationId, RoutedLocation};

/// One URI of the static locations of a level; `= /x` and `/x` share an entry.
#[derive(Debug)]
struct StaticEntry {
    path: Box<str>,
    exact: Option<LocationId>,
    prefix: Option<LocationId>,
    /// Whether `exact` or `prefix` redirects `path` minus its final `/`.
    auto_redirect: bool,
    /// The entry with the longest URI that is a proper prefix of this one.
    parent: Option<usize>,
}

/// A regex location of a level.
#[derive(Debug)]
struct RegexEntry {
    regex: CompiledRegex,
    location: LocationId,
}

/// What a level needs to know about one of its locations at compile time.
#[derive(Debug)]
pub(crate) enum LevelItem<'a> {
    /// `location = path` (`exact`) or `location [^~] path`.
    Static {
        path: &'a str,
        exact: bool,
        auto_redirect: bool,
        id: LocationId,
    },
    Regex {
        regex: &'a crate::pcre::Pcre,
        id: LocationId,
    },
}

/// The locations of one server or of one location's nested block.
#[derive(Debug, Default)]
pub(crate) struct Level {
    /// Sorted by `path` (bytes, so case-sensitive as nginx on Linux).
    statics: Vec<StaticEntry>,
    /// In configuration order.
    regexes: Vec<RegexEntry>,
    has_auto_redirect: bool,
}

/// The result of the static search of one level.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Static {
    /// `location = /path` (nginx's `NGX_OK`).
    Exact(LocationId),
    /// The longest matching prefix (`NGX_AGAIN`).
    Prefix(LocationId),
    /// An `auto_redirect` location for `path/` (`NGX_DONE`).
    Redirect(LocationId),
    /// Nothing (`NGX_DECLINED`).
    None,
}

/// The result of a whole search from one level down (nginx's return codes).
#[derive(Debug)]
pub(crate) enum Step {
    /// An exact or regex location (`NGX_OK`): the search is over.
    Found {
        id: LocationId,
        captures: Option<Captures>,
    },
    /// A prefix location, possibly overridden by a regex of an outer level.
    Prefix(LocationId),
    Redirect(LocationId),
    Declined,
}

impl Level {
    pub(crate) fn compile(items: &[LevelItem<'_>]) -> Level {
        let mut statics: Vec<StaticEntry> = Vec::new();
        let mut regexes = Vec::new();
        for item in items {
            let (path, exact, auto_redirect, id) = match item {
                LevelItem::Static {
                    path,
                    exact,
                    auto_redirect,
                    id,
                } => (*path, *exact, *auto_redirect, *id),
                LevelItem::Regex { regex, id } => {
                    regexes.push(RegexEntry {
                        regex: CompiledRegex::new(regex),
                        location: *id,
                    });
                    continue;
                }
            };
            // Linear search: compile time only, and `= /x` must share `/x`'s entry.
            let entry = match statics.iter_mut().find(|e| &*e.path == path) {
                Some(e) => e,
                None => {
                    statics.push(StaticEntry {
                        path: Box::from(path),
                        exact: None,
                        prefix: None,
                        auto_redirect: false,
                        parent: None,
                    });
                    match statics.last_mut() {
                        Some(e) => e,
                        None => continue,
                    }
                }
            };
            // The builder rejects duplicates; should one slip through, the first wins.
            let slot = if exact {
                &mut entry.exact
            } else {
                &mut entry.prefix
            };
            if slot.is_none() {
                *slot = Some(id);
                entry.auto_redirect |= auto_redirect;
            }
        }
        statics.sort_by(|a, b| a.path.cmp(&b.path));
        for j in 0..statics.len() {
            let parent = match (statics.get(..j), statics.get(j)) {
                (Some(before), Some(e)) => walk_up(before, j.checked_sub(1), |p| {
                    e.path.starts_with(&*p.path) && p.path.len() < e.path.len()
                }),
                _ => None,
            };
            if let Some(e) = statics.get_mut(j) {
                e.parent = parent;
            }
        }
        let has_auto_redirect = statics.iter().any(|e| e.auto_redirect);
        Level {
            statics,
            regexes,
            has_auto_redirect,
        }
    }

    /// `ngx_http_core_find_static_location` for this level.
    pub(crate) fn find_static(&self, uri: &str) -> Static {
        let after = self.statics.partition_point(|e| &*e.path <= uri);
        let greatest = after.checked_sub(1);
        if let Some(e) = greatest.and_then(|i| self.statics.get(i)) {
            if &*e.path == uri {
                return match (e.exact, e.prefix) {
                    (Some(id), _) => Static::Exact(id),
                    (None, Some(id)) => Static::Prefix(id),
                    (None, None) => Static::None,
                };
            }
        }
        if self.has_auto_redirect {
            if let Some(id) = self.redirect_for(uri) {
                return Static::Redirect(id);
            }
        }
        let found = walk_up(&self.statics, greatest, |e| {
            e.prefix.is_some() && uri.starts_with(&*e.path)
        });
        match found
            .and_then(|i| self.statics.get(i))
            .and_then(|e| e.prefix)
        {
            Some(id) => Static::Prefix(id),
            None => Static::None,
        }
    }

    /// The location to redirect `uri` to `uri/` with, if `uri/` is an auto-redirect
    /// location of this level (nginx: `len + 1 == node->len && node->auto_redirect`).
    fn redirect_for(&self, uri: &str) -> Option<LocationId> {
        let with_slash = |e: &StaticEntry| -> Ordering {
            e.path
                .as_bytes()
                .iter()
                .cmp(uri.as_bytes().iter().chain(b"/"))
        };
        let i = self.statics.binary_search_by(with_slash).ok()?;
        let e = self.statics.get(i)?;
        if e.auto_redirect {
            e.exact.or(e.prefix)
        } else {
            None
        }
    }
}

/// Walks from `start` up the parent links of `entries` and returns the first entry
/// that satisfies `is_match`.
///
/// Why this finds the longest prefix: if `start` is the greatest entry not after a
/// string `s`, every entry that is a prefix of `s` sorts between itself and `s`, so it
/// is also a prefix of `start`'s path, and the parent links from `start` visit every
/// prefix of that path, longest first.
fn walk_up(
    entries: &[StaticEntry],
    start: Option<usize>,
    is_match: impl Fn(&StaticEntry) -> bool,
) -> Option<usize> {
    let mut at = start;
    while let Some(i) = at {
        let e = entries.get(i)?;
        if is_match(e) {
            return Some(i);
        }
        at = e.parent;
    }
    None
}

/// A location as the search sees it: what the caller gets, its nested level and its
/// `^~` flag.
#[derive(Debug)]
pub(crate) struct Node {
    pub(crate) info: RoutedLocation,
    pub(crate) nested: Level,
    /// `location ^~ /path`: when this prefix is the longest of its level, the regexes
    /// of that level are skipped (not those nested inside it).
    pub(crate) no_regex: bool,
}

/// `ngx_http_core_find_location`: searches `level` and, recursively, the nested levels
/// of what matches there. Recursion depth is the configuration's nesting depth.
pub(crate) fn find_location(nodes: &[Node], level: &Level, uri: &str) -> Step {
    let nested = |id: LocationId| match nodes.get(id.0) {
        Some(node) => find_location(nodes, &node.nested, uri),
        None => Step::Declined,
    };
    let mut no_regex = false;
    let rc = match level.find_static(uri) {
        Static::Exact(id) => return Step::Found { id, captures: None },
        Static::Redirect(id) => return Step::Redirect(id),
        Static::Prefix(id) => {
            no_regex = nodes.get(id.0).is_some_and(|n| n.no_regex);
            match nested(id) {
                Step::Declined => Step::Prefix(id),
                Step::Prefix(inner) => Step::Prefix(inner),
                done @ (Step::Found { .. } | Step::Redirect(_)) => return done,
            }
        }
        Static::None => Step::Declined,
    };
    if no_regex {
        return rc;
    }
    for entry in &level.regexes {
        let RegexMatch::Match(captures) = entry.regex.exec(uri) else {
            continue;
        };
        let id = entry.location;
        // nginx returns NGX_OK whatever the nested search found: a nested prefix, or
        // even a nested auto-redirect location, serves the request without a redirect.
        return match nested(id) {
            Step::Declined => Step::Found { id, captures },
            Step::Prefix(inner) | Step::Redirect(inner) => Step::Found {
                id: inner,
                captures,
            },
            Step::Found {
                id: inner,
                captures: inner_captures,
            } => Step::Found {
                id: inner,
                captures: inner_captures.or(captures),
            },
        };
    }
    rc
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::panic)]

    use super::*;

    /// Every string over `alphabet` of length 1..=max.
    fn strings(alphabet: &[u8], max: usize) -> Vec<String> {
        let mut out = vec![String::new()];
        let mut all = Vec::new();
        for _ in 0..max {
            out = out
                .iter()
                .flat_map(|s| alphabet.iter().map(move |c| format!("{s}{}", *c as char)))
                .collect();
            all.extend(out.iter().cloned());
        }
        all
    }

    /// What nginx's tree walk computes, by brute force over the locations.
    fn brute_force(items: &[(String, bool)], uri: &str) -> Static {
        let id = |i: usize| LocationId(i);
        if let Some(i) = items.iter().position(|(p, exact)| *exact && p == uri) {
            return Static::Exact(id(i));
        }
        items
            .iter()
            .enumerate()
            .filter(|(_, (p, exact))| !*exact && uri.starts_with(p.as_str()))
            .max_by_key(|(_, (p, _))| p.len())
            .map_or(Static::None, |(i, _)| Static::Prefix(id(i)))
    }

    #[test]
    fn sorted_search_agrees_with_brute_force() {
        let universe = strings(b"/ab", 3);
        let uris = strings(b"/ab", 5);
        // A small deterministic generator picks location sets from the universe.
        let mut seed: u64 = 0x9e37_79b9_7f4a_7c15;
        for _ in 0..300 {
            let mut items: Vec<(String, bool)> = Vec::new();
            for path in &universe {
                seed = seed.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1);
                match seed >> 61 {
                    0 => items.push((path.clone(), true)),
                    1 | 2 => items.push((path.clone(), false)),
                    _ => {}
                }
            }
            let level_items: Vec<LevelItem<'_>> = items
                .iter()
                .enumerate()
                .map(|(i, (path, exact))| LevelItem::Static {
                    path,
                    exact: *exact,
                    auto_redirect: false,
                    id: LocationId(i),
                })
                .collect();
            let level = Level::compile(&level_items);
            for uri in &uris {
                assert_eq!(
                    level.find_static(uri),
                    brute_force(&items, uri),
                    "{uri:?} in {items:?}"
                );
            }
        }
    }
}

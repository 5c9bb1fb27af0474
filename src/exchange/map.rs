//! A `map` result as a request reads it (nginx's `ngx_http_map_variable` and
//! `ngx_http_map_find`): evaluated once per request unless the map is `volatile`.
//!
//! The lookup: the source value, lowercased, against the exact keys; with `hostnames`,
//! a trailing dot dropped first and then the wildcard keys (`*.example.com` and
//! `.example.com`, the longest first; then `www.example.*`); then the regexes in the
//! order written, against the value as it is (an empty value matches no regex). No
//! match gives `default`, or the empty string.

use crate::config::template::map::Map;
use crate::config::template::{Template, Variable, VariableSource};
use crate::route::{exec_script_regex, Captures};

/// The value for `subject`, with the captures of the regex that chose it.
pub fn find<'m>(map: &'m Map, subject: &str) -> Option<(&'m Template, Option<Captures>)> {
    let subject = match subject.strip_suffix('.') {
        Some(s) if map.hostnames => s,
        _ => subject,
    };
    let low = subject.to_ascii_lowercase();
    let value = |i: usize| map.values.get(i).map(|t| (t, None));
    if let Some(&i) = map.exact.get(&low) {
        return value(i);
    }
    if let Some((_, i)) = map
        .head_wildcards
        .iter()
        .find(|(suffix, _)| low.ends_with(suffix.as_str()) && low.len() > suffix.len())
    {
        return value(*i);
    }
    if let Some((_, i)) = map
        .tail_wildcards
        .iter()
        .find(|(prefix, _)| low.starts_with(prefix.as_str()) && low.len() > prefix.len())
    {
        return value(*i);
    }
    if subject.is_empty() {
        return None;
    }
    map.regexes.iter().find_map(|r| {
        let captures = exec_script_regex(&r.regex, subject)?;
        map.values.get(r.value).map(|t| (t, captures))
    })
}

/// Appends the map's value for the request `vars` gives the variables of.
pub fn evaluate(map: &Map, vars: &dyn VariableSource, out: &mut Vec<u8>) {
    let mut source = Vec::new();
    map.source.expand(vars, &mut source);
    let subject = String::from_utf8_lossy(&source);
    match find(map, &subject) {
        Some((value, captures)) => {
            let with = WithCaptures {
                inner: vars,
                captures: captures.as_ref(),
            };
            value.expand(&with, out);
        }
        None => {
            if let Some(value) = map.default.and_then(|i| map.values.get(i)) {
                value.expand(vars, out);
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

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use std::collections::HashMap;

    use super::*;
    use crate::config::template::map::MapRegex;

    fn regex(pattern: &str, value: usize) -> MapRegex {
        MapRegex {
            regex: crate::pcre::Pcre::new(pattern, false).unwrap(),
            value,
        }
    }

    /// `hostnames; example.com e; .dot.test d; *.w.test w; *.a.w.test a; www.shop.* s;
    /// ~^(x)y r; ~x late;`
    fn hostnames_map() -> Map {
        let values = ["e", "d", "w", "a", "s", "r", "late"];
        Map {
            source: Template::literal(""),
            volatile: false,
            hostnames: true,
            exact: HashMap::from([("example.com".to_string(), 0), ("dot.test".to_string(), 1)]),
            head_wildcards: vec![
                (".a.w.test".to_string(), 3),
                (".dot.test".to_string(), 1),
                (".w.test".to_string(), 2),
            ],
            tail_wildcards: vec![("www.shop.".to_string(), 4)],
            regexes: vec![regex("^(x)y", 5), regex("x", 6)],
            values: values.iter().map(|v| Template::literal(v)).collect(),
            default: None,
        }
    }

    #[test]
    fn lookups_in_nginx_order() {
        let map = hostnames_map();
        #[rustfmt::skip]
        let rows: &[(&str, &str, Option<&str>)] = &[
            ("exact, case ignored", "Example.COM", Some("e")),
            ("a trailing dot is dropped", "example.com.", Some("e")),
            ("dot wildcard: its own name", "dot.test", Some("d")),
            ("dot wildcard: a subdomain", "x.dot.test", Some("d")),
            ("star wildcard: not its own name", "w.test", None),
            ("the longest wildcard", "b.a.w.test", Some("a")),
            ("a shorter one", "b.w.test", Some("w")),
            ("tail wildcard", "www.shop.org", Some("s")),
            ("the dot dropped, too short for the tail wildcard", "www.shop.", None),
            ("regexes in order", "xy", Some("r")),
            ("a later regex", "zx", Some("late")),
            ("regex keeps case", "XY", None),
            ("an empty value matches no regex", "", None),
        ];
        for (name, subject, want) in rows {
            let got = find(&map, subject).map(|(t, _)| t.source.clone());
            assert_eq!(got.as_deref(), *want, "{name}");
        }
    }
}

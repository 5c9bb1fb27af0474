//! The map module's table (nginx's `ngx_http_map_module`): `map $source $result { ... }`
//! in http, and `map_hash_max_size` / `map_hash_bucket_size`, accepted with no effect.
//! The block's lines are read as nginx's `ngx_http_map` reads them, in order
//! (`hostnames` applies to the keys after it), with its messages. The built map goes
//! to the slot [`declared`](declare) for `$result` before any template was parsed,
//! which every template naming `$result` already shares (see [`crate::config::template::map`]).

use std::collections::HashMap;

use super::args::NoEffect;
use super::command::{b, d, Arity::*, Command, Context, HTTP};
use super::{compile_regex, Builder};
use crate::config::error::{ConfigErrorKind, MapError};
use crate::config::template::map::{Map, MapRegex};
use crate::config::template::{Names, Template};
use crate::config::tree::Directive;

/// The map module's slots at one level: the no-effect sizes.
#[derive(Debug, Default)]
pub struct MapConf {
    no_effect: NoEffect,
    /// A `map` block was read: nginx gives the sizes their defaults then, so setting
    /// one afterwards is a duplicate.
    sizes_fixed: bool,
}

pub const COMMANDS: &[Command<MapConf>] = &[
    b("map", HTTP, Exactly(2), map_block),
    d("map_hash_max_size", HTTP, Exactly(1), no_effect),
    d("map_hash_bucket_size", HTTP, Exactly(1), no_effect),
];

fn no_effect(c: &mut MapConf, d: &Directive, cx: &mut Builder, _: Context) {
    if c.sizes_fixed {
        return cx.error(ConfigErrorKind::Duplicate(d.name.clone()), &d.span);
    }
    c.no_effect.set(cx, d);
}

/// Declares, before templates are parsed, the `$result` of a `map` block and the named
/// captures of its regexes.
pub fn declare(d: &Directive, names: &mut Names) {
    if let Some(name) = d.args.get(1).and_then(|a| a.value.strip_prefix('$')) {
        if !name.is_empty() {
            names.declare_map(name, &d.span);
        }
    }
    for line in d.block.as_deref().unwrap_or(&[]) {
        if let Some((pattern, _)) = regex_key(&line.name) {
            if let Ok(compiled) = crate::pcre::Pcre::new(pattern, false) {
                names
                    .captures
                    .extend(compiled.capture_names().map(str::to_string));
            }
        }
    }
}

/// `~regex` (case-sensitive) or `~*regex`: the pattern and whether case is ignored.
fn regex_key(key: &str) -> Option<(&str, bool)> {
    let rest = key.strip_prefix('~')?;
    Some(match rest.strip_prefix('*') {
        Some(p) => (p, true),
        None => (rest, false),
    })
}

fn error(cx: &mut Builder, e: MapError, d: &Directive) {
    cx.error(ConfigErrorKind::Map(e), &d.span);
}

fn map_block(c: &mut MapConf, d: &Directive, cx: &mut Builder, _: Context) {
    c.sizes_fixed = true;
    let (Some(source), Some(result)) = (d.args.first(), d.args.get(1)) else {
        return;
    };
    let source = match Template::parse(&source.value, &cx.names) {
        Ok(t) => t,
        Err(k) => return cx.error(k, &d.span),
    };
    let Some(name) = result.value.strip_prefix('$').filter(|n| !n.is_empty()) else {
        return cx.error(
            ConfigErrorKind::InvalidVariableName(result.value.clone()),
            &d.span,
        );
    };
    let mut map = Map {
        source,
        volatile: false,
        hostnames: false,
        exact: HashMap::new(),
        head_wildcards: Vec::new(),
        tail_wildcards: Vec::new(),
        regexes: Vec::new(),
        values: Vec::new(),
        default: None,
    };
    for line in d.block.as_deref().unwrap_or(&[]) {
        if !map_line(&mut map, line, cx) {
            return;
        }
    }
    map.head_wildcards
        .sort_by_key(|(suffix, _)| std::cmp::Reverse(suffix.len()));
    map.tail_wildcards
        .sort_by_key(|(prefix, _)| std::cmp::Reverse(prefix.len()));
    let Some(var) = cx.names.maps.get(name) else {
        return;
    };
    if var.slot.last == d.span {
        // Set once: only the last block for a name reaches here.
        let _ = var.slot.map.set(map);
    }
}

/// One line of a map block; false after an error (nginx stops at the first).
fn map_line(map: &mut Map, line: &Directive, cx: &mut Builder) -> bool {
    if line.block.is_some() {
        error(cx, MapError::UnexpectedBlock, line);
        return false;
    }
    let key = line.name.as_str();
    let value = match line.args.as_slice() {
        [] if key == "hostnames" => {
            map.hostnames = true;
            return true;
        }
        [] if key == "volatile" => {
            map.volatile = true;
            return true;
        }
        [value] => value.value.as_str(),
        _ => {
            error(cx, MapError::ParameterCount, line);
            return false;
        }
    };
    let template = match Template::parse(value, &cx.names) {
        Ok(t) => t,
        Err(k) => {
            cx.error(k, &line.span);
            return false;
        }
    };
    let index = map.values.len();
    map.values.push(template);
    if key == "default" {
        if map.default.is_some() {
            error(cx, MapError::DuplicateDefault, line);
            return false;
        }
        map.default = Some(index);
        return true;
    }
    if let Some((pattern, caseless)) = regex_key(key) {
        return match compile_regex(pattern, caseless) {
            Ok(regex) => {
                map.regexes.push(MapRegex {
                    regex,
                    value: index,
                });
                true
            }
            Err(k) => {
                cx.error(k, &line.span);
                false
            }
        };
    }
    let key = key.strip_prefix('\\').unwrap_or(key).to_ascii_lowercase();
    let added = if map.hostnames {
        add_hostname(map, &key, index)
    } else {
        add_exact(map, key.clone(), index)
    };
    match added {
        Added::Ok => true,
        Added::Conflict(k) => {
            error(cx, MapError::Conflicting(k), line);
            false
        }
        Added::Invalid => {
            error(cx, MapError::InvalidWildcard(key), line);
            false
        }
    }
}

enum Added {
    Ok,
    Conflict(String),
    Invalid,
}

fn add_exact(map: &mut Map, key: String, index: usize) -> Added {
    if map.exact.contains_key(&key) {
        return Added::Conflict(key);
    }
    map.exact.insert(key, index);
    Added::Ok
}

/// A key under `hostnames`, as nginx's `ngx_hash_add_key` with a wildcard allowed:
/// `.example.com` (also `example.com` itself), `*.example.com`, `www.example.*`; any
/// other `*`, or an empty label, is invalid.
fn add_hostname(map: &mut Map, key: &str, index: usize) -> Added {
    if key.matches('*').count() > 1 || key.contains("..") {
        return Added::Invalid;
    }
    if key.len() > 1 && key.starts_with('.') {
        let suffix = key.to_string();
        if map.head_wildcards.iter().any(|(s, _)| *s == suffix) {
            return Added::Conflict(key.to_string());
        }
        if let Added::Conflict(k) = add_exact(map, key.trim_start_matches('.').to_string(), index) {
            return Added::Conflict(k);
        }
        map.head_wildcards.push((suffix, index));
        return Added::Ok;
    }
    if key.len() > 2 {
        if let Some(suffix) = key.strip_prefix('*') {
            if suffix.starts_with('.') {
                if map.head_wildcards.iter().any(|(s, _)| s == suffix) {
                    return Added::Conflict(key.to_string());
                }
                map.head_wildcards.push((suffix.to_string(), index));
                return Added::Ok;
            }
        }
        if let Some(prefix) = key.strip_suffix('*') {
            if prefix.ends_with('.') {
                if map.tail_wildcards.iter().any(|(p, _)| p == prefix) {
                    return Added::Conflict(key.to_string());
                }
                map.tail_wildcards.push((prefix.to_string(), index));
                return Added::Ok;
            }
        }
    }
    if key.contains('*') {
        return Added::Invalid;
    }
    add_exact(map, key.to_string(), index)
}

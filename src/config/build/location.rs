//! `location [=|~|~*|^~] URI { }` and `location @name { }`, nested as nginx allows,
//! each merged over its parent's settings.

use std::sync::Arc;

use super::args::arg;
use super::command::Context;
use super::layer::Layer;
use super::Builder;
use super::Scope;
use crate::config::error::ConfigErrorKind;
use crate::config::model::{Location, LocationConf, LocationMatch, ProxyPass};
use crate::config::tree::Directive;

/// Builds the locations of one level (a server or a location), in configuration order.
pub fn build_locations(
    blocks: &[&Directive],
    cx: &mut Builder,
    scope: &Scope<'_>,
    parent_conf: &Arc<LocationConf>,
    parent: Option<&LocationMatch>,
) -> Vec<Location> {
    let mut out: Vec<Location> = Vec::new();
    for d in blocks {
        let matcher = match parse_matcher(d) {
            Ok(m) => m,
            Err(k) => {
                cx.error(k, &d.span);
                continue;
            }
        };
        if let Err(k) = check_nesting(&matcher, parent) {
            cx.error(k, &d.span);
            continue;
        }
        if let Some(dup) = out.iter().find(|o| same_location(&o.matcher, &matcher)) {
            cx.error(
                ConfigErrorKind::DuplicateLocation(location_name(&dup.matcher)),
                &d.span,
            );
            continue;
        }
        out.push(build_location(d, matcher, cx, scope, parent_conf));
    }
    out
}

fn build_location(
    d: &Directive,
    matcher: LocationMatch,
    cx: &mut Builder,
    scope: &Scope<'_>,
    parent_conf: &Arc<LocationConf>,
) -> Location {
    let mut layer = Layer::default();
    for inner in d.block.as_deref().unwrap_or(&[]) {
        layer.apply_checked(inner, cx, Context::Location);
    }
    let nested = std::mem::take(&mut layer.core.blocks);
    let internal = layer.core.internal;
    let in_regex_or_named = matches!(
        matcher,
        LocationMatch::Regex { .. } | LocationMatch::Named(_)
    );
    let pass = resolve_pass(&layer, cx, scope, in_regex_or_named);
    let auto_redirect = pass.is_some()
        && matches!(&matcher, LocationMatch::Prefix { path, .. } | LocationMatch::Exact(path) if path.ends_with('/'));
    let mut conf = layer.merge(parent_conf, pass);
    layer.charset.check_recoding(&conf, cx);
    // Inside an `if`, `proxy_pass` cannot have a URI part either.
    let if_pass = |l: &Layer, cx: &mut Builder| resolve_pass(l, cx, scope, true);
    conf.rewrite = layer.script(&conf, cx, Some(&if_pass));
    let conf = Arc::new(conf);
    let nested: Vec<&Directive> = nested.iter().collect();
    let locations = build_locations(&nested, cx, scope, &conf, Some(&matcher));
    Location {
        matcher,
        internal,
        auto_redirect,
        conf,
        locations,
        span: d.span.clone(),
    }
}

/// The `proxy_pass` a level writes, resolved against the upstream groups; `None`
/// (reported) when it does not resolve or has a URI part where nginx forbids one.
fn resolve_pass(
    layer: &Layer,
    cx: &mut Builder,
    scope: &Scope<'_>,
    uri_forbidden: bool,
) -> Option<ProxyPass> {
    let raw = layer.proxy.pass.as_ref()?;
    if uri_forbidden && raw.uri.is_some() {
        cx.error(ConfigErrorKind::ProxyPassUriInRegexLocation, &raw.span);
        return None;
    }
    let names = scope.upstream_names;
    match raw.resolve(&|n| names.iter().any(|u| u == n)) {
        Ok(p) => Some(p),
        Err(k) => {
            cx.error(k, &raw.span);
            None
        }
    }
}

/// Reads the modifier and URI, including nginx's glued forms (`=/x`, `~\.php$`).
fn parse_matcher(d: &Directive) -> Result<LocationMatch, ConfigErrorKind> {
    let (modifier, uri) = match d.args.len() {
        2 => (arg(d, 0).to_string(), arg(d, 1).to_string()),
        _ => {
            let a = arg(d, 0);
            if a.starts_with('@') {
                return Ok(LocationMatch::Named(a.to_string()));
            }
            let split = ["^~", "~*", "=", "~"]
                .iter()
                .find(|m| a.starts_with(**m) && a.len() > m.len());
            match split {
                Some(m) => (m.to_string(), a[m.len()..].to_string()),
                None => (String::new(), a.to_string()),
            }
        }
    };
    Ok(match modifier.as_str() {
        "" => LocationMatch::Prefix {
            path: uri,
            no_regex: false,
        },
        "^~" => LocationMatch::Prefix {
            path: uri,
            no_regex: true,
        },
        "=" => LocationMatch::Exact(uri),
        "~" | "~*" => {
            let case_insensitive = modifier == "~*";
            let regex = super::compile_regex(&uri, case_insensitive)?;
            LocationMatch::Regex {
                regex,
                case_insensitive,
                source: uri,
            }
        }
        other => return Err(ConfigErrorKind::InvalidLocationModifier(other.to_string())),
    })
}

/// nginx's rules for what may be nested where.
fn check_nesting(
    inner: &LocationMatch,
    outer: Option<&LocationMatch>,
) -> Result<(), ConfigErrorKind> {
    let Some(outer) = outer else {
        return Ok(());
    };
    let inner_name = location_name(inner);
    match (outer, inner) {
        (_, LocationMatch::Named(n)) => {
            Err(ConfigErrorKind::NamedLocationNotOnServerLevel(n.clone()))
        }
        (LocationMatch::Named(_), _) => Err(ConfigErrorKind::InsideNamedLocation(inner_name)),
        (LocationMatch::Exact(o), _) => Err(ConfigErrorKind::InsideExactLocation {
            inner: inner_name,
            outer: o.clone(),
        }),
        (LocationMatch::Prefix { path: o, .. }, LocationMatch::Prefix { path: i, .. })
        | (LocationMatch::Prefix { path: o, .. }, LocationMatch::Exact(i))
            if !i.starts_with(o.as_str()) =>
        {
            Err(ConfigErrorKind::LocationOutside {
                inner: i.clone(),
                outer: o.clone(),
            })
        }
        _ => Ok(()),
    }
}

/// Two locations at one level that nginx calls duplicates: the same exact URI, the same
/// prefix (with or without `^~`), or the same named location. Regexes may repeat.
fn same_location(a: &LocationMatch, b: &LocationMatch) -> bool {
    match (a, b) {
        (LocationMatch::Exact(x), LocationMatch::Exact(y)) => x == y,
        (LocationMatch::Prefix { path: x, .. }, LocationMatch::Prefix { path: y, .. }) => x == y,
        (LocationMatch::Named(x), LocationMatch::Named(y)) => x == y,
        _ => false,
    }
}

/// The URI as nginx prints it in location errors.
fn location_name(m: &LocationMatch) -> String {
    match m {
        LocationMatch::Exact(p) | LocationMatch::Prefix { path: p, .. } => p.clone(),
        LocationMatch::Regex { source, .. } => source.clone(),
        LocationMatch::Named(n) => n.clone(),
    }
}

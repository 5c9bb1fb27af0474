//! The http block: the http-level settings layer (with log formats and upstream groups,
//! read first since other directives refer to them by name), then every server.

use super::command::Context;
use super::layer::{self, Layer};
use super::log::{check_access_log_formats, LogConf};
use super::{server, Builder};
use crate::config::model::HttpConfig;
use crate::config::tree::Directive;

/// Directives read before the rest of the http block: what others name.
const DEFINITIONS: &[&str] = &["log_format", "upstream", "match"];

pub fn build_http(directives: &[Directive], cx: &mut Builder) -> HttpConfig {
    let mut layer = Layer {
        log: LogConf::with_combined(cx),
        ..Layer::default()
    };
    // Pass 1: what other directives refer to by name, wherever it is written.
    for d in directives
        .iter()
        .filter(|d| DEFINITIONS.contains(&d.name.as_str()))
    {
        layer.apply_checked(d, cx, Context::Http);
    }
    // Pass 2: the http-level settings; `server` blocks are collected.
    for d in directives
        .iter()
        .filter(|d| !DEFINITIONS.contains(&d.name.as_str()))
    {
        layer.apply_checked(d, cx, Context::Http);
    }
    let defaults = layer::defaults(cx);
    let http_conf = layer.merge(&defaults, None);
    layer.charset.check_recoding(&http_conf, cx);
    check_access_log_formats(cx, &layer.log.formats, directives);
    let log_formats = std::mem::take(&mut layer.log.formats);
    let upstreams = std::mem::take(&mut layer.upstreams.0);
    let server_blocks = std::mem::take(&mut layer.core.blocks);
    let names: Vec<String> = upstreams.iter().map(|u| u.name.clone()).collect();
    let scope = super::Scope {
        http_layer: &layer,
        http_conf: &http_conf,
        upstream_names: &names,
    };
    let mut servers = Vec::new();
    for d in &server_blocks {
        servers.push(server::build_server(d, cx, &scope));
    }
    server::check_listen_conflicts(cx, &servers);
    let limit_zones = std::mem::take(&mut layer.limits.zones);
    super::limits::check_refs(cx, &limit_zones);
    let cache_paths = std::mem::take(&mut layer.cache.paths);
    super::cache::check_refs(cx, &cache_paths);
    let matches = std::mem::take(&mut layer.matches.0);
    let mut http = HttpConfig {
        servers,
        upstreams,
        log_formats,
        limit_zones,
        cache_paths,
        matches,
        health_checks: Vec::new(),
    };
    http.health_checks = super::health::group_checks(cx, &http, &http.matches);
    http
}

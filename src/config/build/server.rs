//! `server { }` blocks: listen addresses, names, the server-level settings layer, and
//! the locations inside; then the checks that span servers (duplicate default server,
//! conflicting names).

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use super::command::Context;
use super::layer::Layer;
use super::listen::default_listen;
use super::location::build_locations;
use super::{Builder, Scope};
use crate::config::error::ConfigErrorKind;
use crate::config::model::{ListenAddr, Server, ServerName};
use crate::config::tree::Directive;

const DEFAULT_CLIENT_HEADER_BUFFER_SIZE: u64 = 1 << 10;
const DEFAULT_LARGE_CLIENT_HEADER_BUFFERS: (u32, u64) = (4, 8 << 10);
const DEFAULT_CLIENT_HEADER_TIMEOUT: Duration = Duration::from_secs(60);

pub fn build_server(d: &Directive, cx: &mut Builder, scope: &Scope<'_>) -> Server {
    let mut layer = Layer::default();
    for inner in d.block.as_deref().unwrap_or(&[]) {
        layer.apply_checked(inner, cx, Context::Server);
    }
    let location_blocks = std::mem::take(&mut layer.core.blocks);
    let mut listens = std::mem::take(&mut layer.core.listens);
    let mut names = std::mem::take(&mut layer.core.server_names);
    if listens.is_empty() {
        listens.push(default_listen(cx.options.is_root, &d.span));
    }
    // `ssl on;` (before nginx 1.25) makes every listen of the server a TLS one.
    if layer.ssl.legacy_on(&scope.http_layer.ssl) {
        for l in &mut listens {
            l.ssl = true;
        }
    }
    let listens_ssl = listens.iter().find(|l| l.ssl).map(|l| l.span.clone());
    let tls = Arc::new(
        layer
            .ssl
            .merge(&scope.http_layer.ssl, cx, listens_ssl.as_ref()),
    );
    if names.is_empty() {
        names.push(ServerName::Exact(String::new()));
    }
    let conf = layer.merge(scope.http_conf, None);
    layer.charset.check_recoding(&conf, cx);
    // The server's rewrite directives run before location matching; they are not a
    // location setting, so locations do not inherit them.
    let rewrite = layer.script(&conf, cx, None);
    let conf = Arc::new(conf);
    let blocks: Vec<&Directive> = location_blocks.iter().collect();
    let locations = build_locations(&blocks, cx, scope, &conf, None);
    let (c, h) = (&layer.core, &scope.http_layer.core);
    Server {
        listen: listens,
        server_names: names,
        client_header_buffer_size: c
            .client_header_buffer_size
            .or(h.client_header_buffer_size)
            .unwrap_or(DEFAULT_CLIENT_HEADER_BUFFER_SIZE),
        large_client_header_buffers: c
            .large_client_header_buffers
            .or(h.large_client_header_buffers)
            .unwrap_or(DEFAULT_LARGE_CLIENT_HEADER_BUFFERS),
        client_header_timeout: c
            .client_header_timeout
            .or(h.client_header_timeout)
            .unwrap_or(DEFAULT_CLIENT_HEADER_TIMEOUT),
        underscores_in_headers: c
            .underscores_in_headers
            .or(h.underscores_in_headers)
            .unwrap_or(false),
        ignore_invalid_headers: c
            .ignore_invalid_headers
            .or(h.ignore_invalid_headers)
            .unwrap_or(true),
        rewrite,
        conf,
        locations,
        tls,
        http2: layer.http2.server(&scope.http_layer.http2),
        span: d.span.clone(),
    }
}

/// Checks across servers: one `default_server` and one `listen` with socket options per
/// address, and the same name on the same address in two servers (nginx warns and
/// ignores the second).
pub fn check_listen_conflicts(cx: &mut Builder, servers: &[Server]) {
    let mut defaults: HashMap<&ListenAddr, ()> = HashMap::new();
    let mut options: HashMap<&ListenAddr, ()> = HashMap::new();
    let mut names: HashMap<(&ListenAddr, String), ()> = HashMap::new();
    for server in servers {
        for listen in &server.listen {
            // One socket per address, so its options come from one `listen` (nginx's
            // `ngx_http_add_addresses`): certbot writes `ipv6only=on` only where no
            // other block has `ipv6only` for that port, for this reason.
            if listen.options.set && options.insert(&listen.addr, ()).is_some() {
                cx.error(
                    ConfigErrorKind::DuplicateListenOptions(listen.addr.to_string()),
                    &listen.span,
                );
            }
            if listen.default_server && defaults.insert(&listen.addr, ()).is_some() {
                cx.error(
                    ConfigErrorKind::DuplicateDefaultServer(listen.addr.to_string()),
                    &listen.span,
                );
            }
            for name in &server.server_names {
                let key = (&listen.addr, name.source());
                if names.insert(key, ()).is_some() {
                    cx.warn(
                        format!(
                            "conflicting server name \"{}\" on {}, ignored",
                            name.source(),
                            listen.addr
                        ),
                        &server.span,
                    );
                }
            }
        }
    }
}

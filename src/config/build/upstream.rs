//! `upstream NAME { server ADDR [params]; keepalive N; least_conn; ... }`: the
//! upstream modules' tables, slots and defaults.

use std::path::PathBuf;
use std::time::Duration;

use super::args::{self, arg, set_once};
use super::command::{b, d, dispatch, Arity::*, Command, Context, HTTP, UPS};
use super::proxy_pass::{resolve_host, split_host_port};
use super::Builder;
use crate::config::error::ConfigErrorKind;
use crate::config::model::{
    Balance, Upstream, UpstreamAddr, UpstreamServer, DEFAULT_UPSTREAM_KEEPALIVE,
};
use crate::config::tree::Directive;

const DEFAULT_MAX_FAILS: u32 = 1;
const DEFAULT_FAIL_TIMEOUT: Duration = Duration::from_secs(10);
const DEFAULT_KEEPALIVE_TIMEOUT: Duration = Duration::from_secs(60);
const DEFAULT_KEEPALIVE_REQUESTS: u32 = 1000;

/// The `upstream` groups defined in the http block.
#[derive(Debug, Default)]
pub struct Upstreams(pub Vec<Upstream>);

/// The `upstream` block itself, in http (nginx's `ngx_http_upstream_module`).
pub const HTTP_COMMANDS: &[Command<Upstreams>] =
    &[b("upstream", HTTP, Exactly(1), |u, d, cx, _| {
        let group = build_upstream(d, cx);
        if u.0.iter().any(|o| o.name == group.name) {
            cx.error(
                ConfigErrorKind::DuplicateUpstream(arg(d, 0).to_string()),
                &d.span,
            );
        } else {
            u.0.push(group);
        }
    })];

/// One group's slots, each `None` until a directive sets it.
#[derive(Debug, Default)]
pub struct UpstreamSlots {
    servers: Vec<UpstreamServer>,
    balance: Option<Balance>,
    keepalive: Option<u32>,
    keepalive_timeout: Option<Duration>,
    keepalive_requests: Option<u32>,
}

/// Inside `upstream { }`: `server` (nginx's upstream module), `keepalive*`
/// (`ngx_http_upstream_keepalive_module`) and `least_conn`.
pub const COMMANDS: &[Command<UpstreamSlots>] = &[
    d("server", UPS, AtLeast(1), |u, d, cx, _| match server(d) {
        Ok(mut s) => u.servers.append(&mut s),
        Err(k) => cx.error(k, &d.span),
    }),
    d("keepalive", UPS, Exactly(1), |u, d, cx, _| {
        set_once(cx, d, &mut u.keepalive, args::number(d, 0))
    }),
    d("least_conn", UPS, Exactly(0), |u, d, cx, _| {
        method(u, d, cx, Ok(Balance::LeastConn))
    }),
    d("ip_hash", UPS, Exactly(0), |u, d, cx, _| {
        method(u, d, cx, Ok(Balance::IpHash))
    }),
    d("hash", UPS, Between(1, 2), |u, d, cx, _| {
        let v = match d.args.get(1).map(|a| a.value.as_str()) {
            None | Some("consistent") => args::template(cx, d, 0).map(|key| Balance::Hash {
                key,
                consistent: d.args.len() == 2,
            }),
            Some(other) => Err(ConfigErrorKind::InvalidParameter(other.to_string())),
        };
        method(u, d, cx, v)
    }),
    d("random", UPS, Between(0, 2), |u, d, cx, _| {
        let v = match d.arg_strs().as_slice() {
            [] => Ok(Balance::Random { two: false }),
            ["two"] | ["two", "least_conn"] => Ok(Balance::Random { two: true }),
            [_, other] | [other] => Err(ConfigErrorKind::InvalidParameter(other.to_string())),
            _ => Err(ConfigErrorKind::InvalidArgCount(d.name.clone())),
        };
        method(u, d, cx, v)
    }),
    d("keepalive_timeout", UPS, Exactly(1), |u, d, cx, _| {
        set_once(cx, d, &mut u.keepalive_timeout, args::time(d, 0))
    }),
    d("keepalive_requests", UPS, Exactly(1), |u, d, cx, _| {
        set_once(cx, d, &mut u.keepalive_requests, args::number(d, 0))
    }),
    // vestibule always keeps a group's state (fail counts, health) in a zone every
    // worker shares, so `zone NAME [SIZE]` is checked and needs nothing more.
    d("zone", UPS, Between(1, 2), |_, d, cx, _| {
        if d.args.len() == 2 {
            if let Err(k) = args::size(d, 1) {
                cx.error(k, &d.span);
            }
        }
    }),
];

/// A load-balancing method; a second one replaces the first with nginx's warning.
fn method(
    u: &mut UpstreamSlots,
    d: &Directive,
    cx: &mut Builder,
    v: Result<Balance, ConfigErrorKind>,
) {
    match v {
        Ok(b) => {
            if u.balance.is_some() {
                cx.warn("load balancing method redefined".to_string(), &d.span);
            }
            u.balance = Some(b);
        }
        Err(k) => cx.error(k, &d.span),
    }
}

fn build_upstream(d: &Directive, cx: &mut Builder) -> Upstream {
    let mut s = UpstreamSlots::default();
    let errors_before = cx.errors.0.len();
    for inner in d.block.as_deref().unwrap_or(&[]) {
        if cx.check(inner, Context::Upstream) {
            let found = dispatch(COMMANDS, &mut s, inner, cx, Context::Upstream);
            debug_assert!(found, "upstream directive {} has no row", inner.name);
        }
    }
    if s.servers.is_empty() && cx.errors.0.len() == errors_before {
        cx.error(ConfigErrorKind::NoServersInUpstream, &d.span);
    }
    if s.balance.as_ref().is_some_and(|b| !b.allows_backup()) {
        if let Some(backup) = s.servers.iter().find(|s| s.backup) {
            cx.error(
                ConfigErrorKind::BalancingParameter("backup".to_string()),
                &backup.span,
            );
        }
    }
    Upstream {
        name: arg(d, 0).to_ascii_lowercase(),
        servers: s.servers,
        balance: s.balance.unwrap_or(Balance::RoundRobin),
        keepalive: s.keepalive.unwrap_or(DEFAULT_UPSTREAM_KEEPALIVE),
        keepalive_timeout: s.keepalive_timeout.unwrap_or(DEFAULT_KEEPALIVE_TIMEOUT),
        keepalive_requests: s.keepalive_requests.unwrap_or(DEFAULT_KEEPALIVE_REQUESTS),
        span: d.span.clone(),
    }
}

/// One `server` line; a host name gives one entry per address it resolves to.
fn server(d: &Directive) -> Result<Vec<UpstreamServer>, ConfigErrorKind> {
    let name = arg(d, 0).to_string();
    let mut weight = 1;
    let mut max_fails = DEFAULT_MAX_FAILS;
    let mut fail_timeout = DEFAULT_FAIL_TIMEOUT;
    let mut backup = false;
    let mut down = false;
    for a in d.args.iter().skip(1) {
        let v = a.value.as_str();
        let invalid = || ConfigErrorKind::InvalidParameter(v.to_string());
        if let Some(n) = v.strip_prefix("weight=") {
            weight = crate::config::value::parse_number(n)
                .and_then(|n| u32::try_from(n).ok())
                .filter(|n| *n > 0)
                .ok_or_else(invalid)?;
        } else if let Some(n) = v.strip_prefix("max_fails=") {
            max_fails = crate::config::value::parse_number(n)
                .and_then(|n| u32::try_from(n).ok())
                .ok_or_else(invalid)?;
        } else if let Some(t) = v.strip_prefix("fail_timeout=") {
            fail_timeout = crate::config::value::parse_time(t).ok_or_else(invalid)?;
        } else if v == "backup" {
            backup = true;
        } else if v == "down" {
            down = true;
        } else {
            return Err(invalid());
        }
    }
    let addrs = if let Some(path) = name.strip_prefix("unix:") {
        vec![UpstreamAddr::Unix(PathBuf::from(path))]
    } else {
        let (host, port) = split_host_port(&name)
            .ok_or_else(|| ConfigErrorKind::InvalidPortInUpstream(name.clone()))?;
        let port = port.unwrap_or(80);
        resolve_host(host, port)
            .ok_or_else(|| ConfigErrorKind::HostNotFoundInUpstream(name.clone()))?
            .into_iter()
            .map(UpstreamAddr::Tcp)
            .collect()
    };
    Ok(addrs
        .into_iter()
        .map(|addr| UpstreamServer {
            name: name.clone(),
            addr,
            weight,
            max_fails,
            fail_timeout,
            backup,
            down,
            span: d.span.clone(),
        })
        .collect())
}

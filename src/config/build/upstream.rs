//! `upstream NAME { server ADDR [params]; keepalive N; least_conn; ... }`.

use std::path::PathBuf;
use std::time::Duration;

use super::args::{self, arg, set_once};
use super::proxy_pass::{resolve_host, split_host_port};
use super::schema::Context;
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

pub fn build_upstream(d: &Directive, cx: &mut Builder) -> Upstream {
    let mut servers = Vec::new();
    let mut balance: Option<Balance> = None;
    let mut keepalive = None;
    let mut keepalive_timeout = None;
    let mut keepalive_requests = None;
    let errors_before = cx.errors.0.len();
    for inner in d.block.as_deref().unwrap_or(&[]) {
        if !cx.check(inner, Context::Upstream) {
            continue;
        }
        match inner.name.as_str() {
            "server" => match server(inner) {
                Ok(mut s) => servers.append(&mut s),
                Err(k) => cx.error(k, &inner.span),
            },
            "keepalive" => set_once(cx, inner, &mut keepalive, args::number(inner, 0)),
            "keepalive_timeout" => {
                set_once(cx, inner, &mut keepalive_timeout, args::time(inner, 0))
            }
            "keepalive_requests" => {
                set_once(cx, inner, &mut keepalive_requests, args::number(inner, 0))
            }
            "least_conn" => set_once(cx, inner, &mut balance, Ok(Balance::LeastConn)),
            _ => {}
        }
    }
    if servers.is_empty() && cx.errors.0.len() == errors_before {
        cx.error(ConfigErrorKind::NoServersInUpstream, &d.span);
    }
    Upstream {
        name: arg(d, 0).to_ascii_lowercase(),
        servers,
        balance: balance.unwrap_or(Balance::RoundRobin),
        keepalive: keepalive.unwrap_or(DEFAULT_UPSTREAM_KEEPALIVE),
        keepalive_timeout: keepalive_timeout.unwrap_or(DEFAULT_KEEPALIVE_TIMEOUT),
        keepalive_requests: keepalive_requests.unwrap_or(DEFAULT_KEEPALIVE_REQUESTS),
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

//! The rest of nginx's `ngx_http_proxy_module` table: the directives that reshape the
//! request sent upstream and the response's cookies, and the upstream connection's
//! socket option ([`ProxyShaping`]). Their slots at one level and their merge.

use std::sync::Arc;
use std::time::Duration;

use super::args::{self, set_once};
use super::command::{d, Arity::*, Command, HTTP_SRV_LOC};
use super::Builder;
use crate::config::error::ConfigErrorKind;
use crate::config::model::proxy_shaping::{CookieRule, ProxyShaping};
use crate::config::template::Template;
use crate::config::tree::Directive;

/// The settings written at one level.
#[derive(Debug, Default)]
pub struct ShapingLayer {
    method: Option<Template>,
    pass_request_headers: Option<bool>,
    pass_request_body: Option<bool>,
    set_body: Option<Template>,
    cookie_domain: Option<Vec<CookieRule>>,
    cookie_path: Option<Vec<CookieRule>>,
    ignore_client_abort: Option<bool>,
    socket_keepalive: Option<bool>,
    bind: Option<Option<std::net::IpAddr>>,
    next_upstream_timeout: Option<Duration>,
    ignore_headers: Option<Vec<String>>,
}

pub const COMMANDS: &[Command<ShapingLayer>] = &[
    d("proxy_method", HTTP_SRV_LOC, Exactly(1), |s, d, cx, _| {
        let v = args::template(cx, d, 0);
        set_once(cx, d, &mut s.method, v)
    }),
    d(
        "proxy_pass_request_headers",
        HTTP_SRV_LOC,
        Exactly(1),
        |s, d, cx, _| set_once(cx, d, &mut s.pass_request_headers, args::flag(d)),
    ),
    d(
        "proxy_pass_request_body",
        HTTP_SRV_LOC,
        Exactly(1),
        |s, d, cx, _| set_once(cx, d, &mut s.pass_request_body, args::flag(d)),
    ),
    d("proxy_set_body", HTTP_SRV_LOC, Exactly(1), |s, d, cx, _| {
        let v = args::template(cx, d, 0);
        set_once(cx, d, &mut s.set_body, v)
    }),
    d(
        "proxy_cookie_domain",
        HTTP_SRV_LOC,
        Between(1, 2),
        |s, d, cx, _| cookie_rule(cx, d, &mut s.cookie_domain),
    ),
    d(
        "proxy_cookie_path",
        HTTP_SRV_LOC,
        Between(1, 2),
        |s, d, cx, _| cookie_rule(cx, d, &mut s.cookie_path),
    ),
    d(
        "proxy_ignore_client_abort",
        HTTP_SRV_LOC,
        Exactly(1),
        |s, d, cx, _| set_once(cx, d, &mut s.ignore_client_abort, args::flag(d)),
    ),
    d(
        "proxy_socket_keepalive",
        HTTP_SRV_LOC,
        Exactly(1),
        |s, d, cx, _| set_once(cx, d, &mut s.socket_keepalive, args::flag(d)),
    ),
    d("proxy_bind", HTTP_SRV_LOC, Between(1, 2), |s, d, cx, _| {
        let v = bind(d);
        set_once(cx, d, &mut s.bind, v)
    }),
    d(
        "proxy_next_upstream_timeout",
        HTTP_SRV_LOC,
        Exactly(1),
        |s, d, cx, _| set_once(cx, d, &mut s.next_upstream_timeout, args::time(d, 0)),
    ),
    d(
        "proxy_ignore_headers",
        HTTP_SRV_LOC,
        AtLeast(1),
        |s, d, cx, _| {
            let v = ignore_headers(d);
            set_once(cx, d, &mut s.ignore_headers, v)
        },
    ),
];

/// `proxy_cookie_domain off | FROM TO` (and `proxy_cookie_path`): rules add up at
/// one level; `off` clears what the level inherits.
fn cookie_rule(cx: &mut Builder, d: &Directive, rules: &mut Option<Vec<CookieRule>>) {
    let list = rules.get_or_insert_with(Vec::new);
    match d.arg_strs().as_slice() {
        ["off"] => list.clear(),
        [from, _] if from.starts_with('~') => cx.error(
            ConfigErrorKind::Unsupported(
                d.name.clone(),
                "a regex to match is not implemented; name the domain or path prefix",
            ),
            &d.span,
        ),
        [from, _] => match args::template(cx, d, 1) {
            Ok(to) => list.push(CookieRule {
                from: (*from).to_string(),
                to,
            }),
            Err(k) => cx.error(k, &d.span),
        },
        _ => cx.error(ConfigErrorKind::InvalidArgCount(d.name.clone()), &d.span),
    }
}

/// `proxy_bind ADDRESS | off` (`transparent`, and variables, are not implemented).
fn bind(d: &Directive) -> Result<Option<std::net::IpAddr>, ConfigErrorKind> {
    if d.args.len() == 2 {
        return Err(ConfigErrorKind::Unsupported(
            d.name.clone(),
            "\"transparent\" is not implemented",
        ));
    }
    match d.args[0].value.as_str() {
        "off" => Ok(None),
        a => a
            .parse()
            .map(Some)
            .map_err(|_| ConfigErrorKind::InvalidHost {
                directive: d.name.clone(),
                value: a.to_string(),
            }),
    }
}

/// The fields nginx lets `proxy_ignore_headers` name.
const IGNORABLE: &[&str] = &[
    "x-accel-redirect",
    "x-accel-expires",
    "x-accel-limit-rate",
    "x-accel-buffering",
    "x-accel-charset",
    "expires",
    "cache-control",
    "set-cookie",
    "vary",
];

fn ignore_headers(d: &Directive) -> Result<Vec<String>, ConfigErrorKind> {
    d.args
        .iter()
        .map(|a| {
            let lower = a.value.to_ascii_lowercase();
            if IGNORABLE.contains(&lower.as_str()) {
                Ok(lower)
            } else {
                Err(ConfigErrorKind::InvalidValueIn {
                    directive: d.name.clone(),
                    value: a.value.clone(),
                })
            }
        })
        .collect()
}

impl ShapingLayer {
    fn is_empty(&self) -> bool {
        self.method.is_none()
            && self.pass_request_headers.is_none()
            && self.pass_request_body.is_none()
            && self.set_body.is_none()
            && self.cookie_domain.is_none()
            && self.cookie_path.is_none()
            && self.ignore_client_abort.is_none()
            && self.socket_keepalive.is_none()
            && self.bind.is_none()
            && self.next_upstream_timeout.is_none()
            && self.ignore_headers.is_none()
    }

    /// Over the parent's settings; a level that writes none shares its parent's.
    pub fn merge(&self, p: &Arc<ProxyShaping>) -> Arc<ProxyShaping> {
        if self.is_empty() {
            return Arc::clone(p);
        }
        Arc::new(ProxyShaping {
            method: self.method.clone().or_else(|| p.method.clone()),
            pass_request_headers: self.pass_request_headers.unwrap_or(p.pass_request_headers),
            pass_request_body: self.pass_request_body.unwrap_or(p.pass_request_body),
            set_body: self.set_body.clone().or_else(|| p.set_body.clone()),
            cookie_domain: args::pick_vec(&self.cookie_domain, &p.cookie_domain),
            cookie_path: args::pick_vec(&self.cookie_path, &p.cookie_path),
            ignore_client_abort: self.ignore_client_abort.unwrap_or(p.ignore_client_abort),
            socket_keepalive: self.socket_keepalive.unwrap_or(p.socket_keepalive),
            bind: self.bind.unwrap_or(p.bind),
            next_upstream_timeout: self
                .next_upstream_timeout
                .unwrap_or(p.next_upstream_timeout),
            ignore_headers: args::pick_vec(&self.ignore_headers, &p.ignore_headers),
        })
    }
}

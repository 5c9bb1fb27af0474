//! nginx's `ngx_http_proxy_module`: every `proxy_*` directive. Its table, slots at one
//! level, merge and defaults (`proxy_pass` itself is parsed in [`super::proxy_pass`]
//! and resolved against the upstream groups when its location is built).

use std::path::PathBuf;
use std::time::Duration;

use super::args::{self, arg, push, set_once, Kind, NoEffect};
use super::command::{d, Arity::*, Command, Context, HTTP_SRV_LOC, LOC_LIF};
use super::headers::header_setting;
use super::proxy_pass::RawProxyPass;
use super::Builder;
use crate::config::error::ConfigErrorKind;
use crate::config::model::{NextUpstream, ProxyConf, ProxyPass, ProxyRedirect, RedirectRule};
use crate::config::tree::Directive;

/// Where buffered request and response bodies go when no `*_temp_path` is set.
pub const DEFAULT_PROXY_TEMP: &str = "/var/lib/vestibule/proxy";

/// The proxy settings written at one level.
#[derive(Debug, Default)]
pub struct ProxyLayer {
    pub pass: Option<RawProxyPass>,
    pub set_headers: Option<Vec<crate::config::model::HeaderSetting>>,
    pub redirect: Option<Vec<RedirectRule>>,
    pub redirect_off: bool,
    pub http_version: Option<(u8, u8)>,
    pub connect_timeout: Option<Duration>,
    pub read_timeout: Option<Duration>,
    pub send_timeout: Option<Duration>,
    pub buffering: Option<bool>,
    pub request_buffering: Option<bool>,
    pub buffer_size: Option<u64>,
    pub buffers: Option<(u32, u64)>,
    pub hide_headers: Option<Vec<String>>,
    pub pass_headers: Option<Vec<String>>,
    /// Parsed in full (`http_500` ... `non_idempotent`) into [`NextUpstream`].
    pub next_upstream: Option<NextUpstream>,
    pub next_upstream_tries: Option<u32>,
    pub temp_path: Option<PathBuf>,
    pub max_temp_file_size: Option<u64>,
    pub intercept_errors: Option<bool>,
    pub no_effect: NoEffect,
}

pub const COMMANDS: &[Command<ProxyLayer>] = &[
    d("proxy_pass", LOC_LIF, Exactly(1), |p, d, cx, ctx| {
        let v = RawProxyPass::parse(d, ctx, &cx.names);
        set_once(cx, d, &mut p.pass, v);
    }),
    d(
        "proxy_set_header",
        HTTP_SRV_LOC,
        Exactly(2),
        |p, d, cx, _| {
            let v = header_setting(cx, d, false);
            push(cx, d, &mut p.set_headers, v);
        },
    ),
    d(
        "proxy_redirect",
        HTTP_SRV_LOC,
        Between(1, 2),
        proxy_redirect,
    ),
    d(
        "proxy_http_version",
        HTTP_SRV_LOC,
        Exactly(1),
        |p, d, cx, _| {
            let v = match arg(d, 0) {
                "1.0" => Ok((1, 0)),
                "1.1" => Ok((1, 1)),
                other => Err(ConfigErrorKind::InvalidValueIn {
                    directive: d.name.clone(),
                    value: other.to_string(),
                }),
            };
            set_once(cx, d, &mut p.http_version, v);
        },
    ),
    d(
        "proxy_connect_timeout",
        HTTP_SRV_LOC,
        Exactly(1),
        |p, d, cx, _| set_once(cx, d, &mut p.connect_timeout, args::time(d, 0)),
    ),
    d(
        "proxy_read_timeout",
        HTTP_SRV_LOC,
        Exactly(1),
        |p, d, cx, _| set_once(cx, d, &mut p.read_timeout, args::time(d, 0)),
    ),
    d(
        "proxy_send_timeout",
        HTTP_SRV_LOC,
        Exactly(1),
        |p, d, cx, _| set_once(cx, d, &mut p.send_timeout, args::time(d, 0)),
    ),
    d(
        "proxy_intercept_errors",
        HTTP_SRV_LOC,
        Exactly(1),
        |p, d, cx, _| set_once(cx, d, &mut p.intercept_errors, args::flag(d)),
    ),
    d(
        "proxy_buffering",
        HTTP_SRV_LOC,
        Exactly(1),
        |p, d, cx, _| set_once(cx, d, &mut p.buffering, args::flag(d)),
    ),
    d(
        "proxy_request_buffering",
        HTTP_SRV_LOC,
        Exactly(1),
        |p, d, cx, _| set_once(cx, d, &mut p.request_buffering, args::flag(d)),
    ),
    d(
        "proxy_buffer_size",
        HTTP_SRV_LOC,
        Exactly(1),
        |p, d, cx, _| set_once(cx, d, &mut p.buffer_size, args::size(d, 0)),
    ),
    d("proxy_buffers", HTTP_SRV_LOC, Exactly(2), |p, d, cx, _| {
        let v = args::buffers(d);
        set_once(cx, d, &mut p.buffers, v);
    }),
    d(
        "proxy_max_temp_file_size",
        HTTP_SRV_LOC,
        Exactly(1),
        |p, d, cx, _| set_once(cx, d, &mut p.max_temp_file_size, args::size(d, 0)),
    ),
    d(
        "proxy_hide_header",
        HTTP_SRV_LOC,
        Exactly(1),
        |p, d, cx, _| {
            push(
                cx,
                d,
                &mut p.hide_headers,
                Ok(arg(d, 0).to_ascii_lowercase()),
            )
        },
    ),
    d(
        "proxy_pass_header",
        HTTP_SRV_LOC,
        Exactly(1),
        |p, d, cx, _| {
            push(
                cx,
                d,
                &mut p.pass_headers,
                Ok(arg(d, 0).to_ascii_lowercase()),
            )
        },
    ),
    d(
        "proxy_next_upstream",
        HTTP_SRV_LOC,
        AtLeast(1),
        |p, d, cx, _| {
            let v = next_upstream(d);
            set_once(cx, d, &mut p.next_upstream, v);
        },
    ),
    d(
        "proxy_next_upstream_tries",
        HTTP_SRV_LOC,
        Exactly(1),
        |p, d, cx, _| set_once(cx, d, &mut p.next_upstream_tries, args::number(d, 0)),
    ),
    d(
        "proxy_temp_path",
        HTTP_SRV_LOC,
        Between(1, 4),
        |p, d, cx, _| {
            let v = args::temp_path(cx, d);
            set_once(cx, d, &mut p.temp_path, v)
        },
    ),
    // nginx's limits on buffers busy sending and on each temp-file write: vestibule's
    // relay sends from its memory and temp file as the client takes (docs/proxy.md).
    d(
        "proxy_busy_buffers_size",
        HTTP_SRV_LOC,
        Exactly(1),
        |p, d, cx, _| {
            let why = "the response is sent from memory and the temp file as the client takes it";
            p.no_effect.set_kind(cx, d, Kind::Size, Some(why))
        },
    ),
    d(
        "proxy_temp_file_write_size",
        HTTP_SRV_LOC,
        Exactly(1),
        |p, d, cx, _| {
            let why = "the temp file is written as the upstream's pieces arrive";
            p.no_effect.set_kind(cx, d, Kind::Size, Some(why))
        },
    ),
    // The hash of header names to set and hide: vestibule's lists need no tuning.
    d(
        "proxy_headers_hash_max_size",
        HTTP_SRV_LOC,
        Exactly(1),
        no_effect,
    ),
    d(
        "proxy_headers_hash_bucket_size",
        HTTP_SRV_LOC,
        Exactly(1),
        no_effect,
    ),
];

fn no_effect(p: &mut ProxyLayer, d: &Directive, cx: &mut Builder, _: Context) {
    p.no_effect.set(cx, d);
}

fn proxy_redirect(p: &mut ProxyLayer, d: &Directive, cx: &mut Builder, _: Context) {
    let rule = match d.arg_strs().as_slice() {
        ["off"] => {
            p.redirect_off = true;
            return;
        }
        ["default"] => Ok(RedirectRule::Default),
        [from, _] if from.starts_with('~') => {
            let (ci, pattern) = match from.strip_prefix("~*") {
                Some(p) => (true, p),
                None => (false, &from[1..]),
            };
            super::compile_regex(pattern, ci).and_then(|regex| {
                Ok(RedirectRule::Regex {
                    regex,
                    to: args::template(cx, d, 1)?,
                })
            })
        }
        [_, _] => args::template(cx, d, 0).and_then(|from| {
            Ok(RedirectRule::Replace {
                from,
                to: args::template(cx, d, 1)?,
            })
        }),
        _ => Err(ConfigErrorKind::InvalidArgCount(d.name.clone())),
    };
    push(cx, d, &mut p.redirect, rule);
}

impl ProxyLayer {
    /// Merges this level over its parent's resolved settings; `pass` is this level's
    /// resolved `proxy_pass` (not inherited).
    pub fn merge(&self, p: &ProxyConf, pass: Option<ProxyPass>) -> ProxyConf {
        ProxyConf {
            pass,
            set_headers: args::pick_vec(&self.set_headers, &p.set_headers),
            redirect: if self.redirect_off {
                ProxyRedirect::Off
            } else if let Some(rules) = &self.redirect {
                ProxyRedirect::Rules(rules.clone())
            } else {
                p.redirect.clone()
            },
            http_version: self.http_version.unwrap_or(p.http_version),
            connect_timeout: self.connect_timeout.unwrap_or(p.connect_timeout),
            read_timeout: self.read_timeout.unwrap_or(p.read_timeout),
            send_timeout: self.send_timeout.unwrap_or(p.send_timeout),
            buffering: self.buffering.unwrap_or(p.buffering),
            request_buffering: self.request_buffering.unwrap_or(p.request_buffering),
            buffer_size: self.buffer_size.unwrap_or(p.buffer_size),
            buffers: self.buffers.unwrap_or(p.buffers),
            hide_headers: args::pick_vec(&self.hide_headers, &p.hide_headers),
            pass_headers: args::pick_vec(&self.pass_headers, &p.pass_headers),
            next_upstream: self.next_upstream.unwrap_or(p.next_upstream),
            next_upstream_tries: self.next_upstream_tries.unwrap_or(p.next_upstream_tries),
            temp_path: self
                .temp_path
                .clone()
                .unwrap_or_else(|| p.temp_path.clone()),
            max_temp_file_size: self.max_temp_file_size.unwrap_or(p.max_temp_file_size),
            intercept_errors: self.intercept_errors.unwrap_or(p.intercept_errors),
            // Merged by its own table's slots (`proxy_shaping.rs`).
            shaping: std::sync::Arc::clone(&p.shaping),
            ssl: std::sync::Arc::clone(&p.ssl),
            cache: std::sync::Arc::clone(&p.cache),
        }
    }
}

/// nginx's defaults, except `proxy_http_version` (1.1, since upstream connections are
/// kept alive by default) and Debian's temp path.
pub fn defaults() -> ProxyConf {
    ProxyConf {
        pass: None,
        set_headers: Vec::new(),
        redirect: ProxyRedirect::Rules(vec![RedirectRule::Default]),
        http_version: (1, 1),
        connect_timeout: Duration::from_secs(60),
        read_timeout: Duration::from_secs(60),
        send_timeout: Duration::from_secs(60),
        buffering: true,
        request_buffering: true,
        buffer_size: 4 << 10,
        buffers: (8, 4 << 10),
        hide_headers: Vec::new(),
        pass_headers: Vec::new(),
        next_upstream: NextUpstream {
            error: true,
            timeout: true,
            ..NextUpstream::default()
        },
        next_upstream_tries: 0,
        temp_path: PathBuf::from(DEFAULT_PROXY_TEMP),
        max_temp_file_size: 1 << 30,
        intercept_errors: false,
        shaping: std::sync::Arc::default(),
        ssl: std::sync::Arc::default(),
        cache: super::cache::defaults(),
    }
}

fn next_upstream(d: &Directive) -> Result<NextUpstream, ConfigErrorKind> {
    let mut n = NextUpstream::default();
    for a in &d.args {
        match a.value.as_str() {
            "off" if d.args.len() == 1 => return Ok(NextUpstream::default()),
            "error" => n.error = true,
            "timeout" => n.timeout = true,
            "invalid_header" => n.invalid_header = true,
            "http_500" => n.http_500 = true,
            "http_502" => n.http_502 = true,
            "http_503" => n.http_503 = true,
            "http_504" => n.http_504 = true,
            "http_403" => n.http_403 = true,
            "http_404" => n.http_404 = true,
            "http_429" => n.http_429 = true,
            "non_idempotent" => n.non_idempotent = true,
            other => {
                return Err(ConfigErrorKind::InvalidValueIn {
                    directive: d.name.clone(),
                    value: other.to_string(),
                })
            }
        }
    }
    Ok(n)
}

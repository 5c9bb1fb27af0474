//! One level's worth of location settings (http, server or location block), each
//! `None` until a directive sets it, and the merge that turns a chain of levels into a
//! [`LocationConf`], as nginx's `merge_loc_conf` handlers do.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use super::args::{self, arg, push, set_once};
use super::proxy_pass::RawProxyPass;
use super::schema::Context;
use super::Builder;
use crate::config::error::ConfigErrorKind;
use crate::config::model::{
    AccessLog, DocRoot, ErrorPage, ErrorPageOverwrite, ErrorPageTarget, Expires, HeaderSetting,
    LocationConf, MimeTypes, NextUpstream, ProxyConf, ProxyRedirect, RealIpConf, RealIpHeader,
    RedirectRule, Return, TrustedPeer, TryFiles, TryFilesFallback,
};
use crate::config::template::Template;
use crate::config::tree::Directive;

/// Settings written at one level. Fields mirror [`LocationConf`].
#[derive(Debug, Default)]
pub struct Layer {
    /// The root or alias, and which of the two directives set it.
    pub root: Option<(DocRoot, &'static str)>,
    pub index: Option<Vec<Template>>,
    pub try_files: Option<TryFiles>,
    pub return_: Option<Return>,
    pub expires: Option<Expires>,
    pub add_headers: Option<Vec<HeaderSetting>>,
    pub error_pages: Option<Vec<ErrorPage>>,
    pub types: Option<MimeTypes>,
    pub default_type: Option<String>,
    pub sendfile: Option<bool>,
    pub tcp_nopush: Option<bool>,
    pub tcp_nodelay: Option<bool>,
    pub keepalive_timeout: Option<(Duration, Option<Duration>)>,
    pub keepalive_requests: Option<u32>,
    pub access_log: Option<Vec<AccessLog>>,
    pub client_max_body_size: Option<u64>,
    pub client_body_buffer_size: Option<u64>,
    pub client_body_timeout: Option<Duration>,
    pub client_body_temp_path: Option<PathBuf>,
    pub send_timeout: Option<Duration>,
    pub server_tokens: Option<bool>,
    pub absolute_redirect: Option<bool>,
    pub proxy_pass: Option<RawProxyPass>,
    pub proxy_set_headers: Option<Vec<HeaderSetting>>,
    pub proxy_redirect: Option<Vec<RedirectRule>>,
    pub proxy_redirect_off: bool,
    pub proxy_http_version: Option<(u8, u8)>,
    pub proxy_connect_timeout: Option<Duration>,
    pub proxy_read_timeout: Option<Duration>,
    pub proxy_send_timeout: Option<Duration>,
    pub proxy_buffering: Option<bool>,
    pub proxy_request_buffering: Option<bool>,
    pub proxy_buffer_size: Option<u64>,
    pub proxy_buffers: Option<(u32, u64)>,
    pub proxy_hide_headers: Option<Vec<String>>,
    pub proxy_pass_headers: Option<Vec<String>>,
    pub proxy_next_upstream: Option<NextUpstream>,
    pub proxy_next_upstream_tries: Option<u32>,
    pub proxy_temp_path: Option<PathBuf>,
    pub proxy_max_temp_file_size: Option<u64>,
    pub set_real_ip_from: Option<Vec<TrustedPeer>>,
    pub real_ip_header: Option<RealIpHeader>,
    pub real_ip_recursive: Option<bool>,
    // http and server levels only
    pub client_header_buffer_size: Option<u64>,
    pub large_client_header_buffers: Option<(u32, u64)>,
    pub client_header_timeout: Option<Duration>,
    pub underscores_in_headers: Option<bool>,
    pub ignore_invalid_headers: Option<bool>,
}

impl Layer {
    /// Applies a directive that belongs to a layer. Returns false when the directive is
    /// not a layer setting (the caller handles it). The schema check has passed.
    pub fn apply(&mut self, d: &Directive, cx: &mut Builder, ctx: Context) -> bool {
        match d.name.as_str() {
            "root" | "alias" => self.set_root(d, cx),
            "index" => {
                for i in 0..d.args.len() {
                    let t = args::template(cx, d, i);
                    push(cx, d, &mut self.index, t);
                }
            }
            "try_files" => {
                let v = try_files(cx, d);
                set_once(cx, d, &mut self.try_files, v);
            }
            "return" => {
                // nginx runs the first `return`; later ones are unreachable.
                let v = return_(cx, d);
                match v {
                    Ok(r) if self.return_.is_none() => self.return_ = Some(r),
                    Ok(_) => {}
                    Err(k) => cx.error(k, &d.span),
                }
            }
            "expires" => {
                let v = expires(d);
                set_once(cx, d, &mut self.expires, v);
            }
            "add_header" => {
                let v = header_setting(cx, d, true);
                push(cx, d, &mut self.add_headers, v);
            }
            "error_page" => {
                let v = error_page(cx, d);
                push(cx, d, &mut self.error_pages, v);
            }
            "types" => {
                let types = self.types.get_or_insert_with(MimeTypes::default);
                types_block(cx, d.block.as_deref().unwrap_or(&[]), types);
            }
            "default_type" => set_once(cx, d, &mut self.default_type, Ok(arg(d, 0).to_string())),
            "sendfile" => set_once(cx, d, &mut self.sendfile, args::flag(d)),
            "tcp_nopush" => set_once(cx, d, &mut self.tcp_nopush, args::flag(d)),
            "tcp_nodelay" => set_once(cx, d, &mut self.tcp_nodelay, args::flag(d)),
            "keepalive_timeout" => {
                let v = args::time(d, 0).and_then(|t| {
                    let header = match d.args.get(1) {
                        Some(_) => Some(args::time(d, 1)?),
                        None => None,
                    };
                    Ok((t, header))
                });
                set_once(cx, d, &mut self.keepalive_timeout, v);
            }
            "keepalive_requests" => {
                set_once(cx, d, &mut self.keepalive_requests, args::number(d, 0))
            }
            "access_log" => self.access_log(cx, d),
            "client_max_body_size" => {
                set_once(cx, d, &mut self.client_max_body_size, args::size(d, 0))
            }
            "client_body_buffer_size" => {
                set_once(cx, d, &mut self.client_body_buffer_size, args::size(d, 0))
            }
            "client_body_timeout" => {
                set_once(cx, d, &mut self.client_body_timeout, args::time(d, 0))
            }
            "client_body_temp_path" => {
                let p = temp_path(cx, d);
                set_once(cx, d, &mut self.client_body_temp_path, p)
            }
            "send_timeout" => set_once(cx, d, &mut self.send_timeout, args::time(d, 0)),
            "server_tokens" => {
                let v = match arg(d, 0) {
                    "build" => Err(ConfigErrorKind::Unsupported(
                        d.name.clone(),
                        "use on or off",
                    )),
                    _ => args::flag(d),
                };
                set_once(cx, d, &mut self.server_tokens, v)
            }
            "absolute_redirect" => set_once(cx, d, &mut self.absolute_redirect, args::flag(d)),
            "proxy_pass" => {
                let v = RawProxyPass::parse(d, ctx);
                set_once(cx, d, &mut self.proxy_pass, v);
            }
            "proxy_set_header" => {
                let v = header_setting(cx, d, false);
                push(cx, d, &mut self.proxy_set_headers, v);
            }
            "proxy_redirect" => self.proxy_redirect(cx, d),
            "proxy_http_version" => {
                let v = match arg(d, 0) {
                    "1.0" => Ok((1, 0)),
                    "1.1" => Ok((1, 1)),
                    other => Err(ConfigErrorKind::InvalidValueIn {
                        directive: d.name.clone(),
                        value: other.to_string(),
                    }),
                };
                set_once(cx, d, &mut self.proxy_http_version, v);
            }
            "proxy_connect_timeout" => {
                set_once(cx, d, &mut self.proxy_connect_timeout, args::time(d, 0))
            }
            "proxy_read_timeout" => set_once(cx, d, &mut self.proxy_read_timeout, args::time(d, 0)),
            "proxy_send_timeout" => set_once(cx, d, &mut self.proxy_send_timeout, args::time(d, 0)),
            "proxy_buffering" => set_once(cx, d, &mut self.proxy_buffering, args::flag(d)),
            "proxy_request_buffering" => {
                set_once(cx, d, &mut self.proxy_request_buffering, args::flag(d))
            }
            "proxy_buffer_size" => set_once(cx, d, &mut self.proxy_buffer_size, args::size(d, 0)),
            "proxy_buffers" => {
                let v = buffers(d);
                set_once(cx, d, &mut self.proxy_buffers, v);
            }
            "proxy_hide_header" => push(
                cx,
                d,
                &mut self.proxy_hide_headers,
                Ok(arg(d, 0).to_ascii_lowercase()),
            ),
            "proxy_pass_header" => push(
                cx,
                d,
                &mut self.proxy_pass_headers,
                Ok(arg(d, 0).to_ascii_lowercase()),
            ),
            "proxy_next_upstream" => {
                let v = next_upstream(d);
                set_once(cx, d, &mut self.proxy_next_upstream, v);
            }
            "proxy_next_upstream_tries" => set_once(
                cx,
                d,
                &mut self.proxy_next_upstream_tries,
                args::number(d, 0),
            ),
            "proxy_temp_path" => {
                let p = temp_path(cx, d);
                set_once(cx, d, &mut self.proxy_temp_path, p)
            }
            "proxy_max_temp_file_size" => {
                set_once(cx, d, &mut self.proxy_max_temp_file_size, args::size(d, 0))
            }
            "set_real_ip_from" => {
                let v = super::realip::set_real_ip_from(cx, d);
                match v {
                    Ok(entries) => self
                        .set_real_ip_from
                        .get_or_insert_with(Vec::new)
                        .extend(entries),
                    Err(kind) => cx.error(kind, &d.span),
                }
            }
            "real_ip_header" => {
                let v = super::realip::real_ip_header(d);
                set_once(cx, d, &mut self.real_ip_header, v)
            }
            "real_ip_recursive" => set_once(cx, d, &mut self.real_ip_recursive, args::flag(d)),
            "client_header_buffer_size" => {
                set_once(cx, d, &mut self.client_header_buffer_size, args::size(d, 0))
            }
            "large_client_header_buffers" => {
                let v = buffers(d);
                set_once(cx, d, &mut self.large_client_header_buffers, v);
            }
            "client_header_timeout" => {
                set_once(cx, d, &mut self.client_header_timeout, args::time(d, 0))
            }
            "underscores_in_headers" => {
                set_once(cx, d, &mut self.underscores_in_headers, args::flag(d))
            }
            "ignore_invalid_headers" => {
                set_once(cx, d, &mut self.ignore_invalid_headers, args::flag(d))
            }
            _ => return false,
        }
        true
    }

    fn set_root(&mut self, d: &Directive, cx: &mut Builder) {
        let name: &'static str = if d.name == "alias" { "alias" } else { "root" };
        if let Some((_, earlier)) = &self.root {
            let kind = if *earlier == name {
                ConfigErrorKind::Duplicate(d.name.clone())
            } else {
                ConfigErrorKind::DuplicateWith {
                    directive: d.name.clone(),
                    earlier: earlier.to_string(),
                }
            };
            cx.error(kind, &d.span);
            return;
        }
        let raw = arg(d, 0);
        // A relative root is relative to the prefix; a template starting with a
        // variable is left as written.
        let text = if raw.starts_with('/') || raw.starts_with('$') {
            raw.to_string()
        } else {
            cx.full_path(raw).to_string_lossy().into_owned()
        };
        match Template::parse(&text, &cx.captures) {
            Ok(t) => {
                let root = if name == "alias" {
                    DocRoot::Alias(t)
                } else {
                    DocRoot::Root(t)
                };
                self.root = Some((root, name));
            }
            Err(k) => cx.error(k, &d.span),
        }
    }

    fn access_log(&mut self, cx: &mut Builder, d: &Directive) {
        let list = self.access_log.get_or_insert_with(Vec::new);
        if arg(d, 0) == "off" {
            if d.args.len() > 1 {
                cx.error(ConfigErrorKind::InvalidArgCount(d.name.clone()), &d.span);
            }
            // `off` at a level clears the list; nothing else may be combined with it.
            list.clear();
            return;
        }
        let path = arg(d, 0);
        if path.starts_with("syslog:") || path.contains('$') {
            cx.error(
                ConfigErrorKind::Unsupported(d.name.clone(), "log to a fixed file path"),
                &d.span,
            );
            return;
        }
        for extra in d.args.iter().skip(2) {
            if !(extra.value.starts_with("buffer=") || extra.value.starts_with("flush=")) {
                cx.error(
                    ConfigErrorKind::InvalidParameter(extra.value.clone()),
                    &d.span,
                );
                return;
            }
        }
        let format = d
            .args
            .get(1)
            .map_or("combined", |a| a.value.as_str())
            .to_string();
        let path = cx.full_path(path);
        list.push(AccessLog { path, format });
    }

    fn proxy_redirect(&mut self, cx: &mut Builder, d: &Directive) {
        let rule = match d.arg_strs().as_slice() {
            ["off"] => {
                self.proxy_redirect_off = true;
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
        push(cx, d, &mut self.proxy_redirect, rule);
    }

    /// Merges this level over its parent's resolved settings.
    pub fn merge(
        &self,
        parent: &LocationConf,
        proxy_pass: Option<crate::config::model::ProxyPass>,
    ) -> LocationConf {
        let p = &parent.proxy;
        let proxy = ProxyConf {
            pass: proxy_pass,
            set_headers: pick_vec(&self.proxy_set_headers, &p.set_headers),
            redirect: if self.proxy_redirect_off {
                ProxyRedirect::Off
            } else if let Some(rules) = &self.proxy_redirect {
                ProxyRedirect::Rules(rules.clone())
            } else {
                p.redirect.clone()
            },
            http_version: self.proxy_http_version.unwrap_or(p.http_version),
            connect_timeout: self.proxy_connect_timeout.unwrap_or(p.connect_timeout),
            read_timeout: self.proxy_read_timeout.unwrap_or(p.read_timeout),
            send_timeout: self.proxy_send_timeout.unwrap_or(p.send_timeout),
            buffering: self.proxy_buffering.unwrap_or(p.buffering),
            request_buffering: self.proxy_request_buffering.unwrap_or(p.request_buffering),
            buffer_size: self.proxy_buffer_size.unwrap_or(p.buffer_size),
            buffers: self.proxy_buffers.unwrap_or(p.buffers),
            hide_headers: pick_vec(&self.proxy_hide_headers, &p.hide_headers),
            pass_headers: pick_vec(&self.proxy_pass_headers, &p.pass_headers),
            next_upstream: self.proxy_next_upstream.unwrap_or(p.next_upstream),
            next_upstream_tries: self
                .proxy_next_upstream_tries
                .unwrap_or(p.next_upstream_tries),
            temp_path: self
                .proxy_temp_path
                .clone()
                .unwrap_or_else(|| p.temp_path.clone()),
            max_temp_file_size: self
                .proxy_max_temp_file_size
                .unwrap_or(p.max_temp_file_size),
        };
        LocationConf {
            root: self
                .root
                .as_ref()
                .map_or_else(|| parent.root.clone(), |(r, _)| r.clone()),
            index: pick_vec(&self.index, &parent.index),
            try_files: self.try_files.clone(),
            return_: self.return_.clone(),
            expires: self.expires.unwrap_or(parent.expires),
            add_headers: pick_vec(&self.add_headers, &parent.add_headers),
            error_pages: pick_vec(&self.error_pages, &parent.error_pages),
            types: self
                .types
                .as_ref()
                .map_or_else(|| parent.types.clone(), |t| Arc::new(t.clone())),
            default_type: self
                .default_type
                .clone()
                .unwrap_or_else(|| parent.default_type.clone()),
            sendfile: self.sendfile.unwrap_or(parent.sendfile),
            tcp_nopush: self.tcp_nopush.unwrap_or(parent.tcp_nopush),
            tcp_nodelay: self.tcp_nodelay.unwrap_or(parent.tcp_nodelay),
            keepalive_timeout: self
                .keepalive_timeout
                .map_or(parent.keepalive_timeout, |k| k.0),
            keepalive_header_timeout: self
                .keepalive_timeout
                .map_or(parent.keepalive_header_timeout, |k| k.1),
            keepalive_requests: self.keepalive_requests.unwrap_or(parent.keepalive_requests),
            access_log: pick_vec(&self.access_log, &parent.access_log),
            client_max_body_size: self
                .client_max_body_size
                .unwrap_or(parent.client_max_body_size),
            client_body_buffer_size: self
                .client_body_buffer_size
                .unwrap_or(parent.client_body_buffer_size),
            client_body_timeout: self
                .client_body_timeout
                .unwrap_or(parent.client_body_timeout),
            client_body_temp_path: self
                .client_body_temp_path
                .clone()
                .unwrap_or_else(|| parent.client_body_temp_path.clone()),
            send_timeout: self.send_timeout.unwrap_or(parent.send_timeout),
            server_tokens: self.server_tokens.unwrap_or(parent.server_tokens),
            absolute_redirect: self.absolute_redirect.unwrap_or(parent.absolute_redirect),
            realip: RealIpConf {
                set_real_ip_from: pick_vec(&self.set_real_ip_from, &parent.realip.set_real_ip_from),
                real_ip_header: self
                    .real_ip_header
                    .clone()
                    .unwrap_or_else(|| parent.realip.real_ip_header.clone()),
                real_ip_recursive: self
                    .real_ip_recursive
                    .unwrap_or(parent.realip.real_ip_recursive),
            },
            proxy,
        }
    }
}

/// nginx's rule for array settings: a level that writes any entry replaces the whole
/// inherited list.
fn pick_vec<T: Clone>(own: &Option<Vec<T>>, inherited: &[T]) -> Vec<T> {
    own.clone().unwrap_or_else(|| inherited.to_vec())
}

fn header_setting(
    cx: &Builder,
    d: &Directive,
    allow_always: bool,
) -> Result<HeaderSetting, ConfigErrorKind> {
    let always = match d.args.get(2) {
        None => false,
        Some(a) if allow_always && a.value == "always" => true,
        Some(a) => return Err(ConfigErrorKind::InvalidParameter(a.value.clone())),
    };
    Ok(HeaderSetting {
        name: arg(d, 0).to_string(),
        value: args::template(cx, d, 1)?,
        always,
    })
}

fn try_files(cx: &Builder, d: &Directive) -> Result<TryFiles, ConfigErrorKind> {
    let n = d.args.len();
    let mut files = Vec::with_capacity(n.saturating_sub(1));
    for i in 0..n.saturating_sub(1) {
        files.push(args::template(cx, d, i)?);
    }
    let last = arg(d, n.saturating_sub(1));
    let fallback = if let Some(code) = last.strip_prefix('=') {
        match code.parse::<u16>() {
            Ok(c) if (100..=999).contains(&c) => TryFilesFallback::Code(c),
            _ => return Err(ConfigErrorKind::InvalidReturnCode(last.to_string())),
        }
    } else if last.starts_with('@') {
        TryFilesFallback::Named(last.to_string())
    } else {
        TryFilesFallback::Uri(args::template(cx, d, n.saturating_sub(1))?)
    };
    Ok(TryFiles { files, fallback })
}

/// `return code [text]`, `return code URL`, `return URL`.
pub fn return_(cx: &Builder, d: &Directive) -> Result<Return, ConfigErrorKind> {
    let first = arg(d, 0);
    let Ok(code) = first.parse::<u16>() else {
        if d.args.len() == 1
            && (first.starts_with("http://")
                || first.starts_with("https://")
                || first.starts_with("$scheme"))
        {
            return Ok(Return {
                code: 302,
                text: Some(args::template(cx, d, 0)?),
            });
        }
        return Err(ConfigErrorKind::InvalidReturnCode(first.to_string()));
    };
    if code > 999 || (d.args.len() == 2 && code == 444) {
        return Err(ConfigErrorKind::InvalidReturnCode(first.to_string()));
    }
    let text = match d.args.get(1) {
        Some(_) => Some(args::template(cx, d, 1)?),
        None => None,
    };
    Ok(Return { code, text })
}

fn expires(d: &Directive) -> Result<Expires, ConfigErrorKind> {
    let (modified, value) = match d.arg_strs().as_slice() {
        ["modified", v] => (true, *v),
        [v] => (false, *v),
        _ => return Err(ConfigErrorKind::InvalidArgCount(d.name.clone())),
    };
    match value {
        "off" if !modified => return Ok(Expires::Off),
        "epoch" if !modified => return Ok(Expires::Epoch),
        "max" if !modified => return Ok(Expires::Max),
        _ => {}
    }
    if value.starts_with('@') {
        return Err(ConfigErrorKind::Unsupported(
            d.name.clone(),
            "\"@time\" is not implemented; use a relative time",
        ));
    }
    let (negative, t) = match value.strip_prefix('-') {
        Some(t) => (true, t),
        None => (false, value.strip_prefix('+').unwrap_or(value)),
    };
    let secs = crate::config::value::parse_time(t)
        .and_then(|d| i64::try_from(d.as_secs()).ok())
        .ok_or_else(|| ConfigErrorKind::InvalidValue(d.name.clone()))?;
    let secs = if negative { -secs } else { secs };
    Ok(if modified {
        Expires::Modified(secs)
    } else {
        Expires::Access(secs)
    })
}

fn error_page(cx: &Builder, d: &Directive) -> Result<ErrorPage, ConfigErrorKind> {
    let n = d.args.len();
    let target_arg = arg(d, n - 1);
    let mut codes = Vec::new();
    let mut overwrite = ErrorPageOverwrite::Keep;
    for a in d.args.iter().take(n - 1) {
        let v = a.value.as_str();
        if let Some(code) = v.strip_prefix('=') {
            overwrite = if code.is_empty() {
                ErrorPageOverwrite::FromTarget
            } else {
                match code.parse::<u16>() {
                    Ok(c) if c <= 999 => ErrorPageOverwrite::Code(c),
                    _ => {
                        return Err(ConfigErrorKind::InvalidValueIn {
                            directive: d.name.clone(),
                            value: v.to_string(),
                        })
                    }
                }
            };
            continue;
        }
        match v.parse::<u16>() {
            Ok(c) if (300..=599).contains(&c) && c != 499 => codes.push(c),
            Ok(_) => return Err(ConfigErrorKind::InvalidErrorPageCode(v.to_string())),
            Err(_) => {
                return Err(ConfigErrorKind::InvalidValueIn {
                    directive: d.name.clone(),
                    value: v.to_string(),
                })
            }
        }
    }
    if codes.is_empty() {
        return Err(ConfigErrorKind::InvalidArgCount(d.name.clone()));
    }
    let target = if target_arg.starts_with('@') {
        ErrorPageTarget::Named(target_arg.to_string())
    } else {
        ErrorPageTarget::Uri(args::template(cx, d, n - 1)?)
    };
    Ok(ErrorPage {
        codes,
        overwrite,
        target,
    })
}

/// `proxy_buffers 8 4k` / `large_client_header_buffers 4 8k`.
fn buffers(d: &Directive) -> Result<(u32, u64), ConfigErrorKind> {
    let n = args::number(d, 0).map_err(|_| ConfigErrorKind::InvalidValue(d.name.clone()))?;
    let size = args::size(d, 1)?;
    if n == 0 || size == 0 {
        return Err(ConfigErrorKind::InvalidValue(d.name.clone()));
    }
    Ok((n, size))
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

/// `client_body_temp_path PATH [LEVEL...]`: levels are not implemented.
fn temp_path(cx: &Builder, d: &Directive) -> Result<PathBuf, ConfigErrorKind> {
    if d.args.len() > 1 {
        return Err(ConfigErrorKind::Unsupported(
            d.name.clone(),
            "subdirectory levels are not implemented; give only the path",
        ));
    }
    Ok(args::path(cx, d, 0))
}

fn types_block(cx: &mut Builder, directives: &[Directive], types: &mut MimeTypes) {
    for d in directives {
        if !cx.check(d, Context::Types) {
            continue;
        }
        for ext in &d.args {
            types
                .by_extension
                .insert(ext.value.to_ascii_lowercase(), d.name.clone());
        }
    }
}

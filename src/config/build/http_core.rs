//! nginx's `ngx_http_core_module`: the `server` and `location` blocks, `listen`,
//! `server_name`, MIME types, connection and client-body settings, `error_page`, and
//! the hash-table tuning directives that have no effect in vestibule. Its table, its
//! slots at one level, and its merge (root, alias, `try_files` and `index` are in
//! [`super::static_files`]).

use std::path::PathBuf;
use std::time::Duration;

use super::args::{self, arg, push, set_once, Kind, NoEffect};
use super::command::{
    b, d, Arity::*, Command, Context, HTTP, HTTP_SRV, HTTP_SRV_LOC, HTTP_SRV_LOC_LIF, LOC, SRV,
    SRV_LOC,
};
use super::listen::parse_listen;
use super::Builder;
use crate::config::error::ConfigErrorKind;
use crate::config::model::{
    ErrorPage, ErrorPageOverwrite, ErrorPageTarget, KeepaliveDisable, Listen, LocationConf,
    MimeTypes, ServerName,
};
use crate::config::tree::Directive;

/// The core module's settings written at one level (http, server or location), each
/// `None` until a directive sets it; and what a level collects for its builder.
#[derive(Debug, Default)]
pub struct CoreConf {
    /// `server` blocks (in http) or `location` blocks (in a server or location), in
    /// order, built after the level's own settings.
    pub blocks: Vec<Directive>,
    pub listens: Vec<Listen>,
    pub server_names: Vec<ServerName>,
    pub internal: bool,
    pub error_pages: Option<Vec<ErrorPage>>,
    pub types: Option<MimeTypes>,
    pub default_type: Option<String>,
    pub sendfile: Option<bool>,
    pub log_not_found: Option<bool>,
    pub tcp_nopush: Option<bool>,
    pub tcp_nodelay: Option<bool>,
    pub keepalive_timeout: Option<(Duration, Option<Duration>)>,
    pub keepalive_requests: Option<u32>,
    pub keepalive_disable: Option<KeepaliveDisable>,
    /// `none` was written in a `keepalive_disable` of this level (for nginx's
    /// `duplicate value` warning).
    pub keepalive_disable_none: bool,
    pub client_max_body_size: Option<u64>,
    pub client_body_buffer_size: Option<u64>,
    pub client_body_timeout: Option<Duration>,
    pub client_body_temp_path: Option<PathBuf>,
    pub send_timeout: Option<Duration>,
    pub reset_timedout_connection: Option<bool>,
    pub server_tokens: Option<bool>,
    pub absolute_redirect: Option<bool>,
    pub server_name_in_redirect: Option<bool>,
    pub port_in_redirect: Option<bool>,
    // http and server levels only (read from the server, see `server.rs`)
    pub client_header_buffer_size: Option<u64>,
    pub large_client_header_buffers: Option<(u32, u64)>,
    pub client_header_timeout: Option<Duration>,
    pub underscores_in_headers: Option<bool>,
    pub ignore_invalid_headers: Option<bool>,
    pub recursive_error_pages: Option<bool>,
    pub resolver: Option<ResolverSlot>,
    pub resolver_timeout: Option<Duration>,
    pub no_effect: NoEffect,
}

/// `resolver` as written at one level.
#[derive(Debug, Clone)]
pub struct ResolverSlot {
    pub servers: Vec<std::net::SocketAddr>,
    pub valid: Option<Duration>,
    pub ipv6: bool,
}

pub const COMMANDS: &[Command<CoreConf>] = &[
    b("server", HTTP, Exactly(0), |c, d, _, _| {
        c.blocks.push(d.clone())
    }),
    b("location", SRV_LOC, Between(1, 2), |c, d, _, _| {
        c.blocks.push(d.clone())
    }),
    d("listen", SRV, AtLeast(1), listen),
    d("server_name", SRV, AtLeast(1), |c, d, cx, _| {
        for a in &d.args {
            match parse_server_name(&a.value) {
                Ok(mut n) => c.server_names.append(&mut n),
                Err(k) => cx.error(k, &d.span),
            }
        }
    }),
    d("internal", LOC, Exactly(0), |c, _, _, _| c.internal = true),
    b("types", HTTP_SRV_LOC, Exactly(0), |c, d, cx, _| {
        let types = c.types.get_or_insert_with(MimeTypes::default);
        types_block(cx, d.block.as_deref().unwrap_or(&[]), types);
    }),
    d("default_type", HTTP_SRV_LOC, Exactly(1), |c, d, cx, _| {
        set_once(cx, d, &mut c.default_type, Ok(arg(d, 0).to_string()))
    }),
    d(
        "recursive_error_pages",
        HTTP_SRV_LOC,
        Exactly(1),
        |c, d, cx, _| set_once(cx, d, &mut c.recursive_error_pages, args::flag(d)),
    ),
    d("error_page", HTTP_SRV_LOC_LIF, AtLeast(2), |c, d, cx, _| {
        let v = error_page(cx, d);
        push(cx, d, &mut c.error_pages, v);
    }),
    d("sendfile", HTTP_SRV_LOC_LIF, Exactly(1), |c, d, cx, _| {
        set_once(cx, d, &mut c.sendfile, args::flag(d))
    }),
    d(
        "log_not_found",
        HTTP_SRV_LOC_LIF,
        Exactly(1),
        |c, d, cx, _| set_once(cx, d, &mut c.log_not_found, args::flag(d)),
    ),
    d("tcp_nopush", HTTP_SRV_LOC, Exactly(1), |c, d, cx, _| {
        set_once(cx, d, &mut c.tcp_nopush, args::flag(d))
    }),
    d("tcp_nodelay", HTTP_SRV_LOC, Exactly(1), |c, d, cx, _| {
        set_once(cx, d, &mut c.tcp_nodelay, args::flag(d))
    }),
    d(
        "keepalive_timeout",
        HTTP_SRV_LOC,
        Between(1, 2),
        |c, d, cx, _| {
            let v = args::time(d, 0).and_then(|t| {
                let header = match d.args.get(1) {
                    Some(_) => Some(args::time(d, 1)?),
                    None => None,
                };
                Ok((t, header))
            });
            set_once(cx, d, &mut c.keepalive_timeout, v);
        },
    ),
    d(
        "keepalive_requests",
        HTTP_SRV_LOC,
        Exactly(1),
        |c, d, cx, _| set_once(cx, d, &mut c.keepalive_requests, args::number(d, 0)),
    ),
    d(
        "client_max_body_size",
        HTTP_SRV_LOC,
        Exactly(1),
        |c, d, cx, _| set_once(cx, d, &mut c.client_max_body_size, args::size(d, 0)),
    ),
    d(
        "client_body_buffer_size",
        HTTP_SRV_LOC,
        Exactly(1),
        |c, d, cx, _| set_once(cx, d, &mut c.client_body_buffer_size, args::size(d, 0)),
    ),
    d(
        "client_header_buffer_size",
        HTTP_SRV,
        Exactly(1),
        |c, d, cx, _| set_once(cx, d, &mut c.client_header_buffer_size, args::size(d, 0)),
    ),
    d(
        "large_client_header_buffers",
        HTTP_SRV,
        Exactly(2),
        |c, d, cx, _| {
            let v = args::buffers(d);
            set_once(cx, d, &mut c.large_client_header_buffers, v);
        },
    ),
    d(
        "client_header_timeout",
        HTTP_SRV,
        Exactly(1),
        |c, d, cx, _| set_once(cx, d, &mut c.client_header_timeout, args::time(d, 0)),
    ),
    d(
        "underscores_in_headers",
        HTTP_SRV,
        Exactly(1),
        |c, d, cx, _| set_once(cx, d, &mut c.underscores_in_headers, args::flag(d)),
    ),
    d(
        "ignore_invalid_headers",
        HTTP_SRV,
        Exactly(1),
        |c, d, cx, _| set_once(cx, d, &mut c.ignore_invalid_headers, args::flag(d)),
    ),
    d(
        "client_body_timeout",
        HTTP_SRV_LOC,
        Exactly(1),
        |c, d, cx, _| set_once(cx, d, &mut c.client_body_timeout, args::time(d, 0)),
    ),
    d("send_timeout", HTTP_SRV_LOC, Exactly(1), |c, d, cx, _| {
        set_once(cx, d, &mut c.send_timeout, args::time(d, 0))
    }),
    d(
        "reset_timedout_connection",
        HTTP_SRV_LOC,
        Exactly(1),
        |c, d, cx, _| set_once(cx, d, &mut c.reset_timedout_connection, args::flag(d)),
    ),
    d(
        "client_body_temp_path",
        HTTP_SRV_LOC,
        Between(1, 4),
        |c, d, cx, _| {
            let p = args::temp_path(cx, d);
            set_once(cx, d, &mut c.client_body_temp_path, p)
        },
    ),
    d("server_tokens", HTTP_SRV_LOC, Exactly(1), |c, d, cx, _| {
        // `build` names the build in nginx; vestibule has no build name, so it is
        // `on`.
        let v = match arg(d, 0) {
            "build" => Ok(true),
            _ => args::flag(d),
        };
        set_once(cx, d, &mut c.server_tokens, v)
    }),
    d(
        "absolute_redirect",
        HTTP_SRV_LOC,
        Exactly(1),
        |c, d, cx, _| set_once(cx, d, &mut c.absolute_redirect, args::flag(d)),
    ),
    // Hash table sizes: vestibule's tables size themselves.
    d("types_hash_max_size", HTTP_SRV_LOC, Exactly(1), no_effect),
    d(
        "types_hash_bucket_size",
        HTTP_SRV_LOC,
        Exactly(1),
        no_effect,
    ),
    d("server_names_hash_max_size", HTTP, Exactly(1), no_effect),
    d("server_names_hash_bucket_size", HTTP, Exactly(1), no_effect),
    d("variables_hash_max_size", HTTP, Exactly(1), no_effect),
    d("variables_hash_bucket_size", HTTP, Exactly(1), no_effect),
    // Memory pools: vestibule allocates per request and per connection as it goes.
    d(
        "connection_pool_size",
        HTTP_SRV,
        Exactly(1),
        |c, d, cx, _| c.no_effect.set_kind(cx, d, Kind::Size, None),
    ),
    d("request_pool_size", HTTP_SRV, Exactly(1), |c, d, cx, _| {
        c.no_effect.set_kind(cx, d, Kind::Size, None)
    }),
    // The servers asked for names a `proxy_pass` with variables gives at run time
    // (the configuration's own names are resolved when it loads).
    d("resolver", HTTP_SRV_LOC, AtLeast(1), |c, d, cx, _| {
        let v = resolver(d);
        set_once(cx, d, &mut c.resolver, v)
    }),
    d(
        "resolver_timeout",
        HTTP_SRV_LOC,
        Exactly(1),
        |c, d, cx, _| set_once(cx, d, &mut c.resolver_timeout, args::time(d, 0)),
    ),
    // nginx's default, `off`, is what vestibule does: a redirect names the Host the
    // client sent.
    d(
        "server_name_in_redirect",
        HTTP_SRV_LOC,
        Exactly(1),
        |c, d, cx, _| set_once(cx, d, &mut c.server_name_in_redirect, args::flag(d)),
    ),
    d(
        "port_in_redirect",
        HTTP_SRV_LOC,
        Exactly(1),
        |c, d, cx, _| set_once(cx, d, &mut c.port_in_redirect, args::flag(d)),
    ),
    // Connection tuning nginx has and vestibule does not.
    d("keepalive_time", HTTP_SRV_LOC, Exactly(1), |c, d, cx, _| {
        let why = "an idle connection closes after keepalive_timeout or keepalive_requests";
        c.no_effect.set_kind(cx, d, Kind::Time, Some(why))
    }),
    d(
        "keepalive_disable",
        HTTP_SRV_LOC,
        AtLeast(1),
        keepalive_disable,
    ),
    d(
        "lingering_close",
        HTTP_SRV_LOC,
        Exactly(1),
        |c, d, cx, _| {
            let modes = Kind::OneOf(&["off", "on", "always"]);
            c.no_effect.set_kind(cx, d, modes, Some(LINGER))
        },
    ),
    d("lingering_time", HTTP_SRV_LOC, Exactly(1), |c, d, cx, _| {
        c.no_effect.set_kind(cx, d, Kind::Time, Some(LINGER))
    }),
    d(
        "lingering_timeout",
        HTTP_SRV_LOC,
        Exactly(1),
        |c, d, cx, _| c.no_effect.set_kind(cx, d, Kind::Time, Some(LINGER)),
    ),
    d(
        "client_body_in_file_only",
        HTTP_SRV_LOC,
        Exactly(1),
        |c, d, cx, _| {
            let modes = Kind::OneOf(&["off", "on", "clean"]);
            let why = "a body is kept in memory up to client_body_buffer_size";
            c.no_effect.set_kind(cx, d, modes, Some(why))
        },
    ),
    d(
        "client_body_in_single_buffer",
        HTTP_SRV_LOC,
        Exactly(1),
        |c, d, cx, _| {
            let why = "the body is streamed to the upstream, never gathered for a variable";
            c.no_effect.set_kind(cx, d, Kind::Flag, Some(why))
        },
    ),
];

const LINGER: &str = "lingering close is not implemented";

/// `resolver ADDRESS[:PORT] ... [valid=TIME] [ipv6=on|off] [status_zone=NAME]`: the
/// servers (a name is resolved now, as nginx does), and the parameters.
fn resolver(d: &Directive) -> Result<ResolverSlot, ConfigErrorKind> {
    let mut slot = ResolverSlot {
        servers: Vec::new(),
        valid: None,
        ipv6: true,
    };
    for a in &d.args {
        let v = a.value.as_str();
        if let Some(t) = v.strip_prefix("valid=") {
            slot.valid = Some(
                crate::config::value::parse_time(t)
                    .ok_or_else(|| ConfigErrorKind::InvalidParameter(v.to_string()))?,
            );
        } else if let Some(f) = v.strip_prefix("ipv6=") {
            slot.ipv6 = match f {
                "on" => true,
                "off" => false,
                _ => return Err(ConfigErrorKind::InvalidParameter(v.to_string())),
            };
        } else if v.starts_with("status_zone=") || v.starts_with("ipv4=") {
            continue;
        } else {
            let (host, port) = super::proxy_pass::split_host_port(v).ok_or_else(|| {
                ConfigErrorKind::InvalidPort {
                    directive: d.name.clone(),
                    value: v.to_string(),
                }
            })?;
            let addrs =
                super::proxy_pass::resolve_host(host, port.unwrap_or(53)).ok_or_else(|| {
                    ConfigErrorKind::InvalidHost {
                        directive: d.name.clone(),
                        value: v.to_string(),
                    }
                })?;
            slot.servers.extend(addrs);
        }
    }
    if slot.servers.is_empty() {
        return Err(ConfigErrorKind::InvalidArgCount(d.name.clone()));
    }
    Ok(slot)
}

fn no_effect(c: &mut CoreConf, d: &Directive, cx: &mut Builder, _: Context) {
    c.no_effect.set(cx, d);
}

/// `keepalive_disable none|msie6|safari ...`, as nginx's bitmask slot: the values of
/// every line at one level add up, an unknown value is `invalid value "x"`, and one
/// given twice a `duplicate value "x"` warning.
fn keepalive_disable(c: &mut CoreConf, d: &Directive, cx: &mut Builder, _: Context) {
    let mut browsers = c.keepalive_disable.unwrap_or(KeepaliveDisable {
        msie6: false,
        safari: false,
    });
    for a in &d.args {
        let v = a.value.as_str();
        let bit = match v {
            "none" => &mut c.keepalive_disable_none,
            "msie6" => &mut browsers.msie6,
            "safari" => &mut browsers.safari,
            _ => return cx.error(ConfigErrorKind::InvalidBitmaskValue(v.to_string()), &d.span),
        };
        if *bit {
            cx.warn(format!("duplicate value \"{v}\""), &d.span);
        }
        *bit = true;
    }
    c.keepalive_disable = Some(browsers);
}

fn listen(c: &mut CoreConf, d: &Directive, cx: &mut Builder, _: Context) {
    if let Some(message) = super::listen::ignored_accept_filter(d) {
        cx.warn(message, &d.span);
    }
    match parse_listen(d) {
        Ok(parsed) => {
            for p in parsed {
                if c.listens.iter().any(|l| l.addr == p.addr) {
                    cx.error(
                        ConfigErrorKind::DuplicateListen(p.addr.to_string()),
                        &d.span,
                    );
                } else {
                    c.listens.push(p);
                }
            }
        }
        Err(k) => cx.error(k, &d.span),
    }
}

impl CoreConf {
    /// Merges this level's core settings over the parent's, into `conf`.
    pub fn merge(&self, parent: &LocationConf, conf: &mut LocationConf) {
        conf.recursive_error_pages = self
            .recursive_error_pages
            .unwrap_or(parent.recursive_error_pages);
        conf.resolver = match (&self.resolver, self.resolver_timeout) {
            (None, None) => parent.resolver.clone(),
            (slot, timeout) => {
                let inherited = parent.resolver.as_deref();
                let servers = slot
                    .as_ref()
                    .map(|s| (s.servers.clone(), s.valid, s.ipv6))
                    .or_else(|| inherited.map(|r| (r.servers.clone(), r.valid, r.ipv6)));
                servers.map(|(servers, valid, ipv6)| {
                    std::sync::Arc::new(crate::net::dns::ResolverConf {
                        servers,
                        valid,
                        ipv6,
                        timeout: timeout
                            .or(inherited.map(|r| r.timeout))
                            .unwrap_or(Duration::from_secs(30)),
                    })
                })
            }
        };
        conf.error_pages = args::pick_vec(&self.error_pages, &parent.error_pages);
        if let Some(t) = &self.types {
            conf.types = std::sync::Arc::new(t.clone());
        }
        conf.default_type = self
            .default_type
            .clone()
            .unwrap_or_else(|| parent.default_type.clone());
        conf.sendfile = self.sendfile.unwrap_or(parent.sendfile);
        conf.log_not_found = self.log_not_found.unwrap_or(parent.log_not_found);
        conf.tcp_nopush = self.tcp_nopush.unwrap_or(parent.tcp_nopush);
        conf.tcp_nodelay = self.tcp_nodelay.unwrap_or(parent.tcp_nodelay);
        conf.keepalive_timeout = self
            .keepalive_timeout
            .map_or(parent.keepalive_timeout, |k| k.0);
        conf.keepalive_header_timeout = self
            .keepalive_timeout
            .map_or(parent.keepalive_header_timeout, |k| k.1);
        conf.keepalive_requests = self.keepalive_requests.unwrap_or(parent.keepalive_requests);
        conf.keepalive_disable = self.keepalive_disable.unwrap_or(parent.keepalive_disable);
        conf.client_max_body_size = self
            .client_max_body_size
            .unwrap_or(parent.client_max_body_size);
        conf.client_body_buffer_size = self
            .client_body_buffer_size
            .unwrap_or(parent.client_body_buffer_size);
        conf.client_body_timeout = self
            .client_body_timeout
            .unwrap_or(parent.client_body_timeout);
        conf.client_body_temp_path = self
            .client_body_temp_path
            .clone()
            .unwrap_or_else(|| parent.client_body_temp_path.clone());
        conf.send_timeout = self.send_timeout.unwrap_or(parent.send_timeout);
        conf.reset_timedout_connection = self
            .reset_timedout_connection
            .unwrap_or(parent.reset_timedout_connection);
        conf.server_tokens = self.server_tokens.unwrap_or(parent.server_tokens);
        conf.absolute_redirect = self.absolute_redirect.unwrap_or(parent.absolute_redirect);
        conf.server_name_in_redirect = self
            .server_name_in_redirect
            .unwrap_or(parent.server_name_in_redirect);
        conf.port_in_redirect = self.port_in_redirect.unwrap_or(parent.port_in_redirect);
    }
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

/// Classifies one `server_name` argument as nginx does.
pub fn parse_server_name(raw: &str) -> Result<Vec<ServerName>, ConfigErrorKind> {
    if let Some(re) = raw.strip_prefix('~') {
        if re.is_empty() {
            return Err(ConfigErrorKind::EmptyServerNameRegex);
        }
        // nginx matches case-insensitively when the pattern has an uppercase letter
        // (the Host it is matched against is lowercased either way).
        let caseless = re.bytes().any(|b| b.is_ascii_uppercase());
        let regex = super::compile_regex(re, caseless)?;
        return Ok(vec![ServerName::Regex {
            regex,
            source: re.to_string(),
        }]);
    }
    let name = raw.to_ascii_lowercase();
    let invalid = || ConfigErrorKind::InvalidServerName(raw.to_string());
    if let Some(rest) = name.strip_prefix("*.") {
        if rest.is_empty() || rest.contains('*') {
            return Err(invalid());
        }
        return Ok(vec![ServerName::LeadingWildcard(format!(".{rest}"))]);
    }
    if let Some(rest) = name.strip_suffix(".*") {
        if rest.is_empty() || rest.contains('*') {
            return Err(invalid());
        }
        return Ok(vec![ServerName::TrailingWildcard(format!("{rest}."))]);
    }
    if name.contains('*') {
        return Err(invalid());
    }
    if let Some(rest) = name.strip_prefix('.') {
        if rest.is_empty() {
            return Err(invalid());
        }
        return Ok(vec![
            ServerName::Exact(rest.to_string()),
            ServerName::LeadingWildcard(name.clone()),
        ]);
    }
    Ok(vec![ServerName::Exact(
        name.trim_end_matches('.').to_string(),
    )])
}

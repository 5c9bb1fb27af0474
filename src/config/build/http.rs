//! The http block: defaults, the http-level settings layer, log formats, upstream
//! groups, then every server.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use super::args::arg;
use super::layer::Layer;
use super::schema::Context;
use super::{server, upstream, Builder};
use crate::config::error::ConfigErrorKind;
use crate::config::model::{
    AccessLog, DocRoot, Expires, HttpConfig, LocationConf, LogEscape, LogFormat, MimeTypes,
    NextUpstream, ProxyConf, ProxyRedirect, RealIpConf, RedirectRule,
};
use crate::config::template::Template;
use crate::config::tree::Directive;

/// nginx's `combined` format, predefined.
pub const COMBINED: &str =
    "$remote_addr - $remote_user [$time_local] \"$request\" $status $body_bytes_sent \"$http_referer\" \"$http_user_agent\"";
const DEFAULT_ACCESS_LOG: &str = "/var/log/vestibule/access.log";
const DEFAULT_CLIENT_BODY_TEMP: &str = "/var/lib/vestibule/body";
const DEFAULT_PROXY_TEMP: &str = "/var/lib/vestibule/proxy";

pub fn build_http(directives: &[Directive], cx: &mut Builder) -> HttpConfig {
    // Pass 1: what other directives refer to by name, wherever it is written.
    let mut log_formats = HashMap::new();
    log_formats.insert(
        "combined".to_string(),
        LogFormat {
            name: "combined".to_string(),
            escape: LogEscape::Default,
            template: Template::parse(COMBINED, &cx.captures)
                .unwrap_or_else(|_| Template::literal(COMBINED)),
        },
    );
    let mut upstreams: Vec<crate::config::model::Upstream> = Vec::new();
    for d in directives {
        match d.name.as_str() {
            "log_format" if cx.check(d, Context::Http) => log_format(cx, d, &mut log_formats),
            "upstream" if cx.check(d, Context::Http) => {
                let u = upstream::build_upstream(d, cx);
                if upstreams.iter().any(|o| o.name == u.name) {
                    cx.error(
                        ConfigErrorKind::DuplicateUpstream(arg(d, 0).to_string()),
                        &d.span,
                    );
                } else {
                    upstreams.push(u);
                }
            }
            _ => {}
        }
    }
    // Pass 2: the http-level settings.
    let mut layer = Layer::default();
    let mut server_blocks = Vec::new();
    for d in directives {
        match d.name.as_str() {
            "log_format" | "upstream" => {}
            "server" if d.block.is_some() => {
                if cx.check(d, Context::Http) {
                    server_blocks.push(d);
                }
            }
            _ => {
                if cx.check(d, Context::Http) && !layer.apply(d, cx, Context::Http) {
                    debug_assert!(false, "http directive {} not handled", d.name);
                }
            }
        }
    }
    let defaults = defaults(cx);
    let http_conf = layer.merge(&defaults, None);
    check_access_log_formats(cx, &log_formats, directives);
    let names: Vec<String> = upstreams.iter().map(|u| u.name.clone()).collect();
    let scope = server::Scope {
        http_layer: &layer,
        http_conf: &http_conf,
        upstream_names: &names,
    };
    let mut servers = Vec::new();
    for d in server_blocks {
        servers.push(server::build_server(d, cx, &scope));
    }
    server::check_listen_conflicts(cx, &servers);
    HttpConfig {
        servers,
        upstreams,
        log_formats,
    }
}

fn log_format(cx: &mut Builder, d: &Directive, formats: &mut HashMap<String, LogFormat>) {
    let name = arg(d, 0).to_string();
    if formats.contains_key(&name) {
        cx.error(ConfigErrorKind::DuplicateLogFormat(name), &d.span);
        return;
    }
    let mut rest = &d.args[1..];
    let mut escape = LogEscape::Default;
    if let Some(first) = rest.first() {
        if let Some(e) = first.value.strip_prefix("escape=") {
            escape = match e {
                "default" => LogEscape::Default,
                "json" => LogEscape::Json,
                "none" => LogEscape::None,
                _ => {
                    cx.error(
                        ConfigErrorKind::InvalidParameter(first.value.clone()),
                        &d.span,
                    );
                    return;
                }
            };
            rest = &rest[1..];
        }
    }
    if rest.is_empty() {
        cx.error(ConfigErrorKind::InvalidArgCount(d.name.clone()), &d.span);
        return;
    }
    // nginx joins the strings of a multi-line log_format with nothing between them.
    let text: String = rest.iter().map(|a| a.value.as_str()).collect();
    match Template::parse(&text, &cx.captures) {
        Ok(template) => {
            formats.insert(
                name.clone(),
                LogFormat {
                    name,
                    escape,
                    template,
                },
            );
        }
        Err(k) => cx.error(k, &d.span),
    }
}

/// Every `access_log` names a known format (checked here since formats may be
/// defined after use).
fn check_access_log_formats(
    cx: &mut Builder,
    formats: &HashMap<String, LogFormat>,
    directives: &[Directive],
) {
    let mut stack: Vec<&Directive> = directives.iter().collect();
    while let Some(d) = stack.pop() {
        if d.name == "access_log" {
            if let Some(f) = d.args.get(1) {
                if d.args[0].value != "off" && !formats.contains_key(&f.value) {
                    cx.error(ConfigErrorKind::UnknownLogFormat(f.value.clone()), &d.span);
                }
            }
        }
        if let Some(children) = &d.block {
            stack.extend(children.iter());
        }
    }
}

/// nginx's built-in MIME types when no `types` block is given.
fn default_types() -> MimeTypes {
    let mut t = MimeTypes::default();
    for (ext, ty) in [
        ("html", "text/html"),
        ("gif", "image/gif"),
        ("jpg", "image/jpeg"),
    ] {
        t.by_extension.insert(ext.to_string(), ty.to_string());
    }
    t
}

/// Location settings with every default and the root under `/`, for the rare path that
/// needs settings before a configuration is known.
pub fn fallback_location_conf() -> LocationConf {
    defaults_with_root(std::path::Path::new("/html"))
}

/// Every location setting's default, as nginx's (Debian's paths for logs and temp).
fn defaults(cx: &Builder) -> LocationConf {
    defaults_with_root(&cx.full_path("html"))
}

fn defaults_with_root(root: &std::path::Path) -> LocationConf {
    LocationConf {
        root: DocRoot::Root(Template::literal(&root.to_string_lossy())),
        index: vec![Template::literal("index.html")],
        try_files: None,
        return_: None,
        expires: Expires::Off,
        add_headers: Vec::new(),
        error_pages: Vec::new(),
        types: Arc::new(default_types()),
        default_type: "text/plain".to_string(),
        sendfile: false,
        tcp_nopush: false,
        tcp_nodelay: true,
        keepalive_timeout: Duration::from_secs(75),
        keepalive_header_timeout: None,
        keepalive_requests: 1000,
        access_log: vec![AccessLog {
            path: PathBuf::from(DEFAULT_ACCESS_LOG),
            format: "combined".to_string(),
        }],
        client_max_body_size: 1 << 20,
        client_body_buffer_size: 16 << 10,
        client_body_timeout: Duration::from_secs(60),
        client_body_temp_path: PathBuf::from(DEFAULT_CLIENT_BODY_TEMP),
        send_timeout: Duration::from_secs(60),
        server_tokens: true,
        absolute_redirect: true,
        realip: RealIpConf::default(),
        proxy: ProxyConf {
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
        },
    }
}

//! The directive table: for every directive vestibule knows, the contexts it may appear
//! in, how many arguments it takes and whether it opens a block. [`check`] turns a
//! directive that breaks these rules into nginx's error, in nginx's order (unknown →
//! not allowed here → block/terminator → argument count).

use crate::config::error::ConfigErrorKind;
use crate::config::tree::Directive;

/// Where a directive sits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Context {
    Main,
    Events,
    Http,
    Server,
    Location,
    Upstream,
    /// Inside `types { }`, where every line is `MIME/TYPE ext ...;`.
    Types,
}

/// How many arguments a directive takes.
#[derive(Debug, Clone, Copy)]
enum Arity {
    Exactly(usize),
    Between(usize, usize),
    AtLeast(usize),
}

impl Arity {
    fn accepts(self, n: usize) -> bool {
        match self {
            Arity::Exactly(k) => n == k,
            Arity::Between(lo, hi) => (lo..=hi).contains(&n),
            Arity::AtLeast(lo) => n >= lo,
        }
    }
}

struct Spec {
    name: &'static str,
    contexts: &'static [Context],
    arity: Arity,
    block: bool,
}

use Arity::*;
use Context::*;

const MAIN: &[Context] = &[Main];
const EVENTS: &[Context] = &[Events];
const HTTP: &[Context] = &[Http];
const SRV: &[Context] = &[Server];
const LOC: &[Context] = &[Location];
const UPS: &[Context] = &[Upstream];
const HTTP_SRV: &[Context] = &[Http, Server];
const SRV_LOC: &[Context] = &[Server, Location];
const HTTP_SRV_LOC: &[Context] = &[Http, Server, Location];

const fn d(name: &'static str, contexts: &'static [Context], arity: Arity) -> Spec {
    Spec {
        name,
        contexts,
        arity,
        block: false,
    }
}

const fn b(name: &'static str, contexts: &'static [Context], arity: Arity) -> Spec {
    Spec {
        name,
        contexts,
        arity,
        block: true,
    }
}

/// Every directive vestibule implements. Anything else is `unknown directive`.
const SPECS: &[Spec] = &[
    // main
    d("user", MAIN, Between(1, 2)),
    d("worker_processes", MAIN, Exactly(1)),
    d("worker_cpu_affinity", MAIN, AtLeast(1)),
    d("pid", MAIN, Exactly(1)),
    d("error_log", MAIN, Between(1, 2)),
    d("daemon", MAIN, Exactly(1)),
    d("worker_shutdown_timeout", MAIN, Exactly(1)),
    d("worker_rlimit_nofile", MAIN, Exactly(1)),
    b("events", MAIN, Exactly(0)),
    d("worker_connections", EVENTS, Exactly(1)),
    b("http", MAIN, Exactly(0)),
    // http
    b("types", HTTP_SRV_LOC, Exactly(0)),
    d("default_type", HTTP_SRV_LOC, Exactly(1)),
    d("sendfile", HTTP_SRV_LOC, Exactly(1)),
    d("tcp_nopush", HTTP_SRV_LOC, Exactly(1)),
    d("tcp_nodelay", HTTP_SRV_LOC, Exactly(1)),
    d("keepalive_timeout", HTTP_SRV_LOC, Between(1, 2)),
    d("keepalive_requests", HTTP_SRV_LOC, Exactly(1)),
    d("access_log", HTTP_SRV_LOC, AtLeast(1)),
    d("log_format", HTTP, AtLeast(2)),
    d("client_max_body_size", HTTP_SRV_LOC, Exactly(1)),
    d("client_body_buffer_size", HTTP_SRV_LOC, Exactly(1)),
    d("client_header_buffer_size", HTTP_SRV, Exactly(1)),
    d("large_client_header_buffers", HTTP_SRV, Exactly(2)),
    d("client_header_timeout", HTTP_SRV, Exactly(1)),
    d("underscores_in_headers", HTTP_SRV, Exactly(1)),
    d("ignore_invalid_headers", HTTP_SRV, Exactly(1)),
    d("client_body_timeout", HTTP_SRV_LOC, Exactly(1)),
    d("send_timeout", HTTP_SRV_LOC, Exactly(1)),
    d("client_body_temp_path", HTTP_SRV_LOC, Between(1, 4)),
    d("proxy_temp_path", HTTP_SRV_LOC, Between(1, 4)),
    d("server_tokens", HTTP_SRV_LOC, Exactly(1)),
    d("absolute_redirect", HTTP_SRV_LOC, Exactly(1)),
    b("upstream", HTTP, Exactly(1)),
    // upstream
    d("server", UPS, AtLeast(1)),
    d("keepalive", UPS, Exactly(1)),
    d("least_conn", UPS, Exactly(0)),
    d("keepalive_timeout", UPS, Exactly(1)),
    d("keepalive_requests", UPS, Exactly(1)),
    // server
    b("server", HTTP, Exactly(0)),
    d("listen", SRV, AtLeast(1)),
    d("server_name", SRV, AtLeast(1)),
    d("root", HTTP_SRV_LOC, Exactly(1)),
    d("index", HTTP_SRV_LOC, AtLeast(1)),
    d("error_page", HTTP_SRV_LOC, AtLeast(2)),
    d("return", SRV_LOC, Between(1, 2)),
    d("add_header", HTTP_SRV_LOC, Between(2, 3)),
    b("location", SRV_LOC, Between(1, 2)),
    // location
    d("alias", LOC, Exactly(1)),
    d("try_files", SRV_LOC, AtLeast(2)),
    d("internal", LOC, Exactly(0)),
    d("expires", HTTP_SRV_LOC, Between(1, 2)),
    d("proxy_pass", LOC, Exactly(1)),
    d("proxy_set_header", HTTP_SRV_LOC, Exactly(2)),
    d("proxy_redirect", HTTP_SRV_LOC, Between(1, 2)),
    d("proxy_http_version", HTTP_SRV_LOC, Exactly(1)),
    d("proxy_connect_timeout", HTTP_SRV_LOC, Exactly(1)),
    d("proxy_read_timeout", HTTP_SRV_LOC, Exactly(1)),
    d("proxy_send_timeout", HTTP_SRV_LOC, Exactly(1)),
    d("proxy_buffering", HTTP_SRV_LOC, Exactly(1)),
    d("proxy_request_buffering", HTTP_SRV_LOC, Exactly(1)),
    d("proxy_buffer_size", HTTP_SRV_LOC, Exactly(1)),
    d("proxy_buffers", HTTP_SRV_LOC, Exactly(2)),
    d("proxy_max_temp_file_size", HTTP_SRV_LOC, Exactly(1)),
    d("proxy_hide_header", HTTP_SRV_LOC, Exactly(1)),
    d("proxy_pass_header", HTTP_SRV_LOC, Exactly(1)),
    d("proxy_next_upstream", HTTP_SRV_LOC, AtLeast(1)),
    d("proxy_next_upstream_tries", HTTP_SRV_LOC, Exactly(1)),
    // realip
    d("set_real_ip_from", HTTP_SRV_LOC, Exactly(1)),
    d("real_ip_header", HTTP_SRV_LOC, Exactly(1)),
    d("real_ip_recursive", HTTP_SRV_LOC, Exactly(1)),
];

/// The spec for `name` in `ctx`. A few names have one entry per context
/// (`server` is a block in http and a plain directive in upstream); when none fits the
/// context, the first entry is returned so the caller reports "not allowed here".
fn find(name: &str, ctx: Context) -> Option<&'static Spec> {
    let mut first = None;
    for spec in SPECS.iter().filter(|s| s.name == name) {
        if spec.contexts.contains(&ctx) {
            return Some(spec);
        }
        first.get_or_insert(spec);
    }
    first
}

/// Checks a directive's name, context, block shape and argument count.
pub fn check(directive: &Directive, ctx: Context) -> Result<(), ConfigErrorKind> {
    let name = directive.name.as_str();
    if ctx == Types {
        // `types { text/html html; }`: any name, at least one extension, no block.
        if directive.block.is_some() {
            return Err(ConfigErrorKind::NotTerminated(name.to_string()));
        }
        if directive.args.is_empty() {
            return Err(ConfigErrorKind::InvalidArgCount(name.to_string()));
        }
        return Ok(());
    }
    let spec =
        find(name, ctx).ok_or_else(|| ConfigErrorKind::UnknownDirective(name.to_string()))?;
    if !spec.contexts.contains(&ctx) {
        return Err(ConfigErrorKind::NotAllowedHere(name.to_string()));
    }
    match (spec.block, directive.block.is_some()) {
        (true, false) => return Err(ConfigErrorKind::NoOpeningBrace(name.to_string())),
        (false, true) => return Err(ConfigErrorKind::NotTerminated(name.to_string())),
        _ => {}
    }
    if !spec.arity.accepts(directive.args.len()) {
        return Err(ConfigErrorKind::InvalidArgCount(name.to_string()));
    }
    Ok(())
}

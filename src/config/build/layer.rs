//! One level's worth of settings (the http block, a server, a location, or the body
//! of an `if`): one slot struct per module, each filled by the rows of that module's
//! table, and the merge that turns a chain of levels into a [`LocationConf`], as
//! nginx's `merge_loc_conf` handlers do, module by module. A level's own table holds
//! `if`, whose body is one more level (nginx makes it a nested location).

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use super::access::{self, AccessLayer};
use super::autoindex::{self, AutoindexLayer};
use super::cache::{self, CacheLayer};
use super::charset::{self, CharsetLayer};
use super::command::{b, dispatch, Arity::*, Command, Context, SRV_LOC};
use super::compress::{self, CompressConf};
use super::files::{self, FilesLayer};
use super::headers::HeadersConf;
use super::health::{self, HealthLayer, Matches};
use super::http2::{self, Http2Layer};
use super::http_core::{self, CoreConf};
use super::limits::{self, LimitsLayer};
use super::log::{self, LogConf};
use super::map::{self, MapConf};
use super::metrics::{self, MetricsLayer};
use super::proxy::{self, ProxyLayer};
use super::proxy_shaping::{self, ShapingLayer};
use super::proxy_ssl::{self, ProxySslLayer};
use super::realip::{self, RealIpLayer};
use super::rewrite::{self, Pending, RewriteConf};
use super::ssl::{self, SslLayer};
use super::static_files::{self, StaticConf};
use super::stub_status::{self, StatusLayer};
use super::upstream::{self, Upstreams};
use super::{headers, Builder};
use crate::config::model::{
    AccessConf, AccessLog, DocRoot, Expires, FileConf, KeepaliveDisable, LocationConf, MimeTypes,
    ProxyPass, RealIpConf, Script,
};
use crate::config::template::Template;
use crate::config::tree::Directive;

const DEFAULT_ACCESS_LOG: &str = "/var/log/vestibule/access.log";
const DEFAULT_CLIENT_BODY_TEMP: &str = "/var/lib/vestibule/body";

/// Settings written at one level, by module.
#[derive(Debug, Default)]
pub struct Layer {
    pub core: CoreConf,
    pub static_files: StaticConf,
    pub log: LogConf,
    pub headers: HeadersConf,
    pub compress: CompressConf,
    pub limits: LimitsLayer,
    pub files: FilesLayer,
    pub autoindex: AutoindexLayer,
    pub charset: CharsetLayer,
    pub rewrite: RewriteConf,
    pub proxy: ProxyLayer,
    pub proxy_shaping: ShapingLayer,
    pub proxy_ssl: ProxySslLayer,
    pub cache: CacheLayer,
    pub stub_status: StatusLayer,
    pub health: HealthLayer,
    pub http2: Http2Layer,
    /// `match` blocks (http level only).
    pub matches: Matches,
    pub metrics: MetricsLayer,
    pub realip: RealIpLayer,
    pub access: AccessLayer,
    /// `map` blocks (http level only).
    pub map: MapConf,
    /// TLS settings (http and server levels; merged per server, not per location).
    pub ssl: SslLayer,
    /// `upstream` groups (http level only).
    pub upstreams: Upstreams,
    /// The settings written inside this level's `if` blocks, one level each, in
    /// order (the rewrite slots refer to them by index).
    pub if_bodies: Vec<Layer>,
}

/// The rows of a level itself: `if`, the rewrite module's block, which opens one
/// more level of settings (the directives nginx allows inside an `if`).
pub const COMMANDS: &[Command<Layer>] = &[b("if", SRV_LOC, AtLeast(1), if_block)];

/// `if (CONDITION) { ... }`: the condition, then the directives inside as a level
/// in the `if` context of the level it is written in.
fn if_block(l: &mut Layer, d: &Directive, cx: &mut Builder, ctx: Context) {
    let condition = super::rewrite_if::parse(d, &cx.names);
    let inner_ctx = match ctx {
        Context::Server => Context::ServerIf,
        _ => Context::LocationIf,
    };
    let mut body = Layer::default();
    for inner in d.block.as_deref().unwrap_or(&[]) {
        body.apply_checked(inner, cx, inner_ctx);
    }
    match condition {
        Ok(condition) => {
            let ops = body.rewrite.take_ops();
            l.rewrite.ops.push(Pending::If {
                condition,
                ops,
                body: l.if_bodies.len(),
            });
            l.if_bodies.push(body);
        }
        Err(k) => cx.error(k, &d.span),
    }
}

impl Layer {
    /// Runs the row of a directive that passed the schema check in `ctx` (http, server,
    /// location, or an `if` in either). Returns false only when no table of these
    /// levels has the row, which the schema tests rule out.
    pub fn apply(&mut self, d: &Directive, cx: &mut Builder, ctx: Context) -> bool {
        dispatch(COMMANDS, self, d, cx, ctx)
            || dispatch(http_core::COMMANDS, &mut self.core, d, cx, ctx)
            || dispatch(static_files::COMMANDS, &mut self.static_files, d, cx, ctx)
            || dispatch(log::COMMANDS, &mut self.log, d, cx, ctx)
            || dispatch(headers::COMMANDS, &mut self.headers, d, cx, ctx)
            || dispatch(compress::COMMANDS, &mut self.compress, d, cx, ctx)
            || dispatch(limits::COMMANDS, &mut self.limits, d, cx, ctx)
            || dispatch(files::COMMANDS, &mut self.files, d, cx, ctx)
            || dispatch(autoindex::COMMANDS, &mut self.autoindex, d, cx, ctx)
            || dispatch(charset::COMMANDS, &mut self.charset, d, cx, ctx)
            || dispatch(rewrite::COMMANDS, &mut self.rewrite, d, cx, ctx)
            || dispatch(proxy::COMMANDS, &mut self.proxy, d, cx, ctx)
            || dispatch(proxy_shaping::COMMANDS, &mut self.proxy_shaping, d, cx, ctx)
            || dispatch(proxy_ssl::COMMANDS, &mut self.proxy_ssl, d, cx, ctx)
            || dispatch(cache::COMMANDS, &mut self.cache, d, cx, ctx)
            || dispatch(stub_status::COMMANDS, &mut self.stub_status, d, cx, ctx)
            || dispatch(health::COMMANDS, &mut self.health, d, cx, ctx)
            || dispatch(http2::COMMANDS, &mut self.http2, d, cx, ctx)
            || dispatch(health::HTTP_COMMANDS, &mut self.matches, d, cx, ctx)
            || dispatch(metrics::COMMANDS, &mut self.metrics, d, cx, ctx)
            || dispatch(realip::COMMANDS, &mut self.realip, d, cx, ctx)
            || dispatch(access::COMMANDS, &mut self.access, d, cx, ctx)
            || dispatch(map::COMMANDS, &mut self.map, d, cx, ctx)
            || dispatch(ssl::COMMANDS, &mut self.ssl, d, cx, ctx)
            || dispatch(upstream::HTTP_COMMANDS, &mut self.upstreams, d, cx, ctx)
    }

    /// Checks a directive in `ctx` and runs its row; errors are reported.
    pub fn apply_checked(&mut self, d: &Directive, cx: &mut Builder, ctx: Context) {
        if cx.check(d, ctx) {
            let found = self.apply(d, cx, ctx);
            debug_assert!(found, "{ctx:?} directive {} has no row", d.name);
        }
    }

    /// Merges this level over its parent's resolved settings; `proxy_pass` is this
    /// level's, resolved (it is not inherited).
    pub fn merge(&self, parent: &LocationConf, proxy_pass: Option<ProxyPass>) -> LocationConf {
        let mut conf = parent.clone();
        self.core.merge(parent, &mut conf);
        self.static_files.merge(parent, &mut conf);
        self.log.merge(parent, &mut conf);
        self.headers.merge(parent, &mut conf);
        self.compress.merge(parent, &mut conf);
        self.files.merge(parent, &mut conf);
        self.autoindex.merge(parent, &mut conf);
        self.charset.merge(parent, &mut conf);
        self.rewrite.merge(parent, &mut conf);
        conf.realip = self.realip.merge(&parent.realip);
        conf.limits = Arc::new(self.limits.merge(&parent.limits));
        conf.access = self.access.merge(&parent.access);
        conf.proxy = self.proxy.merge(&parent.proxy, proxy_pass);
        conf.proxy.shaping = self.proxy_shaping.merge(&parent.proxy.shaping);
        conf.proxy.ssl = self.proxy_ssl.merge(&parent.proxy.ssl);
        conf.proxy.cache = self.cache.merge(&parent.proxy.cache);
        self.stub_status.merge(&mut conf);
        self.health.merge(&mut conf);
        self.http2.merge(parent, &mut conf);
        self.metrics.merge(&mut conf);
        conf
    }
}

/// Resolves the `proxy_pass` a level writes (`None`: none, or reported).
pub type ResolvePass<'a> = dyn Fn(&Layer, &mut Builder) -> Option<ProxyPass> + 'a;

impl Layer {
    /// The level's rewrite script once its settings are merged into `conf`. In a
    /// location (`pass` given, resolving the `proxy_pass` an `if` writes), each `if`
    /// is a nested location whose settings are its own merged over `conf` — even an
    /// `if` with none of its own, which thus drops `try_files`, as nginx's does —
    /// and which keeps the location's `proxy_pass` unless it writes one. A server's
    /// `if` has no settings.
    pub fn script(
        &self,
        conf: &LocationConf,
        cx: &mut Builder,
        pass: Option<&ResolvePass<'_>>,
    ) -> Option<Arc<Script>> {
        self.rewrite.script(&mut |i| {
            let pass = pass?;
            let body = self.if_bodies.get(i)?;
            let own = pass(body, cx).or_else(|| conf.proxy.pass.clone());
            let mut merged = body.merge(conf, own);
            // nginx chooses the `limit_except` settings when it finds the location,
            // before an `if` runs: a true `if` keeps its location's.
            merged.access.limit_except = conf.access.limit_except.clone();
            Some(Arc::new(merged))
        })
    }
}

/// Location settings with every default and the root under `/`, for the rare path that
/// needs settings before a configuration is known.
pub fn fallback_location_conf() -> LocationConf {
    defaults_with_root(std::path::Path::new("/html"))
}

/// Every location setting's default, as nginx's (Debian's paths for logs and temp).
pub fn defaults(cx: &Builder) -> LocationConf {
    defaults_with_root(&cx.full_path("html"))
}

fn defaults_with_root(root: &std::path::Path) -> LocationConf {
    LocationConf {
        // static_files
        root: DocRoot::Root(Template::literal(&root.to_string_lossy())),
        index: vec![Template::literal("index.html")],
        try_files: None,
        // rewrite
        rewrite: None,
        rewrite_log: false,
        // headers
        expires: Expires::Off,
        add_headers: Vec::new(),
        // http_core
        error_pages: Vec::new(),
        types: Arc::new(default_types()),
        default_type: "text/plain".to_string(),
        sendfile: false,
        log_not_found: true,
        tcp_nopush: false,
        tcp_nodelay: true,
        keepalive_timeout: Duration::from_secs(75),
        keepalive_header_timeout: None,
        keepalive_requests: 1000,
        keepalive_disable: KeepaliveDisable::default(),
        client_max_body_size: 1 << 20,
        client_body_buffer_size: 16 << 10,
        client_body_timeout: Duration::from_secs(60),
        client_body_temp_path: PathBuf::from(DEFAULT_CLIENT_BODY_TEMP),
        send_timeout: Duration::from_secs(60),
        reset_timedout_connection: false,
        server_tokens: true,
        absolute_redirect: true,
        server_name_in_redirect: false,
        port_in_redirect: true,
        // log
        access_log: vec![AccessLog {
            path: PathBuf::from(DEFAULT_ACCESS_LOG),
            format: "combined".to_string(),
            gzip: None,
            condition: None,
        }],
        realip: RealIpConf::default(),
        limits: Arc::default(),
        access: AccessConf::default(),
        proxy: proxy::defaults(),
        compression: Arc::default(),
        error_log: None,
        resolver: None,
        stub_status: false,
        health_check: None,
        http2_chunk_size: http2::CHUNK_SIZE,
        vestibule_metrics: false,
        recursive_error_pages: false,
        files: FileConf::default(),
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

//! `location` blocks and the settings a request is served with. [`LocationConf`] is the
//! result of nginx's merge: each field holds the innermost value written at location,
//! server or http level, or the default.
//!
//! Not inherited into nested locations, as in nginx: `proxy_pass`, the rewrite
//! script (`return`, `rewrite`, `if`, `set`, `break`), `try_files`, `internal`. Inherited only when the inner level sets none of them:
//! `add_header`, `proxy_set_header`, `error_page`, `proxy_hide_header`,
//! `proxy_pass_header`, `access_log`, `set_real_ip_from`, `allow`/`deny`.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use crate::pcre::Pcre;

use super::expires::Expires;
use super::mime_types::MimeTypes;
use super::realip::RealIpConf;
use super::upstream::UpstreamAddr;
use crate::config::source::Span;
use crate::config::template::Template;

/// How a location matches a URI.
#[derive(Debug, Clone)]
pub enum LocationMatch {
    /// `location = /path`
    Exact(String),
    /// `location /path` (`no_regex: false`) or `location ^~ /path` (`no_regex: true`).
    Prefix { path: String, no_regex: bool },
    /// `location ~ re` or `location ~* re`.
    Regex {
        regex: Pcre,
        case_insensitive: bool,
        source: String,
    },
    /// `location @name`: reachable only from `try_files` and `error_page`.
    Named(String),
}

impl LocationMatch {
    /// The location as written after the `location` keyword, for messages.
    pub fn describe(&self) -> String {
        match self {
            LocationMatch::Exact(p) => format!("= {p}"),
            LocationMatch::Prefix { path, no_regex } => {
                if *no_regex {
                    format!("^~ {path}")
                } else {
                    path.clone()
                }
            }
            LocationMatch::Regex {
                case_insensitive,
                source,
                ..
            } => format!("{} {source}", if *case_insensitive { "~*" } else { "~" }),
            LocationMatch::Named(n) => n.clone(),
        }
    }
}

/// A `location` block.
#[derive(Debug, Clone)]
pub struct Location {
    pub matcher: LocationMatch,
    /// `internal;`: only internal redirects reach it.
    pub internal: bool,
    /// A prefix location ending in `/` that proxies: a request for the path without
    /// the slash gets a 301 to it, as nginx's `auto_redirect`.
    pub auto_redirect: bool,
    pub conf: Arc<LocationConf>,
    /// Nested locations in configuration order.
    pub locations: Vec<Location>,
    pub span: Span,
}

/// `root PATH` or `alias PATH`. Relative paths are already joined to the prefix.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DocRoot {
    Root(Template),
    Alias(Template),
}

/// `return CODE [TEXT|URL];` or `return URL;` (302).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Return {
    pub code: u16,
    /// The body text, or the `Location` for 301, 302, 303, 307 and 308.
    pub text: Option<Template>,
}

/// `try_files FILE ... FALLBACK;`
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TryFiles {
    /// Candidates tried in order; one ending in `/` names a directory.
    pub files: Vec<Template>,
    pub fallback: TryFilesFallback,
}

/// The last argument of `try_files`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TryFilesFallback {
    /// An internal redirect to this URI.
    Uri(Template),
    /// `=404`
    Code(u16),
    /// `@name`
    Named(String),
}

/// `add_header NAME VALUE [always];` and `proxy_set_header NAME VALUE;`
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HeaderSetting {
    pub name: String,
    pub value: Template,
    pub always: bool,
}

/// Where `error_page` sends a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ErrorPageTarget {
    Uri(Template),
    Named(String),
}

/// `error_page CODE ... [=[RESPONSE]] URI;`
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ErrorPage {
    pub codes: Vec<u16>,
    pub overwrite: ErrorPageOverwrite,
    pub target: ErrorPageTarget,
}

/// The `=` part of `error_page`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorPageOverwrite {
    /// No `=`: the original status is kept.
    Keep,
    /// `=` alone: the status of the page that answers.
    FromTarget,
    /// `=200`
    Code(u16),
}

/// `access_log PATH [FORMAT] [buffer=] [flush=] [gzip[=LEVEL]] [if=CONDITION];` (`off`
/// is an empty list).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccessLog {
    pub path: PathBuf,
    pub format: String,
    /// `gzip[=LEVEL]`: each buffer written as one gzip member at this level.
    pub gzip: Option<u32>,
    /// `if=CONDITION`: no line when it expands to nothing or `0`.
    pub condition: Option<Template>,
}

/// Where `proxy_pass` sends requests.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ProxyTarget {
    /// An `upstream` block by name.
    Group(String),
    /// A host:port (resolved at load time, possibly to several addresses) or a socket.
    Direct(Vec<UpstreamAddr>),
    /// A URL with variables, read per request: an `upstream` name, an address, or a
    /// name the `resolver` looks up ([`crate::proxy::dynamic`]).
    Variable(Template),
}

/// `proxy_pass http://HOST[:PORT][/URI];` / `http://unix:/path[:/URI]` / `http://NAME`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProxyPass {
    /// As written, for `proxy_redirect default` and logs.
    pub url: String,
    pub target: ProxyTarget,
    /// The URI part (`/` in `http://127.0.0.1:8000/`); `None` when absent, which means
    /// the client's URI is passed unchanged.
    pub uri: Option<String>,
    /// The value of `$proxy_host`: `host:port` as written (`:80` omitted), `localhost`
    /// for unix sockets, the group name for an `upstream`.
    pub proxy_host: Arc<str>,
    /// The value of `$proxy_port`.
    pub proxy_port: u16,
    /// Which balancer state a worker keeps for this target: `upstream NAME` for a
    /// group (shared by every `proxy_pass` naming it), else the URL.
    pub balancer_key: String,
    /// A `proxy_pass` with variables: its URI part is sent as it is, not in place of
    /// the location's prefix, and without the client's arguments (nginx's rule).
    pub verbatim_uri: bool,
    /// `https://`: TLS to the upstream, verified against (and with
    /// `proxy_ssl_server_name on` sending) this name unless `proxy_ssl_name` says
    /// another.
    pub tls: Option<String>,
}

/// One `proxy_redirect` rule.
#[derive(Debug, Clone)]
pub enum RedirectRule {
    /// `proxy_redirect default;`: the `proxy_pass` URL is replaced by the location prefix.
    Default,
    /// `proxy_redirect FROM TO;` (case-sensitive prefix).
    Replace { from: Template, to: Template },
    /// `proxy_redirect ~regex TO;` / `~*regex TO;`
    Regex { regex: Pcre, to: Template },
}

/// `proxy_redirect`: off, or rules applied in order (default: `[Default]`).
#[derive(Debug, Clone)]
pub enum ProxyRedirect {
    Off,
    Rules(Vec<RedirectRule>),
}

/// `proxy_next_upstream` conditions.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct NextUpstream {
    pub error: bool,
    pub timeout: bool,
    pub invalid_header: bool,
    pub http_500: bool,
    pub http_502: bool,
    pub http_503: bool,
    pub http_504: bool,
    pub http_403: bool,
    pub http_404: bool,
    pub http_429: bool,
    pub non_idempotent: bool,
}

impl NextUpstream {
    /// Whether `proxy_next_upstream off` (or an equivalent empty set) is in force.
    pub fn is_off(&self) -> bool {
        *self == NextUpstream::default()
    }

    /// Whether a response with `status` moves the request to the next server.
    pub fn retries_status(&self, status: u16) -> bool {
        match status {
            500 => self.http_500,
            502 => self.http_502,
            503 => self.http_503,
            504 => self.http_504,
            403 => self.http_403,
            404 => self.http_404,
            429 => self.http_429,
            _ => false,
        }
    }
}

/// The `proxy_*` settings of a location.
#[derive(Debug, Clone)]
pub struct ProxyConf {
    pub pass: Option<ProxyPass>,
    /// `proxy_set_header` as written; empty means nginx's defaults only
    /// (`Host $proxy_host`, `Connection close` or keep-alive).
    pub set_headers: Vec<HeaderSetting>,
    pub redirect: ProxyRedirect,
    /// `proxy_http_version` as (major, minor). Vestibule's default is 1.1, since it keeps
    /// upstream connections alive by default (nginx's is 1.0).
    pub http_version: (u8, u8),
    pub connect_timeout: Duration,
    pub read_timeout: Duration,
    pub send_timeout: Duration,
    pub buffering: bool,
    pub request_buffering: bool,
    pub buffer_size: u64,
    /// `proxy_buffers NUMBER SIZE`.
    pub buffers: (u32, u64),
    /// Lowercased names.
    pub hide_headers: Vec<String>,
    /// Lowercased names.
    pub pass_headers: Vec<String>,
    pub next_upstream: NextUpstream,
    /// 0 means no limit.
    pub next_upstream_tries: u32,
    pub temp_path: PathBuf,
    /// `proxy_max_temp_file_size` (default 1024m): the most of one response waiting in
    /// a temp file; at the limit the upstream is read only as fast as the client takes.
    /// 0: no temp file, memory buffers only.
    pub max_temp_file_size: u64,
    /// `proxy_intercept_errors on`: an upstream status of 300 or more that an
    /// `error_page` names is answered with that page instead of the upstream's body.
    pub intercept_errors: bool,
    /// `proxy_method`, `proxy_pass_request_*`, `proxy_set_body`, `proxy_cookie_*`, ...
    pub shaping: Arc<super::proxy_shaping::ProxyShaping>,
    /// `proxy_ssl_*`: TLS to `https://` upstreams.
    pub ssl: Arc<super::upstream_tls::UpstreamTls>,
    /// `proxy_cache*`: the response cache.
    pub cache: Arc<super::cache::CacheConf>,
}

/// Every setting a request served by one location sees.
#[derive(Debug, Clone)]
pub struct LocationConf {
    pub root: DocRoot,
    pub index: Vec<Template>,
    pub try_files: Option<TryFiles>,
    /// The location's rewrite directives (`return`, `rewrite`, `if`, `set`,
    /// `break`), run in the rewrite phase; `None` when it has none.
    pub rewrite: Option<Arc<super::Script>>,
    /// `rewrite_log on`: each regex of the rewrite module and each rewritten URI
    /// is logged at notice level.
    pub rewrite_log: bool,
    pub expires: Expires,
    pub add_headers: Vec<HeaderSetting>,
    pub error_pages: Vec<ErrorPage>,
    pub types: Arc<MimeTypes>,
    pub default_type: String,
    pub sendfile: bool,
    /// `log_not_found` (default on): a missing file's `open()` line in the error log.
    pub log_not_found: bool,
    pub tcp_nopush: bool,
    pub tcp_nodelay: bool,
    pub keepalive_timeout: Duration,
    /// The optional second argument of `keepalive_timeout`, sent as `Keep-Alive: timeout=N`.
    pub keepalive_header_timeout: Option<Duration>,
    pub keepalive_requests: u32,
    /// `keepalive_disable`: the browsers that get no keep-alive (nginx's default is
    /// `msie6`).
    pub keepalive_disable: KeepaliveDisable,
    /// Empty when `access_log off`.
    pub access_log: Vec<AccessLog>,
    pub client_max_body_size: u64,
    pub client_body_buffer_size: u64,
    pub client_body_timeout: Duration,
    pub client_body_temp_path: PathBuf,
    pub send_timeout: Duration,
    /// `reset_timedout_connection`: a request ended by a client timeout or by
    /// `return 444` closes its connection with a TCP RST.
    pub reset_timedout_connection: bool,
    pub server_tokens: bool,
    pub absolute_redirect: bool,
    /// `server_name_in_redirect` (default off): an absolute redirect names the
    /// server's first `server_name` rather than the `Host` the client sent.
    pub server_name_in_redirect: bool,
    /// `port_in_redirect` (default on): an absolute redirect names the port the
    /// request came to, unless it is the scheme's default.
    pub port_in_redirect: bool,
    /// `set_real_ip_from`, `real_ip_header`, `real_ip_recursive`.
    pub realip: RealIpConf,
    /// `allow`, `deny`, `satisfy`, `auth_basic*`, `limit_except`.
    pub access: super::AccessConf,
    pub proxy: ProxyConf,
    /// `etag`, `if_modified_since`, `max_ranges`, `disable_symlinks`, `autoindex*`,
    /// `charset*`.
    pub files: super::FileConf,
    /// `gzip*`, `gzip_static`, `brotli*`.
    pub compression: Arc<super::compress::Compression>,
    /// `recursive_error_pages on`: an error while serving an error page may take a
    /// page too (default off: the built-in page).
    pub recursive_error_pages: bool,
    /// `stub_status`: this location answers with the server's connection counters.
    pub stub_status: bool,
    /// `http2_chunk_size` (8k): the largest DATA frame a response body is sent in.
    pub http2_chunk_size: u64,
    /// `health_check`: the location's own (not inherited), for its upstream group.
    pub health_check: Option<super::health::HealthCheck>,
    /// `vestibule_metrics`: this location answers with the Prometheus metrics.
    pub vestibule_metrics: bool,
    /// `resolver`, `resolver_timeout`: for names a `proxy_pass` with variables gives.
    pub resolver: Option<Arc<crate::net::dns::ResolverConf>>,
    /// `error_log` in http, server or location: where this location's request errors
    /// go; `None`: the main context's log.
    pub error_log: Option<Arc<[super::ErrorLog]>>,
    /// `limit_req*`, `limit_conn*`, `limit_rate`, `limit_rate_after`.
    pub limits: Arc<super::limits::Limits>,
}

/// `keepalive_disable none|msie6|safari ...`: which browsers are never kept alive
/// (`msie6` only after a POST, as nginx), read by `src/http1/browser.rs`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KeepaliveDisable {
    pub msie6: bool,
    pub safari: bool,
}

impl Default for KeepaliveDisable {
    /// nginx's default, `keepalive_disable msie6`.
    fn default() -> Self {
        KeepaliveDisable {
            msie6: true,
            safari: false,
        }
    }
}

//! The proxy settings that reshape what goes to the upstream and what comes back,
//! beyond `proxy_set_header`: nginx's `proxy_method`, `proxy_pass_request_headers`,
//! `proxy_pass_request_body`, `proxy_set_body`, `proxy_cookie_domain`,
//! `proxy_cookie_path`, `proxy_ignore_client_abort`, `proxy_socket_keepalive`,
//! `proxy_bind`, `proxy_next_upstream_timeout` and `proxy_ignore_headers`.

use std::time::Duration;

use crate::config::template::Template;

/// One `proxy_cookie_domain` / `proxy_cookie_path` rule: a `Set-Cookie` attribute
/// equal to `from` (case-insensitively for a domain; a path prefix for a path)
/// becomes `to`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CookieRule {
    pub from: String,
    pub to: Template,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProxyShaping {
    /// `proxy_method`: the method sent instead of the client's.
    pub method: Option<Template>,
    /// `proxy_pass_request_headers off`: only the proxy's own lines go upstream.
    pub pass_request_headers: bool,
    /// `proxy_pass_request_body off`: the client's body is read and dropped.
    pub pass_request_body: bool,
    /// `proxy_set_body`: the body sent instead of the client's.
    pub set_body: Option<Template>,
    pub cookie_domain: Vec<CookieRule>,
    pub cookie_path: Vec<CookieRule>,
    /// `proxy_ignore_client_abort on`: a client that leaves while the upstream thinks
    /// does not end the upstream request.
    pub ignore_client_abort: bool,
    /// `proxy_socket_keepalive on`: SO_KEEPALIVE on upstream connections.
    pub socket_keepalive: bool,
    /// `proxy_bind ADDRESS`: the local address of upstream TCP connections.
    pub bind: Option<std::net::IpAddr>,
    /// `proxy_next_upstream_timeout`: no next server once this has passed since the
    /// first try (zero: no limit).
    pub next_upstream_timeout: Duration,
    /// `proxy_ignore_headers`, lowercased: the upstream fields whose special meaning
    /// is ignored (`X-Accel-*`, `Expires`, `Cache-Control`, `Set-Cookie`, `Vary`).
    pub ignore_headers: Vec<String>,
}

impl Default for ProxyShaping {
    fn default() -> ProxyShaping {
        ProxyShaping {
            method: None,
            pass_request_headers: true,
            pass_request_body: true,
            set_body: None,
            cookie_domain: Vec::new(),
            cookie_path: Vec::new(),
            ignore_client_abort: false,
            socket_keepalive: false,
            bind: None,
            next_upstream_timeout: Duration::ZERO,
            ignore_headers: Vec::new(),
        }
    }
}

impl ProxyShaping {
    /// Whether any cookie rewriting is configured (the response path's fast check).
    pub fn rewrites_cookies(&self) -> bool {
        !self.cookie_domain.is_empty() || !self.cookie_path.is_empty()
    }
}

//! The typed configuration that the program runs: what [`crate::config::build`] makes of
//! the directive tree once every value is checked and every default and inherited
//! setting is resolved. Nothing here is optional in the sense of "look it up later":
//! a location's [`LocationConf`] already holds the merged http → server → location
//! values, exactly as nginx's merge step leaves them.
//!
//! Field names follow the nginx directive they come from, so one grep finds both.

mod access;
pub mod cache;
pub mod compress;
mod expires;
mod files;
pub mod health;
mod http;
pub mod http2;
pub mod limits;
mod location;
mod main_conf;
mod mime_types;
pub mod proxy_shaping;
mod realip;
mod rewrite;
pub mod tls;
mod upstream;
pub mod upstream_tls;

pub use access::{AccessConf, AccessRule, AccessWho, LimitExcept, Satisfy, UserFile};
pub use expires::{Expires, ExpiresError};
pub use files::{
    Autoindex, AutoindexFormat, DisableSymlinks, FileConf, IfModifiedSince, DEFAULT_CHARSET_TYPES,
};
pub use http::{
    HttpConfig, Listen, ListenAddr, ListenOptions, LogEscape, LogFormat, Server, ServerName,
    SoKeepalive, DEFAULT_BACKLOG,
};
pub use location::{
    AccessLog, DocRoot, ErrorPage, ErrorPageOverwrite, ErrorPageTarget, HeaderSetting,
    KeepaliveDisable, Location, LocationConf, LocationMatch, NextUpstream, ProxyConf, ProxyPass,
    ProxyRedirect, ProxyTarget, RedirectRule, Return, TryFiles, TryFilesFallback,
};
pub use main_conf::{
    CpuAffinity, ErrorLog, LogLevel, LogTarget, MainConfig, UserSpec, WorkerProcesses,
};
pub use mime_types::MimeTypes;
pub use realip::{parse_ip, Cidr, CidrError, RealIpConf, RealIpHeader, TrustedPeer};
pub use rewrite::{
    Condition, FileTest, IfBlock, Op, Rewrite, RewriteFlag, Script, ScriptRegex, SetTarget,
};
pub use upstream::{Balance, Upstream, UpstreamAddr, UpstreamServer, DEFAULT_UPSTREAM_KEEPALIVE};

/// The whole running configuration.
#[derive(Debug, Clone)]
pub struct Config {
    pub main: MainConfig,
    /// `None` when the configuration has no `http` block (nginx runs, serving nothing).
    pub http: Option<HttpConfig>,
}

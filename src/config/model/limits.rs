//! Request and connection limits: nginx's `ngx_http_limit_req_module` and
//! `ngx_http_limit_conn_module` as configured. The zones are declared at http level
//! ([`LimitZone`]); a location names them ([`Limits`]). What the worker does with them
//! is in `src/worker/limits.rs`, the shared tables in `src/zone/limits.rs`.

use super::LogLevel;
use crate::config::template::Template;

/// Which module a zone belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LimitKind {
    Req,
    Conn,
}

impl LimitKind {
    /// The prefix of the shared zone's name, so a `limit_req_zone` named like an
    /// `ssl_session_cache` does not take its memory.
    pub fn prefix(self) -> &'static str {
        match self {
            LimitKind::Req => "limit_req:",
            LimitKind::Conn => "limit_conn:",
        }
    }
}

/// `limit_req_zone KEY zone=NAME:SIZE rate=R` or `limit_conn_zone KEY zone=NAME:SIZE`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LimitZone {
    pub kind: LimitKind,
    pub name: String,
    pub key: Template,
    /// Bytes.
    pub size: usize,
    /// Requests per 1000 seconds (nginx's `rate`: r/s × 1000, or r/m × 1000 / 60).
    /// 0 for a `limit_conn_zone`.
    pub rate: u64,
}

impl LimitZone {
    /// The shared zone's name.
    pub fn zone_name(&self) -> String {
        format!("{}{}", self.kind.prefix(), self.name)
    }
}

/// One `limit_req zone=NAME [burst=N] [nodelay | delay=N]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LimitReq {
    pub zone: String,
    /// Thousandths of a request (nginx: burst × 1000).
    pub burst: u64,
    /// Excess (thousandths) served without delay; `u64::MAX` for `nodelay`.
    pub delay: u64,
}

/// One `limit_conn NAME N`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LimitConn {
    pub zone: String,
    pub max: u32,
}

/// A location's limits, merged as nginx merges them (the `limit_req` list of the
/// nearest level that has one; each setting likewise).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Limits {
    pub req: Vec<LimitReq>,
    pub req_status: u16,
    pub req_log_level: LogLevel,
    pub req_dry_run: bool,
    pub conn: Vec<LimitConn>,
    pub conn_status: u16,
    pub conn_log_level: LogLevel,
    pub conn_dry_run: bool,
    /// `limit_rate`: bytes per second of a response, 0 for none.
    pub rate: u64,
    /// `limit_rate_after`: bytes sent at full speed first.
    pub rate_after: u64,
    /// `proxy_limit_rate`: bytes per second read from the upstream (buffered
    /// responses only, as nginx), 0 for none.
    pub proxy_rate: u64,
}

impl Default for Limits {
    fn default() -> Limits {
        Limits {
            req: Vec::new(),
            req_status: 503,
            req_log_level: LogLevel::Error,
            req_dry_run: false,
            conn: Vec::new(),
            conn_status: 503,
            conn_log_level: LogLevel::Error,
            conn_dry_run: false,
            rate: 0,
            rate_after: 0,
            proxy_rate: 0,
        }
    }
}

impl Limits {
    /// Whether the preaccess phase has anything to do.
    pub fn any(&self) -> bool {
        !self.req.is_empty() || !self.conn.is_empty()
    }
}

/// The level nginx logs a delayed request at: one below `limit_req_log_level`
/// (`info` stays `info`).
pub fn delay_level(level: LogLevel) -> LogLevel {
    match level {
        LogLevel::Error => LogLevel::Warn,
        LogLevel::Warn => LogLevel::Notice,
        _ => LogLevel::Info,
    }
}

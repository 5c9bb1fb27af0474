//! Active health checks: `health_check` in a location that proxies to an `upstream`
//! group, and the `match` blocks that say what a healthy answer is. The syntax is
//! NGINX Plus's, so a configuration written for it loads; the probes themselves run in
//! [`crate::worker::health`].

use std::net::SocketAddr;
use std::time::Duration;

use crate::config::source::Span;
use crate::pcre::Pcre;

/// The defaults NGINX Plus documents for `health_check`.
pub const DEFAULT_INTERVAL: Duration = Duration::from_secs(5);
pub const DEFAULT_FAILS: u32 = 1;
pub const DEFAULT_PASSES: u32 = 1;

/// `health_check [interval=T] [jitter=T] [fails=N] [passes=N] [uri=URI] [match=NAME]
/// [port=N] [mandatory [persistent]] [keepalive_time=T];`
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HealthCheck {
    pub interval: Duration,
    /// Each probe starts up to this much later than its interval says (0: never).
    pub jitter: Duration,
    /// Consecutive failed probes that mark a healthy server unhealthy.
    pub fails: u32,
    /// Consecutive passed probes that mark an unhealthy server healthy.
    pub passes: u32,
    /// The request's URI.
    pub uri: String,
    /// The `match` block that judges the answer; `None`: a 2xx or 3xx status.
    pub matcher: Option<String>,
    /// Probe this port instead of each server's own.
    pub port: Option<u16>,
    /// A server is unhealthy until its first probe passes (otherwise healthy).
    pub mandatory: bool,
    pub span: Span,
}

/// One checked upstream group, as the prober needs it: the location's settings
/// resolved when the configuration was built.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupCheck {
    /// The `upstream` block's name.
    pub upstream: String,
    pub check: HealthCheck,
    /// The probe's `Host` header: the location's `proxy_set_header Host` when it is
    /// fixed or `$host`-like (the server's first name), else the group's name, as
    /// `proxy_pass` sends.
    pub host: String,
    /// The location's `proxy_connect_timeout` and `proxy_read_timeout`.
    pub connect_timeout: Duration,
    pub read_timeout: Duration,
}

impl GroupCheck {
    /// Where to probe a server of the group (its own address, or `port=`).
    pub fn probe_addr(&self, addr: &super::UpstreamAddr) -> super::UpstreamAddr {
        match (addr, self.check.port) {
            (super::UpstreamAddr::Tcp(a), Some(port)) => {
                super::UpstreamAddr::Tcp(SocketAddr::new(a.ip(), port))
            }
            _ => addr.clone(),
        }
    }
}

/// `match NAME { ... }` in http: every condition must hold.
#[derive(Debug, Clone)]
pub struct Match {
    pub name: String,
    pub conditions: Vec<MatchCondition>,
    pub span: Span,
}

impl PartialEq for Match {
    fn eq(&self, other: &Match) -> bool {
        self.name == other.name && self.span == other.span
    }
}

impl Eq for Match {}

/// One line of a `match` block.
#[derive(Debug, Clone)]
pub enum MatchCondition {
    /// `status 200;`, `status 200 204;`, `status 200-399;`, `status ! 500 502;`.
    Status {
        negate: bool,
        ranges: Vec<(u16, u16)>,
    },
    /// `header NAME;` `header ! NAME;` `header NAME = V;` `!=`, `~`, `!~`.
    Header { name: String, test: HeaderTest },
    /// `body ~ REGEX;` `body !~ REGEX;` over the first 256 KiB of the body.
    Body { negate: bool, regex: Pcre },
}

/// What a `header` line asks of a header.
#[derive(Debug, Clone)]
pub enum HeaderTest {
    Present,
    Absent,
    Equals { negate: bool, value: String },
    Matches { negate: bool, regex: Pcre },
}

impl Match {
    /// Whether an answer with `status`, `headers` (name, value) and `body` passes.
    pub fn passes(&self, status: u16, headers: &[(String, String)], body: &str) -> bool {
        self.conditions
            .iter()
            .all(|c| c.holds(status, headers, body))
    }
}

impl MatchCondition {
    fn holds(&self, status: u16, headers: &[(String, String)], body: &str) -> bool {
        match self {
            MatchCondition::Status { negate, ranges } => {
                ranges.iter().any(|&(lo, hi)| (lo..=hi).contains(&status)) != *negate
            }
            MatchCondition::Header { name, test } => {
                let value = headers
                    .iter()
                    .find(|(n, _)| n.eq_ignore_ascii_case(name))
                    .map(|(_, v)| v.as_str());
                match (test, value) {
                    (HeaderTest::Present, v) => v.is_some(),
                    (HeaderTest::Absent, v) => v.is_none(),
                    (_, None) => false,
                    (HeaderTest::Equals { negate, value }, Some(v)) => (v == value) != *negate,
                    (HeaderTest::Matches { negate, regex }, Some(v)) => {
                        regex.is_match(v) != *negate
                    }
                }
            }
            MatchCondition::Body { negate, regex } => regex.is_match(body) != *negate,
        }
    }
}

/// Whether `status` passes when no `match` is named: 2xx or 3xx.
pub fn default_passes(status: u16) -> bool {
    (200..400).contains(&status)
}

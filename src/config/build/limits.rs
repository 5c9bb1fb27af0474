//! nginx's `ngx_http_limit_req_module` and `ngx_http_limit_conn_module` (and the
//! core's `limit_rate`, `limit_rate_after`, and the proxy module's `proxy_limit_rate`): their table, slots and merge into
//! [`Limits`], with nginx's messages. Zones are declared in http; a `limit_req` or
//! `limit_conn` naming a zone nobody declares fails at the end of the http block,
//! as nginx's `zero size shared memory zone "NAME"`.

use super::args::{self, arg, set_once};
use super::command::{d, Arity::*, Command, Context, HTTP, HTTP_SRV_LOC, HTTP_SRV_LOC_LIF};
use super::Builder;
use crate::config::error::ConfigErrorKind;
use crate::config::model::limits::{LimitConn, LimitKind, LimitReq, LimitZone, Limits};
use crate::config::model::LogLevel;
use crate::config::tree::Directive;
use crate::config::value;

/// The smallest zone nginx accepts: eight pages.
pub const MIN_ZONE: usize = 8 * 4096;

/// The limit settings written at one level.
#[derive(Debug, Default)]
pub struct LimitsLayer {
    /// Zones declared here (http only).
    pub zones: Vec<LimitZone>,
    pub req: Option<Vec<LimitReq>>,
    pub req_status: Option<u16>,
    pub req_log_level: Option<LogLevel>,
    pub req_dry_run: Option<bool>,
    pub conn: Option<Vec<LimitConn>>,
    pub conn_status: Option<u16>,
    pub conn_log_level: Option<LogLevel>,
    pub conn_dry_run: Option<bool>,
    pub rate: Option<u64>,
    pub rate_after: Option<u64>,
    pub proxy_rate: Option<u64>,
}

pub const COMMANDS: &[Command<LimitsLayer>] = &[
    d("limit_req_zone", HTTP, Between(3, 4), |c, d, cx, _| {
        zone(c, d, cx, LimitKind::Req)
    }),
    d("limit_req", HTTP_SRV_LOC, Between(1, 3), limit_req),
    d(
        "limit_req_status",
        HTTP_SRV_LOC,
        Exactly(1),
        |c, d, cx, _| set_once(cx, d, &mut c.req_status, status(d)),
    ),
    d(
        "limit_req_log_level",
        HTTP_SRV_LOC,
        Exactly(1),
        |c, d, cx, _| set_once(cx, d, &mut c.req_log_level, level(d)),
    ),
    d(
        "limit_req_dry_run",
        HTTP_SRV_LOC,
        Exactly(1),
        |c, d, cx, _| set_once(cx, d, &mut c.req_dry_run, args::flag(d)),
    ),
    d("limit_conn_zone", HTTP, Exactly(2), |c, d, cx, _| {
        zone(c, d, cx, LimitKind::Conn)
    }),
    d("limit_conn", HTTP_SRV_LOC, Exactly(2), limit_conn),
    d(
        "limit_conn_status",
        HTTP_SRV_LOC,
        Exactly(1),
        |c, d, cx, _| set_once(cx, d, &mut c.conn_status, status(d)),
    ),
    d(
        "limit_conn_log_level",
        HTTP_SRV_LOC,
        Exactly(1),
        |c, d, cx, _| set_once(cx, d, &mut c.conn_log_level, level(d)),
    ),
    d(
        "limit_conn_dry_run",
        HTTP_SRV_LOC,
        Exactly(1),
        |c, d, cx, _| set_once(cx, d, &mut c.conn_dry_run, args::flag(d)),
    ),
    d("limit_rate", HTTP_SRV_LOC_LIF, Exactly(1), |c, d, cx, _| {
        set_once(cx, d, &mut c.rate, args::size(d, 0))
    }),
    d(
        "limit_rate_after",
        HTTP_SRV_LOC_LIF,
        Exactly(1),
        |c, d, cx, _| set_once(cx, d, &mut c.rate_after, args::size(d, 0)),
    ),
    // The proxy module's, kept here with the other rates.
    d(
        "proxy_limit_rate",
        HTTP_SRV_LOC,
        Exactly(1),
        |c, d, cx, _| set_once(cx, d, &mut c.proxy_rate, args::size(d, 0)),
    ),
];

fn says(message: String) -> ConfigErrorKind {
    ConfigErrorKind::Limit(message)
}

/// `limit_req_zone KEY zone=NAME:SIZE rate=R [sync]`, `limit_conn_zone KEY zone=NAME:SIZE`.
fn zone(c: &mut LimitsLayer, d: &Directive, cx: &mut Builder, kind: LimitKind) {
    match parse_zone(d, cx, kind) {
        Ok(z) => {
            if let Some(known) = c.zones.iter().find(|k| k.kind == kind && k.name == z.name) {
                let message = format!(
                    "{} \"{}\" is already bound to key \"{}\"",
                    d.name, z.name, known.key.source
                );
                return cx.error(says(message), &d.span);
            }
            cx.declare_zone(&z.zone_name(), z.size, &d.span);
            c.zones.push(z);
        }
        Err(k) => cx.error(k, &d.span),
    }
}

fn parse_zone(d: &Directive, cx: &Builder, kind: LimitKind) -> Result<LimitZone, ConfigErrorKind> {
    let key = args::template(cx, d, 0)?;
    let mut name = None;
    let mut size = 0;
    let mut rate = 1000;
    for a in d.args.iter().skip(1).map(|a| a.value.as_str()) {
        if let Some(spec) = a.strip_prefix("zone=") {
            let parsed = spec.rsplit_once(':').and_then(|(n, s)| {
                let s = value::parse_size(s).and_then(|s| usize::try_from(s).ok())?;
                (!n.is_empty() && s > 0).then(|| (n.to_string(), s))
            });
            let Some((n, s)) = parsed else {
                return Err(says(format!("invalid zone size \"{a}\"")));
            };
            if s < MIN_ZONE {
                return Err(says(format!("zone \"{a}\" is too small")));
            }
            name = Some(n);
            size = s;
        } else if let (Some(r), LimitKind::Req) = (a.strip_prefix("rate="), kind) {
            rate = parse_rate(r).ok_or_else(|| says(format!("invalid rate \"{a}\"")))?;
        } else if a == "sync" && kind == LimitKind::Req {
            // nginx Plus's zone synchronisation: one server here, nothing to sync.
        } else {
            return Err(ConfigErrorKind::InvalidParameter(a.to_string()));
        }
    }
    let Some(name) = name else {
        return Err(ConfigErrorKind::MissingParameter {
            directive: d.name.clone(),
            parameter: "zone",
        });
    };
    if key.source.is_empty() {
        return Err(says(format!("invalid key \"{}\"", key.source)));
    }
    Ok(LimitZone {
        kind,
        name,
        key,
        size,
        rate: if kind == LimitKind::Req { rate } else { 0 },
    })
}

/// `Nr/s` or `Nr/m` as requests per 1000 seconds (nginx's `rate * 1000 / scale`).
fn parse_rate(text: &str) -> Option<u64> {
    let (n, scale) = if let Some(n) = text.strip_suffix("r/s") {
        (n, 1)
    } else if let Some(n) = text.strip_suffix("r/m") {
        (n, 60)
    } else {
        return None;
    };
    let n = value::parse_number(n)?;
    (n > 0).then(|| n.saturating_mul(1000) / scale)
}

/// `limit_req zone=NAME [burst=N] [nodelay | delay=N]`.
fn limit_req(c: &mut LimitsLayer, d: &Directive, cx: &mut Builder, _: Context) {
    let mut zone = None;
    let mut burst = 0u64;
    let mut delay = 0u64;
    for a in d.args.iter().map(|a| a.value.as_str()) {
        let number = |v: &str| value::parse_number(v).filter(|&n| n > 0);
        if let Some(n) = a.strip_prefix("zone=") {
            zone = Some(n.to_string());
        } else if let Some(v) = a.strip_prefix("burst=") {
            match number(v) {
                Some(n) => burst = n.saturating_mul(1000),
                None => return cx.error(says(format!("invalid burst value \"{a}\"")), &d.span),
            }
        } else if let Some(v) = a.strip_prefix("delay=") {
            match number(v) {
                Some(n) => delay = n.saturating_mul(1000),
                None => return cx.error(says(format!("invalid delay value \"{a}\"")), &d.span),
            }
        } else if a == "nodelay" {
            delay = u64::MAX;
        } else {
            return cx.error(ConfigErrorKind::InvalidParameter(a.to_string()), &d.span);
        }
    }
    let Some(zone) = zone else {
        let kind = ConfigErrorKind::MissingParameter {
            directive: d.name.clone(),
            parameter: "zone",
        };
        return cx.error(kind, &d.span);
    };
    let list = c.req.get_or_insert_with(Vec::new);
    if list.iter().any(|l| l.zone == zone) {
        return cx.error(ConfigErrorKind::Duplicate(d.name.clone()), &d.span);
    }
    cx.limit_refs
        .push((LimitKind::Req, zone.clone(), d.span.clone()));
    list.push(LimitReq { zone, burst, delay });
}

/// `limit_conn NAME N`.
fn limit_conn(c: &mut LimitsLayer, d: &Directive, cx: &mut Builder, _: Context) {
    let zone = arg(d, 0).to_string();
    let max = value::parse_number(arg(d, 1))
        .filter(|&n| n > 0)
        .and_then(|n| u32::try_from(n).ok());
    let Some(max) = max else {
        let message = format!("invalid number of connections \"{}\"", arg(d, 1));
        return cx.error(says(message), &d.span);
    };
    let list = c.conn.get_or_insert_with(Vec::new);
    if list.iter().any(|l| l.zone == zone) {
        return cx.error(ConfigErrorKind::Duplicate(d.name.clone()), &d.span);
    }
    cx.limit_refs
        .push((LimitKind::Conn, zone.clone(), d.span.clone()));
    list.push(LimitConn { zone, max });
}

fn status(d: &Directive) -> Result<u16, ConfigErrorKind> {
    let n = args::number(d, 0)?;
    if (400..=599).contains(&n) {
        Ok(n as u16)
    } else {
        Err(ConfigErrorKind::ValueBetween(400, 599))
    }
}

fn level(d: &Directive) -> Result<LogLevel, ConfigErrorKind> {
    match arg(d, 0) {
        "info" => Ok(LogLevel::Info),
        "notice" => Ok(LogLevel::Notice),
        "warn" => Ok(LogLevel::Warn),
        "error" => Ok(LogLevel::Error),
        other => Err(ConfigErrorKind::InvalidBitmaskValue(other.to_string())),
    }
}

impl LimitsLayer {
    /// This level over its parent's (a list written here replaces the parent's).
    pub fn merge(&self, parent: &Limits) -> Limits {
        Limits {
            req: self.req.clone().unwrap_or_else(|| parent.req.clone()),
            req_status: self.req_status.unwrap_or(parent.req_status),
            req_log_level: self.req_log_level.unwrap_or(parent.req_log_level),
            req_dry_run: self.req_dry_run.unwrap_or(parent.req_dry_run),
            conn: self.conn.clone().unwrap_or_else(|| parent.conn.clone()),
            conn_status: self.conn_status.unwrap_or(parent.conn_status),
            conn_log_level: self.conn_log_level.unwrap_or(parent.conn_log_level),
            conn_dry_run: self.conn_dry_run.unwrap_or(parent.conn_dry_run),
            rate: self.rate.unwrap_or(parent.rate),
            rate_after: self.rate_after.unwrap_or(parent.rate_after),
            proxy_rate: self.proxy_rate.unwrap_or(parent.proxy_rate),
        }
    }
}

/// Every `limit_req`/`limit_conn` names a declared zone of its kind: nginx's
/// `zero size shared memory zone "NAME"` otherwise.
pub fn check_refs(cx: &mut Builder, zones: &[LimitZone]) {
    let refs = std::mem::take(&mut cx.limit_refs);
    let mut told: Vec<&str> = Vec::new();
    for (kind, name, span) in &refs {
        if zones.iter().any(|z| z.kind == *kind && &z.name == name) || told.contains(&&**name) {
            continue;
        }
        told.push(name);
        cx.error(
            says(format!("zero size shared memory zone \"{name}\"")),
            span,
        );
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn rates_are_requests_per_thousand_seconds() {
        assert_eq!(parse_rate("10r/s"), Some(10_000));
        assert_eq!(parse_rate("5r/m"), Some(83));
        assert_eq!(parse_rate("0r/s"), None);
        assert_eq!(parse_rate("1r/h"), None);
    }

    #[test]
    fn a_level_with_its_own_lines_replaces_the_inherited_ones() {
        let parent = Limits {
            req: vec![LimitReq {
                zone: "a".into(),
                burst: 0,
                delay: 0,
            }],
            ..Limits::default()
        };
        let inherits = LimitsLayer::default().merge(&parent);
        assert_eq!(inherits.req, parent.req);
        let own = LimitsLayer {
            req: Some(vec![LimitReq {
                zone: "b".into(),
                burst: 5000,
                delay: u64::MAX,
            }]),
            req_status: Some(429),
            ..LimitsLayer::default()
        };
        let merged = own.merge(&parent);
        assert_eq!(merged.req.len(), 1);
        assert_eq!(merged.req[0].zone, "b");
        assert_eq!(merged.req_status, 429);
        assert_eq!(merged.conn_status, 503);
    }
}

//! Active health checks in NGINX Plus's syntax: `health_check` in a location,
//! `match NAME { }` in http, and the upstream `zone` they are written beside. Once
//! every server is built, [`group_checks`] gathers the checked groups with the
//! location settings their probes use.

use std::time::Duration;

use super::args::arg;
use super::command::{b, d, Arity::*, Command, HTTP, LOC};
use super::Builder;
use crate::config::error::ConfigErrorKind;
use crate::config::model::health::{
    GroupCheck, HeaderTest, HealthCheck, Match, MatchCondition, DEFAULT_FAILS, DEFAULT_INTERVAL,
    DEFAULT_PASSES,
};
use crate::config::model::{HttpConfig, Location, LocationConf, ProxyTarget, Server};
use crate::config::tree::Directive;
use crate::config::value::parse_time;
use crate::pcre::Pcre;

/// A location's own `health_check` (not inherited by nested locations, as NGINX
/// Plus's).
#[derive(Debug, Default)]
pub struct HealthLayer {
    check: Option<HealthCheck>,
}

impl HealthLayer {
    pub fn merge(&self, conf: &mut LocationConf) {
        conf.health_check = self.check.clone();
    }
}

pub const COMMANDS: &[Command<HealthLayer>] =
    &[d("health_check", LOC, Between(0, 12), |h, d, cx, _| {
        if h.check.is_some() {
            cx.error(ConfigErrorKind::Duplicate(d.name.clone()), &d.span);
            return;
        }
        match health_check(d) {
            Ok(check) => h.check = Some(check),
            Err(k) => cx.error(k, &d.span),
        }
    })];

/// The `match` blocks of the http level.
#[derive(Debug, Default)]
pub struct Matches(pub Vec<Match>);

pub const HTTP_COMMANDS: &[Command<Matches>] = &[b("match", HTTP, Exactly(1), |m, d, cx, _| {
    let name = arg(d, 0).to_string();
    if m.0.iter().any(|o| o.name == name) {
        cx.error(
            ConfigErrorKind::Health(format!("duplicate match \"{name}\"")),
            &d.span,
        );
        return;
    }
    let mut conditions = Vec::new();
    for line in d.block.as_deref().unwrap_or(&[]) {
        match condition(line) {
            Ok(c) => conditions.push(c),
            Err(k) => cx.error(k, &line.span),
        }
    }
    m.0.push(Match {
        name,
        conditions,
        span: d.span.clone(),
    });
})];

fn invalid(value: &str) -> ConfigErrorKind {
    ConfigErrorKind::InvalidParameter(value.to_string())
}

fn health_check(d: &Directive) -> Result<HealthCheck, ConfigErrorKind> {
    let mut check = HealthCheck {
        interval: DEFAULT_INTERVAL,
        jitter: Duration::ZERO,
        fails: DEFAULT_FAILS,
        passes: DEFAULT_PASSES,
        uri: "/".to_string(),
        matcher: None,
        port: None,
        mandatory: false,
        span: d.span.clone(),
    };
    let time = |v: &str, whole: &str| parse_time(v).ok_or_else(|| invalid(whole));
    let count = |v: &str, whole: &str| {
        v.parse::<u32>()
            .ok()
            .filter(|n| *n > 0)
            .ok_or_else(|| invalid(whole))
    };
    for a in d.arg_strs() {
        match a.split_once('=') {
            Some(("interval", v)) => {
                check.interval = time(v, a)?;
                if check.interval.is_zero() {
                    return Err(invalid(a));
                }
            }
            Some(("jitter", v)) => check.jitter = time(v, a)?,
            Some(("fails", v)) => check.fails = count(v, a)?,
            Some(("passes", v)) => check.passes = count(v, a)?,
            Some(("uri", v)) if v.starts_with('/') => check.uri = v.to_string(),
            Some(("match", v)) if !v.is_empty() => check.matcher = Some(v.to_string()),
            Some(("port", v)) => {
                check.port = Some(
                    v.parse()
                        .ok()
                        .filter(|p| *p > 0)
                        .ok_or_else(|| invalid(a))?,
                )
            }
            // Each probe opens its own connection; how long one may be kept is moot.
            Some(("keepalive_time", v)) => {
                time(v, a)?;
            }
            Some(("type", _)) | Some(("grpc_service", _)) | Some(("grpc_status", _)) => {
                return Err(ConfigErrorKind::Health(format!(
                    "health_check \"{a}\": gRPC health checks are not supported; \
                     remove the parameter to probe over HTTP"
                )))
            }
            None if a == "mandatory" => check.mandatory = true,
            // The state is kept across reloads in any case (the zone outlives them).
            None if a == "persistent" && check.mandatory => {}
            _ => return Err(invalid(a)),
        }
    }
    Ok(check)
}

fn condition(line: &Directive) -> Result<MatchCondition, ConfigErrorKind> {
    let args = line.arg_strs();
    match line.name.as_str() {
        "status" => status(&args),
        "header" => header(&args),
        "body" => match args.as_slice() {
            [op @ ("~" | "!~"), pattern] => Ok(MatchCondition::Body {
                negate: *op == "!~",
                regex: regex(pattern)?,
            }),
            _ => Err(ConfigErrorKind::Health(
                "invalid \"body\" line in match: write body ~ REGEX; or body !~ REGEX;".into(),
            )),
        },
        "require" => Err(ConfigErrorKind::Health(
            "\"require\" in match is not supported by vestibule: test the status, a header or the body instead"
                .into(),
        )),
        other => Err(ConfigErrorKind::Health(format!(
            "unknown line \"{other}\" in match: vestibule's match blocks take status, header and body"
        ))),
    }
}

fn status(args: &[&str]) -> Result<MatchCondition, ConfigErrorKind> {
    let (negate, codes) = match args {
        ["!", rest @ ..] => (true, rest),
        rest => (false, rest),
    };
    if codes.is_empty() {
        return Err(ConfigErrorKind::Health(
            "\"status\" in match needs a status code or range".into(),
        ));
    }
    let code = |s: &str| {
        s.parse::<u16>()
            .ok()
            .filter(|c| (100..=599).contains(c))
            .ok_or_else(|| invalid(s))
    };
    let ranges = codes
        .iter()
        .map(|c| match c.split_once('-') {
            Some((lo, hi)) => {
                let (lo, hi) = (code(lo)?, code(hi)?);
                if lo > hi {
                    return Err(invalid(c));
                }
                Ok((lo, hi))
            }
            None => code(c).map(|c| (c, c)),
        })
        .collect::<Result<Vec<_>, _>>()?;
    Ok(MatchCondition::Status { negate, ranges })
}

fn header(args: &[&str]) -> Result<MatchCondition, ConfigErrorKind> {
    let test = |name: &str, test| {
        Ok(MatchCondition::Header {
            name: name.to_string(),
            test,
        })
    };
    match args {
        [name] => test(name, HeaderTest::Present),
        ["!", name] => test(name, HeaderTest::Absent),
        [name, op @ ("=" | "!="), value] => test(
            name,
            HeaderTest::Equals {
                negate: *op == "!=",
                value: value.to_string(),
            },
        ),
        [name, op @ ("~" | "!~"), pattern] => test(
            name,
            HeaderTest::Matches {
                negate: *op == "!~",
                regex: regex(pattern)?,
            },
        ),
        _ => Err(ConfigErrorKind::Health(
            "invalid \"header\" line in match: write header NAME [= | != | ~ | !~ VALUE]; or header ! NAME;"
                .into(),
        )),
    }
}

fn regex(pattern: &str) -> Result<Pcre, ConfigErrorKind> {
    Pcre::new(pattern, false).map_err(|e| ConfigErrorKind::InvalidRegex {
        pattern: pattern.to_string(),
        reason: e.reason,
    })
}

/// Every location's `health_check`, checked against the groups and `match` blocks and
/// resolved into what the prober needs. One check per group: a second is an error.
pub fn group_checks(cx: &mut Builder, http: &HttpConfig, matches: &[Match]) -> Vec<GroupCheck> {
    let mut out: Vec<GroupCheck> = Vec::new();
    for server in &http.servers {
        let mut stack: Vec<&Location> = server.locations.iter().collect();
        let mut confs: Vec<&LocationConf> = vec![&server.conf];
        while let Some(l) = stack.pop() {
            confs.push(&l.conf);
            stack.extend(l.locations.iter());
        }
        for conf in confs {
            if let Some(check) = &conf.health_check {
                if let Some(g) = group_check(cx, http, matches, server, conf, check, &out) {
                    out.push(g);
                }
            }
        }
    }
    out
}

fn group_check(
    cx: &mut Builder,
    http: &HttpConfig,
    matches: &[Match],
    server: &Server,
    conf: &LocationConf,
    check: &HealthCheck,
    found: &[GroupCheck],
) -> Option<GroupCheck> {
    let mut fail = |message: String| {
        cx.error(ConfigErrorKind::Health(message), &check.span);
        None
    };
    let Some(pass) = conf.proxy.pass.as_ref() else {
        return fail(
            "\"health_check\" needs \"proxy_pass\" to an upstream group in its location".into(),
        );
    };
    let ProxyTarget::Group(name) = &pass.target else {
        return fail(format!(
            "\"health_check\" needs \"proxy_pass\" to an upstream group, not \"{}\": put the server in an upstream block",
            pass.url
        ));
    };
    if pass.url.starts_with("https://") {
        return fail(
            "\"health_check\" of an https:// upstream is not supported by vestibule yet".into(),
        );
    }
    // An unknown group: `proxy_pass` has reported it.
    http.upstream(name)?;
    if let Some(m) = &check.matcher {
        if !matches.iter().any(|x| &x.name == m) {
            return fail(format!("match \"{m}\" not found"));
        }
    }
    if let Some(first) = found.iter().find(|g| &g.upstream == name) {
        return fail(format!(
            "upstream \"{name}\" already has a health_check (at {}): vestibule runs one per group",
            first.check.span
        ));
    }
    Some(GroupCheck {
        upstream: name.clone(),
        check: check.clone(),
        host: probe_host(server, conf, name),
        connect_timeout: conf.proxy.connect_timeout,
        read_timeout: conf.proxy.read_timeout,
    })
}

/// The probe's `Host`: what the location's `proxy_set_header Host` would send with no
/// request behind it.
fn probe_host(server: &Server, conf: &LocationConf, group: &str) -> String {
    let set = conf
        .proxy
        .set_headers
        .iter()
        .rev()
        .find(|h| h.name.eq_ignore_ascii_case("host"));
    let Some(set) = set else {
        return group.to_string();
    };
    if let Some(fixed) = set.value.as_static() {
        return fixed.to_string();
    }
    let name = server.primary_name();
    match set.value.source.as_str() {
        "$host" | "$http_host" | "$server_name" if !name.is_empty() && &*name != "_" => {
            name.to_string()
        }
        _ => group.to_string(),
    }
}

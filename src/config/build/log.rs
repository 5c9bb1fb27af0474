//! nginx's `ngx_http_log_module`: `access_log` and `log_format`, with the predefined
//! `combined` format; and `error_log` in http, server and location (the core module's
//! in nginx; the main context's row is in [`super::main_ctx`]). Their table, slots,
//! merge and the check that every `access_log` names a known format.

use std::collections::HashMap;

use super::args::{self, arg};
use super::command::{d, Arity::*, Command, HTTP, HTTP_SRV_LOC, HTTP_SRV_LOC_LIF};
use super::Builder;
use crate::config::error::ConfigErrorKind;
use crate::config::model::{AccessLog, ErrorLog, LocationConf, LogEscape, LogFormat};
use crate::config::template::Template;
use crate::config::tree::Directive;

/// nginx's `combined` format, predefined.
pub const COMBINED: &str =
    "$remote_addr - $remote_user [$time_local] \"$request\" $status $body_bytes_sent \"$http_referer\" \"$http_user_agent\"";

/// The log settings written at one level; `formats` only at http level.
#[derive(Debug, Default)]
pub struct LogConf {
    pub access_log: Option<Vec<AccessLog>>,
    pub error_log: Option<Vec<ErrorLog>>,
    pub formats: HashMap<String, LogFormat>,
}

pub const COMMANDS: &[Command<LogConf>] = &[
    d("access_log", HTTP_SRV_LOC_LIF, AtLeast(1), access_log),
    d("log_format", HTTP, AtLeast(2), |l, d, cx, _| {
        log_format(cx, d, &mut l.formats)
    }),
    d(
        "error_log",
        HTTP_SRV_LOC,
        Between(1, 2),
        |l, d, cx, _| match super::main_ctx::error_log(cx, d) {
            Ok(target) => l.error_log.get_or_insert_with(Vec::new).push(target),
            Err(k) => cx.error(k, &d.span),
        },
    ),
];

impl LogConf {
    /// The http level's slots, with `combined` already defined.
    pub fn with_combined(cx: &Builder) -> LogConf {
        let mut formats = HashMap::new();
        formats.insert(
            "combined".to_string(),
            LogFormat {
                name: "combined".to_string(),
                escape: LogEscape::Default,
                template: Template::parse(COMBINED, &cx.names)
                    .unwrap_or_else(|_| Template::literal(COMBINED)),
            },
        );
        LogConf {
            access_log: None,
            error_log: None,
            formats,
        }
    }

    /// Merges over the parent's settings, into `conf`.
    pub fn merge(&self, parent: &LocationConf, conf: &mut LocationConf) {
        conf.access_log = args::pick_vec(&self.access_log, &parent.access_log);
        conf.error_log = match &self.error_log {
            Some(own) => Some(own.as_slice().into()),
            None => parent.error_log.clone(),
        };
    }
}

fn access_log(l: &mut LogConf, d: &Directive, cx: &mut Builder, _: super::command::Context) {
    let list = l.access_log.get_or_insert_with(Vec::new);
    if arg(d, 0) == "off" {
        if d.args.len() > 1 {
            cx.error(ConfigErrorKind::InvalidArgCount(d.name.clone()), &d.span);
        }
        // `off` at a level clears the list; nothing else may be combined with it.
        list.clear();
        return;
    }
    let path = arg(d, 0);
    if path.starts_with("syslog:") || path.contains('$') {
        cx.error(
            ConfigErrorKind::Unsupported(d.name.clone(), "log to a fixed file path"),
            &d.span,
        );
        return;
    }
    let (mut gzip, mut condition) = (None, None);
    for extra in d.args.iter().skip(2) {
        let v = extra.value.as_str();
        let parsed = if let Some(size) = v.strip_prefix("buffer=") {
            crate::config::value::parse_size(size).map(drop)
        } else if let Some(t) = v.strip_prefix("flush=") {
            crate::config::value::parse_time(t).map(drop)
        } else if v == "gzip" {
            gzip = Some(1);
            Some(())
        } else if let Some(level) = v.strip_prefix("gzip=") {
            gzip = level.parse::<u32>().ok().filter(|l| (1..=9).contains(l));
            gzip.map(drop)
        } else if let Some(c) = v.strip_prefix("if=") {
            match Template::parse(c, &cx.names) {
                Ok(t) => {
                    condition = Some(t);
                    Some(())
                }
                Err(k) => {
                    cx.error(k, &d.span);
                    return;
                }
            }
        } else {
            None
        };
        if parsed.is_none() {
            cx.error(ConfigErrorKind::InvalidParameter(v.to_string()), &d.span);
            return;
        }
    }
    let format = d
        .args
        .get(1)
        .map_or("combined", |a| a.value.as_str())
        .to_string();
    let path = cx.full_path(path);
    list.push(AccessLog {
        path,
        format,
        gzip,
        condition,
    });
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
    match Template::parse(&text, &cx.names) {
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

/// Every `access_log` names a known format (checked once the whole http block is read,
/// since formats may be defined after use).
pub fn check_access_log_formats(
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

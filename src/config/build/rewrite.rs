//! nginx's `ngx_http_rewrite_module`: `return`, `rewrite`, `set`, `break`,
//! `rewrite_log` and `uninitialized_variable_warn`. Its table, its slots at one level
//! (the directives in the order written), its merge, and the step that turns a level's
//! directives into its [`Script`] once the level's other settings are merged.
//!
//! `if` opens a whole level of settings, so its row is the level's own
//! ([`super::layer::COMMANDS`]); its condition is read in [`super::rewrite_if`].

use std::sync::Arc;

use super::args::{self, arg, set_once};
use super::command::{d, Arity::*, Command, HTTP_SRV_SIF_LOC_LIF, SRV_SIF_LOC_LIF};
use super::Builder;
use crate::config::error::ConfigErrorKind;
use crate::config::model::{
    Condition, IfBlock, LocationConf, Op, Return, Rewrite, RewriteFlag, Script, ScriptRegex,
    SetTarget,
};
use crate::config::template::{Template, Variable};
use crate::config::tree::Directive;

/// The rewrite settings written at one level.
#[derive(Debug, Default)]
pub struct RewriteConf {
    /// `return`, `rewrite`, `if`, `set` and `break`, in the order written.
    pub ops: Vec<Pending>,
    pub log: Option<bool>,
    /// Accepted and checked; vestibule does not log reads of unset variables.
    pub uninitialized_variable_warn: Option<bool>,
}

/// A directive of the script, before the level's settings are merged.
#[derive(Debug)]
pub enum Pending {
    Op(Op),
    /// An `if`: its condition, the rewrite directives inside it, and which of the
    /// level's `if` bodies holds its other settings.
    If {
        condition: Condition,
        ops: Vec<Op>,
        body: usize,
    },
}

pub const COMMANDS: &[Command<RewriteConf>] = &[
    d(
        "return",
        SRV_SIF_LOC_LIF,
        Between(1, 2),
        |r, d, cx, _| match return_(cx, d) {
            Ok(ret) => r.ops.push(Pending::Op(Op::Return(ret))),
            Err(k) => cx.error(k, &d.span),
        },
    ),
    d(
        "rewrite",
        SRV_SIF_LOC_LIF,
        Between(2, 3),
        |r, d, cx, _| match rewrite(cx, d) {
            Ok(rw) => r.ops.push(Pending::Op(Op::Rewrite(Box::new(rw)))),
            Err(k) => cx.error(k, &d.span),
        },
    ),
    d(
        "set",
        SRV_SIF_LOC_LIF,
        Exactly(2),
        |r, d, cx, _| match set(cx, d) {
            Ok(op) => r.ops.push(Pending::Op(op)),
            Err(k) => cx.error(k, &d.span),
        },
    ),
    d("break", SRV_SIF_LOC_LIF, Exactly(0), |r, _, _, _| {
        r.ops.push(Pending::Op(Op::Break))
    }),
    d(
        "rewrite_log",
        HTTP_SRV_SIF_LOC_LIF,
        Exactly(1),
        |r, d, cx, _| set_once(cx, d, &mut r.log, args::flag(d)),
    ),
    d(
        "uninitialized_variable_warn",
        HTTP_SRV_SIF_LOC_LIF,
        Exactly(1),
        |r, d, cx, _| set_once(cx, d, &mut r.uninitialized_variable_warn, args::flag(d)),
    ),
];

impl RewriteConf {
    /// The script is not inherited (it is set by [`RewriteConf::script`] for the level
    /// that writes it); `rewrite_log` is.
    pub fn merge(&self, parent: &LocationConf, conf: &mut LocationConf) {
        conf.rewrite = None;
        conf.rewrite_log = self.log.unwrap_or(parent.rewrite_log);
    }

    /// The level's script, `None` when it writes no rewrite directive. `if_conf`
    /// gives the settings of the `if` body of that index (`None` at server level).
    pub fn script(
        &self,
        if_conf: &mut dyn FnMut(usize) -> Option<Arc<LocationConf>>,
    ) -> Option<Arc<Script>> {
        if self.ops.is_empty() {
            return None;
        }
        let ops = self
            .ops
            .iter()
            .map(|p| match p {
                Pending::Op(op) => op.clone(),
                Pending::If {
                    condition,
                    ops,
                    body,
                } => Op::If(Box::new(IfBlock {
                    condition: condition.clone(),
                    ops: ops.clone(),
                    conf: if_conf(*body),
                })),
            })
            .collect();
        Some(Arc::new(Script { ops }))
    }

    /// The directives written in an `if` body, which are the `if`'s own (an `if`
    /// cannot hold another).
    pub fn take_ops(&mut self) -> Vec<Op> {
        std::mem::take(&mut self.ops)
            .into_iter()
            .filter_map(|p| match p {
                Pending::Op(op) => Some(op),
                Pending::If { .. } => None,
            })
            .collect()
    }
}

/// `return code [text]`, `return code URL`, `return URL`.
pub fn return_(cx: &Builder, d: &Directive) -> Result<Return, ConfigErrorKind> {
    let first = arg(d, 0);
    let Ok(code) = first.parse::<u16>() else {
        if d.args.len() == 1 && is_redirect_target(first) {
            return Ok(Return {
                code: 302,
                text: Some(args::template(cx, d, 0)?),
            });
        }
        return Err(ConfigErrorKind::InvalidReturnCode(first.to_string()));
    };
    if code > 999 || (d.args.len() == 2 && code == 444) {
        return Err(ConfigErrorKind::InvalidReturnCode(first.to_string()));
    }
    let text = match d.args.get(1) {
        Some(_) => Some(args::template(cx, d, 1)?),
        None => None,
    };
    Ok(Return { code, text })
}

/// What nginx takes for an absolute URL in `return URL` and a `rewrite` replacement.
fn is_redirect_target(s: &str) -> bool {
    s.starts_with("http://") || s.starts_with("https://") || s.starts_with("$scheme")
}

/// `rewrite REGEX REPLACEMENT [last|break|redirect|permanent]`, read as nginx's
/// `ngx_http_rewrite`: a final `?` drops the request's arguments; a replacement
/// that is a URL redirects (302) whatever the flag but `permanent`.
fn rewrite(cx: &Builder, d: &Directive) -> Result<Rewrite, ConfigErrorKind> {
    let pattern = arg(d, 0);
    let replacement = arg(d, 1);
    if replacement.is_empty() {
        return Err(ConfigErrorKind::EmptyReplacement);
    }
    let regex = ScriptRegex::new(super::compile_regex(pattern, false)?, pattern);
    let (replacement, add_args) = match replacement.strip_suffix('?') {
        Some(r) => (r, false),
        None => (replacement, true),
    };
    let mut flag = if is_redirect_target(replacement) {
        RewriteFlag::Redirect(302)
    } else {
        RewriteFlag::Continue
    };
    if let Some(f) = d.args.get(2) {
        flag = match (f.value.as_str(), flag) {
            ("last", RewriteFlag::Continue) => RewriteFlag::Last,
            ("break", RewriteFlag::Continue) => RewriteFlag::Break,
            ("last" | "break", redirect) => redirect,
            ("redirect", _) => RewriteFlag::Redirect(302),
            ("permanent", _) => RewriteFlag::Redirect(301),
            (other, _) => return Err(ConfigErrorKind::InvalidParameter(other.to_string())),
        };
    }
    let question = literal_question_mark(replacement);
    let (uri, args) = match (flag, question) {
        // An internal rewrite takes what follows the first `?` as the arguments.
        (RewriteFlag::Redirect(_), _) | (_, None) => (replacement, None),
        (_, Some(i)) => (&replacement[..i], replacement.get(i + 1..)),
    };
    Ok(Rewrite {
        regex,
        uri: Template::parse(uri, &cx.names)?,
        args: args.map(|a| Template::parse(a, &cx.names)).transpose()?,
        has_question_mark: question.is_some(),
        add_args,
        flag,
    })
}

/// The first `?` of a replacement written as text (not inside `${...}`).
fn literal_question_mark(s: &str) -> Option<usize> {
    let mut in_braces = false;
    for (i, c) in s.char_indices() {
        match c {
            '{' if s[..i].ends_with('$') => in_braces = true,
            '}' => in_braces = false,
            '?' if !in_braces => return Some(i),
            _ => {}
        }
    }
    None
}

/// `set $name value`. nginx's own variables cannot be set (`the duplicate "uri"
/// variable`), except `$args`; `$http_*` and the other prefixed names become
/// variables of their own, as in nginx.
fn set(cx: &Builder, d: &Directive) -> Result<Op, ConfigErrorKind> {
    let raw = arg(d, 0);
    let Some(name) = raw.strip_prefix('$') else {
        return Err(ConfigErrorKind::InvalidVariableName(raw.to_string()));
    };
    let target = match name {
        "args" => SetTarget::Args,
        "limit_rate" => SetTarget::LimitRate,
        _ if !settable(name) => return Err(ConfigErrorKind::DuplicateVariable(name.to_string())),
        _ => match cx.names.user.get(name) {
            Some(var) => SetTarget::User(var.clone()),
            // Declared by the first pass over the whole configuration.
            None => return Err(ConfigErrorKind::InvalidVariableName(raw.to_string())),
        },
    };
    Ok(Op::Set {
        target,
        value: args::template(cx, d, 1)?,
    })
}

/// Whether `set $name` makes a variable of the configuration's own: any name but
/// nginx's fixed ones (`$args` and `$limit_rate` are nginx's changeable ones).
pub fn settable(name: &str) -> bool {
    !name.is_empty() && name != "args" && name != "limit_rate" && Variable::builtin(name).is_none()
}

//! nginx's `ngx_http_rewrite_module` at request time: a level's [`Script`] (`return`,
//! `rewrite`, `if`, `set`, `break` in the order written) run over the exchange, in the
//! server rewrite phase with the server's script and in the rewrite phase with the
//! location's ([`crate::worker::dispatch`] calls [`run`]).
//!
//! ```text
//! server rewrite ─► find config ─► rewrite ─► (post-rewrite: URI changed? find config
//!   (server script)   (location)    (location script)    again, at most 10 times)
//! ```
//!
//! As nginx's script engine: a `rewrite` without a flag changes `$uri` and goes on,
//! and the location is chosen again only once the script has ended; `last` ends the
//! script there; `break` (the flag or the directive) ends it and keeps the request
//! in its location; a true location-level `if` gives the request the `if`'s settings
//! and the script goes on after the block; every regex replaces `$1`..`$9` (emptied
//! when it does not match or has no groups). `rewrite_log on` writes nginx's notice
//! lines.
//!
//! The script only reads and changes the exchange and says how it ended ([`End`]);
//! answering (a `return`, a redirect) is the dispatcher's.

pub mod condition;
pub mod replace;
pub mod vars;

use std::sync::Arc;

use crate::config::model::{
    Condition, LocationConf, LogLevel, Op, Return, Rewrite, RewriteFlag, Script, ScriptRegex,
    SetTarget,
};
use crate::config::template::{Template, VariableSource};
use crate::exchange::{context, Exchange};
use crate::observe::ErrorLog;
use crate::route::{exec_script_regex, RoutedLocation};
use condition::FileAnswer;
use vars::RequestVars;

/// How a script ended.
#[derive(Debug)]
pub enum End<'s> {
    /// It ran out, or met `break`: on to the next phase.
    Next,
    /// The URI changed (`last`, or a `rewrite` without a flag before the end): the
    /// location is chosen again.
    Relocate,
    /// `return`.
    Return(&'s Return),
    /// A redirecting `rewrite`: the status and the `Location` (absolute or a path).
    Redirect(u16, String),
    /// The request fails with this status (a rewritten URI that is empty: 500).
    Status(u16),
}

/// What the script runs with besides the exchange.
#[derive(Debug, Clone, Copy)]
pub struct Env<'a> {
    pub location: Option<&'a RoutedLocation>,
    pub error_log: &'a ErrorLog,
}

/// One run of a script.
struct Run<'a, 'x> {
    x: &'x mut Exchange,
    /// The settings in force: a true location-level `if` replaces them.
    conf: &'x mut Arc<LocationConf>,
    env: Env<'a>,
    /// `rewrite_log` of the settings the script started with (nginx's `e->log`).
    log: bool,
    /// nginx's `r->uri_changed`.
    uri_changed: bool,
}

/// Runs `script` over the exchange. `conf` holds the settings in force and is
/// replaced by a true location-level `if`'s.
pub fn run<'s>(
    script: &'s Script,
    x: &mut Exchange,
    conf: &mut Arc<LocationConf>,
    env: Env<'_>,
) -> End<'s> {
    let log = conf.rewrite_log;
    let mut run = Run {
        x,
        conf,
        env,
        log,
        uri_changed: false,
    };
    match run.ops(&script.ops) {
        Some(end) => end,
        None if run.uri_changed => End::Relocate,
        None => End::Next,
    }
}

impl<'s> Run<'_, '_> {
    /// Runs `ops`; `Some` when the script ends inside them.
    fn ops(&mut self, ops: &'s [Op]) -> Option<End<'s>> {
        for op in ops {
            match op {
                Op::Return(r) => return Some(End::Return(r)),
                Op::Break => {
                    if self.uri_changed {
                        self.x.valid_location = false;
                        self.uri_changed = false;
                    }
                    return Some(End::Next);
                }
                Op::Set { target, value } => {
                    let v = self.expand(value);
                    match target {
                        SetTarget::User(var) => self.x.set_variable(var.index, v),
                        SetTarget::Args => {
                            self.x.head.query =
                                (!v.is_empty()).then(|| String::from_utf8_lossy(&v).into_owned());
                            self.x.target_from_uri();
                        }
                        SetTarget::LimitRate => {
                            let text = String::from_utf8_lossy(&v);
                            match crate::config::value::parse_size(&text) {
                                Some(rate) => self.x.limit_rate = Some(rate),
                                None => self.env.error_log.error(
                                    Some(self.x.connection),
                                    &format!("invalid size \"{text}\"{}", context(self.x, None)),
                                ),
                            }
                        }
                    }
                }
                Op::Rewrite(rw) => {
                    if let Some(end) = self.rewrite(rw) {
                        return Some(end);
                    }
                }
                Op::If(block) => {
                    if self.holds(&block.condition) {
                        if let Some(conf) = &block.conf {
                            *self.conf = Arc::clone(conf);
                        }
                        if let Some(end) = self.ops(&block.ops) {
                            return Some(end);
                        }
                    }
                }
            }
        }
        None
    }

    fn vars(&self) -> RequestVars<'_> {
        RequestVars {
            x: self.x,
            conf: self.conf,
            location: self.env.location,
        }
    }

    fn expand(&self, t: &Template) -> Vec<u8> {
        let mut out = Vec::new();
        t.expand(&self.vars() as &dyn VariableSource, &mut out);
        out
    }

    fn notice(&self, message: &str) {
        self.env.error_log.log(
            LogLevel::Notice,
            Some(self.x.connection),
            &format!("{message}{}", context(self.x, None)),
        );
    }

    /// Runs a regex of the script over `subject`, sets the captures as nginx does
    /// and logs the result under `rewrite_log`.
    fn matches(&mut self, regex: &ScriptRegex, subject: &str) -> bool {
        let found = exec_script_regex(&regex.regex, subject);
        if self.log {
            let verb = if found.is_some() {
                "matches"
            } else {
                "does not match"
            };
            self.notice(&format!("\"{}\" {verb} \"{subject}\"", regex.source));
        }
        let matched = found.is_some();
        self.x.replace_captures(found.flatten());
        matched
    }

    fn holds(&mut self, condition: &Condition) -> bool {
        match condition {
            Condition::Value(v) => condition::truthy(&self.expand(v)),
            Condition::Equals {
                value,
                text,
                negated,
            } => (self.expand(value) == self.expand(text)) != *negated,
            Condition::Matches {
                value,
                regex,
                negated,
            } => {
                let subject = String::from_utf8_lossy(&self.expand(value)).into_owned();
                self.matches(regex, &subject) != *negated
            }
            Condition::File {
                path,
                test,
                negated,
            } => {
                let path = String::from_utf8_lossy(&self.expand(path)).into_owned();
                let found = match condition::file_test(&path, *test) {
                    FileAnswer::Yes => true,
                    FileAnswer::No => false,
                    FileAnswer::Failed(e) => {
                        let errno = e.raw_os_error().unwrap_or(0);
                        self.env.error_log.log(
                            LogLevel::Crit,
                            Some(self.x.connection),
                            &format!(
                                "stat() \"{path}\" failed ({errno}: {}){}",
                                crate::sys::strerror(errno),
                                context(self.x, None)
                            ),
                        );
                        false
                    }
                };
                found != *negated
            }
        }
    }

    /// A `rewrite`: `None` when the script goes on.
    fn rewrite(&mut self, rw: &Rewrite) -> Option<End<'s>> {
        let uri = self.x.uri.clone();
        if !self.matches(&rw.regex, &uri) {
            return None;
        }
        let escape = replace::captures_need_escaping(&self.x.head.target);
        if let RewriteFlag::Redirect(code) = rw.flag {
            let mut expanded = Vec::new();
            replace::expand(&rw.uri, &self.vars(), escape, &mut expanded);
            let location = replace::redirect_location(
                &expanded,
                rw.has_question_mark,
                rw.add_args,
                self.x.head.query.as_deref(),
            );
            if self.log {
                self.notice(&format!("rewritten redirect: \"{location}\""));
            }
            return Some(End::Redirect(code, location));
        }
        let mut new_uri = Vec::new();
        replace::expand(&rw.uri, &self.vars(), false, &mut new_uri);
        let written_args = rw.args.as_ref().map(|t| {
            let mut a = Vec::new();
            replace::expand(t, &self.vars(), escape, &mut a);
            a
        });
        let args = replace::internal_args(written_args, rw.add_args, self.x.head.query.as_deref());
        let new_uri = String::from_utf8_lossy(&new_uri).into_owned();
        if self.log {
            self.notice(&format!(
                "rewritten data: \"{new_uri}\", args: \"{}\"",
                args.as_deref().unwrap_or("")
            ));
        }
        if new_uri.is_empty() {
            self.env.error_log.error(
                Some(self.x.connection),
                &format!(
                    "the rewritten URI has a zero length{}",
                    context(self.x, None)
                ),
            );
            return Some(End::Status(500));
        }
        self.x.uri = new_uri;
        self.x.head.query = args;
        self.x.target_from_uri();
        self.x.internal = true;
        match rw.flag {
            RewriteFlag::Continue => {
                self.uri_changed = true;
                None
            }
            RewriteFlag::Last => Some(End::Relocate),
            RewriteFlag::Break => {
                self.x.valid_location = false;
                self.uri_changed = false;
                Some(End::Next)
            }
            RewriteFlag::Redirect(_) => None,
        }
    }
}

//! nginx's access phase: `allow`/`deny` rules, then `auth_basic`, combined by
//! `satisfy`, with the settings `limit_except` gives the request's method. The
//! dispatcher runs [`check`] after the preaccess phase and before content; a refusal
//! is a status (403, 401 with its challenge, or 500) that `error_page` may answer.
//!
//! As nginx's phase engine: under `satisfy all` the first module that refuses
//! decides; under `satisfy any` the first that allows lets the request through, and
//! when none does the refusal is 401 if basic authentication asked, else 403.

pub mod basic;
pub mod crypt;

use crate::config::model::{AccessConf, LogLevel, Satisfy};
use crate::config::template::VariableSource;
use crate::exchange::{context, Exchange};
use crate::observe::error_log::ErrorLog;

/// Why the access phase stops a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    /// 403.
    Forbidden,
    /// 401 with `WWW-Authenticate: Basic realm="..."`.
    Unauthorized { realm: Vec<u8> },
    /// Another status (500 when the user file cannot be read or a hash computed).
    Status(u16),
}

impl Refusal {
    pub fn status(&self) -> u16 {
        match self {
            Refusal::Forbidden => 403,
            Refusal::Unauthorized { .. } => 401,
            Refusal::Status(s) => *s,
        }
    }
}

/// What one access module says.
enum Verdict {
    /// Nothing to say (no rule names the client, no authentication configured).
    Declined,
    Allowed,
    Refused(Refusal),
}

/// Runs the access phase for `x` with the location's settings.
pub fn check(x: &Exchange, conf: &AccessConf, log: &ErrorLog) -> Result<(), Refusal> {
    let conf = conf.for_method(&x.head.method);
    if conf.rules.is_empty() && conf.auth_basic.is_none() {
        return Ok(());
    }
    let mut refused: Option<Refusal> = None;
    for module in [
        rules as fn(&Exchange, &AccessConf, &ErrorLog) -> Verdict,
        auth_basic,
    ] {
        match (module(x, conf, log), conf.satisfy) {
            (Verdict::Declined, _) | (Verdict::Allowed, Satisfy::All) => {}
            (Verdict::Allowed, Satisfy::Any) => return Ok(()),
            (
                Verdict::Refused(r @ (Refusal::Forbidden | Refusal::Unauthorized { .. })),
                Satisfy::Any,
            ) => {
                if !matches!(refused, Some(Refusal::Unauthorized { .. })) {
                    refused = Some(r);
                }
            }
            (Verdict::Refused(r), _) => return Err(r),
        }
    }
    match refused {
        None => Ok(()),
        Some(r) => {
            if r == Refusal::Forbidden {
                forbidden_line(x, log);
            }
            Err(r)
        }
    }
}

fn forbidden_line(x: &Exchange, log: &ErrorLog) {
    log.error(
        Some(x.connection),
        &format!("access forbidden by rule{}", context(x, None)),
    );
}

/// `allow`/`deny`: the first rule naming the client (its realip-adjusted address).
fn rules(x: &Exchange, conf: &AccessConf, log: &ErrorLog) -> Verdict {
    let Some(rule) = conf.rules.iter().find(|r| r.matches(x.peer.remote_ip)) else {
        return Verdict::Declined;
    };
    if !rule.deny {
        return Verdict::Allowed;
    }
    // Under `satisfy any` the line is written only if nothing else allows.
    if conf.satisfy == Satisfy::All {
        forbidden_line(x, log);
    }
    Verdict::Refused(Refusal::Forbidden)
}

/// `auth_basic` with `auth_basic_user_file`.
fn auth_basic(x: &Exchange, conf: &AccessConf, log: &ErrorLog) -> Verdict {
    let (Some(realm), Some(file)) = (&conf.auth_basic, &conf.auth_basic_user_file) else {
        return Verdict::Declined;
    };
    let mut realm_text = Vec::new();
    realm.expand(x as &dyn VariableSource, &mut realm_text);
    if realm_text == b"off" {
        return Verdict::Declined;
    }
    let unauthorized = |realm: Vec<u8>| Verdict::Refused(Refusal::Unauthorized { realm });
    let Some(creds) = basic::credentials(&x.head.headers) else {
        log.info(
            Some(x.connection),
            &format!(
                "no user/password was provided for basic authentication{}",
                context(x, None)
            ),
        );
        return unauthorized(realm_text);
    };
    let mut expanded = Vec::new();
    file.path.expand(x as &dyn VariableSource, &mut expanded);
    let path = file.resolve(&String::from_utf8_lossy(&expanded));
    let path = path.to_string_lossy();
    // Read on every request, as nginx does: an edited file applies at once.
    let bytes = match std::fs::read(&*path) {
        Ok(b) => b,
        Err(e) => {
            let errno = e.raw_os_error().unwrap_or(0);
            let (level, status) = if e.kind() == std::io::ErrorKind::NotFound {
                (LogLevel::Error, 403)
            } else {
                (LogLevel::Crit, 500)
            };
            log.log(
                level,
                Some(x.connection),
                &format!(
                    "open() \"{path}\" failed ({errno}: {}){}",
                    crate::sys::strerror(errno),
                    context(x, None)
                ),
            );
            return Verdict::Refused(Refusal::Status(status));
        }
    };
    let user = String::from_utf8_lossy(&creds.user);
    let Some(hash) = basic::find_hash(&bytes, &creds.user) else {
        log.error(
            Some(x.connection),
            &format!(
                "user \"{user}\" was not found in \"{path}\"{}",
                context(x, None)
            ),
        );
        return unauthorized(realm_text);
    };
    match crypt::verify(&creds.password, hash) {
        Ok(true) => Verdict::Allowed,
        Ok(false) => {
            log.error(
                Some(x.connection),
                &format!("user \"{user}\": password mismatch{}", context(x, None)),
            );
            unauthorized(realm_text)
        }
        Err(crypt::CryptFailed) => {
            log.log(
                LogLevel::Crit,
                Some(x.connection),
                &format!("crypt() failed{}", context(x, None)),
            );
            Verdict::Refused(Refusal::Status(500))
        }
    }
}

//! nginx's two rewrite phases, where the rewrite module's scripts run: the server
//! rewrite phase (the server's script, before a location is chosen) and the rewrite
//! phase (the chosen location's). [`crate::rewrite::run`] runs a script over the
//! exchange; here its end becomes what the dispatcher does next: the next phase,
//! find config again, or an answer (`return`, a redirect, an error status).

use std::sync::Arc;

use crate::config::model::{LocationConf, Return, Server};
use crate::config::template::VariableSource;
use crate::exchange::answer;
use crate::exchange::response::{BodyLength, ResponseHead};
use crate::exchange::{Downstream, Exchange, Outcome};
use crate::observe::ErrorLog;
use crate::rewrite::{self, vars::RequestVars, End};
use crate::route::RoutedLocation;

/// The server rewrite phase: the server's script, before any location is chosen.
/// `None` when the request goes on to find config (also after `last` or `break`,
/// which at this level only end the script).
pub(super) async fn server_rewrite_phase<D: Downstream>(
    error_log: &ErrorLog,
    d: &mut D,
    x: &mut Exchange,
    server: &Server,
    conf: &Arc<LocationConf>,
) -> Option<Outcome> {
    let script = server.rewrite.as_deref()?;
    let mut conf = Arc::clone(conf);
    let env = rewrite::Env {
        location: None,
        error_log,
    };
    match rewrite::run(script, x, &mut conf, env) {
        End::Next | End::Relocate => None,
        end => Some(answer_end(d, x, None, &conf, end).await),
    }
}

/// How the location rewrite phase ended.
pub(super) enum Rewritten {
    /// On to the next phases.
    Next,
    /// The URI changed: find config again.
    Relocate,
    Answer(Outcome),
}

/// The rewrite phase: the location's script (none for the server's own settings,
/// whose script ran in the server rewrite phase). `conf` becomes a true `if`'s.
pub(super) async fn rewrite_phase<D: Downstream>(
    error_log: &ErrorLog,
    d: &mut D,
    x: &mut Exchange,
    location: Option<&RoutedLocation>,
    conf: &mut Arc<LocationConf>,
) -> Rewritten {
    let Some(script) = location.and(conf.rewrite.clone()) else {
        return Rewritten::Next;
    };
    let env = rewrite::Env {
        location,
        error_log,
    };
    match rewrite::run(&script, x, conf, env) {
        End::Next => Rewritten::Next,
        End::Relocate => Rewritten::Relocate,
        end => Rewritten::Answer(answer_end(d, x, location, conf, end).await),
    }
}

/// Answers a script that ended with `return`, a redirect or an error.
async fn answer_end<D: Downstream>(
    d: &mut D,
    x: &mut Exchange,
    location: Option<&RoutedLocation>,
    conf: &LocationConf,
    end: End<'_>,
) -> Outcome {
    match end {
        End::Return(ret) => do_return(d, x, location, conf, ret).await,
        End::Redirect(code, to) => answer::redirect(d, x, conf, code, &to).await,
        End::Status(status) => Outcome::Status(status),
        // Not answers: the callers go on.
        End::Next | End::Relocate => Outcome::Status(500),
    }
}

/// `return`: a redirect, a body, or a status with nginx's page.
async fn do_return<D: Downstream>(
    d: &mut D,
    x: &mut Exchange,
    location: Option<&RoutedLocation>,
    conf: &LocationConf,
    ret: &Return,
) -> Outcome {
    if ret.code == 444 {
        x.status = 444;
        return Outcome::Close;
    }
    let mut text = Vec::new();
    if let Some(t) = &ret.text {
        let vars = RequestVars { x, conf, location };
        t.expand(&vars as &dyn VariableSource, &mut text);
    }
    if matches!(ret.code, 301 | 302 | 303 | 307 | 308) {
        let to = String::from_utf8_lossy(&text).into_owned();
        return answer::redirect(d, x, conf, ret.code, &to).await;
    }
    if ret.text.is_none() && ret.code >= 400 {
        return Outcome::Status(ret.code);
    }
    if let Err(e) = d.skip_body(x, conf) {
        return Outcome::Status(e.status());
    }
    let head = ResponseHead::new(ret.code, Vec::new(), BodyLength::None);
    answer::send_simple(d, x, conf, head, Some(&conf.default_type), &text).await
}

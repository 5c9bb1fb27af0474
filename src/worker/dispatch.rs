//! From a parsed request to a written response, in nginx's request phases, each a
//! named function here so a module has one place to run:
//!
//! | phase (nginx) | what runs in vestibule |
//! |---|---|
//! | post-read (`NGX_HTTP_POST_READ_PHASE`) | host and server selection, `$uri` normalised, realip with the server's settings |
//! | server rewrite (`..._SERVER_REWRITE_PHASE`) | the server's `return` ([`rewrite_phase`] with the server's settings); `rewrite`/`if`/`set` at server level go here |
//! | find config (`..._FIND_CONFIG_PHASE`) | location selection, the `$uri/` redirect of a location ending in `/` |
//! | rewrite (`..._REWRITE_PHASE`) | the location's `return` ([`rewrite_phase`]); the location's rewrite scripts go here |
//! | preaccess (`..._PREACCESS_PHASE`) | realip with the location's settings ([`preaccess_phase`]); `limit_req`/`limit_conn` go here |
//! | access (`..._ACCESS_PHASE`) | nothing yet: `allow`/`deny` and `auth_basic` go between preaccess and content |
//! | try files, content | `try_files` and the handler: proxy or static files ([`content_phase`]) |
//! | log (`..._LOG_PHASE`) | the access log ([`log_access`], after the response) |
//!
//! `error_page` and `try_files` fallbacks are internal redirects back to find config.
//! Handlers report errors as values ([`Outcome::Status`]) before sending anything, so
//! one place turns a status into a configured error page or nginx's default one. The
//! dispatcher speaks no protocol either: it answers through [`Downstream`].

use std::sync::Arc;

use super::{Snapshot, Worker};
use crate::config::model::{ErrorPageOverwrite, ErrorPageTarget, LocationConf, Return};
use crate::config::template::VariableSource;
use crate::exchange::answer;
use crate::exchange::response::{BodyLength, ResponseHead};
use crate::exchange::{context, Downstream, Env, Exchange, Outcome};
use crate::http1::{Header, Method};
use crate::route::{normalize_host, ListenGroup, LocationOutcome, RoutedLocation, ServerId};

/// How the request ended, for the connection loop.
#[derive(Debug)]
pub struct Finished {
    pub keep_alive: bool,
    /// The settings in force at the end, for the access log.
    pub conf: Arc<LocationConf>,
}

/// The worker's parts a request uses, beside its downstream.
#[derive(Debug, Clone, Copy)]
pub struct Conn<'a> {
    pub worker: &'a Worker,
    pub snap: &'a Arc<Snapshot>,
}

impl Conn<'_> {
    fn env(&self) -> Env<'_> {
        Env {
            error_log: &self.worker.error_log,
            config: &self.snap.config,
        }
    }
}

/// How many `error_page` redirects one request may take (nginx: 10).
const MAX_INTERNAL_REDIRECTS: u32 = 10;

/// Where a request is served from.
enum Target<'r> {
    Location(&'r RoutedLocation),
    Server,
}

/// Serves one request.
pub async fn run<D: Downstream>(
    c: Conn<'_>,
    d: &mut D,
    x: &mut Exchange,
    group: &ListenGroup,
) -> Finished {
    let snap = Arc::clone(c.snap);
    let Some(http) = snap.config.http.as_ref() else {
        return Finished {
            keep_alive: false,
            conf: Arc::new(default_conf_missing()),
        };
    };
    let host = x.head.host.as_deref().map(normalize_host);
    let (host, bad_host) = match host {
        Some(Some(h)) => (Some(h.into_owned()), false),
        Some(None) => (None, true),
        None => (None, false),
    };
    let matched = group.select(host.as_deref());
    let server_id = matched.server;
    let Some(server) = server_id.get(http) else {
        return close(&snap, x);
    };
    x.server_name = server.primary_name();
    x.host = host.unwrap_or_else(|| server.primary_name());
    if matched.captures.is_some() {
        x.captures = matched.captures;
    }
    let conf_server = Arc::clone(&server.conf);
    d.server_chosen(x, &conf_server);
    if bad_host {
        c.worker.error_log.info(
            Some(x.connection),
            &format!("client sent invalid host header{}", context(x, None)),
        );
        d.close_after();
        return finish(d, x, &conf_server, Outcome::Status(400)).await;
    }
    match crate::uri::normalize_path(&x.head.path) {
        Ok(uri) => x.uri = uri,
        Err(e) => {
            c.worker
                .error_log
                .info(Some(x.connection), &format!("{e}{}", context(x, None)));
            d.close_after();
            return finish(d, x, &conf_server, Outcome::Status(400)).await;
        }
    }
    // Plain HTTP to a TLS address: nginx's 497, which `error_page 497` may turn into
    // a redirect to https; the connection closes after the answer.
    // A client certificate `ssl_verify_client` refuses: 496 or 495, the same way.
    let refused = match &x.peer.tls {
        None if group.ssl() => Some((
            497,
            "client sent plain HTTP request to HTTPS port while reading client request headers"
                .to_string(),
        )),
        None => None,
        Some(tls) => crate::tls::client_auth::refusal(server.tls.verify_client, &tls.client_verify),
    };
    let mut pending = None;
    if let Some((status, why)) = &refused {
        c.worker
            .error_log
            .info(Some(x.connection), &format!("{why}{}", context(x, None)));
        d.close_after();
        pending = Some(Outcome::Status(*status));
    } else {
        // nginx's post-read phase: the realip module with the server's settings.
        super::realip::apply(x, &conf_server.realip);
        if let Some(outcome) = rewrite_phase(d, x, &conf_server, server.return_.as_ref()).await {
            return finish(d, x, &conf_server, outcome).await;
        }
    }
    let selected = if refused.is_some() {
        LocationOutcome::Server
    } else {
        snap.router.select_location(server_id, &x.uri)
    };
    let mut target = match selected {
        LocationOutcome::Location { location, captures } => {
            if captures.is_some() {
                x.captures = captures;
            }
            if location.internal {
                return finish(d, x, &location.conf, Outcome::Status(404)).await;
            }
            Target::Location(location)
        }
        LocationOutcome::Redirect(location) => {
            let to = x.directory_uri();
            let outcome = redirect(d, x, &location.conf, 301, &to).await;
            return finish(d, x, &location.conf, outcome).await;
        }
        LocationOutcome::Server => Target::Server,
    };
    let mut redirects = 0;
    loop {
        let conf = match target {
            Target::Location(l) => Arc::clone(&l.conf),
            Target::Server => Arc::clone(&conf_server),
        };
        let location = match target {
            Target::Location(l) => Some(l),
            Target::Server => None,
        };
        let outcome = match pending.take() {
            Some(outcome) => outcome,
            None => handle(c, d, x, location, &conf).await,
        };
        if let Outcome::Internal(to) = &outcome {
            if redirects >= MAX_INTERNAL_REDIRECTS {
                return finish(d, x, &conf, Outcome::Status(500)).await;
            }
            redirects += 1;
            target = match internal_target(&snap, server_id, x, to) {
                Some(t) => t,
                None => return finish(d, x, &conf, Outcome::Status(500)).await,
            };
            continue;
        }
        let Outcome::Status(status) = outcome else {
            return finish(d, x, &conf, outcome).await;
        };
        // error_page: an internal redirect to a URI or a named location.
        let page = conf.error_pages.iter().find(|p| p.codes.contains(&status));
        let Some(page) = page.filter(|_| redirects < MAX_INTERNAL_REDIRECTS) else {
            return finish(d, x, &conf, Outcome::Status(status)).await;
        };
        redirects += 1;
        // The page answers with the error's status (or `=CODE`); with a bare `=`,
        // with whatever the page's handler answers.
        x.status_override = match page.overwrite {
            ErrorPageOverwrite::Keep => Some(status),
            ErrorPageOverwrite::Code(code) => Some(code),
            ErrorPageOverwrite::FromTarget => None,
        };
        if x.head.method != Method::Head {
            x.head.method = Method::Get;
        }
        target = match &page.target {
            ErrorPageTarget::Named(name) => match snap.router.named(server_id, name) {
                Some(l) => Target::Location(l),
                None => return finish(d, x, &conf, Outcome::Status(500)).await,
            },
            ErrorPageTarget::Uri(t) => {
                let mut uri = Vec::new();
                t.expand(x as &dyn VariableSource, &mut uri);
                let uri = String::from_utf8_lossy(&uri).into_owned();
                if uri.starts_with("http://") || uri.starts_with("https://") {
                    let code = match page.overwrite {
                        ErrorPageOverwrite::Code(c) => c,
                        _ => 302,
                    };
                    let outcome = redirect(d, x, &conf, code, &uri).await;
                    return finish(d, x, &conf, outcome).await;
                }
                match internal_target(&snap, server_id, x, &uri) {
                    Some(t) => t,
                    None => return finish(d, x, &conf, Outcome::Status(500)).await,
                }
            }
        };
    }
}

/// Where an internal redirect leads: a `@named` location (the request unchanged), or
/// the location a URI (with optional `?args`) selects, with `$uri` and `$args` set.
fn internal_target<'r>(
    snap: &'r Snapshot,
    server: ServerId,
    x: &mut Exchange,
    to: &str,
) -> Option<Target<'r>> {
    if to.starts_with('@') {
        return snap.router.named(server, to).map(Target::Location);
    }
    let (path, query) = match to.split_once('?') {
        Some((p, q)) => (p, Some(q.to_string())),
        None => (to, None),
    };
    x.uri = crate::uri::normalize_path(path).ok()?;
    // nginx (`ngx_http_internal_redirect`): the redirect's own arguments replace the
    // request's, none when it has none; and a proxied request now carries the new
    // `$uri`, escaped, instead of the client's target.
    x.head.query = query;
    x.head.path.clear();
    crate::uri::escape_path(&x.uri, &mut x.head.path);
    Some(match snap.router.select_location(server, &x.uri) {
        LocationOutcome::Location { location, captures } => {
            if captures.is_some() {
                x.captures = captures;
            }
            Target::Location(location)
        }
        LocationOutcome::Redirect(l) => Target::Location(l),
        LocationOutcome::Server => Target::Server,
    })
}

/// The phases after a location (or the server block itself) is chosen.
async fn handle<D: Downstream>(
    c: Conn<'_>,
    d: &mut D,
    x: &mut Exchange,
    location: Option<&RoutedLocation>,
    conf: &Arc<LocationConf>,
) -> Outcome {
    if let Some(outcome) = rewrite_phase(d, x, conf, conf.return_.as_ref()).await {
        return outcome;
    }
    preaccess_phase(x, conf);
    content_phase(c, d, x, location, conf).await
}

/// A rewrite phase: the server block's (before any location is chosen) or the
/// location's, each with its own `return`.
async fn rewrite_phase<D: Downstream>(
    d: &mut D,
    x: &mut Exchange,
    conf: &LocationConf,
    ret: Option<&Return>,
) -> Option<Outcome> {
    Some(do_return(d, x, conf, ret?).await)
}

/// nginx's preaccess phase (after `return`, which runs in the rewrite phase): the
/// realip module with the location's settings, unless the server's already replaced
/// the address.
fn preaccess_phase(x: &mut Exchange, conf: &LocationConf) {
    super::realip::apply(x, &conf.realip);
}

/// The content phase: the proxy for a location with `proxy_pass`, else static files
/// (whose `try_files` is nginx's try-files phase, just before).
async fn content_phase<D: Downstream>(
    c: Conn<'_>,
    d: &mut D,
    x: &mut Exchange,
    location: Option<&RoutedLocation>,
    conf: &Arc<LocationConf>,
) -> Outcome {
    if let Some(pass) = &conf.proxy.pass {
        c.worker.sync_peers(c.snap.generation);
        let upstreams = crate::proxy::Upstreams {
            pool: &c.worker.pool,
            peers: &c.worker.peers,
            fails: c.worker.peer_fails.as_deref(),
        };
        return crate::proxy::handle(d, x, c.env(), upstreams, location, conf, pass).await;
    }
    crate::static_files::handle(d, x, c.env(), location, conf).await
}

/// `return`: a redirect, a body, or a status with nginx's page.
async fn do_return<D: Downstream>(
    d: &mut D,
    x: &mut Exchange,
    conf: &LocationConf,
    ret: &Return,
) -> Outcome {
    if ret.code == 444 {
        x.status = 444;
        return Outcome::Close;
    }
    let mut text = Vec::new();
    if let Some(t) = &ret.text {
        t.expand(x as &dyn VariableSource, &mut text);
    }
    if matches!(ret.code, 301 | 302 | 303 | 307 | 308) {
        let to = String::from_utf8_lossy(&text).into_owned();
        return redirect(d, x, conf, ret.code, &to).await;
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

/// A redirect with nginx's page; a relative `Location` becomes absolute when
/// `absolute_redirect` is on. The one place vestibule's own redirects are answered
/// (`return 301`, a directory without its slash, an `error_page` to a URL).
pub async fn redirect<D: Downstream>(
    d: &mut D,
    x: &mut Exchange,
    conf: &LocationConf,
    code: u16,
    to: &str,
) -> Outcome {
    let location = x.redirect_location(conf.absolute_redirect, to);
    if let Err(e) = d.skip_body(x, conf) {
        return Outcome::Status(e.status());
    }
    let headers = vec![Header::new("Location", location)];
    answer::send_error_page(d, x, conf, code, headers).await
}

/// Turns an outcome into the end of the request, answering with an error page if
/// needed; then the downstream says whether the connection goes on.
async fn finish<D: Downstream>(
    d: &mut D,
    x: &mut Exchange,
    conf: &Arc<LocationConf>,
    outcome: Outcome,
) -> Finished {
    let done = match outcome {
        Outcome::Done => true,
        Outcome::Close | Outcome::Internal(_) => false,
        Outcome::Status(status) => {
            // After a 5xx or 413 the connection closes; otherwise an unread body is
            // dropped after the answer (a bad chunk among what has arrived closes it).
            if status >= 500 || status == 413 {
                d.close_after();
            }
            if d.keeps_alive() && d.skip_body(x, conf).is_err() {
                d.close_after();
            }
            matches!(
                answer::send_error_page(d, x, conf, status, Vec::new()).await,
                Outcome::Done
            )
        }
    };
    let keep_alive = d.end(x, done).await;
    Finished {
        keep_alive,
        conf: Arc::clone(conf),
    }
}

fn close(snap: &Snapshot, _x: &Exchange) -> Finished {
    let conf = snap
        .config
        .http
        .as_ref()
        .and_then(|h| h.servers.first())
        .map(|s| Arc::clone(&s.conf))
        .unwrap_or_else(|| Arc::new(default_conf_missing()));
    Finished {
        keep_alive: false,
        conf,
    }
}

fn default_conf_missing() -> LocationConf {
    // Unreachable in practice: a listener exists only when a server does.
    crate::config::build::fallback_location_conf()
}

/// Writes the access log lines for a finished request.
pub fn log_access(worker: &Worker, snap: &Snapshot, x: &Exchange, conf: &LocationConf) {
    let Some(http) = snap.config.http.as_ref() else {
        return;
    };
    for log in &conf.access_log {
        if let Some(format) = http.log_formats.get(&log.format) {
            worker.access_logs.log(&log.path, format, x);
        }
    }
}

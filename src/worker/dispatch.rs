//! From a parsed request to a written response, in nginx's request phases, each a
//! named function here so a module has one place to run:
//!
//! | phase (nginx) | what runs in vestibule |
//! |---|---|
//! | post-read (`NGX_HTTP_POST_READ_PHASE`) | host and server selection, `$uri` normalised, realip with the server's settings |
//! | server rewrite (`..._SERVER_REWRITE_PHASE`) | the server's rewrite script: `return`, `rewrite`, `if`, `set`, `break` ([`server_rewrite_phase`]) |
//! | find config (`..._FIND_CONFIG_PHASE`) | location selection, the `$uri/` redirect of a location ending in `/`, 404 for an `internal` one reached from outside ([`find_config_phase`]) |
//! | rewrite (`..._REWRITE_PHASE`) | the location's rewrite script ([`rewrite_phase`]); a true `if` gives the request its settings |
//! | post-rewrite (`..._POST_REWRITE_PHASE`) | a URI the script changed goes back to find config, at most 10 times ([`MAX_URI_CHANGES`]) |
//! | preaccess (`..._PREACCESS_PHASE`) | realip with the location's settings ([`preaccess_phase`]); `limit_req` then `limit_conn` ([`super::limits`]) |
//! | access (`..._ACCESS_PHASE`) | `allow`/`deny`, `auth_basic`, `satisfy`, `limit_except` ([`access_phase`]) |
//! | try files, content | `try_files` and the handler: proxy or static files ([`content_phase`]) |
//! | log (`..._LOG_PHASE`) | the access log and the metrics' counts ([`log_access`], after the response) |
//!
//! The phases are a loop over [`Step`]s, as nginx's phase engine jumps: an internal
//! redirect to a URI (`error_page`, `try_files`) starts again at the server rewrite
//! phase, one to a `@named` location at its rewrite phase ([`internal_redirect`]).
//! Handlers report errors as values ([`Outcome::Status`]) before sending anything, so
//! one place turns a status into a configured error page or nginx's default one. The
//! dispatcher speaks no protocol either: it answers through [`Downstream`]. The
//! scripts themselves run in [`crate::rewrite`], which only changes the exchange and
//! says how they ended.

use std::rc::Rc;
use std::sync::Arc;

use super::rewrite_phase::{rewrite_phase, server_rewrite_phase, Rewritten};
use super::{Snapshot, Worker};
use crate::config::model::{ErrorPageOverwrite, ErrorPageTarget, LocationConf};
use crate::config::template::VariableSource;
use crate::exchange::answer;
use crate::exchange::{context, Downstream, Env, Exchange, Outcome};
use crate::http1::Method;
use crate::observe::ErrorLog;
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
    /// What a handler needs of the worker, logging to `site_log` when the location
    /// has one ([`Conn::site_log`]), else to the main error log.
    fn env<'s>(&'s self, site_log: Option<&'s ErrorLog>) -> Env<'s> {
        Env {
            error_log: site_log.unwrap_or(&self.worker.error_log),
            config: &self.snap.config,
        }
    }

    /// The location's own `error_log` (written in it, its server or http), which
    /// takes its request errors: `open()` failures, upstream errors.
    fn site_log(&self, conf: &LocationConf) -> Option<Rc<ErrorLog>> {
        let targets = conf.error_log.as_deref()?;
        self.worker
            .site_error_logs
            .get(targets, &self.worker.error_log)
    }
}

/// How many times one request's URI may change — `rewrite ... last` cycles,
/// `error_page` and `try_files` redirects together — before it fails with 500
/// (nginx's `NGX_HTTP_MAX_URI_CHANGES`).
const MAX_URI_CHANGES: u32 = 10;

/// Where a request is served from.
#[derive(Clone, Copy)]
enum Target<'r> {
    Location(&'r RoutedLocation),
    Server,
}

/// Where a request is in nginx's phases.
#[derive(Clone, Copy)]
enum Step<'r> {
    /// The server rewrite phase (the server's script), then find config. Taken at
    /// the start and again after an internal redirect to a URI.
    ServerRewrite,
    /// Find config: the location `$uri` selects. Taken again after the location's
    /// script changed the URI.
    FindConfig,
    /// The rewrite phase and those after it, in a location or the server's own
    /// settings (a named location is entered here directly).
    Serve(Target<'r>),
}

/// Serves one request.
pub async fn run<D: Downstream>(
    c: Conn<'_>,
    d: &mut D,
    x: &mut Exchange,
    group: &ListenGroup,
) -> Finished {
    // Every handler answers through the compression filter (a pass-through unless the
    // location compresses).
    let d = &mut crate::compress::Filter::new(d);
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
    x.server_index = Some(server_id.index());
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
    let mut step = Step::ServerRewrite;
    if let Some((status, why)) = &refused {
        c.worker
            .error_log
            .info(Some(x.connection), &format!("{why}{}", context(x, None)));
        d.close_after();
        pending = Some(Outcome::Status(*status));
        step = Step::Serve(Target::Server);
    } else {
        // nginx's post-read phase: the realip module with the server's settings.
        super::realip::apply(x, &conf_server.realip);
    }
    // The settings in force: the server's, the location's, or a location `if`'s.
    let mut conf = Arc::clone(&conf_server);
    let mut uri_changes = 0;
    let mut error_page_taken = false;
    loop {
        let outcome = match (pending.take(), step) {
            (Some(outcome), _) => outcome,
            (None, Step::ServerRewrite) => {
                conf = Arc::clone(&conf_server);
                match server_rewrite_phase(&c.worker.error_log, d, x, server, &conf).await {
                    Some(outcome) => outcome,
                    None => {
                        step = Step::FindConfig;
                        continue;
                    }
                }
            }
            (None, Step::FindConfig) => {
                match find_config_phase(d, x, &snap, server_id, &mut conf).await {
                    Ok(target) => {
                        step = Step::Serve(target);
                        continue;
                    }
                    Err(outcome) => outcome,
                }
            }
            (None, Step::Serve(target)) => {
                let location = match target {
                    Target::Location(l) => {
                        conf = Arc::clone(&l.conf);
                        Some(l)
                    }
                    Target::Server => {
                        conf = Arc::clone(&conf_server);
                        None
                    }
                };
                match rewrite_phase(&c.worker.error_log, d, x, location, &mut conf).await {
                    Rewritten::Next => {
                        preaccess_phase(x, &conf);
                        let limits = super::limits::Conn {
                            worker: c.worker,
                            snap: c.snap,
                        };
                        let refused = match super::limits::preaccess(limits, x, &conf.limits).await
                        {
                            Some(outcome) => Some(outcome),
                            None => access_phase(c, x, &conf),
                        };
                        match refused {
                            Some(outcome) => outcome,
                            None => content_phase(c, d, x, location, &conf).await,
                        }
                    }
                    Rewritten::Relocate if uri_changes < MAX_URI_CHANGES => {
                        uri_changes += 1;
                        step = Step::FindConfig;
                        continue;
                    }
                    Rewritten::Relocate => {
                        c.worker.error_log.error(
                            Some(x.connection),
                            &format!(
                                "rewrite or internal redirection cycle while processing \"{}\"{}",
                                x.uri,
                                context(x, None)
                            ),
                        );
                        Outcome::Status(500)
                    }
                    Rewritten::Answer(outcome) => outcome,
                }
            }
        };
        if let Outcome::Internal(to) = &outcome {
            if uri_changes >= MAX_URI_CHANGES {
                c.worker.error_log.error(
                    Some(x.connection),
                    &format!(
                        "rewrite or internal redirection cycle while internally redirecting to \"{to}\"{}",
                        context(x, None)
                    ),
                );
                return finish(d, x, &conf, Outcome::Status(500)).await;
            }
            uri_changes += 1;
            step = match internal_redirect(&snap, server_id, x, to) {
                Some(step) => step,
                None => return finish(d, x, &conf, Outcome::Status(500)).await,
            };
            continue;
        }
        let Outcome::Status(status) = outcome else {
            return finish(d, x, &conf, outcome).await;
        };
        // error_page: an internal redirect to a URI or a named location.
        // nginx's `recursive_error_pages off` (its default): a request takes one
        // error page; an error while serving it gets the built-in page.
        let page = conf.error_pages.iter().find(|p| p.codes.contains(&status));
        let Some(page) = page.filter(|_| !error_page_taken && uri_changes < MAX_URI_CHANGES) else {
            return finish(d, x, &conf, Outcome::Status(status)).await;
        };
        // `recursive_error_pages on` lets the page's own errors take pages too.
        error_page_taken = !conf.recursive_error_pages;
        uri_changes += 1;
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
        step = match &page.target {
            ErrorPageTarget::Named(name) => match snap.router.named(server_id, name) {
                Some(l) => Step::Serve(Target::Location(l)),
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
                    let outcome = answer::redirect(d, x, &conf, code, &uri).await;
                    return finish(d, x, &conf, outcome).await;
                }
                match internal_redirect(&snap, server_id, x, &uri) {
                    Some(step) => step,
                    None => return finish(d, x, &conf, Outcome::Status(500)).await,
                }
            }
        };
    }
}

/// nginx's find-config phase: the location `$uri` selects, or the answer when it
/// selects none that may serve (an `internal` location reached from outside: 404; a
/// proxied `path/` asked for as `path`: 301). `conf` becomes the location's.
async fn find_config_phase<'r, D: Downstream>(
    d: &mut D,
    x: &mut Exchange,
    snap: &'r Snapshot,
    server: ServerId,
    conf: &mut Arc<LocationConf>,
) -> Result<Target<'r>, Outcome> {
    x.valid_location = true;
    match snap.router.select_location(server, &x.uri) {
        LocationOutcome::Location { location, captures } => {
            if captures.is_some() {
                x.captures = captures;
            }
            if location.internal && !x.internal {
                *conf = Arc::clone(&location.conf);
                return Err(Outcome::Status(404));
            }
            Ok(Target::Location(location))
        }
        LocationOutcome::Redirect(location) => {
            *conf = Arc::clone(&location.conf);
            let to = x.directory_uri();
            Err(answer::redirect(d, x, conf, 301, &to).await)
        }
        LocationOutcome::Server => Ok(Target::Server),
    }
}

/// An internal redirect (`error_page`, `try_files`): a `@named` location keeps the
/// request as it is and is entered at its rewrite phase; a URI (with optional
/// `?args`) becomes `$uri` and `$args` and the request starts again at the server
/// rewrite phase, as nginx's `ngx_http_internal_redirect` does.
fn internal_redirect<'r>(
    snap: &'r Snapshot,
    server: ServerId,
    x: &mut Exchange,
    to: &str,
) -> Option<Step<'r>> {
    x.internal = true;
    if to.starts_with('@') {
        let named = snap.router.named(server, to)?;
        return Some(Step::Serve(Target::Location(named)));
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
    x.target_from_uri();
    Some(Step::ServerRewrite)
}

/// nginx's preaccess phase (after the rewrite phase): the
/// realip module with the location's settings, unless the server's already replaced
/// the address.
fn preaccess_phase(x: &mut Exchange, conf: &LocationConf) {
    super::realip::apply(x, &conf.realip);
}

/// nginx's access phase: `allow`/`deny`, `auth_basic` and `satisfy`, with the
/// settings `limit_except` gives the method ([`crate::access`]). `None` lets the
/// request through; a 401 keeps its realm for the challenge header.
fn access_phase(c: Conn<'_>, x: &mut Exchange, conf: &LocationConf) -> Option<Outcome> {
    if conf.access.is_empty() {
        return None;
    }
    let refusal = crate::access::check(x, &conf.access, &c.worker.error_log).err()?;
    if let crate::access::Refusal::Unauthorized { realm } = &refusal {
        x.auth_realm = Some(realm.clone());
    }
    Some(Outcome::Status(refusal.status()))
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
    if conf.stub_status {
        return stub_status(d, x, conf).await;
    }
    if conf.vestibule_metrics {
        return metrics(c, d, x, conf).await;
    }
    let site_log = c.site_log(conf);
    let env = c.env(site_log.as_deref());
    if let Some(pass) = &conf.proxy.pass {
        c.worker.sync_peers(c.snap.generation);
        let upstreams = crate::proxy::Upstreams {
            pool: &c.worker.pool,
            peers: &c.worker.peers,
            fails: c.worker.peer_fails.as_deref(),
            dns: &c.worker.dns,
            tls: &c.worker.tls_clients,
        };
        if let Some(cache) = cache_for(c, conf) {
            let fetch = crate::cache::Fetch {
                env,
                ups: upstreams,
                location,
                conf,
                pass,
            };
            return crate::cache::handle(d, x, fetch, cache).await;
        }
        return crate::proxy::handle(d, x, env, upstreams, location, conf, pass).await;
    }
    crate::static_files::handle(d, x, env, location, conf).await
}

/// The cache a location's `proxy_cache` names (`None`: off, or its zone is missing).
fn cache_for(c: Conn<'_>, conf: &LocationConf) -> Option<Arc<crate::cache::Cache>> {
    let name = conf.proxy.cache.zone.as_deref()?;
    let path = c
        .snap
        .config
        .http
        .as_ref()?
        .cache_paths
        .iter()
        .find(|p| p.name == name)?;
    c.worker.cache(&c.snap.tls_shared.zones, path)
}

/// `stub_status`: nginx's page of the server's connection counters, summed over every
/// worker (src/zone/status.rs), never cached by the client.
async fn stub_status<D: Downstream>(d: &mut D, x: &mut Exchange, conf: &LocationConf) -> Outcome {
    if !matches!(x.head.method, Method::Get | Method::Head) {
        return Outcome::Status(405);
    }
    let page = crate::zone::status::page(&crate::zone::status::totals());
    let head = crate::exchange::response::ResponseHead::new(
        200,
        Vec::new(),
        crate::exchange::response::BodyLength::Unknown,
    );
    answer::send_simple(d, x, conf, head, Some("text/plain"), page.as_bytes()).await
}

/// `vestibule_metrics`: the Prometheus page (src/worker/metrics.rs), in OpenMetrics
/// when the scraper's `Accept` asks for it, never cached.
async fn metrics<D: Downstream>(
    c: Conn<'_>,
    d: &mut D,
    x: &mut Exchange,
    conf: &LocationConf,
) -> Outcome {
    if !matches!(x.head.method, Method::Get | Method::Head) {
        return Outcome::Status(405);
    }
    let accept = crate::http1::headers::get(&x.head.headers, "accept");
    let format = crate::observe::exposition::Format::from_accept(accept);
    let Some(page) = super::metrics::page(format, c.worker.peer_fails.as_deref()) else {
        return Outcome::Status(500);
    };
    let head = crate::exchange::response::ResponseHead::new(
        200,
        vec![crate::http1::Header::new("Cache-Control", "no-store")],
        crate::exchange::response::BodyLength::Unknown,
    );
    answer::send_simple(
        d,
        x,
        conf,
        head,
        Some(format.content_type()),
        page.as_bytes(),
    )
    .await
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
    // The response is written: `limit_conn` counts go now, not when the connection
    // loop drops the exchange, so a client's next request finds them gone.
    x.held.clear();
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
    super::metrics::request_done(x, || {
        let group = snap.router.listen_group(&x.peer.listen)?;
        Some(group.default_server().index())
    });
    let Some(http) = snap.config.http.as_ref() else {
        return;
    };
    for log in &conf.access_log {
        // `if=`: nothing when the condition is empty or "0", as nginx.
        if let Some(condition) = &log.condition {
            let mut v = Vec::new();
            condition.expand(x as &dyn VariableSource, &mut v);
            if v.is_empty() || v == b"0" {
                continue;
            }
        }
        if let Some(format) = http.log_formats.get(&log.format) {
            worker.access_logs.log(&log.path, format, x, log.gzip);
        }
    }
}

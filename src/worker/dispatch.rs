//! From a parsed request to a written response: host and server selection, the
//! normalised `$uri`, a server-level `return`, location selection, the handler
//! (`return`, proxy, static files), and `error_page` internal redirects. Handlers
//! report errors as values ([`Outcome::Status`]) before writing anything, so one place
//! turns a status into a configured error page or nginx's default one.

use std::sync::Arc;

use super::body::BodyReader;
use super::{respond, Snapshot, Worker};
use crate::config::model::{ErrorPageOverwrite, ErrorPageTarget, LocationConf, Return};
use crate::config::template::VariableSource;
use crate::exchange::{BodyState, Exchange};
use crate::http1::{BodyDecoder, Header, Method, RequestFraming};
use crate::net::stream::Stream;
use crate::route::{normalize_host, ListenGroup, LocationOutcome, RoutedLocation, ServerId};

/// The connection a request arrived on.
#[derive(Debug)]
pub struct Conn<'a> {
    pub worker: &'a Worker,
    pub snap: &'a Arc<Snapshot>,
    pub stream: &'a mut Stream,
    /// Bytes read from the client and not yet used (the body, pipelined requests).
    pub input: &'a mut Vec<u8>,
}

/// What a handler did.
#[derive(Debug)]
pub enum Outcome {
    /// The response is written.
    Done { keep_alive: bool },
    /// Nothing is written yet: answer with this status (`error_page` applies).
    Status(u16),
    /// Close without answering (`return 444`, a client that went away).
    Close,
    /// An internal redirect (`try_files` fallback): a URI or `@named` location.
    Internal(String),
}

/// How the request ended, for the connection loop.
#[derive(Debug)]
pub struct Finished {
    pub keep_alive: bool,
    /// The settings in force at the end, for the access log.
    pub conf: Arc<LocationConf>,
}

/// How many `error_page` redirects one request may take (nginx: 10).
const MAX_INTERNAL_REDIRECTS: u32 = 10;

/// Where a request is served from.
enum Target<'r> {
    Location(&'r RoutedLocation),
    Server,
}

/// Serves one request.
pub async fn run(c: &mut Conn<'_>, x: &mut Exchange, group: &ListenGroup, served: u64) -> Finished {
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
    let keep_alive = wants_keep_alive(c.worker, x, &conf_server, served);
    if bad_host {
        c.worker.error_log.info(
            Some(x.connection),
            &format!("client sent invalid host header{}", context(x, None)),
        );
        return finish(c, x, &conf_server, Outcome::Status(400), false).await;
    }
    match crate::uri::normalize_path(&x.head.path) {
        Ok(uri) => x.uri = uri,
        Err(e) => {
            c.worker
                .error_log
                .info(Some(x.connection), &format!("{e}{}", context(x, None)));
            return finish(c, x, &conf_server, Outcome::Status(400), false).await;
        }
    }
    // nginx's post-read phase: the realip module with the server's settings.
    super::realip::apply(x, &conf_server.realip);
    if let Some(ret) = &server.return_ {
        let outcome = do_return(c, x, &conf_server, ret, keep_alive).await;
        return finish(c, x, &conf_server, outcome, keep_alive).await;
    }
    let mut target = match snap.router.select_location(server_id, &x.uri) {
        LocationOutcome::Location { location, captures } => {
            if captures.is_some() {
                x.captures = captures;
            }
            if location.internal {
                return finish(c, x, &location.conf, Outcome::Status(404), keep_alive).await;
            }
            Target::Location(location)
        }
        LocationOutcome::Redirect(location) => {
            let mut to = format!("{}/", x.uri);
            if let Some(q) = &x.head.query {
                to.push('?');
                to.push_str(q);
            }
            let outcome = redirect(c, x, &location.conf, 301, &to, keep_alive).await;
            return finish(c, x, &location.conf, outcome, keep_alive).await;
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
        let outcome = handle(c, x, location, &conf, keep_alive).await;
        if let Outcome::Internal(to) = &outcome {
            if redirects >= MAX_INTERNAL_REDIRECTS {
                return finish(c, x, &conf, Outcome::Status(500), keep_alive).await;
            }
            redirects += 1;
            target = match internal_target(&snap, server_id, x, to) {
                Some(t) => t,
                None => return finish(c, x, &conf, Outcome::Status(500), keep_alive).await,
            };
            continue;
        }
        let Outcome::Status(status) = outcome else {
            return finish(c, x, &conf, outcome, keep_alive).await;
        };
        // error_page: an internal redirect to a URI or a named location.
        let page = conf.error_pages.iter().find(|p| p.codes.contains(&status));
        let Some(page) = page.filter(|_| redirects < MAX_INTERNAL_REDIRECTS) else {
            return finish(c, x, &conf, Outcome::Status(status), keep_alive).await;
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
                None => return finish(c, x, &conf, Outcome::Status(500), keep_alive).await,
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
                    let outcome = redirect(c, x, &conf, code, &uri, keep_alive).await;
                    return finish(c, x, &conf, outcome, keep_alive).await;
                }
                match internal_target(&snap, server_id, x, &uri) {
                    Some(t) => t,
                    None => return finish(c, x, &conf, Outcome::Status(500), keep_alive).await,
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

/// Runs the handler a location's settings call for.
async fn handle(
    c: &mut Conn<'_>,
    x: &mut Exchange,
    location: Option<&RoutedLocation>,
    conf: &Arc<LocationConf>,
    keep_alive: bool,
) -> Outcome {
    if let Some(ret) = &conf.return_ {
        return do_return(c, x, conf, ret, keep_alive).await;
    }
    // nginx's preaccess phase (after `return`, which runs in the rewrite phase): the
    // realip module with the location's settings, unless the server's already
    // replaced the address.
    super::realip::apply(x, &conf.realip);
    if let Some(pass) = &conf.proxy.pass {
        return crate::proxy::handle(c, x, location, conf, pass, keep_alive).await;
    }
    crate::static_files::handle(c, x, location, conf, keep_alive).await
}

/// `return`: a redirect, a body, or a status with nginx's page.
async fn do_return(
    c: &mut Conn<'_>,
    x: &mut Exchange,
    conf: &LocationConf,
    ret: &Return,
    keep_alive: bool,
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
        return redirect(c, x, conf, ret.code, &to, keep_alive).await;
    }
    if ret.text.is_none() && ret.code >= 400 {
        return Outcome::Status(ret.code);
    }
    let rest = match take_arrived_body(c, x, conf) {
        Ok(rest) => rest,
        Err(status) => return Outcome::Status(status),
    };
    let keep_alive = keep_alive && body_allows_keep_alive(x);
    let out = respond::simple_response(
        c.worker,
        x,
        conf,
        ret.code,
        Vec::new(),
        Some(&conf.default_type),
        &text,
        keep_alive,
    );
    answer_and_discard(c, x, out, keep_alive, rest).await
}

/// A redirect with nginx's page; a relative `Location` becomes absolute when
/// `absolute_redirect` is on.
async fn redirect(
    c: &mut Conn<'_>,
    x: &mut Exchange,
    conf: &LocationConf,
    code: u16,
    to: &str,
    keep_alive: bool,
) -> Outcome {
    let location = x.redirect_location(conf.absolute_redirect, to);
    let rest = match take_arrived_body(c, x, conf) {
        Ok(rest) => rest,
        Err(status) => return Outcome::Status(status),
    };
    let keep_alive = keep_alive && body_allows_keep_alive(x);
    let out = respond::error_response(
        c.worker,
        x,
        conf,
        code,
        vec![Header::new("Location", location)],
        keep_alive,
    );
    answer_and_discard(c, x, out, keep_alive, rest).await
}

/// Writes a response built in memory.
pub async fn write(c: &mut Conn<'_>, out: Vec<u8>, keep_alive: bool) -> Outcome {
    let (res, _) = c.stream.write_all(out).await;
    match res {
        Ok(()) => Outcome::Done { keep_alive },
        Err(_) => Outcome::Close,
    }
}

/// Whether the request body lets the connection carry another request: no body, all
/// of it read, or none of it read yet (then it is discarded after the answer). Part of
/// it read (the handler failed or timed out reading it) leaves where the next request
/// would start unknown, so the connection closes at once, with no second wait.
fn body_allows_keep_alive(x: &Exchange) -> bool {
    x.body != BodyState::Partial
}

/// The part of an unread request body that has already arrived, taken now; the rest,
/// if any, to be read and dropped after the answer. nginx's discard begins the same
/// way: a bad chunk among the bytes already received is a 400 instead of the planned
/// answer (`Err` with the status, the connection then closes), and a body that has
/// all arrived costs no wait.
fn take_arrived_body(
    c: &mut Conn<'_>,
    x: &mut Exchange,
    conf: &LocationConf,
) -> Result<Option<BodyReader>, u16> {
    if x.body != BodyState::Unread || x.head.framing == RequestFraming::None {
        return Ok(None);
    }
    let mut reader = BodyReader::new(
        BodyDecoder::for_request(x.head.framing),
        0,
        conf.client_body_timeout,
    );
    match reader.take_buffered(c.input) {
        Ok(true) => {
            x.body = BodyState::Consumed;
            Ok(None)
        }
        Ok(false) => Ok(Some(reader)),
        Err(e) => {
            x.body = BodyState::Partial;
            c.worker
                .error_log
                .info(Some(x.connection), &format!("{e}{}", context(x, None)));
            Err(e.status())
        }
    }
}

/// Writes an answer built in memory while the rest of the request body (`rest`) may
/// still be on its way, as nginx answers: at once, not after the body (a `return 301`
/// to a POST does not wait for the upload). A client waiting for `100 Continue` gets
/// it first, so that it sends the body it would otherwise hold back; after the answer
/// the rest is read and dropped so the connection can go on, and a body that cannot
/// be (too slow, broken) ends the connection.
pub async fn answer_and_discard(
    c: &mut Conn<'_>,
    x: &Exchange,
    out: Vec<u8>,
    keep_alive: bool,
    rest: Option<BodyReader>,
) -> Outcome {
    let Some(mut reader) = rest.filter(|_| keep_alive) else {
        return write(c, out, keep_alive).await;
    };
    if x.head.expect_continue
        && c.stream
            .write_static(crate::http1::write::CONTINUE_100)
            .await
            .is_err()
    {
        return Outcome::Close;
    }
    match write(c, out, keep_alive).await {
        Outcome::Done { keep_alive: true } => Outcome::Done {
            keep_alive: reader.discard(c.stream, c.input).await.is_ok(),
        },
        other => other,
    }
}

/// Whether this response may leave the connection open.
fn wants_keep_alive(worker: &Worker, x: &Exchange, conf: &LocationConf, served: u64) -> bool {
    !worker.draining.get()
        && x.head.keep_alive
        && !conf.keepalive_timeout.is_zero()
        && served < u64::from(conf.keepalive_requests)
}

/// Turns an outcome into the end of the request, writing an error page if needed.
async fn finish(
    c: &mut Conn<'_>,
    x: &mut Exchange,
    conf: &Arc<LocationConf>,
    outcome: Outcome,
    keep_alive: bool,
) -> Finished {
    let keep_alive = match outcome {
        Outcome::Done { keep_alive } => keep_alive,
        Outcome::Close | Outcome::Internal(_) => false,
        Outcome::Status(status) => {
            // After a 5xx or 413 the connection closes; otherwise an unread body is
            // discarded after the answer (a bad chunk among what has arrived closes it).
            let mut keep_alive = keep_alive && status < 500 && status != 413;
            let rest = if keep_alive {
                take_arrived_body(c, x, conf).unwrap_or(None)
            } else {
                None
            };
            keep_alive = keep_alive && body_allows_keep_alive(x);
            let out = respond::error_response(c.worker, x, conf, status, Vec::new(), keep_alive);
            matches!(
                answer_and_discard(c, x, out, keep_alive, rest).await,
                Outcome::Done { keep_alive: true }
            )
        }
    };
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

/// nginx's error-log context: `, client: A, server: S, request: "R", upstream: "U", host: "H"`.
pub fn context(x: &Exchange, upstream: Option<&str>) -> String {
    let mut s = format!(
        ", client: {}, server: {}, request: \"{}\"",
        x.peer.remote_addr,
        x.server_name,
        x.request_line()
    );
    if let Some(u) = upstream {
        s.push_str(&format!(", upstream: \"{u}\""));
    }
    if let Some(h) = &x.head.host {
        s.push_str(&format!(", host: \"{h}\""));
    }
    s
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

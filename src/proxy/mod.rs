//! The proxy handler: a request for a location with `proxy_pass`, in named phases —
//! read (buffer) the request body, choose an upstream server, connect (or reuse a
//! pooled connection), send, read the response head, relay the body — with nginx's
//! statuses and log lines when a phase fails, and `proxy_next_upstream` retries when
//! the failure allows one.

pub mod balancer;
pub mod cookies;
pub mod dynamic;
pub mod error;
pub mod hashing;
pub mod head;
pub mod pool;
pub mod relay;
pub mod spool;
mod upstream;

use std::cell::RefCell;
use std::sync::Arc;

use crate::config::model::{
    Balance, LocationConf, ProxyPass, ProxyTarget, UpstreamAddr, DEFAULT_UPSTREAM_KEEPALIVE,
};
use crate::config::Config;
use crate::exchange::body::BodyReadError;
use crate::exchange::stopwatch::Mark;
use crate::exchange::{context, BodyState, Downstream, Env, Exchange, Outcome, UpstreamAttempt};
use crate::fast_hash::FastMap;
use crate::http1::RequestFraming;
use crate::route::RoutedLocation;
use crate::zone::peer_fails::PeerFails;
use balancer::{Key, Peers};
use error::ProxyError;
use pool::{KeepAlive, Pool};
use upstream::{Attempt, RequestBody, Target};

/// The worker's upstream state the proxy uses: pooled keep-alive connections and the
/// balancer state of each `proxy_pass` target (upstream name or URL).
#[derive(Debug, Clone, Copy)]
pub struct Upstreams<'a> {
    pub pool: &'a RefCell<Pool>,
    pub peers: &'a RefCell<FastMap<String, Peers>>,
    /// The fail counts shared by every worker (`None`: each balancer counts alone).
    pub fails: Option<&'a PeerFails>,
    /// Answers for names a `proxy_pass` with variables gives.
    pub dns: &'a crate::net::dns::DnsCache,
    /// Client configurations for `https://` upstreams.
    pub tls: &'a crate::tls::upstream::ClientConfigs,
}

/// What the group's hashing method hashes for this request: the client's address
/// (after realip, as nginx's `ip_hash`) or the expanded `hash` key.
fn balance_key(x: &Exchange, balance: &Balance) -> Key {
    match balance {
        Balance::IpHash => x.peer.remote_ip.map_or(Key::None, Key::Addr),
        Balance::Hash { key, .. } => {
            let mut out = Vec::new();
            key.expand(x as &dyn crate::config::template::VariableSource, &mut out);
            Key::Bytes(out)
        }
        _ => Key::None,
    }
}

/// At most this many balancer states a worker keeps for targets named per request.
const MAX_TARGETS: usize = 1024;

/// Serves a request by proxying it.
pub async fn handle<D: Downstream>(
    d: &mut D,
    x: &mut Exchange,
    env: Env<'_>,
    ups: Upstreams<'_>,
    location: Option<&RoutedLocation>,
    conf: &Arc<LocationConf>,
    pass: &ProxyPass,
) -> Outcome {
    // `proxy_pass` with variables: this request's target.
    let resolved;
    let pass = match &pass.target {
        ProxyTarget::Variable(url) => {
            resolved = match dynamic::target(x, env, conf, url, ups.dns).await {
                Ok(p) => p,
                Err(outcome) => return outcome,
            };
            &resolved
        }
        _ => pass,
    };
    x.proxy_host = Some(Arc::clone(&pass.proxy_host));
    x.proxy_port = pass.proxy_port;
    let mut body = match read_body(d, x, env, conf).await {
        Ok(b) => b,
        Err(outcome) => return outcome,
    };
    let target = head::upstream_target(x, location, pass);
    let (key, ka) = target_settings(env.config, pass, conf);
    let mut tried: Vec<usize> = Vec::new();
    let mut last: Option<u16> = None;
    let first_try = Mark::now();
    loop {
        let started = Mark::now();
        let picked = {
            let pick = |peers: &mut Peers| {
                let key = balance_key(x, peers.balance());
                let i = peers.pick(started.coarse(), &tried, &key)?;
                let (addr, name, metric) = peers
                    .peer(i)
                    .map(|p| (p.addr.clone(), p.name.clone(), p.metric))?;
                peers.started(i);
                Some((i, addr, name, metric, peers.count()))
            };
            let mut all = ups.peers.borrow_mut();
            // One lookup when the target's state exists, as it does after the first
            // request of a configuration generation.
            match all.get_mut(key) {
                Some(peers) => pick(peers),
                None => pick({
                    // Targets named per request (`$host` in `proxy_pass`) could grow
                    // the map without bound: past a thousand, those are dropped.
                    if all.len() >= MAX_TARGETS && key.starts_with("dynamic ") {
                        all.retain(|k, _| !k.starts_with("dynamic "));
                    }
                    all.entry(key.to_owned()).or_insert_with(|| {
                        let peers = build_peers(env.config, pass, ups.fails);
                        if ups.fails.is_some_and(PeerFails::overflow_to_tell) {
                            env.error_log.warn(&format!(
                                "the \"{}\" zone is full: an upstream server's failure counts were dropped to make room",
                                crate::zone::peer_fails::ZONE_NAME
                            ));
                        }
                        peers
                    })
                }),
            }
        };
        let Some((idx, addr, name, metric, servers)) = picked else {
            if let Some(status) = last {
                return Outcome::Status(status);
            }
            let e = ProxyError::NoLiveUpstreams;
            env.error_log.error(
                Some(x.connection),
                &format!("{e}{}", context(x, Some(&pass.url))),
            );
            return Outcome::Status(502);
        };
        x.upstream.push(UpstreamAttempt {
            addr: name,
            status: None,
            response_time: Default::default(),
            connect_time: None,
            header_time: None,
            bytes_sent: 0,
            bytes_received: 0,
            response_length: None,
        });
        let next = &conf.proxy.next_upstream;
        // Whether another server could take the request after this one answers with
        // a status `proxy_next_upstream` names (checked before the answer is dropped).
        let may_retry_status = !next.is_off()
            && tries_left(conf, tried.len())
            && time_left(conf, first_try)
            && tried.len() + 1 < servers
            && (x.head.method.is_idempotent() || next.non_idempotent)
            && body.replayable();
        let t = Target {
            location,
            conf,
            pass,
            addr: &addr,
            target: &target,
            ka: &ka,
        };
        let result = upstream::attempt(d, x, env, ups, t, &mut body, may_retry_status).await;
        let ended = Mark::now();
        let took = started.until(ended);
        if let Some(a) = x.upstream.last_mut() {
            a.response_time = took;
        }
        if let Some(m) = metric {
            let failed = matches!(&result, Attempt::Failed { err, .. } if err.counts_as_failure());
            let micros = crate::zone::metrics::micros(took);
            crate::zone::metrics::upstream_attempt(m, !tried.is_empty(), failed, micros);
        }
        with_peers(ups, key, |p| {
            p.finished(idx);
            match &result {
                Attempt::Responded(_) => p.succeeded(idx),
                Attempt::Failed { err, .. } if err.counts_as_failure() => {
                    p.failed(idx, ended.coarse())
                }
                Attempt::Failed { .. } => {}
            }
        });
        match result {
            Attempt::Responded(outcome) => return outcome,
            Attempt::Failed {
                err: ProxyError::ClientBody(e),
                ..
            } => {
                x.body = BodyState::Partial;
                return body_error(env, x, e);
            }
            Attempt::Failed { err, request_sent } => {
                if err.is_logged() {
                    let url = format!("http://{}{}", upstream_name(&addr), target);
                    env.error_log.error(
                        Some(x.connection),
                        &format!("{err}{}", context(x, Some(&url))),
                    );
                }
                let next = &conf.proxy.next_upstream;
                // nginx's rule: a request already written goes to the next server only
                // when its method may be repeated (not POST, PATCH, LOCK; vestibule is
                // stricter with unknown methods) or `non_idempotent` is given.
                let safe = !request_sent || x.head.method.is_idempotent() || next.non_idempotent;
                if err.next_upstream_allows(next)
                    && tries_left(conf, tried.len())
                    && time_left(conf, first_try)
                    && safe
                    && body.replayable()
                {
                    last = Some(err.status());
                    tried.push(idx);
                    continue;
                }
                return Outcome::Status(err.status());
            }
        }
    }
}

/// Whether `proxy_next_upstream_tries` allows another server after `tried` servers
/// and the current one (`tried` holds the servers before it).
fn tries_left(conf: &LocationConf, tried: usize) -> bool {
    let tries = conf.proxy.next_upstream_tries;
    tries == 0 || tried + 1 < usize::try_from(tries).unwrap_or(usize::MAX)
}

/// Whether `proxy_next_upstream_timeout` (0: none) leaves time for another server.
fn time_left(conf: &LocationConf, first_try: Mark) -> bool {
    let limit = conf.proxy.shaping.next_upstream_timeout;
    limit.is_zero() || first_try.elapsed() < limit
}

fn with_peers(ups: Upstreams<'_>, key: &str, f: impl FnOnce(&mut Peers)) {
    if let Some(p) = ups.peers.borrow_mut().get_mut(key) {
        f(p);
    }
}

/// How an address appears in `upstream: "http://..."`: `127.0.0.1:8000`,
/// `unix:/run/gunicorn.sock:`.
pub(crate) fn upstream_name(addr: &UpstreamAddr) -> String {
    match addr {
        UpstreamAddr::Tcp(a) => a.to_string(),
        UpstreamAddr::Unix(p) => format!("unix:{}:", p.display()),
    }
}

/// The balancer key and keep-alive settings of a `proxy_pass` target.
fn target_settings<'p>(
    config: &Config,
    pass: &'p ProxyPass,
    conf: &LocationConf,
) -> (&'p str, KeepAlive) {
    let http11 = conf.proxy.http_version == (1, 1);
    let group = match &pass.target {
        ProxyTarget::Group(name) => config.http.as_ref().and_then(|h| h.upstream(name)),
        ProxyTarget::Direct(_) | ProxyTarget::Variable(_) => None,
    };
    let ka = match group {
        Some(u) => KeepAlive {
            max_idle: if http11 { u.keepalive } else { 0 },
            idle_timeout: u.keepalive_timeout,
            max_requests: u.keepalive_requests,
        },
        None => KeepAlive {
            max_idle: if http11 {
                DEFAULT_UPSTREAM_KEEPALIVE
            } else {
                0
            },
            idle_timeout: std::time::Duration::from_secs(60),
            max_requests: 1000,
        },
    };
    (&pass.balancer_key, ka)
}

fn build_peers(config: &Config, pass: &ProxyPass, fails: Option<&PeerFails>) -> Peers {
    match &pass.target {
        ProxyTarget::Group(name) => config
            .http
            .as_ref()
            .and_then(|h| {
                let mandatory = h
                    .health_checks
                    .iter()
                    .find(|g| &g.upstream == name)
                    .map(|g| g.check.mandatory);
                Some(Peers::from_upstream(h.upstream(name)?, fails, mandatory))
            })
            .unwrap_or_else(|| Peers::direct(&[], fails)),
        ProxyTarget::Direct(addrs) => Peers::direct(addrs, fails),
        // Resolved per request before this (`dynamic`).
        ProxyTarget::Variable(_) => Peers::direct(&[], fails),
    }
}

/// Reads the request body as `proxy_request_buffering` says: whole before the upstream
/// is contacted (the default), or streamed during the send.
async fn read_body<D: Downstream>(
    d: &mut D,
    x: &mut Exchange,
    env: Env<'_>,
    conf: &LocationConf,
) -> Result<RequestBody, Outcome> {
    let limit = conf.client_max_body_size;
    let shaping = &conf.proxy.shaping;
    if !shaping.pass_request_body || shaping.set_body.is_some() {
        // The client's body is not sent: it is dropped (`proxy_pass_request_body
        // off`) or replaced (`proxy_set_body`).
        if let Err(e) = d.skip_body(x, conf) {
            return Err(Outcome::Status(e.status()));
        }
        return Ok(match &shaping.set_body {
            Some(t) => {
                let mut body = Vec::new();
                t.expand(
                    &*x as &dyn crate::config::template::VariableSource,
                    &mut body,
                );
                RequestBody::Spooled(crate::exchange::body::SpooledBody::Memory(body))
            }
            None => RequestBody::None,
        });
    }
    match x.head.framing {
        RequestFraming::None => return Ok(RequestBody::None),
        RequestFraming::ContentLength(n) if limit > 0 && n > limit => {
            env.error_log.error(
                Some(x.connection),
                &format!(
                    "client intended to send too large body: {n} bytes{}",
                    context(x, None)
                ),
            );
            return Err(Outcome::Status(413));
        }
        _ => {}
    }
    if !d.start_body(x, limit, conf.client_body_timeout).await {
        return Err(Outcome::Close);
    }
    // HTTP/1.0 upstreams cannot take a chunked body: buffer it to learn its length.
    let must_buffer =
        x.head.framing == RequestFraming::Chunked && conf.proxy.http_version == (1, 0);
    if !conf.proxy.request_buffering && !must_buffer {
        // From here on the body is read while it is sent; if the exchange ends early
        // the connection cannot be reused.
        x.body = BodyState::Partial;
        return Ok(RequestBody::Streaming);
    }
    let temp = &conf.client_body_temp_path;
    let memory = conf.client_body_buffer_size;
    match crate::exchange::answer::spool(d, memory, temp).await {
        Ok(spooled) => {
            x.body = BodyState::Consumed;
            // `$request_body`: a body held in memory, as nginx gives it (one that
            // spilled to a temp file has none).
            if crate::config::template::request_body_read() {
                if let crate::exchange::body::SpooledBody::Memory(v) = &spooled {
                    x.request_body = Some(v.clone());
                }
            }
            Ok(RequestBody::Spooled(spooled))
        }
        Err(e) => {
            x.body = BodyState::Partial;
            Err(body_error(env, x, e))
        }
    }
}

/// The client's body failed: nginx's log line and status. A client that closed gets
/// no answer but a 400 in the access log, as nginx logs it.
fn body_error(env: Env<'_>, x: &mut Exchange, e: BodyReadError) -> Outcome {
    let message = match &e {
        BodyReadError::TooLarge(n) => {
            format!("client intended to send too large chunked body: {n} bytes")
        }
        other => other.to_string(),
    };
    let level_error = matches!(
        e,
        BodyReadError::TooLarge(_) | BodyReadError::TempFile { .. }
    );
    let line = format!("{message}{}", context(x, None));
    if level_error {
        env.error_log.error(Some(x.connection), &line);
    } else {
        env.error_log.info(Some(x.connection), &line);
    }
    match e {
        BodyReadError::Closed | BodyReadError::Io(_) => {
            x.status = e.status();
            Outcome::Close
        }
        other => Outcome::Status(other.status()),
    }
}

impl RequestBody {
    /// Whether the body can be sent again to another server.
    fn replayable(&self) -> bool {
        !matches!(self, RequestBody::Streaming)
    }
}

//! Active health checks: one worker (slot 0) probes every server of each group that a
//! location's `health_check` names, every `interval`, and writes what it finds to the
//! zone every worker's balancer reads ([`crate::zone::health`]).
//!
//! A probe is `GET uri HTTP/1.1` on a connection of its own (never a pooled one),
//! within the location's `proxy_connect_timeout` and `proxy_read_timeout`. It passes
//! when the answer satisfies the check's `match` block, or, without one, when its
//! status is 2xx or 3xx. `fails` failed probes in a row make a server unhealthy,
//! `passes` passed ones healthy again; each change is logged as NGINX Plus logs it.
//! The passive rule (`max_fails` within `fail_timeout`) still applies to the servers
//! the probes find healthy: a server is picked only when both allow it (the way
//! HAProxy combines its active checks with `observe`).
//!
//! The prober reads the configuration each turn, so an in-place reload changes what
//! it probes; it stops when its worker starts a graceful shutdown (the next
//! generation's slot 0 takes over).

use std::cell::RefCell;
use std::collections::{HashMap, HashSet};
use std::rc::Rc;
use std::time::{Duration, Instant};

use super::Worker;
use crate::config::model::health::{default_passes, GroupCheck, Match};
use crate::config::model::UpstreamAddr;
use crate::net::stream::Stream;
use crate::proxy::balancer::health_key;
use crate::proxy::error::{Phase, ProxyError};
use crate::zone::health::{Change, Counts};

/// How often the prober looks for probes that are due.
const TICK: Duration = Duration::from_millis(50);
/// The most of an answer a probe reads (head and body).
const MAX_ANSWER: usize = 256 * 1024;

/// Probes until the worker starts to shut down.
pub async fn run(worker: Rc<Worker>) {
    let mut due: HashMap<String, Instant> = HashMap::new();
    let in_flight: Rc<RefCell<HashSet<String>>> = Rc::default();
    let mut rng = u64::from(std::process::id()) | 1;
    while !worker.draining.get() {
        let snap = worker.snapshot.load_full();
        if let Some(http) = snap.config.http.as_ref() {
            for g in &http.health_checks {
                let Some(group) = http.upstream(&g.upstream) else {
                    continue;
                };
                let matcher = g
                    .check
                    .matcher
                    .as_ref()
                    .and_then(|m| http.matches.iter().find(|x| &x.name == m));
                for server in group.servers.iter().filter(|s| !s.down) {
                    let key = health_key(&group.name, &server.addr);
                    let now = Instant::now();
                    if due.get(&key).is_some_and(|t| *t > now) || in_flight.borrow().contains(&key)
                    {
                        continue;
                    }
                    due.insert(key.clone(), now + g.check.interval + jitter(&mut rng, g));
                    in_flight.borrow_mut().insert(key.clone());
                    let probe = Probe {
                        worker: Rc::clone(&worker),
                        check: g.clone(),
                        matcher: matcher.cloned(),
                        addr: server.addr.clone(),
                        key,
                        in_flight: Rc::clone(&in_flight),
                    };
                    monoio::spawn(probe.run());
                }
            }
        }
        monoio::time::sleep(TICK).await;
    }
}

/// Up to `jitter` more (xorshift64: spreading probes needs no good randomness).
fn jitter(state: &mut u64, g: &GroupCheck) -> Duration {
    let max = u64::try_from(g.check.jitter.as_millis()).unwrap_or(u64::MAX);
    if max == 0 {
        return Duration::ZERO;
    }
    *state ^= *state << 13;
    *state ^= *state >> 7;
    *state ^= *state << 17;
    Duration::from_millis(*state % (max + 1))
}

/// One probe of one server.
struct Probe {
    worker: Rc<Worker>,
    check: GroupCheck,
    matcher: Option<Match>,
    addr: UpstreamAddr,
    key: String,
    in_flight: Rc<RefCell<HashSet<String>>>,
}

/// What a probe found.
enum Verdict {
    Passed(u16),
    /// An answer that does not match.
    Refused(u16),
    Failed(ProxyError),
}

impl Probe {
    async fn run(self) {
        let verdict = match self.ask().await {
            Ok((status, headers, body)) => {
                let ok = match &self.matcher {
                    Some(m) => m.passes(status, &headers, &body),
                    None => default_passes(status),
                };
                if ok {
                    Verdict::Passed(status)
                } else {
                    Verdict::Refused(status)
                }
            }
            Err(e) => Verdict::Failed(e),
        };
        self.in_flight.borrow_mut().remove(&self.key);
        let Some(row) = crate::zone::health::row(&self.key) else {
            return;
        };
        let (passed, status) = match &verdict {
            Verdict::Passed(s) => (true, *s),
            Verdict::Refused(s) => (false, *s),
            Verdict::Failed(_) => (false, 0),
        };
        let counts = Counts {
            fails: self.check.check.fails,
            passes: self.check.check.passes,
            mandatory: self.check.check.mandatory,
        };
        let of = format!(
            "health check \"{}\" of peer {} in upstream \"{}\"",
            self.check.check.uri, self.addr, self.check.upstream
        );
        match row.record(passed, status, counts) {
            Change::BecameUnhealthy => {
                let why = match &verdict {
                    Verdict::Failed(e) => e.to_string(),
                    Verdict::Refused(s) if self.matcher.is_some() => {
                        format!("answer with status {s} does not match")
                    }
                    Verdict::Refused(s) => format!("status {s} is not 2xx or 3xx"),
                    Verdict::Passed(_) => String::new(),
                };
                self.worker
                    .error_log
                    .warn(&format!("peer is unhealthy: {why}, {of}"));
            }
            Change::BecameHealthy => {
                self.worker
                    .error_log
                    .notice(&format!("peer is healthy again, {of}"));
            }
            Change::None => {}
        }
    }

    /// Sends the request and reads the answer: its status, headers and (the start of)
    /// its body.
    async fn ask(&self) -> Result<Answer, ProxyError> {
        let mut stream = self.connect().await?;
        let request = format!(
            "GET {} HTTP/1.1\r\nHost: {}\r\nUser-Agent: vestibule health check\r\nConnection: close\r\n\r\n",
            self.check.check.uri, self.check.host
        );
        let (res, _) = stream.write_all(request.into_bytes()).await;
        res.map_err(|e| ProxyError::io("send()", &e, Phase::Sending))?;
        let read = read_answer(&mut stream);
        match crate::net::timer::timeout(self.check.read_timeout, read).await {
            Ok(answer) => answer,
            Err(_) => Err(ProxyError::Timeout {
                phase: Phase::ReadingHead,
            }),
        }
    }

    async fn connect(&self) -> Result<Stream, ProxyError> {
        let timeout = self.check.connect_timeout;
        let timed_out = ProxyError::Timeout {
            phase: Phase::Connecting,
        };
        match self.check.probe_addr(&self.addr) {
            UpstreamAddr::Tcp(sa) => {
                let connect = monoio::net::TcpStream::connect_addr(sa);
                match crate::net::timer::timeout(timeout, connect).await {
                    Err(_) => Err(timed_out),
                    Ok(Err(e)) => Err(ProxyError::io("connect()", &e, Phase::Connecting)),
                    Ok(Ok(s)) => Ok(Stream::Tcp(s)),
                }
            }
            UpstreamAddr::Unix(path) => {
                let connect = monoio::net::UnixStream::connect(path.as_path());
                match crate::net::timer::timeout(timeout, connect).await {
                    Err(_) => Err(timed_out),
                    Ok(Err(e)) => Err(ProxyError::connect_unix(&path, &e)),
                    Ok(Ok(s)) => Ok(Stream::Unix(s)),
                }
            }
        }
    }
}

/// A probe's answer: status, header fields, (the start of) the body.
type Answer = (u16, Vec<(String, String)>, String);

/// A parsed head: status, fields, where the body starts, its `Content-Length`.
type Head = (u16, Vec<(String, String)>, usize, Option<usize>);

/// Reads until the upstream closes (the probe asked it to), `Content-Length` bytes of
/// body have come, or [`MAX_ANSWER`].
async fn read_answer(stream: &mut Stream) -> Result<Answer, ProxyError> {
    let mut buf = Vec::with_capacity(4096);
    let mut head: Option<Head> = None;
    loop {
        let (res, b) = stream.read_more(buf, 4096).await;
        buf = b;
        let n = res.map_err(|e| ProxyError::io("recv()", &e, Phase::ReadingHead))?;
        if head.is_none() {
            let mut headers = [httparse::EMPTY_HEADER; 64];
            let mut response = httparse::Response::new(&mut headers);
            match response.parse(&buf) {
                Ok(httparse::Status::Complete(len)) => {
                    let status = response.code.unwrap_or(0);
                    let fields: Vec<(String, String)> = response
                        .headers
                        .iter()
                        .map(|h| {
                            (
                                h.name.to_string(),
                                String::from_utf8_lossy(h.value).trim().to_string(),
                            )
                        })
                        .collect();
                    let length = fields
                        .iter()
                        .find(|(n, _)| n.eq_ignore_ascii_case("content-length"))
                        .and_then(|(_, v)| v.parse::<usize>().ok());
                    head = Some((status, fields, len, length));
                }
                Ok(httparse::Status::Partial) => {}
                Err(_) => {
                    return Err(ProxyError::InvalidHead(
                        crate::http1::UpstreamHeadError::InvalidStatusLine,
                    ))
                }
            }
        }
        let body_done = head
            .as_ref()
            .is_some_and(|(_, _, at, length)| length.is_some_and(|l| buf.len() >= at + l));
        if n == 0 || body_done || buf.len() >= MAX_ANSWER {
            break;
        }
    }
    let Some((status, headers, at, _)) = head else {
        return Err(ProxyError::ClosedBeforeHead);
    };
    let body = String::from_utf8_lossy(buf.get(at..).unwrap_or_default()).into_owned();
    Ok((status, headers, body))
}

//! One client connection: read a request head (bounded in size and time), hand the
//! request to [`dispatch`](super::dispatch), log it, and go round again while
//! keep-alive allows. Pipelined requests are answered in order because each is read
//! from the same buffer only after the previous response has been written.

use std::os::fd::AsRawFd;
use std::rc::Rc;
use std::time::{Duration, SystemTime};

use super::context::{listen_context, Writing};
use super::dispatch::{self, Conn};
use super::h1::Http1;
use super::idle::Idle;
use super::{Snapshot, Worker};
use crate::config::model::Server;
use crate::exchange::Exchange;
use crate::exchange::Peer;
use crate::http1::{parse_request_head, HeadError, HeadLimits, HeaderNameRules, RequestHead};
use crate::net::stream::Stream;
use crate::tls::handshake::Opened;
use crate::zone::metrics::Handshake;

/// What one attempt to read a request head ended with.
enum HeadRead {
    Head(RequestHead, u64),
    /// The client closed (or reset) the connection between requests.
    Closed,
    /// No complete head before the deadline: `seen` holds what had arrived of it
    /// (empty for a connection that never sent a byte).
    TimedOut {
        seen: Vec<u8>,
    },
    Invalid(HeadError),
}

/// A head that did not fit its first read (`client_header_buffer_size`, 1k by
/// default, as nginx's first buffer) goes on in reads of this much.
const HEAD_READ: usize = 4096;

/// Counts a connection in `Worker::active` from the moment it is accepted (before its
/// task first runs) until it ends, so a graceful shutdown never misses one.
#[derive(Debug)]
pub struct Active(Rc<Worker>);

impl Active {
    pub fn enter(worker: &Rc<Worker>) -> Active {
        worker.active.set(worker.active.get() + 1);
        crate::zone::status::accepted();
        Active(Rc::clone(worker))
    }
}

impl Drop for Active {
    fn drop(&mut self) {
        self.0.active.set(self.0.active.get().saturating_sub(1));
        crate::zone::status::closed();
    }
}

/// Serves a connection until it closes.
pub async fn serve(worker: Rc<Worker>, stream: Stream, peer: Peer, id: u64, active: Active) {
    let _active = active;
    let Some((stream, peer)) = open(&worker, stream, peer, id).await else {
        return;
    };
    let peer = Rc::new(peer);
    let stream = match speaks_h2(&worker, stream, &peer).await {
        Protocol::H2(io) => {
            super::h2::serve(Rc::clone(&worker), io, peer, id).await;
            return;
        }
        Protocol::H2Tls(tls) => {
            super::h2::serve(Rc::clone(&worker), tls, peer, id).await;
            return;
        }
        Protocol::Http1(stream) => stream,
        Protocol::Closed => return,
    };
    let mut stream = stream;
    // Allocated by the first read; between requests it shrinks back to the first
    // read's size, so an idle keep-alive connection holds about 1 KiB.
    let mut input: Vec<u8> = Vec::new();
    let mut served: u64 = 0;
    loop {
        let snap = worker.snapshot.load_full();
        let Some((_, default)) = listen_context(&snap, &peer) else {
            return;
        };
        if served == 0 {
            stream.set_nodelay(default.conf.tcp_nodelay);
        }
        let limits = HeadLimits::from_nginx(
            default.client_header_buffer_size,
            default.large_client_header_buffers,
        )
        .with_names(HeaderNameRules {
            underscores_in_headers: default.underscores_in_headers,
            ignore_invalid_headers: default.ignore_invalid_headers,
        });
        let first_read = usize::try_from(default.client_header_buffer_size)
            .unwrap_or(HEAD_READ)
            .clamp(256, HEAD_READ);
        if input.is_empty() && input.capacity() > first_read {
            input = Vec::new();
        }
        let idle = if served == 0 {
            default.client_header_timeout
        } else {
            default.conf.keepalive_timeout
        };
        // Shutting down, a keep-alive connection waits on the idle list like any
        // other: a request that comes is answered with `Connection: close`, and the
        // drain closes it once it has been quiet a while (see `idle.rs`). Closing it
        // here would lose a request the client may already have sent.
        // Waiting for a request's first byte, the connection is idle: at the
        // `worker_connections` limit it may be closed to make room (see `idle.rs`).
        let listed = input
            .is_empty()
            .then(|| Idle::enter(&worker.idle, stream.raw_fd(), served > 0));
        let wait = HeadWait {
            limits,
            first_read,
            idle,
            header_timeout: default.client_header_timeout,
        };
        let head = read_request_head(&mut stream, &mut input, &wait, listed).await;
        let (head, request_length) = match head {
            HeadRead::Head(h, n) => (h, n),
            HeadRead::Closed => return,
            HeadRead::TimedOut { seen } => {
                if served == 0 || !seen.is_empty() {
                    head_timed_out(&worker, &snap, default, &peer, id, &seen);
                }
                // As nginx: only a request that had begun is reset; a connection that
                // never sent a byte (or idled after keep-alive) closes normally.
                if !seen.is_empty() && default.conf.reset_timedout_connection {
                    reset(&stream);
                }
                return;
            }
            HeadRead::Invalid(err) => {
                reject_head(&worker, &mut stream, &peer, default, id, err).await;
                return;
            }
        };
        served += 1;
        let writing = Writing::start();
        // The request runs with the configuration current when its head arrived (an
        // in-place reload may have swapped it while the connection idled).
        let snap = worker.snapshot.load_full();
        let Some((group, default)) = listen_context(&snap, &peer) else {
            return;
        };
        let mut x = Exchange::new(
            Rc::clone(&peer),
            head,
            request_length,
            worker.request_id(),
            Rc::clone(&worker.hostname),
        );
        x.connection = id;
        x.connection_requests = served;
        x.server_name = default.primary_name();
        let conn = Conn {
            worker: &worker,
            snap: &snap,
        };
        let mut downstream = Http1::new(&worker, &mut stream, &mut input, served);
        // Boxed: the request's state lives on the heap only while the request does, so
        // the connection task itself stays small while it idles.
        let result = Box::pin(dispatch::run(conn, &mut downstream, &mut x, group)).await;
        let timed_out = downstream.timed_out();
        if x.status != 0 {
            dispatch::log_access(&worker, &snap, &x, &result.conf);
        }
        // nginx's `reset_timedout_connection` covers `return 444` too (since 1.15.2).
        if (timed_out || x.status == 444) && result.conf.reset_timedout_connection {
            reset(&stream);
            return;
        }
        drop(writing);
        if !result.keep_alive {
            return;
        }
    }
}

/// The protocol a connection speaks.
enum Protocol {
    Http1(Stream),
    /// TLS with ALPN `h2`.
    H2Tls(Box<crate::net::stream::TlsStream>),
    /// Plain TCP that opened with the HTTP/2 preface.
    H2(monoio::net::tcp::stream_poll::TcpStreamPoll),
    Closed,
}

/// HTTP/2 when the client chose `h2` by ALPN, or, on a plain address that offers
/// HTTP/2, sent the connection preface (prior knowledge); HTTP/1.1 otherwise.
async fn speaks_h2(worker: &Worker, stream: Stream, peer: &Peer) -> Protocol {
    let snap = worker.snapshot.load_full();
    // As the HTTP/1.1 loop sets it for its first request, which HTTP/2 never reaches.
    let nodelay = listen_context(&snap, peer).map_or(true, |(_, d)| d.conf.tcp_nodelay);
    match stream {
        Stream::Tls(tls) if peer.tls.as_ref().is_some_and(|t| t.alpn == "h2") => {
            let _ = tls.get_ref().0.set_nodelay(nodelay);
            Protocol::H2Tls(tls)
        }
        Stream::Tcp(tcp) => {
            let offered = listen_context(&snap, peer).is_some_and(|(group, _)| group.http2());
            if !offered {
                return Protocol::Http1(Stream::Tcp(tcp));
            }
            let wait = listen_context(&snap, peer)
                .map_or(Duration::from_secs(60), |(_, d)| d.client_header_timeout);
            match crate::net::timer::timeout(wait, sniff_preface(&tcp)).await {
                Ok(Some(true)) => {
                    let _ = tcp.set_nodelay(nodelay);
                    match tcp.try_into_poll_io() {
                        Ok(io) => Protocol::H2(io),
                        Err(_) => Protocol::Closed,
                    }
                }
                Ok(Some(false)) => Protocol::Http1(Stream::Tcp(tcp)),
                // Closed, or silent: HTTP/1.1's head reading logs and times it out.
                Ok(None) | Err(_) => Protocol::Http1(Stream::Tcp(tcp)),
            }
        }
        other => Protocol::Http1(other),
    }
}

/// Whether the client's first bytes are the HTTP/2 preface, without taking them:
/// `None` when it closed first.
async fn sniff_preface(tcp: &monoio::net::TcpStream) -> Option<bool> {
    let preface = super::h2::flood::PREFACE;
    let mut seen = [0u8; 24];
    loop {
        let n = crate::net::stream::peek_arrived(tcp, &mut seen).await?;
        if seen.get(..n) != preface.get(..n) {
            return Some(false);
        }
        if n == preface.len() {
            return Some(true);
        }
        // Part of the preface: the rest is on its way (the socket stays readable, so
        // waiting for readiness again would not wait).
        monoio::time::sleep(Duration::from_millis(1)).await;
    }
}

/// Makes the coming close of `stream` a TCP reset (`reset_timedout_connection`).
fn reset(stream: &Stream) {
    // Without it the close is an orderly one, as with the directive off.
    let _ = stream.reset_on_close();
}

/// A connection to a TLS address goes through its handshake first (a plain HTTP
/// client there is served its 497); others are ready as accepted. `None`: the
/// connection is over.
async fn open(worker: &Worker, stream: Stream, mut peer: Peer, id: u64) -> Option<(Stream, Peer)> {
    let snap = worker.snapshot.load_full();
    let (group, default) = listen_context(&snap, &peer)?;
    if !group.ssl() {
        return Some((stream, peer));
    }
    let Stream::Tcp(tcp) = stream else {
        worker.error_log.info(
            Some(id),
            &format!(
                "TLS on a unix socket is not supported, server: {}",
                peer.listen
            ),
        );
        return None;
    };
    let timeout = default
        .tls
        .handshake_timeout
        .unwrap_or(default.client_header_timeout);
    // Until the handshake is done the connection is idle as far as a graceful stop
    // or the `worker_connections` limit are concerned: it may be closed for them.
    let _listed = Idle::enter(&worker.idle, tcp.as_raw_fd(), false);
    match crate::tls::handshake::open(tcp, group, &snap.tls, timeout).await {
        Opened::Tls(tls, info) => {
            crate::zone::metrics::tls_handshake(if info.session_reused {
                Handshake::Resumed
            } else {
                Handshake::Full
            });
            peer.scheme = "https";
            peer.tls = Some(Rc::new(info));
            Some((Stream::Tls(tls), peer))
        }
        Opened::Plain(tcp) => Some((Stream::Tcp(tcp), peer)),
        Opened::Closed => None,
        Opened::Failed(why) => {
            crate::zone::metrics::tls_handshake(Handshake::Failed);
            worker.error_log.info(
                Some(id),
                &format!(
                    "{why}, client: {}, server: {}",
                    peer.remote_addr, peer.listen
                ),
            );
            None
        }
    }
}

/// The bounds on reading one request head.
struct HeadWait {
    limits: HeadLimits,
    /// The first read's size (`client_header_buffer_size`).
    first_read: usize,
    /// How long the first byte may take (keep-alive or header timeout).
    idle: Duration,
    /// From the first byte, the whole head's deadline.
    header_timeout: Duration,
}

/// A request being read, for `stub_status` (counted once, ended on drop).
struct Reading;

impl Reading {
    fn start() -> Reading {
        crate::zone::status::request_started();
        Reading
    }
}

impl Drop for Reading {
    fn drop(&mut self) {
        crate::zone::status::head_done();
    }
}

/// Reads until a complete head is buffered. The wait for the first byte is bounded by
/// `wait.idle`; from the first byte the whole head must arrive within
/// `wait.header_timeout` — a deadline, so trickling bytes does not extend it.
/// `listed` keeps the connection on the idle list until its first byte arrives (a
/// graceful shutdown or the `worker_connections` limit may end it there).
async fn read_request_head(
    stream: &mut Stream,
    input: &mut Vec<u8>,
    wait: &HeadWait,
    mut listed: Option<Idle<'_>>,
) -> HeadRead {
    let HeadWait {
        limits,
        first_read,
        idle,
        header_timeout,
    } = wait;
    let mut deadline: Option<Duration> = None;
    // The coarse clock is read once per wait and again only when a head arrives in
    // pieces; the timer that enforces these limits keeps the same clock.
    let mut now = crate::sys::coarse_monotonic();
    let idle_until = now + *idle;
    let mut now_is_stale = false;
    // `stub_status`'s Reading: from a request's first byte until its head is read.
    let mut reading = (!input.is_empty()).then(Reading::start);
    loop {
        if !input.is_empty() {
            match parse_request_head(input, limits) {
                Ok(Some((head, n))) => {
                    input.drain(..n);
                    return HeadRead::Head(head, n as u64);
                }
                Ok(None) => {}
                Err(e) => return HeadRead::Invalid(e),
            }
            if now_is_stale {
                now = crate::sys::coarse_monotonic();
            }
            deadline.get_or_insert(now + *header_timeout);
        }
        let until = deadline.unwrap_or(idle_until);
        if until <= now {
            return HeadRead::TimedOut {
                seen: std::mem::take(input),
            };
        }
        let taken = std::mem::take(input);
        // The read owns the buffer and a timeout drops it: a head arriving in pieces
        // keeps a copy of what came so far, for the timeout's log lines.
        let seen = if taken.is_empty() {
            Vec::new()
        } else {
            taken.clone()
        };
        let spare = if taken.is_empty() {
            *first_read
        } else {
            HEAD_READ
        };
        let remaining = until.saturating_sub(now);
        match crate::net::timer::timeout(remaining, stream.read_more(taken, spare)).await {
            Err(_) => return HeadRead::TimedOut { seen },
            Ok((Ok(0), _)) | Ok((Err(_), _)) => return HeadRead::Closed,
            Ok((Ok(_), buf)) => {
                // A request has begun: no longer idle, so never closed for room.
                drop(listed.take());
                reading.get_or_insert_with(Reading::start);
                *input = buf;
                now_is_stale = true;
            }
        }
    }
}

/// A connection that sent no whole head in time, logged as nginx logs it: a fresh
/// connection that sent nothing gets `client timed out ... while waiting for
/// request` at info (a keep-alive connection that stays quiet just closes); a head cut
/// off gets its info line with what was read of the request, and a 408 line in the
/// access log. Nothing is sent: the client is not listening.
fn head_timed_out(
    worker: &Worker,
    snap: &Snapshot,
    default: &Server,
    peer: &Rc<Peer>,
    id: u64,
    seen: &[u8],
) {
    const TIMED_OUT: &str = "client timed out (110: Connection timed out)";
    let Some(partial) = super::partial_head::read(seen) else {
        worker.error_log.info(
            Some(id),
            &format!(
                "{TIMED_OUT} while waiting for request, client: {}, server: {}",
                peer.remote_addr, peer.listen
            ),
        );
        return;
    };
    let while_reading = if partial.line_complete {
        "client request headers"
    } else {
        "client request line"
    };
    let mut x = Exchange::new(
        Rc::clone(peer),
        partial.head,
        seen.len() as u64,
        worker.request_id(),
        Rc::clone(&worker.hostname),
    );
    x.connection = id;
    x.raw_request_line = Some(partial.request_line);
    x.server_name = default.primary_name();
    x.status = 408;
    worker.error_log.info(
        Some(id),
        &format!(
            "{TIMED_OUT} while reading {while_reading}{}",
            crate::exchange::context(&x, None)
        ),
    );
    dispatch::log_access(worker, snap, &x, &default.conf);
}

/// Answers a head that breaks the protocol with nginx's status and page, logs it at
/// `info` as nginx does, and closes the connection.
async fn reject_head(
    worker: &Worker,
    stream: &mut Stream,
    peer: &Peer,
    server: &Server,
    id: u64,
    err: HeadError,
) {
    let status = err.status();
    worker.error_log.info(
        Some(id),
        &format!(
            "{} while reading client request headers, client: {}, server: {}",
            err.reason(),
            peer.remote_addr,
            server.primary_name()
        ),
    );
    let title = err
        .page_title()
        .map(str::to_string)
        .unwrap_or_else(|| format!("{status} {}", crate::http1::reason_phrase(status)));
    let tokens = server.conf.server_tokens;
    let body = crate::exchange::response::default_page_titled(&title, tokens);
    let token = if tokens {
        crate::exchange::response::SERVER_TOKEN
    } else {
        "vestibule"
    };
    let date = worker
        .date
        .borrow_mut()
        .http_date(SystemTime::now())
        .to_string();
    let head = format!(
        "HTTP/1.1 {status} {}\r\nServer: {token}\r\nDate: {date}\r\nContent-Type: text/html\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        crate::http1::reason_phrase(status),
        body.len()
    );
    let mut out = head.into_bytes();
    out.extend_from_slice(&body);
    let _ = crate::net::timer::timeout(server.conf.send_timeout, stream.write_all(out)).await;
}

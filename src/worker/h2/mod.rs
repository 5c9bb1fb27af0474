//! HTTP/2 connections: a TLS connection whose client chose `h2` by ALPN, or a plain
//! one that opened with the HTTP/2 preface on an address that offers it (`h2c` with
//! prior knowledge, as nginx accepts). hyperium's `h2` codec does the framing, HPACK,
//! flow control and the protocol's own limits, over the same tokio-style stream TLS
//! uses; each request stream becomes a task that runs the usual phases
//! ([`super::dispatch`]) against an [`H2Stream`] downstream. Upstreams stay
//! HTTP/1.1, with the worker's pool: one slow stream never holds up another.
//!
//! The connection task only accepts streams and watches for four events:
//! - a **graceful shutdown** of the worker (or a reload that stops it): GOAWAY with
//!   the last stream id, then the open streams finish (within
//!   `worker_shutdown_timeout`, which ends the worker) before the connection closes;
//! - **idleness**: no open stream for `keepalive_timeout` (nginx's rule since 1.19.7)
//!   ends the connection with GOAWAY;
//! - **`worker_connections`**: with no stream open the connection is on the worker's
//!   idle list ([`super::idle`]); asked to make room, it sends GOAWAY `NO_ERROR`
//!   with the last stream id and ends;
//! - a **flood** ([`flood`]): GOAWAY `ENHANCE_YOUR_CALM` and the end;
//! - a **protocol error**, which the codec has answered with its GOAWAY.
//!
//! An in-place reload changes nothing here: each stream loads the configuration
//! current when it starts.

pub mod cork;
pub mod flood;
pub mod request;
pub mod stream;

use std::cell::Cell;
use std::future::poll_fn;
use std::rc::Rc;
use std::sync::Arc;
use std::task::Poll;

use bytes::Bytes;
use h2::server::SendResponse;
use h2::{Reason, RecvStream};
use tokio::io::{AsyncRead, AsyncWrite};

use super::context::{listen_context, Writing};
use super::dispatch::{self, Conn};
use super::idle::{CloseRequest, Idle};
use super::wake::WakerSlot;
use super::{Snapshot, Worker};
use crate::config::model::Server;
use crate::exchange::{Exchange, Peer};
use crate::http1::HeaderNameRules;
use cork::Cork;
use flood::{Guard, Metered};
pub use stream::H2Stream;

/// How long a closing connection with no open stream waits for the client to
/// acknowledge GOAWAY's PING (the codec sends the final GOAWAY after it).
const CLOSE_GRACE: std::time::Duration = std::time::Duration::from_secs(2);

/// How long a connection that failed may take to send its GOAWAY.
const GOAWAY_FLUSH: std::time::Duration = std::time::Duration::from_secs(1);

/// What woke the connection task.
enum Event {
    Stream(http::Request<RecvStream>, SendResponse<Bytes>),
    /// The client closed, or the codec ended the connection.
    Done,
    Error(h2::Error),
    Flood(&'static str),
    Drain,
    /// Idle at the `worker_connections` limit: asked to make room.
    Reaped,
    /// The last open stream ended: start the idle wait.
    Quiet,
}

/// The HTTP/2 settings the codec announces for `server` (the address's default).
fn builder(server: &Server) -> h2::server::Builder {
    let h2 = &server.http2;
    let window = u32::try_from(h2.body_preread_size)
        .unwrap_or(u32::MAX >> 1)
        .clamp(1, (1 << 31) - 1);
    // The connection's window: every stream's preread at once, at least 1 MiB.
    let connection_window = u64::from(window)
        .saturating_mul(u64::from(h2.max_concurrent_streams.max(1)))
        .clamp(1 << 20, (1 << 31) - 1) as u32;
    let (number, size) = server.large_client_header_buffers;
    let header_list = u32::try_from(u64::from(number).saturating_mul(size)).unwrap_or(u32::MAX);
    let mut b = h2::server::Builder::new();
    b.max_concurrent_streams(h2.max_concurrent_streams)
        .initial_window_size(window)
        .initial_connection_window_size(connection_window)
        .max_header_list_size(header_list)
        // The codec's rapid-reset defences, at their documented values: streams reset
        // before they were accepted, and streams this side had to reset.
        .max_pending_accept_reset_streams(20)
        .max_local_error_reset_streams(Some(1024))
        .max_send_buffer_size(64 * 1024);
    b
}

/// Serves an HTTP/2 connection until it closes. `tls`: reached through TLS (`$http2`
/// is `h2`), else prior-knowledge `h2c`.
pub async fn serve<IO>(worker: Rc<Worker>, io: IO, peer: Rc<Peer>, id: u64)
where
    IO: AsyncRead + AsyncWrite + Unpin + 'static,
{
    let snap = worker.snapshot.load_full();
    let Some((_, default)) = listen_context(&snap, &peer) else {
        return;
    };
    let guard = Rc::new(Guard::default());
    let (io, cork) = Cork::new(io);
    let io = Metered::new(io, Rc::clone(&guard));
    let handshake = builder(default).handshake::<_, Bytes>(io);
    let mut conn = match crate::net::timer::timeout(default.client_header_timeout, handshake).await
    {
        Ok(Ok(conn)) => conn,
        Ok(Err(e)) => {
            worker.error_log.info(
                Some(id),
                &format!(
                    "client sent invalid HTTP/2 connection preface or settings ({e}), client: {}, server: {}",
                    peer.remote_addr, peer.listen
                ),
            );
            return;
        }
        Err(_) => {
            worker.error_log.info(
                Some(id),
                &format!(
                    "client timed out (110: Connection timed out) while waiting for the HTTP/2 preface, client: {}, server: {}",
                    peer.remote_addr, peer.listen
                ),
            );
            return;
        }
    };
    let keepalive = default.conf.keepalive_timeout;
    // nginx 1.19.7 on: after `keepalive_requests` streams, GOAWAY (the client opens a
    // new connection for more).
    let max_streams = u64::from(default.conf.keepalive_requests);
    drop(snap);
    let open = Rc::new(OpenStreams::default());
    let mut served = 0u64;
    let mut closing = false;
    let drain = super::DrainWatch::new(&worker, id);
    let reap = Rc::new(CloseRequest::default());
    let mut listed = None;
    loop {
        // With no stream open, the wait is bounded: by keepalive_timeout, or, once
        // GOAWAY is out, by the time a client gets to answer its PING.
        let quiet = open.count() == 0;
        // Idle (no stream open, not closing): `worker_connections` may reap it.
        if quiet && !closing {
            listed.get_or_insert_with(|| Idle::enter_h2(&worker.idle, Rc::clone(&reap)));
        } else {
            listed = None;
        }
        let limit = match (quiet, closing) {
            (true, false) => Some(keepalive),
            (true, true) => Some(CLOSE_GRACE),
            (false, _) => None,
        };
        let next = poll_fn(|cx| {
            guard.register(cx.waker());
            drain.register(cx.waker());
            if let Some(what) = guard.flood() {
                if !closing {
                    return Poll::Ready(Event::Flood(what));
                }
            }
            if !closing && worker.draining.get() {
                return Poll::Ready(Event::Drain);
            }
            reap.register(cx.waker());
            open.waker.register(cx.waker());
            if !closing && reap.asked() {
                return Poll::Ready(Event::Reaped);
            }
            // Everything the codec writes in this poll goes out in one write, once
            // there is no other stream to start first.
            let polled = cork.hold(|| conn.poll_accept(cx));
            if !matches!(polled, Poll::Ready(Some(Ok(_))))
                && cork.pending()
                && matches!(cork.drain(cx), Poll::Ready(Err(_)))
            {
                return Poll::Ready(Event::Done);
            }
            match polled {
                Poll::Ready(Some(Ok((request, respond)))) => {
                    Poll::Ready(Event::Stream(request, respond))
                }
                Poll::Ready(Some(Err(e))) => Poll::Ready(Event::Error(e)),
                Poll::Ready(None) => Poll::Ready(Event::Done),
                // The last stream ended while the wait was unbounded: bound it.
                Poll::Pending if !quiet && open.count() == 0 => Poll::Ready(Event::Quiet),
                Poll::Pending => Poll::Pending,
            }
        });
        let event = match limit {
            None => next.await,
            Some(limit) => match crate::net::timer::timeout(limit, next).await {
                Ok(event) => event,
                // Closing, and the client does not finish it: the connection ends.
                Err(_) if closing => return,
                Err(_) => {
                    // Idle for keepalive_timeout: GOAWAY, then the codec closes.
                    conn.graceful_shutdown();
                    closing = true;
                    continue;
                }
            },
        };
        match event {
            Event::Stream(request, respond) => {
                served += 1;
                open.count.set(open.count() + 1);
                let task = StreamTask {
                    worker: Rc::clone(&worker),
                    guard: Rc::clone(&guard),
                    peer: Rc::clone(&peer),
                    open: Rc::clone(&open),
                    id,
                    served,
                };
                monoio::spawn(task.run(request, respond));
                if served >= max_streams && !closing {
                    conn.graceful_shutdown();
                    closing = true;
                }
            }
            Event::Quiet => {}
            Event::Drain => {
                conn.graceful_shutdown();
                closing = true;
            }
            Event::Reaped => {
                // As nginx: GOAWAY NO_ERROR with the last stream id, then the end.
                conn.abrupt_shutdown(Reason::NO_ERROR);
                let flushed = poll_fn(|cx| conn.poll_closed(cx));
                let _ = crate::net::timer::timeout(GOAWAY_FLUSH, flushed).await;
                return;
            }
            Event::Flood(what) => {
                worker.error_log.info(
                    Some(id),
                    &format!(
                        "http2 flood detected ({what}), client: {}, server: {}",
                        peer.remote_addr, peer.listen
                    ),
                );
                conn.abrupt_shutdown(Reason::ENHANCE_YOUR_CALM);
                closing = true;
            }
            Event::Error(e) => {
                if e.reason() == Some(Reason::ENHANCE_YOUR_CALM) {
                    // The codec's own limits: resets before accept, CONTINUATION, ...
                    worker.error_log.info(
                        Some(id),
                        &format!(
                            "http2 flood detected ({e}), client: {}, server: {}",
                            peer.remote_addr, peer.listen
                        ),
                    );
                } else if !e.is_io() {
                    worker.error_log.info(
                        Some(id),
                        &format!(
                            "client sent an HTTP/2 frame the protocol forbids ({e}), client: {}, server: {}",
                            peer.remote_addr, peer.listen
                        ),
                    );
                }
                // The codec has queued its GOAWAY: let it reach the client.
                let flushed = poll_fn(|cx| conn.poll_closed(cx));
                let _ = crate::net::timer::timeout(GOAWAY_FLUSH, flushed).await;
                return;
            }
            Event::Done => return,
        }
    }
}

/// One request stream.
struct StreamTask {
    worker: Rc<Worker>,
    guard: Rc<Guard>,
    peer: Rc<Peer>,
    open: Rc<OpenStreams>,
    id: u64,
    served: u64,
}

impl StreamTask {
    async fn run(self, request: http::Request<RecvStream>, mut respond: SendResponse<Bytes>) {
        let _open = OpenStream(Rc::clone(&self.open));
        crate::zone::status::request_started();
        crate::zone::status::head_done();
        let _writing = Writing::start();
        // The configuration current now: an in-place reload applies to new streams.
        let snap: Arc<Snapshot> = self.worker.snapshot.load_full();
        let Some((group, default)) = listen_context(&snap, &self.peer) else {
            respond.send_reset(Reason::REFUSED_STREAM);
            return;
        };
        let (parts, body) = request.into_parts();
        let rules = HeaderNameRules {
            underscores_in_headers: default.underscores_in_headers,
            ignore_invalid_headers: default.ignore_invalid_headers,
        };
        let (head, length) = match request::head(&parts, body.is_end_stream(), rules) {
            Ok(h) => h,
            Err(request::Refusal::Malformed(why)) => {
                self.worker.error_log.info(
                    Some(self.id),
                    &format!(
                        "client sent a malformed HTTP/2 request ({why}), client: {}, server: {}",
                        self.peer.remote_addr,
                        default.primary_name()
                    ),
                );
                respond.send_reset(Reason::PROTOCOL_ERROR);
                return;
            }
            Err(request::Refusal::Head(e)) => {
                self.worker.error_log.info(
                    Some(self.id),
                    &format!(
                        "{} while reading client request headers, client: {}, server: {}",
                        e.reason(),
                        self.peer.remote_addr,
                        default.primary_name()
                    ),
                );
                let answer = http::Response::builder()
                    .status(e.status())
                    .body(())
                    .unwrap_or_default();
                let _ = respond.send_response(answer, true);
                return;
            }
        };
        let mut x = Exchange::new(
            Rc::clone(&self.peer),
            head,
            length,
            self.worker.request_id(),
            Rc::clone(&self.worker.hostname),
        );
        x.connection = self.id;
        x.connection_requests = self.served;
        x.server_name = default.primary_name();
        let conn = Conn {
            worker: &self.worker,
            snap: &snap,
        };
        let mut d = H2Stream::new(
            Rc::clone(&self.worker),
            Rc::clone(&self.guard),
            respond,
            body,
        );
        let result = Box::pin(dispatch::run(conn, &mut d, &mut x, group)).await;
        if x.status != 0 {
            dispatch::log_access(&self.worker, &snap, &x, &result.conf);
        }
    }
}

/// The streams open on a connection, and its task's waker: the last stream to end
/// wakes it, so an idle connection is listed for reaping and its
/// `keepalive_timeout` starts even when no frame comes.
#[derive(Default)]
struct OpenStreams {
    count: Cell<usize>,
    waker: WakerSlot,
}

impl OpenStreams {
    fn count(&self) -> usize {
        self.count.get()
    }
}

/// Counts a stream as open on its connection while its task runs.
struct OpenStream(Rc<OpenStreams>);

impl Drop for OpenStream {
    fn drop(&mut self) {
        let open = &self.0;
        open.count.set(open.count().saturating_sub(1));
        if open.count() == 0 {
            open.waker.wake();
        }
    }
}

//! The HTTP/2 downstream: the [`Downstream`] implementation for one stream. The
//! handlers are the HTTP/1.1 ones, unchanged; what differs is here:
//!
//! - **The head** becomes a HEADERS frame: the status without a reason, lower-case
//!   names, no connection-specific fields (`Connection`, `Keep-Alive`,
//!   `Transfer-Encoding`, `Upgrade`, `Proxy-Connection`: RFC 9113 §8.2.2), and
//!   `Content-Length` only when the length is known. It waits for the first body
//!   bytes, so a response without a body ends in the HEADERS frame itself.
//! - **The body** goes out in DATA frames of at most `http2_chunk_size`, each only
//!   when the client's flow-control window has room: a client that stops reading
//!   (a zero window held open) costs no memory, and `send_timeout` ends the wait with
//!   a stream reset. Files are read and sent piece by piece (no sendfile through TLS
//!   framing, as for HTTP/1.1 over TLS).
//! - **`limit_rate`** paces each stream on its own, as nginx does: a paced
//!   download does not slow the connection's other streams.
//! - **The request body** comes from DATA frames, bounded by
//!   `client_max_body_size` and `client_body_timeout`; each piece read gives its
//!   window back, so at most `http2_body_preread_size` waits unread.
//! - **Ending early**: a handler that gives up mid-body (an upstream that broke off)
//!   resets the stream (`INTERNAL_ERROR`), so the client never takes a cut body as
//!   whole; the client's own reset is [`Downstream::closed`].

use std::cell::RefCell;
use std::fs::File;
use std::future::poll_fn;
use std::os::unix::fs::FileExt;
use std::rc::Rc;
use std::time::Duration;

use bytes::Bytes;
use h2::server::SendResponse;
use h2::{Reason, RecvStream, SendStream};

use super::flood::Guard;
use crate::config::model::LocationConf;
use crate::exchange::body::BodyReadError;
use crate::exchange::rate::RateLimit;
use crate::exchange::response::{self, BodyLength, HeadWriter, ResponseHead};
use crate::exchange::{BodyState, Downstream, Exchange, Upgraded};
use crate::http1::{Method, RequestFraming};
use crate::net::timer::timeout;
use crate::worker::Worker;

/// A waker for a poll that only asks (nothing waits on it).
struct NoWake;

impl std::task::Wake for NoWake {
    fn wake(self: std::sync::Arc<Self>) {}
}

/// How long a body nobody reads is read and dropped after the response.
const DISCARD_TIME: Duration = Duration::from_secs(1);

/// File ranges are read in pieces of this size.
const FILE_PIECE: usize = 64 * 1024;

/// Fields HTTP/2 forbids (RFC 9113 §8.2.2).
const CONNECTION_SPECIFIC: [&str; 5] = [
    "connection",
    "keep-alive",
    "proxy-connection",
    "transfer-encoding",
    "upgrade",
];

/// One stream's side of an exchange.
pub struct H2Stream {
    worker: Rc<Worker>,
    guard: Rc<Guard>,
    respond: RefCell<SendResponse<Bytes>>,
    send: RefCell<Option<SendStream<Bytes>>>,
    /// The response head, until the first body bytes or the end.
    head: Option<http::Response<()>>,
    /// Body bytes gathered before they go out (a small body rides with the head).
    pending: Vec<u8>,
    body: Option<RecvStream>,
    body_limit: u64,
    body_timeout: Duration,
    /// Request body bytes received (read or discarded).
    body_read: u64,
    /// A `Content-Length` over `client_max_body_size`: refused before any is read.
    declared_too_large: Option<u64>,
    body_done: bool,
    send_timeout: Duration,
    chunk: usize,
    head_only: bool,
    /// Body bytes still to send when the head gave the length: the DATA frame that
    /// sends the last of them carries END_STREAM (no empty frame after it).
    remaining: Option<u64>,
    head_bytes: u64,
    body_bytes: u64,
    /// The stream is over from this side: finished, reset, or failed.
    ended: bool,
    broken: bool,
    /// `limit_rate`: the stream's own pace (the connection's other streams are not
    /// slowed by it).
    rate: RateLimit,
}

impl std::fmt::Debug for H2Stream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("H2Stream")
            .field("ended", &self.ended)
            .field("broken", &self.broken)
            .finish_non_exhaustive()
    }
}

impl H2Stream {
    pub fn new(
        worker: Rc<Worker>,
        guard: Rc<Guard>,
        respond: SendResponse<Bytes>,
        body: RecvStream,
    ) -> H2Stream {
        let body_done = body.is_end_stream();
        H2Stream {
            worker,
            guard,
            respond: RefCell::new(respond),
            send: RefCell::new(None),
            head: None,
            pending: Vec::new(),
            body: Some(body),
            body_limit: 0,
            body_timeout: Duration::from_secs(60),
            body_read: 0,
            declared_too_large: None,
            body_done,
            send_timeout: Duration::from_secs(60),
            chunk: 8 * 1024,
            head_only: false,
            remaining: None,
            head_bytes: 0,
            body_bytes: 0,
            ended: false,
            broken: false,
            rate: RateLimit::none(),
        }
    }

    /// Sends the head if it still waits; `end`: no body follows.
    fn send_head_now(&mut self, end: bool) -> bool {
        let Some(head) = self.head.take() else {
            return !self.broken;
        };
        match self.respond.get_mut().send_response(head, end) {
            Ok(stream) => {
                *self.send.get_mut() = Some(stream);
                if end {
                    self.ended = true;
                }
                true
            }
            Err(_) => self.fail(),
        }
    }

    fn fail(&mut self) -> bool {
        self.broken = true;
        false
    }

    /// Sends `data` in DATA frames as the window allows; `end` marks the last.
    async fn push(&mut self, mut data: Bytes, end: bool) -> bool {
        if self.broken || self.ended {
            return false;
        }
        if !self.send_head_now(false) {
            return false;
        }
        if data.is_empty() && !end {
            return true;
        }
        loop {
            let want = data.len().min(self.chunk);
            if want == 0 {
                // Only the end is left: an empty DATA frame with END_STREAM.
                return self.send_data(Bytes::new(), true);
            }
            let want = self.rate.pace(want).await;
            let granted = {
                let Some(send) = self.send.get_mut().as_mut() else {
                    return self.fail();
                };
                send.reserve_capacity(want);
                timeout(self.send_timeout, poll_fn(|cx| send.poll_capacity(cx))).await
            };
            let n = match granted {
                Ok(Some(Ok(n))) => n.min(want),
                Ok(_) => return self.fail(),
                Err(_) => {
                    // The client keeps its window shut: as HTTP/1.1's send_timeout.
                    if let Some(send) = self.send.get_mut().as_mut() {
                        send.send_reset(Reason::CANCEL);
                    }
                    self.worker.error_log.info(
                        None,
                        "client timed out (110: Connection timed out) while sending response to client (HTTP/2 flow control window closed)",
                    );
                    return self.fail();
                }
            };
            if n == 0 {
                continue;
            }
            let piece = data.split_to(n);
            let last = end && data.is_empty();
            if !self.send_data(piece, last) {
                return false;
            }
            self.rate.sent(n);
            if data.is_empty() || self.ended {
                return true;
            }
        }
    }

    fn send_data(&mut self, piece: Bytes, last: bool) -> bool {
        let last = last
            || match &mut self.remaining {
                Some(left) => {
                    *left = left.saturating_sub(piece.len() as u64);
                    *left == 0 && !piece.is_empty()
                }
                None => false,
            };
        let sent = match self.send.get_mut().as_mut() {
            Some(send) => send.send_data(piece, last).is_ok(),
            None => false,
        };
        if !sent {
            return self.fail();
        }
        if last {
            self.ended = true;
        }
        true
    }

    /// Sends the gathered body bytes.
    async fn push_pending(&mut self, end: bool) -> bool {
        let data = Bytes::from(std::mem::take(&mut self.pending));
        self.push(data, end).await
    }
}

/// Builds the HEADERS frame's fields from a composed head.
struct Fields<'a> {
    worker: &'a Worker,
    response: http::Response<()>,
    /// The fields as `Name: value` lines, for `$sent_http_*`, when a variable reads
    /// them (`None` otherwise: no copy per response).
    lines: Option<Vec<u8>>,
    /// The fields' size as lines (`$bytes_sent` counts it for the head).
    size: usize,
    /// The body's length when the head gives it.
    length: Option<u64>,
}

thread_local! {
    /// The `date` field of the current second.
    static DATE: std::cell::RefCell<Option<(u64, http::HeaderValue)>> = const { std::cell::RefCell::new(None) };
}

impl Fields<'_> {
    /// A field vestibule writes itself, already a value.
    fn add_value(&mut self, name: http::HeaderName, value: http::HeaderValue) {
        self.size += name.as_str().len() + value.len() + 4;
        if let Some(lines) = &mut self.lines {
            lines.extend_from_slice(name.as_str().as_bytes());
            lines.extend_from_slice(b": ");
            lines.extend_from_slice(value.as_bytes());
            lines.extend_from_slice(b"\r\n");
        }
        self.response.headers_mut().append(name, value);
    }

    fn add(&mut self, name: &str, value: &[u8]) {
        if CONNECTION_SPECIFIC
            .iter()
            .any(|c| c.eq_ignore_ascii_case(name))
        {
            return;
        }
        let (Ok(n), Ok(v)) = (
            http::HeaderName::from_bytes(name.as_bytes()),
            http::HeaderValue::from_bytes(value),
        ) else {
            return;
        };
        self.size += name.len() + value.len() + 4;
        if let Some(lines) = &mut self.lines {
            lines.extend_from_slice(name.as_bytes());
            lines.extend_from_slice(b": ");
            lines.extend_from_slice(value);
            lines.extend_from_slice(b"\r\n");
        }
        self.response.headers_mut().append(n, v);
    }
}

impl HeadWriter for Fields<'_> {
    fn status(&mut self, status: u16, _reason: &str) {
        if let Ok(s) = http::StatusCode::from_u16(status) {
            *self.response.status_mut() = s;
        }
    }

    fn server(&mut self, tokens: bool) {
        let value = if tokens {
            response::SERVER_TOKEN
        } else {
            "vestibule"
        };
        // A static value: no copy per response.
        self.add_value(http::header::SERVER, http::HeaderValue::from_static(value));
    }

    fn date(&mut self) {
        // One value per second, shared by every response of it (a `Bytes` clone).
        let now = crate::sys::coarse_wall_time();
        let second = now
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        let value = DATE.with(|cell| {
            let mut cached = cell.borrow_mut();
            match &*cached {
                Some((s, v)) if *s == second => v.clone(),
                _ => {
                    let text = self.worker.date.borrow_mut().http_date(now).to_string();
                    let v = http::HeaderValue::from_str(&text)
                        .unwrap_or_else(|_| http::HeaderValue::from_static(""));
                    *cached = Some((second, v.clone()));
                    v
                }
            }
        });
        self.add_value(http::header::DATE, value);
    }

    fn known(&mut self, name: &'static str, value: &[u8]) {
        self.add(name, value);
    }

    fn header(&mut self, name: &str, value: &[u8]) {
        self.add(name, value);
    }

    fn protocol_lines(&mut self, length: BodyLength, _upgrade: bool) {
        if let BodyLength::Known(n) = length {
            self.length = Some(n);
            self.add_value(http::header::CONTENT_LENGTH, http::HeaderValue::from(n));
        }
    }
}

impl Downstream for H2Stream {
    fn server_chosen(&mut self, _x: &Exchange, conf: &LocationConf) {
        self.send_timeout = conf.send_timeout;
    }

    fn close_after(&mut self) {}

    fn keeps_alive(&self) -> bool {
        true
    }

    async fn start_body(&mut self, x: &Exchange, limit: u64, timeout: Duration) -> bool {
        self.body_limit = limit;
        self.body_timeout = timeout;
        if let RequestFraming::ContentLength(n) = x.head.framing {
            if limit > 0 && n > limit {
                // Refused before a byte is read, as HTTP/1.1 refuses it.
                self.declared_too_large = Some(n);
            }
        }
        true
    }

    async fn read_body(&mut self, out: &mut Vec<u8>) -> Result<usize, BodyReadError> {
        if let Some(n) = self.declared_too_large {
            return Err(BodyReadError::TooLarge(n));
        }
        if self.body_done {
            return Ok(0);
        }
        let Some(body) = self.body.as_mut() else {
            return Ok(0);
        };
        let next = match timeout(self.body_timeout, body.data()).await {
            Err(_) => return Err(BodyReadError::Timeout),
            Ok(next) => next,
        };
        match next {
            None => {
                self.body_done = true;
                Ok(0)
            }
            Some(Err(e)) => {
                self.body_done = true;
                if e.is_reset() || e.is_io() {
                    Err(BodyReadError::Closed)
                } else {
                    Err(BodyReadError::Io(std::io::Error::other(e.to_string())))
                }
            }
            Some(Ok(data)) => {
                let _ = body.flow_control().release_capacity(data.len());
                self.body_read += data.len() as u64;
                if self.body_limit > 0 && self.body_read > self.body_limit {
                    return Err(BodyReadError::TooLarge(self.body_read));
                }
                if body.is_end_stream() {
                    self.body_done = true;
                }
                out.extend_from_slice(&data);
                Ok(data.len())
            }
        }
    }

    fn body_done(&self) -> bool {
        self.body_done
    }

    fn skip_body(&mut self, x: &mut Exchange, _conf: &LocationConf) -> Result<(), BodyReadError> {
        // The stream's body needs no draining: what is not read is dropped with the
        // stream, and the window is the stream's own.
        if x.body == BodyState::Unread && !self.body_done {
            x.body = BodyState::Consumed;
        }
        Ok(())
    }

    fn send_head(&mut self, x: &mut Exchange, conf: &LocationConf, head: ResponseHead<'_>) {
        let mut fields = Fields {
            worker: &self.worker,
            response: http::Response::new(()),
            lines: crate::config::template::sent_headers_read().then(Vec::new),
            size: 0,
            length: None,
        };
        response::compose(x, conf, head, &mut fields);
        if let Some(lines) = fields.lines.take() {
            x.sent_head = lines;
        }
        // nginx counts the HPACK-encoded size; the field lines' size is near it for a
        // first response and an upper bound after.
        self.head_bytes = 9 + fields.size as u64;
        self.remaining = match (&fields.length, x.head.method == Method::Head) {
            (Some(n), false) if *n > 0 => Some(*n),
            _ => None,
        };
        self.head = Some(fields.response);
        self.head_only = x.head.method == Method::Head;
        self.send_timeout = conf.send_timeout;
        self.rate = RateLimit::new(
            x.limit_rate.unwrap_or(conf.limits.rate),
            conf.limits.rate_after,
            x.start,
        );
        // The head counts against the rate, as on HTTP/1.1.
        self.rate.sent(self.head_bytes as usize);
        self.chunk = usize::try_from(conf.http2_chunk_size)
            .unwrap_or(16 * 1024)
            .clamp(1, 16 * 1024);
    }

    async fn flush(&mut self) -> bool {
        if !self.pending.is_empty() {
            return self.push_pending(false).await;
        }
        self.send_head_now(false)
    }

    async fn send_body(&mut self, data: &[u8]) -> bool {
        if self.broken {
            return false;
        }
        self.body_bytes += data.len() as u64;
        self.pending.extend_from_slice(data);
        self.pending.len() < self.chunk || self.push_pending(false).await
    }

    async fn send_owned(&mut self, data: Vec<u8>) -> Option<Vec<u8>> {
        self.body_bytes += data.len() as u64;
        if !self.pending.is_empty() && !self.push_pending(false).await {
            return None;
        }
        self.push(Bytes::from(data), false).await.then(Vec::new)
    }

    async fn send_file(&mut self, file: &File, offset: u64, len: u64, _zero_copy: bool) -> bool {
        if !self.pending.is_empty() && !self.push_pending(false).await {
            return false;
        }
        let end = offset.saturating_add(len);
        let mut at = offset;
        while at < end {
            let want = usize::try_from(end - at)
                .unwrap_or(FILE_PIECE)
                .min(FILE_PIECE);
            let mut piece = vec![0; want];
            match file.read_at(&mut piece, at) {
                Ok(0) | Err(_) => return self.fail(),
                Ok(n) => piece.truncate(n),
            }
            at += piece.len() as u64;
            self.body_bytes += piece.len() as u64;
            if !self.push(Bytes::from(piece), false).await {
                return false;
            }
        }
        true
    }

    async fn finish(&mut self) -> bool {
        if self.broken {
            return false;
        }
        if self.ended {
            return true;
        }
        if self.head.is_some() && self.pending.is_empty() {
            return self.send_head_now(true);
        }
        self.push_pending(true).await
    }

    async fn closed(&self) {
        poll_fn(|cx| match self.respond.borrow_mut().poll_reset(cx) {
            std::task::Poll::Ready(_) => std::task::Poll::Ready(()),
            std::task::Poll::Pending => std::task::Poll::Pending,
        })
        .await;
    }

    async fn upgrade(&mut self) -> Option<Upgraded<'_>> {
        // WebSocket over HTTP/2 (RFC 8441) is not offered: browsers then use HTTP/1.1.
        None
    }

    async fn end(&mut self, x: &mut Exchange, done: bool) -> bool {
        if !done || self.broken || !self.ended {
            if !self.ended {
                // A response cut short must not look whole: reset the stream.
                match self.send.get_mut().as_mut() {
                    Some(send) => send.send_reset(Reason::INTERNAL_ERROR),
                    None => self.respond.get_mut().send_reset(Reason::INTERNAL_ERROR),
                }
                self.ended = true;
            }
            if self.client_reset() {
                self.guard.reset_by_client();
            }
        } else {
            self.guard.finished();
            self.discard_body().await;
        }
        x.body_bytes_received += self.body_read;
        if self.head_bytes > 0 {
            x.bytes_sent = self.head_bytes + self.body_bytes;
            x.body_bytes_sent = self.body_bytes;
        }
        true
    }
}

impl H2Stream {
    /// Reads and drops the rest of a request body the response did not use, for at
    /// most [`DISCARD_TIME`], as nginx discards one: the codec then checks it against
    /// its `Content-Length` and its trailers, and resets the stream when they are
    /// malformed; a client still sending after that gets the stream reset with
    /// `NO_ERROR` (RFC 9113 §8.1).
    async fn discard_body(&mut self) {
        let Some(body) = self.body.as_mut() else {
            return;
        };
        if self.body_done || body.is_end_stream() {
            return;
        }
        let until = std::time::Instant::now() + DISCARD_TIME;
        loop {
            let left = until.saturating_duration_since(std::time::Instant::now());
            match timeout(left, body.data()).await {
                Ok(Some(Ok(data))) => {
                    let _ = body.flow_control().release_capacity(data.len());
                    self.body_read += data.len() as u64;
                }
                Ok(Some(Err(_))) | Ok(None) | Err(_) => return,
            }
        }
    }

    /// Whether the client has reset the stream.
    fn client_reset(&self) -> bool {
        let waker = std::task::Waker::from(std::sync::Arc::new(NoWake));
        let mut cx = std::task::Context::from_waker(&waker);
        matches!(
            self.respond.borrow_mut().poll_reset(&mut cx),
            std::task::Poll::Ready(Ok(_))
        )
    }
}

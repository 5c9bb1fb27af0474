//! The HTTP/1.1 downstream: the [`Downstream`] implementation for one request on a
//! client connection. It owns everything HTTP/1.1 about the response — the status
//! line, `Content-Length` or chunked framing (through [`ChunkedEncoder`]) or a
//! close-delimited body for an HTTP/1.0 client, `Connection` and `Keep-Alive`, the
//! keep-alive decision, `100 Continue`, `send_timeout` on every write — and reads the
//! request body with [`BodyReader`]. Handlers see none of it.
//!
//! Writes are gathered: the head waits in `pending` for the first body bytes, so a
//! small response (an error page, a small file, a proxied response that came with its
//! head) leaves in one write, as before the interface existed.

use std::fs::File;
use std::os::unix::fs::FileExt;
use std::time::Duration;

use super::body::BodyReader;
use super::Worker;
use crate::config::model::LocationConf;
use crate::exchange::body::BodyReadError;
use crate::exchange::rate::RateLimit;
use crate::exchange::response::{self, BodyLength, HeadWriter, ResponseHead};
use crate::exchange::{context, BodyState, Downstream, Exchange, Upgraded};
use crate::http1::browser::Browser;
use crate::http1::{write, BodyDecoder, ChunkedEncoder, Method, RequestFraming, Version};
use crate::net::stream::Stream;
use crate::net::timer::timeout;

/// The `Server` line for `server_tokens on` and for `off`.
const SERVER_LINE: &[u8] =
    concat!("Server: vestibule/", env!("CARGO_PKG_VERSION"), "\r\n").as_bytes();
const SERVER_LINE_BARE: &[u8] = b"Server: vestibule\r\n";

/// File ranges up to this size are read into the pending write (with the head, for a
/// small file) rather than sent on their own.
pub const SMALL_FILE: u64 = 16 * 1024;

/// Without sendfile, larger file ranges are read and written in pieces of this size.
const FILE_PIECE: usize = 256 * 1024;

/// Room reserved for a response head (nginx's default `proxy_buffer_size` is 4k; a
/// typical head is 200–600 bytes).
const HEAD_CAPACITY: usize = 1024;

/// Gathered body bytes are written once they reach this much.
const GATHER_LIMIT: usize = 64 * 1024;

/// How the response body is delimited on the wire.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Framing {
    /// Nothing after the head, or a length the head gave.
    Delimited,
    Chunked,
    /// The body ends with the connection (an HTTP/1.0 client, length unknown).
    Close,
}

/// One request's HTTP/1.1 side.
#[derive(Debug)]
pub struct Http1<'c> {
    worker: &'c Worker,
    stream: &'c mut Stream,
    /// Bytes read from the client and not yet used (the body, pipelined requests).
    input: &'c mut Vec<u8>,
    /// Requests served on the connection, this one included.
    served: u64,
    /// Whether the connection may carry another request, as far as known now.
    keep_alive: bool,
    framing: Framing,
    chunked: ChunkedEncoder,
    /// The head and body bytes not yet written.
    pending: Vec<u8>,
    send_timeout: Duration,
    client_body_timeout: Duration,
    /// The request body, once a handler started reading it.
    body: Option<BodyReader>,
    /// The unread rest of a body the response does not use: dropped after it.
    rest: Option<BodyReader>,
    head_bytes: u64,
    body_bytes: u64,
    /// A write failed or timed out: nothing more goes out.
    broken: bool,
    /// `send_timeout` or `client_body_timeout` ended the request: with
    /// `reset_timedout_connection` its connection closes with a reset.
    timed_out: bool,
    /// The response answers a HEAD request: its head is all there is.
    head_only: bool,
    /// `limit_rate` (bytes per second, 0: none) and what paces it.
    rate: RateLimit,
}

impl<'c> Http1<'c> {
    pub fn new(
        worker: &'c Worker,
        stream: &'c mut Stream,
        input: &'c mut Vec<u8>,
        served: u64,
    ) -> Http1<'c> {
        Http1 {
            worker,
            stream,
            input,
            served,
            keep_alive: false,
            framing: Framing::Delimited,
            chunked: ChunkedEncoder::new(),
            pending: Vec::new(),
            send_timeout: Duration::from_secs(60),
            client_body_timeout: Duration::from_secs(60),
            body: None,
            rest: None,
            head_bytes: 0,
            body_bytes: 0,
            broken: false,
            timed_out: false,
            head_only: false,
            rate: RateLimit::none(),
        }
    }

    /// Writes `data` under `limit_rate`: as much as the allowance lets at a time.
    async fn write_paced(&mut self, data: Vec<u8>) -> Option<Vec<u8>> {
        let mut at = 0;
        while at < data.len() {
            let n = self.rate.pace(data.len() - at).await;
            let piece = data.get(at..at + n).map(<[u8]>::to_vec).unwrap_or_default();
            match timeout(self.send_timeout, self.stream.write_all(piece)).await {
                Ok((Ok(()), _)) => {}
                Ok(_) => {
                    self.fail();
                    return None;
                }
                Err(_) => {
                    self.time_out();
                    return None;
                }
            }
            at += n;
            self.rate.sent(n);
        }
        Some(data)
    }

    async fn write_pending(&mut self) -> bool {
        if self.broken {
            return false;
        }
        if self.pending.is_empty() {
            return true;
        }
        let out = std::mem::take(&mut self.pending);
        if self.rate.limited() {
            return match self.write_paced(out).await {
                Some(mut buf) => {
                    buf.clear();
                    self.pending = buf;
                    true
                }
                None => false,
            };
        }
        match timeout(self.send_timeout, self.stream.write_all(out)).await {
            Ok((Ok(()), mut buf)) => {
                buf.clear();
                self.pending = buf;
                true
            }
            Ok(_) => self.fail(),
            Err(_) => self.time_out(),
        }
    }

    /// A large file range, after what is pending: sendfile, or pieces read and written.
    async fn send_large(&mut self, file: &File, offset: u64, len: u64, zero_copy: bool) -> bool {
        if !self.write_pending().await {
            return false;
        }
        let zero_copy = zero_copy && !self.rate.limited();
        if zero_copy && self.framing != Framing::Chunked && self.stream.can_sendfile() {
            let sent = self
                .stream
                .sendfile(file, offset, len, self.send_timeout)
                .await;
            return match sent {
                Ok(n) if n == len => true,
                Err(e) if e.kind() == std::io::ErrorKind::TimedOut => self.time_out(),
                _ => self.fail(),
            };
        }
        let end = offset.saturating_add(len);
        let mut at = offset;
        let mut piece = Vec::new();
        while at < end {
            let want = usize::try_from(end - at)
                .unwrap_or(FILE_PIECE)
                .min(FILE_PIECE);
            // The previous piece's bytes are overwritten by the read: only a first
            // or a longer piece is zero-filled (2 % of a worker's CPU over TLS).
            piece.resize(want, 0);
            match file.read_at(&mut piece, at) {
                Ok(0) | Err(_) => return self.fail(),
                Ok(n) => piece.truncate(n),
            }
            at += piece.len() as u64;
            match self.write_piece(std::mem::take(&mut piece)).await {
                Some(buf) => piece = buf,
                None => return false,
            }
        }
        true
    }

    /// Writes one body piece as it is, or framed as a chunk; gives the buffer back.
    async fn write_piece(&mut self, data: Vec<u8>) -> Option<Vec<u8>> {
        if self.broken {
            return None;
        }
        if self.framing == Framing::Chunked || !self.pending.is_empty() {
            self.gather(&data);
            return self.write_pending().await.then_some(data);
        }
        if self.rate.limited() {
            return self.write_paced(data).await;
        }
        match timeout(self.send_timeout, self.stream.write_all(data)).await {
            Ok((Ok(()), buf)) => Some(buf),
            Ok(_) => {
                self.fail();
                None
            }
            Err(_) => {
                self.time_out();
                None
            }
        }
    }

    /// Appends body bytes to the pending write, framed as the head said.
    fn gather(&mut self, data: &[u8]) {
        if self.framing == Framing::Chunked {
            self.chunked.encode(data, &mut self.pending);
        } else {
            self.pending.extend_from_slice(data);
        }
    }

    fn fail(&mut self) -> bool {
        self.broken = true;
        false
    }

    /// A write that `send_timeout` ended: as [`Http1::fail`], and remembered.
    fn time_out(&mut self) -> bool {
        self.timed_out = true;
        self.fail()
    }

    /// Whether a client timeout ended the request (`reset_timedout_connection`).
    pub fn timed_out(&self) -> bool {
        self.timed_out
    }

    /// Notes a body read that `client_body_timeout` ended.
    fn note_body_error<T>(&mut self, r: Result<T, BodyReadError>) -> Result<T, BodyReadError> {
        if matches!(r, Err(BodyReadError::Timeout)) {
            self.timed_out = true;
        }
        r
    }

    /// Drops the rest of a request body nobody read, so the next request can be read.
    async fn discard_rest(&mut self, x: &mut Exchange) -> bool {
        let mut reader = match self.rest.take() {
            Some(r) => r,
            None if x.body == BodyState::Unread && x.head.framing != RequestFraming::None => {
                BodyReader::new(
                    BodyDecoder::for_request(x.head.framing),
                    0,
                    self.client_body_timeout,
                )
            }
            None => return true,
        };
        let discarded = reader.discard(self.stream, self.input).await;
        x.body_bytes_received += reader.received();
        let ok = self.note_body_error(discarded).is_ok();
        x.body = if ok {
            BodyState::Consumed
        } else {
            BodyState::Partial
        };
        ok
    }
}

/// Whether `keepalive_disable` refuses this client keep-alive, as nginx's
/// `ngx_http_update_location_config`: `msie6` after a POST from MSIE 4 to 6 (not XP
/// SP2's), `safari` for Safari on macOS and iOS. The `User-Agent` is read only when a
/// flag could apply (nginx's default `msie6` reads it for POSTs only).
fn keepalive_disabled(x: &Exchange, conf: &LocationConf) -> bool {
    let disable = conf.keepalive_disable;
    let msie6 = disable.msie6 && x.head.method == Method::Post;
    if !msie6 && !disable.safari {
        return false;
    }
    let Some(ua) = x
        .head
        .headers
        .iter()
        .find(|h| h.name.eq_ignore_ascii_case("user-agent"))
    else {
        return false;
    };
    let browser = Browser::from_user_agent(ua.value.as_slice());
    (msie6 && browser.msie6) || (disable.safari && browser.safari)
}

/// `n` in decimal, in `buf`.
fn decimal(mut n: u64, buf: &mut [u8; 20]) -> &[u8] {
    let mut at = buf.len();
    loop {
        at -= 1;
        buf[at] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            return &buf[at..];
        }
    }
}

/// Writes a head's lines as HTTP/1.1 text into `out`.
struct Lines<'a> {
    out: &'a mut Vec<u8>,
    worker: &'a Worker,
    keep_alive: bool,
    client_http11: bool,
    /// A response to HEAD: no body follows, so none is framed.
    head_only: bool,
    keepalive_header_timeout: Option<Duration>,
    framing: Framing,
    /// Where the header lines begin (after the status line), for `$sent_http_*`.
    lines_start: usize,
}

impl HeadWriter for Lines<'_> {
    fn status(&mut self, status: u16, reason: &str) {
        write::write_status_line(Version::Http11, status, reason, self.out);
        self.lines_start = self.out.len();
    }

    fn server(&mut self, tokens: bool) {
        // The lines vestibule writes itself are literals or values it formats: copied
        // whole, not scanned for control bytes as a configured or upstream value is.
        let line = if tokens {
            SERVER_LINE
        } else {
            SERVER_LINE_BARE
        };
        write::write_known_line(line, self.out);
    }

    fn date(&mut self) {
        let mut date = self.worker.date.borrow_mut();
        write::write_formatted_header(
            "Date",
            date.http_date(crate::sys::coarse_wall_time()).as_bytes(),
            self.out,
        );
    }

    fn known(&mut self, name: &'static str, value: &[u8]) {
        write::write_known_header(name, value, self.out);
    }

    fn header(&mut self, name: &str, value: &[u8]) {
        write::write_header(name, value, self.out);
    }

    fn protocol_lines(&mut self, length: BodyLength, upgrade: bool) {
        if upgrade {
            // The upstream's `Upgrade` and `Connection: upgrade` are in the headers.
            return;
        }
        let mut digits = [0u8; 20];
        match length {
            // nginx frames no body after a HEAD: neither chunked nor a close.
            BodyLength::None => {}
            BodyLength::Unknown if self.head_only => {}
            BodyLength::Known(n) => {
                write::write_formatted_header("Content-Length", decimal(n, &mut digits), self.out)
            }
            BodyLength::Unknown if self.client_http11 => {
                self.framing = Framing::Chunked;
                write::write_known_line(b"Transfer-Encoding: chunked\r\n", self.out);
            }
            BodyLength::Unknown => {
                self.framing = Framing::Close;
                self.keep_alive = false;
            }
        }
        if self.keep_alive {
            write::write_known_line(b"Connection: keep-alive\r\n", self.out);
            if let Some(t) = self.keepalive_header_timeout {
                let value = format!("timeout={}", t.as_secs());
                write::write_known_header("Keep-Alive", value.as_bytes(), self.out);
            }
        } else {
            write::write_known_line(b"Connection: close\r\n", self.out);
        }
    }
}

impl Downstream for Http1<'_> {
    fn server_chosen(&mut self, x: &Exchange, conf: &LocationConf) {
        self.keep_alive = !self.worker.draining.get()
            && x.head.keep_alive
            && !conf.keepalive_timeout.is_zero()
            && self.served < u64::from(conf.keepalive_requests);
        self.send_timeout = conf.send_timeout;
    }

    fn close_after(&mut self) {
        self.keep_alive = false;
    }

    fn keeps_alive(&self) -> bool {
        self.keep_alive
    }

    async fn start_body(&mut self, x: &Exchange, limit: u64, body_timeout: Duration) -> bool {
        self.body = Some(BodyReader::new(
            BodyDecoder::for_request(x.head.framing),
            limit,
            body_timeout,
        ));
        if !x.head.expect_continue {
            return true;
        }
        let sent = timeout(
            self.send_timeout,
            self.stream.write_static(write::CONTINUE_100),
        )
        .await;
        matches!(sent, Ok(Ok(())))
    }

    async fn read_body(&mut self, out: &mut Vec<u8>) -> Result<usize, BodyReadError> {
        let read = match &mut self.body {
            Some(reader) => reader.read_into(self.stream, self.input, out).await,
            None => Ok(0),
        };
        self.note_body_error(read)
    }

    fn body_done(&self) -> bool {
        self.body.as_ref().map_or(true, BodyReader::is_done)
    }

    fn skip_body(&mut self, x: &mut Exchange, conf: &LocationConf) -> Result<(), BodyReadError> {
        if x.body != BodyState::Unread || x.head.framing == RequestFraming::None {
            return Ok(());
        }
        let mut reader = BodyReader::new(
            BodyDecoder::for_request(x.head.framing),
            0,
            conf.client_body_timeout,
        );
        let taken = reader.take_buffered(self.input);
        x.body_bytes_received += reader.received();
        match taken {
            Ok(true) => {
                x.body = BodyState::Consumed;
                Ok(())
            }
            Ok(false) => {
                // Counted again from zero when the rest is discarded.
                reader.reset_received();
                self.rest = Some(reader);
                Ok(())
            }
            Err(e) => {
                x.body = BodyState::Partial;
                self.worker
                    .error_log
                    .info(Some(x.connection), &format!("{e}{}", context(x, None)));
                Err(e)
            }
        }
    }

    fn send_head(&mut self, x: &mut Exchange, conf: &LocationConf, head: ResponseHead<'_>) {
        // A graceful shutdown began while the request was in flight: say goodbye. Part
        // of the body read leaves where the next request would start unknown.
        let keep_alive = self.keep_alive
            && !self.worker.draining.get()
            && x.body != BodyState::Partial
            && !keepalive_disabled(x, conf);
        let mut out = std::mem::take(&mut self.pending);
        // One allocation for the head and a small body that rides with it (growing
        // from empty cost about 1,500 instructions per request under callgrind).
        let rides_along = match head.length {
            BodyLength::Known(n) if n <= SMALL_FILE && x.head.method != Method::Head => n as usize,
            _ => 0,
        };
        out.reserve(HEAD_CAPACITY + rides_along);
        // A client waiting to send a body nobody reads gets `100 Continue` first, so
        // that the body comes and can be dropped (not counted as sent).
        let continued = if keep_alive && self.rest.is_some() && x.head.expect_continue {
            out.extend_from_slice(write::CONTINUE_100);
            write::CONTINUE_100.len()
        } else {
            0
        };
        let mut lines = Lines {
            out: &mut out,
            worker: self.worker,
            keep_alive,
            client_http11: x.head.version == Version::Http11,
            head_only: x.head.method == Method::Head,
            keepalive_header_timeout: conf.keepalive_header_timeout,
            framing: Framing::Delimited,
            lines_start: 0,
        };
        response::compose(x, conf, head, &mut lines);
        let lines_start = lines.lines_start;
        self.keep_alive = lines.keep_alive;
        self.framing = lines.framing;
        if crate::config::template::sent_headers_read() {
            // The header lines as sent, one copy, for `$sent_http_*`.
            x.sent_head = out
                .get(lines_start..)
                .map(<[u8]>::to_vec)
                .unwrap_or_default();
        }
        write::write_head_end(&mut out);
        self.head_bytes = (out.len() - continued) as u64;
        self.head_only = x.head.method == Method::Head;
        self.send_timeout = conf.send_timeout;
        self.client_body_timeout = conf.client_body_timeout;
        self.rate = RateLimit::new(
            x.limit_rate.unwrap_or(conf.limits.rate),
            conf.limits.rate_after,
            x.start,
        );
        self.pending = out;
    }

    async fn flush(&mut self) -> bool {
        self.write_pending().await
    }

    async fn send_body(&mut self, data: &[u8]) -> bool {
        self.body_bytes += data.len() as u64;
        self.gather(data);
        self.pending.len() < GATHER_LIMIT || self.write_pending().await
    }

    async fn send_owned(&mut self, data: Vec<u8>) -> Option<Vec<u8>> {
        self.body_bytes += data.len() as u64;
        self.write_piece(data).await
    }

    async fn send_file(&mut self, file: &File, offset: u64, len: u64, zero_copy: bool) -> bool {
        if self.broken {
            return false;
        }
        if len <= SMALL_FILE && self.framing != Framing::Chunked {
            // A small range rides along in the pending write.
            let at = self.pending.len();
            let Ok(n) = usize::try_from(len) else {
                return self.fail();
            };
            self.pending.resize(at + n, 0);
            let read = self
                .pending
                .get_mut(at..)
                .map(|buf| file.read_exact_at(buf, offset));
            if !matches!(read, Some(Ok(()))) {
                self.pending.truncate(at);
                return self.fail();
            }
            self.body_bytes += len;
            return self.pending.len() < GATHER_LIMIT || self.write_pending().await;
        }
        let ok = self.send_large(file, offset, len, zero_copy).await;
        if ok {
            self.body_bytes += len;
        }
        ok
    }

    async fn finish(&mut self) -> bool {
        if self.framing == Framing::Chunked && !self.head_only {
            self.chunked.finish(&mut self.pending);
        }
        self.write_pending().await
    }

    async fn closed(&self) {
        self.stream.closed_by_peer().await;
    }

    async fn upgrade(&mut self) -> Option<Upgraded<'_>> {
        if !self.write_pending().await {
            return None;
        }
        self.keep_alive = false;
        Some(Upgraded {
            stream: self.stream,
            input: std::mem::take(self.input),
        })
    }

    async fn end(&mut self, x: &mut Exchange, done: bool) -> bool {
        x.body_bytes_received += self.body.as_ref().map_or(0, BodyReader::received);
        if self.head_bytes > 0 {
            x.bytes_sent = self.head_bytes + self.body_bytes;
            x.body_bytes_sent = self.body_bytes;
        }
        if !done || self.broken || self.framing == Framing::Close {
            return false;
        }
        if !self.keep_alive || x.body == BodyState::Partial {
            return false;
        }
        self.discard_rest(x).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_server_lines_spell_the_server_token() {
        let line = |l: &[u8]| String::from_utf8(l.to_vec()).unwrap();
        assert_eq!(
            line(SERVER_LINE),
            format!("Server: {}\r\n", response::SERVER_TOKEN)
        );
        assert_eq!(line(SERVER_LINE_BARE), "Server: vestibule\r\n");
    }
}

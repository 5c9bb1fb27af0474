//! The downstream interface: what a handler may ask of the client's side of an
//! exchange. An HTTP/1.1 connection implements it today (`worker::h1`, plaintext);
//! a TLS connection and an HTTP/2 stream are the next implementations. Handlers
//! (`proxy`, `static_files`, `return` and error pages) call only this, so they never
//! write protocol bytes or touch a socket: framing (`Content-Length`, chunked, a close),
//! `Connection`/`Keep-Alive`, `100 Continue`, `send_timeout` and the keep-alive
//! decision belong to the implementation.
//!
//! Static dispatch: handlers are generic over `D: Downstream`, so the plaintext path
//! is compiled for its one implementation with no virtual call and no box.

use std::fs::File;
use std::time::Duration;

use super::body::BodyReadError;
use super::response::ResponseHead;
use super::Exchange;
use crate::config::model::LocationConf;
use crate::net::stream::Stream;

/// The client's connection, taken over after `101 Switching Protocols`.
#[derive(Debug)]
pub struct Upgraded<'a> {
    pub stream: &'a mut Stream,
    /// Bytes the client sent after its request head, for the upstream.
    pub input: Vec<u8>,
}

/// The client's side of one exchange. Send methods return `false` (or `None`) when
/// the client is gone or too slow (`send_timeout`): the handler then stops and
/// reports [`Outcome::Close`](super::Outcome::Close).
#[allow(async_fn_in_trait)] // single-threaded runtime: the futures need not be Send
pub trait Downstream {
    /// The server block is known: its settings bound the connection's keep-alive
    /// (`keepalive_timeout`, `keepalive_requests`).
    fn server_chosen(&mut self, x: &Exchange, conf: &LocationConf);

    /// After this response the connection ends (an error the protocol cannot recover
    /// from, a 5xx or 413 vestibule answers itself). An HTTP/2 stream ignores it.
    fn close_after(&mut self);

    /// Whether the connection is to carry another request after this one, as far as
    /// is known now (an HTTP/2 connection always is).
    fn keeps_alive(&self) -> bool;

    // --- the request body ---

    /// Starts reading the request body under `client_max_body_size` (0: no limit) and
    /// `client_body_timeout`; a client that waits for `100 Continue` gets it now.
    /// False when the client is gone.
    async fn start_body(&mut self, x: &Exchange, limit: u64, timeout: Duration) -> bool;

    /// Appends the next piece of the body to `out`; `Ok(0)` at its end.
    async fn read_body(&mut self, out: &mut Vec<u8>) -> Result<usize, BodyReadError>;

    /// Whether the whole body has been read.
    fn body_done(&self) -> bool;

    /// The response will not read the request body: takes what of it has arrived
    /// (a malformed part is an error, answered with its status instead) and drops the
    /// rest after the response, so the connection can go on.
    fn skip_body(&mut self, x: &mut Exchange, conf: &LocationConf) -> Result<(), BodyReadError>;

    // --- the response ---

    /// Queues the response head; it leaves with the first body bytes, on `flush`, or
    /// on `finish`, so a small response goes out in one write.
    fn send_head(&mut self, x: &mut Exchange, conf: &LocationConf, head: ResponseHead<'_>);

    /// Sends what is queued now (a head whose body may be slow to come).
    async fn flush(&mut self) -> bool;

    /// Sends body bytes (copied when small enough to ride with what is queued).
    async fn send_body(&mut self, data: &[u8]) -> bool;

    /// Sends a body piece by ownership and gives the buffer back for reuse.
    async fn send_owned(&mut self, data: Vec<u8>) -> Option<Vec<u8>>;

    /// Sends `len` bytes of `file` from `offset`: zero-copy (sendfile) when
    /// `zero_copy` and the transport allows it, read and write otherwise. False also
    /// when the file turned out shorter.
    async fn send_file(&mut self, file: &File, offset: u64, len: u64, zero_copy: bool) -> bool;

    /// Ends the body (the last chunk, for chunked framing) and sends what is queued.
    async fn finish(&mut self) -> bool;

    /// Resolves when the client has closed or reset its connection.
    async fn closed(&self);

    /// Sends what is queued and hands over the connection after a `101`. `None`
    /// where the protocol cannot (an HTTP/2 stream).
    async fn upgrade(&mut self) -> Option<Upgraded<'_>>;

    /// After the handler: drops an unread request body, records the bytes sent in the
    /// exchange, and says whether the connection may carry another request.
    async fn end(&mut self, x: &mut Exchange, done: bool) -> bool;
}

/// The request-side methods of a downstream that wraps another in `self.inner` and
/// changes only the response (compression's filter, the cache's recorder): each is
/// passed through as it is.
macro_rules! forward_request_side {
    () => {
        fn server_chosen(
            &mut self,
            x: &$crate::exchange::Exchange,
            conf: &$crate::config::model::LocationConf,
        ) {
            self.inner.server_chosen(x, conf);
        }

        fn close_after(&mut self) {
            self.inner.close_after();
        }

        fn keeps_alive(&self) -> bool {
            self.inner.keeps_alive()
        }

        async fn start_body(
            &mut self,
            x: &$crate::exchange::Exchange,
            limit: u64,
            timeout: std::time::Duration,
        ) -> bool {
            self.inner.start_body(x, limit, timeout).await
        }

        async fn read_body(
            &mut self,
            out: &mut Vec<u8>,
        ) -> Result<usize, $crate::exchange::body::BodyReadError> {
            self.inner.read_body(out).await
        }

        fn body_done(&self) -> bool {
            self.inner.body_done()
        }

        fn skip_body(
            &mut self,
            x: &mut $crate::exchange::Exchange,
            conf: &$crate::config::model::LocationConf,
        ) -> Result<(), $crate::exchange::body::BodyReadError> {
            self.inner.skip_body(x, conf)
        }
    };
}
pub(crate) use forward_request_side;

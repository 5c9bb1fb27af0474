//! Which side of an exchange an error comes from (Pingora's `ErrorSource`). The side
//! decides the status, the log line and whether anyone is blamed: a client's broken
//! upload is a 400/408 in the client's name and never counts against the upstream's
//! `max_fails`; an upstream's failure may move the request to another server
//! (`proxy_next_upstream`); vestibule's own (a temp file it could not write) is a 500
//! and blames neither.

/// Who caused an error.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Side {
    /// The client (downstream): it closed, stalled or sent something malformed.
    Client,
    /// The upstream server: refused, timed out, closed early, answered badly.
    Upstream,
    /// Vestibule itself or its host (a temp file, no server left to try).
    Internal,
}

/// An error that knows its side and whether the request may be tried again elsewhere.
pub trait Sided {
    fn side(&self) -> Side;

    /// Whether another upstream server may take the request after this error, as far
    /// as the error goes (`proxy_next_upstream` and the method decide the rest): only
    /// an upstream's own failure allows it.
    fn retryable(&self) -> bool {
        self.side() == Side::Upstream
    }
}

//! TLS termination: rustls with the aws-lc-rs provider, over monoio's `poll-io`
//! (tokio's `AsyncRead`/`AsyncWrite` on the same io_uring or epoll driver) with
//! tokio-rustls. Only accepted TLS connections take this path; plain text keeps
//! completion I/O.
//!
//! ```text
//! accept ─► first byte 0x16? ─no─► plain HTTP on a TLS port (497)
//!              │ yes
//!              ▼
//!      ClientHello (LazyConfigAcceptor) ─► SNI ─► server_name rules ─► that server's
//!      ServerConfig (built with the snapshot) ─► handshake ─► net::Stream::Tls ─► Http1
//! ```
//!
//! - [`configs`]: one rustls `ServerConfig` per server block that can be chosen on a
//!   TLS address, built when a configuration snapshot is; certificates chosen by
//!   what the client can verify (ECDSA before RSA).
//! - [`handshake`]: the accept side, under `ssl_handshake_timeout` (or
//!   `client_header_timeout`), and what it settled for the `$ssl_*` variables.
//! - [`Shared`]: what every snapshot of a worker reuses: the session-ticket keys and
//!   the session caches.

pub mod configs;
pub mod handshake;
pub mod x509;

use std::sync::Arc;

use rustls::server::ProducesTickets;

/// What TLS state outlives a configuration snapshot in a worker: the ticket
/// encrypter (so tickets issued before an in-place reload still resume after it).
#[derive(Debug, Clone)]
pub struct Shared {
    pub ticketer: Option<Arc<dyn ProducesTickets>>,
}

impl Shared {
    /// A worker's own ticket keys (rustls's ticketer, rotated in this process).
    pub fn for_process() -> Shared {
        Shared {
            ticketer: rustls::crypto::aws_lc_rs::Ticketer::new().ok(),
        }
    }
}

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
//! - [`zones`]: the shared session caches and ticket keys (the master's side).
//! - [`Shared`]: what every snapshot of a worker reuses: those zones.

pub mod client_auth;
pub mod configs;
pub mod handshake;
pub mod upstream;
pub mod x509;
pub mod zones;

use crate::zone::Zones;

/// What TLS state outlives a configuration snapshot in a worker: the zones the
/// master made (session caches, ticket keys), which every snapshot's rustls stores
/// are built over, so a resumption works on any worker and across reloads.
#[derive(Debug, Clone, Default)]
pub struct Shared {
    pub zones: Zones,
}

impl Shared {
    pub fn new(zones: Zones) -> Shared {
        Shared { zones }
    }
}

//! A server's TLS settings (nginx's `ngx_http_ssl_module`), merged http → server and
//! already loaded: certificates and keys are parsed when the configuration is built,
//! so `-t` reports a bad key with its file and line, and a worker never opens a key
//! file (the master read it, as root, before dropping privileges).

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use rustls::crypto::SupportedKxGroup;
use rustls::sign::CertifiedKey;
use rustls::{ProtocolVersion, SupportedCipherSuite};

use crate::config::source::Span;

/// One `ssl_certificate` / `ssl_certificate_key` pair, parsed.
#[derive(Debug, Clone)]
pub struct Certificate {
    pub cert_path: PathBuf,
    pub key_path: PathBuf,
    /// The chain (leaf first) and the signing key, as rustls serves them.
    pub key: Arc<CertifiedKey>,
    /// What the key signs with, which decides which clients may be given it.
    pub algorithm: KeyAlgorithm,
    /// Where `ssl_certificate` was written.
    pub span: Span,
}

/// A certificate key's family: a server with an ECDSA and an RSA certificate gives
/// each client the first one it can verify, ECDSA preferred (smaller, faster).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyAlgorithm {
    Ecdsa,
    Ed25519,
    Rsa,
    Other,
}

/// `ssl_session_cache`: nginx's default is `none`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct SessionCache {
    /// `off`: clients are told sessions are never reused. `none` (the default) stores
    /// nothing either; both leave tickets to resume with.
    pub off: bool,
    /// `builtin[:SIZE]`: a cache per worker, of SIZE sessions (nginx: 20480).
    pub builtin: Option<usize>,
    /// `shared:NAME:SIZE`: one cache in a zone every worker uses.
    pub shared: Option<(String, usize)>,
}

/// `ssl_verify_client`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum VerifyClient {
    #[default]
    Off,
    /// A valid certificate is required: without one, the request gets 400.
    On,
    /// A certificate is asked for; a request without one still goes on.
    Optional,
    /// As `optional`, and a certificate no CA vouches for goes on too.
    OptionalNoCa,
}

/// The TLS side of one server block.
#[derive(Debug, Clone)]
pub struct ServerTls {
    /// Every `ssl_certificate` pair, in configuration order.
    pub certificates: Vec<Certificate>,
    /// `ssl_protocols`: the versions rustls offers (TLSv1.2, TLSv1.3).
    pub protocols: Vec<ProtocolVersion>,
    /// `ssl_ciphers` mapped onto rustls's suites (TLS 1.3 suites always included, as
    /// OpenSSL's cipher list does not touch them either).
    pub cipher_suites: Vec<SupportedCipherSuite>,
    /// `ssl_ecdh_curve`.
    pub kx_groups: Vec<&'static dyn SupportedKxGroup>,
    /// `ssl_prefer_server_ciphers`.
    pub prefer_server_ciphers: bool,
    pub session_cache: SessionCache,
    /// `ssl_session_timeout` (default 5m).
    pub session_timeout: Duration,
    /// `ssl_session_tickets` (default on).
    pub session_tickets: bool,
    /// `ssl_session_ticket_key` files' bytes, the first one encrypts.
    pub ticket_keys: Vec<Vec<u8>>,
    /// `ssl_buffer_size`: the largest TLS record sent (default 16k).
    pub buffer_size: usize,
    /// `ssl_stapling_file`'s DER response, stapled to every certificate.
    pub ocsp: Option<Vec<u8>>,
    pub verify_client: VerifyClient,
    /// `ssl_client_certificate`: the CAs client certificates must chain to (DER).
    pub client_cas: Vec<rustls_pki_types::CertificateDer<'static>>,
    /// `ssl_verify_depth` (default 1).
    pub verify_depth: u32,
    /// `ssl_reject_handshake on`: a handshake that selects this server is refused.
    pub reject_handshake: bool,
    /// `ssl on;` (nginx before 1.25): every listen of this server speaks TLS.
    pub legacy_ssl_on: bool,
    /// `ssl_handshake_timeout` (nginx 1.25.3); `client_header_timeout` when unset.
    pub handshake_timeout: Option<Duration>,
}

impl ServerTls {
    /// Whether TLS 1.2 is offered.
    pub fn offers(&self, version: ProtocolVersion) -> bool {
        self.protocols.contains(&version)
    }
}

//! rustls `ServerConfig`s from the configuration's [`ServerTls`] settings: one per
//! server block, built with the snapshot, so a reload's new certificates serve every
//! handshake after the swap while open connections keep theirs.

use std::sync::Arc;

use rustls::crypto::CryptoProvider;
use rustls::server::{
    ClientHello, NoServerSessionStorage, ResolvesServerCert, ServerSessionMemoryCache,
};
use rustls::sign::CertifiedKey;
use rustls::{ServerConfig, SupportedProtocolVersion};

use super::client_auth::DeferredVerifier;
use super::Shared;
use crate::config::model::tls::{KeyAlgorithm, ServerTls};
use crate::config::model::HttpConfig;

/// The largest TLS record rustls sends (a 16 KiB fragment and its header).
const MAX_RECORD: usize = 16384 + 5;

/// One `ServerConfig` per server block (by index), `None` for a server without
/// certificates or whose settings rustls refused (logged when built).
#[derive(Debug, Default)]
pub struct ServerConfigs {
    by_server: Vec<Option<Arc<ServerConfig>>>,
    /// Servers with `ssl_reject_handshake on`, by index.
    rejecting: Vec<bool>,
    /// Each server's client certificate check, for the verdict after a handshake.
    verifiers: Vec<Option<Arc<DeferredVerifier>>>,
    /// Why a server's config could not be built, by index, for the error log.
    failures: Vec<(usize, String)>,
}

impl ServerConfigs {
    /// Builds the configs of every server that has certificates.
    pub fn build(http: Option<&HttpConfig>, shared: &Shared) -> ServerConfigs {
        let mut out = ServerConfigs::default();
        let Some(http) = http else {
            return out;
        };
        // Addresses some `listen ... http2` names: every server on them offers h2.
        let h2_addrs: Vec<_> = http
            .servers
            .iter()
            .flat_map(|s| s.listen.iter())
            .filter(|l| l.http2)
            .map(|l| &l.addr)
            .collect();
        for (i, server) in http.servers.iter().enumerate() {
            let h2 =
                server.http2.enabled || server.listen.iter().any(|l| h2_addrs.contains(&&l.addr));
            out.rejecting.push(server.tls.reject_handshake);
            out.verifiers
                .push(DeferredVerifier::for_server(&server.tls).ok().flatten());
            let config = if server.tls.certificates.is_empty() || server.tls.reject_handshake {
                None
            } else {
                match server_config(&server.tls, shared, h2) {
                    Ok(c) => Some(c),
                    Err(e) => {
                        out.failures.push((i, e.to_string()));
                        None
                    }
                }
            };
            out.by_server.push(config);
        }
        out
    }

    /// Why rustls refused a server's settings, if it did.
    pub fn failure(&self, server: usize) -> Option<&str> {
        self.failures
            .iter()
            .find(|(i, _)| *i == server)
            .map(|(_, why)| why.as_str())
    }

    /// Whether a handshake choosing this server is refused (`ssl_reject_handshake`).
    pub fn rejects(&self, server: usize) -> bool {
        self.rejecting.get(server).copied().unwrap_or(false)
    }

    /// The client certificate check of a server (`ssl_verify_client` not off).
    pub fn verifier(&self, server: usize) -> Option<&DeferredVerifier> {
        self.verifiers.get(server).and_then(Option::as_deref)
    }

    pub fn get(&self, server: usize) -> Option<&Arc<ServerConfig>> {
        self.by_server.get(server).and_then(Option::as_ref)
    }
}

/// One server's rustls configuration; `h2`: ALPN offers HTTP/2 before HTTP/1.1.
pub fn server_config(
    tls: &ServerTls,
    shared: &Shared,
    h2: bool,
) -> Result<Arc<ServerConfig>, rustls::Error> {
    let provider = CryptoProvider {
        cipher_suites: tls.cipher_suites.clone(),
        kx_groups: tls.kx_groups.clone(),
        ..rustls::crypto::aws_lc_rs::default_provider()
    };
    let versions: Vec<&'static SupportedProtocolVersion> = rustls::ALL_VERSIONS
        .iter()
        .copied()
        .filter(|v| tls.offers(v.version))
        .collect();
    let builder = ServerConfig::builder_with_provider(Arc::new(provider))
        .with_protocol_versions(&versions)?;
    let builder = match DeferredVerifier::for_server(tls)? {
        None => builder.with_no_client_auth(),
        Some(verifier) => builder.with_client_cert_verifier(verifier),
    };
    let mut config = builder.with_cert_resolver(Arc::new(ByKeyType::new(tls)));
    config.ignore_client_order = tls.prefer_server_ciphers;
    config.max_fragment_size =
        (tls.buffer_size < MAX_RECORD - 5).then_some(tls.buffer_size.clamp(512, MAX_RECORD));
    config.alpn_protocols = if h2 {
        vec![b"h2".to_vec(), b"http/1.1".to_vec()]
    } else {
        vec![b"http/1.1".to_vec()]
    };
    let cache = &tls.session_cache;
    let shared_cache = cache.shared.as_ref().and_then(|(name, _)| {
        crate::zone::tls_sessions::SessionCache::in_zones(&shared.zones, name, tls.session_timeout)
    });
    config.session_storage = match (cache.off, shared_cache, cache.builtin) {
        (true, _, _) => Arc::new(NoServerSessionStorage {}),
        (false, Some(shared), _) => shared,
        (false, None, Some(n)) => ServerSessionMemoryCache::new(n.max(1)),
        // `none`, nginx's default: nothing stored (tickets still resume).
        (false, None, None) => Arc::new(NoServerSessionStorage {}),
    };
    let ticketer = tls.session_tickets.then(|| {
        crate::zone::tickets::Ticketer::in_zones(
            &shared.zones,
            &super::zones::ticket_zone(tls),
            tls.session_timeout,
        )
    });
    match ticketer.flatten() {
        Some(t) => config.ticketer = t,
        // Stateful TLS 1.3 resumption from the cache: one ticket per handshake, so
        // each full handshake takes one entry of the cache, not two.
        None => {
            config.send_tls13_tickets = usize::from(config.session_storage.can_cache());
        }
    }
    Ok(Arc::new(config))
}

/// A server's certificates, offered by what the client can verify: ECDSA first
/// (smaller and faster to sign), then Ed25519, then RSA, then anything else.
#[derive(Debug)]
struct ByKeyType {
    keys: Vec<Arc<CertifiedKey>>,
}

impl ByKeyType {
    fn new(tls: &ServerTls) -> ByKeyType {
        let rank = |a: KeyAlgorithm| match a {
            KeyAlgorithm::Ecdsa => 0,
            KeyAlgorithm::Ed25519 => 1,
            KeyAlgorithm::Rsa => 2,
            KeyAlgorithm::Other => 3,
        };
        let mut certs: Vec<_> = tls.certificates.iter().collect();
        certs.sort_by_key(|c| rank(c.algorithm));
        ByKeyType {
            keys: certs.into_iter().map(|c| Arc::clone(&c.key)).collect(),
        }
    }
}

impl ResolvesServerCert for ByKeyType {
    fn resolve(&self, hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        let schemes = hello.signature_schemes();
        self.keys
            .iter()
            .find(|k| k.key.choose_scheme(schemes).is_some())
            .or_else(|| self.keys.first())
            .cloned()
    }
}

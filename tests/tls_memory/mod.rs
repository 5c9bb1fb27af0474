//! TLS test helpers: certificates made at test time (rcgen), rustls configurations as
//! a worker would build them around the shared zones, and handshakes driven over
//! memory buffers or a socket.

#![allow(dead_code, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::io::{Read, Write};
use std::sync::Arc;

use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer, ServerName};
use rustls::server::{ProducesTickets, StoresServerSessions, WebPkiClientVerifier};
use rustls::{
    ClientConfig, ClientConnection, HandshakeKind, RootCertStore, ServerConfig, ServerConnection,
    SupportedProtocolVersion,
};

/// The name the server certificate is for, and the SNI the client sends.
pub const HOST: &str = "www.example.com";

/// A CA, a server certificate and a client certificate it signed, all of one key type.
pub struct Pki {
    pub roots: Arc<RootCertStore>,
    pub server_chain: Vec<CertificateDer<'static>>,
    pub server_key: Vec<u8>,
    pub client_chain: Vec<CertificateDer<'static>>,
    pub client_key: Vec<u8>,
}

impl Pki {
    /// `alg`: `rcgen::PKCS_ECDSA_P256_SHA256` or `rcgen::PKCS_RSA_SHA256` (2048 bits).
    pub fn new(alg: &'static rcgen::SignatureAlgorithm) -> Pki {
        let ca_key = rcgen::KeyPair::generate_for(alg).unwrap();
        let mut ca_params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
        ca_params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        let ca = ca_params.self_signed(&ca_key).unwrap();
        let leaf = |name: &str| {
            let key = rcgen::KeyPair::generate_for(alg).unwrap();
            let cert = rcgen::CertificateParams::new(vec![name.to_owned()])
                .unwrap()
                .signed_by(&key, &ca, &ca_key)
                .unwrap();
            (
                vec![cert.der().clone(), ca.der().clone()],
                key.serialize_der(),
            )
        };
        let (server_chain, server_key) = leaf(HOST);
        let (client_chain, client_key) = leaf("client.example.com");
        let mut roots = RootCertStore::empty();
        roots.add(ca.der().clone()).unwrap();
        Pki {
            roots: Arc::new(roots),
            server_chain,
            server_key,
            client_chain,
            client_key,
        }
    }
}

/// What a worker's server configuration shares with the others.
#[derive(Clone)]
pub struct Shared {
    pub cache: Option<Arc<dyn StoresServerSessions>>,
    pub ticketer: Option<Arc<dyn ProducesTickets>>,
    pub client_auth: bool,
    pub alpn: bool,
}

pub fn server_config(
    pki: &Pki,
    version: &'static SupportedProtocolVersion,
    shared: &Shared,
) -> Arc<ServerConfig> {
    let builder = ServerConfig::builder_with_protocol_versions(&[version]);
    let builder = if shared.client_auth {
        builder.with_client_cert_verifier(
            WebPkiClientVerifier::builder(Arc::clone(&pki.roots))
                .build()
                .unwrap(),
        )
    } else {
        builder.with_no_client_auth()
    };
    let mut config = builder
        .with_single_cert(
            pki.server_chain.clone(),
            PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(pki.server_key.clone())),
        )
        .unwrap();
    if let Some(cache) = &shared.cache {
        config.session_storage = Arc::clone(cache);
    }
    if let Some(ticketer) = &shared.ticketer {
        config.ticketer = Arc::clone(ticketer);
    }
    if shared.alpn {
        config.alpn_protocols = vec![b"http/1.1".to_vec()];
    }
    Arc::new(config)
}

/// A client configuration; it remembers sessions (rustls's default in-memory store),
/// so a second connection made with it offers to resume.
pub fn client_config(
    pki: &Pki,
    version: &'static SupportedProtocolVersion,
    client_auth: bool,
    alpn: bool,
) -> Arc<ClientConfig> {
    let builder = ClientConfig::builder_with_protocol_versions(&[version])
        .with_root_certificates(Arc::clone(&pki.roots));
    let mut config = if client_auth {
        builder
            .with_client_auth_cert(
                pki.client_chain.clone(),
                PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(pki.client_key.clone())),
            )
            .unwrap()
    } else {
        builder.with_no_client_auth()
    };
    if alpn {
        config.alpn_protocols = vec![b"http/1.1".to_vec()];
    }
    Arc::new(config)
}

/// One connection over memory buffers, until neither side has anything to send
/// (TLS 1.3 tickets, sent after the handshake, included). Returns the client's and
/// the server's view of the handshake.
pub fn connect_in_memory(
    client: &Arc<ClientConfig>,
    server: &Arc<ServerConfig>,
) -> (HandshakeKind, HandshakeKind) {
    let mut c =
        ClientConnection::new(Arc::clone(client), ServerName::try_from(HOST).unwrap()).unwrap();
    let mut s = ServerConnection::new(Arc::clone(server)).unwrap();
    for _ in 0..20 {
        let to_server = drain(&mut c);
        feed(&to_server, &mut s);
        let to_client = drain(&mut s);
        feed(&to_client, &mut c);
        if to_server.is_empty() && to_client.is_empty() && !c.is_handshaking() {
            assert!(!s.is_handshaking());
            return (c.handshake_kind().unwrap(), s.handshake_kind().unwrap());
        }
    }
    panic!("the handshake did not finish");
}

fn drain<D>(conn: &mut rustls::ConnectionCommon<D>) -> Vec<u8> {
    let mut buf = Vec::new();
    while conn.wants_write() {
        conn.write_tls(&mut buf).unwrap();
    }
    buf
}

fn feed<D>(bytes: &[u8], conn: &mut rustls::ConnectionCommon<D>) {
    let mut rest = bytes;
    while !rest.is_empty() {
        conn.read_tls(&mut rest).unwrap();
        conn.process_new_packets().unwrap();
    }
}

/// What the server sends once the handshake is done: reading it makes the client
/// take in the tickets sent before it.
pub const GREETING: &[u8] = b"hello";

/// The client's side of one connection over `sock`: the handshake, then the
/// greeting. Returns how the handshake went.
pub fn client_over(sock: &mut (impl Read + Write), config: &Arc<ClientConfig>) -> HandshakeKind {
    let mut conn =
        ClientConnection::new(Arc::clone(config), ServerName::try_from(HOST).unwrap()).unwrap();
    let mut tls = rustls::Stream::new(&mut conn, sock);
    let mut greeting = [0u8; GREETING.len()];
    tls.read_exact(&mut greeting).unwrap();
    assert_eq!(greeting, GREETING);
    conn.handshake_kind().unwrap()
}

/// The server's side of one connection over `sock`: the handshake (and any tickets),
/// then the greeting. Returns how the handshake went, or the error.
pub fn server_over(
    sock: &mut (impl Read + Write),
    config: &Arc<ServerConfig>,
) -> Result<HandshakeKind, String> {
    let mut conn = ServerConnection::new(Arc::clone(config)).map_err(|e| e.to_string())?;
    let mut tls = rustls::Stream::new(&mut conn, sock);
    tls.write_all(GREETING).map_err(|e| e.to_string())?;
    tls.flush().map_err(|e| e.to_string())?;
    conn.handshake_kind()
        .ok_or_else(|| "no handshake".to_owned())
}

//! The server side of a TLS handshake on an accepted TCP connection: tell TLS from
//! plain HTTP by the first byte, read the ClientHello, choose the server block by
//! SNI with the address's `server_name` rules (nginx's `ngx_http_ssl_servername`),
//! and finish the handshake with that server's `ServerConfig`.

use std::time::Duration;

use monoio::net::TcpStream;
use rustls::server::Acceptor;
use tokio_rustls::LazyConfigAcceptor;

use super::configs::ServerConfigs;
use crate::exchange::peer::TlsInfo;
use crate::net::stream::TlsStream;
use crate::route::ListenGroup;

/// The most encrypted bytes a session holds before its writer waits for the socket:
/// a static file piece (256 KiB) and its record overhead.
const SEND_BUFFER: usize = 320 * 1024;

/// The first byte of a TLS record carrying a handshake message.
const HANDSHAKE_RECORD: u8 = 0x16;

/// How opening a connection on a TLS address ended.
pub enum Opened {
    Tls(Box<TlsStream>, TlsInfo),
    /// The client's first byte is not a TLS handshake: plain HTTP (nginx's 497).
    Plain(TcpStream),
    /// The client went away, or sent nothing in time, before a ClientHello.
    Closed,
    /// The handshake failed; the reason is for the error log (nginx logs these at
    /// info: a client's broken handshake is not the server's error).
    Failed(String),
}

impl std::fmt::Debug for Opened {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Opened::Tls(_, info) => write!(f, "Tls({info:?})"),
            Opened::Plain(_) => f.write_str("Plain"),
            Opened::Closed => f.write_str("Closed"),
            Opened::Failed(why) => write!(f, "Failed({why})"),
        }
    }
}

/// Opens a connection accepted on a TLS address, within `timeout`.
pub async fn open(
    stream: TcpStream,
    group: &ListenGroup,
    configs: &ServerConfigs,
    timeout: Duration,
) -> Opened {
    match crate::net::timer::timeout(timeout, open_in_time(stream, group, configs)).await {
        Ok(opened) => opened,
        Err(_) => Opened::Failed(
            "client timed out (110: Connection timed out) while SSL handshaking".to_string(),
        ),
    }
}

async fn open_in_time(stream: TcpStream, group: &ListenGroup, configs: &ServerConfigs) -> Opened {
    match first_byte(&stream).await {
        None => return Opened::Closed,
        Some(HANDSHAKE_RECORD) => {}
        Some(_) => return Opened::Plain(stream),
    }
    let io = match stream.try_into_poll_io() {
        Ok(io) => io,
        Err((e, _)) => return Opened::Failed(format!("poll-io conversion failed: {e}")),
    };
    let start = match LazyConfigAcceptor::new(Acceptor::default(), io).await {
        Ok(start) => start,
        Err(e) => return Opened::Failed(format!("{e} while reading the ClientHello")),
    };
    let hello = start.client_hello();
    let sni = hello.server_name().map(str::to_ascii_lowercase);
    // No SNI: the address's default server, as OpenSSL never calls nginx's callback.
    let server = match &sni {
        Some(name) => group.select(Some(name)).server,
        None => group.default_server(),
    };
    let Some(config) = configs.get(server.index()) else {
        let why = if configs.rejects(server.index()) {
            "SSL handshake rejected (ssl_reject_handshake)".to_string()
        } else if let Some(refused) = configs.failure(server.index()) {
            format!("the server's TLS settings were refused by rustls ({refused}) while SSL handshaking")
        } else {
            "no \"ssl_certificate\" is defined in server listening on SSL port while SSL handshaking".to_string()
        };
        return Opened::Failed(why);
    };
    let mut stream = match start.into_stream(std::sync::Arc::clone(config)).await {
        Ok(s) => s,
        Err(e) => {
            return Opened::Failed(format!(
                "SSL_do_handshake() failed ({e}) while SSL handshaking"
            ))
        }
    };
    // rustls keeps 64 KiB of records by default, which cuts a 256 KiB file piece
    // into four writes; one piece at a time halves the writes per MiB (docs/tls.md).
    stream.get_mut().1.set_buffer_limit(Some(SEND_BUFFER));
    let info = settled(&stream, sni, configs.verifier(server.index()));
    Opened::Tls(Box::new(stream), info)
}

/// The first byte the client sent, without taking it; `None` when the connection
/// closed or failed first.
async fn first_byte(stream: &TcpStream) -> Option<u8> {
    let mut byte = [0u8];
    crate::net::stream::peek_arrived(stream, &mut byte).await?;
    Some(byte[0])
}

/// What the handshake settled, for the `$ssl_*` variables.
fn settled(
    stream: &TlsStream,
    sni: Option<String>,
    verifier: Option<&super::client_auth::DeferredVerifier>,
) -> TlsInfo {
    let conn = stream.get_ref().1;
    let protocol = match conn.protocol_version() {
        Some(rustls::ProtocolVersion::TLSv1_3) => "TLSv1.3",
        Some(rustls::ProtocolVersion::TLSv1_2) => "TLSv1.2",
        _ => "",
    };
    let cipher = conn
        .negotiated_cipher_suite()
        .map(|s| openssl_name(s.suite()))
        .unwrap_or("");
    let client_verify = match verifier {
        Some(v) => v.verdict(conn.peer_certificates()),
        None => "NONE".to_string(),
    };
    let (client_s_dn, client_i_dn, client_serial) = conn
        .peer_certificates()
        .and_then(|chain| chain.first())
        .and_then(|leaf| super::x509::names(leaf.as_ref()))
        .unwrap_or_default();
    TlsInfo {
        protocol,
        cipher,
        server_name: sni,
        session_reused: conn.handshake_kind() == Some(rustls::HandshakeKind::Resumed),
        client_verify,
        client_s_dn,
        client_i_dn,
        client_serial,
        alpn: conn
            .alpn_protocol()
            .map(|p| String::from_utf8_lossy(p).into_owned())
            .unwrap_or_default(),
    }
}

/// A suite's name as OpenSSL (and so nginx's `$ssl_cipher`) writes it.
pub fn openssl_name(suite: rustls::CipherSuite) -> &'static str {
    use rustls::CipherSuite as C;
    match suite {
        C::TLS13_AES_128_GCM_SHA256 => "TLS_AES_128_GCM_SHA256",
        C::TLS13_AES_256_GCM_SHA384 => "TLS_AES_256_GCM_SHA384",
        C::TLS13_CHACHA20_POLY1305_SHA256 => "TLS_CHACHA20_POLY1305_SHA256",
        C::TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256 => "ECDHE-ECDSA-AES128-GCM-SHA256",
        C::TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384 => "ECDHE-ECDSA-AES256-GCM-SHA384",
        C::TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256 => "ECDHE-ECDSA-CHACHA20-POLY1305",
        C::TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256 => "ECDHE-RSA-AES128-GCM-SHA256",
        C::TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384 => "ECDHE-RSA-AES256-GCM-SHA384",
        C::TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256 => "ECDHE-RSA-CHACHA20-POLY1305",
        _ => "",
    }
}

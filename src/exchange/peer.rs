//! Who is on the other end of a connection and where it arrived: the connection-level
//! values behind `$remote_addr`, `$server_port`, `$scheme` and server selection.

use std::net::IpAddr;
use std::rc::Rc;

use crate::config::model::ListenAddr;

/// Who is on the other end of an accepted connection, and where it arrived.
#[derive(Debug, Clone)]
pub struct Peer {
    /// `$remote_addr`: the client's IP, or `unix:` for a unix socket client.
    pub remote_addr: String,
    /// `$remote_port` (0 for a unix socket client, or an address from a header that
    /// gave no port).
    pub remote_port: u16,
    /// The client's IP as a value, `None` for a unix socket client: what
    /// `set_real_ip_from` is matched against.
    pub remote_ip: Option<IpAddr>,
    /// When the connection was accepted (`$connection_time`).
    pub accepted: std::time::Instant,
    /// Set on a request's own copy of the peer once the realip module replaced the
    /// address (`worker::realip`): the connection's peer, which
    /// `$realip_remote_addr` and `$realip_remote_port` give. The connection keeps its
    /// own peer, so the next request on it starts from the real one again.
    pub realip_original: Option<Rc<Peer>>,
    /// The local address it arrived on; server selection finds the servers listening
    /// on exactly this address, or on the wildcard of its port.
    pub listen: ListenAddr,
    /// `$server_addr` and `$server_port`: the local end of the connection.
    pub server_addr: String,
    pub server_port: u16,
    /// `$scheme`: how the client reached this connection (`http`, or `https` over
    /// TLS). Redirects, `Forwarded` and `X-Forwarded-Proto` take it from here.
    pub scheme: &'static str,
    /// What the TLS handshake settled, for the `$ssl_*` variables; `None` in plain
    /// text.
    pub tls: Option<Rc<TlsInfo>>,
}

/// What a connection's TLS handshake settled.
#[derive(Debug, Clone, Default)]
pub struct TlsInfo {
    /// `$ssl_protocol`: `TLSv1.2` or `TLSv1.3`.
    pub protocol: &'static str,
    /// `$ssl_cipher`, in OpenSSL's naming (`TLS_AES_128_GCM_SHA256`,
    /// `ECDHE-RSA-AES128-GCM-SHA256`).
    pub cipher: &'static str,
    /// `$ssl_server_name`: the SNI name the client sent, lowercased.
    pub server_name: Option<String>,
    /// `$ssl_session_reused`: `r` when the session was resumed.
    pub session_reused: bool,
    /// `$ssl_client_verify`: `NONE`, `SUCCESS` or `FAILED:reason`.
    pub client_verify: String,
    /// `$ssl_client_s_dn` and `$ssl_client_i_dn` (RFC 2253 form), empty without a
    /// client certificate.
    pub client_s_dn: String,
    pub client_i_dn: String,
    /// `$ssl_client_serial` (hex, as OpenSSL prints it).
    pub client_serial: String,
    /// `$ssl_alpn_protocol`.
    pub alpn: String,
}

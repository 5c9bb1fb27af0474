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
    /// `$scheme`: how the client reached this connection (`http`; TLS will make it
    /// `https`). Redirects, `Forwarded` and `X-Forwarded-Proto` take it from here.
    pub scheme: &'static str,
}

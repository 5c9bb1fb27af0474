//! Listening sockets: bound with socket2 (`SO_REUSEPORT`, the configured backlog) in the
//! process that owns them, then adopted by a worker's runtime. Binding happens before
//! any runtime exists, so the same code serves the single-process mode and, later, a
//! master that forks workers.

use std::io;
use std::net::SocketAddr;
use std::os::unix::net::UnixListener as StdUnixListener;
use std::path::Path;

use monoio::io::CancelHandle;
use socket2::{Domain, Protocol, SockAddr, Socket, Type};

use crate::config::model::{Config, Listen, ListenAddr};
use crate::exchange::Peer;
use crate::net::stream::Stream;

/// A bound, listening socket not yet attached to a runtime.
#[derive(Debug)]
pub struct BoundListener {
    pub addr: ListenAddr,
    pub socket: BoundSocket,
}

#[derive(Debug)]
pub enum BoundSocket {
    Tcp(std::net::TcpListener),
    Unix(StdUnixListener),
}

/// Why a listen address could not be bound, with nginx's wording.
#[derive(Debug, thiserror::Error)]
#[error("bind() to {addr} failed ({errno}: {reason})")]
pub struct BindError {
    pub addr: ListenAddr,
    pub errno: i32,
    pub reason: String,
}

impl BoundListener {
    /// Another descriptor for the same listening socket (`dup`): every worker holds
    /// its own, the master keeps the original.
    pub fn try_clone(&self) -> io::Result<BoundListener> {
        let socket = match &self.socket {
            BoundSocket::Tcp(s) => BoundSocket::Tcp(s.try_clone()?),
            BoundSocket::Unix(s) => BoundSocket::Unix(s.try_clone()?),
        };
        Ok(BoundListener {
            addr: self.addr.clone(),
            socket,
        })
    }
}

impl BindError {
    fn new(addr: &ListenAddr, e: &io::Error) -> BindError {
        let errno = e.raw_os_error().unwrap_or(0);
        BindError {
            addr: addr.clone(),
            errno,
            reason: crate::sys::strerror(errno),
        }
    }
}

/// Every distinct listen address of the configuration, merged across servers (socket
/// options from the first `listen` that names the address).
pub fn listen_addresses(config: &Config) -> Vec<&Listen> {
    let mut out: Vec<&Listen> = Vec::new();
    let Some(http) = &config.http else {
        return out;
    };
    for server in &http.servers {
        for l in &server.listen {
            if !out.iter().any(|o| o.addr == l.addr) {
                out.push(l);
            }
        }
    }
    out
}

/// Binds every listen address of the configuration.
pub fn bind_all(config: &Config) -> Result<Vec<BoundListener>, BindError> {
    listen_addresses(config).into_iter().map(bind).collect()
}

/// Binds one address, as nginx: `SO_REUSEADDR`, `SO_REUSEPORT` (so a replacement
/// process can bind beside this one), non-blocking, the configured backlog.
pub fn bind(listen: &Listen) -> Result<BoundListener, BindError> {
    let err = |e: io::Error| BindError::new(&listen.addr, &e);
    let socket = match &listen.addr {
        ListenAddr::Tcp(addr) => BoundSocket::Tcp(bind_tcp(*addr, listen.backlog).map_err(err)?),
        ListenAddr::Unix(path) => BoundSocket::Unix(bind_unix(path, listen.backlog).map_err(err)?),
    };
    Ok(BoundListener {
        addr: listen.addr.clone(),
        socket,
    })
}

fn bind_tcp(addr: SocketAddr, backlog: i32) -> io::Result<std::net::TcpListener> {
    let socket = Socket::new(Domain::for_address(addr), Type::STREAM, Some(Protocol::TCP))?;
    socket.set_reuse_address(true)?;
    socket.set_reuse_port(true)?;
    if addr.is_ipv6() {
        socket.set_only_v6(true)?;
    }
    socket.set_nonblocking(true)?;
    socket.bind(&addr.into())?;
    socket.listen(backlog)?;
    Ok(socket.into())
}

fn bind_unix(path: &Path, backlog: i32) -> io::Result<StdUnixListener> {
    // A socket file left by a previous run would make bind fail with EADDRINUSE; nginx
    // removes it too. Only a socket is removed, never another kind of file.
    if let Ok(meta) = std::fs::symlink_metadata(path) {
        use std::os::unix::fs::FileTypeExt;
        if meta.file_type().is_socket() {
            std::fs::remove_file(path)?;
        }
    }
    let socket = Socket::new(Domain::UNIX, Type::STREAM, None)?;
    socket.set_nonblocking(true)?;
    socket.bind(&SockAddr::unix(path)?)?;
    socket.listen(backlog)?;
    Ok(socket.into())
}

/// A listener attached to the worker's runtime.
#[derive(Debug)]
pub enum Listener {
    Tcp(monoio::net::TcpListener),
    Unix(monoio::net::UnixListener),
}

impl Listener {
    pub fn adopt(bound: BoundListener) -> io::Result<(ListenAddr, Listener)> {
        let l = match bound.socket {
            BoundSocket::Tcp(s) => Listener::Tcp(monoio::net::TcpListener::from_std(s)?),
            BoundSocket::Unix(s) => Listener::Unix(monoio::net::UnixListener::from_std(s)?),
        };
        Ok((bound.addr, l))
    }

    /// Accepts one connection; `cancel` ends the wait (graceful shutdown). A
    /// connection the kernel handed over before the cancel is still returned.
    pub async fn accept(
        &self,
        listen: &ListenAddr,
        cancel: CancelHandle,
    ) -> io::Result<(Stream, Peer)> {
        match self {
            Listener::Tcp(l) => {
                let (stream, remote) = l.cancelable_accept(cancel).await?;
                let local = stream.local_addr().ok();
                let (server_addr, server_port) = match (local, listen) {
                    (Some(a), _) => (a.ip().to_string(), a.port()),
                    (None, ListenAddr::Tcp(a)) => (a.ip().to_string(), a.port()),
                    (None, ListenAddr::Unix(_)) => (String::new(), 0),
                };
                let peer = Peer {
                    remote_addr: remote.ip().to_string(),
                    remote_port: remote.port(),
                    remote_ip: Some(remote.ip()),
                    realip_original: None,
                    listen: local.map_or_else(|| listen.clone(), ListenAddr::Tcp),
                    server_addr,
                    server_port,
                    scheme: "http",
                    tls: None,
                };
                Ok((Stream::Tcp(stream), peer))
            }
            Listener::Unix(l) => {
                let (stream, _) = l.cancelable_accept(cancel).await?;
                let peer = Peer {
                    remote_addr: "unix:".to_string(),
                    remote_port: 0,
                    remote_ip: None,
                    realip_original: None,
                    listen: listen.clone(),
                    server_addr: listen.to_string(),
                    server_port: 0,
                    scheme: "http",
                    tls: None,
                };
                Ok((Stream::Unix(stream), peer))
            }
        }
    }
}

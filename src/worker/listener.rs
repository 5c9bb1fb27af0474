//! Listening sockets: bound with socket2 (`SO_REUSEPORT`, the `listen` socket options,
//! the configured backlog) in the process that owns them, then adopted by a worker's
//! runtime. Binding happens before any runtime exists, so the same code serves the
//! single-process mode and a master that forks workers. [`probe`] is how a master's
//! start tells that another process already listens on an address, which
//! `SO_REUSEPORT` alone would hide.

use std::io;
use std::net::SocketAddr;
use std::os::fd::AsRawFd;
use std::os::unix::net::UnixListener as StdUnixListener;
use std::path::Path;
use std::time::Duration;

use monoio::io::CancelHandle;
use socket2::{Domain, Protocol, SockAddr, SockRef, Socket, TcpKeepalive, Type};

use crate::config::model::{Config, Listen, ListenAddr, ListenOptions, SoKeepalive};
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

/// Why a listen address could not be bound or set up, with nginx's wording:
/// `bind() to 127.0.0.1:80 failed (98: Address already in use)`.
#[derive(Debug, thiserror::Error)]
#[error("{call} {addr} failed ({errno}: {reason})")]
pub struct BindError {
    /// The call that failed, as nginx names it in the message: `bind() to`,
    /// `listen() to`, `setsockopt(SO_RCVBUF)`.
    pub call: &'static str,
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
    fn new(call: &'static str, addr: &ListenAddr, e: &io::Error) -> BindError {
        let errno = e.raw_os_error().unwrap_or(0);
        BindError {
            call,
            addr: addr.clone(),
            errno,
            reason: crate::sys::strerror(errno),
        }
    }

    /// `EADDRINUSE`: another socket listens there (nginx tries again after 500 ms).
    pub fn address_in_use(&self) -> bool {
        self.errno == libc::EADDRINUSE
    }
}

/// Every distinct listen address of the configuration, merged across servers, each
/// with the `listen` whose socket options apply: the one that gives any (nginx allows
/// one per address; the builder refuses a second), else the first.
pub fn listen_addresses(config: &Config) -> Vec<&Listen> {
    let mut out: Vec<&Listen> = Vec::new();
    let Some(http) = &config.http else {
        return out;
    };
    for server in &http.servers {
        for l in &server.listen {
            match out.iter_mut().find(|o| o.addr == l.addr) {
                None => out.push(l),
                Some(o) if !o.options.set && l.options.set => *o = l,
                Some(_) => {}
            }
        }
    }
    out
}

/// Binds every listen address of the configuration.
pub fn bind_all(config: &Config) -> Result<Vec<BoundListener>, BindError> {
    listen_addresses(config).into_iter().map(bind).collect()
}

/// A failed step of binding: the call as nginx names it, and the error.
type Step = (&'static str, io::Error);

fn step<T>(call: &'static str, r: io::Result<T>) -> Result<T, Step> {
    r.map_err(|e| (call, e))
}

/// Binds one address, as nginx: `SO_REUSEADDR`, `SO_REUSEPORT` (one socket per worker,
/// and so that a replacement process can bind beside this one), `IPV6_V6ONLY` as
/// `ipv6only=` says, non-blocking, the `listen` options, the configured backlog.
pub fn bind(listen: &Listen) -> Result<BoundListener, BindError> {
    let err = |(call, e): Step| BindError::new(call, &listen.addr, &e);
    let socket = match &listen.addr {
        ListenAddr::Tcp(addr) => BoundSocket::Tcp(bind_tcp(*addr, &listen.options).map_err(err)?),
        ListenAddr::Unix(path) => {
            BoundSocket::Unix(bind_unix(path, listen.options.backlog).map_err(err)?)
        }
    };
    Ok(BoundListener {
        addr: listen.addr.clone(),
        socket,
    })
}

fn bind_tcp(addr: SocketAddr, options: &ListenOptions) -> Result<std::net::TcpListener, Step> {
    let socket = step(
        "socket()",
        Socket::new(Domain::for_address(addr), Type::STREAM, Some(Protocol::TCP)),
    )?;
    step("setsockopt(SO_REUSEADDR)", socket.set_reuse_address(true))?;
    step("setsockopt(SO_REUSEPORT)", socket.set_reuse_port(true))?;
    if addr.is_ipv6() {
        step(
            "setsockopt(IPV6_V6ONLY)",
            socket.set_only_v6(options.ipv6only),
        )?;
    }
    step("ioctl(FIONBIO)", socket.set_nonblocking(true))?;
    step("bind() to", socket.bind(&addr.into()))?;
    configure_tcp(&SockRef::from(&socket), options)?;
    step("listen() to", socket.listen(options.backlog))?;
    Ok(socket.into())
}

/// Sets a kept socket's options anew after a reload changed them, as nginx does for the
/// sockets it inherits from the previous cycle: the buffer sizes, keepalive, deferred
/// accept and fastopen, and the backlog (`listen` again). `ipv6only` cannot change on
/// a bound socket; the caller says so.
pub fn reconfigure(bound: &BoundListener, options: &ListenOptions) -> Result<(), BindError> {
    let BoundSocket::Tcp(listener) = &bound.socket else {
        return Ok(());
    };
    let socket = SockRef::from(listener);
    configure_tcp(&socket, options)
        .and_then(|()| step("listen() to", socket.listen(options.backlog)))
        .map_err(|(call, e)| BindError::new(call, &bound.addr, &e))
}

/// Sets the options a bound TCP socket can take at any time (nginx's
/// `ngx_configure_listening_sockets`): on a new socket before `listen`, and again on a
/// socket kept across a reload whose options changed. Options the configuration does
/// not name are left as they are, except `deferred`, which is turned off.
fn configure_tcp(socket: &SockRef<'_>, options: &ListenOptions) -> Result<(), Step> {
    if let Some(size) = options.rcvbuf {
        step(
            "setsockopt(SO_RCVBUF)",
            socket.set_recv_buffer_size(usize::try_from(size).unwrap_or(0)),
        )?;
    }
    if let Some(size) = options.sndbuf {
        step(
            "setsockopt(SO_SNDBUF)",
            socket.set_send_buffer_size(usize::try_from(size).unwrap_or(0)),
        )?;
    }
    match options.keepalive {
        None => {}
        Some(SoKeepalive::Off) => step("setsockopt(SO_KEEPALIVE)", socket.set_keepalive(false))?,
        Some(SoKeepalive::On {
            idle,
            interval,
            count,
        }) => {
            step("setsockopt(SO_KEEPALIVE)", socket.set_keepalive(true))?;
            let mut params = TcpKeepalive::new();
            if let Some(secs) = idle {
                params = params.with_time(Duration::from_secs(u64::from(secs)));
            }
            if let Some(secs) = interval {
                params = params.with_interval(Duration::from_secs(u64::from(secs)));
            }
            if let Some(n) = count {
                params = params.with_retries(n);
            }
            step(
                "setsockopt(TCP_KEEPIDLE, TCP_KEEPINTVL, TCP_KEEPCNT)",
                socket.set_tcp_keepalive(&params),
            )?;
        }
    }
    // nginx's timeout for a deferred accept: 1 second (it cannot know how long a
    // connection waited).
    step(
        "setsockopt(TCP_DEFER_ACCEPT)",
        crate::sys::set_int_option(
            socket.as_raw_fd(),
            libc::IPPROTO_TCP,
            libc::TCP_DEFER_ACCEPT,
            i32::from(options.deferred),
        ),
    )?;
    if let Some(queue) = options.fastopen {
        step(
            "setsockopt(TCP_FASTOPEN)",
            crate::sys::set_int_option(
                socket.as_raw_fd(),
                libc::IPPROTO_TCP,
                libc::TCP_FASTOPEN,
                queue,
            ),
        )?;
    }
    Ok(())
}

/// Whether another process listens on `listen`'s address, found without sharing it:
/// vestibule's own sockets have `SO_REUSEPORT`, so a second vestibule (same user)
/// could bind beside a running one; this probe binds the address the way nginx binds
/// it, without `SO_REUSEPORT` (and `IPV6_V6ONLY` as configured), and closes the
/// socket at once. A bound socket that does not listen conflicts only with listening
/// ones, so probes of overlapping addresses (`*:80` and `127.0.0.1:80`) do not
/// conflict with each other. A unix socket file is in use when a connection to it is
/// taken or queued; refused means a file left by an earlier run, which the real bind
/// replaces.
pub fn probe(listen: &Listen) -> Result<(), BindError> {
    let err = |(call, e): Step| BindError::new(call, &listen.addr, &e);
    match &listen.addr {
        ListenAddr::Tcp(addr) => probe_tcp(*addr, listen.options.ipv6only).map_err(err),
        ListenAddr::Unix(path) => {
            if unix_socket_answers(path) {
                Err(BindError::new(
                    "bind() to",
                    &listen.addr,
                    &io::Error::from_raw_os_error(libc::EADDRINUSE),
                ))
            } else {
                Ok(())
            }
        }
    }
}

fn probe_tcp(addr: SocketAddr, ipv6only: bool) -> Result<(), Step> {
    let socket = step(
        "socket()",
        Socket::new(Domain::for_address(addr), Type::STREAM, Some(Protocol::TCP)),
    )?;
    step("setsockopt(SO_REUSEADDR)", socket.set_reuse_address(true))?;
    if addr.is_ipv6() {
        step("setsockopt(IPV6_V6ONLY)", socket.set_only_v6(ipv6only))?;
    }
    step("bind() to", socket.bind(&addr.into()))
}

/// Whether something accepts connections on the unix socket at `path` (a
/// non-blocking connect that succeeds or would wait for a full queue).
fn unix_socket_answers(path: &Path) -> bool {
    use std::os::unix::fs::FileTypeExt;
    let is_socket = std::fs::symlink_metadata(path).is_ok_and(|m| m.file_type().is_socket());
    if !is_socket {
        return false;
    }
    let Ok(socket) = Socket::new(Domain::UNIX, Type::STREAM, None) else {
        return false;
    };
    if socket.set_nonblocking(true).is_err() {
        return false;
    }
    let Ok(addr) = SockAddr::unix(path) else {
        return false;
    };
    match socket.connect(&addr) {
        Ok(()) => true,
        Err(e) => e.raw_os_error() == Some(libc::EAGAIN),
    }
}

fn bind_unix(path: &Path, backlog: i32) -> Result<StdUnixListener, Step> {
    // A socket file left by a previous run would make bind fail with EADDRINUSE; nginx
    // removes it too. Only a socket is removed, never another kind of file; one that
    // a process still answers on was refused by `probe` first.
    if let Ok(meta) = std::fs::symlink_metadata(path) {
        use std::os::unix::fs::FileTypeExt;
        if meta.file_type().is_socket() {
            step("unlink()", std::fs::remove_file(path))?;
        }
    }
    let socket = step("socket()", Socket::new(Domain::UNIX, Type::STREAM, None))?;
    step("ioctl(FIONBIO)", socket.set_nonblocking(true))?;
    let addr = step("bind() to", SockAddr::unix(path))?;
    step("bind() to", socket.bind(&addr))?;
    step("listen() to", socket.listen(backlog))?;
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
                    accepted: std::time::Instant::now(),
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
                    accepted: std::time::Instant::now(),
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

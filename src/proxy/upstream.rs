//! One attempt at one upstream server: connect or reuse, send the request, read the
//! response head, pass the response to the client.
//!
//! A pooled connection may have been closed by the upstream while it idled. For a
//! request that may be repeated (an idempotent method, or `proxy_next_upstream
//! non_idempotent`), a pooled connection that fails before any response byte is
//! replaced once by a fresh one. A request that must not be sent twice (POST, PATCH,
//! LOCK and unknown methods) is never re-sent: instead each pooled connection is
//! asked, before a byte is written, whether the upstream has closed it
//! ([`Stream::unusable_now`]), and closed ones are dropped; a failure after the
//! request is written is the client's 502, as in nginx.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use super::error::{Phase, ProxyError};
use super::head::{self, RequestBodyFraming};
use super::pool::KeepAlive;
use super::relay::{self, ResponseBody};
use super::Upstreams;
use crate::config::model::{LocationConf, ProxyPass, UpstreamAddr};
use crate::exchange::body::SpooledBody;
use crate::exchange::response::{BodyLength, ResponseHead as ClientHead};
use crate::exchange::stopwatch::Mark;
use crate::exchange::{context, BodyState, Downstream, Env, Exchange, Outcome};
use crate::http1::{
    headers, parse_response_head, BodyDecoder, ChunkedEncoder, Method, RequestFraming,
    ResponseFraming, ResponseHead, UpstreamHeadLimits,
};
use crate::net::stream::Stream;
use crate::route::RoutedLocation;

/// The request body as the proxy holds it.
#[derive(Debug)]
pub enum RequestBody {
    None,
    Spooled(SpooledBody),
    /// `proxy_request_buffering off`: read from the client while sending.
    Streaming,
}

/// Where one attempt goes and with which settings.
#[derive(Debug, Clone, Copy)]
pub struct Target<'a> {
    pub location: Option<&'a RoutedLocation>,
    pub conf: &'a Arc<LocationConf>,
    pub pass: &'a ProxyPass,
    pub addr: &'a UpstreamAddr,
    /// The request-target sent upstream.
    pub target: &'a str,
    pub ka: &'a KeepAlive,
}

impl Target<'_> {
    /// The whole upstream URL nginx names in its log lines: `http://ADDR/path`.
    fn url(&self) -> String {
        format!("http://{}{}", super::upstream_name(self.addr), self.target)
    }
}

/// An upstream connection with a response head read from it.
#[derive(Debug)]
struct Answered {
    stream: Stream,
    /// What followed the head in the last read (the start of the body).
    rest: Vec<u8>,
    /// Requests the connection carried before this one.
    requests: u32,
}

/// How an attempt ended.
#[derive(Debug)]
pub enum Attempt {
    /// The client has its answer (or its connection is finished).
    Responded(Outcome),
    /// Nothing reached the client; another server may be tried.
    Failed { err: ProxyError, request_sent: bool },
}

/// The least memory a buffered response may use before spilling to a temp file.
const MIN_RESPONSE_MEMORY: usize = 256 * 1024;

/// How much is sent from a spooled body per write.
const SEND_CHUNK: usize = 64 * 1024;

pub async fn attempt<D: Downstream>(
    d: &mut D,
    x: &mut Exchange,
    env: Env<'_>,
    ups: Upstreams<'_>,
    t: Target<'_>,
    body: &mut RequestBody,
    may_retry_status: bool,
) -> Attempt {
    let conf = t.conf;
    let mut fresh_only = false;
    let repeatable = x.head.method.is_idempotent() || conf.proxy.next_upstream.non_idempotent;
    let started = Mark::now();
    loop {
        let (mut up, reused, requests) = match connection(ups, t, fresh_only, !repeatable).await {
            Ok(v) => {
                // nginx: 0 for a connection from the keep-alive pool.
                let took = if v.1 {
                    Duration::ZERO
                } else {
                    started.elapsed()
                };
                if let Some(a) = x.upstream.last_mut() {
                    a.connect_time = Some(took);
                }
                v
            }
            Err(err) => {
                return Attempt::Failed {
                    err,
                    request_sent: false,
                }
            }
        };
        let mut body_touched = false;
        match send(d, x, t, body, &mut up, &mut body_touched).await {
            Ok(sent) => {
                if let Some(a) = x.upstream.last_mut() {
                    a.bytes_sent = sent;
                }
            }
            Err(_) if reused && repeatable && !fresh_only && !body_touched => {
                fresh_only = true;
                continue;
            }
            Err(err) => {
                return Attempt::Failed {
                    err,
                    request_sent: true,
                }
            }
        }
        if matches!(body, RequestBody::Streaming) && d.body_done() {
            x.body = BodyState::Consumed;
        }
        // `biased`: the head first, with no random pick per poll; a head that came
        // in with the client's close is still answered.
        // `proxy_ignore_client_abort on`: the upstream's answer is awaited anyway.
        let waited = if conf.proxy.shaping.ignore_client_abort {
            Some(read_response_head(&mut up, &x.head.method, conf).await)
        } else {
            monoio::select! {
                biased;
                head = read_response_head(&mut up, &x.head.method, conf) => Some(head),
                () = client_gone(&*d) => None,
            }
        };
        let Some(head) = waited else {
            // nginx's 499: the client left while the upstream was thinking; the
            // upstream connection is dropped with the request.
            x.status = 499;
            env.error_log.info(
                Some(x.connection),
                &format!(
                    "client prematurely closed connection, so upstream connection is closed too while reading response header from upstream{}",
                    context(x, Some(&t.url()))
                ),
            );
            return Attempt::Responded(Outcome::Close);
        };
        let (head, rest) = match head {
            Ok((head, rest, read)) => {
                if let Some(a) = x.upstream.last_mut() {
                    a.header_time = Some(started.elapsed());
                    a.bytes_received = read;
                }
                (head, rest)
            }
            Err((err, any_byte)) => {
                if reused
                    && repeatable
                    && !fresh_only
                    && !any_byte
                    && !matches!(body, RequestBody::Streaming)
                {
                    fresh_only = true;
                    continue;
                }
                return Attempt::Failed {
                    err,
                    request_sent: true,
                };
            }
        };
        if may_retry_status && conf.proxy.next_upstream.retries_status(head.status) {
            // `proxy_next_upstream http_502` and the like: the answer is dropped with
            // its connection and the next server asked.
            if let Some(a) = x.upstream.last_mut() {
                a.status = Some(head.status);
            }
            return Attempt::Failed {
                err: ProxyError::Status(head.status),
                request_sent: true,
            };
        }
        let answered = Answered {
            stream: up,
            rest,
            requests,
        };
        let outcome = respond(d, x, env, ups, t, head, answered).await;
        return Attempt::Responded(outcome);
    }
}

/// Lets every other task that is ready run once before this one goes on.
async fn yield_once() {
    let mut yielded = false;
    std::future::poll_fn(|cx| {
        if yielded {
            return std::task::Poll::Ready(());
        }
        yielded = true;
        cx.waker().wake_by_ref();
        std::task::Poll::Pending
    })
    .await
}

/// A pooled connection (unless `fresh_only`) or a new one within `proxy_connect_timeout`.
/// With `checked`, pooled connections the upstream has closed are dropped first.
async fn connection(
    ups: Upstreams<'_>,
    t: Target<'_>,
    fresh_only: bool,
    checked: bool,
) -> Result<(Stream, bool, u32), ProxyError> {
    let (addr, conf, ka) = (t.addr, t.conf, t.ka);
    let tls = t.pass.tls.as_deref();
    // The pool is per address and holds plain, unbound connections only: a TLS or a
    // `proxy_bind` connection carries settings another location may not share.
    if !fresh_only && tls.is_none() && conf.proxy.shaping.bind.is_none() {
        let take = || loop {
            let pooled =
                ups.pool
                    .borrow_mut()
                    .take(addr, crate::sys::coarse_monotonic(), ka.idle_timeout);
            match pooled {
                Some(p) if checked && p.stream.unusable_now() => continue,
                other => break other,
            }
        };
        let mut pooled = take();
        if pooled.is_none() && ka.max_idle > 0 {
            // The ring hands the worker its completions in batches: requests that
            // arrived together all look for a connection before the exchanges that
            // finished in the same batch have put theirs back. Waiting one turn of the
            // run queue (no system call) lets them; without it, 50 clients over a
            // `keepalive 32` pool opened a new connection for one request in seven.
            yield_once().await;
            pooled = take();
        }
        if let Some(p) = pooled {
            return Ok((p.stream, true, p.requests));
        }
    }
    let timeout = conf.proxy.connect_timeout;
    let stream = match addr {
        UpstreamAddr::Tcp(sa) => {
            let connect = async {
                match conf.proxy.shaping.bind {
                    Some(local) => connect_from(local, *sa).await,
                    None => monoio::net::TcpStream::connect_addr(*sa).await,
                }
            };
            match crate::net::timer::timeout(timeout, connect).await {
                Err(_) => {
                    return Err(ProxyError::Timeout {
                        phase: Phase::Connecting,
                    })
                }
                Ok(Err(e)) => return Err(ProxyError::io("connect()", &e, Phase::Connecting)),
                Ok(Ok(s)) if tls.is_some() => {
                    let _ = s.set_nodelay(true);
                    socket_keepalive(conf, &s);
                    let name = conf.proxy.ssl.name.as_deref().or(tls).unwrap_or_default();
                    let config = ups.tls.get(&conf.proxy.ssl).map_err(|e| {
                        ProxyError::io(
                            "SSL_CTX_new()",
                            &std::io::Error::other(e),
                            Phase::Connecting,
                        )
                    })?;
                    let handshake = crate::tls::upstream::connect(config, name, s);
                    match crate::net::timer::timeout(timeout, handshake).await {
                        Err(_) => {
                            return Err(ProxyError::Timeout {
                                phase: Phase::Connecting,
                            })
                        }
                        Ok(Err(e)) => {
                            return Err(ProxyError::io("SSL_do_handshake()", &e, Phase::Connecting))
                        }
                        Ok(Ok(stream)) => stream,
                    }
                }
                Ok(Ok(s)) => {
                    let _ = s.set_nodelay(true);
                    socket_keepalive(conf, &s);
                    Stream::Tcp(s)
                }
            }
        }
        UpstreamAddr::Unix(path) => {
            let connect = monoio::net::UnixStream::connect(path.as_path());
            match crate::net::timer::timeout(timeout, connect).await {
                Err(_) => {
                    return Err(ProxyError::Timeout {
                        phase: Phase::Connecting,
                    })
                }
                Ok(Err(e)) => return Err(ProxyError::connect_unix(Path::new(path), &e)),
                Ok(Ok(s)) => Stream::Unix(s),
            }
        }
    };
    Ok((stream, false, 0))
}

/// `proxy_socket_keepalive on`: `SO_KEEPALIVE` on a new upstream connection.
fn socket_keepalive(conf: &LocationConf, s: &monoio::net::TcpStream) {
    if conf.proxy.shaping.socket_keepalive {
        use std::os::fd::AsRawFd;
        // Only a probe for dead peers; a failure changes nothing observable.
        let _ = crate::sys::set_int_option(s.as_raw_fd(), libc::SOL_SOCKET, libc::SO_KEEPALIVE, 1);
    }
}

/// `proxy_bind`: a connection to `to` from the local address `local`. The socket is
/// bound, connected without blocking, waited on for writability and checked as
/// monoio's own connect does; then, for the io_uring driver, made blocking again (its
/// reads wait on blocking sockets).
async fn connect_from(
    local: std::net::IpAddr,
    to: std::net::SocketAddr,
) -> std::io::Result<monoio::net::TcpStream> {
    use socket2::{Domain, Protocol, SockAddr, Socket, Type};
    let socket = Socket::new(Domain::for_address(to), Type::STREAM, Some(Protocol::TCP))?;
    socket.bind(&SockAddr::from(std::net::SocketAddr::new(local, 0)))?;
    socket.set_nonblocking(true)?;
    match socket.connect(&SockAddr::from(to)) {
        Ok(()) => {}
        Err(e) if e.raw_os_error() == Some(libc::EINPROGRESS) => {}
        Err(e) => return Err(e),
    }
    let std_stream: std::net::TcpStream = socket.into();
    let stream = monoio::net::TcpStream::from_std(std_stream)?;
    stream.writable(true).await?;
    let fd = stream_fd(&stream);
    let sock = socket2::SockRef::from(&fd);
    if let Some(e) = sock.take_error()? {
        return Err(e);
    }
    if monoio::utils::detect_uring() {
        sock.set_nonblocking(false)?;
    }
    Ok(stream)
}

/// A borrowed view of a monoio stream's descriptor, for socket options.
fn stream_fd(stream: &monoio::net::TcpStream) -> std::os::fd::BorrowedFd<'_> {
    use std::os::fd::AsRawFd;
    // SAFETY: the descriptor belongs to `stream`, which outlives the borrow.
    unsafe { std::os::fd::BorrowedFd::borrow_raw(stream.as_raw_fd()) }
}

/// [`write_timed`], adding the bytes to `sent`.
async fn write_counted(
    up: &mut Stream,
    buf: Vec<u8>,
    timeout: Duration,
    sent: &mut u64,
) -> Result<Vec<u8>, ProxyError> {
    *sent += buf.len() as u64;
    write_timed(up, buf, timeout).await
}

async fn write_timed(
    up: &mut Stream,
    buf: Vec<u8>,
    timeout: Duration,
) -> Result<Vec<u8>, ProxyError> {
    match crate::net::timer::timeout(timeout, up.write_all(buf)).await {
        Err(_) => Err(ProxyError::Timeout {
            phase: Phase::Sending,
        }),
        Ok((Err(e), _)) => Err(ProxyError::io("writev()", &e, Phase::Sending)),
        Ok((Ok(()), b)) => Ok(b),
    }
}

/// Sends the head and the body. `body_touched` is set once a streamed body has been
/// read from the client (after which the request cannot be sent again).
async fn send<D: Downstream>(
    d: &mut D,
    x: &Exchange,
    t: Target<'_>,
    body: &mut RequestBody,
    up: &mut Stream,
    body_touched: &mut bool,
) -> Result<u64, ProxyError> {
    let conf = t.conf;
    let timeout = conf.proxy.send_timeout;
    // `$upstream_bytes_sent`.
    let mut sent = 0u64;
    let framing = match body {
        RequestBody::None => RequestBodyFraming::None,
        RequestBody::Spooled(s) => RequestBodyFraming::Length(s.len()),
        RequestBody::Streaming => match x.head.framing {
            RequestFraming::ContentLength(n) => RequestBodyFraming::Length(n),
            _ => RequestBodyFraming::Chunked,
        },
    };
    let mut out = Vec::with_capacity(1024);
    head::upstream_request_head(x, conf, t.target, framing, t.ka.max_idle > 0, &mut out);
    match body {
        RequestBody::None => {
            write_counted(up, out, timeout, &mut sent).await?;
        }
        RequestBody::Spooled(spooled) => {
            // Head and the first part of the body in one write.
            let mut offset = 0u64;
            let mut piece = Vec::with_capacity(SEND_CHUNK);
            let n = spooled
                .read_at(0, SEND_CHUNK, &mut piece)
                .map_err(|e| ProxyError::io("pread()", &e, Phase::Sending))?;
            out.extend_from_slice(&piece);
            offset += n as u64;
            let mut buf = write_counted(up, out, timeout, &mut sent).await?;
            while offset < spooled.len() {
                let n = spooled
                    .read_at(offset, SEND_CHUNK, &mut buf)
                    .map_err(|e| ProxyError::io("pread()", &e, Phase::Sending))?;
                if n == 0 {
                    break;
                }
                offset += n as u64;
                buf = write_counted(up, buf, timeout, &mut sent).await?;
            }
        }
        RequestBody::Streaming => {
            // Chunked upstream when the client's length is unknown, framed by the
            // codec's encoder.
            let mut chunked = (framing == RequestBodyFraming::Chunked).then(ChunkedEncoder::new);
            let mut buf = write_counted(up, out, timeout, &mut sent).await?;
            let mut data = Vec::with_capacity(SEND_CHUNK);
            loop {
                data.clear();
                *body_touched = true;
                let n = match d.read_body(&mut data).await {
                    Ok(n) => n,
                    // The client's body broke off: the upstream cannot get a whole
                    // request, through no fault of its own.
                    Err(e) => return Err(ProxyError::ClientBody(e)),
                };
                buf.clear();
                match &mut chunked {
                    Some(encoder) if n == 0 => encoder.finish(&mut buf),
                    Some(encoder) => encoder.encode(&data, &mut buf),
                    None => buf.extend_from_slice(&data),
                }
                if !buf.is_empty() {
                    buf = write_counted(up, buf, timeout, &mut sent).await?;
                }
                if n == 0 {
                    break;
                }
            }
        }
    }
    Ok(sent)
}

/// How long an upstream may take to answer before the client's connection is watched
/// for a close (so a fast upstream costs no extra poll per request).
const WATCH_CLIENT_AFTER: Duration = Duration::from_millis(20);

/// Resolves when the client closes its connection while the response head is awaited
/// (checked from [`WATCH_CLIENT_AFTER`] on); pending forever otherwise.
async fn client_gone<D: Downstream>(client: &D) {
    crate::net::timer::sleep(WATCH_CLIENT_AFTER).await;
    client.closed().await;
}

/// Reads the response head within `proxy_read_timeout`, skipping interim 1xx
/// responses other than 101. The timer is armed once for the whole head, as nginx
/// arms it: an upstream that trickles its head a byte at a time gets its 504 at the
/// timeout, not when the trickle ends. On failure, whether any byte had arrived.
async fn read_response_head(
    up: &mut Stream,
    method: &Method,
    conf: &LocationConf,
) -> Result<(ResponseHead, Vec<u8>, u64), (ProxyError, bool)> {
    let limits = UpstreamHeadLimits::from_nginx(conf.proxy.buffer_size);
    let mut buf: Vec<u8> = Vec::with_capacity(4096);
    // Every byte read, the head's and the start of the body's (`$upstream_bytes_received`).
    let mut read = 0u64;
    let mut any_byte = false;
    // The coarse clock (a few ms), as the timer that enforces it keeps.
    let deadline = crate::sys::coarse_monotonic() + conf.proxy.read_timeout;
    loop {
        if !buf.is_empty() {
            match parse_response_head(&buf, method, &limits) {
                Ok(Some((head, n))) => {
                    if head.is_informational() && head.status != 101 {
                        buf.drain(..n);
                        continue;
                    }
                    // What follows the head (the start of the body) stays in the
                    // same buffer: moved to its front, not copied into a new one.
                    buf.drain(..n);
                    return Ok((head, buf, read));
                }
                Ok(None) => {}
                Err(e) => return Err((ProxyError::InvalidHead(e), true)),
            }
        }
        let left = if any_byte {
            deadline.saturating_sub(crate::sys::coarse_monotonic())
        } else {
            conf.proxy.read_timeout
        };
        match crate::net::timer::timeout(left, up.read_more(buf, 4096)).await {
            Err(_) => {
                return Err((
                    ProxyError::Timeout {
                        phase: Phase::ReadingHead,
                    },
                    any_byte,
                ))
            }
            Ok((Ok(0), _)) => return Err((ProxyError::ClosedBeforeHead, any_byte)),
            Ok((Err(e), _)) => {
                return Err((ProxyError::io("recv()", &e, Phase::ReadingHead), any_byte))
            }
            Ok((Ok(got), b)) => {
                any_byte = true;
                read += got as u64;
                buf = b;
            }
        }
    }
}

/// Passes the response to the client: head, then body (buffered or streamed), or the
/// two-way relay after a 101.
async fn respond<D: Downstream>(
    d: &mut D,
    x: &mut Exchange,
    env: Env<'_>,
    ups: Upstreams<'_>,
    t: Target<'_>,
    mut head: ResponseHead,
    up: Answered,
) -> Outcome {
    let conf = t.conf;
    if let Some(a) = x.upstream.last_mut() {
        a.status = Some(head.status);
    }
    // `proxy_intercept_errors on`: the page `error_page` names for the status answers
    // instead; the upstream's body is not read (its connection is closed, as nginx's).
    if conf.proxy.intercept_errors
        && head.status >= 300
        && conf
            .error_pages
            .iter()
            .any(|p| p.codes.contains(&head.status))
    {
        return Outcome::Status(head.status);
    }
    let switching = head.status == 101 && x.head.upgrade.is_some();
    // A response without a body (to HEAD, 204, 304) may still tell the client the
    // length a GET would have had.
    let no_body_length = match head.framing {
        ResponseFraming::NoBody => headers::get(&head.headers, "content-length")
            .and_then(|v| std::str::from_utf8(v).ok())
            .and_then(|v| v.trim().parse::<u64>().ok()),
        _ => None,
    };
    // A copy for `$upstream_http_*` only when some configuration reads one.
    if crate::config::template::upstream_headers_read() || conf.proxy.cache.zone.is_some() {
        x.upstream_headers = head.headers.clone();
    }
    let headers = head::client_response_headers(
        std::mem::take(&mut head.headers),
        &head.connection_tokens,
        x,
        t.location,
        conf,
        t.pass,
        switching,
    );
    let is_head_request = x.head.method == Method::Head;
    let Answered {
        stream: up,
        rest,
        requests,
    } = up;
    if switching {
        let client_head = ClientHead {
            status: 101,
            reason: Some(&head.reason),
            fields: &[],
            headers,
            length: BodyLength::None,
            upgrade: true,
        };
        d.send_head(x, conf, client_head);
        if let Some(client) = d.upgrade().await {
            Box::pin(relay::tunnel(
                client.stream,
                client.input,
                up,
                rest,
                conf.proxy.read_timeout,
            ))
            .await;
        }
        return Outcome::Close;
    }
    let length = match head.framing {
        ResponseFraming::NoBody => match no_body_length {
            Some(n) if is_head_request => BodyLength::Known(n),
            _ => BodyLength::None,
        },
        ResponseFraming::Length(n) => BodyLength::Known(n),
        ResponseFraming::Chunked | ResponseFraming::CloseDelimited => BodyLength::Unknown,
    };
    let client_head = ClientHead {
        status: head.status,
        reason: Some(&head.reason),
        fields: &[],
        headers,
        length,
        upgrade: false,
    };
    d.send_head(x, conf, client_head);
    // The common small response: the whole body came with the head. One write for
    // both, and no relay.
    if let ResponseFraming::Length(n) = head.framing {
        if !is_head_request && rest.len() as u64 == n {
            if let Some(a) = x.upstream.last_mut() {
                a.response_length = Some(n);
            }
            // The upstream's part is done: its connection goes back to the pool before
            // the client's write, free for the next request meanwhile (as nginx frees
            // it once the response is read). Held over the write, a worker under load
            // had more connections busy than `keepalive` keeps, and opened new ones.
            if head.keep_alive {
                put_back(ups, t, up, requests);
            }
            return finished(d.send_body(&rest).await && d.finish().await);
        }
    }
    let decoder = BodyDecoder::for_response(head.framing);
    if is_head_request || matches!(decoder, BodyDecoder::Empty) {
        // Nothing follows the head; the connection is reusable if the upstream said
        // so, and goes back before the client's write (as above).
        if head.keep_alive && rest.is_empty() {
            put_back(ups, t, up, requests);
        }
        return finished(d.finish().await);
    }
    // The head goes now: the body may be slow to come (a stream, a long poll).
    if !d.flush().await {
        return Outcome::Close;
    }
    let rest_len = rest.len() as u64;
    let meter = std::cell::Cell::new((0, 0));
    let body = ResponseBody {
        stream: up,
        input: rest,
        decoder,
        read_timeout: conf.proxy.read_timeout,
        // nginx limits the read rate of buffered responses only.
        limit_rate: if conf.proxy.buffering {
            conf.limits.proxy_rate
        } else {
            0
        },
        read_since: std::time::Instant::now(),
        read_length: rest_len,
        next_read: None,
        meter: &meter,
    };
    let relayed = if conf.proxy.buffering {
        let (count, size) = conf.proxy.buffers;
        // Memory for the response: `proxy_buffers`, but at least MIN_RESPONSE_MEMORY
        // (vestibule reads 64 KiB at a time; nginx's 8 × 4k would send every
        // read of a slow client's response to the temp file).
        let memory = usize::try_from(u64::from(count).saturating_mul(size))
            .unwrap_or(usize::MAX)
            .max(MIN_RESPONSE_MEMORY);
        Box::pin(relay::buffered(
            body,
            d,
            memory,
            conf.proxy.max_temp_file_size,
            conf.proxy.temp_path.clone(),
        ))
        .await
    } else {
        Box::pin(relay::stream(body, d)).await
    };
    if let Some(a) = x.upstream.last_mut() {
        let (read, body) = meter.get();
        a.bytes_received += read;
        a.response_length = Some(body);
    }
    if let Some(e) = &relayed.upstream_error {
        // nginx names the whole upstream URL: `upstream: "http://ADDR/path"`.
        let url = format!(
            "http://{}{}",
            super::upstream_name(t.addr),
            head::upstream_target(x, t.location, t.pass)
        );
        env.error_log.error(
            Some(x.connection),
            &format!("{e}{}", context(x, Some(&url))),
        );
    }
    if let Some(stream) = relayed.reusable {
        if head.keep_alive {
            put_back(ups, t, stream, requests);
        }
    }
    finished(relayed.client_complete)
}

/// `Done` when the client has the whole response, `Close` when it went away.
fn finished(complete: bool) -> Outcome {
    if complete {
        Outcome::Done
    } else {
        Outcome::Close
    }
}

fn put_back(ups: Upstreams<'_>, t: Target<'_>, stream: Stream, requests: u32) {
    // A TLS connection carries one location's SNI and verification: it is not kept
    // for another (the next handshake resumes the session instead).
    if matches!(stream, Stream::TlsUpstream(_)) || t.conf.proxy.shaping.bind.is_some() {
        return;
    }
    ups.pool.borrow_mut().put(
        t.addr,
        stream,
        requests + 1,
        t.ka,
        crate::sys::coarse_monotonic(),
    );
}

//! `tls-handshakes`: new TLS connections to one address, as many as `--count` or as
//! fit in `--seconds`, from `--conns` threads at once. Each connection is a complete
//! handshake, then the client's close_notify, then the server's last records (TLS 1.3
//! tickets, its close_notify) read until it closes, so the server has done all of a
//! connection's work before the next one counts. Prints one line of JSON
//! (`BENCH-JSON {...}`) that bench/compare/load.py reads.
//!
//! ```text
//! tls-handshakes --addr 127.0.0.1:PORT --ca ca.pem --name bench.test \
//!     --version 1.3 --resume on --conns 16 --count 200000 --seconds 10
//! ```
//!
//! `--resume off` offers no session, so every handshake is a full one; `--resume on`
//! keeps one in-memory session store for all threads: TLS 1.3 takes a fresh ticket
//! per connection (rustls uses each ticket once), TLS 1.2 offers the session id.
//! `tls-handshakes speed --key PEM [--key PEM ...] [--seconds S]` instead times the
//! server's private-key and key-exchange work in the provider vestibule uses
//! (aws-lc-rs through rustls): one TLS 1.3 CertificateVerify signature per key (ECDSA
//! P-256 with SHA-256, RSA-PSS with SHA-256) and one X25519 exchange as a server does
//! it (a key pair and the shared secret), to set beside `openssl speed`.
//!
//! `--groups x25519` (the default) offers X25519 with its key share, then P-256 (TLS
//! 1.2 servers may give an ECDSA P-256 certificate only to a client that lists the
//! curve): what OpenSSL 3.0 clients and nginx 1.22 settle on. `--groups default`
//! offers rustls's list (X25519MLKEM768 first), as Chrome and Firefox do.
//! `--suites aes256-first` (the default) offers TLS 1.3's suites in rustls's and
//! OpenSSL's order (AES-256-GCM with SHA-384 first); `--suites aes128-first` in
//! browsers' order (AES-128-GCM with SHA-256 first). Both servers follow the client's
//! order by default.

use std::io;
use std::net::{SocketAddr, TcpStream};
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rustls::client::{Resumption, Tls12Resumption};
use rustls::crypto::aws_lc_rs;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName};
use rustls::{ClientConfig, ClientConnection, HandshakeKind, RootCertStore};

/// Connect, read and write timeout of one connection.
const IO_TIMEOUT: Duration = Duration::from_secs(5);
/// Reads after close_notify before the connection counts as failed (the server has a
/// few records at most to send: two tickets and its close_notify).
const MAX_CLOSING_READS: usize = 64;
/// The most threads, handshakes and seconds one run may ask for.
const MAX_CONNS: usize = 1024;
const MAX_COUNT: u64 = 100_000_000;
const MAX_SECONDS: f64 = 3600.0;
/// Sessions the client keeps (per server name, rustls keeps up to 8 TLS 1.3 tickets).
const SESSION_STORE: usize = 1024;

#[derive(Debug)]
struct Opts {
    addr: SocketAddr,
    ca: Vec<PathBuf>,
    name: ServerName<'static>,
    tls13: bool,
    resume: bool,
    conns: usize,
    count: u64,
    seconds: f64,
    default_groups: bool,
    aes128_first: bool,
}

const USAGE: &str = "usage: tls-handshakes --addr HOST:PORT --ca PEM [--ca PEM ...] \
[--name SNI] [--version 1.3|1.2] [--resume on|off] [--conns N] [--count N] \
[--seconds S] [--groups x25519|default] [--suites aes256-first|aes128-first]";

fn parse(args: impl Iterator<Item = String>) -> Result<Opts, String> {
    let mut addr = None;
    let mut ca = Vec::new();
    let mut name = "bench.test".to_string();
    let mut version = "1.3".to_string();
    let mut resume = "off".to_string();
    let mut conns = 16usize;
    let mut count = 1_000_000u64;
    let mut seconds = 10.0f64;
    let mut groups = "x25519".to_string();
    let mut suites = "aes256-first".to_string();
    let mut args = args.peekable();
    while let Some(flag) = args.next() {
        let value = args
            .next()
            .ok_or_else(|| format!("{flag} needs a value\n{USAGE}"))?;
        let bad = |what: &str| format!("{flag} {value}: {what}\n{USAGE}");
        match flag.as_str() {
            "--addr" => addr = Some(value.parse().map_err(|_| bad("not HOST:PORT"))?),
            "--ca" => ca.push(PathBuf::from(value)),
            "--name" => name = value,
            "--version" => version = value,
            "--resume" => resume = value,
            "--conns" => conns = value.parse().map_err(|_| bad("not a count"))?,
            "--count" => count = value.parse().map_err(|_| bad("not a count"))?,
            "--seconds" => seconds = value.parse().map_err(|_| bad("not a number"))?,
            "--groups" => groups = value,
            "--suites" => suites = value,
            _ => return Err(format!("unknown option {flag}\n{USAGE}")),
        }
    }
    if !(1..=MAX_CONNS).contains(&conns) {
        return Err(format!("--conns must be 1 to {MAX_CONNS}"));
    }
    if !(1..=MAX_COUNT).contains(&count) {
        return Err(format!("--count must be 1 to {MAX_COUNT}"));
    }
    if !(seconds > 0.0 && seconds <= MAX_SECONDS) {
        return Err(format!(
            "--seconds must be above 0 and at most {MAX_SECONDS}"
        ));
    }
    Ok(Opts {
        addr: addr.ok_or_else(|| format!("--addr is required\n{USAGE}"))?,
        ca,
        name: ServerName::try_from(name.clone())
            .map_err(|_| format!("--name {name}: not a name"))?,
        tls13: match version.as_str() {
            "1.3" => true,
            "1.2" => false,
            v => return Err(format!("--version {v}: 1.3 or 1.2")),
        },
        resume: match resume.as_str() {
            "on" => true,
            "off" => false,
            v => return Err(format!("--resume {v}: on or off")),
        },
        conns,
        count,
        seconds,
        default_groups: match groups.as_str() {
            "x25519" => false,
            "default" => true,
            v => return Err(format!("--groups {v}: x25519 or default")),
        },
        aes128_first: match suites.as_str() {
            "aes256-first" => false,
            "aes128-first" => true,
            v => return Err(format!("--suites {v}: aes256-first or aes128-first")),
        },
    })
}

fn client_config(o: &Opts) -> Result<Arc<ClientConfig>, String> {
    let mut roots = RootCertStore::empty();
    for path in &o.ca {
        let certs =
            CertificateDer::pem_file_iter(path).map_err(|e| format!("{}: {e}", path.display()))?;
        for cert in certs {
            let cert = cert.map_err(|e| format!("{}: {e}", path.display()))?;
            roots
                .add(cert)
                .map_err(|e| format!("{}: {e}", path.display()))?;
        }
    }
    let mut provider = aws_lc_rs::default_provider();
    if !o.default_groups {
        provider.kx_groups = vec![aws_lc_rs::kx_group::X25519, aws_lc_rs::kx_group::SECP256R1];
    }
    if o.aes128_first {
        use rustls::CipherSuite as C;
        let rank = |s: &rustls::SupportedCipherSuite| match s.suite() {
            C::TLS13_AES_128_GCM_SHA256 => 0,
            C::TLS13_CHACHA20_POLY1305_SHA256 => 1,
            C::TLS13_AES_256_GCM_SHA384 => 2,
            _ => 3,
        };
        provider.cipher_suites.sort_by_key(rank);
    }
    let versions: &[&rustls::SupportedProtocolVersion] = if o.tls13 {
        &[&rustls::version::TLS13]
    } else {
        &[&rustls::version::TLS12]
    };
    let mut config = ClientConfig::builder_with_provider(Arc::new(provider))
        .with_protocol_versions(versions)
        .map_err(|e| e.to_string())?
        .with_root_certificates(roots)
        .with_no_client_auth();
    config.resumption = if o.resume {
        // TLS 1.2: the session id only, as the server offers no tickets there.
        Resumption::in_memory_sessions(SESSION_STORE)
            .tls12_resumption(Tls12Resumption::SessionIdOnly)
    } else {
        Resumption::disabled()
    };
    Ok(Arc::new(config))
}

/// What one connection settled.
struct Settled {
    resumed: bool,
    version: String,
    suite: String,
    group: String,
}

/// One connection: handshake, close_notify, the server's last records, EOF.
fn one(config: &Arc<ClientConfig>, o: &Opts) -> io::Result<Settled> {
    let mut sock = TcpStream::connect_timeout(&o.addr, IO_TIMEOUT)?;
    sock.set_nodelay(true)?;
    sock.set_read_timeout(Some(IO_TIMEOUT))?;
    sock.set_write_timeout(Some(IO_TIMEOUT))?;
    let mut conn =
        ClientConnection::new(Arc::clone(config), o.name.clone()).map_err(io::Error::other)?;
    while conn.is_handshaking() {
        conn.complete_io(&mut sock)?;
    }
    let settled = Settled {
        resumed: conn.handshake_kind() == Some(HandshakeKind::Resumed),
        version: format!("{:?}", conn.protocol_version()),
        suite: conn
            .negotiated_cipher_suite()
            .map(|s| format!("{:?}", s.suite()))
            .unwrap_or_default(),
        group: conn
            .negotiated_key_exchange_group()
            .map(|g| format!("{:?}", g.name()))
            .unwrap_or_else(|| "none".to_string()),
    };
    conn.send_close_notify();
    while conn.wants_write() {
        conn.write_tls(&mut sock)?;
    }
    for _ in 0..MAX_CLOSING_READS {
        match conn.read_tls(&mut sock) {
            Ok(0) => return Ok(settled),
            Ok(_) => {
                let state = conn.process_new_packets().map_err(io::Error::other)?;
                if state.peer_has_closed() {
                    return Ok(settled);
                }
            }
            // A server may reset rather than close once both sides said close_notify.
            Err(e) if e.kind() == io::ErrorKind::ConnectionReset => return Ok(settled),
            Err(e) => return Err(e),
        }
    }
    Err(io::Error::other(
        "the server kept sending after close_notify",
    ))
}

#[derive(Default)]
struct Tally {
    started: AtomicU64,
    done: AtomicU64,
    resumed: AtomicU64,
    failed: AtomicU64,
    first_error: Mutex<Option<String>>,
    last: Mutex<Option<Settled>>,
}

fn run(o: &Opts) -> Result<(), String> {
    let config = client_config(o)?;
    let tally = Tally::default();
    let start = Instant::now();
    let deadline = start + Duration::from_secs_f64(o.seconds);
    std::thread::scope(|scope| {
        for _ in 0..o.conns {
            scope.spawn(|| {
                while Instant::now() < deadline
                    && tally.started.fetch_add(1, Ordering::Relaxed) < o.count
                {
                    match one(&config, o) {
                        Ok(s) => {
                            tally.done.fetch_add(1, Ordering::Relaxed);
                            if s.resumed {
                                tally.resumed.fetch_add(1, Ordering::Relaxed);
                            }
                            if let Ok(mut last) = tally.last.lock() {
                                *last = Some(s);
                            }
                        }
                        Err(e) => {
                            tally.failed.fetch_add(1, Ordering::Relaxed);
                            if let Ok(mut first) = tally.first_error.lock() {
                                first.get_or_insert_with(|| e.to_string());
                            }
                        }
                    }
                }
            });
        }
    });
    let elapsed = start.elapsed().as_secs_f64();
    let last = tally.last.lock().ok().and_then(|mut l| l.take());
    let error = tally
        .first_error
        .lock()
        .ok()
        .and_then(|mut e| e.take())
        .unwrap_or_default();
    let (version, suite, group) = last
        .map(|s| (s.version, s.suite, s.group))
        .unwrap_or_default();
    println!(
        "BENCH-JSON {{\"handshakes\": {}, \"resumed\": {}, \"failed\": {}, \"seconds\": {elapsed:.6}, \
\"conns\": {}, \"version\": \"{}\", \"suite\": \"{}\", \"group\": \"{}\", \"first_error\": \"{}\"}}",
        tally.done.load(Ordering::Relaxed),
        tally.resumed.load(Ordering::Relaxed),
        tally.failed.load(Ordering::Relaxed),
        o.conns,
        json_escape(&version),
        json_escape(&suite),
        json_escape(&group),
        json_escape(&error),
    );
    Ok(())
}

fn json_escape(s: &str) -> String {
    s.chars()
        .flat_map(|c| match c {
            '"' => vec!['\\', '"'],
            '\\' => vec!['\\', '\\'],
            c if c.is_control() => vec![' '],
            c => vec![c],
        })
        .collect()
}

/// The most operations `speed` times per primitive.
const SPEED_MAX_OPS: u64 = 10_000_000;

/// Times `op` for `seconds` (at most SPEED_MAX_OPS times); prints one line.
fn time_op(
    name: &str,
    seconds: f64,
    mut op: impl FnMut() -> Result<(), String>,
) -> Result<(), String> {
    let start = Instant::now();
    let budget = Duration::from_secs_f64(seconds);
    let mut ops = 0u64;
    while start.elapsed() < budget && ops < SPEED_MAX_OPS {
        op()?;
        ops += 1;
    }
    let elapsed = start.elapsed().as_secs_f64();
    let line = format!(
        "{name:<40} {ops:>9} ops in {elapsed:.2} s: {:>9.0} /s, {:>8.1} us each\n",
        ops as f64 / elapsed,
        elapsed * 1e6 / ops.max(1) as f64
    );
    // A closed stdout (`| head`) ends the run quietly.
    io::Write::write_all(&mut io::stdout(), line.as_bytes()).map_err(|e| e.to_string())
}

fn speed(args: impl Iterator<Item = String>) -> Result<(), String> {
    use rustls::pki_types::PrivateKeyDer;
    use rustls::SignatureScheme;
    let mut keys = Vec::new();
    let mut seconds = 3.0f64;
    let mut args = args.peekable();
    while let Some(flag) = args.next() {
        let value = args.next().ok_or_else(|| format!("{flag} needs a value"))?;
        match flag.as_str() {
            "--key" => keys.push(PathBuf::from(value)),
            "--seconds" => seconds = value.parse().map_err(|_| format!("--seconds {value}"))?,
            _ => {
                return Err(format!(
                    "unknown option {flag}\nusage: tls-handshakes speed --key PEM [--seconds S]"
                ))
            }
        }
    }
    if !(seconds > 0.0 && seconds <= MAX_SECONDS) {
        return Err(format!(
            "--seconds must be above 0 and at most {MAX_SECONDS}"
        ));
    }
    let provider = aws_lc_rs::default_provider();
    // What a TLS 1.3 server signs: 64 spaces, the context string, a 0, a SHA-256 hash.
    let mut message = vec![b' '; 64];
    message.extend_from_slice(b"TLS 1.3, server CertificateVerify\0");
    message.extend_from_slice(&[0x5a; 32]);
    for path in &keys {
        let der =
            PrivateKeyDer::from_pem_file(path).map_err(|e| format!("{}: {e}", path.display()))?;
        let key = provider
            .key_provider
            .load_private_key(der)
            .map_err(|e| format!("{}: {e}", path.display()))?;
        let schemes = [
            SignatureScheme::ECDSA_NISTP256_SHA256,
            SignatureScheme::RSA_PSS_SHA256,
        ];
        let signer = key
            .choose_scheme(&schemes)
            .ok_or_else(|| format!("{}: neither ECDSA P-256 nor RSA", path.display()))?;
        let name = format!("sign {:?} ({})", signer.scheme(), path.display());
        time_op(&name, seconds, || {
            signer.sign(&message).map(drop).map_err(|e| e.to_string())
        })?;
    }
    let x25519 = aws_lc_rs::kx_group::X25519;
    let peer = x25519.start().map_err(|e| e.to_string())?;
    let peer_public = peer.pub_key().to_vec();
    time_op("X25519 key pair + shared secret (server)", seconds, || {
        x25519
            .start_and_complete(&peer_public)
            .map(drop)
            .map_err(|e| e.to_string())
    })?;
    Ok(())
}

fn main() -> ExitCode {
    let mut args = std::env::args().skip(1).peekable();
    let result = if args.peek().map(String::as_str) == Some("speed") {
        args.next();
        speed(args)
    } else {
        parse(args).and_then(|o| run(&o))
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("tls-handshakes: {e}");
            ExitCode::FAILURE
        }
    }
}

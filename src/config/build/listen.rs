//! `listen ADDRESS [default_server] [ssl] [SOCKET OPTIONS];` in nginx's address forms:
//! `80`, `*:80`, `127.0.0.1`, `127.0.0.1:8080`, `[::]:80`, `localhost:8080`,
//! `unix:/run/vestibule.sock`. The socket options (`backlog=`, `rcvbuf=`, `sndbuf=`,
//! `deferred`, `bind`, `ipv6only=`, `reuseport`, `fastopen=`, `so_keepalive=`) are
//! parsed and checked as nginx 1.25 does, with its messages; src/worker/listener.rs
//! sets them on the socket.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::PathBuf;

use super::args::arg;
use super::proxy_pass::resolve_host;
use crate::config::error::ConfigErrorKind;
use crate::config::model::{Listen, ListenAddr, ListenOptions, SoKeepalive};
use crate::config::source::Span;
use crate::config::tree::Directive;
use crate::config::value;

/// Parameters nginx has that vestibule does not implement yet: named in the error.
const UNIMPLEMENTED: &[&str] = &["quic", "proxy_protocol"];

/// FreeBSD's `setfib=`: nginx built for Linux rejects it as an invalid parameter, and
/// so does vestibule, saying why. (FreeBSD's `accept_filter=` nginx on Linux accepts
/// and ignores with a message: see [`ignored_accept_filter`].)
const FREEBSD_ONLY: &[&str] = &["setfib"];

/// `accept_filter=NAME`, which nginx on Linux ignores, saying `accept filters
/// "accept_filter=NAME" are not supported on this platform, ignored`: that message.
pub fn ignored_accept_filter(d: &Directive) -> Option<String> {
    d.args.iter().skip(1).find_map(|a| {
        a.value.starts_with("accept_filter=").then(|| {
            format!(
                "accept filters \"{}\" are not supported on this platform, ignored",
                a.value
            )
        })
    })
}

pub fn parse_listen(d: &Directive) -> Result<Vec<Listen>, ConfigErrorKind> {
    let addrs = parse_address(arg(d, 0))?;
    let mut default_server = false;
    let mut ssl = false;
    let mut http2 = false;
    let mut options = ListenOptions::default();
    for a in d.args.iter().skip(1) {
        let v = a.value.as_str();
        match v {
            "default_server" | "default" => default_server = true,
            "ssl" => ssl = true,
            "http2" => http2 = true,
            _ => {
                if !socket_option(v, &mut options)? {
                    let key = v.split('=').next().unwrap_or(v);
                    if FREEBSD_ONLY.contains(&key) {
                        return Err(ConfigErrorKind::FreeBsdListenParameter(v.to_string()));
                    }
                    if UNIMPLEMENTED.contains(&key) {
                        return Err(ConfigErrorKind::Unsupported(
                            format!("listen ... {key}"),
                            "this listen parameter is not implemented",
                        ));
                    }
                    return Err(ConfigErrorKind::InvalidParameter(v.to_string()));
                }
                options.set = true;
            }
        }
    }
    Ok(addrs
        .into_iter()
        .map(|addr| Listen {
            addr,
            default_server,
            ssl,
            http2,
            options: options.clone(),
            span: d.span.clone(),
        })
        .collect())
}

/// One socket option parameter into `options`; `Ok(false)` when `v` is none.
fn socket_option(v: &str, options: &mut ListenOptions) -> Result<bool, ConfigErrorKind> {
    let invalid = |what| ConfigErrorKind::InvalidListenParameter {
        what,
        value: v.to_string(),
    };
    match v {
        "bind" => {}
        // FreeBSD's; ignored here as by nginx on Linux (the builder says so).
        _ if v.starts_with("accept_filter=") => {}
        "reuseport" => options.reuseport = true,
        "deferred" => options.deferred = true,
        _ => {
            if let Some(n) = v.strip_prefix("backlog=") {
                options.backlog = value::parse_number(n)
                    .and_then(|n| i32::try_from(n).ok())
                    .filter(|n| *n > 0)
                    .ok_or_else(|| invalid("backlog"))?;
            } else if let Some(n) = v.strip_prefix("rcvbuf=") {
                options.rcvbuf = Some(buffer_size(n).ok_or_else(|| invalid("rcvbuf"))?);
            } else if let Some(n) = v.strip_prefix("sndbuf=") {
                options.sndbuf = Some(buffer_size(n).ok_or_else(|| invalid("sndbuf"))?);
            } else if let Some(n) = v.strip_prefix("fastopen=") {
                options.fastopen = Some(
                    value::parse_number(n)
                        .and_then(|n| i32::try_from(n).ok())
                        .ok_or_else(|| invalid("fastopen"))?,
                );
            } else if let Some(flag) = v.strip_prefix("ipv6only=o") {
                // nginx matches the prefix `ipv6only=o`, then `n` or `ff`.
                options.ipv6only = match flag {
                    "n" => true,
                    "ff" => false,
                    _ => return Err(ConfigErrorKind::InvalidIpv6onlyFlags(format!("o{flag}"))),
                };
            } else if let Some(k) = v.strip_prefix("so_keepalive=") {
                options.keepalive = Some(
                    so_keepalive(k)
                        .ok_or_else(|| ConfigErrorKind::InvalidSoKeepalive(k.to_string()))?,
                );
            } else {
                return Ok(false);
            }
        }
    }
    Ok(true)
}

/// `rcvbuf=`/`sndbuf=`: nginx's `ngx_parse_size` (`k` and `m`, no `g`), within an int.
fn buffer_size(text: &str) -> Option<i32> {
    if text.ends_with(['g', 'G']) {
        return None;
    }
    value::parse_size(text).and_then(|n| i32::try_from(n).ok())
}

/// `on`, `off`, or `[IDLE]:[INTERVAL]:[COUNT]` (times in seconds, as `30m`; at least
/// one part not zero), as nginx's `ngx_http_core_listen`.
fn so_keepalive(text: &str) -> Option<SoKeepalive> {
    match text {
        "on" => {
            return Some(SoKeepalive::On {
                idle: None,
                interval: None,
                count: None,
            })
        }
        "off" => return Some(SoKeepalive::Off),
        _ => {}
    }
    let mut parts = text.splitn(3, ':');
    let seconds = |part: Option<&str>| -> Option<Option<u32>> {
        match part {
            None | Some("") => Some(None),
            // nginx parses these in seconds: no `ms`.
            Some(t) if t.contains("ms") => None,
            Some(t) => {
                let secs = u32::try_from(value::parse_time(t)?.as_secs()).ok()?;
                Some((secs > 0).then_some(secs))
            }
        }
    };
    let idle = seconds(parts.next())?;
    let interval = seconds(parts.next())?;
    let count = match parts.next() {
        None | Some("") => None,
        Some(n) => {
            let n = u32::try_from(value::parse_number(n)?).ok()?;
            (n > 0).then_some(n)
        }
    };
    if idle.is_none() && interval.is_none() && count.is_none() {
        return None;
    }
    Some(SoKeepalive::On {
        idle,
        interval,
        count,
    })
}

/// The listen of a server that has none: `*:80` as root, `*:8000` otherwise.
pub fn default_listen(is_root: bool, span: &Span) -> Listen {
    let port = if is_root { 80 } else { 8000 };
    Listen {
        addr: ListenAddr::Tcp(SocketAddr::new(IpAddr::V4(Ipv4Addr::UNSPECIFIED), port)),
        default_server: false,
        ssl: false,
        http2: false,
        options: ListenOptions::default(),
        span: span.clone(),
    }
}

fn invalid_port(value: &str) -> ConfigErrorKind {
    ConfigErrorKind::InvalidPort {
        directive: "listen".to_string(),
        value: value.to_string(),
    }
}

fn port(value: &str, text: &str) -> Result<u16, ConfigErrorKind> {
    if text.is_empty() || !text.bytes().all(|b| b.is_ascii_digit()) {
        return Err(invalid_port(value));
    }
    text.parse::<u16>()
        .ok()
        .filter(|p| *p > 0)
        .ok_or_else(|| invalid_port(value))
}

/// Parses the address argument; a host name may give several addresses, and a port
/// range (`8000-8010`) one address per port.
pub fn parse_address(value: &str) -> Result<Vec<ListenAddr>, ConfigErrorKind> {
    let Some((first, ports)) = super::port_range::split(value)? else {
        return parse_one_port(value);
    };
    // A host name is resolved once, for the first port.
    let hosts = parse_one_port(&first)?;
    let mut addrs = Vec::with_capacity(hosts.len() * ports.len());
    for port in ports {
        for host in &hosts {
            if let ListenAddr::Tcp(mut a) = host.clone() {
                a.set_port(port);
                addrs.push(ListenAddr::Tcp(a));
            }
        }
    }
    Ok(addrs)
}

/// Parses an address argument with one port (or none).
fn parse_one_port(value: &str) -> Result<Vec<ListenAddr>, ConfigErrorKind> {
    if let Some(path) = value.strip_prefix("unix:") {
        if path.is_empty() {
            return Err(ConfigErrorKind::InvalidHost {
                directive: "listen".to_string(),
                value: value.to_string(),
            });
        }
        return Ok(vec![ListenAddr::Unix(PathBuf::from(path))]);
    }
    if let Some(v6) = value.strip_prefix('[') {
        let end = v6.find(']').ok_or_else(|| ConfigErrorKind::InvalidHost {
            directive: "listen".to_string(),
            value: value.to_string(),
        })?;
        let ip: IpAddr = v6[..end]
            .parse()
            .map_err(|_| ConfigErrorKind::InvalidHost {
                directive: "listen".to_string(),
                value: value.to_string(),
            })?;
        let p = match &v6[end + 1..] {
            "" => 80,
            rest => port(
                value,
                rest.strip_prefix(':').ok_or_else(|| invalid_port(value))?,
            )?,
        };
        return Ok(vec![ListenAddr::Tcp(SocketAddr::new(ip, p))]);
    }
    // A bare number is a port.
    if value.bytes().all(|b| b.is_ascii_digit()) {
        let p = port(value, value)?;
        return Ok(vec![ListenAddr::Tcp(SocketAddr::new(
            IpAddr::V4(Ipv4Addr::UNSPECIFIED),
            p,
        ))]);
    }
    let (host, p) = match value.rsplit_once(':') {
        Some((h, p)) => (h, port(value, p)?),
        None => (value, 80),
    };
    if host == "*" {
        return Ok(vec![ListenAddr::Tcp(SocketAddr::new(
            IpAddr::V4(Ipv4Addr::UNSPECIFIED),
            p,
        ))]);
    }
    if let Ok(ip) = host.parse::<IpAddr>() {
        return Ok(vec![ListenAddr::Tcp(SocketAddr::new(ip, p))]);
    }
    if host.is_empty() {
        return Err(ConfigErrorKind::InvalidHost {
            directive: "listen".to_string(),
            value: value.to_string(),
        });
    }
    let mut addrs: Vec<ListenAddr> = resolve_host(host, p)
        .ok_or_else(|| ConfigErrorKind::ListenHostNotFound {
            directive: "listen".to_string(),
            value: value.to_string(),
        })?
        .into_iter()
        .map(ListenAddr::Tcp)
        .collect();
    addrs.sort();
    addrs.dedup();
    Ok(addrs)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::parser::parse;
    use crate::config::source::Origin;
    use std::sync::Arc;

    fn listen(text: &str) -> Result<Listen, String> {
        let d = parse(&format!("listen {text};"), &Arc::new(Origin::CommandLine))
            .unwrap()
            .remove(0);
        parse_listen(&d)
            .map(|mut l| l.remove(0))
            .map_err(|e| e.to_string())
    }

    /// Every socket option as nginx 1.25 parses it; `set` is nginx's "this listen gave
    /// socket options" (one such listen per address).
    #[test]
    fn socket_options() {
        let on = |idle, interval, count| SoKeepalive::On {
            idle,
            interval,
            count,
        };
        let d = ListenOptions::default;
        let cases: &[(&str, ListenOptions)] = &[
            ("80", d()),
            ("80 default_server ssl", d()),
            ("80 bind", ListenOptions { set: true, ..d() }),
            ("[::]:80 ipv6only=on", ListenOptions { set: true, ..d() }),
            (
                "[::]:80 ipv6only=off",
                ListenOptions {
                    set: true,
                    ipv6only: false,
                    ..d()
                },
            ),
            // nginx takes it on any address; only an IPv6 socket has the option.
            (
                "127.0.0.1:80 ipv6only=off",
                ListenOptions {
                    set: true,
                    ipv6only: false,
                    ..d()
                },
            ),
            (
                "80 backlog=1024 reuseport",
                ListenOptions {
                    set: true,
                    backlog: 1024,
                    reuseport: true,
                    ..d()
                },
            ),
            (
                "80 backlog=1 backlog=2",
                ListenOptions {
                    set: true,
                    backlog: 2,
                    ..d()
                },
            ),
            (
                "80 rcvbuf=64k sndbuf=1m",
                ListenOptions {
                    set: true,
                    rcvbuf: Some(64 << 10),
                    sndbuf: Some(1 << 20),
                    ..d()
                },
            ),
            (
                "80 rcvbuf=0",
                ListenOptions {
                    set: true,
                    rcvbuf: Some(0),
                    ..d()
                },
            ),
            (
                "80 deferred fastopen=256",
                ListenOptions {
                    set: true,
                    deferred: true,
                    fastopen: Some(256),
                    ..d()
                },
            ),
            (
                "80 so_keepalive=on",
                ListenOptions {
                    set: true,
                    keepalive: Some(on(None, None, None)),
                    ..d()
                },
            ),
            (
                "80 so_keepalive=off",
                ListenOptions {
                    set: true,
                    keepalive: Some(SoKeepalive::Off),
                    ..d()
                },
            ),
            (
                "80 so_keepalive=30m::10",
                ListenOptions {
                    set: true,
                    keepalive: Some(on(Some(1800), None, Some(10))),
                    ..d()
                },
            ),
            (
                "80 so_keepalive=:1",
                ListenOptions {
                    set: true,
                    keepalive: Some(on(None, Some(1), None)),
                    ..d()
                },
            ),
            (
                "80 so_keepalive=1h30m:15s:3",
                ListenOptions {
                    set: true,
                    keepalive: Some(on(Some(5400), Some(15), Some(3))),
                    ..d()
                },
            ),
        ];
        for (text, want) in cases {
            assert_eq!(&listen(text).unwrap().options, want, "{text}");
        }
    }

    /// nginx 1.25's messages (checked against nginx 1.22.1, which has the same).
    #[test]
    fn bad_socket_options() {
        let cases: &[(&str, &str)] = &[
            ("80 backlog=x", "invalid backlog \"backlog=x\""),
            ("80 backlog=0", "invalid backlog \"backlog=0\""),
            ("80 backlog=-5", "invalid backlog \"backlog=-5\""),
            ("80 rcvbuf=x", "invalid rcvbuf \"rcvbuf=x\""),
            ("80 sndbuf=1g", "invalid sndbuf \"sndbuf=1g\""),
            ("80 fastopen=x", "invalid fastopen \"fastopen=x\""),
            ("80 so_keepalive=x", "invalid so_keepalive value: \"x\""),
            ("80 so_keepalive=::", "invalid so_keepalive value: \"::\""),
            ("80 so_keepalive=0", "invalid so_keepalive value: \"0\""),
            ("80 so_keepalive=0:0:0", "invalid so_keepalive value: \"0:0:0\""),
            (
                "80 so_keepalive=1:2:3:4",
                "invalid so_keepalive value: \"1:2:3:4\"",
            ),
            ("80 so_keepalive=500ms", "invalid so_keepalive value: \"500ms\""),
            ("[::]:80 ipv6only=ox", "invalid ipv6only flags \"ox\""),
            ("[::]:80 ipv6only=On", "invalid parameter \"ipv6only=On\""),
            ("[::]:80 ipv6only=", "invalid parameter \"ipv6only=\""),
            ("80 deferred=1", "invalid parameter \"deferred=1\""),
            ("80 bind=1", "invalid parameter \"bind=1\""),
            ("80 reuseport=1", "invalid parameter \"reuseport=1\""),
            ("80 http2=on", "invalid parameter \"http2=on\""),
            (
                "80 proxy_protocol",
                "\"listen ... proxy_protocol\" directive is not supported by vestibule yet (this listen parameter is not implemented)",
            ),
        ];
        for (text, want) in cases {
            assert_eq!(listen(text).unwrap_err(), *want, "{text}");
        }
    }

    fn tcp(s: &str) -> ListenAddr {
        ListenAddr::Tcp(s.parse().unwrap())
    }

    #[test]
    fn address_forms() {
        let cases: &[(&str, Vec<ListenAddr>)] = &[
            ("80", vec![tcp("0.0.0.0:80")]),
            ("*:8080", vec![tcp("0.0.0.0:8080")]),
            ("127.0.0.1", vec![tcp("127.0.0.1:80")]),
            ("127.0.0.1:8080", vec![tcp("127.0.0.1:8080")]),
            ("[::]:80", vec![tcp("[::]:80")]),
            ("[::1]", vec![tcp("[::1]:80")]),
            (
                "unix:/run/v.sock",
                vec![ListenAddr::Unix("/run/v.sock".into())],
            ),
        ];
        for (input, want) in cases {
            assert_eq!(&parse_address(input).unwrap(), want, "{input}");
        }
    }

    #[test]
    fn bad_addresses() {
        let cases: &[(&str, &str)] = &[
            ("0", "invalid port in \"0\" of the \"listen\" directive"),
            (
                "70000",
                "invalid port in \"70000\" of the \"listen\" directive",
            ),
            (
                "127.0.0.1:http",
                "invalid port in \"127.0.0.1:http\" of the \"listen\" directive",
            ),
            (
                "[::1",
                "invalid host in \"[::1\" of the \"listen\" directive",
            ),
            (
                "unix:",
                "invalid host in \"unix:\" of the \"listen\" directive",
            ),
            (
                "no-such-host.invalid:80",
                "host not found in \"no-such-host.invalid:80\" of the \"listen\" directive",
            ),
        ];
        for (input, want) in cases {
            assert_eq!(
                parse_address(input).unwrap_err().to_string(),
                *want,
                "{input}"
            );
        }
    }
}

//! `listen ADDRESS [default_server] [reuseport] [backlog=N];` in nginx's address forms:
//! `80`, `*:80`, `127.0.0.1`, `127.0.0.1:8080`, `[::]:80`, `localhost:8080`,
//! `unix:/run/vestibule.sock`.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::PathBuf;

use super::args::arg;
use super::proxy_pass::resolve_host;
use crate::config::error::ConfigErrorKind;
use crate::config::model::{Listen, ListenAddr};
use crate::config::source::Span;
use crate::config::tree::Directive;

/// nginx's default backlog on Linux.
pub const DEFAULT_BACKLOG: i32 = 511;

/// Parameters nginx has that vestibule does not implement yet: named in the error.
const UNIMPLEMENTED: &[&str] = &[
    "http2",
    "quic",
    "proxy_protocol",
    "deferred",
    "bind",
    "ipv6only",
    "so_keepalive",
    "fastopen",
    "rcvbuf",
    "sndbuf",
    "accept_filter",
    "setfib",
];

pub fn parse_listen(d: &Directive) -> Result<Vec<Listen>, ConfigErrorKind> {
    let addrs = parse_address(arg(d, 0))?;
    let mut default_server = false;
    let mut reuseport = false;
    let mut backlog = DEFAULT_BACKLOG;
    let mut ssl = false;
    for a in d.args.iter().skip(1) {
        let v = a.value.as_str();
        match v {
            "default_server" | "default" => default_server = true,
            "reuseport" => reuseport = true,
            "ssl" => ssl = true,
            _ => {
                if let Some(n) = v.strip_prefix("backlog=") {
                    backlog = n
                        .parse::<i32>()
                        .ok()
                        .filter(|n| *n > 0)
                        .ok_or_else(|| ConfigErrorKind::InvalidParameter(v.to_string()))?;
                } else {
                    let key = v.split('=').next().unwrap_or(v);
                    if UNIMPLEMENTED.contains(&key) {
                        return Err(ConfigErrorKind::Unsupported(
                            format!("listen ... {key}"),
                            "this listen parameter is not implemented",
                        ));
                    }
                    return Err(ConfigErrorKind::InvalidParameter(v.to_string()));
                }
            }
        }
    }
    Ok(addrs
        .into_iter()
        .map(|addr| Listen {
            addr,
            default_server,
            reuseport,
            backlog,
            ssl,
            span: d.span.clone(),
        })
        .collect())
}

/// The listen of a server that has none: `*:80` as root, `*:8000` otherwise.
pub fn default_listen(is_root: bool, span: &Span) -> Listen {
    let port = if is_root { 80 } else { 8000 };
    Listen {
        addr: ListenAddr::Tcp(SocketAddr::new(IpAddr::V4(Ipv4Addr::UNSPECIFIED), port)),
        default_server: false,
        reuseport: false,
        backlog: DEFAULT_BACKLOG,
        ssl: false,
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

/// Parses the address argument; a host name may give several addresses.
pub fn parse_address(value: &str) -> Result<Vec<ListenAddr>, ConfigErrorKind> {
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

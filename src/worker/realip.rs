//! nginx's realip module at request time: when the connection comes from a trusted
//! peer (`set_real_ip_from`), the client address in the configured header
//! (`real_ip_header`) becomes the request's `$remote_addr`; the connection's own
//! address stays in `$realip_remote_addr`.
//!
//! [`forwarded_addr`] is nginx's `ngx_http_get_forwarded_addr`, a pure function: a
//! header value is a list read from the right; without `real_ip_recursive` the last
//! element is taken, with it the walk goes left past every trusted address and stops
//! at the first untrusted one (or at the leftmost, if all are trusted). An element
//! that is not an address ends the walk: the address found so far stands, and if
//! there is none the client address is left unchanged.
//!
//! [`apply`] runs where nginx runs the module: after the server is chosen, with the
//! server's settings (the post-read phase), and again before a location's handler
//! with the location's settings (the preaccess phase) when the first did not replace
//! the address. At most once per request, as nginx.

use std::net::IpAddr;
use std::rc::Rc;

use crate::config::model::{parse_ip, RealIpConf, RealIpHeader};
use crate::exchange::Exchange;
use crate::exchange::Peer;
use crate::http1::{headers, Header};

/// The client as a trusted peer's header names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ForwardedAddr {
    pub ip: IpAddr,
    /// From `ADDR:PORT` / `[ADDR]:PORT`; none means `$remote_port` is empty.
    pub port: Option<u16>,
}

/// Replaces the request's client address when `conf` trusts the peer and its header
/// gives one. Does nothing once the address was replaced for this request.
pub fn apply(x: &mut Exchange, conf: &RealIpConf) {
    if x.peer.realip_original.is_some() || conf.set_real_ip_from.is_empty() {
        return;
    }
    let Some(found) = forwarded_addr(conf, x.peer.remote_ip, &x.head.headers) else {
        return;
    };
    let original = Rc::clone(&x.peer);
    x.peer = Rc::new(Peer {
        remote_addr: found.ip.to_string(),
        remote_port: found.port.unwrap_or(0),
        remote_ip: Some(found.ip),
        accepted: original.accepted,
        realip_original: Some(Rc::clone(&original)),
        listen: original.listen.clone(),
        server_addr: original.server_addr.clone(),
        server_port: original.server_port,
        scheme: original.scheme,
        tls: original.tls.clone(),
    });
}

/// The address that replaces `peer` (`None`: a unix socket client), or `None` when
/// the peer is not trusted, the header is absent, or it holds no usable address.
pub fn forwarded_addr(
    conf: &RealIpConf,
    peer: Option<IpAddr>,
    request_headers: &[Header],
) -> Option<ForwardedAddr> {
    if !conf.trusts(peer) {
        return None;
    }
    // X-Forwarded-For: every field line, the last one first. Any other field: the
    // first line of that name (nginx keeps only the first X-Real-IP).
    let values: Vec<&[u8]> = match &conf.real_ip_header {
        RealIpHeader::XForwardedFor => {
            let mut all: Vec<&[u8]> =
                headers::get_all(request_headers, "x-forwarded-for").collect();
            all.reverse();
            all
        }
        other => headers::get(request_headers, other.field_name())
            .into_iter()
            .collect(),
    };
    let mut current = Current { peer, found: None };
    for value in values {
        let found_here = current.walk(conf, value);
        // Without recursion only the last line counts; with it, the walk goes on to
        // the line before while each line gave an address (the next line's first
        // step stops it when that address is not trusted).
        if !conf.real_ip_recursive || !found_here {
            break;
        }
    }
    current.found
}

/// Where a walk is: the address to check for trust next, and the replacement so far.
struct Current {
    peer: Option<IpAddr>,
    found: Option<ForwardedAddr>,
}

impl Current {
    /// Walks one field value right to left (nginx's
    /// `ngx_http_get_forwarded_addr_internal`); true when it took an element. Each
    /// step first checks that the address reached so far is trusted.
    fn walk(&mut self, conf: &RealIpConf, value: &[u8]) -> bool {
        let elements = value
            .split(|&b| b == b',' || b == b' ')
            .filter(|e| !e.is_empty())
            .rev();
        let mut took = false;
        for element in elements {
            if !conf.trusts(self.peer) {
                break;
            }
            let Some(addr) = parse_addr_port(element) else {
                break;
            };
            self.peer = Some(addr.ip);
            self.found = Some(addr);
            took = true;
            if !conf.real_ip_recursive {
                break;
            }
        }
        took
    }
}

/// `ADDR`, `ADDR:PORT` (IPv4) or `[ADDR]:PORT`, as nginx's `ngx_parse_addr_port`:
/// the port must be 1-65535, and a bracketed address needs a port.
pub fn parse_addr_port(text: &[u8]) -> Option<ForwardedAddr> {
    let text = std::str::from_utf8(text).ok()?;
    if let Some(ip) = parse_ip(text) {
        return Some(ForwardedAddr { ip, port: None });
    }
    let (addr, port) = match text.strip_prefix('[') {
        Some(rest) => rest.split_once("]:")?,
        None => text.split_once(':')?,
    };
    if port.is_empty() || !port.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let port = port.parse::<u16>().ok().filter(|p| *p > 0)?;
    Some(ForwardedAddr {
        ip: parse_ip(addr)?,
        port: Some(port),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::model::{Cidr, TrustedPeer};

    fn conf(trusted: &[&str], header: &str, recursive: bool) -> RealIpConf {
        RealIpConf {
            set_real_ip_from: trusted
                .iter()
                .map(|t| match *t {
                    "unix:" => TrustedPeer::Unix,
                    net => TrustedPeer::Network(Cidr::parse(net).unwrap().0),
                })
                .collect(),
            real_ip_header: RealIpHeader::from_directive(header),
            real_ip_recursive: recursive,
        }
    }

    /// `Name: value` lines separated by `\n`.
    fn headers(lines: &str) -> Vec<Header> {
        lines
            .split('\n')
            .filter_map(|l| l.split_once(": "))
            .map(|(n, v)| Header::new(n.to_string(), v))
            .collect()
    }

    #[test]
    fn as_ngx_http_get_forwarded_addr() {
        let lb = ["127.0.0.1", "10.0.0.0/8"];
        let xff = "X-Forwarded-For";
        let nobody = conf(&[], xff, false);
        let last = conf(&lb, xff, false);
        let rec = conf(&lb, xff, true);
        let real = conf(&lb, "X-Real-IP", false);
        let field = conf(&lb, "CF-Connecting-IP", false);
        let lower = conf(&lb, "x-forwarded-for", false);
        let unix = conf(&["unix:"], xff, false);
        let v6 = conf(&["2001:db8::/32"], xff, true);
        // (case, settings, peer ("" is a unix socket), request headers, new address)
        #[rustfmt::skip]
        let rows: &[(&str, &RealIpConf, &str, &str, Option<&str>)] = &[
            ("nobody_trusted", &nobody, "127.0.0.1", "X-Forwarded-For: 1.2.3.4", None),
            ("peer_not_trusted", &last, "192.0.2.1", "X-Forwarded-For: 1.2.3.4", None),
            ("header_absent", &last, "127.0.0.1", "X-Real-IP: 1.2.3.4", None),
            ("last_element", &last, "127.0.0.1", "X-Forwarded-For: 203.0.113.9, 10.0.0.2, 198.51.100.1", Some("198.51.100.1")),
            ("last_even_if_trusted", &last, "127.0.0.1", "X-Forwarded-For: 203.0.113.9, 10.0.0.2", Some("10.0.0.2")),
            ("recursive_skips_trusted", &rec, "127.0.0.1", "X-Forwarded-For: 203.0.113.9, 198.51.100.7, 10.0.0.3, 10.0.0.2", Some("198.51.100.7")),
            ("recursive_all_trusted_leftmost", &rec, "127.0.0.1", "X-Forwarded-For: 10.0.0.9, 10.0.0.3", Some("10.0.0.9")),
            ("recursive_stops_at_garbage", &rec, "127.0.0.1", "X-Forwarded-For: 203.0.113.9, nonsense, 10.0.0.2", Some("10.0.0.2")),
            ("garbage_last_element", &last, "127.0.0.1", "X-Forwarded-For: 1.2.3.4, unknown", None),
            ("garbage_value", &rec, "127.0.0.1", "X-Forwarded-For: <script>", None),
            ("empty_value", &last, "127.0.0.1", "X-Forwarded-For: ", None),
            ("separators_only", &last, "127.0.0.1", "X-Forwarded-For:  , ,", None),
            ("empty_elements_skipped", &last, "127.0.0.1", "X-Forwarded-For: 1.2.3.4,,5.6.7.8 ,", Some("5.6.7.8")),
            ("lines_last_counts", &last, "127.0.0.1", "X-Forwarded-For: 1.1.1.1\nX-Forwarded-For: 2.2.2.2", Some("2.2.2.2")),
            ("lines_recursive", &rec, "127.0.0.1", "X-Forwarded-For: 1.1.1.1, 2.2.2.2\nX-Forwarded-For: 10.0.0.5", Some("2.2.2.2")),
            ("lines_recursive_all_trusted", &rec, "127.0.0.1", "X-Forwarded-For: 10.0.0.7\nX-Forwarded-For: 10.0.0.5", Some("10.0.0.7")),
            ("lines_untrusted_stops", &rec, "127.0.0.1", "X-Forwarded-For: 1.1.1.1\nX-Forwarded-For: 2.2.2.2", Some("2.2.2.2")),
            // nginx goes on to the line before after a bad element, from the last
            // trusted address it reached.
            ("lines_garbage_then_earlier", &rec, "127.0.0.1", "X-Forwarded-For: 1.1.1.1\nX-Forwarded-For: junk, 10.0.0.2", Some("1.1.1.1")),
            ("lines_empty_last", &rec, "127.0.0.1", "X-Forwarded-For: 1.1.1.1\nX-Forwarded-For: ", None),
            ("x_real_ip", &real, "10.9.9.9", "X-Real-IP: 203.0.113.5", Some("203.0.113.5")),
            ("x_real_ip_first_line", &real, "127.0.0.1", "X-Real-IP: 1.1.1.1\nX-Real-IP: 2.2.2.2", Some("1.1.1.1")),
            ("x_real_ip_is_a_list_too", &real, "127.0.0.1", "x-real-ip: 1.1.1.1, 2.2.2.2", Some("2.2.2.2")),
            ("other_field", &field, "127.0.0.1", "cf-connecting-ip: 2001:db8::1", Some("2001:db8::1")),
            ("lowercase_xff_is_plain_field", &lower, "127.0.0.1", "X-Forwarded-For: 1.1.1.1\nX-Forwarded-For: 2.2.2.2", Some("1.1.1.1")),
            ("unix_peer_trusted", &unix, "", "X-Forwarded-For: 1.2.3.4", Some("1.2.3.4")),
            ("unix_peer_not_trusted", &last, "", "X-Forwarded-For: 1.2.3.4", None),
            ("mapped_peer_is_ipv4", &last, "::ffff:10.1.1.1", "X-Forwarded-For: 1.2.3.4", Some("1.2.3.4")),
            ("ipv6_chain", &v6, "2001:db8::2", "X-Forwarded-For: 2001:db8::4, 2001:db8::3", Some("2001:db8::4")),
        ];
        for (name, conf, peer, lines, want) in rows {
            let peer = (!peer.is_empty()).then(|| peer.parse::<IpAddr>().unwrap());
            let got = forwarded_addr(conf, peer, &headers(lines)).map(|a| a.ip.to_string());
            assert_eq!(got.as_deref(), *want, "{name}");
        }
    }

    #[test]
    fn addresses_with_ports() {
        type Row<'a> = (&'a str, Option<(&'a str, Option<u16>)>);
        let rows: &[Row] = &[
            ("1.2.3.4", Some(("1.2.3.4", None))),
            ("1.2.3.4:8080", Some(("1.2.3.4", Some(8080)))),
            ("[2001:db8::1]:443", Some(("2001:db8::1", Some(443)))),
            ("2001:db8::1", Some(("2001:db8::1", None))),
            ("[2001:db8::1]", None),
            ("1.2.3.4:0", None),
            ("1.2.3.4:65536", None),
            ("1.2.3.4:", None),
            ("1.2.3.4:+80", None),
            ("host.example:80", None),
            ("unknown", None),
            ("", None),
        ];
        for (text, want) in rows {
            let got = parse_addr_port(text.as_bytes()).map(|a| (a.ip.to_string(), a.port));
            let want = want.map(|(ip, port)| (ip.to_string(), port));
            assert_eq!(got, want, "parse_addr_port({text:?})");
        }
        assert_eq!(parse_addr_port(b"\xff1.2.3.4"), None);
    }

    #[test]
    fn port_comes_along() {
        let c = conf(&["127.0.0.1"], "X-Real-IP", false);
        let h = headers("X-Real-IP: 203.0.113.5:51000");
        let got = forwarded_addr(&c, Some("127.0.0.1".parse().unwrap()), &h);
        assert_eq!(
            got,
            Some(ForwardedAddr {
                ip: "203.0.113.5".parse().unwrap(),
                port: Some(51000)
            })
        );
    }
}

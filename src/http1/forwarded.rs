//! The `Forwarded` field vestibule sends upstream (RFC 7239), as `$proxy_forwarded`:
//! one element saying what vestibule itself saw, `for=CLIENT;proto=SCHEME;host=HOST`.
//! `proxy_params` sets `Forwarded` to it, so a `Forwarded` the client wrote never
//! reaches the application as though vestibule had vouched for it.
//!
//! Runs when the proxy writes the upstream request head, from the exchange's client
//! address (after the realip module), scheme and received host.

use std::net::IpAddr;

use super::head::is_tchar;

/// Appends `for=...;proto=...[;host=...]` to `out`.
///
/// `client` is `$remote_addr`: an IPv4 address is a token (`for=192.0.2.60`), an IPv6
/// address is bracketed and quoted (`for="[2001:db8::1]"`, RFC 7239 §6), anything
/// else (a unix-socket peer) is `for=unknown` (§6.2). `host` is the `Host` as received
/// (§5.3), quoted when it is not a token (`host="example.com:8080"`); without one the
/// parameter is left out.
pub fn write_element(client: &str, proto: &str, host: Option<&str>, out: &mut Vec<u8>) {
    out.extend_from_slice(b"for=");
    match client.parse::<IpAddr>() {
        Ok(IpAddr::V4(v4)) => out.extend_from_slice(v4.to_string().as_bytes()),
        Ok(IpAddr::V6(v6)) => {
            out.extend_from_slice(b"\"[");
            out.extend_from_slice(v6.to_string().as_bytes());
            out.extend_from_slice(b"]\"");
        }
        Err(_) => out.extend_from_slice(b"unknown"),
    }
    out.extend_from_slice(b";proto=");
    write_value(proto.as_bytes(), out);
    if let Some(host) = host.filter(|h| !h.is_empty()) {
        out.extend_from_slice(b";host=");
        write_value(host.as_bytes(), out);
    }
}

/// `value = token / quoted-string` (RFC 7239 §4, RFC 9110 §5.6.4): as is when every
/// byte is a `tchar`, else quoted with `"` and `\` escaped; control bytes, which no
/// validated host or scheme holds, are dropped rather than sent.
fn write_value(value: &[u8], out: &mut Vec<u8>) {
    if !value.is_empty() && value.iter().all(|&b| is_tchar(b)) {
        out.extend_from_slice(value);
        return;
    }
    out.push(b'"');
    for &b in value {
        match b {
            b'"' | b'\\' => out.extend_from_slice(&[b'\\', b]),
            b'\t' | 0x20..=0x7e | 0x80..=0xff => out.push(b),
            _ => {}
        }
    }
    out.push(b'"');
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn elements() {
        // (name, client, host, expected)
        let rows: [(&str, &str, Option<&str>, &str); 7] = [
            (
                "ipv4",
                "192.0.2.60",
                Some("example.com"),
                "for=192.0.2.60;proto=http;host=example.com",
            ),
            (
                "ipv6_quoted",
                "::1",
                Some("example.com"),
                "for=\"[::1]\";proto=http;host=example.com",
            ),
            (
                "ipv6_full",
                "2001:db8:cafe::17",
                None,
                "for=\"[2001:db8:cafe::17]\";proto=http",
            ),
            (
                "host_with_port_quoted",
                "127.0.0.1",
                Some("example.com:8080"),
                "for=127.0.0.1;proto=http;host=\"example.com:8080\"",
            ),
            (
                "ipv6_host_quoted",
                "127.0.0.1",
                Some("[::1]:80"),
                "for=127.0.0.1;proto=http;host=\"[::1]:80\"",
            ),
            (
                "unix_peer_unknown",
                "unix:",
                Some("a"),
                "for=unknown;proto=http;host=a",
            ),
            (
                "quotes_escaped",
                "127.0.0.1",
                Some("a\"b\\c\x01"),
                "for=127.0.0.1;proto=http;host=\"a\\\"b\\\\c\"",
            ),
        ];
        for (name, client, host, want) in rows {
            let mut out = Vec::new();
            write_element(client, "http", host, &mut out);
            assert_eq!(String::from_utf8_lossy(&out), want, "{name}");
        }
    }
}

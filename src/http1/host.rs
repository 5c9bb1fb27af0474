//! Validation of the `Host` header and of the authority of an absolute-form target,
//! before either reaches `server_name` matching or an upstream's `Host`.
//!
//! The grammar is RFC 9110 §7.2's `uri-host [ ":" port ]` with RFC 3986 §3.2.2's
//! `reg-name` and `IP-literal`. That is stricter than nginx, which accepts any byte but
//! `/`, `\` and NUL: a space, a control byte, `@` (userinfo), a leading dot or `..`
//! gets a 400 here, and nothing that could confuse a later path or log reaches them.
//! Two forms nginx answers with 200 are taken as nginx takes them: an IP-literal in
//! IPvFuture form (`[v1.fe80::a+en1]`, or IPv6 with a zone, `[fe80::1%25en0]`), and a
//! `Host` with its port repeated (`host:80:80`, whose `$host` is `host`).

/// The longest port: five digits.
const MAX_PORT_DIGITS: usize = 5;

/// The most `:port` parts a `Host` value may carry. nginx answers `host:80:80` with
/// 200, taking `host` as `$host`; a client that repeats its port gets that here too.
const MAX_PORTS: usize = 2;

/// Whether `value` is a valid `Host` field value without userinfo. As nginx, it
/// takes `host:port:port` (the host part is the name; see [`MAX_PORTS`]).
pub fn is_valid_host(value: &[u8]) -> bool {
    is_valid(value, MAX_PORTS)
}

/// Whether `value` is a valid authority of an absolute-form request target
/// (`http://authority/path`): one port at most, as nginx's request-line parser
/// refuses `http://host:80:80/` with 400.
pub fn is_valid_authority(value: &[u8]) -> bool {
    is_valid(value, 1)
}

fn is_valid(value: &[u8], max_ports: usize) -> bool {
    let (host, port) = match value.first() {
        Some(b'[') => match value.iter().position(|&b| b == b']') {
            Some(close) => (
                value.get(..=close).unwrap_or_default(),
                value.get(close + 1..).unwrap_or_default(),
            ),
            None => return false,
        },
        _ => match value.iter().position(|&b| b == b':') {
            Some(colon) => (
                value.get(..colon).unwrap_or_default(),
                value.get(colon..).unwrap_or_default(),
            ),
            None => (value, &[][..]),
        },
    };
    is_valid_port_suffix(port, max_ports) && (is_valid_ip_literal(host) || is_valid_reg_name(host))
}

/// Empty, or up to `max_ports` times `:` and up to five digits (`example.com:` is
/// allowed, RFC 3986 §3.2.3).
fn is_valid_port_suffix(port: &[u8], max_ports: usize) -> bool {
    match port.split_first() {
        None => true,
        Some((b':', rest)) => {
            let mut parts = rest.split(|&b| b == b':');
            parts.clone().count() <= max_ports
                && parts.all(|digits| {
                    digits.len() <= MAX_PORT_DIGITS && digits.iter().all(u8::is_ascii_digit)
                })
        }
        Some(_) => false,
    }
}

/// `[` IPv6 `]`, `[` IPv6 `%25` zone `]` (RFC 6874) or `[` IPvFuture `]` (RFC 3986
/// §3.2.2: `v1.fe80::a+en1`), all of which nginx takes whole as `$host`.
fn is_valid_ip_literal(host: &[u8]) -> bool {
    match host {
        [b'[', b'v' | b'V', inner @ .., b']'] => is_ip_future(inner),
        [b'[', inner @ .., b']'] => is_ipv6_with_zone(inner),
        _ => false,
    }
}

/// The part of `IPvFuture` after its `v`: `1*HEXDIG "." 1*( unreserved / sub-delims /
/// ":" )`.
fn is_ip_future(rest: &[u8]) -> bool {
    let Some(dot) = rest.iter().position(|&b| b == b'.') else {
        return false;
    };
    let (version, address) = (
        rest.get(..dot).unwrap_or_default(),
        rest.get(dot + 1..).unwrap_or_default(),
    );
    !version.is_empty()
        && version.iter().all(u8::is_ascii_hexdigit)
        && !address.is_empty()
        && address
            .iter()
            .all(|&b| b == b':' || (b != b'%' && REG_NAME[usize::from(b)]))
}

/// Hex digits, colons and dots (for an embedded IPv4), then optionally `%25` and a
/// zone identifier of unreserved or percent-encoded bytes.
fn is_ipv6_with_zone(inner: &[u8]) -> bool {
    let (address, zone) = match inner.windows(3).position(|w| w == b"%25") {
        Some(at) => (
            inner.get(..at).unwrap_or_default(),
            Some(inner.get(at + 3..).unwrap_or_default()),
        ),
        None => (inner, None),
    };
    let address_ok = address.len() >= 2
        && address
            .iter()
            .all(|&b| b.is_ascii_hexdigit() || b == b':' || b == b'.');
    let zone_ok = match zone {
        None => true,
        Some(z) => {
            !z.is_empty()
                && z.iter()
                    .all(|&b| b.is_ascii_alphanumeric() || b"-._~%".contains(&b))
        }
    };
    address_ok && zone_ok
}

/// A non-empty `reg-name` (which covers IPv4 addresses), without a leading dot or an
/// empty label (`..`). A trailing dot (a fully qualified name) is allowed.
fn is_valid_reg_name(host: &[u8]) -> bool {
    if host.is_empty() || host.first() == Some(&b'.') || host.windows(2).any(|w| w == b"..") {
        return false;
    }
    host.iter().all(|&b| REG_NAME[usize::from(b)])
}

/// The bytes of a `reg-name`: unreserved, sub-delims and `%` (RFC 3986 §2.2, §2.3,
/// §3.2.2), as a table because every request's `Host` runs through it.
static REG_NAME: [bool; 256] = {
    let mut table = [false; 256];
    let mut b = 0;
    while b < 256 {
        let c = b as u8;
        table[b] = c.is_ascii_alphanumeric();
        b += 1;
    }
    let others = b"-._~!$&'()*+,;=%";
    let mut i = 0;
    while i < others.len() {
        table[others[i] as usize] = true;
        i += 1;
    }
    table
};

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
    use super::*;

    #[test]
    fn the_reg_name_table_is_rfc_3986s_set() {
        for b in 0..=255u8 {
            let want = b.is_ascii_alphanumeric() || b"-._~!$&'()*+,;=%".contains(&b);
            assert_eq!(REG_NAME[usize::from(b)], want, "{b:#x}");
        }
    }

    #[test]
    fn host_values() {
        let rows: [(&str, &[u8], bool); 38] = [
            ("name", b"example.com", true),
            ("name_with_port", b"example.com:8080", true),
            ("empty_port", b"example.com:", true),
            ("trailing_dot", b"example.com.", true),
            ("single_label", b"localhost", true),
            ("ipv4", b"127.0.0.1:80", true),
            ("ipv6", b"[::1]", true),
            ("ipv6_with_port", b"[2001:db8::1]:443", true),
            ("underscore", b"my_host", true),
            ("empty", b"", false),
            ("space_inside", b"exa mple.com", false),
            ("slash", b"example.com/evil", false),
            ("backslash", b"example.com\\evil", false),
            ("nul", b"example.com\0", false),
            ("control_byte", b"exam\x1bple.com", false),
            ("leading_dot", b".example.com", false),
            ("double_dot", b"example..com", false),
            ("dot_dot_alone", b"..", false),
            ("userinfo", b"user@example.com", false),
            ("port_not_digits", b"example.com:80a", false),
            ("port_too_long", b"example.com:123456", false),
            ("port_twice", b"example.com:80:80", true),
            ("port_twice_ipv6", b"[::1]:80:80", true),
            ("port_three_times", b"example.com:80:80:80", false),
            ("second_port_not_digits", b"example.com:80:x", false),
            ("ip_future", b"[v1.fe80::a+en1]", true),
            ("ip_future_with_port", b"[v1.fe80::a+en1]:8080", true),
            ("ip_future_upper", b"[V1.FE80::A+en1]", true),
            ("ip_future_no_address", b"[v1.]", false),
            ("ip_future_no_version", b"[v.x]", false),
            ("ip_future_bad_version", b"[vz.x]", false),
            ("ip_future_no_dot", b"[v1]", false),
            ("ip_future_bracket", b"[v1.a[b]", false),
            ("ipv6_zone", b"[fe80::1%25en0]", true),
            ("ipv6_empty_zone", b"[fe80::1%25]", false),
            ("ipv6_bare_percent", b"[fe80::1%en0]", false),
            ("ipv6_unclosed", b"[::1", false),
            ("ipv6_garbage_after", b"[::1]x", false),
        ];
        for (name, value, want) in rows {
            assert_eq!(is_valid_host(value), want, "{name}");
        }
    }

    #[test]
    fn an_authority_takes_one_port() {
        assert!(is_valid_authority(b"example.com:80"));
        assert!(is_valid_authority(b"[v1.fe80::a+en1]:80"));
        assert!(!is_valid_authority(b"example.com:80:80"));
    }
}

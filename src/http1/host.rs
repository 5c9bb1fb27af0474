//! Validation of the `Host` header and of the authority of an absolute-form target,
//! before either reaches `server_name` matching or an upstream's `Host`.
//!
//! The grammar is RFC 9110 §7.2's `uri-host [ ":" port ]` with RFC 3986 §3.2.2's
//! `reg-name` and `IP-literal`. That is stricter than nginx, which accepts any byte but
//! `/`, `\` and NUL: a space, a control byte, `@` (userinfo), a leading dot or `..`
//! gets a 400 here, and nothing that could confuse a later path or log reaches them.

/// The longest port: five digits.
const MAX_PORT_DIGITS: usize = 5;

/// Whether `value` is a valid `Host` field value or authority without userinfo.
pub fn is_valid_host(value: &[u8]) -> bool {
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
    is_valid_port_suffix(port) && (is_valid_ip_literal(host) || is_valid_reg_name(host))
}

/// Empty, or `:` and up to five digits (`example.com:` is allowed, RFC 3986 §3.2.3).
fn is_valid_port_suffix(port: &[u8]) -> bool {
    match port.split_first() {
        None => true,
        Some((b':', digits)) => {
            digits.len() <= MAX_PORT_DIGITS && digits.iter().all(u8::is_ascii_digit)
        }
        Some(_) => false,
    }
}

/// `[` IPv6 `]`: hex digits, colons and dots (for an embedded IPv4). Zone identifiers
/// and IPvFuture are refused.
fn is_valid_ip_literal(host: &[u8]) -> bool {
    match host {
        [b'[', inner @ .., b']'] => {
            inner.len() >= 2
                && inner
                    .iter()
                    .all(|&b| b.is_ascii_hexdigit() || b == b':' || b == b'.')
        }
        _ => false,
    }
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
        let rows: [(&str, &[u8], bool); 24] = [
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
            ("two_colons", b"example.com:80:80", false),
            ("ipv6_unclosed", b"[::1", false),
            ("ipv6_garbage_after", b"[::1]x", false),
        ];
        for (name, value, want) in rows {
            assert_eq!(is_valid_host(value), want, "{name}");
        }
    }
}

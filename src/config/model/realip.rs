//! nginx's realip module as configuration: which peers are trusted to say who the
//! client is (`set_real_ip_from`), in which request header (`real_ip_header`), and
//! whether a chain of trusted proxies is walked (`real_ip_recursive`).
//!
//! Also the pure address rules the module needs, with nginx's behaviour: IPv4 text as
//! `ngx_inet_addr` reads it (decimal octets, leading zeros allowed), networks as
//! `ngx_ptocidr` reads them, and matching as `ngx_cidr_match` does it (an IPv4-mapped
//! IPv6 peer is matched as the IPv4 address it carries). The worker applies the
//! settings to a request in `worker::realip`.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// An IP network: an address with every bit past the prefix cleared, and the prefix
/// length (32 or 128 for a single address).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cidr {
    addr: IpAddr,
    prefix_len: u8,
}

/// Why a `set_real_ip_from` value is not an address or network.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CidrError {
    /// The part before `/` is not an IPv4 or IPv6 address.
    NotAnAddress,
    /// The part after `/` is not a decimal number.
    BadPrefix,
    /// A prefix longer than the address (over 32 for IPv4, over 128 for IPv6).
    PrefixTooLong { max: u8 },
}

impl CidrError {
    /// What to tell the user, after the value.
    pub fn hint(self) -> &'static str {
        match self {
            CidrError::NotAnAddress => "not an IPv4 or IPv6 address",
            CidrError::BadPrefix => "the prefix length after \"/\" must be a number",
            CidrError::PrefixTooLong { max: 32 } => "an IPv4 prefix length is at most 32",
            CidrError::PrefixTooLong { .. } => "an IPv6 prefix length is at most 128",
        }
    }
}

impl Cidr {
    /// One address (`/32` or `/128`).
    pub fn host(addr: IpAddr) -> Cidr {
        let prefix_len = if addr.is_ipv4() { 32 } else { 128 };
        Cidr { addr, prefix_len }
    }

    /// `ADDRESS` or `ADDRESS/PREFIX`, as `ngx_ptocidr`. The flag is true when the
    /// address had bits set past the prefix (cleared here; nginx warns "low address
    /// bits of ... are meaningless").
    pub fn parse(text: &str) -> Result<(Cidr, bool), CidrError> {
        let (addr_text, prefix_text) = match text.split_once('/') {
            Some((a, p)) => (a, Some(p)),
            None => (text, None),
        };
        let addr = parse_ip(addr_text).ok_or(CidrError::NotAnAddress)?;
        let max: u8 = if addr.is_ipv4() { 32 } else { 128 };
        let Some(prefix_text) = prefix_text else {
            return Ok((Cidr::host(addr), false));
        };
        if prefix_text.is_empty() || !prefix_text.bytes().all(|b| b.is_ascii_digit()) {
            return Err(CidrError::BadPrefix);
        }
        let prefix_len = prefix_text
            .parse::<u8>()
            .ok()
            .filter(|p| *p <= max)
            .ok_or(CidrError::PrefixTooLong { max })?;
        let masked = mask(addr, prefix_len);
        Ok((
            Cidr {
                addr: masked,
                prefix_len,
            },
            masked != addr,
        ))
    }

    /// Whether `ip` is inside this network. Families must agree, after an
    /// IPv4-mapped IPv6 address (`::ffff:10.0.0.1`) is taken as its IPv4 address.
    pub fn contains(&self, ip: IpAddr) -> bool {
        let ip = unmap(ip);
        ip.is_ipv4() == self.addr.is_ipv4() && mask(ip, self.prefix_len) == self.addr
    }
}

impl std::fmt::Display for Cidr {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.addr, self.prefix_len)
    }
}

/// The address with every bit past `prefix_len` cleared.
fn mask(addr: IpAddr, prefix_len: u8) -> IpAddr {
    match addr {
        IpAddr::V4(a) => {
            let bits = u32::from(a);
            let m = u32::MAX
                .checked_shl(32 - u32::from(prefix_len))
                .unwrap_or(0);
            IpAddr::V4(Ipv4Addr::from(bits & m))
        }
        IpAddr::V6(a) => {
            let bits = u128::from(a);
            let m = u128::MAX
                .checked_shl(128 - u32::from(prefix_len))
                .unwrap_or(0);
            IpAddr::V6(Ipv6Addr::from(bits & m))
        }
    }
}

/// `::ffff:a.b.c.d` as `a.b.c.d`; any other address unchanged.
fn unmap(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        v4 => v4,
    }
}

/// An IPv4 or IPv6 address in text. IPv4 as nginx's `ngx_inet_addr`: four decimal
/// octets of at most 255, leading zeros allowed (`010` is ten, never octal). IPv6 as
/// RFC 4291 §2.2 (with an embedded IPv4 tail), no zone.
pub fn parse_ip(text: &str) -> Option<IpAddr> {
    if text.contains(':') {
        return text.parse::<Ipv6Addr>().ok().map(IpAddr::V6);
    }
    let mut octets = [0u8; 4];
    let mut parts = text.split('.');
    for octet in &mut octets {
        let part = parts.next()?;
        if part.is_empty() || !part.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        let value = part
            .bytes()
            .try_fold(0u32, |n, b| {
                let n = n * 10 + u32::from(b - b'0');
                (n <= 255).then_some(n)
            })
            .and_then(|n| u8::try_from(n).ok())?;
        *octet = value;
    }
    if parts.next().is_some() {
        return None;
    }
    Some(IpAddr::V4(Ipv4Addr::from(octets)))
}

/// One `set_real_ip_from` entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TrustedPeer {
    /// An address or network (a host name is resolved at load time into one entry
    /// per address).
    Network(Cidr),
    /// `unix:`: every client of a unix socket.
    Unix,
}

/// `real_ip_header`: where a trusted peer puts the client's address. nginx compares
/// the two special names case-sensitively; any other spelling is an ordinary field.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RealIpHeader {
    /// `X-Real-IP` (the default): the first such field.
    XRealIp,
    /// `X-Forwarded-For`: every such field, as one list, read from the right.
    XForwardedFor,
    /// Any other field name (lowercased): the first field of that name.
    Field(String),
}

impl RealIpHeader {
    /// The value as written: `X-Real-IP`, `X-Forwarded-For`, `True-Client-IP` ...
    pub fn from_directive(name: &str) -> RealIpHeader {
        match name {
            "X-Real-IP" => RealIpHeader::XRealIp,
            "X-Forwarded-For" => RealIpHeader::XForwardedFor,
            other => RealIpHeader::Field(other.to_ascii_lowercase()),
        }
    }

    /// The field name to look up (case-insensitively).
    pub fn field_name(&self) -> &str {
        match self {
            RealIpHeader::XRealIp => "x-real-ip",
            RealIpHeader::XForwardedFor => "x-forwarded-for",
            RealIpHeader::Field(name) => name,
        }
    }
}

/// The realip settings of a location (merged like any other: `set_real_ip_from` is
/// a list, inherited only when a level writes none).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RealIpConf {
    /// Empty (the default) trusts nobody: no header ever changes `$remote_addr`.
    pub set_real_ip_from: Vec<TrustedPeer>,
    pub real_ip_header: RealIpHeader,
    pub real_ip_recursive: bool,
}

impl Default for RealIpConf {
    fn default() -> Self {
        RealIpConf {
            set_real_ip_from: Vec::new(),
            real_ip_header: RealIpHeader::XRealIp,
            real_ip_recursive: false,
        }
    }
}

impl RealIpConf {
    /// Whether `peer` is a trusted source; `None` is a unix-socket client.
    pub fn trusts(&self, peer: Option<IpAddr>) -> bool {
        self.set_real_ip_from.iter().any(|t| match (t, peer) {
            (TrustedPeer::Network(net), Some(ip)) => net.contains(ip),
            (TrustedPeer::Unix, None) => true,
            _ => false,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn ipv4_text_as_nginx_reads_it() {
        let cases: &[(&str, Option<&str>)] = &[
            ("192.168.1.10", Some("192.168.1.10")),
            ("010.000.0.1", Some("10.0.0.1")),
            ("0.0.0.0", Some("0.0.0.0")),
            ("256.1.1.1", None),
            ("1.2.3", None),
            ("1.2.3.4.5", None),
            ("1..2.3", None),
            ("1.2.3.4 ", None),
            ("+1.2.3.4", None),
            ("", None),
            ("00000000000000000001.2.3.4", Some("1.2.3.4")),
            ("99999999999.2.3.4", None),
            ("::1", Some("::1")),
            ("2001:db8::7", Some("2001:db8::7")),
            ("::ffff:1.2.3.4", Some("::ffff:1.2.3.4")),
            ("[::1]", None),
            ("fe80::1%eth0", None),
            ("example.com", None),
        ];
        for (text, want) in cases {
            assert_eq!(parse_ip(text), want.map(ip), "parse_ip({text:?})");
        }
    }

    #[test]
    fn cidr_forms() {
        type Row<'a> = (&'a str, Result<(&'a str, bool), CidrError>);
        let cases: &[Row] = &[
            ("192.168.1.0/24", Ok(("192.168.1.0/24", false))),
            ("192.168.2.1", Ok(("192.168.2.1/32", false))),
            ("10.1.2.3/8", Ok(("10.0.0.0/8", true))),
            ("0.0.0.0/0", Ok(("0.0.0.0/0", false))),
            ("2001:0db8::/32", Ok(("2001:db8::/32", false))),
            ("::1", Ok(("::1/128", false))),
            ("::/0", Ok(("::/0", false))),
            ("10.0.0.0/33", Err(CidrError::PrefixTooLong { max: 32 })),
            ("::/129", Err(CidrError::PrefixTooLong { max: 128 })),
            ("10.0.0.0/300", Err(CidrError::PrefixTooLong { max: 32 })),
            ("10.0.0.0/", Err(CidrError::BadPrefix)),
            ("10.0.0.0/x", Err(CidrError::BadPrefix)),
            ("10.0.0.0/-1", Err(CidrError::BadPrefix)),
            ("10.0.0/8", Err(CidrError::NotAnAddress)),
            ("garbage", Err(CidrError::NotAnAddress)),
        ];
        for (text, want) in cases {
            let got = Cidr::parse(text).map(|(c, low)| (c.to_string(), low));
            let want = want.map(|(c, low)| (c.to_string(), low));
            assert_eq!(got, want, "Cidr::parse({text:?})");
        }
    }

    #[test]
    fn matching_as_ngx_cidr_match() {
        let net = |s: &str| Cidr::parse(s).unwrap().0;
        let cases: &[(&str, &str, bool)] = &[
            ("192.168.1.0/24", "192.168.1.77", true),
            ("192.168.1.0/24", "192.168.2.1", false),
            ("127.0.0.1", "127.0.0.1", true),
            ("127.0.0.1", "127.0.0.2", false),
            ("0.0.0.0/0", "203.0.113.9", true),
            ("0.0.0.0/0", "::1", false),
            ("::/0", "127.0.0.1", false),
            ("2001:db8::/32", "2001:db8:1::5", true),
            ("2001:db8::/32", "2001:db9::5", false),
            // An IPv4-mapped peer is matched as IPv4, never against IPv6 networks.
            ("10.0.0.0/8", "::ffff:10.1.2.3", true),
            ("::ffff:0:0/96", "::ffff:10.1.2.3", false),
        ];
        for (network, addr, want) in cases {
            assert_eq!(
                net(network).contains(ip(addr)),
                *want,
                "{network} contains {addr}"
            );
        }
    }

    #[test]
    fn trust_needs_an_entry() {
        let none = RealIpConf::default();
        assert!(!none.trusts(Some(ip("127.0.0.1"))));
        assert!(!none.trusts(None));
        let conf = RealIpConf {
            set_real_ip_from: vec![
                TrustedPeer::Unix,
                TrustedPeer::Network(Cidr::host(ip("10.0.0.1"))),
            ],
            ..RealIpConf::default()
        };
        assert!(conf.trusts(None));
        assert!(conf.trusts(Some(ip("10.0.0.1"))));
        assert!(!conf.trusts(Some(ip("10.0.0.2"))));
    }

    #[test]
    fn header_names() {
        assert_eq!(
            RealIpHeader::from_directive("X-Real-IP"),
            RealIpHeader::XRealIp
        );
        assert_eq!(
            RealIpHeader::from_directive("X-Forwarded-For"),
            RealIpHeader::XForwardedFor
        );
        // nginx compares the special names case-sensitively.
        assert_eq!(
            RealIpHeader::from_directive("x-forwarded-for"),
            RealIpHeader::Field("x-forwarded-for".into())
        );
        assert_eq!(
            RealIpHeader::from_directive("CF-Connecting-IP").field_name(),
            "cf-connecting-ip"
        );
    }
}

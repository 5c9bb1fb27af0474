//! The hashing balancers of nginx's upstream modules, computed as nginx computes them
//! so a client lands on the same server behind vestibule as behind nginx:
//!
//! - `ip_hash` (`ngx_http_upstream_ip_hash_module`): the first three octets of an
//!   IPv4 address (the whole of an IPv6 one) folded as `h = (h * 113 + byte) % 6271`
//!   from 89, then a walk over the weights.
//! - `hash KEY` (`ngx_http_upstream_hash_module`): `(crc32(KEY) >> 16) & 0x7fff`,
//!   summed over retries that prefix the retry number (Cache::Memcached's scheme).
//! - `hash KEY consistent`: a ring of `160 × weight` points per server, each the
//!   crc32 of `host \0 port` and the previous point (Cache::Memcached::Fast's
//!   ketama); the key's crc32 picks the first point at or after it.
//!
//! Pure: the caller says which servers may be chosen; these return candidates in the
//! order nginx would try them.

use crate::config::model::UpstreamServer;

/// How many servers nginx tries by hash before falling back to round robin.
pub const HASH_TRIES: usize = 20;

/// `ip_hash`: the servers to try for `addr`, in order (at most [`HASH_TRIES`]).
pub fn ip_hash_order(addr: std::net::IpAddr, weights: &[u32]) -> Vec<usize> {
    let bytes: Vec<u8> = match addr {
        std::net::IpAddr::V4(a) => a.octets()[..3].to_vec(),
        std::net::IpAddr::V6(a) => a.octets().to_vec(),
    };
    let total: u64 = weights.iter().map(|w| u64::from((*w).max(1))).sum();
    if total == 0 {
        return Vec::new();
    }
    let mut hash: u64 = 89;
    let mut out = Vec::with_capacity(HASH_TRIES);
    for _ in 0..HASH_TRIES {
        for b in &bytes {
            hash = (hash * 113 + u64::from(*b)) % 6271;
        }
        out.push(by_weight(hash % total, weights));
    }
    out
}

/// `hash KEY`: the servers to try for `key`, in order (at most [`HASH_TRIES`]).
pub fn hash_order(key: &[u8], weights: &[u32]) -> Vec<usize> {
    let total: u64 = weights.iter().map(|w| u64::from((*w).max(1))).sum();
    if total == 0 {
        return Vec::new();
    }
    let mut sum: u64 = 0;
    let mut out = Vec::with_capacity(HASH_TRIES);
    for rehash in 0..HASH_TRIES {
        let mut h = crc32fast::Hasher::new();
        if rehash > 0 {
            h.update(rehash.to_string().as_bytes());
        }
        h.update(key);
        sum += u64::from((h.finalize() >> 16) & 0x7fff);
        out.push(by_weight(sum % total, weights));
    }
    out
}

/// The server that weight offset `w` falls on.
fn by_weight(mut w: u64, weights: &[u32]) -> usize {
    for (i, weight) in weights.iter().enumerate() {
        let weight = u64::from((*weight).max(1));
        if w < weight {
            return i;
        }
        w -= weight;
    }
    weights.len().saturating_sub(1)
}

/// `hash KEY consistent`: the ring of points, sorted by hash.
#[derive(Debug, Clone, Default)]
pub struct Ring {
    points: Vec<(u32, usize)>,
}

impl Ring {
    /// The ring for `servers` (a server's name as written, `host:port` or
    /// `unix:/path`, and its weight).
    pub fn new(servers: &[UpstreamServer]) -> Ring {
        let mut points = Vec::new();
        for (i, s) in servers.iter().enumerate() {
            let (host, port) = split_host_port(&s.name);
            let mut base = crc32fast::Hasher::new();
            base.update(host.as_bytes());
            base.update(b"\0");
            base.update(port.as_bytes());
            let mut prev: u32 = 0;
            for _ in 0..160 * s.weight.max(1) {
                let mut h = base.clone();
                h.update(&prev.to_le_bytes());
                let point = h.finalize();
                points.push((point, i));
                prev = point;
            }
        }
        points.sort_by_key(|p| p.0);
        points.dedup_by_key(|p| p.0);
        Ring { points }
    }

    /// The servers to try for `key`, in ring order from its point (at most
    /// [`HASH_TRIES`]).
    pub fn order(&self, key: &[u8]) -> Vec<usize> {
        if self.points.is_empty() {
            return Vec::new();
        }
        let hash = crc32fast::hash(key);
        let start = self.points.partition_point(|p| p.0 < hash);
        (0..HASH_TRIES)
            .map(|k| self.points[(start + k) % self.points.len()].1)
            .collect()
    }
}

/// nginx's split of a server name for the ring: `unix:` sockets are all host; else
/// the part after the last `:` is the port.
fn split_host_port(name: &str) -> (&str, &str) {
    if name.len() >= 5 && name[..5].eq_ignore_ascii_case("unix:") {
        return (&name[5..], "");
    }
    match name.rfind(':') {
        Some(i) => (&name[..i], &name[i + 1..]),
        None => (name, ""),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ip_hash_uses_three_octets_and_weights() {
        let w = [1, 1, 1];
        let a = ip_hash_order("10.1.2.3".parse().unwrap(), &w);
        let b = ip_hash_order("10.1.2.200".parse().unwrap(), &w);
        assert_eq!(a, b, "the last octet does not count");
        assert_eq!(a.len(), HASH_TRIES);
        // 89 → (89*113+10)%6271=3796 → (3796*113+1)%6271=2521 → (2521*113+2)%6271=2680
        assert_eq!(a[0], 2680 % 3);
        let spread: std::collections::HashSet<usize> = (0..=255u8)
            .map(|o| ip_hash_order(format!("192.168.{o}.1").parse().unwrap(), &w)[0])
            .collect();
        assert_eq!(spread.len(), 3);
    }

    #[test]
    fn hash_is_memcached_compatible() {
        let w = [1, 1];
        // crc32("a") = 0xe8b7be43 → >>16 & 0x7fff = 0x68b7 = 26807 → odd → server 1.
        assert_eq!(hash_order(b"a", &w)[0], 1);
        assert_eq!(hash_order(b"a", &w), hash_order(b"a", &w));
    }

    #[test]
    fn the_ring_moves_few_keys_when_a_server_goes() {
        let server = |port: u16| UpstreamServer {
            name: format!("127.0.0.1:{port}"),
            addr: crate::config::model::UpstreamAddr::Tcp(
                format!("127.0.0.1:{port}").parse().unwrap(),
            ),
            weight: 1,
            max_fails: 1,
            fail_timeout: std::time::Duration::from_secs(10),
            backup: false,
            down: false,
            span: crate::config::source::Span::new(
                std::sync::Arc::new(crate::config::source::Origin::CommandLine),
                1,
            ),
        };
        let three = Ring::new(&[server(1), server(2), server(3)]);
        let two = Ring::new(&[server(1), server(2)]);
        let mut moved = 0;
        for k in 0..1000 {
            let key = format!("user{k}");
            let a = three.order(key.as_bytes())[0];
            let b = two.order(key.as_bytes())[0];
            if a != 2 && a != b {
                moved += 1;
            }
        }
        assert_eq!(moved, 0, "keys of the servers that stay do not move");
        assert_eq!(split_host_port("unix:/run/a.sock"), ("/run/a.sock", ""));
    }
}

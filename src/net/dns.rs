//! A small DNS client for names known only at request time (`proxy_pass http://$host`
//! with `resolver`), as nginx's resolver: A (and, with `ipv6=on`, AAAA) queries over
//! UDP to the configured servers, answers cached per worker for their TTL or the
//! `valid=` time, `resolver_timeout` for the whole lookup. Names the configuration
//! holds are resolved when it loads; this is only for the rest.
//!
//! The wire format is RFC 1035 §4: a 12-byte header, the question, and the answer
//! section's records, whose owner names may be compressed (pointers) and whose CNAME
//! chains are followed within the answer.

use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::time::{Duration, Instant};

/// Record types asked for.
const TYPE_A: u16 = 1;
const TYPE_AAAA: u16 = 28;
const CLASS_IN: u16 = 1;
/// The longest one query waits for its answer.
const PER_QUERY: Duration = Duration::from_secs(5);
/// What a message with another query's id is.
const OTHER_QUERY: &str = "an answer to another query";
/// The most a UDP answer may be (EDNS is not offered).
const MAX_ANSWER: usize = 512;

/// Why a name did not resolve.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DnsError {
    /// No answer within `resolver_timeout`.
    TimedOut,
    /// The server said the name does not exist (NXDOMAIN), or gave no address.
    NotFound,
    /// A malformed answer, or an error code other than NXDOMAIN.
    Failed(String),
}

impl std::fmt::Display for DnsError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            DnsError::TimedOut => f.write_str("Operation timed out"),
            DnsError::NotFound => f.write_str("Host not found"),
            DnsError::Failed(why) => f.write_str(why),
        }
    }
}

/// A query for `name` and `qtype` with message id `id`; `None` for a name no server
/// could be asked (an empty label, one longer than 63 bytes), which nginx declines too.
pub fn query(id: u16, name: &str, qtype: u16) -> Option<Vec<u8>> {
    let labels: Vec<&str> = name.trim_end_matches('.').split('.').collect();
    if labels.iter().any(|l| l.is_empty() || l.len() > 63) {
        return None;
    }
    let mut q = Vec::with_capacity(18 + name.len());
    q.extend_from_slice(&id.to_be_bytes());
    q.extend_from_slice(&[0x01, 0x00]); // recursion desired
    q.extend_from_slice(&[0, 1, 0, 0, 0, 0, 0, 0]); // one question
    for label in labels {
        q.push(label.len() as u8);
        q.extend_from_slice(label.as_bytes());
    }
    q.push(0);
    q.extend_from_slice(&qtype.to_be_bytes());
    q.extend_from_slice(&CLASS_IN.to_be_bytes());
    Some(q)
}

/// The addresses in an answer to query `id`, with the smallest TTL among them.
pub fn parse_answer(id: u16, msg: &[u8]) -> Result<(Vec<IpAddr>, Duration), DnsError> {
    let bad = || DnsError::Failed("malformed DNS answer".to_string());
    let be16 =
        |at: usize| -> Option<u16> { Some(u16::from_be_bytes([*msg.get(at)?, *msg.get(at + 1)?])) };
    if be16(0) != Some(id) {
        return Err(DnsError::Failed(OTHER_QUERY.to_string()));
    }
    let flags = be16(2).ok_or_else(bad)?;
    // An answer, not a query looped back.
    if flags & 0x8000 == 0 {
        return Err(DnsError::Failed(OTHER_QUERY.to_string()));
    }
    match flags & 0x000f {
        0 => {}
        3 => return Err(DnsError::NotFound),
        code => return Err(DnsError::Failed(format!("DNS error code {code}"))),
    }
    let questions = be16(4).ok_or_else(bad)?;
    let answers = be16(6).ok_or_else(bad)?;
    let mut at = 12;
    for _ in 0..questions {
        at = skip_name(msg, at).ok_or_else(bad)? + 4;
    }
    let mut out = Vec::new();
    let mut ttl = u32::MAX;
    for _ in 0..answers {
        at = skip_name(msg, at).ok_or_else(bad)?;
        let rtype = be16(at).ok_or_else(bad)?;
        let rttl = u32::from_be_bytes(
            msg.get(at + 4..at + 8)
                .and_then(|b| b.try_into().ok())
                .ok_or_else(bad)?,
        );
        let len = usize::from(be16(at + 8).ok_or_else(bad)?);
        let data = msg.get(at + 10..at + 10 + len).ok_or_else(bad)?;
        at += 10 + len;
        // CNAME records lead to the A/AAAA records that follow them in the answer.
        let addr = match (rtype, data.len()) {
            (TYPE_A, 4) => IpAddr::V4(Ipv4Addr::new(data[0], data[1], data[2], data[3])),
            (TYPE_AAAA, 16) => {
                let b: [u8; 16] = data.try_into().map_err(|_| bad())?;
                IpAddr::V6(Ipv6Addr::from(b))
            }
            _ => continue,
        };
        // RFC 2181 §8: a TTL with the top bit set counts as 0.
        let rttl = if rttl & 0x8000_0000 != 0 { 0 } else { rttl };
        ttl = ttl.min(rttl);
        out.push(addr);
    }
    if out.is_empty() {
        return Err(DnsError::NotFound);
    }
    Ok((out, Duration::from_secs(u64::from(ttl))))
}

/// The offset just past the (possibly compressed) name at `at`.
fn skip_name(msg: &[u8], mut at: usize) -> Option<usize> {
    loop {
        let len = *msg.get(at)?;
        match len {
            0 => return Some(at + 1),
            l if l & 0xc0 == 0xc0 => return Some(at + 2),
            l => at += 1 + usize::from(l),
        }
    }
}

/// The `resolver` settings of a location.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResolverConf {
    pub servers: Vec<SocketAddr>,
    /// `valid=`: how long an answer is kept, instead of its TTL.
    pub valid: Option<Duration>,
    /// `ipv6=on` (nginx's default): AAAA records are asked for too.
    pub ipv6: bool,
    /// `resolver_timeout` (default 30s).
    pub timeout: Duration,
}

/// A worker's cache of answers, by name.
#[derive(Debug, Default)]
pub struct DnsCache {
    entries: std::cell::RefCell<HashMap<String, (Vec<IpAddr>, Instant)>>,
    /// The query id generator's state (xorshift64), seeded on first use.
    rng: std::cell::Cell<u64>,
}

/// At most this many names are kept per worker.
const MAX_NAMES: usize = 1024;

impl DnsCache {
    /// An unpredictable query id: an off-path forger must guess it and the port.
    fn next_id(&self) -> u16 {
        let mut x = self.rng.get();
        if x == 0 {
            let t = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_nanos() as u64);
            x = (t ^ (u64::from(std::process::id()) << 40)) | 1;
        }
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.rng.set(x);
        (x >> 24) as u16
    }

    /// The addresses of `name`: from the cache while fresh, else asked of the servers
    /// in turn until one answers, within `conf.timeout`.
    pub async fn resolve(&self, name: &str, conf: &ResolverConf) -> Result<Vec<IpAddr>, DnsError> {
        let key = name.to_ascii_lowercase();
        if let Some((addrs, until)) = self.entries.borrow().get(&key) {
            if Instant::now() < *until {
                return Ok(addrs.clone());
            }
        }
        let lookup = self.ask(&key, conf);
        let (addrs, ttl) = match crate::net::timer::timeout(conf.timeout, lookup).await {
            Ok(r) => r?,
            Err(_) => return Err(DnsError::TimedOut),
        };
        let keep = conf.valid.unwrap_or(ttl);
        let now = Instant::now();
        let mut entries = self.entries.borrow_mut();
        // Names come from requests (`$host`): the cache stays bounded.
        if entries.len() >= MAX_NAMES {
            entries.retain(|_, (_, until)| *until > now);
            if entries.len() >= MAX_NAMES {
                entries.clear();
            }
        }
        entries.insert(key, (addrs.clone(), now + keep));
        Ok(addrs)
    }

    async fn ask(
        &self,
        name: &str,
        conf: &ResolverConf,
    ) -> Result<(Vec<IpAddr>, Duration), DnsError> {
        // What to say when no server gives an address: its "no such name" unless
        // something worse happened.
        let mut last = DnsError::NotFound;
        for server in &conf.servers {
            let mut addrs = Vec::new();
            let mut ttl = Duration::MAX;
            let types: &[u16] = if conf.ipv6 {
                &[TYPE_A, TYPE_AAAA]
            } else {
                &[TYPE_A]
            };
            for &qtype in types {
                // Each query waits a share of the lookup's time, so a lost AAAA answer
                // does not cost the A records already in hand.
                let one = self.one(name, qtype, *server);
                match crate::net::timer::timeout(PER_QUERY.min(conf.timeout), one).await {
                    Ok(Ok((mut a, t))) => {
                        addrs.append(&mut a);
                        ttl = ttl.min(t);
                    }
                    Ok(Err(DnsError::NotFound)) => {}
                    Ok(Err(e)) => last = e,
                    Err(_) => last = DnsError::TimedOut,
                }
            }
            if !addrs.is_empty() {
                return Ok((addrs, ttl));
            }
        }
        Err(last)
    }

    /// One query to one server, answered on a connected socket of its own.
    async fn one(
        &self,
        name: &str,
        qtype: u16,
        server: SocketAddr,
    ) -> Result<(Vec<IpAddr>, Duration), DnsError> {
        let id = self.next_id();
        let Some(question) = query(id, name, qtype) else {
            return Err(DnsError::NotFound);
        };
        let local: SocketAddr = match server {
            SocketAddr::V4(_) => (Ipv4Addr::UNSPECIFIED, 0).into(),
            SocketAddr::V6(_) => (Ipv6Addr::UNSPECIFIED, 0).into(),
        };
        let io = |e: std::io::Error| DnsError::Failed(e.to_string());
        let socket = monoio::net::udp::UdpSocket::bind(local).map_err(io)?;
        socket.connect(server).await.map_err(io)?;
        let (sent, _) = socket.send(question).await;
        sent.map_err(io)?;
        loop {
            let (got, buf) = socket.recv(vec![0u8; MAX_ANSWER]).await;
            let n = got.map_err(io)?;
            match parse_answer(id, buf.get(..n).unwrap_or_default()) {
                // An answer to another query (a late one): wait for ours.
                Err(DnsError::Failed(why)) if why == OTHER_QUERY => continue,
                r => return r,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An answer as a server builds it: the question echoed, then the records.
    fn answer(id: u16, name: &str, records: &[(u16, u32, &[u8])]) -> Vec<u8> {
        let q = query(id, name, TYPE_A).unwrap();
        let mut m = q[..12].to_vec();
        m[2] = 0x81;
        m[3] = 0x80;
        m[7] = records.len() as u8;
        m.extend_from_slice(&q[12..]);
        for (t, ttl, data) in records {
            m.extend_from_slice(&[0xc0, 12]); // the question's name
            m.extend_from_slice(&t.to_be_bytes());
            m.extend_from_slice(&CLASS_IN.to_be_bytes());
            m.extend_from_slice(&ttl.to_be_bytes());
            m.extend_from_slice(&(data.len() as u16).to_be_bytes());
            m.extend_from_slice(data);
        }
        m
    }

    #[test]
    fn queries_and_answers_on_the_wire() {
        let q = query(7, "app.test", TYPE_A).unwrap();
        assert_eq!(&q[12..], b"\x03app\x04test\x00\x00\x01\x00\x01");
        assert_eq!(query(7, "a..test", TYPE_A), None);
        assert_eq!(query(7, &"x".repeat(64), TYPE_A), None);
        let m = answer(
            7,
            "app.test",
            &[
                (5, 60, b"\x03www\xc0\x0c"),
                (TYPE_A, 30, &[127, 0, 0, 2]),
                (TYPE_A, 90, &[127, 0, 0, 3]),
            ],
        );
        let (addrs, ttl) = parse_answer(7, &m).unwrap();
        assert_eq!(
            addrs,
            vec![IpAddr::from([127, 0, 0, 2]), IpAddr::from([127, 0, 0, 3])]
        );
        assert_eq!(ttl, Duration::from_secs(30));
        assert!(parse_answer(8, &m).is_err(), "another query's answer");
        let mut nx = answer(7, "app.test", &[]);
        nx[3] = 0x83;
        assert_eq!(parse_answer(7, &nx), Err(DnsError::NotFound));
        assert_eq!(
            parse_answer(7, &m[..20]).map(|_| ()),
            Err(DnsError::Failed("malformed DNS answer".into()))
        );
    }
}

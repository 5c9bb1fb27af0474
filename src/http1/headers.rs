//! Header lookup and hop-by-hop rules, used between parsing and forwarding: the
//! proxy drops hop-by-hop fields from a request before adding its own
//! (`proxy_set_header`), and from a response before relaying it (RFC 9110 §7.6.1).

use super::head::Header;

/// The options every message may carry in `Connection`, kept as flags.
const COMMON_TOKENS: [&str; 3] = ["keep-alive", "close", "upgrade"];

/// The options of a message's `Connection` lines (RFC 9110 §7.6.1), lowercased and
/// once each: the [`COMMON_TOKENS`] as flags, which costs no allocation for the
/// `Connection: keep-alive` nearly every upstream sends, any other as a copy.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ConnectionTokens {
    common: [bool; COMMON_TOKENS.len()],
    others: Vec<String>,
}

impl ConnectionTokens {
    pub fn new() -> Self {
        Self::default()
    }

    /// Whether the options include `token` (given lowercased).
    pub fn has(&self, token: &str) -> bool {
        match COMMON_TOKENS.iter().position(|t| *t == token) {
            Some(i) => self.common.get(i).copied().unwrap_or(false),
            None => self.others.iter().any(|t| t == token),
        }
    }

    /// Whether the options name the field `name` (ASCII case-insensitive).
    pub fn names(&self, name: &str) -> bool {
        COMMON_TOKENS
            .iter()
            .zip(self.common)
            .any(|(t, set)| set && t.eq_ignore_ascii_case(name))
            || self.others.iter().any(|t| t.eq_ignore_ascii_case(name))
    }

    /// Every option, the common ones first.
    pub fn iter(&self) -> impl Iterator<Item = &str> + '_ {
        COMMON_TOKENS
            .iter()
            .zip(self.common)
            .filter(|(_, set)| *set)
            .map(|(t, _)| *t)
            .chain(self.others.iter().map(String::as_str))
    }

    /// Adds the options of one `Connection` value; empty elements are skipped (RFC
    /// 9110 §5.6.1).
    pub fn push_value(&mut self, value: &[u8]) {
        for element in value.split(|&b| b == b',') {
            let token = element.trim_ascii();
            if token.is_empty() {
                continue;
            }
            let common = COMMON_TOKENS
                .iter()
                .position(|t| t.as_bytes().eq_ignore_ascii_case(token));
            match common.and_then(|i| self.common.get_mut(i)) {
                Some(flag) => *flag = true,
                None => {
                    let token = String::from_utf8_lossy(token).to_ascii_lowercase();
                    if !self.others.contains(&token) {
                        self.others.push(token);
                    }
                }
            }
        }
    }
}

/// Fields that describe one connection and are never forwarded (RFC 9110 §7.6.1,
/// plus `Proxy-Connection`, which old clients send, and `Trailer`, RFC 9110 §6.6.2).
pub const HOP_BY_HOP: [&str; 7] = [
    "connection",
    "keep-alive",
    "proxy-connection",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
];

/// Whether a field must not be forwarded: a fixed hop-by-hop field, or one named in
/// `Connection`.
///
/// A client can name any field in `Connection`, `Host` included; the proxy must
/// apply this before it sets its own fields, which are then never removed.
pub fn is_hop_by_hop(name: &str, connection_tokens: &ConnectionTokens) -> bool {
    HOP_BY_HOP.iter().any(|h| h.eq_ignore_ascii_case(name)) || connection_tokens.names(name)
}

/// The options of every `Connection` line of a head.
pub fn connection_tokens(headers: &[Header]) -> ConnectionTokens {
    let mut tokens = ConnectionTokens::new();
    for value in get_all(headers, "connection") {
        tokens.push_value(value);
    }
    tokens
}

/// The value of the first field called `name` (ASCII case-insensitive).
pub fn get<'a>(headers: &'a [Header], name: &str) -> Option<&'a [u8]> {
    headers
        .iter()
        .find(|h| h.is(name))
        .map(|h| h.value.as_slice())
}

/// The values of every field called `name`, in order.
pub fn get_all<'a>(headers: &'a [Header], name: &'a str) -> impl Iterator<Item = &'a [u8]> + 'a {
    headers
        .iter()
        .filter(move |h| h.is(name))
        .map(|h| h.value.as_slice())
}

/// Whether a comma-separated field called `name` lists `token` (case-insensitive),
/// e.g. `has_token(headers, "connection", "close")`.
pub fn has_token(headers: &[Header], name: &str, token: &str) -> bool {
    get_all(headers, name).any(|value| {
        value
            .split(|&b| b == b',')
            .any(|e| e.trim_ascii().eq_ignore_ascii_case(token.as_bytes()))
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
    use super::*;

    fn headers(pairs: &[(&str, &str)]) -> Vec<Header> {
        pairs
            .iter()
            .map(|(n, v)| Header::new(n.to_string(), v.as_bytes()))
            .collect()
    }

    #[test]
    fn lookup_ignores_case_and_keeps_order() {
        let h = headers(&[("Accept", "a"), ("ACCEPT", "b"), ("Host", "x")]);
        assert_eq!(get(&h, "accept"), Some(&b"a"[..]));
        assert_eq!(get_all(&h, "Accept").collect::<Vec<_>>(), [&b"a"[..], b"b"]);
        assert_eq!(get(&h, "missing"), None);
    }

    #[test]
    fn connection_tokens_are_lowercased_deduplicated_and_merged() {
        let h = headers(&[
            ("Connection", "Keep-Alive, , X-Secret"),
            ("connection", "UPGRADE,keep-alive, x-secret"),
        ]);
        let tokens = connection_tokens(&h);
        assert_eq!(
            tokens.iter().collect::<Vec<_>>(),
            ["keep-alive", "upgrade", "x-secret"]
        );
        assert!(tokens.has("upgrade") && tokens.has("x-secret") && !tokens.has("close"));
        assert!(tokens.names("X-SECRET") && tokens.names("Keep-Alive") && !tokens.names("Close"));
        assert!(has_token(&h, "Connection", "upgrade"));
        assert!(!has_token(&h, "Connection", "close"));
    }

    #[test]
    fn hop_by_hop_fields() {
        let mut tokens = ConnectionTokens::new();
        tokens.push_value(b"X-Secret");
        // (name, hop-by-hop)
        let rows = [
            ("Connection", true),
            ("Keep-Alive", true),
            ("Proxy-Connection", true),
            ("TE", true),
            ("Trailer", true),
            ("Transfer-Encoding", true),
            ("Upgrade", true),
            ("X-Secret", true),
            ("Content-Length", false),
            ("Host", false),
            ("Proxy-Authorization", false),
        ];
        for (name, want) in rows {
            assert_eq!(is_hop_by_hop(name, &tokens), want, "{name}");
        }
    }
}

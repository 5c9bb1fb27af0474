//! Header lookup and hop-by-hop rules, used between parsing and forwarding: the
//! proxy drops hop-by-hop fields from a request before adding its own
//! (`proxy_set_header`), and from a response before relaying it (RFC 9110 §7.6.1).

use std::borrow::Cow;

use super::head::Header;

/// The options of `Connection`, lowercased: a common one borrows its `'static`
/// spelling, any other is a copy.
pub type ConnectionTokens = Vec<Cow<'static, str>>;

/// The `Connection` options nearly every message carries; a parsed head names them
/// without a copy.
const COMMON_TOKENS: [&str; 3] = ["keep-alive", "close", "upgrade"];

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
/// `Connection` (`connection_tokens` as from [`connection_tokens`], lowercased).
///
/// A client can name any field in `Connection`, `Host` included; the proxy must
/// apply this before it sets its own fields, which are then never removed.
pub fn is_hop_by_hop(name: &str, connection_tokens: &[Cow<'static, str>]) -> bool {
    HOP_BY_HOP.iter().any(|h| h.eq_ignore_ascii_case(name))
        || connection_tokens
            .iter()
            .any(|t| t.eq_ignore_ascii_case(name))
}

/// The lowercased options of every `Connection` line (RFC 9110 §7.6.1:
/// `Connection = #connection-option`), empty elements skipped.
pub fn connection_tokens(headers: &[Header]) -> ConnectionTokens {
    let mut tokens = Vec::new();
    for value in get_all(headers, "connection") {
        push_connection_tokens(value, &mut tokens);
    }
    tokens
}

/// Appends the options of one `Connection` value to `out`, lowercased, once each.
pub(crate) fn push_connection_tokens(value: &[u8], out: &mut ConnectionTokens) {
    for element in value.split(|&b| b == b',') {
        let token = element.trim_ascii();
        if token.is_empty() {
            continue; // RFC 9110 §5.6.1: empty list elements are ignored.
        }
        let token = match COMMON_TOKENS
            .iter()
            .find(|t| t.as_bytes().eq_ignore_ascii_case(token))
        {
            Some(common) => Cow::Borrowed(*common),
            None => Cow::Owned(String::from_utf8_lossy(token).to_ascii_lowercase()),
        };
        if !out.contains(&token) {
            out.push(token);
        }
    }
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
            ("connection", "UPGRADE,keep-alive"),
        ]);
        let tokens = connection_tokens(&h);
        assert_eq!(tokens, ["keep-alive", "x-secret", "upgrade"]);
        assert!(
            matches!(tokens[0], Cow::Borrowed("keep-alive")),
            "a common option is not copied"
        );
        assert!(has_token(&h, "Connection", "upgrade"));
        assert!(!has_token(&h, "Connection", "close"));
    }

    #[test]
    fn hop_by_hop_fields() {
        let tokens: ConnectionTokens = vec![Cow::Owned("x-secret".to_owned())];
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

//! HTTP Basic authentication (RFC 7617) as nginx's auth_basic module reads it: the
//! `Authorization: Basic` credentials ([`credentials`], also behind `$remote_user`)
//! and the user file, one `user:hash` per line ([`find_hash`]).

use base64::engine::general_purpose::{GeneralPurpose, GeneralPurposeConfig};
use base64::engine::DecodePaddingMode;
use base64::Engine;

use crate::http1::Header;

/// The user and password a request sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Credentials {
    pub user: Vec<u8>,
    pub password: Vec<u8>,
}

/// nginx's base64 decoder: padding optional, what follows the first `=` ignored,
/// unused low bits not checked.
const LENIENT: GeneralPurpose = GeneralPurpose::new(
    &base64::alphabet::STANDARD,
    GeneralPurposeConfig::new()
        .with_decode_padding_mode(DecodePaddingMode::RequireNone)
        .with_decode_allow_trailing_bits(true),
);

/// The credentials of the first `Authorization` field, when it is `Basic` (any
/// case) with base64 text holding a `:`; `None` otherwise, as nginx declines.
pub fn credentials(headers: &[Header]) -> Option<Credentials> {
    let field = headers
        .iter()
        .find(|h| h.name.eq_ignore_ascii_case("authorization"))?;
    let value = field.value.as_slice();
    let scheme = value.get(..6)?;
    if !scheme.eq_ignore_ascii_case(b"basic ") {
        return None;
    }
    let encoded = value.get(6..)?;
    let start = encoded.iter().position(|&b| b != b' ')?;
    let encoded = &encoded[start..];
    let end = encoded
        .iter()
        .position(|&b| b == b'=')
        .unwrap_or(encoded.len());
    let decoded = LENIENT.decode(&encoded[..end]).ok()?;
    let colon = decoded.iter().position(|&b| b == b':')?;
    // nginx: no user name is no credentials at all.
    if colon == 0 {
        return None;
    }
    Some(Credentials {
        user: decoded[..colon].to_vec(),
        password: decoded[colon + 1..].to_vec(),
    })
}

/// The hash stored for `user` in a user file's bytes: the first line that starts
/// with `user:`, up to the next `:` or end of line. Lines starting with `#` (or
/// CR) are skipped; the comparison is byte for byte.
pub fn find_hash<'f>(file: &'f [u8], user: &[u8]) -> Option<&'f [u8]> {
    for line in file.split(|&b| b == b'\n') {
        if line.first() == Some(&b'#') || line.first() == Some(&b'\r') {
            continue;
        }
        let Some(rest) = line.strip_prefix(user).and_then(|r| r.strip_prefix(b":")) else {
            continue;
        };
        let end = rest
            .iter()
            .position(|&b| b == b'\r' || b == b':')
            .unwrap_or(rest.len());
        return Some(&rest[..end]);
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn auth(value: &str) -> Option<(String, String)> {
        let h = vec![Header::new("Authorization", value)];
        credentials(&h).map(|c| {
            (
                String::from_utf8(c.user).unwrap(),
                String::from_utf8(c.password).unwrap(),
            )
        })
    }

    #[test]
    fn authorization_values() {
        let ok = |u: &str, p: &str| Some((u.to_string(), p.to_string()));
        let cases = [
            ("Basic YWxpY2U6c2VjcmV0", ok("alice", "secret")),
            ("basic YWxpY2U6c2VjcmV0", ok("alice", "secret")),
            ("Basic    YWxpY2U6c2VjcmV0", ok("alice", "secret")),
            ("Basic YWxpY2U6cGFzczE=", ok("alice", "pass1")),
            ("Basic YWxpY2U6cGFzczE", ok("alice", "pass1")),
            ("Basic YWxpY2U6cGFzczE=garbage", ok("alice", "pass1")),
            // No user name: nginx treats it as no credentials.
            ("Basic OnBhc3M=", None),
            ("Basic YWxpY2U6", ok("alice", "")),
            ("Basic YWxpY2U6YTpi", ok("alice", "a:b")),
            ("Basic YWxpY2U=", None),
            ("Basic !!!!", None),
            ("Basic ", None),
            ("Bearer YWxpY2U6c2VjcmV0", None),
            ("Basic", None),
        ];
        for (value, want) in cases {
            assert_eq!(auth(value), want, "{value}");
        }
    }

    #[test]
    fn user_file_lines() {
        let file = b"# alice:commented\nbob:h1\r\nalice:h2:comment\nalice:h3\ncarol:h4";
        let cases: [(&str, Option<&str>); 6] = [
            ("alice", Some("h2")),
            ("bob", Some("h1")),
            ("carol", Some("h4")),
            ("Alice", None),
            ("ali", None),
            ("# alice", None),
        ];
        for (user, want) in cases {
            let got = find_hash(file, user.as_bytes()).map(|h| std::str::from_utf8(h).unwrap());
            assert_eq!(got, want, "{user}");
        }
    }
}

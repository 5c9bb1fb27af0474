//! The request method (RFC 9110 §9): parsed from the request line by
//! [`super::request`], consulted by the proxy to decide whether a failed request may be
//! replayed on a fresh upstream connection, and by the response parser because a
//! response to HEAD has no body (RFC 9112 §6.3).

use std::fmt;

/// An HTTP method. Methods are case-sensitive (RFC 9110 §9.1): `get` is `Other("get")`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Method {
    Get,
    Head,
    Post,
    Put,
    Delete,
    Connect,
    Options,
    Trace,
    Patch,
    Other(String),
}

impl Method {
    /// The method named by `token`, which the caller has checked is a method token.
    pub fn from_token(token: &str) -> Self {
        match token {
            "GET" => Self::Get,
            "HEAD" => Self::Head,
            "POST" => Self::Post,
            "PUT" => Self::Put,
            "DELETE" => Self::Delete,
            "CONNECT" => Self::Connect,
            "OPTIONS" => Self::Options,
            "TRACE" => Self::Trace,
            "PATCH" => Self::Patch,
            other => Self::Other(other.to_owned()),
        }
    }

    /// The method as it appears on the request line.
    pub fn as_str(&self) -> &str {
        match self {
            Self::Get => "GET",
            Self::Head => "HEAD",
            Self::Post => "POST",
            Self::Put => "PUT",
            Self::Delete => "DELETE",
            Self::Connect => "CONNECT",
            Self::Options => "OPTIONS",
            Self::Trace => "TRACE",
            Self::Patch => "PATCH",
            Self::Other(s) => s,
        }
    }

    /// Safe methods are read-only by definition (RFC 9110 §9.2.1). Unknown methods are
    /// not assumed safe.
    pub fn is_safe(&self) -> bool {
        matches!(self, Self::Get | Self::Head | Self::Options | Self::Trace)
    }

    /// Idempotent methods may be repeated with the same effect, so a request that
    /// failed before any response byte may be retried (RFC 9110 §9.2.2): the safe
    /// methods plus PUT and DELETE. Unknown methods are not assumed idempotent.
    pub fn is_idempotent(&self) -> bool {
        self.is_safe() || matches!(self, Self::Put | Self::Delete)
    }
}

impl fmt::Display for Method {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
    use super::*;

    #[test]
    fn safety_and_idempotence_follow_rfc_9110_section_9_2() {
        // (token, safe, idempotent)
        let rows = [
            ("GET", true, true),
            ("HEAD", true, true),
            ("OPTIONS", true, true),
            ("TRACE", true, true),
            ("PUT", false, true),
            ("DELETE", false, true),
            ("POST", false, false),
            ("PATCH", false, false),
            ("CONNECT", false, false),
            ("PROPFIND", false, false),
        ];
        for (token, safe, idempotent) in rows {
            let m = Method::from_token(token);
            assert_eq!(m.as_str(), token);
            assert_eq!(m.is_safe(), safe, "{token} safe");
            assert_eq!(m.is_idempotent(), idempotent, "{token} idempotent");
        }
    }

    #[test]
    fn methods_are_case_sensitive() {
        assert_eq!(Method::from_token("get"), Method::Other("get".into()));
    }
}

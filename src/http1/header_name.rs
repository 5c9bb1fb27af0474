//! Which request header names reach the rest of the data path: nginx's
//! `underscores_in_headers` and `ignore_invalid_headers`, applied by
//! [`super::request::parse_request_head`] as each head is validated, before framing,
//! `Host`, `$http_*`, logging or the upstream see any field.
//!
//! nginx calls a name valid when it holds only letters, digits and `-` (and `_` with
//! `underscores_in_headers on`). With `ignore_invalid_headers on`, the default, any
//! other name is dropped silently: `X_Forwarded_Host` and `Transfer_Encoding` never
//! reach Gunicorn, which would otherwise map them to the same WSGI variable as
//! `X-Forwarded-Host` and `Transfer-Encoding` (CGI turns `-` into `_`). With it off,
//! such names are passed on as received.
//!
//! A name with a byte outside RFC 9110's `tchar` (`X(Y`, a space, UTF-8) is refused
//! with 400 by the head parser whatever these say; nginx drops or passes those too.

/// The two directives, as the default server of the listening socket sets them (nginx
/// reads them there, since the head is parsed before a server is chosen).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HeaderNameRules {
    /// `underscores_in_headers` (default off): `_` counts as a valid name byte.
    pub underscores_in_headers: bool,
    /// `ignore_invalid_headers` (default on): fields with invalid names are dropped.
    pub ignore_invalid_headers: bool,
}

impl Default for HeaderNameRules {
    /// nginx's defaults: `underscores_in_headers off; ignore_invalid_headers on;`.
    fn default() -> Self {
        Self {
            underscores_in_headers: false,
            ignore_invalid_headers: true,
        }
    }
}

impl HeaderNameRules {
    /// Whether a field called `name` is kept.
    pub fn keeps(&self, name: &str) -> bool {
        !self.ignore_invalid_headers || self.is_valid(name)
    }

    /// Whether every byte of `name` is one nginx accepts in a header name.
    pub fn is_valid(&self, name: &str) -> bool {
        name.bytes().all(|b| {
            b.is_ascii_alphanumeric() || b == b'-' || (b == b'_' && self.underscores_in_headers)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_kept_under_each_setting() {
        let default = HeaderNameRules::default();
        let underscores = HeaderNameRules {
            underscores_in_headers: true,
            ..default
        };
        let pass_all = HeaderNameRules {
            ignore_invalid_headers: false,
            ..default
        };
        // (name, kept by default, with underscores on, with ignore_invalid_headers off)
        let rows = [
            ("X-Forwarded-Host", true, true, true),
            ("x-forwarded-host", true, true, true),
            ("X-Request-2", true, true, true),
            ("X_Forwarded_Host", false, true, true),
            ("Transfer_Encoding", false, true, true),
            ("_", false, true, true),
            ("X.Dot", false, false, true),
            ("X~Tilde", false, false, true),
            ("X!Bang", false, false, true),
        ];
        for (name, by_default, with_underscores, without_ignoring) in rows {
            assert_eq!(default.keeps(name), by_default, "{name} default");
            assert_eq!(
                underscores.keeps(name),
                with_underscores,
                "{name} underscores"
            );
            assert_eq!(pass_all.keeps(name), without_ignoring, "{name} ignore off");
        }
    }
}

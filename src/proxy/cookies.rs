//! `proxy_cookie_domain` and `proxy_cookie_path`: the `Domain` and `Path` attributes
//! of the upstream's `Set-Cookie` lines rewritten, as nginx's proxy module does. A
//! Flask app that sets cookies for its own host or its own mount point then sets them
//! for the public name or prefix.
//!
//! A domain matches case-insensitively, a leading dot ignored on both sides (the
//! cookie's own dot is kept); a path
//! matches as a prefix (case-sensitively) and only its matched part is replaced. The
//! first rule that matches an attribute wins; the other attributes are untouched.

use crate::config::model::proxy_shaping::CookieRule;
use crate::config::template::VariableSource;

/// `value` (one `Set-Cookie` field) with its attributes rewritten; `None` when no rule
/// applied.
pub fn rewrite(
    value: &[u8],
    domains: &[CookieRule],
    paths: &[CookieRule],
    vars: &dyn VariableSource,
) -> Option<Vec<u8>> {
    let text = std::str::from_utf8(value).ok()?;
    let mut changed = false;
    let mut out = String::with_capacity(text.len() + 16);
    for (i, part) in text.split(';').enumerate() {
        if i > 0 {
            out.push(';');
        }
        let replaced = (i > 0)
            .then(|| attribute(part, domains, paths, vars))
            .flatten();
        match replaced {
            Some(p) => {
                out.push_str(&p);
                changed = true;
            }
            None => out.push_str(part),
        }
    }
    changed.then(|| out.into_bytes())
}

/// One `; name=value` part, rewritten by the first matching rule.
fn attribute(
    part: &str,
    domains: &[CookieRule],
    paths: &[CookieRule],
    vars: &dyn VariableSource,
) -> Option<String> {
    let (name, value) = part.split_once('=')?;
    let lead = &name[..name.len() - name.trim_start().len()];
    let key = name.trim();
    let value = value.trim();
    let expand = |rule: &CookieRule| {
        let mut to = Vec::new();
        rule.to.expand(vars, &mut to);
        String::from_utf8_lossy(&to).into_owned()
    };
    if key.eq_ignore_ascii_case("domain") {
        let bare = value.strip_prefix('.').unwrap_or(value);
        let rule = domains.iter().find(|r| {
            let from = r.from.strip_prefix('.').unwrap_or(&r.from);
            from.eq_ignore_ascii_case(bare)
        })?;
        // The cookie's own leading dot stays, as nginx keeps it.
        let dot = if value.starts_with('.') { "." } else { "" };
        return Some(format!("{lead}{key}={dot}{}", expand(rule)));
    }
    if key.eq_ignore_ascii_case("path") {
        let rule = paths.iter().find(|r| value.starts_with(r.from.as_str()))?;
        let rest = &value[rule.from.len()..];
        return Some(format!("{lead}{key}={}{rest}", expand(rule)));
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::template::{Template, Variable};

    struct NoVars;
    impl VariableSource for NoVars {
        fn write_variable(&self, _: &Variable, _: &mut Vec<u8>) -> bool {
            false
        }
    }

    fn rule(from: &str, to: &str) -> CookieRule {
        CookieRule {
            from: from.to_string(),
            to: Template::literal(to),
        }
    }

    #[test]
    fn domains_and_paths_as_nginx_rewrites_them() {
        let d = [rule("localhost", "example.org")];
        let p = [rule("/two/", "/")];
        let got = rewrite(
            b"session=abc; Domain=.LOCALHOST; Path=/two/some/uri/; HttpOnly",
            &d,
            &p,
            &NoVars,
        )
        .unwrap();
        assert_eq!(
            String::from_utf8(got).unwrap(),
            "session=abc; Domain=.example.org; Path=/some/uri/; HttpOnly"
        );
        assert_eq!(rewrite(b"a=b; Path=/other", &d, &p, &NoVars), None);
        // The cookie's own value is never taken for an attribute.
        assert_eq!(rewrite(b"path=/two/x", &d, &p, &NoVars), None);
    }
}

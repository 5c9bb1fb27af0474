//! Regex captures of the server name or location that matched, kept for `$1`..`$9` and
//! named variables (`$sub` from `(?<sub>...)`) that the handler expands later.
//!
//! Sits in the data path at routing (after head parsing, before the handler): it is the
//! only allocation routing makes, and only when the winning regex has capture groups.
//! As in nginx's `ngx_http_regex_exec`, a regex without groups leaves no captures
//! (`None`), so the caller keeps whatever an earlier regex captured.

use std::sync::Arc;

use crate::pcre::{Pcre, Spans};

/// A regex compiled once at [`crate::route::Router::compile`].
#[derive(Debug, Clone)]
pub(crate) struct CompiledRegex {
    regex: Pcre,
}

/// The result of running a [`CompiledRegex`].
#[derive(Debug)]
pub(crate) enum RegexMatch {
    NoMatch,
    /// Matched; `None` when the regex has no capture groups.
    Match(Option<Captures>),
}

impl CompiledRegex {
    pub(crate) fn new(regex: &Pcre) -> CompiledRegex {
        CompiledRegex {
            regex: regex.clone(),
        }
    }

    /// Runs the regex over `subject` (unanchored, as PCRE in nginx).
    pub(crate) fn exec(&self, subject: &str) -> RegexMatch {
        match exec_script_regex(&self.regex, subject) {
            None => RegexMatch::NoMatch,
            Some(captures) => RegexMatch::Match(captures),
        }
    }
}

/// Runs a regex over `subject`: `None` when it does not match, else its captures
/// (`None` inside when it has no groups: `$1`..`$9` are then empty, as after such a
/// match in nginx).
pub fn exec_script_regex(regex: &Pcre, subject: &str) -> Option<Option<Captures>> {
    if !regex.has_groups() {
        return regex.is_match(subject).then_some(None);
    }
    let spans = regex.spans(subject)?;
    Some(Some(Captures {
        subject: Box::from(subject),
        spans,
        names: Arc::clone(regex.names()),
    }))
}

/// What a regex captured, owned so it outlives the request head it came from.
#[derive(Debug, Clone)]
pub struct Captures {
    subject: Box<str>,
    spans: Spans,
    names: Arc<[Option<Box<str>>]>,
}

impl Captures {
    /// Number of groups, counting group 0 (the whole match).
    pub fn len(&self) -> usize {
        self.spans.len()
    }

    /// Always false: group 0 exists whenever there is a match.
    pub fn is_empty(&self) -> bool {
        self.spans.len() == 0
    }

    /// Group `i` (`$1` is `get(1)`); `None` when the group did not participate or does
    /// not exist (nginx expands such a variable to the empty string).
    pub fn get(&self, i: usize) -> Option<&str> {
        let (start, end) = self.spans.get(i)?;
        self.subject.get(start..end)
    }

    /// A named group (`(?<sub>...)` read as `$sub`).
    pub fn name(&self, name: &str) -> Option<&str> {
        let i = self.names.iter().position(|n| n.as_deref() == Some(name))?;
        self.get(i)
    }

    /// Whether the regex has a group named `name` (which may not have taken part).
    pub fn has_name(&self, name: &str) -> bool {
        self.names.iter().any(|n| n.as_deref() == Some(name))
    }

    /// The names of the named groups, in group order.
    pub fn names(&self) -> impl Iterator<Item = &str> + '_ {
        self.names.iter().filter_map(|n| n.as_deref())
    }

    /// The text the regex ran over (the URI path or the normalised host).
    pub fn subject(&self) -> &str {
        &self.subject
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::panic)]

    use super::*;

    fn exec(pattern: &str, subject: &str) -> RegexMatch {
        CompiledRegex::new(&Pcre::new(pattern, false).unwrap()).exec(subject)
    }

    #[test]
    fn regex_without_groups_matches_without_captures() {
        assert!(matches!(exec(r"\.php$", "/a.php"), RegexMatch::Match(None)));
        assert!(matches!(exec(r"\.php$", "/a.py"), RegexMatch::NoMatch));
    }

    #[test]
    fn numbered_and_named_groups() {
        let RegexMatch::Match(Some(c)) = exec(r"^/(?<app>\w+)/(\d+)?(x)?", "/shop/42") else {
            panic!("expected captures");
        };
        assert_eq!(c.len(), 4);
        assert_eq!(c.get(0), Some("/shop/42"));
        assert_eq!(c.get(1), Some("shop"));
        assert_eq!(c.get(2), Some("42"));
        assert_eq!(c.get(3), None, "group that did not participate");
        assert_eq!(c.get(9), None, "group that does not exist");
        assert_eq!(c.name("app"), Some("shop"));
        assert_eq!(c.name("nope"), None);
        assert_eq!(c.names().collect::<Vec<_>>(), ["app"]);
        assert_eq!(c.subject(), "/shop/42");
    }
}

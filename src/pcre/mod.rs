//! nginx's regexes: PCRE syntax, compiled once at configuration load and run on the
//! request path (locations, `server_name ~`, `rewrite`, `if`, `map`, `proxy_redirect`).
//!
//! Two engines behind one type, [`Pcre`]:
//! - `regex` (finite automata, linear time) for every pattern it accepts — the usual
//!   `\.(css|js)$` or `^/api/(?<ver>v\d+)/` — so the common case pays nothing;
//! - `fancy-regex` (a backtracker over `regex`) only for patterns that need what
//!   automata cannot do: look-ahead and look-behind, back-references, atomic groups
//!   and possessive quantifiers.
//!
//! Before either sees it, [`translate`] rewrites the PCRE spellings neither reads
//! (`\Q...\E`, `(?'name'...)`). A pattern neither engine accepts is a load error.
//! Captures from either engine come back as [`Spans`], read by `route::Captures`.

mod translate;

use std::borrow::Cow;
use std::sync::Arc;

pub use translate::{has_possessive_quantifier, translate};

/// Steps the backtracking engine may take per match before it gives up (the match then
/// counts as failed); nginx's PCRE has a similar match limit.
const BACKTRACK_LIMIT: usize = 1_000_000;

/// A compiled nginx regex.
#[derive(Debug, Clone)]
pub struct Pcre {
    engine: Engine,
    /// Group names by index (`None` for unnamed groups and for group 0).
    names: Arc<[Option<Box<str>>]>,
    /// Compiled for `~*` (case-insensitive).
    caseless: bool,
}

#[derive(Debug, Clone)]
enum Engine {
    /// Accepted by `regex`: linear-time matching.
    Automaton(regex::Regex),
    /// Needs backtracking (look-around, back-references, atomic groups).
    Backtracking(Arc<fancy_regex::Regex>),
}

/// Which engine runs a pattern, for `-T`-style reports, tests and the docs' claims.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EngineKind {
    Automaton,
    Backtracking,
}

/// Why a pattern does not compile: the engine's reason on one line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PcreError {
    pub reason: String,
}

impl Pcre {
    /// Compiles `pattern` (nginx's `~` is case-sensitive, `~*` sets `caseless`).
    pub fn new(pattern: &str, caseless: bool) -> Result<Pcre, PcreError> {
        let translated = translate(pattern);
        let automaton = if has_possessive_quantifier(&translated) {
            Err("possessive quantifiers are not supported".to_string())
        } else {
            regex::RegexBuilder::new(&translated)
                .case_insensitive(caseless)
                .build()
                .map_err(|e| one_line(&e.to_string()))
        };
        let automaton_error = match automaton {
            Ok(regex) => {
                let names = regex.capture_names().map(|n| n.map(Box::from)).collect();
                return Ok(Pcre {
                    engine: Engine::Automaton(regex),
                    names,
                    caseless,
                });
            }
            Err(reason) => reason,
        };
        match fancy_regex::RegexBuilder::new(&translated)
            .case_insensitive(caseless)
            .backtrack_limit(BACKTRACK_LIMIT)
            .build()
        {
            Ok(regex) => {
                let names = regex.capture_names().map(|n| n.map(Box::from)).collect();
                Ok(Pcre {
                    engine: Engine::Backtracking(Arc::new(regex)),
                    names,
                    caseless,
                })
            }
            // `regex` names the feature it lacks ("look-around ... is not supported");
            // then the backtracker's complaint is the one about the actual mistake.
            Err(e) if automaton_error.contains("not supported") => Err(PcreError {
                reason: one_line(&e.to_string()),
            }),
            Err(_) => Err(PcreError {
                reason: automaton_error,
            }),
        }
    }

    pub fn engine(&self) -> EngineKind {
        match self.engine {
            Engine::Automaton(_) => EngineKind::Automaton,
            Engine::Backtracking(_) => EngineKind::Backtracking,
        }
    }

    /// Whether the pattern was compiled case-insensitive (`~*`).
    pub fn caseless(&self) -> bool {
        self.caseless
    }

    /// Group names by index, shared with every [`Spans`]' reader.
    pub fn names(&self) -> &Arc<[Option<Box<str>>]> {
        &self.names
    }

    /// The named groups' names, in group order.
    pub fn capture_names(&self) -> impl Iterator<Item = &str> + '_ {
        self.names.iter().filter_map(|n| n.as_deref())
    }

    /// Whether the pattern has explicit groups (only then does a match capture).
    pub fn has_groups(&self) -> bool {
        self.names.len() > 1
    }

    /// Whether the pattern matches anywhere in `subject` (unanchored, as nginx runs
    /// PCRE). A backtracking match that exceeds its step limit counts as no match.
    pub fn is_match(&self, subject: &str) -> bool {
        match &self.engine {
            Engine::Automaton(r) => r.is_match(subject),
            Engine::Backtracking(r) => r.is_match(subject).unwrap_or(false),
        }
    }

    /// The groups' byte ranges of the first match in `subject`, or `None`.
    pub fn spans(&self, subject: &str) -> Option<Spans> {
        match &self.engine {
            Engine::Automaton(r) => {
                let mut locations = r.capture_locations();
                r.captures_read(&mut locations, subject)?;
                Some(Spans(SpansInner::Automaton(locations)))
            }
            Engine::Backtracking(r) => {
                let caps = r.captures(subject).ok()??;
                let ranges = (0..caps.len())
                    .map(|i| caps.get(i).map(|m| (m.start(), m.end())))
                    .collect();
                Some(Spans(SpansInner::Backtracking(ranges)))
            }
        }
    }

    /// `subject` with its first match replaced by `replacement`, in which `$1` and
    /// `${name}` name groups (the `proxy_redirect ~regex` rewrite).
    pub fn replace<'s>(&self, subject: &'s str, replacement: &str) -> Cow<'s, str> {
        match &self.engine {
            Engine::Automaton(r) => r.replace(subject, replacement),
            Engine::Backtracking(r) => r
                .try_replacen(subject, 1, replacement)
                .unwrap_or(Cow::Borrowed(subject)),
        }
    }
}

/// The byte ranges one match gave its groups (group 0 is the whole match).
#[derive(Debug, Clone)]
pub struct Spans(SpansInner);

#[derive(Debug, Clone)]
enum SpansInner {
    Automaton(regex::CaptureLocations),
    Backtracking(Box<[Option<(usize, usize)>]>),
}

impl Spans {
    /// Number of groups, counting group 0.
    pub fn len(&self) -> usize {
        match &self.0 {
            SpansInner::Automaton(l) => l.len(),
            SpansInner::Backtracking(r) => r.len(),
        }
    }

    /// Always false after a match (group 0 exists).
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Group `i`'s byte range; `None` when it did not take part or does not exist.
    pub fn get(&self, i: usize) -> Option<(usize, usize)> {
        match &self.0 {
            SpansInner::Automaton(l) => l.get(i),
            SpansInner::Backtracking(r) => r.get(i).copied().flatten(),
        }
    }
}

/// The last `error: ...` line of a multi-line engine error, else the whole text.
fn one_line(text: &str) -> String {
    text.lines()
        .rev()
        .find_map(|l| l.trim().strip_prefix("error: "))
        .unwrap_or(text)
        .trim()
        .to_string()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    fn groups(p: &Pcre, subject: &str) -> Option<Vec<Option<String>>> {
        let spans = p.spans(subject)?;
        Some(
            (0..spans.len())
                .map(|i| spans.get(i).map(|(s, e)| subject[s..e].to_string()))
                .collect(),
        )
    }

    #[test]
    fn engine_chosen_by_need() {
        let cases = [
            (r"\.(css|js|png)$", EngineKind::Automaton),
            (r"^/api/(?<ver>v\d+)/", EngineKind::Automaton),
            (r"^/(?P<a>x)(?'b'y)\Q.\E", EngineKind::Automaton),
            (r"^/(?!admin/)", EngineKind::Backtracking),
            (r"(?<=/v)\d+$", EngineKind::Backtracking),
            (r"^/(\w+)/\1$", EngineKind::Backtracking),
            (r"^/(?>a+)b", EngineKind::Backtracking),
            (r"^/a++b", EngineKind::Backtracking),
        ];
        for (pattern, kind) in cases {
            assert_eq!(
                Pcre::new(pattern, false).unwrap().engine(),
                kind,
                "{pattern}"
            );
        }
    }

    #[test]
    fn matches_and_captures_in_both_engines() {
        let p = Pcre::new(r"^/(?!admin/)(?<section>\w+)/", false).unwrap();
        assert!(p.is_match("/shop/x"));
        assert!(!p.is_match("/admin/x"));
        assert_eq!(
            groups(&p, "/shop/x").unwrap(),
            [Some("/shop/".to_string()), Some("shop".to_string())]
        );
        assert_eq!(p.capture_names().collect::<Vec<_>>(), ["section"]);

        let q = Pcre::new(r"^/(?'user'\w+)/\Q.git\E$", false).unwrap();
        assert_eq!(q.engine(), EngineKind::Automaton);
        assert!(q.is_match("/bob/.git"));
        assert!(!q.is_match("/bob/xgit"));
        assert_eq!(q.capture_names().collect::<Vec<_>>(), ["user"]);
    }

    #[test]
    fn caseless_in_both_engines() {
        assert!(Pcre::new(r"\.PNG$", true).unwrap().is_match("/a.png"));
        let p = Pcre::new(r"^/(?!ADMIN)", true).unwrap();
        assert!(!p.is_match("/admin"));
        assert!(p.is_match("/shop"));
    }

    #[test]
    fn replace_in_both_engines() {
        let p = Pcre::new(r"^http://(\w+)(?=:8080)", false).unwrap();
        assert_eq!(
            p.replace("http://app:8080/x", "https://$1"),
            "https://app:8080/x"
        );
        let q = Pcre::new(r"^http://(\w+):8080", false).unwrap();
        assert_eq!(
            q.replace("http://app:8080/x", "https://$1"),
            "https://app/x"
        );
    }

    #[test]
    fn errors_name_the_mistake() {
        let unclosed = Pcre::new(r"([a-z]", false).unwrap_err();
        assert!(unclosed.reason.contains("unclosed"), "{}", unclosed.reason);
        assert!(!unclosed.reason.contains('\n'));
        let bad_lookahead = Pcre::new(r"(?!a", false).unwrap_err();
        assert!(
            !bad_lookahead.reason.contains("not supported"),
            "{}",
            bad_lookahead.reason
        );
    }
}

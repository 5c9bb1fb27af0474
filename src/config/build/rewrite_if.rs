//! The condition of `if (...)`, read word by word as nginx's
//! `ngx_http_rewrite_if_condition` reads it, with its error for each mistake:
//!
//! - the first word starts with `(` and the last ends with `)`, either of which may be
//!   a word alone (`if ( $a )`), else `invalid condition "WORD"`;
//! - `$var` alone; `$var = TEXT`, `$var != TEXT`; `$var ~ REGEX`, `~*`, `!~`, `!~*`
//!   (any other operator: `unexpected "OP" in condition`); the variable is one name,
//!   so `${host}` is `unknown "{host}" variable`, as in nginx;
//! - `-f`, `!-f`, `-d`, `!-d`, `-e`, `!-e`, `-x`, `!-x` followed by one path;
//! - anything else, or a wrong number of words: `invalid condition "WORD"`.
//!
//! A pure function over the directive's words; the lexer has already made `'http')`
//! two words.

use super::compile_regex;
use crate::config::error::ConfigErrorKind;
use crate::config::model::{Condition, FileTest, ScriptRegex};
use crate::config::template::{Names, Part, Template, Variable};
use crate::config::tree::Directive;

/// The words of a condition between its parentheses, with nginx's indices: the
/// condition is `words[cur..=last]`, and nginx reads `words[cur]` even when the
/// parentheses held nothing (`if ()` is `invalid condition ")"`).
struct Words<'a> {
    words: Vec<&'a str>,
    cur: usize,
    /// May be below `cur` (or, as an index, before the first word) when the condition
    /// is empty.
    last: isize,
}

impl<'a> Words<'a> {
    fn of(d: &'a Directive) -> Result<Words<'a>, ConfigErrorKind> {
        let mut words: Vec<&str> = d.args.iter().map(|a| a.value.as_str()).collect();
        let Some(first) = words.first().copied() else {
            return Err(ConfigErrorKind::InvalidArgCount(d.name.clone()));
        };
        let Some(inside) = first.strip_prefix('(') else {
            return Err(ConfigErrorKind::InvalidCondition(first.to_string()));
        };
        let cur = if inside.is_empty() {
            1
        } else {
            words[0] = inside;
            0
        };
        let last_i = words.len() - 1;
        let last_word = words[last_i];
        let Some(before) = last_word.strip_suffix(')') else {
            return Err(ConfigErrorKind::InvalidCondition(last_word.to_string()));
        };
        let last = if before.is_empty() {
            last_i as isize - 1
        } else {
            words[last_i] = before;
            last_i as isize
        };
        Ok(Words { words, cur, last })
    }

    fn at(&self, i: usize) -> &'a str {
        self.words.get(i).copied().unwrap_or(")")
    }

    /// Whether the condition is exactly `n` words from `cur`.
    fn has(&self, n: usize) -> bool {
        self.cur as isize + n as isize - 1 == self.last
    }

    fn last_word(&self) -> &'a str {
        usize::try_from(self.last).map_or(")", |i| self.at(i))
    }
}

/// Parses the condition of an `if` directive.
pub fn parse(d: &Directive, names: &Names) -> Result<Condition, ConfigErrorKind> {
    let w = Words::of(d)?;
    let p = w.at(w.cur);
    let invalid = || ConfigErrorKind::InvalidCondition(p.to_string());
    if p.len() > 1 && p.starts_with('$') {
        if !w.has(1) && !w.has(3) {
            return Err(invalid());
        }
        let name = &p[1..];
        let var = Variable::from_name(name, names)
            .ok_or_else(|| ConfigErrorKind::UnknownVariable(name.to_string()))?;
        let value = Template {
            parts: vec![Part::Var(var)],
            source: p.to_string(),
        };
        if w.has(1) {
            return Ok(Condition::Value(value));
        }
        let op = w.at(w.cur + 1);
        let operand = w.last_word();
        return match op {
            "=" | "!=" => Ok(Condition::Equals {
                value,
                text: Template::parse(operand, names)?,
                negated: op == "!=",
            }),
            "~" | "~*" | "!~" | "!~*" => Ok(Condition::Matches {
                value,
                regex: ScriptRegex::new(compile_regex(operand, op.ends_with('*'))?, operand),
                negated: op.starts_with('!'),
            }),
            _ => Err(ConfigErrorKind::UnexpectedInCondition(op.to_string())),
        };
    }
    let (negated, letter) = match p.as_bytes() {
        [b'-', c] => (false, *c),
        [b'!', b'-', c] => (true, *c),
        _ => return Err(invalid()),
    };
    if !w.has(2) {
        return Err(invalid());
    }
    let test = match letter {
        b'f' => FileTest::File,
        b'd' => FileTest::Directory,
        b'e' => FileTest::Exists,
        b'x' => FileTest::Executable,
        _ => return Err(invalid()),
    };
    Ok(Condition::File {
        path: Template::parse(w.last_word(), names)?,
        test,
        negated,
    })
}

/// The regex of a `($var ~ regex)` condition, for the pass that collects named
/// captures before anything is built; `None` for other conditions and broken ones.
pub fn condition_regex(d: &Directive) -> Option<&str> {
    let w = Words::of(d).ok()?;
    let op = w.at(w.cur + 1);
    let is_match =
        w.at(w.cur).starts_with('$') && w.has(3) && matches!(op, "~" | "~*" | "!~" | "!~*");
    is_match.then(|| w.last_word())
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::config::source::{Origin, Span};
    use crate::config::tree::Arg;

    /// An `if` directive with these words (as the lexer splits them).
    fn if_words(words: &[&str]) -> Directive {
        Directive {
            name: "if".to_string(),
            args: words
                .iter()
                .map(|w| Arg {
                    value: w.to_string(),
                    quoted: false,
                })
                .collect(),
            block: Some(Vec::new()),
            span: Span::new(Arc::new(Origin::File("/t.conf".into())), 1),
        }
    }

    fn names() -> Names {
        let mut n = Names::default();
        n.declare("maintenance");
        n
    }

    fn describe(c: &Condition) -> String {
        match c {
            Condition::Value(v) => format!("value {v}"),
            Condition::Equals {
                value,
                text,
                negated,
            } => format!("{value} {} {text}", if *negated { "!=" } else { "=" }),
            Condition::Matches {
                value,
                regex,
                negated,
            } => format!(
                "{value} {}~{} {}",
                if *negated { "!" } else { "" },
                if regex.regex.caseless() { "*" } else { "" },
                regex.source
            ),
            Condition::File {
                path,
                test,
                negated,
            } => format!("{}{test:?} {path}", if *negated { "!" } else { "" }),
        }
    }

    #[test]
    fn conditions_nginx_accepts() {
        let cases: &[(&str, &[&str], &str)] = &[
            ("variable_alone", &["($maintenance)"], "value $maintenance"),
            ("spaced_parentheses", &["(", "$host", ")"], "value $host"),
            (
                "certbot_host_equals",
                &["($host", "=", "www.example.test)"],
                "$host = www.example.test",
            ),
            (
                "quoted_operand_then_parenthesis",
                &["($http_x_forwarded_proto", "=", "http", ")"],
                "$http_x_forwarded_proto = http",
            ),
            ("empty_operand", &["($host", "=", "", ")"], "$host = "),
            ("not_equal", &["($host", "!=", "a)"], "$host != a"),
            (
                "method_allow_list",
                &["($request_method", "!~", "^(GET|HEAD|POST)$)"],
                "$request_method !~ ^(GET|HEAD|POST)$",
            ),
            ("caseless", &["($uri", "~*", r"\.php$)"], r"$uri ~* \.php$"),
            ("caseless_negated", &["($uri", "!~*", "a)"], "$uri !~* a"),
            (
                "regex_ending_in_a_group",
                &["($uri", "~", "(a|b))"],
                "$uri ~ (a|b)",
            ),
            (
                "file_exists",
                &["(-f", "$document_root/maintenance.html)"],
                "File $document_root/maintenance.html",
            ),
            (
                "not_a_file",
                &["(!-f", "$request_filename)"],
                "!File $request_filename",
            ),
            ("directory", &["(-d", "/srv)"], "Directory /srv"),
            ("not_exists", &["(!-e", "/srv)"], "!Exists /srv"),
            ("executable", &["(-x", "/bin/sh)"], "Executable /bin/sh"),
            (
                "not_executable",
                &["(!-x", "/bin/sh", ")"],
                "!Executable /bin/sh",
            ),
            ("capture_variable", &["($1", "=", "a)"], "$1 = a"),
        ];
        for (name, words, want) in cases {
            let got = parse(&if_words(words), &names());
            match got {
                Ok(c) => assert_eq!(describe(&c), *want, "{name}"),
                Err(e) => panic!("{name}: {e}"),
            }
        }
        let Ok(Condition::Matches { regex, .. }) =
            parse(&if_words(&["($uri", "~*", "ABC)"]), &names())
        else {
            panic!("caseless regex");
        };
        assert!(regex.regex.is_match("/abc"), "~* is caseless");
    }

    #[test]
    fn conditions_nginx_refuses_with_its_words() {
        // Each message is nginx 1.22's for the same words (`nginx -t`).
        let cases: &[(&str, &[&str], &str)] = &[
            ("no_parenthesis", &["$a"], r#"invalid condition "$a""#),
            ("unclosed", &["($host"], r#"invalid condition "$host""#),
            ("not_a_variable", &["(a)"], r#"invalid condition "a""#),
            ("empty", &["()"], r#"invalid condition ")""#),
            ("empty_spaced", &["(", ")"], r#"invalid condition ")""#),
            (
                "missing_operand",
                &["($host", "=", ")"],
                r#"invalid condition "$host""#,
            ),
            (
                "glued_operator",
                &["($host", "=b)"],
                r#"invalid condition "$host""#,
            ),
            (
                "too_many_words",
                &["($host", "=", "b", "c)"],
                r#"invalid condition "$host""#,
            ),
            (
                "double_equals",
                &["($host", "==", "b)"],
                r#"unexpected "==" in condition"#,
            ),
            (
                "unknown_variable",
                &["($nosuch)"],
                r#"unknown "nosuch" variable"#,
            ),
            (
                "braced_variable",
                &["(${host})"],
                r#"unknown "{host}" variable"#,
            ),
            (
                "unknown_in_operand",
                &["($host", "=", "$nosuch)"],
                r#"unknown "nosuch" variable"#,
            ),
            (
                "file_test_without_path",
                &["(-f)"],
                r#"invalid condition "-f""#,
            ),
            (
                "unknown_file_test",
                &["(-q", "/x)"],
                r#"invalid condition "-q""#,
            ),
            (
                "file_test_two_paths",
                &["(-f", "/x", "y)"],
                r#"invalid condition "-f""#,
            ),
            (
                "quoted_variable",
                &[r#"("$host""#, "=", "a)"],
                r#"invalid condition ""$host"""#,
            ),
        ];
        for (name, words, want) in cases {
            match parse(&if_words(words), &names()) {
                Ok(c) => panic!("{name}: accepted as {}", describe(&c)),
                Err(e) => assert_eq!(e.to_string(), *want, "{name}"),
            }
        }
        let bad_regex = parse(&if_words(&["($host", "~", "(a)"]), &names());
        assert!(
            matches!(bad_regex, Err(ConfigErrorKind::InvalidRegex { .. })),
            "{bad_regex:?}"
        );
    }

    #[test]
    fn the_first_pass_finds_only_real_match_regexes() {
        let regex = |w: &[&str]| condition_regex(&if_words(w)).map(str::to_string);
        assert_eq!(
            regex(&["($uri", "~", "^/(?<app>a)$)"]),
            Some("^/(?<app>a)$".into())
        );
        assert_eq!(regex(&["($uri", "=", "^/(?<app>a)$)"]), None);
        assert_eq!(regex(&["(-f", "/x)"]), None);
        assert_eq!(regex(&["($uri"]), None);
    }
}

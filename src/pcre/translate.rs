//! The parts of PCRE's syntax that neither `regex` nor `fancy-regex` reads, rewritten
//! into syntax both do, before either compiles the pattern.
//!
//! Pure and run once per pattern at configuration load; nothing here is on the
//! request path. Two rewrites:
//! - `\Q...\E` (a quoted literal; an unclosed `\Q` runs to the end of the pattern)
//!   becomes the same text with every metacharacter escaped;
//! - `(?'name'...)` (PCRE's third named-group spelling) becomes `(?<name>...)`.
//!
//! Everything else is copied as written; the engines judge it.

/// Whether `pattern` uses a possessive quantifier (`a++`, `a*+`, `a?+`, `a{2}+`):
/// `regex` would read the second operator as a repetition of the first, which matches
/// more than PCRE does, so such a pattern goes to the backtracking engine.
pub fn has_possessive_quantifier(pattern: &str) -> bool {
    let bytes = pattern.as_bytes();
    let mut in_class = false;
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'\\' => i += 1,
            b'[' if !in_class => in_class = true,
            b']' if in_class => in_class = false,
            b'*' | b'+' | b'?' | b'}' if !in_class => {
                let after_open = i > 0 && bytes[i - 1] == b'(';
                if !after_open && bytes.get(i + 1) == Some(&b'+') {
                    return true;
                }
            }
            _ => {}
        }
        i += 1;
    }
    false
}

/// Rewrites `pattern` as described in the module header.
pub fn translate(pattern: &str) -> String {
    let mut out = String::with_capacity(pattern.len());
    let mut rest = pattern;
    let mut in_class = false;
    // A `]` right after `[` or `[^` is a literal, not the end of the class.
    let mut class_start = false;
    while let Some(c) = rest.chars().next() {
        let after = &rest[c.len_utf8()..];
        if c == '\\' {
            if let Some(quoted) = after.strip_prefix('Q') {
                let (literal, tail) = match quoted.find("\\E") {
                    Some(end) => (&quoted[..end], &quoted[end + 2..]),
                    None => (quoted, ""),
                };
                out.push_str(&regex::escape(literal));
                rest = tail;
                class_start = false;
                continue;
            }
            // `\E` without `\Q` is ignored by PCRE.
            if let Some(tail) = after.strip_prefix('E') {
                rest = tail;
                continue;
            }
            out.push('\\');
            let Some(escaped) = after.chars().next() else {
                rest = after;
                continue;
            };
            out.push(escaped);
            rest = &after[escaped.len_utf8()..];
            class_start = false;
            continue;
        }
        if in_class {
            if c == ']' && !class_start {
                in_class = false;
            } else if c == '[' && after.starts_with(':') {
                // A POSIX class `[:alpha:]` inside a bracket expression.
                if let Some(end) = after.find(":]") {
                    out.push('[');
                    out.push_str(&after[..end + 2]);
                    rest = &after[end + 2..];
                    class_start = false;
                    continue;
                }
            }
            class_start = class_start && c == '^' && out.ends_with('[');
            out.push(c);
            rest = after;
            continue;
        }
        if c == '[' {
            in_class = true;
            class_start = true;
            out.push(c);
            rest = after;
            continue;
        }
        if c == '(' {
            if let Some(named) = after.strip_prefix("?'") {
                if let Some(end) = named.find('\'') {
                    out.push_str("(?<");
                    out.push_str(&named[..end]);
                    out.push('>');
                    rest = &named[end + 1..];
                    continue;
                }
            }
        }
        out.push(c);
        rest = after;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::{has_possessive_quantifier, translate};

    #[test]
    fn possessive_quantifiers() {
        let cases = [
            (r"a++b", true),
            (r"a*+", true),
            (r"a?+", true),
            (r"a{2}+", true),
            (r"a+b", false),
            (r"\++", false),
            (r"[+]+", false),
            (r"[a+]+b", false),
            (r"(?+1)", false),
        ];
        for (pattern, want) in cases {
            assert_eq!(has_possessive_quantifier(pattern), want, "{pattern}");
        }
    }

    #[test]
    fn rewrites() {
        let cases = [
            (
                "plain_pattern_unchanged",
                r"^/api/(?<ver>v\d+)/",
                r"^/api/(?<ver>v\d+)/",
            ),
            ("quoted_dot", r"\Q.\E", r"\."),
            ("quoted_run", r"^/\Qa+b(c)\E$", r"^/a\+b\(c\)$"),
            ("unclosed_quote_runs_to_end", r"x\Q.*", r"x\.\*"),
            ("stray_end_quote_dropped", r"a\Eb", "ab"),
            ("escaped_backslash_then_q", r"\\Q.", r"\\Q."),
            ("quote_named_group", r"^/(?'user'\w+)$", r"^/(?<user>\w+)$"),
            ("python_named_group_kept", r"(?P<x>a)", r"(?P<x>a)"),
            ("lookahead_kept", r"^/(?!admin)", r"^/(?!admin)"),
            ("quote_in_class_is_literal", r"[(?'a']", r"[(?'a']"),
            ("bracket_first_in_class", r"[]'(?'x'a)]", r"[]'(?'x'a)]"),
            ("negated_bracket_first", r"[^]](?'n'x)", r"[^]](?<n>x)"),
            ("posix_class", r"[[:alpha:]](?'n'x)", r"[[:alpha:]](?<n>x)"),
            ("trailing_backslash", "a\\", "a\\"),
            ("non_ascii", r"é\Qé.\E", r"éé\."),
        ];
        for (name, pattern, want) in cases {
            assert_eq!(translate(pattern), want, "{name}");
        }
    }
}

//! The parts of PCRE's syntax that neither `regex` nor `fancy-regex` reads, rewritten
//! into syntax both do, before either compiles the pattern.
//!
//! Pure and run once per pattern at configuration load; nothing here is on the
//! request path. The rewrites:
//! - `\Q...\E` (a quoted literal; an unclosed `\Q` runs to the end of the pattern)
//!   becomes the same text with every metacharacter escaped;
//! - `(?'name'...)` (PCRE's third named-group spelling) becomes `(?<name>...)`;
//! - `\h` and `\v` are PCRE's horizontal and vertical white space, where `regex` reads
//!   `\v` as the vertical tab alone and `fancy-regex` `\h` as a hex digit: both become
//!   PCRE's class (`\H`, `\V` its negation, outside a bracket expression);
//! - `{,3}` is literal text in the PCRE2 nginx links (before 10.43), where the Rust
//!   engines would read a repetition: its `{` is escaped.
//!
//! Everything else is copied as written; the engines judge it.

/// PCRE's `\h`: tab, space, no-break space and the Unicode spaces.
const HORIZONTAL_SPACE: &str =
    r"\t \x{A0}\x{1680}\x{180E}\x{2000}-\x{200A}\x{202F}\x{205F}\x{3000}";

/// PCRE's `\v`: line feed, vertical tab, form feed, carriage return, NEL and the
/// Unicode line and paragraph separators.
const VERTICAL_SPACE: &str = r"\n\x0B\x0C\r\x{85}\x{2028}\x{2029}";

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
            let space = match after.chars().next() {
                Some('h') => Some((HORIZONTAL_SPACE, false)),
                Some('H') => Some((HORIZONTAL_SPACE, true)),
                Some('v') => Some((VERTICAL_SPACE, false)),
                Some('V') => Some((VERTICAL_SPACE, true)),
                _ => None,
            };
            match space {
                Some((set, false)) if in_class => out.push_str(set),
                Some((set, negated)) if !in_class => {
                    out.push_str(if negated { "[^" } else { "[" });
                    out.push_str(set);
                    out.push(']');
                }
                // `\H` or `\V` inside a bracket expression: left to the engines.
                _ => out.push('\\'),
            }
            let Some(escaped) = after.chars().next() else {
                rest = after;
                continue;
            };
            if space.is_some_and(|(_, negated)| !(in_class && negated)) {
                rest = &after[escaped.len_utf8()..];
                class_start = false;
                continue;
            }
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
        if c == '{' && after.starts_with(',') {
            out.push_str("\\{");
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
    use super::{has_possessive_quantifier, translate, HORIZONTAL_SPACE, VERTICAL_SPACE};

    #[test]
    fn white_space_classes() {
        let h = HORIZONTAL_SPACE;
        let v = VERTICAL_SPACE;
        let cases = [
            ("horizontal_space", r"a\hb", format!("a[{h}]b")),
            ("not_horizontal_space", r"\H", format!("[^{h}]")),
            ("vertical_space", r"\v", format!("[{v}]")),
            ("vertical_space_in_class", r"[x\v]", format!("[x{v}]")),
        ];
        for (name, pattern, want) in cases {
            assert_eq!(translate(pattern), want, "{name}");
        }
        let p = crate::pcre::Pcre::new(r"^a\hb\v$", false).unwrap();
        assert!(p.is_match("a\tb\n") && p.is_match("a b\r"));
        assert!(!p.is_match("a1b\n"), "\\h is not a hex digit");
    }

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
            ("negated_space_in_class_kept", r"[\V]", r"[\V]"),
            ("escaped_h_is_not_space", r"\\h", r"\\h"),
            ("open_lower_bound_is_literal", r"a{,3}", r"a\{,3}"),
            ("bounds_kept", r"a{1,3}", r"a{1,3}"),
            ("brace_comma_in_class_kept", r"[{,]", r"[{,]"),
        ];
        for (name, pattern, want) in cases {
            assert_eq!(translate(pattern), want, "{name}");
        }
    }
}

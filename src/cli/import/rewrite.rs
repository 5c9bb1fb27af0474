//! The paths an imported configuration names, rewritten: a path inside the nginx tree
//! (`include /etc/nginx/sites-enabled/*;`, `ssl_certificate /etc/nginx/ssl/site.pem;`)
//! becomes the same path inside the copy, and the runtime paths where Debian's nginx
//! and vestibule differ (`pid /run/nginx.pid;`, `/var/log/nginx/`) become vestibule's,
//! so the copy can run beside nginx while the user tries it. Every other path (the
//! `root /var/www/...`, `/etc/letsencrypt/...`, a Gunicorn socket) stays as it is.
//!
//! Pure: text in, text and the list of what changed out. Words are found as the
//! [lexer](crate::config::lexer) finds them (comments skipped, quotes honoured), and
//! only a word that *starts* with a rule's path, followed by `/` or the word's end, is
//! changed; the rest of the text, comments and layout included, is kept byte for byte.

use std::path::Path;

/// vestibule's pid file ([`crate::config::build::DEFAULT_PID`]).
const VESTIBULE_PID: &str = crate::config::build::DEFAULT_PID;
/// The directory of vestibule's default logs (`/var/log/vestibule/error.log`).
pub const VESTIBULE_LOG_DIR: &str = "/var/log/vestibule";

/// One rewrite rule: a path and the path it becomes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rule {
    pub from: String,
    pub to: String,
    /// Only the whole word (a file), not a path below it.
    pub whole_word: bool,
}

/// One word that was changed, for the report.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rewritten {
    pub line: u32,
    pub from: String,
    pub to: String,
}

/// The rules for a tree found at each of `tree_dirs` (as given, and its canonical
/// form when that differs) copied to `dest`: the tree's paths first, then Debian
/// nginx's runtime paths.
pub fn rules(tree_dirs: &[&Path], dest: &Path) -> Vec<Rule> {
    let dest = trimmed(&dest.to_string_lossy());
    let mut rules: Vec<Rule> = Vec::new();
    for dir in tree_dirs {
        let from = trimmed(&dir.to_string_lossy());
        if from.is_empty() || rules.iter().any(|r| r.from == from) {
            continue;
        }
        rules.push(Rule {
            from,
            to: dest.clone(),
            whole_word: false,
        });
    }
    for pid in ["/run/nginx.pid", "/var/run/nginx.pid"] {
        rules.push(Rule {
            from: pid.to_string(),
            to: VESTIBULE_PID.to_string(),
            whole_word: true,
        });
    }
    rules.push(Rule {
        from: "/var/log/nginx".to_string(),
        to: VESTIBULE_LOG_DIR.to_string(),
        whole_word: false,
    });
    rules
}

fn trimmed(path: &str) -> String {
    path.trim_end_matches('/').to_string()
}

/// `path` rewritten by the first rule that matches it, if one does.
pub fn rewrite_path(path: &str, rules: &[Rule]) -> Option<String> {
    rules.iter().find_map(|rule| {
        let rest = path.strip_prefix(rule.from.as_str())?;
        let fits = rest.is_empty() || (!rule.whole_word && rest.starts_with('/'));
        fits.then(|| format!("{}{rest}", rule.to))
    })
}

/// `text` with every word that names a path under a rule rewritten, and the words
/// changed, by line.
pub fn rewrite_text(text: &str, rules: &[Rule]) -> (String, Vec<Rewritten>) {
    let mut out = String::with_capacity(text.len());
    let mut changed = Vec::new();
    // Bytes of `text` already copied to `out`.
    let mut copied = 0;
    let mut line = 1u32;
    let mut chars = text.char_indices().peekable();
    while let Some((at, c)) = chars.next() {
        match c {
            '\n' => line += 1,
            ' ' | '\t' | '\r' | ';' | '{' | '}' => {}
            '#' => while chars.next_if(|&(_, c)| c != '\n').is_some() {},
            _ => {
                let quote = matches!(c, '"' | '\'').then_some(c);
                let start = if quote.is_some() { at + 1 } else { at };
                let word_line = line;
                let mut end = text.len();
                let mut escaped = quote.is_none() && c == '\\';
                while let Some(&(j, d)) = chars.peek() {
                    if !escaped {
                        let ends = match quote {
                            Some(q) => d == q,
                            None => matches!(d, ' ' | '\t' | '\r' | '\n' | ';' | '{'),
                        };
                        if ends {
                            end = j;
                            if quote.is_some() {
                                chars.next();
                            }
                            break;
                        }
                    }
                    escaped = !escaped && d == '\\';
                    if d == '\n' {
                        line += 1;
                    }
                    chars.next();
                }
                let word = text.get(start..end).unwrap_or_default();
                if let Some(new) = rewrite_path(word, rules) {
                    out.push_str(text.get(copied..start).unwrap_or_default());
                    out.push_str(&new);
                    copied = end;
                    changed.push(Rewritten {
                        line: word_line,
                        from: word.to_string(),
                        to: new,
                    });
                }
            }
        }
    }
    out.push_str(text.get(copied..).unwrap_or_default());
    (out, changed)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stock_rules() -> Vec<Rule> {
        rules(&[Path::new("/etc/nginx/")], Path::new("/etc/vestibule"))
    }

    /// One row per kind of word: what it becomes (the same text when untouched).
    #[test]
    fn only_words_naming_paths_under_a_rule_change() {
        let rules = stock_rules();
        let cases: &[(&str, &str, &str)] = &[
            (
                "include glob",
                "include /etc/nginx/sites-enabled/*;",
                "include /etc/vestibule/sites-enabled/*;",
            ),
            (
                "quoted",
                "ssl_certificate \"/etc/nginx/ssl/a.pem\";",
                "ssl_certificate \"/etc/vestibule/ssl/a.pem\";",
            ),
            (
                "single-quoted",
                "auth_basic_user_file '/etc/nginx/.htpasswd';",
                "auth_basic_user_file '/etc/vestibule/.htpasswd';",
            ),
            (
                "the tree itself",
                "root /etc/nginx;",
                "root /etc/vestibule;",
            ),
            (
                "a sibling is not under the tree",
                "root /etc/nginx2/x;",
                "root /etc/nginx2/x;",
            ),
            (
                "outside the tree",
                "ssl_certificate /etc/letsencrypt/live/a/fullchain.pem;",
                "ssl_certificate /etc/letsencrypt/live/a/fullchain.pem;",
            ),
            (
                "not at the word's start",
                "return 200 x/etc/nginx/y;",
                "return 200 x/etc/nginx/y;",
            ),
            (
                "comment",
                "# include /etc/nginx/x;\nroot /var/www;",
                "# include /etc/nginx/x;\nroot /var/www;",
            ),
            (
                "word glued to #",
                "root /etc/nginx/a#b;",
                "root /etc/vestibule/a#b;",
            ),
            ("pid", "pid /run/nginx.pid;", "pid /run/vestibule.pid;"),
            (
                "old pid",
                "pid /var/run/nginx.pid;",
                "pid /run/vestibule.pid;",
            ),
            (
                "a pid file elsewhere",
                "pid /run/nginx.pid.old;",
                "pid /run/nginx.pid.old;",
            ),
            (
                "logs",
                "access_log /var/log/nginx/site.log combined;",
                "access_log /var/log/vestibule/site.log combined;",
            ),
            (
                "two on a line",
                "a /etc/nginx/x /var/log/nginx/y;",
                "a /etc/vestibule/x /var/log/vestibule/y;",
            ),
            (
                "before a brace",
                "location /etc/nginx{ }",
                "location /etc/vestibule{ }",
            ),
        ];
        for (name, text, want) in cases {
            assert_eq!(rewrite_text(text, &rules).0, *want, "{name}");
        }
    }

    #[test]
    fn changes_are_listed_by_line_and_the_rest_is_kept() {
        let text = "user www-data;\n\n  # comment /etc/nginx/x\n\tinclude   \"/etc/nginx/a\nb\" /etc/nginx/c;\n";
        let (out, changed) = rewrite_text(text, &stock_rules());
        assert_eq!(
            out,
            "user www-data;\n\n  # comment /etc/nginx/x\n\tinclude   \"/etc/vestibule/a\nb\" /etc/vestibule/c;\n"
        );
        let lines: Vec<(u32, &str)> = changed.iter().map(|c| (c.line, c.to.as_str())).collect();
        assert_eq!(lines, [(4, "/etc/vestibule/a\nb"), (5, "/etc/vestibule/c")]);
    }

    #[test]
    fn the_canonical_tree_and_symlink_targets_rewrite_too() {
        let rules = rules(
            &[Path::new("/srv/link"), Path::new("/srv/real")],
            Path::new("/etc/vestibule/"),
        );
        assert_eq!(
            rewrite_path("/srv/real/sites-available/a", &rules).as_deref(),
            Some("/etc/vestibule/sites-available/a")
        );
        assert_eq!(
            rewrite_path("/srv/link", &rules).as_deref(),
            Some("/etc/vestibule")
        );
        assert_eq!(rewrite_path("../sites-available/a", &rules), None);
    }
}

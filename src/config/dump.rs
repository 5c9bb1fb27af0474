//! `vestibule -T`: every configuration file that was read, verbatim, in the order read,
//! in nginx's `-T` format so that tools written for `nginx -T` can read it:
//!
//! ```text
//! # configuration file /etc/vestibule/vestibule.conf:
//! <the file's text>
//!
//! # configuration file /etc/vestibule/proxy_params (built in: not on disk):
//! <the built-in text>
//!
//! ```
//!
//! [`read`](super::read) collects the texts; `-g` directives are not a file and are
//! not printed (nginx does not print them either).

use super::source::{Origin, SourceFile};

/// The `-T` output for `sources`.
pub fn dump(sources: &[SourceFile]) -> String {
    let mut out = String::new();
    for source in sources {
        let note = match source.origin.as_ref() {
            Origin::File(_) => "",
            Origin::BuiltIn(_) => " (built in: not on disk)",
            Origin::CommandLine => continue,
        };
        let path = source
            .origin
            .path()
            .map(|p| p.display().to_string())
            .unwrap_or_default();
        out.push_str(&format!("# configuration file {path}{note}:\n"));
        out.push_str(&source.text);
        if !source.text.is_empty() && !source.text.ends_with('\n') {
            out.push('\n');
        }
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;

    fn source(origin: Origin, text: &str) -> SourceFile {
        SourceFile {
            origin: Arc::new(origin),
            text: text.to_owned(),
        }
    }

    #[test]
    fn dump_matches_nginx_format() {
        let cases: &[(&str, Vec<SourceFile>, &str)] = &[
            ("nothing", vec![], ""),
            (
                "one_file",
                vec![source(Origin::File("/etc/v/v.conf".into()), "a;\n")],
                "# configuration file /etc/v/v.conf:\na;\n\n",
            ),
            (
                "text_kept_verbatim",
                vec![source(
                    Origin::File("/a".into()),
                    "# comment\n\tx  \"y\";\n\n",
                )],
                "# configuration file /a:\n# comment\n\tx  \"y\";\n\n\n",
            ),
            (
                "missing_final_newline_added",
                vec![
                    source(Origin::File("/a".into()), "a;"),
                    source(Origin::File("/b".into()), "b;\n"),
                ],
                "# configuration file /a:\na;\n\n# configuration file /b:\nb;\n\n",
            ),
            (
                "built_in_marked",
                vec![source(
                    Origin::BuiltIn("/etc/v/proxy_params".into()),
                    "p;\n",
                )],
                "# configuration file /etc/v/proxy_params (built in: not on disk):\np;\n\n",
            ),
            (
                "command_line_skipped",
                vec![
                    source(Origin::CommandLine, "daemon off;"),
                    source(Origin::File("/a".into()), "a;\n"),
                ],
                "# configuration file /a:\na;\n\n",
            ),
            (
                "empty_file",
                vec![source(Origin::File("/e".into()), "")],
                "# configuration file /e:\n\n",
            ),
        ];
        for (name, sources, want) in cases {
            assert_eq!(dump(sources), *want, "{name}");
        }
    }
}

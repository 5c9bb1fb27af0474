//! The second stage of reading a configuration: the [`lexer`](super::lexer)'s tokens
//! for one file → its directive tree ([`Directive`]), each directive with the span of
//! its name. [`read`](super::read) calls this once per file and expands `include`s.
//!
//! Only the shape is checked here, with nginx's messages: a `;` or `{` with no name
//! before it, a `}` with no open block or right after words, and an end of file inside
//! a directive or a block. Which directives take a block is the schema's business.
//! The first syntax error ends the file, as in nginx.

use std::sync::Arc;

use super::error::{ConfigError, ConfigErrorKind};
use super::lexer::{Lexer, TokenKind};
use super::source::{Origin, Span};
use super::tree::{Arg, Directive};

/// How many blocks may be open at once. Real configurations nest about five deep
/// (`http`, `server`, `location`, a nested `location`, `if`); the limit keeps a broken
/// or hostile file from building a tree too deep to walk or drop.
pub const MAX_BLOCK_DEPTH: usize = 64;

/// A block whose `{` has been read and whose `}` has not.
struct OpenBlock {
    name: String,
    args: Vec<Arg>,
    span: Span,
    children: Vec<Directive>,
}

/// Parses one configuration text. `origin` names the file in spans; for
/// [`Origin::CommandLine`] (`-g`) blocks are refused and an unterminated directive
/// gets nginx's `-g` wording.
pub fn parse(text: &str, origin: &Arc<Origin>) -> Result<Vec<Directive>, ConfigError> {
    let command_line = matches!(origin.as_ref(), Origin::CommandLine);
    let error = |kind: ConfigErrorKind, line: u32| {
        ConfigError::new(kind, &Span::new(Arc::clone(origin), line))
    };

    let mut lexer = Lexer::new(text);
    let mut top: Vec<Directive> = Vec::new();
    let mut open: Vec<OpenBlock> = Vec::new();
    // Words of the directive being read, and the line of its name.
    let mut words: Vec<Arg> = Vec::new();
    let mut name_line = 0;

    loop {
        let token = match lexer.next_token() {
            Ok(Some(token)) => token,
            Ok(None) => break,
            Err(e) => return Err(error(e.kind, e.line)),
        };
        match token.kind {
            TokenKind::Word(arg) => {
                if words.is_empty() {
                    name_line = token.line;
                }
                words.push(arg);
            }
            TokenKind::Semicolon => {
                let Some((name, args)) = split_name(&mut words) else {
                    return Err(error(ConfigErrorKind::Unexpected(';'), token.line));
                };
                let directive = Directive {
                    name,
                    args,
                    block: None,
                    span: Span::new(Arc::clone(origin), name_line),
                };
                children_of(&mut top, &mut open).push(directive);
            }
            TokenKind::OpenBrace => {
                let Some((name, args)) = split_name(&mut words) else {
                    return Err(error(ConfigErrorKind::Unexpected('{'), token.line));
                };
                if command_line {
                    return Err(error(ConfigErrorKind::BlockInCommandLine, token.line));
                }
                if open.len() >= MAX_BLOCK_DEPTH {
                    let kind = ConfigErrorKind::BlockTooDeep(MAX_BLOCK_DEPTH);
                    return Err(error(kind, token.line));
                }
                open.push(OpenBlock {
                    name,
                    args,
                    span: Span::new(Arc::clone(origin), name_line),
                    children: Vec::new(),
                });
            }
            TokenKind::CloseBrace => {
                let block = match open.pop() {
                    Some(block) if words.is_empty() => block,
                    _ => return Err(error(ConfigErrorKind::Unexpected('}'), token.line)),
                };
                let directive = Directive {
                    name: block.name,
                    args: block.args,
                    block: Some(block.children),
                    span: block.span,
                };
                children_of(&mut top, &mut open).push(directive);
            }
        }
    }

    let end = lexer.line();
    if !words.is_empty() {
        let kind = if command_line {
            ConfigErrorKind::UnexpectedEndOfParameter
        } else {
            ConfigErrorKind::UnexpectedEofInDirective
        };
        return Err(error(kind, end));
    }
    if !open.is_empty() {
        return Err(error(ConfigErrorKind::UnexpectedEofInBlock, end));
    }
    Ok(top)
}

/// Takes the pending words as (name, arguments); `None` if there are none.
fn split_name(words: &mut Vec<Arg>) -> Option<(String, Vec<Arg>)> {
    let mut drained = std::mem::take(words).into_iter();
    let name = drained.next()?;
    Some((name.value, drained.collect()))
}

/// Where the next complete directive goes: the innermost open block, or the top.
fn children_of<'a>(
    top: &'a mut Vec<Directive>,
    open: &'a mut [OpenBlock],
) -> &'a mut Vec<Directive> {
    match open.last_mut() {
        Some(block) => &mut block.children,
        None => top,
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::panic)]

    use super::*;

    fn file() -> Arc<Origin> {
        Arc::new(Origin::File("/x.conf".into()))
    }

    fn parse_err(text: &str) -> String {
        parse(text, &file()).unwrap_err().to_string()
    }

    /// `name args... [{ children }]` on one line, with the name's line, for compact
    /// comparisons.
    fn outline(directives: &[Directive]) -> String {
        directives
            .iter()
            .map(|d| {
                let mut s = format!("{}@{}", d.name, d.span.line);
                for a in &d.args {
                    s.push(' ');
                    s.push_str(&a.value);
                }
                match &d.block {
                    Some(children) => format!("{s} {{ {} }}", outline(children)),
                    None => format!("{s};"),
                }
            })
            .collect::<Vec<_>>()
            .join(" ")
    }

    #[test]
    fn builds_the_tree_with_name_lines() {
        let cases: &[(&str, &str, &str)] = &[
            ("empty_file", "", ""),
            ("only_comments", "# nothing\n\n", ""),
            (
                "one_directive",
                "worker_processes 1;",
                "worker_processes@1 1;",
            ),
            (
                "empty_block",
                "events {}\nhttp { }",
                "events@1 {  } http@2 {  }",
            ),
            (
                "nested_blocks",
                "http {\n server {\n  listen 80;\n  location / {\n   return 200;\n  }\n }\n}\n",
                "http@1 { server@2 { listen@3 80; location@4 / { return@5 200; } } }",
            ),
            (
                "name_line_not_terminator_line",
                "server_name\n  a.com\n  b.com;",
                "server_name@1 a.com b.com;",
            ),
            ("directive_without_args", "a; b {}", "a@1; b@1 {  }"),
            ("quoted_name", "\"events\" {}", "events@1 {  }"),
            // certbot's challenge include: one line, glued braces, no final newline.
            (
                "certbot_one_line_server",
                "server{listen 80;server_name a.test;location = /.well-known/acme-challenge/T{default_type text/plain;return 200 T.K;}}",
                "server@1 { listen@1 80; server_name@1 a.test; location@1 = /.well-known/acme-challenge/T { default_type@1 text/plain; return@1 200 T.K; } }",
            ),
            // certbot's insertions: glued to `{`, a comment after `;` and after `}`,
            // the file ending in a comment without a newline.
            (
                "certbot_glued_with_comments",
                "server {rewrite ^(/x/.*) $1 break; # managed by Certbot\n\nlocation = /x{return 200;} # managed by Certbot\n} # managed by Certbot",
                "server@1 { rewrite@1 ^(/x/.*) $1 break; location@3 = /x { return@3 200; } }",
            ),
        ];
        for (name, input, want) in cases {
            let got = parse(input, &file()).unwrap_or_else(|e| panic!("{name}: {e}"));
            assert_eq!(outline(&got), *want, "{name}");
        }
    }

    #[test]
    fn keeps_quoting_of_args() {
        let got = parse("return 200 \"ok\";", &file()).unwrap();
        let quoted: Vec<bool> = got[0].args.iter().map(|a| a.quoted).collect();
        assert_eq!(quoted, [false, true]);
    }

    #[test]
    fn syntax_errors_in_nginx_words() {
        let cases: &[(&str, &str, &str)] = &[
            (
                "extra_close_brace_on_line_3",
                "events {\n}\n}\n",
                "unexpected \"}\" in /x.conf:3",
            ),
            (
                "close_brace_after_words",
                "http {\n  sendfile on\n}\n",
                "unexpected \"}\" in /x.conf:3",
            ),
            (
                "semicolon_without_name",
                "a;\n;",
                "unexpected \";\" in /x.conf:2",
            ),
            (
                "open_brace_without_name",
                "\n{ }",
                "unexpected \"{\" in /x.conf:2",
            ),
            (
                "eof_in_directive",
                "http {}\nlisten 80",
                "unexpected end of file, expecting \";\" or \"}\" in /x.conf:2",
            ),
            (
                "eof_in_directive_after_newline",
                "listen 80\n",
                "unexpected end of file, expecting \";\" or \"}\" in /x.conf:2",
            ),
            (
                "eof_in_block",
                "http {\n  server {\n  }\n",
                "unexpected end of file, expecting \"}\" in /x.conf:4",
            ),
            (
                "unterminated_quote",
                "return 200 \"ok;\n}\n",
                "unexpected end of file, expecting \";\" or \"}\" in /x.conf:3",
            ),
            (
                "text_after_quote",
                "a \"b\"c;",
                "unexpected \"c\" in /x.conf:1",
            ),
            (
                "first_error_wins",
                "}\na \"b",
                "unexpected \"}\" in /x.conf:1",
            ),
        ];
        for (name, input, want) in cases {
            assert_eq!(parse_err(input), *want, "{name}");
        }
    }

    #[test]
    fn command_line_rules() {
        let cl = Arc::new(Origin::CommandLine);
        let cases: &[(&str, &str, &str)] = &[
            (
                "unterminated",
                "daemon off",
                "unexpected end of parameter, expecting \";\" in command line",
            ),
            (
                "block_refused",
                "events { }",
                "block directives are not supported in -g option in command line",
            ),
            ("stray_close", "a; }", "unexpected \"}\" in command line"),
        ];
        for (name, input, want) in cases {
            assert_eq!(parse(input, &cl).unwrap_err().to_string(), *want, "{name}");
        }
        let ok = parse("daemon off; worker_processes 2;", &cl).unwrap();
        assert_eq!(ok[1].span.to_string(), "in command line");
    }

    #[test]
    fn block_depth_limit() {
        let at_limit = "a{".repeat(MAX_BLOCK_DEPTH) + &"}".repeat(MAX_BLOCK_DEPTH);
        assert!(parse(&at_limit, &file()).is_ok());
        let over = "a{".repeat(MAX_BLOCK_DEPTH + 1) + &"}".repeat(MAX_BLOCK_DEPTH + 1);
        assert_eq!(
            parse_err(&over),
            format!("blocks are nested deeper than {MAX_BLOCK_DEPTH} levels in /x.conf:1")
        );
    }

    #[test]
    fn every_prefix_parses_or_errs_without_panicking() {
        let sample = "# sample\nuser www-data;\nhttp {\n  include mime.types;\n  server {\n    \
                      listen 127.0.0.1:80 default_server;\n    server_name \"a b\" 'c';\n    \
                      location ~ \\.php$ { return 200 \"x\\\"y\\n\"; }\n    set $a ${host}é;\n  \
                      }\n}\n";
        for end in 0..=sample.len() {
            let Some(prefix) = sample.get(..end) else {
                continue; // not a char boundary
            };
            let _ = parse(prefix, &file());
        }
        assert!(parse(sample, &file()).is_ok());
    }
}

//! The first stage of reading a configuration: text → tokens. It follows nginx's
//! tokenizer (`ngx_conf_read_token` in `src/core/ngx_conf_file.c`) rule for rule, so a
//! file nginx accepts splits into the same words here; the [`parser`](super::parser)
//! then builds the directive tree from the tokens.
//!
//! The rules:
//! - words are separated by space, tab, CR and LF; `;` ends a directive, `{` opens a
//!   block and `}` closes one. Inside an unquoted word only whitespace, `;` and `{` end
//!   it (`a}` is one word), and a `{` right after `$` belongs to the word (`${var}`);
//! - `#` starts a comment to the end of the line, but only at the start of a word
//!   (`foo#bar` is one word);
//! - a word that starts with `"` or `'` runs to the matching quote, across lines; the
//!   next character must be whitespace, `;`, `{` or `)` (which starts a new word);
//! - a backslash makes the next character literal for splitting (`\;`, `\ `, `\"`), and
//!   is then unescaped: `\"` `\'` `\\` → the character, `\t` `\r` `\n` → tab, CR, LF,
//!   anything else keeps both characters (so the regex `\.php$` survives).
//!
//! Pure: no I/O, and every token carries its 1-based line.

use std::iter::Peekable;
use std::str::Chars;

use super::error::ConfigErrorKind;
use super::tree::Arg;

/// What a token is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TokenKind {
    /// A word: a directive name or argument, unquoted and unescaped.
    Word(Arg),
    /// `;`
    Semicolon,
    /// `{`
    OpenBrace,
    /// `}`
    CloseBrace,
}

/// A token and the line it starts on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Token {
    pub kind: TokenKind,
    pub line: u32,
}

/// A tokenizer error and the line where it was found (the parser adds the file).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LexError {
    pub kind: ConfigErrorKind,
    pub line: u32,
}

/// Splits configuration text into [`Token`]s, one at a time, so that the parser
/// reports the first error in file order whichever stage finds it.
#[derive(Debug)]
pub struct Lexer<'a> {
    chars: Peekable<Chars<'a>>,
    line: u32,
    /// A `;` or `{` that ended the previous word, returned by the next call.
    pending: Option<Token>,
}

impl<'a> Lexer<'a> {
    pub fn new(text: &'a str) -> Self {
        // A byte-order mark (left by some Windows editors) is not part of the first
        // directive's name; nginx keeps it and reports a baffling unknown directive.
        let text = text.strip_prefix('\u{feff}').unwrap_or(text);
        Lexer {
            chars: text.chars().peekable(),
            line: 1,
            pending: None,
        }
    }

    /// The current line: after the last token, or at the end of the text once
    /// [`next_token`](Self::next_token) has returned `Ok(None)`.
    pub fn line(&self) -> u32 {
        self.line
    }

    /// The next token, `Ok(None)` at the end of the text.
    pub fn next_token(&mut self) -> Result<Option<Token>, LexError> {
        if let Some(token) = self.pending.take() {
            return Ok(Some(token));
        }
        loop {
            let Some(c) = self.bump() else {
                return Ok(None);
            };
            let line = self.line;
            let kind = match c {
                ' ' | '\t' | '\r' | '\n' => continue,
                '#' => {
                    self.skip_comment();
                    continue;
                }
                ';' => TokenKind::Semicolon,
                '{' => TokenKind::OpenBrace,
                '}' => TokenKind::CloseBrace,
                '"' | '\'' => TokenKind::Word(self.quoted_word(c)?),
                _ => TokenKind::Word(self.unquoted_word(c)?),
            };
            return Ok(Some(Token { kind, line }));
        }
    }

    /// Consumes one character, counting lines.
    fn bump(&mut self) -> Option<char> {
        let c = self.chars.next()?;
        if c == '\n' {
            self.line = self.line.saturating_add(1);
        }
        Some(c)
    }

    fn skip_comment(&mut self) {
        while let Some(c) = self.bump() {
            if c == '\n' {
                break;
            }
        }
    }

    fn eof_in_word(&self) -> LexError {
        LexError {
            kind: ConfigErrorKind::UnexpectedEofInDirective,
            line: self.line,
        }
    }

    /// The character after a backslash, unescaped into `value`.
    fn escape(&mut self, value: &mut String) -> Result<(), LexError> {
        let c = self.bump().ok_or_else(|| self.eof_in_word())?;
        match c {
            '"' | '\'' | '\\' => value.push(c),
            't' => value.push('\t'),
            'r' => value.push('\r'),
            'n' => value.push('\n'),
            other => {
                value.push('\\');
                value.push(other);
            }
        }
        Ok(())
    }

    /// A word that started with `first` (not a quote). Ends at whitespace, `;`, `{`
    /// or the end of the text; a `;` or `{` is kept as the next token.
    fn unquoted_word(&mut self, first: char) -> Result<Arg, LexError> {
        let mut value = String::new();
        // After a `$`, a `{` is variable syntax (`${name}`), not a block.
        let mut after_dollar = false;
        let mut c = first;
        loop {
            match c {
                ' ' | '\t' | '\r' | '\n' => break,
                ';' => {
                    self.pending = Some(self.punctuation(TokenKind::Semicolon));
                    break;
                }
                '{' if after_dollar => value.push('{'),
                '{' => {
                    self.pending = Some(self.punctuation(TokenKind::OpenBrace));
                    break;
                }
                '\\' => {
                    after_dollar = false;
                    self.escape(&mut value)?;
                }
                '$' => {
                    after_dollar = true;
                    value.push('$');
                }
                other => {
                    after_dollar = false;
                    value.push(other);
                }
            }
            match self.bump() {
                Some(next) => c = next,
                // The parser reports a word without `;` at the end of the text.
                None => break,
            }
        }
        Ok(Arg {
            value,
            quoted: false,
        })
    }

    fn punctuation(&self, kind: TokenKind) -> Token {
        Token {
            kind,
            line: self.line,
        }
    }

    /// A word in `quote`s; the opening quote is consumed.
    fn quoted_word(&mut self, quote: char) -> Result<Arg, LexError> {
        let mut value = String::new();
        loop {
            let c = self.bump().ok_or_else(|| self.eof_in_word())?;
            match c {
                '\\' => self.escape(&mut value)?,
                c if c == quote => break,
                other => value.push(other),
            }
        }
        // nginx wants a separator after a closing quote; `)` is allowed for
        // `if ($a = "b")` and starts a new word.
        match self.chars.peek() {
            None | Some(' ' | '\t' | '\r' | '\n' | ';' | '{' | ')') => Ok(Arg {
                value,
                quoted: true,
            }),
            Some(&other) => Err(LexError {
                kind: ConfigErrorKind::Unexpected(other),
                line: self.line,
            }),
        }
    }
}

impl Iterator for Lexer<'_> {
    type Item = Result<Token, LexError>;

    fn next(&mut self) -> Option<Self::Item> {
        self.next_token().transpose()
    }
}

/// All tokens of `text`, or the first error.
pub fn tokenize(text: &str) -> Result<Vec<Token>, LexError> {
    Lexer::new(text).collect()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::panic)]

    use super::*;

    /// Compact form of a token stream: words as `w:value` (`q:` if quoted) with
    /// their line, punctuation as itself.
    fn show(text: &str) -> Result<Vec<String>, LexError> {
        Ok(tokenize(text)?
            .into_iter()
            .map(|t| match t.kind {
                TokenKind::Word(a) if a.quoted => format!("{}:q:{}", t.line, a.value),
                TokenKind::Word(a) => format!("{}:w:{}", t.line, a.value),
                TokenKind::Semicolon => format!("{}:;", t.line),
                TokenKind::OpenBrace => format!("{}:{{", t.line),
                TokenKind::CloseBrace => format!("{}:}}", t.line),
            })
            .collect())
    }

    #[test]
    fn tokens_follow_nginx_rules() {
        let cases: &[(&str, &str, &[&str])] = &[
            (
                "simple_directive",
                "listen 80;",
                &["1:w:listen", "1:w:80", "1:;"],
            ),
            (
                "block_and_close",
                "http {\n}\n",
                &["1:w:http", "1:{", "2:}"],
            ),
            (
                "word_glued_to_brace",
                "events{}",
                &["1:w:events", "1:{", "1:}"],
            ),
            (
                "close_brace_inside_word_is_text",
                "a b}",
                &["1:w:a", "1:w:b}"],
            ),
            (
                "tabs_cr_lf_separate",
                "a\tb\r\nc;",
                &["1:w:a", "1:w:b", "2:w:c", "2:;"],
            ),
            (
                "comment_to_end_of_line",
                "# hi ; {\nx; # tail\ny;",
                &["2:w:x", "2:;", "3:w:y", "3:;"],
            ),
            (
                "hash_inside_word_is_text",
                "root /a#b;",
                &["1:w:root", "1:w:/a#b", "1:;"],
            ),
            (
                "comment_after_semicolon",
                "a;#c\nb;",
                &["1:w:a", "1:;", "2:w:b", "2:;"],
            ),
            (
                "double_quoted",
                "return 200 \"a b;{}\";",
                &["1:w:return", "1:w:200", "1:q:a b;{}", "1:;"],
            ),
            (
                "single_quoted",
                "x 'a \"b\"';",
                &["1:w:x", "1:q:a \"b\"", "1:;"],
            ),
            ("empty_quoted", "x \"\";", &["1:w:x", "1:q:", "1:;"]),
            (
                "quote_then_brace",
                "location \"/a\"{}",
                &["1:w:location", "1:q:/a", "1:{", "1:}"],
            ),
            (
                "quote_mid_word_is_text",
                "a b\"c;",
                &["1:w:a", "1:w:b\"c", "1:;"],
            ),
            (
                "close_paren_after_quote_starts_word",
                "if ($a = \"b\")",
                &["1:w:if", "1:w:($a", "1:w:=", "1:q:b", "1:w:)"],
            ),
            (
                "escaped_quotes_and_backslash",
                r#"x "a\"b\'c\\d";"#,
                &["1:w:x", "1:q:a\"b'c\\d", "1:;"],
            ),
            (
                "escaped_controls",
                r#"x "\t\r\n" \t;"#,
                &["1:w:x", "1:q:\t\r\n", "1:w:\t", "1:;"],
            ),
            (
                "other_escape_keeps_backslash",
                r"location ~ \.php$ { }",
                &["1:w:location", "1:w:~", "1:w:\\.php$", "1:{", "1:}"],
            ),
            (
                "other_escape_kept_in_quotes",
                r#"x "\d+\.";"#,
                &["1:w:x", "1:q:\\d+\\.", "1:;"],
            ),
            (
                "escaped_semicolon_and_space_stay_in_word",
                r"x a\;b\ c;",
                &["1:w:x", "1:w:a\\;b\\ c", "1:;"],
            ),
            (
                "escape_at_word_start",
                r"x \;;",
                &["1:w:x", "1:w:\\;", "1:;"],
            ),
            (
                "variable_braces_are_not_a_block",
                "set $a ${host}x;",
                &["1:w:set", "1:w:$a", "1:w:${host}x", "1:;"],
            ),
            (
                "variable_braces_mid_word",
                "x a${b}c;",
                &["1:w:x", "1:w:a${b}c", "1:;"],
            ),
            (
                "brace_after_variable_name_opens_block",
                "x $a{ }",
                &["1:w:x", "1:w:$a", "1:{", "1:}"],
            ),
            (
                "lines_counted_across_quoted_string",
                "a \"1\n2\n3\";\nb;",
                &["1:w:a", "1:q:1\n2\n3", "3:;", "4:w:b", "4:;"],
            ),
            (
                "escaped_newline_counts",
                "a \\\nb;",
                &["1:w:a", "1:w:\\\nb", "2:;"],
            ),
            (
                "unterminated_word_at_eof_is_a_word",
                "a b",
                &["1:w:a", "1:w:b"],
            ),
            ("byte_order_mark_skipped", "\u{feff}a;", &["1:w:a", "1:;"]),
            (
                "non_ascii_text",
                "return 200 \"héllo\";",
                &["1:w:return", "1:w:200", "1:q:héllo", "1:;"],
            ),
        ];
        for (name, input, want) in cases {
            let got = show(input).unwrap_or_else(|e| panic!("{name}: {e:?}"));
            assert_eq!(got, *want, "{name}");
        }
    }

    #[test]
    fn errors_name_the_character_and_line() {
        let cases: &[(&str, &str, ConfigErrorKind, u32)] = &[
            (
                "letter_after_quote",
                "a \"b\"c;",
                ConfigErrorKind::Unexpected('c'),
                1,
            ),
            (
                "close_brace_after_quote",
                "a {\nb \"c\"}",
                ConfigErrorKind::Unexpected('}'),
                2,
            ),
            (
                "hash_after_quote",
                "a 'b'#c",
                ConfigErrorKind::Unexpected('#'),
                1,
            ),
            (
                "quote_after_quote",
                "a 'b''c';",
                ConfigErrorKind::Unexpected('\''),
                1,
            ),
            (
                "unterminated_quote_reports_end_line",
                "a \"b;\n\n",
                ConfigErrorKind::UnexpectedEofInDirective,
                3,
            ),
            (
                "backslash_at_eof",
                "a b\\",
                ConfigErrorKind::UnexpectedEofInDirective,
                1,
            ),
        ];
        for (name, input, kind, line) in cases {
            let err = tokenize(input).unwrap_err();
            assert_eq!(
                err,
                LexError {
                    kind: kind.clone(),
                    line: *line
                },
                "{name}"
            );
        }
    }

    #[test]
    fn line_at_end_counts_trailing_newlines() {
        let mut lexer = Lexer::new("a;\n\n");
        while lexer.next_token().unwrap().is_some() {}
        assert_eq!(lexer.line(), 3);
    }
}

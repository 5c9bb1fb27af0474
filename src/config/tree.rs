//! The directive tree: what the user wrote, after lexing, parsing and `include`
//! expansion, before any meaning is given to it. Each directive keeps its [`Span`].
//!
//! `include` directives are replaced in place by the directives of the files they name,
//! exactly as nginx does, so later stages never see an `include`.

use super::source::Span;

/// One argument (word) of a directive, after quote removal and escape processing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Arg {
    /// The text with quotes removed and `\"`, `\'`, `\\`, `\t`, `\r`, `\n` unescaped;
    /// other backslashes are kept (so `\.` in a regex survives).
    pub value: String,
    /// Whether the word was written in single or double quotes. `""` is an empty
    /// argument, which only quoting can produce.
    pub quoted: bool,
}

impl Arg {
    pub fn as_str(&self) -> &str {
        &self.value
    }
}

/// A directive: `name arg1 arg2 ... ;` or `name args ... { children }`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Directive {
    pub name: String,
    pub args: Vec<Arg>,
    /// `Some` for a block directive (`http { ... }`), `None` for one ended by `;`.
    pub block: Option<Vec<Directive>>,
    /// Where the directive's name was written.
    pub span: Span,
}

impl Directive {
    /// The argument values as string slices.
    pub fn arg_strs(&self) -> Vec<&str> {
        self.args.iter().map(|a| a.value.as_str()).collect()
    }
}

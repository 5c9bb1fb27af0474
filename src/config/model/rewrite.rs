//! nginx's `ngx_http_rewrite_module` as the program runs it: one [`Script`] per server
//! block (run in the server rewrite phase, before a location is chosen) and per
//! location (run in the rewrite phase), each the level's `return`, `rewrite`, `if`,
//! `set` and `break` in the order written. nginx compiles them into one array of codes
//! with the `if` bodies inline; here an `if` holds its body, which runs the same way.
//!
//! Not inherited: a location without rewrite directives has no script, whatever its
//! server or enclosing location has (nginx's `codes == NULL`).

use std::sync::Arc;

use crate::pcre::Pcre;

use super::location::{LocationConf, Return};
use crate::config::template::{Template, UserVar};

/// The directives of one level, in order.
#[derive(Debug, Clone, Default)]
pub struct Script {
    pub ops: Vec<Op>,
}

impl Script {
    /// Whether every request the script runs for ends with a `return`: one is
    /// written at its top level, after nothing that could end the script another way
    /// (`set`s, and `if`s holding only `set` and `return`, may come first). `-t` uses
    /// it to know what is never served from disk.
    pub fn always_returns(&self) -> bool {
        for op in &self.ops {
            match op {
                Op::Return(_) => return true,
                Op::Set { .. } => {}
                Op::If(b)
                    if b.ops
                        .iter()
                        .all(|o| matches!(o, Op::Set { .. } | Op::Return(_))) => {}
                _ => return false,
            }
        }
        false
    }
}

/// One directive of a script.
#[derive(Debug, Clone)]
pub enum Op {
    /// `return`: the script ends with this answer.
    Return(Return),
    /// `rewrite REGEX REPLACEMENT [FLAG]`.
    Rewrite(Box<Rewrite>),
    /// `if (CONDITION) { ... }`.
    If(Box<IfBlock>),
    /// `set $name VALUE`.
    Set { target: SetTarget, value: Template },
    /// `break`: the script ends here (and a URI changed by an earlier `rewrite`
    /// without a flag no longer sends the request to another location).
    Break,
}

/// A regex of the rewrite module, compiled once, with what a match needs to make
/// captures without walking the regex's metadata.
#[derive(Debug, Clone)]
pub struct ScriptRegex {
    pub regex: Pcre,
    /// The pattern as written, for `rewrite_log` lines (`"^/old/(.*)" matches "/old/x"`).
    pub source: String,
}

impl ScriptRegex {
    pub fn new(regex: Pcre, source: &str) -> ScriptRegex {
        ScriptRegex {
            regex,
            source: source.to_string(),
        }
    }
}

/// What a matching `rewrite` does after it has rewritten the URI.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RewriteFlag {
    /// No flag: the script goes on; at its end the new URI chooses a location.
    Continue,
    /// `last`: the script ends; the new URI chooses a location (at most 10 times).
    Last,
    /// `break`: the script ends; the request stays in this location with the new URI.
    Break,
    /// `redirect` (302), `permanent` (301), or a replacement starting with
    /// `http://`, `https://` or `$scheme` (302): the answer is a redirect.
    Redirect(u16),
}

/// `rewrite REGEX REPLACEMENT [FLAG]`.
#[derive(Debug, Clone)]
pub struct Rewrite {
    pub regex: ScriptRegex,
    /// The new URI up to the first `?` written in it (for a redirect, the whole
    /// `Location`, `?` included).
    pub uri: Template,
    /// What follows the first `?` written in an internal rewrite: the new arguments.
    pub args: Option<Template>,
    /// Whether a `?` was written in the replacement (a redirect then joins the
    /// request's arguments with `&`, not `?`).
    pub has_question_mark: bool,
    /// Whether the request's arguments are kept (no `?` at the end of the replacement).
    pub add_args: bool,
    pub flag: RewriteFlag,
}

/// `if (CONDITION) { ... }`.
#[derive(Debug, Clone)]
pub struct IfBlock {
    pub condition: Condition,
    pub ops: Vec<Op>,
    /// The settings a location-level `if` gives the request once its condition is
    /// true (its directives merged over the location's, as a nested location);
    /// `None` at server level, where an `if` holds rewrite directives only.
    pub conf: Option<Arc<LocationConf>>,
}

/// The condition of an `if`.
#[derive(Debug, Clone)]
pub enum Condition {
    /// `($var)`: false when the value is empty or `0`.
    Value(Template),
    /// `($var = text)` and `($var != text)`.
    Equals {
        value: Template,
        text: Template,
        negated: bool,
    },
    /// `($var ~ regex)`, `~*` (caseless), `!~`, `!~*`: captures of a match are
    /// `$1`..`$9` and named variables inside the block and after it.
    Matches {
        value: Template,
        regex: ScriptRegex,
        negated: bool,
    },
    /// `-f`, `-d`, `-e`, `-x` and their `!` forms on a path.
    File {
        path: Template,
        test: FileTest,
        negated: bool,
    },
}

/// What `-f`, `-d`, `-e` and `-x` ask of a path (symbolic links followed).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FileTest {
    /// `-f`: a regular file.
    File,
    /// `-d`: a directory.
    Directory,
    /// `-e`: a file, directory or link.
    Exists,
    /// `-x`: an executable file.
    Executable,
}

/// What `set` assigns to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SetTarget {
    /// A variable of the configuration's own.
    User(UserVar),
    /// `$args`: the request's arguments (nginx's only changeable variable that
    /// vestibule has).
    Args,
    /// `$limit_rate`: the response's send rate (a size).
    LimitRate,
}

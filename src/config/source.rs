//! Where configuration text comes from: files read from disk, files built into the
//! binary, and the `-g` command line. Every directive carries a [`Span`] back to one of
//! these, so errors can say `in /etc/vestibule/sites-enabled/app:12` as nginx does.

use std::fmt;
use std::path::PathBuf;
use std::sync::Arc;

/// The origin of a piece of configuration text.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Origin {
    /// A file read from disk, by its absolute (or as-given) path.
    File(PathBuf),
    /// A file that was not on disk, so the copy built into the binary was used
    /// (`proxy_params`, `mime.types`, the default configuration).
    BuiltIn(PathBuf),
    /// Directives given with `-g` on the command line.
    CommandLine,
}

impl Origin {
    /// The path nginx would print for this origin.
    pub fn path(&self) -> Option<&std::path::Path> {
        match self {
            Origin::File(p) | Origin::BuiltIn(p) => Some(p),
            Origin::CommandLine => None,
        }
    }
}

/// A place in the configuration: which file and which line (1-based).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Span {
    pub origin: Arc<Origin>,
    pub line: u32,
}

impl Span {
    pub fn new(origin: Arc<Origin>, line: u32) -> Self {
        Span { origin, line }
    }
}

/// Formats as nginx does after a message: `in /path:12` or `in command line`.
impl fmt::Display for Span {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.origin.as_ref() {
            Origin::File(p) | Origin::BuiltIn(p) => write!(f, "in {}:{}", p.display(), self.line),
            Origin::CommandLine => f.write_str("in command line"),
        }
    }
}

/// One configuration text as it was read, kept verbatim for `-T`.
#[derive(Debug, Clone)]
pub struct SourceFile {
    pub origin: Arc<Origin>,
    pub text: String,
}

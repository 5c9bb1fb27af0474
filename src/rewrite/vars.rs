//! The variables a request has once its settings are known: `$document_root`,
//! `$realpath_root` and `$request_filename` depend on the `root` or `alias` in
//! force, which the exchange alone does not know. [`RequestVars`] answers them and
//! hands every other variable to the exchange. The rewrite module's conditions and
//! values and `return`'s text read variables through it.

use crate::config::model::{DocRoot, LocationConf};
use crate::config::template::{Variable, VariableSource};
use crate::exchange::Exchange;
use crate::route::RoutedLocation;
use crate::static_files::resolve::{resolve, AliasMode};

/// An exchange with the settings and location serving it.
#[derive(Debug, Clone, Copy)]
pub struct RequestVars<'a> {
    pub x: &'a Exchange,
    pub conf: &'a LocationConf,
    pub location: Option<&'a RoutedLocation>,
}

impl RequestVars<'_> {
    /// `$document_root`: the root without its final `/` (nginx strips it when it
    /// reads `root`), or the alias as written.
    fn document_root(&self, out: &mut Vec<u8>) {
        match &self.conf.root {
            DocRoot::Root(t) => {
                let start = out.len();
                t.expand(self.x as &dyn VariableSource, out);
                if out.len() > start + 1 && out.ends_with(b"/") {
                    out.pop();
                }
            }
            DocRoot::Alias(t) => t.expand(self.x as &dyn VariableSource, out),
        }
    }
}

impl VariableSource for RequestVars<'_> {
    fn write_variable(&self, var: &Variable, out: &mut Vec<u8>) -> bool {
        match var {
            Variable::DocumentRoot => {
                self.document_root(out);
                true
            }
            Variable::RealpathRoot => {
                let mut root = Vec::new();
                self.document_root(&mut root);
                let root = String::from_utf8_lossy(&root).into_owned();
                match std::fs::canonicalize(&root) {
                    Ok(p) => out.extend_from_slice(p.to_string_lossy().as_bytes()),
                    Err(_) => return false,
                }
                true
            }
            Variable::RequestFilename => {
                let place = resolve(
                    self.x,
                    self.location,
                    self.conf,
                    &self.x.uri,
                    AliasMode::Whole,
                );
                out.extend_from_slice(place.display().as_bytes());
                true
            }
            Variable::Map(var) => self.x.map_variable(var, self, out),
            other => self.x.write_variable(other, out),
        }
    }
}

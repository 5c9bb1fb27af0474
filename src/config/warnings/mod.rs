//! `-t` warnings that nginx does not give: mistakes that pass nginx's test and then fail
//! at request time. The last step of [`crate::config::load`], after the builder, over the
//! typed [`Config`]:
//!
//! - an `alias` and its location that disagree about the trailing `/` (the off-by-slash
//!   mistake, and its reverse, nginx's alias traversal);
//! - a `root` or `alias` directory that is missing, is not a directory, or that the
//!   worker user cannot read or reach (`/home/alice` at 0750 is the usual culprit);
//! - a `proxy_pass` or `upstream` unix socket that is missing, is not a socket, or that
//!   the worker user cannot write to (nginx would answer 502 at request time);
//! - `user` when the process is not root, in nginx's words;
//! - certificates that are expired or about to be, chains without their
//!   intermediate, server names no certificate covers, keys others can read
//!   ([`tls`]).
//!
//! Warnings never change the exit status. Each names the fix and carries the span of the
//! location, server or upstream server it concerns.

mod access;
mod tls;

use std::collections::HashSet;
use std::os::unix::fs::FileTypeExt;
use std::path::{Path, PathBuf};

use access::{Access, Owner, Problem, Worker};

use super::error::ConfigWarning;
use super::model::{
    Config, DocRoot, Location, LocationConf, LocationMatch, ProxyTarget, Server, UpstreamAddr,
};
use super::source::Span;
use crate::sys;

/// Checks a built configuration. `prefix` is the one the builder joined relative paths
/// to, so the default `root` (`<prefix>/html`) is known and not reported when it does not
/// exist: nothing asked for it.
pub fn check(config: &Config, prefix: &Path) -> Vec<ConfigWarning> {
    let is_root = sys::is_root();
    let worker = access::worker_user(&config.main, is_root);
    check_as(config, prefix, worker, is_root)
}

/// [`check`] with the process identity given, so tests can be another user.
fn check_as(
    config: &Config,
    prefix: &Path,
    worker: Option<Worker>,
    is_root: bool,
) -> Vec<ConfigWarning> {
    let checker = Checker {
        default_root: prefix.join("html").to_string_lossy().into_owned(),
        worker,
        is_root,
        seen_dirs: HashSet::new(),
        seen_sockets: HashSet::new(),
        warnings: Vec::new(),
    };
    checker.run(config)
}

/// The state of one check: who the worker is, and the paths already reported on (a
/// directory or socket used by several locations is checked once).
struct Checker {
    default_root: String,
    worker: Option<Worker>,
    is_root: bool,
    seen_dirs: HashSet<String>,
    seen_sockets: HashSet<PathBuf>,
    warnings: Vec<ConfigWarning>,
}

impl Checker {
    fn run(mut self, config: &Config) -> Vec<ConfigWarning> {
        if config.main.user_explicit && !self.is_root {
            self.warnings.push(ConfigWarning {
                message: "the \"user\" directive makes sense only if the master process runs \
                          with super-user privileges, ignored (start vestibule as root, or \
                          remove \"user\")"
                    .to_string(),
                span: None,
            });
        }
        let Some(http) = &config.http else {
            return self.warnings;
        };
        for server in &http.servers {
            self.server(server);
        }
        self.warnings
            .extend(tls::check(&http.servers, std::time::SystemTime::now()));
        for upstream in &http.upstreams {
            for s in upstream.servers.iter().filter(|s| !s.down) {
                if let UpstreamAddr::Unix(path) = &s.addr {
                    self.socket(path, &s.span);
                }
            }
        }
        self.warnings
    }

    fn server(&mut self, server: &Server) {
        // A server-level `return` answers before any location is chosen.
        let serves_files = !server.rewrite.as_ref().is_some_and(|s| s.always_returns());
        // The server's own settings serve only requests no location matches.
        let catch_all = server.locations.iter().any(
            |l| matches!(&l.matcher, LocationMatch::Prefix { path, .. } if path.as_str() == "/"),
        );
        if serves_files && !catch_all && uses_root(&server.conf) {
            let context = match server.primary_name() {
                name if name.is_empty() => "requests to this server".to_string(),
                name => format!("requests to server \"{name}\""),
            };
            self.doc_root(&server.conf.root, false, &context, &server.span);
        }
        for location in &server.locations {
            self.location(location, &server.conf.root, serves_files);
        }
    }

    fn location(&mut self, location: &Location, parent_root: &DocRoot, serves_files: bool) {
        let conf = &location.conf;
        // An alias inherited from the enclosing location was judged there.
        if conf.root != *parent_root {
            self.off_by_slash(location);
        }
        if let Some(pass) = &conf.proxy.pass {
            if let ProxyTarget::Direct(addrs) = &pass.target {
                for addr in addrs {
                    if let UpstreamAddr::Unix(path) = addr {
                        self.socket(path, &location.span);
                    }
                }
            }
        } else if serves_files && uses_root(conf) {
            let need_dir = match (&location.matcher, &conf.root) {
                (_, DocRoot::Root(_)) => true,
                (LocationMatch::Prefix { path, .. }, DocRoot::Alias(_)) => path.ends_with('/'),
                _ => false,
            };
            let context = match &location.matcher {
                LocationMatch::Prefix { path, .. } => format!("requests under \"{path}\""),
                LocationMatch::Exact(path) => format!("requests for \"{path}\""),
                other => format!("requests to location \"{}\"", other.describe()),
            };
            self.doc_root(&conf.root, need_dir, &context, &location.span);
        }
        for inner in &location.locations {
            self.location(inner, &conf.root, serves_files);
        }
    }

    /// `location /static/ { alias /srv/static; }` and its reverse.
    fn off_by_slash(&mut self, location: &Location) {
        let (LocationMatch::Prefix { path, .. }, DocRoot::Alias(alias)) =
            (&location.matcher, &location.conf.root)
        else {
            return;
        };
        let Some(alias) = alias.as_static() else {
            return;
        };
        if alias.is_empty() {
            return;
        }
        let message = match (path.ends_with('/'), alias.ends_with('/')) {
            (true, false) => format!(
                "location \"{path}\" ends with \"/\" but its alias \"{alias}\" does not: \
                 requests for \"{path}app.css\" map to \"{alias}app.css\"; \
                 write alias \"{alias}/\""
            ),
            (false, true) => format!(
                "location \"{path}\" does not end with \"/\" but its alias \"{alias}\" does: \
                 \"{path}../secret\" would map to \"{alias}../secret\", outside the alias \
                 directory (nginx's alias traversal); write location \"{path}/\""
            ),
            _ => return,
        };
        self.warn(message, &location.span);
    }

    /// A `root` or `alias` that requests will be served from: it must exist, be a
    /// directory when `need_dir`, and be readable by the worker.
    fn doc_root(&mut self, root: &DocRoot, need_dir: bool, context: &str, span: &Span) {
        let (directive, template) = match root {
            DocRoot::Root(t) => ("root", t),
            DocRoot::Alias(t) => ("alias", t),
        };
        let Some(text) = template.as_static() else {
            return;
        };
        if text.is_empty() || !self.seen_dirs.insert(text.to_string()) {
            return;
        }
        let trimmed = text.trim_end_matches('/');
        let path = Path::new(if trimmed.is_empty() { "/" } else { trimmed });
        let need_dir = need_dir || text.ends_with('/');
        let subject = format!("{directive} \"{text}\"");
        let meta = match access::stat(path) {
            Ok(meta) => meta,
            Err(Problem::Missing(_)) if text == self.default_root => return,
            Err(problem) => return self.doc_problem(problem, path, &subject, context, span),
        };
        if need_dir && !meta.is_dir() {
            return self.warn(
                format!(
                    "{subject} is not a directory: {context} will get 404; point {directive} \
                     at the directory that holds the files"
                ),
                span,
            );
        }
        let Some(worker) = &self.worker else {
            return;
        };
        let want: &[Access] = if meta.is_dir() {
            &[Access::Read, Access::Search]
        } else {
            &[Access::Read]
        };
        if let Err(problem) = access::reach(path, &Owner::of(&meta), worker, want) {
            self.doc_problem(problem, path, &subject, context, span);
        }
    }

    fn doc_problem(
        &mut self,
        problem: Problem,
        path: &Path,
        subject: &str,
        context: &str,
        span: &Span,
    ) {
        let message = match problem {
            Problem::Missing(reason) => format!(
                "{subject} does not exist ({reason}): {context} will get 404; \
                 create it or fix the path"
            ),
            Problem::Unchecked(reason) => format!(
                "{subject} cannot be checked ({reason}): {context} may fail; \
                 fix the path or its permissions"
            ),
            Problem::Ancestor { dir, owner } => {
                let Some(worker) = &self.worker else { return };
                format!(
                    "{subject} cannot be reached: \"{}\" is not searchable by {} ({owner}): \
                     {context} will get 403; {}",
                    dir.display(),
                    worker.who,
                    access::chmod_fix(&dir, &owner, worker, &[Access::Search]),
                )
            }
            Problem::Denied(owner) => {
                let Some(worker) = &self.worker else { return };
                let want: &[Access] = if owner.is_dir {
                    &[Access::Read, Access::Search]
                } else {
                    &[Access::Read]
                };
                format!(
                    "{subject} is not readable by {} ({owner}): {context} will get 403; {}",
                    worker.who,
                    access::chmod_fix(path, &owner, worker, want),
                )
            }
        };
        self.warn(message, span);
    }

    /// A unix socket that requests are proxied to: it must exist, be a socket, and be
    /// writable by the worker (connect() needs write permission on it).
    fn socket(&mut self, path: &Path, span: &Span) {
        if !self.seen_sockets.insert(path.to_path_buf()) {
            return;
        }
        let shown = path.display();
        let meta = match access::stat(path) {
            Ok(meta) => meta,
            Err(Problem::Missing(reason)) => {
                return self.warn(
                    format!(
                        "unix socket \"{shown}\" does not exist ({reason}): requests will get \
                         502; start Gunicorn with --bind unix:{shown} or fix the path"
                    ),
                    span,
                )
            }
            Err(Problem::Unchecked(reason)) => {
                return self.warn(
                    format!(
                        "unix socket \"{shown}\" cannot be checked ({reason}): requests may \
                         get 502; fix the path or its permissions"
                    ),
                    span,
                )
            }
            Err(_) => return,
        };
        if !meta.file_type().is_socket() {
            let kind = if meta.is_dir() {
                "a directory"
            } else if meta.is_file() {
                "a regular file"
            } else {
                "not a socket"
            };
            return self.warn(
                format!(
                    "\"{shown}\" is not a unix socket (it is {kind}): requests will get 502; \
                     remove it and start Gunicorn with --bind unix:{shown}"
                ),
                span,
            );
        }
        let Some(worker) = &self.worker else {
            return;
        };
        let denied = "connect() will fail with 13: Permission denied";
        let message = match access::reach(path, &Owner::of(&meta), worker, &[Access::Write]) {
            Ok(()) => return,
            Err(Problem::Ancestor { dir, owner }) => format!(
                "{} cannot reach unix socket \"{shown}\": \"{}\" is not searchable by {} \
                 ({owner}; {denied}): requests will get 502; {}",
                worker.who,
                dir.display(),
                worker.who,
                access::chmod_fix(&dir, &owner, worker, &[Access::Search]),
            ),
            Err(Problem::Denied(owner)) => format!(
                "{} cannot write to unix socket \"{shown}\" ({owner}; {denied}): requests will \
                 get 502; run Gunicorn with --group set to a group {} is in and --umask 007, \
                 or {}",
                worker.who, worker.who, worker.change,
            ),
            Err(_) => return,
        };
        self.warn(message, span);
    }

    fn warn(&mut self, message: String, span: &Span) {
        self.warnings.push(ConfigWarning {
            message,
            span: Some(span.clone()),
        });
    }
}

/// Whether requests reaching this configuration are served from `root`/`alias`:
/// neither proxied nor answered by `return`.
fn uses_root(conf: &LocationConf) -> bool {
    conf.proxy.pass.is_none() && !conf.rewrite.as_ref().is_some_and(|s| s.always_returns())
}

#[cfg(test)]
mod tests;

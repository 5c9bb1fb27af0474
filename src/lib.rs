//! Vestibule: a reverse proxy and static file server for Python web apps that reads
//! nginx's configuration language.
//!
//! Layers, each in its own folder (DESIGN.md §5):
//! - [`config`]: files → a validated, typed configuration;
//! - [`route`]: which server and location answer a request;
//! - [`pcre`]: nginx's regex syntax over two Rust engines;
//! - [`http1`]: the sans-IO HTTP/1.1 codec;
//! - [`proxy`]: forwarding to upstreams (Gunicorn);
//! - [`static_files`]: answering from disk;
//! - [`rewrite`]: the rewrite module's scripts (`rewrite`, `if`, `set`, `return`);
//! - [`worker`]: the runtime, connections and the request path;
//! - [`observe`]: error and access logs;
//! - [`master`]: the process that binds sockets, forks and supervises workers.
//!
//! [`fuzz_checks`] holds the properties the fuzz targets and the corpus replay check.
//!
//! `main.rs` is a thin CLI over [`cli`].

#[cfg(all(target_os = "linux", target_env = "gnu"))]
pub mod access;
pub mod allocator;
pub mod cache;
pub mod cli;
pub mod compress;
pub mod config;
pub mod exchange;
pub mod fast_hash;
pub mod fuzz_checks;
pub mod http1;
pub mod master;
pub mod net;
pub mod observe;
pub mod pcre;
pub mod proxy;
pub mod rewrite;
pub mod route;
pub mod static_files;
pub mod sys;
pub mod tls;
pub mod uri;
pub mod worker;
pub mod zone;

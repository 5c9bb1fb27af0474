//! Vestibule: a reverse proxy and static file server for Python web apps that reads
//! nginx's configuration language.
//!
//! Layers, each in its own folder (DESIGN.md §5): [`config`] turns files into a typed
//! configuration; [`route`] picks the server and location for a request. `main.rs` is
//! a thin CLI over [`cli`].

pub mod cli;
pub mod config;
pub mod route;
pub mod sys;

//! The `vestibule` binary: nginx's command line over the library.
//!
//! mimalloc replaces glibc's allocator: the request path allocates and frees small
//! buffers at a high rate, and glibc's heap trimming turned that into a `brk` pair
//! every few requests (measured in docs/performance.md).

use std::process::ExitCode;

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    vestibule::cli::main(std::env::args_os().skip(1))
}

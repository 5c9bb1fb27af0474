//! The `vestibule` binary: nginx's command line over the library.

use std::process::ExitCode;

fn main() -> ExitCode {
    vestibule::sys::tune_allocator();
    vestibule::cli::main(std::env::args_os().skip(1))
}

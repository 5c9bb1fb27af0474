//! The `vestibule` binary: nginx's command line over the library.

use std::process::ExitCode;

#[global_allocator]
static ALLOCATOR: vestibule::allocator::Allocator = vestibule::allocator::Allocator;

fn main() -> ExitCode {
    vestibule::sys::tune_allocator();
    vestibule::cli::main(std::env::args_os().skip(1))
}

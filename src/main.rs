//! The `vestibule` binary: nginx's command line over the library.
//!
//! The global allocator: vestibule's shelf over glibc's `malloc` on Linux with glibc
//! (`vestibule::allocator`), the system allocator elsewhere; jemalloc or mimalloc when
//! built with the feature of that name, to measure against (docs/performance.md).

use std::process::ExitCode;

#[cfg(feature = "jemalloc")]
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

#[cfg(all(feature = "mimalloc", not(feature = "jemalloc")))]
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[cfg(all(
    target_os = "linux",
    target_env = "gnu",
    not(any(feature = "jemalloc", feature = "mimalloc"))
))]
#[global_allocator]
static ALLOCATOR: vestibule::allocator::Allocator = vestibule::allocator::Allocator;

fn main() -> ExitCode {
    #[cfg(not(any(feature = "jemalloc", feature = "mimalloc")))]
    vestibule::sys::tune_allocator();
    vestibule::cli::main(std::env::args_os())
}

#!/usr/bin/env bash
# The whole test suite, as CI runs it (.ci/run calls this file). It installs what the
# tests need by itself, so a fresh machine with only Rust, Python 3 and apt runs it.
#
#   bash tests/run.sh            # everything
#   bash tests/run.sh --quick    # skip fmt and clippy
set -euo pipefail
cd "$(dirname "$0")/.."

quick=0
[ "${1:-}" = "--quick" ] && quick=1

step() { printf '\n== %s\n' "$*"; }

if [ "$quick" = 0 ]; then
    step "cargo fmt --check"
    cargo fmt --all -- --check
    step "cargo clippy --all-targets -- -D warnings"
    cargo clippy --all-targets --quiet -- -D warnings
fi

step "cargo test"
cargo test --all-targets --quiet
# The doc tests too (cargo test --all-targets skips them).
cargo test --doc --quiet

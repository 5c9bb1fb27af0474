#!/usr/bin/env bash
# Vestibule against nginx, side by side (docs/performance.md). Installs what it needs
# (nginx, wrk and openssl from apt, a Python venv with matplotlib, Gunicorn and Flask),
# builds the release binary and the TLS handshake client (bench/tls_client), then
# runs bench/compare/ pinned to CPU 1.
#
#   bash bench/run.sh              # full: 5 rounds of 10 s, writes docs/performance.{md,png}
#   bash bench/run.sh --quick      # smoke: 1 round of 2 s, writes target/bench/ only
#   bash bench/run.sh --help       # every option (--rounds, --seconds, --only, ...)
#   bash bench/run.sh --only tls   # the TLS scenarios only (docs/performance.md, "TLS")
#   bash bench/run.sh --only h2    # the HTTP/2 scenarios (h2load; docs/performance.md)
#   VESTIBULE_BIN=path bash bench/run.sh ...   # measure another build (an older commit,
#                                              # --features jemalloc or mimalloc)
set -euo pipefail
cd "$(dirname "$0")/.."

step() { printf '\n== %s\n' "$*" >&2; }

if [ "$(nproc)" -lt 2 ]; then
    echo "bench/run.sh needs 2 CPUs: the server under test on CPU 0, the load on CPU 1" >&2
    exit 1
fi

need_apt=()
command -v nginx >/dev/null 2>&1 || need_apt+=(nginx-light)
command -v wrk >/dev/null 2>&1 || need_apt+=(wrk)
command -v h2load >/dev/null 2>&1 || need_apt+=(nghttp2-client)
command -v taskset >/dev/null 2>&1 || need_apt+=(util-linux)
command -v openssl >/dev/null 2>&1 || need_apt+=(openssl)
python3 -c 'import ensurepip, venv' >/dev/null 2>&1 || need_apt+=(python3-venv)
if [ "${#need_apt[@]}" -gt 0 ]; then
    step "apt-get install ${need_apt[*]}"
    apt-get update -qq
    # Where a distribution has no nginx-light, its nginx is the same server.
    apt-get install -y -qq "${need_apt[@]}" || {
        [[ " ${need_apt[*]} " == *" nginx-light "* ]] &&
            apt-get install -y -qq "${need_apt[@]/nginx-light/nginx}"
    }
fi

venv=target/bench-venv
stamp=$venv/.requirements-installed
if [ ! -f "$stamp" ] || [ bench/requirements.txt -nt "$stamp" ] || [ tests/requirements.txt -nt "$stamp" ]; then
    step "Python venv $venv (matplotlib, Gunicorn, Flask)"
    [ -x $venv/bin/python ] || python3 -m venv $venv
    $venv/bin/pip install -q --disable-pip-version-check -r bench/requirements.txt
    touch "$stamp"
fi

step "cargo build --release"
cargo build --release --quiet
# The TLS scenarios' client: a crate of its own (rustls, as the server uses).
step "cargo build --release (bench/tls_client)"
cargo build --release --quiet --manifest-path bench/tls_client/Cargo.toml --target-dir target/tls-client

# 10,000 idle clients and the servers' worker_rlimit_nofile need descriptors.
ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)"

# The harness stops what it started; if it dies instead, stop those PIDs here, and
# only those (each listed in $BENCH_PID_FILE as it starts).
mkdir -p target/bench
export BENCH_PID_FILE=$PWD/target/bench/pids
pids=$BENCH_PID_FILE
cleanup() {
    [ -f "$pids" ] || return 0
    while read -r pid; do
        if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null &&
            grep -qaE 'nginx|vestibule|gunicorn' "/proc/$pid/cmdline" 2>/dev/null; then
            kill -TERM "$pid" 2>/dev/null || true
        fi
    done <"$pids"
}
trap cleanup EXIT

step "bench/compare $*"
BENCH_COMMAND="bash bench/run.sh${*:+ $*}" PYTHONPATH=bench \
    taskset -c 1 $venv/bin/python -m compare "$@"

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

step "Python venv for the end-to-end tests (Gunicorn + Flask)"
# tests/proxy_*.rs and tests/http_*.rs run a real Gunicorn from .venv. The install is
# skipped while the stamp is newer than tests/requirements.txt, so reruns stay fast.
if ! python3 -m venv --help >/dev/null 2>&1 || ! python3 -c 'import ensurepip' >/dev/null 2>&1; then
    apt-get update -qq && apt-get install -y -qq python3-venv
fi
if [ ! -x .venv/bin/python ]; then
    python3 -m venv .venv
fi
stamp=.venv/.requirements-installed
if [ ! -f "$stamp" ] || [ tests/requirements.txt -nt "$stamp" ]; then
    .venv/bin/pip install -q --disable-pip-version-check -r tests/requirements.txt
    touch "$stamp"
fi

step "systemd-analyze (tests/systemd_units.rs verifies the shipped units)"
# The host's, from apt (252 on Debian 12: the service is verified with its
# systemd-252.conf drop-in, and Type=notify-reload is checked by the test's own parse).
if ! command -v systemd-analyze >/dev/null 2>&1; then
    apt-get update -qq && apt-get install -y -qq systemd
fi

step "Debian's stock /etc/nginx (tests/cli.rs checks that vestibule -t loads it; tests/import_nginx.rs imports and serves it)"
# nginx-light's tree: nginx-common's files and the http-echo module it enables. Without
# /etc/nginx the test says it skipped.
if [ ! -f /etc/nginx/nginx.conf ]; then
    apt-get update -qq && apt-get install -y -qq nginx-light
fi

step "apache2-utils' htpasswd (tests/access.rs makes user files with it)"
if ! command -v htpasswd >/dev/null 2>&1; then
    apt-get update -qq && apt-get install -y -qq apache2-utils
fi

step "cargo-deb, lintian, logrotate (tests/deb_package.rs builds, checks, installs and purges the .deb)"
# The package is made from the debug build the tests use (`cargo deb --profile dev
# --no-build`), so no release build is added to the run; cargo-deb is pinned because
# later versions may refuse the dev profile. The install needs root, which CI has.
if ! cargo deb --version >/dev/null 2>&1; then
    cargo install --quiet --locked cargo-deb --version 3.8.0
fi
if ! command -v lintian >/dev/null 2>&1; then
    apt-get update -qq && apt-get install -y -qq lintian
fi
if ! command -v logrotate >/dev/null 2>&1; then
    apt-get update -qq && apt-get install -y -qq logrotate
fi

step "curl and httpwg-cli (tests/http2*.rs: HTTP/2 clients and the RFC 9113 suite)"
# Debian's curl is built with nghttp2; httpwg-cli is the conformance suite, from crates
# (about 2 minutes to build once; tests/http2_conformance.rs finds it in ~/.cargo/bin).
if ! command -v curl >/dev/null 2>&1; then
    apt-get update -qq && apt-get install -y -qq curl
fi
if ! command -v httpwg >/dev/null 2>&1 && [ ! -x "${CARGO_HOME:-$HOME/.cargo}/bin/httpwg" ]; then
    cargo install --quiet --locked httpwg-cli --version 0.2.5
fi

step "cargo test"
# Every target: unit tests, integration tests against the real binary (Gunicorn + Flask
# among them), and the benchmarks in their quick test mode.
log=$(mktemp)
trap 'rm -f "$log"' EXIT
cargo test --all-targets --quiet 2>&1 | tee "$log"

step "cargo test on the epoll driver: the nginx-configuration behaviour tests"
# The same binary with io_uring switched off (monoio's legacy driver), for the files
# that check nginx's directives side by side (compression, static-file settings,
# listings, PCRE, the rewrite module, map, listen, keep-alive and timeout rules,
# access control), the HTTP/2 floods and the health checks.
# About 20 s; `MONOIO_FORCE_LEGACY_DRIVER=1 cargo test --all-targets` runs them all.
MONOIO_FORCE_LEGACY_DRIVER=1 cargo test --quiet \
    --test compression --test static_settings --test autoindex --test static_files \
    --test pcre --test rewrite --test rewrite_if --test map --test listen \
    --test keepalive_disable --test reset_timedout_connection --test corpus --test access \
    --test http2_floods --test health_check 2>&1 | tee -a "$log"
# One closing line for the whole run, summed over every test binary.
awk '/^test result:/ { for (i = 1; i <= NF; i++) { if ($(i) ~ /^passed/) p += $(i-1); if ($(i) ~ /^failed/) f += $(i-1) } }
     END { printf "vestibule: %d passed, %d failed\n", p, f }' "$log"

step "certbot round trip (tests/certbot/roundtrip.sh)"
# Debian's certbot and python3-certbot-nginx, with vestibule as --nginx-ctl, obtain,
# install and renew certificates from Debian's pebble on loopback (installs them from apt;
# about 45 s): issue with its redirect, certonly, webroot, renew, and a failed reload.
# VESTIBULE_CERTBOT=0 skips it. CTL=/usr/sbin/nginx bash tests/certbot/roundtrip.sh runs
# it against nginx.
if [ "${VESTIBULE_CERTBOT:-1}" = 1 ]; then
    CTL=target/debug/vestibule bash tests/certbot/roundtrip.sh
else
    echo "skipped (VESTIBULE_CERTBOT=0)"
fi

step "valgrind memcheck on the allocator (tests/tools/valgrind.sh)"
# The allocator's unit tests, and a master with one worker under a bounded proxy and
# static load; fails on any memcheck error. About a minute.
bash tests/tools/valgrind.sh

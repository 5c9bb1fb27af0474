#!/usr/bin/env bash
# Memory soak: one vestibule worker serves at least a million requests (proxied with
# upstream keep-alive, proxied with a new client connection each, static files,
# `return`), and its resident memory is sampled after every phase. A leak shows as
# growth from phase to phase; a flat line is the goal.
#
#   bash bench/soak.sh [total_requests]     # default 1000000
#
# Needs wrk (installed from Debian's packages if missing). Everything binds 127.0.0.1
# on free ports; only the processes started here are stopped, by PID.
set -euo pipefail
cd "$(dirname "$0")/.."
total=${1:-1000000}
max_seconds=600

if ! command -v wrk >/dev/null 2>&1; then
    apt-get update -qq && apt-get install -y -qq wrk
fi
cargo build --release --quiet
bin=$PWD/target/release/vestibule
dir=$(mktemp -d /tmp/vestibule-soak.XXXXXX)
chmod 755 "$dir"  # workers run as the default `user` when started as root
pids=()
cleanup() {
    for p in "${pids[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
    rm -rf "$dir"
}
trap cleanup EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
up_port=$(free_port)
port=$(free_port)
mkdir -p "$dir/static" "$dir/up" "$dir/sut"
head -c 4096 /dev/urandom >"$dir/static/4k.bin"

# As root, keep root for the workers (they would switch to nobody, as nginx's do,
# and the 0700 temp directory would answer 403).
user_line=""
[ "$(id -u)" = 0 ] && user_line="user root;"
cat >"$dir/up/vestibule.conf" <<CONF
$user_line daemon off; worker_processes 1; pid $dir/up/pid; error_log $dir/up/error.log;
events { worker_connections 1024; }
http { access_log off;
  server { listen 127.0.0.1:$up_port; location / { return 200 "hello from the upstream\n"; } } }
CONF
cat >"$dir/sut/vestibule.conf" <<CONF
$user_line daemon off; worker_processes 1; pid $dir/sut/pid; error_log $dir/sut/error.log;
events { worker_connections 1024; }
http { access_log off;
  upstream app { server 127.0.0.1:$up_port; keepalive 16; }
  server { listen 127.0.0.1:$port; server_name localhost;
    location /proxy/ { proxy_pass http://app; proxy_http_version 1.1; proxy_set_header Connection ""; }
    location /static/ { alias $dir/static/; }
    location /return { return 200 "ok\n"; } } }
CONF
taskset -c 1 "$bin" -c "$dir/up/vestibule.conf" & pids+=($!)
taskset -c 0 "$bin" -c "$dir/sut/vestibule.conf" & pids+=($!)
master=${pids[1]}
for _ in $(seq 100); do
    curl -fs "http://127.0.0.1:$port/return" >/dev/null 2>&1 && break
    sleep 0.1
done
worker=$(pgrep -P "$master" | head -1)
rss() { awk '/^VmRSS/ { print $2 }' "/proc/$worker/status"; }

printf '| requests served | phase | worker RSS (KiB) |\n|---:|---|---:|\n'
printf '| 0 | started | %s |\n' "$(rss)"
served=0
start=$SECONDS
phase=0
while [ "$served" -lt "$total" ] && [ $((SECONDS - start)) -lt "$max_seconds" ]; do
    case $((phase % 4)) in
        0) name="proxy, keep-alive"; args=(-c 50 "http://127.0.0.1:$port/proxy/x") ;;
        1) name="static 4 KiB"; args=(-c 50 "http://127.0.0.1:$port/static/4k.bin") ;;
        2) name="return"; args=(-c 50 "http://127.0.0.1:$port/return") ;;
        3) name="proxy, new connection each"; args=(-c 20 -H "Connection: close" "http://127.0.0.1:$port/proxy/x") ;;
    esac
    out=$(taskset -c 1 wrk -t 1 -d 4s "${args[@]}")
    n=$(awk '/requests in/ { print $1 }' <<<"$out")
    errors=$(awk '/Non-2xx|Socket errors/ { print }' <<<"$out" | tr '\n' ' ')
    served=$((served + n))
    printf '| %d | %s%s | %s |\n' "$served" "$name" "${errors:+ ($errors)}" "$(rss)"
    phase=$((phase + 1))
done
if ! kill -0 "$worker" 2>/dev/null; then
    echo "the worker $worker died during the soak" >&2
    exit 1
fi
echo "worker $worker served $served requests in $((SECONDS - start)) s"

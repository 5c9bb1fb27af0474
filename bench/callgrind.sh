#!/usr/bin/env bash
# Instructions per request, vestibule against nginx, under valgrind's callgrind: a
# repeatable count of user-space work (the kernel's share is not counted), for
# changes too small for the noise of bench/run.sh (docs/performance.md).
#
#   bash bench/callgrind.sh            # static 1 KiB, proxy, proxy with the guide's
#                                      # proxy_params, 4 s of load each
#   SECONDS_PER_RUN=8 bash bench/callgrind.sh
#   KEEP=/tmp/cg bash bench/callgrind.sh   # keep the callgrind files for
#                                          # callgrind_annotate
#
# Each server runs one worker under callgrind with instrumentation off; it is switched
# on for the worker only while wrk (10 connections) runs, then the count is divided by
# the requests wrk completed. Valgrind does not know openat2(2), so vestibule's static
# path takes its canonical-path fallback there; the report shows the file opening's
# share apart (with openat2 it is a few hundred instructions).
set -euo pipefail
cd "$(dirname "$0")/.."

need_apt=()
command -v valgrind >/dev/null 2>&1 || need_apt+=(valgrind)
command -v nginx >/dev/null 2>&1 || need_apt+=(nginx-light)
command -v wrk >/dev/null 2>&1 || need_apt+=(wrk)
if [ "${#need_apt[@]}" -gt 0 ]; then
    apt-get update -qq
    apt-get install -y -qq "${need_apt[@]}"
fi
cargo build --release --quiet
# VESTIBULE_BIN: another build to count (an older commit, another allocator).
bin=${VESTIBULE_BIN:-$PWD/target/release/vestibule}

secs=${SECONDS_PER_RUN:-4}
dir=$(mktemp -d /tmp/vestibule-callgrind-XXXXXX)
pids=()
cleanup() {
    for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
    sleep 0.5
    for p in "${pids[@]}"; do kill -9 "$p" 2>/dev/null || true; done
    rm -rf "$dir"
}
trap cleanup EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
upstream_port=$(free_port)
head -c 1024 /dev/urandom >"$dir/1k.bin"

mkdir -p "$dir/upstream"
cat >"$dir/upstream/conf" <<EOF
worker_processes 1;
pid $dir/upstream/pid;
error_log $dir/upstream/error.log notice;
events { worker_connections 1024; }
http {
    access_log off;
    keepalive_requests 1000000;
    client_body_temp_path $dir/upstream/body;
    proxy_temp_path $dir/upstream/proxy;
    server {
        listen 127.0.0.1:$upstream_port;
        location / { return 200 "hello from the fixed upstream: a small response body of about 100 bytes, as a JSON answer\n"; }
    }
}
EOF
nginx -c "$dir/upstream/conf" -p "$dir/upstream" -g "daemon off;" 2>/dev/null &
pids+=($!)

# The same configuration text for both servers; only the directory and port differ.
# As root, both keep root for their workers (vestibule's would switch to nobody, as
# nginx's do, and callgrind_control could no longer reach the worker).
user_line=""
[ "$(id -u)" = 0 ] && user_line="user root root;"
sut_config() { # DIR PORT
    cat <<EOF
$user_line
worker_processes 1;
pid $1/pid;
error_log $1/error.log notice;
events { worker_connections 1024; }
http {
    default_type application/octet-stream;
    sendfile on;
    access_log off;
    client_body_temp_path $1/body;
    proxy_temp_path $1/proxy;
    upstream fixed { server 127.0.0.1:$upstream_port; keepalive 32; }
    server {
        listen 127.0.0.1:$2;
        location / { proxy_pass http://fixed; proxy_http_version 1.1; proxy_set_header Connection ""; }
        location /params/ {
            proxy_set_header Host \$http_host;
            proxy_set_header X-Real-IP \$remote_addr;
            proxy_set_header X-Forwarded-For \$proxy_add_x_forwarded_for;
            proxy_set_header X-Forwarded-Proto \$scheme;
            proxy_pass http://fixed; proxy_http_version 1.1; proxy_set_header Connection "";
        }
        location /static/ { alias $dir/; }
    }
}
EOF
}

# Waits until PORT answers, up to 30 s (valgrind starts slowly).
wait_port() {
    for _ in $(seq 300); do
        curl -s -o /dev/null "http://127.0.0.1:$1/static/1k.bin" && return 0
        sleep 0.1
    done
    echo "nothing answers on port $1" >&2
    return 1
}

# Ir per request for WORKER_PID on URL; prints "Ir/request fallback-Ir/request".
measure() { # WORKER_PID OUT_PREFIX URL NAME
    callgrind_control -z "$1" >/dev/null 2>&1
    callgrind_control -i on "$1" >/dev/null 2>&1
    local requests
    requests=$(wrk -t1 -c10 -d"${secs}s" "$3" | awk '/requests in/ {print $1}')
    callgrind_control -d "$1" >/dev/null 2>&1
    callgrind_control -i off "$1" >/dev/null 2>&1
    local out total fallback
    out=$(ls -t "$2".* 2>/dev/null | head -1)
    total=$(awk '/^summary:/ {print $2}' "$out")
    fallback=$(callgrind_annotate --inclusive=yes "$out" 2>/dev/null |
        awk '/static_files::open::open_beneath / {gsub(",", "", $1); if ($1 > m) m = $1} END {print m + 0}')
    if [ -n "${KEEP:-}" ]; then
        mkdir -p "$KEEP" && mv "$out" "$KEEP/$(basename "$2")-$4"
    else
        rm -f "$out"
    fi
    echo "$((total / requests)) $((fallback / requests))"
}

declare -A result
for server in vestibule nginx; do
    d="$dir/$server"
    mkdir -p "$d"
    port=$(free_port)
    sut_config "$d" "$port" >"$d/conf"
    if [ "$server" = vestibule ]; then
        valgrind --tool=callgrind --trace-children=yes --instr-atstart=no \
            --callgrind-out-file="$d/cg.%p" \
            "$bin" -c "$d/conf" -p "$d" -g "daemon off;" >"$d/valgrind.log" 2>&1 &
    else
        valgrind --tool=callgrind --instr-atstart=no --callgrind-out-file="$d/cg.%p" \
            nginx -c "$d/conf" -p "$d" -g "daemon off; master_process off;" >"$d/valgrind.log" 2>&1 &
    fi
    top=$!
    pids+=("$top")
    wait_port "$port"
    # vestibule's worker is the master's child; nginx runs as one process here.
    worker=$(pgrep -P "$top" | head -1 || true)
    worker=${worker:-$top}
    pids+=("$worker")
    for scenario in static proxy params; do
        url="http://127.0.0.1:$port/"
        [ "$scenario" = static ] && url="http://127.0.0.1:$port/static/1k.bin"
        [ "$scenario" = params ] && url="http://127.0.0.1:$port/params/"
        result[$server-$scenario]=$(measure "$worker" "$d/cg.$worker" "$url" "$server-$scenario")
    done
    kill "$worker" "$top" 2>/dev/null || true
done

echo
echo "| scenario | vestibule Ir/request | nginx Ir/request | ratio |"
echo "|---|---:|---:|---:|"
for scenario in static proxy params; do
    read -r v vfallback <<<"${result[vestibule-$scenario]}"
    read -r n _ <<<"${result[nginx-$scenario]}"
    note=""
    [ "$vfallback" -gt 0 ] && note=" (of which $vfallback opening the file: valgrind forces the canonical-path fallback, openat2 costs a few hundred)"
    ratio=$(python3 -c "print(f'{$v / $n:.2f}')")
    label="static 1 KiB"
    [ "$scenario" = proxy ] && label="proxy, upstream keep-alive"
    [ "$scenario" = params ] && label="proxy with the guide's proxy_params"
    echo "| $label | $v$note | $n | $ratio |"
done

#!/usr/bin/env bash
# Valgrind's memcheck on the hand-written allocator (src/allocator.rs), twice:
#
# 1. the allocator's unit tests, run from the lib test binary under memcheck, and one
#    ignored test that reads a shelved block on purpose, which memcheck must report
#    (so the allocator's client requests are known to reach memcheck);
# 2. the real debug binary, a master with one worker (epoll driver: valgrind does not
#    know io_uring), proxying a bounded keep-alive load to a Python upstream and
#    serving static files, then stopped with QUIT.
#
# Fails on any memcheck error in any process: invalid reads or writes, use of
# uninitialised values, bad frees, and leaks memcheck calls "definitely lost".
# ("Possibly lost" and "still reachable" are not errors: the runtime, the config and
# the shelves are alive until exit.) What memcheck can and cannot see through the
# shelf: docs/hardening.md. Called by tests/run.sh; alone:
#
#   bash tests/tools/valgrind.sh
#   REQUESTS=5000 bash tests/tools/valgrind.sh
set -euo pipefail
cd "$(dirname "$0")/../.."

REQUESTS=${REQUESTS:-3000}
# Generous for a slow machine: the load itself takes about 20 s under memcheck.
DEADLINE_SECONDS=${DEADLINE_SECONDS:-240}
MEMCHECK_ERROR=97

if ! command -v valgrind >/dev/null 2>&1; then
    apt-get update -qq && apt-get install -y -qq valgrind
fi

memcheck=(valgrind --tool=memcheck --error-exitcode=$MEMCHECK_ERROR --leak-check=full
    --errors-for-leak-kinds=definite --show-leak-kinds=definite --num-callers=30)

dir=$(mktemp -d /tmp/vestibule-valgrind-XXXXXX)
pids=()
cleanup() {
    for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
    rm -rf "$dir"
}
trap cleanup EXIT

echo "-- building"
cargo build --quiet --bin vestibule
lib_test=$(cargo test --quiet --lib --no-run --message-format=json |
    python3 -c '
import json, sys
for line in sys.stdin:
    m = json.loads(line)
    if m.get("reason") == "compiler-artifact" and m.get("executable") and "lib" in m["target"]["kind"]:
        print(m["executable"])')
[ -x "$lib_test" ] || { echo "no lib test binary found" >&2; exit 1; }

echo "-- the allocator's unit tests under memcheck"
"${memcheck[@]}" -q "$lib_test" allocator:: --test-threads=2

echo "-- memcheck sees a shelved block (a read after free must be reported)"
status=0
"${memcheck[@]}" -q --log-file="$dir/canary.log" "$lib_test" --ignored --exact \
    allocator::tests::memcheck_reports_a_read_of_a_shelved_block >/dev/null 2>&1 || status=$?
if [ "$status" != $MEMCHECK_ERROR ] || ! grep -q "Invalid read" "$dir/canary.log"; then
    echo "memcheck did not report the read of a shelved block (exit $status):" >&2
    cat "$dir/canary.log" >&2
    exit 1
fi

echo "-- a master and one worker under memcheck, $REQUESTS requests"
python3 tests/tools/valgrind_load.py upstream "$dir/upstream.port" &
pids+=($!)
for _ in $(seq 100); do [ -s "$dir/upstream.port" ] && break; sleep 0.1; done
upstream_port=$(cat "$dir/upstream.port")

mkdir -p "$dir/static"
python3 - "$dir/static" <<'EOF'
import sys
sys.path.insert(0, "tests/tools")
import valgrind_load
for size in valgrind_load.SIZES:
    with open(f"{sys.argv[1]}/{size}.bin", "wb") as f:
        f.write(bytes((i * 13) % 256 for i in range(size)))
EOF
port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
cat >"$dir/vestibule.conf" <<EOF
daemon off;
user root;
worker_processes 1;
pid $dir/vestibule.pid;
error_log $dir/error.log info;
events { worker_connections 64; }
http {
    include $PWD/conf/mime.types;
    access_log $dir/access.log;
    client_body_temp_path $dir/client_body_temp;
    proxy_temp_path $dir/proxy_temp;
    upstream app { server 127.0.0.1:$upstream_port; keepalive 4; }
    server {
        listen 127.0.0.1:$port;
        location /proxy/ {
            proxy_pass http://app/;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
        }
        location /static/ { alias $dir/static/; }
    }
}
EOF
MONOIO_FORCE_LEGACY_DRIVER=1 "${memcheck[@]}" --trace-children=yes \
    --log-file="$dir/memcheck.%p.log" target/debug/vestibule -c "$dir/vestibule.conf" \
    >"$dir/output.log" 2>&1 &
master=$!
pids+=($master)

ready=0
for _ in $(seq 600); do
    if ! kill -0 "$master" 2>/dev/null; then break; fi
    if grep -q "io driver:" "$dir/error.log" 2>/dev/null &&
        python3 -c 'import socket, sys; socket.create_connection(("127.0.0.1", int(sys.argv[1])), 1)' "$port" 2>/dev/null; then
        ready=1
        break
    fi
    sleep 0.1
done
if [ "$ready" != 1 ]; then
    echo "vestibule did not start under valgrind" >&2
    cat "$dir/output.log" "$dir/error.log" "$dir"/memcheck.*.log >&2 || true
    exit 1
fi

load=0
VALGRIND_STATIC_DIR="$dir/static" python3 tests/tools/valgrind_load.py client "$port" \
    "$REQUESTS" "$DEADLINE_SECONDS" || load=$?

# A graceful stop; memcheck's leak check runs as each process exits.
kill -QUIT "$master"
stopped=0
for _ in $(seq 1200); do
    if ! kill -0 "$master" 2>/dev/null; then stopped=1; break; fi
    sleep 0.1
done
master_status=0
if [ "$stopped" = 1 ]; then wait "$master" || master_status=$?; fi

failed=0
logs=("$dir"/memcheck.*.log)
echo "memcheck logs: ${#logs[@]} processes"
for log in "${logs[@]}"; do
    summary=$(grep "ERROR SUMMARY" "$log" || echo "no ERROR SUMMARY (process did not finish)")
    echo "  $(basename "$log"): ${summary#*== }"
    if ! grep -q "ERROR SUMMARY: 0 errors" "$log"; then
        failed=1
        cat "$log" >&2
    fi
done
grep -q "worker process" "$dir/error.log" || { echo "no worker started" >&2; failed=1; }
if [ "${#logs[@]}" -lt 2 ]; then
    echo "expected a memcheck log for the master and for its worker" >&2
    failed=1
fi
if [ "$stopped" != 1 ]; then
    echo "vestibule did not stop within 120 s of QUIT" >&2
    failed=1
elif [ "$master_status" != 0 ]; then
    echo "the master exited with $master_status" >&2
    failed=1
fi
if [ "$load" != 0 ]; then
    echo "the load failed" >&2
    tail -20 "$dir/error.log" >&2 || true
    failed=1
fi
[ "$failed" = 0 ] && echo "memcheck: no errors"
exit "$failed"

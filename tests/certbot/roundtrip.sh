#!/usr/bin/env bash
# certbot manages the server: Debian's certbot and python3-certbot-nginx, pointed at the
# server binary with --nginx-ctl and at a temp copy of tests/certbot/tree with
# --nginx-server-root, get certificates from Debian's pebble (an ACME test CA) on
# loopback, edit the configuration, test it, reload it, and renew; the server must serve
# each new certificate without its master changing. Offline: pebble, its DNS
# (pebble-challtestsrv) and the server all listen on 127.0.0.1.
#
#   CTL=/usr/sbin/nginx bash tests/certbot/roundtrip.sh        # the reference
#   CTL=target/release/vestibule bash tests/certbot/roundtrip.sh
#
# Environment:
#   CTL        the server binary (default /usr/sbin/nginx). certbot runs it through
#              ctl-recorder.sh as a symlink named `nginx`, so argv[0] ends in /nginx.
#   NETNS      auto (default): run in a private network namespace (unshare --net, needs
#              root) where the server takes ports 80 and 443 on its own loopback; the
#              redirect certbot adds (only to blocks on port 80) is then checked too.
#              0: stay in this namespace, on ephemeral ports (--http-01-port,
#              --https-port); the redirect step is checked to be skipped. 1: namespace
#              or fail.
#   RECORD     a file to write the transcript to: every ctl call certbot makes (argv,
#              exit status, output) and every configuration edit between two calls,
#              with the temp dir shown as $TMP.
#   KEEP=1     keep the temp dir (printed at the end).
#   SLEEP      certbot's --nginx-sleep-seconds, how long it waits after each reload
#              before asking pebble to validate (default 1, certbot's default).
#
# Steps (each certbot run bounded by 300 s, each wait by its own deadline):
#   1 issue    certbot --nginx -d example.test -d www.example.test --redirect
#   2 certonly certbot certonly --nginx -d api.example.test (no server block has that
#              name: certbot serves the challenge from a temporary server block)
#   3 webroot  certbot certonly --webroot -w ROOT/www/other -d other.test
#   4 not due  certbot renew (nothing is due: nothing happens)
#   5 renew    certbot renew --force-renewal (all three lineages)
#   6 failed-reload  the same for example.test with every reload failing: certbot starts
#              the server itself, which must refuse while the master runs; certbot rolls
#              back and fails
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
script=$here/$(basename "${BASH_SOURCE[0]}")

die() {
    echo "roundtrip: $*" >&2
    exit 1
}
say() { printf 'roundtrip: %s\n' "$*"; }

CTL=${CTL:-/usr/sbin/nginx}
NETNS=${NETNS:-auto}
SLEEP=${SLEEP:-1}

# ---------------------------------------------------------------------------------
# What it needs: Debian's packages, installed with apt when missing.

if [ -z "${ROUNDTRIP_NETNS_CHILD:-}" ]; then
    packages=()
    for package in pebble certbot python3-certbot-nginx curl openssl; do
        dpkg-query -W -f '${Status}' "$package" 2>/dev/null | grep -q 'install ok installed' ||
            packages+=("$package")
    done
    if [ "${#packages[@]}" -gt 0 ]; then
        [ "$(id -u)" = 0 ] || die "missing ${packages[*]}: apt-get install ${packages[*]} (as root)"
        say "installing ${packages[*]} from apt"
        apt-get install -y -qq "${packages[@]}" >/dev/null ||
            { apt-get update -qq && apt-get install -y -qq "${packages[@]}" >/dev/null; }
    fi

    resolved=$(command -v "$CTL" || true)
    if [ -z "$resolved" ] || [ ! -x "$resolved" ]; then die "CTL=$CTL is not an executable"; fi
    CTL=$(readlink -f "$resolved")
    export CTL
fi

# ---------------------------------------------------------------------------------
# Ports: 80 and 443 in a namespace of our own, or ephemeral ones here.

if [ -z "${ROUNDTRIP_NETNS_CHILD:-}" ] && [ "$NETNS" != 0 ]; then
    if unshare --net true 2>/dev/null; then
        export ROUNDTRIP_NETNS_CHILD=1
        exec unshare --net -- bash "$script" "$@"
    fi
    [ "$NETNS" = 1 ] && die "NETNS=1 but unshare --net fails (it needs root, CAP_SYS_ADMIN)"
    say "unshare --net is not allowed here: ephemeral ports, no redirect check"
fi

# Prints N ports nobody listens on now, all different (each held open until all are
# chosen). Another process may still take one before it is used; the waits below
# then fail with that process's log.
free_ports() {
    python3 - "$1" <<'EOF'
import socket, sys
held = []
for _ in range(int(sys.argv[1])):
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    held.append(s)
print(" ".join(str(s.getsockname()[1]) for s in held))
EOF
}

if [ -n "${ROUNDTRIP_NETNS_CHILD:-}" ]; then
    ip link set lo up
    HTTP_PORT=80
    HTTPS_PORT=443
    read -r ACME_PORT MGMT_PORT TLSALPN_PORT DNS_PORT CTS_PORT < <(free_ports 5)
else
    read -r HTTP_PORT HTTPS_PORT ACME_PORT MGMT_PORT TLSALPN_PORT DNS_PORT CTS_PORT < <(free_ports 7)
fi

ipv6=1
python3 -c 'import socket; socket.socket(socket.AF_INET6).bind(("::1", 0))' 2>/dev/null || ipv6=0

# ---------------------------------------------------------------------------------
# The temp dir and what is started in it, stopped by pid on exit.

T=$(mktemp -d /tmp/certbot-roundtrip.XXXXXX)
ROOT=$T/server-root
LE=$T/letsencrypt
REC=$T/record
mkdir -p "$T/bin" "$T/sbin" "$T/log" "$T/pebble" "$LE" "$REC"

pebble_pids=()
server_pid=

# Sends $2 to pid $1, then waits up to $3 seconds for it to exit; returns 1 if it has not.
stop_pid() {
    local pid=$1 sig=$2 secs=$3 end
    kill "-$sig" "$pid" 2>/dev/null || return 0
    end=$((SECONDS + secs))
    while kill -0 "$pid" 2>/dev/null; do
        [ "$SECONDS" -lt "$end" ] || return 1
        sleep 0.1
    done
}

cleanup() {
    local status=$? workers pid
    set +e
    if [ -n "$server_pid" ] && kill -0 "$server_pid" 2>/dev/null; then
        workers=$(pgrep -P "$server_pid")
        if ! stop_pid "$server_pid" QUIT 10 && ! stop_pid "$server_pid" TERM 5; then
            kill -KILL "$server_pid" 2>/dev/null
        fi
        for pid in $workers; do kill -KILL "$pid" 2>/dev/null; done
        wait "$server_pid" 2>/dev/null
    fi
    for pid in "${pebble_pids[@]}"; do
        stop_pid "$pid" TERM 5 || kill -KILL "$pid" 2>/dev/null
        wait "$pid" 2>/dev/null
    done
    if [ "$status" != 0 ]; then
        echo "roundtrip: FAILED; the last of the transcript (ctl calls, config edits):" >&2
        tail -n 60 "$REC/transcript" 2>/dev/null | sed "s#$T#\$TMP#g" >&2
        echo "roundtrip: server error log:" >&2
        tail -n 20 "$ROOT/log/error.log" 2>/dev/null >&2
    fi
    if [ -n "${RECORD:-}" ] && [ -f "$REC/transcript" ]; then
        sed "s#$T#\$TMP#g" "$REC/transcript" >"$RECORD"
    fi
    if [ "${KEEP:-0}" = 1 ]; then
        echo "roundtrip: kept $T" >&2
    else
        rm -rf "$T"
    fi
    exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# Polls "$@" every 0.1 s until it succeeds or $2 seconds pass; $1 names what is awaited.
wait_for() {
    local what=$1 secs=$2 end
    shift 2
    end=$((SECONDS + secs))
    until "$@" >/dev/null 2>&1; do
        [ "$SECONDS" -lt "$end" ] || die "timed out after ${secs}s waiting for $what"
        sleep 0.1
    done
}

tcp_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# ---------------------------------------------------------------------------------
# pebble: its own TLS certificate (Debian's package ships none), its DNS
# (pebble-challtestsrv answers every A query with 127.0.0.1), no sleeps before
# validating, no nonces rejected on purpose, no authorizations reused (every order is
# validated, renewals included).

openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 \
    -subj /CN=roundtrip-pebble-tls-ca -keyout "$T/pebble/ca.key" -out "$T/pebble/ca.pem" \
    -addext basicConstraints=critical,CA:TRUE -addext keyUsage=critical,keyCertSign 2>/dev/null
openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj /CN=localhost \
    -keyout "$T/pebble/key.pem" -out "$T/pebble/csr.pem" 2>/dev/null
printf 'subjectAltName=DNS:localhost,IP:127.0.0.1\nextendedKeyUsage=serverAuth\n' >"$T/pebble/ext"
openssl x509 -req -days 2 -in "$T/pebble/csr.pem" -CA "$T/pebble/ca.pem" -CAkey "$T/pebble/ca.key" \
    -CAcreateserial -extfile "$T/pebble/ext" -out "$T/pebble/cert.pem" 2>/dev/null

cat >"$T/pebble/config.json" <<EOF
{
  "pebble": {
    "listenAddress": "127.0.0.1:$ACME_PORT",
    "managementListenAddress": "127.0.0.1:$MGMT_PORT",
    "certificate": "$T/pebble/cert.pem",
    "privateKey": "$T/pebble/key.pem",
    "httpPort": $HTTP_PORT,
    "tlsPort": $TLSALPN_PORT,
    "ocspResponderURL": "",
    "externalAccountBindingRequired": false
  }
}
EOF

ipv6_answer=::1
[ "$ipv6" = 1 ] || ipv6_answer=
pebble-challtestsrv -defaultIPv4 127.0.0.1 -defaultIPv6 "$ipv6_answer" \
    -dns01 "127.0.0.1:$DNS_PORT" -http01 "" -https01 "" -tlsalpn01 "" \
    -management "127.0.0.1:$CTS_PORT" >"$T/log/challtestsrv.log" 2>&1 &
pebble_pids+=($!)
PEBBLE_VA_NOSLEEP=1 PEBBLE_WFE_NONCEREJECT=0 PEBBLE_AUTHZREUSE=0 \
    pebble -config "$T/pebble/config.json" -dnsserver "127.0.0.1:$DNS_PORT" \
    >"$T/log/pebble.log" 2>&1 &
pebble_pids+=($!)

wait_for "pebble-challtestsrv's DNS on 127.0.0.1:$DNS_PORT (log: $T/log/challtestsrv.log)" 20 \
    tcp_open "$DNS_PORT"
wait_for "pebble's directory on 127.0.0.1:$ACME_PORT (log: $T/log/pebble.log)" 20 \
    curl -sSf --max-time 2 --cacert "$T/pebble/ca.pem" "https://127.0.0.1:$ACME_PORT/dir"
# The roots certificates chain to: new on every start of pebble.
curl -sSf --max-time 5 --cacert "$T/pebble/ca.pem" "https://127.0.0.1:$MGMT_PORT/roots/0" \
    >"$T/pebble/issuer-root.pem"
curl -sSf --max-time 5 --cacert "$T/pebble/ca.pem" "https://127.0.0.1:$MGMT_PORT/intermediates/0" \
    >"$T/pebble/issuer-intermediate.pem"

# ---------------------------------------------------------------------------------
# The server: the template tree, started in the background (daemon off) so its master's
# pid is ours.

cp -a "$here/tree" "$ROOT"
mkdir -p "$ROOT/run" "$ROOT/log" "$ROOT/tmp"
for f in "$ROOT/nginx.conf" "$ROOT"/sites-enabled/*; do
    sed -i -e "s#@ROOT@#$ROOT#g" -e "s#@HTTP_PORT@#$HTTP_PORT#g" -e "s#@HTTPS_PORT@#$HTTPS_PORT#g" "$f"
    [ "$ipv6" = 1 ] || sed -i '/\[::\]/d' "$f"
done

ln -s "$CTL" "$T/sbin/nginx"
ln -s "$here/ctl-recorder.sh" "$T/bin/nginx"
SERVER=$T/sbin/nginx
export ROUNDTRIP_RECORD=$REC ROUNDTRIP_SERVER=$SERVER ROUNDTRIP_ROOT=$ROOT \
    ROUNDTRIP_LE_CONFIG=$LE/config
snapshot() { "$here/ctl-recorder.sh" --snapshot "$1"; }

"$SERVER" -c "$ROOT/nginx.conf" -t >"$T/log/first-test.log" 2>&1 ||
    die "the template does not pass -t: $(cat "$T/log/first-test.log")"
"$SERVER" -c "$ROOT/nginx.conf" >"$T/log/server.log" 2>&1 &
server_pid=$!

pid_file_is_ours() { [ "$(cat "$ROOT/run/nginx.pid" 2>/dev/null)" = "$server_pid" ]; }
http_get() { # HOST PATH: prints the status code
    curl -sS --max-time 5 -o /dev/null -w '%{http_code}' \
        --resolve "$1:$HTTP_PORT:127.0.0.1" "http://$1:$HTTP_PORT$2"
}
answers_200() { [ "$(http_get example.test /)" = 200 ]; }
wait_for "the server's pid file (log: $T/log/server.log)" 20 pid_file_is_ours
wait_for "the server on port $HTTP_PORT" 20 answers_200

# ---------------------------------------------------------------------------------
# Checks

fingerprint() { openssl x509 -noout -fingerprint -sha256 -in "$1" | cut -d= -f2; }

# The certificates the server sends for SNI name $1 on the TLS port, as PEM.
served_chain() {
    timeout 10 openssl s_client -connect "127.0.0.1:$HTTPS_PORT" -servername "$1" -showcerts \
        </dev/null 2>/dev/null | sed -n '/-----BEGIN CERTIFICATE-----/,/-----END CERTIFICATE-----/p'
}
served_fingerprint() {
    served_chain "$1" | openssl x509 -noout -fingerprint -sha256 2>/dev/null | cut -d= -f2
}
serves() { [ "$(served_fingerprint "$1")" = "$2" ]; }

# For each name: the server sends lineage $1's leaf and intermediate (and curl, trusting
# only pebble's root, gets the page over HTTPS).
check_https() {
    local lineage=$1 name want certs body
    shift
    want=$(fingerprint "$LE/config/live/$lineage/cert.pem")
    for name in "$@"; do
        wait_for "$name on port $HTTPS_PORT to serve $LE/config/live/$lineage/cert.pem" 15 \
            serves "$name" "$want"
        certs=$(served_chain "$name" | grep -c 'BEGIN CERTIFICATE')
        [ "$certs" = 2 ] || die "$name: the server sends $certs certificates; fullchain.pem has 2"
        body=$(curl -sS --max-time 5 --resolve "$name:$HTTPS_PORT:127.0.0.1" \
            --cacert "$T/pebble/issuer-root.pem" "https://$name:$HTTPS_PORT/")
        [ "$body" = "example.test over vestibule" ] || die "https://$name/ answered '$body'"
    done
}

check_master_unchanged() {
    kill -0 "$server_pid" 2>/dev/null || die "the master ($server_pid) has exited"
    pid_file_is_ours || die "the pid file says $(cat "$ROOT/run/nginx.pid"), the master is $server_pid"
}

# certbot verifies the chain against pebble's root and intermediate.
check_issued() {
    local lineage=$1
    openssl verify -CAfile "$T/pebble/issuer-root.pem" -untrusted "$T/pebble/issuer-intermediate.pem" \
        "$LE/config/live/$lineage/cert.pem" >/dev/null ||
        die "$lineage: cert.pem does not chain to pebble's root"
}

ctl_calls() { cat "$REC/ctl.count" 2>/dev/null || echo 0; }
last_snapshot() { echo "$REC/snap/$(printf '%03d' "$(cat "$REC/snap.count")")"; }

CERTBOT=(certbot --config-dir "$LE/config" --work-dir "$LE/work" --logs-dir "$LE/logs"
    --server "https://127.0.0.1:$ACME_PORT/dir" --non-interactive)
NGINX=(--nginx-server-root "$ROOT" --nginx-ctl "$T/bin/nginx" --nginx-sleep-seconds "$SLEEP"
    --http-01-port "$HTTP_PORT" --https-port "$HTTPS_PORT")
export REQUESTS_CA_BUNDLE=$T/pebble/ca.pem

step_snapshot=
# step NAME ARGS...: runs certbot with ARGS, recording around it; it must succeed.
# step_failing NAME ARGS...: the same; it must fail.
step() { run_step 0 "$@"; }
step_failing() { run_step 1 "$@"; }
run_step() {
    local expect_failure=$1 name=$2 started=$SECONDS status=0
    shift 2
    printf '\n######## step %s: certbot %s\n\n' "$name" "$*" >>"$REC/transcript"
    snapshot "step $name"
    step_snapshot=$(last_snapshot)
    step_first_call=$(($(ctl_calls) + 1))
    timeout 300 "${CERTBOT[@]}" "$@" >"$T/log/$name.log" 2>&1 || status=$?
    if [ "$status" = 124 ]; then
        die "step $name: certbot still running after 300s (its log: $LE/logs/letsencrypt.log)"
    elif [ "$expect_failure" = 0 ] && [ "$status" != 0 ]; then
        sed "s#$T#\$TMP#g" "$T/log/$name.log" >&2
        die "step $name: certbot failed (its log: $LE/logs/letsencrypt.log)"
    elif [ "$expect_failure" = 1 ] && [ "$status" = 0 ]; then
        die "step $name: certbot succeeded where it should have failed"
    fi
    snapshot "the end of step $name"
    say "step $name: done in $((SECONDS - started))s"
}
# The ctl calls of the last step: number, exit status, seconds, argv (tab-separated).
step_calls() { awk -F'\t' -v from="$step_first_call" '$1 >= from' "$REC/calls" 2>/dev/null; }
config_unchanged_by_step() {
    diff -r "$step_snapshot" "$(last_snapshot)" >/dev/null ||
        die "step $1 left the configuration changed: $(diff -ruN "$step_snapshot" "$(last_snapshot)")"
}

# 0. What certbot's nginx plugin relies on before it edits anything (certbot 2.1,
# certbot_nginx/_internal/configurator.py): `-c FILE -V` prints, on stderr, a version
# line matching its regex with a version of at least 0.8.48, " --with-http_ssl_module"
# and "TLS SNI support enabled"; and `-c FILE -s reload` with a configuration that does
# not load exits non-zero (certbot then starts the server itself, and rolls back when
# that fails too).
"$SERVER" -c "$ROOT/nginx.conf" -V 2>"$T/log/V.stderr" >/dev/null || die "-V exits non-zero"
/usr/bin/python3 - "$T/log/V.stderr" <<'EOF2' || die "-V does not say what certbot needs: $(cat "$T/log/V.stderr")"
import re, sys
text = open(sys.argv[1]).read()
version = re.findall(r"nginx version: ([^/]+)/([0-9\.]*)", text, re.IGNORECASE)
problems = []
if not version:
    problems.append("no 'nginx version: NAME/X.Y.Z'")
elif tuple(int(i) for i in version[0][1].split(".")) < (0, 8, 48):
    problems.append("version below 0.8.48")
if not re.search(r" --with-http_ssl_module", text):
    problems.append("no ' --with-http_ssl_module'")
if not re.search(r"TLS SNI support enabled", text, re.IGNORECASE):
    problems.append("no 'TLS SNI support enabled'")
for p in problems:
    print("roundtrip: -V: " + p, file=sys.stderr)
sys.exit(1 if problems else 0)
EOF2
mkdir -p "$T/broken"
sed 's/^http {/http {\n    no_such_directive on;/' "$ROOT/nginx.conf" >"$T/broken/nginx.conf"
if "$SERVER" -c "$T/broken/nginx.conf" -s reload >"$T/log/broken-reload.log" 2>&1; then
    die "-s reload of a configuration with an unknown directive exits 0"
fi
check_master_unchanged

say "CTL=$CTL, HTTP on $HTTP_PORT, HTTPS on $HTTPS_PORT, pebble on $ACME_PORT, $T"

# 1. Issue and install, with the redirect.
step issue --nginx "${NGINX[@]}" --agree-tos -m a@b.test --no-eff-email \
    -d example.test -d www.example.test --redirect
check_issued example.test
check_https example.test example.test www.example.test
if [ "$HTTP_PORT" = 80 ]; then
    # Port 80 on loopback, named by its Host header: certbot's redirect keeps host,
    # path and arguments.
    got=$(curl -sS --max-time 5 -o /dev/null -w '%{http_code} %{redirect_url}' \
        -H "Host: www.example.test" "http://127.0.0.1:80/a?b=c")
    [ "$got" = "301 https://www.example.test/a?b=c" ] || die "GET /a?b=c on port 80: $got"
else
    # certbot adds its redirect only to a block listening on port 80.
    grep -q 'No matching insecure server blocks listening on port 80 found' \
        "$LE/logs/letsencrypt.log" || die "expected certbot to skip the redirect"
fi
check_master_unchanged

# 2. A name no server block has: the challenge is answered by a temporary server block.
step certonly certonly --nginx "${NGINX[@]}" -d api.example.test
check_issued api.example.test
config_unchanged_by_step certonly
grep -q 'server_name api.example.test' "$REC/transcript" ||
    die "certbot did not write a challenge server block for api.example.test"
check_master_unchanged

# 3. Webroot: the server serves the files certbot writes; certbot never calls the ctl.
step webroot certonly --webroot -w "$ROOT/www/other" -d other.test
check_issued other.test
[ -z "$(step_calls)" ] || die "certonly --webroot called the ctl: $(step_calls)"
config_unchanged_by_step webroot

# 4. Nothing is due.
step not-due renew --no-random-sleep-on-renew
grep -q 'No renewals were attempted' "$T/log/not-due.log" || die "renew renewed something"
[ -z "$(step_calls)" ] || die "a renew with nothing due called the ctl: $(step_calls)"

# 5. Forced renewal of all three: the new certificate is served by the same master.
before=$(fingerprint "$LE/config/live/example.test/cert.pem")
step renew renew --force-renewal --no-random-sleep-on-renew
for lineage in example.test api.example.test other.test; do
    [ -e "$LE/config/archive/$lineage/cert2.pem" ] || die "$lineage was not renewed"
    check_issued "$lineage"
done
[ "$(fingerprint "$LE/config/live/example.test/cert.pem")" != "$before" ] ||
    die "example.test's certificate did not change"
check_https example.test example.test www.example.test
check_master_unchanged
config_unchanged_by_step renew

# 6. A reload that fails (the recorder fails every `-s reload`, as a wrong pid file
# would): certbot then starts the server itself with `ctl -c FILE`, which must refuse
# while the master runs (nginx: bind() failed (98: Address already in use), exit 1,
# after 2.5 s of retries), and rolls the configuration back.
export ROUNDTRIP_FAIL_RELOAD=1
step_failing failed-reload renew --cert-name example.test --force-renewal --no-random-sleep-on-renew
unset ROUNDTRIP_FAIL_RELOAD
starts=$(step_calls | awk -F'\t' -v argv="-c $ROOT/nginx.conf" '$4 == argv')
[ -n "$starts" ] || die "certbot did not start the server after the failed reload: $(step_calls)"
while IFS=$'\t' read -r n status took argv; do
    [ "$status" != 0 ] || die "ctl call $n: with the master running, a second start (nginx $argv) exits 0"
    [ "$status" != 124 ] ||
        die "ctl call $n: a second start (nginx $argv) ran until killed after ${took}s; it must fail to bind and exit"
done <<<"$starts"
config_unchanged_by_step failed-reload
check_https example.test example.test www.example.test
check_master_unchanged

"$SERVER" -c "$ROOT/nginx.conf" -t >/dev/null 2>&1 || die "the final configuration fails -t"
{
    printf '\n######## the configuration at the end\n'
    for f in "$ROOT/nginx.conf" "$ROOT"/sites-enabled/* "$LE/config/options-ssl-nginx.conf"; do
        printf '\n~~~ %s\n' "$f"
        cat "$f"
    done
} >>"$REC/transcript"
for variant in /usr/lib/python3/dist-packages/certbot_nginx/_internal/tls_configs/*.conf; do
    if cmp -s "$variant" "$LE/config/options-ssl-nginx.conf"; then
        say "certbot chose $(basename "$variant") from the -V output"
    fi
done
say "passed: $(ctl_calls) ctl calls, ${SECONDS}s"

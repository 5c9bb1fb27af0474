#!/usr/bin/env bash
# certbot's --nginx-ctl during tests/certbot/roundtrip.sh: a recording stand-in for the
# server binary. Each invocation appends to the transcript ($ROUNDTRIP_RECORD/transcript)
# first what changed in the configuration since the previous snapshot (the server root's
# nginx.conf and sites-enabled/, and certbot's challenge include in its config dir), then
# its argv, the server's exit status, stdout and stderr (certbot parses -V from stderr).
# Then it passes the output and the exit status on unchanged. So the transcript shows
# every call certbot makes and every edit it makes between two calls, the temporary ones
# included.
#
#   ctl-recorder.sh ARGS...             record, run the server with ARGS
#   ctl-recorder.sh --snapshot LABEL    only record the changes, under LABEL
#                                       (roundtrip.sh, at the start and end of a step)
#
# With ROUNDTRIP_FAIL_RELOAD=1 a `-s reload` is not passed on but fails (exit 1), as when
# the pid file is wrong: certbot then starts the server itself (`ctl -c FILE`).
# Each call is also one line of $ROUNDTRIP_RECORD/calls: number, exit status, seconds
# taken, argv.
#
# The server is run as $ROUNDTRIP_SERVER (a symlink named `nginx` to $CTL, so the binary
# sees argv[0] = .../nginx), bounded by $ROUNDTRIP_CTL_TIMEOUT seconds: if a reload
# fails certbot starts the server itself (`ctl -c FILE`), which with `daemon off` would
# otherwise not return.
set -uo pipefail

record=${ROUNDTRIP_RECORD:?set by roundtrip.sh}
server=${ROUNDTRIP_SERVER:?set by roundtrip.sh}
root=${ROUNDTRIP_ROOT:?set by roundtrip.sh}
le_config=${ROUNDTRIP_LE_CONFIG:?set by roundtrip.sh}
transcript=$record/transcript

# Copies the configuration to snap/NNN and appends its difference from the previous
# snapshot (none before the first) to the transcript, headed by $1.
snapshot() {
    local label=$1 n prev snap
    n=$(($(cat "$record/snap.count" 2>/dev/null || echo 0) + 1))
    echo "$n" >"$record/snap.count"
    snap=$record/snap/$(printf '%03d' "$n")
    prev=$record/snap/$(printf '%03d' $((n - 1)))
    mkdir -p "$snap/server-root" "$snap/certbot-config-dir"
    cp -a "$root/nginx.conf" "$root/sites-enabled" "$snap/server-root/"
    if [ -e "$le_config/le_http_01_cert_challenge.conf" ]; then
        cp -a "$le_config/le_http_01_cert_challenge.conf" "$snap/certbot-config-dir/"
    fi
    [ -d "$prev" ] || return 0
    local changes
    # Without the files' times, so that two transcripts compare.
    changes=$(cd "$record/snap" && diff -ruN "$(basename "$prev")" "$(basename "$snap")" |
        sed -E $'s/^((---|\\+\\+\\+) [^\t]*)\t.*/\\1/')
    if [ -n "$changes" ]; then
        printf '~~~ configuration changed before %s\n%s\n\n' "$label" "$changes" >>"$transcript"
    fi
}

if [ "${1:-}" = "--snapshot" ]; then
    snapshot "${2:?--snapshot LABEL}"
    exit 0
fi

calls=$(($(cat "$record/ctl.count" 2>/dev/null || echo 0) + 1))
echo "$calls" >"$record/ctl.count"
snapshot "ctl call $calls"

out=$record/ctl.$calls.stdout
err=$record/ctl.$calls.stderr
started=$EPOCHREALTIME
if [ "${ROUNDTRIP_FAIL_RELOAD:-0}" = 1 ] && [[ " $* " == *" -s reload "* ]]; then
    echo "roundtrip: this reload fails on purpose (ROUNDTRIP_FAIL_RELOAD=1)" >"$err"
    : >"$out"
    status=1
else
    timeout "${ROUNDTRIP_CTL_TIMEOUT:-30}" "$server" "$@" >"$out" 2>"$err"
    status=$?
fi
took=$(awk -v a="$started" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.2f", b - a }')
printf '%s\t%s\t%s\t%s\n' "$calls" "$status" "$took" "$*" >>"$record/calls"

{
    printf '=== ctl call %s: nginx' "$calls"
    printf ' %q' "$@"
    printf '\n--- exit status %s\n' "$status"
    if [ -s "$out" ]; then printf -- '--- stdout\n'; cat "$out"; fi
    if [ -s "$err" ]; then printf -- '--- stderr\n'; cat "$err"; fi
    printf '\n'
} >>"$transcript"

cat "$out"
cat "$err" >&2
exit "$status"

#!/usr/bin/env bash
# Prints the path of a systemd-analyze that knows Type=notify-reload (systemd 253+).
# The host's when it is new enough; otherwise (Debian 12 ships 252) Debian's
# bookworm-backports build, unpacked under target/systemd-analyze/ without installing
# anything: the binary and its two libraries run from there through a wrapper script.
set -euo pipefail
cd "$(dirname "$0")/../.."

version() { "$1" --version | awk 'NR == 1 { print $2 }'; }

if command -v systemd-analyze >/dev/null 2>&1 && [ "$(version systemd-analyze)" -ge 253 ]; then
    command -v systemd-analyze
    exit 0
fi
dir=$PWD/target/systemd-analyze
wrapper=$dir/systemd-analyze
if [ -x "$wrapper" ] && [ "$(version "$wrapper")" -ge 253 ]; then
    echo "$wrapper"
    exit 0
fi
mirror=http://deb.debian.org/debian
rm -rf "$dir" && mkdir -p "$dir/root"
# Python fetches and unpacks, so neither curl nor xz need be installed.
fetch() { python3 -c 'import sys, urllib.request; sys.stdout.buffer.write(urllib.request.urlopen(sys.argv[1]).read())' "$1"; }
fetch "$mirror/dists/bookworm-backports/main/binary-amd64/Packages.xz" |
    python3 -c 'import lzma, sys; sys.stdout.buffer.write(lzma.decompress(sys.stdin.buffer.read()))' >"$dir/Packages"
for package in systemd libsystemd-shared libsystemd0; do
    file=$(awk -v p="$package" '$0 == "Package: " p { found = 1 } found && /^Filename:/ { print $2; exit }' "$dir/Packages")
    fetch "$mirror/$file" >"$dir/$package.deb"
    dpkg-deb -x "$dir/$package.deb" "$dir/root"
done
libs=$dir/root/usr/lib/x86_64-linux-gnu
cat >"$wrapper" <<WRAP
#!/bin/sh
LD_LIBRARY_PATH=$libs/systemd:$libs exec $dir/root/usr/bin/systemd-analyze "\$@"
WRAP
chmod +x "$wrapper"
echo "$wrapper"

#!/bin/sh
# SPDX-License-Identifier: MIT
# Checks the systemd units as systemd itself reads them:
#   systemd-units.sh UNITDIR FDBROKERD FDBROKER EXAMPLEDIR
# UNITDIR holds the configured fdbroker.socket and fdbroker.service,
# FDBROKERD and FDBROKER are the built programs, EXAMPLEDIR the
# sandboxed-service example.
#
# systemd-analyze verify insists that every ExecStart= program exists, and
# the configured service names the installed path: the units are checked as
# copies that differ only in that path, pointing at the built programs.

set -eu

unitdir=$1
fdbrokerd=$2
fdbroker=$3
exampledir=$4
max_exposure=2.0

fail() {
        echo "FAIL: $*" >&2
        exit 1
}

tmp=$(mktemp -d /tmp/fdbr-units-XXXXXX)
trap 'rm -rf "$tmp"' EXIT INT TERM

# Unit files must be found by name (Requires=fdbroker.socket), so they all
# go into one directory.
cp "$unitdir/fdbroker.socket" "$tmp/fdbroker.socket"
sed -E "s|^ExecStart=[^ ]*/fdbrokerd |ExecStart=$fdbrokerd |" "$unitdir/fdbroker.service" >"$tmp/fdbroker.service"
sed -E "s|^ExecStart=fdbroker |ExecStart=$fdbroker |" "$exampledir/example.service" >"$tmp/example.service"
grep -q "^ExecStart=$fdbrokerd " "$tmp/fdbroker.service" || fail "fdbroker.service: no ExecStart= running fdbrokerd"
grep -q "^ExecStart=$fdbroker cat " "$tmp/example.service" || fail "example.service: no ExecStart= running fdbroker cat"

# What the issue fixes about the units, so that an edit cannot lose it
# unnoticed.
for want in \
        "fdbroker.socket:ListenSequentialPacket=/run/fdbroker/fdbroker.sock" \
        "fdbroker.socket:SocketMode=0666" \
        "fdbroker.socket:RemoveOnStop=yes" \
        "fdbroker.service:Type=notify" \
        "fdbroker.service:ExecReload=/bin/kill -HUP \$MAINPID" \
        "fdbroker.service:Restart=on-failure" \
        "fdbroker.service:CapabilityBoundingSet=CAP_DAC_OVERRIDE CAP_DAC_READ_SEARCH CAP_FOWNER CAP_CHOWN" \
        "fdbroker.service:NoNewPrivileges=yes" \
        "fdbroker.service:PrivateNetwork=yes" \
        "fdbroker.service:RestrictAddressFamilies=AF_UNIX" \
        "fdbroker.service:SystemCallFilter=@system-service" \
        "fdbroker.service:MemoryDenyWriteExecute=yes" \
        "fdbroker.service:LockPersonality=yes" \
        "fdbroker.service:ProtectClock=yes" \
        "example.service:DynamicUser=yes" \
        "example.service:ProtectSystem=strict" \
        "example.service:ProtectHome=yes" \
        "example.service:PrivateTmp=yes"; do
        file=${want%%:*}
        line=${want#*:}
        grep -qxF "$line" "$tmp/$file" || fail "$file: missing '$line'"
done
grep -qE '^WatchdogSec=[1-9]' "$tmp/fdbroker.service" || fail "fdbroker.service: no WatchdogSec="
grep -qxF 'unit=example.service   /srv/example/data.txt   read' "$exampledir/example.conf" ||
        fail "example.conf: the rule for example.service is missing"

# The check itself must be able to fail: a service whose program does not
# exist is refused.
sed -E "s|^ExecStart=[^ ]+ |ExecStart=$tmp/no-such-program |" "$tmp/fdbroker.service" >"$tmp/broken.service"
if systemd-analyze verify "$tmp/broken.service" >"$tmp/broken.log" 2>&1; then
        cat "$tmp/broken.log"
        fail "systemd-analyze verify accepted a unit with a missing ExecStart= program"
fi

echo "== systemd-analyze verify"
for unit in fdbroker.socket fdbroker.service example.service; do
        # verify reports problems on stderr but still exits 0 for some
        # (unknown keys, say): any output at all is a failure.
        if ! systemd-analyze verify "$tmp/$unit" >"$tmp/verify.log" 2>&1 || [ -s "$tmp/verify.log" ]; then
                cat "$tmp/verify.log"
                fail "systemd-analyze verify $unit"
        fi
        echo "$unit: OK"
done

echo "== systemd-analyze security fdbroker.service"
SYSTEMD_COLORS=0 systemd-analyze security --offline=yes --no-pager "$tmp/fdbroker.service" >"$tmp/security.log" 2>&1 || true
cat "$tmp/security.log"
exposure=$(sed -n 's/.*Overall exposure level for fdbroker\.service: \([0-9.]*\).*/\1/p' "$tmp/security.log")
[ -n "$exposure" ] || fail "no exposure level in the output of systemd-analyze security"
echo "exposure level of fdbroker.service: $exposure (at most $max_exposure)"
awk -v e="$exposure" -v m="$max_exposure" 'BEGIN { exit !(e + 0 <= m + 0) }' ||
        fail "exposure level $exposure is above $max_exposure"
# The same limit as systemd states it (tenths), in case the printed value is
# rounded.
systemd-analyze security --offline=yes --no-pager --threshold=20 "$tmp/fdbroker.service" >/dev/null 2>&1 ||
        fail "systemd-analyze security --threshold=20 fails"
echo "PASS"

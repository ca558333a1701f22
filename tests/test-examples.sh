#!/bin/sh
# SPDX-License-Identifier: MIT
# Runs the examples of docs/examples against a live broker, as written:
#   - policy.conf and every file in policies/ are valid as shipped, alone
#     and as drop-ins;
#   - policies/, with their paths moved under a scratch root, do what their
#     comments say: per-user shares with %u (write, create, append, list,
#     other users and .ssh refused), unit= rules for a client placed in a
#     service's cgroup (and not outside it), a device for a supplementary
#     group, reached directly and through a followed link;
#   - async/sizes opens hundreds of files with many requests in flight,
#     past the broker's own in-flight limit, reports a refusal, and exits
#     as documented;
#   - bubblewrap/sandbox.sh gives a sandbox without /etc and without the
#     data one file, with `fdbroker cat` and `fdbroker exec`; HOME, and
#     what --setenv, --ro-bind and --bind add, are there.
# Needs root: the broker runs as root, clients as nobody.
#
#   test-examples.sh SOURCE_DIR FDBROKERD FDBROKER SIZES

set -eu
# Directories made here must be searchable by the unprivileged clients.
umask 022

src=$1
fdbrokerd=$2
fdbroker=$3
sizes=$4
examples=$src/docs/examples

fail() {
        echo "FAIL: $*" >&2
        if [ -n "${tmp:-}" ] && [ -s "$tmp/fdbrokerd.log" ]; then
                echo "--- fdbrokerd log" >&2
                cat "$tmp/fdbrokerd.log" >&2
        fi
        exit 1
}

[ "$(id -u)" = 0 ] || fail "needs root"
for t in setpriv bwrap findmnt; do
        command -v "$t" >/dev/null || fail "$t not found (tools/deps.sh installs it)"
done

tmp=$(mktemp -d /tmp/fdbr-examples-XXXXXX)
chmod 755 "$tmp"

# The clients run as other users, and the build tree may be out of their
# reach (a clone under /root, mode 0700): they run copies, the library
# found through LD_LIBRARY_PATH.
mkdir "$tmp/bin"
cp "$fdbroker" "$(dirname "$fdbroker")"/libfdbroker.so* "$sizes" "$tmp/bin/"
fdbroker=$tmp/bin/$(basename "$fdbroker")
sizes=$tmp/bin/$(basename "$sizes")
export LD_LIBRARY_PATH="$tmp/bin"
daemon=
cgroups=
cleanup() {
        if [ -n "$daemon" ]; then
                kill "$daemon" 2>/dev/null || true
                wait "$daemon" 2>/dev/null || true
        fi
        # A cgroup goes once its last process is gone, which may take a moment.
        for cg in $cgroups; do
                i=0
                while [ -d "$cg" ] && ! rmdir "$cg" 2>/dev/null && [ $i -lt 100 ]; do
                        i=$((i + 1))
                        sleep 0.05
                done
        done
        rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 1' INT TERM

as_nobody() {
        setpriv --reuid=nobody --regid=nogroup --clear-groups "$@"
}

# Runs a command; its status must be $1.  Output in $out (stdout and
# stderr together).
expect() {
        want=$1
        shift
        set +e
        out=$("$@" 2>&1)
        got=$?
        set -e
        [ "$got" = "$want" ] || fail "exit status $got, expected $want: $*$(echo; echo "$out")"
}

# The same, with standard output in $out and standard error in $err.
expect_split() {
        want=$1
        shift
        set +e
        out=$("$@" 2>"$tmp/stderr")
        got=$?
        set -e
        err=$(cat "$tmp/stderr")
        [ "$got" = "$want" ] || fail "exit status $got, expected $want: $*$(echo; echo "$out"; echo "$err")"
}

# ---- policies as shipped ----------------------------------------------------

# Checked from a copy: a policy must be root's and writable by no one else,
# whoever owns the source tree.
mkdir "$tmp/check"
for p in "$examples/policy.conf" "$examples"/policies/*.conf; do
        install -m 0644 "$p" "$tmp/check/${p##*/}"
        expect 0 "$fdbrokerd" --check-policy --strict --policy "$tmp/check/${p##*/}"
        case $out in
        "policy OK: "*" from 1 file") ;;
        *) fail "${p#"$src"/}: $out" ;;
        esac
done
mkdir -p "$tmp/etc/fdbroker/policy.d"
install -m 0644 "$examples/policy.conf" "$tmp/etc/fdbroker/"
expect 0 "$fdbrokerd" --check-policy --policy "$tmp/etc/fdbroker/policy.conf"
install -m 0644 "$examples"/policies/*.conf "$tmp/etc/fdbroker/policy.d/"
expect 0 "$fdbrokerd" --check-policy --policy "$tmp/etc/fdbroker/policy.conf"

# ---- a broker with the examples under a scratch root ------------------------

# Every path pattern gets the scratch root in front; nothing else changes.
root=$tmp/root
mkdir -m 755 "$root"
relocate() {
        awk -v root="$root" '
                /^[ \t]*(#|$)/ || $1 == "include" { print; next }
                NF == 3 && $2 ~ /^\// { print $1 "\t" root $2 "\t" $3; next }
                { print "cannot relocate: " $0 > "/dev/stderr"; exit 1 }' "$1"
}
mkdir "$tmp/policy" "$tmp/policy/policies"
for p in "$examples"/policies/*.conf; do
        relocate "$p" >"$tmp/policy/policies/${p##*/}" || fail "relocating $p"
done
cat >"$tmp/policy/policy.conf" <<EOF
include policies/*.conf
user=nobody   $root/many/**              read
user=nobody   $root/bw/report.txt        read
EOF
expect 0 "$fdbrokerd" --check-policy --policy "$tmp/policy/policy.conf"

sock=$tmp/fdbroker.sock
export FDBROKER_SOCKET="$sock"
"$fdbrokerd" --socket "$sock" --policy "$tmp/policy/policy.conf" --log-level info 2>"$tmp/fdbrokerd.log" &
daemon=$!
i=0
until "$fdbroker" ping 2>/dev/null; do
        i=$((i + 1))
        [ $i -lt 200 ] || fail "fdbrokerd did not start"
        kill -0 "$daemon" 2>/dev/null || fail "fdbrokerd exited"
        sleep 0.05
done

# ---- policies/shares.conf ---------------------------------------------------

# The layout shares.conf describes: root-owned 0700 directories, one per
# user, reachable only through the broker.
share=$root/srv/share
mkdir -p "$share"
mkdir -m 700 "$share/nobody" "$share/daemon" "$share/nobody/.ssh"
echo "private key" >"$share/nobody/.ssh/id_ed25519"
echo "daemon's" >"$share/daemon/data"
# What is in a share is its user's (shares.conf serves it only then).
chown daemon: "$share/daemon/data"

expect 0 as_nobody sh -c "echo hello | '$fdbroker' write --create '$share/nobody/notes.txt'"
[ "$(stat -c '%U:%G %a' "$share/nobody/notes.txt")" = "nobody:nogroup 644" ] ||
        fail "shares: created file is $(stat -c '%U:%G %a' "$share/nobody/notes.txt")"
expect 0 as_nobody sh -c "echo more | '$fdbroker' write --append '$share/nobody/notes.txt'"
expect 0 as_nobody "$fdbroker" cat "$share/nobody/notes.txt"
[ "$out" = "hello
more" ] || fail "shares: read back '$out'"
expect 0 as_nobody "$fdbroker" check --dir "$share/nobody"
expect 1 as_nobody "$fdbroker" cat "$share/daemon/data"
expect 1 as_nobody "$fdbroker" cat "$share/nobody/.ssh/id_ed25519"
case $out in *"Permission denied"*) ;; *) fail "shares: .ssh: $out" ;; esac
grep -q "deny uid=65534 .*id_ed25519.*rule=$tmp/policy/policies/shares.conf:" "$tmp/fdbrokerd.log" ||
        fail "shares: the deny rule is not the one cited"
# %u is the name of whoever asks: daemon (uid 1) gets its own share, not
# nobody's; a uid without a name gets none.
expect 0 setpriv --reuid=daemon --regid=daemon --clear-groups "$fdbroker" cat "$share/daemon/data"
expect 1 setpriv --reuid=daemon --regid=daemon --clear-groups "$fdbroker" cat "$share/nobody/notes.txt"
expect 1 setpriv --reuid=54321 --regid=54321 --clear-groups "$fdbroker" check --dir "$share/nobody"

# ---- policies/services.conf -------------------------------------------------

mkdir -p "$root/etc" "$root/var/log"
mkdir -m 700 "$root/etc/app" "$root/var/log/app"
echo "app configuration" >"$root/etc/app/app.conf"

# The cgroup v2 hierarchy systemd reads units from: "unified" on hybrid
# hosts, /sys/fs/cgroup itself on pure v2.
cgroot=/sys/fs/cgroup
[ -e /sys/fs/cgroup/unified/cgroup.procs ] && cgroot=/sys/fs/cgroup/unified

# Runs a command as nobody inside the cgroup of unit $1.
in_unit() {
        unit=$1
        shift
        sh -c 'echo $$ >"$1/cgroup.procs" && shift && exec "$@"' sh "$cgroot/system.slice/$unit" \
                setpriv --reuid=nobody --regid=nogroup --clear-groups "$@"
}
make_unit() {
        mkdir -p "$cgroot/system.slice" 2>/dev/null || return 1
        mkdir "$cgroot/system.slice/$1" 2>/dev/null || return 1
        cgroups="$cgroot/system.slice/$1 $cgroups"
}

app="app@fdbrtest-$$.service"
if make_unit "$app"; then
        expect 0 in_unit "$app" "$fdbroker" cat "$root/etc/app/app.conf"
        [ "$out" = "app configuration" ] || fail "services: read '$out'"
        expect 0 in_unit "$app" sh -c "echo started | '$fdbroker' write --append --create '$root/var/log/app/eu.log'"
        expect 0 in_unit "$app" sh -c "echo again | '$fdbroker' write --append '$root/var/log/app/eu.log'"
        [ "$(cat "$root/var/log/app/eu.log")" = "started
again" ] || fail "services: log holds '$(cat "$root/var/log/app/eu.log")'"
        expect 1 in_unit "$app" "$fdbroker" cat "$root/var/log/app/eu.log"
        grep -qF "unit=\"$app\" op=OPEN path=\"$root/etc/app/app.conf\"" "$tmp/fdbrokerd.log" ||
                fail "services: the unit is not in the log"
        # The same user, outside the unit: nothing.
        expect 1 as_nobody "$fdbroker" cat "$root/etc/app/app.conf"

        # backup.service only where no such unit exists on this host.
        if make_unit backup.service; then
                expect 0 in_unit backup.service "$fdbroker" cat "$share/daemon/data" "$share/nobody/notes.txt"
                expect 0 in_unit backup.service "$fdbroker" check --dir "$share"
                expect 1 in_unit backup.service sh -c "echo x | '$fdbroker' write '$share/daemon/data'"
        else
                echo "services: backup.service exists on this host; checked with --explain only"
        fi
        expect 0 "$fdbrokerd" --policy "$tmp/policy/policy.conf" --explain unit=backup.service "$share/nobody/x" read
        expect 1 "$fdbrokerd" --policy "$tmp/policy/policy.conf" --explain unit=backup.service "$share/nobody/x" write
else
        echo "services: cannot create a cgroup under $cgroot; unit= rules checked with --explain only"
        expect 0 "$fdbrokerd" --policy "$tmp/policy/policy.conf" --explain unit=app@eu.service "$root/etc/app/app.conf" read
        expect 1 "$fdbrokerd" --policy "$tmp/policy/policy.conf" --explain user=nobody "$root/etc/app/app.conf" read
fi

# ---- policies/devices.conf --------------------------------------------------

mkdir -p "$root/dev/serial/by-id"
link="$root/dev/serial/by-id/usb-Example_Serial_0001-if00-port0"
ln -s ../../ttyUSB0 "$link"
as_dialout() {
        setpriv --reuid=nobody --regid=nogroup --groups=dialout "$@"
}
if findmnt -no OPTIONS -T "$root" | grep -qw nodev; then
        echo "devices: $root is on a nodev mount; device rules checked with --explain only"
        expect 0 "$fdbrokerd" --policy "$tmp/policy/policy.conf" --explain group=dialout "$root/dev/ttyUSB0" read,write,device
else
        # A node that behaves like /dev/null, only root may open it.
        mknod -m 600 "$root/dev/ttyUSB0" c 1 3
        expect 0 as_dialout "$fdbroker" exec --write "$root/dev/ttyUSB0" -- sh -c 'echo AT >&3'
        expect 0 as_dialout "$fdbroker" exec --read "$link" --write "$link" -- sh -c 'cat <&3 && echo AT >&4'
        expect 0 as_dialout "$fdbroker" check --write "$root/dev/ttyUSB0"
        # Not in the group (supplementary or primary): refused.
        expect 1 as_nobody "$fdbroker" exec --write "$root/dev/ttyUSB0" -- true
        expect 1 as_nobody "$fdbroker" exec --read "$link" -- true
        # The link is only followed to where the rules allow.
        ln -sf ../../../srv/share/daemon/data "$link"
        expect 1 as_dialout "$fdbroker" cat "$link"
fi

# ---- async/sizes ------------------------------------------------------------

mkdir -m 700 "$root/many"
n=300
i=1
while [ $i -le $n ]; do
        head -c $i /dev/zero >"$root/many/f$i"
        i=$((i + 1))
done
echo secret >"$root/many.secret"
chmod 600 "$root/many.secret"

# More in flight than the broker reads ahead (--max-inflight, 64): the rest
# waits in the library, and everything still completes.
i=1
: >"$tmp/paths"
while [ $i -le $n ]; do
        echo "$root/many/f$i" >>"$tmp/paths"
        i=$((i + 1))
done
expect_split 0 as_nobody "$sizes" -v -j 200 <"$tmp/paths"
[ "$err" = "sizes: $n files, 0 refused, at most 200 requests in flight" ] || fail "sizes: $err"
echo "$out" | sort -n >"$tmp/got"
awk '{ n = $0; sub(/.*\/f/, "", n); print n " " $0 }' "$tmp/paths" >"$tmp/want"
cmp -s "$tmp/got" "$tmp/want" || fail "sizes: wrong output:$(echo; diff "$tmp/want" "$tmp/got" | head)"

# Paths from the command line, a refusal among them; the default window.
# shellcheck disable=SC2046 # the paths have no blanks
expect_split 1 as_nobody "$sizes" -v $(head -n 100 "$tmp/paths") "$root/many.secret"
[ "$err" = "sizes: $root/many.secret: Permission denied
sizes: 101 files, 1 refused, at most 32 requests in flight" ] || fail "sizes: $err"
[ "$(echo "$out" | grep -c "^[0-9]* $root/many/f")" = 100 ] || fail "sizes: not every file reported"
expect 0 as_nobody "$sizes" -j 1 -t 5000 "$root/many/f7"
[ "$out" = "7 $root/many/f7" ] || fail "sizes: '$out'"
expect 1 as_nobody "$sizes" many/f7
expect 3 as_nobody "$sizes" -s "$tmp/nothing.sock" "$root/many/f1"

# ---- bubblewrap/sandbox.sh --------------------------------------------------

mkdir -m 700 "$root/bw"
echo "the broker opened this for you" >"$root/bw/report.txt"
echo "not for the sandbox" >"$root/bw/other.txt"
chmod 600 "$root/bw/report.txt" "$root/bw/other.txt"
cp "$examples/bubblewrap/sandbox.sh" "$tmp/bin/"
sandbox=$tmp/bin/sandbox.sh

# bwrap runs unprivileged, in a user namespace of its own.
if ! out=$(as_nobody bwrap --ro-bind /usr /usr --symlink usr/bin /bin --symlink usr/lib /lib \
        --symlink usr/lib64 /lib64 --unshare-user true 2>&1); then
        fail "bwrap cannot create a user namespace as an unprivileged user here" \
                "(sysctl kernel.unprivileged_userns_clone, user.max_user_namespaces): $out"
fi
# What the sandbox lacks: /etc, the data, the host's /run.
expect 0 as_nobody env FDBROKER="$fdbroker" "$sandbox" --socket "$sock" -- \
        sh -c "[ ! -e /etc ] && [ ! -e '$root' ] && [ ! -e /home ] && [ \"\$(ls /run)\" = fdbroker ]"
# The user cannot read the file itself, the sandbox can through the broker.
expect 1 as_nobody cat "$root/bw/report.txt"
expect 0 as_nobody env FDBROKER="$fdbroker" "$sandbox" --socket "$sock" -- fdbroker cat "$root/bw/report.txt"
[ "$out" = "the broker opened this for you" ] || fail "sandbox: cat printed '$out'"
# $FDBROKER_SOCKET outside picks the socket, as --socket does.
# shellcheck disable=SC2016 # expanded inside the sandbox
expect 0 as_nobody env FDBROKER="$fdbroker" FDBROKER_SOCKET="$sock" "$sandbox" \
        fdbroker exec --read "$root/bw/report.txt" -- sh -c 'echo "$FDBROKER_FDS"; wc -c <&3'
[ "$out" = "3
31" ] || fail "sandbox: exec printed '$out'"
expect 1 as_nobody env FDBROKER="$fdbroker" "$sandbox" --socket "$sock" -- fdbroker cat "$root/bw/other.txt"
[ "$out" = "fdbroker: $root/bw/other.txt: Permission denied" ] || fail "sandbox: refusal printed '$out'"
expect 3 as_nobody env FDBROKER="$fdbroker" "$sandbox" --socket "$tmp/nothing.sock" -- true
expect 2 as_nobody "$sandbox" --bogus true

# HOME is the sandbox's own /tmp; --setenv adds to the environment, and
# replaces HOME.
# shellcheck disable=SC2016 # expanded inside the sandbox
expect 0 as_nobody env FDBROKER="$fdbroker" HOME=/nonexistent GREETING=outside "$sandbox" --socket "$sock" -- \
        sh -c 'echo "$HOME ${GREETING:-unset}" && touch "$HOME/x"'
[ "$out" = "/tmp unset" ] || fail "sandbox: HOME and the caller's environment: '$out'"
# shellcheck disable=SC2016
expect 0 as_nobody env FDBROKER="$fdbroker" "$sandbox" --socket "$sock" --setenv GREETING "hello there" \
        --setenv HOME /home/sandbox -- sh -c 'echo "$HOME $GREETING"'
[ "$out" = "/home/sandbox hello there" ] || fail "sandbox: --setenv: '$out'"
# --ro-bind: readable, not writable; --bind: writes reach the host.
mkdir -m 755 "$tmp/bw-in" "$tmp/bw-out"
echo "bound in" >"$tmp/bw-in/file"
chown nobody "$tmp/bw-out"
expect 0 as_nobody env FDBROKER="$fdbroker" "$sandbox" --socket "$sock" --ro-bind "$tmp/bw-in" /in \
        --bind "$tmp/bw-out" /out -- sh -c "cat /in/file && ! touch /in/new 2>/dev/null &&
                fdbroker cat '$root/bw/report.txt' >/out/copy.txt"
[ "$out" = "bound in" ] || fail "sandbox: --ro-bind: '$out'"
[ ! -e "$tmp/bw-in/new" ] || fail "sandbox: wrote through --ro-bind"
[ "$(cat "$tmp/bw-out/copy.txt")" = "the broker opened this for you" ] || fail "sandbox: --bind: nothing written"
expect 2 as_nobody "$sandbox" --setenv GREETING
expect 2 as_nobody "$sandbox" --setenv A=B c true
expect 2 as_nobody "$sandbox" --ro-bind "$tmp/nothing" /in true

kill "$daemon"
wait "$daemon" || fail "fdbrokerd did not stop cleanly"
daemon=
echo "ok: every example works as documented"

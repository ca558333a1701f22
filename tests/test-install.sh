#!/bin/sh
# SPDX-License-Identifier: MIT
# Installs the build into a scratch DESTDIR and uses it as a user would:
#   - every file in place: daemon, CLI, shared library with its SONAME
#     links and no other exported symbol, header, pkg-config file, units,
#     man pages (one per function of <fdbroker.h>), policy under etc/fdbroker;
#   - nothing installed points back into the build tree, and the units and
#     the .pc file name the directories things were installed to;
#   - every man page is lint-clean (mandoc -T lint, man --warnings) and
#     mentions every option the programs' --help lists;
#   - the installed policy, with the example drop-ins, is valid; installing
#     again keeps an edited policy.conf and puts the shipped one next to it
#     as policy.conf.default;
#   - `cmake --install --prefix` with another prefix than the configured
#     one: the .pc file and the units name that prefix, and a consumer
#     builds from it;
#   - a program built with nothing but `pkg-config --cflags --libs
#     libfdbroker` against the installed tree, and the installed CLI, talk
#     to the installed daemon as an unprivileged user.
# Needs root (the daemon opens files as root, the clients run as nobody).
#
# Environment, set by CTest: FDBR_BUILD_DIR, FDBR_SOURCE_DIR, FDBR_VERSION,
# FDBR_PREFIX (the configured CMAKE_INSTALL_PREFIX),
# FDBR_{BIN,SBIN,LIB,INCLUDE,MAN,SYSCONF,DOC}DIR and FDBR_UNITDIR (absolute
# install directories), FDBR_MAN (ON/OFF), CC, FDBR_CONSUMER_CFLAGS.

set -eu
# What is made here must be reachable by the unprivileged clients.
umask 022

fail() {
        echo "FAIL: $*" >&2
        if [ -n "${tmp:-}" ] && [ -s "$tmp/fdbrokerd.log" ]; then
                echo "--- fdbrokerd log" >&2
                cat "$tmp/fdbrokerd.log" >&2
        fi
        exit 1
}

for v in FDBR_BUILD_DIR FDBR_SOURCE_DIR FDBR_VERSION FDBR_PREFIX FDBR_BINDIR FDBR_SBINDIR FDBR_LIBDIR FDBR_INCLUDEDIR \
        FDBR_MANDIR FDBR_CONFDIR FDBR_DOCDIR FDBR_UNITDIR FDBR_MAN CC; do
        eval "[ -n \"\${$v:-}\" ]" || fail "$v is not set (run through ctest)"
done
[ "$(id -u)" = 0 ] || fail "needs root"
for t in pkg-config readelf nm setpriv; do
        command -v "$t" >/dev/null || fail "$t not found (tools/deps.sh installs it)"
done

tmp=$(mktemp -d /tmp/fdbr-install-XXXXXX)
chmod 755 "$tmp"
daemon=
cleanup() {
        if [ -n "$daemon" ]; then
                kill "$daemon" 2>/dev/null || true
                wait "$daemon" 2>/dev/null || true
        fi
        rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 1' INT TERM

dest=$tmp/root
DESTDIR=$dest cmake --install "$FDBR_BUILD_DIR" >"$tmp/install.log" 2>&1 || {
        cat "$tmp/install.log" >&2
        fail "cmake --install"
}

bin=$dest$FDBR_BINDIR
sbin=$dest$FDBR_SBINDIR
lib=$dest$FDBR_LIBDIR
include=$dest$FDBR_INCLUDEDIR
man=$dest$FDBR_MANDIR
etc=$dest$FDBR_CONFDIR
doc=$dest$FDBR_DOCDIR
units=$dest$FDBR_UNITDIR

# ---- the files --------------------------------------------------------------

need_file() {
        if [ ! -f "$1" ] || [ -L "$1" ]; then
                fail "not installed: ${1#"$dest"}"
        fi
}
need_exec() {
        need_file "$1"
        [ -x "$1" ] || fail "not executable: ${1#"$dest"}"
}
need_link() {
        [ -L "$1" ] || fail "not a symbolic link: ${1#"$dest"}"
        [ "$(readlink "$1")" = "$2" ] || fail "${1#"$dest"} -> $(readlink "$1"), expected $2"
}

need_exec "$sbin/fdbrokerd"
need_exec "$bin/fdbroker"
need_file "$lib/libfdbroker.so.$FDBR_VERSION"
need_link "$lib/libfdbroker.so.0" "libfdbroker.so.$FDBR_VERSION"
need_link "$lib/libfdbroker.so" "libfdbroker.so.0"
need_file "$include/fdbroker.h"
need_file "$lib/pkgconfig/libfdbroker.pc"
need_file "$units/fdbroker.service"
need_file "$units/fdbroker.socket"
need_file "$etc/policy.conf"
[ -d "$etc/policy.d" ] || fail "not installed: ${etc#"$dest"}/policy.d/"
for f in policy.md protocol.md examples/policies/shares.conf examples/bubblewrap/sandbox.sh \
        examples/async/sizes.c; do
        need_file "$doc/$f"
done
[ -x "$doc/examples/bubblewrap/sandbox.sh" ] || fail "sandbox.sh installed without its x bit"
cmp -s "$etc/policy.conf" "$FDBR_SOURCE_DIR/docs/examples/policy.conf" || fail "policy.conf differs from the example"
[ ! -e "$etc/policy.conf.default" ] || fail "policy.conf.default installed next to the shipped policy.conf"

soname=$(readelf -d "$lib/libfdbroker.so.$FDBR_VERSION" | sed -n 's/.*(SONAME).*\[\(.*\)\]/\1/p')
[ "$soname" = libfdbroker.so.0 ] || fail "SONAME is '$soname', expected libfdbroker.so.0"

# The ABI is the header: every function it declares is exported, versioned,
# and nothing else is.
functions=$(sed -n 's/^[a-z].*[ *]\(fdbr_[a-z_]*\)(.*/\1/p' "$include/fdbroker.h" | sort -u)
[ -n "$functions" ] || fail "no function found in fdbroker.h"
# (The version node itself is an absolute symbol, "A".)
exported=$(nm -D --defined-only "$lib/libfdbroker.so.$FDBR_VERSION" | awk '$2 != "A" { print $3 }' | sort -u)
[ "$(echo "$exported" | sed 's/@.*//')" = "$functions" ] ||
        fail "exported functions differ from fdbroker.h:$(echo; echo "$exported")"
echo "$exported" | grep -Eqv '@@(LIBFDBROKER_0|FDBROKER_0\.2)$' && fail "unversioned symbols:$(echo; echo "$exported")"
# What the first release exported stays in its node: programs linked
# against it keep loading.
for f in fdbr_socket_path fdbr_open fdbr_check fdbr_conn_new fdbr_conn_free fdbr_conn_set_timeout \
         fdbr_conn_pending fdbr_conn_open fdbr_conn_check fdbr_conn_ping; do
        echo "$exported" | grep -qx "$f@@LIBFDBROKER_0" || fail "$f is not in LIBFDBROKER_0"
done

# Installed programs find their libraries where the system keeps them, never
# in the build tree.
for f in "$sbin/fdbrokerd" "$bin/fdbroker" "$lib/libfdbroker.so.$FDBR_VERSION"; do
        if readelf -d "$f" | grep -E '\((RUNPATH|RPATH)\)' | grep -qF "$FDBR_BUILD_DIR"; then
                fail "${f#"$dest"} keeps a run path into the build tree"
        fi
done

# The units start the installed daemon with the installed policy.
grep -qx "ExecStart=$FDBR_SBINDIR/fdbrokerd --policy $FDBR_CONFDIR/policy.conf" "$units/fdbroker.service" ||
        fail "fdbroker.service: ExecStart= does not name $FDBR_SBINDIR/fdbrokerd and the installed policy"

# ---- man pages --------------------------------------------------------------

if [ "$FDBR_MAN" = ON ]; then
        command -v mandoc >/dev/null || fail "mandoc not found (tools/deps.sh installs it)"
        command -v man >/dev/null || fail "man not found (tools/deps.sh installs man-db)"
        pages="man1/fdbroker.1 man3/libfdbroker.3 man5/fdbroker.policy.5 man7/fdbroker-protocol.7 man8/fdbrokerd.8"
        for p in $pages; do
                need_file "$man/$p"
        done
        for f in $functions fdbr_callback_t fdbr_conn; do
                need_link "$man/man3/$f.3" libfdbroker.3
                grep -q "$f" "$man/man3/libfdbroker.3" || fail "libfdbroker(3) does not describe $f"
        done

        # Links included: man resolves them to the page they stand for.
        for p in "$man"/man*/*; do
                rel=${p#"$man"/}
                out=$(cd "$man" && mandoc -T lint -W warning "$rel" 2>&1) || fail "mandoc -T lint $rel:$(echo; echo "$out")"
                [ -z "$out" ] || fail "mandoc -T lint $rel:$(echo; echo "$out")"
                out=$(LC_ALL=C.UTF-8 MANWIDTH=80 man --warnings -E UTF-8 -l "$p" 2>&1 >/dev/null) ||
                        fail "man --warnings $rel:$(echo; echo "$out")"
                [ -z "$out" ] || fail "man --warnings $rel:$(echo; echo "$out")"
        done
        # man-db names the page a link leads to.
        for f in $functions; do
                case $(man -M "$man" -w 3 "$f") in
                "$man/man3/libfdbroker.3" | "$man/man3/$f.3") ;;
                *) fail "man 3 $f does not find libfdbroker(3)" ;;
                esac
        done

        # Whatever the programs' --help offers, their page documents.
        for o in $("$sbin/fdbrokerd" --help | grep -o -- '--[a-z][a-z-]*' | sort -u); do
                grep -qF -- "$o" "$man/man8/fdbrokerd.8" || fail "fdbrokerd(8) does not document $o"
        done
        for o in $(LD_LIBRARY_PATH=$lib "$bin/fdbroker" --help | grep -o -- '--[a-z][a-z-]*' | sort -u) \
                ping cat check write exec FDBROKER_FDS FDBROKER_SOCKET; do
                grep -qF -- "$o" "$man/man1/fdbroker.1" || fail "fdbroker(1) does not document $o"
        done
fi

# ---- installing again --------------------------------------------------------

# The package's files are replaced; the operator's policy is not.
printf 'user=nobody /srv/edited/** read\n' >>"$etc/policy.conf"
cp "$etc/policy.conf" "$tmp/edited.conf"
: >"$lib/libfdbroker.so.$FDBR_VERSION"
DESTDIR=$dest cmake --install "$FDBR_BUILD_DIR" >"$tmp/install.log" 2>&1 || {
        cat "$tmp/install.log" >&2
        fail "cmake --install, the second time"
}
cmp -s "$etc/policy.conf" "$tmp/edited.conf" || fail "installing again replaced the edited policy.conf"
cmp -s "$etc/policy.conf.default" "$FDBR_SOURCE_DIR/docs/examples/policy.conf" ||
        fail "installing again did not put the shipped policy next to the edited one as policy.conf.default"
grep -q "Kept: .*policy.conf" "$tmp/install.log" || fail "installing again did not say it kept policy.conf"
[ -s "$lib/libfdbroker.so.$FDBR_VERSION" ] || fail "installing again did not replace the library"
# Back to the shipped policy for what follows.
cp "$FDBR_SOURCE_DIR/docs/examples/policy.conf" "$etc/policy.conf"
rm "$etc/policy.conf.default"

# ---- the installed policy ---------------------------------------------------

"$sbin/fdbrokerd" --check-policy --policy "$etc/policy.conf" || fail "the installed policy is invalid"
# The drop-in layout the documentation describes: examples copied into
# policy.d/ are read through the installed policy.conf.
cp "$FDBR_SOURCE_DIR"/docs/examples/policies/*.conf "$etc/policy.d/"
"$sbin/fdbrokerd" --check-policy --policy "$etc/policy.conf" || fail "policy.conf with the example drop-ins is invalid"
n=$("$sbin/fdbrokerd" --policy "$etc/policy.conf" --explain group=dialout /dev/ttyUSB0 read,write,device |
        grep -c 'policy.d/devices.conf:') || true
[ "$n" -ge 1 ] || fail "the drop-ins in policy.d/ are not read"

# ---- a consumer, built from pkg-config alone --------------------------------

mkdir -m 700 "$tmp/data"
mkdir -m 700 "$tmp/data/new"
printf 'installed and working\n' >"$tmp/data/a.txt"
printf 'root only\n' >"$tmp/data/secret.txt"
chmod 600 "$tmp/data/a.txt" "$tmp/data/secret.txt"
cat >"$tmp/policy.conf" <<EOF
user=nobody   $tmp/data/a.txt    read
user=nobody   $tmp/data/new/**   read,write,create
EOF
sock=$tmp/fdbroker.sock

"$sbin/fdbrokerd" --socket "$sock" --policy "$tmp/policy.conf" 2>"$tmp/fdbrokerd.log" &
daemon=$!
i=0
until [ -S "$sock" ]; do
        i=$((i + 1))
        [ $i -lt 200 ] || fail "the installed fdbrokerd did not start"
        kill -0 "$daemon" 2>/dev/null || fail "the installed fdbrokerd exited"
        sleep 0.05
done

mkdir "$tmp/work"
cat >"$tmp/work/consumer.c" <<'EOF'
#include <errno.h>
#include <fcntl.h>
#include <fdbroker.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static int fail(const char *what) {
        fprintf(stderr, "consumer: %s: %s\n", what, strerror(errno));
        return 1;
}

int main(int argc, char **argv) {
        char buf[256];
        ssize_t n;
        int fd;

        if (argc != 4)
                return 2;
        printf("socket %s\n", strcmp(fdbr_socket_path(), FDBR_DEFAULT_SOCKET) ? fdbr_socket_path() : "default");

        fd = fdbr_open(argv[1], O_RDONLY | O_CLOEXEC, 0);
        if (fd < 0)
                return fail(argv[1]);
        n = read(fd, buf, sizeof buf - 1);
        if (n < 0)
                return fail("read");
        buf[n] = 0;
        printf("read %s", buf);
        close(fd);

        if (fdbr_check(argv[2], O_RDONLY) == 0 || errno != EACCES)
                return fail("check of a file not granted");
        printf("check refused: %s\n", strerror(errno));

        fd = fdbr_open(argv[3], O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0666);
        if (fd < 0)
                return fail(argv[3]);
        if (write(fd, "new\n", 4) != 4 || close(fd) < 0)
                return fail("write");
        printf("created\n");
        return 0;
}
EOF
# Only what pkg-config says, with the installed tree as the system root.
export PKG_CONFIG_SYSROOT_DIR="$dest"
export PKG_CONFIG_PATH="$lib/pkgconfig"
# System directories are filtered before the root is prepended: keep them.
export PKG_CONFIG_ALLOW_SYSTEM_CFLAGS=1 PKG_CONFIG_ALLOW_SYSTEM_LIBS=1
flags=$(pkg-config --cflags --libs libfdbroker) || fail "pkg-config --cflags --libs libfdbroker"
case $flags in
*"-I$include"*"-L$lib"* | *"-L$lib"*"-I$include"*) ;;
*) fail "pkg-config gives '$flags', not the installed directories" ;;
esac
[ "$(pkg-config --modversion libfdbroker)" = "$FDBR_VERSION" ] || fail "libfdbroker.pc has the wrong version"
# shellcheck disable=SC2086 # flags are words
"$CC" -std=gnu17 -Wall -Wextra -Werror ${FDBR_CONSUMER_CFLAGS:-} -o "$tmp/work/consumer" \
        "$tmp/work/consumer.c" $flags || fail "the consumer does not build from pkg-config's flags"

# A program of our own loop, with the async API, links libevent_core too.
# shellcheck disable=SC2046,SC2086
"$CC" -std=gnu17 -Wall -Wextra -Wno-unused-parameter -Werror ${FDBR_CONSUMER_CFLAGS:-} -o "$tmp/work/sizes" \
        "$FDBR_SOURCE_DIR/docs/examples/async/sizes.c" $(pkg-config --cflags --libs libfdbroker libevent_core) ||
        fail "the async example does not build against the installed tree"

export LD_LIBRARY_PATH="$lib"
LD_LIBRARY_PATH=$lib ldd "$tmp/work/consumer" | grep -qF "$lib/libfdbroker.so.0" ||
        fail "the consumer does not load the installed libfdbroker"

as_nobody() {
        setpriv --reuid=nobody --regid=nogroup --clear-groups "$@"
}

out=$(as_nobody env FDBROKER_SOCKET="$sock" "$tmp/work/consumer" \
        "$tmp/data/a.txt" "$tmp/data/secret.txt" "$tmp/data/new/made.txt") || fail "the consumer failed: $out"
expected="socket $sock
read installed and working
check refused: Permission denied
created"
[ "$out" = "$expected" ] || fail "the consumer printed:$(echo; echo "$out")"
[ "$(stat -c '%U %a' "$tmp/data/new/made.txt")" = "nobody 644" ] ||
        fail "created file: $(stat -c '%U %a' "$tmp/data/new/made.txt"), expected nobody 644"
[ "$(cat "$tmp/data/new/made.txt")" = new ] || fail "created file has the wrong content"

out=$(as_nobody "$bin/fdbroker" --socket "$sock" cat "$tmp/data/a.txt") || fail "installed fdbroker cat failed"
[ "$out" = "installed and working" ] || fail "installed fdbroker cat printed '$out'"
out=$(as_nobody "$tmp/work/sizes" -s "$sock" "$tmp/data/a.txt" "$tmp/data/new/made.txt") || fail "sizes failed: $out"
[ "$(echo "$out" | sort)" = "22 $tmp/data/a.txt
4 $tmp/data/new/made.txt" ] || fail "sizes printed:$(echo; echo "$out")"

# ---- another prefix, given at install time ------------------------------------

# `cmake --install build --prefix /usr` is how packages are made: the prefix
# changes after configuration, and what names directories must follow it.
# Staged under DESTDIR as well, because the policy and the units go to
# absolute directories (/etc/fdbroker, systemd's unit directory) that must
# not be written on the host by a test.
prefix=/opt/fdbroker-test
stage=$tmp/stage
DESTDIR=$stage cmake --install "$FDBR_BUILD_DIR" --prefix "$prefix" >"$tmp/install.log" 2>&1 || {
        cat "$tmp/install.log" >&2
        fail "cmake --install --prefix $prefix"
}
# A configured directory under the configured prefix moves with the prefix.
moved() {
        case $1 in
        "$FDBR_PREFIX"/*) echo "$prefix/${1#"$FDBR_PREFIX"/}" ;;
        *) echo "$1" ;;
        esac
}
plib=$(moved "$FDBR_LIBDIR")
pinclude=$(moved "$FDBR_INCLUDEDIR")
psbin=$(moved "$FDBR_SBINDIR")
pdoc=$(moved "$FDBR_DOCDIR")
need_exec "$stage$psbin/fdbrokerd"
need_file "$stage$plib/libfdbroker.so.$FDBR_VERSION"
need_file "$stage$pinclude/fdbroker.h"
pc=$stage$plib/pkgconfig/libfdbroker.pc
need_file "$pc"
grep -qx "prefix=$prefix" "$pc" || fail "libfdbroker.pc installed with --prefix $prefix says:$(echo; cat "$pc")"
grep -qx "ExecStart=$psbin/fdbrokerd --policy $FDBR_CONFDIR/policy.conf" "$stage$FDBR_UNITDIR/fdbroker.service" ||
        fail "fdbroker.service installed with --prefix $prefix: $(grep '^ExecStart=' "$stage$FDBR_UNITDIR/fdbroker.service")"
for u in fdbroker.service fdbroker.socket; do
        grep -q "^Documentation=file://$pdoc/systemd.md" "$stage$FDBR_UNITDIR/$u" ||
                fail "$u installed with --prefix $prefix: $(grep '^Documentation=' "$stage$FDBR_UNITDIR/$u")"
done
if grep -rqF "$FDBR_PREFIX/" "$pc" "$stage$FDBR_UNITDIR"; then
        fail "installed with --prefix $prefix, still naming $FDBR_PREFIX:$(echo; grep -rF "$FDBR_PREFIX/" "$pc" "$stage$FDBR_UNITDIR")"
fi
# A consumer built from that .pc alone links the library installed there,
# and works.
flags=$(PKG_CONFIG_SYSROOT_DIR=$stage PKG_CONFIG_PATH=$stage$plib/pkgconfig pkg-config --cflags --libs libfdbroker) ||
        fail "pkg-config --cflags --libs libfdbroker, installed with --prefix $prefix"
case $flags in
*"-I$stage$pinclude"*"-L$stage$plib"* | *"-L$stage$plib"*"-I$stage$pinclude"*) ;;
*) fail "pkg-config gives '$flags', not the directories under --prefix $prefix" ;;
esac
# shellcheck disable=SC2086 # flags are words
"$CC" -std=gnu17 -Wall -Wextra -Werror ${FDBR_CONSUMER_CFLAGS:-} -o "$tmp/work/consumer-prefix" \
        "$tmp/work/consumer.c" $flags || fail "the consumer does not build against --prefix $prefix"
LD_LIBRARY_PATH=$stage$plib ldd "$tmp/work/consumer-prefix" | grep -qF "$stage$plib/libfdbroker.so.0" ||
        fail "the consumer does not load the library installed with --prefix $prefix"
rm -f "$tmp/data/new/made.txt"
out=$(as_nobody env LD_LIBRARY_PATH="$stage$plib" FDBROKER_SOCKET="$sock" "$tmp/work/consumer-prefix" \
        "$tmp/data/a.txt" "$tmp/data/secret.txt" "$tmp/data/new/made.txt") || fail "the --prefix consumer failed: $out"
[ "$out" = "$expected" ] || fail "the --prefix consumer printed:$(echo; echo "$out")"

# Installing there again, the policy untouched: nothing next to it.
DESTDIR=$stage cmake --install "$FDBR_BUILD_DIR" --prefix "$prefix" >"$tmp/install.log" 2>&1 ||
        fail "cmake --install --prefix $prefix, the second time"
cmp -s "$stage$FDBR_CONFDIR/policy.conf" "$FDBR_SOURCE_DIR/docs/examples/policy.conf" ||
        fail "installing again changed an unedited policy.conf"
[ ! -e "$stage$FDBR_CONFDIR/policy.conf.default" ] || fail "policy.conf.default installed next to an unedited policy"

kill "$daemon"
wait "$daemon" || fail "the installed fdbrokerd did not stop cleanly"
daemon=
[ ! -e "$sock" ] || fail "the installed fdbrokerd left its socket behind"
grep -q 'deny uid=65534 .*secret.txt' "$tmp/fdbrokerd.log" || fail "the refusal was not logged"

echo "ok: installed into $dest and used from there"

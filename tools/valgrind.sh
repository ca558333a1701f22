#!/bin/sh
# Runs what valgrind can run of the suite under memcheck with fd tracking:
# the proto, policy and client-library tests, and the fdbroker command
# against a live broker.  Fails on any error, leak or descriptor left open.
#
# The daemon itself is not run under valgrind: Debian 12's valgrind (3.19)
# does not know the openat2 system call, and fdbrokerd refuses to run
# without it.  Its leaks are caught by LeakSanitizer in the sanitizer build
# and its descriptors by the tests that count /proc/PID/fd.
#   BUILD_DIR  an existing build (default: build)
set -eu
cd "$(dirname "$0")/.."
build=$(realpath "${BUILD_DIR:-build}")
tools/deps.sh

. tools/scratch.sh
scratch_begin fdbr-valgrind
work=$scratch

fail=0
# Every descriptor open at exit must be std or inherited from this script.
check_log() {
        name=$1 log=$2
        leaked=$(awk '/Open (file descriptor|AF_UNIX socket) [0-9]+:/ { fd = $0; getline nxt;
                        if (nxt !~ /inherited from parent/) print fd }' "$log")
        if [ -n "$leaked" ]; then
                echo "valgrind: $name left descriptors open:" >&2; echo "$leaked" >&2; fail=1
        fi
}

# The program's own output goes to $work/NAME.out, shown on failure.
vg() {
        name=$1; shift
        log="$work/$name.log"
        if valgrind --quiet --child-silent-after-fork=yes --leak-check=full \
                --errors-for-leak-kinds=definite,indirect --track-fds=yes --error-exitcode=99 \
                --log-file="$log" "$@" >"$work/$name.out" 2>&1; then
                check_log "$name" "$log"
                echo "valgrind: $name: clean" >&2
        else
                echo "valgrind: $name: FAILED" >&2; cat "$work/$name.out" "$log" >&2; fail=1
        fi
}

# check runs every test in one process, so valgrind sees them all.
export CK_FORK=no CK_TIMEOUT_MULTIPLIER=20
for t in test-proto test-policy test-client; do
        vg "$t" "$build/tests/$t"
done
unset CK_FORK CK_TIMEOUT_MULTIPLIER

# The command against a live broker, as nobody.
mkdir -m 700 "$work/data"
echo "through the broker" >"$work/data/f"
chmod 600 "$work/data/f"
mkdir -m 700 "$work/data/out"
chown nobody:nogroup "$work/data/out"
cat >"$work/policy.conf" <<POLICY
user=nobody $work/data/f read
user=nobody $work/data/out/** read,write,create
POLICY
export FDBROKER_SOCKET="$work/s"
"$build/daemon/fdbrokerd" --socket "$FDBROKER_SOCKET" --policy "$work/policy.conf" 2>"$work/daemon.log" &
daemon=$!
i=0
until "$build/client/fdbroker" ping 2>/dev/null; do
        i=$((i + 1)); [ $i -lt 200 ] || { cat "$work/daemon.log"; exit 1; }; sleep 0.05
done
cli="$build/client/fdbroker"
mkdir -m 1777 "$work/logs"
# vg as nobody: valgrind runs inside the dropped identity, logging where
# nobody may write.
vg_nobody() {
        name=$1; shift
        log="$work/logs/$name.log"
        if setpriv --reuid=nobody --regid=nogroup --clear-groups \
                valgrind --quiet --leak-check=full --errors-for-leak-kinds=definite,indirect \
                --track-fds=yes --error-exitcode=99 --log-file="$log" "$@"; then
                check_log "$name" "$log"
                echo "valgrind: $name: clean" >&2
        else
                echo "valgrind: $name: FAILED" >&2; cat "$log" >&2; fail=1
        fi
}

vg_nobody cli-ping "$cli" ping
vg_nobody cli-cat "$cli" cat "$work/data/f" >/dev/null
echo "written" | vg_nobody cli-write "$cli" write --create "$work/data/out/w"
vg_nobody cli-check "$cli" check --write "$work/data/out/w"
vg_nobody cli-exec "$cli" exec --read "$work/data/f" --write "$work/data/out/w" -- /bin/true
# Refusals go through the error paths: exit 1 is expected there.
if setpriv --reuid=nobody --regid=nogroup --clear-groups valgrind --quiet --leak-check=full \
        --errors-for-leak-kinds=definite,indirect --track-fds=yes --error-exitcode=99 \
        --log-file="$work/logs/cli-refused.log" "$cli" cat "$work/policy.conf" 2>/dev/null; then
        echo "valgrind: cli-refused: the broker allowed what it must not"; fail=1
elif [ $? -ne 1 ]; then
        echo "valgrind: cli-refused: FAILED"; cat "$work/logs/cli-refused.log"; fail=1
else
        check_log cli-refused "$work/logs/cli-refused.log"
        echo "valgrind: cli-refused: clean"
fi

[ "$fail" = 0 ] && echo "valgrind: all clean"
exit "$fail"

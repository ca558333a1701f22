#!/bin/sh
# Builds fdbroker and shows it at work: a broker with a one-line policy on a
# temporary socket, and a client running as "nobody" that reads through it a
# file it cannot open itself, and is refused another.
set -eu
cd "$(dirname "$0")/.."
# The policy must be root's and writable by no one else.
umask 022

[ "$(id -u)" = 0 ] || { echo "tools/demo.sh: run as root (the broker opens files as root)" >&2; exit 1; }
tools/deps.sh
cmake -S . -B build >/dev/null
cmake --build build -j"$(nproc)" >/dev/null

. tools/scratch.sh
scratch_begin fdbroker-demo
demo=$scratch

# The client runs as nobody, and the build tree may be out of its reach (a
# clone under /root): it runs a copy, its library found through
# LD_LIBRARY_PATH.
mkdir "$demo/bin"
cp build/client/fdbroker build/client/libfdbroker.so* "$demo/bin/"
export LD_LIBRARY_PATH="$demo/bin"
fdbroker=$demo/bin/fdbroker

mkdir -m 700 "$demo/data"
echo "quarterly figures: the broker opened this file for you" > "$demo/data/report.txt"
echo "root password: hunter2" > "$demo/data/secret.txt"
chmod 600 "$demo/data/report.txt" "$demo/data/secret.txt"

cat > "$demo/policy.conf" <<POLICY
# nobody may read the report; nothing else is allowed to anyone
user=nobody $demo/data/report.txt read
POLICY

export FDBROKER_SOCKET="$demo/fdbroker.sock"
build/daemon/fdbrokerd --socket "$FDBROKER_SOCKET" --policy "$demo/policy.conf" --log-level info \
        2>"$demo/fdbrokerd.log" &
daemon=$!
i=0
until "$fdbroker" ping 2>/dev/null; do
        i=$((i + 1))
        [ $i -lt 100 ] || { echo "fdbrokerd did not start:" >&2; cat "$demo/fdbrokerd.log" >&2; exit 1; }
        sleep 0.05
done

as_nobody() { setpriv --reuid=nobody --regid=nogroup --clear-groups "$@"; }
run() { echo "\$ $*"; "$@" || echo "(exit status $?)"; echo; }

echo "== policy ($demo/policy.conf)"
grep -v '^#' "$demo/policy.conf"
echo
echo "== as nobody, without the broker"
run as_nobody cat "$demo/data/report.txt"
echo "== as nobody, through the broker"
run as_nobody "$fdbroker" cat "$demo/data/report.txt"
run as_nobody "$fdbroker" cat "$demo/data/secret.txt"
echo "== as nobody, an unchanged program whose opens go through the broker"
run as_nobody "$fdbroker" run -- cat "$demo/data/report.txt"
echo "== what fdbrokerd logged"
cat "$demo/fdbrokerd.log"

#!/bin/sh
# Installs everything building, testing and demonstrating fdbroker needs on
# Debian 12.  Safe to run again.
set -eu

pkgs="build-essential cmake pkg-config libevent-dev libsystemd-dev check
      systemd util-linux procps scdoc mandoc man-db bubblewrap libfuse3-dev fuse3 valgrind"

missing=
for p in $pkgs; do
        dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || missing="$missing $p"
done
[ -z "$missing" ] && exit 0

export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
# shellcheck disable=SC2086
apt-get install -y -qq --no-install-recommends $missing >/dev/null

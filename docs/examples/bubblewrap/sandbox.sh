#!/bin/bash
# Runs a command in a bubblewrap sandbox that sees nothing of the host but
# /usr, read-only, and the fdbroker socket: no /etc, no /home, no /srv, no
# /tmp or /run of the host, no network.  Whatever else it needs, it asks the
# broker for, with fdbroker(1) or libfdbroker(3).
#
#   sandbox.sh [--socket PATH] [--setenv NAME VALUE]... [--ro-bind SRC DEST]...
#              [--bind SRC DEST]... [--] CMD [ARG...]
#
# The environment inside is PATH, FDBROKER_SOCKET, HOME=/tmp (the sandbox's
# own, empty /tmp) and whatever --setenv adds.  --ro-bind and --bind put a
# directory or file of the host in, read-only or writable: the sandbox then
# reaches it directly, not through the broker.
#
# The broker knows the sandbox as the user running this script (run it as
# that user, not as root).  See README.md next to this file.
set -eu

usage() {
        echo "Usage: sandbox.sh [--socket PATH] [--setenv NAME VALUE]... [--ro-bind SRC DEST]..." >&2
        echo "                  [--bind SRC DEST]... [--] CMD [ARG...]" >&2
        exit 2
}

socket=${FDBROKER_SOCKET:-/run/fdbroker/fdbroker.sock}
# What the caller adds, after our own settings so that theirs win.
extra=()
while [ $# -gt 0 ]; do
        case $1 in
        --socket)
                [ $# -ge 2 ] || usage
                socket=$2
                shift 2
                ;;
        --setenv | --ro-bind | --bind)
                [ $# -ge 3 ] || usage
                if [ "$1" = --setenv ]; then
                        case $2 in '' | *=*) usage ;; esac
                elif [ ! -e "$2" ]; then
                        echo "sandbox.sh: $1 $2: no such file or directory" >&2
                        exit 2
                fi
                extra+=("$1" "$2" "$3")
                shift 3
                ;;
        --)
                shift
                break
                ;;
        -*) usage ;;
        *) break ;;
        esac
done
[ $# -gt 0 ] || usage
if [ ! -S "$socket" ]; then
        echo "sandbox.sh: $socket: not a socket; is fdbrokerd running?" >&2
        exit 3
fi

# Inside, the socket is where clients look by default.
inside=/run/fdbroker/fdbroker.sock
path=/usr/bin:/bin

args=(
        # Nothing of the caller's environment but what is set below.
        --clearenv
        # Own user, pid, ipc, uts, cgroup and network namespaces; nested
        # user namespaces are refused, so the sandbox cannot remount itself.
        --unshare-all --unshare-user --disable-userns
        --die-with-parent
        # A session of its own: no TIOCSTI into the caller's terminal.
        --new-session
        --ro-bind /usr /usr
        --proc /proc
        --dev /dev
        --tmpfs /tmp
        --dir /run/fdbroker
        # A bind mount of the socket file: connect() needs no write access to
        # the mount, and nothing else of /run comes along.
        --ro-bind "$socket" "$inside"
        --chdir /
)
# With a merged /usr, /bin, /lib, ... are links into it.
for d in bin sbin lib lib32 lib64 libx32; do
        if [ -L "/$d" ]; then
                args+=(--symlink "$(readlink "/$d")" "/$d")
        elif [ -d "/$d" ]; then
                args+=(--ro-bind "/$d" "/$d")
        fi
done

# fdbroker itself, and libfdbroker, may live outside /usr (a build tree, an
# unpacked package); without /etc there is no ld.so.cache to find them by.
fdbroker=${FDBROKER:-$(command -v fdbroker || true)}
if [ -n "$fdbroker" ]; then
        bindir=$(dirname "$(readlink -f "$fdbroker")")
        case $bindir in
        /usr/*) ;;
        *) args+=(--ro-bind "$bindir" "$bindir") ;;
        esac
        path=$bindir:$path
        lib=$(ldd "$fdbroker" 2>/dev/null | awk '$1 ~ /^libfdbroker\.so/ && $3 ~ /^\// { print $3 }')
        if [ -n "$lib" ]; then
                libdir=$(dirname "$(readlink -f "$lib")")
                case $libdir in
                /usr/*) ;;
                *) [ "$libdir" = "$bindir" ] || args+=(--ro-bind "$libdir" "$libdir") ;;
                esac
                args+=(--setenv LD_LIBRARY_PATH "$libdir")
        fi
fi

exec bwrap "${args[@]}" --setenv PATH "$path" --setenv FDBROKER_SOCKET "$inside" --setenv HOME /tmp \
        "${extra[@]}" -- "$@"

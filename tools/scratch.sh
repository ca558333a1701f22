# Sourced by the tools that start a broker of their own: a scratch
# directory every user may search (its clients run as other users), and
# on the way out the broker whose pid is in $daemon stopped and the
# directory removed.  Sets $scratch.
scratch_begin() {
        scratch=$(mktemp -d "/tmp/$1.XXXXXX")
        chmod 755 "$scratch"
        daemon=
        trap scratch_end EXIT INT TERM
}

scratch_end() {
        [ -n "$daemon" ] && kill "$daemon" 2>/dev/null && wait "$daemon" 2>/dev/null
        rm -rf "$scratch"
}

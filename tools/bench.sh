#!/bin/sh
# Builds fdbroker in Release and runs fdbroker-bench several times; prints
# the median of every number over the runs (see docs/performance.md).
#   BENCH_RUNS  number of runs (default 5)
#   BENCH_ARGS  extra arguments for fdbroker-bench, e.g. "--seconds 1 --skip-rss"
#   BUILD_DIR   build directory (default build-bench)
# The JSON lines of each run are kept in $BUILD_DIR/bench-results/.

# ulimit -H and -n are not POSIX, but dash and bash both have them.
# shellcheck disable=SC3045
set -eu
cd "$(dirname "$0")/.."

runs=${BENCH_RUNS:-5}
build=${BUILD_DIR:-build-bench}
case $runs in
''|*[!0-9]*|0) echo "tools/bench.sh: BENCH_RUNS must be a positive number" >&2; exit 2 ;;
esac

cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=Release -DBUILD_TESTING=OFF >/dev/null
cmake --build "$build" -j"$(nproc)" --target fdbroker-bench fdbrokerd >/dev/null

# 10,000 idle connections cost a descriptor on each side.  Raising the hard
# limit needs privileges; the hard limit as it is may well be enough.
want=30000
hard=$(ulimit -Hn)
if [ "$hard" != unlimited ] && [ "$hard" -lt "$want" ]; then
        ulimit -Hn "$want" 2>/dev/null || true
fi
ulimit -n "$(ulimit -Hn)"
nofile=$(ulimit -n)

bench=$build/bench/fdbroker-bench
results=$build/bench-results
mkdir -p "$results"
rm -f "$results"/run-*.jsonl

i=1
while [ "$i" -le "$runs" ]; do
        echo "tools/bench.sh: run $i of $runs" >&2
        # shellcheck disable=SC2086
        "$bench" --json ${BENCH_ARGS:-} >"$results/run-$i.jsonl"
        i=$((i + 1))
done

# Medians, per row and per column, of the JSON lines of every run.  Each
# line is one flat object; the fields are picked out by name.
cat "$results"/run-*.jsonl | awk -v runs="$runs" -v ulimit_n="$nofile" '
function field(line, name,    v) {
        if (!match(line, "\"" name "\":(\"[^\"]*\"|[^,}]*)"))
                return ""
        v = substr(line, RSTART + length(name) + 3, RLENGTH - length(name) - 3)
        gsub(/"/, "", v)
        return v
}
function add(key, metric, v) {
        if (v == "")
                return
        n[key, metric]++
        val[key, metric, n[key, metric]] = v + 0
}
function median(key, metric,    k, i, j, t, a) {
        k = n[key, metric]
        if (k == 0)
                return 0
        for (i = 1; i <= k; i++)
                a[i] = val[key, metric, i]
        for (i = 2; i <= k; i++)
                for (j = i; j > 1 && a[j - 1] > a[j]; j--) {
                        t = a[j]; a[j] = a[j - 1]; a[j - 1] = t
                }
        return k % 2 ? a[(k + 1) / 2] : (a[k / 2] + a[k / 2 + 1]) / 2
}
function all(key, metric, fmt,    i, s) {
        s = ""
        for (i = 1; i <= n[key, metric]; i++)
                s = s sprintf(" " fmt, val[key, metric, i])
        return s
}
{
        type = field($0, "type")
        if (type == "meta") {
                seconds = field($0, "seconds")
                loads = loads " " field($0, "loadavg")
                next
        }
        section = field($0, "section")
        if (type == "shape")
                key = type SUBSEP section SUBSEP field($0, "shape") SUBSEP field($0, "server")
        else
                key = type SUBSEP section SUBSEP field($0, "name")
        if (!(key in seen)) {
                seen[key] = 1
                order[++nkeys] = key
                cmp[key] = field($0, "cmp")
                target[key] = field($0, "target")
                unit[key] = field($0, "unit")
        }
        add(key, "ops_per_s", field($0, "ops_per_s"))
        add(key, "p50_us", field($0, "p50_us"))
        add(key, "p99_us", field($0, "p99_us"))
        add(key, "cli_cpu", field($0, "cli_cpu"))
        add(key, "srv_cpu", field($0, "srv_cpu"))
        add(key, "srv_us_per_op", field($0, "srv_us_per_op"))
        if (type == "shape")
                add(key, "srv_cs_per_op", field($0, "srv_vcs_per_op") + field($0, "srv_ivcs_per_op"))
        add(key, "value", field($0, "value"))
}
function row(key, part,    v, pass) {
        if (part[1] == "shape") {
                printf "%-7s %-11s %9.0f %8.1f %8.1f %6.0f%%", part[3], part[4], median(key, "ops_per_s"),
                       median(key, "p50_us"), median(key, "p99_us"), 100 * median(key, "cli_cpu")
                if (median(key, "srv_cpu") > 0)
                        printf " %6.0f%% %9.2f %9.2f\n", 100 * median(key, "srv_cpu"), median(key, "srv_us_per_op"),
                               median(key, "srv_cs_per_op")
                else
                        printf " %7s %9s %9s\n", "-", "-", "-"
        } else if (part[1] == "check") {
                v = median(key, "value")
                pass = (cmp[key] == ">=") ? v >= target[key] : v <= target[key]
                printf "  %-44s %8.2f  target %s %-4s %s   runs:%s\n", part[3], v, cmp[key], target[key],
                       pass ? "PASS" : "MISS", all(key, "value", "%.2f")
        } else if (part[1] == "ratio") {
                printf "  %-44s %8.2f                      runs:%s\n", part[3], median(key, "value"),
                       all(key, "value", "%.2f")
        } else if (part[1] == "value") {
                printf "  %-34s %8.2f %s\n", part[3], median(key, "value"), unit[key]
        } else if (part[1] == "skip") {
                printf "  skipped: %s\n", part[3]
        } else if (part[1] == "latency") {
                printf "  %-34s p50 %7.1f us  p99 %7.1f us\n", part[3], median(key, "p50_us"), median(key, "p99_us")
        }
}
# The three servers of each shape in one line: throughput and the median
# of the per-run ratios.
function ratio_of(name,    key) {
        key = "ratio" SUBSEP "shapes" SUBSEP name
        if (!(key in seen)) {
                key = "check" SUBSEP "shapes" SUBSEP name
                if (!(key in seen))
                        return "-"
        }
        return sprintf("%.2f", median(key, "value"))
}
function ops_of(shape, server,    key) {
        key = "shape" SUBSEP "shapes" SUBSEP shape SUBSEP server
        return (key in seen) ? sprintf("%.0f", median(key, "ops_per_s")) : "-"
}
function side_by_side(    i, part, sh, done) {
        printf "\n[side by side] ops/s; ratios are medians of the per-run ratios\n"
        printf "%-7s %9s %9s %9s %9s %8s %8s %8s %8s %8s\n", "shape", "floor", "bare", "fdbrokerd", "sockpair",
               "brk:bare", "sp:bare", "brk:sp", "brk:flr", "p50 b:b"
        for (i = 1; i <= nkeys; i++) {
                split(order[i], part, SUBSEP)
                if (part[1] != "shape" || part[2] != "shapes" || part[3] == "floor" || (part[3] in done))
                        continue
                sh = part[3]
                done[sh] = 1
                printf "%-7s %9s %9s %9s %9s %8s %8s %8s %8s %8s\n", sh, ops_of("floor", "open+close"),
                       ops_of(sh, "bare"), ops_of(sh, "fdbrokerd"), ops_of(sh, "socketpair"),
                       ratio_of("throughput " sh " vs bare"), ratio_of("throughput " sh " socketpair vs bare"),
                       ratio_of("throughput " sh " fdbrokerd vs socketpair"),
                       ratio_of("throughput " sh " fdbrokerd vs floor"), ratio_of("p50 " sh " vs bare")
        }
}
END {
        printf "fdbroker-bench: medians of %d runs, %s s per measurement, RLIMIT_NOFILE %s\n", runs, seconds, ulimit_n
        printf "load average at the start of each run:%s\n", loads
        printf "(checks and ratios: the median of the per-run values, listed after runs:)\n"
        for (i = 1; i <= nkeys; i++) {
                split(order[i], part, SUBSEP)
                if (!(part[2] in sect_seen)) {
                        sect_seen[part[2]] = 1
                        sect[++nsect] = part[2]
                }
        }
        for (s = 1; s <= nsect; s++) {
                printf "\n[%s]\n", sect[s]
                header = 0
                # The table first, then the numbers that refer to it.
                for (pass_no = 1; pass_no <= 2; pass_no++)
                        for (i = 1; i <= nkeys; i++) {
                                split(order[i], part, SUBSEP)
                                if (part[2] != sect[s] || (part[1] == "shape") != (pass_no == 1))
                                        continue
                                if (part[1] == "shape" && !header) {
                                        header = 1
                                        printf "%-7s %-11s %9s %8s %8s %7s %7s %9s %9s\n", "shape", "server",
                                               "ops/s", "p50 us", "p99 us", "cli CPU", "srv CPU", "srv us/op",
                                               "srv cs/op"
                                }
                                row(order[i], part)
                        }
        }
        side_by_side()
}'
echo "tools/bench.sh: the runs are in $results/" >&2

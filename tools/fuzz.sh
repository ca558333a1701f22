#!/bin/sh
# Builds the libFuzzer harnesses of tests/fuzz with clang and runs each for a
# bounded time, on a copy of its seed corpus plus the regression inputs.
# Fails on any crash, leak, timeout or sanitizer report; what the fuzzer
# found is kept in $FDBR_FUZZ_BUILD_DIR/fuzz-run/NAME/.
#   tools/fuzz.sh [NAME...]     NAME: request, policy, match (default: all)
#   FDBR_FUZZ_SECONDS    run time per harness (default 30)
#   FDBR_FUZZ_BUILD_DIR  build directory (default build-fuzz)
#   FDBR_FUZZ_ARGS       more libFuzzer options, e.g. "-jobs=4" or "-seed=1"
set -eu
cd "$(dirname "$0")/.."
top=$(pwd)

secs=${FDBR_FUZZ_SECONDS:-30}
build=${FDBR_FUZZ_BUILD_DIR:-build-fuzz}
case $build in /*) ;; *) build=$top/$build ;; esac
harnesses=${*:-request policy match}

# Fuzzers change their working directory (tests/fuzz/fuzz-policy.c), so
# every path handed to them is absolute.
tools/deps.sh
missing=
for p in clang libclang-rt-14-dev; do
        dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || missing="$missing $p"
done
if [ -n "$missing" ]; then
        [ "$(id -u)" = 0 ] || { echo "tools/fuzz.sh: missing packages:$missing (needs root to install)" >&2; exit 1; }
        export DEBIAN_FRONTEND=noninteractive
        apt-get update -qq
        # shellcheck disable=SC2086
        apt-get install -y -qq --no-install-recommends $missing >/dev/null
fi

echo "== fuzzing: $harnesses, ${secs}s each"
cmake -S . -B "$build" -DCMAKE_C_COMPILER=clang -DFDBR_FUZZ=ON >/dev/null
targets=
for h in $harnesses; do
        targets="$targets fuzz-$h"
done
# shellcheck disable=SC2086
cmake --build "$build" -j"$(nproc)" --target $targets

symbolizer=$(command -v llvm-symbolizer-14 || command -v llvm-symbolizer || true)
[ -n "$symbolizer" ] && export ASAN_SYMBOLIZER_PATH="$symbolizer"
export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1${UBSAN_OPTIONS:+:$UBSAN_OPTIONS}"

failed=
for h in $harnesses; do
        run=$build/fuzz-run/$h
        rm -rf "$run"
        mkdir -p "$run/corpus" "$run/artifacts"
        cp "$top/tests/fuzz/corpus/$h/"* "$run/corpus/"
        dict=
        [ -f "$top/tests/fuzz/$h.dict" ] && dict="-dict=$top/tests/fuzz/$h.dict"
        # Long enough for the longest record or a policy past the batch
        # sizes the engine uses; the default would stop at 4096 bytes.
        case $h in
        policy) max_len=16384 ;;
        *) max_len=8192 ;;
        esac

        # shellcheck disable=SC2086
        if "$build/fuzz/fuzz-$h" -max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 \
                -max_len="$max_len" -print_final_stats=1 -artifact_prefix="$run/artifacts/" \
                $dict ${FDBR_FUZZ_ARGS:-} "$run/corpus" "$top/tests/fuzz/regress/$h" \
                >"$run/log" 2>&1; then
                execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$run/log")
                rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$run/log")
                cov=$(grep -o 'cov: [0-9]* ft: [0-9]*' "$run/log" | tail -n 1)
                echo "fuzz-$h: ok, $execs runs ($rate/s), $cov"
        else
                echo "fuzz-$h: FAILED, log $run/log, inputs in $run/artifacts/" >&2
                tail -n 60 "$run/log" >&2
                failed="$failed $h"
        fi
done

if [ -n "$failed" ]; then
        echo "tools/fuzz.sh: failed:$failed" >&2
        exit 1
fi

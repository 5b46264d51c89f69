#!/bin/sh
# `make test` when CI is set (.ci/run): everything the project promises, with
# one closing line "N passed, N failed" over all of it.
#   1. the suites (tests/run.sh BUILD);
#   2. `make debug`: the same suites under ASan + UBSan (build/debug/);
#   3. a fuzz smoke run of every fuzz/fuzz_*.c (found by wildcard) for
#      FUZZ_RUNS (20000) executions from its seeds fuzz/seeds/<target>/, or
#      FUZZ_SECONDS (90) for the slow ones (tokenizer.json loading, a real
#      server), so CI stays bounded whatever targets are added;
#   4. clang-format --dry-run -Werror on every tracked .c and .h;
#   5. tools/check_layers.sh (no include from a lower layer to a higher one);
#   6. tools/check_errors.sh (no bare `return LISA_E...;` without a message).
# Each suite's tests count one by one; each fuzz target and each check counts
# as one test. Exits non-zero if any failed.
build=${1:-build}
runs=${FUZZ_RUNS:-20000}
secs=${FUZZ_SECONDS:-90}
tmp=$(mktemp -d) || exit 1
trap 'rm -rf "$tmp"' EXIT
passed=0; failed=0; bad=""
t0=$(date +%s)

# Runs "$@" (name $1), shows its output with any inner closing line tagged
# "[name]", and leaves its exit status in $rc and its output in $tmp/log.
run_step() {
    name=$1; shift
    echo "== ci: $name"
    { "$@"; echo $? > "$tmp/rc"; } 2>&1 | sed -u "s/^\([0-9]* passed, [0-9]* failed\)\$/[$name] \1/" | tee "$tmp/log"
    rc=$(cat "$tmp/rc")
}

# Adds a suite run's own tally (its last "[name] N passed, N failed" line);
# no tally but a failure counts as one failed test.
tally_suite() {
    l=$(sed -n "s/^\[$1\] \([0-9]*\) passed, \([0-9]*\) failed\$/\1 \2/p" "$tmp/log" | tail -1)
    if [ -z "$l" ]; then
        [ "$rc" -eq 0 ] && l="0 0" || l="0 1"
    elif [ "$rc" -ne 0 ] && [ "${l#* }" -eq 0 ]; then
        l="${l% *} 1" # it failed after its tests (a crash, a setup script)
    fi
    passed=$((passed + ${l% *})); failed=$((failed + ${l#* }))
    [ "${l#* }" -eq 0 ] || bad="$bad $1"
}

# One check: passes when $rc is 0.
tally_one() {
    if [ "$rc" -eq 0 ]; then passed=$((passed + 1)); else failed=$((failed + 1)); bad="$bad $1"; fi
}

run_step suites sh tests/run.sh "$build"
tally_suite suites

run_step debug make -s CI= debug
tally_suite debug

run_step fuzz-build make -s CI= fuzz
tally_one fuzz-build
for src in fuzz/fuzz_*.c; do
    [ -f "$src" ] || continue
    t=$(basename "$src" .c)
    mkdir -p "$tmp/corpus-$t"
    if [ ! -d "fuzz/seeds/$t" ]; then
        echo "== ci: $t: no seeds (fuzz/seeds/$t/)"
        rc=1
    elif [ ! -x "build/fuzz/$t" ]; then
        echo "== ci: $t: not built"
        rc=1
    else
        # New inputs go to a scratch corpus (first dir), never into the seeds.
        run_step "$t" "build/fuzz/$t" -runs="$runs" -max_total_time="$secs" -rss_limit_mb=2048 -timeout=10 -print_final_stats=1 \
            "$tmp/corpus-$t" "fuzz/seeds/$t"
    fi
    tally_one "$t"
done

run_step clang-format sh -c '{ git ls-files "*.c" "*.h" 2>/dev/null || find src tests bench fuzz -name "*.[ch]"; } | xargs clang-format --dry-run -Werror'
tally_one clang-format

run_step layers sh tools/check_layers.sh src
tally_one layers

run_step errors sh tools/check_errors.sh src
tally_one errors

echo "ci: $(($(date +%s) - t0)) s; failed:${bad:- none}"
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]

#!/bin/sh
# Runs every cmocka test binary in $1/tests and prints one closing line:
# "N passed, N failed". Exits non-zero if any test failed or a binary crashed.
build=${1:-build}
# The suites take binaries and fixtures from here (tests/testutil.h tu_build).
LISA_BUILD=$build; export LISA_BUILD
passed=0; failed=0; crashed=""
# Fixture setup scripts (generated images, models); each may be re-run.
for s in tests/setup/*.sh; do
    [ -f "$s" ] || continue
    sh "$s" "$build" || { echo "setup failed: $s"; echo "0 passed, 1 failed"; exit 1; }
done
for t in "$build"/tests/test_*; do
    case "$t" in *.o|*.d) continue ;; esac
    [ -x "$t" ] || continue
    out=$("$t" 2>&1); rc=$?
    printf '%s\n' "$out"
    p=$(printf '%s\n' "$out" | sed -n 's/^\[  PASSED  \] \([0-9]*\) test.*/\1/p' | tail -1)
    f=$(printf '%s\n' "$out" | sed -n 's/^\[  FAILED  \] \([0-9]*\) test.*/\1/p' | tail -1)
    passed=$((passed + ${p:-0})); failed=$((failed + ${f:-0}))
    if [ $rc -ne 0 ] && [ -z "$f" ]; then crashed="$crashed $(basename "$t")"; failed=$((failed + 1)); fi
done
[ -f tests/browser/run.sh ] && [ -x /usr/bin/chromium ] && { out=$(sh tests/browser/run.sh "$build" 2>&1); printf '%s\n' "$out"; l=$(printf '%s\n' "$out" | sed -n 's/^\([0-9]*\) passed, \([0-9]*\) failed$/\1 \2/p' | tail -1); l=${l:-0 1}; passed=$((passed + ${l% *})); failed=$((failed + ${l#* })); }
[ -n "$crashed" ] && echo "crashed or aborted:$crashed"
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]

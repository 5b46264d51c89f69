#!/bin/sh
# Tests of the web UI: the unit tests of its pure helpers (node --test
# tests/web/), then every browser suite tests/browser/*.test.mjs in headless
# Debian chromium + npm playwright-core. Usage: sh tests/browser/run.sh
# [BUILD_DIR]. Needs build/lisa and the fixture model (sh
# tests/setup/clip_models.sh build). Installs the npm packages with `npm ci`
# when node_modules is missing. Prints one closing "N passed, N failed".
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
passed=0; failed=0
add() { passed=$((passed + $1)); failed=$((failed + $2)); }
close() { echo "$passed passed, $failed failed"; [ "$failed" -eq 0 ]; exit $?; }
command -v node >/dev/null 2>&1 || { echo "browser: node not installed"; add 0 1; close; }
# Unit tests of web/js (no browser needed).
out=$(cd "$root" && node --test tests/web/ 2>&1); rc=$?
printf '%s\n' "$out" | grep -E '^(not ok|ok|# (pass|fail))' | grep -v '^ok' || true
p=$(printf '%s\n' "$out" | sed -n 's/^# pass \([0-9]*\)$/\1/p' | tail -1)
f=$(printf '%s\n' "$out" | sed -n 's/^# fail \([0-9]*\)$/\1/p' | tail -1)
[ -z "$p" ] && { p=0; f=1; }
[ $rc -ne 0 ] && [ "${f:-0}" -eq 0 ] && f=1
add "$p" "${f:-0}"
echo "web unit tests: $p passed, ${f:-0} failed"
build=$(cd "${1:-build}" 2>/dev/null && pwd) || { echo "browser: no build dir ${1:-build}"; add 0 1; close; }
[ -x "${CHROMIUM:-/usr/bin/chromium}" ] || { echo "browser: chromium not installed (apt-get install chromium)"; add 0 1; close; }
if [ ! -d "$here/node_modules/playwright-core" ]; then
    (cd "$here" && npm ci --no-audit --no-fund --loglevel=error) || { echo "browser: npm ci failed"; add 0 1; close; }
fi
for t in "$here"/*.test.mjs; do
    [ -f "$t" ] || continue
    out=$(cd "$here" && BUILD="$build" node "$t" 2>&1)
    printf '%s\n' "$out"
    l=$(printf '%s\n' "$out" | sed -n 's/^\([0-9]*\) passed, \([0-9]*\) failed$/\1 \2/p' | tail -1)
    l=${l:-0 1}
    add "${l% *}" "${l#* }"
done
close

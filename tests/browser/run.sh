#!/bin/sh
# Browser tests of the web UI: headless Debian chromium + npm playwright-core.
# Usage: sh tests/browser/run.sh [BUILD_DIR]. Needs build/lisa and the fixture
# model (sh tests/setup/clip_models.sh build). Installs the npm packages with
# `npm ci` when node_modules is missing. Prints "N passed, N failed".
here=$(cd "$(dirname "$0")" && pwd)
build=$(cd "${1:-build}" 2>/dev/null && pwd) || { echo "browser: no build dir ${1:-build}"; echo "0 passed, 1 failed"; exit 1; }
command -v node >/dev/null 2>&1 || { echo "browser: node not installed"; echo "0 passed, 1 failed"; exit 1; }
[ -x "${CHROMIUM:-/usr/bin/chromium}" ] || { echo "browser: chromium not installed (apt-get install chromium)"; echo "0 passed, 1 failed"; exit 1; }
if [ ! -d "$here/node_modules/playwright-core" ]; then
    (cd "$here" && npm ci --no-audit --no-fund --loglevel=error) || { echo "browser: npm ci failed"; echo "0 passed, 1 failed"; exit 1; }
fi
cd "$here" && BUILD="$build" exec node ui.test.mjs

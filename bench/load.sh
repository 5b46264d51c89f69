#!/bin/sh
# Load test of `lisa serve`: wrk against GET /api/search on 127.0.0.1 for
# DURATION seconds with CONNS connections while a build indexes NEW images in
# the background. Prints wrk's summary (req/s, latency percentiles, errors),
# the server's RSS before and after, and the server-side p50/p95/p99.
# Not part of `make test`.
# usage: sh bench/load.sh [BUILD] ; env: DURATION=30 CONNS=32 BASE=300 NEW=6000 PORT=18765 IDLE=10
set -e
build=${1:-build}
DURATION=${DURATION:-30}; CONNS=${CONNS:-32}; BASE=${BASE:-300}; NEW=${NEW:-6000}; PORT=${PORT:-18765}
model=$build/models/tiny-a
command -v wrk >/dev/null || { echo "load: wrk is not installed (apt-get install wrk)" >&2; exit 1; }
[ -x "$build/lisa" ] || { echo "load: build $build/lisa first (make)" >&2; exit 1; }
[ -f "$model/model.safetensors" ] || sh tests/setup/clip_models.sh "$build" >/dev/null
work=$(mktemp -d /tmp/lisa-load.XXXXXX)
pid=""
cleanup() { [ -z "$pid" ] || kill "$pid" 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT
gen() { # gen DIR N SEED: N distinct 320x240 JPEGs with words in their names
    /usr/bin/python3 - "$1" "$2" "$3" <<'PY'
import os, sys, numpy as np
from PIL import Image
d, n, seed = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
os.makedirs(d, exist_ok=True)
rng = np.random.default_rng(seed)
words = ["beach", "sunset", "dog", "cat", "mountain", "city", "car", "tree", "lake", "snow"]
y, x = np.mgrid[0:240, 0:320]
for i in range(n):
    c = rng.integers(0, 255, 6)
    img = np.stack([(c[0] + x * c[3] / 320) % 256, (c[1] + y * c[4] / 240) % 256, (c[2] + (x + y) * c[5] / 560) % 256], -1)
    img = (img + rng.normal(0, 12, img.shape)).clip(0, 255).astype(np.uint8)
    name = f"{words[i % 10]}_{words[(i // 10) % 10]}_{seed}_{i:05d}.jpg"
    Image.fromarray(img).save(os.path.join(d, name), quality=85)
PY
}
rss() { awk '/VmRSS/ {print $2 " kB"}' /proc/$1/status; }
api() { p=$1; shift; curl -s "$@" "http://127.0.0.1:$PORT$p"; }
echo "load: generating $BASE + $NEW images in $work"
gen "$work/lib" "$BASE" 1
"$build/lisa" serve --data "$work/data" --port "$PORT" --model "$model" --folder "$work/lib" --quiet &
pid=$!
for i in $(seq 100); do api /api/health >/dev/null 2>&1 && break; sleep 0.1; done
api /api/build -X POST >/dev/null
while api /api/build | grep -q '"state":"running"'; do sleep 0.5; done
echo "load: base library indexed: $(api /api/stats | sed -n 's/.*"images":\([0-9]*\).*/\1/p') images"
gen "$work/lib/new" "$NEW" 2
cat > "$work/q.lua" <<'LUA'
local qs = {"beach", "dog+on+the+beach", "sunset+over+a+lake", "city+at+night", "snow+mountain", "cat", "red+car", "tree"}
local i = 0
request = function()
    i = i + 1
    return wrk.format("GET", "/api/search?top_k=20&query=" .. qs[(i % #qs) + 1])
end
LUA
echo "load: RSS before: $(rss $pid)"
api /api/build -X POST >/dev/null
sleep 0.5
wrk -t2 -c"$CONNS" -d"${DURATION}s" --latency -s "$work/q.lua" "http://127.0.0.1:$PORT/api/search" | tee "$work/wrk.txt"
grep -q "Non-2xx\|Socket errors" "$work/wrk.txt" && echo "load: ERRORS during the run (see above)" || echo "load: no errors"
echo "load: build after wrk: $(api /api/build | sed -n 's/.*"state":"\([a-z]*\)".*"done":\([0-9]*\),"total":\([0-9]*\).*"elapsed":\([0-9.]*\).*/\1 \2\/\3 images, \4 s/p')"
echo "load: RSS after: $(rss $pid)"
echo "load: server-side latency_ms: $(api /api/stats | sed -n 's/.*"latency_ms":{\([^}]*\)"recent".*/\1/p')"
while api /api/build | grep -q '"state":"running"'; do sleep 1; done
echo "load: RSS after the build: $(rss $pid)"
echo "load: baseline, same load with no build running (${IDLE:-10} s):"
wrk -t2 -c"$CONNS" -d"${IDLE:-10}s" --latency -s "$work/q.lua" "http://127.0.0.1:$PORT/api/search" | grep -E "Requests/sec|99%|Non-2xx|Socket errors"
echo "load: RSS after the baseline: $(rss $pid)"
kill -TERM "$pid"; wait "$pid" || true
pid=""
exit 0

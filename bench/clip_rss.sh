#!/bin/sh
# Peak RSS of `lisa serve` with a CLIP model: starts the server on an empty
# data dir (127.0.0.1, a free port), runs text searches and an upload-free
# image embedding through the API, and prints VmHWM (the peak resident set).
#   sh bench/clip_rss.sh [BUILD] [MODEL_DIR] [PRECISION]
build=${1:-build}
model=${2:-$build/models/vit-b32}
prec=${3:-bf16}
PORT=${PORT:-18731}
work=$(mktemp -d)
# The server must be gone before the next run takes the same port.
trap 'kill "$pid" 2>/dev/null; wait "$pid" 2>/dev/null; rm -rf "$work"' EXIT
"$build/lisa" serve --data "$work/data" --port "$PORT" --model "$model" --precision "$prec" --quiet &
pid=$!
for i in $(seq 300); do curl -s "http://127.0.0.1:$PORT/api/health" >/dev/null 2>&1 && break; sleep 0.1; done
kill -0 "$pid" 2>/dev/null || { echo "  lisa serve, $(basename "$model") in $prec: the server did not start" >&2; exit 1; }
for q in cat dog+on+the+beach sunset+over+a+lake; do
    curl -s "http://127.0.0.1:$PORT/api/search?query=$q" >/dev/null
done
stats=$(curl -s "http://127.0.0.1:$PORT/api/stats")
hwm=$(awk '/VmHWM/ {print $2}' /proc/$pid/status)
echo "  lisa serve, $(basename "$model") in $(echo "$stats" | sed -n 's/.*"precision":"\([a-z0-9]*\)".*/\1/p'): peak RSS $((hwm / 1024)) MiB (target <= 400 MiB)"

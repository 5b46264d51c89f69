#!/bin/sh
# Fault script: kill -9 of `lisa serve` at K random points while it builds an
# index of N images (--folder) and takes uploads; each round restarts the
# server, uploads a few files with curl, starts a build and kills the server
# at a random moment. Afterwards one clean build, then check_index.py: the
# integrity_check, each file once, thumbnails, and every file in DATA/images
# equal to an uploaded source (no half-written upload visible).
#   sh tests/faults/kill_serve.sh [BUILD]   env: N=500 K=20 SEED=1
build=${1:-build}
N=${N:-500}; K=${K:-20}; SEED=${SEED:-1}
lisa=$build/lisa; model=$build/models/tiny-a
[ -x "$lisa" ] && [ -d "$model" ] || { echo "kill_serve: needs $lisa and $model"; exit 2; }
command -v curl >/dev/null || { echo "kill_serve: needs curl"; exit 2; }
work=$(mktemp -d "${TMPDIR:-/tmp}/lisa-kill-serve-XXXXXX") || exit 2
trap 'kill -9 $spid 2>/dev/null; rm -rf "$work"' EXIT
python3 tests/faults/make_images.py "$work/lib" "$N" || exit 2
python3 tests/faults/make_images.py "$work/up" 60 || exit 2
port=$((20000 + $$ % 20000))
start() {
    "$lisa" serve --data "$work/data" --port "$port" --model "$model" --folder "$work/lib" --quiet >>"$work/serve.log" 2>&1 &
    spid=$!
    for i in $(seq 1 100); do curl -s -o /dev/null "http://127.0.0.1:$port/api/health" && return 0; sleep 0.1; done
    echo "kill_serve: server did not start"; cat "$work/serve.log"; exit 1
}
count() { python3 -c "import sqlite3,sys; print(sqlite3.connect(sys.argv[1]).execute('SELECT COUNT(*) FROM images').fetchone()[0])" "$work/data/lisa.db" 2>/dev/null || echo 0; }
mid=0
ups=$(ls "$work"/up/*/*.png)
for k in $(seq 1 "$K"); do
    # Killed once N/(K+1) more images are committed, plus a random 0-300 ms,
    # with this round's uploads in flight: the K kills spread over one build.
    target=$(($(count) + N / (K + 1)))
    [ "$target" -le "$N" ] || target=$N
    d=$(awk -v s="$SEED" -v k="$k" 'BEGIN { srand(s * 1000 + k); printf "%.2f", rand() * 0.3 }')
    start
    curl -s -o /dev/null -X POST "http://127.0.0.1:$port/api/build"
    set -- $(printf '%s\n' $ups | sed -n "$((k * 3 - 2)),$((k * 3))p")
    python3 tests/faults/wait_rows.py "$work/data/lisa.db" "$target" "$spid"
    for f in "$@"; do curl -s -o /dev/null -F "files=@$f" "http://127.0.0.1:$port/api/upload" & done
    sleep "$d"
    if kill -9 "$spid" 2>/dev/null; then mid=$((mid + 1)); fi
    wait "$spid" 2>/dev/null
    wait 2>/dev/null
    echo "kill $k at >= $target rows + ${d}s: $(count) indexed, $(ls "$work/data/images" 2>/dev/null | wc -l) uploads"
done
start
curl -s -o /dev/null -X POST "http://127.0.0.1:$port/api/build"
for i in $(seq 1 600); do
    curl -s "http://127.0.0.1:$port/api/build" | grep -q '"state":"running"' || break
    sleep 0.5
done
state=$(curl -s "http://127.0.0.1:$port/api/build")
kill "$spid"; wait "$spid" 2>/dev/null
echo "final build: $state"
echo "$mid of $K kills hit a running server"
python3 tests/faults/check_index.py "$work/data" "$work/lib" "$work/up"

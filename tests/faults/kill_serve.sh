#!/bin/sh
# Fault script: kill -9 of `lisa serve` at K random points while it builds an
# index of N images (--folder) and takes uploads; each round restarts the
# server, uploads a few files with curl, starts a build and kills the server
# at a random moment. Afterwards one clean build, then check_index.py: the
# integrity_check, each file once, thumbnails, and every file in DATA/images
# equal to an uploaded source (no half-written upload visible).
#   sh tests/faults/kill_serve.sh [BUILD]   env: N=500 K=20 SEED=1 MAXD= (kill delays
# are uniform in [0.05, MAXD] s; by default MAXD is the time of one clean build,
# measured first, so the kills spread over a whole build)
build=${1:-build}
N=${N:-500}; K=${K:-20}; MAXD=${MAXD:-}; SEED=${SEED:-1}
lisa=$build/lisa; model=$build/models/tiny-a
[ -x "$lisa" ] && [ -d "$model" ] || { echo "kill_serve: needs $lisa and $model"; exit 2; }
command -v curl >/dev/null || { echo "kill_serve: needs curl"; exit 2; }
work=$(mktemp -d "${TMPDIR:-/tmp}/lisa-kill-serve-XXXXXX") || exit 2
trap 'kill -9 $spid 2>/dev/null; rm -rf "$work"' EXIT
python3 tests/faults/make_images.py "$work/lib" "$N" || exit 2
if [ -z "$MAXD" ]; then
    t0=$(date +%s.%N)
    "$lisa" index "$work/lib" --data "$work/calib" --model "$model" --progress none >/dev/null 2>&1
    MAXD=$(awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN { printf "%.2f", b - a }')
    rm -rf "$work/calib"
    echo "one clean build of $N images: $MAXD s (kills spread over it)"
fi
python3 tests/faults/make_images.py "$work/up" 60 || exit 2
port=$((20000 + $$ % 20000))
start() {
    "$lisa" serve --data "$work/data" --port "$port" --model "$model" --folder "$work/lib" --quiet >>"$work/serve.log" 2>&1 &
    spid=$!
    for i in $(seq 1 100); do curl -s -o /dev/null "http://127.0.0.1:$port/api/health" && return 0; sleep 0.1; done
    echo "kill_serve: server did not start"; cat "$work/serve.log"; exit 1
}
mid=0
ups=$(ls "$work"/up/*/*.png)
for k in $(seq 1 "$K"); do
    d=$(awk -v s="$SEED" -v k="$k" -v m="$MAXD" 'BEGIN { srand(s * 1000 + k); printf "%.2f", 0.05 + rand() * (m - 0.05) }')
    start
    set -- $(printf '%s\n' $ups | sed -n "$((k * 3 - 2)),$((k * 3))p")
    for f in "$@"; do curl -s -o /dev/null -F "files=@$f" "http://127.0.0.1:$port/api/upload" & done
    curl -s -o /dev/null -X POST "http://127.0.0.1:$port/api/build"
    sleep "$d"
    if kill -9 "$spid" 2>/dev/null; then mid=$((mid + 1)); fi
    wait "$spid" 2>/dev/null
    wait 2>/dev/null
    n=$(python3 -c "import sqlite3,sys; print(sqlite3.connect(sys.argv[1]).execute('SELECT COUNT(*) FROM images').fetchone()[0])" "$work/data/lisa.db" 2>/dev/null || echo 0)
    echo "kill $k after ${d}s: $n indexed, $(ls "$work/data/images" 2>/dev/null | wc -l) uploads"
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

#!/bin/sh
# Fault script: kill -9 of `lisa index` at K random points of a build of N
# images, then one run to completion, then tests/faults/check_index.py
# (integrity_check, each file indexed exactly once, embeddings, FTS rows,
# thumbnails with no orphans or temp files). Not part of make test: a
# developer reruns it. Needs BUILD/lisa and BUILD/models/tiny-a
# (tests/setup/clip_models.sh BUILD).
#   sh tests/faults/kill_index.sh [BUILD]   env: N=500 K=20 SEED=1
build=${1:-build}
N=${N:-500}; K=${K:-20}; SEED=${SEED:-1}
lisa=$build/lisa; model=$build/models/tiny-a
[ -x "$lisa" ] && [ -d "$model" ] || { echo "kill_index: needs $lisa and $model"; exit 2; }
work=$(mktemp -d "${TMPDIR:-/tmp}/lisa-kill-index-XXXXXX") || exit 2
trap 'rm -rf "$work"' EXIT
python3 tests/faults/make_images.py "$work/lib" "$N" || exit 2
count() { python3 -c "import sqlite3,sys; print(sqlite3.connect(sys.argv[1]).execute('SELECT COUNT(*) FROM images').fetchone()[0])" "$work/data/lisa.db" 2>/dev/null || echo 0; }
mid=0
for k in $(seq 1 "$K"); do
    # Each run is killed once N/(K+1) more images are committed, plus a random
    # 0-300 ms (inside the next batch), so the K kills spread over one build.
    target=$(($(count) + N / (K + 1)))
    [ "$target" -le "$N" ] || target=$N
    d=$(awk -v s="$SEED" -v k="$k" 'BEGIN { srand(s * 1000 + k); printf "%.2f", rand() * 0.3 }')
    "$lisa" index "$work/lib" --data "$work/data" --model "$model" --progress none >/dev/null 2>&1 &
    pid=$!
    python3 tests/faults/wait_rows.py "$work/data/lisa.db" "$target" "$pid"
    sleep "$d"
    if kill -9 "$pid" 2>/dev/null; then mid=$((mid + 1)); state=killed; else state=finished; fi
    wait "$pid" 2>/dev/null
    echo "kill $k at >= $target rows + ${d}s: $state, $(count) of $N indexed"
done
t0=$(date +%s)
"$lisa" index "$work/lib" --data "$work/data" --model "$model" --progress none >/dev/null 2>"$work/last.err"
rc=$?
echo "final run: exit $rc in $(($(date +%s) - t0)) s; $mid of $K kills landed during a build"
[ $rc -eq 0 ] || { cat "$work/last.err"; exit 1; }
python3 tests/faults/check_index.py "$work/data" "$work/lib"

#!/bin/sh
# Fault script: kill -9 of `lisa index` at K random points of a build of N
# images, then one run to completion, then tests/faults/check_index.py
# (integrity_check, each file indexed exactly once, embeddings, FTS rows,
# thumbnails with no orphans or temp files). Not part of make test: a
# developer reruns it. Needs BUILD/lisa and BUILD/models/tiny-a
# (tests/setup/clip_models.sh BUILD).
#   sh tests/faults/kill_index.sh [BUILD]   env: N=500 K=20 SEED=1 MAXD= (kill delays
# are uniform in [0.05, MAXD] s; by default MAXD is the time of one clean build,
# measured first, so the kills spread over a whole build)
build=${1:-build}
N=${N:-500}; K=${K:-20}; MAXD=${MAXD:-}; SEED=${SEED:-1}
lisa=$build/lisa; model=$build/models/tiny-a
[ -x "$lisa" ] && [ -d "$model" ] || { echo "kill_index: needs $lisa and $model"; exit 2; }
work=$(mktemp -d "${TMPDIR:-/tmp}/lisa-kill-index-XXXXXX") || exit 2
trap 'rm -rf "$work"' EXIT
python3 tests/faults/make_images.py "$work/lib" "$N" || exit 2
if [ -z "$MAXD" ]; then
    t0=$(date +%s.%N)
    "$lisa" index "$work/lib" --data "$work/calib" --model "$model" --progress none >/dev/null 2>&1
    MAXD=$(awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN { printf "%.2f", b - a }')
    rm -rf "$work/calib"
    echo "one clean build of $N images: $MAXD s (kills spread over it)"
fi
count() { python3 -c "import sqlite3,sys; print(sqlite3.connect(sys.argv[1]).execute('SELECT COUNT(*) FROM images').fetchone()[0])" "$work/data/lisa.db" 2>/dev/null || echo 0; }
mid=0
for k in $(seq 1 "$K"); do
    d=$(awk -v s="$SEED" -v k="$k" -v m="$MAXD" 'BEGIN { srand(s * 1000 + k); printf "%.2f", 0.05 + rand() * (m - 0.05) }')
    "$lisa" index "$work/lib" --data "$work/data" --model "$model" --progress none >/dev/null 2>&1 &
    pid=$!
    sleep "$d"
    if kill -9 "$pid" 2>/dev/null; then mid=$((mid + 1)); state=killed; else state=finished; fi
    wait "$pid" 2>/dev/null
    echo "kill $k after ${d}s: $state, $(count) of $N indexed"
done
t0=$(date +%s)
"$lisa" index "$work/lib" --data "$work/data" --model "$model" --progress none >/dev/null 2>"$work/last.err"
rc=$?
echo "final run: exit $rc in $(($(date +%s) - t0)) s; $mid of $K kills landed during a build"
[ $rc -eq 0 ] || { cat "$work/last.err"; exit 1; }
python3 tests/faults/check_index.py "$work/data" "$work/lib"

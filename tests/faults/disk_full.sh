#!/bin/sh
# Fault script: a full disk. The data dir is a small tmpfs (root only:
# mount -t tmpfs); `lisa index` of N images runs out of space, must fail with
# a clear message and leave the database intact; uploads to `lisa serve` on
# the full disk must fail cleanly with nothing half-written visible; after the
# tmpfs grows (remount) the next index run completes and check_index.py passes.
#   sh tests/faults/disk_full.sh [BUILD]   env: N=300 SIZE=400k
build=${1:-build}
N=${N:-300}; SIZE=${SIZE:-400k}
lisa=$build/lisa; model=$build/models/tiny-a
[ "$(id -u)" -eq 0 ] || { echo "disk_full: needs root (mount -t tmpfs)"; exit 2; }
[ -x "$lisa" ] && [ -d "$model" ] || { echo "disk_full: needs $lisa and $model"; exit 2; }
work=$(mktemp -d "${TMPDIR:-/tmp}/lisa-disk-full-XXXXXX") || exit 2
mkdir -p "$work/data"
mount -t tmpfs -o size="$SIZE" lisa-full "$work/data" || exit 2
trap 'kill -9 $spid 2>/dev/null; umount "$work/data"; rm -rf "$work"' EXIT
python3 tests/faults/make_images.py "$work/lib" "$N" || exit 2
python3 tests/faults/make_images.py "$work/up" 5 || exit 2
bad=0
t0=$(date +%s)
"$lisa" index "$work/lib" --data "$work/data" --model "$model" --progress none >"$work/idx.out" 2>&1
rc=$?
echo "index on a $SIZE tmpfs: exit $rc after $(($(date +%s) - t0)) s, df: $(df -k "$work/data" | awk 'NR==2 {print $3 "k used of " $2 "k"}')"
sed 's/^/  | /' "$work/idx.out" | tail -5
[ $rc -ne 0 ] || { echo "FAIL the index run did not notice the full disk"; bad=$((bad + 1)); }
grep -qiE "full|no space|disk" "$work/idx.out" && echo "ok   the message says the disk is full" ||
    { echo "FAIL no message about the full disk"; bad=$((bad + 1)); }
python3 -c "import sqlite3,sys; c=sqlite3.connect('file:'+sys.argv[1]+'?mode=ro', uri=True); print('ok   integrity_check after ENOSPC:', c.execute('PRAGMA integrity_check').fetchone()[0], '-', c.execute('SELECT COUNT(*) FROM images').fetchone()[0], 'images kept')" "$work/data/lisa.db" ||
    { echo "FAIL the database does not open after ENOSPC"; bad=$((bad + 1)); }
# Fill what is left, then upload.
dd if=/dev/zero of="$work/data/filler" bs=4k 2>/dev/null
port=$((20000 + $$ % 20000))
"$lisa" serve --data "$work/data" --port "$port" --no-model --quiet >"$work/serve.log" 2>&1 &
spid=$!
for i in $(seq 1 50); do curl -s -o /dev/null "http://127.0.0.1:$port/api/health" && break; sleep 0.1; done
up=$(ls "$work"/up/*/*.png | head -1)
code=$(curl -s -o "$work/up.json" -w '%{http_code}' -F "files=@$up" "http://127.0.0.1:$port/api/upload")
echo "upload on a full disk: HTTP $code $(cat "$work/up.json")"
code=$(curl -s -o "$work/s.json" -w '%{http_code}' "http://127.0.0.1:$port/api/search?query=img")
echo "search on a full disk: HTTP $code $(head -c 200 "$work/s.json")"
kill "$spid"; wait "$spid" 2>/dev/null
rm -f "$work/data/filler"
mount -o remount,size=64m "$work/data"
"$lisa" index "$work/lib" --data "$work/data" --model "$model" --progress none >"$work/idx2.out" 2>&1 ||
    { echo "FAIL the run after freeing space: $(tail -3 "$work/idx2.out")"; bad=$((bad + 1)); }
python3 tests/faults/check_index.py "$work/data" "$work/lib" "$work/up" || bad=$((bad + 1))
echo "disk_full: $bad failed"
[ $bad -eq 0 ]

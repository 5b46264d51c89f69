#!/bin/sh
# Duplicate finder on the generated set (bench/dupes/dupes_set.py, 60 images + 3 copies each):
# pair precision/recall of the near groups at the default threshold, and the wall time of
# `lisa duplicates` the first time (perceptual hashes computed) and once they are stored (median).
build=${1:-build}
runs=${2:-5}
py=/usr/bin/python3
"$py" -c "import PIL" 2>/dev/null || { echo "  (skipped: needs PIL in $py)"; exit 0; }
dir=$build/bench/dupes
rm -rf "$dir/data"
[ -f "$dir/set/o059_crop.jpg" ] || "$py" bench/dupes/dupes_set.py gen "$dir/set" 60
HOME=$dir LISA_MODELS=$dir/none "$build/lisa" index "$dir/set" --data "$dir/data" --no-ocr --no-captions \
    --progress none >/dev/null 2>&1 || { echo "  lisa index failed"; exit 1; }
t0=$(date +%s.%N)
"$build/lisa" duplicates --json --data "$dir/data" > "$dir/out.json" || exit 1
t1=$(date +%s.%N)
"$py" bench/dupes/dupes_set.py eval "$dir/set" "$dir/out.json" | sed 's/^/  /'
awk -v a="$t0" -v b="$t1" 'BEGIN { printf "  first scan (240 images, hashes computed)  %.3f s\n", b - a }'
i=0
while [ $i -lt "$runs" ]; do
    a=$(date +%s.%N)
    "$build/lisa" duplicates --json --data "$dir/data" > /dev/null
    b=$(date +%s.%N)
    echo "$a $b"
    i=$((i + 1))
done | awk '{ print $2 - $1 }' | sort -n | awk '{ v[NR] = $1 } END { printf "  later scans (hashes stored), median     %.3f s of %d\n", v[int((NR + 1) / 2)], NR }'

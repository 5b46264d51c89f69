#!/bin/sh
# Generates the random-weight BLIP fixture models under $1/models/ with
# tools/caption/make_tiny_blip.py (numpy only) and checks every safetensors file
# against tests/data/caption/SHA256SUMS, the hashes of the weights the committed
# goldens (tests/data/caption/*.json) were computed from. A model already present
# with the right hashes is kept. Any mismatch fails loudly.
build=${1:-build}
sums=tests/data/caption/SHA256SUMS
gen=tools/caption/make_tiny_blip.py
py=/usr/bin/python3
[ -f "$sums" ] || { echo "blip_models: missing $sums" >&2; exit 1; }
mkdir -p "$build/models" || exit 1
for m in blip-a blip-a-f16 blip-a-bf16 blip-a-sharded blip-b blip-b-f16 blip-b-bf16; do
    shards=0
    case "$m" in
        *-f16)     preset=${m%-f16};     dtype=f16 ;;
        *-bf16)    preset=${m%-bf16};    dtype=bf16 ;;
        *-sharded) preset=${m%-sharded}; dtype=f32; shards=3 ;;
        *)         preset=$m;            dtype=f32 ;;
    esac
    dir="$build/models/$m"
    want=$(awk -v p="$m/" 'index($2, p) == 1 { print $1 "  " $2 }' "$sums")
    [ -n "$want" ] || { echo "blip_models: no hash for $m in $sums" >&2; exit 1; }
    check() { (cd "$build/models" && printf '%s\n' "$want" | sha256sum -c --quiet - >/dev/null 2>&1); }
    [ -f "$dir/config.json" ] && [ -f "$dir/vocab.txt" ] && [ -f "$dir/preprocessor_config.json" ] && check && continue
    rm -rf "$dir"
    "$py" "$gen" --preset "$preset" --dtype "$dtype" --shards "$shards" --out "$dir" \
        || { echo "blip_models: generating $m failed" >&2; exit 1; }
    if ! check; then
        echo "blip_models: SHA256 MISMATCH for $dir" >&2
        (cd "$build/models" && printf '%s\n' "$want" | sha256sum -c - >&2)
        echo "blip_models: the generator no longer reproduces the weights the goldens were made from" >&2
        exit 1
    fi
done
exit 0

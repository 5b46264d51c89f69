#!/bin/sh
# Generates the random-weight SigLIP fixture models under $1/models/ with
# tools/siglip/make_tiny_siglip.py (numpy only) and checks every model.safetensors
# against tests/data/siglip/SHA256SUMS, the hashes of the weights the committed
# goldens (tests/data/siglip/*.json) were computed from. A model already present
# with the right hash is kept. Any mismatch fails loudly.
build=${1:-build}
sums=tests/data/siglip/SHA256SUMS
gen=tools/siglip/make_tiny_siglip.py
py=/usr/bin/python3
[ -f "$sums" ] || { echo "siglip_models: missing $sums" >&2; exit 1; }
mkdir -p "$build/models" || exit 1
for m in siglip-a siglip-a-bf16 siglip-b; do
    case "$m" in
        *-bf16) preset=${m%-bf16}; dtype=bf16 ;;
        *)      preset=$m;         dtype=f32 ;;
    esac
    dir="$build/models/$m"
    want=$(awk -v n="$m/model.safetensors" '$2 == n { print $1 }' "$sums")
    [ -n "$want" ] || { echo "siglip_models: no hash for $m in $sums" >&2; exit 1; }
    have=""
    if [ -f "$dir/model.safetensors" ] && [ -f "$dir/config.json" ] \
       && [ -f "$dir/tokenizer.json" ] && [ -f "$dir/preprocessor_config.json" ]; then
        have=$(sha256sum "$dir/model.safetensors" | cut -d' ' -f1)
    fi
    [ "$have" = "$want" ] && continue
    rm -rf "$dir"
    "$py" "$gen" --preset "$preset" --dtype "$dtype" --out "$dir" \
        || { echo "siglip_models: generating $m failed" >&2; exit 1; }
    have=$(sha256sum "$dir/model.safetensors" | cut -d' ' -f1)
    if [ "$have" != "$want" ]; then
        echo "siglip_models: SHA256 MISMATCH for $dir/model.safetensors" >&2
        echo "siglip_models:   expected $want" >&2
        echo "siglip_models:   got      $have" >&2
        echo "siglip_models: the generator no longer reproduces the weights the goldens were made from" >&2
        exit 1
    fi
done
exit 0

#!/bin/sh
# `make bench`: every benchmark, with the reference engines measured in the
# same run, and the ratios. Figures are medians; machines are noisy.
build=${1:-build}
runs=${BENCH_RUNS:-5}
py=/usr/bin/python3
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.2fx", a / b; else print "n/a" }'; }
val() { awk -v e="$1" -v k="$2" '$1 == e && $2 == k { print $3 }' "$3" | tail -1; }

echo "== image pipeline =========================================================="
out=$build/bench/image.txt
"$build/bench/bench_image" "$runs" | tee "$out" | grep -v '^lisa '
if "$py" -c "import PIL, numpy" 2>/dev/null; then
    "$py" bench/image_ref.py "$runs" "$build"/bench/photo12mp_*.jpg >> "$out"
    printf '  PIL + numpy (HF CLIPImageProcessor steps), full decode  %7.2f images/s\n' "$(val pil prep_full_per_s "$out")"
    printf '  PIL + numpy with draft() DCT scaling                    %7.2f images/s\n' "$(val pil prep_draft_per_s "$out")"
    printf '  LISA / PIL: full %s, DCT-scaled %s\n' \
        "$(ratio "$(val lisa prep_full_per_s "$out")" "$(val pil prep_full_per_s "$out")")" \
        "$(ratio "$(val lisa prep_dct_per_s "$out")" "$(val pil prep_draft_per_s "$out")")"
fi

if [ -x "$build/bench/bench_clip" ]; then
    echo "== CLIP engine (ViT-B/32 shapes, random weights, 2 threads) ==============="
    out=$build/bench/clip.txt
    [ -d tools/js/node_modules/onnxruntime-node ] || (cd tools/js && npm ci --ignore-scripts --no-audit --no-fund >/dev/null 2>&1)
    sh bench/clip_refs.sh "$build" "$runs" > "$out" || exit 1
    "$build/bench/bench_clip" "$build/models/vit-b32" 2 | sed 's/^lisa text7_ms/lisa text_latency_ms/' >> "$out"
    for k in image_b1_per_s image_b8_per_s text_latency_ms; do
        printf '  %-16s lisa %8s  ort %8s  torch %8s   lisa/ort %s  lisa/torch %s\n' "$k" \
            "$(val lisa $k "$out")" "$(val ort $k "$out")" "$(val torch $k "$out")" \
            "$(ratio "$(val lisa $k "$out")" "$(val ort $k "$out")")" \
            "$(ratio "$(val lisa $k "$out")" "$(val torch $k "$out")")"
    done
    echo "  (for text_latency_ms lower is better: a ratio below 1 means LISA is faster)"
fi

if [ -x "$build/bench/bench_siglip" ]; then
    echo "== SigLIP engine (siglip-base-patch16-224 shapes, random weights, 2 threads)"
    out=$build/bench/siglip.txt
    sh bench/siglip_refs.sh "$build" "$runs" > "$out" || exit 1
    "$build/bench/bench_siglip" "$build/models/siglip-b16" 2 >> "$out"
    for k in image_b1_per_s image_b8_per_s text_latency_ms; do
        printf '  %-16s lisa %8s  ort %8s   lisa/ort %s\n' "$k" "$(val lisa $k "$out")" "$(val ort $k "$out")" \
            "$(ratio "$(val lisa $k "$out")" "$(val ort $k "$out")")"
    done
    echo "  (for text_latency_ms lower is better: a ratio below 1 means LISA is faster)"
fi

if [ -x "$build/bench/bench_search" ]; then
    echo "== search (exact cosine scan + FTS5 bm25, 2 threads) ======================"
    "$build/bench/bench_search" 200 "$build/models/vit-b32" | tee "$build/bench/search.txt" | grep -v '^lisa '
fi

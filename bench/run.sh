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
    echo "== CLIP engine (random weights in HF layout, 2 threads) ======================"
    [ -d tools/js/node_modules/onnxruntime-node ] || (cd tools/js && npm ci --ignore-scripts --no-audit --no-fund >/dev/null 2>&1)
    # ViT-B/32 always; B/16 and L/14 (batch 8 only) with BENCH_LARGE=1 (L/14 is 1.7 GB and slow to make).
    for preset in vit-b32 ${BENCH_LARGE:+vit-b16 vit-l14}; do
        out=$build/bench/clip-$preset.txt
        echo "-- $preset"
        sh bench/clip_refs.sh "$build" "$runs" "$preset" > "$out" || exit 1
        "$build/bench/bench_clip" "$build/models/$preset" 2 | sed 's/ text7_ms / text_latency_ms /' >> "$out"
        keys="image_b1_per_s image_b8_per_s text_latency_ms"
        [ "$preset" = vit-b32 ] || keys=image_b8_per_s
        for k in $keys; do
            printf '  %-16s lisa %8s  bf16 %8s  ort %8s  torch %8s   lisa/ort %s  bf16/ort %s  lisa/torch %s\n' "$k" \
                "$(val lisa $k "$out")" "$(val lisa_bf16 $k "$out")" "$(val ort $k "$out")" "$(val torch $k "$out")" \
                "$(ratio "$(val lisa $k "$out")" "$(val ort $k "$out")")" \
                "$(ratio "$(val lisa_bf16 $k "$out")" "$(val ort $k "$out")")" \
                "$(ratio "$(val lisa $k "$out")" "$(val torch $k "$out")")"
        done
        printf '  kernel %s: batch 8 at %s GFLOP/s (fp32), %s (bf16), estimated peak %s (2 FMA ports x width x clock)\n' \
            "$(val lisa kernel "$out")" "$(val lisa gflops_b8 "$out")" "$(val lisa_bf16 gflops_b8 "$out")" \
            "$(val lisa peak_gflops_est "$out")"
        printf '  weights %s MiB fp32, %s MiB bf16; bf16 cosine to fp32: images >= %s, text %s\n' \
            "$(val lisa weight_mib "$out")" "$(val lisa_bf16 weight_mib "$out")" \
            "$(val lisa_bf16 image_cosine_min "$out")" "$(val lisa_bf16 text_cosine "$out")"
    done
    echo "  (for text_latency_ms lower is better: a ratio below 1 means LISA is faster)"
    echo "-- the same LISA run with OPENBLAS_CORETYPE=Prescott (LISA links no BLAS; this shows it)"
    OPENBLAS_CORETYPE=Prescott "$build/bench/bench_clip" "$build/models/vit-b32" 2 | grep -E 'image_b|text7'
    sh bench/clip_rss.sh "$build" "$build/models/vit-b32" bf16
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

if [ -x "$build/bench/bench_caption" ] && "$py" -c "import numpy" 2>/dev/null; then
    echo "== BLIP captioner (blip-image-captioning-base shapes, random bf16 weights, 2 threads) =="
    [ -f "$build/models/blip-base-bf16/model.safetensors" ] ||
        "$py" tools/caption/make_tiny_blip.py --preset blip-base --dtype bf16 --out "$build/models/blip-base-bf16"
    out=$build/bench/caption.txt
    "$build/bench/bench_caption" "$build/models/blip-base-bf16" 2 "$runs" | tee "$out" | sed 's/^lisa /  lisa /'
    if "$py" -c "import torch" 2>/dev/null; then
        "$py" bench/ref/blip_torch_bench.py "$build/models/blip-base-bf16" "$runs" | tee -a "$out" | sed 's/^/  /'
        printf '  vision lisa/torch time %s (below 1: LISA is faster)\n' \
            "$(ratio "$(val lisa caption_vision_ms "$out")" "$(val torch caption_vision_ms "$out")")"
    fi
    [ -d tools/js/node_modules/onnxruntime-node ] || (cd tools/js && npm ci --ignore-scripts --no-audit --no-fund >/dev/null 2>&1)
    if [ -d tools/js/node_modules/onnxruntime-node ] && "$py" -c "import torch" 2>/dev/null; then
        [ -f "$build/models/blip-base-bf16/onnx/vision.onnx" ] ||
            "$py" tools/caption/export_onnx.py "$build/models/blip-base-bf16" >/dev/null
        node bench/ref/blip_ort_bench.mjs "$build/models/blip-base-bf16" --runs "$runs" | tee -a "$out" | sed 's/^/  /'
        printf '  vision lisa/ort time %s (target: <= 1.0; a whole beam-3 caption within ORT vision alone)\n' \
            "$(ratio "$(val lisa caption_vision_ms "$out")" "$(val ort caption_vision_ms "$out")")"
        printf '  beam-3 caption lisa / ort vision %s\n' \
            "$(ratio "$(val lisa caption_beam3_ms "$out")" "$(val ort caption_vision_ms "$out")")"
    fi
    echo "  (bf16 weights are converted to f32 at load)"
fi

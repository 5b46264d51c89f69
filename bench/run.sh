#!/bin/sh
# `make bench`: every benchmark, with the reference engines measured in the
# same run, and the ratios. Figures are medians; machines are noisy.
build=${1:-build}
runs=${BENCH_RUNS:-5}
py=/usr/bin/python3
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.2fx", a / b; else print "n/a" }'; }
val() { awk -v e="$1" -v k="$2" '$1 == e && $2 == k { print $3 }' "$3" | tail -1; }
# BENCH_ONLY=image|clip|siglip|search|caption|dupes runs one section (for a developer's rerun).
only() { [ -z "$BENCH_ONLY" ] || [ "$BENCH_ONLY" = "$1" ]; }

if only image; then
echo "== image pipeline =========================================================="
out=$build/bench/image.txt
"$build/bench/bench_image" "$runs" | tee "$out" | grep -v '^lisa '
fi
if only image && "$py" -c "import PIL, numpy" 2>/dev/null; then
    "$py" bench/image_ref.py "$runs" "$build"/bench/photo12mp_*.jpg >> "$out"
    printf '  PIL + numpy (HF CLIPImageProcessor steps), full decode  %7.2f images/s\n' "$(val pil prep_full_per_s "$out")"
    printf '  PIL + numpy with draft() DCT scaling                    %7.2f images/s\n' "$(val pil prep_draft_per_s "$out")"
    printf '  LISA / PIL: full %s, DCT-scaled %s\n' \
        "$(ratio "$(val lisa prep_full_per_s "$out")" "$(val pil prep_full_per_s "$out")")" \
        "$(ratio "$(val lisa prep_dct_per_s "$out")" "$(val pil prep_draft_per_s "$out")")"
fi

if only clip && [ -x "$build/bench/bench_clip" ]; then
    echo "== CLIP engine (random weights in HF layout, 2 threads) ======================"
    [ -d tools/js/node_modules/onnxruntime-node ] || (cd tools/js && npm ci --ignore-scripts --no-audit --no-fund >/dev/null 2>&1)
    # ViT-B/32 always; B/16 and L/14 (batch 8 only) with BENCH_LARGE=1: L/14 is 1.7 GB to generate and export,
    # and torch + ORT + three LISA precisions at batch 8 take several minutes more on 2 cores.
    # BENCH_PRESETS="vit-b16" reruns the named ones only.
    for preset in ${BENCH_PRESETS:-vit-b32 ${BENCH_LARGE:+vit-b16 vit-l14}}; do
        out=$build/bench/clip-$preset.txt
        echo "-- $preset"
        sh bench/clip_refs.sh "$build" "$runs" "$preset" > "$out" || exit 1
        "$build/bench/bench_clip" "$build/models/$preset" 2 | sed 's/ text7_ms / text_latency_ms /' >> "$out"
        # ORT again after LISA; its better figure of the two runs is the one compared (ORT's medians
        # moved by up to 1.3x between runs minutes apart on this machine).
        if [ -f "$build/models/$preset/onnx/vision.onnx" ] && [ -d tools/js/node_modules/onnxruntime-node ]; then
            node bench/ref/ort_bench.mjs "$build/models/$preset" --runs "$runs" > "$out.ort2" 2>/dev/null &&
                awk 'NR == FNR { if ($1 == "ort") a[$2] = $3; next }
                     $1 == "ort" && ($2 in a) { b = a[$2]; v = $3
                         best = ($2 ~ /_ms$/) ? (v < b ? v : b) : (v > b ? v : b); print "ort", $2, best }' \
                    "$out" "$out.ort2" >> "$out"
        fi
        keys="image_b1_per_s image_b8_per_s text_latency_ms"
        [ "$preset" = vit-b32 ] || keys=image_b8_per_s
        for k in $keys; do
            printf '  %-16s fp32 %7s  bf16 %7s  int8 %7s  ort %7s  torch %7s   /ort: fp32 %s bf16 %s int8 %s  fp32/torch %s\n' \
                "$k" "$(val lisa $k "$out")" "$(val lisa_bf16 $k "$out")" "$(val lisa_int8 $k "$out")" \
                "$(val ort $k "$out")" "$(val torch $k "$out")" \
                "$(ratio "$(val lisa $k "$out")" "$(val ort $k "$out")")" \
                "$(ratio "$(val lisa_bf16 $k "$out")" "$(val ort $k "$out")")" \
                "$(ratio "$(val lisa_int8 $k "$out")" "$(val ort $k "$out")")" \
                "$(ratio "$(val lisa $k "$out")" "$(val torch $k "$out")")"
        done
        printf '  kernels fp32 %s, bf16 %s, int8 %s: batch 8 at %s / %s / %s GFLOP/s; estimated fp32 peak %s\n' \
            "$(val lisa kernel "$out")" "$(val lisa_bf16 kernel "$out")" "$(val lisa_int8 kernel "$out")" \
            "$(val lisa gflops_b8 "$out")" "$(val lisa_bf16 gflops_b8 "$out")" "$(val lisa_int8 gflops_b8 "$out")" \
            "$(val lisa peak_gflops_est "$out")"
        echo "    (peak: 2 FMA ports x fp32 width x 2 x clock x threads; VDPBF16PS doubles it, VPDPBUSD quadruples it)"
        if [ -x "$build/bench/bench_gemm" ]; then
            pk=$("$build/bench/bench_gemm" --peak)
            pf=$(echo "$pk" | awk '$3 == "fp32" && $4 == "avx512f" { print $6 }')
            [ -n "$pf" ] || pf=$(echo "$pk" | awk '$3 == "fp32" { print $6; exit }')
            pb=$(echo "$pk" | awk '$3 == "bf16" { print $6 }')
            pi=$(echo "$pk" | awk '$3 == "int8" { print $6 }')
            echo "    measured one-thread peaks (16 independent chains of the instruction): fp32 ${pf:-?}, bf16 ${pb:-n/a}, int8 ${pi:-n/a} GFLOP/s;"
            awk -v f="$pf" -v b="$pb" -v i="$pi" -v gf="$(val lisa gflops_b8 "$out")" -v gb="$(val lisa_bf16 gflops_b8 "$out")" \
                -v gi="$(val lisa_int8 gflops_b8 "$out")" 'BEGIN {
                    printf "    batch 8 on 2 threads reaches %.0f%% / %s / %s of them\n", 100 * gf / (2 * f),
                        b ? sprintf("%.0f%%", 100 * gb / (2 * b)) : "n/a", i ? sprintf("%.0f%%", 100 * gi / (2 * i)) : "n/a" }'
        fi
        printf '  weights %s / %s / %s MiB; cosine to fp32: bf16 images >= %s text %s (bar 0.999), int8 images >= %s text %s (bar 0.995)\n' \
            "$(val lisa weight_mib "$out")" "$(val lisa_bf16 weight_mib "$out")" "$(val lisa_int8 weight_mib "$out")" \
            "$(val lisa_bf16 image_cosine_min "$out")" "$(val lisa_bf16 text_cosine "$out")" \
            "$(val lisa_int8 image_cosine_min "$out")" "$(val lisa_int8 text_cosine "$out")"
    done
    echo "  (for text_latency_ms lower is better: a ratio below 1 means LISA is faster)"
    echo "-- the same LISA run with OPENBLAS_CORETYPE=Prescott (LISA links no BLAS; this shows it)"
    OPENBLAS_CORETYPE=Prescott "$build/bench/bench_clip" "$build/models/vit-b32" 2 | grep -E 'image_b|text7'
    if [ -x "$build/bench/bench_gemm" ]; then
        echo "-- GEMM kernels alone (one thread, thread CPU time, GFLOP/s; int8 counts a multiply-add as 2 too)"
        "$build/bench/bench_gemm" "$runs" | sed 's/^gemm /  /'
    fi
    sh bench/clip_rss.sh "$build" "$build/models/vit-b32" bf16
    sh bench/clip_rss.sh "$build" "$build/models/vit-b32" int8
fi

if only siglip && [ -x "$build/bench/bench_siglip" ]; then
    echo "== SigLIP engine (siglip-base-patch16-224 shapes, random weights, 2 threads)"
    out=$build/bench/siglip.txt
    sh bench/siglip_refs.sh "$build" "$runs" > "$out" || exit 1
    "$build/bench/bench_siglip" "$build/models/siglip-b16" 2 >> "$out"
    for k in image_b1_per_s image_b8_per_s text_latency_ms; do
        printf '  %-16s fp32 %8s  bf16 %8s  ort %8s   /ort: fp32 %s bf16 %s\n' "$k" "$(val lisa $k "$out")" \
            "$(val lisa_bf16 $k "$out")" "$(val ort $k "$out")" \
            "$(ratio "$(val lisa $k "$out")" "$(val ort $k "$out")")" \
            "$(ratio "$(val lisa_bf16 $k "$out")" "$(val ort $k "$out")")"
    done
    printf '  kernels: fp32 %s, bf16 %s\n' "$(val lisa kernel "$out")" "$(val lisa_bf16 kernel "$out")"
    echo "  (for text_latency_ms lower is better: a ratio below 1 means LISA is faster)"
    printf '  bf16 (%s) cosine to fp32: images >= %s, text %s (bar: >= 0.999)\n' "$(val lisa_bf16 precision "$out")" \
        "$(val lisa_bf16 image_cosine_min "$out")" "$(val lisa_bf16 text_cosine "$out")"
fi

if only search && [ -x "$build/bench/bench_search" ]; then
    echo "== search (exact scans, FAISS IVF ANN, FTS5 bm25, 2 threads) =============="
    echo "  (10k + 100k about 1 minute; 1M about 17 more minutes and 5.6 GB resident the first time, store and"
    echo "   index kept in $build/bench/ann2-*; BENCH_SIZES=10000,100000 skips 1M)"
    out=$build/bench/search.txt
    "$build/bench/bench_search" 200 "$build/models/vit-b32" | tee "$out" | grep -v '^lisa '
    echo "-- issue 15 targets (p50 / p99 ms)"
    printf '  1M ANN %s / %s (<= 5 / <= 15), recall@20 %s (>= 0.97), query-process RSS %s MB (<= 1200)\n' \
        "$(val lisa ann_p50_ms_1000k "$out")" "$(val lisa ann_p99_ms_1000k "$out")" \
        "$(val lisa ann_recall20_1000k "$out")" "$(val lisa ann_rss_mb_1000k "$out")"
    printf '  100k exact fp16 %s (p50 <= 4); 100k ANN %s / %s, recall@20 %s\n' \
        "$(val lisa exact_fp16_p50_ms_100k "$out")" "$(val lisa ann_p50_ms_100k "$out")" \
        "$(val lisa ann_p99_ms_100k "$out")" "$(val lisa ann_recall20_100k "$out")"
fi

if only caption && [ -x "$build/bench/bench_caption" ] && "$py" -c "import numpy" 2>/dev/null; then
    echo "== BLIP captioner (blip-image-captioning-base shapes, random bf16 weights, 2 threads) =="
    mdir=$build/models/blip-base-bf16
    [ -f "$mdir/model.safetensors" ] ||
        "$py" tools/caption/make_tiny_blip.py --preset blip-base --dtype bf16 --out "$mdir"
    out=$build/bench/caption.txt
    echo "lisa loadavg_start $(cut -d' ' -f1 /proc/loadavg)" > "$out"
    have_ort=
    [ -d tools/js/node_modules/onnxruntime-node ] || (cd tools/js && npm ci --ignore-scripts --no-audit --no-fund >/dev/null 2>&1)
    if [ -d tools/js/node_modules/onnxruntime-node ] && "$py" -c "import torch" 2>/dev/null; then
        [ -f "$mdir/onnx/vision.onnx" ] || "$py" tools/caption/export_onnx.py "$mdir" >/dev/null
        [ -f "$mdir/onnx/vision.onnx" ] && have_ort=1
    fi
    # Interleaved: ORT, LISA fp32, bf16 and int8, torch, ORT again (the ORT figure is the
    # better of its two medians), so that load changes hit every engine alike.
    [ -n "$have_ort" ] && node bench/ref/blip_ort_bench.mjs "$mdir" --runs "$runs" >> "$out"
    "$build/bench/bench_caption" "$mdir" 2 "$runs" fp32 >> "$out"
    "$build/bench/bench_caption" "$mdir" 2 "$runs" bf16 >> "$out"
    "$build/bench/bench_caption" "$mdir" 2 "$runs" int8 >> "$out"
    "$py" -c "import torch" 2>/dev/null && "$py" bench/ref/blip_torch_bench.py "$mdir" "$runs" >> "$out"
    [ -n "$have_ort" ] && node bench/ref/blip_ort_bench.mjs "$mdir" --runs "$runs" >> "$out"
    echo "lisa loadavg_end $(cut -d' ' -f1 /proc/loadavg)" >> "$out"
    ort=$(awk '$1 == "ort" && $2 == "caption_vision_ms" { if (m == "" || $3 < m) m = $3 } END { print m }' "$out")
    torch=$(val torch caption_vision_ms "$out")
    printf '  %-22s %10s %10s %10s %10s %10s\n' "median ms" lisa_fp32 lisa_bf16 lisa_int8 ort torch
    for k in vision greedy_kv greedy_decode greedy beam3_kv beam3_decode beam3; do
        printf '  %-22s %10s %10s %10s %10s %10s\n' "caption_$k" "$(val lisa_fp32 caption_${k}_ms "$out")" \
            "$(val lisa_bf16 caption_${k}_ms "$out")" "$(val lisa_int8 caption_${k}_ms "$out")" \
            "$([ $k = vision ] && echo "$ort")" "$([ $k = vision ] && echo "$torch")"
    done
    for p in fp32 bf16 int8; do
        printf '  %s: vision lisa/ort %s, lisa/torch %s; whole beam-3 caption / ort vision %s (target <= 1.0), greedy %s\n' \
            "$p" "$(ratio "$(val lisa_$p caption_vision_ms "$out")" "$ort")" \
            "$(ratio "$(val lisa_$p caption_vision_ms "$out")" "$torch")" \
            "$(ratio "$(val lisa_$p caption_beam3_ms "$out")" "$ort")" \
            "$(ratio "$(val lisa_$p caption_greedy_ms "$out")" "$ort")"
        printf '  %s: peak RSS %s MiB (target <= 700 MiB in bf16), packed weights %s MiB; CPU ms vision %s, beam-3 caption %s\n' \
            "$p" "$(val lisa_$p peak_rss_mib "$out")" "$(val lisa_$p weight_mib "$out")" \
            "$(val lisa_$p caption_vision_cpu_ms "$out")" "$(val lisa_$p caption_beam3_cpu_ms "$out")"
    done
    echo "  (time ratios: below 1 means LISA is faster; load average $(val lisa loadavg_start "$out") at the start, $(val lisa loadavg_end "$out") at the end)"
fi

if only dupes; then
    echo "== duplicates (generated set: resize, JPEG q35, 5-10% crop) ================"
    sh bench/dupes/bench.sh "$build" "$runs"
fi

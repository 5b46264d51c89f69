#!/bin/sh
# Reference speeds for the CLIP engine on real ViT-B/32 shapes (random weights):
# PyTorch (Debian torch + OpenBLAS, 2 threads) and ONNX Runtime (onnxruntime-node,
# CPU, 2 intra-op threads). Builds $1/models/vit-b32 (f32) and its ONNX export when
# missing, then prints machine-readable lines:
#   torch image_b1_per_s X   torch image_b8_per_s X   torch text_latency_ms X
#   ort   image_b1_per_s X   ort   image_b8_per_s X   ort   text_latency_ms X
# Usage: sh bench/clip_refs.sh [BUILD] [RUNS] [PRESET] (vit-b32, vit-b16, vit-l14). A missing torch or node/onnxruntime
# skips that engine with a note on stderr (exit 0), so `make bench` still runs.
build=${1:-build}
runs=${2:-10}
preset=${3:-vit-b32}
py=/usr/bin/python3
dir="$build/models/$preset"
if [ ! -f "$dir/model.safetensors" ] || [ ! -f "$dir/config.json" ]; then
    echo "clip_refs: generating $dir" >&2
    "$py" tools/clip/make_tiny_clip.py --preset "$preset" --dtype f32 --out "$dir" || exit 1
fi
have_torch=1
"$py" -c "import torch" 2>/dev/null || { have_torch=0; echo "clip_refs: no torch, skipping torch and ONNX export" >&2; }
if [ $have_torch = 1 ] && { [ ! -f "$dir/onnx/vision.onnx" ] || [ ! -f "$dir/onnx/text.onnx" ]; }; then
    echo "clip_refs: exporting ONNX to $dir/onnx" >&2
    "$py" tools/clip/export_onnx.py "$dir" >/dev/null 2>"$build/clip_refs_export.log" \
        || { echo "clip_refs: ONNX export failed, see $build/clip_refs_export.log" >&2; exit 1; }
fi
if [ $have_torch = 1 ]; then
    "$py" bench/ref/torch_bench.py "$dir" --runs "$runs" --threads 2 || exit 1
fi
if command -v node >/dev/null 2>&1 && [ -d tools/js/node_modules/onnxruntime-node ] \
   && [ -f "$dir/onnx/vision.onnx" ]; then
    node bench/ref/ort_bench.mjs "$dir" --runs "$runs" || exit 1
else
    echo "clip_refs: no node/onnxruntime-node or ONNX files, skipping ort" >&2
fi
exit 0

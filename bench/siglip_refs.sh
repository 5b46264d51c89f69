#!/bin/sh
# ONNX Runtime reference for the SigLIP engine on google/siglip-base-patch16-224's
# shapes (random weights, tools/siglip/make_tiny_siglip.py --preset siglip-b16):
# builds $1/models/siglip-b16 and its ONNX export (tools/siglip/export_onnx.py, from
# the PyTorch reference) when missing, then prints
#   ort image_b1_per_s X   ort image_b8_per_s X   ort text_latency_ms X
# (onnxruntime-node, CPU, 2 intra-op threads; text = the 64-id padded row).
# Usage: sh bench/siglip_refs.sh [BUILD] [RUNS]. No torch or no node: skipped with a note.
build=${1:-build}
runs=${2:-10}
py=/usr/bin/python3
dir="$build/models/siglip-b16"
if [ ! -f "$dir/model.safetensors" ] || [ ! -f "$dir/config.json" ]; then
    echo "siglip_refs: generating $dir" >&2
    "$py" tools/siglip/make_tiny_siglip.py --preset siglip-b16 --dtype f32 --out "$dir" || exit 1
fi
if "$py" -c "import torch" 2>/dev/null && { [ ! -f "$dir/onnx/vision.onnx" ] || [ ! -f "$dir/onnx/text.onnx" ]; }; then
    echo "siglip_refs: exporting ONNX to $dir/onnx" >&2
    "$py" tools/siglip/export_onnx.py "$dir" >/dev/null 2>"$build/siglip_refs_export.log" \
        || { echo "siglip_refs: ONNX export failed, see $build/siglip_refs_export.log" >&2; exit 1; }
fi
if command -v node >/dev/null 2>&1 && [ -d tools/js/node_modules/onnxruntime-node ] \
   && [ -f "$dir/onnx/vision.onnx" ]; then
    node bench/ref/ort_bench.mjs "$dir" --runs "$runs" || exit 1
else
    echo "siglip_refs: no node/onnxruntime-node or ONNX files, skipping ort" >&2
fi
exit 0

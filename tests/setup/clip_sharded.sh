#!/bin/sh
# Writes $1/models/tiny-a-sharded: tiny-a (made by clip_models.sh, which runs
# before this script) as a sharded Hugging Face checkpoint, the layout large
# models ship in: model.safetensors.index.json plus three shard files
# model-0000K-of-00003.safetensors. The split is done here in plain Python
# (json + bytes, no C code involved), so tests/test_checkpoint.c can require
# the sharded model to give tiny-a's goldens.
#
# Tensors go round-robin over the shards in name order, so every shard holds
# tensors of both towers and no shard is a contiguous slice of the original.
# The raw bytes of each tensor are copied unchanged (same dtype, same values).
build=${1:-build}
src="$build/models/tiny-a"
dst="$build/models/tiny-a-sharded"
py=/usr/bin/python3
[ -f "$src/model.safetensors" ] || { echo "clip_sharded: no $src/model.safetensors (run clip_models.sh)" >&2; exit 1; }
if [ -f "$dst/model.safetensors.index.json" ] && [ "$dst/model.safetensors.index.json" -nt "$src/model.safetensors" ]; then
    exit 0
fi
rm -rf "$dst.tmp" && mkdir -p "$dst.tmp" || exit 1
for f in config.json preprocessor_config.json tokenizer.json; do
    cp "$src/$f" "$dst.tmp/$f" || exit 1
done
"$py" - "$src/model.safetensors" "$dst.tmp" <<'EOF' || { echo "clip_sharded: splitting failed" >&2; exit 1; }
import json, os, sys

NSHARDS = 3
src, out = sys.argv[1], sys.argv[2]
with open(src, "rb") as f:
    blob = f.read()
hlen = int.from_bytes(blob[:8], "little")
header = json.loads(blob[8:8 + hlen])
data = blob[8 + hlen:]
header.pop("__metadata__", None)
names = sorted(header)
shards = [dict() for _ in range(NSHARDS)]
for i, name in enumerate(names):
    shards[i % NSHARDS][name] = header[name]

weight_map, total = {}, 0
for k, tensors in enumerate(shards):
    fname = "model-%05d-of-%05d.safetensors" % (k + 1, NSHARDS)
    head, chunks, off = {"__metadata__": {"format": "pt"}}, [], 0
    for name in sorted(tensors, reverse=True):  # another order than the original file
        t = tensors[name]
        a, b = t["data_offsets"]
        chunks.append(data[a:b])
        head[name] = {"dtype": t["dtype"], "shape": t["shape"], "data_offsets": [off, off + (b - a)]}
        off += b - a
        weight_map[name] = fname
        total += b - a
    hb = json.dumps(head, separators=(",", ":")).encode()
    hb += b" " * ((8 - len(hb) % 8) % 8)
    with open(os.path.join(out, fname), "wb") as f:
        f.write(len(hb).to_bytes(8, "little") + hb + b"".join(chunks))
index = {"metadata": {"total_size": total}, "weight_map": dict(sorted(weight_map.items()))}
with open(os.path.join(out, "model.safetensors.index.json"), "w") as f:
    json.dump(index, f, indent=2)
    f.write("\n")
EOF
rm -rf "$dst" && mv "$dst.tmp" "$dst"

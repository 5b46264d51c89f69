#!/bin/sh
# Fault script: broken model dirs made from BUILD/models/tiny-a, each loaded
# by `lisa embed`; each must fail with a clear message naming the file (and
# the tensor where there is one), never crash. Prints every message.
#   sh tests/faults/bad_models.sh [BUILD]
build=${1:-build}
lisa=$build/lisa; src=$build/models/tiny-a
[ -x "$lisa" ] && [ -d "$src" ] || { echo "bad_models: needs $lisa and $src"; exit 2; }
work=$(mktemp -d "${TMPDIR:-/tmp}/lisa-bad-models-XXXXXX") || exit 2
trap 'rm -rf "$work"' EXIT
bad=0
mk() { rm -rf "$work/$1" && cp -r "$src" "$work/$1"; }
st="$work/%s/model.safetensors"
# case NAME EXPECT-IN-MESSAGE EMBED-ARGS: runs lisa embed on $work/NAME.
case_() {
    name=$1 want=$2; shift 2
    out=$("$lisa" embed --model "$work/$name" "$@" 2>&1); rc=$?
    if [ $rc -ne 0 ] && [ $rc -lt 128 ] && printf '%s' "$out" | grep -q -- "$want"; then
        echo "ok   $name: $out"
    else
        echo "FAIL $name (exit $rc, wanted '$want'): $out"; bad=$((bad + 1))
    fi
}
py() { python3 - "$@"; }

mk truncated; f=$(printf "$st" truncated); n=$(stat -c %s "$f"); truncate -s $((n / 2)) "$f"
case_ truncated model.safetensors --text hi
mk header-huge; py "$(printf "$st" header-huge)" <<'P'
import sys; f=open(sys.argv[1], "r+b"); f.write((1 << 62).to_bytes(8, "little"))
P
case_ header-huge model.safetensors --text hi
mk header-past-end; py "$(printf "$st" header-past-end)" <<'P'
import os, sys; p=sys.argv[1]; f=open(p, "r+b"); f.write((os.path.getsize(p) + 8).to_bytes(8, "little"))
P
case_ header-past-end model.safetensors --text hi
mk wrong-shape; py "$(printf "$st" wrong-shape)" <<'P'
import json, sys
p = sys.argv[1]; b = open(p, "rb").read(); n = int.from_bytes(b[:8], "little"); h = json.loads(b[8:8 + n])
t = h["text_model.final_layer_norm.weight"]; a, e = t["data_offsets"]; t["shape"] = [(e - a) // 8, 2]
hb = json.dumps(h, separators=(",", ":")).encode(); assert len(hb) <= n; hb += b" " * (n - len(hb))
open(p, "wb").write(b[:8] + hb + b[8 + n:])
P
case_ wrong-shape text_model.final_layer_norm.weight --text hi
mk bad-offsets; py "$(printf "$st" bad-offsets)" <<'P'
import json, sys
p = sys.argv[1]; b = open(p, "rb").read(); n = int.from_bytes(b[:8], "little"); h = json.loads(b[8:8 + n])
t = h["text_projection.weight"]; a, e = t["data_offsets"]; t["data_offsets"] = [a, e + 10 ** 9]
hb = json.dumps(h, separators=(",", ":")).encode(); assert len(hb) <= n; hb += b" " * (n - len(hb))
open(p, "wb").write(b[:8] + hb + b[8 + n:])
P
case_ bad-offsets text_projection.weight --text hi
mk missing-tensor; py "$(printf "$st" missing-tensor)" <<'P'
import json, sys
p = sys.argv[1]; b = open(p, "rb").read(); n = int.from_bytes(b[:8], "little"); h = json.loads(b[8:8 + n])
h["visual_projection.weightX"] = h.pop("visual_projection.weight")
hb = json.dumps(h, separators=(",", ":")).encode(); assert len(hb) <= n; hb += b" " * (n - len(hb))
open(p, "wb").write(b[:8] + hb + b[8 + n:])
P
case_ missing-tensor visual_projection.weight --text hi
mk no-tokenizer; rm "$work/no-tokenizer/tokenizer.json"
case_ no-tokenizer tokenizer --text hi
mk bad-tokenizer; printf '{"model": {"type": "BPE", "vocab": {' > "$work/bad-tokenizer/tokenizer.json"
case_ bad-tokenizer tokenizer.json --text hi
mk no-config; rm "$work/no-config/config.json"
case_ no-config config.json --text hi
mk config-dir; rm "$work/config-dir/config.json"; mkdir "$work/config-dir/config.json"
case_ config-dir config.json --text hi
mk config-dev; rm "$work/config-dev/config.json"; ln -s /dev/zero "$work/config-dev/config.json"
case_ config-dev config.json --text hi
mk no-weights; rm "$work/no-weights/model.safetensors"
case_ no-weights model.safetensors --text hi
echo "bad_models: $bad failed"
[ $bad -eq 0 ]

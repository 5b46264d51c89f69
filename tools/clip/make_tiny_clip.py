#!/usr/bin/python3
"""Writes a random-weight CLIP model directory in the Hugging Face CLIPModel layout.

NUMPY ONLY (used by `make test` through tests/setup/clip_models.sh), deterministic:
the same preset and dtype give a bit-identical model.safetensors on any machine.

  /usr/bin/python3 tools/clip/make_tiny_clip.py --preset tiny-a --dtype f32 --out DIR

Output files: config.json, model.safetensors, preprocessor_config.json, tokenizer.json.

Random values: a counter-based splitmix64 stream per tensor (seed = preset seed
mixed with an FNV-1a hash of the tensor name), turned into uniforms in [0, 1) with
53-bit precision and scaled with exact IEEE float64 operations only (no log/cos,
whose SIMD implementations may differ between CPUs), then rounded to float32.
F16 is numpy's round-to-nearest-even cast of those float32 values; BF16 is the
round-to-nearest-even truncation of the float32 bits, done here.

Scales: linear weights are uniform with std 1/sqrt(fan_in) (not HF's 0.02) and
embeddings have std 0.5/0.25, so attention is peaky and every path (mask, GELU
flavour, layer norms, EOS pooling) measurably changes the output. Layer norm
weights are 1 + noise, biases are small nonzero.
"""
import argparse
import json
import math
import os
import shutil
import sys

import numpy as np

M64 = (1 << 64) - 1

PRESETS = {
    "tiny-a": dict(seed=0x11A, act="quick_gelu", eps=1e-5, eos=2,
                   text=(64, 4, 2, 256), vision=(96, 4, 2, 384),
                   patch=32, image=64, proj=48),
    "tiny-b": dict(seed=0x11B, act="gelu", eps=1e-5, eos=49407,
                   text=(48, 3, 3, 160), vision=(80, 5, 2, 200),
                   patch=16, image=64, proj=32),
    "tiny-c": dict(seed=0x11C, act="quick_gelu", eps=1e-5, eos=49407,
                   text=(32, 2, 1, 96), vision=(56, 7, 2, 136),
                   patch=14, image=84, proj=24),
    "vit-b32": dict(seed=0xB32, act="quick_gelu", eps=1e-5, eos=2,
                    text=(512, 8, 12, 2048), vision=(768, 12, 12, 3072),
                    patch=32, image=224, proj=512),
    "vit-b16": dict(seed=0xB16, act="quick_gelu", eps=1e-5, eos=2,
                    text=(512, 8, 12, 2048), vision=(768, 12, 12, 3072),
                    patch=16, image=224, proj=512),
    "vit-l14": dict(seed=0x114, act="quick_gelu", eps=1e-5, eos=2,
                    text=(768, 12, 12, 3072), vision=(1024, 16, 24, 4096),
                    patch=14, image=224, proj=768),
}

CLIP_MEAN = [0.48145466, 0.4578275, 0.40821073]
CLIP_STD = [0.26862954, 0.26130258, 0.27577711]
VOCAB = 49408
MAXPOS = 77


def fnv1a64(s):
    h = 0xCBF29CE484222325
    for b in s.encode("utf-8"):
        h = ((h ^ b) * 0x100000001B3) & M64
    return h


def uniforms(seed, n):
    """n float64 uniforms in [0, 1): splitmix64 of seed + (i+1)*golden, exact uint64 math."""
    with np.errstate(over="ignore"):
        idx = np.arange(1, n + 1, dtype=np.uint64)
        z = np.uint64(seed) + idx * np.uint64(0x9E3779B97F4A7C15)
        z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        z = z ^ (z >> np.uint64(31))
    return (z >> np.uint64(11)).astype(np.float64) * (1.0 / 9007199254740992.0)


def inv_sqrt(n):
    """1/sqrt(n) with two correctly rounded IEEE operations (pow may differ across libms)."""
    return 1.0 / math.sqrt(n)


def rand(seed, name, shape, std, mean=0.0):
    """Uniform values with the given mean and std (half-width std*sqrt(3)), float32."""
    n = int(np.prod(shape))
    u = uniforms(seed ^ fnv1a64(name), n)
    half = std * 1.7320508075688772
    return (mean + (u * 2.0 - 1.0) * half).astype(np.float32).reshape(shape)


def build_tensors(p):
    seed = p["seed"]
    t = {}

    def lin(name, out_f, in_f, bias=True):
        t[name + ".weight"] = rand(seed, name + ".weight", (out_f, in_f), inv_sqrt(in_f))
        if bias:
            t[name + ".bias"] = rand(seed, name + ".bias", (out_f,), 0.02)

    def ln(name, dim):
        t[name + ".weight"] = rand(seed, name + ".weight", (dim,), 0.1, 1.0)
        t[name + ".bias"] = rand(seed, name + ".bias", (dim,), 0.05)

    def encoder(prefix, width, inter, layers):
        for i in range(layers):
            lp = "%s.encoder.layers.%d." % (prefix, i)
            for pr in ("q_proj", "k_proj", "v_proj", "out_proj"):
                lin(lp + "self_attn." + pr, width, width)
            ln(lp + "layer_norm1", width)
            ln(lp + "layer_norm2", width)
            lin(lp + "mlp.fc1", inter, width)
            lin(lp + "mlp.fc2", width, inter)

    tw, _, tl, ti = p["text"]
    vw, _, vl, vi = p["vision"]
    ps, img = p["patch"], p["image"]
    npos = (img // ps) ** 2 + 1

    t["text_model.embeddings.token_embedding.weight"] = rand(
        seed, "text_model.embeddings.token_embedding.weight", (VOCAB, tw), 0.5)
    t["text_model.embeddings.position_embedding.weight"] = rand(
        seed, "text_model.embeddings.position_embedding.weight", (MAXPOS, tw), 0.25)
    t["text_model.embeddings.position_ids"] = np.arange(MAXPOS, dtype=np.int64).reshape(1, MAXPOS)
    encoder("text_model", tw, ti, tl)
    ln("text_model.final_layer_norm", tw)

    t["vision_model.embeddings.class_embedding"] = rand(
        seed, "vision_model.embeddings.class_embedding", (vw,), 0.5)
    t["vision_model.embeddings.patch_embedding.weight"] = rand(
        seed, "vision_model.embeddings.patch_embedding.weight", (vw, 3, ps, ps),
        inv_sqrt(3 * ps * ps))
    t["vision_model.embeddings.position_embedding.weight"] = rand(
        seed, "vision_model.embeddings.position_embedding.weight", (npos, vw), 0.25)
    t["vision_model.embeddings.position_ids"] = np.arange(npos, dtype=np.int64).reshape(1, npos)
    ln("vision_model.pre_layrnorm", vw)
    encoder("vision_model", vw, vi, vl)
    ln("vision_model.post_layernorm", vw)

    lin("visual_projection", p["proj"], vw, bias=False)
    lin("text_projection", p["proj"], tw, bias=False)
    t["logit_scale"] = np.array(2.6592, dtype=np.float32)
    return t


def to_bf16_bits(a):
    """float32 -> bfloat16 bit patterns (uint16), round to nearest even; NaN kept quiet."""
    b = np.ascontiguousarray(a, dtype=np.float32).view(np.uint32)
    r = ((b + np.uint32(0x7FFF) + ((b >> np.uint32(16)) & np.uint32(1))) >> np.uint32(16))
    r = np.where((b & np.uint32(0x7FFFFFFF)) > np.uint32(0x7F800000),
                 (b >> np.uint32(16)) | np.uint32(0x40), r)
    return r.astype("<u2")


# safetensors dtype order (the Rust writer sorts by dtype descending, then by name)
DTYPE_RANK = {"F16": 7, "BF16": 8, "F32": 11, "I64": 13}


def encode(arr, dtype):
    """-> (safetensors dtype string, little-endian bytes)."""
    if arr.dtype == np.int64:
        return "I64", arr.astype("<i8").tobytes()
    if dtype == "f32":
        return "F32", arr.astype("<f4").tobytes()
    if dtype == "f16":
        return "F16", arr.astype("<f2").tobytes()
    if dtype == "bf16":
        return "BF16", to_bf16_bits(arr).tobytes()
    raise ValueError(dtype)


def write_safetensors(path, tensors, dtype):
    items = []
    for name, arr in tensors.items():
        dt, data = encode(arr, dtype)
        items.append((name, dt, list(arr.shape), data))
    items.sort(key=lambda it: (-DTYPE_RANK[it[1]], it[0]))
    header = {"__metadata__": {"format": "pt"}}
    off = 0
    for name, dt, shape, data in items:
        header[name] = {"dtype": dt, "shape": shape, "data_offsets": [off, off + len(data)]}
        off += len(data)
    hb = json.dumps(header, separators=(",", ":")).encode("utf-8")
    hb += b" " * ((8 - len(hb) % 8) % 8)
    tmp = path + ".tmp"
    with open(tmp, "wb") as f:
        f.write(len(hb).to_bytes(8, "little"))
        f.write(hb)
        for _, _, _, data in items:
            f.write(data)
    os.replace(tmp, path)


def make_config(name, p):
    tw, th, tl, ti = p["text"]
    vw, vh, vl, vi = p["vision"]
    text = {
        "model_type": "clip_text_model",
        "hidden_size": tw, "intermediate_size": ti, "num_attention_heads": th,
        "num_hidden_layers": tl, "hidden_act": p["act"], "layer_norm_eps": p["eps"],
        "max_position_embeddings": MAXPOS, "vocab_size": VOCAB,
        "bos_token_id": 49406 if p["eos"] != 2 else 0,
        "eos_token_id": p["eos"], "pad_token_id": 1,
        "projection_dim": p["proj"], "attention_dropout": 0.0, "dropout": 0.0,
        "initializer_factor": 1.0, "initializer_range": 0.02,
    }
    vision = {
        "model_type": "clip_vision_model",
        "hidden_size": vw, "intermediate_size": vi, "num_attention_heads": vh,
        "num_hidden_layers": vl, "hidden_act": p["act"], "layer_norm_eps": p["eps"],
        "image_size": p["image"], "patch_size": p["patch"], "num_channels": 3,
        "projection_dim": p["proj"], "attention_dropout": 0.0, "dropout": 0.0,
        "initializer_factor": 1.0, "initializer_range": 0.02,
    }
    return {
        "_name_or_path": "lisa/%s" % name,
        "architectures": ["CLIPModel"],
        "model_type": "clip",
        "initializer_factor": 1.0,
        "logit_scale_init_value": 2.6592,
        "projection_dim": p["proj"],
        "text_config": text,
        "vision_config": vision,
        "torch_dtype": "float32",
        "transformers_version": "4.40.0",
    }


def make_preprocessor(p):
    n = p["image"]
    return {
        "crop_size": {"height": n, "width": n},
        "do_center_crop": True,
        "do_convert_rgb": True,
        "do_normalize": True,
        "do_rescale": True,
        "do_resize": True,
        "image_mean": CLIP_MEAN,
        "image_processor_type": "CLIPImageProcessor",
        "image_std": CLIP_STD,
        "resample": 3,
        "rescale_factor": 0.00392156862745098,
        "size": {"shortest_edge": n},
    }


def main(argv):
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--preset", required=True, choices=sorted(PRESETS))
    ap.add_argument("--dtype", default="f32", choices=["f32", "f16", "bf16"])
    ap.add_argument("--out", required=True)
    ap.add_argument("--tokenizer",
                    default=os.path.join(root, "tests", "data", "tokenizer", "clip",
                                         "tokenizer.json"))
    a = ap.parse_args(argv)
    p = PRESETS[a.preset]
    if not os.path.isfile(a.tokenizer):
        sys.stderr.write("make_tiny_clip: tokenizer not found: %s\n" % a.tokenizer)
        return 1
    os.makedirs(a.out, exist_ok=True)
    cfg = make_config(a.preset, p)
    cfg["torch_dtype"] = {"f32": "float32", "f16": "float16", "bf16": "bfloat16"}[a.dtype]
    with open(os.path.join(a.out, "config.json"), "w") as f:
        json.dump(cfg, f, indent=2)
        f.write("\n")
    with open(os.path.join(a.out, "preprocessor_config.json"), "w") as f:
        json.dump(make_preprocessor(p), f, indent=2)
        f.write("\n")
    shutil.copyfile(a.tokenizer, os.path.join(a.out, "tokenizer.json"))
    write_safetensors(os.path.join(a.out, "model.safetensors"), build_tensors(p), a.dtype)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

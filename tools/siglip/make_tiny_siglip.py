#!/usr/bin/python3
"""Writes a random-weight SigLIP model directory in the Hugging Face SiglipModel layout.

NUMPY ONLY (used by `make test` through tests/setup/siglip_models.sh), deterministic:
the same preset and dtype give a bit-identical model.safetensors on any machine
(random values, dtype casts and the safetensors writer are tools/clip/make_tiny_clip.py's).

  /usr/bin/python3 tools/siglip/make_tiny_siglip.py --preset siglip-a --dtype f32 --out DIR

Output: config.json (SiglipConfig: text_config / vision_config), model.safetensors,
preprocessor_config.json (SiglipImageProcessor), tokenizer.json + tokenizer_config.json
(the reduced Gemma tokenizer, tests/data/siglip/gemma-reduced/, so vocab_size is its size).

Tensor names are transformers' SiglipModel state dict: text_model.{embeddings, encoder.layers.N,
final_layer_norm, head}, vision_model.{embeddings.patch_embedding (conv with bias),
embeddings.position_embedding (num_patches rows, no class token), encoder, post_layernorm,
head.{probe, attention.in_proj_weight/in_proj_bias/out_proj, layernorm, mlp}}, logit_scale,
logit_bias. Scales are those of make_tiny_clip.py (std 1/sqrt(fan_in), embeddings 0.5/0.25), so
every path measurably changes the output; the probe has std 1.
"""
import argparse
import json
import os
import shutil
import sys

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.join(ROOT, "tools", "clip"))
from make_tiny_clip import inv_sqrt, rand, write_safetensors  # noqa: E402

MAXPOS = 64

# text / vision: (hidden, heads, layers, intermediate)
PRESETS = {
    "siglip-a": dict(seed=0x5161A, eps=1e-6, text=(64, 4, 2, 160), vision=(64, 4, 2, 176),
                     patch=16, image=64, proj=None),
    "siglip-b": dict(seed=0x5161B, eps=1e-6, text=(48, 3, 3, 96), vision=(80, 5, 2, 200),
                     patch=14, image=56, proj=80),
    # google/siglip-base-patch16-224's shapes (203 M parameters), for `make bench` only
    "siglip-b16": dict(seed=0x516B16, eps=1e-6, text=(768, 12, 12, 3072), vision=(768, 12, 12, 3072),
                       patch=16, image=224, proj=None),
}


def tokenizer_dir():
    return os.path.join(ROOT, "tests", "data", "siglip", "gemma-reduced")


def vocab_size():
    with open(os.path.join(tokenizer_dir(), "tokenizer.json"), encoding="utf-8") as f:
        return len(json.load(f)["model"]["vocab"])


def build_tensors(p, vocab):
    seed = p["seed"]
    t = {}

    def lin(name, out_f, in_f):
        t[name + ".weight"] = rand(seed, name + ".weight", (out_f, in_f), inv_sqrt(in_f))
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
    npatch = (img // ps) ** 2
    proj = p["proj"] or tw

    t["text_model.embeddings.token_embedding.weight"] = rand(
        seed, "text_model.embeddings.token_embedding.weight", (vocab, tw), 0.5)
    t["text_model.embeddings.position_embedding.weight"] = rand(
        seed, "text_model.embeddings.position_embedding.weight", (MAXPOS, tw), 0.25)
    encoder("text_model", tw, ti, tl)
    ln("text_model.final_layer_norm", tw)
    lin("text_model.head", proj, tw)

    pe = "vision_model.embeddings.patch_embedding"
    t[pe + ".weight"] = rand(seed, pe + ".weight", (vw, 3, ps, ps), inv_sqrt(3 * ps * ps))
    t[pe + ".bias"] = rand(seed, pe + ".bias", (vw,), 0.02)
    t["vision_model.embeddings.position_embedding.weight"] = rand(
        seed, "vision_model.embeddings.position_embedding.weight", (npatch, vw), 0.25)
    encoder("vision_model", vw, vi, vl)
    ln("vision_model.post_layernorm", vw)
    h = "vision_model.head."
    t[h + "probe"] = rand(seed, h + "probe", (1, 1, vw), 1.0)
    t[h + "attention.in_proj_weight"] = rand(seed, h + "attention.in_proj_weight", (3 * vw, vw), inv_sqrt(vw))
    t[h + "attention.in_proj_bias"] = rand(seed, h + "attention.in_proj_bias", (3 * vw,), 0.02)
    lin(h + "attention.out_proj", vw, vw)
    ln(h + "layernorm", vw)
    lin(h + "mlp.fc1", vi, vw)
    lin(h + "mlp.fc2", vw, vi)
    t["logit_scale"] = np.array([2.302585], dtype=np.float32)  # log(10), SigLIP's init
    t["logit_bias"] = np.array([-10.0], dtype=np.float32)
    return t


def make_config(name, p, vocab, dtype):
    tw, th, tl, ti = p["text"]
    vw, vh, vl, vi = p["vision"]
    text = {
        "model_type": "siglip_text_model",
        "hidden_size": tw, "intermediate_size": ti, "num_attention_heads": th,
        "num_hidden_layers": tl, "hidden_act": "gelu_pytorch_tanh", "layer_norm_eps": p["eps"],
        "max_position_embeddings": MAXPOS, "vocab_size": vocab,
        "pad_token_id": 0, "bos_token_id": 2, "eos_token_id": 1, "attention_dropout": 0.0,
    }
    if p["proj"]:
        text["projection_size"] = p["proj"]
    vision = {
        "model_type": "siglip_vision_model",
        "hidden_size": vw, "intermediate_size": vi, "num_attention_heads": vh,
        "num_hidden_layers": vl, "hidden_act": "gelu_pytorch_tanh", "layer_norm_eps": p["eps"],
        "image_size": p["image"], "patch_size": p["patch"], "num_channels": 3, "attention_dropout": 0.0,
    }
    return {
        "_name_or_path": "lisa/%s" % name,
        "architectures": ["SiglipModel"],
        "model_type": "siglip",
        "initializer_factor": 1.0,
        "text_config": text,
        "vision_config": vision,
        "torch_dtype": {"f32": "float32", "f16": "float16", "bf16": "bfloat16"}[dtype],
        "transformers_version": "4.47.0",
    }


def make_preprocessor(p):
    n = p["image"]
    return {
        "do_normalize": True,
        "do_rescale": True,
        "do_resize": True,
        "image_mean": [0.5, 0.5, 0.5],
        "image_processor_type": "SiglipImageProcessor",
        "image_std": [0.5, 0.5, 0.5],
        "processor_class": "SiglipProcessor",
        "resample": 3,
        "rescale_factor": 0.00392156862745098,
        "size": {"height": n, "width": n},
    }


def main(argv):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--preset", required=True, choices=sorted(PRESETS))
    ap.add_argument("--dtype", default="f32", choices=["f32", "f16", "bf16"])
    ap.add_argument("--out", required=True)
    a = ap.parse_args(argv)
    p = PRESETS[a.preset]
    vocab = vocab_size()
    os.makedirs(a.out, exist_ok=True)
    with open(os.path.join(a.out, "config.json"), "w") as f:
        json.dump(make_config(a.preset, p, vocab, a.dtype), f, indent=2)
        f.write("\n")
    with open(os.path.join(a.out, "preprocessor_config.json"), "w") as f:
        json.dump(make_preprocessor(p), f, indent=2)
        f.write("\n")
    for fn in ("tokenizer.json", "tokenizer_config.json"):
        shutil.copyfile(os.path.join(tokenizer_dir(), fn), os.path.join(a.out, fn))
    write_safetensors(os.path.join(a.out, "model.safetensors"), build_tensors(p, vocab), a.dtype)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

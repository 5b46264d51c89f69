#!/usr/bin/python3
"""Writes a random-weight BLIP captioner dir in the Hugging Face BlipForConditionalGeneration layout.

NUMPY ONLY (used by `make test` through tests/setup/blip_models.sh), deterministic:
the same preset, dtype and shard count give bit-identical safetensors on any machine
(the random stream and the safetensors writer are tools/clip/make_tiny_clip.py's).

  /usr/bin/python3 tools/caption/make_tiny_blip.py --preset blip-a --dtype f32 [--shards 2] --out DIR

Output: config.json (BlipConfig with text_config / vision_config), preprocessor_config.json
(BlipImageProcessor: resize to image_size x image_size, no crop, CLIP mean/std), the
tokenizer files (copied from tests/data/tokenizer/blip), and model.safetensors, or with
--shards N model.safetensors.index.json + model-0000k-of-0000N.safetensors.

Scales: linear weights uniform with std 1/sqrt(fan_in), layer norms 1 + noise, so that
attention is peaky. The LM head's bias favours 300 frequent words (ids 1996..2295) and
[SEP] a little, so captions read like words, repeat (repetition_penalty matters) and
end at different lengths; the cross-attention output is scaled up so that captions
differ across images.

Presets differ in widths, heads, layers, image size and patch size:
  blip-a     vision 64 wide / 4 heads / 2 layers / mlp 160, image 64, patch 16 (17 tokens);
             text 48 / 4 / 2 / 96, max_position 40; LM head with its own decoder.weight
             (not tied to the word embeddings) and decoder.bias stored too.
  blip-b     vision 72 / 6 / 3 / 144, image 48, patch 8 (37 tokens); text 64 / 2 / 3 / 128,
             max_position 32; no decoder.weight (tied: the word embeddings are the head).
  blip-base  Salesforce/blip-image-captioning-base shapes (benchmarks only, ~1 GB f32).
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

VOCAB = 30524
CLIP_MEAN = [0.48145466, 0.4578275, 0.40821073]
CLIP_STD = [0.26862954, 0.26130258, 0.27577711]

PRESETS = {
    "blip-a": dict(seed=0xB11A, vision=(64, 4, 2, 160), image=64, patch=16,
                   text=(48, 4, 2, 96), maxpos=40, untied=True, eos=3.8),
    "blip-b": dict(seed=0xB11B, vision=(72, 6, 3, 144), image=48, patch=8,
                   text=(64, 2, 3, 128), maxpos=32, untied=False, eos=11.5),
    "blip-base": dict(seed=0xB1BA, vision=(768, 12, 12, 3072), image=384, patch=16,
                      text=(768, 12, 12, 3072), maxpos=512, untied=True, eos=0.0),
}


def build_tensors(p):
    seed = p["seed"]
    t = {}

    def lin(name, out_f, in_f, scale=1.0):
        t[name + ".weight"] = rand(seed, name + ".weight", (out_f, in_f), scale * inv_sqrt(in_f))
        t[name + ".bias"] = rand(seed, name + ".bias", (out_f,), 0.02)

    def ln(name, dim):
        t[name + ".weight"] = rand(seed, name + ".weight", (dim,), 0.1, 1.0)
        t[name + ".bias"] = rand(seed, name + ".bias", (dim,), 0.05)

    vw, _, vl, vi = p["vision"]
    tw, _, tl, ti = p["text"]
    ps, img = p["patch"], p["image"]
    npos = (img // ps) ** 2 + 1

    v = "vision_model."
    t[v + "embeddings.class_embedding"] = rand(seed, v + "embeddings.class_embedding", (1, 1, vw), 0.5)
    t[v + "embeddings.position_embedding"] = rand(seed, v + "embeddings.position_embedding", (1, npos, vw), 0.25)
    t[v + "embeddings.patch_embedding.weight"] = rand(
        seed, v + "embeddings.patch_embedding.weight", (vw, 3, ps, ps), inv_sqrt(3 * ps * ps))
    t[v + "embeddings.patch_embedding.bias"] = rand(seed, v + "embeddings.patch_embedding.bias", (vw,), 0.02)
    for i in range(vl):
        lp = v + "encoder.layers.%d." % i
        lin(lp + "self_attn.qkv", 3 * vw, vw)
        lin(lp + "self_attn.projection", vw, vw)
        ln(lp + "layer_norm1", vw)
        ln(lp + "layer_norm2", vw)
        lin(lp + "mlp.fc1", vi, vw)
        lin(lp + "mlp.fc2", vw, vi)
    ln(v + "post_layernorm", vw)

    b = "text_decoder.bert."
    t[b + "embeddings.word_embeddings.weight"] = rand(seed, b + "embeddings.word_embeddings.weight", (VOCAB, tw), 0.5)
    t[b + "embeddings.position_embeddings.weight"] = rand(
        seed, b + "embeddings.position_embeddings.weight", (p["maxpos"], tw), 0.25)
    t[b + "embeddings.position_ids"] = np.arange(p["maxpos"], dtype=np.int64).reshape(1, p["maxpos"])
    ln(b + "embeddings.LayerNorm", tw)
    for i in range(tl):
        lp = b + "encoder.layer.%d." % i
        for part, kv_in, scale in (("attention", tw, 1.0), ("crossattention", vw, 1.0)):
            lin(lp + part + ".self.query", tw, tw)
            lin(lp + part + ".self.key", tw, kv_in)
            lin(lp + part + ".self.value", tw, kv_in)
            lin(lp + part + ".output.dense", tw, tw, 3.0 if part == "crossattention" else 1.0)
            ln(lp + part + ".output.LayerNorm", tw)
        lin(lp + "intermediate.dense", ti, tw)
        lin(lp + "output.dense", tw, ti)
        ln(lp + "output.LayerNorm", tw)
    c = "text_decoder.cls.predictions."
    lin(c + "transform.dense", tw, tw)
    ln(c + "transform.LayerNorm", tw)
    bias = rand(seed, c + "bias", (VOCAB,), 0.5, -3.0)
    bias[1996:2296] += 4.0
    bias[102] += 4.0 + p["eos"]
    t[c + "bias"] = bias.astype(np.float32)
    if p["untied"]:
        t[c + "decoder.weight"] = rand(seed, c + "decoder.weight", (VOCAB, tw), inv_sqrt(tw))
        t[c + "decoder.bias"] = t[c + "bias"].copy()
    return t


def make_config(name, p):
    vw, vh, vl, vi = p["vision"]
    tw, th, tl, ti = p["text"]
    text = {
        "model_type": "blip_text_model", "vocab_size": VOCAB, "hidden_size": tw,
        "encoder_hidden_size": vw, "intermediate_size": ti, "num_attention_heads": th,
        "num_hidden_layers": tl, "max_position_embeddings": p["maxpos"], "hidden_act": "gelu",
        "layer_norm_eps": 1e-12, "hidden_dropout_prob": 0.0, "attention_probs_dropout_prob": 0.0,
        "initializer_range": 0.02, "bos_token_id": 30522, "eos_token_id": 2, "pad_token_id": 0,
        "sep_token_id": 102, "is_decoder": True, "use_cache": True, "projection_dim": 768,
    }
    vision = {
        "model_type": "blip_vision_model", "hidden_size": vw, "intermediate_size": vi,
        "num_attention_heads": vh, "num_hidden_layers": vl, "image_size": p["image"],
        "patch_size": p["patch"], "hidden_act": "gelu", "layer_norm_eps": 1e-5,
        "attention_dropout": 0.0, "initializer_range": 1e-10, "projection_dim": 512,
    }
    return {
        "_name_or_path": "lisa/%s" % name,
        "architectures": ["BlipForConditionalGeneration"],
        "model_type": "blip",
        "initializer_factor": 1.0, "initializer_range": 0.02, "label_smoothing": 0.0,
        "logit_scale_init_value": 2.6592, "image_text_hidden_size": 256, "projection_dim": 512,
        "text_config": text, "vision_config": vision,
        "torch_dtype": "float32", "transformers_version": "4.50.0",
    }


def make_preprocessor(p):
    n = p["image"]
    return {
        "do_convert_rgb": True, "do_normalize": True, "do_rescale": True, "do_resize": True,
        "image_mean": CLIP_MEAN, "image_processor_type": "BlipImageProcessor", "image_std": CLIP_STD,
        "processor_class": "BlipProcessor", "resample": 3, "rescale_factor": 0.00392156862745098,
        "size": {"height": n, "width": n},
    }


def write_sharded(out, tensors, dtype, shards):
    names = sorted(tensors)
    per = (len(names) + shards - 1) // shards
    wmap = {}
    for k in range(shards):
        fn = "model-%05d-of-%05d.safetensors" % (k + 1, shards)
        part = {n: tensors[n] for n in names[k * per:(k + 1) * per]}
        write_safetensors(os.path.join(out, fn), part, dtype)
        for n in part:
            wmap[n] = fn
    with open(os.path.join(out, "model.safetensors.index.json"), "w") as f:
        json.dump({"metadata": {"total_size": 0}, "weight_map": wmap}, f, indent=2, sort_keys=True)
        f.write("\n")


def main(argv):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--preset", required=True, choices=sorted(PRESETS))
    ap.add_argument("--dtype", default="f32", choices=["f32", "f16", "bf16"])
    ap.add_argument("--shards", type=int, default=0)
    ap.add_argument("--out", required=True)
    ap.add_argument("--tokenizer", default=os.path.join(ROOT, "tests", "data", "tokenizer", "blip"))
    a = ap.parse_args(argv)
    p = PRESETS[a.preset]
    os.makedirs(a.out, exist_ok=True)
    cfg = make_config(a.preset, p)
    cfg["torch_dtype"] = {"f32": "float32", "f16": "float16", "bf16": "bfloat16"}[a.dtype]
    with open(os.path.join(a.out, "config.json"), "w") as f:
        json.dump(cfg, f, indent=2)
        f.write("\n")
    with open(os.path.join(a.out, "preprocessor_config.json"), "w") as f:
        json.dump(make_preprocessor(p), f, indent=2)
        f.write("\n")
    for fn in ("vocab.txt", "tokenizer.json", "tokenizer_config.json", "special_tokens_map.json"):
        shutil.copyfile(os.path.join(a.tokenizer, fn), os.path.join(a.out, fn))
    tensors = build_tensors(p)
    if a.shards > 1:
        write_sharded(a.out, tensors, a.dtype, a.shards)
    else:
        write_safetensors(os.path.join(a.out, "model.safetensors"), tensors, a.dtype)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

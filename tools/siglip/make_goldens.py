#!/usr/bin/python3
"""Makes the committed SigLIP goldens tests/data/siglip/<preset>.json (dev time: torch, PIL, node).

  /usr/bin/python3 tools/siglip/make_goldens.py [--models build/models]

Needs the fixture models (sh tests/setup/siglip_models.sh build) and tools/js/node_modules. Token rows come
from the real tokenizer (tools/siglip/gemma_ids.mjs on the reduced Gemma vocabulary, lower-cased) padded with
<pad> (0) to max_length 64 as SiglipProcessor(padding="max_length") does; embeddings and logits from
tools/siglip/siglip_reference.py (float64 compute); pixels from its SiglipImageProcessor on PIL, saved as
pixels/<preset>/<image>.f32. Images: tests/data/clip/images (shared with the CLIP goldens).
Per preset: texts [{text, ids (64), embed}], images [{file, pixels, shape, embed}], logits[t][i] (text x image:
cos * exp(logit_scale) + logit_bias), logit_scale, logit_bias, and for the -bf16 variant the same embeddings
of the bf16 weights.
"""
import argparse
import glob
import json
import os
import subprocess
import sys

import numpy as np
import torch

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, HERE)
import siglip_reference as ref  # noqa: E402

TEXTS = ["a photo of a cat", "dog", "", "Sunset over the MOUNTAINS", "一只猫的照片", "Zürich und die Alpen",
         "фотография кошки", "café naïve 東京 🐱", "A  Red\tCar\nat NIGHT", "2024 photos from 1999",
         "<b>bold</b> <unused3>", "a " * 70,
         "In the middle of a quiet mountain valley there was a small wooden house with a red roof, a garden "
         "full of sunflowers, two sleepy dogs and a black cat on the windowsill."]
MAXLEN = 64


def f32list(v):
    return [float(np.float32(x)) for x in np.asarray(v, dtype=np.float32).ravel()]


def rows(texts):
    tk = os.path.join(ROOT, "tests", "data", "siglip", "gemma-reduced", "tokenizer.json")
    r = subprocess.run(["node", os.path.join(HERE, "gemma_ids.mjs"), "--tokenizer", tk],
                       input=json.dumps(texts).encode(), capture_output=True, check=True)
    return [ids + [0] * (MAXLEN - len(ids)) for ids in json.loads(r.stdout)]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--models", default="build/models")
    ap.add_argument("--out", default=os.path.join(ROOT, "tests", "data", "siglip"))
    ap.add_argument("presets", nargs="*", default=["siglip-a", "siglip-b"])
    a = ap.parse_args()
    ids_all = rows(TEXTS)
    images = sorted(glob.glob(os.path.join(ROOT, "tests", "data", "clip", "images", "*")))
    for preset in a.presets:
        mdir = os.path.join(a.models, preset)
        m, m32 = ref.Siglip(mdir), ref.Siglip(mdir, torch.float32)
        with open(os.path.join(mdir, "preprocessor_config.json")) as f:
            pcfg = json.load(f)
        doc = {"model": preset, "dtype": "f32", "compute": "float64", "texts": [], "images": []}
        worst = 0.0
        temb, iemb, pix = [], [], []
        for text, ids in zip(TEXTS, ids_all):
            e = m.text_embed(ids)
            worst = max(worst, float(np.abs(e - m32.text_embed(ids)).max()))
            temb.append(e)
            doc["texts"].append({"text": text, "ids": ids, "embed": f32list(e)})
        pixdir = os.path.join(a.out, "pixels", preset)
        os.makedirs(pixdir, exist_ok=True)
        for f in images:
            px = ref.preprocess_file(f, pcfg)
            pix.append(px)
            stem = os.path.splitext(os.path.basename(f))[0]
            prel = "pixels/%s/%s.f32" % (preset, stem)
            px.astype("<f4").tofile(os.path.join(a.out, prel))
            e = m.image_embed(px)
            worst = max(worst, float(np.abs(e - m32.image_embed(px)).max()))
            iemb.append(e)
            doc["images"].append({"file": os.path.relpath(f, os.path.join(ROOT, "tests", "data")),
                                  "pixels": prel, "shape": list(px.shape), "embed": f32list(e)})
        doc["logits"] = [[m.logit(t, i) for i in iemb] for t in temb]
        doc["logit_scale"] = float(torch.exp(m.w["logit_scale"]).reshape(-1)[0])
        doc["logit_bias"] = float(m.w["logit_bias"].reshape(-1)[0])
        doc["f32_compute_max_abs_diff"] = worst
        bdir = os.path.join(a.models, preset + "-bf16")
        if os.path.isdir(bdir):
            v = ref.Siglip(bdir)
            doc["bf16"] = {"model": preset + "-bf16", "texts": [f32list(v.text_embed(ids)) for ids in ids_all],
                           "images": [f32list(v.image_embed(px)) for px in pix]}
        path = os.path.join(a.out, preset + ".json")
        with open(path, "w", encoding="utf-8") as fh:
            json.dump(doc, fh, ensure_ascii=False, indent=1)
            fh.write("\n")
        print("%s: %d texts, %d images, float32-compute max |diff| %.2e"
              % (path, len(doc["texts"]), len(doc["images"]), worst))
    return 0


if __name__ == "__main__":
    sys.exit(main())

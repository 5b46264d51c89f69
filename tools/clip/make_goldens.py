#!/usr/bin/python3
"""Makes the committed CLIP goldens tests/data/clip/<preset>.json (dev time: torch, node).

  /usr/bin/python3 tools/clip/make_goldens.py [--models build/models] [--out tests/data/clip]

Needs the fixture models (sh tests/setup/clip_models.sh build), node with
tools/js/node_modules (the real tokenizer through tools/clip/ids.mjs), and torch.
Embeddings come from tools/clip/clip_reference.py (float64 compute); pixel values
from tools/clip/hf_preprocess.py. Format: see tools/clip/README.md.
"""
import argparse
import glob
import json
import os
import sys

import numpy as np
import torch

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import clip_reference  # noqa: E402
import hf_preprocess  # noqa: E402

LONG = ("In the middle of a quiet mountain valley there was a small wooden house with a "
        "red roof, a garden full of sunflowers, two sleepy dogs, a black cat on the "
        "windowsill, an old bicycle leaning against the fence, and a narrow path that "
        "wound down through the pine trees to a clear blue lake where children swam "
        "every summer afternoon until the sun went down behind the snowy peaks.")

TEXTS = [
    "a photo of a cat",
    "dog",
    "",
    LONG,
    "Hello, World!!! ... ???",
    "café naïve 東京 🐱",
    "A  Red\tCar\nat NIGHT",
    "it's a dog's life, isn't it?",
    "2024 photos from 1999",
    "mountain lake at sunset",
    "a diagram of a neural network",
    "Ünïcödé ΑΒΓ привет",
    "a " * 75,
    "a " * 76,
    "<html> & \"quotes\" #hashtag @user",
]


def f32list(v):
    return [float(np.float32(x)) for x in np.asarray(v, dtype=np.float32).ravel()]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--models", default="build/models")
    ap.add_argument("--out", default="tests/data/clip")
    ap.add_argument("presets", nargs="*", default=["tiny-a", "tiny-b", "tiny-c"])
    a = ap.parse_args()
    ids_all = clip_reference.token_ids(TEXTS)
    images = sorted(glob.glob(os.path.join(a.out, "images", "*")))
    if len(images) < 6:
        sys.stderr.write("make_goldens: run make_test_images.py first\n")
        return 1
    for preset in a.presets:
        mdir = os.path.join(a.models, preset)
        m = clip_reference.Clip(mdir)
        m32 = clip_reference.Clip(mdir, torch.float32)
        cfg = hf_preprocess.load_config(mdir)
        doc = {"model": preset, "dtype": "f32", "compute": "float64",
               "texts": [], "images": []}
        worst = 0.0
        for text, ids in zip(TEXTS, ids_all):
            e = m.text_embed(ids)
            worst = max(worst, float(np.abs(e - m32.text_embed(ids)).max()))
            doc["texts"].append({"text": text, "ids": ids, "eos_index": m.eos_index(ids),
                                 "embed": f32list(e)})
        pixdir = os.path.join(a.out, "pixels", preset)
        os.makedirs(pixdir, exist_ok=True)
        pix = []
        for f in images:
            px = hf_preprocess.preprocess_file(f, cfg)
            pix.append(px)
            stem = os.path.splitext(os.path.basename(f))[0]
            prel = "pixels/%s/%s.f32" % (preset, stem)
            px.astype("<f4").tofile(os.path.join(a.out, prel))
            e = m.image_embed(px)
            worst = max(worst, float(np.abs(e - m32.image_embed(px)).max()))
            doc["images"].append({"file": os.path.relpath(f, a.out), "pixels": prel,
                                  "shape": list(px.shape), "embed": f32list(e)})
        doc["f32_compute_max_abs_diff"] = worst
        for dt in ("f16", "bf16"):
            v = clip_reference.Clip(os.path.join(a.models, "%s-%s" % (preset, dt)))
            doc[dt] = {"model": "%s-%s" % (preset, dt),
                       "texts": [f32list(v.text_embed(ids)) for ids in ids_all],
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

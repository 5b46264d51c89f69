#!/usr/bin/python3
"""Makes the committed BLIP goldens tests/data/caption/<preset>.json (+ .f32 files) with
tools/caption/blip_reference.py (torch, float64) from the fixture models that
tests/setup/blip_models.sh generates. Dev time only (needs torch + PIL):

  sh tests/setup/blip_models.sh build
  /usr/bin/python3 tools/caption/make_goldens.py --models build/models --out tests/data/caption

Per model and image (tests/data/clip/images/*): the BlipImageProcessor pixels (float32 CHW,
PIL bicubic resize to image_size x image_size, no crop), the vision tower's last hidden
state after post_layernorm (image_embeds, float32 (n, d)), next-token logits for two
prefixes (first 2 images; float32 (vocab,)), and the ids generate() returns for every
entry of GEN (greedy and beam search, with and without a prompt). Prompt ids come from
the transformers.js goldens (tests/data/tokenizer/blip_goldens.jsonl). "gap" is the
smallest score difference that decided anything in that run (greedy: top-1 vs top-2
processed logit; beam: adjacent candidate scores, finished-list ranks, the early-stop
test): a float32 engine must agree on every decision when gap >> 1e-5.
"""
import argparse
import glob
import json
import os
import sys

import numpy as np
from PIL import Image, ImageOps

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import blip_reference as br  # noqa: E402

GEN = [
    dict(name="greedy", num_beams=1, max_length=20),
    dict(name="greedy_min8_rep1.3", num_beams=1, max_length=20, min_length=8, repetition_penalty=1.3),
    dict(name="beam3", num_beams=3, max_length=20),
    dict(name="beam3_prompt", num_beams=3, max_length=20, prompt="a picture of"),
    dict(name="beam3_min5_rep1.2_lp0.5", num_beams=3, max_length=16, min_length=5, repetition_penalty=1.2,
         length_penalty=0.5),
    dict(name="beam4_lp2_prompt", num_beams=4, max_length=12, length_penalty=2.0, prompt="a photography of"),
]


def prompt_table(path):
    t = {}
    for line in open(path, encoding="utf-8"):
        o = json.loads(line)
        if o["op"] == "encode":
            t[o["text"]] = o["ids"]
    return t


def preprocess(path, cfg):
    img = ImageOps.exif_transpose(Image.open(path)).convert("RGB")
    s = cfg["size"]
    img = img.resize((s["width"], s["height"]), resample=cfg.get("resample", 3), reducing_gap=None)
    x = (np.asarray(img).astype(np.float64) * cfg["rescale_factor"]).astype(np.float32)
    x = (x - np.array(cfg["image_mean"], dtype=np.float32)) / np.array(cfg["image_std"], dtype=np.float32)
    return np.ascontiguousarray(x.transpose(2, 0, 1), dtype=np.float32)


def run(m, emb, g, prompts):
    prompt = br.prompt_ids(prompts[g["prompt"]]) if g.get("prompt") else []
    kw = dict(max_length=g["max_length"], min_length=g.get("min_length", 0),
              repetition_penalty=g.get("repetition_penalty", 1.0))
    if g["num_beams"] == 1:
        return m.greedy(emb, prompt, **kw)
    return m.beam(emb, prompt, num_beams=g["num_beams"], length_penalty=g.get("length_penalty", 1.0), **kw)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--models", default="build/models")
    ap.add_argument("--out", default="tests/data/caption")
    ap.add_argument("presets", nargs="*", default=["blip-a", "blip-b"])
    a = ap.parse_args()
    root = os.path.dirname(os.path.dirname(HERE))
    prompts = prompt_table(os.path.join(root, "tests/data/tokenizer/blip_goldens.jsonl"))
    images = sorted(glob.glob(os.path.join(root, "tests/data/clip/images/*")))
    for preset in a.presets:
        mdir = os.path.join(a.models, preset)
        m = br.Blip(mdir)
        cfg = json.load(open(os.path.join(mdir, "preprocessor_config.json")))
        sub = os.path.join(a.out, preset)
        os.makedirs(sub, exist_ok=True)
        doc = {"model": preset, "compute": "float64", "gen": GEN, "images": []}
        worst = float("inf")
        for k, f in enumerate(images):
            stem = os.path.splitext(os.path.basename(f))[0]
            px = preprocess(f, cfg)
            px.astype("<f4").tofile(os.path.join(sub, stem + ".pixels.f32"))
            emb = m.vision(px)
            emb.numpy().astype("<f4").tofile(os.path.join(sub, stem + ".vision.f32"))
            rec = {"file": os.path.relpath(f, os.path.join(root, "tests/data")),
                   "pixels": "%s/%s.pixels.f32" % (preset, stem), "vision": "%s/%s.vision.f32" % (preset, stem),
                   "vision_shape": list(emb.shape), "logits": [], "runs": []}
            if k < 2:
                for j, pre in enumerate(([br.BOS], [br.BOS] + br.prompt_ids(prompts["a picture of"]))):
                    lg = m.logits(pre, emb)[-1].numpy().astype("<f4")
                    rel = "%s/%s.logits%d.f32" % (preset, stem, j)
                    lg.tofile(os.path.join(a.out, rel))
                    rec["logits"].append({"prefix": pre, "file": rel})
            for g in GEN:
                ids, gap = run(m, emb, g, prompts)
                worst = min(worst, gap)
                rec["runs"].append({"gen": g["name"], "ids": ids, "gap": gap})
                print("%s %s %s: %d ids, gap %.2e" % (preset, stem, g["name"], len(ids), gap), flush=True)
            doc["images"].append(rec)
        for dt in ("f16", "bf16"):
            v = br.Blip(os.path.join(a.models, "%s-%s" % (preset, dt)))
            vd = {"model": "%s-%s" % (preset, dt), "images": []}
            for k, f in enumerate(images[:3]):
                stem = os.path.splitext(os.path.basename(f))[0]
                emb = v.vision(preprocess(f, cfg))
                rel = "%s/%s.vision.%s.f32" % (preset, stem, dt)
                emb.numpy().astype("<f4").tofile(os.path.join(a.out, rel))
                ids, gap = run(v, emb, GEN[0], prompts)
                bids, bgap = run(v, emb, GEN[2], prompts)
                worst = min(worst, gap, bgap)
                vd["images"].append({"vision": rel, "greedy": ids, "beam3": bids, "gap": min(gap, bgap)})
            doc[dt] = vd
        doc["min_gap"] = worst
        with open(os.path.join(a.out, preset + ".json"), "w") as fh:
            json.dump(doc, fh, indent=1)
            fh.write("\n")
        print("%s: %d images, smallest decision gap %.2e" % (preset, len(images), worst))
        if worst < 1e-4:
            print("WARNING: a decision gap under 1e-4; float32 engines may legitimately differ")
    return 0


if __name__ == "__main__":
    sys.exit(main())

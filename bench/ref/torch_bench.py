#!/usr/bin/python3
"""PyTorch speed reference for the CLIP engine (Debian torch, OpenBLAS).

  /usr/bin/python3 bench/ref/torch_bench.py MODEL_DIR [--runs N] [--threads 2]

Model-only timings with torch.set_num_threads(2) and inference_mode, on the batched
float32 towers of tools/clip/clip_reference.py (pixel_values -> embedding, ids ->
embedding; no decode, no preprocessing, no tokenizer). Medians over N timed runs
after 2 warm-ups. Prints:
  torch image_b1_per_s X
  torch image_b8_per_s X
  torch text_latency_ms X      (7-token query "a photo of a cat")
"""
import argparse
import os
import statistics
import sys
import time

import torch

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(ROOT, "tools", "clip"))
import clip_reference  # noqa: E402


def timeit(fn, n):
    fn()
    fn()
    ts = []
    for _ in range(n):
        t0 = time.perf_counter()
        fn()
        ts.append(time.perf_counter() - t0)
    return statistics.median(ts)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("model_dir")
    ap.add_argument("--runs", type=int, default=10)
    ap.add_argument("--threads", type=int, default=2)
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    clip = clip_reference.Clip(a.model_dir, torch.float32)
    vt = clip_reference.VisionTower(clip).eval()
    tt = clip_reference.TextTower(clip).eval()
    del clip
    s = clip_reference.json.load(open(os.path.join(a.model_dir, "config.json")))
    size = s["vision_config"]["image_size"]
    g = torch.Generator().manual_seed(0)
    p1 = torch.randn(1, 3, size, size, generator=g)
    p8 = torch.randn(8, 3, size, size, generator=g)
    ids = torch.tensor([[49406, 320, 1125, 539, 320, 2368, 49407]], dtype=torch.long)
    with torch.inference_mode():
        t1 = timeit(lambda: vt(p1), a.runs)
        t8 = timeit(lambda: vt(p8), max(3, a.runs // 2))
        tq = timeit(lambda: tt(ids), a.runs * 3)
    print("torch image_b1_per_s %.2f" % (1 / t1))
    print("torch image_b8_per_s %.2f" % (8 / t8))
    print("torch text_latency_ms %.2f" % (tq * 1000))
    return 0


if __name__ == "__main__":
    sys.exit(main())

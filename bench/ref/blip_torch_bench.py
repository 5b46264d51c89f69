#!/usr/bin/python3
"""PyTorch (Debian torch, 2 threads) reference timing for `make bench`: the BLIP vision tower of
tools/caption/blip_reference.py in float32 on random pixels, median of RUNS after a warm-up.

  blip_torch_bench.py MODEL_DIR [RUNS]   ->   torch caption_vision_ms X
"""
import os
import sys
import time

import numpy as np
import torch

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "..", "tools", "caption"))
import blip_reference as br  # noqa: E402


def main():
    torch.set_num_threads(2)
    runs = int(sys.argv[2]) if len(sys.argv) > 2 else 5
    m = br.Blip(sys.argv[1], torch.float32)
    s = m.vc["image_size"]
    px = np.random.default_rng(1).uniform(-2, 2, (3, s, s)).astype(np.float32)
    with torch.inference_mode():
        m.vision(px)
        t = []
        for _ in range(runs):
            t0 = time.perf_counter()
            m.vision(px)
            t.append((time.perf_counter() - t0) * 1e3)
    print("torch caption_vision_ms %.1f" % sorted(t)[len(t) // 2])


if __name__ == "__main__":
    main()

#!/usr/bin/python3
"""Reference for bench_image: PIL (Debian python3-pil) + numpy doing what HF's
CLIPImageProcessor does, on the same 12 MP JPEGs. 'full' decodes at full size;
'draft' uses PIL's JPEG draft mode (libjpeg DCT scaling), the same trick LISA uses."""
import statistics, sys, time
import numpy as np
from PIL import Image, ImageOps

MEAN = np.array([0.48145466, 0.4578275, 0.40821073], np.float32)
STD = np.array([0.26862954, 0.26130258, 0.27577711], np.float32)


def prep(path, draft):
    im = Image.open(path)
    if draft:
        im.draft("RGB", (224, 224))
    im = ImageOps.exif_transpose(im).convert("RGB")
    w, h = im.size
    s, l = (w, h) if w <= h else (h, w)
    nl = int(224 * l / s)
    im = im.resize((224, nl) if w <= h else (nl, 224), Image.BICUBIC, reducing_gap=None)
    a = np.asarray(im)
    t, le = (a.shape[0] - 224) // 2, (a.shape[1] - 224) // 2
    a = a[t:t + 224, le:le + 224]
    x = (a.astype(np.float64) * (1 / 255)).astype(np.float32)
    return ((x - MEAN) / STD).transpose(2, 0, 1)


def main():
    paths, runs = sys.argv[2:], int(sys.argv[1])
    for mode in ("full", "draft"):
        rates = []
        for _ in range(runs):
            t0 = time.perf_counter()
            for p in paths:
                prep(p, mode == "draft")
            rates.append(len(paths) / (time.perf_counter() - t0))
        print(f"pil prep_{mode}_per_s {statistics.median(rates):.3f}")


if __name__ == "__main__":
    main()

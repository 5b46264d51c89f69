#!/usr/bin/python3
"""Writes the small committed test images of tests/data/clip/images/ (PIL, numpy).

Deterministic content (gradients, shapes, seeded noise); varied sizes, aspects,
modes and formats, including a JPEG whose EXIF orientation is 6 (stored landscape,
displayed portrait). Run once; the images are committed, not regenerated in CI.
  /usr/bin/python3 tools/clip/make_test_images.py tests/data/clip/images
"""
import os
import sys

import numpy as np
from PIL import Image, ImageDraw


def scene(w, h, seed):
    rng = np.random.RandomState(seed)
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float64)
    r = 255 * xx / max(w - 1, 1)
    g = 255 * yy / max(h - 1, 1)
    b = 128 + 100 * np.sin((xx + 2 * yy) / (3.0 + seed % 5))
    a = np.stack([r, g, b], axis=-1) + rng.normal(0, 3, (h, w, 3))
    img = Image.fromarray(np.clip(a, 0, 255).astype(np.uint8), "RGB")
    d = ImageDraw.Draw(img)
    for _ in range(4):
        x0, y0 = rng.randint(0, w), rng.randint(0, h)
        x1, y1 = x0 + rng.randint(2, max(3, w // 2)), y0 + rng.randint(2, max(3, h // 2))
        col = tuple(int(c) for c in rng.randint(0, 256, 3))
        if rng.rand() < 0.5:
            d.ellipse([x0, y0, x1, y1], fill=col)
        else:
            d.rectangle([x0, y0, x1, y1], fill=col)
    return img


def exif_orientation(value):
    ex = Image.Exif()
    ex[0x0112] = value
    return ex.tobytes()


def main(out):
    os.makedirs(out, exist_ok=True)
    scene(128, 80, 1).save(os.path.join(out, "landscape.png"))
    scene(72, 128, 2).save(os.path.join(out, "portrait.jpg"), quality=90)
    scene(20, 13, 3).save(os.path.join(out, "tiny.png"))
    scene(64, 64, 4).save(os.path.join(out, "square64.png"))
    scene(240, 180, 5).save(os.path.join(out, "photo.jpg"), quality=85)
    scene(100, 60, 6).save(os.path.join(out, "exif6.jpg"), quality=90,
                           exif=exif_orientation(6))
    scene(90, 70, 7).convert("L").save(os.path.join(out, "gray.jpg"), quality=90)
    scene(50, 81, 8).convert("P", palette=Image.ADAPTIVE, colors=32).save(
        os.path.join(out, "palette.png"))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1] if len(sys.argv) > 1 else "tests/data/clip/images"))

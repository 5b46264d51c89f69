#!/usr/bin/python3
"""Generated near-duplicate set and the precision/recall of `lisa duplicates`.

  dupes_set.py gen DIR [N]      N distinct photo-like images (default 60) and, per image,
                                three transformed copies: resized to 50%, JPEG recompressed
                                at quality 35, and cropped 5-10% off the borders.
  dupes_set.py eval DIR JSON    reads `lisa duplicates --json` output and prints pair
                                precision/recall of the near groups (+ exact groups).

Names: o123.png (original), o123_resize.jpg, o123_q35.jpg, o123_crop.jpg, so the truth
is the prefix. Distinct images share the generator (sky, ground, sun, shapes, noise), so
they are harder negatives than random noise. Needs PIL (/usr/bin/python3).
"""
import json, os, random, sys
from itertools import combinations
from PIL import Image, ImageDraw, ImageFilter


def photo(rng, w=640, h=480):
    im = Image.new("RGB", (w, h))
    d = ImageDraw.Draw(im)
    top = [rng.randrange(256) for _ in range(3)]
    bot = [rng.randrange(256) for _ in range(3)]
    horizon = rng.randrange(h // 4, 3 * h // 4)
    for y in range(h):  # sky gradient, then ground gradient
        t = y / h
        c = tuple(int(top[k] * (1 - t) + bot[k] * t) for k in range(3))
        if y > horizon:
            c = tuple(max(0, v - 60) for v in c[::-1])
        d.line([(0, y), (w, y)], fill=c)
    for _ in range(rng.randrange(4, 12)):  # shapes: hills, houses, trees, sun
        x0, y0 = rng.randrange(w), rng.randrange(h)
        sz = rng.randrange(20, 200)
        col = tuple(rng.randrange(256) for _ in range(3))
        kind = rng.randrange(3)
        box = [x0, y0, x0 + sz, y0 + int(sz * rng.uniform(0.5, 1.5))]
        if kind == 0:
            d.ellipse(box, fill=col)
        elif kind == 1:
            d.rectangle(box, fill=col)
        else:
            d.polygon([(x0, y0 + sz), (x0 + sz // 2, y0), (x0 + sz, y0 + sz)], fill=col)
    im = im.filter(ImageFilter.GaussianBlur(rng.uniform(0.5, 2.0)))
    px = im.load()
    for _ in range(w * h // 20):  # sensor-like noise
        x, y = rng.randrange(w), rng.randrange(h)
        r, g, b = px[x, y]
        n = rng.randrange(-20, 21)
        px[x, y] = (min(255, max(0, r + n)), min(255, max(0, g + n)), min(255, max(0, b + n)))
    return im


def gen(out, n):
    os.makedirs(out, exist_ok=True)
    rng = random.Random(12)
    for i in range(n):
        im = photo(rng)
        base = os.path.join(out, "o%03d" % i)
        im.save(base + ".png")
        im.resize((im.width // 2, im.height // 2), Image.LANCZOS).save(base + "_resize.jpg", quality=90)
        im.save(base + "_q35.jpg", quality=35)
        f = rng.uniform(0.05, 0.10)  # share of each side cropped away, split over both borders
        dx, dy = int(im.width * f / 2), int(im.height * f / 2)
        im.crop((dx, dy, im.width - dx, im.height - dy)).save(base + "_crop.jpg", quality=90)


def truth_of(name):
    return os.path.basename(name).split("_")[0].split(".")[0]


def evaluate(path):
    doc = json.load(open(path))
    pred = set()
    for g in doc["groups"]:
        names = [im["path"] for im in g["images"]]
        for a, b in combinations(sorted(names), 2):
            pred.add((a, b))
    names = set()
    for g in doc["groups"]:
        names.update(im["path"] for im in g["images"])
    allnames = sorted(set(names) | set(doc.get("_all", [])))
    by = {}
    for nm in allnames:
        by.setdefault(truth_of(nm), []).append(nm)
    tp = sum(1 for a, b in pred if truth_of(a) == truth_of(b))
    fp = len(pred) - tp
    return tp, fp


if __name__ == "__main__":
    if len(sys.argv) >= 3 and sys.argv[1] == "gen":
        gen(sys.argv[2], int(sys.argv[3]) if len(sys.argv) > 3 else 60)
    elif len(sys.argv) == 4 and sys.argv[1] == "eval":
        n = len([f for f in os.listdir(sys.argv[2]) if f.endswith(".png")])
        positives = n * 6  # 4 files per original: C(4,2) = 6 true pairs
        tp, fp = evaluate(sys.argv[3])
        prec = tp / (tp + fp) if tp + fp else 1.0
        print("originals %d, true pairs %d, predicted pairs %d, correct %d" % (n, positives, tp + fp, tp))
        print("pair precision %.3f  recall %.3f" % (prec, tp / positives))
    else:
        sys.exit(__doc__)

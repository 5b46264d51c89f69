#!/usr/bin/python3
"""Hugging Face CLIPImageProcessor semantics on PIL, numpy + PIL only (dev time).

  pixels = preprocess_file(path, cfg)   # float32 array, CHW
  cfg    = load_config(model_dir)       # preprocessor_config.json as a dict

Steps, as transformers' CLIPImageProcessor does them for a PIL input:
  1. open, ImageOps.exif_transpose (what transformers.image_utils.load_image does),
     convert("RGB") (do_convert_rgb);
  2. resize (do_resize): the shortest side becomes size["shortest_edge"], the long
     side int(size * long / short) (truncation), PIL resample (default 3 = BICUBIC)
     through Image.resize with reducing_gap=None;
  3. center crop (do_center_crop): top = (h - ch) // 2, left = (w - cw) // 2
     (zero padding where the image is smaller, which a resize to shortest_edge >= crop
     never leaves);
  4. rescale (do_rescale): x.astype(float64) * rescale_factor, then float32;
  5. normalize (do_normalize): (x - mean) / std with mean/std as float32 arrays,
     all in float32;
  6. HWC -> CHW.
"""
import json
import os

import numpy as np
from PIL import Image, ImageOps


def load_config(model_dir):
    with open(os.path.join(model_dir, "preprocessor_config.json")) as f:
        return json.load(f)


def resize_shortest(img, shortest, resample):
    w, h = img.size
    short, long = (w, h) if w <= h else (h, w)
    new_short, new_long = shortest, int(shortest * long / short)
    nw, nh = (new_short, new_long) if w <= h else (new_long, new_short)
    return img.resize((nw, nh), resample=resample, reducing_gap=None)


def center_crop(x, ch, cw):
    """x: HWC uint8/float array -> HWC crop, zero padded if smaller (as HF)."""
    h, w = x.shape[:2]
    top = (h - ch) // 2
    left = (w - cw) // 2
    if top >= 0 and left >= 0 and top + ch <= h and left + cw <= w:
        return x[top:top + ch, left:left + cw]
    ph, pw = max(ch, h), max(cw, w)
    padded = np.zeros((ph, pw) + x.shape[2:], dtype=x.dtype)
    pt, pl = (ph - h) // 2, (pw - w) // 2
    padded[pt:pt + h, pl:pl + w] = x
    top += pt
    left += pl
    top, left = max(top, 0), max(left, 0)
    return padded[top:top + ch, left:left + cw]


def preprocess_pil(img, cfg):
    """PIL image (already exif-transposed) -> float32 CHW numpy array."""
    if cfg.get("do_convert_rgb", True) and img.mode != "RGB":
        img = img.convert("RGB")
    if cfg.get("do_resize", True):
        size = cfg["size"]
        shortest = size["shortest_edge"] if isinstance(size, dict) else int(size)
        img = resize_shortest(img, shortest, cfg.get("resample", 3))
    x = np.asarray(img)
    if x.ndim == 2:
        x = x[:, :, None]
    if cfg.get("do_center_crop", True):
        cs = cfg["crop_size"]
        if isinstance(cs, dict):
            ch, cw = cs["height"], cs["width"]
        else:
            ch = cw = int(cs)
        x = center_crop(x, ch, cw)
    if cfg.get("do_rescale", True):
        x = (x.astype(np.float64) * cfg.get("rescale_factor", 1 / 255)).astype(np.float32)
    else:
        x = x.astype(np.float32)
    if cfg.get("do_normalize", True):
        mean = np.array(cfg["image_mean"], dtype=np.float32)
        std = np.array(cfg["image_std"], dtype=np.float32)
        x = (x - mean) / std
    return np.ascontiguousarray(x.transpose(2, 0, 1), dtype=np.float32)


def open_image(path):
    img = Image.open(path)
    img = ImageOps.exif_transpose(img)
    return img


def preprocess_file(path, cfg):
    return preprocess_pil(open_image(path), cfg)


if __name__ == "__main__":
    import sys
    if len(sys.argv) != 4:
        sys.stderr.write("usage: hf_preprocess.py MODEL_DIR IMAGE OUT.f32\n")
        sys.exit(2)
    px = preprocess_file(sys.argv[2], load_config(sys.argv[1]))
    px.astype("<f4").tofile(sys.argv[3])
    print("%s -> %s %s" % (sys.argv[2], sys.argv[3], list(px.shape)))

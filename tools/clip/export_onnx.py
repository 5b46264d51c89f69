#!/usr/bin/python3
"""Exports a CLIP model dir's two towers to ONNX (torch 1.13 torch.onnx.export).

  /usr/bin/python3 tools/clip/export_onnx.py MODEL_DIR [--out DIR] [--opset 17]

Writes DIR/vision.onnx (pixel_values [B,3,H,W] float32 -> image_embeds [B,P], dynamic B)
and DIR/text.onnx (input_ids [B,n] int64, unpadded BOS..EOS -> text_embeds [B,P],
dynamic B and n). Both outputs are L2-normalised (projection + norm inside the graph).
DIR defaults to MODEL_DIR/onnx.
"""
import argparse
import os
import sys

import numpy as np
import torch

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import clip_reference  # noqa: E402


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("model_dir")
    ap.add_argument("--out")
    ap.add_argument("--opset", type=int, default=17)
    a = ap.parse_args()
    out = a.out or os.path.join(a.model_dir, "onnx")
    os.makedirs(out, exist_ok=True)
    clip = clip_reference.Clip(a.model_dir, torch.float32)
    vt = clip_reference.VisionTower(clip).eval()
    tt = clip_reference.TextTower(clip).eval()
    del clip
    s = vt.pos.shape[0]
    img = int(round((s - 1) ** 0.5)) * vt.patch
    px = torch.zeros(2, 3, img, img)
    ids = torch.tensor([[49406, 320, 1125, 539, 320, 2368, 49407]] * 2, dtype=torch.long)
    with torch.no_grad():
        torch.onnx.export(vt, (px,), os.path.join(out, "vision.onnx"),
                          input_names=["pixel_values"], output_names=["image_embeds"],
                          dynamic_axes={"pixel_values": {0: "batch"},
                                        "image_embeds": {0: "batch"}},
                          opset_version=a.opset, do_constant_folding=True)
        torch.onnx.export(tt, (ids,), os.path.join(out, "text.onnx"),
                          input_names=["input_ids"], output_names=["text_embeds"],
                          dynamic_axes={"input_ids": {0: "batch", 1: "sequence"},
                                        "text_embeds": {0: "batch"}},
                          opset_version=a.opset, do_constant_folding=True)
    print("wrote %s/vision.onnx and %s/text.onnx (image %d)" % (out, out, img))
    return 0


if __name__ == "__main__":
    np.seterr(all="ignore")
    sys.exit(main())

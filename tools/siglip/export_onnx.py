#!/usr/bin/python3
"""Exports a SigLIP model dir's two towers to ONNX from tools/siglip/siglip_reference.py (torch 1.13).

  /usr/bin/python3 tools/siglip/export_onnx.py MODEL_DIR [--out DIR] [--opset 17]

Writes DIR/vision.onnx (pixel_values [B,3,S,S] float32 -> image_embeds [B,P], dynamic B) and DIR/text.onnx
(input_ids [B,64] int64, the processor's padded row -> text_embeds [B,P], dynamic B). DIR defaults to
MODEL_DIR/onnx. Used by bench/siglip_refs.sh for the ONNX Runtime reference (same weights as LISA's run).
"""
import argparse
import os
import sys

import torch

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import siglip_reference as ref  # noqa: E402


class Tower(torch.nn.Module):
    def __init__(self, fn):
        super().__init__()
        self.fn = fn

    def forward(self, x):
        return self.fn(x)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("model_dir")
    ap.add_argument("--out")
    ap.add_argument("--opset", type=int, default=17)
    a = ap.parse_args()
    out = a.out or os.path.join(a.model_dir, "onnx")
    os.makedirs(out, exist_ok=True)
    m = ref.Siglip(a.model_dir, torch.float32)
    S = m.vc["image_size"]
    px = torch.zeros(2, 3, S, S)
    ids = torch.zeros(2, m.tc["max_position_embeddings"], dtype=torch.long)
    with torch.no_grad():
        torch.onnx.export(Tower(m.image_forward).eval(), (px,), os.path.join(out, "vision.onnx"),
                          input_names=["pixel_values"], output_names=["image_embeds"],
                          dynamic_axes={"pixel_values": {0: "batch"}, "image_embeds": {0: "batch"}},
                          opset_version=a.opset, do_constant_folding=True)
        torch.onnx.export(Tower(m.text_forward).eval(), (ids,), os.path.join(out, "text.onnx"),
                          input_names=["input_ids"], output_names=["text_embeds"],
                          dynamic_axes={"input_ids": {0: "batch"}, "text_embeds": {0: "batch"}},
                          opset_version=a.opset, do_constant_folding=True)
    print("wrote %s/vision.onnx and %s/text.onnx (image %d)" % (out, out, S))
    return 0


if __name__ == "__main__":
    sys.exit(main())

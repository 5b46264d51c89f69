#!/usr/bin/python3
"""Exports the BLIP vision tower of a model dir to ONNX (torch 1.13 torch.onnx.export), the
ONNX Runtime speed reference of `make bench`.

  /usr/bin/python3 tools/caption/export_onnx.py MODEL_DIR [--out DIR] [--opset 17]

Writes DIR/vision.onnx: pixel_values [B,3,S,S] float32 -> image_embeds [B,n,d] (post_layernorm
of every row, what the text decoder attends to), dynamic B. The module is the batched form of
blip_reference.Blip.vision on the same float32 weights. DIR defaults to MODEL_DIR/onnx.
"""
import argparse
import math
import os
import sys

import torch

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import blip_reference as br  # noqa: E402


class VisionTower(torch.nn.Module):
    def __init__(self, m):
        super().__init__()
        vc, v = m.vc, "vision_model."
        self.d, self.heads, self.eps, self.p = vc["hidden_size"], vc["num_attention_heads"], \
            vc.get("layer_norm_eps", 1e-5), vc["patch_size"]
        self.layers = vc["num_hidden_layers"]
        for k, t in m.w.items():
            if k.startswith(v):
                self.register_buffer(k[len(v):].replace(".", "_"), t.contiguous())

    def w(self, name):
        return getattr(self, name.replace(".", "_"))

    def ln(self, x, n):
        return torch.nn.functional.layer_norm(x, (self.d,), self.w(n + ".weight"), self.w(n + ".bias"), self.eps)

    def lin(self, x, n):
        return x @ self.w(n + ".weight").t() + self.w(n + ".bias")

    def forward(self, px):
        B, d, H = px.shape[0], self.d, self.heads
        hd = d // H
        x = torch.nn.functional.conv2d(px, self.w("embeddings.patch_embedding.weight"),
                                       self.w("embeddings.patch_embedding.bias"), stride=self.p)
        x = x.flatten(2).transpose(1, 2)
        x = torch.cat([self.w("embeddings.class_embedding").expand(B, 1, d), x], 1)
        x = x + self.w("embeddings.position_embedding")[:, : x.shape[1]]
        n = x.shape[1]
        for i in range(self.layers):
            lp = "encoder.layers.%d." % i
            h = self.ln(x, lp + "layer_norm1")
            qkv = self.lin(h, lp + "self_attn.qkv").reshape(B, n, 3, H, hd).permute(2, 0, 3, 1, 4)
            a = torch.softmax(qkv[0] @ qkv[1].transpose(-1, -2) / math.sqrt(hd), -1) @ qkv[2]
            x = x + self.lin(a.transpose(1, 2).reshape(B, n, d), lp + "self_attn.projection")
            h = self.ln(x, lp + "layer_norm2")
            x = x + self.lin(br.gelu(self.lin(h, lp + "mlp.fc1")), lp + "mlp.fc2")
        return self.ln(x, "post_layernorm")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("model_dir")
    ap.add_argument("--out")
    ap.add_argument("--opset", type=int, default=17)
    a = ap.parse_args()
    out = a.out or os.path.join(a.model_dir, "onnx")
    os.makedirs(out, exist_ok=True)
    m = br.Blip(a.model_dir, torch.float32)
    vt = VisionTower(m).eval()
    s = m.vc["image_size"]
    del m
    with torch.no_grad():
        torch.onnx.export(vt, (torch.zeros(2, 3, s, s),), os.path.join(out, "vision.onnx"),
                          input_names=["pixel_values"], output_names=["image_embeds"],
                          dynamic_axes={"pixel_values": {0: "batch"}, "image_embeds": {0: "batch"}},
                          opset_version=a.opset, do_constant_folding=True)
    print("wrote %s/vision.onnx (image %d)" % (out, s))
    return 0


if __name__ == "__main__":
    sys.exit(main())

#!/usr/bin/python3
"""Independent PyTorch implementation of Hugging Face SiglipModel inference (dev time).

Written from transformers' modeling_siglip.py semantics, not from LISA's C code:

  text:   token_embedding[ids] + position_embedding[0..n-1]; pre-LN encoder layers without any
          mask (SiglipProcessor passes no attention_mask: the pad positions are attended too);
          q scaled by head_dim^-0.5; final_layer_norm; pooled = last_hidden_state[:, -1];
          text_model.head (Linear with bias); text_embeds = pooled / ||pooled||.
  vision: Conv2d patch embedding (stride = patch, with bias), flatten(2).transpose(1, 2), +
          position_embedding (one row per patch, no class token); encoder (no mask);
          post_layernorm; SiglipMultiheadAttentionPoolingHead: probe (1, 1, d) as the query of
          torch.nn.MultiheadAttention(d, heads, batch_first=True) over the patches (fused
          in_proj_weight / in_proj_bias, out_proj), then x = x + mlp(layernorm(x)), row 0;
          image_embeds = pooled / ||pooled||.
  act:    gelu_pytorch_tanh = F.gelu(x, approximate="tanh").
  logits: logits_per_text = text_embeds @ image_embeds.T * exp(logit_scale) + logit_bias;
          probability = sigmoid(logits).
  pixels: SiglipImageProcessor on PIL: exif_transpose (transformers' load_image), RGB,
          Image.resize((S, S), BICUBIC, reducing_gap=None), no crop, x.astype(float64) / 255 ->
          float32, (x - 0.5) / 0.5 in float32, CHW.

Compute is float64 by default (from the stored weights upcast), so goldens are the model's
exact values; torch.float32 gives what HF computes.
"""
import json
import os
import sys

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "clip"))
from clip_reference import read_safetensors  # noqa: E402
import hf_preprocess  # noqa: E402


def preprocess_file(path, cfg):
    img = hf_preprocess.open_image(path).convert("RGB")
    s = cfg["size"]
    img = img.resize((s["width"], s["height"]), resample=cfg.get("resample", 3), reducing_gap=None)
    x = (np.asarray(img).astype(np.float64) * cfg.get("rescale_factor", 1 / 255)).astype(np.float32)
    mean = np.array(cfg["image_mean"], dtype=np.float32)
    std = np.array(cfg["image_std"], dtype=np.float32)
    x = (x - mean) / std
    return np.ascontiguousarray(x.transpose(2, 0, 1), dtype=np.float32)


class Siglip:
    def __init__(self, model_dir, dtype=torch.float64):
        with open(os.path.join(model_dir, "config.json")) as f:
            self.cfg = json.load(f)
        assert self.cfg["model_type"] == "siglip"
        self.dt = dtype
        self.w = {k: torch.from_numpy(np.array(v)).to(dtype)
                  for k, v in read_safetensors(os.path.join(model_dir, "model.safetensors")).items()}
        self.tc, self.vc = self.cfg["text_config"], self.cfg["vision_config"]
        h, d = "vision_model.head.", self.vc["hidden_size"]
        self.mha = torch.nn.MultiheadAttention(d, self.vc["num_attention_heads"], batch_first=True).to(dtype)
        with torch.no_grad():
            self.mha.in_proj_weight.copy_(self.w[h + "attention.in_proj_weight"])
            self.mha.in_proj_bias.copy_(self.w[h + "attention.in_proj_bias"])
            self.mha.out_proj.weight.copy_(self.w[h + "attention.out_proj.weight"])
            self.mha.out_proj.bias.copy_(self.w[h + "attention.out_proj.bias"])
        self.mha.eval().requires_grad_(False)

    def ln(self, x, name, eps):
        g = self.w[name + ".weight"]
        return F.layer_norm(x, (int(g.shape[0]),), g, self.w[name + ".bias"], eps)

    def lin(self, x, name):
        return F.linear(x, self.w[name + ".weight"], self.w[name + ".bias"])

    def mlp(self, x, p):
        return self.lin(F.gelu(self.lin(x, p + "fc1"), approximate="tanh"), p + "fc2")

    def encoder(self, x, prefix, c):
        d, heads = c["hidden_size"], c["num_attention_heads"]
        hd, eps = d // heads, c["layer_norm_eps"]
        for i in range(c["num_hidden_layers"]):
            p = "%s.encoder.layers.%d." % (prefix, i)
            h = self.ln(x, p + "layer_norm1", eps)
            b, n, _ = h.shape
            q, k, v = (self.lin(h, p + "self_attn.%s_proj" % s).view(b, n, heads, hd).transpose(1, 2)
                       for s in "qkv")
            a = torch.softmax((q @ k.transpose(-1, -2)) * hd ** -0.5, dim=-1) @ v
            x = x + self.lin(a.transpose(1, 2).reshape(b, n, d), p + "self_attn.out_proj")
            x = x + self.mlp(self.ln(x, p + "layer_norm2", eps), p + "mlp.")
        return x

    def text_forward(self, ids):
        """(B, n) int64 ids -> (B, P) text_embeds."""
        c = self.tc
        x = self.w["text_model.embeddings.token_embedding.weight"][ids]
        x = x + self.w["text_model.embeddings.position_embedding.weight"][: ids.shape[1]]
        x = self.encoder(x, "text_model", c)
        x = self.ln(x, "text_model.final_layer_norm", c["layer_norm_eps"])
        pooled = self.lin(x[:, -1, :], "text_model.head")
        return F.normalize(pooled, dim=-1)

    def text_embed(self, ids):
        return self.text_forward(torch.tensor([ids], dtype=torch.long))[0].double().numpy()

    def image_forward(self, x):
        """(B, 3, S, S) pixels -> (B, P) image_embeds."""
        c = self.vc
        d, heads, eps = c["hidden_size"], c["num_attention_heads"], c["layer_norm_eps"]
        pe = "vision_model.embeddings.patch_embedding"
        x = F.conv2d(x, self.w[pe + ".weight"], self.w[pe + ".bias"], stride=c["patch_size"])
        x = x.flatten(2).transpose(1, 2)
        x = x + self.w["vision_model.embeddings.position_embedding.weight"][None]
        x = self.encoder(x, "vision_model", c)
        x = self.ln(x, "vision_model.post_layernorm", eps)
        h = "vision_model.head."
        with torch.no_grad():
            probe = self.w[h + "probe"].expand(x.shape[0], -1, -1)
            y = self.mha(probe, x, x, need_weights=False)[0]
        y = y + self.mlp(self.ln(y, h + "layernorm", eps), h + "mlp.")
        return F.normalize(y[:, 0], dim=-1)

    def image_embed(self, px):
        x = torch.from_numpy(np.asarray(px, dtype=np.float32)).to(self.dt)[None]
        return self.image_forward(x)[0].double().numpy()

    def logit(self, text_embed, image_embed):
        s = float(torch.exp(self.w["logit_scale"].double()).reshape(-1)[0])
        b = float(self.w["logit_bias"].double().reshape(-1)[0])
        return float(np.dot(text_embed, image_embed)) * s + b

#!/usr/bin/python3
"""Independent PyTorch implementation of Hugging Face CLIPModel inference (dev time).

Reads a model directory (config.json + model.safetensors, F32/F16/BF16 upcast to
float32; extra tensors such as position_ids are ignored) and computes text and image
embeddings with HF semantics:

  text:   token_embedding[ids] + position_embedding[0..n-1]; pre-LN encoder layers
          (x += attn(ln1(x)) with a causal mask; x += fc2(act(fc1(ln2(x))))),
          q scaled by head_dim^-0.5; final_layer_norm; pooled row = the EOS position:
          argmax(ids) when eos_token_id == 2 (legacy configs), else the first id equal
          to eos_token_id; text_projection (no bias).
  vision: conv patch embedding (stride = patch, no bias), class token first,
          + position_embedding; pre_layrnorm; encoder (no mask); post_layernorm of the
          class-token row; visual_projection (no bias).
  act:    quick_gelu = x * sigmoid(1.702 x); gelu = exact erf GELU.

Computation is done in float64 by default (from the float32 weights) so the goldens
are the exact model values; --f32 computes in float32 as HF would.

  clip_reference.py MODEL_DIR --text "a photo of a cat"   (ids via tools/clip/ids.mjs)
  clip_reference.py MODEL_DIR --image x.jpg
"""
import argparse
import json
import math
import os
import subprocess
import sys

import numpy as np
import torch

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import hf_preprocess  # noqa: E402


def read_safetensors(path):
    """-> dict name -> float32 numpy array (ints kept as int64)."""
    with open(path, "rb") as f:
        n = int.from_bytes(f.read(8), "little")
        header = json.loads(f.read(n))
        data = f.read()
    out = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        a, b = info["data_offsets"]
        raw = data[a:b]
        dt = info["dtype"]
        shape = info["shape"]
        if dt == "F32":
            arr = np.frombuffer(raw, dtype="<f4")
        elif dt == "F16":
            arr = np.frombuffer(raw, dtype="<f2").astype(np.float32)
        elif dt == "BF16":
            bits = np.frombuffer(raw, dtype="<u2").astype(np.uint32) << np.uint32(16)
            arr = bits.view(np.float32)
        elif dt == "I64":
            arr = np.frombuffer(raw, dtype="<i8")
        else:
            raise ValueError("unsupported dtype %s for %s" % (dt, name))
        out[name] = arr.reshape(shape).copy()
    return out


class Clip:
    def __init__(self, model_dir, dtype=torch.float64):
        with open(os.path.join(model_dir, "config.json")) as f:
            self.cfg = json.load(f)
        self.tc = self.cfg["text_config"]
        self.vc = self.cfg["vision_config"]
        self.dtype = dtype
        raw = read_safetensors(os.path.join(model_dir, "model.safetensors"))
        self.w = {k: torch.from_numpy(v).to(dtype) for k, v in raw.items()
                  if v.dtype == np.float32}

    # -- building blocks ---------------------------------------------------
    def ln(self, x, name, eps):
        return torch.nn.functional.layer_norm(
            x, (x.shape[-1],), self.w[name + ".weight"], self.w[name + ".bias"], eps)

    def lin(self, x, name, bias=True):
        y = x @ self.w[name + ".weight"].T
        if bias:
            y = y + self.w[name + ".bias"]
        return y

    @staticmethod
    def act(x, kind):
        if kind == "quick_gelu":
            return x * torch.sigmoid(1.702 * x)
        if kind == "gelu":
            return 0.5 * x * (1.0 + torch.erf(x / math.sqrt(2.0)))
        raise ValueError("unsupported hidden_act %s" % kind)

    def attn(self, x, prefix, heads, causal):
        n, d = x.shape
        hd = d // heads
        q = self.lin(x, prefix + "q_proj") * (hd ** -0.5)
        k = self.lin(x, prefix + "k_proj")
        v = self.lin(x, prefix + "v_proj")
        q = q.reshape(n, heads, hd).transpose(0, 1)
        k = k.reshape(n, heads, hd).transpose(0, 1)
        v = v.reshape(n, heads, hd).transpose(0, 1)
        s = q @ k.transpose(1, 2)
        if causal:
            mask = torch.triu(torch.ones(n, n, dtype=torch.bool), diagonal=1)
            s = s.masked_fill(mask, float("-inf"))
        p = torch.softmax(s, dim=-1)
        o = (p @ v).transpose(0, 1).reshape(n, d)
        return self.lin(o, prefix + "out_proj")

    def encoder(self, x, tower, c, causal):
        for i in range(c["num_hidden_layers"]):
            lp = "%s.encoder.layers.%d." % (tower, i)
            eps = c["layer_norm_eps"]
            x = x + self.attn(self.ln(x, lp + "layer_norm1", eps), lp + "self_attn.",
                              c["num_attention_heads"], causal)
            h = self.ln(x, lp + "layer_norm2", eps)
            h = self.lin(self.act(self.lin(h, lp + "mlp.fc1"), c["hidden_act"]), lp + "mlp.fc2")
            x = x + h
        return x

    # -- towers ------------------------------------------------------------
    def eos_index(self, ids):
        eos = self.tc.get("eos_token_id", 2)
        if eos == 2:
            return int(np.argmax(np.asarray(ids)))
        for i, t in enumerate(ids):
            if t == eos:
                return i
        raise ValueError("no eos_token_id %d in ids" % eos)

    def text_features(self, ids):
        """Projected, un-normalised text features for one id list."""
        n = len(ids)
        if n < 1 or n > self.tc["max_position_embeddings"]:
            raise ValueError("bad sequence length %d" % n)
        t = torch.tensor(ids, dtype=torch.long)
        x = self.w["text_model.embeddings.token_embedding.weight"][t]
        x = x + self.w["text_model.embeddings.position_embedding.weight"][:n]
        x = self.encoder(x, "text_model", self.tc, causal=True)
        x = self.ln(x, "text_model.final_layer_norm", self.tc["layer_norm_eps"])
        pooled = x[self.eos_index(ids)]
        return self.lin(pooled, "text_projection", bias=False)

    def image_features(self, pixels):
        """pixels: float32 CHW numpy array -> projected, un-normalised image features."""
        c = self.vc
        p = c["patch_size"]
        px = torch.from_numpy(np.asarray(pixels, dtype=np.float32)).to(self.dtype)[None]
        wconv = self.w["vision_model.embeddings.patch_embedding.weight"]
        pe = torch.nn.functional.conv2d(px, wconv, stride=p)  # 1, D, gh, gw
        pe = pe.flatten(2).transpose(1, 2)[0]  # gh*gw, D
        cls = self.w["vision_model.embeddings.class_embedding"][None]
        x = torch.cat([cls, pe], dim=0)
        x = x + self.w["vision_model.embeddings.position_embedding.weight"][:x.shape[0]]
        x = self.ln(x, "vision_model.pre_layrnorm", c["layer_norm_eps"])
        x = self.encoder(x, "vision_model", c, causal=False)
        pooled = self.ln(x[0], "vision_model.post_layernorm", c["layer_norm_eps"])
        return self.lin(pooled, "visual_projection", bias=False)

    @staticmethod
    def normalise(v):
        return v / torch.linalg.vector_norm(v)

    def text_embed(self, ids):
        with torch.inference_mode():
            return self.normalise(self.text_features(ids)).to(torch.float32).numpy()

    def image_embed(self, pixels):
        with torch.inference_mode():
            return self.normalise(self.image_features(pixels)).to(torch.float32).numpy()


def _encoder_module(clip, tower, c):
    import torch.nn as nn

    class Layer(nn.Module):
        def __init__(self, i):
            super().__init__()
            lp = "%s.encoder.layers.%d." % (tower, i)
            self.p = {}
            for k, v in clip.w.items():
                if k.startswith(lp):
                    name = k[len(lp):].replace(".", "_")
                    self.register_buffer(name, v.to(torch.float32).clone())
            self.heads = c["num_attention_heads"]
            self.width = c["hidden_size"]
            self.eps = c["layer_norm_eps"]
            self.act_kind = c["hidden_act"]

        def ln(self, x, n):
            return torch.nn.functional.layer_norm(
                x, (self.width,), getattr(self, n + "_weight"), getattr(self, n + "_bias"),
                self.eps)

        def lin(self, x, n):
            return torch.nn.functional.linear(
                x, getattr(self, n + "_weight"), getattr(self, n + "_bias"))

        def forward(self, x, mask):
            b, n = x.shape[0], x.shape[1]
            d = self.width
            hd = d // self.heads
            h = self.ln(x, "layer_norm1")
            q = (self.lin(h, "self_attn_q_proj") * (hd ** -0.5)).reshape(b, n, self.heads, hd)
            k = self.lin(h, "self_attn_k_proj").reshape(b, n, self.heads, hd)
            v = self.lin(h, "self_attn_v_proj").reshape(b, n, self.heads, hd)
            q, k, v = q.transpose(1, 2), k.transpose(1, 2), v.transpose(1, 2)
            s = q @ k.transpose(2, 3)
            if mask is not None:
                s = s + mask
            o = (torch.softmax(s, dim=-1) @ v).transpose(1, 2).reshape(b, n, d)
            x = x + self.lin(o, "self_attn_out_proj")
            h = self.lin(self.ln(x, "layer_norm2"), "mlp_fc1")
            if self.act_kind == "quick_gelu":
                h = h * torch.sigmoid(1.702 * h)
            else:
                h = torch.nn.functional.gelu(h)
            return x + self.lin(h, "mlp_fc2")

    return nn.ModuleList([Layer(i) for i in range(c["num_hidden_layers"])])


def _ln(x, w, b, eps):
    return torch.nn.functional.layer_norm(x, (int(w.shape[0]),), w, b, eps)


class VisionTower(torch.nn.Module):
    """pixel_values [B,3,H,W] float32 -> L2-normalised image embeddings [B,P]."""

    def __init__(self, clip):
        super().__init__()
        c = clip.vc
        w = {k: v.to(torch.float32) for k, v in clip.w.items()}
        self.patch = c["patch_size"]
        self.eps = c["layer_norm_eps"]
        self.register_buffer("conv", w["vision_model.embeddings.patch_embedding.weight"])
        self.register_buffer("cls", w["vision_model.embeddings.class_embedding"])
        self.register_buffer("pos", w["vision_model.embeddings.position_embedding.weight"])
        for n in ("pre_layrnorm", "post_layernorm"):
            self.register_buffer(n + "_w", w["vision_model.%s.weight" % n])
            self.register_buffer(n + "_b", w["vision_model.%s.bias" % n])
        self.register_buffer("proj", w["visual_projection.weight"])
        self.layers = _encoder_module(clip, "vision_model", c)

    def forward(self, pixel_values):
        b = pixel_values.shape[0]
        pe = torch.nn.functional.conv2d(pixel_values, self.conv, stride=self.patch)
        pe = pe.flatten(2).transpose(1, 2)
        x = torch.cat([self.cls.reshape(1, 1, -1).expand(b, 1, -1), pe], dim=1) + self.pos
        x = _ln(x, self.pre_layrnorm_w, self.pre_layrnorm_b, self.eps)
        for layer in self.layers:
            x = layer(x, None)
        pooled = _ln(x[:, 0], self.post_layernorm_w, self.post_layernorm_b, self.eps)
        e = pooled @ self.proj.T
        return e / torch.linalg.vector_norm(e, dim=-1, keepdim=True)


class TextTower(torch.nn.Module):
    """input_ids [B,n] int64 (BOS..EOS, unpadded) -> L2-normalised text embeddings [B,P]."""

    def __init__(self, clip):
        super().__init__()
        c = clip.tc
        w = {k: v.to(torch.float32) for k, v in clip.w.items()}
        self.eps = c["layer_norm_eps"]
        self.eos = c.get("eos_token_id", 2)
        self.register_buffer("tok", w["text_model.embeddings.token_embedding.weight"])
        self.register_buffer("pos", w["text_model.embeddings.position_embedding.weight"])
        m = c["max_position_embeddings"]
        self.register_buffer("mask", torch.triu(torch.full((m, m), float("-inf")), diagonal=1))
        self.register_buffer("fln_w", w["text_model.final_layer_norm.weight"])
        self.register_buffer("fln_b", w["text_model.final_layer_norm.bias"])
        self.register_buffer("proj", w["text_projection.weight"])
        self.layers = _encoder_module(clip, "text_model", c)

    def forward(self, input_ids):
        b, n = input_ids.shape
        x = self.tok[input_ids] + self.pos[:n]
        mask = self.mask[:n, :n]
        for layer in self.layers:
            x = layer(x, mask)
        x = _ln(x, self.fln_w, self.fln_b, self.eps)
        if self.eos == 2:
            idx = input_ids.argmax(dim=-1)
        else:
            idx = (input_ids == self.eos).to(torch.int64).argmax(dim=-1)
        pooled = x[torch.arange(b), idx]
        e = pooled @ self.proj.T
        return e / torch.linalg.vector_norm(e, dim=-1, keepdim=True)


def token_ids(texts, tokenizer=None):
    """Real CLIP ids through tools/clip/ids.mjs (node, @huggingface/transformers)."""
    cmd = ["node", os.path.join(HERE, "ids.mjs")]
    if tokenizer:
        cmd += ["--tokenizer", tokenizer]
    r = subprocess.run(cmd, input=json.dumps(texts).encode("utf-8"),
                       stdout=subprocess.PIPE, check=True)
    return json.loads(r.stdout)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("model_dir")
    ap.add_argument("--text", action="append", default=[])
    ap.add_argument("--image", action="append", default=[])
    ap.add_argument("--f32", action="store_true", help="compute in float32")
    a = ap.parse_args()
    m = Clip(a.model_dir, torch.float32 if a.f32 else torch.float64)
    if a.text:
        for t, ids in zip(a.text, token_ids(a.text)):
            e = m.text_embed(ids)
            print(json.dumps({"text": t, "ids": ids, "embed": [float(v) for v in e]}))
    if a.image:
        cfg = hf_preprocess.load_config(a.model_dir)
        for f in a.image:
            e = m.image_embed(hf_preprocess.preprocess_file(f, cfg))
            print(json.dumps({"file": f, "embed": [float(v) for v in e]}))


if __name__ == "__main__":
    main()

#!/usr/bin/python3
"""Independent PyTorch implementation of Hugging Face BlipForConditionalGeneration captioning (dev time).

Written from HF's semantics (modeling_blip.py, modeling_blip_text.py, generation/utils.py of
transformers >= 4.50), not from its code. Reads a model dir (config.json, model.safetensors or
model.safetensors.index.json + shards; F32/F16/BF16 upcast) and computes in float64 by default.

vision  conv patch embedding (stride = patch, with bias), class token first, + position_embedding
        (a (1, n, d) parameter); pre-LN blocks: x += projection(attn(qkv(ln1(x)))) where qkv is
        one fused (3d, d) Linear split as [q; k; v], heads contiguous, scale hd^-0.5;
        x += fc2(gelu(fc1(ln2(x)))); then post_layernorm over every row -> image_embeds.
text    BERT decoder, post-LN: x = LN(word_emb[ids] + pos_emb[past..]); per layer
        a = LN(x + dense(causal_self_attn(x))); c = LN(a + dense(cross_attn(a, image_embeds)));
        x = LN(c + out(gelu(inter(c)))); LM head: LN(gelu(transform(x))) @ decoder.weight^T
        + bias (decoder.weight, or the word embeddings when the checkpoint ties them).
generate  input ids = [bos 30522] + prompt ids (the processor's [CLS] ... [SEP] with [CLS]
        replaced by bos and [SEP] dropped), eos = [SEP] 102, pad 0, max_length counts the
        prompt. Logits processors: repetition_penalty (on every id in the sequence so far:
        score < 0 ? score * p : score / p), then min_length (eos -> -inf while len < min_length).
        Greedy: argmax of the processed logits. Beam search: the >= 4.50 algorithm
        (running beams vs. finished hypotheses, 2K candidates, length_penalty on the number of
        generated tokens, early stop when the best running beam's normalised score cannot beat
        the worst finished one, early_stopping=False).

The text decoder is recomputed over the whole sequence at every step (no KV cache): the C
engine's cache is checked against that.
"""
import json
import math
import os

import numpy as np
import torch

BOS, EOS, PAD = 30522, 102, 0


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
        raw, dt, shape = data[a:b], info["dtype"], info["shape"]
        if dt == "F32":
            arr = np.frombuffer(raw, dtype="<f4")
        elif dt == "F16":
            arr = np.frombuffer(raw, dtype="<f2").astype(np.float32)
        elif dt == "BF16":
            arr = (np.frombuffer(raw, dtype="<u2").astype(np.uint32) << np.uint32(16)).view(np.float32)
        elif dt == "I64":
            arr = np.frombuffer(raw, dtype="<i8")
        else:
            raise ValueError("unsupported dtype %s for %s" % (dt, name))
        out[name] = arr.reshape(shape).copy()
    return out


def read_model(model_dir):
    single = os.path.join(model_dir, "model.safetensors")
    if os.path.exists(single):
        return read_safetensors(single)
    with open(os.path.join(model_dir, "model.safetensors.index.json")) as f:
        wmap = json.load(f)["weight_map"]
    out = {}
    for shard in sorted(set(wmap.values())):
        for k, v in read_safetensors(os.path.join(model_dir, shard)).items():
            if wmap.get(k) == shard:
                out[k] = v
    return out


def gelu(x):
    return 0.5 * x * (1.0 + torch.erf(x / math.sqrt(2.0)))


class Blip:
    def __init__(self, model_dir, dtype=torch.float64):
        with open(os.path.join(model_dir, "config.json")) as f:
            self.cfg = json.load(f)
        self.tc, self.vc = self.cfg["text_config"], self.cfg["vision_config"]
        self.dtype = dtype
        raw = read_model(model_dir)
        self.w = {k: torch.from_numpy(v).to(dtype) for k, v in raw.items() if v.dtype == np.float32}
        c = "text_decoder.cls.predictions."
        self.head_w = self.w.get(c + "decoder.weight", self.w["text_decoder.bert.embeddings.word_embeddings.weight"])
        self.head_b = self.w[c + "bias"]
        self.vocab = self.tc["vocab_size"]

    def lin(self, x, name):
        return x @ self.w[name + ".weight"].T + self.w[name + ".bias"]

    def ln(self, x, name, eps):
        return torch.nn.functional.layer_norm(x, (x.shape[-1],), self.w[name + ".weight"], self.w[name + ".bias"], eps)

    @staticmethod
    def attend(q, k, v, heads, causal_offset=None):
        """q (n, d), k/v (m, d) -> (n, d); causal: query i sees keys 0..causal_offset+i."""
        n, d = q.shape
        m, hd = k.shape[0], d // heads
        qh = q.reshape(n, heads, hd).transpose(0, 1)
        kh = k.reshape(m, heads, hd).transpose(0, 1)
        vh = v.reshape(m, heads, hd).transpose(0, 1)
        s = qh @ kh.transpose(1, 2) / math.sqrt(hd)
        if causal_offset is not None:
            mask = torch.arange(m)[None, :] > (torch.arange(n)[:, None] + causal_offset)
            s = s.masked_fill(mask, float("-inf"))
        return (torch.softmax(s, dim=-1) @ vh).transpose(0, 1).reshape(n, d)

    # -- vision ---------------------------------------------------------------
    def vision(self, pixels):
        """pixels (3, S, S) numpy float32 -> image_embeds (n, d) tensor."""
        vc, v = self.vc, "vision_model."
        d, heads, eps, p = vc["hidden_size"], vc["num_attention_heads"], vc.get("layer_norm_eps", 1e-5), vc["patch_size"]
        x = torch.from_numpy(pixels).to(self.dtype)[None]
        x = torch.nn.functional.conv2d(x, self.w[v + "embeddings.patch_embedding.weight"],
                                       self.w[v + "embeddings.patch_embedding.bias"], stride=p)
        x = x.flatten(2).transpose(1, 2)[0]
        x = torch.cat([self.w[v + "embeddings.class_embedding"].reshape(1, d), x], 0)
        x = x + self.w[v + "embeddings.position_embedding"][0, : x.shape[0]]
        for i in range(vc["num_hidden_layers"]):
            lp = v + "encoder.layers.%d." % i
            h = self.ln(x, lp + "layer_norm1", eps)
            qkv = self.lin(h, lp + "self_attn.qkv")
            q, k, vv = qkv[:, :d], qkv[:, d:2 * d], qkv[:, 2 * d:]
            x = x + self.lin(self.attend(q, k, vv, heads), lp + "self_attn.projection")
            h = self.ln(x, lp + "layer_norm2", eps)
            x = x + self.lin(gelu(self.lin(h, lp + "mlp.fc1")), lp + "mlp.fc2")
        return self.ln(x, v + "post_layernorm", eps)

    # -- text decoder -----------------------------------------------------------
    def logits(self, ids, image_embeds):
        """ids (list) -> logits (len(ids), vocab) for every position."""
        tc, b = self.tc, "text_decoder.bert."
        heads, eps = tc["num_attention_heads"], tc.get("layer_norm_eps", 1e-12)
        ids_t = torch.tensor(ids, dtype=torch.long)
        x = self.w[b + "embeddings.word_embeddings.weight"][ids_t] + \
            self.w[b + "embeddings.position_embeddings.weight"][: len(ids)]
        x = self.ln(x, b + "embeddings.LayerNorm", eps)
        for i in range(tc["num_hidden_layers"]):
            lp = b + "encoder.layer.%d." % i
            s = lp + "attention."
            ctx = self.attend(self.lin(x, s + "self.query"), self.lin(x, s + "self.key"),
                              self.lin(x, s + "self.value"), heads, causal_offset=0)
            a = self.ln(x + self.lin(ctx, s + "output.dense"), s + "output.LayerNorm", eps)
            s = lp + "crossattention."
            ctx = self.attend(self.lin(a, s + "self.query"), self.lin(image_embeds, s + "self.key"),
                              self.lin(image_embeds, s + "self.value"), heads)
            c = self.ln(a + self.lin(ctx, s + "output.dense"), s + "output.LayerNorm", eps)
            x = self.ln(c + self.lin(gelu(self.lin(c, lp + "intermediate.dense")), lp + "output.dense"),
                        lp + "output.LayerNorm", eps)
        hp = "text_decoder.cls.predictions.transform."
        h = self.ln(gelu(self.lin(x, hp + "dense")), hp + "LayerNorm", eps)
        return h @ self.head_w.T + self.head_b

    # -- generation -------------------------------------------------------------
    @staticmethod
    def process(seq, scores, min_length, repetition_penalty):
        """Logits processors in HF's order: repetition penalty, then min length."""
        scores = scores.clone()
        if repetition_penalty != 1.0:
            idx = torch.tensor(sorted(set(seq)), dtype=torch.long)
            s = scores[idx]
            scores[idx] = torch.where(s < 0, s * repetition_penalty, s / repetition_penalty)
        if len(seq) < min_length:
            scores[EOS] = float("-inf")
        return scores

    def greedy(self, image_embeds, prompt, max_length=20, min_length=0, repetition_penalty=1.0):
        """-> (ids, smallest gap between the best and second-best processed logit)."""
        seq, gap = [BOS] + list(prompt), float("inf")
        while True:
            sc = self.process(seq, self.logits(seq, image_embeds)[-1], min_length, repetition_penalty)
            top = torch.topk(sc, 2)
            gap = min(gap, float(top.values[0] - top.values[1]))
            seq.append(int(top.indices[0]))
            if seq[-1] == EOS or len(seq) >= max_length:
                return seq, gap

    def beam(self, image_embeds, prompt, num_beams=3, max_length=20, min_length=0, repetition_penalty=1.0,
             length_penalty=1.0):
        """Beam search of transformers >= 4.50 for one image (batch 1, early_stopping=False,
        one sequence returned). -> (ids, smallest gap between scores whose order decided anything)."""
        K, V = num_beams, self.vocab
        keep = 2 * K  # max(2, 1 + number of eos ids) * num_beams
        start = [BOS] + list(prompt)
        plen = len(start)
        running = [list(start) for _ in range(K)]
        run_scores = torch.tensor([0.0] + [-1e9] * (K - 1), dtype=self.dtype)
        fin = []  # (score, ids) of finished hypotheses, at most K
        gap = float("inf")
        cur = plen
        while True:
            lp = torch.stack([self.process(s, torch.log_softmax(self.logits(s, image_embeds)[-1], -1), min_length,
                                           repetition_penalty) for s in running])
            acc = (lp + run_scores[:, None]).reshape(-1)
            vals, idx = torch.topk(acc, keep + 1)
            real = vals[vals > -1e8]
            if real.numel() > 1:
                gap = min(gap, float((real[:-1] - real[1:]).min()))
            vals, idx = vals[:keep], idx[:keep]
            cands = [running[int(i) // V] + [int(i) % V] for i in idx]
            hits = [c[-1] == EOS or len(c) >= max_length for c in cands]
            # next running beams: the best K candidates that did not stop
            masked = vals + torch.tensor([-1e9 if h else 0.0 for h in hits], dtype=self.dtype)
            order = torch.topk(masked, K).indices
            new_running = [cands[int(j)] for j in order]
            new_scores = masked[order]
            # finished: the candidates among the top K that stopped, normalised by generated length
            for j in range(K):
                if hits[j]:
                    fin.append((float(vals[j]) / ((cur + 1 - plen) ** length_penalty), cands[j]))
            fin.sort(key=lambda t: -t[0])
            if len(fin) > K:
                gap = min(gap, fin[K - 1][0] - fin[K][0])
            fin = fin[:K]
            running, run_scores = new_running, new_scores
            cur += 1
            # early-stop heuristic (early_stopping=False): stop once K hypotheses are finished
            # and the best running beam, normalised by the current generated length, is no better
            # than the worst of them; or when every candidate stopped (max_length)
            if all(hits):
                break
            if len(fin) == K:
                best = float(run_scores[0]) / ((cur - plen) ** length_penalty)
                if not best > fin[-1][0]:
                    break
                gap = min(gap, best - fin[-1][0])
        return fin[0][1], gap


def prompt_ids(wordpiece_ids):
    """Processor ids [CLS] ... [SEP] -> the prompt tokens generate() feeds after bos."""
    assert wordpiece_ids[0] == 101 and wordpiece_ids[-1] == 102
    return list(wordpiece_ids[1:-1])

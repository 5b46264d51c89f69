#!/usr/bin/python3
"""Writes a reduced copy of SigLIP 2's Gemma tokenizer.json for the tests (dev time, stdlib only).

  /usr/bin/python3 tools/siglip/reduce_gemma.py [--src ../shared/models/siglip-tokenizer/siglip2-gemma/tokenizer.json]
                                               [--merges 20000] [--out tests/data/siglip/gemma-reduced/tokenizer.json]

The real file (256,000 pieces, 580,604 merges, 17 MB; provenance in tools/siglip/README.md) is too big to track.
The reduced one keeps the pipeline as it is (normalizer, added tokens, decoder, post-processor) and:
  - every piece with id < 473 (<pad> <eos> <bos> <unk>, the other added tokens, the 256 <0xXX> byte pieces),
  - every single-character piece (20,722: all scripts the real vocabulary covers one character at a time),
  - the first --merges merges by rank whose two parts are kept, and the pieces they make.
Pieces are renumbered 0..n-1 in their original order, so ids below 473 are the real ones. This is itself a valid
byte-fallback BPE: transformers.js loads it, and the C tokenizer must give the same ids on it
(tests/data/siglip/gemma_ids.json, tools/siglip/gemma_ids.mjs).
"""
import argparse
import json
import os
import sys


def main():
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    ap = argparse.ArgumentParser()
    ap.add_argument("--src", default=os.path.join(root, "..", "shared", "models", "siglip-tokenizer",
                                                  "siglip2-gemma", "tokenizer.json"))
    ap.add_argument("--merges", type=int, default=20000)
    ap.add_argument("--out", default=os.path.join(root, "tests", "data", "siglip", "gemma-reduced",
                                                  "tokenizer.json"))
    a = ap.parse_args()
    with open(a.src, encoding="utf-8") as f:
        tj = json.load(f)
    vocab = tj["model"]["vocab"]
    keep = {p for p, i in vocab.items() if i < 473 or len(p) == 1}
    merges = []
    for m in tj["model"]["merges"]:
        x, y = m.split(" ", 1) if isinstance(m, str) else m
        if x in keep and y in keep and (x + y) in vocab:
            merges.append(m)
            keep.add(x + y)
            if len(merges) == a.merges:
                break
    kept = sorted(keep, key=lambda p: vocab[p])
    new = {p: i for i, p in enumerate(kept)}
    assert all(new[p] == vocab[p] for p in kept if vocab[p] < 473)
    tj["model"]["vocab"] = new
    tj["model"]["merges"] = merges
    for t in tj["added_tokens"]:
        t["id"] = new[t["content"]]
    os.makedirs(os.path.dirname(a.out), exist_ok=True)
    with open(a.out, "w", encoding="utf-8") as f:
        json.dump(tj, f, ensure_ascii=False, separators=(",", ":"))
    print("%s: %d pieces, %d merges, %d bytes" % (a.out, len(new), len(merges), os.path.getsize(a.out)))
    return 0


if __name__ == "__main__":
    sys.exit(main())

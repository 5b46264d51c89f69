#!/usr/bin/python3
"""Trains the small SentencePiece unigram model the SigLIP 1 tokenizer tests use (dev time: Debian's spm_train).

  /usr/bin/python3 tools/siglip/make_tiny_spiece.py [--out tests/data/siglip/spiece-tiny/spiece.model]

google/siglip-base-patch16-224's own spiece.model (T5's English unigram, 32,000 pieces) could not be obtained
here. This one has its layout: unigram, ids <pad>=0 </s>=1 <unk>=2, no <bos>, nmt_nfkc normalization, trained
on the phrases of tools/siglip/make_gemma_goldens.py (about 30 languages) with full character coverage and 700
pieces. It tests LISA's SiglipTokenizer pipeline around libsentencepiece, not T5's vocabulary: the real ids are
checked against HF's published ones when LISA_SIGLIP_SPIECE names the real file (tests/test_siglip.c).
"""
import argparse
import os
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, HERE)
from make_gemma_goldens import PHRASES  # noqa: E402


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", default=os.path.join(ROOT, "tests", "data", "siglip", "spiece-tiny", "spiece.model"))
    a = ap.parse_args()
    lines = []
    for ps in PHRASES.values():
        for p in ps:
            lines += [p, p.lower(), "a photo of " + p.lower(), p + " in the background of the city"]
    os.makedirs(os.path.dirname(a.out), exist_ok=True)
    with tempfile.TemporaryDirectory() as d:
        corpus = os.path.join(d, "corpus.txt")
        with open(corpus, "w", encoding="utf-8") as f:
            f.write("\n".join(lines) + "\n")
        prefix = os.path.join(d, "spiece")
        subprocess.run(["spm_train", "--input=" + corpus, "--model_prefix=" + prefix, "--model_type=unigram",
                        "--vocab_size=700", "--character_coverage=1.0", "--pad_id=0", "--eos_id=1",
                        "--unk_id=2", "--bos_id=-1", "--num_threads=1", "--seed_sentencepiece_size=100000",
                        "--minloglevel=2"], check=True)
        with open(prefix + ".model", "rb") as f:
            data = f.read()
    with open(a.out, "wb") as f:
        f.write(data)
    print("%s: %d bytes" % (a.out, len(data)))
    return 0


if __name__ == "__main__":
    sys.exit(main())

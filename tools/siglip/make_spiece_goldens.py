#!/usr/bin/python3
"""Makes tests/data/siglip/spiece_ids.json (dev time: python3-sentencepiece).

  /usr/bin/python3 tools/siglip/make_spiece_goldens.py

The strings of tools/siglip/make_gemma_goldens.py (484, ~30 languages and edge cases) plus SigLIP-specific ones
(punctuation, special tokens, U+2581), through tools/siglip/siglip_tokenizer_ref.py on the tiny model
tests/data/siglip/spiece-tiny/spiece.model. Each case: {"text", "ids"} (content + </s>, no padding).
"""
import json
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, HERE)
from make_gemma_goldens import cases  # noqa: E402
from siglip_tokenizer_ref import SiglipTokenizer  # noqa: E402

EXTRA = ["a </s> b", "</s>", "  </s>  x", "<unk>", "x<unk>y", "\u2581lead", "a\u2581b", "ends with </s>",
         "the real mountain view", "Zürich", "San Francisco", "A long paragraph for summarization.",
         "a picture of a laptop with the lockscreen on, a cup of cappucino, salt and pepper grinders. The view "
         "through the window reveals lake Zürich and the Alps in the background of the city.",
         "!!!", "...hello...", "x\u00a0\u3000y", "tab\tand\nnewline", "ΟΔΟΣ Σ", "İi", "a" + " b" * 80]


def main():
    tk = SiglipTokenizer(os.path.join(ROOT, "tests", "data", "siglip", "spiece-tiny", "spiece.model"))
    texts = cases() + EXTRA
    doc = {"tokenizer": "spiece-tiny", "source": "tools/siglip/siglip_tokenizer_ref.py (python3-sentencepiece)",
           "cases": [{"text": t, "ids": tk.ids(t)} for t in texts]}
    path = os.path.join(ROOT, "tests", "data", "siglip", "spiece_ids.json")
    with open(path, "w", encoding="utf-8") as f:
        json.dump(doc, f, ensure_ascii=False, indent=0)
        f.write("\n")
    print("%s: %d cases" % (path, len(texts)))
    return 0


if __name__ == "__main__":
    sys.exit(main())

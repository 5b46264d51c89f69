#!/usr/bin/python3
"""HF SiglipTokenizer semantics in Python over Debian's python3-sentencepiece (dev time).

Written from transformers' tokenization_siglip.py / PreTrainedTokenizer.tokenize, not from LISA's C:
  - do_lower_case: re.sub(r"(</s>|<unk>)|(.+?)", keep the special token or str.lower() the character)
    (one character at a time: no final-sigma context; "." does not match newlines, which lower() keeps anyway);
  - SiglipTokenizer.tokenize: "\u2581" + text.replace("\u2581", " "); split on the special tokens (AddedToken with
    lstrip/rstrip: whitespace next to them is stripped; empty pieces skipped); drop a leading "\u2581" piece right
    before a special token;
  - _tokenize: canonicalize_text (str.translate removing string.punctuation, re.sub(r"\\s+", " "), strip()), then
    sp.encode("<unk>" + text, out_type=str)[len(sp.encode("<unk>")):] with the model's add_dummy_prefix set to
    False (HF merges NormalizerSpec(add_dummy_prefix=False) into the ModelProto; python protobuf is not installed
    here, so the merge is done in wire form: one more field 3 holding field 3 = 0, which protobuf merges);
  - ids via piece_to_id; truncation to max_length - 1 then "</s>" unless the ids already end with it.
"""
import re
import string

import sentencepiece as spm

SPECIAL = ["</s>", "<unk>"]
UNDERLINE = "\u2581"


class SiglipTokenizer:
    def __init__(self, path):
        with open(path, "rb") as f:
            proto = f.read() + b"\x1a\x02\x18\x00"
        self.sp = spm.SentencePieceProcessor()
        self.sp.LoadFromSerializedProto(proto)
        self.unk_len = len(self.sp.encode("<unk>", out_type=str))
        self.eos = self.sp.piece_to_id("</s>")
        self.unk = self.sp.piece_to_id("<unk>")

    @staticmethod
    def canonicalize(text):
        text = text.translate(str.maketrans("", "", string.punctuation))
        text = re.sub(r"\s+", " ", text)
        return text.strip()

    def _tokenize(self, text):
        text = self.canonicalize(text)
        toks = self.sp.encode("<unk>" + text, out_type=str)
        return toks[self.unk_len:] if len(toks) >= self.unk_len else toks

    def tokenize(self, text):
        text = UNDERLINE + text.replace(UNDERLINE, " ")
        pat = "(" + "|".join(re.escape(s) for s in SPECIAL) + ")|(.+?)"
        text = re.sub(pat, lambda m: m.groups()[0] or m.groups()[1].lower(), text)
        parts = re.split("(" + "|".join(re.escape(s) for s in SPECIAL) + ")", text)
        for i, p in enumerate(parts):  # lstrip/rstrip of the special tokens
            if p in SPECIAL:
                if i > 0:
                    parts[i - 1] = parts[i - 1].rstrip()
                if i + 1 < len(parts):
                    parts[i + 1] = parts[i + 1].lstrip()
        toks = []
        for p in parts:
            if not p:
                continue
            toks += [p] if p in SPECIAL else self._tokenize(p)
        if len(toks) > 1 and toks[0] == UNDERLINE and toks[1] in SPECIAL:
            toks = toks[1:]
        return toks

    def ids(self, text, max_length=64):
        ids = [self.eos if t == "</s>" else self.unk if t == "<unk>" else self.sp.piece_to_id(t)
               for t in self.tokenize(text)]
        ids = ids[: max_length - 1]
        if not ids or ids[-1] != self.eos:
            ids.append(self.eos)
        return ids

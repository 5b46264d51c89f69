#!/usr/bin/python3
"""Precision and recall of CJK keyword search (no spaces between words).

  cjk_search.py LISA WORKDIR

Writes one small PNG per test name into WORKDIR/set (names are the only text:
the same cleaning pipeline serves names, metadata and captions), indexes it with
LISA (keywords only, no model), runs each query with `lisa search --json` and
compares the hits with the judged relevant names below (a person's judgment of
what the query is about, not a substring rule). Prints per query and macro
averages. Needs PIL (/usr/bin/python3).
"""
import json, os, shutil, subprocess, sys
from PIL import Image

NAMES = [
    "東京タワー", "夜の東京タワー", "東京駅の夜景", "東京都庁", "京都の寺", "京都駅", "金閣寺", "大阪城",
    "スカイツリー", "東京スカイツリー", "タワーブリッジ", "北京の天安門", "上海タワー", "富士山", "富士山と桜",
    "桜の公園", "山の湖", "東京のタワー", "北京烤鸭", "台北101", "香港の夜景", "浅草寺", "寺の庭", "猫の写真",
    "子猫", "Zürich_Altstadt_été", "zurich_lake",
]
QUERIES = {
    "東京": ["東京タワー", "夜の東京タワー", "東京駅の夜景", "東京都庁", "東京スカイツリー", "東京のタワー"],
    "京都": ["京都の寺", "京都駅"],
    "東京タワー": ["東京タワー", "夜の東京タワー", "東京のタワー"],
    "タワー": ["東京タワー", "夜の東京タワー", "タワーブリッジ", "上海タワー", "東京のタワー"],
    "寺": ["京都の寺", "金閣寺", "浅草寺", "寺の庭"],
    "夜景": ["東京駅の夜景", "香港の夜景"],
    "富士山": ["富士山", "富士山と桜"],
    "桜": ["富士山と桜", "桜の公園"],
    "北京": ["北京の天安門", "北京烤鸭"],
    "猫": ["猫の写真", "子猫"],
    "京都駅": ["京都駅"],
    "スカイツリー": ["スカイツリー", "東京スカイツリー"],
    "zurich": ["Zürich_Altstadt_été", "zurich_lake"],
    "Zürich": ["Zürich_Altstadt_été", "zurich_lake"],
}


def main(lisa, work):
    shutil.rmtree(work, ignore_errors=True)
    os.makedirs(work + "/set")
    for i, n in enumerate(NAMES):
        Image.new("RGB", (32, 32), (i * 9 % 256, i * 37 % 256, i * 91 % 256)).save("%s/set/%s.png" % (work, n))
    env = dict(os.environ, HOME=work, LISA_MODELS=work + "/none")
    subprocess.run([lisa, "index", work + "/set", "--data", work + "/data", "--no-ocr", "--no-captions",
                    "--progress", "none"], check=True, env=env, capture_output=True)
    sp = sr = 0.0
    for q, rel in QUERIES.items():
        out = subprocess.run([lisa, "search", q, "--json", "--top-k", "100", "--data", work + "/data"],
                             env=env, capture_output=True, text=True)
        doc = json.loads(out.stdout) if out.returncode == 0 else {"results": []}
        got = [os.path.splitext(os.path.basename(r.get("path") or r.get("name")))[0] for r in doc["results"]]
        tp = len(set(got) & set(rel))
        p = tp / len(got) if got else 1.0
        r = tp / len(rel)
        sp += p
        sr += r
        print("%-8s hits %2d  relevant %d  precision %.2f  recall %.2f" % (q, len(got), len(rel), p, r))
    print("macro precision %.3f  recall %.3f over %d queries, %d names" % (sp / len(QUERIES), sr / len(QUERIES),
                                                                           len(QUERIES), len(NAMES)))


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    main(sys.argv[1], sys.argv[2])

#!/usr/bin/env python3
"""Checks a LISA data dir after faults. Usage: check_index.py DATA LIBDIR [UPLOAD_SRC_DIR]
 - PRAGMA integrity_check is ok;
 - every image file under LIBDIR (and every file under DATA/images) is indexed
   exactly once, with one embedding per model and one FTS row;
 - every thumbnail belongs to an indexed hash, every hash has one, no *.tmp;
 - with UPLOAD_SRC_DIR: every file in DATA/images equals one of the sources
   (no half-written upload is visible).
Prints one line per check and exits 1 on any failure."""
import hashlib
import os
import sqlite3
import sys


def files_under(d):
    out = set()
    for root, _, names in os.walk(d):
        for n in names:
            if not n.startswith("."):
                out.add(os.path.realpath(os.path.join(root, n)))
    return out


def main(data, lib, upsrc=None):
    bad = 0

    def check(ok, what):
        nonlocal bad
        print("%s %s" % ("ok  " if ok else "FAIL", what))
        bad += not ok

    db = sqlite3.connect("file:%s?mode=ro" % os.path.join(data, "lisa.db"), uri=True)
    check(db.execute("PRAGMA integrity_check").fetchone()[0] == "ok", "PRAGMA integrity_check")
    rows = db.execute("SELECT id, path, hash FROM images").fetchall()
    paths = [os.path.realpath(p) for _, p, _ in rows]
    want = files_under(lib) | files_under(os.path.join(data, "images"))
    check(len(paths) == len(set(paths)), "no path indexed twice (%d rows)" % len(paths))
    check(set(paths) == want, "every file indexed: %d of %d (%d extra rows)"
          % (len(want & set(paths)), len(want), len(set(paths) - want)))
    models = [m for (m,) in db.execute("SELECT DISTINCT model FROM embeddings")]
    for m in models:
        n = db.execute("SELECT COUNT(*) FROM embeddings WHERE model = ?", (m,)).fetchone()[0]
        check(n == len(rows), "one %s embedding per image (%d)" % (m, n))
    nfts = db.execute("SELECT COUNT(*) FROM image_fts").fetchone()[0]
    check(nfts == len(rows), "one FTS row per image (%d)" % nfts)
    hashes = {h for _, _, h in rows}
    tdir = os.path.join(data, "thumbnails")
    thumbs = os.listdir(tdir) if os.path.isdir(tdir) else []
    tmp = [t for t in thumbs if t.endswith(".tmp") or ".tmp" in t]
    th = {t[:-4] for t in thumbs if t.endswith(".jpg")}
    check(not tmp, "no thumbnail temp files (%d)" % len(tmp))
    check(th <= hashes, "no orphan thumbnails (%d)" % len(th - hashes))
    check(hashes <= th, "every image has its thumbnail (%d missing)" % len(hashes - th))
    if upsrc:
        src = {hashlib.sha256(open(p, "rb").read()).hexdigest() for p in files_under(upsrc)}
        ups = files_under(os.path.join(data, "images"))
        partial = [p for p in ups if hashlib.sha256(open(p, "rb").read()).hexdigest() not in src]
        check(not partial, "no half-written upload visible (%d uploads, %d partial)" % (len(ups), len(partial)))
        left = os.listdir(os.path.join(data, "tmp")) if os.path.isdir(os.path.join(data, "tmp")) else []
        print("info upload temp files left in DATA/tmp: %d" % len(left))
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:]))

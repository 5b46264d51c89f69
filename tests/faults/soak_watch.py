#!/usr/bin/env python3
"""Soak of the folder watcher: random file operations on a watched folder for
a while, then the index must equal a fresh index of the same folder.

Usage: soak_watch.py [--seconds N] [--build DIR] [--seed S] [--keep]
(python3 from the stdlib only; run from the repository root, after make and
tests/setup/clip_models.sh). `nice` it on a shared machine.

1. makes a library of 40 small PNGs in 4 folders and starts
   `lisa watch LIB --data D1 --model tiny-a --no-ocr --no-captions`;
2. for --seconds, picks random operations (new file, copy, rename in place,
   move to another folder, overwrite with new content, touch, delete, new
   folder with files, folder rename, folder delete, a burst of 20 files) with
   random pauses (0-250 ms); every ~8 s a probe photo is written and the time
   until its row is in D1 is measured (the "searchable within" figure under
   churn);
3. waits until D1 has settled (its paths equal the files on disk), stops the
   watcher, indexes LIB afresh into D2 with `lisa index`, and compares: the same
   (path, hash, size, width, height, name words) rows, one FTS row and one
   tiny-a vector per image in both, and the same vectors (fp16 bytes), plus
   PRAGMA integrity_check.
Prints the figures and "soak: PASS" or "soak: FAIL ..." (exit 1)."""
import argparse
import os
import random
import shutil
import signal
import sqlite3
import statistics
import struct
import subprocess
import sys
import tempfile
import time
import zlib


def png(seed, w=48, h=32):
    def chunk(t, d):
        return struct.pack(">I", len(d)) + t + d + struct.pack(">I", zlib.crc32(t + d) & 0xFFFFFFFF)
    rnd = random.Random(seed)
    rows = b"".join(b"\x00" + bytes(rnd.randrange(256) for _ in range(3 * w)) for _ in range(h))
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(rows, 6)) + chunk(b"IEND", b""))


def files_under(d):
    out = set()
    for root, dirs, names in os.walk(d):
        dirs[:] = [x for x in dirs if not x.startswith(".")]
        out |= {os.path.realpath(os.path.join(root, n)) for n in names if not n.startswith(".")}
    return out


def db_rows(data, lib):
    db = sqlite3.connect("file:%s?mode=ro" % os.path.join(data, "lisa.db"), uri=True, timeout=10)
    try:
        return {p: r for p, *r in db.execute(
            "SELECT path, hash, size, width, height, name_words, id FROM images WHERE path LIKE ? || '/%'", (lib,))}
    finally:
        db.close()


class Ops:
    def __init__(self, lib, rnd):
        self.lib, self.rnd, self.n, self.seed = lib, rnd, {}, 1000

    def count(self, k):
        self.n[k] = self.n.get(k, 0) + 1

    def dirs(self):
        out = [self.lib]
        for root, ds, _ in os.walk(self.lib):
            out += [os.path.join(root, d) for d in ds if not d.startswith(".")]
        return out

    def files(self):
        return sorted(files_under(self.lib))

    def write(self, path):
        self.seed += 1
        tmp = os.path.join(os.path.dirname(path), ".tmp-%d" % self.seed)  # hidden, then renamed in
        with open(tmp, "wb") as f:
            f.write(png(self.seed))
        os.rename(tmp, path)

    def name(self):
        self.seed += 1
        return "p%06d.png" % self.seed

    def step(self):
        r, files, dirs = self.rnd, self.files(), self.dirs()
        kinds = ["new", "new", "copy", "rename", "move", "overwrite", "touch", "delete", "delete",
                 "mkdir", "rendir", "rmdir", "burst"]
        k = r.choice(kinds if files else ["new", "mkdir"])
        try:
            if k == "new":
                self.write(os.path.join(r.choice(dirs), self.name()))
            elif k == "copy":
                shutil.copyfile(r.choice(files), os.path.join(r.choice(dirs), self.name()))
            elif k == "rename":
                f = r.choice(files)
                os.rename(f, os.path.join(os.path.dirname(f), self.name()))
            elif k == "move":
                os.rename(r.choice(files), os.path.join(r.choice(dirs), self.name()))
            elif k == "overwrite":
                f = r.choice(files)
                self.seed += 1
                with open(f, "wb") as fh:  # in place: create/truncate, write, close-write
                    fh.write(png(self.seed))
            elif k == "touch":
                os.utime(r.choice(files))
            elif k == "delete":
                os.unlink(r.choice(files))
            elif k == "mkdir":
                d = os.path.join(r.choice(dirs), "d%d" % self.seed)
                self.seed += 1
                os.makedirs(d)
                for _ in range(r.randrange(1, 6)):
                    self.write(os.path.join(d, self.name()))
            elif k == "rendir" and len(dirs) > 1:
                d = r.choice(dirs[1:])
                self.seed += 1
                os.rename(d, os.path.join(os.path.dirname(d), "r%d" % self.seed))
            elif k == "rmdir" and len(dirs) > 3:
                shutil.rmtree(r.choice(dirs[1:]))
            elif k == "burst":
                d = r.choice(dirs)
                for _ in range(20):
                    self.write(os.path.join(d, self.name()))
            else:
                return
            self.count(k)
        except FileNotFoundError:
            self.count("raced")  # a folder removed by an earlier op of this kind


def wait_row(data, path, limit=30):
    t0 = time.time()
    while time.time() - t0 < limit:
        try:
            db = sqlite3.connect("file:%s?mode=ro" % os.path.join(data, "lisa.db"), uri=True, timeout=5)
            hit = db.execute("SELECT 1 FROM images WHERE path = ?", (path,)).fetchone()
            db.close()
            if hit:
                return time.time() - t0
        except sqlite3.Error:
            pass
        time.sleep(0.05)
    return None


def compare(d1, d2, lib):
    bad = []
    a, b = db_rows(d1, lib), db_rows(d2, lib)
    disk = files_under(lib)
    if set(a) != disk:
        bad.append("watched index != files on disk: %d missing, %d extra" % (len(disk - set(a)), len(set(a) - disk)))
    if set(a) != set(b):
        bad.append("watched and fresh index differ in paths: %d vs %d" % (len(a), len(b)))
    diff = [p for p in set(a) & set(b) if a[p][:5] != b[p][:5]]
    if diff:
        bad.append("%d rows differ (hash/size/dims/name words), e.g. %s: %s vs %s" % (len(diff), diff[0], a[diff[0]][:5], b[diff[0]][:5]))
    for d, rows in ((d1, a), (d2, b)):
        db = sqlite3.connect("file:%s?mode=ro" % os.path.join(d, "lisa.db"), uri=True)
        if db.execute("PRAGMA integrity_check").fetchone()[0] != "ok":
            bad.append(d + ": integrity_check")
        n_fts = db.execute("SELECT count(*) FROM image_fts").fetchone()[0]
        n_img = db.execute("SELECT count(*) FROM images").fetchone()[0]
        if n_fts != n_img:
            bad.append("%s: %d FTS rows for %d images" % (d, n_fts, n_img))
        vec = dict(db.execute("SELECT i.path, e.vec FROM embeddings e JOIN images i ON i.id = e.image_id"))
        if set(vec) != set(rows):
            bad.append("%s: %d vectors for %d images" % (d, len(vec), len(rows)))
        rows_vec = vec
        db.close()
        if d == d1:
            va = rows_vec
        else:
            vb = rows_vec
    # The same image in another batch may round one fp16 component the other
    # way (the GEMM's sums depend on the batch shape): equal within 1e-3.
    def f16(b):
        return struct.unpack("<%de" % (len(b) // 2), b)
    vdiff = [p for p in set(va) & set(vb) if max(abs(x - y) for x, y in zip(f16(va[p]), f16(vb[p]))) > 1e-3]
    ulps = sum(va[p] != vb[p] for p in set(va) & set(vb))
    print("soak: vectors: %d equal to a fresh embedding bit for bit, %d within 1e-3, %d beyond"
          % (len(set(va) & set(vb)) - ulps, ulps - len(vdiff), len(vdiff)))
    if vdiff:
        bad.append("%d vectors differ from a fresh embedding, e.g. %s" % (len(vdiff), vdiff[0]))
    return bad, len(a)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--seconds", type=float, default=60)
    ap.add_argument("--build", default="build")
    ap.add_argument("--seed", type=int, default=16)
    ap.add_argument("--keep", action="store_true")
    a = ap.parse_args()
    lisa = os.path.abspath(os.path.join(a.build, "lisa"))
    model = os.path.abspath(os.path.join(a.build, "models/tiny-a"))
    tmp = tempfile.mkdtemp(prefix="lisa-soak-")
    lib, d1, d2 = (os.path.realpath(os.path.join(tmp, x)) for x in ("lib", "d1", "d2"))
    rnd = random.Random(a.seed)
    ops = Ops(lib, rnd)
    for i in range(40):
        os.makedirs(os.path.join(lib, "set%d" % (i % 4)), exist_ok=True)
        ops.write(os.path.join(lib, "set%d" % (i % 4), ops.name()))
    env = dict(os.environ, LISA_MODELS=os.path.join(tmp, "none"))
    env.pop("LISA_CONFIG", None)
    common = ["--model", model, "--no-ocr", "--no-captions"]
    log = open(os.path.join(tmp, "watch.log"), "w")
    w = subprocess.Popen([lisa, "watch", lib, "--data", d1, "--debounce", "300"] + common,
                         stdout=log, stderr=subprocess.STDOUT, env=env)
    t_first = wait_row(d1, sorted(files_under(lib))[0], 60)
    t0 = time.time()
    probes, next_probe, nops = [], t0 + 8, 0
    while time.time() - t0 < a.seconds:
        ops.step()
        nops += 1
        if time.time() >= next_probe:
            p = os.path.join(lib, "probe%04d.png" % len(probes))
            ops.write(p)
            lat = wait_row(d1, p, 30)
            probes.append(lat if lat is not None else float("inf"))
            next_probe = time.time() + 8
        time.sleep(rnd.random() * 0.25)
    churn = time.time() - t0
    t1 = time.time()
    settled = None
    while time.time() - t1 < 120:  # the last batch lands
        if set(db_rows(d1, lib)) == files_under(lib):
            settled = time.time() - t1
            break
        time.sleep(0.2)
    w.send_signal(signal.SIGINT)
    w.wait(60)
    log.close()
    t2 = time.time()
    subprocess.run([lisa, "index", lib, "--data", d2, "--progress", "none"] + common, env=env, check=True,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    fresh = time.time() - t2
    bad, nimg = compare(d1, d2, lib)
    text = open(os.path.join(tmp, "watch.log")).read()
    batches = text.count("lisa watch: batch ")
    moved = sum(int(x.split(" moved")[0].split()[-1]) for x in text.splitlines() if " moved," in x)
    embedded_lines = [x for x in text.splitlines() if "lisa watch: batch" in x]
    fin = [p for p in probes if p != float("inf")]
    print("soak: %.0f s of churn, %d operations (%s)" % (churn, nops, ", ".join("%s %d" % kv for kv in sorted(ops.n.items()))))
    print("soak: %d batches, %d moves/renames recognised by hash; first catch-up %.2f s" % (batches, moved, t_first or -1))
    if fin:
        print("soak: probe photo in the index after median %.2f s, max %.2f s (%d probes, %d missed)"
              % (statistics.median(fin), max(fin), len(probes), len(probes) - len(fin)))
    print("soak: settled %.2f s after the churn; %d images; fresh index of the same folder %.2f s"
          % (settled if settled is not None else -1, nimg, fresh))
    if settled is None:
        bad.append("the watched index never settled")
    if len(fin) != len(probes):
        bad.append("a probe photo never reached the index")
    if not embedded_lines:
        bad.append("no batch line in the watch log")
    if not a.keep:
        shutil.rmtree(tmp, ignore_errors=True)
    else:
        print("soak: kept", tmp)
    if bad:
        print("soak: FAIL " + "; ".join(bad))
        return 1
    print("soak: PASS (watched index == fresh index)")
    return 0


if __name__ == "__main__":
    sys.exit(main())

#!/usr/bin/env python3
"""Writes N distinct small PNG images (stdlib only: zlib + struct) into DIR,
in subfolders of 50, for the fault scripts. Usage: make_images.py DIR N"""
import os
import struct
import sys
import zlib


def png(w, h, rows):
    def chunk(t, d):
        return struct.pack(">I", len(d)) + t + d + struct.pack(">I", zlib.crc32(t + d) & 0xFFFFFFFF)
    raw = b"".join(b"\x00" + r for r in rows)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(raw, 6)) + chunk(b"IEND", b""))


def main(out, n):
    w, h = 64, 48
    for i in range(n):
        d = os.path.join(out, "set%02d" % (i // 50))
        os.makedirs(d, exist_ok=True)
        a, b, c = (i * 37) % 256, (i * 91) % 256, (i * 13) % 256
        rows = [bytes(v for x in range(w) for v in ((a + x * 3) % 256, (b + y * 5) % 256, (c + x * y) % 256))
                for y in range(h)]
        with open(os.path.join(d, "img%04d.png" % i), "wb") as f:
            f.write(png(w, h, rows))


if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]))

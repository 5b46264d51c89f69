#!/usr/bin/env python3
"""Writes N distinct small PNG images (stdlib only: zlib + struct) into DIR,
in subfolders of 50, for the fault scripts. Usage: make_images.py DIR N [W H]"""
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


def main(out, n, w=320, h=240):
    # Rows are slices of one long periodic buffer at per-image offsets: cheap
    # to make, distinct per image, and the decoder still pays for every pixel.
    base = bytes((x * 7 + (x // 3) * 11) % 256 for x in range(3 * (w + h) * 4))
    for i in range(n):
        d = os.path.join(out, "set%02d" % (i // 50))
        os.makedirs(d, exist_ok=True)
        off = (i * 37) % (3 * h)
        rows = [base[3 * ((off + y * (1 + i % 5)) % (w + h)):][:3 * w] for y in range(h)]
        rows[0] = i.to_bytes(6, "big") + rows[0][6:]  # distinct content per image
        with open(os.path.join(d, "img%04d.png" % i), "wb") as f:
            f.write(png(w, h, rows))


if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]), *(int(v) for v in sys.argv[3:5]))

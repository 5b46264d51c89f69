#!/usr/bin/python3
"""Makes LISA's image test fixtures and their goldens with the independent
reference: PIL (Debian python3-pil) and numpy, following Hugging Face's
CLIPImageProcessor step by step. Development time only; the outputs are
committed, and CI never runs this.

    /usr/bin/python3 tools/image/make_fixtures.py      # rewrites tests/data/images + golden

Layout written:
  tests/data/images/<name>          the inputs (varied formats, sizes, EXIF orientations)
  tests/data/images/bad/<name>      hostile inputs (truncated, bombs, wrong magic)
  tests/data/images/bmp/<name>      BMP variants, PIL-written or built byte by byte here
  tests/data/golden/decode/<stem>.ppm.z   exif_transpose(open(f)).convert("RGB")
  tests/data/golden/prep224/<stem>.ppm.z  HF resize(shortest_edge=224)+center_crop(224) uint8
  tests/data/golden/prep_small/<stem>.ppm.z / .f32  shortest_edge=48, crop 40h x 32w, and the
                                        normalized float32 CHW tensor
  tests/data/golden/resize/<stem>_<w>x<h>.ppm.z   plain Image.resize(BICUBIC)
Goldens are zlib-compressed binary PPM (P6), read without the PNG decoder under test.
  tests/data/golden/manifest.json       what the C tests iterate over
"""
import io, json, os, shutil, struct, subprocess, sys, zlib
import numpy as np
from PIL import Image, ImageOps

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..")
IMAGES = os.path.join(ROOT, "tests/data/images")
GOLD = os.path.join(ROOT, "tests/data/golden")
CLIP_MEAN = [0.48145466, 0.4578275, 0.40821073]
CLIP_STD = [0.26862954, 0.26130258, 0.27577711]
PREP224 = {"land.jpg", "port.jpg", "wide.jpg", "huge.jpg", "tiny.png", "line.png", "odd_rgba.png",
           "gray.jpg", "palette_trns.png", "lossy.webp", "anim.gif", "cmyk.jpg", "orient6.jpg",
           "lzw.tiff", "bilevel.png"}
SMALL = {"shortest_edge": 48, "crop_h": 40, "crop_w": 32}

rng = np.random.default_rng(20261124)


def photo(w, h, seed):
    """A smooth, photo-like RGB test pattern with edges and mild noise."""
    r = np.random.default_rng(seed)
    y, x = np.mgrid[0:h, 0:w].astype(np.float64)
    img = np.zeros((h, w, 3))
    for c in range(3):
        fx, fy, ph = r.uniform(0.5, 4, 3)
        img[..., c] = 128 + 90 * np.sin(2 * np.pi * (fx * x / w + fy * y / h) + ph)
    for _ in range(6):  # hard-edged discs: ringing tests for the resampler
        cx, cy, rad = r.uniform(0, w), r.uniform(0, h), r.uniform(0.05, 0.3) * min(w, h)
        mask = (x - cx) ** 2 + (y - cy) ** 2 < rad ** 2
        img[mask] = r.uniform(0, 255, 3)
    img[: max(1, h // 20), : max(1, w // 3)] = [255, 0, 0]  # a corner marker shows orientation
    img += r.normal(0, 1, img.shape)
    return Image.fromarray(np.clip(img, 0, 255).astype(np.uint8), "RGB")


def exif_bytes(orientation):
    e = Image.Exif()
    e[0x0112] = orientation
    return e.tobytes()


def save(im, name, **kw):
    path = os.path.join(IMAGES, name)
    im.save(path, **kw)
    return name


def magick(src_name, dst_name, *args):
    subprocess.run(["convert", os.path.join(IMAGES, src_name), *args, os.path.join(IMAGES, dst_name)],
                   check=True)
    return dst_name


def make_inputs():
    names = []
    land = photo(640, 427, 1)
    names.append(save(land, "land.jpg", quality=90))
    names.append(save(photo(427, 640, 2), "port.jpg", quality=90))
    names.append(save(photo(1999, 1001, 3), "wide.jpg", quality=85, subsampling=0))
    names.append(save(photo(3000, 4000, 4), "huge.jpg", quality=70))
    names.append(save(photo(7, 5, 5), "tiny.png"))
    names.append(save(photo(1, 300, 6), "line.png"))
    rgba = photo(333, 177, 7).convert("RGBA")
    a = np.tile(np.linspace(0, 255, 333).astype(np.uint8), (177, 1))
    rgba.putalpha(Image.fromarray(a, "L"))
    names.append(save(rgba, "odd_rgba.png"))
    la = photo(90, 61, 8).convert("LA")
    names.append(save(la, "gray_alpha.png"))
    names.append(save(photo(200, 150, 9).convert("L"), "gray.png"))
    names.append(save(photo(150, 200, 10).convert("L"), "gray.jpg", quality=88))
    pal = photo(120, 90, 11).convert("P", palette=Image.ADAPTIVE, colors=37)
    names.append(save(pal, "palette_trns.png", transparency=3))
    names.append(save(photo(64, 48, 12).convert("1"), "bilevel.png"))
    names.append(save(photo(256, 160, 13), "lossy.webp", quality=80))
    names.append(save(rgba.resize((128, 96)), "alpha.webp", lossless=True))
    frames = [photo(96, 64, 14), photo(96, 64, 15)]
    names.append(save(frames[0], "anim.webp", save_all=True, append_images=frames[1:], duration=100))
    gif = [f.convert("P", palette=Image.ADAPTIVE) for f in (photo(150, 100, 16), photo(150, 100, 17))]
    names.append(save(gif[0], "anim.gif", save_all=True, append_images=gif[1:], duration=100))
    names.append(save(photo(73, 41, 18).convert("P"), "flat.gif", interlace=False))
    names.append(save(photo(100, 80, 19), "lzw.tiff", compression="tiff_lzw"))
    names.append(save(photo(96, 72, 20).convert("CMYK"), "cmyk.jpg", quality=92))
    # EXIF orientation, all eight values, on an asymmetric image.
    base = photo(64, 40, 21)
    for o in range(1, 9):
        names.append(save(base, f"orient{o}.jpg", quality=95, exif=exif_bytes(o)))
    names.append(save(photo(50, 30, 22), "orient6.png", exif=exif_bytes(6)))
    names.append(save(photo(50, 30, 23), "orient3.webp", quality=90, exif=exif_bytes(3)))
    names.append(save(photo(50, 30, 24), "orient8.tiff", tiffinfo={0x0112: 8}))
    # Formats PIL cannot write: ImageMagick makes them from a PIL-written source.
    save(photo(160, 120, 25), "src_interlace.png")
    names.append(magick("src_interlace.png", "interlaced.png", "-interlace", "PNG"))
    names.append(magick("src_interlace.png", "rgb16.png", "-depth", "16"))
    names.append(magick("gray.png", "gray16.png", "-depth", "16"))
    os.remove(os.path.join(IMAGES, "src_interlace.png"))
    return names


def make_heif():
    """HEIC via ImageMagick's libheif writer; PIL cannot read it, so its check is
    against the PNG it was made from (lossy: PSNR), not a golden."""
    src = save(photo(120, 80, 26), "heic_source.png")
    magick(src, "photo.heic", "-quality", "90")
    # ImageMagick's own decode (libheif too) is the golden for the pixels.
    dec = subprocess.run(["convert", os.path.join(IMAGES, "photo.heic"), "png:-"], check=True,
                         capture_output=True).stdout
    save_png(np.array(Image.open(io.BytesIO(dec)).convert("RGB")), os.path.join(GOLD, "heic_magick.png"))
    return ["photo.heic"]


def png_chunk(typ, data):
    return struct.pack(">I", len(data)) + typ + data + struct.pack(">I", zlib.crc32(typ + data))


def make_bad():
    bad = os.path.join(IMAGES, "bad")
    os.makedirs(bad, exist_ok=True)
    land = open(os.path.join(IMAGES, "land.jpg"), "rb").read()
    png = open(os.path.join(IMAGES, "odd_rgba.png"), "rb").read()
    out = {
        "truncated.jpg": land[: len(land) // 3],
        "header_only.jpg": land[:200],
        "truncated.png": png[: len(png) // 2],
        "empty.png": b"",
        "not_an_image.jpg": b"this is text, not a JPEG\n" * 10,
        "magic_only.png": b"\x89PNG\r\n\x1a\n",
        "bomb.png": b"\x89PNG\r\n\x1a\n"
        + png_chunk(b"IHDR", struct.pack(">IIBBBBB", 30000, 30000, 8, 2, 0, 0, 0))
        + png_chunk(b"IDAT", zlib.compress(b"\0" * 1000))
        + png_chunk(b"IEND", b""),
        "zero_width.png": b"\x89PNG\r\n\x1a\n"
        + png_chunk(b"IHDR", struct.pack(">IIBBBBB", 0, 10, 8, 2, 0, 0, 0))
        + png_chunk(b"IEND", b""),
        "bomb.gif": b"GIF89a" + struct.pack("<HHBBB", 65535, 65535, 0, 0, 0) + b"\x3b",
        "truncated.webp": open(os.path.join(IMAGES, "lossy.webp"), "rb").read()[:300],
        "truncated.gif": open(os.path.join(IMAGES, "anim.gif"), "rb").read()[:400],
        "truncated.tiff": open(os.path.join(IMAGES, "lzw.tiff"), "rb").read()[:200],
        "truncated.heic": open(os.path.join(IMAGES, "photo.heic"), "rb").read()[:300],
    }
    # A JPEG whose SOF says 30000x30000: patch the frame header of a real file.
    j = bytearray(land)
    sof = j.index(b"\xff\xc0")
    struct.pack_into(">HH", j, sof + 5, 30000, 30000)
    out["bomb.jpg"] = bytes(j)
    for name, data in out.items():
        open(os.path.join(bad, name), "wb").write(data)
    return sorted(out)


# ------------------------------------------------------------------ BMP

def bmp_file(w, h, bits, rows, palette=b"", comp=0, masks=None, hsize=40, colors=None):
    """A BMP built byte by byte, for the variants PIL cannot write. rows are the
    stored rows (bottom row first when h > 0), unpadded; masks (r, g, b, a) go
    after a 40-byte header or inside a bigger one."""
    stride = (w * bits + 31) // 32 * 4
    data = b"".join(r.ljust(stride, b"\0") for r in rows)
    ncol = len(palette) // 4 if colors is None else colors
    ih = bytearray(struct.pack("<IiiHHIIiiII", hsize, w, h, 1, bits, comp, len(data), 2835, 2835, ncol, 0))
    ih = ih.ljust(hsize, b"\0")
    extra = b""
    if masks and hsize == 40:
        extra = struct.pack("<3I", *masks[:3])
    elif masks:
        struct.pack_into("<4I", ih, 40, *masks)
    off = 14 + hsize + len(extra) + len(palette)
    return b"BM" + struct.pack("<IHHI", off + len(data), 0, 0, off) + bytes(ih) + extra + palette + data


def bmp_rows(arr, fn, topdown=False):
    """Stored rows of an (h, w, ...) array, each packed by fn."""
    rows = [fn(arr[y]) for y in range(arr.shape[0])]
    return rows if topdown else rows[::-1]


def pack_bits(idx, bits):
    """One row of palette indices packed MSB first, as BMP stores them."""
    per = 8 // bits
    idx = list(idx) + [0] * (-len(idx) % per)
    return bytes(sum(int(v) << (8 - bits * (k + 1)) for k, v in enumerate(idx[i:i + per]))
                 for i in range(0, len(idx), per))


def bgr_palette(colors):
    return b"".join(bytes([b, g, r, 0]) for r, g, b in colors)


def make_bmp():
    """BMP variants (45 x 31: odd, so every depth pads its rows) and their decode
    goldens, Image.open(f).convert("RGB"). Returns the manifest entries."""
    d = os.path.join(IMAGES, "bmp")
    os.makedirs(d, exist_ok=True)
    r = np.random.default_rng(31)
    im = photo(45, 31, 30)
    a = np.array(im)
    w, h = im.size
    files = {}
    buf = io.BytesIO()
    im.save(buf, "BMP")
    files["rgb24.bmp"] = buf.getvalue()  # PIL's writer: 24-bit, bottom-up, 40-byte header
    files["topdown24.bmp"] = bmp_file(w, -h, 24, bmp_rows(a[..., ::-1], lambda x: x.tobytes(), True))
    for name, mode in [("pal8.bmp", "P"), ("gray8.bmp", "L"), ("bw1.bmp", "1")]:
        buf = io.BytesIO()
        (im.convert("P", palette=Image.ADAPTIVE, colors=200) if mode == "P" else im.convert(mode)).save(buf, "BMP")
        files[name] = buf.getvalue()
    # 4-bit, 12 colors: indices 12..15 are past the palette (PIL makes them gray).
    idx = r.integers(0, 16, (h, w))
    pal12 = bgr_palette(r.integers(0, 256, (12, 3)).tolist())
    files["pal4.bmp"] = bmp_file(w, h, 4, bmp_rows(idx, lambda x: pack_bits(x, 4)), pal12)
    # 1-bit with a red/blue palette (not black and white).
    bit = (a[..., 0] > 128).astype(int)
    files["pal1.bmp"] = bmp_file(w, h, 1, bmp_rows(bit, lambda x: pack_bits(x, 1)),
                                 bgr_palette([(200, 30, 10), (20, 40, 220)]))
    # 8-bit with a short palette (biClrUsed 5) and top-down rows.
    idx8 = r.integers(0, 256, (h, w)).astype(np.uint8)
    files["short_pal8_topdown.bmp"] = bmp_file(w, -h, 8, bmp_rows(idx8, lambda x: x.tobytes(), True),
                                               bgr_palette(r.integers(0, 256, (5, 3)).tolist()))
    # 32-bit BI_RGB: B, G, R and a random fourth byte PIL ignores.
    x = r.integers(0, 256, (h, w, 1), dtype=np.uint8)
    bgrx = np.concatenate([a[..., ::-1], x], -1)
    files["bgrx32.bmp"] = bmp_file(w, h, 32, bmp_rows(bgrx, lambda x: x.tobytes()))
    # 32-bit BITFIELDS: R, G, B, A byte order in a V5 (124-byte) header, and
    # X, B, G, R with the masks after a 40-byte header.
    rgba = np.concatenate([a, x], -1)
    files["bitfields_rgba32.bmp"] = bmp_file(w, h, 32, bmp_rows(rgba, lambda x: x.tobytes()), comp=3,
                                             masks=(0xFF, 0xFF00, 0xFF0000, 0xFF000000), hsize=124)
    xbgr = np.concatenate([x, a[..., ::-1]], -1)
    files["bitfields_xbgr32.bmp"] = bmp_file(w, h, 32, bmp_rows(xbgr, lambda x: x.tobytes()), comp=3,
                                             masks=(0xFF000000, 0xFF0000, 0xFF00, 0))
    # 16-bit: 5-5-5 (BI_RGB, top bit random) and 5-6-5 (BITFIELDS).
    c = a.astype(np.uint16)
    v555 = (c[..., 0] >> 3) << 10 | (c[..., 1] >> 3) << 5 | c[..., 2] >> 3 | (x[..., 0].astype(np.uint16) & 1) << 15
    v565 = (c[..., 0] >> 3) << 11 | (c[..., 1] >> 2) << 5 | c[..., 2] >> 3
    files["rgb555.bmp"] = bmp_file(w, h, 16, bmp_rows(v555, lambda x: x.astype("<u2").tobytes()))
    files["rgb565.bmp"] = bmp_file(w, h, 16, bmp_rows(v565, lambda x: x.astype("<u2").tobytes()), comp=3,
                                   masks=(0xF800, 0x7E0, 0x1F, 0))
    entries = []
    for name, data in files.items():
        path = os.path.join(d, name)
        open(path, "wb").write(data)
        ref = Image.open(path).convert("RGB")
        stem = "bmp_" + name.replace(".", "_")
        save_png(np.array(ref), os.path.join(GOLD, "decode", stem + ".png"))
        entries.append({"file": "bmp/" + name, "stem": stem, "w": ref.width, "h": ref.height})
    return entries


def make_bad_bmp():
    """Hostile and unsupported BMPs; every one must fail with a clear error."""
    good = open(os.path.join(IMAGES, "bmp", "rgb24.bmp"), "rb").read()
    out = {"truncated.bmp": good[: len(good) // 2], "magic_only.bmp": b"BM",
           "garbage.bmp": b"BM" + np.random.default_rng(7).integers(0, 256, 200, dtype=np.uint8).tobytes()}
    bomb = bytearray(good)
    struct.pack_into("<ii", bomb, 18, 30000, 30000)  # width, height; the data stays 45 x 31
    out["bomb.bmp"] = bytes(bomb)
    past = bytearray(good)
    struct.pack_into("<I", past, 10, 0x7FFFFFF0)  # bfOffBits
    out["offset_past_end.bmp"] = bytes(past)
    zero = bytearray(good)
    struct.pack_into("<i", zero, 18, 0)
    out["zero_width.bmp"] = bytes(zero)
    # RLE8 (PIL reads it; Leptonica cannot): 4 x 2, two runs, end of line, end of bitmap.
    rle = bytes([4, 1, 0, 0, 2, 2, 2, 3, 0, 0, 0, 1])
    f = bytearray(bmp_file(4, 2, 8, [b"", b""], bgr_palette([(0, 0, 0), (255, 0, 0), (0, 255, 0), (0, 0, 255)]),
                           comp=1))
    f = f[: len(f) - 8] + rle
    struct.pack_into("<I", f, 2, len(f))
    struct.pack_into("<I", f, 34, len(rle))
    out["rle8.bmp"] = bytes(f)
    assert Image.open(io.BytesIO(out["rle8.bmp"])).convert("RGB").getpixel((0, 1)) == (255, 0, 0)
    # OS/2 1.x: a 12-byte header with 16-bit sizes (PIL reads it; we refuse).
    rows = bytes(range(6)) + b"\0\0" + bytes(range(6, 12)) + b"\0\0"  # 2 x 2, 24-bit, padded to 8
    os2_header = struct.pack("<IHHHH", 12, 2, 2, 1, 24)  # size, width, height, planes, bits
    out["os2.bmp"] = b"BM" + struct.pack("<IHHI", 26 + len(rows), 0, 0, 26) + os2_header + rows
    Image.open(io.BytesIO(out["os2.bmp"])).load()
    bad = os.path.join(IMAGES, "bad")
    for name, data in out.items():
        open(os.path.join(bad, name), "wb").write(data)
    return sorted(out)


# ------------------------------------------------------------------ reference

def load_rgb(path):
    im = Image.open(path)
    if im.format == "TIFF":
        # Pillow 9.4 already applies the TIFF Orientation tag in load(), and
        # exif_transpose() would then apply it a second time (a Pillow bug).
        im.load()
    else:
        im = ImageOps.exif_transpose(im)
    if im.mode == "I;16" or im.mode == "I":  # documented deviation: LISA keeps the high byte
        a = (np.array(im).astype(np.uint32) >> 8).astype(np.uint8)
        return Image.fromarray(np.stack([a] * 3, -1), "RGB")
    return im.convert("RGB")


def hf_resize_dims(w, h, size):
    short, long = (w, h) if w <= h else (h, w)
    new_short, new_long = size, int(size * long / short)
    return (new_short, new_long) if w <= h else (new_long, new_short)


def hf_center_crop(arr, ch, cw):
    h, w = arr.shape[:2]
    top, left = (h - ch) // 2, (w - cw) // 2
    if top >= 0 and left >= 0 and top + ch <= h and left + cw <= w:
        return arr[top:top + ch, left:left + cw]
    nh, nw = max(ch, h), max(cw, w)
    out = np.zeros((nh, nw, 3), arr.dtype)
    tp, lp = -(-(nh - h) // 2), -(-(nw - w) // 2)
    out[tp:tp + h, lp:lp + w] = arr
    top, left = top + tp, left + lp
    return out[max(0, top):min(nh, top + ch), max(0, left):min(nw, left + cw)]


def hf_pixels(im, size, ch, cw):
    w, h = hf_resize_dims(im.width, im.height, size)
    r = im.resize((w, h), resample=Image.BICUBIC, reducing_gap=None)
    return hf_center_crop(np.array(r), ch, cw)


def hf_tensor(pixels):
    x = (pixels.astype(np.float64) * (1 / 255)).astype(np.float32)
    x = (x - np.array(CLIP_MEAN, np.float32)) / np.array(CLIP_STD, np.float32)
    return x.transpose(2, 0, 1).astype("<f4")


def save_png(arr, path):
    """Goldens are zlib-compressed binary PPMs (path's .png becomes .ppm.z), so
    the tests read them without going through the PNG decoder under test."""
    arr = np.ascontiguousarray(arr, dtype=np.uint8)
    h, w = arr.shape[:2]
    data = b"P6\n%d %d\n255\n" % (w, h) + arr.tobytes()
    open(path[:-4] + ".ppm.z", "wb").write(zlib.compress(data, 9))


def make_goldens(names):
    for d in ("decode", "prep224", "prep_small", "resize"):
        shutil.rmtree(os.path.join(GOLD, d), ignore_errors=True)
        os.makedirs(os.path.join(GOLD, d))
    manifest = {"images": [], "resize": [], "small": SMALL, "bad": [], "heif": []}
    for name in names:
        stem = name.replace(".", "_")
        im = load_rgb(os.path.join(IMAGES, name))
        orient = Image.open(os.path.join(IMAGES, name)).getexif().get(0x0112) or 1
        entry = {"file": name, "stem": stem, "w": im.width, "h": im.height, "orientation": orient,
                 "decode": im.width * im.height <= 300_000}
        if entry["decode"]:
            save_png(np.array(im), os.path.join(GOLD, "decode", stem + ".png"))
        entry["prep224"] = name in PREP224
        if entry["prep224"]:  # the rest share content with these; decode goldens cover them
            save_png(hf_pixels(im, 224, 224, 224), os.path.join(GOLD, "prep224", stem + ".png"))
        px = hf_pixels(im, SMALL["shortest_edge"], SMALL["crop_h"], SMALL["crop_w"])
        save_png(np.ascontiguousarray(px), os.path.join(GOLD, "prep_small", stem + ".png"))
        hf_tensor(px).tofile(os.path.join(GOLD, "prep_small", stem + ".f32"))
        manifest["images"].append(entry)
    # Plain resizes to odd sizes, up and down, one axis only, to 1 pixel.
    for name, w, h in [("land.jpg", 97, 61), ("land.jpg", 640, 100), ("land.jpg", 1, 1),
                       ("tiny.png", 50, 33), ("tiny.png", 7, 40), ("port.jpg", 333, 500),
                       ("line.png", 3, 1000), ("odd_rgba.png", 332, 178), ("wide.jpg", 224, 112)]:
        im = load_rgb(os.path.join(IMAGES, name))
        stem = f"{name.replace('.', '_')}_{w}x{h}"
        save_png(np.array(im.resize((w, h), resample=Image.BICUBIC, reducing_gap=None)),
                 os.path.join(GOLD, "resize", stem + ".png"))
        manifest["resize"].append({"file": name, "w": w, "h": h, "golden": stem + ".ppm.z"})
    json.dump(manifest, open(os.path.join(GOLD, "manifest.json"), "w"), indent=1)
    return manifest


def main():
    shutil.rmtree(IMAGES, ignore_errors=True)
    os.makedirs(IMAGES)
    names = make_inputs()
    m = make_goldens(names)
    heif = make_heif()
    m["bmp"] = make_bmp()
    bad = sorted(make_bad() + make_bad_bmp())
    m["heif"] = [{"file": heif[0], "source": "heic_source.png"}]
    m["bad"] = bad
    json.dump(m, open(os.path.join(GOLD, "manifest.json"), "w"), indent=1)
    print(f"{len(names)} images, {len(m['resize'])} resizes, {len(bad)} hostile files")


if __name__ == "__main__":
    sys.exit(main())

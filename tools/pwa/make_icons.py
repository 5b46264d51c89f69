#!/usr/bin/python3
"""Draws LISA's app icons for the web app manifest (web/icons/*.png) with PIL.

The design is the favicon's: a white magnifier on the accent violet (#6d5cff).
- icon-192.png, icon-512.png ("purpose": "any"): a rounded square on a
  transparent ground;
- maskable-192.png, maskable-512.png ("purpose": "maskable"): the violet fills
  the whole square and the glyph stays inside the central 80 % safe zone, so
  any mask a launcher applies (circle, squircle) keeps it whole.
Drawn at 4x and downsampled (LANCZOS) for smooth edges. Run from the
repository root: /usr/bin/python3 tools/pwa/make_icons.py
"""
from PIL import Image, ImageDraw

ACCENT = (109, 92, 255, 255)
WHITE = (255, 255, 255, 255)


def glyph(d, size, scale):
    """The magnifier centred in a size x size canvas, scale = glyph width / size."""
    c = size / 2
    g = size * scale              # glyph box side
    r = g * 0.30                  # lens radius
    w = g * 0.10                  # stroke width
    cx, cy = c - g * 0.08, c - g * 0.08
    d.ellipse([cx - r, cy - r, cx + r, cy + r], outline=WHITE, width=int(w))
    hx, hy = cx + r * 0.72, cy + r * 0.72
    ex, ey = cx + g * 0.40, cy + g * 0.40
    d.line([hx, hy, ex, ey], fill=WHITE, width=int(w * 1.15))
    rr = w * 0.575
    d.ellipse([ex - rr, ey - rr, ex + rr, ey + rr], fill=WHITE)  # round cap


def draw(px, maskable):
    big = px * 4
    im = Image.new("RGBA", (big, big), (0, 0, 0, 0))
    d = ImageDraw.Draw(im)
    if maskable:
        d.rectangle([0, 0, big, big], fill=ACCENT)
        glyph(d, big, 0.56)
    else:
        d.rounded_rectangle([0, 0, big - 1, big - 1], radius=big * 0.22, fill=ACCENT)
        glyph(d, big, 0.78)
    return im.resize((px, px), Image.LANCZOS)


if __name__ == "__main__":
    for px in (192, 512):
        draw(px, False).save(f"web/icons/icon-{px}.png", optimize=True)
        draw(px, True).save(f"web/icons/maskable-{px}.png", optimize=True)
    print("wrote web/icons/{icon,maskable}-{192,512}.png")

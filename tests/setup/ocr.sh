#!/bin/sh
# Renders the OCR fixtures for tests/test_ocr.c into $1/ocr/ with ImageMagick
# (Debian imagemagick) and the DejaVu fonts (fonts-dejavu-core): images whose
# text is known because we drew it, text-free photo-like images (plasma
# fractals, blurred noise, gradients, bricks) for the text-likelihood test,
# and lib/: a small library for the ranking test, where the image holding
# "Maple Street Bakery" has a camera file name and distractors carry those
# words in their file names. Deterministic (fixed seeds); skipped when the
# fixtures are newer than this script.
build=${1:-build}
out="$build/ocr"
stamp="$out/.stamp"
[ -f "$stamp" ] && [ "$stamp" -nt "$0" ] && exit 0
command -v convert >/dev/null || { echo "ocr.sh: convert missing (apt-get install imagemagick)" >&2; exit 1; }
[ -x /usr/bin/convert ] || { echo "ocr.sh: ImageMagick missing (apt-get install imagemagick)" >&2; exit 1; }
command -v exiftool >/dev/null || { echo "ocr.sh: exiftool missing (apt-get install libimage-exiftool-perl)" >&2; exit 1; }
F=/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf
FB=/usr/share/fonts/truetype/dejavu/DejaVuSans-Bold.ttf
FS=/usr/share/fonts/truetype/dejavu/DejaVuSerif.ttf
[ -f "$F" ] && [ -f "$FB" ] && [ -f "$FS" ] || { echo "ocr.sh: DejaVu fonts missing (apt-get install fonts-dejavu-core)" >&2; exit 1; }
C=/usr/bin/convert
t="$out.tmp"
rm -rf "$t" && mkdir -p "$t/text" "$t/notext" "$t/lib" || exit 1
c() { "$C" "$@" || { echo "ocr.sh: convert failed: $*" >&2; exit 1; }; }

# A photo-like background: a plasma fractal (seeded), softened, with grain.
photo() { # seed size out
    c -seed "$1" -size "$2" plasma:fractal -blur 0x2 -attenuate 0.4 +noise Gaussian -quality 88 "$3"
}

# 1. Screenshot: title bar, menu, body text, buttons.
c -size 1280x800 xc:'#f3f3f3' \
  -fill '#2b579a' -draw 'rectangle 0,0 1280,44' \
  -font "$F" -pointsize 20 -fill white -annotate +16+30 'Quarterly Budget Report' \
  -fill '#e6e6e6' -draw 'rectangle 0,44 1280,80' \
  -fill '#222222' -pointsize 16 -annotate +20+68 'File    Edit    View    Insert    Format    Tools    Help' \
  -pointsize 18 -annotate +40+150 'Invoice number 4471 was approved by accounting' \
  -annotate +40+190 'Shipping address: 221 Baker Street, London' \
  -annotate +40+230 'Payment due within thirty days of delivery' \
  -fill white -stroke '#999999' -draw 'rectangle 900,700 1040,740' -draw 'rectangle 1080,700 1240,740' \
  -stroke none -fill '#222222' -annotate +935+727 'Cancel' -annotate +1100+727 'Save changes' \
  "$t/text/screenshot.png"

# 2. A sign in a photo: a green board with white lettering, tilted 3 degrees,
#    on a plasma "scene", with grain and JPEG compression.
photo 7 1600x1200 "$t/bg.png"
c -size 900x300 xc:'#1f5f2f' -fill none -stroke white -strokewidth 8 -draw 'rectangle 14,14 885,285' \
  -stroke none -fill white -font "$FB" -pointsize 76 -gravity center -annotate +0-40 'MAPLE STREET' \
  -font "$F" -pointsize 64 -annotate +0+60 'BAKERY' \
  -background none -rotate -3 "$t/board.png"
c "$t/bg.png" "$t/board.png" -geometry +330+380 -composite -seed 17 -attenuate 0.3 +noise Gaussian -quality 85 "$t/text/sign.jpg"
# The same sign under other grain: seeds that made Tesseract lose a letter
# or a word before the OCR step smoothed noisy images (see OCR_NOISE_SIGMA).
for s in 24 30 31 55 91; do
    c "$t/bg.png" "$t/board.png" -geometry +330+380 -composite -seed "$s" -attenuate 0.3 +noise Gaussian -quality 85 \
      "$t/text/sign_grain$s.jpg"
done

# 3. Rotated text: a notice on paper, turned 90 degrees (pixels only), the
#    same stored rotated with EXIF Orientation 8 (displays upright), and 4
#    degrees of skew.
c -size 1000x600 xc:'#fbfaf5' -font "$FS" -pointsize 44 -fill '#111111' \
  -annotate +60+150 'Lighthouse tours' -annotate +60+230 'every Sunday morning' \
  -annotate +60+310 'tickets at the harbour' "$t/notice.png"
c "$t/notice.png" -rotate 90 "$t/text/rot90.png"
c "$t/notice.png" -rotate 90 -quality 90 "$t/text/rot90_exif.jpg"
exiftool -q -q -overwrite_original -Orientation#=8 "$t/text/rot90_exif.jpg" || exit 1
c "$t/notice.png" -background '#fbfaf5' -rotate 4 "$t/text/skew4.png"
# Small text on a small image (upscaled before OCR).
c -size 360x120 xc:white -font "$F" -pointsize 18 -fill black -annotate +10+50 'Garden party tonight' \
  -annotate +10+85 'bring lanterns' "$t/text/small.png"

# 4. Text-free photo-like images.
for s in 1 2 3 4 5 6 8 9; do photo "$s" 1024x768 "$t/notext/plasma$s.jpg"; done
for s in 11 12 13; do c -seed "$s" -size 1024x768 xc: +noise Random -blur 0x6 -colorspace Gray -normalize \
  -fill '#3a7d2c' -tint 60 -quality 88 "$t/notext/foliage$s.jpg"; done
c -seed 41 -size 1024x768 gradient:'#87ceeb'-'#f4a460' -attenuate 0.5 +noise Gaussian -quality 88 "$t/notext/sky.jpg"
c -seed 42 -size 256x192 pattern:bricks -scale 400% -blur 0x1 -fill '#a0522d' -tint 80 -attenuate 0.3 +noise Gaussian \
  -quality 88 "$t/notext/bricks.jpg"
c -seed 21 -size 1024x768 plasma:'#204020'-'#90c060' -swirl 120 -quality 88 "$t/notext/swirl.jpg"

# 5. The ranking library: the sign under a camera name, distractors named
#    after the words on it, text-free photos, the screenshot.
cp "$t/text/sign.jpg" "$t/lib/IMG_4512.jpg"
photo 31 1024x768 "$t/lib/maple_street.jpg"
photo 32 1024x768 "$t/lib/bakery_interior.jpg"
photo 33 1024x768 "$t/lib/street_market.jpg"
photo 34 1024x768 "$t/lib/maple-leaf.jpg"
photo 35 1024x768 "$t/lib/Lighthouse_at_dusk.jpg"
cp "$t/notext/plasma1.jpg" "$t/notext/sky.jpg" "$t/lib/"
cp "$t/text/screenshot.png" "$t/lib/Screenshot_2024-03-01.png"
cp "$t/text/rot90_exif.jpg" "$t/lib/DSC_0093.jpg"

rm -f "$t/bg.png" "$t/board.png" "$t/notice.png"
rm -rf "$out" && mv "$t" "$out" && touch "$stamp"

#!/bin/sh
# OCR junk on real photos (issue 12, item 5): indexes 30 text-free photos and
# wallpapers from Debian packages, and a set of real and rendered text images,
# with `lisa index` (OCR on, no captions, no model), then prints which images
# got OCR text. Dev-time only, never run by CI (it needs the packages below).
#
#   apt-get install python3-skimage gnome-backgrounds   # the photo sets
#   sh tests/setup/ocr.sh build                         # the rendered text fixtures
#   sh tools/ocr/measure_junk.sh [BUILD]
#
# Text-free set (30): the 16 photographs scikit-image ships in
# skimage/data (astronaut, brick, camera, cell, chelsea, coffee, coins, grass,
# gravel, hubble_deep_field, ihc, moon, motorcycle_left/right, retina, rocket)
# and the 14 large GNOME 43 wallpapers (/usr/share/backgrounds/gnome/*.webp).
# Text set: skimage's page.png (a scanned page), text.png and bw_text.png,
# and the rendered signs, pages and screenshots of tests/setup/ocr.sh.
# Target: at most 1 of the 30 gets OCR text; every text image is read.
build=${1:-build}
lisa="$build/lisa"
sk=/usr/lib/python3/dist-packages/skimage/data
gn=/usr/share/backgrounds/gnome
[ -x "$lisa" ] || { echo "measure_junk: $lisa missing (make)" >&2; exit 1; }
[ -d "$sk" ] || { echo "measure_junk: $sk missing (apt-get install python3-skimage)" >&2; exit 1; }
[ -d "$gn" ] || { echo "measure_junk: $gn missing (apt-get install gnome-backgrounds)" >&2; exit 1; }
[ -d "$build/ocr/text" ] || { echo "measure_junk: $build/ocr/text missing (sh tests/setup/ocr.sh $build)" >&2; exit 1; }
w=${TMPDIR:-/tmp}/lisa-ocr-junk.$$
trap 'rm -rf "$w"' EXIT
mkdir -p "$w/notext" "$w/text"
for n in astronaut.png brick.png camera.png cell.png chelsea.png coffee.png coins.png grass.png gravel.png \
    hubble_deep_field.jpg ihc.png moon.png motorcycle_left.png motorcycle_right.png retina.jpg rocket.jpg; do
    cp "$sk/$n" "$w/notext/" || exit 1
done
for n in adwaita grid licorice pixels symbolic truchet wood; do
    cp "$gn/$n-l.webp" "$gn/$n-d.webp" "$w/notext/" || exit 1
done
cp "$sk/page.png" "$sk/text.png" "$sk/bw_text.png" "$w/text/" || exit 1
cp "$build"/ocr/text/* "$w/text/" || exit 1

# index DIR NAME: prints "NAME: K of N images got OCR text", then those images.
index() {
    "$lisa" index "$1" --data "$1.data" --no-captions --progress none >"$1.log" 2>&1 || { cat "$1.log"; exit 1; }
    n=$(ls "$1" | wc -l)
    k=$(sqlite3 "$1.data/lisa.db" "SELECT count(*) FROM images WHERE ocr_text <> ''")
    echo "$2: $k of $n images got OCR text"
    sqlite3 -separator '  ' "$1.data/lisa.db" \
        "SELECT replace(path, '$1/', ''), printf('%.2f', ocr_conf), substr(replace(ocr_text, char(10), ' / '), 1, 70)
         FROM images WHERE ocr_text <> '' ORDER BY path" | sed 's/^/    /'
    [ "$2" = text ] && sqlite3 "$1.data/lisa.db" "SELECT '    NOT READ: ' || replace(path, '$1/', '')
         FROM images WHERE ocr_text = '' OR ocr_text IS NULL ORDER BY path"
    grep '^ocr:' "$1.log" | sed 's/^/    /'
}
index "$w/notext" "text-free"
index "$w/text" "text"

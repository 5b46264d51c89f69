#!/bin/sh
# Writes the metadata fixtures for tests/test_meta.c into $1/meta/: copies of
# tests/data/images/land.jpg carrying real EXIF, IPTC and XMP written by
# exiftool (Debian libimage-exiftool-perl), an independent writer, so the
# tests check LISA's reader against values it did not produce. Skipped when
# the fixtures are newer than this script.
build=${1:-build}
out="$build/meta"
src=tests/data/images/land.jpg
stamp="$out/.stamp"
[ -f "$stamp" ] && [ "$stamp" -nt "$0" ] && [ "$stamp" -nt "$src" ] && exit 0
command -v exiftool >/dev/null || { echo "meta.sh: exiftool missing (apt-get install libimage-exiftool-perl)" >&2; exit 1; }
rm -rf "$out.tmp" && mkdir -p "$out.tmp" || exit 1
x() { exiftool -q -q -overwrite_original "$@" || { echo "meta.sh: exiftool failed: $*" >&2; exit 1; }; }

# Everything: EXIF date/camera/orientation/GPS (southern hemisphere), IPTC
# keywords/caption/headline/object name (UTF-8), XMP subject/title/description
# and a Lightroom hierarchy.
cp "$src" "$out.tmp/full.jpg"
x -codedcharacterset=utf8 \
  -EXIF:DateTimeOriginal="2019:07:04 18:30:00" -EXIF:Make="Canon" \
  -EXIF:Model="Canon EOS 5D Mark IV" -EXIF:Orientation#=6 \
  -GPSLatitude=33.8568 -GPSLatitudeRef=S \
  -GPSLongitude=151.2153 -GPSLongitudeRef=E -GPSAltitude=12 -GPSAltitudeRef=0 \
  -IPTC:Keywords=beach -IPTC:Keywords=Sunset -IPTC:Keywords="Café" -IPTC:Keywords="東京" \
  -IPTC:Caption-Abstract="IPTC caption" -IPTC:Headline="Evening at Bondi" \
  -IPTC:ObjectName="IPTC title" \
  -XMP-dc:Subject=Beach -XMP-dc:Subject=holiday \
  -XMP-dc:Title="Sunset over the harbour" \
  -XMP-dc:Description="Waves and a red sky" \
  -XMP-lr:HierarchicalSubject="Places|Australia|Sydney" \
  "$out.tmp/full.jpg"

# XMP only, date from photoshop:DateCreated.
cp "$src" "$out.tmp/xmp.jpg"
x -XMP-photoshop:DateCreated="2021:12:25 08:00:00" -XMP-dc:Subject=snow \
  -XMP-dc:Description="Winter morning" "$out.tmp/xmp.jpg"

# IPTC only, date from DateCreated + TimeCreated.
cp "$src" "$out.tmp/iptc.jpg"
x -IPTC:DateCreated=2020:03:15 -IPTC:TimeCreated=10:11:12 -IPTC:Keywords=garden \
  -IPTC:Keywords=Garden -IPTC:Caption-Abstract="Spring flowers" "$out.tmp/iptc.jpg"

# Camera only; an impossible date (month 13) must read as unknown.
cp "$src" "$out.tmp/camera.jpg"
x -EXIF:Make="NIKON CORPORATION" -EXIF:Model="NIKON D750" \
  -EXIF:DateTimeOriginal#="2018:13:01 00:00:00" "$out.tmp/camera.jpg"

# No metadata at all.
cp "$src" "$out.tmp/none.jpg"
x -all= "$out.tmp/none.jpg"

# Not an image.
printf 'just some text, no image here\n' > "$out.tmp/text.jpg"

rm -rf "$out" && mv "$out.tmp" "$out" && touch "$stamp"

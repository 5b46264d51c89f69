#!/bin/sh
# Installs every Debian package that the build, the tests and the benchmarks
# need. Idempotent: when all are present it does nothing (no network).
set -e
PKGS="build-essential pkg-config clang libclang-rt-14-dev clang-format git
 libjpeg62-turbo-dev libpng-dev libwebp-dev libgif-dev libheif-dev libtiff-dev libexif-dev
 libcjson-dev libutf8proc-dev libcurl4-openssl-dev libssl-dev libcmocka-dev libsentencepiece-dev
 libsqlite3-dev libstemmer-dev libfaiss-dev libopenblas-dev libgexiv2-dev libimage-exiftool-perl libtesseract-dev tesseract-ocr-eng tesseract-ocr-osd imagemagick fonts-dejavu-core
 fonts-dejavu-core libmicrohttpd-dev wrk python3 python3-numpy python3-pil python3-torch nodejs chromium"
missing=""
for p in $PKGS; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
done
[ -z "$missing" ] && { echo "deps: all Debian packages present"; exit 0; }
echo "deps: installing$missing"
SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO=sudo
$SUDO apt-get update -q
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -q $missing

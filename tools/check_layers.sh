#!/bin/sh
# Layering check (docs: house style rule 3): a file under src/<layer>/ may
# include headers only from the layers this table allows, so dependencies run
# downward: base <- tensor <- model <- clip/caption/siglip (clip loads a SigLIP dir
# through siglip: one entry point for the embedding models); image <- base;
# store <- search; server and cli on top. A new src/<layer>/ must be added here.
# Usage: sh tools/check_layers.sh [SRC_DIR]. Prints each violation as
# FILE:LINE: and exits 1 if there is any.
src=${1:-src}
allowed() {
    case "$1" in
        base)    echo "base" ;;
        tensor)  echo "base tensor" ;;
        model)   echo "base tensor model" ;;
        image)   echo "base image" ;;
        siglip)  echo "base tensor model image siglip" ;;
        clip)    echo "base tensor model image siglip clip" ;;
        caption) echo "base tensor model image caption" ;;
        ocr)     echo "base image ocr" ;;
        store)   echo "base store" ;;
        search)  echo "base tensor model image siglip clip caption ocr store search" ;;
        server)  echo "base tensor model image siglip clip caption ocr store search server" ;;
        cli)     echo "base tensor model image siglip clip caption ocr store search server cli" ;;
        *)       echo "?" ;;
    esac
}
bad=0
for dir in "$src"/*/; do
    layer=$(basename "$dir")
    ok=$(allowed "$layer")
    if [ "$ok" = "?" ]; then
        echo "$dir: layer '$layer' is not in tools/check_layers.sh's table"
        bad=$((bad + 1))
        continue
    fi
    for f in "$dir"*.c "$dir"*.h; do
        [ -f "$f" ] || continue
        # "#include "x/y.h"" lines: the layer is the part before the slash.
        out=$(grep -n '^[[:space:]]*#[[:space:]]*include[[:space:]]*"' "$f" | while IFS= read -r line; do
            n=${line%%:*}
            inc=$(printf '%s\n' "$line" | sed 's/^[^"]*"\([^"]*\)".*/\1/')
            case "$inc" in
                */*) to=${inc%%/*} ;;
                *) continue ;; # same-folder include
            esac
            case " $ok " in
                *" $to "*) ;;
                *) echo "$f:$n: includes \"$inc\": $layer may include only: $ok" ;;
            esac
        done)
        if [ -n "$out" ]; then
            printf '%s\n' "$out"
            bad=$((bad + $(printf '%s\n' "$out" | wc -l)))
        fi
    done
done
[ "$bad" -eq 0 ] && { echo "layers: ok"; exit 0; }
echo "layers: $bad violation(s)"
exit 1

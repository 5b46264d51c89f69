#!/bin/sh
# Every error return sets a message (house style rule 5): flags a bare
# `return LISA_E...;`, `rc = LISA_E...;` or `? LISA_E... :` under src/, whose
# caller would show an older failure's lisa_errmsg(). Use
# `return lisa_seterr(LISA_E..., "what, which file, why")` instead.
# Usage: sh tools/check_errors.sh [SRC_DIR]. Exits 1 on any.
src=${1:-src}
hits=$(grep -rnE '(return|rc =|[?:]) *LISA_E[A-Z]+ *;' "$src" --include='*.c' --include='*.h' | grep -v "^$src/base/err.c:")
[ -z "$hits" ] && { echo "errors: every error return sets a message"; exit 0; }
printf '%s\n' "$hits"
echo "errors: $(printf '%s\n' "$hits" | wc -l) bare error return(s) without a message"
exit 1

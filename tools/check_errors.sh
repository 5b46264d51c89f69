#!/bin/sh
# The message shown with an error belongs to that error (house style rule 5):
#  1. flags a bare `return LISA_E...;`, `rc = LISA_E...;` or `? LISA_E... :`
#     under src/, whose caller would show an older failure's message. Use
#     `return lisa_seterr(LISA_E..., "what, which file, why")` instead;
#  2. flags a call of lisa_errmsg() (the last message, whatever its code)
#     outside src/base/err.c and cli_fail(): read the message of the code at
#     hand with lisa_errmsg_for(rc), which never passes an older failure's
#     message off as this one's.
# Usage: sh tools/check_errors.sh [SRC_DIR]. Exits 1 on any.
src=${1:-src}
bare=$(grep -rnE '(return|rc =|[?:]) *LISA_E[A-Z]+ *;' "$src" --include='*.c' --include='*.h' | grep -v "^$src/base/err.c:")
last=$(grep -rn 'lisa_errmsg()' "$src" --include='*.c' --include='*.cc' | grep -v "^$src/base/err.c:" |
    grep -v '//.*lisa_errmsg()' | grep -v 'lisa_errcode() ? lisa_errmsg()')
[ -z "$bare$last" ] && { echo "errors: every error return sets a message, read back by its code"; exit 0; }
[ -n "$bare" ] && printf '%s\n' "$bare" && echo "errors: $(printf '%s\n' "$bare" | wc -l) bare error return(s) without a message"
[ -n "$last" ] && printf '%s\n' "$last" && echo "errors: $(printf '%s\n' "$last" | wc -l) lisa_errmsg() call(s): use lisa_errmsg_for(rc)"
exit 1

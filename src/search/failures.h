// Files that failed during a build, as people read them: the list behind
// GET /api/failures and `lisa stats --failures` (docs/api.md), and forgetting
// them so that the next build tries them again.
#ifndef LISA_SEARCH_FAILURES_H
#define LISA_SEARCH_FAILURES_H

#include "store/store.h"

#include <cjson/cJSON.h>
#include <stddef.h>

// The one-sentence reason for a stored failure of path: the decoder's text
// without the path it starts with, after the file's base name:
// "x.jpg cannot be read (JPEG: truncated file)." Into out (cap bytes).
void failures_sentence(const char *path, const char *error, char *out, size_t cap);

// {"count": N, "failures": [{"path", "name", "error", "size", "failed_at"}]},
// in path order; *out is the caller's (cJSON_Delete).
int failures_json(store *s, cJSON **out);

// Forgets path's failure (NULL: all of them); *n gets how many were
// forgotten (0: path was not a failure).
int failures_forget(store *s, const char *path, int *n);

#endif

// Small JSON helpers over cJSON (Debian libcjson).
#ifndef LISA_BASE_JSON_H
#define LISA_BASE_JSON_H

#include <cJSON.h>
#include <stddef.h>

// Reads the file at path (at most max_bytes) and parses it as JSON into *out,
// which the caller frees with cJSON_Delete(). Errors name the file: a missing
// or oversized file keeps lisa_read_file()'s code, bad JSON is LISA_EFORMAT
// ("PATH: not valid JSON").
int lisa_read_json(const char *path, size_t max_bytes, cJSON **out);

#endif

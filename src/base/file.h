// Whole-file access: read-only memory maps and small-file slurps.
#ifndef LISA_BASE_FILE_H
#define LISA_BASE_FILE_H

#include <stddef.h>
#include <stdint.h>

typedef struct {
    const uint8_t *data; // NULL for an empty file
    size_t size;
} lisa_map;

// Maps path read-only into *m. Files over max_bytes are refused with
// LISA_ETOOBIG before mapping. The caller owns the map: lisa_unmap() it.
int lisa_map_file(const char *path, size_t max_bytes, lisa_map *m);
void lisa_unmap(lisa_map *m);

// Reads a whole (small) file into a NUL-terminated malloc'd buffer owned by the
// caller; *len gets the byte count without the NUL. Refuses files over max_bytes.
int lisa_read_file(const char *path, size_t max_bytes, char **out, size_t *len);

// Writes size bytes to path atomically: a temp file in the same directory,
// fsync, then rename(). The data stays owned by the caller.
int lisa_write_file_atomic(const char *path, const void *data, size_t size);

#endif

// safetensors reader: a memory-mapped, validated checkpoint.
//
// The file is "u64 little-endian header length N, N bytes of JSON, data".
// st_parse() validates everything before any tensor is handed out: N is
// capped (ST_MAX_HEADER), the JSON is one object, every entry (other than
// __metadata__) has a known dtype, a shape of non-negative integers and
// data_offsets [begin, end] with begin <= end <= data size, end - begin equal
// to dtype size x product(shape) (overflow-checked), no two tensors overlap
// and no name repeats. Tensors of dtypes we do not compute with (I64
// position_ids, ...) are tolerated and ignored unless asked for.
//
// Weights are not copied: st_get_f32() returns a pointer into the map, except
// for F16/BF16 (converted to F32 once) and misaligned F32 (copied once); those
// buffers are owned by the st_file and freed by st_close().
#ifndef LISA_MODEL_SAFETENSORS_H
#define LISA_MODEL_SAFETENSORS_H

#include "base/file.h"

#include <stddef.h>
#include <stdint.h>

#define ST_MAX_HEADER (100u * 1024 * 1024) // bytes of JSON header
#define ST_MAX_DIMS 8
#define ST_MAX_TENSORS 1000000
#define ST_MAX_FILE ((size_t)1 << 40) // 1 TiB

typedef enum {
    ST_F32,
    ST_F16,
    ST_BF16,
    ST_F64,
    ST_I64,
    ST_I32,
    ST_I16,
    ST_I8,
    ST_U64,
    ST_U32,
    ST_U16,
    ST_U8,
    ST_BOOL,
    ST_F8_E4M3,
    ST_F8_E5M2,
} st_dtype;

typedef struct {
    char *name;
    st_dtype dtype;
    int ndim;
    int64_t shape[ST_MAX_DIMS];
    size_t nbytes;
    const uint8_t *data; // nbytes bytes inside the map (or the parsed buffer)
    float *f32;          // converted/aligned copy made by st_get_f32, or NULL
    int finite;          // 1 once st_get_f32 found every element finite
} st_tensor;

typedef struct {
    char *name;   // file name used in error messages (owned)
    lisa_map map; // zeroed for st_parse(): the caller keeps that buffer
    st_tensor *t; // n tensors sorted by name, owned
    size_t n;
} st_file;

// Size in bytes of one element of d.
size_t st_dtype_size(st_dtype d);
const char *st_dtype_name(st_dtype d);

// Parses and validates an in-memory safetensors image. The buffer is borrowed:
// it must outlive *out. name labels error messages. The caller owns *out and
// releases it with st_close().
int st_parse(const uint8_t *data, size_t size, const char *name, st_file **out);

// Maps path and st_parse()s it; the st_file owns the map.
int st_open(const char *path, st_file **out);

// Frees the file, its map and all converted buffers. st_close(NULL) is a no-op.
void st_close(st_file *f);

// The tensor named name, or NULL. The pointer is owned by f.
const st_tensor *st_find(const st_file *f, const char *name);

// Looks name up as F32 data of exactly the given shape (ndim dims). F16/BF16
// are converted once; the returned pointer is owned by f and lives until
// st_close(). Errors name the file, the tensor, the expected and found shape:
// "model.safetensors: x.weight: expected [2048, 512], found [3072, 512]".
// The first call per tensor checks every element is finite (one pass over
// the data): a NaN or Inf is LISA_EFORMAT naming the tensor and element.
int st_get_f32(st_file *f, const char *name, int ndim, const int64_t *shape, const float **out);

// Formats shape as "[a, b, c]" into buf (always NUL-terminated).
void st_shape_str(int ndim, const int64_t *shape, char *buf, size_t n);

#endif

// A model's weights as Hugging Face ships them: one DIR/model.safetensors, or
// a sharded checkpoint, DIR/model.safetensors.index.json plus the shard files
// it names:
//   {"metadata": {...}, "weight_map": {"tensor.name": "model-00001-of-00002.safetensors", ...}}
//
// ckpt_open() prefers model.safetensors when both are present (that is what
// transformers does). For an index it validates everything before a tensor is
// handed out: weight_map is a non-empty object of strings, each shard name is a
// plain file name (CKPT_SHARD_NAME_MAX chars of [A-Za-z0-9._-], no "..", not
// starting with '.', ending in ".safetensors"), no tensor is listed twice, each
// distinct shard is opened (mmapped, st_open()) exactly once, and every tensor
// of the map is present in the shard the map names.
//
// The weight_map is authoritative: a lookup goes only to the shard the map
// names. A tensor that a shard holds but the map does not assign to it (absent
// from the map, or mapped to another shard) is ignored, as transformers ignores
// it; it can never be read, so it cannot shadow the mapped one. "metadata"
// (total_size, ...) is informational and not checked.
#ifndef LISA_MODEL_CHECKPOINT_H
#define LISA_MODEL_CHECKPOINT_H

#include "model/safetensors.h"

#include <stddef.h>
#include <stdint.h>

#define CKPT_SINGLE "model.safetensors"
#define CKPT_INDEX "model.safetensors.index.json"
#define CKPT_INDEX_MAX_BYTES (64u << 20) // index.json (a 70B model's is ~100 KiB)
#define CKPT_MAX_SHARDS 4096
#define CKPT_SHARD_NAME_MAX 255

typedef struct ckpt ckpt;

// A parsed index: the distinct shard names sorted, and the map sorted by tensor.
typedef struct {
    char *tensor;
    size_t shard; // index into shards
} ckpt_entry;

typedef struct {
    char **shards; // nshards distinct names, sorted, owned
    size_t nshards;
    ckpt_entry *map; // n entries sorted by tensor name, owned
    size_t n;
} ckpt_index;

// 1 when name is an acceptable shard file name (see above): safe as a path
// component under the model directory and as a URL path segment.
int ckpt_valid_shard_name(const char *name);

// Reads and validates the index file at path into *ix (the caller releases it
// with ckpt_index_release(), also after a failure). Errors name the file and
// the field: "DIR/model.safetensors.index.json: weight_map: not an object".
int ckpt_index_load(const char *path, ckpt_index *ix);

// The same for len bytes of JSON in memory; name stands for the file in errors.
int ckpt_index_parse(const char *text, size_t len, const char *name, ckpt_index *ix);
void ckpt_index_release(ckpt_index *ix);

// Opens the weights in dir (see above). The caller owns *out and frees it with
// ckpt_close(). Errors name the file, the tensor and the shard.
int ckpt_open(const char *dir, ckpt **out);

// Frees the checkpoint, its maps and all converted buffers. ckpt_close(NULL) is a no-op.
void ckpt_close(ckpt *c);

// 1 when the weights come from an index, 0 for one model.safetensors.
int ckpt_sharded(const ckpt *c);

// Number of files mapped (1 for model.safetensors).
size_t ckpt_nfiles(const ckpt *c);

// The tensor named name, or NULL; for an index, only from its mapped shard.
// The pointer is owned by c.
const st_tensor *ckpt_find(const ckpt *c, const char *name);

// st_get_f32() on the file that holds name: F32 data of exactly the given
// shape, owned by c and valid until ckpt_close(). Errors name the file:
// "model-00002-of-00003.safetensors: x.weight: expected [2048, 512], found [3072, 512]",
// or for a tensor the index does not list,
// "model.safetensors.index.json: tensor x.weight is missing".
int ckpt_get_f32(ckpt *c, const char *name, int ndim, const int64_t *shape, const float **out);

#endif

// Finding model directories, and telling whether one is a complete checkpoint.
//
// A model directory is a Hugging Face checkpoint as it is on the hub:
// config.json, the weights (model.safetensors, or model.safetensors.index.json
// and every shard it names), preprocessor_config.json and a tokenizer
// (tokenizer.json, or vocab.json + merges.txt for CLIP, vocab.txt for BLIP).
// Where one is looked for, first match wins:
//   1. an explicit directory (--model DIR);
//   2. $LISA_MODELS: a model directory itself (its config.json's model_type fits
//      the model asked for), or a directory of model directories ($LISA_MODELS/NAME);
//   3. DATA/models/NAME, with DATA from --data, else $LISA_DATA, else ./data.
// NAME is the local name of a model (see hub_resolve_name(): the short name,
// or the name part of a repo id). `lisa models pull` installs into 3.
#ifndef LISA_MODEL_MODELDIR_H
#define LISA_MODEL_MODELDIR_H

#include <stddef.h>
#include <stdint.h>

// The default CLIP model: LAION's ViT-B/32 (laion2B-s34B-b79K), OpenAI's
// architecture at its speed with 68.8% against 59.4% mean recall on
// Crossmodal-3600 (docs/models.md). OpenAI's, the default before 2026-12,
// keeps serving where it is installed and the new one is not.
#define MODELDIR_DEFAULT_CLIP "clip-vit-base-patch32-laion2b"
#define MODELDIR_LEGACY_CLIP "clip-vit-base-patch32"
#define MODELDIR_DEFAULT_CAPTION "blip-image-captioning-base"
#define MODELDIR_PATH_MAX 4096
#define MODELDIR_LIST_MAX 256 // entries modeldir_list() returns at most

typedef enum { MODELDIR_CLIP, MODELDIR_BLIP } modeldir_kind;

// The data directory: flag when non-empty, else $LISA_DATA, else "./data".
// Returns flag, the environment's string, or a static string (never NULL).
const char *modeldir_data_dir(const char *flag);

// The kind a model name stands for: names starting with "blip" are BLIP.
modeldir_kind modeldir_kind_of(const char *name);

// Writes into out (cap bytes) the directory that holds model `name` (NULL: the
// default CLIP model, else an installed MODELDIR_LEGACY_CLIP), searching the
// places above; data_dir NULL means
// modeldir_data_dir(NULL). When no candidate exists it still returns 0 with
// DATA/models/NAME, where `lisa models pull` would put it. Fails on a bad name
// (LISA_EINVAL) or a path over cap (LISA_ETOOBIG).
int modeldir_resolve(const char *explicit_dir, const char *data_dir, const char *name, char *out, size_t cap);

// Checks that dir is a complete checkpoint of kind. Returns 0, or
// LISA_ENOTFOUND with a message naming the directory, the missing file and the
// one command that installs it ("lisa models pull <pull_name>"; NULL pull_name:
// the kind's default). *missing (may be NULL) gets a static name of the first
// missing file, or NULL when complete.
int modeldir_check(const char *dir, modeldir_kind kind, const char *pull_name, const char **missing);

// config.json's "model_type" into buf ("clip", "blip", ...); "" when absent.
void modeldir_model_type(const char *dir, char *buf, size_t cap);

typedef struct {
    char name[256]; // directory name
    char path[MODELDIR_PATH_MAX];
    char model_type[32]; // from config.json, "" unknown
    const char *missing; // static name of the first missing file, NULL if complete
    uint64_t bytes;      // regular files directly in the directory
    int partial;         // an interrupted download waits in .partial/
} modeldir_entry;

// Lists the model directories under DATA/models/ and $LISA_MODELS (each once),
// sorted by name. *out is a malloc'd array owned by the caller: free() it.
int modeldir_list(const char *data_dir, modeldir_entry **out, size_t *n);

#endif

// The model catalog: the checkpoints LISA knows by a short name, what they
// cost and what they are known to be worth. `lisa models list --available`
// prints it, `lisa models pull NAME` resolves a short name through it
// (hub_resolve_name()), docs/models.md explains it.
//
// Sizes are the fp32 safetensors download, from the parameter count (4 bytes a
// parameter), rounded: approximate until a pull measures them. Recall and
// speed are the only measured figures, and they are Immich's (see
// CATALOG_RECALL_SOURCE), not LISA's: zero-shot text-to-image retrieval on
// Crossmodal-3600, English, mean of R@1/5/10, and ms per text on a Ryzen 7
// 7800X3D. Entries Immich did not measure carry -1.
#ifndef LISA_MODEL_CATALOG_H
#define LISA_MODEL_CATALOG_H

#include <stddef.h>

#define CATALOG_RECALL_SOURCE                                                                                          \
    "Immich docs, multilingual CLIP benchmarks: Crossmodal-3600 (English), mean of R@1/5/10; "                         \
    "ms per text on a Ryzen 7 7800X3D; Immich calls them estimates"

typedef enum { CATALOG_CLIP, CATALOG_SIGLIP, CATALOG_CAPTION } catalog_family;

typedef struct {
    const char *name; // short name; also the directory under DATA/models/
    const char *repo; // Hugging Face repo id
    catalog_family family;
    const char *arch;      // "ViT-B/32, 224 px", ...
    int params_m;          // parameters, millions
    int mib;               // fp32 download, MiB (approximate)
    const char *languages; // "English", "multilingual"
    double recall;         // CATALOG_RECALL_SOURCE's recall %, -1 unknown
    double text_ms;        // CATALOG_RECALL_SOURCE's ms per text, -1 unknown
    int immich_mib;        // the MiB figure in the same Immich table, -1 unknown
    const char *note;      // "" or what LISA cannot do with it yet
} catalog_entry;

// Every entry, in display order; *n gets the count. Static storage.
const catalog_entry *catalog_all(size_t *n);

// The entry with this short name, or NULL.
const catalog_entry *catalog_find(const char *name);

const char *catalog_family_name(catalog_family f);

#endif

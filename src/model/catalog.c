#include "model/catalog.h"

#include <string.h>

static const catalog_entry ALL[] = {
    /* ------------------------------------------------------------ embedding models: search vectors */
    {"clip-vit-base-patch32", "openai/clip-vit-base-patch32", CATALOG_CLIP, "ViT-B/32, 224 px", 151, 577, "English",
     59.4, 2.3, 1004, ""},
    {"clip-vit-base-patch32-laion2b", "laion/CLIP-ViT-B-32-laion2B-s34B-b79K", CATALOG_CLIP, "ViT-B/32, 224 px", 151,
     577, "English", 68.8, 2.3, 1001, ""},
    {"clip-vit-base-patch16", "openai/clip-vit-base-patch16", CATALOG_CLIP, "ViT-B/16, 224 px", 150, 571, "English", -1,
     -1, -1, ""},
    {"clip-vit-large-patch14", "openai/clip-vit-large-patch14", CATALOG_CLIP, "ViT-L/14, 224 px", 428, 1631, "English",
     -1, -1, -1, ""},
    {"siglip-base-patch16-224", "google/siglip-base-patch16-224", CATALOG_SIGLIP, "SigLIP ViT-B/16, 224 px", 203, 775,
     "English", 71.6, 5.8, 1081,
     "spiece.model tokenizer: LISA's SentencePiece path is proven on a small model, not yet on this file"},
    {"siglip2-base-patch16-224", "google/siglip2-base-patch16-224", CATALOG_SIGLIP, "SigLIP 2 ViT-B/16, 224 px", 375,
     1431, "multilingual", 75.2, 5.8, 3038, ""},
    {"siglip2-large-patch16-256", "google/siglip2-large-patch16-256", CATALOG_SIGLIP, "SigLIP 2 ViT-L/16, 256 px", 882,
     3363, "multilingual", -1, -1, -1, ""},
    /* ------------------------------------------------------------ captioning models */
    {"blip-image-captioning-base", "Salesforce/blip-image-captioning-base", CATALOG_CAPTION, "BLIP ViT-B/16, 384 px",
     247, 942, "English", -1, -1, -1, "captions, not search vectors"},
};

#define NALL (sizeof ALL / sizeof ALL[0])

const catalog_entry *catalog_all(size_t *n)
{
    *n = NALL;
    return ALL;
}

const catalog_entry *catalog_find(const char *name)
{
    size_t n;
    const catalog_entry *e = catalog_all(&n);
    for (size_t i = 0; name && i < n; i++)
        if (!strcmp(e[i].name, name)) return &e[i];
    return NULL;
}

const char *catalog_family_name(catalog_family f)
{
    return f == CATALOG_CLIP ? "clip" : f == CATALOG_SIGLIP ? "siglip" : "caption";
}

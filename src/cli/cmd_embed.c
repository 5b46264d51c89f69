// `lisa embed`: CLIP unit embeddings of texts and images, one JSON array per
// input and line, in command-line order.
#include "cli/cli.h"
#include "base/err.h"
#include "clip/clip.h"
#include "image/image.h"
#include "image/preprocess.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int usage(void)
{
    fprintf(stderr,
            "usage: lisa embed --model DIR [--threads N] [--precision fp32|bf16|int8] (--text TEXT | --image FILE)...\n"
            "  DIR is a Hugging Face CLIPModel directory (config.json, model.safetensors,\n"
            "  tokenizer.json, preprocessor_config.json)\n");
    return 2;
}

static void print_vec(const float *v, int n)
{
    putchar('[');
    for (int i = 0; i < n; i++) printf(i ? ",%.8g" : "%.8g", v[i]);
    printf("]\n");
}

static int embed_image(clip_model *m, const char *path, float *out)
{
    const prep_cfg *pc = clip_prep(m);
    img_t img;
    if (clip_cfg(m)->num_channels != 3)
        return lisa_seterr(LISA_EUNSUPPORTED, "%s: the model takes %d channels, images have 3", path,
                           clip_cfg(m)->num_channels);
    int rc = img_load(path, NULL, &img, NULL);
    if (rc < 0) return rc;
    float *px = malloc((size_t)3 * pc->crop_h * pc->crop_w * sizeof *px);
    if (!px)
        rc = lisa_seterr(LISA_ENOMEM, "%s: out of memory", path);
    else if ((rc = prep_image(&img, pc, px)) == 0)
        rc = clip_embed_images(m, px, 1, out);
    free(px);
    img_release(&img);
    return rc;
}

// Checks the arguments before the model is loaded, so usage errors are cheap.
static int parse(int argc, char **argv, const char **dir, int *threads)
{
    int inputs = 0;
    for (int i = 1; i < argc; i += 2) {
        if (i + 1 >= argc) return -1;
        if (!strcmp(argv[i], "--model"))
            *dir = argv[i + 1];
        else if (!strcmp(argv[i], "--threads"))
            *threads = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "--precision"))
            continue; // checked in cmd_embed, with its message
        else if (!strcmp(argv[i], "--text") || !strcmp(argv[i], "--image"))
            inputs++;
        else
            return -1;
    }
    return *dir && inputs ? 0 : -1;
}

int cmd_embed(int argc, char **argv)
{
    const char *dir = NULL;
    int threads = 0, status = 0;
    if (parse(argc, argv, &dir, &threads) < 0) return usage();
    for (int i = 1; i + 1 < argc; i += 2) {
        int prec;
        if (strcmp(argv[i], "--precision")) continue;
        if (clip_parse_precision(argv[i + 1], &prec) < 0) return cli_fail("embed --precision");
        clip_set_precision(prec);
    }
    clip_model *m;
    if (clip_load(dir, threads, &m) < 0) return cli_fail("embed");
    float *out = malloc((size_t)clip_dim(m) * sizeof *out);
    for (int i = 1; i < argc && !status && out; i += 2) {
        int rc = 0;
        if (!strcmp(argv[i], "--text"))
            rc = clip_embed_text_str(m, argv[i + 1], out);
        else if (!strcmp(argv[i], "--image"))
            rc = embed_image(m, argv[i + 1], out);
        else
            continue;
        if (rc < 0)
            status = cli_fail("embed");
        else
            print_vec(out, clip_dim(m));
    }
    if (!out) status = cli_fail("embed");
    free(out);
    clip_free(m);
    return status;
}

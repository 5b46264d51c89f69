// `lisa caption`: BLIP captions of images, one line per image in command-line
// order: the text, or with --json {"ids":[...],"text":"..."} where ids is what
// Hugging Face's generate returns (bos 30522, the prompt, the new tokens, the
// final [SEP] if one was generated).
#include "base/err.h"
#include "caption/caption.h"
#include "cli/cli.h"
#include "image/image.h"
#include "model/modeldir.h"

#include <cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int usage(void)
{
    fprintf(stderr,
            "usage: lisa caption [--model DIR] [--data DIR] [--beams K] [--max-length N] [--min-length N]\n"
            "                    [--repetition-penalty P] [--length-penalty P] [--prompt TEXT] [--threads N]\n"
            "                    [--precision fp32|bf16|int8] [--json] IMAGE...\n"
            "  DIR is a Hugging Face BlipForConditionalGeneration directory; by default\n"
            "  %s is looked up ($LISA_MODELS, DATA/models/).\n"
            "  Defaults are Hugging Face generate()'s: greedy (K = 1), max length 20 ids.\n"
            "  Weights are packed in bf16 for a BF16 checkpoint, else fp32, unless --precision\n"
            "  (or LISA_PRECISION) says otherwise.\n",
            MODELDIR_DEFAULT_CAPTION);
    return 2;
}

typedef struct {
    const char *model, *data, *prompt;
    cap_opts o;
    int threads, json, first; // first: index of the first image in argv
    int prec;                 // CAP_PREC_*
} args;

static int num(const char *s, double lo, double hi, double *out)
{
    char *end;
    double v = strtod(s, &end);
    if (!*s || *end || !(v >= lo && v <= hi)) return -1;
    *out = v;
    return 0;
}

static int parse(int argc, char **argv, args *a)
{
    memset(a, 0, sizeof *a);
    cap_opts_default(&a->o);
    a->prec = CAP_PREC_AUTO;
    int i;
    for (i = 1; i < argc && argv[i][0] == '-' && argv[i][1]; i++) {
        const char *o = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        double x = 0;
        if (!strcmp(o, "--json")) {
            a->json = 1;
            continue;
        }
        if (!strcmp(o, "--")) {
            i++;
            break;
        }
        if (!v) return -1;
        i++;
        if (!strcmp(o, "--model"))
            a->model = v;
        else if (!strcmp(o, "--data"))
            a->data = v;
        else if (!strcmp(o, "--prompt"))
            a->prompt = v;
        else if (!strcmp(o, "--beams") && num(v, 1, CAP_MAX_BEAMS, &x) == 0 && x == (int)x)
            a->o.num_beams = (int)x;
        else if (!strcmp(o, "--max-length") && num(v, 1, CAP_MAX_LENGTH, &x) == 0 && x == (int)x)
            a->o.max_length = (int)x;
        else if (!strcmp(o, "--min-length") && num(v, 0, CAP_MAX_LENGTH, &x) == 0 && x == (int)x)
            a->o.min_length = (int)x;
        else if (!strcmp(o, "--repetition-penalty") && num(v, 1e-3, 1e3, &x) == 0)
            a->o.repetition_penalty = (float)x;
        else if (!strcmp(o, "--length-penalty") && num(v, -100, 100, &x) == 0)
            a->o.length_penalty = (float)x;
        else if (!strcmp(o, "--threads") && num(v, 0, 256, &x) == 0 && x == (int)x)
            a->threads = (int)x;
        else if (!strcmp(o, "--precision") && (!strcmp(v, "fp32") || !strcmp(v, "bf16") || !strcmp(v, "int8")))
            a->prec = !strcmp(v, "bf16") ? CAP_PREC_BF16 : !strcmp(v, "int8") ? CAP_PREC_INT8 : CAP_PREC_FP32;
        else
            return fprintf(stderr, "lisa caption: bad option %s %s\n", o, v), -1;
    }
    a->first = i;
    return i < argc ? 0 : -1;
}

static void print_json(const int32_t *ids, int n, const char *text)
{
    cJSON *o = cJSON_CreateObject(), *arr = cJSON_AddArrayToObject(o, "ids");
    for (int i = 0; i < n; i++) cJSON_AddItemToArray(arr, cJSON_CreateNumber(ids[i]));
    cJSON_AddStringToObject(o, "text", text);
    char *s = cJSON_PrintUnformatted(o);
    if (s) puts(s);
    free(s);
    cJSON_Delete(o);
}

static int caption_one(cap_model *m, const args *a, const char *path)
{
    img_t img;
    int32_t ids[CAP_MAX_LENGTH];
    int n;
    char *text = NULL;
    int rc = img_load(path, NULL, &img, NULL);
    if (rc < 0) return rc;
    rc = cap_caption(m, &img, a->prompt, &a->o, ids, CAP_MAX_LENGTH, &n, &text);
    img_release(&img);
    if (rc < 0) {
        char msg[LISA_ERRMSG_MAX];
        snprintf(msg, sizeof msg, "%s", lisa_errmsg_for(rc));
        return lisa_seterr(rc, "%s: %s", path, msg);
    }
    if (a->json)
        print_json(ids, n, text);
    else
        puts(text);
    fflush(stdout);
    free(text);
    return 0;
}

int cmd_caption(int argc, char **argv)
{
    args a;
    char dir[MODELDIR_PATH_MAX];
    if (parse(argc, argv, &a) < 0) return usage();
    if (modeldir_resolve(a.model, a.data, MODELDIR_DEFAULT_CAPTION, dir, sizeof dir) < 0) return cli_fail("caption");
    if (!a.model && modeldir_check(dir, MODELDIR_BLIP, NULL, NULL) < 0) return cli_fail("caption");
    cap_model *m;
    if (cap_load_prec(dir, a.threads, a.prec, &m) < 0) return cli_fail("caption");
    int status = 0;
    for (int i = a.first; i < argc; i++)
        if (caption_one(m, &a, argv[i]) < 0) status = cli_fail("caption");
    cap_free(m);
    return status;
}

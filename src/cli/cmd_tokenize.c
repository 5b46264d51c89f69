// `lisa tokenize`: CLIP token ids of each text, one JSON array per line.
#include "cli/cli.h"
#include "base/err.h"
#include "clip/bpe.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int usage(void)
{
    fprintf(stderr,
            "usage: lisa tokenize (--model DIR | --tokenizer FILE) [--max-length N] TEXT...\n"
            "  DIR holds tokenizer.json, or vocab.json + merges.txt; N defaults to %d\n",
            BPE_CONTEXT_LEN);
    return 2;
}

static int print_ids(const bpe_tok *t, const char *text, int max)
{
    int32_t *ids = malloc((size_t)max * sizeof *ids);
    int n;
    if (!ids) return lisa_seterr(LISA_ENOMEM, "tokenize: %d ids", max);
    int rc = bpe_encode(t, text, strlen(text), ids, max, &n);
    if (!rc) {
        putchar('[');
        for (int i = 0; i < n; i++) printf(i ? ",%d" : "%d", (int)ids[i]);
        printf("]\n");
    }
    free(ids);
    return rc;
}

int cmd_tokenize(int argc, char **argv)
{
    const char *path = NULL;
    int max = BPE_CONTEXT_LEN, i = 1;
    for (; i < argc && argv[i][0] == '-' && argv[i][1]; i++) {
        if (!strcmp(argv[i], "--")) {
            i++;
            break;
        }
        if (i + 1 >= argc) return usage();
        if (!strcmp(argv[i], "--model") || !strcmp(argv[i], "--tokenizer")) {
            path = argv[++i];
        } else if (!strcmp(argv[i], "--max-length")) {
            char *end;
            long v = strtol(argv[++i], &end, 10);
            if (*end || v < 2 || v > (1 << 20)) return usage();
            max = (int)v;
        } else {
            return usage();
        }
    }
    if (!path || i >= argc) return usage();
    bpe_tok *t;
    if (bpe_load(path, &t)) return cli_fail("tokenize");
    int status = 0;
    for (; i < argc && !status; i++)
        if (print_ids(t, argv[i], max)) status = cli_fail("tokenize");
    bpe_free(t);
    return status;
}

// `lisa export --json [--embeddings] [--data DIR] [-o FILE]`: the library as one JSON document.
#include "cli/cli.h"
#include "base/err.h"
#include "search/settings.h"
#include "store/store.h"

#include <stdio.h>
#include <string.h>

int cmd_export(int argc, char **argv)
{
    settings cfg;
    int json = 0, flags = 0;
    const char *outp = NULL;
    if (settings_resolve(&cfg, argc, argv) < 0) return cli_fail("export");
    for (int i = 1; i < argc; i++) {
        if (settings_flag_arity(argv[i]))
            i++;
        else if (!strcmp(argv[i], "--json"))
            json = 1;
        else if (!strcmp(argv[i], "--embeddings"))
            flags |= STORE_EXPORT_EMBEDDINGS;
        else if (!strcmp(argv[i], "-o") && i + 1 < argc)
            outp = argv[++i];
        else
            json = -1;
    }
    if (json != 1) return fprintf(stderr, "usage: lisa export --json [--embeddings] [-o FILE] [--data DIR]\n"), 2;
    char path[SETTINGS_PATH_MAX + 16];
    snprintf(path, sizeof path, "%s/lisa.db", cfg.data_dir);
    store *s;
    if (store_open(path, 0, &s) < 0) return cli_fail("export");
    FILE *f = outp ? fopen(outp, "w") : stdout;
    int rc = f ? store_export_json(s, f, flags) : lisa_seterr(LISA_EIO, "%s: cannot write", outp);
    if (f && f != stdout && fclose(f) != 0 && rc == 0) rc = lisa_seterr(LISA_EIO, "%s: write failed", outp);
    store_close(s);
    return rc < 0 ? cli_fail("export") : 0;
}

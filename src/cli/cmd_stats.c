// `lisa stats [--data DIR] [--json] [--failures]`: counts, db size, models,
// last index time; --failures: the files a build could not read, and why.
#include "cli/cli.h"
#include "base/err.h"
#include "clip/clip.h"
#include "search/failures.h"
#include "search/search.h"
#include "search/settings.h"
#include "store/store.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

// The failures list: the JSON of GET /api/failures, or one line per file.
static int print_failures(store *s, int json)
{
    cJSON *o;
    if (failures_json(s, &o) < 0) return cli_fail("stats");
    if (json) {
        char *txt = cJSON_PrintUnformatted(o);
        if (txt) printf("%s\n", txt);
        free(txt);
        cJSON_Delete(o);
        return 0;
    }
    int n = (int)cJSON_GetNumberValue(cJSON_GetObjectItem(o, "count"));
    if (!n) printf("no failed files\n");
    if (n) printf("%d file%s could not be read (lisa index --retry-failed tries them again):\n", n, n == 1 ? "" : "s");
    const cJSON *f;
    cJSON_ArrayForEach(f, cJSON_GetObjectItem(o, "failures"))
    {
        printf("  %s\n    %s\n", cJSON_GetStringValue(cJSON_GetObjectItem(f, "path")),
               cJSON_GetStringValue(cJSON_GetObjectItem(f, "error")));
    }
    cJSON_Delete(o);
    return 0;
}

int cmd_stats(int argc, char **argv)
{
    settings cfg;
    int json = 0, fails = 0;
    if (settings_resolve(&cfg, argc, argv) < 0) return cli_fail("stats");
    for (int i = 1; i < argc; i++) {
        if (settings_flag_arity(argv[i]))
            i++;
        else if (!strcmp(argv[i], "--json"))
            json = 1;
        else if (!strcmp(argv[i], "--failures"))
            fails = 1;
        else
            return fprintf(stderr, "usage: lisa stats [--data DIR] [--json] [--failures]\n"), 2;
    }
    char path[SETTINGS_PATH_MAX + 16];
    snprintf(path, sizeof path, "%s/lisa.db", cfg.data_dir);
    store *s;
    store_stats st;
    if (store_open(path, 0, &s) < 0) return cli_fail("stats");
    if (fails) {
        int status = print_failures(s, json);
        store_close(s);
        return status;
    }
    int rc = store_get_stats(s, &st);
    store_close(s);
    if (rc < 0) return cli_fail("stats");
    char vi[1024];
    search_vector_index_json(&st, cfg.data_dir, cfg.ann_min_images, vi, sizeof vi);
    if (json) {
        printf("{\"images\":%lld,\"embeddings\":%lld,\"with_caption\":%lld,\"with_ocr\":%lld,\"with_date\":%lld,"
               "\"failed\":%lld,\"db_bytes\":%lld,\"schema\":%d,\"last_index\":\"%s\",\"models\":[",
               (long long)st.images, (long long)st.embeddings, (long long)st.with_caption, (long long)st.with_ocr,
               (long long)st.with_date, (long long)st.failed, (long long)st.db_bytes, st.schema_version, st.last_index);
        for (int i = 0; i < st.n_models; i++)
            printf("%s{\"id\":\"%s\",\"dim\":%d,\"count\":%lld}", i ? "," : "", st.models[i].id, st.models[i].dim,
                   (long long)st.models[i].count);
        printf("],\"precision\":\"%s\",\"kernel\":\"%s\",\"vector_index\":%s}\n", cfg.precision, clip_kernel_path(),
               vi);
        return 0;
    }
    printf("database     %s (%.1f MB, schema %d)\n", path, st.db_bytes / 1e6, st.schema_version);
    printf("images       %lld (%lld with a date, %lld captioned, %lld with OCR)\n", (long long)st.images,
           (long long)st.with_date, (long long)st.with_caption, (long long)st.with_ocr);
    if (st.failed)
        printf("failed       %lld files could not be read (lisa stats --failures lists them)\n", (long long)st.failed);
    printf("embeddings   %lld\n", (long long)st.embeddings);
    for (int i = 0; i < st.n_models; i++)
        printf("  model      %s (dim %d): %lld vectors\n", st.models[i].id, st.models[i].dim,
               (long long)st.models[i].count);
    printf("last index   %s\n", st.last_index[0] ? st.last_index : "never");
    printf("precision    %s (CLIP weights; GEMM kernels %s)\n", cfg.precision, clip_kernel_path());
    printf("vector index %s\n", vi);
    return 0;
}

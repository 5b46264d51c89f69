// `lisa stats [--data DIR] [--json]`: counts, db size, models, last index time.
#include "cli/cli.h"
#include "base/err.h"
#include "clip/clip.h"
#include "search/search.h"
#include "search/settings.h"
#include "store/store.h"

#include <stdio.h>
#include <string.h>

int cmd_stats(int argc, char **argv)
{
    settings cfg;
    int json = 0;
    if (settings_resolve(&cfg, argc, argv) < 0) return cli_fail("stats");
    for (int i = 1; i < argc; i++) {
        if (settings_flag_arity(argv[i]))
            i++;
        else if (!strcmp(argv[i], "--json"))
            json = 1;
        else
            return fprintf(stderr, "usage: lisa stats [--data DIR] [--json]\n"), 2;
    }
    char path[SETTINGS_PATH_MAX + 16];
    snprintf(path, sizeof path, "%s/lisa.db", cfg.data_dir);
    store *s;
    store_stats st;
    if (store_open(path, 0, &s) < 0) return cli_fail("stats");
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
        printf("failed       %lld files could not be decoded (lisa index --retry-failed)\n", (long long)st.failed);
    printf("embeddings   %lld\n", (long long)st.embeddings);
    for (int i = 0; i < st.n_models; i++)
        printf("  model      %s (dim %d): %lld vectors\n", st.models[i].id, st.models[i].dim,
               (long long)st.models[i].count);
    printf("last index   %s\n", st.last_index[0] ? st.last_index : "never");
    printf("precision    %s (CLIP weights; GEMM kernels %s)\n", cfg.precision, clip_kernel_path());
    printf("vector index %s\n", vi);
    return 0;
}

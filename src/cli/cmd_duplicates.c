// `lisa duplicates [--data DIR] [--json]`: groups of exact copies (same
// content) and near-duplicates (resized, recompressed, lightly cropped), the
// same groups as GET /api/duplicates (search/dupes.h, docs/duplicates.md).
#include "cli/cli.h"
#include "base/err.h"
#include "search/dupes.h"
#include "search/settings.h"
#include "store/store.h"

#include <cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *base_name(const char *path)
{
    const char *b = strrchr(path, '/');
    return b ? b + 1 : path;
}

static cJSON *image_json(store *s, int64_t id)
{
    store_image im = {0};
    cJSON *o = cJSON_CreateObject();
    cJSON_AddNumberToObject(o, "id", (double)id);
    if (store_image_get(s, id, &im) < 0) return o;
    char *orig = NULL;
    if (store_upload_name(s, im.path, &orig) < 0) orig = NULL;
    cJSON_AddStringToObject(o, "name", base_name(im.path));
    cJSON_AddStringToObject(o, "original_name", orig ? orig : base_name(im.path));
    cJSON_AddStringToObject(o, "path", im.path);
    cJSON_AddNumberToObject(o, "size", (double)im.size);
    if (im.width > 0 && im.height > 0)
        cJSON_AddNumberToObject(o, "width", im.width), cJSON_AddNumberToObject(o, "height", im.height);
    else
        cJSON_AddNullToObject(o, "width"), cJSON_AddNullToObject(o, "height");
    free(orig);
    store_image_clear(&im);
    return o;
}

static void print_json(store *s, const dupes_result *r)
{
    cJSON *o = cJSON_CreateObject(), *groups = cJSON_AddArrayToObject(o, "groups");
    for (int i = 0; i < r->n; i++) {
        cJSON *g = cJSON_CreateObject(), *imgs;
        cJSON_AddStringToObject(g, "kind", r->g[i].kind == DUPES_EXACT ? "exact" : "near");
        cJSON_AddNumberToObject(g, "similarity", (double)(int)(r->g[i].similarity * 1000 + 0.5) / 1000);
        imgs = cJSON_AddArrayToObject(g, "images");
        for (int k = 0; k < r->g[i].n; k++) cJSON_AddItemToArray(imgs, image_json(s, r->g[i].ids[k]));
        cJSON_AddItemToArray(groups, g);
    }
    cJSON_AddNumberToObject(o, "count", r->n);
    char *txt = cJSON_PrintUnformatted(o);
    if (txt) puts(txt);
    free(txt);
    cJSON_Delete(o);
}

static void print_text(store *s, const dupes_result *r)
{
    for (int i = 0; i < r->n; i++) {
        const dupes_group *g = &r->g[i];
        printf("%s (%d images, similarity %.2f)\n", g->kind == DUPES_EXACT ? "exact copies" : "near-duplicates", g->n,
               (double)g->similarity);
        for (int k = 0; k < g->n; k++) {
            store_image im = {0};
            if (store_image_get(s, g->ids[k], &im) == 0) printf("  %lld  %s\n", (long long)g->ids[k], im.path);
            store_image_clear(&im);
        }
    }
    printf("%d group%s among %lld images%s", r->n, r->n == 1 ? "" : "s", (long long)r->images,
           r->used_vectors ? " (perceptual hash + CLIP cosine)" : " (perceptual hash)");
    if (r->unreadable) printf("; %lld could not be read", (long long)r->unreadable);
    printf("\n");
}

int cmd_duplicates(int argc, char **argv)
{
    settings cfg;
    int json = 0;
    dupes_opts o = {0};
    if (settings_resolve(&cfg, argc, argv) < 0) return cli_fail("duplicates");
    for (int i = 1; i < argc; i++) {
        if (settings_flag_arity(argv[i]))
            i++;
        else if (!strcmp(argv[i], "--json"))
            json = 1;
        else if (!strcmp(argv[i], "--max-distance") && i + 1 < argc && atoi(argv[i + 1]) > 0 && atoi(argv[i + 1]) <= 64)
            o.max_distance = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--no-vectors"))
            o.no_vectors = 1;
        else
            return fprintf(stderr,
                           "usage: lisa duplicates [--data DIR] [--json] [--max-distance BITS] [--no-vectors]\n"),
                   2;
    }
    char path[SETTINGS_PATH_MAX + 16];
    snprintf(path, sizeof path, "%s/lisa.db", cfg.data_dir);
    store *s;
    dupes_result r;
    if (store_open(path, 0, &s) < 0) return cli_fail("duplicates");
    if (dupes_find(s, &o, &r) < 0) {
        store_close(s);
        return cli_fail("duplicates");
    }
    if (json)
        print_json(s, &r);
    else
        print_text(s, &r);
    dupes_result_free(&r);
    store_close(s);
    return 0;
}

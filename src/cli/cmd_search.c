// `lisa search "query" [--top-k N] [--clip-weight W] [--json]`: hybrid search.
#include "cli/cli.h"
#include "base/err.h"
#include "clip/clip.h"
#include "search/search.h"
#include "search/settings.h"

#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int usage(const char *cmd)
{
    if (!strcmp(cmd, "similar"))
        fprintf(stderr, "usage: lisa similar IMAGE [--top-k N] [--json] [--model DIR] [--data DIR]\n");
    else
        fprintf(stderr,
                "usage: lisa search \"query\" [--top-k N] [--clip-weight W] [--json] [--model DIR] [--data DIR]\n");
    return 2;
}

static void print_json(const search_results *res, const char *query)
{
    cJSON *o = cJSON_CreateObject(), *arr = cJSON_CreateArray();
    cJSON_AddStringToObject(o, "query", query);
    cJSON_AddBoolToObject(o, "keyword_only", res->keyword_only);
    if (res->message[0]) cJSON_AddStringToObject(o, "message", res->message);
    cJSON_AddNumberToObject(o, "text_ms", res->text_ms);
    cJSON_AddNumberToObject(o, "total_ms", res->total_ms);
    for (int i = 0; i < res->n; i++) {
        const search_result *r = &res->r[i];
        cJSON *x = cJSON_CreateObject();
        search_result_scores_json(x, r);
        if (r->ocr_text) cJSON_AddStringToObject(x, "ocr_text", r->ocr_text);
        cJSON_AddStringToObject(x, "path", r->path);
        cJSON_AddNumberToObject(x, "size", (double)r->size);
        cJSON_AddStringToObject(x, "date", r->date);
        cJSON_AddItemToArray(arr, x);
    }
    cJSON_AddItemToObject(o, "results", arr);
    char *s = cJSON_PrintUnformatted(o);
    if (s) puts(s);
    free(s);
    cJSON_Delete(o);
}

static void print_table(const search_results *res)
{
    if (res->message[0]) fprintf(stderr, "lisa: %s\n", res->message);
    printf("%3s %6s %6s %6s %7s %7s %-12s %9s %-19s %s\n", "#", "score", "clip", "kw", "cosine", "bm25", "matched",
           "size", "date", "path");
    for (int i = 0; i < res->n; i++) {
        const search_result *r = &res->r[i];
        char cos[16];
        snprintf(cos, sizeof cos, r->has_clip ? "%.4f" : "-", r->cosine);
        const char *src[SEARCH_SOURCES_MAX];
        char m[64] = "-";
        int ns = search_matched_names(r->matched, src, SEARCH_SOURCES_MAX);
        for (int k = 0, at = 0; k < ns; k++) at += snprintf(m + at, sizeof m - at, "%s%s", k ? "," : "", src[k]);
        printf("%3d %6.3f %6.3f %6.3f %7s %7.3f %-12s %9lld %-19s %s\n", i + 1, r->score, r->clip_score,
               r->keyword_score, cos, r->bm25, m, (long long)r->size, r->date, r->path);
    }
    if (!res->n) printf("(no results)\n");
    fprintf(stderr, "%d results in %.1f ms (text tower %.1f ms)\n", res->n, res->total_ms, res->text_ms);
}

// Shared by `search` and `similar` (same flags, same output).
static int run(int argc, char **argv, int similar)
{
    settings cfg;
    if (settings_resolve(&cfg, argc, argv) < 0) return cli_fail(argv[0]);
    const char *arg = NULL;
    int json = 0;
    for (int i = 1; i < argc; i++) {
        if (settings_flag_arity(argv[i]))
            i++;
        else if (!strcmp(argv[i], "--json"))
            json = 1;
        else if (argv[i][0] == '-' && argv[i][1])
            return usage(argv[0]);
        else if (arg)
            return usage(argv[0]);
        else
            arg = argv[i];
    }
    if (!arg) return usage(argv[0]);
    clip_model *m = NULL;
    char id[256], missing[512];
    if (search_model_load(cfg.models, cfg.data_dir, 0, &m, id, sizeof id, missing, sizeof missing) < 0)
        return cli_fail(argv[0]);
    search_opts so = {cfg.data_dir, m, m ? id : NULL, missing[0] ? missing : NULL};
    search_ctx *s = NULL;
    search_results res;
    int rc = search_open(&so, &s);
    if (rc == 0) search_set_ann_min(s, cfg.ann_min_images); // honours --config and --ann-min-images too
    if (rc == 0)
        rc = similar ? search_similar(s, arg, cfg.top_k, &res) : search_query(s, arg, cfg.top_k, cfg.clip_weight, &res);
    int status = rc < 0 ? cli_fail(argv[0]) : 0;
    if (rc == 0) {
        if (json)
            print_json(&res, arg);
        else
            print_table(&res);
        search_results_free(&res);
    }
    search_close(s);
    clip_free(m);
    return status;
}

int cmd_search(int argc, char **argv)
{
    return run(argc, argv, 0);
}
int cmd_search_similar(int argc, char **argv)
{
    return run(argc, argv, 1);
}

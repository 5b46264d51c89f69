// `lisa search "query" [--top-k N] [--offset N] [--sort S] [--clip-weight W]
// [--json]`: hybrid search in the query language (docs/search.md); `lisa
// list [FILTER...]` (cmd_list.c) pages the library through the same code.
#include "cli/cli.h"
#include "base/err.h"
#include "clip/clip.h"
#include "search/query.h"
#include "search/search.h"
#include "search/settings.h"

#include <cjson/cJSON.h>
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int usage(const char *cmd)
{
    if (!strcmp(cmd, "similar"))
        fprintf(stderr, "usage: lisa similar IMAGE [--top-k N] [--json] [--model DIR] [--data DIR]\n");
    else if (!strcmp(cmd, "list"))
        fprintf(stderr, "usage: lisa list [FILTER...] [--sort -date|date|name|-name|added|-added] [--offset N] "
                        "[--limit N] [--json] [--data DIR]\n");
    else
        fprintf(stderr, "usage: lisa search \"query\" [--top-k N] [--offset N] [--sort relevance|date|-date|...] "
                        "[--clip-weight W] [--json] [--model DIR] [--data DIR]\n"
                        "the query language (docs/search.md): words, \"phrases\", -word, after: before: year: "
                        "month: on: camera: lens: type: folder: name: text: near: orientation: size: like:\n");
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
    cJSON_AddNumberToObject(o, "total", (double)res->total);
    cJSON_AddNumberToObject(o, "offset", (double)res->offset);
    cJSON_AddStringToObject(o, "sort", search_sort_name(res->sort));
    cJSON_AddBoolToObject(o, "listing", res->listing);
    if (res->empty[0]) cJSON_AddStringToObject(o, "empty", res->empty);
    for (int i = 0; i < res->n; i++) {
        const search_result *r = &res->r[i];
        cJSON *x = cJSON_CreateObject();
        search_result_scores_json(x, r);
        if (r->ocr_text) cJSON_AddStringToObject(x, "ocr_text", r->ocr_text);
        if (r->caption) cJSON_AddStringToObject(x, "caption", r->caption);
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
        char cos[16], sc[16], cl[16], kwv[16], bm[16];
        snprintf(cos, sizeof cos, r->has_clip ? "%.4f" : "-", r->cosine);
        snprintf(sc, sizeof sc, r->has_score ? "%.3f" : "-", r->score);
        snprintf(cl, sizeof cl, r->has_score && r->has_clip ? "%.3f" : "-", r->clip_score);
        snprintf(kwv, sizeof kwv, r->has_score && r->has_kw ? "%.3f" : "-", r->keyword_score);
        snprintf(bm, sizeof bm, r->has_kw ? "%.3f" : "-", r->bm25);
        const char *src[SEARCH_SOURCES_MAX];
        char m[64] = "-";
        int ns = search_matched_names(r->matched, src, SEARCH_SOURCES_MAX);
        int at = 0;
        for (int k = 0; k < ns; k++) at += snprintf(m + at, sizeof m - at, "%s%s", k ? "," : "", src[k]);
        if (r->clip_match) snprintf(m + at, sizeof m - at, "%sclip", at ? "," : "");
        printf("%3lld %6s %6s %6s %7s %7s %-12s %9lld %-19s %s\n", (long long)(res->offset + i + 1), sc, cl, kwv, cos,
               bm, m, (long long)r->size, r->date, r->path);
        if (r->caption) printf("%3s caption: %s\n", "", r->caption);
        if (r->prob >= 0) printf("    SigLIP match probability %.4g\n", r->prob);
    }
    if (!res->n) printf("(no results)%s%s\n", res->empty[0] ? " " : "", res->empty);
    fprintf(stderr, "%d of %lld results (from %lld, sort %s) in %.1f ms (text tower %.1f ms)\n", res->n,
            (long long)res->total, (long long)res->offset, search_sort_name(res->sort), res->total_ms, res->text_ms);
}

// Appends one command-line word to the query, putting back the quotes the
// shell removed: camera:"canon eos" arrives as `camera:canon eos` and
// -"big cat" as `-big cat`. Other words with spaces stay free words
// (`lisa search "cat on sofa"`).
static int append_word(char *q, size_t cap, const char *w)
{
    size_t at = strlen(q), k = (*w == '-' || *w == '+');
    while (isalpha((unsigned char)w[k]) && !(w[k] & 0x80)) k++;
    int spaced = strpbrk(w, " \t") && !strchr(w, '"');
    int key = w[k] == ':' && k >= (size_t)(2 + (*w == '-' || *w == '+'));
    int n = spaced && key         ? snprintf(q + at, cap - at, "%s%.*s\"%s\"", at ? " " : "", (int)k + 1, w, w + k + 1)
            : spaced && *w == '-' ? snprintf(q + at, cap - at, "%s-\"%s\"", at ? " " : "", w + 1)
                                  : snprintf(q + at, cap - at, "%s%s", at ? " " : "", w);
    return n >= 0 && (size_t)n < cap - at ? 0 : lisa_seterr(LISA_EINVAL, "query over %zu bytes", cap - 1);
}

static int num_flag(const char *flag, const char *v, long long lo, long long hi, long long *out)
{
    char *end;
    errno = 0;
    long long x = v ? strtoll(v, &end, 10) : 0;
    if (!v || !*v || *end || errno || x < lo || x > hi)
        return lisa_seterr(LISA_EINVAL, "%s needs an integer in %lld..%lld", flag, lo, hi);
    return *out = x, 0;
}

static void print_listing(const search_results *res)
{
    printf("%5s %-19s %9s %s\n", "#", "date", "size", "path");
    for (int i = 0; i < res->n; i++)
        printf("%5lld %-19s %9lld %s\n", (long long)(res->offset + i + 1), res->r[i].date, (long long)res->r[i].size,
               res->r[i].path);
    if (!res->n) printf("(no photos)%s%s\n", res->empty[0] ? " " : "", res->empty);
    fprintf(stderr, "%d of %lld photos (from %lld, sort %s)\n", res->n, (long long)res->total, (long long)res->offset,
            search_sort_name(res->sort));
}

// Shared by `search`, `list` and `similar` (same flags, same output).
static int run(int argc, char **argv, int similar)
{
    settings cfg;
    if (settings_resolve(&cfg, argc, argv) < 0) return cli_fail(argv[0]);
    int list = !strcmp(argv[0], "list");
    static char qtext[QUERY_TEXT_MAX + 1];
    const char *arg = NULL;
    int json = 0, nargs = 0;
    search_page pg = {0, cfg.top_k, list ? STORE_SORT_DATE_DESC : SEARCH_SORT_AUTO, cfg.clip_weight};
    qtext[0] = 0;
    for (int i = 1; i < argc; i++) {
        long long v = 0;
        if (!strcmp(argv[i], "--sort") || !strcmp(argv[i], "--offset") || !strcmp(argv[i], "--limit")) {
            const char *val = i + 1 < argc ? argv[++i] : NULL;
            int rc = !strcmp(argv[i - 1], "--sort")     ? search_sort_parse(val, &pg.sort)
                     : !strcmp(argv[i - 1], "--offset") ? num_flag("--offset", val, 0, INT64_MAX / 2, &v)
                                                        : num_flag("--limit", val, 1, SEARCH_PAGE_MAX, &v);
            if (rc < 0) return cli_fail(argv[0]);
            if (!strcmp(argv[i - 1], "--offset")) pg.offset = v;
            if (!strcmp(argv[i - 1], "--limit")) pg.limit = (int)v;
        } else if (settings_flag_arity(argv[i])) {
            i++;
        } else if (!strcmp(argv[i], "--json")) {
            json = 1;
        } else if (argv[i][0] == '-' && argv[i][1] == '-') {
            return usage(argv[0]);
        } else if (similar && arg) {
            return usage(argv[0]);
        } else {
            arg = argv[i], nargs++;
            if (!similar && append_word(qtext, sizeof qtext, argv[i]) < 0) return cli_fail(argv[0]);
        }
    }
    if (!arg && !list) return usage(argv[0]);
    if (pg.limit > SEARCH_PAGE_MAX) pg.limit = SEARCH_PAGE_MAX;
    clip_model *m = NULL;
    char id[256], missing[512];
    if (!list && search_model_load(cfg.models, cfg.data_dir, 0, &m, id, sizeof id, missing, sizeof missing) < 0)
        return cli_fail(argv[0]);
    search_opts so = {cfg.data_dir, m, m ? id : NULL, missing[0] && !list ? missing : NULL};
    search_ctx *s = NULL;
    search_results res;
    int rc = search_open(&so, &s);
    if (rc == 0) search_set_ann_min(s, cfg.ann_min_images); // honours --config and --ann-min-images too
    if (rc == 0) rc = similar ? search_similar(s, arg, cfg.top_k, &res) : search_run(s, qtext, &pg, &res);
    int status = rc < 0 ? cli_fail(argv[0]) : 0;
    if (rc == 0) {
        if (json)
            print_json(&res, similar ? arg : qtext);
        else if (res.listing)
            print_listing(&res);
        else
            print_table(&res);
        search_results_free(&res);
    }
    search_close(s);
    clip_free(m);
    return status;
}

int cmd_search_list(int argc, char **argv)
{
    return run(argc, argv, 0);
}

int cmd_search(int argc, char **argv)
{
    return run(argc, argv, 0);
}
int cmd_search_similar(int argc, char **argv)
{
    return run(argc, argv, 1);
}

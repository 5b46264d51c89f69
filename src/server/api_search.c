// GET /api/search and GET /api/similar/{key}: ranked results as JSON (docs/api.md).
#include "server/srv.h"
#include "base/err.h"
#include "model/modeldir.h"
#include "search/chips.h"
#include "search/search.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <strings.h>

#define KEYWORDS_MAX 32

// ---------------------------------------------------------------- parameters

// Strict integer / number parsing of a query parameter; 1 found, 0 absent, -1 bad.
static int param_int(struct MHD_Connection *c, const char *name, long lo, long hi, long *v)
{
    char buf[32], *end;
    long n = http_param(c, name, buf, sizeof buf);
    if (n == -1) return 0;
    if (n <= 0) return -1;
    long x = strtol(buf, &end, 10);
    if (*end || x < lo || x > hi) return -1;
    return *v = x, 1;
}

static int param_num(struct MHD_Connection *c, const char *name, double lo, double hi, double *v)
{
    char buf[32], *end;
    long n = http_param(c, name, buf, sizeof buf);
    if (n == -1) return 0;
    if (n <= 0) return -1;
    double x = strtod(buf, &end);
    if (*end || !isfinite(x) || x < lo || x > hi) return -1;
    return *v = x, 1;
}

// ---------------------------------------------------------------- result objects

static const char *base_name(const char *path)
{
    const char *b = strrchr(path, '/');
    return b ? b + 1 : path;
}

static const char *format_of(const char *path)
{
    static const char *const map[][2] = {{"jpg", "jpeg"},  {"jpeg", "jpeg"}, {"jpe", "jpeg"},  {"png", "png"},
                                         {"webp", "webp"}, {"gif", "gif"},   {"heic", "heif"}, {"heif", "heif"},
                                         {"avif", "heif"}, {"bmp", "bmp"},   {"tif", "tiff"},  {"tiff", "tiff"}};
    const char *dot = strrchr(base_name(path), '.');
    for (size_t i = 0; dot && i < sizeof map / sizeof map[0]; i++)
        if (!strcasecmp(dot + 1, map[i][0])) return map[i][1];
    return NULL;
}

static void add_str_or_null(cJSON *o, const char *k, const char *v)
{
    if (v && *v)
        cJSON_AddStringToObject(o, k, v);
    else
        cJSON_AddNullToObject(o, k);
}

// Appends the words of text to arr, skipping ones already there, up to KEYWORDS_MAX.
static void add_words(cJSON *arr, const char *text)
{
    char w[128];
    for (const char *p = text; p && *p && cJSON_GetArraySize(arr) < KEYWORDS_MAX;) {
        while (*p == ' ' || *p == ',' || *p == '\n' || *p == '\t') p++;
        size_t n = strcspn(p, " ,\n\t");
        if (!n) break;
        if (n < sizeof w) {
            memcpy(w, p, n), w[n] = 0;
            int dup = 0;
            for (cJSON *e = arr->child; e && !dup; e = e->next) dup = !strcmp(e->valuestring, w);
            if (!dup && http_valid_utf8(w, n)) cJSON_AddItemToArray(arr, cJSON_CreateString(w));
        }
        p += n;
    }
}

// "Make Model", without repeating a make that the model already starts with.
static void add_camera(cJSON *o, const store_image *im)
{
    char cam[256];
    const char *make = im->make ? im->make : "", *model = im->model ? im->model : "";
    if (*make && !strncasecmp(model, make, strlen(make))) make = "";
    snprintf(cam, sizeof cam, "%s%s%s", make, *make && *model ? " " : "", model);
    add_str_or_null(o, "camera", cam[0] && http_valid_utf8(cam, strlen(cam)) ? cam : NULL);
}

// `description` and `chips` (search/chips.h); both null when they cannot be made.
static void add_chips(cJSON *o, const store_image *im)
{
    cJSON *chips = NULL;
    char *desc = NULL;
    if (chips_build(im, &chips, &desc) < 0) chips = NULL, desc = NULL;
    add_str_or_null(o, "description", desc && http_valid_utf8(desc, strlen(desc)) ? desc : NULL);
    if (chips)
        cJSON_AddItemToObject(o, "chips", chips);
    else
        cJSON_AddNullToObject(o, "chips");
    free(desc);
}

static cJSON *result_obj(srv *s, store *st, const search_result *r, int rank)
{
    store_image im = {0};
    if (store_image_get(st, r->id, &im) < 0) memset(&im, 0, sizeof im);
    const char *path = im.path ? im.path : r->path;
    cJSON *o = cJSON_CreateObject();
    char url[64];
    cJSON_AddNumberToObject(o, "id", (double)r->id);
    cJSON_AddStringToObject(o, "name",
                            http_valid_utf8(base_name(path), strlen(base_name(path))) ? base_name(path) : "?");
    char *orig = NULL;
    if (!srv__is_upload(s, path) || store_upload_name(st, path, &orig) < 0 || !http_valid_utf8(orig, strlen(orig)))
        free(orig), orig = NULL;
    cJSON_AddStringToObject(o, "original_name", orig ? orig : cJSON_GetObjectItem(o, "name")->valuestring);
    free(orig);
    cJSON_AddNumberToObject(o, "rank", rank);
    search_result_scores_json(o, r);
    snprintf(url, sizeof url, "/api/thumb/%lld", (long long)r->id);
    cJSON_AddStringToObject(o, "thumb_url", url);
    snprintf(url, sizeof url, "/api/image/%lld", (long long)r->id);
    cJSON_AddStringToObject(o, "image_url", url);
    add_str_or_null(o, "caption", im.caption);
    add_str_or_null(o, "ocr_text",
                    r->ocr_text && http_valid_utf8(r->ocr_text, strlen(r->ocr_text)) ? r->ocr_text : NULL);
    cJSON *kw = cJSON_AddArrayToObject(o, "keywords");
    add_words(kw, im.name_words), add_words(kw, im.meta_words);
    add_chips(o, &im);
    if (im.width > 0)
        cJSON_AddNumberToObject(o, "width", im.width);
    else
        cJSON_AddNullToObject(o, "width");
    if (im.height > 0)
        cJSON_AddNumberToObject(o, "height", im.height);
    else
        cJSON_AddNullToObject(o, "height");
    char date[sizeof r->date];
    snprintf(date, sizeof date, "%s", r->date);
    if (strlen(date) > 10 && date[10] == 'T') date[10] = ' '; // docs/api.md: "YYYY-MM-DD HH:MM:SS"
    add_str_or_null(o, "date", date);
    cJSON_AddNumberToObject(o, "size", (double)r->size);
    add_str_or_null(o, "format", format_of(path));
    add_camera(o, &im);
    cJSON_AddBoolToObject(o, "uploaded", srv__is_upload(s, path));
    store_image_clear(&im);
    return o;
}

// ---------------------------------------------------------------- answers

cJSON *srv__image_obj(srv *s, store *st, int64_t id)
{
    store_image im = {0};
    if (store_image_get(st, id, &im) < 0) return NULL;
    search_result r = {.id = id, .path = im.path, .size = im.size, .ocr_text = im.ocr_text, .caption = im.caption};
    if (im.date_taken) {
        snprintf(r.date, sizeof r.date, "%s", im.date_taken);
    } else {
        time_t t = (time_t)(im.mtime_ns / 1000000000);
        struct tm tm;
        localtime_r(&t, &tm);
        strftime(r.date, sizeof r.date, "%Y-%m-%d %H:%M:%S", &tm);
    }
    cJSON *o = result_obj(s, st, &r, 0);
    store_image_clear(&im);
    return o;
}

static void add_model_fields(srv *s, cJSON *o, const search_results *res)
{
    cJSON_AddBoolToObject(o, "keyword_only", res->keyword_only);
    add_str_or_null(o, "message", res->keyword_only ? (res->message[0] ? res->message : s->missing) : NULL);
    if (!s->model) {
        cJSON *m = cJSON_AddObjectToObject(o, "missing_model");
        cJSON_AddStringToObject(m, "name", MODELDIR_DEFAULT_CLIP);
        cJSON_AddStringToObject(m, "install", "lisa models pull " MODELDIR_DEFAULT_CLIP);
    } else {
        cJSON_AddNullToObject(o, "missing_model");
    }
    add_str_or_null(o, "model", s->model ? s->model_id : NULL);
}

static enum MHD_Result send_results(srv *s, struct MHD_Connection *c, srv_slot *sl, cJSON *o, search_results *res,
                                    const char *query, int64_t skip, int top_k, double t0)
{
    add_model_fields(s, o, res);
    cJSON *arr = cJSON_CreateArray();
    int rank = 0;
    for (int i = 0; i < res->n && rank < top_k; i++) {
        if (res->r[i].id == skip) continue;
        cJSON_AddItemToArray(arr, result_obj(s, sl->st, &res->r[i], (int)res->offset + ++rank));
    }
    srv__slot_put(s, sl);
    double ms = mono_ms() - t0;
    if (query) srv__lat_record(s, ms);
    cJSON_AddNumberToObject(o, "latency_ms", ms);
    cJSON_AddNumberToObject(o, "text_ms", res->text_ms);
    cJSON_AddNumberToObject(o, "count", rank);
    cJSON_AddNumberToObject(o, "total", (double)(skip >= 0 ? rank : res->total));
    cJSON_AddNumberToObject(o, "offset", (double)res->offset);
    cJSON_AddBoolToObject(o, "listing", res->listing);
    add_str_or_null(o, "sort", skip >= 0 ? NULL : search_sort_name(res->sort));
    add_str_or_null(o, "empty", res->empty);
    if (res->clip_cut > 0)
        cJSON_AddNumberToObject(o, "clip_cut", res->clip_cut);
    else
        cJSON_AddNullToObject(o, "clip_cut");
    cJSON_AddItemToObject(o, "results", arr);
    search_results_free(res);
    return http_json(c, 200, o);
}

// Reads query, top_k (or limit), offset, sort and clip_weight; answers 400
// itself and returns -1 when one is bad. need_query: the query is required.
static int search_params(srv *s, struct MHD_Connection *c, char *query, size_t cap, search_page *pg, int need_query,
                         enum MHD_Result *rc)
{
    long n = http_param(c, "query", query, cap), top_k = s->top_k, off = 0;
    if (n == -1) n = http_param(c, "q", query, cap);
    const char *bad = n == -2 ? "query is malformed or over 1000 bytes" : NULL;
    if (!bad && n >= 0 && !http_valid_utf8(query, (size_t)n)) bad = "query is not valid UTF-8";
    size_t lead = n > 0 ? strspn(query, " \t\r\n") : 0;
    if (n < 0) query[0] = 0;
    if (!bad && need_query && (n <= 0 || lead == (size_t)n))
        bad = "query is required (?query=...; /api/library lists without one)";
    pg->clip_weight = s->clip_weight;
    pg->sort = SEARCH_SORT_AUTO;
    if (!bad && param_int(c, "top_k", 1, SRV_TOPK_MAX, &top_k) < 0) bad = "top_k must be an integer in 1..200";
    if (!bad && param_int(c, "limit", 1, SRV_TOPK_MAX, &top_k) < 0) bad = "limit must be an integer in 1..200";
    if (!bad && param_int(c, "offset", 0, 1000000000L, &off) < 0) bad = "offset must be an integer >= 0";
    if (!bad && param_num(c, "clip_weight", 0, 1, &pg->clip_weight) < 0) bad = "clip_weight must be a number in [0,1]";
    char sort[32];
    long sn = bad ? -1 : http_param(c, "sort", sort, sizeof sort);
    if (sn == -2 || (sn >= 0 && search_sort_parse(sort, &pg->sort) < 0))
        bad = "sort must be one of relevance, date (oldest first), -date (newest first), name, -name, added, -added";
    pg->limit = (int)top_k, pg->offset = off;
    if (!bad) return 0;
    *rc = http_error(c, 400, "bad_request", "%s", bad);
    return -1;
}

// /api/search and /api/library: one query-language search or listing, one page.
static enum MHD_Result run_search(srv *s, struct MHD_Connection *c, double t0, int library)
{
    char query[HTTP_QUERY_MAX + 1];
    search_page pg;
    enum MHD_Result rc;
    if (search_params(s, c, query, sizeof query, &pg, !library, &rc) < 0) return rc;
    if (library && pg.sort == SEARCH_SORT_AUTO) pg.sort = STORE_SORT_DATE_DESC;
    srv_slot *sl = srv__slot_get(s);
    search_results res;
    int err = srv__slot_store(s, sl);
    if (err == 0) err = srv__slot_search(s, sl);
    if (err == 0) err = search_run(sl->sc, query, &pg, &res);
    if (err < 0) {
        srv__slot_put(s, sl);
        if (err == LISA_EINVAL || err == LISA_ENOTFOUND)
            return http_error(c, 400, "bad_query", "%s", lisa_errmsg_for(err));
        return http_error(c, 500, "internal", "search failed: %s", lisa_errmsg_for(err));
    }
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "query", query);
    cJSON_AddNumberToObject(o, "top_k", pg.limit);
    cJSON_AddNumberToObject(o, "clip_weight", pg.clip_weight);
    return send_results(s, c, sl, o, &res, library ? NULL : query, -1, pg.limit, t0);
}

enum MHD_Result srv__search(srv *s, struct MHD_Connection *c, double t0)
{
    return run_search(s, c, t0, 0);
}

enum MHD_Result srv__library(srv *s, struct MHD_Connection *c, double t0)
{
    return run_search(s, c, t0, 1);
}

enum MHD_Result srv__similar(srv *s, struct MHD_Connection *c, const char *key, double t0)
{
    long top_k = s->top_k;
    if (param_int(c, "top_k", 1, SRV_TOPK_MAX, &top_k) < 0)
        return http_error(c, 400, "bad_request", "top_k must be an integer in 1..200");
    srv_slot *sl = srv__slot_get(s);
    store_image im = {0};
    int err = srv__slot_store(s, sl);
    if (err == 0) err = srv__lookup(s, sl, key, &im);
    if (err == LISA_ENOTFOUND || err == LISA_EINVAL) {
        srv__slot_put(s, sl);
        return err == LISA_EINVAL ? http_error(c, 400, "bad_request", "malformed image name")
                                  : http_error(c, 404, "not_found", "no indexed image named '%s'", key);
    }
    if (err == 0 && !s->model) {
        store_image_clear(&im);
        srv__slot_put(s, sl);
        return http_error(c, 400, "no_model", "similar images need a CLIP model; %s", s->missing);
    }
    search_results res;
    if (err == 0) err = srv__slot_search(s, sl);
    if (err == 0) err = search_similar(sl->sc, im.path, (int)top_k + 1, &res);
    if (err < 0) {
        store_image_clear(&im);
        srv__slot_put(s, sl);
        return http_error(c, 500, "internal", "similar failed: %s", lisa_errmsg_for(err));
    }
    cJSON *o = cJSON_CreateObject(), *to = cJSON_AddObjectToObject(o, "similar_to");
    cJSON_AddNumberToObject(to, "id", (double)im.id);
    cJSON_AddStringToObject(to, "name", base_name(im.path));
    cJSON_AddNumberToObject(o, "top_k", (double)top_k);
    cJSON_AddNumberToObject(o, "clip_weight", 1);
    int64_t self = im.id;
    store_image_clear(&im);
    return send_results(s, c, sl, o, &res, NULL, self, (int)top_k, t0);
}

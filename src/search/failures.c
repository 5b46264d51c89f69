// The failures list for people (failures.h).
#include "search/failures.h"

#include "base/err.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

void failures_sentence(const char *path, const char *error, char *out, size_t cap)
{
    const char *b = strrchr(path, '/'), *why = error ? error : "";
    size_t n = strlen(path);
    if (!strncmp(why, path, n) && !strncmp(why + n, ": ", 2)) why += n + 2;
    while (*why == ' ') why++;
    n = strlen(why);
    while (n && (why[n - 1] == '.' || why[n - 1] == ' ' || why[n - 1] == '\n')) n--;
    if (n)
        snprintf(out, cap, "%s cannot be read (%.*s).", b ? b + 1 : path, (int)n, why);
    else
        snprintf(out, cap, "%s cannot be read.", b ? b + 1 : path);
}

static void iso_utc(double t, char *buf, size_t cap)
{
    time_t s = (time_t)t;
    struct tm tm;
    gmtime_r(&s, &tm);
    strftime(buf, cap, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

static int add_one(void *ud, const store_failure *f)
{
    cJSON *arr = ud, *o = cJSON_CreateObject();
    char why[1200], at[32];
    const char *b = strrchr(f->path, '/');
    failures_sentence(f->path, f->error, why, sizeof why);
    iso_utc(f->failed_at, at, sizeof at);
    if (!o || !cJSON_AddStringToObject(o, "path", f->path) ||
        !cJSON_AddStringToObject(o, "name", b ? b + 1 : f->path) || !cJSON_AddStringToObject(o, "error", why) ||
        !cJSON_AddNumberToObject(o, "size", (double)f->size) || !cJSON_AddStringToObject(o, "failed_at", at)) {
        cJSON_Delete(o);
        return 1;
    }
    cJSON_AddItemToArray(arr, o);
    return 0;
}

int failures_json(store *s, cJSON **out)
{
    *out = NULL;
    cJSON *o = cJSON_CreateObject(), *arr = cJSON_CreateArray();
    if (!o || !arr) {
        cJSON_Delete(o), cJSON_Delete(arr);
        return lisa_seterr(LISA_ENOMEM, "failures: out of memory");
    }
    int rc = store_failure_list(s, NULL, add_one, arr);
    if (rc > 0) rc = lisa_seterr(LISA_ENOMEM, "failures: out of memory");
    if (rc < 0) {
        cJSON_Delete(o), cJSON_Delete(arr);
        return rc;
    }
    cJSON_AddNumberToObject(o, "count", cJSON_GetArraySize(arr));
    cJSON_AddItemToObject(o, "failures", arr);
    *out = o;
    return 0;
}

typedef struct {
    char **paths;
    size_t n, cap;
} path_list;

static int collect(void *ud, const store_failure *f)
{
    path_list *l = ud;
    if (l->n == l->cap) {
        size_t cap = l->cap ? l->cap * 2 : 64;
        char **p = realloc(l->paths, cap * sizeof *p);
        if (!p) return 1;
        l->paths = p, l->cap = cap;
    }
    if (!(l->paths[l->n] = strdup(f->path))) return 1;
    l->n++;
    return 0;
}

int failures_forget(store *s, const char *path, int *n)
{
    *n = 0;
    if (path) {
        int64_t size, mtime;
        int rc = store_failure_get(s, path, &size, &mtime);
        if (rc <= 0) return rc < 0 ? lisa_errcode() : 0;
        *n = 1;
        return store_failure_forget(s, path);
    }
    path_list l = {0};
    int rc = store_failure_list(s, NULL, collect, &l);
    if (rc > 0) rc = lisa_seterr(LISA_ENOMEM, "failures: out of memory");
    for (size_t i = 0; i < l.n; i++) {
        if (rc == 0 && (rc = store_failure_forget(s, l.paths[i])) == 0) (*n)++;
        free(l.paths[i]);
    }
    free(l.paths);
    return rc;
}

// Remembered decode failures: the failures table (schema v3).
#include "store/store_int.h"

#include "base/err.h"

#include <string.h>
#include <time.h>

static double now_unix(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

int store_failure_put(store *s, const char *path, int64_t size, int64_t mtime_ns, const char *error)
{
    if (!path || !*path || strlen(path) >= STORE_PATH_MAX)
        return lisa_seterr(LISA_EINVAL, "%s: failure: empty or over-long path", s->path);
    char why[1024];
    snprintf(why, sizeof why, "%s", error && *error ? error : "could not be decoded");
    sqlite3_stmt *st;
    int rc = store__stmt(s, ST_FAIL_PUT, &st);
    if (rc < 0) return rc;
    store__bind_text(st, 1, path);
    sqlite3_bind_int64(st, 2, size);
    sqlite3_bind_int64(st, 3, mtime_ns);
    store__bind_text(st, 4, why);
    sqlite3_bind_double(st, 5, now_unix());
    rc = sqlite3_step(st);
    sqlite3_reset(st);
    return rc == SQLITE_DONE ? 0 : store__err(s, rc, "failure put");
}

int store_failure_get(store *s, const char *path, int64_t *size, int64_t *mtime_ns)
{
    sqlite3_stmt *st;
    int rc = store__stmt(s, ST_FAIL_GET, &st);
    if (rc < 0) return rc;
    store__bind_text(st, 1, path);
    rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) {
        *size = sqlite3_column_int64(st, 0);
        *mtime_ns = sqlite3_column_int64(st, 1);
        sqlite3_reset(st);
        return 1;
    }
    sqlite3_reset(st);
    return rc == SQLITE_DONE ? 0 : store__err(s, rc, "failure get");
}

int store_failure_forget(store *s, const char *path)
{
    sqlite3_stmt *st;
    int rc = store__stmt(s, ST_FAIL_DEL, &st);
    if (rc < 0) return rc;
    store__bind_text(st, 1, path);
    rc = sqlite3_step(st);
    sqlite3_reset(st);
    return rc == SQLITE_DONE ? 0 : store__err(s, rc, "failure forget");
}

int store_failure_list(store *s, const char *prefix, store_failure_fn fn, void *ud)
{
    sqlite3_stmt *st;
    int rc = store__stmt(s, ST_FAIL_LIST, &st), stop = 0;
    if (rc < 0) return rc;
    if (prefix && *prefix) store__bind_text(st, 1, prefix);
    while (!stop && (rc = sqlite3_step(st)) == SQLITE_ROW) {
        store_failure f = {
            .path = (const char *)sqlite3_column_text(st, 0),
            .size = sqlite3_column_int64(st, 1),
            .mtime_ns = sqlite3_column_int64(st, 2),
            .error = (const char *)sqlite3_column_text(st, 3),
            .failed_at = sqlite3_column_double(st, 4),
        };
        stop = fn(ud, &f);
    }
    sqlite3_reset(st);
    if (stop) return stop;
    return rc == SQLITE_DONE ? 0 : store__err(s, rc, "failure list");
}

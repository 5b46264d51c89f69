// GET /api/failures and POST /api/failures/retry: the files a build could not
// read, with their reasons, and trying them again (docs/api.md).
#include "server/srv.h"
#include "base/err.h"
#include "search/failures.h"

#include <string.h>

enum MHD_Result srv__failures_get(srv *s, struct MHD_Connection *c)
{
    srv_slot *sl = srv__slot_get(s);
    cJSON *o = NULL;
    int rc = srv__slot_store(s, sl);
    if (rc == 0) rc = failures_json(sl->st, &o);
    srv__slot_put(s, sl);
    if (rc < 0) return http_error(c, 500, "internal", "failures: %s", lisa_errmsg_for(rc));
    return http_json(c, 200, o);
}

// The "path" of an optional JSON body into path (""), or -1 when the body
// is not such an object.
static int retry_path(const char *body, size_t n, char *path, size_t cap)
{
    path[0] = 0;
    if (!body || !n) return 0;
    cJSON *o = cJSON_ParseWithLength(body, n), *p = cJSON_GetObjectItem(o, "path");
    int ok = cJSON_IsObject(o) && (!p || (cJSON_IsString(p) && p->valuestring[0] && strlen(p->valuestring) < cap));
    if (ok && p) snprintf(path, cap, "%s", p->valuestring);
    cJSON_Delete(o);
    return ok ? 0 : -1;
}

static int build_running(srv *s)
{
    pthread_mutex_lock(&s->b_mu);
    int r = !strcmp(s->b.state, "running");
    pthread_mutex_unlock(&s->b_mu);
    return r;
}

enum MHD_Result srv__failures_retry(srv *s, struct MHD_Connection *c, const char *body, size_t n)
{
    char path[SRV_PATH_MAX];
    if (retry_path(body, n, path, sizeof path) < 0)
        return http_error(c, 400, "bad_request", "the body must be empty or {\"path\": \"/the/file.jpg\"}");
    if (build_running(s)) return http_error(c, 409, "build_running", "A build is running; retry when it has finished.");
    srv_slot *sl = srv__slot_get(s);
    int forgot = 0, rc = srv__slot_store(s, sl);
    if (rc == 0) rc = failures_forget(sl->st, path[0] ? path : NULL, &forgot);
    srv__slot_put(s, sl);
    if (rc < 0) return http_error(c, 500, "internal", "failures: %s", lisa_errmsg_for(rc));
    if (path[0] && !forgot) return http_error(c, 404, "not_found", "%.300s is not in the list of failed files.", path);
    srv__log(s, "retry: %d failed files forgotten", forgot);
    return srv__build_post(s, c);
}

// GET /api/duplicates: groups of exact copies and near-duplicates
// (search/dupes.h), each image as a result object (docs/api.md).
#include "server/srv.h"
#include "base/err.h"
#include "search/dupes.h"

static cJSON *group_obj(srv *s, store *st, const dupes_group *g)
{
    cJSON *o = cJSON_CreateObject(), *imgs;
    cJSON_AddStringToObject(o, "kind", g->kind == DUPES_EXACT ? "exact" : "near");
    cJSON_AddNumberToObject(o, "similarity", (double)(int)(g->similarity * 1000 + 0.5) / 1000);
    imgs = cJSON_AddArrayToObject(o, "images");
    for (int k = 0; k < g->n; k++) {
        cJSON *im = srv__image_obj(s, st, g->ids[k]);
        if (im) cJSON_AddItemToArray(imgs, im);
    }
    return o;
}

enum MHD_Result srv__duplicates(srv *s, struct MHD_Connection *c)
{
    srv_slot *sl = srv__slot_get(s);
    dupes_result r;
    int err = srv__slot_store(s, sl);
    if (err == 0) err = dupes_find(sl->st, NULL, &r);
    if (err < 0) {
        srv__slot_put(s, sl);
        return http_error(c, 500, "internal", "%s", lisa_errmsg_for(err));
    }
    cJSON *o = cJSON_CreateObject(), *groups = cJSON_AddArrayToObject(o, "groups");
    for (int i = 0; i < r.n; i++) cJSON_AddItemToArray(groups, group_obj(s, sl->st, &r.g[i]));
    srv__slot_put(s, sl);
    cJSON_AddNumberToObject(o, "count", r.n);
    cJSON_AddNumberToObject(o, "images", (double)r.images);
    cJSON_AddBoolToObject(o, "used_vectors", r.used_vectors);
    cJSON_AddNumberToObject(o, "unreadable", (double)r.unreadable);
    dupes_result_free(&r);
    return http_json(c, 200, o);
}

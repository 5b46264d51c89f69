// CLIPImageProcessor: config loading and the resize / crop / normalize steps.
#include "image/preprocess.h"
#include "base/err.h"
#include "base/file.h"
#include "base/json.h"

#include <cJSON.h>
#include <stdlib.h>
#include <string.h>

#define PREP_MAX_SIDE 4096 // no real processor asks for more

void prep_cfg_default(prep_cfg *c)
{
    static const float mean[3] = {0.48145466f, 0.4578275f, 0.40821073f};
    static const float std[3] = {0.26862954f, 0.26130258f, 0.27577711f};
    memset(c, 0, sizeof *c);
    c->do_resize = c->do_center_crop = c->do_rescale = c->do_normalize = 1;
    c->shortest_edge = 224;
    c->crop_h = c->crop_w = 224;
    c->rescale = 1.0 / 255.0;
    memcpy(c->mean, mean, sizeof mean);
    memcpy(c->std, std, sizeof std);
}

// ---------------------------------------------------------------- config file

static int bad(const char *path, const char *key, const char *why)
{
    return lisa_seterr(LISA_EFORMAT, "%s: \"%s\" %s", path, key, why);
}

static int get_side(const cJSON *v, const char *path, const char *key, int *out)
{
    if (!cJSON_IsNumber(v) || v->valuedouble < 1 || v->valuedouble > PREP_MAX_SIDE ||
        v->valuedouble != (int)v->valuedouble)
        return bad(path, key, "must be an integer in 1..4096");
    *out = (int)v->valuedouble;
    return 0;
}

static int get_flag(const cJSON *root, const char *key, int *out, const char *path)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(root, key);
    if (!v) return 0;
    if (!cJSON_IsBool(v)) return bad(path, key, "must be true or false");
    *out = cJSON_IsTrue(v);
    return 0;
}

static int get_triple(const cJSON *root, const char *key, float out[3], const char *path)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(root, key);
    if (!v) return 0;
    if (cJSON_IsNumber(v)) { // a single value applies to every channel
        out[0] = out[1] = out[2] = (float)v->valuedouble;
        return 0;
    }
    if (!cJSON_IsArray(v) || cJSON_GetArraySize(v) != 3) return bad(path, key, "must be 3 numbers");
    for (int i = 0; i < 3; i++) {
        const cJSON *e = cJSON_GetArrayItem(v, i);
        if (!cJSON_IsNumber(e)) return bad(path, key, "must be 3 numbers");
        out[i] = (float)e->valuedouble;
    }
    return 0;
}

// "size": 224 | {"shortest_edge": 224} | {"height": h, "width": w}
static int get_size(const cJSON *root, prep_cfg *c, const char *path)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(root, "size"), *e;
    if (!v) return 0;
    if (cJSON_IsNumber(v)) return get_side(v, path, "size", &c->shortest_edge);
    if ((e = cJSON_GetObjectItemCaseSensitive(v, "shortest_edge")))
        return get_side(e, path, "size.shortest_edge", &c->shortest_edge);
    c->shortest_edge = 0;
    int rc = get_side(cJSON_GetObjectItemCaseSensitive(v, "height"), path, "size.height", &c->resize_h);
    return rc < 0 ? rc : get_side(cJSON_GetObjectItemCaseSensitive(v, "width"), path, "size.width", &c->resize_w);
}

static int get_crop(const cJSON *root, prep_cfg *c, const char *path)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(root, "crop_size");
    if (!v) return 0;
    if (cJSON_IsNumber(v)) {
        int rc = get_side(v, path, "crop_size", &c->crop_h);
        c->crop_w = c->crop_h;
        return rc;
    }
    int rc = get_side(cJSON_GetObjectItemCaseSensitive(v, "height"), path, "crop_size.height", &c->crop_h);
    return rc < 0 ? rc : get_side(cJSON_GetObjectItemCaseSensitive(v, "width"), path, "crop_size.width", &c->crop_w);
}

static int parse_cfg(const cJSON *root, prep_cfg *c, const char *path)
{
    const cJSON *v;
    int rc;
    if (!cJSON_IsObject(root)) return lisa_seterr(LISA_EFORMAT, "%s: not a JSON object", path);
    if ((rc = get_flag(root, "do_resize", &c->do_resize, path)) < 0 ||
        (rc = get_flag(root, "do_center_crop", &c->do_center_crop, path)) < 0 ||
        (rc = get_flag(root, "do_rescale", &c->do_rescale, path)) < 0 ||
        (rc = get_flag(root, "do_normalize", &c->do_normalize, path)) < 0 || (rc = get_size(root, c, path)) < 0 ||
        (rc = get_crop(root, c, path)) < 0 || (rc = get_triple(root, "image_mean", c->mean, path)) < 0 ||
        (rc = get_triple(root, "image_std", c->std, path)) < 0)
        return rc;
    if ((v = cJSON_GetObjectItemCaseSensitive(root, "rescale_factor"))) {
        if (!cJSON_IsNumber(v) || !(v->valuedouble > 0)) return bad(path, "rescale_factor", "must be > 0");
        c->rescale = v->valuedouble;
    }
    if ((v = cJSON_GetObjectItemCaseSensitive(root, "resample")) && (!cJSON_IsNumber(v) || v->valueint != 3))
        return lisa_seterr(LISA_EUNSUPPORTED, "%s: \"resample\": only 3 (bicubic) is supported", path);
    for (int i = 0; i < 3; i++)
        if (!(c->std[i] != 0)) return bad(path, "image_std", "must be non-zero");
    return 0;
}

int prep_cfg_load(const char *path, prep_cfg *c)
{
    cJSON *root;
    int rc = lisa_read_json(path, 1 << 20, &root);
    if (rc < 0) return rc;
    prep_cfg_default(c);
    rc = parse_cfg(root, c, path);
    cJSON_Delete(root);
    return rc;
}

// ---------------------------------------------------------------- pipeline

void prep_resize_dims(int w, int h, int size, int *ow, int *oh)
{
    int s = w <= h ? w : h, l = w <= h ? h : w;
    int nl = (int)((double)size * l / s); // Python's int(size * long / short)
    *ow = w <= h ? size : nl;
    *oh = w <= h ? nl : size;
}

// Python's a // 2 for possibly negative a.
static int floor_half(int a)
{
    return a >= 0 ? a / 2 : -((-a + 1) / 2);
}

int img_center_crop(const img_t *src, int w, int h, img_t *out)
{
    int rc = img_alloc(out, w, h);
    if (rc < 0) return rc;
    int dx = floor_half(src->w - w), dy = floor_half(src->h - h);
    for (int y = 0; y < h; y++) {
        uint8_t *row = out->px + (size_t)y * w * 3;
        int sy = y + dy;
        memset(row, 0, (size_t)w * 3);
        if (sy < 0 || sy >= src->h) continue;
        int x0 = dx < 0 ? -dx : 0, x1 = src->w - dx < w ? src->w - dx : w;
        if (x1 > x0) memcpy(row + (size_t)x0 * 3, src->px + ((size_t)sy * src->w + x0 + dx) * 3, (size_t)(x1 - x0) * 3);
    }
    return 0;
}

int prep_pixels(const img_t *src, const prep_cfg *c, img_t *out)
{
    img_t resized = {0};
    const img_t *cur = src;
    int rc = 0, ow = c->resize_w, oh = c->resize_h;
    memset(out, 0, sizeof *out);
    if (c->do_resize) {
        if (c->shortest_edge > 0) prep_resize_dims(src->w, src->h, c->shortest_edge, &ow, &oh);
        if ((rc = img_resize_bicubic(src, ow, oh, &resized)) < 0) return rc;
        cur = &resized;
    }
    if (c->do_center_crop)
        rc = img_center_crop(cur, c->crop_w, c->crop_h, out);
    else if (cur == &resized)
        *out = resized, resized.px = NULL;
    else
        rc = img_center_crop(cur, cur->w, cur->h, out);
    img_release(&resized);
    return rc;
}

int prep_image(const img_t *src, const prep_cfg *c, float *out)
{
    img_t px;
    int rc = prep_pixels(src, c, &px);
    if (rc < 0) return rc;
    size_t plane = (size_t)px.w * px.h;
    for (int ch = 0; ch < 3; ch++) {
        // numpy: float64 multiply, cast to float32, then float32 (x - mean) / std.
        float m = c->do_normalize ? c->mean[ch] : 0.0f, s = c->do_normalize ? c->std[ch] : 1.0f;
        float *o = out + ch * plane;
        for (size_t i = 0; i < plane; i++) {
            float x = c->do_rescale ? (float)(px.px[i * 3 + ch] * c->rescale) : px.px[i * 3 + ch];
            o[i] = c->do_normalize ? (x - m) / s : x;
        }
    }
    img_release(&px);
    return 0;
}

#include "model/safetensors.h"
#include "base/err.h"
#include "base/half.h"

#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---------------------------------------------------------------- dtypes */

static const struct {
    const char *name;
    size_t size;
} dtypes[] = {
    [ST_F32] = {"F32", 4},   [ST_F16] = {"F16", 2},         [ST_BF16] = {"BF16", 2},       [ST_F64] = {"F64", 8},
    [ST_I64] = {"I64", 8},   [ST_I32] = {"I32", 4},         [ST_I16] = {"I16", 2},         [ST_I8] = {"I8", 1},
    [ST_U64] = {"U64", 8},   [ST_U32] = {"U32", 4},         [ST_U16] = {"U16", 2},         [ST_U8] = {"U8", 1},
    [ST_BOOL] = {"BOOL", 1}, [ST_F8_E4M3] = {"F8_E4M3", 1}, [ST_F8_E5M2] = {"F8_E5M2", 1},
};
#define NDTYPES (sizeof dtypes / sizeof dtypes[0])

size_t st_dtype_size(st_dtype d)
{
    return (size_t)d < NDTYPES ? dtypes[d].size : 0;
}
const char *st_dtype_name(st_dtype d)
{
    return (size_t)d < NDTYPES ? dtypes[d].name : "?";
}

static int dtype_parse(const char *s, st_dtype *d)
{
    for (size_t i = 0; i < NDTYPES; i++)
        if (!strcmp(s, dtypes[i].name)) return *d = (st_dtype)i, 0;
    return -1;
}

void st_shape_str(int ndim, const int64_t *shape, char *buf, size_t n)
{
    size_t k = 0;
    if (!n) return;
    buf[0] = 0;
    k += (size_t)snprintf(buf + k, n - k, "[");
    for (int i = 0; i < ndim && k < n; i++)
        k += (size_t)snprintf(buf + k, n - k, "%s%lld", i ? ", " : "", (long long)shape[i]);
    if (k < n) snprintf(buf + k, n - k, "]");
}

/* ---------------------------------------------------------------- header */

// A JSON number that is an exact integer in [0, 2^53].
static int json_uint(const cJSON *v, uint64_t *out)
{
    if (!cJSON_IsNumber(v)) return -1;
    double d = v->valuedouble;
    if (!(d >= 0 && d <= 9007199254740992.0) || d != floor(d)) return -1;
    *out = (uint64_t)d;
    return 0;
}

static int parse_shape(const st_file *f, const char *tn, const cJSON *sh, st_tensor *t, uint64_t *count)
{
    if (!cJSON_IsArray(sh)) return lisa_seterr(LISA_EFORMAT, "%s: %s: shape is not an array", f->name, tn);
    int nd = cJSON_GetArraySize(sh);
    if (nd > ST_MAX_DIMS)
        return lisa_seterr(LISA_EUNSUPPORTED, "%s: %s: %d dimensions (max %d)", f->name, tn, nd, ST_MAX_DIMS);
    size_t c = 1;
    int i = 0;
    for (const cJSON *e = sh->child; e; e = e->next, i++) {
        uint64_t v;
        if (json_uint(e, &v) < 0)
            return lisa_seterr(LISA_EFORMAT, "%s: %s: shape[%d] is not a non-negative integer", f->name, tn, i);
        if (lisa_mul(c, (size_t)v, &c) < 0)
            return lisa_seterr(LISA_ETOOBIG, "%s: %s: element count overflows", f->name, tn);
        t->shape[i] = (int64_t)v;
    }
    t->ndim = nd;
    *count = c;
    return 0;
}

static int parse_offsets(const st_file *f, const char *tn, const cJSON *o, uint64_t off[2])
{
    if (!cJSON_IsArray(o) || cJSON_GetArraySize(o) != 2 || json_uint(o->child, &off[0]) < 0 ||
        json_uint(o->child->next, &off[1]) < 0)
        return lisa_seterr(LISA_EFORMAT, "%s: %s: data_offsets must be two non-negative integers", f->name, tn);
    if (off[0] > off[1])
        return lisa_seterr(LISA_EFORMAT, "%s: %s: data_offsets begin %llu > end %llu", f->name, tn,
                           (unsigned long long)off[0], (unsigned long long)off[1]);
    return 0;
}

// Fills t from one header entry and checks it against the data section.
static int parse_entry(st_file *f, const cJSON *e, const uint8_t *base, size_t dsize, st_tensor *t)
{
    const char *tn = e->string;
    if (!cJSON_IsObject(e)) return lisa_seterr(LISA_EFORMAT, "%s: %s: entry is not an object", f->name, tn);
    const cJSON *dt = cJSON_GetObjectItemCaseSensitive(e, "dtype");
    if (!cJSON_IsString(dt)) return lisa_seterr(LISA_EFORMAT, "%s: %s: missing dtype", f->name, tn);
    if (dtype_parse(dt->valuestring, &t->dtype) < 0)
        return lisa_seterr(LISA_EUNSUPPORTED, "%s: %s: unknown dtype \"%.32s\"", f->name, tn, dt->valuestring);
    uint64_t count = 0, off[2] = {0, 0};
    int rc = parse_shape(f, tn, cJSON_GetObjectItemCaseSensitive(e, "shape"), t, &count);
    if (rc < 0) return rc;
    if ((rc = parse_offsets(f, tn, cJSON_GetObjectItemCaseSensitive(e, "data_offsets"), off)) < 0) return rc;
    if (off[1] > dsize)
        return lisa_seterr(LISA_EFORMAT, "%s: %s: data_offsets end %llu is past the data section (%zu bytes)", f->name,
                           tn, (unsigned long long)off[1], dsize);
    size_t nbytes;
    if (lisa_mul((size_t)count, st_dtype_size(t->dtype), &nbytes) < 0)
        return lisa_seterr(LISA_ETOOBIG, "%s: %s: byte size overflows", f->name, tn);
    if (nbytes != off[1] - off[0])
        return lisa_seterr(LISA_EFORMAT, "%s: %s: %zu bytes expected from dtype and shape, data_offsets span %llu",
                           f->name, tn, nbytes, (unsigned long long)(off[1] - off[0]));
    t->nbytes = nbytes;
    t->data = base + off[0];
    if (!(t->name = strdup(tn))) return lisa_seterr(LISA_ENOMEM, "%s: out of memory", f->name);
    return 0;
}

static int cmp_by_name(const void *a, const void *b)
{
    return strcmp(((const st_tensor *)a)->name, ((const st_tensor *)b)->name);
}

static int cmp_by_data(const void *a, const void *b)
{
    const st_tensor *x = a, *y = b;
    if (x->data != y->data) return x->data < y->data ? -1 : 1;
    return x->nbytes < y->nbytes ? -1 : x->nbytes > y->nbytes; // empty tensors first
}

// Tensors sorted by offset must not overlap; names must be unique.
static int check_layout(st_file *f)
{
    qsort(f->t, f->n, sizeof *f->t, cmp_by_data);
    for (size_t i = 1; i < f->n; i++)
        if (f->t[i].data < f->t[i - 1].data + f->t[i - 1].nbytes)
            return lisa_seterr(LISA_EFORMAT, "%s: tensors %s and %s overlap", f->name, f->t[i - 1].name, f->t[i].name);
    qsort(f->t, f->n, sizeof *f->t, cmp_by_name);
    for (size_t i = 1; i < f->n; i++)
        if (!strcmp(f->t[i].name, f->t[i - 1].name))
            return lisa_seterr(LISA_EFORMAT, "%s: tensor %s appears twice", f->name, f->t[i].name);
    return 0;
}

static int parse_header(st_file *f, const char *json, size_t len, const uint8_t *base, size_t dsize)
{
    const char *end = NULL;
    cJSON *root = cJSON_ParseWithLengthOpts(json, len, &end, 0);
    int rc = 0;
    if (!root) return lisa_seterr(LISA_EFORMAT, "%s: header is not valid JSON", f->name);
    for (const char *p = end; p && p < json + len; p++)
        if (*p != ' ' && *p != '\n' && *p != '\t' && *p != '\r' && *p != 0) {
            rc = lisa_seterr(LISA_EFORMAT, "%s: trailing bytes after the JSON header", f->name);
            goto out;
        }
    if (!cJSON_IsObject(root)) {
        rc = lisa_seterr(LISA_EFORMAT, "%s: header is not a JSON object", f->name);
        goto out;
    }
    size_t n = (size_t)cJSON_GetArraySize(root);
    if (n > ST_MAX_TENSORS) {
        rc = lisa_seterr(LISA_ETOOBIG, "%s: %zu tensors (max %d)", f->name, n, ST_MAX_TENSORS);
        goto out;
    }
    if (!(f->t = calloc(n ? n : 1, sizeof *f->t))) {
        rc = lisa_seterr(LISA_ENOMEM, "%s: out of memory", f->name);
        goto out;
    }
    for (const cJSON *e = root->child; e; e = e->next) {
        if (!e->string) continue;
        if (!strcmp(e->string, "__metadata__")) {
            if (!cJSON_IsObject(e)) {
                rc = lisa_seterr(LISA_EFORMAT, "%s: __metadata__ is not an object", f->name);
                goto out;
            }
            continue;
        }
        if ((rc = parse_entry(f, e, base, dsize, &f->t[f->n])) < 0) {
            free(f->t[f->n].name);
            goto out;
        }
        f->n++;
    }
    rc = check_layout(f);
out:
    cJSON_Delete(root);
    return rc;
}

/* ---------------------------------------------------------------- open/close */

static int parse_into(st_file *f, const uint8_t *data, size_t size)
{
    if (size < 8) return lisa_seterr(LISA_EFORMAT, "%s: %zu bytes is too short for a header", f->name, size);
    uint64_t hlen = 0;
    for (int i = 7; i >= 0; i--) hlen = hlen << 8 | data[i];
    if (hlen > ST_MAX_HEADER)
        return lisa_seterr(LISA_ETOOBIG, "%s: header length %llu is over the %u-byte limit", f->name,
                           (unsigned long long)hlen, ST_MAX_HEADER);
    if (hlen < 2 || hlen > size - 8)
        return lisa_seterr(LISA_EFORMAT, "%s: header length %llu does not fit in %zu bytes", f->name,
                           (unsigned long long)hlen, size);
    return parse_header(f, (const char *)data + 8, (size_t)hlen, data + 8 + hlen, size - 8 - (size_t)hlen);
}

static const char *base_name(const char *path)
{
    const char *s = strrchr(path, '/');
    return s ? s + 1 : path;
}

int st_parse(const uint8_t *data, size_t size, const char *name, st_file **out)
{
    *out = NULL;
    st_file *f = calloc(1, sizeof *f);
    if (!f || !(f->name = strdup(name ? name : "safetensors"))) {
        free(f);
        return lisa_seterr(LISA_ENOMEM, "safetensors: out of memory");
    }
    int rc = parse_into(f, data, size);
    if (rc < 0) {
        st_close(f);
        return rc;
    }
    *out = f;
    return 0;
}

int st_open(const char *path, st_file **out)
{
    lisa_map m;
    *out = NULL;
    int rc = lisa_map_file(path, ST_MAX_FILE, &m);
    if (rc < 0) return rc;
    if ((rc = st_parse(m.data, m.size, base_name(path), out)) < 0) {
        lisa_unmap(&m);
        return rc;
    }
    (*out)->map = m;
    return 0;
}

void st_close(st_file *f)
{
    if (!f) return;
    for (size_t i = 0; i < f->n; i++) {
        free(f->t[i].name);
        free(f->t[i].f32);
    }
    free(f->t);
    lisa_unmap(&f->map);
    free(f->name);
    free(f);
}

/* ---------------------------------------------------------------- lookup */

const st_tensor *st_find(const st_file *f, const char *name)
{
    size_t lo = 0, hi = f->n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int c = strcmp(name, f->t[mid].name);
        if (!c) return &f->t[mid];
        if (c < 0)
            hi = mid;
        else
            lo = mid + 1;
    }
    return NULL;
}

// Converts (F16/BF16) or aligns (F32) t into an owned F32 buffer, once.
static int make_f32(st_file *f, st_tensor *t)
{
    size_t n = t->nbytes / st_dtype_size(t->dtype);
    if (!(t->f32 = malloc(n ? n * sizeof(float) : 1)))
        return lisa_seterr(LISA_ENOMEM, "%s: %s: out of memory converting", f->name, t->name);
    if (t->dtype == ST_F32) {
        memcpy(t->f32, t->data, t->nbytes);
        return 0;
    }
    for (size_t i = 0; i < n; i++) {
        uint16_t h = (uint16_t)(t->data[2 * i] | t->data[2 * i + 1] << 8);
        t->f32[i] = t->dtype == ST_F16 ? half_to_f32(h) : bf16_to_f32(h);
    }
    return 0;
}

static int shape_equal(const st_tensor *t, int ndim, const int64_t *shape)
{
    if (t->ndim != ndim) return 0;
    for (int i = 0; i < ndim; i++)
        if (t->shape[i] != shape[i]) return 0;
    return 1;
}

// Index of the first NaN or Inf among n floats, or n. One pass of integer
// compares on the exponent bits (vectorized by the compiler); the reference
// is isfinite() on each element (test_safetensors).
static size_t first_nonfinite(const float *p, size_t n)
{
    const uint32_t *u = (const uint32_t *)p;
    for (size_t i = 0; i < n; i += 4096) {
        size_t end = n - i < 4096 ? n : i + 4096;
        uint32_t bad = 0;
        for (size_t k = i; k < end; k++) bad |= (u[k] & 0x7f800000u) == 0x7f800000u;
        if (!bad) continue;
        for (size_t k = i; k < end; k++)
            if ((u[k] & 0x7f800000u) == 0x7f800000u) return k;
    }
    return n;
}

static int check_finite(st_file *f, st_tensor *t, const float *p)
{
    if (t->finite) return 0;
    size_t n = t->nbytes / st_dtype_size(t->dtype), bad = first_nonfinite(p, n);
    if (bad < n)
        return lisa_seterr(LISA_EFORMAT, "%s: %s: element %zu is %s: the checkpoint is damaged", f->name, t->name, bad,
                           p[bad] != p[bad] ? "NaN" : "Inf");
    t->finite = 1;
    return 0;
}

int st_get_f32(st_file *f, const char *name, int ndim, const int64_t *shape, const float **out)
{
    st_tensor *t = (st_tensor *)st_find(f, name);
    *out = NULL;
    if (!t) return lisa_seterr(LISA_ENOTFOUND, "%s: tensor %s is missing", f->name, name);
    if (!shape_equal(t, ndim, shape)) {
        char want[160], got[160];
        st_shape_str(ndim, shape, want, sizeof want);
        st_shape_str(t->ndim, t->shape, got, sizeof got);
        return lisa_seterr(LISA_EFORMAT, "%s: %s: expected %s, found %s", f->name, name, want, got);
    }
    if (t->dtype != ST_F32 && t->dtype != ST_F16 && t->dtype != ST_BF16)
        return lisa_seterr(LISA_EUNSUPPORTED, "%s: %s: dtype %s is not F32, F16 or BF16", f->name, name,
                           st_dtype_name(t->dtype));
    int aligned = ((uintptr_t)t->data & 3) == 0;
    if (t->dtype == ST_F32 && aligned && !t->f32) {
        int rc = check_finite(f, t, (const float *)t->data);
        if (rc == 0) *out = (const float *)t->data;
        return rc;
    }
    if (!t->f32) {
        int rc = make_f32(f, t);
        if (rc < 0) return rc;
    }
    int rc = check_finite(f, t, t->f32);
    if (rc == 0) *out = t->f32;
    return rc;
}

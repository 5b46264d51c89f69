// Packing checkpoint weights for the GEMM and the shared block (see vitload.h).
#include "model/vitload.h"
#include "base/err.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

int vl_raw(ckpt *ck, const char *name, int64_t d0, int64_t d1, int64_t d2, const st_tensor **out)
{
    int64_t shape[4] = {d0, d1, d2, d2};
    int nd = d2 ? 4 : 2;
    const st_tensor *t = ckpt_find(ck, name);
    int ok = t && t->ndim == nd && (t->dtype == ST_F32 || t->dtype == ST_F16 || t->dtype == ST_BF16);
    for (int i = 0; ok && i < nd; i++) ok = t->shape[i] == shape[i];
    if (!ok) {
        const float *f;
        int rc = ckpt_get_f32(ck, name, nd, shape, &f);
        return rc < 0 ? rc
                      : lisa_seterr(LISA_EUNSUPPORTED, "%s: dtype %s cannot be packed", name, st_dtype_name(t->dtype));
    }
    *out = t;
    return 0;
}

t_src vl_src(const st_tensor *t)
{
    return t->dtype == ST_F32 ? T_SRC_F32 : t->dtype == ST_F16 ? T_SRC_F16 : T_SRC_BF16;
}

void vl_drop_pages(const st_tensor *t)
{
    uintptr_t pg = (uintptr_t)sysconf(_SC_PAGESIZE), a = ((uintptr_t)t->data + pg - 1) / pg * pg,
              b = ((uintptr_t)t->data + t->nbytes) / pg * pg;
    if (b > a) madvise((void *)a, b - a, MADV_DONTNEED);
}

int vl_pack(ckpt *ck, int nparts, const char *const *names, const int *rows, int in, int conv_p, t_prec prec,
            t_packed **out)
{
    const st_tensor *t[3] = {NULL, NULL, NULL};
    const void *w[3] = {NULL, NULL, NULL};
    t_src src[3] = {T_SRC_F32, T_SRC_F32, T_SRC_F32};
    int rc;
    if (nparts < 1 || nparts > 3) return lisa_seterr(LISA_EINVAL, "vl_pack: %d parts (1..3)", nparts);
    for (int i = 0; i < nparts; i++) {
        if ((rc = vl_raw(ck, names[i], rows[i], conv_p ? in / (conv_p * conv_p) : in, conv_p, &t[i])) < 0) return rc;
        w[i] = t[i]->data, src[i] = vl_src(t[i]);
    }
    if ((rc = t_pack_rows(nparts, w, src, rows, in, prec, out)) < 0) return rc;
    for (int i = 0; i < nparts; i++) vl_drop_pages(t[i]);
    return 0;
}

static int vec(ckpt *ck, const char *prefix, const char *sfx, int n, const float **out)
{
    char name[512];
    int64_t shape = n;
    snprintf(name, sizeof name, "%s%s", prefix, sfx);
    return ckpt_get_f32(ck, name, 1, &shape, out);
}

// Checks (and remembers) the 2-D weight prefix+sfx of shape (rows, in).
static int mat(ckpt *ck, const char *prefix, const char *sfx, int rows, int in, char *name, size_t cap)
{
    const st_tensor *t;
    snprintf(name, cap, "%s%s", prefix, sfx);
    return vl_raw(ck, name, rows, in, 0, &t);
}

// q, k, v biases (or the fused one) into the layer's own (3d) vector.
static int qkv_bias(vit_layer *l, const float *const *b, int parts, int d)
{
    if (!(l->qkv_b = malloc(3 * (size_t)d * sizeof *l->qkv_b))) return lisa_seterr(LISA_ENOMEM, "out of memory");
    for (int i = 0; i < parts; i++) memcpy(l->qkv_b + (size_t)i * d * (3 / parts), b[i], (3 / parts) * (size_t)d * 4);
    return 0;
}

int vl_layer(ckpt *ck, const char *prefix, int fused, const char *oname, int d, int ff, t_prec prec, vit_layer *l)
{
    char qn[512], kn[512], vn[512], on[512], f1[512], f2[512], osfx[128];
    const float *b[3];
    int rc, parts = fused ? 1 : 3;
    memset(l, 0, sizeof *l);
    if ((rc = vec(ck, prefix, "layer_norm1.weight", d, &l->ln1_w)) < 0 ||
        (rc = vec(ck, prefix, "layer_norm1.bias", d, &l->ln1_b)) < 0)
        return rc;
    if (fused) {
        if ((rc = mat(ck, prefix, "self_attn.qkv.weight", 3 * d, d, qn, sizeof qn)) < 0 ||
            (rc = vec(ck, prefix, "self_attn.qkv.bias", 3 * d, &b[0])) < 0)
            return rc;
    } else {
        if ((rc = mat(ck, prefix, "self_attn.q_proj.weight", d, d, qn, sizeof qn)) < 0 ||
            (rc = vec(ck, prefix, "self_attn.q_proj.bias", d, &b[0])) < 0 ||
            (rc = mat(ck, prefix, "self_attn.k_proj.weight", d, d, kn, sizeof kn)) < 0 ||
            (rc = vec(ck, prefix, "self_attn.k_proj.bias", d, &b[1])) < 0 ||
            (rc = mat(ck, prefix, "self_attn.v_proj.weight", d, d, vn, sizeof vn)) < 0 ||
            (rc = vec(ck, prefix, "self_attn.v_proj.bias", d, &b[2])) < 0)
            return rc;
    }
    snprintf(osfx, sizeof osfx, "self_attn.%s.weight", oname);
    if ((rc = mat(ck, prefix, osfx, d, d, on, sizeof on)) < 0) return rc;
    snprintf(osfx, sizeof osfx, "self_attn.%s.bias", oname);
    if ((rc = vec(ck, prefix, osfx, d, &l->o_b)) < 0 ||
        (rc = vec(ck, prefix, "layer_norm2.weight", d, &l->ln2_w)) < 0 ||
        (rc = vec(ck, prefix, "layer_norm2.bias", d, &l->ln2_b)) < 0 ||
        (rc = mat(ck, prefix, "mlp.fc1.weight", ff, d, f1, sizeof f1)) < 0 ||
        (rc = vec(ck, prefix, "mlp.fc1.bias", ff, &l->fc1_b)) < 0 ||
        (rc = mat(ck, prefix, "mlp.fc2.weight", d, ff, f2, sizeof f2)) < 0 ||
        (rc = vec(ck, prefix, "mlp.fc2.bias", d, &l->fc2_b)) < 0)
        return rc;
    const char *qkv[3] = {qn, kn, vn};
    int rows[3] = {d, d, d}, frow = 3 * d, dd = d;
    if ((rc = vl_pack(ck, parts, qkv, fused ? &frow : rows, d, 0, prec, &l->qkv)) < 0 ||
        (rc = vl_pack(ck, 1, (const char *[]){on}, &dd, d, 0, prec, &l->o)) < 0 ||
        (rc = vl_pack(ck, 1, (const char *[]){f1}, &ff, d, 0, prec, &l->fc1)) < 0 ||
        (rc = vl_pack(ck, 1, (const char *[]){f2}, &dd, ff, 0, prec, &l->fc2)) < 0)
        return rc;
    return qkv_bias(l, b, parts, d);
}

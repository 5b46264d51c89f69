// POST /api/upload: multipart/form-data streamed through MHD's post processor
// into DATA/tmp/upload-XXXXXX, one temp file per part, then sniffed and
// linked under DATA/images/ with a safe, unique name (docs/api.md).
//
// All or nothing: the parts wait as temp files until the whole body has
// arrived with its closing boundary; only then are they linked into place.
// A short, truncated or reset body leaves no file behind.
#include "server/srv.h"
#include "base/err.h"
#include "image/image.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#define UP_NAME_MAX 128   // bytes of a stored name
#define UP_CLIENT_MAX 255 // bytes of the client's file name kept for the report
#define UP_PP_BUF 65536   // post processor buffer

typedef struct {
    char filename[UP_CLIENT_MAX + 1];
    char key[64];
    char tmp[SRV_PATH_MAX + 64];
    int fd;
    long long size;
    int over, io_err; // io_err: the errno of the failed write
    uint8_t head[16];
    size_t nhead;
} up_part;

// A part received in full and checked, waiting for the end of the body.
typedef struct {
    char *tmp; // owned temp file path
    char stem[UP_NAME_MAX + 1], ext[16];
    long long size;
    img_format f;
    cJSON *obj; // its entry in files (borrowed)
} up_ready;

struct srv_upload {
    srv *s;
    struct MHD_PostProcessor *pp;
    int parts, stop, bad;
    int has_cur;
    up_part cur;
    up_ready ready[SRV_UPLOAD_PARTS];
    int nready;
    long long body; // bytes of body fed so far
    cJSON *files;
    int saved, failed;
    unsigned first_fail;
};

const char *srv__errno_text(int e)
{
    if (e == ENOSPC || e == EDQUOT) return "the disk is full";
    return strerror(e);
}

// ---------------------------------------------------------------- names

static const char *ext_of(img_format f)
{
    switch (f) {
    case IMG_JPEG: return "jpg";
    case IMG_PNG: return "png";
    case IMG_WEBP: return "webp";
    case IMG_GIF: return "gif";
    case IMG_HEIF: return "heic";
    case IMG_BMP: return "bmp";
    case IMG_TIFF: return "tif";
    default: return "bin";
    }
}

static const char *fmt_name(img_format f)
{
    static const char *const names[] = {"unknown", "jpeg", "png", "webp", "gif", "heif", "bmp", "tiff"};
    return (unsigned)f < sizeof names / sizeof names[0] ? names[f] : "unknown";
}

static int image_ext(const char *e)
{
    static const char *const ok[] = {"jpg",  "jpeg", "jpe",  "png", "webp", "gif",
                                     "heic", "heif", "avif", "bmp", "tif",  "tiff"};
    for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++)
        if (!strcasecmp(e, ok[i])) return 1;
    return 0;
}

// The client's file name made safe: no path part, [A-Za-z0-9._-] only, no
// leading dots or dashes, at most UP_NAME_MAX bytes, an image extension
// (the sniffed one appended when it has none). stem and ext are outputs.
static void safe_name(const char *client, img_format f, char *stem, size_t scap, char *ext, size_t ecap)
{
    const char *b = client;
    for (const char *p = client; *p; p++)
        if (*p == '/' || *p == '\\') b = p + 1;
    char buf[UP_CLIENT_MAX + 1];
    size_t n = 0;
    for (const char *p = b; *p && n < sizeof buf - 1; p++) {
        char ch = *p;
        int ok = (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') || ch == '.' ||
                 ch == '_' || ch == '-';
        if (!ok && n && buf[n - 1] == '_') continue; // one '_' per run of bad bytes
        buf[n++] = ok ? ch : '_';
    }
    buf[n] = 0;
    char *start = buf + strspn(buf, ".-");
    char *dot = strrchr(start, '.');
    ext[0] = 0;
    if (dot && dot != start && strlen(dot + 1) <= 8 && image_ext(dot + 1)) {
        snprintf(ext, ecap, "%s", dot + 1);
        *dot = 0;
    }
    if (!ext[0]) snprintf(ext, ecap, "%s", ext_of(f));
    size_t max = UP_NAME_MAX - strlen(ext) - 8; // room for ".ext" and "-9999"
    if (strlen(start) > max) start[max] = 0;
    snprintf(stem, scap, "%s", *start ? start : "upload");
}

// Links tmp to DATA/images/<stem>[-k].<ext> without ever replacing a file.
static int place(srv *s, const char *tmp, const char *stem, const char *ext, char *name, size_t cap)
{
    char dest[SRV_PATH_MAX + 320];
    for (int k = 0; k < 10000; k++) {
        if (k)
            snprintf(name, cap, "%s-%d.%s", stem, k, ext);
        else
            snprintf(name, cap, "%s.%s", stem, ext);
        snprintf(dest, sizeof dest, "%s/%s", s->images, name);
        if (link(tmp, dest) == 0) return 0;
        if (errno != EEXIST) return lisa_seterr(LISA_EIO, "saving %s: %s", name, srv__errno_text(errno));
    }
    return lisa_seterr(LISA_EBUSY, "%s.%s: too many files with this name", stem, ext);
}

// ---------------------------------------------------------------- parts

static void add_fail(srv_upload *u, const char *filename, unsigned status, const char *code, const char *msg)
{
    cJSON *f = cJSON_CreateObject();
    cJSON_AddStringToObject(f, "filename", http_valid_utf8(filename, strlen(filename)) ? filename : "?");
    cJSON_AddBoolToObject(f, "ok", 0);
    cJSON_AddNumberToObject(f, "status", status);
    cJSON *e = cJSON_AddObjectToObject(f, "error");
    cJSON_AddStringToObject(e, "code", code);
    cJSON_AddStringToObject(e, "message", http_valid_utf8(msg, strlen(msg)) ? msg : code);
    cJSON_AddItemToArray(u->files, f);
    u->failed++;
    if (!u->first_fail) u->first_fail = status;
}

static void drop_tmp(up_part *p)
{
    if (p->fd >= 0) close(p->fd);
    p->fd = -1;
    if (p->tmp[0]) unlink(p->tmp);
    p->tmp[0] = 0;
}

static void part_finish(srv_upload *u)
{
    up_part *p = &u->cur;
    char msg[600];
    const char *fn = p->filename[0] ? p->filename : "(unnamed)";
    img_format f = img_sniff(p->head, p->nhead);
    u->has_cur = 0;
    if (p->over) {
        snprintf(msg, sizeof msg, "%.300s is over the upload limit of %lld bytes", fn, u->s->max_upload);
        drop_tmp(p);
        return add_fail(u, p->filename, 413, "too_large", msg);
    }
    if (p->io_err || p->fd < 0) {
        int full = p->io_err == ENOSPC || p->io_err == EDQUOT;
        snprintf(msg, sizeof msg, "%.300s could not be written to disk: %s", fn,
                 p->io_err > 0 ? srv__errno_text(p->io_err) : "temp file not created");
        drop_tmp(p);
        return add_fail(u, p->filename, full ? 507 : 500, full ? "disk_full" : "internal", msg);
    }
    if (f == IMG_UNKNOWN) {
        snprintf(msg, sizeof msg, "%.300s is not a supported image (JPEG, PNG, WebP, GIF, HEIF, BMP, TIFF)", fn);
        drop_tmp(p);
        return add_fail(u, p->filename, 415, "unsupported_type", msg);
    }
    int err = close(p->fd) < 0 ? errno : 0;
    p->fd = -1;
    up_ready *r = &u->ready[u->nready];
    if (err || !(r->tmp = strdup(p->tmp)) || !(r->obj = cJSON_CreateObject())) {
        free(r->tmp), r->tmp = NULL;
        drop_tmp(p);
        int full = err == ENOSPC || err == EDQUOT;
        snprintf(msg, sizeof msg, "%.300s could not be saved: %s", fn, err ? srv__errno_text(err) : "out of memory");
        return add_fail(u, p->filename, full ? 507 : 500, full ? "disk_full" : "internal", msg);
    }
    p->tmp[0] = 0; // the temp file belongs to r now
    safe_name(p->filename, f, r->stem, sizeof r->stem, r->ext, sizeof r->ext);
    r->size = p->size, r->f = f;
    cJSON_AddStringToObject(r->obj, "filename", http_valid_utf8(fn, strlen(fn)) ? fn : "?");
    cJSON_AddItemToArray(u->files, r->obj);
    u->nready++;
}

// Drops every part waiting for the end of the body.
static void ready_drop(srv_upload *u)
{
    for (int i = 0; i < u->nready; i++) {
        unlink(u->ready[i].tmp);
        free(u->ready[i].tmp);
    }
    u->nready = 0;
}

// The body arrived in full: links every waiting part into DATA/images/.
static void ready_commit(srv_upload *u)
{
    char name[UP_NAME_MAX + 64];
    for (int i = 0; i < u->nready; i++) {
        up_ready *r = &u->ready[i];
        int rc = place(u->s, r->tmp, r->stem, r->ext, name, sizeof name);
        unlink(r->tmp);
        free(r->tmp);
        cJSON *o = r->obj;
        if (rc < 0) {
            int full = strstr(lisa_errmsg(), "the disk is full") != NULL;
            cJSON_AddBoolToObject(o, "ok", 0);
            cJSON_AddNumberToObject(o, "status", full ? 507 : 500);
            cJSON *e = cJSON_AddObjectToObject(o, "error");
            cJSON_AddStringToObject(e, "code", full ? "disk_full" : "internal");
            cJSON_AddStringToObject(e, "message", lisa_errmsg());
            u->failed++;
            if (!u->first_fail) u->first_fail = full ? 507 : 500;
            continue;
        }
        cJSON_AddBoolToObject(o, "ok", 1);
        cJSON_AddStringToObject(o, "name", name);
        cJSON_AddNumberToObject(o, "size", (double)r->size);
        cJSON_AddStringToObject(o, "format", fmt_name(r->f));
        cJSON_AddNumberToObject(o, "status", 200);
        u->saved++;
        srv__log(u->s, "upload saved: %s (%lld bytes)", name, r->size);
    }
    u->nready = 0;
}

static int part_start(srv_upload *u, const char *key, const char *filename)
{
    up_part *p = &u->cur;
    memset(p, 0, sizeof *p);
    p->fd = -1;
    snprintf(p->filename, sizeof p->filename, "%s", filename);
    snprintf(p->key, sizeof p->key, "%s", key ? key : "");
    u->has_cur = 1;
    if (++u->parts > SRV_UPLOAD_PARTS) {
        u->has_cur = 0, u->stop = 1;
        char msg[128];
        snprintf(msg, sizeof msg, "more than %d files in one request", SRV_UPLOAD_PARTS);
        add_fail(u, filename, 413, "too_large", msg);
        return -1;
    }
    snprintf(p->tmp, sizeof p->tmp, "%s/upload-XXXXXX", u->s->tmp);
    p->fd = mkstemp(p->tmp);
    if (p->fd < 0) p->tmp[0] = 0, p->io_err = errno ? errno : EIO;
    return 0;
}

static void part_write(srv_upload *u, const char *data, size_t n)
{
    up_part *p = &u->cur;
    if (p->nhead < sizeof p->head) {
        size_t k = n < sizeof p->head - p->nhead ? n : sizeof p->head - p->nhead;
        memcpy(p->head + p->nhead, data, k);
        p->nhead += k;
    }
    p->size += (long long)n;
    if (p->over || p->io_err) return;
    if (p->size > u->s->max_upload) { // stop writing; the rest of the part is read and dropped
        p->over = 1;
        if (p->fd >= 0) close(p->fd), p->fd = -1;
        if (p->tmp[0]) unlink(p->tmp), p->tmp[0] = 0;
        return;
    }
    for (size_t off = 0; off < n;) {
        ssize_t w = write(p->fd, data + off, n - off);
        if (w < 0 && errno == EINTR) continue;
        if (w <= 0) {
            p->io_err = w < 0 ? errno : ENOSPC; // a short write of 0 bytes: no room
            return;
        }
        off += (size_t)w;
    }
}

static enum MHD_Result iter(void *cls, enum MHD_ValueKind kind, const char *key, const char *filename,
                            const char *content_type, const char *transfer_encoding, const char *data, uint64_t off,
                            size_t size)
{
    (void)kind, (void)content_type, (void)transfer_encoding;
    srv_upload *u = cls;
    if (u->stop) return MHD_NO;
    if (!filename) return MHD_YES; // plain form fields are ignored (MHD buffers at most UP_PP_BUF)
    up_part *p = &u->cur;
    int fresh =
        !u->has_cur || (off == 0 && (p->size > 0 || strcmp(p->filename, filename) || strcmp(p->key, key ? key : "")));
    if (fresh) {
        if (u->has_cur) part_finish(u);
        if (part_start(u, key, filename) < 0) return MHD_NO;
    }
    if (size) part_write(u, data, size);
    return MHD_YES;
}

// ---------------------------------------------------------------- request

int srv__upload_begin(srv *s, struct MHD_Connection *c, srv_req *q)
{
    const char *ct = http_header(c, MHD_HTTP_HEADER_CONTENT_TYPE);
    if (!ct || strncasecmp(ct, "multipart/form-data", 19))
        return lisa_seterr(LISA_EINVAL, "POST /api/upload needs a multipart/form-data body");
    const char *cl = http_header(c, MHD_HTTP_HEADER_CONTENT_LENGTH); // refused before reading (and before 100)
    if (cl && strtoull(cl, NULL, 10) > (unsigned long long)s->max_request)
        return lisa_seterr(LISA_ETOOBIG, "the upload (%s bytes) is over the limit of %lld bytes per request", cl,
                           s->max_request);
    srv_upload *u = calloc(1, sizeof *u);
    if (!u) return lisa_seterr(LISA_ENOMEM, "upload");
    u->s = s, u->cur.fd = -1;
    u->files = cJSON_CreateArray();
    u->pp = MHD_create_post_processor(c, UP_PP_BUF, iter, u);
    q->up = u;
    if (!u->pp || !u->files) return lisa_seterr(LISA_EINVAL, "multipart body without a usable boundary");
    return 0;
}

int srv__upload_feed(srv_req *q, const char *data, size_t n)
{
    srv_upload *u = q->up;
    if (!u) return 0;
    u->body += (long long)n;
    if (u->body > u->s->max_request) // a chunked body without Content-Length
        return lisa_seterr(LISA_ETOOBIG, "the upload is over the limit of %lld bytes per request", u->s->max_request);
    if (u->stop) return 0; // after a fatal part error the body is read and dropped
    if (MHD_post_process(u->pp, data, n) == MHD_NO && !u->stop) u->stop = 1, u->bad = 1;
    return 0;
}

enum MHD_Result srv__upload_finish(srv *s, struct MHD_Connection *c, srv_req *q)
{
    (void)s;
    srv_upload *u = q->up;
    if (!u) return http_error(c, 500, "internal", "upload state lost");
    if (u->pp && MHD_destroy_post_processor(u->pp) == MHD_NO && !u->stop) u->bad = 1; // no closing boundary
    u->pp = NULL;
    if (u->bad) {
        if (u->has_cur) drop_tmp(&u->cur), u->has_cur = 0;
        ready_drop(u);
        return http_error(c, 400, "bad_request",
                          "malformed or incomplete multipart/form-data body (no closing boundary?): nothing was saved");
    }
    if (u->has_cur) part_finish(u);
    ready_commit(u);
    if (!u->saved && !u->failed) return http_error(c, 400, "bad_request", "no file in the upload");
    cJSON *o = cJSON_CreateObject();
    cJSON_AddNumberToObject(o, "saved", u->saved);
    cJSON_AddNumberToObject(o, "failed", u->failed);
    cJSON_AddItemToObject(o, "files", u->files);
    u->files = NULL;
    return http_json(c, u->saved ? 200 : u->first_fail, o);
}

void srv__upload_free(srv_upload *u)
{
    if (!u) return;
    if (u->pp) MHD_destroy_post_processor(u->pp);
    if (u->has_cur) drop_tmp(&u->cur);
    ready_drop(u); // a short body or a client reset: nothing is kept
    cJSON_Delete(u->files);
    free(u);
}

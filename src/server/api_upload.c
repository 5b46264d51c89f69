// POST /api/upload: multipart/form-data streamed through MHD's post processor
// into DATA/tmp/upload-XXXXXX, one temp file per part (hashed as it streams),
// then sniffed and linked under DATA/images/ under the name it came with
// (docs/api.md "Upload names"): NFC, path parts stripped, unsafe names refused,
// a "-k" suffix only when another file holds the name. A part whose SHA-256
// is already in the library (indexed, uploaded, or earlier in the same body)
// is not stored again: its entry names the copy (duplicate_of).
//
// All or nothing: the parts wait as temp files until the whole body has
// arrived with its closing boundary; only then are they linked into place.
// A short, truncated or reset body leaves no file behind.
#include "server/srv.h"
#include "base/err.h"
#include "base/sha256.h"
#include "image/image.h"

#include <errno.h>
#include <sys/stat.h>
#include <utf8proc.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#define UP_NAME_MAX 200    // bytes of a stored name (NFC, extension included): room for "-9999" under NAME_MAX
#define UP_CLIENT_MAX 1023 // bytes of the client's file name read (longer ones are refused)
#define UP_PP_BUF 65536    // post processor buffer

typedef struct {
    char filename[UP_CLIENT_MAX + 1];
    char key[64];
    char tmp[SRV_PATH_MAX + 64];
    int fd;
    long long size;
    int over, io_err; // io_err: the errno of the failed write
    uint8_t head[16];
    size_t nhead;
    sha256_ctx *sha; // the part's content, as it streams
} up_part;

// A part received in full and checked, waiting for the end of the body.
typedef struct {
    char *tmp; // owned temp file path
    char stem[UP_NAME_MAX + 1], ext[16];
    char original[UP_NAME_MAX + 1]; // the client's base name, NFC
    char sha[SHA256_HEX_LEN + 1];
    char name[UP_NAME_MAX + 64]; // the name it was stored under, once placed
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
    int saved, failed, dups;
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

// Why name (a base name) cannot be stored, into why; 0 when it can. Names
// are refused rather than rewritten, so what is stored is what was sent.
static int name_refused(const char *name, char *why, size_t cap)
{
    size_t n = strlen(name);
    if (!http_valid_utf8(name, n)) return snprintf(why, cap, "its name is not valid UTF-8"), 1;
    if (name[0] == '.') return snprintf(why, cap, "its name starts with a dot (a hidden file)"), 1;
    for (const unsigned char *p = (const unsigned char *)name; *p; p++)
        if (*p < 0x20 || *p == 0x7f || (p[0] == 0xc2 && p[1] >= 0x80 && p[1] <= 0x9f))
            return snprintf(why, cap, "its name holds a control character"), 1;
    return 0;
}

// The client's file name as it will be stored: the base name (after the last
// '/' or '\\'), NFC (utf8proc), split into stem and image extension (the
// sniffed format's appended when it has none). *refused gets 1 and why the
// reason when the name cannot be used as it is.
static void upload_name(const char *client, img_format f, up_ready *r, int *refused, char *why, size_t cap)
{
    const char *b = client;
    for (const char *p = client; *p; p++)
        if (*p == '/' || *p == '\\') b = p + 1;
    *refused = 0;
    if (!*b) b = "upload";
    if (strlen(b) > UP_NAME_MAX) {
        *refused = 1;
        snprintf(why, cap, "its name is over %d bytes", UP_NAME_MAX);
        return;
    }
    if ((*refused = name_refused(b, why, cap))) return;
    char *nfc = (char *)utf8proc_NFC((const utf8proc_uint8_t *)b);
    if (!nfc || strlen(nfc) > UP_NAME_MAX || !strcmp(nfc, "..")) {
        *refused = 1;
        snprintf(why, cap, nfc ? "its name is over %d bytes" : "its name cannot be normalised", UP_NAME_MAX);
        free(nfc);
        return;
    }
    snprintf(r->original, sizeof r->original, "%s", nfc);
    char *dot = strrchr(nfc, '.');
    r->ext[0] = 0;
    if (dot && dot != nfc && strlen(dot + 1) <= 8 && image_ext(dot + 1)) {
        snprintf(r->ext, sizeof r->ext, "%s", dot + 1);
        *dot = 0;
    }
    if (!r->ext[0]) snprintf(r->ext, sizeof r->ext, "%s", ext_of(f));
    snprintf(r->stem, sizeof r->stem, "%s", nfc);
    free(nfc);
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

// ---------------------------------------------------------------- content

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
    sha256_free(p->sha);
    p->sha = NULL;
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
        char mb[32];
        snprintf(msg, sizeof msg, "%.300s is over the upload limit of %s.", fn, http_mb(u->s->max_upload, mb, 32));
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
    if (f == IMG_UNKNOWN && p->size == 0) {
        snprintf(msg, sizeof msg, "%.300s is empty.", fn);
        drop_tmp(p);
        return add_fail(u, p->filename, 422, "bad_image", msg);
    }
    if (f == IMG_UNKNOWN) {
        snprintf(msg, sizeof msg, "%.300s is not a JPEG, PNG, WebP, GIF, HEIF, BMP or TIFF file.", fn);
        drop_tmp(p);
        return add_fail(u, p->filename, 415, "unsupported_type", msg);
    }
    up_ready *r = &u->ready[u->nready];
    memset(r, 0, sizeof *r);
    int refused;
    char why[128];
    upload_name(p->filename, f, r, &refused, why, sizeof why);
    if (refused) {
        snprintf(msg, sizeof msg, "%.300s was not saved: %s", http_valid_utf8(fn, strlen(fn)) ? fn : "A file", why);
        drop_tmp(p);
        return add_fail(u, p->filename, 400, "bad_name", msg);
    }
    if (!p->sha || sha256_final(p->sha, r->sha) < 0) r->sha[0] = 0; // no hash: stored, not deduplicated
    int err = close(p->fd) < 0 ? errno : 0;
    p->fd = -1;
    int rc = err ? 0 : img_probe(p->tmp, fn); // the decoder's header check and the pixel cap, at upload
    if (rc < 0) {
        snprintf(msg, sizeof msg, "%s", lisa_errmsg_for(rc));
        drop_tmp(p);
        return add_fail(u, p->filename, 422, "bad_image", msg);
    }
    if (err || !(r->tmp = strdup(p->tmp)) || !(r->obj = cJSON_CreateObject())) {
        free(r->tmp), r->tmp = NULL;
        drop_tmp(p);
        int full = err == ENOSPC || err == EDQUOT;
        snprintf(msg, sizeof msg, "%.300s could not be saved: %s", fn, err ? srv__errno_text(err) : "out of memory");
        return add_fail(u, p->filename, full ? 507 : 500, full ? "disk_full" : "internal", msg);
    }
    p->tmp[0] = 0; // the temp file belongs to r now
    sha256_free(p->sha), p->sha = NULL;
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

// ---------------------------------------------------------------- duplicates

static const char *base_of(const char *path)
{
    const char *b = strrchr(path, '/');
    return b ? b + 1 : path;
}

// The copy of r's content already in the library, if any: an indexed image
// (*id its row), an upload not indexed yet (its file still there), or a part
// placed earlier in this body. 1 with name filled, 0 when the content is new.
static int find_copy(srv_upload *u, store *st, const up_ready *r, int64_t *id, char *name, size_t cap)
{
    *id = -1;
    for (const up_ready *q = u->ready; q < r; q++)
        if (q->name[0] && !strcmp(q->sha, r->sha)) return snprintf(name, cap, "%s", q->name), 1;
    if (!st) return 0;
    int n = 0;
    int64_t ids[1];
    store_image im = {0};
    if (store_image_find_by_hash(st, r->sha, ids, 1, &n) == 0 && n == 1 && store_image_get(st, ids[0], &im) == 0) {
        *id = ids[0];
        snprintf(name, cap, "%s", base_of(im.path));
        store_image_clear(&im);
        return 1;
    }
    char *paths[4];
    struct stat sb;
    int found = 0;
    if (store_upload_by_hash(st, r->sha, paths, 4, &n) < 0) n = 0;
    for (int i = 0; i < n; i++) {
        if (!found && stat(paths[i], &sb) == 0 && sb.st_size == r->size)
            found = 1, snprintf(name, cap, "%s", base_of(paths[i]));
        free(paths[i]);
    }
    return found;
}

static void answer_dup(srv_upload *u, up_ready *r, int64_t id, const char *name)
{
    cJSON *o = r->obj, *d;
    char msg[UP_NAME_MAX + 128];
    cJSON_AddBoolToObject(o, "ok", 1);
    cJSON_AddNumberToObject(o, "status", 200);
    cJSON_AddStringToObject(o, "name", name);
    cJSON_AddStringToObject(o, "original_name", r->original);
    cJSON_AddNumberToObject(o, "size", (double)r->size);
    cJSON_AddStringToObject(o, "format", fmt_name(r->f));
    cJSON_AddItemToObject(o, "duplicate_of", d = cJSON_CreateObject());
    if (id >= 0)
        cJSON_AddNumberToObject(d, "id", (double)id);
    else
        cJSON_AddNullToObject(d, "id");
    cJSON_AddStringToObject(d, "name", name);
    snprintf(msg, sizeof msg, "already in your library as %s", name);
    cJSON_AddStringToObject(o, "message", msg);
    u->dups++;
    srv__log(u->s, "upload %s: same content as %s, not stored again", r->original, name);
}

static void answer_saved(srv_upload *u, up_ready *r, store *st)
{
    cJSON *o = r->obj;
    char path[sizeof u->s->images + sizeof r->name + 2];
    cJSON_AddBoolToObject(o, "ok", 1);
    cJSON_AddStringToObject(o, "name", r->name);
    cJSON_AddStringToObject(o, "original_name", r->original);
    cJSON_AddNumberToObject(o, "size", (double)r->size);
    cJSON_AddStringToObject(o, "format", fmt_name(r->f));
    cJSON_AddNumberToObject(o, "status", 200);
    cJSON_AddNullToObject(o, "duplicate_of");
    cJSON_AddNullToObject(o, "message");
    u->saved++;
    snprintf(path, sizeof path, "%s/%s", u->s->images, r->name);
    int rc = st && r->sha[0] ? store_upload_put(st, path, r->original, r->sha) : 0;
    if (rc < 0) srv__log(u->s, "upload %s: its name was not recorded: %s", r->name, lisa_errmsg_for(rc));
    srv__log(u->s, "upload saved: %s (%lld bytes)", r->name, r->size);
}

static void answer_failed(srv_upload *u, up_ready *r, int rc)
{
    int full = strstr(lisa_errmsg_for(rc), "the disk is full") != NULL;
    cJSON *o = r->obj;
    cJSON_AddBoolToObject(o, "ok", 0);
    cJSON_AddNumberToObject(o, "status", full ? 507 : 500);
    cJSON *e = cJSON_AddObjectToObject(o, "error");
    cJSON_AddStringToObject(e, "code", full ? "disk_full" : "internal");
    cJSON_AddStringToObject(e, "message", lisa_errmsg_for(rc));
    u->failed++;
    if (!u->first_fail) u->first_fail = full ? 507 : 500;
}

// The body arrived in full: links every waiting part that is not a copy into
// DATA/images/ and records its name. Without a store (it cannot be opened)
// parts are still saved, only not checked against the library.
static void ready_commit(srv_upload *u)
{
    srv_slot *sl = srv__slot_get(u->s);
    store *st = srv__slot_store(u->s, sl) == 0 ? sl->st : NULL;
    for (int i = 0; i < u->nready; i++) {
        up_ready *r = &u->ready[i];
        char copy[UP_NAME_MAX + 64];
        int64_t id;
        int rc = 0;
        if (r->sha[0] && find_copy(u, st, r, &id, copy, sizeof copy))
            answer_dup(u, r, id, copy);
        else if ((rc = place(u->s, r->tmp, r->stem, r->ext, r->name, sizeof r->name)) == 0)
            answer_saved(u, r, st);
        else
            r->name[0] = 0, answer_failed(u, r, rc);
        unlink(r->tmp);
        free(r->tmp);
    }
    srv__slot_put(u->s, sl);
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
    p->sha = sha256_new(); // NULL: the part is stored without the duplicate check
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
    if (p->sha && sha256_update(p->sha, data, n) < 0) sha256_free(p->sha), p->sha = NULL;
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
    char mb[2][32];
    if (cl && strtoull(cl, NULL, 10) > (unsigned long long)s->max_request)
        return lisa_seterr(LISA_ETOOBIG, "The upload (%s) is over the limit of %s per request.",
                           http_mb(strtoll(cl, NULL, 10), mb[0], 32), http_mb(s->max_request, mb[1], 32));
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
        return lisa_seterr(LISA_ETOOBIG, "The upload is over the limit of %s per request.",
                           http_mb(u->s->max_request, (char[32]){0}, 32));
    if (u->stop) return 0; // after a fatal part error the body is read and dropped
    if (MHD_post_process(u->pp, data, n) == MHD_NO && !u->stop) u->stop = 1, u->bad = 1;
    return 0;
}

enum MHD_Result srv__upload_finish(srv *s, struct MHD_Connection *c, srv_req *q)
{
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
    if (!u->saved && !u->failed && !u->dups) return http_error(c, 400, "bad_request", "no file in the upload");
    if (u->saved) srv_schedule_index(s);
    if (q->share) return srv__share_answer(s, c, u->saved, u->failed);
    cJSON *o = cJSON_CreateObject();
    cJSON_AddNumberToObject(o, "saved", u->saved);
    cJSON_AddNumberToObject(o, "duplicates", u->dups);
    cJSON_AddNumberToObject(o, "failed", u->failed);
    cJSON_AddItemToObject(o, "files", u->files);
    u->files = NULL;
    return http_json(c, u->saved || u->dups ? 200 : u->first_fail, o);
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

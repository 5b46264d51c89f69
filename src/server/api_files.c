// GET /api/image/{key}, GET /api/thumb/{key}, DELETE /api/image/{key}: files
// the index knows, found through the store, never by joining user text onto
// a directory (docs/api.md "Names and ids").
#include "server/srv.h"
#include "base/err.h"
#include "base/sha256.h"
#include "image/image.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <utf8proc.h>

// ---------------------------------------------------------------- lookup

typedef struct {
    const char *name;
    int64_t best;
} find_ctx;

static int find_cb(void *ud, const store_entry *e)
{
    find_ctx *f = ud;
    const char *b = strrchr(e->path, '/');
    if (strcmp(b ? b + 1 : e->path, f->name)) return 0;
    if (f->best < 0 || e->id < f->best) f->best = e->id;
    return 0;
}

static int all_digits(const char *k)
{
    size_t n = strspn(k, "0123456789");
    return n > 0 && n <= 18 && !k[n];
}

// Names are looked up in NFC, the form uploads are stored in: a client on
// macOS may send the same name decomposed.
static int lookup_name(srv *s, srv_slot *sl, const char *key, store_image *out);

int srv__lookup(srv *s, srv_slot *sl, const char *key, store_image *out)
{
    if (!http_valid_name(key)) return lisa_seterr(LISA_EINVAL, "malformed name");
    if (all_digits(key)) return store_image_get(sl->st, strtoll(key, NULL, 10), out);
    char *nfc = (char *)utf8proc_NFC((const utf8proc_uint8_t *)key);
    if (!nfc) return lisa_seterr(LISA_ENOMEM, "normalising a name");
    int rc = lookup_name(s, sl, nfc, out);
    free(nfc);
    return rc;
}

static int lookup_name(srv *s, srv_slot *sl, const char *key, store_image *out)
{
    char upload[SRV_PATH_MAX + 512];
    snprintf(upload, sizeof upload, "%s/%s", s->images, key); // uploads first: one indexed lookup
    int rc = store_image_get_by_path(sl->st, upload, out);
    if (rc != LISA_ENOTFOUND) return rc;
    find_ctx f = {key, -1}; // then any indexed folder: a scan (the API hands out ids)
    rc = store_image_list(sl->st, NULL, find_cb, &f);
    if (rc < 0) return rc;
    if (f.best < 0) return lisa_seterr(LISA_ENOTFOUND, "%s: not in the index", key);
    return store_image_get(sl->st, f.best, out);
}

// Looks key up with a borrowed slot; answers the error itself (returns -1).
static int lookup_or_answer(srv *s, struct MHD_Connection *c, const char *key, store_image *im, enum MHD_Result *rc)
{
    srv_slot *sl = srv__slot_get(s);
    int err = srv__slot_store(s, sl);
    if (err == 0) err = srv__lookup(s, sl, key, im);
    srv__slot_put(s, sl);
    if (err == 0) return 0;
    if (err == LISA_ENOTFOUND)
        *rc = http_error(c, 404, "not_found", "no indexed image named '%s'", key);
    else if (err == LISA_EINVAL)
        *rc = http_error(c, 400, "bad_request", "malformed image name");
    else
        *rc = http_error(c, 500, "internal", "%s", lisa_errmsg_for(err));
    return -1;
}

// ---------------------------------------------------------------- names

const char *srv__base_name(const char *path)
{
    const char *b = strrchr(path, '/');
    return b ? b + 1 : path;
}

char *srv__original_name(srv *s, const char *path)
{
    char *orig = NULL;
    if (!srv__is_upload(s, path)) return NULL;
    srv_slot *sl = srv__slot_get(s);
    if (srv__slot_store(s, sl) < 0 || store_upload_name(sl->st, path, &orig) < 0) orig = NULL;
    srv__slot_put(s, sl);
    if (orig && !http_valid_utf8(orig, strlen(orig))) free(orig), orig = NULL;
    return orig;
}

// ---------------------------------------------------------------- serving

static const char *mime_of(img_format f)
{
    switch (f) {
    case IMG_JPEG: return "image/jpeg";
    case IMG_PNG: return "image/png";
    case IMG_WEBP: return "image/webp";
    case IMG_GIF: return "image/gif";
    case IMG_HEIF: return "image/heif";
    case IMG_BMP: return "image/bmp";
    case IMG_TIFF: return "image/tiff";
    default: return "application/octet-stream";
    }
}

// 1 when the If-None-Match header lists etag (or is "*").
static int etag_matches(struct MHD_Connection *c, const char *etag)
{
    const char *h = http_header(c, MHD_HTTP_HEADER_IF_NONE_MATCH);
    if (!h) return 0;
    if (!strcmp(h, "*")) return 1;
    const char *bare = etag[0] == 'W' ? etag + 2 : etag; // weak comparison, RFC 9110 13.1.2
    for (const char *p = h; (p = strstr(p, bare)); p += strlen(bare)) {
        char after = p[strlen(bare)];
        if (after == 0 || after == ',' || after == ' ') return 1;
    }
    return 0;
}

static void http_date(time_t t, char *buf, size_t cap)
{
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(buf, cap, "%a, %d %b %Y %H:%M:%S GMT", &tm);
}

// ---------------------------------------------------------------- Content-Disposition

// RFC 5987 attr-char: what goes unescaped in filename*.
static int attr_char(unsigned char ch)
{
    return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
           strchr("!#$&+-.^_`|~", ch) != NULL;
}

// `attachment` (or `inline`) with the real name twice (RFC 6266 section 4.3):
// filename="..." an ASCII fallback (other bytes, quotes, backslashes as '_')
// for old clients, and filename*=UTF-8''... the name percent-encoded.
void srv__content_disposition(const char *name, int attachment, char *buf, size_t cap)
{
    size_t n = (size_t)snprintf(buf, cap, "%s; filename=\"", attachment ? "attachment" : "inline");
    for (const unsigned char *p = (const unsigned char *)name; *p && n + 2 < cap; p++)
        if ((*p & 0xc0) != 0x80) // one '_' per character, not per byte
            buf[n++] = *p < 0x20 || *p >= 0x7f || *p == '"' || *p == '\\' ? '_' : (char)*p;
    n += (size_t)snprintf(buf + n, n < cap ? cap - n : 0, "\"; filename*=UTF-8''");
    for (const unsigned char *p = (const unsigned char *)name; *p && n + 4 < cap; p++)
        if (attr_char(*p))
            buf[n++] = (char)*p;
        else
            n += (size_t)snprintf(buf + n, cap - n, "%%%02X", *p);
    if (n < cap) buf[n] = 0;
}

static enum MHD_Result send_fd(struct MHD_Connection *c, int fd, const struct stat *st, const char *etag,
                               const char *mime, const char *disposition)
{
    char date[64];
    http_date(st->st_mtime, date, sizeof date);
    struct MHD_Response *r;
    unsigned status = 200;
    if (etag_matches(c, etag)) {
        close(fd);
        r = MHD_create_response_from_buffer(0, NULL, MHD_RESPMEM_PERSISTENT);
        status = 304;
    } else {
        r = MHD_create_response_from_fd((uint64_t)st->st_size, fd);
        if (!r) close(fd);
    }
    if (!r) return MHD_NO;
    if (status == 200) http_common_headers(r, mime);
    if (status == 200 && disposition) MHD_add_response_header(r, "Content-Disposition", disposition);
    MHD_add_response_header(r, MHD_HTTP_HEADER_ETAG, etag);
    MHD_add_response_header(r, MHD_HTTP_HEADER_LAST_MODIFIED, date);
    MHD_add_response_header(r, MHD_HTTP_HEADER_CACHE_CONTROL, "private, max-age=0, must-revalidate");
    enum MHD_Result rc = MHD_queue_response(c, status, r);
    MHD_destroy_response(r);
    return rc;
}

// Opens the regular file at the absolute path without following any
// symlink: every component is opened with openat(O_NOFOLLOW) from "/" (the
// index and the data dir hold realpath()s, so a symlink anywhere on the way
// was swapped in after indexing). The fd, or -1.
int srv__open_nofollow(const char *path, struct stat *st)
{
    char buf[SRV_PATH_MAX + 256];
    if (path[0] != '/' || snprintf(buf, sizeof buf, "%s", path) >= (int)sizeof buf) return -1;
    int dir = open("/", O_PATH | O_DIRECTORY | O_CLOEXEC);
    char *p = buf + 1;
    for (char *slash; dir >= 0 && (slash = strchr(p, '/'));) {
        *slash = 0;
        int next = *p && strcmp(p, ".") && strcmp(p, "..")
                       ? openat(dir, p, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)
                       : -1;
        close(dir);
        dir = next;
        p = slash + 1;
    }
    if (dir < 0 || !*p || !strcmp(p, "..")) return dir >= 0 ? close(dir), -1 : -1;
    int fd = openat(dir, p, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY | O_CLOEXEC); // NONBLOCK: no FIFO hang
    close(dir);
    if (fd < 0) return -1;
    if (fstat(fd, st) < 0 || !S_ISREG(st->st_mode)) return close(fd), -1;
    return fd;
}

enum MHD_Result srv__file(srv *s, struct MHD_Connection *c, const char *key, int thumb)
{
    store_image im = {0};
    enum MHD_Result rc;
    if (lookup_or_answer(s, c, key, &im, &rc) < 0) return rc;
    char path[SRV_PATH_MAX + 200], etag[100];
    int have_hash = im.hash && sha256_is_hex(im.hash) && strlen(im.hash) == 64;
    if (thumb && !have_hash) {
        store_image_clear(&im);
        return http_error(c, 404, "not_found", "'%s' has no thumbnail", key);
    }
    if (thumb)
        snprintf(path, sizeof path, "%s/%s.jpg", s->thumbs, im.hash);
    else
        snprintf(path, sizeof path, "%s", im.path);
    struct stat st;
    int fd = srv__open_nofollow(path, &st);
    if (fd < 0) {
        store_image_clear(&im);
        return http_error(c, 404, "not_found", "the file of '%s' is gone", key);
    }
    int64_t mtime_ns = (int64_t)st.st_mtim.tv_sec * 1000000000 + st.st_mtim.tv_nsec;
    if (!thumb && (st.st_size != im.size || mtime_ns != im.mtime_ns)) { // replaced (a hard link?) or edited
        close(fd);
        store_image_clear(&im);
        return http_error(c, 404, "not_found", "the file of '%s' changed since it was indexed (run a build)", key);
    }
    if (thumb)
        snprintf(etag, sizeof etag, "\"t-%s\"", im.hash);
    else if (have_hash)
        snprintf(etag, sizeof etag, "\"%s\"", im.hash);
    else
        snprintf(etag, sizeof etag, "W/\"%lld-%lld\"", (long long)st.st_size, (long long)mtime_ns);
    uint8_t head[16] = {0};
    ssize_t got = pread(fd, head, sizeof head, 0);
    img_format f = img_sniff(head, got > 0 ? (size_t)got : 0);
    char disp[3 * 1024 + 128];
    if (!thumb) {
        const char *dl = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "download");
        char *orig = srv__original_name(s, im.path);
        srv__content_disposition(orig ? orig : srv__base_name(im.path), dl && strcmp(dl, "0"), disp, sizeof disp);
        free(orig);
    }
    store_image_clear(&im);
    return send_fd(c, fd, &st, etag, thumb ? "image/jpeg" : mime_of(f), thumb ? NULL : disp);
}

// ---------------------------------------------------------------- delete

enum MHD_Result srv__delete(srv *s, struct MHD_Connection *c, const char *key)
{
    store_image im = {0};
    srv_slot *sl = srv__slot_get(s);
    int err = srv__slot_store(s, sl);
    if (err == 0) err = srv__lookup(s, sl, key, &im);
    if (err == 0) err = store_image_delete(sl->st, im.id);
    int others = 0;
    if (err == 0 && im.hash && sha256_is_hex(im.hash)) {
        int64_t ids[1];
        if (store_image_find_by_hash(sl->st, im.hash, ids, 1, &others) < 0) others = 1;
    }
    srv__slot_put(s, sl);
    if (err == LISA_ENOTFOUND) return http_error(c, 404, "not_found", "no indexed image named '%s'", key);
    if (err == LISA_EINVAL) return http_error(c, 400, "bad_request", "malformed image name");
    if (err < 0) return http_error(c, 500, "internal", "%s", lisa_errmsg_for(err));
    int file_deleted = 0;
    if (srv__is_upload(s, im.path)) file_deleted = unlink(im.path) == 0;
    if (file_deleted) {
        sl = srv__slot_get(s);
        int rc = srv__slot_store(s, sl);
        if (rc == 0) rc = store_upload_forget(sl->st, im.path);
        if (rc < 0) srv__log(s, "delete %s: its upload record stays: %s", im.path, lisa_errmsg_for(rc));
        srv__slot_put(s, sl);
    }
    if (!others && im.hash && sha256_is_hex(im.hash) && strlen(im.hash) == 64) {
        char tp[SRV_PATH_MAX + 200];
        snprintf(tp, sizeof tp, "%s/%s.jpg", s->thumbs, im.hash);
        unlink(tp);
    }
    cJSON *o = cJSON_CreateObject(), *d = cJSON_AddObjectToObject(o, "deleted");
    const char *b = strrchr(im.path, '/');
    cJSON_AddNumberToObject(d, "id", (double)im.id);
    cJSON_AddStringToObject(d, "name", b ? b + 1 : im.path);
    cJSON_AddBoolToObject(o, "file_deleted", file_deleted);
    srv__log(s, "deleted %s from the index%s", im.path, file_deleted ? " and the disk" : "");
    store_image_clear(&im);
    return http_json(c, 200, o);
}

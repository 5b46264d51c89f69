// Hugging Face hub downloads with libcurl: resume, progress, size + SHA-256 checks.
#include "model/hub.h"
#include "base/clock.h"
#include "base/err.h"
#include "base/file.h"
#include "base/sha256.h"
#include "model/catalog.h"
#include "model/checkpoint.h"
#include "model/modeldir.h"

#include <cjson/cJSON.h>
#include <curl/curl.h>
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define PART_MAX 96                         // chars per repo-id part or revision
#define ENDPOINT_MAX 400                    // chars of the hub base URL
#define API_MAX_BYTES (8u << 20)            // the API's JSON answer
#define FILE_MAX_BYTES ((uint64_t)64 << 30) // any one file when the hub gives no size
#define ERRBODY_MAX 200                     // kept from an error response's body
#define PATH_CAP 4096
#define TOKEN_MAX 1024 // bytes of an access token (HF's are ~40)
#define URL_CAP (ENDPOINT_MAX + 2 * PART_MAX + CKPT_SHARD_NAME_MAX + 64)

/* ---------------------------------------------------------------------------
 * Names
 * ------------------------------------------------------------------------- */

static const struct {
    const char *short_name, *repo;
} KNOWN[] = {
    {"clip-vit-base-patch32", "openai/clip-vit-base-patch32"},
    {"clip-vit-base-patch16", "openai/clip-vit-base-patch16"},
    {"clip-vit-large-patch14", "openai/clip-vit-large-patch14"},
    {"blip-image-captioning-base", "Salesforce/blip-image-captioning-base"},
    {"blip-image-captioning-large", "Salesforce/blip-image-captioning-large"},
};
#define NKNOWN (sizeof KNOWN / sizeof KNOWN[0])

static const char *const KNOWN_NAMES[NKNOWN + 1] = {
    "clip-vit-base-patch32",      "clip-vit-base-patch16",       "clip-vit-large-patch14",
    "blip-image-captioning-base", "blip-image-captioning-large", NULL,
};

const char *const *hub_known_names(void)
{
    return KNOWN_NAMES;
}

static int name_char(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' || c == '_' ||
           c == '-';
}

// One part of a repo id, or a revision: n chars of [A-Za-z0-9._-], no "..".
static int valid_part(const char *s, size_t n)
{
    if (n == 0 || n > PART_MAX || s[0] == '.' || s[0] == '-') return 0;
    for (size_t i = 0; i < n; i++) {
        if (!name_char(s[i])) return 0;
        if (s[i] == '.' && i + 1 < n && s[i + 1] == '.') return 0;
    }
    return 1;
}

static int valid_repo(const char *repo)
{
    const char *slash = strchr(repo, '/');
    return slash && valid_part(repo, (size_t)(slash - repo)) && valid_part(slash + 1, strlen(slash + 1));
}

int hub_valid_revision(const char *rev)
{
    return rev && valid_part(rev, strlen(rev));
}

int hub_resolve_name(const char *name, char repo[HUB_NAME_MAX], char local[HUB_NAME_MAX])
{
    if (!name || !*name) return lisa_seterr(LISA_EINVAL, "no model name given");
    const catalog_entry *ce = catalog_find(name); // model/catalog.h: every short name
    if (ce) {
        snprintf(repo, HUB_NAME_MAX, "%s", ce->repo);
        snprintf(local, HUB_NAME_MAX, "%s", ce->name);
        return 0;
    }
    for (size_t i = 0; i < NKNOWN; i++) {
        if (strcmp(name, KNOWN[i].short_name)) continue;
        snprintf(repo, HUB_NAME_MAX, "%s", KNOWN[i].repo);
        snprintf(local, HUB_NAME_MAX, "%s", KNOWN[i].short_name);
        return 0;
    }
    const char *slash = strchr(name, '/');
    if (!slash)
        return lisa_seterr(LISA_EINVAL,
                           "unknown model '%.100s': use one of clip-vit-base-patch32-laion2b, clip-vit-base-patch32, "
                           "clip-vit-base-patch16, clip-vit-large-patch14, "
                           "blip-image-captioning-base, blip-image-captioning-large, or a hub repo id owner/name",
                           name);
    if (!valid_repo(name))
        return lisa_seterr(LISA_EINVAL,
                           "'%.100s' is not a valid repo id: want owner/name, each part 1..%d of "
                           "A-Z a-z 0-9 . _ - with no '..' and no leading '.' or '-'",
                           name, PART_MAX);
    snprintf(repo, HUB_NAME_MAX, "%s", name);
    snprintf(local, HUB_NAME_MAX, "%s", slash + 1);
    return 0;
}

/* ---------------------------------------------------------------------------
 * Small helpers: paths, time, sizes, messages
 * ------------------------------------------------------------------------- */

static int join(char *out, size_t cap, const char *a, const char *b, const char *suffix)
{
    int n = snprintf(out, cap, "%s/%s%s", a, b, suffix);
    if (n < 0 || (size_t)n >= cap) return lisa_seterr(LISA_ETOOBIG, "%s/%s: path too long", a, b);
    return 0;
}

// mkdir -p: creates path and its missing parents.
static int mkdirs(const char *path)
{
    char buf[PATH_CAP];
    if (snprintf(buf, sizeof buf, "%s", path) >= (int)sizeof buf)
        return lisa_seterr(LISA_ETOOBIG, "%.100s...: path too long", path);
    for (char *s = buf + 1;; s++) {
        if (*s != '/' && *s) continue;
        char c = *s;
        *s = 0;
        if (mkdir(buf, 0755) < 0 && errno != EEXIST)
            return lisa_seterr(LISA_EIO, "cannot create directory %s: %s", buf, strerror(errno));
        if (!c) break;
        *s = c;
    }
    struct stat st;
    if (stat(path, &st) < 0 || !S_ISDIR(st.st_mode)) return lisa_seterr(LISA_EIO, "%s: not a directory", path);
    return 0;
}

static const char *fmt_bytes(double n, char buf[32])
{
    static const char *const units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
    int u = 0;
    while (n >= 1024 && u < 4) n /= 1024, u++;
    snprintf(buf, 32, u ? "%.1f %s" : "%.0f %s", n, units[u]);
    return buf;
}

static void say(FILE *out, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void say(FILE *out, const char *fmt, ...)
{
    if (!out) return;
    va_list ap;
    va_start(ap, fmt);
    vfprintf(out, fmt, ap);
    va_end(ap);
    fputc('\n', out);
    fflush(out);
}

static void fsync_dir(const char *dir)
{
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0) return;
    (void)fsync(fd);
    close(fd);
}

// An ETag value without W/ and quotes, lowercased, into out.
static void copy_etag(char *out, size_t cap, const char *v)
{
    if (!strncmp(v, "W/", 2)) v += 2;
    size_t n = 0;
    for (; *v && n + 1 < cap; v++)
        if (*v != '"') out[n++] = (char)(*v >= 'A' && *v <= 'Z' ? *v + 32 : *v);
    out[n] = 0;
}

static int is_hex40(const char *s)
{
    return strlen(s) == 40 && strspn(s, "0123456789abcdefABCDEF") == 40;
}

/* ---------------------------------------------------------------------------
 * The files LISA reads and what the hub says about them
 * ------------------------------------------------------------------------- */

enum {
    F_CONFIG,
    F_PREPROC,
    F_TOKENIZER,
    F_VOCAB,
    F_MERGES,
    F_TOKCONF,
    F_SPECIAL,
    F_MODEL,
    F_INDEX,
    F_VOCABTXT,
    F_SPIECE,
    F_COUNT
};

static const char *const FILE_NAMES[F_COUNT] = {
    "config.json",  "preprocessor_config.json", "tokenizer.json",          "vocab.json",
    "merges.txt",   "tokenizer_config.json",    "special_tokens_map.json", CKPT_SINGLE,
    CKPT_INDEX,
    "vocab.txt",    // BLIP's WordPiece vocabulary, when a repo has no tokenizer.json
    "spiece.model", // SigLIP 1's SentencePiece tokenizer, when there is no tokenizer.json
};

typedef struct {
    int listed;    // in the API's siblings
    int64_t size;  // -1 unknown
    char sha[65];  // LFS sha256, "" unknown (git-stored small files have none)
    char blob[41]; // git blob id (SHA-1) of a non-LFS file, "" unknown
} meta_file;

typedef struct {
    CURL *curl;
    const char *repo, *dest;
    char endpoint[ENDPOINT_MAX + 1];
    char rev[PART_MAX + 1]; // what the user asked for
    char pin[PART_MAX + 1]; // what the resolve URLs use: the commit sha when known
    char partdir[PATH_CAP];
    FILE *out;
    int retries;
    long stall;
    int have_meta;
    meta_file meta[F_COUNT];
    cJSON *api;                     // the API answer, kept for the shards' sizes and digests; NULL without metadata
    char token[TOKEN_MAX + 1];      // "" when none; never printed
    char token_from[PATH_CAP + 16]; // where it came from, for messages ("$HF_TOKEN" or a path)
    hub_report *rep;
    char curl_err[CURL_ERROR_SIZE];
} pull;

/* ---------------------------------------------------------------------------
 * Access token for gated and private repos
 * ------------------------------------------------------------------------- */

// Where huggingface_hub keeps its token: $HF_TOKEN_PATH, else $HF_HOME/token,
// else $XDG_CACHE_HOME/huggingface/token, else ~/.cache/huggingface/token.
static int token_file(char *out, size_t cap)
{
    const char *v;
    int n;
    if ((v = getenv("HF_TOKEN_PATH")) && *v)
        n = snprintf(out, cap, "%s", v);
    else if ((v = getenv("HF_HOME")) && *v)
        n = snprintf(out, cap, "%s/token", v);
    else if ((v = getenv("XDG_CACHE_HOME")) && *v)
        n = snprintf(out, cap, "%s/huggingface/token", v);
    else if ((v = getenv("HOME")) && *v)
        n = snprintf(out, cap, "%s/.cache/huggingface/token", v);
    else
        return 0;
    return n > 0 && (size_t)n < cap;
}

// Keeps s (n bytes), trimmed, as the token. Only printable ASCII without
// spaces is accepted: a CR or LF from a token file would otherwise end up in a
// request header. Messages name the source, never the token.
static int token_set(pull *p, const char *s, size_t n, const char *from)
{
    while (n && isspace((unsigned char)*s)) s++, n--;
    while (n && isspace((unsigned char)s[n - 1])) n--;
    if (n == 0) return 0; // an empty token is no token
    if (n > TOKEN_MAX)
        return lisa_seterr(LISA_EINVAL, "the Hugging Face token in %s is over %d bytes", from, TOKEN_MAX);
    for (size_t i = 0; i < n; i++)
        if (s[i] <= ' ' || s[i] > '~')
            return lisa_seterr(LISA_EINVAL,
                               "the Hugging Face token in %s holds a space, control or non-ASCII character", from);
    memcpy(p->token, s, n);
    p->token[n] = 0;
    snprintf(p->token_from, sizeof p->token_from, "%s", from);
    return 0;
}

// $HF_TOKEN, else the token file; neither is fine (public repos need none).
static int token_load(pull *p)
{
    const char *env = getenv("HF_TOKEN");
    char path[PATH_CAP], *text;
    size_t len;
    if (env && *env) return token_set(p, env, strlen(env), "$HF_TOKEN");
    if (!token_file(path, sizeof path)) return 0;
    int rc = lisa_read_file(path, TOKEN_MAX + 256, &text, &len);
    if (rc == LISA_ENOTFOUND) return 0;
    if (rc < 0) return rc; // the message names the file, not its content
    rc = token_set(p, text, len, path);
    explicit_bzero(text, len);
    free(text);
    return rc;
}

/* ---------------------------------------------------------------------------
 * One HTTP transfer: header and body callbacks, progress
 * ------------------------------------------------------------------------- */

typedef struct {
    const char *name, *part;
    uint64_t offset;     // bytes of the part on disk when the request went out
    int64_t expect_size; // from the API, -1 unknown
    // the current response (reset on each status line: redirects come first)
    long status;
    int64_t content_length, range_start, range_total;
    char etag[100];
    // sticky across redirects: the hub puts these on the first (302) response
    char linked_etag[100], hub_error[160];
    int64_t linked_size;
    // the body
    int started;
    FILE *f;
    sha256_ctx *sha;
    uint64_t have, got; // bytes in the part now; body bytes in this request
    int64_t total;      // expected final size as far as known, -1 unknown
    char errbody[ERRBODY_MAX + 1];
    size_t errbody_n;
    int err, bad_part; // our own failure (message set); part must be deleted
    // progress
    FILE *out;
    int tty, last_decile;
    double t0, last_draw;
} xfer;

static int64_t parse_i64(const char *s)
{
    char *end;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    return (errno || end == s || v < 0) ? -1 : (int64_t)v;
}

static size_t on_header(char *buf, size_t size, size_t nitems, void *ud)
{
    xfer *x = ud;
    size_t len = size * nitems;
    char line[512];
    size_t m = len < sizeof line - 1 ? len : sizeof line - 1;
    memcpy(line, buf, m);
    while (m && (line[m - 1] == '\n' || line[m - 1] == '\r')) m--;
    line[m] = 0;
    if (!strncmp(line, "HTTP/", 5)) {
        const char *sp = strchr(line, ' ');
        x->status = sp ? strtol(sp + 1, NULL, 10) : 0;
        x->content_length = x->range_start = x->range_total = -1;
        x->etag[0] = 0;
        return len;
    }
    char *colon = strchr(line, ':');
    if (!colon) return len;
    *colon = 0;
    const char *v = colon + 1;
    while (*v == ' ' || *v == '\t') v++;
    if (!strcasecmp(line, "content-length"))
        x->content_length = parse_i64(v);
    else if (!strcasecmp(line, "etag"))
        copy_etag(x->etag, sizeof x->etag, v);
    else if (!strcasecmp(line, "x-linked-etag"))
        copy_etag(x->linked_etag, sizeof x->linked_etag, v);
    else if (!strcasecmp(line, "x-linked-size"))
        x->linked_size = parse_i64(v);
    else if (!strcasecmp(line, "x-error-message"))
        snprintf(x->hub_error, sizeof x->hub_error, "%s", v);
    else if (!strcasecmp(line, "content-range")) {
        long long s, e, t;
        if (sscanf(v, "bytes %lld-%lld/%lld", &s, &e, &t) == 3)
            x->range_start = s, x->range_total = t;
        else if (sscanf(v, "bytes %lld-%lld/*", &s, &e) == 2)
            x->range_start = s;
    }
    return len;
}

static void progress_draw(xfer *x, int final)
{
    if (!x->out) return;
    double t = mono_s(), dt = t - x->t0 > 1e-3 ? t - x->t0 : 1e-3, rate = x->got / dt;
    int pct = x->total > 0 ? (int)(100.0 * x->have / x->total) : -1;
    char a[32], b[32], r[32];
    if (x->tty) {
        if (!final && t - x->last_draw < 0.1) return;
        fprintf(x->out, "\r\033[K  %-26s %10s", x->name, fmt_bytes(x->have, a));
        if (pct >= 0) fprintf(x->out, " / %-10s %3d%%", fmt_bytes(x->total, b), pct);
        fprintf(x->out, "  %10s/s", fmt_bytes(rate, r));
        if (pct >= 0 && rate > 0 && !final) {
            double eta = (x->total - (double)x->have) / rate;
            fprintf(x->out, "  ETA %d:%02d", (int)eta / 60, (int)eta % 60);
        }
        if (final) fputs("\r\033[K", x->out); // the caller prints the outcome line
    } else {
        int decile = pct >= 0 ? pct / 10 : (int)(dt / 5);
        if (final || decile <= x->last_decile || (pct >= 0 && x->total < (8 << 20))) return;
        x->last_decile = decile;
        if (pct >= 0)
            fprintf(x->out, "  %s: %d%% (%s of %s, %s/s)\n", x->name, pct, fmt_bytes(x->have, a),
                    fmt_bytes(x->total, b), fmt_bytes(rate, r));
        else
            fprintf(x->out, "  %s: %s (%s/s)\n", x->name, fmt_bytes(x->have, a), fmt_bytes(rate, r));
    }
    x->last_draw = t;
    fflush(x->out);
}

// First body byte of the final response: decide between append (206), start
// over (200) and an error page (anything else, kept for the message).
static int start_body(xfer *x)
{
    x->started = 1;
    if (x->status == 206) {
        if (x->range_start != (int64_t)x->offset) {
            x->bad_part = 1;
            return x->err = lisa_seterr(LISA_ENET,
                                        "%s: server answered a resume at byte %llu "
                                        "from byte %lld",
                                        x->name, (unsigned long long)x->offset, (long long)x->range_start);
        }
        x->f = fopen(x->part, "ab");
        x->total = x->expect_size >= 0 ? x->expect_size : x->range_total;
    } else if (x->status == 200) {
        if (x->offset > 0 && x->out)
            fprintf(x->out, "  %s: server ignored the range request; starting over\n", x->name);
        if ((x->err = sha256_reset(x->sha)) < 0) return x->err;
        x->have = x->offset = 0;
        x->f = fopen(x->part, "wb");
        x->total = x->expect_size >= 0 ? x->expect_size : x->content_length;
    } else {
        return 0;
    }
    if (!x->f) return x->err = lisa_seterr(LISA_EIO, "%s: %s", x->part, strerror(errno));
    return 0;
}

static int write_error(xfer *x, int e)
{
    if (e == ENOSPC || e == EDQUOT)
        return lisa_seterr(LISA_EIO,
                           "%s: disk full after %llu bytes of %s; free some space and "
                           "run the command again to resume",
                           x->part, (unsigned long long)x->have, x->name);
    return lisa_seterr(LISA_EIO, "%s: write failed: %s", x->part, strerror(e));
}

static size_t on_body(char *buf, size_t size, size_t nitems, void *ud)
{
    xfer *x = ud;
    size_t len = size * nitems;
    if (!x->started && start_body(x) < 0) return 0;
    if (x->status != 200 && x->status != 206) {
        size_t room = ERRBODY_MAX - x->errbody_n, k = len < room ? len : room;
        memcpy(x->errbody + x->errbody_n, buf, k);
        x->errbody_n += k;
        x->errbody[x->errbody_n] = 0;
        return len;
    }
    uint64_t cap = x->expect_size >= 0 ? (uint64_t)x->expect_size : FILE_MAX_BYTES;
    if (x->have + len > cap) {
        x->bad_part = 1;
        x->err = lisa_seterr(LISA_ECHECKSUM, "%s: server sent more than the %llu bytes expected", x->name,
                             (unsigned long long)cap);
        return 0;
    }
    if (fwrite(buf, 1, len, x->f) != len) {
        x->err = write_error(x, errno);
        return 0;
    }
    if ((x->err = sha256_update(x->sha, buf, len)) < 0) return 0;
    x->have += len;
    x->got += len;
    progress_draw(x, 0);
    return len;
}

// Flushes the part to disk (disk-full errors often surface here) and closes it.
static int close_part(xfer *x)
{
    if (!x->f) return 0;
    int rc = 0;
    if (x->err) { // keep the first error's message
        fclose(x->f);
        x->f = NULL;
        return x->err;
    }
    if (fflush(x->f) != 0 || fsync(fileno(x->f)) != 0) rc = write_error(x, errno);
    if (fclose(x->f) != 0 && rc == 0) rc = write_error(x, errno);
    x->f = NULL;
    return rc;
}

/* ---------------------------------------------------------------------------
 * Hub API metadata
 * ------------------------------------------------------------------------- */

typedef struct {
    char *data;
    size_t n;
    int toobig;
} membuf;

static size_t on_mem(char *buf, size_t size, size_t nitems, void *ud)
{
    membuf *m = ud;
    size_t len = size * nitems;
    if (m->n + len > API_MAX_BYTES) return m->toobig = 1, 0;
    char *p = realloc(m->data, m->n + len + 1);
    if (!p) return 0;
    memcpy(p + m->n, buf, len);
    m->data = p;
    m->n += len;
    p[m->n] = 0;
    return len;
}

static void curl_common(pull *p, const char *url)
{
    CURL *c = p->curl;
    curl_easy_reset(c);
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 1L);
    curl_easy_setopt(c, CURLOPT_MAXREDIRS, 10L);
    curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(c, CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(c, CURLOPT_USERAGENT, "lisa/0.1 (+libcurl)");
    curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT, 30L);
    curl_easy_setopt(c, CURLOPT_LOW_SPEED_LIMIT, 1L);
    curl_easy_setopt(c, CURLOPT_LOW_SPEED_TIME, p->stall);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_BUFFERSIZE, 256L * 1024);
    curl_easy_setopt(c, CURLOPT_ERRORBUFFER, p->curl_err);
    p->curl_err[0] = 0;
    if (p->token[0]) {
        // curl's own auth, not a raw header: curl sends it to the URL's host,
        // port and scheme only and drops it when a redirect leaves for another
        // origin, as LFS files do for the CDN (tests/test_pull.c checks that a
        // second port sees no Authorization header). curl 7.88 also strips a
        // raw Authorization header there (measured), but older curls leaked
        // one across hosts (CVE-2018-1000007) or ports (CVE-2022-27776).
        curl_easy_setopt(c, CURLOPT_HTTPAUTH, CURLAUTH_BEARER);
        curl_easy_setopt(c, CURLOPT_XOAUTH2_BEARER, p->token);
        curl_easy_setopt(c, CURLOPT_UNRESTRICTED_AUTH, 0L);
    }
}

static const char *curl_msg(pull *p, CURLcode res)
{
    return p->curl_err[0] ? p->curl_err : curl_easy_strerror(res);
}

// What one siblings[] entry says about its file.
static void meta_fill(meta_file *m, const cJSON *s)
{
    const cJSON *size = cJSON_GetObjectItemCaseSensitive(s, "size");
    const cJSON *lfs = cJSON_GetObjectItemCaseSensitive(s, "lfs");
    const cJSON *sha = cJSON_GetObjectItemCaseSensitive(lfs, "sha256");
    const cJSON *lsize = cJSON_GetObjectItemCaseSensitive(lfs, "size");
    const cJSON *blob = cJSON_GetObjectItemCaseSensitive(s, "blobId");
    m->listed = 1;
    if (cJSON_IsNumber(size) && size->valuedouble >= 0 && size->valuedouble < 9e18)
        m->size = (int64_t)size->valuedouble;
    else if (cJSON_IsNumber(lsize) && lsize->valuedouble >= 0 && lsize->valuedouble < 9e18)
        m->size = (int64_t)lsize->valuedouble;
    if (cJSON_IsString(sha) && sha256_is_hex(sha->valuestring))
        copy_etag(m->sha, sizeof m->sha, sha->valuestring);
    else if (cJSON_IsString(blob) && is_hex40(blob->valuestring))
        copy_etag(m->blob, sizeof m->blob, blob->valuestring);
}
static void meta_sibling(pull *p, const cJSON *s)
{
    const cJSON *name = cJSON_GetObjectItemCaseSensitive(s, "rfilename");
    if (!cJSON_IsString(name)) return;
    for (int i = 0; i < F_COUNT; i++)
        if (!strcmp(name->valuestring, FILE_NAMES[i])) meta_fill(&p->meta[i], s);
}

// The API's entry for a file outside the fixed list (a shard); m->listed = 0
// when the API does not list it.
static void meta_lookup(const pull *p, const char *name, meta_file *m)
{
    const cJSON *s, *sib = cJSON_GetObjectItemCaseSensitive(p->api, "siblings");
    memset(m, 0, sizeof *m);
    m->size = -1;
    cJSON_ArrayForEach(s, sib)
    {
        const cJSON *n = cJSON_GetObjectItemCaseSensitive(s, "rfilename");
        if (cJSON_IsString(n) && !strcmp(n->valuestring, name)) {
            meta_fill(m, s);
            return;
        }
    }
}

// Parses the API answer; 0 when it is usable, else a reason for the note.
static const char *meta_parse(pull *p, const char *json)
{
    cJSON *root = cJSON_Parse(json);
    const cJSON *sib = cJSON_GetObjectItemCaseSensitive(root, "siblings");
    const cJSON *sha = cJSON_GetObjectItemCaseSensitive(root, "sha");
    const char *why = NULL;
    if (!root)
        why = "the answer is not JSON";
    else if (!cJSON_IsArray(sib))
        why = "the answer has no file list";
    else {
        const cJSON *s;
        cJSON_ArrayForEach(s, sib) meta_sibling(p, s);
        if (cJSON_IsString(sha) && is_hex40(sha->valuestring)) {
            snprintf(p->rep->commit, sizeof p->rep->commit, "%s", sha->valuestring);
            snprintf(p->pin, sizeof p->pin, "%s", sha->valuestring);
        }
        p->have_meta = p->rep->have_metadata = 1;
        p->api = root; // kept: a sharded checkpoint looks its shards up later
        root = NULL;
    }
    cJSON_Delete(root);
    return why;
}

// Asks the API for the file list, sizes and digests. Only an unreachable
// server is an error; anything else just means "no metadata".
static int fetch_meta(pull *p)
{
    char url[ENDPOINT_MAX + 2 * PART_MAX + 64];
    snprintf(url, sizeof url, "%s/api/models/%s/revision/%s?blobs=true", p->endpoint, p->repo, p->rev);
    membuf m = {0};
    curl_common(p, url);
    curl_easy_setopt(p->curl, CURLOPT_WRITEFUNCTION, on_mem);
    curl_easy_setopt(p->curl, CURLOPT_WRITEDATA, &m);
    CURLcode res = curl_easy_perform(p->curl);
    long status = 0;
    curl_easy_getinfo(p->curl, CURLINFO_RESPONSE_CODE, &status);
    const char *why = NULL;
    char whybuf[64];
    if (res != CURLE_OK && !m.toobig && status == 0) {
        int rc = lisa_seterr(LISA_ENET, "cannot reach %s: %s", p->endpoint, curl_msg(p, res));
        free(m.data);
        return rc;
    }
    if (m.toobig)
        why = "the answer is over 8 MiB";
    else if (res != CURLE_OK)
        why = curl_msg(p, res);
    else if (status != 200)
        snprintf(whybuf, sizeof whybuf, "HTTP %ld", status), why = whybuf;
    else
        why = meta_parse(p, m.data ? m.data : "");
    free(m.data);
    if (why)
        say(p->out, "note: no hub metadata for %s (%s): sizes and checksums cannot be verified", p->repo, why);
    else
        say(p->out, "%s at %s%s%s: file list, sizes and checksums from the hub", p->repo, p->rev,
            p->rep->commit[0] ? " = " : "", p->rep->commit);
    return 0;
}

/* ---------------------------------------------------------------------------
 * One file: keep, resume, download, verify, move into place
 * ------------------------------------------------------------------------- */

// 1 when dest/NAME exists and agrees with the metadata (or there is none).
static int keep_existing(pull *p, const char *name, const meta_file *m, const char *final)
{
    struct stat st;
    char hex[65], a[32];
    if (stat(final, &st) < 0 || !S_ISREG(st.st_mode)) return 0;
    if (!p->have_meta) {
        say(p->out, "  %s: present, kept (not verified: no hub metadata)", name);
        return 1;
    }
    if (m->size >= 0 && (int64_t)st.st_size != m->size) {
        say(p->out, "  %s: present but %lld bytes, the hub says %lld; downloading again", name, (long long)st.st_size,
            (long long)m->size);
        return 0;
    }
    if (m->sha[0]) {
        if (sha256_file(final, hex, NULL) < 0 || strcmp(hex, m->sha)) {
            say(p->out, "  %s: present but its sha256 differs from the hub's; downloading again", name);
            return 0;
        }
        p->rep->files_sha_checked++;
    } else if (m->blob[0]) {
        if (sha256_git_blob_id(final, hex) < 0 || strcmp(hex, m->blob)) {
            say(p->out, "  %s: present but its git blob id differs from the hub's; downloading again", name);
            return 0;
        }
        p->rep->files_blob_checked++;
    }
    say(p->out, "  %s: present, %s, %s", name, fmt_bytes(st.st_size, a),
        m->sha[0]    ? "sha256 ok"
        : m->blob[0] ? "git blob id ok"
                     : "size ok");
    return 1;
}

// A part whose expected digest changed since it was started (new commit on the
// branch) cannot be resumed: the sidecar NAME.part.want remembers the digest.
static void check_sidecar(const char *part, const char *want)
{
    char path[PATH_CAP], old[80] = "";
    if (!want[0] || snprintf(path, sizeof path, "%s.want", part) >= (int)sizeof path) return;
    FILE *f = fopen(path, "r");
    if (f) {
        if (!fgets(old, sizeof old, f)) old[0] = 0;
        fclose(f);
        if (strncmp(old, want, 64)) unlink(part);
    }
    if ((f = fopen(path, "w"))) fprintf(f, "%s\n", want), fclose(f);
}

static void drop_sidecar(const char *part)
{
    char path[PATH_CAP];
    if (snprintf(path, sizeof path, "%s.want", part) < (int)sizeof path) unlink(path);
}

static int http_error(pull *p, xfer *x, const char *url)
{
    char auth[PATH_CAP + 256];
    const char *hint = "";
    int code = LISA_ENET;
    if (x->status == 404)
        code = LISA_ENOTFOUND, hint = " (no such file at this revision)";
    else if (x->status == 401 || x->status == 403) {
        if (p->token[0])
            snprintf(auth, sizeof auth,
                     " (a token from %s was sent: it may not grant access to this repository, the gated "
                     "repository's terms may need accepting on the hub, or the repository does not exist)",
                     p->token_from);
        else
            snprintf(auth, sizeof auth,
                     " (no token was sent: the repository is private or gated, or does not exist; set HF_TOKEN "
                     "to a Hugging Face access token that can read it)");
        hint = auth;
    } else if (x->status >= 500)
        hint = " (server error; try again later)";
    return lisa_seterr(code, "%s: HTTP %ld from %s%s%s%s", x->name, x->status, url, hint, x->hub_error[0] ? ": " : "",
                       x->hub_error);
}

// Bytes of the part that are usable, seeding x->sha with them.
static uint64_t resume_point(xfer *x)
{
    struct stat st;
    uint64_t fed = 0;
    if (stat(x->part, &st) < 0 || st.st_size == 0) return 0;
    if (x->expect_size >= 0 && st.st_size > x->expect_size) goto restart;
    if (sha256_feed_file(x->sha, x->part, (uint64_t)st.st_size, &fed) < 0 || fed != (uint64_t)st.st_size) goto restart;
    return fed;
restart:
    unlink(x->part);
    sha256_reset(x->sha);
    return 0;
}

// One request for the rest of the part. Sets *retry on failures worth a retry.
static int transfer(pull *p, xfer *x, const char *url, int *retry)
{
    char range[32];
    x->offset = x->have = resume_point(x);
    if (x->expect_size >= 0 && x->have == (uint64_t)x->expect_size && x->have > 0)
        return 0; // complete from an earlier run that stopped before the rename
    if (x->offset && x->out) fprintf(x->out, "  %s: resuming at byte %llu\n", x->name, (unsigned long long)x->offset);
    curl_common(p, url);
    curl_easy_setopt(p->curl, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(p->curl, CURLOPT_HEADERDATA, x);
    curl_easy_setopt(p->curl, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(p->curl, CURLOPT_WRITEDATA, x);
    snprintf(range, sizeof range, "%llu-", (unsigned long long)x->offset);
    curl_easy_setopt(p->curl, CURLOPT_RANGE, x->offset ? range : NULL);
    x->t0 = x->last_draw = mono_s();
    CURLcode res = curl_easy_perform(p->curl);
    int rc = close_part(x);
    p->rep->bytes += x->got;
    if (x->started && x->status == 206) p->rep->resumed++;
    if (x->err) return x->err;
    if (rc < 0) return rc;
    if (res != CURLE_OK) {
        *retry = 1;
        return lisa_seterr(LISA_ENET, "%s: network failure after %llu of %s bytes: %s", x->name,
                           (unsigned long long)x->have, x->total >= 0 ? "the expected" : "unknown", curl_msg(p, res));
    }
    if (x->status == 416 && x->offset) { // part no longer matches: start over once
        unlink(x->part);
        *retry = 1;
        return lisa_seterr(LISA_ENET, "%s: HTTP 416 for a resume at byte %llu", x->name, (unsigned long long)x->offset);
    }
    if (x->status != 200 && x->status != 206) {
        *retry = x->status >= 500;
        return http_error(p, x, url);
    }
    if (!x->started) { // empty 200 body
        FILE *f = fopen(x->part, "wb");
        if (!f) return lisa_seterr(LISA_EIO, "%s: %s", x->part, strerror(errno));
        fclose(f);
        x->have = 0;
    }
    return 0;
}

// Files kept in git (not LFS) have no SHA-256 on the hub, but a git blob id
// (SHA-1) in the API and in the resolve ETag: check that one instead.
static int check_blob(pull *p, xfer *x, const meta_file *m)
{
    char got[41];
    const char *want = m->blob[0] ? m->blob : is_hex40(x->etag) ? x->etag : NULL;
    if (!want) return 0;
    int rc = sha256_git_blob_id(x->part, got);
    if (rc < 0) return rc;
    if (strcmp(got, want)) {
        unlink(x->part);
        return lisa_seterr(LISA_ECHECKSUM,
                           "%s: git blob id mismatch: expected %s, got %s; the "
                           "download was removed, not installed",
                           x->name, want, got);
    }
    p->rep->files_blob_checked++;
    return 0;
}

// Size and digest of the finished part against the best expectation we have.
static int verify(pull *p, xfer *x, const meta_file *m, int *retry)
{
    char got[65], a[32], b[32];
    const char *want = m->sha[0]                       ? m->sha
                       : sha256_is_hex(x->linked_etag) ? x->linked_etag
                       : sha256_is_hex(x->etag)        ? x->etag
                                                       : NULL;
    int64_t size = m->size >= 0 ? m->size : x->linked_size >= 0 ? x->linked_size : x->total;
    if (size >= 0 && x->have < (uint64_t)size) {
        *retry = 1;
        return lisa_seterr(LISA_ENET, "%s: transfer ended at %s of %s", x->name, fmt_bytes(x->have, a),
                           fmt_bytes(size, b));
    }
    if (size >= 0 && x->have > (uint64_t)size) {
        unlink(x->part);
        return lisa_seterr(LISA_ECHECKSUM,
                           "%s: got %llu bytes, expected %lld; the partial "
                           "download was removed",
                           x->name, (unsigned long long)x->have, (long long)size);
    }
    int rc = sha256_final(x->sha, got);
    if (rc < 0) return rc;
    if (want && strcmp(got, want)) {
        unlink(x->part);
        return lisa_seterr(LISA_ECHECKSUM,
                           "%s: sha256 mismatch: expected %s, got %s; the "
                           "download was removed, not installed",
                           x->name, want, got);
    }
    if (want) p->rep->files_sha_checked++;
    x->bad_part = 0;
    if (want) return 2;
    if ((rc = check_blob(p, x, m)) < 0) return rc;
    return m->blob[0] || is_hex40(x->etag) ? 3 : size >= 0 ? 1 : 0;
}

static int fetch_attempt(pull *p, const meta_file *m, xfer *x, const char *url, int *retry)
{
    int rc = transfer(p, x, url, retry);
    if (rc == 0) rc = verify(p, x, m, retry);
    progress_draw(x, 1);
    if (rc < 0 && x->bad_part) unlink(x->part);
    return rc;
}

// Downloads name (a fixed file or a validated shard name) as described by m.
static int fetch_named(pull *p, const char *name, const meta_file *m, int required)
{
    char final[PATH_CAP], part[PATH_CAP], url[URL_CAP], a[32];
    int rc, retry = 0;
    if (p->have_meta && !m->listed)
        return lisa_seterr(LISA_ENOTFOUND, "%s: %s has no such file at %s%s", name, p->repo, p->rev,
                           required ? "" : " (optional)");
    if ((rc = join(final, sizeof final, p->dest, name, "")) < 0 ||
        (rc = join(part, sizeof part, p->partdir, name, ".part")) < 0)
        return rc;
    if (keep_existing(p, name, m, final)) return p->rep->files_kept++, 0;
    if (snprintf(url, sizeof url, "%s/%s/resolve/%s/%s", p->endpoint, p->repo, p->pin, name) >= (int)sizeof url)
        return lisa_seterr(LISA_ETOOBIG, "%s: URL too long", name);
    check_sidecar(part, m->sha);
    sha256_ctx *sha = sha256_new();
    if (!sha) return lisa_seterr(LISA_ENOMEM, "%s: out of memory for its SHA-256", name);
    double t0 = mono_s();
    for (int attempt = 0;; attempt++) {
        xfer x = {.name = name,
                  .part = part,
                  .expect_size = m->size,
                  .linked_size = -1,
                  .sha = sha,
                  .total = m->size,
                  .out = p->out,
                  .last_decile = -1,
                  .tty = p->out && isatty(fileno(p->out))};
        retry = 0;
        sha256_reset(sha);
        rc = fetch_attempt(p, m, &x, url, &retry);
        if (rc >= 0) {
            p->rep->files_downloaded++;
            say(p->out, "  %s: %s in %.1f s, %s", name, fmt_bytes(x.have, a), mono_s() - t0,
                rc == 2   ? "sha256 ok"
                : rc == 3 ? "git blob id ok"
                : rc == 1 ? "size ok, no checksum from the server"
                          : "not verified (no size or checksum from the server)");
            rc = 0;
            break;
        }
        if (!retry || attempt >= p->retries) break;
        say(p->out, "  %s; retrying (%d of %d)", lisa_errmsg_for(rc), attempt + 1, p->retries);
        usleep((useconds_t)(250000u << (attempt < 5 ? attempt : 5)));
    }
    sha256_free(sha);
    if (rc < 0) return rc;
    if (rename(part, final) < 0) return lisa_seterr(LISA_EIO, "cannot move %s to %s: %s", part, final, strerror(errno));
    drop_sidecar(part);
    fsync_dir(p->dest);
    return 0;
}

static int fetch_file(pull *p, int idx, int required)
{
    return fetch_named(p, FILE_NAMES[idx], &p->meta[idx], required);
}

/* ---------------------------------------------------------------------------
 * The pull
 * ------------------------------------------------------------------------- */

// With a file list in hand, says up front what the repo lacks.
static int check_listing(pull *p)
{
    static const int need[] = {F_CONFIG, F_PREPROC};
    for (size_t i = 0; i < sizeof need / sizeof need[0]; i++)
        if (!p->meta[need[i]].listed)
            return lisa_seterr(LISA_ENOTFOUND, "%s at %s has no %s", p->repo, p->rev, FILE_NAMES[need[i]]);
    if (!p->meta[F_MODEL].listed && !p->meta[F_INDEX].listed)
        return lisa_seterr(LISA_ENOTFOUND,
                           "%s at %s has neither model.safetensors nor model.safetensors.index.json (LISA reads "
                           "safetensors checkpoints only)",
                           p->repo, p->rev);
    if (!p->meta[F_TOKENIZER].listed && !(p->meta[F_VOCAB].listed && p->meta[F_MERGES].listed) &&
        !p->meta[F_VOCABTXT].listed && !p->meta[F_SPIECE].listed)
        return lisa_seterr(LISA_ENOTFOUND,
                           "%s at %s has neither tokenizer.json nor vocab.json + "
                           "merges.txt (nor a BLIP vocab.txt or a SigLIP spiece.model)",
                           p->repo, p->rev);
    return 0;
}

static int fetch_optional(pull *p, int idx)
{
    int rc = fetch_file(p, idx, 0);
    if (rc != LISA_ENOTFOUND) return rc;
    say(p->out, "  %s: not in the repository (optional)", FILE_NAMES[idx]);
    p->rep->files_absent++;
    return 0;
}

/* ---------------------------------------------------------------------------
 * The weights: model.safetensors, or an index and its shards
 * ------------------------------------------------------------------------- */

// Each distinct shard the installed index names, with the same resume and
// verification as any file. The index is installed first, so an interrupted
// pull leaves it beside the shards it has so far: modeldir_check() calls that
// incomplete and the next run keeps what verifies and fetches the rest.
static int fetch_shards(pull *p)
{
    char path[PATH_CAP];
    ckpt_index ix;
    meta_file m;
    int rc;
    if ((rc = join(path, sizeof path, p->dest, CKPT_INDEX, "")) < 0) return rc;
    if ((rc = ckpt_index_load(path, &ix)) < 0) {
        unlink(path); // not a checkpoint we can use: leave no index that promises one
        ckpt_index_release(&ix);
        return rc;
    }
    say(p->out, "  %s: %zu tensors in %zu shard%s", CKPT_INDEX, ix.n, ix.nshards, ix.nshards == 1 ? "" : "s");
    p->rep->shards = (int)ix.nshards;
    for (size_t i = 0; rc == 0 && i < ix.nshards; i++) {
        memset(&m, 0, sizeof m);
        m.size = -1;
        if (p->have_meta) meta_lookup(p, ix.shards[i], &m);
        rc = fetch_named(p, ix.shards[i], &m, 1);
    }
    ckpt_index_release(&ix);
    return rc;
}

// With the API's file list the choice is known; without it, model.safetensors
// is tried first and a 404 falls back to the index.
static int fetch_weights(pull *p)
{
    char first[600];
    int rc;
    if (p->have_meta && !p->meta[F_MODEL].listed) {
        if ((rc = fetch_file(p, F_INDEX, 1)) < 0) return rc;
        return fetch_shards(p);
    }
    if ((rc = fetch_file(p, F_MODEL, 1)) != LISA_ENOTFOUND || p->have_meta) return rc;
    snprintf(first, sizeof first, "%s", lisa_errmsg_for(rc));
    say(p->out, "  %s: not in the repository; trying %s", CKPT_SINGLE, CKPT_INDEX);
    if ((rc = fetch_file(p, F_INDEX, 1)) == LISA_ENOTFOUND)
        return lisa_seterr(LISA_ENOTFOUND, "%s; nor is there a %s (HTTP 404)", first, CKPT_INDEX);
    if (rc < 0) return rc;
    return fetch_shards(p);
}

static int fetch_all(pull *p)
{
    int rc;
    if ((rc = fetch_file(p, F_CONFIG, 1)) < 0 || (rc = fetch_file(p, F_PREPROC, 1)) < 0) return rc;
    char type[32];
    modeldir_model_type(p->dest, type, sizeof type);
    if ((rc = fetch_file(p, F_TOKENIZER, 0)) == LISA_ENOTFOUND && !strncmp(type, "blip", 4)) {
        say(p->out, "  tokenizer.json: not in the repository; using vocab.txt");
        if ((rc = fetch_file(p, F_VOCABTXT, 1)) < 0) return rc;
    } else if (rc == LISA_ENOTFOUND && p->have_meta && p->meta[F_SPIECE].listed) {
        say(p->out, "  tokenizer.json: not in the repository; using spiece.model");
        if ((rc = fetch_file(p, F_SPIECE, 1)) < 0) return rc;
    } else if (rc == LISA_ENOTFOUND) {
        say(p->out, "  tokenizer.json: not in the repository; using vocab.json + merges.txt");
        if ((rc = fetch_file(p, F_VOCAB, 1)) < 0 || (rc = fetch_file(p, F_MERGES, 1)) < 0) return rc;
    } else if (rc < 0) {
        return rc;
    }
    if ((rc = fetch_optional(p, F_TOKCONF)) < 0 || (rc = fetch_optional(p, F_SPECIAL)) < 0) return rc;
    return fetch_weights(p);
}

static int pull_init(pull *p, const char *repo, const char *dest, const hub_opts *o)
{
    const char *ep = o && o->endpoint ? o->endpoint : getenv("LISA_HF_ENDPOINT");
    const char *rev = o && o->revision ? o->revision : HUB_DEFAULT_REVISION;
    if (!ep || !*ep) ep = HUB_DEFAULT_ENDPOINT;
    if (!repo || !valid_repo(repo))
        return lisa_seterr(LISA_EINVAL, "'%.100s' is not a valid repo id (owner/name)", repo ? repo : "");
    if (!hub_valid_revision(rev)) return lisa_seterr(LISA_EINVAL, "'%.100s' is not a valid revision", rev);
    size_t n = strlen(ep);
    if ((strncmp(ep, "http://", 7) && strncmp(ep, "https://", 8)) || n > ENDPOINT_MAX ||
        strpbrk(ep, " \t\r\n\"<>\\^`{|}"))
        return lisa_seterr(LISA_EINVAL, "hub endpoint '%.100s' is not an http(s) URL", ep);
    while (n > 0 && ep[n - 1] == '/') n--;
    memcpy(p->endpoint, ep, n);
    p->endpoint[n] = 0;
    snprintf(p->rev, sizeof p->rev, "%s", rev);
    snprintf(p->pin, sizeof p->pin, "%s", rev);
    p->repo = repo;
    p->dest = dest;
    p->out = o ? o->progress : NULL;
    p->retries = o && o->retries >= 0 ? o->retries : 3;
    p->stall = o && o->stall_seconds > 0 ? o->stall_seconds : 60;
    for (int i = 0; i < F_COUNT; i++) p->meta[i].size = -1;
    return join(p->partdir, sizeof p->partdir, dest, ".partial", "");
}

int hub_pull(const char *repo, const char *dest, const hub_opts *opts, hub_report *rep)
{
    static int curl_ready;
    hub_report scratch;
    pull p = {0};
    int rc;
    p.rep = rep ? rep : &scratch;
    memset(p.rep, 0, sizeof *p.rep);
    struct stat st;
    if (!dest || !*dest) return lisa_seterr(LISA_EINVAL, "no destination directory");
    if ((rc = pull_init(&p, repo, dest, opts)) < 0) return rc;
    int fresh = stat(dest, &st) < 0;
    if ((rc = mkdirs(dest)) < 0 || (rc = mkdirs(p.partdir)) < 0) return rc;
    if (!curl_ready && curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
        return lisa_seterr(LISA_ENET, "libcurl failed to initialise");
    curl_ready = 1;
    if (!(p.curl = curl_easy_init())) return lisa_seterr(LISA_ENOMEM, "libcurl: no handle");
    say(p.out, "pulling %s from %s into %s", repo, p.endpoint, dest);
    if ((rc = token_load(&p)) < 0) goto out;
    if (p.token[0]) say(p.out, "using the Hugging Face token from %s (sent to %s only)", p.token_from, p.endpoint);
    p.rep->token_sent = p.token[0] != 0;
    if ((rc = fetch_meta(&p)) < 0) goto out;
    if (p.have_meta && (rc = check_listing(&p)) < 0) goto out;
    rc = fetch_all(&p);
out:
    rmdir(p.partdir);                 // only when empty: parts of interrupted downloads stay for a resume
    if (rc < 0 && fresh) rmdir(dest); // only when empty: a failed first pull leaves no husk
    curl_easy_cleanup(p.curl);
    cJSON_Delete(p.api);
    explicit_bzero(p.token, sizeof p.token);
    return rc;
}

// Names kept and duplicates caught (issue 12): upload names (NFC, path parts
// stripped, unsafe names refused per file, a suffix only on a clash),
// original_name, /api/image/{name} by the NFC name, Content-Disposition
// (RFC 6266 / 5987), search with and without diacritics and in CJK without
// spaces, duplicates by SHA-256 at upload, GET /api/duplicates and
// `lisa duplicates --json` (exact and near groups), and the perceptual hash.
#include "testutil.h"
#include "base/err.h"
#include "image/image.h"
#include "image/phash.h"
#include "image/preprocess.h"
#include "search/keywords.h"
#include "server/server.h"
#include "store/store.h"

#include <cjson/cJSON.h>
#include <curl/curl.h>
#include <stdio.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

// "Zürich_Altstadt_été" in NFC and in NFD (as macOS file names come).
#define ZURICH_NFC "Z\xc3\xbcrich_Altstadt_\xc3\xa9t\xc3\xa9"
#define ZURICH_NFD "Zu\xcc\x88rich_Altstadt_e\xcc\x81te\xcc\x81"
#define TOKYO "\xe6\x9d\xb1\xe4\xba\xac\xe3\x82\xbf\xe3\x83\xaf\xe3\x83\xbc" // 東京タワー

static char g_data[512], g_lib[512];

// ---------------------------------------------------------------- images

// A photo-like test picture (as bench/dupes/dupes_set.py draws them): a sky
// and ground gradient and a few discs, placed by a seeded LCG.
static void picture(img_t *im, int w, int h, int seed)
{
    assert_int_equal(img_alloc(im, w, h), 0);
    uint32_t r = (uint32_t)seed * 2654435761u + 12345u;
#define RND(n) ((r = r * 1664525u + 1013904223u) >> 8) % (uint32_t)(n)
    int top[3], bot[3], cx[6], cy[6], rad[6], col[6][3], horizon = h / 4 + (int)RND(h / 2);
    for (int k = 0; k < 3; k++) top[k] = (int)RND(256), bot[k] = (int)RND(256);
    for (int d = 0; d < 6; d++) {
        cx[d] = (int)RND(w), cy[d] = (int)RND(h), rad[d] = w / 20 + (int)RND(w / 5);
        for (int k = 0; k < 3; k++) col[d][k] = (int)RND(256);
    }
#undef RND
    for (int y = 0; y < h; y++)
        for (int x = 0; x < w; x++) {
            uint8_t *p = im->px + ((size_t)y * w + x) * 3;
            for (int k = 0; k < 3; k++) {
                int v = (top[k] * (h - y) + bot[k] * y) / h;
                p[k] = (uint8_t)(y > horizon ? v / 2 : v);
            }
            for (int d = 0; d < 6; d++)
                if ((x - cx[d]) * (x - cx[d]) + (y - cy[d]) * (y - cy[d]) < rad[d] * rad[d])
                    for (int k = 0; k < 3; k++) p[k] = (uint8_t)col[d][k];
        }
}

static void write_picture(const char *path, int w, int h, int seed, int quality)
{
    img_t im;
    picture(&im, w, h, seed);
    assert_int_equal(img_write_jpeg(&im, quality, path), 0);
    img_release(&im);
}

// ---------------------------------------------------------------- HTTP

typedef struct {
    long status;
    char *body;
    size_t n;
    char disposition[1024];
} resp;

static size_t on_body(char *p, size_t sz, size_t nm, void *ud)
{
    resp *r = ud;
    size_t k = sz * nm;
    r->body = realloc(r->body, r->n + k + 1);
    memcpy(r->body + r->n, p, k);
    r->n += k;
    r->body[r->n] = 0;
    return k;
}

static size_t on_header(char *p, size_t sz, size_t nm, void *ud)
{
    resp *r = ud;
    size_t n = sz * nm, k = strlen("Content-Disposition:");
    if (n > k && !strncasecmp(p, "Content-Disposition:", k)) {
        const char *v = p + k + (p[k] == ' ');
        size_t len = n - (size_t)(v - p);
        while (len && (v[len - 1] == '\r' || v[len - 1] == '\n')) len--;
        snprintf(r->disposition, sizeof r->disposition, "%.*s", (int)len, v);
    }
    return n;
}

static resp request(int port, const char *method, const char *path, curl_mime *mime)
{
    resp r = {0};
    char url[4096];
    snprintf(url, sizeof url, "http://127.0.0.1:%d%s", port, path);
    CURL *c = curl_easy_init();
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
    if (!strcmp(method, "POST") && !mime) curl_easy_setopt(c, CURLOPT_POSTFIELDS, "");
    if (mime) curl_easy_setopt(c, CURLOPT_MIMEPOST, mime);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &r);
    curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(c, CURLOPT_HEADERDATA, &r);
    curl_easy_setopt(c, CURLOPT_TIMEOUT, 60L);
    CURLcode rc = curl_easy_perform(c);
    if (rc != CURLE_OK) fail_msg("%s %s: %s", method, path, curl_easy_strerror(rc));
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &r.status);
    curl_easy_cleanup(c);
    if (!r.body) r.body = calloc(1, 1);
    return r;
}

static cJSON *get_json(int port, const char *path, long want)
{
    resp r = request(port, "GET", path, NULL);
    if (r.status != want) fail_msg("GET %s: %ld, wanted %ld: %s", path, r.status, want, r.body);
    cJSON *o = cJSON_Parse(r.body);
    if (!o) fail_msg("GET %s: not JSON: %s", path, r.body);
    free(r.body);
    return o;
}

// Uploads n files (path, client name) in one request; the answer's JSON.
static cJSON *upload(int port, const char *const *paths, const char *const *names, int n, long want)
{
    CURL *c = curl_easy_init();
    curl_mime *m = curl_mime_init(c);
    for (int i = 0; i < n; i++) {
        curl_mimepart *p = curl_mime_addpart(m);
        curl_mime_name(p, "files");
        curl_mime_filedata(p, paths[i]);
        curl_mime_filename(p, names[i]);
    }
    resp r = request(port, "POST", "/api/upload", m);
    curl_mime_free(m);
    curl_easy_cleanup(c);
    if (r.status != want) fail_msg("upload: %ld, wanted %ld: %s", r.status, want, r.body);
    cJSON *o = cJSON_Parse(r.body);
    assert_non_null(o);
    free(r.body);
    return o;
}

static cJSON *file_n(cJSON *o, int i)
{
    return cJSON_GetArrayItem(cJSON_GetObjectItem(o, "files"), i);
}

static const char *str(const cJSON *o, const char *k)
{
    const cJSON *v = cJSON_GetObjectItem(o, k);
    if (!cJSON_IsString(v)) fail_msg("field %s is not a string", k);
    return v->valuestring;
}

static double num(const cJSON *o, const char *k)
{
    const cJSON *v = cJSON_GetObjectItem(o, k);
    if (!cJSON_IsNumber(v)) fail_msg("field %s is not a number", k);
    return v->valuedouble;
}

static srv *start(const char *data)
{
    srv_opts o;
    srv_opts_init(&o);
    static const char *folders[1];
    folders[0] = g_lib;
    o.data_dir = data, o.port = 0, o.quiet = 1, o.threads = 2, o.version = "test", o.no_model = 1;
    o.folders = folders, o.nfolders = 1;
    srv *s = NULL;
    if (srv_start(&o, &s) < 0) fail_msg("srv_start: %s", lisa_errmsg());
    return s;
}

static void build(int port)
{
    resp r = request(port, "POST", "/api/build", NULL);
    assert_int_equal(r.status, 202);
    free(r.body);
    for (int i = 0; i < 600; i++) {
        cJSON *b = get_json(port, "/api/build", 200);
        int running = !strcmp(str(b, "state"), "running");
        cJSON_Delete(b);
        if (!running) return;
        usleep(50000);
    }
    fail_msg("build did not finish in 30 s");
}

// The names of a search's results, joined by '|' (with original_name after '=').
static void search_names(int port, const char *q, char *out, size_t cap)
{
    char path[512], *enc = curl_easy_escape(NULL, q, 0);
    snprintf(path, sizeof path, "/api/search?q=%s", enc);
    curl_free(enc);
    cJSON *o = get_json(port, path, 200), *it;
    out[0] = 0;
    cJSON_ArrayForEach(it, cJSON_GetObjectItem(o, "results"))
    {
        size_t n = strlen(out);
        snprintf(out + n, cap - n, "%s=%s|", str(it, "name"), str(it, "original_name"));
    }
    cJSON_Delete(o);
}

static int count_images(void)
{
    char cmd[700], *out = NULL;
    snprintf(cmd, sizeof cmd, "ls %s/images | wc -l", g_data);
    assert_int_equal(tu_run(cmd, &out), 0);
    int n = atoi(out);
    free(out);
    return n;
}

// ---------------------------------------------------------------- tests

static int setup(void **state)
{
    (void)state;
    curl_global_init(CURL_GLOBAL_DEFAULT);
    snprintf(g_data, sizeof g_data, "%s", tu_tmp("data"));
    snprintf(g_lib, sizeof g_lib, "%s", tu_tmp("lib"));
    mkdir(g_lib, 0755);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    curl_global_cleanup();
    return 0;
}

static void test_phash(void **state)
{
    (void)state;
    img_t a, b, c, small;
    uint64_t ha, hb, hc, hs, again;
    picture(&a, 320, 240, 1);
    picture(&c, 320, 240, 2);
    assert_int_equal(img_resize_bicubic(&a, 160, 120, &small), 0);
    assert_int_equal(img_phash(&a, &ha), 0);
    assert_int_equal(img_phash(&a, &again), 0);
    assert_int_equal(img_phash(&small, &hs), 0);
    assert_int_equal(img_phash(&c, &hc), 0);
    assert_true(ha == again);
    assert_true(img_phash_distance(ha, hs) <= 4); // a resized copy
    assert_true(img_phash_distance(ha, hc) > 16); // another picture
    // 5% cropped away (2.5% off each side) stays near
    assert_int_equal(img_center_crop(&a, 304, 228, &b), 0);
    assert_int_equal(img_phash(&b, &hb), 0);
    assert_true(img_phash_distance(ha, hb) <= 10);
    // tiny images hash; an empty one is an error, not a crash
    img_t one;
    assert_int_equal(img_alloc(&one, 1, 1), 0);
    one.px[0] = one.px[1] = one.px[2] = 7;
    assert_int_equal(img_phash(&one, &hs), 0);
    img_t none = {0};
    assert_int_equal(img_phash(&none, &hs), LISA_EINVAL);
    assert_int_equal(img_phash_distance(0, ~(uint64_t)0), 64);
    // from a file, recompressed: near
    write_picture(tu_tmp("q90.jpg"), 320, 240, 1, 90);
    write_picture(tu_tmp("q30.jpg"), 320, 240, 1, 30);
    assert_int_equal(img_phash_load(tu_tmp("q90.jpg"), &ha), 0);
    assert_int_equal(img_phash_load(tu_tmp("q30.jpg"), &hb), 0);
    assert_true(img_phash_distance(ha, hb) <= 6);
    assert_true(img_phash_load(tu_tmp("missing.jpg"), &ha) < 0);
    img_release(&a), img_release(&b), img_release(&c), img_release(&small), img_release(&one);
}

static void test_upload_names(void **state)
{
    (void)state;
    srv *s = start(g_data);
    int port = srv_port(s);
    char p1[512], p2[512], p3[512], p4[512];
    snprintf(p1, sizeof p1, "%s", tu_tmp("a.jpg"));
    snprintf(p2, sizeof p2, "%s", tu_tmp("b.jpg"));
    snprintf(p3, sizeof p3, "%s", tu_tmp("c.jpg"));
    snprintf(p4, sizeof p4, "%s", tu_tmp("d.jpg"));
    write_picture(p1, 96, 64, 11, 90);
    write_picture(p2, 96, 64, 12, 90);
    write_picture(p3, 96, 64, 13, 90);
    write_picture(p4, 96, 64, 14, 90);
    const char *paths[] = {p1, p2, p3, p4, p4, p4, p4};
    const char *names[] = {ZURICH_NFD ".jpg", TOKYO ".jpg",      "C:\\Users\\me\\Pictures\\beach: day 1.jpg",
                           ".hidden.jpg",     "bad\x01name.jpg", "\xff\xfe.jpg",
                           "ok/..hidden.jpg"};
    cJSON *o = upload(port, paths, names, 7, 200);
    assert_int_equal((int)num(o, "saved"), 3);
    assert_int_equal((int)num(o, "failed"), 4);
    assert_int_equal((int)num(o, "duplicates"), 0);
    assert_string_equal(str(file_n(o, 0), "name"), ZURICH_NFC ".jpg"); // NFC, kept as sent
    assert_string_equal(str(file_n(o, 0), "original_name"), ZURICH_NFC ".jpg");
    assert_true(cJSON_IsNull(cJSON_GetObjectItem(file_n(o, 0), "duplicate_of")));
    assert_string_equal(str(file_n(o, 1), "name"), TOKYO ".jpg");
    assert_string_equal(str(file_n(o, 2), "name"), "beach: day 1.jpg"); // a Windows path's parts stripped
    for (int i = 3; i < 7; i++) {
        cJSON *f = file_n(o, i);
        assert_int_equal((int)num(f, "status"), 400);
        assert_string_equal(str(cJSON_GetObjectItem(f, "error"), "code"), "bad_name");
    }
    assert_non_null(strstr(str(cJSON_GetObjectItem(file_n(o, 3), "error"), "message"), "starts with a dot"));
    assert_non_null(strstr(str(cJSON_GetObjectItem(file_n(o, 4), "error"), "message"), "control character"));
    assert_non_null(strstr(str(cJSON_GetObjectItem(file_n(o, 5), "error"), "message"), "not valid UTF-8"));
    cJSON_Delete(o);
    assert_int_equal(count_images(), 3);

    // another picture under a name in use: a suffix; the original name is kept
    const char *clash[] = {p4}, *clash_name[] = {ZURICH_NFC ".jpg"};
    o = upload(port, clash, clash_name, 1, 200);
    assert_string_equal(str(file_n(o, 0), "name"), ZURICH_NFC "-1.jpg");
    assert_string_equal(str(file_n(o, 0), "original_name"), ZURICH_NFC ".jpg");
    cJSON_Delete(o);

    // the same bytes again, twice in one body, before any build: not stored
    const char *dup[] = {p2, p2}, *dup_name[] = {"copy.jpg", "copy2.jpg"};
    o = upload(port, dup, dup_name, 2, 200);
    assert_int_equal((int)num(o, "saved"), 0);
    assert_int_equal((int)num(o, "duplicates"), 2);
    for (int i = 0; i < 2; i++) {
        cJSON *d = cJSON_GetObjectItem(file_n(o, i), "duplicate_of");
        assert_true(cJSON_IsTrue(cJSON_GetObjectItem(file_n(o, i), "ok")));
        assert_string_equal(str(d, "name"), TOKYO ".jpg");
        assert_true(cJSON_IsNull(cJSON_GetObjectItem(d, "id"))); // not indexed yet
        assert_string_equal(str(file_n(o, i), "message"), "already in your library as " TOKYO ".jpg");
    }
    cJSON_Delete(o);
    assert_int_equal(count_images(), 4);

    build(port);
    // indexed now: the copy names its id
    o = upload(port, dup, dup_name, 1, 200);
    cJSON *d = cJSON_GetObjectItem(file_n(o, 0), "duplicate_of");
    assert_true(num(d, "id") > 0);
    assert_string_equal(str(d, "name"), TOKYO ".jpg");
    cJSON_Delete(o);

    // search: with and without diacritics, and CJK without spaces
    char got[2048];
    search_names(port, "zurich", got, sizeof got);
    assert_non_null(strstr(got, ZURICH_NFC ".jpg=" ZURICH_NFC ".jpg|"));
    assert_non_null(strstr(got, ZURICH_NFC "-1.jpg=" ZURICH_NFC ".jpg|"));
    search_names(port, "Z\xc3\xbcrich \xc3\xa9t\xc3\xa9", got, sizeof got);
    assert_non_null(strstr(got, ZURICH_NFC ".jpg="));
    search_names(port, "ete", got, sizeof got);
    assert_non_null(strstr(got, ZURICH_NFC ".jpg="));
    search_names(port, "\xe6\x9d\xb1\xe4\xba\xac", got, sizeof got); // 東京
    assert_string_equal(got, TOKYO ".jpg=" TOKYO ".jpg|");
    search_names(port, "\xe3\x82\xbf\xe3\x83\xaf\xe3\x83\xbc", got, sizeof got); // タワー
    assert_string_equal(got, TOKYO ".jpg=" TOKYO ".jpg|");
    search_names(port, "\xe4\xba\xac\xe9\x83\xbd", got, sizeof got); // 京都 shares 京 only: no match
    assert_string_equal(got, "");

    // /api/image by the NFD name; the download carries the original name
    char *enc = curl_easy_escape(NULL, ZURICH_NFD "-1.jpg", 0), path[512];
    snprintf(path, sizeof path, "/api/image/%s?download=1", enc);
    curl_free(enc);
    resp r = request(port, "GET", path, NULL);
    assert_int_equal(r.status, 200);
    assert_string_equal(r.disposition, "attachment; filename=\"Z_rich_Altstadt__t_.jpg\"; "
                                       "filename*=UTF-8''Z%C3%BCrich_Altstadt_%C3%A9t%C3%A9.jpg");
    size_t n;
    uint8_t *want = tu_read(p4, &n);
    assert_int_equal(r.n, n);
    assert_memory_equal(r.body, want, n);
    free(want), free(r.body);
    enc = curl_easy_escape(NULL, "beach: day 1.jpg", 0);
    snprintf(path, sizeof path, "/api/image/%s", enc);
    curl_free(enc);
    r = request(port, "GET", path, NULL);
    assert_int_equal(r.status, 200);
    assert_string_equal(r.disposition,
                        "inline; filename=\"beach: day 1.jpg\"; filename*=UTF-8''beach%3A%20day%201.jpg");
    free(r.body);

    // deleted: the content is new again
    enc = curl_easy_escape(NULL, TOKYO ".jpg", 0);
    snprintf(path, sizeof path, "/api/image/%s", enc);
    curl_free(enc);
    r = request(port, "DELETE", path, NULL);
    assert_int_equal(r.status, 200);
    free(r.body);
    o = upload(port, dup, dup_name, 1, 200);
    assert_int_equal((int)num(o, "saved"), 1);
    assert_string_equal(str(file_n(o, 0), "name"), "copy.jpg");
    cJSON_Delete(o);
    srv_stop(s);
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

// Files that could not be indexed are refused at upload with the reason.
static void test_upload_refused(void **state)
{
    (void)state;
    char data[512], big[512], cut[512], empty[512];
    snprintf(data, sizeof data, "%s", tu_tmp("data3"));
    // a GIF whose screen is 11000 x 10000 (110 MP): the header alone says so
    const uint8_t gif[] = {'G', 'I', 'F', '8', '9', 'a', 0xf8, 0x2a, 0x10, 0x27, 0, 0, 0, ';'};
    snprintf(big, sizeof big, "%s", tu_tmp("huge.gif"));
    tu_write(big, gif, sizeof gif);
    // a JPEG cut in half
    snprintf(cut, sizeof cut, "%s", tu_tmp("cut.jpg"));
    write_picture(cut, 640, 480, 5, 90);
    size_t n;
    uint8_t *jpg = tu_read(cut, &n);
    tu_write(cut, jpg, n / 2);
    free(jpg);
    snprintf(empty, sizeof empty, "%s", tu_tmp("empty.jpg"));
    tu_write(empty, "", 0);
    srv *s = start(data);
    const char *paths[] = {big, cut, empty}, *names[] = {"IMG.gif", "cut.jpg", "x.jpg"};
    cJSON *o = upload(srv_port(s), paths, names, 3, 422);
    assert_int_equal((int)num(o, "saved"), 0);
    cJSON *e0 = cJSON_GetObjectItem(file_n(o, 0), "error"), *e1 = cJSON_GetObjectItem(file_n(o, 1), "error");
    assert_int_equal((int)num(file_n(o, 0), "status"), 422);
    assert_string_equal(str(e0, "code"), "bad_image");
    assert_string_equal(str(e0, "message"), "IMG.gif is 110 MP; the limit is 100 MP.");
    assert_int_equal((int)num(file_n(o, 1), "status"), 422);
    assert_string_equal(str(e1, "code"), "bad_image");
    assert_non_null(strstr(str(e1, "message"), "cut.jpg cannot be read (JPEG: "));
    assert_string_equal(str(cJSON_GetObjectItem(file_n(o, 2), "error"), "message"), "x.jpg is empty.");
    cJSON_Delete(o);
    char cmd[1200], *out = NULL;
    snprintf(cmd, sizeof cmd, "ls -A %s/images %s/tmp | grep -v : | wc -w", data, data);
    assert_int_equal(tu_run(cmd, &out), 0);
    assert_int_equal(atoi(out), 0); // nothing kept anywhere
    free(out);
    srv_stop(s);
}

// Group kinds and the names in them, "kind:a,b;" per group, names and groups
// sorted (ids, and so the answer's order, follow the indexer's scan order).
static void groups_of(cJSON *o, char *out, size_t cap)
{
    cJSON *g, *im;
    char *gs[16], *names[16];
    int ng = 0;
    cJSON_ArrayForEach(g, cJSON_GetObjectItem(o, "groups"))
    {
        int nn = 0;
        assert_true(ng < 16);
        cJSON_ArrayForEach(im, cJSON_GetObjectItem(g, "images")) names[nn++] = strdup(str(im, "name"));
        qsort(names, (size_t)nn, sizeof *names, cmp_str);
        char buf[512];
        size_t n = (size_t)snprintf(buf, sizeof buf, "%s:", str(g, "kind"));
        for (int i = 0; i < nn; i++) {
            n += (size_t)snprintf(buf + n, sizeof buf - n, "%s%s", i ? "," : "", names[i]);
            free(names[i]);
        }
        snprintf(buf + n, sizeof buf - n, ";");
        gs[ng++] = strdup(buf);
        double sim = num(g, "similarity");
        assert_true(sim > 0.8 && sim <= 1.0);
    }
    qsort(gs, (size_t)ng, sizeof *gs, cmp_str);
    out[0] = 0;
    for (int i = 0; i < ng; i++) {
        size_t n = strlen(out);
        snprintf(out + n, cap - n, "%s", gs[i]);
        free(gs[i]);
    }
}

static int count_hashed(void *ud, const store_dup_entry *e)
{
    int *n = ud;
    n[0]++, n[1] += e->has_phash;
    return 0;
}

static void test_duplicates(void **state)
{
    (void)state;
    char data[512], p[1200];
    snprintf(data, sizeof data, "%s", tu_tmp("data2"));
    // the folder: a picture, a resized + recompressed copy, an exact copy, a
    // 5% crop of another, and an unrelated picture
    img_t a, small, crop;
    picture(&a, 400, 300, 21);
    assert_int_equal(img_resize_bicubic(&a, 200, 150, &small), 0);
    snprintf(p, sizeof p, "%s/pic.jpg", g_lib);
    assert_int_equal(img_write_jpeg(&a, 92, p), 0);
    snprintf(p, sizeof p, "%s/pic_small.jpg", g_lib);
    assert_int_equal(img_write_jpeg(&small, 40, p), 0);
    snprintf(p, sizeof p, "cp %s/pic.jpg %s/pic_copy.jpg", g_lib, g_lib);
    assert_int_equal(system(p), 0);
    img_release(&a);
    picture(&a, 400, 300, 22);
    snprintf(p, sizeof p, "%s/other.jpg", g_lib);
    assert_int_equal(img_write_jpeg(&a, 90, p), 0);
    assert_int_equal(img_center_crop(&a, 380, 285, &crop), 0);
    snprintf(p, sizeof p, "%s/other_crop.jpg", g_lib);
    assert_int_equal(img_write_jpeg(&crop, 90, p), 0);
    img_release(&a), img_release(&small), img_release(&crop);
    picture(&a, 400, 300, 25);
    for (int i = 0; i < 400 * 300 * 3; i++) a.px[i] = (uint8_t)(a.px[i] ^ (i / 3 % 400 < 200 ? 0xff : 0));
    snprintf(p, sizeof p, "%s/unrelated.jpg", g_lib);
    assert_int_equal(img_write_jpeg(&a, 90, p), 0);
    img_release(&a);

    srv *s = start(data);
    int port = srv_port(s);
    cJSON *o = get_json(port, "/api/duplicates", 200);
    assert_int_equal((int)num(o, "count"), 0); // nothing indexed yet
    cJSON_Delete(o);
    build(port);
    // the indexer stored every perceptual hash as it decoded the images
    store *st;
    char db[700];
    int n[2] = {0, 0};
    snprintf(db, sizeof db, "%s/lisa.db", data);
    assert_int_equal(store_open(db, 0, &st), 0);
    assert_int_equal(store_dup_list(st, count_hashed, n), 0);
    store_close(st);
    assert_int_equal(n[0], 6);
    assert_int_equal(n[1], 6);
    o = get_json(port, "/api/duplicates", 200);
    assert_int_equal((int)num(o, "images"), 6);
    char got[1024];
    groups_of(o, got, sizeof got);
    assert_string_equal(got, "exact:pic.jpg,pic_copy.jpg;near:other.jpg,other_crop.jpg;near:pic.jpg,pic_small.jpg;");
    assert_int_equal((int)num(o, "count"), 3);
    cJSON *img0 =
        cJSON_GetArrayItem(cJSON_GetObjectItem(cJSON_GetArrayItem(cJSON_GetObjectItem(o, "groups"), 0), "images"), 0);
    assert_string_equal(str(img0, "original_name"), "pic.jpg");
    assert_non_null(cJSON_GetObjectItem(img0, "thumb_url"));
    cJSON_Delete(o);
    srv_stop(s);

    // the CLI prints the same groups (the indexer stored the perceptual hashes)
    char cmd[1500], *out = NULL;
    snprintf(cmd, sizeof cmd, "%s duplicates --json --data %s 2>/dev/null", tu_build("lisa"), data);
    assert_int_equal(tu_run(cmd, &out), 0);
    o = cJSON_Parse(out);
    assert_non_null(o);
    groups_of(o, got, sizeof got);
    assert_string_equal(got, "exact:pic.jpg,pic_copy.jpg;near:other.jpg,other_crop.jpg;near:pic.jpg,pic_small.jpg;");
    cJSON_Delete(o);
    free(out);
    // a stricter threshold: the crop (more bits off than the resize) drops out
    snprintf(cmd, sizeof cmd, "%s duplicates --json --max-distance 1 --data %s 2>/dev/null", tu_build("lisa"), data);
    assert_int_equal(tu_run(cmd, &out), 0);
    o = cJSON_Parse(out);
    groups_of(o, got, sizeof got);
    assert_true(!strncmp(got, "exact:pic.jpg,pic_copy.jpg;", 27)); // the exact copies stay,
    assert_null(strstr(got, "other"));                             // the crop does not
    cJSON_Delete(o);
    free(out);
}

static void test_store_records(void **state)
{
    (void)state;
    store *st;
    char db[600], *name = NULL, *paths[4];
    const char *sha = "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
    snprintf(db, sizeof db, "%s", tu_tmp("records.db"));
    assert_int_equal(store_open(db, STORE_CREATE, &st), 0);
    assert_int_equal(store_upload_name(st, "/d/images/x.jpg", &name), LISA_ENOTFOUND);
    assert_int_equal(store_upload_put(st, "/d/images/x-1.jpg", ZURICH_NFC ".jpg", sha), 0);
    assert_int_equal(store_upload_put(st, "/d/images/y.jpg", "y.jpg", sha), 0);
    assert_int_equal(store_upload_name(st, "/d/images/x-1.jpg", &name), 0);
    assert_string_equal(name, ZURICH_NFC ".jpg");
    free(name);
    int n;
    assert_int_equal(store_upload_by_hash(st, sha, paths, 4, &n), 0);
    assert_int_equal(n, 2);
    assert_string_equal(paths[0], "/d/images/x-1.jpg"); // oldest first
    free(paths[0]), free(paths[1]);
    assert_int_equal(store_upload_forget(st, "/d/images/x-1.jpg"), 0);
    assert_int_equal(store_upload_by_hash(st, sha, paths, 4, &n), 0);
    assert_int_equal(n, 1);
    free(paths[0]);
    assert_int_equal(store_upload_put(st, "/d/images/z.jpg", "z.jpg", "not-a-hash"), LISA_EINVAL);
    uint64_t ph = 0;
    assert_int_equal(store_phash_get(st, sha, &ph), LISA_ENOTFOUND);
    assert_int_equal(store_phash_put(st, sha, 0xfedcba9876543210ull), 0); // the top bit survives the signed column
    assert_int_equal(store_phash_get(st, sha, &ph), 0);
    assert_true(ph == 0xfedcba9876543210ull);
    store_close(st);
}

// CJK runs in a query become the AND of their character bigrams.
static void test_cjk_query(void **state)
{
    (void)state;
    kw *k;
    char *q;
    assert_int_equal(kw_new(&k), 0);
    assert_int_equal(kw_query(k, TOKYO, &q), 0);
    assert_string_equal(q, "(\"\xe6\x9d\xb1 \xe4\xba\xac\" AND \"\xe4\xba\xac \xe3\x82\xbf\" AND "
                           "\"\xe3\x82\xbf \xe3\x83\xaf\" AND \"\xe3\x83\xaf \xe3\x83\xbc\")");
    free(q);
    assert_int_equal(kw_query(k, "\xe7\x8c\xab dogs", &q), 0); // 猫: one character alone
    assert_string_equal(q, "\"\xe7\x8c\xab\" OR \"dog\"");
    free(q);
    kw_free(k);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_phash),        cmocka_unit_test(test_store_records),  cmocka_unit_test(test_cjk_query),
        cmocka_unit_test(test_upload_names), cmocka_unit_test(test_upload_refused), cmocka_unit_test(test_duplicates),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}

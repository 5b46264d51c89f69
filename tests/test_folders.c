// The live library through the server, in process with the tiny-a model:
// GET/POST/DELETE /api/folders (shape, validation, 409s, persistence across a
// restart, removal from the index but never from disk), the watcher behind
// `lisa serve` (a photo copied in is searchable within 5 s, a deleted one
// gone within 5 s, a renamed one keeps its id; work done while stopped is
// caught up at start), indexing after upload (on, and off), and the PWA's
// share target (POST /share: 303 to the UI; the token still applies).
#include "testutil.h"
#include "base/clock.h"
#include "base/err.h"
#include "image/image.h"
#include "server/server.h"

#include <curl/curl.h>
#include <stdio.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static char g_data[512], g_lib[4096], g_new[4096];

static const char *tiny(void)
{
    static char p[1536];
    if (!p[0]) snprintf(p, sizeof p, "%s", tu_build("models/tiny-a"));
    return p;
}

static void make_image(const char *path, int k)
{
    img_t im;
    assert_int_equal(img_alloc(&im, 32, 24), 0);
    for (int i = 0; i < 32 * 24 * 3; i++) im.px[i] = (uint8_t)(i * (k + 5) + k * 13);
    assert_int_equal(img_write_jpeg(&im, 90, path), 0);
    img_release(&im);
}

static const char *in(const char *dir, const char *name)
{
    static char p[4][4400];
    static int i;
    i = (i + 1) % 4;
    snprintf(p[i], sizeof p[i], "%s/%s", dir, name);
    return p[i];
}

// ---------------------------------------------------------------- HTTP

typedef struct {
    long status;
    char *body;
    size_t n;
    char location[256];
} resp;

static size_t on_body(char *p, size_t sz, size_t nm, void *ud)
{
    resp *r = ud;
    char *b = realloc(r->body, r->n + sz * nm + 1);
    assert_non_null(b);
    memcpy(b + r->n, p, sz * nm);
    r->n += sz * nm, b[r->n] = 0, r->body = b;
    return sz * nm;
}

static size_t on_header(char *p, size_t sz, size_t nm, void *ud)
{
    resp *r = ud;
    size_t n = sz * nm;
    if (n > 10 && !strncasecmp(p, "Location: ", 10)) {
        size_t k = n - 10;
        while (k && (p[10 + k - 1] == '\r' || p[10 + k - 1] == '\n')) k--;
        snprintf(r->location, sizeof r->location, "%.*s", (int)k, p + 10);
    }
    return n;
}

// method path [json body] [upload file] [auth header]
static resp http(int port, const char *method, const char *path, const char *json, const char *file, const char *auth)
{
    resp r = {0};
    CURL *c = curl_easy_init();
    char url[1024];
    snprintf(url, sizeof url, "http://127.0.0.1:%d%s", port, path);
    struct curl_slist *h = NULL;
    curl_mime *mime = NULL;
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &r);
    curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(c, CURLOPT_HEADERDATA, &r);
    if (json) {
        h = curl_slist_append(h, "Content-Type: application/json");
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, json);
    }
    if (auth) h = curl_slist_append(h, auth);
    if (file) {
        mime = curl_mime_init(c);
        curl_mimepart *part = curl_mime_addpart(mime);
        curl_mime_name(part, "files");
        curl_mime_filedata(part, file);
        curl_easy_setopt(c, CURLOPT_MIMEPOST, mime);
    }
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
    assert_int_equal(curl_easy_perform(c), CURLE_OK);
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &r.status);
    curl_mime_free(mime);
    curl_slist_free_all(h);
    curl_easy_cleanup(c);
    return r;
}

static cJSON *json_of(resp *r, long want)
{
    if (r->status != want) fail_msg("status %ld, want %ld: %s", r->status, want, r->body ? r->body : "");
    cJSON *o = cJSON_Parse(r->body);
    assert_non_null(o);
    free(r->body);
    return o;
}

static void expect_error(int port, const char *method, const char *path, const char *json, long status,
                         const char *code)
{
    resp r = http(port, method, path, json, NULL, NULL);
    cJSON *o = json_of(&r, status);
    const cJSON *e = cJSON_GetObjectItem(o, "error");
    assert_string_equal(cJSON_GetObjectItem(e, "code")->valuestring, code);
    assert_true(strlen(cJSON_GetObjectItem(e, "message")->valuestring) > 5);
    cJSON_Delete(o);
}

static double num(const cJSON *o, const char *k)
{
    const cJSON *v = cJSON_GetObjectItem(o, k);
    if (!cJSON_IsNumber(v)) fail_msg("%s is not a number", k);
    return v->valuedouble;
}

// ---------------------------------------------------------------- server

static srv *start(int auto_index, const char *token)
{
    srv_opts o;
    srv_opts_init(&o);
    static const char *folders[1];
    folders[0] = g_lib;
    o.data_dir = g_data, o.port = 0, o.models = tiny(), o.quiet = 1, o.threads = 4, o.version = "test";
    o.folders = folders, o.nfolders = 1, o.no_ocr = 1, o.no_captions = 1;
    o.watch = 1, o.auto_index = auto_index, o.token = token;
    srv *s = NULL;
    if (srv_start(&o, &s) < 0) fail_msg("srv_start: %s", lisa_errmsg());
    return s;
}

// The names of the results of query (space-separated, one string).
static int search_has(int port, const char *query, const char *name)
{
    char path[512];
    snprintf(path, sizeof path, "/api/search?query=%s&top_k=50&clip_weight=0", query);
    resp r = http(port, "GET", path, NULL, NULL, NULL);
    cJSON *o = json_of(&r, 200), *x;
    int yes = 0;
    cJSON_ArrayForEach(x, cJSON_GetObjectItem(o, "results")) yes |=
        !strcmp(cJSON_GetObjectItem(x, "name")->valuestring, name);
    cJSON_Delete(o);
    return yes;
}

static double until_search(int port, const char *query, const char *name, int want, double seconds)
{
    double t0 = mono_s();
    while (mono_s() - t0 < seconds) {
        if (search_has(port, query, name) == want) return mono_s() - t0;
        usleep(100 * 1000);
    }
    return -1;
}

static int64_t id_of(int port, const char *query, const char *name)
{
    char path[512];
    snprintf(path, sizeof path, "/api/search?query=%s&top_k=50&clip_weight=0", query);
    resp r = http(port, "GET", path, NULL, NULL, NULL);
    cJSON *o = json_of(&r, 200), *x;
    int64_t id = 0;
    cJSON_ArrayForEach(x, cJSON_GetObjectItem(o, "results")) if (!strcmp(cJSON_GetObjectItem(x, "name")->valuestring,
                                                                         name)) id = (int64_t)num(x, "id");
    cJSON_Delete(o);
    return id;
}

static cJSON *folder_at(cJSON *list, const char *path)
{
    cJSON *x;
    cJSON_ArrayForEach(x, cJSON_GetObjectItem(list, "folders")) if (!strcmp(cJSON_GetObjectItem(x, "path")->valuestring,
                                                                            path)) return x;
    return NULL;
}

static cJSON *folders(int port)
{
    resp r = http(port, "GET", "/api/folders", NULL, NULL, NULL);
    return json_of(&r, 200);
}

static int setup(void **state)
{
    (void)state;
    curl_global_init(CURL_GLOBAL_DEFAULT);
    snprintf(g_data, sizeof g_data, "%s", tu_tmp("data"));
    mkdir(tu_tmp("lib"), 0755), mkdir(tu_tmp("new"), 0755);
    if (!realpath(tu_tmp("lib"), g_lib) || !realpath(tu_tmp("new"), g_new)) return -1;
    make_image(in(g_lib, "first.jpg"), 1);
    make_image(in(g_new, "walrus.jpg"), 10);
    make_image(in(g_new, "narwhal.jpg"), 11);
    make_image(in(g_new, "beluga.jpg"), 12);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    curl_global_cleanup();
    return 0;
}

// ---------------------------------------------------------------- tests

static void test_folders_api(void **state)
{
    (void)state;
    srv *s = start(1, NULL);
    int port = srv_port(s);
    assert_true(until_search(port, "first", "first.jpg", 1, 10) >= 0); // the catch-up run at start
    cJSON *l = folders(port);
    assert_true(cJSON_IsTrue(cJSON_GetObjectItem(l, "auto_index")));
    assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItem(l, "folders")), 2);
    cJSON *b = cJSON_GetArrayItem(cJSON_GetObjectItem(l, "folders"), 0), *f = folder_at(l, g_lib);
    assert_true(cJSON_IsTrue(cJSON_GetObjectItem(b, "builtin")));
    assert_int_equal((int)num(b, "id"), 0);
    assert_non_null(f);
    assert_true(num(f, "id") >= 1);
    assert_int_equal((int)num(f, "images"), 1);
    assert_string_equal(cJSON_GetObjectItem(f, "status")->valuestring, "ok");
    assert_true(cJSON_IsTrue(cJSON_GetObjectItem(f, "watching")));
    assert_true(cJSON_IsFalse(cJSON_GetObjectItem(f, "builtin")));
    cJSON_Delete(l);

    char body[4600];
    expect_error(port, "POST", "/api/folders", "{\"path\": \"/nonexistent/lisa\"}", 400, "bad_request");
    expect_error(port, "POST", "/api/folders", "{\"path\": \"relative/dir\"}", 400, "bad_request");
    expect_error(port, "POST", "/api/folders", "not json", 400, "bad_request");
    snprintf(body, sizeof body, "{\"path\": \"%s\"}", in(g_lib, "first.jpg"));
    expect_error(port, "POST", "/api/folders", body, 400, "bad_request"); // a file
    snprintf(body, sizeof body, "{\"path\": \"%s\"}", g_lib);
    expect_error(port, "POST", "/api/folders", body, 409, "exists");
    char data_real[4096];
    assert_non_null(realpath(g_data, data_real));
    snprintf(body, sizeof body, "{\"path\": \"%s/images\"}", data_real);
    expect_error(port, "POST", "/api/folders", body, 409, "exists"); // the data dir, twice
    snprintf(body, sizeof body, "{\"path\": \"%s\"}", data_real);
    expect_error(port, "POST", "/api/folders", body, 409, "exists");
    mkdir(in(g_lib, "sub"), 0755);
    snprintf(body, sizeof body, "{\"path\": \"%s\"}", in(g_lib, "sub"));
    expect_error(port, "POST", "/api/folders", body, 409, "exists"); // inside a folder
    expect_error(port, "DELETE", "/api/folders/0", NULL, 400, "bad_request");
    expect_error(port, "DELETE", "/api/folders/999", NULL, 404, "not_found");
    expect_error(port, "PUT", "/api/folders", NULL, 405, "method_not_allowed");

    snprintf(body, sizeof body, "{\"path\": \"%s\"}", g_new);
    resp r = http(port, "POST", "/api/folders", body, NULL, NULL);
    cJSON *nf = json_of(&r, 201);
    assert_string_equal(cJSON_GetObjectItem(nf, "path")->valuestring, g_new);
    int id = (int)num(nf, "id");
    cJSON_Delete(nf);
    assert_true(until_search(port, "beluga", "beluga.jpg", 1, 10) >= 0); // indexed without a build
    l = folders(port);
    assert_int_equal((int)num(folder_at(l, g_new), "images"), 3);
    cJSON_Delete(l);
    srv_stop(s);

    s = start(1, NULL); // persisted
    port = srv_port(s);
    l = folders(port);
    assert_non_null(folder_at(l, g_new));
    cJSON_Delete(l);
    char del[64];
    snprintf(del, sizeof del, "/api/folders/%d", id);
    r = http(port, "DELETE", del, NULL, NULL, NULL);
    cJSON *d = json_of(&r, 200);
    assert_int_equal((int)num(d, "removed"), 3);
    cJSON_Delete(d);
    assert_int_equal(access(in(g_new, "walrus.jpg"), F_OK), 0); // never from disk
    assert_int_equal(search_has(port, "beluga", "beluga.jpg"), 0);
    l = folders(port);
    assert_null(folder_at(l, g_new));
    cJSON_Delete(l);
    make_image(in(g_new, "orca.jpg"), 19); // no longer watched
    usleep(1500 * 1000);
    assert_int_equal(search_has(port, "orca", "orca.jpg"), 0);
    expect_error(port, "DELETE", del, NULL, 404, "not_found");
    srv_stop(s);
}

static void test_watch_through_server(void **state)
{
    (void)state;
    srv *s = start(1, NULL);
    int port = srv_port(s);
    usleep(500 * 1000);
    char tmp[4600];
    snprintf(tmp, sizeof tmp, "%s", tu_tmp("pelican.jpg"));
    make_image(tmp, 30);
    tu_copy(tmp, in(g_lib, "pelican.jpg")); // a photo copied in
    double t = until_search(port, "pelican", "pelican.jpg", 1, 5);
    assert_true(t >= 0);
    fprintf(stderr, "test_folders: copied photo searchable after %.2f s\n", t);
    int64_t id = id_of(port, "pelican", "pelican.jpg");
    assert_int_equal(rename(in(g_lib, "pelican.jpg"), in(g_lib, "heron.jpg")), 0);
    assert_true(until_search(port, "heron", "heron.jpg", 1, 5) >= 0);
    assert_int_equal(id_of(port, "heron", "heron.jpg"), id); // same row: vector and caption kept
    assert_int_equal(unlink(in(g_lib, "heron.jpg")), 0);
    t = until_search(port, "heron", "heron.jpg", 0, 5);
    assert_true(t >= 0);
    fprintf(stderr, "test_folders: deleted photo gone after %.2f s\n", t);
    srv_stop(s);

    make_image(in(g_lib, "stork.jpg"), 31); // while the server is stopped
    s = start(1, NULL);
    port = srv_port(s);
    assert_true(until_search(port, "stork", "stork.jpg", 1, 10) >= 0);
    srv_stop(s);
}

static void test_upload_auto_index(void **state)
{
    (void)state;
    char f[4600];
    snprintf(f, sizeof f, "%s", tu_tmp("flamingo.jpg"));
    make_image(f, 40);
    srv *s = start(1, NULL);
    int port = srv_port(s);
    resp r = http(port, "POST", "/api/upload", NULL, f, NULL);
    cJSON_Delete(json_of(&r, 200));
    assert_true(until_search(port, "flamingo", "flamingo.jpg", 1, 5) >= 0); // no Build click
    srv_stop(s);

    snprintf(f, sizeof f, "%s", tu_tmp("toucan.jpg"));
    make_image(f, 41);
    s = start(0, NULL); // auto_index off
    port = srv_port(s);
    cJSON *l = folders(port);
    assert_true(cJSON_IsFalse(cJSON_GetObjectItem(l, "auto_index")));
    cJSON_Delete(l);
    r = http(port, "POST", "/api/upload", NULL, f, NULL);
    cJSON_Delete(json_of(&r, 200));
    usleep(2000 * 1000);
    assert_int_equal(search_has(port, "toucan", "toucan.jpg"), 0);
    r = http(port, "POST", "/api/build", NULL, NULL, NULL); // the Build button still works
    assert_true(r.status == 202 || r.status == 409);
    free(r.body);
    assert_true(until_search(port, "toucan", "toucan.jpg", 1, 10) >= 0);
    srv_stop(s);
}

static void test_share_target(void **state)
{
    (void)state;
    char f[4600];
    snprintf(f, sizeof f, "%s", tu_tmp("puffin.jpg"));
    make_image(f, 50);
    srv *s = start(1, "tok-123");
    int port = srv_port(s);
    resp r = http(port, "POST", "/share", NULL, f, NULL);
    assert_int_equal(r.status, 401); // the token guards the share target too
    free(r.body);
    r = http(port, "POST", "/share", NULL, f, "Authorization: Bearer tok-123");
    assert_int_equal(r.status, 303);
    assert_string_equal(r.location, "/?shared=1&failed=0");
    free(r.body);
    r = http(port, "GET", "/share", NULL, NULL, "Authorization: Bearer tok-123");
    assert_int_equal(r.status, 405);
    free(r.body);
    r = http(port, "GET", "/api/search?query=puffin&clip_weight=0", NULL, NULL, "Authorization: Bearer tok-123");
    double t0 = mono_s();
    while (r.body && !strstr(r.body, "puffin.jpg") && mono_s() - t0 < 5) {
        free(r.body);
        usleep(100 * 1000);
        r = http(port, "GET", "/api/search?query=puffin&clip_weight=0", NULL, NULL, "Authorization: Bearer tok-123");
    }
    assert_non_null(strstr(r.body, "puffin.jpg"));
    free(r.body);
    srv_stop(s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_folders_api),
        cmocka_unit_test(test_watch_through_server),
        cmocka_unit_test(test_upload_auto_index),
        cmocka_unit_test(test_share_target),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}

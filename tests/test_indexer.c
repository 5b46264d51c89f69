// Indexer and search over a real store: incremental add/change/delete/rename/
// copy, resume after kill -9, search while an index run writes, the
// keyword-only fallback, and hybrid ranking with the tiny-a fixture model and
// known vectors.
#include "testutil.h"
#include "base/err.h"
#include "clip/clip.h"
#include "image/image.h"
#include "search/indexer.h"
#include "search/search.h"
#include "store/store.h"

#include <dirent.h>
#include <fcntl.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define TINY tu_build("models/tiny-a")

static void sh(const char *fmt, const char *a, const char *b)
{
    char cmd[2048];
    snprintf(cmd, sizeof cmd, fmt, a, b);
    assert_int_equal(system(cmd), 0);
}

static void cp(const char *src, const char *dst)
{
    sh("cp '%s' '%s'", src, dst);
}

static indexer_stats run_index_opts(const char *root, const char *data, clip_model *m, int retry_failed)
{
    indexer_opts o;
    indexer_opts_init(&o);
    o.data_dir = data, o.model = m, o.model_id = m ? "tiny-a" : NULL, o.progress = 0, o.threads = 2;
    o.batch = 4, o.retry_failed = retry_failed;
    FILE *null = fopen("/dev/null", "w");
    o.out = null;
    indexer_stats st;
    const char *paths[] = {root};
    int rc = indexer_run(paths, 1, &o, &st);
    if (rc < 0) fail_msg("indexer_run: %s", lisa_errmsg());
    fclose(null);
    return st;
}

static indexer_stats run_index(const char *root, const char *data, clip_model *m)
{
    return run_index_opts(root, data, m, 0);
}

static store *open_store(const char *data)
{
    char p[1024];
    snprintf(p, sizeof p, "%s/lisa.db", data);
    store *s;
    assert_int_equal(store_open(p, 0, &s), 0);
    return s;
}

static int64_t count(const char *data)
{
    store *s = open_store(data);
    int64_t n;
    assert_int_equal(store_image_count(s, &n), 0);
    store_close(s);
    return n;
}

static int64_t id_of(const char *data, const char *path)
{
    char abs[4096];
    assert_non_null(realpath(path, abs));
    store *s = open_store(data);
    store_image im = {0};
    int rc = store_image_get_by_path(s, abs, &im);
    int64_t id = rc == 0 ? im.id : -1;
    store_image_clear(&im);
    store_close(s);
    return id;
}

// ---------------------------------------------------------------- incremental

static void test_incremental(void **state)
{
    (void)state;
    char lib[512], data[512], p[600], q[600];
    snprintf(lib, sizeof lib, "%s", tu_tmp("inc/Holidays"));
    snprintf(data, sizeof data, "%s", tu_tmp("inc/data"));
    sh("mkdir -p '%s/sub' '%s'", lib, data);
    static const char *imgs[] = {"land.jpg", "port.jpg", "tiny.png", "wide.jpg"};
    for (int i = 0; i < 4; i++) {
        snprintf(p, sizeof p, "%s/%s", lib, imgs[i]);
        char src[256];
        snprintf(src, sizeof src, "tests/data/images/%s", imgs[i]);
        cp(src, p);
    }
    snprintf(p, sizeof p, "%s/notes.txt", lib);
    tu_write(p, "not an image at all\n", 20);
    snprintf(p, sizeof p, "%s/broken.jpg", lib);
    cp("tests/data/images/bad/header_only.jpg", p);

    indexer_stats st = run_index(lib, data, NULL);
    assert_int_equal(st.files, 6);
    assert_int_equal(st.added, 4);
    assert_int_equal(st.nonimage, 1);
    assert_int_equal(st.failed, 1);
    assert_int_equal(count(data), 4);
    snprintf(p, sizeof p, "%s/thumbnails", data);
    struct stat sb;
    assert_int_equal(stat(p, &sb), 0);

    st = run_index(lib, data, NULL); // unchanged: nothing decoded
    assert_int_equal(st.unchanged, 4);
    assert_int_equal(st.added + st.changed + st.moved + st.removed, 0);

    snprintf(p, sizeof p, "%s/port.jpg", lib); // change content
    int64_t port_id = id_of(data, p);
    cp("tests/data/images/gray.jpg", p);
    snprintf(p, sizeof p, "%s/land.jpg", lib); // rename into a subfolder
    int64_t land_id = id_of(data, p);
    snprintf(q, sizeof q, "%s/sub/beach.jpg", lib);
    sh("mv '%s' '%s'", p, q);
    snprintf(p, sizeof p, "%s/tiny.png", lib); // delete
    sh("rm '%s'%s", p, "");
    snprintf(p, sizeof p, "%s/wide.jpg", lib); // copy
    snprintf(q, sizeof q, "%s/wide_copy.jpg", lib);
    cp(p, q);

    st = run_index(lib, data, NULL);
    assert_int_equal(st.changed, 1);
    assert_int_equal(st.moved, 1);
    assert_int_equal(st.copied, 1);
    assert_int_equal(st.removed, 1);
    assert_int_equal(st.added, 0);
    assert_int_equal(st.unchanged, 1); // wide.jpg
    assert_int_equal(count(data), 4);
    snprintf(p, sizeof p, "%s/port.jpg", lib);
    assert_int_equal(id_of(data, p), port_id); // changed in place
    snprintf(q, sizeof q, "%s/sub/beach.jpg", lib);
    assert_int_equal(id_of(data, q), land_id); // the move kept the record

    search_opts so = {data, NULL, NULL, NULL}; // keyword search finds the new name
    search_ctx *s;
    search_results res;
    assert_int_equal(search_open(&so, &s), 0);
    assert_int_equal(search_query(s, "beaches", 10, 0.7, &res), 0);
    assert_int_equal(res.n, 1);
    assert_non_null(strstr(res.r[0].path, "sub/beach.jpg"));
    assert_true(res.keyword_only);
    assert_non_null(strstr(res.message, "lisa models pull clip-vit-base-patch32-laion2b"));
    assert_true(res.r[0].keyword_score == 1.0f && res.r[0].bm25 > 0);
    search_results_free(&res);
    assert_int_equal(search_query(s, "holidays", 10, 0.7, &res), 0); // root folder name
    assert_int_equal(res.n, 4);
    search_results_free(&res);
    search_close(s);
}

// ---------------------------------------------------------------- failures

static int64_t failures(const char *data)
{
    store *s = open_store(data);
    store_stats st;
    assert_int_equal(store_get_stats(s, &st), 0);
    store_close(s);
    return st.failed;
}

static int fail_fn(void *ud, const store_failure *f)
{
    char *why = ud;
    snprintf(why, 512, "%s", f->error);
    return 0;
}

// A corrupt file is warned about once and remembered: unchanged, later runs
// skip it without decoding; changed, fixed, retried or deleted, it is tried
// again or forgotten.
static void test_failures(void **state)
{
    (void)state;
    char lib[512], data[512], bad[600], why[512] = "";
    snprintf(lib, sizeof lib, "%s", tu_tmp("fail/lib"));
    snprintf(data, sizeof data, "%s", tu_tmp("fail/data"));
    sh("mkdir -p '%s' '%s'", lib, data);
    snprintf(bad, sizeof bad, "%s/land.jpg", lib);
    cp("tests/data/images/port.jpg", bad);
    snprintf(bad, sizeof bad, "%s/broken.jpg", lib);
    cp("tests/data/images/bad/header_only.jpg", bad);

    indexer_stats st = run_index(lib, data, NULL);
    assert_int_equal(st.added, 1);
    assert_int_equal(st.failed, 1);
    assert_int_equal(failures(data), 1);
    store *s = open_store(data);
    assert_int_equal(store_failure_list(s, NULL, fail_fn, why), 0);
    store_close(s);
    assert_non_null(strstr(why, "broken.jpg")); // the warning's text, naming the file

    st = run_index(lib, data, NULL); // unchanged: skipped, not warned again
    assert_int_equal(st.failed, 0);
    assert_int_equal(st.failed_before, 1);
    assert_int_equal(st.unchanged, 1);

    st = run_index_opts(lib, data, NULL, 1); // --retry-failed: decoded (and failing) again
    assert_int_equal(st.failed, 1);
    assert_int_equal(st.failed_before, 0);
    assert_int_equal(failures(data), 1);

    sh("touch -d '2001-01-01' '%s'%s", bad, ""); // changed mtime: tried again
    st = run_index(lib, data, NULL);
    assert_int_equal(st.failed, 1);
    assert_int_equal(st.failed_before, 0);

    cp("tests/data/images/gray.jpg", bad); // fixed: indexed and forgotten
    st = run_index(lib, data, NULL);
    assert_int_equal(st.added, 1);
    assert_int_equal(st.failed + st.failed_before, 0);
    assert_int_equal(failures(data), 0);
    assert_int_equal(count(data), 2);

    cp("tests/data/images/bad/header_only.jpg", bad); // broken again, then deleted: forgotten
    st = run_index(lib, data, NULL);
    assert_int_equal(st.failed, 1);
    assert_int_equal(failures(data), 1);
    sh("rm '%s'%s", bad, "");
    st = run_index(lib, data, NULL);
    assert_int_equal(failures(data), 0);
    assert_int_equal(count(data), 1);
}

// ---------------------------------------------------------------- progress

static void make_images(const char *dir, int n);

typedef struct {
    long long found, hash_calls, index_calls, done_steps, last_done, errors, total;
    indexer_steps steps;
    int backwards, no_current;
} prog_log;

static void prog_fn(void *ud, const indexer_progress *p)
{
    prog_log *g = ud;
    if (!strcmp(p->phase, "scan")) {
        if (p->found < g->found) g->backwards++;
        g->found = p->found;
    } else if (!strcmp(p->phase, "hash")) {
        g->hash_calls++;
    } else if (!strcmp(p->phase, "index")) {
        g->index_calls++;
        if (p->done == g->last_done + 1)
            g->done_steps++; // one file more
        else if (p->done != g->last_done)
            g->backwards++; // a jump or a step back
        if (p->done > 0 && !p->current) g->no_current++;
        g->last_done = p->done, g->total = p->total;
    }
    g->errors = p->errors, g->steps = p->steps;
}

// A 5-image library (below one batch) reports every file: the scan counts
// found files up, indexing moves done by one per file with its steps, and the
// broken file is an error as it happens.
static void test_progress(void **state)
{
    (void)state;
    char lib[512], data[512], p[700];
    snprintf(lib, sizeof lib, "%s", tu_tmp("prog/lib"));
    snprintf(data, sizeof data, "%s", tu_tmp("prog/data"));
    make_images(lib, 5);
    snprintf(p, sizeof p, "%s/broken.jpg", lib);
    cp("tests/data/images/bad/header_only.jpg", p);
    snprintf(p, sizeof p, "%s/notes.txt", lib);
    tu_write(p, "no image\n", 9);
    indexer_opts o;
    indexer_opts_init(&o);
    prog_log g = {0};
    o.data_dir = data, o.progress = 0, o.threads = 2, o.on_progress = prog_fn, o.ud = &g;
    FILE *null = fopen("/dev/null", "w");
    o.out = null;
    indexer_stats st;
    const char *paths[] = {lib};
    assert_int_equal(indexer_run(paths, 1, &o, &st), 0);
    fclose(null);
    assert_int_equal(g.found, 7);
    assert_int_equal(g.backwards, 0);
    assert_true(g.hash_calls >= 7);
    assert_int_equal(g.total, 6);      // 5 images and the broken one
    assert_int_equal(g.done_steps, 6); // one call per file, done +1 each
    assert_int_equal(g.last_done, 6);
    assert_int_equal(g.no_current, 0);
    assert_int_equal(g.errors, 1);
    assert_int_equal(g.steps.decode, 5);
    assert_int_equal(g.steps.ocr, 5);
    assert_int_equal(g.steps.embed, 0); // no model
    assert_int_equal(st.failed, 1);
}

// ---------------------------------------------------------------- kill -9

static void make_images(const char *dir, int n)
{
    sh("mkdir -p '%s'%s", dir, "");
    img_t im;
    assert_int_equal(img_alloc(&im, 48, 40), 0);
    for (int k = 0; k < n; k++) {
        for (int i = 0; i < 48 * 40 * 3; i++) im.px[i] = (uint8_t)(i * (k + 3) + k * 7);
        char p[700];
        snprintf(p, sizeof p, "%s/gen%03d.jpg", dir, k);
        assert_int_equal(img_write_jpeg(&im, 90, p), 0);
    }
    img_release(&im);
}

static pid_t spawn_index(const char *lib, const char *data, const char *model)
{
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        int fd = open("/dev/null", O_WRONLY);
        dup2(fd, 1), dup2(fd, 2);
        if (model)
            execl(tu_build("lisa"), "lisa", "index", lib, "--data", data, "--model", model, "--batch", "4", "--threads",
                  "1", "--progress", "none", (char *)NULL);
        else
            execl(tu_build("lisa"), "lisa", "index", lib, "--data", data, "--batch", "4", "--threads", "1",
                  "--progress", "none", (char *)NULL);
        _exit(127);
    }
    return pid;
}

static int64_t count_if_exists(const char *data)
{
    char p[1024];
    snprintf(p, sizeof p, "%s/lisa.db", data);
    store *s;
    if (store_open(p, 0, &s) < 0) return 0;
    int64_t n = 0;
    if (store_image_count(s, &n) < 0) n = 0;
    store_close(s);
    return n;
}

struct check {
    int n, missing_emb;
    store *s;
};

static int check_fn(void *ud, const store_entry *e)
{
    struct check *c = ud;
    struct stat sb;
    if (stat(e->path, &sb) != 0) fail_msg("orphan record %s", e->path);
    c->n++;
    c->missing_emb += store_embedding_has(c->s, e->id, "tiny-a", 48) != 1;
    return 0;
}

static void test_kill_resume(void **state)
{
    (void)state;
    char lib[512], data[512];
    snprintf(lib, sizeof lib, "%s", tu_tmp("kill/lib"));
    snprintf(data, sizeof data, "%s", tu_tmp("kill/data"));
    make_images(lib, 200);
    pid_t pid = spawn_index(lib, data, TINY);
    int64_t n = 0;
    for (int t = 0; t < 2000 && n < 12; t++) { // until a few batches are committed
        usleep(5000);
        n = count_if_exists(data);
    }
    kill(pid, SIGKILL);
    int status;
    waitpid(pid, &status, 0);
    int64_t partial = count_if_exists(data);
    print_message("killed after %lld of 200 committed\n", (long long)partial);
    assert_true(partial >= 12);

    clip_model *m;
    assert_int_equal(clip_load(TINY, 1, &m), 0);
    indexer_stats st = run_index(lib, data, m);
    assert_int_equal(st.files, 200);
    assert_int_equal(st.unchanged + st.added, 200);
    assert_true(st.unchanged >= partial - 0);
    assert_int_equal(count(data), 200);
    struct check c = {0, 0, open_store(data)};
    assert_int_equal(store_image_list(c.s, NULL, check_fn, &c), 0);
    store_close(c.s);
    assert_int_equal(c.n, 200);
    assert_int_equal(c.missing_emb, 0);
    st = run_index(lib, data, m);
    assert_int_equal(st.unchanged, 200);
    clip_free(m);
}

// ---------------------------------------------------------------- concurrent search

static void test_search_while_indexing(void **state)
{
    (void)state;
    char lib[512], data[512];
    snprintf(lib, sizeof lib, "%s", tu_tmp("conc/lib"));
    snprintf(data, sizeof data, "%s", tu_tmp("conc/data"));
    make_images(lib, 120);
    pid_t pid = spawn_index(lib, data, NULL);
    while (count_if_exists(data) == 0) usleep(2000);
    search_opts so = {data, NULL, NULL, NULL};
    search_ctx *s;
    assert_int_equal(search_open(&so, &s), 0);
    int queries = 0, status = 0;
    int64_t last = 0;
    for (;;) {
        search_results res;
        int rc = search_query(s, "gen", 5, 0.5, &res);
        if (rc < 0) fail_msg("search during indexing: %s", lisa_errmsg());
        assert_true(res.n <= 5);
        search_results_free(&res);
        queries++;
        int64_t n = count_if_exists(data);
        assert_true(n >= last); // committed batches only grow
        last = n;
        if (waitpid(pid, &status, WNOHANG) == pid) break;
    }
    search_close(s);
    assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    assert_int_equal(count(data), 120);
    print_message("%d searches ran while indexing\n", queries);
    assert_true(queries > 1);
}

// ---------------------------------------------------------------- ranking with tiny-a

// Overwrites image id's vector with one whose cosine with q is exactly c.
static void put_known(store *s, int64_t id, const float *q, const float *u, float c, int d)
{
    float v[64];
    float b = sqrtf(1 - c * c);
    for (int j = 0; j < d; j++) v[j] = c * q[j] + b * u[j];
    assert_int_equal(store_embedding_put(s, id, "tiny-a", d, v), 0);
}

static void test_ranking_tiny(void **state)
{
    (void)state;
    char lib[512], data[512], p[700];
    snprintf(lib, sizeof lib, "%s", tu_tmp("rank/lib"));
    snprintf(data, sizeof data, "%s", tu_tmp("rank/data"));
    sh("mkdir -p '%s' '%s'", lib, data);
    static const char *names[] = {"alpha.jpg", "zebra.jpg", "zebra_stripes.jpg"};
    static const char *src[] = {"land.jpg", "port.jpg", "wide.jpg"};
    for (int i = 0; i < 3; i++) {
        char a[300], b[700];
        snprintf(a, sizeof a, "tests/data/images/%s", src[i]);
        snprintf(b, sizeof b, "%s/%s", lib, names[i]);
        cp(a, b);
    }
    clip_model *m;
    assert_int_equal(clip_load(TINY, 1, &m), 0);
    indexer_stats st = run_index(lib, data, m);
    assert_int_equal(st.embedded, 3);
    int d = clip_dim(m);
    assert_int_equal(d, 48);
    float q[48], u[48];
    assert_int_equal(clip_embed_text_str(m, "zebra", q), 0);
    double dot = 0; // u: a unit vector orthogonal to q
    for (int j = 0; j < d; j++) u[j] = (float)((j % 7) - 3);
    for (int j = 0; j < d; j++) dot += u[j] * q[j];
    double nn = 0;
    for (int j = 0; j < d; j++) u[j] -= (float)dot * q[j], nn += u[j] * u[j];
    for (int j = 0; j < d; j++) u[j] /= (float)sqrt(nn);
    store *s = open_store(data);
    // alpha: best CLIP, no keyword. No two mixed scores within float noise of
    // each other (zebra at cosine 0.15 tied alpha at 0.5 up to rounding).
    static const float cosv[] = {0.35f, 0.17f, 0.30f};
    int64_t ids[3];
    for (int i = 0; i < 3; i++) {
        snprintf(p, sizeof p, "%s/%s", lib, names[i]);
        ids[i] = id_of(data, p);
        put_known(s, ids[i], q, u, cosv[i], d);
    }
    store_close(s);
    search_opts so = {data, m, "tiny-a", NULL};
    search_ctx *sc;
    search_results r;
    assert_int_equal(search_open(&so, &sc), 0);

    // pure CLIP: cosine order over the CLIP hits. Three vectors are too few to calibrate on, so the
    // cut is the fixed 0.25 (docs/ranking.md): zebra at 0.17 is not relevant.
    assert_int_equal(search_query(sc, "zebra", 10, 1.0, &r), 0);
    assert_false(r.keyword_only);
    assert_int_equal(r.n, 2);
    assert_int_equal(r.total, 2);
    assert_int_equal(r.r[0].id, ids[0]);
    assert_int_equal(r.r[1].id, ids[2]);
    for (int i = 0; i < r.n; i++) {
        int k = r.r[i].id == ids[0] ? 0 : 2;
        assert_true(fabsf(r.r[i].cosine - cosv[k]) < 1e-4f);
        float want = (cosv[k] - 0.15f) / 0.20f;
        assert_true(fabsf(r.r[i].clip_score - want) < 1e-3f);
        assert_true(fabsf(r.r[i].score - r.r[i].clip_score) < 1e-6f);
        assert_true(r.r[i].clip_match && r.r[i].has_clip && !r.r[i].has_kw); // no keyword part at w = 1
    }
    search_results_free(&r);

    assert_int_equal(search_query(sc, "zebra", 10, 0.0, &r), 0); // pure keywords: only hits
    assert_int_equal(r.n, 2);
    assert_true(r.r[0].keyword_score == 1.0f);
    assert_true(r.r[0].bm25 >= r.r[1].bm25 && r.r[1].bm25 > 0);
    assert_true(r.r[0].id != ids[0] && r.r[1].id != ids[0]);
    assert_false(r.r[0].has_clip); // no CLIP part at w = 0
    assert_false(r.keyword_only);  // by choice, not for want of a model
    search_results_free(&r);

    assert_int_equal(search_query(sc, "zebra", 10, 0.7, &r), 0); // the mix: CLIP hits and keyword hits
    assert_int_equal(r.n, 3);
    for (int i = 0; i < r.n; i++) {
        float want = 1 - (1 - r.r[i].clip_score) * (1 - 0.6f * r.r[i].keyword_score);
        assert_true(fabsf(r.r[i].score - want) < 1e-5f);
        if (i) assert_true(r.r[i - 1].score >= r.r[i].score);
    }
    // alpha: clip 1 (1.0); zebra_stripes: clip .75 + keyword .84 (.88); zebra: clip .1 + keyword 1 (.64).
    assert_int_equal(r.r[0].id, ids[0]);
    assert_int_equal(r.r[1].id, ids[2]);
    assert_int_equal(r.r[2].id, ids[1]);
    assert_false(r.r[2].clip_match);
    search_results_free(&r);

    snprintf(p, sizeof p, "%s/%s", lib, names[2]); // similar: the image itself is excluded
    assert_int_equal(search_similar(sc, p, 5, &r), 0);
    assert_int_equal(r.n, 2);
    for (int i = 0; i < r.n; i++) assert_true(r.r[i].id != ids[2]);
    search_results_free(&r);
    search_close(sc);
    clip_free(m);
}

static int count_thumbs(const char *data, const char *suffix)
{
    char p[1024];
    snprintf(p, sizeof p, "%s/thumbnails", data);
    DIR *d = opendir(p);
    int n = 0;
    for (struct dirent *e; d && (e = readdir(d));) {
        size_t len = strlen(e->d_name);
        n += len > strlen(suffix) && !strcmp(e->d_name + len - strlen(suffix), suffix);
    }
    if (d) closedir(d);
    return n;
}

// A thumbnail goes with the last image of its hash (a deleted file, a changed
// file; a copy keeps it alive), and *.tmp leftovers of a kill are swept.
static void test_thumbs_follow_images(void **state)
{
    (void)state;
    char lib[600], data[600], p[900], q[900];
    snprintf(lib, sizeof lib, "%s", tu_tmp("lib_thumbs"));
    snprintf(data, sizeof data, "%s", tu_tmp("data_thumbs"));
    make_images(lib, 4);
    snprintf(p, sizeof p, "%s/gen000.jpg", lib);
    snprintf(q, sizeof q, "%s/copy.jpg", lib);
    cp(p, q);
    run_index(lib, data, NULL);
    assert_int_equal(count_thumbs(data, ".jpg"), 4);
    // a stale tmp (a kill -9 mid-write, 2 minutes ago) and a fresh one (a write in flight)
    snprintf(p, sizeof p, "%s/thumbnails/%064d.jpg.77.tmp", data, 0);
    tu_write(p, "", 0);
    struct timespec old[2] = {{time(NULL) - 120, 0}, {time(NULL) - 120, 0}};
    assert_int_equal(utimensat(AT_FDCWD, p, old, 0), 0);
    snprintf(p, sizeof p, "%s/thumbnails/%064d.jpg.78.tmp", data, 1);
    tu_write(p, "", 0);
    // gen001 deleted, gen002 changed, gen000 deleted but its copy stays
    snprintf(p, sizeof p, "%s/gen001.jpg", lib);
    unlink(p);
    snprintf(p, sizeof p, "%s/gen000.jpg", lib);
    unlink(p);
    snprintf(p, sizeof p, "%s/gen002.jpg", lib);
    img_t im;
    assert_int_equal(img_alloc(&im, 30, 20), 0);
    memset(im.px, 200, 30 * 20 * 3);
    assert_int_equal(img_write_jpeg(&im, 90, p), 0);
    img_release(&im);
    run_index(lib, data, NULL);
    assert_int_equal(count(data), 3);                // copy, gen002 (new content), gen003
    assert_int_equal(count_thumbs(data, ".jpg"), 3); // the old gen002 and gen001 thumbnails went
    assert_int_equal(count_thumbs(data, ".tmp"), 1); // only the fresh tmp stays
    store *s = open_store(data);
    char hash[1100];
    snprintf(hash, sizeof hash, "%s/thumbnails", data);
    DIR *d = opendir(hash);
    for (struct dirent *e; (e = readdir(d));) { // every thumbnail left belongs to an indexed image
        if (strlen(e->d_name) != 68) continue;
        char h[65];
        memcpy(h, e->d_name, 64), h[64] = 0;
        int64_t id;
        int n = 0;
        assert_int_equal(store_image_find_by_hash(s, h, &id, 1, &n), 0);
        assert_int_equal(n, 1);
    }
    closedir(d);
    store_close(s);
}

// A unit vector orthogonal to q (d floats) from seed.
static void ortho(const float *q, int d, unsigned seed, float *u)
{
    double dot = 0, nn = 0;
    for (int j = 0; j < d; j++) {
        seed = seed * 1103515245u + 12345u;
        u[j] = (float)((seed >> 8) % 2001) / 1000.0f - 1.0f;
        dot += u[j] * q[j];
    }
    for (int j = 0; j < d; j++) u[j] -= (float)dot * q[j], nn += u[j] * u[j];
    for (int j = 0; j < d; j++) u[j] /= (float)sqrt(nn);
}

// The calibrated cut-off end to end: 36 far images (cosine 0..0.1 to the query) and 4 near
// ones (0.40..0.46), planted as vectors; only the near ones are results, whatever the weight,
// sort or page; like: finds the near set from one of its images.
static void test_calibrated_search(void **state)
{
    (void)state;
    enum { NFAR = 36, NNEAR = 4, N = NFAR + NNEAR };
    char data[512], db[600], path[64];
    snprintf(data, sizeof data, "%s", tu_tmp("cal/data"));
    sh("mkdir -p '%s'%s", data, "");
    snprintf(db, sizeof db, "%s/lisa.db", data);
    clip_model *m;
    assert_int_equal(clip_load(TINY, 1, &m), 0);
    int d = clip_dim(m);
    float q[64], u[64], un[64];
    assert_int_equal(clip_embed_text_str(m, "zebra", q), 0);
    ortho(q, d, 4242, un); // the near set shares one direction besides q
    store *s;
    assert_int_equal(store_open(db, STORE_CREATE, &s), 0);
    int64_t ids[N];
    for (int i = 0; i < N; i++) {
        snprintf(path, sizeof path, "/cal/img%02d.jpg", i);
        store_image im = {.path = path, .size = 100, .mtime_ns = 1, .width = 4, .height = 3};
        im.date_unix = 1500000000 + (int64_t)(N - i) * 86400; // newest first = ascending i
        assert_int_equal(store_image_upsert(s, &im, &ids[i]), 0);
        float c = i < NFAR ? 0.1f * (float)i / (NFAR - 1) : 0.40f + 0.02f * (float)(i - NFAR);
        if (i < NFAR) ortho(q, d, 7u * (unsigned)i + 1u, u);
        put_known(s, ids[i], q, i < NFAR ? u : un, c, d);
    }
    store_close(s);
    search_opts so = {data, m, "tiny-a", NULL};
    search_ctx *sc;
    search_results r;
    assert_int_equal(search_open(&so, &sc), 0);
    for (int k = 0; k < 3; k++) { // weights 1, 0.7, 0.5: no keyword hits, the same relevant set
        double w = k == 0 ? 1.0 : k == 1 ? 0.7 : 0.5;
        assert_int_equal(search_query(sc, "zebra", 50, w, &r), 0);
        assert_int_equal(r.total, NNEAR);
        assert_true(r.clip_part && r.clip_cut > 0.1f && r.clip_cut < 0.40f);
        for (int i = 0; i < r.n; i++) {
            assert_true(r.r[i].id >= ids[NFAR] && r.r[i].clip_match);
            if (i) assert_true(r.r[i - 1].cosine >= r.r[i].cosine);
        }
        search_results_free(&r);
    }
    search_page pg = {0, 2, STORE_SORT_DATE_DESC, 0.7}; // date order over the relevant set, paged
    assert_int_equal(search_run(sc, "zebra", &pg, &r), 0);
    assert_true(r.total == NNEAR && r.n == 2 && r.r[0].id == ids[NFAR] && r.r[1].id == ids[NFAR + 1]);
    search_results_free(&r);
    pg.offset = 2;
    assert_int_equal(search_run(sc, "zebra", &pg, &r), 0);
    assert_true(r.n == 2 && r.r[0].id == ids[NFAR + 2] && r.r[1].id == ids[NFAR + 3]);
    search_results_free(&r);
    pg = (search_page){0, 50, SEARCH_SORT_AUTO, 0.7};
    assert_int_equal(search_run(sc, "zebra -name:img39", &pg, &r), 0); // a filter on top
    assert_int_equal(r.total, NNEAR - 1);
    search_results_free(&r);
    char like[64];
    snprintf(like, sizeof like, "like:%lld", (long long)ids[NFAR]);
    assert_int_equal(search_run(sc, like, &pg, &r), 0); // image arithmetic: the rest of the near set
    assert_int_equal(r.total, NNEAR - 1);
    for (int i = 0; i < r.n; i++) assert_true(r.r[i].id > ids[NFAR] && !r.r[i].has_kw);
    search_results_free(&r);
    snprintf(like, sizeof like, "like:%lld -like:%lld", (long long)ids[NFAR], (long long)ids[NFAR]);
    assert_int_equal(search_run(sc, like, &pg, &r), LISA_EINVAL); // cancels out
    assert_int_equal(search_run(sc, "like:999999", &pg, &r), LISA_EINVAL);
    assert_non_null(strstr(lisa_errmsg(), "like:999999"));
    search_close(sc);
    // ANN mode (threshold 0): the index's candidates, exact cosines, the fixed
    // cut (0.25 here): the same near set, and a filter still applies.
    assert_int_equal(search_open(&so, &sc), 0);
    search_set_ann_min(sc, 0);
    assert_int_equal(search_query(sc, "zebra", 50, 1.0, &r), 0);
    assert_string_equal(search_vector_mode(sc), "faiss-ivf-fp16");
    assert_int_equal(r.total, NNEAR);
    for (int i = 0; i < r.n; i++) assert_true(r.r[i].id >= ids[NFAR] && r.r[i].clip_match);
    search_results_free(&r);
    assert_int_equal(search_run(sc, "zebra -name:img39", &pg, &r), 0);
    assert_int_equal(r.total, NNEAR - 1);
    search_results_free(&r);
    snprintf(like, sizeof like, "like:%lld", (long long)ids[NFAR]);
    assert_int_equal(search_run(sc, like, &pg, &r), 0);
    assert_int_equal(r.total, NNEAR - 1);
    search_results_free(&r);
    search_close(sc);
    clip_free(m);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_incremental),       cmocka_unit_test(test_failures),
        cmocka_unit_test(test_kill_resume),       cmocka_unit_test(test_search_while_indexing),
        cmocka_unit_test(test_ranking_tiny),      cmocka_unit_test(test_thumbs_follow_images),
        cmocka_unit_test(test_calibrated_search), cmocka_unit_test(test_progress),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

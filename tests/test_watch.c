// The folder watcher (search/watch.h), driven step by step on this thread
// with the tiny-a fixture model: create, rename, move between folders, move
// out and in, delete, a burst of 500 files (one batch), new subfolders (also
// nested ones made at once), the watch limit lowered through max_watches
// (message, fallback rescan), kicks and a change of roots. Every check reads
// the store the runs wrote; a move must keep the image's id and vector and
// embed nothing.
#include "testutil.h"
#include "base/clock.h"
#include "base/err.h"
#include "clip/clip.h"
#include "image/image.h"
#include "search/indexer.h"
#include "search/watch.h"
#include "store/store.h"

#include <signal.h>
#include <stdio.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define TINY tu_build("models/tiny-a")

static clip_model *g_model;
static char g_data[512], g_lib[512], g_out[600];

typedef struct {
    watch *w;
    indexer_opts ix;
    watch_opts wo;
    FILE *log;
} fixture;

static void make_image(const char *path, int k)
{
    img_t im;
    assert_int_equal(img_alloc(&im, 24, 16), 0);
    for (int i = 0; i < 24 * 16 * 3; i++) im.px[i] = (uint8_t)(i * (k % 251 + 3) + k * 7 + k / 251);
    assert_int_equal(img_write_jpeg(&im, 90, path), 0);
    img_release(&im);
}

static const char *lib(const char *rel)
{
    static char p[8][800];
    static int i;
    i = (i + 1) % 8;
    snprintf(p[i], sizeof p[i], "%s/%s", g_lib, rel);
    return p[i];
}

static void sh(const char *fmt, const char *a, const char *b)
{
    char cmd[2048];
    snprintf(cmd, sizeof cmd, fmt, a, b);
    if (system(cmd) != 0) fail_msg("%s failed", cmd);
}

static void open_fixture(fixture *f, int max_watches, int rescan_ms, int catch_up, int debounce_ms)
{
    memset(f, 0, sizeof *f);
    indexer_opts_init(&f->ix);
    f->ix.data_dir = g_data, f->ix.model = g_model, f->ix.model_id = "tiny-a";
    f->ix.progress = 0, f->ix.threads = 2, f->ix.no_ocr = 1;
    f->log = fopen(g_out, "w");
    assert_non_null(f->log);
    watch_opts_init(&f->wo);
    f->wo.ix = &f->ix, f->wo.out = f->log, f->wo.debounce_ms = debounce_ms, f->wo.max_delay_ms = 8000;
    f->wo.max_watches = max_watches, f->wo.rescan_ms = rescan_ms, f->wo.catch_up = catch_up;
    const char *roots[1] = {g_lib};
    if (watch_open(roots, 1, &f->wo, &f->w) < 0) fail_msg("watch_open: %s", lisa_errmsg());
}

static void close_fixture(fixture *f)
{
    watch_close(f->w);
    fclose(f->log);
}

// Steps until a batch has run (1) or seconds passed (0).
static int until_batch(fixture *f, double seconds)
{
    for (double t0 = mono_s(); mono_s() - t0 < seconds;) {
        int rc = watch_step(f->w, 100);
        if (rc < 0) fail_msg("watch_step: %s", lisa_errmsg());
        if (rc == 1) return 1;
    }
    return 0;
}

static watch_status status(fixture *f)
{
    watch_status st;
    watch_get_status(f->w, &st);
    assert_int_equal(st.last_rc, 0);
    return st;
}

// The store's row for path: its id (0 when absent) and whether it has a vector.
static int64_t row(const char *path, int *has_vec)
{
    char db[700];
    snprintf(db, sizeof db, "%s/lisa.db", g_data);
    store *s;
    assert_int_equal(store_open(db, STORE_CREATE, &s), 0);
    store_image im = {0};
    int rc = store_image_get_by_path(s, path, &im);
    assert_true(rc == 0 || rc == LISA_ENOTFOUND);
    int64_t id = rc == 0 ? im.id : 0;
    if (has_vec) *has_vec = id ? store_embedding_has(s, id, "tiny-a", clip_dim(g_model)) > 0 : 0;
    store_image_clear(&im);
    store_close(s);
    return id;
}

static int64_t count_under(const char *dir)
{
    char db[700];
    snprintf(db, sizeof db, "%s/lisa.db", g_data);
    store *s;
    int64_t n = 0;
    assert_int_equal(store_open(db, STORE_CREATE, &s), 0);
    assert_int_equal(store_image_count_under(s, dir, &n), 0);
    store_close(s);
    return n;
}

static int setup(void **state)
{
    (void)state;
    if (clip_load(TINY, 1, &g_model) < 0) {
        fprintf(stderr, "test_watch: %s (run tests/setup/clip_models.sh)\n", lisa_errmsg());
        return -1;
    }
    snprintf(g_data, sizeof g_data, "%s", tu_tmp("data"));
    snprintf(g_out, sizeof g_out, "%s", tu_tmp("watch.log"));
    mkdir(g_data, 0755), mkdir(tu_tmp("lib"), 0755);
    char real[4096]; // the store keeps real paths
    if (!realpath(tu_tmp("lib"), real) || strlen(real) >= sizeof g_lib) return -1;
    memcpy(g_lib, real, strlen(real) + 1);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    clip_free(g_model);
    return 0;
}

// ---------------------------------------------------------------- tests

static void test_create_rename_move_delete(void **state)
{
    (void)state;
    fixture f;
    mkdir(lib("albums"), 0755);
    make_image(lib("before.jpg"), 1); // made while nobody watched: the catch-up finds it
    open_fixture(&f, 0, 0, 1, 300);
    assert_true(until_batch(&f, 10));
    assert_true(row(lib("before.jpg"), NULL) > 0);

    make_image(lib("cat.jpg"), 2); // create + close-write
    double t0 = mono_s();
    assert_true(until_batch(&f, 10));
    int vec = 0;
    int64_t id = row(lib("cat.jpg"), &vec);
    assert_true(id > 0 && vec);
    assert_true(mono_s() - t0 < 5); // the bound, with the debounce
    assert_int_equal(status(&f).last.added, 1);

    assert_int_equal(rename(lib("cat.jpg"), lib("kitten.jpg")), 0); // rename in place
    assert_true(until_batch(&f, 10));
    watch_status st = status(&f);
    assert_int_equal(st.last.moved, 1);
    assert_int_equal(st.last.embedded, 0); // the vector went with it
    assert_int_equal(row(lib("cat.jpg"), NULL), 0);
    assert_int_equal(row(lib("kitten.jpg"), &vec), id);
    assert_true(vec);

    assert_int_equal(rename(lib("kitten.jpg"), lib("albums/kitten.jpg")), 0); // into a subfolder
    assert_true(until_batch(&f, 10));
    st = status(&f);
    assert_int_equal(st.last.moved, 1);
    assert_int_equal(st.last.embedded, 0);
    assert_int_equal(row(lib("albums/kitten.jpg"), NULL), id);

    char outside[600];
    snprintf(outside, sizeof outside, "%s", tu_tmp("outside.jpg"));
    assert_int_equal(rename(lib("albums/kitten.jpg"), outside), 0); // moved out: gone from the index
    assert_true(until_batch(&f, 10));
    assert_int_equal(status(&f).last.removed, 1);
    assert_int_equal(row(lib("albums/kitten.jpg"), NULL), 0);
    assert_int_equal(rename(outside, lib("back.jpg")), 0); // moved in
    assert_true(until_batch(&f, 10));
    assert_true(row(lib("back.jpg"), &vec) > 0 && vec);

    t0 = mono_s();
    assert_int_equal(unlink(lib("back.jpg")), 0); // deleted
    assert_true(until_batch(&f, 10));
    assert_true(mono_s() - t0 < 5);
    assert_int_equal(row(lib("back.jpg"), NULL), 0);
    assert_int_equal(status(&f).last.removed, 1);

    assert_int_equal(rename(lib("albums"), lib("albums2")), 0); // a folder renamed: its watch follows
    assert_true(until_batch(&f, 10));
    make_image(lib("albums2/new.jpg"), 3);
    assert_true(until_batch(&f, 10));
    assert_true(row(lib("albums2/new.jpg"), NULL) > 0);

    make_image(lib(".hidden.jpg"), 4); // ignored names make no batch
    assert_false(until_batch(&f, 1.0));
    unlink(lib(".hidden.jpg"));
    close_fixture(&f);
}

static void test_burst_is_one_batch(void **state)
{
    (void)state;
    fixture f;
    mkdir(lib("import"), 0755);
    open_fixture(&f, 0, 0, 0, 1500); // generous: this machine is shared, and a gap over it splits the batch
    for (int k = 0; k < 500; k++) {
        char name[64];
        snprintf(name, sizeof name, "import/IMG_%04d.jpg", k);
        make_image(lib(name), 1000 + k);
        if (k % 50 == 0) watch_step(f.w, 0); // read as it comes, the way the thread would
    }
    long long before = status(&f).batches;
    assert_true(until_batch(&f, 30));
    watch_status st = status(&f);
    assert_int_equal(st.batches, before + 1);
    assert_int_equal(st.last.added, 500);
    assert_int_equal(count_under(lib("import")), 500);
    assert_false(until_batch(&f, 1.0)); // nothing left over: one batch, not 500
    sh("rm -rf '%s'%s", lib("import"), "");
    assert_true(until_batch(&f, 10));
    assert_int_equal(count_under(lib("import")), 0);
    close_fixture(&f);
}

static void test_new_subfolders(void **state)
{
    (void)state;
    fixture f;
    open_fixture(&f, 0, 0, 0, 300);
    int before = status(&f).watched;
    assert_int_equal(mkdir(lib("trip"), 0755), 0);
    make_image(lib("trip/a.jpg"), 5); // right after the mkdir, before any batch
    assert_true(until_batch(&f, 10));
    assert_true(row(lib("trip/a.jpg"), NULL) > 0);
    sh("mkdir -p '%s'%s", lib("trip/x/y/z"), ""); // three levels at once
    make_image(lib("trip/x/y/z/deep.jpg"), 6);
    assert_true(until_batch(&f, 10));
    assert_true(row(lib("trip/x/y/z/deep.jpg"), NULL) > 0);
    assert_int_equal(status(&f).watched, before + 4); // trip, x, y, z
    make_image(lib("trip/x/y/z/later.jpg"), 7);       // the nested folder is really watched
    assert_true(until_batch(&f, 10));
    assert_true(row(lib("trip/x/y/z/later.jpg"), NULL) > 0);
    close_fixture(&f);
}

static int log_has(const char *needle)
{
    size_t n;
    uint8_t *b = tu_read(g_out, &n);
    char *s = realloc(b, n + 1);
    assert_non_null(s);
    s[n] = 0;
    int yes = strstr(s, needle) != NULL;
    free(s);
    return yes;
}

static void test_watch_limit(void **state)
{
    (void)state;
    sh("rm -rf '%s'/* && mkdir -p '%s'/l1/l2/l3", g_lib, g_lib);
    fixture f;
    open_fixture(&f, 2, 700, 0, 300); // a limit of 2 watches for 4 folders
    fflush(f.log);
    watch_status st = status(&f);
    assert_int_equal(st.watched, 2);
    assert_int_equal(st.unwatched, 2);
    assert_true(st.limited);
    assert_true(log_has("watch limit is reached"));
    assert_true(log_has("max_user_watches"));
    assert_true(log_has("2 folders are not watched"));
    make_image(lib("l1/l2/l3/quiet.jpg"), 8); // in a folder without a watch: found by the rescan
    double t0 = mono_s();
    int64_t id = 0;
    while (!id && mono_s() - t0 < 10) {
        until_batch(&f, 2);
        id = row(lib("l1/l2/l3/quiet.jpg"), NULL);
    }
    assert_true(id > 0);
    assert_true(status(&f).rescans >= 1);
    close_fixture(&f);
    open_fixture(&f, 0, 700, 0, 300); // no lowered limit: everything watched, nothing said
    fflush(f.log);
    st = status(&f);
    assert_false(st.limited);
    assert_int_equal(st.unwatched, 0);
    assert_false(log_has("watch limit"));
    close_fixture(&f);
}

static void test_kick_and_roots(void **state)
{
    (void)state;
    char other[4096];
    mkdir(tu_tmp("other"), 0755);
    assert_non_null(realpath(tu_tmp("other"), other));
    char p[4200];
    snprintf(p, sizeof p, "%s/o.jpg", other);
    make_image(p, 9);
    fixture f;
    open_fixture(&f, 0, 0, 0, 300);
    assert_false(watch_is_watching(f.w, other));
    assert_true(watch_is_watching(f.w, g_lib));
    watch_kick(f.w); // a batch with no file event
    assert_true(until_batch(&f, 10));
    const char *roots[2] = {g_lib, other};
    assert_int_equal(watch_set_roots(f.w, roots, 2), 0);
    assert_true(until_batch(&f, 10));
    assert_true(watch_is_watching(f.w, other));
    assert_true(row(p, NULL) > 0);
    snprintf(p, sizeof p, "%s/o2.jpg", other);
    make_image(p, 10);
    assert_true(until_batch(&f, 10));
    assert_true(row(p, NULL) > 0);
    const char *bad[1] = {"/nonexistent/lisa-watch"};
    watch *w = NULL;
    assert_int_equal(watch_open(bad, 1, &f.wo, &w), LISA_ENOTFOUND);
    assert_non_null(strstr(lisa_errmsg(), "/nonexistent/lisa-watch"));
    close_fixture(&f);
}

// `lisa watch` as a user runs it: catch-up, a file added, SIGINT stops it cleanly.
static void test_cli(void **state)
{
    (void)state;
    char lib2[600], data2[600], log[600];
    snprintf(lib2, sizeof lib2, "%s", tu_tmp("cli-lib"));
    snprintf(data2, sizeof data2, "%s", tu_tmp("cli-data"));
    snprintf(log, sizeof log, "%s", tu_tmp("cli.log"));
    mkdir(lib2, 0755);
    char p[700];
    snprintf(p, sizeof p, "%s/early.jpg", lib2);
    make_image(p, 60);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        if (!freopen(log, "w", stderr)) _exit(127);
        execl(tu_build("lisa"), "lisa", "watch", lib2, "--data", data2, "--model", TINY, "--no-ocr", "--no-captions",
              "--debounce", "200", (char *)NULL);
        _exit(127);
    }
    snprintf(p, sizeof p, "%s/late.jpg", lib2);
    char db[700];
    snprintf(db, sizeof db, "%s/lisa.db", data2);
    int64_t n = 0;
    int made = 0;
    for (int i = 0; i < 300 && n < 2; i++) { // the catch-up run finds early.jpg, then the watcher late.jpg
        store *s = NULL;
        if (store_open(db, 0, &s) == 0) store_image_count(s, &n), store_close(s);
        if (n == 1 && !made) make_image(p, 61), made = 1;
        usleep(100 * 1000);
    }
    kill(pid, SIGINT);
    int st = 0;
    assert_int_equal(waitpid(pid, &st, 0), pid);
    snprintf(g_out, sizeof g_out, "%s", log);
    if (!WIFEXITED(st) || WEXITSTATUS(st) != 0) fail_msg("lisa watch: exit status %d", st);
    assert_true(log_has("lisa: watching"));
    assert_true(log_has("lisa watch: batch 2"));
    assert_int_equal(n, 2);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_create_rename_move_delete),
        cmocka_unit_test(test_burst_is_one_batch),
        cmocka_unit_test(test_new_subfolders),
        cmocka_unit_test(test_watch_limit),
        cmocka_unit_test(test_kick_and_roots),
        cmocka_unit_test(test_cli),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}

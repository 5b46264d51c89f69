#include "testutil.h"
#include "base/pool.h"

#include <pthread.h>
#include <stdatomic.h>
#include <unistd.h>

struct count_ctx {
    atomic_int *hits; // one counter per item
    atomic_int tids[POOL_MAX_THREADS];
    int size;
};

static void count_task(void *ctx, int i, int tid)
{
    struct count_ctx *c = ctx;
    assert_true(tid >= 0 && tid < c->size);
    atomic_fetch_add(&c->hits[i], 1);
    atomic_fetch_add(&c->tids[tid], 1);
}

static void run_and_check(pool *p, int n)
{
    struct count_ctx c = {.size = pool_size(p)};
    c.hits = calloc((size_t)(n > 0 ? n : 1), sizeof *c.hits);
    pool_for(p, n, count_task, &c);
    for (int i = 0; i < n; i++) assert_int_equal(atomic_load(&c.hits[i]), 1);
    free(c.hits);
}

static void test_every_item_once(void **state)
{
    (void)state;
    pool *p;
    assert_int_equal(pool_new(4, &p), 0);
    assert_int_equal(pool_size(p), 4);
    static const int ns[] = {0, 1, 2, 3, 4, 5, 17, 1000};
    for (int rep = 0; rep < 50; rep++)
        for (size_t k = 0; k < sizeof ns / sizeof ns[0]; k++) run_and_check(p, ns[k]);
    pool_free(p);
}

// Jobs back to back (workers still spinning) and after pauses longer than
// the spin (workers asleep), from two caller threads: every item runs once
// each time and pool_free joins cleanly.
struct caller_arg {
    pool *p;
    int reps;
};

static void *caller(void *arg)
{
    struct caller_arg *a = arg;
    for (int r = 0; r < a->reps; r++) {
        run_and_check(a->p, 1 + r % 9);
        if (r % 50 == 49) usleep(300); // past POOL_SPIN_NS: the next job wakes sleepers
    }
    return NULL;
}

static void test_spin_and_sleep(void **state)
{
    (void)state;
    pool *p;
    assert_int_equal(pool_new(3, &p), 0);
    struct caller_arg a = {p, 2000};
    pthread_t t;
    assert_int_equal(pthread_create(&t, NULL, caller, &a), 0);
    caller(&a);
    pthread_join(t, NULL);
    usleep(1000);
    pool_free(p); // workers asleep
    assert_int_equal(pool_new(2, &p), 0);
    run_and_check(p, 5);
    pool_free(p); // workers likely still spinning
}

static void test_null_and_single(void **state)
{
    (void)state;
    run_and_check(NULL, 10);
    assert_int_equal(pool_size(NULL), 1);
    pool *p;
    assert_int_equal(pool_new(1, &p), 0);
    run_and_check(p, 10);
    pool_free(p);
    pool_free(NULL);
    assert_int_equal(pool_new(0, &p), 0); // 0 = number of CPUs
    assert_int_equal(pool_size(p), pool_cpus());
    pool_free(p);
}

struct sum_ctx {
    const double *x;
    double partial[8];
    int chunk, n;
};

static void sum_task(void *ctx, int i, int tid)
{
    struct sum_ctx *c = ctx;
    double s = 0;
    for (int j = i * c->chunk; j < (i + 1) * c->chunk && j < c->n; j++) s += c->x[j];
    c->partial[tid] += s; // per-thread slot: no two threads share a tid
}

static void test_per_thread_slots(void **state)
{
    (void)state;
    pool *p;
    assert_int_equal(pool_new(3, &p), 0);
    int n = 100003;
    double *x = malloc(n * sizeof *x), want = 0;
    for (int i = 0; i < n; i++) want += x[i] = i % 7;
    struct sum_ctx c = {.x = x, .chunk = 97, .n = n};
    pool_for(p, (n + 96) / 97, sum_task, &c);
    assert_true(c.partial[0] + c.partial[1] + c.partial[2] == want);
    pool_free(p);
    free(x);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_every_item_once),
        cmocka_unit_test(test_null_and_single),
        cmocka_unit_test(test_spin_and_sleep),
        cmocka_unit_test(test_per_thread_slots),
    };
    return cmocka_run_group_tests_name("pool", tests, NULL, NULL);
}

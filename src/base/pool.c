#include "base/pool.h"
#include "base/err.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <unistd.h>

struct pool {
    int size;
    pthread_t *threads;  // size - 1 workers
    pthread_mutex_t mu;  // guards gen, busy, stop
    pthread_cond_t wake; // a new job or stop
    pthread_cond_t done; // busy reached 0
    pthread_mutex_t run; // serializes pool_for callers
    unsigned long gen;   // job generation, bumped per pool_for
    int busy;            // workers still inside the current job
    int stop;
    // The current job.
    pool_fn fn;
    void *ctx;
    int n;
    atomic_int next;
};

int pool_cpus(void)
{
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    return n < 1 ? 1 : n > POOL_MAX_THREADS ? POOL_MAX_THREADS : (int)n;
}

static void run_items(pool *p, int tid)
{
    for (int i; (i = atomic_fetch_add(&p->next, 1)) < p->n;) p->fn(p->ctx, i, tid);
}

struct worker_arg {
    pool *p;
    int tid;
};

static void *worker(void *arg)
{
    struct worker_arg a = *(struct worker_arg *)arg;
    free(arg);
    pool *p = a.p;
    unsigned long seen = 0;
    pthread_mutex_lock(&p->mu);
    for (;;) {
        while (!p->stop && p->gen == seen) pthread_cond_wait(&p->wake, &p->mu);
        if (p->stop) break;
        seen = p->gen;
        pthread_mutex_unlock(&p->mu);
        run_items(p, a.tid);
        pthread_mutex_lock(&p->mu);
        if (--p->busy == 0) pthread_cond_signal(&p->done);
    }
    pthread_mutex_unlock(&p->mu);
    return NULL;
}

static int start_workers(pool *p)
{
    for (int t = 1; t < p->size; t++) {
        struct worker_arg *a = malloc(sizeof *a);
        if (!a) return LISA_ENOMEM;
        *a = (struct worker_arg){p, t};
        if (pthread_create(&p->threads[t - 1], NULL, worker, a)) {
            free(a);
            p->size = t; // only the started ones get joined
            return LISA_ENOMEM;
        }
    }
    return 0;
}

int pool_new(int n, pool **out)
{
    *out = NULL;
    if (n <= 0) n = pool_cpus();
    if (n > POOL_MAX_THREADS) n = POOL_MAX_THREADS;
    pool *p = calloc(1, sizeof *p);
    if (!p) return lisa_seterr(LISA_ENOMEM, "pool: out of memory");
    p->size = n;
    atomic_init(&p->next, 0);
    pthread_mutex_init(&p->mu, NULL);
    pthread_mutex_init(&p->run, NULL);
    pthread_cond_init(&p->wake, NULL);
    pthread_cond_init(&p->done, NULL);
    if (!(p->threads = calloc((size_t)n, sizeof *p->threads)) || start_workers(p) < 0) {
        pool_free(p);
        return lisa_seterr(LISA_ENOMEM, "pool: cannot start %d threads", n);
    }
    *out = p;
    return 0;
}

void pool_free(pool *p)
{
    if (!p) return;
    pthread_mutex_lock(&p->mu);
    p->stop = 1;
    pthread_cond_broadcast(&p->wake);
    pthread_mutex_unlock(&p->mu);
    if (p->threads)
        for (int t = 1; t < p->size; t++) pthread_join(p->threads[t - 1], NULL);
    pthread_cond_destroy(&p->done);
    pthread_cond_destroy(&p->wake);
    pthread_mutex_destroy(&p->run);
    pthread_mutex_destroy(&p->mu);
    free(p->threads);
    free(p);
}

int pool_size(const pool *p)
{
    return p ? p->size : 1;
}

void pool_for(pool *p, int n, pool_fn fn, void *ctx)
{
    if (n <= 0) return;
    if (!p) {
        for (int i = 0; i < n; i++) fn(ctx, i, 0);
        return;
    }
    pthread_mutex_lock(&p->run);
    if (p->size == 1 || n == 1) {
        for (int i = 0; i < n; i++) fn(ctx, i, 0);
        pthread_mutex_unlock(&p->run);
        return;
    }
    pthread_mutex_lock(&p->mu);
    p->fn = fn, p->ctx = ctx, p->n = n;
    atomic_store(&p->next, 0);
    p->busy = p->size - 1;
    p->gen++;
    pthread_cond_broadcast(&p->wake);
    pthread_mutex_unlock(&p->mu);
    run_items(p, 0);
    pthread_mutex_lock(&p->mu);
    while (p->busy) pthread_cond_wait(&p->done, &p->mu);
    pthread_mutex_unlock(&p->mu);
    pthread_mutex_unlock(&p->run);
}

// A small fixed-size thread pool with one primitive: a blocking parallel for.
//
// pool_for(p, n, fn, ctx) calls fn(ctx, i, tid) once for every i in [0, n)
// and returns when all calls are done. The calling thread works too, as
// tid 0; workers are tids 1..size-1, so per-thread scratch can be indexed by
// tid. Items are handed out one at a time from an atomic counter, which
// balances uneven items. One pool_for at a time per pool (calls from several
// threads are serialized); fn must not call pool_for on the same pool.
#ifndef LISA_BASE_POOL_H
#define LISA_BASE_POOL_H

typedef struct pool pool;
typedef void (*pool_fn)(void *ctx, int i, int tid);

#define POOL_MAX_THREADS 256

// Starts a pool of n threads in all (the caller counts as one, so n - 1 are
// created); n <= 0 means the number of online CPUs. The caller owns *out and
// releases it with pool_free().
int pool_new(int n, pool **out);

// Joins the workers and frees the pool. pool_free(NULL) is a no-op.
void pool_free(pool *p);

// Number of threads including the caller (1 for a NULL pool).
int pool_size(const pool *p);

// Runs fn over [0, n) as described above. A NULL pool runs inline, as tid 0.
void pool_for(pool *p, int n, pool_fn fn, void *ctx);

// Number of online CPUs (at least 1).
int pool_cpus(void);

#endif

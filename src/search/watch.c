// Watched folders: inotify, debounce, one incremental indexer run per batch
// (search/watch.h).
#include "search/watch.h"
#include "base/clock.h"
#include "base/err.h"

#include <errno.h>
#include <ftw.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define WATCH_MASK                                                                                                     \
    (IN_CREATE | IN_CLOSE_WRITE | IN_ATTRIB | IN_MOVED_FROM | IN_MOVED_TO | IN_DELETE | IN_DELETE_SELF |               \
     IN_MOVE_SELF | IN_ONLYDIR | IN_DONT_FOLLOW | IN_EXCL_UNLINK)
#define WATCH_LIMIT_FILE "/proc/sys/fs/inotify/max_user_watches"

typedef struct {
    int wd;
    char *path;
    int seen; // found by the re-sync in progress
} wentry;

struct watch {
    watch_opts o;
    int ifd, efd; // inotify; eventfd for kicks and the stop
    char data_abs[PATH_MAX];

    pthread_mutex_t mu; // guards everything below up to 'st', and st
    char **roots;       // the current roots (absolute)
    int nroots;
    int *root_watched; // per root: its own folder has a watch
    char **next_roots; // watch_set_roots() hands them over here
    int nnext, roots_changed, kicked;
    watch_status st;

    wentry *w; // the watcher thread's table of watches
    int nw, capw;
    int unwatched; // folders the last add pass could not watch
    int warned;    // unwatched count last reported
    int pending, resync;
    double first_ms, last_ms, next_rescan;

    pthread_t th;
    int started;
    atomic_int stop;
};

void watch_opts_init(watch_opts *o)
{
    memset(o, 0, sizeof *o);
}

static FILE *out_of(const watch *w)
{
    return w->o.out ? w->o.out : stderr;
}

static void roots_free(char **r, int n)
{
    for (int i = 0; r && i < n; i++) free(r[i]);
    free(r);
}

// Absolute copies of the roots that are folders into *out; a missing one is
// an error when strict, else skipped with a message.
static int roots_copy(watch *w, const char *const *in, int n, int strict, char ***out, int *nout)
{
    if (n < 0 || n > WATCH_ROOTS_MAX) return lisa_seterr(LISA_EINVAL, "watch: at most %d folders", WATCH_ROOTS_MAX);
    char **r = calloc((size_t)n + 1, sizeof *r);
    if (!r) return lisa_seterr(LISA_ENOMEM, "watch: out of memory");
    int k = 0;
    for (int i = 0; i < n; i++) {
        char real[PATH_MAX];
        struct stat sb;
        if (!realpath(in[i], real) || stat(real, &sb) < 0 || !S_ISDIR(sb.st_mode)) {
            int e = errno ? errno : ENOTDIR;
            if (strict) return roots_free(r, k), lisa_seterr(LISA_ENOTFOUND, "watch %s: %s", in[i], strerror(e));
            fprintf(out_of(w), "lisa: watch: %s: %s; not watched\n", in[i], strerror(e));
            continue;
        }
        if (!(r[k] = strdup(real))) return roots_free(r, k), lisa_seterr(LISA_ENOMEM, "watch: out of memory");
        k++;
    }
    *out = r, *nout = k;
    return 0;
}

// ---------------------------------------------------------------- the table of watches

static wentry *find_wd(watch *w, int wd)
{
    for (int i = 0; i < w->nw; i++)
        if (w->w[i].wd == wd) return &w->w[i];
    return NULL;
}

static void drop_at(watch *w, int i)
{
    free(w->w[i].path);
    w->w[i] = w->w[--w->nw];
}

static int table_put(watch *w, int wd, const char *path)
{
    wentry *e = find_wd(w, wd);
    char *p = strdup(path);
    if (!p) return lisa_seterr(LISA_ENOMEM, "watch: out of memory");
    if (e) { // the same folder again (or renamed): inotify hands back its wd
        free(e->path);
        e->path = p, e->seen = 1;
        return 0;
    }
    if (w->nw == w->capw) {
        int cap = w->capw ? w->capw * 2 : 64;
        wentry *v = realloc(w->w, (size_t)cap * sizeof *v);
        if (!v) return free(p), lisa_seterr(LISA_ENOMEM, "watch: out of memory");
        w->w = v, w->capw = cap;
    }
    w->w[w->nw++] = (wentry){wd, p, 1};
    return 0;
}

// Watches one folder: 1 watched, 0 not (limit, or it vanished), or an error.
static int add_one(watch *w, const char *path)
{
    int wd = inotify_add_watch(w->ifd, path, WATCH_MASK);
    if (wd < 0) {
        if (errno == ENOSPC) w->unwatched++;
        return 0; // ENOENT/EACCES/ENOTDIR: gone or unreadable since the walk
    }
    if (!find_wd(w, wd) && w->o.max_watches > 0 && w->nw >= w->o.max_watches) {
        inotify_rm_watch(w->ifd, wd); // the lowered limit of the test seam
        w->unwatched++;
        return 0;
    }
    int rc = table_put(w, wd, path);
    return rc < 0 ? rc : 1;
}

static __thread watch *walk_w;
static __thread int walk_rc;

static int walk_fn(const char *path, const struct stat *sb, int type, struct FTW *ftw)
{
    (void)sb;
    if (type != FTW_D) return FTW_CONTINUE;
    if (ftw->level > 0 && path[ftw->base] == '.') return FTW_SKIP_SUBTREE; // hidden, as the indexer
    if (!strcmp(path, walk_w->data_abs)) return FTW_SKIP_SUBTREE;          // thumbnails, the db: never
    int rc = add_one(walk_w, path);
    if (rc < 0) return walk_rc = rc, FTW_STOP;
    return FTW_CONTINUE;
}

// Watches dir and every folder below it; 0 or an error (not the limit).
static int add_tree(watch *w, const char *dir)
{
    walk_w = w, walk_rc = 0;
    nftw(dir, walk_fn, 16, FTW_PHYS | FTW_ACTIONRETVAL);
    walk_w = NULL;
    return walk_rc;
}

static long kernel_limit(void)
{
    FILE *f = fopen(WATCH_LIMIT_FILE, "r");
    long v = -1;
    if (f && fscanf(f, "%ld", &v) != 1) v = -1;
    if (f) fclose(f);
    return v;
}

// Says once per change of the count that folders are not watched, and why.
static void warn_limit(watch *w)
{
    if (w->unwatched == w->warned) return;
    w->warned = w->unwatched;
    if (!w->unwatched) {
        fprintf(out_of(w), "lisa: watch: every folder is watched again (%d)\n", w->nw);
        return;
    }
    long lim = w->o.max_watches > 0 ? w->o.max_watches : kernel_limit();
    fprintf(out_of(w),
            "lisa: watch: the inotify watch limit is reached (%ld watches, fs.inotify.max_user_watches in %s): "
            "%d folders are not watched, so every folder is rescanned every %d s instead. Raise the limit with: "
            "sudo sysctl fs.inotify.max_user_watches=524288\n",
            lim, WATCH_LIMIT_FILE, w->unwatched, w->o.rescan_ms / 1000 ? w->o.rescan_ms / 1000 : 1);
}

// Walks every root again: new folders get a watch, folders gone or moved out
// lose theirs, renamed ones get their new path.
static int resync(watch *w)
{
    for (int i = 0; i < w->nw; i++) w->w[i].seen = 0;
    w->unwatched = 0;
    int rc = 0;
    for (int i = 0; rc == 0 && i < w->nroots; i++) rc = add_tree(w, w->roots[i]);
    for (int i = w->nw - 1; i >= 0; i--)
        if (!w->w[i].seen) inotify_rm_watch(w->ifd, w->w[i].wd), drop_at(w, i);
    pthread_mutex_lock(&w->mu);
    for (int i = 0; i < w->nroots; i++) {
        w->root_watched[i] = 0;
        for (int k = 0; k < w->nw; k++) w->root_watched[i] |= !strcmp(w->w[k].path, w->roots[i]);
    }
    w->st.watched = w->nw, w->st.unwatched = w->unwatched, w->st.limited = w->unwatched > 0;
    pthread_mutex_unlock(&w->mu);
    warn_limit(w);
    w->resync = 0;
    return rc;
}

// ---------------------------------------------------------------- events

static void mark(watch *w, double t)
{
    if (!w->pending) w->first_ms = t;
    w->pending = 1, w->last_ms = t;
}

static int on_event(watch *w, const struct inotify_event *ev, double t)
{
    if (ev->mask & IN_Q_OVERFLOW) {
        pthread_mutex_lock(&w->mu);
        w->st.overflows++;
        pthread_mutex_unlock(&w->mu);
        w->resync = 1, mark(w, t);
        return 0;
    }
    wentry *e = find_wd(w, ev->wd);
    if (ev->mask & IN_IGNORED) {
        if (e) drop_at(w, (int)(e - w->w));
        return 0;
    }
    if (!e || (ev->len && ev->name[0] == '.')) return 0; // a hidden name: wait for the rename into place
    pthread_mutex_lock(&w->mu);
    w->st.events++;
    pthread_mutex_unlock(&w->mu);
    mark(w, t);
    if (ev->mask & (IN_MOVE_SELF | IN_DELETE_SELF)) w->resync = 1;
    if (!(ev->mask & IN_ISDIR) || !ev->len) return 0;
    if (ev->mask & IN_MOVED_FROM) w->resync = 1; // its watches now carry stale paths, or left the tree
    if (!(ev->mask & (IN_CREATE | IN_MOVED_TO))) return 0;
    char sub[PATH_MAX];
    if (snprintf(sub, sizeof sub, "%s/%s", e->path, ev->name) >= (int)sizeof sub) return 0;
    int before = w->unwatched, rc = add_tree(w, sub); // at once: files may follow before the batch
    if (w->unwatched != before) w->resync = 1;        // the limit: recount and say so
    return rc;
}

static int read_events(watch *w)
{
    char buf[64 * 1024] __attribute__((aligned(__alignof__(struct inotify_event))));
    for (;;) {
        ssize_t n = read(w->ifd, buf, sizeof buf);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0 && errno == EAGAIN) return 0;
        if (n <= 0) return lisa_seterr(LISA_EIO, "watch: reading inotify events: %s", strerror(errno));
        double t = mono_ms();
        for (char *p = buf; p < buf + n;) {
            const struct inotify_event *ev = (const struct inotify_event *)p;
            int rc = on_event(w, ev, t);
            if (rc < 0) return rc;
            p += sizeof *ev + ev->len;
        }
    }
}

static void read_kick(watch *w)
{
    uint64_t v;
    while (read(w->efd, &v, sizeof v) == (ssize_t)sizeof v) {}
    pthread_mutex_lock(&w->mu);
    int k = w->kicked;
    w->kicked = 0;
    pthread_mutex_unlock(&w->mu);
    if (k) mark(w, mono_ms());
}

// ---------------------------------------------------------------- batches

// When the next batch is due (ms, monotonic), or -1 for none.
static double due_at(const watch *w)
{
    double due = -1;
    if (w->pending) {
        double a = w->last_ms + w->o.debounce_ms, b = w->first_ms + w->o.max_delay_ms;
        due = a < b ? a : b;
    }
    if (w->unwatched && (due < 0 || w->next_rescan < due)) due = w->next_rescan;
    return due;
}

static void take_roots(watch *w)
{
    pthread_mutex_lock(&w->mu);
    if (w->roots_changed) {
        int *rw = calloc((size_t)w->nnext + 1, sizeof *rw);
        if (rw) {
            roots_free(w->roots, w->nroots);
            free(w->root_watched);
            w->roots = w->next_roots, w->nroots = w->nnext, w->root_watched = rw;
            w->next_roots = NULL, w->nnext = 0, w->roots_changed = 0;
            w->resync = 1, w->pending = 1;
        }
    }
    pthread_mutex_unlock(&w->mu);
}

// The roots that are still folders (a root removed from disk is skipped:
// its images stay until it comes back or is removed from the library).
static int live_roots(watch *w, const char **out)
{
    int n = 0;
    for (int i = 0; i < w->nroots; i++) {
        struct stat sb;
        if (stat(w->roots[i], &sb) == 0 && S_ISDIR(sb.st_mode)) out[n++] = w->roots[i];
    }
    return n;
}

static int run_batch(watch *w, int rescan)
{
    int rc = 0;
    if (w->resync || rescan) rc = resync(w);
    if (rc < 0) return rc;
    rc = read_events(w); // what arrived meanwhile belongs to this batch
    if (rc < 0) return rc;
    w->pending = 0;
    const char *roots[WATCH_ROOTS_MAX];
    int n = live_roots(w, roots);
    pthread_mutex_lock(&w->mu);
    w->st.watched = w->nw; // subfolders added as their events came
    w->st.running = 1, w->st.batches++, w->st.rescans += rescan, w->st.last_event_ms = w->last_ms;
    pthread_mutex_unlock(&w->mu);
    indexer_stats st;
    memset(&st, 0, sizeof st);
    int run_rc = 0;
    if (n) run_rc = w->o.run ? w->o.run(w->o.ud, roots, n, &st) : indexer_run(roots, n, w->o.ix, &st);
    if (run_rc < 0) fprintf(out_of(w), "lisa: watch: indexing failed: %s\n", lisa_errmsg_for(run_rc));
    w->next_rescan = mono_ms() + w->o.rescan_ms;
    pthread_mutex_lock(&w->mu);
    w->st.running = 0, w->st.last_rc = run_rc, w->st.last = st;
    watch_status copy = w->st;
    pthread_mutex_unlock(&w->mu);
    if (w->o.on_batch) w->o.on_batch(w->o.ud, &copy);
    return 1;
}

int watch_step(watch *w, int timeout_ms)
{
    take_roots(w);
    double t = mono_ms(), due = due_at(w);
    int wait = timeout_ms;
    if (due >= 0) wait = due <= t ? 0 : (int)(due - t) + 1 < wait ? (int)(due - t) + 1 : wait;
    struct pollfd p[2] = {{w->ifd, POLLIN, 0}, {w->efd, POLLIN, 0}};
    if (poll(p, 2, wait < 0 ? 0 : wait) < 0 && errno != EINTR)
        return lisa_seterr(LISA_EIO, "watch: poll: %s", strerror(errno));
    if (atomic_load(&w->stop)) return 0;
    if (p[1].revents & POLLIN) read_kick(w);
    int rc = p[0].revents & POLLIN ? read_events(w) : 0;
    if (rc < 0) return rc;
    take_roots(w);
    t = mono_ms(), due = due_at(w);
    if (due < 0 || due > t) return 0;
    return run_batch(w, !w->pending);
}

// ---------------------------------------------------------------- lifecycle

int watch_open(const char *const *roots, int nroots, const watch_opts *o, watch **out)
{
    *out = NULL;
    if (!o->ix || !o->ix->data_dir) return lisa_seterr(LISA_EINVAL, "watch: no indexer options or data dir");
    watch *w = calloc(1, sizeof *w);
    if (!w) return lisa_seterr(LISA_ENOMEM, "watch: out of memory");
    w->ifd = w->efd = -1;
    w->o = *o;
    if (w->o.debounce_ms <= 0) w->o.debounce_ms = WATCH_DEBOUNCE_MS;
    if (w->o.max_delay_ms <= 0) w->o.max_delay_ms = WATCH_MAX_DELAY_MS;
    if (w->o.rescan_ms <= 0) w->o.rescan_ms = WATCH_RESCAN_MS;
    if (!realpath(o->ix->data_dir, w->data_abs)) snprintf(w->data_abs, sizeof w->data_abs, "%s", o->ix->data_dir);
    pthread_mutex_init(&w->mu, NULL);
    w->ifd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
    w->efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    int rc = 0;
    if (w->ifd < 0 || w->efd < 0) rc = lisa_seterr(LISA_EIO, "watch: inotify: %s", strerror(errno));
    if (rc == 0) rc = roots_copy(w, roots, nroots, 1, &w->roots, &w->nroots);
    if (rc == 0 && !(w->root_watched = calloc((size_t)w->nroots + 1, sizeof *w->root_watched)))
        rc = lisa_seterr(LISA_ENOMEM, "watch: out of memory");
    if (rc == 0) rc = resync(w);
    if (rc < 0) return watch_close(w), rc;
    w->next_rescan = mono_ms() + w->o.rescan_ms;
    if (o->catch_up) w->pending = 1, w->first_ms = w->last_ms = mono_ms() - w->o.max_delay_ms;
    *out = w;
    return 0;
}

static void *thread_main(void *arg)
{
    watch *w = arg;
    while (!atomic_load(&w->stop)) {
        int rc = watch_step(w, 1000);
        if (rc < 0) {
            fprintf(out_of(w), "lisa: watch: %s\n", lisa_errmsg_for(rc));
            usleep(500 * 1000);
        }
    }
    return NULL;
}

int watch_start(watch *w)
{
    if (w->started) return 0;
    int e = pthread_create(&w->th, NULL, thread_main, w);
    if (e) return lisa_seterr(LISA_EIO, "watch: cannot start a thread: %s", strerror(e));
    w->started = 1;
    return 0;
}

static void wake(watch *w)
{
    uint64_t one = 1;
    if (write(w->efd, &one, sizeof one) < 0) {} // a full counter still wakes the poll
}

void watch_kick(watch *w)
{
    if (!w) return;
    pthread_mutex_lock(&w->mu);
    w->kicked = 1;
    pthread_mutex_unlock(&w->mu);
    wake(w);
}

int watch_set_roots(watch *w, const char *const *roots, int nroots)
{
    char **r = NULL;
    int n = 0, rc = roots_copy(w, roots, nroots, 0, &r, &n);
    if (rc < 0) return rc;
    pthread_mutex_lock(&w->mu);
    roots_free(w->next_roots, w->nnext);
    w->next_roots = r, w->nnext = n, w->roots_changed = 1;
    pthread_mutex_unlock(&w->mu);
    wake(w);
    return 0;
}

void watch_get_status(watch *w, watch_status *st)
{
    pthread_mutex_lock(&w->mu);
    *st = w->st;
    pthread_mutex_unlock(&w->mu);
}

int watch_is_watching(watch *w, const char *path)
{
    int yes = 0;
    pthread_mutex_lock(&w->mu);
    for (int i = 0; i < w->nroots; i++) yes |= w->root_watched[i] && !strcmp(w->roots[i], path);
    pthread_mutex_unlock(&w->mu);
    return yes;
}

void watch_close(watch *w)
{
    if (!w) return;
    atomic_store(&w->stop, 1);
    if (w->efd >= 0) wake(w);
    if (w->started) pthread_join(w->th, NULL);
    if (w->ifd >= 0) close(w->ifd);
    if (w->efd >= 0) close(w->efd);
    for (int i = 0; i < w->nw; i++) free(w->w[i].path);
    free(w->w);
    roots_free(w->roots, w->nroots);
    roots_free(w->next_roots, w->nnext);
    free(w->root_watched);
    pthread_mutex_destroy(&w->mu);
    free(w);
}

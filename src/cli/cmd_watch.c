// `lisa watch PATH... [--model DIR] [--data DIR]`: indexes the folders
// incrementally, then follows their changes with inotify (search/watch.h)
// until SIGINT/SIGTERM, without the server.
#include "cli/cli.h"
#include "base/err.h"
#include "caption/caption.h"
#include "clip/clip.h"
#include "model/modeldir.h"
#include "search/search.h"
#include "search/settings.h"
#include "search/watch.h"

#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int usage(void)
{
    fprintf(stderr,
            "usage: lisa watch PATH... [--model DIR] [--data DIR] [--threads N] [--no-ocr]\n"
            "                  [--no-captions] [--debounce MS] [--rescan S] [--quiet]\n"
            "  indexes the folders in place (incrementally, like lisa index), then keeps the index in\n"
            "  step as files are added, changed, moved, renamed or deleted, until Ctrl-C.\n"
            "  --debounce: quiet time that closes a batch (default %d ms); --rescan: the full rescan\n"
            "  period when the inotify watch limit leaves folders unwatched (default %d s)\n",
            WATCH_DEBOUNCE_MS, WATCH_RESCAN_MS / 1000);
    return 2;
}

typedef struct {
    int quiet;
} watch_cli;

static void on_batch(void *ud, const watch_status *w)
{
    const watch_cli *c = ud;
    const indexer_stats *st = &w->last;
    if (c->quiet || w->last_rc < 0) return;
    fprintf(stderr,
            "lisa watch: batch %lld: %lld files in %.2fs: %lld new, %lld changed, %lld moved, %lld copied, "
            "%lld removed, %lld failed\n",
            w->batches, st->files, st->seconds, st->added, st->changed, st->moved, st->copied, st->removed, st->failed);
}

// The captioner when blip-image-captioning-base is installed, else NULL
// (said when it is there but does not load).
static cap_model *captioner(const settings *cfg)
{
    cap_model *m = NULL;
    int rc = cap_load_default(cfg->data_dir, 0, &m);
    if (rc < 0 && rc != LISA_ENOTFOUND) fprintf(stderr, "lisa: watching without captions: %s\n", lisa_errmsg_for(rc));
    return m;
}

static int parse(int argc, char **argv, indexer_opts *o, watch_opts *wo, int *no_cap, watch_cli *c, const char **paths,
                 int *np)
{
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (settings_flag_arity(a))
            i++;
        else if (!strcmp(a, "--threads") && v)
            o->threads = atoi(v), i++;
        else if (!strcmp(a, "--no-ocr"))
            o->no_ocr = 1;
        else if (!strcmp(a, "--no-captions"))
            *no_cap = 1;
        else if (!strcmp(a, "--debounce") && v && atoi(v) > 0)
            wo->debounce_ms = atoi(v), i++;
        else if (!strcmp(a, "--rescan") && v && atoi(v) > 0)
            wo->rescan_ms = atoi(v) * 1000, i++;
        else if (!strcmp(a, "--quiet"))
            c->quiet = 1;
        else if (a[0] == '-' && a[1])
            return -1;
        else
            paths[(*np)++] = a;
    }
    return *np ? 0 : -1;
}

static int serve_loop(const char *const *paths, int np, watch_opts *wo, volatile int *cancel)
{
    sigset_t set; // blocked before the thread starts, so only sigwait() sees them
    sigemptyset(&set);
    sigaddset(&set, SIGINT), sigaddset(&set, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &set, NULL);
    watch *w = NULL;
    if (watch_open(paths, np, wo, &w) < 0 || watch_start(w) < 0) return watch_close(w), cli_fail("watch");
    watch_status ws;
    watch_get_status(w, &ws);
    fprintf(stderr, "lisa: watching %d folders under %d paths (Ctrl-C stops)\n", ws.watched, np);
    int sig = 0;
    sigwait(&set, &sig);
    fprintf(stderr, "lisa: stopping after the batch in flight\n");
    *cancel = 1;
    watch_close(w);
    return 0;
}

int cmd_watch(int argc, char **argv)
{
    settings cfg;
    indexer_opts o;
    watch_opts wo;
    watch_cli c = {0};
    indexer_opts_init(&o);
    watch_opts_init(&wo);
    if (settings_resolve(&cfg, argc, argv) < 0) return cli_fail("watch");
    o.no_ocr = !cfg.ocr, o.ocr_lang = cfg.ocr_lang, o.progress = 2;
    int no_cap = !cfg.captions, np = 0;
    const char **paths = calloc((size_t)argc + 1, sizeof *paths);
    if (!paths || parse(argc, argv, &o, &wo, &no_cap, &c, paths, &np) < 0) return free(paths), usage();
    clip_model *m = NULL;
    char id[256], missing[512];
    if (search_model_load(cfg.models, cfg.data_dir, o.threads, &m, id, sizeof id, missing, sizeof missing) < 0)
        return free(paths), cli_fail("watch");
    if (!m) fprintf(stderr, "lisa: indexing keywords only: %s\n", missing);
    cap_model *cm = no_cap ? NULL : captioner(&cfg);
    volatile int cancel = 0;
    o.data_dir = cfg.data_dir, o.model = m, o.model_id = m ? id : NULL, o.thumb_size = cfg.thumbnail_size;
    o.captioner = cm, o.cancel = &cancel, o.progress = c.quiet ? 0 : 2;
    wo.ix = &o, wo.catch_up = 1, wo.on_batch = on_batch, wo.ud = &c;
    int status = serve_loop(paths, np, &wo, &cancel);
    cap_free(cm);
    clip_free(m);
    free(paths);
    return status;
}

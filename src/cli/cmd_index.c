// `lisa index PATH... [--model DIR] [--data DIR]`: incremental in-place indexing.
#include "cli/cli.h"
#include "base/err.h"
#include "caption/caption.h"
#include "clip/clip.h"
#include "model/modeldir.h"
#include "search/reembed.h"
#include "search/indexer.h"
#include "search/search.h"
#include "search/settings.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static int usage(void)
{
    fprintf(stderr, "usage: lisa index PATH... [--model DIR] [--data DIR] [--threads N] [--batch N]\n"
                    "       lisa index --model DIR [--data DIR]   (re-embed the library for that model)\n"
                    "                  [--thumbnail-size N] [--progress bar|lines|none]\n"
                    "                  [--no-ocr] [--ocr-lang eng+deu] [--retry-failed]\n"
                    "                  [--no-captions] [--caption-model DIR] [--caption-beams K]\n"
                    "  indexes folders in place, incrementally; without a CLIP model only keywords\n"
                    "  OCR (Tesseract) reads text in images; other languages: apt-get install tesseract-ocr-LANG\n"
                    "  files that failed to decode are skipped until they change; --retry-failed tries them again\n"
                    "  BLIP captions come from " MODELDIR_DEFAULT_CAPTION " when installed (config: captions = off)\n");
    return 2;
}

// The captioner, or NULL with one line saying why indexing goes on without
// `lisa index --model DIR` without paths: gives every stored image a vector
// for that model (search/reembed.h: nothing else is recomputed), then reports
// each model's coverage.
static int reembed_main(const settings *cfg, clip_model *m, const char *id, const char *missing)
{
    if (!m) {
        fprintf(stderr, "lisa: index without paths re-embeds the library for a model, and there is none: %s\n",
                missing);
        return 2;
    }
    reembed_opts ro = {cfg->data_dir, m, id, NULL, NULL, NULL};
    reembed_stats rs;
    int rc = reembed_run(&ro, &rs);
    int status = rc < 0 ? cli_fail("index") : 0;
    if (rc == 0)
        fprintf(stderr, "re-embedded for %s in %.2fs: %lld needed a vector, %lld embedded, %lld failed\n", id,
                rs.seconds, rs.total, rs.embedded, rs.failed);
    if (rc == 0 && reembed_print_coverage(stderr, cfg->data_dir, id) < 0) status = cli_fail("index");
    clip_free(m);
    return status;
}

// captions (not installed, or a broken model dir: the message names the file).
static cap_model *captioner_open(const settings *cfg, const char *dir, int threads)
{
    cap_model *m = NULL;
    int rc = dir ? cap_load(dir, threads, &m) : cap_load_default(cfg->data_dir, threads, &m);
    if (rc < 0) fprintf(stderr, "lisa: indexing without captions: %s\n", lisa_errmsg_for(rc));
    return m;
}

int cmd_index(int argc, char **argv)
{
    settings cfg;
    indexer_opts o;
    indexer_opts_init(&o);
    if (settings_resolve(&cfg, argc, argv) < 0) return cli_fail("index");
    o.no_ocr = !cfg.ocr, o.ocr_lang = cfg.ocr_lang;
    int no_captions = !cfg.captions;
    const char *cap_dir = NULL;
    cap_opts copts;
    cap_opts_default(&copts);
    const char **paths = calloc((size_t)argc, sizeof *paths);
    int np = 0;
    for (int i = 1; paths && i < argc; i++) {
        if (settings_flag_arity(argv[i]))
            i++;
        else if (!strcmp(argv[i], "--threads") && i + 1 < argc)
            o.threads = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--batch") && i + 1 < argc)
            o.batch = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--no-ocr"))
            o.no_ocr = 1;
        else if (!strcmp(argv[i], "--retry-failed"))
            o.retry_failed = 1;
        else if (!strcmp(argv[i], "--no-captions"))
            no_captions = 1;
        else if (!strcmp(argv[i], "--caption-model") && i + 1 < argc)
            cap_dir = argv[++i];
        else if (!strcmp(argv[i], "--caption-beams") && i + 1 < argc)
            copts.num_beams = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--progress") && i + 1 < argc) {
            const char *v = argv[++i];
            o.progress = !strcmp(v, "none") ? 0 : !strcmp(v, "lines") ? 2 : 1;
        } else if (argv[i][0] == '-' && argv[i][1])
            return free(paths), usage();
        else
            paths[np++] = argv[i];
    }
    if (!paths) return usage();
    clip_model *m = NULL;
    char id[256], missing[512];
    if (search_model_load(cfg.models, cfg.data_dir, o.threads, &m, id, sizeof id, missing, sizeof missing) < 0) {
        free(paths);
        return cli_fail("index");
    }
    if (!np) return free(paths), reembed_main(&cfg, m, id, missing);
    if (!m) fprintf(stderr, "lisa: indexing keywords only: %s\n", missing);
    o.data_dir = cfg.data_dir, o.model = m, o.model_id = m ? id : NULL, o.thumb_size = cfg.thumbnail_size;
    if (copts.num_beams < 1 || copts.num_beams > CAP_MAX_BEAMS) return free(paths), clip_free(m), usage();
    cap_model *cm = no_captions ? NULL : captioner_open(&cfg, cap_dir, o.threads);
    o.captioner = cm, o.caption_opts = &copts;
    indexer_stats st;
    int rc = indexer_run(paths, np, &o, &st);
    int status = rc < 0 ? cli_fail("index") : 0;
    if (rc == 0)
        fprintf(stderr,
                "indexed %lld files in %.2fs: %lld new, %lld changed, %lld unchanged, %lld touched, %lld moved, "
                "%lld copied, %lld removed, %lld embedded, %lld not images, %lld failed\n",
                st.files, st.seconds, st.added, st.changed, st.unchanged, st.touched, st.moved, st.copied, st.removed,
                st.embedded, st.nonimage, st.failed);
    if (rc == 0 && st.failed_before)
        fprintf(stderr, "%lld files failed to decode before and are unchanged: skipped (--retry-failed tries them)\n",
                st.failed_before);
    if (rc == 0 && st.ocr_tested)
        fprintf(stderr,
                "ocr: %lld tested (%.1f ms each), %lld skipped as text-free, %lld recognised (%.0f ms each), "
                "%lld with text\n",
                st.ocr_tested, st.ocr_test_ms / st.ocr_tested, st.ocr_skipped, st.ocr_recognised,
                st.ocr_recognised ? st.ocr_ms / st.ocr_recognised : 0.0, st.ocr_with_text);
    if (rc == 0 && st.captioned)
        fprintf(stderr, "captions: %lld generated (%.0f ms each)\n", st.captioned, st.caption_ms / st.captioned);
    if (rc == 0 && m && reembed_print_coverage(stderr, cfg.data_dir, id) < 0) lisa_clearerr();
    cap_free(cm);
    clip_free(m);
    free(paths);
    return status;
}

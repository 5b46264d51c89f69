// BLIP captioning time: `bench_caption MODEL_DIR [THREADS] [RUNS]` prints, for
// random pixels and a forced 20-token caption (min_length = max_length = 20, so
// every run decodes the same number of steps),
//   lisa caption_vision_ms X      vision tower, one 384x384 image
//   lisa caption_greedy_kv_ms X   cross-attention K/V of every layer (once per image)
//   lisa caption_greedy_decode_ms X   20 decoder steps, greedy
//   lisa caption_beam3_kv_ms X / caption_beam3_decode_ms X   the same for beam 3
//   lisa caption_greedy_ms X / caption_beam3_ms X   whole captions (vision + K/V + decode)
// each the median of RUNS timed runs after a warm-up, 2 threads by default.
#include "base/err.h"
#include "caption/caption.h"

#include <stdio.h>
#include <stdlib.h>

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static double median(double *v, int n)
{
    qsort(v, (size_t)n, sizeof *v, cmp_double);
    return v[n / 2];
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: bench_caption MODEL_DIR [THREADS] [RUNS]\n");
        return 2;
    }
    int threads = argc > 2 ? atoi(argv[2]) : 2, runs = argc > 3 ? atoi(argv[3]) : 5;
    if (runs < 1 || runs > 100) runs = 5;
    cap_model *m;
    if (cap_load(argv[1], threads, &m) < 0) {
        fprintf(stderr, "bench_caption: %s\n", lisa_errmsg());
        return 1;
    }
    const cap_config *c = cap_cfg(m);
    size_t npx = (size_t)c->num_channels * c->image_size * c->image_size;
    size_t ne = (size_t)cap_image_tokens(m) * c->vision.hidden;
    float *px = malloc(npx * sizeof *px), *emb = malloc(ne * sizeof *emb);
    if (!px || !emb) return 1;
    uint32_t x = 1;
    for (size_t i = 0; i < npx; i++) px[i] = (float)((x = x * 1664525u + 1013904223u) >> 8) / 16777216.0f * 4 - 2;
    double *vis = malloc((size_t)runs * sizeof *vis), *kv = malloc((size_t)runs * sizeof *kv);
    double *dec = malloc((size_t)runs * sizeof *dec);
    cap_vision(m, px, emb);
    for (int r = 0; r < runs; r++) cap_vision(m, px, emb), vis[r] = cap_last_timing(m).vision_ms;
    double v = median(vis, runs);
    printf("lisa caption_vision_ms %.1f\n", v);
    for (int beams = 1; beams <= 3; beams += 2) {
        cap_opts o;
        cap_opts_default(&o);
        o.num_beams = beams, o.min_length = o.max_length = 20;
        int32_t ids[32];
        int n;
        cap_generate(m, emb, NULL, 0, &o, ids, 32, &n);
        for (int r = 0; r < runs; r++) {
            if (cap_generate(m, emb, NULL, 0, &o, ids, 32, &n) < 0) return fprintf(stderr, "%s\n", lisa_errmsg()), 1;
            cap_timing t = cap_last_timing(m);
            kv[r] = t.cross_kv_ms, dec[r] = t.decode_ms;
        }
        const char *k = beams == 1 ? "greedy" : "beam3";
        double a = median(kv, runs), b = median(dec, runs);
        printf("lisa caption_%s_kv_ms %.1f\nlisa caption_%s_decode_ms %.1f\nlisa caption_%s_ms %.1f\n", k, a, k, b, k,
               v + a + b);
    }
    free(vis), free(kv), free(dec), free(px), free(emb);
    cap_free(m);
    return 0;
}

// BLIP captioning time and memory:
//   bench_caption MODEL_DIR [THREADS] [RUNS] [fp32|bf16|auto]
// prints, for random pixels and a forced 20-token caption (min_length =
// max_length = 20, so every run decodes the same number of steps), lines
// "TAG key value" with TAG lisa_fp32 / lisa_bf16 (the precision the weights
// were packed in):
//   caption_vision_ms          vision tower, one image at the model's size
//   caption_greedy_kv_ms       cross-attention K/V of every layer (once per image)
//   caption_greedy_decode_ms   the decoder steps, greedy
//   caption_beam3_kv_ms / caption_beam3_decode_ms   the same for beam 3
//   caption_greedy_ms / caption_beam3_ms   whole captions (vision + K/V + decode)
//   caption_*_cpu_ms           process CPU time of the same (all threads): less
//                              sensitive to a loaded machine than wall time
//   weight_mib                 resident packed weights
//   peak_rss_mib               the process's peak RSS (load + every run)
//   loadavg                    1-minute load average at the end
// each time the median of RUNS timed runs after a warm-up, 2 threads by default.
#include "base/err.h"
#include "caption/caption.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

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

static double cpu_ms(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1e3 + (ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e3;
}

static double loadavg(void)
{
    double l = -1;
    FILE *f = fopen("/proc/loadavg", "r");
    if (f && fscanf(f, "%lf", &l) != 1) l = -1;
    if (f) fclose(f);
    return l;
}

typedef struct {
    double vis, vis_cpu;
} vis_fig;

static vis_fig bench_vision(cap_model *m, const float *px, float *emb, int runs, double *a, double *b)
{
    cap_vision(m, px, emb);
    for (int r = 0; r < runs; r++) {
        double c0 = cpu_ms();
        cap_vision(m, px, emb);
        a[r] = cap_last_timing(m).vision_ms, b[r] = cpu_ms() - c0;
    }
    return (vis_fig){median(a, runs), median(b, runs)};
}

// Greedy (beams 1) or beam search with a forced 20-token caption.
static int bench_generate(cap_model *m, const char *tag, const float *emb, int beams, int runs, vis_fig v, double *kv,
                          double *dec, double *cpu)
{
    cap_opts o;
    cap_opts_default(&o);
    o.num_beams = beams, o.min_length = o.max_length = 20;
    int32_t ids[32];
    int n;
    if (cap_generate(m, emb, NULL, 0, &o, ids, 32, &n) < 0) return fprintf(stderr, "%s\n", lisa_errmsg()), -1;
    for (int r = 0; r < runs; r++) {
        double c0 = cpu_ms();
        if (cap_generate(m, emb, NULL, 0, &o, ids, 32, &n) < 0) return fprintf(stderr, "%s\n", lisa_errmsg()), -1;
        cap_timing t = cap_last_timing(m);
        kv[r] = t.cross_kv_ms, dec[r] = t.decode_ms, cpu[r] = cpu_ms() - c0;
    }
    const char *k = beams == 1 ? "greedy" : "beam3";
    double a = median(kv, runs), b = median(dec, runs), c = median(cpu, runs);
    printf("%s caption_%s_kv_ms %.1f\n%s caption_%s_decode_ms %.1f\n%s caption_%s_ms %.1f\n", tag, k, a, tag, k, b, tag,
           k, v.vis + a + b);
    printf("%s caption_%s_cpu_ms %.1f\n", tag, k, v.vis_cpu + c);
    return 0;
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: bench_caption MODEL_DIR [THREADS] [RUNS] [fp32|bf16|auto]\n");
        return 2;
    }
    int threads = argc > 2 ? atoi(argv[2]) : 2, runs = argc > 3 ? atoi(argv[3]) : 5, prec = CAP_PREC_AUTO;
    if (runs < 1 || runs > 100) runs = 5;
    if (argc > 4)
        prec = !strcmp(argv[4], "fp32")   ? CAP_PREC_FP32
               : !strcmp(argv[4], "bf16") ? CAP_PREC_BF16
               : !strcmp(argv[4], "int8") ? CAP_PREC_INT8
                                          : prec;
    cap_model *m;
    if (cap_load_prec(argv[1], threads, prec, &m) < 0) {
        fprintf(stderr, "bench_caption: %s\n", lisa_errmsg());
        return 1;
    }
    char tag[32];
    snprintf(tag, sizeof tag, "lisa_%s", cap_precision(m));
    const cap_config *c = cap_cfg(m);
    size_t npx = (size_t)c->num_channels * c->image_size * c->image_size;
    size_t ne = (size_t)cap_image_tokens(m) * c->vision.hidden;
    float *px = malloc(npx * sizeof *px), *emb = malloc(ne * sizeof *emb);
    double *a = malloc((size_t)runs * sizeof *a), *b = malloc((size_t)runs * sizeof *b);
    double *d = malloc((size_t)runs * sizeof *d);
    if (!px || !emb || !a || !b || !d) return 1;
    uint32_t x = 1;
    for (size_t i = 0; i < npx; i++) px[i] = (float)((x = x * 1664525u + 1013904223u) >> 8) / 16777216.0f * 4 - 2;
    vis_fig v = bench_vision(m, px, emb, runs, a, b);
    printf("%s caption_vision_ms %.1f\n%s caption_vision_cpu_ms %.1f\n", tag, v.vis, tag, v.vis_cpu);
    if (bench_generate(m, tag, emb, 1, runs, v, a, b, d) < 0 || bench_generate(m, tag, emb, 3, runs, v, a, b, d) < 0)
        return 1;
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    printf("%s weight_mib %.0f\n%s peak_rss_mib %.0f\n%s loadavg %.2f\n", tag, (double)cap_weight_bytes(m) / (1 << 20),
           tag, ru.ru_maxrss / 1024.0, tag, loadavg());
    free(a), free(b), free(d), free(px), free(emb);
    cap_free(m);
    return 0;
}

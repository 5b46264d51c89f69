#include "testutil.h"

#include <sys/wait.h>

#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

const char *tu_data(const char *rel)
{
    static char buf[1024];
    snprintf(buf, sizeof buf, "tests/data/%s", rel);
    return buf;
}

const char *tu_tmpdir(void)
{
    static char dir[256];
    if (!dir[0]) {
        mkdir("tests/tmp", 0755);
        snprintf(dir, sizeof dir, "tests/tmp/run-%d", (int)getpid());
        char cmd[300];
        snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
        if (system(cmd) != 0) fail_msg("cannot clear %s", dir);
        if (mkdir(dir, 0755) != 0) fail_msg("cannot create %s", dir);
    }
    return dir;
}

const char *tu_tmp(const char *name)
{
    static char buf[1024];
    snprintf(buf, sizeof buf, "%s/%s", tu_tmpdir(), name);
    return buf;
}

void tu_write(const char *path, const void *data, size_t n)
{
    FILE *f = fopen(path, "wb");
    if (!f) fail_msg("cannot write %s", path);
    if (n && fwrite(data, 1, n, f) != n) fail_msg("short write %s", path);
    fclose(f);
}

uint8_t *tu_read(const char *path, size_t *n)
{
    FILE *f = fopen(path, "rb");
    if (!f) fail_msg("cannot read %s", path);
    fseek(f, 0, SEEK_END);
    long len = ftell(f);
    fseek(f, 0, SEEK_SET);
    uint8_t *buf = malloc((size_t)len + 1);
    if (!buf || fread(buf, 1, (size_t)len, f) != (size_t)len) fail_msg("cannot read %s", path);
    fclose(f);
    buf[len] = 0;
    *n = (size_t)len;
    return buf;
}

const char *tu_build(const char *rel)
{
    static char dir[1024], buf[8][1536];
    static int slot;
    if (!dir[0]) {
        const char *env = getenv("LISA_BUILD");
        char exe[1024];
        ssize_t n = env && *env ? -1 : readlink("/proc/self/exe", exe, sizeof exe - 1);
        if (env && *env) {
            snprintf(dir, sizeof dir, "%s", env);
        } else if (n > 0) {
            exe[n] = 0;
            for (int up = 0; up < 2; up++) { // BUILD/tests/test_x -> BUILD
                char *s = strrchr(exe, '/');
                if (s) *s = 0;
            }
            snprintf(dir, sizeof dir, "%s", exe[0] ? exe : "build");
        } else {
            snprintf(dir, sizeof dir, "build");
        }
    }
    char *b = buf[slot++ & 7];
    snprintf(b, sizeof buf[0], "%s/%s", dir, rel);
    return b;
}

int tu_find_models(const char *probe, char *out, size_t cap, const char *scripts)
{
    const char *cands[] = {getenv("LISA_BUILD"), tu_build(""), "build", "build/debug"};
    struct stat st;
    for (size_t i = 0; i < sizeof cands / sizeof *cands; i++) {
        if (!cands[i]) continue;
        snprintf(out, cap, "%s/models/%s", cands[i], probe);
        if (stat(out, &st) == 0) {
            snprintf(out, cap, "%s/models", cands[i]);
            return 0;
        }
    }
    fprintf(stderr, "no fixture models (run %s)\n", scripts);
    return -1;
}

float *tu_floats(const cJSON *arr, int *n)
{
    *n = cJSON_GetArraySize(arr);
    float *v = malloc((size_t)(*n > 0 ? *n : 1) * sizeof *v);
    if (!v) fail_msg("out of memory");
    int i = 0;
    for (const cJSON *e = arr ? arr->child : NULL; e && i < *n; e = e->next) v[i++] = (float)e->valuedouble;
    return v;
}

void tu_copy(const char *src, const char *dst)
{
    size_t n;
    uint8_t *b = tu_read(src, &n);
    tu_write(dst, b, n);
    free(b);
}

int tu_run(const char *cmd, char **out)
{
    char full[4200];
    assert_true((size_t)snprintf(full, sizeof full, "%s 2>&1", cmd) < sizeof full);
    FILE *p = popen(full, "r");
    assert_non_null(p);
    size_t cap = 1 << 16, n = 0, k;
    char *buf = malloc(cap);
    while ((k = fread(buf + n, 1, cap - n - 1, p)) > 0)
        if ((n += k) + 1 == cap) buf = realloc(buf, cap *= 2);
    buf[n] = 0;
    int st = pclose(p);
    *out = buf;
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

float tu_frand(uint64_t *rng)
{
    *rng ^= *rng << 13, *rng ^= *rng >> 7, *rng ^= *rng << 17;
    return (float)((*rng >> 11) * (1.0 / 9007199254740992.0) * 2 - 1);
}

float *tu_rvec(uint64_t *rng, size_t n, float scale)
{
    float *v = malloc((n ? n : 1) * sizeof *v);
    if (!v) fail_msg("out of memory for %zu floats", n);
    for (size_t i = 0; i < n; i++) v[i] = tu_frand(rng) * scale;
    return v;
}

// Settings resolution: defaults < config file < environment < flags.
#include "search/settings.h"

#include "base/err.h"
#include "base/file.h"
#include "caption/caption.h"
#include "clip/clip.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

// ---------------------------------------------------------------- keys

enum { K_TOP_K, K_WEIGHT, K_THUMB, K_PORT, K_DATA, K_MODELS, K_OCR, K_OCR_LANG, K_PREC, K_CAPTIONS, K_ANN, K_AUTO };
enum { K_WATCH = K_AUTO + 1, K_NONE };

static const struct {
    const char *name, *alias, *env, *flag;
    int key;
} keys[] = {
    {"top_k", "top_k_results", "LISA_TOP_K", "--top-k", K_TOP_K},
    {"clip_weight", "default_clip_weight", "LISA_CLIP_WEIGHT", "--clip-weight", K_WEIGHT},
    {"thumbnail_size", "thumbnail_size", "LISA_THUMBNAIL_SIZE", "--thumbnail-size", K_THUMB},
    {"port", "port", "LISA_PORT", "--port", K_PORT},
    {"data_dir", "data", "LISA_DATA", "--data", K_DATA},
    {"models", "model", "LISA_MODELS", "--model", K_MODELS},
    {"ocr", "ocr", "LISA_OCR", "--ocr", K_OCR},
    {"ocr_lang", "ocr_language", "LISA_OCR_LANG", "--ocr-lang", K_OCR_LANG},
    {"precision", "precision", "LISA_PRECISION", "--precision", K_PREC},
    {"captions", "captions", "LISA_CAPTIONS", "--captions", K_CAPTIONS},
    {"ann_min_images", "ann_min_images", "LISA_ANN_MIN_IMAGES", "--ann-min-images", K_ANN},
    {"auto_index", "auto_index", "LISA_AUTO_INDEX", "--auto-index", K_AUTO},
    {"watch", "watch_folders", "LISA_WATCH", "--watch", K_WATCH},
};
#define NKEYS (sizeof keys / sizeof keys[0])

static int key_of(const char *name)
{
    for (size_t i = 0; i < NKEYS; i++)
        if (!strcasecmp(name, keys[i].name) || !strcasecmp(name, keys[i].alias)) return keys[i].key;
    return K_NONE;
}

void settings_defaults(settings *s)
{
    memset(s, 0, sizeof *s);
    s->top_k = SETTINGS_TOP_K_DEFAULT;
    s->clip_weight = SETTINGS_CLIP_WEIGHT_DEFAULT;
    s->thumbnail_size = SETTINGS_THUMB_DEFAULT;
    s->port = SETTINGS_PORT_DEFAULT;
    snprintf(s->data_dir, sizeof s->data_dir, "%s", SETTINGS_DATA_DEFAULT);
    s->ocr = 1;
    s->captions = 1;
    s->auto_index = 1;
    s->watch = 1;
    snprintf(s->ocr_lang, sizeof s->ocr_lang, "%s", SETTINGS_OCR_LANG_DEFAULT);
    s->ann_min_images = SETTINGS_ANN_MIN_DEFAULT;
    snprintf(s->precision, sizeof s->precision, "%s", clip_precision_name(clip_default_precision()));
}

// fp32 | bf16 | int8 (clip/clip.h).
static int set_precision(settings *s, const char *v, const char *where)
{
    int prec;
    int rc = clip_parse_precision(v, &prec);
    if (rc < 0) {
        char why[256];
        snprintf(why, sizeof why, "%s", lisa_errmsg_for(rc));
        return lisa_seterr(LISA_EINVAL, "%s: precision: %s", where, why);
    }
    snprintf(s->precision, sizeof s->precision, "%s", clip_precision_name(prec));
    clip_set_precision(prec); // what the next clip_load uses
    cap_set_precision(prec);  // and the next cap_load
    _Static_assert((int)CAP_PREC_FP32 == (int)CLIP_PREC_FP32 && (int)CAP_PREC_BF16 == (int)CLIP_PREC_BF16 &&
                       (int)CAP_PREC_INT8 == (int)CLIP_PREC_INT8,
                   "one precision code");
    return 0;
}

// ---------------------------------------------------------------- values

static int parse_int(const char *v, long lo, long hi, const char *where, const char *key, int *out)
{
    char *end;
    errno = 0;
    long x = strtol(v, &end, 10);
    if (end == v || *end || errno) return lisa_seterr(LISA_EINVAL, "%s: %s: '%s' is not an integer", where, key, v);
    if (x < lo || x > hi) return lisa_seterr(LISA_EINVAL, "%s: %s: %ld is not in [%ld,%ld]", where, key, x, lo, hi);
    *out = (int)x;
    return 0;
}

static int parse_weight(const char *v, const char *where, double *out)
{
    char *end;
    errno = 0;
    double x = strtod(v, &end);
    if (end == v || *end || errno || !isfinite(x))
        return lisa_seterr(LISA_EINVAL, "%s: clip_weight: '%s' is not a number", where, v);
    if (x < 0 || x > 1) return lisa_seterr(LISA_EINVAL, "%s: clip_weight: %s is not in [0,1]", where, v);
    *out = x;
    return 0;
}

static int set_path(char *dst, const char *v, const char *where, const char *key)
{
    size_t n = strlen(v);
    if (n == 0) return lisa_seterr(LISA_EINVAL, "%s: %s: empty path", where, key);
    if (n >= SETTINGS_PATH_MAX) return lisa_seterr(LISA_ETOOBIG, "%s: %s: path too long", where, key);
    memcpy(dst, v, n + 1);
    return 0;
}

static int parse_bool(const char *v, const char *where, const char *key, int *out)
{
    const char *yes[] = {"1", "on", "yes", "true"}, *no[] = {"0", "off", "no", "false"};
    for (int i = 0; i < 4; i++) {
        if (!strcasecmp(v, yes[i])) return *out = 1, 0;
        if (!strcasecmp(v, no[i])) return *out = 0, 0;
    }
    return lisa_seterr(LISA_EINVAL, "%s: %s: '%s' is not on/off", where, key, v);
}

// Tesseract language list: "eng", "eng+deu" (names of traineddata files).
static int set_lang(char *dst, const char *v, const char *where)
{
    size_t n = strlen(v);
    if (!n || n >= SETTINGS_OCR_LANG_MAX) return lisa_seterr(LISA_EINVAL, "%s: ocr_lang: empty or too long", where);
    for (size_t i = 0; i < n; i++)
        if (!isalnum((unsigned char)v[i]) && !strchr("_-+", v[i]))
            return lisa_seterr(LISA_EINVAL, "%s: ocr_lang: '%s' is not like eng+deu", where, v);
    memcpy(dst, v, n + 1);
    return 0;
}

int settings_set(settings *s, const char *key, const char *value, const char *where)
{
    switch (key_of(key)) {
    case K_TOP_K: return parse_int(value, 1, SETTINGS_TOP_K_MAX, where, "top_k", &s->top_k);
    case K_WEIGHT: return parse_weight(value, where, &s->clip_weight);
    case K_THUMB: return parse_int(value, 16, 4096, where, "thumbnail_size", &s->thumbnail_size);
    case K_PORT: return parse_int(value, 1, 65535, where, "port", &s->port);
    case K_DATA: return set_path(s->data_dir, value, where, "data_dir");
    case K_MODELS: return set_path(s->models, value, where, "models");
    case K_OCR: return parse_bool(value, where, "ocr", &s->ocr);
    case K_CAPTIONS: return parse_bool(value, where, "captions", &s->captions);
    case K_AUTO: return parse_bool(value, where, "auto_index", &s->auto_index);
    case K_WATCH: return parse_bool(value, where, "watch", &s->watch);
    case K_OCR_LANG: return set_lang(s->ocr_lang, value, where);
    case K_PREC: return set_precision(s, value, where);
    case K_ANN: return parse_int(value, 0, 2000000000, where, "ann_min_images", &s->ann_min_images);
    default: return lisa_seterr(LISA_EINVAL, "%s: unknown setting '%s'", where, key);
    }
}

// ---------------------------------------------------------------- file

static char *trim(char *p)
{
    while (isspace((unsigned char)*p)) p++;
    char *e = p + strlen(p);
    while (e > p && isspace((unsigned char)e[-1])) *--e = 0;
    return p;
}

// One `key = value` line (already stripped of its comment); where = "path:line".
static int parse_line(settings *s, char *line, const char *where)
{
    char *t = trim(line);
    if (!*t) return 0;
    char *eq = strchr(t, '=');
    if (!eq) return lisa_seterr(LISA_EINVAL, "%s: expected 'key = value'", where);
    *eq = 0;
    char *key = trim(t), *val = trim(eq + 1);
    size_t n = strlen(val);
    if (n >= 2 && (val[0] == '"' || val[0] == '\'') && val[n - 1] == val[0]) val[n - 1] = 0, val++;
    if (!*key) return lisa_seterr(LISA_EINVAL, "%s: missing key before '='", where);
    return settings_set(s, key, val, where);
}

int settings_load_file(settings *s, const char *path)
{
    char *text;
    size_t len;
    struct stat st;
    if (stat(path, &st) != 0) return lisa_seterr(LISA_ENOTFOUND, "%s: config file not found", path);
    int rc = lisa_read_file(path, SETTINGS_FILE_MAX, &text, &len);
    if (rc < 0) return rc;
    int lineno = 0;
    for (char *p = text; p && *p && rc == 0;) {
        char *nl = strchr(p, '\n');
        if (nl) *nl = 0;
        char *hash = strchr(p, '#');
        if (hash) *hash = 0;
        char where[SETTINGS_PATH_MAX + 32];
        snprintf(where, sizeof where, "%s:%d", path, ++lineno);
        rc = parse_line(s, p, where);
        p = nl ? nl + 1 : NULL;
    }
    free(text);
    if (rc == 0) snprintf(s->config_path, sizeof s->config_path, "%s", path);
    return rc;
}

// ---------------------------------------------------------------- env, flags

int settings_apply_env(settings *s)
{
    for (size_t i = 0; i < NKEYS; i++) {
        const char *v = getenv(keys[i].env);
        if (!v || !*v) continue;
        int rc = settings_set(s, keys[i].name, v, keys[i].env);
        if (rc < 0) return rc;
    }
    return 0;
}

int settings_flag_arity(const char *arg)
{
    if (!strcmp(arg, "--config")) return 1;
    for (size_t i = 0; i < NKEYS; i++)
        if (!strcmp(arg, keys[i].flag)) return 1;
    return 0;
}

static const char *flag_value(int argc, char **argv, const char *flag)
{
    const char *v = NULL;
    for (int i = 1; i + 1 < argc; i++)
        if (!strcmp(argv[i], flag)) v = argv[++i];
    return v;
}

// The config file to read: --config, $LISA_CONFIG (both must exist), else
// DATA/lisa.conf if present. *required says whether absence is an error.
static void config_path(int argc, char **argv, char *out, size_t cap, int *required)
{
    const char *c = flag_value(argc, argv, "--config");
    if (!c) c = getenv("LISA_CONFIG");
    *required = c && *c;
    if (*required) {
        snprintf(out, cap, "%s", c);
        return;
    }
    const char *d = flag_value(argc, argv, "--data");
    if (!d) d = getenv("LISA_DATA");
    if (!d || !*d) d = SETTINGS_DATA_DEFAULT;
    snprintf(out, cap, "%s/lisa.conf", d);
}

int settings_resolve(settings *s, int argc, char **argv)
{
    settings_defaults(s);
    char path[SETTINGS_PATH_MAX + 16];
    int required, rc;
    struct stat st;
    config_path(argc, argv, path, sizeof path, &required);
    if (required || stat(path, &st) == 0)
        if ((rc = settings_load_file(s, path)) < 0) return rc;
    if ((rc = settings_apply_env(s)) < 0) return rc;
    for (int i = 1; i < argc; i++) {
        if (!settings_flag_arity(argv[i]) || !strcmp(argv[i], "--config")) continue;
        if (i + 1 >= argc) return lisa_seterr(LISA_EINVAL, "%s needs a value", argv[i]);
        for (size_t k = 0; k < NKEYS; k++)
            if (!strcmp(argv[i], keys[k].flag) && (rc = settings_set(s, keys[k].name, argv[i + 1], argv[i])) < 0)
                return rc;
        i++;
    }
    return 0;
}

// User settings: result count, CLIP weight, thumbnail size, data and model
// directories, server port.
//
// Precedence, lowest to highest: built-in defaults, an optional config file,
// environment variables, command-line flags. The config file is $LISA_CONFIG
// when set (then it must exist), else DATA/lisa.conf when present, with DATA
// found the way the flags/env would give it (--data, $LISA_DATA, ./data).
// Its format is one `key = value` per line; `#` starts a comment; blank lines
// are ignored. Keys (case-insensitive, the architecture brief's names accepted
// as aliases):
//   top_k (TOP_K_RESULTS)            1..1000, default 20
//   clip_weight (DEFAULT_CLIP_WEIGHT) 0..1,  default 0.7
//   thumbnail_size (THUMBNAIL_SIZE)  16..4096, default 320
//   port                             1..65535, default 8000
//   data_dir (data)                  default ./data
//   models                           model dir or dir of model dirs, default unset
//   ocr                              on/off (1/0, yes/no, true/false), default on
//   ocr_lang (ocr_language)          Tesseract languages, e.g. eng+deu, default eng
//   captions                         on/off: BLIP captions while indexing, default on
//   auto_index                       on/off: `lisa serve` indexes uploads at once, default on
//   watch (watch_folders)            on/off: `lisa serve` watches the library folders (inotify), default on
//   ann_min_images                   0..2e9: vectors from which the FAISS ANN index answers
//                                    instead of the exact scan; 0 = always ANN; default
//                                    SETTINGS_ANN_MIN_DEFAULT (search/vindex.h, docs/scale.md)
// Environment: LISA_TOP_K, LISA_CLIP_WEIGHT, LISA_THUMBNAIL_SIZE, LISA_DATA,
// LISA_MODELS, LISA_PORT, LISA_OCR, LISA_OCR_LANG, LISA_CAPTIONS, LISA_ANN_MIN_IMAGES, LISA_PRECISION,
// LISA_AUTO_INDEX, LISA_WATCH
// (setting it also makes it what clip_load uses: clip_set_precision). Flags: --top-k,
// --clip-weight, --thumbnail-size, --data, --model, --port, --config,
// --ocr on|off, --ocr-lang, --captions on|off, --auto-index on|off,
// --watch on|off (and `lisa serve --no-auto-index`, `--no-watch`; and `lisa index --no-ocr`,
// `--no-captions`). Every value is range-checked; errors name
// where the value came from ("lisa.conf:3: clip_weight: 1.5 is not in [0,1]").
#ifndef LISA_SEARCH_SETTINGS_H
#define LISA_SEARCH_SETTINGS_H

#define SETTINGS_TOP_K_DEFAULT 20
#define SETTINGS_CLIP_WEIGHT_DEFAULT 0.7
#define SETTINGS_THUMB_DEFAULT 320
#define SETTINGS_PORT_DEFAULT 8000
#define SETTINGS_DATA_DEFAULT "./data"
#define SETTINGS_TOP_K_MAX 1000
#define SETTINGS_PATH_MAX 4096
#define SETTINGS_FILE_MAX (64 * 1024) // config files larger than this are refused
#define SETTINGS_OCR_LANG_MAX 128
#define SETTINGS_OCR_LANG_DEFAULT "eng"
#define SETTINGS_ANN_MIN_DEFAULT 200000

typedef struct {
    int top_k;
    double clip_weight;
    int thumbnail_size;
    int port;
    char data_dir[SETTINGS_PATH_MAX];
    char models[SETTINGS_PATH_MAX];       // --model / LISA_MODELS / models; "" unset
    char config_path[SETTINGS_PATH_MAX];  // the config file that was read; "" none
    int ocr;                              // 1: OCR while indexing
    char ocr_lang[SETTINGS_OCR_LANG_MAX]; // Tesseract languages, "eng+deu"
    char precision[8];                    // CLIP weights: "fp32", "bf16" or "int8" (clip/clip.h)
    int captions;                         // 1: BLIP captions while indexing (when a model is installed)
    int ann_min_images;                   // ANN index from this many vectors; 0 always
    int auto_index;                       // 1: the server indexes uploads without a Build click
    int watch;                            // 1: the server watches its folders (search/watch.h)
} settings;

// Fills *s with the built-in defaults.
void settings_defaults(settings *s);

// Sets one key (config-file spelling, case-insensitive) from its text value,
// validating it; `where` names the source for the error message.
int settings_set(settings *s, const char *key, const char *value, const char *where);

// Reads a config file into *s. A missing file is LISA_ENOTFOUND; syntax and
// range errors are LISA_EINVAL with "path:line: ..." in the message.
int settings_load_file(settings *s, const char *path);

// Applies the LISA_* environment variables to *s.
int settings_apply_env(settings *s);

// Whole resolution: defaults, config file, environment, then the settings
// flags found in argv[1..argc-1] (other arguments are left alone; use
// settings_flag_arity() to skip the ones consumed here).
int settings_resolve(settings *s, int argc, char **argv);

// 1 when arg is a settings flag that takes one value (--top-k N ...), else 0.
int settings_flag_arity(const char *arg);

#endif

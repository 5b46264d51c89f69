// Chips and description of a result (chips.h).
#include "search/chips.h"

#include "base/err.h"
#include "image/meta.h"
#include "search/capwords.h"
#include "search/keywords.h"

#include <stdlib.h>
#include <string.h>

// The words of up to three texts as one array of chips.
static cJSON *group(const char *a, const char *b, const char *c, int *rc)
{
    char *w[KW_CHIPS_MAX];
    int n = 0;
    const char *src[3] = {a, b, c};
    for (int i = 0; i < 3 && *rc == 0; i++) {
        int r = kw_chips(src[i], w, KW_CHIPS_MAX, &n);
        *rc = r == LISA_EFORMAT || r == LISA_ETOOBIG ? 0 : r; // a source that is not text gives no chips
    }
    cJSON *arr = cJSON_CreateArray();
    for (int i = 0; i < n; i++) {
        if (arr) cJSON_AddItemToArray(arr, cJSON_CreateString(w[i]));
        free(w[i]);
    }
    if (!arr && *rc == 0) *rc = lisa_seterr(LISA_ENOMEM, "chips: out of memory");
    return arr;
}

// "as written", without the blanks around it; NULL for none or only blanks.
static char *trimmed(const char *s)
{
    if (!s) return NULL;
    while (*s == ' ' || *s == '\t' || *s == '\n' || *s == '\r') s++;
    size_t n = strlen(s);
    while (n && (s[n - 1] == ' ' || s[n - 1] == '\t' || s[n - 1] == '\n' || s[n - 1] == '\r')) n--;
    return n ? strndup(s, n) : NULL;
}

// Keywords joined by spaces for kw_chips(), malloc'd (NULL: none).
static char *joined(char **v, int n)
{
    size_t len = 1;
    for (int i = 0; i < n; i++) len += strlen(v[i]) + 1;
    char *s = n ? malloc(len) : NULL;
    if (!s) return NULL;
    s[0] = 0;
    for (int i = 0; i < n; i++) strcat(strcat(s, v[i]), " ");
    return s;
}

int chips_build(const store_image *im, cJSON **chips, char **description)
{
    *chips = NULL, *description = NULL;
    char *folded = NULL, *kws = NULL;
    meta_info mi = {0};
    int have_meta = im->meta_words && im->path && meta_read(im->path, &mi) == 0, rc = 0;
    if (im->caption) rc = kw_caption_fold(im->caption, NULL, &folded);
    cJSON *o = cJSON_CreateObject();
    if (!o && rc == 0) rc = lisa_seterr(LISA_ENOMEM, "chips: out of memory");
    if (rc == 0) cJSON_AddItemToObject(o, "caption", group(folded, NULL, NULL, &rc));
    if (rc == 0) cJSON_AddItemToObject(o, "ocr", group(im->ocr_text, NULL, NULL, &rc));
    if (rc == 0) cJSON_AddItemToObject(o, "name", group(im->name_words, NULL, NULL, &rc));
    if (rc == 0 && have_meta) kws = joined(mi.keywords, mi.n_keywords);
    if (rc == 0)
        cJSON_AddItemToObject(
            o, "meta", have_meta ? group(kws, mi.title, mi.headline, &rc) : group(im->meta_words, NULL, NULL, &rc));
    if (rc == 0 && have_meta) *description = trimmed(mi.description);
    free(folded), free(kws);
    meta_clear(&mi);
    if (rc < 0) {
        cJSON_Delete(o);
        free(*description), *description = NULL;
        return rc;
    }
    *chips = o;
    return 0;
}

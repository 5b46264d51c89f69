#include "base/json.h"
#include "base/err.h"
#include "base/file.h"

#include <stdlib.h>

int lisa_read_json(const char *path, size_t max_bytes, cJSON **out)
{
    char *text;
    size_t len;
    *out = NULL;
    int rc = lisa_read_file(path, max_bytes, &text, &len);
    if (rc < 0) return rc;
    *out = cJSON_ParseWithLength(text, len);
    free(text);
    return *out ? 0 : lisa_seterr(LISA_EFORMAT, "%s: not valid JSON", path);
}

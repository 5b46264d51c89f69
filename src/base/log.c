#include "base/log.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int min_level = -1; // -1: not read yet (LISA_LOG, else info)
static const char *const names[] = {"debug", "info", "warning", "error"};

void log_set_level(int level)
{
    min_level = level;
}

// LISA_LOG=debug|info|warning|error sets the level until log_set_level.
static int env_level(void)
{
    const char *e = getenv("LISA_LOG");
    for (int l = LOG_DEBUG; e && l <= LOG_ERROR; l++)
        if (!strcmp(e, names[l])) return l;
    return LOG_INFO;
}

void log_msg(int level, const char *fmt, ...)
{
    if (min_level < 0) min_level = env_level(); // a race only reads the same value twice
    if (level < min_level) return;
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "lisa: %s: ", names[level]);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
}

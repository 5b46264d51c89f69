#include "base/log.h"

#include <stdarg.h>
#include <stdio.h>

static int min_level = LOG_INFO;
static const char *const names[] = {"debug", "info", "warning", "error"};

void log_set_level(int level)
{
    min_level = level;
}

void log_msg(int level, const char *fmt, ...)
{
    if (level < min_level) return;
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "lisa: %s: ", names[level]);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
}

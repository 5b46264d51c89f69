#include "base/err.h"

#include <stdarg.h>
#include <stdio.h>

static _Thread_local char errmsg[LISA_ERRMSG_MAX];
static _Thread_local int errcode;

const char *lisa_strerror(int code)
{
    switch (code) {
    case LISA_OK: return "success";
    case LISA_ENOMEM: return "out of memory";
    case LISA_EIO: return "I/O error";
    case LISA_EFORMAT: return "malformed input";
    case LISA_ETOOBIG: return "input too large";
    case LISA_EINVAL: return "invalid argument";
    case LISA_ENOTFOUND: return "not found";
    case LISA_EUNSUPPORTED: return "unsupported";
    case LISA_ENET: return "network error";
    case LISA_ECHECKSUM: return "checksum mismatch";
    case LISA_EBUSY: return "busy";
    }
    return "unknown error";
}

int lisa_seterr(int code, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(errmsg, sizeof errmsg, fmt, ap);
    va_end(ap);
    errcode = code;
    return code;
}

const char *lisa_errmsg(void)
{
    return errmsg[0] ? errmsg : lisa_strerror(errcode);
}

const char *lisa_errmsg_for(int code)
{
    if (code >= 0) return lisa_strerror(LISA_OK);
    return code == errcode && errmsg[0] ? errmsg : lisa_strerror(code);
}

int lisa_errcode(void)
{
    return errcode;
}

void lisa_clearerr(void)
{
    errmsg[0] = 0;
    errcode = 0;
}

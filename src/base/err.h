// Error codes and per-thread error detail.
//
// Library functions return 0 or a negative LISA_E* code. Where the caller can
// use more than the code (which file, which field, which byte), the function
// records a message with lisa_seterr() before returning; lisa_errmsg() reads it
// back on the same thread. The message is overwritten by the next error.
#ifndef LISA_BASE_ERR_H
#define LISA_BASE_ERR_H

#include <stddef.h>

enum {
    LISA_OK = 0,
    LISA_ENOMEM = -1,       // allocation failed
    LISA_EIO = -2,          // read/write/open failed (errno kept in the message)
    LISA_EFORMAT = -3,      // input is malformed or truncated
    LISA_ETOOBIG = -4,      // input exceeds a hard cap (pixels, bytes, depth)
    LISA_EINVAL = -5,       // bad argument or option
    LISA_ENOTFOUND = -6,    // file, tensor or key missing
    LISA_EUNSUPPORTED = -7, // valid input we do not handle
    LISA_ENET = -8,         // network transfer failed
    LISA_ECHECKSUM = -9,    // size or digest mismatch
    LISA_EBUSY = -10,       // resource already in use
};

#define LISA_ERRMSG_MAX 512

// Static name of an error code ("out of memory", ...). Never NULL.
const char *lisa_strerror(int code);

// Records a printf-style detail for this thread and returns code, so callers
// can write `return lisa_seterr(LISA_EFORMAT, "%s: bad header", path);`.
int lisa_seterr(int code, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

// The detail recorded by the last lisa_seterr() on this thread, or the code's
// lisa_strerror() text if no detail was recorded since lisa_clearerr().
// Owned by the thread; valid until the next lisa_seterr().
const char *lisa_errmsg(void);

// The detail for the error code a call just returned: the last message when
// it was recorded with this same code on this thread, else lisa_strerror(code)
// (so an older failure's message never passes for this one's); "success" for
// code >= 0. Owned by the thread, as lisa_errmsg().
const char *lisa_errmsg_for(int code);

// The code of the last lisa_seterr() on this thread (0 after lisa_clearerr()).
int lisa_errcode(void);

void lisa_clearerr(void);

// a*b into *out; returns 0, or LISA_ETOOBIG when the product overflows size_t.
static inline int lisa_mul(size_t a, size_t b, size_t *out)
{
    return __builtin_mul_overflow(a, b, out) ? LISA_ETOOBIG : 0;
}

#endif

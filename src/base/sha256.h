// SHA-256 through OpenSSL's libcrypto (EVP), streaming and whole-file.
//
// A thin wrapper so that the rest of LISA never includes OpenSSL headers and
// every digest is reported the same way: 64 lowercase hex characters, which is
// how the Hugging Face hub spells LFS object ids.
#ifndef LISA_BASE_SHA256_H
#define LISA_BASE_SHA256_H

#include <stddef.h>
#include <stdint.h>

#define SHA256_HEX_LEN 64 // without the NUL

typedef struct sha256_ctx sha256_ctx; // opaque: wraps an EVP_MD_CTX

// A fresh context, owned by the caller: sha256_free() it. NULL when out of memory
// or when libcrypto refuses to initialise (error recorded).
sha256_ctx *sha256_new(void);
void sha256_free(sha256_ctx *c);

// Starts over as if no byte had been fed (used when a resumed download restarts).
int sha256_reset(sha256_ctx *c);

// Feeds n bytes; the data stays owned by the caller.
int sha256_update(sha256_ctx *c, const void *data, size_t n);

// Finishes into hex[65] (lowercase, NUL-terminated). The context must be reset
// before it is fed again.
int sha256_final(sha256_ctx *c, char hex[SHA256_HEX_LEN + 1]);

// Feeds the first `limit` bytes of path (all of it when limit is SIZE_MAX) into c,
// streaming; *fed gets the count actually read. Fails with LISA_EIO on a read error.
int sha256_feed_file(sha256_ctx *c, const char *path, uint64_t limit, uint64_t *fed);

// Digest of a whole file into hex[65]; *size (may be NULL) gets its byte count.
int sha256_file(const char *path, char hex[SHA256_HEX_LEN + 1], uint64_t *size);

// The git blob id of a file: SHA-1 over "blob <size>\0" + content, as 40 lowercase
// hex chars into hex[41]. The hub reports it (API blobId, resolve ETag) for files
// kept in git rather than LFS, which have no SHA-256. Streams the file.
int sha256_git_blob_id(const char *path, char hex[41]);

// 1 when s is exactly 64 hex digits (either case), else 0.
int sha256_is_hex(const char *s);

#endif

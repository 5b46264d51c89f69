#include "base/sha256.h"
#include "base/err.h"

#include <errno.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

struct sha256_ctx {
    EVP_MD_CTX *md;
};

sha256_ctx *sha256_new(void)
{
    sha256_ctx *c = calloc(1, sizeof *c);
    if (!c) {
        lisa_seterr(LISA_ENOMEM, "sha256: out of memory");
        return NULL;
    }
    c->md = EVP_MD_CTX_new();
    if (!c->md || sha256_reset(c) < 0) {
        sha256_free(c);
        lisa_seterr(LISA_ENOMEM, "sha256: libcrypto cannot create a SHA-256 context");
        return NULL;
    }
    return c;
}

void sha256_free(sha256_ctx *c)
{
    if (!c) return;
    EVP_MD_CTX_free(c->md);
    free(c);
}

int sha256_reset(sha256_ctx *c)
{
    if (EVP_DigestInit_ex(c->md, EVP_sha256(), NULL) != 1)
        return lisa_seterr(LISA_EUNSUPPORTED, "sha256: EVP_DigestInit_ex failed");
    return 0;
}

int sha256_update(sha256_ctx *c, const void *data, size_t n)
{
    if (n && EVP_DigestUpdate(c->md, data, n) != 1)
        return lisa_seterr(LISA_EUNSUPPORTED, "sha256: EVP_DigestUpdate failed");
    return 0;
}

int sha256_final(sha256_ctx *c, char hex[SHA256_HEX_LEN + 1])
{
    static const char digits[] = "0123456789abcdef";
    unsigned char d[EVP_MAX_MD_SIZE];
    unsigned int n = 0;
    if (EVP_DigestFinal_ex(c->md, d, &n) != 1 || n != 32)
        return lisa_seterr(LISA_EUNSUPPORTED, "sha256: EVP_DigestFinal_ex failed");
    for (unsigned i = 0; i < 32; i++) {
        hex[2 * i] = digits[d[i] >> 4];
        hex[2 * i + 1] = digits[d[i] & 15];
    }
    hex[SHA256_HEX_LEN] = 0;
    return 0;
}

int sha256_feed_file(sha256_ctx *c, const char *path, uint64_t limit, uint64_t *fed)
{
    enum { CHUNK = 1 << 20 };
    int rc = 0;
    *fed = 0;
    FILE *f = fopen(path, "rb");
    if (!f) return lisa_seterr(errno == ENOENT ? LISA_ENOTFOUND : LISA_EIO, "%s: %s", path, strerror(errno));
    unsigned char *buf = malloc(CHUNK);
    if (!buf) {
        rc = lisa_seterr(LISA_ENOMEM, "%s: out of memory", path);
        goto out;
    }
    while (*fed < limit) {
        size_t want = limit - *fed < CHUNK ? (size_t)(limit - *fed) : CHUNK;
        size_t n = fread(buf, 1, want, f);
        if (n == 0) break;
        if ((rc = sha256_update(c, buf, n)) < 0) goto out;
        *fed += n;
    }
    if (ferror(f)) rc = lisa_seterr(LISA_EIO, "%s: read error after %llu bytes", path, (unsigned long long)*fed);
out:
    free(buf);
    fclose(f);
    return rc;
}

int sha256_file(const char *path, char hex[SHA256_HEX_LEN + 1], uint64_t *size)
{
    uint64_t fed = 0;
    sha256_ctx *c = sha256_new();
    if (!c) return lisa_seterr(LISA_ENOMEM, "%s: out of memory for its SHA-256", path);
    int rc = sha256_feed_file(c, path, UINT64_MAX, &fed);
    if (rc == 0) rc = sha256_final(c, hex);
    if (rc == 0 && size) *size = fed;
    sha256_free(c);
    return rc;
}

int sha256_git_blob_id(const char *path, char hex[41])
{
    static const char digits[] = "0123456789abcdef";
    unsigned char d[EVP_MAX_MD_SIZE], buf[1 << 16];
    unsigned int n = 0;
    char head[48];
    struct stat st;
    int rc = 0;
    FILE *f = fopen(path, "rb");
    if (!f || fstat(fileno(f), &st) < 0) {
        rc = lisa_seterr(errno == ENOENT ? LISA_ENOTFOUND : LISA_EIO, "%s: %s", path, strerror(errno));
        if (f) fclose(f);
        return rc;
    }
    EVP_MD_CTX *md = EVP_MD_CTX_new();
    int hn = snprintf(head, sizeof head, "blob %lld", (long long)st.st_size) + 1; // with the NUL
    int ok = md && EVP_DigestInit_ex(md, EVP_sha1(), NULL) == 1 && EVP_DigestUpdate(md, head, (size_t)hn) == 1;
    size_t k;
    while (ok && (k = fread(buf, 1, sizeof buf, f)) > 0) ok = EVP_DigestUpdate(md, buf, k) == 1;
    if (ferror(f))
        rc = lisa_seterr(LISA_EIO, "%s: read error", path);
    else if (!ok || EVP_DigestFinal_ex(md, d, &n) != 1 || n != 20)
        rc = lisa_seterr(LISA_EUNSUPPORTED, "%s: libcrypto SHA-1 failed", path);
    for (unsigned i = 0; rc == 0 && i < 20; i++) {
        hex[2 * i] = digits[d[i] >> 4];
        hex[2 * i + 1] = digits[d[i] & 15];
    }
    if (rc == 0) hex[40] = 0;
    EVP_MD_CTX_free(md);
    fclose(f);
    return rc;
}

int sha256_is_hex(const char *s)
{
    for (int i = 0; i < SHA256_HEX_LEN; i++)
        if (!s[i] || !strchr("0123456789abcdefABCDEF", s[i])) return 0;
    return s[SHA256_HEX_LEN] == 0;
}

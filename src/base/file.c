#include "base/file.h"
#include "base/err.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

static int open_sized(const char *path, size_t max_bytes, int *fd, size_t *size)
{
    struct stat st;
    *fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY); // NONBLOCK: a FIFO does not hang the open
    if (*fd < 0) return lisa_seterr(errno == ENOENT ? LISA_ENOTFOUND : LISA_EIO, "%s: %s", path, strerror(errno));
    if (fstat(*fd, &st) < 0) {
        int e = errno;
        close(*fd);
        return lisa_seterr(LISA_EIO, "%s: %s", path, strerror(e));
    }
    if (!S_ISREG(st.st_mode)) {
        close(*fd);
        return lisa_seterr(LISA_EIO, "%s: %s, not a regular file", path,
                           S_ISDIR(st.st_mode)                          ? "a directory"
                           : S_ISCHR(st.st_mode) || S_ISBLK(st.st_mode) ? "a device"
                                                                        : "a pipe or socket");
    }
    if ((uint64_t)st.st_size > max_bytes) {
        close(*fd);
        return lisa_seterr(LISA_ETOOBIG, "%s: %lld bytes is over the %zu-byte limit", path, (long long)st.st_size,
                           max_bytes);
    }
    *size = (size_t)st.st_size;
    return 0;
}

int lisa_map_file(const char *path, size_t max_bytes, lisa_map *m)
{
    int fd, rc;
    m->data = NULL;
    m->size = 0;
    if ((rc = open_sized(path, max_bytes, &fd, &m->size)) < 0) return rc;
    if (m->size > 0) {
        void *p = mmap(NULL, m->size, PROT_READ, MAP_PRIVATE, fd, 0);
        if (p == MAP_FAILED) {
            rc = lisa_seterr(LISA_EIO, "%s: mmap: %s", path, strerror(errno));
            m->size = 0;
        } else {
            m->data = p;
        }
    }
    close(fd);
    return rc;
}

void lisa_unmap(lisa_map *m)
{
    if (m->data) munmap((void *)m->data, m->size);
    m->data = NULL;
    m->size = 0;
}

int lisa_read_file(const char *path, size_t max_bytes, char **out, size_t *len)
{
    int fd, rc;
    size_t size, got = 0;
    *out = NULL;
    if ((rc = open_sized(path, max_bytes, &fd, &size)) < 0) return rc;
    char *buf = malloc(size + 1);
    if (!buf) {
        close(fd);
        return lisa_seterr(LISA_ENOMEM, "%s: cannot allocate %zu bytes", path, size + 1);
    }
    while (got < size) {
        ssize_t n = read(fd, buf + got, size - got);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) {
            close(fd);
            free(buf);
            return lisa_seterr(LISA_EIO, "%s: short read at byte %zu", path, got);
        }
        got += (size_t)n;
    }
    close(fd);
    buf[size] = 0;
    *out = buf;
    if (len) *len = size;
    return 0;
}

int lisa_write_file_atomic(const char *path, const void *data, size_t size)
{
    size_t plen = strlen(path);
    char *tmp = malloc(plen + 16);
    if (!tmp) return lisa_seterr(LISA_ENOMEM, "%s: out of memory", path);
    snprintf(tmp, plen + 16, "%s.tmpXXXXXX", path);
    int fd = mkstemp(tmp), rc = 0;
    if (fd < 0) {
        rc = lisa_seterr(LISA_EIO, "%s: %s", tmp, strerror(errno));
        goto out;
    }
    const char *p = data;
    size_t left = size;
    while (left > 0) {
        ssize_t n = write(fd, p, left);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) {
            rc = lisa_seterr(LISA_EIO, "%s: write: %s", tmp, strerror(errno));
            break;
        }
        p += n;
        left -= (size_t)n;
    }
    if (rc == 0 && fsync(fd) < 0) rc = lisa_seterr(LISA_EIO, "%s: fsync: %s", tmp, strerror(errno));
    close(fd);
    if (rc == 0 && rename(tmp, path) < 0) rc = lisa_seterr(LISA_EIO, "%s: rename: %s", path, strerror(errno));
    if (rc < 0) unlink(tmp);
out:
    free(tmp);
    return rc;
}

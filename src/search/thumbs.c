// Thumbnail housekeeping (thumbs.h).
#include "search/thumbs.h"
#include "base/err.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

int thumbs_is_name(const char *name)
{
    if (strlen(name) != 68 || strcmp(name + 64, ".jpg")) return 0;
    for (int i = 0; i < 64; i++)
        if (!((name[i] >= '0' && name[i] <= '9') || (name[i] >= 'a' && name[i] <= 'f'))) return 0;
    return 1;
}

static int64_t mtime_ns(const struct stat *st)
{
    return (int64_t)st->st_mtim.tv_sec * 1000000000 + st->st_mtim.tv_nsec;
}

int thumbs_sweep_tmp(const char *dir, int min_age_s)
{
    DIR *d = opendir(dir);
    if (!d) return errno == ENOENT ? 0 : lisa_seterr(LISA_EIO, "%s: %s", dir, strerror(errno));
    struct timespec now;
    clock_gettime(CLOCK_REALTIME, &now);
    int64_t before = ((int64_t)now.tv_sec - min_age_s) * 1000000000 + now.tv_nsec;
    int n = 0;
    for (struct dirent *e; (e = readdir(d));) {
        size_t len = strlen(e->d_name);
        struct stat st;
        if (len < 5 || strcmp(e->d_name + len - 4, ".tmp")) continue;
        if (fstatat(dirfd(d), e->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0 || mtime_ns(&st) >= before) continue;
        n += unlinkat(dirfd(d), e->d_name, 0) == 0;
    }
    closedir(d);
    return n;
}

int thumbs_sweep_orphans(store *s, const char *dir, int64_t before_ns)
{
    DIR *d = opendir(dir);
    if (!d) return errno == ENOENT ? 0 : lisa_seterr(LISA_EIO, "%s: %s", dir, strerror(errno));
    int n = 0, rc = 0;
    for (struct dirent *e; rc == 0 && (e = readdir(d));) {
        struct stat st;
        if (!thumbs_is_name(e->d_name)) continue;
        if (fstatat(dirfd(d), e->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0 || mtime_ns(&st) >= before_ns) continue;
        char hash[65];
        memcpy(hash, e->d_name, 64), hash[64] = 0;
        int64_t id;
        int found = 0;
        if ((rc = store_image_find_by_hash(s, hash, &id, 1, &found)) < 0) break;
        if (!found) n += unlinkat(dirfd(d), e->d_name, 0) == 0;
    }
    closedir(d);
    return rc < 0 ? rc : n;
}

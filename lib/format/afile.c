/* Atomic file writing: temporary file next to the target, fsync, rename,
 * fsync of the directory (format.h, "Atomic file writer"). */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "format/format.h"

/* ---- atomic writer ------------------------------------------------------ */

#define AFILE_BUF (1u << 16)

struct sd_afile {
    int fd;
    simdiff_status err; /* sticky: first failure */
    char *path;
    char *tmp;
    size_t used;
    unsigned char buf[AFILE_BUF];
};

simdiff_status sd_afile_open(sd_afile **out, const char *path)
{
    static _Atomic unsigned long counter;
    if (!out)
        return sd_fail(NULL, SIMDIFF_ERR_INVALID_ARG, "sd_afile_open: out is NULL");
    *out = NULL;
    if (!path || !path[0])
        return sd_fail(NULL, SIMDIFF_ERR_INVALID_ARG, "write: empty or NULL path");
    size_t plen = strlen(path);
    if (path[plen - 1] == '/')
        return sd_fail(NULL, SIMDIFF_ERR_INVALID_ARG,
                       "write: '%s' names a directory", path);
    sd_afile *f = calloc(1, sizeof *f);
    if (!f)
        return sd_fail(NULL, SIMDIFF_ERR_NOMEM, "write: out of memory");
    f->fd = -1;
    f->path = strdup(path);
    f->tmp = malloc(plen + 32);
    if (!f->path || !f->tmp) {
        free(f->path);
        free(f->tmp);
        free(f);
        return sd_fail(NULL, SIMDIFF_ERR_NOMEM, "write: out of memory");
    }
    /* <path>.tmp-XXXXXXXXXXXX: same directory, so rename() stays on one
     * file system; O_EXCL so two writers never share a temporary file. */
    int saved = 0;
    for (int attempt = 0; attempt < 64; attempt++) {
        uint64_t r = sd_splitmix64(SD_SPLITMIX64_GOLDEN +
                                   ((uint64_t)getpid() ^ ((uint64_t)time(NULL) << 20) ^
                                    ((uint64_t)++counter << 40) ^ (uint64_t)(uintptr_t)f ^
                                    (uint64_t)attempt));
        snprintf(f->tmp, plen + 32, "%s.tmp-%012llx", path,
                 (unsigned long long)(r & 0xffffffffffffull));
        f->fd = open(f->tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0666);
        if (f->fd >= 0 || errno != EEXIST)
            break;
    }
    if (f->fd < 0) {
        saved = errno;
        simdiff_status s = sd_fail(NULL, SIMDIFF_ERR_IO,
                                   "cannot create '%s' (temporary for '%s'): %s",
                                   f->tmp, path, strerror(saved));
        free(f->path);
        free(f->tmp);
        free(f);
        return s;
    }
    *out = f;
    return SIMDIFF_OK;
}

static simdiff_status afile_flush(sd_afile *f)
{
    size_t off = 0;
    while (off < f->used) {
        ssize_t w = write(f->fd, f->buf + off, f->used - off);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            f->err = sd_fail(NULL, SIMDIFF_ERR_IO, "cannot write '%s': %s",
                             f->tmp, strerror(errno));
            return f->err;
        }
        off += (size_t)w;
    }
    f->used = 0;
    return SIMDIFF_OK;
}

simdiff_status sd_afile_write(sd_afile *f, const void *data, size_t n)
{
    if (!f)
        return sd_fail(NULL, SIMDIFF_ERR_INVALID_ARG, "sd_afile_write: NULL writer");
    if (f->err)
        return f->err;
    if (n && !data)
        return f->err = sd_fail(NULL, SIMDIFF_ERR_INVALID_ARG,
                                "sd_afile_write: NULL data");
    const unsigned char *p = data;
    while (n) {
        if (f->used == AFILE_BUF && afile_flush(f))
            return f->err;
        size_t k = AFILE_BUF - f->used;
        if (k > n)
            k = n;
        memcpy(f->buf + f->used, p, k);
        f->used += k;
        p += k;
        n -= k;
    }
    return SIMDIFF_OK;
}

static void afile_free(sd_afile *f)
{
    free(f->path);
    free(f->tmp);
    free(f);
}

void sd_afile_abort(sd_afile *f)
{
    if (!f)
        return;
    if (f->fd >= 0)
        close(f->fd);
    unlink(f->tmp);
    afile_free(f);
}

static void fsync_parent_dir(const char *path)
{
    /* Make the rename durable. Failure here is not reported: the new
     * content is already in place and complete. */
    const char *slash = strrchr(path, '/');
    char *dir;
    if (!slash)
        dir = strdup(".");
    else if (slash == path)
        dir = strdup("/");
    else
        dir = strndup(path, (size_t)(slash - path));
    if (!dir)
        return;
    int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd >= 0) {
        (void)fsync(dfd);
        close(dfd);
    }
    free(dir);
}

simdiff_status sd_afile_commit(sd_afile *f)
{
    if (!f)
        return sd_fail(NULL, SIMDIFF_ERR_INVALID_ARG, "sd_afile_commit: NULL writer");
    simdiff_status s = f->err;
    if (!s)
        s = afile_flush(f);
    if (!s && fsync(f->fd) != 0)
        s = sd_fail(NULL, SIMDIFF_ERR_IO, "cannot fsync '%s': %s", f->tmp,
                    strerror(errno));
    int fd = f->fd;
    f->fd = -1;
    if (close(fd) != 0 && !s)
        s = sd_fail(NULL, SIMDIFF_ERR_IO, "cannot close '%s': %s", f->tmp,
                    strerror(errno));
    if (!s && rename(f->tmp, f->path) != 0)
        s = sd_fail(NULL, SIMDIFF_ERR_IO, "cannot rename '%s' to '%s': %s",
                    f->tmp, f->path, strerror(errno));
    if (s) {
        sd_afile_abort(f);
        return s;
    }
    fsync_parent_dir(f->path);
    afile_free(f);
    return SIMDIFF_OK;
}

simdiff_status sd_write_file_atomic(const char *path, const void *data, size_t n)
{
    sd_afile *f;
    simdiff_status s = sd_afile_open(&f, path);
    if (s)
        return s;
    s = sd_afile_write(f, data, n);
    if (s) {
        sd_afile_abort(f);
        return s;
    }
    return sd_afile_commit(f);
}

/* Atomic file writing: temporary file next to the target, fsync, rename,
 * fsync of the directory (format.h, "Atomic file writer"). */
#include <dirent.h>
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
/* "<target>.tmp-" followed by this many lowercase hex digits. */
#define AFILE_TMP_DIGITS 12

struct sd_afile {
    int fd;
    simdiff_status err; /* sticky: first failure */
    char *path;         /* the file replaced at commit (a symlink's target) */
    char *tmp;
    size_t used;
    unsigned char buf[AFILE_BUF];
};

static const char *kind_of(mode_t m)
{
    return S_ISDIR(m) ? "a directory" : S_ISCHR(m) ? "a character device"
           : S_ISBLK(m) ? "a block device" : S_ISFIFO(m) ? "a FIFO"
           : S_ISSOCK(m) ? "a socket" : S_ISLNK(m) ? "a symbolic link" : "not a regular file";
}

/* What `path` names now: nothing (*exists = 0), or a regular file (*st).
 * Anything else is refused: the writer replaces regular files only. */
static simdiff_status target_state(const char *path, const char *asked, struct stat *st,
                                   int *exists)
{
    *exists = 0;
    if (lstat(path, st) != 0) {
        if (errno == ENOENT)
            return SIMDIFF_OK;
        return sd_fail(NULL, SIMDIFF_ERR_IO, "cannot write '%s': %s", asked, strerror(errno));
    }
    if (!S_ISREG(st->st_mode))
        return sd_fail(NULL, SIMDIFF_ERR_IO,
                       "refusing to write '%s'%s%s%s: it is %s, not a regular file; "
                       "nothing written",
                       asked, strcmp(path, asked) ? " (a symbolic link to '" : "",
                       strcmp(path, asked) ? path : "", strcmp(path, asked) ? "')" : "",
                       kind_of(st->st_mode));
    *exists = 1;
    return SIMDIFF_OK;
}

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
    /* A symbolic link is written through: its target is replaced and the
     * link stays (a dangling link is refused). */
    char *target = NULL;
    struct stat st;
    if (lstat(path, &st) == 0 && S_ISLNK(st.st_mode)) {
        target = realpath(path, NULL);
        if (!target)
            return sd_fail(NULL, SIMDIFF_ERR_IO,
                           "refusing to write '%s': it is a symbolic link whose target "
                           "cannot be resolved (%s); nothing written",
                           path, strerror(errno));
    } else {
        target = strdup(path);
        if (!target)
            return sd_fail(NULL, SIMDIFF_ERR_NOMEM, "write: out of memory");
    }
    int exists;
    simdiff_status s = target_state(target, path, &st, &exists);
    if (s) {
        free(target);
        return s;
    }
    sd_afile *f = calloc(1, sizeof *f);
    size_t tlen = strlen(target);
    char *tmp = malloc(tlen + 32);
    if (!f || !tmp) {
        free(f);
        free(tmp);
        free(target);
        return sd_fail(NULL, SIMDIFF_ERR_NOMEM, "write: out of memory");
    }
    f->fd = -1;
    f->path = target;
    f->tmp = tmp;
    /* <target>.tmp-XXXXXXXXXXXX: same directory, so rename() stays on one
     * file system; O_EXCL so two writers never share a temporary file. */
    for (int attempt = 0; attempt < 64; attempt++) {
        uint64_t r = sd_splitmix64(SD_SPLITMIX64_GOLDEN +
                                   ((uint64_t)getpid() ^ ((uint64_t)time(NULL) << 20) ^
                                    ((uint64_t)++counter << 40) ^ (uint64_t)(uintptr_t)f ^
                                    (uint64_t)attempt));
        snprintf(f->tmp, tlen + 32, "%s.tmp-%0*llx", target, AFILE_TMP_DIGITS,
                 (unsigned long long)(r & 0xffffffffffffull));
        f->fd = open(f->tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0666);
        if (f->fd >= 0 || errno != EEXIST)
            break;
    }
    if (f->fd < 0) {
        s = sd_fail(NULL, SIMDIFF_ERR_IO, "cannot create '%s' (temporary for '%s'): %s",
                    f->tmp, path, strerror(errno));
        free(f->path);
        free(f->tmp);
        free(f);
        return s;
    }
    if (exists) {
        /* The replacement keeps the replaced file's owner (when allowed:
         * as root) and permission bits, not its set-id and sticky bits.
         * Best effort: a file system without them keeps its defaults. */
        if (st.st_uid != geteuid() || st.st_gid != getegid())
            (void)!fchown(f->fd, st.st_uid, st.st_gid);
        (void)!fchmod(f->fd, st.st_mode & 0777);
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

/* Temporaries of earlier writers of the same target that were killed
 * before their commit or abort: "<target>.tmp-" + 12 hex digits, regular
 * files of ours, not modified for SD_AFILE_STALE_SECONDS (a live writer
 * modifies its temporary with every buffer it flushes). Anything else in
 * the directory is left alone, and failures are ignored. */
static void remove_stale_temporaries(const char *target)
{
    const char *slash = strrchr(target, '/');
    const char *base = slash ? slash + 1 : target;
    char *dir = slash ? strndup(target, (size_t)(slash - target) + (slash == target))
                      : strdup(".");
    if (!dir)
        return;
    DIR *d = opendir(dir);
    free(dir);
    if (!d)
        return;
    size_t blen = strlen(base);
    time_t now = time(NULL);
    struct dirent *e;
    while ((e = readdir(d))) {
        const char *n = e->d_name;
        if (strncmp(n, base, blen) != 0 || strncmp(n + blen, ".tmp-", 5) != 0)
            continue;
        const char *hex = n + blen + 5;
        size_t k = 0;
        while (k < AFILE_TMP_DIGITS && ((hex[k] >= '0' && hex[k] <= '9') ||
                                        (hex[k] >= 'a' && hex[k] <= 'f')))
            k++;
        struct stat st;
        if (k != AFILE_TMP_DIGITS || hex[k] != 0 ||
            fstatat(dirfd(d), n, &st, AT_SYMLINK_NOFOLLOW) != 0 || !S_ISREG(st.st_mode) ||
            st.st_uid != geteuid() || !(st.st_mtime < now - SD_AFILE_STALE_SECONDS))
            continue;
        (void)unlinkat(dirfd(d), n, 0);
    }
    closedir(d);
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
    struct stat st;
    int exists;
    if (!s) /* the target may have changed kind while we wrote */
        s = target_state(f->path, f->path, &st, &exists);
    if (!s && rename(f->tmp, f->path) != 0)
        s = sd_fail(NULL, SIMDIFF_ERR_IO, "cannot rename '%s' to '%s': %s",
                    f->tmp, f->path, strerror(errno));
    if (s) {
        sd_afile_abort(f);
        return s;
    }
    fsync_parent_dir(f->path);
    remove_stale_temporaries(f->path);
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

/* Reading files: a whole regular file into memory, bounded by a maximum
 * size, and a sequential reader of raw or gzip-compressed files
 * (format.h, "Bounded readers"). */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <zlib.h>

#include "format/format.h"

/* ---- bounded whole-file reader ------------------------------------------ */

static simdiff_status read_fd_all(int fd, const char *path, size_t max_size,
                                  void **out, size_t *size)
{
    struct stat st;
    if (fstat(fd, &st) != 0)
        return sd_fail(NULL, SIMDIFF_ERR_IO, "cannot stat '%s': %s", path,
                       strerror(errno));
    if (!S_ISREG(st.st_mode))
        return sd_fail(NULL, SIMDIFF_ERR_IO, "'%s' is not a regular file", path);
    if (st.st_size < 0 || (uint64_t)st.st_size > (uint64_t)max_size)
        return sd_fail(NULL, SIMDIFF_ERR_FORMAT,
                       "'%s' is %lld bytes, more than the limit of %zu", path,
                       (long long)st.st_size, max_size);
    size_t cap = (size_t)st.st_size, n = 0;
    size_t alloc;
    if (sd_add_size(cap, 1, &alloc))
        return sd_fail(NULL, SIMDIFF_ERR_FORMAT, "'%s' is too large", path);
    unsigned char *buf = malloc(alloc);
    if (!buf)
        return sd_fail(NULL, SIMDIFF_ERR_NOMEM, "cannot allocate %zu bytes for '%s'",
                       alloc, path);
    for (;;) {
        /* Once full, the file may have grown since fstat: probe one byte. */
        unsigned char probe;
        int full = n == cap;
        ssize_t r = read(fd, full ? (void *)&probe : buf + n, full ? 1 : cap - n);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0) {
            free(buf);
            return sd_fail(NULL, SIMDIFF_ERR_IO, "cannot read '%s': %s", path,
                           strerror(errno));
        }
        if (r == 0)
            break; /* at the end, or shrank: keep what is there */
        if (full) {
            free(buf);
            return sd_fail(NULL, SIMDIFF_ERR_IO, "'%s' changed while being read",
                           path);
        }
        n += (size_t)r;
    }
    buf[n] = 0;
    *out = buf;
    *size = n;
    return SIMDIFF_OK;
}

simdiff_status sd_read_file(const char *path, size_t max_size, void **out,
                            size_t *size)
{
    if (!out || !size)
        return sd_fail(NULL, SIMDIFF_ERR_INVALID_ARG, "sd_read_file: NULL output");
    *out = NULL;
    *size = 0;
    if (!path)
        return sd_fail(NULL, SIMDIFF_ERR_INVALID_ARG, "read: NULL path");
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return sd_fail(NULL, SIMDIFF_ERR_IO, "cannot open '%s': %s", path,
                       strerror(errno));
    simdiff_status s = read_fd_all(fd, path, max_size, out, size);
    close(fd);
    return s;
}

simdiff_status sd_read_file_parse(const char *path, size_t max_size, sd_parse_owned_fn parse,
                                  void *out)
{
    void *buf;
    size_t size;
    simdiff_status s = sd_read_file(path, max_size, &buf, &size);
    if (s)
        return s;
    s = parse(out, buf, size);
    return s ? sd_fail_path(s, path) : SIMDIFF_OK;
}

/* ---- sequential raw-or-gzip reader -------------------------------------- */

#define SRC_BUF (1u << 16)

struct sd_src {
    FILE *fp;
    char *path;
    int gzip;
    int ended;          /* gzip: Z_STREAM_END seen */
    uint64_t file_size;
    uint64_t consumed;  /* raw bytes read from the file so far */
    z_stream zs;
    unsigned char in[SRC_BUF];
};

simdiff_status sd_src_open(sd_src **out, const char *path)
{
    if (!out)
        return sd_fail(NULL, SIMDIFF_ERR_INVALID_ARG, "sd_src_open: out is NULL");
    *out = NULL;
    if (!path)
        return sd_fail(NULL, SIMDIFF_ERR_INVALID_ARG, "read: NULL path");
    sd_src *s = calloc(1, sizeof *s);
    if (!s || !(s->path = strdup(path))) {
        free(s);
        return sd_fail(NULL, SIMDIFF_ERR_NOMEM, "out of memory");
    }
    s->fp = fopen(path, "rbe");
    if (!s->fp) {
        simdiff_status st = sd_fail(NULL, SIMDIFF_ERR_IO, "cannot open '%s': %s",
                                    path, strerror(errno));
        free(s->path);
        free(s);
        return st;
    }
    struct stat st;
    if (fstat(fileno(s->fp), &st) != 0 || !S_ISREG(st.st_mode) || st.st_size < 0) {
        sd_src_close(s);
        return sd_fail(NULL, SIMDIFF_ERR_IO, "'%s' is not a readable regular file",
                       path);
    }
    s->file_size = (uint64_t)st.st_size;
    unsigned char magic[2];
    size_t got = fread(magic, 1, 2, s->fp);
    if (got == 2 && magic[0] == 0x1f && magic[1] == 0x8b) {
        s->gzip = 1;
        if (inflateInit2(&s->zs, 16 + MAX_WBITS) != Z_OK) {
            s->gzip = 0;
            sd_src_close(s);
            return sd_fail(NULL, SIMDIFF_ERR_NOMEM, "inflateInit2 failed");
        }
        memcpy(s->in, magic, 2);
        s->zs.next_in = s->in;
        s->zs.avail_in = 2;
        s->consumed = 2;
    } else {
        rewind(s->fp);
    }
    *out = s;
    return SIMDIFF_OK;
}

void sd_src_close(sd_src *s)
{
    if (!s)
        return;
    if (s->gzip)
        inflateEnd(&s->zs);
    if (s->fp)
        fclose(s->fp);
    free(s->path);
    free(s);
}

int sd_src_is_gzip(const sd_src *s) { return s && s->gzip; }

simdiff_status sd_src_read(sd_src *s, void *dst, size_t n)
{
    unsigned char *p = dst;
    if (!s->gzip) {
        size_t got = n ? fread(p, 1, n, s->fp) : 0;
        s->consumed += got;
        if (got != n)
            return sd_fail(NULL, ferror(s->fp) ? SIMDIFF_ERR_IO : SIMDIFF_ERR_FORMAT,
                           "'%s': truncated (wanted %zu more bytes, got %zu)",
                           s->path, n, got);
        return SIMDIFF_OK;
    }
    while (n) {
        if (s->ended)
            return sd_fail(NULL, SIMDIFF_ERR_FORMAT,
                           "'%s': truncated (gzip data ends %zu bytes early)",
                           s->path, n);
        if (s->zs.avail_in == 0) {
            size_t got = fread(s->in, 1, SRC_BUF, s->fp);
            if (got == 0)
                return sd_fail(NULL, ferror(s->fp) ? SIMDIFF_ERR_IO
                                                   : SIMDIFF_ERR_FORMAT,
                               "'%s': truncated gzip stream", s->path);
            s->consumed += got;
            s->zs.next_in = s->in;
            s->zs.avail_in = (uInt)got;
        }
        uInt chunk = n > (1u << 30) ? (1u << 30) : (uInt)n;
        s->zs.next_out = p;
        s->zs.avail_out = chunk;
        int z = inflate(&s->zs, Z_NO_FLUSH);
        size_t produced = chunk - s->zs.avail_out;
        p += produced;
        n -= produced;
        if (z == Z_STREAM_END)
            s->ended = 1;
        else if (z == Z_BUF_ERROR && produced == 0 && s->zs.avail_in != 0)
            return sd_fail(NULL, SIMDIFF_ERR_FORMAT, "'%s': corrupt gzip stream",
                           s->path);
        else if (z != Z_OK && z != Z_BUF_ERROR)
            return sd_fail(NULL, SIMDIFF_ERR_FORMAT, "'%s': corrupt gzip data (%s)",
                           s->path, s->zs.msg ? s->zs.msg : "inflate error");
    }
    return SIMDIFF_OK;
}

simdiff_status sd_src_check_remaining(sd_src *s, uint64_t remaining)
{
    if (!s->gzip) {
        uint64_t left = s->file_size >= s->consumed ? s->file_size - s->consumed : 0;
        if (left != remaining)
            return sd_fail(NULL, SIMDIFF_ERR_FORMAT,
                           "'%s': the header announces %llu more bytes, the file "
                           "has %llu",
                           s->path, (unsigned long long)remaining,
                           (unsigned long long)left);
        return SIMDIFF_OK;
    }
    if (!sd_zratio_ok(s->file_size, remaining))
        return sd_fail(NULL, SIMDIFF_ERR_FORMAT,
                       "'%s': the header announces %llu bytes, more than a "
                       "%llu-byte gzip file can hold",
                       s->path, (unsigned long long)remaining,
                       (unsigned long long)s->file_size);
    return SIMDIFF_OK;
}

simdiff_status sd_src_expect_end(sd_src *s)
{
    if (!s->gzip) {
        int c = fgetc(s->fp);
        if (c != EOF)
            return sd_fail(NULL, SIMDIFF_ERR_FORMAT,
                           "'%s': unexpected data after the end", s->path);
        return SIMDIFF_OK;
    }
    /* Run inflate until the member ends: it must produce nothing more. */
    while (!s->ended) {
        unsigned char extra;
        if (s->zs.avail_in == 0) {
            size_t got = fread(s->in, 1, SRC_BUF, s->fp);
            if (got == 0)
                return sd_fail(NULL, SIMDIFF_ERR_FORMAT,
                               "'%s': truncated gzip stream", s->path);
            s->consumed += got;
            s->zs.next_in = s->in;
            s->zs.avail_in = (uInt)got;
        }
        s->zs.next_out = &extra;
        s->zs.avail_out = 1;
        int z = inflate(&s->zs, Z_NO_FLUSH);
        if (s->zs.avail_out == 0)
            return sd_fail(NULL, SIMDIFF_ERR_FORMAT,
                           "'%s': unexpected data after the end", s->path);
        if (z == Z_STREAM_END)
            s->ended = 1;
        else if (z != Z_OK && z != Z_BUF_ERROR)
            return sd_fail(NULL, SIMDIFF_ERR_FORMAT, "'%s': corrupt gzip data (%s)",
                           s->path, s->zs.msg ? s->zs.msg : "inflate error");
    }
    if (s->zs.avail_in != 0 || fgetc(s->fp) != EOF)
        return sd_fail(NULL, SIMDIFF_ERR_FORMAT,
                       "'%s': data after the gzip stream (only one gzip member "
                       "is accepted)",
                       s->path);
    return SIMDIFF_OK;
}

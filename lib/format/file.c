/* Atomic writes, bounded reads, gzip-aware sequential reads, CRC32 and
 * zlib helpers, 16-bit float conversions. */
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

#include "io/io_internal.h"

simdiff_status sd_fail_prefix(sd_err *h, simdiff_status s, const char *prefix)
{
    char last[SD_ERRMSG_MAX];
    snprintf(last, sizeof last, "%s", simdiff_last_error());
    return sd_fail(h, s, "%s: %s", prefix, last);
}

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

static uint64_t mix64(uint64_t x)
{
    x += 0x9e3779b97f4a7c15ull;
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
    return x ^ (x >> 31);
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
        uint64_t r = mix64((uint64_t)getpid() ^ ((uint64_t)time(NULL) << 20) ^
                           ((uint64_t)++counter << 40) ^ (uint64_t)(uintptr_t)f ^
                           (uint64_t)attempt);
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
        if (n == cap) {
            /* The file may have grown since fstat: probe one byte. */
            unsigned char probe;
            ssize_t r = read(fd, &probe, 1);
            if (r < 0 && errno == EINTR)
                continue;
            if (r < 0) {
                free(buf);
                return sd_fail(NULL, SIMDIFF_ERR_IO, "cannot read '%s': %s", path,
                               strerror(errno));
            }
            if (r == 0)
                break;
            free(buf);
            return sd_fail(NULL, SIMDIFF_ERR_IO, "'%s' changed while being read",
                           path);
        }
        ssize_t r = read(fd, buf + n, cap - n);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0) {
            free(buf);
            return sd_fail(NULL, SIMDIFF_ERR_IO, "cannot read '%s': %s", path,
                           strerror(errno));
        }
        if (r == 0)
            break; /* shrank: keep what is there */
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

/* ---- CRC32 and zlib ------------------------------------------------------ */

uint32_t sd_crc32(uint32_t crc, const void *data, size_t n)
{
    const unsigned char *p = data;
    uLong c = crc;
    while (n) {
        uInt k = n > (1u << 30) ? (1u << 30) : (uInt)n;
        c = crc32(c, p, k);
        p += k;
        n -= k;
    }
    return (uint32_t)c;
}

int sd_zratio_ok(uint64_t stored_n, uint64_t raw_n)
{
    /* deflate's best case is 258 bytes per 2-bit code: < 1032:1. */
    if (stored_n > (UINT64_MAX - 64) / 1032)
        return 1;
    return raw_n <= stored_n * 1032 + 64;
}

simdiff_status sd_zcompress(const void *src, size_t n, int level, void **out,
                            size_t *out_n)
{
    *out = NULL;
    *out_n = 0;
    z_stream zs;
    memset(&zs, 0, sizeof zs);
    if (deflateInit(&zs, level) != Z_OK)
        return sd_fail(NULL, SIMDIFF_ERR_INVALID_ARG, "deflateInit(level %d) failed",
                       level);
    /* deflateBound works on uLong; add slack for streams fed in pieces. */
    size_t cap;
    if (sd_add_size(n, n / 1000 + 1024, &cap)) {
        deflateEnd(&zs);
        return sd_fail(NULL, SIMDIFF_ERR_NOMEM, "compress: %zu bytes is too large", n);
    }
    unsigned char *buf = malloc(cap);
    if (!buf) {
        deflateEnd(&zs);
        return sd_fail(NULL, SIMDIFF_ERR_NOMEM, "compress: cannot allocate %zu bytes",
                       cap);
    }
    const unsigned char *p = src;
    size_t left = n, done = 0;
    int z;
    do {
        uInt kin = left > (1u << 30) ? (1u << 30) : (uInt)left;
        zs.next_in = (Bytef *)p;
        zs.avail_in = kin;
        int flush = (kin == left) ? Z_FINISH : Z_NO_FLUSH;
        do {
            if (done == cap) {
                size_t ncap;
                if (sd_add_size(cap, cap / 2 + 1024, &ncap)) {
                    free(buf);
                    deflateEnd(&zs);
                    return sd_fail(NULL, SIMDIFF_ERR_NOMEM, "compress: overflow");
                }
                unsigned char *nb = realloc(buf, ncap);
                if (!nb) {
                    free(buf);
                    deflateEnd(&zs);
                    return sd_fail(NULL, SIMDIFF_ERR_NOMEM, "compress: out of memory");
                }
                buf = nb;
                cap = ncap;
            }
            size_t kout = cap - done > (1u << 30) ? (1u << 30) : cap - done;
            zs.next_out = buf + done;
            zs.avail_out = (uInt)kout;
            z = deflate(&zs, flush);
            done += kout - zs.avail_out;
            if (z == Z_STREAM_ERROR) {
                free(buf);
                deflateEnd(&zs);
                return sd_fail(NULL, SIMDIFF_ERR_INTERNAL, "deflate failed");
            }
        } while (zs.avail_out == 0 || (flush == Z_FINISH && z != Z_STREAM_END));
        p += kin - zs.avail_in;
        left -= kin - zs.avail_in;
    } while (z != Z_STREAM_END);
    deflateEnd(&zs);
    *out = buf;
    *out_n = done;
    return SIMDIFF_OK;
}

simdiff_status sd_zuncompress(const void *src, size_t n, void *dst, size_t raw_n)
{
    z_stream zs;
    memset(&zs, 0, sizeof zs);
    if (inflateInit(&zs) != Z_OK)
        return sd_fail(NULL, SIMDIFF_ERR_NOMEM, "inflateInit failed");
    const unsigned char *in = src;
    unsigned char *out = dst;
    size_t in_left = n, out_left = raw_n;
    unsigned char spare;
    int z = Z_OK;
    for (;;) {
        uInt kin = in_left > (1u << 30) ? (1u << 30) : (uInt)in_left;
        int spare_used = out_left == 0;
        uInt kout = spare_used ? 1 : (out_left > (1u << 30) ? (1u << 30)
                                                            : (uInt)out_left);
        zs.next_in = (Bytef *)in;
        zs.avail_in = kin;
        zs.next_out = spare_used ? &spare : out;
        zs.avail_out = kout;
        z = inflate(&zs, Z_NO_FLUSH);
        size_t used_in = kin - zs.avail_in, produced = kout - zs.avail_out;
        in += used_in;
        in_left -= used_in;
        if (spare_used && produced) {
            inflateEnd(&zs);
            return sd_fail(NULL, SIMDIFF_ERR_FORMAT,
                           "compressed data inflates to more than %zu bytes", raw_n);
        }
        if (!spare_used) {
            out += produced;
            out_left -= produced;
        }
        if (z == Z_STREAM_END)
            break;
        if (z == Z_NEED_DICT || z == Z_DATA_ERROR || z == Z_MEM_ERROR ||
            z == Z_STREAM_ERROR) {
            inflateEnd(&zs);
            return sd_fail(NULL, SIMDIFF_ERR_FORMAT, "corrupt compressed data (%s)",
                           zs.msg ? zs.msg : "inflate error");
        }
        if (used_in == 0 && produced == 0) {
            inflateEnd(&zs);
            return sd_fail(NULL, SIMDIFF_ERR_FORMAT,
                           "compressed data is truncated (%zu of %zu bytes "
                           "inflated)",
                           raw_n - out_left, raw_n);
        }
    }
    inflateEnd(&zs);
    if (out_left != 0)
        return sd_fail(NULL, SIMDIFF_ERR_FORMAT,
                       "compressed data inflates to %zu bytes, expected %zu",
                       raw_n - out_left, raw_n);
    if (in_left != 0)
        return sd_fail(NULL, SIMDIFF_ERR_FORMAT,
                       "%zu bytes of garbage after the compressed data", in_left);
    return SIMDIFF_OK;
}

/* ---- 16-bit floats ------------------------------------------------------- */

static uint32_t f32_bits(float f)
{
    uint32_t u;
    memcpy(&u, &f, 4);
    return u;
}
static float bits_f32(uint32_t u)
{
    float f;
    memcpy(&f, &u, 4);
    return f;
}

uint16_t sd_f32_to_bf16(float f)
{
    uint32_t u = f32_bits(f);
    if ((u & 0x7fffffffu) > 0x7f800000u)
        return (uint16_t)((u >> 16) & 0x8000u) | 0x7fc0u;
    u += 0x7fffu + ((u >> 16) & 1u); /* ties to even; overflow rounds to inf */
    return (uint16_t)(u >> 16);
}

float sd_bf16_to_f32(uint16_t h) { return bits_f32((uint32_t)h << 16); }

uint16_t sd_f32_to_f16(float f)
{
    uint32_t u = f32_bits(f);
    uint16_t sign = (uint16_t)((u >> 16) & 0x8000u);
    uint32_t a = u & 0x7fffffffu;
    if (a > 0x7f800000u)
        return sign | 0x7e00u; /* NaN */
    if (a >= 0x477ff000u)
        return sign | 0x7c00u; /* >= 65520 (incl. inf) rounds to inf */
    if (a < 0x38800000u) {
        /* Result is subnormal (or zero): value / 2^-24, rounded to even. */
        if (a < 0x33000000u)
            return sign; /* < 2^-25: rounds to 0 (2^-25 itself ties to 0) */
        uint32_t e = a >> 23, m = (a & 0x7fffffu) | 0x800000u;
        int shift = 126 - (int)e; /* 14..24: value = m * 2^(e-150) */
        uint32_t q = m >> shift, rem = m & ((1u << shift) - 1u);
        uint32_t half = 1u << (shift - 1);
        if (rem > half || (rem == half && (q & 1u)))
            q++;
        return sign | (uint16_t)q;
    }
    /* Normal: rebias exponent 127 -> 15, round 23 -> 10 mantissa bits. */
    uint32_t r = a - 0x38000000u; /* exponent -= 112 */
    r += 0xfffu + ((r >> 13) & 1u);
    return sign | (uint16_t)(r >> 13);
}

float sd_f16_to_f32(uint16_t h)
{
    uint32_t sign = (uint32_t)(h & 0x8000u) << 16;
    uint32_t e = (h >> 10) & 0x1fu, m = h & 0x3ffu;
    if (e == 0x1f)
        return bits_f32(sign | 0x7f800000u | (m << 13));
    if (e == 0) {
        if (m == 0)
            return bits_f32(sign);
        /* Subnormal: m * 2^-24, exact in float. */
        float v = (float)m * 0x1p-24f;
        return sign ? -v : v;
    }
    return bits_f32(sign | ((e + 112u) << 23) | (m << 13));
}

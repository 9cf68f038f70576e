/*
 * The private file formats (lib/format/): atomic writes, bounded reads,
 * CRC/zlib, 16-bit floats, the JSON parser and emitter, safetensors and the
 * checkpoint container.
 *
 * Independent numbers: safetensors fixtures written by hand in Python from
 * the format description with PyTorch's F16/BF16 conversions
 * (tests/reference/make_io_fixtures.py); the published CRC-32 check value;
 * exhaustive 16-bit round trips. Hostile inputs (every truncation, every bit
 * flip, hand-made bad headers) must give an error and never a crash (this
 * program also runs under ASan/UBSan).
 */
#include <dirent.h>
#include <stddef.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <time.h>
#include <unistd.h>

#include <zlib.h>

#include "format/format.h"
#include "sdtest.h"

/* ---- helpers ------------------------------------------------------------- */

static uint8_t *slurp(const char *path, size_t *n)
{
    FILE *f = fopen(path, "rb");
    ck_assert_msg(f != NULL, "cannot open %s", path);
    fseek(f, 0, SEEK_END);
    long len = ftell(f);
    fseek(f, 0, SEEK_SET);
    uint8_t *b = malloc((size_t)len + 1);
    ck_assert_ptr_nonnull(b);
    ck_assert_uint_eq(fread(b, 1, (size_t)len, f), (size_t)len);
    fclose(f);
    *n = (size_t)len;
    return b;
}

static void spit(const char *path, const void *data, size_t n)
{
    FILE *f = fopen(path, "wb");
    ck_assert_ptr_nonnull(f);
    ck_assert_uint_eq(fwrite(data, 1, n, f), n);
    fclose(f);
}

/* A fresh empty directory under the test tmpdir. */
static const char *fresh_dir(const char *name)
{
    static char buf[1024];
    snprintf(buf, sizeof buf, "%s/%s-%d", sdtest_work_dir(), name, (int)getpid());
    mkdir(buf, 0777);
    return buf;
}

static uint32_t f2u(float f)
{
    uint32_t u;
    memcpy(&u, &f, 4);
    return u;
}

/* ---- atomic writer, reader ------------------------------------------------- */

START_TEST(afile_commit_and_overwrite)
{
    const char *dir = fresh_dir("afile");
    const char *p = sdtest_path(dir, "out.bin");
    ck_assert_int_eq(sd_write_file_atomic(p, "hello", 5), SIMDIFF_OK);
    size_t n;
    uint8_t *b = slurp(p, &n);
    ck_assert_uint_eq(n, 5);
    ck_assert_int_eq(memcmp(b, "hello", 5), 0);
    free(b);
    /* Many writes larger than the internal buffer. */
    sd_afile *f;
    ck_assert_int_eq(sd_afile_open(&f, p), SIMDIFF_OK);
    uint8_t chunk[1000];
    for (int i = 0; i < 300; i++) {
        memset(chunk, i & 0xff, sizeof chunk);
        ck_assert_int_eq(sd_afile_write(f, chunk, sizeof chunk), SIMDIFF_OK);
    }
    /* Before commit the old content is still there, complete. */
    b = slurp(p, &n);
    ck_assert_uint_eq(n, 5);
    free(b);
    ck_assert_int_eq(sd_afile_commit(f), SIMDIFF_OK);
    b = slurp(p, &n);
    ck_assert_uint_eq(n, 300000);
    for (int i = 0; i < 300; i++)
        ck_assert_uint_eq(b[i * 1000 + 999], (unsigned)(i & 0xff));
    free(b);
    ck_assert_int_eq(sdtest_count_entries(dir, ".tmp-"), 0);
    ck_assert_int_eq(sdtest_count_entries(dir, ""), 1);
}
END_TEST

START_TEST(afile_failures_leave_nothing)
{
    const char *dir = fresh_dir("afail");
    const char *p = sdtest_path(dir, "keep.bin");
    ck_assert_int_eq(sd_write_file_atomic(p, "old", 3), SIMDIFF_OK);
    /* abort: old content kept, no temporary left */
    sd_afile *f;
    ck_assert_int_eq(sd_afile_open(&f, p), SIMDIFF_OK);
    ck_assert_int_eq(sd_afile_write(f, "new content", 11), SIMDIFF_OK);
    ck_assert_int_eq(sdtest_count_entries(dir, ".tmp-"), 1);
    sd_afile_abort(f);
    ck_assert_int_eq(sdtest_count_entries(dir, ".tmp-"), 0);
    size_t n;
    uint8_t *b = slurp(p, &n);
    ck_assert_uint_eq(n, 3);
    ck_assert_int_eq(memcmp(b, "old", 3), 0);
    free(b);
    sd_afile_abort(NULL);
    /* a directory that does not exist */
    ck_assert_int_eq(sd_write_file_atomic(sdtest_path(dir, "nope/x.bin"), "a", 1),
                     SIMDIFF_ERR_IO);
    ck_assert_ptr_nonnull(strstr(simdiff_last_error(), "nope"));
    /* rename onto a non-empty directory fails at commit: temp removed */
    char sub[2200];
    snprintf(sub, sizeof sub, "%s", sdtest_path(dir, "sub"));
    ck_assert_int_eq(mkdir(sub, 0777), 0);
    ck_assert_int_eq(sd_write_file_atomic(sdtest_path(sub, "inner"), "x", 1), SIMDIFF_OK);
    ck_assert_int_eq(sd_write_file_atomic(sub, "data", 4), SIMDIFF_ERR_IO);
    ck_assert_int_eq(sdtest_count_entries(dir, ".tmp-"), 0);
    ck_assert_int_eq(sdtest_count_entries(dir, ""), 2);
    /* bad arguments */
    ck_assert_int_eq(sd_afile_open(&f, ""), SIMDIFF_ERR_INVALID_ARG);
    ck_assert_ptr_null(f);
    ck_assert_int_eq(sd_afile_open(&f, NULL), SIMDIFF_ERR_INVALID_ARG);
    ck_assert_int_eq(sd_write_file_atomic(sdtest_path(dir, "d/"), "a", 1),
                     SIMDIFF_ERR_INVALID_ARG);
}
END_TEST

/* The writer replaces regular files only: a FIFO, a device node, a
 * directory or a socket-like non-file given as the output path is
 * refused before anything is written and stays what it was (it was
 * renamed over: a FIFO became a regular file, and as root --npy /dev/null
 * would have replaced /dev/null). */
START_TEST(afile_refuses_non_regular_targets)
{
    const char *dir = fresh_dir("nonreg");
    char fifo[2200], sub[2200];
    snprintf(fifo, sizeof fifo, "%s", sdtest_path(dir, "fifo"));
    snprintf(sub, sizeof sub, "%s", sdtest_path(dir, "sub"));
    ck_assert_int_eq(mkfifo(fifo, 0600), 0);
    ck_assert_int_eq(mkdir(sub, 0700), 0);
    struct stat st;
    ck_assert_int_eq(sd_write_file_atomic(fifo, "data", 4), SIMDIFF_ERR_IO);
    ck_assert_ptr_nonnull(strstr(simdiff_last_error(), "FIFO"));
    ck_assert_int_eq(lstat(fifo, &st), 0);
    ck_assert(S_ISFIFO(st.st_mode));
    ck_assert_int_eq(sd_write_file_atomic(sub, "data", 4), SIMDIFF_ERR_IO);
    ck_assert_ptr_nonnull(strstr(simdiff_last_error(), "directory"));
    ck_assert_int_eq(lstat(sub, &st), 0);
    ck_assert(S_ISDIR(st.st_mode));
    /* A character device: a copy of /dev/null made here when we may
     * (root), else /dev/null itself (then nothing could replace it). */
    char dev[2200];
    snprintf(dev, sizeof dev, "%s", sdtest_path(dir, "null"));
    if (geteuid() != 0 || mknod(dev, S_IFCHR | 0666, makedev(1, 3)) != 0)
        snprintf(dev, sizeof dev, "/dev/null");
    ck_assert_int_eq(sd_write_file_atomic(dev, "data", 4), SIMDIFF_ERR_IO);
    ck_assert_msg(strstr(simdiff_last_error(), "character device"), "%s", simdiff_last_error());
    ck_assert_int_eq(lstat(dev, &st), 0);
    ck_assert(S_ISCHR(st.st_mode));
    ck_assert_int_eq(sdtest_count_entries(dir, ".tmp-"), 0);
}
END_TEST

/* A symbolic link is written through: its target gets the content, the
 * link stays a link; a dangling link, or one to a directory, is refused
 * and left as it was. */
START_TEST(afile_writes_through_symlinks)
{
    const char *dir = fresh_dir("symlink");
    char target[2200], link[2200], dangling[2200], todir[2200], buf[64];
    snprintf(target, sizeof target, "%s", sdtest_path(dir, "target.bin"));
    snprintf(link, sizeof link, "%s", sdtest_path(dir, "link.bin"));
    snprintf(dangling, sizeof dangling, "%s", sdtest_path(dir, "dangling.bin"));
    snprintf(todir, sizeof todir, "%s", sdtest_path(dir, "todir"));
    ck_assert_int_eq(sd_write_file_atomic(target, "old", 3), SIMDIFF_OK);
    ck_assert_int_eq(symlink("target.bin", link), 0);
    ck_assert_int_eq(symlink("missing.bin", dangling), 0);
    ck_assert_int_eq(symlink(".", todir), 0);
    ck_assert_int_eq(sd_write_file_atomic(link, "new!", 4), SIMDIFF_OK);
    struct stat st;
    ck_assert_int_eq(lstat(link, &st), 0);
    ck_assert(S_ISLNK(st.st_mode));
    ssize_t n = readlink(link, buf, sizeof buf);
    ck_assert_int_eq(n, 10);
    ck_assert_int_eq(memcmp(buf, "target.bin", 10), 0);
    size_t len;
    uint8_t *b = slurp(target, &len);
    ck_assert_uint_eq(len, 4);
    ck_assert_int_eq(memcmp(b, "new!", 4), 0);
    free(b);
    ck_assert_int_eq(sd_write_file_atomic(dangling, "x", 1), SIMDIFF_ERR_IO);
    ck_assert_ptr_nonnull(strstr(simdiff_last_error(), "symbolic link"));
    ck_assert_int_eq(lstat(dangling, &st), 0);
    ck_assert(S_ISLNK(st.st_mode));
    ck_assert_int_ne(access(sdtest_path(dir, "missing.bin"), F_OK), 0);
    ck_assert_int_eq(sd_write_file_atomic(todir, "x", 1), SIMDIFF_ERR_IO);
    ck_assert_ptr_nonnull(strstr(simdiff_last_error(), "directory"));
    ck_assert_int_eq(sdtest_count_entries(dir, ".tmp-"), 0);
    ck_assert_int_eq(sdtest_count_entries(dir, ""), 4);
}
END_TEST

/* A replaced file keeps its permission bits (it came back 0644 from a
 * 0600 original); a new file gets 0666 minus the umask. */
START_TEST(afile_keeps_the_mode)
{
    const char *dir = fresh_dir("mode");
    const char *p = sdtest_path(dir, "secret.bin");
    static const mode_t modes[] = {0600, 0640, 0444, 0755};
    ck_assert_int_eq(sd_write_file_atomic(p, "a", 1), SIMDIFF_OK);
    for (size_t k = 0; k < sizeof modes / sizeof modes[0]; k++) {
        ck_assert_int_eq(chmod(p, modes[k]), 0);
        ck_assert_int_eq(sd_write_file_atomic(p, "bb", 2), SIMDIFF_OK);
        struct stat st;
        ck_assert_int_eq(stat(p, &st), 0);
        ck_assert_int_eq(st.st_size, 2);
        ck_assert_msg((st.st_mode & 07777) == modes[k], "mode %o became %o",
                      (unsigned)modes[k], (unsigned)(st.st_mode & 07777));
    }
    mode_t mask = umask(022);
    umask(mask);
    const char *q = sdtest_path(dir, "new.bin");
    ck_assert_int_eq(sd_write_file_atomic(q, "c", 1), SIMDIFF_OK);
    struct stat st;
    ck_assert_int_eq(stat(q, &st), 0);
    ck_assert_uint_eq(st.st_mode & 07777, 0666 & ~mask);
}
END_TEST

/* Temporaries left by a killed writer of the same target are removed at
 * the next commit once they are an hour old; a live writer's fresh
 * temporary and anything not matching "<target>.tmp-" + 12 hex digits
 * stays. */
START_TEST(afile_removes_stale_temporaries)
{
    const char *dir = fresh_dir("stale");
    static const struct {
        const char *name;
        int old, removed;
    } files[] = {
        {"out.bin.tmp-0123456789ab", 1, 1},  {"out.bin.tmp-fedcba987654", 0, 0},
        {"out.bin.tmp-0123456789", 1, 0},    {"out.bin.tmp-0123456789abc", 1, 0},
        {"out.bin.tmp-0123456789AB", 1, 0},  {"other.bin.tmp-0123456789ab", 1, 0},
        {"out.bin.tmp-keep", 1, 0},          {"out.bin", 0, 0},
    };
    struct timespec two_hours_ago[2] = {{time(NULL) - 7200, 0}, {time(NULL) - 7200, 0}};
    for (size_t k = 0; k < sizeof files / sizeof files[0]; k++) {
        const char *p = sdtest_path(dir, files[k].name);
        spit(p, "x", 1);
        if (files[k].old)
            ck_assert_int_eq(utimensat(AT_FDCWD, p, two_hours_ago, 0), 0);
    }
    /* An old directory with the pattern is not a temporary of ours. */
    ck_assert_int_eq(mkdir(sdtest_path(dir, "out.bin.tmp-aaaaaaaaaaaa"), 0700), 0);
    ck_assert_int_eq(utimensat(AT_FDCWD, sdtest_path(dir, "out.bin.tmp-aaaaaaaaaaaa"),
                               two_hours_ago, 0), 0);
    ck_assert_int_eq(sd_write_file_atomic(sdtest_path(dir, "out.bin"), "new", 3), SIMDIFF_OK);
    for (size_t k = 0; k < sizeof files / sizeof files[0]; k++)
        ck_assert_msg((access(sdtest_path(dir, files[k].name), F_OK) != 0) == files[k].removed,
                      "%s: %s", files[k].name, files[k].removed ? "kept" : "removed");
    ck_assert_int_eq(access(sdtest_path(dir, "out.bin.tmp-aaaaaaaaaaaa"), F_OK), 0);
}
END_TEST

START_TEST(read_file_bounded)
{
    const char *dir = fresh_dir("rf");
    const char *p = sdtest_path(dir, "f.txt");
    spit(p, "0123456789", 10);
    void *b;
    size_t n;
    ck_assert_int_eq(sd_read_file(p, 10, &b, &n), SIMDIFF_OK);
    ck_assert_uint_eq(n, 10);
    ck_assert_str_eq((char *)b, "0123456789"); /* NUL-terminated */
    free(b);
    ck_assert_int_eq(sd_read_file(p, 9, &b, &n), SIMDIFF_ERR_FORMAT);
    ck_assert_ptr_null(b);
    ck_assert_uint_eq(n, 0);
    ck_assert_ptr_nonnull(strstr(simdiff_last_error(), "limit"));
    ck_assert_int_eq(sd_read_file(sdtest_path(dir, "missing"), 100, &b, &n),
                     SIMDIFF_ERR_IO);
    ck_assert_int_eq(sd_read_file(dir, 100, &b, &n), SIMDIFF_ERR_IO);
    spit(p, "", 0);
    ck_assert_int_eq(sd_read_file(p, 0, &b, &n), SIMDIFF_OK);
    ck_assert_uint_eq(n, 0);
    ck_assert_ptr_nonnull(b);
    free(b);
}
END_TEST

/* ---- CRC, zlib, gzip source -------------------------------------------------- */

START_TEST(crc32_check_value)
{
    /* The CRC-32 (ISO-HDLC) check value of "123456789". */
    ck_assert_uint_eq(sd_crc32(0, "123456789", 9), 0xCBF43926u);
    ck_assert_uint_eq(sd_crc32(sd_crc32(0, "1234", 4), "56789", 5), 0xCBF43926u);
    ck_assert_uint_eq(sd_crc32(0, "", 0), 0);
}
END_TEST

START_TEST(zlib_helpers)
{
    enum { N = 100000 };
    uint8_t *src = malloc(N), *dst = malloc(N + 1);
    for (int i = 0; i < N; i++)
        src[i] = (uint8_t)((i * 7) ^ (i >> 5));
    void *z;
    size_t zn;
    ck_assert_int_eq(sd_zcompress(src, N, 6, &z, &zn), SIMDIFF_OK);
    ck_assert_uint_lt(zn, N);
    /* Independent check: zlib's own uncompress. */
    uLongf outn = N;
    ck_assert_int_eq(uncompress(dst, &outn, z, (uLong)zn), Z_OK);
    ck_assert_uint_eq(outn, N);
    ck_assert_int_eq(memcmp(src, dst, N), 0);
    memset(dst, 0, N);
    ck_assert_int_eq(sd_zuncompress(z, zn, dst, N), SIMDIFF_OK);
    ck_assert_int_eq(memcmp(src, dst, N), 0);
    /* declared size too small / too large, truncated, trailing garbage */
    ck_assert_int_eq(sd_zuncompress(z, zn, dst, N - 1), SIMDIFF_ERR_FORMAT);
    ck_assert_int_eq(sd_zuncompress(z, zn, dst, N + 1), SIMDIFF_ERR_FORMAT);
    ck_assert_int_eq(sd_zuncompress(z, zn - 1, dst, N), SIMDIFF_ERR_FORMAT);
    uint8_t *zz = malloc(zn + 1);
    memcpy(zz, z, zn);
    zz[zn] = 0;
    ck_assert_int_eq(sd_zuncompress(zz, zn + 1, dst, N), SIMDIFF_ERR_FORMAT);
    ck_assert_ptr_nonnull(strstr(simdiff_last_error(), "garbage"));
    zz[zn / 2] ^= 0x55;
    ck_assert_int_eq(sd_zuncompress(zz, zn, dst, N), SIMDIFF_ERR_FORMAT);
    ck_assert_int_eq(sd_zuncompress(zz, 0, dst, 0), SIMDIFF_ERR_FORMAT);
    free(zz);
    free(z);
    /* empty input compresses to a valid stream of 0 bytes */
    ck_assert_int_eq(sd_zcompress(src, 0, 6, &z, &zn), SIMDIFF_OK);
    ck_assert_int_eq(sd_zuncompress(z, zn, dst, 0), SIMDIFF_OK);
    free(z);
    ck_assert(sd_zratio_ok(10, 10000));
    ck_assert(!sd_zratio_ok(10, 100000));
    free(src);
    free(dst);
}
END_TEST

static void write_gz(const char *path, const void *data, size_t n)
{
    gzFile g = gzopen(path, "wb");
    ck_assert_ptr_nonnull(g);
    ck_assert_int_eq(gzwrite(g, data, (unsigned)n), (int)n);
    ck_assert_int_eq(gzclose(g), Z_OK);
}

START_TEST(gzip_source)
{
    const char *dir = fresh_dir("gz");
    const char *p = sdtest_path(dir, "a.gz");
    char text[5000];
    for (int i = 0; i < 5000; i++)
        text[i] = (char)('a' + i % 26);
    write_gz(p, text, sizeof text);
    sd_src *s;
    char got[5000];
    ck_assert_int_eq(sd_src_open(&s, p), SIMDIFF_OK);
    ck_assert(sd_src_is_gzip(s));
    ck_assert_int_eq(sd_src_read(s, got, 100), SIMDIFF_OK);
    ck_assert_int_eq(sd_src_check_remaining(s, 4900), SIMDIFF_OK);
    ck_assert_int_eq(sd_src_check_remaining(s, (uint64_t)1 << 40), SIMDIFF_ERR_FORMAT);
    ck_assert_int_eq(sd_src_read(s, got + 100, 4900), SIMDIFF_OK);
    ck_assert_int_eq(memcmp(got, text, sizeof text), 0);
    ck_assert_int_eq(sd_src_expect_end(s), SIMDIFF_OK);
    sd_src_close(s);
    /* reading past the end */
    ck_assert_int_eq(sd_src_open(&s, p), SIMDIFF_OK);
    ck_assert_int_eq(sd_src_read(s, got, 4999), SIMDIFF_OK);
    ck_assert_int_eq(sd_src_expect_end(s), SIMDIFF_ERR_FORMAT);
    sd_src_close(s);
    ck_assert_int_eq(sd_src_open(&s, p), SIMDIFF_OK);
    char big[6000];
    ck_assert_int_eq(sd_src_read(s, big, 5001), SIMDIFF_ERR_FORMAT);
    sd_src_close(s);
    /* two members, garbage after the member, truncation */
    size_t n;
    uint8_t *gz = slurp(p, &n);
    uint8_t *two = malloc(2 * n);
    memcpy(two, gz, n);
    memcpy(two + n, gz, n);
    const char *q = sdtest_path(dir, "b.gz");
    spit(q, two, 2 * n);
    ck_assert_int_eq(sd_src_open(&s, q), SIMDIFF_OK);
    ck_assert_int_eq(sd_src_read(s, got, 5000), SIMDIFF_OK);
    ck_assert_int_eq(sd_src_expect_end(s), SIMDIFF_ERR_FORMAT);
    sd_src_close(s);
    for (size_t cut = 0; cut < n; cut += 7) {
        spit(q, gz, cut);
        ck_assert_int_eq(sd_src_open(&s, q), SIMDIFF_OK);
        simdiff_status st = sd_src_read(s, got, 5000);
        if (!st)
            st = sd_src_expect_end(s);
        ck_assert_int_eq(st, SIMDIFF_ERR_FORMAT);
        sd_src_close(s);
    }
    /* a raw file */
    spit(q, text, 10);
    ck_assert_int_eq(sd_src_open(&s, q), SIMDIFF_OK);
    ck_assert(!sd_src_is_gzip(s));
    ck_assert_int_eq(sd_src_read(s, got, 4), SIMDIFF_OK);
    ck_assert_int_eq(sd_src_check_remaining(s, 6), SIMDIFF_OK);
    ck_assert_int_eq(sd_src_check_remaining(s, 7), SIMDIFF_ERR_FORMAT);
    ck_assert_int_eq(sd_src_read(s, got, 5), SIMDIFF_OK);
    ck_assert_int_eq(sd_src_expect_end(s), SIMDIFF_ERR_FORMAT);
    sd_src_close(s);
    ck_assert_int_eq(sd_src_open(&s, sdtest_path(dir, "missing")), SIMDIFF_ERR_IO);
    ck_assert_ptr_null(s);
    free(gz);
    free(two);
}
END_TEST

/* ---- 16-bit floats ----------------------------------------------------------- */

START_TEST(half_round_trips_exhaustive)
{
    for (uint32_t h = 0; h < 65536; h++) {
        float f = sd_f16_to_f32((uint16_t)h);
        float b = sd_bf16_to_f32((uint16_t)h);
        ck_assert_uint_eq(f2u(b), h << 16);
        if (isnan(f)) {
            ck_assert_uint_eq((h >> 10) & 0x1f, 0x1f);
            ck_assert_uint_eq(sd_f32_to_f16(f), (h & 0x8000) | 0x7e00);
        } else {
            ck_assert_uint_eq(sd_f32_to_f16(f), h);
        }
        if (isnan(b)) {
            ck_assert_uint_eq((h >> 7) & 0xff, 0xff);
            ck_assert_uint_eq(sd_f32_to_bf16(b), (h & 0x8000) | 0x7fc0);
        } else {
            ck_assert_uint_eq(sd_f32_to_bf16(b), h);
        }
    }
    /* A few by hand: 1 + 2^-11 is a tie -> even (1.0); 1 + 3*2^-11 -> up. */
    ck_assert_uint_eq(sd_f32_to_f16(1.0f + 0x1p-11f), 0x3c00);
    ck_assert_uint_eq(sd_f32_to_f16(1.0f + 3 * 0x1p-11f), 0x3c02);
    ck_assert_uint_eq(sd_f32_to_f16(65520.0f), 0x7c00);
    ck_assert_uint_eq(sd_f32_to_f16(65519.996f), 0x7bff);
    ck_assert_uint_eq(sd_f32_to_f16(0x1p-25f), 0x0000);
    ck_assert_uint_eq(sd_f32_to_f16(3 * 0x1p-25f), 0x0002);
    ck_assert_uint_eq(sd_f32_to_f16(-0x1p-24f), 0x8001);
    ck_assert_uint_eq(sd_f32_to_bf16(1.0f + 0x1p-8f), 0x3f80);
    ck_assert_uint_eq(sd_f32_to_bf16(1.0f + 3 * 0x1p-8f), 0x3f82);
}
END_TEST

/* ---- JSON -------------------------------------------------------------------- */

START_TEST(json_valid)
{
    const char *t = " {\"a\": [1, -2, 0, 9223372036854775807, -9223372036854775808],"
                    " \"s\": \"x\\\"\\\\\\/\\b\\f\\n\\r\\t\\u00e9\\ud83d\\ude00\","
                    " \"n\": null, \"t\": true, \"f\": false, \"x\": 1.5e3,"
                    " \"o\": {}, \"e\": []} \n";
    sd_json d;
    ck_assert_int_eq(sd_json_parse(&d, t, strlen(t), 8), SIMDIFF_OK);
    const sd_json_node *root = &d.nodes[0];
    ck_assert_int_eq(root->type, SD_JSON_OBJECT);
    ck_assert_uint_eq(root->count, 8);
    const sd_json_node *a = sd_json_member(&d, root, "a");
    ck_assert_uint_eq(a->count, 5);
    const sd_json_node *v = &d.nodes[a->first];
    ck_assert_int_eq(v->ival, 1);
    v = &d.nodes[v->next];
    ck_assert_int_eq(v->ival, -2);
    v = &d.nodes[d.nodes[v->next].next];
    ck_assert_int_eq(v->ival, INT64_MAX);
    v = &d.nodes[v->next];
    ck_assert_int_eq(v->ival, INT64_MIN);
    const sd_json_node *s = sd_json_member(&d, root, "s");
    ck_assert_str_eq(sd_json_str(&d, s), "x\"\\/\b\f\n\r\t\xc3\xa9\xf0\x9f\x98\x80");
    ck_assert_uint_eq(s->len, strlen(sd_json_str(&d, s)));
    ck_assert_int_eq(sd_json_member(&d, root, "n")->type, SD_JSON_NULL);
    ck_assert_int_eq(sd_json_member(&d, root, "t")->type, SD_JSON_TRUE);
    ck_assert_int_eq(sd_json_member(&d, root, "f")->type, SD_JSON_FALSE);
    ck_assert_int_eq(sd_json_member(&d, root, "x")->type, SD_JSON_NUMBER);
    ck_assert_uint_eq(sd_json_member(&d, root, "o")->count, 0);
    ck_assert_ptr_null(sd_json_member(&d, root, "zz"));
    sd_json_free(&d);
}
END_TEST

START_TEST(json_invalid)
{
    static const char *bad[] = {
        "", " ", "{", "}", "{\"a\":1,}", "[1,]", "[1 2]", "{\"a\" 1}", "{a:1}",
        "{\"a\":1}x", "{\"a\":1}\0", "{\"a\":1,\"a\":2}", "{\"b\":{\"k\":1,\"k\":1}}",
        "[01]", "[-]", "[1.]", "[.5]", "[1e]", "[+1]", "[99999999999999999999]",
        "[9223372036854775808]", "[-9223372036854775809]", "[tru]", "[nul]",
        "[\"\\x\"]", "[\"\\u12\"]", "[\"\\u12g4\"]", "[\"\\ud800\"]",
        "[\"\\ud800x\"]", "[\"\\ud800\\u0041\"]", "[\"\\udc00\"]", "[\"\\u0000\"]",
        "[\"a\nb\"]", "[\"a\tb\"]", "[\"\xff\"]", "[\"\xc0\x80\"]", "[\"\xed\xa0\x80\"]",
        "[\"\xf4\x90\x80\x80\"]", "[\"\xe2\x82\"]", "[\"abc", "[\"\\", "'a'",
        "[[[[[[[[[1]]]]]]]]]",
    };
    for (size_t i = 0; i < SD_ARRAY_LEN(bad); i++) {
        sd_json d;
        size_t len = strlen(bad[i]);
        if (i == 10)
            len = 8; /* with the NUL */
        simdiff_status s = sd_json_parse(&d, bad[i], len, 8);
        ck_assert_msg(s == SIMDIFF_ERR_FORMAT, "case %zu accepted: %s", i, bad[i]);
        ck_assert_ptr_nonnull(strstr(simdiff_last_error(), "JSON"));
        ck_assert_ptr_null(d.nodes);
    }
    /* Very deep nesting is refused without recursing that deep. */
    size_t n = 1000000;
    char *deep = malloc(2 * n);
    memset(deep, '[', n);
    memset(deep + n, ']', n);
    sd_json d;
    ck_assert_int_eq(sd_json_parse(&d, deep, 2 * n, 8), SIMDIFF_ERR_FORMAT);
    ck_assert_ptr_nonnull(strstr(simdiff_last_error(), "deep"));
    free(deep);
    /* 8 levels are fine */
    ck_assert_int_eq(sd_json_parse(&d, "[[[[[[[[1]]]]]]]]", 17, 8), SIMDIFF_OK);
    sd_json_free(&d);
}
END_TEST

/* ---- safetensors: the fixtures --------------------------------------------- */

static sd_st_file *open_fixture(const char *name)
{
    sd_st_file *f = NULL;
    simdiff_status s =
        sd_st_open(&f, sdtest_path(sdtest_fixture_dir(), name), (size_t)1 << 20);
    ck_assert_msg(s == SIMDIFF_OK, "%s: %s", name, simdiff_last_error());
    return f;
}

static int same_float(float a, float b)
{
    return (isnan(a) && isnan(b)) || f2u(a) == f2u(b);
}

START_TEST(st_read_fixture)
{
    sd_st_file *f = open_fixture("io/st_read.safetensors");
    ck_assert_uint_eq(sd_st_count(f), 8);
    /* sorted by name */
    for (size_t i = 1; i < sd_st_count(f); i++)
        ck_assert_int_lt(strcmp(sd_st_at(f, i - 1)->name, sd_st_at(f, i)->name), 0);
    const sd_st_tensor *w = sd_st_find(f, "w");
    ck_assert_ptr_nonnull(w);
    ck_assert_int_eq(w->dtype, SD_DT_F32);
    ck_assert_int_eq(w->ndim, 2);
    ck_assert_int_eq(w->shape[0], 2);
    ck_assert_int_eq(w->shape[1], 3);
    float wv[6];
    int64_t ws[2] = {2, 3};
    ck_assert_int_eq(sd_st_read_f32(f, "w", wv, 2, ws), SIMDIFF_OK);
    const float wexp[6] = {0.5f, -1.25f, 3e-39f, -0.0f, 1e30f, 7.0f};
    for (int i = 0; i < 6; i++)
        ck_assert_uint_eq(f2u(wv[i]), f2u(wexp[i]));
    /* wrong shape, missing tensor, unsupported dtype */
    int64_t bad[2] = {3, 2};
    ck_assert_int_eq(sd_st_read_f32(f, "w", wv, 2, bad), SIMDIFF_ERR_FORMAT);
    ck_assert_ptr_nonnull(strstr(simdiff_last_error(), "[2, 3]"));
    ck_assert_int_eq(sd_st_read_f32(f, "w", wv, 1, ws), SIMDIFF_ERR_FORMAT);
    ck_assert_int_eq(sd_st_read_f32(f, "nope", wv, 2, ws), SIMDIFF_ERR_FORMAT);
    int64_t s3 = 3;
    ck_assert_int_eq(sd_st_read_f32(f, "i32", wv, 1, &s3), SIMDIFF_ERR_UNSUPPORTED);
    const sd_st_tensor *i32 = sd_st_find(f, "i32");
    ck_assert_int_eq((int32_t)sd_ld_u32le(i32->data + 4), -2);
    /* F16 / BF16 decoded exactly as PyTorch does */
    size_t n;
    uint8_t *exp = slurp(sdtest_path(sdtest_fixture_dir(), "io/st_read_expected.bin"), &n);
    ck_assert_uint_eq(n, 2 * 67 * 4);
    float src[67], h[67], b[67];
    int64_t s67 = 67;
    ck_assert_int_eq(sd_st_read_f32(f, "src", src, 1, &s67), SIMDIFF_OK);
    ck_assert_int_eq(sd_st_read_f32(f, "src.f16", h, 1, &s67), SIMDIFF_OK);
    ck_assert_int_eq(sd_st_read_f32(f, "src.bf16", b, 1, &s67), SIMDIFF_OK);
    for (int i = 0; i < 67; i++) {
        float eh, eb;
        memcpy(&eh, exp + 4 * i, 4);
        memcpy(&eb, exp + 4 * (67 + i), 4);
        ck_assert_msg(same_float(h[i], eh), "f16 %d: %a vs torch %a", i, h[i], eh);
        ck_assert_msg(same_float(b[i], eb), "bf16 %d: %a vs torch %a", i, b[i], eb);
    }
    free(exp);
    ck_assert(isnan(src[64]) && isnan(src[65]) && src[66] == 1.0f);
    /* a scalar, an empty tensor, an escaped non-ASCII name */
    float sc = 0;
    ck_assert_int_eq(sd_st_read_f32(f, "scalar", &sc, 0, NULL), SIMDIFF_OK);
    ck_assert(sc == 3.5f);
    const sd_st_tensor *e = sd_st_find(f, "empty");
    ck_assert_int_eq(e->ndim, 2);
    ck_assert_uint_eq(e->numel, 0);
    ck_assert_uint_eq(e->nbytes, 0);
    int64_t es[2] = {0, 4};
    ck_assert_int_eq(sd_st_read_f32(f, "empty", NULL, 2, es), SIMDIFF_OK);
    const char *uname = "caf\xc3\xa9\xf0\x9f\x98\x80";
    float u = 0;
    int64_t us[2] = {1, 1};
    ck_assert_int_eq(sd_st_read_f32(f, uname, &u, 2, us), SIMDIFF_OK);
    ck_assert(u == 42.0f);
    /* metadata */
    ck_assert_uint_eq(sd_st_metadata_count(f), 2);
    ck_assert_str_eq(sd_st_metadata(f, "format"), "pt");
    ck_assert_str_eq(sd_st_metadata(f, "note"),
                     "quote\" backslash\\ tab\t caf\xc3\xa9 \xf0\x9f\x98\x80 /");
    ck_assert_ptr_null(sd_st_metadata(f, "nope"));
    const char *k, *v;
    sd_st_metadata_at(f, 0, &k, &v);
    ck_assert_str_eq(k, "format");
    sd_st_metadata_at(f, 2, &k, &v);
    ck_assert_ptr_null(k);
    sd_st_close(f);
}
END_TEST

START_TEST(st_writer_matches_reference_bytes)
{
    sd_st_file *ref = open_fixture("io/st_writer_ref.safetensors");
    float a[64], nn[2];
    int64_t sa[2] = {4, 16}, sn = 2;
    ck_assert_int_eq(sd_st_read_f32(ref, "a", a, 2, sa), SIMDIFF_OK);
    ck_assert_int_eq(sd_st_read_f32(ref, "n", nn, 1, &sn), SIMDIFF_OK);
    float s = -2.5f;
    int64_t z0 = 0;
    sd_st_writer *w;
    ck_assert_int_eq(sd_st_writer_create(&w), SIMDIFF_OK);
    /* added in a scrambled order: the writer sorts */
    ck_assert_int_eq(sd_st_writer_add(w, "z", SD_DT_BF16, 1, &z0, NULL), SIMDIFF_OK);
    ck_assert_int_eq(sd_st_writer_add(w, "c", SD_DT_F16, 2, sa, a), SIMDIFF_OK);
    ck_assert_int_eq(sd_st_writer_add(w, "n16", SD_DT_F16, 1, &sn, nn), SIMDIFF_OK);
    ck_assert_int_eq(sd_st_writer_add(w, "s", SD_DT_F32, 0, NULL, &s), SIMDIFF_OK);
    ck_assert_int_eq(sd_st_writer_add(w, "b", SD_DT_BF16, 2, sa, a), SIMDIFF_OK);
    ck_assert_int_eq(sd_st_writer_add(w, "n", SD_DT_F32, 1, &sn, nn), SIMDIFF_OK);
    ck_assert_int_eq(sd_st_writer_add(w, "a", SD_DT_F32, 2, sa, a), SIMDIFF_OK);
    ck_assert_int_eq(sd_st_writer_set_metadata(w, "producer", "x"), SIMDIFF_OK);
    ck_assert_int_eq(sd_st_writer_set_metadata(w, "format", "pt"), SIMDIFF_OK);
    ck_assert_int_eq(sd_st_writer_set_metadata(w, "producer", "make_io_fixtures.py"),
                     SIMDIFF_OK);
    /* refusals */
    ck_assert_int_eq(sd_st_writer_add(w, "a", SD_DT_F32, 2, sa, a),
                     SIMDIFF_ERR_INVALID_ARG);
    ck_assert_int_eq(sd_st_writer_add(w, "__metadata__", SD_DT_F32, 2, sa, a),
                     SIMDIFF_ERR_INVALID_ARG);
    ck_assert_int_eq(sd_st_writer_add(w, "", SD_DT_F32, 2, sa, a),
                     SIMDIFF_ERR_INVALID_ARG);
    ck_assert_int_eq(sd_st_writer_add(w, "bad\xff", SD_DT_F32, 2, sa, a),
                     SIMDIFF_ERR_INVALID_ARG);
    ck_assert_int_eq(sd_st_writer_add(w, "i", SD_DT_I32, 2, sa, a),
                     SIMDIFF_ERR_INVALID_ARG);
    int64_t neg[1] = {-1};
    ck_assert_int_eq(sd_st_writer_add(w, "q", SD_DT_F32, 1, neg, a),
                     SIMDIFF_ERR_INVALID_ARG);
    ck_assert_int_eq(sd_st_writer_add(w, "q", SD_DT_F32, 2, sa, NULL),
                     SIMDIFF_ERR_INVALID_ARG);
    void *buf;
    size_t n, rn;
    ck_assert_int_eq(sd_st_writer_serialize(w, &buf, &n), SIMDIFF_OK);
    uint8_t *refb = slurp(sdtest_path(sdtest_fixture_dir(), "io/st_writer_ref.safetensors"),
                          &rn);
    ck_assert_uint_eq(n, rn);
    for (size_t i = 0; i < n; i++)
        ck_assert_msg(((uint8_t *)buf)[i] == refb[i],
                      "byte %zu differs: %02x vs reference %02x", i,
                      ((uint8_t *)buf)[i], refb[i]);
    /* the same bytes through the atomic file writer */
    const char *p = sdtest_path(fresh_dir("stw"), "m.safetensors");
    ck_assert_int_eq(sd_st_writer_write(w, p), SIMDIFF_OK);
    size_t fn;
    uint8_t *fb = slurp(p, &fn);
    ck_assert_uint_eq(fn, n);
    ck_assert_int_eq(memcmp(fb, refb, n), 0);
    ck_assert_int_eq(sd_st_writer_write(w, "/nonexistent-dir/m.st"), SIMDIFF_ERR_IO);
    free(fb);
    free(refb);
    free(buf);
    sd_st_writer_destroy(w);
    sd_st_writer_destroy(NULL);
    sd_st_close(ref);
}
END_TEST

START_TEST(st_writer_round_trip)
{
    enum { N = 3000 };
    float *x = malloc(N * sizeof *x), *y = malloc(N * sizeof *y);
    for (int i = 0; i < N; i++)
        x[i] = (float)sin(i * 0.37) * (float)(1 + i % 17);
    sd_st_writer *w;
    ck_assert_int_eq(sd_st_writer_create(&w), SIMDIFF_OK);
    int64_t s1[3] = {10, 15, 20}, s2[1] = {N};
    const char *odd = "we\"ird\\na\nme\x01\xc3\xa9";
    ck_assert_int_eq(sd_st_writer_add(w, "down.0.conv.weight", SD_DT_F32, 3, s1, x),
                     SIMDIFF_OK);
    ck_assert_int_eq(sd_st_writer_add(w, odd, SD_DT_BF16, 1, s2, x), SIMDIFF_OK);
    ck_assert_int_eq(sd_st_writer_add(w, "h", SD_DT_F16, 1, s2, x), SIMDIFF_OK);
    ck_assert_int_eq(sd_st_writer_set_metadata(w, "k\"\n", "v\\\t\x1f"), SIMDIFF_OK);
    const char *p = sdtest_path(fresh_dir("strt"), "rt.safetensors");
    ck_assert_int_eq(sd_st_writer_write(w, p), SIMDIFF_OK);
    sd_st_writer_destroy(w);
    sd_st_file *f;
    ck_assert_int_eq(sd_st_open(&f, p, 1 << 20), SIMDIFF_OK);
    ck_assert_uint_eq(sd_st_count(f), 3);
    ck_assert_int_eq(sd_st_read_f32(f, "down.0.conv.weight", y, 3, s1), SIMDIFF_OK);
    ck_assert_int_eq(memcmp(x, y, N * sizeof *x), 0);
    ck_assert_int_eq(sd_st_read_f32(f, odd, y, 1, s2), SIMDIFF_OK);
    for (int i = 0; i < N; i++)
        ck_assert_uint_eq(f2u(y[i]), f2u(sd_bf16_to_f32(sd_f32_to_bf16(x[i]))));
    ck_assert_int_eq(sd_st_read_f32(f, "h", y, 1, s2), SIMDIFF_OK);
    for (int i = 0; i < N; i++)
        ck_assert_uint_eq(f2u(y[i]), f2u(sd_f16_to_f32(sd_f32_to_f16(x[i]))));
    ck_assert_str_eq(sd_st_metadata(f, "k\"\n"), "v\\\t\x1f");
    /* F32 data is 8-byte aligned in the file (header padded). */
    const sd_st_tensor *t = sd_st_find(f, "down.0.conv.weight");
    size_t n;
    uint8_t *raw = slurp(p, &n);
    ck_assert_uint_eq((sd_ld_u64le(raw) + 8) % 8, 0);
    ck_assert_uint_eq(t->nbytes, 4 * N);
    free(raw);
    sd_st_close(f);
    ck_assert_int_eq(sd_st_open(&f, p, 100), SIMDIFF_ERR_FORMAT);
    ck_assert_ptr_null(f);
    free(x);
    free(y);
}
END_TEST

/* Whatever sd_st_open_mem accepted must be self-consistent. */
static void check_consistent(const sd_st_file *f, size_t size, const uint8_t *base)
{
    float tmp[256];
    for (size_t i = 0; i < sd_st_count(f); i++) {
        const sd_st_tensor *t = sd_st_at(f, i);
        ck_assert_uint_eq(t->nbytes, t->numel * sd_dtype_size(t->dtype));
        ck_assert(t->data >= base && t->data + t->nbytes <= base + size);
        if (t->numel <= 256 && (t->dtype == SD_DT_F32 || t->dtype == SD_DT_F16 ||
                                t->dtype == SD_DT_BF16))
            ck_assert_int_eq(sd_st_read_f32(f, t->name, tmp, t->ndim, t->shape),
                             SIMDIFF_OK);
    }
    for (size_t i = 0; i < sd_st_metadata_count(f); i++) {
        const char *k, *v;
        sd_st_metadata_at(f, i, &k, &v);
        ck_assert(k && v);
    }
}

START_TEST(st_truncations_and_bit_flips)
{
    const char *files[] = {"io/st_read.safetensors", "io/st_writer_ref.safetensors"};
    for (int fi = 0; fi < 2; fi++) {
        size_t n;
        uint8_t *orig = slurp(sdtest_path(sdtest_fixture_dir(), files[fi]), &n);
        size_t hdr_end = 8 + (size_t)sd_ld_u64le(orig);
        ck_assert_uint_le(hdr_end, n);
        /* every truncation is an error (exact-size copies: ASan sees overreads) */
        for (size_t cut = 0; cut < n; cut++) {
            uint8_t *b = malloc(cut ? cut : 1);
            memcpy(b, orig, cut);
            sd_st_file *f = (sd_st_file *)1;
            ck_assert_int_eq(sd_st_open_mem(&f, b, cut), SIMDIFF_ERR_FORMAT);
            ck_assert_ptr_null(f);
            ck_assert_int_gt((int)strlen(simdiff_last_error()), 0);
            free(b);
        }
        /* every bit of the length and the header */
        int accepted = 0, refused = 0;
        for (size_t byte = 0; byte < hdr_end; byte++)
            for (int bit = 0; bit < 8; bit++) {
                uint8_t *b = malloc(n);
                memcpy(b, orig, n);
                b[byte] ^= (uint8_t)(1u << bit);
                sd_st_file *f;
                simdiff_status s = sd_st_open_mem(&f, b, n);
                if (s == SIMDIFF_OK) {
                    accepted++;
                    check_consistent(f, n, b);
                    sd_st_close(f);
                } else {
                    refused++;
                    ck_assert_int_eq(s, SIMDIFF_ERR_FORMAT);
                }
                free(b);
            }
        ck_assert_int_gt(refused, accepted);
        free(orig);
    }
}
END_TEST

/* A file from a header string and a data buffer of data_n bytes. */
static simdiff_status st_try(const char *json, size_t data_n)
{
    size_t hn = strlen(json), n = 8 + hn + data_n;
    uint8_t *b = calloc(1, n);
    sd_st_u64le(b, hn);
    memcpy(b + 8, json, hn);
    sd_st_file *f;
    simdiff_status s = sd_st_open_mem(&f, b, n);
    sd_st_close(f);
    free(b);
    return s;
}

START_TEST(st_hostile_headers)
{
#define T(dt, shape, off) "{\"dtype\":\"" dt "\",\"shape\":" shape ",\"data_offsets\":" off "}"
    /* sanity: the good ones pass */
    ck_assert_int_eq(st_try("{}", 0), SIMDIFF_OK);
    ck_assert_int_eq(st_try("{}      ", 0), SIMDIFF_OK);
    ck_assert_int_eq(st_try("{\"a\":" T("F32", "[2]", "[0,8]") "}", 8), SIMDIFF_OK);
    ck_assert_int_eq(st_try("{\"a\":" T("F32", "[2]", "[0,8]") ",\"b\":" T("U8", "[0]", "[8,8]") "}", 8), SIMDIFF_OK);
    static const struct {
        const char *json;
        size_t data;
        const char *msg;
    } bad[] = {
        {"{\"a\":" T("F32", "[2]", "[0,8]") ",\"b\":" T("F32", "[2]", "[4,12]") "}", 12, "overlap"},
        {"{\"a\":" T("F32", "[1]", "[0,4]") ",\"b\":" T("F32", "[1]", "[8,12]") "}", 12, "gap"},
        {"{\"a\":" T("F32", "[2]", "[0,8]") "}", 4, "past the"},
        {"{\"a\":" T("F32", "[2]", "[0,8]") "}", 12, "after the last"},
        {"{}", 4, "no tensor"},
        {"{\"a\":" T("F32", "[4294967296,4294967296,16]", "[0,0]") "}", 0, "overflows"},
        {"{\"a\":" T("F64", "[4611686018427387904]", "[0,0]") "}", 0, "overflows"},
        {"{\"a\":" T("F32", "[-1]", "[0,0]") "}", 0, "non-negative"},
        {"{\"a\":" T("F32", "[2.0]", "[0,8]") "}", 8, "non-negative"},
        {"{\"a\":" T("F32", "[3]", "[0,8]") "}", 8, "need 12"},
        {"{\"a\":" T("F32", "[2]", "[8,0]") "}", 8, "begin <= end"},
        {"{\"a\":" T("F32", "[2]", "[-8,0]") "}", 8, "begin <= end"},
        {"{\"a\":" T("F32", "[2]", "[0,8,9]") "}", 8, "[begin, end]"},
        {"{\"a\":" T("F32", "[2]", "[0]") "}", 8, "[begin, end]"},
        {"{\"a\":" T("F32", "[2]", "[0,9223372036854775807]") "}", 8, "span"},
        {"{\"a\":" T("F33", "[2]", "[0,8]") "}", 8, "unknown dtype"},
        {"{\"a\":" T("f32", "[2]", "[0,8]") "}", 8, "unknown dtype"},
        {"{\"a\":{\"dtype\":4,\"shape\":[2],\"data_offsets\":[0,8]}}", 8, "not a string"},
        {"{\"a\":{\"shape\":[2],\"data_offsets\":[0,8]}}", 8, "needs"},
        {"{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8],\"x\":1}}", 8, "unknown key"},
        {"{\"a\":{\"dtype\":\"F32\",\"shape\":2,\"data_offsets\":[0,8]}}", 8, "not an array"},
        {"{\"a\":[1]}", 0, "not an object"},
        {"{\"a\":" T("F32", "[1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1]", "[0,4]") "}", 4, "dimensions"},
        {"{\"a\":" T("F32", "[2]", "[0,8]") ",\"a\":" T("F32", "[2]", "[8,16]") "}", 16, "duplicate"},
        {"{\"__metadata__\":{\"k\":1}}", 0, "not a string"},
        {"{\"__metadata__\":[]}", 0, "not an object"},
        {"{\"__metadata__\":{\"k\":\"a\",\"k\":\"b\"}}", 0, "duplicate"},
        {"{\"__metadata__\":{\"k\":\"\\q\"}}", 0, "escape"},
        {"{\"__metadata__\":{\"k\":\"\\ud800\"}}", 0, "surrogate"},
        {"{\"__metadata__\":{\"k\":\"\\u0000\"}}", 0, "u0000"},
        {"{\"__metadata__\":{\"k\":\"\x7f\xff\"}}", 0, "UTF-8"},
        {"{\"__metadata__\":{\"k\":\"\x01\"}}", 0, "control"},
        {"{\"__metadata__\":{\"k\":[[[[[[[[[[[[\"x\"]]]]]]]]]]]]}}", 0, "deep"},
        {"{} x", 0, "trailing"},
        {"{}\0\0", 0, "trailing"},
        {"[]", 0, "not a JSON object"},
        {"", 0, "unexpected end"},
        {"\"a\"", 0, "not a JSON object"},
    };
    for (size_t i = 0; i < SD_ARRAY_LEN(bad); i++) {
        size_t hn = strlen(bad[i].json);
        if (strcmp(bad[i].json, "{}") == 0 && bad[i].data == 0)
            continue;
        if (i == 34) /* "{}\0\0": the NULs are part of the header */
            hn = 4;
        size_t n = 8 + hn + bad[i].data;
        uint8_t *b = calloc(1, n);
        sd_st_u64le(b, hn);
        memcpy(b + 8, bad[i].json, hn);
        sd_st_file *f;
        simdiff_status s = sd_st_open_mem(&f, b, n);
        ck_assert_msg(s == SIMDIFF_ERR_FORMAT, "case %zu (%s) gave %d", i, bad[i].json, s);
        ck_assert_msg(strstr(simdiff_last_error(), bad[i].msg) != NULL,
                      "case %zu: message \"%s\" lacks \"%s\"", i, simdiff_last_error(),
                      bad[i].msg);
        free(b);
    }
    /* header length: huge, past the end, over 100 MB */
    uint8_t b[16] = {0};
    sd_st_file *f;
    sd_st_u64le(b, UINT64_MAX);
    ck_assert_int_eq(sd_st_open_mem(&f, b, 16), SIMDIFF_ERR_FORMAT);
    sd_st_u64le(b, 9);
    ck_assert_int_eq(sd_st_open_mem(&f, b, 16), SIMDIFF_ERR_FORMAT);
    ck_assert_ptr_nonnull(strstr(simdiff_last_error(), "past the end"));
    sd_st_u64le(b, 100000001);
    ck_assert_int_eq(sd_st_open_mem(&f, b, 16), SIMDIFF_ERR_FORMAT);
    ck_assert_ptr_nonnull(strstr(simdiff_last_error(), "limit"));
    ck_assert_int_eq(sd_st_open_mem(&f, b, 7), SIMDIFF_ERR_FORMAT);
    ck_assert_int_eq(sd_st_open_mem(&f, NULL, 0), SIMDIFF_ERR_FORMAT);
    ck_assert_int_eq(sd_st_open(&f, "/nonexistent/x.safetensors", 100), SIMDIFF_ERR_IO);
#undef T
}
END_TEST

/* ---- container ---------------------------------------------------------------- */

typedef struct sec {
    const char *name;
    uint8_t *data;
    size_t size;
    int compress;
} sec;

static void make_sections(sec *s, int *n)
{
    static uint8_t meta[40], params[3000], opt[257];
    for (size_t i = 0; i < sizeof meta; i++)
        meta[i] = (uint8_t)("step=1234;lr=0.0001;seed=42\n"[i % 28]);
    for (size_t i = 0; i < sizeof params; i++)
        params[i] = (uint8_t)((i / 7) % 13);
    uint32_t x = 1;
    for (size_t i = 0; i < sizeof opt; i++) {
        x = x * 1664525u + 1013904223u;
        opt[i] = (uint8_t)(x >> 24);
    }
    sec all[] = {{"meta", meta, sizeof meta, 0},
                 {"params", params, sizeof params, 1},
                 {"empty", NULL, 0, 0},
                 {"emptyz", NULL, 0, 1},
                 {"opt.adam.m", opt, sizeof opt, 0},
                 {"0123456789abcdef", opt, 100, 1}};
    memcpy(s, all, sizeof all);
    *n = (int)SD_ARRAY_LEN(all);
}

static uint8_t *ck_file(size_t *n)
{
    sec s[8];
    int ns;
    make_sections(s, &ns);
    sd_ck_writer *w;
    ck_assert_int_eq(sd_ck_writer_create(&w), SIMDIFF_OK);
    for (int i = 0; i < ns; i++)
        ck_assert_int_eq(sd_ck_writer_add(w, s[i].name, s[i].data, s[i].size,
                                          s[i].compress),
                         SIMDIFF_OK);
    const char *dir = fresh_dir("ck");
    const char *p = sdtest_path(dir, "c.ckpt");
    ck_assert_int_eq(sd_ck_writer_commit(w, p), SIMDIFF_OK);
    sd_ck_writer_destroy(w);
    return slurp(p, n);
}

static void ck_check_all(const sd_ck_reader *r)
{
    sec s[8];
    int ns;
    make_sections(s, &ns);
    ck_assert_uint_eq(sd_ck_count(r), (size_t)ns);
    for (int i = 0; i < ns; i++) {
        const void *d;
        size_t n;
        ck_assert_str_eq(sd_ck_name(r, (size_t)i), s[i].name);
        ck_assert_int_eq(sd_ck_find(r, s[i].name, &d, &n), SIMDIFF_OK);
        ck_assert_uint_eq(n, s[i].size);
        if (n)
            ck_assert_int_eq(memcmp(d, s[i].data, n), 0);
    }
}

START_TEST(container_round_trip)
{
    size_t n;
    uint8_t *b = ck_file(&n);
    /* the layout, read independently */
    ck_assert_int_eq(memcmp(b, "SIMDIFFC", 8), 0);
    ck_assert_uint_eq(sd_ld_u32le(b + 8), 1);
    ck_assert_uint_eq(sd_ld_u32le(b + 12), 6);
    size_t table = 16 + 40 * 6;
    ck_assert_uint_eq(sd_ld_u32le(b + table), (uint32_t)crc32(0, b, (uInt)table));
    const uint8_t *e = b + 16 + 40; /* "params": compressed */
    ck_assert_str_eq((const char *)e, "params");
    ck_assert_uint_eq(sd_ld_u32le(e + 16), 1);
    ck_assert_uint_eq(sd_ld_u64le(e + 28), 3000);
    ck_assert_uint_lt(sd_ld_u64le(e + 20), 3000);
    uint64_t stored_sum = 0;
    for (int i = 0; i < 6; i++)
        stored_sum += sd_ld_u64le(b + 16 + 40 * i + 20);
    ck_assert_uint_eq(table + 4 + stored_sum, n);
    sd_ck_reader *r;
    ck_assert_int_eq(sd_ck_open_mem(&r, b, n), SIMDIFF_OK);
    ck_check_all(r);
    ck_assert(sd_ck_has(r, "meta"));
    ck_assert(!sd_ck_has(r, "nope"));
    const void *d;
    size_t dn;
    ck_assert_int_eq(sd_ck_find(r, "nope", &d, &dn), SIMDIFF_ERR_FORMAT);
    ck_assert_ptr_nonnull(strstr(simdiff_last_error(), "nope"));
    sd_ck_close(r);
    sd_ck_close(NULL);
    /* from the file, with a size cap */
    const char *p = sdtest_path(fresh_dir("ck2"), "c.ckpt");
    spit(p, b, n);
    ck_assert_int_eq(sd_ck_open(&r, p, n), SIMDIFF_OK);
    ck_check_all(r);
    sd_ck_close(r);
    ck_assert_int_eq(sd_ck_open(&r, p, n - 1), SIMDIFF_ERR_FORMAT);
    ck_assert_ptr_null(r);
    /* writer refusals */
    sd_ck_writer *w;
    ck_assert_int_eq(sd_ck_writer_create(&w), SIMDIFF_OK);
    ck_assert_int_eq(sd_ck_writer_add(w, "a", "x", 1, 0), SIMDIFF_OK);
    ck_assert_int_eq(sd_ck_writer_add(w, "a", "x", 1, 0), SIMDIFF_ERR_INVALID_ARG);
    ck_assert_int_eq(sd_ck_writer_add(w, "", "x", 1, 0), SIMDIFF_ERR_INVALID_ARG);
    ck_assert_int_eq(sd_ck_writer_add(w, "0123456789abcdefg", "x", 1, 0),
                     SIMDIFF_ERR_INVALID_ARG);
    ck_assert_int_eq(sd_ck_writer_add(w, "sp ace", "x", 1, 0), SIMDIFF_ERR_INVALID_ARG);
    ck_assert_int_eq(sd_ck_writer_add(w, "b", NULL, 1, 0), SIMDIFF_ERR_INVALID_ARG);
    sd_ck_writer_destroy(w);
    free(b);
}
END_TEST

START_TEST(container_truncations_and_bit_flips)
{
    size_t n;
    uint8_t *orig = ck_file(&n);
    size_t table = 16 + 40 * 6 + 4;
    for (size_t cut = 0; cut < n; cut++) {
        uint8_t *b = malloc(cut ? cut : 1);
        memcpy(b, orig, cut);
        sd_ck_reader *r = (sd_ck_reader *)1;
        ck_assert_int_eq(sd_ck_open_mem(&r, b, cut), SIMDIFF_ERR_FORMAT);
        ck_assert_ptr_null(r);
        free(b);
    }
    /* An extra byte at the end is refused too. */
    uint8_t *longer = malloc(n + 1);
    memcpy(longer, orig, n);
    longer[n] = 0;
    sd_ck_reader *r;
    ck_assert_int_eq(sd_ck_open_mem(&r, longer, n + 1), SIMDIFF_ERR_FORMAT);
    free(longer);
    /* Every bit flip: an error, or (only inside a deflate stream, whose
     * last byte has padding bits) identical data. */
    int silent = 0;
    for (size_t byte = 0; byte < n; byte++)
        for (int bit = 0; bit < 8; bit++) {
            uint8_t *b = malloc(n);
            memcpy(b, orig, n);
            b[byte] ^= (uint8_t)(1u << bit);
            simdiff_status s = sd_ck_open_mem(&r, b, n);
            if (s == SIMDIFF_OK) {
                silent++;
                ck_assert_uint_ge(byte, table);
                ck_check_all(r);
                sd_ck_close(r);
            } else {
                ck_assert_int_eq(s, SIMDIFF_ERR_FORMAT);
            }
            free(b);
        }
    ck_assert_int_le(silent, 3 * 8);
    free(orig);
}
END_TEST

/* Patch a header field and fix the table CRC, so that the field's own
 * check is what refuses it. */
static simdiff_status ck_patched(const uint8_t *orig, size_t n, size_t off,
                                 const void *val, size_t vn)
{
    uint8_t *b = malloc(n);
    memcpy(b, orig, n);
    memcpy(b + off, val, vn);
    uint32_t count = sd_ld_u32le(b + 12);
    if (count <= 6) {
        size_t table = 16 + 40 * (size_t)count;
        sd_st_u32le(b + table, (uint32_t)crc32(0, b, (uInt)table));
    }
    sd_ck_reader *r;
    simdiff_status s = sd_ck_open_mem(&r, b, n);
    sd_ck_close(r);
    free(b);
    return s;
}

START_TEST(container_hostile_tables)
{
    size_t n;
    uint8_t *b = ck_file(&n);
    uint8_t v8[8];
    /* section payload changed: the section CRC catches it */
    uint8_t *c = malloc(n);
    memcpy(c, b, n);
    c[16 + 40 * 6 + 4 + 3] ^= 1; /* inside "meta" (raw) */
    sd_ck_reader *r;
    ck_assert_int_eq(sd_ck_open_mem(&r, c, n), SIMDIFF_ERR_FORMAT);
    ck_assert_ptr_nonnull(strstr(simdiff_last_error(), "\"meta\": CRC mismatch"));
    c[16 + 40 * 6 + 4 + 3] ^= 1;
    c[20] ^= 1; /* a name byte: the table CRC catches it */
    ck_assert_int_eq(sd_ck_open_mem(&r, c, n), SIMDIFF_ERR_FORMAT);
    ck_assert_ptr_nonnull(strstr(simdiff_last_error(), "table CRC"));
    free(c);
    uint32_t v4 = 0xffffffffu;
    ck_assert_int_eq(ck_patched(b, n, 12, &v4, 4), SIMDIFF_ERR_FORMAT); /* count */
    v4 = 2;
    ck_assert_int_eq(ck_patched(b, n, 8, &v4, 4), SIMDIFF_ERR_FORMAT); /* version */
    ck_assert_int_eq(ck_patched(b, n, 0, "SIMDIFFX", 8), SIMDIFF_ERR_FORMAT);
    v4 = 3;
    ck_assert_int_eq(ck_patched(b, n, 16 + 16, &v4, 4), SIMDIFF_ERR_FORMAT); /* flags */
    ck_assert_ptr_nonnull(strstr(simdiff_last_error(), "flags"));
    sd_st_u64le(v8, UINT64_MAX);
    ck_assert_int_eq(ck_patched(b, n, 16 + 20, v8, 8), SIMDIFF_ERR_FORMAT); /* stored */
    ck_assert_int_eq(ck_patched(b, n, 16 + 28, v8, 8), SIMDIFF_ERR_FORMAT); /* raw */
    /* a compressed section claiming a huge raw size: refused before allocating */
    sd_st_u64le(v8, (uint64_t)1 << 35);
    ck_assert_int_eq(ck_patched(b, n, 16 + 40 + 28, v8, 8), SIMDIFF_ERR_FORMAT);
    ck_assert_ptr_nonnull(strstr(simdiff_last_error(), "cannot inflate"));
    sd_st_u64le(v8, 3001);
    ck_assert_int_eq(ck_patched(b, n, 16 + 40 + 28, v8, 8), SIMDIFF_ERR_FORMAT);
    /* raw section whose raw size differs from the stored size */
    sd_st_u64le(v8, 39);
    ck_assert_int_eq(ck_patched(b, n, 16 + 28, v8, 8), SIMDIFF_ERR_FORMAT);
    /* names: duplicate, empty, bad characters, junk after the NUL */
    ck_assert_int_eq(ck_patched(b, n, 16 + 40 * 2, "meta\0", 5), SIMDIFF_ERR_FORMAT);
    ck_assert_ptr_nonnull(strstr(simdiff_last_error(), "duplicate"));
    ck_assert_int_eq(ck_patched(b, n, 16, "\0", 1), SIMDIFF_ERR_FORMAT);
    ck_assert_int_eq(ck_patched(b, n, 16, "me ta", 5), SIMDIFF_ERR_FORMAT);
    ck_assert_int_eq(ck_patched(b, n, 16 + 10, "x", 1), SIMDIFF_ERR_FORMAT);
    /* unchanged: still fine */
    ck_assert_int_eq(ck_patched(b, n, 0, "SIMDIFFC", 8), SIMDIFF_OK);
    /* atomic commit into a missing directory: IO error, nothing left */
    sd_ck_writer *w;
    ck_assert_int_eq(sd_ck_writer_create(&w), SIMDIFF_OK);
    ck_assert_int_eq(sd_ck_writer_add(w, "a", "xyz", 3, 1), SIMDIFF_OK);
    const char *dir = fresh_dir("ckfail");
    ck_assert_int_eq(sd_ck_writer_commit(w, sdtest_path(dir, "missing/c.ckpt")),
                     SIMDIFF_ERR_IO);
    ck_assert_int_eq(sd_ck_writer_commit(w, dir), SIMDIFF_ERR_IO); /* a directory */
    ck_assert_int_eq(sdtest_count_entries(dir, ""), 0);
    ck_assert_int_eq(sd_ck_writer_commit(w, sdtest_path(dir, "ok.ckpt")), SIMDIFF_OK);
    ck_assert_int_eq(sdtest_count_entries(dir, ""), 1);
    sd_ck_writer_destroy(w);
    ck_assert_int_eq(sd_ck_open(&r, sdtest_path(dir, "missing.ckpt"), 100), SIMDIFF_ERR_IO);
    free(b);
}
END_TEST

/* ---- key=value text -------------------------------------------------------- */

typedef struct kv_rec {
    int a;
    int list[4], count;
    int64_t big;
    uint64_t seed;
    float f;
    double d;
} kv_rec;

static const sd_kv_field kv_fields[] = {
    {"a", SD_KV_INT, offsetof(kv_rec, a), 0, 0, 0},
    {"list", SD_KV_INTS, offsetof(kv_rec, list), 4, offsetof(kv_rec, count), 0},
    {"big", SD_KV_I64, offsetof(kv_rec, big), 0, 0, 0},
    {"seed", SD_KV_U64, offsetof(kv_rec, seed), 0, 0, 0},
    {"f", SD_KV_FLOAT, offsetof(kv_rec, f), 0, 0, 0},
    {"d", SD_KV_DOUBLE, offsetof(kv_rec, d), 0, 0, 0},
    /* the same record, "d" optional (a key added in a later version) */
    {"a", SD_KV_INT, offsetof(kv_rec, a), 0, 0, 0},
    {"list", SD_KV_INTS, offsetof(kv_rec, list), 4, offsetof(kv_rec, count), 0},
    {"big", SD_KV_I64, offsetof(kv_rec, big), 0, 0, 0},
    {"seed", SD_KV_U64, offsetof(kv_rec, seed), 0, 0, 0},
    {"f", SD_KV_FLOAT, offsetof(kv_rec, f), 0, 0, 0},
    {"d", SD_KV_DOUBLE, offsetof(kv_rec, d), 0, 0, 1},
};

/* Formatting writes the documented text; parsing it gives the record
 * back exactly; every malformed text is refused with the reason. */
START_TEST(kv_text)
{
    kv_rec r = {-3, {4, 8, 16, 0}, 3, -9007199254740993ll, 18446744073709551615ull,
                0.1f, 0.1};
    char buf[256];
    ck_assert_int_eq(sd_kv_format("t", kv_fields, 6, &r, buf, sizeof buf), SIMDIFF_OK);
    ck_assert_str_eq(buf, "a=-3;list=4,8,16;big=-9007199254740993;"
                          "seed=18446744073709551615;f=0.100000001;d=0.10000000000000001");
    ck_assert_int_eq(sd_kv_format("t", kv_fields, 6, &r, buf, 20), SIMDIFF_ERR_INTERNAL);
    ck_assert_int_eq(sd_kv_format("t", kv_fields, 6, &r, buf, sizeof buf), SIMDIFF_OK);
    kv_rec back;
    memset(&back, 0, sizeof back);
    back.count = 3;
    ck_assert_int_eq(sd_kv_parse("t", kv_fields, 6, 1, buf, &back), SIMDIFF_OK);
    ck_assert_int_eq(back.a, r.a);
    ck_assert_int_eq(memcmp(back.list, r.list, sizeof r.list), 0);
    ck_assert(back.big == r.big && back.seed == r.seed && back.f == r.f && back.d == r.d);
    /* any order, one trailing ';'; optional keys keep the record's value */
    memset(&back, 0, sizeof back);
    back.a = 77;
    ck_assert_int_eq(sd_kv_parse("t", kv_fields, 6, 0, "d=2.5;seed=1;", &back), SIMDIFF_OK);
    ck_assert(back.d == 2.5 && back.seed == 1 && back.a == 77);
    ck_assert_int_eq(sd_kv_parse("t", kv_fields, 6, 0, "", &back), SIMDIFF_OK);
    static const struct {
        const char *text, *needle;
    } bad[] = {
        {"a=1;zz=2", "unknown key 'zz' (known: a, list, big, seed, f, d)"},
        {"a=1;a=1", "'a' given twice"},
        {"a=1;;d=1", "is not key=value"},
        {"a", "is not key=value"},
        {"a=", "a: '' is not a finite number"},
        {"a=1.5", "a: '1.5' is not an integer in range"},
        {"a=2147483648", "not an integer in range"},
        {"a= 1", "not a finite number"},
        {"a=+1", "a: '+1' is not a finite number"},
        {"a=1x", "not a finite number"},
        {"big=9223372036854775808", "not an integer in range"},
        {"seed=-1", "not an integer in range"},
        {"seed=18446744073709551616", "not an integer in range"},
        {"f=1e39", "f: '1e39' is not a finite number"},
        {"f=nan", "not a finite number"},
        {"d=inf", "not a finite number"},
        {"d=1e400", "not a finite number"},
        {"list=1,2,3,4,5", "list: more than 4 values"},
        {"list=1,,2", "list: '' is not a finite number"},
        {"list=1,2,", "list: '' is not a finite number"},
    };
    for (size_t k = 0; k < sizeof bad / sizeof bad[0]; k++) {
        kv_rec x = r;
        simdiff_status st = sd_kv_parse("t", kv_fields, 6, 0, bad[k].text, &x);
        ck_assert_msg(st == SIMDIFF_ERR_FORMAT, "case %zu '%s' accepted", k, bad[k].text);
        ck_assert_msg(strstr(simdiff_last_error(), bad[k].needle) != NULL,
                      "case %zu: '%s' lacks '%s'", k, simdiff_last_error(), bad[k].needle);
    }
    /* all_required: a missing key is named */
    ck_assert_int_eq(sd_kv_parse("t", kv_fields, 6, 1, "a=1;list=2;big=3;seed=4;f=5", &back),
                     SIMDIFF_ERR_FORMAT);
    ck_assert_ptr_nonnull(strstr(simdiff_last_error(), "missing key 'd'"));
    /* ... unless it is optional: the record keeps its value; still parsed
     * when present; other keys still required */
    kv_rec o = r;
    ck_assert_int_eq(sd_kv_parse("t", kv_fields + 6, 6, 1, "a=1;list=2;big=3;seed=4;f=5", &o),
                     SIMDIFF_OK);
    ck_assert(o.a == 1 && o.seed == 4 && o.d == r.d);
    ck_assert_int_eq(sd_kv_parse("t", kv_fields + 6, 6, 1, "a=1;list=2;big=3;seed=4;f=5;d=0.5", &o),
                     SIMDIFF_OK);
    ck_assert(o.d == 0.5);
    ck_assert_int_eq(sd_kv_parse("t", kv_fields + 6, 6, 1, "list=2;big=3;seed=4;f=5;d=1", &o),
                     SIMDIFF_ERR_FORMAT);
    ck_assert_ptr_nonnull(strstr(simdiff_last_error(), "missing key 'a'"));
}
END_TEST

static Suite *format_suite(void)
{
    Suite *s = suite_create("format");
    TCase *tc = tcase_create("files");
    tcase_add_test(tc, afile_commit_and_overwrite);
    tcase_add_test(tc, afile_failures_leave_nothing);
    tcase_add_test(tc, afile_refuses_non_regular_targets);
    tcase_add_test(tc, afile_writes_through_symlinks);
    tcase_add_test(tc, afile_keeps_the_mode);
    tcase_add_test(tc, afile_removes_stale_temporaries);
    tcase_add_test(tc, read_file_bounded);
    tcase_add_test(tc, crc32_check_value);
    tcase_add_test(tc, zlib_helpers);
    tcase_add_test(tc, gzip_source);
    tcase_add_test(tc, half_round_trips_exhaustive);
    suite_add_tcase(s, tc);
    tc = tcase_create("json-safetensors");
    tcase_add_test(tc, json_valid);
    tcase_add_test(tc, json_invalid);
    tcase_add_test(tc, st_read_fixture);
    tcase_add_test(tc, st_writer_matches_reference_bytes);
    tcase_add_test(tc, st_writer_round_trip);
    tcase_add_test(tc, st_truncations_and_bit_flips);
    tcase_add_test(tc, st_hostile_headers);
    suite_add_tcase(s, tc);
    tc = tcase_create("container");
    tcase_add_test(tc, container_round_trip);
    tcase_add_test(tc, container_truncations_and_bit_flips);
    tcase_add_test(tc, container_hostile_tables);
    tcase_add_test(tc, kv_text);
    suite_add_tcase(s, tc);
    return s;
}

SDTEST_MAIN(format_suite)

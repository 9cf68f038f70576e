/* CRC32 and zlib-format compression through zlib (format.h). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <zlib.h>

#include "format/format.h"

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

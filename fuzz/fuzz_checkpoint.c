/* The checkpoint container ("SIMDIFFC", lib/format/container.c) and what
 * is read from it: simdiff_model_load, simdiff_trainer_load (config,
 * schedule, sampler settings, weights, EMA, AdamW moments, step, RNG) and
 * simdiff_distiller_load (those, the student's distillation record and
 * sections 'distill' and 'teacher').
 *
 * Structure-aware: the custom mutator below takes a container apart into
 * its sections, mutates one section's raw bytes (or its name, or drops or
 * duplicates a section), and writes a container again with every CRC32
 * correct, each section stored raw or deflated at random. Inputs that are
 * not containers are mutated byte-wise and their CRCs fixed where the
 * table is readable. So most mutations get past the CRC checks to the
 * section parsers; the CRC checks themselves are reached by the byte-wise
 * mutations of the generic fallback (one in eight). */
#include <zlib.h>

#include "format/format.h"
#include "simdiff/distill.h"
#include "simdiff/train.h"
#include "fuzz_common.h"

#define HDR 16u
#define ENT 40u
#define MAX_SEC 64u
#define MAX_RAW (1u << 24)

typedef struct sec {
    char name[SD_CK_NAME_MAX];
    uint8_t *raw;
    size_t n;
} sec;

static void free_secs(sec *s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(s[i].raw);
}

/* Take a container apart without checking CRCs; 0 if it is not one. */
static size_t split(const uint8_t *d, size_t size, sec *out)
{
    if (size < HDR + 4 || memcmp(d, "SIMDIFFC", 8) != 0)
        return 0;
    uint32_t count = sd_ld_u32le(d + 12);
    if (count == 0 || count > MAX_SEC || HDR + (size_t)ENT * count + 4 > size)
        return 0;
    size_t off = HDR + (size_t)ENT * count + 4;
    for (uint32_t i = 0; i < count; i++) {
        const uint8_t *e = d + HDR + (size_t)ENT * i;
        uint32_t flags = sd_ld_u32le(e + 16);
        uint64_t stored = sd_ld_u64le(e + 20), raw = sd_ld_u64le(e + 28);
        if (stored > size - off || raw > MAX_RAW)
            goto bad;
        memcpy(out[i].name, e, SD_CK_NAME_MAX);
        out[i].n = (size_t)raw;
        out[i].raw = malloc(out[i].n + 1);
        if (!out[i].raw)
            goto bad;
        if (flags & SD_CK_FLAG_ZLIB) {
            uLongf got = (uLongf)raw;
            if (uncompress(out[i].raw, &got, d + off, (uLong)stored) != Z_OK ||
                got != raw) {
                free(out[i].raw);
                goto bad;
            }
        } else {
            if (stored != raw) {
                free(out[i].raw);
                goto bad;
            }
            memcpy(out[i].raw, d + off, out[i].n);
        }
        off += (size_t)stored;
        continue;
    bad:
        free_secs(out, i);
        return 0;
    }
    return count;
}

/* Write sections as a container with correct CRCs into d (cap bytes);
 * returns the size, or 0 when it does not fit. */
static size_t join(const sec *s, size_t count, uint8_t *d, size_t cap, unsigned *rng)
{
    size_t off = HDR + (size_t)ENT * count + 4;
    if (off > cap)
        return 0;
    memcpy(d, "SIMDIFFC", 8);
    sd_st_u32le(d + 8, 1);
    sd_st_u32le(d + 12, (uint32_t)count);
    for (size_t i = 0; i < count; i++) {
        uint8_t *e = d + HDR + (size_t)ENT * i;
        int z = (rand_r(rng) & 1) != 0;
        size_t stored = s[i].n;
        if (z) {
            uLongf zn = compressBound((uLong)s[i].n);
            if (off > cap || zn > cap - off ||
                compress2(d + off, &zn, s[i].raw, (uLong)s[i].n, 1) != Z_OK)
                z = 0;
            else
                stored = (size_t)zn;
        }
        if (!z) {
            if (off > cap || s[i].n > cap - off)
                return 0;
            memcpy(d + off, s[i].raw, s[i].n);
        }
        memcpy(e, s[i].name, SD_CK_NAME_MAX);
        sd_st_u32le(e + 16, z ? SD_CK_FLAG_ZLIB : 0);
        sd_st_u64le(e + 20, stored);
        sd_st_u64le(e + 28, s[i].n);
        sd_st_u32le(e + 36, sd_crc32(0, s[i].raw, s[i].n));
        off += stored;
    }
    sd_st_u32le(d + HDR + (size_t)ENT * count,
                sd_crc32(0, d, HDR + (size_t)ENT * count));
    return off;
}

/* After a byte-wise mutation: fix the CRCs of raw sections and of the
 * table where the table can be read. */
static void fix_crcs(uint8_t *d, size_t size)
{
    if (size < HDR + 4)
        return;
    uint32_t count = sd_ld_u32le(d + 12);
    if (count > SD_CK_MAX_SECTIONS || HDR + (size_t)ENT * count + 4 > size)
        return;
    size_t off = HDR + (size_t)ENT * count + 4;
    for (uint32_t i = 0; i < count; i++) {
        uint8_t *e = d + HDR + (size_t)ENT * i;
        uint64_t stored = sd_ld_u64le(e + 20);
        if (stored > size - off)
            break;
        if (!(sd_ld_u32le(e + 16) & SD_CK_FLAG_ZLIB))
            sd_st_u32le(e + 36, sd_crc32(0, d + off, (size_t)stored));
        off += (size_t)stored;
    }
    sd_st_u32le(d + HDR + (size_t)ENT * count, sd_crc32(0, d, HDR + (size_t)ENT * count));
}

size_t LLVMFuzzerCustomMutator(uint8_t *data, size_t size, size_t max_size,
                               unsigned int seed)
{
    unsigned rng = seed;
    sec s[MAX_SEC + 1];
    size_t count = (rand_r(&rng) & 7) ? split(data, size, s) : 0;
    if (count == 0) {
        size = LLVMFuzzerMutate(data, size, max_size);
        fix_crcs(data, size);
        return size;
    }
    size_t i = (size_t)rand_r(&rng) % count;
    switch (rand_r(&rng) % 8) {
    case 0: /* rename */
        LLVMFuzzerMutate((uint8_t *)s[i].name, SD_CK_NAME_MAX, SD_CK_NAME_MAX);
        break;
    case 1: /* drop */
        free(s[i].raw);
        s[i] = s[--count];
        break;
    case 2: /* duplicate */
        if (count < MAX_SEC) {
            s[count] = s[i];
            s[count].raw = malloc(s[i].n + 1);
            if (!s[count].raw)
                abort();
            memcpy(s[count].raw, s[i].raw, s[i].n);
            count++;
        }
        break;
    default: { /* the section's content */
        size_t cap = s[i].n * 2 + 64;
        uint8_t *b = malloc(cap);
        if (!b)
            abort();
        memcpy(b, s[i].raw, s[i].n);
        s[i].n = LLVMFuzzerMutate(b, s[i].n, cap);
        free(s[i].raw);
        s[i].raw = b;
        break;
    }
    }
    size_t n = count ? join(s, count, data, max_size, &rng) : 0;
    free_secs(s, count);
    if (n == 0) {
        size = LLVMFuzzerMutate(data, size, max_size);
        fix_crcs(data, size);
        return size;
    }
    return n;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    sd_ck_reader *r = NULL;
    if (sd_ck_open_mem(&r, data, size) != SIMDIFF_OK) {
        FZ_CHECK(r == NULL);
        return 0;
    }
    for (size_t i = 0; i < sd_ck_count(r); i++) {
        const void *p;
        size_t n;
        FZ_CHECK(sd_ck_find(r, sd_ck_name(r, i), &p, &n) == SIMDIFF_OK);
    }
    sd_ck_close(r);

    fz_file f;
    fz_file_open(&f, data, size);
    simdiff_model *m = NULL;
    if (simdiff_model_load(&m, f.path) != SIMDIFF_OK)
        FZ_CHECK(m == NULL);
    simdiff_model_destroy(m);
    simdiff_trainer *t = NULL;
    m = NULL;
    if (simdiff_trainer_load(&t, &m, f.path) != SIMDIFF_OK)
        FZ_CHECK(t == NULL && m == NULL);
    simdiff_trainer_destroy(t);
    simdiff_model_destroy(m);
    simdiff_distiller *d = NULL;
    m = NULL;
    if (simdiff_distiller_load(&d, &m, f.path) != SIMDIFF_OK)
        FZ_CHECK(d == NULL && m == NULL);
    simdiff_distiller_destroy(d);
    simdiff_model_destroy(m);
    fz_file_close(&f);
    return 0;
}

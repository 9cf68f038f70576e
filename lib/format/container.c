/* The sectioned checkpoint container ("SIMDIFFC", layout in format.h). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "format/format.h"

#define CK_MAGIC "SIMDIFFC"
#define CK_VERSION 1u
#define CK_HEAD 16u
#define CK_ENTRY 40u

static int valid_name_char(unsigned char c) { return c > 0x20 && c < 0x7f; }

/* ---- writer -------------------------------------------------------------- */

typedef struct ck_wsec {
    char name[SD_CK_NAME_MAX];
    uint32_t flags, crc;
    uint64_t raw;
    void *stored;
    size_t stored_n;
} ck_wsec;

struct sd_ck_writer {
    ck_wsec *s;
    size_t n, cap;
};

simdiff_status sd_ck_writer_create(sd_ck_writer **out)
{
    if (!out)
        return sd_fail(NULL, SIMDIFF_ERR_INVALID_ARG, "sd_ck_writer_create: NULL out");
    *out = calloc(1, sizeof **out);
    return *out ? SIMDIFF_OK
                : sd_fail(NULL, SIMDIFF_ERR_NOMEM, "checkpoint: out of memory");
}

void sd_ck_writer_destroy(sd_ck_writer *w)
{
    if (!w)
        return;
    for (size_t i = 0; i < w->n; i++)
        free(w->s[i].stored);
    free(w->s);
    free(w);
}

simdiff_status sd_ck_writer_add(sd_ck_writer *w, const char *name, const void *data,
                                size_t size, int compress)
{
    if (!w || !name || (size && !data))
        return sd_fail(NULL, SIMDIFF_ERR_INVALID_ARG, "sd_ck_writer_add: NULL argument");
    size_t len = strnlen(name, SD_CK_NAME_MAX + 1);
    if (len == 0 || len > SD_CK_NAME_MAX)
        return sd_fail(NULL, SIMDIFF_ERR_INVALID_ARG,
                       "checkpoint: section name \"%.40s\" must have 1..%d characters",
                       name, SD_CK_NAME_MAX);
    for (size_t i = 0; i < len; i++)
        if (!valid_name_char((unsigned char)name[i]))
            return sd_fail(NULL, SIMDIFF_ERR_INVALID_ARG,
                           "checkpoint: section name \"%.40s\": printable ASCII "
                           "without spaces only",
                           name);
    for (size_t i = 0; i < w->n; i++)
        if (strncmp(w->s[i].name, name, SD_CK_NAME_MAX) == 0)
            return sd_fail(NULL, SIMDIFF_ERR_INVALID_ARG,
                           "checkpoint: duplicate section \"%s\"", name);
    if (w->n >= SD_CK_MAX_SECTIONS)
        return sd_fail(NULL, SIMDIFF_ERR_INVALID_ARG,
                       "checkpoint: more than %d sections", SD_CK_MAX_SECTIONS);
    if ((uint64_t)size > SD_CK_MAX_RAW)
        return sd_fail(NULL, SIMDIFF_ERR_INVALID_ARG,
                       "checkpoint: section \"%s\" of %zu bytes is over the limit",
                       name, size);
    if (w->n == w->cap) {
        size_t ncap = w->cap ? 2 * w->cap : 8;
        ck_wsec *ns = realloc(w->s, ncap * sizeof *ns);
        if (!ns)
            return sd_fail(NULL, SIMDIFF_ERR_NOMEM, "checkpoint: out of memory");
        w->s = ns;
        w->cap = ncap;
    }
    ck_wsec sec;
    memset(&sec, 0, sizeof sec);
    memcpy(sec.name, name, len);
    sec.raw = size;
    sec.crc = sd_crc32(0, data, size);
    if (compress) {
        simdiff_status s = sd_zcompress(data, size, 6, &sec.stored, &sec.stored_n);
        if (s)
            return s;
        sec.flags = SD_CK_FLAG_ZLIB;
    } else {
        sec.stored = malloc(size ? size : 1);
        if (!sec.stored)
            return sd_fail(NULL, SIMDIFF_ERR_NOMEM,
                           "checkpoint: cannot allocate %zu bytes", size);
        if (size)
            memcpy(sec.stored, data, size);
        sec.stored_n = size;
    }
    w->s[w->n++] = sec;
    return SIMDIFF_OK;
}

simdiff_status sd_ck_writer_commit(sd_ck_writer *w, const char *path)
{
    if (!w)
        return sd_fail(NULL, SIMDIFF_ERR_INVALID_ARG, "sd_ck_writer_commit: NULL writer");
    size_t table = CK_HEAD + CK_ENTRY * w->n + 4;
    uint8_t *head = malloc(table);
    if (!head)
        return sd_fail(NULL, SIMDIFF_ERR_NOMEM, "checkpoint: out of memory");
    memcpy(head, CK_MAGIC, 8);
    sd_st_u32le(head + 8, CK_VERSION);
    sd_st_u32le(head + 12, (uint32_t)w->n);
    for (size_t i = 0; i < w->n; i++) {
        uint8_t *e = head + CK_HEAD + CK_ENTRY * i;
        memcpy(e, w->s[i].name, SD_CK_NAME_MAX);
        sd_st_u32le(e + 16, w->s[i].flags);
        sd_st_u64le(e + 20, w->s[i].stored_n);
        sd_st_u64le(e + 28, w->s[i].raw);
        sd_st_u32le(e + 36, w->s[i].crc);
    }
    sd_st_u32le(head + table - 4, sd_crc32(0, head, table - 4));
    sd_afile *f;
    simdiff_status s = sd_afile_open(&f, path);
    if (!s) {
        s = sd_afile_write(f, head, table);
        for (size_t i = 0; i < w->n && !s; i++)
            s = sd_afile_write(f, w->s[i].stored, w->s[i].stored_n);
        if (s)
            sd_afile_abort(f);
        else
            s = sd_afile_commit(f);
    }
    free(head);
    return s;
}

/* ---- reader -------------------------------------------------------------- */

typedef struct ck_rsec {
    char name[SD_CK_NAME_MAX + 1];
    const uint8_t *data;
    size_t size;
    uint8_t *owned; /* inflated bytes of a compressed section */
} ck_rsec;

struct sd_ck_reader {
    uint8_t *buf;
    size_t size;
    ck_rsec *s;
    size_t n;
};

void sd_ck_close(sd_ck_reader *r)
{
    if (!r)
        return;
    for (size_t i = 0; i < r->n; i++)
        free(r->s[i].owned);
    free(r->s);
    free(r->buf);
    free(r);
}

static simdiff_status ck_parse(sd_ck_reader *r)
{
    const uint8_t *b = r->buf;
    size_t size = r->size;
    if (size < CK_HEAD + 4 || memcmp(b, CK_MAGIC, 8) != 0)
        return sd_fail(NULL, SIMDIFF_ERR_FORMAT,
                       "checkpoint: not a libsimdiff checkpoint (bad magic or "
                       "%zu bytes)",
                       size);
    uint32_t version = sd_ld_u32le(b + 8), count = sd_ld_u32le(b + 12);
    if (version != CK_VERSION)
        return sd_fail(NULL, SIMDIFF_ERR_FORMAT,
                       "checkpoint: version %u, this library reads version %u",
                       version, CK_VERSION);
    if (count > SD_CK_MAX_SECTIONS)
        return sd_fail(NULL, SIMDIFF_ERR_FORMAT,
                       "checkpoint: %u sections, at most %d allowed", count,
                       SD_CK_MAX_SECTIONS);
    size_t table = CK_HEAD + (size_t)CK_ENTRY * count; /* <= 163856 */
    if (size < table + 4)
        return sd_fail(NULL, SIMDIFF_ERR_FORMAT,
                       "checkpoint: truncated section table (%zu bytes)", size);
    uint32_t want = sd_ld_u32le(b + table), got = sd_crc32(0, b, table);
    if (want != got)
        return sd_fail(NULL, SIMDIFF_ERR_FORMAT,
                       "checkpoint: section table CRC mismatch (stored %08x, "
                       "computed %08x)",
                       want, got);
    if (count) {
        r->s = calloc(count, sizeof *r->s);
        if (!r->s)
            return sd_fail(NULL, SIMDIFF_ERR_NOMEM, "checkpoint: out of memory");
    }
    uint64_t pos = table + 4;
    for (uint32_t i = 0; i < count; i++) {
        const uint8_t *e = b + CK_HEAD + (size_t)CK_ENTRY * i;
        ck_rsec *sec = &r->s[i];
        r->n = i + 1;
        size_t len = 0;
        while (len < SD_CK_NAME_MAX && e[len])
            len++;
        int ok = len > 0;
        for (size_t k = 0; k < len; k++)
            ok &= valid_name_char(e[k]);
        for (size_t k = len; k < SD_CK_NAME_MAX; k++)
            ok &= e[k] == 0;
        if (!ok)
            return sd_fail(NULL, SIMDIFF_ERR_FORMAT,
                           "checkpoint: section %u has an invalid name", i);
        memcpy(sec->name, e, len);
        for (uint32_t k = 0; k < i; k++)
            if (strcmp(r->s[k].name, sec->name) == 0)
                return sd_fail(NULL, SIMDIFF_ERR_FORMAT,
                               "checkpoint: duplicate section \"%s\"", sec->name);
        uint32_t flags = sd_ld_u32le(e + 16), crc = sd_ld_u32le(e + 36);
        uint64_t stored = sd_ld_u64le(e + 20), raw = sd_ld_u64le(e + 28);
        if (flags & ~SD_CK_FLAG_ZLIB)
            return sd_fail(NULL, SIMDIFF_ERR_FORMAT,
                           "checkpoint: section \"%s\": unknown flags %08x", sec->name,
                           flags);
        if (raw > SD_CK_MAX_RAW || raw > SIZE_MAX)
            return sd_fail(NULL, SIMDIFF_ERR_FORMAT,
                           "checkpoint: section \"%s\": raw size %llu is over the "
                           "limit",
                           sec->name, (unsigned long long)raw);
        if (stored > size - pos)
            return sd_fail(NULL, SIMDIFF_ERR_FORMAT,
                           "checkpoint: section \"%s\": %llu stored bytes at offset "
                           "%llu, past the end of the %zu-byte file",
                           sec->name, (unsigned long long)stored,
                           (unsigned long long)pos, size);
        const uint8_t *payload = b + pos;
        pos += stored;
        if (!(flags & SD_CK_FLAG_ZLIB)) {
            if (stored != raw)
                return sd_fail(NULL, SIMDIFF_ERR_FORMAT,
                               "checkpoint: section \"%s\": stored %llu bytes != "
                               "raw %llu bytes",
                               sec->name, (unsigned long long)stored,
                               (unsigned long long)raw);
            sec->data = payload;
            sec->size = (size_t)raw;
        } else {
            if (!sd_zratio_ok(stored, raw))
                return sd_fail(NULL, SIMDIFF_ERR_FORMAT,
                               "checkpoint: section \"%s\": %llu bytes cannot "
                               "inflate to %llu",
                               sec->name, (unsigned long long)stored,
                               (unsigned long long)raw);
            sec->owned = malloc(raw ? (size_t)raw : 1);
            if (!sec->owned)
                return sd_fail(NULL, SIMDIFF_ERR_NOMEM,
                               "checkpoint: cannot allocate %llu bytes",
                               (unsigned long long)raw);
            simdiff_status s =
                sd_zuncompress(payload, (size_t)stored, sec->owned, (size_t)raw);
            if (s) {
                char prefix[64];
                snprintf(prefix, sizeof prefix, "checkpoint: section \"%s\"",
                         sec->name);
                return sd_fail_prefix(NULL, s, prefix);
            }
            sec->data = sec->owned;
            sec->size = (size_t)raw;
        }
        uint32_t c = sd_crc32(0, sec->data, sec->size);
        if (c != crc)
            return sd_fail(NULL, SIMDIFF_ERR_FORMAT,
                           "checkpoint: section \"%s\": CRC mismatch (stored %08x, "
                           "computed %08x)",
                           sec->name, crc, c);
    }
    if (pos != size)
        return sd_fail(NULL, SIMDIFF_ERR_FORMAT,
                       "checkpoint: %llu bytes after the last section",
                       (unsigned long long)(size - pos));
    return SIMDIFF_OK;
}

static simdiff_status ck_open_owned(void *outp, void *buf, size_t size)
{
    sd_ck_reader **out = outp;
    sd_ck_reader *r = calloc(1, sizeof *r);
    if (!r) {
        free(buf);
        return sd_fail(NULL, SIMDIFF_ERR_NOMEM, "checkpoint: out of memory");
    }
    r->buf = buf;
    r->size = size;
    simdiff_status s = ck_parse(r);
    if (s) {
        sd_ck_close(r);
        return s;
    }
    *out = r;
    return SIMDIFF_OK;
}

simdiff_status sd_ck_open(sd_ck_reader **out, const char *path, size_t max_size)
{
    if (!out)
        return sd_fail(NULL, SIMDIFF_ERR_INVALID_ARG, "sd_ck_open: out is NULL");
    *out = NULL;
    return sd_read_file_parse(path, max_size, ck_open_owned, out);
}

simdiff_status sd_ck_open_mem(sd_ck_reader **out, const void *data, size_t size)
{
    if (!out)
        return sd_fail(NULL, SIMDIFF_ERR_INVALID_ARG, "sd_ck_open_mem: out is NULL");
    *out = NULL;
    if (!data && size)
        return sd_fail(NULL, SIMDIFF_ERR_INVALID_ARG, "sd_ck_open_mem: NULL data");
    void *buf = malloc(size ? size : 1);
    if (!buf)
        return sd_fail(NULL, SIMDIFF_ERR_NOMEM, "checkpoint: out of memory");
    if (size)
        memcpy(buf, data, size);
    return ck_open_owned(out, buf, size);
}

size_t sd_ck_count(const sd_ck_reader *r) { return r ? r->n : 0; }

const char *sd_ck_name(const sd_ck_reader *r, size_t i)
{
    return r && i < r->n ? r->s[i].name : NULL;
}

static const ck_rsec *ck_lookup(const sd_ck_reader *r, const char *name)
{
    if (!r || !name)
        return NULL;
    for (size_t i = 0; i < r->n; i++)
        if (strcmp(r->s[i].name, name) == 0)
            return &r->s[i];
    return NULL;
}

int sd_ck_has(const sd_ck_reader *r, const char *name)
{
    return ck_lookup(r, name) != NULL;
}

simdiff_status sd_ck_find(const sd_ck_reader *r, const char *name, const void **data,
                          size_t *size)
{
    if (!r || !name || !data || !size)
        return sd_fail(NULL, SIMDIFF_ERR_INVALID_ARG, "sd_ck_find: NULL argument");
    const ck_rsec *sec = ck_lookup(r, name);
    if (!sec) {
        *data = NULL;
        *size = 0;
        return sd_fail(NULL, SIMDIFF_ERR_FORMAT, "checkpoint: no section \"%.40s\"",
                       name);
    }
    *data = sec->data;
    *size = sec->size;
    return SIMDIFF_OK;
}

simdiff_status sd_ck_find_text(const sd_ck_reader *r, const char *name, size_t max_len,
                               char **out)
{
    *out = NULL;
    const void *d = NULL;
    size_t n = 0;
    simdiff_status st = sd_ck_find(r, name, &d, &n);
    if (st)
        return st;
    if (n > max_len || memchr(d, 0, n))
        return sd_fail(NULL, SIMDIFF_ERR_FORMAT, "checkpoint section '%s' is not text", name);
    *out = malloc(n + 1);
    if (!*out)
        return sd_fail(NULL, SIMDIFF_ERR_NOMEM, "out of memory");
    memcpy(*out, d, n);
    (*out)[n] = 0;
    return SIMDIFF_OK;
}

simdiff_status sd_ck_find_f32(const sd_ck_reader *r, const char *name, float *dst,
                              size_t count)
{
    const void *d = NULL;
    size_t n = 0, want;
    simdiff_status st = sd_ck_find(r, name, &d, &n);
    if (st)
        return st;
    if (sd_mul_size(count, sizeof(float), &want) || n != want)
        return sd_fail(NULL, SIMDIFF_ERR_FORMAT,
                       "checkpoint section '%s' has %zu bytes, %zu floats expected", name, n,
                       count);
    for (size_t i = 0; i < count; i++) {
        uint32_t u = sd_ld_u32le((const uint8_t *)d + 4 * i);
        memcpy(dst + i, &u, sizeof u);
    }
    return SIMDIFF_OK;
}

simdiff_status sd_ck_fail_read(simdiff_status st, const char *path)
{
    if (st != SIMDIFF_ERR_NOMEM && st != SIMDIFF_ERR_IO)
        st = SIMDIFF_ERR_FORMAT;
    return sd_fail(NULL, st, "%s: %s", path, simdiff_last_error());
}

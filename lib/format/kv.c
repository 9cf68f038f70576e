/* key=value metadata text (format.h, "key=value text"): one table-driven,
 * strict codec for the model config, the stored sampler settings and the
 * trainer state of a checkpoint. */
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "format/format.h"

/* The value text [s, s+n) as a C string in buf (cap bytes); -1 if too long. */
static int copy_value(const char *s, size_t n, char *buf, size_t cap)
{
    if (n >= cap)
        return -1;
    memcpy(buf, s, n);
    buf[n] = 0;
    return 0;
}

/* Strict number syntax: not empty, no leading space or '+' (strto* would
 * skip or accept them), the whole text consumed, no range error. */
static int plain(const char *b)
{
    return b[0] && b[0] != '+' && b[0] != ' ' && !(b[0] >= '\t' && b[0] <= '\r');
}

/* A parsed number of any type; each member starts at offset 0. */
typedef union kv_num {
    int64_t i;
    uint64_t u;
    float f;
    double d;
} kv_num;

/* b as a value of type t (SD_KV_INT and _INTS in int range); 0 or -1. */
static int parse_num(sd_kv_type t, const char *b, kv_num *n)
{
    char *e = NULL;
    errno = 0;
    switch (t) {
    case SD_KV_U64:
        if (b[0] != '-')
            n->u = strtoull(b, &e, 10);
        break;
    case SD_KV_FLOAT: n->f = strtof(b, &e); break;
    case SD_KV_DOUBLE: n->d = strtod(b, &e); break;
    default: n->i = strtoll(b, &e, 10); break;
    }
    if (!plain(b) || !e || *e || errno)
        return -1;
    if (t == SD_KV_FLOAT)
        return isfinite(n->f) ? 0 : -1;
    if (t == SD_KV_DOUBLE)
        return isfinite(n->d) ? 0 : -1;
    if (t == SD_KV_INT || t == SD_KV_INTS)
        return n->i >= -2147483647 && n->i <= 2147483647 ? 0 : -1;
    return 0;
}

static simdiff_status bad_value(const char *what, const sd_kv_field *f, const char *b)
{
    kv_num n;
    if (f->type != SD_KV_FLOAT && f->type != SD_KV_DOUBLE && parse_num(SD_KV_DOUBLE, b, &n) == 0)
        return sd_fail(NULL, SIMDIFF_ERR_FORMAT, "%s: %s: '%.60s' is not an integer in range",
                       what, f->key, b);
    return sd_fail(NULL, SIMDIFF_ERR_FORMAT, "%s: %s: '%.60s' is not a finite number", what,
                   f->key, b);
}

/* One value of field f from b into dst (the field's storage, or an element
 * of an int list). */
static int parse_one(const sd_kv_field *f, const char *b, char *dst)
{
    kv_num n;
    if (parse_num(f->type, b, &n))
        return -1;
    if (f->type == SD_KV_INT || f->type == SD_KV_INTS) {
        int v = (int)n.i;
        memcpy(dst, &v, sizeof v);
    } else {
        memcpy(dst, &n, f->type == SD_KV_FLOAT ? sizeof n.f : sizeof n.i);
    }
    return 0;
}

static simdiff_status parse_field(const char *what, const sd_kv_field *f, const char *s,
                                  size_t n, void *rec)
{
    char b[256];
    char *dst = (char *)rec + f->off;
    if (copy_value(s, n, b, sizeof b))
        return sd_fail(NULL, SIMDIFF_ERR_FORMAT, "%s: %s: value of %zu bytes is too long", what,
                       f->key, n);
    if (f->type != SD_KV_INTS)
        return parse_one(f, b, dst) ? bad_value(what, f, b) : SIMDIFF_OK;
    int count = 0;
    for (char *item = b;; count++) {
        char *comma = strchr(item, ',');
        if (comma)
            *comma = 0;
        if (count >= f->max)
            return sd_fail(NULL, SIMDIFF_ERR_FORMAT, "%s: %s: more than %d values", what,
                           f->key, f->max);
        if (parse_one(f, item, dst + (size_t)count * sizeof(int)))
            return bad_value(what, f, item);
        if (!comma)
            break;
        item = comma + 1;
    }
    return SIMDIFF_OK;
}

simdiff_status sd_kv_parse(const char *what, const sd_kv_field *fields, size_t n,
                           int all_required, const char *text, void *rec)
{
    if (n > 64)
        return sd_fail(NULL, SIMDIFF_ERR_INTERNAL, "%s: more than 64 keys", what);
    uint64_t seen = 0;
    const char *p = text;
    while (*p) {
        const char *semi = strchr(p, ';');
        size_t len = semi ? (size_t)(semi - p) : strlen(p);
        const char *eq = memchr(p, '=', len);
        if (!eq)
            return sd_fail(NULL, SIMDIFF_ERR_FORMAT, "%s: '%.*s' is not key=value", what,
                           (int)(len > 60 ? 60 : len), p);
        size_t kl = (size_t)(eq - p), i = 0;
        while (i < n && !(strlen(fields[i].key) == kl && !memcmp(fields[i].key, p, kl)))
            i++;
        if (i == n) {
            char known[512];
            size_t off = 0;
            for (size_t k = 0; k < n && off < sizeof known; k++) {
                int w = snprintf(known + off, sizeof known - off, "%s%s", k ? ", " : "",
                                 fields[k].key);
                off += w > 0 ? (size_t)w : 0;
            }
            return sd_fail(NULL, SIMDIFF_ERR_FORMAT, "%s: unknown key '%.*s' (known: %s)",
                           what, (int)(kl > 60 ? 60 : kl), p, known);
        }
        if (seen & ((uint64_t)1 << i))
            return sd_fail(NULL, SIMDIFF_ERR_FORMAT, "%s: '%s' given twice", what,
                           fields[i].key);
        seen |= (uint64_t)1 << i;
        simdiff_status st = parse_field(what, &fields[i], eq + 1, len - kl - 1, rec);
        if (st)
            return st;
        p = semi ? semi + 1 : p + len;
    }
    for (size_t i = 0; all_required && i < n; i++)
        if (!(seen & ((uint64_t)1 << i)) && !fields[i].optional)
            return sd_fail(NULL, SIMDIFF_ERR_FORMAT, "%s: missing key '%s'", what,
                           fields[i].key);
    return SIMDIFF_OK;
}

/* Append one value of field f at src to buf; the snprintf result. */
static int format_one(const sd_kv_field *f, const char *src, char *buf, size_t cap)
{
    int iv;
    int64_t i64;
    uint64_t u64;
    float fv;
    double dv;
    switch (f->type) {
    case SD_KV_INT:
    case SD_KV_INTS:
        memcpy(&iv, src, sizeof iv);
        return snprintf(buf, cap, "%d", iv);
    case SD_KV_I64:
        memcpy(&i64, src, sizeof i64);
        return snprintf(buf, cap, "%" PRId64, i64);
    case SD_KV_U64:
        memcpy(&u64, src, sizeof u64);
        return snprintf(buf, cap, "%" PRIu64, u64);
    case SD_KV_FLOAT: /* %.9g / %.17g: the value reads back exactly */
        memcpy(&fv, src, sizeof fv);
        return snprintf(buf, cap, "%.9g", (double)fv);
    case SD_KV_DOUBLE:
        memcpy(&dv, src, sizeof dv);
        return snprintf(buf, cap, "%.17g", dv);
    }
    return -1;
}

simdiff_status sd_kv_format(const char *what, const sd_kv_field *fields, size_t n,
                            const void *rec, char *buf, size_t cap)
{
    size_t off = 0;
    for (size_t i = 0; i < n; i++) {
        const sd_kv_field *f = &fields[i];
        const char *src = (const char *)rec + f->off;
        int count = 1;
        if (f->type == SD_KV_INTS)
            memcpy(&count, (const char *)rec + f->count_off, sizeof count);
        if (count < 0 || count > (f->type == SD_KV_INTS ? f->max : 1))
            return sd_fail(NULL, SIMDIFF_ERR_INTERNAL, "%s: %s: %d values", what, f->key, count);
        int k = snprintf(buf + off, cap - off, "%s%s=", i ? ";" : "", f->key);
        for (int j = 0; j < count && k >= 0 && off + (size_t)k < cap; j++) {
            if (j)
                k += snprintf(buf + off + k, cap - off - (size_t)k, ",");
            if (off + (size_t)k >= cap)
                break;
            int w = format_one(f, src + (size_t)j * sizeof(int), buf + off + k,
                               cap - off - (size_t)k);
            k = w < 0 ? -1 : k + w;
        }
        if (k < 0 || off + (size_t)k >= cap)
            return sd_fail(NULL, SIMDIFF_ERR_INTERNAL, "%s: text does not fit in %zu bytes",
                           what, cap);
        off += (size_t)k;
    }
    return SIMDIFF_OK;
}

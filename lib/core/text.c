/* Text helpers: UTF-8 validation and the escaping that keeps bytes read
 * from files from reaching a message raw (core/internal.h). */
#include <string.h>

#include "core/internal.h"

int sd_utf8_len(const unsigned char *p, const unsigned char *end)
{
    unsigned c = p[0];
    int n;
    uint32_t cp;
    if (c < 0x80)
        return 1;
    if (c >= 0xc2 && c <= 0xdf)
        n = 2, cp = c & 0x1f;
    else if (c >= 0xe0 && c <= 0xef)
        n = 3, cp = c & 0x0f;
    else if (c >= 0xf0 && c <= 0xf4)
        n = 4, cp = c & 0x07;
    else
        return 0;
    if (end - p < n)
        return 0;
    for (int i = 1; i < n; i++) {
        if ((p[i] & 0xc0) != 0x80)
            return 0;
        cp = (cp << 6) | (p[i] & 0x3f);
    }
    if ((n == 3 && cp < 0x800) || (n == 4 && (cp < 0x10000 || cp > 0x10ffff)) ||
        (cp >= 0xd800 && cp <= 0xdfff))
        return 0;
    return n;
}

int sd_utf8_valid(const char *s)
{
    const unsigned char *p = (const unsigned char *)s, *end = p + strlen(s);
    while (p < end) {
        int n = sd_utf8_len(p, end);
        if (!n)
            return 0;
        p += n;
    }
    return 1;
}

size_t sd_text_escape(char *dst, size_t cap, const char *src)
{
    static const char hex[] = "0123456789abcdef";
    if (!cap)
        return 0;
    const unsigned char *p = (const unsigned char *)src, *end = p + strlen(src);
    size_t o = 0;
    while (p < end) {
        int n = sd_utf8_len(p, end);
        /* C0 controls, DEL, C1 controls (U+0080..U+009F) and bytes that
         * are not UTF-8: one "\xNN" per byte. */
        int raw = n == 0 || (n == 1 && (*p < 0x20 || *p == 0x7f)) ||
                  (n == 2 && p[0] == 0xc2 && p[1] < 0xa0);
        size_t k = raw ? (size_t)(n ? n : 1) : (size_t)n, need = raw ? 4 * k : k;
        if (o + need >= cap)
            break; /* never cut an escape or a character in half */
        for (size_t i = 0; i < k; i++) {
            if (raw) {
                dst[o++] = '\\';
                dst[o++] = 'x';
                dst[o++] = hex[p[i] >> 4];
                dst[o++] = hex[p[i] & 15];
            } else {
                dst[o++] = (char)p[i];
            }
        }
        p += k;
    }
    dst[o] = 0;
    return o;
}

simdiff_status sd_put_text(const char *text, char *buf, size_t cap, size_t *len,
                   const char *fn)
{
    size_t n = strlen(text);
    if (len)
        *len = n;
    if (!buf || n >= cap) {
        if (buf && cap > 0)
            buf[0] = 0;
        return sd_fail(NULL, SIMDIFF_ERR_INVALID_ARG,
                       "%s: the text has %zu bytes; buf %s", fn, n,
                       buf ? "is too small" : "is NULL");
    }
    memcpy(buf, text, n + 1);
    return SIMDIFF_OK;
}

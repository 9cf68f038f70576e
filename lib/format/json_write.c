/* JSON emitter (format.h, "JSON output"). */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "format/format.h"

void sd_jbuf_put(sd_jbuf *b, const char *s, size_t n)
{
    if (b->oom)
        return;
    if (b->cap - b->n < n) {
        size_t ncap = b->cap ? b->cap : 256;
        while (ncap - b->n < n) {
            if (ncap > SIZE_MAX / 2) {
                b->oom = 1;
                return;
            }
            ncap *= 2;
        }
        char *np = realloc(b->p, ncap);
        if (!np) {
            b->oom = 1;
            return;
        }
        b->p = np;
        b->cap = ncap;
    }
    memcpy(b->p + b->n, s, n);
    b->n += n;
}

void sd_jbuf_str(sd_jbuf *b, const char *s) { sd_jbuf_put(b, s, strlen(s)); }

void sd_jbuf_string(sd_jbuf *b, const char *s)
{
    sd_jbuf_put(b, "\"", 1);
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        char esc[8];
        switch (*p) {
        case '"': sd_jbuf_put(b, "\\\"", 2); break;
        case '\\': sd_jbuf_put(b, "\\\\", 2); break;
        case '\b': sd_jbuf_put(b, "\\b", 2); break;
        case '\t': sd_jbuf_put(b, "\\t", 2); break;
        case '\n': sd_jbuf_put(b, "\\n", 2); break;
        case '\f': sd_jbuf_put(b, "\\f", 2); break;
        case '\r': sd_jbuf_put(b, "\\r", 2); break;
        default:
            if (*p < 0x20) {
                snprintf(esc, sizeof esc, "\\u%04x", *p);
                sd_jbuf_put(b, esc, 6);
            } else {
                sd_jbuf_put(b, (const char *)p, 1);
            }
        }
    }
    sd_jbuf_put(b, "\"", 1);
}

void sd_jbuf_free(sd_jbuf *b)
{
    free(b->p);
    b->p = NULL;
    b->n = b->cap = 0;
}

/* Names of enum values (the simdiff_*_name / simdiff_*_from_name calls of
 * every area are built on these two helpers; core/internal.h). */
#include <ctype.h>
#include <stdio.h>
#include <string.h>

#include "core/internal.h"

const char *sd_enum_name(const sd_enum_name_entry *t, size_t n, int value)
{
    for (size_t i = 0; i < n; i++)
        if (t[i].value == value && !t[i].alias)
            return t[i].name;
    return NULL;
}

/* Lower case, '-', '_' and ' ' dropped, '+' read as 'p'; 0 if it does not
 * fit. */
static int normalize(const char *s, char *out, size_t cap)
{
    size_t k = 0;
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '-' || c == '_' || c == ' ')
            continue;
        if (k + 1 >= cap)
            return 0;
        out[k++] = c == '+' ? 'p' : (char)tolower(c);
    }
    out[k] = 0;
    return 1;
}

simdiff_status sd_enum_from_name(const sd_enum_name_entry *t, size_t n, const char *what,
                                 const char *fn, const char *name, int *value)
{
    if (!name || !value)
        return sd_fail(NULL, SIMDIFF_ERR_INVALID_ARG, "%s: NULL argument", fn);
    char want[64], have[64];
    if (normalize(name, want, sizeof want))
        for (size_t i = 0; i < n; i++)
            if (normalize(t[i].name, have, sizeof have) && !strcmp(want, have)) {
                *value = t[i].value;
                return SIMDIFF_OK;
            }
    char known[256];
    size_t off = 0;
    for (size_t i = 0; i < n && off < sizeof known; i++) {
        if (t[i].alias)
            continue;
        int w = snprintf(known + off, sizeof known - off, "%s%s", off ? ", " : "", t[i].name);
        off += w > 0 ? (size_t)w : 0;
    }
    return sd_fail(NULL, SIMDIFF_ERR_INVALID_ARG, "%s: unknown %s '%.60s' (known: %s)", fn,
                   what, name, known);
}

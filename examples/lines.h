/*
 * Text files of the programs, one entry per line: captions
 * (simdiff-train --captions) and prompts (simdiff-sample --prompts).
 */
#ifndef SIMDIFF_EXAMPLES_LINES_H
#define SIMDIFF_EXAMPLES_LINES_H

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct text_lines {
    char *buf;   /* the file's bytes, lines NUL-terminated in place */
    char **line; /* (n) */
    int n;
} text_lines;

static inline void text_lines_free(text_lines *t)
{
    free(t->buf);
    free(t->line);
    t->buf = NULL;
    t->line = NULL;
    t->n = 0;
}

/* Read path: one entry per line ("\n" or "\r\n"; a last line without a
 * newline counts, an empty file has none). An empty line is an entry too
 * (an empty caption: the null context). With last_field, a line holding
 * tabs is its text after the last tab: the emoji data set's names file
 * (codepoints<TAB>group<TAB>subgroup<TAB>name) gives its names. A NUL byte
 * or more than 2^31 - 1 lines is an error. 0, or -1 with *err set. */
static inline int text_lines_read(const char *path, int last_field, text_lines *out,
                                  char *err, size_t cap)
{
    memset(out, 0, sizeof *out);
    FILE *f = fopen(path, "rb");
    if (!f) {
        snprintf(err, cap, "%s: %s", path, strerror(errno));
        return -1;
    }
    size_t len = 0, bcap = 0;
    char *buf = NULL;
    for (;;) {
        if (len + 4096 + 1 > bcap) {
            size_t nc = bcap ? 2 * bcap : 65536;
            char *nb = realloc(buf, nc);
            if (!nb) {
                free(buf);
                fclose(f);
                snprintf(err, cap, "%s: out of memory", path);
                return -1;
            }
            buf = nb;
            bcap = nc;
        }
        size_t got = fread(buf + len, 1, 4096, f);
        len += got;
        if (got < 4096)
            break;
    }
    int rd_err = ferror(f);
    fclose(f);
    if (rd_err || memchr(buf, 0, len)) {
        free(buf);
        snprintf(err, cap, "%s: %s", path, rd_err ? "read error" : "has a NUL byte");
        return -1;
    }
    buf[len] = 0;
    size_t n = 0;
    for (size_t i = 0; i < len; i++)
        n += buf[i] == '\n';
    if (len && buf[len - 1] != '\n')
        n++;
    if (n > 0x7fffffff) {
        free(buf);
        snprintf(err, cap, "%s: too many lines", path);
        return -1;
    }
    char **line = malloc((n ? n : 1) * sizeof *line);
    if (!line) {
        free(buf);
        snprintf(err, cap, "%s: out of memory", path);
        return -1;
    }
    char *p = buf;
    for (size_t k = 0; k < n; k++) {
        char *e = strchr(p, '\n');
        char *next = e ? e + 1 : p + strlen(p);
        if (e)
            *e = 0;
        size_t l = strlen(p);
        if (l && p[l - 1] == '\r')
            p[l - 1] = 0;
        char *tab = last_field ? strrchr(p, '\t') : NULL;
        line[k] = tab ? tab + 1 : p;
        p = next;
    }
    out->buf = buf;
    out->line = line;
    out->n = (int)n;
    return 0;
}

#endif

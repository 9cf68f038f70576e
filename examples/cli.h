/*
 * Strict command-line numbers for the example programs: the whole string
 * must be a number (strtol/strtod, no trailing text), inside the flag's
 * range; a failure prints "<prog>: <flag>: '<text>' is not ..." naming the
 * flag and its range and returns -1.
 */
#ifndef SIMDIFF_EXAMPLES_CLI_H
#define SIMDIFF_EXAMPLES_CLI_H

#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* For a flag loop over argv (index i) with `a` the flag, `v` the next
 * word (NULL at the end) and P the program's name: CLI_ARG(name) is true
 * when a is that flag with a value (consumed; a missing one: exit 2),
 * CLI_INT and CLI_DBL parse v (cli_int, cli_double below). */
#define CLI_ARG(name)                                                                         \
    (!strcmp(a, name) &&                                                                      \
     (v || (fprintf(stderr, "%s: %s needs a value\n", P, name), exit(2), 0)) && ++i)
#define CLI_INT(lo, hi, dst) cli_int(P, a, v, (lo), (hi), (dst))
#define CLI_DBL(lo, lo_open, hi, hi_open, dst)                                               \
    cli_double(P, a, v, (lo), (lo_open), (hi), (hi_open), (dst))

/* An integer in lo..hi. */
static inline int cli_ll(const char *prog, const char *flag, const char *s, long long lo,
                         long long hi, long long *out)
{
    char *end;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (errno || end == s || *end || v < lo || v > hi) {
        fprintf(stderr, "%s: %s: '%s' is not a whole number in %lld..%lld\n", prog, flag, s, lo,
                hi);
        return -1;
    }
    *out = v;
    return 0;
}

static inline int cli_int(const char *prog, const char *flag, const char *s, int lo, int hi,
                          int *out)
{
    long long v;
    if (cli_ll(prog, flag, s, lo, hi, &v))
        return -1;
    *out = (int)v;
    return 0;
}

/* A finite number in [lo, hi] (lo_open / hi_open: excluded). */
static inline int cli_double(const char *prog, const char *flag, const char *s, double lo,
                             int lo_open, double hi, int hi_open, double *out)
{
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (errno || end == s || *end || !isfinite(v) || v < lo || (lo_open && v == lo) ||
        v > hi || (hi_open && v == hi)) {
        fprintf(stderr, "%s: %s: '%s' is not a number in %c%g, %g%c\n", prog, flag, s,
                lo_open ? '(' : '[', lo, hi, hi_open ? ')' : ']');
        return -1;
    }
    *out = v;
    return 0;
}

/* A comma-separated list of 1..max integers, each in lo..hi ("64" or
 * "32,64,128"); *n gets the count. */
static inline int cli_int_list(const char *prog, const char *flag, const char *s, int lo, int hi,
                               int *out, int max, int *n)
{
    char buf[256];
    size_t len = strlen(s);
    int k = 0;
    if (len == 0 || len >= sizeof buf)
        goto bad;
    memcpy(buf, s, len + 1);
    for (char *p = buf, *c;; p = c + 1) {
        c = strchr(p, ',');
        if (c)
            *c = 0;
        char *end;
        errno = 0;
        long v = strtol(p, &end, 10);
        if (k == max || errno || end == p || *end || v < lo || v > hi)
            goto bad;
        out[k++] = (int)v;
        if (!c)
            break;
    }
    *n = k;
    return 0;
bad:
    fprintf(stderr, "%s: %s: '%s' is not a list of 1..%d whole numbers in %d..%d "
                    "separated by commas\n", prog, flag, s, max, lo, hi);
    return -1;
}

/* A non-negative integer up to 2^64 − 1 (decimal, or 0x hex). */
static inline int cli_u64(const char *prog, const char *flag, const char *s, uint64_t *out)
{
    char *end;
    errno = 0;
    unsigned long long v = *s == '-' || *s == '+' ? 0 : strtoull(s, &end, 0);
    if (*s == '-' || *s == '+' || errno || end == s || *end) {
        fprintf(stderr, "%s: %s: '%s' is not a non-negative whole number\n", prog, flag, s);
        return -1;
    }
    *out = (uint64_t)v;
    return 0;
}

/* A comma list of non-negative integers into a malloc'd array; *n its length. */
static inline int cli_u64_list(const char *prog, const char *flag, const char *s, uint64_t **out,
                               int *n)
{
    int cap = 1;
    for (const char *p = s; *p; p++)
        cap += *p == ',';
    uint64_t *v = malloc((size_t)cap * sizeof *v);
    char *copy = strdup(s);
    if (!v || !copy) {
        free(v);
        free(copy);
        fprintf(stderr, "%s: out of memory\n", prog);
        return -1;
    }
    int k = 0;
    for (char *save = NULL, *tok = strtok_r(copy, ",", &save); tok; tok = strtok_r(NULL, ",", &save))
        if (cli_u64(prog, flag, tok, &v[k++])) {
            free(v);
            free(copy);
            return -1;
        }
    free(copy);
    if (k != cap) { /* empty items: "1,,2" or a trailing comma */
        fprintf(stderr, "%s: %s: '%s' is not a comma list of whole numbers\n", prog, flag, s);
        free(v);
        return -1;
    }
    *out = v;
    *n = k;
    return 0;
}

/* dir is a writable directory; else a message naming flag and dir. */
static inline int cli_dir_ok(const char *prog, const char *flag, const char *dir)
{
    struct stat st;
    const char *why = stat(dir, &st) != 0            ? strerror(errno)
                      : !S_ISDIR(st.st_mode)         ? "not a directory"
                      : access(dir, W_OK | X_OK) != 0 ? strerror(errno)
                                                     : NULL;
    if (why)
        fprintf(stderr, "%s: %s: cannot write into '%s': %s\n", prog, flag, dir, why);
    return why ? -1 : 0;
}

/* The directory part of path ("." when there is none) is a writable
 * directory: checked before long work that ends in writing the file. */
static inline int cli_out_dir_ok(const char *prog, const char *flag, const char *path)
{
    char dir[4096];
    const char *slash = strrchr(path, '/');
    if (!slash)
        snprintf(dir, sizeof dir, ".");
    else if (slash == path)
        snprintf(dir, sizeof dir, "/");
    else
        snprintf(dir, sizeof dir, "%.*s", (int)(slash - path), path);
    return cli_dir_ok(prog, flag, dir);
}

#endif

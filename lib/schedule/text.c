/*
 * Text forms of a schedule (include/simdiff/schedule.h): the canonical
 * string ("cosine(-20,20)", "shifted(128,64)", "interpolated(512,32,256)"),
 * its parser, and the human description. Numbers always use '.'.
 */
#include <errno.h>
#include <locale.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "schedule/schedule_internal.h"
#include "schedule/schedule_object.h"

/* ---- text ---------------------------------------------------------------- */

/* The words of the text form, also the names of the kinds. */
SD_DEFINE_ENUM_NAMES(schedule_kind, simdiff_schedule_kind, "schedule kind",
                     {SIMDIFF_SCHEDULE_COSINE, "cosine", 0},
                     {SIMDIFF_SCHEDULE_SHIFTED, "shifted", 0},
                     {SIMDIFF_SCHEDULE_INTERPOLATED, "interpolated", 0})

/* Numbers in text always use '.', whatever setlocale() the host program
 * made: the calling thread switches to the "C" numeric locale for the
 * duration (uselocale is per thread, so other threads are unaffected). */
typedef struct c_numeric {
    locale_t c, old;
} c_numeric;

static int c_numeric_enter(c_numeric *cn)
{
    cn->c = newlocale(LC_NUMERIC_MASK, "C", (locale_t)0);
    if (cn->c == (locale_t)0)
        return -1;
    cn->old = uselocale(cn->c);
    return 0;
}

static void c_numeric_leave(c_numeric *cn)
{
    uselocale(cn->old);
    freelocale(cn->c);
}

/* The shortest "%.*g" text that reads back as x (inside c_numeric),
 * written without an exponent when one of at most 17 digits allows it
 * ("-20", "1000", not "-2e+01", "1e+03"; but "1e-20"). */
static void shortest_double(char *buf, size_t cap, double x)
{
    int prec = 1;
    for (; prec < 17; prec++) {
        snprintf(buf, cap, "%.*g", prec, x);
        if (strtod(buf, NULL) == x)
            break;
    }
    snprintf(buf, cap, "%.*g", prec, x);
    if (!strchr(buf, 'e'))
        return;
    /* More digits are still exact; %g drops trailing zeros. */
    char alt[40];
    for (int q = prec + 1; q <= 17; q++) {
        snprintf(alt, sizeof alt, "%.*g", q, x);
        if (!strchr(alt, 'e')) {
            snprintf(buf, cap, "%s", alt);
            return;
        }
    }
}

/* Write text into buf or fail with INVALID_ARG naming the needed size. */
static simdiff_status put_text(const simdiff_schedule *s, char *buf, size_t cap,
                               const char *text, const char *fn)
{
    size_t need = strlen(text) + 1;
    if (need > cap) {
        if (buf && cap > 0)
            buf[0] = '\0';
        return sd_schedule_fail(s, SIMDIFF_ERR_INVALID_ARG,
                          "%s: buffer of %zu bytes is too small, %zu needed", fn,
                          cap, need);
    }
    memcpy(buf, text, need);
    return SIMDIFF_OK;
}

SIMDIFF_API simdiff_status simdiff_schedule_to_string(const simdiff_schedule *s,
                                                      char *buf, size_t cap)
{
    static const char fn[] = "simdiff_schedule_to_string";
    if (!s)
        return sd_fail(NULL, SIMDIFF_ERR_INVALID_ARG, "%s: schedule is NULL", fn);
    if (!buf)
        return sd_schedule_fail(s, SIMDIFF_ERR_INVALID_ARG, "%s: buf is NULL", fn);
    char text[SIMDIFF_SCHEDULE_STRING_MAX];
    switch (s->kind) {
    case SIMDIFF_SCHEDULE_COSINE: {
        c_numeric cn;
        if (c_numeric_enter(&cn) != 0)
            return sd_schedule_fail(s, SIMDIFF_ERR_NOMEM,
                              "%s: cannot create the C locale", fn);
        char lo[40], hi[40];
        shortest_double(lo, sizeof lo, s->lmin);
        shortest_double(hi, sizeof hi, s->lmax);
        c_numeric_leave(&cn);
        snprintf(text, sizeof text, "cosine(%s,%s)", lo, hi);
        break;
    }
    case SIMDIFF_SCHEDULE_SHIFTED:
        snprintf(text, sizeof text, "shifted(%d,%d)", s->image_d, s->nd0);
        break;
    case SIMDIFF_SCHEDULE_INTERPOLATED:
        snprintf(text, sizeof text, "interpolated(%d,%d,%d)", s->image_d, s->nd0,
                 s->nd1);
        break;
    default:
        return sd_schedule_fail(s, SIMDIFF_ERR_INTERNAL, "%s: unknown kind %d", fn,
                          (int)s->kind);
    }
    return put_text(s, buf, cap, text, fn);
}

SIMDIFF_API simdiff_status simdiff_schedule_describe(const simdiff_schedule *s,
                                                     char *buf, size_t cap)
{
    static const char fn[] = "simdiff_schedule_describe";
    if (!s)
        return sd_fail(NULL, SIMDIFF_ERR_INVALID_ARG, "%s: schedule is NULL", fn);
    if (!buf)
        return sd_schedule_fail(s, SIMDIFF_ERR_INVALID_ARG, "%s: buf is NULL", fn);
    char text[SIMDIFF_SCHEDULE_DESCRIBE_MAX];
    c_numeric cn;
    if (c_numeric_enter(&cn) != 0)
        return sd_schedule_fail(s, SIMDIFF_ERR_NOMEM, "%s: cannot create the C locale",
                          fn);
    char lo[40], hi[40];
    shortest_double(lo, sizeof lo, s->lmin);
    shortest_double(hi, sizeof hi, s->lmax);
    double l0 = sd_schedule_logsnr1(s, 0.0), l1 = sd_schedule_logsnr1(s, 1.0);
    switch (s->kind) {
    case SIMDIFF_SCHEDULE_COSINE:
        snprintf(text, sizeof text,
                 "cosine: log-SNR clipped to [%s,%s]; logsnr(0)=%f, "
                 "logsnr(1)=%f",
                 lo, hi, l0, l1);
        break;
    case SIMDIFF_SCHEDULE_SHIFTED:
        snprintf(text, sizeof text,
                 "shifted: %dx%d image, schedule of %dx%d (log-SNR shift %f); "
                 "cosine clipped to [%s,%s]; logsnr(0)=%f, logsnr(1)=%f",
                 s->image_d, s->image_d, s->nd0, s->nd0, s->s0, lo, hi, l0, l1);
        break;
    case SIMDIFF_SCHEDULE_INTERPOLATED:
        snprintf(text, sizeof text,
                 "interpolated: %dx%d image; shifted(%d,%d) at t=0 (log-SNR "
                 "shift %f) blended linearly to shifted(%d,%d) at t=1 (shift "
                 "%f); cosine clipped to [%s,%s]; logsnr(0)=%f, logsnr(1)=%f",
                 s->image_d, s->image_d, s->image_d, s->nd0, s->s0, s->image_d,
                 s->nd1, s->s1, lo, hi, l0, l1);
        break;
    default:
        c_numeric_leave(&cn);
        return sd_schedule_fail(s, SIMDIFF_ERR_INTERNAL, "%s: unknown kind %d", fn,
                          (int)s->kind);
    }
    c_numeric_leave(&cn);
    return put_text(s, buf, cap, text, fn);
}

/* ---- parsing ------------------------------------------------------------- */

typedef struct parser {
    const char *str, *p;
    const char *fn;
} parser;

__attribute__((format(printf, 3, 4))) static simdiff_status
parse_fail(const parser *ps, simdiff_status st, const char *fmt, ...)
{
    char why[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(why, sizeof why, fmt, ap);
    va_end(ap);
    size_t len = strlen(ps->str);
    return sd_fail(NULL, st, "%s: \"%.80s%s\" at offset %zu: %s", ps->fn,
                   ps->str, len > 80 ? "..." : "", (size_t)(ps->p - ps->str),
                   why);
}

static int is_digit(char c) { return c >= '0' && c <= '9'; }

/* A decimal integer: 0 | [1-9][0-9]* (0 is then rejected by the create
 * call as a bad value, values above SIMDIFF_SCHEDULE_MAX_D here). */
static simdiff_status parse_int(parser *ps, int *out)
{
    const char *p = ps->p;
    if (!is_digit(*p))
        return parse_fail(ps, SIMDIFF_ERR_FORMAT,
                          "expected a decimal integer (digits only, no sign)");
    if (*p == '0' && is_digit(p[1]))
        return parse_fail(ps, SIMDIFF_ERR_FORMAT,
                          "integers are written without leading zeros");
    long v = 0;
    int too_large = 0;
    while (is_digit(*p)) {
        v = v * 10 + (*p - '0');
        if (v > SIMDIFF_SCHEDULE_MAX_D) {
            too_large = 1;
            v = SIMDIFF_SCHEDULE_MAX_D;
        }
        p++;
    }
    if (too_large)
        return parse_fail(ps, SIMDIFF_ERR_INVALID_ARG,
                          "integer \"%.*s\" is larger than %d",
                          (int)(p - ps->p > 30 ? 30 : p - ps->p), ps->p,
                          SIMDIFF_SCHEDULE_MAX_D);
    *out = (int)v;
    ps->p = p;
    return SIMDIFF_OK;
}

/* -?[0-9]+(\.[0-9]+)?([eE][+-]?[0-9]+)? read with strtod in the C locale. */
static simdiff_status parse_double(parser *ps, double *out)
{
    const char *p = ps->p, *start = p;
    if (*p == '-')
        p++;
    if (!is_digit(*p))
        return parse_fail(ps, SIMDIFF_ERR_FORMAT,
                          "expected a decimal number (e.g. -15, 0.5, 1e-3)");
    while (is_digit(*p))
        p++;
    if (*p == '.') {
        p++;
        if (!is_digit(*p)) {
            ps->p = p;
            return parse_fail(ps, SIMDIFF_ERR_FORMAT,
                              "expected digits after the decimal point");
        }
        while (is_digit(*p))
            p++;
    }
    if (*p == 'e' || *p == 'E') {
        p++;
        if (*p == '+' || *p == '-')
            p++;
        if (!is_digit(*p)) {
            ps->p = p;
            return parse_fail(ps, SIMDIFF_ERR_FORMAT,
                              "expected digits in the exponent");
        }
        while (is_digit(*p))
            p++;
    }
    size_t len = (size_t)(p - start);
    char tok[64];
    if (len >= sizeof tok)
        return parse_fail(ps, SIMDIFF_ERR_FORMAT, "number too long (%zu chars)",
                          len);
    memcpy(tok, start, len);
    tok[len] = '\0';
    c_numeric cn;
    if (c_numeric_enter(&cn) != 0)
        return sd_fail(NULL, SIMDIFF_ERR_NOMEM, "%s: cannot create the C locale",
                       ps->fn);
    char *end;
    errno = 0;
    double v = strtod(tok, &end);
    int err = errno;
    c_numeric_leave(&cn);
    if (end != tok + len)
        return parse_fail(ps, SIMDIFF_ERR_FORMAT, "malformed number \"%s\"", tok);
    if (err == ERANGE && isinf(v))
        return parse_fail(ps, SIMDIFF_ERR_INVALID_ARG,
                          "number \"%s\" is out of range", tok);
    *out = v;
    ps->p = p;
    return SIMDIFF_OK;
}

static simdiff_status expect(parser *ps, char c)
{
    if (*ps->p != c) {
        if (*ps->p == '\0')
            return parse_fail(ps, SIMDIFF_ERR_FORMAT,
                              "expected '%c', found the end of the text", c);
        return parse_fail(ps, SIMDIFF_ERR_FORMAT, "expected '%c', found '%c'", c,
                          *ps->p);
    }
    ps->p++;
    return SIMDIFF_OK;
}

SIMDIFF_API simdiff_status simdiff_schedule_from_string(simdiff_schedule **out,
                                                        const char *str)
{
    static const char fn[] = "simdiff_schedule_from_string";
    if (!out)
        return sd_fail(NULL, SIMDIFF_ERR_INVALID_ARG, "%s: out is NULL", fn);
    *out = NULL;
    if (!str)
        return sd_fail(NULL, SIMDIFF_ERR_INVALID_ARG, "%s: str is NULL", fn);
    parser ps = {str, str, fn};

    static const struct {
        simdiff_schedule_kind kind;
        int nargs;
    } kinds[] = {
        {SIMDIFF_SCHEDULE_COSINE, 2},
        {SIMDIFF_SCHEDULE_SHIFTED, 2},
        {SIMDIFF_SCHEDULE_INTERPOLATED, 3},
    };
    size_t namelen = 0;
    while (str[namelen] >= 'a' && str[namelen] <= 'z')
        namelen++;
    int k = -1;
    for (size_t i = 0; i < SD_ARRAY_LEN(kinds); i++) {
        const char *name = simdiff_schedule_kind_name(kinds[i].kind);
        if (strlen(name) == namelen && memcmp(name, str, namelen) == 0)
            k = (int)i;
    }
    if (k < 0)
        return parse_fail(&ps, SIMDIFF_ERR_FORMAT,
                          "expected cosine(min,max), shifted(image_d,base_d) or "
                          "interpolated(image_d,noise_d_at_t0,noise_d_at_t1)");
    ps.p += namelen;
    simdiff_status st = expect(&ps, '(');
    if (st != SIMDIFF_OK)
        return st;

    double d[2] = {0, 0};
    int v[3] = {0, 0, 0};
    for (int i = 0; i < kinds[k].nargs; i++) {
        if (i > 0 && (st = expect(&ps, ',')) != SIMDIFF_OK)
            return st;
        st = kinds[k].kind == SIMDIFF_SCHEDULE_COSINE ? parse_double(&ps, &d[i])
                                                      : parse_int(&ps, &v[i]);
        if (st != SIMDIFF_OK)
            return st;
    }
    if (*ps.p == ',')
        return parse_fail(&ps, SIMDIFF_ERR_FORMAT, "%s takes %d arguments",
                          simdiff_schedule_kind_name(kinds[k].kind), kinds[k].nargs);
    if ((st = expect(&ps, ')')) != SIMDIFF_OK)
        return st;
    if (*ps.p != '\0')
        return parse_fail(&ps, SIMDIFF_ERR_FORMAT,
                          "unexpected text after the closing ')'");

    switch (kinds[k].kind) {
    case SIMDIFF_SCHEDULE_COSINE:
        st = simdiff_schedule_create_cosine(out, d[0], d[1]);
        break;
    case SIMDIFF_SCHEDULE_SHIFTED:
        st = simdiff_schedule_create_shifted(out, v[0], v[1]);
        break;
    default:
        st = simdiff_schedule_create_interpolated(out, v[0], v[1], v[2]);
        break;
    }
    if (st != SIMDIFF_OK) {
        /* Re-word the create call's message for the text that was given. */
        char why[SD_ERRMSG_MAX];
        snprintf(why, sizeof why, "%s", simdiff_last_error());
        ps.p = str;
        return parse_fail(&ps, st, "%s", why);
    }
    return SIMDIFF_OK;
}

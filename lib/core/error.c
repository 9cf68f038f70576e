/* Status strings and the per-thread / per-handle error messages. */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "core/internal.h"

static _Thread_local char tls_last_error[SD_ERRMSG_MAX];

static const char *const status_names[] = {
    [SIMDIFF_OK] = "ok",
    [SIMDIFF_ERR_INVALID_ARG] = "invalid argument",
    [SIMDIFF_ERR_NOMEM] = "out of memory",
    [SIMDIFF_ERR_IO] = "input/output error",
    [SIMDIFF_ERR_FORMAT] = "bad file format",
    [SIMDIFF_ERR_UNSUPPORTED] = "unsupported",
    [SIMDIFF_ERR_CANCELLED] = "cancelled",
    [SIMDIFF_ERR_BACKEND] = "backend (oneDNN) failure",
    [SIMDIFF_ERR_MISUSE] = "library misuse",
    [SIMDIFF_ERR_NUMERIC] = "numeric error (NaN or Inf)",
    [SIMDIFF_ERR_INTERNAL] = "internal error",
};
_Static_assert(SD_ARRAY_LEN(status_names) == SIMDIFF_STATUS_COUNT_,
               "every status needs a string");

SIMDIFF_API const char *simdiff_status_str(simdiff_status s)
{
    if ((unsigned)s >= SD_ARRAY_LEN(status_names) || !status_names[s])
        return "unknown status";
    return status_names[s];
}

SIMDIFF_API const char *simdiff_last_error(void) { return tls_last_error; }

simdiff_status sd_fail(sd_err *h, simdiff_status s, const char *fmt, ...)
{
    /* Through a local buffer: callers may pass simdiff_last_error() itself
     * as an argument ("%s: %s", path, simdiff_last_error()), and vsnprintf
     * into its own source is undefined. */
    char buf[sizeof tls_last_error];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    /* Messages quote file content (keys, names, headers): escaped, so a
     * hostile file cannot put terminal controls or invalid UTF-8 into a
     * caller's log. Already-escaped text passes unchanged. */
    sd_text_escape(tls_last_error, sizeof tls_last_error, buf);
    if (h)
        memcpy(h->msg, tls_last_error, sizeof h->msg);
    return s;
}

simdiff_status sd_fail_keep(sd_err *h, simdiff_status s)
{
    if (h)
        memcpy(h->msg, tls_last_error, sizeof h->msg);
    return s;
}

const char *sd_errmsg(const sd_err *h) { return h ? h->msg : ""; }

simdiff_status sd_fail_prefix(sd_err *h, simdiff_status s, const char *prefix)
{
    char last[SD_ERRMSG_MAX];
    snprintf(last, sizeof last, "%s", simdiff_last_error());
    return sd_fail(h, s, "%s: %s", prefix, last);
}

simdiff_status sd_fail_path(simdiff_status s, const char *path)
{
    char prefix[300];
    snprintf(prefix, sizeof prefix, "'%.256s'", path);
    return sd_fail_prefix(NULL, s, prefix);
}

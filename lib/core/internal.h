/*
 * Internal helpers shared by every area of libsimdiff: error reporting and
 * small utilities. Not installed, not API.
 */
#ifndef SIMDIFF_LIB_CORE_INTERNAL_H
#define SIMDIFF_LIB_CORE_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

#include "simdiff/core.h"

#define SD_ERRMSG_MAX 512

/* Per-handle message buffer: every public handle embeds one. */
typedef struct sd_err {
    char msg[SD_ERRMSG_MAX];
} sd_err;

/* Record a failure: format the message into the calling thread's last-error
 * buffer and, when h is not NULL, into the handle's buffer too. Returns s so
 * call sites can write `return sd_fail(h, SIMDIFF_ERR_..., "...", ...);`. */
simdiff_status sd_fail(sd_err *h, simdiff_status s, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Copy the thread's last message into the handle (after a failing internal
 * call that did not know the handle). Returns s. */
simdiff_status sd_fail_keep(sd_err *h, simdiff_status s);

/* Fail with status s and the message "<prefix>: <the thread's last message>"
 * (sd_fail() cannot take simdiff_last_error() as an argument: same buffer). */
simdiff_status sd_fail_prefix(sd_err *h, simdiff_status s, const char *prefix);
/* The same with the prefix "'<path>'" (path cut at 256 bytes). */
simdiff_status sd_fail_path(simdiff_status s, const char *path);

/* Handle's message, "" when h is NULL. */
const char *sd_errmsg(const sd_err *h);

/* Every message sd_fail records is made safe to print first: bytes from a
 * file (a key, a name, a header) never reach a terminal or a log raw. */

/* UTF-8 (RFC 3629: no overlongs, no surrogates, <= U+10FFFF): the length
 * (1..4) of the valid sequence at p, 0 if invalid; and whether a whole
 * NUL-terminated string is valid (text.c). */
int sd_utf8_len(const unsigned char *p, const unsigned char *end);
int sd_utf8_valid(const char *s);
/* Copy src into dst (cap bytes, NUL-terminated) with every C0/C1 control
 * character, DEL and byte that is not UTF-8 written as "\xNN"; cut at a
 * character boundary when it does not fit. Returns the length written. */
size_t sd_text_escape(char *dst, size_t cap, const char *src);

/* Apply the configured thread count to the calling thread's OpenMP ICVs
 * and make sure the thread's OpenMP team exists; call at the start of
 * every public compute entry point. SIMDIFF_ERR_NOMEM (message set) when
 * the team's stacks do not fit in the address space left (libgomp would
 * exit the process). */
simdiff_status sd_apply_threads(void);
/* The same with a handle's own count n (1..SD_MAX_THREADS; 0 = the
 * process-wide count). OpenMP's thread count is a per-thread setting, so
 * this changes the calling thread only: a handle with its own budget
 * applies it at the start of each of its compute calls. */
#define SD_MAX_THREADS 4096
simdiff_status sd_apply_threads_n(int n);
/* A handle's call with its own budget: sd_threads_enter applies it (as
 * sd_apply_threads_n when adapt is 1; exactly the budget when adapt is 0)
 * and, until the matching sd_threads_leave, makes the nested
 * sd_apply_threads() of public helpers keep it; the leave restores the
 * calling thread's OpenMP thread count from before the enter (the host's
 * own OpenMP setting). Always pair them, also when enter fails. Forward
 * passes give the same bits with any thread count, so the sampler adapts;
 * training's weight gradients (oneDNN's backward-weights reductions) do
 * not, so the trainer never adapts: a run is reproducible bit for bit at a
 * given thread count. */
simdiff_status sd_threads_enter(int n, int adapt);
void sd_threads_leave(void);
/* The thread count a call with budget n (0 = the process-wide count) uses
 * now: n, or fewer when other threads keep cores busy (the runnable count
 * of /proc/loadavg) and adaptation is on (simdiff_set_adaptive_threads). */
int sd_threads_for(int n);
/* Whether libsimdiff's loader hook set OMP_WAIT_POLICY=passive before the
 * OpenMP runtime read its environment (lib/core/ompenv.c): 1 set by it,
 * 0 left alone (the variable or GOMP_SPINCOUNT was already set). */
int sd_ompenv_state(void);

/* Does oneDNN dispatch to an ISA with native bf16 arithmetic
 * (avx512_core_bf16 or later)? */
int sd_bf16_native(void);

/* text into buf (cap bytes, NUL included) and its length into *len (may
 * be NULL); a buffer too small: SIMDIFF_ERR_INVALID_ARG naming fn, buf = ""
 * (cap > 0). For the public getters of texts. */
simdiff_status sd_put_text(const char *text, char *buf, size_t cap, size_t *len,
                           const char *fn);

/* Checked size arithmetic: return 0 and set *out, or 1 on overflow. */
static inline int sd_mul_size(size_t a, size_t b, size_t *out)
{
    return __builtin_mul_overflow(a, b, out);
}
static inline int sd_add_size(size_t a, size_t b, size_t *out)
{
    return __builtin_add_overflow(a, b, out);
}

/* ---- public structs that grow (docs/api.md, "Structs that grow") -------
 * Every public struct with a struct_size goes through these three calls and
 * nothing else reads or writes a caller's struct: the caller's struct_size
 * (or, for the _init_sized functions, the size argument) says how many bytes
 * the caller owns, and the library reads and writes exactly those. */

/* End of field f of struct T: offsetof + sizeof, so trailing padding is not
 * counted. */
#define SD_FIELD_END(T, f) (offsetof(T, f) + sizeof(((T *)0)->f))

/* Sizes above this are refused as an uninitialized struct_size. */
#define SD_STRUCT_SIZE_MAX 4096

typedef struct sd_struct_layout {
    const char *name; /* the C type, for messages ("simdiff_sampler_config") */
    size_t min_size;  /* end of the last field of the first released layout
                         (v1): the smallest struct_size accepted           */
    size_t size;      /* end of the last field this library knows: update it
                         when a field is appended                          */
} sd_struct_layout;

/* Size check shared by sd_struct_read and sd_struct_write: size must be in
 * min_size..SD_STRUCT_SIZE_MAX (SIMDIFF_ERR_INVALID_ARG, message naming fn
 * and the struct). */
simdiff_status sd_struct_check_size(const sd_struct_layout *l, size_t size,
                                    const char *fn);

/* Read a caller's struct src (its size from src->struct_size) into dst, a
 * struct of this library's layout: check the size; refuse with
 * SIMDIFF_ERR_UNSUPPORTED a larger struct whose bytes past l->size are not
 * all zero (fields of a newer libsimdiff, or dirty padding); copy
 * min(struct_size, l->size) bytes and zero the rest of dst up to l->size
 * (zero is the older behaviour of every appended field); dst->struct_size
 * becomes l->size. Nothing is written to dst on failure. */
simdiff_status sd_struct_read(const sd_struct_layout *l, void *dst,
                              const void *src, const char *fn);

/* Write src (this library's layout) into a caller's struct dst of `size`
 * bytes: check the size; copy min(size, l->size) bytes, zero dst's bytes
 * from l->size up to size, set dst->struct_size = size. Never touches a
 * byte at or past dst + size; nothing is written on failure. */
simdiff_status sd_struct_write(const sd_struct_layout *l, void *dst, size_t size,
                               const void *src, const char *fn);

/* The SplitMix64 output function (Steele, Lea, Flood 2014): a bijective
 * 64-bit mixer. The generator itself is z_k = sd_splitmix64(seed + k *
 * SD_SPLITMIX64_GOLDEN), k = 1, 2, ... */
#define SD_SPLITMIX64_GOLDEN 0x9e3779b97f4a7c15ull
static inline uint64_t sd_splitmix64(uint64_t z)
{
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

/* Names of an enum's values: one entry per name; alias entries are
 * accepted by sd_enum_from_name but never returned by sd_enum_name. */
typedef struct sd_enum_name_entry {
    int value;
    const char *name;
    int alias;
} sd_enum_name_entry;

/* The canonical name of value, or NULL when the table has none. */
const char *sd_enum_name(const sd_enum_name_entry *t, size_t n, int value);
/* The value named `name`: case-insensitive, '-', '_' and ' ' ignored, '+'
 * read as 'p' ("DPM-Solver++ 2M" is "dpmpp2m"). Unknown or NULL names are
 * SIMDIFF_ERR_INVALID_ARG ("<fn>: unknown <what> '<name>' (known: ...)"),
 * *value untouched. */
simdiff_status sd_enum_from_name(const sd_enum_name_entry *t, size_t n, const char *what,
                                 const char *fn, const char *name, int *value);

/* Define simdiff_<stem>_name and simdiff_<stem>_from_name over the table
 * of entries given after `what` ({value, "name", 0} or {value, "alias", 1}). */
#define SD_DEFINE_ENUM_NAMES(stem, type, what, ...)                                      \
    static const sd_enum_name_entry stem##_names_[] = {__VA_ARGS__};                     \
    SD_DEFINE_ENUM_NAMES_OVER(stem, type, stem##_names_, what)
#define SD_DEFINE_ENUM_NAMES_OVER(stem, type, table, what)                               \
    SIMDIFF_API const char *simdiff_##stem##_name(type v)                                \
    {                                                                                    \
        return sd_enum_name(table, SD_ARRAY_LEN(table), (int)v);                         \
    }                                                                                    \
    SIMDIFF_API simdiff_status simdiff_##stem##_from_name(const char *name, type *out)   \
    {                                                                                    \
        static const char fn[] = "simdiff_" #stem "_from_name";                          \
        if (!out)                                                                        \
            return sd_fail(NULL, SIMDIFF_ERR_INVALID_ARG, "%s: out is NULL", fn);        \
        int v = 0;                                                                       \
        simdiff_status st = sd_enum_from_name(table, SD_ARRAY_LEN(table), what, fn,      \
                                              name, &v);                                 \
        if (st == SIMDIFF_OK)                                                            \
            *out = (type)v;                                                              \
        return st;                                                                       \
    }

#define SD_UNUSED(x) ((void)(x))
#define SD_ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))

#endif

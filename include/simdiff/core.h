/*
 * libsimdiff — core: version, status codes, errors, runtime.
 *
 * This header is the contract for the basics every other part of the API
 * uses. Everything here is stable ABI: status codes are append-only, their
 * numbers never change, retired codes become SIMDIFF_ERR_OBSOLETEnn.
 *
 * Conventions used by every header of libsimdiff:
 *  - every fallible function returns a simdiff_status; SIMDIFF_OK is 0;
 *  - constructors are simdiff_<noun>_create(simdiff_<noun> **out, ...); on
 *    failure *out is set to NULL;
 *  - simdiff_<noun>_destroy(NULL) is a harmless no-op;
 *  - the detail of the last failure is available per thread from
 *    simdiff_last_error() and per handle from simdiff_<noun>_errmsg();
 *  - no variadic functions and no structs passed by value (ctypes-friendly);
 *  - a public struct that may grow starts with size_t struct_size, the number
 *    of bytes the caller's struct has. The exported simdiff_*_init_sized(s,
 *    size, ...) fills exactly `size` bytes (defaults; bytes this library does
 *    not know zero) and sets struct_size = size; simdiff_*_init(s, ...), a
 *    static inline function in the header, passes sizeof *s. Functions that
 *    read a struct accept any struct_size from its first released layout up
 *    to 4096 (the fields a smaller, older struct lacks take their zero value,
 *    which is the behaviour from before they existed; bytes of a larger,
 *    newer struct past the fields this library knows must be zero, else
 *    SIMDIFF_ERR_UNSUPPORTED); functions that fill a caller's struct write
 *    exactly struct_size bytes. docs/api.md, "Structs that grow";
 *  - the library never prints, exits or aborts because of caller error.
 */
#ifndef SIMDIFF_CORE_H
#define SIMDIFF_CORE_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(SIMDIFF_BUILDING) && defined(__GNUC__)
#define SIMDIFF_API __attribute__((visibility("default")))
#else
#define SIMDIFF_API
#endif

/* ---- versions: the header you compiled with ... ------------------------ */
#define SIMDIFF_VERSION_MAJOR 0
#define SIMDIFF_VERSION_MINOR 1
#define SIMDIFF_VERSION_PATCH 0
#define SIMDIFF_VERSION_STRING "0.1.0"
/* 0xMMmmpp: one byte each for major, minor, patch. */
#define SIMDIFF_VERSION_NUMBER                                                 \
    ((SIMDIFF_VERSION_MAJOR << 16) | (SIMDIFF_VERSION_MINOR << 8) |            \
     SIMDIFF_VERSION_PATCH)
/* True when the header is at least version maj.min.patch. */
#define SIMDIFF_VERSION_AT_LEAST(maj, min, patch)                              \
    (SIMDIFF_VERSION_NUMBER >= (((maj) << 16) | ((min) << 8) | (patch)))

/* ... and the library you run with. */
/* "0.1.0": the version string of the loaded library. Never NULL. */
SIMDIFF_API const char *simdiff_version(void);
/* The loaded library's SIMDIFF_VERSION_NUMBER. */
SIMDIFF_API unsigned simdiff_version_number(void);

/* ---- status codes (append-only) ----------------------------------------- */
typedef enum simdiff_status {
    SIMDIFF_OK = 0,
    SIMDIFF_ERR_INVALID_ARG = 1, /* a NULL pointer, a bad size, a bad value  */
    SIMDIFF_ERR_NOMEM = 2,       /* an allocation failed                     */
    SIMDIFF_ERR_IO = 3,          /* open/read/write/rename failed            */
    SIMDIFF_ERR_FORMAT = 4,      /* a file or buffer is malformed            */
    SIMDIFF_ERR_UNSUPPORTED = 5, /* valid, but not supported by this build   */
    SIMDIFF_ERR_CANCELLED = 6,   /* stopped by cancel() or a callback        */
    SIMDIFF_ERR_BACKEND = 7,     /* oneDNN reported a failure                */
    SIMDIFF_ERR_MISUSE = 8,      /* a call in the wrong state or order       */
    SIMDIFF_ERR_NUMERIC = 9,     /* a NaN or Inf where a finite value is due */
    SIMDIFF_ERR_INTERNAL = 10,   /* a bug in libsimdiff: please report it     */
    SIMDIFF_STATUS_COUNT_ = 11   /* not a status; grows with the list        */
} simdiff_status;

/* A static English description of s ("invalid argument", ...). Never NULL;
 * unknown values give "unknown status". */
SIMDIFF_API const char *simdiff_status_str(simdiff_status s);

/* Detail of the last failure of a libsimdiff call on the calling thread
 * ("" if none yet). Valid until the next failing call on this thread.
 * Successful calls do not clear it. Never NULL. */
SIMDIFF_API const char *simdiff_last_error(void);

/* ---- memory --------------------------------------------------------------- */
/* Free a buffer the library allocated and handed to the caller (the data of
 * simdiff_read_npy_f32). Use this, not free(): the library and the program
 * may use different allocators. NULL is a no-op. */
SIMDIFF_API void simdiff_free(void *p);

/* ---- runtime ------------------------------------------------------------- */
/* Number of threads compute calls use (n >= 1), or 0 for the default (what
 * OpenMP would use: OMP_NUM_THREADS or the number of cores). Sampling and
 * every forward pass give the same bits with any thread count. Training
 * does not: oneDNN sums weight gradients in an order that depends on the
 * thread count, so a training run (and its resume from a checkpoint)
 * reproduces bit for bit at a given thread count, and only to float
 * rounding at another. */
SIMDIFF_API simdiff_status simdiff_set_num_threads(int n);
/* The thread count compute calls will use. */
SIMDIFF_API int simdiff_get_num_threads(void);

/* Thread counts are budgets: with adaptation on (the default) each compute
 * call (and each sampler step) uses at most its budget and no more threads
 * than there are cores not kept busy by other runnable threads (Linux's
 * runnable count, /proc/loadavg), at least one. OpenMP barriers with more
 * threads than free cores stall on descheduled threads; docs/embedding.md
 * has the measurements. on = 0 uses the budget as it is; on must be 0 or 1.
 * Process-wide. Trainers never adapt (their results depend on the thread
 * count, above): a trainer call uses exactly its budget. */
SIMDIFF_API simdiff_status simdiff_set_adaptive_threads(int on);
SIMDIFF_API int simdiff_get_adaptive_threads(void);

/* One line describing the runtime: library version, oneDNN version, the ISA
 * oneDNN dispatches to, the thread count, whether bf16 precision is
 * available ("bf16 native" or "bf16 unavailable"). Thread-local storage,
 * valid until the next call on the same thread; never NULL. */
SIMDIFF_API const char *simdiff_runtime_info(void);

/* ---- precision (append-only) -------------------------------------------- */
/* Arithmetic of the matrix ops (convolutions, linears, attention matmuls).
 * F32: float32 throughout. BF16: those ops take bfloat16 copies of their
 * inputs and weights, accumulate in float32 and write float32 outputs and
 * gradients; everything else (weights and optimizer state, norms, softmax,
 * losses, reductions, schedules, sampler updates) stays float32/float64.
 * BF16 needs a CPU with native bf16 arithmetic (AVX-512 BF16, as oneDNN
 * dispatches it); it is never emulated. Accuracy and speed:
 * docs/performance.md ("bf16 precision"). */
typedef enum simdiff_precision {
    SIMDIFF_PRECISION_F32 = 0,
    SIMDIFF_PRECISION_BF16 = 1
} simdiff_precision;

/* SIMDIFF_OK if this CPU can run precision p; SIMDIFF_ERR_UNSUPPORTED (with
 * a message naming the ISA oneDNN found) for BF16 without native bf16;
 * SIMDIFF_ERR_INVALID_ARG for a value that is not a simdiff_precision. */
SIMDIFF_API simdiff_status simdiff_precision_check(simdiff_precision p);

/* Names: simdiff_precision_name gives "f32" or "bf16" (NULL for a value
 * without a name); simdiff_precision_from_name takes these names and the
 * aliases "float32", "fp32" and "bfloat16", in any case, with '-', '_' and
 * spaces ignored; an unknown or NULL name is SIMDIFF_ERR_INVALID_ARG with a
 * message listing the known names, *out untouched. */
SIMDIFF_API const char *simdiff_precision_name(simdiff_precision p);
SIMDIFF_API simdiff_status simdiff_precision_from_name(const char *name,
                                                       simdiff_precision *out);

#ifdef __cplusplus
}
#endif
#endif /* SIMDIFF_CORE_H */

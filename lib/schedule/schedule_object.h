/*
 * The schedule object, shared by the two files of lib/schedule: the math
 * (schedule.c) and the text form (text.c). Nothing outside lib/schedule
 * includes this header; other areas use schedule_internal.h.
 */
#ifndef SIMDIFF_LIB_SCHEDULE_OBJECT_H
#define SIMDIFF_LIB_SCHEDULE_OBJECT_H

#include <pthread.h>

#include "core/internal.h"
#include "simdiff/schedule.h"

struct simdiff_schedule {
    sd_err err;
    pthread_mutex_t err_lock; /* serializes writers of err */
    simdiff_schedule_kind kind;
    int image_d, nd0, nd1; /* 0 for cosine; nd0 = nd1 = base_d for shifted */
    double lmin, lmax;     /* cosine clipping range, before shifts */
    double a, b, width;    /* t_min, π/2 − t_max, t_max − t_min */
    double s0, s1;         /* log-SNR shift at t = 0 and at t = 1 */
};

/* Record a failure of a call on s (the thread's last error, and s's
 * message). Returns st. */
simdiff_status sd_schedule_fail(const simdiff_schedule *s, simdiff_status st,
                                 const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#endif

/*
 * SDFX: the fixture files written by the tests/reference/ scripts (PyTorch) and read
 * by the C tests. A file is a list of named float32 arrays:
 *   "SDFX1\n" then per array: u32 name_len, name bytes, u32 ndim,
 *   i64 dims[ndim], f32 data[prod(dims)]   (all little-endian)
 * Writer: tests/reference/sdfx.py.
 */
#ifndef SDFX_H
#define SDFX_H

#include <stdint.h>

typedef struct sdfx_array {
    char name[128];
    int ndim;
    int64_t shape[8];
    int64_t numel;
    float *data;
} sdfx_array;

typedef struct sdfx {
    int n;
    sdfx_array *a;
} sdfx;

/* Load tests/fixtures/<rel>; NULL on any error (message on stderr). */
sdfx *sdfx_load(const char *rel);
void sdfx_free(sdfx *f);
/* The array called name, or NULL. */
const sdfx_array *sdfx_get(const sdfx *f, const char *name);

#endif

/*
 * Internal pieces of the public I/O area (include/simdiff/io.h: PNG, NPY,
 * datasets) that tests of internal code reach. The private file formats it
 * builds on live in lib/format/format.h. Not installed, not API.
 */
#ifndef SIMDIFF_LIB_IO_INTERNAL_H
#define SIMDIFF_LIB_IO_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

#include "format/format.h"

/* ======================================================================
 * NPY (.npy v1/v2/v3) headers.
 * ==================================================================== */
#define SD_NPY_MAX_DIMS 32

typedef struct sd_npy_header {
    int major;               /* 1, 2 or 3 */
    char descr[16];          /* e.g. "|u1", "<f4" */
    int fortran_order;       /* 0 or 1 */
    int ndim;                /* 0..SD_NPY_MAX_DIMS */
    int64_t shape[SD_NPY_MAX_DIMS];
    size_t data_offset;      /* bytes before the array data */
} sd_npy_header;

/* Parse the header at the start of buf (n bytes available; at least the
 * whole header must be there). Strict: magic, version 1.0/2.0/3.0, the
 * header length, a Python dict literal with exactly the keys 'descr'
 * (a string), 'fortran_order' (True/False) and 'shape' (a tuple of
 * non-negative ints), then only spaces and a final '\n'. */
simdiff_status sd_npy_parse_header(const uint8_t *buf, size_t n,
                                   sd_npy_header *h);
/* Open path (raw or gzip, lib/format/format.h), read and parse its .npy
 * header, refuse fortran_order True. On success *srcp is positioned at
 * the array data; on failure it is NULL and the message names the file. */
simdiff_status sd_npy_open(const char *path, sd_src **srcp, sd_npy_header *h);
/* Bytes of a complete NPY v1.0 header (v2.0 when needed) for the given
 * descr/shape, padded to a multiple of 64 bytes the way numpy does.
 * Returns the length or 0 if cap is too small. */
size_t sd_npy_make_header(uint8_t *buf, size_t cap, const char *descr,
                          int ndim, const int64_t *shape);

#endif

/*
 * Shared helpers of the libFuzzer targets in fuzz/ (docs/reliability.md,
 * "Fuzzing"). Not part of the library.
 */
#ifndef SIMDIFF_FUZZ_COMMON_H
#define SIMDIFF_FUZZ_COMMON_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerInitialize(int *argc, char ***argv);
size_t LLVMFuzzerMutate(uint8_t *data, size_t size, size_t max_size);
size_t LLVMFuzzerCustomMutator(uint8_t *data, size_t size, size_t max_size,
                               unsigned int seed);

/* The input as a NUL-terminated string (malloc'd; the caller frees it). */
static inline char *fz_cstr(const uint8_t *data, size_t size)
{
    char *s = malloc(size + 1);
    if (!s)
        abort();
    memcpy(s, data, size);
    s[size] = 0;
    return s;
}

/* The input as a file the library can open by path: an anonymous memory
 * file (memfd, a regular file) named /proc/self/fd/N. fz_file_close()
 * releases it. */
typedef struct fz_file {
    int fd;
    char path[64];
} fz_file;

static inline void fz_file_open(fz_file *f, const uint8_t *data, size_t size)
{
    f->fd = memfd_create("simdiff-fuzz", MFD_CLOEXEC);
    if (f->fd < 0)
        abort();
    size_t off = 0;
    while (off < size) {
        ssize_t w = write(f->fd, data + off, size - off);
        if (w <= 0)
            abort();
        off += (size_t)w;
    }
    snprintf(f->path, sizeof f->path, "/proc/self/fd/%d", f->fd);
}

static inline void fz_file_close(fz_file *f)
{
    close(f->fd);
}

/* Fail loudly (libFuzzer records the input) when an invariant breaks. */
#define FZ_CHECK(cond)                                                           \
    do {                                                                         \
        if (!(cond)) {                                                           \
            fprintf(stderr, "%s:%d: invariant failed: %s\n", __FILE__, __LINE__, \
                    #cond);                                                      \
            abort();                                                             \
        }                                                                        \
    } while (0)

#ifdef SIMDIFF_IO_H
/* Read the last example of a dataset that opened (small ones only) and
 * check what the handle reports. */
static inline void fz_read_one(simdiff_dataset *ds)
{
    int64_t n = simdiff_dataset_count(ds);
    int c = simdiff_dataset_channels(ds), h = simdiff_dataset_height(ds),
        w = simdiff_dataset_width(ds);
    FZ_CHECK(n >= 1 && c >= 1 && c <= 4 && h >= 1 && w >= 1);
    if ((int64_t)c * h * w > 65536)
        return;
    float *img = malloc(sizeof(float) * (size_t)(c * h * w));
    int64_t idx = n - 1;
    int label = 0;
    FZ_CHECK(img && simdiff_dataset_get_batch(ds, 1, &idx, 0, NULL, img, &label) == SIMDIFF_OK);
    for (int i = 0; i < c * h * w; i++)
        FZ_CHECK(img[i] >= -1.0f && img[i] <= 1.0f);
    FZ_CHECK(label >= -1 && label <= 255);
    free(img);
}
#endif

#endif

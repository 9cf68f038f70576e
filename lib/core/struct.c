/* Public structs that grow: the one size check and copy every struct_size
 * goes through (core/internal.h, docs/api.md "Structs that grow"). */
#include <string.h>

#include "core/internal.h"

simdiff_status sd_struct_check_size(const sd_struct_layout *l, size_t size,
                                    const char *fn)
{
    if (size < l->min_size)
        return sd_fail(NULL, SIMDIFF_ERR_INVALID_ARG,
                       "%s: %s struct_size is %zu, smaller than any released "
                       "layout (at least %zu): fill the struct with its _init "
                       "function, which sets struct_size",
                       fn, l->name, size, l->min_size);
    if (size > SD_STRUCT_SIZE_MAX)
        return sd_fail(NULL, SIMDIFF_ERR_INVALID_ARG,
                       "%s: %s struct_size is %zu (at most %d): an "
                       "uninitialized struct? fill it with its _init function",
                       fn, l->name, size, SD_STRUCT_SIZE_MAX);
    return SIMDIFF_OK;
}

simdiff_status sd_struct_read(const sd_struct_layout *l, void *dst,
                              const void *src, const char *fn)
{
    size_t size;
    memcpy(&size, src, sizeof size);
    simdiff_status st = sd_struct_check_size(l, size, fn);
    if (st)
        return st;
    const unsigned char *b = src;
    for (size_t i = l->size; i < size; i++)
        if (b[i])
            return sd_fail(NULL, SIMDIFF_ERR_UNSUPPORTED,
                           "%s: %s has struct_size %zu but this libsimdiff (%s) "
                           "knows only its first %zu bytes, and byte %zu is not "
                           "zero: a field of a newer libsimdiff is set (use a "
                           "newer library or leave it zero), or the struct was "
                           "not filled with its _init function",
                           fn, l->name, size, simdiff_version(), l->size, i);
    size_t n = size < l->size ? size : l->size;
    memcpy(dst, src, n);
    memset((unsigned char *)dst + n, 0, l->size - n);
    memcpy(dst, &l->size, sizeof l->size);
    return SIMDIFF_OK;
}

simdiff_status sd_struct_write(const sd_struct_layout *l, void *dst, size_t size,
                               const void *src, const char *fn)
{
    simdiff_status st = sd_struct_check_size(l, size, fn);
    if (st)
        return st;
    size_t n = size < l->size ? size : l->size;
    memcpy(dst, src, n);
    memset((unsigned char *)dst + n, 0, size - n);
    memcpy(dst, &size, sizeof size);
    return SIMDIFF_OK;
}

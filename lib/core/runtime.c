/* Versions, thread count and runtime description. */
#include <stdatomic.h>
#include <stdio.h>

#include <omp.h>
#include <oneapi/dnnl/dnnl.h>

#include "core/internal.h"

static atomic_int g_num_threads; /* 0: OpenMP's default */

SIMDIFF_API const char *simdiff_version(void) { return SIMDIFF_VERSION_STRING; }

SIMDIFF_API unsigned simdiff_version_number(void)
{
    return SIMDIFF_VERSION_NUMBER;
}

SIMDIFF_API simdiff_status simdiff_set_num_threads(int n)
{
    if (n < 0 || n > 4096)
        return sd_fail(NULL, SIMDIFF_ERR_INVALID_ARG,
                       "simdiff_set_num_threads: n = %d, expected 0 (default) "
                       "or 1..4096",
                       n);
    atomic_store(&g_num_threads, n);
    return SIMDIFF_OK;
}

static int default_threads(void)
{
    static atomic_int cached;
    int n = atomic_load(&cached);
    if (n == 0) {
        n = omp_get_max_threads();
        if (n < 1)
            n = 1;
        atomic_store(&cached, n);
    }
    return n;
}

SIMDIFF_API int simdiff_get_num_threads(void)
{
    int n = atomic_load(&g_num_threads);
    return n > 0 ? n : default_threads();
}

void sd_apply_threads(void) { omp_set_num_threads(simdiff_get_num_threads()); }

static const char *isa_name(dnnl_cpu_isa_t isa)
{
    switch (isa) {
    case dnnl_cpu_isa_sse41: return "sse41";
    case dnnl_cpu_isa_avx: return "avx";
    case dnnl_cpu_isa_avx2: return "avx2";
    case dnnl_cpu_isa_avx2_vnni: return "avx2_vnni";
    case dnnl_cpu_isa_avx512_mic: return "avx512_mic";
    case dnnl_cpu_isa_avx512_mic_4ops: return "avx512_mic_4ops";
    case dnnl_cpu_isa_avx512_core: return "avx512_core";
    case dnnl_cpu_isa_avx512_core_vnni: return "avx512_core_vnni";
    case dnnl_cpu_isa_avx512_core_bf16: return "avx512_core_bf16";
    case dnnl_cpu_isa_avx512_core_amx: return "avx512_core_amx";
    case dnnl_cpu_isa_all: return "all";
    default: return "unknown";
    }
}

/* The ISA values are bit sets (avx2_vnni is numerically above
 * avx512_core_bf16 but has no bf16), so test the bits. */
int sd_bf16_native(void)
{
    const unsigned isa = (unsigned)dnnl_get_effective_cpu_isa();
    const unsigned bf16 = (unsigned)dnnl_cpu_isa_avx512_core_bf16;
    return (isa & bf16) == bf16;
}

SIMDIFF_API simdiff_status simdiff_precision_check(simdiff_precision p)
{
    switch (p) {
    case SIMDIFF_PRECISION_F32:
        return SIMDIFF_OK;
    case SIMDIFF_PRECISION_BF16:
        if (sd_bf16_native())
            return SIMDIFF_OK;
        return sd_fail(NULL, SIMDIFF_ERR_UNSUPPORTED,
                       "bf16 precision needs a CPU with native bf16 arithmetic "
                       "(AVX-512 BF16); oneDNN dispatches to %s here: use f32",
                       isa_name(dnnl_get_effective_cpu_isa()));
    }
    return sd_fail(NULL, SIMDIFF_ERR_INVALID_ARG,
                   "precision %d is not a simdiff_precision (0 f32, 1 bf16)", (int)p);
}

SIMDIFF_API const char *simdiff_runtime_info(void)
{
    static _Thread_local char buf[256];
    const dnnl_version_t *v = dnnl_version();
    snprintf(buf, sizeof buf,
             "libsimdiff %s; oneDNN %d.%d.%d (%s); isa %s; threads %d; bf16 %s",
             simdiff_version(), v->major, v->minor, v->patch,
             v->hash ? v->hash : "?", isa_name(dnnl_get_effective_cpu_isa()),
             simdiff_get_num_threads(), sd_bf16_native() ? "native" : "unavailable");
    return buf;
}

SD_DEFINE_ENUM_NAMES(precision, simdiff_precision, "precision",
                     {SIMDIFF_PRECISION_F32, "f32", 0}, {SIMDIFF_PRECISION_F32, "float32", 1},
                     {SIMDIFF_PRECISION_F32, "fp32", 1}, {SIMDIFF_PRECISION_BF16, "bf16", 0},
                     {SIMDIFF_PRECISION_BF16, "bfloat16", 1})

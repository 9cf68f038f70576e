/* Versions, thread count and runtime description. */
#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <string.h>
#include <unistd.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>

#include <omp.h>
#include <oneapi/dnnl/dnnl.h>

#include "core/internal.h"

static atomic_int g_num_threads; /* 0: OpenMP's default */
static atomic_int g_fixed_threads; /* 1: no adaptation to busy cores */

/* The kernel thread ids of the OpenMP workers of this thread's team (see
 * sd_apply_threads_n), so the runnable count can leave them out: a worker
 * that has not gone to sleep yet (or spins, OMP_WAIT_POLICY=active) is not
 * another program's thread. */
#define SD_TRACKED_WORKERS 64
static _Thread_local int tl_nworkers;
static _Thread_local pid_t tl_workers[SD_TRACKED_WORKERS];

SIMDIFF_API const char *simdiff_version(void) { return SIMDIFF_VERSION_STRING; }

SIMDIFF_API void simdiff_free(void *p) { free(p); }

SIMDIFF_API unsigned simdiff_version_number(void)
{
    return SIMDIFF_VERSION_NUMBER;
}

SIMDIFF_API simdiff_status simdiff_set_num_threads(int n)
{
    if (n < 0 || n > SD_MAX_THREADS)
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

/* libgomp exits the process ("Thread creation failed") when it cannot
 * create the threads of a parallel region, e.g. under ulimit -v. A calling
 * thread's team is created once and reused, so sd_apply_threads creates it
 * itself, the first time and whenever the thread count grows, after
 * checking that the new threads' stacks (and some room to spare) can still
 * be mapped; when they cannot, the call fails with SIMDIFF_ERR_NOMEM
 * instead of reaching a parallel region. */
#define TEAM_SPARE ((size_t)8 << 20)
static _Thread_local int tl_team; /* threads of this thread's started team */

/* Stack bytes of one OpenMP worker: GOMP_STACKSIZE or OMP_STACKSIZE
 * (a number with an optional B, K, M or G suffix; K by default), else the
 * default pthread stack size. */
static size_t worker_stack_bytes(void)
{
    const char *e = getenv("GOMP_STACKSIZE");
    if (!e || !*e)
        e = getenv("OMP_STACKSIZE");
    if (e && *e) {
        char *end;
        unsigned long long v = strtoull(e, &end, 10);
        while (*end == ' ')
            end++;
        int shift = *end == 'B' || *end == 'b'   ? 0
                    : *end == 'M' || *end == 'm' ? 20
                    : *end == 'G' || *end == 'g' ? 30
                                                 : 10;
        if (v > 0 && v < (1ull << 40) >> shift)
            return (size_t)(v << shift);
    }
    size_t s = 0;
    pthread_attr_t a;
    if (pthread_getattr_default_np(&a) == 0) {
        pthread_attr_getstacksize(&a, &s);
        pthread_attr_destroy(&a);
    }
    return s ? s : (size_t)8 << 20;
}

SIMDIFF_API simdiff_status simdiff_set_adaptive_threads(int on)
{
    if (on != 0 && on != 1)
        return sd_fail(NULL, SIMDIFF_ERR_INVALID_ARG,
                       "simdiff_set_adaptive_threads: on = %d, expected 0 or 1", on);
    atomic_store(&g_fixed_threads, !on);
    return SIMDIFF_OK;
}

SIMDIFF_API int simdiff_get_adaptive_threads(void) { return !atomic_load(&g_fixed_threads); }

/* The CPUs this process may run on (cached: the affinity mask at first use). */
static int allowed_cpus(void)
{
    static atomic_int cached;
    int n = atomic_load(&cached);
    if (n == 0) {
        cpu_set_t set;
        n = sched_getaffinity(0, sizeof set, &set) == 0 ? CPU_COUNT(&set) : 0;
        if (n < 1) {
            long c = sysconf(_SC_NPROCESSORS_ONLN);
            n = c > 0 && c < 65536 ? (int)c : 1;
        }
        atomic_store(&cached, n);
    }
    return n;
}

/* Runnable threads on the machine now, this one included (the kernel's
 * nr_running: the "R/T" field of /proc/loadavg); 0 if unknown. */
static int runnable_now(void)
{
    int fd = open("/proc/loadavg", O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return 0;
    char buf[128];
    ssize_t len = read(fd, buf, sizeof buf - 1);
    close(fd);
    if (len <= 0)
        return 0;
    buf[len] = 0;
    const char *p = buf;
    for (int field = 0; field < 3 && p; field++) { /* skip the three averages */
        p = strchr(p, ' ');
        if (p)
            p++;
    }
    if (!p)
        return 0;
    char *end;
    long r = strtol(p, &end, 10);
    return *end == '/' && r > 0 && r < 1000000 ? (int)r : 0;
}

/* How many of this thread's team workers are runnable now. */
static int team_runnable(void)
{
    int r = 0;
    for (int i = 0; i < tl_nworkers; i++) {
        char path[64], buf[512];
        snprintf(path, sizeof path, "/proc/self/task/%d/stat", (int)tl_workers[i]);
        int fd = open(path, O_RDONLY | O_CLOEXEC);
        if (fd < 0)
            continue;
        ssize_t len = read(fd, buf, sizeof buf - 1);
        close(fd);
        if (len <= 0)
            continue;
        buf[len] = 0;
        const char *p = strrchr(buf, ')'); /* "tid (comm) S ..." */
        r += p && p[1] == ' ' && p[2] == 'R';
    }
    return r;
}

int sd_threads_for(int budget)
{
    int n = budget > 0 ? budget : simdiff_get_num_threads();
    if (n > 1 && !atomic_load(&g_fixed_threads)) {
        int r = runnable_now();
        if (r > 0) {
            /* Cores not busy with other threads: r counts this thread,
             * the others, and any of our workers not yet asleep. */
            int free_cores = allowed_cpus() - (r - 1 - team_runnable());
            if (free_cores < n)
                n = free_cores > 1 ? free_cores : 1;
        }
    }
    return n;
}

static _Thread_local int tl_depth, tl_saved; /* sd_threads_enter nesting */

simdiff_status sd_apply_threads(void)
{
    /* Inside a handle's call (a sampler run calls public helpers such as
     * simdiff_v_to_x_eps) the handle's count stays. */
    return tl_depth > 0 ? SIMDIFF_OK : sd_apply_threads_n(0);
}

static simdiff_status start_team(int n);

simdiff_status sd_threads_enter(int budget, int adapt)
{
    if (tl_depth++ == 0)
        tl_saved = omp_get_max_threads();
    if (adapt)
        return sd_apply_threads_n(budget);
    return start_team(budget > 0 ? budget : simdiff_get_num_threads());
}

void sd_threads_leave(void)
{
    if (tl_depth > 0 && --tl_depth == 0)
        omp_set_num_threads(tl_saved);
}

simdiff_status sd_apply_threads_n(int budget) { return start_team(sd_threads_for(budget)); }

/* Use n threads from now on in the calling thread, starting the team when
 * it grows (see TEAM_SPARE). */
static simdiff_status start_team(int n)
{
    omp_set_num_threads(n);
    if (n <= tl_team || n == 1)
        return SIMDIFF_OK;
    size_t need = (size_t)(n - 1) * (worker_stack_bytes() + ((size_t)64 << 10)) + TEAM_SPARE;
    void *p = mmap(NULL, need, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE,
                   -1, 0);
    if (p == MAP_FAILED)
        return sd_fail(NULL, SIMDIFF_ERR_NOMEM,
                       "out of memory: no room for the stacks of %d compute threads "
                       "(%zu MiB); use fewer threads (simdiff_set_num_threads) or allow "
                       "more memory",
                       n, need >> 20);
    munmap(p, need);
    int started = 0;
    pid_t tids[SD_TRACKED_WORKERS];
#pragma omp parallel num_threads(n) reduction(+ : started)
    {
        int id = omp_get_thread_num();
        if (id > 0 && id <= SD_TRACKED_WORKERS)
            tids[id - 1] = gettid();
        started += 1;
    }
    if (started > tl_team) {
        tl_team = started;
        tl_nworkers = started - 1 < SD_TRACKED_WORKERS ? started - 1 : SD_TRACKED_WORKERS;
        memcpy(tl_workers, tids, (size_t)tl_nworkers * sizeof tids[0]);
    }
    return SIMDIFF_OK;
}

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
             "libsimdiff %s; oneDNN %d.%d.%d (%s); isa %s; threads %d; bf16 %s; "
             "omp wait %s",
             simdiff_version(), v->major, v->minor, v->patch,
             v->hash ? v->hash : "?", isa_name(dnnl_get_effective_cpu_isa()),
             simdiff_get_num_threads(), sd_bf16_native() ? "native" : "unavailable",
             sd_ompenv_state() ? "passive (set by libsimdiff)" : "as the environment sets");
    return buf;
}

SD_DEFINE_ENUM_NAMES(precision, simdiff_precision, "precision",
                     {SIMDIFF_PRECISION_F32, "f32", 0}, {SIMDIFF_PRECISION_F32, "float32", 1},
                     {SIMDIFF_PRECISION_F32, "fp32", 1}, {SIMDIFF_PRECISION_BF16, "bf16", 0},
                     {SIMDIFF_PRECISION_BF16, "bfloat16", 1})

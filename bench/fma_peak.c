/*
 * fma_peak - the machine's arithmetic peak for the vectors cnn's kernels use: a short loop of
 * independent multiply-adds on every thread at once, each pinned to its own processor, so
 * that bench/run.sh can give each workload's fraction of what the cores can do. (OpenBLAS's
 * SGEMM, the other peak bench/run.sh records, is a practical figure, and on hosts where
 * OPENBLAS_CORETYPE holds it to its Haswell kernels it is half of an AVX-512 machine.)
 *
 *   build/bench/fma_peak [--isa avx512|avx2|baseline] [--runs R (3)] [--seconds S (0.2)]
 *                        THREADS...
 *
 * --isa: the vectors of cnn's kernels (`cnn version` prints them; default: the widest the CPU
 * has): 512-bit or 256-bit fused multiply-adds (2 FLOPs a lane), or, for the baseline,
 * 128-bit multiplies and adds (no FMA, 1 FLOP a lane each; the only loop on other CPUs).
 * Each thread runs 12 independent chains (enough to cover the latency of the two FMA pipes of
 * current x86 cores), calibrated to last about S seconds; a repetition starts all threads
 * together and counts each thread's FLOPs over its own time. Per thread count: R
 * repetitions, the median of their sums. Threads are pinned to the first THREADS processors
 * this process may run on. Prints
 *   INFO fma isa=avx512, 2 threads, each thread's GFLOP/s in the median repetition: 211.0 209.8
 *   RESULT workload=fma framework=host threads=2 layout=avx512 value=V unit=GFLOP/s reps=...
 */
#define _GNU_SOURCE
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "timing.h"

#if defined(__x86_64__) && defined(__GNUC__)
#define X86 1
#include <immintrin.h>
#else
#define X86 0 /* the baseline loop only, in GCC's generic vectors */
#endif

#define MAX_THREADS 64
#define MAX_RUNS 1000
#define CHAINS 12

enum isa { ISA_BASELINE, ISA_AVX2, ISA_AVX512 };
static const char *const isa_names[] = {"baseline", "avx2", "avx512"};
/* FLOPs of one step of the loop: CHAINS operations on vectors of this many floats. */
static const double step_flops[] = {CHAINS * 4 * 2, CHAINS * 8 * 2, CHAINS * 16 * 2};

/* The twelve chains as twelve variables (an array was kept in memory by GCC at -O2, one
 * store-to-load round trip per operation), each from its own start (chains that start alike
 * are merged into one by the compiler). x = x * a + b stays finite: a < 1. Returns a sum of
 * the lanes so that the loop is not removed. */
#define CHAIN_VARS(T, set1) T c0 = set1(1.00f), c1 = set1(1.01f), c2 = set1(1.02f), \
    c3 = set1(1.03f), c4 = set1(1.04f), c5 = set1(1.05f), c6 = set1(1.06f), c7 = set1(1.07f), \
    c8 = set1(1.08f), c9 = set1(1.09f), c10 = set1(1.10f), c11 = set1(1.11f)
#define CHAIN_STEP(op) c0 = op(c0); c1 = op(c1); c2 = op(c2); c3 = op(c3); c4 = op(c4); \
    c5 = op(c5); c6 = op(c6); c7 = op(c7); c8 = op(c8); c9 = op(c9); c10 = op(c10); c11 = op(c11)
#define CHAIN_SUM(add) add(add(add(add(c0, c1), add(c2, c3)), add(add(c4, c5), add(c6, c7))), \
    add(add(c8, c9), add(c10, c11)))

#if X86
__attribute__((target("avx512f"))) static float loop_avx512(long steps) {
    const __m512 a = _mm512_set1_ps(0.999f), b = _mm512_set1_ps(0.001f);
    CHAIN_VARS(__m512, _mm512_set1_ps);
#define OP(x) _mm512_fmadd_ps(x, a, b)
    for (long s = 0; s < steps; s++) { CHAIN_STEP(OP); }
#undef OP
    return _mm512_reduce_add_ps(CHAIN_SUM(_mm512_add_ps));
}

__attribute__((target("avx2,fma"))) static float loop_avx2(long steps) {
    const __m256 a = _mm256_set1_ps(0.999f), b = _mm256_set1_ps(0.001f);
    CHAIN_VARS(__m256, _mm256_set1_ps);
#define OP(x) _mm256_fmadd_ps(x, a, b)
    for (long s = 0; s < steps; s++) { CHAIN_STEP(OP); }
#undef OP
    float v[8];
    _mm256_storeu_ps(v, CHAIN_SUM(_mm256_add_ps));
    return v[0] + v[1] + v[2] + v[3] + v[4] + v[5] + v[6] + v[7];
}

#endif

/* Baseline: a multiply and an add per chain and step, counted as the FMA's two FLOPs, on
 * 4-float vectors (SSE2 on x86-64). */
typedef float v4sf __attribute__((vector_size(16)));
static v4sf v4_set1(float x) { return (v4sf){x, x, x, x}; }

static float loop_baseline(long steps) {
    const v4sf a = v4_set1(0.999f), b = v4_set1(0.001f);
    CHAIN_VARS(v4sf, v4_set1);
#define OP(x) ((x) * a + b)
#define ADD(x, y) ((x) + (y))
    for (long s = 0; s < steps; s++) { CHAIN_STEP(OP); }
    v4sf v = CHAIN_SUM(ADD);
#undef OP
#undef ADD
    return v[0] + v[1] + v[2] + v[3];
}

static enum isa isa;
static volatile float sink;

static float loop(long steps) {
#if X86
    if (isa == ISA_AVX512) return loop_avx512(steps);
    if (isa == ISA_AVX2) return loop_avx2(steps);
#endif
    return loop_baseline(steps);
}

/* Whether this CPU has the level's vectors. */
static int has(enum isa level) {
#if X86
    if (level == ISA_AVX512) return __builtin_cpu_supports("avx512f");
    if (level == ISA_AVX2) return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
#endif
    return level == ISA_BASELINE;
}

typedef struct worker {
    pthread_t thread;
    int cpu;
    long steps;
    double gflops;
    pthread_barrier_t *start;
} worker;

static void *run_worker(void *arg) {
    worker *w = arg;
    cpu_set_t set;
    CPU_ZERO(&set);
    CPU_SET(w->cpu, &set);
    if (sched_setaffinity(0, sizeof set, &set) != 0) {
        fprintf(stderr, "fma_peak: cannot pin a thread to processor %d\n", w->cpu);
        exit(1);
    }
    sink = loop(w->steps / 20 + 1); /* warm up (and let the clock rise) */
    pthread_barrier_wait(w->start);
    double t = now();
    sink = loop(w->steps);
    t = now() - t;
    w->gflops = (double)w->steps * step_flops[isa] / t * 1e-9;
    return NULL;
}

/* One repetition on threads processors cpus[0 ..): each thread's GFLOP/s into w[]. */
static double repetition(int threads, const int *cpus, long steps, worker *w) {
    pthread_barrier_t start;
    pthread_barrier_init(&start, NULL, (unsigned)threads);
    for (int t = 0; t < threads; t++) {
        w[t] = (worker){.cpu = cpus[t], .steps = steps, .start = &start};
        if (pthread_create(&w[t].thread, NULL, run_worker, &w[t]) != 0) {
            fprintf(stderr, "fma_peak: cannot start a thread\n");
            exit(1);
        }
    }
    double sum = 0.0;
    for (int t = 0; t < threads; t++) {
        pthread_join(w[t].thread, NULL);
        sum += w[t].gflops;
    }
    pthread_barrier_destroy(&start);
    return sum;
}

static int usage(void) {
    fprintf(stderr, "usage: fma_peak [--isa avx512|avx2|baseline] [--runs R] [--seconds S] "
                    "THREADS...\n");
    return 2;
}

int main(int argc, char **argv) {
    int runs = 3, i;
    double seconds = 0.2;
#if X86
    __builtin_cpu_init();
#endif
    isa = has(ISA_AVX512) ? ISA_AVX512 : has(ISA_AVX2) ? ISA_AVX2 : ISA_BASELINE;
    for (i = 1; i < argc && argv[i][0] == '-'; i += 2) {
        if (i + 1 >= argc) return usage();
        char *end;
        const char *a = argv[i], *v = argv[i + 1];
        if (!strcmp(a, "--isa")) {
            int k = 0;
            while (k < 3 && strcmp(v, isa_names[k])) k++;
            if (k == 3) return usage();
            if (!has((enum isa)k)) {
                fprintf(stderr, "fma_peak: this CPU has no %s\n", v);
                return 2;
            }
            isa = (enum isa)k;
            continue;
        } else if (!strcmp(a, "--runs")) {
            runs = (int)strtol(v, &end, 10);
        } else if (!strcmp(a, "--seconds")) {
            seconds = strtod(v, &end);
        } else {
            return usage();
        }
        if (*end || end == v) return usage();
    }
    if (i == argc || runs < 1 || runs > MAX_RUNS || !(seconds > 0.0 && seconds <= 60.0))
        return usage();

    cpu_set_t allowed;
    int cpus[MAX_THREADS], ncpus = 0;
    if (sched_getaffinity(0, sizeof allowed, &allowed) != 0) {
        fprintf(stderr, "fma_peak: cannot read the processors this process may run on\n");
        return 1;
    }
    for (int c = 0; c < CPU_SETSIZE && ncpus < MAX_THREADS; c++)
        if (CPU_ISSET(c, &allowed)) cpus[ncpus++] = c;

    /* Steps for about `seconds` on one thread, from a timed trial of 10 ms or more. */
    long steps = 1 << 16;
    for (;;) {
        double t = now();
        sink = loop(steps);
        t = now() - t;
        if (t >= 0.01) {
            steps = (long)((double)steps * seconds / t) + 1;
            break;
        }
        steps *= 4;
    }

    static double reps[MAX_RUNS], sorted[MAX_RUNS], each[MAX_RUNS][MAX_THREADS];
    worker w[MAX_THREADS];
    for (; i < argc; i++) {
        char *end;
        long threads = strtol(argv[i], &end, 10);
        if (*end || end == argv[i] || threads < 1 || threads > MAX_THREADS) return usage();
        if (threads > ncpus) {
            fprintf(stderr, "fma_peak: %ld threads, but this process may run on %d processors\n",
                    threads, ncpus);
            return 2;
        }
        for (int r = 0; r < runs; r++) {
            reps[r] = repetition((int)threads, cpus, steps, w);
            for (int t = 0; t < threads; t++) each[r][t] = w[t].gflops;
        }
        memcpy(sorted, reps, (size_t)runs * sizeof *reps);
        double med = median(sorted, runs);
        /* The per-thread figures of the repetition at the (lower) median. */
        int at = 0;
        while (at < runs - 1 && reps[at] != sorted[(runs - 1) / 2]) at++;
        printf("INFO fma isa=%s, %ld thread%s, each thread's GFLOP/s in the median repetition:",
               isa_names[isa], threads, threads == 1 ? "" : "s");
        for (int t = 0; t < threads; t++) printf(" %.1f", each[at][t]);
        printf("\nRESULT workload=fma framework=host threads=%ld layout=%s value=%.4g "
               "unit=GFLOP/s reps=",
               threads, isa_names[isa], med);
        for (int r = 0; r < runs; r++) printf("%s%.4g", r ? "," : "", reps[r]);
        printf("\n");
        fflush(stdout);
    }
    return 0;
}

/*
 * sgemm_peak - the machine's practical single-precision peak for benchmark workload 4
 * (bench/run.sh drives it): a large square cblas_sgemm through OpenBLAS (the pthread build cnn
 * links), C = A * B with M = N = K = --size, at each thread count given.
 *
 *   build/bench/sgemm_peak [--size N (2048)] [--runs R (3)] [--seconds S (0.5)] THREADS...
 *
 * Per thread count (openblas_set_num_threads): warm-up for at least 2 calls and S/2 seconds,
 * which sets how many calls fill S seconds; R repetitions of that many calls; the median of
 * 2*N^3 FLOPs per call over the time (clock_gettime(CLOCK_MONOTONIC)). Prints
 *   INFO openblas OpenBLAS 0.3.21 ... (core Zen)
 *   RESULT workload=sgemm framework=openblas threads=1 layout=rowmajor value=V unit=GFLOP/s reps=...
 */
#define _POSIX_C_SOURCE 200809L
#include <cblas.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "timing.h"

#define MAX_RUNS 1000


static int usage(void) {
    fprintf(stderr, "usage: sgemm_peak [--size N] [--runs R] [--seconds S] THREADS...\n");
    return 2;
}

int main(int argc, char **argv) {
    int size = 2048, runs = 3, i;
    double seconds = 0.5;
    for (i = 1; i < argc && argv[i][0] == '-'; i += 2) {
        if (i + 1 >= argc) return usage();
        char *end;
        if (!strcmp(argv[i], "--size")) size = (int)strtol(argv[i + 1], &end, 10);
        else if (!strcmp(argv[i], "--runs")) runs = (int)strtol(argv[i + 1], &end, 10);
        else if (!strcmp(argv[i], "--seconds")) seconds = strtod(argv[i + 1], &end);
        else return usage();
        if (*end || argv[i + 1][0] == '\0') return usage();
    }
    if (i >= argc || size < 1 || size > 65536 || runs < 1 || runs > MAX_RUNS ||
        !(seconds > 0 && seconds < 3600))
        return usage();

    size_t n = (size_t)size * (size_t)size;
    float *a = malloc(n * sizeof *a), *b = malloc(n * sizeof *b), *c = malloc(n * sizeof *c);
    if (!a || !b || !c) {
        fprintf(stderr, "sgemm_peak: out of memory for three %dx%d matrices\n", size, size);
        return 1;
    }
    unsigned seed = 1;
    for (size_t k = 0; k < n; k++) {
        seed = seed * 1103515245u + 12345u;
        a[k] = (float)((seed >> 8) & 0xFFFF) / 32768.0f - 1.0f;
        seed = seed * 1103515245u + 12345u;
        b[k] = (float)((seed >> 8) & 0xFFFF) / 32768.0f - 1.0f;
    }
    printf("INFO openblas %s (core %s)\n", openblas_get_config(), openblas_get_corename());
    double flops = 2.0 * size * (double)size * size;
    for (; i < argc; i++) {
        char *end;
        long t = strtol(argv[i], &end, 10);
        if (*end || t < 1 || t > 256) return usage();
        openblas_set_num_threads((int)t);
        int calls = 0;
        double t0 = now(), el;
        do {
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, size, size, size, 1.0f, a, size,
                        b, size, 0.0f, c, size);
            calls++;
            el = now() - t0;
        } while (calls < 2 || el < seconds / 2);
        int per = (int)ceil(seconds / (el / calls));
        if (per < 1) per = 1;
        double reps[MAX_RUNS], v[MAX_RUNS];
        for (int r = 0; r < runs; r++) {
            t0 = now();
            for (int k = 0; k < per; k++)
                cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, size, size, size, 1.0f, a,
                            size, b, size, 0.0f, c, size);
            reps[r] = flops * per / (now() - t0) / 1e9;
        }
        if (!isfinite(c[0]) || !isfinite(c[n - 1])) {
            fprintf(stderr, "sgemm_peak: result not finite\n");
            return 1;
        }
        memcpy(v, reps, sizeof(double) * (size_t)runs);
        printf("RESULT workload=sgemm framework=openblas threads=%ld layout=rowmajor value=%.4g "
               "unit=GFLOP/s reps=", t, median(v, runs));
        for (int r = 0; r < runs; r++) printf("%s%.4g", r ? "," : "", reps[r]);
        printf("\n");
        fflush(stdout);
    }
    free(a);
    free(b);
    free(c);
    return 0;
}

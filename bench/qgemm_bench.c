/*
 * qgemm_bench - the int8 matrix product (src/kernels/qgemm.h) on one thread, at each
 * instruction set level this host has, against OpenBLAS's float SGEMM (single thread) on the
 * same shapes: ResNet-18's convolutions as im2col products, C[M x N] = A[M x K] B[K x N].
 *
 *   build/bench/qgemm_bench [--runs R (7)] [--seconds S (0.1)] [--baseline]
 *
 * Each repetition runs every variant in turn (interleaved, so that a change of clock speed
 * hits them alike) for as many calls as fill S seconds at the warm-up's pace; the best
 * repetition counts. Rates are GOP/s of 2*M*N*K operations per call (a multiply and an add).
 * The int8 product is timed from packed operands (packing A is done once per network, B is
 * written packed by im2col), with ReLU; SGEMM on row-major A, B, C. The baseline path (plain
 * C, slow) only with --baseline. Prints one table row per shape.
 *
 * make all builds it (linked with libcnn.a, whose internal functions it calls through the
 * library's internal header).
 */
#include "../src/kernels/qgemm.h"

#include <cblas.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "timing.h"

void openblas_set_num_threads(int n);

typedef struct shape {
    const char *name;
    int M, N, K;
} shape;

static const shape shapes[] = {
    {"layer1 3x3 (64x56x56)", 64, 3136, 576},
    {"layer2 3x3 (128x28x28)", 128, 784, 1152},
    {"layer3 3x3 (256x14x14)", 256, 196, 2304},
    {"layer4 3x3 (512x7x7)", 512, 49, 4608},
};
#define N_SHAPES (sizeof shapes / sizeof shapes[0])

/* Variants: SGEMM, then the int8 product at VNNI, AVX2, baseline. */
enum { V_SGEMM, V_AVX512, V_VNNI, V_AVX2, V_BASE, N_VARIANTS };
static const char *const variant_names[] = {"sgemm", "avx512", "vnni", "avx2", "baseline"};
static const int variant_isa[] = {-1, CNN_ISA_AVX512, CNN_ISA_VNNI, CNN_ISA_AVX2,
                                  CNN_ISA_BASELINE};

typedef struct operands {
    const shape *s;
    float *Af, *Bf, *Cf;
    int8_t *Ap;
    uint8_t *Bp;
    int32_t *corr;
    float *scale, *bias, *C;
} operands;

static uint64_t rng_state = 0x9E3779B97F4A7C15ull;
static uint32_t rnd(void) {
    rng_state ^= rng_state >> 12;
    rng_state ^= rng_state << 25;
    rng_state ^= rng_state >> 27;
    return (uint32_t)((rng_state * 2685821657736338717ull) >> 32);
}

static void *xmalloc(size_t n) {
    void *p = malloc(n ? n : 1);
    if (!p) {
        fprintf(stderr, "qgemm_bench: out of memory\n");
        exit(1);
    }
    return p;
}

static operands make_operands(const shape *s) {
    operands o = {.s = s};
    size_t mk = (size_t)s->M * s->K, kn = (size_t)s->K * s->N, mn = (size_t)s->M * s->N;
    o.Af = xmalloc(mk * sizeof *o.Af), o.Bf = xmalloc(kn * sizeof *o.Bf);
    o.Cf = xmalloc(mn * sizeof *o.Cf), o.C = xmalloc(mn * sizeof *o.C);
    int8_t *A = xmalloc(mk);
    for (size_t i = 0; i < mk; i++) o.Af[i] = (float)(A[i] = (int8_t)(rnd() % 255 - 127));
    o.Ap = xmalloc(cnn_qgemm_a_bytes(s->M, s->K));
    int32_t *rowsum = xmalloc((size_t)s->M * sizeof *rowsum);
    cnn_qgemm_pack_a(s->M, s->K, A, s->K, o.Ap, rowsum);
    size_t bb = cnn_qgemm_b_bytes(s->K, s->N);
    o.Bp = xmalloc(bb);
    memset(o.Bp, 128, bb); /* the zero point in the padding */
    for (int k = 0; k < s->K; k++)
        for (int j = 0; j < s->N; j++) {
            uint8_t b = (uint8_t)rnd();
            o.Bp[cnn_qgemm_b_index(s->K, k, j)] = b;
            o.Bf[(size_t)k * s->N + j] = (float)b - 128.0f;
        }
    o.corr = xmalloc((size_t)s->M * sizeof *o.corr);
    o.scale = xmalloc((size_t)s->M * sizeof *o.scale);
    o.bias = xmalloc((size_t)s->M * sizeof *o.bias);
    for (int i = 0; i < s->M; i++) {
        o.corr[i] = 128 * rowsum[i];
        o.scale[i] = 1e-4f;
        o.bias[i] = 0.01f * (float)(i % 7);
    }
    free(A), free(rowsum);
    return o;
}

static void free_operands(operands *o) {
    free(o->Af), free(o->Bf), free(o->Cf), free(o->C), free(o->Ap), free(o->Bp);
    free(o->corr), free(o->scale), free(o->bias);
}

/* Runs a variant `calls` times; returns the seconds taken. */
static double run_variant(const operands *o, int v, int calls) {
    const shape *s = o->s;
    if (v != V_SGEMM) cnn_isa_set(variant_isa[v]);
    cnn_qgemm_out out = {o->corr, o->scale, o->bias, 1, o->C, s->N, 0, 0};
    cnn_qgemm_b B = {o->Bp, NULL};
    double t0 = now();
    for (int c = 0; c < calls; c++) {
        if (v == V_SGEMM)
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, s->M, s->N, s->K, 1.0f, o->Af,
                        s->K, o->Bf, s->N, 0.0f, o->Cf, s->N);
        else
            cnn_qgemm(s->M, s->N, s->K, o->Ap, &B, 0, s->M, 0, s->N, &out);
    }
    return now() - t0;
}

static int usage(void) {
    fprintf(stderr, "usage: qgemm_bench [--runs R] [--seconds S] [--baseline]\n");
    return 2;
}

int main(int argc, char **argv) {
    int runs = 7, baseline = 0;
    double seconds = 0.1;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--baseline")) baseline = 1;
        else if (!strcmp(argv[i], "--runs") && i + 1 < argc) runs = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--seconds") && i + 1 < argc) seconds = atof(argv[++i]);
        else return usage();
    }
    if (runs < 1 || seconds <= 0) return usage();
    openblas_set_num_threads(1);
    int detected = cnn_isa_detected(), on[N_VARIANTS] = {1};
    for (int v = V_AVX512; v < V_BASE; v++) on[v] = detected >= variant_isa[v];
    on[V_BASE] = baseline;
    printf("one thread; best of %d repetitions of %.2f s; GOP/s (2*M*N*K per call); "
           "int8 rows: rate and ratio to sgemm\n", runs, seconds);
    printf("%-24s %5s %5s %5s %8s", "shape", "M", "N", "K", "sgemm");
    for (int v = V_AVX512; v < N_VARIANTS; v++)
        if (on[v]) printf(" %16s", variant_names[v]);
    printf("\n");
    for (size_t si = 0; si < N_SHAPES; si++) {
        const shape *s = &shapes[si];
        operands o = make_operands(s);
        double ops = 2.0 * s->M * s->N * s->K, best[N_VARIANTS] = {0};
        int calls[N_VARIANTS];
        for (int v = 0; v < N_VARIANTS; v++) {
            if (!on[v]) continue;
            double t = run_variant(&o, v, 1) + 1e-9; /* warm-up, and the pace */
            calls[v] = seconds / t < 1 ? 1 : (int)(seconds / t);
        }
        for (int r = 0; r < runs; r++)
            for (int v = 0; v < N_VARIANTS; v++) {
                if (!on[v]) continue;
                double rate = ops * calls[v] / run_variant(&o, v, calls[v]) / 1e9;
                if (rate > best[v]) best[v] = rate;
            }
        printf("%-24s %5d %5d %5d %8.1f", s->name, s->M, s->N, s->K, best[V_SGEMM]);
        for (int v = V_AVX512; v < N_VARIANTS; v++)
            if (on[v]) printf("   %6.1f (%4.2fx)", best[v], best[v] / best[V_SGEMM]);
        printf("\n");
        free_operands(&o);
    }
    cnn_isa_set(detected);
    return 0;
}

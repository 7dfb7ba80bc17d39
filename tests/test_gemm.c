/*
 * test_gemm.c - the float matrix product (src/kernels/gemm.h): each fast path this host has
 * (sgemm512.c at CNN_ISA_AVX512, OpenBLAS below it), forced in turn with cnn_isa_set, against
 * the reference loop:
 *   1. within a rounding bound (K * 2^-22 * sum |a b| per element, which a product that drops
 *      or repeats a term of the sum cannot meet), on shapes around the kernels' blocks (8 rows,
 *      16 / 32 / 48 columns, 256 of K, 384 columns of B), all four transpositions, leading
 *      dimensions wider than the matrices, alpha and beta of 0, 1 and others; beta = 0 with NaN
 *      in C first (C may hold garbage then, as in BLAS);
 *   2. elements of C outside the product (the columns past N of each row) keep their value;
 *   3. sgemm512: bit for bit the same when the rows are cut into blocks (cnn_gemm_blocks, as
 *      the convolutions share them between threads), unless the cut leaves a block of 1 to 3
 *      rows of a product by a transposed B, which takes the dot-product path where more rows
 *      take the tiles; OpenBLAS, whose bits depend on the cut: the same from one call to the
 *      next;
 *   4. cnn_gemm_rows (the dense layers' product: fixed blocks of rows, or of columns when the
 *      rows are one block) within the bound of 1, the same bits at 1 and 2 threads, and on
 *      sgemm512 those of the whole product (but for a tail block of 1 to 3 rows, as in 3);
 *   5. a thread that sgemm512 cannot give its packing buffer (aligned_alloc fails: this file
 *      replaces it) gets OpenBLAS's product, bit for bit, not an abort.
 *   test_gemm [--isa baseline|avx2|vnni|avx512]   only the paths up to that level.
 */
#include "testlib.h"
#include "../src/kernels/gemm.h"

#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static float *filled(size_t n, uint64_t seed) {
    float *x = malloc((n ? n : 1) * sizeof *x);
    if (!x) abort();
    t_fill(x, n, seed, -1.0f, 1.0f);
    return x;
}

typedef struct {
    int ta, tb, M, N, K, lda, ldb, ldc;
    float alpha, beta;
} shape;

static const char *path_name(int isa) { return isa >= CNN_ISA_AVX512 ? "sgemm512" : "OpenBLAS"; }

/* Checks 1 and 2 for got, the product of s on A, B and C0; want: the reference's. Returns
 * whether a check failed. */
static int off_bound(const shape *s, const float *A, const float *B, const float *C0,
                     const float *want, const float *got, const char *what) {
    int bad = 0;
    for (int i = 0; i < s->M && !bad; i++)
        for (int j = 0; j < s->ldc && !bad; j++) {
            size_t at = (size_t)i * s->ldc + j;
            if (j >= s->N) {
                bad = !T_CHECK(memcmp(&got[at], &C0[at], sizeof *got) == 0,
                               "%s: C[%d][%d] past N changed", what, i, j);
                continue;
            }
            double mag = fabs(s->beta * C0[at]);
            for (int k = 0; k < s->K; k++) {
                float a = s->ta ? A[(size_t)k * s->lda + i] : A[(size_t)i * s->lda + k];
                float b = s->tb ? B[(size_t)j * s->ldb + k] : B[(size_t)k * s->ldb + j];
                mag += fabs((double)s->alpha * a * b);
            }
            double bound = (s->K + 2) * ldexp(1.0, -22) * mag + 1e-30;
            bad = !T_CHECK(fabs((double)got[at] - want[at]) <= bound,
                           "%s: C[%d][%d] = %.9g, reference %.9g (bound %.3g)", what, i, j,
                           got[at], want[at], bound);
        }
    return bad;
}

/* Two threads for cnn_gemm_rows. */
static cnn_workers *pool;

/* Checks 1 to 4 for one shape on the path in force. */
static void check(const shape *s, uint64_t seed) {
    int arows = s->ta ? s->K : s->M, brows = s->tb ? s->N : s->K;
    float *A = filled((size_t)arows * s->lda, seed), *B = filled((size_t)brows * s->ldb, seed + 1);
    size_t cn = (size_t)s->M * s->ldc;
    float *C0 = filled(cn, seed + 2), *want = malloc(cn * sizeof *want),
          *got = malloc(cn * sizeof *got), *cut = malloc(cn * sizeof *cut);
    if (!want || !got || !cut) abort();
    memcpy(want, C0, cn * sizeof *want);
    memcpy(got, C0, cn * sizeof *got);
    if (s->beta == 0.0f) /* garbage the product must not read */
        for (int i = 0; i < s->M; i++)
            for (int j = 0; j < s->N; j++) got[(size_t)i * s->ldc + j] = NAN;
    memcpy(cut, got, cn * sizeof *cut);
    cnn_gemm(1, s->ta, s->tb, s->M, s->N, s->K, s->alpha, A, s->lda, B, s->ldb, s->beta, want,
             s->ldc);
    cnn_gemm(0, s->ta, s->tb, s->M, s->N, s->K, s->alpha, A, s->lda, B, s->ldb, s->beta, got,
             s->ldc);
    char what[160];
    snprintf(what, sizeof what, "%s ta=%d tb=%d M=%d N=%d K=%d ld=%d,%d,%d alpha=%g beta=%g",
             path_name(cnn_isa()), s->ta, s->tb, s->M, s->N, s->K, s->lda, s->ldb, s->ldc,
             s->alpha, s->beta);
    int bad = off_bound(s, A, B, C0, want, got, what);
    /* sgemm512's rows in blocks of 8 (the kernel's own), 5 and 13 (across its panels): the same
     * bits. (OpenBLAS gives other bits for other cuts; the library's cuts are fixed. Its check
     * is a second call with the same cut.) */
    static const int blocks[] = {8, 5, 13};
    int cuts = cnn_isa() >= CNN_ISA_AVX512 ? 3 : 1;
    for (int b = 0; b < cuts && !bad; b++) {
        int tail = s->M % blocks[b];
        if (cuts > 1 && !s->ta && s->tb && s->M > 3 && tail >= 1 && tail <= 3)
            continue; /* the tail block takes sgemm512's dot products, the whole the tiles */
        float *c = malloc(cn * sizeof *c);
        if (!c) abort();
        memcpy(c, cut, cn * sizeof *c);
        char w2[200];
        if (cuts == 1) {
            cnn_gemm(0, s->ta, s->tb, s->M, s->N, s->K, s->alpha, A, s->lda, B, s->ldb, s->beta,
                     c, s->ldc);
            snprintf(w2, sizeof w2, "%s, called again", what);
        } else {
            cnn_gemm_blocks(0, NULL, 1, blocks[b], s->ta, s->tb, s->M, s->N, s->K, s->alpha, A,
                            s->lda, B, s->ldb, s->beta, c, s->ldc);
            snprintf(w2, sizeof w2, "%s, rows in blocks of %d", what, blocks[b]);
        }
        bad = !t_same_bits(w2, c, got, cn);
        free(c);
    }
    /* cnn_gemm_rows, as the dense layers call it, at 1 and 2 threads: its own cut (blocks of
     * rows, or of columns for one block of rows), the same bits whatever the threads; on
     * sgemm512 those of the whole product. */
    float *one = malloc(cn * sizeof *one), *two = malloc(cn * sizeof *two);
    if (!one || !two) abort();
    memcpy(one, cut, cn * sizeof *one);
    memcpy(two, cut, cn * sizeof *two);
    cnn_gemm_rows(0, NULL, 1, s->ta, s->tb, s->M, s->N, s->K, s->alpha, A, s->lda, B, s->ldb,
                  s->beta, one, s->ldc);
    cnn_gemm_rows(0, pool, 2, s->ta, s->tb, s->M, s->N, s->K, s->alpha, A, s->lda, B, s->ldb,
                  s->beta, two, s->ldc);
    char w3[200];
    snprintf(w3, sizeof w3, "%s, cnn_gemm_rows", what);
    if (!bad) bad = off_bound(s, A, B, C0, want, one, w3);
    snprintf(w3, sizeof w3, "%s, cnn_gemm_rows at 2 threads against 1", what);
    if (!bad) bad = !t_same_bits(w3, two, one, cn);
    snprintf(w3, sizeof w3, "%s, cnn_gemm_rows against the whole product", what);
    int tail = s->M % CNN_GEMM_BLOCK_M; /* 1 to 3 rows: dot products, as above */
    if (!bad && cnn_isa() >= CNN_ISA_AVX512 &&
        !(!s->ta && s->tb && s->M > CNN_GEMM_BLOCK_M && tail >= 1 && tail <= 3))
        bad = !t_same_bits(w3, one, got, cn);
    free(one), free(two);
    free(A), free(B), free(C0), free(want), free(got), free(cut);
}

static void shapes_on_path(void) {
    static const int Ms[] = {1, 3, 7, 8, 9, 16, 17, 64};
    static const int Ns[] = {1, 5, 16, 17, 31, 32, 33, 47, 48, 49, 64, 100, 385, 800};
    static const int Ks[] = {1, 2, 15, 16, 17, 255, 256, 257, 600};
    static const float alphas[] = {1.0f, 0.5f, -2.0f};
    static const float betas[] = {0.0f, 1.0f, 0.25f};
    const int nm = 8, nn = sizeof Ns / sizeof *Ns, nk = sizeof Ks / sizeof *Ks;
    uint64_t seed = 1;
    int count = 0;
    for (int a = 0; a < nm; a++)
        for (int b = 0; b < nn; b++, count++) {
            shape s = {.ta = count % 2, .tb = count / 2 % 2, .M = Ms[a], .N = Ns[b],
                       .K = Ks[(a + 2 * b) % nk]};
            int pad = count % 3 == 0 ? 3 : 0;
            s.lda = (s.ta ? s.M : s.K) + pad;
            s.ldb = (s.tb ? s.K : s.N) + pad;
            s.ldc = s.N + pad;
            s.alpha = alphas[count % 3];
            s.beta = betas[count / 3 % 3];
            check(&s, seed += 3);
        }
    /* The shapes of a network's products: convolution columns, Winograd's 16 products, the
     * gradients, a dense layer; and one that grows the packing buffers before small ones. */
    static const shape big[] = {
        {0, 0, 64, 3136, 576, 576, 3136, 3136, 1.0f, 0.0f},
        {0, 1, 64, 576, 3136, 3136, 3136, 576, 1.0f, 1.0f},
        {1, 0, 576, 784, 64, 576, 784, 784, 1.0f, 0.0f},
        {1, 0, 128, 96, 130, 128, 96, 96, 1.0f, 0.0f},
        {0, 1, 32, 1000, 512, 512, 512, 1000, 1.0f, 0.0f},
        {0, 0, 6, 784, 25, 25, 784, 784, 1.0f, 0.0f},
        {0, 0, 3, 4, 5, 5, 4, 4, 1.0f, 0.0f},
    };
    for (size_t i = 0; i < sizeof big / sizeof *big; i++) check(&big[i], seed += 3);
}

/* The C library's aligned_alloc, replaced so that check 5 can make it fail; posix_memalign is
 * not replaced. */
static int fail_aligned_alloc;
void *aligned_alloc(size_t alignment, size_t size) {
    void *p;
    if (fail_aligned_alloc || posix_memalign(&p, alignment, size) != 0) return NULL;
    return p;
}

static const shape fallback_shape = {0, 1, 37, 300, 270, 270, 270, 300, 1.0f, 0.0f};

static void *product_without_memory(void *c) {
    const shape *s = &fallback_shape;
    float *A = filled((size_t)s->M * s->lda, 7), *B = filled((size_t)s->N * s->ldb, 8);
    fail_aligned_alloc = 1;
    cnn_gemm(0, s->ta, s->tb, s->M, s->N, s->K, s->alpha, A, s->lda, B, s->ldb, s->beta, c,
             s->ldc);
    fail_aligned_alloc = 0;
    free(A), free(B);
    return NULL;
}

/* Check 4, at the AVX-512 level: a new thread (no buffer yet) while allocation fails. */
static void fallback_without_memory(void) {
    const shape *s = &fallback_shape;
    size_t cn = (size_t)s->M * s->ldc;
    float *got = calloc(cn, sizeof *got), *want = calloc(cn, sizeof *want);
    float *A = filled((size_t)s->M * s->lda, 7), *B = filled((size_t)s->N * s->ldb, 8);
    if (!got || !want) abort();
    pthread_t t;
    if (pthread_create(&t, NULL, product_without_memory, got) != 0) abort();
    pthread_join(t, NULL);
    int level = cnn_isa();
    cnn_isa_set(CNN_ISA_AVX2);
    cnn_gemm(0, s->ta, s->tb, s->M, s->N, s->K, s->alpha, A, s->lda, B, s->ldb, s->beta, want,
             s->ldc);
    cnn_isa_set(level);
    t_same_bits("sgemm512 without its buffer: OpenBLAS's product", got, want, cn);
    free(got), free(want), free(A), free(B);
}

int main(int argc, char **argv) {
    t_isa_option(&argc, &argv);
    pool = cnn_workers_new(2);
    if (!T_CHECK(pool, "a pool of 2 threads")) return t_finish();
    /* The level in force, and OpenBLAS below AVX-512 (the levels below AVX2 share its code). */
    int level = cnn_isa(), paths[2] = {level, CNN_ISA_AVX2};
    for (int p = 0; p < (level >= CNN_ISA_AVX512 ? 2 : 1); p++) {
        cnn_isa_set(paths[p]);
        printf("  path: %s (level %s)\n", path_name(cnn_isa()), cnn_isa_name(cnn_isa()));
        shapes_on_path();
    }
    if (level >= CNN_ISA_AVX512) {
        cnn_isa_set(level);
        fallback_without_memory();
    }
    cnn_isa_set(level);
    printf("paths tested up to level %s (the CPU has %s)\n", cnn_isa_name(level),
           cnn_isa_name(cnn_isa_detected()));
    cnn_workers_free(pool);
    return t_finish();
}

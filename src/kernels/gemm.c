/*
 * gemm.c - matrix products: the AVX-512 kernels of sgemm512.c or OpenBLAS (fast) and a plain
 * loop (reference). See gemm.h.
 */
#include "gemm.h"

#include <cblas.h>
#include <pthread.h>
#include <string.h>

/* OpenBLAS runs single-threaded under our own fixed split of work: its threads would make
 * results depend on the thread count, and Debian's serial build is not safe to call from
 * several threads at once (it shares buffers without locks), while the pthread build with one
 * thread is. The setting is process-wide; it is made once, before the first product. */
static pthread_once_t blas_once = PTHREAD_ONCE_INIT;
static void blas_single_thread(void) { openblas_set_num_threads(1); }

static void gemm_reference(int ta, int tb, int M, int N, int K, float alpha, const float *A,
                           int lda, const float *B, int ldb, float beta, float *C, int ldc) {
    for (int i = 0; i < M; i++)
        for (int j = 0; j < N; j++) {
            double acc = 0.0;
            for (int k = 0; k < K; k++) {
                float a = ta ? A[(size_t)k * lda + i] : A[(size_t)i * lda + k];
                float b = tb ? B[(size_t)j * ldb + k] : B[(size_t)k * ldb + j];
                acc += (double)a * b;
            }
            float *c = &C[(size_t)i * ldc + j];
            /* beta == 0 overwrites, as BLAS does: C may hold garbage. */
            *c = (float)(alpha * acc + (beta == 0.0f ? 0.0 : (double)beta * *c));
        }
}

void cnn_gemm(int reference, int trans_a, int trans_b, int M, int N, int K, float alpha,
              const float *A, int lda, const float *B, int ldb, float beta, float *C, int ldc) {
    if (M <= 0 || N <= 0) return;
    if (K <= 0) {
        /* An empty sum: C = beta C. */
        for (int i = 0; i < M; i++)
            for (int j = 0; j < N; j++)
                C[(size_t)i * ldc + j] = beta == 0.0f ? 0.0f : beta * C[(size_t)i * ldc + j];
        return;
    }
    if (reference) {
        gemm_reference(trans_a, trans_b, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
        return;
    }
    /* OpenBLAS also serves a thread that sgemm512 cannot give a buffer (out of memory): the
     * same product, rounded differently, rather than an abort. */
    if (cnn_isa() >= CNN_ISA_AVX512 &&
        cnn_sgemm512(trans_a, trans_b, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc) == 0)
        return;
    pthread_once(&blas_once, blas_single_thread);
    if (beta == 0.0f) {
        /* OpenBLAS's own clearing of C for beta = 0 took 40% of the time of a product with a
         * short inner dimension K (a convolution's data gradient); memset and beta = 1 give
         * the same result in a fraction of that. */
        for (int i = 0; i < M; i++) memset(C + (size_t)i * ldc, 0, (size_t)N * sizeof *C);
        beta = 1.0f;
    }
    cblas_sgemm(CblasRowMajor, trans_a ? CblasTrans : CblasNoTrans,
                trans_b ? CblasTrans : CblasNoTrans, M, N, K, alpha, A, lda, B, ldb, beta, C,
                ldc);
}

typedef struct gemm_job {
    int reference, block_m, trans_a, trans_b, M, N, K;
    int by_columns; /* blocks of CNN_GEMM_BLOCK_N columns instead of block_m rows */
    float alpha, beta;
    const float *A, *B;
    float *C;
    int lda, ldb, ldc;
} gemm_job;

/* Blocks [begin, end) of block_m rows of C, or of CNN_GEMM_BLOCK_N columns. */
static void gemm_block_range(void *arg, long begin, long end, int worker) {
    const gemm_job *j = arg;
    (void)worker;
    if (j->by_columns) {
        for (long b = begin; b < end; b++) {
            int j0 = (int)b * CNN_GEMM_BLOCK_N;
            int cols = j->N - j0 < CNN_GEMM_BLOCK_N ? j->N - j0 : CNN_GEMM_BLOCK_N;
            const float *bb = j->trans_b ? j->B + (size_t)j0 * j->ldb : j->B + j0;
            cnn_gemm(j->reference, j->trans_a, j->trans_b, j->M, cols, j->K, j->alpha, j->A,
                     j->lda, bb, j->ldb, j->beta, j->C + j0, j->ldc);
        }
        return;
    }
    for (long b = begin; b < end; b++) {
        int i0 = (int)b * j->block_m;
        int rows = j->M - i0 < j->block_m ? j->M - i0 : j->block_m;
        const float *a = j->trans_a ? j->A + i0 : j->A + (size_t)i0 * j->lda;
        cnn_gemm(j->reference, j->trans_a, j->trans_b, rows, j->N, j->K, j->alpha, a, j->lda,
                 j->B, j->ldb, j->beta, j->C + (size_t)i0 * j->ldc, j->ldc);
    }
}

void cnn_gemm_blocks(int reference, cnn_workers *pool, int threads, int block_m, int trans_a,
                     int trans_b, int M, int N, int K, float alpha, const float *A, int lda,
                     const float *B, int ldb, float beta, float *C, int ldc) {
    CNN_ASSERT(block_m >= 1);
    int blocks = (M + block_m - 1) / block_m;
    if (blocks <= 1) {
        cnn_gemm(reference, trans_a, trans_b, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
        return;
    }
    if ((double)M * N * K < CNN_GEMM_PARALLEL_MACS) threads = 1;
    gemm_job j = {reference, block_m, trans_a, trans_b, M, N, K, 0, alpha, beta, A, B, C,
                  lda, ldb, ldc};
    cnn_parallel_for(pool, threads, blocks, gemm_block_range, &j);
}

void cnn_gemm_rows(int reference, cnn_workers *pool, int threads, int trans_a, int trans_b, int M,
                   int N, int K, float alpha, const float *A, int lda, const float *B, int ldb,
                   float beta, float *C, int ldc) {
    if (M <= CNN_GEMM_BLOCK_M && N >= 2 * CNN_GEMM_BLOCK_N &&
        (double)M * N * K >= CNN_GEMM_PARALLEL_MACS / 4) {
        /* One block of rows (a dense layer at a small batch) and many columns: blocks of
         * those, each row's dot products then read a part of B each. */
        gemm_job j = {reference, CNN_GEMM_BLOCK_M, trans_a, trans_b, M, N, K, 1, alpha, beta,
                      A, B, C, lda, ldb, ldc};
        cnn_parallel_for(pool, threads, (N + CNN_GEMM_BLOCK_N - 1) / CNN_GEMM_BLOCK_N,
                         gemm_block_range, &j);
        return;
    }
    cnn_gemm_blocks(reference, pool, threads, CNN_GEMM_BLOCK_M, trans_a, trans_b, M, N, K,
                    alpha, A, lda, B, ldb, beta, C, ldc);
}

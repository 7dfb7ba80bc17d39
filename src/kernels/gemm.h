/*
 * gemm.h - the one interface to matrix products. Row-major, like the rest of the library.
 *
 *   C[M x N] = alpha * op(A) op(B) + beta * C,  op(A) is M x K, op(B) is K x N,
 *   op(X) = X, or X transposed when its trans flag is set.
 *
 * The fast path is sgemm512.c's on hosts with AVX-512 (cnn_isa() >= CNN_ISA_AVX512), else
 * OpenBLAS's SGEMM held to one thread (see gemm.c); the reference path is a plain loop that the
 * tests hold the fast path to. Threads never split one product in a way that depends on the
 * thread count: cnn_gemm_rows cuts M into blocks of a fixed size, so every element is computed
 * the same way whether one or many threads run, and results are bit-identical across thread
 * counts.
 */
#ifndef CNN_KERNELS_GEMM_H
#define CNN_KERNELS_GEMM_H

#include "../core/internal.h"

/* Rows of C in one task of cnn_gemm_rows; fixed, never derived from the thread count. Small
 * enough that a dense layer's batch of 64 makes two tasks. */
#define CNN_GEMM_BLOCK_M 32
/* Below this many multiply-adds cnn_gemm_rows runs its tasks on the calling thread: a parallel
 * region would cost more than it saves. The tasks, and so the results, stay the same. */
#define CNN_GEMM_PARALLEL_MACS (1 << 20)
/* Columns of C in one task when a product has one block of rows (a dense layer at batch 1 reads
 * its whole weight matrix for few sums; ResNet-18's 512 x 1000 is 8 tasks). Fixed too: every
 * element is computed the same way whatever the thread count. Such a product shares its
 * column blocks between threads from CNN_GEMM_PARALLEL_MACS / 4 multiply-adds (it is bound
 * by reading B, not by the products). */
#define CNN_GEMM_BLOCK_N 128

void cnn_gemm(int reference, int trans_a, int trans_b, int M, int N, int K, float alpha,
              const float *A, int lda, const float *B, int ldb, float beta, float *C, int ldc);

/* The same product, its rows split in blocks of block_m rows (fixed by the caller, never by
 * the thread count) shared by the threads. Each block packs all of op(B) again: few, large
 * blocks suit a wide B. */
void cnn_gemm_blocks(int reference, cnn_workers *pool, int threads, int block_m, int trans_a,
                     int trans_b, int M, int N, int K, float alpha, const float *A, int lda,
                     const float *B, int ldb, float beta, float *C, int ldc);

/* The same product, its rows split in blocks of CNN_GEMM_BLOCK_M over threads (or, when M is
 * one such block, its columns in blocks of CNN_GEMM_BLOCK_N). */
void cnn_gemm_rows(int reference, cnn_workers *pool, int threads, int trans_a, int trans_b, int M,
                   int N, int K, float alpha, const float *A, int lda, const float *B, int ldb,
                   float beta, float *C, int ldc);

/* The AVX-512 product (sgemm512.c), the fast path when cnn_isa() is CNN_ISA_AVX512: the same
 * contract as cnn_gemm with M, N, K > 0. Returns 0, or -1 without touching C when the calling
 * thread cannot have its packing buffer (out of memory): the caller then takes another path.
 * cnn_sgemm512_available says whether this build has it (GCC on x86-64). */
int cnn_sgemm512(int trans_a, int trans_b, int M, int N, int K, float alpha, const float *A,
                 int lda, const float *B, int ldb, float beta, float *C, int ldc);
int cnn_sgemm512_available(void);

#endif

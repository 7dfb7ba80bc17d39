/*
 * qgemm.h - the int8 matrix product of quantised inference:
 *
 *   C[i][j] = epilogue( sum_{k<K} A[i][k] * B[k][j] ),   A int8 (M x K, the weights),
 *                                                          B uint8 (K x N, the activations),
 *   epilogue(acc) = y = (float)(acc - corr[i]) * scale[i] + bias[i];  relu: y = y < 0 ? 0 : y
 *
 * The sums are exact in int32 (hence K <= CNN_QGEMM_MAX_K). The epilogue is an int32
 * subtraction (wrapping), a conversion to float (round to nearest), one float multiply and one
 * float add, never fused into one multiply-add, on every path: results are the same bits
 * whichever instruction set runs (cnn_isa(): VNNI's 8-bit dot products, AVX2, the baseline),
 * and whatever tiles the caller cuts, since each element is computed on its own. (-0, infinities
 * and NaNs included; only where both the product and the bias are NaN may the NaN's sign or
 * payload differ: x86 keeps the first operand's, and a compiler orders an addition either way.)
 *
 * Both operands are packed ahead: A (weights, once) by cnn_qgemm_pack_a; B directly by the
 * caller (im2col writes its output in B's layout, below), which is why that layout is part of
 * the interface.
 */
#ifndef CNN_KERNELS_QGEMM_H
#define CNN_KERNELS_QGEMM_H

#include "../core/internal.h"

#include <stddef.h>
#include <stdint.h>

/* Columns per B panel: two 256-bit vectors of 8 int32 sums each. */
#define CNN_QGEMM_NR 16
/* Output rows per micro-kernel and per A block: 6 rows x 16 columns are 12 int32 accumulator
 * vectors, which leaves room in the 16 ymm registers for B's two vectors and A's broadcast. */
#define CNN_QGEMM_MR 6
/* The largest K whose sums cannot overflow int32: 65536 * 255 * 128 < 2^31. */
#define CNN_QGEMM_MAX_K 65536

/* ---------------------------------------------------------------------------------------------
 * B (K x N, uint8), packed by the caller. K4 = ceil(K / 4). Panel p holds columns 16p .. 16p+15;
 * inside a panel, each group of 4 rows k is 64 bytes: column after column, 4 bytes each (its 4
 * values of k in order), which is the operand layout of the 8-bit dot product instructions
 * (one int32 lane = one column's 4 products). Element (k, j) is at byte
 *     ((size_t)(j / 16) * K4 + k / 4) * 64 + (j % 16) * 4 + k % 4
 * Rows k >= K (up to a multiple of 4) and columns j >= N (up to a multiple of 16) may hold
 * anything (the caller's zero point, say): A's padding is 0 and padded columns are never
 * stored, so they cannot change C.
 * ------------------------------------------------------------------------------------------- */

/* Bytes of B packed: ceil(N / 16) * K4 * 64. */
size_t cnn_qgemm_b_bytes(int K, int N);

/* B as the product reads it: packed as above (off NULL: base is the packed B), or in place
 * (off given): element (k, j) at byte base + off[k / 4] + 4 j + k % 4, so that a group of 4 k
 * of 16 columns is again 64 bytes in the operand layout. In place is how a convolution of
 * stride 1 gives its input planes of 4 channels to a pixel without copying them into columns
 * (off[q]: where tap and channels q start; column j: pixel j of the plane, rows laid end to
 * end). In place, every group of every panel reaches 64 bytes: up to 4 (N rounded up to 16)
 * - 1 past base + off[q] must be readable (padding columns' values do not matter). */
typedef struct cnn_qgemm_b {
    const uint8_t *base;
    const ptrdiff_t *off; /* K4 entries, or NULL */
} cnn_qgemm_b;

/* Where element (k, j) of B goes in the packed B of a product with K rows. */
static inline size_t cnn_qgemm_b_index(int K, int k, int j) {
    size_t k4 = (size_t)(K + 3) / 4;
    return ((size_t)(j / CNN_QGEMM_NR) * k4 + (size_t)(k / 4)) * 64 +
           (size_t)(j % CNN_QGEMM_NR) * 4 + (size_t)(k % 4);
}

/* ---------------------------------------------------------------------------------------------
 * A (M x K, int8), packed by cnn_qgemm_pack_a: blocks of CNN_QGEMM_MR rows; inside a block, each
 * group of 4 columns k is MR * 4 bytes, row after row, 4 bytes each (its 4 values of k): one
 * 32-bit broadcast gives a row's operand for a group. Element (i, k) is at byte
 *     ((size_t)(i / MR) * K4 + k / 4) * (MR * 4) + (i % MR) * 4 + k % 4
 * Rows i >= M (up to a multiple of MR) and columns k >= K (up to a multiple of 4) are 0.
 * ------------------------------------------------------------------------------------------- */

/* Bytes of A packed: ceil(M / MR) * K4 * MR * 4. */
size_t cnn_qgemm_a_bytes(int M, int K);

/* Packs A (row i at A + i * lda) into packed (cnn_qgemm_a_bytes(M, K) bytes), padding with 0,
 * and writes rowsum[i] = sum_k A[i][k] for i < M (rowsum may be NULL): with B = X + zp, the
 * caller's correction corr[i] = zp * rowsum[i] gives sum_k A[i][k] * X[k][j]. */
void cnn_qgemm_pack_a(int M, int K, const int8_t *A, int lda, int8_t *packed, int32_t *rowsum);

/* What the product does with its int32 sums, per row i of C (all pointers required; the three
 * arrays indexed by i in [0, M)). */
typedef struct cnn_qgemm_out {
    const int32_t *corr; /* subtracted from the sum (zero-point correction) */
    const float *scale;  /* multiplies the difference, converted to float */
    const float *bias;   /* added to the product */
    int relu;            /* non-zero: negative results become 0 */
    float *C;            /* C[i][j] is C[i * ldc + c(j)] */
    int ldc;
    /* c(j): j when run is 0; else the product's columns come in periods of run + skip, the
     * first run of each written to C one after the other, the skip after them not at all:
     * c(j) = j / (run + skip) * run + j % (run + skip) for j % (run + skip) < run. A
     * convolution computed in place has a row of padding columns after each output row. */
    int run, skip;
} cnn_qgemm_out;

/* Computes rows [m0, m1) and columns [n0, n1) of C from A packed by cnn_qgemm_pack_a (M rows)
 * and B (N columns, packed or in place), and writes nothing else of C. m0 is a multiple of
 * CNN_QGEMM_MR and n0 of CNN_QGEMM_NR, m1 <= M, n1 <= N (checked); no alignment is needed.
 * Single-threaded, allocates nothing (the AVX2 path takes 15 KB of stack, the AVX-512 one
 * 34 KB): the caller shares tiles between threads, and results do not depend on the tiles. */
void cnn_qgemm(int M, int N, int K, const int8_t *Ap, const cnn_qgemm_b *B, int m0, int m1,
               int n0, int n1, const cnn_qgemm_out *out);

#endif

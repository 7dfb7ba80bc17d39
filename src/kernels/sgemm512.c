/*
 * sgemm512.c - the single-precision matrix product on AVX-512, for hosts whose 512-bit
 * multiply-adds run at full rate (Zen 5, Intel server cores): there OpenBLAS 0.3.21, held to its
 * Haswell kernels where the environment says so, reaches half the machine. See gemm.h for the
 * contract; cnn_gemm chooses this path when cnn_isa() is CNN_ISA_AVX512.
 *
 * The usual blocked product. op(B) is copied, KC rows by NC columns at a time, into panels of
 * 16, 32 or 48 columns laid out row after row (consecutive floats per k, zeros past N). The
 * micro-kernel keeps an 8 x 48 tile of C in 24 registers and adds one panel product (kc
 * multiply-add steps, each 8 broadcasts of A times up to 3 vectors of B) into it. It reads A's
 * 8 rows where they are when A is not transposed (packing them cost more than the products
 * where N is small: ResNet-18's 7x7 maps, N = 49, ran at 64-95 GFLOP/s packed and 138-143 in
 * place), and while it runs a block's first panel it prefetches the next block's 8 rows (a
 * line of each every 16 steps): 8 runs of 1 KB, 18 KB apart in a batch-1 convolution's
 * weights (ResNet-18's layer4, 9.4 MB, from memory at every pass), too short for the
 * hardware's stream prefetchers. A transposed A is first copied into panels of 8 consecutive
 * floats per k. A's rows (8 KB of a KC block) stay in L1 while the kernel walks B's panels
 * (384 KB, in L2). The 1 to 3 columns of a block past a multiple of 16 (49 = 48 + 1) are its edge, packed column by
 * column and multiplied along k (edge()), instead of a panel of 16 lanes mostly idle: N = 49
 * with K = 4608 went from 1.50-1.68 to 1.21-1.22 ms (N = 48: 1.13-1.18).
 *
 * Rounding: each element of C is the sum over k in blocks of KC, each block summed in k order
 * in one register lane (an edge column's: in 16 lanes of k mod 16, or 4 sums of k mod 4 for a
 * transposed A, added up in a fixed order), the blocks added to C in order. The blocking is
 * fixed, so the same product gives the same bits wherever it runs and whichever rows a
 * caller's thread is given; a caller that splits M (cnn_gemm_blocks) changes nothing in any
 * element's sum, unless it leaves 1 to 3 rows of A times a transposed B: those are dot
 * products along k (dots()), summed in 16 lanes.
 */
#include "gemm.h"

#include <pthread.h>
#include <stdlib.h>

#if defined(__GNUC__) && !defined(__clang__) && defined(__x86_64__)
#include <immintrin.h>

#define MR 8
#define KC 256
#define NC 384 /* columns of op(B) packed at a time */

#define AVX512 __attribute__((target("avx512f,avx512vl,avx512bw,avx512dq,fma")))

/* Each thread's packing buffer, made at its first product and freed when the thread ends: one
 * block of op(B) (KC x NC floats) and one panel of a transposed A (MR x KC), 393 KB in all. */
#define PACK_FLOATS ((size_t)KC * NC + (size_t)MR * KC)

static pthread_key_t packs_key;
static pthread_once_t packs_once = PTHREAD_ONCE_INIT;
static int packs_key_made; /* 0 if pthread_key_create failed: no thread has a buffer */

static void packs_key_make(void) { packs_key_made = pthread_key_create(&packs_key, free) == 0; }

/* The calling thread's buffer, or NULL if it cannot have one (out of memory). */
static float *thread_packs(void) {
    pthread_once(&packs_once, packs_key_make);
    if (!packs_key_made) return NULL;
    float *p = pthread_getspecific(packs_key);
    if (!p) {
        p = aligned_alloc(64, PACK_FLOATS * sizeof(float));
        if (p && pthread_setspecific(packs_key, p) != 0) {
            free(p);
            p = NULL;
        }
    }
    return p;
}

/* Lanes [0, n) of a 16-lane mask, n clipped to 0..16. */
static inline __mmask16 AVX512 lanes(int n) {
    return n <= 0 ? 0 : n >= 16 ? 0xffff : (__mmask16)((1u << n) - 1u);
}

/* r[i] lane j becomes r[j] lane i. */
static inline __attribute__((always_inline)) AVX512 void transpose16(__m512 r[16]) {
    __m512 t[16], u[16];
    for (int i = 0; i < 16; i += 2) {
        t[i] = _mm512_unpacklo_ps(r[i], r[i + 1]);
        t[i + 1] = _mm512_unpackhi_ps(r[i], r[i + 1]);
    }
    /* u[4j + c], 128-bit lane L: rows 4j .. 4j+3 of column 4L + c. */
    for (int j = 0; j < 16; j += 4) {
        __m512d a = _mm512_castps_pd(t[j]), b = _mm512_castps_pd(t[j + 1]);
        __m512d c = _mm512_castps_pd(t[j + 2]), d = _mm512_castps_pd(t[j + 3]);
        u[j] = _mm512_castpd_ps(_mm512_unpacklo_pd(a, c));
        u[j + 1] = _mm512_castpd_ps(_mm512_unpackhi_pd(a, c));
        u[j + 2] = _mm512_castpd_ps(_mm512_unpacklo_pd(b, d));
        u[j + 3] = _mm512_castpd_ps(_mm512_unpackhi_pd(b, d));
    }
    /* A 4 x 4 transpose of 128-bit lanes for each c. */
    for (int c = 0; c < 4; c++) {
        __m512 v0 = _mm512_shuffle_f32x4(u[c], u[4 + c], 0x44);
        __m512 v1 = _mm512_shuffle_f32x4(u[c], u[4 + c], 0xee);
        __m512 v2 = _mm512_shuffle_f32x4(u[8 + c], u[12 + c], 0x44);
        __m512 v3 = _mm512_shuffle_f32x4(u[8 + c], u[12 + c], 0xee);
        r[c] = _mm512_shuffle_f32x4(v0, v2, 0x88);
        r[4 + c] = _mm512_shuffle_f32x4(v0, v2, 0xdd);
        r[8 + c] = _mm512_shuffle_f32x4(v1, v3, 0x88);
        r[12 + c] = _mm512_shuffle_f32x4(v1, v3, 0xdd);
    }
}

/* dst[k * w + i] = src[i * ld + k] for i < rows, k < kc; zeros for i in [rows, w) (w a
 * multiple of 16). */
static void AVX512 pack_transposed(const float *src, size_t ld, int rows, int kc, float *dst,
                                   int w) {
    for (int g = 0; g < w; g += 16)
        for (int k0 = 0; k0 < kc; k0 += 16) {
            __m512 r[16];
            __mmask16 m = lanes(kc - k0);
            for (int i = 0; i < 16; i++)
                r[i] = g + i < rows ? _mm512_maskz_loadu_ps(m, src + (size_t)(g + i) * ld + k0)
                                    : _mm512_setzero_ps();
            transpose16(r);
            int n = kc - k0 < 16 ? kc - k0 : 16;
            for (int k = 0; k < n; k++) _mm512_store_ps(dst + (size_t)(k0 + k) * w + g, r[k]);
        }
}

/* dst[k * w + j] = src[k * ld + j] for j < cols, k < kc; zeros for j in [cols, w). */
static void AVX512 pack_rows(const float *src, size_t ld, int cols, int kc, float *dst, int w) {
    for (int k = 0; k < kc; k++, src += ld, dst += w)
        for (int v = 0; v < w; v += 16)
            _mm512_store_ps(dst + v, _mm512_maskz_loadu_ps(lanes(cols - v), src + v));
}

/* The last 1 to EDGE_MAX columns of a block past a multiple of 16 (a 7x7 map's 49 = 48 + 1,
 * say) are its edge: a vector panel would spend 16 lanes on them (49 columns ran at 143
 * GFLOP/s, 48 at 182), the edge kernel spends nothing. */
#define EDGE_MAX 3
static int edge_cols(int nc) {
    int r = nc % 16;
    return nc > 16 && r <= EDGE_MAX ? r : 0;
}

/* The split of the other nc - edge_cols(nc) columns into panels of 1 to 3 vectors of 16, as
 * even as they come: panel p has vecs(nc, p) vectors. */
static int panel_count(int nc) { return ((nc - edge_cols(nc) + 15) / 16 + 2) / 3; }
static int panel_vecs(int nc, int p) {
    int v = (nc - edge_cols(nc) + 15) / 16, n = panel_count(nc);
    return v / n + (p < v % n);
}

/* op(B)[k0 .. k0+kc) x [j0 .. j0+nc) into panels (panel_vecs), each kc rows of its width,
 * then the edge columns, each kc consecutive floats. */
static void pack_b(int tb, const float *B, int ldb, int k0, int kc, int j0, int nc, float *dst) {
    int nv = nc - edge_cols(nc), j = 0;
    for (int p = 0; j < nv; p++) {
        int w = 16 * panel_vecs(nc, p), cols = nv - j < w ? nv - j : w;
        if (tb) /* op(B)(k, j) = B[j][k] */
            pack_transposed(B + (size_t)(j0 + j) * ldb + k0, (size_t)ldb, cols, kc, dst, w);
        else
            pack_rows(B + (size_t)k0 * ldb + j0 + j, (size_t)ldb, cols, kc, dst, w);
        dst += (size_t)kc * w;
        j += w;
    }
    for (; j < nc; j++, dst += kc)
        for (int k = 0; k < kc; k++)
            dst[k] = tb ? B[(size_t)(j0 + j) * ldb + k0 + k] : B[(size_t)(k0 + k) * ldb + j0 + j];
}

/* A transposed, op(A)(i, k) = A[k][i], for rows [i0 .. i0+rows) x [k0 .. k0+kc) into one panel
 * (zeros past rows), kc rows of MR: MR consecutive floats of each row k of A. (A itself is not
 * packed: the micro-kernel reads its rows in place.) */
static void AVX512 pack_a_transposed(const float *A, int lda, int i0, int rows, int k0, int kc,
                                     float *dst) {
    const float *src = A + (size_t)k0 * lda + i0;
    __mmask8 m = (__mmask8)lanes(rows);
    for (int k = 0; k < kc; k++, src += lda)
        _mm256_store_ps(dst + (size_t)k * MR, _mm256_maskz_loadu_ps(m, src));
}

/* How a tile's sums meet C: the first block of k sets C = alpha * sum (+ beta * C when beta is
 * not 0; C may hold garbage when it is), later blocks add alpha * sum. */
typedef struct {
    float alpha, beta;
    int first;
} tile_out;

/* The 8 x (16 nv) tile at c (rows and cols of it inside C) gets A's rows times b's panel
 * (kc steps; b is 16 nv floats wide). A's element (i, k): with lda 0, a packed panel's
 * a[k MR + i]; else a[i lda + k], straight from a row-major op(A) (rows past `rows` read row
 * rows - 1, never stored). pf (not NULL, A in place): pf_rows rows lda apart to prefetch, the
 * next block's, over the same kc columns. */
static inline __attribute__((always_inline)) AVX512 void tile(int nv, int packed, int kc,
                                                                const float *restrict a,
                                                                size_t lda,
                                                                const float *restrict b, float *c,
                                                                int ldc, int rows, int cols,
                                                                tile_out o, const float *pf,
                                                                int pf_rows) {
    __m512 acc[MR][3];
    const float *ar[MR];
#pragma GCC unroll 8
    for (int i = 0; i < MR; i++) {
        ar[i] = packed ? a + i : a + (size_t)(i < rows ? i : rows - 1) * lda;
#pragma GCC unroll 3
        for (int v = 0; v < 3; v++) acc[i][v] = _mm512_setzero_ps();
    }
    for (int k = 0; k < kc; k++, b += 16 * nv) {
        if (!packed && pf && (k & 15) == 0)
            for (int i = 0; i < pf_rows; i++)
                _mm_prefetch((const char *)(pf + (size_t)i * lda + k), _MM_HINT_T0);
        __m512 bv[3];
#pragma GCC unroll 3
        for (int v = 0; v < nv; v++) bv[v] = _mm512_load_ps(b + 16 * v);
#pragma GCC unroll 8
        for (int i = 0; i < MR; i++) {
            __m512 ai = _mm512_set1_ps(packed ? ar[i][(size_t)k * MR] : ar[i][k]);
#pragma GCC unroll 3
            for (int v = 0; v < nv; v++) acc[i][v] = _mm512_fmadd_ps(ai, bv[v], acc[i][v]);
        }
    }
    __m512 alpha = _mm512_set1_ps(o.alpha), beta = _mm512_set1_ps(o.beta);
#pragma GCC unroll 8
    for (int i = 0; i < MR; i++) {
        if (i >= rows) break;
        float *ci = c + (size_t)i * ldc;
#pragma GCC unroll 3
        for (int v = 0; v < nv; v++) {
            __mmask16 m = lanes(cols - 16 * v);
            __m512 s = o.alpha == 1.0f ? acc[i][v] : _mm512_mul_ps(alpha, acc[i][v]);
            if (!o.first)
                s = _mm512_add_ps(_mm512_maskz_loadu_ps(m, ci + 16 * v), s);
            else if (o.beta != 0.0f)
                s = _mm512_add_ps(_mm512_mul_ps(beta, _mm512_maskz_loadu_ps(m, ci + 16 * v)), s);
            _mm512_mask_storeu_ps(ci + 16 * v, m, s);
        }
    }
}

static void AVX512 tile_any(int nv, int kc, const float *a, size_t lda, const float *b,
                            float *c, int ldc, int rows, int cols, tile_out o, const float *pf,
                            int pf_rows) {
    if (lda == 0) {
        if (nv == 3)
            tile(3, 1, kc, a, 0, b, c, ldc, rows, cols, o, NULL, 0);
        else if (nv == 2)
            tile(2, 1, kc, a, 0, b, c, ldc, rows, cols, o, NULL, 0);
        else
            tile(1, 1, kc, a, 0, b, c, ldc, rows, cols, o, NULL, 0);
    } else {
        if (nv == 3)
            tile(3, 0, kc, a, lda, b, c, ldc, rows, cols, o, pf, pf_rows);
        else if (nv == 2)
            tile(2, 0, kc, a, lda, b, c, ldc, rows, cols, o, pf, pf_rows);
        else
            tile(1, 0, kc, a, lda, b, c, ldc, rows, cols, o, pf, pf_rows);
    }
}

/* sum into c as tile() stores a lane. */
static inline float out_value(float sum, const float *c, tile_out o) {
    float v = o.alpha == 1.0f ? sum : o.alpha * sum;
    if (!o.first) return *c + v;
    return o.beta != 0.0f ? o.beta * *c + v : v;
}

/* Sums along k, 16 lanes of k mod 16 reduced at the end, of MR rows of a row-major a (rows
 * past `rows` read row rows - 1, never stored) times n vectors b (b + j ldbv, kc floats each):
 * C(i, j) at c + i ldc_i + j ldc_j. MR n independent sums in flight. The edge of a block (see
 * edge()), and the products of 1 to 3 rows by a transposed B (see cnn_sgemm512). */
static inline __attribute__((always_inline)) AVX512 void dots(int n, int kc, const float *a,
                                                                size_t lda, const float *b,
                                                                size_t ldbv, float *c,
                                                                size_t ldc_i, size_t ldc_j,
                                                                int rows, tile_out o) {
    __m512 acc[MR][EDGE_MAX];
    const float *ar[MR];
#pragma GCC unroll 8
    for (int i = 0; i < MR; i++) {
        ar[i] = a + (size_t)(i < rows ? i : rows - 1) * lda;
#pragma GCC unroll 3
        for (int j = 0; j < n; j++) acc[i][j] = _mm512_setzero_ps();
    }
    for (int k = 0; k < kc; k += 16) {
        __mmask16 m = lanes(kc - k);
        __m512 bv[EDGE_MAX];
#pragma GCC unroll 3
        for (int j = 0; j < n; j++) bv[j] = _mm512_maskz_loadu_ps(m, b + (size_t)j * ldbv + k);
#pragma GCC unroll 8
        for (int i = 0; i < MR; i++) {
            __m512 av = _mm512_maskz_loadu_ps(m, ar[i] + k);
#pragma GCC unroll 3
            for (int j = 0; j < n; j++) acc[i][j] = _mm512_fmadd_ps(av, bv[j], acc[i][j]);
        }
    }
    for (int i = 0; i < rows; i++)
        for (int j = 0; j < n; j++) {
            float *cij = c + i * ldc_i + j * ldc_j;
            *cij = out_value(_mm512_reduce_add_ps(acc[i][j]), cij, o);
        }
}

static void AVX512 dots_any(int n, int kc, const float *a, size_t lda, const float *b,
                            size_t ldbv, float *c, size_t ldc_i, size_t ldc_j, int rows,
                            tile_out o) {
    if (n == 1)
        dots(1, kc, a, lda, b, ldbv, c, ldc_i, ldc_j, rows, o);
    else if (n == 2)
        dots(2, kc, a, lda, b, ldbv, c, ldc_i, ldc_j, rows, o);
    else
        dots(3, kc, a, lda, b, ldbv, c, ldc_i, ldc_j, rows, o);
}

/* The edge: C's rows [0, rows) (at most MR) times n (1 to EDGE_MAX) columns b (each kc
 * floats), A's rows as in tile(). A row-major A is read along k, 16 steps per vector, each
 * lane's share of the sum added up at the end in a fixed order; a packed A's MR rows per k
 * are one vector, four sums (k mod 4) added at the end. */
static void AVX512 edge(int n, int kc, const float *a, size_t lda, const float *b, float *c,
                        int ldc, int rows, tile_out o) {
    if (lda == 0) {
        for (int j = 0; j < n; j++, b += kc) {
            /* Four sums in flight (k mod 4), added (0 + 1) + (2 + 3) at the end. */
            __m256 acc[4] = {_mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps(),
                             _mm256_setzero_ps()};
            for (int k = 0; k < kc; k++)
                acc[k & 3] = _mm256_fmadd_ps(_mm256_load_ps(a + (size_t)k * MR),
                                             _mm256_set1_ps(b[k]), acc[k & 3]);
            float s[MR];
            _mm256_storeu_ps(s, _mm256_add_ps(_mm256_add_ps(acc[0], acc[1]),
                                              _mm256_add_ps(acc[2], acc[3])));
            for (int i = 0; i < rows; i++) {
                float *ci = c + (size_t)i * ldc + j;
                *ci = out_value(s[i], ci, o);
            }
        }
        return;
    }
    dots_any(n, kc, a, lda, b, (size_t)kc, c, (size_t)ldc, 1, rows, o);
}

int cnn_sgemm512(int trans_a, int trans_b, int M, int N, int K, float alpha, const float *A,
                 int lda, const float *B, int ldb, float beta, float *C, int ldc) {
    if (!trans_a && trans_b && M <= EDGE_MAX) {
        /* A dense layer at batch 1 to 3: C's rows are dot products of A's rows with B's,
         * both read where they are, 8 of B's rows at a time. Packing B, the whole weight
         * matrix, cost 4 times the products (ResNet-18's 512 x 1000 layer, warm caches:
         * 0.15-0.19 -> 0.03-0.04 ms; in the network 0.43 -> 0.25 ms, its weights cold). */
        tile_out o = {alpha, beta, 1};
        for (int j = 0; j < N; j += MR)
            dots_any(M, K, B + (size_t)j * ldb, (size_t)ldb, A, (size_t)lda, C + j, 1,
                     (size_t)ldc, N - j < MR ? N - j : MR, o);
        return 0;
    }
    float *bp = thread_packs();
    if (!bp) return -1;
    float *ap = bp + (size_t)KC * NC;
    for (int k0 = 0; k0 < K; k0 += KC) {
        int kc = K - k0 < KC ? K - k0 : KC;
        tile_out o = {alpha, beta, k0 == 0};
        for (int j0 = 0; j0 < N; j0 += NC) {
            int nc = N - j0 < NC ? N - j0 : NC, panels = panel_count(nc);
            pack_b(trans_b, B, ldb, k0, kc, j0, nc, bp);
            for (int i0 = 0; i0 < M; i0 += MR) {
                const float *b = bp;
                int rows = M - i0 < MR ? M - i0 : MR;
                /* A transposed is packed again for each block of NC columns: kc MR floats
                 * copied per kc MR nc multiply-adds. */
                if (trans_a) pack_a_transposed(A, lda, i0, rows, k0, kc, ap);
                /* A's rows: the packed panel (la 0) or in place. */
                const float *a = trans_a ? ap : A + (size_t)i0 * lda + k0;
                size_t la = trans_a ? 0 : (size_t)lda;
                float *c = C + (size_t)i0 * ldc + j0;
                int j = 0;
                /* The next block's rows of A, fetched during this block's first panel. */
                int pf_rows = trans_a || i0 + MR >= M ? 0 : M - i0 - MR < MR ? M - i0 - MR : MR;
                const float *pf = pf_rows ? a + (size_t)MR * lda : NULL;
                for (int q = 0; q < panels; q++) {
                    int nv = panel_vecs(nc, q), cols = nc - j < 16 * nv ? nc - j : 16 * nv;
                    tile_any(nv, kc, a, la, b, c + j, ldc, rows, cols, o, q ? NULL : pf,
                             pf_rows);
                    b += (size_t)kc * 16 * nv;
                    j += 16 * nv;
                }
                if (j < nc) edge(nc - j, kc, a, la, b, c + j, ldc, rows, o);
            }
        }
    }
    return 0;
}

int cnn_sgemm512_available(void) { return 1; }

#else

int cnn_sgemm512(int trans_a, int trans_b, int M, int N, int K, float alpha, const float *A,
                 int lda, const float *B, int ldb, float beta, float *C, int ldc) {
    return -1; /* never chosen: cnn_sgemm512_available() is 0 */
}

int cnn_sgemm512_available(void) { return 0; }

#endif

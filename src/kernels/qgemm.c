/*
 * qgemm.c - the int8 matrix product (see qgemm.h). Four paths over the same packed data, chosen
 * by cnn_isa() at each call:
 *   AVX-512   vpdpbusd on 512-bit vectors (CNN_ISA_AVX512): 6 rows x 64 columns, a panel's group
 *             of 4 k one vector; twice the 256-bit path's work per instruction where 512-bit
 *             operations run at full rate (Zen 5). A last panel of 1 to 4 columns is
 *             multiplied along k instead (edge_zmm).
 *   VNNI      vpdpbusd on 256-bit vectors: a micro-kernel of 6 rows x 16 columns (12 int32
 *             accumulators); per group of 4 k, two loads of B and 6 broadcasts of A feed 12 dot
 *             products of 4 u8 x s8 each. It runs at the instruction's peak (2 a cycle on Zen 4).
 *   AVX2      no dot product instruction is both exact and fast: vpmaddubsw saturates its int16
 *             pair sums (255 * 127 * 2 > 32767), so B and A are widened to int16 and multiplied
 *             by vpmaddwd (pairs summed into int32, exact), each column's 4 products in two
 *             partial sums added at the end. B is widened a chunk at a time for many rows
 *             (avx2_rows); the micro-kernel is 2 rows x 16 columns.
 *   baseline  plain loops, the reference the tests hold the others to.
 * Each path computes a micro-tile's int32 sums over all of K, stores them to a small array on
 * the stack, and the epilogue turns that into floats: its cost is per tile, not per k, and one
 * epilogue serves every edge (short rows, short columns). A panel whose columns past the 8th
 * are all padding gets half the work.
 */
#include "qgemm.h"

#include <string.h>

#define MR CNN_QGEMM_MR
#define NR CNN_QGEMM_NR

size_t cnn_qgemm_b_bytes(int K, int N) {
    return (size_t)((N + NR - 1) / NR) * (size_t)((K + 3) / 4) * 64;
}

size_t cnn_qgemm_a_bytes(int M, int K) {
    return (size_t)((M + MR - 1) / MR) * (size_t)((K + 3) / 4) * MR * 4;
}

void cnn_qgemm_pack_a(int M, int K, const int8_t *A, int lda, int8_t *packed, int32_t *rowsum) {
    CNN_ASSERT(M >= 0 && K >= 0 && K <= CNN_QGEMM_MAX_K);
    int k4n = (K + 3) / 4, blocks = (M + MR - 1) / MR;
    for (int b = 0; b < blocks; b++)
        for (int q = 0; q < k4n; q++) {
            int8_t *dst = packed + ((size_t)b * k4n + q) * MR * 4;
            for (int r = 0; r < MR; r++)
                for (int t = 0; t < 4; t++) {
                    int i = b * MR + r, k = 4 * q + t;
                    dst[r * 4 + t] = i < M && k < K ? A[(size_t)i * lda + k] : 0;
                }
        }
    if (rowsum)
        for (int i = 0; i < M; i++) {
            int32_t s = 0;
            for (int k = 0; k < K; k++) s += A[(size_t)i * lda + k];
            rowsum[i] = s;
        }
}

/* A panel of B as the paths read it (cnn_qgemm_b, packed or in place): its group q at
 * p + off[q] (off NULL: p + 64 q), the next panel's group q `next` bytes after it. */
typedef struct panel_src {
    const uint8_t *p;
    const ptrdiff_t *off;
    size_t next;
} panel_src;

/* The panel of columns j0 .. j0 + 15 (j0 a multiple of 16) of a product of k4n groups. */
static inline panel_src panel_at(const cnn_qgemm_b *B, int k4n, int j0) {
    if (B->off) return (panel_src){B->base + 4 * (size_t)j0, B->off, 64};
    size_t panel = (size_t)k4n * 64;
    return (panel_src){B->base + (size_t)(j0 / NR) * panel, NULL, panel};
}

static inline const uint8_t *group_at(panel_src s, int q) {
    return s.off ? s.p + s.off[q] : s.p + (size_t)64 * q;
}

/* The parts of columns [j0, j0 + cols) of the product that go to C (cnn_qgemm_out's run and
 * skip): part t is the tile's columns [at, at + len) to C's columns from c. At most cols. */
typedef struct c_part {
    int at, len;
    size_t c;
} c_part;

static int c_parts(const cnn_qgemm_out *o, int j0, int cols, c_part *part) {
    if (!o->run) {
        part[0] = (c_part){0, cols, (size_t)j0};
        return 1;
    }
    int n = 0, period = o->run + o->skip;
    for (int at = 0; at < cols;) {
        int j = j0 + at, in = j % period;
        if (in >= o->run) { /* skipped columns */
            at += period - in;
            continue;
        }
        int len = o->run - in < cols - at ? o->run - in : cols - at;
        part[n++] = (c_part){at, len, (size_t)(j / period) * o->run + (size_t)in};
        at += len;
    }
    return n;
}

/* The epilogue of one micro-tile: rows [i0, i0 + rows) and columns [j0, j0 + cols) of the
 * product from the sums acc (row r, column j at acc[r][j]). The subtraction wraps (unsigned)
 * as the vector paths' does, so that even a corr the sums cannot reach gives the same bits. */
static void epilogue_c(const int32_t acc[MR][NR], int i0, int rows, int j0, int cols,
                       const cnn_qgemm_out *o) {
    c_part part[NR];
    int parts = c_parts(o, j0, cols, part);
    for (int r = 0; r < rows; r++) {
        int i = i0 + r;
        for (int t = 0; t < parts; t++) {
            float *c = o->C + (size_t)i * o->ldc + part[t].c;
            for (int j = 0; j < part[t].len; j++) {
                int32_t d = (int32_t)((uint32_t)acc[r][part[t].at + j] - (uint32_t)o->corr[i]);
                float y = (float)d * o->scale[i];
                y = y + o->bias[i];
                c[j] = o->relu && y < 0 ? 0.0f : y;
            }
        }
    }
}

/* The baseline micro-kernel: the sums of a block of MR rows (ap) and a panel (b). */
static void micro_c(const int8_t *ap, panel_src b, int k4n, int32_t acc[MR][NR]) {
    memset(acc, 0, sizeof(int32_t[MR][NR]));
    for (int q = 0; q < k4n; q++, ap += MR * 4) {
        const uint8_t *bp = group_at(b, q);
        for (int r = 0; r < MR; r++) {
            int32_t a0 = ap[r * 4], a1 = ap[r * 4 + 1], a2 = ap[r * 4 + 2], a3 = ap[r * 4 + 3];
            for (int j = 0; j < NR; j++)
                acc[r][j] += a0 * bp[j * 4] + a1 * bp[j * 4 + 1] + a2 * bp[j * 4 + 2] +
                             a3 * bp[j * 4 + 3];
        }
    }
}

/* The baseline over a tile: panel after panel, and in each every row block (a panel, K * 16
 * bytes, stays in cache while the blocks of A stream past). */
static void tiles_c(int K, const int8_t *Ap, const cnn_qgemm_b *B, int m0, int m1, int n0,
                    int n1, const cnn_qgemm_out *out) {
    int k4n = (K + 3) / 4;
    for (int j0 = n0; j0 < n1; j0 += NR) {
        panel_src b = panel_at(B, k4n, j0);
        for (int i0 = m0; i0 < m1; i0 += MR) {
            int32_t acc[MR][NR];
            micro_c(Ap + (size_t)(i0 / MR) * k4n * MR * 4, b, k4n, acc);
            epilogue_c(acc, i0, m1 - i0 < MR ? m1 - i0 : MR, j0, n1 - j0 < NR ? n1 - j0 : NR, out);
        }
    }
}

#if defined(__GNUC__) && !defined(__clang__) && defined(__x86_64__)
#define QGEMM_SIMD 1
#include <immintrin.h>

/* Helpers of the vector paths carry AVX2 only, the common part of the targets that inline
 * them (a function may inline one whose target is a subset of its own). */
#define AVX2_INLINE static inline __attribute__((target("avx2"), always_inline))

/* 8 columns of one row of the epilogue (see epilogue_c). The empty asm keeps the product a
 * separate rounding whatever the compiler's contraction setting: FMA is enabled with AVX-512,
 * and a fused multiply-add would differ from the baseline's bits. max(0, y) is 0 > y ? 0 : y,
 * exactly the baseline's test (NaN and -0 pass through). */
AVX2_INLINE void epilogue8(const int32_t *acc, __m256i corr, __m256 scale, __m256 bias, int relu,
                           float *c, int cols) {
    __m256i lanes = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
    __m256i sums = cols >= 8 ? _mm256_loadu_si256((const __m256i *)acc)
                             : _mm256_maskload_epi32(
                                   acc, _mm256_cmpgt_epi32(_mm256_set1_epi32(cols), lanes));
    __m256i d = _mm256_sub_epi32(sums, corr);
    __m256 y = _mm256_mul_ps(_mm256_cvtepi32_ps(d), scale);
    __asm__("" : "+x"(y));
    y = _mm256_add_ps(y, bias);
    if (relu) y = _mm256_max_ps(_mm256_setzero_ps(), y);
    if (cols >= 8) {
        _mm256_storeu_ps(c, y);
    } else {
        float t[8];
        _mm256_storeu_ps(t, y);
        memcpy(c, t, (size_t)cols * sizeof *c);
    }
}

/* As epilogue_c; only the columns [0, cols) of acc are read (a half tile leaves 8-15). */
AVX2_INLINE void epilogue_avx2(const int32_t acc[MR][NR], int i0, int rows, int j0, int cols,
                               const cnn_qgemm_out *o) {
    if (!o->run) { /* (the commonest case on its own: the parts' loops cost 3-5% at K = 576) */
        for (int r = 0; r < rows; r++) {
            int i = i0 + r;
            float *c = o->C + (size_t)i * o->ldc + j0;
            __m256i corr = _mm256_set1_epi32(o->corr[i]);
            __m256 scale = _mm256_set1_ps(o->scale[i]), bias = _mm256_set1_ps(o->bias[i]);
            epilogue8(acc[r], corr, scale, bias, o->relu, c, cols);
            if (cols > 8) epilogue8(acc[r] + 8, corr, scale, bias, o->relu, c + 8, cols - 8);
        }
        return;
    }
    c_part part[NR];
    int parts = c_parts(o, j0, cols, part);
    for (int r = 0; r < rows; r++) {
        int i = i0 + r;
        __m256i corr = _mm256_set1_epi32(o->corr[i]);
        __m256 scale = _mm256_set1_ps(o->scale[i]), bias = _mm256_set1_ps(o->bias[i]);
        for (int t = 0; t < parts; t++) {
            float *c = o->C + (size_t)i * o->ldc + part[t].c;
            for (int j = 0; j < part[t].len; j += 8)
                epilogue8(acc[r] + part[t].at + j, corr, scale, bias, o->relu, c + j,
                          part[t].len - j);
        }
    }
}

/* vpdpbusd: acc + the dot products of 4 u8 (of u8) by 4 s8 (of s8), per int32 lane. The
 * intrinsics of AVX-VNNI (_mm256_dpbusd_avx_epi32) and of AVX-512 VNNI with VL
 * (_mm256_dpbusd_epi32) both are this builtin. Written as the builtin, one body compiles for
 * both targets, GCC encoding it (VEX or EVEX) for the function it is inlined into; an
 * intrinsic, a function of one target, could not be inlined into a body shared with the other. */
#define DPBUSD(acc, u8, s8)                                                                    \
    ((__m256i)__builtin_ia32_vpdpbusd_v8si((__v8si)(acc), (__v8si)(u8), (__v8si)(s8)))

_Static_assert(MR == 6, "the micro-kernels below are written out for 6 rows");

/* A row's 4 bytes of a group of k in every int32 lane (one 32-bit broadcast from memory). */
AVX2_INLINE __m256i load_a4(const int8_t *p) {
    int32_t v;
    memcpy(&v, p, 4);
    return _mm256_set1_epi32(v);
}

/* The VNNI micro-kernel: 6 rows x 16 columns, two accumulators a row (columns 0-7, 8-15); with
 * half set, columns 0-7 only (a panel's last 8 columns all padding: 49 = 3 * 16 + 1 columns
 * would otherwise cost 4 full panels). */
AVX2_INLINE void micro_vnni(const int8_t *ap, panel_src pb, int k4n, int32_t acc[MR][NR],
                            int half) {
    __m256i c00 = _mm256_setzero_si256(), c01 = c00, c10 = c00, c11 = c00, c20 = c00, c21 = c00,
            c30 = c00, c31 = c00, c40 = c00, c41 = c00, c50 = c00, c51 = c00;
    for (int q = 0; q < k4n; q++, ap += MR * 4) {
        const uint8_t *bp = group_at(pb, q);
        __m256i b0 = _mm256_loadu_si256((const __m256i *)bp), b1 = b0, a;
        if (!half) b1 = _mm256_loadu_si256((const __m256i *)(bp + 32));
#define ROW(r)                                                                                 \
    a = load_a4(ap + 4 * r);                                                                   \
    c##r##0 = DPBUSD(c##r##0, b0, a);                                                          \
    if (!half) c##r##1 = DPBUSD(c##r##1, b1, a)
        ROW(0); ROW(1); ROW(2); ROW(3); ROW(4); ROW(5);
#undef ROW
    }
#define STORE(r)                                                                               \
    _mm256_storeu_si256((__m256i *)acc[r], c##r##0);                                           \
    if (!half) _mm256_storeu_si256((__m256i *)(acc[r] + 8), c##r##1)
    STORE(0); STORE(1); STORE(2); STORE(3); STORE(4); STORE(5);
#undef STORE
}

/* Every panel of the tile, and in it every row block (a panel, K * 16 bytes, stays in cache
 * while the blocks of A stream past). */
AVX2_INLINE void tiles_vnni_body(int K, const int8_t *Ap, const cnn_qgemm_b *B, int m0, int m1,
                                 int n0, int n1, const cnn_qgemm_out *out) {
    int k4n = (K + 3) / 4;
    for (int j0 = n0; j0 < n1; j0 += NR) {
        panel_src bp = panel_at(B, k4n, j0);
        int cols = n1 - j0 < NR ? n1 - j0 : NR;
        for (int i0 = m0; i0 < m1; i0 += MR) {
            const int8_t *ap = Ap + (size_t)(i0 / MR) * k4n * MR * 4;
            int32_t acc[MR][NR];
            if (cols > 8)
                micro_vnni(ap, bp, k4n, acc, 0);
            else
                micro_vnni(ap, bp, k4n, acc, 1);
            epilogue_avx2(acc, i0, m1 - i0 < MR ? m1 - i0 : MR, j0, cols, out);
        }
    }
}

/* The same code for AVX-VNNI's VEX encoding and for AVX-512 VNNI's EVEX one: hosts with only
 * one of them exist both ways (Alder Lake has no AVX-512; Ice Lake has no AVX-VNNI). */
__attribute__((target("avx2,avxvnni"))) static void
tiles_avxvnni(int K, const int8_t *Ap, const cnn_qgemm_b *B, int m0, int m1, int n0, int n1,
              const cnn_qgemm_out *out) {
    tiles_vnni_body(K, Ap, B, m0, m1, n0, n1, out);
}

__attribute__((target("avx2,avx512vnni,avx512vl"))) static void
tiles_avx512vnni(int K, const int8_t *Ap, const cnn_qgemm_b *B, int m0, int m1, int n0,
                 int n1, const cnn_qgemm_out *out) {
    tiles_vnni_body(K, Ap, B, m0, m1, n0, n1, out);
}

/* The AVX-512 micro-kernel: 6 rows x up to 4 panels (64 columns), one 512-bit accumulator per
 * row and panel: a panel's group of 4 k (64 bytes) is exactly one vector of B. nv: panels. */
#define AVX512_INLINE                                                                          \
    static inline __attribute__((target("avx2,avx512f,avx512bw,avx512vl,avx512vnni"),           \
                                 always_inline))
AVX512_INLINE void micro_zmm(int nv, int inplace, const int8_t *ap, panel_src pb, int k4n,
                             int32_t acc[4][MR][NR]) {
    __m512i c[MR][4];
#pragma GCC unroll 6
    for (int r = 0; r < MR; r++)
#pragma GCC unroll 4
        for (int v = 0; v < 4; v++) c[r][v] = _mm512_setzero_si512();
    for (int q = 0; q < k4n; q++, ap += MR * 4) {
        /* (inplace is a constant here: no test in the loop, where it cost 3-5%) */
        const uint8_t *bp = inplace ? pb.p + pb.off[q] : pb.p + (size_t)64 * q;
        __m512i b[4];
#pragma GCC unroll 4
        for (int v = 0; v < nv; v++) b[v] = _mm512_loadu_si512(bp + (size_t)v * pb.next);
#pragma GCC unroll 6
        for (int r = 0; r < MR; r++) {
            int32_t a4;
            memcpy(&a4, ap + 4 * r, 4);
            __m512i a = _mm512_set1_epi32(a4);
#pragma GCC unroll 4
            for (int v = 0; v < nv; v++) c[r][v] = _mm512_dpbusd_epi32(c[r][v], b[v], a);
        }
    }
#pragma GCC unroll 6
    for (int r = 0; r < MR; r++)
#pragma GCC unroll 4
        for (int v = 0; v < nv; v++) _mm512_storeu_si512(acc[v][r], c[r][v]);
}

/* The edge of a tile on this path: its 1 to EDGE_COLS columns past the last whole panel,
 * multiplied along k rather than as a panel of 16 lanes, 15 of which would be padding
 * (ResNet-18's 7x7 maps at batch 1 are 3 panels and 1 column: the fourth panel was a quarter
 * of their products). The edge's bytes, the first 16 of each 64-byte group of its panel
 * (column c's 4 bytes at 4c), are copied to the stack once per tile, in whole periods of 8
 * groups; a period of a block of A is 192 bytes, 3 vectors whose lane l holds row l % 6 of
 * group l / 6, and a permutation of the period's 8 groups of B puts column c's bytes of group
 * l / 6 in lane l. Row r's sum is then the sum of the lanes l = r (mod 6) of its column's 3
 * accumulators: integers, so the same bits as the panel. */
#define EDGE_COLS 4
#define EDGE_BYTES 32768 /* the edge's copy on the stack: K up to 8192 */

/* The lanes of vector v (0-2) of a period of A that hold its first `groups` groups (6 lanes a
 * group): a last, partial period reads nothing past them. */
static inline __mmask16 edge_mask(int v, int groups) {
    int lanes = 6 * groups - 16 * v;
    return (__mmask16)(lanes >= 16 ? 0xffff : lanes <= 0 ? 0 : (1u << lanes) - 1);
}

/* The sums of row block ap (k4n groups) and the edge's ncol columns (eb: 16 bytes a group),
 * into acc[r][c] (columns ncol to 7: 0). */
AVX512_INLINE void edge_zmm(int ncol, const int8_t *ap, const uint8_t *eb, int k4n,
                            int32_t acc[MR][NR]) {
    __m512i c[EDGE_COLS][3], idx[3];
#pragma GCC unroll 3
    for (int v = 0; v < 3; v++) {
        int32_t lane[16];
        for (int l = 0; l < 16; l++) lane[l] = (16 * v + l) / 6 * 4; /* group's column 0 */
        idx[v] = _mm512_loadu_si512(lane);
#pragma GCC unroll 4
        for (int col = 0; col < EDGE_COLS; col++) c[col][v] = _mm512_setzero_si512();
    }
    for (int q = 0; q < k4n; q += 8, ap += 192, eb += 128) {
        __m512i a[3], b0 = _mm512_loadu_si512(eb), b1 = _mm512_loadu_si512(eb + 64);
#pragma GCC unroll 3
        for (int v = 0; v < 3; v++)
            a[v] = k4n - q >= 8 ? _mm512_loadu_si512(ap + 64 * v)
                                : _mm512_maskz_loadu_epi32(edge_mask(v, k4n - q), ap + 64 * v);
#pragma GCC unroll 4
        for (int col = 0; col < ncol; col++)
#pragma GCC unroll 3
            for (int v = 0; v < 3; v++) {
                __m512i bx = _mm512_permutex2var_epi32(
                    b0, _mm512_add_epi32(idx[v], _mm512_set1_epi32(col)), b1);
                c[col][v] = _mm512_dpbusd_epi32(c[col][v], bx, a[v]);
            }
    }
    for (int col = 0; col < 8; col++) { /* the epilogue reads 8 columns */
        int32_t t[48];
        if (col < ncol)
#pragma GCC unroll 3
            for (int v = 0; v < 3; v++) _mm512_storeu_si512(t + 16 * v, c[col][v]);
        for (int r = 0; r < MR; r++) {
            uint32_t s = 0; /* wrapping, as the lanes' own sums */
            if (col < ncol)
                for (int l = r; l < 48; l += 6) s += (uint32_t)t[l];
            acc[r][col] = (int32_t)s;
        }
    }
}

/* The edge's bytes of panel b (k4n groups) copied to eb, zeros up to a whole period. */
static inline void edge_copy(panel_src b, int k4n, uint8_t *eb) {
    int q = 0;
    for (; q < k4n; q++) memcpy(eb + 16 * q, group_at(b, q), 16);
    for (; q % 8; q++) memset(eb + 16 * q, 0, 16);
}

/* As tiles_vnni_body, four panels at a time (their K * 64 bytes stay in cache while the blocks
 * of A stream past); each panel's sums get the same epilogue as on the 256-bit paths. A last
 * panel of 1 to EDGE_COLS columns is an edge (above) when its copy fits EDGE_BYTES. */
AVX512_INLINE void tiles_zmm_body(int K, const int8_t *Ap, const cnn_qgemm_b *B, int m0, int m1,
                                int n0, int n1, const cnn_qgemm_out *out, int inplace) {
    int k4n = (K + 3) / 4;
    _Alignas(64) uint8_t eb[EDGE_BYTES];
    int edge_fits = (size_t)(k4n + 7) / 8 * 128 <= sizeof eb;
    for (int j0 = n0; j0 < n1; j0 += 4 * NR) {
        panel_src bp = panel_at(B, k4n, j0);
        int nv = (n1 - j0 + NR - 1) / NR;
        if (nv > 4) nv = 4;
        int last = n1 - j0 - (nv - 1) * NR; /* columns of the last panel */
        int edge = edge_fits && last <= EDGE_COLS ? last : 0;
        int full = edge ? nv - 1 : nv; /* panels multiplied as panels */
        if (edge) edge_copy(panel_at(B, k4n, j0 + full * NR), k4n, eb);
        for (int i0 = m0; i0 < m1; i0 += MR) {
            const int8_t *ap = Ap + (size_t)(i0 / MR) * k4n * MR * 4;
            int32_t acc[4][MR][NR];
            switch (full) {
            case 4: micro_zmm(4, inplace, ap, bp, k4n, acc); break;
            case 3: micro_zmm(3, inplace, ap, bp, k4n, acc); break;
            case 2: micro_zmm(2, inplace, ap, bp, k4n, acc); break;
            case 1: micro_zmm(1, inplace, ap, bp, k4n, acc); break;
            default: break;
            }
            switch (edge) {
            case 4: edge_zmm(4, ap, eb, k4n, acc[full]); break;
            case 3: edge_zmm(3, ap, eb, k4n, acc[full]); break;
            case 2: edge_zmm(2, ap, eb, k4n, acc[full]); break;
            case 1: edge_zmm(1, ap, eb, k4n, acc[full]); break;
            default: break;
            }
            int rows = m1 - i0 < MR ? m1 - i0 : MR;
            for (int v = 0; v < nv; v++) {
                int j = j0 + v * NR, cols = n1 - j < NR ? n1 - j : NR;
                epilogue_avx2(acc[v], i0, rows, j, cols, out);
            }
        }
    }
}

/* tiles_zmm_body for each form of B, its inner loop without a test of the form. */
__attribute__((target("avx2,avx512f,avx512bw,avx512vl,avx512vnni"))) static void
tiles_zmm(int K, const int8_t *Ap, const cnn_qgemm_b *B, int m0, int m1, int n0, int n1,
          const cnn_qgemm_out *out) {
    if (B->off)
        tiles_zmm_body(K, Ap, B, m0, m1, n0, n1, out, 1);
    else
        tiles_zmm_body(K, Ap, B, m0, m1, n0, n1, out, 0);
}

/* The AVX2 path widens B to int16 ahead of the products, once for many rows: AVX2_KC4 groups of
 * 4 k of a panel at a time, into a buffer on the stack (8 KB: it stays in L1) that up to
 * AVX2_MC rows use, their sums waiting in a tile on the stack (6 KB) from chunk to chunk.
 * Widening in the inner loop instead cost 4 of its 22 instructions: 20% slower. */
#define AVX2_KC4 64
#define AVX2_MC (8 * MR)

/* Groups q0 .. q0 + n4 - 1 of 4 k of a panel (64 bytes each) widened to int16, 64 values a
 * group, in order. */
AVX2_INLINE void widen_b(panel_src b, int q0, int n4, int16_t *wb) {
    for (int g = 0; g < n4; g++) {
        const uint8_t *bp = group_at(b, q0 + g);
        for (int i = 0; i < 4; i++)
            _mm256_store_si256(
                (__m256i *)(wb + 64 * g + 16 * i),
                _mm256_cvtepu8_epi16(_mm_loadu_si128((const __m128i *)(bp + 16 * i))));
    }
}

/* A row's 4 values of a group of k, widened to int16 and repeated over the vector. Read as a
 * float so that GCC broadcasts straight from memory (vbroadcastss; as an int32 it took two
 * instructions, vmovd and vpshufd). */
AVX2_INLINE __m256i load_a4_i16(const int8_t *p) {
    float v;
    memcpy(&v, p, 4);
    return _mm256_cvtepi8_epi16(_mm_castps_si128(_mm_set1_ps(v)));
}

/* Vector v of row r's sums in raw (zero when they start), and back. */
#define LOAD_ACC(r, v)                                                                         \
    (first ? _mm256_setzero_si256() : _mm256_load_si256((const __m256i *)raw[r] + (v)))
#define STORE_ACC(r, v, x) _mm256_store_si256((__m256i *)raw[r] + (v), x)

/* The AVX2 micro-kernel: 2 rows (ap: the first's values in A's packed block) x 16 columns (8
 * with half set) over n4 groups of widened B (wb), added to the sums in raw[2][32] (or, with
 * first set, starting them). 16 int16 of wb are 4 columns x 4 k: vpmaddwd by the row's 4 values
 * repeated gives each column's sums over k 0-1 and 2-3 in adjacent int32 lanes (avx2_fold adds
 * them at the end). 2 rows: 8 accumulators; 3 rows (12) measured no faster. */
AVX2_INLINE void micro_avx2_body(const int8_t *ap, const int16_t *wb, int n4, int32_t raw[][32],
                                 int first, int half) {
    __m256i c00 = LOAD_ACC(0, 0), c01 = LOAD_ACC(0, 1), c10 = LOAD_ACC(1, 0), c11 = LOAD_ACC(1, 1);
    __m256i c02 = _mm256_setzero_si256(), c03 = c02, c12 = c02, c13 = c02;
    if (!half) {
        c02 = LOAD_ACC(0, 2), c03 = LOAD_ACC(0, 3), c12 = LOAD_ACC(1, 2), c13 = LOAD_ACC(1, 3);
    }
    for (int q = 0; q < n4; q++, ap += MR * 4, wb += 64) {
        const __m256i *b = (const __m256i *)wb;
        __m256i a;
#define ROW(r)                                                                                 \
    a = load_a4_i16(ap + 4 * r);                                                               \
    c##r##0 = _mm256_add_epi32(c##r##0, _mm256_madd_epi16(_mm256_load_si256(b), a));           \
    c##r##1 = _mm256_add_epi32(c##r##1, _mm256_madd_epi16(_mm256_load_si256(b + 1), a));       \
    if (!half) {                                                                               \
        c##r##2 = _mm256_add_epi32(c##r##2, _mm256_madd_epi16(_mm256_load_si256(b + 2), a));   \
        c##r##3 = _mm256_add_epi32(c##r##3, _mm256_madd_epi16(_mm256_load_si256(b + 3), a));   \
    }
        ROW(0) ROW(1)
#undef ROW
    }
    STORE_ACC(0, 0, c00), STORE_ACC(0, 1, c01), STORE_ACC(1, 0, c10), STORE_ACC(1, 1, c11);
    if (!half) {
        STORE_ACC(0, 2, c02), STORE_ACC(0, 3, c03), STORE_ACC(1, 2, c12), STORE_ACC(1, 3, c13);
    }
}
#undef LOAD_ACC
#undef STORE_ACC

/* Functions of their own: inlined into the loops around them, GCC's register allocation
 * copied and spilled accumulators. */
__attribute__((target("avx2"), noinline)) static void
micro_avx2(const int8_t *ap, const int16_t *wb, int n4, int32_t raw[][32], int first) {
    micro_avx2_body(ap, wb, n4, raw, first, 0);
}

__attribute__((target("avx2"), noinline)) static void
micro_avx2_half(const int8_t *ap, const int16_t *wb, int n4, int32_t raw[][32], int first) {
    micro_avx2_body(ap, wb, n4, raw, first, 1);
}

/* The sums of MR rows from their pairs: a row's first vector in raw holds columns 0-3 (k 0-1,
 * k 2-3 of column 0, then of column 1 ...), the second columns 4-7; hadd gives columns
 * 0 1 4 5 | 2 3 6 7, the permutation puts them in order. halves: 1 (columns 0-7) or 2. */
AVX2_INLINE void avx2_fold(int32_t raw[][32], int halves, int32_t acc[MR][NR]) {
    for (int r = 0; r < MR; r++)
        for (int h = 0; h < halves; h++) {
            __m256i lo = _mm256_load_si256((const __m256i *)raw[r] + 2 * h);
            __m256i hi = _mm256_load_si256((const __m256i *)raw[r] + 2 * h + 1);
            _mm256_storeu_si256((__m256i *)(acc[r] + 8 * h),
                                _mm256_permute4x64_epi64(_mm256_hadd_epi32(lo, hi), 0xD8));
        }
}

/* Rows [c0, c1) (at most AVX2_MC) of the panel bp, columns [j0, j0 + cols): B widened chunk by
 * chunk, each chunk used by every row block, then the epilogue. */
AVX2_INLINE void avx2_rows(int K, const int8_t *Ap, panel_src bp, int c0, int c1, int j0,
                           int cols, const cnn_qgemm_out *out) {
    int k4n = (K + 3) / 4;
    _Alignas(32) int16_t wb[AVX2_KC4 * 64];
    _Alignas(32) int32_t raw[AVX2_MC][32];
    for (int q0 = 0; q0 == 0 || q0 < k4n; q0 += AVX2_KC4) { /* once at least: K may be 0 */
        int n4 = k4n - q0 < AVX2_KC4 ? k4n - q0 : AVX2_KC4;
        widen_b(bp, q0, n4, wb);
        for (int i0 = c0; i0 < c1; i0 += MR) {
            const int8_t *ap = Ap + ((size_t)(i0 / MR) * k4n + q0) * MR * 4;
            for (int r = 0; r < MR; r += 2) {
                if (cols > 8)
                    micro_avx2(ap + 4 * r, wb, n4, raw + (i0 - c0 + r), q0 == 0);
                else
                    micro_avx2_half(ap + 4 * r, wb, n4, raw + (i0 - c0 + r), q0 == 0);
            }
        }
    }
    for (int i0 = c0; i0 < c1; i0 += MR) {
        int32_t acc[MR][NR];
        avx2_fold(raw + (i0 - c0), cols > 8 ? 2 : 1, acc);
        epilogue_avx2(acc, i0, c1 - i0 < MR ? c1 - i0 : MR, j0, cols, out);
    }
}

__attribute__((target("avx2"))) static void tiles_avx2(int K, const int8_t *Ap,
                                                       const cnn_qgemm_b *B, int m0, int m1,
                                                       int n0, int n1, const cnn_qgemm_out *out) {
    int k4n = (K + 3) / 4;
    for (int j0 = n0; j0 < n1; j0 += NR)
        for (int c0 = m0; c0 < m1; c0 += AVX2_MC)
            avx2_rows(K, Ap, panel_at(B, k4n, j0), c0,
                      m1 - c0 < AVX2_MC ? m1 : c0 + AVX2_MC, j0, n1 - j0 < NR ? n1 - j0 : NR, out);
}
#endif /* QGEMM_SIMD */

void cnn_qgemm(int M, int N, int K, const int8_t *Ap, const cnn_qgemm_b *B, int m0, int m1,
               int n0, int n1, const cnn_qgemm_out *out) {
    CNN_ASSERT(K >= 0 && K <= CNN_QGEMM_MAX_K);
    CNN_ASSERT(m0 >= 0 && m0 % MR == 0 && m0 <= m1 && m1 <= M);
    CNN_ASSERT(n0 >= 0 && n0 % NR == 0 && n0 <= n1 && n1 <= N);
    CNN_ASSERT(B && B->base && out && out->corr && out->scale && out->bias && out->C);
    CNN_ASSERT(out->run >= 0 && out->skip >= 0 && (out->run > 0 || out->skip == 0));
    if (m0 == m1 || n0 == n1) return;
#ifdef QGEMM_SIMD
    int isa = cnn_isa();
    if (isa >= CNN_ISA_AVX512) {
        tiles_zmm(K, Ap, B, m0, m1, n0, n1, out);
        return;
    }
    if (isa >= CNN_ISA_VNNI) {
        if (__builtin_cpu_supports("avxvnni"))
            tiles_avxvnni(K, Ap, B, m0, m1, n0, n1, out);
        else
            tiles_avx512vnni(K, Ap, B, m0, m1, n0, n1, out);
        return;
    }
    if (isa >= CNN_ISA_AVX2) {
        tiles_avx2(K, Ap, B, m0, m1, n0, n1, out);
        return;
    }
#endif
    tiles_c(K, Ap, B, m0, m1, n0, n1, out);
}

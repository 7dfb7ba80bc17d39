/*
 * winograd4.c - the transforms of F(4x4, 3x3): 4x4 output tiles from 6x6 input tiles, 36
 * products per tile where the direct sum makes 144, against 16 per 2x2 tile (64 per 16
 * outputs) for F(2x2, 3x3). winograd.c's drivers run them (see winograd.h for when).
 *
 * With the interpolation points 0, 1, -1, 2, -2 and infinity (Lavin and Gray):
 *   weights  U = G g G^T     G   = [ 1/4    0     0  ;      input  V = B^T d B
 *                                   -1/6  -1/6  -1/6 ;      B^T = [4  0 -5  0 1 0;
 *                                   -1/6   1/6  -1/6 ;             0 -4 -4  1 1 0;
 *                                    1/24  1/12  1/6 ;             0  4 -4 -1 1 0;
 *                                    1/24 -1/12  1/6 ;             0 -2 -1  2 1 0;
 *                                    0     0     1   ]             0  2 -1 -2 1 0;
 *   output   Y = A^T M A     A^T = [1 1  1 1  1 0;                 0  4  0 -5 0 1]
 *                                   0 1 -1 2 -2 0;
 *                                   0 1  1 4  4 0;
 *                                   0 1 -1 8 -8 1]
 * and for the weight gradient dM = A dY A^T and dg = G^T dU G.
 * The larger points cost digits: the input and output transforms multiply by up to 8, so an
 * output's rounding error is a few times F(2x2)'s (test_kernels bounds it against the
 * reference). The weights' transforms, which divide by 6 and 24, are computed in double and
 * rounded once, as are the kernels' gradients; a network in evaluation keeps the transforms
 * (conv.c).
 *
 * As in winograd.c, each transform runs one loop over all the tiles of a chunk: the rows it
 * needs are first copied (with their zeros) into scratch laid out so that tile t finds its
 * six columns at Q[4t .. 4t + 3] and Q2[4t], Q2[4t + 1], and the bodies are compiled for
 * AVX2 and for the baseline, the same operations in the same order (the same bits).
 */
#include "winograd_dir.h"
#include "../core/internal.h"

#include <string.h>

/* The three 1-D transforms, on named values (GCC vectorises a loop over tiles only when
 * nothing inside it loops): G on the kernel's 3 taps (in double), B^T on 6 inputs, A^T on 6
 * products. The outputs are lvalues, assigned in order. */
#define G_3(g0, g1, g2, r0, r1, r2, r3, r4, r5)                                               \
    do {                                                                                      \
        double g0_ = (g0), g1_ = (g1), g2_ = (g2);                                            \
        r0 = g0_ / 4.0;                                                                       \
        r1 = -(g0_ + g1_ + g2_) / 6.0;                                                        \
        r2 = -(g0_ - g1_ + g2_) / 6.0;                                                        \
        r3 = g0_ / 24.0 + g1_ / 12.0 + g2_ / 6.0;                                             \
        r4 = g0_ / 24.0 - g1_ / 12.0 + g2_ / 6.0;                                             \
        r5 = g2_;                                                                             \
    } while (0)
#define BT_6(x0, x1, x2, x3, x4, x5, r0, r1, r2, r3, r4, r5)                                  \
    do {                                                                                      \
        float x0_ = (x0), x1_ = (x1), x2_ = (x2), x3_ = (x3), x4_ = (x4), x5_ = (x5);         \
        r0 = (4.0f * x0_ - 5.0f * x2_) + x4_;                                                 \
        r1 = (x3_ + x4_) - 4.0f * (x1_ + x2_);                                                \
        r2 = (x4_ - x3_) + 4.0f * (x1_ - x2_);                                                \
        r3 = (x4_ - x2_) + 2.0f * (x3_ - x1_);                                                \
        r4 = (x4_ - x2_) - 2.0f * (x3_ - x1_);                                                \
        r5 = (4.0f * x1_ - 5.0f * x3_) + x5_;                                                 \
    } while (0)
#define AT_6(x0, x1, x2, x3, x4, x5, r0, r1, r2, r3)                                          \
    do {                                                                                      \
        float x0_ = (x0), x1_ = (x1), x2_ = (x2), x3_ = (x3), x4_ = (x4), x5_ = (x5);         \
        float s1_ = x1_ + x2_, d1_ = x1_ - x2_, s2_ = x3_ + x4_, d2_ = x3_ - x4_;             \
        r0 = (x0_ + s1_) + s2_;                                                               \
        r1 = d1_ + 2.0f * d2_;                                                                \
        r2 = s1_ + 4.0f * s2_;                                                                \
        r3 = (d1_ + 8.0f * d2_) + x5_;                                                        \
    } while (0)

/* The adjoints, for the weight gradient: A on a tile's 4 output gradients (dM = A dY A^T),
 * G^T on 6 transformed-weight gradients (dg = G^T dU G, in double as G is). */
#define A_4(y0, y1, y2, y3, r0, r1, r2, r3, r4, r5)                                           \
    do {                                                                                      \
        float y0_ = (y0), y1_ = (y1), y2_ = (y2), y3_ = (y3);                                 \
        float e1_ = y0_ + y2_, o1_ = y1_ + y3_, e2_ = y0_ + 4.0f * y2_;                       \
        float o2_ = 2.0f * y1_ + 8.0f * y3_;                                                  \
        r0 = y0_;                                                                             \
        r1 = e1_ + o1_;                                                                       \
        r2 = e1_ - o1_;                                                                       \
        r3 = e2_ + o2_;                                                                       \
        r4 = e2_ - o2_;                                                                       \
        r5 = y3_;                                                                             \
    } while (0)
#define GT_6(u0, u1, u2, u3, u4, u5, r0, r1, r2)                                              \
    do {                                                                                      \
        double u0_ = (u0), u1_ = (u1), u2_ = (u2), u3_ = (u3), u4_ = (u4), u5_ = (u5);        \
        r0 = (u0_ / 4.0 - (u1_ + u2_) / 6.0) + (u3_ + u4_) / 24.0;                            \
        r1 = (u2_ - u1_) / 6.0 + (u3_ - u4_) / 12.0;                                          \
        r2 = ((u3_ + u4_) - (u1_ + u2_)) / 6.0 + u5_;                                         \
    } while (0)

/* ---------------------------------------------------------------------------------------------
 * Weights
 * ------------------------------------------------------------------------------------------- */

static inline CNN_BODY void weight_row4_body(const float *restrict k, int C, float *restrict u,
                                             size_t plane) {
    size_t Cs = (size_t)C;
#define K_(tap) ((double)k[(size_t)(tap) * Cs + (size_t)c])
#define U_(xi) u[(size_t)(xi) * plane + (size_t)c]
#pragma omp simd
    for (int c = 0; c < C; c++) {
        /* G down the columns (over the kernel's rows): t<r><b>; then along the rows. */
        double t00, t10, t20, t30, t40, t50, t01, t11, t21, t31, t41, t51;
        double t02, t12, t22, t32, t42, t52;
        G_3(K_(0), K_(3), K_(6), t00, t10, t20, t30, t40, t50);
        G_3(K_(1), K_(4), K_(7), t01, t11, t21, t31, t41, t51);
        G_3(K_(2), K_(5), K_(8), t02, t12, t22, t32, t42, t52);
        G_3(t00, t01, t02, U_(0), U_(1), U_(2), U_(3), U_(4), U_(5));
        G_3(t10, t11, t12, U_(6), U_(7), U_(8), U_(9), U_(10), U_(11));
        G_3(t20, t21, t22, U_(12), U_(13), U_(14), U_(15), U_(16), U_(17));
        G_3(t30, t31, t32, U_(18), U_(19), U_(20), U_(21), U_(22), U_(23));
        G_3(t40, t41, t42, U_(24), U_(25), U_(26), U_(27), U_(28), U_(29));
        G_3(t50, t51, t52, U_(30), U_(31), U_(32), U_(33), U_(34), U_(35));
    }
#undef K_
#undef U_
}
CNN_DISPATCH(weight_row4,
             (const float *restrict k, int C, float *restrict u, size_t plane),
             (k, C, u, plane))

/* ---------------------------------------------------------------------------------------------
 * Input
 * ------------------------------------------------------------------------------------------- */

static size_t scratch4(const wdir *d) {
    size_t T = (size_t)d->T;
    size_t input = 48 * T + (size_t)d->W; /* Q, Q2 of 6 rows; a row of zeros */
    size_t output = 16 * T;               /* the 16 outputs of each tile */
    return input > output ? input : output;
}

/* B^T down columns [j0, j1) of six padded input rows into rows dst + k seg at dst[j - j0]:
 * padded column j is column j - pl of each row x[k] (W columns), zero beyond them, where
 * the transform is zero too. */
static inline CNN_BODY void input_columns4(const float *const x[6], int W, int pl, int j0,
                                           int j1, float *restrict dst, size_t seg) {
    int a = j0 > pl ? j0 : pl, b = j1 < pl + W ? j1 : pl + W;
    if (b < a) a = b = j1;
    for (int k = 0; k < 6; k++) {
        memset(dst + k * seg, 0, (size_t)(a - j0) * sizeof *dst);
        memset(dst + k * seg + (b - j0), 0, (size_t)(j1 - b) * sizeof *dst);
    }
    const float *restrict x0 = x[0], *restrict x1 = x[1], *restrict x2 = x[2];
    const float *restrict x3 = x[3], *restrict x4 = x[4], *restrict x5 = x[5];
    float *restrict d0 = dst, *restrict d1 = d0 + seg, *restrict d2 = d1 + seg;
    float *restrict d3 = d2 + seg, *restrict d4 = d3 + seg, *restrict d5 = d4 + seg;
    int off = pl - j0; /* column c of the rows is dst's c + off */
#pragma omp simd
    for (int c = a - pl; c < b - pl; c++) {
        BT_6(x0[c], x1[c], x2[c], x3[c], x4[c], x5[c], d0[c + off], d1[c + off], d2[c + off],
             d3[c + off], d4[c + off], d5[c + off]);
    }
}

/* The 36 input positions of channel ci's tiles in `rows` tile rows from q0: B^T down the
 * columns of each tile row's six input rows (a row of zeros above and below the input) into
 * Q (its first 4 tw columns) and Q2 (from column 4 on), tile row after tile row, so that one
 * loop over all the tiles applies B along the rows. */
static inline CNN_BODY void input_chunk4_body(const wdir *d, const float *in, size_t q0,
                                              int rows, int ci, float *v, size_t vs, float *s) {
    int tw = d->tw, tiles = rows * tw;
    size_t seg = 4 * (size_t)d->T; /* floats of one row's Q or Q2 */
    float *Q = s, *Q2 = s + 6 * seg, *zero = s + 12 * seg;
    memset(zero, 0, (size_t)d->W * sizeof *zero);
    for (int r = 0; r < rows; r++) {
        size_t sample;
        int ti;
        cnn_wino_tile_row(d, q0 + (size_t)r, &sample, &ti);
        const float *plane = in + (sample * d->CI + (size_t)ci) * d->H * d->W, *x[6];
        for (int k = 0; k < 6; k++) {
            long long row = 4LL * ti - d->pt + k;
            x[k] = row < 0 || row >= d->H ? zero : plane + (size_t)row * d->W;
        }
        size_t at = (size_t)r * 4 * tw;
        input_columns4(x, d->W, d->pl, 0, 4 * tw, Q + at, seg);
        input_columns4(x, d->W, d->pl, 4, 4 * tw + 4, Q2 + at, seg);
    }
    /* B along the rows: tile t's columns are Q[4t .. 4t + 3], Q2[4t], Q2[4t + 1]. */
    for (int i = 0; i < 6; i++) {
        const float *restrict q = Q + i * seg, *restrict q2 = Q2 + i * seg;
        float *restrict v0 = v + (size_t)(6 * i) * vs, *restrict v1 = v0 + vs;
        float *restrict v2 = v1 + vs, *restrict v3 = v2 + vs, *restrict v4 = v3 + vs;
        float *restrict v5 = v4 + vs; /* (named: GCC vectorises this loop so) */
#pragma omp simd
        for (int t = 0; t < tiles; t++) {
            BT_6(q[4 * t], q[4 * t + 1], q[4 * t + 2], q[4 * t + 3], q2[4 * t], q2[4 * t + 1],
                 v0[t], v1[t], v2[t], v3[t], v4[t], v5[t]);
        }
    }
}
CNN_DISPATCH(input_chunk4,
             (const wdir *d, const float *in, size_t q0, int rows, int ci, float *v, size_t vs,
              float *s),
             (d, in, q0, rows, ci, v, vs, s))

/* ---------------------------------------------------------------------------------------------
 * Output
 * ------------------------------------------------------------------------------------------- */

/* One output row from its tiles' values, in order (y[j] is column j): stored plus bias
 * (max(., 0) of it when relu), or added when accumulate (as F(2x2, 3x3)'s store_row). */
static inline CNN_BODY void store_row4(float *restrict dst, const float *restrict y, int OW,
                                       float bias, int accumulate, int relu) {
    if (relu) {
#pragma omp simd
        for (int j = 0; j < OW; j++) {
            float a = y[j] + bias;
            dst[j] = a < 0.0f ? 0.0f : a;
        }
    } else if (accumulate) {
#pragma omp simd
        for (int j = 0; j < OW; j++) dst[j] += y[j] + bias;
    } else {
#pragma omp simd
        for (int j = 0; j < OW; j++) dst[j] = y[j] + bias;
    }
}

/* The output of channel co in `rows` tile rows from q0: Y = A^T M A for every tile in one
 * loop into the four rows y[r] of scratch (4 T floats each: row r of tile t at
 * y[r][4t .. 4t + 3], so that each tile row's output rows lie in order), then the rows
 * stored. */
static inline CNN_BODY void output_chunk4_body(const wdir *d, const float *m, size_t ms,
                                               size_t q0, int rows, int co, float bias,
                                               float *out, int accumulate, float *s) {
    int tw = d->tw, tiles = rows * tw;
    size_t seg = 4 * (size_t)d->T;
    const float *restrict z = m;
    float *restrict y = s;
#define Z_(xi) z[(size_t)(xi) * ms + (size_t)t]
#define Y_(r, c) y[(size_t)(r) * seg + 4 * (size_t)t + (c)]
#pragma omp simd
    for (int t = 0; t < tiles; t++) {
        /* A^T down each of the six columns: a<r><k>; then along each row r into Y_(r, c). */
        float a00, a10, a20, a30, a01, a11, a21, a31, a02, a12, a22, a32;
        float a03, a13, a23, a33, a04, a14, a24, a34, a05, a15, a25, a35;
        AT_6(Z_(0), Z_(6), Z_(12), Z_(18), Z_(24), Z_(30), a00, a10, a20, a30);
        AT_6(Z_(1), Z_(7), Z_(13), Z_(19), Z_(25), Z_(31), a01, a11, a21, a31);
        AT_6(Z_(2), Z_(8), Z_(14), Z_(20), Z_(26), Z_(32), a02, a12, a22, a32);
        AT_6(Z_(3), Z_(9), Z_(15), Z_(21), Z_(27), Z_(33), a03, a13, a23, a33);
        AT_6(Z_(4), Z_(10), Z_(16), Z_(22), Z_(28), Z_(34), a04, a14, a24, a34);
        AT_6(Z_(5), Z_(11), Z_(17), Z_(23), Z_(29), Z_(35), a05, a15, a25, a35);
        AT_6(a00, a01, a02, a03, a04, a05, Y_(0, 0), Y_(0, 1), Y_(0, 2), Y_(0, 3));
        AT_6(a10, a11, a12, a13, a14, a15, Y_(1, 0), Y_(1, 1), Y_(1, 2), Y_(1, 3));
        AT_6(a20, a21, a22, a23, a24, a25, Y_(2, 0), Y_(2, 1), Y_(2, 2), Y_(2, 3));
        AT_6(a30, a31, a32, a33, a34, a35, Y_(3, 0), Y_(3, 1), Y_(3, 2), Y_(3, 3));
    }
#undef Z_
#undef Y_
    size_t oplane = (size_t)d->OH * d->OW;
    for (int r = 0; r < rows; r++) {
        size_t sample;
        int ti;
        cnn_wino_tile_row(d, q0 + (size_t)r, &sample, &ti);
        float *plane = out + (sample * d->CO + (size_t)co) * oplane;
        size_t at = 4 * (size_t)r * tw;
        for (int k = 0; k < 4 && 4 * ti + k < d->OH; k++)
            store_row4(plane + (size_t)(4 * ti + k) * d->OW, y + (size_t)k * seg + at, d->OW,
                       bias, accumulate, d->relu);
    }
}
CNN_DISPATCH(output_chunk4,
             (const wdir *d, const float *m, size_t ms, size_t q0, int rows, int co, float bias,
              float *out, int accumulate, float *s),
             (d, m, ms, q0, rows, co, bias, out, accumulate, s))

/* ---------------------------------------------------------------------------------------------
 * The weight gradient
 * ------------------------------------------------------------------------------------------- */

/* dM = A dY A^T of channel co in `rows` tile rows from q0, from dy (zero beyond its edges)
 * into m[xi ms + t]: each tile row's four rows of dy go, with zeros to 4 tw columns, to
 * y[r] (4 T floats each), so that tile t finds row r's values at y[r][4t .. 4t + 3]. s:
 * scratch of 16 T floats. */
static inline CNN_BODY void grad_chunk4_body(const wdir *d, const float *dy, size_t q0, int rows,
                                             int co, float *m, size_t ms, float *s) {
    int tiles = rows * d->tw;
    size_t seg = 4 * (size_t)d->T;
    cnn_wino_dy_rows(d, dy, q0, rows, co, s, seg);
    const float *restrict y0 = s, *restrict y1 = s + seg, *restrict y2 = s + 2 * seg,
                          *restrict y3 = s + 3 * seg;
    float *restrict z = m;
#define Z_(xi) z[(size_t)(xi) * ms + (size_t)t]
#pragma omp simd
    for (int t = 0; t < tiles; t++) {
        /* A down each of the four columns: b<i><c>; then along each row i into Z(6 i + j). */
        float b00, b10, b20, b30, b40, b50, b01, b11, b21, b31, b41, b51;
        float b02, b12, b22, b32, b42, b52, b03, b13, b23, b33, b43, b53;
        A_4(y0[4 * t], y1[4 * t], y2[4 * t], y3[4 * t], b00, b10, b20, b30, b40, b50);
        A_4(y0[4 * t + 1], y1[4 * t + 1], y2[4 * t + 1], y3[4 * t + 1], b01, b11, b21, b31,
            b41, b51);
        A_4(y0[4 * t + 2], y1[4 * t + 2], y2[4 * t + 2], y3[4 * t + 2], b02, b12, b22, b32,
            b42, b52);
        A_4(y0[4 * t + 3], y1[4 * t + 3], y2[4 * t + 3], y3[4 * t + 3], b03, b13, b23, b33,
            b43, b53);
        A_4(b00, b01, b02, b03, Z_(0), Z_(1), Z_(2), Z_(3), Z_(4), Z_(5));
        A_4(b10, b11, b12, b13, Z_(6), Z_(7), Z_(8), Z_(9), Z_(10), Z_(11));
        A_4(b20, b21, b22, b23, Z_(12), Z_(13), Z_(14), Z_(15), Z_(16), Z_(17));
        A_4(b30, b31, b32, b33, Z_(18), Z_(19), Z_(20), Z_(21), Z_(22), Z_(23));
        A_4(b40, b41, b42, b43, Z_(24), Z_(25), Z_(26), Z_(27), Z_(28), Z_(29));
        A_4(b50, b51, b52, b53, Z_(30), Z_(31), Z_(32), Z_(33), Z_(34), Z_(35));
    }
#undef Z_
}
CNN_DISPATCH(grad_chunk4,
             (const wdir *d, const float *dy, size_t q0, int rows, int co, float *m, size_t ms,
              float *s),
             (d, dy, q0, rows, co, m, ms, s))

/* dw[c 9 ..] += G^T dU G for c < C, dU at du[xi plane + c]: G^T down each of the six columns
 * (t<a><j>), then along each of the three rows, in double, each gradient rounded once. */
static inline CNN_BODY void weight_grad_row4_body(const float *restrict du, size_t plane, int C,
                                                  float *restrict dw) {
#define D_(xi) ((double)du[(size_t)(xi) * plane + (size_t)c])
    for (int c = 0; c < C; c++) {
        double t0[6], t1[6], t2[6], k[9];
        for (int j = 0; j < 6; j++)
            GT_6(D_(j), D_(6 + j), D_(12 + j), D_(18 + j), D_(24 + j), D_(30 + j), t0[j], t1[j],
                 t2[j]);
        GT_6(t0[0], t0[1], t0[2], t0[3], t0[4], t0[5], k[0], k[1], k[2]);
        GT_6(t1[0], t1[1], t1[2], t1[3], t1[4], t1[5], k[3], k[4], k[5]);
        GT_6(t2[0], t2[1], t2[2], t2[3], t2[4], t2[5], k[6], k[7], k[8]);
        for (int tap = 0; tap < 9; tap++) dw[(size_t)c * 9 + (size_t)tap] += (float)k[tap];
    }
#undef D_
}
CNN_DISPATCH(weight_grad_row4,
             (const float *restrict du, size_t plane, int C, float *restrict dw),
             (du, plane, C, dw))

const wino_transforms cnn_wino4_transforms = {weight_row4,  input_chunk4,    output_chunk4,
                                              scratch4,     grad_chunk4,     weight_grad_row4};

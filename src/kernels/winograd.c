/*
 * winograd.c - 3x3 stride-1 convolutions by Winograd's minimal filtering: the drivers, and the
 * transforms of F(2x2, 3x3) (those of F(4x4, 3x3) are in winograd4.c). See winograd.h.
 *
 * F(2x2, 3x3)'s transforms, with rows of the 4x4 bracket numbered i and columns k
 * (xi = 4 i + k):
 *   weights  U = G g G^T     G   = [1 0 0; 1/2 1/2 1/2; 1/2 -1/2 1/2; 0 0 1]
 *   input    V = B^T d B     B^T = [1 0 -1 0; 0 1 1 0; 0 -1 1 0; 0 1 0 -1]
 *   output   Y = A^T M A     A^T = [1 1 1 0; 0 1 -1 -1]
 * and for the weight gradient dM = A dY A^T and dg = G^T dU G.
 *
 * A direction (wdir, winograd_dir.h) is one convolution these kernels compute. The forward
 * pass is g itself; the data gradient is the direction from dy (OC channels, OH x OW) to dx
 * (C channels, H x W) with the kernel turned by 180 degrees and PT' = 2 - PT, PL' = 2 - PL.
 *
 * The tile rows of the whole batch (N x ceil(OH/tile) of them) are cut into chunks of R rows,
 * R fixed by the shape; tile t of a chunk is its t-th tile in row-major order, across samples.
 * For each chunk, in one parallel region:
 *   1. each input channel's tiles are transformed into V (planes, CI, T) (a task per channel);
 *   2. the products M[xi] (CO, T) = U[xi] (CO, CI) V[xi] (CI, T), one task each;
 *   3. each output channel's tiles of M are transformed back into the output.
 * Every task writes values of its own, computed the same way whoever runs it.
 *
 * Each transform runs one loop over all the tiles of a chunk (a loop per tile row would be 2
 * tiles long in a 4x4 map): the rows it needs are first copied, with their zeros, into
 * scratch laid out so that tile t finds its values at 2t, 2t + 1 of each array. The 16 planes
 * are named pointers, so that GCC vectorises the loops (with arrays of 4 it did not).
 */
#include "winograd.h"
#include "gemm.h"
#include "winograd_dir.h"

#include <limits.h>
#include <string.h>

/* Floats of the transformed input and output of a chunk, V and M together, to aim for. */
#define WINO_CHUNK_FLOATS (1 << 20)
/* Tiles of a chunk at least: the products' columns. */
#define WINO_MIN_TILES 64
/* Below this many tiles in a call, transforming the weights costs about as much as the
 * products save (each (output, input) channel pair's 16 transformed weights against 20
 * multiply-adds saved per tile). Measured on ResNet-18 at batch 1: its 14x14 maps (49 tiles)
 * gain (51.8 -> 49.8 ms, 1 thread), its 7x7 maps (16 tiles) lose (-> 61 ms). */
#define WINO_MIN_CALL_TILES 40
/* The weight gradient's groups of chunks (dir_of): at most this many, holding at most this
 * many floats of transformed weight gradients together. */
#define WINO_DU_GROUPS 4
#define WINO_DU_FLOATS (8u << 20)

static const wino_transforms wino2_transforms; /* F(2x2, 3x3)'s, defined with them below */

static wdir dir_of(int N, int CI, int H, int W, int CO, int OH, int OW, int pt, int pl,
                   int tile) {
    wdir d = {.N = N, .CI = CI, .H = H, .W = W, .CO = CO, .OH = OH, .OW = OW, .pt = pt, .pl = pl};
    d.tf = tile == 4 ? &cnn_wino4_transforms : &wino2_transforms;
    d.tile = tile;
    d.span = tile + 2;
    d.planes = d.span * d.span;
    d.th = (OH + tile - 1) / tile;
    d.tw = (OW + tile - 1) / tile;
    d.rows = (size_t)N * (size_t)d.th;
    size_t P = (size_t)d.planes;
    size_t tiles = WINO_CHUNK_FLOATS / (P * ((size_t)CI + (size_t)CO));
    if (tiles < WINO_MIN_TILES) tiles = WINO_MIN_TILES;
    size_t R = tiles / (size_t)d.tw;
    if (R < 1) R = 1;
    if (R > d.rows) R = d.rows;
    /* T = R tw is a matrix dimension: an int. (OW, and so tw, already is.) */
    if (R * (size_t)d.tw > (size_t)INT_MAX) R = (size_t)INT_MAX / (size_t)d.tw;
    d.R = (int)R;
    d.T = d.R * d.tw;
    d.chunks = (int)((d.rows + R - 1) / R);
    d.u = cnn_round16(P * (size_t)CO * (size_t)CI);
    d.v = cnn_round16(P * (size_t)CI * (size_t)d.T);
    d.m = cnn_round16(P * (size_t)CO * (size_t)d.T);
    /* Scratch: the rows of a chunk's input tiles (input_chunk) or its outputs
     * (output_chunk), or the kernels of one row of weights turned tap-major
     * (cnn_winograd_transform_weights). */
    size_t rows_floats = d.tf->scratch(&d);
    size_t taps = 9 * (size_t)(CI > CO ? CI : CO);
    d.s = cnn_round16(rows_floats > taps ? rows_floats : taps);
    /* The weight gradient sums the chunks in groups, each into a dU of its own, then adds the
     * groups in order: a thread takes a group from start to end (transforms and products, as
     * chunks_range does), which shared out chunk by chunk was no faster at 2 threads than at
     * 1 on ResNet-18's 64-channel layers. The count depends on the shape alone, so the sums,
     * and so the bits, do not depend on the thread count. */
    size_t groups = WINO_DU_FLOATS / (d.u ? d.u : 1);
    if (groups > WINO_DU_GROUPS) groups = WINO_DU_GROUPS;
    if (groups > (size_t)d.chunks) groups = (size_t)d.chunks;
    if (groups == 3) groups = 2; /* 1, 2 or 4: whole shares for 2 (and 4) threads */
    d.groups = groups < 1 ? 1 : (int)groups;
    return d;
}

static wdir forward_dir(const cnn_conv_geom *g, int tile) {
    wdir d = dir_of(g->N, g->C, g->H, g->W, g->OC, g->OH, g->OW, g->pt, g->pl, tile);
    d.relu = g->relu;
    return d;
}

static wdir data_dir(const cnn_conv_geom *g, int tile) {
    return dir_of(g->N, g->OC, g->OH, g->OW, g->C, g->H, g->W, 2 - g->pt, 2 - g->pl, tile);
}

int cnn_winograd_applies(const cnn_conv_geom *g) {
    double tiles = (double)g->N * (g->OH / 2 + g->OH % 2) * (g->OW / 2 + g->OW % 2);
    return g->KH == 3 && g->KW == 3 && g->sh == 1 && g->sw == 1 && g->dh == 1 && g->dw == 1 &&
           g->G == 1 && g->C >= CNN_WINOGRAD_MIN_CHANNELS &&
           g->OC >= CNN_WINOGRAD_MIN_CHANNELS && tiles >= WINO_MIN_CALL_TILES;
}

/* d's scratch (wbufs): each thread's V, M and scratch, and the weight gradient's groups' dU. */
static cnn_work dir_bytes(const wdir *d) {
    return (cnn_work){(size_t)d->groups * d->u * sizeof(float),
                      (d->v + d->m + d->s) * sizeof(float)};
}

/* 4 if an output of N x h x w makes enough 4x4 tiles for a call, else 2. */
static int tile_for(int N, int h, int w) {
    double tiles4 = (double)N * ((h + 3) / 4) * ((w + 3) / 4);
    return tiles4 >= WINO_MIN_CALL_TILES ? 4 : 2;
}

int cnn_winograd_forward_tile(const cnn_conv_geom *g) { return tile_for(g->N, g->OH, g->OW); }

int cnn_winograd_data_tile(const cnn_conv_geom *g) { return tile_for(g->N, g->H, g->W); }

cnn_work cnn_winograd_work_bytes(const cnn_conv_geom *g) {
    wdir f2 = forward_dir(g, 2), f = forward_dir(g, cnn_winograd_forward_tile(g));
    wdir b2 = data_dir(g, 2), b = data_dir(g, cnn_winograd_data_tile(g));
    return cnn_work_max(cnn_work_max(dir_bytes(&f2), dir_bytes(&f)),
                        cnn_work_max(dir_bytes(&b2), dir_bytes(&b)));
}

/* The parts of the scratch, for d: in each thread's own (cnn_thread_work) its V, M and
 * scratch, in that order; thread 0's V and M serve all threads when they share a chunk; the
 * weight gradient's dU in the shared part (group g's at dU + g u). */
typedef struct wbufs {
    float *V, *M, *dU;
    const cnn_ctx *c;
} wbufs;

static wbufs bufs_of(const cnn_ctx *c, const wdir *d) {
    CNN_ASSERT(cnn_ctx_holds(c, dir_bytes(d)));
    wbufs b;
    b.V = cnn_thread_work(c, 0);
    b.M = b.V + d->v;
    b.dU = c->work;
    b.c = c;
    return b;
}

static int threads_for(const cnn_ctx *c, const wdir *d) {
    return cnn_conv_threads(c, (double)d->planes * (double)d->rows * d->tw * d->CI * d->CO);
}

/* ---------------------------------------------------------------------------------------------
 * The transforms. The loops that touch every element are compiled twice, for x86-64-v3
 * (AVX2) and for the baseline, cnn_isa() choosing at each call (CNN_DISPATCH). They add,
 * subtract and halve in the same order either way (and -std=c11 forbids contracting into
 * FMAs), so both give the same bits: test_kernels checks it, and runs every case on the
 * baseline code too (--isa baseline).
 * ------------------------------------------------------------------------------------------- */

/* U[xi] (OC, C), xi = 0..15, planes `plane` floats apart: row o of the transforms of the
 * kernels w[o, 0..C-1], U = G g G^T. k: the C kernels tap-major, k[tap * C + c]. */
static inline CNN_BODY void weight_row_body(const float *restrict k, int C, float *restrict u,
                                            size_t plane) {
    const float *restrict k0 = k, *restrict k1 = k + C, *restrict k2 = k + 2 * (size_t)C,
                          *restrict k3 = k + 3 * (size_t)C, *restrict k4 = k + 4 * (size_t)C,
                          *restrict k5 = k + 5 * (size_t)C, *restrict k6 = k + 6 * (size_t)C,
                          *restrict k7 = k + 7 * (size_t)C, *restrict k8 = k + 8 * (size_t)C;
#pragma omp simd
    for (int c = 0; c < C; c++) {
        /* G down the columns: rows g0, (g0 + g1 + g2) / 2, (g0 - g1 + g2) / 2, g2. */
        float t00 = k0[c], t01 = k1[c], t02 = k2[c];
        float t10 = 0.5f * (k0[c] + k3[c] + k6[c]), t11 = 0.5f * (k1[c] + k4[c] + k7[c]);
        float t12 = 0.5f * (k2[c] + k5[c] + k8[c]);
        float t20 = 0.5f * (k0[c] - k3[c] + k6[c]), t21 = 0.5f * (k1[c] - k4[c] + k7[c]);
        float t22 = 0.5f * (k2[c] - k5[c] + k8[c]);
        float t30 = k6[c], t31 = k7[c], t32 = k8[c];
        /* G along the rows, likewise. */
        u[0 * plane + c] = t00;
        u[1 * plane + c] = 0.5f * (t00 + t01 + t02);
        u[2 * plane + c] = 0.5f * (t00 - t01 + t02);
        u[3 * plane + c] = t02;
        u[4 * plane + c] = t10;
        u[5 * plane + c] = 0.5f * (t10 + t11 + t12);
        u[6 * plane + c] = 0.5f * (t10 - t11 + t12);
        u[7 * plane + c] = t12;
        u[8 * plane + c] = t20;
        u[9 * plane + c] = 0.5f * (t20 + t21 + t22);
        u[10 * plane + c] = 0.5f * (t20 - t21 + t22);
        u[11 * plane + c] = t22;
        u[12 * plane + c] = t30;
        u[13 * plane + c] = 0.5f * (t30 + t31 + t32);
        u[14 * plane + c] = 0.5f * (t30 - t31 + t32);
        u[15 * plane + c] = t32;
    }
}
CNN_DISPATCH(weight_row,
             (const float *restrict k, int C, float *restrict u, size_t plane),
             (k, C, u, plane))

/* dw[o, c] += G^T dU[., o, c] G for c < C: the 3x3 gradients of row o's kernels (dw, 9
 * floats each) from the gradients of their transforms (planes `plane` floats apart). */
static inline CNN_BODY void weight_grad_row_body(const float *restrict du, size_t plane, int C,
                                                 float *restrict dw) {
    for (int c = 0; c < C; c++) {
        float t[3][4];
        for (int b = 0; b < 4; b++) {
            float d1 = du[(size_t)(4 + b) * plane + c], d2 = du[(size_t)(8 + b) * plane + c];
            float sum = d1 + d2;
            t[0][b] = du[(size_t)b * plane + c] + 0.5f * sum;
            t[1][b] = 0.5f * (d1 - d2);
            t[2][b] = 0.5f * sum + du[(size_t)(12 + b) * plane + c];
        }
        float *k = dw + (size_t)c * 9;
        for (int a = 0; a < 3; a++) {
            float sum = t[a][1] + t[a][2];
            k[3 * a + 0] += t[a][0] + 0.5f * sum;
            k[3 * a + 1] += 0.5f * (t[a][1] - t[a][2]);
            k[3 * a + 2] += 0.5f * sum + t[a][3];
        }
    }
}
CNN_DISPATCH(weight_grad_row,
             (const float *restrict du, size_t plane, int C, float *restrict dw),
             (du, plane, C, dw))

/* The 4x4 input tiles of channel ci in `rows` tile rows from q0 into v[xi * vs + t], t the
 * tile's index in the chunk (row-major). s: scratch of d->s floats.
 * Each tile row's four input rows are copied with their zeros (2 tw + 2 columns) and B^T is
 * applied down the columns; the results go to L (their first 2 tw columns) and R (all but
 * the first 2), tile row after tile row, so that tile t of the chunk finds its columns at
 * L[2t], L[2t+1], R[2t], R[2t+1] and one loop over all tiles applies B along the rows. */
static inline CNN_BODY void input_chunk_body(const wdir *d, const float *in, size_t q0, int rows,
                                             int ci, float *v, size_t vs, float *s) {
    int tw = d->tw, n = 2 * tw + 2, tiles = rows * tw;
    size_t seg = 2 * (size_t)d->T; /* floats of one L or R array */
    float *L = s, *R = s + 4 * seg, *p = s + 8 * seg;
    for (int r = 0; r < rows; r++) {
        cnn_wino_input_rows(d, in, q0 + (size_t)r, ci, p, n);
        float *restrict p0 = p, *restrict p1 = p + n, *restrict p2 = p + 2 * n,
                        *restrict p3 = p + 3 * n;
        /* B^T down the columns: rows d0 - d2, d1 + d2, d2 - d1, d1 - d3. */
#pragma omp simd
        for (int j = 0; j < n; j++) {
            float x0 = p0[j], x1 = p1[j], x2 = p2[j], x3 = p3[j];
            p0[j] = x0 - x2;
            p1[j] = x1 + x2;
            p2[j] = x2 - x1;
            p3[j] = x1 - x3;
        }
        for (int k = 0; k < 4; k++) {
            float *dl = L + k * seg + (size_t)r * 2 * tw, *dr = R + k * seg + (size_t)r * 2 * tw;
            memcpy(dl, p + (size_t)k * n, 2 * (size_t)tw * sizeof(float));
            memcpy(dr, p + (size_t)k * n + 2, 2 * (size_t)tw * sizeof(float));
        }
    }
    /* B along the rows: tile t spans columns L[2t], L[2t+1], R[2t], R[2t+1]. */
    for (int i = 0; i < 4; i++) {
        const float *restrict l = L + i * seg, *restrict rr = R + i * seg;
        float *restrict v0 = v + (size_t)(4 * i) * vs, *restrict v1 = v0 + vs;
        float *restrict v2 = v1 + vs, *restrict v3 = v2 + vs;
#pragma omp simd
        for (int t = 0; t < tiles; t++) {
            float x0 = l[2 * t], x1 = l[2 * t + 1], x2 = rr[2 * t], x3 = rr[2 * t + 1];
            v0[t] = x0 - x2;
            v1[t] = x1 + x2;
            v2[t] = x2 - x1;
            v3[t] = x1 - x3;
        }
    }
}
CNN_DISPATCH(input_chunk,
             (const wdir *d, const float *in, size_t q0, int rows, int ci, float *v, size_t vs,
              float *s),
             (d, in, q0, rows, ci, v, vs, s))

/* Writes one output row from its even (e) and odd (o) columns: dst[2t] = e[t] + bias,
 * dst[2t+1] = o[t] + bias (then max(., 0) when relu), or adds them when accumulate. */
static inline void store_row(float *restrict dst, const float *restrict e,
                             const float *restrict o, int OW, float bias, int accumulate,
                             int relu) {
    int pairs = OW / 2;
    if (relu) {
#pragma omp simd
        for (int t = 0; t < pairs; t++) {
            float a = e[t] + bias, b = o[t] + bias;
            dst[2 * t] = a < 0.0f ? 0.0f : a;
            dst[2 * t + 1] = b < 0.0f ? 0.0f : b;
        }
        if (OW % 2) {
            float a = e[pairs] + bias;
            dst[OW - 1] = a < 0.0f ? 0.0f : a;
        }
    } else if (accumulate) {
#pragma omp simd
        for (int t = 0; t < pairs; t++) {
            dst[2 * t] += e[t] + bias;
            dst[2 * t + 1] += o[t] + bias;
        }
        if (OW % 2) dst[OW - 1] += e[pairs] + bias;
    } else {
#pragma omp simd
        for (int t = 0; t < pairs; t++) {
            dst[2 * t] = e[t] + bias;
            dst[2 * t + 1] = o[t] + bias;
        }
        if (OW % 2) dst[OW - 1] = e[pairs] + bias;
    }
}

/* Output channel co of `rows` tile rows from q0, from m[xi * ms + t] (t the tile's index in
 * the chunk): Y = A^T M A for every tile in one loop, then the rows stored (plus bias) or
 * added into out (N, CO, OH, OW). s: scratch of 4 T floats. */
static inline CNN_BODY void output_chunk_body(const wdir *d, const float *m, size_t ms, size_t q0,
                                              int rows, int co, float bias, float *out,
                                              int accumulate, float *s) {
    int tw = d->tw, tiles = rows * tw;
    float *restrict y00 = s, *restrict y01 = s + d->T, *restrict y10 = s + 2 * (size_t)d->T,
                    *restrict y11 = s + 3 * (size_t)d->T;
    /* The bracket's 16 planes, z[4 i + k] at row i, column k. */
    const float *restrict z0 = m, *restrict z1 = m + ms, *restrict z2 = m + 2 * ms,
                          *restrict z3 = m + 3 * ms, *restrict z4 = m + 4 * ms,
                          *restrict z5 = m + 5 * ms, *restrict z6 = m + 6 * ms,
                          *restrict z7 = m + 7 * ms, *restrict z8 = m + 8 * ms,
                          *restrict z9 = m + 9 * ms, *restrict z10 = m + 10 * ms,
                          *restrict z11 = m + 11 * ms, *restrict z12 = m + 12 * ms,
                          *restrict z13 = m + 13 * ms, *restrict z14 = m + 14 * ms,
                          *restrict z15 = m + 15 * ms;
    /* A^T down the columns (rows m0 + m1 + m2 and m1 - m2 - m3 of the bracket), then along
     * the rows. */
#pragma omp simd
    for (int t = 0; t < tiles; t++) {
        float a0 = z0[t] + z4[t] + z8[t], a1 = z1[t] + z5[t] + z9[t];
        float a2 = z2[t] + z6[t] + z10[t], a3 = z3[t] + z7[t] + z11[t];
        float b0 = z4[t] - z8[t] - z12[t], b1 = z5[t] - z9[t] - z13[t];
        float b2 = z6[t] - z10[t] - z14[t], b3 = z7[t] - z11[t] - z15[t];
        y00[t] = a0 + a1 + a2;
        y01[t] = a1 - a2 - a3;
        y10[t] = b0 + b1 + b2;
        y11[t] = b1 - b2 - b3;
    }
    size_t oplane = (size_t)d->OH * d->OW;
    for (int r = 0; r < rows; r++) {
        size_t sample;
        int ti;
        cnn_wino_tile_row(d, q0 + (size_t)r, &sample, &ti);
        float *row = out + (sample * d->CO + (size_t)co) * oplane + (size_t)(2 * ti) * d->OW;
        size_t at = (size_t)r * tw;
        store_row(row, y00 + at, y01 + at, d->OW, bias, accumulate, d->relu);
        if (2 * ti + 1 < d->OH)
            store_row(row + d->OW, y10 + at, y11 + at, d->OW, bias, accumulate, d->relu);
    }
}
CNN_DISPATCH(output_chunk,
             (const wdir *d, const float *m, size_t ms, size_t q0, int rows, int co, float bias,
              float *out, int accumulate, float *s),
             (d, m, ms, q0, rows, co, bias, out, accumulate, s))

/* Floats of scratch input_chunk (L, R and the four row copies) and output_chunk (4 T) need. */
static size_t scratch2(const wdir *d) { return 16 * (size_t)d->T + 8 * (size_t)d->tw + 8; }

/* The gradient of the transformed outputs, dM = A dY A^T, of channel co in `rows` tile rows
 * from z0, from dy (N, CO, OH, OW) (zero beyond its edges) into m[xi * ms + t]. Each tile
 * row's two rows of dy go, with zeros to 2 tw columns, to Y0 and Y1, so that tile t finds its
 * 2x2 values at Y0[2t], Y0[2t+1], Y1[2t], Y1[2t+1]. s: scratch of 4 T floats. */
static inline CNN_BODY void grad_chunk_body(const wdir *d, const float *dy, size_t q0, int rows,
                                            int co, float *m, size_t ms, float *s) {
    int tiles = rows * d->tw;
    float *restrict Y0 = s, *restrict Y1 = s + 2 * (size_t)d->T;
    cnn_wino_dy_rows(d, dy, q0, rows, co, s, 2 * (size_t)d->T);
    float *restrict z0 = m, *restrict z1 = m + ms, *restrict z2 = m + 2 * ms,
                    *restrict z3 = m + 3 * ms, *restrict z4 = m + 4 * ms,
                    *restrict z5 = m + 5 * ms, *restrict z6 = m + 6 * ms,
                    *restrict z7 = m + 7 * ms, *restrict z8 = m + 8 * ms,
                    *restrict z9 = m + 9 * ms, *restrict z10 = m + 10 * ms,
                    *restrict z11 = m + 11 * ms, *restrict z12 = m + 12 * ms,
                    *restrict z13 = m + 13 * ms, *restrict z14 = m + 14 * ms,
                    *restrict z15 = m + 15 * ms;
#pragma omp simd
    for (int t = 0; t < tiles; t++) {
        /* A down the tile's two columns (rows y0, y0 + y1, y0 - y1, -y1), then along each of
         * the four rows (columns e, e + o, e - o, -o). */
        float e0 = Y0[2 * t], o0 = Y0[2 * t + 1], e1 = Y1[2 * t], o1 = Y1[2 * t + 1];
        float re1 = e0 + e1, ro1 = o0 + o1, re2 = e0 - e1, ro2 = o0 - o1;
        z0[t] = e0;
        z1[t] = e0 + o0;
        z2[t] = e0 - o0;
        z3[t] = -o0;
        z4[t] = re1;
        z5[t] = re1 + ro1;
        z6[t] = re1 - ro1;
        z7[t] = -ro1;
        z8[t] = re2;
        z9[t] = re2 + ro2;
        z10[t] = re2 - ro2;
        z11[t] = -ro2;
        z12[t] = -e1;
        z13[t] = -(e1 + o1);
        z14[t] = o1 - e1;
        z15[t] = o1;
    }
}
CNN_DISPATCH(grad_chunk,
             (const wdir *d, const float *dy, size_t q0, int rows, int co, float *m, size_t ms,
              float *s),
             (d, dy, q0, rows, co, m, ms, s))

static const wino_transforms wino2_transforms = {weight_row,  input_chunk, output_chunk,
                                                 scratch2,    grad_chunk,  weight_grad_row};

/* ---------------------------------------------------------------------------------------------
 * The drivers
 * ------------------------------------------------------------------------------------------- */

size_t cnn_winograd_weights_floats(const cnn_conv_geom *g, int tile) {
    return (size_t)(tile + 2) * (size_t)(tile + 2) * (size_t)g->OC * g->C;
}

/* What the parallel loops of the drivers below share. Each loop is one cnn_parallel_for (the
 * barrier at its end orders it before the next); a worker's scratch is in its own part. */
typedef struct wjob {
    const wdir *d;
    wbufs b;
    const cnn_conv_geom *g;
    const float *w, *in, *u, *bias, *dy;
    float *out;
    size_t q0;
    int rows, data, accumulate, add_du; /* add_du: the weight products add into dU */
    int turn; /* the kernels' transforms: of the kernels turned by 180 degrees */
} wjob;

static float *scratch_of(const wjob *j, int worker) {
    return (float *)cnn_thread_work(j->b.c, worker) + j->d->v + j->d->m;
}

/* Kernels [begin, end) of cnn_winograd_transform_weights. */
static void weights_range(void *arg, long begin, long end, int worker) {
    const wjob *j = arg;
    const cnn_conv_geom *g = j->g;
    const float *w = j->w;
    float *u = j->out, *k = scratch_of(j, worker);
    size_t plane = (size_t)g->OC * g->C;
    for (int o = (int)begin; o < (int)end; o++) {
        /* Tap-major, so that the transforms read contiguous runs. */
        const float *wo = w + (size_t)o * g->C * 9;
        for (int ch = 0; ch < g->C; ch++)
            for (int tap = 0; tap < 9; tap++)
                k[(size_t)tap * g->C + ch] = wo[ch * 9 + (j->turn ? 8 - tap : tap)];
        j->d->tf->weight_row(k, g->C, u + (size_t)o * g->C, plane);
    }
}

int cnn_winograd_data_turned(int tile) { return tile != 2; }

void cnn_winograd_transform_weights(const cnn_ctx *c, const cnn_conv_geom *g, int tile,
                                    int turn, const float *w, float *u) {
    wdir d = forward_dir(g, tile);
    wjob j = {.d = &d, .b = bufs_of(c, &d), .g = g, .w = w, .out = u, .turn = turn};
    cnn_parallel_for(c->workers, threads_for(c, &d), g->OC, weights_range, &j);
}

/* The tile rows of chunk ch: the first, and how many. */
static void chunk_rows(const wdir *d, int ch, size_t *q0, int *rows) {
    *q0 = (size_t)ch * d->R;
    size_t left = d->rows - *q0;
    *rows = left < (size_t)d->R ? (int)left : d->R;
}

/* Channels [begin, end) of the input tiles of chunk j->q0, j->rows into V. */
static void input_range(void *arg, long begin, long end, int worker) {
    const wjob *j = arg;
    const wdir *d = j->d;
    size_t vs = (size_t)d->CI * d->T;
    float *s = scratch_of(j, worker);
    for (int ci = (int)begin; ci < (int)end; ci++)
        d->tf->input_chunk(d, j->in, j->q0, j->rows, ci, j->b.V + (size_t)ci * d->T, vs, s);
}

/* Position xi of the transform of a kernel turned by 180 degrees: G J = S G for the 3x3
 * reversal J and S the 4x4 swap of rows 0 and 3, so G (J g J) G^T = S (G g G^T) S. */
static int turned(int xi) {
    static const int s[4] = {3, 1, 2, 0};
    return 4 * s[xi / 4] + s[xi % 4];
}

/* Products [begin, end) of the d->planes of run_conv's chunk: M[xi] = U[xi] V[xi]. (The data
 * gradient reads U transposed: for F(2x2, 3x3) the unturned kernels' at the turned position,
 * for F(4x4, 3x3) the turned kernels' (cnn_winograd_data_turned).) */
static void conv_products_range(void *arg, long begin, long end, int worker) {
    const wjob *j = arg;
    const wdir *d = j->d;
    size_t ms = (size_t)d->CO * d->T, uplane = (size_t)d->CO * d->CI;
    for (int xi = (int)begin; xi < (int)end; xi++) {
        const float *V = j->b.V + (size_t)xi * d->CI * d->T;
        float *M = j->b.M + (size_t)xi * ms;
        if (j->data)
            cnn_gemm(0, 1, 0, d->CO, j->rows * d->tw, d->CI, 1.0f,
                     j->u + (size_t)(d->tile == 2 ? turned(xi) : xi) * uplane, d->CO, V, d->T,
                     0.0f, M, d->T);
        else
            cnn_gemm(0, 0, 0, d->CO, j->rows * d->tw, d->CI, 1.0f, j->u + (size_t)xi * uplane,
                     d->CI, V, d->T, 0.0f, M, d->T);
    }
}

/* Output channels [begin, end) of run_conv's chunk, from M. */
static void output_range(void *arg, long begin, long end, int worker) {
    const wjob *j = arg;
    const wdir *d = j->d;
    size_t ms = (size_t)d->CO * d->T;
    float *s = scratch_of(j, worker);
    for (int co = (int)begin; co < (int)end; co++)
        d->tf->output_chunk(d, j->b.M + (size_t)co * d->T, ms, j->q0, j->rows, co,
                            j->bias ? j->bias[co] : 0.0f, j->out, j->accumulate, s);
}

/* j's V and M made worker's own (see wbufs), for a thread that runs whole chunks. */
static void own_buffers(wjob *j, int worker) {
    j->b.V = cnn_thread_work(j->b.c, worker);
    j->b.M = j->b.V + j->d->v;
}

/* Chunks [begin, end) of run_conv, each from its input to its output on this thread alone,
 * in the thread's own V and M. */
static void chunks_range(void *arg, long begin, long end, int worker) {
    wjob j = *(const wjob *)arg;
    const wdir *d = j.d;
    own_buffers(&j, worker);
    for (long ch = begin; ch < end; ch++) {
        chunk_rows(d, (int)ch, &j.q0, &j.rows);
        input_range(&j, 0, d->CI, worker);
        conv_products_range(&j, 0, d->planes, worker);
        output_range(&j, 0, d->CO, worker);
    }
}

/* out (N, CO, OH, OW) = the convolution of in (N, CI, H, W) with the kernels whose transforms
 * are in u, plus bias (may be NULL), or += when accumulate. u holds the transforms of g's
 * kernels (OC, C): for the forward direction U[xi] is its plane xi; for the data gradient
 * (data) the plane of the turned position, transposed.
 *
 * With at least two chunks per thread, each thread takes whole chunks (chunks_range): what a
 * thread writes in one step of a chunk, it reads in the next, where sharing each step out
 * (by channel, by product) had the other thread read it from this one's cache, and take it
 * back at the next chunk: on a Zen 5 host that made the input transform of ResNet-18's 64
 * channel layers no faster at 2 threads than at 1. Either way each chunk is computed the same,
 * so the results are the same bits. */
static void run_conv(const cnn_ctx *c, const wdir *d, const float *u, int data,
                     const float *in, const float *bias, float *out, int accumulate) {
    int threads = threads_for(c, d);
    wjob j = {.d = d, .b = bufs_of(c, d), .in = in, .u = u, .bias = bias, .out = out,
              .data = data, .accumulate = accumulate};
    if (threads > 1 && d->chunks >= 2 * threads) {
        cnn_parallel_for(c->workers, threads, d->chunks, chunks_range, &j);
        return;
    }
    for (int ch = 0; ch < d->chunks; ch++) {
        chunk_rows(d, ch, &j.q0, &j.rows);
        cnn_parallel_for(c->workers, threads, d->CI, input_range, &j);
        cnn_parallel_for(c->workers, threads, d->planes, conv_products_range, &j);
        cnn_parallel_for(c->workers, threads, d->CO, output_range, &j);
    }
}

void cnn_winograd_forward(const cnn_ctx *c, const cnn_conv_geom *g, int tile, const float *u,
                          const float *x, const float *b, float *y, int accumulate) {
    wdir d = forward_dir(g, tile);
    run_conv(c, &d, u, 0, x, b, y, accumulate);
}

void cnn_winograd_backward_data(const cnn_ctx *c, const cnn_conv_geom *g, int tile,
                                const float *u, const float *dy, float *dx) {
    wdir d = data_dir(g, tile);
    run_conv(c, &d, u, 1, dy, NULL, dx, 1);
}

/* Output channels [begin, end) of the transformed output gradient dM of a chunk. */
static void grad_range(void *arg, long begin, long end, int worker) {
    const wjob *j = arg;
    const wdir *d = j->d;
    size_t ms = (size_t)d->CO * d->T;
    float *s = scratch_of(j, worker);
    for (int co = (int)begin; co < (int)end; co++)
        d->tf->grad_chunk(d, j->dy, j->q0, j->rows, co, j->b.M + (size_t)co * d->T, ms, s);
}

/* Products [begin, end) of the d->planes of a chunk: dU[xi] (+)= dM[xi] V[xi]^T. */
static void weight_products_range(void *arg, long begin, long end, int worker) {
    const wjob *j = arg;
    const wdir *d = j->d;
    size_t ms = (size_t)d->CO * d->T, uplane = (size_t)d->CO * d->CI;
    for (int xi = (int)begin; xi < (int)end; xi++)
        cnn_gemm(0, 0, 1, d->CO, d->CI, j->rows * d->tw, 1.0f, j->b.M + (size_t)xi * ms, d->T,
                 j->b.V + (size_t)xi * d->CI * d->T, d->T, j->add_du ? 1.0f : 0.0f,
                 j->b.dU + (size_t)xi * uplane, d->CI);
}

/* Kernels [begin, end): dw += G^T dU G. */
static void weight_grad_range(void *arg, long begin, long end, int worker) {
    const wjob *j = arg;
    const wdir *d = j->d;
    size_t uplane = (size_t)d->CO * d->CI;
    for (int o = (int)begin; o < (int)end; o++)
        d->tf->weight_grad_row(j->b.dU + (size_t)o * d->CI, uplane, d->CI,
                               j->out + (size_t)o * d->CI * 9);
}

/* Groups [begin, end) of chunks of the weight gradient, each from the inputs to its own dU on
 * this thread alone, in the thread's own V and M. */
static void groups_range(void *arg, long begin, long end, int worker) {
    wjob j = *(const wjob *)arg;
    const wdir *d = j.d;
    float *du = j.b.dU;
    own_buffers(&j, worker);
    for (long g = begin; g < end; g++) {
        int first = (int)((long)d->chunks * g / d->groups);
        int last = (int)((long)d->chunks * (g + 1) / d->groups);
        j.b.dU = du + (size_t)g * d->u;
        for (int ch = first; ch < last; ch++) {
            chunk_rows(d, ch, &j.q0, &j.rows);
            j.add_du = ch > first;
            input_range(&j, 0, d->CI, worker);
            grad_range(&j, 0, d->CO, worker);
            weight_products_range(&j, 0, d->planes, worker);
        }
    }
}

/* Elements [begin, end) (in blocks of 4096) of dU: the groups' sums added to group 0's, in
 * order. */
#define DU_BLOCK 4096
static void du_sum_range(void *arg, long begin, long end, int worker) {
    const wjob *j = arg;
    const wdir *d = j->d;
    size_t e1 = (size_t)end * DU_BLOCK < d->u ? (size_t)end * DU_BLOCK : d->u;
    float *restrict du = j->b.dU;
    for (int g = 1; g < d->groups; g++) {
        const float *restrict dg = du + (size_t)g * d->u;
        for (size_t e = (size_t)begin * DU_BLOCK; e < e1; e++) du[e] += dg[e];
    }
}

/* dU[xi] (OC, C) = the sum over tiles of dM[xi] V[xi]^T, chunk after chunk (each product
 * adds into the previous chunks' sum) in each group of chunks (groups_range), the groups added
 * in order, then dw += G^T dU G kernel by kernel. */
void cnn_winograd_backward_weights(const cnn_ctx *c, const cnn_conv_geom *g, const float *x,
                                   const float *dy, float *dw) {
    wdir d = forward_dir(g, cnn_winograd_forward_tile(g));
    int threads = threads_for(c, &d);
    wjob j = {.d = &d, .b = bufs_of(c, &d), .g = g, .in = x, .dy = dy, .out = dw};
    if (d.groups > 1) {
        cnn_parallel_for(c->workers, threads, d.groups, groups_range, &j);
        cnn_parallel_for(c->workers, threads, (long)((d.u + DU_BLOCK - 1) / DU_BLOCK),
                         du_sum_range, &j);
    } else {
        for (int ch = 0; ch < d.chunks; ch++) {
            chunk_rows(&d, ch, &j.q0, &j.rows);
            j.add_du = ch > 0;
            cnn_parallel_for(c->workers, threads, d.CI, input_range, &j);
            cnn_parallel_for(c->workers, threads, d.CO, grad_range, &j);
            cnn_parallel_for(c->workers, threads, d.planes, weight_products_range, &j);
        }
    }
    cnn_parallel_for(c->workers, threads, d.CO, weight_grad_range, &j);
}

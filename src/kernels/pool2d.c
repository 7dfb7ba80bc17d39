/*
 * pool2d.c - 2-D pooling kernels, reference and fast. See pool2d.h.
 */
#include "pool2d.h"

#include <math.h>
#include <stddef.h>
#include <string.h>

/* Below this many input values per call a parallel region costs more than it saves. */
#define POOL_PARALLEL (1 << 15)

/* ---------------------------------------------------------------------------------------------
 * Reference: each window clipped to the input as the definition reads.
 * ------------------------------------------------------------------------------------------- */

/* The input cells under output (oh, ow), rows [h0, h1) by columns [w0, w1), and avg_pool2d's
 * divisor. */
typedef struct pool_window {
    int h0, h1, w0, w1;
    float divisor;
} pool_window;

static int64_t min64(int64_t a, int64_t b) { return a < b ? a : b; }
static int64_t max64(int64_t a, int64_t b) { return a > b ? a : b; }

static pool_window window_at(const cnn_pool_geom *g, int oh, int ow) {
    /* 64-bit: a kernel near INT_MAX with padding half of it is legal and overflows int. */
    int64_t h0 = (int64_t)oh * g->SH - g->PH, w0 = (int64_t)ow * g->SW - g->PW;
    int64_t h1 = min64(h0 + g->KH, (int64_t)g->H + g->PH);
    int64_t w1 = min64(w0 + g->KW, (int64_t)g->W + g->PW);
    int64_t padded_cells = (h1 - h0) * (w1 - w0);
    pool_window win = {.h0 = (int)max64(h0, 0), .h1 = (int)min64(h1, g->H),
                       .w0 = (int)max64(w0, 0), .w1 = (int)min64(w1, g->W)};
    win.divisor = g->include_pad ? (float)padded_cells
                                 : (float)((int64_t)(win.h1 - win.h0) * (win.w1 - win.w0));
    return win;
}

/* Max pooling over one clipped window: PyTorch's scan. Start below every number, strict >
 * keeps the first of equal maxima, and a NaN always takes over so that it propagates. */
static void max_window(const cnn_pool_geom *g, const float *x, pool_window win, float *y,
                       int32_t *arg) {
    int32_t best = win.h0 * g->W + win.w0;
    float m = -INFINITY;
    for (int h = win.h0; h < win.h1; h++)
        for (int w = win.w0; w < win.w1; w++) {
            float v = x[(size_t)h * g->W + w];
            if (v > m || isnan(v)) {
                m = v;
                best = h * g->W + w;
            }
        }
    *y = m;
    *arg = best;
}

/* One plane: x (H, W) -> y (OH, OW); arg (OH, OW) receives max pooling's argmax. */
static void ref_forward_plane(const cnn_pool_geom *g, const float *x, float *y, int32_t *arg) {
    for (int oh = 0; oh < g->OH; oh++)
        for (int ow = 0; ow < g->OW; ow++) {
            pool_window win = window_at(g, oh, ow);
            size_t o = (size_t)oh * g->OW + ow;
            if (g->kind == CNN_POOL_MAX) {
                max_window(g, x, win, &y[o], &arg[o]);
            } else {
                float sum = 0.0f;
                for (int h = win.h0; h < win.h1; h++)
                    for (int w = win.w0; w < win.w1; w++) {
                        float v = x[(size_t)h * g->W + w];
                        sum += g->kind == CNN_POOL_L2 ? v * v : v;
                    }
                y[o] = g->kind == CNN_POOL_L2 ? sqrtf(sum) : sum / win.divisor;
            }
        }
}

/* One plane: adds into dx (H, W) from dy (OH, OW). */
static void ref_backward_plane(const cnn_pool_geom *g, const float *x, const float *y,
                               const float *dy, const int32_t *arg, float *dx) {
    for (int oh = 0; oh < g->OH; oh++)
        for (int ow = 0; ow < g->OW; ow++) {
            size_t o = (size_t)oh * g->OW + ow;
            if (g->kind == CNN_POOL_MAX) {
                dx[arg[o]] += dy[o];
                continue;
            }
            pool_window win = window_at(g, oh, ow);
            /* l2: y = 0 only when the whole window is 0, where the gradient is taken as 0. */
            float scale = g->kind == CNN_POOL_AVG ? dy[o] / win.divisor
                          : y[o] != 0.0f          ? dy[o] / y[o]
                                                  : 0.0f;
            for (int h = win.h0; h < win.h1; h++)
                for (int w = win.w0; w < win.w1; w++) {
                    size_t i = (size_t)h * g->W + w;
                    dx[i] += g->kind == CNN_POOL_AVG ? scale : scale * x[i];
                }
        }
}

/* ---------------------------------------------------------------------------------------------
 * Fast: max pooling, 2x2 tiles in vectors, other windows unclipped where they can be.
 * ------------------------------------------------------------------------------------------- */

/* Windows that tile the input from its corner: no padding, stride = kernel, every window
 * whole (no ceil_mode remainder). */
static int tiled(const cnn_pool_geom *g) {
    return g->PH == 0 && g->PW == 0 && g->SH == g->KH && g->SW == g->KW &&
           (int64_t)g->OH * g->KH <= g->H && (int64_t)g->OW * g->KW <= g->W;
}

/* 2x2 windows: the same scan as the reference (a first, then b, c, d, each taken when
 * greater or NaN), written as selects so that a row of outputs is computed in vectors. The
 * reference starts at -infinity with the first cell as argmax, which is exactly taking a. */
static void max2x2_plane(const cnn_pool_geom *g, const float *x, float *y, int32_t *arg) {
    int W = g->W, OW = g->OW;
    for (int oh = 0; oh < g->OH; oh++) {
        const float *r0 = x + (size_t)2 * oh * W, *r1 = r0 + W;
        float *yr = y + (size_t)oh * OW;
        int32_t *ar = arg + (size_t)oh * OW, base = 2 * oh * W;
#pragma omp simd
        for (int ow = 0; ow < OW; ow++) {
            float a = r0[2 * ow], b = r0[2 * ow + 1], c = r1[2 * ow], d = r1[2 * ow + 1];
            int32_t i = base + 2 * ow, k = i;
            float m = a;
            int t = (b > m) | (b != b);
            m = t ? b : m;
            k = t ? i + 1 : k;
            t = (c > m) | (c != c);
            m = t ? c : m;
            k = t ? i + W : k;
            t = (d > m) | (d != d);
            m = t ? d : m;
            k = t ? i + W + 1 : k;
            yr[ow] = m;
            ar[ow] = k;
        }
    }
}

/* Any other max pooling (tiled windows of other sizes, ResNet's overlapping 3x3 stride 2
 * padding 1) with strides up to MAX_STRIDE. For each output row, segments of up to SEG
 * outputs. Each window row is copied with -inf for the padding and split into SW phases,
 * ph[s][k] = the row's column (ow0 + k) SW + s - PW, so that tap v of output ow0 + j is
 * ph[v % SW][j + v / SW], contiguous in j whatever the border; the taps are scanned in the
 * reference's order (rows, then columns) as selects across the segment. A padding cell is
 * -inf, never greater than the running maximum nor NaN, so it is never taken; the argmax
 * starts at the window's first cell in the input, as in the reference: every value and argmax
 * are the reference's. */
#define SEG 128
#define MAX_STRIDE 8
#define MAX_KERNEL 32

typedef float v8sf __attribute__((vector_size(32)));
typedef int32_t v8si __attribute__((vector_size(32)));

static int segmented(const cnn_pool_geom *g) { return g->SW <= MAX_STRIDE && g->KW <= MAX_KERNEL; }

/* ph[s][k] = xp[k SW + s] for k < n, s < SW (ph rows SEG + MAX_KERNEL apart). Stride 2 in
 * vectors: 16 floats shuffled into their 8 even and 8 odd ones. */
static inline void split_phases(const float *xp, int SW, int n, float *ph) {
    const size_t pitch = SEG + MAX_KERNEL;
    if (SW == 1) {
        memcpy(ph, xp, (size_t)n * sizeof *ph);
        return;
    }
    int k = 0;
    if (SW == 2)
        for (; k + 8 <= n; k += 8) {
            v8sf a, b;
            memcpy(&a, xp + 2 * k, sizeof a);
            memcpy(&b, xp + 2 * k + 8, sizeof b);
            v8sf even = __builtin_shuffle(a, b, (v8si){0, 2, 4, 6, 8, 10, 12, 14});
            v8sf odd = __builtin_shuffle(a, b, (v8si){1, 3, 5, 7, 9, 11, 13, 15});
            memcpy(ph + k, &even, sizeof even);
            memcpy(ph + pitch + k, &odd, sizeof odd);
        }
    for (; k < n; k++)
        for (int s = 0; s < SW; s++) ph[s * pitch + k] = xp[k * SW + s];
}

CNN_CLONES static void max_segment_plane(const cnn_pool_geom *g, const float *x, float *y,
                                          int32_t *arg) {
    /* xp: the segment's columns of one row, xp[i] = column c0 + i, rounded up so that the
     * phases can be read whole. */
    float xp[(SEG + MAX_KERNEL) * MAX_STRIDE], ph[MAX_STRIDE][SEG + MAX_KERNEL], m[SEG];
    int32_t best[SEG];
    int SW = g->SW, W = g->W, reach = (g->KW - 1) / SW;
    for (int oh = 0; oh < g->OH; oh++) {
        int64_t h0 = (int64_t)oh * g->SH - g->PH;
        int r0 = (int)max64(h0, 0), r1 = (int)min64(h0 + g->KH, g->H);
        for (int ow0 = 0; ow0 < g->OW; ow0 += SEG) {
            int n = g->OW - ow0 < SEG ? g->OW - ow0 : SEG, np = n + reach + 1;
            int64_t c0 = (int64_t)ow0 * SW - g->PW;
            int len = np * SW;
            for (int j = 0; j < n; j++) {
                m[j] = -INFINITY;
                best[j] = (int32_t)((int64_t)r0 * W + max64(c0 + (int64_t)j * SW, 0));
            }
            for (int r = r0; r < r1; r++) {
                cnn_padded_copy(xp, x + (size_t)r * W, W, c0, len, -INFINITY);
                split_phases(xp, SW, np, ph[0]);
                for (int v = 0; v < g->KW; v++) {
                    const float *e = ph[v % SW] + v / SW;
                    int32_t first = (int32_t)((int64_t)r * W + c0 + v);
#pragma omp simd
                    for (int j = 0; j < n; j++) {
                        float ej = e[j];
                        int t = (ej > m[j]) | (ej != ej);
                        m[j] = t ? ej : m[j];
                        best[j] = t ? first + j * SW : best[j];
                    }
                }
            }
            memcpy(y + (size_t)oh * g->OW + ow0, m, (size_t)n * sizeof *m);
            if (arg) memcpy(arg + (size_t)oh * g->OW + ow0, best, (size_t)n * sizeof *best);
        }
    }
}

/* ---------------------------------------------------------------------------------------------
 * Entry points
 * ------------------------------------------------------------------------------------------- */

void cnn_pool2d_forward(const cnn_ctx *c, const cnn_pool_geom *g, const float *x, float *y,
                        int32_t *arg) {
    ptrdiff_t planes = (ptrdiff_t)g->N * g->C;
    size_t in_plane = (size_t)g->H * g->W, out_plane = (size_t)g->OH * g->OW;
    int fast = !c->reference && g->kind == CNN_POOL_MAX;
    int two = fast && tiled(g) && g->KH == 2 && g->KW == 2, segments = fast && segmented(g);
#pragma omp parallel for num_threads(c->threads) schedule(static) \
    if ((size_t)planes * in_plane >= POOL_PARALLEL)
    for (ptrdiff_t p = 0; p < planes; p++) {
        const float *xp = x + (size_t)p * in_plane;
        float *yp = y + (size_t)p * out_plane;
        int32_t *ap = arg ? arg + (size_t)p * out_plane : NULL;
        if (two)
            max2x2_plane(g, xp, yp, ap);
        else if (segments)
            max_segment_plane(g, xp, yp, ap);
        else
            ref_forward_plane(g, xp, yp, ap);
    }
}

void cnn_pool2d_backward(const cnn_ctx *c, const cnn_pool_geom *g, int accumulate, const float *x,
                         const float *y, const float *dy, const int32_t *arg, float *dx) {
    ptrdiff_t planes = (ptrdiff_t)g->N * g->C;
    size_t in_plane = (size_t)g->H * g->W, out_plane = (size_t)g->OH * g->OW;
    /* Max pooling's backward is a scatter through the argmax already: fast as it stands. */
#pragma omp parallel for num_threads(c->threads) schedule(static) \
    if ((size_t)planes * in_plane >= POOL_PARALLEL)
    for (ptrdiff_t p = 0; p < planes; p++) {
        if (!accumulate) memset(dx + (size_t)p * in_plane, 0, in_plane * sizeof *dx);
        ref_backward_plane(g, x ? x + (size_t)p * in_plane : NULL,
                           y ? y + (size_t)p * out_plane : NULL, dy + (size_t)p * out_plane,
                           arg ? arg + (size_t)p * out_plane : NULL, dx + (size_t)p * in_plane);
    }
}

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

/* One axis of the window of an output: the taps i0, i0 + d, ... below i1 (i0 the first inside
 * the input), and the window's cells inside the padded input (avg_pool2d's divisor, without
 * dilation) or, adaptive, in the input. Rows and columns are apart: a plane's loops find the
 * rows of a window once per output row. */
typedef struct pool_span {
    int i0, i1;
    int64_t padded;
} pool_span;

static int64_t min64(int64_t a, int64_t b) { return a < b ? a : b; }

/* The first tap at or after 0 of a window that starts at s with taps d apart. */
static int64_t first_tap(int64_t s, int d) { return s >= 0 ? s : s + (-s + d - 1) / d * d; }

/* Output o of out along an axis of in cells: kernel k, stride s, dilation d, padding pb before
 * and pe after. 64-bit: a kernel near INT_MAX with padding half of it is legal and overflows
 * int. */
static inline pool_span span_at(int adaptive, int64_t o, int64_t out, int64_t in, int k, int s,
                                int d, int pb, int pe) {
    pool_span sp;
    if (adaptive) {
        /* PyTorch's start_index and end_index: floor(o in / out), ceil((o + 1) in / out). */
        sp.i0 = (int)(o * in / out);
        sp.i1 = (int)(((o + 1) * in + out - 1) / out);
        sp.padded = sp.i1 - sp.i0;
        return sp;
    }
    int64_t a = o * s - pb, b = a + (int64_t)(k - 1) * d + 1;
    sp.padded = min64(b, in + pe) - a;
    sp.i0 = (int)(a >= 0 ? a : d == 1 ? 0 : first_tap(a, d));
    sp.i1 = (int)min64(b, in);
    return sp;
}

static inline pool_span row_span(const cnn_pool_geom *g, int oh) {
    return span_at(g->adaptive, oh, g->OH, g->H, g->KH, g->SH, g->DH, g->PT, g->PB);
}
static inline pool_span col_span(const cnn_pool_geom *g, int ow) {
    return span_at(g->adaptive, ow, g->OW, g->W, g->KW, g->SW, g->DW, g->PL, g->PR);
}

/* avg_pool2d's divisor: the window's cells in the padded input (include_pad) or in the
 * input. */
static inline float divisor_of(const cnn_pool_geom *g, pool_span r, pool_span c) {
    return g->include_pad ? (float)(r.padded * c.padded)
                          : (float)((int64_t)(r.i1 - r.i0) * (c.i1 - c.i0));
}

/* Max pooling over one clipped window: PyTorch's scan. Start below every number, strict >
 * keeps the first of equal maxima, and a NaN always takes over so that it propagates. The
 * argmax starts at the window's first cell, as PyTorch's does. */
static void max_window(const cnn_pool_geom *g, const float *x, pool_span r, pool_span c,
                       float *y, int32_t *arg) {
    int32_t best = r.i0 * g->W + c.i0;
    float m = -INFINITY;
    int dh = g->adaptive ? 1 : g->DH, dw = g->adaptive ? 1 : g->DW;
    for (int h = r.i0; h < r.i1; h += dh)
        for (int w = c.i0; w < c.i1; w += dw) {
            float v = x[(size_t)h * g->W + w];
            if (v > m || isnan(v)) {
                m = v;
                best = h * g->W + w;
            }
        }
    *y = m;
    if (arg) *arg = best;
}

/* One plane: x (H, W) -> y (OH, OW); arg (OH, OW) receives max pooling's argmax. Average and L2
 * pooling have no dilation. */
static void ref_forward_plane(const cnn_pool_geom *g, const float *x, float *y, int32_t *arg) {
    for (int oh = 0; oh < g->OH; oh++) {
        pool_span r = row_span(g, oh);
        for (int ow = 0; ow < g->OW; ow++) {
            pool_span c = col_span(g, ow);
            size_t o = (size_t)oh * g->OW + ow;
            if (g->kind == CNN_POOL_MAX) {
                max_window(g, x, r, c, &y[o], arg ? &arg[o] : NULL);
            } else {
                float sum = 0.0f;
                for (int h = r.i0; h < r.i1; h++)
                    for (int w = c.i0; w < c.i1; w++) {
                        float v = x[(size_t)h * g->W + w];
                        sum += g->kind == CNN_POOL_L2 ? v * v : v;
                    }
                y[o] = g->kind == CNN_POOL_L2 ? sqrtf(sum) : sum / divisor_of(g, r, c);
            }
        }
    }
}

/* One plane: adds into dx (H, W) from dy (OH, OW). */
static void ref_backward_plane(const cnn_pool_geom *g, const float *x, const float *y,
                               const float *dy, const int32_t *arg, float *dx) {
    if (g->kind == CNN_POOL_MAX) {
        for (size_t o = 0; o < (size_t)g->OH * g->OW; o++) dx[arg[o]] += dy[o];
        return;
    }
    for (int oh = 0; oh < g->OH; oh++) {
        pool_span r = row_span(g, oh);
        for (int ow = 0; ow < g->OW; ow++) {
            pool_span c = col_span(g, ow);
            size_t o = (size_t)oh * g->OW + ow;
            /* l2: y = 0 only when the whole window is 0, where the gradient is taken as 0. */
            float scale = g->kind == CNN_POOL_AVG ? dy[o] / divisor_of(g, r, c)
                          : y[o] != 0.0f          ? dy[o] / y[o]
                                                  : 0.0f;
            for (int h = r.i0; h < r.i1; h++)
                for (int w = c.i0; w < c.i1; w++) {
                    size_t i = (size_t)h * g->W + w;
                    dx[i] += g->kind == CNN_POOL_AVG ? scale : scale * x[i];
                }
        }
    }
}

/* ---------------------------------------------------------------------------------------------
 * Fast: max pooling, 2x2 tiles in vectors, other windows unclipped where they can be.
 * ------------------------------------------------------------------------------------------- */

/* The scan's step: m takes e when e is greater or NaN (the reference's rule). */
static inline float scan_step(float m, float e) { return (e > m) | (e != e) ? e : m; }

/* Windows that tile the input from its corner: no padding before it, stride = kernel, no
 * dilation, every window whole (no ceil_mode remainder, so no padding after it is read). */
static int tiled(const cnn_pool_geom *g) {
    return g->PT == 0 && g->PL == 0 && g->SH == g->KH && g->SW == g->KW && g->DH == 1 &&
           g->DW == 1 && (int64_t)g->OH * g->KH <= g->H && (int64_t)g->OW * g->KW <= g->W;
}

/* 2x2 windows: the same scan as the reference (a first, then b, c, d, each taken when
 * greater or NaN), written as selects so that a row of outputs is computed in vectors. The
 * reference starts at -infinity with the first cell as argmax, which is exactly taking a. */
static void max2x2_plane(const cnn_pool_geom *g, const float *x, float *y, int32_t *arg) {
    int W = g->W, OW = g->OW;
    for (int oh = 0; oh < g->OH; oh++) {
        const float *r0 = x + (size_t)2 * oh * W, *r1 = r0 + W;
        float *yr = y + (size_t)oh * OW;
        if (!arg) { /* the values alone */
#pragma omp simd
            for (int ow = 0; ow < OW; ow++)
                yr[ow] = scan_step(scan_step(scan_step(r0[2 * ow], r0[2 * ow + 1]), r1[2 * ow]),
                                   r1[2 * ow + 1]);
            continue;
        }
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
 * padding 1, dilated windows) with strides up to MAX_STRIDE and windows up to MAX_KERNEL
 * columns wide, (KW - 1) DW + 1. For each output row, segments of up to SEG outputs. Each
 * window row (every DH-th input row from the first inside the input) is copied with -inf for
 * the padding and split into SW phases, ph[s][k] = the row's column (ow0 + k) SW + s - PL, so
 * that tap v of output ow0 + j, at column offset e = v DW, is ph[e % SW][j + e / SW],
 * contiguous in j whatever the border; the taps are scanned in the reference's order (rows,
 * then columns) as selects across the segment. A padding cell is -inf, never greater than the
 * running maximum nor NaN, so it is never taken; the argmax starts at the window's first cell
 * in the input, as in the reference: every value and argmax are the reference's. */
#define SEG 128
#define MAX_STRIDE 8
#define MAX_KERNEL 32

typedef float v8sf __attribute__((vector_size(32)));
typedef int32_t v8si __attribute__((vector_size(32)));

static int segmented(const cnn_pool_geom *g) {
    return g->SW <= MAX_STRIDE && (int64_t)(g->KW - 1) * g->DW + 1 <= MAX_KERNEL;
}

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
#ifdef __clang__ /* the same shuffles in clang's spelling */
            v8sf even = __builtin_shufflevector(a, b, 0, 2, 4, 6, 8, 10, 12, 14);
            v8sf odd = __builtin_shufflevector(a, b, 1, 3, 5, 7, 9, 11, 13, 15);
#else
            v8sf even = __builtin_shuffle(a, b, (v8si){0, 2, 4, 6, 8, 10, 12, 14});
            v8sf odd = __builtin_shuffle(a, b, (v8si){1, 3, 5, 7, 9, 11, 13, 15});
#endif
            memcpy(ph + k, &even, sizeof even);
            memcpy(ph + pitch + k, &odd, sizeof odd);
        }
    for (; k < n; k++)
        for (int s = 0; s < SW; s++) ph[s * pitch + k] = xp[k * SW + s];
}

/* best[j], j < n: where the argmax of window j of a segment starts, the window's first cell
 * inside the input (row r0, the segment's first column c0): its first column, but for the few
 * windows that start in the padding. */
static inline void argmax_starts(const cnn_pool_geom *g, int r0, int64_t c0, int n,
                                 int32_t *restrict best) {
    int32_t row0 = (int32_t)((int64_t)r0 * g->W + c0), SW = g->SW; /* (not reread per store) */
#pragma omp simd
    for (int j = 0; j < n; j++) best[j] = row0 + j * SW;
    for (int j = 0; j < n && c0 + (int64_t)j * SW < 0; j++)
        best[j] = (int32_t)((int64_t)r0 * g->W + first_tap(c0 + (int64_t)j * SW, g->DW));
}

static inline CNN_BODY void max_segment_plane_body(const cnn_pool_geom *g, const float *x, float *y,
                                                   int32_t *arg) {
    /* xp: the segment's columns of one row, xp[i] = column c0 + i, rounded up so that the
     * phases can be read whole. */
    float xp[(SEG + MAX_KERNEL) * MAX_STRIDE], ph[MAX_STRIDE][SEG + MAX_KERNEL], m[SEG];
    int32_t best[SEG];
    int SW = g->SW, W = g->W, DH = g->DH, DW = g->DW, reach = (g->KW - 1) * DW / SW;
    for (int oh = 0; oh < g->OH; oh++) {
        int64_t h0 = (int64_t)oh * g->SH - g->PT;
        int r0 = (int)first_tap(h0, g->DH);
        int r1 = (int)min64(h0 + (int64_t)(g->KH - 1) * g->DH + 1, g->H);
        for (int ow0 = 0; ow0 < g->OW; ow0 += SEG) {
            int n = g->OW - ow0 < SEG ? g->OW - ow0 : SEG, np = n + reach + 1;
            int64_t c0 = (int64_t)ow0 * SW - g->PL;
            int len = np * SW;
            argmax_starts(g, r0, c0, n, best);
            for (int j = 0; j < n; j++) m[j] = -INFINITY;
            for (int r = r0; r < r1; r += DH) {
                cnn_padded_copy(xp, x + (size_t)r * W, W, c0, len, -INFINITY);
                split_phases(xp, SW, np, ph[0]);
                for (int v = 0; v < g->KW; v++) {
                    int e = v * DW;
                    const float *ev = ph[e % SW] + e / SW;
                    int32_t first = (int32_t)((int64_t)r * W + c0 + e);
#pragma omp simd
                    for (int j = 0; j < n; j++) {
                        float ej = ev[j];
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
CNN_DISPATCH(max_segment_plane,
             (const cnn_pool_geom *g, const float *x, float *y, int32_t *arg),
             (g, x, y, arg))

/* 3x3 windows (ResNet's stem pool, the commonest overlapping one), in the segmented layout
 * above but with the window's three rows split at once (a row outside the input is a row of
 * -inf, never taken) and all nine taps of an output scanned in one pass, its maximum and
 * argmax in registers: the segmented loop kept them in memory between taps. Same scan, same
 * values and argmax. The output rows of a segment go in order and keep the last three split
 * rows: with stride 2, an output row's first window row is the previous one's last, split
 * once instead of twice (the copies were a fifth of ResNet's stem pool). */
static int three(const cnn_pool_geom *g) { return g->KH == 3 && g->KW == 3 && segmented(g); }

/* The slot of ph (three rows of phases) holding the split of input row r for the segment from
 * column c0 (np phase entries): one of held[] (the rows in the slots), or a slot none of the
 * window's other rows (want[3]) is in, filled. */
static inline CNN_BODY int split_row(const cnn_pool_geom *g, const float *x, int64_t r,
                                     int64_t c0, int np, const int64_t want[3], int64_t held[3],
                                     float ph[3][MAX_STRIDE][SEG + MAX_KERNEL], float *xp) {
    for (int k = 0; k < 3; k++)
        if (held[k] == r) return k;
    int k = 0;
    while (held[k] == want[0] || held[k] == want[1] || held[k] == want[2]) k++;
    int SW = g->SW;
    if (r >= 0 && r < g->H) {
        cnn_padded_copy(xp, x + (size_t)r * g->W, g->W, c0, np * SW, -INFINITY);
        split_phases(xp, SW, np, ph[k][0]);
    } else {
        for (int sp = 0; sp < SW; sp++)
            for (int q = 0; q < np; q++) ph[k][sp][q] = -INFINITY;
    }
    held[k] = r;
    return k;
}

static inline CNN_BODY void max3x3_plane_body(const cnn_pool_geom *g, const float *x, float *y,
                                              int32_t *arg) {
    float xp[(SEG + MAX_KERNEL) * MAX_STRIDE], ph[3][MAX_STRIDE][SEG + MAX_KERNEL];
    int32_t best[SEG];
    int SW = g->SW, W = g->W, DW = g->DW, reach = 2 * DW / SW;
    for (int ow0 = 0; ow0 < g->OW; ow0 += SEG) {
        int n = g->OW - ow0 < SEG ? g->OW - ow0 : SEG, np = n + reach + 1;
        int64_t c0 = (int64_t)ow0 * SW - g->PL;
        /* The rows in the slots of ph; below any window row (which start at -PT). */
        int64_t held[3] = {INT64_MIN, INT64_MIN, INT64_MIN};
        for (int oh = 0; oh < g->OH; oh++) {
            int64_t h0 = (int64_t)oh * g->SH - g->PT;
            int r0 = (int)first_tap(h0, g->DH);
            int64_t want[3] = {h0, h0 + g->DH, h0 + 2 * (int64_t)g->DH};
            const float *tap[9];
            int32_t first[9];
            for (int u = 0; u < 3; u++) {
                int64_t r = want[u];
                int k = split_row(g, x, r, c0, np, want, held, ph, xp);
                for (int v = 0; v < 3; v++) {
                    int e = v * DW;
                    tap[3 * u + v] = ph[k][e % SW] + e / SW;
                    first[3 * u + v] = (int32_t)(r * W + c0 + e);
                }
            }
            argmax_starts(g, r0, c0, n, best);
            float *yr = y + (size_t)oh * g->OW + ow0;
            int32_t *ar = arg ? arg + (size_t)oh * g->OW + ow0 : best;
#pragma omp simd
            for (int j = 0; j < n; j++) {
                float m = -INFINITY;
                int32_t b = best[j];
#pragma GCC unroll 9
                for (int q = 0; q < 9; q++) {
                    float e = tap[q][j];
                    int t = (e > m) | (e != e);
                    m = t ? e : m;
                    b = t ? first[q] + j * SW : b;
                }
                yr[j] = m;
                ar[j] = b;
            }
        }
    }
}
CNN_DISPATCH(max3x3_plane,
             (const cnn_pool_geom *g, const float *x, float *y, int32_t *arg),
             (g, x, y, arg))

/* 3x3 windows without the argmax (inference): each window row's three taps scanned into its
 * row maximum, once per input row (with stride 2, an output row's first window row is the
 * previous one's last), then the window's three row maxima scanned. That is the reference's
 * row-major scan of the nine taps, value for value: with a NaN, both give the window's last
 * NaN in row-major order (the last row holding one gives its own last); without, the first
 * cell holding the maximum (the first row whose maximum is greater than those before, and its
 * first cell holding it), so that -0 and 0 resolve alike. Four scan steps an output where
 * max3x3_plane, which keeps the argmax too, takes eight. */
static inline CNN_BODY void max3x3_values_body(const cnn_pool_geom *g, const float *x, float *y) {
    float xp[(SEG + MAX_KERNEL) * MAX_STRIDE], ph[3][MAX_STRIDE][SEG + MAX_KERNEL], rm[3][SEG];
    int SW = g->SW, DW = g->DW, reach = 2 * DW / SW;
    for (int ow0 = 0; ow0 < g->OW; ow0 += SEG) {
        int n = g->OW - ow0 < SEG ? g->OW - ow0 : SEG, np = n + reach + 1;
        int64_t c0 = (int64_t)ow0 * SW - g->PL;
        /* The rows in the slots of ph, and those whose maxima are in the slots of rm. */
        int64_t held[3] = {INT64_MIN, INT64_MIN, INT64_MIN};
        int64_t maxed[3] = {INT64_MIN, INT64_MIN, INT64_MIN};
        for (int oh = 0; oh < g->OH; oh++) {
            int64_t h0 = (int64_t)oh * g->SH - g->PT;
            int64_t want[3] = {h0, h0 + g->DH, h0 + 2 * (int64_t)g->DH};
            const float *row[3];
            for (int u = 0; u < 3; u++) {
                int k = split_row(g, x, want[u], c0, np, want, held, ph, xp);
                if (maxed[k] != want[u]) {
                    const float *t0 = ph[k][0], *t1 = ph[k][DW % SW] + DW / SW;
                    const float *t2 = ph[k][2 * DW % SW] + 2 * DW / SW;
                    float *r = rm[k];
#pragma omp simd
                    for (int j = 0; j < n; j++) r[j] = scan_step(scan_step(t0[j], t1[j]), t2[j]);
                    maxed[k] = want[u];
                }
                row[u] = rm[k];
            }
            float *yr = y + (size_t)oh * g->OW + ow0;
            const float *r0 = row[0], *r1 = row[1], *r2 = row[2];
#pragma omp simd
            for (int j = 0; j < n; j++) yr[j] = scan_step(scan_step(r0[j], r1[j]), r2[j]);
        }
    }
}
CNN_DISPATCH(max3x3_values, (const cnn_pool_geom *g, const float *x, float *y), (g, x, y))

/* ---------------------------------------------------------------------------------------------
 * Entry points
 * ------------------------------------------------------------------------------------------- */

typedef struct planes_job {
    const cnn_pool_geom *g;
    const float *x, *y, *dy;
    float *out;
    int32_t *arg;
    const int32_t *arg_in;
    size_t in_plane, out_plane;
    int two, nine, segments, accumulate;
} planes_job;

/* Planes [begin, end) of the forward pass. */
static void forward_range(void *arg, long begin, long end, int worker) {
    const planes_job *j = arg;
    for (ptrdiff_t p = begin; p < end; p++) {
        const float *xp = j->x + (size_t)p * j->in_plane;
        float *yp = j->out + (size_t)p * j->out_plane;
        int32_t *ap = j->arg ? j->arg + (size_t)p * j->out_plane : NULL;
        if (j->two)
            max2x2_plane(j->g, xp, yp, ap);
        else if (j->nine && !ap)
            max3x3_values(j->g, xp, yp);
        else if (j->nine)
            max3x3_plane(j->g, xp, yp, ap);
        else if (j->segments)
            max_segment_plane(j->g, xp, yp, ap);
        else
            ref_forward_plane(j->g, xp, yp, ap);
    }
}

/* Threads for planes of in_plane floats: the context's, or 1 below POOL_PARALLEL floats. */
static int planes_threads(const cnn_ctx *c, ptrdiff_t planes, size_t in_plane) {
    return (size_t)planes * in_plane >= POOL_PARALLEL ? c->threads : 1;
}

void cnn_pool2d_forward(const cnn_ctx *c, const cnn_pool_geom *g, const float *x, float *y,
                        int32_t *arg) {
    ptrdiff_t planes = (ptrdiff_t)g->N * g->C;
    size_t in_plane = (size_t)g->H * g->W, out_plane = (size_t)g->OH * g->OW;
    int fast = !c->reference && g->kind == CNN_POOL_MAX && !g->adaptive;
    int two = fast && tiled(g) && g->KH == 2 && g->KW == 2, segments = fast && segmented(g);
    planes_job j = {.g = g, .x = x, .out = y, .arg = arg, .in_plane = in_plane,
                    .out_plane = out_plane, .two = two, .nine = fast && three(g),
                    .segments = segments};
    cnn_parallel_for(c->workers, planes_threads(c, planes, in_plane), planes, forward_range, &j);
}

/* Planes [begin, end) of the backward pass. */
static void backward_range(void *arg, long begin, long end, int worker) {
    const planes_job *j = arg;
    const size_t in_plane = j->in_plane, out_plane = j->out_plane;
    float *dx = j->out;
    for (ptrdiff_t p = begin; p < end; p++) {
        if (!j->accumulate) memset(dx + (size_t)p * in_plane, 0, in_plane * sizeof *dx);
        ref_backward_plane(j->g, j->x ? j->x + (size_t)p * in_plane : NULL,
                           j->y ? j->y + (size_t)p * out_plane : NULL,
                           j->dy + (size_t)p * out_plane,
                           j->arg_in ? j->arg_in + (size_t)p * out_plane : NULL,
                           dx + (size_t)p * in_plane);
    }
}

void cnn_pool2d_backward(const cnn_ctx *c, const cnn_pool_geom *g, int accumulate, const float *x,
                         const float *y, const float *dy, const int32_t *arg, float *dx) {
    ptrdiff_t planes = (ptrdiff_t)g->N * g->C;
    size_t in_plane = (size_t)g->H * g->W, out_plane = (size_t)g->OH * g->OW;
    /* Max pooling's backward is a scatter through the argmax already: fast as it stands. */
    planes_job j = {.g = g, .x = x, .y = y, .dy = dy, .out = dx, .arg_in = arg,
                    .in_plane = in_plane, .out_plane = out_plane, .accumulate = accumulate};
    cnn_parallel_for(c->workers, planes_threads(c, planes, in_plane), planes, backward_range, &j);
}

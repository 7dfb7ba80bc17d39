/*
 * qconv.c - 8-bit inference of a 2-D convolution (see qconv.h for the arithmetic).
 *
 * Fast path, per pass: the weights' integers are remade only when the float weights differ
 * from the copy kept with them; the whole input is quantised once (u8); then for each sample
 * and group, its column matrix is written straight into the products' packed layout
 * (qgemm.h: 16 columns by 4 rows of bytes per 64-byte block) and the int8 products write y
 * through their epilogue. Both steps are split over the threads in pieces fixed by the shape;
 * integer sums are exact, so the bits never depend on the split.
 */
#include "qconv.h"

#include "qgemm.h"

#include <float.h>
#include <math.h>
#include <stdint.h>
#include <string.h>
#if defined(__SSE2__)
#include <emmintrin.h>
#endif

static size_t round64(size_t bytes) { return (bytes + 63) / 64 * 64; }

/* Terms of one output's sum, and output channels per group. */
static int terms(const cnn_conv_geom *g) { return g->C / g->G * g->KH * g->KW; }
static int group_rows(const cnn_conv_geom *g) { return g->OC / g->G; }

/* ---- the definitions, shared by both paths ---- */

/* s[o] of qconv.h: the scale of output channel o's weights w[0 .. K). */
static float weight_scale(const float *w, int K) {
    float m = 0.0f;
    for (int k = 0; k < K; k++) {
        float a = fabsf(w[k]);
        if (a > m) m = a;
    }
    return m / 127.0f;
}

static int8_t weight_int(float w, float s) {
    if (s == 0.0f) return 0;
    float q = roundf(w / s);
    return (int8_t)(q > 127.0f ? 127 : q < -127.0f ? -127 : q);
}

/* u of qconv.h for x, r = 1/in_scale, z the zero point as a float. */
static inline uint8_t input_int(float x, float r, float z) {
    float v = x * r + z + 0.5f;
    v = v > 0.0f ? v : 0.0f; /* NaN too */
    v = v < 255.0f ? v : 255.0f;
    return (uint8_t)(int)v;
}

static float output(int32_t sum, float scale, float bias, int relu) {
    float y = (float)sum * scale + bias;
    return relu && y < 0.0f ? 0.0f : y;
}

void cnn_qconv_input_params(float lo, float hi, float *in_scale, int *in_zero) {
    if (!(lo < 0.0f)) lo = 0.0f; /* NaN too */
    if (!(hi > 0.0f)) hi = 0.0f;
    double step = ((double)hi - lo) / 255.0;
    if (!(step > 0.0) || !isfinite(step)) step = step > 0.0 ? FLT_MAX / 255.0 : 1.0;
    long z = lround(-lo / step);
    *in_zero = (int)(z < 0 ? 0 : z > 255 ? 255 : z);
    *in_scale = (float)step;
}

/* ---- the keep ---- */

typedef struct keep_layout {
    size_t copy, a, a_group, corr, scale, bias, total; /* byte offsets, a_group the stride */
} keep_layout;

static keep_layout keep_of(const cnn_conv_geom *g) {
    keep_layout k;
    size_t K = (size_t)terms(g), OC = (size_t)g->OC;
    k.copy = 64; /* after the header: an int saying whether the keep holds weights */
    k.a = k.copy + round64(OC * K * sizeof(float));
    k.a_group = round64(cnn_qgemm_a_bytes(group_rows(g), (int)K));
    k.corr = k.a + (size_t)g->G * k.a_group;
    k.scale = k.corr + round64(OC * sizeof(int32_t));
    k.bias = k.scale + round64(OC * sizeof(float));
    k.total = k.bias + round64(OC * sizeof(float));
    return k;
}

size_t cnn_qconv_keep_bytes(const cnn_conv_geom *g) { return keep_of(g).total; }

/* Makes keep hold the integers of w for in_scale and in_zero, unless it holds them already;
 * returns the layout. q: scratch for one group's integers. */
static keep_layout weights(const cnn_conv_geom *g, float in_scale, int in_zero, const float *w,
                           void *keep, int8_t *q) {
    keep_layout k = keep_of(g);
    char *base = keep;
    int *holds = (int *)base;
    int K = terms(g), M = group_rows(g);
    size_t bytes = (size_t)g->OC * (size_t)K * sizeof *w;
    if (*holds && memcmp(base + k.copy, w, bytes) == 0) return k;
    int32_t *corr = (int32_t *)(base + k.corr);
    float *scale = (float *)(base + k.scale);
    for (int gi = 0; gi < g->G; gi++) {
        for (int o = 0; o < M; o++) {
            const float *wo = w + ((size_t)gi * M + o) * (size_t)K;
            float s = weight_scale(wo, K);
            for (int t = 0; t < K; t++) q[(size_t)o * K + t] = weight_int(wo[t], s);
            scale[gi * M + o] = in_scale * s;
        }
        int8_t *a = (int8_t *)(base + k.a + (size_t)gi * k.a_group);
        cnn_qgemm_pack_a(M, K, q, K, a, corr + (size_t)gi * M);
    }
    for (int o = 0; o < g->OC; o++) corr[o] *= in_zero;
    memcpy(base + k.copy, w, bytes);
    *holds = 1;
    return k;
}

/* ---- the reference path: direct loops over the definition ---- */

static void ref_forward(const cnn_conv_geom *g, float in_scale, int in_zero, const float *x,
                        const float *w, const float *b, float *y) {
    int K = terms(g), M = group_rows(g), CG = g->C / g->G;
    float r = 1.0f / in_scale, z = (float)in_zero;
    size_t plane = (size_t)g->H * g->W, P = (size_t)g->OH * g->OW;
    for (int n = 0; n < g->N; n++)
        for (int o = 0; o < g->OC; o++) {
            const float *wo = w + (size_t)o * K;
            float s = weight_scale(wo, K), scale = in_scale * s;
            const float *xg = x + ((size_t)n * g->C + (size_t)(o / M) * CG) * plane;
            for (int i = 0; i < g->OH; i++)
                for (int j = 0; j < g->OW; j++) {
                    int32_t sum = 0;
                    for (int c = 0; c < CG; c++)
                        for (int u = 0; u < g->KH; u++)
                            for (int v = 0; v < g->KW; v++) {
                                long ih = (long)i * g->sh - g->pt + (long)u * g->dh;
                                long iw = (long)j * g->sw - g->pl + (long)v * g->dw;
                                int in = ih >= 0 && ih < g->H && iw >= 0 && iw < g->W;
                                int ux = in ? input_int(xg[c * plane + ih * g->W + iw], r, z)
                                            : in_zero;
                                sum += weight_int(wo[(c * g->KH + u) * g->KW + v], s) *
                                       (ux - in_zero);
                            }
                    y[((size_t)n * g->OC + o) * P + (size_t)i * g->OW + j] =
                        output(sum, scale, b ? b[o] : 0.0f, g->relu);
                }
        }
}

/* ---- the fast path ---- */

static inline CNN_BODY void quantise_body(const float *restrict x, uint8_t *restrict u, long n,
                                          float r, float z) {
#pragma omp simd
    for (long i = 0; i < n; i++) u[i] = input_int(x[i], r, z);
}
CNN_DISPATCH(quantise, (const float *restrict x, uint8_t *restrict u, long n, float r, float z),
             (x, u, n, r, z))

/* Planes quantised per task. */
#define QUANT_PLANES 4

typedef struct pass {
    const cnn_conv_geom *g;
    const float *x;
    uint8_t *u;              /* the quantised input */
    uint8_t *col;            /* one sample's and group's columns, packed */
    float r, z;
    int zero;
    int n, gi;               /* the sample and group of the columns */
    int K, K4, P, M;
    int row_blocks;          /* of the products' tiles */
    const int8_t *a;         /* the group's packed weights */
    cnn_qgemm_out out;       /* for the group's rows */
} pass;

static void quantise_range(void *arg, long begin, long end, int worker) {
    (void)worker;
    const pass *s = arg;
    size_t plane = (size_t)s->g->H * s->g->W, planes = (size_t)s->g->N * s->g->C;
    size_t a = (size_t)begin * QUANT_PLANES * plane, e = (size_t)end * QUANT_PLANES;
    if (e > planes) e = planes;
    quantise(s->x + a, s->u + a, (long)(e * plane - a), s->r, s->z);
}

/* Pixels [p0, p0 + n) of term k = (c, kh, kw) of the group: the input byte each of those
 * outputs meets through it, or the zero point outside the image; into dst. */
static void gather(const pass *s, int k, int p0, int n, uint8_t *dst) {
    const cnn_conv_geom *g = s->g;
    int area = g->KH * g->KW, c = k / area, kh = k / g->KW % g->KH, kw = k % g->KW;
    const uint8_t *xc =
        s->u + ((size_t)s->n * g->C + (size_t)s->gi * (g->C / g->G) + c) * g->H * g->W;
    uint8_t zero = (uint8_t)s->zero;
    int i = p0 / g->OW, j = p0 % g->OW;
    for (int done = 0; done < n; i++, j = 0) {
        int len = g->OW - j < n - done ? g->OW - j : n - done;
        long ih = (long)i * g->sh - g->pt + (long)kh * g->dh;
        uint8_t *d = dst + done;
        done += len;
        if (ih < 0 || ih >= g->H) {
            memset(d, zero, (size_t)len);
            continue;
        }
        const uint8_t *row = xc + ih * g->W;
        long iw = (long)j * g->sw - g->pl + (long)kw * g->dw;
        int t = 0;
        for (; t < len && iw < 0; t++, iw += g->sw) d[t] = zero;
        if (g->sw == 1) { /* the run inside the row at once */
            int run = (int)(g->W - iw < len - t ? g->W - iw : len - t);
            if (run > 0) {
                memcpy(d + t, row + iw, (size_t)run);
                t += run, iw += run;
            }
        }
        for (; t < len && iw < g->W; t++, iw += g->sw) d[t] = row[iw];
        for (; t < len; t++) d[t] = zero;
    }
}

/* Four rows of 16 bytes (r, 16 apart) into qgemm.h's 64-byte block: each column's 4 bytes. */
static void interleave(const uint8_t *r, uint8_t *dst) {
#if defined(__SSE2__)
    __m128i a = _mm_loadu_si128((const __m128i *)r), b = _mm_loadu_si128((const __m128i *)(r + 16));
    __m128i c = _mm_loadu_si128((const __m128i *)(r + 32)), d = _mm_loadu_si128((const __m128i *)(r + 48));
    __m128i ab0 = _mm_unpacklo_epi8(a, b), ab1 = _mm_unpackhi_epi8(a, b);
    __m128i cd0 = _mm_unpacklo_epi8(c, d), cd1 = _mm_unpackhi_epi8(c, d);
    _mm_storeu_si128((__m128i *)dst, _mm_unpacklo_epi16(ab0, cd0));
    _mm_storeu_si128((__m128i *)(dst + 16), _mm_unpackhi_epi16(ab0, cd0));
    _mm_storeu_si128((__m128i *)(dst + 32), _mm_unpacklo_epi16(ab1, cd1));
    _mm_storeu_si128((__m128i *)(dst + 48), _mm_unpackhi_epi16(ab1, cd1));
#else
    for (int j = 0; j < 16; j++)
        for (int t = 0; t < 4; t++) dst[j * 4 + t] = r[t * 16 + j];
#endif
}

/* The packed columns of one block of COL_PANELS panels (qgemm.h's layout) at a time: four
 * terms gathered over the block's pixels, then interleaved panel by panel. Terms past K (to
 * a multiple of 4) hold the zero point (any value would do: their weights are 0). */
#define COL_PANELS 4

static void columns_range(void *arg, long begin, long end, int worker) {
    (void)worker;
    const pass *s = arg;
    size_t panel = (size_t)s->K4 * 64;
    uint8_t rows[4][COL_PANELS * 16], block[64];
    for (long b = begin; b < end; b++) {
        int p0 = (int)b * COL_PANELS * 16;
        int n = s->P - p0 < COL_PANELS * 16 ? s->P - p0 : COL_PANELS * 16;
        int panels = (n + 15) / 16;
        for (int q = 0; q < s->K4; q++) {
            for (int t = 0; t < 4; t++) {
                int k = 4 * q + t;
                if (k < s->K) gather(s, k, p0, n, rows[t]);
                else memset(rows[t], s->zero, (size_t)n);
                memset(rows[t] + n, s->zero, (size_t)(panels * 16 - n)); /* columns past P */
            }
            for (int pn = 0; pn < panels; pn++) {
                for (int t = 0; t < 4; t++) memcpy(block + 16 * t, rows[t] + 16 * pn, 16);
                interleave(block, s->col + (size_t)(p0 / 16 + pn) * panel + (size_t)q * 64);
            }
        }
    }
}

/* The products' tiles: TILE_ROWS output channels by TILE_PANELS panels of 16 columns. */
#define TILE_ROWS (CNN_QGEMM_MR * 4)
#define TILE_PANELS 4

static void products_range(void *arg, long begin, long end, int worker) {
    (void)worker;
    const pass *s = arg;
    for (long t = begin; t < end; t++) {
        int m0 = (int)(t % s->row_blocks) * TILE_ROWS, n0 = (int)(t / s->row_blocks) * TILE_PANELS * 16;
        int m1 = m0 + TILE_ROWS < s->M ? m0 + TILE_ROWS : s->M;
        int n1 = n0 + TILE_PANELS * 16 < s->P ? n0 + TILE_PANELS * 16 : s->P;
        cnn_qgemm(s->M, s->P, s->K, s->a, s->col, m0, m1, n0, n1, &s->out);
    }
}

/* The quantised input (first the integers of a group's weights, when they are remade), then
 * one sample's and group's columns. */
static size_t first_bytes(const cnn_conv_geom *g) {
    size_t input = (size_t)g->N * g->C * g->H * g->W;
    size_t q = (size_t)group_rows(g) * (size_t)terms(g);
    return round64(input > q ? input : q);
}

size_t cnn_qconv_work_bytes(const cnn_conv_geom *g) {
    return first_bytes(g) + round64(cnn_qgemm_b_bytes(terms(g), g->OH * g->OW));
}

void cnn_qconv2d_forward(const cnn_ctx *c, const cnn_conv_geom *g, float in_scale, int in_zero,
                         const float *x, const float *w, const float *b, float *y, void *keep) {
    if (c->reference) {
        ref_forward(g, in_scale, in_zero, x, w, b, y);
        return;
    }
    CNN_ASSERT(c->work_size >= cnn_qconv_work_bytes(g));
    keep_layout k = weights(g, in_scale, in_zero, w, keep, c->work);
    const char *base = keep;
    size_t input = (size_t)g->N * g->C * g->H * g->W;
    pass s = {.g = g, .x = x, .u = c->work, .r = 1.0f / in_scale, .z = (float)in_zero,
              .zero = in_zero, .K = terms(g), .P = g->OH * g->OW, .M = group_rows(g)};
    s.col = s.u + first_bytes(g);
    s.K4 = (s.K + 3) / 4;
    s.row_blocks = (s.M + TILE_ROWS - 1) / TILE_ROWS;
    long col_blocks = (s.P + TILE_PANELS * 16 - 1) / (TILE_PANELS * 16);
    double macs = (double)s.M * s.K * s.P; /* of one sample's group */
    int threads = cnn_conv_threads(c, macs);
    long planes = ((long)g->N * g->C + QUANT_PLANES - 1) / QUANT_PLANES;
    cnn_parallel_for(c->workers, cnn_conv_threads(c, (double)input * 64), planes, quantise_range,
                     &s);
    float *zeros = (float *)(base + k.bias); /* the bias when there is none */
    for (s.n = 0; s.n < g->N; s.n++)
        for (s.gi = 0; s.gi < g->G; s.gi++) {
            size_t row0 = (size_t)s.gi * s.M;
            s.a = (const int8_t *)(base + k.a + (size_t)s.gi * k.a_group);
            s.out = (cnn_qgemm_out){.corr = (const int32_t *)(base + k.corr) + row0,
                                    .scale = (const float *)(base + k.scale) + row0,
                                    .bias = (b ? b : zeros) + row0,
                                    .relu = g->relu,
                                    .C = y + ((size_t)s.n * g->OC + row0) * (size_t)s.P,
                                    .ldc = s.P};
            cnn_parallel_for(c->workers, threads, (s.P + COL_PANELS * 16 - 1) / (COL_PANELS * 16),
                             columns_range, &s);
            cnn_parallel_for(c->workers, threads, s.row_blocks * col_blocks, products_range, &s);
        }
}

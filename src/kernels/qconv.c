/*
 * qconv.c - 8-bit inference of a 2-D convolution (see qconv.h for the arithmetic).
 *
 * Fast path, per pass: the weights' integers are remade only when the network's weights may
 * have changed (weights_gen); then for each sample, its input is quantised into padded
 * planes of 4 channels to a pixel, and for each group, blocks of 64 output pixels: each
 * block's columns copied into the products' packed layout (qgemm.h: 16 columns of 4 bytes
 * per 64-byte block, one pixel's 4 channels each) by the task that runs the int8 products on
 * them, which write y through their epilogue. A convolution of stride 1 whose padding columns
 * are few (in_place) copies nothing: the products read the planes in place (qgemm.h's
 * cnn_qgemm_b with offsets), over the padded width, and drop the padding's columns. Work is
 * cut between the threads as suits the shape and the thread count: the integer sums are
 * exact, so the bits never depend on it.
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
#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>
#endif

static size_t round64(size_t bytes) { return (bytes + 63) / 64 * 64; }

/* Terms of one output's sum, and output channels per group. */
static int terms(const cnn_conv_geom *g) { return g->C / g->G * g->KH * g->KW; }
static int group_rows(const cnn_conv_geom *g) { return g->OC / g->G; }

/* The fast path orders the terms (kh, kw, c) with the group's channels in fours, C4 of them
 * (the last padded with channels whose weights are 0), so that one group of 4 terms is the 4
 * channels of one pixel: the products' operand layout (qgemm.h) then holds whole pixels of
 * an input stored 4 channels to a pixel, and the columns are copies of 16 pixels at a time. */
static int fours(const cnn_conv_geom *g) { return (g->C / g->G + 3) / 4; }
long long cnn_qconv_terms(const cnn_conv_geom *g) {
    return (long long)g->KH * g->KW * ((g->C / g->G + 3LL) / 4) * 4;
}
/* The same, for a layer that passed the check against CNN_QCONV_MAX_TERMS. */
static int fast_terms(const cnn_conv_geom *g) { return (int)cnn_qconv_terms(g); }

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

/* Its header: which weights the integers were made from, and when. */
typedef struct keep_header {
    int holds;
    uint64_t gen;   /* the network's weights_gen then */
    const float *w; /* where the weights were */
} keep_header;

typedef struct keep_layout {
    size_t a, a_group, corr, scale, bias, total; /* byte offsets, a_group the stride */
} keep_layout;

static keep_layout keep_of(const cnn_conv_geom *g) {
    keep_layout k;
    size_t K = (size_t)fast_terms(g), OC = (size_t)g->OC;
    k.a = round64(sizeof(keep_header));
    k.a_group = round64(cnn_qgemm_a_bytes(group_rows(g), (int)K));
    k.corr = k.a + (size_t)g->G * k.a_group;
    k.scale = k.corr + round64(OC * sizeof(int32_t));
    k.bias = k.scale + round64(OC * sizeof(float));
    k.total = k.bias + round64(OC * sizeof(float));
    return k;
}

size_t cnn_qconv_keep_bytes(const cnn_conv_geom *g) { return keep_of(g).total; }

/* Makes keep hold the integers of w for in_scale and in_zero, unless it holds those made at
 * the network's weights generation gen from weights at w; returns the layout. q: scratch for
 * one group's integers. Comparing the generation, not the weights (47 MB for ResNet-18), is
 * what lets a pass at batch 1 read only the integers (qconv.h says when they are remade). */
static keep_layout weights(const cnn_conv_geom *g, float in_scale, int in_zero, const float *w,
                           uint64_t gen, void *keep, int8_t *q) {
    keep_layout k = keep_of(g);
    char *base = keep;
    keep_header *h = keep;
    int K = terms(g), M = group_rows(g), KF = fast_terms(g), CG = g->C / g->G, C4 = fours(g);
    if (h->holds && h->gen == gen && h->w == w) return k;
    int32_t *corr = (int32_t *)(base + k.corr);
    float *scale = (float *)(base + k.scale);
    for (int gi = 0; gi < g->G; gi++) {
        memset(q, 0, (size_t)M * (size_t)KF);
        for (int o = 0; o < M; o++) {
            const float *wo = w + ((size_t)gi * M + o) * (size_t)K; /* (c, kh, kw) */
            float s = weight_scale(wo, K);
            for (int c = 0; c < CG; c++)
                for (int t = 0; t < g->KH * g->KW; t++) /* to (kh, kw, c) */
                    q[(size_t)o * KF + ((size_t)t * C4 * 4 + c)] =
                        weight_int(wo[c * g->KH * g->KW + t], s);
            scale[gi * M + o] = in_scale * s;
        }
        int8_t *a = (int8_t *)(base + k.a + (size_t)gi * k.a_group);
        cnn_qgemm_pack_a(M, KF, q, KF, a, corr + (size_t)gi * M);
    }
    for (int o = 0; o < g->OC; o++) corr[o] *= in_zero;
    *h = (keep_header){.holds = 1, .gen = gen, .w = w};
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

/* The quantised input is held in padded planes of 4 channels to a pixel (one plane per four
 * channels of a group, 4 bytes a pixel): the zero point around each image, as far as the
 * kernel reaches past it, so that gathering the columns never tests a bound; and with a
 * column stride S > 1, each plane split into S phases (columns c with c % S = f, in order),
 * so that the pixels a term meets along an output row lie side by side in one phase. */
typedef struct padded {
    int top, left, rows, cols; /* padding before the image; a plane's size in pixels */
    int phases, width;         /* the column stride, and ceil(cols / phases) */
} padded;

static padded padded_of(const cnn_conv_geom *g) {
    long long below = (long long)(g->OH - 1) * g->sh + (long long)(g->KH - 1) * g->dh - g->pt -
                      (g->H - 1);
    long long right = (long long)(g->OW - 1) * g->sw + (long long)(g->KW - 1) * g->dw - g->pl -
                      (g->W - 1);
    padded p = {.top = g->pt, .left = g->pl, .phases = g->sw};
    p.rows = g->pt + g->H + (int)(below > 0 ? below : 0);
    p.cols = g->pl + g->W + (int)(right > 0 ? right : 0);
    p.width = (p.cols + p.phases - 1) / p.phases;
    return p;
}

/* Bytes of one plane (four channels). */
static size_t plane_bytes(const padded *p) {
    return (size_t)p->phases * (size_t)p->rows * (size_t)p->width * 4;
}

/* Planes of a sample: four channels of a group each. */
static size_t plane_count(const cnn_conv_geom *g) { return (size_t)g->G * (size_t)fours(g); }

/* Whether the products read the planes in place: stride 1 (one phase), few output channels
 * per group, and the padding columns computed with each output row (the padded width less
 * the output's) at most 1/10 of the products. Computed column j is padded pixel j of the
 * plane (rows end to end); tap (kh, kw) of it is pixel j + kh DH width + kw DW, so that a
 * tap's 16 columns are 64 bytes in a row. In place, the products read B unaligned from the
 * planes, again for each block of rows, where copied columns are aligned and in L1: they ran
 * 10-16% slower (ResNet-18 at batch 1, Zen 5), which only the convolutions whose copies cost
 * more save: the copies' share of the products is about 14/M for M rows (22% at 64, a 56x56
 * map: 0.46 -> 0.41 ms a convolution at 1 thread; at 128 rows, 28x28, in place was slower). */
static int in_place(const cnn_conv_geom *g) {
    padded p = padded_of(g);
    return g->sh == 1 && g->sw == 1 && group_rows(g) <= 64 &&
           (long long)(p.cols - g->OW) * 10 <= p.cols;
}

/* Columns of the products in place: the output rows at the padded width, the last one cut
 * at the output's. */
static int in_place_columns(const cnn_conv_geom *g) {
    return (g->OH - 1) * padded_of(g).cols + g->OW;
}

/* Bytes of the planes of a sample, and after them the bytes read past the last: by the
 * products in place (a panel's 64 bytes from the last columns' start; cleared) and by the
 * copied columns (up to 60 bytes past a run's end, into columns never used). */
static size_t planes_bytes(const cnn_conv_geom *g) {
    padded p = padded_of(g);
    return plane_count(g) * plane_bytes(&p) + 64;
}

static void quantise_base(const float *restrict x, uint8_t *restrict u, long n, float r,
                          float z) {
    for (long i = 0; i < n; i++) u[i] = input_int(x[i], r, z);
}

#if defined(__x86_64__) && defined(__GNUC__)
/* input_int eight at a time, the last few through a masked load: the rows are short (7 to 224
 * pixels), and GCC's vectorised loop took 32 at a time and left most of each row to its
 * scalar tail (16% of ResNet-18's 8-bit inference at 1 thread). The same operations in the
 * same order: max(v, 0) gives 0 for a NaN as the comparison does, MAXPS returning its second
 * operand then. */
__attribute__((target("avx2"))) static void quantise_avx2(const float *restrict x,
                                                          uint8_t *restrict u, long n, float r,
                                                          float z) {
    const __m256 vr = _mm256_set1_ps(r), vz = _mm256_set1_ps(z), half = _mm256_set1_ps(0.5f);
    const __m256 zero = _mm256_setzero_ps(), top = _mm256_set1_ps(255.0f);
    const __m256i lanes = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
    for (long i = 0; i < n; i += 8) {
        long m = n - i < 8 ? n - i : 8;
        __m256 v = m == 8 ? _mm256_loadu_ps(x + i)
                          : _mm256_maskload_ps(x + i, _mm256_cmpgt_epi32(
                                                          _mm256_set1_epi32((int)m), lanes));
        v = _mm256_add_ps(_mm256_add_ps(_mm256_mul_ps(v, vr), vz), half);
        v = _mm256_min_ps(_mm256_max_ps(v, zero), top);
        __m256i q = _mm256_cvttps_epi32(v);
        __m128i w = _mm_packs_epi32(_mm256_castsi256_si128(q), _mm256_extracti128_si256(q, 1));
        __m128i b = _mm_packus_epi16(w, w);
        if (m == 8) {
            _mm_storel_epi64((__m128i *)(u + i), b);
        } else {
            uint8_t t[16];
            _mm_storeu_si128((__m128i *)t, b);
            memcpy(u + i, t, (size_t)m);
        }
    }
}
#endif

static void quantise(const float *restrict x, uint8_t *restrict u, long n, float r, float z) {
#if defined(__x86_64__) && defined(__GNUC__)
    if (cnn_isa() >= CNN_ISA_AVX2) {
        quantise_avx2(x, u, n, r, z);
        return;
    }
#endif
    quantise_base(x, u, n, r, z);
}

typedef struct pass {
    const cnn_conv_geom *g;
    const float *x;
    uint8_t *u;              /* the quantised input, padded planes */
    const ptrdiff_t *off;    /* in place: where the products' groups start in a group's
                                planes (qgemm.h's cnn_qgemm_b); NULL: columns copied */
    padded pad;
    const cnn_ctx *c;        /* each thread's scratch: one block's columns, packed */
    float r, z;
    int zero;
    int n, gi;               /* the sample and group being computed */
    int K, K4, P, M;         /* K: the products' terms (fast_terms); P: their columns */
    int blocks, panels;      /* blocks of columns; panels (16 columns) of P in all */
    int row_blocks, parts;   /* of TILE_ROWS rows; tasks per block of columns */
    const int8_t *a;         /* the group's packed weights */
    cnn_qgemm_out out;       /* for the group's rows */
} pass;

/* Four rows of 16 bytes into 64 bytes: each column's 4 bytes (a pixel's 4 channels; the
 * products' operand layout too). */
static void interleave(const uint8_t *r0, const uint8_t *r1, const uint8_t *r2,
                       const uint8_t *r3, uint8_t *dst) {
#if defined(__SSE2__)
    __m128i a = _mm_loadu_si128((const __m128i *)r0), b = _mm_loadu_si128((const __m128i *)r1);
    __m128i c = _mm_loadu_si128((const __m128i *)r2), d = _mm_loadu_si128((const __m128i *)r3);
    __m128i ab0 = _mm_unpacklo_epi8(a, b), ab1 = _mm_unpackhi_epi8(a, b);
    __m128i cd0 = _mm_unpacklo_epi8(c, d), cd1 = _mm_unpackhi_epi8(c, d);
    _mm_storeu_si128((__m128i *)dst, _mm_unpacklo_epi16(ab0, cd0));
    _mm_storeu_si128((__m128i *)(dst + 16), _mm_unpackhi_epi16(ab0, cd0));
    _mm_storeu_si128((__m128i *)(dst + 32), _mm_unpacklo_epi16(ab1, cd1));
    _mm_storeu_si128((__m128i *)(dst + 48), _mm_unpackhi_epi16(ab1, cd1));
#else
    const uint8_t *r[4] = {r0, r1, r2, r3};
    for (int j = 0; j < 16; j++)
        for (int t = 0; t < 4; t++) dst[j * 4 + t] = r[t][j];
#endif
}

/* Padded row i of plane u (phases of p->rows rows): the four image rows x[t] (NULL: a
 * channel past the group's, or a row outside the image) quantised, 4 bytes a pixel. */
#define QROW 256 /* pixels quantised at a time */
static void padded_row(const pass *s, const float *const x[4], uint8_t *u, int i) {
    const padded *p = &s->pad;
    int W = s->g->W;
    uint8_t t4[4][QROW + 16], pix[4 * QROW];
    size_t phase = (size_t)p->rows * p->width * 4;
    for (int c0 = 0; c0 < p->cols; c0 += QROW) {
        int c1 = p->cols - c0 < QROW ? p->cols : c0 + QROW;
        int a = c0 > p->left ? c0 : p->left, b = c1 < p->left + W ? c1 : p->left + W;
        for (int t = 0; t < 4; t++) {
            memset(t4[t], s->zero, (size_t)(c1 - c0 + 15) / 16 * 16);
            if (x[t] && a < b) quantise(x[t] + (a - p->left), t4[t] + (a - c0), b - a, s->r, s->z);
        }
        /* One phase: straight into the row while whole 16 pixels fit, the rest through pix. */
        int direct = p->phases == 1 ? (c1 - c0) / 16 * 16 : 0;
        uint8_t *row = u + ((size_t)i * p->width + (size_t)c0) * 4;
        for (int j = 0; j < direct; j += 16)
            interleave(t4[0] + j, t4[1] + j, t4[2] + j, t4[3] + j, row + 4 * j);
        for (int j = direct; j < c1 - c0; j += 16)
            interleave(t4[0] + j, t4[1] + j, t4[2] + j, t4[3] + j, pix + 4 * j);
        if (p->phases == 1) {
            memcpy(row + 4 * direct, pix + 4 * direct, (size_t)(c1 - c0 - direct) * 4);
            continue;
        }
        for (int f = 0; f < p->phases; f++) { /* columns f, f + S, ... of the row */
            int col = c0 + ((f - c0 % p->phases) + p->phases) % p->phases;
            uint8_t *dst = u + (size_t)f * phase + ((size_t)i * p->width + col / p->phases) * 4;
            for (; col < c1; col += p->phases, dst += 4) memcpy(dst, pix + 4 * (col - c0), 4);
        }
    }
}

#if defined(__x86_64__) && defined(__GNUC__)
#define AVX512_ROW __attribute__((target("avx2,avx512f,avx512bw,avx512vl,avx512dq")))

/* Pixels j .. j + 15 of the four image rows x[t] (lanes past m: anything), quantised and
 * interleaved without leaving the registers: input_int's operations in its order, then
 * pixel p's four bytes as lane p, channel t in bits 8t .. 8t + 7. A missing row is the zero
 * point. */
AVX512_ROW static inline __m512i pixels16(const float *const x[4], long j, __mmask16 m,
                                          float r, float z, int zero) {
    const __m512 vr = _mm512_set1_ps(r), vz = _mm512_set1_ps(z), half = _mm512_set1_ps(0.5f);
    const __m512 lo = _mm512_setzero_ps(), top = _mm512_set1_ps(255.0f);
    __m512i px = _mm512_setzero_si512();
    for (int t = 0; t < 4; t++) {
        __m512i q;
        if (x[t]) {
            __m512 v = _mm512_maskz_loadu_ps(m, x[t] + j);
            v = _mm512_add_ps(_mm512_add_ps(_mm512_mul_ps(v, vr), vz), half);
            q = _mm512_cvttps_epi32(_mm512_min_ps(_mm512_max_ps(v, lo), top));
        } else {
            q = _mm512_set1_epi32(zero);
        }
        px = _mm512_or_si512(px, _mm512_slli_epi32(q, 8 * t));
    }
    return px;
}

/* padded_row with AVX-512, for column strides 1 and 2: the padding filled with the zero
 * point, then sixteen pixels at a time quantised, interleaved (pixels16) and stored; with
 * stride 2, the even and odd lanes permuted into halves, each stored to its phase. */
AVX512_ROW static void padded_row_avx512(const pass *s, const float *const x[4], uint8_t *u,
                                         int i) {
    const padded *p = &s->pad;
    long W = s->g->W, row = (long)i * p->width * 4;
    size_t phase = (size_t)p->rows * p->width * 4;
    int any = x[0] || x[1] || x[2] || x[3];
    if (p->phases == 1) {
        memset(u + row, s->zero, (size_t)(any ? p->left : p->cols) * 4);
        if (!any) return;
        memset(u + row + (p->left + W) * 4, s->zero, (size_t)(p->cols - p->left - W) * 4);
        for (long j = 0; j < W; j += 16) {
            __mmask16 m = (__mmask16)(W - j >= 16 ? 0xffff : (1u << (W - j)) - 1);
            __m512i px = pixels16(x, j, m, s->r, s->z, s->zero);
            _mm512_mask_storeu_epi32(u + row + (p->left + j) * 4, m, px);
        }
        return;
    }
    for (int f = 0; f < 2; f++) memset(u + f * phase + row, s->zero, (size_t)p->width * 4);
    if (!any) return;
    /* Lane 2k is column c = left + j + 2k, in phase c % 2 at c / 2; lane 2k + 1 the next. */
    const __m512i split = _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 1, 3, 5, 7, 9, 11, 13, 15);
    int parity = p->left % 2;
    for (long j = 0; j < W; j += 16) {
        long n = W - j < 16 ? W - j : 16, c = p->left + j;
        __m512i px = pixels16(x, j, (__mmask16)(n == 16 ? 0xffff : (1u << n) - 1), s->r, s->z,
                              s->zero);
        px = _mm512_permutexvar_epi32(split, px);
        __mmask8 even = (__mmask8)((1u << (n + 1) / 2) - 1), odd = (__mmask8)((1u << n / 2) - 1);
        _mm256_mask_storeu_epi32(u + parity * phase + row + c / 2 * 4, even,
                                 _mm512_castsi512_si256(px));
        _mm256_mask_storeu_epi32(u + (1 - parity) * phase + row + (c + 1) / 2 * 4, odd,
                                 _mm512_extracti64x4_epi64(px, 1));
    }
}
#endif

/* Whether padded row i is read by some output row: i = oh SH + kh DH. A convolution whose
 * stride passes over rows (ResNet's 1x1 stride-2 shortcuts: every other row) leaves the
 * others unquantised; columns never reads them. */
static int row_read(const cnn_conv_geom *g, int i) {
    for (int kh = 0; kh < g->KH; kh++) {
        long r = (long)i - (long)kh * g->dh;
        if (r < 0) break; /* and so are the next */
        if (g->sh == 1 ? r < g->OH : r % g->sh == 0 && r / g->sh < g->OH) return 1;
    }
    return 0;
}

/* Padded rows [i0, i1) of plane pl, quantised. What the rows share is found once: at batch 1
 * ResNet-18's last layers have 9-row planes of 7 pixels, and a row's own divisions and
 * pointers cost as much as its quantising. */
static void quantise_rows(const pass *s, long pl, int i0, int i1, int avx512) {
    const cnn_conv_geom *g = s->g;
    const padded *p = &s->pad;
    int CG = g->C / g->G, C4 = fours(g);
    long gi = pl / C4, c4 = pl % C4;
    uint8_t *u = s->u + (size_t)pl * plane_bytes(p);
    (void)avx512; /* (without x86 intrinsics) */
    const float *plane[4]; /* the four channels' planes (NULL: past the group's) */
    for (int k = 0; k < 4; k++) {
        long c = c4 * 4 + k;
        plane[k] = c < CG ? s->x + ((size_t)s->n * g->C + (size_t)gi * CG + c) * g->H * g->W
                          : NULL;
    }
    for (int i = i0; i < i1; i++) {
        if (!row_read(g, i)) continue;
        int at = i - p->top;
        const float *x[4];
        for (int k = 0; k < 4; k++) {
            x[k] = plane[k] && at >= 0 && at < g->H ? plane[k] + (size_t)at * g->W : NULL;
            /* The row two below, which this task quantises next but one. */
            if (x[k] && at + 2 < g->H)
                for (int j = 0; j < g->W; j += 16)
                    __builtin_prefetch(x[k] + 2 * (size_t)g->W + j);
        }
#if defined(__x86_64__) && defined(__GNUC__)
        if (avx512) {
            padded_row_avx512(s, x, u, i);
            continue;
        }
#endif
        padded_row(s, x, u, i);
    }
}

/* Padded rows per task of quantise_range. */
#define QUANT_BAND 8
static long quantise_tasks(const pass *s) {
    return (s->pad.rows + QUANT_BAND - 1) / QUANT_BAND * (long)plane_count(s->g);
}

/* Rows of the planes of sample s->n (group, four channels), quantised: task t is band
 * t % bands of QUANT_BAND padded rows of plane t / bands, so that a range of tasks is a range
 * of channels, as the layers before cut theirs (element-wise layers their elements in order,
 * poolings their planes): a thread reads the channels its part of the layer before left in
 * its own cache. Cut in bands of every plane instead (the bands its products read most), half
 * of each thread's reads came from the other die's cache, and the lines left shared there
 * slowed the next writes to them: at batch 1 on two dies (Zen 5), ResNet-18's adds and max
 * pooling were a third slower, and its 8-bit pass 4.92 -> 4.73 ms (medians of 8 interleaved
 * runs) with this cut, though the products now read half their planes from the other die. A
 * task reads its four channels' rows in order, four streams the prefetchers follow (a task
 * per row went through the planes row by row, a stream per channel). */
static void quantise_range(void *arg, long begin, long end, int worker) {
    (void)worker;
    const pass *s = arg;
    int avx512 = cnn_isa() >= CNN_ISA_AVX512 && s->pad.phases <= 2;
    long bands = (s->pad.rows + QUANT_BAND - 1) / QUANT_BAND;
    for (long t = begin; t < end; t++) {
        int i0 = (int)(t % bands) * QUANT_BAND;
        int i1 = i0 + QUANT_BAND < s->pad.rows ? i0 + QUANT_BAND : s->pad.rows;
        quantise_rows(s, t / bands, i0, i1, avx512);
    }
}

/* 64 bytes, inline (a call to memcpy costs more). */
static inline void copy64(uint8_t *dst, const uint8_t *src) {
#if defined(__SSE2__)
    for (int b = 0; b < 64; b += 16)
        _mm_storeu_si128((__m128i *)(dst + b), _mm_loadu_si128((const __m128i *)(src + b)));
#else
    memcpy(dst, src, 64);
#endif
}

/* The runs of one block's pixels along output rows: row i, columns j .. j + len - 1, at
 * offset at of the block. */
typedef struct run {
    int i, j, len, at;
} run;

static int runs_of(const cnn_conv_geom *g, int p0, int n, run *r) {
    int count = 0, i = p0 / g->OW, j = p0 % g->OW;
    for (int done = 0; done < n; i++, j = 0, count++) {
        int len = g->OW - j < n - done ? g->OW - j : n - done;
        r[count] = (run){i, j, len, done};
        done += len;
    }
    return count;
}

/* The columns are built and used a block of at most COL_PANELS panels (64 pixels) at a time
 * (the panels shared out evenly between the blocks, so that the blocks' products are the same
 * size to a panel: ResNet-18's 14x14 maps at batch 1 are 13 panels, 4 blocks of 3 or 4), by the
 * task that needs them, in its thread's scratch: for ResNet-18's 3x3 convolutions a block is
 * 37 KB (56x56) to 295 KB (7x7), at hand in cache for the products. */
#define COL_PANELS 4
/* Rows of the products counted in blocks of TILE_ROWS. */
#define TILE_ROWS (CNN_QGEMM_MR * 4)

/* The packed columns of the pixels [p0, p0 + n) of the sample and group (qgemm.h's layout,
 * n columns) into col. Group q of 4 terms is tap (kh, kw) of four channels c4: for each run,
 * its pixels' 4 bytes side by side in the plane, copied 16 bytes at a time (past the run's
 * end: the next run overwrites the excess, and pixels past n may hold anything); then each
 * 64 bytes (16 pixels) to its panel, or straight from the plane where no panel straddles two
 * runs (then up to 60 bytes past the block's last run). The planes are followed by 64 bytes
 * for the reads past the last (planes_bytes). */
#if defined(__GNUC__) && !defined(__clang__)
/* GCC turned the runs' 16-byte copies into calls to memcpy: 4% of ResNet-18's 8-bit pass. */
__attribute__((optimize("no-tree-loop-distribute-patterns")))
#endif
static void columns(const pass *s, int p0, int n, uint8_t *col) {
    const cnn_conv_geom *g = s->g;
    const padded *p = &s->pad;
    size_t panel = (size_t)s->K4 * 64, phase = (size_t)p->rows * p->width * 4;
    size_t plane = plane_bytes(p), row = (size_t)p->width * 4;
    uint8_t px[COL_PANELS * 64 + 16];
    run r[COL_PANELS * 16];
    size_t at[COL_PANELS * 16]; /* each run's start in a plane, for tap (0, 0) */
    int panels = (n + 15) / 16, runs = runs_of(g, p0, n, r), C4 = fours(g);
    for (int t = 0; t < runs; t++) at[t] = (size_t)r[t].i * g->sh * row + (size_t)r[t].j * 4;
    /* Where no panel straddles two runs (output rows a multiple of 16 pixels wide: ResNet's
     * 112-pixel stem), each panel's 16 pixels are side by side in the plane: copied straight
     * to it, without the staging. */
    int direct = 1;
    for (int t = 0; t < runs; t++)
        direct &= r[t].at % 16 == 0 && (r[t].len % 16 == 0 || t == runs - 1);
    const uint8_t *planes = s->u + (size_t)s->gi * C4 * plane;
    uint8_t *dst = col;
    /* Group q = (kh KW + kw) C4 + c4, in order: the loops find the taps without dividing. */
    for (int kh = 0; kh < g->KH; kh++)
        for (int kw = 0; kw < g->KW; kw++) {
            int cx = kw * g->dw;
            const uint8_t *tap = planes + (size_t)(cx % p->phases) * phase +
                                 (size_t)kh * g->dh * row + (size_t)(cx / p->phases) * 4;
            for (int c4 = 0; c4 < C4; c4++, dst += 64) {
                const uint8_t *base = tap + (size_t)c4 * plane;
                if (direct) {
                    uint8_t *out = dst;
                    for (int t = 0; t < runs; t++)
                        for (int b = 0; b < 4 * r[t].len; b += 64, out += panel)
                            copy64(out, base + at[t] + b);
                    continue;
                }
                for (int t = 0; t < runs; t++) {
                    const uint8_t *src = base + at[t];
                    uint8_t *d = px + 4 * r[t].at;
#if defined(__SSE2__)
                    for (int b = 0; b < 4 * r[t].len; b += 16)
                        _mm_storeu_si128((__m128i *)(d + b),
                                         _mm_loadu_si128((const __m128i *)(src + b)));
#else
                    memcpy(d, src, (size_t)r[t].len * 4);
#endif
                }
                uint8_t *out = dst;
                for (int pn = 0; pn < panels; pn++, out += panel) copy64(out, px + 64 * pn);
            }
        }
}

/* Panel where block b starts. */
static int block_panel(const pass *s, int b) {
    return (int)((long long)s->panels * b / s->blocks);
}

/* Task t: block t / parts of the columns, and part t % parts of the rows. A block split
 * into parts is built by each of its tasks (cheap next to its products): at batch 1, the
 * last layers have one block, and the threads share its rows. In place, a block is the
 * products' columns [p0, p1) read from the group's planes. */
static void blocks_range(void *arg, long begin, long end, int worker) {
    const pass *s = arg;
    for (long t = begin; t < end; t++) {
        int block = (int)(t / s->parts), part = (int)(t % s->parts);
        int p0 = block_panel(s, block) * 16, p1 = block_panel(s, block + 1) * 16;
        int n = (p1 < s->P ? p1 : s->P) - p0;
        int m0 = s->row_blocks * part / s->parts * TILE_ROWS;
        int m1 = s->row_blocks * (part + 1) / s->parts * TILE_ROWS;
        if (m1 > s->M) m1 = s->M;
        if (s->off) {
            cnn_qgemm_b B = {s->u + (size_t)s->gi * fours(s->g) * plane_bytes(&s->pad), s->off};
            cnn_qgemm(s->M, s->P, s->K, s->a, &B, m0, m1, p0, p0 + n, &s->out);
            continue;
        }
        uint8_t *col = cnn_thread_work(s->c, worker); /* (none in place: block_bytes) */
        columns(s, p0, n, col);
        cnn_qgemm_out out = s->out;
        out.C += p0; /* the block as a product of n columns */
        cnn_qgemm_b B = {col, NULL};
        cnn_qgemm(s->M, n, s->K, s->a, &B, m0, m1, 0, n, &out);
    }
}

/* The products' offsets in place (pass's off), K4 of them: group q is tap q / C4 of the four
 * channels q % C4 of the group. */
static void in_place_offsets(const cnn_conv_geom *g, ptrdiff_t *off) {
    padded p = padded_of(g);
    int C4 = fours(g);
    for (int q = 0; q < g->KH * g->KW * C4; q++) {
        int tap = q / C4, kh = tap / g->KW, kw = tap % g->KW;
        off[q] = (ptrdiff_t)((size_t)(q % C4) * plane_bytes(&p) +
                             ((size_t)kh * g->dh * p.cols + (size_t)kw * g->dw) * 4);
    }
}

/* Tasks per block of columns: the fewest (each builds the block's columns) that share the
 * blocks evenly between the threads, a count of tasks the threads divide, or so many that
 * the one left over is a small part (the tasks are the same size to a panel). */
static int parts_of(int blocks, int threads, int row_blocks) {
    int p = 1;
    while ((blocks * p) % threads && blocks * p < 6 * threads && p < row_blocks) p++;
    return p;
}

/* Shared: a sample's input quantised in padded planes (planes_bytes: columns read 60 bytes
 * past them, the products in place 63), then in place the products' offsets (first the
 * integers of a group's weights, when they are remade); each thread's own: a block of
 * columns. */
static size_t first_bytes(const cnn_conv_geom *g) {
    size_t input = round64(planes_bytes(g));
    if (in_place(g)) input += round64((size_t)(fast_terms(g) / 4) * sizeof(ptrdiff_t));
    size_t q = (size_t)group_rows(g) * (size_t)fast_terms(g);
    return round64(input > q ? input : q);
}

static size_t block_bytes(const cnn_conv_geom *g) {
    return in_place(g) ? 0 : round64(cnn_qgemm_b_bytes(fast_terms(g), COL_PANELS * 16));
}

cnn_work cnn_qconv_work_bytes(const cnn_conv_geom *g) {
    return (cnn_work){first_bytes(g), block_bytes(g)};
}

void cnn_qconv2d_forward(const cnn_ctx *c, const cnn_conv_geom *g, float in_scale, int in_zero,
                         const float *x, const float *w, const float *b, float *y, void *keep) {
    if (c->reference) {
        ref_forward(g, in_scale, in_zero, x, w, b, y);
        return;
    }
    CNN_ASSERT(cnn_ctx_holds(c, cnn_qconv_work_bytes(g)));
    keep_layout k = weights(g, in_scale, in_zero, w, c->net->weights_gen, keep, c->work);
    const char *base = keep;
    pass s = {.g = g, .x = x, .u = c->work, .pad = padded_of(g), .r = 1.0f / in_scale,
              .z = (float)in_zero, .zero = in_zero, .K = fast_terms(g), .P = g->OH * g->OW,
              .M = group_rows(g)};
    s.K4 = s.K / 4;
    if (in_place(g)) {
        ptrdiff_t *off = (ptrdiff_t *)(s.u + round64(planes_bytes(g)));
        in_place_offsets(g, off);
        memset(s.u + planes_bytes(g) - 64, 0, 64); /* read past the planes, never used */
        s.off = off;
        s.P = in_place_columns(g);
    }
    s.row_blocks = (s.M + TILE_ROWS - 1) / TILE_ROWS;
    s.c = c;
    s.panels = (s.P + 15) / 16;
    s.blocks = (s.panels + COL_PANELS - 1) / COL_PANELS;
    int threads = cnn_conv_threads(c, (double)s.M * s.K * s.P); /* of one sample's group */
    /* Enough tasks to share between the threads: the integer sums give the same bits
     * however the work is cut, so the cut may follow the thread count. */
    s.parts = parts_of(s.blocks, threads, s.row_blocks);
    int quantise_threads = cnn_conv_threads(c, (double)first_bytes(g) * 64);
    float *zeros = (float *)(base + k.bias); /* the bias when there is none */
    for (s.n = 0; s.n < g->N; s.n++) {
        cnn_parallel_for(c->workers, quantise_threads, quantise_tasks(&s), quantise_range,
                         &s);
        for (s.gi = 0; s.gi < g->G; s.gi++) {
            size_t row0 = (size_t)s.gi * s.M;
            s.a = (const int8_t *)(base + k.a + (size_t)s.gi * k.a_group);
            size_t P = (size_t)g->OH * g->OW;
            s.out = (cnn_qgemm_out){.corr = (const int32_t *)(base + k.corr) + row0,
                                    .scale = (const float *)(base + k.scale) + row0,
                                    .bias = (b ? b : zeros) + row0,
                                    .relu = g->relu,
                                    .C = y + ((size_t)s.n * g->OC + row0) * P,
                                    .ldc = (int)P};
            if (s.off) { /* the padding's columns dropped */
                s.out.run = g->OW;
                s.out.skip = s.pad.cols - g->OW;
            }
            cnn_parallel_for(c->workers, threads, (long)s.blocks * s.parts, blocks_range, &s);
        }
    }
}

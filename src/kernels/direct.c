/*
 * direct.c - direct convolution kernels for few input channels. See direct.h.
 *
 * A "pass" is one convolution the kernels compute, from an input of CI channels H x W to an
 * output of CO channels OH x OW with KH x KW kernels and the zeros PT above and PL left of the
 * input: the forward pass is g itself; the data gradient's gather form goes from dy to dx with
 * the kernels turned by 180 degrees, the channels swapped and PT' = KH - 1 - PT,
 * PL' = KW - 1 - PL. A stride S > 1 (forward and weight gradient only) splits the padded copy
 * into S x S phases. The data gradient's scatter form (spass) and the forms along the output
 * channels (forward and weight gradient) are described where they are defined; each shape
 * takes whichever form multiplies less (a choice made by the shape alone, so the bits never
 * depend on the threads).
 *
 * At the AVX-512 level the same products run on 512-bit vectors (block_6x32 along the
 * outputs, block_12x16 and wgrad_12x16 along the channels), each sum in the same order: the
 * same bits as the AVX2 kernels, which stay for AVX2 hosts and for the blocks at the ends.
 *
 * Scratch: in the shared part (c->work) the pass's weights tap-major, wt[t][o] for tap t =
 * (ci, u, v) (output channels padded with zeros to a multiple of 6, or of 16 along the
 * channels), the taps' offsets in the padded copy, then the weight gradient's slots, one per
 * chunk of samples; in each thread's own part (cnn_thread_work) its padded copy xp and
 * outputs yp (for the weight gradient, dy copied with the row length of xp or transposed).
 * With fewer samples than threads, sample n's copy and outputs are in thread n's part.
 */
#include "direct.h"

#include <immintrin.h>
#include <limits.h>
#include <string.h>

/* Output channels and outputs of the forward kernel's block; taps of the weight gradient's
 * blocks along the outputs (wgrad_6x2) and along the output channels (wgrad_6x16, 16 output
 * channels a block). */
#define OB 6
#define QB 16
#define TB 2
#define TC 6
#define WOB 16
/* Samples of one weight-gradient slot. */
#define WCHUNK 4
/* Output channels at most. */
#define MAX_OUT 64

typedef struct dpass {
    int N, CI, H, W;     /* input */
    int CO, OH, OW;      /* output */
    int KH, KW, pt, pl;  /* kernel; zeros above and left of the input */
    int sh, sw;          /* stride */
    int Hp, Wp;          /* padded copy: sh sw phases of each plane, of OH + (KH - 1) / sh rows
                          * of OW + (KW - 1) / sw */
    int K, Kp;           /* taps CI KH KW, and rounded up to TC (a multiple of TB) */
    int COp, COw;        /* CO rounded up to OB, and to WOB */
    size_t L, Lr;        /* outputs computed per channel, OH Wp; rounded up to QB */
    size_t xp, yp;       /* floats of one thread's padded copy and outputs */
    size_t shared;       /* floats of wt, the taps' offsets and wt's row offsets */
    int relu;            /* the forward pass's max(y, 0) after the bias (cnn_conv_geom) */
} dpass;

static dpass pass_of(int N, int CI, int H, int W, int CO, int OH, int OW, int KH, int KW,
                     int pt, int pl, int sh, int sw) {
    dpass p = {.N = N, .CI = CI, .H = H, .W = W, .CO = CO, .OH = OH, .OW = OW, .KH = KH,
               .KW = KW, .pt = pt, .pl = pl, .sh = sh, .sw = sw};
    p.Hp = OH + (KH - 1) / sh;
    p.Wp = OW + (KW - 1) / sw;
    p.K = CI * KH * KW;
    p.Kp = (p.K + TC - 1) / TC * TC;
    p.COp = (CO + OB - 1) / OB * OB;
    p.COw = (CO + WOB - 1) / WOB * WOB;
    p.L = (size_t)OH * p.Wp;
    p.Lr = (p.L + QB - 1) / QB * QB;
    /* The last tap of the last output of a block reads Lr - 1 + (KH - 1) / sh Wp +
     * (KW - 1) / sw, at most Hp Wp + QB + KW past the start of the last plane. */
    p.xp = cnn_round16((size_t)CI * sh * sw * p.Hp * p.Wp + QB + (size_t)KW + 8);
    /* The outputs; for the weight gradient dy, in rows of Wp or transposed to OH OW rows of
     * COw. */
    size_t yt = (size_t)OH * OW * p.COw;
    p.yp = cnn_round16((size_t)p.COp * p.Lr > yt ? (size_t)p.COp * p.Lr : yt);
    /* wt has rows of COp (or COw, for the forward pass along the channels). */
    p.shared = cnn_round16((size_t)p.Kp * (p.COw > p.COp ? p.COw : p.COp)) +
               2 * cnn_round16((size_t)p.Kp);
    return p;
}

static dpass forward_pass(const cnn_conv_geom *g) {
    dpass p = pass_of(g->N, g->C, g->H, g->W, g->OC, g->OH, g->OW, g->KH, g->KW, g->pt, g->pl,
                      g->sh, g->sw);
    p.relu = g->relu;
    return p;
}

static dpass data_pass(const cnn_conv_geom *g) {
    return pass_of(g->N, g->OC, g->OH, g->OW, g->C, g->H, g->W, g->KH, g->KW,
                   g->KH - 1 - g->pt, g->KW - 1 - g->pl, 1, 1);
}

/* The data gradient as products and a scatter: cols[t][q] = sum over o of w[o][t] dy[o][q] for
 * each tap t = (ch, u, v) and output q (the same kernel, the output channels as its taps and
 * the taps as its channels), then each tap's cols added to the input pixels it came from. In a
 * copy of dx padded to Hd = OH + KH - 1 rows of P = OW + KW - 1 (PT rows and PL columns before
 * the pixels), with dy and cols in rows of P too (zeros in the P - OW columns past OW), output
 * (i, j) of tap (u, v) goes to padded pixel (i + u, j + v): every tap adds one contiguous run,
 * dxp_ch[u P + v + q] += cols[t][q], and the taps of one kernel row together add, to the run at
 * u P, the sum over v of cols[t(v)] shifted by v (read with zeros M before and after each row of
 * cols, summed in registers). The zero columns land on the border or on the next row, and add
 * zero. This multiplies dy by OW + KW - 1 columns where the convolution has OW; the gather
 * form (data_pass) multiplies also dy's zero border rows, and pads C to the block of 6 (6 times
 * the work when C = 1). */
typedef struct spass {
    int T, Tp;        /* taps C KH KW, rounded up to OB */
    int Hd, P;        /* rows and row length of the padded dx and of dy's and cols' rows */
    size_t Q, Qr;     /* outputs computed per tap, OH P, rounded up to QB */
    size_t M, Cp;     /* zeros before and after each row of cols (KW - 1 rounded up to 8); its
                       * length, Qr + 2 M */
    size_t plane;     /* floats of one plane of the padded dx: Hd P, and the last run's end */
    size_t dyp, cols, dxp; /* floats of one thread's dy, cols and padded dx */
    size_t shared;    /* floats of the weights (OC rows of Tp) and of two arrays of offsets */
} spass;

static spass scatter_pass(const cnn_conv_geom *g) {
    spass s;
    s.T = g->C * g->KH * g->KW;
    s.Tp = (s.T + OB - 1) / OB * OB;
    s.Hd = g->OH + g->KH - 1;
    s.P = g->OW + g->KW - 1;
    s.Q = (size_t)g->OH * s.P;
    s.Qr = (s.Q + QB - 1) / QB * QB;
    s.M = ((size_t)g->KW - 1 + 7) / 8 * 8;
    s.Cp = s.Qr + 2 * s.M;
    /* The run of tap (KH - 1, KW - 1) ends at (KH - 1) P + KW - 1 + OH P. */
    s.plane = (size_t)s.Hd * s.P + (size_t)g->KW;
    s.dyp = cnn_round16((size_t)g->OC * s.Qr);
    s.cols = cnn_round16((size_t)s.Tp * s.Cp);
    s.dxp = cnn_round16((size_t)g->C * s.plane);
    s.shared = cnn_round16((size_t)g->OC * s.Tp) + 2 * cnn_round16((size_t)g->OC);
    return s;
}

static cnn_work scatter_bytes(const spass *s) {
    return (cnn_work){s->shared * sizeof(float), (s->dyp + s->cols + s->dxp) * sizeof(float)};
}

/* Whether the scatter form does less work than the gather form: multiply-adds of each, the
 * scatter's additions counted twice (they are loads and stores, not registers). */
static int data_by_scatter(const cnn_conv_geom *g) {
    dpass p = data_pass(g);
    spass s = scatter_pass(g);
    double gather = (double)p.Lr * p.K * p.COp;
    double scatter = (double)s.Tp * s.Qr * g->OC + 2.0 * s.T * s.Q;
    return scatter < gather;
}

int cnn_direct_applies(const cnn_conv_geom *g) {
    if (g->sh > CNN_DIRECT_MAX_STRIDE || g->sw > CNN_DIRECT_MAX_STRIDE) return 0;
    if (g->dh != 1 || g->dw != 1 || g->G != 1) return 0;
    if (g->C > CNN_DIRECT_MAX_CHANNELS || g->OC > MAX_OUT) return 0;
    /* The padded planes and their offsets are ints (the taps' offsets, the kernel's reads). */
    double plane = ((double)g->OH + g->KH) * ((double)g->OW + g->KW) * g->sh * g->sw + QB + g->KW;
    double dplane = ((double)g->H + g->KH) * ((double)g->W + g->KW) + QB + g->KW;
    if (plane * CNN_DIRECT_MAX_CHANNELS > INT_MAX || dplane * MAX_OUT > INT_MAX) return 0;
    return cnn_isa() >= CNN_ISA_AVX2; /* the kernels are AVX2 and FMA intrinsics */
}

int cnn_direct_data_applies(const cnn_conv_geom *g) {
    return g->sh == 1 && g->sw == 1 && cnn_direct_applies(g);
}

/* Floats of one slot of the weight gradient: COp rows of Kp (wgrad_6x2) or Kp rows of COw
 * (wgrad_6x16). */
static size_t wgrad_slot(const dpass *p) {
    size_t a = (size_t)p->COp * p->Kp, b = (size_t)p->Kp * p->COw;
    return cnn_round16(a > b ? a : b);
}

/* Whether the weight gradient goes along the output channels (wgrad_6x16): only the real
 * outputs multiplied, no horizontal sums, but the channels padded to 16; or along the outputs
 * (wgrad_6x2): the dropped columns multiplied too, the channels padded to 6, and 12 horizontal
 * sums a call (counted as 30% more). The smaller count of products wins. */
static int wgrad_by_channels(const dpass *p) {
    double by_outputs = 1.3 * p->COp * ((p->K + TB - 1) / TB * TB) * (double)((p->L + 7) / 8 * 8);
    double by_channels = (double)p->Kp * p->COw * p->OH * p->OW;
    return by_channels < by_outputs;
}

static cnn_work pass_bytes(const dpass *p) {
    return (cnn_work){p->shared * sizeof(float), (p->xp + p->yp) * sizeof(float)};
}

cnn_work cnn_direct_work_bytes(const cnn_conv_geom *g) {
    dpass f = forward_pass(g), d = data_pass(g);
    size_t chunks = ((size_t)g->N + WCHUNK - 1) / WCHUNK;
    /* The forward pass: a copy and outputs for each thread (or each sample, when fewer); the
     * weight gradient: the same (dy copied in place of yp) and the slots. */
    cnn_work wgrad = pass_bytes(&f), a = {0, 0};
    wgrad.shared += chunks * wgrad_slot(&f) * sizeof(float);
    if (cnn_direct_data_applies(g)) {
        spass sp = scatter_pass(g);
        a = data_by_scatter(g) ? scatter_bytes(&sp) : pass_bytes(&d);
    }
    return cnn_work_max(wgrad, a);
}

static int threads_for(const cnn_ctx *c, const dpass *p) {
    return cnn_conv_threads(c, (double)p->N * p->L * p->K * p->CO);
}

/* ---------------------------------------------------------------------------------------------
 * The AVX2 kernels
 * ------------------------------------------------------------------------------------------- */

#if defined(__GNUC__) && defined(__x86_64__)
#define AVX2_FMA __attribute__((target("avx2,fma")))
#else
#define AVX2_FMA
#endif

/* y[k][c] (k < OB, rows ldy apart; c < QB) = sum over t < K of b[boff[t] + k] v[voff[t] + c]:
 * each step 16 values of v in two vectors and 6 of b broadcast. 12 accumulators, 2 vectors and
 * a broadcast: 15 of the 16 AVX2 registers (one more and the compiler spills an accumulator, a
 * store and a load in the chain of every step). Every form of the direct kernels is this one
 * product: 6 output channels x 16 outputs (the forward pass along the outputs, the data
 * gradient's gather form: b the weights, v the padded input at the taps' offsets), 6 outputs x
 * 16 channels (along the channels: b the padded input, v the weights), 6 taps x 16 outputs
 * (the data gradient's scatter form: b the weights, v dy). */
AVX2_FMA static void block_6x16(const float *b, const int *boff, const float *v,
                                const int *voff, int K, float *y, size_t ldy) {
    __m256 a00 = _mm256_setzero_ps(), a01 = a00, a10 = a00, a11 = a00, a20 = a00, a21 = a00;
    __m256 a30 = a00, a31 = a00, a40 = a00, a41 = a00, a50 = a00, a51 = a00;
    for (int t = 0; t < K; t++) {
        const float *vt = v + voff[t], *bt = b + boff[t];
        __m256 v0 = _mm256_loadu_ps(vt), v1 = _mm256_loadu_ps(vt + 8), bv;
        bv = _mm256_broadcast_ss(bt);
        a00 = _mm256_fmadd_ps(bv, v0, a00);
        a01 = _mm256_fmadd_ps(bv, v1, a01);
        bv = _mm256_broadcast_ss(bt + 1);
        a10 = _mm256_fmadd_ps(bv, v0, a10);
        a11 = _mm256_fmadd_ps(bv, v1, a11);
        bv = _mm256_broadcast_ss(bt + 2);
        a20 = _mm256_fmadd_ps(bv, v0, a20);
        a21 = _mm256_fmadd_ps(bv, v1, a21);
        bv = _mm256_broadcast_ss(bt + 3);
        a30 = _mm256_fmadd_ps(bv, v0, a30);
        a31 = _mm256_fmadd_ps(bv, v1, a31);
        bv = _mm256_broadcast_ss(bt + 4);
        a40 = _mm256_fmadd_ps(bv, v0, a40);
        a41 = _mm256_fmadd_ps(bv, v1, a41);
        bv = _mm256_broadcast_ss(bt + 5);
        a50 = _mm256_fmadd_ps(bv, v0, a50);
        a51 = _mm256_fmadd_ps(bv, v1, a51);
    }
    _mm256_storeu_ps(y, a00);
    _mm256_storeu_ps(y + 8, a01);
    _mm256_storeu_ps(y + ldy, a10);
    _mm256_storeu_ps(y + ldy + 8, a11);
    _mm256_storeu_ps(y + 2 * ldy, a20);
    _mm256_storeu_ps(y + 2 * ldy + 8, a21);
    _mm256_storeu_ps(y + 3 * ldy, a30);
    _mm256_storeu_ps(y + 3 * ldy + 8, a31);
    _mm256_storeu_ps(y + 4 * ldy, a40);
    _mm256_storeu_ps(y + 4 * ldy + 8, a41);
    _mm256_storeu_ps(y + 5 * ldy, a50);
    _mm256_storeu_ps(y + 5 * ldy + 8, a51);
}

#if defined(__GNUC__) && defined(__x86_64__)
#define AVX512_FMA __attribute__((target("avx512f,fma")))
#else
#define AVX512_FMA
#endif

/* block_6x16 on 32 outputs in 512-bit vectors: each output's sum is taken in the same order
 * with the same fused multiply-adds, so the bits are block_6x16's. */
AVX512_FMA static void block_6x32(const float *b, const int *boff, const float *v,
                                  const int *voff, int K, float *y, size_t ldy) {
    __m512 a[OB][2];
#pragma GCC unroll 6
    for (int k = 0; k < OB; k++) a[k][0] = a[k][1] = _mm512_setzero_ps();
    for (int t = 0; t < K; t++) {
        const float *vt = v + voff[t], *bt = b + boff[t];
        __m512 v0 = _mm512_loadu_ps(vt), v1 = _mm512_loadu_ps(vt + 16);
#pragma GCC unroll 6
        for (int k = 0; k < OB; k++) {
            __m512 bv = _mm512_set1_ps(bt[k]);
            a[k][0] = _mm512_fmadd_ps(bv, v0, a[k][0]);
            a[k][1] = _mm512_fmadd_ps(bv, v1, a[k][1]);
        }
    }
#pragma GCC unroll 6
    for (int k = 0; k < OB; k++) {
        _mm512_storeu_ps(y + k * ldy, a[k][0]);
        _mm512_storeu_ps(y + k * ldy + 16, a[k][1]);
    }
}

/* block_6x16 twice over, for b's 12 consecutive values per tap (rows k < 12 of y) times v's
 * 16 in one 512-bit vector: the forward pass along the output channels, 12 outputs of a row
 * at once. Each sum is taken in block_6x16's order: the same bits. */
AVX512_FMA static void block_12x16(const float *b, const int *boff, const float *v,
                                   const int *voff, int K, float *y, size_t ldy) {
    __m512 a[2 * OB];
#pragma GCC unroll 12
    for (int k = 0; k < 2 * OB; k++) a[k] = _mm512_setzero_ps();
    for (int t = 0; t < K; t++) {
        const float *bt = b + boff[t];
        __m512 v0 = _mm512_loadu_ps(v + voff[t]);
#pragma GCC unroll 12
        for (int k = 0; k < 2 * OB; k++) a[k] = _mm512_fmadd_ps(_mm512_set1_ps(bt[k]), v0, a[k]);
    }
#pragma GCC unroll 12
    for (int k = 0; k < 2 * OB; k++) _mm512_storeu_ps(y + k * ldy, a[k]);
}

/* block_6x16 over n outputs (a multiple of QB) from v and into y: 32 at a time at the AVX-512
 * level (the same bits), 16 otherwise. */
static void blocks_6(const float *b, const int *boff, const float *v, const int *voff, int K,
                     float *y, size_t ldy, size_t n) {
    size_t q = 0;
    if (cnn_isa() >= CNN_ISA_AVX512)
        for (; q + 2 * QB <= n; q += 2 * QB) block_6x32(b, boff, v + q, voff, K, y + q, ldy);
    for (; q < n; q += QB) block_6x16(b, boff, v + q, voff, K, y + q, ldy);
}

/* The sum of v's 8 lanes, in a fixed order. */
AVX2_FMA static inline float hsum(__m256 v) {
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_shuffle_ps(s, s, 1));
    return _mm_cvtss_f32(s);
}

/* out[o][k] += sum over q < n (a multiple of 8) of d[o][q] x[off[k] + q], o < OB (rows of d
 * ldd apart, of out ldo apart), k < TB. */
AVX2_FMA static void wgrad_6x2(const float *d, size_t ldd, const float *x, const int *off,
                               size_t n, float *out, size_t ldo) {
    __m256 a00 = _mm256_setzero_ps(), a01 = a00, a10 = a00, a11 = a00, a20 = a00, a21 = a00;
    __m256 a30 = a00, a31 = a00, a40 = a00, a41 = a00, a50 = a00, a51 = a00;
    const float *x0p = x + off[0], *x1p = x + off[1];
    for (size_t q = 0; q < n; q += 8) {
        __m256 x0 = _mm256_loadu_ps(x0p + q), x1 = _mm256_loadu_ps(x1p + q), dv;
        dv = _mm256_loadu_ps(d + q);
        a00 = _mm256_fmadd_ps(dv, x0, a00);
        a01 = _mm256_fmadd_ps(dv, x1, a01);
        dv = _mm256_loadu_ps(d + ldd + q);
        a10 = _mm256_fmadd_ps(dv, x0, a10);
        a11 = _mm256_fmadd_ps(dv, x1, a11);
        dv = _mm256_loadu_ps(d + 2 * ldd + q);
        a20 = _mm256_fmadd_ps(dv, x0, a20);
        a21 = _mm256_fmadd_ps(dv, x1, a21);
        dv = _mm256_loadu_ps(d + 3 * ldd + q);
        a30 = _mm256_fmadd_ps(dv, x0, a30);
        a31 = _mm256_fmadd_ps(dv, x1, a31);
        dv = _mm256_loadu_ps(d + 4 * ldd + q);
        a40 = _mm256_fmadd_ps(dv, x0, a40);
        a41 = _mm256_fmadd_ps(dv, x1, a41);
        dv = _mm256_loadu_ps(d + 5 * ldd + q);
        a50 = _mm256_fmadd_ps(dv, x0, a50);
        a51 = _mm256_fmadd_ps(dv, x1, a51);
    }
    out[0] += hsum(a00);
    out[1] += hsum(a01);
    out[ldo] += hsum(a10);
    out[ldo + 1] += hsum(a11);
    out[2 * ldo] += hsum(a20);
    out[2 * ldo + 1] += hsum(a21);
    out[3 * ldo] += hsum(a30);
    out[3 * ldo + 1] += hsum(a31);
    out[4 * ldo] += hsum(a40);
    out[4 * ldo + 1] += hsum(a41);
    out[5 * ldo] += hsum(a50);
    out[5 * ldo + 1] += hsum(a51);
}

/* out[k][o] (k < TC, rows ldo apart; o < WOB) += sum over the outputs (i, j) of
 * x[off[k] + i Wp + j] d[(i OW + j) ldd + o]: the taps' inputs broadcast, 16 output channels of
 * dy (transposed) in two vectors, 12 accumulators. */
AVX2_FMA static void wgrad_6x16(const float *x, const int *off, int OH, int OW, int Wp,
                                const float *d, size_t ldd, float *out, size_t ldo) {
    const float *x0 = x + off[0], *x1 = x + off[1], *x2 = x + off[2];
    const float *x3 = x + off[3], *x4 = x + off[4], *x5 = x + off[5];
    __m256 a00 = _mm256_loadu_ps(out), a01 = _mm256_loadu_ps(out + 8);
    __m256 a10 = _mm256_loadu_ps(out + ldo), a11 = _mm256_loadu_ps(out + ldo + 8);
    __m256 a20 = _mm256_loadu_ps(out + 2 * ldo), a21 = _mm256_loadu_ps(out + 2 * ldo + 8);
    __m256 a30 = _mm256_loadu_ps(out + 3 * ldo), a31 = _mm256_loadu_ps(out + 3 * ldo + 8);
    __m256 a40 = _mm256_loadu_ps(out + 4 * ldo), a41 = _mm256_loadu_ps(out + 4 * ldo + 8);
    __m256 a50 = _mm256_loadu_ps(out + 5 * ldo), a51 = _mm256_loadu_ps(out + 5 * ldo + 8);
    for (int i = 0; i < OH; i++) {
        const float *dr = d + (size_t)i * OW * ldd;
        size_t r = (size_t)i * Wp;
        for (int j = 0; j < OW; j++) {
            __m256 d0 = _mm256_loadu_ps(dr), d1 = _mm256_loadu_ps(dr + 8), b;
            size_t q = r + (size_t)j;
            dr += ldd;
            b = _mm256_broadcast_ss(x0 + q);
            a00 = _mm256_fmadd_ps(b, d0, a00);
            a01 = _mm256_fmadd_ps(b, d1, a01);
            b = _mm256_broadcast_ss(x1 + q);
            a10 = _mm256_fmadd_ps(b, d0, a10);
            a11 = _mm256_fmadd_ps(b, d1, a11);
            b = _mm256_broadcast_ss(x2 + q);
            a20 = _mm256_fmadd_ps(b, d0, a20);
            a21 = _mm256_fmadd_ps(b, d1, a21);
            b = _mm256_broadcast_ss(x3 + q);
            a30 = _mm256_fmadd_ps(b, d0, a30);
            a31 = _mm256_fmadd_ps(b, d1, a31);
            b = _mm256_broadcast_ss(x4 + q);
            a40 = _mm256_fmadd_ps(b, d0, a40);
            a41 = _mm256_fmadd_ps(b, d1, a41);
            b = _mm256_broadcast_ss(x5 + q);
            a50 = _mm256_fmadd_ps(b, d0, a50);
            a51 = _mm256_fmadd_ps(b, d1, a51);
        }
    }
    _mm256_storeu_ps(out, a00);
    _mm256_storeu_ps(out + 8, a01);
    _mm256_storeu_ps(out + ldo, a10);
    _mm256_storeu_ps(out + ldo + 8, a11);
    _mm256_storeu_ps(out + 2 * ldo, a20);
    _mm256_storeu_ps(out + 2 * ldo + 8, a21);
    _mm256_storeu_ps(out + 3 * ldo, a30);
    _mm256_storeu_ps(out + 3 * ldo + 8, a31);
    _mm256_storeu_ps(out + 4 * ldo, a40);
    _mm256_storeu_ps(out + 4 * ldo + 8, a41);
    _mm256_storeu_ps(out + 5 * ldo, a50);
    _mm256_storeu_ps(out + 5 * ldo + 8, a51);
}

/* wgrad_6x16 for 12 taps (off[0 .. 11]) and the 16 channels in one 512-bit vector: each sum in
 * wgrad_6x16's order, so the same bits. */
AVX512_FMA static void wgrad_12x16(const float *x, const int *off, int OH, int OW, int Wp,
                                   const float *d, size_t ldd, float *out, size_t ldo) {
    __m512 a[2 * TC];
#pragma GCC unroll 12
    for (int k = 0; k < 2 * TC; k++) a[k] = _mm512_loadu_ps(out + k * ldo);
    for (int i = 0; i < OH; i++) {
        const float *dr = d + (size_t)i * OW * ldd;
        const float *xr = x + (size_t)i * Wp;
        for (int j = 0; j < OW; j++, dr += ldd) {
            __m512 dv = _mm512_loadu_ps(dr);
#pragma GCC unroll 12
            for (int k = 0; k < 2 * TC; k++)
                a[k] = _mm512_fmadd_ps(_mm512_set1_ps(xr[off[k] + j]), dv, a[k]);
        }
    }
#pragma GCC unroll 12
    for (int k = 0; k < 2 * TC; k++) _mm512_storeu_ps(out + k * ldo, a[k]);
}

/* Rows lo and hi (8 floats each) as the two halves of one 512-bit vector; and a vector's
 * halves (AVX-512 F only, as the rest of this file's 512-bit code). */
AVX512_FMA static inline __m512 halves(const float *lo, const float *hi) {
    __m512d v = _mm512_castpd256_pd512(_mm256_castps_pd(_mm256_loadu_ps(lo)));
    return _mm512_castpd_ps(_mm512_insertf64x4(v, _mm256_castps_pd(_mm256_loadu_ps(hi)), 1));
}
AVX512_FMA static inline __m256 low_half(__m512 v) { return _mm512_castps512_ps256(v); }
AVX512_FMA static inline __m256 high_half(__m512 v) {
    return _mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(v), 1));
}

/* wgrad_6x2 on 512-bit vectors: two rows of d share a vector (row o in the low half, o + 1 in
 * the high one) against x's 8 floats in both halves, so each half runs wgrad_6x2's
 * accumulator of its row product for product, and is summed by the same hsum: the same bits
 * with half the multiply-adds (LeNet-5's conv1 weight gradient, one input channel). */
AVX512_FMA static void wgrad_6x2_wide(const float *d, size_t ldd, const float *x, const int *off,
                                      size_t n, float *out, size_t ldo) {
    __m512 a[OB / 2][TB];
#pragma GCC unroll 3
    for (int r = 0; r < OB / 2; r++) a[r][0] = a[r][1] = _mm512_setzero_ps();
    const float *x0p = x + off[0], *x1p = x + off[1];
    for (size_t q = 0; q < n; q += 8) {
        __m512 x0 = halves(x0p + q, x0p + q), x1 = halves(x1p + q, x1p + q);
#pragma GCC unroll 3
        for (int r = 0; r < OB / 2; r++) {
            __m512 dv = halves(d + 2 * r * ldd + q, d + (2 * r + 1) * ldd + q);
            a[r][0] = _mm512_fmadd_ps(dv, x0, a[r][0]);
            a[r][1] = _mm512_fmadd_ps(dv, x1, a[r][1]);
        }
    }
#pragma GCC unroll 3
    for (int r = 0; r < OB / 2; r++)
        for (int k = 0; k < TB; k++) {
            out[2 * r * ldo + k] += hsum(low_half(a[r][k]));
            out[(2 * r + 1) * ldo + k] += hsum(high_half(a[r][k]));
        }
}

/* ---------------------------------------------------------------------------------------------
 * The passes
 * ------------------------------------------------------------------------------------------- */

/* xp = the planes of one sample of in (CI, H, W), zero-padded and split into the stride's
 * phases, each Hp x Wp: xp[c][a][b][r][s] = in[c][r sh + a - PT][s sw + b - PL], zero outside;
 * then zeros to the end of the copy. Planes [c0, c1) of the input only. */
static void pad_copy(const dpass *p, const float *in, float *xp, int c0, int c1) {
    size_t plane = (size_t)p->Hp * p->Wp;
    for (int c = c0; c < c1; c++) {
        const float *src = in + (size_t)c * p->H * p->W;
        for (int a = 0; a < p->sh; a++)
            for (int b = 0; b < p->sw; b++) {
                float *ph = xp + ((size_t)(c * p->sh + a) * p->sw + b) * plane;
                /* Columns s with 0 <= s sw + b - PL < W come from the row. */
                long long s0 = p->pl - b > 0 ? (p->pl - b + p->sw - 1) / p->sw : 0;
                long long s1 = ((long long)p->W + p->pl - b + p->sw - 1) / p->sw;
                if (s1 > p->Wp) s1 = p->Wp;
                if (s0 > s1) s0 = s1;
                for (int r = 0; r < p->Hp; r++) {
                    float *dst = ph + (size_t)r * p->Wp;
                    long long sr = (long long)r * p->sh + a - p->pt;
                    if (sr < 0 || sr >= p->H) {
                        memset(dst, 0, (size_t)p->Wp * sizeof *dst);
                    } else if (p->sw == 1) {
                        cnn_padded_copy(dst, src + (size_t)sr * p->W, p->W, -(long long)p->pl,
                                        p->Wp, 0.0f);
                    } else {
                        const float *row = src + (size_t)sr * p->W + b - p->pl;
                        for (long long s = 0; s < s0; s++) dst[s] = 0.0f;
                        for (long long s = s0; s < s1; s++) dst[s] = row[s * p->sw];
                        for (long long s = s1; s < p->Wp; s++) dst[s] = 0.0f;
                    }
                }
            }
    }
    if (c1 == p->CI) {
        size_t used = (size_t)p->CI * p->sh * p->sw * plane;
        memset(xp + used, 0, (p->xp - used) * sizeof *xp);
    }
}

/* The offsets of the taps t = (ci, u, v) in the padded copy (phase (u mod sh, v mod sw), row
 * u / sh, column v / sw), padded with 0 to Kp taps. */
static void tap_offsets(const dpass *p, int *off) {
    int t = 0;
    for (int c = 0; c < p->CI; c++)
        for (int u = 0; u < p->KH; u++)
            for (int v = 0; v < p->KW; v++) {
                int phase = (c * p->sh + u % p->sh) * p->sw + v % p->sw;
                off[t++] = (phase * p->Hp + u / p->sh) * p->Wp + v / p->sw;
            }
    for (; t < p->Kp; t++) off[t] = 0;
}

/* Output channels o of sample n from its outputs yp: out = yp + bias, or += when accumulate. */
static void copy_out(const dpass *p, const float *yp, const float *bias, int n, int o,
                     float *out, int accumulate) {
    float b = bias ? bias[o] : 0.0f;
    for (int i = 0; i < p->OH; i++) {
        float *restrict dst = out + (((size_t)n * p->CO + o) * p->OH + i) * p->OW;
        const float *restrict src = yp + (size_t)o * p->Lr + (size_t)i * p->Wp;
        if (accumulate) {
#pragma omp simd
            for (int j = 0; j < p->OW; j++) dst[j] += src[j] + b;
        } else if (p->relu) {
#pragma omp simd
            for (int j = 0; j < p->OW; j++) {
                float v = src[j] + b;
                dst[j] = v < 0.0f ? 0.0f : v;
            }
        } else {
#pragma omp simd
            for (int j = 0; j < p->OW; j++) dst[j] = src[j] + b;
        }
    }
}

/* The forward pass along the output channels: a block of OB outputs of one row (j0 .. j0 + 5)
 * by WOB channels, the inputs broadcast and 16 channels' weights in two vectors per tap. Only
 * the real outputs are computed (but for the last block of a row), and the channels padded to
 * 16 rather than 6: the form for 16 or more output channels and short rows (LeNet-5's conv2:
 * 26% fewer products). */
static int forward_by_channels(const dpass *p) {
    double by_outputs = (double)p->COp * p->Lr;
    double by_channels = (double)p->OH * ((p->OW + OB - 1) / OB * OB) * p->COw;
    /* At the AVX-512 level the products run twice as fast, and the form along the channels
     * still copies its outputs out one by one: it must save 15% of the products (LeNet-5's
     * conv2 saves 26%; ResNet's stem 4%, which ran 2.19 ms along the channels and 1.49-1.52
     * along the outputs at batch 1). Both forms give the same bits (each output's sum over
     * the taps in the same order, products of the same two numbers). */
    return by_channels < (cnn_isa() >= CNN_ISA_AVX512 ? 0.85 : 1.0) * by_outputs;
}

/* Output rows [i0, i1) of sample n along the channels, from its padded copy xp: out = the
 * products + bias, or += when accumulate. woff: wt's row offsets. */
static void rows_by_channels(const dpass *p, const float *xp, const float *wt, const int *off,
                             const int *woff, const float *bias, int n, int i0, int i1,
                             float *out, int accumulate) {
    float t[2 * OB * WOB];
    size_t plane = (size_t)p->OH * p->OW;
    /* Two blocks of OB outputs at once in 512-bit vectors where both would be computed. */
    int wide = cnn_isa() >= CNN_ISA_AVX512, blocks = (p->OW + OB - 1) / OB;
    for (int i = i0; i < i1; i++)
        for (int bk = 0; bk < blocks;) {
            int j0 = bk * OB, two = wide && bk + 1 < blocks, width = two ? 2 * OB : OB;
            int nj = p->OW - j0 < width ? p->OW - j0 : width;
            bk += two ? 2 : 1;
            for (int ob = 0; ob < p->CO; ob += WOB) {
                const float *row = xp + (size_t)i * p->Wp + j0;
                if (two)
                    block_12x16(row, off, wt + ob, woff, p->K, t, WOB);
                else
                    block_6x16(row, off, wt + ob, woff, p->K, t, WOB);
                int no = p->CO - ob < WOB ? p->CO - ob : WOB;
                for (int o = 0; o < no; o++) {
                    float b = bias ? bias[ob + o] : 0.0f;
                    float *dst = out + ((size_t)n * p->CO + ob + o) * plane + (size_t)i * p->OW + j0;
                    if (accumulate)
                        for (int k = 0; k < nj; k++) dst[k] += t[k * WOB + o] + b;
                    else if (p->relu)
                        for (int k = 0; k < nj; k++) {
                            float v = t[k * WOB + o] + b;
                            dst[k] = v < 0.0f ? 0.0f : v;
                        }
                    else
                        for (int k = 0; k < nj; k++) dst[k] = t[k * WOB + o] + b;
                }
            }
        }
}

/* Outputs of one task of a sample split over the threads, along the outputs: QB QSPLIT. */
#define QSPLIT 32

/* Parts of one sample's work: blocks of 6 channels x QSPLIT blocks of outputs (along the
 * outputs; their copy_out follows), or rows (along the channels). */
static int parts_of(const dpass *p, int by_channels) {
    return by_channels ? p->OH : p->COp / OB * (int)((p->Lr / QB + QSPLIT - 1) / QSPLIT);
}

/* Part k of sample n's products, from its padded copy xp into its outputs yp (along the
 * outputs) or straight into out (along the channels). */
static void run_part(const dpass *p, int by_channels, const float *xp, float *yp,
                     const float *wt, const int *off, const int *woff, const float *bias,
                     int n, int k, float *out, int accumulate) {
    if (by_channels) {
        rows_by_channels(p, xp, wt, off, woff, bias, n, k, k + 1, out, accumulate);
        return;
    }
    int qs = (int)((p->Lr / QB + QSPLIT - 1) / QSPLIT), ob = k / qs * OB;
    size_t q0 = (size_t)(k % qs) * QB * QSPLIT, q1 = q0 + (size_t)QB * QSPLIT;
    if (q1 > p->Lr) q1 = p->Lr;
    blocks_6(wt + ob, woff, xp + q0, off, p->K, yp + (size_t)ob * p->Lr + q0, p->Lr, q1 - q0);
}

typedef struct pass_job {
    const dpass *p;
    int by_channels, parts, accumulate;
    const float *in, *wt, *bias;
    const int *off, *woff;
    float *out;
    const cnn_ctx *c; /* the scratch: a thread's or a sample's copy and outputs */
    size_t in_n;
} pass_job;

/* Samples [begin, end), each whole on the worker's copy. */
static void pass_samples_range(void *arg, long begin, long end, int worker) {
    const pass_job *j = arg;
    const dpass *p = j->p;
    for (int n = (int)begin; n < (int)end; n++) {
        float *xp = cnn_thread_work(j->c, worker), *yp = xp + p->xp;
        pad_copy(p, j->in + (size_t)n * j->in_n, xp, 0, p->CI);
        for (int k = 0; k < j->parts; k++)
            run_part(p, j->by_channels, xp, yp, j->wt, j->off, j->woff, j->bias, n, k, j->out,
                     j->accumulate);
        if (!j->by_channels)
            for (int o = 0; o < p->CO; o++)
                copy_out(p, yp, j->bias, n, o, j->out, j->accumulate);
    }
}

/* Copies [begin, end) of (sample, input channel), each sample's to its own copy (the last
 * channel also clears the copy's tail). */
static void pass_copies_range(void *arg, long begin, long end, int worker) {
    const pass_job *j = arg;
    const dpass *p = j->p;
    for (int k = (int)begin; k < (int)end; k++)
        pad_copy(p, j->in + (size_t)(k / p->CI) * j->in_n,
                 cnn_thread_work(j->c, k / p->CI), k % p->CI, k % p->CI + 1);
}

/* Parts [begin, end) of (sample, part). */
static void pass_parts_range(void *arg, long begin, long end, int worker) {
    const pass_job *j = arg;
    const dpass *p = j->p;
    for (int k = (int)begin; k < (int)end; k++) {
        float *xp = cnn_thread_work(j->c, k / j->parts);
        run_part(p, j->by_channels, xp, xp + p->xp, j->wt, j->off, j->woff, j->bias,
                 k / j->parts, k % j->parts, j->out, j->accumulate);
    }
}

/* Outputs [begin, end) of (sample, output channel) copied out of the samples' copies. */
static void pass_out_range(void *arg, long begin, long end, int worker) {
    const pass_job *j = arg;
    const dpass *p = j->p;
    for (int k = (int)begin; k < (int)end; k++)
        copy_out(p, (float *)cnn_thread_work(j->c, k / p->CO) + p->xp, j->bias, k / p->CO,
                 k % p->CO, j->out, j->accumulate);
}

/* out (N, CO, OH, OW) = the pass applied to in with the tap-major weights wt (row offsets
 * woff), plus bias (may be NULL), or += when accumulate; along the outputs or the channels.
 * With as many samples as threads, each thread takes whole samples; with fewer (a batch of
 * one), every sample gets its own copy and outputs and the threads share its parts. Either
 * way each output is one kernel call's. */
static void run_pass(const cnn_ctx *c, const dpass *p, int by_channels, const float *in,
                     const float *wt, const int *off, const int *woff, const float *bias,
                     float *out, int accumulate) {
    int threads = threads_for(c, p);
    pass_job j = {p, by_channels, parts_of(p, by_channels), accumulate, in, wt, bias, off,
                  woff, out, c, (size_t)p->CI * p->H * p->W};
    if (p->N >= threads) {
        cnn_parallel_for(c->workers, threads, p->N, pass_samples_range, &j);
        return;
    }
    cnn_parallel_for(c->workers, threads, (long)p->N * p->CI, pass_copies_range, &j);
    cnn_parallel_for(c->workers, threads, (long)p->N * j.parts, pass_parts_range, &j);
    if (!by_channels) cnn_parallel_for(c->workers, threads, (long)p->N * p->CO, pass_out_range, &j);
}

/* The taps' offsets in the shared scratch, after wt. */
static int *offsets_of(const cnn_ctx *c, const dpass *p) {
    CNN_ASSERT(cnn_ctx_holds(c, pass_bytes(p)));
    int *off = (int *)((float *)c->work + cnn_round16((size_t)p->Kp *
                                                      (p->COw > p->COp ? p->COw : p->COp)));
    tap_offsets(p, off);
    return off;
}

/* The shared scratch: wt (Kp rows of `pitch`), cleared for the caller to fill, the taps'
 * offsets and wt's row offsets (t pitch). */
static float *weights_of(const cnn_ctx *c, const dpass *p, int pitch, int **off, int **woff) {
    *off = offsets_of(c, p);
    *woff = *off + cnn_round16((size_t)p->Kp);
    for (int t = 0; t < p->Kp; t++) (*woff)[t] = t * pitch;
    float *wt = (float *)c->work;
    memset(wt, 0, (size_t)p->Kp * pitch * sizeof *wt);
    return wt;
}

void cnn_direct_forward(const cnn_ctx *c, const cnn_conv_geom *g, const float *x,
                        const float *w, const float *b, float *y) {
    dpass p = forward_pass(g);
    int *off, *woff, by_channels = forward_by_channels(&p);
    int pitch = by_channels ? p.COw : p.COp;
    float *wt = weights_of(c, &p, pitch, &off, &woff);
    /* Tap t = (c, u, v) of output o: w[o][c][u][v], the t-th of w's row o. */
    for (int o = 0; o < g->OC; o++)
        for (int t = 0; t < p.K; t++) wt[(size_t)t * pitch + o] = w[(size_t)o * p.K + t];
    run_pass(c, &p, by_channels, x, wt, off, woff, b, y, 0);
}

/* The taps (ch, u, v < KW) of one kernel row, cols rows Cp apart, added to the run dst of the
 * padded dx: dst[d] += sum over v of cols_v[d - v], d < Q + KW - 1. */
AVX2_FMA static void scatter_row(const float *cols, size_t Cp, int KW, size_t Q, float *dst) {
    size_t n = Q + (size_t)KW - 1, d = 0;
    for (; d + 8 <= n; d += 8) {
        __m256 a = _mm256_loadu_ps(dst + d);
        for (int v = 0; v < KW; v++)
            a = _mm256_add_ps(a, _mm256_loadu_ps(cols + (size_t)v * Cp + d - (size_t)v));
        _mm256_storeu_ps(dst + d, a);
    }
    for (; d < n; d++) {
        float a = dst[d];
        for (int v = 0; v < KW; v++) a += cols[(size_t)v * Cp + d - (size_t)v];
        dst[d] = a;
    }
}

typedef struct scatter_job {
    const cnn_conv_geom *g;
    const spass *s;
    const float *dy;
    float *dx, *wt;
    int *off, *woff;
    const cnn_ctx *c;
    size_t in_n, out_n;
    int runs;
} scatter_job;

/* Samples [begin, end) of backward_data_scatter, on the worker's scratch. */
static void scatter_range(void *arg, long begin, long end, int worker) {
    const scatter_job *job = arg;
    const cnn_conv_geom *g = job->g;
    const spass s = *job->s;
    const float *dy = job->dy, *wt = job->wt;
    const int *off = job->off, *woff = job->woff;
    float *dx = job->dx;
    const size_t in_n = job->in_n, out_n = job->out_n;
    const int runs = job->runs;
    float *dyp = cnn_thread_work(job->c, worker);
    float *cols = dyp + s.dyp, *dxp = cols + s.cols;
    /* The zeros around cols' rows, and in dy's copy past OW and past the plane: every
     * sample writes the same places, the products and the rows the rest. */
    memset(dyp, 0, s.dyp * sizeof *dyp);
    for (int t = 0; t < s.T; t++) {
        memset(cols + (size_t)t * s.Cp, 0, s.M * sizeof *cols);
        memset(cols + (size_t)t * s.Cp + s.M + s.Qr, 0, s.M * sizeof *cols);
    }
    for (int n = (int)begin; n < (int)end; n++) {
        /* dy in rows of P. */
        for (int o = 0; o < g->OC; o++)
            for (int i = 0; i < g->OH; i++)
                memcpy(dyp + (size_t)o * s.Qr + (size_t)i * s.P,
                       dy + ((size_t)n * g->OC + o) * out_n + (size_t)i * g->OW,
                       (size_t)g->OW * sizeof *dyp);
        for (int t = 0; t < s.Tp; t += OB)
            blocks_6(wt + t, woff, dyp, off, g->OC, cols + (size_t)t * s.Cp + s.M, s.Cp, s.Qr);
        memset(dxp, 0, s.dxp * sizeof *dxp);
        /* Run (ch, u) starts at row u of plane ch. */
        for (int k = 0; k < runs; k++)
            scatter_row(cols + (size_t)k * g->KW * s.Cp + s.M, s.Cp, g->KW, s.Q,
                        dxp + (size_t)(k / g->KH) * s.plane + (size_t)(k % g->KH) * s.P);
        float *dxn = dx + (size_t)n * in_n;
        for (int ch = 0; ch < g->C; ch++)
            for (int r = 0; r < g->H; r++) {
                float *restrict dst = dxn + ((size_t)ch * g->H + r) * g->W;
                const float *restrict src =
                    dxp + (size_t)ch * s.plane + (size_t)(r + g->pt) * s.P + g->pl;
#pragma omp simd
                for (int j = 0; j < g->W; j++) dst[j] += src[j];
            }
    }
}

static void backward_data_scatter(const cnn_ctx *c, const cnn_conv_geom *g, const float *dy,
                                  const float *w, float *dx) {
    spass s = scatter_pass(g);
    CNN_ASSERT(cnn_ctx_holds(c, scatter_bytes(&s)));
    float *wt = (float *)c->work;
    int *off = (int *)(wt + cnn_round16((size_t)g->OC * s.Tp));
    int *woff = off + cnn_round16((size_t)g->OC);
    for (int o = 0; o < g->OC; o++) {
        memcpy(wt + (size_t)o * s.Tp, w + (size_t)o * s.T, (size_t)s.T * sizeof *wt);
        memset(wt + (size_t)o * s.Tp + s.T, 0, (size_t)(s.Tp - s.T) * sizeof *wt);
        off[o] = (int)((size_t)o * s.Qr);
        woff[o] = o * s.Tp;
    }
    int threads = cnn_conv_threads(c, (double)g->N * s.Q * s.T * g->OC);
    size_t in_n = (size_t)g->C * g->H * g->W, out_n = (size_t)g->OH * g->OW;
    int runs = g->C * g->KH;
    scatter_job j = {g, &s, dy, dx, wt, off, woff, c, in_n, out_n, runs};
    cnn_parallel_for(c->workers, threads, g->N, scatter_range, &j);
}

void cnn_direct_backward_data(const cnn_ctx *c, const cnn_conv_geom *g, const float *dy,
                              const float *w, float *dx) {
    if (data_by_scatter(g)) {
        backward_data_scatter(c, g, dy, w, dx);
        return;
    }
    dpass p = data_pass(g);
    int *off, *woff;
    float *wt = weights_of(c, &p, p.COp, &off, &woff);
    /* Tap (o, u', v') of input channel ch: w[o][ch][KH-1-u'][KW-1-v']. */
    int area = g->KH * g->KW, K = g->C * area;
    for (int o = 0; o < g->OC; o++)
        for (int ch = 0; ch < g->C; ch++)
            for (int k = 0; k < area; k++)
                wt[((size_t)o * area + k) * p.COp + ch] =
                    w[(size_t)o * K + (size_t)ch * area + (area - 1 - k)];
    run_pass(c, &p, 0, dy, wt, off, woff, NULL, dx, 1);
}

typedef struct wgrad_job {
    const cnn_conv_geom *g;
    const dpass *p;
    const int *off;
    const float *x, *dy;
    const cnn_ctx *c; /* each thread's copy */
    float *slots, *dw;
    size_t slot, n8, oplane, ldo, ldt;
    int k2, by_channels, chunks;
} wgrad_job;

/* Chunks [begin, end) of WCHUNK samples of the weight gradient, each into its slot, on the
 * worker's copies. */
static void wgrad_chunks_range(void *arg, long begin, long end, int worker) {
    const wgrad_job *j = arg;
    const cnn_conv_geom *g = j->g;
    const dpass p = *j->p;
    const int *off = j->off;
    const float *x = j->x, *dy = j->dy;
    float *slots = j->slots;
    const size_t slot = j->slot, n8 = j->n8, oplane = j->oplane;
    const int k2 = j->k2, by_channels = j->by_channels, wide = cnn_isa() >= CNN_ISA_AVX512;
    float *xp = cnn_thread_work(j->c, worker), *dp = xp + p.xp;
    memset(dp, 0, p.yp * sizeof *dp);
    for (int ch = (int)begin; ch < (int)end; ch++) {
        float *part = slots + (size_t)ch * slot;
        memset(part, 0, slot * sizeof *part);
        int n1 = (ch + 1) * WCHUNK < g->N ? (ch + 1) * WCHUNK : g->N;
        for (int n = ch * WCHUNK; n < n1; n++) {
            pad_copy(&p, x + (size_t)n * p.CI * p.H * p.W, xp, 0, p.CI);
            const float *dn = dy + (size_t)n * g->OC * oplane;
            if (by_channels) {
                for (size_t q = 0; q < oplane; q++)
                    for (int o = 0; o < g->OC; o++)
                        dp[q * p.COw + o] = dn[(size_t)o * oplane + q];
                for (int ob = 0; ob < p.COw; ob += WOB)
                    for (int t = 0; t < p.Kp;) {
                        /* 12 taps at once in 512-bit vectors where there are (the same bits). */
                        int twelve = wide && t + 2 * TC <= p.Kp;
                        if (twelve)
                            wgrad_12x16(xp, off + t, g->OH, g->OW, p.Wp, dp + ob,
                                        (size_t)p.COw, part + (size_t)t * p.COw + ob,
                                        (size_t)p.COw);
                        else
                            wgrad_6x16(xp, off + t, g->OH, g->OW, p.Wp, dp + ob, (size_t)p.COw,
                                       part + (size_t)t * p.COw + ob, (size_t)p.COw);
                        t += twelve ? 2 * TC : TC;
                    }
                continue;
            }
            for (int o = 0; o < g->OC; o++)
                for (int i = 0; i < g->OH; i++)
                    memcpy(dp + (size_t)o * n8 + (size_t)i * p.Wp,
                           dn + (size_t)o * oplane + (size_t)i * g->OW,
                           (size_t)g->OW * sizeof *dp);
            for (int ob = 0; ob < p.COp; ob += OB)
                for (int t = 0; t < k2; t += TB)
                    (wide ? wgrad_6x2_wide : wgrad_6x2)(dp + (size_t)ob * n8, n8, xp, off + t,
                                                        n8, part + (size_t)ob * p.Kp + t,
                                                        (size_t)p.Kp);
        }
    }
}

/* Weights [begin, end) of (OC): the slots added in chunk order, whatever the threads. */
static void wgrad_sum_range(void *arg, long begin, long end, int worker) {
    const wgrad_job *j = arg;
    const int K = j->p->K, chunks = j->chunks;
    const size_t slot = j->slot, ldo = j->ldo, ldt = j->ldt;
    const float *slots = j->slots;
    float *dw = j->dw;
    for (int o = (int)begin; o < (int)end; o++)
        for (int t = 0; t < K; t++) {
            double acc = 0.0;
            for (int ch = 0; ch < chunks; ch++)
                acc += slots[(size_t)ch * slot + (size_t)o * ldo + (size_t)t * ldt];
            dw[(size_t)o * K + t] += (float)acc;
        }
}

void cnn_direct_backward_weights(const cnn_ctx *c, const cnn_conv_geom *g, const float *x,
                                 const float *dy, float *dw) {
    dpass p = forward_pass(g);
    CNN_ASSERT(cnn_ctx_holds(c, cnn_direct_work_bytes(g)));
    const int *off = offsets_of(c, &p);
    size_t slot = wgrad_slot(&p);
    float *slots = (float *)c->work + p.shared;
    int chunks = (g->N + WCHUNK - 1) / WCHUNK, by_channels = wgrad_by_channels(&p);
    /* Along the outputs: sums over the rows of dy copied with Wp floats a row (zeros past OW
     * and past L), the taps rounded up to TB. Along the channels: dy transposed, OH OW rows
     * of COw (zeros past OC). Either way every sample writes the same places of dp, and the
     * zeros between them stay. */
    size_t n8 = (p.L + 7) / 8 * 8, oplane = (size_t)g->OH * g->OW;
    int k2 = (p.K + TB - 1) / TB * TB;
    int threads = threads_for(c, &p);
    size_t ldo = by_channels ? 1 : (size_t)p.Kp, ldt = by_channels ? (size_t)p.COw : 1;
    wgrad_job j = {g, &p, off, x, dy, c, slots, dw, slot, n8, oplane, ldo, ldt,
                   k2, by_channels, chunks};
    cnn_parallel_for(c->workers, threads, chunks, wgrad_chunks_range, &j);
    cnn_parallel_for(c->workers, threads, g->OC, wgrad_sum_range, &j);
}

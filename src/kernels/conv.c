/*
 * conv.c - 2-D convolution and transposed convolution kernels, reference and fast. See conv.h.
 *
 * Letters: N samples, C input channels, H x W input, OC output channels, KH x KW kernel,
 * OH x OW output, G groups; Cg = C/G and OCg = OC/G channels per group; K = Cg*KH*KW the
 * length of one output channel's weights; P = OH*OW the output pixels of one channel.
 *
 * The transposed convolution is the adjoint of the convolution, so it is written with the same
 * kernels read the other way: its forward is the data gradient of the convolution, its data
 * gradient is the convolution's forward, and its weight gradient is the convolution's with
 * the roles of x and dy swapped. The reference loops of the data gradient are, letter for
 * letter, the definition of the transposed convolution (each input pixel adds w times itself
 * into the output pixels its kernel covers).
 */
#include "conv.h"
#include "gemm.h"

#include <limits.h>
#include <omp.h>
#include <string.h>

/* Columns of dW in one tile of the weight-gradient product, with CNN_GEMM_BLOCK_M rows: fixed,
 * never derived from the thread count, so the tiling (and every bit) is the same for all. */
#define CONV_BLOCK_N 256

long long cnn_conv_out_len(long long in, long long pad_total, long long k, long long s,
                           long long d) {
    long long span = in + pad_total - d * (k - 1) - 1;
    /* C division truncates toward zero; a negative span means no output at all. */
    return span < 0 ? 0 : span / s + 1;
}

int cnn_conv_geom_fits(const cnn_conv_geom *g) {
    /* In double: the products of several ints may overflow 64 bits, and a double is exact
     * wherever the answer is close to INT_MAX. */
    double K = (double)(g->C / g->G) * g->KH * g->KW, P = (double)g->OH * g->OW;
    double reach_h = (double)(g->OH - 1) * g->sh + (double)(g->KH - 1) * g->dh;
    double reach_w = (double)(g->OW - 1) * g->sw + (double)(g->KW - 1) * g->dw;
    return K <= INT_MAX && P <= INT_MAX && reach_h <= INT_MAX && reach_w <= INT_MAX;
}

/* A 1x1 kernel at stride 1 without padding reads each input pixel once, in order: the input
 * of a group is already its column matrix. */
static int pointwise(const cnn_conv_geom *g) {
    return g->KH == 1 && g->KW == 1 && g->sh == 1 && g->sw == 1 && g->pt == 0 && g->pl == 0 &&
           g->OH == g->H && g->OW == g->W;
}

/* Floats of one thread's column matrix, rounded up to 64 bytes so that slices stay aligned. */
static size_t col_floats(const cnn_conv_geom *g) {
    size_t n = (size_t)(g->C / g->G) * g->KH * g->KW * g->OH * g->OW;
    return (n + 15) / 16 * 16;
}

size_t cnn_conv_work_bytes(const cnn_conv_geom *g, int threads) {
    return pointwise(g) ? 0 : (size_t)threads * col_floats(g) * sizeof(float);
}

/* Offset of element (a, b, c, d) of an array of shape (., B, C, D). */
static inline size_t at4(int a, int b, int c, int d, int B, int C, int D) {
    return (((size_t)a * B + b) * C + c) * D + d;
}

/* ---------------------------------------------------------------------------------------------
 * Reference: the definitions, one output or weight element at a time.
 * ------------------------------------------------------------------------------------------- */

/* y = conv(x, w) + b, or y += conv(x, w) when accumulate (then b is NULL). */
static void ref_forward(const cnn_conv_geom *g, const float *x, const float *w, const float *b,
                        float *y, int accumulate) {
    int Cg = g->C / g->G, OCg = g->OC / g->G;
    for (int n = 0; n < g->N; n++)
        for (int o = 0; o < g->OC; o++) {
            int c0 = o / OCg * Cg; /* first input channel of o's group */
            for (int i = 0; i < g->OH; i++)
                for (int j = 0; j < g->OW; j++) {
                    double acc = b ? b[o] : 0.0;
                    for (int c = 0; c < Cg; c++)
                        for (int u = 0; u < g->KH; u++)
                            for (int v = 0; v < g->KW; v++) {
                                int ih = i * g->sh - g->pt + u * g->dh;
                                int iw = j * g->sw - g->pl + v * g->dw;
                                if (ih < 0 || ih >= g->H || iw < 0 || iw >= g->W) continue;
                                acc += (double)x[at4(n, c0 + c, ih, iw, g->C, g->H, g->W)] *
                                       w[at4(o, c, u, v, Cg, g->KH, g->KW)];
                            }
                    float *out = &y[at4(n, o, i, j, g->OC, g->OH, g->OW)];
                    *out = accumulate ? *out + (float)acc : (float)acc;
                }
        }
}

/* dx += the adjoint of ref_forward: the same loops, each term sending dy * w back to the input
 * pixel it read. */
static void ref_backward_data(const cnn_conv_geom *g, const float *dy, const float *w,
                              float *dx) {
    int Cg = g->C / g->G, OCg = g->OC / g->G;
    for (int n = 0; n < g->N; n++)
        for (int o = 0; o < g->OC; o++) {
            int c0 = o / OCg * Cg;
            for (int i = 0; i < g->OH; i++)
                for (int j = 0; j < g->OW; j++) {
                    float d = dy[at4(n, o, i, j, g->OC, g->OH, g->OW)];
                    for (int c = 0; c < Cg; c++)
                        for (int u = 0; u < g->KH; u++)
                            for (int v = 0; v < g->KW; v++) {
                                int ih = i * g->sh - g->pt + u * g->dh;
                                int iw = j * g->sw - g->pl + v * g->dw;
                                if (ih < 0 || ih >= g->H || iw < 0 || iw >= g->W) continue;
                                dx[at4(n, c0 + c, ih, iw, g->C, g->H, g->W)] +=
                                    d * w[at4(o, c, u, v, Cg, g->KH, g->KW)];
                            }
                }
        }
}

/* dw += sum over samples and output pixels of dy * the input pixel each weight met. */
static void ref_backward_weights(const cnn_conv_geom *g, const float *x, const float *dy,
                                 float *dw) {
    int Cg = g->C / g->G, OCg = g->OC / g->G;
    for (int o = 0; o < g->OC; o++) {
        int c0 = o / OCg * Cg;
        for (int c = 0; c < Cg; c++)
            for (int u = 0; u < g->KH; u++)
                for (int v = 0; v < g->KW; v++) {
                    double acc = 0.0;
                    for (int n = 0; n < g->N; n++)
                        for (int i = 0; i < g->OH; i++)
                            for (int j = 0; j < g->OW; j++) {
                                int ih = i * g->sh - g->pt + u * g->dh;
                                int iw = j * g->sw - g->pl + v * g->dw;
                                if (ih < 0 || ih >= g->H || iw < 0 || iw >= g->W) continue;
                                acc += (double)dy[at4(n, o, i, j, g->OC, g->OH, g->OW)] *
                                       x[at4(n, c0 + c, ih, iw, g->C, g->H, g->W)];
                            }
                    dw[at4(o, c, u, v, Cg, g->KH, g->KW)] += (float)acc;
                }
    }
}

/* s[ch] += sum over samples, in order, and pixels of t (N, CH, P): a bias gradient. Each
 * channel is one task summed in one fixed order, whatever the number of threads. */
static void channel_sums(int threads, int N, int CH, size_t P, const float *t, float *s) {
#pragma omp parallel for num_threads(threads) schedule(static)
    for (int ch = 0; ch < CH; ch++) {
        double acc = 0.0;
        for (int n = 0; n < N; n++) {
            const float *row = t + ((size_t)n * CH + ch) * P;
            for (size_t p = 0; p < P; p++) acc += row[p];
        }
        s[ch] += (float)acc;
    }
}

/* ---------------------------------------------------------------------------------------------
 * Fast: im2col and matrix products.
 * ------------------------------------------------------------------------------------------- */

/* col (K, P) from one group's input x (Cg, H, W): row (c, u, v) holds, for each output pixel,
 * the input pixel that weight (c, u, v) meets there, 0 in the padding. Rows are independent
 * copies, so splitting them over threads cannot change a bit. */
static void im2col(const cnn_conv_geom *g, int threads, const float *x, float *col) {
    int rows = g->C / g->G * g->KH * g->KW;
    size_t P = (size_t)g->OH * g->OW;
#pragma omp parallel for num_threads(threads) schedule(static) if (threads > 1)
    for (int r = 0; r < rows; r++) {
        int c = r / (g->KH * g->KW), u = r / g->KW % g->KH, v = r % g->KW;
        const float *xc = x + (size_t)c * g->H * g->W;
        float *dst = col + (size_t)r * P;
        for (int i = 0; i < g->OH; i++, dst += g->OW) {
            int ih = i * g->sh - g->pt + u * g->dh;
            if (ih < 0 || ih >= g->H) {
                memset(dst, 0, (size_t)g->OW * sizeof *dst);
                continue;
            }
            const float *xr = xc + (size_t)ih * g->W;
            for (int j = 0; j < g->OW; j++) {
                int iw = j * g->sw - g->pl + v * g->dw;
                dst[j] = iw >= 0 && iw < g->W ? xr[iw] : 0.0f;
            }
        }
    }
}

/* dx (Cg, H, W) += col2im(col), the adjoint of im2col: each entry goes back to the input pixel
 * it was copied from; padding entries are dropped. */
static void col2im(const cnn_conv_geom *g, const float *col, float *dx) {
    int rows = g->C / g->G * g->KH * g->KW;
    size_t P = (size_t)g->OH * g->OW;
    for (int r = 0; r < rows; r++) {
        int c = r / (g->KH * g->KW), u = r / g->KW % g->KH, v = r % g->KW;
        float *dxc = dx + (size_t)c * g->H * g->W;
        const float *src = col + (size_t)r * P;
        for (int i = 0; i < g->OH; i++, src += g->OW) {
            int ih = i * g->sh - g->pt + u * g->dh;
            if (ih < 0 || ih >= g->H) continue;
            float *dr = dxc + (size_t)ih * g->W;
            for (int j = 0; j < g->OW; j++) {
                int iw = j * g->sw - g->pl + v * g->dw;
                if (iw >= 0 && iw < g->W) dr[iw] += src[j];
            }
        }
    }
}

/* One sample: y (OC, OH, OW) = conv(x, w) + b, or y += conv(x, w) + b when accumulate. col is
 * the calling thread's column matrix. */
static void forward_sample(const cnn_conv_geom *g, const float *x, const float *w,
                           const float *b, float *y, float *col, int accumulate) {
    int Cg = g->C / g->G, OCg = g->OC / g->G, K = Cg * g->KH * g->KW, P = g->OH * g->OW;
    float beta = accumulate ? 1.0f : 0.0f;
    if (b) {
        for (int o = 0; o < g->OC; o++)
            for (int p = 0; p < P; p++) {
                float *e = &y[(size_t)o * P + p];
                *e = accumulate ? *e + b[o] : b[o];
            }
        beta = 1.0f;
    }
    for (int grp = 0; grp < g->G; grp++) {
        const float *xg = x + (size_t)grp * Cg * g->H * g->W, *a = xg;
        if (!pointwise(g)) {
            im2col(g, 1, xg, col);
            a = col;
        }
        cnn_gemm(0, 0, 0, OCg, P, K, 1.0f, w + (size_t)grp * OCg * K, K, a, P, beta,
                 y + (size_t)grp * OCg * P, P);
    }
}

/* One sample: dx (C, H, W) += the adjoint of forward_sample applied to dy (OC, OH, OW). */
static void backward_data_sample(const cnn_conv_geom *g, const float *dy, const float *w,
                                 float *dx, float *col) {
    int Cg = g->C / g->G, OCg = g->OC / g->G, K = Cg * g->KH * g->KW, P = g->OH * g->OW;
    for (int grp = 0; grp < g->G; grp++) {
        const float *wg = w + (size_t)grp * OCg * K, *dyg = dy + (size_t)grp * OCg * P;
        float *dxg = dx + (size_t)grp * Cg * g->H * g->W;
        if (pointwise(g)) {
            cnn_gemm(0, 1, 0, K, P, OCg, 1.0f, wg, K, dyg, P, 1.0f, dxg, P);
        } else {
            cnn_gemm(0, 1, 0, K, P, OCg, 1.0f, wg, K, dyg, P, 0.0f, col, P);
            col2im(g, col, dxg);
        }
    }
}

/* C (M, N) += A (M, L) B(N, L)^T in fixed tiles of CNN_GEMM_BLOCK_M x CONV_BLOCK_N, the tiles
 * spread over threads. */
static void gemm_nt_tiles(int threads, int M, int N, int L, const float *A, const float *B,
                          float *C) {
    int rb = (M + CNN_GEMM_BLOCK_M - 1) / CNN_GEMM_BLOCK_M;
    int cb = (N + CONV_BLOCK_N - 1) / CONV_BLOCK_N;
#pragma omp parallel for num_threads(threads) schedule(static) if (rb * cb > 1)
    for (int t = 0; t < rb * cb; t++) {
        int r0 = t / cb * CNN_GEMM_BLOCK_M, c0 = t % cb * CONV_BLOCK_N;
        int rows = M - r0 < CNN_GEMM_BLOCK_M ? M - r0 : CNN_GEMM_BLOCK_M;
        int cols = N - c0 < CONV_BLOCK_N ? N - c0 : CONV_BLOCK_N;
        cnn_gemm(0, 0, 1, rows, cols, L, 1.0f, A + (size_t)r0 * L, L, B + (size_t)c0 * L, L,
                 1.0f, C + (size_t)r0 * N + c0, N);
    }
}

/* dw += sum_n dy_n col(x_n)^T, group by group, samples in order. Uses the first column matrix
 * of the work buffer only: the threads share each product instead. */
static void backward_weights_fast(const cnn_ctx *c, const cnn_conv_geom *g, const float *x,
                                  const float *dy, float *dw) {
    int Cg = g->C / g->G, OCg = g->OC / g->G, K = Cg * g->KH * g->KW, P = g->OH * g->OW;
    float *col = c->work;
    for (int n = 0; n < g->N; n++)
        for (int grp = 0; grp < g->G; grp++) {
            const float *xg = x + ((size_t)n * g->C + (size_t)grp * Cg) * g->H * g->W, *a = xg;
            if (!pointwise(g)) {
                im2col(g, c->threads, xg, col);
                a = col;
            }
            gemm_nt_tiles(c->threads, OCg, K, P, dy + ((size_t)n * g->OC + (size_t)grp * OCg) * P,
                          a, dw + (size_t)grp * OCg * K);
        }
}

static void check_work(const cnn_ctx *c, const cnn_conv_geom *g) {
    CNN_ASSERT(c->work_size >= cnn_conv_work_bytes(g, c->threads));
}

/* The calling thread's column matrix. */
static float *thread_col(const cnn_ctx *c, const cnn_conv_geom *g) {
    return (float *)c->work + (size_t)omp_get_thread_num() * col_floats(g);
}

/* ---------------------------------------------------------------------------------------------
 * Convolution
 * ------------------------------------------------------------------------------------------- */

void cnn_conv2d_forward(const cnn_ctx *c, const cnn_conv_geom *g, const float *x,
                        const float *w, const float *b, float *y) {
    if (c->reference) {
        ref_forward(g, x, w, b, y, 0);
        return;
    }
    check_work(c, g);
    size_t in = (size_t)g->C * g->H * g->W, out = (size_t)g->OC * g->OH * g->OW;
#pragma omp parallel for num_threads(c->threads) schedule(static)
    for (int n = 0; n < g->N; n++)
        forward_sample(g, x + n * in, w, b, y + n * out, thread_col(c, g), 0);
}

void cnn_conv2d_backward_data(const cnn_ctx *c, const cnn_conv_geom *g, const float *dy,
                              const float *w, float *dx) {
    if (c->reference) {
        ref_backward_data(g, dy, w, dx);
        return;
    }
    check_work(c, g);
    size_t in = (size_t)g->C * g->H * g->W, out = (size_t)g->OC * g->OH * g->OW;
#pragma omp parallel for num_threads(c->threads) schedule(static)
    for (int n = 0; n < g->N; n++)
        backward_data_sample(g, dy + n * out, w, dx + n * in, thread_col(c, g));
}

void cnn_conv2d_backward_weights(const cnn_ctx *c, const cnn_conv_geom *g, const float *x,
                                 const float *dy, float *dw, float *db) {
    if (c->reference) {
        ref_backward_weights(g, x, dy, dw);
        if (db) channel_sums(1, g->N, g->OC, (size_t)g->OH * g->OW, dy, db);
        return;
    }
    check_work(c, g);
    backward_weights_fast(c, g, x, dy, dw);
    if (db) channel_sums(c->threads, g->N, g->OC, (size_t)g->OH * g->OW, dy, db);
}

/* ---------------------------------------------------------------------------------------------
 * Transposed convolution: the adjoint of g. Its input x is shaped like g's output, its output
 * y like g's input.
 * ------------------------------------------------------------------------------------------- */

/* y (N, C, H, W) = b, per channel, or 0. */
static void fill_bias(const cnn_conv_geom *g, int n, const float *b, float *y) {
    size_t P = (size_t)g->H * g->W;
    for (int ch = 0; ch < g->C; ch++) {
        float *yc = y + ((size_t)n * g->C + ch) * P;
        for (size_t p = 0; p < P; p++) yc[p] = b ? b[ch] : 0.0f;
    }
}

void cnn_conv_transpose2d_forward(const cnn_ctx *c, const cnn_conv_geom *g, const float *x,
                                  const float *w, const float *b, float *y) {
    if (c->reference) {
        for (int n = 0; n < g->N; n++) fill_bias(g, n, b, y);
        ref_backward_data(g, x, w, y);
        return;
    }
    check_work(c, g);
    size_t in = (size_t)g->OC * g->OH * g->OW, out = (size_t)g->C * g->H * g->W;
#pragma omp parallel for num_threads(c->threads) schedule(static)
    for (int n = 0; n < g->N; n++) {
        fill_bias(g, n, b, y);
        backward_data_sample(g, x + n * in, w, y + n * out, thread_col(c, g));
    }
}

void cnn_conv_transpose2d_backward_data(const cnn_ctx *c, const cnn_conv_geom *g,
                                        const float *dy, const float *w, float *dx) {
    if (c->reference) {
        ref_forward(g, dy, w, NULL, dx, 1);
        return;
    }
    check_work(c, g);
    size_t in = (size_t)g->OC * g->OH * g->OW, out = (size_t)g->C * g->H * g->W;
#pragma omp parallel for num_threads(c->threads) schedule(static)
    for (int n = 0; n < g->N; n++)
        forward_sample(g, dy + n * out, w, NULL, dx + n * in, thread_col(c, g), 1);
}

void cnn_conv_transpose2d_backward_weights(const cnn_ctx *c, const cnn_conv_geom *g,
                                           const float *x, const float *dy, float *dw,
                                           float *db) {
    /* In g's terms dy is the input and x the output gradient. */
    if (c->reference) {
        ref_backward_weights(g, dy, x, dw);
        if (db) channel_sums(1, g->N, g->C, (size_t)g->H * g->W, dy, db);
        return;
    }
    check_work(c, g);
    backward_weights_fast(c, g, dy, x, dw);
    if (db) channel_sums(c->threads, g->N, g->C, (size_t)g->H * g->W, dy, db);
}

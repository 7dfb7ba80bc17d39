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
#include "direct.h"
#include "gemm.h"
#include "winograd.h"

#include <limits.h>
#include <string.h>

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
                    if (g->relu && *out < 0.0f) *out = 0.0f;
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
typedef struct sums_job {
    int N, CH;
    size_t P;
    const float *t;
    float *s;
} sums_job;

static void channel_sum_range(void *arg, long begin, long end, int worker) {
    const sums_job *j = arg;
    const int N = j->N, CH = j->CH;
    const size_t P = j->P;
    const float *t = j->t;
    float *s = j->s;
    for (int ch = (int)begin; ch < (int)end; ch++) {
        double acc = 0.0;
        for (int n = 0; n < N; n++) {
            const float *row = t + ((size_t)n * CH + ch) * P;
#pragma omp simd reduction(+ : acc)
            for (size_t p = 0; p < P; p++) acc += row[p];
        }
        s[ch] += (float)acc;
    }
}

static void channel_sums(cnn_workers *pool, int threads, int N, int CH, size_t P, const float *t,
                         float *s) {
    sums_job j = {N, CH, P, t, s};
    cnn_parallel_for(pool, threads, CH, channel_sum_range, &j);
}

/* ---------------------------------------------------------------------------------------------
 * Fast: im2col over chunks of samples, one matrix product per chunk and group.
 *
 * A chunk is S consecutive samples, S fixed by the shape alone (chunking_of), never by the
 * thread count. Its column matrix col (K, S*P) holds the S samples' column matrices side by
 * side, so one product W_g (OCg, K) col (K, S*P) replaces S small ones: fewer calls, longer
 * rows for the product's kernel. Chunks are the unit of parallel work when there are at least
 * as many as threads; with fewer (small batches) each chunk is spread over the threads instead
 * (inner_threads), its products in fixed blocks of rows (cnn_gemm_blocks) whatever the thread
 * count, or, for a forward pass with a long K, in fixed parts of K (CONV_K_PARTS), so either
 * way every value comes from the same operations. Each thread has in its scratch
 * (cnn_thread_work) its own col and a buffer t (OC, S*P) for the chunk's output (one per part
 * of K), or output gradient, channel by channel (scattered to, or gathered from, the NCHW
 * tensors). The
 * weight gradient of each chunk goes to a slot of its own; the slots are summed in chunk order
 * afterwards, so every result is the same, bit for bit, for every thread count.
 * ------------------------------------------------------------------------------------------- */

/* Floats of a chunk's column matrix to aim for: small enough to stay in the level-2 cache
 * while it is built and multiplied. */
#define CONV_CHUNK_FLOATS (64 * 1024)
/* A batch of fewer chunks than this computes its products in fixed blocks of rows, which
 * threads can share within a chunk. Decided by the shape alone: splitting a product changes
 * the bits OpenBLAS gives, so the choice must not depend on the thread count. */
#define CONV_SPLIT_CHUNKS 4
/* Row blocks of a split product (a fixed number, for any thread count). */
#define CONV_ROW_BLOCKS 2
/* The forward pass of such a batch with one group and a long K instead splits K, at a channel
 * boundary, into this many parts (a fixed number, for any thread count): each part builds its
 * own rows of col and multiplies them into an output of its own, and the parts' outputs are
 * added in order with the bias. A thread then reads only the rows of col it wrote; split by
 * rows of the product, each thread read all of col, half of it from the other's cache
 * (ResNet-18's 7x7 layers at batch 1 spent a fifth of their 2-thread time on that). */
#define CONV_K_PARTS 2
#define CONV_PART_MIN_K 512
/* The fewest columns (samples x output pixels) a chunk's products get, when the batch has
 * them. */
#define CONV_MIN_COLS 256

typedef struct chunking {
    int Cg, OCg, K, P;     /* channels per group, K = Cg*KH*KW, P = OH*OW */
    int S, chunks;         /* samples per chunk, chunks in the batch */
    int split_rows;        /* products in fixed row blocks (few chunks: see inner_threads) */
    int parts;             /* the forward pass's parts of K (CONV_K_PARTS, or 1) */
    size_t col, t, part;   /* floats of a col, a t (per thread), a weight-gradient slot */
    int parallel;          /* enough work for threads */
} chunking;

static chunking chunking_of(const cnn_conv_geom *g) {
    chunking k;
    k.Cg = g->C / g->G;
    k.OCg = g->OC / g->G;
    k.K = k.Cg * g->KH * g->KW;
    k.P = g->OH * g->OW;
    size_t per = (size_t)k.K * (size_t)k.P, S = CONV_CHUNK_FLOATS / per;
    /* Products of at least CONV_MIN_COLS columns: deep layers with small maps would otherwise
     * multiply by one sample's few columns, far below the kernel's speed. */
    size_t s_min = (CONV_MIN_COLS + (size_t)k.P - 1) / (size_t)k.P;
    if (S < s_min) S = s_min;
    if ((size_t)k.P * S > INT_MAX) S = INT_MAX / (size_t)k.P; /* S*P is a matrix dimension */
    if (S > (size_t)g->N) S = (size_t)g->N;
    if (S < 1) S = 1;
    k.S = (int)S;
    k.chunks = (g->N + k.S - 1) / k.S;
    k.col = cnn_round16((per + (size_t)k.P) * S); /* K+1 rows: see backward_weights_chunk */
    k.t = cnn_round16((size_t)g->OC * k.P * S);
    k.part = cnn_round16((size_t)g->OC * ((size_t)k.K + 1));
    k.parallel = k.chunks > 1 && (double)g->N * g->OC * k.K * k.P >= CNN_CONV_PARALLEL_MACS;
    k.split_rows = k.chunks < CONV_SPLIT_CHUNKS;
    k.parts = k.split_rows && g->G == 1 && k.Cg >= CONV_K_PARTS && k.K >= CONV_PART_MIN_K
                  ? CONV_K_PARTS
                  : 1;
    return k;
}

/* Winograd's keep: a header saying for which tile size U was made and, for U made by an
 * evaluation pass, from which weights (where they were, and the network's weights_gen then),
 * then the transformed weights U (room for the larger tile an evaluation pass may take). The
 * header does not move with the batch; U's size does. */
typedef struct keep_header {
    int tile;       /* U's tile size (winograd.h), 0: none yet */
    int turn;       /* U holds the turned kernels' transforms (cnn_winograd_data_turned) */
    int kept;       /* U was made by an evaluation pass, from w at generation gen */
    uint64_t gen;   /* the network's weights_gen then */
    const float *w; /* where the weights were */
} keep_header;
#define KEEP_HEADER 16 /* floats: the header, padded to keep U aligned */
_Static_assert(sizeof(keep_header) <= KEEP_HEADER * sizeof(float), "keep header");

size_t cnn_conv_saved_bytes(const cnn_conv_geom *g) {
    if (!cnn_winograd_applies(g)) return 0;
    int f = cnn_winograd_forward_tile(g), d = cnn_winograd_data_tile(g);
    int tile = f > d ? f : d;
    return (KEEP_HEADER + cnn_winograd_weights_floats(g, tile)) * sizeof(float);
}

cnn_work cnn_conv_work_bytes(const cnn_conv_geom *g) {
    chunking k = chunking_of(g);
    cnn_work im2col = {(size_t)k.chunks * k.part * sizeof(float),
                       (k.col + (size_t)k.parts * k.t) * sizeof(float)};
    /* A smaller batch than g->N may take the im2col kernels where g->N takes Winograd's. */
    cnn_work fast = cnn_winograd_applies(g) ? cnn_winograd_work_bytes(g)
                    : cnn_direct_applies(g) ? cnn_direct_work_bytes(g)
                                            : (cnn_work){0, 0};
    return cnn_work_max(fast, im2col);
}

/* The output rows [*i0, *i1) whose input row i SH + U DH - PT lies inside 0..H-1 for kernel
 * row u, and the input row of output row 0 (off); likewise for columns with v. */
static void valid_range(int out, int in, int stride, int pad, int dil, int u, int *i0, int *i1,
                        long long *off) {
    long long o = (long long)u * dil - pad;
    long long a = o >= 0 ? 0 : (-o + stride - 1) / stride;
    long long b = in - 1 - o < 0 ? 0 : (in - 1 - o) / stride + 1;
    if (b > out) b = out;
    if (a > b) a = b;
    *i0 = (int)a;
    *i1 = (int)b;
    *off = o;
}

/* The runs im2col and col2im copy are short (a few to a few dozen floats), where a call to
 * memcpy or memset costs more than the copy itself. GCC turns such loops into those calls even
 * at -O2; this keeps it from doing so in the functions it marks (glibc's
 * inhibit_loop_to_libcall). */
#if defined(__GNUC__) && !defined(__clang__)
#define INLINE_LOOPS __attribute__((optimize("no-tree-loop-distribute-patterns")))
#else
#define INLINE_LOOPS
#endif

/* A block of rows of col: dst (rows, OW) gets src[(j - j0) SW] in columns [j0, j1) and 0 in
 * the others, the rows of src src_step floats apart. */
INLINE_LOOPS static void
copy_block(float *restrict dst, int OW, const float *restrict src, size_t src_step, int rows,
           int j0, int j1, int sw) {
    int n = j1 - j0;
    for (int i = 0; i < rows; i++, dst += OW, src += src_step) {
        for (int j = 0; j < j0; j++) dst[j] = 0.0f;
        float *d = dst + j0;
        if (sw == 1) {
#pragma omp simd
            for (int j = 0; j < n; j++) d[j] = src[j];
        } else if (sw == 2) {
            /* A constant stride: GCC vectorises it (even and odd lanes shuffled apart),
             * which it cannot with sw unknown. ResNet's stride-2 convolutions spent a sixth
             * of their time in this copy with sw taken as a variable. */
#pragma omp simd
            for (int j = 0; j < n; j++) d[j] = src[2 * (size_t)j];
        } else {
            for (int j = 0; j < n; j++) d[j] = src[(size_t)j * sw];
        }
        for (int j = j1; j < OW; j++) dst[j] = 0.0f;
    }
}

/* Clears columns [0, j0) and [j1, OW) of dst (rows, OW). */
INLINE_LOOPS static void
clear_edges(float *dst, int OW, int rows, int j0, int j1) {
    for (int i = 0; i < rows; i++, dst += OW) {
        for (int j = 0; j < j0; j++) dst[j] = 0.0f;
        for (int j = j1; j < OW; j++) dst[j] = 0.0f;
    }
}

typedef struct im2col_job {
    const cnn_conv_geom *g;
    const chunking *k;
    const float *x;
    size_t xs, ld;
    int S;
    float *col;
} im2col_job;

/* Channels [begin, end) of im2col. */
static void im2col_range(void *arg, long begin, long end, int worker) {
    const im2col_job *jb = arg;
    const cnn_conv_geom *g = jb->g;
    const float *x = jb->x;
    const size_t xs = jb->xs, ld = jb->ld;
    const int S = jb->S;
    float *col = jb->col;
    const int OH = g->OH, OW = g->OW, W = g->W, sw = g->sw, P = jb->k->P;
    const size_t plane = (size_t)g->H * W, src_step = (size_t)g->sh * W;
    /* Stride 1 with rows as long as the input's (padding "same"): rows i and i+1 of a block
     * are as far apart in x as in col, so a block is one copy, its edge columns then cleared. */
    const int flat = g->sh == 1 && sw == 1 && OW == W;
    for (int c = (int)begin; c < (int)end; c++)
        for (int u = 0; u < g->KH; u++) {
            int i0, i1;
            long long ho;
            valid_range(OH, g->H, g->sh, g->pt, g->dh, u, &i0, &i1, &ho);
            for (int v = 0; v < g->KW; v++) {
                int j0, j1;
                long long wo;
                valid_range(OW, W, sw, g->pl, g->dw, v, &j0, &j1, &wo);
                float *row = col + ((size_t)(c * g->KH + u) * g->KW + v) * ld;
                for (int s = 0; s < S; s++) {
                    float *dst = row + (size_t)s * P;
                    if (i0 == i1 || j0 == j1) {
                        memset(dst, 0, (size_t)P * sizeof *dst);
                        continue;
                    }
                    if (i0 > 0) memset(dst, 0, (size_t)i0 * OW * sizeof *dst);
                    if (i1 < OH)
                        memset(dst + (size_t)i1 * OW, 0, (size_t)(OH - i1) * OW * sizeof *dst);
                    const float *src = x + (size_t)s * xs + (size_t)c * plane +
                                       (size_t)(i0 * (long long)g->sh + ho) * W +
                                       (size_t)(j0 * (long long)sw + wo);
                    dst += (size_t)i0 * OW;
                    int rows = i1 - i0;
                    if (flat) {
                        memcpy(dst + j0, src, ((size_t)(rows - 1) * OW + (j1 - j0)) * sizeof *dst);
                        clear_edges(dst, OW, rows, j0, j1);
                    } else {
                        copy_block(dst, OW, src, src_step, rows, j0, j1, sw);
                    }
                }
            }
        }
}

/* col (K, ld): in columns s*P .. s*P + P - 1 the column matrix of sample s < S of x, the
 * group's Cg channels of S samples that are xs floats apart. Row (c, u, v) holds, for each
 * output pixel, the input pixel that weight (c, u, v) meets there, 0 in the padding. Channels
 * write rows of their own: splitting them over threads changes no value. */
static void im2col(const cnn_conv_geom *g, const chunking *k, const float *x, size_t xs, int S,
                   float *col, size_t ld, cnn_workers *pool, int threads) {
    im2col_job j = {g, k, x, xs, ld, S, col};
    cnn_parallel_for(pool, threads, k->Cg, im2col_range, &j);
}

typedef struct col2im_job {
    const cnn_conv_geom *g;
    const chunking *k;
    float *col;
    size_t ld, xs;
    int s;
    float *dx;
} col2im_job;

/* Channels [begin, end) of sample s of col2im: each channel adds into its own plane, in the
 * same order whatever the threads. */
static void col2im_range(void *arg, long begin, long end, int worker) {
    const col2im_job *jb = arg;
    const cnn_conv_geom *g = jb->g;
    float *col = jb->col, *dx = jb->dx;
    const size_t ld = jb->ld, xs = jb->xs;
    const int s = jb->s;
    const int OH = g->OH, OW = g->OW, W = g->W, sw = g->sw, P = jb->k->P;
    const size_t plane = (size_t)g->H * W, d_step = (size_t)g->sh * W;
    /* As in im2col: with rows as long as the input's, a block is one run once the padding
     * entries at its edges, which the run adds to the neighbouring row, are zeros. */
    const int flat = g->sh == 1 && sw == 1 && OW == W;
    for (int c = (int)begin; c < (int)end; c++) {
        float *dxc = dx + (size_t)s * xs + (size_t)c * plane;
        for (int u = 0; u < g->KH; u++) {
            int i0, i1;
            long long ho;
            valid_range(OH, g->H, g->sh, g->pt, g->dh, u, &i0, &i1, &ho);
            for (int v = 0; v < g->KW; v++) {
                int j0, j1;
                long long wo;
                valid_range(OW, W, sw, g->pl, g->dw, v, &j0, &j1, &wo);
                if (i0 == i1 || j0 == j1) continue;
                float *src = col + ((size_t)(c * g->KH + u) * g->KW + v) * ld +
                             (size_t)s * P + (size_t)i0 * OW;
                float *d = dxc + (size_t)(i0 * (long long)g->sh + ho) * W +
                           (size_t)(j0 * (long long)sw + wo);
                int rows = i1 - i0, n = j1 - j0;
                if (flat) {
                    clear_edges(src, OW, rows, j0, j1);
                    size_t run = (size_t)(rows - 1) * OW + n;
                    src += j0;
#pragma omp simd
                    for (size_t q = 0; q < run; q++) d[q] += src[q];
                    continue;
                }
                for (int i = 0; i < rows; i++, src += OW, d += d_step) {
                    if (sw == 1) {
#pragma omp simd
                        for (int j = 0; j < n; j++) d[j] += src[j0 + j];
                    } else {
                        for (int j = 0; j < n; j++) d[(size_t)j * sw] += src[j0 + j];
                    }
                }
            }
        }
    }
}

/* dx += col2im(col), the adjoint of im2col: each entry goes back to the input pixel it was
 * copied from; padding entries are dropped. Sample by sample, rows in order. col is scratch:
 * its padding entries may be cleared. */
static void col2im(const cnn_conv_geom *g, const chunking *k, float *col, size_t ld, int S,
                   float *dx, size_t xs, cnn_workers *pool, int threads) {
    for (int s = 0; s < S; s++) {
        col2im_job j = {g, k, col, ld, xs, s, dx};
        cnn_parallel_for(pool, threads, k->Cg, col2im_range, &j);
    }
}

/* t (OC, ld) <- y (S, OC, P), sample s in columns s*P... */
static void gather(const chunking *k, int OC, const float *y, int S, float *t, size_t ld) {
    for (int s = 0; s < S; s++)
        for (int o = 0; o < OC; o++)
            memcpy(t + (size_t)o * ld + (size_t)s * k->P, y + ((size_t)s * OC + o) * k->P,
                   (size_t)k->P * sizeof *t);
}

/* A product of a chunk: in row blocks fixed by its size, shared by `threads` threads, when
 * k->split_rows, else one call (threads is then 1). */
static void chunk_gemm(const chunking *k, cnn_workers *pool, int threads, int trans_a, int trans_b,
                       int M, int N, int K, float alpha, const float *A, int lda, const float *B,
                       int ldb, float beta, float *C, int ldc) {
    if (k->split_rows) {
        /* CONV_ROW_BLOCKS blocks of a multiple of 16 rows: enough for the threads to share,
         * few enough that repacking B for each block stays cheap. */
        int per = (M + CONV_ROW_BLOCKS - 1) / CONV_ROW_BLOCKS;
        per = (per + 15) / 16 * 16;
        cnn_gemm_blocks(0, pool, threads, per, trans_a, trans_b, M, N, K, alpha, A, lda, B, ldb,
                        beta, C, ldc);
    } else
        cnn_gemm(0, trans_a, trans_b, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
}

/* Threads for the work inside one chunk. With at least as many chunks as threads the chunks
 * are shared out and each runs on one thread (1); with fewer (a batch of one image, say) the
 * chunks run one after another, each spread over every thread: im2col and col2im by channel,
 * the products by blocks of rows of a fixed size (cnn_gemm_rows). That needs the row blocks,
 * which only batches of few chunks use (CONV_SPLIT_CHUNKS). Both ways every value is
 * computed by the same operations in the same order, so the results do not depend on the
 * thread count. */
static int inner_threads(const cnn_ctx *c, const chunking *k) {
    if (!k->split_rows || k->chunks >= c->threads) return 1;
    return cnn_conv_threads(c, (double)k->OCg * k->K * k->P * k->S);
}

typedef struct bias_job {
    float *y;
    float *t;
    const float *b;
    size_t ld, P, part; /* part: floats from one part's t to the next's */
    int n, s, OC, parts, accumulate, relu;
} bias_job;

/* Output channels [begin, end) of sample n = n0 + s: y = t + b, or y += t + b, t the sum of
 * the parts' outputs in order (added into the first). */
static void bias_range(void *arg, long begin, long end, int worker) {
    const bias_job *j = arg;
    const size_t ld = j->ld, P = j->P;
    const int s = j->s;
    for (int o = (int)begin; o < (int)end; o++) {
        float *dst = j->y + ((size_t)j->n * j->OC + o) * P;
        float *src = j->t + (size_t)o * ld + (size_t)s * P;
        for (int q = 1; q < j->parts; q++) {
            const float *restrict add = src + (size_t)q * j->part;
#pragma omp simd
            for (size_t p = 0; p < P; p++) src[p] += add[p];
        }
        float bias = j->b ? j->b[o] : 0.0f;
        if (j->accumulate) {
#pragma omp simd
            for (size_t p = 0; p < P; p++) dst[p] += src[p] + bias;
        } else if (j->relu) {
#pragma omp simd
            for (size_t p = 0; p < P; p++) {
                float v = src[p] + bias;
                dst[p] = v < 0.0f ? 0.0f : v;
            }
        } else {
#pragma omp simd
            for (size_t p = 0; p < P; p++) dst[p] = src[p] + bias;
        }
    }
}

typedef struct part_job {
    im2col_job cols; /* its col and ld */
    const float *w;
    float *t;
    size_t part; /* floats from one part's t to the next's */
} part_job;

/* Parts [begin, end) of K (chunking's parts): the part's channels' rows of col, then
 * t_part (OC, ld) = the part's columns of w times those rows. */
static void part_range(void *arg, long begin, long end, int worker) {
    part_job *j = arg;
    const chunking *k = j->cols.k;
    int taps = k->K / k->Cg, ld = (int)j->cols.ld;
    for (long q = begin; q < end; q++) {
        int c0 = (int)((long)k->Cg * q / k->parts), c1 = (int)((long)k->Cg * (q + 1) / k->parts);
        size_t r0 = (size_t)c0 * taps;
        im2col_range(&j->cols, c0, c1, worker);
        cnn_gemm(0, 0, 0, k->OCg, ld, (c1 - c0) * taps, 1.0f, j->w + r0, k->K,
                 j->cols.col + r0 * (size_t)ld, ld, 0.0f, j->t + (size_t)q * j->part, ld);
    }
}

/* Samples n0 .. n0+S-1: y (N, OC, OH, OW) = conv(x, w) + b, or += when accumulate. t holds
 * k->parts outputs (OC, S P), k->t floats apart. */
static void forward_chunk(const cnn_conv_geom *g, const chunking *k, int n0, int S,
                          const float *x, const float *w, const float *b, float *y, float *col,
                          float *t, int accumulate, cnn_workers *pool, int threads) {
    size_t ld = (size_t)S * k->P, xs = (size_t)g->C * g->H * g->W, P = (size_t)k->P;
    if (k->parts > 1) {
        part_job j = {{g, k, x + n0 * xs, xs, ld, S, col}, w, t, k->t};
        cnn_parallel_for(pool, threads < k->parts ? threads : k->parts, k->parts, part_range,
                         &j);
    } else {
        for (int grp = 0; grp < g->G; grp++) {
            im2col(g, k, x + n0 * xs + (size_t)grp * k->Cg * g->H * g->W, xs, S, col, ld, pool,
                   threads);
            chunk_gemm(k, pool, threads, 0, 0, k->OCg, (int)ld, k->K, 1.0f,
                       w + (size_t)grp * k->OCg * k->K, k->K, col, (int)ld, 0.0f,
                       t + (size_t)grp * k->OCg * ld, (int)ld);
        }
    }
    for (int s = 0; s < S; s++) {
        bias_job j = {y, t, b, ld, P, k->t, n0 + s, s, g->OC, k->parts, accumulate, g->relu};
        cnn_parallel_for(pool, threads, g->OC, bias_range, &j);
    }
}

/* Samples n0 .. n0+S-1: dx (N, C, H, W) += the adjoint of the convolution applied to dy. */
static void backward_data_chunk(const cnn_conv_geom *g, const chunking *k, int n0, int S,
                                const float *dy, const float *w, float *dx, float *col,
                                float *t, cnn_workers *pool, int threads) {
    size_t ld = (size_t)S * k->P, xs = (size_t)g->C * g->H * g->W;
    gather(k, g->OC, dy + (size_t)n0 * g->OC * k->P, S, t, ld);
    for (int grp = 0; grp < g->G; grp++) {
        chunk_gemm(k, pool, threads, 1, 0, k->K, (int)ld, k->OCg, 1.0f,
                   w + (size_t)grp * k->OCg * k->K, k->K, t + (size_t)grp * k->OCg * ld,
                   (int)ld, 0.0f, col, (int)ld);
        col2im(g, k, col, ld, S, dx + n0 * xs + (size_t)grp * k->Cg * g->H * g->W, xs, pool,
               threads);
    }
}

/* Samples n0 .. n0+S-1: part (OC, K+1) = their weight gradient in columns 0..K-1 and, when
 * with_db, their bias gradient in column K: a row of ones under the column matrix makes the
 * product sum dy's channels along with the rest. */
static void backward_weights_chunk(const cnn_conv_geom *g, const chunking *k, int n0, int S,
                                   const float *x, const float *dy, float *part, int with_db,
                                   float *col, float *t, cnn_workers *pool, int threads) {
    size_t ld = (size_t)S * k->P, xs = (size_t)g->C * g->H * g->W;
    gather(k, g->OC, dy + (size_t)n0 * g->OC * k->P, S, t, ld);
    if (with_db)
        for (size_t p = 0; p < ld; p++) col[(size_t)k->K * ld + p] = 1.0f;
    for (int grp = 0; grp < g->G; grp++) {
        im2col(g, k, x + n0 * xs + (size_t)grp * k->Cg * g->H * g->W, xs, S, col, ld, pool,
               threads);
        chunk_gemm(k, pool, threads, 0, 1, k->OCg, k->K + with_db, (int)ld, 1.0f,
                   t + (size_t)grp * k->OCg * ld, (int)ld, col, (int)ld, 0.0f,
                   part + (size_t)grp * k->OCg * (k->K + 1), k->K + 1);
    }
}

typedef struct weights_job {
    const cnn_conv_geom *g;
    const chunking *k;
    const float *x, *dy;
    const cnn_ctx *c;
    float *parts, *dw, *db;
} weights_job;

/* Chunks [begin, end) of the weight gradient, each into its slot, with worker's scratch. */
static void weights_chunk_range(void *arg, long begin, long end, int worker) {
    const weights_job *j = arg;
    const chunking *k = j->k;
    for (int ch = (int)begin; ch < (int)end; ch++) {
        int n0 = ch * k->S, S = j->g->N - n0 < k->S ? j->g->N - n0 : k->S;
        float *col = cnn_thread_work(j->c, worker);
        backward_weights_chunk(j->g, k, n0, S, j->x, j->dy, j->parts + (size_t)ch * k->part,
                               j->db != NULL, col, col + k->col, NULL, 1);
    }
}

/* Elements [begin, end) of (OC, K+1): the slots added in chunk order into dw and db. */
static void weights_sum_range(void *arg, long begin, long end, int worker) {
    const weights_job *j = arg;
    const chunking *k = j->k;
    const float *parts = j->parts;
    float *dw = j->dw, *db = j->db;
    size_t row = (size_t)k->K + 1;
    for (size_t e = (size_t)begin; e < (size_t)end; e++) {
        size_t o = e / row, kk = e % row;
        if (kk == (size_t)k->K && !db) continue;
        double acc = 0.0;
        for (int ch = 0; ch < k->chunks; ch++) acc += parts[(size_t)ch * k->part + e];
        if (kk < (size_t)k->K)
            dw[o * k->K + kk] += (float)acc;
        else
            db[o] += (float)acc;
    }
}

/* dw += sum_n dy_n col(x_n)^T, and db += the sums of dy's channels when db is given: each
 * chunk's sums into its slot, then the slots added in chunk order. */
static void backward_weights_fast(const cnn_ctx *c, const cnn_conv_geom *g, const float *x,
                                  const float *dy, float *dw, float *db) {
    CNN_ASSERT(cnn_ctx_holds(c, cnn_conv_work_bytes(g)));
    chunking k = chunking_of(g);
    float *parts = c->work;
    size_t row = (size_t)k.K + 1, total = (size_t)g->OC * row;
    int inner = inner_threads(c, &k);
    weights_job j = {g, &k, x, dy, c, parts, dw, db};
    if (inner > 1) {
        float *col = cnn_thread_work(c, 0);
        for (int ch = 0; ch < k.chunks; ch++) {
            int n0 = ch * k.S, S = g->N - n0 < k.S ? g->N - n0 : k.S;
            backward_weights_chunk(g, &k, n0, S, x, dy, parts + (size_t)ch * k.part, db != NULL,
                                   col, col + k.col, c->workers, inner);
        }
    } else {
        cnn_parallel_for(c->workers, k.parallel ? c->threads : 1, k.chunks, weights_chunk_range,
                         &j);
    }
    cnn_parallel_for(c->workers, k.parallel || inner > 1 ? c->threads : 1, (long)total,
                     weights_sum_range, &j);
}

/* y (N, C, H, W) = b, per channel, or 0. */
static void fill_bias(const cnn_conv_geom *g, int n, const float *b, float *y) {
    size_t P = (size_t)g->H * g->W;
    for (int ch = 0; ch < g->C; ch++) {
        float *yc = y + ((size_t)n * g->C + ch) * P;
        for (size_t p = 0; p < P; p++) yc[p] = b ? b[ch] : 0.0f;
    }
}

/* What run_chunks does with each chunk. */
enum { CHUNK_FORWARD, CHUNK_FORWARD_ADD, CHUNK_DATA, CHUNK_TRANSPOSED_FORWARD };

/* The chunks of the batch in parallel, each with the calling thread's col and t:
 *   CHUNK_FORWARD            out (N, OC, OH, OW) = conv(in, w) + b
 *   CHUNK_FORWARD_ADD        out += conv(in, w)
 *   CHUNK_DATA               out (N, C, H, W) += the adjoint of the convolution of in
 *   CHUNK_TRANSPOSED_FORWARD out = b + the adjoint of the convolution of in */
static void run_chunk(const cnn_conv_geom *g, const chunking *k, int op, int ch, const float *in,
                      const float *w, const float *b, float *out, float *col, cnn_workers *pool,
                      int threads) {
    int n0 = ch * k->S, S = g->N - n0 < k->S ? g->N - n0 : k->S;
    float *t = col + k->col;
    switch (op) {
    case CHUNK_FORWARD:
    case CHUNK_FORWARD_ADD:
        forward_chunk(g, k, n0, S, in, w, b, out, col, t, op == CHUNK_FORWARD_ADD, pool,
                      threads);
        break;
    case CHUNK_TRANSPOSED_FORWARD:
        for (int s = 0; s < S; s++) fill_bias(g, n0 + s, b, out);
        /* fall through */
    case CHUNK_DATA:
        backward_data_chunk(g, k, n0, S, in, w, out, col, t, pool, threads);
        break;
    }
}

typedef struct chunks_job {
    const cnn_conv_geom *g;
    const chunking *k;
    int op;
    const float *in, *w, *b;
    float *out;
    const cnn_ctx *c;
} chunks_job;

/* Chunks [begin, end), each with worker's col and t. */
static void chunk_range(void *arg, long begin, long end, int worker) {
    const chunks_job *j = arg;
    for (int ch = (int)begin; ch < (int)end; ch++)
        run_chunk(j->g, j->k, j->op, ch, j->in, j->w, j->b, j->out,
                  cnn_thread_work(j->c, worker), NULL, 1);
}

static void run_chunks(const cnn_ctx *c, const cnn_conv_geom *g, int op, const float *in,
                       const float *w, const float *b, float *out) {
    CNN_ASSERT(cnn_ctx_holds(c, cnn_conv_work_bytes(g)));
    chunking k = chunking_of(g);
    int inner = inner_threads(c, &k);
    if (inner > 1) {
        for (int ch = 0; ch < k.chunks; ch++)
            run_chunk(g, &k, op, ch, in, w, b, out, cnn_thread_work(c, 0), c->workers, inner);
        return;
    }
    chunks_job j = {g, &k, op, in, w, b, out, c};
    cnn_parallel_for(c->workers, k.parallel ? c->threads : 1, k.chunks, chunk_range, &j);
}

/* ---------------------------------------------------------------------------------------------
 * Convolution
 * ------------------------------------------------------------------------------------------- */

/* Winograd's transforms of w for tile into keep (see cnn_conv_saved_bytes), for the forward
 * pass (data 0) or the data gradient (data 1): for tile 2 the same transforms, for tile 4 the
 * turned kernels' for the data gradient (cnn_winograd_data_turned). A training pass transforms
 * at every forward call (the weights change at every step); its backward pass (backward)
 * reads what the forward made when that serves, else transforms again. An evaluation pass
 * reuses the transforms when keep holds those wanted, made by an evaluation pass from the
 * weights at w while the network's weights_gen has not moved: as a quantised layer keeps its
 * integers (cnn.h's cnn_net_params says who may change the weights, and how). Comparing the
 * weights with a copy of them instead read 9.5 MB more for each pass of ResNet-18 at batch 1
 * (a ninth of a 14x14 convolution's time at 1 thread). (A data gradient in evaluation, as
 * saliency maps take, may need other transforms than the forward pass made: it transforms
 * again, and so does the next forward.) */
static const float *transformed(const cnn_ctx *c, const cnn_conv_geom *g, const float *w,
                                void *keep, int tile, int data, int backward) {
    CNN_ASSERT(keep != NULL);
    keep_header *h = keep;
    float *u = (float *)keep + KEEP_HEADER;
    uint64_t gen = c->net->weights_gen;
    int turn = data && cnn_winograd_data_turned(tile);
    if (h->tile == tile && h->turn == turn &&
        (c->training ? backward : h->kept && h->gen == gen && h->w == w))
        return u;
    cnn_winograd_transform_weights(c, g, tile, turn, w, u);
    *h = (keep_header){.tile = tile, .turn = turn, .kept = !c->training, .gen = gen, .w = w};
    return u;
}

/* Which kernels run g: decided by the shape (and the CPU), never by the thread count, so that
 * a shape always gets the same bits. The direct kernels serve convolutions only, and their data
 * gradient stride 1 only. Padding decides nothing: every path reads the padding before the
 * input (PT, PL) and the output size (OH, OW), never PB or PR, so asymmetric padding (even
 * kernels with "same", explicit before:after, ONNX pads) is served by each as the symmetric
 * kind is (test_layers runs asymmetric cases on the direct, Winograd and im2col paths against
 * the reference). */
typedef enum { PATH_REFERENCE, PATH_IM2COL, PATH_WINOGRAD, PATH_DIRECT } conv_path;
typedef enum { OP_FORWARD, OP_DATA, OP_WEIGHTS, OP_TRANSPOSED } conv_op;

static conv_path path_of(const cnn_ctx *c, const cnn_conv_geom *g, conv_op op) {
    if (c->reference) return PATH_REFERENCE;
    if (cnn_winograd_applies(g)) return PATH_WINOGRAD;
    if (op == OP_DATA ? cnn_direct_data_applies(g)
                      : op != OP_TRANSPOSED && cnn_direct_applies(g))
        return PATH_DIRECT;
    return PATH_IM2COL;
}

void cnn_conv2d_forward(const cnn_ctx *c, const cnn_conv_geom *g, const float *x,
                        const float *w, const float *b, float *y, void *keep) {
    switch (path_of(c, g, OP_FORWARD)) {
    case PATH_REFERENCE: ref_forward(g, x, w, b, y, 0); break;
    case PATH_WINOGRAD: {
        int tile = cnn_winograd_forward_tile(g);
        cnn_winograd_forward(c, g, tile, transformed(c, g, w, keep, tile, 0, 0), x, b, y, 0);
        break;
    }
    case PATH_DIRECT: cnn_direct_forward(c, g, x, w, b, y); break;
    case PATH_IM2COL: run_chunks(c, g, CHUNK_FORWARD, x, w, b, y); break;
    }
}

void cnn_conv2d_keep(const cnn_ctx *c, const cnn_conv_geom *g, const float *w, void *keep) {
    if (path_of(c, g, OP_FORWARD) == PATH_WINOGRAD)
        transformed(c, g, w, keep, cnn_winograd_forward_tile(g), 0, 0);
}

void cnn_conv2d_backward_data(const cnn_ctx *c, const cnn_conv_geom *g, const float *dy,
                              const float *w, void *keep, float *dx) {
    switch (path_of(c, g, OP_DATA)) {
    case PATH_REFERENCE: ref_backward_data(g, dy, w, dx); break;
    case PATH_WINOGRAD: {
        int tile = cnn_winograd_data_tile(g);
        cnn_winograd_backward_data(c, g, tile, transformed(c, g, w, keep, tile, 1, 1), dy, dx);
        break;
    }
    case PATH_DIRECT: cnn_direct_backward_data(c, g, dy, w, dx); break;
    case PATH_IM2COL: run_chunks(c, g, CHUNK_DATA, dy, w, NULL, dx); break;
    }
}

void cnn_conv2d_backward_weights(const cnn_ctx *c, const cnn_conv_geom *g, const float *x,
                                 const float *dy, float *dw, float *db) {
    size_t P = (size_t)g->OH * g->OW;
    switch (path_of(c, g, OP_WEIGHTS)) {
    case PATH_REFERENCE:
        ref_backward_weights(g, x, dy, dw);
        if (db) channel_sums(NULL, 1, g->N, g->OC, P, dy, db);
        break;
    case PATH_WINOGRAD:
        cnn_winograd_backward_weights(c, g, x, dy, dw);
        if (db) channel_sums(c->workers, c->threads, g->N, g->OC, P, dy, db);
        break;
    case PATH_DIRECT:
        cnn_direct_backward_weights(c, g, x, dy, dw);
        if (db) channel_sums(c->workers, c->threads, g->N, g->OC, P, dy, db);
        break;
    case PATH_IM2COL:
        /* The bias gradient comes out of the same products (a row of ones). */
        backward_weights_fast(c, g, x, dy, dw, db);
        break;
    }
}

/* ---------------------------------------------------------------------------------------------
 * Transposed convolution: the adjoint of g. Its input x is shaped like g's output, its output
 * y like g's input.
 * ------------------------------------------------------------------------------------------- */

void cnn_conv_transpose2d_forward(const cnn_ctx *c, const cnn_conv_geom *g, const float *x,
                                  const float *w, const float *b, float *y, void *keep) {
    conv_path path = path_of(c, g, OP_TRANSPOSED);
    if (path == PATH_IM2COL) {
        run_chunks(c, g, CHUNK_TRANSPOSED_FORWARD, x, w, b, y);
        return;
    }
    for (int n = 0; n < g->N; n++) fill_bias(g, n, b, y);
    if (path == PATH_REFERENCE) {
        ref_backward_data(g, x, w, y);
        return;
    }
    int tile = cnn_winograd_data_tile(g);
    cnn_winograd_backward_data(c, g, tile, transformed(c, g, w, keep, tile, 1, 0), x, y);
}

void cnn_conv_transpose2d_backward_data(const cnn_ctx *c, const cnn_conv_geom *g,
                                        const float *dy, const float *w, void *keep,
                                        float *dx) {
    switch (path_of(c, g, OP_TRANSPOSED)) {
    case PATH_REFERENCE: ref_forward(g, dy, w, NULL, dx, 1); break;
    case PATH_WINOGRAD: {
        int tile = cnn_winograd_forward_tile(g);
        cnn_winograd_forward(c, g, tile, transformed(c, g, w, keep, tile, 0, 1), dy, NULL, dx, 1);
        break;
    }
    default: run_chunks(c, g, CHUNK_FORWARD_ADD, dy, w, NULL, dx); break;
    }
}

void cnn_conv_transpose2d_backward_weights(const cnn_ctx *c, const cnn_conv_geom *g,
                                           const float *x, const float *dy, float *dw,
                                           float *db) {
    /* In g's terms dy is the input and x the output gradient. */
    conv_path path = path_of(c, g, OP_TRANSPOSED);
    if (path == PATH_REFERENCE)
        ref_backward_weights(g, dy, x, dw);
    else if (path == PATH_WINOGRAD)
        cnn_winograd_backward_weights(c, g, dy, x, dw);
    else
        backward_weights_fast(c, g, dy, x, dw, NULL);
    if (db) channel_sums(c->workers, path == PATH_REFERENCE ? 1 : c->threads, g->N, g->C,
                         (size_t)g->H * g->W, dy, db);
}

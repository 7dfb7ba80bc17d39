/*
 * conv.h - 2-D convolution kernels (cross-correlation, PyTorch's conv2d) and their adjoints,
 * which also serve as the transposed convolution (PyTorch's conv_transpose2d).
 *
 * Shapes, for groups G (C and OC both divisible by G):
 *   x (N, C, H, W), w (OC, C/G, KH, KW), b (OC), y (N, OC, OH, OW)
 *   y[n,o,i,j] = b[o] + sum_{c<C/G, u<KH, v<KW} w[o,c,u,v] x[n, g*C/G + c, i*SH - PT + u*DH,
 *                                                                     j*SW - PL + v*DW]
 *   where g = o / (OC/G) is the group of output channel o and x is 0 outside the image.
 *
 * The geometry also describes a transposed convolution: the transpose of the convolution g
 * takes an input (N, OC, OH, OW) to an output (N, C, H, W), with weights laid out
 * (OC, C/G, KH, KW) as PyTorch lays out ConvTranspose2d's (in_channels, out/groups, KH, KW).
 *
 * Reference kernels are direct loops accumulating in double (forward, weights) or scattering
 * exactly as the definition reads (data gradient, transposed forward). Fast kernels turn the
 * convolution into matrix products: the column matrix col (C/G*KH*KW, OH*OW) of a sample holds
 * in row (c, u, v) the input pixels that weight (c, u, v) meets, so y_g = w_g col (im2col),
 * and the data gradient is col2im(w_g^T dy_g). The batch is cut into chunks of S samples, S
 * fixed by the shape (never by the thread count), whose column matrices stand side by side:
 * one product per chunk and group instead of one per sample. Chunks run in parallel, each
 * thread with its own scratch (cnn_thread_work). The weight gradient of each chunk goes to
 * a slot of its own, and the slots are added in chunk order: every result is bit-identical
 * for every thread count.
 */
#ifndef CNN_KERNELS_CONV_H
#define CNN_KERNELS_CONV_H

#include "../core/internal.h"

/* Below this many multiply-adds in a call, a parallel region costs more than it saves (every
 * convolution kernel: im2col, Winograd, direct). */
#define CNN_CONV_PARALLEL_MACS (1 << 20)

/* n rounded up to a multiple of 16 floats (64 bytes): the kernels' scratch buffers start on
 * cache lines. */
static inline size_t cnn_round16(size_t n) { return (n + 15) / 16 * 16; }

/* Threads for a call of `macs` multiply-adds: the context's, or 1 below
 * CNN_CONV_PARALLEL_MACS. */
static inline int cnn_conv_threads(const cnn_ctx *c, double macs) {
    return c->threads > 1 && macs >= CNN_CONV_PARALLEL_MACS ? c->threads : 1;
}

typedef struct cnn_conv_geom {
    int N, C, H, W;     /* input */
    int OC, KH, KW;     /* output channels, kernel */
    int sh, sw;         /* stride */
    int pt, pb, pl, pr; /* zero padding: top, bottom, left, right */
    int dh, dw;         /* dilation */
    int G;              /* groups */
    /* Output size. Usually floor((H + PT + PB - DH (KH - 1) - 1) / SH) + 1, but the kernels
     * read OH and OW as given and never PB or PR: a transposed convolution with output_padding
     * has an input (OH) smaller than that formula gives for its output (H). */
    int OH, OW;
    /* The forward pass's epilogue: 1 applies max(y, 0) after the bias as each output is
     * written (conv2d act=relu; NaN kept, as the relu layer). The gradients ignore it: the
     * layer masks dy itself. */
    int relu;
} cnn_conv_geom;

/* The output length along one axis, floor((in + pad_total - d (k - 1) - 1) / s) + 1, in 64-bit
 * arithmetic so that absurd hyper-parameters cannot overflow; below 1 when the dilated kernel
 * is larger than the padded input. */
long long cnn_conv_out_len(long long in, long long pad_total, long long k, long long s,
                           long long d);

/* Whether the kernels can run g: the matrix sizes C/G*KH*KW and OH*OW fit cnn_gemm's int
 * dimensions, and the furthest input index a kernel tap reaches, (OH-1) SH + (KH-1) DH (and
 * likewise for W), fits the int index arithmetic. Layers check it when they are set up. */
int cnn_conv_geom_fits(const cnn_conv_geom *g);

/* The scratch the fast kernels need (cnn_work) for g's batch g->N, the most a call will run. */
cnn_work cnn_conv_work_bytes(const cnn_conv_geom *g);
/* Whether c holds at least w. */
static inline int cnn_ctx_holds(const cnn_ctx *c, cnn_work w) {
    return c->work_size >= w.shared && c->thread_work_size >= w.each;
}

/* Bytes a layer keeps from its forward pass to its backward pass for the fast kernels, for
 * g's batch g->N: the transformed weights of Winograd's kernels (winograd.h) when g takes
 * them, with a copy of the weights they came from (an evaluation pass with the same weights
 * reuses them), else 0. Zeroed memory is a valid empty keep. The forward functions below
 * write them into `keep`, the data gradients read them from there (in evaluation they make
 * them again when the forward pass made other ones): keep may be NULL only when this is 0,
 * and the weights must not change between a training forward and the backward that uses it. */
size_t cnn_conv_saved_bytes(const cnn_conv_geom *g);

/* y = conv(x, w) + b; y is overwritten. b may be NULL. */
void cnn_conv2d_forward(const cnn_ctx *c, const cnn_conv_geom *g, const float *x,
                        const float *w, const float *b, float *y, void *keep);
/* Makes keep hold what cnn_conv2d_forward with w leaves there, without computing y: for a
 * layer whose forward pass ran other kernels (int8) before a data gradient of these. */
void cnn_conv2d_keep(const cnn_ctx *c, const cnn_conv_geom *g, const float *w, void *keep);
/* dx += d/dx of sum(dy * y). */
void cnn_conv2d_backward_data(const cnn_ctx *c, const cnn_conv_geom *g, const float *dy,
                              const float *w, void *keep, float *dx);
/* dw += d/dw, db += d/db of sum(dy * y); db may be NULL. */
void cnn_conv2d_backward_weights(const cnn_ctx *c, const cnn_conv_geom *g, const float *x,
                                 const float *dy, float *dw, float *db);

/* The transposed convolution of g: x (N, OC, OH, OW), w (OC, C/G, KH, KW), b (C),
 * y (N, C, H, W); y is overwritten:
 *   y[n, g*C/G + c, i*SH - PT + u*DH, j*SW - PL + v*DW] += w[o,c,u,v] x[n,o,i,j]  (o in group g)
 * plus b. b may be NULL. keep: as for cnn_conv2d_forward. */
void cnn_conv_transpose2d_forward(const cnn_ctx *c, const cnn_conv_geom *g, const float *x,
                                  const float *w, const float *b, float *y, void *keep);
/* dx (N, OC, OH, OW) += d/dx of sum(dy * y), dy (N, C, H, W). */
void cnn_conv_transpose2d_backward_data(const cnn_ctx *c, const cnn_conv_geom *g,
                                        const float *dy, const float *w, void *keep,
                                        float *dx);
/* dw (OC, C/G, KH, KW) += d/dw, db (C) += d/db of sum(dy * y); db may be NULL. */
void cnn_conv_transpose2d_backward_weights(const cnn_ctx *c, const cnn_conv_geom *g,
                                           const float *x, const float *dy, float *dw,
                                           float *db);

#endif

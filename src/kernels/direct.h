/*
 * direct.h - direct convolution kernels for few input channels (LeNet-5's, a network's first
 * layer): no column matrix, every product accumulated in registers.
 *
 * A convolution of stride 1 reads, for output pixel (i, j) and tap (c, u, v), the input pixel
 * (i + u - PT, j + v - PL). On a zero-padded copy xp of each input plane, Wp = OW + KW - 1
 * floats a row, the output pixel q = i Wp + j (j < OW; the other columns are computed and
 * dropped) reads xp_c[q + u Wp + v]: for every tap one contiguous run of the copy. The kernel
 * holds a block of 6 output channels x 16 such outputs in 12 AVX2 registers and adds in each
 * tap with 2 loads, 6 broadcasts and 12 fused multiply-adds. The data gradient is either the
 * same kernel run on dy with the kernels turned by 180 degrees and the channels swapped
 * (gather), or the same kernel computing, for every tap, the products of the weights and dy,
 * then each tap's products added back to the input pixels they came from as one contiguous run
 * of a padded copy of dx (scatter: no multiplications by dy's zero border, nor by the channels
 * padded to 6). The weight gradient sums dy times the same runs of xp, either 6 channels x 2
 * taps at a time with dy copied with the row length of xp (along the outputs), or 6 taps x 16
 * channels with dy transposed (along the channels: only the real outputs, no horizontal sums).
 * Each shape takes the form that multiplies less.
 *
 * A stride S > 1 (forward and weight gradient) splits each padded plane into its S x S phases,
 * phase (a, b) holding the pixels (r S + a, s S + b): tap (u, v) then reads phase
 * (u mod S, v mod S) at row u / S, column v / S, again one contiguous run per tap (ResNet's
 * 7x7 stride-2 stem: 3 channels, 64 outputs).
 *
 * im2col (conv.c) copies C KH KW values per output pixel before its matrix product; with few
 * input channels those copies and the small products cost more than the arithmetic. The
 * kernels need AVX2 and FMA (checked at run time); without them conv.c keeps the im2col path.
 * Work is split by samples (and chunks of samples for the weight gradient, added in order); a
 * forward pass with fewer samples than threads splits each sample's blocks of outputs. Every
 * output is one kernel call's whatever the split, so results do not depend on the thread
 * count.
 */
#ifndef CNN_KERNELS_DIRECT_H
#define CNN_KERNELS_DIRECT_H

#include "conv.h"

/* Input channels and strides at most for the direct kernels. */
#define CNN_DIRECT_MAX_CHANNELS 16
#define CNN_DIRECT_MAX_STRIDE 4
/* Whether g's forward pass and weight gradient take the direct kernels: the CPU has AVX2 and
 * FMA, strides up to CNN_DIRECT_MAX_STRIDE, dilation 1, one group, at most
 * CNN_DIRECT_MAX_CHANNELS input channels and at most 64 output channels. */
int cnn_direct_applies(const cnn_conv_geom *g);
/* Whether g's data gradient takes them too: stride 1 as well. */
int cnn_direct_data_applies(const cnn_conv_geom *g);

/* The scratch the kernels need (cnn_work) for g's batch. */
cnn_work cnn_direct_work_bytes(const cnn_conv_geom *g);

/* y = conv(x, w) + b (b may be NULL). */
void cnn_direct_forward(const cnn_ctx *c, const cnn_conv_geom *g, const float *x,
                        const float *w, const float *b, float *y);
/* dx += d/dx of sum(dy * y). */
void cnn_direct_backward_data(const cnn_ctx *c, const cnn_conv_geom *g, const float *dy,
                              const float *w, float *dx);
/* dw += d/dw of sum(dy * y). (The bias gradient is a plain channel sum.) */
void cnn_direct_backward_weights(const cnn_ctx *c, const cnn_conv_geom *g, const float *x,
                                 const float *dy, float *dw);

#endif

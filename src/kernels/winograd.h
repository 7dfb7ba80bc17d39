/*
 * winograd.h - 3x3 convolutions of stride 1 by Winograd's minimal filtering F(2x2, 3x3)
 * (Lavin and Gray, "Fast Algorithms for Convolutional Neural Networks", CVPR 2016).
 *
 * The output is cut into 2x2 tiles; each tile is a 4x4 patch of input d combined with a 3x3
 * kernel g as
 *     Y = A^T [ (G g G^T) (.) (B^T d B) ] A          ((.): element by element)
 * so the 16 products of the bracket replace the 36 multiply-adds of the direct sum: 2.25 times
 * fewer. Over channels the element-wise products become 16 matrix products, one per position
 * xi of the 4x4 bracket:  M[xi] (OC, tiles) = U[xi] (OC, C) V[xi] (C, tiles),  U the
 * transformed weights, V the transformed input tiles.
 *
 * The same three transforms, read backwards, give the gradients: the data gradient of a stride
 * 1 convolution is a convolution of dy with the weights turned by 180 degrees and the channels
 * swapped; the weight gradient is G^T [ sum_tiles (A dY A^T) (.) (B^T d B) ] G.
 *
 * Numerically F(2x2, 3x3) is as good as the direct sum: its transforms add and subtract and
 * halve, nothing more. Results differ from the im2col kernels in the last bits; conv.c routes
 * every 3x3 stride-1 convolution with enough channels here (cnn_winograd_applies), so that a
 * shape always takes the same path.
 *
 * The forward pass and both gradients run by F(4x4, 3x3) instead where a call makes enough
 * 4x4 tiles (cnn_winograd_forward_tile, cnn_winograd_data_tile; transforms in winograd4.c):
 * 4x4 output tiles from 6x6 input tiles, 36 products per 16 outputs where F(2x2, 3x3) makes
 * 64, for a few times F(2x2)'s rounding error (its transforms multiply by up to 8;
 * test_kernels bounds it against the reference, in training and evaluation passes). Training
 * and evaluation passes take the same tiles, so their outputs are the same bits.
 *
 * Work is split into fixed units (chunks of tile rows, channels, the products), chosen by
 * the shape alone: every result is the same, bit for bit, for every thread count.
 */
#ifndef CNN_KERNELS_WINOGRAD_H
#define CNN_KERNELS_WINOGRAD_H

#include "conv.h"

/* Whether g is a convolution the Winograd kernels run: a 3x3 kernel, stride 1, dilation 1,
 * one group, and at least CNN_WINOGRAD_MIN_CHANNELS input and output channels (with fewer the
 * transforms cost more than the products they save). */
#define CNN_WINOGRAD_MIN_CHANNELS 16
int cnn_winograd_applies(const cnn_conv_geom *g);

/* The scratch the kernels below need (cnn_work) for g's batch g->N. */
cnn_work cnn_winograd_work_bytes(const cnn_conv_geom *g);

/* The output tile side of g's forward pass: 4 (F(4x4, 3x3)) when that makes at least as many
 * tiles as a call needs (see WINO_MIN_CALL_TILES in winograd.c; ResNet-18's 14x14 maps at
 * batch 1 make 16 4x4 tiles, and were 1.2x slower so), else 2 (F(2x2, 3x3)). Larger batches
 * never take smaller tiles. The transforms below take it as `tile`. */
int cnn_winograd_forward_tile(const cnn_conv_geom *g);
/* The same for g's data gradient, whose output is g's input (N, C, H, W). */
int cnn_winograd_data_tile(const cnn_conv_geom *g);

/* Floats of g's transformed weights for tile: (tile + 2)^2 OC C. */
size_t cnn_winograd_weights_floats(const cnn_conv_geom *g, int tile);
/* u = the transforms of the kernels w (OC, C, 3, 3) for tile: (tile + 2)^2 planes (OC, C),
 * U[xi] = G g G^T, with g each kernel turned by 180 degrees when turn. The data gradient
 * convolves with the turned kernels: for tile 2 their transforms are the unturned ones' in
 * another order, so the forward pass and the data gradient read the same u (turn 0); for
 * tile 4 the data gradient needs its own (turn 1). cnn_winograd_data_turned(tile) says which. */
void cnn_winograd_transform_weights(const cnn_ctx *c, const cnn_conv_geom *g, int tile,
                                    int turn, const float *w, float *u);
int cnn_winograd_data_turned(int tile);

/* y (N, OC, OH, OW) = conv(x, w) + b, or y += conv(x, w) when accumulate, u the transforms
 * of w for tile. b may be NULL. */
void cnn_winograd_forward(const cnn_ctx *c, const cnn_conv_geom *g, int tile, const float *u,
                          const float *x, const float *b, float *y, int accumulate);
/* dx (N, C, H, W) += d/dx of sum(dy * y), u the transforms of w for tile, turned as
 * cnn_winograd_data_turned(tile) says. */
void cnn_winograd_backward_data(const cnn_ctx *c, const cnn_conv_geom *g, int tile,
                                const float *u, const float *dy, float *dx);
/* dw (OC, C, 3, 3) += d/dw of sum(dy * y), with the forward pass's tile
 * (cnn_winograd_forward_tile). (The bias gradient is a plain channel sum.) */
void cnn_winograd_backward_weights(const cnn_ctx *c, const cnn_conv_geom *g, const float *x,
                                   const float *dy, float *dw);

#endif

/*
 * qconv.h - 8-bit inference of a 2-D convolution (conv2d quant=int8), the geometry of conv.h.
 *
 * The layer computes the convolution of its input quantised to 8 bits with its weights
 * quantised to 8 bits per output channel, in exact integer sums:
 *   u = clamp(floor(x r + z + 1/2), 0, 255)   r = 1/in_scale (in float), z = in_zero (0..255)
 *   s[o] = max_k |w[o,k]| / 127,  q[o,k] = round(w[o,k] / s[o]), in -127..127 (0 when s is 0)
 *   y[o,p] = float(sum_k q[o,k] (u_k - z)) * float(in_scale s[o]) + b[o]      (then max(y, 0)
 *                                                                               with g->relu)
 * where u_k is z outside the image, so zero padding stays exact. The weights' integers are
 * made from the layer's float weights and kept between passes; they are remade when the
 * network's weights_gen moved (cnn_net_params and the other calls cnn.h names before them:
 * whoever may have changed the weights) or the weights moved, so a float checkpoint is all a quantised
 * layer needs besides in_scale and in_zero. A NaN input becomes byte 0, the low end of the
 * range (where a float convolution would give NaN).
 *
 * Every path gives the same bits: the sums are exact, and the epilogue is one conversion, one
 * product and one sum per output, the same everywhere. The reference path (c->reference) is
 * direct loops over the definition; the fast path quantises each sample's input once, lays its
 * columns out for the int8 products (qgemm.h) and writes y from their epilogue.
 */
#ifndef CNN_KERNELS_QCONV_H
#define CNN_KERNELS_QCONV_H

#include "conv.h"

/* The most terms of one output's sum as the fast path counts them (cnn_qconv_terms):
 * 127 * 255 * K must fit an int32 (qgemm.h's CNN_QGEMM_MAX_K). */
#define CNN_QCONV_MAX_TERMS 65536

/* The terms of one output's sum on the fast path: KH x KW x the group's channels rounded up
 * to a multiple of 4. */
long long cnn_qconv_terms(const cnn_conv_geom *g);

/* The input's quantisation for values seen in [lo, hi]: 0 exact (a zero point), the range
 * widened to hold 0, and 256 steps over it; all non-negative inputs (after a ReLU) get
 * in_zero 0 and the full 0..255 for their range. */
void cnn_qconv_input_params(float lo, float hi, float *in_scale, int *in_zero);

/* Bytes a layer keeps between passes (its saved memory): the weights' integers, laid out for
 * the products, their scales, and a copy of the float weights they came from. Zeroed memory is
 * a valid empty keep. */
size_t cnn_qconv_keep_bytes(const cnn_conv_geom *g);

/* The scratch of a forward pass (cnn_work) for g's batch g->N. */
cnn_work cnn_qconv_work_bytes(const cnn_conv_geom *g);

/* y = the quantised convolution of x with w (OC, C/G, KH, KW) and bias b (NULL: none); y is
 * overwritten. in_scale > 0 and in_zero in 0..255, as the layer checked. */
void cnn_qconv2d_forward(const cnn_ctx *c, const cnn_conv_geom *g, float in_scale, int in_zero,
                         const float *x, const float *w, const float *b, float *y, void *keep);

#endif

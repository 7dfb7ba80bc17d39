/*
 * pool2d.h - 2-D pooling kernels (PyTorch's MaxPool2d, AvgPool2d, LPPool2d with norm_type 2),
 * reference and fast. src/layers/pool.c states the layers; this is their arithmetic.
 *
 * Shapes: x (N, C, H, W) -> y (N, C, OH, OW), every (sample, channel) plane on its own. The
 * window of output (oh, ow) covers rows oh SH - PH .. oh SH - PH + KH - 1 and columns
 * ow SW - PW .. ow SW - PW + KW - 1, clipped to the input (and, for avg_pool2d's divisor, to
 * the padded input: rows -PH .. H + PH - 1, columns likewise).
 *
 *   CNN_POOL_MAX  y = max over the window; arg = its flat index h W + w in the plane (the first
 *                 maximum in row-major order; a NaN takes over, as in PyTorch);
 *                 dx[arg] += dy
 *   CNN_POOL_AVG  y = sum / D, D the window's cells in the padded input (include_pad) or in
 *                 the input; dx += dy / D over the window
 *   CNN_POOL_L2   y = sqrt(sum of x^2); dx += dy x / y over the window, 0 where y = 0
 *
 * The reference kernel clips each window to the input as the definition reads. The fast
 * kernels are max pooling's: 2x2 non-overlapping windows without padding vectorised across a
 * row of outputs, and any other window with a column stride up to 8 (ResNet's 3x3 stride 2
 * padding 1) as selects across segments of an output row, each window row padded with -inf
 * and split into phases by the stride. Both give the reference's values and argmax bit for
 * bit. Average and L2 pooling run the reference loops. Planes are split over
 * threads, each writing its own output and input-gradient planes, so results do not depend
 * on the thread count.
 */
#ifndef CNN_KERNELS_POOL2D_H
#define CNN_KERNELS_POOL2D_H

#include "../core/internal.h"

enum { CNN_POOL_MAX, CNN_POOL_AVG, CNN_POOL_L2 };

typedef struct cnn_pool_geom {
    int kind;        /* CNN_POOL_* */
    int include_pad; /* CNN_POOL_AVG: count the padding in the divisor */
    int N, C, H, W, OH, OW, KH, KW, SH, SW, PH, PW;
} cnn_pool_geom;

/* y = pool(x); arg (N, C, OH, OW) receives the argmax for CNN_POOL_MAX (NULL otherwise). */
void cnn_pool2d_forward(const cnn_ctx *c, const cnn_pool_geom *g, const float *x, float *y,
                        int32_t *arg);
/* dx += the gradient through the pooling, from dy (N, C, OH, OW), or dx = it when not
 * accumulate; x, y and arg as forward left them (x and y are not read by CNN_POOL_MAX, nor arg
 * by the others). */
void cnn_pool2d_backward(const cnn_ctx *c, const cnn_pool_geom *g, int accumulate, const float *x,
                         const float *y, const float *dy, const int32_t *arg, float *dx);

#endif

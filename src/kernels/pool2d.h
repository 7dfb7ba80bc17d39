/*
 * pool2d.h - 2-D pooling kernels (PyTorch's MaxPool2d, AvgPool2d, LPPool2d with norm_type 2,
 * AdaptiveMaxPool2d and AdaptiveAvgPool2d), reference and fast. src/layers/pool.c and
 * src/layers/adaptive_pool.c state the layers; this is their arithmetic.
 *
 * Shapes: x (N, C, H, W) -> y (N, C, OH, OW), every (sample, channel) plane on its own. The
 * window of output (oh, ow) holds the taps at rows oh SH - PT + u DH (u < KH) and columns
 * ow SW - PL + v DW (v < KW) that lie inside the input; the padding after the input (PB, PR)
 * only bounds avg_pool2d's divisor, which counts the window's cells inside the padded input
 * (rows -PT .. H + PB - 1, columns -PL .. W + PR - 1) with include_pad. Dilation is max
 * pooling's alone (DH = DW = 1 for the others). An adaptive geometry (adaptive set) has instead
 * the windows of PyTorch's adaptive pooling: rows floor(oh H / OH) .. ceil((oh + 1) H / OH) - 1,
 * columns likewise, and D their cell count.
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
 * row of outputs, and any other window with a column stride up to 8 and a dilated width up to
 * 32 (ResNet's 3x3 stride 2 padding 1) as selects across segments of an output row, each
 * window row padded with -inf and split into phases by the stride. Both read only the padding
 * before the input (PT, PL): any padding after it is the same to them. Both give the
 * reference's values and argmax bit for bit; without the argmax, 2x2 and 3x3 windows scan
 * their values alone (3x3: each row's maximum once, then the rows'). Average, L2 and adaptive
 * pooling run the reference loops. Planes are split over threads, each writing its own output
 * and input-gradient planes, so results do not depend on the thread count.
 */
#ifndef CNN_KERNELS_POOL2D_H
#define CNN_KERNELS_POOL2D_H

#include "../core/internal.h"

enum { CNN_POOL_MAX, CNN_POOL_AVG, CNN_POOL_L2 };

typedef struct cnn_pool_geom {
    int kind;        /* CNN_POOL_* */
    int include_pad; /* CNN_POOL_AVG: count the padding in the divisor */
    int adaptive;    /* PyTorch's adaptive windows (K, S, P, D unused) */
    int N, C, H, W, OH, OW, KH, KW, SH, SW;
    int PT, PB, PL, PR; /* padding before and after the rows, before and after the columns */
    int DH, DW;         /* dilation: 1 but for CNN_POOL_MAX */
} cnn_pool_geom;

/* y = pool(x); arg (N, C, OH, OW) receives the argmax for CNN_POOL_MAX. arg NULL: the values
 * alone (the same bits), which for max pooling costs less (3x3 windows: a third less at
 * ResNet-18's stem). */
void cnn_pool2d_forward(const cnn_ctx *c, const cnn_pool_geom *g, const float *x, float *y,
                        int32_t *arg);
/* dx += the gradient through the pooling, from dy (N, C, OH, OW), or dx = it when not
 * accumulate; x, y and arg as forward left them (x and y are not read by CNN_POOL_MAX, nor arg
 * by the others). */
void cnn_pool2d_backward(const cnn_ctx *c, const cnn_pool_geom *g, int accumulate, const float *x,
                         const float *y, const float *dy, const int32_t *arg, float *dx);

#endif

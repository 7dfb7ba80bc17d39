/*
 * pool.c - 2-D pooling: PyTorch's MaxPool2d, AvgPool2d and LPPool2d with norm_type 2. The three
 * share one parameter struct; their arithmetic is in src/kernels/pool2d.c.
 *
 *   x (N, C, H, W) -> y (N, C, OH, OW), every (sample, channel) plane on its own.
 *   OH = floor((H + 2 PH - KH) / SH) + 1; in ceil_mode ceil(...) + 1, less one when the last
 *   window would start at row H or beyond (PyTorch: every window starts inside the input or
 *   its left padding). OW likewise with W, PW, KW, SW.
 *   The window of output (oh, ow) covers rows oh SH - PH .. oh SH - PH + KH - 1 and columns
 *   ow SW - PW .. ow SW - PW + KW - 1.
 *
 *   max_pool2d  y = max of x over the window; padded cells are -infinity, so never the max.
 *               The argmax (h W + w in the input plane, the first maximum in row-major order,
 *               a NaN wins as in PyTorch) is saved per output; backward: dx[argmax] += dy.
 *   avg_pool2d  y = (sum of x over the window) / D; backward: dx += dy / D over the window.
 *               count_include_pad: D counts the window's cells inside the padded input
 *               (-PH .. H + PH - 1 by -PW .. W + PW - 1; a ceil_mode window may reach beyond
 *               it); otherwise D counts its cells inside the input.
 *   l2_pool2d   y = sqrt(sum of x^2 over the window); backward: dx += dy x / y, 0 where y = 0.
 *               No padding and no ceil_mode, as PyTorch's LPPool2d.
 *
 * Hyper-parameters as PyTorch checks them: kernel >= 1, stride >= 1 (0 stands for the kernel),
 * 0 <= padding <= kernel / 2, and OH, OW >= 1: the kernel no larger than the padded input, or
 * in ceil_mode larger by at most stride - 1. Every window then starts before row H, and at row
 * -PH or later, so that it ends after row 0 (KH > PH): it holds at least one input cell.
 */
#include "pool.h"
#include "../kernels/pool2d.h"

#include <stddef.h>
#include <stdint.h>

typedef struct pool_params {
    int kernel[2], stride[2], padding[2];
    int ceil_mode;
    int count_include_pad;
    int kind; /* set by setup, from the layer type */
} pool_params;

#define FIELD_KERNEL                                                                           \
    {"kernel", CNN_FIELD_INT2, offsetof(pool_params, kernel), NULL, NULL, "window KHxKW"}
#define FIELD_STRIDE                                                                           \
    {"stride", CNN_FIELD_INT2, offsetof(pool_params, stride), "0", NULL,                     \
     "step SHxSW; 0: the kernel"}
#define FIELD_PADDING                                                                          \
    {"padding", CNN_FIELD_INT2, offsetof(pool_params, padding), "0", NULL,                   \
     "implicit padding on each side, at most half the kernel"}
#define FIELD_CEIL_MODE                                                                        \
    {"ceil_mode", CNN_FIELD_BOOL, offsetof(pool_params, ceil_mode), "0", NULL,               \
     "round the output size up (a last, partial window)"}

static const cnn_field max_fields[] = {FIELD_KERNEL, FIELD_STRIDE, FIELD_PADDING,
                                       FIELD_CEIL_MODE, {0}};
static const cnn_field avg_fields[] = {
    FIELD_KERNEL,
    FIELD_STRIDE,
    FIELD_PADDING,
    FIELD_CEIL_MODE,
    {"count_include_pad", CNN_FIELD_BOOL, offsetof(pool_params, count_include_pad), "1", NULL,
     "divide by the window's cells in the padded input, not only those in the input"},
    {0},
};
static const cnn_field l2_fields[] = {FIELD_KERNEL, FIELD_STRIDE, {0}};

/* ---------------------------------------------------------------------------------------------
 * Forward and backward: the arithmetic is in src/kernels/pool2d.c.
 * ------------------------------------------------------------------------------------------- */

static cnn_pool_geom geom_of(const cnn_node *n, int batch) {
    const pool_params *p = n->params;
    const cnn_shape *in = &n->in[0]->shape;
    cnn_pool_geom g = {.kind = p->kind, .include_pad = p->count_include_pad, .N = batch,
                       .C = in->dim[0], .H = in->dim[1], .W = in->dim[2],
                       .OH = n->shape.dim[1], .OW = n->shape.dim[2],
                       .KH = p->kernel[0], .KW = p->kernel[1], .SH = p->stride[0],
                       .SW = p->stride[1], .PH = p->padding[0], .PW = p->padding[1]};
    return g;
}

static void pool_forward(cnn_node *n, const cnn_ctx *c) {
    cnn_pool_geom g = geom_of(n, c->batch);
    cnn_pool2d_forward(c, &g, n->in[0]->y, n->y, n->saved);
}

static void pool_backward(cnn_node *n, const cnn_ctx *c) {
    cnn_pool_geom g = geom_of(n, c->batch);
    cnn_pool2d_backward(c, &g, !(c->fresh & 1), n->in[0]->y, n->y, n->dy, n->saved,
                        n->in[0]->dy);
}

/* ---------------------------------------------------------------------------------------------
 * Shapes
 * ------------------------------------------------------------------------------------------- */

/* PyTorch's pooling_output_shape: floor division, so that a negative numerator gives 0 or
 * less (an error for the caller) rather than rounding up to 1. */
static int64_t output_size(int64_t in, int k, int s, int pad, int ceil_mode) {
    int64_t num = in + 2 * (int64_t)pad - k + (ceil_mode ? s - 1 : 0);
    int64_t out = (num >= 0 ? num / s : -((-num + s - 1) / s)) + 1;
    if (ceil_mode && (out - 1) * s >= in + pad) out--;
    return out;
}

static cnn_status pool_setup(cnn_net *net, cnn_node *n, int kind) {
    pool_params *p = n->params;
    const cnn_shape *in = &n->in[0]->shape;
    char sh[64];
    p->kind = kind;
    if (in->rank != 3)
        return cnn_node_error(net, n, CNN_STATUS_SHAPE, "needs an input (C,H,W), got %s from '%s'",
                              cnn_shape_str(in, sh, sizeof sh), n->in[0]->name);
    if (p->kernel[0] < 1 || p->kernel[1] < 1)
        return cnn_node_error(net, n, CNN_STATUS_INVALID_ARGUMENT,
                              "kernel must be at least 1x1, got %dx%d", p->kernel[0],
                              p->kernel[1]);
    if (p->stride[0] < 0 || p->stride[1] < 0)
        return cnn_node_error(net, n, CNN_STATUS_INVALID_ARGUMENT,
                              "stride must be positive (or 0 for the kernel), got %dx%d",
                              p->stride[0], p->stride[1]);
    if (p->padding[0] < 0 || p->padding[1] < 0)
        return cnn_node_error(net, n, CNN_STATUS_INVALID_ARGUMENT,
                              "padding must not be negative, got %dx%d", p->padding[0],
                              p->padding[1]);
    /* Stored back so that the printed arguments show the stride really used. */
    for (int d = 0; d < 2; d++)
        if (p->stride[d] == 0) p->stride[d] = p->kernel[d];
    if (p->padding[0] > p->kernel[0] / 2 || p->padding[1] > p->kernel[1] / 2)
        return cnn_node_error(net, n, CNN_STATUS_INVALID_ARGUMENT,
                              "padding %dx%d is more than half the kernel %dx%d (PyTorch allows "
                              "at most kernel/2 on each side)",
                              p->padding[0], p->padding[1], p->kernel[0], p->kernel[1]);
    int64_t oh = output_size(in->dim[1], p->kernel[0], p->stride[0], p->padding[0],
                             p->ceil_mode);
    int64_t ow = output_size(in->dim[2], p->kernel[1], p->stride[1], p->padding[1],
                             p->ceil_mode);
    if (oh < 1 || ow < 1)
        return cnn_node_error(net, n, CNN_STATUS_SHAPE,
                              "kernel %dx%d is larger than the padded input %lldx%lld%s (input "
                              "%s from '%s', padding %dx%d, stride %dx%d)",
                              p->kernel[0], p->kernel[1],
                              in->dim[1] + 2 * (long long)p->padding[0],
                              in->dim[2] + 2 * (long long)p->padding[1],
                              p->ceil_mode ? " by more than stride - 1, all that ceil_mode allows"
                                           : "",
                              cnn_shape_str(in, sh, sizeof sh), n->in[0]->name, p->padding[0],
                              p->padding[1], p->stride[0], p->stride[1]);
    if (kind == CNN_POOL_MAX && (int64_t)in->dim[1] * in->dim[2] > INT32_MAX)
        return cnn_node_error(net, n, CNN_STATUS_SHAPE,
                              "the input plane %dx%d has more cells than int32 argmax indices "
                              "can address",
                              in->dim[1], in->dim[2]);
    n->shape.rank = 3;
    n->shape.dim[0] = in->dim[0];
    n->shape.dim[1] = (int)oh;
    n->shape.dim[2] = (int)ow;
    return CNN_STATUS_OK;
}

static cnn_status max_setup(cnn_net *net, cnn_node *n) {
    return pool_setup(net, n, CNN_POOL_MAX);
}
static cnn_status avg_setup(cnn_net *net, cnn_node *n) {
    return pool_setup(net, n, CNN_POOL_AVG);
}
static cnn_status l2_setup(cnn_net *net, cnn_node *n) { return pool_setup(net, n, CNN_POOL_L2); }

static size_t max_saved_bytes(const cnn_node *n, int batch) {
    return (size_t)batch * cnn_node_numel(n) * sizeof(int32_t);
}


/* ---------------------------------------------------------------------------------------------
 * For max_unpool2d
 * ------------------------------------------------------------------------------------------- */

extern const cnn_layer_type cnn_layer_max_pool2d;

int cnn_node_is_max_pool2d(const cnn_node *n) { return n->type == &cnn_layer_max_pool2d; }

const int32_t *cnn_max_pool2d_indices(const cnn_node *n, int sample) {
    CNN_ASSERT(cnn_node_is_max_pool2d(n) && n->saved && sample >= 0);
    return (const int32_t *)n->saved + (size_t)sample * cnn_node_numel(n);
}

/* ---------------------------------------------------------------------------------------------
 * The types
 * ------------------------------------------------------------------------------------------- */

#define POOL_COMMON                                                                            \
    .params_size = sizeof(pool_params), .min_inputs = 1, .max_inputs = 1,                     \
    .forward = pool_forward, .backward = pool_backward, .writes_fresh = 1

const cnn_layer_type cnn_layer_max_pool2d = {
    .name = "max_pool2d",
    .doc = "Maximum over each KHxKW window of each channel (PyTorch's MaxPool2d); padded cells "
           "never win. Input (C,H,W), output (C,OH,OW).",
    .fields = max_fields,
    .setup = max_setup,
    .saved_bytes = max_saved_bytes,
    POOL_COMMON};

const cnn_layer_type cnn_layer_avg_pool2d = {
    .name = "avg_pool2d",
    .doc = "Mean over each KHxKW window of each channel (PyTorch's AvgPool2d, with its "
           "divisor rules). Input (C,H,W), output (C,OH,OW).",
    .fields = avg_fields,
    .setup = avg_setup,
    POOL_COMMON};

const cnn_layer_type cnn_layer_l2_pool2d = {
    .name = "l2_pool2d",
    .doc = "Euclidean norm sqrt(sum x^2) over each KHxKW window of each channel (PyTorch's "
           "LPPool2d with norm_type 2). Input (C,H,W), output (C,OH,OW).",
    .fields = l2_fields,
    .setup = l2_setup,
    POOL_COMMON};

/*
 * adaptive_pool.c - adaptive 2-D pooling: PyTorch's AdaptiveAvgPool2d and AdaptiveMaxPool2d,
 * which choose their windows from the input and output sizes. The arithmetic is the pooling
 * kernels' (src/kernels/pool2d.c), with adaptive windows.
 *
 *   x (N, C, H, W) -> y (N, C, OH, OW), OHxOW given (out), every (sample, channel) plane on its
 *   own. The window of output (i, j) covers rows floor(i H / OH) .. ceil((i + 1) H / OH) - 1
 *   and columns floor(j W / OW) .. ceil((j + 1) W / OW) - 1: windows of varying size that
 *   overlap when OH does not divide H, and repeat rows when OH > H.
 *
 *   adaptive_avg_pool2d  y = (sum of x over the window) / (its cell count);
 *                        dx += dy / (the count) over the window
 *   adaptive_max_pool2d  y = max of x over the window; the argmax (h W + w in the plane, the
 *                        first maximum in row-major order, a NaN wins, as PyTorch) is saved
 *                        per output, as max_pool2d's (cnn_net_pool_indices, max_unpool2d);
 *                        dx[argmax] += dy
 *
 * out = 1 is the global pooling kept (C, 1, 1); global_avg_pool gives (C).
 */
#include "pool.h"
#include "../kernels/pool2d.h"

#include <stddef.h>
#include <stdint.h>

typedef struct adaptive_params {
    int out[2];
    int kind; /* set by setup, from the layer type */
} adaptive_params;

static const cnn_field adaptive_fields[] = {
    {"out", CNN_FIELD_INT2, offsetof(adaptive_params, out), NULL, NULL,
     "output size OHxOW (or N for NxN)"},
    {0},
};

static cnn_pool_geom geom_of(const cnn_node *n, int batch) {
    const adaptive_params *p = n->params;
    const cnn_shape *in = &n->in[0]->shape;
    cnn_pool_geom g = {.kind = p->kind, .adaptive = 1, .N = batch, .C = in->dim[0],
                       .H = in->dim[1], .W = in->dim[2], .OH = n->shape.dim[1],
                       .OW = n->shape.dim[2], .DH = 1, .DW = 1};
    return g;
}

static cnn_status adaptive_setup(cnn_net *net, cnn_node *n, int kind) {
    adaptive_params *p = n->params;
    const cnn_shape *in = &n->in[0]->shape;
    char sh[64];
    p->kind = kind;
    if (in->rank != 3)
        return cnn_node_error(net, n, CNN_STATUS_SHAPE, "needs an input (C,H,W), got %s from '%s'",
                              cnn_shape_str(in, sh, sizeof sh), n->in[0]->name);
    if (p->out[0] < 1 || p->out[1] < 1)
        return cnn_node_error(net, n, CNN_STATUS_INVALID_ARGUMENT,
                              "out must be at least 1x1, got %dx%d", p->out[0], p->out[1]);
    if (kind == CNN_POOL_MAX && (int64_t)in->dim[1] * in->dim[2] > INT32_MAX)
        return cnn_node_error(net, n, CNN_STATUS_SHAPE,
                              "the input plane %dx%d has more cells than int32 argmax indices "
                              "can address",
                              in->dim[1], in->dim[2]);
    n->shape.rank = 3;
    n->shape.dim[0] = in->dim[0];
    n->shape.dim[1] = p->out[0];
    n->shape.dim[2] = p->out[1];
    return CNN_STATUS_OK;
}

static cnn_status avg_setup(cnn_net *net, cnn_node *n) {
    return adaptive_setup(net, n, CNN_POOL_AVG);
}
static cnn_status max_setup(cnn_net *net, cnn_node *n) {
    return adaptive_setup(net, n, CNN_POOL_MAX);
}

static void adaptive_forward(cnn_node *n, const cnn_ctx *c) {
    cnn_pool_geom g = geom_of(n, c->batch);
    cnn_pool2d_forward(c, &g, n->in[0]->y, n->y, n->saved ? cnn_pool_argmax_out(n, c) : NULL);
}

static void adaptive_backward(cnn_node *n, const cnn_ctx *c) {
    cnn_pool_geom g = geom_of(n, c->batch);
    const int32_t *arg = n->saved ? cnn_pool_argmax(n, c) : NULL;
    cnn_pool2d_backward(c, &g, !(c->fresh & 1), n->in[0]->y, n->y, n->dy, arg, n->in[0]->dy);
}

#define ADAPTIVE_COMMON                                                                        \
    .params_size = sizeof(adaptive_params), .fields = adaptive_fields, .min_inputs = 1,       \
    .max_inputs = 1, .forward = adaptive_forward, .backward = adaptive_backward,               \
    .writes_fresh = 1

const cnn_layer_type cnn_layer_adaptive_avg_pool2d = {
    .name = "adaptive_avg_pool2d",
    .doc = "Mean over windows chosen to give an OHxOW output (PyTorch's AdaptiveAvgPool2d): "
           "output (i, j) averages rows floor(i H/OH) to ceil((i+1) H/OH) - 1 and the columns "
           "likewise. Input (C,H,W), output (C,OH,OW).",
    .setup = avg_setup,
    ADAPTIVE_COMMON};

const cnn_layer_type cnn_layer_adaptive_max_pool2d = {
    .name = "adaptive_max_pool2d",
    .doc = "Maximum over windows chosen to give an OHxOW output (PyTorch's AdaptiveMaxPool2d), "
           "the windows of adaptive_avg_pool2d. The argmax of each output is kept "
           "(cnn_net_pool_indices, max_unpool2d). Input (C,H,W), output (C,OH,OW).",
    .setup = max_setup,
    .saved_bytes = cnn_pool_argmax_bytes,
    ADAPTIVE_COMMON};

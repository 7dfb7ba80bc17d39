/*
 * max_unpool2d.c - PyTorch's MaxUnpool2d: puts each value back where a max pooling found its
 * maximum, zeros elsewhere (SegNet's decoder). Two forms, told apart by the second input:
 *
 *   pool form     max_unpool2d(x, p), p a max_pool2d or adaptive_max_pool2d layer of output
 *                 (C, OH, OW): the indices are p's saved argmax, and the output is p's input
 *                 shape (C, H, W) (PyTorch's output_size = the pooled input's size). No keys.
 *   indices form  max_unpool2d(x, i), i any other layer of x's shape (typically an input layer
 *                 the caller fills, e.g. with cnn_net_pool_indices of another network, or
 *                 PyTorch's return_indices): its values, floats holding exact integers, are
 *                 the indices. The output size is size=HxW, or else PyTorch's default from
 *                 kernel, stride (0: the kernel) and padding: (OH - 1) SH - 2 PH + KH, likewise
 *                 for W. (ONNX MaxUnpool: its output_shape is size; its default with pads
 *                 [T, L, B, R] is (OH - 1) SH + KH - T - B: give it as size.)
 *
 *   inputs: x (N, C, OH, OW) and indices idx (N, C, OH, OW), flat h W + w in each output
 *   plane (C, H, W):
 *
 *   y (N, C, H, W) = 0, then y[idx[o]] = x[o] for o in scan order;   dx[o] += dy[idx[o]]
 *
 * When several outputs share an index the last write wins, as one write of PyTorch's scatter
 * does, rather than a sum; backward gathers, as PyTorch's does, so every such x[o] receives
 * dy[idx[o]]. No gradient flows to the second input (the pool layer, or the indices: zero). In
 * the indices form an index that is not an integer in [0, H W) fails the forward pass with a
 * message naming it, as PyTorch raises an error (unpool_check). The plane H W is at most
 * 2^24, so that every index is exact as a float.
 */
#include "pool.h"

#include <math.h>
#include <stddef.h>
#include <string.h>

typedef struct unpool_params {
    int size[2];
    int kernel[2], stride[2], padding[2];
    int from_pool; /* set by setup: the second input is a pooling layer */
} unpool_params;

static const cnn_field unpool_fields[] = {
    {"size", CNN_FIELD_INT2, offsetof(unpool_params, size), "0", NULL,
     "indices form: output size HxW (0: from kernel, stride, padding)"},
    {"kernel", CNN_FIELD_INT2, offsetof(unpool_params, kernel), "0", NULL,
     "indices form without size: the pooling's window KHxKW"},
    {"stride", CNN_FIELD_INT2, offsetof(unpool_params, stride), "0", NULL,
     "indices form without size: the pooling's step; 0: the kernel"},
    {"padding", CNN_FIELD_INT2, offsetof(unpool_params, padding), "0", NULL,
     "indices form without size: the pooling's padding on each side"},
    {0},
};

/* Floats hold every integer up to 2^24 exactly. */
#define MAX_FLOAT_INDEX (1 << 24)

static int all_zero(const int v[2]) { return v[0] == 0 && v[1] == 0; }

static cnn_status unpool_setup(cnn_net *net, cnn_node *n) {
    unpool_params *p = n->params;
    const cnn_node *x = n->in[0], *second = n->in[1];
    char sx[64], sp[64];
    p->from_pool = cnn_node_has_argmax(second);
    if (x->shape.rank != 3 || second->shape.rank != 3 ||
        x->shape.dim[0] != second->shape.dim[0] || x->shape.dim[1] != second->shape.dim[1] ||
        x->shape.dim[2] != second->shape.dim[2])
        return cnn_node_error(net, n, CNN_STATUS_SHAPE,
                              "the first input '%s' is %s but the %s '%s' gives %s: they must "
                              "match",
                              x->name, cnn_shape_str(&x->shape, sx, sizeof sx),
                              p->from_pool ? "pooling layer" : "indices layer", second->name,
                              cnn_shape_str(&second->shape, sp, sizeof sp));
    if (p->from_pool) {
        if (!all_zero(p->size) || !all_zero(p->kernel) || !all_zero(p->stride) ||
            !all_zero(p->padding))
            return cnn_node_error(net, n, CNN_STATUS_INVALID_ARGUMENT,
                                  "the second input '%s' is a %s layer, whose input gives the "
                                  "output size: size, kernel, stride and padding are for "
                                  "indices from a layer that is not a max pooling",
                                  second->name, second->type->name);
        n->shape = second->in[0]->shape;
        cnn_pool_argmax_read(n->in[1]); /* kept in evaluation passes too */
        return CNN_STATUS_OK;
    }
    int out[2];
    if (!all_zero(p->size)) {
        if (p->size[0] < 1 || p->size[1] < 1)
            return cnn_node_error(net, n, CNN_STATUS_INVALID_ARGUMENT,
                                  "size must be at least 1x1, got %dx%d", p->size[0],
                                  p->size[1]);
        if (!all_zero(p->kernel) || !all_zero(p->stride) || !all_zero(p->padding))
            return cnn_node_error(net, n, CNN_STATUS_INVALID_ARGUMENT,
                                  "give either size or kernel (with stride, padding), not both");
        out[0] = p->size[0];
        out[1] = p->size[1];
    } else {
        if (p->kernel[0] < 1 || p->kernel[1] < 1)
            return cnn_node_error(net, n, CNN_STATUS_INVALID_ARGUMENT,
                                  "the second input '%s' is a %s layer, not a max pooling, so "
                                  "its values are the indices: the output size needs size=HxW "
                                  "or kernel (with stride, padding), got kernel %dx%d",
                                  second->name, second->type->name, p->kernel[0], p->kernel[1]);
        if (p->stride[0] < 0 || p->stride[1] < 0 || p->padding[0] < 0 || p->padding[1] < 0)
            return cnn_node_error(net, n, CNN_STATUS_INVALID_ARGUMENT,
                                  "stride %dx%d and padding %dx%d must not be negative",
                                  p->stride[0], p->stride[1], p->padding[0], p->padding[1]);
        /* Stored back so that the printed arguments show the stride really used. */
        for (int d = 0; d < 2; d++)
            if (p->stride[d] == 0) p->stride[d] = p->kernel[d];
        for (int d = 0; d < 2; d++) {
            long long o = ((long long)x->shape.dim[1 + d] - 1) * p->stride[d] -
                          2LL * p->padding[d] + p->kernel[d];
            if (o < 1 || o > MAX_FLOAT_INDEX)
                return cnn_node_error(net, n, CNN_STATUS_SHAPE,
                                      "output size %lld along %s from input %d, kernel %d, "
                                      "stride %d, padding %d: (in - 1) stride - 2 padding + "
                                      "kernel must be in 1..%d",
                                      o, d ? "the width" : "the height", x->shape.dim[1 + d],
                                      p->kernel[d], p->stride[d], p->padding[d],
                                      MAX_FLOAT_INDEX);
            out[d] = (int)o;
        }
    }
    if ((long long)out[0] * out[1] > MAX_FLOAT_INDEX)
        return cnn_node_error(net, n, CNN_STATUS_SHAPE,
                              "the output plane %dx%d has more cells than float indices can "
                              "address exactly (%d)",
                              out[0], out[1], MAX_FLOAT_INDEX);
    n->shape.rank = 3;
    n->shape.dim[0] = x->shape.dim[0];
    n->shape.dim[1] = out[0];
    n->shape.dim[2] = out[1];
    return CNN_STATUS_OK;
}

/* Index o of a plane of float indices, or -1 when it is not an integer in [0, size). */
static inline long long float_index(const float *idx, size_t o, size_t size) {
    float v = idx[o];
    if (!(v >= 0.0f && v < (float)size) || v != floorf(v)) return -1;
    return (long long)v;
}

/* The indices form: every index must be an integer in the output plane, as PyTorch requires;
 * a bad one is an error naming where it is, never a value silently dropped. */
static cnn_status unpool_check(cnn_net *net, const cnn_node *n, int batch) {
    const unpool_params *p = n->params;
    if (p->from_pool) return CNN_STATUS_OK;
    const cnn_node *second = n->in[1];
    int C = n->shape.dim[0];
    size_t x_plane = cnn_node_numel(second) / (size_t)C;
    size_t y_plane = (size_t)n->shape.dim[1] * n->shape.dim[2];
    for (size_t o = 0; o < (size_t)batch * C * x_plane; o++)
        if (float_index(second->y, o, y_plane) < 0)
            return cnn_node_error(net, n, CNN_STATUS_INVALID_ARGUMENT,
                                  "index %g from '%s' (sample %zu, channel %zu, position %zu) "
                                  "is not an integer in [0, %zu), the output plane %dx%d",
                                  (double)second->y[o], second->name, o / (C * x_plane),
                                  o / x_plane % C, o % x_plane, y_plane, n->shape.dim[1],
                                  n->shape.dim[2]);
    return CNN_STATUS_OK;
}

/* Each (sample, channel) plane is one task writing its own output and gradient plane, so
 * threads change nothing in the results. */
typedef struct unpool_job {
    cnn_node *n;
    const int32_t *arg; /* the pooling's argmax (pool form) */
} unpool_job;

static unpool_job job_of(cnn_node *n, const cnn_ctx *c) {
    const unpool_params *p = n->params;
    return (unpool_job){n, p->from_pool ? cnn_pool_argmax(n->in[1], c) : NULL};
}

static void unpool_forward_range(void *arg, long begin, long end, int worker) {
    const unpool_job *j = arg;
    cnn_node *n = j->n;
    const unpool_params *p = n->params;
    const cnn_node *second = n->in[1];
    int C = n->shape.dim[0];
    size_t x_plane = cnn_node_numel(second) / (size_t)C;
    size_t y_plane = (size_t)n->shape.dim[1] * n->shape.dim[2];
    const float *x = n->in[0]->y;
    for (ptrdiff_t q = begin; q < end; q++) {
        const float *xp = x + (size_t)q * x_plane;
        float *yp = n->y + (size_t)q * y_plane;
        memset(yp, 0, y_plane * sizeof *yp);
        if (p->from_pool) {
            const int32_t *idx = j->arg + (size_t)q * x_plane;
            for (size_t o = 0; o < x_plane; o++) yp[idx[o]] = xp[o];
        } else {
            const float *idx = second->y + (size_t)q * x_plane;
            for (size_t o = 0; o < x_plane; o++) {
                long long i = float_index(idx, o, y_plane);
                if (i >= 0) yp[i] = xp[o];
            }
        }
    }
}

static void unpool_forward(cnn_node *n, const cnn_ctx *c) {
    unpool_job j = job_of(n, c);
    cnn_parallel_for(c->workers, c->threads, (long)c->batch * n->shape.dim[0],
                     unpool_forward_range, &j);
}

static void unpool_backward_range(void *arg, long begin, long end, int worker) {
    const unpool_job *j = arg;
    cnn_node *n = j->n;
    const unpool_params *p = n->params;
    const cnn_node *second = n->in[1];
    int C = n->shape.dim[0];
    size_t x_plane = cnn_node_numel(second) / (size_t)C;
    size_t y_plane = (size_t)n->shape.dim[1] * n->shape.dim[2];
    float *dx = n->in[0]->dy;
    for (ptrdiff_t q = begin; q < end; q++) {
        const float *dyp = n->dy + (size_t)q * y_plane;
        float *dxp = dx + (size_t)q * x_plane;
        if (p->from_pool) {
            const int32_t *idx = j->arg + (size_t)q * x_plane;
            for (size_t o = 0; o < x_plane; o++) dxp[o] += dyp[idx[o]];
        } else {
            const float *idx = second->y + (size_t)q * x_plane;
            for (size_t o = 0; o < x_plane; o++) {
                long long i = float_index(idx, o, y_plane);
                if (i >= 0) dxp[o] += dyp[i];
            }
        }
    }
}

static void unpool_backward(cnn_node *n, const cnn_ctx *c) {
    unpool_job j = job_of(n, c);
    cnn_parallel_for(c->workers, c->threads, (long)c->batch * n->shape.dim[0],
                     unpool_backward_range, &j);
}

const cnn_layer_type cnn_layer_max_unpool2d = {
    .name = "max_unpool2d",
    .doc = "Inverse of max pooling (PyTorch's MaxUnpool2d): inputs x (C,OH,OW) and either a "
           "max_pool2d or adaptive_max_pool2d layer with that output shape (its saved argmax; "
           "output: that layer's input shape) or a layer of x's shape holding indices h*W+w "
           "as floats, as PyTorch's return_indices (output: size, or PyTorch's default from "
           "kernel, stride, padding). Each value goes to its index, zeros elsewhere.",
    .params_size = sizeof(unpool_params),
    .fields = unpool_fields,
    .min_inputs = 2,
    .max_inputs = 2,
    .setup = unpool_setup,
    .check = unpool_check,
    .forward = unpool_forward,
    .backward = unpool_backward,
};

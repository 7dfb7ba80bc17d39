/*
 * max_unpool2d.c - PyTorch's MaxUnpool2d with output_size = the pooled input's size: puts each
 * value back where a max_pool2d layer found its maximum (SegNet's decoder).
 *
 *   inputs: x (N, C, OH, OW), typically a decoder feature map, and a max_pool2d layer whose
 *   output is (C, OH, OW) and whose input is (C, H, W). With idx that layer's saved argmax
 *   (flat h W + w in each plane):
 *
 *   y (N, C, H, W) = 0, then y[idx[o]] = x[o] for o in scan order;   dx[o] += dy[idx[o]]
 *
 * When overlapping windows share an argmax the last write wins, as one write of PyTorch's
 * scatter does, rather than a sum; backward gathers, as PyTorch's does, so every such x[o]
 * receives dy[idx[o]]. No gradient flows to the max_pool2d input: it only lends its indices.
 */
#include "pool.h"

#include <stddef.h>
#include <string.h>

static const cnn_field unpool_fields[] = {{0}};

static cnn_status unpool_setup(cnn_net *net, cnn_node *n) {
    const cnn_node *x = n->in[0], *pool = n->in[1];
    char sx[64], sp[64];
    if (!cnn_node_is_max_pool2d(pool))
        return cnn_node_error(net, n, CNN_STATUS_INVALID_ARGUMENT,
                              "the second input '%s' is a %s layer, not the max_pool2d layer "
                              "whose indices place the values of '%s'",
                              pool->name, pool->type->name, x->name);
    if (x->shape.rank != 3 || x->shape.dim[0] != pool->shape.dim[0] ||
        x->shape.dim[1] != pool->shape.dim[1] || x->shape.dim[2] != pool->shape.dim[2])
        return cnn_node_error(net, n, CNN_STATUS_SHAPE,
                              "the first input '%s' is %s but the max_pool2d layer '%s' gives %s: "
                              "they must match",
                              x->name, cnn_shape_str(&x->shape, sx, sizeof sx), pool->name,
                              cnn_shape_str(&pool->shape, sp, sizeof sp));
    n->shape = pool->in[0]->shape;
    return CNN_STATUS_OK;
}

/* Each (sample, channel) plane is one task writing its own output and gradient plane, so
 * threads change nothing in the results. */
static void unpool_forward(cnn_node *n, const cnn_ctx *c) {
    const cnn_node *pool = n->in[1];
    int C = n->shape.dim[0];
    ptrdiff_t planes = (ptrdiff_t)c->batch * C;
    size_t x_plane = cnn_node_numel(pool) / (size_t)C;
    size_t y_plane = (size_t)n->shape.dim[1] * n->shape.dim[2];
    const float *x = n->in[0]->y;
#pragma omp parallel for num_threads(c->threads) schedule(static)
    for (ptrdiff_t p = 0; p < planes; p++) {
        const int32_t *idx = cnn_max_pool2d_indices(pool, (int)(p / C)) + (size_t)(p % C) * x_plane;
        const float *xp = x + (size_t)p * x_plane;
        float *yp = n->y + (size_t)p * y_plane;
        memset(yp, 0, y_plane * sizeof *yp);
        for (size_t o = 0; o < x_plane; o++) yp[idx[o]] = xp[o];
    }
}

static void unpool_backward(cnn_node *n, const cnn_ctx *c) {
    const cnn_node *pool = n->in[1];
    int C = n->shape.dim[0];
    ptrdiff_t planes = (ptrdiff_t)c->batch * C;
    size_t x_plane = cnn_node_numel(pool) / (size_t)C;
    size_t y_plane = (size_t)n->shape.dim[1] * n->shape.dim[2];
    float *dx = n->in[0]->dy;
#pragma omp parallel for num_threads(c->threads) schedule(static)
    for (ptrdiff_t p = 0; p < planes; p++) {
        const int32_t *idx = cnn_max_pool2d_indices(pool, (int)(p / C)) + (size_t)(p % C) * x_plane;
        const float *dyp = n->dy + (size_t)p * y_plane;
        float *dxp = dx + (size_t)p * x_plane;
        for (size_t o = 0; o < x_plane; o++) dxp[o] += dyp[idx[o]];
    }
}

const cnn_layer_type cnn_layer_max_unpool2d = {
    .name = "max_unpool2d",
    .doc = "Inverse of max_pool2d (PyTorch's MaxUnpool2d): inputs x (C,OH,OW) and a max_pool2d "
           "layer with that output shape; each value goes to where that layer found its "
           "maximum, zeros elsewhere. Output: the max_pool2d layer's input shape (C,H,W).",
    .fields = unpool_fields,
    .min_inputs = 2,
    .max_inputs = 2,
    .setup = unpool_setup,
    .forward = unpool_forward,
    .backward = unpool_backward,
};

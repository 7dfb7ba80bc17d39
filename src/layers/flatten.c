/*
 * flatten.c - (C, H, W) or (C, L) to (C*H*W): a copy, as NCHW order is already flat per sample.
 */
#include "../core/internal.h"

#include <string.h>

static const cnn_field flatten_fields[] = {{0}};

static cnn_status flatten_setup(cnn_net *net, cnn_node *n) {
    (void)net;
    n->shape.rank = 1;
    n->shape.dim[0] = (int)cnn_node_numel(n->in[0]);
    return CNN_STATUS_OK;
}

static void flatten_forward(cnn_node *n, const cnn_ctx *c) {
    memcpy(n->y, n->in[0]->y, (size_t)c->batch * cnn_node_numel(n) * sizeof(float));
}

static void flatten_backward(cnn_node *n, const cnn_ctx *c) {
    size_t total = (size_t)c->batch * cnn_node_numel(n);
    float *restrict dx = n->in[0]->dy;
    const float *restrict dy = n->dy;
    if (c->fresh & 1) {
        memcpy(dx, dy, total * sizeof *dx);
        return;
    }
#pragma omp simd
    for (size_t i = 0; i < total; i++) dx[i] += dy[i];
}

const cnn_layer_type cnn_layer_flatten = {
    .name = "flatten",
    .doc = "Flattens each sample to a vector (C*H*W), as before a dense layer.",
    .fields = flatten_fields,
    .min_inputs = 1,
    .max_inputs = 1,
    .setup = flatten_setup,
    .forward = flatten_forward,
    .backward = flatten_backward,
    .writes_fresh = 1,
};

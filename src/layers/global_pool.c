/*
 * global_pool.c - pooling over the whole of each channel: PyTorch's AdaptiveAvgPool2d(1) and
 * AdaptiveMaxPool2d(1) followed by a flatten (or their 1-d versions).
 *
 *   x (N, C, H, W) or (N, C, L) -> y (N, C), flat so that a dense layer can follow. With P the
 *   cells of a plane (H W or L):
 *
 *   global_avg_pool  y = (1/P) sum_p x_p;     dx_p += dy / P
 *   global_max_pool  y = max_p x_p, the argmax (the first maximum, a NaN wins as in PyTorch)
 *                    saved per (sample, channel);  dx[argmax] += dy
 */
#include "../core/internal.h"

#include <math.h>
#include <stddef.h>
#include <stdint.h>

enum { GLOBAL_AVG, GLOBAL_MAX };

typedef struct global_params {
    int kind; /* set by setup, from the layer type */
} global_params;

static const cnn_field global_fields[] = {{0}};

static cnn_status global_setup(cnn_net *net, cnn_node *n, int kind) {
    const cnn_shape *in = &n->in[0]->shape;
    char sh[64];
    ((global_params *)n->params)->kind = kind;
    if (in->rank != 2 && in->rank != 3)
        return cnn_node_error(net, n, CNN_STATUS_SHAPE,
                              "needs an input (C,H,W) or (C,L), got %s from '%s'",
                              cnn_shape_str(in, sh, sizeof sh), n->in[0]->name);
    if (kind == GLOBAL_MAX && cnn_node_numel(n->in[0]) / (size_t)in->dim[0] > INT32_MAX)
        return cnn_node_error(net, n, CNN_STATUS_SHAPE,
                              "the input planes of %s have more cells than int32 argmax "
                              "indices can address",
                              cnn_shape_str(in, sh, sizeof sh));
    n->shape.rank = 1;
    n->shape.dim[0] = in->dim[0];
    return CNN_STATUS_OK;
}

static cnn_status avg_setup(cnn_net *net, cnn_node *n) { return global_setup(net, n, GLOBAL_AVG); }
static cnn_status max_setup(cnn_net *net, cnn_node *n) { return global_setup(net, n, GLOBAL_MAX); }

static size_t max_saved_bytes(const cnn_node *n, int batch) {
    return (size_t)batch * cnn_node_numel(n) * sizeof(int32_t);
}

/* Every (sample, channel) plane is one task writing its own output and gradient plane, so
 * threads change nothing in the results. */
static void global_forward_range(void *job, long begin, long end, int worker) {
    cnn_node *n = job;
    int kind = ((const global_params *)n->params)->kind;
    size_t P = cnn_node_numel(n->in[0]) / (size_t)n->shape.dim[0];
    const float *x = n->in[0]->y;
    int32_t *arg = n->saved;
    for (ptrdiff_t p = begin; p < end; p++) {
        const float *xp = x + (size_t)p * P;
        if (kind == GLOBAL_MAX) {
            float m = -INFINITY;
            int32_t best = 0;
            for (size_t i = 0; i < P; i++)
                if (xp[i] > m || isnan(xp[i])) {
                    m = xp[i];
                    best = (int32_t)i;
                }
            n->y[p] = m;
            arg[p] = best;
        } else {
            /* Double: a plane can hold thousands of cells, where a float sum drifts. */
            double sum = 0.0;
            for (size_t i = 0; i < P; i++) sum += xp[i];
            n->y[p] = (float)(sum / (double)P);
        }
    }
}

static void global_forward(cnn_node *n, const cnn_ctx *c) {
    cnn_parallel_for(c->workers, c->threads, (long)c->batch * n->shape.dim[0], global_forward_range,
                     n);
}

static void global_backward_range(void *job, long begin, long end, int worker) {
    cnn_node *n = job;
    int kind = ((const global_params *)n->params)->kind;
    size_t P = cnn_node_numel(n->in[0]) / (size_t)n->shape.dim[0];
    float *dx = n->in[0]->dy;
    const int32_t *arg = n->saved;
    for (ptrdiff_t p = begin; p < end; p++) {
        float *dxp = dx + (size_t)p * P;
        if (kind == GLOBAL_MAX) {
            dxp[arg[p]] += n->dy[p];
        } else {
            float g = n->dy[p] / (float)P;
            for (size_t i = 0; i < P; i++) dxp[i] += g;
        }
    }
}

static void global_backward(cnn_node *n, const cnn_ctx *c) {
    cnn_parallel_for(c->workers, c->threads, (long)c->batch * n->shape.dim[0],
                     global_backward_range, n);
}

#define GLOBAL_COMMON                                                                          \
    .params_size = sizeof(global_params), .fields = global_fields, .min_inputs = 1,           \
    .max_inputs = 1, .forward = global_forward, .backward = global_backward

const cnn_layer_type cnn_layer_global_avg_pool = {
    .name = "global_avg_pool",
    .doc = "Mean of each channel: (C,H,W) or (C,L) to (C), ready for a dense layer.",
    .setup = avg_setup,
    GLOBAL_COMMON};

const cnn_layer_type cnn_layer_global_max_pool = {
    .name = "global_max_pool",
    .doc = "Maximum of each channel: (C,H,W) or (C,L) to (C), ready for a dense layer.",
    .setup = max_setup,
    .saved_bytes = max_saved_bytes,
    GLOBAL_COMMON};

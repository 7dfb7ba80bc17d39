/*
 * upsample.c - nearest-neighbour upsampling by integer factors, PyTorch's
 * nn.Upsample(scale_factor=(SH, SW), mode='nearest').
 *
 *   x (N, C, H, W):  y (N, C, H*SH, W*SW),  y[n, c, h, w] = x[n, c, h / SH, w / SW]
 *   x (N, C, L):     y (N, C, L*SW),        y[n, c, l] = x[n, c, l / SW]
 *   dx[n, c, h, w] += sum of dy over the SH x SW block that copied x[n, c, h, w]
 *
 * scale = SHxSW ("2" means 2x2). A 1-D input has one spatial axis, which takes the width
 * factor SW, so "scale=3" triples L; the height factor must then be 1 or equal to SW, as
 * anything else would be a factor that applies to nothing. Planes (n, c) are independent and
 * spread over the threads.
 */
#include "../core/internal.h"

#include <limits.h>
#include <string.h>

typedef struct upsample_params {
    int scale[2]; /* SH, SW */
} upsample_params;

static const cnn_field upsample_fields[] = {
    {"scale", CNN_FIELD_INT2, offsetof(upsample_params, scale), "2", NULL,
     "integer factors SHxSW; a (C, L) input uses SW"},
    {0},
};

/* The input as planes of H x W, and the factors: a (C, L) input is H = 1, W = L, SH = 1. */
typedef struct upsample_geom {
    int C, H, W, sh, sw;
} upsample_geom;

static upsample_geom geometry(const cnn_node *n) {
    const upsample_params *p = n->params;
    const cnn_shape *in = &n->in[0]->shape;
    upsample_geom g = {.C = in->dim[0], .sw = p->scale[1]};
    if (in->rank == 3) {
        g.H = in->dim[1];
        g.W = in->dim[2];
        g.sh = p->scale[0];
    } else {
        g.H = 1;
        g.W = in->dim[1];
        g.sh = 1;
    }
    return g;
}

static cnn_status upsample_setup(cnn_net *net, cnn_node *n) {
    const upsample_params *p = n->params;
    const cnn_shape *in = &n->in[0]->shape;
    char sh[64];
    if (in->rank != 2 && in->rank != 3)
        return cnn_node_error(net, n, CNN_STATUS_SHAPE,
                              "needs an input (C, L) or (C, H, W), got %s from '%s'",
                              cnn_shape_str(in, sh, sizeof sh), n->in[0]->name);
    if (p->scale[0] < 1 || p->scale[1] < 1)
        return cnn_node_error(net, n, CNN_STATUS_INVALID_ARGUMENT,
                              "scale must be at least 1, got %dx%d", p->scale[0], p->scale[1]);
    if (in->rank == 2 && p->scale[0] != 1 && p->scale[0] != p->scale[1])
        return cnn_node_error(net, n, CNN_STATUS_INVALID_ARGUMENT,
                              "scale %dx%d for the (C, L) input %s from '%s': a 1-D input "
                              "takes one factor, give scale=%d or scale=1x%d",
                              p->scale[0], p->scale[1], cnn_shape_str(in, sh, sizeof sh),
                              n->in[0]->name, p->scale[1], p->scale[1]);
    upsample_geom g = geometry(n);
    if ((long long)g.H * g.sh > INT_MAX || (long long)g.W * g.sw > INT_MAX)
        return cnn_node_error(net, n, CNN_STATUS_SHAPE,
                              "scale %dx%d makes the input %s from '%s' too large",
                              p->scale[0], p->scale[1], cnn_shape_str(in, sh, sizeof sh),
                              n->in[0]->name);
    n->shape = *in;
    if (in->rank == 3) {
        n->shape.dim[1] = g.H * g.sh;
        n->shape.dim[2] = g.W * g.sw;
    } else {
        n->shape.dim[1] = g.W * g.sw;
    }
    return CNN_STATUS_OK;
}

/* Planes [begin, end) of the forward pass. */
static void upsample_forward_range(void *arg, long begin, long end, int worker) {
    const cnn_node *n = arg;
    upsample_geom g = geometry(n);
    size_t OW = (size_t)g.W * g.sw, in_plane = (size_t)g.H * g.W;
    size_t out_plane = (size_t)g.sh * g.H * OW;
    for (ptrdiff_t pl = begin; pl < end; pl++) {
        const float *x = n->in[0]->y + (size_t)pl * in_plane;
        float *y = n->y + (size_t)pl * out_plane;
        for (int h = 0; h < g.H; h++) {
            /* One output row, then copies of it for the rest of the block's rows. */
            float *row = y + (size_t)h * g.sh * OW;
            const float *xr = x + (size_t)h * g.W;
            for (int w = 0; w < g.W; w++)
                for (int j = 0; j < g.sw; j++) row[(size_t)w * g.sw + j] = xr[w];
            for (int i = 1; i < g.sh; i++) memcpy(row + (size_t)i * OW, row, OW * sizeof *row);
        }
    }
}

static void upsample_forward(cnn_node *n, const cnn_ctx *c) {
    cnn_parallel_for(c->workers, c->threads, (long)c->batch * geometry(n).C, upsample_forward_range,
                     n);
}

/* Planes [begin, end) of the backward pass. */
static void upsample_backward_range(void *arg, long begin, long end, int worker) {
    const cnn_node *n = arg;
    upsample_geom g = geometry(n);
    size_t OW = (size_t)g.W * g.sw, in_plane = (size_t)g.H * g.W;
    size_t out_plane = (size_t)g.sh * g.H * OW;
    for (ptrdiff_t pl = begin; pl < end; pl++) {
        float *dx = n->in[0]->dy + (size_t)pl * in_plane;
        const float *dy = n->dy + (size_t)pl * out_plane;
        for (int h = 0; h < g.H; h++)
            for (int w = 0; w < g.W; w++) {
                const float *block = dy + (size_t)h * g.sh * OW + (size_t)w * g.sw;
                float s = 0.0f;
                for (int i = 0; i < g.sh; i++)
                    for (int j = 0; j < g.sw; j++) s += block[(size_t)i * OW + j];
                dx[(size_t)h * g.W + w] += s;
            }
    }
}

static void upsample_backward(cnn_node *n, const cnn_ctx *c) {
    cnn_parallel_for(c->workers, c->threads, (long)c->batch * geometry(n).C,
                     upsample_backward_range, n);
}

const cnn_layer_type cnn_layer_upsample = {
    .name = "upsample",
    .doc = "Nearest-neighbour upsampling by integer factors: each element becomes an SHxSW "
           "block; a (C, L) input is stretched by SW.",
    .params_size = sizeof(upsample_params),
    .fields = upsample_fields,
    .min_inputs = 1,
    .max_inputs = 1,
    .setup = upsample_setup,
    .forward = upsample_forward,
    .backward = upsample_backward,
};

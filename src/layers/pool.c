/*
 * pool.c - 2-D pooling: PyTorch's MaxPool2d, AvgPool2d and LPPool2d with norm_type 2. The three
 * share one parameter struct; their arithmetic is in src/kernels/pool2d.c.
 *
 *   x (N, C, H, W) -> y (N, C, OH, OW), every (sample, channel) plane on its own.
 *   OH = floor((H + PT + PB - DH (KH - 1) - 1) / SH) + 1; in ceil_mode ceil(...) + 1, less one
 *   when the last window would start at row H + PT or beyond (PyTorch's
 *   pooling_output_shape_pad_lr: every window starts inside the input or the padding before
 *   it). OW likewise with W, PL, PR, KW, SW, DW.
 *   The window of output (oh, ow) holds the taps at rows oh SH - PT + u DH (u < KH) and
 *   columns ow SW - PL + v DW (v < KW).
 *
 *   max_pool2d  y = max of x over the window; padded cells are -infinity, so never the max.
 *               The argmax (h W + w in the input plane, the first maximum in row-major order,
 *               a NaN wins as in PyTorch) is saved per output; backward: dx[argmax] += dy.
 *               cnn_net_pool_indices gives it to callers (PyTorch's return_indices). An
 *               evaluation pass computes the values alone unless a later layer reads the
 *               argmax (max_unpool2d); a backward pass or a caller asking for it then has the
 *               forward pass run again with it (pool.h, cnn_pool_argmax).
 *   avg_pool2d  y = (sum of x over the window) / D; backward: dx += dy / D over the window.
 *               count_include_pad: D counts the window's cells inside the padded input
 *               (-PT .. H + PB - 1 by -PL .. W + PR - 1; a ceil_mode window may reach beyond
 *               it); otherwise D counts its cells inside the input.
 *   l2_pool2d   y = sqrt(sum of x^2 over the window); backward: dx += dy x / y, 0 where y = 0.
 *               No padding and no ceil_mode, as PyTorch's LPPool2d.
 *
 * padding: P or PHxPW on each side (PyTorch's padding), or before:after per axis, "PT:PBxPL:PR"
 * (ONNX's pads [PT, PL, PB, PR]), the same as PyTorch's F.pad(x, (PL, PR, PT, PB)) before a
 * pooling without padding, with -infinity for max_pool2d and zeros for avg_pool2d with
 * count_include_pad, and, without it, zeros left out of the divisor. (Except in ceil_mode:
 * there the windows may start in the padding before the input, not in the padding after it,
 * as PyTorch's own padding rules; F.pad's padding is all input to the pooling after it.)
 * dilation (max_pool2d only): the spacing of the window's taps, PyTorch's MaxPool2d dilation.
 *
 * Hyper-parameters as PyTorch checks them: kernel >= 1, stride >= 1 (0 stands for the kernel),
 * dilation >= 1, 0 <= padding <= kernel / 2 on every side, and OH, OW >= 1: the dilated kernel
 * no larger than the padded input, or in ceil_mode larger by at most stride - 1. Every window
 * then starts before row H, and at row -PT or later, so that it ends after row 0 (KH > PT):
 * without dilation it holds at least one input cell. A dilated window can step over the whole
 * input (taps at rows -1 and 2 of a 2-row input): that is refused here, where PyTorch would
 * return -infinity with an index outside the window.
 */
#include "pool.h"
#include "../kernels/pool2d.h"

#include <stddef.h>
#include <stdint.h>

typedef struct pool_params {
    int kernel[2], stride[2];
    cnn_pad padding;
    int dilation[2]; /* max_pool2d's key; 1 for the others */
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
    {"padding", CNN_FIELD_PAD, offsetof(pool_params, padding), "0", NULL,                    \
     "implicit padding, at most half the kernel on each side: P or PHxPW on each side, or "    \
     "before:after per axis, T:BxL:R (ONNX pads [T, L, B, R]; F.pad then the pooling)"}
#define FIELD_CEIL_MODE                                                                        \
    {"ceil_mode", CNN_FIELD_BOOL, offsetof(pool_params, ceil_mode), "0", NULL,               \
     "round the output size up (a last, partial window)"}

static const cnn_field max_fields[] = {
    FIELD_KERNEL,
    FIELD_STRIDE,
    FIELD_PADDING,
    {"dilation", CNN_FIELD_INT2, offsetof(pool_params, dilation), "1", NULL,
     "spacing of the window's taps, D or DHxDW"},
    FIELD_CEIL_MODE,
    {0},
};
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
                       .SW = p->stride[1], .PT = p->padding.top, .PB = p->padding.bottom,
                       .PL = p->padding.left, .PR = p->padding.right, .DH = p->dilation[0],
                       .DW = p->dilation[1]};
    return g;
}

static void pool_forward(cnn_node *n, const cnn_ctx *c) {
    cnn_pool_geom g = geom_of(n, c->batch);
    cnn_pool2d_forward(c, &g, n->in[0]->y, n->y, n->saved ? cnn_pool_argmax_out(n, c) : NULL);
}

static void pool_backward(cnn_node *n, const cnn_ctx *c) {
    cnn_pool_geom g = geom_of(n, c->batch);
    const int32_t *arg = n->saved ? cnn_pool_argmax(n, c) : NULL;
    cnn_pool2d_backward(c, &g, !(c->fresh & 1), n->in[0]->y, n->y, n->dy, arg, n->in[0]->dy);
}

/* ---------------------------------------------------------------------------------------------
 * Shapes
 * ------------------------------------------------------------------------------------------- */

/* PyTorch's pooling_output_shape_pad_lr: floor division, so that a negative numerator gives
 * 0 or less (an error for the caller) rather than rounding up to 1. */
static int64_t output_size(int64_t in, int k, int s, int pad_before, int pad_after, int d,
                           int ceil_mode) {
    int64_t num = in + pad_before + pad_after - (int64_t)d * (k - 1) - 1 + (ceil_mode ? s - 1 : 0);
    int64_t out = (num >= 0 ? num / s : -((-num + s - 1) / s)) + 1;
    if (ceil_mode && (out - 1) * s >= in + pad_before) out--;
    return out;
}

/* The first output along an axis whose window has no tap inside the input, or -1. Only a
 * dilated window can step over the whole input. */
static int64_t empty_window(int64_t in, int k, int s, int pad_before, int d, int64_t out) {
    for (int64_t i = 0; d > 1 && i < out; i++) {
        int64_t start = i * s - pad_before, last = start + (int64_t)(k - 1) * d;
        int64_t first = start >= 0 ? start : start + (-start + d - 1) / d * d;
        if (first > last || first >= in) return i;
    }
    return -1;
}

/* The padding as the text gives it ("1", "1x2", "0:1x1"), for messages. */
static const char *pad_str(const cnn_pad *p, char *buf, size_t size) {
    if (p->top == p->bottom && p->left == p->right)
        snprintf(buf, size, "%dx%d", p->top, p->left);
    else
        snprintf(buf, size, "%d:%dx%d:%d", p->top, p->bottom, p->left, p->right);
    return buf;
}

static cnn_status pool_setup(cnn_net *net, cnn_node *n, int kind) {
    pool_params *p = n->params;
    const cnn_shape *in = &n->in[0]->shape;
    char sh[64], ps[64];
    p->kind = kind;
    if (kind != CNN_POOL_MAX) p->dilation[0] = p->dilation[1] = 1;
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
    if (p->dilation[0] < 1 || p->dilation[1] < 1)
        return cnn_node_error(net, n, CNN_STATUS_INVALID_ARGUMENT,
                              "dilation must be positive, got %dx%d", p->dilation[0],
                              p->dilation[1]);
    if (p->padding.mode == CNN_PAD_SAME || p->padding.mode == CNN_PAD_CAUSAL)
        return cnn_node_error(net, n, CNN_STATUS_INVALID_ARGUMENT,
                              "padding=%s is for convolutions: pooling takes P, PHxPW, T:BxL:R "
                              "or valid",
                              p->padding.mode == CNN_PAD_SAME ? "same" : "causal");
    /* Stored back so that the printed arguments show the stride really used. */
    for (int d = 0; d < 2; d++)
        if (p->stride[d] == 0) p->stride[d] = p->kernel[d];
    const cnn_pad *pad = &p->padding; /* valid: all zeros */
    if (pad->top > p->kernel[0] / 2 || pad->bottom > p->kernel[0] / 2 ||
        pad->left > p->kernel[1] / 2 || pad->right > p->kernel[1] / 2)
        return cnn_node_error(net, n, CNN_STATUS_INVALID_ARGUMENT,
                              "padding %s is more than half the kernel %dx%d (PyTorch allows "
                              "at most kernel/2 on each side)",
                              pad_str(pad, ps, sizeof ps), p->kernel[0], p->kernel[1]);
    int64_t oh = output_size(in->dim[1], p->kernel[0], p->stride[0], pad->top, pad->bottom,
                             p->dilation[0], p->ceil_mode);
    int64_t ow = output_size(in->dim[2], p->kernel[1], p->stride[1], pad->left, pad->right,
                             p->dilation[1], p->ceil_mode);
    if (oh < 1 || ow < 1)
        return cnn_node_error(net, n, CNN_STATUS_SHAPE,
                              "kernel %dx%d%s is larger than the padded input %lldx%lld%s "
                              "(input %s from '%s', padding %s, stride %dx%d)",
                              p->kernel[0], p->kernel[1],
                              p->dilation[0] > 1 || p->dilation[1] > 1 ? " (dilated)" : "",
                              in->dim[1] + (long long)pad->top + pad->bottom,
                              in->dim[2] + (long long)pad->left + pad->right,
                              p->ceil_mode ? " by more than stride - 1, all that ceil_mode allows"
                                           : "",
                              cnn_shape_str(in, sh, sizeof sh), n->in[0]->name,
                              pad_str(pad, ps, sizeof ps), p->stride[0], p->stride[1]);
    int64_t eh = empty_window(in->dim[1], p->kernel[0], p->stride[0], pad->top, p->dilation[0],
                              oh);
    int64_t ew = empty_window(in->dim[2], p->kernel[1], p->stride[1], pad->left,
                              p->dilation[1], ow);
    if (eh >= 0 || ew >= 0)
        return cnn_node_error(net, n, CNN_STATUS_SHAPE,
                              "the dilated window of output %s %lld has no tap inside the input "
                              "%s from '%s' (kernel %dx%d, dilation %dx%d, padding %s): every "
                              "window must see the input",
                              eh >= 0 ? "row" : "column", (long long)(eh >= 0 ? eh : ew),
                              cnn_shape_str(in, sh, sizeof sh), n->in[0]->name, p->kernel[0],
                              p->kernel[1], p->dilation[0], p->dilation[1],
                              pad_str(pad, ps, sizeof ps));
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

/* ---------------------------------------------------------------------------------------------
 * The argmax, for max_unpool2d and for callers (cnn_net_pool_indices)
 * ------------------------------------------------------------------------------------------- */

extern const cnn_layer_type cnn_layer_max_pool2d, cnn_layer_adaptive_max_pool2d;

int cnn_node_has_argmax(const cnn_node *n) {
    return n->type == &cnn_layer_max_pool2d || n->type == &cnn_layer_adaptive_max_pool2d;
}

/* The saved memory: this header, then the argmax at ARGMAX_AT. */
typedef struct argmax_header {
    int held;  /* the last forward pass kept the argmax */
    int force; /* this one must (cnn_pool_argmax finding it) */
} argmax_header;
#define ARGMAX_AT 64

size_t cnn_pool_argmax_bytes(const cnn_node *n, int batch) {
    return ARGMAX_AT + (size_t)batch * cnn_node_numel(n) * sizeof(int32_t);
}

static int32_t *argmax_at(const cnn_node *n) { return (int32_t *)((char *)n->saved + ARGMAX_AT); }

int32_t *cnn_pool_argmax_out(cnn_node *n, const cnn_ctx *c) {
    CNN_ASSERT(cnn_node_has_argmax(n) && n->saved);
    argmax_header *h = n->saved;
    h->held = c->training || n->argmax_read || h->force;
    return h->held ? argmax_at(n) : NULL;
}

void cnn_pool_argmax_read(cnn_node *n) {
    CNN_ASSERT(cnn_node_has_argmax(n));
    n->argmax_read = 1;
}

const int32_t *cnn_pool_argmax(cnn_node *n, const cnn_ctx *c) {
    CNN_ASSERT(cnn_node_has_argmax(n) && n->saved);
    argmax_header *h = n->saved;
    if (!h->held) {
        h->force = 1;
        n->type->forward(n, c);
        h->force = 0;
        CNN_ASSERT(h->held);
    }
    return argmax_at(n);
}

cnn_status cnn_net_pool_indices(cnn_net *net, int layer, int64_t *indices) {
    if (layer < 0 || layer >= net->n_nodes)
        return cnn_error(net, CNN_STATUS_INVALID_ARGUMENT,
                         "pool indices of layer %d: the network has layers 0 to %d", layer,
                         net->n_nodes - 1);
    cnn_node *n = net->nodes[layer];
    if (!cnn_node_has_argmax(n))
        return cnn_error(net, CNN_STATUS_INVALID_ARGUMENT,
                         "pool indices of layer '%s': it is a %s layer; only max_pool2d and "
                         "adaptive_max_pool2d layers save indices",
                         n->name, n->type->name);
    if (!indices)
        return cnn_error(net, CNN_STATUS_INVALID_ARGUMENT, "pool indices of layer '%s': "
                         "indices is NULL", n->name);
    if (!net->forward_done)
        return cnn_error(net, CNN_STATUS_STATE,
                         "pool indices of layer '%s' before a forward pass", n->name);
    size_t count = (size_t)net->batch * cnn_node_numel(n);
    cnn_ctx c = cnn_net_ctx(net);
    const int32_t *arg = cnn_pool_argmax(n, &c);
    for (size_t i = 0; i < count; i++) indices[i] = arg[i];
    return CNN_STATUS_OK;
}

/* ---------------------------------------------------------------------------------------------
 * The types
 * ------------------------------------------------------------------------------------------- */

#define POOL_COMMON                                                                            \
    .params_size = sizeof(pool_params), .min_inputs = 1, .max_inputs = 1,                     \
    .forward = pool_forward, .backward = pool_backward, .writes_fresh = 1

const cnn_layer_type cnn_layer_max_pool2d = {
    .name = "max_pool2d",
    .doc = "Maximum over each KHxKW window of each channel (PyTorch's MaxPool2d, dilation "
           "included); padded cells never win. The argmax of each output is kept "
           "(cnn_net_pool_indices, max_unpool2d). Input (C,H,W), output (C,OH,OW).",
    .fields = max_fields,
    .setup = max_setup,
    .saved_bytes = cnn_pool_argmax_bytes,
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

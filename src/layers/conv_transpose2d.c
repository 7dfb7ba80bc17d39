/*
 * conv_transpose2d.c - transposed 2-D convolution, PyTorch's nn.ConvTranspose2d: the adjoint
 * (gradient) of a conv2d, used to upsample.
 *
 *   x (N, C, H, W), W (C, OC/G, KH, KW), b (OC)                        y (N, OC, OH, OW)
 *   y = b, then for every input pixel and kernel tap (g = c / (C/G) the group of c):
 *   y[n, g OC/G + o, i SH - PT + u DH, j SW - PL + v DW] += W[c,o,u,v] x[n,c,i,j]
 *   (terms that fall outside the output are dropped).
 *   OH = (H - 1) SH - (PT + PB) + DH (KH - 1) + OPH + 1, likewise OW with PL + PR; the padding
 *   removes PT rows at the top and PB at the bottom of the full output (PyTorch's padding P is
 *   PT = PB = P; ONNX's pads may differ); OP is output_padding, which only adds rows and
 *   columns at the bottom and right (it must be below stride or dilation).
 *   dx[n,c,i,j] += sum_{o,u,v} W[c,o,u,v] dy[n, g OC/G + o, i SH - PT + u DH, ...]
 *   dW[c,o,u,v] += sum_{n,i,j} x[n,c,i,j] dy[n, ...],  db[o] += sum_{n,i,j} dy[n,o,i,j]
 *
 * This is the transpose of the conv2d from (OC, OH, OW) to (C, H, W) with the same kernel,
 * stride, padding, dilation and groups, whose weights (C, OC/G, KH, KW) are exactly these; the
 * kernels run that convolution's adjoint.
 */
#include "../core/internal.h"
#include "../kernels/conv.h"
#include "conv_check.h"

#include <limits.h>

typedef struct convt_params {
    int out;
    int kernel[2];
    int stride[2];
    cnn_pad padding; /* explicit: top, bottom, left, right */
    int output_padding[2];
    int dilation[2];
    int groups;
    int bias;
    int init;
} convt_params;

static const cnn_field convt_fields[] = {
    {"out", CNN_FIELD_INT, offsetof(convt_params, out), NULL, NULL, "output channels"},
    {"kernel", CNN_FIELD_INT2, offsetof(convt_params, kernel), NULL, NULL,
     "kernel size, K or KHxKW"},
    {"stride", CNN_FIELD_INT2, offsetof(convt_params, stride), "1", NULL, "stride, S or SHxSW"},
    {"padding", CNN_FIELD_PAD, offsetof(convt_params, padding), "0", NULL,
     "rows and columns removed from the full output: P, PHxPW, or B:A per axis (top:bottom x "
     "left:right, as ONNX ConvTranspose's pads)"},
    {"output_padding", CNN_FIELD_INT2, offsetof(convt_params, output_padding), "0", NULL,
     "rows and columns added at the bottom and right (below stride or dilation)"},
    {"dilation", CNN_FIELD_INT2, offsetof(convt_params, dilation), "1", NULL,
     "spacing of the kernel taps, D or DHxDW"},
    {"groups", CNN_FIELD_INT, offsetof(convt_params, groups), "1", NULL,
     "channel groups: each output channel sees C/groups input channels"},
    {"bias", CNN_FIELD_BOOL, offsetof(convt_params, bias), "1", NULL, "add a learned bias"},
    {"init", CNN_FIELD_ENUM, offsetof(convt_params, init), "he_normal", cnn_init_names,
     "weight initialisation"},
    {0},
};

/* The geometry of the convolution this layer transposes, for a batch. */
static cnn_conv_geom convt_geom(const cnn_node *n, int batch) {
    const convt_params *p = n->params;
    const cnn_shape *in = &n->in[0]->shape;
    cnn_conv_geom g = {
        .N = batch, .C = p->out, .H = n->shape.dim[1], .W = n->shape.dim[2],
        .OC = in->dim[0], .KH = p->kernel[0], .KW = p->kernel[1],
        .sh = p->stride[0], .sw = p->stride[1],
        .pt = p->padding.top, .pb = p->padding.bottom, .pl = p->padding.left,
        .pr = p->padding.right,
        .dh = p->dilation[0], .dw = p->dilation[1], .G = p->groups,
        .OH = in->dim[1], .OW = in->dim[2],
    };
    return g;
}

static size_t convt_weight_count(const cnn_node *n) {
    const convt_params *p = n->params;
    return (size_t)n->in[0]->shape.dim[0] * (size_t)(p->out / p->groups) * (size_t)p->kernel[0] *
           (size_t)p->kernel[1];
}

/* (in - 1) s - (pad before + pad after) + d (k - 1) + op + 1, in double: the products may
 * exceed 64 bits, and a double is exact wherever the result is small enough to be accepted. */
static double convt_out_len(int in, int k, int s, int pads, int op, int d) {
    return (double)(in - 1) * s - (double)pads + (double)d * (k - 1) + op + 1;
}

static cnn_status convt_setup(cnn_net *net, cnn_node *n) {
    const convt_params *p = n->params;
    const cnn_shape *in = &n->in[0]->shape;
    cnn_status st = cnn_conv2d_check(net, n, p->out, p->kernel, p->stride, p->dilation, p->groups);
    if (st) return st;
    const cnn_pad *pd = &p->padding;
    if (pd->mode == CNN_PAD_SAME || pd->mode == CNN_PAD_CAUSAL)
        return cnn_node_error(net, n, CNN_STATUS_INVALID_ARGUMENT,
                              "padding: 'same' and 'causal' are for convolutions; give the rows "
                              "and columns to remove, e.g. 1 or 1:2x0:1");
    if (pd->top < 0 || pd->bottom < 0 || pd->left < 0 || pd->right < 0)
        return cnn_node_error(net, n, CNN_STATUS_INVALID_ARGUMENT,
                              "padding must not be negative, got %d:%dx%d:%d", pd->top,
                              pd->bottom, pd->left, pd->right);
    if (p->output_padding[0] < 0 || p->output_padding[1] < 0)
        return cnn_node_error(net, n, CNN_STATUS_INVALID_ARGUMENT,
                              "output_padding must not be negative, got %dx%d",
                              p->output_padding[0], p->output_padding[1]);
    int C = in->dim[0], H = in->dim[1], W = in->dim[2];
    for (int a = 0; a < 2; a++)
        if (p->output_padding[a] >= p->stride[a] && p->output_padding[a] >= p->dilation[a])
            return cnn_node_error(net, n, CNN_STATUS_INVALID_ARGUMENT,
                                  "output_padding %dx%d must be smaller than the stride %dx%d "
                                  "or the dilation %dx%d",
                                  p->output_padding[0], p->output_padding[1], p->stride[0],
                                  p->stride[1], p->dilation[0], p->dilation[1]);
    double oh = convt_out_len(H, p->kernel[0], p->stride[0], pd->top + pd->bottom,
                              p->output_padding[0], p->dilation[0]);
    double ow = convt_out_len(W, p->kernel[1], p->stride[1], pd->left + pd->right,
                              p->output_padding[1], p->dilation[1]);
    if (oh < 1 || ow < 1)
        return cnn_node_error(net, n, CNN_STATUS_SHAPE,
                              "the output %.0fx%.0f is empty: input %dx%d, kernel %dx%d, stride "
                              "%dx%d, padding %d:%dx%d:%d, output_padding %dx%d, dilation %dx%d "
                              "give (H-1)*stride - padding + dilation*(kernel-1) + "
                              "output_padding + 1 < 1",
                              oh, ow, H, W, p->kernel[0], p->kernel[1], p->stride[0],
                              p->stride[1], pd->top, pd->bottom, pd->left, pd->right,
                              p->output_padding[0], p->output_padding[1], p->dilation[0],
                              p->dilation[1]);
    /* The convolution this transposes reads the output padded on each side. */
    double ph = oh + pd->top + pd->bottom, pw = ow + pd->left + pd->right;
    if (ph > INT_MAX || pw > INT_MAX)
        return cnn_node_error(net, n, CNN_STATUS_INVALID_ARGUMENT,
                              "the output %.0fx%.0f (padded %.0fx%.0f) is too large", oh, ow, ph,
                              pw);
    n->shape.rank = 3;
    n->shape.dim[0] = p->out;
    n->shape.dim[1] = (int)oh;
    n->shape.dim[2] = (int)ow;
    cnn_conv_geom g = convt_geom(n, 1);
    double fan_out = (double)C * p->kernel[0] * p->kernel[1];
    /* The kernels index with ints, and init passes the fans as ints. */
    if (!cnn_conv_geom_fits(&g) || fan_out > INT_MAX)
        return cnn_node_error(net, n, CNN_STATUS_INVALID_ARGUMENT,
                              "too large for 32-bit sizes: out/G*KH*KW = %.0f, H*W = %.0f, "
                              "C*KH*KW = %.0f (the limit is %d)",
                              (double)(p->out / p->groups) * p->kernel[0] * p->kernel[1],
                              (double)H * W, fan_out, INT_MAX);
    n->n_params = convt_weight_count(n) + (p->bias ? (size_t)p->out : 0);
    return CNN_STATUS_OK;
}

static void convt_init(cnn_node *n, float *w, float *s, cnn_rng *rng) {
    (void)s;
    const convt_params *p = n->params;
    size_t nw = convt_weight_count(n);
    int area = p->kernel[0] * p->kernel[1];
    /* PyTorch's fans for this weight (C, OC/G, KH, KW): size(1) and size(0) times the area,
     * so fan_in counts output channels, as torch.nn.init computes it for ConvTranspose2d. */
    cnn_init_weights(w, nw, p->init, p->out / p->groups * area, n->in[0]->shape.dim[0] * area,
                     rng);
    if (p->bias)
        for (int o = 0; o < p->out; o++) w[nw + (size_t)o] = 0.0f;
}

/* Winograd's transformed weights, kept from forward to backward. */
static size_t convt_saved_bytes(const cnn_node *n, int batch) {
    cnn_conv_geom g = convt_geom(n, batch);
    return cnn_conv_saved_bytes(&g);
}

static cnn_work convt_work_bytes(const cnn_node *n, int batch) {
    cnn_conv_geom g = convt_geom(n, batch);
    return cnn_conv_work_bytes(&g);
}

static void convt_forward(cnn_node *n, const cnn_ctx *c) {
    const convt_params *p = n->params;
    cnn_conv_geom g = convt_geom(n, c->batch);
    const float *b = p->bias ? n->w + convt_weight_count(n) : NULL;
    cnn_conv_transpose2d_forward(c, &g, n->in[0]->y, n->w, b, n->y, n->saved);
}

static void convt_backward(cnn_node *n, const cnn_ctx *c) {
    const convt_params *p = n->params;
    cnn_conv_geom g = convt_geom(n, c->batch);
    float *db = p->bias ? n->dw + convt_weight_count(n) : NULL;
    if (!c->skip_dx) cnn_conv_transpose2d_backward_data(c, &g, n->dy, n->w, n->saved, n->in[0]->dy);
    cnn_conv_transpose2d_backward_weights(c, &g, n->in[0]->y, n->dy, n->dw, db);
}

static uint64_t convt_macs(const cnn_node *n) {
    const cnn_shape *in = &n->in[0]->shape;
    return (uint64_t)in->dim[1] * (uint64_t)in->dim[2] * convt_weight_count(n);
}

/* PyTorch's nn.ConvTranspose2d: weight (C, out/G, KH, KW), bias (out). */
static int convt_tensors(const cnn_node *n, cnn_param_tensor *t) {
    const convt_params *p = n->params;
    t[0] = (cnn_param_tensor){.name = "weight", .role = CNN_PARAM_TRAINABLE, .rank = 4,
                              .dims = {n->in[0]->shape.dim[0], p->out / p->groups, p->kernel[0],
                                       p->kernel[1]}};
    t[1] = (cnn_param_tensor){.name = "bias", .role = CNN_PARAM_TRAINABLE, .rank = 1,
                              .dims = {p->out}};
    return p->bias ? 2 : 1;
}

const cnn_layer_type cnn_layer_conv_transpose2d = {
    .name = "conv_transpose2d",
    .doc = "Transposed 2-D convolution of a (C, H, W) input with weights (C, out/groups, KH, KW), "
           "as PyTorch's ConvTranspose2d: the gradient of a conv2d, used to upsample.",
    .params_size = sizeof(convt_params),
    .fields = convt_fields,
    .min_inputs = 1,
    .max_inputs = 1,
    .setup = convt_setup,
    .init = convt_init,
    .saved_bytes = convt_saved_bytes,
    .work_bytes = convt_work_bytes,
    .forward = convt_forward,
    .backward = convt_backward,
    .macs = convt_macs,
    .tensors = convt_tensors,
};

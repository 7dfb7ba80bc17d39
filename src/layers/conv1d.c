/*
 * conv1d.c - 1-D convolution, PyTorch's nn.Conv1d (cross-correlation), with causal padding.
 *
 *   x (N, C, L), W (OC, C/G, K), b (OC)                                       y (N, OC, LO)
 *   y[n,o,t] = b[o] + sum_{c<C/G, k<K} W[o,c,k] x[n, g C/G + c, t S - PL + k D]
 *   g = o / (OC/G) is the group of o; x is 0 outside [0, L).
 *   LO = floor((L + PL + PR - D (K - 1) - 1) / S) + 1.
 *   dx, dW, db as for conv2d: it is conv2d with H = 1 (W (OC, C/G, K) is laid out exactly like
 *   (OC, C/G, 1, K)), and runs the same kernels.
 *
 * padding: P on both sides; "PL:PR" left and right (F.pad(x, (PL, PR)) then the convolution);
 * "valid" is 0; "same" (stride 1 only) pads D (K - 1) in total, PL = total / 2 and PR the
 * rest, so LO = L; "causal" pads D (K - 1) on the left only, so that y[t] depends on x[<= t]
 * alone and LO = L at stride 1.
 */
#include "../core/internal.h"
#include "../kernels/conv.h"

#include <limits.h>

typedef struct conv1d_params {
    int out;
    int kernel;
    int stride;
    cnn_pad padding;
    int dilation;
    int groups;
    int bias;
    int init;
} conv1d_params;

static const cnn_field conv1d_fields[] = {
    {"out", CNN_FIELD_INT, offsetof(conv1d_params, out), NULL, NULL, "output channels"},
    {"kernel", CNN_FIELD_INT, offsetof(conv1d_params, kernel), NULL, NULL, "kernel size"},
    {"stride", CNN_FIELD_INT, offsetof(conv1d_params, stride), "1", NULL, "stride"},
    {"padding", CNN_FIELD_PAD, offsetof(conv1d_params, padding), "0", NULL,
     "zeros: P on each side, left:right (as F.pad then the convolution), valid (0), same "
     "(output length = input length, stride 1) or causal (dilation*(kernel-1) on the left "
     "only)"},
    {"dilation", CNN_FIELD_INT, offsetof(conv1d_params, dilation), "1", NULL,
     "spacing of the kernel taps"},
    {"groups", CNN_FIELD_INT, offsetof(conv1d_params, groups), "1", NULL,
     "channel groups: each output channel sees C/groups input channels"},
    {"bias", CNN_FIELD_BOOL, offsetof(conv1d_params, bias), "1", NULL, "add a learned bias"},
    {"init", CNN_FIELD_ENUM, offsetof(conv1d_params, init), "he_normal", cnn_init_names,
     "weight initialisation"},
    {0},
};

/* Padding left and right (wide: "same" with an absurd kernel must not overflow). */
static void conv1d_pads(const conv1d_params *p, long long pad[2]) {
    long long total = (long long)p->dilation * (p->kernel - 1);
    pad[0] = pad[1] = 0;
    if (p->padding.mode == CNN_PAD_EXPLICIT) {
        pad[0] = p->padding.left;
        pad[1] = p->padding.right;
    } else if (p->padding.mode == CNN_PAD_SAME) {
        pad[0] = total / 2;
        pad[1] = total - total / 2;
    } else if (p->padding.mode == CNN_PAD_CAUSAL) {
        pad[0] = total;
    }
}

/* The geometry of a validated layer for a batch: conv2d's with H = 1. */
static cnn_conv_geom conv1d_geom(const cnn_node *n, int batch) {
    const conv1d_params *p = n->params;
    const cnn_shape *in = &n->in[0]->shape;
    long long pad[2];
    conv1d_pads(p, pad);
    cnn_conv_geom g = {
        .N = batch, .C = in->dim[0], .H = 1, .W = in->dim[1],
        .OC = p->out, .KH = 1, .KW = p->kernel,
        .sh = 1, .sw = p->stride,
        .pt = 0, .pb = 0, .pl = (int)pad[0], .pr = (int)pad[1],
        .dh = 1, .dw = p->dilation, .G = p->groups,
        .OH = 1, .OW = n->shape.dim[1],
    };
    return g;
}

static size_t conv1d_weight_count(const cnn_node *n) {
    const conv1d_params *p = n->params;
    return (size_t)p->out * (size_t)(n->in[0]->shape.dim[0] / p->groups) * (size_t)p->kernel;
}

static cnn_status conv1d_setup(cnn_net *net, cnn_node *n) {
    const conv1d_params *p = n->params;
    const cnn_shape *in = &n->in[0]->shape;
    char sh[64];
    if (in->rank != 2)
        return cnn_node_error(net, n, CNN_STATUS_SHAPE, "needs an input (C, L), got %s from '%s'",
                              cnn_shape_str(in, sh, sizeof sh), n->in[0]->name);
    if (p->out < 1)
        return cnn_node_error(net, n, CNN_STATUS_INVALID_ARGUMENT,
                              "out must be at least 1, got %d", p->out);
    if (p->kernel < 1)
        return cnn_node_error(net, n, CNN_STATUS_INVALID_ARGUMENT,
                              "kernel must be positive, got %d", p->kernel);
    if (p->stride < 1)
        return cnn_node_error(net, n, CNN_STATUS_INVALID_ARGUMENT,
                              "stride must be positive, got %d", p->stride);
    if (p->dilation < 1)
        return cnn_node_error(net, n, CNN_STATUS_INVALID_ARGUMENT,
                              "dilation must be positive, got %d", p->dilation);
    if (p->groups < 1)
        return cnn_node_error(net, n, CNN_STATUS_INVALID_ARGUMENT,
                              "groups must be at least 1, got %d", p->groups);
    int C = in->dim[0], L = in->dim[1];
    if (C % p->groups)
        return cnn_node_error(net, n, CNN_STATUS_SHAPE,
                              "groups %d does not divide input channels %d (input %s)",
                              p->groups, C, cnn_shape_str(in, sh, sizeof sh));
    if (p->out % p->groups)
        return cnn_node_error(net, n, CNN_STATUS_INVALID_ARGUMENT,
                              "groups %d does not divide output channels %d (out)", p->groups,
                              p->out);
    /* One axis given is parsed into both: rows that differ from the columns were written. */
    if (p->padding.mode == CNN_PAD_EXPLICIT &&
        (p->padding.top != p->padding.left || p->padding.bottom != p->padding.right))
        return cnn_node_error(net, n, CNN_STATUS_INVALID_ARGUMENT,
                              "padding with rows and columns (HxW) is two-dimensional: a 1-D "
                              "convolution takes P, left:right, valid, same or causal");
    if (p->padding.mode == CNN_PAD_SAME && p->stride != 1)
        return cnn_node_error(net, n, CNN_STATUS_INVALID_ARGUMENT,
                              "padding=same needs stride 1, got stride %d (as in PyTorch): give "
                              "the padding explicitly or use causal",
                              p->stride);
    long long pad[2];
    conv1d_pads(p, pad);
    long long padded = L + pad[0] + pad[1];
    if (padded > INT_MAX)
        return cnn_node_error(net, n, CNN_STATUS_INVALID_ARGUMENT,
                              "the padded input length %lld is too large", padded);
    long long lo = cnn_conv_out_len(L, pad[0] + pad[1], p->kernel, p->stride, p->dilation);
    if (lo < 1)
        return cnn_node_error(net, n, CNN_STATUS_SHAPE,
                              "kernel %d (dilation %d) is larger than the padded input %lld",
                              p->kernel, p->dilation, padded);
    n->shape.rank = 2;
    n->shape.dim[0] = p->out;
    n->shape.dim[1] = (int)lo;
    cnn_conv_geom g = conv1d_geom(n, 1);
    double fan_out = (double)p->out * p->kernel;
    /* The kernels index with ints, and init passes the fans as ints. */
    if (!cnn_conv_geom_fits(&g) || fan_out > INT_MAX)
        return cnn_node_error(net, n, CNN_STATUS_INVALID_ARGUMENT,
                              "too large for 32-bit sizes: C/G*K = %.0f, out*K = %.0f (the "
                              "limit is %d)",
                              (double)(C / p->groups) * p->kernel, fan_out, INT_MAX);
    n->n_params = conv1d_weight_count(n) + (p->bias ? (size_t)p->out : 0);
    return CNN_STATUS_OK;
}

static void conv1d_init(cnn_node *n, float *w, float *s, cnn_rng *rng) {
    (void)s;
    const conv1d_params *p = n->params;
    size_t nw = conv1d_weight_count(n);
    /* PyTorch's fans for a weight (OC, C/G, K): size(1) and size(0) times K. */
    cnn_init_weights(w, nw, p->init, n->in[0]->shape.dim[0] / p->groups * p->kernel,
                     p->out * p->kernel, rng);
    if (p->bias)
        for (int o = 0; o < p->out; o++) w[nw + (size_t)o] = 0.0f;
}

/* Winograd's transformed weights, kept from forward to backward. */
static size_t conv1d_saved_bytes(const cnn_node *n, int batch) {
    cnn_conv_geom g = conv1d_geom(n, batch);
    return cnn_conv_saved_bytes(&g);
}

static cnn_work conv1d_work_bytes(const cnn_node *n, int batch) {
    cnn_conv_geom g = conv1d_geom(n, batch);
    return cnn_conv_work_bytes(&g);
}

static void conv1d_forward(cnn_node *n, const cnn_ctx *c) {
    const conv1d_params *p = n->params;
    cnn_conv_geom g = conv1d_geom(n, c->batch);
    const float *b = p->bias ? n->w + conv1d_weight_count(n) : NULL;
    cnn_conv2d_forward(c, &g, n->in[0]->y, n->w, b, n->y, n->saved);
}

static void conv1d_backward(cnn_node *n, const cnn_ctx *c) {
    const conv1d_params *p = n->params;
    cnn_conv_geom g = conv1d_geom(n, c->batch);
    float *db = p->bias ? n->dw + conv1d_weight_count(n) : NULL;
    if (!c->skip_dx) cnn_conv2d_backward_data(c, &g, n->dy, n->w, n->saved, n->in[0]->dy);
    cnn_conv2d_backward_weights(c, &g, n->in[0]->y, n->dy, n->dw, db);
}

static uint64_t conv1d_macs(const cnn_node *n) {
    return (uint64_t)n->shape.dim[1] * conv1d_weight_count(n);
}

/* PyTorch's nn.Conv1d: weight (out, C/G, K), bias (out). */
static int conv1d_tensors(const cnn_node *n, cnn_param_tensor *t) {
    const conv1d_params *p = n->params;
    t[0] = (cnn_param_tensor){.name = "weight", .role = CNN_PARAM_TRAINABLE, .rank = 3,
                              .dims = {p->out, n->in[0]->shape.dim[0] / p->groups, p->kernel}};
    t[1] = (cnn_param_tensor){.name = "bias", .role = CNN_PARAM_TRAINABLE, .rank = 1,
                              .dims = {p->out}};
    return p->bias ? 2 : 1;
}

const cnn_layer_type cnn_layer_conv1d = {
    .name = "conv1d",
    .doc = "1-D convolution (cross-correlation) of a (C, L) input with weights "
           "(out, C/groups, K), as PyTorch's Conv1d; padding=causal for sequence models.",
    .params_size = sizeof(conv1d_params),
    .fields = conv1d_fields,
    .min_inputs = 1,
    .max_inputs = 1,
    .setup = conv1d_setup,
    .init = conv1d_init,
    .saved_bytes = conv1d_saved_bytes,
    .work_bytes = conv1d_work_bytes,
    .forward = conv1d_forward,
    .backward = conv1d_backward,
    .macs = conv1d_macs,
    .tensors = conv1d_tensors,
};

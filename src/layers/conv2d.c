/*
 * conv2d.c - 2-D convolution, PyTorch's nn.Conv2d: cross-correlation (no kernel flip), zero
 * padding, stride, dilation, groups.
 *
 *   x (N, C, H, W), W (OC, C/G, KH, KW), b (OC)                        y (N, OC, OH, OW)
 *   y[n,o,i,j] = b[o] + sum_{c<C/G, u<KH, v<KW} W[o,c,u,v] x[n, g C/G + c, i SH - PT + u DH,
 *                                                                     j SW - PL + v DW]
 *   g = o / (OC/G) is the group of o; x is 0 outside the image.
 *   OH = floor((H + PT + PB - DH (KH - 1) - 1) / SH) + 1, likewise OW.
 *   dx += the same sum read backwards (each term sends W dy to the pixel it read),
 *   dW[o,c,u,v] += sum_{n,i,j} dy[n,o,i,j] x[n, g C/G + c, ...],  db[o] += sum_{n,i,j} dy[n,o,i,j]
 *
 * act=relu applies max(y, 0) to the output (NaN kept, as the relu layer) in the kernels'
 * epilogue, as each output is written after its bias; the backward first keeps dy only where
 * y > 0 (into saved memory: the layer's own dy stays the gradient of its output). cnn_net_fuse makes such layers, with batch norm folded in.
 *
 * padding: P or PHxPW on every side; per axis before:after, "PT:PBxPL:PR" (ONNX's pads
 * [PT, PL, PB, PR]; PyTorch's F.pad(x, (PL, PR, PT, PB)) then the convolution); "valid" is 0;
 * "same" (stride 1 only, as in PyTorch) pads D (K - 1) in total on each axis, PT = total / 2
 * and PB the rest, so OH = H also for even kernels. The kernels read PT, PL and OH, OW only:
 * the padding after the input is what OH leaves of the padded rows, so every kernel path
 * serves any padding (src/kernels/conv.c, path_of).
 *
 * quant=int8 (in_scale, in_zero; cnn_net_quantize sets them) computes the forward pass in 8-bit
 * integers (src/kernels/qconv.h): weights per output channel, the input as bytes u with
 * x = in_scale (u - in_zero). Evaluation only: a training pass is refused (check); the backward
 * of an evaluation pass is the float convolution's (straight-through, for saliency maps).
 */
#include "../core/internal.h"
#include "../kernels/conv.h"
#include "../kernels/qconv.h"
#include "act_fused.h"
#include "conv_check.h"

#include <limits.h>
#include <math.h>
#include <string.h>

typedef struct conv2d_params {
    int out;
    int kernel[2];
    int stride[2];
    cnn_pad padding;
    int dilation[2];
    int groups;
    int bias;
    int init;
    int act;
    int quant;      /* QUANT_NONE or QUANT_INT8 */
    float in_scale; /* QUANT_INT8: the input's quantisation (kernels/qconv.h) */
    int in_zero;
} conv2d_params;

enum { QUANT_NONE, QUANT_INT8 };
static const char *const quant_names[] = {"none", "int8", NULL};


static const cnn_field conv2d_fields[] = {
    {"out", CNN_FIELD_INT, offsetof(conv2d_params, out), NULL, NULL, "output channels"},
    {"kernel", CNN_FIELD_INT2, offsetof(conv2d_params, kernel), NULL, NULL,
     "kernel size, K or KHxKW"},
    {"stride", CNN_FIELD_INT2, offsetof(conv2d_params, stride), "1", NULL, "stride, S or SHxSW"},
    {"padding", CNN_FIELD_PAD, offsetof(conv2d_params, padding), "0", NULL,
     "zeros: P or PHxPW on each side, before:after per axis (T:BxL:R, as F.pad then the "
     "convolution; ONNX pads [T, L, B, R]), valid (0) or same (output size = input size, "
     "stride 1)"},
    {"dilation", CNN_FIELD_INT2, offsetof(conv2d_params, dilation), "1", NULL,
     "spacing of the kernel taps, D or DHxDW"},
    {"groups", CNN_FIELD_INT, offsetof(conv2d_params, groups), "1", NULL,
     "channel groups: each output channel sees C/groups input channels"},
    {"bias", CNN_FIELD_BOOL, offsetof(conv2d_params, bias), "1", NULL, "add a learned bias"},
    {"init", CNN_FIELD_ENUM, offsetof(conv2d_params, init), "he_normal", cnn_init_names,
     "weight initialisation"},
    {"act", CNN_FIELD_ENUM, offsetof(conv2d_params, act), "none", cnn_act_names,
     "activation applied to the output in the layer (as a relu layer after it)"},
    {"quant", CNN_FIELD_ENUM, offsetof(conv2d_params, quant), "none", quant_names,
     "int8: inference in 8-bit integers, the weights quantised per output channel and the "
     "input with in_scale and in_zero (cnn quantize sets them)"},
    {"in_scale", CNN_FIELD_FLOAT, offsetof(conv2d_params, in_scale), "0", NULL,
     "quant=int8: the input's step, x = in_scale (u - in_zero) for bytes u"},
    {"in_zero", CNN_FIELD_INT, offsetof(conv2d_params, in_zero), "0", NULL,
     "quant=int8: the byte (0 to 255) that stands for an input of 0"},
    {0},
};

/* Padding top, bottom, left, right (wide: "same" with an absurd kernel must not overflow). */
static void conv2d_pads(const conv2d_params *p, long long pad[4]) {
    pad[0] = pad[1] = pad[2] = pad[3] = 0;
    if (p->padding.mode == CNN_PAD_EXPLICIT) {
        pad[0] = p->padding.top;
        pad[1] = p->padding.bottom;
        pad[2] = p->padding.left;
        pad[3] = p->padding.right;
    } else if (p->padding.mode == CNN_PAD_SAME) {
        long long th = (long long)p->dilation[0] * (p->kernel[0] - 1);
        long long tw = (long long)p->dilation[1] * (p->kernel[1] - 1);
        pad[0] = th / 2;
        pad[1] = th - th / 2;
        pad[2] = tw / 2;
        pad[3] = tw - tw / 2;
    }
}

/* The geometry of a validated layer for a batch. */
static cnn_conv_geom conv2d_geom(const cnn_node *n, int batch) {
    const conv2d_params *p = n->params;
    const cnn_shape *in = &n->in[0]->shape;
    long long pad[4];
    conv2d_pads(p, pad);
    cnn_conv_geom g = {
        .N = batch, .C = in->dim[0], .H = in->dim[1], .W = in->dim[2],
        .OC = p->out, .KH = p->kernel[0], .KW = p->kernel[1],
        .sh = p->stride[0], .sw = p->stride[1],
        .pt = (int)pad[0], .pb = (int)pad[1], .pl = (int)pad[2], .pr = (int)pad[3],
        .dh = p->dilation[0], .dw = p->dilation[1], .G = p->groups,
        .OH = n->shape.dim[1], .OW = n->shape.dim[2],
    };
    return g;
}

static size_t conv2d_weight_count(const cnn_node *n) {
    const conv2d_params *p = n->params;
    return (size_t)p->out * (size_t)(n->in[0]->shape.dim[0] / p->groups) * (size_t)p->kernel[0] *
           (size_t)p->kernel[1];
}

static cnn_status check_quant(cnn_net *net, const cnn_node *n) {
    const conv2d_params *p = n->params;
    if (p->quant == QUANT_NONE) {
        if (p->in_scale != 0.0f || p->in_zero != 0)
            return cnn_node_error(net, n, CNN_STATUS_INVALID_ARGUMENT,
                                  "in_scale and in_zero are for quant=int8 (cnn quantize sets "
                                  "all three)");
        return CNN_STATUS_OK;
    }
    if (!(p->in_scale > 0.0f) || !isfinite(p->in_scale))
        return cnn_node_error(net, n, CNN_STATUS_INVALID_ARGUMENT,
                              "quant=int8 needs in_scale > 0 (the input's step), got %g",
                              (double)p->in_scale);
    if (p->in_zero < 0 || p->in_zero > 255)
        return cnn_node_error(net, n, CNN_STATUS_INVALID_ARGUMENT,
                              "in_zero must be a byte, 0 to 255, got %d", p->in_zero);
    cnn_conv_geom g = conv2d_geom(n, 1); /* checked to fit 32-bit sizes by setup */
    long long terms = cnn_qconv_terms(&g);
    if (terms > CNN_QCONV_MAX_TERMS)
        return cnn_node_error(net, n, CNN_STATUS_INVALID_ARGUMENT,
                              "quant=int8 sums at most %d terms in 32 bits, this layer %lld "
                              "(C/groups rounded up to a multiple of 4, x KH x KW)",
                              CNN_QCONV_MAX_TERMS, terms);
    return CNN_STATUS_OK;
}

static cnn_status conv2d_setup(cnn_net *net, cnn_node *n) {
    const conv2d_params *p = n->params;
    const cnn_shape *in = &n->in[0]->shape;
    cnn_status st = cnn_conv2d_check(net, n, p->out, p->kernel, p->stride, p->dilation, p->groups);
    if (st) return st;
    int C = in->dim[0], H = in->dim[1], W = in->dim[2];
    if (p->padding.mode == CNN_PAD_CAUSAL)
        return cnn_node_error(net, n, CNN_STATUS_INVALID_ARGUMENT,
                              "padding=causal is for conv1d only: a 2-D convolution takes P, "
                              "PHxPW, T:BxL:R, valid or same");
    if (p->padding.mode == CNN_PAD_SAME && (p->stride[0] != 1 || p->stride[1] != 1))
        return cnn_node_error(net, n, CNN_STATUS_INVALID_ARGUMENT,
                              "padding=same needs stride 1, got stride %dx%d (as in PyTorch): "
                              "give the padding explicitly",
                              p->stride[0], p->stride[1]);
    long long pad[4];
    conv2d_pads(p, pad);
    long long ph = H + pad[0] + pad[1], pw = W + pad[2] + pad[3];
    if (ph > INT_MAX || pw > INT_MAX)
        return cnn_node_error(net, n, CNN_STATUS_INVALID_ARGUMENT,
                              "the padded input %lldx%lld is too large", ph, pw);
    long long oh = cnn_conv_out_len(H, pad[0] + pad[1], p->kernel[0], p->stride[0],
                                    p->dilation[0]);
    long long ow = cnn_conv_out_len(W, pad[2] + pad[3], p->kernel[1], p->stride[1],
                                    p->dilation[1]);
    if (oh < 1 || ow < 1)
        return cnn_node_error(net, n, CNN_STATUS_SHAPE,
                              "kernel %dx%d (dilation %dx%d) is larger than the padded input "
                              "%lldx%lld",
                              p->kernel[0], p->kernel[1], p->dilation[0], p->dilation[1], ph, pw);
    n->shape.rank = 3;
    n->shape.dim[0] = p->out;
    n->shape.dim[1] = (int)oh;
    n->shape.dim[2] = (int)ow;
    cnn_conv_geom g = conv2d_geom(n, 1);
    double fan_out = (double)p->out * p->kernel[0] * p->kernel[1];
    /* The kernels index with ints, and init passes the fans as ints. */
    if (!cnn_conv_geom_fits(&g) || fan_out > INT_MAX)
        return cnn_node_error(net, n, CNN_STATUS_INVALID_ARGUMENT,
                              "too large for 32-bit sizes: C/G*KH*KW = %.0f, OH*OW = %.0f, "
                              "out*KH*KW = %.0f (the limit is %d)",
                              (double)(C / p->groups) * p->kernel[0] * p->kernel[1],
                              (double)oh * ow, fan_out, INT_MAX);
    n->n_params = conv2d_weight_count(n) + (p->bias ? (size_t)p->out : 0);
    return check_quant(net, n);
}

static void conv2d_init(cnn_node *n, float *w, float *s, cnn_rng *rng) {
    (void)s;
    const conv2d_params *p = n->params;
    size_t nw = conv2d_weight_count(n);
    int area = p->kernel[0] * p->kernel[1];
    /* PyTorch's fans for a weight (OC, C/G, KH, KW): size(1) and size(0) times the area. */
    cnn_init_weights(w, nw, p->init, n->in[0]->shape.dim[0] / p->groups * area, p->out * area,
                     rng);
    if (p->bias)
        for (int o = 0; o < p->out; o++) w[nw + (size_t)o] = 0.0f;
}

/* Winograd's transformed weights, kept from forward to backward; then, with act=relu, the
 * output gradient where the output was positive. */
static size_t kept_bytes(const cnn_node *n, int batch) {
    cnn_conv_geom g = conv2d_geom(n, batch);
    return cnn_round16(cnn_conv_saved_bytes(&g) / sizeof(float)) * sizeof(float);
}

/* quant=int8: the weights' integers (kernels/qconv.h), after Winograd's keep (the gradients
 * of such a layer are those of the float convolution). */
static size_t int8_bytes(const cnn_node *n) {
    const conv2d_params *p = n->params;
    cnn_conv_geom g = conv2d_geom(n, 1);
    return p->quant == QUANT_INT8 ? cnn_qconv_keep_bytes(&g) : 0;
}

static size_t conv2d_saved_bytes(const cnn_node *n, int batch) {
    const conv2d_params *p = n->params;
    return kept_bytes(n, batch) + int8_bytes(n) +
           cnn_act_saved_bytes(p->act, batch, cnn_node_numel(n));
}

static cnn_work conv2d_work_bytes(const cnn_node *n, int batch) {
    const conv2d_params *p = n->params;
    cnn_conv_geom g = conv2d_geom(n, batch);
    cnn_work fp = cnn_conv_work_bytes(&g);
    return p->quant == QUANT_INT8 ? cnn_work_max(fp, cnn_qconv_work_bytes(&g)) : fp;
}

/* Quantised layers run inference only: their weights stand for 8-bit integers. */
static cnn_status conv2d_check(cnn_net *net, const cnn_node *n, int batch) {
    (void)batch;
    const conv2d_params *p = n->params;
    if (p->quant == QUANT_INT8 && net->training)
        return cnn_node_error(net, n, CNN_STATUS_STATE,
                              "quant=int8 is for inference: train the float network (or this "
                              "one with quant=none) and quantise it again");
    return CNN_STATUS_OK;
}

static void conv2d_forward(cnn_node *n, const cnn_ctx *c) {
    const conv2d_params *p = n->params;
    cnn_conv_geom g = conv2d_geom(n, c->batch);
    const float *b = p->bias ? n->w + conv2d_weight_count(n) : NULL;
    g.relu = p->act == CNN_ACT_RELU; /* applied by the kernels as they write each output */
    if (p->quant == QUANT_INT8) {
        void *keep = (char *)n->saved + kept_bytes(n, c->net->max_batch);
        cnn_qconv2d_forward(c, &g, p->in_scale, p->in_zero, n->in[0]->y, n->w, b, n->y, keep);
        return;
    }
    cnn_conv2d_forward(c, &g, n->in[0]->y, n->w, b, n->y, n->saved);
}

static void conv2d_backward(cnn_node *n, const cnn_ctx *c) {
    const conv2d_params *p = n->params;
    cnn_conv_geom g = conv2d_geom(n, c->batch);
    float *db = p->bias ? n->dw + conv2d_weight_count(n) : NULL;
    const float *dy = n->dy;
    /* quant=int8: the gradients of the float convolution (the straight-through estimate of
     * those of the rounding), whose kernels need their keep made. */
    if (p->quant == QUANT_INT8) cnn_conv2d_keep(c, &g, n->w, n->saved);
    if (p->act == CNN_ACT_RELU) {
        float *masked =
            (float *)((char *)n->saved + kept_bytes(n, c->net->max_batch) + int8_bytes(n));
        cnn_relu_mask(c, n->y, n->dy, masked, (size_t)c->batch * cnn_node_numel(n));
        dy = masked;
    }
    if (!c->skip_dx) cnn_conv2d_backward_data(c, &g, dy, n->w, n->saved, n->in[0]->dy);
    cnn_conv2d_backward_weights(c, &g, n->in[0]->y, dy, n->dw, db);
}

/* cnn_net_fuse: this convolution with act(scale y + shift) applied to its output y, as one
 * convolution: each output channel's weights and bias scaled, the shift added to the bias. */
static int conv2d_fold(const cnn_node *n, const float *w, const double *scale,
                       const double *shift, const char *act, char *args, size_t args_size,
                       float *params) {
    const conv2d_params *p = n->params;
    if (p->act != CNN_ACT_NONE) return -1; /* what follows acts on the activation's output */
    if (p->quant == QUANT_INT8 && (scale || shift)) return -1; /* weights stand for integers */
    size_t nw = conv2d_weight_count(n), per = nw / (size_t)p->out;
    for (int o = 0; o < p->out; o++) {
        double a = scale ? scale[o] : 1.0, b = p->bias ? w[nw + (size_t)o] : 0.0;
        for (size_t k = 0; k < per; k++)
            params[(size_t)o * per + k] = scale ? (float)(a * w[(size_t)o * per + k])
                                                : w[(size_t)o * per + k];
        params[nw + (size_t)o] = (float)(a * b + (shift ? shift[o] : 0.0));
    }
    conv2d_params q = *p;
    q.bias = 1;
    if (act) q.act = cnn_act_of(act);
    if (q.act < 0) return -1;
    cnn_fields_print(conv2d_fields, &q, args, args_size, 0);
    return 0;
}

/* cnn_net_quantize: this layer in 8 bits for inputs seen in [lo, hi]. */
static int conv2d_quantize(const cnn_node *n, float lo, float hi, char *args, size_t args_size) {
    conv2d_params q = *(const conv2d_params *)n->params;
    cnn_conv_geom g = conv2d_geom(n, 1);
    if (cnn_qconv_terms(&g) > CNN_QCONV_MAX_TERMS) return -1;
    q.quant = QUANT_INT8;
    cnn_qconv_input_params(lo, hi, &q.in_scale, &q.in_zero);
    return cnn_fields_print(conv2d_fields, &q, args, args_size, 0) < (int)args_size ? 0 : -1;
}

static uint64_t conv2d_macs(const cnn_node *n) {
    return (uint64_t)n->shape.dim[1] * (uint64_t)n->shape.dim[2] * conv2d_weight_count(n);
}

/* ---- parameters by name (cnn_net_param_tensor, src/params.c) ---- */
/* PyTorch's nn.Conv2d: weight (out, C/G, KH, KW), bias (out). */
static int conv2d_tensors(const cnn_node *n, cnn_param_tensor *t) {
    const conv2d_params *p = n->params;
    t[0] = (cnn_param_tensor){.name = "weight", .role = CNN_PARAM_TRAINABLE, .rank = 4,
                              .dims = {p->out, n->in[0]->shape.dim[0] / p->groups, p->kernel[0],
                                       p->kernel[1]}};
    t[1] = (cnn_param_tensor){.name = "bias", .role = CNN_PARAM_TRAINABLE, .rank = 1,
                              .dims = {p->out}};
    return p->bias ? 2 : 1;
}
/* ---- end of parameters by name ---- */

const cnn_layer_type cnn_layer_conv2d = {
    .name = "conv2d",
    .doc = "2-D convolution (cross-correlation) of a (C, H, W) input with weights "
           "(out, C/groups, KH, KW), as PyTorch's Conv2d.",
    .params_size = sizeof(conv2d_params),
    .fields = conv2d_fields,
    .min_inputs = 1,
    .max_inputs = 1,
    .setup = conv2d_setup,
    .init = conv2d_init,
    .saved_bytes = conv2d_saved_bytes,
    .work_bytes = conv2d_work_bytes,
    .check = conv2d_check,
    .forward = conv2d_forward,
    .backward = conv2d_backward,
    .macs = conv2d_macs,
    .tensors = conv2d_tensors,
    .fold = conv2d_fold,
    .quantize = conv2d_quantize,
};

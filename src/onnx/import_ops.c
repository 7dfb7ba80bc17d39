/*
 * import_ops.c - the ONNX operators cnn imports, one function each, and their table.
 *
 * Semantics follow the ONNX operator documents for opsets 7 to 17; where an attribute's
 * default or meaning changed with the opset (Softmax's axis at 13, Dropout's ratio becoming an
 * input at 12, Pad's pads at 11, Resize's inputs at 11), the node's opset decides.
 */
#include "import.h"

#include <math.h>
#include <string.h>

#define FAIL(...) imp_fail(im, CNN_STATUS_INVALID_ARGUMENT, __VA_ARGS__)

static cnn_shape layer_shape(importer *im, int layer) { return cnn_net_layer_shape(im->net, layer); }

/* "%.9g": a float written so that it reads back to the same float. */
#define G9 "%.9g"

/* ---------------------------------------------------------------------------------------------
 * Window geometry shared by convolutions and poolings
 * ------------------------------------------------------------------------------------------- */

/* Spatial axes (1 or 2), kernel, strides, dilations, and pads in cnn's order per axis
 * (before, after): pad[0], pad[1] for the first axis (rows, or the length), pad[2], pad[3]
 * for the columns. */
typedef struct geom {
    int sp;
    int64_t k[2], s[2], d[2], pad[4];
    const char *pad_mode; /* "same" or "causal" instead of the pads, or NULL */
} geom;

/* Reads kernel_shape (or takes kernel), strides, dilations, pads and auto_pad for a window
 * over the spatial sizes in[]. */
static cnn_status read_geom(importer *im, const onnx_node *n, int sp, const int *in,
                            const int64_t *kernel, geom *g) {
    g->sp = sp;
    g->pad_mode = NULL;
    int64_t v[4];
    int c = 0;
    cnn_status st;
    for (int a = 0; a < 2; a++) g->k[a] = g->s[a] = g->d[a] = 1;
    if (kernel) memcpy(g->k, kernel, (size_t)sp * sizeof *kernel);
    c = -1;
    if ((st = imp_attr_ints(im, n, "kernel_shape", v, 2, &c))) return st;
    if (c >= 0) {
        if (c != sp) return FAIL("kernel_shape has %d values for %d spatial axes", c, sp);
        for (int a = 0; a < sp; a++)
            if (kernel && v[a] != kernel[a])
                return FAIL("kernel_shape %lld differs from the weight's %lld", (long long)v[a],
                            (long long)kernel[a]);
        memcpy(g->k, v, (size_t)sp * sizeof *v);
    } else if (!kernel) {
        return FAIL("attribute kernel_shape is missing");
    }
    const char *keys[2] = {"strides", "dilations"};
    int64_t *dst[2] = {g->s, g->d};
    for (int q = 0; q < 2; q++) {
        c = -1;
        if ((st = imp_attr_ints(im, n, keys[q], v, 2, &c))) return st;
        if (c < 0) continue;
        if (c != sp) return FAIL("%s has %d values for %d spatial axes", keys[q], c, sp);
        memcpy(dst[q], v, (size_t)sp * sizeof *v);
    }
    for (int a = 0; a < sp; a++)
        if (g->k[a] < 1 || g->s[a] < 1 || g->d[a] < 1 || g->k[a] > 65535 || g->s[a] > 65535 ||
            g->d[a] > 65535)
            return FAIL("kernel %lld, stride %lld, dilation %lld: each must be 1 to 65535",
                        (long long)g->k[a], (long long)g->s[a], (long long)g->d[a]);
    memset(g->pad, 0, sizeof g->pad);
    const char *auto_pad = imp_attr_string(n, "auto_pad", "NOTSET");
    if (strcmp(auto_pad, "NOTSET") == 0) {
        c = -1;
        if ((st = imp_attr_ints(im, n, "pads", v, 4, &c))) return st;
        if (c >= 0 && c != 2 * sp) return FAIL("pads has %d values for %d spatial axes", c, sp);
        for (int a = 0; c > 0 && a < sp; a++) {
            if (v[a] < 0 || v[a + sp] < 0 || v[a] > 65535 || v[a + sp] > 65535)
                return FAIL("pads must be 0 to 65535 (cropping is not supported)");
            g->pad[2 * a] = v[a];          /* ONNX: all the befores, then all the afters */
            g->pad[2 * a + 1] = v[a + sp];
        }
    } else if (strcmp(auto_pad, "SAME_UPPER") == 0 || strcmp(auto_pad, "SAME_LOWER") == 0) {
        for (int a = 0; a < sp; a++) {
            int64_t out = (in[a] + g->s[a] - 1) / g->s[a];
            int64_t total = (out - 1) * g->s[a] + (g->k[a] - 1) * g->d[a] + 1 - in[a];
            if (total < 0) total = 0;
            int64_t small = total / 2, big = total - small;
            g->pad[2 * a] = auto_pad[5] == 'U' ? small : big;
            g->pad[2 * a + 1] = auto_pad[5] == 'U' ? big : small;
        }
    } else if (strcmp(auto_pad, "VALID") != 0) {
        return FAIL("auto_pad '%s' is not one of NOTSET, SAME_UPPER, SAME_LOWER, VALID", auto_pad);
    }
    return CNN_STATUS_OK;
}

/* "kernel=.. stride=.. padding=T:BxL:R dilation=.." (1-D: one axis each). */
static int geom_args(const geom *g, char *buf, size_t size, int with_dilation) {
    char pad[96];
    if (g->pad_mode)
        snprintf(pad, sizeof pad, "%s", g->pad_mode);
    else if (g->sp == 1)
        snprintf(pad, sizeof pad, "%lld:%lld", (long long)g->pad[0], (long long)g->pad[1]);
    else
        snprintf(pad, sizeof pad, "%lld:%lldx%lld:%lld", (long long)g->pad[0],
                 (long long)g->pad[1], (long long)g->pad[2], (long long)g->pad[3]);
    if (g->sp == 1)
        return with_dilation
                   ? snprintf(buf, size, "kernel=%lld stride=%lld padding=%s dilation=%lld",
                              (long long)g->k[0], (long long)g->s[0], pad, (long long)g->d[0])
                   : snprintf(buf, size, "kernel=%lld stride=%lld padding=%s", (long long)g->k[0],
                              (long long)g->s[0], pad);
    int k = snprintf(buf, size, "kernel=%lldx%lld stride=%lldx%lld padding=%s", (long long)g->k[0],
                     (long long)g->k[1], (long long)g->s[0], (long long)g->s[1], pad);
    if (with_dilation && k >= 0 && (size_t)k < size)
        k += snprintf(buf + k, size - (size_t)k, " dilation=%lldx%lld", (long long)g->d[0],
                      (long long)g->d[1]);
    return k;
}

/* Input 0 of a convolution or pooling: a layer, or a Pad's output whose zeros join the pads
 * (into *pad, cnn's order t, b, l, r; 1-D: l, r hold the length's). */
static cnn_status window_input(importer *im, const onnx_node *n, int *layer, int pad[4],
                               const onnx_node **pad_node) {
    value *v;
    cnn_status st = imp_input(im, n, 0, &v);
    if (st) return st;
    memset(pad, 0, 4 * sizeof *pad);
    *pad_node = NULL;
    if (v->kind == VALUE_PAD) {
        memcpy(pad, v->pads, 4 * sizeof *pad);
        *layer = v->layer;
        *pad_node = v->pad;
        return CNN_STATUS_OK;
    }
    return imp_input_layer(im, n, 0, layer);
}

/* The spatial axes of a layer's output: 2 for (C, H, W), 1 for (C, L); sizes into in[]. */
static int spatial(importer *im, int layer, int in[2]) {
    cnn_shape s = layer_shape(im, layer);
    for (int a = 0; a + 1 < s.rank; a++) in[a] = s.dim[a + 1];
    return s.rank - 1;
}

static void add_pad(geom *g, const int pad[4]) {
    if (g->sp == 1) {
        g->pad[0] += pad[2];
        g->pad[1] += pad[3];
    } else {
        for (int q = 0; q < 4; q++) g->pad[q] += pad[q];
    }
}

static int any_pad(const int pad[4]) { return pad[0] || pad[1] || pad[2] || pad[3]; }

/* ---------------------------------------------------------------------------------------------
 * Convolutions
 * ------------------------------------------------------------------------------------------- */

static cnn_status op_conv(importer *im, const onnx_node *n, int i) {
    int x, pad[4], in[2], layer;
    const onnx_node *pn;
    const onnx_tensor *w, *b = NULL;
    cnn_status st = window_input(im, n, &x, pad, &pn);
    if (!st) st = imp_input_const(im, n, 1, &w);
    if (!st && imp_has_input(n, 2)) st = imp_input_const(im, n, 2, &b);
    if (st) return st;
    int sp = spatial(im, x, in);
    if (sp < 1 || sp > 2) return FAIL("a convolution over %d spatial axes (cnn: 1 or 2)", sp);
    if (w->rank != sp + 2) return FAIL("weight '%s' has rank %d, not %d", w->name, w->rank, sp + 2);
    geom g;
    if ((st = read_geom(im, n, sp, in, w->dims + 2, &g))) return st;
    add_pad(&g, pad);
    int64_t groups = imp_attr_int(n, "group", 1);
    int C = layer_shape(im, x).dim[0];
    if (groups < 1 || C % groups || w->dims[1] * groups != C)
        return FAIL("weight '%s' (%lld, %lld, ...) with group %lld does not fit %d input channels",
                    w->name, (long long)w->dims[0], (long long)w->dims[1], (long long)groups, C);
    /* cnn's padding modes, as cnn_onnx_save writes them: same is SAME_UPPER at stride 1, and
     * causal (1-D) all of d (k - 1) before. Their pads are the same either way. */
    int64_t total = g.d[0] * (g.k[0] - 1);
    if (!any_pad(pad) && strcmp(imp_attr_string(n, "auto_pad", ""), "SAME_UPPER") == 0 &&
        g.s[0] == 1 && g.s[sp - 1] == 1)
        g.pad_mode = "same";
    else if (sp == 1 && total > 0 && g.pad[0] == total && g.pad[1] == 0)
        g.pad_mode = "causal";
    char args[256];
    int k = snprintf(args, sizeof args, "out=%lld groups=%lld bias=%d ", (long long)w->dims[0],
                     (long long)groups, b != NULL);
    geom_args(&g, args + k, sizeof args - (size_t)k, 1);
    if ((st = imp_add_layer(im, n, sp == 2 ? "conv2d" : "conv1d", &x, 1, args, &layer))) return st;
    if ((st = imp_set_tensor(im, layer, "weight", w, 1, 0))) return st;
    return b ? imp_set_tensor(im, layer, "bias", b, 1, 0) : CNN_STATUS_OK;
}

static cnn_status op_conv_transpose(importer *im, const onnx_node *n, int i) {
    int x, in[2], layer;
    const onnx_tensor *w, *b = NULL;
    cnn_status st = imp_input_layer(im, n, 0, &x);
    if (!st) st = imp_input_const(im, n, 1, &w);
    if (!st && imp_has_input(n, 2)) st = imp_input_const(im, n, 2, &b);
    if (st) return st;
    if (spatial(im, x, in) != 2 || w->rank != 4)
        return FAIL("only 2-D ConvTranspose is supported (input (C, H, W), weight of rank 4)");
    /* auto_pad and output_shape define the pads from the output size; take them apart from
     * read_geom's forward-convolution rule. */
    const char *auto_pad = imp_attr_string(n, "auto_pad", "NOTSET");
    int64_t outs[2], opad[2] = {0, 0}, v[4];
    int n_out = -1, n_op = -1;
    if ((st = imp_attr_ints(im, n, "output_shape", v, 4, &n_out))) return st;
    if (n_out == 4) memmove(v, v + 2, 2 * sizeof *v); /* given with N and C */
    else if (n_out >= 0 && n_out != 2) return FAIL("output_shape has %d values", n_out);
    memcpy(outs, v, sizeof outs);
    if ((st = imp_attr_ints(im, n, "output_padding", opad, 2, &n_op))) return st;
    if (n_op >= 0 && n_op != 2) return FAIL("output_padding has %d values for 2 axes", n_op);
    for (int a = 0; a < 2; a++)
        if (opad[a] < 0 || opad[a] > 65535 || (n_out >= 0 && (outs[a] < 1 || outs[a] > (1 << 24))))
            return FAIL("output_padding or output_shape out of range");
    geom g;
    if (n_out >= 0 || strncmp(auto_pad, "SAME", 4) == 0) {
        /* read_geom without pads, then pads from the output size */
        onnx_node plain = *n;
        plain.n_attrs = 0;
        onnx_attr kept[3];
        for (int q = 0; q < n->n_attrs; q++)
            if (!strcmp(n->attrs[q].name, "strides") || !strcmp(n->attrs[q].name, "dilations") ||
                !strcmp(n->attrs[q].name, "kernel_shape"))
                kept[plain.n_attrs++] = n->attrs[q];
        plain.attrs = kept;
        if ((st = read_geom(im, &plain, 2, in, w->dims + 2, &g))) return st;
        for (int a = 0; a < 2; a++) {
            int64_t out = n_out >= 0 ? outs[a] : in[a] * g.s[a];
            int64_t total = g.s[a] * (in[a] - 1) + opad[a] + (g.k[a] - 1) * g.d[a] + 1 - out;
            if (total < 0)
                return FAIL("output_shape %lld needs output padding beyond output_padding",
                            (long long)out);
            int64_t half = total / 2;
            g.pad[2 * a] = strcmp(auto_pad, "SAME_UPPER") == 0 ? half : total - half;
            g.pad[2 * a + 1] = total - g.pad[2 * a];
        }
    } else if ((st = read_geom(im, n, 2, in, w->dims + 2, &g))) {
        return st;
    }
    int64_t groups = imp_attr_int(n, "group", 1);
    int C = layer_shape(im, x).dim[0];
    if (groups < 1 || w->dims[0] != C || C % groups)
        return FAIL("weight '%s' (%lld, ...) with group %lld does not fit %d input channels",
                    w->name, (long long)w->dims[0], (long long)groups, C);
    char args[320];
    int k = snprintf(args, sizeof args, "out=%lld groups=%lld bias=%d output_padding=%lldx%lld ",
                     (long long)(w->dims[1] * groups), (long long)groups, b != NULL,
                     (long long)opad[0], (long long)opad[1]);
    geom_args(&g, args + k, sizeof args - (size_t)k, 1);
    if ((st = imp_add_layer(im, n, "conv_transpose2d", &x, 1, args, &layer))) return st;
    if ((st = imp_set_tensor(im, layer, "weight", w, 1, 0))) return st;
    return b ? imp_set_tensor(im, layer, "bias", b, 1, 0) : CNN_STATUS_OK;
}

/* ---------------------------------------------------------------------------------------------
 * Normalisation and activations
 * ------------------------------------------------------------------------------------------- */

static cnn_status op_batchnorm(importer *im, const onnx_node *n, int i) {
    int x, layer;
    const onnx_tensor *t[4];
    cnn_status st = imp_input_layer(im, n, 0, &x);
    for (int k = 0; k < 4 && !st; k++) st = imp_input_const(im, n, k + 1, &t[k]);
    if (st) return st;
    if (imp_attr_int(n, "training_mode", 0) || imp_output_used(im, n, 1) ||
        imp_output_used(im, n, 2) || imp_output_used(im, n, 3) || imp_output_used(im, n, 4))
        return FAIL("training-mode BatchNormalization (its running statistics as outputs) is "
                    "not supported; export the model in evaluation mode");
    if (!imp_attr_int(n, "spatial", 1)) return FAIL("spatial=0 is not supported");
    char args[128];
    /* ONNX's momentum weighs the running statistics, cnn's (PyTorch's) the batch's: 1 - m,
     * to 6 digits so that 0.1 comes back as 0.1 through 0.9 (it matters for fine-tuning only). */
    char momentum[32];
    snprintf(momentum, sizeof momentum, "%.6g", 1.0 - (double)imp_attr_float(n, "momentum", 0.9f));
    snprintf(args, sizeof args, "eps=" G9 " momentum=%s", imp_attr_float(n, "epsilon", 1e-5f),
             momentum);
    if ((st = imp_add_layer(im, n, "batchnorm", &x, 1, args, &layer))) return st;
    const char *names[4] = {"weight", "bias", "running_mean", "running_var"};
    for (int k = 0; k < 4 && !st; k++) st = imp_set_tensor(im, layer, names[k], t[k], 1, 0);
    return st;
}

static cnn_status unary(importer *im, const onnx_node *n, const char *type, const char *args) {
    int x, layer;
    cnn_status st = imp_input_layer(im, n, 0, &x);
    return st ? st : imp_add_layer(im, n, type, &x, 1, args, &layer);
}

static cnn_status op_relu(importer *im, const onnx_node *n, int i) { return unary(im, n, "relu", NULL); }
static cnn_status op_sigmoid(importer *im, const onnx_node *n, int i) { return unary(im, n, "sigmoid", NULL); }
static cnn_status op_tanh(importer *im, const onnx_node *n, int i) { return unary(im, n, "tanh", NULL); }

static cnn_status op_leaky_relu(importer *im, const onnx_node *n, int i) {
    char args[64];
    snprintf(args, sizeof args, "slope=" G9, imp_attr_float(n, "alpha", 0.01f));
    return unary(im, n, "leaky_relu", args);
}

static cnn_status op_elu(importer *im, const onnx_node *n, int i) {
    char args[64];
    snprintf(args, sizeof args, "alpha=" G9, imp_attr_float(n, "alpha", 1.0f));
    return unary(im, n, "elu", args);
}

/* cnn's softmax is over the channels at each position. Opset 13 softmaxes along `axis`
 * (default -1); before 13 over all axes from `axis` on (default 1), flattened. */
static cnn_status op_softmax(importer *im, const onnx_node *n, int i) {
    int x;
    cnn_status st = imp_input_layer(im, n, 0, &x);
    if (st) return st;
    cnn_shape s = layer_shape(im, x);
    int rank = s.rank + 1;
    int64_t axis = imp_attr_int(n, "axis", im->m->opset >= 13 ? -1 : 1);
    if (axis < 0) axis += rank;
    int after = 1; /* positions after the channel axis */
    for (int d = 1; d < s.rank; d++) after *= s.dim[d];
    int ok = axis == 1 && (im->m->opset >= 13 || after == 1);
    if (!ok)
        return FAIL("softmax over axis %lld of a rank-%d input (opset %lld); cnn's softmax is "
                    "over the channels (axis 1)%s", (long long)axis, rank,
                    (long long)im->m->opset, im->m->opset < 13 ? " of a flat input" : "");
    return unary(im, n, "softmax", NULL);
}

/* ---------------------------------------------------------------------------------------------
 * Poolings
 * ------------------------------------------------------------------------------------------- */

static cnn_status pool_geom(importer *im, const onnx_node *n, int x, geom *g) {
    int in[2];
    if (spatial(im, x, in) != 2)
        return FAIL("pooling over (C, L) is not supported; cnn pools (C, H, W)");
    return read_geom(im, n, 2, in, NULL, g);
}

static cnn_status op_max_pool(importer *im, const onnx_node *n, int i) {
    int x, layer;
    geom g;
    cnn_status st = imp_input_layer(im, n, 0, &x);
    if (!st) st = pool_geom(im, n, x, &g);
    if (st) return st;
    int indices = imp_output_used(im, n, 1);
    if (indices && imp_attr_int(n, "storage_order", 0))
        return FAIL("Indices in column-major order (storage_order=1) are not supported");
    char args[256];
    int k = geom_args(&g, args, sizeof args, 1);
    snprintf(args + k, sizeof args - (size_t)k, " ceil_mode=%d", !!imp_attr_int(n, "ceil_mode", 0));
    if ((st = imp_add_layer(im, n, "max_pool2d", &x, 1, args, &layer))) return st;
    return imp_define(im, n, 1, (value){.kind = VALUE_INDICES, .layer = layer});
}

static cnn_status op_avg_pool(importer *im, const onnx_node *n, int i) {
    int x, pad[4], in[2], layer;
    const onnx_node *pn;
    geom g;
    cnn_status st = window_input(im, n, &x, pad, &pn);
    if (st) return st;
    if (spatial(im, x, in) != 2) return FAIL("pooling over (C, L) is not supported; cnn pools (C, H, W)");
    if ((st = read_geom(im, n, 2, in, NULL, &g))) return st;
    int include = !!imp_attr_int(n, "count_include_pad", 0);
    if (any_pad(pad)) {
        /* The Pad's zeros are values: counted. Its own padding must count alike. */
        if (!include && any_pad((int[4]){(int)g.pad[0], (int)g.pad[1], (int)g.pad[2], (int)g.pad[3]}))
            return FAIL("reads Pad node '%s' and pads with count_include_pad=0 itself: the two "
                        "paddings divide differently", pn->name);
        include = 1;
        add_pad(&g, pad);
    }
    char args[256];
    int k = geom_args(&g, args, sizeof args, 0);
    snprintf(args + k, sizeof args - (size_t)k, " ceil_mode=%d count_include_pad=%d",
             !!imp_attr_int(n, "ceil_mode", 0), include);
    return imp_add_layer(im, n, "avg_pool2d", &x, 1, args, &layer);
}

static cnn_status op_lp_pool(importer *im, const onnx_node *n, int i) {
    int x, layer;
    geom g;
    cnn_status st = imp_input_layer(im, n, 0, &x);
    if (!st) st = pool_geom(im, n, x, &g);
    if (st) return st;
    if (imp_attr_int(n, "p", 2) != 2) return FAIL("p=%lld; cnn has the L2 pooling only", (long long)imp_attr_int(n, "p", 2));
    if (g.pad[0] || g.pad[1] || g.pad[2] || g.pad[3]) return FAIL("padded LpPool is not supported");
    char args[128];
    snprintf(args, sizeof args, "kernel=%lldx%lld stride=%lldx%lld", (long long)g.k[0],
             (long long)g.k[1], (long long)g.s[0], (long long)g.s[1]);
    return imp_add_layer(im, n, "l2_pool2d", &x, 1, args, &layer);
}

/* The Flatten that cnn_onnx_save writes after a global pooling named P: "P.flatten", axis 1. */
static int is_own_flatten(const onnx_node *pool, const onnx_node *c) {
    size_t k = strlen(pool->name);
    return strcmp(c->op_type, "Flatten") == 0 && imp_attr_int(c, "axis", 1) == 1 &&
           strncmp(c->name, pool->name, k) == 0 && strcmp(c->name + k, ".flatten") == 0;
}

/* GlobalAveragePool is adaptive_avg_pool2d to 1x1, (C, H, W) to (C, 1, 1), and a Flatten after
 * it a flatten layer; followed by the Flatten cnn_onnx_save writes for a global_avg_pool, the
 * two are that layer again, (C, H, W) or (C, L) to (C). The same for the maximum. */
static cnn_status global_pool(importer *im, const onnx_node *n, const char *global,
                              const char *adaptive) {
    int x, layer, ci;
    cnn_status st = imp_input_layer(im, n, 0, &x);
    if (st) return st;
    const onnx_node *c = imp_sole_consumer(im, n, &ci);
    if (c && is_own_flatten(n, c)) {
        if ((st = imp_add_layer(im, n, global, &x, 1, NULL, &layer))) return st;
        im->skip[ci] = 1;
        return imp_define(im, c, 0, (value){.kind = VALUE_LAYER, .layer = layer});
    }
    if (layer_shape(im, x).rank != 3)
        return FAIL("a global pooling of a (C, L) input is supported only as cnn exports it");
    return imp_add_layer(im, n, adaptive, &x, 1, "out=1x1", &layer);
}

static cnn_status op_global_avg(importer *im, const onnx_node *n, int i) {
    return global_pool(im, n, "global_avg_pool", "adaptive_avg_pool2d");
}
static cnn_status op_global_max(importer *im, const onnx_node *n, int i) {
    return global_pool(im, n, "global_max_pool", "adaptive_max_pool2d");
}

/* MaxUnpool(X, I[, output_shape]) with I a MaxPool's Indices: cnn's max_unpool2d by that
 * pooling layer, whose input size is the output's. */
static cnn_status op_max_unpool(importer *im, const onnx_node *n, int i) {
    int in[2], layer, x;
    value *iv;
    cnn_status st = imp_input_layer(im, n, 0, &x);
    if (!st) st = imp_input(im, n, 1, &iv);
    if (st) return st;
    if (iv->kind != VALUE_INDICES)
        return FAIL("indices '%s' are not the Indices output of a MaxPool node", iv->name);
    if (spatial(im, x, in) != 2) return FAIL("the input must be (C, H, W)");
    geom g;
    if ((st = read_geom(im, n, 2, in, NULL, &g))) return st;
    int64_t out[2];
    for (int a = 0; a < 2; a++)
        out[a] = (in[a] - 1) * g.s[a] + g.k[a] - g.pad[2 * a] - g.pad[2 * a + 1];
    if (imp_has_input(n, 2)) {
        const onnx_tensor *os;
        if ((st = imp_input_const(im, n, 2, &os))) return st;
        if (!os->i || os->count != 4) return FAIL("output_shape must be 4 int64 values");
        out[0] = os->i[2];
        out[1] = os->i[3];
    }
    int pool_in = cnn_net_layer_input(im->net, iv->layer, 0);
    cnn_shape ps = layer_shape(im, pool_in);
    if (out[0] != ps.dim[1] || out[1] != ps.dim[2])
        return FAIL("output %lldx%lld differs from the size %dx%d that MaxPool '%s' read; cnn "
                    "unpools to the pooled input's size", (long long)out[0], (long long)out[1],
                    ps.dim[1], ps.dim[2], cnn_net_layer_name(im->net, iv->layer));
    int inputs[2] = {x, iv->layer};
    return imp_add_layer(im, n, "max_unpool2d", inputs, 2, NULL, &layer);
}

/* ---------------------------------------------------------------------------------------------
 * Dense layers: Gemm, MatMul (+ Add)
 * ------------------------------------------------------------------------------------------- */

static cnn_status flat_input(importer *im, const onnx_node *n, int *x) {
    cnn_status st = imp_input_layer(im, n, 0, x);
    if (st) return st;
    cnn_shape s = layer_shape(im, *x);
    char buf[64];
    if (s.rank != 1)
        return FAIL("reads a %s input; cnn's dense layer takes a flat (N, C) input",
                    cnn_shape_str(&s, buf, sizeof buf));
    return CNN_STATUS_OK;
}

/* The dense layer's bias from c: out values, or one broadcast, times beta. */
static cnn_status dense_bias(importer *im, int layer, int out, const onnx_tensor *c, float beta) {
    if (c->count == (size_t)out) return imp_set_tensor(im, layer, "bias", c, beta, 0);
    if (c->count != 1 || !c->f)
        return FAIL("bias '%s' has %zu values for %d outputs", c->name, c->count, out);
    onnx_tensor *full = imp_new_const(im, ONNX_FLOAT, 1, (int64_t[]){out});
    if (!full) return imp_fail(im, CNN_STATUS_NO_MEMORY, "out of memory");
    for (int k = 0; k < out; k++) full->f[k] = c->f[0];
    return imp_set_tensor(im, layer, "bias", full, beta, 0);
}

static cnn_status op_gemm(importer *im, const onnx_node *n, int i) {
    int x, layer;
    const onnx_tensor *b, *c = NULL;
    cnn_status st = flat_input(im, n, &x);
    if (!st) st = imp_input_const(im, n, 1, &b);
    if (!st && imp_has_input(n, 2)) st = imp_input_const(im, n, 2, &c);
    if (st) return st;
    if (imp_attr_int(n, "transA", 0)) return FAIL("transA=1 (the batch as features) is not supported");
    if (b->rank != 2) return FAIL("B '%s' has rank %d, not 2", b->name, b->rank);
    int trans = !!imp_attr_int(n, "transB", 0);
    int64_t out = b->dims[trans ? 0 : 1], in = b->dims[trans ? 1 : 0];
    if (in != layer_shape(im, x).dim[0])
        return FAIL("B '%s' takes %lld features; the input has %d", b->name, (long long)in,
                    layer_shape(im, x).dim[0]);
    float beta = imp_attr_float(n, "beta", 1.0f);
    char args[64];
    snprintf(args, sizeof args, "out=%lld bias=%d", (long long)out, c != NULL && beta != 0);
    if ((st = imp_add_layer(im, n, "dense", &x, 1, args, &layer))) return st;
    if ((st = imp_set_tensor(im, layer, "weight", b, imp_attr_float(n, "alpha", 1.0f), !trans)))
        return st;
    return c && beta != 0 ? dense_bias(im, layer, (int)out, c, beta) : CNN_STATUS_OK;
}

/* MatMul(x, B) with B (in, out) a constant; an Add of a constant that alone reads it is its
 * bias (PyTorch exports a Linear on a 2-D input so when not as Gemm). */
static cnn_status op_matmul(importer *im, const onnx_node *n, int i) {
    int x, layer, ci;
    const onnx_tensor *b, *c = NULL;
    cnn_status st = flat_input(im, n, &x);
    if (!st) st = imp_input_const(im, n, 1, &b);
    if (st) return st;
    if (b->rank != 2 || b->dims[0] != layer_shape(im, x).dim[0])
        return FAIL("B '%s' must be (in, out) with in = %d, the input's features", b->name,
                    layer_shape(im, x).dim[0]);
    const onnx_node *add = imp_sole_consumer(im, n, &ci);
    if (add && strcmp(add->op_type, "Add") == 0 && add->n_inputs == 2) {
        int other = strcmp(add->inputs[0], n->outputs[0]) == 0 ? 1 : 0;
        value *v = imp_value(im, add->inputs[other]);
        if (v && v->kind == VALUE_CONST) c = v->t;
    }
    char args[64];
    snprintf(args, sizeof args, "out=%lld bias=%d", (long long)b->dims[1], c != NULL);
    if ((st = imp_add_layer(im, n, "dense", &x, 1, args, &layer))) return st;
    if ((st = imp_set_tensor(im, layer, "weight", b, 1, 1))) return st;
    if (!c) return CNN_STATUS_OK;
    im->skip[ci] = 1;
    if ((st = dense_bias(im, layer, (int)b->dims[1], c, 1))) return st;
    return imp_define(im, add, 0, (value){.kind = VALUE_LAYER, .layer = layer});
}

/* ---------------------------------------------------------------------------------------------
 * Joins and shapes
 * ------------------------------------------------------------------------------------------- */

/* add or concat of activations: of more than cnn's 8 inputs a chain (DenseNet concatenates up
 * to 49 feature maps), each layer taking the one before and 7 more; of one (torchvision's
 * DenseNet has torch.cat([x], 1)), that activation. */
static cnn_status join(importer *im, const onnx_node *n, const char *type) {
    int xs[CNN_MAX_INPUTS], layer = -1;
    if (n->n_inputs < 1) return FAIL("no input");
    for (int k = 0; k < n->n_inputs;) {
        int m = 0;
        if (layer >= 0) xs[m++] = layer;
        for (; m < CNN_MAX_INPUTS && k < n->n_inputs; k++) {
            value *v;
            cnn_status st = imp_input(im, n, k, &v);
            if (st) return st;
            if (v->kind == VALUE_CONST)
                return FAIL("input '%s' is a constant: cnn adds, averages and concatenates "
                            "activations only (a constant bias is folded only into the MatMul "
                            "before it)",
                            v->name);
            if ((st = imp_input_layer(im, n, k, &xs[m++]))) return st;
        }
        if (m == 1) {
            layer = xs[0];
            break;
        }
        cnn_status st = imp_add_hidden_layer(im, n, type, xs, m, NULL, &layer);
        if (st) return st;
    }
    return imp_define(im, n, 0, (value){.kind = VALUE_LAYER, .layer = layer});
}

static cnn_status op_add(importer *im, const onnx_node *n, int i) { return join(im, n, "add"); }

/* Mean of up to 8 activations in one layer (a mean of means would weigh them unevenly). */
static cnn_status op_mean(importer *im, const onnx_node *n, int i) {
    if (n->n_inputs > CNN_MAX_INPUTS)
        return FAIL("a mean of %d inputs; cnn averages at most %d", n->n_inputs, CNN_MAX_INPUTS);
    return join(im, n, "mean");
}

/* Concat of activations along the channels, or of int64 constants (shape computations). */
static cnn_status op_concat(importer *im, const onnx_node *n, int i) {
    value *v;
    cnn_status st = imp_input(im, n, 0, &v);
    if (st) return st;
    if (v->kind == VALUE_CONST) return imp_const_concat(im, n, i);
    int x;
    if ((st = imp_input_layer(im, n, 0, &x))) return st;
    int64_t axis = imp_attr_int(n, "axis", 1);
    if (axis < 0) axis += layer_shape(im, x).rank + 1;
    if (axis != 1) return FAIL("concatenation along axis %lld; cnn concatenates channels (axis 1)", (long long)axis);
    return join(im, n, "concat");
}

static cnn_status op_flatten(importer *im, const onnx_node *n, int i) {
    int x, layer;
    cnn_status st = imp_input_layer(im, n, 0, &x);
    if (st) return st;
    cnn_shape s = layer_shape(im, x);
    int64_t axis = imp_attr_int(n, "axis", 1);
    if (axis < 0) axis += s.rank + 1;
    if (axis != 1) return FAIL("axis %lld; cnn flattens each sample (axis 1)", (long long)axis);
    if (s.rank == 1) return imp_define(im, n, 0, (value){.kind = VALUE_LAYER, .layer = x});
    return imp_add_layer(im, n, "flatten", &x, 1, NULL, &layer);
}

/* Reshape is imported when it flattens each sample or leaves it as it is. */
static cnn_status op_reshape(importer *im, const onnx_node *n, int i) {
    int x, layer;
    const onnx_tensor *t;
    value *data;
    cnn_status st = imp_input(im, n, 0, &data);
    if (st) return st;
    if (data->kind == VALUE_CONST) return imp_const_reshape(im, n, i);
    if (!st) st = imp_input_layer(im, n, 0, &x);
    if (!st) st = imp_input_const(im, n, 1, &t);
    if (st) return st;
    cnn_shape s = layer_shape(im, x);
    size_t numel = cnn_shape_numel(&s);
    if (!t->i || t->rank != 1 || t->count < 1 || t->count > 4)
        return FAIL("shape '%s' must be 1 to 4 int64 values", t->name);
    int allow_zero = (int)imp_attr_int(n, "allowzero", 0);
    int64_t dims[4];
    int infer = -1;
    size_t known = 1;
    for (int d = 0; d < (int)t->count; d++) {
        int64_t v = t->i[d];
        if (v == 0 && !allow_zero) v = d == 0 ? ONNX_BATCH : d <= s.rank ? s.dim[d - 1] : -2;
        if (d == 0 && (v == ONNX_BATCH || (im->input_batch > 0 && v == im->input_batch))) v = ONNX_BATCH;
        if (v == -1 && infer < 0) {
            infer = d;
        } else if (d > 0 && v >= 1 && v <= (int64_t)numel) {
            if ((known *= (size_t)v) > numel) return FAIL("the shape is larger than a sample");
        } else if (!(d == 0 && v == ONNX_BATCH)) {
            return FAIL("shape value %lld at %d is not supported", (long long)t->i[d], d);
        }
        dims[d] = v;
    }
    if (infer == 0) { /* (-1, rest...): the batch when the rest is one sample */
        if (known != numel) return FAIL("reshapes across samples");
        dims[0] = ONNX_BATCH;
    } else if (infer > 0) {
        if (known == 0 || numel % known) return FAIL("shape cannot hold %zu values per sample", numel);
        dims[infer] = (int64_t)(numel / known);
    } else if (known != numel) {
        return FAIL("reshapes a sample of %zu values into %zu", numel, known);
    }
    if (dims[0] != ONNX_BATCH) return FAIL("the first dimension must stay the batch");
    int same = (int)t->count == s.rank + 1;
    for (int d = 1; same && d < (int)t->count; d++) same = dims[d] == s.dim[d - 1];
    if (same) return imp_define(im, n, 0, (value){.kind = VALUE_LAYER, .layer = x});
    if (t->count != 2)
        return FAIL("reshape of a sample into %d dimensions; cnn reshapes only to flatten",
                    (int)t->count - 1);
    return imp_add_layer(im, n, "flatten", &x, 1, NULL, &layer);
}

/* Dropout is kept as a layer (nothing at inference, there again when fine-tuning). */
static cnn_status op_dropout(importer *im, const onnx_node *n, int i) {
    float ratio = imp_attr_float(n, "ratio", 0.5f);
    if (imp_has_input(n, 1)) {
        const onnx_tensor *r;
        cnn_status st = imp_input_const(im, n, 1, &r);
        if (st) return st;
        if (!r->f || r->count != 1) return FAIL("ratio must be one float");
        ratio = r->f[0];
    }
    if (imp_has_input(n, 2)) {
        const onnx_tensor *mode;
        cnn_status st = imp_input_const(im, n, 2, &mode);
        if (st) return st;
        if (mode->count != 1 || (mode->i ? mode->i[0] : mode->f[0]) != 0)
            return FAIL("training_mode must be false");
    }
    if (imp_output_used(im, n, 1)) return FAIL("the mask output is not supported");
    char args[64];
    snprintf(args, sizeof args, "p=" G9, ratio);
    return unary(im, n, "dropout", args);
}

static cnn_status op_identity(importer *im, const onnx_node *n, int i) {
    value *v;
    cnn_status st = imp_input(im, n, 0, &v);
    return st ? st : imp_define(im, n, 0, *v);
}

/* Pad with zeros: kept as a padded value, for the convolution or pooling that reads it. */
static cnn_status op_pad(importer *im, const onnx_node *n, int i) {
    value *v;
    cnn_status st = imp_input(im, n, 0, &v);
    if (st) return st;
    if (v->kind != VALUE_LAYER && v->kind != VALUE_PAD) return imp_input_layer(im, n, 0, &(int){0});
    if (strcmp(imp_attr_string(n, "mode", "constant"), "constant") != 0)
        return FAIL("mode '%s'; only zero padding is supported", imp_attr_string(n, "mode", ""));
    int64_t pads[8];
    int np = -1;
    float fill = imp_attr_float(n, "value", 0);
    if (im->m->opset >= 11) {
        const onnx_tensor *p, *c;
        if ((st = imp_input_const(im, n, 1, &p))) return st;
        if (!p->i || p->count > 8) return FAIL("pads must be at most 8 int64 values");
        memcpy(pads, p->i, p->count * sizeof *pads);
        np = (int)p->count;
        if (imp_has_input(n, 2)) {
            if ((st = imp_input_const(im, n, 2, &c))) return st;
            fill = c->count != 1 ? 1 : c->f ? c->f[0] : (float)c->i[0];
        }
        if (imp_has_input(n, 3)) return FAIL("the axes input is not supported");
    } else if ((st = imp_attr_ints(im, n, "pads", pads, 8, &np))) {
        return st;
    }
    if (fill != 0) return FAIL("padding with %g; only zeros are folded into the next layer", fill);
    cnn_shape s = layer_shape(im, v->layer);
    int rank = s.rank + 1;
    if (np != 2 * rank || s.rank < 2) return FAIL("pads has %d values for a rank-%d input", np, rank);
    if (pads[0] || pads[1] || pads[rank] || pads[rank + 1])
        return FAIL("pads the batch or channel axis");
    value out = *v;
    out.kind = VALUE_PAD;
    out.pad = n;
    int a0 = s.rank == 3 ? 0 : 2; /* a (C, L) input pads the length: cnn's l, r */
    for (int a = 2; a < rank; a++) {
        if (pads[a] < 0 || pads[a + rank] < 0 || pads[a] > 65535 || pads[a + rank] > 65535)
            return FAIL("negative pads (cropping) are not supported");
        out.pads[a0 + 2 * (a - 2)] += (int)pads[a];
        out.pads[a0 + 2 * (a - 2) + 1] += (int)pads[a + rank];
    }
    return imp_define(im, n, 0, out);
}

/* Upsample (opset 9) and Resize (10 on) with nearest neighbours and integer scales: cnn's
 * upsample, which repeats each value in a block. The coordinate modes that give those blocks
 * for integer scales are accepted; others are an error. */
static cnn_status op_resize(importer *im, const onnx_node *n, int i) {
    int x, layer, in[2] = {0, 0};
    cnn_status st = imp_input_layer(im, n, 0, &x);
    if (st) return st;
    int sp = spatial(im, x, in);
    if (strcmp(imp_attr_string(n, "mode", "nearest"), "nearest") != 0)
        return FAIL("mode '%s'; cnn upsamples with nearest neighbours only",
                    imp_attr_string(n, "mode", ""));
    int resize11 = strcmp(n->op_type, "Resize") == 0 && im->m->opset >= 11;
    if (resize11) {
        const char *ct = imp_attr_string(n, "coordinate_transformation_mode", "half_pixel");
        const char *nm = imp_attr_string(n, "nearest_mode", "round_prefer_floor");
        int asym = strcmp(ct, "asymmetric") == 0 && strcmp(nm, "floor") == 0;
        int half = (strcmp(ct, "half_pixel") == 0 || strcmp(ct, "pytorch_half_pixel") == 0) &&
                   strncmp(nm, "round_prefer_", 13) == 0;
        if (!asym && !half)
            return FAIL("coordinate_transformation_mode '%s' with nearest_mode '%s' does not "
                        "repeat blocks", ct, nm);
    }
    float scales[4] = {1, 1, 1, 1};
    const onnx_tensor *t = NULL;
    int scales_at = resize11 ? 2 : 1;
    if (strcmp(n->op_type, "Upsample") == 0 && im->m->opset < 9) {
        const onnx_attr *a = onnx_attr_find(n, "scales");
        if (!a || a->n != (size_t)sp + 2) return FAIL("attribute scales must have %d values", sp + 2);
        memcpy(scales, a->floats, a->n * sizeof *scales);
    } else if (imp_has_input(n, scales_at) &&
               !((st = imp_input_const(im, n, scales_at, &t))) && t->count > 0) {
        if (!t->f || t->count != (size_t)sp + 2) return FAIL("scales must be %d floats", sp + 2);
        memcpy(scales, t->f, t->count * sizeof *scales);
    } else if (st) {
        return st;
    } else if (resize11 && imp_has_input(n, 3)) {
        if ((st = imp_input_const(im, n, 3, &t))) return st;
        if (!t->i || t->count != (size_t)sp + 2) return FAIL("sizes must be %d int64 values", sp + 2);
        cnn_shape s = layer_shape(im, x);
        scales[1] = t->i[1] == s.dim[0] ? 1 : 0;
        for (int a = 0; a < sp; a++) scales[2 + a] = (float)t->i[2 + a] / (float)in[a];
    } else {
        return FAIL("neither scales nor sizes are given");
    }
    int f[2] = {1, 1};
    for (int a = 0; a < sp + 2; a++) {
        float s = scales[a];
        if (s != floorf(s) || s < 1 || s > 4096 || (a < 2 && s != 1))
            return FAIL("scale " G9 " on axis %d; cnn repeats by whole factors on the spatial "
                        "axes", s, a);
        if (a >= 2) f[a - 2 + (sp == 1)] = (int)s;
    }
    char args[64];
    snprintf(args, sizeof args, "scale=%dx%d", f[0], f[1]);
    return imp_add_layer(im, n, "upsample", &x, 1, args, &layer);
}

/* ---------------------------------------------------------------------------------------------
 * The table
 * ------------------------------------------------------------------------------------------- */

static const struct {
    const char *op;
    imp_op_fn fn;
} ops[] = {
    {"Add", op_add},
    {"AveragePool", op_avg_pool},
    {"BatchNormalization", op_batchnorm},
    {"Cast", imp_const_cast},
    {"Concat", op_concat},
    {"ConstantOfShape", imp_const_of_shape},
    {"Constant", imp_const_constant},
    {"Conv", op_conv},
    {"ConvTranspose", op_conv_transpose},
    {"Dropout", op_dropout},
    {"Elu", op_elu},
    {"Flatten", op_flatten},
    {"Gather", imp_const_gather},
    {"Gemm", op_gemm},
    {"GlobalAveragePool", op_global_avg},
    {"GlobalMaxPool", op_global_max},
    {"Identity", op_identity},
    {"LeakyRelu", op_leaky_relu},
    {"LpPool", op_lp_pool},
    {"MatMul", op_matmul},
    {"MaxPool", op_max_pool},
    {"MaxUnpool", op_max_unpool},
    {"Mean", op_mean},
    {"Pad", op_pad},
    {"Relu", op_relu},
    {"Reshape", op_reshape},
    {"Resize", op_resize},
    {"Shape", imp_const_shape},
    {"Sigmoid", op_sigmoid},
    {"Slice", imp_const_slice},
    {"Softmax", op_softmax},
    {"Sum", op_add},
    {"Squeeze", imp_const_squeeze},
    {"Tanh", op_tanh},
    {"Transpose", imp_const_transpose},
    {"Unsqueeze", imp_const_unsqueeze},
    {"Upsample", op_resize},
};

imp_op_fn imp_find_op(const char *op_type) {
    for (size_t k = 0; k < sizeof ops / sizeof ops[0]; k++)
        if (strcmp(ops[k].op, op_type) == 0) return ops[k].fn;
    return NULL;
}

int imp_op_list(char *buf, size_t size) {
    int at = 0;
    for (size_t k = 0; k < sizeof ops / sizeof ops[0]; k++) {
        int w = snprintf(buf + (size_t)at, (size_t)at < size ? size - (size_t)at : 0,
                         k ? ", %s" : "%s", ops[k].op);
        if (w < 0) return w;
        at += w;
    }
    return at;
}

/*
 * export.c - cnn network to ONNX model (opset 13): cnn_onnx_save.
 *
 * Each layer becomes the node of the same name (a global pooling adds a Flatten, an unpooling
 * a Shape), reading its input layers' outputs, which are named after the layers; parameters
 * become initializers named as PyTorch's state_dict keys ("conv1.weight"). A layer's
 * hyper-parameters are read from its canonical arguments (cnn_net_layer_args), the public
 * description of every layer, so no layer's internals are known here.
 */
#include "model.h"

#include <stdarg.h>
#include <string.h>

#define EXPORT_OPSET 13
#define EXPORT_IR_VERSION 7 /* the IR version of opset 13 (ONNX 1.8) */
#define MAX_ATTRS 8

typedef struct exporter {
    onnx_model m;
    cnn_net *net;
    int cap_nodes, cap_inits;
    int layer;     /* the layer being exported, for messages */
    char *err;
    size_t errlen;
    cnn_status status;
} exporter;

__attribute__((format(printf, 2, 3))) static int fail(exporter *ex, const char *fmt, ...) {
    if (ex->status) return -1;
    ex->status = CNN_STATUS_INVALID_ARGUMENT;
    if (ex->err && ex->errlen) {
        int k = snprintf(ex->err, ex->errlen, "%s '%s': ", cnn_net_layer_type(ex->net, ex->layer),
                         cnn_net_layer_name(ex->net, ex->layer));
        va_list ap;
        va_start(ap, fmt);
        if (k >= 0 && (size_t)k < ex->errlen) vsnprintf(ex->err + k, ex->errlen - (size_t)k, fmt, ap);
        va_end(ap);
    }
    return -1;
}

static int no_memory(exporter *ex) {
    if (!ex->status) {
        ex->status = CNN_STATUS_NO_MEMORY;
        cnn_set_error(ex->err, ex->errlen, CNN_STATUS_NO_MEMORY, "out of memory");
    }
    return -1;
}

/* ---------------------------------------------------------------------------------------------
 * A layer's canonical arguments ("out=6 kernel=5x5 stride=1 padding=2 ...")
 * ------------------------------------------------------------------------------------------- */

/* The value of key in args, copied into buf; 0, or -1 when absent (a bug: every key is there). */
static int arg(const char *args, const char *key, char *buf, size_t size) {
    size_t kl = strlen(key);
    for (const char *p = args; *p;) {
        while (*p == ' ') p++;
        const char *end = strchr(p, ' ');
        if (!end) end = p + strlen(p);
        if ((size_t)(end - p) > kl && strncmp(p, key, kl) == 0 && p[kl] == '=') {
            snprintf(buf, size, "%.*s", (int)(end - p - (long)kl - 1), p + kl + 1);
            return 0;
        }
        p = end;
    }
    CNN_ASSERT(!"a layer's canonical arguments lack a key");
    return -1;
}

/* "3" or "3x2" as two ints (rows, columns); a 1-D layer's one value is in v[0] and v[1]. */
static void arg_int2(const char *args, const char *key, int64_t v[2]) {
    char buf[64];
    arg(args, key, buf, sizeof buf);
    long long a = 0, b;
    int n = sscanf(buf, "%lldx%lld", &a, &b);
    v[0] = a;
    v[1] = n == 2 ? b : a;
}

static int64_t arg_int(const char *args, const char *key) {
    int64_t v[2];
    arg_int2(args, key, v);
    return v[0];
}

static float arg_float(const char *args, const char *key) {
    char buf[64];
    arg(args, key, buf, sizeof buf);
    return strtof(buf, NULL);
}

/* Padding as zeros before and after each axis (rows then columns; 1-D: the length twice):
 * "P", "PHxPW", "T:BxL:R", "valid", "same" (the layers' split: half before, the rest after)
 * and "causal" (all before). */
static void arg_pads(const char *args, const int64_t k[2], const int64_t d[2], int64_t pad[4]) {
    char buf[64];
    arg(args, "padding", buf, sizeof buf);
    memset(pad, 0, 4 * sizeof *pad);
    if (strcmp(buf, "valid") == 0) return;
    if (strcmp(buf, "same") == 0 || strcmp(buf, "causal") == 0) {
        for (int a = 0; a < 2; a++) {
            int64_t total = d[a] * (k[a] - 1);
            pad[2 * a] = buf[0] == 'c' ? total : total / 2;
            pad[2 * a + 1] = total - pad[2 * a];
        }
        return;
    }
    char *axis[2] = {buf, strchr(buf, 'x')};
    if (axis[1]) *axis[1]++ = 0;
    else axis[1] = buf;
    for (int a = 0; a < 2; a++) {
        long long before = 0, after;
        int n = sscanf(axis[a], "%lld:%lld", &before, &after);
        pad[2 * a] = before;
        pad[2 * a + 1] = n == 2 ? after : before;
    }
}

/* A window layer's geometry from its canonical arguments: kernel, stride (0, a pooling's
 * default, is the kernel), dilation and pads per axis (1 and 0 for layers without the key). */
typedef struct window {
    int64_t k[2], s[2], d[2], pad[4];
} window;

static window window_of(const char *args, int dilation, int pads) {
    window w = {.d = {1, 1}};
    arg_int2(args, "kernel", w.k);
    arg_int2(args, "stride", w.s);
    if (w.s[0] == 0) memcpy(w.s, w.k, sizeof w.s);
    if (dilation) arg_int2(args, "dilation", w.d);
    if (pads) arg_pads(args, w.k, w.d, w.pad);
    return w;
}

/* ---------------------------------------------------------------------------------------------
 * Building the model
 * ------------------------------------------------------------------------------------------- */

static const char *copy(exporter *ex, const char *s) {
    char *c = onnx_strdup(&ex->m, s);
    if (!c) no_memory(ex);
    return c ? c : "";
}

static const char *copyf(exporter *ex, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static const char *copyf(exporter *ex, const char *fmt, ...) {
    char buf[3 * CNN_NAME_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    return copy(ex, buf);
}

/* A new node: name, op type, inputs (NULL-terminated) and one output named as the node. */
static onnx_node *add_node(exporter *ex, const char *name, const char *op, const char *const *inputs) {
    if (ex->status) return NULL;
    CNN_ASSERT(ex->m.n_nodes < ex->cap_nodes);
    onnx_node *n = &ex->m.nodes[ex->m.n_nodes++];
    int count = 0;
    while (inputs[count]) count++;
    n->name = copy(ex, name);
    n->op_type = op;
    n->domain = "";
    n->inputs = onnx_alloc(&ex->m, (size_t)count + 1, sizeof *n->inputs);
    n->outputs = onnx_alloc(&ex->m, 2, sizeof *n->outputs);
    n->attrs = onnx_alloc(&ex->m, MAX_ATTRS, sizeof *n->attrs);
    if (!n->inputs || !n->outputs || !n->attrs) {
        no_memory(ex);
        return NULL;
    }
    for (int k = 0; k < count; k++) n->inputs[k] = copy(ex, inputs[k]);
    n->n_inputs = count;
    n->outputs[0] = n->name;
    n->n_outputs = 1;
    return n;
}

static onnx_attr *add_attr(exporter *ex, onnx_node *n, const char *name, int type) {
    if (!n) return NULL;
    CNN_ASSERT(n->n_attrs < MAX_ATTRS);
    onnx_attr *a = &n->attrs[n->n_attrs++];
    a->name = name;
    a->type = type;
    return a;
}

static void attr_int(exporter *ex, onnx_node *n, const char *name, int64_t v) {
    onnx_attr *a = add_attr(ex, n, name, ONNX_ATTR_INT);
    if (a) a->i = v;
}

static void attr_float(exporter *ex, onnx_node *n, const char *name, float v) {
    onnx_attr *a = add_attr(ex, n, name, ONNX_ATTR_FLOAT);
    if (a) a->f = v;
}

static void attr_string(exporter *ex, onnx_node *n, const char *name, const char *v) {
    onnx_attr *a = add_attr(ex, n, name, ONNX_ATTR_STRING);
    if (a) a->s = v;
}

static void attr_ints(exporter *ex, onnx_node *n, const char *name, const int64_t *v, int count) {
    onnx_attr *a = add_attr(ex, n, name, ONNX_ATTR_INTS);
    if (!a) return;
    a->ints = onnx_alloc(&ex->m, (size_t)count, sizeof *a->ints);
    if (!a->ints) {
        no_memory(ex);
        return;
    }
    memcpy(a->ints, v, (size_t)count * sizeof *v);
    a->n = (size_t)count;
}

/* An initializer named name: float data (not copied: it stays in the network) or int64. */
static onnx_tensor *add_init(exporter *ex, const char *name, int type, int rank,
                             const int64_t *dims) {
    if (ex->status) return NULL;
    CNN_ASSERT(ex->m.n_inits < ex->cap_inits);
    onnx_tensor *t = &ex->m.inits[ex->m.n_inits++];
    t->name = copy(ex, name);
    t->data_type = type;
    t->rank = rank;
    t->count = 1;
    for (int d = 0; d < rank; d++) {
        t->dims[d] = dims[d];
        t->count *= (size_t)dims[d];
    }
    if (type == ONNX_INT64 && !(t->i = onnx_alloc(&ex->m, t->count + 1, sizeof *t->i))) {
        no_memory(ex);
        return NULL;
    }
    if (type == ONNX_FLOAT && !(t->f = onnx_alloc(&ex->m, t->count + 1, sizeof *t->f))) {
        no_memory(ex);
        return NULL;
    }
    return t;
}

/* The layer's tensor `name` as an initializer "layer.name" (pointing into the network). */
static const char *param_init(exporter *ex, int layer, const char *name) {
    int count = cnn_net_param_tensor_count(ex->net, layer);
    for (int k = 0; k < count; k++) {
        cnn_param_tensor t;
        cnn_net_param_tensor(ex->net, layer, k, &t);
        if (strcmp(t.name, name) != 0) continue;
        const char *full = copyf(ex, "%s.%s", cnn_net_layer_name(ex->net, layer), name);
        if (ex->status) return "";
        CNN_ASSERT(ex->m.n_inits < ex->cap_inits);
        onnx_tensor *o = &ex->m.inits[ex->m.n_inits++];
        o->name = full;
        o->data_type = ONNX_FLOAT;
        o->rank = t.rank;
        for (int d = 0; d < t.rank; d++) o->dims[d] = t.dims[d];
        o->count = t.count;
        o->f = t.data;
        return full;
    }
    return NULL;
}

/* A float initializer of n values, all v. */
static const char *filled_init(exporter *ex, const char *name, int64_t n, float v) {
    onnx_tensor *t = add_init(ex, name, ONNX_FLOAT, 1, &n);
    for (int64_t k = 0; t && k < n; k++) t->f[k] = v;
    return t ? t->name : "";
}

/* ---------------------------------------------------------------------------------------------
 * Layers
 * ------------------------------------------------------------------------------------------- */

typedef struct layer_ctx {
    int layer;
    const char *name, *type;
    char args[512];
    const char *in[CNN_MAX_INPUTS + 1]; /* input value names, NULL-terminated */
    cnn_shape in_shape, shape;
} layer_ctx;

static void window_attrs(exporter *ex, onnx_node *n, const layer_ctx *l, int sp, int dilation,
                         int pads) {
    window w = window_of(l->args, dilation, pads);
    int64_t onnx_pads[4], *pad = w.pad;
    attr_ints(ex, n, "kernel_shape", w.k + 2 - sp, sp);
    attr_ints(ex, n, "strides", w.s + 2 - sp, sp);
    if (dilation) attr_ints(ex, n, "dilations", w.d + 2 - sp, sp);
    if (!pads) return;
    char mode[16];
    arg(l->args, "padding", mode, sizeof mode);
    if (strcmp(mode, "same") == 0) { /* stride 1: the extra zero after, as SAME_UPPER */
        attr_string(ex, n, "auto_pad", "SAME_UPPER");
        return;
    }
    if (sp == 1) { /* the length: the column axis of the text */
        onnx_pads[0] = pad[2];
        onnx_pads[1] = pad[3];
    } else { /* ONNX: the befores of every axis, then the afters */
        onnx_pads[0] = pad[0];
        onnx_pads[1] = pad[2];
        onnx_pads[2] = pad[1];
        onnx_pads[3] = pad[3];
    }
    attr_ints(ex, n, "pads", onnx_pads, 2 * sp);
}

static int export_conv(exporter *ex, const layer_ctx *l) {
    /* A Conv of the float weights would be another model, silently. */
    if (strstr(l->args, "quant=int8"))
        return fail(ex, "quant=int8 (cnn quantize) has no ONNX export: export the float model "
                        "it was made from");
    int sp = l->in_shape.rank - 1, transpose = strcmp(l->type, "conv_transpose2d") == 0;
    const char *w = param_init(ex, l->layer, "weight"), *b = param_init(ex, l->layer, "bias");
    const char *in[4] = {l->in[0], w, b, NULL};
    /* conv2d act=relu (cnn_net_fuse): Conv then Relu, the Relu's output the layer's name. */
    int relu = strstr(l->args, " act=relu") != NULL;
    const char *conv_name = relu ? copyf(ex, "%s.conv", l->name) : l->name;
    onnx_node *n = add_node(ex, conv_name, transpose ? "ConvTranspose" : "Conv", in);
    if (relu) {
        const char *r_in[2] = {conv_name, NULL};
        add_node(ex, l->name, "Relu", r_in);
    }
    window_attrs(ex, n, l, sp, 1, 1);
    attr_int(ex, n, "group", arg_int(l->args, "groups"));
    if (transpose) {
        int64_t op[2];
        arg_int2(l->args, "output_padding", op);
        attr_ints(ex, n, "output_padding", op, 2);
    }
    return 0;
}

static int export_dense(exporter *ex, const layer_ctx *l) {
    const char *w = param_init(ex, l->layer, "weight"), *b = param_init(ex, l->layer, "bias");
    const char *in[4] = {l->in[0], w, b, NULL};
    onnx_node *n = add_node(ex, l->name, "Gemm", in);
    attr_int(ex, n, "transB", 1);
    return 0;
}

static int export_batchnorm(exporter *ex, const layer_ctx *l) {
    int64_t C = l->shape.dim[0];
    const char *w = param_init(ex, l->layer, "weight"), *b = param_init(ex, l->layer, "bias");
    if (!w) w = filled_init(ex, copyf(ex, "%s.weight", l->name), C, 1);
    if (!b) b = filled_init(ex, copyf(ex, "%s.bias", l->name), C, 0);
    const char *in[6] = {l->in[0], w, b, param_init(ex, l->layer, "running_mean"),
                         param_init(ex, l->layer, "running_var"), NULL};
    onnx_node *n = add_node(ex, l->name, "BatchNormalization", in);
    attr_float(ex, n, "epsilon", arg_float(l->args, "eps"));
    attr_float(ex, n, "momentum", 1 - arg_float(l->args, "momentum"));
    return 0;
}

/* Layers that are one ONNX operator with no attribute, or one float attribute. */
static int export_simple(exporter *ex, const layer_ctx *l) {
    static const struct {
        const char *type, *op, *key, *attr;
    } map[] = {
        {"relu", "Relu", NULL, NULL},         {"sigmoid", "Sigmoid", NULL, NULL},
        {"tanh", "Tanh", NULL, NULL},         {"leaky_relu", "LeakyRelu", "slope", "alpha"},
        {"elu", "Elu", "alpha", "alpha"},     {"softmax", "Softmax", NULL, NULL},
        {"flatten", "Flatten", NULL, NULL},   {"concat", "Concat", NULL, NULL},
        {"mean", "Mean", NULL, NULL},
    };
    for (size_t k = 0; k < sizeof map / sizeof map[0]; k++) {
        if (strcmp(map[k].type, l->type) != 0) continue;
        onnx_node *n = add_node(ex, l->name, map[k].op, l->in);
        if (map[k].key) attr_float(ex, n, map[k].attr, arg_float(l->args, map[k].key));
        if (!strcmp(l->type, "softmax") || !strcmp(l->type, "flatten") || !strcmp(l->type, "concat"))
            attr_int(ex, n, "axis", 1);
        return 0;
    }
    CNN_ASSERT(!"export_simple called for a type it does not map");
    return -1;
}

static int export_add(exporter *ex, const layer_ctx *l) {
    /* act=relu (cnn_net_fuse): the sum, then a Relu whose output is the layer's name. */
    if (strstr(l->args, "act=relu")) {
        const char *sum = copyf(ex, "%s.add", l->name), *r_in[2] = {sum, NULL};
        add_node(ex, sum, l->in[2] ? "Sum" : "Add", l->in);
        add_node(ex, l->name, "Relu", r_in);
    } else {
        add_node(ex, l->name, l->in[2] ? "Sum" : "Add", l->in);
    }
    return 0;
}

static int export_dropout(exporter *ex, const layer_ctx *l) {
    onnx_tensor *r = add_init(ex, copyf(ex, "%s.ratio", l->name), ONNX_FLOAT, 0, NULL);
    if (!r) return -1;
    r->f[0] = arg_float(l->args, "p");
    const char *in[3] = {l->in[0], r->name, NULL};
    add_node(ex, l->name, "Dropout", in);
    return 0;
}

/* ceil_mode as ONNX reads it. PyTorch (and cnn) drop a last window that would start in the
 * right padding; ONNX's size rule does not. Where that happens the sizes are those of rounding
 * down, so ceil_mode=0 is written; otherwise the layer's own. -1 when neither gives the
 * layer's sizes (one axis rounded up, the other's last window dropped). */
static int onnx_ceil_mode(const layer_ctx *l, int dilation) {
    int ceil = (int)arg_int(l->args, "ceil_mode");
    if (!ceil) return 0;
    window w = window_of(l->args, dilation, 1);
    int fits_up = 1, fits_down = 1;
    for (int a = 0; a < 2; a++) {
        int64_t span = l->in_shape.dim[1 + a] + w.pad[2 * a] + w.pad[2 * a + 1] -
                       (w.d[a] * (w.k[a] - 1) + 1);
        fits_up &= (span + w.s[a] - 1) / w.s[a] + 1 == l->shape.dim[1 + a];
        fits_down &= span / w.s[a] + 1 == l->shape.dim[1 + a];
    }
    return fits_up ? 1 : fits_down ? 0 : -1;
}

static int export_pool(exporter *ex, const layer_ctx *l) {
    const char *op = !strcmp(l->type, "max_pool2d") ? "MaxPool"
                   : !strcmp(l->type, "avg_pool2d") ? "AveragePool" : "LpPool";
    onnx_node *n = add_node(ex, l->name, op, l->in);
    window_attrs(ex, n, l, 2, op[0] == 'M', op[0] != 'L');
    int ceil = op[0] == 'L' ? 0 : onnx_ceil_mode(l, op[0] == 'M');
    if (ceil < 0)
        return fail(ex, "ceil_mode rounds one axis up and drops the other's last window (which "
                        "starts in the padding): ONNX's ceil_mode cannot say that");
    if (op[0] != 'L') attr_int(ex, n, "ceil_mode", ceil);
    if (op[0] == 'A') attr_int(ex, n, "count_include_pad", arg_int(l->args, "count_include_pad"));
    if (op[0] == 'L') attr_int(ex, n, "p", 2);
    if (n && op[0] == 'M') { /* the Indices, for a max_unpool2d that reads this layer */
        n->outputs[1] = copyf(ex, "%s.indices", l->name);
        n->n_outputs = 2;
    }
    return 0;
}

/* global_avg_pool (C, H, W) or (C, L) to (C): GlobalAveragePool then Flatten. */
static int export_global(exporter *ex, const layer_ctx *l) {
    const char *pooled = copyf(ex, "%s.pool", l->name);
    onnx_node *n = add_node(ex, l->name, strstr(l->type, "avg") ? "GlobalAveragePool" : "GlobalMaxPool", l->in);
    if (n) n->outputs[0] = pooled;
    const char *in[2] = {pooled, NULL};
    n = add_node(ex, l->name, "Flatten", in);
    if (n) n->name = copyf(ex, "%s.flatten", l->name);
    attr_int(ex, n, "axis", 1);
    return 0;
}

/* adaptive pooling: to 1x1 the global pooling; with bins of equal size an ordinary one. */
static int export_adaptive(exporter *ex, const layer_ctx *l) {
    int max = strstr(l->type, "max") != NULL;
    int H = l->in_shape.dim[1], W = l->in_shape.dim[2], OH = l->shape.dim[1], OW = l->shape.dim[2];
    if (OH == 1 && OW == 1) {
        add_node(ex, l->name, max ? "GlobalMaxPool" : "GlobalAveragePool", l->in);
        return 0;
    }
    if (H % OH || W % OW)
        return fail(ex, "from %dx%d to %dx%d the bins differ in size, which no ONNX operator "
                        "computes", H, W, OH, OW);
    onnx_node *n = add_node(ex, l->name, max ? "MaxPool" : "AveragePool", l->in);
    int64_t k[2] = {H / OH, W / OW};
    attr_ints(ex, n, "kernel_shape", k, 2);
    attr_ints(ex, n, "strides", k, 2);
    if (n && max) {
        n->outputs[1] = copyf(ex, "%s.indices", l->name);
        n->n_outputs = 2;
    }
    return 0;
}

/* upsample: Resize with integer scales, nearest neighbours on the floor of x / scale. */
static int export_upsample(exporter *ex, const layer_ctx *l) {
    int64_t f[2], sp = l->in_shape.rank - 1, four = sp + 2;
    arg_int2(l->args, "scale", f);
    onnx_tensor *s = add_init(ex, copyf(ex, "%s.scales", l->name), ONNX_FLOAT, 1, &four);
    if (!s) return -1;
    s->f[0] = s->f[1] = 1;
    if (sp == 2) {
        s->f[2] = (float)f[0];
        s->f[3] = (float)f[1];
    } else {
        s->f[2] = (float)f[1];
    }
    const char *in[4] = {l->in[0], "", s->name, NULL};
    onnx_node *n = add_node(ex, l->name, "Resize", in);
    attr_string(ex, n, "mode", "nearest");
    attr_string(ex, n, "coordinate_transformation_mode", "asymmetric");
    attr_string(ex, n, "nearest_mode", "floor");
    return 0;
}

/* max_unpool2d by a pooling layer: MaxUnpool of that pooling's Indices, to the size of the
 * pooling's input (output_shape = Shape of it, which carries the batch). */
static int export_unpool(exporter *ex, const layer_ctx *l) {
    int pool = cnn_net_layer_input(ex->net, l->layer, 1);
    const char *ptype = cnn_net_layer_type(ex->net, pool);
    if (strcmp(ptype, "max_pool2d") != 0 && strcmp(ptype, "adaptive_max_pool2d") != 0)
        return fail(ex, "the indices form (indices from layer '%s') has no ONNX equivalent; "
                        "only unpooling by a max pooling layer exports",
                    cnn_net_layer_name(ex->net, pool));
    int pool_in = cnn_net_layer_input(ex->net, pool, 0);
    const char *shape_in[2] = {cnn_net_layer_name(ex->net, pool_in), NULL};
    onnx_node *s = add_node(ex, copyf(ex, "%s.shape", l->name), "Shape", shape_in);
    const char *in[4] = {l->in[0], copyf(ex, "%s.indices", cnn_net_layer_name(ex->net, pool)),
                         s ? s->outputs[0] : "", NULL};
    char pargs[512];
    cnn_net_layer_args(ex->net, pool, pargs, sizeof pargs);
    onnx_node *n = add_node(ex, l->name, "MaxUnpool", in);
    if (strcmp(ptype, "max_pool2d") == 0) {
        window w = window_of(pargs, 1, 1);
        int64_t onnx_pads[4] = {w.pad[0], w.pad[2], w.pad[1], w.pad[3]};
        attr_ints(ex, n, "kernel_shape", w.k, 2);
        attr_ints(ex, n, "strides", w.s, 2);
        attr_ints(ex, n, "pads", onnx_pads, 4);
    } else {
        cnn_shape ps = cnn_net_layer_shape(ex->net, pool);
        int64_t k[2] = {cnn_net_layer_shape(ex->net, pool_in).dim[1] / ps.dim[1],
                        cnn_net_layer_shape(ex->net, pool_in).dim[2] / ps.dim[2]};
        attr_ints(ex, n, "kernel_shape", k, 2);
        attr_ints(ex, n, "strides", k, 2);
    }
    return 0;
}

typedef int (*export_fn)(exporter *ex, const layer_ctx *l);

static const struct {
    const char *type;
    export_fn fn;
} exporters[] = {
    {"conv2d", export_conv},           {"conv1d", export_conv},
    {"conv_transpose2d", export_conv}, {"dense", export_dense},
    {"batchnorm", export_batchnorm},   {"relu", export_simple},
    {"leaky_relu", export_simple},     {"elu", export_simple},
    {"sigmoid", export_simple},        {"tanh", export_simple},
    {"softmax", export_simple},        {"flatten", export_simple},
    {"concat", export_simple},         {"add", export_add},
    {"mean", export_simple},
    {"dropout", export_dropout},       {"max_pool2d", export_pool},
    {"avg_pool2d", export_pool},       {"l2_pool2d", export_pool},
    {"global_avg_pool", export_global}, {"global_max_pool", export_global},
    {"adaptive_avg_pool2d", export_adaptive}, {"adaptive_max_pool2d", export_adaptive},
    {"upsample", export_upsample},     {"max_unpool2d", export_unpool},
};

/* The graph input or output for a layer: (N, its shape). */
static void set_value(exporter *ex, onnx_value *v, int layer) {
    cnn_shape s = cnn_net_layer_shape(ex->net, layer);
    v->name = copy(ex, cnn_net_layer_name(ex->net, layer));
    v->elem_type = ONNX_FLOAT;
    v->rank = s.rank + 1;
    v->dims[0] = -1;
    for (int d = 0; d < s.rank; d++) v->dims[d + 1] = s.dim[d];
}

static int export_layer(exporter *ex, int layer) {
    layer_ctx l = {.layer = layer};
    l.name = cnn_net_layer_name(ex->net, layer);
    l.type = cnn_net_layer_type(ex->net, layer);
    l.shape = cnn_net_layer_shape(ex->net, layer);
    cnn_net_layer_args(ex->net, layer, l.args, sizeof l.args);
    int n_in = cnn_net_layer_input_count(ex->net, layer);
    for (int k = 0; k < n_in; k++) l.in[k] = cnn_net_layer_name(ex->net, cnn_net_layer_input(ex->net, layer, k));
    if (n_in) l.in_shape = cnn_net_layer_shape(ex->net, cnn_net_layer_input(ex->net, layer, 0));
    for (size_t k = 0; k < sizeof exporters / sizeof exporters[0]; k++)
        if (strcmp(exporters[k].type, l.type) == 0) return exporters[k].fn(ex, &l);
    return fail(ex, "layer type %s has no ONNX export", l.type);
}

/* The preprocessing as metadata "cnn.preprocess": the checkpoint section's bytes in hex. */
static void export_preprocess(exporter *ex) {
    if (!ex->net->prep.set) return;
    size_t size;
    unsigned char *bytes = cnn_prep_encode(ex->net, &size);
    char *hex = bytes ? onnx_alloc(&ex->m, 2 * size + 1, 1) : NULL;
    ex->m.meta_keys = onnx_alloc(&ex->m, 1, sizeof *ex->m.meta_keys);
    ex->m.meta_values = onnx_alloc(&ex->m, 1, sizeof *ex->m.meta_values);
    if (!hex || !ex->m.meta_keys || !ex->m.meta_values) {
        cnn_free(bytes);
        no_memory(ex);
        return;
    }
    for (size_t k = 0; k < size; k++) snprintf(hex + 2 * k, 3, "%02x", bytes[k]);
    cnn_free(bytes);
    ex->m.meta_keys[0] = "cnn.preprocess";
    ex->m.meta_values[0] = hex;
    ex->m.n_meta = 1;
}

/* The graph outputs: the network's output, then every other layer whose output nothing reads
 * (GoogLeNet's auxiliary classifiers): an importer keeps only what the outputs need. */
static void add_outputs(exporter *ex) {
    int layers = cnn_net_layer_count(ex->net), out = cnn_net_output_layer(ex->net);
    char *read = onnx_alloc(&ex->m, (size_t)layers, 1);
    if (!read) {
        no_memory(ex);
        return;
    }
    for (int l = 0; l < layers; l++)
        for (int k = 0; k < cnn_net_layer_input_count(ex->net, l); k++)
            read[cnn_net_layer_input(ex->net, l, k)] = 1;
    set_value(ex, &ex->m.outputs[ex->m.n_outputs++], out);
    for (int l = 0; l < layers; l++)
        if (!read[l] && l != out) set_value(ex, &ex->m.outputs[ex->m.n_outputs++], l);
}

static cnn_status build(exporter *ex) {
    cnn_net *net = ex->net;
    int layers = cnn_net_layer_count(net);
    onnx_model *m = &ex->m;
    m->ir_version = EXPORT_IR_VERSION;
    m->opset = EXPORT_OPSET;
    m->producer_name = "cnn";
    m->producer_version = cnn_version();
    m->graph_name = "cnn";
    ex->cap_nodes = 2 * layers + 1;
    ex->cap_inits = 4 * layers + 1;
    m->nodes = onnx_alloc(m, (size_t)ex->cap_nodes, sizeof *m->nodes);
    m->inits = onnx_alloc(m, (size_t)ex->cap_inits, sizeof *m->inits);
    m->inputs = onnx_alloc(m, (size_t)cnn_net_input_count(net) + 1, sizeof *m->inputs);
    m->outputs = onnx_alloc(m, (size_t)layers + 1, sizeof *m->outputs);
    if (!m->nodes || !m->inits || !m->inputs || !m->outputs) return no_memory(ex), ex->status;
    for (int i = 0; i < layers && !ex->status; i++) {
        ex->layer = i;
        if (strcmp(cnn_net_layer_type(net, i), "input") == 0)
            set_value(ex, &m->inputs[m->n_inputs++], i);
        else
            export_layer(ex, i);
    }
    if (!ex->status) add_outputs(ex);
    if (!ex->status) export_preprocess(ex);
    return ex->status;
}

cnn_status cnn_onnx_save(const char *path, cnn_net *net, char *err, size_t errlen) {
    exporter ex = {.net = net, .err = err, .errlen = errlen};
    if (cnn_net_layer_count(net) < 2)
        return cnn_set_error(err, errlen, CNN_STATUS_INVALID_ARGUMENT,
                             "%s: the network has no layer to export", path);
    cnn_status st = build(&ex);
    if (!st) {
        size_t size;
        uint8_t *bytes = onnx_model_write(&ex.m, &size);
        st = bytes ? cnn_write_file_atomic(path, bytes, size, err, errlen)
                   : cnn_set_error(err, errlen, CNN_STATUS_NO_MEMORY, "%s: out of memory", path);
        cnn_free(bytes);
    } else if (err && errlen) {
        char msg[1024];
        snprintf(msg, sizeof msg, "%s", err);
        snprintf(err, errlen, "%s: %s", path, msg);
    }
    onnx_model_free(&ex.m);
    return st;
}

int cnn_is_onnx(const char *path) {
    size_t n = strlen(path);
    return n > 5 && strcmp(path + n - 5, ".onnx") == 0;
}

/*
 * zoo.c - the model zoo: classic convolutional networks written out as network text
 * (docs/FORMAT.md) for any input size and number of classes, and built by cnn_net_from_text.
 *
 * Each model is a short C function that emits its layers through the z_* helpers below, with
 * loops for the repeated blocks. The helpers follow each layer's output shape as they go (the
 * formulas of the layers' own shape inference, for the few layer types used here) so that
 *   - the text carries the shapes as comments, which makes it readable on its own;
 *   - an input too small for a model is reported by cnn_model_text itself, naming the layer
 *     that runs out of pixels and the smallest input that works, rather than as a shape error
 *     deep inside a definition the user never wrote.
 * The network built from the text does its own, authoritative shape inference.
 *
 * Layer names follow torchvision's module names where the model is torchvision's
 * (features.0, layer1.0.conv1, features.denseblock1.denselayer1.norm1, ...), so that weights
 * saved from PyTorch map onto the layers by name. Layers that are functional calls in
 * torchvision (the ReLUs of a residual block, the flatten before a classifier) get names in the
 * same style.
 *
 * Shape letters: C channels, H height, W width of one sample.
 */
#include "../core/internal.h"

#include <limits.h>
#include <stdarg.h>
#include <string.h>

#define LEN(a) ((int)(sizeof(a) / sizeof((a)[0])))

/* ---------------------------------------------------------------------------------------------
 * The emitter: layers as lines of text, with their shapes
 * ------------------------------------------------------------------------------------------- */

enum { Z_OK, Z_TOO_SMALL, Z_BAD_SIZE };

/* A layer emitted so far. */
typedef struct zt {
    char name[CNN_NAME_MAX];
    int c, h, w;    /* h = w = 0: a flat vector of c values */
    int in_h, in_w; /* max_pool2d: the size of its input, which max_unpool2d restores */
} zt;

typedef struct zoo {
    char *text; /* the definition so far (NULL in a dry run) */
    size_t len, cap;
    int dry;  /* follow the shapes only: used to search for the smallest input */
    int oom;  /* an allocation failed: the text is incomplete */
    int fail; /* Z_OK, or the kind of the first shape error, described in err */
    char err[512];
    char scope[CNN_NAME_MAX]; /* prefix of the layer names, like "layer1.0" ("" for none) */
    char prev[CNN_NAME_MAX];  /* the layer on the line before: a chain needs no input list */
    char names[4][CNN_NAME_MAX];
    int next_name;
    const char *init; /* the weights' init of the convolutions and dense layers (NULL: theirs) */
} zoo;

static void z_append(zoo *z, const char *s) {
    if (z->dry || z->oom) return;
    size_t n = strlen(s);
    if (z->len + n + 1 > z->cap) {
        size_t cap = z->cap ? z->cap : 4096;
        while (z->len + n + 1 > cap) cap *= 2;
        char *t = cnn_realloc(z->text, cap);
        if (!t) {
            z->oom = 1;
            return;
        }
        z->text = t;
        z->cap = cap;
    }
    memcpy(z->text + z->len, s, n + 1);
    z->len += n;
}

static void z_fail(zoo *z, int kind, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

static void z_fail(zoo *z, int kind, const char *fmt, ...) {
    if (z->fail) return; /* the first error is the one that explains the others */
    z->fail = kind;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(z->err, sizeof z->err, fmt, ap);
    va_end(ap);
}

/* A name built printf-style, valid until four more names are built: enough for the one or two
 * a helper call needs at a time. */
static const char *nm(zoo *z, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static const char *nm(zoo *z, const char *fmt, ...) {
    char *buf = z->names[z->next_name];
    z->next_name = (z->next_name + 1) % LEN(z->names);
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(buf, CNN_NAME_MAX, fmt, ap);
    va_end(ap);
    CNN_ASSERT(n > 0 && n < CNN_NAME_MAX);
    return buf;
}

/* Sets the prefix of the layer names that follow ("" for none). */
static void z_scope(zoo *z, const char *scope) {
    snprintf(z->scope, sizeof z->scope, "%s", scope);
}

/* The full name of a layer: the scope, a dot, the local name. */
static void full_name(const zoo *z, const char *name, char *out) {
    int n = z->scope[0] ? snprintf(out, CNN_NAME_MAX, "%s.%s", z->scope, name)
                        : snprintf(out, CNN_NAME_MAX, "%s", name);
    CNN_ASSERT(n > 0 && n < CNN_NAME_MAX);
}

static void shape_text(const zt *t, char *buf, size_t size) {
    if (t->h) snprintf(buf, size, "%dx%dx%d", t->c, t->h, t->w);
    else snprintf(buf, size, "%d", t->c);
}

/* Appends printf-style to a fixed buffer of arguments. */
static void arg(char *buf, size_t size, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

static void arg(char *buf, size_t size, const char *fmt, ...) {
    size_t used = strlen(buf);
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(buf + used, size - used, fmt, ap);
    va_end(ap);
    CNN_ASSERT(n >= 0 && (size_t)n < size - used);
}

/* Emits "name = type(inputs) args  # shape" and returns the new layer of shape c x h x w. The
 * input list is left out when the only input is the line before; the shape comment when the
 * layer keeps its input's shape. */
static zt z_layer(zoo *z, const char *type, const char *name, int n_in, const zt *const *in,
                  int c, int h, int w, const char *args) {
    zt t = {.c = c, .h = h, .w = w};
    full_name(z, name, t.name);
    char line[1024];
    snprintf(line, sizeof line, "%s = %s", t.name, type);
    if (n_in > 1 || (n_in == 1 && strcmp(in[0]->name, z->prev) != 0)) {
        arg(line, sizeof line, "(");
        for (int i = 0; i < n_in; i++) arg(line, sizeof line, "%s%s", i ? ", " : "", in[i]->name);
        arg(line, sizeof line, ")");
    }
    if (args && args[0]) arg(line, sizeof line, " %s", args);
    if (n_in > 0 && (in[0]->c != c || in[0]->h != h || in[0]->w != w)) {
        char s[64];
        shape_text(&t, s, sizeof s);
        size_t len = strlen(line);
        /* The shapes in one column where the lines allow it. */
        arg(line, sizeof line, "%*s# %s", len < 60 ? (int)(60 - len) : 2, "", s);
    }
    arg(line, sizeof line, "\n");
    z_append(z, line);
    snprintf(z->prev, sizeof z->prev, "%s", t.name);
    return t;
}

static zt z_input(zoo *z, int c, int h, int w) {
    char args[64];
    snprintf(args, sizeof args, "shape=%dx%dx%d", c, h, w);
    return z_layer(z, "input", "input", 0, NULL, c, h, w, args);
}

/* Reports a window (kernel) that does not fit in the padded input. */
static void too_small(zoo *z, const char *type, const char *name, const zt *x, int k, int s,
                      int p) {
    char full[CNN_NAME_MAX], sx[64];
    full_name(z, name, full);
    shape_text(x, sx, sizeof sx);
    z_fail(z, Z_TOO_SMALL,
           "%s '%s' (kernel %dx%d, stride %d, padding %d) would get a %s input, smaller than "
           "its window",
           type, full, k, k, s, p, sx);
}

/* Convolution: square kernel k, stride s, padding p on each side. */
static zt z_conv(zoo *z, const zt *x, const char *name, int out, int k, int s, int p,
                 int groups, int bias) {
    if (z->fail) return *x;
    CNN_ASSERT(x->h > 0 && x->c % groups == 0 && out % groups == 0);
    int nh = x->h + 2 * p - k, nw = x->w + 2 * p - k;
    if (nh < 0 || nw < 0) {
        too_small(z, "conv2d", name, x, k, s, p);
        return *x;
    }
    char args[128] = "";
    arg(args, sizeof args, "out=%d kernel=%d", out, k);
    if (s != 1) arg(args, sizeof args, " stride=%d", s);
    if (p) arg(args, sizeof args, " padding=%d", p);
    if (groups != 1) arg(args, sizeof args, " groups=%d", groups);
    if (!bias) arg(args, sizeof args, " bias=0");
    if (z->init) arg(args, sizeof args, " init=%s", z->init);
    return z_layer(z, "conv2d", name, 1, &x, out, nh / s + 1, nw / s + 1, args);
}

/* Transposed convolution without padding: (H - 1) s + k rows. */
static zt z_convt(zoo *z, const zt *x, const char *name, int out, int k, int s) {
    if (z->fail) return *x;
    char args[96] = "";
    arg(args, sizeof args, "out=%d kernel=%d stride=%d", out, k, s);
    return z_layer(z, "conv_transpose2d", name, 1, &x, out, (x->h - 1) * s + k,
                   (x->w - 1) * s + k, args);
}

/* Batch normalisation; eps 0 stands for the default 1e-5. */
static zt z_bn(zoo *z, const zt *x, const char *name, double eps) {
    if (z->fail) return *x;
    char args[32] = "";
    if (eps > 0) arg(args, sizeof args, "eps=%g", eps);
    return z_layer(z, "batchnorm", name, 1, &x, x->c, x->h, x->w, args);
}

static zt z_relu(zoo *z, const zt *x, const char *name) {
    if (z->fail) return *x;
    return z_layer(z, "relu", name, 1, &x, x->c, x->h, x->w, NULL);
}

static zt z_dropout(zoo *z, const zt *x, const char *name, double p) {
    if (z->fail) return *x;
    char args[32] = "";
    if (p != 0.5) arg(args, sizeof args, "p=%g", p);
    return z_layer(z, "dropout", name, 1, &x, x->c, x->h, x->w, args);
}

/* Output size of a pooling window as PyTorch computes it; 0 when the window does not fit. In
 * ceil_mode a last, partial window counts if it starts inside the input or its left padding. */
static int pool_out(int n, int k, int s, int p, int ceil_mode) {
    int span = n + 2 * p - k;
    if (!ceil_mode) return span < 0 ? 0 : span / s + 1;
    if (span < -(s - 1)) return 0;
    int o = (span + s - 1) / s + 1;
    if ((o - 1) * s >= n + p) o--;
    return o;
}

static zt z_pool(zoo *z, const zt *x, const char *type, const char *name, int k, int s, int p,
                 int ceil_mode) {
    if (z->fail) return *x;
    int oh = pool_out(x->h, k, s, p, ceil_mode), ow = pool_out(x->w, k, s, p, ceil_mode);
    if (oh < 1 || ow < 1) {
        too_small(z, type, name, x, k, s, p);
        return *x;
    }
    char args[96] = "";
    arg(args, sizeof args, "kernel=%d", k);
    if (s != k) arg(args, sizeof args, " stride=%d", s);
    if (p) arg(args, sizeof args, " padding=%d", p);
    if (ceil_mode) arg(args, sizeof args, " ceil_mode=1");
    zt t = z_layer(z, type, name, 1, &x, x->c, oh, ow, args);
    t.in_h = x->h;
    t.in_w = x->w;
    return t;
}

static zt z_maxpool(zoo *z, const zt *x, const char *name, int k, int s, int p, int ceil_mode) {
    return z_pool(z, x, "max_pool2d", name, k, s, p, ceil_mode);
}

static zt z_avgpool(zoo *z, const zt *x, const char *name, int k, int s, int p, int ceil_mode) {
    return z_pool(z, x, "avg_pool2d", name, k, s, p, ceil_mode);
}

/* Places x at the positions where `pool` found its maxima: the size of pool's input. */
static zt z_unpool(zoo *z, const zt *x, const zt *pool, const char *name) {
    if (z->fail) return *x;
    CNN_ASSERT(x->c == pool->c && pool->in_h > 0);
    if (x->h != pool->h || x->w != pool->w) {
        z_fail(z, Z_BAD_SIZE, "cannot unpool '%s' %dx%d with the indices of '%s' %dx%d",
               x->name, x->h, x->w, pool->name, pool->h, pool->w);
        return *x;
    }
    const zt *in[2] = {x, pool};
    return z_layer(z, "max_unpool2d", name, 2, in, x->c, pool->in_h, pool->in_w, NULL);
}

static zt z_gap(zoo *z, const zt *x, const char *name) {
    if (z->fail) return *x;
    return z_layer(z, "global_avg_pool", name, 1, &x, x->c, 0, 0, NULL);
}

static zt z_flatten(zoo *z, const zt *x, const char *name) {
    if (z->fail) return *x;
    long long n = (long long)x->c * x->h * x->w;
    if (n > INT_MAX) {
        z_fail(z, Z_BAD_SIZE, "flatten '%s' would give %lld values per sample, more than a layer "
               "holds", x->name, n);
        return *x;
    }
    return z_layer(z, "flatten", name, 1, &x, (int)n, 0, 0, NULL);
}

static zt z_dense(zoo *z, const zt *x, const char *name, int out) {
    if (z->fail) return *x;
    CNN_ASSERT(x->h == 0);
    char args[64] = "";
    arg(args, sizeof args, "out=%d", out);
    if (z->init) arg(args, sizeof args, " init=%s", z->init);
    return z_layer(z, "dense", name, 1, &x, out, 0, 0, args);
}

static zt z_add(zoo *z, const char *name, const zt *a, const zt *b) {
    if (z->fail) return *a;
    if (a->c != b->c || a->h != b->h || a->w != b->w) {
        z_fail(z, Z_BAD_SIZE, "cannot add '%s' %dx%dx%d and '%s' %dx%dx%d", a->name, a->c,
               a->h, a->w, b->name, b->c, b->h, b->w);
        return *a;
    }
    const zt *in[2] = {a, b};
    return z_layer(z, "add", name, 2, in, a->c, a->h, a->w, NULL);
}

static zt z_concat(zoo *z, const char *name, int n, const zt *const *in) {
    if (z->fail) return *in[0];
    int c = 0;
    for (int i = 0; i < n; i++) {
        if (in[i]->h != in[0]->h || in[i]->w != in[0]->w) {
            z_fail(z, Z_BAD_SIZE, "cannot concatenate '%s' %dx%d and '%s' %dx%d", in[0]->name,
                   in[0]->h, in[0]->w, in[i]->name, in[i]->h, in[i]->w);
            return *in[0];
        }
        c += in[i]->c;
    }
    return z_layer(z, "concat", name, n, in, c, in[0]->h, in[0]->w, NULL);
}

/* ---------------------------------------------------------------------------------------------
 * LeNet-5
 * ------------------------------------------------------------------------------------------- */

static void build_lenet5(zoo *z, const zt *x, int classes, const void *cfg) {
    /* LeNet-5 was designed for 32x32: 28x28 digits get 2 pixels of padding, which gives the
     * first convolution the same 28x28 output and the network the same parameters. */
    int pad = x->h < 32 || x->w < 32 ? 2 : 0;
    zt t = z_conv(z, x, "conv1", 6, 5, 1, pad, 1, 1);
    t = z_relu(z, &t, "relu1");
    t = z_maxpool(z, &t, "pool1", 2, 2, 0, 0);
    t = z_conv(z, &t, "conv2", 16, 5, 1, 0, 1, 1);
    t = z_relu(z, &t, "relu2");
    t = z_maxpool(z, &t, "pool2", 2, 2, 0, 0);
    t = z_flatten(z, &t, "flatten");
    t = z_dense(z, &t, "fc1", 120);
    t = z_relu(z, &t, "relu3");
    t = z_dense(z, &t, "fc2", 84);
    t = z_relu(z, &t, "relu4");
    z_dense(z, &t, "fc3", classes);
}

/* ---------------------------------------------------------------------------------------------
 * Plain stacks: AlexNet, ZFNet, VGG, the small VGG
 * ------------------------------------------------------------------------------------------- */

/* One feature layer: a convolution (out > 0) followed by [batchnorm and] ReLU, or a max pool
 * (out == 0). */
typedef struct plain_layer {
    int out, k, s, p, ceil_mode;
} plain_layer;

typedef struct plain_cfg {
    const plain_layer *features;
    int n_features;
    int bn;        /* batchnorm after each convolution */
    int conv_bias; /* torchvision's VGG keeps the bias even before batchnorm */
    int hidden[2]; /* widths of the dense layers before the last one */
    int n_hidden;
    int dropout_first; /* AlexNet: dropout, dense, ReLU; VGG: dense, ReLU, dropout */
    float dropout;     /* the classifier's dropout rate (0: none; short recipes do better without) */
    const char *init;  /* the weights' init (NULL: the layers' default, he_normal) */
} plain_cfg;

#define C3(n) {n, 3, 1, 1, 0} /* VGG's 3x3 'same' convolution */
#define M2 {0, 2, 2, 0, 0}    /* VGG's 2x2 max pool */

static const plain_layer alexnet_features[] = {
    {64, 11, 4, 2, 0}, {0, 3, 2, 0, 0}, {192, 5, 1, 2, 0}, {0, 3, 2, 0, 0},
    {384, 3, 1, 1, 0}, {256, 3, 1, 1, 0}, {256, 3, 1, 1, 0}, {0, 3, 2, 0, 0},
};
/* Zeiler & Fergus (2013), figure 3: 224 -> 110 -> 55 -> 26 -> 13 -> 13 -> 13 -> 6. The paper
 * gives the sizes, not the paddings: padding 1 on the first convolution and ceil_mode on the
 * 3x3 stride-2 pools reproduce every size. At 3x224x224 and 1000 classes: 62,357,608
 * parameters and 1,168,032,896 multiply-adds (no torchvision model; the same network written
 * in PyTorch in tests/ref/zoo_counts.py agrees). */
static const plain_layer zfnet_features[] = {
    {96, 7, 2, 1, 0}, {0, 3, 2, 0, 1}, {256, 5, 2, 0, 0}, {0, 3, 2, 0, 1},
    {384, 3, 1, 1, 0}, {384, 3, 1, 1, 0}, {256, 3, 1, 1, 0}, {0, 3, 2, 0, 1},
};
static const plain_layer vgg_a[] = {C3(64),  M2,      C3(128), M2,      C3(256),
                                    C3(256), M2,      C3(512), C3(512), M2,
                                    C3(512), C3(512), M2};
static const plain_layer vgg_b[] = {C3(64),  C3(64),  M2,      C3(128), C3(128),
                                    M2,      C3(256), C3(256), M2,      C3(512),
                                    C3(512), M2,      C3(512), C3(512), M2};
static const plain_layer vgg_d[] = {C3(64),  C3(64),  M2,      C3(128), C3(128), M2,
                                    C3(256), C3(256), C3(256), M2,      C3(512), C3(512),
                                    C3(512), M2,      C3(512), C3(512), C3(512), M2};
static const plain_layer vgg_e[] = {C3(64),  C3(64),  M2,      C3(128), C3(128), M2,
                                    C3(256), C3(256), C3(256), C3(256), M2,      C3(512),
                                    C3(512), C3(512), C3(512), M2,      C3(512), C3(512),
                                    C3(512), C3(512), M2};
static const plain_layer vgg_small_features[] = {C3(32),  C3(32),  M2, C3(64), C3(64),
                                                 M2,      C3(128), C3(128), M2};
/* The ten-minute recipe's network (cnn recipes): vgg_small at three quarters of the width,
 * 57% of its multiply-adds, for the epochs two cores give in ten minutes, and without dropout
 * (in ten epochs the network underfits: dropout cost 0.6 points in a shortened trial). Its
 * weights start as PyTorch's do (torch_default, U(+-1/sqrt(fan_in))), so that the recipe and
 * its PyTorch twin start alike; against He normal it made no difference one seed can show
 * (94.21% and 94.14% in the recipe's ten minutes, seed 1, docs/RESULTS.md). */
static const plain_layer fashion_fast_features[] = {C3(24), C3(24), M2, C3(48), C3(48),
                                                    M2,     C3(96), C3(96), M2};

/* The hour recipe's network: vgg_small at 1.25 times its width (1.6 times its multiply-adds),
 * no dropout (random erasing and shifts regularise it), PyTorch's init like fashion_fast. */
static const plain_layer fashion_wide_features[] = {C3(40), C3(40), M2, C3(80), C3(80),
                                                    M2,     C3(160), C3(160), M2};

static const plain_cfg alexnet_cfg = {alexnet_features, LEN(alexnet_features), 0, 1,
                                      {4096, 4096}, 2, 1, 0.5, NULL};
static const plain_cfg zfnet_cfg = {zfnet_features, LEN(zfnet_features), 0, 1,
                                    {4096, 4096}, 2, 1, 0.5, NULL};
static const plain_cfg vgg11_cfg = {vgg_a, LEN(vgg_a), 0, 1, {4096, 4096}, 2, 0, 0.5, NULL};
static const plain_cfg vgg13_cfg = {vgg_b, LEN(vgg_b), 0, 1, {4096, 4096}, 2, 0, 0.5, NULL};
static const plain_cfg vgg16_cfg = {vgg_d, LEN(vgg_d), 0, 1, {4096, 4096}, 2, 0, 0.5, NULL};
static const plain_cfg vgg19_cfg = {vgg_e, LEN(vgg_e), 0, 1, {4096, 4096}, 2, 0, 0.5, NULL};
static const plain_cfg vgg11_bn_cfg = {vgg_a, LEN(vgg_a), 1, 1, {4096, 4096}, 2, 0, 0.5, NULL};
static const plain_cfg vgg13_bn_cfg = {vgg_b, LEN(vgg_b), 1, 1, {4096, 4096}, 2, 0, 0.5, NULL};
static const plain_cfg vgg16_bn_cfg = {vgg_d, LEN(vgg_d), 1, 1, {4096, 4096}, 2, 0, 0.5, NULL};
static const plain_cfg vgg19_bn_cfg = {vgg_e, LEN(vgg_e), 1, 1, {4096, 4096}, 2, 0, 0.5, NULL};
/* Batch normalisation makes a convolution's bias redundant: the small VGG leaves it out. */
static const plain_cfg vgg_small_cfg = {vgg_small_features, LEN(vgg_small_features), 1, 0,
                                        {256}, 1, 0, 0.5, NULL};
static const plain_cfg fashion_fast_cfg = {fashion_fast_features, LEN(fashion_fast_features),
                                           1, 0, {256}, 1, 0, 0, "torch_default"};
static const plain_cfg fashion_wide_cfg = {fashion_wide_features, LEN(fashion_wide_features),
                                           1, 0, {256}, 1, 0, 0, "torch_default"};

/* Names are torchvision's Sequential indices: features.N, then classifier.N. torchvision's
 * AdaptiveAvgPool2d before the classifier ((6, 6) for AlexNet, (7, 7) for VGG) is the identity
 * at 224x224 and is left out: at other sizes the classifier takes the feature map as it is. */
static void build_plain(zoo *z, const zt *x, int classes, const void *cfg) {
    const plain_cfg *c = cfg;
    zt t = *x;
    int idx = 0;
    z->init = c->init;
    for (int i = 0; i < c->n_features; i++) {
        const plain_layer *l = &c->features[i];
        if (l->out == 0) {
            t = z_maxpool(z, &t, nm(z, "features.%d", idx++), l->k, l->s, l->p, l->ceil_mode);
            continue;
        }
        t = z_conv(z, &t, nm(z, "features.%d", idx++), l->out, l->k, l->s, l->p, 1,
                   c->conv_bias);
        if (c->bn) t = z_bn(z, &t, nm(z, "features.%d", idx++), 0);
        t = z_relu(z, &t, nm(z, "features.%d", idx++));
    }
    t = z_flatten(z, &t, "flatten");
    idx = 0;
    for (int i = 0; i < c->n_hidden; i++) {
        if (c->dropout_first && c->dropout > 0)
            t = z_dropout(z, &t, nm(z, "classifier.%d", idx++), c->dropout);
        t = z_dense(z, &t, nm(z, "classifier.%d", idx++), c->hidden[i]);
        t = z_relu(z, &t, nm(z, "classifier.%d", idx++));
        if (!c->dropout_first && c->dropout > 0)
            t = z_dropout(z, &t, nm(z, "classifier.%d", idx++), c->dropout);
    }
    z_dense(z, &t, nm(z, "classifier.%d", idx), classes);
}

/* ---------------------------------------------------------------------------------------------
 * GoogLeNet (Inception v1) as torchvision builds it
 * ------------------------------------------------------------------------------------------- */

/* torchvision's BasicConv2d: convolution without bias, batchnorm with eps 0.001, ReLU. */
static zt basic_conv(zoo *z, const zt *x, const char *name, int out, int k, int s, int p) {
    zt t = z_conv(z, x, nm(z, "%s.conv", name), out, k, s, p, 1, 0);
    t = z_bn(z, &t, nm(z, "%s.bn", name), 0.001);
    return z_relu(z, &t, nm(z, "%s.relu", name));
}

typedef struct inception_cfg {
    const char *name;
    int c1, c3_reduce, c3, c5_reduce, c5, pool_proj;
} inception_cfg;

static const inception_cfg inceptions[] = {
    {"inception3a", 64, 96, 128, 16, 32, 32},    {"inception3b", 128, 128, 192, 32, 96, 64},
    {"inception4a", 192, 96, 208, 16, 48, 64},   {"inception4b", 160, 112, 224, 24, 64, 64},
    {"inception4c", 128, 128, 256, 24, 64, 64},  {"inception4d", 112, 144, 288, 32, 64, 64},
    {"inception4e", 256, 160, 320, 32, 128, 128}, {"inception5a", 256, 160, 320, 32, 128, 128},
    {"inception5b", 384, 192, 384, 48, 128, 128},
};

static zt inception(zoo *z, const zt *x, const inception_cfg *c) {
    z_scope(z, c->name);
    zt b1 = basic_conv(z, x, "branch1", c->c1, 1, 1, 0);
    zt b2 = basic_conv(z, x, "branch2.0", c->c3_reduce, 1, 1, 0);
    b2 = basic_conv(z, &b2, "branch2.1", c->c3, 3, 1, 1);
    /* The "5x5" branch has a 3x3 kernel in torchvision (a known slip kept for its
     * pretrained weights); the parameter counts follow torchvision. */
    zt b3 = basic_conv(z, x, "branch3.0", c->c5_reduce, 1, 1, 0);
    b3 = basic_conv(z, &b3, "branch3.1", c->c5, 3, 1, 1);
    zt b4 = z_maxpool(z, x, "branch4.0", 3, 1, 1, 1);
    b4 = basic_conv(z, &b4, "branch4.1", c->pool_proj, 1, 1, 0);
    const zt *in[4] = {&b1, &b2, &b3, &b4};
    zt t = z_concat(z, "concat", 4, in);
    z_scope(z, "");
    return t;
}

/* An auxiliary classifier: its output is computed but nothing reads it, so it only adds
 * parameters (and work) as torchvision's aux_logits=True does. torchvision pools with
 * AdaptiveAvgPool2d((4, 4)); this is the paper's 5x5 stride-3 average pool, which gives the
 * same 4x4 from the 14x14 maps of a 224x224 input. */
static void aux_head(zoo *z, const zt *x, const char *name, int classes) {
    z_scope(z, name);
    zt t = z_avgpool(z, x, "avgpool", 5, 3, 0, 0);
    t = basic_conv(z, &t, "conv", 128, 1, 1, 0);
    t = z_flatten(z, &t, "flatten");
    t = z_dense(z, &t, "fc1", 1024);
    t = z_relu(z, &t, "relu");
    t = z_dropout(z, &t, "dropout", 0.7);
    z_dense(z, &t, "fc2", classes);
    z_scope(z, "");
}

static const int googlenet_no_aux = 0, googlenet_with_aux = 1;

static void build_googlenet(zoo *z, const zt *x, int classes, const void *cfg) {
    int aux = *(const int *)cfg;
    zt t = basic_conv(z, x, "conv1", 64, 7, 2, 3);
    t = z_maxpool(z, &t, "maxpool1", 3, 2, 0, 1);
    t = basic_conv(z, &t, "conv2", 64, 1, 1, 0);
    t = basic_conv(z, &t, "conv3", 192, 3, 1, 1);
    t = z_maxpool(z, &t, "maxpool2", 3, 2, 0, 1);
    for (int i = 0; i < LEN(inceptions); i++) {
        t = inception(z, &t, &inceptions[i]);
        const char *name = inceptions[i].name;
        if (aux && strcmp(name, "inception4a") == 0) aux_head(z, &t, "aux1", classes);
        if (aux && strcmp(name, "inception4d") == 0) aux_head(z, &t, "aux2", classes);
        if (strcmp(name, "inception3b") == 0) t = z_maxpool(z, &t, "maxpool3", 3, 2, 0, 1);
        if (strcmp(name, "inception4e") == 0) t = z_maxpool(z, &t, "maxpool4", 2, 2, 0, 1);
    }
    t = z_gap(z, &t, "avgpool");
    t = z_dropout(z, &t, "dropout", 0.2);
    z_dense(z, &t, "fc", classes);
}

/* ---------------------------------------------------------------------------------------------
 * ResNet, ResNeXt, and the CIFAR ResNets
 * ------------------------------------------------------------------------------------------- */

typedef struct resnet_cfg {
    int bottleneck; /* 0: basic block (two 3x3), 1: bottleneck (1x1, 3x3, 1x1 to 4x planes) */
    int stages;
    int blocks[4], planes[4];
    int groups, width_per_group; /* ResNeXt: the 3x3 convolution's groups and their width */
    int small_stem;              /* 3x3 stride-1 stem and no max pool, for 32x32 inputs */
} resnet_cfg;

static const resnet_cfg resnet18_cfg = {0, 4, {2, 2, 2, 2}, {64, 128, 256, 512}, 1, 64, 0};
static const resnet_cfg resnet34_cfg = {0, 4, {3, 4, 6, 3}, {64, 128, 256, 512}, 1, 64, 0};
static const resnet_cfg resnet50_cfg = {1, 4, {3, 4, 6, 3}, {64, 128, 256, 512}, 1, 64, 0};
static const resnet_cfg resnet101_cfg = {1, 4, {3, 4, 23, 3}, {64, 128, 256, 512}, 1, 64, 0};
static const resnet_cfg resnet152_cfg = {1, 4, {3, 8, 36, 3}, {64, 128, 256, 512}, 1, 64, 0};
static const resnet_cfg resnext50_cfg = {1, 4, {3, 4, 6, 3}, {64, 128, 256, 512}, 32, 4, 0};
static const resnet_cfg resnet18_cifar_cfg = {0, 4, {2, 2, 2, 2}, {64, 128, 256, 512}, 1, 64, 1};
/* He et al.'s CIFAR ResNet-20 has 269,722 parameters with its parameter-free option A
 * shortcuts (subsampling and zero channels); this one uses option B, the 1x1 convolution and
 * batchnorm the other models use, for 272,474 (10 classes). */
static const resnet_cfg resnet20_cfg = {0, 3, {3, 3, 3}, {16, 32, 64}, 1, 64, 1};

/* One residual block under the current scope ("layer2.0"): conv-bn-relu pairs, the shortcut
 * (a 1x1 convolution and batchnorm when the shape changes), the sum and its ReLU. torchvision's
 * v1.5 layout: a bottleneck strides in its 3x3 convolution. */
static zt res_block(zoo *z, const zt *x, const resnet_cfg *c, int planes, int stride) {
    zt t;
    int out;
    if (!c->bottleneck) {
        out = planes;
        t = z_conv(z, x, "conv1", planes, 3, stride, 1, 1, 0);
        t = z_bn(z, &t, "bn1", 0);
        t = z_relu(z, &t, "relu1");
        t = z_conv(z, &t, "conv2", planes, 3, 1, 1, 1, 0);
        t = z_bn(z, &t, "bn2", 0);
    } else {
        out = planes * 4;
        int width = planes * c->width_per_group / 64 * c->groups;
        t = z_conv(z, x, "conv1", width, 1, 1, 0, 1, 0);
        t = z_bn(z, &t, "bn1", 0);
        t = z_relu(z, &t, "relu1");
        t = z_conv(z, &t, "conv2", width, 3, stride, 1, c->groups, 0);
        t = z_bn(z, &t, "bn2", 0);
        t = z_relu(z, &t, "relu2");
        t = z_conv(z, &t, "conv3", out, 1, 1, 0, 1, 0);
        t = z_bn(z, &t, "bn3", 0);
    }
    zt shortcut = *x;
    if (stride != 1 || x->c != out) {
        shortcut = z_conv(z, x, "downsample.0", out, 1, stride, 0, 1, 0);
        shortcut = z_bn(z, &shortcut, "downsample.1", 0);
    }
    t = z_add(z, "add", &t, &shortcut);
    return z_relu(z, &t, "relu");
}

static void build_resnet(zoo *z, const zt *x, int classes, const void *cfg) {
    const resnet_cfg *c = cfg;
    zt t;
    if (c->small_stem) {
        t = z_conv(z, x, "conv1", c->planes[0], 3, 1, 1, 1, 0);
        t = z_bn(z, &t, "bn1", 0);
        t = z_relu(z, &t, "relu");
    } else {
        t = z_conv(z, x, "conv1", 64, 7, 2, 3, 1, 0);
        t = z_bn(z, &t, "bn1", 0);
        t = z_relu(z, &t, "relu");
        t = z_maxpool(z, &t, "maxpool", 3, 2, 1, 0);
    }
    for (int s = 0; s < c->stages; s++)
        for (int b = 0; b < c->blocks[s]; b++) {
            z_scope(z, nm(z, "layer%d.%d", s + 1, b));
            t = res_block(z, &t, c, c->planes[s], s > 0 && b == 0 ? 2 : 1);
        }
    z_scope(z, "");
    t = z_gap(z, &t, "avgpool");
    z_dense(z, &t, "fc", classes);
}

/* ---------------------------------------------------------------------------------------------
 * DenseNet (BC, as torchvision: growth 32, bottleneck 4 x growth, compression 0.5)
 * ------------------------------------------------------------------------------------------- */

typedef struct densenet_cfg {
    int blocks[4];
} densenet_cfg;

static const densenet_cfg densenet121_cfg = {{6, 12, 24, 16}};
static const densenet_cfg densenet169_cfg = {{6, 12, 32, 32}};
static const densenet_cfg densenet201_cfg = {{6, 12, 48, 32}};

enum { DENSE_GROWTH = 32, DENSE_BN_SIZE = 4, DENSE_INIT = 64 };

static void build_densenet(zoo *z, const zt *x, int classes, const void *cfg) {
    const densenet_cfg *c = cfg;
    z_scope(z, "features");
    zt t = z_conv(z, x, "conv0", DENSE_INIT, 7, 2, 3, 1, 0);
    t = z_bn(z, &t, "norm0", 0);
    t = z_relu(z, &t, "relu0");
    t = z_maxpool(z, &t, "pool0", 3, 2, 1, 0);
    for (int b = 0; b < 4; b++) {
        z_scope(z, nm(z, "features.denseblock%d", b + 1));
        for (int l = 1; l <= c->blocks[b]; l++) {
            zt y = z_bn(z, &t, nm(z, "denselayer%d.norm1", l), 0);
            y = z_relu(z, &y, nm(z, "denselayer%d.relu1", l));
            y = z_conv(z, &y, nm(z, "denselayer%d.conv1", l), DENSE_BN_SIZE * DENSE_GROWTH, 1, 1,
                       0, 1, 0);
            y = z_bn(z, &y, nm(z, "denselayer%d.norm2", l), 0);
            y = z_relu(z, &y, nm(z, "denselayer%d.relu2", l));
            y = z_conv(z, &y, nm(z, "denselayer%d.conv2", l), DENSE_GROWTH, 3, 1, 1, 1, 0);
            /* torchvision concatenates all earlier maps for each layer; appending each new
             * map to the running concatenation gives the same tensor in the same channel order
             * with two inputs per concat (a concat takes at most 8). */
            const zt *in[2] = {&t, &y};
            t = z_concat(z, nm(z, "denselayer%d.concat", l), 2, in);
        }
        if (b == 3) break;
        z_scope(z, nm(z, "features.transition%d", b + 1));
        t = z_bn(z, &t, "norm", 0);
        t = z_relu(z, &t, "relu");
        t = z_conv(z, &t, "conv", t.c / 2, 1, 1, 0, 1, 0);
        t = z_avgpool(z, &t, "pool", 2, 2, 0, 0);
    }
    z_scope(z, "features");
    t = z_bn(z, &t, "norm5", 0);
    z_scope(z, "");
    t = z_relu(z, &t, "relu");
    t = z_gap(z, &t, "avgpool");
    z_dense(z, &t, "classifier", classes);
}

/* ---------------------------------------------------------------------------------------------
 * U-Net and SegNet: per-pixel logits of the input's size
 * ------------------------------------------------------------------------------------------- */

typedef struct unet_cfg {
    int levels;    /* resolutions, the bottom included: levels - 1 poolings */
    int widths[5]; /* channels at each level, the bottom last */
    int bn;        /* batchnorm after each convolution (and no convolution bias) */
    int dropout;   /* dropout at the end of the contracting path, as in the paper */
} unet_cfg;

static const unet_cfg unet_cfg_full = {5, {64, 128, 256, 512, 1024}, 0, 1};
static const unet_cfg unet_cfg_small = {3, {16, 32, 64}, 1, 0};

/* Two 3x3 'same' convolutions with ReLU (and batchnorm), under the current scope. */
static zt double_conv(zoo *z, const zt *x, int out, int bn) {
    zt t = *x;
    for (int i = 1; i <= 2; i++) {
        t = z_conv(z, &t, nm(z, "conv%d", i), out, 3, 1, 1, 1, !bn);
        if (bn) t = z_bn(z, &t, nm(z, "bn%d", i), 0);
        t = z_relu(z, &t, nm(z, "relu%d", i));
    }
    return t;
}

/* Ronneberger et al. (2015) with 'same' padding, so that the output has the input's size and
 * no cropping is needed: down1..downL (the last is the bottom), 2x2 max pools between them;
 * up by 2x2 stride-2 transposed convolutions halving the channels, concatenated after the
 * skip connection of the same level; a 1x1 convolution to the classes. unet has 31,030,658
 * parameters for 1 channel and 2 classes (the paper's setting), small_unet 117,090. */
static void build_unet(zoo *z, const zt *x, int classes, const void *cfg) {
    const unet_cfg *c = cfg;
    int factor = 1 << (c->levels - 1);
    if (x->h % factor || x->w % factor) {
        z_fail(z, Z_BAD_SIZE,
               "height and width must be multiples of %d (%d poolings by 2, so that each "
               "upsampled map matches its skip connection), got %dx%d",
               factor, c->levels - 1, x->h, x->w);
        return;
    }
    zt skips[5], t = *x;
    for (int l = 0; l < c->levels; l++) {
        if (l > 0) t = z_maxpool(z, &t, nm(z, "pool%d", l), 2, 2, 0, 0);
        z_scope(z, nm(z, "down%d", l + 1));
        t = double_conv(z, &t, c->widths[l], c->bn);
        z_scope(z, "");
        skips[l] = t;
    }
    if (c->dropout) t = z_dropout(z, &t, "dropout", 0.5);
    for (int l = c->levels - 2; l >= 0; l--) {
        t = z_convt(z, &t, nm(z, "up%d", l + 1), c->widths[l], 2, 2);
        const zt *in[2] = {&skips[l], &t};
        t = z_concat(z, nm(z, "cat%d", l + 1), 2, in);
        z_scope(z, nm(z, "dec%d", l + 1));
        t = double_conv(z, &t, c->widths[l], c->bn);
        z_scope(z, "");
    }
    z_conv(z, &t, "head", classes, 1, 1, 0, 1, 1);
}

/* SegNet (Badrinarayanan et al. 2017): the 13 convolutions of VGG16-bn as the encoder, each
 * 2x2 max pool's indices reused by the max_unpool2d of the mirrored decoder; each decoder
 * block ends at the channels of the encoder block above; the last 3x3 convolution gives the
 * class logits (no batchnorm). Convolutions keep their bias, as VGG16-bn's. max_unpool2d
 * restores each pool's input size, so odd sizes (360x480 -> 45 -> 22) work. 29,449,932
 * parameters for 3 channels and 12 classes. */
static void build_segnet(zoo *z, const zt *x, int classes, const void *cfg) {
    static const int convs[5] = {2, 2, 3, 3, 3}, widths[5] = {64, 128, 256, 512, 512};
    zt pools[5], t = *x;
    for (int b = 0; b < 5; b++) {
        z_scope(z, nm(z, "enc%d", b + 1));
        for (int i = 1; i <= convs[b]; i++) {
            t = z_conv(z, &t, nm(z, "conv%d", i), widths[b], 3, 1, 1, 1, 1);
            t = z_bn(z, &t, nm(z, "bn%d", i), 0);
            t = z_relu(z, &t, nm(z, "relu%d", i));
        }
        z_scope(z, "");
        t = pools[b] = z_maxpool(z, &t, nm(z, "pool%d", b + 1), 2, 2, 0, 0);
    }
    /* The deepest unpooling takes pool5 itself: "max_unpool2d(pool5, pool5)". */
    for (int b = 4; b >= 0; b--) {
        t = z_unpool(z, &t, &pools[b], nm(z, "unpool%d", b + 1));
        z_scope(z, nm(z, "dec%d", b + 1));
        int n = b > 0 ? convs[b] : convs[b] - 1; /* the head is dec1's last convolution */
        for (int i = 1; i <= n; i++) {
            int out = i == n && b > 0 ? widths[b - 1] : widths[b];
            t = z_conv(z, &t, nm(z, "conv%d", i), out, 3, 1, 1, 1, 1);
            t = z_bn(z, &t, nm(z, "bn%d", i), 0);
            t = z_relu(z, &t, nm(z, "relu%d", i));
        }
        z_scope(z, "");
    }
    z_conv(z, &t, "head", classes, 3, 1, 1, 1, 1);
}

/* ---------------------------------------------------------------------------------------------
 * The table
 * ------------------------------------------------------------------------------------------- */

typedef struct zoo_model {
    const char *name;
    const char *doc;
    void (*build)(zoo *z, const zt *x, int classes, const void *cfg);
    const void *cfg;
    int input[4]; /* its standard input and classes: channels, height, width, classes */
} zoo_model;

static const zoo_model models[] = {
    {"lenet5",
     "LeNet-5 as in the course: conv 6@5x5 (padding 2 below 32x32) - max pool - conv 16@5x5 - "
     "max pool - dense 120 - 84 - classes, ReLU; 61,706 parameters for 1x28x28 and 10 classes",
     build_lenet5, NULL, {1, 28, 28, 10}},
    {"alexnet",
     "AlexNet as torchvision (one tower, 64-192-384-256-256 channels, no LRN), 224x224; "
     "torchvision's AdaptiveAvgPool2d((6,6)) is the identity there and is left out",
     build_plain, &alexnet_cfg, {3, 224, 224, 1000}},
    {"zfnet",
     "ZFNet (Zeiler & Fergus 2013): AlexNet with a 7x7 stride-2 first convolution of 96 "
     "filters, 5x5 stride 2 next, 384-384-256 after; sizes 110-55-26-13-6 at 224x224; no LRN",
     build_plain, &zfnet_cfg, {3, 224, 224, 1000}},
    {"vgg11", "VGG-11 (configuration A) as torchvision, 224x224; AdaptiveAvgPool2d((7,7)) left "
              "out (the identity at 224x224)",
     build_plain, &vgg11_cfg, {3, 224, 224, 1000}},
    {"vgg13", "VGG-13 (configuration B) as torchvision, 224x224; AdaptiveAvgPool2d((7,7)) left "
              "out (the identity at 224x224)",
     build_plain, &vgg13_cfg, {3, 224, 224, 1000}},
    {"vgg16", "VGG-16 (configuration D) as torchvision, 224x224; AdaptiveAvgPool2d((7,7)) left "
              "out (the identity at 224x224)",
     build_plain, &vgg16_cfg, {3, 224, 224, 1000}},
    {"vgg19", "VGG-19 (configuration E) as torchvision, 224x224; AdaptiveAvgPool2d((7,7)) left "
              "out (the identity at 224x224)",
     build_plain, &vgg19_cfg, {3, 224, 224, 1000}},
    {"vgg11_bn", "VGG-11 with batchnorm after each convolution, as torchvision", build_plain,
     &vgg11_bn_cfg, {3, 224, 224, 1000}},
    {"vgg13_bn", "VGG-13 with batchnorm after each convolution, as torchvision", build_plain,
     &vgg13_bn_cfg, {3, 224, 224, 1000}},
    {"vgg16_bn", "VGG-16 with batchnorm after each convolution, as torchvision", build_plain,
     &vgg16_bn_cfg, {3, 224, 224, 1000}},
    {"vgg19_bn", "VGG-19 with batchnorm after each convolution, as torchvision", build_plain,
     &vgg19_bn_cfg, {3, 224, 224, 1000}},
    {"googlenet",
     "GoogLeNet (Inception v1) as torchvision: conv-batchnorm(eps 0.001)-ReLU blocks, "
     "ceil_mode pools, no auxiliary classifiers, 224x224",
     build_googlenet, &googlenet_no_aux, {3, 224, 224, 1000}},
    {"googlenet_aux",
     "GoogLeNet with torchvision's two auxiliary classifiers after inception4a and 4d (5x5/3 "
     "average pool, 1x1 conv 128, dense 1024, dropout 0.7); the output is the main classifier "
     "and nothing reads the auxiliary ones",
     build_googlenet, &googlenet_with_aux, {3, 224, 224, 1000}},
    {"resnet18", "ResNet-18 as torchvision (basic blocks 2-2-2-2), 224x224", build_resnet,
     &resnet18_cfg, {3, 224, 224, 1000}},
    {"resnet34", "ResNet-34 as torchvision (basic blocks 3-4-6-3), 224x224", build_resnet,
     &resnet34_cfg, {3, 224, 224, 1000}},
    {"resnet50",
     "ResNet-50 as torchvision (v1.5: bottlenecks 3-4-6-3 striding in the 3x3 convolution), "
     "224x224",
     build_resnet, &resnet50_cfg, {3, 224, 224, 1000}},
    {"resnet101", "ResNet-101 as torchvision (v1.5 bottlenecks 3-4-23-3), 224x224",
     build_resnet, &resnet101_cfg, {3, 224, 224, 1000}},
    {"resnet152", "ResNet-152 as torchvision (v1.5 bottlenecks 3-8-36-3), 224x224",
     build_resnet, &resnet152_cfg, {3, 224, 224, 1000}},
    {"resnext50_32x4d",
     "ResNeXt-50 32x4d as torchvision: ResNet-50 whose 3x3 convolutions have 32 groups of 4 "
     "channels per 64 planes, 224x224",
     build_resnet, &resnext50_cfg, {3, 224, 224, 1000}},
    {"densenet121", "DenseNet-121 as torchvision (growth 32, blocks 6-12-24-16), 224x224",
     build_densenet, &densenet121_cfg, {3, 224, 224, 1000}},
    {"densenet169", "DenseNet-169 as torchvision (growth 32, blocks 6-12-32-32), 224x224",
     build_densenet, &densenet169_cfg, {3, 224, 224, 1000}},
    {"densenet201", "DenseNet-201 as torchvision (growth 32, blocks 6-12-48-32), 224x224",
     build_densenet, &densenet201_cfg, {3, 224, 224, 1000}},
    {"unet",
     "U-Net (Ronneberger et al. 2015) with 'same' padding: 64-128-256-512-1024 channels, "
     "2x2 transposed convolutions up, dropout at the bottom; per-pixel logits of the input's "
     "size (height and width multiples of 16)",
     build_unet, &unet_cfg_full, {1, 256, 256, 2}},
    {"segnet",
     "SegNet: VGG16-bn encoder whose max-pool indices drive the max_unpool2d of a mirrored "
     "conv-batchnorm-ReLU decoder; per-pixel logits of the input's size (at least 32x32)",
     build_segnet, NULL, {3, 224, 224, 12}},
    {"resnet20",
     "CIFAR ResNet-20 (He et al. 2016): 3x3 stem of 16, three stages of 3 basic blocks with "
     "16/32/64 channels, for 32x32; shortcuts that change the shape are a 1x1 stride-2 conv "
     "with batchnorm (option B; the paper's option A is parameter-free)",
     build_resnet, &resnet20_cfg, {3, 32, 32, 10}},
    {"resnet18_cifar",
     "ResNet-18 for 32x32: torchvision's ResNet-18 with a 3x3 stride-1 stem and no max pool",
     build_resnet, &resnet18_cifar_cfg, {3, 32, 32, 10}},
    {"vgg_small",
     "A small VGG for 28x28 and 32x32: 32-32-M-64-64-M-128-128-M of 3x3 conv-batchnorm-ReLU "
     "(no conv bias), dense 256, dropout 0.5, classes",
     build_plain, &vgg_small_cfg, {1, 28, 28, 10}},
    {"fashion_fast",
     "The ten-minute recipe's network (cnn recipes): vgg_small at three quarters of the width, "
     "24-24-M-48-48-M-96-96-M of 3x3 conv-batchnorm-ReLU (no conv bias), dense 256, ReLU, "
     "classes (no dropout)",
     build_plain, &fashion_fast_cfg, {1, 28, 28, 10}},
    {"fashion_wide",
     "The hour recipe's network (cnn recipes): vgg_small at 1.25 times the width, "
     "40-40-M-80-80-M-160-160-M of 3x3 conv-batchnorm-ReLU (no conv bias), dense 256, ReLU, "
     "classes (no dropout)",
     build_plain, &fashion_wide_cfg, {1, 28, 28, 10}},
    {"small_unet",
     "A 2-level U-Net for 28x28: 16-32-64 channels of 3x3 conv-batchnorm-ReLU pairs, two 2x2 "
     "poolings, transposed convolutions up; per-pixel logits (height and width multiples of 4)",
     build_unet, &unet_cfg_small, {1, 28, 28, 2}},
};

int cnn_model_count(void) { return LEN(models); }

const char *cnn_model_name(int index) {
    return index >= 0 && index < LEN(models) ? models[index].name : NULL;
}

const char *cnn_model_doc(int index) {
    return index >= 0 && index < LEN(models) ? models[index].doc : NULL;
}

static const zoo_model *find_model(const char *name) {
    for (int i = 0; name && i < LEN(models); i++)
        if (strcmp(models[i].name, name) == 0) return &models[i];
    return NULL;
}

cnn_status cnn_model_standard_input(const char *name, int *channels, int *height, int *width,
                                    int *classes) {
    const zoo_model *m = find_model(name);
    if (!m) return CNN_STATUS_INVALID_ARGUMENT;
    *channels = m->input[0], *height = m->input[1], *width = m->input[2], *classes = m->input[3];
    return CNN_STATUS_OK;
}

/* Runs a model's builder into z (which starts zeroed, with dry set or not). */
static void run(zoo *z, const zoo_model *m, int channels, int height, int width, int classes) {
    if (!z->dry) {
        char head[1024];
        snprintf(head, sizeof head, "# %s: %s\n# for %dx%dx%d inputs and %d classes\n", m->name,
                 m->doc, channels, height, width, classes);
        z_append(z, head);
    }
    zt x = z_input(z, channels, height, width);
    m->build(z, &x, classes, m->cfg);
}

/* The smallest square input the model accepts (0 if none up to 4096), found by following the
 * shapes without writing text. Pools in ceil_mode make the sizes that work not a simple
 * threshold in general, so every size is tried in turn. */
static int smallest_input(const zoo_model *m, int channels, int classes) {
    for (int s = 1; s <= 4096; s++) {
        zoo z = {.dry = 1};
        run(&z, m, channels, s, s, classes);
        if (!z.fail) return s;
    }
    return 0;
}

/* cnn_model_text with a status, for cnn_model_build. */
static cnn_status model_text(const char *name, int channels, int height, int width, int classes,
                             char **out, char *err, size_t errlen) {
    *out = NULL;
    const zoo_model *m = find_model(name);
    if (!m) {
        char list[1024] = "";
        for (int i = 0; i < LEN(models); i++) {
            size_t used = strlen(list);
            snprintf(list + used, sizeof list - used, "%s%s", i ? ", " : "", models[i].name);
        }
        return cnn_set_error(err, errlen, CNN_STATUS_INVALID_ARGUMENT,
                             "unknown model '%s' (known models: %s)", name ? name : "(null)",
                             list);
    }
    if (channels < 1 || height < 1 || width < 1 || classes < 1) {
        return cnn_set_error(err, errlen, CNN_STATUS_INVALID_ARGUMENT,
                             "%s: channels, height, width and classes must be positive, got "
                             "%dx%dx%d and %d classes",
                             name, channels, height, width, classes);
    }
    if ((long long)channels * height * width > INT_MAX) {
        return cnn_set_error(err, errlen, CNN_STATUS_INVALID_ARGUMENT,
                             "%s: input %dx%dx%d has more values than a layer holds", name,
                             channels, height, width);
    }
    zoo z = {0};
    run(&z, m, channels, height, width, classes);
    cnn_status st = CNN_STATUS_OK;
    if (z.fail == Z_TOO_SMALL) {
        int s = smallest_input(m, channels, classes);
        st = cnn_set_error(err, errlen, CNN_STATUS_SHAPE,
                           "%s: input %dx%dx%d is too small: %s (%s needs at least %dx%d)", name,
                           channels, height, width, z.err, name, s, s);
    } else if (z.fail) {
        st = cnn_set_error(err, errlen, CNN_STATUS_SHAPE, "%s: input %dx%dx%d does not fit: %s",
                           name, channels, height, width, z.err);
    } else if (z.oom) {
        st = cnn_set_error(err, errlen, CNN_STATUS_NO_MEMORY,
                           "%s: out of memory writing the definition", name);
    }
    if (st != CNN_STATUS_OK) {
        free(z.text);
        return st;
    }
    *out = z.text;
    return CNN_STATUS_OK;
}

char *cnn_model_text(const char *name, int channels, int height, int width, int classes,
                     char *err, size_t errlen) {
    if (!err) errlen = 0;
    char *text;
    model_text(name, channels, height, width, classes, &text, err, errlen);
    return text;
}

cnn_status cnn_model_build(const char *name, int channels, int height, int width, int classes,
                           uint64_t seed, cnn_net **out, char *err, size_t errlen) {
    *out = NULL;
    if (!err) errlen = 0;
    char *text;
    cnn_status st = model_text(name, channels, height, width, classes, &text, err, errlen);
    if (st) return st;
    /* The model's name as the source: errors read "resnet50:12:1: ..." */
    st = cnn_net_from_text(text, name, seed, out, err, errlen);
    free(text);
    return st;
}

/*
 * viz.c - `cnn viz WHAT ...`: pictures of what a trained network does, each a PNG with a title
 * and, where values need one, a colour scale.
 *
 *   filters   a convolution layer's kernels (the first by default), channel by channel
 *   maps      one image's feature maps at a layer
 *   stats     histograms of every layer's activations over a batch of test images
 *   saliency  |d class score / d pixel| (Simonyan et al. 2014)
 *   guided    guided backpropagation, and guided Grad-CAM
 *   gradcam   Grad-CAM at the last convolutional layer or a named one
 *   dream     activation maximisation of units of a layer, from noise
 *   kernels   the course's classic 3x3 kernels applied to a photograph (no model)
 *
 * The numbers come from the library's "seeing inside" functions; the pictures from
 * cnn_figure_save and cnn_histograms_save. An image to explain is an image file, or a sample
 * of a data set's test part (--index, from the model's data set unless --data names another).
 */
#include "cli.h"
#include "common.h"
#include "opts.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_PANELS 4096

typedef struct viz_cfg {
    const char *layer, *out, *data, *units;
    int cls, index, max, batch, steps, seed, size, color, blur;
    float rate, decay, noise;
} viz_cfg;

/* The subcommands, their usage line, what they draw, and the options each takes. */
typedef struct viz_cmd {
    const char *name, *usage, *about;
    const char *opts; /* the names of its options, space-separated */
    int positional;   /* positional arguments after the subcommand: model and/or image */
} viz_cmd;

static const viz_cmd CMDS[] = {
    {"filters", "cnn viz filters MODEL.ckpt [options]",
     "Draws a convolution layer's kernels as a grid: colour pictures when the layer reads 3 "
     "channels, else one heat map per output and input channel with a shared colour scale.",
     "layer max out", 1},
    {"maps", "cnn viz maps MODEL.ckpt [IMAGE] --layer NAME [options]",
     "Draws the feature maps of one image at a layer, one heat map per channel, after the "
     "image itself.",
     "layer data index max out", 2},
    {"stats", "cnn viz stats MODEL.ckpt [options]",
     "Histograms of every layer's outputs over a batch of test images, with the share of "
     "zeros and, after a ReLU, of units that never fire; also printed as a table.",
     "data batch out", 1},
    {"saliency", "cnn viz saliency MODEL.ckpt [IMAGE] [options]",
     "The saliency map: at each pixel the largest |d class score / d pixel| over the channels "
     "(the class is the predicted one unless --class), beside the image and over it.",
     "class data index out", 2},
    {"guided", "cnn viz guided MODEL.ckpt [IMAGE] [options]",
     "Guided backpropagation (only positive gradients pass the ReLUs) of the class score, and "
     "guided Grad-CAM (that times the Grad-CAM map) when the network has a conv2d layer.",
     "class layer data index out", 2},
    {"gradcam", "cnn viz gradcam MODEL.ckpt [IMAGE] [options]",
     "Grad-CAM: the feature maps of a layer (the last convolution by default) weighted by the "
     "mean gradient of the class score, as a heat map over the image.",
     "class layer data index out", 2},
    {"dream", "cnn viz dream MODEL.ckpt --layer NAME --unit U[,U...] [options]",
     "Activation maximisation: from noise, gradient ascent on the input to raise a unit's "
     "activation (a channel's mean for feature maps), with L2 decay and blurring.",
     "layer unit steps rate decay blur noise seed out", 1},
    {"kernels", "cnn viz kernels IMAGE [options]",
     "The course's classic 3x3 kernels (identity, outline, Sobel left, Sobel bottom, lighten, "
     "darken) applied to a photograph, side by side.",
     "size color out", 1},
};
#define N_CMDS (int)(sizeof CMDS / sizeof CMDS[0])

/* The options of one subcommand: those named in cmd->opts, taken from the full table. */
static int fill_opts(const viz_cmd *cmd, cli_opt *o, viz_cfg *c) {
    cli_opt all[] = {
        {"layer", OPT_STRING, &c->layer, "NAME", "the layer (see cnn summary MODEL)", 0, 0, 0},
        {"class", OPT_INT, &c->cls, "K", "the class to explain [the predicted one]", 0, 1e6, 0},
        {"data", OPT_STRING, &c->data, "NAME|DIR", "the data set whose test part gives images [the model's]", 0, 0, 0},
        {"index", OPT_INT, &c->index, "I", "explain test image I instead of an image file", 0, 1e9, 0},
        {"max", OPT_INT, &c->max, "N", "draw at most N panels [256]", 1, MAX_PANELS, 0},
        {"batch", OPT_INT, &c->batch, "N", "test images in the batch [256]", 1, 65536, 0},
        {"unit", OPT_STRING, &c->units, "U[,U...]", "the unit(s): channels of feature maps, elements of a flat layer", 0, 0, 0},
        {"steps", OPT_INT, &c->steps, "N", "ascent steps [200]", 0, 100000, 0},
        {"rate", OPT_FLOAT, &c->rate, "A", "step size [0.05]", 0, 100, 0},
        {"decay", OPT_FLOAT, &c->decay, "D", "L2 decay per step [0.001]", 0, 0.999, 0},
        {"blur", OPT_INT, &c->blur, "N", "blur every N steps, 0 never [10]", 0, 100000, 0},
        {"noise", OPT_FLOAT, &c->noise, "S", "standard deviation of the starting noise [0.1]", 0, 100, 0},
        {"seed", OPT_INT, &c->seed, "S", "seed of the starting noise [1]", 0, 2147483647, 0},
        {"size", OPT_INT, &c->size, "N", "resize so the longer side is N pixels [the image's, at most 256]", 8, 4096, 0},
        {"color", OPT_FLAG, &c->color, "", "filter the colour planes instead of grey", 0, 0, 0},
        {"out", OPT_STRING, &c->out, "FILE", "the PNG to write [viz-WHAT.png]", 0, 0, 0},
    };
    int n = 0;
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++) {
        const char *p = strstr(cmd->opts, all[i].name);
        size_t len = strlen(all[i].name);
        while (p && !((p == cmd->opts || p[-1] == ' ') && (p[len] == ' ' || p[len] == 0)))
            p = strstr(p + 1, all[i].name);
        if (p) o[n++] = all[i];
    }
    o[n] = (cli_opt){NULL, 0, NULL, NULL, NULL, 0, 0, 0};
    return n;
}

void cli_viz_help(FILE *f, const char *what) {
    for (int i = 0; i < N_CMDS; i++)
        if (what && strcmp(what, CMDS[i].name) == 0) {
            viz_cfg c;
            cli_opt o[20];
            fill_opts(&CMDS[i], o, &c);
            cli_help(f, CMDS[i].usage, CMDS[i].about, o);
            return;
        }
    fprintf(f, "usage: cnn viz WHAT ... (cnn help viz WHAT for its options)\n\n"
               "Pictures (PNG) of what a network does:\n");
    for (int i = 0; i < N_CMDS; i++) fprintf(f, "  %s\n", CMDS[i].usage);
}

/* ---------------------------------------------------------------------------------------------
 * Shared: the model, the image, the output
 * ------------------------------------------------------------------------------------------- */

typedef struct viz_run {
    const viz_cmd *cmd;
    viz_cfg c;
    const char *pos[2];
    int npos;
    cnn_net *net;
    char *meta; /* the checkpoint's metadata (cnn_net_load_meta) */
    cnn_shape in;
    float *x, *shown; /* the image normalised for the network, and as drawn (in [0, 1]) */
    char what[512];   /* the image's description for titles */
    int label;        /* its true class when it comes from a data set, else -1 */
    char out[1024];
} viz_run;

static int fail(const viz_run *r, const char *fmt, const char *a) {
    fprintf(stderr, "cnn viz %s: ", r->cmd->name);
    fprintf(stderr, fmt, a);
    fputc('\n', stderr);
    return 0;
}

static int net_fail(const viz_run *r) {
    return fail(r, "%s", cnn_net_last_error(r->net));
}

/* Class k's name for titles: the model's, or "?" outside its classes. */
static const char *class_name(const viz_run *r, int k) {
    const char *n = cnn_net_class_name(r->net, k);
    return n ? n : "?";
}

/* The file name of a path, without its folders. */
static const char *base_name(const char *path) {
    const char *base = strrchr(path, '/');
    return base ? base + 1 : path;
}

/* The layer named by --layer (or dflt when not given; -1 and no name: an error). */
static int find_layer(viz_run *r, int dflt, const char *need) {
    if (!r->c.layer) {
        if (dflt < 0) fail(r, "%s", need);
        return dflt;
    }
    int l = cnn_net_find(r->net, r->c.layer);
    if (l < 0) {
        char names[2048] = "";
        for (int i = 0; i < cnn_net_layer_count(r->net) && strlen(names) < 1900; i++)
            snprintf(names + strlen(names), sizeof names - strlen(names), "%s%s", i ? ", " : "",
                     cnn_net_layer_name(r->net, i));
        fprintf(stderr, "cnn viz %s: --layer %s: no such layer (the layers: %s)\n", r->cmd->name,
                r->c.layer, names);
    }
    return l;
}

/* The test part of the data set named by --data, or by the checkpoint, with images of the
 * model's input size; its name in name. NULL (after a message) on failure. */
static cnn_dataset *load_test(viz_run *r, char *name, size_t size) {
    char cmd[64];
    snprintf(cmd, sizeof cmd, "viz %s", r->cmd->name);
    const char *spec = cli_data_spec(cmd, r->c.data, r->pos[0], r->meta, name, size);
    if (!spec) return NULL;
    if (spec != name) snprintf(name, size, "%s", spec);
    cnn_dataset *test = NULL;
    if (!cli_load_data("viz", name, NULL, &test, r->in.dim[0], r->in.dim[1], r->in.dim[2], NULL))
        return NULL;
    if (cnn_shape_numel(&test->shape) != cnn_shape_numel(&r->in)) {
        char a[64], b[64];
        fprintf(stderr, "cnn viz %s: %s has images of %s; the model takes %s\n", r->cmd->name,
                name, cnn_shape_str(&test->shape, a, sizeof a), cnn_shape_str(&r->in, b, sizeof b));
        cnn_dataset_free(test);
        return NULL;
    }
    return test;
}

/* Test sample --index of the data set into r->shown, with its class and description. */
static int load_test_sample(viz_run *r) {
    char data[4096];
    cnn_dataset *test = load_test(r, data, sizeof data);
    if (!test) return 0;
    int ok = 0;
    if (r->c.index >= test->n)
        fprintf(stderr, "cnn viz %s: --index %d: the test set of %s has %d images (0 to %d)\n",
                r->cmd->name, r->c.index, data, test->n, test->n - 1);
    else {
        cnn_dataset_sample(test, r->c.index, r->shown);
        r->label = test->y[r->c.index];
        snprintf(r->what, sizeof r->what, "test image %d (%s)", r->c.index,
                 class_name(r, r->label));
        ok = 1;
    }
    cnn_dataset_free(test);
    return ok;
}

/* The image to explain: the file given, or test sample --index. */
static int load_image(viz_run *r) {
    int from_file = r->npos == 2;
    if (from_file == (r->c.index >= 0))
        return fail(r, "%s", from_file ? "give an image file or --index, not both"
                                       : "give an image file, or --index I for a test image");
    if (from_file && r->c.data)
        return fail(r, "%s", "--data goes with --index, not with an image file");
    size_t numel = cnn_shape_numel(&r->in);
    r->x = malloc(numel * sizeof *r->x);
    r->shown = malloc(numel * sizeof *r->shown);
    if (!r->x || !r->shown) return fail(r, "%s", "out of memory");
    r->label = -1;
    if (from_file) {
        char err[1024];
        if (cnn_image_load(r->pos[1], r->in.dim[0], r->in.dim[1], r->in.dim[2], r->shown, err,
                           sizeof err))
            return fail(r, "%s", err);
        snprintf(r->what, sizeof r->what, "%s", base_name(r->pos[1]));
    } else if (!load_test_sample(r))
        return 0;
    memcpy(r->x, r->shown, numel * sizeof *r->x);
    if (cnn_preprocess_images(r->net, r->x, 1)) return net_fail(r), 0;
    return 1;
}

/* Pixels as a panel: colour for three channels, else grey. */
static cnn_panel picture_panel(const float *values, int C, int H, int W, float lo, float hi,
                               const char *label) {
    return (cnn_panel){.kind = C == 3 ? CNN_PANEL_RGB : CNN_PANEL_GRAY, .values = values,
                       .height = H, .width = W, .lo = lo, .hi = hi, .label = label};
}

/* Values as a heat map. */
static cnn_panel heat_panel(const float *values, int H, int W, float lo, float hi,
                            const char *label) {
    return (cnn_panel){.kind = CNN_PANEL_HEAT, .values = values, .height = H, .width = W,
                       .lo = lo, .hi = hi, .label = label};
}

/* The image as a panel: grey or colour, [0, 1]. */
static cnn_panel image_panel(const viz_run *r, const char *label) {
    return picture_panel(r->shown, r->in.dim[0], r->in.dim[1], r->in.dim[2], 0, 1, label);
}

/* A heat map of the image's size blended over it. */
static cnn_panel overlay_panel(const viz_run *r, const float *heat, float lo, float hi,
                               const char *label) {
    return (cnn_panel){.kind = CNN_PANEL_HEAT, .values = heat, .height = r->in.dim[1],
                       .width = r->in.dim[2], .lo = lo, .hi = hi, .label = label,
                       .under = r->shown, .under_channels = r->in.dim[0], .under_lo = 0,
                       .under_hi = 1, .alpha = 0.55f};
}

/* The largest of n values (of their sizes when absolute), at least 0. */
static float largest(const float *v, size_t n, int absolute) {
    float m = 0;
    for (size_t i = 0; i < n; i++) m = fmaxf(m, absolute ? fabsf(v[i]) : v[i]);
    return m;
}

/* The top of a colour scale for n values: the largest (size), or 1 when none is above 0. */
static float scale_top(const float *v, size_t n, int absolute) {
    float m = largest(v, n, absolute);
    return m > 0 ? m : 1;
}

/* The figure's colour scale. */
static void set_scale(cnn_figure *fig, const char *label, float lo, float hi) {
    fig->scale_label = label, fig->scale_lo = lo, fig->scale_hi = hi;
}

/* The zoom that draws panels W values wide at least `least` pixels wide. */
static int zoom_for(int W, int least) {
    return W >= least ? 1 : (least + W - 1) / W;
}

/* The end of a title when only n of total panels are drawn: ", first n of total", else "". */
static const char *first_of(char *buf, size_t size, int n, int total) {
    buf[0] = 0;
    if (n < total) snprintf(buf, size, ", first %d of %d", n, total);
    return buf;
}

/* Writes the figure to the output file and says so. */
static int save(viz_run *r, const cnn_figure *fig, const cnn_panel *p, int n) {
    char err[1024];
    if (cnn_figure_save(r->out, fig, p, n, err, sizeof err)) return fail(r, "%s", err);
    printf("wrote %s\n", r->out);
    return 1;
}

/* The title line about class cls, given the network's scores s and its top class. */
static void class_title(const viz_run *r, const float *s, int K, int top, int cls, char *title,
                        size_t size) {
    double mx = s[top], sum = 0;
    for (int k = 0; k < K; k++) sum += exp(s[k] - mx);
    double p_top = 1 / sum, p_cls = exp(s[cls] - mx) / sum;
    const char *cn = class_name(r, cls), *tn = class_name(r, top);
    if (cls == top)
        snprintf(title, size, "%s: predicted %s (%.1f%%)", r->what, tn, 100 * p_top);
    else
        snprintf(title, size, "%s: class %s (%.1f%%; predicted %s, %.1f%%)", r->what, cn,
                 100 * p_cls, tn, 100 * p_top);
}

/* The class to explain (--class or the predicted one) and a title line about it. */
static int pick_class(viz_run *r, int *cls, char *title, size_t size) {
    int K = cnn_net_layer_shape(r->net, cnn_net_score_layer(r->net)).dim[0], top;
    float *s = malloc((size_t)K * sizeof *s);
    if (!s) return fail(r, "%s", "out of memory");
    if (cnn_net_scores(r->net, r->x, s, &top)) {
        free(s);
        return net_fail(r);
    }
    *cls = r->c.cls >= 0 ? r->c.cls : top;
    if (*cls >= K) {
        free(s);
        fprintf(stderr, "cnn viz %s: --class %d: the model has %d classes (0 to %d)\n",
                r->cmd->name, *cls, K, K - 1);
        return 0;
    }
    class_title(r, s, K, top, *cls, title, size);
    printf("%s\n", title);
    free(s);
    return 1;
}

/* ---------------------------------------------------------------------------------------------
 * The pictures
 * ------------------------------------------------------------------------------------------- */

/* A conv2d layer's weights: OC x IC x KH x KW floats (n_w of them, before any biases). */
typedef struct conv_weights {
    const float *w;
    size_t n_w;
    int OC, IC, KH, KW;
} conv_weights;

/* The conv2d layer to draw: --layer, else the first; -1 after a message. */
static int filters_layer(viz_run *r) {
    int l = -1;
    for (int i = 0; i < cnn_net_layer_count(r->net) && l < 0; i++)
        if (!strcmp(cnn_net_layer_type(r->net, i), "conv2d")) l = i;
    if ((l = find_layer(r, l, "the model has no conv2d layer")) < 0) return -1;
    if (strcmp(cnn_net_layer_type(r->net, l), "conv2d") != 0) {
        fprintf(stderr, "cnn viz filters: layer '%s' is a %s; filters are drawn for conv2d "
                "layers\n", cnn_net_layer_name(r->net, l), cnn_net_layer_type(r->net, l));
        return -1;
    }
    return l;
}

/* Layer l's weights and their shape; 0 after a message when its kernel size cannot be told. */
static int conv_weights_of(viz_run *r, int l, conv_weights *cw) {
    cnn_shape out = cnn_net_layer_shape(r->net, l);
    cnn_shape in = cnn_net_layer_shape(r->net, cnn_net_layer_input(r->net, l, 0));
    char args[1024], *g = NULL;
    cnn_net_layer_args(r->net, l, args, sizeof args);
    int OC = out.dim[0], groups = (g = strstr(args, "groups=")) ? atoi(g + 7) : 1;
    int IC = in.dim[0] / (groups > 0 ? groups : 1);
    size_t n_w = cnn_net_layer_param_count(r->net, l) - (strstr(args, "bias=0") ? 0 : (size_t)OC);
    int kk = (int)(n_w / ((size_t)OC * IC)); /* KH * KW */
    int KH = 0, KW = 0;
    const char *k = strstr(args, "kernel=");
    if (k && sscanf(k + 7, "%dx%d", &KH, &KW) < 2) KW = KH;
    if (KH * KW != kk)
        return fail(r, "layer '%s': cannot tell its kernel size", cnn_net_layer_name(r->net, l));
    const float *w = cnn_net_params(r->net) + cnn_net_layer_param_offset(r->net, l);
    *cw = (conv_weights){.w = w, .n_w = n_w, .OC = OC, .IC = IC, .KH = KH, .KW = KW};
    return 1;
}

/* Panel i of the filters, labelled "out" or "out:in". */
static cnn_panel filter_panel(const conv_weights *cw, int i, float m, char *label, size_t size) {
    /* Colour: one picture per output channel, its own range. Else one map per (out, in) pair,
     * all on one symmetric scale [-m, m] so that signs and sizes compare. */
    int rgb = cw->IC == 3, oc = rgb ? i : i / cw->IC, ic = rgb ? 0 : i % cw->IC;
    const float *w = cw->w + ((size_t)oc * cw->IC + ic) * (size_t)(cw->KH * cw->KW);
    if (rgb) snprintf(label, size, "%d", oc);
    else snprintf(label, size, cw->IC > 1 ? "%d:%d" : "%d", oc, ic);
    return rgb ? picture_panel(w, 3, cw->KH, cw->KW, 0, 0, label)
               : heat_panel(w, cw->KH, cw->KW, -m, m, label);
}

static int do_filters(viz_run *r) {
    conv_weights cw;
    int l = filters_layer(r);
    if (l < 0 || !conv_weights_of(r, l, &cw)) return 0;
    int rgb = cw.IC == 3, total = rgb ? cw.OC : cw.OC * cw.IC;
    int n = total < r->c.max ? total : r->c.max;
    cnn_panel *p = calloc((size_t)n, sizeof *p);
    char(*labels)[32] = calloc((size_t)n, sizeof *labels);
    int ok = 0;
    if (!p || !labels) fail(r, "%s", "out of memory");
    else {
        float m = largest(cw.w, cw.n_w, 1);
        for (int i = 0; i < n; i++) p[i] = filter_panel(&cw, i, m, labels[i], sizeof labels[i]);
        char title[512], more[64];
        snprintf(title, sizeof title, "filters of '%s': %d x %d x %dx%d%s%s",
                 cnn_net_layer_name(r->net, l), cw.OC, cw.IC, cw.KH, cw.KW,
                 rgb ? " (RGB)" : cw.IC > 1 ? " (out:in)" : "",
                 first_of(more, sizeof more, n, total));
        cnn_figure fig = {.title = title, .columns = rgb || cw.IC == 1 ? 0 : cw.IC,
                          .scale_label = rgb ? NULL : "weight", .scale_lo = -m, .scale_hi = m};
        ok = save(r, &fig, p, n);
    }
    free(p);
    free(labels);
    return ok;
}

/* Layer l's shape when it is feature maps (C x H x W); else rank 0 after a message. */
static cnn_shape feature_maps(const viz_run *r, int l) {
    cnn_shape s = cnn_net_layer_shape(r->net, l);
    if (s.rank != 3) {
        char sh[64];
        fprintf(stderr, "cnn viz %s: layer '%s' is %s, not feature maps (C x H x W)\n",
                r->cmd->name, cnn_net_layer_name(r->net, l), cnn_shape_str(&s, sh, sizeof sh));
        s.rank = 0;
    }
    return s;
}

/* The first n channels of activations a (shape s) as heat maps on one scale, after the image. */
static void maps_panels(const viz_run *r, const float *a, cnn_shape s, int n, cnn_figure *fig,
                        cnn_panel *p, char (*labels)[16]) {
    size_t plane = (size_t)s.dim[1] * s.dim[2];
    /* One scale for all channels (lo == hi would mean each its own). */
    float lo = a[0], hi = a[0];
    for (size_t i = 0; i < (size_t)n * plane; i++) lo = fminf(lo, a[i]), hi = fmaxf(hi, a[i]);
    if (hi <= lo) hi = lo + 1;
    p[0] = image_panel(r, "input");
    for (int c = 0; c < n; c++) {
        snprintf(labels[c], sizeof labels[c], "%d", c);
        p[c + 1] = heat_panel(a + (size_t)c * plane, s.dim[1], s.dim[2], lo, hi, labels[c]);
    }
    set_scale(fig, "activation", lo, hi);
}

static int do_maps(viz_run *r) {
    int l = find_layer(r, -1, "give the layer: --layer NAME (cnn summary MODEL lists them)");
    if (l < 0 || !load_image(r)) return 0;
    cnn_shape s = feature_maps(r, l);
    if (s.rank != 3) return 0;
    float *a = malloc(cnn_shape_numel(&s) * sizeof *a);
    int C = s.dim[0], n = C < r->c.max ? C : r->c.max;
    cnn_panel *p = calloc((size_t)n + 1, sizeof *p);
    char(*labels)[16] = calloc((size_t)n, sizeof *labels);
    int ok = 0;
    if (!a || !p || !labels) fail(r, "%s", "out of memory");
    else if (cnn_layer_activations(r->net, r->x, l, a)) net_fail(r);
    else {
        char title[700], more[64], sh[64];
        snprintf(title, sizeof title, "feature maps of '%s' (%s) for %s%s",
                 cnn_net_layer_name(r->net, l), cnn_shape_str(&s, sh, sizeof sh), r->what,
                 first_of(more, sizeof more, n, C));
        cnn_figure fig = {.title = title};
        maps_panels(r, a, s, n, &fig, p, labels);
        ok = save(r, &fig, p, n + 1);
    }
    free(a);
    free(p);
    free(labels);
    return ok;
}

enum { STATS_BINS = 40 };

/* What viz stats draws: a batch of images, and a histogram per layer with its title and note. */
typedef struct stats_buf {
    float *x;
    cnn_histogram *h;
    uint64_t *counts;
    char (*titles)[96], (*notes)[96];
    int n; /* histograms filled */
} stats_buf;

/* The buffers for B images and L layers. */
static int stats_alloc(const viz_run *r, stats_buf *sb, int B, int L) {
    sb->x = malloc((size_t)B * cnn_shape_numel(&r->in) * sizeof *sb->x);
    sb->h = calloc((size_t)L, sizeof *sb->h);
    sb->counts = calloc((size_t)L * STATS_BINS, sizeof *sb->counts);
    sb->titles = calloc((size_t)L, sizeof *sb->titles);
    sb->notes = calloc((size_t)L, sizeof *sb->notes);
    if (!sb->x || !sb->h || !sb->counts || !sb->titles || !sb->notes)
        return fail(r, "%s", "out of memory");
    return 1;
}

/* Frees what viz stats allocated. */
static void stats_free(stats_buf *sb) {
    free(sb->x);
    free(sb->h);
    free(sb->counts);
    free(sb->titles);
    free(sb->notes);
}

/* Runs the network, in inference mode, on the first B test images (into x). */
static int stats_forward(viz_run *r, const cnn_dataset *test, float *x, int B) {
    size_t numel = cnn_shape_numel(&r->in);
    for (int i = 0; i < B; i++) cnn_dataset_sample(test, i, x + (size_t)i * numel);
    if (cnn_preprocess_images(r->net, x, B)) return net_fail(r);
    cnn_net_set_training(r->net, 0);
    if (cnn_net_prepare(r->net, B) || cnn_net_forward(r->net, x, B)) return net_fail(r);
    return 1;
}

/* Layer l's row of the table. */
static void stats_row(const viz_run *r, int l, const cnn_activation_stats *st, int relu) {
    cnn_shape s = cnn_net_layer_shape(r->net, l);
    char a[64];
    printf("%-16s %-12s %-12s %10.4g %10.4g %10.4g %10.4g %6.1f%% ",
           cnn_net_layer_name(r->net, l), cnn_net_layer_type(r->net, l),
           cnn_shape_str(&s, a, sizeof a), st->mean, st->std, st->min, st->max,
           100 * st->zero_fraction);
    if (relu) printf("%6.1f%%\n", 100 * st->dead_fraction);
    else printf("%7s\n", "-");
}

/* Layer l's statistics: a row of the table and the next histogram. */
static int stats_layer(viz_run *r, int l, stats_buf *sb) {
    const char *type = cnn_net_layer_type(r->net, l);
    /* Left out: input and flatten layers (the image, and a copy of the layer before). */
    if (!strcmp(type, "input") || !strcmp(type, "flatten")) return 1;
    cnn_activation_stats st;
    float lo = 0, hi = 0;
    int n = sb->n, relu = !strcmp(type, "relu");
    uint64_t *counts = sb->counts + (size_t)n * STATS_BINS;
    if (cnn_layer_stats(r->net, l, &st, STATS_BINS, &lo, &hi, counts)) return net_fail(r);
    stats_row(r, l, &st, relu);
    snprintf(sb->titles[n], sizeof sb->titles[n], "%s (%s)", cnn_net_layer_name(r->net, l), type);
    size_t size = sizeof sb->notes[n];
    if (relu)
        snprintf(sb->notes[n], size, "mean %.3g, sd %.3g; %.0f%% zero, %.1f%% never fire", st.mean,
                 st.std, 100 * st.zero_fraction, 100 * st.dead_fraction);
    else
        snprintf(sb->notes[n], size, "mean %.3g, sd %.3g; %.0f%% zero", st.mean, st.std,
                 100 * st.zero_fraction);
    sb->h[n] = (cnn_histogram){.title = sb->titles[n], .lo = lo, .hi = hi, .bins = STATS_BINS,
                               .counts = counts, .note = sb->notes[n]};
    sb->n++;
    return 1;
}

/* Draws the histograms of B images. */
static int stats_save(viz_run *r, const stats_buf *sb, int B) {
    char title[512], err[1024];
    snprintf(title, sizeof title, "activations over %d test images: never fire = a ReLU unit "
             "at 0 for all of them", B);
    if (cnn_histograms_save(r->out, title, sb->h, sb->n, 0, err, sizeof err))
        return fail(r, "%s", err);
    printf("wrote %s\n", r->out);
    return 1;
}

static int do_stats(viz_run *r) {
    char data[4096];
    cnn_dataset *test = load_test(r, data, sizeof data);
    if (!test) return 0;
    int B = r->c.batch < test->n ? r->c.batch : test->n, L = cnn_net_layer_count(r->net);
    stats_buf sb = {0};
    int ok = stats_alloc(r, &sb, B, L) && stats_forward(r, test, sb.x, B);
    if (ok) {
        printf("activations over %d test images of %s\n", B, data);
        printf("%-16s %-12s %-12s %10s %10s %10s %10s %7s %7s\n", "layer", "type", "shape",
               "mean", "std", "min", "max", "zero", "dead");
    }
    for (int l = 0; ok && l < L; l++) ok = stats_layer(r, l, &sb);
    ok = ok && stats_save(r, &sb, B);
    cnn_dataset_free(test);
    stats_free(&sb);
    return ok;
}

/* What an explanation draws: the class, the layer for Grad-CAM (or -1), the buffers, the
 * panels (the image first) and the figure. */
typedef struct explain_buf {
    int cls, layer;
    const char *cn; /* the class's name */
    float *g, *map, *up; /* input gradient (C x H x W), a map and an upsampled map (H x W) */
    float *cam, *shown;  /* the Grad-CAM map at the layer's size; guided Grad-CAM (H x W) */
    cnn_panel p[4];
    int n;
    char lab[2][128];
    cnn_figure fig;
} explain_buf;

/* The buffers every explanation needs: g, map and up. */
static int explain_alloc(const viz_run *r, explain_buf *e) {
    size_t plane = (size_t)r->in.dim[1] * r->in.dim[2];
    e->g = malloc((size_t)r->in.dim[0] * plane * sizeof *e->g);
    e->map = malloc(plane * sizeof *e->map);
    e->up = malloc(plane * sizeof *e->up);
    if (!e->g || !e->map || !e->up) return fail(r, "%s", "out of memory");
    return 1;
}

/* Frees what an explanation allocated. */
static void explain_free(explain_buf *e) {
    free(e->g);
    free(e->map);
    free(e->up);
    free(e->cam);
    free(e->shown);
}

/* saliency: the largest |gradient| over the channels, alone and over the image. */
static int explain_saliency(viz_run *r, explain_buf *e) {
    int C = r->in.dim[0], H = r->in.dim[1], W = r->in.dim[2];
    if (cnn_input_gradient(r->net, r->x, e->cls, CNN_BACKPROP_PLAIN, e->g)) return net_fail(r);
    cnn_saliency_map(e->g, C, H, W, e->map);
    float hi = scale_top(e->map, (size_t)H * W, 0);
    snprintf(e->lab[0], sizeof e->lab[0], "saliency of %s", e->cn);
    e->p[e->n++] = heat_panel(e->map, H, W, 0, hi, e->lab[0]);
    e->p[e->n++] = overlay_panel(r, e->map, 0, hi, "over the image");
    set_scale(&e->fig, "|d score/d pixel|", 0, hi);
    return 1;
}

/* guided Grad-CAM: the guided gradient's size times the Grad-CAM map, in grey. */
static int guided_gradcam(viz_run *r, explain_buf *e) {
    int C = r->in.dim[0], H = r->in.dim[1], W = r->in.dim[2];
    size_t plane = (size_t)H * W;
    cnn_shape s = cnn_net_layer_shape(r->net, e->layer);
    e->cam = malloc((size_t)s.dim[1] * s.dim[2] * sizeof *e->cam);
    e->shown = malloc(plane * sizeof *e->shown);
    if (!e->cam || !e->shown) return fail(r, "%s", "out of memory");
    if (cnn_gradcam(r->net, r->x, e->cls, e->layer, e->cam, e->up)) return net_fail(r);
    cnn_saliency_map(e->g, C, H, W, e->map);
    for (size_t i = 0; i < plane; i++) e->shown[i] = e->map[i] * e->up[i];
    snprintf(e->lab[1], sizeof e->lab[1], "guided Grad-CAM ('%s')",
             cnn_net_layer_name(r->net, e->layer));
    e->p[e->n++] = picture_panel(e->shown, 1, H, W, 0, 0, e->lab[1]);
    return 1;
}

/* guided: the guided backpropagation gradient, then guided Grad-CAM when there is a layer. */
static int explain_guided(viz_run *r, explain_buf *e) {
    int C = r->in.dim[0], H = r->in.dim[1], W = r->in.dim[2];
    if (cnn_input_gradient(r->net, r->x, e->cls, CNN_BACKPROP_GUIDED, e->g)) return net_fail(r);
    /* Signed gradients on a symmetric scale: grey for one channel, colour (0.5 = zero)
     * for three. */
    float m = scale_top(e->g, (size_t)C * H * W, 1);
    snprintf(e->lab[0], sizeof e->lab[0], "guided backprop, %s", e->cn);
    if (C == 3) {
        e->p[e->n++] = picture_panel(e->g, 3, H, W, -m, m, e->lab[0]);
    } else {
        e->p[e->n++] = heat_panel(e->g, H, W, -m, m, e->lab[0]);
        set_scale(&e->fig, "gradient", -m, m);
    }
    return e->layer < 0 || guided_gradcam(r, e);
}

/* gradcam: the Grad-CAM map at the layer's size, and upsampled over the image. */
static int explain_gradcam(viz_run *r, explain_buf *e) {
    cnn_shape s = feature_maps(r, e->layer);
    if (s.rank != 3) return 0;
    int h = s.dim[1], w = s.dim[2];
    e->cam = malloc((size_t)h * w * sizeof *e->cam);
    if (!e->cam) return fail(r, "%s", "out of memory");
    if (cnn_gradcam(r->net, r->x, e->cls, e->layer, e->cam, e->up)) return net_fail(r);
    float hi = scale_top(e->cam, (size_t)h * w, 0);
    snprintf(e->lab[0], sizeof e->lab[0], "Grad-CAM at '%s' (%dx%d)",
             cnn_net_layer_name(r->net, e->layer), h, w);
    e->p[e->n++] = heat_panel(e->cam, h, w, 0, hi, e->lab[0]);
    snprintf(e->lab[1], sizeof e->lab[1], "%s, over the image", e->cn);
    e->p[e->n++] = overlay_panel(r, e->up, 0, hi, e->lab[1]);
    set_scale(&e->fig, "Grad-CAM", 0, hi);
    return 1;
}

/* saliency, guided and gradcam: the explanation of one class for one image. */
static int do_explain(viz_run *r) {
    int gradcam = !strcmp(r->cmd->name, "gradcam"), guided = !strcmp(r->cmd->name, "guided");
    explain_buf e = {.layer = -1};
    if (gradcam || guided) {
        e.layer = find_layer(r, cnn_gradcam_layer(r->net),
                             "the model has no conv2d layer for Grad-CAM: give --layer NAME");
        if (e.layer < 0 && (gradcam || r->c.layer)) return 0;
    }
    char title[700];
    if (!load_image(r) || !pick_class(r, &e.cls, title, sizeof title)) return 0;
    int ok = explain_alloc(r, &e);
    if (ok) {
        e.cn = class_name(r, e.cls);
        e.p[e.n++] = image_panel(r, "image");
        e.fig.title = title;
        ok = gradcam ? explain_gradcam(r, &e) : guided ? explain_guided(r, &e)
                                                       : explain_saliency(r, &e);
    }
    if (ok) {
        /* Panels of different sizes (a 7x7 map beside a 28x28 image) are drawn at one zoom. */
        e.fig.zoom = zoom_for(r->in.dim[2], 160);
        e.fig.columns = e.n;
        ok = save(r, &e.fig, e.p, e.n);
    }
    explain_free(&e);
    return ok;
}

/* The units of --unit, at most max; their count, or 0 after a message. */
static int parse_units(const viz_run *r, int *units, int max) {
    int n = 0;
    char *end;
    for (const char *s = r->c.units; *s; s = *end ? end + 1 : end) {
        long u = strtol(s, &end, 10);
        if (end == s || u < 0 || u > 1000000 || (*end && *end != ',') || n == max) {
            n = 0;
            break;
        }
        units[n++] = (int)u;
    }
    if (!n)
        fail(r, "--unit %s: expected up to 64 unit numbers separated by commas", r->c.units);
    return n;
}

/* Image x back in pixel values for the picture. */
static void unnormalise(const viz_run *r, float *x) {
    /* The normalisation is undone; a blur or Sobel preprocessing stays. */
    const cnn_preprocess *pp = cnn_net_preprocess(r->net);
    size_t plane = cnn_shape_numel(&r->in) / (size_t)r->in.dim[0];
    for (int ch = 0; pp->mean && ch < r->in.dim[0]; ch++)
        for (size_t k = 0; k < plane; k++)
            x[ch * plane + k] = x[ch * plane + k] * pp->std[ch] + pp->mean[ch];
}

/* Dreams the image x that raises unit u of layer l, and its panel (on its own range). */
static int dream_unit(viz_run *r, int l, int u, const cnn_dream_config *cfg, float *x,
                      char *label, size_t size, cnn_panel *p) {
    float before, after;
    if (cnn_activation_maximize(r->net, l, u, cfg, x, &before, &after)) return net_fail(r);
    printf("%s unit %d: activation %.4g -> %.4g in %d steps\n", cnn_net_layer_name(r->net, l), u,
           before, after, cfg->steps);
    unnormalise(r, x);
    snprintf(label, size, "%d: %.3g -> %.3g", u, before, after);
    *p = picture_panel(x, r->in.dim[0], r->in.dim[1], r->in.dim[2], 0, 0, label);
    return 1;
}

static int do_dream(viz_run *r) {
    int l = find_layer(r, -1, "give the layer: --layer NAME (cnn summary MODEL lists them)");
    if (l < 0) return 0;
    if (!r->c.units) return fail(r, "%s", "give the unit(s): --unit U or --unit U,V,...");
    int units[64], n = parse_units(r, units, 64);
    if (!n) return 0;
    cnn_dream_config cfg = cnn_dream_defaults();
    cfg.steps = r->c.steps, cfg.rate = r->c.rate, cfg.decay = r->c.decay;
    cfg.blur_every = r->c.blur, cfg.noise = r->c.noise, cfg.seed = (uint64_t)r->c.seed;
    size_t numel = cnn_shape_numel(&r->in);
    float *x = malloc((size_t)n * numel * sizeof *x);
    cnn_panel *p = calloc((size_t)n, sizeof *p);
    char(*labels)[64] = calloc((size_t)n, sizeof *labels);
    int ok = x && p && labels;
    if (!ok) fail(r, "%s", "out of memory");
    for (int i = 0; ok && i < n; i++)
        ok = dream_unit(r, l, units[i], &cfg, x + (size_t)i * numel, labels[i], sizeof labels[i],
                        &p[i]);
    if (ok) {
        char title[512];
        snprintf(title, sizeof title, "what raises units of '%s' (%d steps from noise; "
                 "activation before -> after)", cnn_net_layer_name(r->net, l), cfg.steps);
        cnn_figure fig = {.title = title, .zoom = zoom_for(r->in.dim[2], 128)};
        ok = save(r, &fig, p, n);
    }
    free(x);
    free(p);
    free(labels);
    return ok;
}

/* The size to filter an H x W photograph at: --size, else its own up to 256, on the longer side. */
static void kernels_size(const viz_run *r, int H, int W, int *h, int *w) {
    int longer = H > W ? H : W;
    int side = r->c.size > 0 ? r->c.size : longer < 256 ? longer : 256;
    double scale = (double)side / longer;
    *h = (int)(H * scale + 0.5), *w = (int)(W * scale + 0.5);
    *h = *h < 1 ? 1 : *h, *w = *w < 1 ? 1 : *w;
}

/* Applies classic kernel i to img (C x h x w) into out and prints it; its name. */
static const char *apply_kernel(int i, const float *img, int C, int h, int w, float *out) {
    float k[9];
    const char *name = cnn_classic_kernel_name(i);
    cnn_classic_kernel(name, k);
    cnn_filter3x3(img, C, h, w, k, out);
    printf("%s:\n", name);
    for (int row = 0; row < 3; row++)
        printf("  %5g %5g %5g\n", k[row * 3], k[row * 3 + 1], k[row * 3 + 2]);
    return name;
}

static int do_kernels(viz_run *r) {
    const char *path = r->pos[0];
    char err[1024];
    int C, H, W, h, w;
    if (cnn_image_size(path, &C, &H, &W, err, sizeof err)) return fail(r, "%s", err);
    kernels_size(r, H, W, &h, &w);
    C = r->c.color && C == 3 ? 3 : 1;
    enum { K = 6 };
    size_t numel = (size_t)C * h * w;
    float *img = malloc(numel * sizeof *img), *out = malloc(K * numel * sizeof *out);
    cnn_panel p[K];
    int ok = 0;
    if (!img || !out) fail(r, "%s", "out of memory");
    else if (cnn_image_load(path, C, h, w, img, err, sizeof err)) fail(r, "%s", err);
    else {
        /* Pixel values as a photo editor shows them: clamped to [0, 1]. */
        for (int i = 0; i < K; i++) {
            float *o = out + (size_t)i * numel;
            p[i] = picture_panel(o, C, h, w, 0, 1, apply_kernel(i, img, C, h, w, o));
        }
        char title[512];
        snprintf(title, sizeof title, "the classic 3x3 kernels on %s (%dx%d%s)", base_name(path),
                 w, h, C == 3 ? ", colour" : ", grey");
        cnn_figure fig = {.title = title, .columns = 3, .zoom = 1};
        ok = save(r, &fig, p, K);
    }
    free(img);
    free(out);
    return ok;
}

/* The pictures' names, comma-separated, on stderr. */
static void list_pictures(void) {
    for (int i = 0; i < N_CMDS; i++) fprintf(stderr, "%s%s", i ? ", " : "", CMDS[i].name);
}

/* The picture argv[0] names, with its options and arguments, into r; 0 on a usage error. */
static int parse_run(viz_run *r, int argc, char **argv) {
    for (int i = 0; i < N_CMDS; i++)
        if (!strcmp(argv[0], CMDS[i].name)) r->cmd = &CMDS[i];
    if (!r->cmd) {
        fprintf(stderr, "cnn viz: unknown picture '%s' (", argv[0]);
        list_pictures();
        fprintf(stderr, ")\n");
        return 0;
    }
    cli_opt o[20];
    fill_opts(r->cmd, o, &r->c);
    char cmdname[32];
    snprintf(cmdname, sizeof cmdname, "viz %s", r->cmd->name);
    if (!cli_parse(cmdname, o, argc - 1, argv + 1, r->pos, 2, &r->npos)) return 0;
    if (r->npos < 1 || r->npos > r->cmd->positional) {
        fprintf(stderr, "cnn viz %s: %s (usage: %s)\n", r->cmd->name,
                r->npos < 1 ? (strcmp(r->cmd->name, "kernels") ? "give the checkpoint"
                                                               : "give an image")
                            : "too many arguments",
                r->cmd->usage);
        return 0;
    }
    snprintf(r->out, sizeof r->out, "%s", r->c.out ? r->c.out : "");
    if (!r->c.out) snprintf(r->out, sizeof r->out, "viz-%s.png", r->cmd->name);
    return 1;
}

/* Loads the checkpoint and draws the picture from it; the exit code. */
static int draw_model(viz_run *r) {
    char err[2048];
    if (cnn_net_load_meta(r->pos[0], &r->net, &r->meta, err, sizeof err)) {
        fail(r, "%s", err);
        return 1;
    }
    r->in = cnn_net_input_shape(r->net, 0);
    int ok = 0;
    if (r->cmd->positional == 2 && r->in.rank != 3)
        fail(r, "%s", "the model's input is not an image (C x H x W)");
    else if (!strcmp(r->cmd->name, "filters")) ok = do_filters(r);
    else if (!strcmp(r->cmd->name, "maps")) ok = do_maps(r);
    else if (!strcmp(r->cmd->name, "stats")) ok = do_stats(r);
    else if (!strcmp(r->cmd->name, "dream")) ok = do_dream(r);
    else ok = do_explain(r);
    free(r->x);
    free(r->shown);
    free(r->meta);
    cnn_net_free(r->net);
    return ok ? 0 : 1;
}

int cli_viz(int argc, char **argv) {
    if (argc < 1 || argv[0][0] == '-') {
        if (argc >= 1 && (!strcmp(argv[0], "-h") || !strcmp(argv[0], "--help"))) {
            cli_viz_help(stdout, NULL);
            return 0;
        }
        fprintf(stderr, "cnn viz: say what to draw: ");
        list_pictures();
        fprintf(stderr, " (see cnn help viz)\n");
        return 2;
    }
    viz_run r = {.c = {.cls = -1, .index = -1, .max = 256, .batch = 256, .steps = 200,
                       .rate = 0.05f, .decay = 0.001f, .blur = 10, .noise = 0.1f, .seed = 1}};
    if (!parse_run(&r, argc, argv)) return 2;
    if (!strcmp(r.cmd->name, "kernels")) return do_kernels(&r) ? 0 : 1;
    return draw_model(&r);
}

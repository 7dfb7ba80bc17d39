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
    if (r->c.data) snprintf(name, size, "%s", r->c.data);
    else if (!cli_checkpoint_data(r->pos[0], name, size)) {
        fail(r, "%s", "the checkpoint names no data set: give --data");
        return NULL;
    }
    cnn_dataset *test = NULL;
    if (!cli_load_data("viz", name, NULL, &test, r->in.dim[0], r->in.dim[1], r->in.dim[2]))
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
        const char *base = strrchr(r->pos[1], '/');
        snprintf(r->what, sizeof r->what, "%s", base ? base + 1 : r->pos[1]);
    } else {
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
        if (!ok) return 0;
    }
    memcpy(r->x, r->shown, numel * sizeof *r->x);
    if (cnn_preprocess_images(r->net, r->x, 1)) return net_fail(r), 0;
    return 1;
}

/* The image as a panel: grey or colour, [0, 1]. */
static cnn_panel image_panel(const viz_run *r, const char *label) {
    return (cnn_panel){.kind = r->in.dim[0] == 3 ? CNN_PANEL_RGB : CNN_PANEL_GRAY,
                       .values = r->shown, .height = r->in.dim[1], .width = r->in.dim[2],
                       .lo = 0, .hi = 1, .label = label};
}

/* A heat map of the image's size blended over it. */
static cnn_panel overlay_panel(const viz_run *r, const float *heat, float lo, float hi,
                               const char *label) {
    return (cnn_panel){.kind = CNN_PANEL_HEAT, .values = heat, .height = r->in.dim[1],
                       .width = r->in.dim[2], .lo = lo, .hi = hi, .label = label,
                       .under = r->shown, .under_channels = r->in.dim[0], .under_lo = 0,
                       .under_hi = 1, .alpha = 0.55f};
}

static int save(viz_run *r, const cnn_figure *fig, const cnn_panel *p, int n) {
    char err[1024];
    if (cnn_figure_save(r->out, fig, p, n, err, sizeof err)) return fail(r, "%s", err);
    printf("wrote %s\n", r->out);
    return 1;
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
    double mx = s[top], sum = 0;
    for (int k = 0; k < K; k++) sum += exp(s[k] - mx);
    double p_top = 1 / sum, p_cls = exp(s[*cls] - mx) / sum;
    const char *cn = class_name(r, *cls), *tn = class_name(r, top);
    if (*cls == top)
        snprintf(title, size, "%s: predicted %s (%.1f%%)", r->what, tn, 100 * p_top);
    else
        snprintf(title, size, "%s: class %s (%.1f%%; predicted %s, %.1f%%)", r->what, cn,
                 100 * p_cls, tn, 100 * p_top);
    printf("%s\n", title);
    free(s);
    return 1;
}

/* ---------------------------------------------------------------------------------------------
 * The pictures
 * ------------------------------------------------------------------------------------------- */

static int do_filters(viz_run *r) {
    int l = -1;
    for (int i = 0; i < cnn_net_layer_count(r->net) && l < 0; i++)
        if (!strcmp(cnn_net_layer_type(r->net, i), "conv2d")) l = i;
    if ((l = find_layer(r, l, "the model has no conv2d layer")) < 0) return 0;
    const char *name = cnn_net_layer_name(r->net, l);
    if (strcmp(cnn_net_layer_type(r->net, l), "conv2d") != 0) {
        fprintf(stderr, "cnn viz filters: layer '%s' is a %s; filters are drawn for conv2d "
                "layers\n", name, cnn_net_layer_type(r->net, l));
        return 0;
    }
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
    if (KH * KW != kk) return fail(r, "layer '%s': cannot tell its kernel size", name);
    const float *w = cnn_net_params(r->net) + cnn_net_layer_param_offset(r->net, l);
    int rgb = IC == 3, total = rgb ? OC : OC * IC, n = total < r->c.max ? total : r->c.max;
    cnn_panel *p = calloc((size_t)n, sizeof *p);
    char(*labels)[32] = calloc((size_t)n, sizeof *labels);
    if (!p || !labels) {
        free(p);
        free(labels);
        return fail(r, "%s", "out of memory");
    }
    float m = 0;
    for (size_t i = 0; i < n_w; i++) m = fmaxf(m, fabsf(w[i]));
    for (int i = 0; i < n; i++) {
        /* Colour: one picture per output channel, its own range. Else one map per (out, in)
         * pair, all on one symmetric scale so that signs and sizes compare. */
        int oc = rgb ? i : i / IC, ic = rgb ? 0 : i % IC;
        if (rgb) snprintf(labels[i], sizeof labels[i], "%d", oc);
        else snprintf(labels[i], sizeof labels[i], IC > 1 ? "%d:%d" : "%d", oc, ic);
        p[i] = (cnn_panel){.kind = rgb ? CNN_PANEL_RGB : CNN_PANEL_HEAT,
                           .values = w + ((size_t)oc * IC + ic) * kk, .height = KH, .width = KW,
                           .lo = rgb ? 0 : -m, .hi = rgb ? 0 : m, .label = labels[i]};
    }
    char title[512], more[64] = "";
    if (n < total) snprintf(more, sizeof more, ", first %d of %d", n, total);
    snprintf(title, sizeof title, "filters of '%s': %d x %d x %dx%d%s%s", name, OC, IC, KH, KW,
             rgb ? " (RGB)" : IC > 1 ? " (out:in)" : "", more);
    cnn_figure fig = {.title = title, .columns = rgb || IC == 1 ? 0 : IC,
                      .scale_label = rgb ? NULL : "weight", .scale_lo = -m, .scale_hi = m};
    int ok = save(r, &fig, p, n);
    free(p);
    free(labels);
    return ok;
}

static int do_maps(viz_run *r) {
    int l = find_layer(r, -1, "give the layer: --layer NAME (cnn summary MODEL lists them)");
    if (l < 0 || !load_image(r)) return 0;
    cnn_shape s = cnn_net_layer_shape(r->net, l);
    char sh[64];
    if (s.rank != 3) {
        fprintf(stderr, "cnn viz maps: layer '%s' is %s, not feature maps (C x H x W)\n",
                cnn_net_layer_name(r->net, l), cnn_shape_str(&s, sh, sizeof sh));
        return 0;
    }
    float *a = malloc(cnn_shape_numel(&s) * sizeof *a);
    int C = s.dim[0], n = C < r->c.max ? C : r->c.max;
    cnn_panel *p = calloc((size_t)n + 1, sizeof *p);
    char(*labels)[16] = calloc((size_t)n, sizeof *labels);
    int ok = 0;
    if (!a || !p || !labels) fail(r, "%s", "out of memory");
    else if (cnn_layer_activations(r->net, r->x, l, a)) net_fail(r);
    else {
        float lo, hi;
        size_t plane = (size_t)s.dim[1] * s.dim[2];
        /* One scale for all channels (lo == hi would mean each its own). */
        lo = hi = a[0];
        for (size_t i = 0; i < (size_t)n * plane; i++) lo = fminf(lo, a[i]), hi = fmaxf(hi, a[i]);
        if (hi <= lo) hi = lo + 1;
        p[0] = image_panel(r, "input");
        for (int c = 0; c < n; c++) {
            snprintf(labels[c], sizeof labels[c], "%d", c);
            p[c + 1] = (cnn_panel){.kind = CNN_PANEL_HEAT, .values = a + (size_t)c * plane,
                                   .height = s.dim[1], .width = s.dim[2], .lo = lo, .hi = hi,
                                   .label = labels[c]};
        }
        char title[700], more[64] = "";
        if (n < C) snprintf(more, sizeof more, ", first %d of %d", n, C);
        snprintf(title, sizeof title, "feature maps of '%s' (%s) for %s%s",
                 cnn_net_layer_name(r->net, l), cnn_shape_str(&s, sh, sizeof sh), r->what, more);
        cnn_figure fig = {.title = title, .scale_label = "activation", .scale_lo = lo,
                          .scale_hi = hi};
        ok = save(r, &fig, p, n + 1);
    }
    free(a);
    free(p);
    free(labels);
    return ok;
}

static int do_stats(viz_run *r) {
    char data[4096];
    cnn_dataset *test = load_test(r, data, sizeof data);
    if (!test) return 0;
    size_t numel = cnn_shape_numel(&r->in);
    int B = r->c.batch < test->n ? r->c.batch : test->n, L = cnn_net_layer_count(r->net);
    enum { BINS = 40 };
    float *x = malloc((size_t)B * numel * sizeof *x);
    cnn_histogram *h = calloc((size_t)L, sizeof *h);
    uint64_t *counts = calloc((size_t)L * BINS, sizeof *counts);
    char(*titles)[96] = calloc((size_t)L, sizeof *titles), (*notes)[96] = calloc((size_t)L, 96);
    int ok = 0, n = 0;
    char a[64];
    if (!x || !h || !counts || !titles || !notes) {
        fail(r, "%s", "out of memory");
        goto out;
    }
    for (int i = 0; i < B; i++) cnn_dataset_sample(test, i, x + (size_t)i * numel);
    if (cnn_preprocess_images(r->net, x, B)) {
        net_fail(r);
        goto out;
    }
    cnn_net_set_training(r->net, 0);
    if (cnn_net_prepare(r->net, B) || cnn_net_forward(r->net, x, B)) {
        net_fail(r);
        goto out;
    }
    printf("activations over %d test images of %s\n", B, data);
    printf("%-16s %-12s %-12s %10s %10s %10s %10s %7s %7s\n", "layer", "type", "shape", "mean",
           "std", "min", "max", "zero", "dead");
    for (int l = 0; l < L; l++) {
        const char *type = cnn_net_layer_type(r->net, l);
        if (!strcmp(type, "input") || !strcmp(type, "flatten")) continue;
        cnn_activation_stats st;
        float lo = 0, hi = 0;
        if (cnn_layer_stats(r->net, l, &st, BINS, &lo, &hi, counts + (size_t)n * BINS)) {
            net_fail(r);
            goto out;
        }
        cnn_shape s = cnn_net_layer_shape(r->net, l);
        int relu = !strcmp(type, "relu");
        printf("%-16s %-12s %-12s %10.4g %10.4g %10.4g %10.4g %6.1f%% ",
               cnn_net_layer_name(r->net, l),
               type, cnn_shape_str(&s, a, sizeof a), st.mean, st.std, st.min, st.max,
               100 * st.zero_fraction);
        if (relu) printf("%6.1f%%\n", 100 * st.dead_fraction);
        else printf("%7s\n", "-");
        snprintf(titles[n], sizeof titles[n], "%s (%s)", cnn_net_layer_name(r->net, l), type);
        if (relu)
            snprintf(notes[n], 96, "mean %.3g, sd %.3g; %.0f%% zero, %.1f%% never fire", st.mean,
                     st.std, 100 * st.zero_fraction, 100 * st.dead_fraction);
        else
            snprintf(notes[n], 96, "mean %.3g, sd %.3g; %.0f%% zero", st.mean, st.std,
                     100 * st.zero_fraction);
        h[n] = (cnn_histogram){.title = titles[n], .lo = lo, .hi = hi, .bins = BINS,
                               .counts = counts + (size_t)n * BINS, .note = notes[n]};
        n++;
    }
    char title[512], err[1024];
    snprintf(title, sizeof title, "activations over %d test images: never fire = a ReLU unit "
             "at 0 for all of them", B);
    if (cnn_histograms_save(r->out, title, h, n, 0, err, sizeof err)) {
        fail(r, "%s", err);
        goto out;
    }
    printf("wrote %s\n", r->out);
    ok = 1;
out:
    cnn_dataset_free(test);
    free(x);
    free(h);
    free(counts);
    free(titles);
    free(notes);
    return ok;
}

/* saliency, guided and gradcam: the explanation of one class for one image. */
static int do_explain(viz_run *r) {
    const char *sub = r->cmd->name;
    int gradcam = !strcmp(sub, "gradcam"), guided = !strcmp(sub, "guided");
    int l = -1;
    if (gradcam || guided) {
        l = find_layer(r, cnn_gradcam_layer(r->net),
                       "the model has no conv2d layer for Grad-CAM: give --layer NAME");
        if (l < 0 && (gradcam || r->c.layer)) return 0;
    }
    if (!load_image(r)) return 0;
    int cls = 0, C = r->in.dim[0], H = r->in.dim[1], W = r->in.dim[2];
    char title[700];
    if (!pick_class(r, &cls, title, sizeof title)) return 0;
    size_t plane = (size_t)H * W;
    float *g = malloc((size_t)C * plane * sizeof *g), *map = malloc(plane * sizeof *map);
    float *up = malloc(plane * sizeof *up), *cam = NULL, *shown = NULL;
    cnn_panel p[4];
    int n = 0, ok = 0;
    if (!g || !map || !up) {
        fail(r, "%s", "out of memory");
        goto out;
    }
    char lab[3][128];
    const char *cn = class_name(r, cls);
    p[n++] = image_panel(r, "image");
    cnn_figure fig = {.title = title};
    if (!strcmp(sub, "saliency")) {
        if (cnn_input_gradient(r->net, r->x, cls, CNN_BACKPROP_PLAIN, g)) goto net_error;
        cnn_saliency_map(g, C, H, W, map);
        float lo, hi = 0;
        for (size_t i = 0; i < plane; i++) hi = fmaxf(hi, map[i]);
        lo = 0;
        if (hi <= 0) hi = 1;
        snprintf(lab[0], sizeof lab[0], "saliency of %s", cn);
        p[n++] = (cnn_panel){.kind = CNN_PANEL_HEAT, .values = map, .height = H, .width = W,
                             .lo = lo, .hi = hi, .label = lab[0]};
        p[n++] = overlay_panel(r, map, lo, hi, "over the image");
        fig.scale_label = "|d score/d pixel|", fig.scale_lo = lo, fig.scale_hi = hi;
    } else if (guided) {
        if (cnn_input_gradient(r->net, r->x, cls, CNN_BACKPROP_GUIDED, g)) goto net_error;
        /* Signed gradients on a symmetric scale: grey for one channel, colour (0.5 = zero)
         * for three. */
        float m = 0;
        for (size_t i = 0; i < (size_t)C * plane; i++) m = fmaxf(m, fabsf(g[i]));
        if (m <= 0) m = 1;
        snprintf(lab[0], sizeof lab[0], "guided backprop, %s", cn);
        if (C == 3) {
            p[n++] = (cnn_panel){.kind = CNN_PANEL_RGB, .values = g, .height = H, .width = W,
                                 .lo = -m, .hi = m, .label = lab[0]};
        } else {
            p[n++] = (cnn_panel){.kind = CNN_PANEL_HEAT, .values = g, .height = H, .width = W,
                                 .lo = -m, .hi = m, .label = lab[0]};
            fig.scale_label = "gradient", fig.scale_lo = -m, fig.scale_hi = m;
        }
        if (l >= 0) { /* guided Grad-CAM: the guided gradient's size times the map */
            cnn_shape s = cnn_net_layer_shape(r->net, l);
            cam = malloc((size_t)s.dim[1] * s.dim[2] * sizeof *cam);
            shown = malloc(plane * sizeof *shown);
            if (!cam || !shown) {
                fail(r, "%s", "out of memory");
                goto out;
            }
            if (cnn_gradcam(r->net, r->x, cls, l, cam, up)) goto net_error;
            cnn_saliency_map(g, C, H, W, map);
            for (size_t i = 0; i < plane; i++) shown[i] = map[i] * up[i];
            snprintf(lab[1], sizeof lab[1], "guided Grad-CAM ('%s')",
                     cnn_net_layer_name(r->net, l));
            p[n++] = (cnn_panel){.kind = CNN_PANEL_GRAY, .values = shown, .height = H,
                                 .width = W, .lo = 0, .hi = 0, .label = lab[1]};
        }
    } else {
        cnn_shape s = cnn_net_layer_shape(r->net, l);
        char sh[64];
        if (s.rank != 3) {
            fprintf(stderr, "cnn viz gradcam: layer '%s' is %s, not feature maps (C x H x W)\n",
                    cnn_net_layer_name(r->net, l), cnn_shape_str(&s, sh, sizeof sh));
            goto out;
        }
        cam = malloc((size_t)s.dim[1] * s.dim[2] * sizeof *cam);
        if (!cam) {
            fail(r, "%s", "out of memory");
            goto out;
        }
        if (cnn_gradcam(r->net, r->x, cls, l, cam, up)) goto net_error;
        float hi = 0;
        for (int i = 0; i < s.dim[1] * s.dim[2]; i++) hi = fmaxf(hi, cam[i]);
        if (hi <= 0) hi = 1;
        snprintf(lab[0], sizeof lab[0], "Grad-CAM at '%s' (%dx%d)", cnn_net_layer_name(r->net, l),
                 s.dim[1], s.dim[2]);
        p[n++] = (cnn_panel){.kind = CNN_PANEL_HEAT, .values = cam, .height = s.dim[1],
                             .width = s.dim[2], .lo = 0, .hi = hi, .label = lab[0]};
        snprintf(lab[1], sizeof lab[1], "%s, over the image", cn);
        p[n++] = overlay_panel(r, up, 0, hi, lab[1]);
        fig.scale_label = "Grad-CAM", fig.scale_lo = 0, fig.scale_hi = hi;
    }
    /* Panels of different sizes (a 7x7 map beside a 28x28 image) are drawn at one zoom. */
    fig.zoom = W >= 160 ? 1 : (160 + W - 1) / W;
    fig.columns = n;
    ok = save(r, &fig, p, n);
    goto out;
net_error:
    net_fail(r);
out:
    free(g);
    free(map);
    free(up);
    free(cam);
    free(shown);
    return ok;
}

static int do_dream(viz_run *r) {
    int l = find_layer(r, -1, "give the layer: --layer NAME (cnn summary MODEL lists them)");
    if (l < 0) return 0;
    if (!r->c.units) return fail(r, "%s", "give the unit(s): --unit U or --unit U,V,...");
    int units[64], n = 0;
    const char *s = r->c.units;
    while (*s) {
        char *end;
        long u = strtol(s, &end, 10);
        if (end == s || u < 0 || u > 1000000 || (*end && *end != ',') || n == 64)
            return fail(r, "--unit %s: expected up to 64 unit numbers separated by commas",
                        r->c.units);
        units[n++] = (int)u;
        s = *end ? end + 1 : end;
    }
    if (!n)
        return fail(r, "--unit %s: expected up to 64 unit numbers separated by commas",
                    r->c.units);
    cnn_dream_config cfg = cnn_dream_defaults();
    cfg.steps = r->c.steps, cfg.rate = r->c.rate, cfg.decay = r->c.decay;
    cfg.blur_every = r->c.blur, cfg.noise = r->c.noise, cfg.seed = (uint64_t)r->c.seed;
    size_t numel = cnn_shape_numel(&r->in), plane = numel / (size_t)r->in.dim[0];
    float *x = malloc((size_t)n * numel * sizeof *x);
    cnn_panel *p = calloc((size_t)n, sizeof *p);
    char(*labels)[64] = calloc((size_t)n, sizeof *labels);
    int ok = 0;
    if (!x || !p || !labels) {
        fail(r, "%s", "out of memory");
        goto out;
    }
    const char *name = cnn_net_layer_name(r->net, l);
    for (int i = 0; i < n; i++) {
        float before, after, *xi = x + (size_t)i * numel;
        if (cnn_activation_maximize(r->net, l, units[i], &cfg, xi, &before, &after)) {
            net_fail(r);
            goto out;
        }
        printf("%s unit %d: activation %.4g -> %.4g in %d steps\n", name, units[i], before,
               after, cfg.steps);
        /* Back to pixel values for the picture (the normalisation undone; a blur or Sobel
         * preprocessing stays); each panel its own range. */
        const cnn_preprocess *pp = cnn_net_preprocess(r->net);
        for (int ch = 0; pp->mean && ch < r->in.dim[0]; ch++)
            for (size_t k = 0; k < plane; k++)
                xi[ch * plane + k] = xi[ch * plane + k] * pp->std[ch] + pp->mean[ch];
        snprintf(labels[i], sizeof labels[i], "%d: %.3g -> %.3g", units[i], before, after);
        p[i] = (cnn_panel){.kind = r->in.dim[0] == 3 ? CNN_PANEL_RGB : CNN_PANEL_GRAY,
                           .values = xi, .height = r->in.dim[1], .width = r->in.dim[2],
                           .label = labels[i]};
    }
    char title[512];
    snprintf(title, sizeof title, "what raises units of '%s' (%d steps from noise; activation "
             "before -> after)", name, cfg.steps);
    int W = r->in.dim[2];
    cnn_figure fig = {.title = title, .zoom = W >= 128 ? 1 : (128 + W - 1) / W};
    ok = save(r, &fig, p, n);
out:
    free(x);
    free(p);
    free(labels);
    return ok;
}

static int do_kernels(viz_run *r) {
    const char *path = r->pos[0];
    char err[1024];
    int C, H, W;
    if (cnn_image_size(path, &C, &H, &W, err, sizeof err)) return fail(r, "%s", err);
    int side = r->c.size > 0 ? r->c.size : (H > W ? H : W) < 256 ? (H > W ? H : W) : 256;
    double scale = (double)side / (H > W ? H : W);
    int h = (int)(H * scale + 0.5), w = (int)(W * scale + 0.5);
    h = h < 1 ? 1 : h, w = w < 1 ? 1 : w;
    C = r->c.color && C == 3 ? 3 : 1;
    enum { K = 6 };
    size_t numel = (size_t)C * h * w;
    float *img = malloc(numel * sizeof *img), *out = malloc(K * numel * sizeof *out);
    cnn_panel p[K];
    int ok = 0;
    if (!img || !out) {
        fail(r, "%s", "out of memory");
        goto done;
    }
    if (cnn_image_load(path, C, h, w, img, err, sizeof err)) {
        fail(r, "%s", err);
        goto done;
    }
    for (int i = 0; i < K; i++) {
        float k[9];
        const char *name = cnn_classic_kernel_name(i);
        cnn_classic_kernel(name, k);
        cnn_filter3x3(img, C, h, w, k, out + (size_t)i * numel);
        printf("%s:\n", name);
        for (int row = 0; row < 3; row++)
            printf("  %5g %5g %5g\n", k[row * 3], k[row * 3 + 1], k[row * 3 + 2]);
        /* Pixel values as a photo editor shows them: clamped to [0, 1]. */
        p[i] = (cnn_panel){.kind = C == 3 ? CNN_PANEL_RGB : CNN_PANEL_GRAY,
                           .values = out + (size_t)i * numel, .height = h, .width = w, .lo = 0,
                           .hi = 1, .label = name};
    }
    const char *base = strrchr(path, '/');
    char title[512];
    snprintf(title, sizeof title, "the classic 3x3 kernels on %s (%dx%d%s)", base ? base + 1 : path,
             w, h, C == 3 ? ", colour" : ", grey");
    cnn_figure fig = {.title = title, .columns = 3, .zoom = 1};
    ok = save(r, &fig, p, K);
done:
    free(img);
    free(out);
    return ok;
}

int cli_viz(int argc, char **argv) {
    if (argc < 1 || argv[0][0] == '-') {
        if (argc >= 1 && (!strcmp(argv[0], "-h") || !strcmp(argv[0], "--help"))) {
            cli_viz_help(stdout, NULL);
            return 0;
        }
        fprintf(stderr, "cnn viz: say what to draw: ");
        for (int i = 0; i < N_CMDS; i++) fprintf(stderr, "%s%s", i ? ", " : "", CMDS[i].name);
        fprintf(stderr, " (see cnn help viz)\n");
        return 2;
    }
    viz_run r = {.c = {.cls = -1, .index = -1, .max = 256, .batch = 256, .steps = 200,
                       .rate = 0.05f, .decay = 0.001f, .blur = 10, .noise = 0.1f, .seed = 1}};
    for (int i = 0; i < N_CMDS; i++)
        if (!strcmp(argv[0], CMDS[i].name)) r.cmd = &CMDS[i];
    if (!r.cmd) {
        fprintf(stderr, "cnn viz: unknown picture '%s' (", argv[0]);
        for (int i = 0; i < N_CMDS; i++) fprintf(stderr, "%s%s", i ? ", " : "", CMDS[i].name);
        fprintf(stderr, ")\n");
        return 2;
    }
    cli_opt o[20];
    fill_opts(r.cmd, o, &r.c);
    char cmdname[32];
    snprintf(cmdname, sizeof cmdname, "viz %s", r.cmd->name);
    if (!cli_parse(cmdname, o, argc - 1, argv + 1, r.pos, 2, &r.npos)) return 2;
    int need_image = r.cmd->positional == 2;
    if (r.npos < 1 || r.npos > r.cmd->positional) {
        fprintf(stderr, "cnn viz %s: %s (usage: %s)\n", r.cmd->name,
                r.npos < 1 ? (strcmp(r.cmd->name, "kernels") ? "give the checkpoint"
                                                             : "give an image")
                           : "too many arguments",
                r.cmd->usage);
        return 2;
    }
    snprintf(r.out, sizeof r.out, "%s", r.c.out ? r.c.out : "");
    if (!r.c.out) snprintf(r.out, sizeof r.out, "viz-%s.png", r.cmd->name);
    if (!strcmp(r.cmd->name, "kernels")) return do_kernels(&r) ? 0 : 1;
    int status = 1;
    char err[2048];
    if (cnn_checkpoint_load(r.pos[0], &r.net, NULL, NULL, err, sizeof err)) {
        fprintf(stderr, "cnn %s: %s\n", cmdname, err);
        return 1;
    }
    r.in = cnn_net_input_shape(r.net, 0);
    if (need_image && r.in.rank != 3)
        fail(&r, "%s", "the model's input is not an image (C x H x W)");
    else if (!strcmp(r.cmd->name, "filters")) status = !do_filters(&r);
    else if (!strcmp(r.cmd->name, "maps")) status = !do_maps(&r);
    else if (!strcmp(r.cmd->name, "stats")) status = !do_stats(&r);
    else if (!strcmp(r.cmd->name, "dream")) status = !do_dream(&r);
    else status = !do_explain(&r);
    free(r.x);
    free(r.shown);
    cnn_net_free(r.net);
    return status;
}

/*
 * test_fuse.c - inference fusion: conv2d act=relu (the ReLU in the kernels' epilogue) against
 * conv2d then relu (forward and every gradient, bit for bit, on each kernel path and the
 * reference kernels, at 1 and 2 threads, with the plain and the guided rule), add act=relu
 * likewise, and cnn_net_fuse: which
 * layers it absorbs and which it must not, outputs that match the unfused network in
 * evaluation mode, names, preprocessing, the text and ONNX forms of a fused network.
 */
#include "testlib.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* ---- conv2d act=relu is conv2d then relu ------------------------------------------------- */

/* One geometry per kernel path: Winograd (3x3, 16 channels, enough tiles), the direct kernels
 * along the outputs (few input channels) and along the channels (LeNet-5's conv2: 16 outputs
 * of short rows), im2col (stride 2). */
static const char *const CONVS[] = {
    "out=16 kernel=3 padding=1",
    "out=6 kernel=5 padding=2",
    "out=16 kernel=5",
    "out=8 kernel=3 stride=2 padding=1 bias=0",
};
static const int CONV_IN[] = {16, 1, 6, 4}, CONV_HW[] = {12, 12, 14, 12};

/* How same_step runs the two networks: a training step, or an evaluation-mode one with the
 * guided backpropagation rule (what cnn viz guided does). */
enum { TRAINING, GUIDED };

/* Network a (its layer `fused` with act=relu) against b (that layer, then a relu layer r), both
 * from the same seed: one step each (mode: TRAINING or GUIDED) on the same batch of N and
 * output gradient; the output, the gradient of the layer's output (not masked in place), the
 * input gradient and the parameter gradients must be the same bits. */
static void same_step(const char *spec_a, const char *spec_b, const char *fused, int N,
                      int threads, int reference, int mode, const char *what) {
    cnn_net *a = t_net(spec_a, 5), *b = t_net(spec_b, 5), *nets[2] = {a, b};
    if (!T_CHECK(a && b, "%s: networks", what)) return;
    cnn_shape in = cnn_net_input_shape(a, 0), o = cnn_net_output_shape(a);
    size_t nx = (size_t)N * cnn_shape_numel(&in), no = (size_t)N * cnn_shape_numel(&o);
    float *x = malloc(nx * sizeof *x), *seed = malloc(no * sizeof *seed);
    t_fill(x, nx, 9, -1, 1);
    t_fill(seed, no, 10, -1, 1);
    for (int k = 0; k < 2; k++) {
        T_OK(nets[k], cnn_net_set_threads(nets[k], threads));
        cnn_net_set_reference(nets[k], reference);
        T_OK(nets[k], cnn_net_prepare(nets[k], N));
        cnn_net_set_training(nets[k], mode == TRAINING);
        T_OK(nets[k], cnn_net_forward(nets[k], x, N));
        cnn_net_zero_grad(nets[k]);
        if (mode == GUIDED) {
            T_OK(nets[k], cnn_net_backward_from(nets[k], cnn_net_layer_count(nets[k]) - 1, seed,
                                                CNN_BACKPROP_GUIDED));
            continue;
        }
        memcpy(cnn_net_output_grad(nets[k]), seed, no * sizeof *seed);
        T_OK(nets[k], cnn_net_backward(nets[k]));
    }
    int la = cnn_net_find(a, fused), rb = cnn_net_find(b, "r");
    cnn_shape s = cnn_net_layer_shape(a, la);
    size_t ny = (size_t)N * cnn_shape_numel(&s);
    char w[160];
    snprintf(w, sizeof w, "%s: output", what);
    t_same_bits(w, cnn_net_layer_output(a, la), cnn_net_layer_output(b, rb), ny);
    snprintf(w, sizeof w, "%s: gradient of the layer's output (not masked in place)", what);
    t_same_bits(w, cnn_net_layer_grad(a, la), cnn_net_layer_grad(b, rb), ny);
    snprintf(w, sizeof w, "%s: input gradient", what);
    t_same_bits(w, cnn_net_input_grad(a, 0), cnn_net_input_grad(b, 0), nx);
    snprintf(w, sizeof w, "%s: parameter gradients", what);
    t_same_bits(w, cnn_net_grads(a), cnn_net_grads(b), cnn_net_param_count(a));
    free(x);
    free(seed);
    cnn_net_free(a);
    cnn_net_free(b);
}

static void same_as_relu_layer(int which, int threads, int reference) {
    char spec_a[512], spec_b[512], what[128];
    int C = CONV_IN[which], S = CONV_HW[which];
    snprintf(spec_a, sizeof spec_a,
             "input x - shape=%dx%dx%d; conv2d c x %s act=relu; flatten f -; dense o - out=3", C,
             S, S, CONVS[which]);
    snprintf(spec_b, sizeof spec_b,
             "input x - shape=%dx%dx%d; conv2d c x %s; relu r -; flatten f -; dense o - out=3", C,
             S, S, CONVS[which]);
    snprintf(what, sizeof what, "%s, %d thread%s%s", CONVS[which], threads, threads > 1 ? "s" : "",
             reference ? ", reference kernels" : "");
    same_step(spec_a, spec_b, "c", 4, threads, reference, TRAINING, what);
    strcat(what, ", guided rule");
    same_step(spec_a, spec_b, "c", 4, threads, reference, GUIDED, what);
}

/* add act=relu is add then relu, with one input given twice. */
static void add_same_as_relu_layer(int threads) {
    static const char *const fused = "input x - shape=4x9x9; conv2d c x out=4 kernel=3 padding=1;"
                                     "add s c,x,c act=relu; flatten f -; dense o - out=3",
                          *const plain = "input x - shape=4x9x9; conv2d c x out=4 kernel=3 padding=1;"
                                         "add s c,x,c; relu r -; flatten f -; dense o - out=3";
    char what[80];
    snprintf(what, sizeof what, "add act=relu, %d thread%s", threads, threads > 1 ? "s" : "");
    same_step(fused, plain, "s", 5, threads, 0, TRAINING, what);
    strcat(what, ", guided rule");
    same_step(fused, plain, "s", 5, threads, 0, GUIDED, what);
}

/* ---- cnn_net_fuse ------------------------------------------------------------------------ */

/* Batch norm's running statistics and affine parameters away from 0 and 1, so that folding
 * them is tested. */
static void random_bn(cnn_net *net) {
    for (int l = 0; l < cnn_net_layer_count(net); l++)
        for (int k = 0; k < cnn_net_param_tensor_count(net, l); k++) {
            cnn_param_tensor t;
            cnn_net_param_tensor(net, l, k, &t);
            if (strcmp(cnn_net_layer_type(net, l), "batchnorm") != 0) continue;
            if (!strcmp(t.name, "running_mean")) t_fill(t.data, t.count, 100 + l, -0.3f, 0.3f);
            if (!strcmp(t.name, "running_var")) t_fill(t.data, t.count, 200 + l, 0.3f, 2.0f);
            if (!strcmp(t.name, "weight")) t_fill(t.data, t.count, 300 + l, 0.5f, 1.5f);
            if (!strcmp(t.name, "bias")) t_fill(t.data, t.count, 400 + l, -0.2f, 0.2f);
        }
}

/* Evaluation-mode outputs of a and b on the same batch agree within rounding. */
static void same_outputs(cnn_net *a, cnn_net *b, int N, const char *what) {
    cnn_shape in = cnn_net_input_shape(a, 0), o = cnn_net_output_shape(a);
    size_t nx = (size_t)N * cnn_shape_numel(&in), ny = (size_t)N * cnn_shape_numel(&o);
    float *x = malloc(nx * sizeof *x), *ya = malloc(ny * sizeof *ya);
    t_fill(x, nx, 21, -1, 1);
    cnn_net_set_training(a, 0);
    cnn_net_set_training(b, 0);
    T_OK(a, cnn_net_prepare(a, N));
    T_OK(b, cnn_net_prepare(b, N));
    T_OK(a, cnn_net_forward(a, x, N));
    memcpy(ya, cnn_net_output(a), ny * sizeof *ya);
    T_OK(b, cnn_net_forward(b, x, N));
    t_close(what, cnn_net_output(b), ya, ny, 1e-4, 1e-4);
    free(x);
    free(ya);
}

static int count_type(const cnn_net *net, const char *type) {
    int k = 0;
    for (int l = 0; l < cnn_net_layer_count(net); l++)
        k += !strcmp(cnn_net_layer_type(net, l), type);
    return k;
}

static void test_fuse_zoo(const char *model, int c, int h, int w) {
    char err[1024];
    cnn_net *net = NULL, *f = NULL;
    if (!T_CHECK(cnn_model_build(model, c, h, w, 10, 3, &net, err, sizeof err) == 0, "%s: %s",
                 model, err))
        return;
    random_bn(net);
    if (!T_CHECK(cnn_net_fuse(net, &f, err, sizeof err) == 0, "%s: fuse: %s", model, err)) {
        cnn_net_free(net);
        return;
    }
    int bn = count_type(net, "batchnorm"), relu = count_type(net, "relu");
    T_CHECK(count_type(f, "batchnorm") < bn || bn == 0, "%s: batch norms folded: %d of %d left",
            model, count_type(f, "batchnorm"), bn);
    printf("  %s: %d layers -> %d (batch norms %d -> %d, relus %d -> %d)\n", model,
           cnn_net_layer_count(net), cnn_net_layer_count(f), bn, count_type(f, "batchnorm"), relu,
           count_type(f, "relu"));
    T_CHECK(cnn_net_layer_count(f) < cnn_net_layer_count(net), "%s: fewer layers", model);
    /* Every kept layer keeps its name and type. */
    for (int l = 0; l < cnn_net_layer_count(f); l++) {
        int o = cnn_net_find(net, cnn_net_layer_name(f, l));
        T_CHECK(o >= 0 && !strcmp(cnn_net_layer_type(net, o), cnn_net_layer_type(f, l)),
                "%s: layer %s kept with its type", model, cnn_net_layer_name(f, l));
    }
    char what[128];
    snprintf(what, sizeof what, "%s: fused vs unfused, evaluation mode", model);
    same_outputs(net, f, 2, what);
    /* The text form of the fused network builds the same network. */
    char *text = cnn_net_to_text(f);
    cnn_net *g = NULL;
    T_CHECK(text && strstr(text, "act=relu"), "%s: the text has act=relu", model);
    if (text && T_CHECK(cnn_net_from_text(text, "fused", 1, &g, err, sizeof err) == 0,
                        "%s: fused text: %s", model, err)) {
        T_CHECK(cnn_net_layer_count(g) == cnn_net_layer_count(f) &&
                    cnn_net_param_count(g) == cnn_net_param_count(f),
                "%s: the text gives the same layers", model);
        cnn_net_free(g);
    }
    free(text);
    cnn_net_free(f);
    cnn_net_free(net);
}

/* What must not be absorbed: a batch norm whose input another layer also reads, a relu whose
 * input another layer reads, the network's output. */
static void test_fuse_limits(void) {
    char err[1024];
    cnn_net *f = NULL;
    /* c1's output is read by b1 and by the add: b1 stays. b2 is read by r2 and the add: r2
     * stays, b2 folds into c2. b3, the output, is c3's only reader: it folds into c3, which
     * becomes the output. */
    cnn_net *net = t_net("input x - shape=4x8x8; conv2d c1 x out=4 kernel=3 padding=1;"
                         "batchnorm b1 -; conv2d c2 - out=4 kernel=3 padding=1; batchnorm b2 -;"
                         "relu r2 -; add s c1,b2; add s2 s,r2; conv2d c3 - out=4 kernel=1;"
                         "batchnorm b3 -",
                         3);
    if (!T_CHECK(net != NULL, "limits network")) return;
    random_bn(net);
    if (!T_CHECK(cnn_net_fuse(net, &f, err, sizeof err) == 0, "fuse: %s", err)) {
        cnn_net_free(net);
        return;
    }
    T_CHECK(cnn_net_find(f, "b1") >= 0, "b1 (its conv is read twice) stays");
    T_CHECK(cnn_net_find(f, "b2") < 0, "b2 folds into c2");
    T_CHECK(cnn_net_find(f, "r2") >= 0, "r2 (its input is read twice) stays");
    T_CHECK(cnn_net_find(f, "b3") < 0 && cnn_net_output_layer(f) == cnn_net_find(f, "c3"),
            "b3 folds into c3, which becomes the output");
    char args[512];
    int c2 = cnn_net_find(f, "c2");
    cnn_net_layer_args(f, c2, args, sizeof args);
    T_CHECK(strstr(args, "act=none") && strstr(args, "bias=1"), "c2: bias, no act: %s", args);
    same_outputs(net, f, 3, "limits: fused vs unfused");
    cnn_net_free(f);
    cnn_net_free(net);

    /* A conv with act=relu absorbs nothing: a batch norm after it maps the relu's output. */
    net = t_net("input x - shape=2x6x6; conv2d c x out=3 kernel=3 act=relu; batchnorm b -;"
                "flatten f -; dense o - out=2",
                4);
    random_bn(net);
    T_CHECK(cnn_net_fuse(net, &f, err, sizeof err) == 0, "fuse: %s", err);
    T_CHECK(f && cnn_net_find(f, "b") >= 0, "the batch norm after act=relu stays");
    same_outputs(net, f, 2, "act=relu then batch norm: fused vs unfused");
    cnn_net_free(f);
    cnn_net_free(net);
}

/* The preprocessing travels; ONNX export of a fused network gives Conv + Relu that import
 * back to the same outputs. */
static void test_fuse_prep_onnx(void) {
    char err[1024], path[256];
    cnn_net *net = NULL, *f = NULL, *back = NULL;
    T_CHECK(cnn_model_build("resnet20", 1, 28, 28, 10, 7, &net, err, sizeof err) == 0, "%s", err);
    random_bn(net);
    cnn_preprocess p = *cnn_net_preprocess(net);
    float mean = 0.3f, std = 0.4f;
    p.channels = 1;
    p.mean = &mean;
    p.std = &std;
    T_OK(net, cnn_net_set_preprocess(net, &p));
    T_CHECK(cnn_net_fuse(net, &f, err, sizeof err) == 0, "fuse: %s", err);
    const cnn_preprocess *q = cnn_net_preprocess(f);
    T_CHECK(q->mean && q->std && q->mean[0] == 0.3f && q->std[0] == 0.4f,
            "the preprocessing is kept");
    snprintf(path, sizeof path, "/tmp/cnn_test_fuse_%d.onnx", (int)getpid());
    T_CHECK(cnn_onnx_save(path, f, err, sizeof err) == 0, "export: %s", err);
    T_CHECK(cnn_onnx_load(path, &back, err, sizeof err) == 0, "import: %s", err);
    if (back) {
        T_CHECK(count_type(back, "relu") > count_type(f, "relu"),
                "the fused relus come back as relu layers");
        same_outputs(f, back, 2, "fused network through ONNX");
    }
    remove(path);
    cnn_net_free(back);
    cnn_net_free(f);
    cnn_net_free(net);
}

/* Evaluation passes reuse Winograd's transformed weights until the weights may have changed
 * (conv.c's transformed, by the network's weights_gen): a change of one weight between passes
 * through each way cnn.h gives (cnn_net_params, cnn_net_find_param, cnn_net_param_tensor
 * called again, new weights from cnn_net_init_params) or a training step is seen, and a pass
 * after a change equals a fresh network's with the new weights. A small layer at 1 thread and
 * one of 332 KB of weights at 2, changed in its first, middle and last 64 KB. */
static void kept_transforms(const char *spec, size_t sample_floats, int threads,
                            const size_t at[3]) {
    cnn_net *a = t_net(spec, 8), *b = t_net(spec, 8);
    size_t ny = 2 * sample_floats; /* the output has the input's size */
    float *x = malloc(ny * sizeof *x), *first = malloc(ny * sizeof *x);
    if (!x || !first) abort();
    t_fill(x, ny, 12, -1, 1);
    T_OK(a, cnn_net_set_threads(a, threads));
    T_OK(a, cnn_net_prepare(a, 2));
    T_OK(b, cnn_net_prepare(b, 2));
    T_OK(a, cnn_net_forward(a, x, 2));
    memcpy(first, cnn_net_output(a), ny * sizeof *x);
    T_OK(a, cnn_net_forward(a, x, 2));
    t_same_bits("a second evaluation pass (transforms kept)", cnn_net_output(a), first, ny);
    static const char *const how[4] = {"cnn_net_params", "cnn_net_find_param",
                                       "cnn_net_param_tensor", "cnn_net_init_params"};
    for (int k = 0; k < 4; k++) {
        cnn_param_tensor t = {0};
        float *w = NULL; /* a's weights, got the k-th way */
        if (k == 0) w = cnn_net_params(a);
        if (k == 1 && T_OK(a, cnn_net_find_param(a, "c.weight", &t))) w = t.data;
        if (k == 2 && T_OK(a, cnn_net_param_tensor(a, cnn_net_find(a, "c"), 0, &t))) w = t.data;
        if (k < 3) {
            if (w) w[at[k]] += 0.5f;
            cnn_net_params(b)[at[k]] += 0.5f;
        } else {
            cnn_net_init_params(a, 9);
            cnn_net_init_params(b, 9);
        }
        T_OK(a, cnn_net_forward(a, x, 2));
        cnn_net *fresh = t_net(spec, 8);
        memcpy(cnn_net_params(fresh), cnn_net_params(b), cnn_net_param_count(b) * sizeof(float));
        T_OK(fresh, cnn_net_prepare(fresh, 2));
        T_OK(fresh, cnn_net_forward(fresh, x, 2));
        char what[200];
        snprintf(what, sizeof what, "%s, %d threads: after changing weight %zu through %s: as a "
                 "fresh network", spec, threads, k < 3 ? at[k] : 0, how[k]);
        t_same_bits(what, cnn_net_output(a), cnn_net_output(fresh), ny);
        cnn_net_free(fresh);
    }
    /* A training pass in between transforms again and is not taken for the kept weights. */
    cnn_net_set_training(a, 1);
    T_OK(a, cnn_net_forward(a, x, 2));
    cnn_net_params(a)[3] -= 0.25f;
    cnn_net_set_training(a, 0);
    T_OK(a, cnn_net_forward(a, x, 2));
    memcpy(first, cnn_net_output(a), ny * sizeof *x);
    cnn_net_params(b)[3] -= 0.25f;
    T_OK(b, cnn_net_forward(b, x, 2));
    t_same_bits("after a training pass and a change", first, cnn_net_output(b), ny);
    cnn_net_free(a);
    cnn_net_free(b);
    free(x);
    free(first);
}

static void test_kept_transforms(void) {
    static const size_t small[3] = {7, 1007, 2007}, big[3] = {7, 41000, 82900};
    kept_transforms("input x - shape=16x12x12; conv2d c x out=16 kernel=3 padding=1", 16 * 144,
                    1, small);
    kept_transforms("input x - shape=96x10x10; conv2d c x out=96 kernel=3 padding=1", 96 * 100,
                    2, big);
}

int main(void) {
    test_kept_transforms();
    for (int which = 0; which < 4; which++)
        for (int threads = 1; threads <= 2; threads++)
            for (int reference = 0; reference <= 1; reference++)
                same_as_relu_layer(which, threads, reference);
    for (int threads = 1; threads <= 2; threads++) add_same_as_relu_layer(threads);
    test_fuse_zoo("resnet20", 1, 28, 28);
    test_fuse_zoo("resnet18", 3, 64, 64);
    test_fuse_zoo("vgg_small", 1, 28, 28);
    test_fuse_zoo("densenet121", 3, 64, 64);
    test_fuse_limits();
    test_fuse_prep_onnx();
    return t_finish();
}

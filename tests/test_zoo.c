/*
 * test_zoo.c - the model zoo (src/models/zoo.c): every model's parameter count and
 * multiply-adds against PyTorch, its definition text read back to the same network, a forward
 * and backward pass at batch 2, and the errors for unknown models and inputs too small.
 *
 * Environment:
 *   CNN_SLOW_TESTS=1  builds the big ImageNet models (AlexNet, ZFNet, VGG, ResNet-101/152,
 *                     DenseNet-169/201), runs forward and backward through them and reads
 *                     their definitions back: several minutes. Without it they are planned
 *                     from their text (layers, shapes, counts; no parameter memory) and their
 *                     parameters, multiply-adds and output shape checked.
 *   CNN_TEST_LIGHT=1  for slow builds such as the sanitizer one: the big models are planned
 *                     even with CNN_SLOW_TESTS, and only the small models' definitions are
 *                     read back.
 */
#include "testlib.h"
#include "../src/core/internal.h" /* cnn_net_plan_text */

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

enum { SMALL, MEDIUM, BIG };        /* which runs build and run a model (see above) */
enum { CLASSIFIER, SEGMENTATION };  /* flat logits, or per-pixel logits of the input's size */

typedef struct zoo_case {
    const char *name;
    int c, h, w, classes;
    unsigned long long params, macs; /* from tests/ref/zoo_counts.py */
    int tier, kind;
    int torchvision; /* the reference is torchvision's own model (else an equivalent module) */
} zoo_case;

/* Parameters and multiply-adds of one sample (Conv2d, ConvTranspose2d and Linear, counted by
 * forward hooks) printed by tests/ref/zoo_counts.py (torch 1.13, torchvision 0.14). The
 * models torchvision lacks are written there as PyTorch modules with the same layers.
 * Published figures agree: AlexNet 61.1 M / 0.71 G, VGG-16 138.4 M / 15.5 G, ResNet-18
 * 11.7 M / 1.8 G, ResNet-50 25.6 M / 4.1 G, GoogLeNet 6.6 M, DenseNet-121 8.0 M. ZFNet has no
 * torchvision model: the paper's layer sizes give 62,357,608 parameters and 1,168,032,896
 * multiply-adds at 224x224. */
static const zoo_case cases[] = {
    {"lenet5", 1, 28, 28, 10, 61706ull, 416520ull, SMALL, CLASSIFIER, 0},
    {"lenet5", 3, 32, 32, 10, 62006ull, 651720ull, SMALL, CLASSIFIER, 0},
    {"alexnet", 3, 224, 224, 1000, 61100840ull, 714188480ull, BIG, CLASSIFIER, 1},
    {"zfnet", 3, 224, 224, 1000, 62357608ull, 1168032896ull, BIG, CLASSIFIER, 0},
    {"vgg11", 3, 224, 224, 1000, 132863336ull, 7609090048ull, BIG, CLASSIFIER, 1},
    {"vgg13", 3, 224, 224, 1000, 133047848ull, 11308466176ull, BIG, CLASSIFIER, 1},
    {"vgg16", 3, 224, 224, 1000, 138357544ull, 15470264320ull, BIG, CLASSIFIER, 1},
    {"vgg19", 3, 224, 224, 1000, 143667240ull, 19632062464ull, BIG, CLASSIFIER, 1},
    {"vgg11_bn", 3, 224, 224, 1000, 132868840ull, 7609090048ull, BIG, CLASSIFIER, 1},
    {"vgg13_bn", 3, 224, 224, 1000, 133053736ull, 11308466176ull, BIG, CLASSIFIER, 1},
    {"vgg16_bn", 3, 224, 224, 1000, 138365992ull, 15470264320ull, BIG, CLASSIFIER, 1},
    {"vgg19_bn", 3, 224, 224, 1000, 143678248ull, 19632062464ull, BIG, CLASSIFIER, 1},
    {"googlenet", 3, 224, 224, 1000, 6624904ull, 1498376192ull, MEDIUM, CLASSIFIER, 1},
    {"googlenet_aux", 3, 224, 224, 1000, 13004888ull, 1506748416ull, MEDIUM, CLASSIFIER, 1},
    {"resnet18", 3, 224, 224, 1000, 11689512ull, 1814073344ull, MEDIUM, CLASSIFIER, 1},
    {"resnet34", 3, 224, 224, 1000, 21797672ull, 3663761408ull, MEDIUM, CLASSIFIER, 1},
    {"resnet50", 3, 224, 224, 1000, 25557032ull, 4089184256ull, MEDIUM, CLASSIFIER, 1},
    {"resnet101", 3, 224, 224, 1000, 44549160ull, 7801405440ull, BIG, CLASSIFIER, 1},
    {"resnet152", 3, 224, 224, 1000, 60192808ull, 11513626624ull, BIG, CLASSIFIER, 1},
    {"resnext50_32x4d", 3, 224, 224, 1000, 25028904ull, 4230479872ull, MEDIUM, CLASSIFIER, 1},
    {"densenet121", 3, 224, 224, 1000, 7978856ull, 2834161664ull, MEDIUM, CLASSIFIER, 1},
    {"densenet169", 3, 224, 224, 1000, 14149480ull, 3359843328ull, BIG, CLASSIFIER, 1},
    {"densenet201", 3, 224, 224, 1000, 20013928ull, 4291365888ull, BIG, CLASSIFIER, 1},
    {"unet", 1, 64, 64, 2, 31030658ull, 3006005248ull, MEDIUM, SEGMENTATION, 0},
    {"segnet", 3, 64, 64, 12, 29449932ull, 2526806016ull, MEDIUM, SEGMENTATION, 0},
    {"resnet20", 3, 32, 32, 10, 272474ull, 40813184ull, SMALL, CLASSIFIER, 0},
    {"resnet18_cifar", 3, 32, 32, 10, 11173962ull, 555422720ull, SMALL, CLASSIFIER, 0},
    {"vgg_small", 1, 28, 28, 10, 584618ull, 29424640ull, SMALL, CLASSIFIER, 0},
    {"vgg_small", 3, 32, 32, 10, 814570ull, 39160320ull, SMALL, CLASSIFIER, 0},
    {"fashion_fast", 1, 28, 28, 10, 385602ull, 16650112ull, SMALL, CLASSIFIER, 0},
    {"fashion_wide", 1, 28, 28, 10, 819346ull, 45811840ull, SMALL, CLASSIFIER, 0},
    {"small_unet", 1, 28, 28, 2, 117090ull, 19004160ull, SMALL, SEGMENTATION, 0},
};
#define N_CASES ((int)(sizeof cases / sizeof cases[0]))

/* Multiply-adds of the layers the PyTorch hooks count: convolutions and dense layers. */
static int same_shape(cnn_shape a, cnn_shape b) {
    if (a.rank != b.rank) return 0;
    for (int d = 0; d < a.rank; d++)
        if (a.dim[d] != b.dim[d]) return 0;
    return 1;
}

/* The written definition read back gives the same layers, shapes and parameters. Frees a
 * before the copy is built, so that only one of a big model's parameter sets is in memory at
 * a time. */
static void check_round_trip(cnn_net *a, const char *what) {
    int n = cnn_net_layer_count(a);
    size_t params = cnn_net_param_count(a);
    char *text = cnn_net_to_text(a);
    cnn_shape *shapes = malloc((size_t)n * sizeof *shapes);
    size_t *counts = malloc((size_t)n * sizeof *counts);
    if (!T_CHECK(text && shapes && counts, "%s: out of memory", what)) goto done;
    for (int i = 0; i < n; i++) {
        shapes[i] = cnn_net_layer_shape(a, i);
        counts[i] = cnn_net_layer_param_count(a, i);
    }
    cnn_net_free(a);
    a = NULL;
    cnn_net *b = NULL;
    char err[1024];
    if (!T_CHECK(cnn_net_from_text(text, what, 7, &b, err, sizeof err) == CNN_STATUS_OK,
                 "%s: written text does not read back: %s", what, err))
        goto done;
    int bad = 0;
    for (int i = 0; i < n && i < cnn_net_layer_count(b); i++)
        if (!same_shape(shapes[i], cnn_net_layer_shape(b, i)) ||
            counts[i] != cnn_net_layer_param_count(b, i))
            bad++;
    T_CHECK(cnn_net_layer_count(b) == n && cnn_net_param_count(b) == params && bad == 0,
            "%s: read back %d layers (want %d), %zu parameters (want %zu), %d layers differ",
            what, cnn_net_layer_count(b), n, cnn_net_param_count(b), params, bad);
    cnn_net_free(b);
done:
    cnn_net_free(a);
    free(text);
    free(shapes);
    free(counts);
}

/* Forward, loss and backward at batch 2 in training mode: finite everywhere, and a gradient
 * reaches the first layer with parameters and the input. */
static void check_forward_backward(cnn_net *net, const zoo_case *z, const char *what) {
    enum { BATCH = 2 };
    double t0 = t_seconds();
    if (!T_OK(net, cnn_net_set_threads(net, 2)) || !T_OK(net, cnn_net_prepare(net, BATCH)))
        return;
    cnn_net_set_training(net, 1);
    size_t in = (size_t)z->c * z->h * z->w;
    size_t pixels = z->kind == SEGMENTATION ? (size_t)z->h * z->w : 1;
    float *x = malloc(BATCH * in * sizeof *x);
    int32_t *labels = malloc(BATCH * pixels * sizeof *labels);
    if (!T_CHECK(x && labels, "%s: out of memory", what)) goto done;
    t_fill(x, BATCH * in, 11, -1.0f, 1.0f);
    for (size_t i = 0; i < BATCH * pixels; i++) labels[i] = (int32_t)((i * 7 + 3) % z->classes);
    float loss = NAN;
    cnn_loss kind = z->kind == SEGMENTATION ? CNN_LOSS_PIXEL_CE : CNN_LOSS_SOFTMAX_CE;
    if (!T_OK(net, cnn_net_forward(net, x, BATCH)) ||
        !T_OK(net, cnn_net_loss(net, kind, labels, &loss)))
        goto done;
    cnn_net_zero_grad(net);
    if (!T_OK(net, cnn_net_backward(net))) goto done;
    char msg[256];
    T_CHECK(isfinite(loss), "%s: loss %g", what, (double)loss);
    T_CHECK(!cnn_net_find_nonfinite(net, msg, sizeof msg), "%s: %s", what, msg);
    /* The first layer with parameters is the farthest from the loss. */
    int first = 0;
    while (first < cnn_net_layer_count(net) && cnn_net_layer_param_count(net, first) == 0) first++;
    const float *g = cnn_net_grads(net) + cnn_net_layer_param_offset(net, first);
    double g2 = 0.0, x2 = 0.0;
    for (size_t i = 0; i < cnn_net_layer_param_count(net, first); i++) g2 += (double)g[i] * g[i];
    const float *dx = cnn_net_input_grad(net, 0);
    for (size_t i = 0; i < BATCH * in; i++) x2 += (double)dx[i] * dx[i];
    T_CHECK(g2 > 0.0 && x2 > 0.0, "%s: no gradient reaches '%s' (%g) or the input (%g)", what,
            cnn_net_layer_name(net, first), g2, x2);
    printf("  ok %-30s forward+backward at batch 2: loss %.4f, %.1fs\n", what, (double)loss,
           t_seconds() - t0);
done:
    free(x);
    free(labels);
}

static void check_model(const zoo_case *z, int slow, int light) {
    char what[96], err[1024];
    snprintf(what, sizeof what, "%s %dx%dx%d", z->name, z->c, z->h, z->w);
    /* The definition is cheap to write: every model's, always. */
    char *text = cnn_model_text(z->name, z->c, z->h, z->w, z->classes, err, sizeof err);
    if (!T_CHECK(text != NULL, "%s: %s", what, err)) return;
    T_CHECK(strstr(text, "= input shape=") != NULL, "%s: the text has no input layer", what);
    /* The big models are planned from their text (every layer, shape and count, but no
     * parameter memory: building VGG-16 fills 1.1 GB) unless CNN_SLOW_TESTS runs them. */
    int plan = z->tier == BIG && (!slow || light);
    double t0 = t_seconds();
    cnn_net *net = NULL;
    cnn_status st = plan ? cnn_net_plan_text(text, z->name, &net, err, sizeof err)
                         : cnn_model_build(z->name, z->c, z->h, z->w, z->classes, 1, &net, err,
                                           sizeof err);
    free(text);
    if (!T_CHECK(st == CNN_STATUS_OK, "%s: %s", what, err)) return;
    double t_build = t_seconds() - t0;
    size_t params = cnn_net_param_count(net);
    unsigned long long macs = cnn_net_macs(net);
    double rel = fabs((double)macs - (double)z->macs) / (double)z->macs;
    T_CHECK(params == z->params, "%s: %zu parameters, want %llu", what, params, z->params);
    T_CHECK(rel <= 0.01, "%s: %llu multiply-adds, want %llu within 1%%", what, macs, z->macs);
    cnn_shape out = cnn_net_output_shape(net);
    if (z->kind == SEGMENTATION)
        T_CHECK(out.rank == 3 && out.dim[0] == z->classes && out.dim[1] == z->h &&
                    out.dim[2] == z->w,
                "%s: output %dx%dx%d, want %dx%dx%d", what, out.dim[0], out.dim[1], out.dim[2],
                z->classes, z->h, z->w);
    else
        T_CHECK(out.rank == 1 && out.dim[0] == z->classes, "%s: output rank %d size %d, want %d",
                what, out.rank, out.dim[0], z->classes);
    printf("  ok %-30s %11zu params %14llu MACs (%s %+.3f%%), %s %.1fs\n", what, params,
           macs, z->torchvision ? "torchvision" : "reference",
           100.0 * ((double)macs - (double)z->macs) / (double)z->macs, plan ? "plan" : "build",
           t_build);
    if (z->tier == BIG && !slow) {
        printf("  -- %-30s forward/backward: slow test skipped: set CNN_SLOW_TESTS=1\n", what);
        cnn_net_free(net);
        return;
    }
    check_forward_backward(net, z, what);
    if (z->tier != SMALL && light) {
        cnn_net_free(net);
        return;
    }
    t0 = t_seconds();
    check_round_trip(net, what);
    printf("  ok %-30s read back from its text, %.1fs\n", what, t_seconds() - t0);
}

/* googlenet_aux: the auxiliary heads are computed but nothing reads them, so no gradient
 * reaches them, and the output is the main classifier. */
static void check_googlenet_aux(void) {
    char err[1024];
    cnn_net *net = NULL;
    if (!T_CHECK(cnn_model_build("googlenet_aux", 3, 96, 96, 10, 1, &net, err, sizeof err) ==
                     CNN_STATUS_OK,
                 "%s", err))
        return;
    int out = cnn_net_layer_count(net) - 1;
    T_CHECK(strcmp(cnn_net_layer_name(net, out), "fc") == 0, "the output is '%s', not 'fc'",
            cnn_net_layer_name(net, out));
    int aux = cnn_net_find(net, "aux1.fc2");
    if (!T_CHECK(aux >= 0, "no layer aux1.fc2") || !T_OK(net, cnn_net_prepare(net, 2))) {
        cnn_net_free(net);
        return;
    }
    cnn_net_set_training(net, 1);
    size_t n = 2 * 3 * 96 * 96;
    float *x = malloc(n * sizeof *x);
    int32_t labels[2] = {3, 7};
    float loss;
    if (x) t_fill(x, n, 5, -1.0f, 1.0f);
    if (T_CHECK(x != NULL, "out of memory") && T_OK(net, cnn_net_forward(net, x, 2)) &&
        T_OK(net, cnn_net_loss(net, CNN_LOSS_SOFTMAX_CE, labels, &loss))) {
        cnn_net_zero_grad(net);
        T_OK(net, cnn_net_backward(net));
        const float *g = cnn_net_grads(net) + cnn_net_layer_param_offset(net, aux);
        size_t nonzero = 0;
        for (size_t i = 0; i < cnn_net_layer_param_count(net, aux); i++) nonzero += g[i] != 0.0f;
        T_CHECK(nonzero == 0, "%zu gradients of aux1.fc2 are not zero", nonzero);
        printf("  ok googlenet_aux: output 'fc', no gradient in the auxiliary heads\n");
    }
    free(x);
    cnn_net_free(net);
}

static void expect_error(const char *name, int c, int h, int w, int classes, const char *frag1,
                         const char *frag2) {
    char err[1024] = "";
    char *text = cnn_model_text(name, c, h, w, classes, err, sizeof err);
    T_CHECK(text == NULL, "%s %dx%dx%d accepted", name, c, h, w);
    T_CHECK(strstr(err, frag1) && strstr(err, frag2), "error '%s' lacks '%s' or '%s'", err, frag1,
            frag2);
    free(text);
    cnn_net *net = NULL;
    cnn_status st = cnn_model_build(name, c, h, w, classes, 1, &net, err, sizeof err);
    T_CHECK(st != CNN_STATUS_OK && net == NULL, "%s %dx%dx%d built", name, c, h, w);
    printf("  ok %s\n", err);
}

static void check_errors(void) {
    expect_error("resnet51", 3, 224, 224, 1000, "unknown model 'resnet51'", "resnet50");
    expect_error(NULL, 3, 224, 224, 1000, "unknown model", "lenet5");
    expect_error("lenet5", 1, 28, 28, 0, "must be positive", "0 classes");
    expect_error("alexnet", 1, 28, 28, 10, "too small", "alexnet needs at least 63x63");
    expect_error("googlenet_aux", 3, 64, 64, 10, "'aux1.avgpool'", "needs at least 79x79");
    expect_error("unet", 1, 60, 60, 2, "multiples of 16", "60x60");
    expect_error("small_unet", 1, 30, 30, 2, "multiples of 4", "30x30");
    expect_error("segnet", 3, 31, 64, 5, "too small", "at least 32x32");
    /* An input just large enough works; odd sizes work where the architecture allows. */
    const struct { const char *name; int c, h, w; } fits[] = {
        {"alexnet", 3, 63, 63},   {"googlenet_aux", 3, 79, 79}, {"segnet", 3, 360, 480},
        {"googlenet", 3, 33, 47}, {"unet", 3, 16, 48},     {"densenet121", 1, 29, 29},
    };
    for (size_t i = 0; i < sizeof fits / sizeof fits[0]; i++) {
        char err[1024];
        char *text = cnn_model_text(fits[i].name, fits[i].c, fits[i].h, fits[i].w, 10, err,
                                    sizeof err);
        T_CHECK(text != NULL, "%s %dx%d: %s", fits[i].name, fits[i].h, fits[i].w, err);
        free(text);
    }
}

/* Every model is named once, documented, and has a row in the table above. */
static void check_list(void) {
    int n = cnn_model_count();
    T_CHECK(n > 0, "no models");
    T_CHECK(cnn_model_name(-1) == NULL && cnn_model_name(n) == NULL && cnn_model_doc(n) == NULL,
            "out-of-range index");
    for (int i = 0; i < n; i++) {
        const char *name = cnn_model_name(i), *doc = cnn_model_doc(i);
        int rows = 0, dups = 0;
        for (int k = 0; k < N_CASES; k++) rows += strcmp(cases[k].name, name) == 0;
        for (int j = 0; j < i; j++) dups += strcmp(cnn_model_name(j), name) == 0;
        T_CHECK(rows > 0, "model %s has no test row", name);
        T_CHECK(dups == 0, "model %s listed twice", name);
        T_CHECK(doc && strlen(doc) > 20, "model %s has no description", name);
        /* Its standard input (what cnn summary shows) is one it builds for. */
        int c = 0, h = 0, w = 0, k = 0;
        char err[512] = "unknown model";
        char *text = cnn_model_standard_input(name, &c, &h, &w, &k) == CNN_STATUS_OK
                         ? cnn_model_text(name, c, h, w, k, err, sizeof err)
                         : NULL;
        T_CHECK(text != NULL, "model %s: its standard input %dx%dx%d, %d classes: %s", name, c,
                h, w, k, err);
        free(text);
    }
    int c, h, w, k;
    T_CHECK(cnn_model_standard_input("no such model", &c, &h, &w, &k) ==
                CNN_STATUS_INVALID_ARGUMENT,
            "the standard input of an unknown model");
    printf("  ok %d models listed, each with a standard input it builds for\n", n);
}

int main(void) {
    int slow = t_env_flag("CNN_SLOW_TESTS"), light = t_env_flag("CNN_TEST_LIGHT");
    if (!slow) printf("big models: slow test skipped: set CNN_SLOW_TESTS=1\n");
    if (light)
        printf("CNN_TEST_LIGHT=1: definitions read back for the small models only\n");
    double t0 = t_seconds();
    check_list();
    check_errors();
    for (int i = 0; i < N_CASES; i++) check_model(&cases[i], slow, light);
    check_googlenet_aux();
    printf("test_zoo: %.1f s\n", t_seconds() - t0);
    return t_finish();
}

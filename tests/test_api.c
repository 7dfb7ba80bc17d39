/*
 * test_api.c - the public API's contract outside the numerics: building errors name the layer,
 * the key or the shapes; calls in the wrong state fail cleanly; parameters are laid out and
 * initialised as documented; losses are stable and check their targets; hyper-parameters
 * print back in a form that rebuilds the same layer.
 */
#include "testlib.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Adding one more layer to the network of spec fails with status st, leaves the network as it
 * was, and gives a message containing frag1 and frag2 (either may be NULL). */
static void expect_error(const char *spec, const char *type, const char *name, const char *inputs,
                         const char *args, cnn_status st, const char *frag1, const char *frag2) {
    cnn_net *net = t_net(spec, 1);
    if (!T_CHECK(net != NULL, "%s", spec)) return;
    int before = cnn_net_layer_count(net);
    cnn_status got = cnn_add(net, type, name, inputs, args);
    const char *msg = cnn_net_last_error(net);
    T_CHECK(got == st, "%s %s: status %s, expected %s (%s)", type, args ? args : "",
            cnn_status_str(got), cnn_status_str(st), msg);
    T_CHECK(cnn_net_layer_count(net) == before, "a failed add left a layer behind");
    T_CHECK(!frag1 || strstr(msg, frag1), "message '%s' lacks '%s'", msg, frag1 ? frag1 : "");
    T_CHECK(!frag2 || strstr(msg, frag2), "message '%s' lacks '%s'", msg, frag2 ? frag2 : "");
    printf("  ok error: %s\n", msg);
    cnn_net_free(net);
}

static void test_build_errors(void) {
    const char *img = "input x - shape=3x5x5";
    const cnn_status A = CNN_STATUS_INVALID_ARGUMENT, S = CNN_STATUS_SHAPE;
    expect_error(img, "convolution", "c", NULL, "out=2", A, "unknown layer type 'convolution'", "conv2d");
    expect_error(img, "conv2d", "c", NULL, "out=2", A, "conv2d 'c'", "missing required key 'kernel'");
    expect_error(img, "conv2d", "c", NULL, "out=2 kernel=3 strid=2", A, "unknown key 'strid'", "stride");
    expect_error(img, "conv2d", "c", NULL, "out=2 kernel=3x", A, "bad value '3x' for 'kernel'", NULL);
    expect_error(img, "conv2d", "c", NULL, "out=two kernel=3", A, "bad value 'two' for 'out'", NULL);
    expect_error(img, "conv2d", "c", NULL, "out=2 kernel=3 out=3", A, "given twice", NULL);
    expect_error(img, "conv2d", "c", NULL, "out=2 kernel=3 stride", A, "expected key=value", NULL);
    expect_error(img, "conv2d", "c", NULL, "out=2 kernel=3 init=glorot", A, "init", "he_normal");
    expect_error(img, "conv2d", "c", NULL, "out=2 kernel=3 padding=full", A, "padding", NULL);
    expect_error(img, "conv2d", "c", "y", "out=2 kernel=3", A, "input 'y' is not an earlier layer", NULL);
    expect_error(img, "conv2d", "x", NULL, "out=2 kernel=3", A, "already taken", NULL);
    expect_error(img, "conv2d", "bad name", NULL, "out=2 kernel=3", A, "bad layer name", NULL);
    expect_error("input x - shape=1x4x4", "relu", "r", "x,x", NULL, A, "takes exactly 1 input", "got 2");
    expect_error(img, "conv2d", "c", NULL, "out=2 kernel=7", S, "conv2d 'c'", "5x5");
    expect_error(img, "conv2d", "c", NULL, "out=4 kernel=3 groups=2", S, "groups", NULL);
    expect_error("input x - shape=3x7", "conv2d", "c", NULL, "out=2 kernel=3", S, "conv2d 'c'", "3x7");
    expect_error(img, "dense", "d", NULL, "out=10", S, "flatten", "3x5x5");
    expect_error(img, "max_pool2d", "p", NULL, "kernel=6", S, "max_pool2d 'p'", NULL);
    expect_error("input a - shape=2x4x4; input b - shape=2x5x5", "concat", "cat", "a,b", NULL, S,
                 "concat 'cat'", "2x5x5");
    expect_error("input a - shape=2x4x4; input b - shape=3x4x4", "add", "sum", "a,b", NULL, S,
                 "add 'sum'", "3x4x4");
}

/* 'same' padding with stride 2 is refused by PyTorch; here it is a build error too. */
static void test_same_stride(void) {
    cnn_net *net = t_net("input x - shape=3x5x5", 1);
    cnn_status st = cnn_add(net, "conv2d", "c", NULL, "out=2 kernel=3 stride=2 padding=same");
    T_CHECK(st != CNN_STATUS_OK, "padding=same with stride 2 was accepted");
    cnn_net_free(net);
}

static void test_states(void) {
    cnn_net *net = t_net("input x - shape=4; dense d - out=3", 1);
    float x[8] = {0};
    T_CHECK(cnn_net_forward(net, x, 1) == CNN_STATUS_STATE, "forward before prepare");
    T_CHECK(cnn_net_backward(net) == CNN_STATUS_STATE, "backward before forward");
    T_OK(net, cnn_net_prepare(net, 2));
    T_CHECK(cnn_net_forward(net, x, 3) == CNN_STATUS_INVALID_ARGUMENT, "batch above prepared");
    T_CHECK(cnn_net_forward(net, x, 0) == CNN_STATUS_INVALID_ARGUMENT, "batch 0");
    T_CHECK(cnn_net_prepare(net, 0) == CNN_STATUS_INVALID_ARGUMENT, "prepare 0");
    T_CHECK(cnn_net_set_threads(net, 0) == CNN_STATUS_INVALID_ARGUMENT, "0 threads");
    T_CHECK(cnn_net_set_output(net, "nope") == CNN_STATUS_INVALID_ARGUMENT, "unknown output");
    T_CHECK(strstr(cnn_net_last_error(net), "nope") != NULL, "message names the layer");
    cnn_net_free(NULL);
    cnn_net *empty = cnn_net_new(1);
    T_CHECK(cnn_net_prepare(empty, 1) == CNN_STATUS_STATE, "prepare with no input");
    cnn_net_free(empty);
    cnn_net_free(net);
}

static void test_params(void) {
    /* Layout: each layer's weight then bias, layers in order. */
    cnn_net *net = t_net("input x - shape=3x8x8; conv2d c - out=4 kernel=3; flatten f -; "
                         "dense d - out=5", 11);
    int c = cnn_net_find(net, "c"), d = cnn_net_find(net, "d");
    T_CHECK(cnn_net_layer_param_count(net, c) == 4 * 3 * 9 + 4, "conv params");
    T_CHECK(cnn_net_layer_param_offset(net, d) == 4 * 3 * 9 + 4, "dense offset");
    T_CHECK(cnn_net_param_count(net) == 112 + 5 * 144 + 5, "total %zu", cnn_net_param_count(net));
    const float *p = cnn_net_params(net);
    for (int i = 0; i < 4; i++) T_CHECK(p[108 + i] == 0.0f, "conv bias starts at 0");
    /* Same seed, same parameters; another seed, others. */
    cnn_net *same = t_net("input x - shape=3x8x8; conv2d c - out=4 kernel=3; flatten f -; "
                          "dense d - out=5", 11);
    cnn_net *other = t_net("input x - shape=3x8x8; conv2d c - out=4 kernel=3; flatten f -; "
                           "dense d - out=5", 12);
    size_t n = cnn_net_param_count(net);
    T_CHECK(memcmp(p, cnn_net_params(same), n * sizeof(float)) == 0, "same seed");
    T_CHECK(memcmp(p, cnn_net_params(other), n * sizeof(float)) != 0, "other seed");
    cnn_net_init_params(other, 11);
    T_CHECK(memcmp(p, cnn_net_params(other), n * sizeof(float)) == 0, "reinit with the seed");
    cnn_net_free(same);
    cnn_net_free(other);
    cnn_net_free(net);

    /* The initialisation schemes have the documented spread: He var 2/fan_in, Xavier
     * 2/(fan_in+fan_out), PyTorch's default U(+-1/sqrt(fan_in)) 1/(3 fan_in); uniform ones
     * stay within their bound. */
    static const struct { const char *init; double var; int uniform; } schemes[] = {
        {"he_normal", 2.0 / 400, 0}, {"he_uniform", 2.0 / 400, 1},
        {"xavier_normal", 2.0 / 600, 0}, {"xavier_uniform", 2.0 / 600, 1},
        {"torch_default", 1.0 / 1200, 1},
    };
    for (int s = 0; s < (int)(sizeof schemes / sizeof schemes[0]); s++) {
        char spec[128];
        snprintf(spec, sizeof spec, "input x - shape=400; dense d - out=200 bias=0 init=%s",
                 schemes[s].init);
        cnn_net *m = t_net(spec, 5);
        const float *w = cnn_net_params(m);
        size_t k = cnn_net_param_count(m);
        double sum = 0, sq = 0, bound = sqrt(3 * schemes[s].var), maxabs = 0;
        for (size_t i = 0; i < k; i++) {
            sum += w[i];
            sq += (double)w[i] * w[i];
            if (fabs(w[i]) > maxabs) maxabs = fabs(w[i]);
        }
        double mean = sum / k, var = sq / k - mean * mean;
        T_CHECK(fabs(var / schemes[s].var - 1) < 0.02 && fabs(mean) < 0.01 * sqrt(schemes[s].var) * 10,
                "%s: variance %g, expected %g (mean %g)", schemes[s].init, var, schemes[s].var, mean);
        if (schemes[s].uniform) T_CHECK(maxabs <= bound, "%s: |w| %g > bound %g", schemes[s].init, maxabs, bound);
        cnn_net_free(m);
    }
}

static void test_args_roundtrip(void) {
    cnn_net *net = t_net("input x - shape=3x9x9; conv2d c - out=4 kernel=3x2 padding=same; "
                "conv2d c2 - out=4 kernel=3 stride=2 padding=1x0 bias=0 init=xavier_normal", 1);
    if (!T_CHECK(net != NULL, "build")) return;
    for (int i = 1; i < cnn_net_layer_count(net); i++) {
        char args[512];
        cnn_net_layer_args(net, i, args, sizeof args);
        cnn_net *again = cnn_net_new(1);
        cnn_shape in = cnn_net_input_shape(net, 0);
        char sh[64], inargs[80];
        snprintf(inargs, sizeof inargs, "shape=%s", cnn_shape_str(&in, sh, sizeof sh));
        T_OK(again, cnn_add(again, "input", "x", NULL, inargs));
        for (int j = 1; j <= i; j++) {
            char a[512];
            cnn_net_layer_args(net, j, a, sizeof a);
            T_OK(again, cnn_add(again, cnn_net_layer_type(net, j), cnn_net_layer_name(net, j), NULL, a));
        }
        cnn_shape s1 = cnn_net_layer_shape(net, i), s2 = cnn_net_layer_shape(again, i);
        T_CHECK(memcmp(&s1, &s2, sizeof s1) == 0 &&
                    cnn_net_param_count(net) >= cnn_net_param_count(again),
                "round trip of '%s'", args);
        char args2[512];
        cnn_net_layer_args(again, i, args2, sizeof args2);
        T_CHECK(strcmp(args, args2) == 0, "printed args differ: '%s' vs '%s'", args, args2);
        printf("  ok args: %s %s\n", cnn_net_layer_type(net, i), args);
        cnn_net_free(again);
    }
    cnn_net_free(net);
}

static void test_losses(void) {
    /* Cross-entropy of huge logits stays finite and exact: logits (1000, 0, -1000), label 0
     * gives loss 0; label 1 gives 1000. */
    float z[3] = {1000.0f, 0.0f, -1000.0f}, g[3], loss = 0.0f;
    int32_t l0 = 0, l1 = 1, bad = 3;
    T_CHECK(cnn_loss_cross_entropy(z, &l0, 1, 3, 1, &loss, g) == CNN_STATUS_OK && loss == 0.0f,
            "CE label 0: %g", (double)loss);
    T_CHECK(cnn_loss_cross_entropy(z, &l1, 1, 3, 1, &loss, g) == CNN_STATUS_OK &&
                fabsf(loss - 1000.0f) < 1e-3f && fabsf(g[0] - 1.0f) < 1e-6f && fabsf(g[1] + 1.0f) < 1e-6f,
            "CE label 1: %g, grad %g %g %g", (double)loss, (double)g[0], (double)g[1], (double)g[2]);
    T_CHECK(cnn_loss_cross_entropy(z, &bad, 1, 3, 1, &loss, g) == CNN_STATUS_INVALID_ARGUMENT,
            "label out of range");
    /* Uniform logits: loss log K. */
    float u[4] = {0.5f, 0.5f, 0.5f, 0.5f};
    cnn_loss_cross_entropy(u, &l1, 1, 4, 1, &loss, NULL);
    T_CHECK(fabsf(loss - logf(4.0f)) < 1e-6f, "uniform CE %g", (double)loss);
    float t[2] = {0.0f, 1.5f}, p2[2] = {1.0f, 2.0f};
    T_CHECK(cnn_loss_bce_logits(p2, t, 2, &loss, NULL) == CNN_STATUS_INVALID_ARGUMENT, "BCE target 1.5");
    float big[2] = {500.0f, -500.0f}, tb[2] = {1.0f, 0.0f};
    T_CHECK(cnn_loss_bce_logits(big, tb, 2, &loss, NULL) == CNN_STATUS_OK && loss < 1e-6f,
            "BCE of confident right logits: %g", (double)loss);
    T_CHECK(cnn_loss_mse(p2, p2, 2, &loss, g) == CNN_STATUS_OK && loss == 0.0f, "MSE of equal");

    /* Through a network: NaN in the output is reported, not propagated silently. */
    cnn_net *net = t_net("input x - shape=3; relu r -", 1);
    T_OK(net, cnn_net_prepare(net, 1));
    float x[3] = {NAN, 1.0f, 2.0f};
    T_OK(net, cnn_net_forward(net, x, 1));
    x[0] = 0.0f;
    T_CHECK(cnn_net_loss(net, CNN_LOSS_MSE, x, &loss) == CNN_STATUS_NUMERIC, "NaN loss");
    T_CHECK(strstr(cnn_net_last_error(net), "'r'") != NULL, "NaN message names the output: %s",
            cnn_net_last_error(net));
    int32_t lab = 1;
    T_CHECK(cnn_net_loss(net, CNN_LOSS_PIXEL_CE, &lab, &loss) == CNN_STATUS_SHAPE, "pixel CE on flat");
    cnn_net_free(net);
}

static void test_docs(void) {
    char buf[4096];
    for (int i = 0; i < cnn_layer_type_count(); i++) {
        const char *name = cnn_layer_type_name(i);
        int len = cnn_layer_type_doc(name, buf, sizeof buf);
        T_CHECK(len > (int)strlen(name) + 10 && (size_t)len < sizeof buf, "doc of %s", name);
    }
    T_CHECK(cnn_layer_type_name(cnn_layer_type_count()) == NULL, "past the end");
    T_CHECK(strcmp(cnn_status_str(CNN_STATUS_SHAPE), "shape error") == 0, "status names");
}

/* The global gradient norm: the plain sum of squares (in double, element by element) to
 * within rounding, whatever the count's remainder mod 8; gradients scaled to max_norm when
 * above it (PyTorch's max_norm / (norm + 1e-6)), untouched when below. */
static void test_clip_grad_norm(void) {
    cnn_net *net = t_net("input x - shape=3x8x8; conv2d c - out=4 kernel=3; flatten f -; "
                         "dense d - out=5", 11);
    size_t n = cnn_net_param_count(net); /* 837: not a multiple of 8 */
    float *g = cnn_net_grads(net), *copy = malloc(n * sizeof *copy);
    t_fill(g, n, 3, -2.0f, 2.0f);
    memcpy(copy, g, n * sizeof *copy);
    double sq = 0;
    for (size_t i = 0; i < n; i++) sq += (double)g[i] * g[i];
    float want = (float)sqrt(sq);
    float norm = cnn_net_clip_grad_norm(net, INFINITY);
    T_CHECK(fabsf(norm - want) <= 1e-6f * want, "norm %.9g, want %.9g", norm, want);
    t_same_bits("gradients below the limit are untouched", g, copy, n);
    norm = cnn_net_clip_grad_norm(net, 1.0f);
    T_CHECK(fabsf(norm - want) <= 1e-6f * want, "norm before clipping %.9g, want %.9g", norm, want);
    float coef = 1.0f / (want + 1e-6f);
    size_t bad = 0;
    for (size_t i = 0; i < n; i++) bad += fabsf(g[i] - copy[i] * coef) > 1e-6f * fabsf(copy[i]);
    T_CHECK(bad == 0, "%zu of %zu gradients not scaled by max_norm / norm", bad, n);
    float after = cnn_net_clip_grad_norm(net, INFINITY);
    T_CHECK(fabsf(after - 1.0f) < 1e-5f, "norm after clipping to 1: %.9g", after);
    free(copy);
    cnn_net_free(net);
}

/* A new network's gradients start at zero (backward adds into them) and so do the parameters
 * of a layer that has no initialisation (an input), whatever the memory held before: the
 * buffers grow by each layer's slice, and only that slice is cleared. Built twice, the second
 * time most likely on the first one's memory, dirtied with NaN. */
static void test_fresh_buffers(void) {
    for (int round = 0; round < 3; round++) {
        cnn_net *net = t_net("input x - shape=3x8x8; conv2d c - out=4 kernel=3; flatten f -; "
                             "dense d - out=300; dense e - out=5", 11 + round);
        size_t n = cnn_net_param_count(net), bad = 0;
        float *g = cnn_net_grads(net);
        for (size_t i = 0; i < n; i++) bad += g[i] != 0.0f || signbit(g[i]);
        T_CHECK(bad == 0, "round %d: %zu of %zu gradients of a new network are not +0", round,
                bad, n);
        for (size_t i = 0; i < n; i++) g[i] = NAN;
        cnn_net_free(net);
    }
}

int main(void) {
    test_fresh_buffers();
    test_build_errors();
    test_clip_grad_norm();
    test_same_stride();
    test_states();
    test_params();
    test_args_roundtrip();
    test_losses();
    test_docs();
    return t_finish();
}

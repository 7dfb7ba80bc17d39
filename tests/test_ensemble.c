/*
 * test_ensemble.c - cnn_net_ensemble: the ensemble's output is the mean of its members'
 * (bit for bit: the same layers compute the same values), at 1 and 2 threads; names, shared
 * input, copied weights and batch norm statistics, the preprocessing taken from the members;
 * classification as the softmax of the mean scores; members that normalise otherwise,
 * through their renorm layers; the ensemble through a checkpoint and ONNX; the members left
 * unchanged; and every refusal, with its message.
 */
#include "testlib.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define MEMBER "input x - shape=2x6x6; conv2d c - out=3 kernel=3 padding=1; batchnorm b -; " \
               "relu r -; max_pool2d p - kernel=2; flatten f -; dense o - out=4"
enum { N = 5, IN = 2 * 6 * 6, K = 4 };

/* Running statistics and affine parameters away from their initial values, so that copying
 * them is checked. */
static void random_state(cnn_net *net, uint64_t seed) {
    t_fill(cnn_net_state(net), cnn_net_state_count(net), seed, 0.2f, 1.5f);
    t_fill(cnn_net_params(net), cnn_net_param_count(net), seed + 1, -0.5f, 0.5f);
}

/* Member k: MEMBER from its own seed, with the preprocessing p. */
static cnn_net *member(int k, const cnn_preprocess *p) {
    cnn_net *m = t_net(MEMBER, 10 + (uint64_t)k);
    if (!m) abort();
    random_state(m, 50 + 10 * (uint64_t)k);
    if (p) T_OK(m, cnn_net_set_preprocess(m, p));
    return m;
}

/* The evaluation-mode output of net on x (N samples), copied. */
static float *output(cnn_net *net, const float *x) {
    size_t n = (size_t)N * K;
    float *y = malloc(n * sizeof *y);
    if (!y) abort();
    cnn_net_set_training(net, 0);
    T_OK(net, cnn_net_prepare(net, N));
    T_OK(net, cnn_net_forward(net, x, N));
    memcpy(y, cnn_net_output(net), n * sizeof *y);
    return y;
}

/* n members (2 or 3) at `threads`: the ensemble's output is (y_0 + ... + y_{n-1}) / n of the
 * members' outputs, summed left to right in float, bit for bit. */
static void mean_of_members(int n, int threads) {
    char err[1024], what[64];
    cnn_net *m[3], *e = NULL;
    float x[N * IN], *y[3], want[N * K];
    t_fill(x, N * IN, 7, -1, 1);
    for (int k = 0; k < n; k++) {
        m[k] = member(k, NULL);
        T_OK(m[k], cnn_net_set_threads(m[k], threads));
    }
    snprintf(what, sizeof what, "%d members, %d threads", n, threads);
    if (!T_CHECK(cnn_net_ensemble(m, n, &e, err, sizeof err) == 0, "%s: %s", what, err)) return;
    T_CHECK(cnn_net_threads(e) == threads, "%s: member 0's threads", what);
    T_CHECK(cnn_net_layer_count(e) == 1 + 6 * n + 1, "%s: %d layers", what,
            cnn_net_layer_count(e));
    T_CHECK(cnn_net_find(e, "x") == 0 && cnn_net_input_count(e) == 1, "%s: one input, 'x'", what);
    T_CHECK(cnn_net_find(e, "m0.c") >= 0 && cnn_net_find(e, "m1.o") >= 0, "%s: names", what);
    int out = cnn_net_output_layer(e);
    T_CHECK(!strcmp(cnn_net_layer_name(e, out), "ensemble") &&
                !strcmp(cnn_net_layer_type(e, out), "mean") &&
                cnn_net_layer_input_count(e, out) == n,
            "%s: the output is the mean layer 'ensemble' of the members", what);
    T_CHECK(cnn_net_param_count(e) == (size_t)n * cnn_net_param_count(m[0]) &&
                cnn_net_state_count(e) == (size_t)n * cnn_net_state_count(m[0]),
            "%s: every member's parameters and state", what);
    for (int k = 0; k < n; k++) y[k] = output(m[k], x);
    for (int i = 0; i < N * K; i++) {
        float s = y[0][i];
        for (int k = 1; k < n; k++) s += y[k][i];
        want[i] = s / (float)n;
    }
    float *got = output(e, x);
    t_same_bits(what, got, want, N * K);
    /* The members are untouched: their outputs again, after the ensemble ran. */
    float *again = output(m[1], x);
    t_same_bits("member 1 after the ensemble", again, y[1], N * K);
    free(again);
    free(got);
    for (int k = 0; k < n; k++) {
        free(y[k]);
        cnn_net_free(m[k]);
    }
    cnn_net_free(e);
}

/* The preprocessing is the members'; classify gives the softmax of the mean of the scores; a
 * checkpoint and an ONNX file give back the same network and outputs. */
static void preprocessing_and_files(void) {
    char err[1024], path[256];
    float mean[2] = {0.25f, 0.5f}, std[2] = {0.5f, 2.0f};
    const char *names[K] = {"cat", "dog", "owl", "eel"};
    cnn_preprocess p = {.task = CNN_TASK_CLASSIFICATION, .loss = CNN_LOSS_SOFTMAX_CE,
                        .channels = 2, .mean = mean, .std = std, .hflip_tta = 1, .tta_shift = 1,
                        .classes = K, .class_names = names};
    cnn_net *m[2] = {member(0, &p), member(1, &p)}, *e = NULL;
    if (!T_CHECK(cnn_net_ensemble(m, 2, &e, err, sizeof err) == 0, "ensemble: %s", err)) return;
    const cnn_preprocess *q = cnn_net_preprocess(e);
    T_CHECK(q->mean && q->std && q->mean[1] == 0.5f && q->std[1] == 2.0f && q->hflip_tta == 1 &&
                q->tta_shift == 1 && q->classes == K && !strcmp(cnn_net_class_name(e, 2), "owl"),
            "the members' preprocessing");

    /* cnn_classify: each member's views' scores averaged, then the members' means averaged
     * (the same sums in another order: within rounding), then the softmax. */
    float img[N * IN], pe[N * K], pm[2][N * K], want[N * K];
    int ce[N * K], cm[2][N * K];
    t_fill(img, N * IN, 9, 0, 1);
    T_OK(e, cnn_classify(e, img, N, K, ce, pe));
    for (int k = 0; k < 2; k++) T_OK(m[k], cnn_classify(m[k], img, N, K, cm[k], pm[k]));
    float got[N * K];
    for (int i = 0; i < N; i++) {
        double lz[2][K], z = 0, s[K];
        for (int k = 0; k < 2; k++)
            for (int j = 0; j < K; j++) lz[k][cm[k][i * K + j]] = log(pm[k][i * K + j]);
        for (int c = 0; c < K; c++) s[c] = (lz[0][c] + lz[1][c]) / 2, z += exp(s[c]);
        for (int c = 0; c < K; c++) want[i * K + c] = (float)(exp(s[c]) / z);
        for (int j = 0; j < K; j++) got[i * K + ce[i * K + j]] = pe[i * K + j];
    }
    t_close("classify: the softmax of the members' mean scores", got, want, N * K, 1e-6, 1e-5);

    snprintf(path, sizeof path, "/tmp/cnn_test_ensemble_%d.ckpt", (int)getpid());
    cnn_net *back = NULL;
    float x[N * IN];
    t_fill(x, N * IN, 11, -1, 1);
    float *y = output(e, x);
    T_CHECK(cnn_checkpoint_save(path, e, NULL, NULL, err, sizeof err) == 0, "save: %s", err);
    T_CHECK(cnn_net_load(path, &back, err, sizeof err) == 0, "load: %s", err);
    if (back) {
        float *yb = output(back, x);
        t_same_bits("the ensemble through a checkpoint", yb, y, N * K);
        T_CHECK(cnn_net_preprocess(back)->tta_shift == 1, "the checkpoint keeps the views");
        free(yb);
        cnn_net_free(back);
    }
    remove(path);
    snprintf(path, sizeof path, "/tmp/cnn_test_ensemble_%d.onnx", (int)getpid());
    back = NULL;
    T_CHECK(cnn_onnx_save(path, e, err, sizeof err) == 0, "export: %s", err);
    T_CHECK(cnn_onnx_load(path, &back, err, sizeof err) == 0, "import: %s", err);
    if (back) {
        int out = cnn_net_output_layer(back);
        T_CHECK(!strcmp(cnn_net_layer_type(back, out), "mean"), "ONNX: Mean comes back as mean");
        float *yb = output(back, x);
        t_close("the ensemble through ONNX", yb, y, N * K, 1e-6, 1e-5);
        free(yb);
        cnn_net_free(back);
    }
    remove(path);
    free(y);
    cnn_net_free(e);
    cnn_net_free(m[0]);
    cnn_net_free(m[1]);
}

/* Members that normalise otherwise (as models trained apart do, each on the statistics of its
 * own training samples) or not at all: member 0's normalisation for the ensemble, a renorm
 * layer for each other one that differs, and classify gives the softmax of the mean of what
 * each member gives on its own (test-time shifts included: the black pixels shifted in map
 * to each member's). */
static void other_normalisations(void) {
    char err[1024];
    float mean0[2] = {0.25f, 0.5f}, std0[2] = {0.5f, 2.0f};
    float mean1[2] = {0.3f, 0.45f}, std1[2] = {0.6f, 1.7f};
    cnn_preprocess p = {.channels = 2, .mean = mean0, .std = std0, .hflip_tta = 1,
                        .tta_shift = 1, .classes = K};
    cnn_net *m[3] = {member(0, &p), NULL, NULL}, *e = NULL;
    p.mean = mean1, p.std = std1;
    m[1] = member(1, &p);
    p.mean = p.std = NULL;
    m[2] = member(2, &p);
    if (!T_CHECK(cnn_net_ensemble(m, 3, &e, err, sizeof err) == 0, "ensemble: %s", err)) return;
    T_CHECK(cnn_net_find(e, "m0.renorm") < 0 && cnn_net_find(e, "m1.renorm") > 0 &&
                cnn_net_find(e, "m2.renorm") > 0 && cnn_net_preprocess(e)->mean[1] == 0.5f,
            "member 0's normalisation, a renorm layer for members 1 and 2");
    float img[N * IN], pe[N * K], pm[3][N * K], got[N * K], want[N * K];
    int ce[N * K], cm[3][N * K];
    t_fill(img, N * IN, 21, 0, 1);
    T_OK(e, cnn_classify(e, img, N, K, ce, pe));
    for (int k = 0; k < 3; k++) T_OK(m[k], cnn_classify(m[k], img, N, K, cm[k], pm[k]));
    for (int i = 0; i < N; i++) {
        double s[K] = {0}, z = 0;
        for (int k = 0; k < 3; k++)
            for (int j = 0; j < K; j++) s[cm[k][i * K + j]] += log(pm[k][i * K + j]) / 3;
        for (int c = 0; c < K; c++) z += exp(s[c]);
        for (int c = 0; c < K; c++) want[i * K + c] = (float)(exp(s[c]) / z);
        for (int j = 0; j < K; j++) got[i * K + ce[i * K + j]] = pe[i * K + j];
    }
    t_close("three normalisations: the softmax of the members' mean scores", got, want, N * K,
            1e-6, 1e-5);
    cnn_net_free(e);
    for (int k = 0; k < 3; k++) cnn_net_free(m[k]);
}

/* A refusal: status st, no network, and a message holding `says`. */
static void refused(cnn_net *const *m, int n, cnn_status st, const char *says, const char *what) {
    char err[1024] = "";
    cnn_net *e = (cnn_net *)1;
    cnn_status got = cnn_net_ensemble(m, n, &e, err, sizeof err);
    T_CHECK(got == st && e == NULL && strstr(err, says), "%s: status %d, '%s'", what, (int)got,
            err);
}

static void refusals(void) {
    cnn_preprocess p = {.channels = 2, .hflip_tta = 1, .classes = K};
    cnn_net *a = member(0, NULL), *b = member(1, NULL), *c = member(2, &p);
    cnn_net *wide = t_net("input x - shape=2x6x6; flatten f -; dense o - out=5", 3);
    cnn_net *other = t_net("input x - shape=1x6x6; flatten f -; dense o - out=4", 3);
    cnn_net *two = t_net("input x - shape=2x6x6; input y - shape=2x6x6; add s x,y; flatten f -; "
                         "dense o - out=4", 3);
    cnn_net *longname = t_net("input x - shape=2x6x6; flatten "
                              "a_layer_name_sixty_two_characters_long_which_is_near_the_limit -; "
                              "dense o - out=4", 3);
    cnn_net *one[1] = {a}, *nine[9] = {a, b, a, b, a, b, a, b, a};
    refused(one, 1, CNN_STATUS_INVALID_ARGUMENT, "2 to 8 members, not 1", "one member");
    refused(nine, 9, CNN_STATUS_INVALID_ARGUMENT, "2 to 8 members, not 9", "nine members");
    cnn_net *ab_wide[3] = {a, b, wide}, *ab_other[2] = {a, other}, *ab_two[2] = {a, two};
    refused(ab_wide, 3, CNN_STATUS_SHAPE, "member 2's output is 5 where member 0's is 4",
            "outputs of other shapes");
    refused(ab_other, 2, CNN_STATUS_SHAPE, "member 1's input is 1x6x6 where member 0's is 2x6x6",
            "inputs of other shapes");
    refused(ab_two, 2, CNN_STATUS_SHAPE, "member 1 has 2 inputs", "a member of two inputs");
    cnn_net *ac[2] = {a, c}, *a_long[2] = {a, longname}, *a_null[2] = {a, NULL};
    refused(ac, 2, CNN_STATUS_INVALID_ARGUMENT, "member 1's preprocessing", "test-time views");
    refused(a_long, 2, CNN_STATUS_INVALID_ARGUMENT, "member 1, layer 'a_layer_name_sixty",
            "a name too long with its prefix");
    refused(a_null, 2, CNN_STATUS_INVALID_ARGUMENT, "member 1 is empty", "a NULL member");
    /* A flat input has no channels for a renorm layer. */
    float m1[6] = {0.5f, 0, 0, 0, 0, 0}, s1[6] = {2, 1, 1, 1, 1, 1};
    cnn_preprocess q = {.channels = 6, .mean = m1, .std = s1, .classes = K};
    cnn_net *f0 = t_net("input x - shape=6; dense o - out=4", 3);
    cnn_net *f1 = t_net("input x - shape=6; dense o - out=4", 4);
    T_OK(f1, cnn_net_set_preprocess(f1, &q));
    cnn_net *flat[2] = {f0, f1};
    refused(flat, 2, CNN_STATUS_INVALID_ARGUMENT, "a flat input has no channels",
            "flat inputs normalised otherwise");
    cnn_net *nets[] = {a, b, c, wide, other, two, longname, f0, f1};
    for (size_t k = 0; k < sizeof nets / sizeof nets[0]; k++) cnn_net_free(nets[k]);
}

/* Eight members, the most a mean layer takes, and an ensemble of ensembles (names "m0.m1.c"). */
static void eight_and_nested(void) {
    char err[1024];
    cnn_net *m[8], *e = NULL, *ee = NULL;
    for (int k = 0; k < 8; k++) m[k] = member(k, NULL);
    T_CHECK(cnn_net_ensemble(m, 8, &e, err, sizeof err) == 0, "eight: %s", err);
    cnn_net *pair[2] = {e, e};
    T_CHECK(e && cnn_net_ensemble(pair, 2, &ee, err, sizeof err) == 0, "nested: %s", err);
    if (ee) {
        float x[N * IN];
        t_fill(x, N * IN, 13, -1, 1);
        float *y = output(e, x), *yy = output(ee, x);
        T_CHECK(cnn_net_find(ee, "m1.m7.o") >= 0, "nested names");
        t_same_bits("an ensemble of an ensemble with itself", yy, y, N * K);
        free(y);
        free(yy);
    }
    cnn_net_free(ee);
    cnn_net_free(e);
    for (int k = 0; k < 8; k++) cnn_net_free(m[k]);
}

/* A member whose output is its input (nothing to copy): the mean reads the shared input. */
static void identity_member(void) {
    char err[1024];
    cnn_net *a = t_net("input x - shape=4", 1), *b = t_net("input x - shape=4; tanh t -", 2);
    cnn_net *m[2] = {a, b}, *e = NULL;
    T_CHECK(cnn_net_ensemble(m, 2, &e, err, sizeof err) == 0, "identity member: %s", err);
    if (e) {
        float x[8] = {-2, -1, 0, 0.5f, 1, 2, 3, -0.25f}, want[8];
        for (int i = 0; i < 8; i++) want[i] = (x[i] + tanhf(x[i])) / 2;
        T_OK(e, cnn_net_prepare(e, 2));
        T_OK(e, cnn_net_forward(e, x, 2));
        t_close("the mean of x and tanh x", cnn_net_output(e), want, 8, 1e-6, 1e-6);
    }
    cnn_net_free(e);
    cnn_net_free(a);
    cnn_net_free(b);
}

int main(void) {
    for (int threads = 1; threads <= 2; threads++) {
        mean_of_members(2, threads);
        mean_of_members(3, threads);
    }
    preprocessing_and_files();
    other_normalisations();
    refusals();
    eight_and_nested();
    identity_member();
    return t_finish();
}

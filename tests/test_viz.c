/*
 * test_viz.c - seeing inside a network (cnn.h, "Seeing inside a network"):
 *   - back-propagation from any layer, and guided backpropagation's ReLU rule, element by
 *     element;
 *   - saliency, guided backpropagation and Grad-CAM against PyTorch (autograd, hooks and
 *     interpolate in tests/ref/make_fixtures.py: viz_explain.bin);
 *   - a network trained on a task whose class depends only on the top-left quadrant of the
 *     image: Grad-CAM (and saliency) put most of their mass on that quadrant;
 *   - activation maximisation raises the chosen unit's activation, reproducibly;
 *   - layer statistics and histograms on known values; the classic kernels against a conv2d
 *     layer; bad arguments refused with a message.
 */
#include "testlib.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---------------------------------------------------------------------------------------------
 * The backprop rules
 * ------------------------------------------------------------------------------------------- */

static void test_relu_rules(void) {
    cnn_net *net = t_net("input x - shape=6; relu r -", 1);
    if (!net || !T_OK(net, cnn_net_prepare(net, 1))) goto out;
    const float x[6] = {1, -1, 2, -2, 3, 0};
    const float seed[6] = {0.5f, 0.5f, -0.7f, -0.7f, 2, 1};
    /* plain: dy where x > 0; guided: dy where x > 0 and dy > 0 */
    const float plain[6] = {0.5f, 0, -0.7f, 0, 2, 0}, guided[6] = {0.5f, 0, 0, 0, 2, 0};
    T_OK(net, cnn_net_forward(net, x, 1));
    T_OK(net, cnn_net_backward_from(net, 1, seed, CNN_BACKPROP_PLAIN));
    t_same_bits("relu, plain rule", cnn_net_input_grad(net, 0), plain, 6);
    T_OK(net, cnn_net_backward_from(net, 1, seed, CNN_BACKPROP_GUIDED));
    t_same_bits("relu, guided rule", cnn_net_input_grad(net, 0), guided, 6);
    T_CHECK(cnn_net_backward_from(net, 2, seed, CNN_BACKPROP_PLAIN) == CNN_STATUS_INVALID_ARGUMENT,
            "layer 2 does not exist");
    T_CHECK(strstr(cnn_net_last_error(net), "layers 0 to 1") != NULL, "message: %s",
            cnn_net_last_error(net));
    T_CHECK(cnn_net_backward_from(net, 1, NULL, CNN_BACKPROP_PLAIN) ==
                CNN_STATUS_INVALID_ARGUMENT, "NULL seed");
out:
    cnn_net_free(net);
}

/* Backward from the output is cnn_net_backward; from an inner layer it is the chain rule
 * through the layers before it only. */
static void test_backward_from(void) {
    cnn_net *net = t_net("input x - shape=4; dense a - out=3; tanh t -; dense b - out=2", 7);
    if (!net || !T_OK(net, cnn_net_prepare(net, 2))) goto out;
    float x[8], seed[4] = {1, -2, 0.5f, 3}, g1[8], g2[8];
    t_fill(x, 8, 3, -1, 1);
    T_OK(net, cnn_net_forward(net, x, 2));
    memcpy(cnn_net_output_grad(net), seed, sizeof seed);
    cnn_net_zero_grad(net);
    T_OK(net, cnn_net_backward(net));
    memcpy(g1, cnn_net_input_grad(net, 0), sizeof g1);
    size_t np = cnn_net_param_count(net);
    float *dw1 = malloc(np * sizeof *dw1);
    memcpy(dw1, cnn_net_grads(net), np * sizeof *dw1);
    cnn_net_zero_grad(net);
    T_OK(net, cnn_net_backward_from(net, 3, seed, CNN_BACKPROP_PLAIN));
    t_same_bits("backward_from(output) == backward, input gradient", cnn_net_input_grad(net, 0),
                g1, 8);
    t_same_bits("backward_from(output) == backward, parameter gradients", cnn_net_grads(net),
                dw1, np);
    /* From 'a' (3 outputs) with seed s: dx = W_a^T s per sample. */
    float s3[6] = {1, 0, -1, 0.5f, 2, 0};
    T_OK(net, cnn_net_backward_from(net, 1, s3, CNN_BACKPROP_PLAIN));
    const float *W = cnn_net_params(net) + cnn_net_layer_param_offset(net, 1); /* 3x4 */
    for (int n = 0; n < 2; n++)
        for (int i = 0; i < 4; i++) {
            g2[n * 4 + i] = 0;
            for (int o = 0; o < 3; o++) g2[n * 4 + i] += W[o * 4 + i] * s3[n * 3 + o];
        }
    t_close("backward_from an inner layer", cnn_net_input_grad(net, 0), g2, 8, 1e-6, 1e-6);
    free(dw1);
out:
    cnn_net_free(net);
}

/* Training does not need the input gradient: with it off, the parameter gradients are the
 * same bit for bit, and the explanations turn it back on for their own passes. */
static void test_input_grads_off(void) {
    cnn_net *net = t_net("input x - shape=2x9x9; conv2d c - out=3 kernel=3 padding=1; relu r -;"
                         "flatten f -; dense d - out=4", 5);
    if (!net || !T_OK(net, cnn_net_prepare(net, 3))) goto out;
    float x[486], dx_on[162], dx_off[162], zeros[486] = {0};
    t_fill(x, 486, 8, -1, 1);
    size_t np = cnn_net_param_count(net);
    float *g_off = malloc(np * sizeof *g_off);
    int32_t labels[3] = {0, 3, 1};
    float loss;
    /* Off first: the gradient buffers start at zero (prepare), and nothing may write the
     * input's. */
    for (int on = 0; on < 2; on++) {
        cnn_net_set_input_grads(net, on);
        cnn_net_zero_grad(net);
        T_OK(net, cnn_net_forward(net, x, 3));
        T_OK(net, cnn_net_loss(net, CNN_LOSS_SOFTMAX_CE, labels, &loss));
        T_OK(net, cnn_net_backward(net));
        if (!on) {
            memcpy(g_off, cnn_net_grads(net), np * sizeof *g_off);
            t_same_bits("no input gradient computed", cnn_net_input_grad(net, 0), zeros, 486);
        } else {
            t_same_bits("parameter gradients without the input gradient", g_off,
                        cnn_net_grads(net), np);
        }
    }
    cnn_net_set_input_grads(net, 0);
    T_CHECK(cnn_net_input_grads(net) == 0, "input gradients off");
    T_OK(net, cnn_input_gradient(net, x, 2, CNN_BACKPROP_PLAIN, dx_off));
    T_CHECK(cnn_net_input_grads(net) == 0, "the setting is restored after an explanation");
    cnn_net_set_input_grads(net, 1);
    T_OK(net, cnn_input_gradient(net, x, 2, CNN_BACKPROP_PLAIN, dx_on));
    t_same_bits("explanations compute the input gradient whatever the setting", dx_off, dx_on, 162);
    free(g_off);
out:
    cnn_net_free(net);
}

/* ---------------------------------------------------------------------------------------------
 * Against PyTorch
 * ------------------------------------------------------------------------------------------- */

static const float *need(const t_fixture *fx, const char *name, size_t n) {
    size_t count = 0;
    const float *p = t_fixture_f32(fx, name, &count);
    T_CHECK(p && count == n, "viz_explain.bin: '%s' has %zu values, expected %zu", name, count, n);
    return p && count == n ? p : NULL;
}

static void test_against_pytorch(const char *dir) {
    char path[512];
    snprintf(path, sizeof path, "%s/viz_explain.bin", dir);
    t_fixture *fx = t_fixture_load(path);
    if (!T_CHECK(fx != NULL, "cannot load %s", path)) return;
    const char *spec = t_fixture_str(fx, "spec"), *layer_name = t_fixture_str(fx, "layer");
    const t_tensor *cls_t = t_fixture_get(fx, "cls");
    cnn_net *net = spec ? t_net(spec, 1) : NULL;
    if (!T_CHECK(net && layer_name && cls_t, "fixture records")) goto out;
    int cls = ((const int32_t *)cls_t->data)[0];
    size_t np = cnn_net_param_count(net), ns = cnn_net_state_count(net);
    const float *w = need(fx, "w", np), *state = need(fx, "state", ns), *x = need(fx, "x", 768);
    const float *scores = need(fx, "scores", 5), *sal = need(fx, "saliency", 768);
    const float *guided = need(fx, "guided", 768), *cam = need(fx, "cam", 64);
    const float *cam_up = need(fx, "cam_up", 256);
    if (!w || !state || !x || !scores || !sal || !guided || !cam || !cam_up) goto out;
    T_OK(net, cnn_net_prepare(net, 4));
    memcpy(cnn_net_params(net), w, np * sizeof *w);
    memcpy(cnn_net_state(net), state, ns * sizeof *state);
    cnn_net_set_training(net, 1); /* the explanations switch to inference mode and back */

    T_CHECK(cnn_net_score_layer(net) == cnn_net_find(net, "d"), "scores come before the softmax");
    T_CHECK(cnn_gradcam_layer(net) == cnn_net_find(net, layer_name),
            "default Grad-CAM layer '%s' (the last conv2d followed through its relu)", layer_name);
    float got[768], got_cam[64], got_up[256], sc[5];
    int top = -1;
    T_OK(net, cnn_net_scores(net, x, sc, &top));
    t_close("class scores", sc, scores, 5, 1e-5, 1e-4);
    int want_top = 0;
    for (int k = 1; k < 5; k++) want_top = scores[k] > scores[want_top] ? k : want_top;
    T_CHECK(top == want_top, "top class %d, PyTorch %d", top, want_top);
    T_OK(net, cnn_input_gradient(net, x, cls, CNN_BACKPROP_PLAIN, got));
    t_close("saliency gradient", got, sal, 768, 1e-5, 1e-4);
    T_OK(net, cnn_input_gradient(net, x, cls, CNN_BACKPROP_GUIDED, got));
    t_close("guided backpropagation", got, guided, 768, 1e-5, 1e-4);
    T_OK(net, cnn_gradcam(net, x, cls, cnn_gradcam_layer(net), got_cam, got_up));
    t_close("Grad-CAM", got_cam, cam, 64, 1e-5, 1e-4);
    t_close("Grad-CAM upsampled", got_up, cam_up, 256, 1e-5, 1e-4);
    T_CHECK(cnn_net_training(net) == 1, "training mode restored");
    /* The same with the reference kernels. */
    cnn_net_set_reference(net, 1);
    T_OK(net, cnn_gradcam(net, x, cls, cnn_gradcam_layer(net), got_cam, NULL));
    t_close("Grad-CAM, reference kernels", got_cam, cam, 64, 1e-5, 1e-4);

    /* Refusals. */
    T_CHECK(cnn_input_gradient(net, x, 5, CNN_BACKPROP_PLAIN, got) == CNN_STATUS_INVALID_ARGUMENT,
            "class 5 of 5");
    T_CHECK(strstr(cnn_net_last_error(net), "class 5 is out of range") != NULL, "message: %s",
            cnn_net_last_error(net));
    T_CHECK(cnn_gradcam(net, x, 0, cnn_net_find(net, "f"), got_cam, NULL) == CNN_STATUS_SHAPE,
            "Grad-CAM on a flat layer");
    T_CHECK(strstr(cnn_net_last_error(net), "'f' is 96") != NULL, "message: %s",
            cnn_net_last_error(net));
    T_CHECK(cnn_gradcam(net, x, 0, 99, got_cam, NULL) == CNN_STATUS_INVALID_ARGUMENT, "layer 99");
out:
    cnn_net_free(net);
    t_fixture_free(fx);
}

/* ---------------------------------------------------------------------------------------------
 * The quadrant task: 32x32 images of noise; in the top-left quadrant, stripes over the noise,
 * horizontal or vertical: the class. Nothing outside the quadrant tells.
 * ------------------------------------------------------------------------------------------- */

#define Q 32
#define Q_TRAIN 1024
#define Q_TEST 64

static uint64_t q_rand(uint64_t *s) {
    *s = *s * 6364136223846793005ULL + 1442695040888963407ULL;
    return *s >> 33;
}

static void q_sample(float *img, int32_t *label, uint64_t *s) {
    for (int i = 0; i < Q * Q; i++) img[i] = 0.5f * (float)(q_rand(s) % 1000) / 1000.0f;
    /* The top-left quadrant: stripes two pixels apart, horizontal (class 0) or vertical
     * (class 1), with a random phase and contrast, over the noise. */
    int cls = (int)(q_rand(s) % 2), phase = (int)(q_rand(s) % 2);
    float contrast = 0.5f + 0.5f * (float)(q_rand(s) % 1000) / 1000.0f;
    for (int r = 0; r < Q / 2; r++)
        for (int c = 0; c < Q / 2; c++) {
            int on = ((cls ? c : r) + phase) % 2;
            img[r * Q + c] = 0.5f * img[r * Q + c] + (on ? contrast : 0.0f);
        }
    *label = cls;
}

/* Adds the mass of a non-negative h x w map inside its top-left quadrant to *in and all of
 * it to *all. */
static void tl_mass(const float *m, int h, int w, double *in, double *all) {
    for (int i = 0; i < h; i++)
        for (int j = 0; j < w; j++) {
            *all += m[i * w + j];
            if (i < h / 2 && j < w / 2) *in += m[i * w + j];
        }
}

static void test_quadrant(void) {
    cnn_net *net = t_net("input x - shape=1x32x32; conv2d c1 - out=8 kernel=3 padding=1; relu r1 -;"
                         "max_pool2d p1 - kernel=2; conv2d c2 - out=16 kernel=3 padding=1;"
                         "relu r2 -; max_pool2d p2 - kernel=2; flatten f -; dense d - out=2", 11);
    float *x = malloc((size_t)(Q_TRAIN + Q_TEST) * Q * Q * sizeof *x);
    int32_t y[Q_TRAIN + Q_TEST];
    cnn_optim *opt = NULL;
    if (!net || !x || !T_OK(net, cnn_net_prepare(net, 32))) goto out;
    uint64_t s = 5;
    for (int i = 0; i < Q_TRAIN + Q_TEST; i++) q_sample(x + (size_t)i * Q * Q, y + i, &s);
    cnn_optim_config cfg = cnn_optim_defaults(CNN_OPTIM_ADAM, 0.005f);
    opt = cnn_optim_new(net, &cfg);
    cnn_net_set_training(net, 1);
    for (int epoch = 0; epoch < 8; epoch++)
        for (int b = 0; b < Q_TRAIN; b += 32) {
            float loss;
            cnn_net_zero_grad(net);
            T_OK(net, cnn_net_forward(net, x + (size_t)b * Q * Q, 32));
            T_OK(net, cnn_net_loss(net, CNN_LOSS_SOFTMAX_CE, y + b, &loss));
            T_OK(net, cnn_net_backward(net));
            T_OK(net, cnn_optim_step(opt));
        }
    int correct = 0;
    double cam_in = 0, cam_all = 0, sal_in = 0, sal_all = 0;
    int layer = cnn_gradcam_layer(net);
    T_CHECK(layer == cnn_net_find(net, "r2"), "Grad-CAM layer r2, got %d", layer);
    for (int i = Q_TRAIN; i < Q_TRAIN + Q_TEST; i++) {
        const float *xi = x + (size_t)i * Q * Q;
        float cam[Q * Q / 4], up[Q * Q], dx[Q * Q], sal[Q * Q];
        int top;
        T_OK(net, cnn_net_scores(net, xi, NULL, &top));
        correct += top == y[i];
        T_OK(net, cnn_gradcam(net, xi, y[i], layer, cam, up));
        tl_mass(up, Q, Q, &cam_in, &cam_all);
        T_OK(net, cnn_input_gradient(net, xi, y[i], CNN_BACKPROP_PLAIN, dx));
        cnn_saliency_map(dx, 1, Q, Q, sal);
        tl_mass(sal, Q, Q, &sal_in, &sal_all);
    }
    double cam_share = cam_in / cam_all, sal_share = sal_in / sal_all;
    printf("  quadrant task: test accuracy %d/%d, Grad-CAM mass in the quadrant %.3f, saliency "
           "%.3f (uniform: 0.25)\n", correct, Q_TEST, cam_share, sal_share);
    T_CHECK(correct >= Q_TEST * 9 / 10, "the network learned the task: %d/%d", correct, Q_TEST);
    T_CHECK(cam_share > 0.6, "Grad-CAM's mass in the top-left quadrant: %.3f", cam_share);
    /* Saliency is noisier (every pixel the dense layer weighs gets some gradient): it only
     * has to favour the quadrant. */
    T_CHECK(sal_share > 0.35, "saliency's mass in the top-left quadrant: %.3f", sal_share);
out:
    cnn_optim_free(opt);
    free(x);
    cnn_net_free(net);
}

/* ---------------------------------------------------------------------------------------------
 * Activation maximisation
 * ------------------------------------------------------------------------------------------- */

static void test_dream(void) {
    cnn_net *net = t_net("input x - shape=3x16x16; conv2d c1 - out=4 kernel=3 padding=1; relu r1 -;"
                         "conv2d c2 - out=6 kernel=3 padding=1; relu r2 -; global_avg_pool g -;"
                         "dense d - out=5", 21);
    if (!net) return;
    cnn_dream_config cfg = cnn_dream_defaults();
    cfg.steps = 60;
    cfg.seed = 4;
    float x1[768], x2[768], before = 0, after = 0, b2, a2;
    int c2 = cnn_net_find(net, "c2"), d = cnn_net_find(net, "d");
    T_OK(net, cnn_activation_maximize(net, c2, 3, &cfg, x1, &before, &after));
    printf("  dream c2 unit 3: %.4f -> %.4f\n", before, after);
    T_CHECK(after > before + 0.5f && after > 2 * fabsf(before),
            "activation maximisation raised the unit: %g -> %g", before, after);
    T_OK(net, cnn_activation_maximize(net, c2, 3, &cfg, x2, &b2, &a2));
    t_same_bits("the same seed gives the same picture", x2, x1, 768);
    T_OK(net, cnn_activation_maximize(net, d, 4, &cfg, x2, &before, &after));
    printf("  dream d unit 4: %.4f -> %.4f\n", before, after);
    T_CHECK(after > before + 0.3f, "dense unit raised: %g -> %g", before, after);
    T_CHECK(cnn_activation_maximize(net, c2, 6, &cfg, x2, NULL, NULL) ==
                CNN_STATUS_INVALID_ARGUMENT, "unit 6 of 6");
    T_CHECK(strstr(cnn_net_last_error(net), "unit 6 is out of range 0 to 5") != NULL,
            "message: %s", cnn_net_last_error(net));
    cfg.decay = 1.5f;
    T_CHECK(cnn_activation_maximize(net, c2, 0, &cfg, x2, NULL, NULL) ==
                CNN_STATUS_INVALID_ARGUMENT, "decay 1.5 refused");
    cnn_net_free(net);
}

/* ---------------------------------------------------------------------------------------------
 * Statistics, activations, kernels
 * ------------------------------------------------------------------------------------------- */

static void test_stats(void) {
    cnn_net *net = t_net("input x - shape=4; relu r -", 1);
    if (!net || !T_OK(net, cnn_net_prepare(net, 3))) goto out;
    /* Unit 1 never fires, unit 3 fires once. After the relu: 1 0 2 0 / 3 0 0 0 / 0 0 4 1 */
    const float x[12] = {1, -1, 2, -5, 3, 0, -2, -1, -3, -4, 4, 1};
    T_OK(net, cnn_net_forward(net, x, 3));
    cnn_activation_stats st;
    uint64_t counts[4];
    float lo = 0, hi = 4;
    T_OK(net, cnn_layer_stats(net, 1, &st, 4, &lo, &hi, counts));
    T_CHECK(st.count == 12 && st.min == 0 && st.max == 4, "count %zu min %g max %g", st.count,
            st.min, st.max);
    T_CHECK(fabs(st.mean - 11.0 / 12) < 1e-12, "mean %g", st.mean);
    double var = (1 + 4 + 9 + 16 + 1) / 12.0 - (11.0 / 12) * (11.0 / 12);
    T_CHECK(fabs(st.std - sqrt(var)) < 1e-12, "std %g", st.std);
    T_CHECK(fabs(st.zero_fraction - 7.0 / 12) < 1e-12, "zeros %g", st.zero_fraction);
    T_CHECK(fabs(st.dead_fraction - 0.25) < 1e-12, "dead units %g (unit 1 of 4)",
            st.dead_fraction);
    /* bins [0,1) [1,2) [2,3) [3,4], 4 goes to the last */
    T_CHECK(counts[0] == 7 && counts[1] == 2 && counts[2] == 1 && counts[3] == 2,
            "histogram %llu %llu %llu %llu", (unsigned long long)counts[0],
            (unsigned long long)counts[1], (unsigned long long)counts[2],
            (unsigned long long)counts[3]);
    lo = hi = 0; /* automatic range: [min, max] */
    T_OK(net, cnn_layer_stats(net, 0, &st, 2, &lo, &hi, counts));
    T_CHECK(lo == -5 && hi == 4 && counts[0] + counts[1] == 12, "range [%g, %g]", lo, hi);
    float a[4];
    T_OK(net, cnn_layer_activations(net, x + 4, 1, a));
    const float want[4] = {3, 0, 0, 0};
    t_same_bits("one sample's activations", a, want, 4);
out:
    cnn_net_free(net);
}

static void test_kernels(void) {
    T_CHECK(cnn_classic_kernel_count() >= 6, "classic kernels");
    const char *course[] = {"identity", "outline", "sobel_left", "sobel_bottom", "lighten", "darken"};
    for (int i = 0; i < 6; i++)
        T_CHECK(cnn_classic_kernel_name(i) && !strcmp(cnn_classic_kernel_name(i), course[i]),
                "kernel %d is %s", i, course[i]);
    float k[9];
    T_CHECK(cnn_classic_kernel("sobel_bottom", k) == CNN_STATUS_OK && k[0] == -1 && k[1] == -2 &&
                k[7] == 2 && k[4] == 0, "sobel bottom as in the course");
    T_CHECK(cnn_classic_kernel("lighten", k) == CNN_STATUS_OK && k[4] == 2, "lighten");
    T_CHECK(cnn_classic_kernel("nope", k) == CNN_STATUS_INVALID_ARGUMENT, "unknown kernel");
    /* Every classic kernel against a conv2d layer with that kernel, padding 1, no bias. */
    cnn_net *net = t_net("input x - shape=1x9x7; conv2d c - out=1 kernel=3 padding=1 bias=0", 1);
    if (!net || !T_OK(net, cnn_net_prepare(net, 1))) goto out;
    float img[63], y[63];
    t_fill(img, 63, 9, 0, 1);
    for (int i = 0; i < cnn_classic_kernel_count(); i++) {
        cnn_classic_kernel(cnn_classic_kernel_name(i), k);
        memcpy(cnn_net_params(net), k, sizeof k);
        T_OK(net, cnn_net_forward(net, img, 1));
        cnn_filter3x3(img, 1, 9, 7, k, y);
        char what[64];
        snprintf(what, sizeof what, "%s: cnn_filter3x3 == conv2d", cnn_classic_kernel_name(i));
        t_close(what, y, cnn_net_output(net), 63, 1e-6, 1e-6);
    }
    /* The identity leaves an image as it is; darken halves it. */
    cnn_classic_kernel("identity", k);
    cnn_filter3x3(img, 1, 9, 7, k, y);
    t_same_bits("identity kernel", y, img, 63);
out:
    cnn_net_free(net);
}

int main(int argc, char **argv) {
    const char *dir = getenv("CNN_REF_DIR");
    if (!dir) dir = argc > 1 ? argv[1] : "tests/ref";
    test_relu_rules();
    test_backward_from();
    test_input_grads_off();
    test_against_pytorch(dir);
    test_quadrant();
    test_dream();
    test_stats();
    test_kernels();
    return t_finish();
}

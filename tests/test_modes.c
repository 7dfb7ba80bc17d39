/*
 * test_modes.c - what finite differences cannot see:
 *   - dropout in training: the mask's values, its keep rate, backward through the same mask,
 *     fresh masks per pass, the same masks for the same seed and any thread count, the
 *     identity in evaluation and for p = 0, and the range of p;
 *   - batch normalisation: the running statistics after a training pass (PyTorch's update,
 *     unbiased variance), evaluation with them, normalised training output, one value per
 *     channel, and the range of eps and momentum;
 *   - add, concat and upsample: their outputs on small known inputs, and the errors for
 *     shapes that do not fit, which must name the layer and the shapes.
 */
#include "testlib.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Building spec (see t_net) succeeds up to its last layer, which fails with status want and a
 * message containing each of the NULL-terminated words; the failed layer is not added. */
static void check_spec_fails(const char *spec, cnn_status want, const char *const *words) {
    cnn_net *net = cnn_net_new(1);
    char *copy = strdup(spec), *save = NULL;
    int lines = 1, added = 0, failed_at = -1;
    for (const char *q = spec; *q; q++) lines += *q == ';';
    cnn_status st = CNN_STATUS_OK;
    for (char *line = strtok_r(copy, ";", &save); line; line = strtok_r(NULL, ";", &save)) {
        char type[64], name[64], inputs[128];
        int used = 0;
        if (!T_CHECK(sscanf(line, " %63s %63s %127s %n", type, name, inputs, &used) == 3,
                     "bad spec line '%s'", line))
            break;
        st = cnn_add(net, type, name, strcmp(inputs, "-") ? inputs : NULL, line + used);
        if (st) {
            failed_at = added;
            break;
        }
        added++;
    }
    const char *err = cnn_net_last_error(net);
    T_CHECK(st == want && failed_at == lines - 1,
            "'%s': status '%s' at layer %d, expected '%s' at layer %d (%s)", spec,
            cnn_status_str(st), failed_at, cnn_status_str(want), lines - 1, err);
    for (int i = 0; words[i]; i++)
        T_CHECK(strstr(err, words[i]) != NULL, "'%s': the error '%s' does not say '%s'", spec,
                err, words[i]);
    T_CHECK(cnn_net_layer_count(net) == added, "'%s': a failed layer was added anyway", spec);
    printf("  expected error: %s\n", err);
    free(copy);
    cnn_net_free(net);
}

/* ---------------------------------------------------------------------------------------------
 * Dropout
 * ------------------------------------------------------------------------------------------- */

#define DROP_N 100000

/* A dropout net on DROP_N features, prepared for one sample. */
static cnn_net *dropout_net(const char *p, uint64_t seed, int training) {
    char spec[128];
    snprintf(spec, sizeof spec, "input x - shape=%d; dropout d - p=%s", DROP_N, p);
    cnn_net *net = t_net(spec, seed);
    if (!net) return NULL;
    cnn_net_set_training(net, training);
    if (!T_OK(net, cnn_net_prepare(net, 1))) {
        cnn_net_free(net);
        return NULL;
    }
    return net;
}

static size_t count_differences(const float *a, const float *b, size_t n) {
    size_t d = 0;
    for (size_t i = 0; i < n; i++) d += memcmp(&a[i], &b[i], sizeof(float)) != 0;
    return d;
}

static void test_dropout_training(void) {
    const float p = 0.3f;
    const float scale = (float)(1.0 / (1.0 - (double)p));
    float *ones = malloc(DROP_N * sizeof(float));
    float *dy = malloc(DROP_N * sizeof(float));
    float *first = malloc(DROP_N * sizeof(float));
    float *expect = malloc(DROP_N * sizeof(float));
    for (size_t i = 0; i < DROP_N; i++) ones[i] = 1.0f;
    t_fill(dy, DROP_N, 11, -1.0f, 1.0f);

    cnn_net *net = dropout_net("0.3", 5, 1);
    if (!T_CHECK(net != NULL, "building the dropout net")) goto out;
    T_OK(net, cnn_net_forward(net, ones, 1));
    const float *y = cnn_net_output(net);
    size_t kept = 0, other = 0;
    for (size_t i = 0; i < DROP_N; i++) {
        if (y[i] == scale) kept++;
        else if (y[i] != 0.0f) other++;
    }
    T_CHECK(other == 0, "%zu outputs are neither 0 nor 1/(1-p) = %.9g", other, (double)scale);
    double frac = (double)kept / DROP_N;
    T_CHECK(fabs(frac - 0.7) <= 0.01, "kept fraction %.4f, expected 0.7 +- 0.01", frac);
    printf("  dropout p=0.3: kept %.4f of %d\n", frac, DROP_N);

    /* Backward multiplies dy by the very mask forward drew. */
    memcpy(first, y, DROP_N * sizeof(float));
    memcpy(cnn_net_output_grad(net), dy, DROP_N * sizeof(float));
    T_OK(net, cnn_net_backward(net));
    for (size_t i = 0; i < DROP_N; i++) expect[i] = first[i] != 0.0f ? dy[i] * scale : 0.0f;
    T_CHECK(count_differences(cnn_net_input_grad(net, 0), expect, DROP_N) == 0,
            "backward does not apply the forward mask and scale");
    /* Backward follows the pass forward made, even when the mode changed in between. */
    cnn_net_set_training(net, 0);
    T_OK(net, cnn_net_backward(net));
    T_CHECK(count_differences(cnn_net_input_grad(net, 0), expect, DROP_N) == 0,
            "backward after switching to evaluation does not apply the forward mask");
    cnn_net_set_training(net, 1);

    /* A second pass draws a new mask. */
    T_OK(net, cnn_net_forward(net, ones, 1));
    size_t changed = count_differences(cnn_net_output(net), first, DROP_N);
    T_CHECK(changed > DROP_N / 10, "a second pass changed only %zu of %d mask elements", changed,
            DROP_N);

    /* The same seed gives the same masks, whatever the thread count. */
    cnn_net *twin = dropout_net("0.3", 5, 1);
    if (T_CHECK(twin != NULL, "building the second dropout net")) {
        T_OK(twin, cnn_net_set_threads(twin, 2));
        T_OK(twin, cnn_net_forward(twin, ones, 1));
        T_CHECK(count_differences(cnn_net_output(twin), first, DROP_N) == 0,
                "same seed, 2 threads: the first mask differs");
        T_OK(twin, cnn_net_forward(twin, ones, 1));
        T_CHECK(count_differences(cnn_net_output(twin), cnn_net_output(net), DROP_N) == 0,
                "same seed, 2 threads: the second mask differs");
        cnn_net_free(twin);
    }

    /* A different seed gives a different mask. */
    cnn_net *other_seed = dropout_net("0.3", 6, 1);
    if (T_CHECK(other_seed != NULL, "building the third dropout net")) {
        T_OK(other_seed, cnn_net_forward(other_seed, ones, 1));
        T_CHECK(count_differences(cnn_net_output(other_seed), first, DROP_N) > DROP_N / 10,
                "another seed gives nearly the same mask");
        cnn_net_free(other_seed);
    }
out:
    cnn_net_free(net);
    free(ones);
    free(dy);
    free(first);
    free(expect);
}

/* y = x and dx = dy exactly, for a net that must not drop. */
static void check_identity(const char *what, const char *p, int training) {
    float *x = malloc(DROP_N * sizeof(float));
    float *dy = malloc(DROP_N * sizeof(float));
    t_fill(x, DROP_N, 21, -2.0f, 2.0f);
    t_fill(dy, DROP_N, 22, -1.0f, 1.0f);
    cnn_net *net = dropout_net(p, 5, training);
    if (T_CHECK(net != NULL, "%s: building the net", what)) {
        T_OK(net, cnn_net_forward(net, x, 1));
        T_CHECK(count_differences(cnn_net_output(net), x, DROP_N) == 0, "%s: y != x", what);
        memcpy(cnn_net_output_grad(net), dy, DROP_N * sizeof(float));
        T_OK(net, cnn_net_backward(net));
        T_CHECK(count_differences(cnn_net_input_grad(net, 0), dy, DROP_N) == 0, "%s: dx != dy",
                what);
    }
    cnn_net_free(net);
    free(x);
    free(dy);
}

static void test_dropout(void) {
    printf("dropout\n");
    test_dropout_training();
    check_identity("dropout in evaluation", "0.3", 0);
    check_identity("dropout p=0 in training", "0", 1);
    check_spec_fails("input x - shape=10; dropout d - p=1", CNN_STATUS_INVALID_ARGUMENT,
                     (const char *const[]){"dropout 'd'", "p must be", NULL});
    check_spec_fails("input x - shape=10; dropout d - p=-0.1", CNN_STATUS_INVALID_ARGUMENT,
                     (const char *const[]){"dropout 'd'", "p must be", NULL});
}

/* ---------------------------------------------------------------------------------------------
 * Batch normalisation
 * ------------------------------------------------------------------------------------------- */

/* Per channel of x (N, C, P): mean, biased and unbiased variance, in double. */
static void channel_stats(const float *x, int N, int C, size_t P, int ch, double *mean,
                          double *var, double *unbiased) {
    double s = 0.0, ss = 0.0;
    size_t M = (size_t)N * P;
    for (int i = 0; i < N; i++)
        for (size_t k = 0; k < P; k++) s += x[((size_t)i * C + ch) * P + k];
    *mean = s / (double)M;
    for (int i = 0; i < N; i++)
        for (size_t k = 0; k < P; k++) {
            double d = x[((size_t)i * C + ch) * P + k] - *mean;
            ss += d * d;
        }
    *var = ss / (double)M;
    *unbiased = M > 1 ? ss / (double)(M - 1) : *var;
}

/* One batchnorm layer on inputs of the given shape: a training pass from running statistics
 * that are not the defaults, then an evaluation pass with a learned scale and shift. */
static void check_batchnorm(const char *shape, int batch, double momentum) {
    char spec[160];
    snprintf(spec, sizeof spec, "input x - shape=%s; batchnorm bn - momentum=%g", shape,
             momentum);
    printf("batchnorm %s, batch %d, momentum %g\n", shape, batch, momentum);
    cnn_net *net = t_net(spec, 3);
    if (!T_CHECK(net != NULL, "building '%s'", spec)) return;
    cnn_shape s = cnn_net_input_shape(net, 0);
    int C = s.dim[0];
    size_t P = cnn_shape_numel(&s) / (size_t)C, n = (size_t)batch * C * P;
    const double eps = (float)1e-5;
    T_CHECK(cnn_net_state_count(net) == 2 * (size_t)C, "state count %zu, expected %d",
            cnn_net_state_count(net), 2 * C);
    T_CHECK(cnn_net_param_count(net) == 2 * (size_t)C, "param count %zu, expected %d",
            cnn_net_param_count(net), 2 * C);

    /* Channels with different means and spreads. */
    float *x = malloc(n * sizeof(float));
    t_fill(x, n, 31, -1.0f, 1.0f);
    for (int i = 0; i < batch; i++)
        for (int ch = 0; ch < C; ch++)
            for (size_t k = 0; k < P; k++) {
                float *v = &x[((size_t)i * C + ch) * P + k];
                *v = *v * (0.5f + ch) + 2.0f * ch - 1.5f;
            }
    float *state = cnn_net_state(net);
    float *rm0 = malloc((size_t)C * sizeof(float)), *rv0 = malloc((size_t)C * sizeof(float));
    for (int ch = 0; ch < C; ch++) {
        T_CHECK(state[ch] == 0.0f && state[C + ch] == 1.0f,
                "channel %d: initial running stats %g, %g, expected 0, 1", ch,
                (double)state[ch], (double)state[C + ch]);
        rm0[ch] = state[ch] = 0.25f * ch - 0.5f;
        rv0[ch] = state[C + ch] = 0.5f + 0.75f * ch;
    }

    /* Training: normalised output and updated running statistics. */
    cnn_net_set_training(net, 1);
    if (!T_OK(net, cnn_net_prepare(net, batch)) || !T_OK(net, cnn_net_forward(net, x, batch)))
        goto out;
    const float *y = cnn_net_output(net);
    float *want_rs = malloc(2 * (size_t)C * sizeof(float));
    for (int ch = 0; ch < C; ch++) {
        double mean, var, unbiased, ym, yv, yu;
        channel_stats(x, batch, C, P, ch, &mean, &var, &unbiased);
        want_rs[ch] = (float)(momentum * mean + (1.0 - momentum) * rm0[ch]);
        want_rs[C + ch] = (float)(momentum * unbiased + (1.0 - momentum) * rv0[ch]);
        channel_stats(y, batch, C, P, ch, &ym, &yv, &yu);
        double want_var = var / (var + eps);
        T_CHECK(fabs(ym) < 1e-5, "channel %d: training output mean %.3g, expected 0", ch, ym);
        T_CHECK(fabs(yv - want_var) < 1e-4 && fabs(yv - 1.0) < 1e-3,
                "channel %d: training output variance %.6g, expected %.6g", ch, yv, want_var);
    }
    t_close("running mean and variance after training", state, want_rs, 2 * (size_t)C, 1e-6,
            1e-5);

    /* Evaluation: the running statistics, with a learned scale and shift. */
    float *w = cnn_net_params(net);
    for (int ch = 0; ch < C; ch++) {
        w[ch] = 1.5f - 0.75f * ch;
        w[C + ch] = 0.1f * ch - 0.2f;
    }
    memcpy(want_rs, state, 2 * (size_t)C * sizeof(float));
    cnn_net_set_training(net, 0);
    T_OK(net, cnn_net_forward(net, x, batch));
    float *want_y = malloc(n * sizeof(float));
    for (int i = 0; i < batch; i++)
        for (int ch = 0; ch < C; ch++)
            for (size_t k = 0; k < P; k++) {
                size_t j = ((size_t)i * C + ch) * P + k;
                want_y[j] = (float)(w[ch] * (x[j] - (double)state[ch]) /
                                        sqrt((double)state[C + ch] + eps) +
                                    w[C + ch]);
            }
    t_close("evaluation output from the running statistics", cnn_net_output(net), want_y, n,
            1e-5, 1e-5);
    T_CHECK(count_differences(state, want_rs, 2 * (size_t)C) == 0,
            "evaluation changed the running statistics");
    free(want_y);
    free(want_rs);
out:
    free(x);
    free(rm0);
    free(rv0);
    cnn_net_free(net);
}

/* One value per channel in training (a batch of 1 of flat features): PyTorch refuses it; here
 * the output is beta, the gradient 0, and the running variance decays with the biased (zero)
 * variance instead of becoming NaN. */
static void check_batchnorm_single(void) {
    printf("batchnorm with one value per channel\n");
    cnn_net *net = t_net("input x - shape=3; batchnorm bn -", 4);
    if (!T_CHECK(net != NULL, "building the net")) return;
    cnn_net_set_training(net, 1);
    const float x[3] = {0.5f, -2.0f, 7.0f};
    const float dy[3] = {1.0f, -1.0f, 0.5f};
    float *w = cnn_net_params(net);
    w[3] = 0.25f;
    w[4] = -0.5f;
    w[5] = 1.0f;
    if (T_OK(net, cnn_net_prepare(net, 1)) && T_OK(net, cnn_net_forward(net, x, 1))) {
        const float *y = cnn_net_output(net), *state = cnn_net_state(net);
        for (int ch = 0; ch < 3; ch++) {
            T_CHECK(y[ch] == w[3 + ch], "channel %d: output %g, expected beta %g", ch,
                    (double)y[ch], (double)w[3 + ch]);
            T_CHECK(fabsf(state[ch] - 0.1f * x[ch]) < 1e-6f, "channel %d: running mean %g", ch,
                    (double)state[ch]);
            T_CHECK(fabsf(state[3 + ch] - 0.9f) < 1e-6f,
                    "channel %d: running variance %g, expected 0.9", ch, (double)state[3 + ch]);
        }
        memcpy(cnn_net_output_grad(net), dy, sizeof dy);
        if (T_OK(net, cnn_net_backward(net))) {
            const float *dx = cnn_net_input_grad(net, 0);
            for (int ch = 0; ch < 3; ch++)
                T_CHECK(dx[ch] == 0.0f && isfinite(dx[ch]), "channel %d: dx %g, expected 0", ch,
                        (double)dx[ch]);
        }
    }
    cnn_net_free(net);
}

static void test_batchnorm(void) {
    check_batchnorm("3x4x5", 4, 0.1);
    check_batchnorm("2x7", 3, 0.25);
    check_batchnorm("4", 5, 0.1);
    check_batchnorm_single();
    check_spec_fails("input x - shape=3x4x4; batchnorm bn - eps=0", CNN_STATUS_INVALID_ARGUMENT,
                     (const char *const[]){"batchnorm 'bn'", "eps", NULL});
    check_spec_fails("input x - shape=3x4x4; batchnorm bn - momentum=1.5",
                     CNN_STATUS_INVALID_ARGUMENT,
                     (const char *const[]){"batchnorm 'bn'", "momentum", NULL});
    cnn_net *net = t_net("input x - shape=3x4x4; batchnorm bn - affine=0", 1);
    if (T_CHECK(net != NULL, "building batchnorm affine=0")) {
        T_CHECK(cnn_net_param_count(net) == 0 && cnn_net_state_count(net) == 6,
                "affine=0: %zu parameters and %zu state, expected 0 and 6",
                cnn_net_param_count(net), cnn_net_state_count(net));
        cnn_net_free(net);
    }
}

/* ---------------------------------------------------------------------------------------------
 * add, concat, upsample
 * ------------------------------------------------------------------------------------------- */

/* Runs spec (whose inputs are filled with 1, 2, 3, ... across all inputs, in order) for one
 * sample and compares the output with want. */
static void check_output(const char *spec, const float *want, size_t n) {
    cnn_net *net = t_net(spec, 1);
    if (!T_CHECK(net != NULL, "building '%s'", spec)) return;
    float *xs[8];
    const float *cx[8];
    int k = cnn_net_input_count(net);
    float v = 1.0f;
    for (int i = 0; i < k; i++) {
        cnn_shape s = cnn_net_input_shape(net, i);
        size_t len = cnn_shape_numel(&s);
        xs[i] = malloc(len * sizeof(float));
        for (size_t j = 0; j < len; j++) xs[i][j] = v++;
        cx[i] = xs[i];
    }
    cnn_shape os = cnn_net_output_shape(net);
    if (T_CHECK(cnn_shape_numel(&os) == n, "'%s': output has %zu elements, expected %zu", spec,
                cnn_shape_numel(&os), n) &&
        T_OK(net, cnn_net_prepare(net, 1)) && T_OK(net, cnn_net_forward_multi(net, cx, k, 1)))
        t_close(spec, cnn_net_output(net), want, n, 0.0, 0.0);
    for (int i = 0; i < k; i++) free(xs[i]);
    cnn_net_free(net);
}

static void test_merge_and_upsample(void) {
    printf("add, concat, upsample\n");
    /* a = 1..4, b = 5..8, c = 9..12 */
    check_output("input a - shape=1x2x2; input b - shape=1x2x2; input c - shape=1x2x2; "
                 "add s a,b,c",
                 (const float[]){15, 18, 21, 24}, 4);
    /* a (1, 2) = 1 2; b (2, 2) = 3 4 / 5 6 */
    check_output("input a - shape=1x2; input b - shape=2x2; concat s a,b",
                 (const float[]){1, 2, 3, 4, 5, 6}, 6);
    check_output("input a - shape=2x1x1; input b - shape=1x1x1; concat s b,a",
                 (const float[]){3, 1, 2}, 3);
    check_output("input x - shape=1x2x2; upsample u - scale=2x3",
                 (const float[]){1, 1, 1, 2, 2, 2, 1, 1, 1, 2, 2, 2,
                                 3, 3, 3, 4, 4, 4, 3, 3, 3, 4, 4, 4},
                 24);
    check_output("input x - shape=2x2; upsample u - scale=1x2",
                 (const float[]){1, 1, 2, 2, 3, 3, 4, 4}, 8);

    check_spec_fails("input a - shape=2x3x3; input b - shape=3x3x3; add sum a,b",
                     CNN_STATUS_SHAPE,
                     (const char *const[]){"add 'sum'", "'a' 2x3x3", "'b' 3x3x3", NULL});
    check_spec_fails("input a - shape=2x3x3; input b - shape=2x3x3; input c - shape=2x3; "
                     "add sum a,b,c",
                     CNN_STATUS_SHAPE, (const char *const[]){"add 'sum'", "'c' 2x3", NULL});
    check_spec_fails("input a - shape=2x3x3; add sum a", CNN_STATUS_INVALID_ARGUMENT,
                     (const char *const[]){"add 'sum'", NULL});
    check_spec_fails("input a - shape=2x4x4; input b - shape=3x5x5; concat cat a,b",
                     CNN_STATUS_SHAPE,
                     (const char *const[]){"concat 'cat'", "'a' 2x4x4", "'b' 3x5x5", NULL});
    check_spec_fails("input a - shape=2x4; input b - shape=2x4x4; concat cat a,b",
                     CNN_STATUS_SHAPE,
                     (const char *const[]){"concat 'cat'", "'a' 2x4", "'b' 2x4x4", "rank",
                                           NULL});
    check_spec_fails("input a - shape=2x4; input b - shape=3x4; input c - shape=1x5; "
                     "concat cat a,b,c",
                     CNN_STATUS_SHAPE,
                     (const char *const[]){"concat 'cat'", "'c' 1x5", NULL});
    check_spec_fails("input x - shape=8; upsample up - scale=2", CNN_STATUS_SHAPE,
                     (const char *const[]){"upsample 'up'", "8", "'x'", NULL});
    check_spec_fails("input x - shape=2x4x4; upsample up - scale=0", CNN_STATUS_INVALID_ARGUMENT,
                     (const char *const[]){"upsample 'up'", "scale", NULL});
    check_spec_fails("input x - shape=2x4; upsample up - scale=2x3", CNN_STATUS_INVALID_ARGUMENT,
                     (const char *const[]){"upsample 'up'", "2x4", NULL});
    check_spec_fails("input x - shape=2x4; upsample up - scale=3; add a x,up", CNN_STATUS_SHAPE,
                     (const char *const[]){"add 'a'", "'x' 2x4", "'up' 2x12", NULL});
}

int main(void) {
    test_dropout();
    test_batchnorm();
    test_merge_and_upsample();
    return t_finish();
}

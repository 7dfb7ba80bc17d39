/*
 * test_loss_params.c - three API pieces an importer of PyTorch or ONNX models needs, against
 * PyTorch (the fixtures in tests/ref/api/, written by tests/ref/make_loss_fixtures.py):
 *
 *   - cross-entropy with a reduction, class weights, label smoothing and an ignored label
 *     (cnn_loss_cross_entropy_ex): losses and gradients against F.cross_entropy for every
 *     combination of reduction, weights and smoothing, per sample and per pixel; finite
 *     differences; the errors; and the older functions, now wrappers, bit for bit as the
 *     implementation they replaced (kept below as the reference);
 *   - batch normalisation's batch statistics (cnn_net_batchnorm_stats) against the mean and
 *     biased variance F.batch_norm normalises with in training, and the documented update of
 *     the running statistics;
 *   - parameters and state as named tensors (cnn_net_param_tensor, cnn_net_find_param): every
 *     state_dict key of PyTorch models built with the same names (LeNet-5, ResNet-20, and
 *     torchvision's ResNet-18 and DenseNet-121 from the zoo; small networks of every layer
 *     type with parameters) is found with its role and shape, in state_dict order, and the
 *     tensors tile the flat buffers.
 *
 * The fixture directory is tests/ref/api (run from the repository root) or $CNN_REF_DIR/api.
 */
#include "testlib.h"

#include <dirent.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define ATOL 1e-5
#define RTOL 1e-4

static char g_dir[4096];

/* ---------------------------------------------------------------------------------------------
 * The cross-entropy as it was before cnn_loss_cross_entropy_ex (src/loss.c at the commit that
 * added it), verbatim: the wrappers must give its bits.
 * ------------------------------------------------------------------------------------------- */

static cnn_status old_ce_smoothed(const float *logits, const int32_t *labels, int count,
                                  int classes, int pixels, float smoothing, float *loss,
                                  float *grad) {
    if (count < 1 || classes < 1 || pixels < 1) return CNN_STATUS_SHAPE;
    if (!(smoothing >= 0.0f && smoothing < 1.0f)) return CNN_STATUS_INVALID_ARGUMENT;
    double off = (double)smoothing / classes, on = 1.0 - smoothing + off;
    for (size_t i = 0; i < (size_t)count * (size_t)pixels; i++)
        if (labels[i] < 0 || labels[i] >= classes) return CNN_STATUS_INVALID_ARGUMENT;
    double total = 0.0;
    double scale = 1.0 / ((double)count * pixels);
    for (int n = 0; n < count; n++) {
        const float *z = logits + (size_t)n * classes * pixels;
        float *g = grad ? grad + (size_t)n * classes * pixels : NULL;
        for (int p = 0; p < pixels; p++) {
            float m = z[p];
            for (int k = 1; k < classes; k++)
                if (z[(size_t)k * pixels + p] > m) m = z[(size_t)k * pixels + p];
            double sum = 0.0;
            for (int k = 0; k < classes; k++) sum += exp((double)z[(size_t)k * pixels + p] - m);
            int label = labels[(size_t)n * pixels + p];
            double lse = log(sum) + m;
            if (smoothing == 0.0f) {
                total += lse - z[(size_t)label * pixels + p];
            } else {
                double zq = 0.0;
                for (int k = 0; k < classes; k++)
                    zq += (k == label ? on : off) * z[(size_t)k * pixels + p];
                total += lse - zq;
            }
            if (g)
                for (int k = 0; k < classes; k++) {
                    double sm = exp((double)z[(size_t)k * pixels + p] - lse);
                    double q = smoothing == 0.0f ? (double)(k == label) : (k == label ? on : off);
                    g[(size_t)k * pixels + p] = (float)((sm - q) * scale);
                }
        }
    }
    *loss = (float)(total * scale);
    return isfinite(*loss) ? CNN_STATUS_OK : CNN_STATUS_NUMERIC;
}

static void random_labels(int32_t *y, size_t n, int classes, uint64_t seed) {
    float *u = malloc(n * sizeof *u);
    t_fill(u, n, seed, 0.0f, (float)classes);
    for (size_t i = 0; i < n; i++) y[i] = (int32_t)u[i] < classes ? (int32_t)u[i] : classes - 1;
    free(u);
}

static void test_wrappers_bit_identical(void) {
    static const struct { int count, classes, pixels; } shapes[] = {
        {1, 1, 1}, {7, 10, 1}, {3, 4, 6}, {2, 5, 13}, {64, 10, 1}};
    static const float smoothings[] = {0.0f, 0.1f, 0.05f, 0.3333f, 0.9f};
    int cases = 0;
    for (size_t si = 0; si < sizeof shapes / sizeof shapes[0]; si++) {
        int N = shapes[si].count, K = shapes[si].classes, P = shapes[si].pixels;
        size_t nz = (size_t)N * K * P, ny = (size_t)N * P;
        float *z = malloc(nz * sizeof *z), *g0 = malloc(nz * sizeof *g0);
        float *g1 = malloc(nz * sizeof *g1);
        int32_t *y = malloc(ny * sizeof *y);
        t_fill(z, nz, 100 + si, -6.0f, 6.0f);
        z[0] = 85.0f; /* one confident logit, far from the others */
        if (nz > 3) z[nz - 2] = -90.0f;
        random_labels(y, ny, K, 200 + si);
        for (size_t k = 0; k < sizeof smoothings / sizeof smoothings[0]; k++) {
            float s = smoothings[k], l0 = 0.0f, l1 = 0.0f;
            cnn_status st0 = old_ce_smoothed(z, y, N, K, P, s, &l0, g0);
            cnn_status st1 = cnn_loss_cross_entropy_smoothed(z, y, N, K, P, s, &l1, g1);
            T_CHECK(st0 == st1, "status %d vs %d", (int)st1, (int)st0);
            t_same_bits("smoothed: loss", &l1, &l0, 1);
            t_same_bits("smoothed: grad", g1, g0, nz);
            /* The general function with the same options, and with none. */
            cnn_ce_options o = {.smoothing = s};
            T_OK(NULL, cnn_loss_cross_entropy_ex(z, y, N, K, P, &o, &l1, g1));
            t_same_bits("ex: loss", &l1, &l0, 1);
            t_same_bits("ex: grad", g1, g0, nz);
            if (s == 0.0f) {
                T_OK(NULL, cnn_loss_cross_entropy(z, y, N, K, P, &l1, g1));
                t_same_bits("plain: loss", &l1, &l0, 1);
                t_same_bits("plain: grad", g1, g0, nz);
                T_OK(NULL, cnn_loss_cross_entropy_ex(z, y, N, K, P, NULL, &l1, NULL));
                t_same_bits("ex NULL options: loss", &l1, &l0, 1);
            }
            cases++;
        }
        free(z), free(g0), free(g1), free(y);
    }
    printf("  ok wrappers bit-identical to the former implementation (%d cases)\n", cases);
}

/* ---------------------------------------------------------------------------------------------
 * Cross-entropy against PyTorch
 * ------------------------------------------------------------------------------------------- */

static int parse_reduction(const char *s, cnn_reduction *r) {
    if (!s) return 0;
    if (!strcmp(s, "mean")) *r = CNN_REDUCTION_MEAN;
    else if (!strcmp(s, "sum")) *r = CNN_REDUCTION_SUM;
    else if (!strcmp(s, "none")) *r = CNN_REDUCTION_NONE;
    else return 0;
    return 1;
}

static void run_ce_fixture(const char *file, const t_fixture *fx) {
    const t_tensor *z = t_fixture_get(fx, "logits"), *y = t_fixture_get(fx, "labels");
    const t_tensor *want_loss = t_fixture_get(fx, "loss"), *want_grad = t_fixture_get(fx, "grad");
    const t_tensor *w = t_fixture_get(fx, "weights"), *ign = t_fixture_get(fx, "ignore_index");
    const float *s = t_fixture_f32(fx, "smoothing", NULL);
    cnn_ce_options o = {0};
    if (!T_CHECK(z && y && want_loss && want_grad && s && z->ndim >= 2 && y->kind == 1 &&
                     parse_reduction(t_fixture_str(fx, "reduction"), &o.reduction),
                 "%s: missing or malformed records", file))
        return;
    int N = z->dims[0], K = z->dims[1];
    int P = (int)(z->count / ((size_t)N * K));
    size_t nloss = o.reduction == CNN_REDUCTION_NONE ? (size_t)N * P : 1;
    if (!T_CHECK(y->count == (size_t)N * P && want_grad->count == z->count &&
                     want_loss->count == nloss && (!w || w->count == (size_t)K),
                 "%s: inconsistent sizes", file))
        return;
    o.smoothing = s[0];
    o.weights = w ? w->data : NULL;
    if (ign) {
        o.ignore = 1;
        o.ignore_index = *(const int32_t *)ign->data;
    }
    float *loss = calloc(nloss, sizeof *loss), *grad = calloc(z->count, sizeof *grad);
    cnn_status st = cnn_loss_cross_entropy_ex(z->data, y->data, N, K, P, &o, loss, grad);
    char what[256];
    if (T_OK(NULL, st)) {
        snprintf(what, sizeof what, "%s: loss", file);
        t_close(what, loss, want_loss->data, nloss, ATOL, RTOL);
        snprintf(what, sizeof what, "%s: grad", file);
        t_close(what, grad, want_grad->data, z->count, ATOL, RTOL);
    }
    /* Without grad the loss is the same. */
    float *loss2 = calloc(nloss, sizeof *loss2);
    T_OK(NULL, cnn_loss_cross_entropy_ex(z->data, y->data, N, K, P, &o, loss2, NULL));
    snprintf(what, sizeof what, "%s: loss without grad", file);
    t_same_bits(what, loss2, loss, nloss);
    free(loss), free(loss2), free(grad);
}

/* ---------------------------------------------------------------------------------------------
 * Finite differences: d (loss, or the sum of the losses for none) / d logits, in double.
 * ------------------------------------------------------------------------------------------- */

static double ce_value(const float *z, const int32_t *y, int N, int K, int P,
                       const cnn_ce_options *o, float *buf) {
    cnn_status st = cnn_loss_cross_entropy_ex(z, y, N, K, P, o, buf, NULL);
    T_CHECK(st == CNN_STATUS_OK, "loss in finite differences: %s", cnn_status_str(st));
    size_t n = o->reduction == CNN_REDUCTION_NONE ? (size_t)N * P : 1;
    double total = 0.0;
    for (size_t i = 0; i < n; i++) total += buf[i];
    return total;
}

static void test_finite_differences(void) {
    const int N = 3, K = 4, P = 2; /* per pixel; the classification cases use P = 1 */
    const float weights[4] = {0.5f, 1.75f, 1.0f, 0.25f};
    int cases = 0;
    for (int pix = 0; pix < 2; pix++)
        for (int red = 0; red < 3; red++)
            for (int wi = 0; wi < 2; wi++)
                for (int si = 0; si < 2; si++)
                    for (int ig = 0; ig < 2; ig++) {
                        int p = pix ? P : 1;
                        size_t nz = (size_t)N * K * p, ny = (size_t)N * p;
                        float z[24], g[24], buf[6];
                        int32_t y[6];
                        t_fill(z, nz, 7 + cases, -2.0f, 2.0f);
                        random_labels(y, ny, K, 17 + cases);
                        cnn_ce_options o = {.reduction = (cnn_reduction)red,
                                            .weights = wi ? weights : NULL,
                                            .smoothing = si ? 0.25f : 0.0f,
                                            .ignore = ig, .ignore_index = 2};
                        if (ig) y[1] = 2; /* at least one ignored element */
                        if (!T_OK(NULL, cnn_loss_cross_entropy_ex(z, y, N, K, p, &o, buf, g)))
                            continue;
                        double worst = 0.0;
                        for (size_t i = 0; i < nz; i++) {
                            const float h = 1e-2f, zi = z[i];
                            z[i] = zi + h;
                            double up = ce_value(z, y, N, K, p, &o, buf);
                            z[i] = zi - h;
                            double down = ce_value(z, y, N, K, p, &o, buf);
                            z[i] = zi;
                            double fd = (up - down) / ((double)(zi + h) - (double)(zi - h));
                            double d = fabs(fd - g[i]);
                            if (d > worst) worst = d;
                        }
                        T_CHECK(worst < 1e-3, "finite differences (pixels %d, reduction %d, "
                                "weights %d, smoothing %d, ignore %d): max |diff| %.3g",
                                p, red, wi, si, ig, worst);
                        cases++;
                    }
    printf("  ok finite differences, %d cases\n", cases);
}

/* ---------------------------------------------------------------------------------------------
 * Cross-entropy: edge cases and errors
 * ------------------------------------------------------------------------------------------- */

static void test_ce_errors(void) {
    float z[6] = {0.5f, -1.0f, 2.0f, 0.0f, 1.0f, -0.5f}, g[6], loss[2];
    int32_t y[2] = {2, 0};
    const float w[3] = {1.0f, 2.0f, 0.5f};
    cnn_ce_options o = {0};
    const cnn_status A = CNN_STATUS_INVALID_ARGUMENT;

    int32_t bad[2] = {3, 0};
    T_CHECK(cnn_loss_cross_entropy_ex(z, bad, 2, 3, 1, &o, loss, g) == A, "label 3 of 3");
    bad[0] = -100;
    T_CHECK(cnn_loss_cross_entropy_ex(z, bad, 2, 3, 1, &o, loss, g) == A,
            "-100 without ignore is a bad label");
    o.ignore = 1;
    o.ignore_index = -100;
    T_OK(NULL, cnn_loss_cross_entropy_ex(z, bad, 2, 3, 1, &o, loss, g));
    float want = 0.0f;
    cnn_loss_cross_entropy(z + 3, y + 1, 1, 3, 1, &want, NULL);
    T_CHECK(fabsf(loss[0] - want) < 1e-6f, "ignored element left out of the mean: %g vs %g",
            (double)loss[0], (double)want);
    T_CHECK(g[0] == 0.0f && g[1] == 0.0f && g[2] == 0.0f, "ignored element has no gradient");

    o = (cnn_ce_options){.smoothing = 1.0f};
    T_CHECK(cnn_loss_cross_entropy_ex(z, y, 2, 3, 1, &o, loss, g) == A, "smoothing 1");
    o = (cnn_ce_options){.smoothing = -0.1f};
    T_CHECK(cnn_loss_cross_entropy_ex(z, y, 2, 3, 1, &o, loss, g) == A, "smoothing < 0");
    o = (cnn_ce_options){.smoothing = NAN};
    T_CHECK(cnn_loss_cross_entropy_ex(z, y, 2, 3, 1, &o, loss, g) == A, "smoothing NaN");
    o = (cnn_ce_options){.reduction = (cnn_reduction)7};
    T_CHECK(cnn_loss_cross_entropy_ex(z, y, 2, 3, 1, &o, loss, g) == A, "unknown reduction");
    float wnan[3] = {1.0f, NAN, 1.0f};
    o = (cnn_ce_options){.weights = wnan};
    T_CHECK(cnn_loss_cross_entropy_ex(z, y, 2, 3, 1, &o, loss, g) == A, "NaN weight");
    T_CHECK(cnn_loss_cross_entropy_ex(z, y, 0, 3, 1, NULL, loss, g) == CNN_STATUS_SHAPE,
            "no samples");

    /* The mean over nothing is NaN, as in PyTorch; the sum is 0 and none gives zeros. */
    int32_t all[2] = {-100, -100};
    o = (cnn_ce_options){.ignore = 1, .ignore_index = -100};
    T_CHECK(cnn_loss_cross_entropy_ex(z, all, 2, 3, 1, &o, loss, g) == CNN_STATUS_NUMERIC &&
                isnan(loss[0]),
            "mean over no element: NaN, CNN_STATUS_NUMERIC");
    int zero = 1;
    for (int i = 0; i < 6; i++) zero &= g[i] == 0.0f;
    T_CHECK(zero, "every element ignored: gradient 0");
    o.reduction = CNN_REDUCTION_SUM;
    T_CHECK(cnn_loss_cross_entropy_ex(z, all, 2, 3, 1, &o, loss, g) == CNN_STATUS_OK &&
                loss[0] == 0.0f,
            "sum over no element: 0");
    o.reduction = CNN_REDUCTION_NONE;
    loss[0] = loss[1] = 1.0f;
    T_CHECK(cnn_loss_cross_entropy_ex(z, all, 2, 3, 1, &o, loss, g) == CNN_STATUS_OK &&
                loss[0] == 0.0f && loss[1] == 0.0f,
            "none: ignored elements have loss 0");
    float wz[3] = {0.0f, 1.0f, 0.0f};
    o = (cnn_ce_options){.weights = wz};
    T_CHECK(cnn_loss_cross_entropy_ex(z, y, 2, 3, 1, &o, loss, g) == CNN_STATUS_NUMERIC,
            "target weights summing to 0: NaN");

    /* Weights of 1 are no weights; sum is count times mean; none sums to sum. */
    const float ones[3] = {1.0f, 1.0f, 1.0f};
    float lm, lw, ls, ln[2], gm[6], gw[6];
    o = (cnn_ce_options){.smoothing = 0.2f};
    cnn_loss_cross_entropy_ex(z, y, 2, 3, 1, &o, &lm, gm);
    o.weights = ones;
    cnn_loss_cross_entropy_ex(z, y, 2, 3, 1, &o, &lw, gw);
    t_close("weights of 1: loss", &lw, &lm, 1, 1e-6, 1e-6);
    t_close("weights of 1: grad", gw, gm, 6, 1e-6, 1e-6);
    o.weights = w;
    o.reduction = CNN_REDUCTION_SUM;
    cnn_loss_cross_entropy_ex(z, y, 2, 3, 1, &o, &ls, NULL);
    o.reduction = CNN_REDUCTION_NONE;
    cnn_loss_cross_entropy_ex(z, y, 2, 3, 1, &o, ln, NULL);
    float sum_none = ln[0] + ln[1];
    t_close("sum of none is sum", &sum_none, &ls, 1, 1e-6, 1e-6);
    o.reduction = CNN_REDUCTION_MEAN;
    cnn_loss_cross_entropy_ex(z, y, 2, 3, 1, &o, &lm, NULL);
    float weighted_mean = ls / (w[y[0]] + w[y[1]]);
    t_close("mean is sum / sum of target weights", &lm, &weighted_mean, 1, 1e-6, 1e-6);
}

/* ---------------------------------------------------------------------------------------------
 * Batch statistics
 * ------------------------------------------------------------------------------------------- */

static void run_bn_fixture(const char *file, const t_fixture *fx) {
    const char *spec = t_fixture_str(fx, "spec");
    const t_tensor *bt = t_fixture_get(fx, "batch");
    size_t nx = 0, nw = 0, ns = 0, nm = 0, nv = 0, ny = 0, nsa = 0;
    const float *x = t_fixture_f32(fx, "x", &nx), *w = t_fixture_f32(fx, "w", &nw);
    const float *s = t_fixture_f32(fx, "state", &ns), *mean = t_fixture_f32(fx, "mean", &nm);
    const float *var = t_fixture_f32(fx, "var", &nv), *y = t_fixture_f32(fx, "y", &ny);
    const float *state_after = t_fixture_f32(fx, "state_after", &nsa);
    if (!T_CHECK(spec && bt && x && w && s && mean && var && y && state_after,
                 "%s: missing records", file))
        return;
    int batch = *(const int32_t *)bt->data, C = (int)nm;
    cnn_net *net = t_net(spec, 1);
    if (!T_CHECK(net != NULL, "%s: spec does not build", file)) return;
    int bn = cnn_net_find(net, "bn");
    char what[256];
    cnn_param_tensor tw, tb, trm, trv;
    T_OK(net, cnn_net_find_param(net, "bn.weight", &tw));
    T_OK(net, cnn_net_find_param(net, "bn.bias", &tb));
    T_OK(net, cnn_net_find_param(net, "bn.running_mean", &trm));
    T_OK(net, cnn_net_find_param(net, "bn.running_var", &trv));
    if (!T_CHECK(nw == 2 * (size_t)C && ns == 2 * (size_t)C && nv == (size_t)C &&
                     tw.count == (size_t)C && trv.count == (size_t)C,
                 "%s: sizes", file))
        goto out;
    /* Parameters and state set through the named tensors. */
    memcpy(tw.data, w, C * sizeof *w);
    memcpy(tb.data, w + C, C * sizeof *w);
    memcpy(trm.data, s, C * sizeof *s);
    memcpy(trv.data, s + C, C * sizeof *s);

    T_OK(net, cnn_net_prepare(net, batch));
    float *m = calloc(C, sizeof *m), *v = calloc(C, sizeof *v);
    T_CHECK(cnn_net_batchnorm_stats(net, bn, m, v) == CNN_STATUS_STATE,
            "%s: statistics before a training pass", file);
    T_CHECK(strstr(cnn_net_last_error(net), "training") != NULL, "message: %s",
            cnn_net_last_error(net));
    cnn_net_set_training(net, 1);
    T_OK(net, cnn_net_forward(net, x, batch));
    if (T_OK(net, cnn_net_batchnorm_stats(net, bn, m, v))) {
        snprintf(what, sizeof what, "%s: batch mean", file);
        t_close(what, m, mean, C, ATOL, RTOL);
        snprintf(what, sizeof what, "%s: batch variance (biased)", file);
        t_close(what, v, var, C, ATOL, RTOL);
    }
    snprintf(what, sizeof what, "%s: y", file);
    t_close(what, cnn_net_output(net), y, ny, ATOL, RTOL);
    snprintf(what, sizeof what, "%s: running_mean", file);
    t_close(what, trm.data, state_after, C, ATOL, RTOL);
    snprintf(what, sizeof what, "%s: running_var", file);
    t_close(what, trv.data, state_after + C, C, ATOL, RTOL);

    /* The running variance takes the unbiased variance, as cnn.h says: (1 - m) rv + m var M /
     * (M - 1), from the statistics read here. */
    double momentum = 0.1;
    char args[256];
    cnn_net_layer_args(net, bn, args, sizeof args);
    const char *mo = strstr(args, "momentum=");
    if (mo) momentum = strtod(mo + 9, NULL);
    double M = (double)nx / C;
    float *rv = malloc(C * sizeof *rv);
    for (int c = 0; c < C; c++)
        rv[c] = (float)((1 - momentum) * s[C + c] + momentum * v[c] * M / (M - 1));
    snprintf(what, sizeof what, "%s: running_var from the documented rule", file);
    t_close(what, rv, state_after + C, C, ATOL, RTOL);
    free(rv);

    /* An evaluation pass on other data leaves the statistics of the training pass. */
    float *m2 = calloc(C, sizeof *m2), *v2 = calloc(C, sizeof *v2);
    float *x2 = malloc(nx * sizeof *x2);
    t_fill(x2, nx, 99, -3.0f, 3.0f);
    cnn_net_set_training(net, 0);
    T_OK(net, cnn_net_forward(net, x2, batch));
    T_OK(net, cnn_net_batchnorm_stats(net, bn, m2, v2));
    snprintf(what, sizeof what, "%s: stats kept over an eval pass", file);
    t_same_bits(what, m2, m, C);
    t_same_bits(what, v2, v, C);
    T_OK(net, cnn_net_batchnorm_stats(net, bn, NULL, v2)); /* either may be NULL */

    /* Errors: not a batchnorm layer, out of range; a new prepare forgets them. */
    T_CHECK(cnn_net_batchnorm_stats(net, 0, m, v) == CNN_STATUS_INVALID_ARGUMENT &&
                strstr(cnn_net_last_error(net), "not batchnorm"),
            "%s: stats of the input layer: %s", file, cnn_net_last_error(net));
    T_CHECK(cnn_net_batchnorm_stats(net, 99, m, v) == CNN_STATUS_INVALID_ARGUMENT,
            "layer out of range");
    T_OK(net, cnn_net_prepare(net, batch + 1));
    T_CHECK(cnn_net_batchnorm_stats(net, bn, m, v) == CNN_STATUS_STATE,
            "%s: a new prepare forgets the statistics", file);
    free(m), free(v), free(m2), free(v2), free(x2);
out:
    cnn_net_free(net);
}

/* ---------------------------------------------------------------------------------------------
 * Named tensors against state_dict
 * ------------------------------------------------------------------------------------------- */

static int ends_with(const char *s, const char *suffix) {
    size_t a = strlen(s), b = strlen(suffix);
    return a >= b && strcmp(s + a - b, suffix) == 0;
}

static void shape_str(const int *dims, int rank, char *buf, size_t size) {
    size_t used = 0;
    buf[0] = '\0';
    for (int d = 0; d < rank && used < size; d++)
        used += (size_t)snprintf(buf + used, size - used, "%s%d", d ? "x" : "", dims[d]);
}

/* Walks every layer's tensors in order: their names must be the state_dict keys in order
 * (num_batches_tracked left out), and the tensors of each role must tile its buffer. */
static void check_walk(const char *file, cnn_net *net, char **keys, int n_keys) {
    size_t at[2] = {0, 0};
    int k = 0, order_ok = 1, tile_ok = 1;
    const float *grads = cnn_net_grads(net); /* made now: then the tensors point into them */
    for (int l = 0; l < cnn_net_layer_count(net); l++) {
        int count = cnn_net_param_tensor_count(net, l);
        size_t params = 0;
        for (int i = 0; i < count; i++) {
            cnn_param_tensor t;
            if (!T_OK(net, cnn_net_param_tensor(net, l, i, &t))) return;
            char full[256];
            snprintf(full, sizeof full, "%s.%s", cnn_net_layer_name(net, l), t.name);
            if (order_ok && (k >= n_keys || strcmp(full, keys[k]) != 0)) {
                T_CHECK(0, "%s: tensor %d is %s, state_dict has %s there", file, k, full,
                        k < n_keys ? keys[k] : "nothing");
                order_ok = 0;
            }
            k++;
            int st = t.role == CNN_PARAM_STATE;
            float *base = st ? cnn_net_state(net) : cnn_net_params(net);
            if (t.offset != at[st] || t.data != base + t.offset || t.layer != l ||
                (st ? t.grad != NULL : !grads || t.grad != grads + t.offset))
                tile_ok = 0;
            at[st] += t.count;
            if (!st) params += t.count;
        }
        if (params != cnn_net_layer_param_count(net, l)) tile_ok = 0;
    }
    T_CHECK(order_ok && k == n_keys, "%s: %d tensors, %d state_dict keys", file, k, n_keys);
    T_CHECK(tile_ok && at[0] == cnn_net_param_count(net) && at[1] == cnn_net_state_count(net),
            "%s: the tensors do not tile the buffers (%zu of %zu parameters, %zu of %zu state)",
            file, at[0], cnn_net_param_count(net), at[1], cnn_net_state_count(net));
}

static void run_state_dict_fixture(const char *file, const t_fixture *fx) {
    const char *source = t_fixture_str(fx, "source"), *text = t_fixture_str(fx, "keys");
    if (!T_CHECK(source && text, "%s: missing records", file)) return;
    cnn_net *net = NULL;
    if (!strncmp(source, "model ", 6)) {
        const t_tensor *in = t_fixture_get(fx, "input"), *cl = t_fixture_get(fx, "classes");
        if (!T_CHECK(in && cl && in->count == 3, "%s: input, classes", file)) return;
        const int32_t *chw = in->data;
        char err[512];
        cnn_status st = cnn_model_build(source + 6, chw[0], chw[1], chw[2],
                                        *(const int32_t *)cl->data, 1, &net, err, sizeof err);
        if (!T_CHECK(st == CNN_STATUS_OK, "%s: %s", file, err)) return;
    } else if (!strncmp(source, "spec ", 5)) {
        net = t_net(source + 5, 1);
        if (!T_CHECK(net != NULL, "%s: the spec does not build", file)) return;
    } else {
        T_CHECK(0, "%s: unknown source '%s'", file, source);
        return;
    }
    /* Lines "key role d0xd1x...". */
    char *copy = strdup(text), *save = NULL;
    char **keys = NULL;
    int n_keys = 0, cap = 0, found = 0, skipped = 0, bad = 0;
    for (char *line = strtok_r(copy, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        char key[200], role[16], shape[64];
        if (!T_CHECK(sscanf(line, "%199s %15s %63s", key, role, shape) == 3, "%s: line '%s'",
                     file, line))
            continue;
        /* PyTorch counts batches for momentum=None; libcnn has no such buffer. */
        if (ends_with(key, ".num_batches_tracked")) {
            skipped++;
            continue;
        }
        if (n_keys == cap) {
            cap = cap ? 2 * cap : 64;
            keys = realloc(keys, cap * sizeof *keys);
        }
        keys[n_keys++] = strdup(key);
        cnn_param_tensor t;
        cnn_status st = cnn_net_find_param(net, key, &t);
        char got[64] = "";
        if (st == CNN_STATUS_OK) shape_str(t.dims, t.rank, got, sizeof got);
        int want_state = strcmp(role, "buffer") == 0;
        int ok = st == CNN_STATUS_OK && strcmp(got, shape) == 0 &&
                 t.role == (want_state ? CNN_PARAM_STATE : CNN_PARAM_TRAINABLE);
        if (!ok && bad++ < 10)
            T_CHECK(0, "%s: %s (%s %s): %s %s %s", file, key, role, shape,
                    st ? cnn_net_last_error(net) : "found as", got,
                    st ? "" : t.role == CNN_PARAM_STATE ? "state" : "trainable");
        found += ok;
    }
    T_CHECK(bad == 0, "%s: %d of %d keys wrong", file, bad, n_keys);
    printf("  ok %s: %d of %d state_dict keys found with role and shape (%d "
           "num_batches_tracked left out)\n", file, found, n_keys, skipped);
    check_walk(file, net, keys, n_keys);
    for (int i = 0; i < n_keys; i++) free(keys[i]);
    free(keys);
    free(copy);
    cnn_net_free(net);
}

/* ---------------------------------------------------------------------------------------------
 * Named tensors: the API's behaviour
 * ------------------------------------------------------------------------------------------- */

static void test_param_api(void) {
    cnn_net *net = t_net("input x - shape=3x6x6; conv2d c1 - out=4 kernel=3 bias=0; "
                         "batchnorm bn - affine=0; relu r -; conv2d c2 - out=2 kernel=3; "
                         "flatten f -; dense fc - out=3", 5);
    if (!T_CHECK(net != NULL, "net")) return;
    int c1 = cnn_net_find(net, "c1"), bn = cnn_net_find(net, "bn"), r = cnn_net_find(net, "r");
    T_CHECK(cnn_net_param_tensor_count(net, 0) == 0, "input has no tensors");
    T_CHECK(cnn_net_param_tensor_count(net, r) == 0, "relu has no tensors");
    T_CHECK(cnn_net_param_tensor_count(net, c1) == 1, "conv2d bias=0: weight only");
    T_CHECK(cnn_net_param_tensor_count(net, bn) == 2, "batchnorm affine=0: the two buffers");
    cnn_param_tensor t;
    T_OK(net, cnn_net_param_tensor(net, bn, 1, &t));
    T_CHECK(!strcmp(t.name, "running_var") && t.role == CNN_PARAM_STATE && t.rank == 1 &&
                t.dims[0] == 4 && t.dims[1] == 0 && t.grad == NULL &&
                t.data == cnn_net_state(net) + cnn_net_layer_state_offset(net, bn) + 4,
            "bn running_var");
    T_CHECK(t.data[0] == 1.0f, "running_var starts at 1");

    /* Writing through data is writing the flat buffer; grad is the gradient's slice. */
    T_OK(net, cnn_net_find_param(net, "fc.bias", &t));
    T_CHECK(t.rank == 1 && t.dims[0] == 3 && t.role == CNN_PARAM_TRAINABLE, "fc.bias");
    size_t fc_off = cnn_net_layer_param_offset(net, cnn_net_find(net, "fc"));
    T_CHECK(t.offset == fc_off + 3 * 2 * 2 * 2, "fc.bias after fc.weight (3 x 8)");
    t.data[1] = 42.0f;
    T_CHECK(cnn_net_params(net)[t.offset + 1] == 42.0f, "data points into the parameters");
    /* A network holds gradients from its first need on (here cnn_net_grads) and not before. */
    T_CHECK(t.grad == NULL, "grad before the network holds gradients: %p", (void *)t.grad);
    float *grads = cnn_net_grads(net);
    T_OK(net, cnn_net_find_param(net, "fc.bias", &t));
    if (!T_CHECK(grads && t.grad == grads + t.offset, "grad points into the gradients")) {
        cnn_net_free(net);
        return;
    }
    /* A layer added once the network holds gradients grows them (keeping their values), and
     * a backward pass fills the new layer's slice. */
    grads[0] = 7.0f;
    T_OK(net, cnn_add(net, "dense", "fc2", "fc", "out=2"));
    grads = cnn_net_grads(net);
    T_CHECK(grads && grads[0] == 7.0f, "gradients kept through a cnn_add: %g", grads ? grads[0] : 0.0);
    T_OK(net, cnn_net_find_param(net, "fc2.weight", &t));
    float x[3 * 6 * 6];
    t_fill(x, 3 * 6 * 6, 9, -1, 1);
    T_OK(net, cnn_net_prepare(net, 1));
    T_OK(net, cnn_net_forward(net, x, 1));
    float *dy = cnn_net_output_grad(net);
    dy[0] = 1.0f, dy[1] = -1.0f;
    T_OK(net, cnn_net_backward(net));
    grads = cnn_net_grads(net);
    T_CHECK(grads && t.grad == grads + t.offset && t.grad[0] != 0.0f,
            "the gradients after adding fc2: %p, fc2.weight at %p, its first %g", (void *)grads,
            (void *)t.grad, t.grad ? t.grad[0] : 0.0);
    T_OK(net, cnn_net_find_param(net, "c2.weight", &t));
    T_CHECK(t.rank == 4 && t.dims[0] == 2 && t.dims[1] == 4 && t.dims[2] == 3 && t.dims[3] == 3 &&
                t.count == 72,
            "c2.weight 2x4x3x3");

    /* Errors name what is missing. */
    const cnn_status A = CNN_STATUS_INVALID_ARGUMENT;
    T_CHECK(cnn_net_find_param(net, "nope.weight", &t) == A &&
                strstr(cnn_net_last_error(net), "no layer named 'nope'"),
            "unknown layer: %s", cnn_net_last_error(net));
    T_CHECK(cnn_net_find_param(net, "c1.bias", &t) == A &&
                strstr(cnn_net_last_error(net), "no tensor 'bias'") &&
                strstr(cnn_net_last_error(net), "weight"),
            "conv without bias: %s", cnn_net_last_error(net));
    T_CHECK(cnn_net_find_param(net, "r.weight", &t) == A &&
                strstr(cnn_net_last_error(net), "it has none"),
            "relu: %s", cnn_net_last_error(net));
    T_CHECK(cnn_net_find_param(net, "weight", &t) == A, "no layer part");
    T_CHECK(cnn_net_find_param(net, "c1.", &t) == A, "no tensor part");
    T_CHECK(cnn_net_find_param(net, ".weight", &t) == A, "empty layer part");
    T_CHECK(cnn_net_find_param(net, NULL, &t) == A, "NULL name");
    char longname[300];
    memset(longname, 'a', sizeof longname);
    memcpy(longname + 280, ".weight", 8);
    T_CHECK(cnn_net_find_param(net, longname, &t) == A, "a layer name too long");
    T_CHECK(cnn_net_param_tensor(net, c1, 1, &t) == A, "tensor 1 of a conv without bias");
    T_CHECK(cnn_net_param_tensor(net, c1, -1, &t) == A, "tensor -1");
    T_CHECK(cnn_net_param_tensor(net, 99, 0, &t) == A, "layer 99");
    cnn_net_free(net);
}

/* ---------------------------------------------------------------------------------------------
 * Fixtures
 * ------------------------------------------------------------------------------------------- */

static int cmp_str(const void *a, const void *b) {
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static void run_fixtures(void) {
    DIR *d = opendir(g_dir);
    if (!T_CHECK(d != NULL, "cannot open %s (run from the repository root or set CNN_REF_DIR)",
                 g_dir))
        return;
    char **names = NULL;
    size_t n = 0, cap = 0;
    for (struct dirent *e; (e = readdir(d));) {
        if (!ends_with(e->d_name, ".bin")) continue;
        if (n == cap) {
            cap = cap ? 2 * cap : 64;
            names = realloc(names, cap * sizeof *names);
        }
        names[n++] = strdup(e->d_name);
    }
    closedir(d);
    qsort(names, n, sizeof *names, cmp_str);
    int counts[3] = {0, 0, 0};
    for (size_t i = 0; i < n; i++) {
        char path[8192];
        snprintf(path, sizeof path, "%s/%s", g_dir, names[i]);
        t_fixture *fx = t_fixture_load(path);
        const char *type = fx ? t_fixture_str(fx, "type") : NULL;
        if (!T_CHECK(type != NULL, "%s: does not load or has no type", names[i])) {
            t_fixture_free(fx);
            continue;
        }
        if (!strcmp(type, "ce_ex")) run_ce_fixture(names[i], fx), counts[0]++;
        else if (!strcmp(type, "bn_stats")) run_bn_fixture(names[i], fx), counts[1]++;
        else if (!strcmp(type, "state_dict")) run_state_dict_fixture(names[i], fx), counts[2]++;
        else T_CHECK(0, "%s: unknown type '%s'", names[i], type);
        t_fixture_free(fx);
        free(names[i]);
    }
    free(names);
    T_CHECK(counts[0] >= 24 && counts[1] >= 1 && counts[2] >= 3,
            "fixtures in %s: %d cross-entropy, %d batch-norm, %d state_dict", g_dir, counts[0],
            counts[1], counts[2]);
}

int main(void) {
    setvbuf(stdout, NULL, _IOLBF, 0);
    const char *ref = getenv("CNN_REF_DIR");
    snprintf(g_dir, sizeof g_dir, "%s/api", ref ? ref : "tests/ref");
    printf("wrappers\n");
    test_wrappers_bit_identical();
    printf("cross-entropy errors and identities\n");
    test_ce_errors();
    printf("finite differences\n");
    test_finite_differences();
    printf("named tensors\n");
    test_param_api();
    printf("fixtures (%s)\n", g_dir);
    run_fixtures();
    return t_finish();
}

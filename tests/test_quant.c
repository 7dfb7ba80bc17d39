/*
 * test_quant.c - 8-bit inference: conv2d quant=int8 against its reference kernels (bit for
 * bit: the sums are exact) on every geometry the fast path cuts differently, at 1 and 2
 * threads; against the float convolution within the bound of rounding its input and weights;
 * the layer's arguments and what it refuses; cnn_net_quantize (calibration, fusion, outputs
 * near the float network's, a checkpoint round trip) and the gradients of a quantised network.
 * Run with --isa vnni, --isa avx2 and --isa baseline too (make test does), so that each
 * instruction set's products are held to the same reference on a host that has more.
 */
#include "testlib.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* Geometries: LeNet-5's first (5x5 on one channel), ResNet's 3x3 (stride 1 and 2) and 1x1
 * shortcuts, groups, dilation, asymmetric padding, a sum longer than a 64-byte block, and
 * columns and rows that are not multiples of the products' tiles. The fast path computes
 * 8x40x36 and the three after it in place (stride 1, few padding columns: qconv.c's
 * in_place), with groups, dilation and asymmetric padding, channels not a multiple of 4, no
 * padding; the last copies its columns without staging them (output rows a multiple of 16). */
static const struct {
    int C, H, W;
    const char *args;
} GEOMS[] = {
    {1, 12, 12, "out=6 kernel=5 padding=2"},
    {16, 9, 9, "out=32 kernel=3 padding=1 act=relu"},
    {16, 9, 11, "out=24 kernel=3 stride=2 padding=1 bias=0"},
    {32, 7, 7, "out=64 kernel=1 stride=2"},
    {8, 10, 10, "out=12 kernel=3 groups=4 padding=1"},
    {6, 11, 9, "out=7 kernel=3 dilation=2 padding=1:2x0:1"},
    {130, 5, 5, "out=5 kernel=3 padding=1 act=relu"},
    {3, 31, 17, "out=70 kernel=7 stride=2 padding=3"},
    /* Large enough for many blocks of columns and for both threads at batch 1. */
    {8, 40, 36, "out=16 kernel=3 padding=1 act=relu"},
    {5, 45, 41, "out=32 kernel=5 stride=2 padding=2x1 dilation=1x2"},
    {6, 24, 40, "out=10 kernel=3 groups=2 dilation=2 padding=2:1x2:3"},
    {3, 30, 30, "out=9 kernel=5 padding=2 act=relu"},
    {20, 16, 16, "out=24 kernel=1"},
    /* Output rows of 32 pixels: every panel's columns copied straight from the planes. */
    {4, 10, 64, "out=20 kernel=3 stride=2 padding=1 act=relu"},
};
#define N_GEOMS (sizeof GEOMS / sizeof *GEOMS)

/* A network of one quantised convolution on input x (values in [lo, hi)). */
static cnn_net *one_conv(int i, float scale, int zero, int seed) {
    char spec[512];
    snprintf(spec, sizeof spec,
             "input x - shape=%dx%dx%d; conv2d c x %s quant=int8 in_scale=%.9g in_zero=%d",
             GEOMS[i].C, GEOMS[i].H, GEOMS[i].W, GEOMS[i].args, scale, zero);
    cnn_net *net = t_net(spec, (uint64_t)seed);
    if (!net) return NULL;
    /* Biases that are not 0, so that the epilogue's sum is checked too. */
    size_t np = cnn_net_param_count(net);
    t_fill(cnn_net_params(net) + np - 5, 5, 77, -0.5f, 0.5f);
    return net;
}

static float *run(cnn_net *net, const float *x, int N, int threads, int reference) {
    cnn_net_set_threads(net, threads);
    cnn_net_set_reference(net, reference);
    if (!T_OK(net, cnn_net_prepare(net, N)) || !T_OK(net, cnn_net_forward(net, x, N)))
        return NULL;
    cnn_shape o = cnn_net_output_shape(net);
    size_t n = (size_t)N * cnn_shape_numel(&o);
    float *y = malloc(n * sizeof *y);
    memcpy(y, cnn_net_output(net), n * sizeof *y);
    return y;
}

/* The fast path at 1 and 2 threads, and a second pass (its integers kept), against the
 * reference kernels: the same bits. Inputs spill past the range on both sides (clamped).
 * Batch 1 shares one sample's blocks of columns (split by rows when few) between the
 * threads; batch 3 runs them sample after sample. */
static void fast_is_reference(int i, int zero, int N) {
    float scale = zero ? 2.0f / 255 : 1.0f / 255;
    cnn_net *net = one_conv(i, scale, zero, 3 + i);
    if (!T_CHECK(net, "geometry %d: network", i)) return;
    cnn_shape in = cnn_net_input_shape(net, 0), o = cnn_net_output_shape(net);
    size_t nx = (size_t)N * cnn_shape_numel(&in), ny = (size_t)N * cnn_shape_numel(&o);
    float *x = malloc(nx * sizeof *x);
    t_fill(x, nx, 11 + (uint64_t)i, zero ? -1.2f : -0.1f, 1.2f);
    /* What quantisation clamps: NaN to byte 0, infinities and huge values to the ends. */
    const float special[] = {NAN, INFINITY, -INFINITY, 1e30f, -1e30f};
    for (size_t k = 0; k < sizeof special / sizeof *special; k++)
        x[(k * 7919 + (size_t)i) % nx] = special[k];
    float *ref = run(net, x, N, 1, 1), *one = run(net, x, N, 1, 0), *two = run(net, x, N, 2, 0);
    float *again = run(net, x, N, 2, 0);
    char what[200];
    snprintf(what, sizeof what, "%s, in_zero %d, batch %d: fast path (1 thread) against the "
             "reference", GEOMS[i].args, zero, N);
    if (ref && one) t_same_bits(what, one, ref, ny);
    snprintf(what, sizeof what, "%s, in_zero %d, batch %d: 2 threads against 1", GEOMS[i].args,
             zero, N);
    if (one && two) t_same_bits(what, two, one, ny);
    snprintf(what, sizeof what, "%s, in_zero %d: a second pass, integers kept", GEOMS[i].args,
             zero);
    if (one && again) t_same_bits(what, again, one, ny);
    /* Changed weights are seen: the kept integers are remade. */
    float *w = cnn_net_params(net);
    w[0] += 0.25f;
    float *changed = run(net, x, N, 1, 0), *changed_ref = run(net, x, N, 1, 1);
    snprintf(what, sizeof what, "%s: after the weights changed", GEOMS[i].args);
    if (changed && changed_ref) t_same_bits(what, changed, changed_ref, ny);
    free(x), free(ref), free(one), free(two), free(again), free(changed), free(changed_ref);
    cnn_net_free(net);
}

/* Against the float convolution of the same weights: each output within the sum of what
 * rounding the input (half a step inside the range) and each weight (half its channel's step)
 * can move it. */
static void near_float(int i) {
    int N = 2;
    float lo = -1.0f, hi = 1.0f, scale = (hi - lo) / 255;
    int zero = 128;
    cnn_net *q = one_conv(i, scale, zero, 5);
    char spec[512];
    snprintf(spec, sizeof spec, "input x - shape=%dx%dx%d; conv2d c x %s", GEOMS[i].C, GEOMS[i].H,
             GEOMS[i].W, GEOMS[i].args);
    cnn_net *f = t_net(spec, 5);
    if (!T_CHECK(q && f, "networks")) return;
    memcpy(cnn_net_params(f), cnn_net_params(q), cnn_net_param_count(q) * sizeof(float));
    cnn_shape in = cnn_net_input_shape(q, 0), o = cnn_net_output_shape(q);
    size_t nx = (size_t)N * cnn_shape_numel(&in), ny = (size_t)N * cnn_shape_numel(&o);
    float *x = malloc(nx * sizeof *x);
    t_fill(x, nx, 21, lo + 0.01f, hi - 0.51f); /* inside the range: within the zero point */
    float *yq = run(q, x, N, 1, 0), *yf = run(f, x, N, 1, 0);
    /* |sum w x - sum w' x'| <= sum |w| |x - x'| + |x'| |w - w'|, with |x - x'| <= step / 2,
     * |w - w'| <= s_o / 2 and |x'| <= max |x| + step / 2: bounded per channel by the largest
     * |w| and |x| and the number of terms. */
    int OC = o.dim[0];
    size_t K = cnn_net_param_count(q) / (size_t)OC - 1; /* weights per channel, then a bias */
    size_t per = ny / (size_t)N / (size_t)OC, bad = 0;
    double worst = 0;
    const float *w = cnn_net_params(q);
    for (int oc = 0; oc < OC; oc++) {
        double wmax = 0;
        for (size_t k = 0; k < K; k++) wmax = fmax(wmax, fabs(w[(size_t)oc * K + k]));
        double bound = (double)K * (wmax * scale / 2 + (1.0 + scale / 2) * wmax / 127 / 2) * 1.001 +
                       1e-5;
        for (int n = 0; n < N; n++)
            for (size_t p = 0; p < per; p++) {
                size_t at = ((size_t)n * OC + oc) * per + p;
                double d = fabs((double)yq[at] - yf[at]);
                worst = fmax(worst, d / bound);
                bad += d > bound;
            }
    }
    T_CHECK(bad == 0, "%s: %zu outputs beyond the rounding bound (worst %.2f of it)",
            GEOMS[i].args, bad, worst);
    printf("  ok %s: within %.0f%% of the rounding bound of the float convolution\n",
           GEOMS[i].args, 100 * worst);
    free(x), free(yq), free(yf);
    cnn_net_free(q);
    cnn_net_free(f);
}

/* ---- cnn_net_quantize ---- */

static const char NET[] = "input x - shape=1x8x8; conv2d c1 x out=8 kernel=3 padding=1; "
                          "batchnorm b1 -; relu r1 -; conv2d c2 - out=8 kernel=3 padding=1; "
                          "relu r2 -; max_pool2d p - kernel=2; flatten f -; dense o - out=4";

static void copy_output(cnn_net *net, const float *x, int N, float *y, size_t ny) {
    T_OK(net, cnn_net_prepare(net, N));
    T_OK(net, cnn_net_forward(net, x, N));
    memcpy(y, cnn_net_output(net), ny * sizeof *y);
}

/* The relative L2 distance of a from b. */
static double rel_l2(const float *a, const float *b, size_t n) {
    double d = 0, s = 0;
    for (size_t i = 0; i < n; i++) d += ((double)a[i] - b[i]) * ((double)a[i] - b[i]), s += (double)b[i] * b[i];
    return sqrt(d / (s > 0 ? s : 1));
}

static void quantize_net(void) {
    cnn_net *net = t_net(NET, 7);
    cnn_dataset *ds = t_bars(200, 3);
    if (!T_CHECK(net && ds, "network and data")) return;
    /* Batch statistics that are not the identity, as a trained network has. */
    float *st = cnn_net_state(net);
    for (int k = 0; k < 8; k++) st[k] = 0.1f * (float)k, st[8 + k] = 0.5f + 0.2f * (float)k;
    char err[512];
    cnn_net *q = NULL;
    T_CHECK(cnn_net_quantize(net, ds, 0, &q, err, sizeof err) == CNN_STATUS_INVALID_ARGUMENT &&
                !q && strstr(err, "1 to 200 samples"),
            "no calibration samples refused: %s", err);
    T_CHECK(cnn_net_quantize(net, ds, 201, &q, err, sizeof err) == CNN_STATUS_INVALID_ARGUMENT,
            "more calibration samples than the set refused: %s", err);
    if (!T_CHECK(cnn_net_quantize(net, ds, 64, &q, err, sizeof err) == CNN_STATUS_OK && q,
                 "quantised: %s", err))
        return;
    char args[512];
    int c1 = cnn_net_find(q, "c1"), c2 = cnn_net_find(q, "c2");
    cnn_net_layer_args(q, c1, args, sizeof args);
    T_CHECK(strstr(args, "act=relu quant=int8 in_scale=") && strstr(args, "in_zero="),
            "c1 fused and quantised: %s", args);
    cnn_net_layer_args(q, c2, args, sizeof args);
    T_CHECK(strstr(args, "quant=int8") && strstr(args, "in_zero=0"),
            "c2 reads a ReLU's output: in_zero 0: %s", args);
    T_CHECK(cnn_net_find(q, "b1") < 0 && cnn_net_find(q, "r1") < 0, "b1 and r1 folded into c1");
    T_CHECK(cnn_net_find(q, "o") >= 0, "the dense layer is kept");
    /* Outputs near the float network's on samples of the set. */
    int N = 32;
    size_t nx = (size_t)N * 64, ny = (size_t)N * 4;
    float *x = malloc(nx * sizeof *x), *yf = malloc(ny * sizeof *yf), *yq = malloc(ny * sizeof *yq),
          *yl = malloc(ny * sizeof *yl);
    for (int i = 0; i < N; i++) cnn_dataset_sample(ds, i * 5, x + (size_t)i * 64);
    copy_output(net, x, N, yf, ny);
    copy_output(q, x, N, yq, ny);
    double d = rel_l2(yq, yf, ny);
    T_CHECK(d < 0.02, "8-bit outputs within 2%% of the float ones (relative L2: %.4f)", d);
    printf("  ok quantised network: outputs within %.2f%% of the float network's\n", 100 * d);
    /* A checkpoint round trip gives the same network: the same bits. */
    char dir[] = "/tmp/test_quant_XXXXXX", path[600];
    if (T_CHECK(mkdtemp(dir), "temporary folder")) {
        snprintf(path, sizeof path, "%s/q.ckpt", dir);
        cnn_net *l = NULL;
        T_CHECK(cnn_checkpoint_save(path, q, NULL, NULL, err, sizeof err) == CNN_STATUS_OK,
                "saved: %s", err);
        if (T_CHECK(cnn_net_load(path, &l, err, sizeof err) == CNN_STATUS_OK, "loaded: %s", err)) {
            copy_output(l, x, N, yl, ny);
            t_same_bits("the quantised network after a checkpoint round trip", yl, yq, ny);
            cnn_net_free(l);
        }
        t_remove_tree(dir);
    }
    /* Training is refused, with the layer's name. */
    cnn_net_set_training(q, 1);
    T_CHECK(cnn_net_forward(q, x, N) == CNN_STATUS_STATE &&
                strstr(cnn_net_last_error(q), "conv2d 'c1': quant=int8 is for inference"),
            "training refused: %s", cnn_net_last_error(q));
    cnn_net_set_training(q, 0);
    /* Gradients (saliency): those of the float convolutions, near the float network's; not
     * closer, as the 8-bit outputs move some ReLU kinks and pooling winners. */
    cnn_net *f = NULL;
    T_CHECK(cnn_net_fuse(net, &f, err, sizeof err) == CNN_STATUS_OK, "fused: %s", err);
    float *gq = malloc(nx * sizeof *gq);
    cnn_net *both[2] = {q, f};
    for (int k = 0; k < 2 && f; k++) {
        T_OK(both[k], cnn_net_prepare(both[k], N));
        T_OK(both[k], cnn_net_forward(both[k], x, N));
        cnn_net_zero_grad(both[k]);
        for (size_t i = 0; i < ny; i++) cnn_net_output_grad(both[k])[i] = i % 4 == 1 ? 1.0f : 0.0f;
        T_OK(both[k], cnn_net_backward(both[k]));
        if (k == 0) memcpy(gq, cnn_net_input_grad(q, 0), nx * sizeof *gq);
    }
    if (f) {
        d = rel_l2(gq, cnn_net_input_grad(f, 0), nx);
        T_CHECK(d < 0.25, "input gradients within 25%% of the float network's (%.4f)", d);
    }
    free(x), free(yf), free(yq), free(yl), free(gq);
    cnn_net_free(f);
    cnn_net_free(q);
    cnn_net_free(net);
    t_free_dataset(ds);
}

/* What a quantised layer refuses, saying why. */
static void refused(void) {
    static const struct {
        const char *args, *msg;
    } BAD[] = {
        {"quant=int8", "quant=int8 needs in_scale > 0"},
        {"quant=int8 in_scale=-1", "needs in_scale > 0"},
        {"quant=int8 in_scale=nan", "expected a finite number"},
        {"quant=int8 in_scale=0.1 in_zero=256", "in_zero must be a byte, 0 to 255, got 256"},
        {"in_scale=0.1", "in_scale and in_zero are for quant=int8"},
        {"in_zero=3", "in_scale and in_zero are for quant=int8"},
    };
    for (size_t i = 0; i < sizeof BAD / sizeof *BAD; i++) {
        cnn_net *net = cnn_net_new(1);
        cnn_add(net, "input", "x", NULL, "shape=2x6x6");
        char args[200];
        snprintf(args, sizeof args, "out=3 kernel=3 %s", BAD[i].args);
        cnn_status st = cnn_add(net, "conv2d", "c", "x", args);
        T_CHECK(st == CNN_STATUS_INVALID_ARGUMENT && strstr(cnn_net_last_error(net), BAD[i].msg),
                "%s refused: %s", BAD[i].args, cnn_net_last_error(net));
        cnn_net_free(net);
    }
    cnn_net *net = cnn_net_new(1);
    cnn_add(net, "input", "x", NULL, "shape=8000x3x3");
    cnn_status st = cnn_add(net, "conv2d", "c", "x", "out=1 kernel=3 quant=int8 in_scale=1");
    T_CHECK(st && strstr(cnn_net_last_error(net), "sums at most 65536 terms in 32 bits, this "
                                                  "layer 72000"),
            "too long a sum refused: %s", cnn_net_last_error(net));
    cnn_net_free(net);
}

int main(int argc, char **argv) {
    t_isa_option(&argc, &argv);
    for (size_t i = 0; i < N_GEOMS; i++) {
        fast_is_reference((int)i, 0, 3);
        fast_is_reference((int)i, 128, 3);
        fast_is_reference((int)i, 128, 1);
    }
    for (size_t i = 0; i < N_GEOMS; i++)
        if (!strstr(GEOMS[i].args, "act=relu") && !strstr(GEOMS[i].args, "bias=0"))
            near_float((int)i);
    quantize_net();
    refused();
    return t_finish();
}

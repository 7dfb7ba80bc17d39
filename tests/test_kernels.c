/*
 * test_kernels.c - the fast kernels' own paths, on shapes large enough to reach them. The
 * shapes of test_layers are tiny: a batch of 2 is one chunk of the convolution kernels and too
 * little work for a parallel region. Here every convolution's batch spans several chunks (the
 * last one short), with work enough for the threads to share it, and the shapes take each
 * branch of im2col and col2im (rows as long as the input's, or not; padding, stride,
 * dilation, groups) and of pooling (2x2 and other tiled windows, odd sizes, the general
 * path). For each case, in training passes:
 *   1. fast against reference kernels (output, input and parameter gradients);
 *   2. two threads against one, bit for bit (and against three, whose split of the chunks is
 *      uneven; with fewer chunks than threads, the split inside a chunk);
 *   3. backward adds: a second backward doubles the parameter gradient;
 * then in an evaluation pass (whose Winograd transforms are kept from pass to pass):
 *   4. the output against the reference, within a bound on rounding error, at two and three
 *      threads the same bits as at one, and its backward pass the training pass's gradients.
 * With CNN_TEST_THREADS_ONLY=1 (the ThreadSanitizer run, where the single-threaded reference
 * kernels are slow and race-free), the comparisons with the reference (1, and 4's) are left
 * out.
 * Max pooling's fast path must also match the reference bit for bit, argmax included, on
 * inputs full of ties, infinities and NaNs.
 * The code compiled for AVX2 and for the baseline must agree bit for bit (isa_paths_agree).
 *   test_kernels [--isa baseline] [WORD]   runs the cases whose spec contains WORD; with
 *   --isa baseline, on the baseline instruction set whatever the CPU has.
 */
#include "testlib.h"
#include "../src/core/internal.h" /* cnn_isa_set */

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* CNN_TEST_THREADS_ONLY set: no comparison with the reference kernels (see the top). */
static int threads_only;

typedef struct kernel_case {
    const char *spec; /* see t_net; the last layer is the one under test */
    int batch;
} kernel_case;

static const kernel_case cases[] = {
    /* LeNet-5's convolutions at batch 64: many chunks, rows as long as the input's (padding 2)
     * and shorter ones (no padding). */
    {"input x - shape=1x28x28; conv2d l - out=6 kernel=5 padding=2", 64},
    {"input x - shape=6x14x14; conv2d l - out=16 kernel=5", 64},
    /* A batch that does not divide into chunks evenly, 3x3 "same". */
    {"input x - shape=3x16x16; conv2d l - out=8 kernel=3 padding=1", 41},
    /* Stride, padding wider than the kernel's reach on one side, dilation, groups, an even
     * kernel's uneven "same" padding, 1x1, stride larger than the kernel, 1-D. */
    {"input x - shape=4x33x31; conv2d l - out=8 kernel=3 stride=2 padding=2", 23},
    {"input x - shape=4x24x26; conv2d l - out=8 kernel=3x2 dilation=2x3 padding=3x1 groups=2",
     19},
    {"input x - shape=6x20x20; conv2d l - out=12 kernel=3 groups=3 padding=same bias=0", 30},
    {"input x - shape=3x20x20; conv2d l - out=8 kernel=4 padding=same", 25},
    {"input x - shape=8x24x24; conv2d l - out=12 kernel=1", 33},
    {"input x - shape=5x31x31; conv2d l - out=8 kernel=3 stride=3 padding=valid", 37},
    {"input x - shape=4x256; conv1d l - out=8 kernel=5 stride=2 padding=2", 64},
    {"input x - shape=8x16x16; conv_transpose2d l - out=6 kernel=3 stride=2 padding=1 "
     "output_padding=1", 21},
    {"input x - shape=8x14x14; conv_transpose2d l - out=6 kernel=3 groups=2", 27},
    /* Batches of fewer chunks than threads (one image): each chunk is spread over the
     * threads (im2col by channel, the products by row blocks); more than one row block of
     * output channels, of input rows for the data gradient. The same in a transposed
     * convolution, and a batch of 2 whose one chunk holds both samples. (Shapes that neither
     * Winograd's nor the direct kernels take.) */
    {"input x - shape=17x32x32; conv2d l - out=64 kernel=5 padding=2", 1},
    {"input x - shape=64x28x28; conv2d l - out=40 kernel=3 stride=2 padding=1 groups=2", 1},
    {"input x - shape=32x16x16; conv_transpose2d l - out=48 kernel=2 stride=2", 1},
    {"input x - shape=8x20x20; conv2d l - out=72 kernel=3", 2},
    /* The same batches with one group and K = C KH KW >= 512: the forward pass splits K into
     * two parts (by channels: an odd count splits unevenly), each with its own output, added
     * in order. One image, two in one chunk, a stride of 2. */
    {"input x - shape=64x7x7; conv2d l - out=40 kernel=3 padding=1", 1},
    {"input x - shape=64x7x7; conv2d l - out=40 kernel=3 padding=1", 2},
    {"input x - shape=57x12x12; conv2d l - out=20 kernel=3 stride=2 padding=1", 1},
    /* Direct kernels (at most 16 input and 64 output channels, stride 1): output channels not
     * a multiple of the kernel's block of 6, uneven kernels and padding, padding wider than
     * the kernel (the data gradient then starts inside dy), 1x1, 64 outputs, one sample. */
    {"input x - shape=3x30x29; conv2d l - out=13 kernel=3x5 padding=2x1", 10},
    {"input x - shape=2x6x6; conv2d l - out=5 kernel=3 padding=4", 19},
    {"input x - shape=16x12x12; conv2d l - out=64 kernel=5 padding=same", 9},
    {"input x - shape=5x11x7; conv2d l - out=7 kernel=1", 17},
    {"input x - shape=4x40x40; conv2d l - out=6 kernel=5 padding=2", 1},
    /* The direct forward pass along the output channels (blocks of 6 outputs of a row by 16
     * channels; LeNet-5's conv2 and the 64-channel case above take it too) on one image, its
     * rows shared by the threads, and on two. */
    {"input x - shape=8x30x30; conv2d l - out=32 kernel=3 padding=1", 1},
    {"input x - shape=8x30x30; conv2d l - out=20 kernel=3 padding=1", 2},
    /* Strided direct kernels (forward and weight gradient; the data gradient takes im2col):
     * ResNet's 7x7 stride-2 stem on one image (its blocks of outputs shared by the threads)
     * and on two (fewer samples than three threads), stride 3 with a kernel smaller than it
     * and uneven strides. */
    {"input x - shape=3x38x38; conv2d l - out=64 kernel=7 stride=2 padding=3", 1},
    {"input x - shape=3x38x38; conv2d l - out=64 kernel=7 stride=2 padding=3", 2},
    {"input x - shape=2x20x19; conv2d l - out=7 kernel=2 stride=3 padding=1", 9},
    {"input x - shape=5x17x21; conv2d l - out=10 kernel=3x4 stride=2x4 padding=1x2", 6},
    /* Small maps: chunks are widened to 256 columns (16 samples of 4x4), the last one short;
     * with fewer than 4 chunks in row blocks, with more in one product each. */
    {"input x - shape=64x4x4; conv2d l - out=48 kernel=3 padding=1", 37},
    {"input x - shape=64x4x4; conv2d l - out=48 kernel=3 padding=1", 70},
    /* Winograd F(2x2, 3x3): 3x3 stride 1 with at least 16 channels each way and 64 tiles.
     * Even and odd maps, padding 0, 1 and 2 and uneven padding ("same" of a 3x3 is 1, the
     * data gradient then pads 1; valid pads it 2), one sample cut into several chunks of
     * tile rows, chunks spanning samples, a batch too small for a parallel region. */
    {"input x - shape=16x17x15; conv2d l - out=24 kernel=3 padding=1", 9},
    {"input x - shape=20x12x12; conv2d l - out=16 kernel=3", 21},
    {"input x - shape=16x9x10; conv2d l - out=32 kernel=3 padding=2", 13},
    {"input x - shape=64x4x4; conv2d l - out=64 kernel=3 padding=1 bias=0", 37},
    {"input x - shape=16x80x80; conv2d l - out=16 kernel=3 padding=1", 1},
    {"input x - shape=16x8x8; conv2d l - out=16 kernel=3 padding=1", 4},
    {"input x - shape=24x10x11; conv_transpose2d l - out=16 kernel=3 padding=1", 11},
    /* Winograd with several chunks: with at least two per thread each thread takes whole
     * chunks, with fewer the threads share each chunk; the weight gradient sums groups of
     * chunks apart. 16 channels make the cheapest shapes with that many chunks (F(4x4, 3x3),
     * at most 56 tile rows of 16 tiles a chunk): 128 tile rows in 3 chunks of 56, 56 and 16
     * (the threads share each), summed in 2 groups of 1 and 2 chunks, on an even and an odd
     * map; 224 rows in 4 chunks of 56 (2 threads: whole chunks; 3: shared) and 4 groups. */
    {"input x - shape=16x64x64; conv2d l - out=16 kernel=3 padding=1", 8},
    {"input x - shape=16x62x61; conv2d l - out=16 kernel=3 padding=1", 8},
    {"input x - shape=16x62x61; conv2d l - out=16 kernel=3 padding=1", 14},
    /* Pooling: 2x2 on even and odd sizes, other tiled windows, the general path. */
    {"input x - shape=6x28x28; max_pool2d l - kernel=2", 16},
    {"input x - shape=5x7x9; max_pool2d l - kernel=2", 16},
    {"input x - shape=4x9x10; max_pool2d l - kernel=3", 16},
    {"input x - shape=4x8x9; max_pool2d l - kernel=2x3", 16},
    {"input x - shape=4x9x9; max_pool2d l - kernel=2 ceil_mode=1", 16},
    {"input x - shape=4x12x12; max_pool2d l - kernel=3 stride=2 padding=1", 16},
    {"input x - shape=4x12x12; avg_pool2d l - kernel=2", 16},
    /* Element-wise layers big enough to be split over threads. */
    {"input x - shape=6x28x28; relu l -", 16},
    {"input x - shape=6x28x28; leaky_relu l - slope=0.1", 16},
    {"input x - shape=6x28x28; elu l -", 16},
    {"input x - shape=6x28x28; sigmoid l -", 16},
    {"input x - shape=6x28x28; tanh l -", 16},
    /* Dense layers whose product is split into row blocks. */
    {"input x - shape=400; dense l - out=120", 64},
    {"input x - shape=120; dense l - out=84", 100},
};
#define N_CASES (sizeof cases / sizeof cases[0])

/* Everything one pass produces. */
typedef struct pass {
    float *y, *dx, *dw;
} pass;

typedef struct bench {
    cnn_net *net;
    int batch;
    size_t in_n, out_n, n_params;
    float *x, *r;
} bench;

static void run_pass(bench *b, pass *p) {
    cnn_net_zero_grad(b->net);
    T_OK(b->net, cnn_net_forward(b->net, b->x, b->batch));
    memcpy(cnn_net_output_grad(b->net), b->r, b->out_n * sizeof(float));
    T_OK(b->net, cnn_net_backward(b->net));
    memcpy(p->y, cnn_net_output(b->net), b->out_n * sizeof(float));
    memcpy(p->dx, cnn_net_input_grad(b->net, 0), b->in_n * sizeof(float));
    if (b->n_params) memcpy(p->dw, cnn_net_grads(b->net), b->n_params * sizeof(float));
}

static void pass_alloc(bench *b, pass *p) {
    p->y = calloc(b->out_n, sizeof(float));
    p->dx = calloc(b->in_n, sizeof(float));
    p->dw = calloc(b->n_params + 1, sizeof(float));
}

static void pass_free(pass *p) {
    free(p->y);
    free(p->dx);
    free(p->dw);
}

static void same_pass(const char *what, const bench *b, const pass *got, const pass *want) {
    char label[96];
    snprintf(label, sizeof label, "%s: output", what);
    t_same_bits(label, got->y, want->y, b->out_n);
    snprintf(label, sizeof label, "%s: input gradient", what);
    t_same_bits(label, got->dx, want->dx, b->in_n);
    snprintf(label, sizeof label, "%s: parameter gradient", what);
    t_same_bits(label, got->dw, want->dw, b->n_params);
}

/* Sets the thread count and prepares again for the batch. */
static void set_threads(bench *b, int threads) {
    T_OK(b->net, cnn_net_set_threads(b->net, threads));
    T_OK(b->net, cnn_net_prepare(b->net, b->batch));
}

/* The output of an evaluation pass of b on x. */
static void eval_pass(bench *b, const float *x, float *y) {
    T_OK(b->net, cnn_net_forward(b->net, x, b->batch));
    memcpy(y, cnn_net_output(b->net), b->out_n * sizeof(float));
}

/* m: the reference pass of b on |x| with |parameters| and |output
 * gradient|: for each output and gradient, the sum of the magnitudes of the terms it adds up,
 * which bounds a fast kernel's rounding error: F(4x4, 3x3)'s measured up to 4e-6 of it here
 * in outputs, 1.4e-5 in data gradients (a "valid" convolution's, whose data gradient pads by
 * 2) and 1.6e-6 in weight gradients; F(2x2, 3x3)'s and im2col's a few 1e-7. The checks allow
 * 1e-5 in outputs and 5e-5 in gradients. */
static void magnitude_pass(bench *b, pass *m) {
    float *x = b->x, *r = b->r, *p = cnn_net_params(b->net);
    float *ax = malloc(b->in_n * sizeof(float)), *ar = malloc(b->out_n * sizeof(float));
    float *saved = malloc((b->n_params + 1) * sizeof(float));
    for (size_t i = 0; i < b->in_n; i++) ax[i] = fabsf(x[i]);
    for (size_t i = 0; i < b->out_n; i++) ar[i] = fabsf(r[i]);
    if (b->n_params) memcpy(saved, p, b->n_params * sizeof(float));
    for (size_t i = 0; i < b->n_params; i++) p[i] = fabsf(p[i]);
    b->x = ax, b->r = ar;
    cnn_net_set_reference(b->net, 1);
    run_pass(b, m);
    cnn_net_set_reference(b->net, 0);
    b->x = x, b->r = r;
    if (b->n_params) memcpy(p, saved, b->n_params * sizeof(float));
    free(ax), free(ar), free(saved);
}

/* 4. An evaluation pass against the reference within 1e-5 of the magnitudes m (the training
 * pass's: the cases hold no layer whose evaluation differs), then at 2 and 3 threads the same
 * bits as at 1 (m NULL: no reference). Its backward pass (saliency maps take one) gives the
 * training pass's gradients, bit for bit: the data gradient's kernels need other transforms
 * (the turned kernels') than the forward pass kept. Leaves b training, on 1 thread. */
static void eval_checks(bench *b, const pass *train, const pass *m) {
    float *y = malloc(b->out_n * sizeof(float)), *other = malloc(b->out_n * sizeof(float));
    float *ref = malloc(b->out_n * sizeof(float));
    cnn_net_set_training(b->net, 0);
    eval_pass(b, b->x, y);
    cnn_net_zero_grad(b->net);
    memcpy(cnn_net_output_grad(b->net), b->r, b->out_n * sizeof(float));
    T_OK(b->net, cnn_net_backward(b->net));
    t_same_bits("evaluation backward vs training: input gradient",
                cnn_net_input_grad(b->net, 0), train->dx, b->in_n);
    t_same_bits("evaluation backward vs training: parameter gradient", cnn_net_grads(b->net),
                train->dw, b->n_params);
    if (m) {
        cnn_net_set_reference(b->net, 1);
        eval_pass(b, b->x, ref);
        cnn_net_set_reference(b->net, 0);
        t_within("evaluation vs reference: output", y, ref, m->y, b->out_n, 1e-5);
    }
    for (int threads = 2; threads <= 3; threads++) {
        set_threads(b, threads);
        eval_pass(b, b->x, other);
        t_same_bits(threads == 2 ? "evaluation, 2 threads vs 1" : "evaluation, 3 threads vs 1",
                    other, y, b->out_n);
    }
    set_threads(b, 1);
    cnn_net_set_training(b->net, 1);
    free(y), free(other), free(ref);
}

static void run_case(const kernel_case *kc) {
    printf("case: %s (batch %d)\n", kc->spec, kc->batch);
    bench b = {.batch = kc->batch};
    b.net = t_net(kc->spec, 11);
    if (!T_CHECK(b.net != NULL, "building '%s'", kc->spec)) return;
    if (!T_OK(b.net, cnn_net_prepare(b.net, kc->batch))) goto out;
    cnn_shape is = cnn_net_input_shape(b.net, 0), os = cnn_net_output_shape(b.net);
    b.in_n = (size_t)kc->batch * cnn_shape_numel(&is);
    b.out_n = (size_t)kc->batch * cnn_shape_numel(&os);
    b.n_params = cnn_net_param_count(b.net);
    b.x = malloc(b.in_n * sizeof(float));
    b.r = malloc(b.out_n * sizeof(float));
    t_fill_away_from_zero(b.x, b.in_n, 21);
    t_fill(b.r, b.out_n, 22, -1.0f, 1.0f);
    t_fill_away_from_zero(cnn_net_params(b.net), b.n_params, 23);

    pass one, two, three, ref = {0}, m = {0}; /* ref, m: the reference's and magnitudes' */
    pass_alloc(&b, &one);
    pass_alloc(&b, &two);
    pass_alloc(&b, &three);
    cnn_net_set_training(b.net, 1);
    run_pass(&b, &one);

    /* 1. Reference kernels. */
    if (!threads_only) {
        pass_alloc(&b, &ref);
        pass_alloc(&b, &m);
        cnn_net_set_reference(b.net, 1);
        run_pass(&b, &ref);
        cnn_net_set_reference(b.net, 0);
        magnitude_pass(&b, &m);
        t_within("fast vs reference: output", one.y, ref.y, m.y, b.out_n, 1e-5);
        t_within("fast vs reference: input gradient", one.dx, ref.dx, m.dx, b.in_n, 5e-5);
        t_within("fast vs reference: parameter gradient", one.dw, ref.dw, m.dw, b.n_params,
                 5e-5);
    }

    /* 2. Thread counts. */
    set_threads(&b, 2);
    run_pass(&b, &two);
    same_pass("2 threads vs 1", &b, &two, &one);
    set_threads(&b, 3);
    run_pass(&b, &three);
    same_pass("3 threads vs 1", &b, &three, &one);
    set_threads(&b, 1);

    /* 3. A second backward adds the same parameter gradient again. */
    if (b.n_params) {
        run_pass(&b, &two);
        memcpy(cnn_net_output_grad(b.net), b.r, b.out_n * sizeof(float));
        T_OK(b.net, cnn_net_backward(b.net));
        float *expect = malloc(b.n_params * sizeof(float));
        for (size_t i = 0; i < b.n_params; i++) expect[i] = 2.0f * two.dw[i];
        t_close("accumulated parameter gradient", cnn_net_grads(b.net), expect, b.n_params,
                1e-6, 1e-5);
        free(expect);
    }

    eval_checks(&b, &one, threads_only ? NULL : &m);
    pass_free(&m);
    pass_free(&one);
    pass_free(&two);
    pass_free(&three);
    pass_free(&ref);
    free(b.x);
    free(b.r);
out:
    cnn_net_free(b.net);
}

/* Max pooling on ties, infinities and NaNs: the fast 2x2 and tiled paths against the
 * reference, bit for bit, forward (values) and backward (where the argmax sends dy). */
static void max_pool_specials(const char *spec, int batch) {
    printf("special values: %s (batch %d)\n", spec, batch);
    cnn_net *net = t_net(spec, 5);
    if (!T_CHECK(net != NULL, "building '%s'", spec)) return;
    if (!T_OK(net, cnn_net_prepare(net, batch))) goto out;
    cnn_shape is = cnn_net_input_shape(net, 0), os = cnn_net_output_shape(net);
    size_t in_n = (size_t)batch * cnn_shape_numel(&is), out_n = (size_t)batch * cnn_shape_numel(&os);
    float *x = malloc(in_n * sizeof(float)), *r = malloc(out_n * sizeof(float));
    float *y[2], *dx[2];
    /* Few distinct values, so that most windows hold ties; some infinities and NaNs. */
    const float values[] = {0.0f, -0.0f, 1.0f, -1.0f, 2.0f, INFINITY, -INFINITY, NAN, 1.0f, -1.0f};
    uint64_t s = 12345;
    for (size_t i = 0; i < in_n; i++) {
        s = s * 6364136223846793005ULL + 1442695040888963407ULL;
        x[i] = values[(s >> 33) % (sizeof values / sizeof values[0])];
    }
    /* Whole windows of -infinity and of NaN too. */
    for (size_t i = 0; i < 8 && i < in_n; i++) x[i] = -INFINITY;
    for (size_t i = 0; i < 8 && 64 + i < in_n; i++) x[64 + i] = NAN;
    t_fill(r, out_n, 9, -1.0f, 1.0f);
    for (int k = 0; k < 2; k++) {
        cnn_net_set_reference(net, k);
        y[k] = malloc(out_n * sizeof(float));
        dx[k] = malloc(in_n * sizeof(float));
        T_OK(net, cnn_net_forward(net, x, batch));
        memcpy(cnn_net_output_grad(net), r, out_n * sizeof(float));
        T_OK(net, cnn_net_backward(net));
        memcpy(y[k], cnn_net_output(net), out_n * sizeof(float));
        memcpy(dx[k], cnn_net_input_grad(net, 0), in_n * sizeof(float));
    }
    t_same_bits("fast vs reference: output", y[0], y[1], out_n);
    t_same_bits("fast vs reference: input gradient (the argmax)", dx[0], dx[1], in_n);
    for (int k = 0; k < 2; k++) {
        free(y[k]);
        free(dx[k]);
    }
    free(x);
    free(r);
out:
    cnn_net_free(net);
}

/* One training step of net on x (batch n, 2 threads, output gradient seed, `outputs` floats)
 * and one evaluation pass: the parameter gradients, the running statistics and the output
 * into out, in that order; their count. Frees net. */
static size_t step_and_pass(cnn_net *net, const float *x, int n, const float *seed,
                            size_t outputs, float *out) {
    size_t k = 0;
    T_OK(net, cnn_net_set_threads(net, 2));
    T_OK(net, cnn_net_prepare(net, n));
    cnn_net_set_training(net, 1);
    T_OK(net, cnn_net_forward(net, x, n));
    cnn_net_zero_grad(net);
    memcpy(cnn_net_output_grad(net), seed, outputs * sizeof *seed);
    T_OK(net, cnn_net_backward(net));
    memcpy(out + k, cnn_net_grads(net), cnn_net_param_count(net) * sizeof *out);
    k += cnn_net_param_count(net);
    if (cnn_net_state_count(net) > 0) { /* none: cnn_net_state is NULL */
        memcpy(out + k, cnn_net_state(net), cnn_net_state_count(net) * sizeof *out);
        k += cnn_net_state_count(net);
    }
    cnn_net_set_training(net, 0);
    T_OK(net, cnn_net_forward(net, x, n));
    memcpy(out + k, cnn_net_output(net), outputs * sizeof *out);
    k += outputs;
    cnn_net_free(net);
    return k;
}

/* step_and_pass on a network whose layers dispatch on the instruction set (Winograd's
 * transforms, batch norm, overlapping max pooling). */
static size_t isa_run(float *out) {
    cnn_net *net = t_net("input x - shape=16x12x12; conv2d c x out=16 kernel=3 padding=1;"
                         "batchnorm b -; relu r -; max_pool2d p - kernel=3 stride=2 padding=1;"
                         "conv2d c2 - out=16 kernel=3 padding=1; flatten f -; dense o - out=5",
                         17);
    /* Batch 8: 72 tiles in c2's 6x6 maps, enough for Winograd's kernels, as c's (fewer would
     * take the direct kernels, which the baseline level does not have). */
    enum { N = 8 };
    float x[N * 16 * 144], seed[N * 5];
    t_fill(x, sizeof x / sizeof *x, 4, -1, 1);
    t_fill(seed, N * 5, 5, -1, 1);
    return step_and_pass(net, x, N, seed, N * 5, out);
}

/* The direct kernels' products run 32 outputs at a time in 512-bit vectors at the AVX-512
 * level and 16 at a time in 256-bit ones at AVX2, each output's sum in the same order: the
 * same bits, and so does the forward pass along the channels, 12 outputs at a time instead of
 * 6. step_and_pass on four convolutions that take only them, at both levels: a strided
 * forward pass along the outputs; a stride-1 one and its data gradient; c3 (19 outputs a row)
 * along the channels at AVX2 but along the outputs at AVX-512 (the forms must agree too); c4
 * (15 a row) along the channels at both. */
static size_t direct_run(float *out) {
    cnn_net *net = t_net("input x - shape=3x45x45; conv2d c x out=8 kernel=7 stride=2 padding=3;"
                         "conv2d c2 - out=6 kernel=3 padding=1; conv2d c3 - out=16 kernel=5;"
                         "conv2d c4 - out=16 kernel=5",
                         23);
    enum { N = 2, Y = N * 16 * 15 * 15 };
    static float x[N * 3 * 45 * 45], seed[Y];
    t_fill(x, sizeof x / sizeof *x, 6, -1, 1);
    t_fill(seed, Y, 7, -1, 1);
    return step_and_pass(net, x, N, seed, Y, out);
}

static void direct_paths_agree(void) {
    if (cnn_isa() < CNN_ISA_AVX512) {
        printf("  (direct kernels at AVX-512 not run: level %s)\n", cnn_isa_name(cnn_isa()));
        return;
    }
    static float a[20000], b[20000];
    int level = cnn_isa();
    size_t n = direct_run(a);
    T_CHECK(n <= sizeof a / sizeof *a, "buffer");
    cnn_isa_set(CNN_ISA_AVX2);
    direct_run(b);
    cnn_isa_set(level);
    if (t_same_bits("direct kernels, AVX-512 against AVX2: gradients, outputs", a, b, n))
        printf("  ok direct kernels at AVX-512 and AVX2 agree bit for bit (%zu values)\n", n);
}

/* The code compiled for AVX2 and for the baseline gives the same bits (no contraction into
 * FMAs, the same order of operations), so results do not depend on the host's instruction set
 * as long as the same kernels (by shape) run. (Not so the AVX-512 level: its products are
 * sgemm512.c's, not OpenBLAS's, so the comparison holds a host that has it to AVX2; the other
 * checks of this file test the AVX-512 path against the reference layers.) */
static void isa_paths_agree(void) {
    if (cnn_isa() < CNN_ISA_AVX2) {
        printf("  (the baseline code only: %s)\n", cnn_isa_detected() < CNN_ISA_AVX2
                                                        ? "this CPU has no AVX2"
                                                        : "held there by --isa baseline");
        return;
    }
    static float a[40000], b[40000];
    int level = cnn_isa();
    cnn_isa_set(CNN_ISA_AVX2);
    size_t n = isa_run(a);
    T_CHECK(n <= sizeof a / sizeof *a, "buffer");
    cnn_isa_set(CNN_ISA_BASELINE);
    T_CHECK(cnn_isa() == CNN_ISA_BASELINE, "forced to the baseline");
    isa_run(b);
    cnn_isa_set(level);
    if (t_same_bits("AVX2 against baseline code: gradients, statistics, outputs", a, b, n))
        printf("  ok AVX2 and baseline code agree bit for bit (%zu values)\n", n);
}

int main(int argc, char **argv) {
    t_isa_option(&argc, &argv);
    threads_only = t_env_flag("CNN_TEST_THREADS_ONLY");
    if (threads_only) printf("CNN_TEST_THREADS_ONLY: no comparison with the reference kernels\n");
    const char *filter = argc > 1 ? argv[1] : NULL;
    if (!filter) isa_paths_agree();
    if (!filter) direct_paths_agree();
    for (size_t i = 0; i < N_CASES; i++)
        if (!filter || strstr(cases[i].spec, filter)) run_case(&cases[i]);
    if (!filter || strstr("max_pool2d", filter)) {
        max_pool_specials("input x - shape=3x8x10; max_pool2d l - kernel=2", 4);
        max_pool_specials("input x - shape=3x7x9; max_pool2d l - kernel=2", 4);
        max_pool_specials("input x - shape=3x9x9; max_pool2d l - kernel=3", 4);
        max_pool_specials("input x - shape=3x11x10; max_pool2d l - kernel=3 stride=2 padding=1", 4);
        max_pool_specials("input x - shape=3x9x9; max_pool2d l - kernel=3 stride=2 ceil_mode=1", 4);
        /* Strides 5 and 8 (the widest the segmented path takes) and 9 (the reference loops),
         * rows of more outputs than one segment (128). */
        max_pool_specials("input x - shape=2x11x23; max_pool2d l - kernel=5 padding=2", 3);
        max_pool_specials("input x - shape=2x9x1100; max_pool2d l - kernel=9x8 stride=1x8 padding=0x3", 3);
        max_pool_specials("input x - shape=2x10x30; max_pool2d l - kernel=9 stride=9 ceil_mode=1", 3);
    }
    return t_finish();
}

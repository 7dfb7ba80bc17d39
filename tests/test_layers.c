/*
 * test_layers.c - every registered layer, forward and backward, on small shapes:
 *   1. finite differences: the gradient of f = sum(y * r) (r a fixed random upstream gradient)
 *      with respect to every input and parameter element, central differences accumulated in
 *      double of the reference forward pass, against backward (the fast kernels' rounding,
 *      that of F(4x4, 3x3) Winograd in evaluation passes above all, is noise at the step of
 *      the differences; 3. checks the fast forward pass against the reference);
 *   2. accumulation: a second backward adds the same parameter gradient again;
 *   3. the fast kernels against the reference kernels;
 *   4. two threads against one: bit-identical.
 * The case table must cover every registered layer type: a new layer without a case fails.
 * Then hyper-parameters and shapes: configurations that must build (with their output shapes
 * and canonical arguments) and configurations that must be refused, and
 * cnn_net_pool_indices.
 * `test_layers WORD` runs only the cases whose spec contains WORD; `test_layers --isa baseline`
 * runs them with the kernels held to the baseline instruction set, whatever the CPU has.
 */
#include "testlib.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct layer_case {
    const char *spec; /* see t_net; the last layer is the one under test */
    int training;
    int batch;
} layer_case;

/* An input layer named INDICES holds max_unpool2d indices: it is filled with distinct valid
 * indices per plane (a collision would make the gather of backward differ from the
 * derivative) and left out of finite differences, its gradient checked to be zero. */
#define INDICES "idx"

static const layer_case cases[] = {
    {"input x - shape=3x5x6; conv2d l - out=4 kernel=3 padding=1", 0, 2},
    {"input x - shape=4x7x6; conv2d l - out=6 kernel=3x2 stride=2x1 padding=2x1 dilation=2x1 groups=2", 0, 2},
    {"input x - shape=3x6x6; conv2d l - out=3 kernel=3 groups=3 padding=same bias=0", 0, 2},
    {"input x - shape=4x3x3; conv2d l - out=2 kernel=1", 0, 2},
    {"input x - shape=2x5x5; conv2d l - out=2 kernel=4 padding=same", 0, 2},
    {"input x - shape=2x7x7; conv2d l - out=3 kernel=3 stride=3 padding=valid", 0, 2},
    {"input x - shape=2x9; conv1d l - out=3 kernel=3 dilation=2 padding=causal", 0, 2},
    {"input x - shape=4x10; conv1d l - out=2 kernel=4 stride=2 padding=1 groups=2", 0, 2},
    {"input x - shape=2x8; conv1d l - out=2 kernel=3 padding=same bias=0", 0, 2},
    {"input x - shape=4x3x4; conv_transpose2d l - out=4 kernel=3 stride=2 padding=1 output_padding=1 groups=2", 0, 2},
    {"input x - shape=2x3x3; conv_transpose2d l - out=3 kernel=2x3 stride=1x2 dilation=2", 0, 2},
    {"input x - shape=2x3x4; conv_transpose2d l - out=3 kernel=3 stride=2 padding=1:0x0:2 output_padding=1", 0, 2},
    {"input x - shape=2x6x7; max_pool2d l - kernel=3 stride=2 padding=1", 0, 2},
    {"input x - shape=2x4x6; max_pool2d l - kernel=2", 0, 2},
    {"input x - shape=2x5x5; avg_pool2d l - kernel=3 stride=2 padding=1 count_include_pad=0", 0, 2},
    {"input x - shape=2x5x5; avg_pool2d l - kernel=3 stride=2 padding=1", 0, 2},
    {"input x - shape=2x4x6; avg_pool2d l - kernel=2", 0, 2},
    {"input x - shape=2x4x5; l2_pool2d l - kernel=2 stride=2", 0, 2},
    {"input x - shape=3x4x5; global_avg_pool l -", 0, 2},
    {"input x - shape=3x4x5; global_max_pool l -", 0, 2},
    {"input x - shape=3x7; global_avg_pool l -", 0, 2},
    {"input x - shape=2x4x6; max_pool2d p - kernel=2; conv2d d - out=2 kernel=3 padding=1; "
     "max_unpool2d l d,p", 0, 2},
    /* Asymmetric padding (before:after per axis) on every kernel path: direct (few channels),
     * im2col (dilation, stride), Winograd (3x3 stride 1, 16 channels), conv1d. */
    {"input x - shape=3x5x6; conv2d l - out=4 kernel=3 padding=0:2x1:0", 0, 2},
    {"input x - shape=2x4x5; conv2d l - out=3 kernel=2 padding=3:0x0:2", 0, 2},
    {"input x - shape=3x6x5; conv2d l - out=4 kernel=3 stride=2 padding=1:0x0:2 "
     "dilation=2x1", 0, 2},
    {"input x - shape=4x5x5; conv2d l - out=4 kernel=2x3 padding=1:0 groups=2 bias=0", 0, 2},
    {"input x - shape=16x9x9; conv2d l - out=16 kernel=3 padding=0:2x2:0", 0, 2},
    {"input x - shape=2x9; conv1d l - out=3 kernel=3 stride=2 padding=2:1", 0, 2},
    {"input x - shape=2x6x7; max_pool2d l - kernel=3 stride=2 padding=0:1x1:0", 0, 2},
    {"input x - shape=2x5x6; max_pool2d l - kernel=2 padding=1:0x0:1 ceil_mode=1", 0, 2},
    {"input x - shape=2x5x6; avg_pool2d l - kernel=3 stride=2 padding=1:0x0:1", 0, 2},
    {"input x - shape=2x5x6; avg_pool2d l - kernel=3 stride=2 padding=1:0x0:1 "
     "count_include_pad=0", 0, 2},
    {"input x - shape=2x6x6; avg_pool2d l - kernel=3 stride=2 padding=0:1 ceil_mode=1", 0, 2},
    /* Dilated max pooling. */
    {"input x - shape=2x7x8; max_pool2d l - kernel=3 stride=2 padding=1 dilation=2", 0, 2},
    {"input x - shape=2x7x9; max_pool2d l - kernel=2x3 stride=2 dilation=2x1 ceil_mode=1", 0, 2},
    {"input x - shape=2x9x9; max_pool2d l - kernel=2 stride=1 dilation=3 padding=0:1", 0, 2},
    /* Adaptive pooling: windows that overlap (7 -> 3), that repeat rows (3 -> 5), global. */
    {"input x - shape=2x7x5; adaptive_avg_pool2d l - out=3x2", 0, 2},
    {"input x - shape=2x3x4; adaptive_avg_pool2d l - out=5x6", 0, 2},
    {"input x - shape=2x7x5; adaptive_max_pool2d l - out=3x2", 0, 2},
    {"input x - shape=2x4x3; adaptive_max_pool2d l - out=7x4", 0, 2},
    {"input x - shape=3x5x6; adaptive_max_pool2d l - out=1", 0, 2},
    {"input x - shape=2x6x4; adaptive_max_pool2d p - out=3x2; max_unpool2d l p,p", 0, 2},
    /* max_unpool2d with indices from the caller. */
    {"input x - shape=2x3x4; input idx - shape=2x3x4; max_unpool2d l x,idx size=6x8", 0, 2},
    {"input x - shape=2x3x3; input idx - shape=2x3x3; max_unpool2d l x,idx kernel=3 stride=2 "
     "padding=1", 0, 2},
    {"input x - shape=7; dense l - out=5", 0, 3},
    {"input x - shape=6; dense l - out=4 bias=0 init=xavier_uniform", 0, 2},
    {"input x - shape=2x3x3; flatten l -; dense d - out=3", 0, 2},
    {"input x - shape=2x3x4; relu l -", 0, 2},
    {"input x - shape=2x3x4; leaky_relu l - slope=0.1", 0, 2},
    {"input x - shape=2x3x4; elu l - alpha=0.7", 0, 2},
    {"input x - shape=2x3x4; sigmoid l -", 0, 2},
    {"input x - shape=2x3x4; tanh l -", 0, 2},
    {"input x - shape=5; softmax l -", 0, 2},
    {"input x - shape=4x3x2; softmax l -", 0, 2},
    {"input x - shape=10; dropout l - p=0.3", 0, 2},
    {"input x - shape=3x4x4; batchnorm l -", 1, 3},
    {"input x - shape=3x4x4; batchnorm l -", 0, 2},
    {"input x - shape=6; batchnorm l - affine=0", 1, 4},
    {"input x - shape=3x7; batchnorm l - eps=0.001", 1, 2},
    {"input a - shape=2x3x3; input b - shape=2x3x3; add l a,b", 0, 2},
    {"input x - shape=2x3x3; tanh r x; add l x,r", 0, 2},
    {"input a - shape=2x3x3; input b - shape=3x3x3; concat l a,b", 0, 2},
    {"input a - shape=2x5; input b - shape=1x5; input c - shape=2x5; concat l a,b,c", 0, 2},
    /* Inputs with two consumers: the first to run backward writes the gradient, the second
     * adds (an element-wise layer, pooling; an input given twice). */
    {"input x - shape=2x3x4; relu a x; tanh b x; add l a,b", 0, 2},
    {"input x - shape=2x4x6; relu r x; max_pool2d p x kernel=2; upsample u p scale=2; "
     "add l r,u", 0, 2},
    {"input x - shape=2x3x3; sigmoid s x; add l s,s", 0, 2},
    {"input a - shape=2x3x3; input b - shape=2x3x3; mean l a,b", 0, 2},
    {"input x - shape=2x3x4; relu a x; tanh b x; sigmoid c x; mean l a,b,c", 0, 2},
    {"input x - shape=2x3x3; sigmoid s x; mean l s,x,s", 0, 2},
    {"input x - shape=2x3x4; upsample l - scale=2", 0, 2},
    {"input x - shape=2x3x2; upsample l - scale=2x3", 0, 2},
    {"input x - shape=2x6; upsample l - scale=3", 0, 2},
};
#define N_CASES (sizeof cases / sizeof cases[0])

/* Everything one pass produces: the output, the gradients of the inputs and parameters. */
typedef struct pass {
    float *y, *dw, *dx[8];
} pass;

typedef struct bench {
    cnn_net *net;
    int batch, n_in;
    size_t in_n[8], out_n, n_params;
    float *x[8], *r;
} bench;

static double objective(bench *b) {
    const float *xs[8];
    for (int i = 0; i < b->n_in; i++) xs[i] = b->x[i];
    if (cnn_net_forward_multi(b->net, xs, b->n_in, b->batch)) return NAN;
    const float *y = cnn_net_output(b->net);
    double f = 0.0;
    for (size_t i = 0; i < b->out_n; i++) f += (double)y[i] * b->r[i];
    return f;
}

static void run_pass(bench *b, pass *p) {
    cnn_net_zero_grad(b->net);
    objective(b);
    memcpy(cnn_net_output_grad(b->net), b->r, b->out_n * sizeof(float));
    T_OK(b->net, cnn_net_backward(b->net));
    memcpy(p->y, cnn_net_output(b->net), b->out_n * sizeof(float));
    if (b->n_params) memcpy(p->dw, cnn_net_grads(b->net), b->n_params * sizeof(float));
    for (int i = 0; i < b->n_in; i++)
        memcpy(p->dx[i], cnn_net_input_grad(b->net, i), b->in_n[i] * sizeof(float));
}

static void pass_alloc(bench *b, pass *p) {
    p->y = calloc(b->out_n, sizeof(float));
    p->dw = calloc(b->n_params + 1, sizeof(float));
    for (int i = 0; i < b->n_in; i++) p->dx[i] = calloc(b->in_n[i], sizeof(float));
}

static void pass_free(bench *b, pass *p) {
    free(p->y);
    free(p->dw);
    for (int i = 0; i < b->n_in; i++) free(p->dx[i]);
}

/* Central differences of the reference forward pass for up to 300 elements of v (evenly
 * spread), against the analytic g. */
static void check_fd(bench *b, const char *what, float *v, size_t n, const float *g) {
    const float h = 1e-3f;
    cnn_net_set_reference(b->net, 1);
    size_t step = n > 300 ? n / 300 + 1 : 1, bad = 0, checked = 0, worst = 0;
    double worst_excess = -1, worst_num = 0;
    for (size_t i = 0; i < n; i += step) {
        float saved = v[i];
        v[i] = saved + h;
        double fp = objective(b);
        v[i] = saved - h;
        double fm = objective(b);
        v[i] = saved;
        double num = (fp - fm) / (2.0 * h);
        double tol = 3e-3 + 2e-2 * fabs(num);
        double excess = fabs(num - g[i]) - tol;
        if (!(excess <= 0)) bad++;
        if (excess > worst_excess || excess != excess) {
            worst_excess = excess;
            worst = i;
            worst_num = num;
        }
        checked++;
    }
    cnn_net_set_reference(b->net, 0);
    T_CHECK(bad == 0, "%s: %zu of %zu finite differences disagree; worst at %zu: numeric %.6g, "
            "backward %.6g", what, bad, checked, worst, worst_num, (double)g[worst]);
    if (!bad) printf("  ok finite differences %-24s %zu elements\n", what, checked);
}

/* planes planes of n indices each, distinct within a plane, in [0, range) (n <= range), as
 * floats: a partial Fisher-Yates shuffle of 0 .. range-1 per plane. */
static void fill_indices(float *x, int planes, size_t n, size_t range, uint64_t seed) {
    size_t *perm = malloc(range * sizeof *perm);
    for (int p = 0; p < planes; p++) {
        for (size_t k = 0; k < range; k++) perm[k] = k;
        for (size_t k = 0; k < n; k++) {
            seed = seed * 6364136223846793005ULL + 1442695040888963407ULL;
            size_t j = k + (size_t)(seed >> 33) % (range - k), t = perm[k];
            perm[k] = perm[j];
            perm[j] = t;
            x[(size_t)p * n + k] = (float)perm[k];
        }
    }
    free(perm);
}

static void run_case(const layer_case *lc) {
    printf("case: %s (training %d, batch %d)\n", lc->spec, lc->training, lc->batch);
    bench b = {.batch = lc->batch};
    b.net = t_net(lc->spec, 7);
    if (!T_CHECK(b.net != NULL, "building '%s'", lc->spec)) return;
    cnn_net_set_training(b.net, lc->training);
    if (!T_OK(b.net, cnn_net_prepare(b.net, lc->batch))) goto out;
    b.n_in = cnn_net_input_count(b.net);
    for (int i = 0; i < b.n_in; i++) {
        cnn_shape s = cnn_net_input_shape(b.net, i);
        b.in_n[i] = (size_t)lc->batch * cnn_shape_numel(&s);
        b.x[i] = malloc(b.in_n[i] * sizeof(float));
        t_fill_away_from_zero(b.x[i], b.in_n[i], 100 + (uint64_t)i);
    }
    cnn_shape os = cnn_net_output_shape(b.net);
    b.out_n = (size_t)lc->batch * cnn_shape_numel(&os);
    b.r = malloc(b.out_n * sizeof(float));
    t_fill(b.r, b.out_n, 200, -1.0f, 1.0f);
    b.n_params = cnn_net_param_count(b.net);
    /* Parameters away from zero too, so that biases and scales are exercised. */
    t_fill_away_from_zero(cnn_net_params(b.net), b.n_params, 300);

    /* The input layers are the layers of type input, in order. */
    int indices = -1;
    for (int l = 0, i = 0; l < cnn_net_layer_count(b.net); l++)
        if (strcmp(cnn_net_layer_type(b.net, l), "input") == 0) {
            if (strcmp(cnn_net_layer_name(b.net, l), INDICES) == 0) indices = i;
            i++;
        }
    if (indices >= 0) {
        cnn_shape is = cnn_net_input_shape(b.net, indices);
        fill_indices(b.x[indices], lc->batch * is.dim[0], cnn_shape_numel(&is) / is.dim[0],
                     (size_t)os.dim[1] * os.dim[2], 400);
    }

    pass fast, twice, ref, two;
    pass_alloc(&b, &fast);
    pass_alloc(&b, &twice);
    pass_alloc(&b, &ref);
    pass_alloc(&b, &two);
    run_pass(&b, &fast);

    /* 1. Finite differences. */
    char what[64];
    for (int i = 0; i < b.n_in; i++) {
        if (i == indices) {
            size_t nonzero = 0;
            for (size_t k = 0; k < b.in_n[i]; k++) nonzero += fast.dx[i][k] != 0.0f;
            T_CHECK(nonzero == 0, "the indices input %d has %zu non-zero gradients", i, nonzero);
            continue;
        }
        snprintf(what, sizeof what, "input %d", i);
        check_fd(&b, what, b.x[i], b.in_n[i], fast.dx[i]);
    }
    if (b.n_params) check_fd(&b, "parameters", cnn_net_params(b.net), b.n_params, fast.dw);

    /* 2. Accumulation: backward again without zeroing. */
    if (b.n_params) {
        objective(&b);
        memcpy(cnn_net_output_grad(b.net), b.r, b.out_n * sizeof(float));
        T_OK(b.net, cnn_net_backward(b.net));
        float *dw2 = cnn_net_grads(b.net);
        float *expect = malloc(b.n_params * sizeof(float));
        for (size_t i = 0; i < b.n_params; i++) expect[i] = 2.0f * fast.dw[i];
        t_close("accumulated parameter gradient", dw2, expect, b.n_params, 1e-6, 1e-5);
        free(expect);
    }

    /* 3. Reference kernels. */
    cnn_net_set_reference(b.net, 1);
    run_pass(&b, &ref);
    cnn_net_set_reference(b.net, 0);
    t_close("fast vs reference: output", fast.y, ref.y, b.out_n, 1e-5, 1e-4);
    t_close("fast vs reference: parameter gradient", fast.dw, ref.dw, b.n_params, 1e-5, 1e-4);
    for (int i = 0; i < b.n_in; i++)
        t_close("fast vs reference: input gradient", fast.dx[i], ref.dx[i], b.in_n[i], 1e-5, 1e-4);

    /* 4. Two threads give the same bits. */
    T_OK(b.net, cnn_net_set_threads(b.net, 2));
    run_pass(&b, &two);
    T_OK(b.net, cnn_net_set_threads(b.net, 1));
    run_pass(&b, &twice);
    t_same_bits("2 threads vs 1: output", two.y, twice.y, b.out_n);
    t_same_bits("2 threads vs 1: parameter gradient", two.dw, twice.dw, b.n_params);
    for (int i = 0; i < b.n_in; i++)
        t_same_bits("2 threads vs 1: input gradient", two.dx[i], twice.dx[i], b.in_n[i]);

    pass_free(&b, &fast);
    pass_free(&b, &twice);
    pass_free(&b, &ref);
    pass_free(&b, &two);
    for (int i = 0; i < b.n_in; i++) free(b.x[i]);
    free(b.r);
out:
    cnn_net_free(b.net);
}

/* Is layer type `type` the type of some line of some case? */
static int covered(const char *type) {
    char word[72];
    snprintf(word, sizeof word, "%s ", type);
    for (size_t i = 0; i < N_CASES; i++) {
        const char *s = cases[i].spec;
        for (const char *p = s; (p = strstr(p, word)); p++)
            if (p == s || p[-1] == ' ' || p[-1] == ';') return 1;
    }
    return 0;
}

/* ---------------------------------------------------------------------------------------------
 * Hyper-parameters and shapes
 * ------------------------------------------------------------------------------------------- */

typedef struct config_case {
    const char *base;                /* the layers before, as for t_net */
    const char *type, *inputs, *args; /* the layer added last (inputs NULL: the previous one) */
    const char *shape; /* its output shape when it must build; NULL: it must be refused */
    const char *text;  /* built: a part of its canonical arguments; refused: of the message */
} config_case;

static const config_case configs[] = {
    /* Explicit paddings, before:after per axis; symmetric ones print as before. */
    {"input x - shape=3x8x8", "conv2d", NULL, "out=2 kernel=3 padding=1:2x0:1", "2x9x7",
     "padding=1:2x0:1 "},
    {"input x - shape=3x8x8", "conv2d", NULL, "out=2 kernel=3 padding=1:1x2:2", "2x8x10",
     "padding=1x2 "},
    {"input x - shape=3x8x8", "conv2d", NULL, "out=2 kernel=3 padding=1:2", "2x9x9",
     "padding=1:2 "},
    {"input x - shape=3x8x8", "conv2d", NULL, "out=2 kernel=3 padding=2x0:1", "2x10x7",
     "padding=2x0:1 "},
    {"input x - shape=3x8x8", "conv2d", NULL, "out=2 kernel=3 padding=1", "2x8x8",
     "padding=1 "},
    {"input x - shape=2x10", "conv1d", NULL, "out=2 kernel=4 padding=3:0", "2x10",
     "padding=3:0 "},
    {"input x - shape=2x6x7", "max_pool2d", NULL, "kernel=3 stride=2 padding=0:1x1:0", "2x3x3",
     "padding=0:1x1:0 "},
    {"input x - shape=2x6x7", "avg_pool2d", NULL, "kernel=2 padding=valid", "2x3x3",
     "padding=valid "},
    {"input x - shape=1x7x7", "max_pool2d", NULL, "kernel=3 stride=1 dilation=2", "1x3x3",
     "dilation=2 "},
    /* ceil_mode: a last window may start in the padding before the input, not after it. */
    {"input x - shape=1x4x4", "max_pool2d", NULL, "kernel=2 padding=0:1 ceil_mode=1", "1x2x2",
     "ceil_mode=1"},
    {"input x - shape=1x4x4", "max_pool2d", NULL, "kernel=2 padding=1:0 ceil_mode=1", "1x3x3",
     "ceil_mode=1"},
    {"input x - shape=2x7x5", "adaptive_avg_pool2d", NULL, "out=3x2", "2x3x2", "out=3x2"},
    {"input x - shape=2x3x3", "adaptive_max_pool2d", NULL, "out=4", "2x4x4", "out=4"},
    {"input x - shape=2x6x4; adaptive_max_pool2d p - out=3x2", "max_unpool2d", "p,p", "",
     "2x6x4", "size=0 "},
    {"input x - shape=2x3x4; input i - shape=2x3x4", "max_unpool2d", "x,i", "size=6x8", "2x6x8",
     "size=6x8 "},
    {"input x - shape=2x3x4; input i - shape=2x3x4", "max_unpool2d", "x,i", "kernel=2", "2x6x8",
     "stride=2 "},
    {"input x - shape=2x3x3; input i - shape=2x3x3", "max_unpool2d", "x,i",
     "kernel=3 stride=2 padding=1", "2x5x5", "padding=1"},
    /* Refused. */
    {"input x - shape=3x8x8", "conv2d", NULL, "out=2 kernel=3 padding=1:2:3", NULL, "bad value"},
    {"input x - shape=3x8x8", "conv2d", NULL, "out=2 kernel=3 padding=1:", NULL, "bad value"},
    {"input x - shape=3x8x8", "conv2d", NULL, "out=2 kernel=3 padding=-1:0", NULL, "bad value"},
    {"input x - shape=3x8x8", "conv2d", NULL, "out=2 kernel=3 padding=1x", NULL, "bad value"},
    {"input x - shape=3x8x8", "conv2d", NULL, "out=2 kernel=3 padding=1x2x3", NULL, "bad value"},
    {"input x - shape=2x10", "conv1d", NULL, "out=2 kernel=3 padding=1x2", NULL,
     "two-dimensional"},
    {"input x - shape=2x6x7", "max_pool2d", NULL, "kernel=3 padding=2:0", NULL,
     "more than half"},
    {"input x - shape=2x6x7", "max_pool2d", NULL, "kernel=3 padding=same", NULL,
     "for convolutions"},
    {"input x - shape=2x6x7", "max_pool2d", NULL, "kernel=3 dilation=0", NULL,
     "dilation must be positive"},
    {"input x - shape=2x6x7", "avg_pool2d", NULL, "kernel=3 dilation=2", NULL, "unknown key"},
    {"input x - shape=1x2x2", "max_pool2d", NULL, "kernel=2 stride=2 padding=1 dilation=3", NULL,
     "no tap inside the input"},
    {"input x - shape=1x4x4", "max_pool2d", NULL, "kernel=3 dilation=2", NULL, "larger than"},
    {"input x - shape=2x6x7", "adaptive_avg_pool2d", NULL, "out=0x2", NULL, "at least 1x1"},
    {"input x - shape=2x6x7", "adaptive_max_pool2d", NULL, "", NULL, "missing required key"},
    {"input x - shape=2x7", "adaptive_max_pool2d", NULL, "out=2", NULL, "needs an input"},
    {"input x - shape=2x3x4; input i - shape=2x3x4", "max_unpool2d", "x,i", "", NULL,
     "needs size"},
    {"input x - shape=2x3x4; input i - shape=2x3x4", "max_unpool2d", "x,i", "size=6x8 kernel=2",
     NULL, "not both"},
    {"input x - shape=2x3x4; input i - shape=2x3x5", "max_unpool2d", "x,i", "size=6x8", NULL,
     "must match"},
    {"input x - shape=2x4x4; max_pool2d p - kernel=2", "max_unpool2d", "p,p", "size=4x4", NULL,
     "are for indices"},
    {"input x - shape=2x3x4; input i - shape=2x3x4", "max_unpool2d", "x,i", "size=5000x5000",
     NULL, "float indices"},
};

static void config_checks(void) {
    for (size_t k = 0; k < sizeof configs / sizeof configs[0]; k++) {
        const config_case *cc = &configs[k];
        cnn_net *net = t_net(cc->base, 1);
        if (!T_CHECK(net != NULL, "building '%s'", cc->base)) continue;
        cnn_status st = cnn_add(net, cc->type, "l", cc->inputs, cc->args);
        const char *msg = cnn_net_last_error(net);
        if (cc->shape) {
            char sh[64], args[512];
            if (T_OK(net, st)) {
                int l = cnn_net_find(net, "l");
                cnn_shape s = cnn_net_layer_shape(net, l);
                cnn_net_layer_args(net, l, args, sizeof args);
                strcat(args, " ");
                T_CHECK(strcmp(cnn_shape_str(&s, sh, sizeof sh), cc->shape) == 0,
                        "%s %s: shape %s, want %s", cc->type, cc->args, sh, cc->shape);
                T_CHECK(strstr(args, cc->text) != NULL, "%s %s: arguments '%s' lack '%s'",
                        cc->type, cc->args, args, cc->text);
                /* The canonical arguments build the same layer. */
                cnn_net *again = t_net(cc->base, 1);
                T_CHECK(again && cnn_add(again, cc->type, "l", cc->inputs, args) == 0,
                        "%s: its arguments '%s' do not read back", cc->type, args);
                cnn_net_free(again);
            }
        } else {
            T_CHECK(st != CNN_STATUS_OK && strstr(msg, cc->text) != NULL,
                    "%s %s: refused with a message containing '%s', got status %d, '%s'",
                    cc->type, cc->args, cc->text, (int)st, msg);
        }
        cnn_net_free(net);
    }
    printf("  ok %zu configurations\n", sizeof configs / sizeof configs[0]);
}

/* Max pooling with the new options (dilation, padding before:after) on ties, infinities and
 * NaNs, on shapes that reach every fast path (2x2 tiles, segments of 128 outputs, strides up
 * to 8): values, argmax (cnn_net_pool_indices) and gradient of the fast kernels against the
 * reference, bit for bit; in training passes, which keep the argmax as they go, and in
 * evaluation passes, which compute the values alone and find the argmax when asked. */
static float float_of_bits(uint32_t bits) {
    float f;
    memcpy(&f, &bits, sizeof f);
    return f;
}

static void max_pool_specials_pass(const char *spec, int batch, int training, int signs) {
    printf("special values: %s (batch %d, %s%s)\n", spec, batch,
           training ? "training" : "evaluation", signs ? ", zeros and NaNs" : "");
    cnn_net *net = t_net(spec, 5);
    if (!T_CHECK(net != NULL, "building '%s'", spec)) return;
    if (!T_OK(net, cnn_net_prepare(net, batch))) goto out;
    cnn_net_set_training(net, training);
    cnn_shape is = cnn_net_input_shape(net, 0), os = cnn_net_output_shape(net);
    size_t in_n = (size_t)batch * cnn_shape_numel(&is);
    size_t out_n = (size_t)batch * cnn_shape_numel(&os);
    float *x = malloc(in_n * sizeof(float)), *r = malloc(out_n * sizeof(float));
    float *y[2], *dx[2];
    int64_t *idx[2];
    /* Few distinct values, so that most windows hold ties; some infinities and NaNs. With
     * signs, windows whose maximum is 0 or -0, and NaNs of two payloads, so that the bits
     * tell which of the window's zeros or NaNs a kernel took: the reference's scan takes the
     * first maximum and the last NaN in row-major order. */
    const float mixed[] = {0.0f, -0.0f, 1.0f, -1.0f, 2.0f, INFINITY, -INFINITY, NAN, 1.0f, -1.0f};
    const float zeros[] = {0.0f, -0.0f, -0.0f, 0.0f, -1.0f, -INFINITY, -0.0f, 0.0f,
                           float_of_bits(0x7fc00001u), float_of_bits(0xffc00002u)};
    const float *values = signs ? zeros : mixed;
    uint64_t s = 54321;
    for (size_t i = 0; i < in_n; i++) {
        s = s * 6364136223846793005ULL + 1442695040888963407ULL;
        uint64_t v = (s >> 33) % 40; /* with signs, each NaN one cell in 40 */
        x[i] = values[!signs ? v % 10 : v < 38 ? v % 8 : 8 + (v - 38)];
    }
    for (size_t i = 0; i < 12 && i < in_n; i++) x[i] = -INFINITY;
    t_fill(r, out_n, 9, -1.0f, 1.0f);
    int last = cnn_net_layer_count(net) - 1;
    for (int k = 0; k < 2; k++) {
        cnn_net_set_reference(net, k);
        y[k] = malloc(out_n * sizeof(float));
        dx[k] = malloc(in_n * sizeof(float));
        idx[k] = malloc(out_n * sizeof(int64_t));
        T_OK(net, cnn_net_forward(net, x, batch));
        memcpy(y[k], cnn_net_output(net), out_n * sizeof(float)); /* before finding the argmax */
        T_OK(net, cnn_net_pool_indices(net, last, idx[k]));
        memcpy(cnn_net_output_grad(net), r, out_n * sizeof(float));
        T_OK(net, cnn_net_backward(net));
        t_same_bits("the output after finding the argmax", y[k], cnn_net_output(net), out_n);
        memcpy(dx[k], cnn_net_input_grad(net, 0), in_n * sizeof(float));
    }
    t_same_bits("fast vs reference: output", y[0], y[1], out_n);
    t_same_bits("fast vs reference: input gradient (the argmax)", dx[0], dx[1], in_n);
    T_CHECK(memcmp(idx[0], idx[1], out_n * sizeof(int64_t)) == 0,
            "fast vs reference: the indices differ");
    for (int k = 0; k < 2; k++) {
        free(y[k]);
        free(dx[k]);
        free(idx[k]);
    }
    free(x);
    free(r);
out:
    cnn_net_free(net);
}

static void max_pool_specials(const char *spec, int batch) {
    for (int training = 0; training < 2; training++)
        for (int signs = 0; signs < 2; signs++)
            max_pool_specials_pass(spec, batch, training, signs);
}

/* cnn_net_pool_indices against a brute-force argmax, and its indices fed back to max_unpool2d
 * as an input: the same output as max_unpool2d on the pool layer itself. */
static void pool_indices_checks(void) {
    const int N = 2, C = 3, H = 7, W = 8, OH = 3, OW = 3;
    cnn_net *net = t_net("input x - shape=3x7x8; max_pool2d p - kernel=3 stride=2 padding=1:0x0:1 "
                         "dilation=1x2; max_unpool2d u p,p; adaptive_max_pool2d a x out=3x2", 1);
    cnn_net *net2 = t_net("input x - shape=3x3x3; input i - shape=3x3x3; "
                          "max_unpool2d u x,i size=7x8", 1);
    if (!T_CHECK(net && net2, "building the index networks")) goto out;
    int p = cnn_net_find(net, "p"), u = cnn_net_find(net, "u"), a = cnn_net_find(net, "a");
    int64_t idx[2 * 3 * 3 * 3];
    T_CHECK(cnn_net_pool_indices(net, p, idx) == CNN_STATUS_STATE, "indices before prepare");
    T_OK(net, cnn_net_prepare(net, N));
    T_OK(net2, cnn_net_prepare(net2, N));
    T_CHECK(cnn_net_pool_indices(net, p, idx) == CNN_STATUS_STATE, "indices before forward");
    float x[2 * 3 * 7 * 8];
    t_fill(x, sizeof x / sizeof x[0], 5, -1.0f, 1.0f);
    T_OK(net, cnn_net_forward(net, x, N));
    T_OK(net, cnn_net_pool_indices(net, p, idx));
    T_CHECK(cnn_net_pool_indices(net, u, idx) == CNN_STATUS_INVALID_ARGUMENT, "unpool layer");
    T_CHECK(cnn_net_pool_indices(net, 99, idx) == CNN_STATUS_INVALID_ARGUMENT, "no such layer");
    /* Brute force: windows rows 2i - 1 + u, columns 2j + 2v (u, v < 3), inside the input. */
    size_t bad = 0;
    for (int q = 0; q < N * C; q++)
        for (int i = 0; i < OH; i++)
            for (int j = 0; j < OW; j++) {
                int best = -1;
                for (int du = 0; du < 3; du++)
                    for (int dv = 0; dv < 3; dv++) {
                        int h = 2 * i - 1 + du, w = 2 * j + 2 * dv;
                        if (h < 0 || h >= H || w >= W) continue;
                        if (best < 0 || x[q * H * W + h * W + w] > x[q * H * W + best])
                            best = h * W + w;
                    }
                bad += idx[(q * OH + i) * OW + j] != best;
            }
    T_CHECK(bad == 0, "%zu pool indices differ from the brute-force argmax", bad);
    /* Fed back as floats. */
    float fidx[2 * 3 * 3 * 3];
    for (size_t k = 0; k < sizeof fidx / sizeof fidx[0]; k++) fidx[k] = (float)idx[k];
    const float *xs[2] = {cnn_net_layer_output(net, p), fidx};
    T_OK(net2, cnn_net_forward_multi(net2, xs, 2, N));
    t_same_bits("unpool with the caller's indices = unpool with the pool's",
                cnn_net_output(net2), cnn_net_layer_output(net, u), (size_t)N * C * H * W);
    /* Adaptive max pooling: brute force over its windows. */
    int64_t aidx[2 * 3 * 3 * 2];
    T_OK(net, cnn_net_pool_indices(net, a, aidx));
    bad = 0;
    for (int q = 0; q < N * C; q++)
        for (int i = 0; i < 3; i++)
            for (int j = 0; j < 2; j++) {
                int h0 = i * H / 3, h1 = ((i + 1) * H + 2) / 3;
                int w0 = j * W / 2, w1 = (j + 1) * W / 2;
                int best = h0 * W + w0;
                for (int h = h0; h < h1; h++)
                    for (int w = w0; w < w1; w++)
                        if (x[q * H * W + h * W + w] > x[q * H * W + best]) best = h * W + w;
                bad += aidx[(q * 3 + i) * 2 + j] != best;
            }
    T_CHECK(bad == 0, "%zu adaptive pool indices differ from the brute-force argmax", bad);
    printf("  ok pool indices\n");
out:
    cnn_net_free(net);
    cnn_net_free(net2);
}

/* Indices given by the caller to max_unpool2d must be integers in the output plane: a bad one
 * fails the forward pass naming the layer and the value (PyTorch raises), never dropped. */
static void unpool_bad_indices(void) {
    cnn_net *net = t_net("input x - shape=1x2x2; input idx - shape=1x2x2; "
                         "max_unpool2d u x,idx size=3x3", 1);
    if (!net || !T_OK(net, cnn_net_prepare(net, 1))) return;
    float x[4] = {1, 2, 3, 4}, good[4] = {0, 4, 8, 2}, bad[4] = {0, 4, 9, 2}, half[4] = {0, 1.5f, 3, 5};
    const float *in[2] = {x, good};
    T_OK(net, cnn_net_forward_multi(net, in, 2, 1));
    const float *y = cnn_net_output(net);
    T_CHECK(y[0] == 1 && y[4] == 2 && y[8] == 3 && y[2] == 4, "given indices place the values");
    in[1] = bad;
    T_CHECK(cnn_net_forward_multi(net, in, 2, 1) == CNN_STATUS_INVALID_ARGUMENT &&
                strstr(cnn_net_last_error(net), "'u'") && strstr(cnn_net_last_error(net), "index 9"),
            "index 9 of a 3x3 plane refused: %s", cnn_net_last_error(net));
    in[1] = half;
    T_CHECK(cnn_net_forward_multi(net, in, 2, 1) == CNN_STATUS_INVALID_ARGUMENT &&
                strstr(cnn_net_last_error(net), "index 1.5"),
            "index 1.5 refused: %s", cnn_net_last_error(net));
    cnn_net_free(net);
}

/* Asymmetric padding of a transposed convolution removes rows and columns of the full output
 * (ONNX ConvTranspose's pads; PyTorch's padding is the symmetric case): padding=T:BxL:R gives
 * the output of padding=0 without its first T rows, last B rows, first L and last R columns. */
static void convt_asymmetric_crop(void) {
    const char *base = "input x - shape=2x4x5; conv_transpose2d l - out=3 kernel=3 stride=2 "
                       "dilation=1x2 output_padding=1 padding=";
    char spec[256];
    snprintf(spec, sizeof spec, "%s0", base);
    cnn_net *full = t_net(spec, 3);
    snprintf(spec, sizeof spec, "%s2:1x0:3", base);
    cnn_net *crop = t_net(spec, 3);
    if (!full || !crop || !T_OK(full, cnn_net_prepare(full, 2)) || !T_OK(crop, cnn_net_prepare(crop, 2)))
        return;
    memcpy(cnn_net_params(crop), cnn_net_params(full), cnn_net_param_count(full) * sizeof(float));
    float x[2 * 2 * 4 * 5];
    t_fill(x, sizeof x / sizeof *x, 11, -1, 1);
    T_OK(full, cnn_net_forward(full, x, 2));
    T_OK(crop, cnn_net_forward(crop, x, 2));
    cnn_shape f = cnn_net_output_shape(full), c = cnn_net_output_shape(crop);
    T_CHECK(c.dim[1] == f.dim[1] - 3 && c.dim[2] == f.dim[2] - 3, "cropped shape %dx%d of %dx%d",
            c.dim[1], c.dim[2], f.dim[1], f.dim[2]);
    const float *yf = cnn_net_output(full), *yc = cnn_net_output(crop);
    int bad = 0;
    for (int n = 0; n < 2 * 3; n++)
        for (int i = 0; i < c.dim[1]; i++)
            for (int j = 0; j < c.dim[2]; j++)
                bad += yc[(n * c.dim[1] + i) * c.dim[2] + j] !=
                       yf[(n * f.dim[1] + i + 2) * f.dim[2] + j];
    T_CHECK(bad == 0, "padding 2:1x0:3 is the full output cropped (%d values differ)", bad);
    cnn_net_free(full);
    cnn_net_free(crop);
}

int main(int argc, char **argv) {
    t_isa_option(&argc, &argv);
    const char *filter = argc > 1 ? argv[1] : NULL;
    for (size_t i = 0; i < N_CASES; i++)
        if (!filter || strstr(cases[i].spec, filter)) run_case(&cases[i]);
    if (!filter) {
        config_checks();
        pool_indices_checks();
        unpool_bad_indices();
        convt_asymmetric_crop();
        max_pool_specials("input x - shape=2x5x300; max_pool2d l - kernel=3 stride=2 "
                          "padding=1:0x0:1 dilation=1x2", 2);
        max_pool_specials("input x - shape=2x4x270; max_pool2d l - kernel=2x3 stride=1x2 "
                          "padding=1:0x1", 2);
        max_pool_specials("input x - shape=3x9x11; max_pool2d l - kernel=3 stride=2 padding=1 "
                          "dilation=2", 3);
        max_pool_specials("input x - shape=2x8x40; max_pool2d l - kernel=4x9 stride=1x3 "
                          "dilation=2x3 padding=2x0:4", 2);
        max_pool_specials("input x - shape=2x6x300; max_pool2d l - kernel=2 padding=0:1 "
                          "ceil_mode=1", 2);
        /* Windows of -infinity that start in the padding: the argmax is the first tap inside
         * the input (column 1 here), as PyTorch's. */
        max_pool_specials("input x - shape=1x3x40; max_pool2d l - kernel=1x5 stride=1x2 "
                          "dilation=1x3 padding=0x2", 1);
        max_pool_specials("input x - shape=2x7x9; max_pool2d l - kernel=3 stride=2x9 "
                          "dilation=2x1 padding=0:1", 2);
        /* ResNet's stem pooling, over two segments of a row; 2x2 tiles. */
        max_pool_specials("input x - shape=2x9x300; max_pool2d l - kernel=3 stride=2 padding=1",
                          2);
        max_pool_specials("input x - shape=2x6x40; max_pool2d l - kernel=2", 2);
    }
    if (!filter)
        for (int i = 0; i < cnn_layer_type_count(); i++)
            T_CHECK(covered(cnn_layer_type_name(i)), "layer type '%s' has no test case",
                    cnn_layer_type_name(i));
    return t_finish();
}

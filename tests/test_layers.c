/*
 * test_layers.c - every registered layer, forward and backward, on small shapes:
 *   1. finite differences: the gradient of f = sum(y * r) (r a fixed random upstream gradient)
 *      with respect to every input and parameter element, central differences accumulated in
 *      double, against backward;
 *   2. accumulation: a second backward adds the same parameter gradient again;
 *   3. the fast kernels against the reference kernels;
 *   4. two threads against one: bit-identical.
 * The case table must cover every registered layer type: a new layer without a case fails.
 * `test_layers WORD` runs only the cases whose spec contains WORD.
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

/* Central differences for up to 300 elements of v (evenly spread), against the analytic g. */
static void check_fd(bench *b, const char *what, float *v, size_t n, const float *g) {
    const float h = 1e-3f;
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
    T_CHECK(bad == 0, "%s: %zu of %zu finite differences disagree; worst at %zu: numeric %.6g, "
            "backward %.6g", what, bad, checked, worst, worst_num, (double)g[worst]);
    if (!bad) printf("  ok finite differences %-24s %zu elements\n", what, checked);
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

    pass fast, twice, ref, two;
    pass_alloc(&b, &fast);
    pass_alloc(&b, &twice);
    pass_alloc(&b, &ref);
    pass_alloc(&b, &two);
    run_pass(&b, &fast);

    /* 1. Finite differences. */
    char what[64];
    for (int i = 0; i < b.n_in; i++) {
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

int main(int argc, char **argv) {
    const char *filter = argc > 1 ? argv[1] : NULL;
    for (size_t i = 0; i < N_CASES; i++)
        if (!filter || strstr(cases[i].spec, filter)) run_case(&cases[i]);
    if (!filter)
        for (int i = 0; i < cnn_layer_type_count(); i++)
            T_CHECK(covered(cnn_layer_type_name(i)), "layer type '%s' has no test case",
                    cnn_layer_type_name(i));
    return t_finish();
}

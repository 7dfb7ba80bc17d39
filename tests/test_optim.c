/*
 * test_optim.c - the optimisers' updates (src/optim/optim.c) element by element: SGD plain, with
 * L2 weight decay, momentum (its first step takes the gradient as the buffer), Nesterov's
 * variant; Adam with and without L2 decay, AdamW's decoupled decay; the average of the
 * weights (cnn_optim_update_ema). Each runs three steps on a network's parameters with given
 * gradients (among them -0, NaN and infinities), and after every step the parameters, the
 * optimiser's state and the average must be the bits of the update rules
 * written out here one element at a time (PyTorch's torch.optim formulas, in the library's
 * order of operations), whatever the thread count (1 and 2) and the instruction set the
 * loops run on (AVX2 and the baseline, where the CPU has AVX2).
 */
#include "testlib.h"
#include "../src/core/internal.h" /* cnn_isa_set */

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* A network of 40 x 101 + 101 = 4141 parameters: enough for the threads' chunks to split it
 * unevenly. */
static const char SPEC[] = "input x - shape=40; dense d x out=101";
#define STEPS 3

typedef struct ref_state {
    float *p, *b, *m, *v; /* parameters, SGD's momentum buffer, Adam's moments */
    float *avg;           /* the parameters' average (cfg.ema) */
} ref_state;

/* One step of cfg on n elements, written out: the reference. t: the step's number from 1. */
static void ref_step(const cnn_optim_config *c, int t, size_t n, const float *g, ref_state *r) {
    for (size_t i = 0; i < n; i++) {
        float *p = &r->p[i];
        if (c->kind == CNN_OPTIM_SGD) {
            float d = g[i];
            if (c->weight_decay != 0.0f) d += c->weight_decay * *p;
            if (c->momentum != 0.0f) {
                r->b[i] = t == 1 ? d : c->momentum * r->b[i] + d;
                d = c->nesterov ? d + c->momentum * r->b[i] : r->b[i];
            }
            *p -= c->lr * d;
            continue;
        }
        int decoupled = c->kind == CNN_OPTIM_ADAMW;
        float bc1 = (float)(1.0 - pow(c->beta1, t));
        float bc2_sqrt = (float)sqrt(1.0 - pow(c->beta2, t));
        float d = g[i] + (decoupled ? 0.0f : c->weight_decay) * *p;
        float pi = *p * (decoupled ? 1.0f - c->lr * c->weight_decay : 1.0f);
        r->m[i] = c->beta1 * r->m[i] + (1.0f - c->beta1) * d;
        r->v[i] = c->beta2 * r->v[i] + (1.0f - c->beta2) * d * d;
        *p = pi - c->lr / bc1 * r->m[i] / (sqrtf(r->v[i]) / bc2_sqrt + c->eps);
    }
}

/* Three steps of cfg at `threads` threads against the reference, bit for bit. */
static void check(const char *name, cnn_optim_config cfg, int threads) {
    cnn_net *net = t_net(SPEC, 5);
    if (!T_CHECK(net, "%s: network", name)) return;
    cnn_net_set_threads(net, threads);
    size_t n = cnn_net_param_count(net);
    float *p = cnn_net_params(net), *g = cnn_net_grads(net);
    t_fill(p, n, 7, -1.0f, 1.0f);
    p[3] = -0.0f;
    cnn_optim *opt = cnn_optim_new(net, &cfg);
    if (!T_CHECK(opt, "%s: optimiser: %s", name, cnn_net_last_error(net))) {
        cnn_net_free(net);
        return;
    }
    ref_state r = {malloc(n * sizeof(float)), calloc(n, sizeof(float)), calloc(n, sizeof(float)),
                   calloc(n, sizeof(float)), malloc(n * sizeof(float))};
    float *want_g = malloc(n * sizeof(float));
    if (!r.p || !r.b || !r.m || !r.v || !r.avg || !want_g) abort();
    memcpy(r.p, p, n * sizeof(float));
    memcpy(r.avg, p, n * sizeof(float));
    int bad = 0;
    for (int t = 1; t <= STEPS && !bad; t++) {
        t_fill(g, n, 100 + (uint64_t)t, -2.0f, 2.0f);
        g[1] = -0.0f, g[2] = 0.0f, g[n - 1] = t == 2 ? NAN : 1e-30f, g[n / 2] = INFINITY;
        memcpy(want_g, g, n * sizeof(float));
        ref_step(&cfg, t, n, want_g, &r);
        if (!T_OK(net, cnn_optim_step(opt))) break;
        if (cfg.ema > 0.0f) {
            for (size_t i = 0; i < n; i++)
                r.avg[i] = cfg.ema * r.avg[i] + (1.0f - cfg.ema) * r.p[i];
            if (!T_OK(net, cnn_optim_update_ema(opt))) break;
        }
        char what[160];
        snprintf(what, sizeof what, "%s, %d thread%s, %s: parameters after step %d", name,
                 threads, threads > 1 ? "s" : "", cnn_isa_name(cnn_isa()), t);
        bad = !t_same_bits(what, p, r.p, n);
        size_t count;
        float *state = cnn_optim_state(opt, &count);
        if (!bad && cfg.kind == CNN_OPTIM_SGD && cfg.momentum != 0.0f) {
            snprintf(what, sizeof what, "%s, %d threads: momentum buffer after step %d", name,
                     threads, t);
            bad = !T_CHECK(count >= n, "%s: state of %zu values", what, count) ||
                  !t_same_bits(what, state, r.b, n);
        } else if (!bad && cfg.kind != CNN_OPTIM_SGD) {
            snprintf(what, sizeof what, "%s, %d threads: moments after step %d", name, threads,
                     t);
            bad = !T_CHECK(count >= 2 * n, "%s: state of %zu values", what, count) ||
                  !t_same_bits(what, state, r.m, n) || !t_same_bits(what, state + n, r.v, n);
        }
        if (!bad && cfg.ema > 0.0f) { /* the average follows the moments (no state here) */
            snprintf(what, sizeof what, "%s, %d threads: the average after step %d", name,
                     threads, t);
            size_t moments = count - n;
            bad = !t_same_bits(what, state + moments, r.avg, n);
        }
    }
    free(r.p), free(r.b), free(r.m), free(r.v), free(r.avg), free(want_g);
    cnn_optim_free(opt);
    cnn_net_free(net);
}

static void all_cases(void) {
    cnn_optim_config sgd = cnn_optim_defaults(CNN_OPTIM_SGD, 0.05f);
    cnn_optim_config adam = cnn_optim_defaults(CNN_OPTIM_ADAM, 0.01f);
    cnn_optim_config adamw = cnn_optim_defaults(CNN_OPTIM_ADAMW, 0.01f);
    for (int threads = 1; threads <= 2; threads++) {
        cnn_optim_config c = sgd;
        check("SGD", c, threads);
        c.weight_decay = 0.01f;
        check("SGD, weight decay", c, threads);
        c.weight_decay = 0.0f, c.momentum = 0.9f;
        check("SGD, momentum", c, threads);
        c.weight_decay = 0.001f;
        check("SGD, momentum and weight decay", c, threads);
        c.nesterov = 1;
        check("SGD, Nesterov and weight decay", c, threads);
        c.weight_decay = 0.0f;
        check("SGD, Nesterov", c, threads);
        check("Adam", adam, threads);
        c = adam, c.weight_decay = 0.01f, c.beta1 = 0.8f;
        check("Adam, weight decay (L2)", c, threads);
        check("AdamW", adamw, threads);
        c = adamw, c.weight_decay = 0.05f, c.eps = 1e-6f;
        check("AdamW, weight decay 0.05, eps 1e-6", c, threads);
        c.ema = 0.9f;
        check("AdamW, an average of the weights (ema 0.9)", c, threads);
        c = sgd, c.momentum = 0.9f, c.ema = 0.999f;
        check("SGD, momentum, an average (ema 0.999)", c, threads);
    }
}

/* The gradient's norm (cnn_net_clip_grad_norm, which the trainer calls every step) bit for bit
 * against its rule written out: eight sums of squares in double, element i into sum i mod 8,
 * added ((0 + 1) + (2 + 3)) + ((4 + 5) + (6 + 7)); 837 gradients, not a multiple of 8. (Sums
 * in double rarely differ in the float they round to, so another order of the additions
 * mostly passes too: this guards the float result, test_api the value.) */
static void check_norm(void) {
    cnn_net *net = t_net("input x - shape=3x8x8; conv2d c - out=4 kernel=3; flatten f -; "
                         "dense d - out=5", 11);
    size_t n = cnn_net_param_count(net);
    float *g = cnn_net_grads(net);
    t_fill(g, n, 9, -3.0f, 3.0f);
    g[5] = -0.0f;
    g[n - 1] = 1e-30f;
    double p[8] = {0};
    for (size_t i = 0; i < n; i++) p[i % 8] += (double)g[i] * g[i];
    float want = (float)sqrt(((p[0] + p[1]) + (p[2] + p[3])) + ((p[4] + p[5]) + (p[6] + p[7])));
    float got = cnn_net_clip_grad_norm(net, INFINITY);
    T_CHECK(memcmp(&got, &want, sizeof got) == 0, "gradient norm (%s): %.9g, written out %.9g",
            cnn_isa_name(cnn_isa()), got, want);
    cnn_net_free(net);
}

int main(int argc, char **argv) {
    t_isa_option(&argc, &argv);
    int level = cnn_isa();
    all_cases();
    check_norm();
    if (level >= CNN_ISA_AVX2) { /* the loops' other compilation */
        cnn_isa_set(CNN_ISA_BASELINE);
        all_cases();
        check_norm();
        cnn_isa_set(level);
    }
    return t_finish();
}

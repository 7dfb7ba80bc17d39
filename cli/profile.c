/*
 * profile.c - `cnn summary --profile`: runs a network's forward passes (or training steps) on
 * random data and prints, per layer, the time of its forward and backward calls, how fast its
 * multiply-adds went and how well it used the threads, from the library's profiler
 * (cnn_net_set_profiling).
 */
#include "cli.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec + t.tv_nsec * 1e-9;
}

/* Random floats in [-1, 1) from a fixed seed (xorshift: the values do not matter, only that
 * they are finite and not all equal). */
static void fill(float *x, size_t n, uint64_t seed) {
    uint64_t s = seed * 0x9e3779b97f4a7c15u | 1;
    for (size_t i = 0; i < n; i++) {
        s ^= s << 13, s ^= s >> 7, s ^= s << 17;
        x[i] = (float)((s >> 40) * (2.0 / 16777216.0) - 1.0);
    }
}

/* One step: a forward pass, and for training a backward pass seeded with a small random output
 * gradient (what a loss would give, for any network) and an SGD step. */
static cnn_status step(cnn_net *net, cnn_optim *opt, const float *const *xs, int batch,
                       const float *seed, double *optim_s) {
    cnn_status st = cnn_net_forward_multi(net, xs, cnn_net_input_count(net), batch);
    if (st || !opt) return st;
    cnn_net_zero_grad(net);
    cnn_shape o = cnn_net_output_shape(net);
    memcpy(cnn_net_output_grad(net), seed, (size_t)batch * cnn_shape_numel(&o) * sizeof *seed);
    if ((st = cnn_net_backward(net))) return st;
    double t0 = now();
    st = cnn_optim_step(opt);
    *optim_s += now() - t0;
    return st;
}

static void print_rule(void) {
    for (int i = 0; i < 118; i++) putchar('-');
    putchar('\n');
}

/* Thread use of a pass: busy / (threads x region time), "-" with no region. */
static const char *use(const cnn_pass_profile *p, int threads, char *buf, size_t size) {
    if (p->region_seconds <= 0 || threads < 2) return "-";
    snprintf(buf, size, "%.0f%%", 100 * p->busy_seconds / (threads * p->region_seconds));
    return buf;
}

static void print_profile(cnn_net *net, int batch, int steps, int threads, int train,
                          double wall, double optim_s) {
    char shape[64], u1[16], u2[16];
    double ms = 1e3 / steps, layers = 0, serial = 0;
    printf("%-28s %-16s %-14s %11s %9s %9s %8s %8s %6s %6s\n", "layer", "type", "output",
           "mult-adds", "fwd ms", "bwd ms", "GFLOP/s", "1-thr ms", "fwd", "bwd");
    print_rule();
    for (int i = 0; i < cnn_net_layer_count(net); i++) {
        cnn_layer_profile p = cnn_net_layer_profile(net, i);
        cnn_shape s = cnn_net_layer_shape(net, i);
        uint64_t macs = cnn_net_layer_macs(net, i);
        double f = p.forward.seconds, b = p.backward.seconds;
        double one = f - p.forward.region_seconds + b - p.backward.region_seconds;
        layers += f + b;
        serial += one;
        char gf[16] = "-";
        if (macs && f > 0) snprintf(gf, sizeof gf, "%.1f", 2.0 * macs * batch * steps / f / 1e9);
        printf("%-28.28s %-16.16s %-14.14s %11llu %9.3f %9.3f %8s %8.3f %6s %6s\n",
               cnn_net_layer_name(net, i), cnn_net_layer_type(net, i),
               cnn_shape_str(&s, shape, sizeof shape), (unsigned long long)macs, f * ms,
               b * ms, gf, one * ms, use(&p.forward, threads, u1, sizeof u1),
               use(&p.backward, threads, u2, sizeof u2));
    }
    print_rule();
    printf("per %s of batch %d, %d thread%s, mean of %d:\n",
           train ? "training step" : "forward pass", batch, threads, threads > 1 ? "s" : "", steps);
    printf("  step                 %9.3f ms  (%.1f images/s)\n", wall * ms, batch * steps / wall);
    printf("  layers               %9.3f ms  (%.3f ms of it on one thread: outside the "
           "threads' regions)\n", layers * ms, serial * ms);
    if (train) printf("  optimiser (SGD)      %9.3f ms\n", optim_s * ms);
    printf("  the rest             %9.3f ms  (copying the input%s)\n",
           (wall - layers - optim_s) * ms, train ? ", seeding and clearing gradients" : "");
    printf("fwd, bwd: the share of the threads' time spent computing inside the layer's "
           "parallel regions;\n1-thr ms: the layer's time outside them (on one thread).\n");
}

int cli_profile_net(const char *cmd, cnn_net *net, const char *mode, int batch, int threads,
                    int steps) {
    int train = !strcmp(mode, "train");
    if (!train && strcmp(mode, "forward") != 0) {
        fprintf(stderr, "cnn %s: --profile %s: expected forward or train\n", cmd, mode);
        return 2;
    }
    cnn_status st = cnn_net_set_threads(net, threads);
    if (!st) st = cnn_net_prepare(net, batch);
    if (st) {
        fprintf(stderr, "cnn %s: %s\n", cmd, cnn_net_last_error(net));
        return 1;
    }
    int n_in = cnn_net_input_count(net);
    float *xs[8] = {0}, *seed;
    cnn_shape o = cnn_net_output_shape(net);
    seed = malloc((size_t)batch * cnn_shape_numel(&o) * sizeof *seed);
    int ok = seed != NULL && n_in <= 8;
    for (int i = 0; ok && i < n_in; i++) {
        cnn_shape s = cnn_net_input_shape(net, i);
        ok = (xs[i] = malloc((size_t)batch * cnn_shape_numel(&s) * sizeof(float))) != NULL;
        if (ok) fill(xs[i], (size_t)batch * cnn_shape_numel(&s), (uint64_t)i + 1);
    }
    cnn_optim *opt = NULL;
    if (ok && train) {
        fill(seed, (size_t)batch * cnn_shape_numel(&o), 99);
        for (size_t k = 0; k < (size_t)batch * cnn_shape_numel(&o); k++) seed[k] *= 1e-3f;
        cnn_optim_config cfg = cnn_optim_defaults(CNN_OPTIM_SGD, 1e-3f);
        cfg.momentum = 0.9f;
        ok = (opt = cnn_optim_new(net, &cfg)) != NULL;
    }
    int rc = 0;
    if (!ok) {
        fprintf(stderr, "cnn %s: out of memory for batch %d\n", cmd, batch);
        rc = 1;
    } else {
        cnn_net_set_training(net, train);
        cnn_net_set_input_grads(net, 0);
        double optim_s = 0, wall;
        /* A warm-up step (first-touch of memory, transformed weights), then the timed ones. */
        st = step(net, opt, (const float *const *)xs, batch, seed, &optim_s);
        if (!st) st = cnn_net_set_profiling(net, 1);
        optim_s = 0;
        double t0 = now();
        for (int k = 0; !st && k < steps; k++)
            st = step(net, opt, (const float *const *)xs, batch, seed, &optim_s);
        wall = now() - t0;
        cnn_net_set_profiling(net, 0);
        if (st) {
            fprintf(stderr, "cnn %s: %s\n", cmd, cnn_net_last_error(net));
            rc = 1;
        } else {
            print_profile(net, batch, steps, threads, train, wall, optim_s);
            int micro = train ? cnn_train_micro_size(net, 0, batch) : batch;
            if (micro < batch)
                printf("cnn train cuts this network's batches of %d into micro-batches of %d, "
                       "each run forward and\nbackward whole on one thread: these whole-batch "
                       "passes are its steps with --micro-batch %d.\n", batch, micro, batch);
        }
    }
    cnn_optim_free(opt);
    for (int i = 0; i < n_in; i++) free(xs[i]);
    free(seed);
    return rc;
}

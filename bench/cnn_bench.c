/*
 * cnn_bench - the cnn side of benchmark workloads 2, 3 and 4 (bench/run.sh drives it; the
 * PyTorch twin is bench/torch_bench.py, with the same options, work and output lines).
 *
 *   build/bench/cnn_bench [options] WORKLOAD...
 *     cifar-train   ResNet-18 CIFAR (zoo resnet18_cifar, 3x32x32, 10 classes), batch --batch:
 *                   training steps (zero grad, forward, softmax cross-entropy, backward, SGD
 *                   with momentum 0.9 and weight decay 5e-4), images/s
 *     cifar-infer   the same network in evaluation mode, forward only, images/s
 *     latency       ResNet-18 (zoo resnet18, 3x224x224, 1000 classes), batch 1, evaluation
 *                   mode: milliseconds per forward pass
 *     conv          one 3x3 convolution 64 -> 64 channels on 56x56, padding 1, stride 1, no
 *                   bias, batch 1 and 8: forward, and forward + backward (input and weight
 *                   gradients), GFLOP/s counting 2*N*OC*OH*OW*IC*KH*KW per forward, 3x that
 *                   for forward + backward
 *   options: --threads T (1)  --runs R (3)  --batch B (64, cifar-*)  --warmup W (1 step)
 *            --train-steps K (2)  --infer-steps K (3)  --latency-steps K (10)
 *            --conv-seconds S (0.3: length of one conv repetition)
 *            --fused 1 (inference on cnn_net_fuse's copy: layout=fused)
 *            --int8 1 (inference on cnn_net_quantize's copy, calibrated on 16 random images:
 *            layout=int8)
 *            --isa baseline|avx2|vnni|avx512 (kernels held to that level: cnn_isa_limit;
 *            also taken from the environment variable CNN_ISA, as the cnn tool does)
 *
 * Each workload runs W warm-up steps (latency: at least 3), then R repetitions of K steps
 * (conv: of as many calls as fill S seconds by the warm-up's pace) and prints one line
 *   RESULT workload=cifar-train framework=cnn threads=1 layout=nchw value=V unit=img/s reps=a,b,c
 * where V is the median of the repetitions (latency: each repetition is the median of its K
 * passes), and for the ResNets a line
 *   INFO cnn resnet18_cifar 3x32x32 classes=10 params=11173962 macs_per_image=555422720
 * (multiply-adds of convolutions and dense layers, cnn_net_macs). Inputs are random (seeded), labels random. Timing: clock_gettime(CLOCK_MONOTONIC).
 * Any failure prints what failed and exits 1.
 *
 * Only the public API of include/cnn.h is used.
 */
#define _POSIX_C_SOURCE 200809L
#include "cnn.h"

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "timing.h"

#define MAX_RUNS 1000

typedef struct opts {
    int threads, runs, batch, warmup, train_steps, infer_steps, latency_steps;
    int fused; /* inference workloads run cnn_net_fuse's copy */
    int int8;  /* inference workloads run cnn_net_quantize's copy (fused too) */
    double conv_seconds;
} opts;


static void die(const char *what, const char *msg) {
    fprintf(stderr, "cnn_bench: %s: %s\n", what, msg);
    exit(1);
}

static void check(cnn_status st, cnn_net *net, const char *what) {
    if (st != CNN_STATUS_OK)
        die(what, net ? cnn_net_last_error(net) : cnn_status_str(st));
}

static void *xmalloc(size_t n) {
    void *p = malloc(n ? n : 1);
    if (!p) die("malloc", "out of memory");
    return p;
}

/* xorshift64*: reproducible random inputs. */
static uint64_t rng_state = 0x9E3779B97F4A7C15ull;
static uint64_t rnd(void) {
    rng_state ^= rng_state >> 12;
    rng_state ^= rng_state << 25;
    rng_state ^= rng_state >> 27;
    return rng_state * 2685821657736338717ull;
}
static float *random_floats(size_t n) {
    float *x = xmalloc(n * sizeof *x);
    for (size_t i = 0; i < n; i++) x[i] = (float)((double)(rnd() >> 11) / 9007199254740992.0 * 2.0 - 1.0);
    return x;
}

static void print_result(const char *workload, const opts *o, double value, const char *unit,
                         const double *reps) {
    printf("RESULT workload=%s framework=cnn threads=%d layout=%s value=%.4g unit=%s reps=",
           workload, o->threads, o->int8 ? "int8" : o->fused ? "fused" : "nchw", value, unit);
    for (int r = 0; r < o->runs; r++) printf("%s%.4g", r ? "," : "", reps[r]);
    printf("\n");
    fflush(stdout);
}

/* net's 8-bit copy, calibrated on random images (the speed does not depend on the ranges). */
static cnn_net *quantized(cnn_net *net, int c, int h, int w, int classes) {
    enum { CALIB = 16 };
    char err[512], **names = xmalloc((size_t)classes * sizeof *names);
    for (int k = 0; k < classes; k++) {
        names[k] = xmalloc(16);
        snprintf(names[k], 16, "%d", k);
    }
    int32_t y[CALIB] = {0};
    cnn_dataset ds = {.n = CALIB, .shape = {.rank = 3, .dim = {c, h, w}}, .classes = classes,
                      .x = random_floats((size_t)CALIB * c * h * w), .y = y,
                      .class_names = names};
    cnn_net *q = NULL;
    if (cnn_net_quantize(net, &ds, CALIB, &q, err, sizeof err)) die("cnn_net_quantize", err);
    for (int k = 0; k < classes; k++) free(names[k]);
    free(names);
    free(ds.x);
    return q;
}

static cnn_net *build_model(const char *name, int c, int h, int w, int classes, int batch,
                            int training, const opts *o) {
    char err[512];
    cnn_net *net = NULL;
    cnn_status st = cnn_model_build(name, c, h, w, classes, 1, &net, err, sizeof err);
    if (st != CNN_STATUS_OK) die(name, err);
    if (o->int8 && !training) {
        cnn_net *q = quantized(net, c, h, w, classes);
        cnn_net_free(net);
        net = q;
    } else if (o->fused && !training) {
        cnn_net *f = NULL;
        if (cnn_net_fuse(net, &f, err, sizeof err)) die("cnn_net_fuse", err);
        cnn_net_free(net);
        net = f;
    }
    check(cnn_net_set_threads(net, o->threads), net, "cnn_net_set_threads");
    check(cnn_net_prepare(net, batch), net, "cnn_net_prepare");
    printf("INFO cnn %s %dx%dx%d classes=%d params=%zu macs_per_image=%llu isa=%s\n", name, c, h,
           w, classes, cnn_net_param_count(net), (unsigned long long)cnn_net_macs(net),
           cnn_isa_in_force());
    return net;
}

/* One training step; returns the loss. */
static float train_step(cnn_net *net, cnn_optim *opt, const float *x, const int32_t *y, int batch) {
    float loss = 0;
    cnn_net_zero_grad(net);
    check(cnn_net_forward(net, x, batch), net, "forward");
    check(cnn_net_loss(net, CNN_LOSS_SOFTMAX_CE, y, &loss), net, "loss");
    check(cnn_net_backward(net), net, "backward");
    check(cnn_optim_step(opt), net, "optimiser step");
    return loss;
}

static void bench_cifar(const opts *o, int training) {
    const int B = o->batch, classes = 10;
    cnn_net *net = build_model("resnet18_cifar", 3, 32, 32, classes, B, training, o);
    float *x = random_floats((size_t)B * 3 * 32 * 32);
    int32_t *y = xmalloc((size_t)B * sizeof *y);
    for (int i = 0; i < B; i++) y[i] = (int32_t)(rnd() % (uint64_t)classes);
    double reps[MAX_RUNS];
    cnn_optim *opt = NULL;
    if (training) {
        cnn_optim_config cfg = cnn_optim_defaults(CNN_OPTIM_SGD, 0.01f);
        cfg.momentum = 0.9f;
        cfg.weight_decay = 5e-4f;
        opt = cnn_optim_new(net, &cfg);
        if (!opt) die("cnn_optim_new", cnn_net_last_error(net));
    }
    cnn_net_set_training(net, training);
    cnn_net_set_input_grads(net, 0); /* as PyTorch: the images do not require a gradient */
    int steps = training ? o->train_steps : o->infer_steps;
    float loss = 0;
    for (int i = 0; i < o->warmup; i++) {
        if (training) loss = train_step(net, opt, x, y, B);
        else check(cnn_net_forward(net, x, B), net, "forward");
    }
    for (int r = 0; r < o->runs; r++) {
        double t0 = now();
        for (int i = 0; i < steps; i++) {
            if (training) loss = train_step(net, opt, x, y, B);
            else check(cnn_net_forward(net, x, B), net, "forward");
        }
        reps[r] = (double)B * steps / (now() - t0);
    }
    if (training && !isfinite(loss)) die("cifar-train", "the loss is not finite");
    if (!training && !isfinite(cnn_net_output(net)[0])) die("cifar-infer", "output not finite");
    double v[MAX_RUNS];
    memcpy(v, reps, sizeof(double) * (size_t)o->runs);
    print_result(training ? "cifar-train" : "cifar-infer", o, median(v, o->runs), "img/s", reps);
    cnn_optim_free(opt);
    cnn_net_free(net);
    free(x);
    free(y);
}

static void bench_latency(const opts *o) {
    cnn_net *net = build_model("resnet18", 3, 224, 224, 1000, 1, 0, o);
    cnn_net_set_training(net, 0);
    float *x = random_floats((size_t)3 * 224 * 224);
    int warm = o->warmup > 3 ? o->warmup : 3, k = o->latency_steps;
    for (int i = 0; i < warm; i++) check(cnn_net_forward(net, x, 1), net, "forward");
    double reps[MAX_RUNS], v[MAX_RUNS];
    double *t = xmalloc((size_t)k * sizeof *t);
    for (int r = 0; r < o->runs; r++) {
        for (int i = 0; i < k; i++) {
            double t0 = now();
            check(cnn_net_forward(net, x, 1), net, "forward");
            t[i] = 1e3 * (now() - t0);
        }
        reps[r] = median(t, k);
    }
    if (!isfinite(cnn_net_output(net)[0])) die("latency", "output not finite");
    memcpy(v, reps, sizeof(double) * (size_t)o->runs);
    print_result("latency", o, median(v, o->runs), "ms", reps);
    free(t);
    free(x);
    cnn_net_free(net);
}

static void conv_call(cnn_net *net, const float *x, int n, int backward) {
    check(cnn_net_forward(net, x, n), net, "conv forward");
    if (backward) {
        cnn_net_zero_grad(net);
        check(cnn_net_backward(net), net, "conv backward");
    }
}

static void bench_conv(const opts *o) {
    const int C = 64, H = 56, W = 56, K = 3;
    static const int batches[2] = {1, 8};
    for (int bi = 0; bi < 2; bi++) {
        int n = batches[bi];
        cnn_net *net = cnn_net_new(1);
        if (!net) die("cnn_net_new", "out of memory");
        check(cnn_add(net, "input", "x", NULL, "shape=64x56x56"), net, "cnn_add input");
        check(cnn_add(net, "conv2d", "conv", NULL, "out=64 kernel=3 padding=1 stride=1 bias=0"),
              net, "cnn_add conv2d");
        check(cnn_net_set_threads(net, o->threads), net, "cnn_net_set_threads");
        check(cnn_net_prepare(net, n), net, "cnn_net_prepare");
        cnn_net_set_training(net, 1);
        float *x = random_floats((size_t)n * C * H * W);
        float *g = random_floats((size_t)n * C * H * W);
        for (int backward = 0; backward < 2; backward++) {
            /* the output gradient is the seed of backward; backward leaves it as it is */
            check(cnn_net_forward(net, x, n), net, "conv forward");
            memcpy(cnn_net_output_grad(net), g, (size_t)n * C * H * W * sizeof(float));
            double flops = 2.0 * n * C * H * W * C * K * K * (backward ? 3 : 1);
            /* warm-up: at least 2 calls and conv_seconds / 2, which sets the pace */
            int calls = 0;
            double t0 = now(), el;
            do {
                conv_call(net, x, n, backward);
                calls++;
                el = now() - t0;
            } while (calls < 2 || el < o->conv_seconds / 2);
            int per = (int)ceil(o->conv_seconds / (el / calls));
            if (per < 1) per = 1;
            double reps[MAX_RUNS], v[MAX_RUNS];
            for (int r = 0; r < o->runs; r++) {
                t0 = now();
                for (int i = 0; i < per; i++) conv_call(net, x, n, backward);
                reps[r] = flops * per / (now() - t0) / 1e9;
            }
            if (!isfinite(cnn_net_output(net)[0]) ||
                (backward && !isfinite(cnn_net_input_grad(net, 0)[0])))
                die("conv", "result not finite");
            memcpy(v, reps, sizeof(double) * (size_t)o->runs);
            char name[64];
            snprintf(name, sizeof name, "conv-b%d-%s", n, backward ? "fwdbwd" : "fwd");
            print_result(name, o, median(v, o->runs), "GFLOP/s", reps);
        }
        free(x);
        free(g);
        cnn_net_free(net);
    }
}

static int int_arg(const char *opt, const char *s, int lo, int hi) {
    char *end;
    long v = strtol(s, &end, 10);
    if (*s == '\0' || *end != '\0' || v < lo || v > hi) {
        fprintf(stderr, "cnn_bench: %s wants an integer in [%d, %d], got '%s'\n", opt, lo, hi, s);
        exit(2);
    }
    return (int)v;
}

static void usage(void) {
    fprintf(stderr,
            "usage: cnn_bench [--threads T] [--runs R] [--batch B] [--warmup W] [--train-steps K]\n"
            "                 [--infer-steps K] [--latency-steps K] [--conv-seconds S]\n"
            "                 [--fused 0|1]  (cifar-infer and latency: cnn_net_fuse's copy)\n"
            "                 [--int8 0|1]   (cifar-infer and latency: cnn_net_quantize's copy)\n"
            "                 [--isa baseline|avx2|vnni|avx512]  (kernels held to that level)\n"
            "                 cifar-train|cifar-infer|latency|conv...\n");
    exit(2);
}

int main(int argc, char **argv) {
    opts o = {.threads = 1, .runs = 3, .batch = 64, .warmup = 1, .train_steps = 2,
              .infer_steps = 3, .latency_steps = 10, .conv_seconds = 0.3};
    const char *isa = getenv("CNN_ISA"); /* as the cnn tool does; --isa overrides it */
    if (isa && cnn_isa_limit(isa) != CNN_STATUS_OK) {
        fprintf(stderr, "cnn_bench: CNN_ISA is '%s', not baseline, avx2, vnni or avx512\n", isa);
        return 2;
    }
    int first = argc;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (a[0] != '-') { first = i; break; }
        if (i + 1 >= argc) usage();
        const char *v = argv[++i];
        if (!strcmp(a, "--threads")) o.threads = int_arg(a, v, 1, 256);
        else if (!strcmp(a, "--runs")) o.runs = int_arg(a, v, 1, MAX_RUNS);
        else if (!strcmp(a, "--batch")) o.batch = int_arg(a, v, 1, 4096);
        else if (!strcmp(a, "--warmup")) o.warmup = int_arg(a, v, 0, 1000000);
        else if (!strcmp(a, "--train-steps")) o.train_steps = int_arg(a, v, 1, 1000000);
        else if (!strcmp(a, "--infer-steps")) o.infer_steps = int_arg(a, v, 1, 1000000);
        else if (!strcmp(a, "--latency-steps")) o.latency_steps = int_arg(a, v, 1, 1000000);
        else if (!strcmp(a, "--fused")) o.fused = int_arg(a, v, 0, 1);
        else if (!strcmp(a, "--int8")) o.int8 = int_arg(a, v, 0, 1);
        else if (!strcmp(a, "--isa")) {
            if (cnn_isa_limit(v) != CNN_STATUS_OK) usage();
        }
        else if (!strcmp(a, "--conv-seconds")) {
            char *end;
            o.conv_seconds = strtod(v, &end);
            if (*end || !(o.conv_seconds > 0 && o.conv_seconds < 3600)) usage();
        } else usage();
    }
    if (first >= argc) usage();
    for (int i = first; i < argc; i++) {
        const char *w = argv[i];
        if (strcmp(w, "cifar-train") && strcmp(w, "cifar-infer") && strcmp(w, "latency") &&
            strcmp(w, "conv")) {
            fprintf(stderr, "cnn_bench: unknown workload '%s'\n", w);
            usage();
        }
    }
    for (int i = first; i < argc; i++) {
        const char *w = argv[i];
        if (!strcmp(w, "cifar-train")) bench_cifar(&o, 1);
        else if (!strcmp(w, "cifar-infer")) bench_cifar(&o, 0);
        else if (!strcmp(w, "latency")) bench_latency(&o);
        else bench_conv(&o);
    }
    return 0;
}

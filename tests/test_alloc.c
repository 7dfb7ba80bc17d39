/*
 * test_alloc.c - running out of memory. A whole workflow runs again and again with its first,
 * second, third ... allocation failing (the library's hook cnn_fail_alloc_after), until one run
 * meets no failure. Every failure must come back as an error status or NULL with a message,
 * never a crash, and never as a success; under AddressSanitizer (make check-san) the leak
 * checker then shows that no failure path leaks.
 *
 * The workflow: a network from definition text, its text back, prepare with 2 threads, an Adam
 * optimiser, forward, loss, backward, clipping, a step; a checkpoint saved and loaded back
 * with its optimiser and metadata; a zoo model built; an IDX data set written here, loaded,
 * split and evaluated. ALLOC_DEBUG=1 prints each failure as it is reported.
 */
#include "testlib.h"
#include "../src/core/internal.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define N_IMAGES 12

static const char *DEF =
    "x = input shape=1x12x12\n"
    "c = conv2d out=4 kernel=3 padding=1\n"
    "b = batchnorm\n"
    "r = relu\n"
    "p = max_pool2d kernel=2\n"
    "s = add(p, p)\n"
    "f = flatten\n"
    "d = dense out=10\n";

static char dir[64], images[96], labels[96], ckpt[96];

static void be32(FILE *f, uint32_t v) {
    unsigned char b[4] = {(unsigned char)(v >> 24), (unsigned char)(v >> 16),
                          (unsigned char)(v >> 8), (unsigned char)v};
    fwrite(b, 1, 4, f);
}

/* Small IDX files: N_IMAGES images of 12x12 and their labels. */
static void write_idx(void) {
    FILE *f = fopen(images, "wb"), *g = fopen(labels, "wb");
    be32(f, 0x803);
    be32(f, N_IMAGES);
    be32(f, 12);
    be32(f, 12);
    for (int i = 0; i < N_IMAGES * 144; i++) fputc((i * 37) & 255, f);
    be32(g, 0x801);
    be32(g, N_IMAGES);
    for (int i = 0; i < N_IMAGES; i++) fputc(i % 10, g);
    fclose(f);
    fclose(g);
}

/* Reports a failure that came back: 1 with a message, 0 (and a failed check) without. */
static int failed(const char *what, const char *msg) {
    if (getenv("ALLOC_DEBUG")) fprintf(stderr, "%s: %s\n", what, msg);
    T_CHECK(msg && msg[0], "%s failed without a message", what);
    return 1;
}

/* The workflow: 0 when it ran to the end, 1 when a step reported a failure. */
static int workflow(void) {
    char err[512] = "";
    cnn_net *net = NULL, *loaded = NULL, *zoo = NULL;
    cnn_optim *opt = NULL, *lopt = NULL;
    cnn_dataset *ds = NULL, *held = NULL;
    char *text = NULL, *meta = NULL;
    cnn_metrics m = {0};
    int r = 1;
    float x[4 * 144], loss;
    int32_t y[4] = {1, 2, 3, 4};
    t_fill(x, 4 * 144, 3, -1, 1);

    if (cnn_net_from_text(DEF, "alloc.def", 7, &net, err, sizeof err)) {
        r = failed("cnn_net_from_text", err);
        goto out;
    }
    if (!(text = cnn_net_to_text(net))) {
        r = 1; /* documented: NULL when memory runs out */
        goto out;
    }
    if (cnn_net_set_threads(net, 2) || cnn_net_prepare(net, 4)) {
        r = failed("prepare", cnn_net_last_error(net));
        goto out;
    }
    cnn_optim_config oc = cnn_optim_defaults(CNN_OPTIM_ADAM, 0.01f);
    if (!(opt = cnn_optim_new(net, &oc))) {
        r = failed("cnn_optim_new", cnn_net_last_error(net));
        goto out;
    }
    cnn_net_set_training(net, 1);
    cnn_net_zero_grad(net);
    if (cnn_net_forward(net, x, 4) || cnn_net_loss(net, CNN_LOSS_SOFTMAX_CE, y, &loss) ||
        cnn_net_backward(net) || !isfinite(cnn_net_clip_grad_norm(net, 1.0f)) ||
        cnn_optim_step(opt)) {
        r = failed("a training step", cnn_net_last_error(net));
        goto out;
    }
    if (cnn_checkpoint_save(ckpt, net, opt, "k=v\n", err, sizeof err)) {
        r = failed("cnn_checkpoint_save", err);
        goto out;
    }
    if (cnn_checkpoint_load(ckpt, &loaded, &lopt, &meta, err, sizeof err)) {
        r = failed("cnn_checkpoint_load", err);
        goto out;
    }
    if (cnn_model_build("lenet5", 1, 28, 28, 10, 1, &zoo, err, sizeof err)) {
        r = failed("cnn_model_build", err);
        goto out;
    }
    if (cnn_dataset_load_idx(images, labels, &ds, err, sizeof err)) {
        r = failed("cnn_dataset_load_idx", err);
        goto out;
    }
    if (cnn_dataset_hold_out(ds, 4, 5, &held, err, sizeof err)) {
        r = failed("cnn_dataset_hold_out", err);
        goto out;
    }
    float mean = 0.5f, std = 0.25f;
    if (cnn_evaluate(net, ds, &mean, &std, &m)) {
        r = failed("cnn_evaluate", cnn_net_last_error(net));
        goto out;
    }
    r = 0;
out:
    cnn_metrics_free(&m);
    cnn_dataset_free(held);
    cnn_dataset_free(ds);
    cnn_net_free(zoo);
    cnn_optim_free(lopt);
    cnn_net_free(loaded);
    free(meta);
    free(text);
    cnn_optim_free(opt);
    cnn_net_free(net);
    return r;
}

int main(void) {
    snprintf(dir, sizeof dir, "/tmp/cnn_alloc_XXXXXX");
    if (!mkdtemp(dir)) return 1;
    snprintf(images, sizeof images, "%s/images.idx", dir);
    snprintf(labels, sizeof labels, "%s/labels.idx", dir);
    snprintf(ckpt, sizeof ckpt, "%s/a.ckpt", dir);
    write_idx();

    T_CHECK(workflow() == 0, "the workflow runs with no allocation failing");
    long n, runs = 0, reported = 0;
    for (n = 1; n < 100000; n++) {
        cnn_fail_alloc_after(n);
        int r = workflow();
        long left = cnn_fail_alloc_after(0);
        if (left > 0) {
            /* No allocation failed: n is past the workflow's last one. */
            T_CHECK(r == 0, "the workflow failed with no allocation failing (n = %ld)", n);
            break;
        }
        runs++;
        reported += r;
        T_CHECK(r == 1, "allocation %ld failed, yet the workflow reported success", n);
    }
    printf("%ld allocations failed in turn, %ld reported\n", runs, reported);
    T_CHECK(runs > 50, "only %ld allocations in the workflow", runs);

    remove(images);
    remove(labels);
    remove(ckpt);
    rmdir(dir);
    return t_finish();
}

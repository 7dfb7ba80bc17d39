/*
 * test_micro.c - the trainer's micro-batches (cnn_train_config.micro_batch,
 * src/train/trainer_micro.c):
 *   - a step's gradient and loss are, bit for bit, those written out: each micro-batch forward
 *     in a network of its own, the gradient of the whole batch's loss on all their scores, each
 *     backward, the gradients added in micro-batch order; the loss the micro-batches' sums
 *     added in order, over the batch;
 *   - runs give the same weights at 1, 2 and 3 threads, for micro-batches that divide the
 *     batch and for ones that do not, and stay close to the whole-batch run;
 *   - a run stopped mid-epoch and resumed (at another thread count) ends as the whole run;
 *   - automatic sizes: cut for a small network without batch norm, whole for one with it;
 *   - refusals: a negative size, batch norm or dropout with more than one micro-batch;
 *   - MSE, BCE and pixel cross-entropy: each micro-batch reads its own targets;
 *   - a non-finite value names its layer and micro-batch;
 *   - every allocation of a new trainer failing in turn is reported as memory running out.
 * White-box: it reads the trainer's batch (src/train/trainer.h) to write the step out.
 */
#include "../src/train/trainer.h"
#include "testlib.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const char *NET = "input x - shape=1x8x8; conv2d c x out=4 kernel=3 padding=1; relu r -;"
                         "max_pool2d p - kernel=2; conv2d c2 - out=6 kernel=3; relu r2 -;"
                         "flatten f -; dense logits - out=4";
/* 41,404 parameters: the gradients' sum over more than one part of the threads' work. */
static const char *WIDE = "input x - shape=1x8x8; flatten f -; dense h - out=600; relu r -;"
                          "dense logits - out=4";

static cnn_train_config config(int epochs, int threads, int micro) {
    cnn_train_config cfg = cnn_train_defaults();
    cfg.epochs = epochs;
    cfg.batch = 16;
    cfg.threads = threads;
    cfg.seed = 5;
    cfg.micro_batch = micro;
    cfg.augment.crop_pad = 1;
    return cfg;
}

/* A run of cfg on a new NET from seed 3: its weights (a copy, n of them), or NULL. */
static float *train(const cnn_train_config *cfg, const cnn_dataset *tr, size_t *n) {
    cnn_net *net = t_net(NET, 3);
    cnn_trainer *t = NULL;
    char err[1024];
    float *p = NULL;
    if (T_CHECK(cnn_trainer_new(net, tr, NULL, cfg, &t, err, sizeof err) == 0, "new: %s", err) &&
        T_CHECK(cnn_trainer_run(t) == 0, "run: %s", cnn_trainer_last_error(t))) {
        *n = cnn_net_param_count(net);
        p = malloc(*n * sizeof *p);
        memcpy(p, cnn_net_params(net), *n * sizeof *p);
    }
    cnn_trainer_free(t);
    cnn_net_free(net);
    return p;
}

/* One step of micro-batches of `micro` against the same step written out with plain
 * networks. */
static void test_written_out(const cnn_dataset *tr, const char *spec, int micro, int threads) {
    cnn_train_config cfg = config(1, threads, micro);
    cfg.optim = cnn_optim_defaults(CNN_OPTIM_SGD, 0.01f); /* leaves the gradients as they are */
    cfg.label_smoothing = 0.1f;
    cnn_net *net = t_net(spec, 3);
    cnn_trainer *t = NULL;
    char err[1024];
    if (!T_CHECK(cnn_trainer_new(net, tr, NULL, &cfg, &t, err, sizeof err) == 0, "%s", err)) {
        cnn_net_free(net);
        return;
    }
    int B = cfg.batch, K = (B + micro - 1) / micro;
    T_CHECK(t->micro.count == K && t->micro.size == micro, "%d micro-batches of %d: %d of %d", K,
            micro, t->micro.count, t->micro.size);
    size_t np = cnn_net_param_count(net), numel = 64, classes = 4;
    float *w0 = malloc(np * sizeof *w0), *g = calloc(np, sizeof *g);
    float *scores = malloc((size_t)B * classes * sizeof *scores);
    float *dz = malloc((size_t)B * classes * sizeof *dz);
    memcpy(w0, cnn_net_params(net), np * sizeof *w0);
    T_CHECK(cnn_trainer_step(t) == 0, "step: %s", cnn_trainer_last_error(t));
    /* The step written out, on the samples and labels the trainer loaded. */
    cnn_net *part[64] = {0};
    char *text = cnn_net_to_text(net);
    for (int k = 0; k < K; k++) {
        int first = k * micro, n = B - first < micro ? B - first : micro;
        T_CHECK(cnn_net_from_text(text, "test", 1, &part[k], err, sizeof err) == 0, "%s", err);
        memcpy(cnn_net_params(part[k]), w0, np * sizeof *w0);
        cnn_net_set_training(part[k], 1);
        T_OK(part[k], cnn_net_prepare(part[k], n));
        T_OK(part[k], cnn_net_forward(part[k], t->x + (size_t)first * numel, n));
        memcpy(scores + (size_t)first * classes, cnn_net_output(part[k]),
               (size_t)n * classes * sizeof *scores);
    }
    /* The gradient: the whole batch's, from the public function. The loss: the micro-batches'
     * sums (in double) added in order, times 1 / B. */
    float whole_loss, loss;
    T_CHECK(cnn_loss_cross_entropy_smoothed(scores, t->it, B, 4, 1, 0.1f, &whole_loss, dz) == 0,
            "loss");
    double total = 0;
    for (int k = 0; k < K; k++) {
        int first = k * micro, n = B - first < micro ? B - first : micro;
        double sum;
        T_CHECK(cnn_loss_ce_part(scores + (size_t)first * classes, t->it + first, n, 4, 1, 0.1f, NULL, NULL,
                                 1.0, &sum, NULL) == 0, "micro-batch %d's loss", k);
        total += sum;
    }
    loss = (float)(total * (1.0 / B));
    T_CHECK(fabsf(loss - whole_loss) <= 1e-6f * whole_loss, "micro-batches' loss %.9g, whole %.9g",
            (double)loss, (double)whole_loss);
    for (int k = 0; k < K; k++) {
        int first = k * micro;
        cnn_net_zero_grad(part[k]);
        T_OK(part[k], cnn_net_backward_from(part[k], cnn_net_output_layer(part[k]),
                                            dz + (size_t)first * classes, CNN_BACKPROP_PLAIN));
        const float *gk = cnn_net_grads(part[k]);
        for (size_t i = 0; i < np; i++) g[i] = k ? g[i] + gk[i] : gk[i];
    }
    char what[96];
    snprintf(what, sizeof what, "gradient of %d micro-batches of %d, %d threads", K, micro, threads);
    t_same_bits(what, cnn_net_grads(net), g, np);
    T_CHECK(cnn_trainer_last(t).loss == loss, "loss %.9g, written out %.9g",
            cnn_trainer_last(t).loss, (double)loss);
    for (int k = 0; k < K; k++) cnn_net_free(part[k]);
    free(text);
    free(w0);
    free(g);
    free(scores);
    free(dz);
    cnn_trainer_free(t);
    cnn_net_free(net);
}

static void test_threads(const cnn_dataset *tr) {
    static const int micro[] = {4, 5};
    for (int m = 0; m < 2; m++) {
        size_t n[3] = {0};
        float *p[3];
        for (int th = 0; th < 3; th++) {
            cnn_train_config cfg = config(2, th + 1, micro[m]);
            p[th] = train(&cfg, tr, &n[th]);
        }
        char what[64];
        for (int th = 1; th < 3; th++) {
            snprintf(what, sizeof what, "micro-batches of %d: 1 vs %d threads", micro[m], th + 1);
            if (p[0] && p[th] && T_CHECK(n[0] == n[th], "sizes")) t_same_bits(what, p[th], p[0], n[0]);
        }
        /* The same arithmetic as whole batches, summed in another order. */
        cnn_train_config whole = config(2, 2, 16);
        size_t nw = 0;
        float *pw = train(&whole, tr, &nw);
        snprintf(what, sizeof what, "micro-batches of %d vs whole batches", micro[m]);
        if (pw && p[0]) t_close(what, p[0], pw, nw, 1e-4, 1e-3);
        free(pw);
        for (int th = 0; th < 3; th++) free(p[th]);
    }
}

static void test_resume(const cnn_dataset *tr, const char *dir) {
    cnn_train_config cfg = config(2, 1, 5);
    size_t n = 0;
    float *whole = train(&cfg, tr, &n);
    char ckpt[4200];
    snprintf(ckpt, sizeof ckpt, "%s/micro.ckpt", dir);
    cfg.checkpoint = ckpt;
    cnn_net *net = t_net(NET, 3);
    cnn_trainer *t = NULL;
    char err[1024];
    T_CHECK(cnn_trainer_new(net, tr, NULL, &cfg, &t, err, sizeof err) == 0, "%s", err);
    for (int s = 0; t && s < 9; s++) T_CHECK(cnn_trainer_step(t) == 0, "step %d", s);
    T_CHECK(t && cnn_trainer_save(t, NULL) == 0, "save");
    cnn_trainer_free(t);
    cnn_net_free(net);
    cnn_train_config more = cnn_train_defaults();
    more.threads = 2;
    T_CHECK(cnn_trainer_resume(ckpt, tr, NULL, 0, &more, &t, err, sizeof err) == 0, "%s", err);
    T_CHECK(t && t->micro.count == 4, "the resumed run keeps its micro-batches: %d",
            t ? t->micro.count : -1);
    if (t && T_CHECK(cnn_trainer_run(t) == 0, "%s", cnn_trainer_last_error(t)) && whole)
        t_same_bits("stopped mid-epoch, resumed at 2 threads", cnn_net_params(cnn_trainer_net(t)),
                    whole, n);
    cnn_trainer_free(t);
    free(whole);
}

/* The micro-batches a trainer of spec with cfg chose, or -1 when it was refused (its message
 * into err). */
static int chosen(const char *spec, cnn_train_config cfg, const cnn_dataset *tr, char *err,
                  size_t errlen) {
    cnn_net *net = t_net(spec, 3);
    cnn_trainer *t = NULL;
    int count = cnn_trainer_new(net, tr, NULL, &cfg, &t, err, errlen) ? -1 : t->micro.count;
    cnn_trainer_free(t);
    cnn_net_free(net);
    return count;
}

static void test_choice_and_refusals(const cnn_dataset *tr) {
    static const char *BN = "input x - shape=1x8x8; conv2d c x out=4 kernel=3; batchnorm b -;"
                            "relu r -; flatten f -; dense logits - out=4";
    static const char *DROP = "input x - shape=1x8x8; flatten f -; dropout d - p=0.2;"
                              "dense logits - out=4";
    char err[1024] = "";
    cnn_train_config cfg = config(1, 2, 0);
    cfg.batch = 64;
    int c = chosen(NET, cfg, tr, err, sizeof err);
    T_CHECK(c == 2, "automatic: a small network at batch 64 in 2 micro-batches of 32: %d (%s)", c,
            err);
    c = chosen(BN, cfg, tr, err, sizeof err);
    T_CHECK(c == 1, "automatic: batch norm in whole batches: %d (%s)", c, err);
    /* A network whose weights outweigh 32 samples' activations: whole batches. */
    c = chosen("input x - shape=1x8x8; flatten f -; dense d - out=4096; dense logits - out=4", cfg,
               tr, err, sizeof err);
    T_CHECK(c == 1, "automatic: big weights in whole batches: %d (%s)", c, err);
    cfg.micro_batch = 64;
    c = chosen(BN, cfg, tr, err, sizeof err);
    T_CHECK(c == 1, "a micro-batch of the batch is the whole batch, batch norm or not: %d (%s)",
            c, err);
    cfg.micro_batch = 8;
    c = chosen(BN, cfg, tr, err, sizeof err);
    T_CHECK(c == -1 && strstr(err, "layer 'b' (batchnorm)") && strstr(err, "whole batch"),
            "batch norm refuses micro-batches: %s", err);
    c = chosen(DROP, cfg, tr, err, sizeof err);
    T_CHECK(c == -1 && strstr(err, "layer 'd' (dropout)"), "dropout refuses them: %s", err);
    cfg.micro_batch = -1;
    c = chosen(NET, cfg, tr, err, sizeof err);
    T_CHECK(c == -1 && strstr(err, "micro-batch -1"), "a negative size is refused: %s", err);
    /* cnn_train_micro_size tells the trainer's choice beforehand. */
    cnn_net *small = t_net(NET, 1), *bn = t_net(BN, 1);
    T_CHECK(small && bn && cnn_train_micro_size(small, 0, 64) == 32 &&
                cnn_train_micro_size(small, 0, 20) == 20 &&
                cnn_train_micro_size(small, 10, 64) == 10 &&
                cnn_train_micro_size(small, 100, 64) == 64 &&
                cnn_train_micro_size(bn, 0, 64) == 64 && cnn_train_micro_size(bn, 8, 64) == 8,
            "cnn_train_micro_size: not the trainer's choices");
    T_CHECK(cnn_train_micro_size(small, -1, 64) == 0 && cnn_train_micro_size(small, 0, 0) == 0 &&
                cnn_train_micro_size(NULL, 0, 64) == 0,
            "cnn_train_micro_size: 0 for what has no size");
    cnn_net_free(small);
    cnn_net_free(bn);
}

static void test_nonfinite(cnn_dataset *tr) {
    cnn_train_config cfg = config(1, 2, 4);
    cfg.augment = (cnn_augment){0};
    cfg.normalize = 0;
    for (int i = 0; i < tr->n; i++) tr->x[(size_t)i * 64 + 9] = NAN; /* every sample */
    cnn_net *net = t_net(NET, 3);
    cnn_trainer *t = NULL;
    char err[1024];
    T_CHECK(cnn_trainer_new(net, tr, NULL, &cfg, &t, err, sizeof err) == 0, "%s", err);
    cnn_status st = t ? cnn_trainer_step(t) : CNN_STATUS_OK;
    const char *msg = t ? cnn_trainer_last_error(t) : "";
    T_CHECK(st == CNN_STATUS_NUMERIC && strstr(msg, "layer 'x' (input)") &&
                strstr(msg, "micro-batch 0 (samples 0 to 3 of the batch)"),
            "names the layer and the micro-batch: %s", msg);
    for (int i = 0; i < tr->n; i++) tr->x[(size_t)i * 64 + 9] = 0.5f;
    cnn_trainer_free(t);
    cnn_net_free(net);
}

/* Runs spec on ds with loss for 2 epochs at micro-batches of `micro`, threads threads. */
static float *train_task(const char *spec, cnn_dataset *ds, cnn_loss loss, int micro,
                         int threads, size_t *n) {
    cnn_train_config cfg = config(2, threads, micro);
    cfg.loss = loss;
    cfg.augment = (cnn_augment){.hflip = loss == CNN_LOSS_PIXEL_CE ? 0.5f : 0.0f};
    cnn_net *net = t_net(spec, 3);
    cnn_trainer *t = NULL;
    char err[1024];
    float *p = NULL;
    if (T_CHECK(cnn_trainer_new(net, ds, NULL, &cfg, &t, err, sizeof err) == 0, "%s", err) &&
        T_CHECK(cnn_trainer_run(t) == 0, "%s: %s", cnn_loss_name(loss), cnn_trainer_last_error(t))) {
        *n = cnn_net_param_count(net);
        p = malloc(*n * sizeof *p);
        memcpy(p, cnn_net_params(net), *n * sizeof *p);
    }
    cnn_trainer_free(t);
    cnn_net_free(net);
    return p;
}

/* The other losses, whose targets are floats (MSE, BCE: two per sample) or masks (pixel
 * cross-entropy): micro-batches of 5 read each one's own targets, the same bits at 1 and 2
 * threads, close to whole batches. */
static void test_tasks(void) {
    int n = 64;
    cnn_dataset *ds = calloc(1, sizeof *ds);
    ds->n = n;
    ds->shape = (cnn_shape){3, {1, 8, 8}};
    ds->classes = 2;
    ds->x = malloc((size_t)n * 64 * sizeof(float));
    ds->targets = malloc((size_t)n * 2 * sizeof(float));
    ds->n_targets = 2;
    ds->masks = malloc((size_t)n * 64 * sizeof(int32_t));
    ds->class_names = calloc(2, sizeof(char *));
    t_fill(ds->x, (size_t)n * 64, 9, 0, 1);
    for (int i = 0; i < n; i++) {
        ds->targets[2 * i] = ds->x[(size_t)i * 64 + 10];
        ds->targets[2 * i + 1] = ds->x[(size_t)i * 64 + 40] > 0.5f;
        for (int p = 0; p < 64; p++) ds->masks[(size_t)i * 64 + p] = ds->x[(size_t)i * 64 + p] > 0.5f;
    }
    static const struct {
        cnn_loss loss;
        const char *spec;
    } cases[] = {
        {CNN_LOSS_MSE, "input x - shape=1x8x8; conv2d c - out=2 kernel=3; flatten f -; dense d - out=2"},
        {CNN_LOSS_BCE_LOGITS, "input x - shape=1x8x8; conv2d c - out=2 kernel=3; flatten f -; dense d - out=2"},
        {CNN_LOSS_PIXEL_CE, "input x - shape=1x8x8; conv2d c x out=3 kernel=3 padding=1; relu r -;"
                            "conv2d o - out=2 kernel=1"},
    };
    for (int c = 0; c < 3; c++) {
        size_t n1 = 0, n2 = 0, nw = 0;
        float *p1 = train_task(cases[c].spec, ds, cases[c].loss, 5, 1, &n1);
        float *p2 = train_task(cases[c].spec, ds, cases[c].loss, 5, 2, &n2);
        float *pw = train_task(cases[c].spec, ds, cases[c].loss, 16, 2, &nw);
        char what[96];
        snprintf(what, sizeof what, "%s, micro-batches of 5: 1 vs 2 threads",
                 cnn_loss_name(cases[c].loss));
        if (p1 && p2) t_same_bits(what, p2, p1, n1);
        snprintf(what, sizeof what, "%s, micro-batches of 5 vs whole batches",
                 cnn_loss_name(cases[c].loss));
        if (p1 && pw) t_close(what, p1, pw, n1, 1e-4, 1e-3);
        free(p1);
        free(p2);
        free(pw);
    }
    t_free_dataset(ds);
}

/* Every allocation of a new trainer with micro-batches failing in turn: each refusal says
 * memory ran out, leaves no trainer, and leaks nothing (the sanitizer run checks). */
static void test_out_of_memory(const cnn_dataset *tr) {
    cnn_train_config cfg = config(1, 2, 4);
    int refused = 0, bad = 0, n;
    char err[1024], first_bad[1024] = "";
    for (n = 1; n < 5000; n++) {
        cnn_net *net = t_net(NET, 3);
        cnn_trainer *t = NULL;
        cnn_fail_alloc_after(n);
        cnn_status st = cnn_trainer_new(net, tr, NULL, &cfg, &t, err, sizeof err);
        long left = cnn_fail_alloc_after(0);
        if (st) {
            refused++;
            if (t || !strstr(err, "memory")) {
                if (!bad++) snprintf(first_bad, sizeof first_bad, "allocation %d: %s", n, err);
            }
        }
        cnn_trainer_free(t);
        cnn_net_free(net);
        if (left > 0) break; /* allocation n was never reached: the trainer made it */
    }
    T_CHECK(refused > 10 && bad == 0, "%d of %d allocations refused, %d without a word on "
            "memory (%s)", refused, n - 1, bad, first_bad);
}

int main(void) {
    char dir[] = "/tmp/cnn_micro_XXXXXX";
    if (!mkdtemp(dir)) return 1;
    cnn_dataset *tr = t_bars(96, 1);
    test_written_out(tr, NET, 4, 1);
    test_written_out(tr, NET, 4, 2);
    test_written_out(tr, NET, 5, 2);
    test_written_out(tr, NET, 3, 3);
    test_written_out(tr, WIDE, 4, 2);
    test_threads(tr);
    test_resume(tr, dir);
    test_choice_and_refusals(tr);
    test_nonfinite(tr);
    test_tasks();
    test_out_of_memory(tr);
    t_free_dataset(tr);
    t_remove_tree(dir);
    return t_finish();
}

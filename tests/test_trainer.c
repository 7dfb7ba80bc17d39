/*
 * test_trainer.c - the trainer (cnn_trainer), the preprocessing a network carries, and
 * inference in three calls, through the public API on small synthetic data sets held in
 * memory:
 *   - the same seed gives the same weights for 1 and 2 threads;
 *   - a run stopped by a callback mid-epoch (and at an epoch's end), saved and resumed, ends
 *     with the uninterrupted run's weights, bit for bit; a resume with other data is refused;
 *   - the callbacks see every step and epoch with consistent numbers;
 *   - a network ending in a softmax trains exactly as the one without it (loss on logits);
 *   - flips alternating by epoch: every image mirrored in every other epoch;
 *   - label smoothing against the formula; NaN detection names where; patience; the best
 *     checkpoint; refusals of bad settings;
 *   - segmentation (masks follow the image's flips) and regression train;
 *   - the preprocessing survives a checkpoint, a version-1 checkpoint derives it from its
 *     metadata, and cnn_classify / cnn_classify_file agree with a plain forward pass.
 */
#include "testlib.h"

#include <math.h>
#include <stb/stb_image_write.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static char dir[] = "/tmp/cnn_trainer_XXXXXX";

static char *path_in(const char *name) {
    static char p[8][4200];
    static int k;
    k = (k + 1) % 8;
    snprintf(p[k], sizeof p[k], "%s/%s", dir, name);
    return p[k];
}

static const char *NET =
    "input x - shape=1x8x8; conv2d c x out=4 kernel=3 padding=1; batchnorm b -; relu r -;"
    "dropout d - p=0.1; flatten f -; dense logits - out=4";

typedef struct counts {
    int steps, epochs, last_step, bad, stop_at;
    double last_lr;
} counts;

static int count_step(void *user, const cnn_train_progress *p) {
    counts *c = user;
    c->steps++;
    if (p->step != c->last_step % p->steps + 1) c->bad++;
    if (!(p->accuracy >= 0 && p->accuracy <= 1) || !(p->loss > 0) || !(p->images_per_sec > 0)) c->bad++;
    c->last_step = p->step;
    c->last_lr = p->lr;
    return c->stop_at && p->global_step == c->stop_at;
}

static int count_epoch(void *user, const cnn_train_progress *p) {
    counts *c = user;
    c->epochs++;
    if (p->step != p->steps || !p->has_val || !(p->val_accuracy >= 0)) c->bad++;
    return 0;
}

static cnn_train_config config(int epochs, int threads) {
    cnn_train_config cfg = cnn_train_defaults();
    cfg.epochs = epochs;
    cfg.batch = 16;
    cfg.threads = threads;
    cfg.seed = 7;
    cfg.augment.crop_pad = 1;
    return cfg;
}

/* The log without its seconds column (the last), for comparing runs. */
static char *log_without_time(const char *log) {
    char *out = malloc(strlen(log) + 1), *o = out;
    for (const char *line = log; *line;) {
        const char *nl = strchr(line, '\n'), *end = nl ? nl : line + strlen(line), *cut = end;
        while (cut > line && cut[-1] != ',') cut--;
        size_t len = (size_t)((cut > line ? cut : end) - line);
        memcpy(o, line, len);
        o += len;
        *o++ = '\n';
        line = nl ? nl + 1 : end;
    }
    *o = 0;
    return out;
}

static char *last_log;

/* Trains a new NET with cfg; returns its parameters (a copy) and fills *n; its log without
 * times goes to last_log. */
static float *train_new(const cnn_train_config *cfg, const cnn_dataset *tr, const cnn_dataset *va,
                        size_t *n, const char *net_spec) {
    cnn_net *net = t_net(net_spec ? net_spec : NET, 11);
    cnn_trainer *t = NULL;
    char err[1024];
    float *p = NULL;
    if (T_CHECK(cnn_trainer_new(net, tr, va, cfg, &t, err, sizeof err) == CNN_STATUS_OK, "new: %s", err) &&
        T_CHECK(cnn_trainer_run(t) == CNN_STATUS_OK, "run: %s", cnn_trainer_last_error(t))) {
        *n = cnn_net_param_count(net);
        free(last_log);
        last_log = log_without_time(cnn_trainer_log_csv(t));
        p = malloc(*n * sizeof *p);
        memcpy(p, cnn_net_params(net), *n * sizeof *p);
    }
    cnn_trainer_free(t);
    cnn_net_free(net);
    return p;
}

static void test_threads_and_callbacks(const cnn_dataset *tr, const cnn_dataset *va) {
    counts c1 = {0}, c2 = {0};
    cnn_train_config a = config(3, 1), b = config(3, 2);
    a.on_step = b.on_step = count_step;
    a.on_epoch = b.on_epoch = count_epoch;
    a.user = &c1;
    b.user = &c2;
    size_t n1 = 0, n2 = 0;
    float *p1 = train_new(&a, tr, va, &n1, NULL), *p2 = train_new(&b, tr, va, &n2, NULL);
    int steps = tr->n / 16;
    T_CHECK(p1 && p2 && n1 == n2, "two runs");
    if (p1 && p2) t_same_bits("1 vs 2 threads", p1, p2, n1);
    T_CHECK(c1.steps == 3 * steps && c1.epochs == 3 && c1.bad == 0,
            "callbacks: %d steps (want %d), %d epochs, %d inconsistent", c1.steps, 3 * steps,
            c1.epochs, c1.bad);
    T_CHECK(c1.last_lr < 0.002 * 0.1, "cosine schedule ends low: lr %g", c1.last_lr);
    /* The same run driven epoch by epoch, then step by step, by the caller. */
    cnn_train_config d = config(3, 1);
    cnn_net *net = t_net(NET, 11);
    cnn_trainer *t = NULL;
    char err[1024];
    int by_epoch = 0, by_step = 0;
    T_CHECK(cnn_trainer_new(net, tr, va, &d, &t, err, sizeof err) == 0, "%s", err);
    for (; t && by_epoch < 2 && cnn_trainer_epoch(t) == 0; by_epoch++) {}
    for (; t && !cnn_trainer_done(t) && cnn_trainer_step(t) == 0; by_step++) {}
    T_CHECK(by_epoch == 2 && by_step == steps && cnn_trainer_epochs_done(t) == 3,
            "2 epochs and %d steps by hand: %d, %d", steps, by_epoch, by_step);
    if (p1) t_same_bits("driven by epochs and steps", cnn_net_params(net), p1, n1);
    T_CHECK(cnn_trainer_step(t) == CNN_STATUS_STATE, "a step after the last epoch is refused");
    cnn_trainer_free(t);
    cnn_net_free(net);
    free(p1);
    free(p2);
}

/* Stops a run at a global step by its callback, resumes it, compares with the whole run
 * (with flips alternating by epoch, which the checkpoint must keep, or drawn). */
static void test_resume(const cnn_dataset *tr, const cnn_dataset *va, int stop_at, int alternate) {
    cnn_train_config cfg = config(3, 1);
    cfg.alternate_flips = alternate;
    size_t n = 0;
    float *whole = train_new(&cfg, tr, va, &n, NULL);
    counts c = {.stop_at = stop_at};
    cfg.on_step = count_step;
    cfg.user = &c;
    cfg.checkpoint = path_in("stopped.ckpt");
    cfg.meta = "caller=kept\n";
    cnn_net *net = t_net(NET, 11);
    cnn_trainer *t = NULL;
    char err[1024];
    T_CHECK(cnn_trainer_new(net, tr, va, &cfg, &t, err, sizeof err) == 0, "%s", err);
    T_CHECK(t && cnn_trainer_run(t) == 0 && cnn_trainer_stopped(t) && !cnn_trainer_done(t),
            "the callback stops the run at step %d", stop_at);
    cnn_trainer_free(t);
    cnn_net_free(net);
    cnn_train_config more = cnn_train_defaults();
    more.threads = 2;
    T_CHECK(cnn_trainer_resume(cfg.checkpoint, tr, va, 0, &more, &t, err, sizeof err) == 0,
            "resume: %s", err);
    if (t && T_CHECK(cnn_trainer_run(t) == 0 && cnn_trainer_done(t), "resumed run: %s",
                     cnn_trainer_last_error(t))) {
        char what[64];
        snprintf(what, sizeof what, "stopped at step %d and resumed%s", stop_at,
                 alternate ? " (alternate flips)" : "");
        t_same_bits(what, cnn_net_params(cnn_trainer_net(t)), whole, n);
        T_CHECK(strstr(cnn_trainer_config(t)->meta, "caller=kept") != NULL, "caller's metadata kept");
        char *log = log_without_time(cnn_trainer_log_csv(t));
        T_CHECK(!strcmp(log, last_log), "the resumed log (the epoch's sums kept):\n%s\nthe "
                "uninterrupted one:\n%s", log, last_log);
        free(log);
    }
    cnn_trainer_free(t);
    free(whole);
}

/* Which of the n images of ds (image i: a column of value i + 1 at the left) each epoch
 * mirrored, flipped[e * n + i], in a run of one step an epoch (the whole set a batch, not
 * normalised, in whole-batch passes), read from the network's input after each step. 0 when
 * an image was not seen once in an epoch, or not as itself or its mirror image. */
static int flips_seen(cnn_dataset *ds, int alternate, int epochs, int *flipped) {
    int n = ds->n;
    cnn_train_config cfg = cnn_train_defaults();
    cfg.epochs = epochs;
    cfg.batch = cfg.micro_batch = n;
    cfg.threads = 1;
    cfg.seed = 7;
    cfg.normalize = 0;
    cfg.alternate_flips = alternate;
    cnn_net *net = t_net("input x - shape=1x8x8; flatten f -; dense logits - out=4", 3);
    cnn_trainer *t = NULL;
    char err[1024];
    int ok = T_CHECK(cnn_trainer_new(net, ds, NULL, &cfg, &t, err, sizeof err) == 0, "%s", err);
    for (int e = 0; ok && e < epochs; e++) {
        ok = T_OK(net, cnn_trainer_step(t));
        const float *in = cnn_net_layer_output(net, 0);
        int seen[64] = {0};
        for (int j = 0; ok && j < n; j++) {
            const float *img = in + (size_t)j * 64;
            int left = img[0] > 0, i = (int)(left ? img[0] : img[7]) - 1;
            ok = i >= 0 && i < n && !seen[i]++;
            for (int p = 0; ok && p < 64; p++)
                ok = img[p] == (p % 8 == (left ? 0 : 7) ? (float)(i + 1) : 0.0f);
            if (ok) flipped[e * n + i] = !left;
        }
    }
    cnn_trainer_free(t);
    cnn_net_free(net);
    return ok;
}

/* Alternate flips: each image mirrored in every other epoch, in phases that differ between
 * images; drawn flips do not alternate so. A flip probability other than 0.5 is refused. */
static void test_alternate_flips(void) {
    enum { N = 8, E = 6 };
    cnn_dataset *ds = t_bars(N, 5);
    for (int i = 0; i < N; i++)
        for (int p = 0; p < 64; p++) ds->x[i * 64 + p] = p % 8 == 0 ? (float)(i + 1) : 0.0f;
    int alt[E * N], drawn[E * N];
    if (T_CHECK(flips_seen(ds, 1, E, alt) && flips_seen(ds, 0, E, drawn),
                "each epoch feeds every image once, as itself or mirrored")) {
        int not_alternating = 0, repeats = 0, first = 0;
        for (int i = 0; i < N; i++) {
            first += alt[i];
            for (int e = 1; e < E; e++) {
                not_alternating += alt[e * N + i] == alt[(e - 1) * N + i];
                repeats += drawn[e * N + i] == drawn[(e - 1) * N + i];
            }
        }
        T_CHECK(not_alternating == 0 && first > 0 && first < N,
                "alternate flips: %d times an image kept its side from one epoch to the next, "
                "%d of %d images mirrored in the first epoch", not_alternating, first, N);
        T_CHECK(repeats > 0, "drawn flips keep an image's side in some epochs (%d times)", repeats);
    }
    cnn_train_config cfg = cnn_train_defaults();
    cnn_net *net = t_net(NET, 3);
    cnn_trainer *t = NULL;
    char err[1024];
    cfg.alternate_flips = 1;
    cfg.augment.hflip = 0.3f;
    T_CHECK(cnn_trainer_new(net, ds, NULL, &cfg, &t, err, sizeof err) ==
                    CNN_STATUS_INVALID_ARGUMENT && strstr(err, "flip probability 0.5"),
            "alternate flips with hflip 0.3 refused: %s", err);
    cfg.augment.hflip = 0.5f;
    cfg.alternate_flips = 2;
    T_CHECK(cnn_trainer_new(net, ds, NULL, &cfg, &t, err, sizeof err) ==
                CNN_STATUS_INVALID_ARGUMENT,
            "alternate flips 2 refused: %s", err);
    cnn_net_free(net);
    t_free_dataset(ds);
}

static void test_resume_refusals(const cnn_dataset *tr, const cnn_dataset *va) {
    char err[1024];
    cnn_trainer *t = NULL;
    tr->y[5] = (tr->y[5] + 1) % 4; /* other data: one label changed */
    T_CHECK(cnn_trainer_resume(path_in("stopped.ckpt"), tr, va, 0, NULL, &t, err, sizeof err) ==
                CNN_STATUS_INVALID_ARGUMENT && strstr(err, "not the run's"),
            "other data refused: %s", err);
    tr->y[5] = (tr->y[5] + 3) % 4;
    T_CHECK(cnn_trainer_resume(path_in("stopped.ckpt"), tr, NULL, 0, NULL, &t, err, sizeof err) != 0,
            "a missing validation set refused: %s", err);
    T_CHECK(cnn_trainer_resume("tests/data/v1.ckpt", tr, va, 0, NULL, &t, err, sizeof err) ==
                CNN_STATUS_FORMAT && strstr(err, "cannot be resumed"),
            "a version-1 checkpoint is not resumed: %s", err);
}

static void test_softmax_output(const cnn_dataset *tr) {
    cnn_train_config cfg = config(2, 1);
    size_t n1 = 0, n2 = 0;
    float *a = train_new(&cfg, tr, NULL, &n1, NET);
    char spec[512];
    snprintf(spec, sizeof spec, "%s; softmax s -", NET);
    float *b = train_new(&cfg, tr, NULL, &n2, spec);
    if (T_CHECK(a && b && n1 == n2, "both train")) t_same_bits("softmax output trains on its logits", a, b, n1);
    free(a);
    free(b);
}

static void test_smoothing(void) {
    float z[2 * 3] = {1.0f, -0.5f, 2.0f, 0.3f, 0.1f, -1.0f}, g[6], loss;
    int32_t y[2] = {2, 0};
    float s = 0.2f;
    T_CHECK(cnn_loss_cross_entropy_smoothed(z, y, 2, 3, 1, s, &loss, g) == 0, "smoothed loss");
    double want = 0, gw[6];
    for (int i = 0; i < 2; i++) {
        double m = -1e9, sum = 0;
        for (int k = 0; k < 3; k++) m = fmax(m, z[i * 3 + k]);
        for (int k = 0; k < 3; k++) sum += exp(z[i * 3 + k] - m);
        for (int k = 0; k < 3; k++) {
            double q = (k == y[i] ? 1 - s : 0) + s / 3, lp = z[i * 3 + k] - m - log(sum);
            want -= q * lp / 2;
            gw[i * 3 + k] = (exp(lp) - q) / 2;
        }
    }
    T_CHECK(fabs(loss - want) < 1e-6, "smoothed loss %.7f, formula %.7f", loss, want);
    float gwf[6];
    for (int k = 0; k < 6; k++) gwf[k] = (float)gw[k];
    t_close("smoothed gradient", g, gwf, 6, 1e-6, 1e-5);
    float l0, l1;
    cnn_loss_cross_entropy(z, y, 2, 3, 1, &l0, NULL);
    cnn_loss_cross_entropy_smoothed(z, y, 2, 3, 1, 0.0f, &l1, NULL);
    T_CHECK(l0 == l1, "smoothing 0 is plain cross-entropy, bit for bit");
}

static void refused(const char *what, const char *frag, const cnn_train_config *cfg,
                    const cnn_dataset *tr, const cnn_dataset *va) {
    cnn_net *net = t_net(NET, 1);
    cnn_trainer *t = NULL;
    char err[1024] = "";
    cnn_status st = cnn_trainer_new(net, tr, va, cfg, &t, err, sizeof err);
    T_CHECK(st != 0 && !t && strstr(err, frag), "%s refused: %s", what, err);
    cnn_net_free(net);
}

static void test_refusals(const cnn_dataset *tr, const cnn_dataset *va) {
    cnn_train_config c = config(2, 1);
    c.optim.lr = 0;
    refused("lr 0", "learning rate", &c, tr, va);
    c = config(2, 1);
    c.augment.sobel = 1;
    refused("sobel as augmentation", "preprocessing", &c, tr, va);
    c = config(2, 1);
    c.patience = 2;
    refused("patience without validation", "validation set", &c, tr, NULL);
    c = config(2, 1);
    c.batch = 100000;
    refused("batch above the data", "larger than", &c, tr, va);
    c = config(2, 1);
    c.loss = CNN_LOSS_PIXEL_CE;
    refused("segmentation loss on labels", "masks", &c, tr, va);
    c = config(2, 1);
    c.label_smoothing = 1.5f;
    refused("label smoothing 1.5", "label smoothing", &c, tr, va);
    c = config(2, 1);
    c.label_smoothing = 0.1f;
    c.loss = CNN_LOSS_MSE;
    refused("label smoothing with MSE", "cross-entropy", &c, tr, va);
    cnn_net *net = t_net("input x - shape=1x8x8; flatten f -; dense d - out=5", 1);
    cnn_trainer *t = NULL;
    char err[1024] = "";
    cnn_train_config cfg = config(1, 1);
    T_CHECK(cnn_trainer_new(net, tr, va, &cfg, &t, err, sizeof err) == CNN_STATUS_SHAPE &&
                strstr(err, "4 classes") && strstr(err, "5"),
            "an output of 5 for 4 classes refused: %s", err);
    cnn_net_free(net);
}

/* An image holding a NaN: the first step stops, naming the layer and the sample. */
static void test_nan(const cnn_dataset *tr) {
    cnn_train_config cfg = config(2, 1);
    float keep = tr->x[5];
    tr->x[5] = NAN;
    cfg.augment = (cnn_augment){0};
    cfg.normalize = 0;
    cnn_net *net = t_net("input x - shape=1x8x8; flatten f -; dense d - out=4", 1);
    cnn_trainer *t = NULL;
    char err[1024];
    T_CHECK(cnn_trainer_new(net, tr, NULL, &cfg, &t, err, sizeof err) == 0, "%s", err);
    cnn_status st = t ? cnn_trainer_run(t) : CNN_STATUS_OK;
    T_CHECK(st == CNN_STATUS_NUMERIC && strstr(cnn_trainer_last_error(t), "training stopped at epoch") &&
                strstr(cnn_trainer_last_error(t), "layer"),
            "a diverging run stops naming where: %s", t ? cnn_trainer_last_error(t) : "");
    tr->x[5] = keep;
    cnn_trainer_free(t);
    cnn_net_free(net);
}

/* A frozen run (learning rate far too small to move anything) cannot improve: patience 2
 * stops it after 3 epochs; the best checkpoint is the first epoch's. */
static void test_patience_and_best(const cnn_dataset *tr, const cnn_dataset *va) {
    cnn_train_config cfg = config(10, 1);
    cfg.optim = cnn_optim_defaults(CNN_OPTIM_SGD, 1e-30f);
    cfg.augment = (cnn_augment){0};
    cfg.patience = 2;
    cfg.best_checkpoint = path_in("best.ckpt");
    cnn_net *net = t_net("input x - shape=1x8x8; flatten f -; dense d - out=4", 1);
    cnn_trainer *t = NULL;
    char err[1024];
    unlink(cfg.best_checkpoint);
    T_CHECK(cnn_trainer_new(net, tr, va, &cfg, &t, err, sizeof err) == 0, "%s", err);
    T_CHECK(t && cnn_trainer_run(t) == 0 && cnn_trainer_done(t) && cnn_trainer_epochs_done(t) == 3,
            "patience 2 stops after 3 epochs (ran %d)", t ? cnn_trainer_epochs_done(t) : -1);
    T_CHECK(access(cfg.best_checkpoint, R_OK) == 0, "the best checkpoint is written");
    cnn_trainer_free(t);
    cnn_net_free(net);
}

/* Segmentation: the mask is 1 on the bright left half of an image; every training image is
 * flipped (hflip = 1), so the masks must flip with them for the network to learn the rule. */
static void test_segmentation(void) {
    int n = 64;
    cnn_dataset *ds = calloc(1, sizeof *ds);
    ds->n = n;
    ds->shape = (cnn_shape){3, {1, 8, 8}};
    ds->classes = 2;
    ds->x = malloc((size_t)n * 64 * sizeof(float));
    ds->masks = malloc((size_t)n * 64 * sizeof(int32_t));
    /* Labels too, of another kind (as Fashion-MNIST with garment masks): not the targets. */
    ds->y = malloc((size_t)n * sizeof(int32_t));
    for (int i = 0; i < n; i++) ds->y[i] = 7;
    ds->class_names = calloc(2, sizeof(char *));
    static const char *names[] = {"dark", "bright"};
    ds->class_names[0] = (char *)names[0];
    ds->class_names[1] = (char *)names[1];
    t_fill(ds->x, (size_t)n * 64, 5, 0, 0.2f);
    for (int i = 0; i < n; i++)
        for (int p = 0; p < 64; p++) {
            int on = (p % 8) < 2 + i % 4; /* a bright band on the left, of varying width */
            if (on) ds->x[(size_t)i * 64 + p] += 0.8f;
            ds->masks[(size_t)i * 64 + p] = on;
        }
    cnn_train_config cfg = config(30, 1);
    cfg.loss = CNN_LOSS_PIXEL_CE;
    cfg.augment = (cnn_augment){.hflip = 1.0f};
    cfg.optim.lr = 0.01f;
    cnn_net *net = t_net("input x - shape=1x8x8; conv2d c x out=4 kernel=3 padding=1; relu r -;"
                         "conv2d o - out=2 kernel=1", 3);
    cnn_trainer *t = NULL;
    char err[1024];
    cnn_metrics m = {0};
    T_CHECK(cnn_trainer_new(net, ds, ds, &cfg, &t, err, sizeof err) == 0, "segmentation: %s", err);
    T_CHECK(t && cnn_trainer_run(t) == 0, "segmentation runs: %s", t ? cnn_trainer_last_error(t) : err);
    T_CHECK(cnn_evaluate_task(net, ds, &m) == 0 && m.top1 > 0.97 && m.iou > 0.9,
            "masks follow flipped images: pixel accuracy %.3f, IoU %.3f", m.top1, m.iou);
    cnn_train_progress p = t ? cnn_trainer_last(t) : (cnn_train_progress){0};
    T_CHECK(p.val_iou > 0.9, "the epoch reports IoU %.3f", p.val_iou);
    cnn_train_config bad = cfg;
    bad.augment.rotate = 10;
    cnn_trainer *t2 = NULL;
    T_CHECK(cnn_trainer_new(net, ds, NULL, &bad, &t2, err, sizeof err) != 0 && strstr(err, "blend"),
            "rotation of masks refused: %s", err);
    cnn_metrics_free(&m);
    cnn_trainer_free(t);
    cnn_net_free(net);
    t_free_dataset(ds);
}

/* Regression: the target is the brightness of pixel 10. */
static void test_regression(void) {
    int n = 128;
    cnn_dataset *ds = calloc(1, sizeof *ds);
    ds->n = n;
    ds->shape = (cnn_shape){3, {1, 8, 8}};
    ds->x = malloc((size_t)n * 64 * sizeof(float));
    ds->targets = malloc((size_t)n * sizeof(float));
    ds->n_targets = 1;
    ds->class_names = calloc(1, sizeof(char *));
    t_fill(ds->x, (size_t)n * 64, 9, 0, 1);
    for (int i = 0; i < n; i++) ds->targets[i] = ds->x[(size_t)i * 64 + 10];
    cnn_train_config cfg = config(20, 1);
    cfg.loss = CNN_LOSS_MSE;
    cfg.augment = (cnn_augment){0};
    cfg.optim = cnn_optim_defaults(CNN_OPTIM_SGD, 0.05f);
    cfg.schedule = CNN_SCHEDULE_CONSTANT;
    cnn_net *net = t_net("input x - shape=1x8x8; flatten f -; dense d - out=1", 3);
    cnn_trainer *t = NULL;
    char err[1024];
    cnn_metrics m = {0};
    T_CHECK(cnn_trainer_new(net, ds, ds, &cfg, &t, err, sizeof err) == 0, "regression: %s", err);
    T_CHECK(t && cnn_trainer_run(t) == 0, "regression runs");
    cnn_status st = cnn_evaluate_task(net, ds, &m);
    T_CHECK(st == 0 && m.loss < 1e-3 && isnan(m.top1),
            "regression learns a pixel: MSE %g, top1 %g (%s)", m.loss, m.top1,
            cnn_net_last_error(net));
    T_CHECK(cnn_net_preprocess(net)->task == CNN_TASK_REGRESSION &&
                cnn_net_preprocess(net)->loss == CNN_LOSS_MSE,
            "the task is kept");
    cnn_metrics_free(&m);
    cnn_trainer_free(t);
    cnn_net_free(net);
    t_free_dataset(ds);
}

/* The preprocessing in a checkpoint, and inference in three calls. */
static void test_inference(const cnn_dataset *tr, const cnn_dataset *te) {
    cnn_train_config cfg = config(8, 1);
    cfg.checkpoint = path_in("model.ckpt");
    cfg.blur = 0.5f;
    cnn_net *net = t_net(NET, 4);
    cnn_trainer *t = NULL;
    char err[1024];
    T_CHECK(cnn_trainer_new(net, tr, NULL, &cfg, &t, err, sizeof err) == 0, "%s", err);
    T_CHECK(t && cnn_trainer_run(t) == 0, "train for inference");
    float mean = cnn_net_preprocess(net)->mean[0], std = cnn_net_preprocess(net)->std[0], raw, sd;
    cnn_dataset_stats(tr, &raw, &sd);
    T_CHECK(mean != raw && std != sd, "the statistics are the blurred images', not the raw ones");
    cnn_trainer_free(t);
    cnn_net_free(net);
    if (!T_OK(NULL, cnn_net_load(cfg.checkpoint, &net, err, sizeof err))) return;
    const cnn_preprocess *p = cnn_net_preprocess(net);
    T_CHECK(p->mean && p->mean[0] == mean && p->std[0] == std && p->blur == 0.5f &&
                p->classes == 4 && !strcmp(cnn_net_class_name(net, 2), "lower") &&
                cnn_net_class_name(net, 4) == NULL,
            "preprocessing from the checkpoint: mean %g std %g blur %g", p->mean ? p->mean[0] : -1,
            p->std ? p->std[0] : -1, p->blur);
    /* cnn_classify against a plain forward pass of preprocessed images. */
    int n = 20, cls[20 * 4], agree = 0, correct = 0;
    float prob[20 * 4], x[20 * 64];
    memcpy(x, te->x, sizeof x);
    T_OK(net, cnn_classify(net, te->x, n, 4, cls, prob));
    T_OK(net, cnn_preprocess_images(net, x, n));
    T_OK(net, cnn_net_prepare(net, n) == CNN_STATUS_OK ? cnn_net_forward(net, x, n) : CNN_STATUS_STATE);
    const float *z = cnn_net_output(net);
    for (int i = 0; i < n; i++) {
        int best = 0;
        for (int k = 1; k < 4; k++)
            if (z[i * 4 + k] > z[i * 4 + best]) best = k;
        agree += best == cls[i * 4];
        correct += cls[i * 4] == te->y[i];
        T_CHECK(prob[i * 4] >= prob[i * 4 + 1] && prob[i * 4 + 1] >= prob[i * 4 + 3] &&
                    fabs(prob[i * 4] + prob[i * 4 + 1] + prob[i * 4 + 2] + prob[i * 4 + 3] - 1) < 1e-5,
                "image %d: probabilities sorted and summing to 1", i);
    }
    T_CHECK(agree == n && correct >= 18, "classify agrees with forward (%d of %d), %d correct", agree, n, correct);
    /* An image file: a PNG of test image 2, read back as cnn_classify_file does. */
    unsigned char px[64];
    for (int k = 0; k < 64; k++) px[k] = (unsigned char)lrintf(te->x[2 * 64 + k] * 255);
    T_CHECK(stbi_write_png(path_in("img.png"), 8, 8, 1, px, 8) != 0, "PNG written");
    int fc[2];
    float fp[2];
    T_CHECK(cnn_classify_file(net, path_in("img.png"), 2, fc, fp) == 0 && fc[0] == cls[2 * 4],
            "classify_file: class %d, classify: %d (%s)", fc[0], cls[2 * 4], cnn_net_last_error(net));
    T_CHECK(cnn_classify_file(net, path_in("missing.png"), 2, fc, fp) != 0 &&
                strstr(cnn_net_last_error(net), "missing.png"),
            "a missing file is named: %s", cnn_net_last_error(net));
    T_CHECK(cnn_classify(net, te->x, 1, 5, fc, fp) == CNN_STATUS_INVALID_ARGUMENT, "top 5 of 4 refused");
    cnn_net_free(net);
}

/* With a Sobel preprocessing, the normalisation is that of the transformed images: the
 * training images as the network sees them have mean 0 and standard deviation 1. */
static void test_normalised_after_transforms(const cnn_dataset *tr) {
    cnn_train_config cfg = config(1, 1);
    cfg.sobel = 1;
    cnn_net *net = t_net(NET, 4);
    cnn_trainer *t = NULL;
    char err[1024];
    T_CHECK(cnn_trainer_new(net, tr, NULL, &cfg, &t, err, sizeof err) == 0, "%s", err);
    size_t n = (size_t)tr->n * 64;
    float *x = malloc(n * sizeof *x);
    memcpy(x, tr->x, n * sizeof *x);
    T_OK(net, cnn_preprocess_images(net, x, tr->n));
    double sum = 0, sq = 0;
    for (size_t i = 0; i < n; i++) sum += x[i], sq += (double)x[i] * x[i];
    double mean = sum / n, sd = sqrt(sq / n - mean * mean);
    T_CHECK(fabs(mean) < 1e-4 && fabs(sd - 1) < 1e-3, "Sobel images normalised: mean %g, sd %g",
            mean, sd);
    free(x);
    cnn_trainer_free(t);
    cnn_net_free(net);
}

/* cnn_net_load_meta: the network as cnn_net_load gives it, and the checkpoint's metadata from
 * the same read; "" for an ONNX model; NULL when the file cannot be loaded. */
static void test_load_meta(void) {
    cnn_net *net = NULL;
    char *meta = (char *)"unset", err[1024], v[64];
    if (!T_OK(NULL, cnn_net_load_meta("tests/data/v1.ckpt", &net, &meta, err, sizeof err))) {
        fprintf(stderr, "%s\n", err);
        return;
    }
    T_CHECK(meta && cnn_meta_get(meta, "classes", v, sizeof v) > 0 && !cnn_net_training(net) &&
                cnn_net_preprocess(net)->classes == 10,
            "a checkpoint's metadata (classes=%s), in evaluation mode",
            meta && cnn_meta_get(meta, "classes", v, sizeof v) > 0 ? v : "?");
    free(meta);
    char *onnx = path_in("meta.onnx");
    T_OK(net, cnn_onnx_save(onnx, net, err, sizeof err));
    cnn_net_free(net);
    net = NULL;
    meta = (char *)"unset";
    T_OK(NULL, cnn_net_load_meta(onnx, &net, &meta, err, sizeof err));
    T_CHECK(net && meta && !*meta, "an ONNX model's metadata: \"\" (%s)", meta ? meta : "NULL");
    free(meta);
    cnn_net_free(net);
    net = NULL;
    meta = (char *)"unset";
    T_CHECK(cnn_net_load_meta("tests/data/no-such.ckpt", &net, &meta, err, sizeof err) &&
                !net && !meta,
            "a missing file: an error (%s), no network, no metadata", err);
}

/* A checkpoint of version 1 (written by cnn train before the PREP section existed, committed
 * as tests/data/v1.ckpt: a dense layer on 1x8x8, 10 classes) derives its preprocessing from
 * the mean=, std= and classes= lines of its metadata. */
static void test_version1(void) {
    cnn_net *net = NULL;
    char err[1024];
    if (!T_OK(NULL, cnn_net_load("tests/data/v1.ckpt", &net, err, sizeof err))) {
        fprintf(stderr, "%s\n", err);
        return;
    }
    const cnn_preprocess *p = cnn_net_preprocess(net);
    T_CHECK(p->task == CNN_TASK_CLASSIFICATION && p->mean && p->std && p->mean[0] > 0.05f &&
                p->mean[0] < 0.5f && p->std[0] > 0.1f && p->classes == 10 &&
                !strcmp(cnn_net_class_name(net, 9), "9"),
            "version 1: mean %g, std %g, %d classes", p->mean ? p->mean[0] : -1,
            p->std ? p->std[0] : -1, p->classes);
    float x[64] = {0};
    int c;
    T_CHECK(cnn_classify(net, x, 1, 1, &c, NULL) == 0 && c >= 0 && c < 10, "version 1 classifies");
    cnn_net_free(net);
}

int main(void) {
    if (!mkdtemp(dir)) return 1;
    cnn_dataset *tr = t_bars(192, 1), *va = t_bars(48, 2), *te = t_bars(40, 3);
    test_threads_and_callbacks(tr, va);
    test_resume(tr, va, 17, 0);  /* mid-epoch (12 steps an epoch) */
    test_resume(tr, va, 24, 0);  /* at the end of epoch 2 */
    test_resume(tr, va, 17, 1);
    test_alternate_flips();
    test_resume_refusals(tr, va);
    test_softmax_output(tr);
    test_smoothing();
    test_refusals(tr, va);
    test_nan(tr);
    test_patience_and_best(tr, va);
    test_segmentation();
    test_regression();
    test_inference(tr, te);
    test_normalised_after_transforms(tr);
    test_version1();
    test_load_meta();
    t_free_dataset(tr);
    t_free_dataset(va);
    t_free_dataset(te);
    free(last_log);
    t_remove_tree(dir);
    return t_finish();
}

/*
 * test_mix.c - mixup and CutMix: the mixed-target cross-entropy (against the two labels'
 * losses it is a weighting of), cnn_mix_batch (what each method does to a pair, the Beta
 * draws' statistics, determinism and shares of a batch), and the trainer with them (thread
 * counts, micro-batches, resuming, refusals).
 */
#include "testlib.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* ---------------------------------------------------------------------------------------------
 * The loss
 * ------------------------------------------------------------------------------------------- */

/* Per element, the mixed loss is m CE(a) + (1 - m) CE(b) and so is its gradient: the target
 * is linear in the one-hots, and so is the loss in the target. */
static void test_mixed_loss(void) {
    enum { N = 6, K = 5 };
    float z[N * K], m[N] = {1.0f, 0.0f, 0.5f, 0.25f, 0.9f, 0.6f};
    int32_t a[N] = {0, 1, 2, 3, 4, 2}, b[N] = {4, 3, 2, 1, 0, 0};
    t_fill(z, N * K, 3, -3.0f, 3.0f);
    for (int si = 0; si < 2; si++) {
        float s = si ? 0.1f : 0.0f;
        cnn_ce_options plain = {.reduction = CNN_REDUCTION_NONE, .smoothing = s};
        cnn_ce_options mixed = plain;
        mixed.labels_b = b;
        mixed.mix = m;
        float la[N], lb[N], lm[N], ga[N * K], gb[N * K], gm[N * K], want[N], gwant[N * K];
        T_CHECK(cnn_loss_cross_entropy_ex(z, a, N, K, 1, &plain, la, ga) == 0 &&
                    cnn_loss_cross_entropy_ex(z, b, N, K, 1, &plain, lb, gb) == 0 &&
                    cnn_loss_cross_entropy_ex(z, a, N, K, 1, &mixed, lm, gm) == 0,
                "losses (smoothing %g)", (double)s);
        for (int i = 0; i < N; i++) {
            want[i] = m[i] * la[i] + (1 - m[i]) * lb[i];
            for (int k = 0; k < K; k++)
                gwant[i * K + k] = m[i] * ga[i * K + k] + (1 - m[i]) * gb[i * K + k];
        }
        char what[64];
        snprintf(what, sizeof what, "mixed losses, smoothing %g", (double)s);
        t_close(what, lm, want, N, 1e-6, 1e-6);
        snprintf(what, sizeof what, "mixed gradients, smoothing %g", (double)s);
        t_close(what, gm, gwant, N * K, 1e-7, 1e-6);
        /* Mean and sum are the elements' mean (over the count) and sum. */
        double sum = 0;
        for (int i = 0; i < N; i++) sum += lm[i];
        float mean, total, gmean[N * K];
        mixed.reduction = CNN_REDUCTION_MEAN;
        T_CHECK(cnn_loss_cross_entropy_ex(z, a, N, K, 1, &mixed, &mean, gmean) == 0 &&
                    fabs(mean - sum / N) < 1e-6,
                "mixed mean %g, elements' mean %g", (double)mean, sum / N);
        for (int k = 0; k < N * K; k++) gwant[k] = gm[k] / N;
        t_close("mixed mean's gradient", gmean, gwant, N * K, 1e-8, 1e-6);
        mixed.reduction = CNN_REDUCTION_SUM;
        T_CHECK(cnn_loss_cross_entropy_ex(z, a, N, K, 1, &mixed, &total, NULL) == 0 &&
                    fabs(total - sum) < 1e-5,
                "mixed sum %g, elements' sum %g", (double)total, sum);
    }
    /* Refusals: half the pair of arrays, a share or a label out of range, weights, ignore. */
    const cnn_status A = CNN_STATUS_INVALID_ARGUMENT;
    float loss, w[K] = {1, 1, 1, 1, 1}, bad_m[N] = {0.5f, 1.5f, 0, 0, 0, 0};
    int32_t bad_b[N] = {0, 5, 0, 0, 0, 0};
    cnn_ce_options o = {.reduction = CNN_REDUCTION_MEAN, .labels_b = b};
    T_CHECK(cnn_loss_cross_entropy_ex(z, a, N, K, 1, &o, &loss, NULL) == A, "labels_b alone");
    o = (cnn_ce_options){.reduction = CNN_REDUCTION_MEAN, .mix = m};
    T_CHECK(cnn_loss_cross_entropy_ex(z, a, N, K, 1, &o, &loss, NULL) == A, "mix alone");
    o.labels_b = b;
    o.mix = bad_m;
    T_CHECK(cnn_loss_cross_entropy_ex(z, a, N, K, 1, &o, &loss, NULL) == A, "a share of 1.5");
    o.mix = m;
    o.labels_b = bad_b;
    T_CHECK(cnn_loss_cross_entropy_ex(z, a, N, K, 1, &o, &loss, NULL) == A, "partner label 5 of 5");
    o.labels_b = b;
    o.weights = w;
    T_CHECK(cnn_loss_cross_entropy_ex(z, a, N, K, 1, &o, &loss, NULL) == A, "with class weights");
    o.weights = NULL;
    o.ignore = 1;
    T_CHECK(cnn_loss_cross_entropy_ex(z, a, N, K, 1, &o, &loss, NULL) == A, "with ignore");
}

/* ---------------------------------------------------------------------------------------------
 * cnn_mix_batch
 * ------------------------------------------------------------------------------------------- */

/* mixup: each image of a pair is the blend of both with its own share lam. */
static void test_mixup_pairs(void) {
    enum { N = 8, C = 2, H = 5, W = 4, D = C * H * W };
    cnn_shape shape = {3, {C, H, W}};
    float x[N * D], x0[N * D], lam[N];
    int32_t y[N] = {0, 1, 2, 3, 4, 5, 6, 7}, yb[N];
    t_fill(x0, N * D, 5, -1.0f, 1.0f);
    memcpy(x, x0, sizeof x);
    T_CHECK(cnn_mix_batch(x, y, N, &shape, 0, 0.4f, 0.0f, 9, yb, lam) == 0, "mixup");
    int ok = 1;
    for (int j = 0; j < N / 2; j++) {
        int i = 2 * j;
        const float *a = x0 + (size_t)i * D, *b = a + D;
        ok &= yb[i] == y[i + 1] && yb[i + 1] == y[i] && lam[i] == lam[i + 1] && lam[i] > 0 &&
              lam[i] < 1;
        for (int k = 0; k < D; k++) {
            float l = lam[i];
            ok &= fabsf(x[(size_t)i * D + k] - (l * a[k] + (1 - l) * b[k])) < 1e-6f &&
                  fabsf(x[(size_t)(i + 1) * D + k] - (l * b[k] + (1 - l) * a[k])) < 1e-6f;
        }
    }
    T_CHECK(ok, "mixup: partners' labels, one share per pair, blended images");
    T_CHECK(lam[0] != lam[2] || lam[2] != lam[4], "pairs draw their own shares");
    /* Both methods off: nothing changes, every share 1. */
    memcpy(x, x0, sizeof x);
    T_CHECK(cnn_mix_batch(x, y, N, &shape, 0, 0, 0, 9, yb, lam) == 0 && !memcmp(x, x0, sizeof x) &&
                lam[3] == 1.0f && yb[3] == 2,
            "both off: unchanged, shares 1");
}

/* CutMix: a rectangle swapped between the two images, every channel alike, and each share is
 * the part of the image left outside it. */
static void test_cutmix_pairs(void) {
    enum { N = 64, C = 3, H = 7, W = 9, D = C * H * W };
    cnn_shape shape = {3, {C, H, W}};
    float *x = malloc(N * D * sizeof *x), lam[N];
    int32_t y[N], yb[N];
    for (int i = 0; i < N; i++) {
        y[i] = i % 10;
        for (int k = 0; k < D; k++) x[(size_t)i * D + k] = (float)(i % 2); /* a 0, b 1 */
    }
    T_CHECK(cnn_mix_batch(x, y, N, &shape, 0, 0.0f, 1.0f, 4, yb, lam) == 0, "cutmix");
    int ok = 1, rect = 1, partial = 0;
    for (int j = 0; j < N / 2; j++) {
        const float *a = x + (size_t)(2 * j) * D, *b = a + D;
        int in_a = 0, y0 = H, y1 = -1, x0 = W, x1 = -1;
        for (int k = 0; k < D; k++) {
            ok &= a[k] + b[k] == 1.0f; /* swapped, not blended */
            in_a += a[k] == 1.0f;
        }
        for (int r = 0; r < H; r++)
            for (int c = 0; c < W; c++)
                if (a[r * W + c] == 1.0f) {
                    y0 = r < y0 ? r : y0, y1 = r > y1 ? r : y1;
                    x0 = c < x0 ? c : x0, x1 = c > x1 ? c : x1;
                }
        int area = in_a / C;
        ok &= in_a % C == 0 && fabsf(lam[2 * j] - (1.0f - (float)area / (H * W))) < 1e-6f &&
              lam[2 * j] == lam[2 * j + 1];
        /* What is in a comes from b as one rectangle, the same in every channel. */
        if (area) rect &= (y1 - y0 + 1) * (x1 - x0 + 1) == area;
        for (int ch = 1; ch < C; ch++)
            rect &= !memcmp(a, a + (size_t)ch * H * W, H * W * sizeof *a);
        partial += area > 0 && area < H * W;
    }
    T_CHECK(ok, "cutmix: values swapped between partners; share = 1 - the rectangle's area");
    T_CHECK(rect, "cutmix: the pasted pixels form one rectangle, alike in every channel");
    T_CHECK(partial > N / 4, "cutmix: %d of %d pairs paste part of an image", partial, N / 2);
    free(x);
}

/* The shares drawn from Beta(a, a): mean 1/2, variance 1 / (4 (2a + 1)), for shapes below and
 * above 1 (the two branches of the gamma draws). */
static void test_beta_statistics(void) {
    enum { PAIRS = 20000 };
    cnn_shape shape = {1, {1}};
    float *x = calloc(2 * PAIRS, sizeof *x), *lam = malloc(2 * PAIRS * sizeof *lam);
    int32_t *y = calloc(2 * PAIRS, sizeof *y), *yb = malloc(2 * PAIRS * sizeof *yb);
    const float alphas[] = {0.2f, 1.0f, 3.0f};
    for (int t = 0; t < 3; t++) {
        float a = alphas[t];
        cnn_mix_batch(x, y, 2 * PAIRS, &shape, 0, a, 0.0f, 100 + t, yb, lam);
        double sum = 0, sq = 0;
        for (int j = 0; j < PAIRS; j++) sum += lam[2 * j];
        double mean = sum / PAIRS;
        for (int j = 0; j < PAIRS; j++) sq += (lam[2 * j] - mean) * (lam[2 * j] - mean);
        double var = sq / (PAIRS - 1), want = 1.0 / (4.0 * (2.0 * a + 1.0));
        /* Standard errors: mean sqrt(var / n) ~ 0.003, variance well under 3%. */
        T_CHECK(fabs(mean - 0.5) < 0.012 && fabs(var - want) < 0.06 * want,
                "Beta(%g, %g): mean %.4f (1/2), variance %.4f (%.4f)", (double)a, (double)a, mean,
                var, want);
    }
    free(x);
    free(lam);
    free(y);
    free(yb);
}

/* The same seed gives the same batch; shares of a batch passed with their places mix as the
 * whole batch does; with both methods each is taken about half the time. */
static void test_determinism_and_shares(void) {
    enum { N = 16, D = 2 * 6 * 6, PAIRS = 2000 };
    cnn_shape shape = {3, {2, 6, 6}};
    float whole[N * D], parts[N * D], lw[N], lp[N];
    int32_t y[N], bw[N], bp[N];
    for (int i = 0; i < N; i++) y[i] = i;
    t_fill(whole, N * D, 8, 0.0f, 1.0f);
    memcpy(parts, whole, sizeof whole);
    cnn_mix_batch(whole, y, N, &shape, 0, 0.3f, 1.0f, 77, bw, lw);
    cnn_mix_batch(parts, y, 6, &shape, 0, 0.3f, 1.0f, 77, bp, lp);
    cnn_mix_batch(parts + 6 * D, y + 6, N - 6, &shape, 6, 0.3f, 1.0f, 77, bp + 6, lp + 6);
    T_CHECK(!memcmp(whole, parts, sizeof whole) && !memcmp(lw, lp, sizeof lw) &&
                !memcmp(bw, bp, sizeof bw),
            "a batch mixed in two shares (places 0 and 6) as in one");
    /* Both on: CutMix leaves values of the two images only, mixup blends them. */
    float *x = malloc((size_t)2 * PAIRS * D * sizeof *x), *lam = malloc(2 * PAIRS * sizeof *lam);
    int32_t *yy = calloc(2 * PAIRS, sizeof *yy), *yb = malloc(2 * PAIRS * sizeof *yb);
    for (size_t k = 0; k < (size_t)2 * PAIRS * D; k++) x[k] = (float)((k / D) % 2);
    cnn_mix_batch(x, yy, 2 * PAIRS, &shape, 0, 0.3f, 1.0f, 5, yb, lam);
    int cut = 0;
    for (int j = 0; j < PAIRS; j++) {
        const float *a = x + (size_t)2 * j * D;
        int blended = 0;
        for (int k = 0; k < D; k++) blended |= a[k] != 0.0f && a[k] != 1.0f;
        cut += !blended;
    }
    T_CHECK(cut > PAIRS * 0.45 && cut < PAIRS * 0.55, "both on: %d of %d pairs cut", cut, PAIRS);
    /* Refusals. */
    const cnn_status A = CNN_STATUS_INVALID_ARGUMENT;
    cnn_shape flat = {1, {D}};
    T_CHECK(cnn_mix_batch(whole, y, 5, &shape, 0, 0.2f, 0, 1, bw, lw) == A, "an odd count");
    T_CHECK(cnn_mix_batch(whole, y, 4, &shape, 3, 0.2f, 0, 1, bw, lw) == A, "an odd place");
    T_CHECK(cnn_mix_batch(whole, y, 4, &shape, 0, -0.2f, 0, 1, bw, lw) == A, "alpha -0.2");
    T_CHECK(cnn_mix_batch(whole, y, 4, &shape, 0, 0, NAN, 1, bw, lw) == A, "alpha NaN");
    T_CHECK(cnn_mix_batch(whole, y, 4, &flat, 0, 0, 1.0f, 1, bw, lw) == CNN_STATUS_SHAPE,
            "CutMix on flat samples");
    T_CHECK(cnn_mix_batch(whole, y, 4, &flat, 0, 0.2f, 0, 1, bw, lw) == 0, "mixup on flat samples");
    free(x);
    free(lam);
    free(yy);
    free(yb);
}

/* ---------------------------------------------------------------------------------------------
 * The trainer
 * ------------------------------------------------------------------------------------------- */

static const char *BN_NET = "input x - shape=1x8x8; conv2d c x out=4 kernel=3 padding=1 bias=0;"
                            "batchnorm b -; relu r -; flatten f -; dense logits - out=4";
static const char *PLAIN_NET = "input x - shape=1x8x8; conv2d c x out=4 kernel=3 padding=1;"
                               "relu r -; flatten f -; dense logits - out=4";

static cnn_train_config config(int threads) {
    cnn_train_config cfg = cnn_train_defaults();
    cfg.epochs = 3;
    cfg.batch = 16;
    cfg.threads = threads;
    cfg.seed = 7;
    cfg.label_smoothing = 0.1f;
    cfg.mixup = 0.4f;
    cfg.cutmix = 1.0f;
    return cfg;
}

typedef struct stopper {
    int at;
} stopper;

static int stop_at(void *user, const cnn_train_progress *p) {
    const stopper *s = user;
    return s->at && p->global_step == s->at;
}

/* Trains spec with cfg (a fresh network); returns a copy of its parameters, its last training
 * loss and accuracy. */
static float *train(const char *spec, const cnn_train_config *cfg, const cnn_dataset *tr,
                    size_t *n, double *loss, double *acc) {
    cnn_net *net = t_net(spec, 11);
    cnn_trainer *t = NULL;
    char err[1024];
    float *p = NULL;
    if (T_CHECK(cnn_trainer_new(net, tr, NULL, cfg, &t, err, sizeof err) == 0, "new: %s", err) &&
        T_CHECK(cnn_trainer_run(t) == 0, "run: %s", cnn_trainer_last_error(t))) {
        *n = cnn_net_param_count(net);
        p = malloc(*n * sizeof *p);
        memcpy(p, cnn_net_params(net), *n * sizeof *p);
        cnn_train_progress last = cnn_trainer_last(t);
        if (loss) *loss = last.loss;
        if (acc) *acc = last.accuracy;
    }
    cnn_trainer_free(t);
    cnn_net_free(net);
    return p;
}

static void test_trainer(const cnn_dataset *tr, const char *dir) {
    size_t n1 = 0, n2 = 0, n3 = 0, n4 = 0;
    double loss_mixed = 0, loss_plain = 0, acc = 0;
    cnn_train_config a = config(1), b = config(2);
    float *p1 = train(BN_NET, &a, tr, &n1, &loss_mixed, &acc), *p2 = train(BN_NET, &b, tr, &n2, NULL, NULL);
    if (T_CHECK(p1 && p2 && n1 == n2, "two runs")) t_same_bits("mixing, 1 vs 2 threads", p1, p2, n1);
    T_CHECK(acc > 0.25 && acc <= 1, "training accuracy counted on the larger share: %g", acc);
    cnn_train_config off = config(1);
    off.mixup = off.cutmix = 0;
    float *p3 = train(BN_NET, &off, tr, &n3, &loss_plain, NULL);
    int differ = p1 && p3 && n3 == n1 && memcmp(p1, p3, n1 * sizeof *p1);
    T_CHECK(differ && loss_mixed > loss_plain,
            "mixing changes the run (weights differ: %d) and its targets are harder (loss %g "
            "against %g unmixed)", differ, loss_mixed, loss_plain);
    /* Micro-batches of 4 (two pairs each) on 1 and 2 threads. */
    cnn_train_config m1 = config(1), m2 = config(2);
    m1.micro_batch = m2.micro_batch = 4;
    free(p3);
    p3 = train(PLAIN_NET, &m1, tr, &n3, NULL, NULL);
    float *p4 = train(PLAIN_NET, &m2, tr, &n4, NULL, NULL);
    if (T_CHECK(p3 && p4 && n3 == n4, "micro-batched runs"))
        t_same_bits("mixing with micro-batches, 1 vs 2 threads", p3, p4, n3);
    /* Stopped mid-epoch and resumed (with other settings given: the run's are kept). */
    char path[4200];
    snprintf(path, sizeof path, "%s/mix.ckpt", dir);
    stopper s = {.at = 17};
    cnn_train_config c = config(1);
    c.checkpoint = path;
    c.on_step = stop_at;
    c.user = &s;
    cnn_net *net = t_net(BN_NET, 11);
    cnn_trainer *t = NULL;
    char err[1024];
    T_CHECK(cnn_trainer_new(net, tr, NULL, &c, &t, err, sizeof err) == 0, "%s", err);
    T_CHECK(t && cnn_trainer_run(t) == 0 && cnn_trainer_stopped(t), "stopped at step 17");
    cnn_trainer_free(t);
    cnn_net_free(net);
    cnn_train_config more = cnn_train_defaults();
    T_CHECK(cnn_trainer_resume(path, tr, NULL, 0, &more, &t, err, sizeof err) == 0, "resume: %s",
            err);
    if (t && T_CHECK(cnn_trainer_run(t) == 0 && cnn_trainer_done(t), "resumed: %s",
                     cnn_trainer_last_error(t)) && p1) {
        T_CHECK(cnn_trainer_config(t)->mixup == 0.4f && cnn_trainer_config(t)->cutmix == 1.0f,
                "the checkpoint keeps mixup and cutmix");
        t_same_bits("mixing, stopped at step 17 and resumed", cnn_net_params(cnn_trainer_net(t)),
                    p1, n1);
    }
    cnn_trainer_free(t);
    free(p1);
    free(p2);
    free(p3);
    free(p4);
}

static void refused(const char *what, const char *frag, const cnn_train_config *cfg,
                    const cnn_dataset *tr) {
    cnn_net *net = t_net(PLAIN_NET, 1);
    cnn_trainer *t = NULL;
    char err[1024] = "";
    cnn_status st = cnn_trainer_new(net, tr, NULL, cfg, &t, err, sizeof err);
    T_CHECK(st != 0 && !t && strstr(err, frag), "%s refused: %s", what, err);
    cnn_net_free(net);
}

static void test_refusals(cnn_dataset *tr) {
    cnn_train_config c = config(1);
    c.batch = 15;
    refused("an odd batch", "even batch", &c, tr);
    c = config(1);
    c.mixup = -1;
    refused("mixup -1", "mixup -1", &c, tr);
    c = config(1);
    c.cutmix = INFINITY;
    refused("cutmix inf", "finite", &c, tr);
    c = config(1);
    c.label_smoothing = 0;
    c.loss = CNN_LOSS_BCE_LOGITS;
    refused("mixing for BCE", "classification", &c, tr);
    /* CutMix needs images; the same samples seen flat are refused. */
    cnn_shape image = tr->shape;
    tr->shape = (cnn_shape){1, {64}};
    c = config(1);
    c.mixup = 0;
    refused("CutMix on flat samples", "CutMix need images", &c, tr);
    tr->shape = image;
}

int main(void) {
    char dir[] = "/tmp/cnn_mix_XXXXXX";
    if (!mkdtemp(dir)) return 1;
    test_mixed_loss();
    test_mixup_pairs();
    test_cutmix_pairs();
    test_beta_statistics();
    test_determinism_and_shares();
    cnn_dataset *tr = t_bars(192, 1);
    test_trainer(tr, dir);
    test_refusals(tr);
    t_free_dataset(tr);
    t_remove_tree(dir);
    return t_finish();
}

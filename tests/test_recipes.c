/*
 * test_recipes.c - what fast training recipes need (issue 17, docs/RESULTS.md):
 *   - the linear schedule (one-cycle with a warm-up): the rates of the formula, step by step;
 *     schedule names both ways;
 *   - random erasing: one zero rectangle of 2% to 33% of the image, aspect in [0.3, 3.3], the
 *     same for the same seed; its text form;
 *   - test-time flips: cnn_classify and cnn_evaluate_task score an image by the mean of its
 *     and its mirror image's scores; kept by checkpoints; refused where it has no meaning;
 *     cnn eval's --tta, --tta-shift and --no-tta give the library's result with those views;
 *   - a time budget: the probe is undone to the bit, and the run it picks N epochs for ends
 *     with the very weights of a run of N epochs; a budget shorter than an epoch is refused;
 *     a run slower than its probe is cut to the epochs that fit, its schedule refitted;
 *   - the recipes: each names a zoo model and a configuration the trainer takes; cnn recipes
 *     lists them, cnn train --recipe runs one, the options given beside it overriding it;
 *   - cnn train --alternate-flips: said at the start, kept by a resumed run, refused beside a
 *     flip probability other than 0.5.
 */
#define _POSIX_C_SOURCE 200809L /* nanosleep */
#include "testlib.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static void test_linear_schedule(void) {
    cnn_schedule s = {.kind = CNN_SCHEDULE_LINEAR, .warmup_steps = 4, .total_steps = 14,
                      .min_lr = 0.01f};
    int ok = 1;
    for (int64_t t = 0; t < 20; t++) {
        double want = t < 4 ? 0.5 * (double)(t + 1) / 4
                    : t - 4 >= 10 ? 0.01
                                  : 0.01 + (0.5 - 0.01) * (1.0 - (double)(t - 4) / 10);
        float got = cnn_schedule_lr(&s, 0.5f, t);
        ok &= fabs(got - want) <= 1e-6 * want;
    }
    T_CHECK(ok, "linear schedule: a rate differs from warm-up then base -> min_lr over 10 steps");
    for (int k = 0; k < 4; k++)
        T_CHECK(cnn_schedule_parse(cnn_schedule_name((cnn_schedule_kind)k)) == k,
                "schedule %d does not read back from its name", k);
    T_CHECK(cnn_schedule_parse("linear") == CNN_SCHEDULE_LINEAR && cnn_schedule_parse("tri") == -1,
            "schedule names");
    printf("  ok the linear schedule's 20 rates, schedule names\n");
}

static void test_erase(void) {
    cnn_augment aug;
    char err[256], text[128];
    T_OK(NULL, cnn_augment_parse("erase", &aug, err, sizeof err));
    T_CHECK(aug.erase == 0.5f, "erase alone is probability %g, expected 0.5", (double)aug.erase);
    T_OK(NULL, cnn_augment_parse("erase=1", &aug, err, sizeof err));
    cnn_augment_format(&aug, text, sizeof text);
    T_CHECK(!strcmp(text, "erase=1"), "erase=1 formats as '%s'", text);
    enum { C = 2, H = 20, W = 30 };
    float x[C * H * W], y[C * H * W], scratch[2 * C * H * W];
    int bad = 0, erased = 0;
    for (uint64_t seed = 1; seed <= 200; seed++) {
        for (int i = 0; i < C * H * W; i++) x[i] = y[i] = 1;
        cnn_augment_image(&aug, x, C, H, W, seed, scratch);
        cnn_augment_image(&aug, y, C, H, W, seed, scratch);
        bad += memcmp(x, y, sizeof x) != 0;
        /* The zeros of channel 0: a rectangle, the same in channel 1. */
        int y0 = H, y1 = -1, x0 = W, x1 = -1, zeros = 0;
        for (int r = 0; r < H; r++)
            for (int c = 0; c < W; c++)
                if (x[r * W + c] == 0) {
                    zeros++;
                    y0 = r < y0 ? r : y0, y1 = r > y1 ? r : y1;
                    x0 = c < x0 ? c : x0, x1 = c > x1 ? c : x1;
                }
        if (!zeros) continue; /* no draw fitted: nothing erased, as torchvision */
        erased++;
        int h = y1 - y0 + 1, w = x1 - x0 + 1;
        double area = (double)h * w / (H * W), aspect = (double)h / w;
        bad += zeros != h * w || memcmp(x, x + H * W, sizeof(float) * H * W) != 0 ||
               area < 0.015 || area > 0.36 || aspect < 0.25 || aspect > 4;
    }
    T_CHECK(!bad && erased > 180, "random erasing: %d bad of 200, %d erased", bad, erased);
    printf("  ok random erasing: %d of 200 images erased, each one rectangle within bounds\n",
           erased);
}

/* A small classifier whose scores depend on where things are, so that a mirror image scores
 * differently. */
static cnn_net *lopsided(void) {
    cnn_net *net = t_net("input x - shape=1x6x6; conv2d c x out=3 kernel=3; relu r -;"
                         "flatten f -; dense logits - out=4", 11);
    cnn_net_prepare(net, 8);
    return net;
}

static void mirror(float *x, int h, int w) {
    for (int r = 0; r < h; r++)
        for (int c = 0; c < w / 2; c++) {
            float t = x[r * w + c];
            x[r * w + c] = x[r * w + w - 1 - c];
            x[r * w + w - 1 - c] = t;
        }
}

/* With the network's test-time views set: cnn_classify's probabilities of the 6x6 image x are
 * the softmax of the views' mean scores `mean`, and cnn_evaluate_task's loss of x labelled
 * `label` their cross-entropy. */
static void check_mean_scores(cnn_net *net, float *x, int label, const double mean[4],
                              const char *what) {
    double mx = -1e30, sum = 0;
    for (int k = 0; k < 4; k++) mx = fmax(mx, mean[k]);
    for (int k = 0; k < 4; k++) sum += exp(mean[k] - mx);
    int cls[4], ok = 1;
    float prob[4];
    T_OK(net, cnn_classify(net, x, 1, 4, cls, prob));
    for (int r = 0; r < 4; r++) ok &= fabs(prob[r] - exp(mean[cls[r]] - mx) / sum) < 1e-5;
    T_CHECK(ok, "classify with %s: not the softmax of the views' mean scores", what);
    cnn_dataset ds = {.n = 1, .shape = {3, {1, 6, 6}}, .classes = 4, .x = x,
                      .y = (int32_t[]){label}};
    char *names[4] = {"a", "b", "c", "d"};
    ds.class_names = names;
    cnn_metrics m;
    T_OK(net, cnn_evaluate_task(net, &ds, &m));
    double want = -(mean[label] - mx - log(sum));
    T_CHECK(fabs(m.loss - want) < 1e-5, "evaluation with %s: loss %g, expected %g", what, m.loss,
            want);
    cnn_metrics_free(&m);
}

static void test_tta(void) {
    cnn_net *net = lopsided();
    float x[36], xm[36], z1[4], z2[4];
    t_fill(x, 36, 5, 0, 1);
    memcpy(xm, x, sizeof x);
    mirror(xm, 6, 6);
    T_OK(net, cnn_net_scores(net, x, z1, NULL));
    T_OK(net, cnn_net_scores(net, xm, z2, NULL));
    cnn_preprocess p = *cnn_net_preprocess(net);
    p.hflip_tta = 1;
    T_OK(net, cnn_net_set_preprocess(net, &p));
    T_CHECK(fabs(z1[0] - z2[0]) > 1e-4, "the image and its mirror image score alike: %g %g",
            (double)z1[0], (double)z2[0]);
    double mean[4];
    for (int k = 0; k < 4; k++) mean[k] = 0.5 * ((double)z1[k] + z2[k]);
    check_mean_scores(net, x, 2, mean, "test-time flips");
    /* Kept by a checkpoint. */
    char path[64] = "/tmp/cnn_tta_XXXXXX", err[1024];
    int fd = mkstemp(path);
    close(fd);
    cnn_net *back = NULL;
    T_OK(net, cnn_checkpoint_save(path, net, NULL, NULL, err, sizeof err));
    T_OK(NULL, cnn_checkpoint_load(path, &back, NULL, NULL, err, sizeof err));
    T_CHECK(back && cnn_net_preprocess(back)->hflip_tta == 1, "a checkpoint lost hflip_tta");
    unlink(path);
    cnn_net_free(back);
    p.hflip_tta = 2;
    T_CHECK(cnn_net_set_preprocess(net, &p) == CNN_STATUS_INVALID_ARGUMENT, "hflip_tta 2 accepted");
    cnn_net_free(net);
    cnn_net *flat = t_net("input x - shape=8; dense logits x out=3", 1);
    for (int shifts = 0; shifts <= 1; shifts++) {
        p = *cnn_net_preprocess(flat);
        p.hflip_tta = !shifts;
        p.tta_shift = shifts;
        T_CHECK(cnn_net_set_preprocess(flat, &p) == CNN_STATUS_INVALID_ARGUMENT &&
                    strstr(cnn_net_last_error(flat), "(C, H, W)"),
                "test-time %s of a flat input: %s", shifts ? "shifts" : "flips",
                cnn_net_last_error(flat));
    }
    cnn_net_free(flat);
    printf("  ok test-time flips: classify, evaluate, checkpoint, refusals (and shifts of a "
           "flat input)\n");
}

/* out[y][i] = x[y + dy][i + dx] of a 6x6 image, fill outside. */
static void shifted(const float *x, float *out, int dy, int dx, float fill) {
    for (int y = 0; y < 6; y++)
        for (int i = 0; i < 6; i++) {
            int sy = y + dy, sx = i + dx;
            out[y * 6 + i] = sy < 0 || sy >= 6 || sx < 0 || sx >= 6 ? fill : x[sy * 6 + sx];
        }
}

/* Test-time shifts: the scores are the mean of ten views (the image and its mirror image,
 * each also shifted by a pixel each way), or of eighteen with the diagonal shifts, the pixels
 * shifted in holding a black pixel's normalised value; kept by checkpoints with or without
 * flips and diagonals; refused out of range (and of a flat input: test_tta). */
static void test_tta_shifts(void) {
    cnn_net *net = lopsided();
    float x[36], xn[36], v[36], z[4], mean_c = 0.25f, std_c = 0.5f;
    t_fill(x, 36, 7, 0, 1);
    for (int k = 0; k < 36; k++) xn[k] = (x[k] - mean_c) * (1.0f / std_c);
    static const int d[9][2] = {{0, 0},  {1, 0},  {-1, 0}, {0, 1},  {0, -1},
                                {1, 1},  {1, -1}, {-1, 1}, {-1, -1}};
    cnn_preprocess p = *cnn_net_preprocess(net);
    p.mean = &mean_c;
    p.std = &std_c;
    p.hflip_tta = 1;
    p.tta_shift = 1;
    double means[2][4] = {{0}};
    for (int diagonal = 0; diagonal <= 1; diagonal++) {
        int shifts = diagonal ? 9 : 5;
        double *mean = means[diagonal];
        for (int view = 0; view < 2 * shifts; view++) {
            shifted(xn, v, d[view % shifts][0], d[view % shifts][1], (0.0f - mean_c) / std_c);
            if (view >= shifts) mirror(v, 6, 6);
            T_OK(net, cnn_net_scores(net, v, z, NULL));
            for (int k = 0; k < 4; k++) mean[k] += z[k] / (2.0 * shifts);
        }
        p.tta_diagonal = diagonal;
        T_OK(net, cnn_net_set_preprocess(net, &p));
        check_mean_scores(net, x, 1, mean, diagonal ? "diagonal test-time shifts"
                                                    : "test-time shifts");
    }
    double apart = 0; /* the check above could not miss eighteen views taken as ten */
    for (int k = 0; k < 4; k++) apart = fmax(apart, fabs(means[1][k] - means[0][k]));
    T_CHECK(apart > 1e-3, "the diagonal views change no score of the test image (%g)", apart);
    /* Kept by a checkpoint, with flips and without, with diagonals and without. */
    for (int flips = 1; flips >= 0; flips--)
        for (int diagonal = 0; diagonal <= 1; diagonal++) {
            p.hflip_tta = flips;
            p.tta_shift = 2;
            p.tta_diagonal = diagonal;
            T_OK(net, cnn_net_set_preprocess(net, &p));
            char path[64] = "/tmp/cnn_tta_XXXXXX", err[1024];
            close(mkstemp(path));
            cnn_net *back = NULL;
            T_OK(net, cnn_checkpoint_save(path, net, NULL, NULL, err, sizeof err));
            T_OK(NULL, cnn_checkpoint_load(path, &back, NULL, NULL, err, sizeof err));
            const cnn_preprocess *q = back ? cnn_net_preprocess(back) : NULL;
            T_CHECK(q && q->hflip_tta == flips && q->tta_shift == 2 && q->tta_diagonal == diagonal,
                    "a checkpoint of test-time flips %d, shifts 2, diagonals %d read back as %d, "
                    "%d, %d", flips, diagonal, q ? q->hflip_tta : -1, q ? q->tta_shift : -1,
                    q ? q->tta_diagonal : -1);
            unlink(path);
            cnn_net_free(back);
        }
    for (int bad = -1; bad <= 6; bad += 7) {
        p.tta_shift = bad;
        T_CHECK(cnn_net_set_preprocess(net, &p) == CNN_STATUS_INVALID_ARGUMENT &&
                    strstr(cnn_net_last_error(net), "tta_shift"),
                "test-time shifts of %d pixels of a 6x6 image: %s", bad,
                cnn_net_last_error(net));
    }
    /* Diagonals are 0 or 1, and only beside shifts. */
    static const int diag_bad[2][2] = {{2, 1}, {1, 0}}; /* tta_diagonal, tta_shift */
    for (int i = 0; i < 2; i++) {
        p.tta_diagonal = diag_bad[i][0];
        p.tta_shift = diag_bad[i][1];
        T_CHECK(cnn_net_set_preprocess(net, &p) == CNN_STATUS_INVALID_ARGUMENT &&
                    strstr(cnn_net_last_error(net), "tta_diagonal"),
                "tta_diagonal %d with tta_shift %d: %s", diag_bad[i][0], diag_bad[i][1],
                cnn_net_last_error(net));
    }
    cnn_net_free(net);
    printf("  ok test-time shifts: the mean of ten (eighteen with the diagonals) views in "
           "classify and evaluate, checkpoints, refusals\n");
}



static cnn_train_config budget_config(void) {
    cnn_train_config cfg = cnn_train_defaults();
    cfg.batch = 16;
    cfg.threads = 1;
    cfg.seed = 3;
    cfg.augment.crop_pad = 1;
    return cfg;
}

static float *params_after(cnn_trainer *t, size_t *n) {
    cnn_net *net = cnn_trainer_net(t);
    *n = cnn_net_param_count(net);
    float *p = malloc(*n * sizeof *p);
    memcpy(p, cnn_net_params(net), *n * sizeof *p);
    return p;
}

static void test_budget(void) {
    const char *spec = "input x - shape=1x8x8; conv2d c x out=4 kernel=3 padding=1; relu r -;"
                       "dropout d - p=0.2; flatten f -; dense logits - out=4";
    cnn_dataset *ds = t_bars(640, 2), *val = t_bars(64, 3);
    char err[1024];
    cnn_net *a = t_net(spec, 1), *b = t_net(spec, 1);
    cnn_train_config cfg = budget_config();
    cnn_trainer *ta = NULL, *tb = NULL;
    T_OK(NULL, cnn_trainer_new(a, ds, val, &cfg, &ta, err, sizeof err));
    size_t n0, n1;
    float *before = params_after(ta, &n0);
    T_OK(NULL, cnn_trainer_fit_budget(ta, 30.0));
    cnn_trainer_budget_refit(ta, 0); /* the first epochs' pace must not cut the run short */
    float *probed = params_after(ta, &n1);
    T_CHECK(!memcmp(before, probed, n0 * sizeof *before),
            "the time budget's probe left the parameters changed");
    int epochs = cnn_trainer_config(ta)->epochs;
    T_CHECK(epochs >= 1 && cnn_trainer_epoch_estimate(ta) > 0, "budget: %d epochs, %g s each",
            epochs, cnn_trainer_epoch_estimate(ta));
    /* The budget's run and a plain run of as many epochs end with the same weights. Run a few
     * epochs of the budget's run only: the schedule is the budget's (its total steps). */
    cfg.epochs = epochs;
    T_OK(NULL, cnn_trainer_new(b, ds, val, &cfg, &tb, err, sizeof err));
    for (int e = 0; e < 3 && e < epochs; e++) {
        T_OK(NULL, cnn_trainer_epoch(ta));
        T_OK(NULL, cnn_trainer_epoch(tb));
    }
    float *pa = params_after(ta, &n0), *pb = params_after(tb, &n1);
    T_CHECK(n0 == n1 && !memcmp(pa, pb, n0 * sizeof *pa),
            "the budget's run (%d epochs) and a run of %d epochs differ", epochs, epochs);
    printf("  ok a 30 s budget picks %d epochs of %.3f s; its run is the %d-epoch run, bit for "
           "bit\n", epochs, cnn_trainer_epoch_estimate(ta), epochs);
    /* A budget shorter than one epoch. */
    cnn_trainer *tc = NULL;
    cnn_net *c = t_net(spec, 1);
    T_OK(NULL, cnn_trainer_new(c, ds, val, &cfg, &tc, err, sizeof err));
    cnn_status st = cnn_trainer_fit_budget(tc, 1e-4);
    T_CHECK(st == CNN_STATUS_INVALID_ARGUMENT &&
                strstr(cnn_trainer_last_error(tc), "one epoch takes about"),
            "a budget of 0.1 ms: %s", cnn_trainer_last_error(tc));
    T_CHECK(cnn_trainer_fit_budget(ta, 10) == CNN_STATUS_STATE, "a budget after the start");
    free(before), free(probed), free(pa), free(pb);
    cnn_trainer_free(ta), cnn_trainer_free(tb), cnn_trainer_free(tc);
    cnn_net_free(a), cnn_net_free(b), cnn_net_free(c);
    t_free_dataset(ds);
    t_free_dataset(val);
}

/* Steps slower than the probe measured: each step of the first slow_epochs epochs sleeps
 * sleep_us microseconds in the step callback (which the probe does not call). first_epochs:
 * the run's epochs after its first epoch; step_plan: the epochs planned when the last step
 * ran. */
typedef struct slowdown {
    int sleep_us, slow_epochs, first_epochs, step_plan;
    /* At the first step, raise sleep_us to this many times the step time the plan implies
     * (the 2 s budget over its steps), so that a host slow enough to make the probe's steps
     * take a millisecond (a sanitizer build beside other work) still sees the run this much
     * slower than its probe (0: sleep_us as given). */
    int times_plan;
} slowdown;

static int slow_step(void *user, const cnn_train_progress *p) {
    slowdown *s = user;
    if (s->times_plan && p->global_step == 1) {
        double planned_us = 2e6 / ((double)p->epochs * p->steps);
        if (s->times_plan * planned_us > s->sleep_us) s->sleep_us = (int)(s->times_plan * planned_us);
    }
    struct timespec ts = {s->sleep_us / 1000000, 1000L * (s->sleep_us % 1000000)};
    s->step_plan = p->epochs;
    if (p->epoch <= s->slow_epochs) nanosleep(&ts, NULL);
    return 0;
}

static int note_epochs(void *user, const cnn_train_progress *p) {
    slowdown *s = user;
    if (p->epoch == 1) s->first_epochs = p->epochs;
    return 0;
}

/* A budgeted run (2 s) of net on ds, small enough for hundreds of epochs, slowed down as s
 * says; its planned epochs in *planned, the seconds it took in *took. */
static cnn_trainer *slowed_run(cnn_net *net, const cnn_dataset *ds, const cnn_dataset *val,
                               slowdown *s, int *planned, double *took) {
    char err[1024];
    cnn_train_config cfg = budget_config();
    cfg.schedule = CNN_SCHEDULE_LINEAR;
    cfg.on_step = slow_step;
    cfg.on_epoch = note_epochs;
    cfg.user = s;
    cnn_trainer *tr = NULL;
    T_OK(NULL, cnn_trainer_new(net, ds, val, &cfg, &tr, err, sizeof err));
    double t0 = t_seconds();
    T_OK(NULL, cnn_trainer_fit_budget(tr, 2.0));
    *planned = cnn_trainer_config(tr)->epochs;
    T_CHECK(cnn_trainer_refitted_from(tr) == 0, "refitted before the first step");
    T_OK(NULL, cnn_trainer_run(tr));
    *took = t_seconds() - t0;
    return tr;
}

/* The run's end: complete, on its last epoch, the linear schedule at its last rate. */
static void check_ended(cnn_trainer *tr, const slowdown *s, const char *what) {
    int epochs = cnn_trainer_config(tr)->epochs;
    cnn_train_progress last = cnn_trainer_last(tr);
    T_CHECK(cnn_trainer_done(tr) && !cnn_trainer_out_of_time(tr) &&
                cnn_trainer_epochs_done(tr) == epochs && last.epochs == epochs,
            "%s: the refitted run did not end complete: done %d, out of time %d, %d of %d "
            "epochs", what, cnn_trainer_done(tr), cnn_trainer_out_of_time(tr),
            cnn_trainer_epochs_done(tr), epochs);
    /* The linear schedule's rate at step t of a plan of P epochs of S steps is
     * lr (1 - t / (P S)). The last step (step E S of the E epochs run) ran under the plan of
     * its time, P: the run's own (P = E, rate lr / (E S)) unless a refit after it cut the plan
     * to the epochs already run (the last epoch ran late), when it is ((P - E) S + 1) / (P S)
     * of lr. A schedule not refitted with the plan would be at another rate. */
    float lr = cnn_trainer_config(tr)->optim.lr;
    double S = last.steps, P = s->step_plan;
    double want = lr * ((P - epochs) * S + 1) / (P * S);
    T_CHECK(P >= epochs && fabs(last.lr - want) <= 1e-3 * want,
            "%s: the refitted schedule does not end with the run: last rate %g of %g, not %g "
            "(%d epochs of %d steps, the last step planned %g)",
            what, last.lr, lr, want, epochs, last.steps, P);
}

/* A run slower than its probe throughout is cut after its first epoch to the epochs that fit
 * and ends, complete, within the budget; one slow in its first epoch only is cut, then grows
 * back as its pace recovers. */
static void test_budget_refit(void) {
    const char *spec = "input x - shape=1x8x8; conv2d c x out=4 kernel=3 padding=1; relu r -;"
                       "flatten f -; dense logits - out=4";
    cnn_dataset *ds = t_bars(640, 2), *val = t_bars(64, 3);
    cnn_net *a = t_net(spec, 1), *b = t_net(spec, 1), *c = t_net(spec, 1);
    int planned;
    double took;
    slowdown slow = {.sleep_us = 1000, .slow_epochs = 1 << 30, .times_plan = 8};
    cnn_trainer *tr = slowed_run(a, ds, val, &slow, &planned, &took);
    int epochs = cnn_trainer_config(tr)->epochs;
    /* Cut far below the plan after its first epoch, and still far below it at the end:
     * later epochs, without the first's warm-up, may run faster and grow it back by a few,
     * and by more when a busy host slowed the first epoch (a run of 25 epochs after its first
     * grew to 33 beside another process's training), but a run that regrew towards the
     * probe's pace would end out of time or near the plan. */
    T_CHECK(slow.first_epochs < planned / 4 && epochs < planned / 4 && epochs >= 1 &&
                cnn_trainer_refitted_from(tr) > 0,
            "a run slower than its probe: planned %d epochs, %d after the first, %d at the end",
            planned, slow.first_epochs, epochs);
    check_ended(tr, &slow, "slow throughout");
    printf("  ok a run slower than its probe: %d epochs planned, %d run in %.2f s of a 2 s "
           "budget, the schedule refitted\n", planned, epochs, took);
    cnn_trainer_free(tr);
    /* About 20 ms more in the first epoch's 40 steps. */
    slowdown once = {.sleep_us = 20000 / 40, .slow_epochs = 1};
    tr = slowed_run(b, ds, val, &once, &planned, &took);
    epochs = cnn_trainer_config(tr)->epochs;
    T_CHECK(once.first_epochs < planned && epochs > once.first_epochs,
            "a run slow in its first epoch only: planned %d epochs, %d after the first, %d at "
            "the end (it should grow back)", planned, once.first_epochs, epochs);
    check_ended(tr, &once, "slow at first");
    printf("  ok a run slow in its first epoch: %d epochs planned, cut to %d, grown back to %d "
           "in %.2f s\n", planned, once.first_epochs, epochs, took);
    cnn_trainer_free(tr);
    /* A first epoch slow enough to cut the run to 2 epochs, then a fast second one: the run
     * ends with it, ahead of its plan, rather than growing an epoch at the schedule's end. */
    slowdown first = {.sleep_us = 900000 / 40, .slow_epochs = 1}; /* 0.9 s more in epoch 1 */
    tr = slowed_run(c, ds, val, &first, &planned, &took);
    epochs = cnn_trainer_config(tr)->epochs;
    if (T_CHECK(first.first_epochs == 2 && epochs == 2 && cnn_trainer_epochs_done(tr) == 2,
                "a run cut to its last epoch grew after its schedule ended: planned %d epochs, "
                "%d after the first, %d at the end (%d run)", planned, first.first_epochs,
                epochs, cnn_trainer_epochs_done(tr)))
        printf("  ok a run cut to 2 epochs and then fast ends with its schedule, %.2f s into a "
               "2 s budget\n", took);
    check_ended(tr, &first, "cut to 2");
    cnn_trainer_free(tr);
    cnn_net_free(a), cnn_net_free(b), cnn_net_free(c);
    t_free_dataset(ds), t_free_dataset(val);
}

/* An average of the weights: the optimiser's fold is the formula's, bit for bit; a checkpoint
 * holds the average as the network and the weights trained in the optimiser; a trainer
 * validates the average, ends with it in the network, and resumes to the same weights as an
 * uninterrupted run. */
static void test_ema(void) {
    const char *spec = "input x - shape=1x8x8; conv2d c x out=4 kernel=3 padding=1 bias=0;"
                       "batchnorm b -; relu r -; flatten f -; dense logits - out=4";
    cnn_net *net = t_net(spec, 4);
    cnn_net_prepare(net, 8);
    cnn_optim_config oc = cnn_optim_defaults(CNN_OPTIM_ADAMW, 0.01f);
    oc.ema = 0.9f;
    cnn_optim *opt = cnn_optim_new(net, &oc);
    size_t np = cnn_net_param_count(net), ns = cnn_net_state_count(net), n;
    float *avg = malloc((np + ns) * sizeof *avg), x[8 * 64];
    memcpy(avg, cnn_net_params(net), np * sizeof *avg);
    memcpy(avg + np, cnn_net_state(net), ns * sizeof *avg);
    t_fill(x, 8 * 64, 9, 0, 1);
    cnn_net_set_training(net, 1);
    for (int s = 0; s < 5; s++) {
        cnn_net_zero_grad(net);
        T_OK(net, cnn_net_forward(net, x, 8));
        t_fill(cnn_net_output_grad(net), 32, 10 + s, -1, 1);
        T_OK(net, cnn_net_backward(net));
        T_OK(net, cnn_optim_step(opt));
        T_OK(net, cnn_optim_update_ema(opt));
        const float *p = cnn_net_params(net), *st = cnn_net_state(net);
        for (size_t i = 0; i < np; i++) avg[i] = 0.9f * avg[i] + (1.0f - 0.9f) * p[i];
        for (size_t i = 0; i < ns; i++) avg[np + i] = 0.9f * avg[np + i] + (1.0f - 0.9f) * st[i];
    }
    float *state = cnn_optim_state(opt, &n);
    T_CHECK(n == 2 * np + np + ns && !memcmp(state + 2 * np, avg, (np + ns) * sizeof *avg),
            "the optimiser's average is not the formula's (%zu values)", n);
    /* A checkpoint: the average as the network, the weights trained behind it. */
    float *trained = malloc(np * sizeof *trained);
    memcpy(trained, cnn_net_params(net), np * sizeof *trained);
    char path[64] = "/tmp/cnn_ema_XXXXXX", err[1024];
    close(mkstemp(path));
    T_OK(net, cnn_checkpoint_save(path, net, opt, NULL, err, sizeof err));
    T_CHECK(!memcmp(cnn_net_params(net), trained, np * sizeof *trained),
            "saving changed the network's weights");
    cnn_net *plain = NULL, *resumed = NULL;
    cnn_optim *ropt = NULL;
    T_OK(NULL, cnn_checkpoint_load(path, &plain, NULL, NULL, err, sizeof err));
    T_OK(NULL, cnn_checkpoint_load(path, &resumed, &ropt, NULL, err, sizeof err));
    T_CHECK(plain && !memcmp(cnn_net_params(plain), avg, np * sizeof *avg) &&
                !memcmp(cnn_net_state(plain), avg + np, ns * sizeof *avg),
            "a checkpoint loaded to evaluate does not hold the average");
    float *rs = ropt ? cnn_optim_state(ropt, &n) : NULL;
    T_CHECK(resumed && rs && !memcmp(cnn_net_params(resumed), trained, np * sizeof *trained) &&
                !memcmp(rs + 2 * np, avg, (np + ns) * sizeof *avg) &&
                cnn_optim_get_config(ropt).ema == 0.9f,
            "a checkpoint loaded to train on does not hold the weights trained and the average");
    unlink(path);
    cnn_net_free(plain), cnn_net_free(resumed), cnn_optim_free(ropt), cnn_optim_free(opt);
    cnn_net_free(net);
    free(avg), free(trained);

    /* The trainer: 3 epochs in one go against 1 + 2 resumed from the checkpoint. */
    cnn_dataset *ds = t_bars(256, 6), *val = t_bars(64, 7);
    cnn_train_config cfg = budget_config();
    cfg.epochs = 3;
    cfg.optim.ema = 0.95f;
    cnn_net *a = t_net(spec, 4), *b = t_net(spec, 4);
    cnn_trainer *ta = NULL, *tb = NULL, *tr = NULL;
    char ck[64] = "/tmp/cnn_ema_run_XXXXXX";
    close(mkstemp(ck));
    T_OK(NULL, cnn_trainer_new(a, ds, val, &cfg, &ta, err, sizeof err));
    T_OK(NULL, cnn_trainer_run(ta));
    cfg.checkpoint = ck;
    T_OK(NULL, cnn_trainer_new(b, ds, val, &cfg, &tb, err, sizeof err));
    T_OK(NULL, cnn_trainer_epoch(tb));
    T_OK(NULL, cnn_trainer_resume(ck, ds, val, 0, NULL, &tr, err, sizeof err));
    if (tr) T_OK(NULL, cnn_trainer_run(tr));
    cnn_net *done_a = cnn_trainer_net(ta), *done_r = tr ? cnn_trainer_net(tr) : NULL;
    T_CHECK(done_r && !memcmp(cnn_net_params(done_a), cnn_net_params(done_r),
                              cnn_net_param_count(done_a) * sizeof(float)),
            "with an average, a resumed run ends with other weights than an uninterrupted one");
    /* The run's end: the network holds the average, the last validation was of it. */
    cnn_metrics m;
    T_OK(done_a, cnn_evaluate_task(done_a, val, &m));
    T_CHECK(fabs(m.loss - cnn_trainer_last(ta).val_loss) < 1e-9,
            "the network at the end (loss %.9g) is not what was validated (%.9g)", m.loss,
            cnn_trainer_last(ta).val_loss);
    cnn_metrics_free(&m);
    printf("  ok an average of the weights: the formula's; checkpoints; validated; resumed\n");
    unlink(ck);
    cnn_trainer_free(ta), cnn_trainer_free(tb), cnn_trainer_free(tr);
    cnn_net_free(a), cnn_net_free(b);
    t_free_dataset(ds), t_free_dataset(val);
}

/* A trainer of a recipe's configuration cfg (on one thread) for a stand-in network of 1x8x8
 * inputs, ds's, into *net and *tr: quick to make where only the configuration matters. */
static cnn_status recipe_trainer(const cnn_train_config *cfg, const cnn_dataset *ds,
                                 cnn_net **net, cnn_trainer **tr, char *err, size_t errlen) {
    cnn_train_config c = *cfg;
    c.threads = 1;
    *net = t_net("input x - shape=1x8x8; flatten f -; dense logits - out=4", 1);
    return cnn_trainer_new(*net, ds, NULL, &c, tr, err, errlen);
}

/* Every recipe: found by its name, a zoo model that builds for its data (28x28 greys), a
 * configuration the trainer accepts, a budget or epochs. */
static void test_recipe_table(void) {
    int n = cnn_recipe_count();
    cnn_recipe r = {0};
    T_CHECK(n > 0, "no recipes");
    T_CHECK(cnn_recipe_get(-1, &r) == CNN_STATUS_INVALID_ARGUMENT &&
                cnn_recipe_get(n, &r) == CNN_STATUS_INVALID_ARGUMENT && r.name == NULL &&
                cnn_recipe_find("no such recipe") == -1 && cnn_recipe_find(NULL) == -1,
            "recipes out of range");
    cnn_dataset *ds = t_bars(256, 2);
    for (int i = 0; i < n; i++) {
        T_OK(NULL, cnn_recipe_get(i, &r));
        T_CHECK(cnn_recipe_find(r.name) == i, "recipe %s is not found by its name", r.name);
        T_CHECK(r.doc && strlen(r.doc) > 20 && r.data && (r.budget > 0 || r.cfg.epochs > 0),
                "recipe %s: no description, data, budget or epochs", r.name);
        char err[1024];
        cnn_net *net = NULL;
        cnn_trainer *tr = NULL;
        T_CHECK(cnn_model_build(r.model, 1, 28, 28, 10, r.cfg.seed, &net, err, sizeof err) ==
                    CNN_STATUS_OK,
                "recipe %s: model %s: %s", r.name, r.model, err);
        /* The trainer checks the configuration against a network and data of the model's
         * input: a stand-in network of that input, to keep the check quick. */
        cnn_net *small = NULL;
        T_CHECK(recipe_trainer(&r.cfg, ds, &small, &tr, err, sizeof err) == CNN_STATUS_OK,
                "recipe %s: the trainer refuses its configuration: %s", r.name, err);
        cnn_trainer_free(tr);
        cnn_net_free(small);
        cnn_net_free(net);
    }
    t_free_dataset(ds);
    printf("  ok %d recipe%s: models, configurations\n", n, n == 1 ? "" : "s");
}

/* The text after `key` in out, as a number (-1 when absent). */
static double after(const char *out, const char *key) {
    const char *p = strstr(out, key);
    return p ? atof(p + strlen(key)) : -1;
}

/* Whether a line of checkpoint metadata is one of the run's settings ("train.KEY=value"):
 * not its position, data, log, format version, or the epochs (the runs compared below set
 * their own). A key added to the trainer's state is a setting until listed here. */
static int is_setting(const char *line) {
    static const char *const other[] = {"epochs=",   "epoch=",       "step=",    "sum_loss=",
                                        "correct=",  "counted=",     "best_metric=",
                                        "has_best=", "bad_epochs=",  "done=",    "data=",
                                        "val=",      "log.",         "version="};
    if (strncmp(line, "train.", 6)) return 0;
    for (size_t i = 0; i < sizeof other / sizeof other[0]; i++)
        if (!strncmp(line + 6, other[i], strlen(other[i]))) return 0;
    return 1;
}

/* The settings of the checkpoint at path: its metadata's setting lines, and its optimiser's
 * configuration. 0 after a failed check. */
static int settings_of(const char *path, char *lines, size_t size, cnn_optim_config *optim) {
    cnn_net *net = NULL;
    cnn_optim *opt = NULL;
    char *meta = NULL, err[1024];
    cnn_status st = cnn_checkpoint_load(path, &net, &opt, &meta, err, sizeof err);
    T_CHECK(st == CNN_STATUS_OK && opt, "%s: %s", path, st ? err : "no optimiser saved");
    size_t used = 0;
    lines[0] = 0;
    for (const char *p = st ? "" : meta; *p;) {
        size_t n = strcspn(p, "\n");
        if (is_setting(p) && used + n + 2 < size)
            used += (size_t)snprintf(lines + used, size - used, "%.*s\n", (int)n, p);
        p += n + (p[n] == '\n');
    }
    if (opt) *optim = cnn_optim_get_config(opt);
    free(meta);
    cnn_optim_free(opt);
    cnn_net_free(net);
    return st == CNN_STATUS_OK && opt;
}

/* cnn train --recipe R trains with R's configuration: each setting a checkpoint keeps, and the
 * optimiser's, are those of a trainer given R's cnn_train_config (cli/train.c maps a recipe to
 * the options by hand: a field a recipe sets and that map misses shows here). */
static void test_recipe_options(const char *tool, const char *dir) {
    int compared = 0;
    for (int i = 0; i < cnn_recipe_count(); i++) {
        cnn_recipe r;
        cnn_recipe_get(i, &r);
        char path[256], lib[4096], cli[4096], args[512], out[65536], err[1024];
        cnn_optim_config lo = {0}, co = {0};
        /* The library's: a trainer of the recipe's configuration, saved before any step. */
        cnn_dataset *ds = t_bars(256, 2);
        cnn_net *small = NULL;
        cnn_trainer *tr = NULL;
        snprintf(path, sizeof path, "%s/lib-%d.ckpt", dir, i);
        r.cfg.epochs = 1;
        T_OK(NULL, recipe_trainer(&r.cfg, ds, &small, &tr, err, sizeof err));
        int ok = tr && cnn_trainer_save(tr, path) == CNN_STATUS_OK &&
                 settings_of(path, lib, sizeof lib, &lo);
        cnn_trainer_free(tr);
        cnn_net_free(small);
        t_free_dataset(ds);
        /* The command line's: a short run of the recipe on another model. */
        snprintf(args, sizeof args, "train --recipe %s --model lenet5 --epochs 1 --limit 300 "
                 "--out cli-%d.ckpt", r.name, i);
        int rc = t_run_tool(tool, dir, args, out, sizeof out);
        T_CHECK(rc == 0, "cnn %s: exit %d: %s", args, rc, out);
        snprintf(path, sizeof path, "%s/cli-%d.ckpt", dir, i);
        ok &= rc == 0 && settings_of(path, cli, sizeof cli, &co);
        if (!ok) continue;
        T_CHECK(!strcmp(lib, cli),
                "recipe %s: the settings of cnn train --recipe differ from the recipe's "
                "configuration:\n the recipe's:\n%s cnn train's:\n%s", r.name, lib, cli);
        T_CHECK(lo.kind == co.kind && lo.momentum == co.momentum &&
                    lo.nesterov == co.nesterov && lo.beta1 == co.beta1 && lo.beta2 == co.beta2 &&
                    lo.eps == co.eps && lo.weight_decay == co.weight_decay && lo.ema == co.ema,
                "recipe %s: cnn train --recipe's optimiser differs from the recipe's", r.name);
        for (const char *p = lib; (p = strchr(p, '\n')); p++) compared++;
    }
    T_CHECK(compared >= 20 * cnn_recipe_count(), "only %d settings compared", compared);
    printf("  ok cnn train --recipe: %d settings of %d recipes as their configurations say\n",
           compared, cnn_recipe_count());
}

/* cnn eval's overrides of a model's test-time views (model: flips and shifts of 1 pixel),
 * each against the library's evaluation with the same views: the same loss and top-1 as the
 * JSON prints them; contradictions, shifts too large for the images and diagonals without
 * shifts refused. */
static void test_eval_views(const char *tool, const char *dir, const char *model) {
    static const struct {
        const char *args;
        int flips, shift, diagonal;
    } views[] = {{"--tta-shift 0", 1, 0, 0},
                 {"--no-tta", 0, 0, 0},
                 {"--tta-shift 2", 1, 2, 0},
                 {"--tta-diagonal", 1, 1, 1},
                 {"--tta-diagonal --tta-shift 2", 1, 2, 1}};
    char path[4096], err[1024], out[65536], args[512];
    snprintf(path, sizeof path, "%s/%s", dir, model);
    cnn_net *net = NULL;
    cnn_dataset *test = NULL;
    if (!T_OK(NULL, cnn_checkpoint_load(path, &net, NULL, NULL, err, sizeof err)) ||
        !T_OK(NULL, cnn_dataset_load_mnist_dir("/usr/share/datasets/fashion-mnist", 0, &test,
                                               err, sizeof err))) {
        cnn_net_free(net);
        return;
    }
    T_OK(net, cnn_net_prepare(net, 256));
    /* The sanitizer pass (CNN_TEST_LIGHT) leaves out the shifted views, 20 to 36 passes over
     * the test set there: a minute or more under ASan. The options' code is the same for
     * every shift. */
    size_t all = sizeof views / sizeof views[0], n = t_env_flag("CNN_TEST_LIGHT") ? 2 : all;
    for (size_t i = 0; i < n; i++) {
        cnn_preprocess p = *cnn_net_preprocess(net);
        p.hflip_tta = views[i].flips;
        p.tta_shift = views[i].shift;
        p.tta_diagonal = views[i].diagonal;
        cnn_metrics m = {0};
        T_OK(net, cnn_net_set_preprocess(net, &p));
        T_OK(net, cnn_evaluate_task(net, test, &m));
        snprintf(args, sizeof args, "eval %s --data fashion-mnist --json %s", model,
                 views[i].args);
        int rc = t_run_tool(tool, dir, args, out, sizeof out);
        char want[128];
        snprintf(want, sizeof want, "\"tta_flips\": %d, \"tta_shift\": %d, \"tta_diagonal\": %d",
                 views[i].flips, views[i].shift, views[i].diagonal);
        double loss = after(out, "\"loss\": "), top1 = after(out, "\"top1\": ");
        if (T_CHECK(rc == 0 && strstr(out, want) &&
                        fabs(loss - m.loss) <= 1e-6 * (1 + m.loss) && fabs(top1 - m.top1) <= 1e-6,
                    "cnn eval %s: exit %d, loss %g and top-1 %g where the library gives %g and "
                    "%g with flips %d, shift %d, diagonals %d: %s", views[i].args, rc, loss,
                    top1, m.loss, m.top1, views[i].flips, views[i].shift, views[i].diagonal,
                    out))
            printf("  ok cnn eval %s: top-1 %.2f%%, loss %.4f, the library's with those views\n",
                   views[i].args, 100 * top1, loss);
        cnn_metrics_free(&m);
    }
    for (size_t i = n; i < all; i++)
        printf("  -- cnn eval %s not checked (CNN_TEST_LIGHT=1)\n", views[i].args);
    static const char *const bad[][2] = {
        {"--no-tta --tta", "--no-tta (each image alone) contradicts --tta"},
        {"--no-tta --tta-shift 1", "contradicts --tta-shift"},
        {"--no-tta --tta-diagonal", "contradicts --tta-diagonal"},
        {"--tta-shift 0 --tta-diagonal", "1 only with shifted views (tta_shift 0)"},
        {"--tta-shift 28", "test-time shifts of 28 pixels"}};
    int refused = 1;
    for (int i = 0; i < (int)(sizeof bad / sizeof bad[0]); i++) {
        snprintf(args, sizeof args, "eval %s --data fashion-mnist %s", model, bad[i][0]);
        int rc = t_run_tool(tool, dir, args, out, sizeof out);
        refused &= T_CHECK(rc != 0 && strstr(out, bad[i][1]), "cnn eval %s: exit %d: %s",
                           bad[i][0], rc, out);
    }
    if (refused)
        printf("  ok cnn eval: --no-tta with --tta, --tta-shift or --tta-diagonal, diagonals "
               "without shifts, and --tta-shift 28, refused\n");
    cnn_net_free(net);
    cnn_dataset_free(test);
}

/* cnn train with --time-budget, --tta, --schedule linear and erasing; cnn eval of its model
 * gives the test accuracy train printed (the flips are in the model). One thread: on a host
 * busy with another process, each of two threads' waits for the other can cost a time slice,
 * and the budget's probe of a few steps then took the whole 5 s. 1000 images, so that an
 * epoch on one thread fits the budget under the sanitizers too (0.7 s there; 3000 took 2.4 s
 * of the 2 s the budget had left). */
static void test_cli(const char *argv0) {
    char tool[4096], dir[64] = "/tmp/cnn_recipes_XXXXXX", out[65536], eval[8192];
    if (!t_tool_path(argv0, tool, sizeof tool) || !mkdtemp(dir)) return;
    int rc = t_run_tool(tool, dir, "train --model lenet5 --limit 1000 --time-budget 5s --tta "
                        "--schedule linear --warmup 1 --augment hflip,erase=0.3 --threads 1 "
                        "--out m.ckpt",
                        out, sizeof out);
    double top1 = after(out, "top-1 ");
    T_CHECK(rc == 0 && strstr(out, "time budget 5s: ") && top1 > 0,
            "cnn train --time-budget: exit %d: %s", rc, out);
    rc = t_run_tool(tool, dir, "eval m.ckpt --data fashion-mnist", eval, sizeof eval);
    T_CHECK(rc == 0 && strstr(eval, "its mirror image averaged: the model's test-time flips") &&
                after(eval, "top-1 ") > 0,
            "cnn eval of a --tta model: %s", eval);
    printf("  ok cnn train --time-budget 5s --tta: %s", strstr(out, "time budget") ? strstr(out, "time budget") : "\n");
    /* --tta-shift: kept in the model, so cnn eval takes the same views. */
    rc = t_run_tool(tool, dir, "train --model lenet5 --limit 1000 --epochs 1 --tta --tta-shift 1 "
                    "--out s.ckpt", out, sizeof out);
    top1 = after(out, "top-1 ");
    int ran = rc == 0 && top1 > 0;
    T_CHECK(ran, "cnn train --tta-shift 1: exit %d: %s", rc, out);
    rc = t_run_tool(tool, dir, "eval s.ckpt --data fashion-mnist", eval, sizeof eval);
    T_CHECK(ran && rc == 0 && strstr(eval, "both shifted by 1 pixel up, down, left and right") &&
                after(eval, "top-1 ") > 0,
            "cnn eval of a --tta-shift model: %s", eval);
    rc = t_run_tool(tool, dir, "train --model lenet5 --limit 100 --epochs 1 --tta-shift 28 "
                    "--out t.ckpt", out, sizeof out);
    T_CHECK(rc != 0 && strstr(out, "test-time shifts of 28 pixels"),
            "cnn train --tta-shift 28 on 28x28 images: exit %d: %s", rc, out);
    /* --tta-diagonal: kept in the model too; refused without --tta-shift. */
    rc = t_run_tool(tool, dir, "train --model lenet5 --limit 300 --epochs 1 --tta-shift 1 "
                    "--tta-diagonal --out d.ckpt", out, sizeof out);
    T_CHECK(rc == 0 && after(out, "top-1 ") > 0, "cnn train --tta-diagonal: exit %d: %s", rc,
            out);
    rc = t_run_tool(tool, dir, "eval d.ckpt --data fashion-mnist --json", eval, sizeof eval);
    T_CHECK(rc == 0 && strstr(eval, "\"tta_flips\": 0, \"tta_shift\": 1, \"tta_diagonal\": 1"),
            "cnn eval of a --tta-diagonal model: %s", eval);
    rc = t_run_tool(tool, dir, "train --model lenet5 --limit 100 --epochs 1 --tta-diagonal "
                    "--out u.ckpt", out, sizeof out);
    T_CHECK(rc != 0 && strstr(out, "1 only with shifted views"),
            "cnn train --tta-diagonal without --tta-shift: exit %d: %s", rc, out);
    printf("  ok cnn train --tta-shift 1 (test top-1 %.2f%%), cnn eval of its model; "
           "--tta-shift 28 refused; --tta-diagonal kept, refused without shifts\n", top1);
    if (ran) test_eval_views(tool, dir, "s.ckpt");
    /* --alternate-flips: said at the start, kept when resumed; refused beside hflip=0.3. */
    rc = t_run_tool(tool, dir, "train --model lenet5 --limit 300 --epochs 1 --alternate-flips "
                    "--augment hflip,crop=2 --out f.ckpt", out, sizeof out);
    T_CHECK(rc == 0 && strstr(out, "augment hflip=0.5,crop=2 (flips alternating by epoch)") &&
                after(out, "top-1 ") > 0,
            "cnn train --alternate-flips: exit %d: %s", rc, out);
    rc = t_run_tool(tool, dir, "train --resume f.ckpt --epochs 2", out, sizeof out);
    T_CHECK(rc == 0 && strstr(out, "(flips alternating by epoch)"),
            "cnn train --resume of an --alternate-flips run keeps them: exit %d: %s", rc, out);
    rc = t_run_tool(tool, dir, "train --model lenet5 --limit 100 --epochs 1 --alternate-flips "
                    "--augment hflip=0.3 --out g.ckpt", out, sizeof out);
    T_CHECK(rc != 0 && strstr(out, "flip probability 0.5"),
            "cnn train --alternate-flips --augment hflip=0.3: exit %d: %s", rc, out);
    printf("  ok cnn train --alternate-flips, kept when resumed, refused with hflip=0.3\n");
    static const char *const bad[][2] = {{"--time-budget 10x", "expected a duration"},
                                         {"--time-budget 0", "expected a duration"},
                                         {"--schedule tri", "constant, step, cosine or linear"}};
    for (int i = 0; i < 3; i++) {
        char args[256];
        snprintf(args, sizeof args, "train --limit 100 --epochs 1 %s --out x.ckpt", bad[i][0]);
        rc = t_run_tool(tool, dir, args, out, sizeof out);
        T_CHECK(rc == 2 && strstr(out, bad[i][1]), "%s: exit %d: %s", bad[i][0], rc, out);
    }
    /* cnn recipes lists each recipe with its options; --recipe takes them, and the options
     * given beside it win (here the model, the epochs instead of the budget, the data). */
    cnn_recipe r;
    cnn_recipe_get(0, &r);
    rc = t_run_tool(tool, dir, "recipes", out, sizeof out);
    T_CHECK(rc == 0 && strstr(out, r.name) && strstr(out, "--model ") &&
                strstr(out, "cnn train --recipe "),
            "cnn recipes: exit %d: %s", rc, out);
    char args[512];
    snprintf(args, sizeof args, "train --recipe %s --model lenet5 --epochs 1 --limit 600 "
             "--out r.ckpt", r.name);
    rc = t_run_tool(tool, dir, args, out, sizeof out);
    char batch[64];
    snprintf(batch, sizeof batch, "batch %d, 1 epochs", r.cfg.batch);
    T_CHECK(rc == 0 && strstr(out, "model lenet5") && strstr(out, batch) &&
                strstr(out, cnn_schedule_name(r.cfg.schedule)) && !strstr(out, "time budget"),
            "cnn train --recipe %s --model lenet5 --epochs 1: exit %d: %s", r.name, rc, out);
    printf("  ok cnn recipes; cnn train --recipe %s with the model and epochs overridden\n",
           r.name);
    static const char *const refused[][2] = {
        {"--recipe nope --epochs 1", "no such recipe"},
        {"--recipe fashion-10m --resume r.ckpt", "--recipe"}};
    for (int i = 0; i < 2; i++) {
        snprintf(args, sizeof args, "train %s --out y.ckpt", refused[i][0]);
        rc = t_run_tool(tool, dir, args, out, sizeof out);
        T_CHECK(rc == 2 && strstr(out, refused[i][1]), "%s: exit %d: %s", refused[i][0], rc,
                out);
    }
    test_recipe_options(tool, dir);
    t_remove_tree(dir);
}

int main(int argc, char **argv) {
    (void)argc;
    test_linear_schedule();
    test_erase();
    test_tta();
    test_tta_shifts();
    test_budget();
    test_budget_refit();
    test_recipe_table();
    test_ema();
    test_cli(argv[0]);
    return t_finish();
}

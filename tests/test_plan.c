/*
 * test_plan.c - the run's plan (cnn_trainer_plan, cnn_trainer_follow_plan, cnn_trainer_replay):
 * a run fitted to a time budget changes its epochs with the host's pace, and its plan is what
 * lets the same seed give the same weights again (issue 17):
 *   - a budgeted run slowed down after its probe changes its epochs as it goes; its plan
 *     records each change, and a run that follows the plan (at another thread count, no
 *     budget) ends with the same weights, bit for bit;
 *   - a deadline that stops a run mid-epoch: the plan records the stop, the replay stops there,
 *     out of time as the run was, with the same average of the weights;
 *   - checkpoints keep the plan: cnn_trainer_replay repeats a run from its checkpoint, and
 *     refuses another seed, optimiser, network or data set, and a checkpoint without a plan
 *     (which still resumes);
 *   - a replay stopped and resumed follows the rest of its plan; a run resumed mid-epoch with a
 *     new count, and again after its end with another, records both, and its plan replays it;
 *   - the text: what a run follows it gives back; damaged plans are refused with the token
 *     named, given to cnn_trainer_follow_plan or found in a checkpoint; a plan and a budget
 *     exclude each other, and neither comes after the first step.
 * The budgeted runs depend on the pace of the host (ALONE_TESTS in the Makefile).
 */
#define _POSIX_C_SOURCE 200809L /* nanosleep */
#include "testlib.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static const char *SPEC = "input x - shape=1x8x8; conv2d c x out=4 kernel=3 padding=1; relu r -;"
                          "dropout d - p=0.2; flatten f -; dense logits - out=4";

/* 640 samples in batches of 16: 40 steps an epoch. */
static cnn_train_config config(void) {
    cnn_train_config cfg = cnn_train_defaults();
    cfg.batch = 16;
    cfg.threads = 1;
    cfg.seed = 3;
    cfg.augment.crop_pad = 1;
    cfg.schedule = CNN_SCHEDULE_LINEAR;
    return cfg;
}

/* Each step of the run sleeps `times` times the step time a 2 s budget's plan implies, so
 * that the run is that much slower than its probe measured. */
typedef struct slowdown {
    int times, sleep_us;
} slowdown;

static int slow_step(void *user, const cnn_train_progress *p) {
    slowdown *s = user;
    if (p->global_step == 1) s->sleep_us = (int)(s->times * 2e6 / ((double)p->epochs * p->steps));
    struct timespec ts = {s->sleep_us / 1000000, 1000L * (s->sleep_us % 1000000)};
    nanosleep(&ts, NULL);
    return 0;
}

/* Stops the run after global step `at`. */
static int stop_at(void *user, const cnn_train_progress *p) {
    return p->global_step == *(int64_t *)user;
}

static char *plan_of(const cnn_trainer *tr) {
    size_t n = cnn_trainer_plan(tr, NULL, 0) + 1;
    char *s = malloc(n);
    cnn_trainer_plan(tr, s, n);
    return s;
}

/* Whether two trainers' networks hold the same parameters, bit for bit. */
static int same_params(cnn_trainer *a, cnn_trainer *b) {
    cnn_net *x = cnn_trainer_net(a), *y = cnn_trainer_net(b);
    size_t n = cnn_net_param_count(x);
    return n == cnn_net_param_count(y) && !memcmp(cnn_net_params(x), cnn_net_params(y), n * 4);
}

/* A run of a fresh network (seed 1) that follows plan with cfg (threads 2), to its end. */
static cnn_trainer *follow(const char *plan, cnn_train_config cfg, const cnn_dataset *ds,
                           const cnn_dataset *val, cnn_net **net) {
    char err[1024];
    cnn_trainer *tr = NULL;
    *net = t_net(SPEC, 1);
    cfg.threads = 2;
    T_OK(NULL, cnn_trainer_new(*net, ds, val, &cfg, &tr, err, sizeof err));
    T_OK(NULL, cnn_trainer_follow_plan(tr, plan));
    T_OK(NULL, cnn_trainer_run(tr));
    return tr;
}

/* A budgeted run of 2 s, `times` slower than its probe, with the refits on or off; its
 * checkpoint at path (NULL: none). */
static cnn_trainer *budgeted(cnn_train_config cfg, int times, int refit, const char *path,
                             const cnn_dataset *ds, const cnn_dataset *val, cnn_net **net) {
    char err[1024];
    slowdown s = {times, 0};
    cnn_trainer *tr = NULL;
    *net = t_net(SPEC, 1);
    cfg.on_step = slow_step;
    cfg.user = &s;
    cfg.checkpoint = path;
    T_OK(NULL, cnn_trainer_new(*net, ds, val, &cfg, &tr, err, sizeof err));
    T_OK(NULL, cnn_trainer_fit_budget(tr, 2.0));
    cnn_trainer_budget_refit(tr, refit);
    T_OK(NULL, cnn_trainer_run(tr));
    return tr;
}

static void test_budget_replayed(const cnn_dataset *ds, const cnn_dataset *val) {
    cnn_net *a, *b;
    cnn_trainer *run = budgeted(config(), 4, 1, t_at("budget.ckpt"), ds, val, &a);
    char *plan = plan_of(run);
    int epochs = cnn_trainer_config(run)->epochs;
    T_CHECK(strchr(plan, ':') && !strstr(plan, "stop") && cnn_trainer_done(run),
            "a budgeted run slower than its probe: its plan '%s' records no change of its "
            "epochs (%d), or it did not end", plan, epochs);
    cnn_trainer *again = follow(plan, config(), ds, val, &b);
    char *followed = plan_of(again);
    if (T_CHECK(same_params(run, again) && cnn_trainer_epochs_done(again) == epochs &&
                    cnn_trainer_last(again).lr == cnn_trainer_last(run).lr &&
                    !strcmp(plan, followed),
                "the run that follows the plan '%s' is not the budgeted run: %d epochs of %d, "
                "last rates %g and %g, plan '%s'", plan, cnn_trainer_epochs_done(again), epochs,
                cnn_trainer_last(again).lr, cnn_trainer_last(run).lr, followed))
        printf("  ok a budgeted run's plan '%s' followed at 2 threads: its weights, bit for "
               "bit\n", plan);
    /* From its checkpoint. */
    char err[1024];
    cnn_net *c = t_net(SPEC, 1);
    cnn_train_config cfg = config();
    cnn_trainer *replay = NULL;
    T_OK(NULL, cnn_trainer_new(c, ds, val, &cfg, &replay, err, sizeof err));
    T_OK(NULL, cnn_trainer_replay(replay, t_at("budget.ckpt")));
    T_OK(NULL, cnn_trainer_run(replay));
    if (T_CHECK(same_params(run, replay), "the replay of budget.ckpt is not its run"))
        printf("  ok cnn_trainer_replay repeats the run of a checkpoint\n");
    cnn_trainer_free(replay), cnn_trainer_free(again), cnn_trainer_free(run);
    cnn_net_free(a), cnn_net_free(b), cnn_net_free(c);
    free(plan), free(followed);
}

static void test_stop_replayed(const cnn_dataset *ds, const cnn_dataset *val) {
    cnn_train_config cfg = config();
    cfg.optim.ema = 0.9f; /* the run ends with the average in the network */
    cnn_net *a, *b;
    cnn_trainer *run = budgeted(cfg, 4, 0, NULL, ds, val, &a);
    char *plan = plan_of(run);
    cnn_train_progress end = cnn_trainer_last(run);
    T_CHECK(cnn_trainer_out_of_time(run) && strstr(plan, ":stop"),
            "a budgeted run 4 times slower than its probe, not refitted, did not run out of "
            "time (plan '%s')", plan);
    cnn_trainer *again = follow(plan, cfg, ds, val, &b);
    cnn_train_progress at = cnn_trainer_last(again);
    if (T_CHECK(same_params(run, again) && cnn_trainer_out_of_time(again) &&
                    at.epoch == end.epoch && at.step == end.step,
                "the replay of '%s' did not stop where the run did (epoch %d step %d; it "
                "stopped at epoch %d step %d, out of time %d) with its weights",
                plan, end.epoch, end.step, at.epoch, at.step, cnn_trainer_out_of_time(again)))
        printf("  ok the deadline's stop replayed: '%s', the same average of the weights\n",
               plan);
    cnn_trainer_free(again), cnn_trainer_free(run);
    cnn_net_free(a), cnn_net_free(b);
    free(plan);
}

/* The checkpoint's metadata with its train.plan line replaced by `line` (NULL: removed),
 * saved to `to`. */
static void edit_plan(const char *from, const char *to, const char *line) {
    cnn_net *net;
    cnn_optim *opt;
    char *meta, err[1024];
    T_OK(NULL, cnn_checkpoint_load(from, &net, &opt, &meta, err, sizeof err));
    size_t n = strlen(meta) + (line ? strlen(line) : 0) + 2;
    char *out = calloc(1, n), *at = strstr(meta, "train.plan=");
    T_CHECK(at != NULL, "%s has no train.plan line", from);
    if (at) {
        char *eol = strchr(at, '\n');
        snprintf(out, n, "%.*s%s%s%s", (int)(at - meta), meta, line ? line : "",
                 line ? "\n" : "", eol ? eol + 1 : "");
    }
    T_OK(NULL, cnn_checkpoint_save(to, net, opt, out, err, sizeof err));
    free(out), free(meta);
    cnn_optim_free(opt);
    cnn_net_free(net);
}

/* A replay of budget.ckpt with cfg, the network of spec and the data ds is refused, saying
 * `why`. */
static void refused(const char *what, const char *path, const char *spec, cnn_train_config cfg,
                    const cnn_dataset *ds, const cnn_dataset *val, const char *why) {
    char err[1024];
    cnn_net *net = t_net(spec, 1);
    cnn_trainer *tr = NULL;
    T_OK(NULL, cnn_trainer_new(net, ds, val, &cfg, &tr, err, sizeof err));
    cnn_status st = cnn_trainer_replay(tr, t_at(path));
    const char *msg = cnn_trainer_last_error(tr);
    if (T_CHECK(st && strstr(msg, why), "a replay of %s: %s (wanted a refusal saying '%s')",
                what, st ? msg : "accepted", why))
        printf("  ok refused: %s: %s\n", what, msg);
    cnn_trainer_free(tr);
    cnn_net_free(net);
}

static void test_replay_refusals(const cnn_dataset *ds, const cnn_dataset *val) {
    cnn_train_config cfg = config();
    cfg.seed = 4;
    refused("another seed", "budget.ckpt", SPEC, cfg, ds, val, "train.seed is 3, this run's 4");
    cfg = config();
    cfg.optim.weight_decay = 0.1f;
    refused("another weight decay", "budget.ckpt", SPEC, cfg, ds, val, "not this run's optimiser");
    cfg = config();
    cfg.augment.hflip = 0;
    refused("other augmentations", "budget.ckpt", SPEC, cfg, ds, val, "train.augment");
    refused("another network", "budget.ckpt",
            "input x - shape=1x8x8; conv2d c x out=5 kernel=3 padding=1; relu r -;"
            "dropout d - p=0.2; flatten f -; dense logits - out=4",
            config(), ds, val, "not this run's network");
    cnn_dataset *other = t_bars(608, 2);
    refused("other data", "budget.ckpt", SPEC, config(), other, val, "training set is not the run's");
    refused("no validation set", "budget.ckpt", SPEC, config(), ds, NULL,
            "validation set is not the run's");
    t_free_dataset(other);
    /* A checkpoint from before plans: refused for a replay, resumed as before. */
    edit_plan(t_at("budget.ckpt"), t_at("noplan.ckpt"), NULL);
    refused("a checkpoint without a plan", "noplan.ckpt", SPEC, config(), ds, val,
            "holds no plan of its run");
    char err[1024], *meta = NULL, done_text[32] = "0";
    cnn_net *saved = NULL;
    T_OK(NULL, cnn_checkpoint_load(t_at("noplan.ckpt"), &saved, NULL, &meta, err, sizeof err));
    cnn_meta_get(meta, "train.epoch", done_text, sizeof done_text);
    int done = atoi(done_text);
    free(meta);
    cnn_net_free(saved);
    cnn_trainer *tr = NULL;
    cnn_train_config given = config();
    given.checkpoint = t_at("noplan-resumed.ckpt");
    if (T_OK(NULL, cnn_trainer_resume(t_at("noplan.ckpt"), ds, val, done + 1, &given, &tr, err,
                                      sizeof err))) {
        char *plan = plan_of(tr);
        char want[64];
        snprintf(want, sizeof want, "%d %d:%d", done, done, done + 1);
        if (T_CHECK(!strcmp(plan, want), "a checkpoint without a plan resumed for one epoch "
                    "more: plan '%s', not '%s'", plan, want))
            printf("  ok a checkpoint without a plan resumes, its epochs its plan: '%s'\n", plan);
        free(plan);
    }
    cnn_trainer_free(tr);
    /* A damaged plan line. */
    edit_plan(t_at("budget.ckpt"), t_at("damaged.ckpt"), "train.plan=9 3:2");
    refused("a damaged train.plan", "damaged.ckpt", SPEC, config(), ds, val,
            "token 2 '3:2': 2 epochs, fewer than the run has started");
    tr = NULL;
    cnn_status st = cnn_trainer_resume(t_at("damaged.ckpt"), ds, val, 0, &given, &tr, err,
                                       sizeof err);
    if (T_CHECK(st == CNN_STATUS_FORMAT && strstr(err, "damaged.ckpt: damaged training state: "
                                                       "train.plan is '9 3:2': token 2"),
                "resuming a checkpoint with a damaged plan: %s", st ? err : "accepted"))
        printf("  ok resuming it: %s\n", err);
    cnn_trainer_free(tr);
}

/* A run of 3 epochs stopped after step 5 of epoch 2, resumed with 4 epochs, and once ended
 * resumed again with 5: its plan "3 1.5:4 4:5", which a run from the start follows to the
 * same weights; and a replay stopped mid-way and resumed follows the rest of its plan. */
static void test_resumed(const cnn_dataset *ds, const cnn_dataset *val) {
    char err[1024];
    cnn_net *a = t_net(SPEC, 1), *b;
    cnn_train_config cfg = config();
    cfg.epochs = 3;
    cfg.checkpoint = t_at("resumed.ckpt");
    int64_t at = 40 + 5;
    cfg.on_step = stop_at;
    cfg.user = &at;
    cnn_trainer *tr = NULL;
    T_OK(NULL, cnn_trainer_new(a, ds, val, &cfg, &tr, err, sizeof err));
    T_OK(NULL, cnn_trainer_run(tr));
    cnn_trainer_free(tr), tr = NULL;
    cfg.on_step = NULL;
    T_OK(NULL, cnn_trainer_resume(t_at("resumed.ckpt"), ds, val, 4, &cfg, &tr, err, sizeof err));
    T_OK(NULL, cnn_trainer_run(tr));
    cnn_trainer_free(tr), tr = NULL;
    T_OK(NULL, cnn_trainer_resume(t_at("resumed.ckpt"), ds, val, 5, &cfg, &tr, err, sizeof err));
    T_OK(NULL, cnn_trainer_run(tr));
    char *plan = plan_of(tr);
    T_CHECK(!strcmp(plan, "3 1.5:4 4:5"), "a run resumed at epoch 2 step 5 with 4 epochs, then "
            "with 5: plan '%s'", plan);
    cnn_train_config plain = config();
    cnn_trainer *again = follow(plan, plain, ds, val, &b);
    if (T_CHECK(same_params(tr, again), "the run from the start that follows '%s' is not the "
                "resumed run", plan))
        printf("  ok a run resumed with new counts mid-epoch and after its end: plan '%s', "
               "replayed to its weights\n", plan);
    /* A replay of that plan, stopped after step 7 of epoch 3 (after the change at 1.5, before
     * the one at 4) and resumed. */
    cnn_net *c = t_net(SPEC, 1);
    cnn_trainer *part = NULL, *rest = NULL;
    cnn_train_config r = config();
    r.checkpoint = t_at("part.ckpt");
    at = 2 * 40 + 7;
    r.on_step = stop_at;
    r.user = &at;
    T_OK(NULL, cnn_trainer_new(c, ds, val, &r, &part, err, sizeof err));
    T_OK(NULL, cnn_trainer_follow_plan(part, plan));
    T_OK(NULL, cnn_trainer_run(part));
    T_CHECK(cnn_trainer_stopped(part) && !cnn_trainer_out_of_time(part),
            "the replay did not stop where asked");
    r.on_step = NULL;
    T_OK(NULL, cnn_trainer_resume(t_at("part.ckpt"), ds, val, 0, &r, &rest, err, sizeof err));
    T_OK(NULL, cnn_trainer_run(rest));
    if (T_CHECK(same_params(rest, again) && cnn_trainer_epochs_done(rest) == 5,
                "a replay stopped at epoch 3 and resumed is not the replay (%d epochs)",
                cnn_trainer_epochs_done(rest)))
        printf("  ok a replay stopped and resumed follows the rest of its plan\n");
    cnn_trainer_free(part), cnn_trainer_free(rest), cnn_trainer_free(again), cnn_trainer_free(tr);
    cnn_net_free(a), cnn_net_free(b), cnn_net_free(c);
    free(plan);
}

/* follow_plan on a new trainer: its status and message. */
static cnn_status try_plan(const char *plan, const cnn_dataset *ds, char *msg, size_t size,
                           char *back, size_t back_size) {
    char err[1024];
    cnn_net *net = t_net(SPEC, 1);
    cnn_train_config cfg = config();
    cnn_trainer *tr = NULL;
    T_OK(NULL, cnn_trainer_new(net, ds, NULL, &cfg, &tr, err, sizeof err));
    cnn_status st = cnn_trainer_follow_plan(tr, plan);
    snprintf(msg, size, "%s", cnn_trainer_last_error(tr));
    if (back) cnn_trainer_plan(tr, back, back_size);
    cnn_trainer_free(tr);
    cnn_net_free(net);
    return st;
}

static void test_text(const cnn_dataset *ds) {
    char msg[1024], back[256];
    const char *good[] = {"7", "9 1:7 2.13:8 5.20:stop", "3 1.5:4 4:5", "4 0.3:3 2:stop",
                          "6 2:2"};
    for (size_t i = 0; i < sizeof good / sizeof *good; i++) {
        cnn_status st = try_plan(good[i], ds, msg, sizeof msg, back, sizeof back);
        T_CHECK(!st && !strcmp(back, good[i]), "plan '%s': %s, gives back '%s'", good[i],
                st ? msg : "taken", back);
    }
    printf("  ok %zu plans taken and given back as written\n", sizeof good / sizeof *good);
    static const struct {
        const char *plan, *why;
    } bad[] = {
        {"", "token 1 '': expected the epochs"},
        {"0", "token 1 '0': expected the epochs"},
        {"99999999999", "token 1 '99999999999'"},
        {"-5", "token 1 '-5'"},
        {"5x", "token 1 '5x'"},
        {"5 3:2", "token 2 '3:2': 2 epochs, fewer than the run has started"},
        {"5 2.1:2", "token 2 '2.1:2': 2 epochs, fewer than the run has started"},
        {"5 3:7 2:6", "token 3 '2:6': not after the change before it"},
        {"5 3:7 3:6", "token 3 '3:6': not after the change before it"},
        {"5 6:7", "token 2 '6:7': after the run's end (5 epochs)"},
        {"5 5.1:7", "token 2 '5.1:7': after the run's end (5 epochs)"},
        {"5 3:5", "token 2 '3:5': the count in force already (5)"},
        {"5 0:6", "token 2 '0:6': a change before the first step"},
        {"5 2:stop 3:6", "token 3 '3:6': after the stop"},
        {"5 5:stop", "token 2 '5:stop': a stop after the run's end"},
        {"5 3:57x", "token 2 '3:57x': expected a count of epochs or 'stop'"},
        {"5 3:stopped", "token 2 '3:stopped': expected a count"},
        {"5  3:4", "token 2 '': expected E:N"},
        {"5 3:4 ", "token 3 '': expected E:N"},
        {"5 3.:4", "token 2 '3.:4': expected E:N"},
        {"5 3", "token 2 '3': expected E:N"},
        {"5 2.40:6", "a position after step 40 of an epoch, but an epoch of this run has 40 "
                     "steps"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        cnn_status st = try_plan(bad[i].plan, ds, msg, sizeof msg, NULL, 0);
        T_CHECK(st && strstr(msg, bad[i].why), "plan '%s': %s (wanted '%s')", bad[i].plan,
                st ? msg : "taken", bad[i].why);
    }
    printf("  ok %zu damaged plans refused, the token named (e.g. %s)\n",
           sizeof bad / sizeof *bad, msg);
    /* A plan and a budget exclude each other; neither after the first step. */
    char err[1024];
    cnn_net *net = t_net(SPEC, 1);
    cnn_train_config cfg = config();
    cnn_trainer *tr = NULL;
    T_OK(NULL, cnn_trainer_new(net, ds, NULL, &cfg, &tr, err, sizeof err));
    T_OK(NULL, cnn_trainer_follow_plan(tr, "4"));
    T_CHECK(cnn_trainer_fit_budget(tr, 10) == CNN_STATUS_STATE &&
                strstr(cnn_trainer_last_error(tr), "follows a plan"),
            "a budget after a plan: %s", cnn_trainer_last_error(tr));
    T_OK(NULL, cnn_trainer_step(tr));
    T_CHECK(cnn_trainer_follow_plan(tr, "4") == CNN_STATUS_STATE, "a plan after a step");
    cnn_trainer_free(tr), tr = NULL;
    T_OK(NULL, cnn_trainer_new(net, ds, NULL, &cfg, &tr, err, sizeof err));
    T_OK(NULL, cnn_trainer_fit_budget(tr, 10));
    T_CHECK(cnn_trainer_follow_plan(tr, "4") == CNN_STATUS_STATE &&
                strstr(cnn_trainer_last_error(tr), "a plan replaces the budget"),
            "a plan after a budget: %s", cnn_trainer_last_error(tr));
    cnn_trainer_free(tr);
    cnn_net_free(net);
    printf("  ok a plan and a budget exclude each other, and come before the first step\n");
}

int main(void) {
    t_scratch_make("plan");
    cnn_dataset *ds = t_bars(640, 2), *val = t_bars(64, 3);
    test_text(ds);
    test_budget_replayed(ds, val);
    test_stop_replayed(ds, val);
    test_replay_refusals(ds, val);
    test_resumed(ds, val);
    t_free_dataset(ds), t_free_dataset(val);
    t_scratch_remove();
    return t_finish();
}

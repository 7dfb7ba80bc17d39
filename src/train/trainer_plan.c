/*
 * trainer_plan.c - the run's plan: the epochs a run set out to train and each change of that
 * count, recorded as the run goes (a time budget's refits, a resumed run's new count, the
 * budget's stop), kept in its checkpoints (the line train.plan), and followed by a replay
 * (cnn_trainer_follow_plan, cnn_trainer_replay), so that a budgeted run, whose epochs
 * depended on the pace of its host, can be repeated bit for bit on any host.
 *
 * The learning-rate schedule depends on the epoch count in force at each step and on nothing
 * else of the budget (cnn_trainer_set_schedule), and the budget's probe is undone to the bit:
 * a run that changes its count at the same positions as another trains the same steps at the
 * same rates, and with the same seed, data and settings ends with the same weights.
 *
 * A position is the one a checkpoint keeps: epochs done, and steps done in the next epoch. The
 * text is the first count, then a token per change, "E:N" (from the end of epoch E on, N
 * epochs) or "E.S:N" (from step S of epoch E + 1 on), in order, and last "E.S:stop" when the
 * time budget stopped the run there: "58 3:57 5:55 53.214:stop".
 */
#include "trainer.h"

#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Whether position (e1, s1) comes before (e2, s2). */
static int before(int e1, int s1, int e2, int s2) { return e1 < e2 || (e1 == e2 && s1 < s2); }

/* The count the plan has in force at the end: its last change's, or its first. */
static int last_count(const cnn_plan *p) { return p->n ? p->changes[p->n - 1].epochs : p->first; }

/* The count in force at position (e, s): a change at that very position has been made (it is
 * made as the run reaches it, before a checkpoint there is written). */
static int count_at(const cnn_plan *p, int e, int s) {
    int count = p->first;
    for (int i = 0; i < p->n && !before(e, s, p->changes[i].epoch, p->changes[i].step); i++)
        count = p->changes[i].epochs;
    return count;
}

static int append(cnn_plan *p, int epoch, int step, int epochs) {
    if (p->n == p->cap) {
        int cap = p->cap ? 2 * p->cap : 8;
        cnn_plan_change *c = cnn_realloc(p->changes, (size_t)cap * sizeof *c);
        if (!c) return 0;
        p->changes = c;
        p->cap = cap;
    }
    p->changes[p->n++] = (cnn_plan_change){epoch, step, epochs};
    return 1;
}

void cnn_plan_free(cnn_plan *p) {
    cnn_free(p->changes);
    *p = (cnn_plan){0};
}

/* ---------------------------------------------------------------------------------------------
 * Recording and following
 * ------------------------------------------------------------------------------------------- */

cnn_status cnn_trainer_plan_change(cnn_trainer *tr) {
    cnn_plan *p = &tr->plan;
    /* The count from here on replaces whatever the plan said from here on. */
    while (p->n && !before(p->changes[p->n - 1].epoch, p->changes[p->n - 1].step, tr->epoch,
                           tr->step))
        p->n--;
    p->stopped = 0;
    if (last_count(p) == tr->cfg.epochs) return CNN_STATUS_OK;
    if (tr->epoch == 0 && tr->step == 0) { /* before the first step: the first count */
        p->first = tr->cfg.epochs;
        return CNN_STATUS_OK;
    }
    if (!append(p, tr->epoch, tr->step, tr->cfg.epochs))
        return cnn_trainer_fail(tr, CNN_STATUS_NO_MEMORY, "out of memory for the run's plan");
    return CNN_STATUS_OK;
}

void cnn_trainer_plan_stop(cnn_trainer *tr) {
    tr->plan.stopped = 1;
    tr->plan.stop_epoch = tr->epoch;
    tr->plan.stop_step = tr->step;
}

void cnn_trainer_plan_follow(cnn_trainer *tr) {
    const cnn_plan *p = &tr->plan;
    if (!tr->follow) return;
    int epochs = count_at(p, tr->epoch, tr->step);
    if (epochs != tr->cfg.epochs) {
        tr->refit_from = tr->cfg.epochs;
        tr->cfg.epochs = epochs;
        cnn_trainer_set_schedule(tr);
    }
    /* Every rank follows the same plan: they stop together without agreeing on it. */
    if (p->stopped && p->stop_epoch == tr->epoch && p->stop_step == tr->step)
        tr->stop_req = tr->stop_agreed = tr->out_of_time = 1;
}

cnn_status cnn_trainer_plan_resume(cnn_trainer *tr, const char *path, int epochs) {
    cnn_plan *p = &tr->plan;
    if (!p->recorded) { /* an older checkpoint: its count is all that is known */
        p->first = tr->cfg.epochs;
        p->n = p->stopped = 0;
    }
    int planned = count_at(p, tr->epoch, tr->step);
    if (planned != tr->cfg.epochs)
        return cnn_trainer_fail(tr, CNN_STATUS_FORMAT,
                                "%s: damaged training state: train.plan has %d epochs at "
                                "epoch %d step %d, train.epochs %d",
                                path, planned, tr->epoch, tr->step, tr->cfg.epochs);
    if (p->stopped && before(p->stop_epoch, p->stop_step, tr->epoch, tr->step))
        return cnn_trainer_fail(tr, CNN_STATUS_FORMAT,
                                "%s: damaged training state: train.plan stops at epoch %d step "
                                "%d, before the run's position (epoch %d step %d)",
                                path, p->stop_epoch, p->stop_step, tr->epoch, tr->step);
    /* A stop the run has reached: resumed, it goes on. */
    if (p->stopped && p->stop_epoch == tr->epoch && p->stop_step == tr->step) p->stopped = 0;
    tr->follow = 1;
    if (epochs <= 0) return CNN_STATUS_OK;
    tr->cfg.epochs = epochs;
    tr->done = 0;
    return cnn_trainer_plan_change(tr);
}

/* ---------------------------------------------------------------------------------------------
 * Text
 * ------------------------------------------------------------------------------------------- */

/* Appends to buf as snprintf would at offset *len, counting what does not fit. */
static void put(char *buf, size_t size, size_t *len, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static void put(char *buf, size_t size, size_t *len, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(*len < size ? buf + *len : NULL, *len < size ? size - *len : 0, fmt, ap);
    va_end(ap);
    if (n > 0) *len += (size_t)n;
}

static void put_position(char *buf, size_t size, size_t *len, int epoch, int step) {
    if (step)
        put(buf, size, len, " %d.%d:", epoch, step);
    else
        put(buf, size, len, " %d:", epoch);
}

size_t cnn_plan_format(const cnn_plan *p, char *buf, size_t size) {
    size_t len = 0;
    if (size) *buf = 0;
    put(buf, size, &len, "%d", p->first);
    for (int i = 0; i < p->n; i++) {
        put_position(buf, size, &len, p->changes[i].epoch, p->changes[i].step);
        put(buf, size, &len, "%d", p->changes[i].epochs);
    }
    if (p->stopped) {
        put_position(buf, size, &len, p->stop_epoch, p->stop_step);
        put(buf, size, &len, "stop");
    }
    return len;
}

/* A count at *s: digits only, at most INT_MAX; *s moves past it. */
static int read_count(const char **s, int *v) {
    if (**s < '0' || **s > '9') return 0;
    char *end;
    errno = 0;
    long x = strtol(*s, &end, 10);
    if (errno || x > INT_MAX) return 0;
    *v = (int)x;
    *s = end;
    return 1;
}

/* The token of the plan from s (up to a space or the end) into why, for a message. */
static void token_text(const char *s, char *buf, size_t size) {
    size_t n = strcspn(s, " ");
    snprintf(buf, size, "%.*s", (int)(n < 64 ? n : 64), s);
}

static cnn_status refuse(cnn_plan *p, char *why, size_t size, int k, const char *tok,
                         const char *fmt, ...) __attribute__((format(printf, 6, 7)));
static cnn_status refuse(cnn_plan *p, char *why, size_t size, int k, const char *tok,
                         const char *fmt, ...) {
    char what[256], t[80];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(what, sizeof what, fmt, ap);
    va_end(ap);
    token_text(tok, t, sizeof t);
    snprintf(why, size, "token %d '%s': %s", k + 1, t, what);
    cnn_plan_free(p);
    return CNN_STATUS_FORMAT;
}

cnn_status cnn_plan_parse(const char *text, cnn_plan *out, char *why, size_t size) {
    cnn_plan p = {.recorded = 1};
    const char *s = text;
    *out = p;
    if (!read_count(&s, &p.first) || p.first < 1 || (*s && *s != ' '))
        return refuse(&p, why, size, 0, text,
                      "expected the epochs the run set out to train (an integer of at least 1)");
    for (int k = 1; *s; k++) {
        const char *tok = ++s; /* past the space */
        int e, st = 0, n = 0, stop;
        if (!read_count(&s, &e) || (*s == '.' && (++s, !read_count(&s, &st))) || *s++ != ':')
            return refuse(&p, why, size, k, tok, "expected E:N, E.S:N or E.S:stop (epochs done, "
                          "steps done in the next epoch, the epochs from there on)");
        stop = !strncmp(s, "stop", 4) && (s[4] == 0 || s[4] == ' ');
        if (stop)
            s += 4;
        else if (!read_count(&s, &n) || (*s && *s != ' '))
            return refuse(&p, why, size, k, tok, "expected a count of epochs or 'stop' after ':'");
        int count = last_count(&p);
        if (p.stopped)
            return refuse(&p, why, size, k, tok, "after the stop: nothing follows it");
        if (e > count || (e == count && st))
            return refuse(&p, why, size, k, tok, "after the run's end (%d epochs)", count);
        if (e == 0 && st == 0)
            return refuse(&p, why, size, k, tok, "a change before the first step: that is the "
                          "first count");
        if (p.n && !before(p.changes[p.n - 1].epoch, p.changes[p.n - 1].step, e, st))
            return refuse(&p, why, size, k, tok, "not after the change before it");
        if (stop) {
            if (e >= count)
                return refuse(&p, why, size, k, tok, "a stop after the run's end (%d epochs)",
                              count);
            p.stopped = 1, p.stop_epoch = e, p.stop_step = st;
            continue;
        }
        if (n < e + (st > 0) || n < 1)
            return refuse(&p, why, size, k, tok, "%d epochs, fewer than the run has started", n);
        if (n == count)
            return refuse(&p, why, size, k, tok, "the count in force already (%d): not a change",
                          n);
        if (!append(&p, e, st, n)) {
            snprintf(why, size, "out of memory");
            cnn_plan_free(&p);
            return CNN_STATUS_NO_MEMORY;
        }
    }
    *out = p;
    return CNN_STATUS_OK;
}

/* The steps of a plan's positions fall inside this run's epochs of tr->steps steps. */
static cnn_status check_steps(cnn_trainer *tr, const cnn_plan *p, const char *what) {
    int bad = p->stopped && p->stop_step >= tr->steps ? p->stop_step : -1;
    for (int i = 0; i < p->n && bad < 0; i++)
        if (p->changes[i].step >= tr->steps) bad = p->changes[i].step;
    if (bad < 0) return CNN_STATUS_OK;
    return cnn_trainer_fail(tr, CNN_STATUS_INVALID_ARGUMENT,
                            "%s: a position after step %d of an epoch, but an epoch of this run "
                            "has %d steps (another batch size or data set?)",
                            what, bad, tr->steps);
}

cnn_status cnn_trainer_plan_check(cnn_trainer *tr, const char *what) {
    return check_steps(tr, &tr->plan, what);
}

/* ---------------------------------------------------------------------------------------------
 * The public functions
 * ------------------------------------------------------------------------------------------- */

size_t cnn_trainer_plan(const cnn_trainer *tr, char *buf, size_t size) {
    return cnn_plan_format(&tr->plan, buf, size);
}

cnn_status cnn_trainer_follow_plan(cnn_trainer *tr, const char *plan) {
    if (tr->epoch || tr->step || cnn_optim_steps(tr->opt))
        return cnn_trainer_fail(tr, CNN_STATUS_STATE,
                                "plan: the run has started (epoch %d, step %d): follow a plan "
                                "from its first step",
                                tr->epoch + 1, tr->step);
    if (tr->deadline > 0)
        return cnn_trainer_fail(tr, CNN_STATUS_STATE,
                                "plan: the run is fitted to a time budget; a plan replaces the "
                                "budget");
    char why[512];
    cnn_plan p;
    cnn_status st = cnn_plan_parse(plan ? plan : "", &p, why, sizeof why);
    if (st) return cnn_trainer_fail(tr, st, "plan '%s': %s", plan ? plan : "", why);
    if ((st = check_steps(tr, &p, "plan"))) {
        cnn_plan_free(&p);
        return st;
    }
    cnn_plan_free(&tr->plan);
    tr->plan = p;
    tr->cfg.epochs = p.first;
    cnn_trainer_set_schedule(tr);
    tr->follow = 1;
    return CNN_STATUS_OK;
}

cnn_status cnn_trainer_replay(cnn_trainer *tr, const char *path) {
    cnn_net *net = NULL;
    cnn_optim *opt = NULL;
    char *meta = NULL, err[1024];
    cnn_status st = cnn_checkpoint_load(path, &net, &opt, &meta, err, sizeof err);
    if (st) return cnn_trainer_fail(tr, st, "%s", err);
    st = cnn_trainer_same_run(tr, path, meta, net, opt);
    long len = st ? 0 : cnn_meta_get(meta, "train.plan", NULL, 0);
    char *plan = len >= 0 ? cnn_alloc((size_t)len + 1) : NULL;
    if (!st && len < 0)
        st = cnn_trainer_fail(tr, CNN_STATUS_FORMAT,
                              "%s holds no plan of its run (a checkpoint of cnn 0.5 or older): "
                              "give the plan its log printed (cnn train --plan) instead",
                              path);
    else if (!st && !plan)
        st = cnn_trainer_fail(tr, CNN_STATUS_NO_MEMORY, "out of memory");
    if (!st) {
        cnn_meta_get(meta, "train.plan", plan, (size_t)len + 1);
        st = cnn_trainer_follow_plan(tr, plan);
        if (st) cnn_trainer_fail_in(tr, st, path);
    }
    cnn_free(plan);
    free(meta);
    cnn_optim_free(opt);
    cnn_net_free(net);
    return st;
}

/*
 * trainer_budget.c - fitting a run to a wall-clock budget (cnn_trainer_fit_budget): measure a
 * few training steps and a validation pass, undo them, and choose the number of epochs whose
 * schedule ends within the budget.
 *
 * The probe's steps are undone to the bit (parameters, state, the optimiser's buffers and step
 * count, the network's generator, the trainer's position), so that the run that follows is
 * exactly the run of that number of epochs: `--time-budget` picks N, and `--epochs N` gives the
 * same weights. Since a host's speed drifts (on a shared host the time other machines take from
 * the processors comes and goes), after each epoch the run's pace so far is compared with the
 * time left: when the epochs planned would end after the deadline, their number is cut to
 * those that fit, and when more fit (the host sped up again, or the probe was pessimistic)
 * it grows, the schedule refitted to end with them (cnn_trainer_refit_budget). A deadline
 * also stops the run (after a step, with its checkpoint) if it has not ended by the end of the
 * budget. The run's plan records the epochs chosen, each refit and the deadline's stop
 * (trainer_plan.c), so that a run can follow it instead of a budget and be this run again.
 */
#include "../core/internal.h"
#include "trainer.h"

#include <limits.h>
#include <math.h>
#include <string.h>

/* What the probe changes, to put back. */
typedef struct snapshot {
    float *params, *state, *opt;
    size_t n_opt;
    int64_t opt_steps;
    cnn_rng rng;
} snapshot;

static int take(snapshot *s, cnn_trainer *tr) {
    cnn_net *net = tr->net;
    float *o = cnn_optim_state(tr->opt, &s->n_opt);
    s->params = cnn_alloc((net->n_params + 1) * sizeof *s->params);
    s->state = cnn_alloc((net->n_state + 1) * sizeof *s->state);
    s->opt = cnn_alloc((s->n_opt + 1) * sizeof *s->opt);
    if (!s->params || !s->state || !s->opt) return 0;
    /* (Counts of 0 come with NULL buffers: no memcpy from NULL, even of nothing.) */
    if (net->n_params) memcpy(s->params, net->params, net->n_params * sizeof *s->params);
    if (net->n_state) memcpy(s->state, net->state, net->n_state * sizeof *s->state);
    if (s->n_opt) memcpy(s->opt, o, s->n_opt * sizeof *s->opt);
    s->opt_steps = cnn_optim_steps(tr->opt);
    s->rng = net->rng;
    return 1;
}

static void put_back(snapshot *s, cnn_trainer *tr) {
    cnn_net *net = tr->net;
    size_t n;
    float *o = cnn_optim_state(tr->opt, &n);
    /* Through cnn_net_params and cnn_net_state: the layers that keep what they made from the
     * weights (Winograd's transforms, 8-bit integers) see them change. */
    if (net->n_params) memcpy(cnn_net_params(net), s->params, net->n_params * sizeof *s->params);
    if (net->n_state) memcpy(cnn_net_state(net), s->state, net->n_state * sizeof *s->state);
    if (s->n_opt) memcpy(o, s->opt, s->n_opt * sizeof *s->opt);
    cnn_optim_set_steps(tr->opt, s->opt_steps);
    net->rng = s->rng;
    tr->epoch = 0;
    cnn_trainer_clear_epoch(tr);
    tr->perm_epoch = -1;
    tr->stop_req = tr->stop_agreed = 0;
    tr->last = (cnn_train_progress){0};
}

static void drop(snapshot *s) {
    cnn_free(s->params);
    cnn_free(s->state);
    cnn_free(s->opt);
}

/* Seconds per training step: the mean of the steps after the first (which pays for warming
 * up), run until they take PROBE_SHARE of the budget, at least 3 and never the epoch's last
 * (which would validate and write the checkpoint). */
#define PROBE_SHARE 0.02
#define PROBE_MIN_STEPS 4
static cnn_status time_steps(cnn_trainer *tr, double budget, double *per_step) {
    cnn_train_callback on_step = tr->cfg.on_step;
    tr->cfg.on_step = NULL; /* the probe is not the run: no progress to show */
    cnn_status st = cnn_trainer_step(tr);
    double t0 = cnn_trainer_now(), t = t0;
    int n = 0;
    while (!st && tr->step + 1 < tr->steps && (n < 3 || t - t0 < PROBE_SHARE * budget)) {
        st = cnn_trainer_step(tr);
        t = cnn_trainer_now();
        n++;
    }
    tr->cfg.on_step = on_step;
    *per_step = n ? (t - t0) / n : 0;
    return st;
}

/* Seconds to validate: the time of a slice of the validation set, scaled to the whole. */
static cnn_status time_validation(cnn_trainer *tr, double *seconds) {
    *seconds = 0;
    if (!tr->val) return CNN_STATUS_OK;
    cnn_dataset slice = *tr->val; /* the same buffers, fewer samples: nothing to free */
    if (slice.n > 1024) slice.n = 1024;
    slice.ids = NULL; /* a shard's slice is measured as a set of its own */
    cnn_metrics m;
    double t0 = cnn_trainer_now();
    if (cnn_evaluate_task(tr->net, &slice, &m))
        return cnn_trainer_fail(tr, CNN_STATUS_INVALID_ARGUMENT, "validation: %s",
                                cnn_net_last_error(tr->net));
    cnn_metrics_free(&m);
    *seconds = (cnn_trainer_now() - t0) * tr->val->n / slice.n;
    return CNN_STATUS_OK;
}

/* The ranks' mean of v (the same value on every rank), or v alone. */
static cnn_status agree(cnn_trainer *tr, double *v, size_t n) {
    const cnn_train_comm *m = tr->cfg.comm;
    if (!m || m->size == 1) return CNN_STATUS_OK;
    char err[512] = "";
    if (!m->allreduce_sum_f64 || m->allreduce_sum_f64(m->user, v, n, err, sizeof err))
        return cnn_trainer_fail(tr, CNN_STATUS_IO, "time budget: the ranks' timings: %s",
                                m->allreduce_sum_f64 ? err : "no allreduce_sum_f64");
    for (size_t i = 0; i < n; i++) v[i] /= m->size;
    return CNN_STATUS_OK;
}

cnn_status cnn_trainer_fit_budget(cnn_trainer *tr, double seconds) {
    double start = cnn_trainer_now();
    if (!(seconds > 0) || !isfinite(seconds))
        return cnn_trainer_fail(tr, CNN_STATUS_INVALID_ARGUMENT,
                                "time budget %g s: it must be above 0", seconds);
    if (tr->epoch || tr->step || cnn_optim_steps(tr->opt))
        return cnn_trainer_fail(tr, CNN_STATUS_STATE,
                                "time budget: the run has started (epoch %d, step %d): fit it "
                                "before the first step",
                                tr->epoch + 1, tr->step);
    if (tr->follow)
        return cnn_trainer_fail(tr, CNN_STATUS_STATE,
                                "time budget: the run follows a plan, which replaces the budget");
    if (tr->steps < PROBE_MIN_STEPS)
        return cnn_trainer_fail(tr, CNN_STATUS_INVALID_ARGUMENT,
                                "time budget: an epoch of %d step%s is too short to time; give "
                                "the number of epochs",
                                tr->steps, tr->steps == 1 ? "" : "s");
    snapshot s = {0};
    if (!take(&s, tr)) {
        drop(&s);
        return cnn_trainer_fail(tr, CNN_STATUS_NO_MEMORY, "out of memory for the time budget");
    }
    double t[2];
    cnn_status st = time_steps(tr, seconds, &t[0]);
    if (!st) st = time_validation(tr, &t[1]);
    put_back(&s, tr);
    drop(&s);
    if (!st) st = agree(tr, t, 2);
    if (st) return st;
    double epoch = tr->steps * t[0] + t[1], left = seconds - (cnn_trainer_now() - start);
    int epochs = (int)floor(left / epoch);
    if (epochs < 1)
        return cnn_trainer_fail(tr, CNN_STATUS_INVALID_ARGUMENT,
                                "time budget %.0f s: one epoch takes about %.1f s (%d steps of "
                                "%.3f s and %.1f s of validation), more than the %.1f s left",
                                seconds, epoch, tr->steps, t[0], t[1], left);
    tr->cfg.epochs = epochs;
    cnn_trainer_set_schedule(tr);
    tr->plan.first = epochs;
    tr->deadline = start + seconds;
    tr->budget_epoch = epoch;
    tr->budget_begin = cnn_trainer_now();
    tr->budget = seconds;
    tr->budget_refit = 1;
    return CNN_STATUS_OK;
}

/* A run ahead of its plan gains an epoch only when it fits with this share of an epoch to
 * spare, so that a pace on the edge does not add and remove the same epoch in turn. */
#define GROW_SPARE 0.25
/* The refitted epochs must end this share of the budget before the deadline: room for the
 * jitter of a loaded host, so that the last epoch is not cut short. */
#define REFIT_MARGIN 0.01

cnn_status cnn_trainer_refit_budget(cnn_trainer *tr) {
    /* A schedule that has run its course is not reopened: an epoch more would be one at its
     * last rate, of no use. */
    if (!(tr->deadline > 0) || !tr->budget_refit || tr->epoch == 0 || tr->done ||
        tr->epoch >= tr->cfg.epochs)
        return CNN_STATUS_OK;
    double now = cnn_trainer_now();
    double t[2] = {(now - tr->budget_begin) / tr->epoch, tr->deadline - now};
    cnn_status st = agree(tr, t, 2);
    if (st) return st;
    double pace = t[0], left = t[1] - REFIT_MARGIN * tr->budget;
    double cap = (double)INT_MAX - tr->epoch;
    int fit = left > 0 ? (int)fmin(floor(left / pace), cap) : 0;
    int grow = left > 0 ? (int)fmin(floor(left / pace - GROW_SPARE), cap) : 0;
    int epochs = tr->epoch + fit < tr->cfg.epochs   ? tr->epoch + fit  /* behind */
                 : tr->epoch + grow > tr->cfg.epochs ? tr->epoch + grow /* ahead */
                                                      : tr->cfg.epochs;
    if (epochs == tr->cfg.epochs) return CNN_STATUS_OK;
    tr->refit_from = tr->cfg.epochs;
    tr->cfg.epochs = epochs;
    cnn_trainer_set_schedule(tr);
    return cnn_trainer_plan_change(tr);
}

void cnn_trainer_budget_refit(cnn_trainer *tr, int on) { tr->budget_refit = on != 0; }

int cnn_trainer_refitted_from(const cnn_trainer *tr) { return tr->refit_from; }

double cnn_trainer_epoch_estimate(const cnn_trainer *tr) { return tr->budget_epoch; }

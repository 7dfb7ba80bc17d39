/*
 * trainer_state.c - the trainer between steps: the end of an epoch (validation, log, best
 * result, patience, checkpoints), and the run's settings and position as checkpoint metadata,
 * written and read back by one table so that a resumed run is the run that was saved.
 */
#include "trainer.h"

#include <errno.h>
#include <float.h>
#include <inttypes.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* ---------------------------------------------------------------------------------------------
 * Growing text
 * ------------------------------------------------------------------------------------------- */

typedef struct text {
    char *s;
    size_t len, cap;
    int failed;
} text;

static void add(text *t, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void add(text *t, const char *fmt, ...) {
    if (t->failed) return;
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0) {
        t->failed = 1;
        return;
    }
    if (t->len + (size_t)n + 1 > t->cap) {
        size_t cap = (t->len + (size_t)n + 1) * 2;
        char *s = cnn_realloc(t->s, cap);
        if (!s) {
            t->failed = 1;
            return;
        }
        t->s = s;
        t->cap = cap;
    }
    va_start(ap, fmt);
    vsnprintf(t->s + t->len, t->cap - t->len, fmt, ap);
    va_end(ap);
    t->len += (size_t)n;
}

/* The samples of a data set, or of its whole set for a shard: its identity with the hash. */
static int whole_n(const cnn_dataset *ds) { return ds->ids ? ds->n_whole : ds->n; }

/* ---------------------------------------------------------------------------------------------
 * The end of an epoch
 * ------------------------------------------------------------------------------------------- */

static int log_line(cnn_trainer *tr, const cnn_train_progress *p) {
    text t = {tr->log, tr->log_len, tr->log_cap, 0};
    if (!t.s) add(&t, "%s", CNN_TRAIN_LOG_HEADER);
    add(&t, "%d,%.6f,%.6f,", p->epoch, p->loss, p->accuracy);
    if (p->has_val)
        add(&t, "%.6f,%.6f", p->val_loss, p->val_accuracy);
    else
        add(&t, ",");
    add(&t, ",%.6g,%.2f\n", p->lr, p->seconds);
    tr->log = t.s;
    tr->log_len = t.len;
    tr->log_cap = t.cap;
    return !t.failed;
}

/* Validation and the best result so far (accuracy; the loss for regression). */
static cnn_status validate(cnn_trainer *tr, cnn_train_progress *p) {
    p->has_val = tr->val != NULL;
    p->is_best = 0;
    if (!tr->val) return CNN_STATUS_OK;
    cnn_metrics m;
    int averaged = tr->cfg.optim.ema > 0 && !tr->averaged; /* the average is what is used */
    if (averaged) cnn_optim_swap_ema(tr->opt);
    cnn_status ev = cnn_evaluate_task(tr->net, tr->val, &m);
    if (averaged) cnn_optim_swap_ema(tr->opt);
    if (ev)
        return cnn_trainer_fail(tr, CNN_STATUS_INVALID_ARGUMENT, "validation: %s",
                                cnn_net_last_error(tr->net));
    cnn_status st = tr->val->ids ? cnn_trainer_shard_metrics(tr, &m) : CNN_STATUS_OK;
    if (st) {
        cnn_metrics_free(&m);
        return st;
    }
    p->val_loss = m.loss;
    p->val_accuracy = m.top1;
    p->val_iou = m.iou;
    cnn_metrics_free(&m);
    double metric = cnn_loss_task(tr->cfg.loss) == CNN_TASK_REGRESSION ? -m.loss : m.top1;
    p->is_best = !tr->has_best || metric > tr->best_metric;
    if (p->is_best) {
        tr->best_metric = metric;
        tr->has_best = 1;
        tr->bad_epochs = 0;
    } else {
        tr->bad_epochs++;
    }
    return CNN_STATUS_OK;
}

cnn_status cnn_trainer_end_epoch(cnn_trainer *tr) {
    cnn_train_progress *p = &tr->last;
    cnn_status st = validate(tr, p);
    if (st) return st;
    p->seconds = cnn_trainer_now() - tr->epoch_start;
    if (!log_line(tr, p))
        return cnn_trainer_fail(tr, CNN_STATUS_NO_MEMORY, "out of memory for the log");
    tr->epoch++;
    cnn_trainer_clear_epoch(tr);
    if ((st = cnn_trainer_refit_budget(tr))) return st;
    cnn_trainer_plan_follow(tr);
    p->epochs = tr->cfg.epochs;
    if (tr->epoch >= tr->cfg.epochs || (tr->cfg.patience > 0 && tr->bad_epochs >= tr->cfg.patience))
        tr->done = 1;
    int writer = !tr->cfg.comm || tr->cfg.comm->rank == 0; /* one rank writes the files */
    if (writer && tr->checkpoint && (st = cnn_trainer_save(tr, NULL))) return st;
    if (writer && p->is_best && tr->best && (st = cnn_trainer_save(tr, tr->best))) return st;
    if (tr->done) cnn_trainer_use_average(tr);
    if (tr->cfg.on_epoch && tr->cfg.on_epoch(tr->cfg.user, p)) tr->stop_req = 1;
    return CNN_STATUS_OK;
}

void cnn_trainer_clear_epoch(cnn_trainer *tr) {
    tr->step = 0;
    tr->sum_loss = 0;
    tr->correct = tr->counted = 0;
    tr->train_secs = tr->epoch_start = tr->comm_secs = 0;
}

void cnn_trainer_use_average(cnn_trainer *tr) {
    if (tr->cfg.optim.ema > 0 && !tr->averaged && !cnn_optim_swap_ema(tr->opt)) tr->averaged = 1;
}

/* ---------------------------------------------------------------------------------------------
 * Settings and position as text: one table for writing and reading
 * ------------------------------------------------------------------------------------------- */

enum kind { K_INT, K_U64, K_I64, K_FLOAT, K_DOUBLE, K_SCHEDULE, K_LOSS, K_AUGMENT, K_PLAN };

typedef struct key {
    const char *name;
    enum kind kind;
    int in_trainer; /* the field is in cnn_trainer; else in cnn_train_config */
    size_t off;
    int64_t max; /* integers: the largest value read back (the smallest is always 0 or 1) */
    int min;
} key;

#define CFG(name, kind, field, min, max)                                                           \
    { name, kind, 0, offsetof(cnn_train_config, field), max, min }
#define POS(name, kind, field, min, max)                                                           \
    { name, kind, 1, offsetof(cnn_trainer, field), max, min }

/* Every count is at least 0 (epochs and batch 1), every flag 0 or 1: a checkpoint that says
 * epoch=-5 is damaged, not a run with 7 epochs to go. */
static const key KEYS[] = {
    CFG("epochs", K_INT, epochs, 1, INT_MAX),
    CFG("batch", K_INT, batch, 1, INT_MAX),
    CFG("seed", K_U64, seed, 0, 0),
    CFG("lr", K_FLOAT, optim.lr, 0, 0),
    CFG("schedule", K_SCHEDULE, schedule, 0, 0),
    CFG("warmup", K_INT, warmup, 0, INT_MAX),
    CFG("step_size", K_INT, step_size, 0, INT_MAX),
    CFG("gamma", K_FLOAT, gamma, 0, 0),
    CFG("min_lr", K_FLOAT, min_lr, 0, 0),
    CFG("clip", K_FLOAT, clip, 0, 0),
    CFG("label_smoothing", K_FLOAT, label_smoothing, 0, 0),
    CFG("mixup", K_FLOAT, mixup, 0, 0),
    CFG("cutmix", K_FLOAT, cutmix, 0, 0),
    CFG("loss", K_LOSS, loss, 0, 0),
    CFG("augment", K_AUGMENT, augment, 0, 0),
    CFG("alternate_flips", K_INT, alternate_flips, 0, 1),
    CFG("normalize", K_INT, normalize, 0, 1),
    CFG("blur", K_FLOAT, blur, 0, 0),
    CFG("sobel", K_INT, sobel, 0, 1),
    CFG("tta", K_INT, tta, 0, 1),
    CFG("tta_shift", K_INT, tta_shift, 0, INT_MAX),
    CFG("tta_diagonal", K_INT, tta_diagonal, 0, 1),
    CFG("patience", K_INT, patience, 0, INT_MAX),
    CFG("sync_bn", K_INT, sync_bn, 0, 1),
    CFG("micro_batch", K_INT, micro_batch, 0, INT_MAX),
    POS("epoch", K_INT, epoch, 0, INT_MAX),
    POS("step", K_INT, step, 0, INT_MAX),
    POS("sum_loss", K_DOUBLE, sum_loss, 0, 0),
    POS("correct", K_I64, correct, 0, INT64_MAX),
    POS("counted", K_I64, counted, 0, INT64_MAX),
    POS("best_metric", K_DOUBLE, best_metric, 0, 0),
    POS("has_best", K_INT, has_best, 0, 1),
    POS("bad_epochs", K_INT, bad_epochs, 0, INT_MAX),
    POS("done", K_INT, done, 0, 1),
    POS("plan", K_PLAN, plan, 0, 0),
};
#define N_KEYS (sizeof KEYS / sizeof KEYS[0])


static void *field(cnn_trainer *tr, const key *k) {
    return (char *)(k->in_trainer ? (void *)tr : (void *)&tr->cfg) + k->off;
}

static void write_key(text *t, cnn_trainer *tr, const key *k) {
    void *p = field(tr, k);
    char aug[512];
    add(t, "train.%s=", k->name);
    switch (k->kind) {
    case K_INT:
        add(t, "%d\n", *(int *)p);
        break;
    case K_U64:
        add(t, "%" PRIu64 "\n", *(uint64_t *)p);
        break;
    case K_I64:
        add(t, "%" PRId64 "\n", *(int64_t *)p);
        break;
    case K_FLOAT:
        add(t, "%a\n", (double)*(float *)p);
        break;
    case K_DOUBLE:
        add(t, "%a\n", *(double *)p);
        break;
    case K_SCHEDULE:
        add(t, "%s\n", cnn_schedule_name(*(cnn_schedule_kind *)p));
        break;
    case K_LOSS:
        add(t, "%s\n", cnn_loss_name(*(cnn_loss *)p));
        break;
    case K_AUGMENT:
        cnn_augment_format(p, aug, sizeof aug);
        add(t, "%s\n", aug);
        break;
    case K_PLAN: {
        size_t n = cnn_plan_format(p, NULL, 0) + 1;
        char *plan = cnn_alloc(n);
        if (!plan) {
            t->failed = 1;
            break;
        }
        cnn_plan_format(p, plan, n);
        add(t, "%s\n", plan);
        cnn_free(plan);
        break;
    }
    }
}

/* The metadata of a checkpoint: the caller's text, then the trainer's lines. */
static char *state_text(cnn_trainer *tr) {
    text t = {0};
    if (tr->meta && *tr->meta)
        add(&t, "%s%s", tr->meta, tr->meta[strlen(tr->meta) - 1] == '\n' ? "" : "\n");
    add(&t, "train.version=1\n");
    for (size_t i = 0; i < N_KEYS; i++) write_key(&t, tr, &KEYS[i]);
    add(&t, "train.data=%d:%016" PRIx64 "\n", whole_n(tr->train), cnn_dataset_hash(tr->train));
    if (tr->val)
        add(&t, "train.val=%d:%016" PRIx64 "\n", whole_n(tr->val), cnn_dataset_hash(tr->val));
    int e = 0;
    for (const char *p = tr->log ? strchr(tr->log, '\n') : NULL; p && p[1]; e++) {
        const char *nl = strchr(p + 1, '\n');
        add(&t, "train.log.%d=%.*s\n", e + 1, (int)(nl ? nl - p - 1 : (long)strlen(p + 1)), p + 1);
        p = nl;
    }
    if (t.failed) {
        cnn_free(t.s);
        return NULL;
    }
    return t.s;
}

cnn_status cnn_trainer_save(cnn_trainer *tr, const char *path) {
    if (!path) path = tr->checkpoint;
    if (!path)
        return cnn_trainer_fail(tr, CNN_STATUS_INVALID_ARGUMENT, "no checkpoint path to save to");
    char *meta = state_text(tr);
    if (!meta)
        return cnn_trainer_fail(tr, CNN_STATUS_NO_MEMORY, "out of memory for the checkpoint");
    char err[1024];
    /* The checkpoint takes the network with the weights trained (it stores the average). */
    if (tr->averaged) cnn_optim_swap_ema(tr->opt);
    cnn_status st = cnn_checkpoint_save(path, tr->net, tr->opt, meta, err, sizeof err);
    if (tr->averaged) cnn_optim_swap_ema(tr->opt);
    cnn_free(meta);
    return st ? cnn_trainer_fail(tr, st, "%s", err) : CNN_STATUS_OK;
}

/* ---------------------------------------------------------------------------------------------
 * Reading the text back
 * ------------------------------------------------------------------------------------------- */

/* v as a decimal integer in [min, max], strictly: digits only (no sign, blank or "0x"), no
 * overflow, nothing after. */
static int parse_count(const char *v, uint64_t min, uint64_t max, uint64_t *out) {
    if (*v < '0' || *v > '9') return 0;
    char *end;
    errno = 0;
    unsigned long long x = strtoull(v, &end, 10);
    if (*end || errno || x < min || x > max) return 0;
    *out = x;
    return 1;
}

/* Floats as written (%a), or in decimal; never NaN, nor a decimal too large for a double
 * (infinity itself is best_metric's start). */
static int parse_real(const char *v, double *out) {
    char *end;
    errno = 0;
    double x = strtod(v, &end);
    if (end == v || *end || isnan(x) || (errno == ERANGE && isinf(x))) return 0;
    *out = x;
    return 1;
}

/* Reads v into the field of k; 0 when it is not a valid value (the caller says which, with
 * `why` when it holds more than "expected ..."). */
static int parse_value(cnn_trainer *tr, const key *k, const char *v, char *why, size_t size) {
    void *p = field(tr, k);
    uint64_t u;
    double d;
    switch (k->kind) {
    case K_INT:
        return parse_count(v, (uint64_t)k->min, (uint64_t)k->max, &u) ? (*(int *)p = (int)u, 1) : 0;
    case K_U64: return parse_count(v, 0, UINT64_MAX, (uint64_t *)p);
    case K_I64:
        return parse_count(v, (uint64_t)k->min, (uint64_t)k->max, &u) ? (*(int64_t *)p = (int64_t)u, 1)
                                                                   : 0;
    case K_FLOAT:
        return parse_real(v, &d) && (isinf(d) || fabs(d) <= FLT_MAX) ? (*(float *)p = (float)d, 1)
                                                                    : 0;
    case K_DOUBLE: return parse_real(v, (double *)p);
    case K_SCHEDULE: {
        int kind = cnn_schedule_parse(v);
        return kind < 0 ? 0 : (*(cnn_schedule_kind *)p = (cnn_schedule_kind)kind, 1);
    }
    case K_LOSS: {
        int l = cnn_loss_parse(v);
        return l < 0 ? 0 : (*(cnn_loss *)p = (cnn_loss)l, 1);
    }
    case K_AUGMENT: {
        char err[256];
        return cnn_augment_parse(v, p, err, sizeof err) == CNN_STATUS_OK;
    }
    case K_PLAN: {
        cnn_plan plan;
        if (cnn_plan_parse(v, &plan, why, size)) return 0;
        cnn_plan_free(p);
        *(cnn_plan *)p = plan;
        return 1;
    }
    }
    return 0;
}

/* What a valid value of k looks like, for the message that refuses one. */
static void expected(const key *k, char *buf, size_t size) {
    switch (k->kind) {
    case K_INT:
    case K_I64:
        snprintf(buf, size, "an integer from %d to %" PRId64, k->min, k->max);
        break;
    case K_U64: snprintf(buf, size, "an integer from 0 to %" PRIu64, UINT64_MAX); break;
    case K_FLOAT:
    case K_DOUBLE: snprintf(buf, size, "a number"); break;
    case K_SCHEDULE: snprintf(buf, size, "constant, step or cosine"); break;
    case K_LOSS: snprintf(buf, size, "a loss name"); break;
    case K_AUGMENT: snprintf(buf, size, "augmentations as cnn train --augment takes them"); break;
    case K_PLAN: snprintf(buf, size, "a plan such as '58 3:57 5:55 53.214:stop'"); break;
    }
}

/* Applies the line "train.NAME=VALUE" (line ends at len) to tr. Lines of the log and the data
 * identity are taken elsewhere; unknown names are an error (a newer writer). */
static cnn_status apply_line(cnn_trainer *tr, const char *line, const char *path) {
    const char *eq = strchr(line, '=');
    const char *name = line + 6; /* after "train." */
    if (!strncmp(name, "log.", 4) || !strncmp(name, "data=", 5) || !strncmp(name, "val=", 4) ||
        !strncmp(name, "version=", 8))
        return CNN_STATUS_OK;
    for (size_t i = 0; eq && i < N_KEYS; i++)
        if (strlen(KEYS[i].name) == (size_t)(eq - name) &&
            !strncmp(name, KEYS[i].name, (size_t)(eq - name))) {
            char why[512] = "", want[128];
            if (parse_value(tr, &KEYS[i], eq + 1, why, sizeof why)) return CNN_STATUS_OK;
            expected(&KEYS[i], want, sizeof want);
            return cnn_trainer_fail(tr, CNN_STATUS_FORMAT,
                                    "%s: damaged training state: train.%s is '%s'%s%s", path,
                                    KEYS[i].name, eq + 1, *why ? ": " : ", expected ",
                                    *why ? why : want);
        }
    return cnn_trainer_fail(tr, CNN_STATUS_FORMAT, "%s: unknown line in its training state: %s",
                            path, line);
}

/* Splits the metadata: the trainer's lines are applied, the log rebuilt, the others kept as
 * the caller's text. *data and *val receive the data identity lines' values. */
static cnn_status read_state(cnn_trainer *tr, char *meta, const char *path, char *data, char *val,
                             size_t size) {
    text caller = {0}, log = {0};
    int version = 0;
    cnn_status st = CNN_STATUS_OK;
    add(&log, "%s", CNN_TRAIN_LOG_HEADER);
    for (char *line = meta, *next; line && *line && !st; line = next) {
        next = strchr(line, '\n');
        if (next) *next++ = 0;
        if (strncmp(line, "train.", 6) != 0) {
            add(&caller, "%s\n", line);
            continue;
        }
        version |= !strcmp(line, "train.version=1");
        if (!strncmp(line, "train.log.", 10) && strchr(line, '='))
            add(&log, "%s\n", strchr(line, '=') + 1);
        if (!strncmp(line, "train.data=", 11)) snprintf(data, size, "%s", line + 11);
        if (!strncmp(line, "train.val=", 10)) snprintf(val, size, "%s", line + 10);
        st = apply_line(tr, line, path);
    }
    if (!st && !version)
        st = cnn_trainer_fail(
            tr, CNN_STATUS_FORMAT,
            "%s: holds no training state of this version (written by an older cnn train or "
            "another program): it loads for evaluation and prediction, but its run cannot "
            "be resumed",
            path);
    if (!st && (caller.failed || log.failed))
        st = cnn_trainer_fail(tr, CNN_STATUS_NO_MEMORY, "out of memory");
    if (!st) {
        cnn_free(tr->meta);
        tr->meta = caller.s;
        tr->log = log.s;
        tr->log_len = log.len;
        tr->log_cap = log.cap;
        caller.s = log.s = NULL;
    }
    cnn_free(caller.s);
    cnn_free(log.s);
    return st;
}

/* The data set given for a resumed run must be the run's: "N:HASH" as saved. */
static cnn_status same_data(cnn_trainer *tr, const char *what, const char *saved,
                            const cnn_dataset *ds) {
    char now_id[64];
    if (!ds && !*saved) return CNN_STATUS_OK;
    if (ds) snprintf(now_id, sizeof now_id, "%d:%016" PRIx64, whole_n(ds), cnn_dataset_hash(ds));
    if (ds && !strcmp(now_id, saved)) return CNN_STATUS_OK;
    return cnn_trainer_fail(
        tr, CNN_STATUS_INVALID_ARGUMENT,
        "the %s set is not the run's: the run had %s, this one %s (samples:hash of "
        "the labels); give the run's data and --val",
        what, *saved ? saved : "none", ds ? now_id : "none");
}

cnn_status cnn_trainer_resume_state(cnn_trainer *tr, const char *path, char *meta, int epochs) {
    char data[64] = "", val[64] = "";
    tr->plan.recorded = 0; /* until a train.plan line says otherwise */
    cnn_status st = read_state(tr, meta, path, data, val, sizeof data);
    if (!st) st = same_data(tr, "training", data, tr->train);
    if (!st) st = same_data(tr, "validation", val, tr->val);
    if (!st) st = cnn_trainer_plan_resume(tr, path, epochs);
    if (st) return st;
    tr->cfg.meta = tr->meta;
    if (tr->epoch >= tr->cfg.epochs || tr->done)
        return cnn_trainer_fail(
            tr, CNN_STATUS_INVALID_ARGUMENT,
            "%s has done %d epochs already%s; ask for more with the epoch count", path, tr->epoch,
            tr->done && tr->epoch < tr->cfg.epochs ? " (stopped early)" : "");
    return CNN_STATUS_OK;
}

cnn_status cnn_trainer_write_log(const cnn_trainer *tr, const char *path, char *err,
                                 size_t errlen) {
    const char *csv = cnn_trainer_log_csv(tr);
    return cnn_write_file_atomic(path, csv, strlen(csv), err, errlen);
}

/* ---------------------------------------------------------------------------------------------
 * Another run's settings: a replay's check
 * ------------------------------------------------------------------------------------------- */

/* The optimiser's settings that the trainer's keys do not hold (its rate is train.lr). */
static int same_optimiser(const cnn_optim_config *a, const cnn_optim_config *b) {
    return a->kind == b->kind && a->momentum == b->momentum && a->nesterov == b->nesterov &&
           a->beta1 == b->beta1 && a->beta2 == b->beta2 && a->eps == b->eps &&
           a->weight_decay == b->weight_decay && a->ema == b->ema;
}

static void optimiser_text(const cnn_optim_config *o, char *buf, size_t size) {
    static const char *const kinds[] = {"SGD", "Adam", "AdamW"};
    snprintf(buf, size, "%s, momentum %g%s, betas %g %g, eps %g, weight decay %g, ema %g",
             o->kind <= CNN_OPTIM_ADAMW ? kinds[o->kind] : "?", (double)o->momentum,
             o->nesterov ? " (Nesterov)" : "", (double)o->beta1, (double)o->beta2,
             (double)o->eps, (double)o->weight_decay, (double)o->ema);
}

cnn_status cnn_trainer_same_run(cnn_trainer *tr, const char *path, char *meta,
                                const cnn_net *net, const cnn_optim *opt) {
    text mine = {0};
    char theirs[600], data[64] = "", val[64] = "";
    cnn_status st = CNN_STATUS_OK;
    /* Every setting but the epochs, which the plan gives. */
    for (size_t i = 0; i < N_KEYS && !st; i++) {
        const key *k = &KEYS[i];
        if (k->in_trainer || !strcmp(k->name, "epochs")) continue;
        mine.len = 0;
        write_key(&mine, tr, k);
        if (mine.failed) return cnn_trainer_fail(tr, CNN_STATUS_NO_MEMORY, "out of memory");
        char name[64];
        snprintf(name, sizeof name, "train.%s", k->name);
        const char *value = mine.s + strlen(name) + 1;
        size_t vlen = strlen(value) - 1; /* without its newline */
        long n = cnn_meta_get(meta, name, theirs, sizeof theirs);
        if (n < 0 || (size_t)n != vlen || strncmp(theirs, value, vlen))
            st = cnn_trainer_fail(tr, CNN_STATUS_INVALID_ARGUMENT,
                                  "%s: not this run's settings: its %s is %s, this run's %.*s; "
                                  "a replay needs the same settings",
                                  path, name, n < 0 ? "not recorded" : theirs, (int)vlen, value);
    }
    cnn_free(mine.s);
    if (st) return st;
    if (!opt)
        return cnn_trainer_fail(tr, CNN_STATUS_FORMAT,
                                "%s: holds no optimiser state: no trainer's run", path);
    cnn_optim_config o = cnn_optim_get_config(opt);
    if (!same_optimiser(&o, &tr->cfg.optim)) {
        char a[256], b[256];
        optimiser_text(&o, a, sizeof a);
        optimiser_text(&tr->cfg.optim, b, sizeof b);
        return cnn_trainer_fail(tr, CNN_STATUS_INVALID_ARGUMENT,
                                "%s: not this run's optimiser: the run's was %s; this one is %s",
                                path, a, b);
    }
    const cnn_net *mine_net = tr->net;
    if (net->n_nodes != mine_net->n_nodes || net->n_params != mine_net->n_params ||
        net->n_state != mine_net->n_state)
        return cnn_trainer_fail(tr, CNN_STATUS_INVALID_ARGUMENT,
                                "%s: not this run's network: it has %d layers, %zu parameters "
                                "and %zu state values, this one %d, %zu and %zu",
                                path, net->n_nodes, net->n_params, net->n_state,
                                mine_net->n_nodes, mine_net->n_params, mine_net->n_state);
    cnn_meta_get(meta, "train.data", data, sizeof data);
    cnn_meta_get(meta, "train.val", val, sizeof val);
    st = same_data(tr, "training", data, tr->train);
    if (!st) st = same_data(tr, "validation", val, tr->val);
    return st ? cnn_trainer_fail_in(tr, st, path) : st;
}

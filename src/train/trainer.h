/*
 * trainer.h - the trainer's state, shared by trainer.c (setting up, steps) and
 * trainer_state.c (the end of an epoch, the log, checkpoints and resuming).
 */
#ifndef CNN_TRAINER_H
#define CNN_TRAINER_H

#include "../core/internal.h"

#include <signal.h>

#define CNN_TRAIN_LOG_HEADER "epoch,train_loss,train_acc,val_loss,val_acc,lr,seconds\n"

/* Micro-batches (trainer_micro.c, cnn_train_config.micro_batch): each step's `local` samples
 * cut into `count` parts of `size` (the last may hold fewer), each run forward and backward by
 * one thread in a replica of the network; count 1: whole-batch passes, the layers split over
 * the threads. */
typedef struct cnn_micro {
    int count, size;
    cnn_net **nets;     /* each micro-batch's replica */
    float *grads;       /* micro-batches 1 to count-1's gradients, n_params floats each (0's
                         * are the network's own) */
    double *total;      /* each micro-batch's sum of losses, */
    int64_t *correct;   /* correct predictions */
    cnn_status *st;     /* and status in the last step */
} cnn_micro;

/* The run's plan (trainer_plan.c): the epochs it set out to train, then each change of that
 * count (a time budget's refit, or a resumed run's new count) with the position it took
 * effect at (epochs done, and steps done in the next epoch), in order; and where a time
 * budget stopped the run (stop_epoch epochs and stop_step steps done; stopped 0: it did
 * not). Its text: "58 3:57 5:55 12.40:60 53.214:stop". */
typedef struct cnn_plan_change {
    int epoch, step, epochs;
} cnn_plan_change;

typedef struct cnn_plan {
    int first;
    cnn_plan_change *changes;
    int n, cap;
    int stopped, stop_epoch, stop_step;
    int recorded; /* 0: a checkpoint from before plans were kept (its epochs stand in) */
} cnn_plan;

struct cnn_trainer {
    cnn_net *net;
    int owns_net; /* resumed runs load their own network */
    cnn_optim *opt;
    const cnn_dataset *train, *val;
    cnn_train_config cfg; /* its strings point to the copies below */
    char *checkpoint, *best, *meta;
    cnn_schedule sched;
    int score; /* the layer the loss reads */
    int steps; /* per epoch */
    /* The position: epochs done, steps done in the current epoch, and its sums so far. */
    int epoch, step;
    double sum_loss;
    int64_t correct, counted;
    double train_secs, epoch_start; /* seconds of training steps this epoch; its start */
    double comm_secs; /* of train_secs, in the sums over the ranks */
    /* Validation history: the best result so far and epochs since it. */
    double best_metric;
    int has_best, bad_epochs;
    int done, stopped;
    volatile sig_atomic_t stop_req;
    int stop_agreed; /* data parallel: some rank asked to stop by the last step */
    /* A time budget (trainer_budget.c): when to stop at the latest (0: never), whether that
     * stopped the run, and the epoch's measured seconds. */
    double deadline, budget_epoch;
    int out_of_time;
    /* The epochs are refitted after each epoch to the pace since budget_begin (the run's
     * first step) (on by default with a budget); refit_from: the epochs planned before the
     * last change (0: none). */
    int budget_refit, refit_from;
    double budget_begin, budget; /* budget: its seconds */
    /* The plan so far; follow: the epochs change as the plan says, not with the pace (a
     * replay, or a resumed run: the changes after its position are a replay's). */
    cnn_plan plan;
    int follow;
    int averaged; /* the network holds the average of the weights (cfg.optim.ema), not them */
    /* Batches: the epoch's permutation (of epoch perm_epoch), images, integer targets (labels
     * or masks), float targets, augmentation scratch (+ a mask plane), the loss gradient. */
    int32_t *perm;
    int perm_epoch;
    /* A sharded training set (trainer_shard.c): the whole set's permutation, and where each
     * of its samples is in this rank's shard (-1: another rank's). */
    int32_t *whole_perm, *local_of;
    /* This process's share of each batch: `local` samples from sample `first` of it (the whole
     * batch without cfg.comm), and the buffer the ranks sum: gradients, state, then the step's
     * loss, correct and counted predictions, and stop requests. */
    int local, first;
    float *sums;
    int synced; /* sync_bn installed the sum over the ranks in the network */
    /* Buckets (cfg.bucket_bytes, a comm that can start sums): gradients from pending_end on
     * have been sent during this backward pass; the first failure to start one. */
    int bucketing;
    size_t pending_end;
    cnn_status bucket_status;
    cnn_micro micro;
    float *x, *scratch, *ft, *dz;
    /* The augmentation's scratch of each of scratch_threads threads, scratch_stride bytes
     * apart (whole pages: no line shared). */
    size_t scratch_stride;
    int scratch_threads;
    int32_t *it;
    /* With mixup or CutMix (cfg.mixup, cfg.cutmix): each sample's partner's label and the
     * weight of its own (cnn_mix_batch), else NULL. */
    int32_t *it_b;
    float *mix;
    char *log; /* CSV, header included */
    size_t log_len, log_cap;
    cnn_train_progress last;
    char err[1024];
};

/* Seconds on a monotonic clock; sets tr's message (printf-style) and returns st. */
double cnn_trainer_now(void);
cnn_status cnn_trainer_fail(cnn_trainer *tr, cnn_status st, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* Puts "path: " in front of tr's message (a failure about the file at path) and returns st. */
cnn_status cnn_trainer_fail_in(cnn_trainer *tr, cnn_status st, const char *path);

/* The loss of samples [first, first + count) of the step, whose score-layer outputs are
 * scores: the sum of their losses into *total, their part of the gradient of the step's mean
 * loss into dz (the bits a call over the whole batch gives them), and their correct
 * predictions (samples, or pixels for segmentation; none for regression) into *correct. */
cnn_status cnn_trainer_part_loss(cnn_trainer *tr, int first, int count, const float *scores,
                                 double *total, int64_t *correct);

/* Micro-batches (trainer_micro.c). Setup, once the network is prepared and the score layer
 * known: the size from the configuration (0: automatic), the replicas when there are several;
 * an error when the network needs whole batches and the configuration asks for more than
 * one. */
cnn_status cnn_trainer_micro_setup(cnn_trainer *tr);
void cnn_trainer_micro_free(cnn_micro *m);
/* Forward, loss and backward of the step's samples (tr->x) over the micro-batches: the
 * network's gradients hold the batch's, *total the sum of the micro-batches' losses (in
 * micro-batch order), *correct their correct predictions. */
cnn_status cnn_trainer_micro_pass(cnn_trainer *tr, double *total, int64_t *correct);
/* cnn_net_find_nonfinite over the micro-batches' replicas: 1 with a message naming the layer,
 * the micro-batch and its samples, or 0. */
int cnn_trainer_micro_nonfinite(cnn_trainer *tr, char *msg, size_t size);

/* The end of an epoch: validation, the log line, the best result, patience, checkpoints and
 * the epoch callback (trainer_state.c). */
cnn_status cnn_trainer_end_epoch(cnn_trainer *tr);

/* With an average of the weights (cfg.optim.ema), puts it in the network for good: the run
 * has ended (complete or stopped), and whoever uses the network now wants the average. */
void cnn_trainer_use_average(cnn_trainer *tr);

/* The position at the start of an epoch: no step yet, its sums and timings zero. */
void cnn_trainer_clear_epoch(cnn_trainer *tr);

/* After an epoch of a budgeted run: its epochs cut to those that fit when behind, more when
 * ahead, the schedule refitted (trainer_budget.c). */
cnn_status cnn_trainer_refit_budget(cnn_trainer *tr);

/* The plan (trainer_plan.c). Records cfg.epochs as the count from the current position on
 * (after a refit, or a resumed run's new count). */
cnn_status cnn_trainer_plan_change(cnn_trainer *tr);
/* Records that the time budget stopped the run at its current position. */
void cnn_trainer_plan_stop(cnn_trainer *tr);
/* A run that follows its plan, at a position where the plan changes the epochs: the change
 * made (the schedule refitted); where the plan stops the run: the stop asked for, as the
 * budget's (out of time). Called before each step and after each epoch. */
void cnn_trainer_plan_follow(cnn_trainer *tr);
/* The plan as text (snprintf's contract: the length it needs). */
size_t cnn_plan_format(const cnn_plan *p, char *buf, size_t size);
/* Text into *p (which it owns, to cnn_plan_free): CNN_STATUS_FORMAT with what is wrong in why
 * (the token named) when it is not a plan. */
cnn_status cnn_plan_parse(const char *text, cnn_plan *p, char *why, size_t size);
void cnn_plan_free(cnn_plan *p);
/* The positions of tr's plan fall inside its epochs (tr->steps): a message starting with
 * `what` if not. */
cnn_status cnn_trainer_plan_check(cnn_trainer *tr, const char *what);
/* A resumed run's plan, after its position and epochs are read from path (epochs > 0: the
 * count asked for): checked against them, a stop it has reached dropped (the run goes on), a
 * new count replacing the plan from the position on; the run then follows it. */
cnn_status cnn_trainer_plan_resume(cnn_trainer *tr, const char *path, int epochs);

/* Whether the run saved at `path` (its checkpoint's metadata `meta`, network and optimiser)
 * had this new trainer's settings, data and network: a message naming the first difference
 * if not (trainer_state.c). */
cnn_status cnn_trainer_same_run(cnn_trainer *tr, const char *path, char *meta,
                                const cnn_net *net, const cnn_optim *opt);

/* The learning-rate schedule from the configuration and the steps per epoch. */
void cnn_trainer_set_schedule(cnn_trainer *tr);

/* Sharded data (trainer_shard.c). The check of the configuration: a sharded training or
 * validation set needs the other ranks (c->comm with allreduce_sum_f64). */
cnn_status cnn_trainer_shard_check(cnn_trainer *tr, const cnn_train_config *c,
                                   const cnn_dataset *train, const cnn_dataset *val);
/* Setup: checks that the shards make up the whole set, shortens the epoch to the
 * steps the smallest shard fills, allocates the permutations. */
cnn_status cnn_trainer_shard_setup(cnn_trainer *tr);
/* The epoch's order of this rank's samples (tr->perm) from the whole set's permutation. */
void cnn_trainer_shard_order(cnn_trainer *tr, uint64_t seed);
/* Sums n doubles over the ranks, in place (the normalisation's statistics). */
cnn_status cnn_trainer_shard_stats(cnn_trainer *tr, double *sums, size_t n);
/* A sharded validation set's metrics made the whole set's. */
cnn_status cnn_trainer_shard_metrics(cnn_trainer *tr, cnn_metrics *m);

/* A resumed run's settings, position, log and caller's text from the checkpoint's metadata
 * (modified in place), the data checked against the run's, epochs > 0 the new epoch count. */
cnn_status cnn_trainer_resume_state(cnn_trainer *tr, const char *path, char *meta, int epochs);

#endif

/*
 * trainer.c - a whole training run as a library service (cnn.h, "The trainer").
 *
 * One step: the learning rate of the schedule at this global step; a batch of the epoch's
 * permutation, each sample augmented (random, training only) then preprocessed (the network's
 * deterministic transforms and normalisation, as at evaluation and inference); forward; the
 * loss on the score layer (a final softmax's input for cross-entropy); backward; clipping; a
 * check that the gradient is finite; the optimiser's step. The end of the last step of an
 * epoch validates, logs, keeps the best, counts patience and writes the checkpoint.
 *
 * Reproducibility: every random choice is a function of (seed, epoch, sample) or of the
 * network's generator, which the checkpoint keeps with the optimiser, the position (epoch and
 * step) and the epoch's running sums, so that a resumed run continues bit for bit.
 *
 * The checkpoint's metadata is the caller's text followed by the trainer's lines, each
 * "train.KEY=VALUE" (floats as C99 hex, exact): the settings, the position and the log.
 */
#include "../core/internal.h"
#include "../data/augment.h"
#include "../data/data.h"
#include "trainer.h"

#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

double cnn_trainer_now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

cnn_status cnn_trainer_fail(cnn_trainer *tr, cnn_status st, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(tr->err, sizeof tr->err, fmt, ap);
    va_end(ap);
    return st;
}

cnn_status cnn_trainer_fail_in(cnn_trainer *tr, cnn_status st, const char *path) {
    char msg[sizeof tr->err];
    snprintf(msg, sizeof msg, "%s", tr->err);
    return cnn_trainer_fail(tr, st, "%s: %s", path, msg);
}

cnn_train_config cnn_train_defaults(void) {
    cnn_train_config c = {.epochs = 10,
                          .batch = 64,
                          .seed = 1,
                          .threads = 0,
                          .optim = cnn_optim_defaults(CNN_OPTIM_ADAMW, 0.002f),
                          .schedule = CNN_SCHEDULE_COSINE,
                          .gamma = 0.1f,
                          .loss = CNN_LOSS_SOFTMAX_CE,
                          .normalize = 1,
                          .bucket_bytes = (size_t)1 << 20};
    c.optim.weight_decay = 0.05f;
    c.augment.hflip = 0.5f;
    return c;
}

/* ---------------------------------------------------------------------------------------------
 * Checking a configuration against the network and the data
 * ------------------------------------------------------------------------------------------- */

/* The samples of a batch this process (rank) takes; whether samples are mixed in pairs. */
static int local_batch(const cnn_train_config *c) {
    return c->comm ? c->batch / c->comm->size : c->batch;
}
static int mixes(const cnn_train_config *c) { return c->mixup > 0 || c->cutmix > 0; }

static cnn_status check_numbers(cnn_trainer *tr, const cnn_train_config *c) {
    const cnn_optim_config *o = &c->optim;
    const cnn_train_comm *m = c->comm;
    if (c->epochs < 1 || c->batch < 1 || c->threads < 0 || c->threads > 1024 ||
        c->micro_batch < 0)
        return cnn_trainer_fail(
            tr, CNN_STATUS_INVALID_ARGUMENT,
            "epochs %d, batch %d, threads %d, micro-batch %d: epochs and batch must be at "
            "least 1, threads 0 (all) to 1024, the micro-batch 0 (automatic) or more",
            c->epochs, c->batch, c->threads, c->micro_batch);
    if (!(o->lr > 0) || !isfinite(o->lr))
        return cnn_trainer_fail(tr, CNN_STATUS_INVALID_ARGUMENT,
                                "learning rate %g: it must be above 0", (double)o->lr);
    if (!(c->clip >= 0) || !(c->label_smoothing >= 0 && c->label_smoothing < 1) ||
        !(c->min_lr >= 0) || !(c->gamma > 0) || c->warmup < 0 || c->step_size < 0 ||
        c->patience < 0 || !(c->blur >= 0))
        return cnn_trainer_fail(
            tr, CNN_STATUS_INVALID_ARGUMENT,
            "a setting is out of range: clip %g (>= 0), label smoothing %g ([0, 1)), "
            "min lr %g (>= 0), gamma %g (> 0), warm-up %d, step size %d, patience %d "
            "(>= 0), blur %g (>= 0)",
            (double)c->clip, (double)c->label_smoothing, (double)c->min_lr, (double)c->gamma,
            c->warmup, c->step_size, c->patience, (double)c->blur);
    if (c->label_smoothing > 0 && c->loss != CNN_LOSS_SOFTMAX_CE && c->loss != CNN_LOSS_PIXEL_CE)
        return cnn_trainer_fail(tr, CNN_STATUS_INVALID_ARGUMENT,
                                "label smoothing applies to cross-entropy, "
                                "not to %s",
                                cnn_loss_name(c->loss));
    if (m && (m->size < 1 || m->rank < 0 || m->rank >= m->size || !m->allreduce_sum ||
              c->batch % m->size || (c->sync_bn && !m->allreduce_sum_f64)))
        return cnn_trainer_fail(tr, CNN_STATUS_INVALID_ARGUMENT,
                                "data parallel: rank %d of %d, batch %d: the batch must be a "
                                "multiple of the number of ranks, and the sum functions given",
                                m->rank, m->size, c->batch);
    if (!(c->mixup >= 0 && c->mixup < INFINITY) || !(c->cutmix >= 0 && c->cutmix < INFINITY))
        return cnn_trainer_fail(tr, CNN_STATUS_INVALID_ARGUMENT,
                                "mixup %g, cutmix %g: each must be 0 (off) or above, finite",
                                (double)c->mixup, (double)c->cutmix);
    if (mixes(c) && c->loss != CNN_LOSS_SOFTMAX_CE)
        return cnn_trainer_fail(tr, CNN_STATUS_INVALID_ARGUMENT,
                                "mixup and CutMix give each sample two labels: they need "
                                "classification (loss %s), not loss %s",
                                cnn_loss_name(CNN_LOSS_SOFTMAX_CE), cnn_loss_name(c->loss));
    if (mixes(c) && local_batch(c) % 2)
        return cnn_trainer_fail(tr, CNN_STATUS_INVALID_ARGUMENT,
                                "mixup and CutMix mix the samples of a batch in pairs: they need "
                                "an even batch%s, not %d",
                                m && m->size > 1 ? " on each rank" : "", local_batch(c));
    if (c->alternate_flips && (c->alternate_flips != 1 || c->augment.hflip != 0.5f))
        return cnn_trainer_fail(tr, CNN_STATUS_INVALID_ARGUMENT,
                                "alternate flips %d, augmentation's flip probability %g: "
                                "alternate flips (0 or 1) mirror each image in every other "
                                "epoch, half of the time, in place of the flips' draws: they "
                                "need the flip probability 0.5",
                                c->alternate_flips, (double)c->augment.hflip);
    if (c->augment.blur > 0 || c->augment.sobel)
        return cnn_trainer_fail(
            tr, CNN_STATUS_INVALID_ARGUMENT,
            "blur and sobel are deterministic transforms, not augmentations: set them as "
            "preprocessing (cnn_train_config.blur, .sobel; cnn train --preprocess), so "
            "that evaluation and prediction apply them too");
    return CNN_STATUS_OK;
}

/* Geometric augmentations that move pixels exactly can follow the image in its mask. */
static cnn_status check_task(cnn_trainer *tr, const cnn_train_config *c, const cnn_dataset *ds) {
    cnn_task task = cnn_loss_task(c->loss);
    static const char *const need[] = {"labels (a classification data set)",
                                       "masks (a segmentation data set)",
                                       "float targets (a regression data set)"};
    int has = task == CNN_TASK_CLASSIFICATION ? ds->y != NULL
              : task == CNN_TASK_SEGMENTATION ? ds->masks != NULL
                                              : ds->targets != NULL;
    if (!has)
        return cnn_trainer_fail(tr, CNN_STATUS_INVALID_ARGUMENT,
                                "loss %s needs %s; the data set has none", cnn_loss_name(c->loss),
                                need[task]);
    if (task == CNN_TASK_SEGMENTATION && (c->augment.crop_scale > 0 || c->augment.rotate > 0))
        return cnn_trainer_fail(
            tr, CNN_STATUS_INVALID_ARGUMENT,
            "segmentation: resized-crop and rotate interpolate, which would blend class "
            "numbers in the masks; use hflip, vflip, crop, rot90 or translate");
    if (ds->shape.rank != 3 && (c->blur > 0 || c->sobel || c->augment.rotate > 0 || c->cutmix > 0))
        return cnn_trainer_fail(tr, CNN_STATUS_INVALID_ARGUMENT,
                                "blur, sobel, rotate and CutMix need images (C, H, W)");
    return CNN_STATUS_OK;
}

static cnn_status check_data(cnn_trainer *tr, const cnn_train_config *c, const cnn_dataset *train,
                             const cnn_dataset *val) {
    cnn_status st = check_numbers(tr, c);
    if (!st) st = check_task(tr, c, train);
    if (!st) st = cnn_trainer_shard_check(tr, c, train, val);
    if (st) return st;
    int whole = train->ids ? train->n_whole : train->n;
    if (c->batch > whole)
        return cnn_trainer_fail(tr, CNN_STATUS_INVALID_ARGUMENT,
                                "batch %d is larger than the %d training samples", c->batch,
                                whole);
    if ((c->patience > 0 || c->best_checkpoint) && !val)
        return cnn_trainer_fail(tr, CNN_STATUS_INVALID_ARGUMENT,
                                "early stopping and the best checkpoint need a validation set");
    if (val && (val->shape.rank != train->shape.rank ||
                cnn_shape_numel(&val->shape) != cnn_shape_numel(&train->shape) ||
                val->classes != train->classes || val->n_targets != train->n_targets ||
                !val->y != !train->y || !val->masks != !train->masks))
        return cnn_trainer_fail(
            tr, CNN_STATUS_INVALID_ARGUMENT,
            "the validation set (%d classes, %d targets) does not match the training "
            "set (%d classes, %d targets) in shape or kind",
            val->classes, val->n_targets, train->classes, train->n_targets);
    return CNN_STATUS_OK;
}

/* ---------------------------------------------------------------------------------------------
 * Setting up (new and resumed runs alike)
 * ------------------------------------------------------------------------------------------- */

static int own_str(char **dst, const char *s) {
    cnn_free(*dst);
    *dst = NULL;
    if (!s) return 1;
    size_t n = strlen(s) + 1;
    if (!(*dst = cnn_alloc(n))) return 0;
    memcpy(*dst, s, n);
    return 1;
}

/* The layer the loss reads: a final softmax's input for cross-entropy, else the output. */
static int score_layer(const cnn_net *net, cnn_loss loss) {
    return loss == CNN_LOSS_MSE || loss == CNN_LOSS_BCE_LOGITS ? net->output
                                                               : cnn_net_score_layer(net);
}

/* The step's loss, correct and counted predictions (each as LIMBS numbers of LIMB_BITS bits,
 * whose float sums stay exact for up to 2^(24 - LIMB_BITS) ranks), and stop requests follow
 * the gradients in the ranks' sums. */
#define LIMBS 4
#define LIMB_BITS 12
#define SUM_EXTRA (2 + 2 * LIMBS)

/* Backward has finished layer `layer` and those after it: their gradients, from the layer's
 * parameters to the last not yet sent (pending_end), are final. Sent as a bucket once they
 * reach bucket_bytes, and at layer 0 whatever is left. */
static void bucket_ready(void *user, int layer) {
    cnn_trainer *tr = user;
    const cnn_train_comm *m = tr->cfg.comm;
    size_t from = tr->net->nodes[layer]->param_off;
    if (tr->bucket_status || tr->pending_end == from) return;
    if (layer > 0 && (tr->pending_end - from) * sizeof(float) < tr->cfg.bucket_bytes) return;
    tr->bucket_status = m->start_sum(m->user, tr->net->grads + from, tr->pending_end - from);
    tr->pending_end = from;
}

void cnn_trainer_set_schedule(cnn_trainer *tr) {
    const cnn_train_config *c = &tr->cfg;
    tr->sched = (cnn_schedule){.kind = c->schedule,
                               .gamma = c->gamma,
                               .min_lr = c->min_lr,
                               .warmup_steps = (int64_t)c->warmup * tr->steps,
                               .total_steps = (int64_t)c->epochs * tr->steps};
    int step_size = c->step_size ? c->step_size : (c->epochs / 3 > 0 ? c->epochs / 3 : 1);
    tr->sched.step_size = (int64_t)step_size * tr->steps;
}

static cnn_status setup(cnn_trainer *tr) {
    cnn_net *net = tr->net;
    const cnn_train_config *c = &tr->cfg;
    const cnn_dataset *ds = tr->train;
    int threads = c->threads ? c->threads : cnn_cpu_count();
    if (!c->threads && threads > 8) threads = 8;
    tr->local = local_batch(c);
    tr->first = c->comm ? c->comm->rank * tr->local : 0;
    if (c->comm && c->comm->size > 1 && c->sync_bn) {
        cnn_batch_sync sync = {.sum = c->comm->allreduce_sum_f64, .user = c->comm->user,
                               .ranks = c->comm->size};
        cnn_net_set_batch_sync(net, &sync);
        tr->synced = 1;
    }
    if (cnn_net_set_threads(net, threads) || cnn_net_prepare(net, tr->local))
        return cnn_trainer_fail(tr, CNN_STATUS_INVALID_ARGUMENT, "%s", cnn_net_last_error(net));
    cnn_status st = cnn_net_need_grads(net); /* the micro-batches and buckets point into them */
    if (st) return cnn_trainer_fail(tr, st, "%s", cnn_net_last_error(net));
    tr->score = score_layer(net, c->loss);
    st = cnn_trainer_micro_setup(tr);
    if (st) return st;
    /* Buckets go out as backward passes layers; micro-batches sum their gradients after all
     * of theirs, so they are sent in one sum then. */
    const cnn_train_comm *m = c->comm;
    tr->bucketing = m && m->size > 1 && m->start_sum && m->wait_sums && c->bucket_bytes > 0 &&
                    tr->micro.count == 1;
    if (tr->bucketing) cnn_net_set_backward_hook(net, bucket_ready, tr);
    int whole = ds->ids ? ds->n_whole : ds->n;
    tr->steps = whole / c->batch; /* the last partial batch is dropped (batch norm) */
    st = cnn_trainer_shard_setup(tr); /* a sharded epoch may be shorter */
    if (st) return st;
    cnn_trainer_set_schedule(tr);
    size_t numel = cnn_shape_numel(&ds->shape), pixels = numel / (size_t)ds->shape.dim[0];
    size_t out = cnn_shape_numel(&net->nodes[tr->score]->shape);
    tr->perm = cnn_alloc((size_t)ds->n * sizeof *tr->perm);
    tr->x = cnn_alloc((size_t)tr->local * numel * sizeof *tr->x);
    tr->scratch_stride = ((2 * numel + pixels) * sizeof(float) + 4095) / 4096 * 4096;
    tr->scratch_threads = threads;
    tr->scratch = cnn_alloc((size_t)threads * tr->scratch_stride);
    tr->it = cnn_alloc((size_t)tr->local * (ds->masks ? pixels : 1) * sizeof *tr->it);
    tr->ft = ds->targets ? cnn_alloc((size_t)tr->local * ds->n_targets * sizeof *tr->ft) : NULL;
    tr->dz = cnn_alloc((size_t)tr->local * out * sizeof *tr->dz);
    int mixing = mixes(c);
    if (mixing) {
        tr->it_b = cnn_alloc((size_t)tr->local * sizeof *tr->it_b);
        tr->mix = cnn_alloc((size_t)tr->local * sizeof *tr->mix);
    }
    tr->sums = c->comm ? cnn_alloc((net->n_params + net->n_state + SUM_EXTRA) * sizeof *tr->sums)
                       : NULL;
    if (!tr->perm || !tr->x || !tr->scratch || !tr->it || (ds->targets && !tr->ft) || !tr->dz ||
        (mixing && (!tr->it_b || !tr->mix)) ||
        (c->comm && !tr->sums))
        return cnn_trainer_fail(tr, CNN_STATUS_NO_MEMORY, "out of memory for batches of %d",
                                c->batch);
    tr->perm_epoch = -1;
    return CNN_STATUS_OK;
}

/* Sums over the training images of each channel's values and of their squares as the network
 * sees them before normalisation, after the blur or Sobel transform (one pass, in double). */
static int transformed_sums(const cnn_dataset *ds, const cnn_train_config *c, double *sum) {
    int C = ds->shape.dim[0];
    size_t numel = cnn_shape_numel(&ds->shape), plane = numel / (size_t)C;
    float *x = cnn_alloc(3 * numel * sizeof *x);
    cnn_preprocess t = {.blur = c->blur, .sobel = c->sobel}; /* no mean: not normalised */
    for (int i = 0; x && i < ds->n; i++) {
        cnn_dataset_sample(ds, i, x);
        cnn_prep_apply(&t, &ds->shape, x, 1, x + numel);
        for (int ch = 0; ch < C; ch++)
            for (size_t k = 0; k < plane; k++) {
                double v = x[(size_t)ch * plane + k];
                sum[ch] += v;
                sum[C + ch] += v * v;
            }
    }
    cnn_free(x);
    return x != NULL;
}

/* Per-channel mean and standard deviation of the training images as the network sees them
 * before normalisation. Untransformed, of one process: cnn_dataset_stats; of a shard, its two
 * passes summed over the ranks; transformed, from the sums of values and squares. */
static cnn_status input_stats(cnn_trainer *tr, float *mean, float *std) {
    const cnn_dataset *ds = tr->train;
    const cnn_train_config *c = &tr->cfg;
    int C = ds->shape.dim[0], transformed = c->blur > 0 || c->sobel;
    if (!transformed && !ds->ids) {
        cnn_dataset_stats(ds, mean, std);
        return CNN_STATUS_OK;
    }
    double *sum = cnn_calloc(3 * (size_t)C, sizeof *sum), *m = sum + 2 * C;
    if (!sum || (transformed && !transformed_sums(ds, c, sum))) {
        cnn_free(sum);
        return cnn_trainer_fail(tr, CNN_STATUS_NO_MEMORY, "out of memory");
    }
    size_t plane = cnn_shape_numel(&ds->shape) / (size_t)C;
    double count = (double)(ds->ids ? ds->n_whole : ds->n) * (double)plane;
    cnn_status st = CNN_STATUS_OK;
    if (transformed) {
        if (ds->ids) st = cnn_trainer_shard_stats(tr, sum, 2 * (size_t)C);
        for (int ch = 0; ch < C; ch++) {
            m[ch] = sum[ch] / count;
            sum[C + ch] = sum[C + ch] / count - m[ch] * m[ch]; /* the variance */
        }
    } else {
        for (int ch = 0; ch < C; ch++) sum[ch] = cnn_data_channel_sum(ds, ch, NULL);
        st = cnn_trainer_shard_stats(tr, sum, (size_t)C);
        for (int ch = 0; !st && ch < C; ch++) {
            m[ch] = sum[ch] / count;
            sum[C + ch] = cnn_data_channel_sum(ds, ch, &m[ch]);
        }
        if (!st) st = cnn_trainer_shard_stats(tr, sum + C, (size_t)C);
        for (int ch = 0; !st && ch < C; ch++) sum[C + ch] /= count;
    }
    for (int ch = 0; !st && ch < C; ch++) {
        mean[ch] = (float)m[ch];
        std[ch] = (float)sqrt(sum[C + ch] > 0 ? sum[C + ch] : 0);
    }
    cnn_free(sum);
    return st;
}

/* The preprocessing of a new run: the task and loss, the transforms, the training set's
 * per-channel mean and standard deviation (after the transforms), its class names. */
static cnn_status set_preprocess(cnn_trainer *tr) {
    const cnn_dataset *ds = tr->train;
    int C = ds->shape.dim[0];
    float *mean = cnn_alloc((size_t)C * sizeof *mean), *std = cnn_alloc((size_t)C * sizeof *std);
    cnn_status st = mean && std ? input_stats(tr, mean, std)
                                : cnn_trainer_fail(tr, CNN_STATUS_NO_MEMORY, "out of memory");
    if (st) {
        cnn_free(mean);
        cnn_free(std);
        return st;
    }
    for (int k = 0; k < C; k++)
        if (!(std[k] > 0)) std[k] = 1; /* a constant channel: centre it, do not divide by 0 */
    cnn_task task = cnn_loss_task(tr->cfg.loss);
    cnn_preprocess p = {.task = task,
                        .loss = tr->cfg.loss,
                        .channels = C,
                        .mean = tr->cfg.normalize ? mean : NULL,
                        .std = tr->cfg.normalize ? std : NULL,
                        .blur = tr->cfg.blur,
                        .sobel = tr->cfg.sobel,
                        .hflip_tta = tr->cfg.tta,
                        .tta_shift = tr->cfg.tta_shift,
                        .tta_diagonal = tr->cfg.tta_diagonal,
                        .classes = task == CNN_TASK_REGRESSION ? 0 : ds->classes,
                        .class_names = (const char *const *)ds->class_names};
    st = cnn_net_set_preprocess(tr->net, &p);
    cnn_free(mean);
    cnn_free(std);
    return st ? cnn_trainer_fail(tr, st, "%s", cnn_net_last_error(tr->net)) : CNN_STATUS_OK;
}

static cnn_trainer *alloc_trainer(const cnn_dataset *train, const cnn_dataset *val,
                                  const cnn_train_config *cfg) {
    cnn_trainer *tr = cnn_calloc(1, sizeof *tr);
    if (!tr) return NULL;
    tr->train = train;
    tr->val = val;
    tr->cfg = *cfg;
    tr->best_metric = -INFINITY;
    tr->plan = (cnn_plan){.first = cfg->epochs, .recorded = 1};
    tr->cfg.checkpoint = tr->cfg.best_checkpoint = tr->cfg.meta = NULL;
    if (!own_str(&tr->checkpoint, cfg->checkpoint) || !own_str(&tr->best, cfg->best_checkpoint) ||
        !own_str(&tr->meta, cfg->meta)) {
        cnn_trainer_free(tr);
        return NULL;
    }
    tr->cfg.checkpoint = tr->checkpoint;
    tr->cfg.best_checkpoint = tr->best;
    tr->cfg.meta = tr->meta;
    return tr;
}

/* Hands the trainer to the caller, or its message to err and frees it. */
static cnn_status finish_new(cnn_trainer *tr, cnn_status st, cnn_trainer **out, char *err,
                             size_t errlen) {
    if (!st) {
        *out = tr;
        return CNN_STATUS_OK;
    }
    snprintf(err, errlen, "%s", tr->err);
    cnn_trainer_free(tr);
    return st;
}

cnn_status cnn_trainer_new(cnn_net *net, const cnn_dataset *train, const cnn_dataset *val,
                           const cnn_train_config *cfg, cnn_trainer **out, char *err,
                           size_t errlen) {
    *out = NULL;
    if (!net || !train || !cfg)
        return cnn_set_error(err, errlen, CNN_STATUS_INVALID_ARGUMENT,
                             "trainer: NULL network, training set or configuration");
    cnn_trainer *tr = alloc_trainer(train, val, cfg);
    if (!tr) return cnn_set_error(err, errlen, CNN_STATUS_NO_MEMORY, "out of memory");
    tr->net = net;
    cnn_status st = check_data(tr, cfg, train, val);
    if (!st) st = set_preprocess(tr);
    if (!st && !(tr->opt = cnn_optim_new(net, &cfg->optim)))
        st = cnn_trainer_fail(tr, CNN_STATUS_INVALID_ARGUMENT, "%s", cnn_net_last_error(net));
    if (!st) st = setup(tr);
    if (!st && cnn_check_fit(net, train, cnn_net_preprocess(net), tr->score))
        st = cnn_trainer_fail(tr, CNN_STATUS_SHAPE, "%s", cnn_net_last_error(net));
    return finish_new(tr, st, out, err, errlen);
}

cnn_status cnn_trainer_resume(const char *path, const cnn_dataset *train, const cnn_dataset *val,
                              int epochs, const cnn_train_config *cfg, cnn_trainer **out, char *err,
                              size_t errlen) {
    *out = NULL;
    cnn_train_config given = cfg ? *cfg : cnn_train_defaults();
    if (!given.checkpoint) given.checkpoint = path;
    cnn_net *net;
    cnn_optim *opt;
    char *meta;
    cnn_status st = cnn_checkpoint_load(path, &net, &opt, &meta, err, errlen);
    if (st) return st;
    cnn_trainer *tr = alloc_trainer(train, val, &given);
    if (!tr) {
        cnn_optim_free(opt);
        cnn_net_free(net);
        free(meta);
        return cnn_set_error(err, errlen, CNN_STATUS_NO_MEMORY, "out of memory");
    }
    tr->net = net;
    tr->owns_net = 1;
    tr->opt = opt;
    if (!opt) {
        st = cnn_trainer_fail(tr, CNN_STATUS_FORMAT,
                              "%s: holds no optimiser state: it loads for evaluation "
                              "and prediction, but no run can be resumed from it",
                              path);
    } else {
        tr->cfg.optim = cnn_optim_get_config(opt); /* the base rate comes with the state */
        st = cnn_trainer_resume_state(tr, path, meta, epochs);
    }
    free(meta);
    if (!st) st = check_data(tr, &tr->cfg, train, val);
    if (!st) st = setup(tr);
    /* The position indexes the epoch's permutation: it must lie inside the epoch. */
    if (!st && tr->step >= tr->steps)
        st = cnn_trainer_fail(tr, CNN_STATUS_FORMAT,
                              "%s: damaged training state: train.step is %d, but an epoch of "
                              "this run has %d steps",
                              path, tr->step, tr->steps);
    if (!st) st = cnn_trainer_plan_check(tr, path);
    if (!st && cnn_check_fit(net, train, cnn_net_preprocess(net), tr->score))
        st = cnn_trainer_fail(tr, CNN_STATUS_SHAPE, "%s", cnn_net_last_error(net));
    return finish_new(tr, st, out, err, errlen);
}

void cnn_trainer_free(cnn_trainer *tr) {
    if (!tr) return;
    cnn_optim_free(tr->opt);
    if (tr->owns_net) cnn_net_free(tr->net);
    cnn_free(tr->checkpoint);
    cnn_free(tr->best);
    cnn_free(tr->meta);
    cnn_free(tr->perm);
    cnn_free(tr->whole_perm);
    cnn_free(tr->local_of);
    cnn_free(tr->x);
    cnn_free(tr->scratch);
    cnn_free(tr->it);
    cnn_free(tr->it_b);
    cnn_free(tr->mix);
    cnn_free(tr->ft);
    cnn_free(tr->dz);
    cnn_trainer_micro_free(&tr->micro);
    cnn_free(tr->sums);
    if (tr->synced) cnn_net_set_batch_sync(tr->net, NULL); /* the comm may go before the net */
    if (tr->bucketing) cnn_net_set_backward_hook(tr->net, NULL, NULL);
    cnn_free(tr->log);
    cnn_plan_free(&tr->plan);
    cnn_free(tr);
}

/* ---------------------------------------------------------------------------------------------
 * A step
 * ------------------------------------------------------------------------------------------- */

/* Alternate flips: whether the sample at place `id` of the whole set is mirrored in this
 * epoch. Its phase (even or odd epochs) is drawn from (seed, id) alone, from a stream of its
 * own ("altflip" in ASCII), so that it stays from one epoch to the next. */
static int alternate_flip(const cnn_trainer *tr, uint64_t id) {
    uint64_t phase = cnn_seed_mix(cnn_seed_mix(tr->cfg.seed, 0x616c74666c6970ULL), id) >> 63;
    return (int)((phase ^ (uint64_t)tr->epoch) & 1);
}

/* Sample i of the batch: the image augmented and preprocessed, its targets. A mask goes
 * through the image's geometric transforms, drawn from the same seed, so they stay aligned. */
static void load_sample(cnn_trainer *tr, int idx, int i, uint64_t seed, float *scratch) {
    const cnn_dataset *ds = tr->train;
    int C = ds->shape.dim[0], H = ds->shape.rank == 3 ? ds->shape.dim[1] : 1;
    int W = ds->shape.dim[ds->shape.rank - 1];
    size_t numel = cnn_shape_numel(&ds->shape), pixels = numel / (size_t)C;
    float *x = tr->x + (size_t)i * numel;
    uint64_t id = (uint64_t)(ds->ids ? ds->ids[idx] : idx), s = cnn_seed_mix(seed, id);
    cnn_augment a = tr->cfg.augment;
    int flip = 0;
    if (tr->cfg.alternate_flips) { /* the flip alternates by epoch instead of being drawn */
        flip = alternate_flip(tr, id);
        a.hflip = 0;
    }
    cnn_dataset_sample(ds, idx, x);
    if (flip) cnn_aug_hflip(x, C, H, W);
    cnn_augment_image(&a, x, C, H, W, s, scratch);
    cnn_prep_apply(cnn_net_preprocess(tr->net), &ds->shape, x, 1, scratch);
    cnn_task task = cnn_loss_task(tr->cfg.loss); /* a set may hold labels and masks both */
    if (task == CNN_TASK_CLASSIFICATION) tr->it[i] = ds->y[idx];
    if (task == CNN_TASK_REGRESSION)
        memcpy(tr->ft + (size_t)i * ds->n_targets, ds->targets + (size_t)idx * ds->n_targets,
               (size_t)ds->n_targets * sizeof *tr->ft);
    if (task == CNN_TASK_SEGMENTATION) {
        cnn_augment geo = {.hflip = a.hflip,
                           .vflip = a.vflip,
                           .crop_pad = a.crop_pad,
                           .rot90 = a.rot90,
                           .translate = a.translate};
        const int32_t *m = ds->masks + (size_t)idx * pixels;
        float *mf = scratch + 2 * numel;
        for (size_t p = 0; p < pixels; p++) mf[p] = (float)m[p];
        if (flip) cnn_aug_hflip(mf, 1, H, W);
        cnn_augment_image(&geo, mf, 1, H, W, s, scratch);
        for (size_t p = 0; p < pixels; p++) tr->it[(size_t)i * pixels + p] = (int32_t)mf[p];
    }
}

typedef struct load_job {
    cnn_trainer *tr;
    const int32_t *idx; /* the samples' places in the set */
    uint64_t seed;
} load_job;

/* Each sample's augmentation is seeded by its place: which thread loads it changes nothing. */
static void load_range(void *arg, long begin, long end, int worker) {
    const load_job *j = arg;
    float *scratch = (float *)((char *)j->tr->scratch + (size_t)worker * j->tr->scratch_stride);
    for (long i = begin; i < end; i++) load_sample(j->tr, j->idx[i], (int)i, j->seed, scratch);
}

/* The step's samples, loaded by the threads: with micro-batches, the caller's first samples
 * and the other thread's last ones are the micro-batches each then runs. */
static void load_batch(cnn_trainer *tr) {
    const cnn_dataset *ds = tr->train;
    if (tr->perm_epoch != tr->epoch) {
        uint64_t seed = cnn_seed_mix(tr->cfg.seed, (uint64_t)tr->epoch);
        if (ds->ids) cnn_trainer_shard_order(tr, seed);
        else cnn_permutation(ds->n, seed, tr->perm);
        tr->perm_epoch = tr->epoch;
    }
    uint64_t seed = cnn_seed_mix(tr->cfg.seed, 1000003ULL * (uint64_t)tr->epoch + 1);
    /* A rank's next samples of its shard, or its slice of the whole batch. */
    const int32_t *idx = ds->ids ? tr->perm + (size_t)tr->step * tr->local
                                 : tr->perm + (size_t)tr->step * tr->cfg.batch + tr->first;
    load_job j = {tr, idx, seed};
    int threads = tr->net->threads < tr->scratch_threads ? tr->net->threads : tr->scratch_threads;
    cnn_parallel_for(cnn_net_workers(tr->net), threads, tr->local, load_range, &j);
    if (tr->mix) { /* pairs seeded by (seed, epoch, step, their place in the global batch) */
        uint64_t step_seed = cnn_seed_mix(
            cnn_seed_mix(tr->cfg.seed, 1000003ULL * (uint64_t)tr->epoch + 2), (uint64_t)tr->step);
        cnn_mix_batch(tr->x, tr->it, tr->local, &ds->shape, tr->first, tr->cfg.mixup,
                      tr->cfg.cutmix, step_seed, tr->it_b, tr->mix);
    }
}

/* The elements of a sample that the loss averages over: its pixels for cross-entropy (K
 * scores each), every score for MSE and BCE. */
static size_t loss_elements(const cnn_trainer *tr) {
    const cnn_node *s = tr->net->nodes[tr->score];
    int ce = tr->cfg.loss == CNN_LOSS_SOFTMAX_CE || tr->cfg.loss == CNN_LOSS_PIXEL_CE;
    return cnn_node_numel(s) / (ce ? (size_t)s->shape.dim[0] : 1);
}

/* 1 / the elements the step's mean loss is over: each element's gradient, and the sum of the
 * losses, times this, as the loss functions compute their mean. */
static double loss_scale(const cnn_trainer *tr) {
    return 1.0 / ((double)tr->local * (double)loss_elements(tr));
}

cnn_status cnn_trainer_part_loss(cnn_trainer *tr, int first, int count, const float *scores,
                                 double *total, int64_t *correct) {
    const cnn_node *s = tr->net->nodes[tr->score];
    int K = s->shape.dim[0];
    size_t numel = cnn_node_numel(s), P = numel / (size_t)K, at = (size_t)first * numel;
    double scale = loss_scale(tr);
    float *dz = tr->dz + at;
    *correct = 0;
    switch (tr->cfg.loss) {
    case CNN_LOSS_MSE:
        return cnn_loss_mse_part(scores, tr->ft + at, (size_t)count * numel, scale, total, dz);
    case CNN_LOSS_BCE_LOGITS:
        return cnn_loss_bce_part(scores, tr->ft + at, (size_t)count * numel, scale, total, dz);
    case CNN_LOSS_SOFTMAX_CE:
    case CNN_LOSS_PIXEL_CE:
        break;
    }
    const int32_t *labels = tr->it + (size_t)first * P;
    const int32_t *labels_b = tr->mix ? tr->it_b + first : NULL; /* mixing: P is 1 */
    const float *mix = tr->mix ? tr->mix + first : NULL;
    cnn_status st = cnn_loss_ce_part(scores, labels, count, K, (int)P, tr->cfg.label_smoothing,
                                     labels_b, mix, scale, total, dz);
    for (int i = 0; !st && i < count; i++)
        for (size_t p = 0; p < P; p++) {
            const float *z = scores + (size_t)i * numel + p;
            int best = 0;
            for (int k = 1; k < K; k++)
                if (z[k * P] > z[best * P]) best = k;
            size_t e = (size_t)i * P + p; /* a mixed sample's larger share counts */
            *correct += best == (mix && mix[e] < 0.5f ? labels_b[e] : labels[e]);
        }
    return st;
}

/* With cfg.comm, the mean over the ranks of the gradients, the loss and (after the optimiser
 * step, state set) batch norm's running statistics, and the sums of the counts and of the stop
 * requests, the same on every rank. */
static cnn_status average_over_ranks(cnn_trainer *tr, float *loss, int64_t *correct,
                                     int64_t *counted, int state) {
    const cnn_train_comm *m = tr->cfg.comm;
    cnn_net *net = tr->net;
    size_t n = state ? net->n_state : net->n_params;
    if (!m || m->size == 1 || (state && n == 0)) return CNN_STATUS_OK;
    /* Bucketed, the gradients are being summed in place already: only the extras follow. */
    int buckets = tr->bucketing && !state;
    float *buf = tr->sums, *v = state ? net->state : net->grads;
    if (n && !buckets) memcpy(buf, v, n * sizeof *buf);
    float *extra = buckets ? buf : buf + n;
    if (!state) {
        extra[0] = *loss;
        extra[1] = (float)(tr->stop_req != 0);
        for (int l = 0; l < LIMBS; l++) {
            extra[2 + l] = (float)((*correct >> (LIMB_BITS * l)) & ((1 << LIMB_BITS) - 1));
            extra[2 + LIMBS + l] = (float)((*counted >> (LIMB_BITS * l)) & ((1 << LIMB_BITS) - 1));
        }
    }
    char err[512] = "";
    double t0 = cnn_trainer_now();
    cnn_status st;
    if (buckets) {
        st = tr->bucket_status;
        if (!st) st = m->start_sum(m->user, extra, SUM_EXTRA);
        cnn_status w = m->wait_sums(m->user, err, sizeof err); /* always: nothing in flight */
        if (!st) st = w;
        else snprintf(err, sizeof err, "a sum could not start");
        tr->bucket_status = CNN_STATUS_OK;
        buf = v; /* the sums are in the gradients */
    } else {
        st = m->allreduce_sum(m->user, buf, n + (state ? 0 : SUM_EXTRA), err, sizeof err);
    }
    tr->comm_secs += cnn_trainer_now() - t0;
    if (st)
        return cnn_trainer_fail(tr, CNN_STATUS_IO, "data parallel: rank %d of %d: %s", m->rank,
                                m->size, err);
    float inv = 1.0f / (float)m->size;
    for (size_t k = 0; k < n; k++) v[k] = buf[k] * inv;
    if (!state) {
        *loss = extra[0] * inv;
        tr->stop_agreed = extra[1] > 0;
        *correct = *counted = 0;
        for (int l = 0; l < LIMBS; l++) {
            *correct += (int64_t)extra[2 + l] << (LIMB_BITS * l);
            *counted += (int64_t)extra[2 + LIMBS + l] << (LIMB_BITS * l);
        }
    }
    return CNN_STATUS_OK;
}

/* Forward, loss, backward, the average over the ranks, clipping; a non-finite result names the
 * first layer holding one. */
static cnn_status forward_backward(cnn_trainer *tr, float *loss) {
    cnn_net *net = tr->net;
    cnn_net_set_training(net, 1);
    cnn_net_set_input_grads(net, 0); /* training never reads the images' gradient */
    int64_t correct = tr->correct, counted = tr->counted;
    tr->pending_end = net->n_params; /* buckets: nothing sent yet */
    cnn_status st;
    double total = 0; /* the sum of the samples' losses */
    int64_t right = 0; /* correct predictions */
    if (tr->micro.count > 1) {
        st = cnn_trainer_micro_pass(tr, &total, &right);
    } else {
        cnn_net_zero_grad(net);
        st = cnn_net_forward(net, tr->x, tr->local);
        if (!st)
            st = cnn_trainer_part_loss(tr, 0, tr->local, net->nodes[tr->score]->y, &total,
                                       &right);
        if (!st && !isfinite(total)) st = CNN_STATUS_NUMERIC;
        if (!st) st = cnn_net_backward_from(net, tr->score, tr->dz, CNN_BACKPROP_PLAIN);
    }
    *loss = (float)(total * loss_scale(tr));
    if (!st && !isfinite(*loss)) st = CNN_STATUS_NUMERIC;
    tr->correct += right;
    if (tr->cfg.loss == CNN_LOSS_SOFTMAX_CE || tr->cfg.loss == CNN_LOSS_PIXEL_CE)
        tr->counted += (int64_t)tr->local * (int64_t)loss_elements(tr);
    if (st && tr->bucketing) { /* no sum may stay in flight */
        char ignored[64];
        tr->cfg.comm->wait_sums(tr->cfg.comm->user, ignored, sizeof ignored);
        tr->bucket_status = CNN_STATUS_OK;
    }
    if (!st) {
        int64_t step_correct = tr->correct - correct, step_counted = tr->counted - counted;
        if ((st = average_over_ranks(tr, loss, &step_correct, &step_counted, 0))) return st;
        tr->correct = correct + step_correct;
        tr->counted = counted + step_counted;
    }
    float norm = st ? 0 : cnn_net_clip_grad_norm(net, tr->cfg.clip > 0 ? tr->cfg.clip : INFINITY);
    if (!st && isfinite(norm)) return CNN_STATUS_OK;
    char where[512] = "no layer holds a non-finite value";
    if (tr->micro.count <= 1 || !cnn_trainer_micro_nonfinite(tr, where, sizeof where))
        cnn_net_find_nonfinite(net, where, sizeof where);
    const char *what = st == CNN_STATUS_NUMERIC ? "the loss is not finite"
                       : st                     ? cnn_net_last_error(net)
                                                : "the gradient is not finite";
    if (st == CNN_STATUS_INVALID_ARGUMENT && tr->cfg.loss != CNN_LOSS_MSE)
        what = "a target is out of range (a label outside [0, classes) or a BCE target "
               "outside [0, 1])";
    return cnn_trainer_fail(tr, st ? st : CNN_STATUS_NUMERIC,
                            "training stopped at epoch %d, step %d: %s; %s", tr->epoch + 1,
                            tr->step + 1, what, where);
}

static void fill_progress(cnn_trainer *tr) {
    cnn_train_progress *p = &tr->last;
    p->epoch = tr->epoch + 1;
    p->epochs = tr->cfg.epochs;
    p->step = tr->step;
    p->steps = tr->steps;
    p->global_step = (int64_t)tr->epoch * tr->steps + tr->step;
    p->loss = tr->step ? tr->sum_loss / tr->step : NAN;
    int task = cnn_loss_task(tr->cfg.loss);
    p->accuracy =
        task != CNN_TASK_REGRESSION && tr->counted ? (double)tr->correct / tr->counted : NAN;
    p->images_per_sec = tr->train_secs > 0 ? (double)tr->step * tr->cfg.batch / tr->train_secs : 0;
    p->seconds = cnn_trainer_now() - tr->epoch_start;
    p->comm_seconds = tr->comm_secs;
}

cnn_status cnn_trainer_step(cnn_trainer *tr) {
    if (tr->done)
        return cnn_trainer_fail(tr, CNN_STATUS_STATE, "the run is complete: ask for more epochs");
    double t0 = cnn_trainer_now();
    if (tr->step == 0 || tr->epoch_start == 0) tr->epoch_start = t0;
    int64_t global = (int64_t)tr->epoch * tr->steps + tr->step;
    float lr = cnn_schedule_lr(&tr->sched, tr->cfg.optim.lr, global), loss;
    cnn_optim_set_lr(tr->opt, lr);
    load_batch(tr);
    cnn_status st = forward_backward(tr, &loss);
    if (st) return st;
    cnn_optim_step(tr->opt);
    if ((st = average_over_ranks(tr, NULL, NULL, NULL, 1))) return st;
    if (tr->cfg.optim.ema > 0) cnn_optim_update_ema(tr->opt); /* the state is final now */
    tr->sum_loss += loss;
    tr->step++;
    tr->train_secs += cnn_trainer_now() - t0;
    tr->last.lr = lr;
    if (tr->step < tr->steps) cnn_trainer_plan_follow(tr); /* (an epoch's end: end_epoch) */
    fill_progress(tr);
    if (tr->cfg.on_step && tr->cfg.on_step(tr->cfg.user, &tr->last)) tr->stop_req = 1;
    if (tr->deadline > 0 && cnn_trainer_now() > tr->deadline && tr->step < tr->steps) {
        tr->stop_req = tr->out_of_time = 1; /* the budget's end: stop after this step */
        cnn_trainer_plan_stop(tr);
    }
    if (tr->step == tr->steps) return cnn_trainer_end_epoch(tr);
    return CNN_STATUS_OK;
}

/* Whether to stop before the next step: asked for (cnn_trainer_stop, a callback) on this
 * process, or, data parallel, on any rank by the last step's sums, so that all ranks stop
 * after the same step (one step after the request). */
static int stopping(const cnn_trainer *tr) {
    return tr->cfg.comm && tr->cfg.comm->size > 1 ? tr->stop_agreed : tr->stop_req;
}

cnn_status cnn_trainer_epoch(cnn_trainer *tr) {
    int epoch = tr->epoch;
    cnn_status st = CNN_STATUS_OK;
    while (!st && !tr->done && tr->epoch == epoch && !stopping(tr)) st = cnn_trainer_step(tr);
    return st;
}

cnn_status cnn_trainer_run(cnn_trainer *tr) {
    cnn_status st = CNN_STATUS_OK;
    while (!st && !tr->done && !stopping(tr)) st = cnn_trainer_step(tr);
    if (!st && stopping(tr) && !tr->done) {
        tr->stopped = 1;
        /* Where the budget stopped the run: data parallel, one step after some rank's clock
         * passed the deadline (this one's too, or nearly). */
        if (tr->out_of_time || (tr->deadline > 0 && cnn_trainer_now() > tr->deadline)) {
            tr->out_of_time = 1;
            cnn_trainer_plan_stop(tr);
        }
        if (tr->checkpoint && (!tr->cfg.comm || tr->cfg.comm->rank == 0))
            st = cnn_trainer_save(tr, NULL);
        if (!st) cnn_trainer_use_average(tr);
    }
    return st;
}

int cnn_trainer_done(const cnn_trainer *tr) { return tr->done; }
int cnn_trainer_out_of_time(const cnn_trainer *tr) { return tr->out_of_time && !tr->done; }
/* A stop asked for after the last step leaves a complete run, not a stopped one. */
int cnn_trainer_stopped(const cnn_trainer *tr) {
    return tr->stopped || (stopping(tr) && !tr->done);
}
void cnn_trainer_stop(cnn_trainer *tr) { tr->stop_req = 1; }
cnn_net *cnn_trainer_net(cnn_trainer *tr) { return tr->net; }
const cnn_train_config *cnn_trainer_config(const cnn_trainer *tr) { return &tr->cfg; }
int cnn_trainer_epochs_done(const cnn_trainer *tr) { return tr->epoch; }
int cnn_trainer_steps_done(const cnn_trainer *tr) { return tr->step; }
cnn_train_progress cnn_trainer_last(const cnn_trainer *tr) { return tr->last; }
const char *cnn_trainer_last_error(const cnn_trainer *tr) { return tr->err; }
const char *cnn_trainer_log_csv(const cnn_trainer *tr) {
    return tr->log ? tr->log : CNN_TRAIN_LOG_HEADER;
}

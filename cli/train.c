/*
 * train.c - `cnn train`: options and printing over the library's trainer (cnn_trainer). It
 * loads the data for the task the loss implies, holds out the validation set, builds the model
 * or resumes a run, checks every output path before the first step, and prints a live progress
 * line, one line per epoch (and a CSV log with its plot), then the test result.
 *
 * Ctrl-C stops at the end of the current step, writes the checkpoint and prints the command
 * that resumes; a second Ctrl-C stops at once. What the tool needs to rebuild the data of a
 * resumed run (the model's name, the data set's absolute path, --input, --val, --limit) is kept
 * in the checkpoint's metadata as "cli.KEY=VALUE" lines; the trainer keeps the rest.
 */
#define _XOPEN_SOURCE 700 /* realpath */
#include "cli.h"
#include "common.h"
#include "serve.h"
#include "opts.h"

#include <inttypes.h>
#include <limits.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

typedef struct train_opts {
    const char *model, *data, *opt, *schedule, *augment, *preprocess, *loss, *input, *val;
    const char *out, *log, *plot, *resume, *best, *budget, *recipe, *plan, *replay;
    int epochs, batch, seed, threads, warmup, step_size, no_normalize, limit, patience, force;
    int sync_bn, bucket_kb, shard, serve, tta, tta_shift, tta_diagonal, micro_batch, ensemble;
    int alternate_flips;
    float lr, momentum, wd, gamma, min_lr, clip, smoothing, ema, mixup, cutmix;
} train_opts;

/* The options; the ones that describe the run cannot change when it is resumed (fixed). */
#define TRAIN_OPTIONS(c)                                                                        \
    {                                                                                           \
        {"recipe", OPT_STRING, &(c)->recipe, "NAME", "start from a recipe's settings (cnn recipes): its model, data, budget and training; the options given beside it override them", 0, 0, 0}, \
        {"model", OPT_STRING, &(c)->model, "NAME|FILE", "a zoo model (cnn models), a definition file or a checkpoint to fine-tune [lenet5]", 0, 0, 0}, \
        {"data", OPT_STRING, &(c)->data, "NAME|DIR", "fashion-mnist, or a folder (see below) [fashion-mnist]", 0, 0, 0}, \
        {"loss", OPT_STRING, &(c)->loss, "NAME", "cross-entropy, pixel-cross-entropy (segmentation), mse or bce-logits (regression) [cross-entropy]", 0, 0, 0}, \
        {"epochs", OPT_INT, &(c)->epochs, "N", "epochs to train [10]", 1, 100000, 0},          \
        {"time-budget", OPT_STRING, &(c)->budget, "T", "fit the run to T of wall time (90s, 10m, 1.5h), test evaluation included: the epochs are chosen from a measurement of the first steps, and the schedule ends on time", 0, 0, 0}, \
        {"plan", OPT_STRING, &(c)->plan, "PLAN", "follow this plan of the epochs (as a budgeted run prints it at its end, e.g. '58 3:57 5:55') instead of a budget: with the run's options, that run again, bit for bit, at any pace", 0, 0, 0}, \
        {"replay", OPT_STRING, &(c)->replay, "FILE", "repeat the run that wrote this checkpoint (with --ensemble, the ensemble's: each member follows its own, beside it): give the run's options (a recipe's included) beside it, which are checked against it, and its plan replaces the budget", 0, 0, 0}, \
        {"batch", OPT_INT, &(c)->batch, "B", "samples per batch [64]", 1, 65536, 0},           \
        {"opt", OPT_STRING, &(c)->opt, "NAME", "sgd, momentum, nesterov, adam or adamw [adamw]", 0, 0, 0}, \
        {"lr", OPT_FLOAT, &(c)->lr, "X", "learning rate, above 0 [0.002 adamw, 0.001 adam, 0.01 others]", 0, 100, 0}, \
        {"momentum", OPT_FLOAT, &(c)->momentum, "M", "momentum for momentum/nesterov [0.9]", 0, 1, 0}, \
        {"wd", OPT_FLOAT, &(c)->wd, "W", "weight decay (decoupled for adamw) [0.05 adamw, 0 others]", 0, 1, 0}, \
        {"schedule", OPT_STRING, &(c)->schedule, "NAME", "learning rate: constant, step, cosine or linear (to --min-lr; with --warmup, one-cycle) [cosine]", 0, 0, 0}, \
        {"warmup", OPT_INT, &(c)->warmup, "E", "epochs of linear warm-up [0]", 0, 100000, 0},  \
        {"step-size", OPT_INT, &(c)->step_size, "E", "step schedule: epochs between decays [epochs/3]", 1, 100000, 0}, \
        {"gamma", OPT_FLOAT, &(c)->gamma, "G", "step schedule: decay factor [0.1]", 0.0001, 1, 0}, \
        {"min-lr", OPT_FLOAT, &(c)->min_lr, "X", "cosine and linear schedules: final learning rate [0]", 0, 100, 0}, \
        {"ema", OPT_FLOAT, &(c)->ema, "D", "keep an exponential moving average of the weights (decay D per step, e.g. 0.999): validated, saved and tested instead of the last weights [0: off]", 0, 0.999999, 0}, \
        {"clip", OPT_FLOAT, &(c)->clip, "N", "clip the gradient's global L2 norm to N (0: off) [0]", 0, 1e9, 0}, \
        {"label-smoothing", OPT_FLOAT, &(c)->smoothing, "S", "cross-entropy against (1-S) onehot + S/K [0]", 0, 0.99, 0}, \
        {"mixup", OPT_FLOAT, &(c)->mixup, "A", "blend the batch's samples in pairs, x = l a + (1-l) b with l ~ Beta(A, A), each keeping both labels weighted for the loss (classification; e.g. 0.2) [0: off]", 0, 100, 0}, \
        {"cutmix", OPT_FLOAT, &(c)->cutmix, "A", "swap a rectangle of about 1-l of the area between the samples of each pair, l ~ Beta(A, A), labels weighted by area (classification images; e.g. 1; with --mixup, one or the other per pair) [0: off]", 0, 100, 0}, \
        {"augment", OPT_STRING, &(c)->augment, "LIST", "random augmentations, e.g. hflip,crop=2 (see below) [hflip]", 0, 0, 0}, \
        {"alternate-flips", OPT_FLAG, &(c)->alternate_flips, "", "flips derandomised across epochs: each training image mirrored in every other epoch (its phase drawn from the seed) instead of by a draw in each; needs hflip=0.5 in --augment", 0, 0, 0}, \
        {"preprocess", OPT_STRING, &(c)->preprocess, "LIST", "deterministic transforms of every image, kept with the model: blur=SIGMA, sobel [none]", 0, 0, 0}, \
        {"tta", OPT_FLAG, &(c)->tta, "", "test-time augmentation: evaluate with the mean scores of each image and its mirror image; kept in the model, so eval and predict do it too", 0, 0, 0}, \
        {"tta-shift", OPT_INT, &(c)->tta_shift, "S", "test-time augmentation: also the views shifted by S pixels up, down, left and right (with --tta, of the mirror image too); kept in the model [0: off]", 0, 64, 0}, \
        {"tta-diagonal", OPT_FLAG, &(c)->tta_diagonal, "", "test-time augmentation: with --tta-shift S, also the views shifted by S pixels along both axes at once (the four diagonals); kept in the model", 0, 0, 0}, \
        {"no-normalize", OPT_FLAG, &(c)->no_normalize, "", "do not normalise by the training set's mean and std", 0, 0, 0}, \
        {"val", OPT_STRING, &(c)->val, "N|F", "validation samples held out: a count, or a fraction like 0.1 [10%, at most 5000]", 0, 0, 0}, \
        {"limit", OPT_INT, &(c)->limit, "N", "use only the first N training and N test samples (quick trials)", 1, INT_MAX, 0}, \
        {"patience", OPT_INT, &(c)->patience, "E", "stop after E epochs without a better validation result (0: never) [0]", 0, 100000, 0}, \
        {"input", OPT_STRING, &(c)->input, "CxHxW", "image size for folders of images [3x32x32]", 0, 0, 0}, \
        {"seed", OPT_INT, &(c)->seed, "S", "random seed: same seed, same weights [1]", 0, 2147483647, 0}, \
        {"ensemble", OPT_INT, &(c)->ensemble, "K", "train K networks one after another (seeds S, S + 1000000, ...; each for the epochs, or for its share of the time budget), write each to OUT.mk.ckpt with its log and plot, and to --out their ensemble: the mean of their scores (cnn ensemble) [1]", 1, 8, 0}, \
        {"micro-batch", OPT_INT, &(c)->micro_batch, "M", "cut each batch into micro-batches of M samples, each run whole by one thread, their gradients added in order (not with batch norm or dropout; M >= the batch: each layer split over the threads instead) [0: automatic, 32 for small networks without them]", 0, 65536, 0}, \
        {"threads", OPT_INT, &(c)->threads, "T", "threads, at most the processors this process may use (results do not depend on it) [all, at most 8]", 1, 1024, 0}, \
        {"out", OPT_STRING, &(c)->out, "FILE", "checkpoint written after every epoch [model.ckpt; with --resume the resumed file]", 0, 0, 0}, \
        {"best", OPT_STRING, &(c)->best, "FILE", "also keep the epoch with the best validation result here", 0, 0, 0}, \
        {"log", OPT_STRING, &(c)->log, "FILE", "CSV log, one line per epoch [OUT with .csv]", 0, 0, 0}, \
        {"plot", OPT_STRING, &(c)->plot, "FILE", "PNG plot of the log [OUT with .png]", 0, 0, 0}, \
        {"resume", OPT_STRING, &(c)->resume, "FILE", "continue the run saved in this checkpoint", 0, 0, 0}, \
        {"force", OPT_FLAG, &(c)->force, "", "overwrite an existing --out of another run", 0, 0, 0}, \
        {"serve", OPT_INT, &(c)->serve, "P", "a live view of the run in the browser on http://127.0.0.1:P/ (0: any free port; docs/SERVE.md)", 0, 65535, 0}, \
        {"sync-bn", OPT_FLAG, &(c)->sync_bn, "", "under mpirun: batch norm over the global batch, not each rank's share (docs/DISTRIBUTED.md)", 0, 0, 0}, \
        {"shard", OPT_FLAG, &(c)->shard, "", "under mpirun: each rank loads only its part of the training set, and only rank 0 the test set (docs/DISTRIBUTED.md)", 0, 0, 0}, \
        {"bucket", OPT_INT, &(c)->bucket_kb, "KB", "under mpirun: gradients summed in buckets of KB kilobytes during backward; 0: one sum after it (the same result) [1024]", 0, 1048576, 0}, \
        {NULL, 0, NULL, NULL, NULL, 0, 0, 0},                                                  \
    }

/* Options that describe the run: fixed when it is resumed. */
static const char *const FIXED[] = {
    "model", "loss", "batch", "opt", "lr", "momentum", "wd", "schedule", "warmup", "step-size",
    "gamma", "min-lr", "clip", "label-smoothing", "mixup", "cutmix", "augment", "alternate-flips",
    "preprocess", "no-normalize", "val", "limit", "patience", "input", "seed", "sync-bn", "tta",
    "tta-shift", "tta-diagonal", "ema", "recipe", "micro-batch", "ensemble", "plan", "replay",
    NULL};

static const char ABOUT[] =
    "Trains a network and evaluates it on the test set. A checkpoint is written after every\n"
    "epoch (atomically); --resume continues a run exactly as if it had not stopped, and Ctrl-C\n"
    "stops cleanly after the current step (twice: at once).\n"
    "Data (--data): fashion-mnist; a folder of IDX files (MNIST layout) or CIFAR-10 batches;\n"
    "train/CLASS/ and test/CLASS/ image folders; for segmentation train/images, train/masks,\n"
    "test/images, test/masks (masks: PNGs of class numbers); for regression train.csv and\n"
    "test.csv (IMAGE,target,... with a header line).\n"
    "Augmentations (--augment, comma-separated, random, training only): hflip[=P] vflip[=P]\n"
    "crop=PAD resized-crop=MIN_AREA rot90 rotate=DEG translate=FRAC brightness=B contrast=C\n"
    "grey=P cutout=SIZE erase[=P] noise=STD.";

void cli_train_help(FILE *f) {
    train_opts c;
    cli_opt o[] = TRAIN_OPTIONS(&c);
    cli_help(f, "cnn train [options]", ABOUT, o);
}

/* ---------------------------------------------------------------------------------------------
 * Settings
 * ------------------------------------------------------------------------------------------- */

/* --opt's names, indexed as parse_optimiser and optimiser_name read them. */
static const char *const OPT_NAMES[] = {"sgd", "momentum", "nesterov", "adam", "adamw", NULL};

static int parse_optimiser(const train_opts *c, const cli_opt *o, cnn_train_config *cfg) {
    const char *const *names = OPT_NAMES;
    int k = 0;
    while (names[k] && strcmp(names[k], c->opt)) k++;
    if (!names[k]) {
        fprintf(stderr, "cnn train: --opt %s: expected sgd, momentum, nesterov, adam or adamw\n", c->opt);
        return 0;
    }
    cnn_optim_kind kind = k == 3 ? CNN_OPTIM_ADAM : k == 4 ? CNN_OPTIM_ADAMW : CNN_OPTIM_SGD;
    float lr = cli_find((cli_opt *)o, "lr")->given ? c->lr : k == 4 ? 0.002f : k == 3 ? 0.001f : 0.01f;
    cfg->optim = cnn_optim_defaults(kind, lr);
    cfg->optim.momentum = k == 1 || k == 2 ? c->momentum : 0;
    cfg->optim.nesterov = k == 2;
    cfg->optim.weight_decay = cli_find((cli_opt *)o, "wd")->given ? c->wd : k == 4 ? 0.05f : 0;
    cfg->optim.ema = c->ema;
    return 1;
}

/* --preprocess blur=SIGMA,sobel */
static int parse_preprocess(const char *s, cnn_train_config *cfg) {
    cnn_augment a;
    char err[512];
    if (cnn_augment_parse(s, &a, err, sizeof err) == CNN_STATUS_OK) {
        cnn_augment rest = a;
        rest.blur = 0, rest.sobel = 0;
        if (!memcmp(&rest, &(cnn_augment){0}, sizeof rest)) {
            cfg->blur = a.blur;
            cfg->sobel = a.sobel;
            return 1;
        }
        snprintf(err, sizeof err, "only blur=SIGMA and sobel are preprocessing; random "
                 "transforms go in --augment");
    }
    fprintf(stderr, "cnn train: --preprocess %s: %s\n", s, err);
    return 0;
}

static int parse_augment(const char *s, cnn_train_config *cfg) {
    char err[512];
    if (cnn_augment_parse(s, &cfg->augment, err, sizeof err)) {
        fprintf(stderr, "cnn train: --augment %s: %s\n", s, err);
        return 0;
    }
    if (cfg->augment.blur > 0 || cfg->augment.sobel) {
        fprintf(stderr, "cnn train: --augment %s: blur and sobel are not random: they would "
                "change every training image and no test image; give them as --preprocess, "
                "which applies them at evaluation and prediction too\n", s);
        return 0;
    }
    return 1;
}

static int parse_schedule(const char *s, cnn_train_config *cfg) {
    int k = cnn_schedule_parse(s);
    if (k >= 0) return cfg->schedule = (cnn_schedule_kind)k, 1;
    fprintf(stderr, "cnn train: --schedule %s: expected constant, step, cosine or linear\n", s);
    return 0;
}

/* The trainer's configuration of a new run from the options. */
static int new_config(const train_opts *c, const cli_opt *o, cnn_train_config *cfg) {
    *cfg = cnn_train_defaults();
    cfg->epochs = c->epochs;
    cfg->batch = c->batch;
    cfg->seed = (uint64_t)c->seed;
    cfg->warmup = c->warmup;
    cfg->step_size = c->step_size;
    cfg->gamma = c->gamma;
    cfg->min_lr = c->min_lr;
    cfg->clip = c->clip;
    cfg->label_smoothing = c->smoothing;
    cfg->mixup = c->mixup;
    cfg->cutmix = c->cutmix;
    cfg->normalize = !c->no_normalize;
    cfg->patience = c->patience;
    cfg->sync_bn = c->sync_bn;
    cfg->tta = c->tta;
    cfg->tta_shift = c->tta_shift;
    cfg->tta_diagonal = c->tta_diagonal;
    cfg->alternate_flips = c->alternate_flips;
    cfg->micro_batch = c->micro_batch;
    int loss = cnn_loss_parse(c->loss);
    int n_val;
    if (loss < 0) {
        fprintf(stderr, "cnn train: --loss %s: expected cross-entropy, pixel-cross-entropy, mse "
                "or bce-logits\n", c->loss);
        return 0;
    }
    if (c->val && !cli_val_count("train", c->val, -1, &n_val)) return 0;
    cfg->loss = (cnn_loss)loss;
    return parse_optimiser(c, o, cfg) && parse_schedule(c->schedule, cfg) &&
           parse_augment(c->augment, cfg) && (!c->preprocess || parse_preprocess(c->preprocess, cfg));
}

/* ---------------------------------------------------------------------------------------------
 * Output paths, checked before the first step
 * ------------------------------------------------------------------------------------------- */

/* Replaces the extension of path (or appends one). */
static char *with_ext(const char *path, const char *ext) {
    size_t len = strlen(path);
    const char *dot = strrchr(path, '.'), *slash = strrchr(path, '/');
    if (dot && (!slash || dot > slash)) len = (size_t)(dot - path);
    char *s = malloc(len + strlen(ext) + 1);
    if (!s) return NULL;
    memcpy(s, path, len);
    strcpy(s + len, ext);
    return s;
}

/* A file can be created or replaced at path: not a folder, in a writable folder. */
static int writable(const char *opt, const char *path) {
    struct stat st;
    char dir[4200];
    snprintf(dir, sizeof dir, "%s", path);
    char *slash = strrchr(dir, '/');
    if (slash) slash == dir ? (void)(dir[1] = 0) : (void)(*slash = 0);
    else snprintf(dir, sizeof dir, ".");
    if (stat(path, &st) == 0 && S_ISDIR(st.st_mode))
        fprintf(stderr, "cnn train: --%s %s: is a folder; give a file name\n", opt, path);
    else if (stat(dir, &st) != 0 || !S_ISDIR(st.st_mode))
        fprintf(stderr, "cnn train: --%s %s: the folder %s does not exist\n", opt, path, dir);
    else if (access(dir, W_OK) != 0)
        fprintf(stderr, "cnn train: --%s %s: the folder %s is not writable\n", opt, path, dir);
    else
        return 1;
    return 0;
}

typedef struct run {
    train_opts c;
    const char *out;
    char *log, *plot;
    cnn_task task;
    int tty, plot_warned;
    double last_print;
    cnn_dataset *train, *val, *test;
    cnn_net *net;       /* a new run's network (a resumed run's is the trainer's) */
    cnn_trainer *tr;
    char *meta;         /* the cli.* lines */
    const cnn_train_comm *comm; /* under mpirun: this rank among the job's (else NULL) */
    serve_live *live;   /* --serve: the live view */
    double started;     /* when the command started (--time-budget counts from it) */
    double budget;      /* --time-budget in seconds (0: none) */
    int epochs_told;    /* the epochs of the run as last printed */
    int quiet;          /* a rank other than 0: prints and writes nothing but errors */
    int member, members; /* --ensemble: this run trains member `member` of `members` (else 0) */
    int first;          /* an ensemble run resumed: the member it resumes (the ones before it
                         * are done) */
    int val_seed;       /* the seed the validation samples are drawn with: the run's, or for an
                         * ensemble's members the ensemble's (cli.val_seed) */
} run;

static int check_outputs(run *r) {
    const train_opts *c = &r->c;
    r->out = c->out ? c->out : c->resume ? c->resume : "model.ckpt";
    r->log = c->log ? strdup(c->log) : with_ext(r->out, ".csv");
    r->plot = c->plot ? strdup(c->plot) : with_ext(r->out, ".png");
    if (!r->log || !r->plot) return fprintf(stderr, "cnn train: out of memory\n"), 0;
    int same = c->resume && !strcmp(r->out, c->resume);
    if (!same && !c->force && access(r->out, F_OK) == 0) {
        fprintf(stderr, "cnn train: %s exists (the model of another run?): give --force to "
                "overwrite it, or another --out%s\n", r->out,
                c->resume ? "; without --out a resumed run writes back to the file it resumes" : "");
        return 0;
    }
    return writable("out", r->out) && writable("log", r->log) && writable("plot", r->plot) &&
           (!c->best || writable("best", c->best));
}

/* ---------------------------------------------------------------------------------------------
 * Printing: the callbacks
 * ------------------------------------------------------------------------------------------- */

static int on_step(void *user, const cnn_train_progress *p) {
    run *r = user;
    double t = p->seconds;
    if (r->quiet) return 0;
    if (r->live) serve_live_step(r->live, p);
    int last = p->step == p->steps;
    if (r->tty ? (t - r->last_print < 0.1 && !last)
               : (p->step % (p->steps / 4 > 0 ? p->steps / 4 : 1) != 0 || last))
        return 0;
    r->last_print = t;
    double eta = (p->steps - p->step) * (t / p->step);
    char bar[21], acc[32] = "";
    int fill = (int)(20.0 * p->step / p->steps);
    for (int i = 0; i < 20; i++) bar[i] = i < fill ? '#' : '-';
    bar[20] = 0;
    if (!isnan(p->accuracy)) snprintf(acc, sizeof acc, "  acc %.2f%%", 100 * p->accuracy);
    fprintf(stderr, "%sepoch %d/%d [%s] %d/%d  %.0f img/s  loss %.4f%s  ETA %d:%02d%s",
            r->tty ? "\r" : "", p->epoch, p->epochs, bar, p->step, p->steps,
            p->images_per_sec, p->loss, acc, (int)eta / 60, (int)eta % 60,
            r->tty ? "\033[K" : "\n");
    fflush(stderr);
    return 0;
}

/* The log and its plot after every epoch: a file that cannot be written is a warning (the
 * checkpoint holds the log too), never the end of the run. */
static void write_log(run *r) {
    char err[2048];
    if (cnn_trainer_write_log(r->tr, r->log, err, sizeof err) ||
        cnn_plot_training_csv(r->log, r->plot, err, sizeof err)) {
        if (!r->plot_warned) fprintf(stderr, "cnn train: warning: %s (training goes on)\n", err);
        r->plot_warned = 1;
    }
}

static int on_epoch(void *user, const cnn_train_progress *p) {
    run *r = user;
    char acc[40] = "", val[128] = "";
    int n = 0;
    if (r->quiet) return 0;
    if (r->live) serve_live_epoch(r->live, cnn_trainer_net(r->tr), p);
    if (!isnan(p->accuracy)) snprintf(acc, sizeof acc, " acc %.2f%%", 100 * p->accuracy);
    if (p->has_val) n += snprintf(val, sizeof val, "  val loss %.4f", p->val_loss);
    if (p->has_val && !isnan(p->val_accuracy))
        n += snprintf(val + n, sizeof val - (size_t)n, " acc %.2f%%", 100 * p->val_accuracy);
    if (p->has_val && r->task == CNN_TASK_SEGMENTATION)
        n += snprintf(val + n, sizeof val - (size_t)n, " IoU %.4f", p->val_iou);
    if (p->is_best) snprintf(val + n, sizeof val - (size_t)n, " *");
    if (r->tty) fprintf(stderr, "\r\033[K");
    char comm[64] = "";
    if (r->comm) snprintf(comm, sizeof comm, ", %.2fs summing over %d ranks", p->comm_seconds, r->comm->size);
    printf("epoch %2d/%d  train loss %.4f%s%s  lr %.3g  %.1fs  (%.0f img/s%s)\n", p->epoch,
           p->epochs, p->loss, acc, val, p->lr, p->seconds, p->images_per_sec, comm);
    int from = cnn_trainer_refitted_from(r->tr);
    if (from && p->epochs != r->epochs_told && r->c.budget)
        printf("time budget %s: %s: %d epochs instead of %d, the schedule refitted to end with "
               "them\n", r->c.budget, p->epochs < from ? "behind the plan (the host runs slower "
               "than measured)" : "ahead of the plan (the host runs faster)", p->epochs, from);
    else if (from && p->epochs != r->epochs_told)
        printf("the plan: %d epochs from here on instead of %d, the schedule refitted to end "
               "with them\n", p->epochs, from);
    r->epochs_told = p->epochs;
    fflush(stdout);
    write_log(r);
    return 0;
}

/* Ctrl-C: the first asks the trainer to stop after the current step, the second is the
 * default action (the process ends at once). */
static cnn_trainer *volatile interrupted_trainer;

static void on_sigint(int sig) {
    if (interrupted_trainer) cnn_trainer_stop(interrupted_trainer);
    signal(sig, SIG_DFL);
}

/* ---------------------------------------------------------------------------------------------
 * Data, model, resuming
 * ------------------------------------------------------------------------------------------- */

/* The samples of a data set, of its whole set for a shard. */
static int whole_count(const cnn_dataset *ds) { return ds->ids ? ds->n_whole : ds->n; }

/* The data of the run: the task's training and test sets, --limit, the validation hold-out. */
static int load_sets(run *r) {
    train_opts *c = &r->c;
    r->task = cnn_loss_task((cnn_loss)cnn_loss_parse(c->loss)); /* checked by now */
    cnn_shard shard = {r->comm ? r->comm->rank : 0, r->comm ? r->comm->size : 1};
    /* Sharded, the test set is rank 0's alone: it is the one to evaluate it. */
    cnn_dataset **test = c->shard && shard.index != 0 ? NULL : &r->test;
    if (!cli_load_task_data("train", c->data, r->task, c->input, c->shard ? &shard : NULL,
                            &r->train, test))
        return 0;
    if (c->limit) cnn_dataset_truncate(r->train, c->limit);
    if (c->limit && r->test) cnn_dataset_truncate(r->test, c->limit);
    int n_val;
    char err[1024];
    if (!cli_val_count("train", c->val, whole_count(r->train), &n_val)) return 0;
    if (n_val > 0 &&
        cnn_dataset_hold_out(r->train, n_val, (uint64_t)r->val_seed, &r->val, err, sizeof err)) {
        fprintf(stderr, "cnn train: %s\n", err);
        return 0;
    }
    return 1;
}

/* The cli.* lines that rebuild this data: the model, the data set (absolute), the options. */
static int make_meta(run *r) {
    const train_opts *c = &r->c;
    char data[PATH_MAX];
    if (strcmp(c->data, "fashion-mnist") == 0 || !realpath(c->data, data))
        snprintf(data, sizeof data, "%s", c->data);
    size_t size = strlen(c->model) + strlen(data) + 256;
    if (!(r->meta = malloc(size))) return 0;
    snprintf(r->meta, size, "cli.model=%s\ncli.data=%s\ncli.input=%s\ncli.val=%s\ncli.limit=%d\n"
             "cli.val_seed=%d\n", c->model, data, c->input ? c->input : "", c->val ? c->val : "",
             c->limit, r->val_seed);
    return 1;
}

enum { RESUME_KEYS = 6 }; /* the metadata lines a resumed run rebuilds its data from */

/* A resumed run takes its settings from the checkpoint: the options that describe the run
 * may not be given again. */
static int resume_settings(run *r, cli_opt *o, char store[][4096]) {
    train_opts *c = &r->c;
    for (int i = 0; FIXED[i]; i++)
        if (cli_find(o, FIXED[i])->given) {
            fprintf(stderr, "cnn train: --%s cannot change when resuming: the run's settings "
                    "come from the checkpoint (--epochs, --threads, --data, --out, --best, "
                    "--log and --plot may be given)\n", FIXED[i]);
            return 0;
        }
    char err[2048], *meta = NULL, seed[32];
    cnn_net *net = NULL;
    if (cnn_checkpoint_load(c->resume, &net, NULL, &meta, err, sizeof err)) {
        fprintf(stderr, "cnn train: %s\n", err);
        return 0;
    }
    cnn_net_free(net);
    /* The values land in store[i] in this order (RESUME_KEYS of them). */
    static const char *const keys[RESUME_KEYS] = {"cli.model", "cli.data", "cli.input",
                                                  "cli.val", "train.loss", "cli.limit"};
    int ok = 1;
    for (int i = 0; i < RESUME_KEYS && ok; i++) ok = cli_meta_get(meta, keys[i], store[i], 4096);
    ok = ok && cli_meta_get(meta, "train.seed", seed, sizeof seed);
    if (!ok) {
        free(meta);
        fprintf(stderr, "cnn train: %s: holds no run of this version of cnn train (an older "
                "version or another program wrote it): it loads for eval, predict and viz, and "
                "--model %s fine-tunes it in a new run\n", c->resume, c->resume);
        return 0;
    }
    /* The range of --limit and --seed, which wrote them. The validation samples were drawn
     * with the run's seed, or an ensemble's (before cli.val_seed: the run's). */
    ok = cli_meta_count("train", c->resume, meta, "cli.limit", INT_MAX, &c->limit) &&
         cli_meta_count("train", c->resume, meta, "train.seed", INT_MAX, &c->seed);
    r->val_seed = c->seed;
    if (ok && cli_meta_get(meta, "cli.val_seed", seed, sizeof seed))
        ok = cli_meta_count("train", c->resume, meta, "cli.val_seed", INT_MAX, &r->val_seed);
    /* A member of an ensemble run: the run goes on from it (cli.members, cli.member). */
    if (ok && cli_meta_get(meta, "cli.members", seed, sizeof seed))
        ok = cli_meta_count("train", c->resume, meta, "cli.members", 8, &c->ensemble) &&
             cli_meta_count("train", c->resume, meta, "cli.member", c->ensemble - 1, &r->first);
    free(meta);
    if (!ok) return 0;
    c->model = store[0];
    if (!cli_find(o, "data")->given) c->data = store[1];
    c->input = *store[2] ? store[2] : NULL;
    c->val = *store[3] ? store[3] : NULL;
    c->loss = store[4];
    return 1;
}

/* A trainer's refusal of a setting is a usage error (2), anything else a failure (1). */
static int trainer_error(cnn_status st, const char *err) {
    fprintf(stderr, "cnn train: %s\n", err);
    return st == CNN_STATUS_INVALID_ARGUMENT ? 2 : 1;
}

/* What new and resumed runs take from the options alike: threads, output paths, printing. */
static void run_settings(run *r, cnn_train_config *cfg) {
    cfg->threads = r->c.threads;
    cfg->bucket_bytes = (size_t)r->c.bucket_kb << 10;
    cfg->checkpoint = r->out;
    cfg->best_checkpoint = r->c.best;
    cfg->on_step = on_step;
    cfg->on_epoch = on_epoch;
    cfg->user = r;
    cfg->comm = r->comm;
}

/* A new run: returns 0 or the exit code. */
static int start_run(run *r, cnn_train_config cfg) {
    const train_opts *c = &r->c;
    char err[2048];
    int K = r->task == CNN_TASK_REGRESSION ? r->train->n_targets : r->train->classes;
    if (!cli_build_model("train", c->model, &r->train->shape, K,
                         r->task == CNN_TASK_CLASSIFICATION, (uint64_t)c->seed, &r->net))
        return 1;
    run_settings(r, &cfg);
    cfg.meta = r->meta;
    cnn_status st = cnn_trainer_new(r->net, r->train, r->val, &cfg, &r->tr, err, sizeof err);
    return st ? trainer_error(st, err) : 0;
}

/* A resumed run: returns 0 or the exit code. */
static int resume_run(run *r, cli_opt *o) {
    const train_opts *c = &r->c;
    cnn_train_config cfg = cnn_train_defaults();
    char err[2048];
    run_settings(r, &cfg);
    int epochs = cli_find(o, "epochs")->given ? c->epochs : 0;
    cnn_status st = cnn_trainer_resume(c->resume, r->train, r->val, epochs, &cfg, &r->tr, err,
                                       sizeof err);
    return st ? trainer_error(st, err) : 0;
}

/* ---------------------------------------------------------------------------------------------
 * The command
 * ------------------------------------------------------------------------------------------- */

static void print_start(const run *r) {
    if (r->quiet) return;
    const cnn_train_config *cfg = cnn_trainer_config(r->tr);
    cnn_net *net = cnn_trainer_net(r->tr);
    const cnn_dataset *t = r->train;
    char shape[64], aug[256];
    cnn_augment_format(&cfg->augment, aug, sizeof aug);
    printf("model %s: %zu parameters; data %s: %d training, %d validation, %d test samples of "
           "%s, %s\n", r->c.model, cnn_net_param_count(net), r->c.data, whole_count(t),
           r->val ? whole_count(r->val) : 0, r->test->n,
           cnn_shape_str(&t->shape, shape, sizeof shape), cnn_task_name(r->task));
    if (t->ids)
        printf("sharded over %d ranks: each holds its part of the training set (rank 0: %d of "
               "%d samples)\n", r->comm->size, t->n, t->n_whole);
    char mix[96] = "";
    if (cfg->mixup > 0 || cfg->cutmix > 0)
        snprintf(mix, sizeof mix, ", mixup %g, cutmix %g", (double)cfg->mixup,
                 (double)cfg->cutmix);
    printf("loss %s, lr %g (%s schedule), batch %d, %d epochs, seed %llu, %d thread%s, "
           "augment %s%s%s\n", cnn_loss_name(cfg->loss), (double)cfg->optim.lr,
           cnn_schedule_name(cfg->schedule),
           cfg->batch, cfg->epochs, (unsigned long long)cfg->seed, cnn_net_threads(net),
           cnn_net_threads(net) > 1 ? "s" : "", aug,
           cfg->alternate_flips ? " (flips alternating by epoch)" : "", mix);
    if (r->members)
        printf("ensemble member %d of %d: seed %d, written to %s\n", r->member + 1, r->members,
               r->c.seed, r->out);
    int step = cnn_trainer_steps_done(r->tr), epoch = cnn_trainer_epochs_done(r->tr);
    if (r->c.resume && step)
        printf("resuming from %s in epoch %d, after step %d\n", r->c.resume, epoch + 1, step);
    else if (r->c.resume)
        printf("resuming from %s after epoch %d\n", r->c.resume, epoch);
    fflush(stdout);
}

/* Prints net's result on the test set; 0 after printing the error. */
static int test_result(run *r, cnn_net *net) {
    cnn_metrics m;
    if (cnn_evaluate_task(net, r->test, &m)) {
        fprintf(stderr, "cnn train: test: %s\n", cnn_net_last_error(net));
        return 0;
    }
    if (r->task == CNN_TASK_CLASSIFICATION)
        printf("test: %d samples, loss %.4f, top-1 %.2f%%, top-5 %.2f%%\n", m.n, m.loss,
               100 * m.top1, 100 * m.top5);
    else if (r->task == CNN_TASK_SEGMENTATION)
        printf("test: %d images, loss %.4f, pixel accuracy %.2f%%, mean IoU %.4f\n", m.n, m.loss,
               100 * m.top1, m.iou);
    else
        printf("test: %d samples, loss (%s) %.6f\n", m.n, cnn_loss_name(cnn_net_preprocess(net)->loss), m.loss);
    cnn_metrics_free(&m);
    return 1;
}

/* The end of a complete run: the test result and the files; for an ensemble's member, the
 * files only (the test set measures the ensemble). */
static int report_end(run *r) {
    if (r->quiet) return 1;
    if (r->members) {
        printf("member %d of %d: wrote %s, the log to %s and its plot to %s\n", r->member + 1,
               r->members, r->out, r->log, r->plot);
        return 1;
    }
    if (!test_result(r, cnn_trainer_net(r->tr))) return 0;
    if (r->plot_warned)
        printf("wrote the model to %s (the log or its plot could not be written: see the warning "
               "above; the checkpoint holds the log)\n", r->out);
    else
        printf("wrote the model to %s, the log to %s and its plot to %s\n", r->out, r->log, r->plot);
    return 1;
}

/* Trains with Ctrl-C caught; 0 done, 1 failed, 130 stopped by the user. */
static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

/* "90", "90s", "10m", "1.5h" in seconds; 0 after a message. */
static double parse_duration(const char *s) {
    char *end;
    double v = strtod(s, &end), unit = !strcmp(end, "") || !strcmp(end, "s") ? 1
                                       : !strcmp(end, "m")                  ? 60
                                       : !strcmp(end, "h")                  ? 3600
                                                                            : 0;
    if (end == s || !unit || !(v > 0) || v * unit > 30 * 86400) {
        fprintf(stderr, "cnn train: --time-budget %s: expected a duration such as 90s, 10m or "
                "1.5h (at most 30 days)\n", s);
        return 0;
    }
    return v * unit;
}

/* --time-budget: what is left of it after loading, less the test evaluation's share (timed on
 * a slice of the test set), goes to the trainer, which picks the epochs. With --ensemble K,
 * member k gets an equal share of what is left for it and the members after it, and the test
 * evaluation is the ensemble's: K networks' passes. */
static int fit_budget(run *r) {
    double budget = r->budget;
    if (r->c.resume) {
        fprintf(stderr, "cnn train: --time-budget: a resumed run keeps the epochs it chose "
                "(give --epochs to change them)\n");
        return 0;
    }
    double test = 0;
    cnn_net *net = cnn_trainer_net(r->tr);
    if (r->test && !r->quiet) {
        cnn_dataset slice = *r->test;
        slice.n = slice.n < 1024 ? slice.n : 1024;
        cnn_metrics m;
        double t0 = now();
        if (cnn_evaluate_task(net, &slice, &m)) {
            fprintf(stderr, "cnn train: test: %s\n", cnn_net_last_error(net));
            return 0;
        }
        cnn_metrics_free(&m);
        test = (now() - t0) * r->test->n / slice.n * (r->members ? r->members : 1);
    }
    double left = budget - (now() - r->started) - test;
    if (r->members) left /= r->members - r->member;
    if (cnn_trainer_fit_budget(r->tr, left)) {
        fprintf(stderr, "cnn train: --time-budget %s: %s\n", r->c.budget,
                cnn_trainer_last_error(r->tr));
        return 0;
    }
    if (!r->quiet)
        printf("time budget %s: %s%d epochs of about %.1f s (measured), %.1f s for the test set\n",
               r->c.budget, r->members ? "this member's share: " : "",
               cnn_trainer_config(r->tr)->epochs, cnn_trainer_epoch_estimate(r->tr), test);
    return 1;
}

/* The run's plan as text (to free), or NULL after a message. */
static char *plan_text(const run *r) {
    size_t n = cnn_trainer_plan(r->tr, NULL, 0) + 1;
    char *plan = malloc(n);
    if (plan) cnn_trainer_plan(r->tr, plan, n);
    else fprintf(stderr, "cnn train: out of memory\n");
    return plan;
}

static char *ensemble_path(const char *path, int k);

/* After a budgeted run: its plan, which repeats it (a member's: the ensemble's file repeats
 * the ensemble). */
static void print_plan(const run *r) {
    char *plan = r->quiet || !r->c.budget ? NULL : plan_text(r);
    char *whole = plan && r->members ? ensemble_path(r->out, r->member) : NULL;
    if (plan && r->members)
        printf("member %d's plan: %s\n(the same options with --replay %s in place of the budget "
               "repeat the ensemble bit for bit)\n", r->member + 1, plan, whole ? whole : "?");
    else if (plan)
        printf("the run's plan: %s\n(the same options with --replay %s in place of the "
               "budget repeat this run bit for bit, as does --plan with this text)\n", plan,
               r->out);
    free(plan);
    free(whole);
}

static int train(run *r) {
    const cnn_train_config *cfg = cnn_trainer_config(r->tr);
    if (r->c.serve >= 0 && !r->quiet &&
        !(r->live = serve_live_start(r->c.serve, cnn_trainer_net(r->tr), r->c.model, cfg->epochs,
                                     whole_count(r->train) / cfg->batch, cfg->batch)))
        return 1;
    interrupted_trainer = r->tr;
    void (*old)(int) = signal(SIGINT, on_sigint);
    /* mpirun ends the job on Ctrl-C but forwards SIGUSR1: the clean stop of a parallel run. */
    void (*old_usr1)(int) = signal(SIGUSR1, on_sigint);
    cnn_status st = cnn_trainer_run(r->tr);
    signal(SIGINT, old);
    signal(SIGUSR1, old_usr1);
    interrupted_trainer = NULL;
    serve_live_end(r->live, st == CNN_STATUS_OK && cnn_trainer_stopped(r->tr));
    r->live = NULL;
    if (r->tty) fprintf(stderr, "\r\033[K");
    if (st) {
        fprintf(stderr, "cnn train: %s\n", cnn_trainer_last_error(r->tr));
        return 1;
    }
    if (!cnn_trainer_stopped(r->tr)) {
        print_plan(r);
        return report_end(r) ? 0 : 1;
    }
    if (cnn_trainer_out_of_time(r->tr)) {
        cnn_train_progress p = cnn_trainer_last(r->tr);
        if (!r->quiet && r->c.budget)
            printf("the time budget ended the run at epoch %d, step %d of %d (the host ran "
                   "slower than measured); wrote %s\n", p.epoch, p.step, p.steps, r->out);
        else if (!r->quiet)
            printf("the plan ended the run at epoch %d, step %d of %d, where the time budget "
                   "ended the run it follows; wrote %s\n", p.epoch, p.step, p.steps, r->out);
        print_plan(r);
        return report_end(r) ? 0 : 1;
    }
    if (r->quiet) return 130;
    cnn_train_progress p = cnn_trainer_last(r->tr);
    fprintf(stderr, "cnn train: stopped at epoch %d, step %d of %d; wrote %s\nresume with: "
            "cnn train --resume %s\n", p.epoch, p.step, p.steps, r->out, r->out);
    if (r->members)
        fprintf(stderr, "(member %d of an ensemble of %d: the resumed run goes on with the "
                "members after it, then writes the ensemble)\n", r->member + 1, r->members);
    return 130;
}

/* --plan and --replay: the run follows a recorded plan instead of a budget; returns 0 or the
 * exit code. */
static int follow_plan(run *r) {
    const char *opt = r->c.replay ? "replay" : "plan";
    cnn_status st = r->c.replay ? cnn_trainer_replay(r->tr, r->c.replay)
                                : cnn_trainer_follow_plan(r->tr, r->c.plan);
    if (st) {
        fprintf(stderr, "cnn train: --%s: %s%s\n", opt, cnn_trainer_last_error(r->tr),
                r->c.replay && st == CNN_STATUS_INVALID_ARGUMENT
                    ? " (give the options of the run it replays, with --replay in place of "
                      "--time-budget)"
                    : "");
        return st == CNN_STATUS_INVALID_ARGUMENT || st == CNN_STATUS_FORMAT ? 2 : 1;
    }
    char *plan = plan_text(r);
    if (!plan) return 1;
    if (!r->quiet)
        printf("following the plan %s%s%s: %d epochs to start with\n", plan,
               r->c.replay ? " of " : "", r->c.replay ? r->c.replay : "",
               cnn_trainer_config(r->tr)->epochs);
    free(plan);
    return 0;
}

/* One run, new or resumed, budgeted or following a plan, and trained: returns the exit
 * code. */
static int train_run(run *r, cli_opt *o, cnn_train_config cfg) {
    int status = r->c.resume ? resume_run(r, o) : start_run(r, cfg);
    if (!status && r->c.budget && !fit_budget(r)) status = 1;
    if (!status && (r->c.plan || r->c.replay)) status = follow_plan(r);
    if (!status) {
        print_start(r);
        status = train(r);
    }
    return status;
}

/* ---------------------------------------------------------------------------------------------
 * Ensembles: --ensemble K
 * ------------------------------------------------------------------------------------------- */

/* path with ".mk" before its extension: model.ckpt -> model.m1.ckpt (NULL: NULL). */
static char *member_path(const char *path, int k, int *failed) {
    if (!path) return NULL;
    size_t len = strlen(path);
    const char *dot = strrchr(path, '.'), *slash = strrchr(path, '/');
    size_t stem = dot && (!slash || dot > slash) && dot != path && dot[-1] != '/'
                      ? (size_t)(dot - path) : len;
    char *s = malloc(len + 16);
    if (!s) return *failed = 1, NULL;
    snprintf(s, len + 16, "%.*s.m%d%s", (int)stem, path, k, path + stem);
    return s;
}

/* The seed of member k: S + 1000000 k, within --seed's range (0 to 2^31 - 1). */
static int member_seed(int seed, int k) {
    return (int)(((long long)seed + 1000000LL * k) % 2147483648LL);
}

/* path without the ".mk" that member_path put before its extension (or at its end), or NULL
 * when it has none. */
static char *ensemble_path(const char *path, int k) {
    char tag[16];
    snprintf(tag, sizeof tag, ".m%d", k);
    size_t t = strlen(tag);
    const char *base = strrchr(path, '/'), *at = NULL;
    base = base ? base + 1 : path;
    for (const char *p = strstr(base, tag); p; p = strstr(p + 1, tag))
        if (p > base && (p[t] == 0 || (p[t] == '.' && !strchr(p + t + 1, '.')))) at = p;
    if (!at) return NULL;
    size_t len = strlen(path);
    char *s = malloc(len + 1);
    if (s) snprintf(s, len + 1, "%.*s%s", (int)(at - path), path, at + t);
    return s;
}

enum { MEMBER_PATHS = 6 }; /* what member_run allocates for a member */

/* Member k's run: r's data and settings, its own seed, files (r's --out, --log, --plot and
 * --best with .mk before the extension) and metadata (the run's cli.* lines and its place in
 * the ensemble), its outputs checked; member r->first resumes r's checkpoint. paths holds
 * what to free. */
static int member_run(const run *r, int k, run *m, char *paths[MEMBER_PATHS]) {
    const train_opts *c = &r->c;
    int failed = 0;
    *m = *r;
    m->net = NULL;
    m->tr = NULL;
    m->log = m->plot = NULL;
    m->member = k;
    m->members = c->ensemble;
    m->c.seed = member_seed(r->val_seed, k);
    m->c.resume = k == r->first ? c->resume : NULL;
    m->c.out = paths[0] = member_path(r->out, k, &failed);
    m->c.log = paths[1] = member_path(r->log, k, &failed);
    m->c.plot = paths[2] = member_path(r->plot, k, &failed);
    m->c.best = paths[3] = member_path(c->best, k, &failed);
    m->c.replay = paths[5] = member_path(c->replay, k, &failed); /* its own plan */
    size_t size = r->meta ? strlen(r->meta) + 64 : 0; /* none yet when only checking */
    if (size && (m->meta = paths[4] = malloc(size)))
        snprintf(m->meta, size, "%scli.members=%d\ncli.member=%d\n", r->meta, c->ensemble, k);
    if (failed || (size && !m->meta)) return fprintf(stderr, "cnn train: out of memory\n"), 0;
    return check_outputs(m);
}

static void free_member(run *m, char *paths[MEMBER_PATHS]) {
    cnn_trainer_free(m->tr);
    free(m->log);
    free(m->plot);
    for (int i = 0; i < MEMBER_PATHS; i++) free(paths[i]);
}

/* Every member's files can be written, before the first step of the first; a resumed run's
 * members before the one it resumes are there. */
static int check_members(const run *r) {
    int ok = 1, failed = 0;
    for (int k = 0; k < r->c.ensemble && ok; k++) {
        if (k < r->first) {
            char *path = member_path(r->out, k, &failed);
            ok = path && cnn_is_checkpoint(path);
            if (!ok)
                fprintf(stderr, "cnn train: %s: member %d of the ensemble is %s: the run resumes "
                        "from member %d\n", path ? path : "?", k + 1,
                        path ? "not there" : "out of memory", r->first + 1);
            free(path);
            continue;
        }
        run m;
        char *paths[MEMBER_PATHS] = {0};
        ok = member_run(r, k, &m, paths);
        free_member(&m, paths);
    }
    return ok;
}

/* A resumed member of an ensemble run: the ensemble's file is the member's without .mk (the
 * other members are found beside it), and --out cannot move it. 0 after a message. */
static int resume_ensemble(run *r, char **out) {
    if (r->c.out) {
        fprintf(stderr, "cnn train: --out: %s is member %d of an ensemble run, which resumes "
                "into its own file and writes the ensemble beside it\n", r->c.resume,
                r->first + 1);
        return 0;
    }
    if (!(*out = ensemble_path(r->c.resume, r->first))) {
        fprintf(stderr, "cnn train: --resume %s: member %d of an ensemble run, whose file name "
                "no longer ends in .m%d before its extension: the other members are found by "
                "their names\n", r->c.resume, r->first + 1, r->first);
        return 0;
    }
    r->c.out = *out;
    if (!r->quiet)
        printf("resuming member %d of an ensemble of %d: the ensemble goes to %s\n",
               r->first + 1, r->c.ensemble, *out);
    return 1;
}

/* The ensemble's metadata: the run's cli.* lines, and the record of its validation samples
 * (cnn eval --split val draws them again and checks them against it, as for one network). */
static char *ensemble_meta(const run *r) {
    size_t size = strlen(r->meta) + 64;
    char *meta = malloc(size);
    if (!meta) return NULL;
    int n = snprintf(meta, size, "%s", r->meta);
    if (r->val)
        snprintf(meta + n, size - (size_t)n, "train.val=%d:%016" PRIx64 "\n",
                 whole_count(r->val), cnn_dataset_hash(r->val));
    return meta;
}

/* The members' ensemble: tested, and written to --out (by rank 0 alone under mpirun, the
 * only one to hold the members of a resumed run). */
static int finish_ensemble(run *r, cnn_net **nets, int n, int batch) {
    char err[2048], *meta = NULL;
    cnn_net *e = NULL;
    if (r->quiet) return 0; /* rank 0 tests and writes it */
    if (cnn_net_ensemble(nets, n, &e, err, sizeof err)) {
        fprintf(stderr, "cnn train: %s\n", err);
        return 1;
    }
    if (cnn_net_prepare(e, batch)) { /* to evaluate at the training batch, as the trainer does */
        fprintf(stderr, "cnn train: the ensemble: %s\n", cnn_net_last_error(e));
        cnn_net_free(e);
        return 1;
    }
    int status = 1;
    printf("the ensemble of %d (the mean of their scores):\n", n);
    if (!test_result(r, e)) {
        /* the error is printed */
    } else if (!(meta = ensemble_meta(r))) {
        fprintf(stderr, "cnn train: out of memory\n");
    } else if (cnn_checkpoint_save(r->out, e, NULL, meta, err, sizeof err)) {
        fprintf(stderr, "cnn train: %s\n", err);
    } else {
        printf("wrote the ensemble to %s (the members' checkpoints, logs and plots beside it, "
               "with .m0 to .m%d)\n", r->out, n - 1);
        status = 0;
    }
    free(meta);
    cnn_net_free(e);
    return status;
}

/* Member k's network from its file (a member before the one a resumed run resumes, or that
 * one, which its trainer has just written with the weights it is tested with). */
static int load_member(const run *r, int k, cnn_net **net) {
    char err[2048];
    int failed = 0;
    char *path = member_path(r->out, k, &failed);
    cnn_status st = path ? cnn_net_load(path, net, err, sizeof err) : CNN_STATUS_NO_MEMORY;
    if (!st && r->c.threads) st = cnn_net_set_threads(*net, r->c.threads);
    if (st) fprintf(stderr, "cnn train: %s\n", path ? err : "out of memory");
    free(path);
    return st ? 1 : 0;
}

/* --ensemble K: the members one after another, each a run of its own, then their ensemble;
 * resumed from member `first`, the members before it are read from their files and the ones
 * after it train as it did (its settings and epochs). Returns the exit code. */
static int train_ensemble(run *r, cli_opt *o, cnn_train_config cfg) {
    int n = r->c.ensemble, status = 0;
    cnn_net *nets[8] = {0};
    for (int k = 0; k < n && !status; k++) {
        if (k < r->first) {
            if (!r->quiet) status = load_member(r, k, &nets[k]);
            continue;
        }
        run m;
        char *paths[MEMBER_PATHS] = {0};
        if (!member_run(r, k, &m, paths)) {
            status = 2;
        } else {
            cfg.seed = (uint64_t)m.c.seed;
            status = train_run(&m, o, cfg);
            if (!status && m.c.resume) {
                cfg = *cnn_trainer_config(m.tr);
                if (!r->quiet) status = load_member(r, k, &nets[k]);
            } else {
                nets[k] = m.net;
            }
        }
        free_member(&m, paths);
    }
    if (!status) status = finish_ensemble(r, nets, n, cfg.batch);
    for (int k = 0; k < n; k++) cnn_net_free(nets[k]);
    return status;
}

/* ---------------------------------------------------------------------------------------------
 * Recipes: --recipe and cnn recipes
 * ------------------------------------------------------------------------------------------- */

/* The options of a plain `cnn train`. */
static train_opts train_defaults(void) {
    return (train_opts){.model = "lenet5", .data = "fashion-mnist", .opt = "adamw",
                        .schedule = "cosine", .augment = "hflip", .loss = "cross-entropy",
                        .epochs = 10, .batch = 64, .seed = 1, .momentum = 0.9f, .gamma = 0.1f,
                        .bucket_kb = 1024, .serve = -1, .ensemble = 1};
}

/* The text of a recipe's options that are not the library's own strings. */
typedef struct recipe_text {
    char augment[512], preprocess[64], budget[32], val[16];
} recipe_text;

/* Whether option `name` is the recipe's to set: not given on the command line. It is marked
 * given, so that what depends on that (the optimiser's default rate) takes the recipe's. */
static int unset(cli_opt *o, const char *name) {
    cli_opt *x = cli_find(o, name);
    return !x->given && (x->given = 1);
}

/* The --opt name of an optimiser's configuration (parse_optimiser's inverse). */
static const char *optimiser_name(const cnn_optim_config *p) {
    return OPT_NAMES[p->kind == CNN_OPTIM_ADAMW ? 4
                     : p->kind == CNN_OPTIM_ADAM ? 3
                     : p->nesterov               ? 2
                     : p->momentum > 0           ? 1
                                                 : 0];
}

/* The options the recipe called c->recipe sets, where the command line left them; 0 after a
 * message. */
static int apply_recipe(train_opts *c, cli_opt *o, recipe_text *t) {
    cnn_recipe rc;
    if (cnn_recipe_get(cnn_recipe_find(c->recipe), &rc)) {
        fprintf(stderr, "cnn train: --recipe %s: no such recipe (cnn recipes lists them)\n",
                c->recipe);
        return 0;
    }
    const cnn_train_config *g = &rc.cfg;
    const cnn_optim_config *p = &g->optim;
    snprintf(t->val, sizeof t->val, "%d", rc.val);
    if (fmod(rc.budget, 60) == 0)
        snprintf(t->budget, sizeof t->budget, "%gm", rc.budget / 60);
    else
        snprintf(t->budget, sizeof t->budget, "%gs", rc.budget);
    cnn_augment_format(&g->augment, t->augment, sizeof t->augment);
    if (unset(o, "model")) c->model = rc.model;
    if (unset(o, "data")) c->data = rc.data;
    if (unset(o, "val")) c->val = t->val;
    /* The recipe's budget, unless the command line gives the epochs, a budget or a plan. */
    if (rc.budget > 0 && !cli_find(o, "epochs")->given && !c->plan && !c->replay &&
        unset(o, "time-budget"))
        c->budget = t->budget;
    if (unset(o, "epochs")) c->epochs = g->epochs;
    if (unset(o, "loss")) c->loss = cnn_loss_name(g->loss);
    if (unset(o, "batch")) c->batch = g->batch;
    if (unset(o, "opt")) c->opt = optimiser_name(p);
    if (unset(o, "lr")) c->lr = p->lr;
    if (unset(o, "momentum") && p->momentum > 0) c->momentum = p->momentum;
    if (unset(o, "wd")) c->wd = p->weight_decay;
    if (unset(o, "ema")) c->ema = p->ema;
    if (unset(o, "schedule")) c->schedule = cnn_schedule_name(g->schedule);
    if (unset(o, "warmup")) c->warmup = g->warmup;
    if (unset(o, "step-size")) c->step_size = g->step_size;
    if (unset(o, "gamma")) c->gamma = g->gamma;
    if (unset(o, "min-lr")) c->min_lr = g->min_lr;
    if (unset(o, "clip")) c->clip = g->clip;
    if (unset(o, "label-smoothing")) c->smoothing = g->label_smoothing;
    if (unset(o, "mixup")) c->mixup = g->mixup;
    if (unset(o, "cutmix")) c->cutmix = g->cutmix;
    if (unset(o, "augment")) c->augment = t->augment;
    if (unset(o, "alternate-flips")) c->alternate_flips = g->alternate_flips;
    cnn_augment pre = {.blur = g->blur, .sobel = g->sobel};
    cnn_augment_format(&pre, t->preprocess, sizeof t->preprocess);
    if (unset(o, "preprocess") && (g->blur > 0 || g->sobel)) c->preprocess = t->preprocess;
    if (unset(o, "tta")) c->tta = g->tta;
    if (unset(o, "tta-shift")) c->tta_shift = g->tta_shift;
    if (unset(o, "tta-diagonal")) c->tta_diagonal = g->tta_diagonal;
    if (unset(o, "no-normalize")) c->no_normalize = !g->normalize;
    if (unset(o, "patience")) c->patience = g->patience;
    if (unset(o, "micro-batch")) c->micro_batch = g->micro_batch;
    if (unset(o, "ensemble")) c->ensemble = rc.members;
    return 1;
}

/* Prints the options whose values in b differ from a (tables of the same options). */
static void print_changes(FILE *f, const cli_opt *a, const cli_opt *b) {
    for (; a->name; a++, b++) {
        int differ = 0;
        char v[600] = "";
        switch (a->kind) {
        case OPT_INT:
        case OPT_FLAG:
            differ = *(int *)a->dst != *(int *)b->dst;
            snprintf(v, sizeof v, " %d", *(int *)b->dst);
            break;
        case OPT_FLOAT:
            differ = *(float *)a->dst != *(float *)b->dst;
            snprintf(v, sizeof v, " %g", (double)*(float *)b->dst);
            break;
        case OPT_STRING: {
            const char *x = *(const char **)a->dst, *y = *(const char **)b->dst;
            differ = (x == NULL) != (y == NULL) || (x && strcmp(x, y));
            snprintf(v, sizeof v, " %s", y ? y : "");
            break;
        }
        case OPT_LIST: break;
        }
        if (differ) fprintf(f, " \\\n    --%s%s", b->name, b->kind == OPT_FLAG ? "" : v);
    }
}

void cli_recipes_help(FILE *f) {
    cli_opt none[] = {{NULL, 0, NULL, NULL, NULL, 0, 0, 0}};
    cli_help(f, "cnn recipes", "Lists the training recipes: what each is for and what it "
             "reached, and the\noptions of cnn train it stands for. Run one with cnn train "
             "--recipe NAME\n(options given beside it override its settings); "
             "docs/RESULTS.md has their figures.", none);
}

int cli_recipes(int argc, char **argv) {
    cli_opt none[] = {{NULL, 0, NULL, NULL, NULL, 0, 0, 0}};
    const char *pos[1];
    int npos;
    if (!cli_parse("recipes", none, argc, argv, pos, 0, &npos)) return 2;
    for (int i = 0; i < cnn_recipe_count(); i++) {
        cnn_recipe rc;
        cnn_recipe_get(i, &rc);
        train_opts plain = train_defaults(), with = train_defaults();
        with.recipe = rc.name;
        cli_opt a[] = TRAIN_OPTIONS(&plain), b[] = TRAIN_OPTIONS(&with);
        recipe_text t;
        apply_recipe(&with, b, &t);
        with.recipe = NULL;
        printf("%s\n  %s\n  cnn train --recipe %s\n  is\n    cnn train", rc.name, rc.doc,
               rc.name);
        print_changes(stdout, a, b);
        printf("\n%s", i + 1 < cnn_recipe_count() ? "\n" : "");
    }
    return 0;
}

/* --plan and --replay: one or the other, and not beside what they replace (the epochs, a
 * budget); 0 after a message. */
static int plan_options(const train_opts *c, cli_opt *o) {
    const char *opt = c->plan ? "plan" : "replay";
    if (!c->plan && !c->replay) return 1;
    if (c->plan && c->replay)
        fprintf(stderr, "cnn train: --plan and --replay: give one (--replay takes the plan from "
                "the checkpoint)\n");
    else if (cli_find(o, "time-budget")->given)
        fprintf(stderr, "cnn train: --%s and --time-budget: the plan replaces the budget\n", opt);
    else if (cli_find(o, "epochs")->given)
        fprintf(stderr, "cnn train: --%s and --epochs: the plan gives the epochs\n", opt);
    else
        return 1;
    return 0;
}

int cli_train(int argc, char **argv) {
    run r = {.c = train_defaults()};
    cli_opt o[] = TRAIN_OPTIONS(&r.c);
    const char *pos[1];
    int npos, status = 1;
    char store[RESUME_KEYS][4096];
    recipe_text recipe;
    if (!cli_parse("train", o, argc, argv, pos, 0, &npos)) return 2;
    if (!plan_options(&r.c, o)) return 2;
    if (r.c.recipe && !r.c.resume && !apply_recipe(&r.c, o, &recipe)) return 2;
    if (r.c.plan && r.c.ensemble > 1) {
        fprintf(stderr, "cnn train: --plan: an ensemble's members each have their own plan: "
                "--replay the ensemble's checkpoint (its members' are beside it, with theirs)\n");
        return 2;
    }
    if (r.c.budget && !(r.budget = parse_duration(r.c.budget))) return 2;
    if (r.c.threads > cnn_cpu_count()) {
        fprintf(stderr, "cnn train: --threads %d: this process may use %d processors (results "
                "do not depend on the count)\n", r.c.threads, cnn_cpu_count());
        return 2;
    }
    r.started = now();
    r.val_seed = r.c.seed; /* a resumed run's: from its checkpoint */
    r.tty = cli_is_tty();
    if (!cli_dist_start(&r.comm)) return 1;
    r.quiet = r.comm && r.comm->rank != 0;
    cnn_train_config cfg = cnn_train_defaults(); /* a resumed run's: its checkpoint's */
    if (r.c.resume ? !resume_settings(&r, o, store) : !new_config(&r.c, o, &cfg)) return 2;
    char *ensemble_out = NULL;
    if ((r.c.resume && r.c.ensemble > 1 && !resume_ensemble(&r, &ensemble_out)) ||
        !check_outputs(&r) || (r.c.ensemble > 1 && !check_members(&r))) {
        status = 2;
    } else if (load_sets(&r) && make_meta(&r)) {
        status = r.c.ensemble > 1 ? train_ensemble(&r, o, cfg) : train_run(&r, o, cfg);
    }
    free(ensemble_out);
    cnn_trainer_free(r.tr);
    cnn_net_free(r.net);
    cnn_dataset_free(r.train);
    cnn_dataset_free(r.val);
    cnn_dataset_free(r.test);
    free(r.log);
    free(r.plot);
    free(r.meta);
    cli_dist_end(status == 130 ? 0 : status);
    return status;
}

/*
 * train.c - `cnn train`: trains a network on a data set, with a live progress line, one line
 * per epoch, a CSV log and its plot, and a checkpoint after every epoch.
 *
 * Reproducibility: the batch order of epoch e is a permutation seeded by (seed, e), the
 * augmentation of a sample by (seed, e, sample), dropout by the network's generator (saved in
 * the checkpoint), and every kernel gives the same bits for any thread count. So the same
 * seed gives the same weights, and a run resumed from the checkpoint of epoch e ends exactly
 * where the uninterrupted run ends.
 *
 * The checkpoint's metadata holds every setting of the run, the epochs done, the normalisation,
 * the class names and the log lines so far; --resume takes them all from there.
 */
#include "cli.h"
#include "common.h"
#include "opts.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

typedef struct train_cfg {
    const char *model, *data, *opt, *schedule, *augment, *input;
    const char *out, *log, *plot, *resume;
    int epochs, batch, seed, threads, val, warmup, step_size, no_normalize;
    float lr, momentum, wd, gamma, min_lr, clip;
} train_cfg;

/* Options that describe the run itself; the others (out, log, plot, resume, threads, epochs)
 * may change when a run is resumed. */
static const char *const RUN_KEYS[] = {"model", "data", "opt", "schedule", "augment", "input",
                                       "batch", "seed", "val", "warmup", "step-size",
                                       "no-normalize", "lr", "momentum", "wd", "gamma",
                                       "min-lr", "clip", NULL};

static void fill_opts(cli_opt *o, train_cfg *c) {
    cli_opt table[] = {
        {"model", OPT_STRING, &c->model, "NAME|FILE", "a zoo model (cnn models) or a definition file [lenet5]", 0, 0, 0},
        {"data", OPT_STRING, &c->data, "NAME|DIR", "fashion-mnist, or a folder of IDX, CIFAR-10 or image files [fashion-mnist]", 0, 0, 0},
        {"epochs", OPT_INT, &c->epochs, "N", "epochs to train [10]", 1, 100000, 0},
        {"batch", OPT_INT, &c->batch, "B", "samples per batch [64]", 1, 65536, 0},
        {"lr", OPT_FLOAT, &c->lr, "X", "learning rate [0.001 for adam/adamw, 0.01 otherwise]", 0, 100, 0},
        {"opt", OPT_STRING, &c->opt, "NAME", "sgd, momentum, nesterov, adam or adamw [adam]", 0, 0, 0},
        {"momentum", OPT_FLOAT, &c->momentum, "M", "momentum for momentum/nesterov [0.9]", 0, 1, 0},
        {"wd", OPT_FLOAT, &c->wd, "W", "weight decay (decoupled for adamw) [0]", 0, 1, 0},
        {"schedule", OPT_STRING, &c->schedule, "NAME", "learning rate: constant, step or cosine [constant]", 0, 0, 0},
        {"warmup", OPT_INT, &c->warmup, "E", "epochs of linear warm-up [0]", 0, 100000, 0},
        {"step-size", OPT_INT, &c->step_size, "E", "step schedule: epochs between decays [epochs/3]", 1, 100000, 0},
        {"gamma", OPT_FLOAT, &c->gamma, "G", "step schedule: decay factor [0.1]", 0, 1, 0},
        {"min-lr", OPT_FLOAT, &c->min_lr, "X", "cosine schedule: final learning rate [0]", 0, 100, 0},
        {"clip", OPT_FLOAT, &c->clip, "N", "clip the gradient's global L2 norm to N (0: off) [0]", 0, 1e9, 0},
        {"augment", OPT_STRING, &c->augment, "LIST", "augmentations, e.g. hflip,crop=2,cutout=8 (see below) [none]", 0, 0, 0},
        {"val", OPT_INT, &c->val, "N", "training samples held out for validation [5000]", 0, 100000000, 0},
        {"no-normalize", OPT_FLAG, &c->no_normalize, "", "do not normalise by the training set's mean and std", 0, 0, 0},
        {"input", OPT_STRING, &c->input, "CxHxW", "image size for folders of images [3x32x32]", 0, 0, 0},
        {"seed", OPT_INT, &c->seed, "S", "random seed: same seed, same weights [1]", 0, 2147483647, 0},
        {"threads", OPT_INT, &c->threads, "T", "threads (results do not depend on it) [1]", 1, 1024, 0},
        {"out", OPT_STRING, &c->out, "FILE", "checkpoint to write after every epoch [model.ckpt]", 0, 0, 0},
        {"log", OPT_STRING, &c->log, "FILE", "CSV log, one line per epoch [OUT with .csv]", 0, 0, 0},
        {"plot", OPT_STRING, &c->plot, "FILE", "PNG plot of the log [OUT with .png]", 0, 0, 0},
        {"resume", OPT_STRING, &c->resume, "FILE", "continue the run saved in this checkpoint", 0, 0, 0},
        {NULL, 0, NULL, NULL, NULL, 0, 0, 0},
    };
    memcpy(o, table, sizeof table);
}

#define N_OPTS 25

static const char ABOUT[] =
    "Trains a network and evaluates it on the test set. A checkpoint is written after every\n"
    "epoch (atomically); --resume continues a run exactly as if it had not stopped.\n"
    "Augmentations (--augment, comma-separated): hflip[=P] vflip[=P] crop=PAD\n"
    "resized-crop=MIN_AREA rot90 rotate=DEG translate=FRAC brightness=B contrast=C grey=P\n"
    "cutout=SIZE noise=STD blur=SIGMA sobel.";

void cli_train_help(FILE *f) {
    train_cfg c;
    cli_opt o[N_OPTS];
    fill_opts(o, &c);
    cli_help(f, "cnn train [options]", ABOUT, o);
}

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

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

static uint64_t mix(uint64_t a, uint64_t b) {
    uint64_t z = a * 0x9e3779b97f4a7c15ULL + b + 0x632be59bd9b4e019ULL;
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

/* Growing text for the checkpoint metadata. */
typedef struct text {
    char *s;
    size_t len, cap;
} text;

static int text_add(text *t, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int text_add(text *t, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0) return 0;
    if (t->len + (size_t)n + 1 > t->cap) {
        size_t cap = (t->cap + (size_t)n + 1) * 2;
        char *s = realloc(t->s, cap);
        if (!s) return 0;
        t->s = s;
        t->cap = cap;
    }
    va_start(ap, fmt);
    vsnprintf(t->s + t->len, t->cap - t->len, fmt, ap);
    va_end(ap);
    t->len += (size_t)n;
    return 1;
}

/* The run's settings as "key=value" lines, from the option table. */
static int settings_text(text *t, const cli_opt *o) {
    for (int i = 0; RUN_KEYS[i]; i++)
        for (const cli_opt *p = o; p->name; p++) {
            if (strcmp(p->name, RUN_KEYS[i]) != 0) continue;
            int ok = 1;
            switch (p->kind) {
            case OPT_INT: ok = text_add(t, "%s=%d\n", p->name, *(int *)p->dst); break;
            case OPT_FLAG:
                if (*(int *)p->dst) ok = text_add(t, "%s=1\n", p->name);
                break;
            case OPT_FLOAT: ok = text_add(t, "%s=%.9g\n", p->name, (double)*(float *)p->dst); break;
            case OPT_STRING:
                if (*(const char **)p->dst)
                    ok = text_add(t, "%s=%s\n", p->name, *(const char **)p->dst);
                break;
            }
            if (!ok) return 0;
        }
    return 1;
}

/* Takes the run's settings from a checkpoint's metadata, refusing any given again. */
static int settings_from_meta(cli_opt *o, const char *meta, char **store) {
    for (int i = 0; RUN_KEYS[i]; i++) {
        cli_opt *p = cli_find(o, RUN_KEYS[i]);
        char val[4096];
        if (p->given) {
            fprintf(stderr, "cnn train: --%s cannot change when resuming: the run's settings "
                    "come from the checkpoint (only --epochs, --threads, --out, --log and --plot "
                    "may be given)\n", p->name);
            return 0;
        }
        if (!cli_meta_get(meta, p->name, val, sizeof val)) continue;
        if (p->kind == OPT_FLAG) {
            *(int *)p->dst = strcmp(val, "1") == 0;
            continue;
        }
        store[i] = malloc(strlen(p->name) + strlen(val) + 4);
        if (!store[i]) return 0;
        sprintf(store[i], "--%s=%s", p->name, val);
        const char *pos[1];
        int npos;
        cli_opt one[2] = {*p, {0}};
        if (!cli_parse("train", one, 1, &store[i], pos, 0, &npos)) return 0;
        if (p->kind == OPT_STRING) *(const char **)p->dst = strchr(store[i], '=') + 1;
    }
    return 1;
}

/* The progress line: on a terminal rewritten in place, elsewhere printed now and then. */
typedef struct progress {
    int tty;
    double start, last;
} progress;

static void show_progress(progress *p, int epoch, int epochs, int batch, int batches,
                          double loss, double acc, long images) {
    double t = now();
    int last_batch = batch == batches;
    if (p->tty) {
        if (t - p->last < 0.1 && !last_batch) return;
    } else if (batch % (batches / 4 > 0 ? batches / 4 : 1) != 0 || last_batch) {
        return;
    }
    p->last = t;
    double rate = images / (t - p->start + 1e-9);
    double eta = (batches - batch) * ((t - p->start) / batch);
    char bar[21];
    int fill = (int)(20.0 * batch / batches);
    for (int i = 0; i < 20; i++) bar[i] = i < fill ? '#' : '-';
    bar[20] = 0;
    fprintf(stderr, "%sepoch %d/%d [%s] %d/%d  %.0f img/s  loss %.4f  acc %.2f%%  ETA %d:%02d%s",
            p->tty ? "\r" : "", epoch, epochs, bar, batch, batches, rate, loss, 100 * acc,
            (int)eta / 60, (int)eta % 60, p->tty ? "\033[K" : "\n");
    fflush(stderr);
}

static int write_log(const char *path, const text *lines, char *err, size_t errlen) {
    char tmp[4200];
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    FILE *f = fopen(tmp, "w");
    if (!f) {
        snprintf(err, errlen, "%s: cannot create: %s", tmp, strerror(errno));
        return 0;
    }
    int ok = fputs("epoch,train_loss,train_acc,val_loss,val_acc,lr,seconds\n", f) >= 0 &&
             (lines->len == 0 || fwrite(lines->s, 1, lines->len, f) == lines->len);
    ok = (fclose(f) == 0) && ok;
    if (!ok || rename(tmp, path) != 0) {
        snprintf(err, errlen, "%s: cannot write: %s", path, strerror(errno));
        remove(tmp);
        return 0;
    }
    return 1;
}

int cli_train(int argc, char **argv) {
    train_cfg c = {.model = "lenet5", .data = "fashion-mnist", .opt = "adam",
                   .schedule = "constant", .augment = "none", .input = "3x32x32",
                   .out = "model.ckpt", .epochs = 10, .batch = 64, .seed = 1, .threads = 1,
                   .val = 5000, .lr = -1, .momentum = 0.9f, .gamma = 0.1f};
    cli_opt o[N_OPTS];
    fill_opts(o, &c);
    const char *pos[1];
    int npos, status = 1;
    char *stored[32] = {0};
    if (!cli_parse("train", o, argc, argv, pos, 0, &npos)) return 2;

    cnn_net *net = NULL;
    cnn_optim *opt = NULL;
    cnn_dataset *train = NULL, *val = NULL, *test = NULL;
    char *meta = NULL, *log_path = NULL, *plot_path = NULL;
    float *x = NULL, *scratch = NULL;
    int32_t *y = NULL, *perm = NULL;
    text log_lines = {0}, m = {0};
    char err[2048];
    int epochs_done = 0;

    if (c.resume) {
        if (cnn_checkpoint_load(c.resume, &net, &opt, &meta, err, sizeof err)) {
            fprintf(stderr, "cnn train: %s\n", err);
            goto out;
        }
        char buf[64];
        if (!opt || !cli_meta_get(meta, "epochs_done", buf, sizeof buf)) {
            fprintf(stderr, "cnn train: %s: no training state (optimiser, epochs done): was it "
                    "written by cnn train?\n", c.resume);
            goto out;
        }
        epochs_done = atoi(buf);
        if (!settings_from_meta(o, meta, stored)) {
            status = 2;
            goto out;
        }
    }
    /* Settings that depend on others. */
    int is_adam = !strcmp(c.opt, "adam") || !strcmp(c.opt, "adamw");
    if (!is_adam && strcmp(c.opt, "sgd") && strcmp(c.opt, "momentum") && strcmp(c.opt, "nesterov")) {
        fprintf(stderr, "cnn train: --opt %s: expected sgd, momentum, nesterov, adam or adamw\n", c.opt);
        status = 2;
        goto out;
    }
    if (c.lr < 0) c.lr = is_adam ? 0.001f : 0.01f;
    cnn_schedule sched = {.gamma = c.gamma, .min_lr = c.min_lr};
    if (!strcmp(c.schedule, "constant")) sched.kind = CNN_SCHEDULE_CONSTANT;
    else if (!strcmp(c.schedule, "step")) sched.kind = CNN_SCHEDULE_STEP;
    else if (!strcmp(c.schedule, "cosine")) sched.kind = CNN_SCHEDULE_COSINE;
    else {
        fprintf(stderr, "cnn train: --schedule %s: expected constant, step or cosine\n", c.schedule);
        status = 2;
        goto out;
    }
    cnn_augment aug;
    if (!cli_parse_augment("train", c.augment, &aug)) {
        status = 2;
        goto out;
    }
    int in_c, in_h, in_w;
    char tail;
    if (sscanf(c.input, "%dx%dx%d%c", &in_c, &in_h, &in_w, &tail) != 3 || in_c < 1 || in_h < 1 ||
        in_w < 1 || (in_c != 1 && in_c != 3)) {
        fprintf(stderr, "cnn train: --input %s: expected 1xHxW or 3xHxW\n", c.input);
        status = 2;
        goto out;
    }
    if (epochs_done >= c.epochs) {
        fprintf(stderr, "cnn train: %s has done %d epochs already; ask for more with --epochs\n",
                c.resume, epochs_done);
        status = 2;
        goto out;
    }

    /* Data: the training set less a seeded validation split, and the test set. The validation
     * samples move out of the training set (cnn_dataset_hold_out), so that the training set is
     * never in memory twice. */
    if (!cli_load_data("train", c.data, &train, &test, in_c, in_h, in_w)) goto out;
    if (c.val >= train->n) {
        fprintf(stderr, "cnn train: --val %d: the training set has only %d samples\n", c.val, train->n);
        status = 2;
        goto out;
    }
    if (c.val > 0 && cnn_dataset_hold_out(train, c.val, (uint64_t)c.seed, &val, err, sizeof err)) {
        fprintf(stderr, "cnn train: %s\n", err);
        goto out;
    }
    int C = train->shape.dim[0];
    float mean[3] = {0, 0, 0}, std[3] = {1, 1, 1};
    if (!c.no_normalize) cnn_dataset_stats(train, mean, std);
    for (int k = 0; k < C; k++)
        if (!(std[k] > 0)) std[k] = 1;
    if (c.batch > train->n) {
        fprintf(stderr, "cnn train: --batch %d: larger than the %d training samples\n", c.batch, train->n);
        status = 2;
        goto out;
    }

    /* Model and optimiser. */
    if (!net) {
        if (!cli_build_model("train", c.model, &train->shape, train->classes, (uint64_t)c.seed, &net))
            goto out;
        cnn_optim_config oc = cnn_optim_defaults(is_adam ? (!strcmp(c.opt, "adam") ? CNN_OPTIM_ADAM : CNN_OPTIM_ADAMW) : CNN_OPTIM_SGD, c.lr);
        if (!strcmp(c.opt, "momentum") || !strcmp(c.opt, "nesterov")) oc.momentum = c.momentum;
        oc.nesterov = !strcmp(c.opt, "nesterov");
        if (cli_find(o, "wd")->given || strcmp(c.opt, "adamw")) oc.weight_decay = c.wd;
        opt = cnn_optim_new(net, &oc);
        if (!opt) {
            fprintf(stderr, "cnn train: %s\n", cnn_net_last_error(net));
            goto out;
        }
    }
    if (cnn_net_set_threads(net, c.threads) || cnn_net_prepare(net, c.batch)) {
        fprintf(stderr, "cnn train: %s\n", cnn_net_last_error(net));
        goto out;
    }
    int batches = train->n / c.batch; /* the last partial batch is dropped (batch norm) */
    int64_t total_steps = (int64_t)batches * c.epochs;
    sched.warmup_steps = (int64_t)c.warmup * batches;
    if (!c.step_size) c.step_size = c.epochs / 3 > 0 ? c.epochs / 3 : 1; /* kept in the checkpoint */
    sched.step_size = (int64_t)c.step_size * batches;
    sched.total_steps = total_steps;

    size_t numel = cnn_shape_numel(&train->shape);
    x = malloc((size_t)c.batch * numel * sizeof *x);
    scratch = malloc(2 * numel * sizeof *scratch);
    y = malloc((size_t)c.batch * sizeof *y);
    perm = malloc((size_t)train->n * sizeof *perm);
    log_path = c.log ? strdup(c.log) : with_ext(c.out, ".csv");
    plot_path = c.plot ? strdup(c.plot) : with_ext(c.out, ".png");
    if (!x || !scratch || !y || !perm || !log_path || !plot_path) {
        fprintf(stderr, "cnn train: out of memory\n");
        goto out;
    }
    /* The log so far, from the checkpoint. */
    for (int e = 1; e <= epochs_done; e++) {
        char key[32], line[512];
        snprintf(key, sizeof key, "log.%d", e);
        if (cli_meta_get(meta, key, line, sizeof line)) text_add(&log_lines, "%s\n", line);
    }

    printf("model %s: %zu parameters; data %s: %d training, %d validation, %d test samples of %d"
           "x%dx%d, %d classes\n",
           c.model, cnn_net_param_count(net), c.data, train->n, val ? val->n : 0, test->n,
           train->shape.dim[0], train->shape.dim[1], train->shape.dim[2], train->classes);
    printf("optimiser %s, lr %g (%s schedule), batch %d, %d epochs, seed %d, %d thread%s%s%s\n",
           c.opt, (double)c.lr, c.schedule, c.batch, c.epochs, c.seed, c.threads,
           c.threads > 1 ? "s" : "", strcmp(c.augment, "none") ? ", augment " : "",
           strcmp(c.augment, "none") ? c.augment : "");
    if (epochs_done) printf("resuming from %s after epoch %d\n", c.resume, epochs_done);
    fflush(stdout);

    progress pr = {.tty = cli_is_tty()};
    for (int epoch = epochs_done; epoch < c.epochs; epoch++) {
        double t0 = now(), sum_loss = 0;
        long correct = 0, seen = 0;
        pr.start = t0;
        pr.last = 0;
        cnn_permutation(train->n, mix((uint64_t)c.seed, (uint64_t)epoch), perm);
        cnn_net_set_training(net, 1);
        cnn_net_set_input_grads(net, 0); /* training never reads the images' gradient */
        float lr = c.lr;
        for (int b = 0; b < batches; b++) {
            int64_t step = (int64_t)epoch * batches + b;
            lr = cnn_schedule_lr(&sched, c.lr, step);
            cnn_optim_set_lr(opt, lr);
            cnn_dataset_batch(train, perm + (size_t)b * c.batch, c.batch, &aug,
                              mix((uint64_t)c.seed, 1000003ULL * (uint64_t)epoch + 1), mean, std,
                              x, y, scratch);
            float loss;
            cnn_net_zero_grad(net);
            cnn_status st = cnn_net_forward(net, x, c.batch);
            if (!st) st = cnn_net_loss(net, CNN_LOSS_SOFTMAX_CE, y, &loss);
            if (!st) st = cnn_net_backward(net);
            float norm = st ? 0 : cnn_net_clip_grad_norm(net, c.clip > 0 ? c.clip : INFINITY);
            if (st || !isfinite(norm)) {
                char where[512] = "no layer holds a non-finite value";
                cnn_net_find_nonfinite(net, where, sizeof where);
                fprintf(stderr, "%scnn train: training stopped at epoch %d, step %d: %s; %s\n",
                        pr.tty ? "\n" : "", epoch + 1, b + 1,
                        st ? cnn_net_last_error(net) : "the gradient is not finite", where);
                goto out;
            }
            cnn_optim_step(opt);
            const float *z = cnn_net_output(net);
            int K = train->classes;
            for (int i = 0; i < c.batch; i++) {
                int best = 0;
                for (int k = 1; k < K; k++)
                    if (z[i * K + k] > z[i * K + best]) best = k;
                correct += best == y[i];
            }
            sum_loss += loss;
            seen += c.batch;
            show_progress(&pr, epoch + 1, c.epochs, b + 1, batches, sum_loss / (b + 1),
                          (double)correct / seen, seen);
        }
        double train_loss = sum_loss / batches, train_acc = (double)correct / seen;
        /* The rate counts the training steps only (as the PyTorch twin in bench/ does), the
         * epoch's seconds the validation too. */
        double rate = seen / (now() - t0);
        cnn_metrics vm = {0};
        if (val && cnn_evaluate(net, val, mean, std, &vm)) {
            fprintf(stderr, "\ncnn train: %s\n", cnn_net_last_error(net));
            goto out;
        }
        double secs = now() - t0;
        if (pr.tty) fprintf(stderr, "\r\033[K");
        if (val)
            printf("epoch %2d/%d  train loss %.4f acc %.2f%%  val loss %.4f acc %.2f%%  lr %.3g  %.1fs  (%.0f img/s)\n",
                   epoch + 1, c.epochs, train_loss, 100 * train_acc, vm.loss, 100 * vm.top1,
                   (double)lr, secs, rate);
        else
            printf("epoch %2d/%d  train loss %.4f acc %.2f%%  lr %.3g  %.1fs  (%.0f img/s)\n",
                   epoch + 1, c.epochs, train_loss, 100 * train_acc, (double)lr, secs, rate);
        fflush(stdout);
        char line[512];
        if (val)
            snprintf(line, sizeof line, "%d,%.6f,%.6f,%.6f,%.6f,%.6g,%.2f", epoch + 1, train_loss,
                     train_acc, vm.loss, vm.top1, (double)lr, secs);
        else
            snprintf(line, sizeof line, "%d,%.6f,%.6f,,,%.6g,%.2f", epoch + 1, train_loss,
                     train_acc, (double)lr, secs);
        cnn_metrics_free(&vm);
        text_add(&log_lines, "%s\n", line);

        /* Checkpoint: the weights, the optimiser, and the whole run's settings and log. */
        m.len = 0;
        if (!settings_text(&m, o) || !text_add(&m, "epochs=%d\nepochs_done=%d\n", c.epochs, epoch + 1)) goto oom;
        text_add(&m, "mean=%.9g", (double)mean[0]);
        for (int k = 1; k < C; k++) text_add(&m, ",%.9g", (double)mean[k]);
        text_add(&m, "\nstd=%.9g", (double)std[0]);
        for (int k = 1; k < C; k++) text_add(&m, ",%.9g", (double)std[k]);
        text_add(&m, "\nclasses=");
        for (int k = 0; k < train->classes; k++) text_add(&m, "%s%s", k ? "|" : "", train->class_names[k]);
        text_add(&m, "\n");
        int e = 1;
        for (const char *p = log_lines.s; p && *p; e++) {
            const char *nl = strchr(p, '\n');
            if (!text_add(&m, "log.%d=%.*s\n", e, (int)(nl - p), p)) goto oom;
            p = nl + 1;
        }
        if (cnn_checkpoint_save(c.out, net, opt, m.s, err, sizeof err) ||
            !write_log(log_path, &log_lines, err, sizeof err)) {
            fprintf(stderr, "cnn train: %s\n", err);
            goto out;
        }
        if (cnn_plot_training_csv(log_path, plot_path, err, sizeof err)) {
            fprintf(stderr, "cnn train: %s\n", err);
            goto out;
        }
    }

    cnn_metrics tm;
    if (cnn_evaluate(net, test, mean, std, &tm)) {
        fprintf(stderr, "cnn train: %s\n", cnn_net_last_error(net));
        goto out;
    }
    printf("test: %d samples, loss %.4f, top-1 %.2f%%, top-5 %.2f%%\n", tm.n, tm.loss,
           100 * tm.top1, 100 * tm.top5);
    printf("wrote the model to %s, the log to %s and its plot to %s\n", c.out, log_path, plot_path);
    cnn_metrics_free(&tm);
    status = 0;
    goto out;
oom:
    fprintf(stderr, "cnn train: out of memory\n");
out:
    for (int i = 0; i < 32; i++) free(stored[i]);
    free(log_lines.s);
    free(m.s);
    free(x);
    free(scratch);
    free(y);
    free(perm);
    free(log_path);
    free(plot_path);
    free(meta);
    cnn_optim_free(opt);
    cnn_net_free(net);
    cnn_dataset_free(train);
    cnn_dataset_free(val);
    cnn_dataset_free(test);
    return status;
}

/*
 * ensemble.c - `cnn ensemble A.ckpt B.ckpt ... --out E.ckpt`: trained models as one
 * (cnn_net_ensemble: the mean of their scores), with the test accuracy of each member and of
 * the ensemble, so that what it gains is seen before the file is used.
 */
#include "cli.h"
#include "common.h"
#include "opts.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

enum { MAX_MEMBERS = 8 };

typedef struct ensemble_cfg {
    const char *data, *out;
    int threads, batch, force;
} ensemble_cfg;

#define N_OPTS 6

static void fill_opts(cli_opt *o, ensemble_cfg *c) {
    cli_opt table[N_OPTS] = {
        {"out", OPT_STRING, &c->out, "E.ckpt", "where to write the ensemble (required)", 0, 0, 0},
        {"data", OPT_STRING, &c->data, "NAME|DIR", "the data set whose test part measures the members and the ensemble [the first model's]", 0, 0, 0},
        {"batch", OPT_INT, &c->batch, "B", "samples per forward pass when evaluating [256]", 1, 65536, 0},
        {"threads", OPT_INT, &c->threads, "T", "threads [all, at most 8]", 1, 1024, 0},
        {"force", OPT_FLAG, &c->force, "", "replace --out when it exists", 0, 0, 0},
        {NULL, 0, NULL, NULL, NULL, 0, 0, 0},
    };
    memcpy(o, table, sizeof table);
}

static const char ABOUT[] =
    "Puts 2 to 8 trained models together as one: an ensemble whose scores are the mean of\n"
    "theirs (for classifiers the mean of the logits, before the softmax). The models must take\n"
    "the same input, give the same outputs and have the same preprocessing (classes, test-time\n"
    "views; a normalisation that differs is mapped by a layer mk.renorm): models trained by\n"
    "cnn train on one data set with different seeds, say. Prints the test result of each and\n"
    "of the ensemble, then writes the ensemble, a checkpoint every command takes as a model\n"
    "(member k's layers are named mk.NAME).";

void cli_ensemble_help(FILE *f) {
    ensemble_cfg c;
    cli_opt o[N_OPTS];
    fill_opts(o, &c);
    cli_help(f, "cnn ensemble MODEL MODEL... --out E.ckpt [options]", ABOUT, o);
}

/* Prints one line of the table: the test result of net; 0 after printing the error. */
static int report(const char *name, cnn_net *net, const cnn_dataset *test, const ensemble_cfg *c) {
    cnn_metrics m = {0};
    if (cnn_net_set_threads(net, c->threads) || cnn_net_prepare(net, c->batch) ||
        cnn_evaluate_task(net, test, &m)) {
        fprintf(stderr, "cnn ensemble: %s: %s\n", name, cnn_net_last_error(net));
        cnn_metrics_free(&m);
        return 0;
    }
    cnn_task task = cnn_net_preprocess(net)->task;
    if (task == CNN_TASK_CLASSIFICATION)
        printf("  %-24s top-1 %.2f%%  top-5 %.2f%%  loss %.4f\n", name, 100 * m.top1,
               100 * m.top5, m.loss);
    else if (task == CNN_TASK_SEGMENTATION)
        printf("  %-24s pixel accuracy %.2f%%  mean IoU %.4f  loss %.4f\n", name, 100 * m.top1,
               m.iou, m.loss);
    else
        printf("  %-24s loss %.6f\n", name, m.loss);
    cnn_metrics_free(&m);
    return 1;
}

/* Loads the members (the first one's metadata into *meta). */
static int load_members(const char **paths, int n, cnn_net **m, char **meta) {
    char err[2048];
    for (int k = 0; k < n; k++)
        if (cnn_net_load_meta(paths[k], &m[k], k ? NULL : meta, err, sizeof err)) {
            fprintf(stderr, "cnn ensemble: %s\n", err);
            return 0;
        }
    return 1;
}

int cli_ensemble(int argc, char **argv) {
    ensemble_cfg c = {.threads = cnn_cpu_count() < 8 ? cnn_cpu_count() : 8, .batch = 256};
    cli_opt o[N_OPTS];
    fill_opts(o, &c);
    const char *pos[MAX_MEMBERS + 1];
    int n;
    if (!cli_parse("ensemble", o, argc, argv, pos, MAX_MEMBERS + 1, &n)) return 2;
    if (n < 2 || n > MAX_MEMBERS || !c.out) {
        fprintf(stderr, "cnn ensemble: give 2 to %d models and --out (usage: cnn ensemble MODEL "
                "MODEL... --out E.ckpt [options])%s\n", MAX_MEMBERS,
                n > MAX_MEMBERS ? "; more were given" : "");
        return 2;
    }
    if (!c.force && access(c.out, F_OK) == 0) {
        fprintf(stderr, "cnn ensemble: %s exists: give --force to replace it\n", c.out);
        return 2;
    }
    cnn_net *m[MAX_MEMBERS] = {0}, *e = NULL;
    cnn_dataset *test = NULL;
    char *meta = NULL, data[4096], err[2048], out_meta[4200];
    int status = 1;
    if (!load_members(pos, n, m, &meta)) goto out;
    if (cnn_net_ensemble(m, n, &e, err, sizeof err)) {
        fprintf(stderr, "cnn ensemble: %s\n", err);
        goto out;
    }
    if (!(c.data = cli_data_spec("ensemble", c.data, pos[0], meta, data, sizeof data))) {
        status = 2;
        goto out;
    }
    if (!cli_load_model_data("ensemble", c.data, e, NULL, &test)) goto out;
    printf("on the test set of %s (%d samples):\n", c.data, test->n);
    for (int k = 0; k < n; k++)
        if (!report(pos[k], m[k], test, &c)) goto out;
    char name[32];
    snprintf(name, sizeof name, "the ensemble of %d", n);
    if (!report(name, e, test, &c)) goto out;
    snprintf(out_meta, sizeof out_meta, "cli.data=%s\n", c.data);
    if (cnn_checkpoint_save(c.out, e, NULL, out_meta, err, sizeof err)) {
        fprintf(stderr, "cnn ensemble: %s\n", err);
        goto out;
    }
    printf("wrote %s (%zu parameters)\n", c.out, cnn_net_param_count(e));
    status = 0;
out:
    cnn_dataset_free(test);
    cnn_net_free(e);
    for (int k = 0; k < n && k < MAX_MEMBERS; k++) cnn_net_free(m[k]);
    free(meta);
    return status;
}

/*
 * eval.c - `cnn eval MODEL.ckpt`: loss, top-1, top-5, per-class accuracy and the confusion
 * matrix of a trained model on a data set's test part (or on the validation samples its training
 * held out: --split val), as a table or as one JSON object.
 */
#include "cli.h"
#include "common.h"
#include "opts.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

typedef struct eval_cfg {
    const char *data, *split;
    int json, threads, batch, fuse;
    int tta, no_tta, tta_shift, tta_diagonal; /* overrides of the model's test-time views
                                               * (tta_shift -1: the model's) */
} eval_cfg;

/* The options' table, its targets in the eval_cfg *c. */
#define EVAL_OPTIONS(c)                                                                   \
    {                                                                                     \
        {"data", OPT_STRING, &(c)->data, "NAME|DIR", "the data set whose test part to use [the model's]", 0, 0, 0}, \
        {"split", OPT_STRING, &(c)->split, "test|val", "the samples to evaluate: the data set's test part, or the validation samples the model's training held out (cnn train --val), drawn again as it drew them [test]", 0, 0, 0}, \
        {"json", OPT_FLAG, &(c)->json, "", "print one JSON object (top1, top5, loss, n, per_class, confusion)", 0, 0, 0}, \
        {"batch", OPT_INT, &(c)->batch, "B", "samples per forward pass [256]", 1, 65536, 0}, \
        {"threads", OPT_INT, &(c)->threads, "T", "threads [1]", 1, 1024, 0},              \
        {"fuse", OPT_FLAG, &(c)->fuse, "", "evaluate the inference form: batch norm folded into the convolutions, ReLUs applied by the convolutions and sums before them (cnn_net_fuse)", 0, 0, 0}, \
        {"tta", OPT_FLAG, &(c)->tta, "", "test-time flips: the mean scores of each image and its mirror image, whatever the model keeps [the model's]", 0, 0, 0}, \
        {"tta-shift", OPT_INT, &(c)->tta_shift, "S", "test-time views shifted by S pixels up, down, left and right (0: none; without --tta-diagonal, not along the diagonals), whatever the model keeps [the model's]", 0, 1024, 0}, \
        {"tta-diagonal", OPT_FLAG, &(c)->tta_diagonal, "", "test-time views shifted along both axes at once too (the four diagonals), by --tta-shift's pixels or the model's", 0, 0, 0}, \
        {"no-tta", OPT_FLAG, &(c)->no_tta, "", "no test-time views: each image alone, whatever the model keeps", 0, 0, 0}, \
        {NULL, 0, NULL, NULL, NULL, 0, 0, 0},                                             \
    }

static const char ABOUT[] = "Evaluates a trained model (a checkpoint written by cnn train, or an ONNX model) on the test set, or on the validation samples its training held out.";

void cli_eval_help(FILE *f) {
    eval_cfg c;
    cli_opt o[] = EVAL_OPTIONS(&c);
    cli_help(f, "cnn eval MODEL.ckpt [options]", ABOUT, o);
}

/* The share of class k's samples (pixels) predicted as k. */
static double recall(const cnn_metrics *m, int k) {
    int64_t total = 0, K = m->classes;
    for (int j = 0; j < K; j++) total += m->confusion[k * K + j];
    return total ? (double)m->confusion[k * K + k] / (double)total : 0.0;
}

static void print_json(const char *model, const char *data, const char *split,
                       const cnn_net *net, const cnn_metrics *m) {
    int K = m->classes;
    printf("{\"model\": ");
    cli_json_str(model);
    printf(", \"data\": ");
    cli_json_str(data);
    printf(", \"split\": \"%s\"", split);
    const cnn_preprocess *pp = cnn_net_preprocess(net);
    printf(", \"task\": \"%s\", \"n\": %d, \"loss\": %.6f", cnn_task_name(pp->task), m->n,
           m->loss);
    printf(", \"tta_flips\": %d, \"tta_shift\": %d, \"tta_diagonal\": %d", pp->hflip_tta,
           pp->tta_shift, pp->tta_diagonal);
    if (K) printf(", \"top1\": %.6f, \"top5\": %.6f", m->top1, m->top5);
    if (pp->task == CNN_TASK_SEGMENTATION) printf(", \"iou\": %.6f", m->iou);
    if (K) printf(", \"per_class\": {");
    for (int k = 0; k < K; k++) {
        printf("%s", k ? ", " : "");
        cli_json_str(cnn_net_class_name(net, k));
        printf(": %.6f", recall(m, k));
    }
    if (K) printf("}, \"confusion\": [");
    for (int k = 0; k < K; k++) {
        printf("%s[", k ? ", " : "");
        for (int j = 0; j < K; j++)
            printf("%s%lld", j ? ", " : "", (long long)m->confusion[(size_t)k * K + j]);
        printf("]");
    }
    printf("%s}\n", K ? "]" : "");
}

/* asked: the views are those of --tta, --tta-shift or --no-tta, not the model's own. */
static void print_table(const char *model, const char *data, int val, const cnn_net *net,
                        const cnn_metrics *m, int asked) {
    int K = m->classes;
    const cnn_preprocess *pp = cnn_net_preprocess(net);
    char views[256] = "", shifted[96] = "";
    if (pp->tta_shift)
        snprintf(shifted, sizeof shifted, " shifted by %d pixel%s up, down, left and right%s",
                 pp->tta_shift, pp->tta_shift > 1 ? "s" : "",
                 pp->tta_diagonal ? " and along the diagonals" : "");
    if (pp->hflip_tta || pp->tta_shift)
        snprintf(views, sizeof views, " (scores of each image%s%s averaged: %s test-time "
                 "%s)", !pp->hflip_tta ? " and it" : pp->tta_shift
                 ? ", its mirror image and both" : " and its mirror image", shifted,
                 asked ? "the options'" : "the model's", pp->tta_shift ? "augmentation" : "flips");
    else if (asked)
        snprintf(views, sizeof views, " (each image alone: no test-time views)");
    printf("%s on %s: %d %s%s\n", model, data, m->n,
           val ? "validation samples (held out by its training)" : "samples", views);
    if (!K) {
        printf("loss (%s) %.6f\n", cnn_loss_name(cnn_net_preprocess(net)->loss), m->loss);
        return;
    }
    if (cnn_net_preprocess(net)->task == CNN_TASK_SEGMENTATION)
        printf("loss %.4f   pixel accuracy %.2f%%   mean IoU %.4f\n\nper class (pixels):\n",
               m->loss, 100 * m->top1, m->iou);
    else
        printf("loss %.4f   top-1 %.2f%%   top-5 %.2f%%\n\nper class:\n", m->loss,
               100 * m->top1, 100 * m->top5);
    for (int k = 0; k < K; k++)
        printf("  %2d %-14s %6.2f%%\n", k, cnn_net_class_name(net, k), 100 * recall(m, k));
    printf("\nconfusion matrix (rows: true class, columns: predicted):\n     ");
    for (int j = 0; j < K; j++) printf("%6d", j);
    printf("\n");
    for (int k = 0; k < K; k++) {
        printf("  %2d ", k);
        for (int j = 0; j < K; j++) printf("%6lld", (long long)m->confusion[(size_t)k * K + j]);
        printf("\n");
    }
}

/* Whether --tta, --tta-shift, --tta-diagonal or --no-tta ask for other views than the model's. */
static int views_asked(const eval_cfg *c) {
    return c->tta || c->no_tta || c->tta_shift >= 0 || c->tta_diagonal;
}

/* The model's test-time views, changed as --tta, --tta-shift, --tta-diagonal and --no-tta
 * say: --tta-shift S sets the shifts, along the diagonals too only with --tta-diagonal;
 * --tta-diagonal alone adds the diagonals to the model's shifts. */
static int set_views(const eval_cfg *c, cnn_net *net) {
    if (!views_asked(c)) return 1;
    if (c->no_tta && (c->tta || c->tta_shift > 0 || c->tta_diagonal)) {
        fprintf(stderr, "cnn eval: --no-tta (each image alone) contradicts %s: give one or "
                "the other\n",
                c->tta ? "--tta" : c->tta_shift > 0 ? "--tta-shift" : "--tta-diagonal");
        return 0;
    }
    cnn_preprocess p = *cnn_net_preprocess(net);
    if (c->tta) p.hflip_tta = 1;
    if (c->no_tta) p.hflip_tta = p.tta_shift = p.tta_diagonal = 0;
    if (c->tta_shift >= 0) p.tta_shift = c->tta_shift, p.tta_diagonal = 0;
    if (c->tta_diagonal) p.tta_diagonal = 1;
    if (cnn_net_set_preprocess(net, &p)) {
        fprintf(stderr, "cnn eval: %s\n", cnn_net_last_error(net));
        return 0;
    }
    return 1;
}

int cli_eval(int argc, char **argv) {
    eval_cfg c = {.split = "test", .threads = 1, .batch = 256, .tta_shift = -1};
    cli_opt o[] = EVAL_OPTIONS(&c);
    const char *pos[1];
    int npos;
    if (!cli_parse("eval", o, argc, argv, pos, 1, &npos)) return 2;
    if (npos != 1) {
        fprintf(stderr, "cnn eval: give one model (usage: cnn eval MODEL.ckpt|MODEL.onnx [options])\n");
        return 2;
    }
    int val = !strcmp(c.split, "val");
    if (!val && strcmp(c.split, "test")) {
        fprintf(stderr, "cnn eval: --split %s: expected test or val\n", c.split);
        return 2;
    }
    cnn_net *net = NULL;
    char data[4096], err[2048];
    int status = 1;
    cnn_dataset *train = NULL, *test = NULL;
    cnn_metrics m = {0};
    char *meta = NULL; /* the checkpoint's: its data set, and how its training drew --val */
    if (val && access(pos[0], F_OK) == 0 && !cnn_is_checkpoint(pos[0])) {
        fprintf(stderr, "cnn eval: --split val: %s is not a checkpoint of cnn train, which alone "
                "records the validation samples it held out\n", pos[0]);
        return 2;
    }
    if (cnn_net_load_meta(pos[0], &net, &meta, err, sizeof err)) {
        fprintf(stderr, "cnn eval: %s\n", err);
        return 1;
    }
    if (c.fuse && !cli_fuse("eval", &net)) goto out;
    if (!set_views(&c, net)) {
        status = 2;
        goto out;
    }
    if (!(c.data = cli_data_spec("eval", c.data, pos[0], meta, data, sizeof data))) {
        status = 2;
        goto out;
    }
    /* With --split val the training set is loaded instead of the test set, and the samples
     * its run held out take the test set's place. */
    if (!cli_load_model_data("eval", c.data, net, val ? &train : NULL, val ? NULL : &test) ||
        (val && !cli_checkpoint_val("eval", pos[0], meta, train, &test)))
        goto out;
    if (cnn_net_set_threads(net, c.threads) || cnn_net_prepare(net, c.batch) ||
        cnn_evaluate_task(net, test, &m)) {
        fprintf(stderr, "cnn eval: %s\n", cnn_net_last_error(net));
        goto out;
    }
    if (c.json) print_json(pos[0], c.data, c.split, net, &m);
    else print_table(pos[0], c.data, val, net, &m, views_asked(&c));
    status = 0;
out:
    cnn_metrics_free(&m);
    cnn_dataset_free(test);
    cnn_dataset_free(train);
    cnn_net_free(net);
    free(meta);
    return status;
}

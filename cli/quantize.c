/*
 * quantize.c - `cnn quantize MODEL.ckpt --out Q.ckpt`: the model for 8-bit inference
 * (cnn_net_quantize: fused, every convolution in 8-bit integers, its input's range calibrated
 * on training images), with the test accuracy of both forms so that what the 8 bits cost is
 * seen before the file is used.
 */
#include "cli.h"
#include "common.h"
#include "opts.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

typedef struct quant_cfg {
    const char *data, *out;
    int calib, threads, batch, force;
} quant_cfg;

#define N_OPTS 7

static void fill_opts(cli_opt *o, quant_cfg *c) {
    cli_opt table[N_OPTS] = {
        {"out", OPT_STRING, &c->out, "Q.ckpt", "where to write the quantised model (required)", 0, 0, 0},
        {"data", OPT_STRING, &c->data, "NAME|DIR", "the data set: training images calibrate, the test part measures [the model's]", 0, 0, 0},
        {"calib", OPT_INT, &c->calib, "N", "training images whose values set each convolution's input range [512]", 1, 1 << 20, 0},
        {"batch", OPT_INT, &c->batch, "B", "samples per forward pass when evaluating [256]", 1, 65536, 0},
        {"threads", OPT_INT, &c->threads, "T", "threads [1]", 1, 1024, 0},
        {"force", OPT_FLAG, &c->force, "", "replace --out when it exists", 0, 0, 0},
        {NULL, 0, NULL, NULL, NULL, 0, 0, 0},
    };
    memcpy(o, table, sizeof table);
}

static const char ABOUT[] =
    "Quantises a trained model for 8-bit inference: batch norm folded into the convolutions,\n"
    "each convolution's weights to 8 bits per output channel and its input to 8 bits over the\n"
    "range it takes on --calib training images, its sums in integers (VNNI where the CPU has\n"
    "it). Prints the test accuracy of the float and of the 8-bit model, then writes the 8-bit\n"
    "one: every command takes it as a model (eval, predict, serve, viz; not train or export).";

void cli_quantize_help(FILE *f) {
    quant_cfg c;
    cli_opt o[N_OPTS];
    fill_opts(o, &c);
    cli_help(f, "cnn quantize MODEL.ckpt --out Q.ckpt [options]", ABOUT, o);
}

/* Top-1 of net on test (the loss for regression), or -1 after printing the error. */
static double accuracy(cnn_net *net, const cnn_dataset *test, const quant_cfg *c,
                       double *loss) {
    cnn_metrics m = {0};
    if (cnn_net_set_threads(net, c->threads) || cnn_net_prepare(net, c->batch) ||
        cnn_evaluate_task(net, test, &m)) {
        fprintf(stderr, "cnn quantize: %s\n", cnn_net_last_error(net));
        cnn_metrics_free(&m);
        return -1;
    }
    double top1 = m.classes ? m.top1 : 0;
    *loss = m.loss;
    cnn_metrics_free(&m);
    return top1;
}

/* Quantises net, compares, writes. Returns the exit code. */
static int quantize(const char *model, cnn_net *net, const cnn_dataset *train,
                    const cnn_dataset *test, const quant_cfg *c, const char *data) {
    char err[2048], meta[4200];
    cnn_net *q = NULL;
    int calib = c->calib < train->n ? c->calib : train->n;
    if (cnn_net_set_threads(net, c->threads)) {
        fprintf(stderr, "cnn quantize: %s\n", cnn_net_last_error(net));
        return 1;
    }
    if (cnn_net_quantize(net, train, calib, &q, err, sizeof err)) {
        fprintf(stderr, "cnn quantize: %s\n", err);
        return 1;
    }
    double lf, lq, af = accuracy(net, test, c, &lf), aq = af < 0 ? -1 : accuracy(q, test, c, &lq);
    int status = 1;
    if (aq >= 0) {
        int classes = cnn_net_preprocess(q)->task != CNN_TASK_REGRESSION;
        printf("%s on %s (%d test samples, calibrated on %d training images):\n", model, data,
               test->n, calib);
        if (classes)
            printf("  float32  top-1 %.2f%%  loss %.4f\n  int8     top-1 %.2f%%  loss %.4f  "
                   "(%+.2f points)\n",
                   100 * af, lf, 100 * aq, lq, 100 * (aq - af));
        else
            printf("  float32  loss %.6f\n  int8     loss %.6f\n", lf, lq);
        snprintf(meta, sizeof meta, "cli.data=%s\nquantized_from=%s\n", data, model);
        if (cnn_checkpoint_save(c->out, q, NULL, meta, err, sizeof err))
            fprintf(stderr, "cnn quantize: %s\n", err);
        else {
            printf("wrote %s\n", c->out);
            status = 0;
        }
    }
    cnn_net_free(q);
    return status;
}

int cli_quantize(int argc, char **argv) {
    quant_cfg c = {.calib = 512, .threads = 1, .batch = 256};
    cli_opt o[N_OPTS];
    fill_opts(o, &c);
    const char *pos[1];
    int npos;
    if (!cli_parse("quantize", o, argc, argv, pos, 1, &npos)) return 2;
    if (npos != 1 || !c.out) {
        fprintf(stderr, "cnn quantize: give one model and --out (usage: cnn quantize MODEL.ckpt "
                        "--out Q.ckpt [options])\n");
        return 2;
    }
    if (!c.force && access(c.out, F_OK) == 0) {
        fprintf(stderr, "cnn quantize: %s exists: give --force to replace it\n", c.out);
        return 2;
    }
    cnn_net *net = NULL;
    char data[4096], err[2048];
    cnn_dataset *train = NULL, *test = NULL;
    int status = 1;
    char *meta = NULL;
    if (cnn_net_load_meta(pos[0], &net, &meta, err, sizeof err)) {
        fprintf(stderr, "cnn quantize: %s\n", err);
        return 1;
    }
    if (!(c.data = cli_data_spec("quantize", c.data, pos[0], meta, data, sizeof data))) {
        status = 2;
        goto out;
    }
    if (cli_load_model_data("quantize", c.data, net, &train, &test))
        status = quantize(pos[0], net, train, test, &c, c.data);
out:
    cnn_dataset_free(train);
    cnn_dataset_free(test);
    cnn_net_free(net);
    free(meta);
    return status;
}

/*
 * eval.c - `cnn eval MODEL.ckpt`: loss, top-1, top-5, per-class accuracy and the confusion
 * matrix of a trained model on a data set's test part, as a table or as one JSON object.
 */
#include "cli.h"
#include "common.h"
#include "opts.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct eval_cfg {
    const char *data;
    int json, threads, batch;
} eval_cfg;

static void fill_opts(cli_opt *o, eval_cfg *c) {
    cli_opt table[] = {
        {"data", OPT_STRING, &c->data, "NAME|DIR", "the data set whose test part to use [the model's]", 0, 0, 0},
        {"json", OPT_FLAG, &c->json, "", "print one JSON object (top1, top5, loss, n, per_class, confusion)", 0, 0, 0},
        {"batch", OPT_INT, &c->batch, "B", "samples per forward pass [256]", 1, 65536, 0},
        {"threads", OPT_INT, &c->threads, "T", "threads [1]", 1, 1024, 0},
        {NULL, 0, NULL, NULL, NULL, 0, 0, 0},
    };
    memcpy(o, table, sizeof table);
}

static const char ABOUT[] = "Evaluates a checkpoint written by cnn train on the test set.";

void cli_eval_help(FILE *f) {
    eval_cfg c;
    cli_opt o[5];
    fill_opts(o, &c);
    cli_help(f, "cnn eval MODEL.ckpt [options]", ABOUT, o);
}

/* Writes s as a JSON string. */
static void json_str(const char *s) {
    putchar('"');
    for (; *s; s++) {
        if (*s == '"' || *s == '\\') printf("\\%c", *s);
        else if ((unsigned char)*s < 32) printf("\\u%04x", *s);
        else putchar(*s);
    }
    putchar('"');
}

int cli_eval(int argc, char **argv) {
    eval_cfg c = {.threads = 1, .batch = 256};
    cli_opt o[5];
    fill_opts(o, &c);
    const char *pos[1];
    int npos;
    if (!cli_parse("eval", o, argc, argv, pos, 1, &npos)) return 2;
    if (npos != 1) {
        fprintf(stderr, "cnn eval: give one checkpoint (usage: cnn eval MODEL.ckpt [options])\n");
        return 2;
    }
    cnn_net *net = NULL;
    char *meta = NULL, **names = NULL, data[4096];
    int n_names = 0, status = 1;
    float mean[3], std[3];
    cnn_dataset *test = NULL;
    cnn_metrics m = {0};
    if (!cli_load_model("eval", pos[0], &net, &meta, &names, &n_names, mean, std)) return 1;
    if (!c.data) {
        if (!cli_meta_get(meta, "data", data, sizeof data)) {
            fprintf(stderr, "cnn eval: %s does not say its data set: give --data\n", pos[0]);
            status = 2;
            goto out;
        }
        c.data = data;
    }
    cnn_shape in = cnn_net_input_shape(net, 0);
    if (!cli_load_data("eval", c.data, NULL, &test, in.dim[0], in.dim[1], in.dim[2])) goto out;
    if (test->classes != n_names) {
        fprintf(stderr, "cnn eval: the model knows %d classes, the data set %s has %d\n", n_names,
                c.data, test->classes);
        goto out;
    }
    if (cnn_net_set_threads(net, c.threads) || cnn_net_prepare(net, c.batch) ||
        cnn_evaluate(net, test, mean, std, &m)) {
        fprintf(stderr, "cnn eval: %s\n", cnn_net_last_error(net));
        goto out;
    }
    int K = m.classes;
    if (c.json) {
        printf("{\"model\": ");
        json_str(pos[0]);
        printf(", \"data\": ");
        json_str(c.data);
        printf(", \"n\": %d, \"loss\": %.6f, \"top1\": %.6f, \"top5\": %.6f, \"per_class\": {", m.n,
               m.loss, m.top1, m.top5);
        for (int k = 0; k < K; k++) {
            int64_t total = 0;
            for (int j = 0; j < K; j++) total += m.confusion[(size_t)k * K + j];
            printf("%s", k ? ", " : "");
            json_str(names[k]);
            printf(": %.6f", total ? (double)m.confusion[(size_t)k * K + k] / total : 0.0);
        }
        printf("}, \"confusion\": [");
        for (int k = 0; k < K; k++) {
            printf("%s[", k ? ", " : "");
            for (int j = 0; j < K; j++)
                printf("%s%lld", j ? ", " : "", (long long)m.confusion[(size_t)k * K + j]);
            printf("]");
        }
        printf("]}\n");
    } else {
        printf("%s on %s: %d samples\n", pos[0], c.data, m.n);
        printf("loss %.4f   top-1 %.2f%%   top-5 %.2f%%\n\nper class:\n", m.loss, 100 * m.top1,
               100 * m.top5);
        for (int k = 0; k < K; k++) {
            int64_t total = 0;
            for (int j = 0; j < K; j++) total += m.confusion[(size_t)k * K + j];
            printf("  %2d %-14s %6.2f%%  (%lld of %lld)\n", k, names[k],
                   total ? 100.0 * m.confusion[(size_t)k * K + k] / total : 0.0,
                   (long long)m.confusion[(size_t)k * K + k], (long long)total);
        }
        printf("\nconfusion matrix (rows: true class, columns: predicted):\n     ");
        for (int j = 0; j < K; j++) printf("%6d", j);
        printf("\n");
        for (int k = 0; k < K; k++) {
            printf("  %2d ", k);
            for (int j = 0; j < K; j++) printf("%6lld", (long long)m.confusion[(size_t)k * K + j]);
            printf("\n");
        }
    }
    status = 0;
out:
    cnn_metrics_free(&m);
    cnn_dataset_free(test);
    cli_free_names(names, n_names);
    free(meta);
    cnn_net_free(net);
    return status;
}

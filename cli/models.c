/*
 * models.c - `cnn models`, `cnn def` and `cnn summary`: the zoo's models, a model's definition
 * text, and a Keras-like table of a network's layers with their output shapes, parameters and
 * multiply-adds.
 */
#include "cli.h"
#include "common.h"
#include "opts.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int cli_models(int argc, char **argv) {
    if (argc > 0) {
        fprintf(stderr, "cnn models: takes no arguments\n");
        return 2;
    }
    for (int i = 0; i < cnn_model_count(); i++)
        printf("%-18s %s\n", cnn_model_name(i), cnn_model_doc(i));
    return 0;
}

typedef struct model_cfg {
    const char *input;
    int classes, json;
} model_cfg;

static void fill_opts(cli_opt *o, model_cfg *c) {
    cli_opt table[] = {
        {"input", OPT_STRING, &c->input, "CxHxW", "input size for a zoo model [the model's standard one]", 0, 0, 0},
        {"classes", OPT_INT, &c->classes, "K", "classes for a zoo model [1000 for ImageNet models, 10 otherwise]", 1, 1000000, 0},
        {"json", OPT_FLAG, &c->json, "", "print one JSON object (summary only)", 0, 0, 0},
        {NULL, 0, NULL, NULL, NULL, 0, 0, 0},
    };
    memcpy(o, table, sizeof table);
}

void cli_summary_help(FILE *f) {
    model_cfg c;
    cli_opt o[4];
    fill_opts(o, &c);
    cli_help(f, "cnn summary NAME|FILE [options]   or   cnn def NAME [options]",
             "summary: each layer's name, type, output shape, parameters and multiply-adds, then "
             "the totals.\ndef: the model's definition text (docs/FORMAT.md), to edit and train "
             "with --model FILE.", o);
}

/* The standard input of a zoo model: ImageNet models 3x224x224 with 1000 classes, the small
 * ones 1x28x28 (CIFAR ones 3x32x32) with 10, the segmentation ones their usual sizes. */
static void defaults_for(const char *name, int *c, int *h, int *w, int *classes) {
    static const char *const small[] = {"lenet5", "vgg_small", "small_unet", NULL};
    *c = 3, *h = 224, *w = 224, *classes = 1000;
    for (int i = 0; small[i]; i++)
        if (!strcmp(name, small[i])) *c = 1, *h = 28, *w = 28, *classes = 10;
    if (!strcmp(name, "small_unet")) *classes = 2;
    if (!strcmp(name, "resnet18_cifar") || !strcmp(name, "resnet20"))
        *c = 3, *h = 32, *w = 32, *classes = 10;
    if (!strcmp(name, "unet")) *c = 1, *h = 256, *w = 256, *classes = 2;
    if (!strcmp(name, "segnet")) *c = 3, *h = 224, *w = 224, *classes = 12;
}

static int is_zoo(const char *name) {
    for (int i = 0; i < cnn_model_count(); i++)
        if (!strcmp(cnn_model_name(i), name)) return 1;
    return 0;
}

/* Parses the options and builds (or, for def, writes) the model. */
static int load(const char *cmd, int argc, char **argv, cnn_net **net, model_cfg *c, int def) {
    cli_opt o[4];
    fill_opts(o, c);
    const char *pos[1];
    int npos;
    if (!cli_parse(cmd, o, argc, argv, pos, 1, &npos)) return 2;
    if (npos != 1) {
        fprintf(stderr, "cnn %s: give a model name (cnn models) or a definition file\n", cmd);
        return 2;
    }
    if (def && c->json) {
        fprintf(stderr, "cnn def: --json is for summary\n");
        return 2;
    }
    const char *name = pos[0];
    char err[2048];
    if (!is_zoo(name)) {
        if (def || o[0].given || o[1].given) {
            fprintf(stderr, "cnn %s: '%s' is not a zoo model (cnn models lists them)%s\n", cmd,
                    name, def ? "" : "; --input and --classes are for zoo models");
            return 2;
        }
        if (cnn_net_load_text(name, 1, net, err, sizeof err)) {
            fprintf(stderr, "cnn %s: %s\n", cmd, err);
            return 1;
        }
        return 0;
    }
    int ch, h, w, k;
    defaults_for(name, &ch, &h, &w, &k);
    char tail;
    if (c->input && (sscanf(c->input, "%dx%dx%d%c", &ch, &h, &w, &tail) != 3 || ch < 1 || h < 1 || w < 1)) {
        fprintf(stderr, "cnn %s: --input %s: expected CxHxW, like 3x224x224\n", cmd, c->input);
        return 2;
    }
    if (o[1].given) k = c->classes;
    if (def) {
        char *text = cnn_model_text(name, ch, h, w, k, err, sizeof err);
        if (!text) {
            fprintf(stderr, "cnn def: %s\n", err);
            return 1;
        }
        fputs(text, stdout);
        free(text);
        return 0;
    }
    if (cnn_model_build(name, ch, h, w, k, 1, net, err, sizeof err)) {
        fprintf(stderr, "cnn %s: %s\n", cmd, err);
        return 1;
    }
    return 0;
}

int cli_def(int argc, char **argv) {
    model_cfg c = {0};
    return load("def", argc, argv, NULL, &c, 1);
}

int cli_summary(int argc, char **argv) {
    model_cfg c = {0};
    cnn_net *net = NULL;
    int st = load("summary", argc, argv, &net, &c, 0);
    if (st) return st;
    int n = cnn_net_layer_count(net);
    size_t params = cnn_net_param_count(net);
    uint64_t macs = cnn_net_macs(net);
    size_t act = cnn_net_activation_bytes(net);
    char shape[64];
    if (c.json) {
        printf("{\"params\": %zu, \"trainable_params\": %zu, \"macs\": %llu, "
               "\"activation_bytes\": %zu, \"layers\": [",
               params, params, (unsigned long long)macs, act);
        for (int i = 0; i < n; i++) {
            cnn_shape s = cnn_net_layer_shape(net, i);
            printf("%s{\"name\": \"%s\", \"type\": \"%s\", \"shape\": \"%s\", \"params\": %zu, "
                   "\"macs\": %llu}",
                   i ? ", " : "", cnn_net_layer_name(net, i), cnn_net_layer_type(net, i),
                   cnn_shape_str(&s, shape, sizeof shape), cnn_net_layer_param_count(net, i),
                   (unsigned long long)cnn_net_layer_macs(net, i));
        }
        printf("]}\n");
    } else {
        printf("%-40s %-18s %-16s %14s %16s\n", "layer", "type", "output", "params", "mult-adds");
        for (int i = 0; i < 108; i++) putchar('-');
        putchar('\n');
        for (int i = 0; i < n; i++) {
            cnn_shape s = cnn_net_layer_shape(net, i);
            printf("%-40s %-18s %-16s %14zu %16llu\n", cnn_net_layer_name(net, i),
                   cnn_net_layer_type(net, i), cnn_shape_str(&s, shape, sizeof shape),
                   cnn_net_layer_param_count(net, i), (unsigned long long)cnn_net_layer_macs(net, i));
        }
        for (int i = 0; i < 108; i++) putchar('-');
        putchar('\n');
        printf("parameters:            %zu (trainable: %zu)\n", params, params);
        printf("multiply-adds:         %llu (%.2f G)\n", (unsigned long long)macs, macs / 1e9);
        printf("activations per image: %zu bytes (%.2f MiB)\n", act, act / 1048576.0);
    }
    cnn_net_free(net);
    return 0;
}

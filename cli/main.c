/*
 * main.c - the `cnn` command-line tool. It links libcnn like any other program and uses only
 * the public header. Each subcommand is a function taking its own arguments; exit codes: 0 on
 * success, 1 when the work failed, 2 for a usage error.
 */
#include "cli.h"
#include "cnn.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char USAGE[] =
    "usage: cnn <command> [options]\n"
    "\n"
    "Convolutional neural networks in C.\n"
    "\n"
    "commands:\n"
    "  train           train a network on a data set (cnn help train)\n"
    "  eval MODEL      evaluate a trained model: loss, top-1/top-5, per class, confusion\n"
    "  predict MODEL IMAGE...  the five most likely classes of each image\n"
    "  viz WHAT ...    pictures of a network: filters, maps, stats, saliency, guided,\n"
    "                  gradcam, dream, kernels (cnn help viz)\n"
    "  models          list the zoo's models\n"
    "  summary NAME|FILE  layers, output shapes, parameters, multiply-adds (cnn help summary)\n"
    "  def NAME        a zoo model's definition text, to edit and train with --model FILE\n"
    "  layers [TYPE]   list the layer types, or document one (its keys and defaults)\n"
    "  version         print the version\n"
    "  help [COMMAND]  this text, or the help of a command\n"
    "\n"
    "options:\n"
    "  -h, --help      this text\n"
    "  --version       print the version\n";

static int cmd_layers(int argc, char **argv) {
    if (argc > 2) {
        fprintf(stderr, "cnn layers: too many arguments (usage: cnn layers [TYPE])\n");
        return 2;
    }
    if (argc == 2) {
        if (argv[1][0] == '-') {
            fprintf(stderr, "cnn layers: unknown option '%s' (usage: cnn layers [TYPE])\n", argv[1]);
            return 2;
        }
        int known = 0;
        for (int i = 0; i < cnn_layer_type_count(); i++)
            if (strcmp(cnn_layer_type_name(i), argv[1]) == 0) known = 1;
        char buf[8192];
        cnn_layer_type_doc(argv[1], buf, sizeof buf);
        fputs(buf, known ? stdout : stderr);
        return known ? 0 : 1;
    }
    for (int i = 0; i < cnn_layer_type_count(); i++) {
        char buf[8192], *nl;
        cnn_layer_type_doc(cnn_layer_type_name(i), buf, sizeof buf);
        if ((nl = strchr(buf, '\n'))) *nl = 0;
        printf("%s\n", buf);
    }
    return 0;
}

static int cmd_version(int argc, char **argv) {
    (void)argv;
    if (argc > 1) {
        fprintf(stderr, "cnn version: takes no arguments\n");
        return 2;
    }
    printf("cnn %s\n", cnn_version());
    return 0;
}

static int cmd_help(int argc, char **argv) {
    if (argc > 1 && strcmp(argv[1], "layers") == 0) {
        printf("usage: cnn layers [TYPE]\n\nWithout TYPE, lists every layer type with one line "
               "about it.\nWith TYPE, documents its hyper-parameters: key, meaning, default.\n");
        return 0;
    }
    if (argc > 1 && strcmp(argv[1], "train") == 0) return cli_train_help(stdout), 0;
    if (argc > 1 && strcmp(argv[1], "eval") == 0) return cli_eval_help(stdout), 0;
    if (argc > 1 && strcmp(argv[1], "predict") == 0) return cli_predict_help(stdout), 0;
    if (argc > 1 && strcmp(argv[1], "viz") == 0)
        return cli_viz_help(stdout, argc > 2 ? argv[2] : NULL), 0;
    if (argc > 1 && (!strcmp(argv[1], "summary") || !strcmp(argv[1], "def")))
        return cli_summary_help(stdout), 0;
    if (argc > 1 && strcmp(argv[1], "models") == 0) {
        printf("usage: cnn models\n\nLists the zoo's models with one line about each.\n");
        return 0;
    }
    if (argc > 1 && strcmp(argv[1], "version") != 0 && strcmp(argv[1], "help") != 0) {
        fprintf(stderr, "cnn help: unknown command '%s'\n\n%s", argv[1], USAGE);
        return 2;
    }
    fputs(USAGE, stdout);
    return 0;
}

int main(int argc, char **argv) {
    if (argc < 2) {
        fputs(USAGE, stderr);
        return 2;
    }
    const char *cmd = argv[1];
    if (!strcmp(cmd, "-h") || !strcmp(cmd, "--help")) return cmd_help(1, argv + 1);
    if (!strcmp(cmd, "--version")) return cmd_version(1, argv + 1);
    if (!strcmp(cmd, "help")) return cmd_help(argc - 1, argv + 1);
    if (!strcmp(cmd, "version")) return cmd_version(argc - 1, argv + 1);
    if (!strcmp(cmd, "layers")) return cmd_layers(argc - 1, argv + 1);
    if (!strcmp(cmd, "train")) return cli_train(argc - 2, argv + 2);
    if (!strcmp(cmd, "eval")) return cli_eval(argc - 2, argv + 2);
    if (!strcmp(cmd, "predict")) return cli_predict(argc - 2, argv + 2);
    if (!strcmp(cmd, "viz")) return cli_viz(argc - 2, argv + 2);
    if (!strcmp(cmd, "models")) return cli_models(argc - 2, argv + 2);
    if (!strcmp(cmd, "summary")) return cli_summary(argc - 2, argv + 2);
    if (!strcmp(cmd, "def")) return cli_def(argc - 2, argv + 2);
    fprintf(stderr, "cnn: unknown command '%s'\n\n%s", cmd, USAGE);
    return 2;
}

/*
 * main.c - the `cnn` command-line tool. It links libcnn like any other program and uses only
 * the public header. Each subcommand is a function taking its own arguments; exit codes: 0 on
 * success, 1 when the work failed, 2 for a usage error. -h or --help after any command prints
 * that command's help: it is handled here, once, from the table of commands.
 */
#include "cli.h"
#include "cnn.h"
#include "opts.h"

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
    "  recipes         the training recipes (cnn train --recipe NAME) and what they reach\n"
    "  eval MODEL      evaluate a trained model: loss, top-1/top-5, per class, confusion\n"
    "  predict MODEL IMAGE...  the five most likely classes of each image\n"
    "  serve MODEL     the model at work in the browser: maps, Grad-CAM, filters, graph\n"
    "  infer MODEL --input x.npy --output y.npy  raw values of layers on NumPy arrays\n"
    "  viz WHAT ...    pictures of a network: filters, maps, stats, saliency, guided,\n"
    "                  gradcam, dream, kernels (cnn help viz)\n"
    "  models          list the zoo's models\n"
    "  summary NAME|FILE|CKPT  layers, output shapes, parameters, multiply-adds of a zoo\n"
    "                  model, a definition file, a checkpoint or an ONNX model\n"
    "  def NAME|FILE|CKPT  the definition text, to edit and train with --model FILE\n"
    "  import M.onnx --out M.ckpt  an ONNX model into a checkpoint (any command also\n"
    "                  takes the .onnx file as its model)\n"
    "  export NAME|FILE|CKPT --out M.onnx  a network as an ONNX model\n"
    "  quantize MODEL --out Q.ckpt  the model for 8-bit inference, both accuracies\n"
    "  ensemble MODEL MODEL... --out E.ckpt  models as one, the mean of their scores,\n"
    "                  with the test result of each and of the ensemble\n"
    "  layers [TYPE]   list the layer types, or document one (its keys and defaults)\n"
    "  version         print the version\n"
    "  help [COMMAND]  this text, or the help of a command (also: cnn COMMAND --help)\n"
    "\n"
    "options:\n"
    "  -h, --help      this text\n"
    "  --version       print the version\n"
    "\n"
    "environment:\n"
    "  CNN_ISA         hold the kernels to an instruction set: baseline, avx2, vnni or\n"
    "                  avx512 (default: the CPU's best; cnn version prints both)\n";

static const cli_opt NO_OPTS[] = {{NULL, 0, NULL, NULL, NULL, 0, 0, 0}};

/* Prints a layer type's documentation, or only its first line. Returns 0, or 1 when memory
 * runs out. */
static int print_doc(const char *type, int first_line) {
    int len = cnn_layer_type_doc(type, (char[1]){0}, 1);
    char *doc = malloc((size_t)len + 1), *nl;
    if (!doc) {
        fprintf(stderr, "cnn layers: out of memory\n");
        return 1;
    }
    cnn_layer_type_doc(type, doc, (size_t)len + 1);
    if (first_line && (nl = strchr(doc, '\n'))) *nl = 0;
    fputs(doc, stdout);
    if (first_line) putchar('\n');
    free(doc);
    return 0;
}

static int is_layer_type(const char *type) {
    for (int i = 0; i < cnn_layer_type_count(); i++)
        if (strcmp(cnn_layer_type_name(i), type) == 0) return 1;
    return 0;
}

static int cmd_layers(int argc, char **argv) {
    cli_opt none[] = {{NULL, 0, NULL, NULL, NULL, 0, 0, 0}};
    const char *pos[1];
    int npos;
    if (!cli_parse("layers", none, argc, argv, pos, 1, &npos)) return 2;
    if (npos == 0) {
        for (int i = 0; i < cnn_layer_type_count(); i++)
            if (print_doc(cnn_layer_type_name(i), 1)) return 1;
        return 0;
    }
    if (!is_layer_type(pos[0])) {
        fprintf(stderr, "cnn layers: unknown layer type '%s' (cnn layers lists them)\n", pos[0]);
        return 2;
    }
    return print_doc(pos[0], 0);
}

static int cmd_version(int argc, char **argv) {
    cli_opt none[] = {{NULL, 0, NULL, NULL, NULL, 0, 0, 0}};
    const char *pos[1];
    int npos;
    if (!cli_parse("version", none, argc, argv, pos, 0, &npos)) return 2;
    printf("cnn %s\n", cnn_version());
    printf("kernels: %s (the CPU has %s)\n", cnn_isa_in_force(), cnn_isa_cpu());
    return 0;
}

static int cmd_help(int argc, char **argv);

/* The help of each command; `what` is the first argument after the command's name (viz uses
 * it: the picture). */
static void help_train(FILE *f, const char *what) { cli_train_help(f); }
static void help_recipes(FILE *f, const char *what) { cli_recipes_help(f); }
static void help_eval(FILE *f, const char *what) { cli_eval_help(f); }
static void help_predict(FILE *f, const char *what) { cli_predict_help(f); }
static void help_infer(FILE *f, const char *what) { cli_infer_help(f); }
static void help_viz(FILE *f, const char *what) { cli_viz_help(f, what); }
static void help_summary(FILE *f, const char *what) { cli_summary_help(f); }
static void help_help(FILE *f, const char *what) { fputs(USAGE, f); }
static void help_import(FILE *f, const char *what) { cli_import_help(f); }
static void help_serve(FILE *f, const char *what) { cli_serve_help(f); }
static void help_export(FILE *f, const char *what) { cli_export_help(f); }
static void help_quantize(FILE *f, const char *what) { cli_quantize_help(f); }
static void help_ensemble(FILE *f, const char *what) { cli_ensemble_help(f); }

static void help_models(FILE *f, const char *what) {
    cli_help(f, "cnn models", "Lists the zoo's models with one line about each.", NO_OPTS);
}

static void help_layers(FILE *f, const char *what) {
    cli_help(f, "cnn layers [TYPE]", "Without TYPE, lists every layer type with one line about "
             "it.\nWith TYPE, documents its hyper-parameters: key, meaning, default.", NO_OPTS);
}

static void help_version(FILE *f, const char *what) {
    cli_help(f, "cnn version", "Prints the version of cnn and of libcnn.", NO_OPTS);
}

/* Every command: its name, what runs it (with the arguments after its name) and its help. */
typedef struct command {
    const char *name;
    int (*run)(int argc, char **argv);
    void (*help)(FILE *f, const char *what);
} command;

static const command COMMANDS[] = {
    {"train", cli_train, help_train},       {"recipes", cli_recipes, help_recipes},
    {"eval", cli_eval, help_eval},
    {"predict", cli_predict, help_predict}, {"infer", cli_infer, help_infer},
    {"viz", cli_viz, help_viz},             {"serve", cli_serve, help_serve},
    {"models", cli_models, help_models},    {"summary", cli_summary, help_summary},
    {"def", cli_def, help_summary},         {"layers", cmd_layers, help_layers},
    {"import", cli_import, help_import},    {"export", cli_export, help_export},
    {"quantize", cli_quantize, help_quantize}, {"ensemble", cli_ensemble, help_ensemble},
    {"version", cmd_version, help_version}, {"help", cmd_help, help_help},
};

static const command *find_command(const char *name) {
    for (size_t i = 0; i < sizeof COMMANDS / sizeof COMMANDS[0]; i++)
        if (strcmp(COMMANDS[i].name, name) == 0) return &COMMANDS[i];
    return NULL;
}

/* cnn help [COMMAND [PICTURE]]: PICTURE only for viz. */
static int cmd_help(int argc, char **argv) {
    if (argc == 0) return fputs(USAGE, stdout), 0;
    const command *c = find_command(argv[0]);
    if (!c) {
        fprintf(stderr, "cnn help: unknown command '%s'\n\n%s", argv[0], USAGE);
        return 2;
    }
    int most = strcmp(c->name, "viz") == 0 ? 2 : 1;
    if (argc > most) {
        fprintf(stderr, "cnn help: unexpected argument '%s' (usage: cnn help [COMMAND%s])\n",
                argv[most], most == 2 ? " [PICTURE]" : "");
        return 2;
    }
    c->help(stdout, argc > 1 ? argv[1] : NULL);
    return 0;
}

/* -h or --help anywhere after a command asks for its help, whatever else is there. */
static int wants_help(int argc, char **argv) {
    for (int i = 0; i < argc; i++)
        if (strcmp(argv[i], "-h") == 0 || strcmp(argv[i], "--help") == 0) return 1;
    return 0;
}

int main(int argc, char **argv) {
    if (argc < 2) {
        fputs(USAGE, stderr);
        return 2;
    }
    const char *name = argv[1];
    if (!strcmp(name, "-h") || !strcmp(name, "--help")) return cmd_help(0, NULL);
    if (!strcmp(name, "--version")) return cmd_version(0, NULL);
    const command *c = find_command(name);
    if (!c) {
        fprintf(stderr, "cnn: unknown %s '%s'\n\n%s", name[0] == '-' ? "option" : "command",
                name, USAGE);
        return 2;
    }
    if (wants_help(argc - 2, argv + 2)) {
        c->help(stdout, argc > 2 && argv[2][0] != '-' ? argv[2] : NULL);
        return 0;
    }
    const char *isa = getenv("CNN_ISA");
    if (isa && cnn_isa_limit(isa) != CNN_STATUS_OK) {
        fprintf(stderr,
                "cnn: the environment variable CNN_ISA is '%s', not one of baseline, avx2, "
                "vnni, avx512\n",
                isa);
        return 2;
    }
    return c->run(argc - 2, argv + 2);
}

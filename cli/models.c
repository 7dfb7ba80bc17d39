/*
 * models.c - `cnn models`, `cnn def` and `cnn summary`: the zoo's models, a network's
 * definition text, and a Keras-like table of a network's layers with their output shapes,
 * parameters and multiply-adds. def and summary take a zoo name, a definition file or a
 * checkpoint (a file starting with "CNNCKPT1"), and warn about layers whose output goes nowhere.
 */
#include "cli.h"
#include "common.h"
#include "opts.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int cli_models(int argc, char **argv) {
    cli_opt none[] = {{NULL, 0, NULL, NULL, NULL, 0, 0, 0}};
    const char *pos[1];
    int npos;
    if (!cli_parse("models", none, argc, argv, pos, 0, &npos)) return 2;
    for (int i = 0; i < cnn_model_count(); i++)
        printf("%-18s %s\n", cnn_model_name(i), cnn_model_doc(i));
    return 0;
}

/* The options of def, summary and export, by position in the table. */
enum {
    MO_INPUT, MO_CLASSES, MO_JSON, MO_OUT, MO_FUSE, MO_PROFILE, MO_BATCH, MO_THREADS, MO_STEPS,
    MO_COUNT
};

/* A trained network: a checkpoint or an ONNX model. */
typedef enum source { SRC_ZOO, SRC_FILE, SRC_TRAINED } source;

/* What def, summary or export was asked for. */
typedef struct model_req {
    const char *cmd;  /* "def", "summary" or "export" */
    const char *name; /* a zoo name, a definition file or a checkpoint */
    source src;
    const char *input, *out;
    int classes, json, fuse;
    const char *profile; /* summary --profile forward|train */
    int batch, threads, steps;
    cnn_shape shape; /* --input, or a zoo model's standard input */
    cli_opt o[MO_COUNT + 1];
} model_req;

static void fill_opts(model_req *r) {
    cli_opt table[MO_COUNT + 1] = {
        [MO_INPUT] = {"input", OPT_STRING, &r->input, "CxHxW",
                      "a zoo model's input [its standard one], or a new input for a definition "
                      "file", 0, 0, 0},
        [MO_CLASSES] = {"classes", OPT_INT, &r->classes, "K",
                        "classes of a zoo model [1000 for ImageNet models, 10 otherwise]", 1,
                        1000000, 0},
        [MO_JSON] = {"json", OPT_FLAG, &r->json, "", "print one JSON object (summary only)", 0,
                     0, 0},
        [MO_OUT] = {"out", OPT_STRING, &r->out, "FILE.onnx", "the ONNX file to write (export "
                    "only)", 0, 0, 0},
        [MO_FUSE] = {"fuse", OPT_FLAG, &r->fuse, "", "the inference form: batch norm folded into "
                     "the convolution before it, a ReLU applied by the convolution or residual "
                     "sum before it (cnn_net_fuse)", 0, 0, 0},
        [MO_PROFILE] = {"profile", OPT_STRING, &r->profile, "forward|train",
                        "time each layer over --steps forward passes or training steps on "
                        "random data (summary only)", 0, 0, 0},
        [MO_BATCH] = {"batch", OPT_INT, &r->batch, "N", "batch of --profile [1]", 1, 65536, 0},
        [MO_THREADS] = {"threads", OPT_INT, &r->threads, "T", "threads of --profile [1]", 1,
                        1024, 0},
        [MO_STEPS] = {"steps", OPT_INT, &r->steps, "S", "steps --profile times, after one "
                      "warm-up step [10]", 1, 1000000, 0},
        [MO_COUNT] = {NULL, 0, NULL, NULL, NULL, 0, 0, 0},
    };
    memcpy(r->o, table, sizeof table);
}

void cli_summary_help(FILE *f) {
    model_req r = {0};
    fill_opts(&r);
    cli_help(f, "cnn summary NAME|FILE|CKPT [options]   or   cnn def NAME|FILE|CKPT [options]",
             "The network of a zoo model (cnn models), a definition file (docs/FORMAT.md), a "
             "checkpoint or an ONNX model.\nsummary: each layer's name, type, output shape, parameters and "
             "multiply-adds, then the totals; with --profile, the time of each\nlayer's forward and backward calls and its use of the threads instead.\ndef: the definition text, to edit and train with "
             "--model FILE.\nBoth warn about layers whose output goes nowhere.", r.o);
}

static int is_zoo(const char *name) {
    for (int i = 0; i < cnn_model_count(); i++)
        if (!strcmp(cnn_model_name(i), name)) return 1;
    return 0;
}

/* Where the network comes from, and whether the options fit it. Returns 0, or the exit code. */
static int classify(model_req *r) {
    if (is_zoo(r->name)) {
        r->src = SRC_ZOO;
        return 0;
    }
    if (access(r->name, R_OK) != 0) {
        fprintf(stderr, "cnn %s: %s: neither a zoo model (cnn models lists them) nor a readable "
                "file\n", r->cmd, r->name);
        return 1;
    }
    r->src = cnn_is_checkpoint(r->name) || cnn_is_onnx(r->name) ? SRC_TRAINED : SRC_FILE;
    if (r->o[MO_CLASSES].given) {
        fprintf(stderr, "cnn %s: --classes is for zoo models, and %s is not one (cnn models "
                "lists them)\n", r->cmd, r->name);
        return 2;
    }
    if (r->src == SRC_TRAINED && r->o[MO_INPUT].given) {
        fprintf(stderr, "cnn %s: --input cannot change %s: it is a trained model, with fixed "
                "weights\n", r->cmd, r->name);
        return 2;
    }
    return 0;
}

/* "CxHxW" into d[3], each from 1 to 1000000. */
static int parse_chw(const char *s, int d[3]) {
    for (int i = 0; i < 3; i++) {
        char *end;
        errno = 0;
        long v = strtol(s, &end, 10);
        if (end == s || errno || v < 1 || v > 1000000 || *end != (i < 2 ? 'x' : 0)) return 0;
        d[i] = (int)v;
        s = end + 1;
    }
    return 1;
}

/* Parses --input into r->shape, starting from a zoo model's standard input and classes. */
static int parse_shape(model_req *r) {
    int k = 10, *d = r->shape.dim;
    r->shape = (cnn_shape){3, {3, 224, 224}};
    if (r->src == SRC_ZOO) cnn_model_standard_input(r->name, &d[0], &d[1], &d[2], &k);
    if (!r->o[MO_CLASSES].given) r->classes = k;
    if (r->input && !parse_chw(r->input, d)) {
        fprintf(stderr, "cnn %s: --input %s: expected CxHxW, like 3x224x224\n", r->cmd, r->input);
        return 0;
    }
    return 1;
}

/* Parses the command line of def or summary. Returns 0, or the exit code. */
static int parse(model_req *r, int argc, char **argv) {
    fill_opts(r);
    const char *pos[1];
    int npos, st;
    if (!cli_parse(r->cmd, r->o, argc, argv, pos, 1, &npos)) return 2;
    if (npos != 1) {
        fprintf(stderr, "cnn %s: give a model name (cnn models), a definition file, a "
                "checkpoint or an ONNX model\n", r->cmd);
        return 2;
    }
    if (strcmp(r->cmd, "summary") != 0 && (r->json || r->profile)) {
        fprintf(stderr, "cnn %s: --%s is for summary\n", r->cmd, r->json ? "json" : "profile");
        return 2;
    }
    for (int k = MO_BATCH; k <= MO_STEPS; k++)
        if (r->o[k].given && !r->profile) {
            fprintf(stderr, "cnn %s: --%s is for --profile\n", r->cmd, r->o[k].name);
            return 2;
        }
    if (r->json && r->profile) {
        fprintf(stderr, "cnn %s: --profile prints a table: leave out --json\n", r->cmd);
        return 2;
    }
    if ((strcmp(r->cmd, "export") == 0) != (r->out != NULL)) {
        fprintf(stderr, r->out ? "cnn %s: --out is for export\n"
                               : "cnn %s: give the file to write with --out FILE.onnx\n", r->cmd);
        return 2;
    }
    r->name = pos[0];
    if ((st = classify(r))) return st;
    return parse_shape(r) ? 0 : 2;
}

static int build_plain(const model_req *r, cnn_net **net);

/* Builds the network asked for, fused with --fuse. Prints the error and returns 0 on failure. */
static int build(const model_req *r, cnn_net **net) {
    if (!build_plain(r, net)) return 0;
    if (!r->fuse || cli_fuse(r->cmd, net)) return 1;
    cnn_net_free(*net);
    *net = NULL;
    return 0;
}

static int build_plain(const model_req *r, cnn_net **net) {
    char err[2048];
    const int *d = r->shape.dim;
    cnn_status st = CNN_STATUS_OK;
    *net = NULL;
    if (r->src == SRC_FILE && r->input)
        return cli_build_model(r->cmd, r->name, &r->shape, 0, 0, 1, net);
    if (r->src == SRC_ZOO)
        st = cnn_model_build(r->name, d[0], d[1], d[2], r->classes, 1, net, err, sizeof err);
    else if (r->src == SRC_TRAINED)
        st = cnn_net_load(r->name, net, err, sizeof err);
    else
        st = cnn_net_load_text(r->name, 1, net, err, sizeof err);
    if (st) fprintf(stderr, "cnn %s: %s\n", r->cmd, err);
    return st == CNN_STATUS_OK;
}

/* Warns about every layer whose output nothing takes and that is not the output. A network
 * read from text (a file, the zoo, a checkpoint) has its last layer as output: the format
 * names no other. */
static void warn_dead_ends(const char *cmd, const cnn_net *net) {
    int n = cnn_net_layer_count(net);
    char *used = calloc((size_t)n + 1, 1);
    if (!used) return;
    for (int i = 0; i < n; i++)
        for (int k = 0; k < cnn_net_layer_input_count(net, i); k++)
            used[cnn_net_layer_input(net, i, k)] = 1;
    for (int i = 0; i < n - 1; i++)
        if (!used[i])
            fprintf(stderr, "cnn %s: warning: layer '%s' (%s) leads nowhere: nothing takes its "
                    "output and it is not the output\n", cmd, cnn_net_layer_name(net, i),
                    cnn_net_layer_type(net, i));
    free(used);
}

/* A zoo model's text, as the zoo writes it (building a large model only to print it would
 * take seconds). */
static int def_zoo(const model_req *r) {
    char err[2048];
    const int *d = r->shape.dim;
    char *text = cnn_model_text(r->name, d[0], d[1], d[2], r->classes, err, sizeof err);
    if (!text) {
        fprintf(stderr, "cnn def: %s\n", err);
        return 1;
    }
    fputs(text, stdout);
    free(text);
    return 0;
}

int cli_def(int argc, char **argv) {
    model_req r = {.cmd = "def"};
    cnn_net *net;
    int st = parse(&r, argc, argv);
    if (st) return st;
    if (r.src == SRC_ZOO && !r.fuse) return def_zoo(&r);
    if (!build(&r, &net)) return 1;
    warn_dead_ends(r.cmd, net);
    char *text = cnn_net_to_text(net);
    if (text) fputs(text, stdout);
    else fprintf(stderr, "cnn def: out of memory writing the definition\n");
    free(text);
    cnn_net_free(net);
    return text ? 0 : 1;
}

static void print_json(const cnn_net *net) {
    size_t params = cnn_net_param_count(net);
    char shape[64];
    printf("{\"params\": %zu, \"trainable_params\": %zu, \"macs\": %llu, "
           "\"activation_bytes\": %zu, \"layers\": [",
           params, params, (unsigned long long)cnn_net_macs(net), cnn_net_activation_bytes(net));
    for (int i = 0; i < cnn_net_layer_count(net); i++) {
        cnn_shape s = cnn_net_layer_shape(net, i);
        printf("%s{\"name\": \"%s\", \"type\": \"%s\", \"shape\": \"%s\", \"params\": %zu, "
               "\"macs\": %llu}",
               i ? ", " : "", cnn_net_layer_name(net, i), cnn_net_layer_type(net, i),
               cnn_shape_str(&s, shape, sizeof shape), cnn_net_layer_param_count(net, i),
               (unsigned long long)cnn_net_layer_macs(net, i));
    }
    printf("]}\n");
}

static void rule(void) {
    for (int i = 0; i < 108; i++) putchar('-');
    putchar('\n');
}

static void print_table(const cnn_net *net) {
    size_t params = cnn_net_param_count(net), act = cnn_net_activation_bytes(net);
    uint64_t macs = cnn_net_macs(net);
    char shape[64];
    printf("%-40s %-18s %-16s %14s %16s\n", "layer", "type", "output", "params", "mult-adds");
    rule();
    for (int i = 0; i < cnn_net_layer_count(net); i++) {
        cnn_shape s = cnn_net_layer_shape(net, i);
        printf("%-40s %-18s %-16s %14zu %16llu\n", cnn_net_layer_name(net, i),
               cnn_net_layer_type(net, i), cnn_shape_str(&s, shape, sizeof shape),
               cnn_net_layer_param_count(net, i), (unsigned long long)cnn_net_layer_macs(net, i));
    }
    rule();
    printf("parameters:            %zu (trainable: %zu)\n", params, params);
    printf("multiply-adds:         %llu (%.2f G)\n", (unsigned long long)macs, macs / 1e9);
    printf("activations per image: %zu bytes (%.2f MiB)\n", act, act / 1048576.0);
}

int cli_summary(int argc, char **argv) {
    model_req r = {.cmd = "summary", .batch = 1, .threads = 1, .steps = 10};
    cnn_net *net;
    int st = parse(&r, argc, argv);
    if (st) return st;
    if (!build(&r, &net)) return 1;
    warn_dead_ends(r.cmd, net);
    if (r.profile) st = cli_profile_net(r.cmd, net, r.profile, r.batch, r.threads, r.steps);
    else if (r.json) print_json(net);
    else print_table(net);
    cnn_net_free(net);
    return st;
}

void cli_export_help(FILE *f) {
    model_req r = {0};
    fill_opts(&r);
    cli_help(f, "cnn export NAME|FILE|CKPT --out FILE.onnx [--input CxHxW] [--classes K]",
             "Writes a network as an ONNX model (opset 13): a zoo model (cnn models) with fresh "
             "weights,\na definition file, or a trained checkpoint with its weights and "
             "preprocessing.\nLayer names become node names; docs/ONNX.md lists what exports.", r.o);
}

int cli_export(int argc, char **argv) {
    model_req r = {.cmd = "export"};
    cnn_net *net;
    char err[2048];
    int st = parse(&r, argc, argv);
    if (st) return st;
    if (!build(&r, &net)) return 1;
    st = cnn_onnx_save(r.out, net, err, sizeof err) ? 1 : 0;
    if (st) fprintf(stderr, "cnn export: %s\n", err);
    else printf("wrote %s (%d layers, %zu parameters)\n", r.out, cnn_net_layer_count(net),
                cnn_net_param_count(net));
    cnn_net_free(net);
    return st;
}

#define IMPORT_OPTIONS(out, force)                                                                 \
    {                                                                                              \
        {"out", OPT_STRING, out, "FILE.ckpt", "the checkpoint to write", 0, 0, 0},                 \
        {"force", OPT_FLAG, force, "", "replace FILE.ckpt if it exists", 0, 0, 0},                 \
        {NULL, 0, NULL, NULL, NULL, 0, 0, 0},                                                      \
    }

void cli_import_help(FILE *f) {
    const char *out;
    int force;
    cli_opt o[] = IMPORT_OPTIONS(&out, &force);
    cli_help(f, "cnn import MODEL.onnx --out FILE.ckpt [--force]",
             "Reads an ONNX model (opsets 7 to 17) into a checkpoint, for cnn eval, predict, viz "
             "and train --model.\nEvery command that takes a model also reads the .onnx file "
             "directly. An operator or\nattribute cnn cannot represent is an error naming the "
             "node (docs/ONNX.md lists what imports).", o);
}

int cli_import(int argc, char **argv) {
    const char *out = NULL, *pos[1];
    int force = 0, npos;
    cli_opt o[] = IMPORT_OPTIONS(&out, &force);
    char err[2048];
    cnn_net *net;
    if (!cli_parse("import", o, argc, argv, pos, 1, &npos)) return 2;
    if (npos != 1 || !out) {
        fprintf(stderr, "cnn import: usage: cnn import MODEL.onnx --out FILE.ckpt\n");
        return 2;
    }
    if (!force && access(out, F_OK) == 0) {
        fprintf(stderr, "cnn import: %s exists; --force replaces it\n", out);
        return 2;
    }
    if (cnn_onnx_load(pos[0], &net, err, sizeof err)) {
        fprintf(stderr, "cnn import: %s\n", err);
        return 1;
    }
    int st = cnn_checkpoint_save(out, net, NULL, NULL, err, sizeof err) ? 1 : 0;
    if (st) fprintf(stderr, "cnn import: %s\n", err);
    else printf("wrote %s (%d layers, %zu parameters)\n", out, cnn_net_layer_count(net),
                cnn_net_param_count(net));
    cnn_net_free(net);
    return st;
}

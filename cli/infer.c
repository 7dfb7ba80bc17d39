/*
 * infer.c - `cnn infer MODEL --input [NAME=]x.npy ... --output [LAYER=]y.npy ...`: runs a
 * network on tensors given as NumPy .npy files and writes the raw values of any layers, so
 * that scripts and other tools can check cnn from outside. MODEL is a checkpoint or a
 * definition file (its weights then come from --seed). Each input array is (N, the input
 * layer's shape); each output is written as (N, the layer's shape). Nothing is applied to the
 * inputs unless --preprocess asks for the checkpoint's stored preprocessing.
 */
#include "cli.h"
#include "common.h"
#include "opts.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct infer_opts {
    cli_list inputs, outputs;
    int threads, seed, preprocess;
} infer_opts;

#define INFER_OPTIONS(c)                                                                       \
    {                                                                                          \
        {"input", OPT_LIST, &(c)->inputs, "[NAME=]FILE.npy", "an input layer's values, (N, its shape); NAME may be left out for a network with one input", 0, 0, 0}, \
        {"output", OPT_LIST, &(c)->outputs, "[LAYER=]FILE.npy", "a layer's values to write, (N, its shape); LAYER left out: the network's output", 0, 0, 0}, \
        {"preprocess", OPT_FLAG, &(c)->preprocess, "", "apply the checkpoint's stored preprocessing to the input first", 0, 0, 0}, \
        {"seed", OPT_INT, &(c)->seed, "S", "weights of a definition file [1]", 0, 2147483647, 0}, \
        {"threads", OPT_INT, &(c)->threads, "T", "threads [1]", 1, 1024, 0},                  \
        {NULL, 0, NULL, NULL, NULL, 0, 0, 0},                                                 \
    }

static const char ABOUT[] =
    "Runs a network (a checkpoint, an ONNX model or a definition file) on NumPy .npy arrays (float32, C\n"
    "order) and writes the raw values of the output, or of any layers, as .npy files.";

void cli_infer_help(FILE *f) {
    infer_opts c;
    cli_opt o[] = INFER_OPTIONS(&c);
    cli_help(f, "cnn infer MODEL --input [NAME=]x.npy ... [--output [LAYER=]y.npy ...]", ABOUT, o);
}

/* "NAME=FILE" into name (empty when there is no '=' or what precedes it holds a '/') and file. */
static const char *split_spec(const char *spec, char *name, size_t size) {
    const char *eq = strchr(spec, '=');
    name[0] = 0;
    if (!eq || memchr(spec, '/', (size_t)(eq - spec)) || (size_t)(eq - spec) >= size) return spec;
    memcpy(name, spec, (size_t)(eq - spec));
    name[eq - spec] = 0;
    return eq + 1;
}

/* The index among the inputs of the input layer named name ("" for the only one), or -1. */
static int input_index(const cnn_net *net, const char *name) {
    if (!*name) return cnn_net_input_count(net) == 1 ? 0 : -1;
    for (int l = 0, k = 0; l < cnn_net_layer_count(net); l++)
        if (!strcmp(cnn_net_layer_type(net, l), "input")) {
            if (!strcmp(cnn_net_layer_name(net, l), name)) return k;
            k++;
        }
    return -1;
}

/* The array's shape after its first dimension must be the layer's. */
static int fits(const cnn_array *a, const cnn_shape *s) {
    if (a->ndim != s->rank + 1 || a->dims[0] < 1) return 0;
    for (int d = 0; d < s->rank; d++)
        if (a->dims[d + 1] != s->dim[d]) return 0;
    return 1;
}

/* Reads every --input into arrays (by input index); N is their common first dimension. */
static int read_inputs(const char *model, cnn_net *net, const cli_list *l, cnn_array *arr,
                       int *N) {
    char name[256], err[1024], want[64];
    int n_in = cnn_net_input_count(net);
    for (int i = 0; i < l->n; i++) {
        const char *file = split_spec(l->v[i], name, sizeof name);
        int k = input_index(net, name);
        if (k < 0 || arr[k].data) {
            fprintf(stderr, "cnn infer: --input %s: %s\n", l->v[i],
                    k >= 0 ? "this input is given twice"
                    : *name ? "no input layer of that name"
                            : "the network has several inputs: give NAME=FILE");
            return 0;
        }
        if (cnn_npy_read(file, &arr[k], err, sizeof err)) {
            fprintf(stderr, "cnn infer: %s\n", err);
            return 0;
        }
        cnn_shape s = cnn_net_input_shape(net, k);
        if (!fits(&arr[k], &s) || (*N && arr[k].dims[0] != *N)) {
            fprintf(stderr, "cnn infer: %s: expected (N, %s) for input %d of %s%s\n", file,
                    cnn_shape_str(&s, want, sizeof want), k, model,
                    *N ? ", N the same for every input" : "");
            return 0;
        }
        *N = (int)arr[k].dims[0];
    }
    for (int k = 0; k < n_in; k++)
        if (!arr[k].data) {
            fprintf(stderr, "cnn infer: %s has %d input%s; give each with --input NAME=FILE\n",
                    model, n_in, n_in > 1 ? "s" : "");
            return 0;
        }
    return 1;
}

/* Writes one --output: the layer's values for the N samples. */
static int write_output(cnn_net *net, const char *spec, int N) {
    char name[256], err[1024], shape[64];
    const char *file = split_spec(spec, name, sizeof name);
    int layer = *name ? cnn_net_find(net, name) : cnn_net_output_layer(net);
    if (layer < 0) {
        fprintf(stderr, "cnn infer: --output %s: no layer named '%s'\n", spec, name);
        return 0;
    }
    cnn_shape s = cnn_net_layer_shape(net, layer);
    cnn_array a = {.ndim = s.rank + 1, .dims = {N}, .data = (float *)cnn_net_layer_output(net, layer)};
    for (int d = 0; d < s.rank; d++) a.dims[d + 1] = s.dim[d];
    if (cnn_npy_write(file, &a, err, sizeof err)) {
        fprintf(stderr, "cnn infer: %s\n", err);
        return 0;
    }
    int n = snprintf(shape, sizeof shape, "%d", N);
    for (int d = 0; d < s.rank; d++) n += snprintf(shape + n, sizeof shape - (size_t)n, ", %d", s.dim[d]);
    printf("wrote %s: layer '%s', (%s)\n", file, cnn_net_layer_name(net, layer), shape);
    return 1;
}

/* Prepares for N samples, applies the preprocessing when asked, runs the network. */
static int run(cnn_net *net, const infer_opts *c, cnn_array *arr, int N) {
    int n_in = cnn_net_input_count(net);
    const float *xs[16];
    if (n_in > 16 || (c->preprocess && n_in != 1)) {
        fprintf(stderr, "cnn infer: --preprocess applies to a network with one input\n");
        return 0;
    }
    for (int k = 0; k < n_in; k++) xs[k] = arr[k].data;
    cnn_net_set_training(net, 0);
    if (cnn_net_set_threads(net, c->threads) || cnn_net_prepare(net, N) ||
        (c->preprocess && cnn_preprocess_images(net, arr[0].data, N)) ||
        cnn_net_forward_multi(net, xs, n_in, N)) {
        fprintf(stderr, "cnn infer: %s\n", cnn_net_last_error(net));
        return 0;
    }
    return 1;
}

/* A checkpoint, an ONNX model, or a definition file with weights from seed. */
static cnn_net *load_model(const char *path, int seed) {
    char err[2048];
    cnn_net *net = NULL;
    cnn_status st = cnn_is_checkpoint(path) || cnn_is_onnx(path)
                        ? cnn_net_load(path, &net, err, sizeof err)
                        : cnn_net_load_text(path, (uint64_t)seed, &net, err, sizeof err);
    if (st) fprintf(stderr, "cnn infer: %s\n", err);
    return net;
}

int cli_infer(int argc, char **argv) {
    infer_opts c = {.threads = 1, .seed = 1};
    cli_opt o[] = INFER_OPTIONS(&c);
    const char *pos[1];
    int npos, N = 0, status = 1;
    if (!cli_parse("infer", o, argc, argv, pos, 1, &npos)) return 2;
    if (npos != 1 || c.inputs.n == 0) {
        fprintf(stderr, "cnn infer: give a model and at least one --input (usage: cnn infer "
                "MODEL --input [NAME=]x.npy ... [--output [LAYER=]y.npy ...])\n");
        return 2;
    }
    cnn_net *net = load_model(pos[0], c.seed);
    if (!net) return 1;
    cnn_array arr[16] = {{0}};
    if (cnn_net_input_count(net) <= 16 && read_inputs(pos[0], net, &c.inputs, arr, &N) &&
        run(net, &c, arr, N)) {
        status = 0;
        if (c.outputs.n == 0) printf("no --output given: nothing written\n");
        for (int i = 0; i < c.outputs.n && !status; i++)
            status = write_output(net, c.outputs.v[i], N) ? 0 : 1;
    }
    for (int k = 0; k < 16; k++) cnn_array_free(&arr[k]);
    cnn_net_free(net);
    return status;
}

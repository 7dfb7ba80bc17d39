/*
 * common.c - see common.h.
 */
#include "common.h"

#include <dirent.h>
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

int cli_is_tty(void) { return isatty(STDERR_FILENO); }

static int is_dir(const char *path) {
    struct stat st;
    return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

static int exists(const char *dir, const char *name) {
    char p[4096];
    snprintf(p, sizeof p, "%s/%s", dir, name);
    return access(p, R_OK) == 0;
}

static int load_cifar_part(const char *dir, int train, cnn_shard sh, cnn_dataset **out,
                           char *err, size_t len) {
    char paths[5][4096];
    const char *list[5];
    int n = train ? 5 : 1;
    for (int i = 0; i < n; i++) {
        if (train) snprintf(paths[i], sizeof paths[i], "%s/data_batch_%d.bin", dir, i + 1);
        else snprintf(paths[i], sizeof paths[i], "%s/test_batch.bin", dir);
        list[i] = paths[i];
    }
    return cnn_dataset_load_cifar10_shard(list, n, sh, out, err, len) == CNN_STATUS_OK;
}

/* The folder a data set spec names: 'fashion-mnist' or a folder; NULL after a message. */
static const char *data_dir(const char *cmd, const char *spec) {
    const char *dir = spec;
    if (strcmp(spec, "fashion-mnist") == 0) {
        dir = FASHION_MNIST_DIR;
        if (!is_dir(dir)) {
            fprintf(stderr,
                    "cnn %s: Fashion-MNIST is not installed (%s is missing): install it with "
                    "'apt-get install dataset-fashion-mnist' (make run does)\n",
                    cmd, dir);
            return NULL;
        }
    }
    if (!is_dir(dir)) {
        fprintf(stderr,
                "cnn %s: --data %s: not a folder, nor 'fashion-mnist' (give a folder of IDX, "
                "CIFAR-10 binary or image files)\n",
                cmd, spec);
        return NULL;
    }
    return dir;
}

/* Where a data set's parts are and how they are stored. */
typedef struct data_source {
    enum { DATA_IDX, DATA_CIFAR, DATA_FOLDER } format;
    char dir[4096]; /* the IDX files, the CIFAR-10 batches, or train/ and test/ */
} data_source;

/* The kind of data set folder dir holds, and where its parts are; 0 after a message. */
static int find_source(const char *cmd, const char *spec, const char *dir, data_source *src) {
    char sub[4096], tr[4096], te[4096];
    snprintf(src->dir, sizeof src->dir, "%s", dir);
    if (exists(dir, "train-images-idx3-ubyte.gz") || exists(dir, "train-images-idx3-ubyte") ||
        exists(dir, "t10k-images-idx3-ubyte.gz") || exists(dir, "t10k-images-idx3-ubyte")) {
        src->format = DATA_IDX;
    } else if (exists(dir, "data_batch_1.bin") || exists(dir, "test_batch.bin")) {
        src->format = DATA_CIFAR;
    } else if (snprintf(sub, sizeof sub, "%s/cifar-10-batches-bin", dir) > 0 && is_dir(sub)) {
        src->format = DATA_CIFAR;
        snprintf(src->dir, sizeof src->dir, "%s", sub);
    } else {
        src->format = DATA_FOLDER;
        snprintf(tr, sizeof tr, "%s/train", dir);
        snprintf(te, sizeof te, "%s/test", dir);
        if (!is_dir(tr) || !is_dir(te)) {
            fprintf(stderr,
                    "cnn %s: --data %s: found no IDX files (train-images-idx3-ubyte[.gz]), no "
                    "CIFAR-10 batches (data_batch_1.bin) and no train/ and test/ image folders\n",
                    cmd, spec);
            return 0;
        }
    }
    return 1;
}

/* Loads shard sh of the training (train 1) or test part of src; 0 with the error in err on
 * failure. */
static int load_part(const data_source *src, int train, int c, int h, int w, cnn_shard sh,
                     cnn_dataset **out, char *err, size_t len) {
    if (src->format == DATA_IDX)
        return cnn_dataset_load_mnist_dir_shard(src->dir, train, sh, out, err, len) == 0;
    if (src->format == DATA_CIFAR) return load_cifar_part(src->dir, train, sh, out, err, len);
    char part[4096];
    snprintf(part, sizeof part, "%s/%s", src->dir, train ? "train" : "test");
    return cnn_dataset_load_folder_shard(part, c, h, w, sh, out, err, len) == 0;
}

int cli_load_data(const char *cmd, const char *spec, cnn_dataset **train, cnn_dataset **test,
                  int c, int h, int w, const cnn_shard *shard) {
    cnn_shard whole = {0, 1}, sh = shard ? *shard : whole;
    char err[1024];
    data_source src;
    if (train) *train = NULL;
    if (test) *test = NULL;
    const char *dir = data_dir(cmd, spec);
    if (!dir || !find_source(cmd, spec, dir, &src)) return 0;
    int ok = !train || load_part(&src, 1, c, h, w, sh, train, err, sizeof err);
    if (ok && test) ok = load_part(&src, 0, c, h, w, whole, test, err, sizeof err);
    if (!ok) {
        fprintf(stderr, "cnn %s: %s\n", cmd, err);
        if (train) cnn_dataset_free(*train), *train = NULL;
        if (test) cnn_dataset_free(*test), *test = NULL;
        return 0;
    }
    return 1;
}

/* The inputs of a layer as cnn_add takes them, "a,b" (a string to free), or NULL when memory
 * runs out. */
static char *layer_inputs(const cnn_net *net, int layer) {
    int n = cnn_net_layer_input_count(net, layer);
    size_t len = 1;
    for (int k = 0; k < n; k++)
        len += strlen(cnn_net_layer_name(net, cnn_net_layer_input(net, layer, k))) + 1;
    char *s = malloc(len);
    if (!s) return NULL;
    s[0] = 0;
    for (int k = 0; k < n; k++) {
        if (k) strcat(s, ",");
        strcat(s, cnn_net_layer_name(net, cnn_net_layer_input(net, layer, k)));
    }
    return s;
}

/* A layer's hyper-parameters as cnn_add takes them (a string to free), or NULL. */
static char *layer_args(const cnn_net *net, int layer) {
    int len = cnn_net_layer_args(net, layer, (char[1]){0}, 1);
    char *s = malloc((size_t)len + 1);
    if (s) cnn_net_layer_args(net, layer, s, (size_t)len + 1);
    return s;
}

/* Adds layer `layer` of src to dst with the same type, name, inputs and hyper-parameters, or
 * with args instead of its own when args is not NULL. */
static cnn_status copy_layer(cnn_net *dst, const cnn_net *src, int layer, const char *args) {
    char *in = layer_inputs(src, layer), *own = args ? NULL : layer_args(src, layer);
    cnn_status st = CNN_STATUS_NO_MEMORY;
    if (in && (args || own))
        st = cnn_add(dst, cnn_net_layer_type(src, layer), cnn_net_layer_name(src, layer), in,
                     args ? args : own);
    free(in);
    free(own);
    return st;
}

/* Rebuilds *net, loaded from the file path, with its (first) input layer's shape set to the
 * data's: every other layer is added again as it was, so shape inference runs anew. On
 * failure prints what does not fit, frees *net and returns 0. */
static int refit_input(const char *cmd, const char *path, cnn_net **net, const cnn_shape *data,
                       uint64_t seed) {
    cnn_shape in = cnn_net_input_shape(*net, 0);
    char a[64], b[64], shape[80];
    cnn_shape_str(&in, a, sizeof a);
    cnn_shape_str(data, b, sizeof b);
    snprintf(shape, sizeof shape, "shape=%s", b);
    cnn_net *out = cnn_net_new(seed);
    cnn_status st = out ? CNN_STATUS_OK : CNN_STATUS_NO_MEMORY;
    int first = 1;
    for (int i = 0; !st && i < cnn_net_layer_count(*net); i++) {
        int is_input = first && strcmp(cnn_net_layer_type(*net, i), "input") == 0;
        st = copy_layer(out, *net, i, is_input ? shape : NULL);
        if (is_input) first = 0;
    }
    if (st) {
        fprintf(stderr, "cnn %s: %s: with its input changed from %s to the data's %s, the "
                "network does not fit: %s\n", cmd, path, a, b,
                out ? cnn_net_last_error(out) : "out of memory");
        cnn_net_free(out);
        out = NULL;
    } else {
        fprintf(stderr, "cnn %s: note: %s: input %s changed to the data's %s\n", cmd, path, a, b);
    }
    cnn_net_free(*net);
    *net = out;
    return out != NULL;
}

static int same_shape(const cnn_shape *a, const cnn_shape *b) {
    if (a->rank != b->rank) return 0;
    for (int i = 0; i < a->rank; i++)
        if (a->dim[i] != b->dim[i]) return 0;
    return 1;
}

/* A zoo model, built for the data's shape and classes. */
static int build_zoo(const char *cmd, const char *model, const cnn_shape *input, int classes,
                     uint64_t seed, cnn_net **out) {
    char err[2048];
    if (cnn_model_build(model, input->dim[0], input->dim[1], input->dim[2], classes, seed, out,
                        err, sizeof err)) {
        fprintf(stderr, "cnn %s: model %s: %s\n", cmd, model, err);
        return 0;
    }
    return 1;
}

/* A trained network to fine-tune: its weights are tied to its input, which must be the
 * data's. */
static int load_for_tuning(const char *cmd, const char *path, const cnn_shape *input,
                           cnn_net **out) {
    char err[2048], a[64], b[64];
    if (cnn_net_load(path, out, err, sizeof err)) {
        fprintf(stderr, "cnn %s: %s\n", cmd, err);
        return 0;
    }
    cnn_shape in = cnn_net_input_shape(*out, 0);
    if (same_shape(&in, input)) return 1;
    fprintf(stderr, "cnn %s: %s: the trained network takes %s, the data's samples are %s\n", cmd,
            path, cnn_shape_str(&in, a, sizeof a), cnn_shape_str(input, b, sizeof b));
    cnn_net_free(*out);
    *out = NULL;
    return 0;
}

int cli_build_model(const char *cmd, const char *model, const cnn_shape *input, int classes,
                    int flat, uint64_t seed, cnn_net **out) {
    char err[2048];
    *out = NULL;
    for (int i = 0; i < cnn_model_count(); i++)
        if (strcmp(cnn_model_name(i), model) == 0)
            return build_zoo(cmd, model, input, classes, seed, out);
    if (access(model, R_OK) != 0) {
        fprintf(stderr, "cnn %s: --model %s: neither a model name (cnn models lists them) nor a "
                "readable file\n", cmd, model);
        return 0;
    }
    if (cnn_is_checkpoint(model) || cnn_is_onnx(model))
        return load_for_tuning(cmd, model, input, out);
    if (cnn_net_load_text(model, seed, out, err, sizeof err)) {
        fprintf(stderr, "cnn %s: %s\n", cmd, err);
        return 0;
    }
    /* Samples are handed over as flat floats: a flat input of the data's size and channels
     * (a deliberate reshape) is kept; any other difference gets the data's shape. */
    cnn_shape in = cnn_net_input_shape(*out, 0), o;
    int reshaped = in.rank != input->rank && in.dim[0] == input->dim[0] &&
                   cnn_shape_numel(&in) == cnn_shape_numel(input);
    if (!same_shape(&in, input) && !reshaped && !refit_input(cmd, model, out, input, seed))
        return 0;
    o = cnn_net_output_shape(*out);
    if (flat && classes > 0 && (o.rank != 1 || o.dim[0] != classes)) {
        char a[64];
        fprintf(stderr, "cnn %s: %s: the network's output is %s but the data has %d classes "
                "(the last layer must be flat logits, e.g. dense out=%d)\n",
                cmd, model, cnn_shape_str(&o, a, sizeof a), classes, classes);
        cnn_net_free(*out);
        *out = NULL;
        return 0;
    }
    return 1;
}

int cli_meta_get(const char *meta, const char *key, char *buf, size_t size) {
    long n = cnn_meta_get(meta, key, buf, size);
    return n >= 0 && (size_t)n < size;
}

int cli_meta_count(const char *cmd, const char *path, const char *meta, const char *key,
                   int max, int *out) {
    char v[32];
    if (!cli_meta_get(meta, key, v, sizeof v)) v[0] = 0;
    char *end;
    errno = 0;
    long x = v[0] >= '0' && v[0] <= '9' ? strtol(v, &end, 10) : -1;
    if (x < 0 || *end || errno || x > max) {
        fprintf(stderr, "cnn %s: %s: damaged metadata: %s is '%s', expected an integer from 0 "
                "to %d\n", cmd, path, key, v, max);
        return 0;
    }
    *out = (int)x;
    return 1;
}

int cli_val_count(const char *cmd, const char *spec, int n, int *out) {
    if (!spec) {
        *out = n / 10 < 5000 ? n / 10 : 5000;
        return 1;
    }
    char *end;
    double v = strtod(spec, &end);
    int frac = strchr(spec, '.') != NULL;
    if (end == spec || *end || !(v >= 0) || (frac ? v >= 1 : v != floor(v))) {
        fprintf(stderr, "cnn %s: --val %s: expected a count of samples or a fraction like 0.1\n",
                cmd, spec);
        return 0;
    }
    *out = frac ? (int)(v * (n > 0 ? n : 0)) : (int)fmin(v, 2147483647.0);
    if (n < 0 || *out < n) return 1;
    fprintf(stderr, "cnn %s: --val %s: the training set has only %d samples\n", cmd, spec, n);
    return 0;
}

int cli_checkpoint_val(const char *cmd, const char *path, const char *meta, cnn_dataset *train,
                       cnn_dataset **val) {
    char spec[64], saved[64], now[64], err[1024];
    int seed, limit, n;
    *val = NULL;
    if (!cli_meta_get(meta, "train.val", saved, sizeof saved) ||
        !cli_meta_get(meta, "cli.val", spec, sizeof spec)) {
        fprintf(stderr, "cnn %s: %s: no validation samples to evaluate: its training held none "
                "out (--val 0), or cnn train did not write it\n", cmd, path);
        return 0;
    }
    /* Drawn with the run's seed, or an ensemble's (cli.val_seed; older runs: train.seed). */
    const char *seed_key = cli_meta_get(meta, "cli.val_seed", now, sizeof now) ? "cli.val_seed"
                                                                               : "train.seed";
    if (!cli_meta_count(cmd, path, meta, seed_key, INT_MAX, &seed) ||
        !cli_meta_count(cmd, path, meta, "cli.limit", INT_MAX, &limit))
        return 0;
    if (limit) cnn_dataset_truncate(train, limit);
    if (!cli_val_count(cmd, *spec ? spec : NULL, train->n, &n)) return 0;
    if (cnn_dataset_hold_out(train, n, (uint64_t)seed, val, err, sizeof err)) {
        fprintf(stderr, "cnn %s: %s\n", cmd, err);
        return 0;
    }
    snprintf(now, sizeof now, "%d:%016" PRIx64, (*val)->n, cnn_dataset_hash(*val));
    if (!strcmp(now, saved)) return 1;
    fprintf(stderr, "cnn %s: %s: the validation samples drawn now are not those its training "
            "held out (it had %s, now %s: samples:hash of the labels): is the data set the "
            "one it was trained on?\n", cmd, path, saved, now);
    cnn_dataset_free(*val);
    *val = NULL;
    return 0;
}

void cli_json_str(const char *s) {
    putchar('"');
    for (; *s; s++) {
        if (*s == '"' || *s == '\\') printf("\\%c", *s);
        else if ((unsigned char)*s < 32) printf("\\u%04x", *s);
        else putchar(*s);
    }
    putchar('"');
}

const char *cli_data_spec(const char *cmd, const char *given, const char *model,
                          const char *meta, char *buf, size_t size) {
    if (given) return given;
    /* cnn train keeps the data set as cli.data; before the trainer it was data. */
    if (cli_meta_get(meta, "cli.data", buf, size) || cli_meta_get(meta, "data", buf, size))
        return buf;
    fprintf(stderr, "cnn %s: %s does not say its data set: give --data\n", cmd, model);
    return NULL;
}

int cli_fuse(const char *cmd, cnn_net **net) {
    char err[2048];
    cnn_net *fused = NULL;
    if (cnn_net_fuse(*net, &fused, err, sizeof err)) {
        fprintf(stderr, "cnn %s: --fuse: %s\n", cmd, err);
        return 0;
    }
    cnn_net_free(*net);
    *net = fused;
    return 1;
}

int cli_load_model_data(const char *cmd, const char *spec, cnn_net *net, cnn_dataset **train,
                        cnn_dataset **test) {
    const cnn_preprocess *p = cnn_net_preprocess(net);
    cnn_shape in = cnn_net_input_shape(net, 0);
    char input[64], err[2048];
    cnn_dataset *tr = NULL;
    snprintf(input, sizeof input, "%dx%dx%d", in.dim[0], in.rank == 3 ? in.dim[1] : 1,
             in.rank == 3 ? in.dim[2] : 1);
    if (!cli_load_task_data(cmd, spec, p->task, in.rank == 3 ? input : NULL, NULL, &tr, test))
        return 0;
    if (train) *train = tr;
    else cnn_dataset_free(tr);
    if (!test) return 1;
    if (p->task != CNN_TASK_REGRESSION && !p->class_names) {
        if ((*test)->classes == p->classes) return 1;
        fprintf(stderr, "cnn %s: --data %s: %d classes, the model has %d (without names)\n",
                cmd, spec, (*test)->classes, p->classes);
        return 0;
    }
    char **names = calloc((size_t)p->classes + 1, sizeof *names);
    for (int k = 0; names && k < p->classes; k++) names[k] = (char *)cnn_net_class_name(net, k);
    cnn_dataset model = {.classes = p->classes, .class_names = names};
    int ok = names && (p->task == CNN_TASK_REGRESSION ||
                       !cnn_dataset_match_classes(*test, &model, err, sizeof err));
    if (!ok) fprintf(stderr, "cnn %s: --data %s: the classes are not the model's: %s\n", cmd, spec,
                     names ? err : "out of memory");
    free(names);
    return ok;
}

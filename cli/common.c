/*
 * common.c - see common.h.
 */
#include "common.h"

#include <dirent.h>
#include <errno.h>
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

static int load_cifar_part(const char *dir, int train, cnn_dataset **out, char *err, size_t len) {
    char paths[5][4096];
    const char *list[5];
    int n = train ? 5 : 1;
    for (int i = 0; i < n; i++) {
        if (train) snprintf(paths[i], sizeof paths[i], "%s/data_batch_%d.bin", dir, i + 1);
        else snprintf(paths[i], sizeof paths[i], "%s/test_batch.bin", dir);
        list[i] = paths[i];
    }
    return cnn_dataset_load_cifar10(list, n, out, err, len) == CNN_STATUS_OK;
}

int cli_load_data(const char *cmd, const char *spec, cnn_dataset **train, cnn_dataset **test,
                  int c, int h, int w) {
    char err[1024], sub[4096];
    const char *dir = spec;
    if (train) *train = NULL;
    if (test) *test = NULL;
    if (strcmp(spec, "fashion-mnist") == 0) {
        dir = FASHION_MNIST_DIR;
        if (!is_dir(dir)) {
            fprintf(stderr,
                    "cnn %s: Fashion-MNIST is not installed (%s is missing): install it with "
                    "'apt-get install dataset-fashion-mnist' (make run does)\n",
                    cmd, dir);
            return 0;
        }
    }
    if (!is_dir(dir)) {
        fprintf(stderr,
                "cnn %s: --data %s: not a folder, nor 'fashion-mnist' (give a folder of IDX, "
                "CIFAR-10 binary or image files)\n",
                cmd, spec);
        return 0;
    }
    int ok = 1;
    if (exists(dir, "train-images-idx3-ubyte.gz") || exists(dir, "train-images-idx3-ubyte") ||
        exists(dir, "t10k-images-idx3-ubyte.gz") || exists(dir, "t10k-images-idx3-ubyte")) {
        if (train) ok = cnn_dataset_load_mnist_dir(dir, 1, train, err, sizeof err) == 0;
        if (ok && test) ok = cnn_dataset_load_mnist_dir(dir, 0, test, err, sizeof err) == 0;
    } else if (exists(dir, "data_batch_1.bin") || exists(dir, "test_batch.bin")) {
        if (train) ok = load_cifar_part(dir, 1, train, err, sizeof err);
        if (ok && test) ok = load_cifar_part(dir, 0, test, err, sizeof err);
    } else if (snprintf(sub, sizeof sub, "%s/cifar-10-batches-bin", dir) > 0 && is_dir(sub)) {
        if (train) ok = load_cifar_part(sub, 1, train, err, sizeof err);
        if (ok && test) ok = load_cifar_part(sub, 0, test, err, sizeof err);
    } else {
        char tr[4096], te[4096];
        snprintf(tr, sizeof tr, "%s/train", dir);
        snprintf(te, sizeof te, "%s/test", dir);
        if (!is_dir(tr) || !is_dir(te)) {
            fprintf(stderr,
                    "cnn %s: --data %s: found no IDX files (train-images-idx3-ubyte[.gz]), no "
                    "CIFAR-10 batches (data_batch_1.bin) and no train/ and test/ image folders\n",
                    cmd, spec);
            return 0;
        }
        if (train) ok = cnn_dataset_load_folder(tr, c, h, w, train, err, sizeof err) == 0;
        if (ok && test) ok = cnn_dataset_load_folder(te, c, h, w, test, err, sizeof err) == 0;
    }
    if (!ok) {
        fprintf(stderr, "cnn %s: %s\n", cmd, err);
        if (train) cnn_dataset_free(*train), *train = NULL;
        if (test) cnn_dataset_free(*test), *test = NULL;
        return 0;
    }
    return 1;
}

int cli_build_model(const char *cmd, const char *model, const cnn_shape *input, int classes,
                    uint64_t seed, cnn_net **out) {
    char err[2048];
    *out = NULL;
    for (int i = 0; i < cnn_model_count(); i++)
        if (strcmp(cnn_model_name(i), model) == 0) {
            if (cnn_model_build(model, input->dim[0], input->dim[1], input->dim[2], classes, seed,
                                out, err, sizeof err)) {
                fprintf(stderr, "cnn %s: model %s: %s\n", cmd, model, err);
                return 0;
            }
            return 1;
        }
    if (access(model, R_OK) != 0) {
        fprintf(stderr, "cnn %s: --model %s: neither a model name (cnn models lists them) nor a "
                "readable file\n", cmd, model);
        return 0;
    }
    if (cnn_net_load_text(model, seed, out, err, sizeof err)) {
        fprintf(stderr, "cnn %s: %s\n", cmd, err);
        return 0;
    }
    cnn_shape in = cnn_net_input_shape(*out, 0), o = cnn_net_output_shape(*out);
    char a[64], b[64];
    if (cnn_shape_numel(&in) != cnn_shape_numel(input) || in.dim[0] != input->dim[0]) {
        fprintf(stderr, "cnn %s: %s: the network's input is %s but the data's samples are %s\n",
                cmd, model, cnn_shape_str(&in, a, sizeof a), cnn_shape_str(input, b, sizeof b));
        cnn_net_free(*out);
        *out = NULL;
        return 0;
    }
    if (o.rank != 1 || o.dim[0] != classes) {
        fprintf(stderr, "cnn %s: %s: the network's output is %s but the data has %d classes "
                "(the last layer must be flat logits, e.g. dense out=%d)\n",
                cmd, model, cnn_shape_str(&o, a, sizeof a), classes, classes);
        cnn_net_free(*out);
        *out = NULL;
        return 0;
    }
    return 1;
}

/* One augmentation word: name or name=value. */
static int augment_word(const char *cmd, const char *w, size_t len, cnn_augment *a) {
    char word[64];
    if (len >= sizeof word) len = sizeof word - 1;
    memcpy(word, w, len);
    word[len] = 0;
    char *eq = strchr(word, '=');
    const char *val = eq ? eq + 1 : NULL;
    if (eq) *eq = 0;
    static const struct { const char *name; int is_int; size_t off; double def, lo, hi; } T[] = {
        {"hflip", 0, offsetof(cnn_augment, hflip), 0.5, 0, 1},
        {"vflip", 0, offsetof(cnn_augment, vflip), 0.5, 0, 1},
        {"crop", 1, offsetof(cnn_augment, crop_pad), 4, 1, 64},
        {"resized-crop", 0, offsetof(cnn_augment, crop_scale), 0.5, 0.05, 1},
        {"rot90", 1, offsetof(cnn_augment, rot90), 1, 0, 1},
        {"rotate", 0, offsetof(cnn_augment, rotate), 10, 0, 180},
        {"translate", 0, offsetof(cnn_augment, translate), 0.1, 0, 0.5},
        {"brightness", 0, offsetof(cnn_augment, brightness), 0.2, 0, 1},
        {"contrast", 0, offsetof(cnn_augment, contrast), 0.2, 0, 1},
        {"grey", 0, offsetof(cnn_augment, grey), 0.2, 0, 1},
        {"cutout", 1, offsetof(cnn_augment, cutout), 8, 1, 1024},
        {"noise", 0, offsetof(cnn_augment, noise), 0.05, 0, 1},
        {"blur", 0, offsetof(cnn_augment, blur), 1, 0.1, 10},
        {"sobel", 1, offsetof(cnn_augment, sobel), 1, 0, 1},
    };
    for (size_t i = 0; i < sizeof T / sizeof T[0]; i++) {
        if (strcmp(word, T[i].name) != 0) continue;
        double v = T[i].def;
        if (val) {
            char *end;
            errno = 0;
            v = strtod(val, &end);
            if (!*val || *end || errno || v < T[i].lo || v > T[i].hi ||
                (T[i].is_int && v != (int)v)) {
                fprintf(stderr, "cnn %s: --augment %s=%s: expected %s from %g to %g\n", cmd,
                        word, val, T[i].is_int ? "an integer" : "a number", T[i].lo, T[i].hi);
                return 0;
            }
        }
        if (T[i].is_int) *(int *)((char *)a + T[i].off) = (int)v;
        else *(float *)((char *)a + T[i].off) = (float)v;
        return 1;
    }
    fprintf(stderr,
            "cnn %s: --augment: unknown transform '%s' (known: hflip[=P], vflip[=P], crop=PAD, "
            "resized-crop=MIN_AREA, rot90, rotate=DEG, translate=FRAC, brightness=B, "
            "contrast=C, grey=P, cutout=SIZE, noise=STD, blur=SIGMA, sobel)\n",
            cmd, word);
    return 0;
}

int cli_parse_augment(const char *cmd, const char *spec, cnn_augment *aug) {
    memset(aug, 0, sizeof *aug);
    if (!spec || !strcmp(spec, "none")) return 1;
    for (const char *s = spec;;) {
        const char *comma = strchr(s, ',');
        size_t len = comma ? (size_t)(comma - s) : strlen(s);
        if (len == 0) {
            fprintf(stderr, "cnn %s: --augment %s: an empty item\n", cmd, spec);
            return 0;
        }
        if (!augment_word(cmd, s, len, aug)) return 0;
        if (!comma) return 1;
        s = comma + 1;
    }
}

int cli_meta_get(const char *meta, const char *key, char *buf, size_t size) {
    size_t klen = strlen(key);
    for (const char *p = meta; p && *p;) {
        const char *eol = strchr(p, '\n');
        size_t len = eol ? (size_t)(eol - p) : strlen(p);
        if (len > klen && strncmp(p, key, klen) == 0 && p[klen] == '=') {
            size_t vlen = len - klen - 1;
            if (vlen >= size) vlen = size - 1;
            memcpy(buf, p + klen + 1, vlen);
            buf[vlen] = 0;
            return 1;
        }
        p = eol ? eol + 1 : NULL;
    }
    return 0;
}

int cli_parse_floats(const char *s, float *out, int n) {
    for (int i = 0; i < n; i++) {
        char *end;
        errno = 0;
        out[i] = strtof(s, &end);
        if (end == s || errno) return 0;
        if (i < n - 1 && *end != ',') return 0;
        s = end + (i < n - 1);
        if (i == n - 1 && *end) return 0;
    }
    return 1;
}

void cli_free_names(char **names, int n) {
    if (!names) return;
    for (int i = 0; i < n; i++) free(names[i]);
    free(names);
}

int cli_load_model(const char *cmd, const char *path, cnn_net **net, char **meta, char ***names,
                   int *n_names, float *mean, float *std) {
    char err[2048];
    *net = NULL;
    *meta = NULL;
    if (cnn_checkpoint_load(path, net, NULL, meta, err, sizeof err)) {
        fprintf(stderr, "cnn %s: %s\n", cmd, err);
        return 0;
    }
    cnn_shape in = cnn_net_input_shape(*net, 0);
    char buf[8192];
    int C = in.dim[0];
    if (mean && std) {
        if (!cli_meta_get(*meta, "mean", buf, sizeof buf) || !cli_parse_floats(buf, mean, C) ||
            !cli_meta_get(*meta, "std", buf, sizeof buf) || !cli_parse_floats(buf, std, C)) {
            fprintf(stderr, "cnn %s: %s: no valid normalisation (mean, std for %d channels) in "
                    "the checkpoint: was it written by cnn train?\n", cmd, path, C);
            goto fail;
        }
    }
    if (names) {
        if (!cli_meta_get(*meta, "classes", buf, sizeof buf)) {
            fprintf(stderr, "cnn %s: %s: no class names in the checkpoint: was it written by cnn "
                    "train?\n", cmd, path);
            goto fail;
        }
        int n = 1;
        for (char *p = buf; *p; p++) n += *p == '|';
        *names = calloc((size_t)n, sizeof **names);
        *n_names = n;
        char *save = NULL, *tok = strtok_r(buf, "|", &save);
        for (int i = 0; i < n; i++, tok = strtok_r(NULL, "|", &save))
            (*names)[i] = strdup(tok ? tok : "?");
    }
    return 1;
fail:
    cnn_net_free(*net);
    free(*meta);
    *net = NULL;
    *meta = NULL;
    return 0;
}

void cli_normalise(float *x, const cnn_shape *shape, const float *mean, const float *std) {
    size_t plane = cnn_shape_numel(shape) / (size_t)shape->dim[0];
    for (int c = 0; c < shape->dim[0]; c++)
        for (size_t k = 0; k < plane; k++) x[c * plane + k] = (x[c * plane + k] - mean[c]) / std[c];
}

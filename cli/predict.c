/*
 * predict.c - `cnn predict MODEL.ckpt IMAGE|FOLDER...`: the most likely classes of each image
 * with their probabilities, through the library's inference (cnn_net_load, cnn_classify_file:
 * the model's stored preprocessing applied). A folder stands for its PNG and JPEG files, in
 * name order. A file that cannot be read is reported and skipped; the exit code is then 1.
 */
#include "cli.h"
#include "common.h"
#include "opts.h"

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

#define MAX_ARGS 4096

typedef struct predict_opts {
    int top, json, threads, fuse;
} predict_opts;

#define PREDICT_OPTIONS(c)                                                                     \
    {                                                                                          \
        {"top", OPT_INT, &(c)->top, "K", "classes shown per image [5, at most the classes]", 1, 100000, 0}, \
        {"json", OPT_FLAG, &(c)->json, "", "one JSON object per line: file, classes, probabilities (or error)", 0, 0, 0}, \
        {"threads", OPT_INT, &(c)->threads, "T", "threads [1]", 1, 1024, 0},                  \
        {"fuse", OPT_FLAG, &(c)->fuse, "", "run the inference form: batch norm folded into the convolutions, ReLUs applied by the convolutions and sums before them (cnn_net_fuse)", 0, 0, 0}, \
        {NULL, 0, NULL, NULL, NULL, 0, 0, 0},                                                 \
    }

static const char ABOUT[] =
    "Prints the most likely classes of each image (PNG or JPEG; a folder: its images) with\n"
    "their probabilities. The model's preprocessing is applied as in training.";

void cli_predict_help(FILE *f) {
    predict_opts c;
    cli_opt o[] = PREDICT_OPTIONS(&c);
    cli_help(f, "cnn predict MODEL.ckpt IMAGE|FOLDER... [options]", ABOUT, o);
}

/* One image: its line(s), or its error. Returns 1 on success. */
static int predict_one(cnn_net *net, const char *path, const predict_opts *c, int *cls,
                       float *prob) {
    if (cnn_classify_file(net, path, c->top, cls, prob)) {
        if (c->json) {
            printf("{\"file\": ");
            cli_json_str(path);
            printf(", \"error\": ");
            cli_json_str(cnn_net_last_error(net));
            printf("}\n");
        }
        fprintf(stderr, "cnn predict: %s (skipped)\n", cnn_net_last_error(net));
        return 0;
    }
    if (c->json) {
        printf("{\"file\": ");
        cli_json_str(path);
        printf(", \"top\": [");
        for (int r = 0; r < c->top; r++) {
            printf("%s{\"class\": ", r ? ", " : "");
            cli_json_str(cnn_net_class_name(net, cls[r]));
            printf(", \"index\": %d, \"probability\": %.6f}", cls[r], (double)prob[r]);
        }
        printf("]}\n");
        return 1;
    }
    printf("%s\n", path);
    for (int r = 0; r < c->top; r++)
        printf("  %d. %-16s %6.2f%%\n", r + 1, cnn_net_class_name(net, cls[r]), 100.0 * prob[r]);
    return 1;
}

static int is_image_name(const char *name) {
    const char *dot = strrchr(name, '.');
    return dot && (!strcasecmp(dot, ".png") || !strcasecmp(dot, ".jpg") || !strcasecmp(dot, ".jpeg"));
}

static int by_name(const void *a, const void *b) {
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The images of a folder, in name order; returns how many failed (or -1 if it is unreadable). */
static int predict_folder(cnn_net *net, const char *dir, const predict_opts *c, int *cls,
                          float *prob) {
    DIR *d = opendir(dir);
    if (!d) return -1;
    char **names = NULL;
    size_t n = 0, cap = 0;
    int failed = 0;
    for (struct dirent *e; (e = readdir(d));) {
        if (!is_image_name(e->d_name)) continue;
        if (n == cap) {
            char **grown = realloc(names, (cap = cap ? 2 * cap : 64) * sizeof *names);
            if (!grown) break;
            names = grown;
        }
        size_t len = strlen(dir) + strlen(e->d_name) + 2;
        if ((names[n] = malloc(len))) snprintf(names[n++], len, "%s/%s", dir, e->d_name);
    }
    closedir(d);
    qsort(names, n, sizeof *names, by_name);
    for (size_t i = 0; i < n; i++) {
        failed += !predict_one(net, names[i], c, cls, prob);
        free(names[i]);
    }
    free(names);
    if (n == 0) fprintf(stderr, "cnn predict: %s: no .png, .jpg or .jpeg files\n", dir);
    return failed + (n == 0);
}

static int predict_all(cnn_net *net, const char *const *args, int n, const predict_opts *c) {
    int *cls = malloc((size_t)c->top * sizeof *cls), failed = 0;
    float *prob = malloc((size_t)c->top * sizeof *prob);
    if (!cls || !prob) {
        fprintf(stderr, "cnn predict: out of memory\n");
        failed = 1;
    }
    for (int i = 0; i < n && cls && prob; i++) {
        struct stat st;
        if (stat(args[i], &st) == 0 && S_ISDIR(st.st_mode)) {
            int f = predict_folder(net, args[i], c, cls, prob);
            if (f < 0) fprintf(stderr, "cnn predict: %s: cannot read the folder (skipped)\n", args[i]);
            failed += f < 0 ? 1 : f;
        } else {
            failed += !predict_one(net, args[i], c, cls, prob);
        }
    }
    free(cls);
    free(prob);
    return failed;
}

int cli_predict(int argc, char **argv) {
    predict_opts c = {.top = 5, .threads = 1};
    cli_opt o[] = PREDICT_OPTIONS(&c);
    const char **pos = malloc(MAX_ARGS * sizeof *pos);
    int npos, status = 2;
    char err[2048];
    cnn_net *net = NULL;
    if (!pos || !cli_parse("predict", o, argc, argv, pos, MAX_ARGS, &npos)) goto out;
    if (npos < 2) {
        fprintf(stderr, "cnn predict: give a model and at least one image or folder (usage: "
                "cnn predict MODEL.ckpt|MODEL.onnx IMAGE|FOLDER...)\n");
        goto out;
    }
    status = 1;
    if (cnn_net_load(pos[0], &net, err, sizeof err)) {
        fprintf(stderr, "cnn predict: %s\n", err);
        goto out;
    }
    if (c.fuse && !cli_fuse("predict", &net)) goto out;
    int K = cnn_net_preprocess(net)->classes;
    if (cnn_net_preprocess(net)->task != CNN_TASK_CLASSIFICATION) {
        fprintf(stderr, "cnn predict: %s was trained for %s; predict classifies images\n",
                pos[0], cnn_task_name(cnn_net_preprocess(net)->task));
        goto out;
    }
    if (!cli_find(o, "top")->given && c.top > K) c.top = K;
    if (c.top > K) {
        fprintf(stderr, "cnn predict: --top %d: the model knows %d classes\n", c.top, K);
        status = 2;
        goto out;
    }
    if (cnn_net_set_threads(net, c.threads)) {
        fprintf(stderr, "cnn predict: %s\n", cnn_net_last_error(net));
        goto out;
    }
    status = predict_all(net, pos + 1, npos - 1, &c) ? 1 : 0;
out:
    cnn_net_free(net);
    free(pos);
    return status;
}

/*
 * data.c - the data sets of the cnn tool by task: classification (Fashion-MNIST, IDX, CIFAR-10
 * or train/CLASS/ and test/CLASS/ image folders, test classes matched to the training classes
 * by name), segmentation (train/images, train/masks, test/images, test/masks) and regression
 * (train.csv and test.csv of image paths and targets). The layout found must be that of the
 * task the loss implies; --input sizes images that are resized and is refused where the data
 * have a fixed size.
 */
#include "common.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static int is_dir(const char *path) {
    struct stat st;
    return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

static int has(const char *dir, const char *name, int dir_wanted) {
    char p[4200];
    snprintf(p, sizeof p, "%s/%s", dir, name);
    return dir_wanted ? is_dir(p) : access(p, R_OK) == 0;
}

/* The task a folder's layout holds, or -1 for a classification layout or an unknown one. */
static int layout_task(const char *dir) {
    if (has(dir, "train/images", 1) && has(dir, "train/masks", 1)) return CNN_TASK_SEGMENTATION;
    if (has(dir, "train.csv", 0)) return CNN_TASK_REGRESSION;
    return CNN_TASK_CLASSIFICATION;
}

int cli_parse_shape(const char *cmd, const char *s, int *c, int *h, int *w) {
    char tail;
    if (sscanf(s, "%dx%dx%d%c", c, h, w, &tail) != 3 || *c < 1 || *h < 1 || *w < 1 ||
        (*c != 1 && *c != 3) || *h > 65536 || *w > 65536) {
        fprintf(stderr, "cnn %s: --input %s: expected 1xHxW or 3xHxW\n", cmd, s);
        return 0;
    }
    return 1;
}

/* The loaders below print what is wrong and return 0; the caller frees what they loaded. */

static int load_segmentation(const char *cmd, const char *dir, int c, int h, int w,
                             cnn_dataset **train, cnn_dataset **test) {
    char err[1024], im[4200], mk[4200];
    snprintf(im, sizeof im, "%s/train/images", dir);
    snprintf(mk, sizeof mk, "%s/train/masks", dir);
    int ok = cnn_dataset_load_segmentation(im, mk, c, h, w, 0, train, err, sizeof err) == 0;
    snprintf(im, sizeof im, "%s/test/images", dir);
    snprintf(mk, sizeof mk, "%s/test/masks", dir);
    if (ok && test)
        ok = cnn_dataset_load_segmentation(im, mk, c, h, w, (*train)->classes, test, err,
                                           sizeof err) == 0;
    if (!ok) fprintf(stderr, "cnn %s: %s\n", cmd, err);
    return ok;
}

static int load_regression(const char *cmd, const char *dir, int c, int h, int w,
                           cnn_dataset **train, cnn_dataset **test) {
    char err[1024], p[4200];
    snprintf(p, sizeof p, "%s/train.csv", dir);
    int ok = cnn_dataset_load_csv(p, c, h, w, train, err, sizeof err) == 0;
    snprintf(p, sizeof p, "%s/test.csv", dir);
    if (ok && test) ok = cnn_dataset_load_csv(p, c, h, w, test, err, sizeof err) == 0;
    if (ok && test && (*test)->n_targets != (*train)->n_targets) {
        snprintf(err, sizeof err, "%s: %d targets per sample, train.csv has %d", p,
                 (*test)->n_targets, (*train)->n_targets);
        ok = 0;
    }
    if (!ok) fprintf(stderr, "cnn %s: %s\n", cmd, err);
    return ok;
}

/* Classification: the test set's classes follow the training set's by name. */
static int load_classes(const char *cmd, const char *spec, int c, int h, int w,
                        const cnn_shard *shard, cnn_dataset **train, cnn_dataset **test) {
    if (!cli_load_data(cmd, spec, train, test, c, h, w, shard)) return 0;
    char err[2048];
    if (test && cnn_dataset_match_classes(*test, *train, err, sizeof err)) {
        fprintf(stderr, "cnn %s: --data %s: the test set's classes are not the training set's: "
                "%s\n", cmd, spec, err);
        return 0;
    }
    return 1;
}

/* Data whose images keep their size: a --input that differs is an error, not ignored. */
static int check_input(const char *cmd, const char *input, const cnn_dataset *ds) {
    int c, h, w;
    if (!input || !ds) return 1;
    if (!cli_parse_shape(cmd, input, &c, &h, &w)) return 0;
    if (ds->shape.dim[0] == c && ds->shape.dim[1] == h && ds->shape.dim[2] == w) return 1;
    fprintf(stderr, "cnn %s: --input %s: this data set's samples are %dx%dx%d and are not "
            "resized (--input sizes folders of images)\n", cmd, input, ds->shape.dim[0],
            ds->shape.dim[1], ds->shape.dim[2]);
    return 0;
}

static int resized_kind(const char *dir) {
    return layout_task(dir) != CNN_TASK_CLASSIFICATION ||
           (has(dir, "train", 1) && has(dir, "test", 1) && !has(dir, "train-images-idx3-ubyte", 0) &&
            !has(dir, "train-images-idx3-ubyte.gz", 0));
}

int cli_load_task_data(const char *cmd, const char *spec, cnn_task task, const char *input,
                       const cnn_shard *shard, cnn_dataset **train, cnn_dataset **test) {
    static const char *const hint[] = {
        "train/CLASS/ and test/CLASS/ image folders, IDX or CIFAR-10 files (--loss cross-entropy)",
        "train/images, train/masks, test/images and test/masks (--loss pixel-cross-entropy)",
        "train.csv and test.csv of IMAGE,target... lines (--loss mse or bce-logits)"};
    const char *dir = strcmp(spec, "fashion-mnist") ? spec : FASHION_MNIST_DIR;
    *train = NULL;
    if (test) *test = NULL;
    int found = is_dir(dir) ? layout_task(dir) : (int)CNN_TASK_CLASSIFICATION;
    if (found != (int)task) {
        fprintf(stderr, "cnn %s: --data %s holds %s, but the loss is for %s, which needs %s\n",
                cmd, spec, hint[found], cnn_task_name(task), hint[task]);
        return 0;
    }
    if (shard && task != CNN_TASK_CLASSIFICATION) {
        fprintf(stderr, "cnn %s: --shard: %s data sets are loaded whole by every rank (a shard "
                "holds images and labels)\n", cmd, cnn_task_name(task));
        return 0;
    }
    int c = 3, h = 32, w = 32, resized = is_dir(dir) && resized_kind(dir);
    if (input && resized && !cli_parse_shape(cmd, input, &c, &h, &w)) return 0;
    int ok = task == CNN_TASK_SEGMENTATION ? load_segmentation(cmd, dir, c, h, w, train, test)
           : task == CNN_TASK_REGRESSION   ? load_regression(cmd, dir, c, h, w, train, test)
                                           : load_classes(cmd, spec, c, h, w, shard, train, test);
    if (ok && !resized && !check_input(cmd, input, *train)) ok = 0;
    if (!ok) {
        cnn_dataset_free(*train);
        if (test) cnn_dataset_free(*test), *test = NULL;
        *train = NULL;
    }
    return ok;
}

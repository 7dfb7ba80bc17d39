/*
 * fuzz_idx.c - libFuzzer target for the IDX reader (src/data/idx.c): an image file and a
 * label file, plain or gzip-compressed, through cnn_dataset_load_idx.
 *
 * An input is a pair: its first two bytes (little-endian) give the length of the image file
 * (cut to what follows), the rest is the label file. Any pair must either be refused with a
 * message that starts with one of the two paths, leaving no data set, or give a data set of
 * at least one sample whose labels are below its class count and whose every sample reads.
 * Anything else - a crash, a sanitizer report, a leak, an allocation beyond libFuzzer's limit
 * (a small file that costs gigabytes), an abort below - is a bug.
 *
 *   make fuzz FUZZ_TARGET=idx    builds build-fuzz/fuzz_idx and runs it
 */
#include "fuzz_files.h"

/* Every sample and label of a data set a loader gave, read once. */
static void check_dataset(const cnn_dataset *ds) {
    if (!ds || ds->n < 1 || ds->classes < 1 || !ds->y || !ds->class_names) abort();
    size_t numel = cnn_shape_numel(&ds->shape);
    float *x = malloc(numel * sizeof *x);
    if (!x) abort();
    for (int i = 0; i < ds->n; i++) {
        if (ds->y[i] < 0 || ds->y[i] >= ds->classes) abort();
        cnn_dataset_sample(ds, i, x);
        for (size_t k = 0; k < numel; k++)
            if (!(x[k] >= 0.0f && x[k] <= 1.0f)) abort();
    }
    for (int k = 0; k < ds->classes; k++)
        if (!ds->class_names[k]) abort();
    free(x);
}

static int fuzz_idx(const uint8_t *data, size_t size) {
    size_t split = size >= 2 ? (size_t)data[0] | (size_t)data[1] << 8 : 0;
    const uint8_t *rest = data + (size >= 2 ? 2 : size);
    size_t left = size >= 2 ? size - 2 : 0;
    if (split > left) split = left;
    const char *images = fuzz_path(0, "images-idx3-ubyte"), *labels = fuzz_path(1, "labels-idx1-ubyte");
    fuzz_write(images, rest, split);
    fuzz_write(labels, rest + split, left - split);
    cnn_dataset *ds = NULL;
    char err[2048] = "";
    cnn_status st = cnn_dataset_load_idx(images, labels, &ds, err, sizeof err);
    if (st != CNN_STATUS_OK) {
        if (ds) abort();
        fuzz_check_refusal(err);
        return 0;
    }
    check_dataset(ds);
    cnn_dataset_free(ds);
    return 1;
}

#ifndef FUZZ_NO_MAIN
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    fuzz_idx(data, size);
    return 0;
}
#endif

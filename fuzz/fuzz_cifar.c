/*
 * fuzz_cifar.c - libFuzzer target for the CIFAR-10 reader (src/data/cifar.c): one binary
 * batch, and the class names (batches.meta.txt) beside it when the input has them.
 *
 * An input is a flag byte, then the files: when the flag is odd, two bytes (little-endian)
 * give the length of batches.meta.txt, which follows (cut to what there is), and the batch is
 * the rest; when it is even there is no names file and the batch is everything after the
 * flag. Any input must either be refused with a message that starts with one of the paths,
 * leaving no data set, or give a data set whose labels are below 10, whose every sample reads
 * and whose ten class names are not empty. Anything else - a crash, a sanitizer report, a
 * leak, an allocation beyond libFuzzer's limit, an abort below - is a bug.
 *
 *   make fuzz FUZZ_TARGET=cifar    builds build-fuzz/fuzz_cifar and runs it
 */
#include "fuzz_files.h"

static void check_cifar(const cnn_dataset *ds) {
    if (!ds || ds->n < 1 || ds->classes != 10 || ds->shape.rank != 3 || !ds->class_names) abort();
    float x[3 * 32 * 32];
    for (int i = 0; i < ds->n; i++) {
        if (ds->y[i] < 0 || ds->y[i] >= 10) abort();
        cnn_dataset_sample(ds, i, x);
    }
    for (int k = 0; k < 10; k++)
        if (!ds->class_names[k] || !ds->class_names[k][0]) abort();
}

static int fuzz_cifar(const uint8_t *data, size_t size) {
    if (size < 1) return 0;
    int named = data[0] & 1;
    size_t head = named ? 3 : 1, names = 0;
    if (head > size) return 0;
    if (named) names = (size_t)data[1] | (size_t)data[2] << 8;
    if (names > size - head) names = size - head;
    const char *batch = fuzz_path(0, "data_batch_1.bin"), *meta = fuzz_path(1, "batches.meta.txt");
    if (named)
        fuzz_write(meta, data + head, names);
    else
        unlink(meta);
    fuzz_write(batch, data + head + names, size - head - names);
    cnn_dataset *ds = NULL;
    char err[2048] = "";
    cnn_status st = cnn_dataset_load_cifar10(&batch, 1, &ds, err, sizeof err);
    if (st != CNN_STATUS_OK) {
        if (ds) abort();
        fuzz_check_refusal(err);
        return 0;
    }
    check_cifar(ds);
    cnn_dataset_free(ds);
    return 1;
}

#ifndef FUZZ_NO_MAIN
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    fuzz_cifar(data, size);
    return 0;
}
#endif

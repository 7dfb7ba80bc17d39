/*
 * cifar.c - CIFAR-10's binary batches (data_batch_1.bin ... data_batch_5.bin, test_batch.bin).
 *
 * Each file is a sequence of 3073-byte records: one label byte (0..9), then 3072 pixel bytes,
 * the 1024 red values of the 32x32 image row by row, then the green, then the blue: already
 * (C, H, W) = (3, 32, 32), so samples are copied through as they are, bytes (the data set's
 * pixels; cnn_dataset_sample reads them as pixel / 255).
 *
 * The sizes of all files are checked before anything is allocated (a size that is not a
 * multiple of 3073 is not CIFAR-10: CIFAR-100's records have two label bytes), through the
 * opened files: a folder, a FIFO or a device is refused at once, and never blocks. Class names
 * come from batches.meta.txt beside the first file (one name a line, blank lines ignored),
 * or are CIFAR-10's ten names when there is no such file.
 */
#include "data.h"

#include <errno.h>
#include <limits.h>
#include <string.h>

#define CIFAR_CLASSES 10
#define CIFAR_SIDE 32
#define CIFAR_PIXELS (3 * CIFAR_SIDE * CIFAR_SIDE)
#define CIFAR_RECORD (1 + CIFAR_PIXELS)
#define CIFAR_NAME_MAX 256

static const char *const cifar_names[CIFAR_CLASSES] = {
    "airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"};

/* Reads the ten class names of the batches.meta.txt in the folder of first_path into names;
 * *found is 0 (and names untouched) when that file does not exist. */
static cnn_status read_meta(const char *first_path, char names[CIFAR_CLASSES][CIFAR_NAME_MAX],
                            int *found, char *err, size_t errlen) {
    static const char meta_name[] = "batches.meta.txt";
    *found = 0;
    const char *slash = strrchr(first_path, '/');
    size_t dir_len = slash ? (size_t)(slash - first_path) + 1 : 0;
    char *path = cnn_alloc(dir_len + sizeof meta_name);
    if (!path) return cnn_set_error(err, errlen, CNN_STATUS_NO_MEMORY, "out of memory");
    memcpy(path, first_path, dir_len);
    memcpy(path + dir_len, meta_name, sizeof meta_name);

    FILE *f;
    cnn_status st = cnn_open_regular(path, "a list of class names", &f, NULL, err, errlen);
    if (st) {
        if (errno == ENOENT) st = CNN_STATUS_OK;
        cnn_free(path);
        return st;
    }
    char line[CIFAR_NAME_MAX + 1];
    int count = 0, line_no = 0;
    while (st == CNN_STATUS_OK && fgets(line, sizeof line, f)) {
        line_no++;
        size_t len = strlen(line);
        int whole = (len && line[len - 1] == '\n') || feof(f);
        while (len && (line[len - 1] == '\n' || line[len - 1] == '\r' || line[len - 1] == ' ' ||
                       line[len - 1] == '\t'))
            line[--len] = 0;
        if (!whole || len >= CIFAR_NAME_MAX) {
            st = cnn_set_error(err, errlen, CNN_STATUS_FORMAT,
                               "%s:%d: line longer than %d characters", path, line_no,
                               CIFAR_NAME_MAX - 1);
            break;
        }
        if (!len) continue;
        if (count == CIFAR_CLASSES) {
            st = cnn_set_error(err, errlen, CNN_STATUS_FORMAT,
                               "%s:%d: more than %d class names", path, line_no,
                               CIFAR_CLASSES);
            break;
        }
        memcpy(names[count++], line, len + 1);
    }
    if (st == CNN_STATUS_OK && ferror(f))
        st = cnn_set_error(err, errlen, CNN_STATUS_IO, "%s: read error", path);
    if (st == CNN_STATUS_OK && count != CIFAR_CLASSES)
        st = cnn_set_error(err, errlen, CNN_STATUS_FORMAT, "%s: %d class names, expected %d",
                           path, count, CIFAR_CLASSES);
    fclose(f);
    cnn_free(path);
    if (st == CNN_STATUS_OK) *found = 1;
    return st;
}

/* Reads the records of one file, samples `first` on of the whole set, into ds, keeping the
 * images of shard sh and every label; `records` is what its size promised. */
static cnn_status read_batch(const char *path, cnn_dataset *ds, cnn_shard sh, int first,
                             int records, char *err, size_t errlen) {
    FILE *f;
    cnn_status st = cnn_open_regular(path, "a CIFAR-10 batch", &f, NULL, err, errlen);
    if (st) return st;
    unsigned char rec[CIFAR_RECORD];
    for (int r = 0; r < records && st == CNN_STATUS_OK; r++) {
        size_t got = fread(rec, 1, sizeof rec, f);
        if (got != sizeof rec) {
            /* The size was checked a moment ago: the file changed or could not be read. */
            st = ferror(f) ? cnn_set_error(err, errlen, CNN_STATUS_IO,
                                           "%s: read error in record %d: %s", path, r,
                                           strerror(errno))
                           : cnn_set_error(err, errlen, CNN_STATUS_FORMAT,
                                           "%s: truncated: ends in record %d of %d", path, r,
                                           records);
            break;
        }
        if (rec[0] >= CIFAR_CLASSES) {
            st = cnn_set_error(err, errlen, CNN_STATUS_FORMAT,
                               "%s: record %d has label %d, expected 0 to %d", path, r, rec[0],
                               CIFAR_CLASSES - 1);
            break;
        }
        int slot = cnn_data_shard_slot(sh, first + r);
        if (ds->ids) ds->whole_y[first + r] = rec[0];
        if (slot < 0) continue;
        ds->y[slot] = rec[0];
        memcpy(ds->pixels + (size_t)slot * CIFAR_PIXELS, rec + 1, CIFAR_PIXELS);
    }
    fclose(f);
    return st;
}

cnn_status cnn_dataset_load_cifar10(const char *const *paths, int n_paths, cnn_dataset **out,
                                    char *err, size_t errlen) {
    cnn_shard all = {0, 1};
    return cnn_dataset_load_cifar10_shard(paths, n_paths, all, out, err, errlen);
}

cnn_status cnn_dataset_load_cifar10_shard(const char *const *paths, int n_paths,
                                          cnn_shard shard, cnn_dataset **out, char *err,
                                          size_t errlen) {
    if (!out || !paths || n_paths < 1)
        return cnn_set_error(err, errlen, CNN_STATUS_INVALID_ARGUMENT,
                             "load_cifar10: no files given");
    *out = NULL;
    for (int i = 0; i < n_paths; i++)
        if (!paths[i])
            return cnn_set_error(err, errlen, CNN_STATUS_INVALID_ARGUMENT,
                                 "load_cifar10: file %d of %d is NULL", i, n_paths);

    cnn_status st = cnn_data_shard_check(shard, paths[0], err, errlen);
    if (st != CNN_STATUS_OK) return st;
    int *records = cnn_alloc((size_t)n_paths * sizeof *records);
    if (!records) return cnn_set_error(err, errlen, CNN_STATUS_NO_MEMORY, "out of memory");
    long long total = 0;
    for (int i = 0; i < n_paths && st == CNN_STATUS_OK; i++) {
        FILE *f;
        size_t len = 0;
        long long size = 0;
        if ((st = cnn_open_regular(paths[i], "a CIFAR-10 batch", &f, &len, err, errlen)))
            break;
        fclose(f);
        if ((size = (long long)len) == 0 || size % CIFAR_RECORD != 0)
            st = cnn_set_error(err, errlen, CNN_STATUS_FORMAT,
                               "%s: size %lld bytes is not a positive multiple of the "
                               "%d-byte CIFAR-10 record (1 label byte, 3x32x32 pixels)",
                               paths[i], size, CIFAR_RECORD);
        else if ((total += size / CIFAR_RECORD) > INT_MAX)
            st = cnn_set_error(err, errlen, CNN_STATUS_INVALID_ARGUMENT,
                               "load_cifar10: more than %d records", INT_MAX);
        else
            records[i] = (int)(size / CIFAR_RECORD);
    }

    char names[CIFAR_CLASSES][CIFAR_NAME_MAX];
    int found = 0;
    if (st == CNN_STATUS_OK) st = read_meta(paths[0], names, &found, err, errlen);
    cnn_dataset *ds = NULL;
    if (st == CNN_STATUS_OK) {
        ds = cnn_data_shard_new((int)total, shard, 3, CIFAR_SIDE, CIFAR_SIDE, CIFAR_CLASSES, 1);
        if (!ds)
            st = cnn_set_error(err, errlen, CNN_STATUS_NO_MEMORY,
                               "load_cifar10: out of memory for %lld images", total);
    }
    if (st == CNN_STATUS_OK) {
        const char *name_ptrs[CIFAR_CLASSES];
        for (int k = 0; k < CIFAR_CLASSES; k++) name_ptrs[k] = found ? names[k] : cifar_names[k];
        st = cnn_data_set_names(ds, name_ptrs, err, errlen);
    }
    for (int i = 0, first = 0; i < n_paths && st == CNN_STATUS_OK; i++) {
        st = read_batch(paths[i], ds, shard, first, records[i], err, errlen);
        first += records[i];
    }
    cnn_free(records);
    if (st != CNN_STATUS_OK) {
        cnn_dataset_free(ds);
        return st;
    }
    *out = ds;
    return CNN_STATUS_OK;
}

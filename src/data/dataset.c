/*
 * dataset.c - the in-memory data set: allocation and freeing, class names, the seeded split
 * into two parts, per-channel statistics, and the error helper every loader uses.
 *
 * A data set holds N samples of shape (C, H, W) (or (C, L), (C)) as floats, NCHW, and N int32
 * labels in [0, classes).
 */
#include "data.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

cnn_status cnn_data_error(char *err, size_t errlen, cnn_status status, const char *fmt, ...) {
    if (err && errlen) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err, errlen, fmt, ap);
        va_end(ap);
    }
    return status;
}

char *cnn_data_strdup(const char *s) {
    size_t len = strlen(s);
    char *copy = cnn_alloc(len + 1);
    if (copy) memcpy(copy, s, len + 1);
    return copy;
}

cnn_dataset *cnn_data_new(int n, int c, int h, int w, int classes) {
    CNN_ASSERT(n >= 0 && c > 0 && h > 0 && w > 0 && classes > 0);
    size_t numel = (size_t)c * (size_t)h * (size_t)w;
    cnn_dataset *ds = cnn_calloc(1, sizeof *ds);
    if (!ds) return NULL;
    ds->n = n;
    ds->shape.rank = 3;
    ds->shape.dim[0] = c;
    ds->shape.dim[1] = h;
    ds->shape.dim[2] = w;
    ds->classes = classes;
    /* cnn_calloc checks the product for overflow; a huge data set fails here, not later. */
    ds->x = (size_t)n > SIZE_MAX / numel ? NULL : cnn_calloc((size_t)n * numel, sizeof(float));
    ds->y = cnn_calloc((size_t)n, sizeof(int32_t));
    ds->class_names = cnn_calloc((size_t)classes, sizeof(char *));
    if (!ds->x || !ds->y || !ds->class_names) {
        cnn_dataset_free(ds);
        return NULL;
    }
    return ds;
}

cnn_status cnn_data_set_names(cnn_dataset *ds, const char *const *names, char *err,
                              size_t errlen) {
    for (int k = 0; k < ds->classes; k++) {
        char number[16];
        snprintf(number, sizeof number, "%d", k);
        char *copy = cnn_data_strdup(names ? names[k] : number);
        if (!copy)
            return cnn_data_error(err, errlen, CNN_STATUS_NO_MEMORY,
                                  "out of memory for class names");
        cnn_free(ds->class_names[k]);
        ds->class_names[k] = copy;
    }
    return CNN_STATUS_OK;
}

void cnn_dataset_free(cnn_dataset *ds) {
    if (!ds) return;
    if (ds->class_names)
        for (int k = 0; k < ds->classes; k++) cnn_free(ds->class_names[k]);
    cnn_free(ds->class_names);
    cnn_free(ds->x);
    cnn_free(ds->y);
    cnn_free(ds);
}

/* An empty data set with src's shape, classes and class names, room for n samples. */
static cnn_dataset *like(const cnn_dataset *src, int n) {
    cnn_dataset *ds = cnn_calloc(1, sizeof *ds);
    if (!ds) return NULL;
    size_t numel = cnn_shape_numel(&src->shape);
    ds->n = n;
    ds->shape = src->shape;
    ds->classes = src->classes;
    ds->x = cnn_calloc((size_t)n * numel, sizeof(float));
    ds->y = cnn_calloc((size_t)n, sizeof(int32_t));
    ds->class_names = cnn_calloc((size_t)src->classes, sizeof(char *));
    int ok = ds->x && ds->y && ds->class_names;
    for (int k = 0; ok && k < src->classes; k++)
        ok = (ds->class_names[k] = cnn_data_strdup(src->class_names[k])) != NULL;
    if (!ok) {
        cnn_dataset_free(ds);
        return NULL;
    }
    return ds;
}

cnn_status cnn_dataset_split(const cnn_dataset *src, int n_second, uint64_t seed,
                             cnn_dataset **first, cnn_dataset **second, char *err,
                             size_t errlen) {
    if (!src || !first || !second)
        return cnn_data_error(err, errlen, CNN_STATUS_INVALID_ARGUMENT,
                              "split: NULL data set or result pointer");
    *first = *second = NULL;
    if (n_second < 0 || n_second > src->n)
        return cnn_data_error(err, errlen, CNN_STATUS_INVALID_ARGUMENT,
                              "split: %d samples asked for the second part of a data set of %d",
                              n_second, src->n);
    size_t numel = cnn_shape_numel(&src->shape);
    int32_t *perm = cnn_alloc((size_t)src->n * sizeof *perm);
    unsigned char *taken = cnn_calloc((size_t)src->n, 1);
    cnn_dataset *a = like(src, src->n - n_second), *b = like(src, n_second);
    if (!perm || !taken || !a || !b) {
        cnn_free(perm);
        cnn_free(taken);
        cnn_dataset_free(a);
        cnn_dataset_free(b);
        return cnn_data_error(err, errlen, CNN_STATUS_NO_MEMORY,
                              "split: out of memory for %d samples", src->n);
    }
    /* The first n_second steps of a forward Fisher-Yates shuffle: perm[0..n_second) is then a
     * uniformly random sample, in random order, and the rest need not be shuffled. */
    cnn_rng rng;
    cnn_rng_seed(&rng, seed);
    for (int i = 0; i < src->n; i++) perm[i] = i;
    for (int i = 0; i < n_second; i++) {
        int j = i + (int)cnn_rng_below(&rng, (uint32_t)(src->n - i));
        int32_t t = perm[i];
        perm[i] = perm[j];
        perm[j] = t;
    }
    for (int i = 0; i < n_second; i++) {
        memcpy(b->x + (size_t)i * numel, src->x + (size_t)perm[i] * numel, numel * sizeof(float));
        b->y[i] = src->y[perm[i]];
        taken[perm[i]] = 1;
    }
    for (int i = 0, k = 0; i < src->n; i++) {
        if (taken[i]) continue;
        memcpy(a->x + (size_t)k * numel, src->x + (size_t)i * numel, numel * sizeof(float));
        a->y[k++] = src->y[i];
    }
    cnn_free(perm);
    cnn_free(taken);
    *first = a;
    *second = b;
    return CNN_STATUS_OK;
}

void cnn_dataset_stats(const cnn_dataset *ds, float *mean, float *std) {
    CNN_ASSERT(ds && mean && std && ds->shape.rank >= 1);
    int c = ds->shape.dim[0];
    size_t plane = cnn_shape_numel(&ds->shape) / (size_t)c;
    double count = (double)ds->n * (double)plane;
    /* Two passes in double: the mean first, then the squared deviations from it, which avoids
     * the cancellation of sum(x^2) - n mean^2 on millions of values. The standard deviation
     * is the population one (divided by the count), as used to normalise inputs. */
    for (int ch = 0; ch < c; ch++) {
        double sum = 0.0, sq = 0.0;
        for (int i = 0; i < ds->n; i++) {
            const float *p = ds->x + ((size_t)i * (size_t)c + (size_t)ch) * plane;
            for (size_t k = 0; k < plane; k++) sum += p[k];
        }
        double m = count > 0 ? sum / count : 0.0;
        for (int i = 0; i < ds->n; i++) {
            const float *p = ds->x + ((size_t)i * (size_t)c + (size_t)ch) * plane;
            for (size_t k = 0; k < plane; k++) sq += (p[k] - m) * (p[k] - m);
        }
        mean[ch] = (float)m;
        std[ch] = count > 0 ? (float)sqrt(sq / count) : 0.0f;
    }
}

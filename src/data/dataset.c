/*
 * dataset.c - the in-memory data set: allocation and freeing, class names, reading a sample as
 * floats, the seeded split into two parts (copying, or moving in place), per-channel
 * statistics, and the error helper every loader uses.
 *
 * A data set holds N samples of shape (C, H, W) (or (C, L), (C)), NCHW, and N int32 labels in
 * [0, classes). The samples are bytes (pixels, from 8-bit files) or floats (x), never both: a
 * byte b is the float b / 255.0f, converted in one place, pixel_value(), so that the values a
 * network sees are the same bits whichever the storage.
 */
#include "data.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

char *cnn_data_strdup(const char *s) {
    size_t len = strlen(s);
    char *copy = cnn_alloc(len + 1);
    if (copy) memcpy(copy, s, len + 1);
    return copy;
}

/* The float a stored byte stands for. The division is in float, as the loaders did when they
 * stored floats: changing it (to a double division, or a multiplication by 1/255) would change
 * bits of some values and so every seeded training result. */
static inline float pixel_value(uint8_t b) { return b / 255.0f; }

/* The storage of n samples of numel values, as bytes or floats, zeroed; NULL when memory runs
 * out or the size overflows (cnn_calloc checks the product, so a huge data set fails here, not
 * later). */
static void *samples_new(size_t n, size_t numel, int bytes) {
    if (numel && n > SIZE_MAX / numel) return NULL;
    return cnn_calloc(n * numel, bytes ? sizeof(uint8_t) : sizeof(float));
}

/* Bytes per stored value of ds. */
static size_t value_size(const cnn_dataset *ds) {
    return ds->pixels ? sizeof(uint8_t) : sizeof(float);
}

/* The stored sample i of ds (bytes or floats) and its size in bytes. */
static unsigned char *sample_at(const cnn_dataset *ds, size_t i, size_t sample_bytes) {
    unsigned char *base = ds->pixels ? (unsigned char *)ds->pixels : (unsigned char *)ds->x;
    return base + i * sample_bytes;
}

cnn_dataset *cnn_data_new(int n, int c, int h, int w, int classes, int bytes) {
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
    void *samples = samples_new((size_t)n, numel, bytes);
    if (bytes) ds->pixels = samples;
    else ds->x = samples;
    ds->y = cnn_calloc((size_t)n, sizeof(int32_t));
    ds->class_names = cnn_calloc((size_t)classes, sizeof(char *));
    if (!samples || !ds->y || !ds->class_names) {
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
            return cnn_set_error(err, errlen, CNN_STATUS_NO_MEMORY,
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
    cnn_free(ds->pixels);
    cnn_free(ds->y);
    cnn_free(ds);
}

void cnn_dataset_sample(const cnn_dataset *ds, int i, float *out) {
    CNN_ASSERT(ds && out && i >= 0 && i < ds->n && (ds->x != NULL) != (ds->pixels != NULL));
    size_t numel = cnn_shape_numel(&ds->shape);
    if (ds->x) {
        memcpy(out, ds->x + (size_t)i * numel, numel * sizeof(float));
        return;
    }
    const uint8_t *restrict p = ds->pixels + (size_t)i * numel;
    /* simd: divisions in vectors (each exact, as the scalar one). */
#pragma omp simd
    for (size_t k = 0; k < numel; k++) out[k] = pixel_value(p[k]);
}

/* An empty data set with src's shape, classes, class names and storage (bytes or floats),
 * room for n samples. */
static cnn_dataset *like(const cnn_dataset *src, int n) {
    cnn_dataset *ds = cnn_calloc(1, sizeof *ds);
    if (!ds) return NULL;
    size_t numel = cnn_shape_numel(&src->shape);
    ds->n = n;
    ds->shape = src->shape;
    ds->classes = src->classes;
    void *samples = samples_new((size_t)n, numel, src->pixels != NULL);
    if (src->pixels) ds->pixels = samples;
    else ds->x = samples;
    ds->y = cnn_calloc((size_t)n, sizeof(int32_t));
    ds->class_names = cnn_calloc((size_t)src->classes, sizeof(char *));
    int ok = samples && ds->y && ds->class_names;
    for (int k = 0; ok && k < src->classes; k++)
        ok = (ds->class_names[k] = cnn_data_strdup(src->class_names[k])) != NULL;
    if (!ok) {
        cnn_dataset_free(ds);
        return NULL;
    }
    return ds;
}

/* Checks the arguments of a split of n_second samples out of src and draws them: on success
 * *perm holds src->n indices, of which perm[0..n_second) are the seeded random sample in the
 * order drawn, and *taken flags those indices (both to cnn_free). `what` names the function
 * in messages, `part` what the n_second samples are for. */
static cnn_status draw_split(const cnn_dataset *src, int n_second, uint64_t seed,
                             const char *what, const char *part, int32_t **perm_out,
                             unsigned char **taken_out, char *err, size_t errlen) {
    *perm_out = NULL;
    *taken_out = NULL;
    if (n_second < 0 || n_second > src->n)
        return cnn_set_error(err, errlen, CNN_STATUS_INVALID_ARGUMENT,
                             "%s: %d samples asked %s of a data set of %d", what, n_second,
                             part, src->n);
    if ((src->x != NULL) == (src->pixels != NULL))
        return cnn_set_error(err, errlen, CNN_STATUS_INVALID_ARGUMENT,
                             "%s: the data set must hold either floats (x) or bytes (pixels)",
                             what);
    int32_t *perm = cnn_alloc((size_t)src->n * sizeof *perm);
    unsigned char *taken = cnn_calloc((size_t)src->n, 1);
    if (!perm || !taken) {
        cnn_free(perm);
        cnn_free(taken);
        return cnn_set_error(err, errlen, CNN_STATUS_NO_MEMORY,
                             "%s: out of memory for %d samples", what, src->n);
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
    for (int i = 0; i < n_second; i++) taken[perm[i]] = 1;
    *perm_out = perm;
    *taken_out = taken;
    return CNN_STATUS_OK;
}

/* Copies the drawn samples src[perm[0..b->n)] into b, in that order. */
static void copy_drawn(const cnn_dataset *src, const int32_t *perm, cnn_dataset *b) {
    size_t sample_bytes = cnn_shape_numel(&src->shape) * value_size(src);
    for (int i = 0; i < b->n; i++) {
        memcpy(sample_at(b, (size_t)i, sample_bytes), sample_at(src, (size_t)perm[i], sample_bytes),
               sample_bytes);
        b->y[i] = src->y[perm[i]];
    }
}

cnn_status cnn_dataset_split(const cnn_dataset *src, int n_second, uint64_t seed,
                             cnn_dataset **first, cnn_dataset **second, char *err,
                             size_t errlen) {
    if (!src || !first || !second)
        return cnn_set_error(err, errlen, CNN_STATUS_INVALID_ARGUMENT,
                             "split: NULL data set or result pointer");
    *first = *second = NULL;
    int32_t *perm;
    unsigned char *taken;
    cnn_status st = draw_split(src, n_second, seed, "split", "for the second part", &perm, &taken,
                               err, errlen);
    if (st != CNN_STATUS_OK) return st;
    cnn_dataset *a = like(src, src->n - n_second), *b = like(src, n_second);
    if (!a || !b) {
        cnn_free(perm);
        cnn_free(taken);
        cnn_dataset_free(a);
        cnn_dataset_free(b);
        return cnn_set_error(err, errlen, CNN_STATUS_NO_MEMORY,
                             "split: out of memory for %d samples", src->n);
    }
    copy_drawn(src, perm, b);
    size_t sample_bytes = cnn_shape_numel(&src->shape) * value_size(src);
    for (int i = 0, k = 0; i < src->n; i++) {
        if (taken[i]) continue;
        memcpy(sample_at(a, (size_t)k, sample_bytes), sample_at(src, (size_t)i, sample_bytes),
               sample_bytes);
        a->y[k++] = src->y[i];
    }
    cnn_free(perm);
    cnn_free(taken);
    *first = a;
    *second = b;
    return CNN_STATUS_OK;
}

cnn_status cnn_dataset_hold_out(cnn_dataset *ds, int n, uint64_t seed, cnn_dataset **held,
                                char *err, size_t errlen) {
    if (!ds || !held)
        return cnn_set_error(err, errlen, CNN_STATUS_INVALID_ARGUMENT,
                             "hold_out: NULL data set or result pointer");
    *held = NULL;
    int32_t *perm;
    unsigned char *taken;
    cnn_status st =
        draw_split(ds, n, seed, "hold_out", "to be held out", &perm, &taken, err, errlen);
    if (st != CNN_STATUS_OK) return st;
    cnn_dataset *b = like(ds, n);
    if (!b) {
        cnn_free(perm);
        cnn_free(taken);
        return cnn_set_error(err, errlen, CNN_STATUS_NO_MEMORY,
                             "hold_out: out of memory for %d samples", n);
    }
    copy_drawn(ds, perm, b);
    /* Close the gaps, front to back: sample i moves to k <= i, so a move never overwrites a
     * sample still to be moved, and k < i means the two do not overlap. The buffers keep
     * their size (the tail is unused), which is what makes this a move and not a copy. */
    size_t sample_bytes = cnn_shape_numel(&ds->shape) * value_size(ds);
    int k = 0;
    for (int i = 0; i < ds->n; i++) {
        if (taken[i]) continue;
        if (k != i)
            memcpy(sample_at(ds, (size_t)k, sample_bytes), sample_at(ds, (size_t)i, sample_bytes),
                   sample_bytes);
        ds->y[k++] = ds->y[i];
    }
    ds->n = k;
    cnn_free(perm);
    cnn_free(taken);
    *held = b;
    return CNN_STATUS_OK;
}

/* Adds to sum the values of one plane (plane values from value `off` on), or to sq their
 * squared deviations from m, in double, in storage order: the same additions, so the same
 * bits, for bytes as for the equivalent floats. */
static double plane_sum(const cnn_dataset *ds, size_t off, size_t plane, double sum) {
    if (ds->pixels)
        for (size_t k = 0; k < plane; k++) sum += pixel_value(ds->pixels[off + k]);
    else
        for (size_t k = 0; k < plane; k++) sum += ds->x[off + k];
    return sum;
}

static double plane_sq(const cnn_dataset *ds, size_t off, size_t plane, double m, double sq) {
    if (ds->pixels)
        for (size_t k = 0; k < plane; k++) {
            float v = pixel_value(ds->pixels[off + k]);
            sq += (v - m) * (v - m);
        }
    else
        for (size_t k = 0; k < plane; k++) {
            float v = ds->x[off + k];
            sq += (v - m) * (v - m);
        }
    return sq;
}

void cnn_dataset_stats(const cnn_dataset *ds, float *mean, float *std) {
    CNN_ASSERT(ds && mean && std && ds->shape.rank >= 1);
    CNN_ASSERT((ds->x != NULL) != (ds->pixels != NULL));
    int c = ds->shape.dim[0];
    size_t plane = cnn_shape_numel(&ds->shape) / (size_t)c;
    double count = (double)ds->n * (double)plane;
    /* Two passes in double: the mean first, then the squared deviations from it, which avoids
     * the cancellation of sum(x^2) - n mean^2 on millions of values. The standard deviation
     * is the population one (divided by the count), as used to normalise inputs. */
    for (int ch = 0; ch < c; ch++) {
        double sum = 0.0, sq = 0.0;
        for (int i = 0; i < ds->n; i++)
            sum = plane_sum(ds, ((size_t)i * (size_t)c + (size_t)ch) * plane, plane, sum);
        double m = count > 0 ? sum / count : 0.0;
        for (int i = 0; i < ds->n; i++)
            sq = plane_sq(ds, ((size_t)i * (size_t)c + (size_t)ch) * plane, plane, m, sq);
        mean[ch] = (float)m;
        std[ch] = count > 0 ? (float)sqrt(sq / count) : 0.0f;
    }
}

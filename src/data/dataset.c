/*
 * dataset.c - the in-memory data set: allocation and freeing, class names, reading a sample as
 * floats, the seeded split into two parts (copying, or moving in place), truncation, the hash
 * that identifies a data set, renumbering classes by name, and per-channel statistics.
 *
 * A data set holds N samples of shape (C, H, W) (or (C, L), (C)), NCHW, and what each sample
 * is to be trained towards: an int32 label in [0, classes) (y, classification), an H x W mask
 * of such labels (masks, segmentation) or n_targets floats (targets, regression); the arrays
 * a set lacks are NULL. Everything that moves samples moves these along (copy_sample). The
 * samples are bytes (pixels, from 8-bit files) or floats (x), never both: a byte b is the
 * float b / 255.0f, converted in one place, pixel_value(), so that the values a network sees
 * are the same bits whichever the storage.
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

/* n rows of `per` values of `size` bytes, zeroed; NULL when memory runs out or the size
 * overflows (cnn_calloc checks the last product, so a huge data set fails here, not later). */
static void *array_new(size_t n, size_t per, size_t size) {
    if (per && n > SIZE_MAX / per) return NULL;
    return cnn_calloc(n * per, size);
}

/* The storage of n samples of numel values, as bytes or floats. */
static void *samples_new(size_t n, size_t numel, int bytes) {
    return array_new(n, numel, bytes ? sizeof(uint8_t) : sizeof(float));
}

/* Values of one mask: a sample's numel over its channels (H x W). */
static size_t mask_numel(const cnn_dataset *ds) {
    return cnn_shape_numel(&ds->shape) / (size_t)ds->shape.dim[0];
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
    int given = bytes == CNN_DATA_PIXELS_GIVEN;
    void *samples = given ? NULL : samples_new((size_t)n, numel, bytes);
    if (bytes) ds->pixels = samples;
    else ds->x = samples;
    ds->y = cnn_calloc((size_t)n, sizeof(int32_t));
    ds->class_names = cnn_calloc((size_t)classes, sizeof(char *));
    if ((!samples && !given) || !ds->y || !ds->class_names) {
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

/* Frees names[0..n) and the array (either may be NULL). */
static void names_free(char **names, int n) {
    for (int k = 0; names && k < n; k++) cnn_free(names[k]);
    cnn_free(names);
}

/* Copies of names[0..n) in a new array, or NULL when memory runs out. */
static char **names_copy(char *const *names, int n) {
    char **v = cnn_calloc((size_t)n, sizeof *v);
    for (int k = 0; v && k < n; k++)
        if (!(v[k] = cnn_data_strdup(names[k]))) {
            names_free(v, k);
            return NULL;
        }
    return v;
}

cnn_status cnn_dataset_set_classes(cnn_dataset *ds, int classes, const char *const *names,
                                char *err, size_t errlen) {
    CNN_ASSERT(classes >= 0);
    char **v = cnn_calloc((size_t)classes, sizeof *v);
    if (!v)
        return cnn_set_error(err, errlen, CNN_STATUS_NO_MEMORY,
                             "out of memory for %d class names", classes);
    names_free(ds->class_names, ds->classes);
    ds->class_names = v;
    ds->classes = classes;
    return cnn_data_set_names(ds, names, err, errlen);
}

void cnn_dataset_free(cnn_dataset *ds) {
    if (!ds) return;
    names_free(ds->class_names, ds->classes);
    cnn_free(ds->x);
    cnn_free(ds->pixels);
    cnn_free(ds->y);
    cnn_free(ds->masks);
    cnn_free(ds->targets);
    cnn_free(ds->ids);
    cnn_free(ds->whole_y);
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

cnn_dataset *cnn_data_like(const cnn_dataset *src, int n) {
    cnn_dataset *ds = cnn_calloc(1, sizeof *ds);
    if (!ds) return NULL;
    size_t numel = cnn_shape_numel(&src->shape);
    ds->n = n;
    ds->shape = src->shape;
    ds->classes = src->classes;
    ds->n_targets = src->n_targets;
    void *samples = samples_new((size_t)n, numel, src->pixels != NULL);
    if (src->pixels) ds->pixels = samples;
    else ds->x = samples;
    int ok = samples != NULL;
    if (src->y) ok &= (ds->y = cnn_calloc((size_t)n, sizeof(int32_t))) != NULL;
    if (src->masks)
        ok &= (ds->masks = array_new((size_t)n, mask_numel(src), sizeof(int32_t))) != NULL;
    if (src->targets)
        ok &= (ds->targets = array_new((size_t)n, (size_t)src->n_targets, sizeof(float))) !=
              NULL;
    ds->class_names = names_copy(src->class_names, src->classes);
    if (!ok || !ds->class_names) {
        cnn_dataset_free(ds);
        return NULL;
    }
    return ds;
}

cnn_status cnn_data_draw(const cnn_dataset *src, int n_second, uint64_t seed, const char *what,
                         const char *part, int32_t **perm_out, unsigned char **taken_out,
                         char *err, size_t errlen) {
    *perm_out = NULL;
    *taken_out = NULL;
    int n = src->ids ? src->n_whole : src->n; /* a shard draws from the whole set */
    if (n_second < 0 || n_second > n)
        return cnn_set_error(err, errlen, CNN_STATUS_INVALID_ARGUMENT,
                             "%s: %d samples asked %s of a data set of %d", what, n_second,
                             part, n);
    if ((src->x != NULL) == (src->pixels != NULL))
        return cnn_set_error(err, errlen, CNN_STATUS_INVALID_ARGUMENT,
                             "%s: the data set must hold either floats (x) or bytes (pixels)",
                             what);
    int32_t *perm = cnn_alloc((size_t)n * sizeof *perm);
    unsigned char *taken = cnn_calloc((size_t)n, 1);
    if (!perm || !taken) {
        cnn_free(perm);
        cnn_free(taken);
        return cnn_set_error(err, errlen, CNN_STATUS_NO_MEMORY,
                             "%s: out of memory for %d samples", what, n);
    }
    /* The first n_second steps of a forward Fisher-Yates shuffle: perm[0..n_second) is then a
     * uniformly random sample, in random order, and the rest need not be shuffled. */
    cnn_rng rng;
    cnn_rng_seed(&rng, seed);
    for (int i = 0; i < n; i++) perm[i] = i;
    for (int i = 0; i < n_second; i++) {
        int j = i + (int)cnn_rng_below(&rng, (uint32_t)(n - i));
        int32_t t = perm[i];
        perm[i] = perm[j];
        perm[j] = t;
    }
    for (int i = 0; i < n_second; i++) taken[perm[i]] = 1;
    *perm_out = perm;
    *taken_out = taken;
    return CNN_STATUS_OK;
}

void cnn_data_copy_sample(cnn_dataset *dst, size_t j, const cnn_dataset *src, size_t i) {
    size_t sample_bytes = cnn_shape_numel(&src->shape) * value_size(src);
    memcpy(sample_at(dst, j, sample_bytes), sample_at(src, i, sample_bytes), sample_bytes);
    if (src->y) dst->y[j] = src->y[i];
    if (src->masks) {
        size_t m = mask_numel(src);
        memcpy(dst->masks + j * m, src->masks + i * m, m * sizeof *dst->masks);
    }
    if (src->targets) {
        size_t t = (size_t)src->n_targets;
        memcpy(dst->targets + j * t, src->targets + i * t, t * sizeof *dst->targets);
    }
}

/* Copies the drawn samples src[perm[0..b->n)] into b, in that order. */
static void copy_drawn(const cnn_dataset *src, const int32_t *perm, cnn_dataset *b) {
    for (int i = 0; i < b->n; i++) cnn_data_copy_sample(b, (size_t)i, src, (size_t)perm[i]);
}

/* A shard's split: its hold-out, from a copy (shard.c). */
static cnn_status split_shard(const cnn_dataset *src, int n_second, uint64_t seed,
                              cnn_dataset **first, cnn_dataset **second, char *err,
                              size_t errlen) {
    cnn_dataset *a = cnn_data_shard_copy(src);
    if (!a)
        return cnn_set_error(err, errlen, CNN_STATUS_NO_MEMORY,
                             "split: out of memory for %d samples", src->n);
    cnn_status st = cnn_data_shard_hold_out(a, n_second, seed, second, err, errlen);
    if (st != CNN_STATUS_OK) {
        cnn_dataset_free(a);
        return st;
    }
    *first = a;
    return CNN_STATUS_OK;
}

cnn_status cnn_dataset_split(const cnn_dataset *src, int n_second, uint64_t seed,
                             cnn_dataset **first, cnn_dataset **second, char *err,
                             size_t errlen) {
    if (!src || !first || !second)
        return cnn_set_error(err, errlen, CNN_STATUS_INVALID_ARGUMENT,
                             "split: NULL data set or result pointer");
    *first = *second = NULL;
    if (src->ids) return split_shard(src, n_second, seed, first, second, err, errlen);
    int32_t *perm;
    unsigned char *taken;
    cnn_status st = cnn_data_draw(src, n_second, seed, "split", "for the second part", &perm,
                                  &taken, err, errlen);
    if (st != CNN_STATUS_OK) return st;
    cnn_dataset *a = cnn_data_like(src, src->n - n_second), *b = cnn_data_like(src, n_second);
    if (!a || !b) {
        cnn_free(perm);
        cnn_free(taken);
        cnn_dataset_free(a);
        cnn_dataset_free(b);
        return cnn_set_error(err, errlen, CNN_STATUS_NO_MEMORY,
                             "split: out of memory for %d samples", src->n);
    }
    copy_drawn(src, perm, b);
    for (int i = 0, k = 0; i < src->n; i++)
        if (!taken[i]) cnn_data_copy_sample(a, (size_t)k++, src, (size_t)i);
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
    if (ds->ids) return cnn_data_shard_hold_out(ds, n, seed, held, err, errlen);
    int32_t *perm;
    unsigned char *taken;
    cnn_status st =
        cnn_data_draw(ds, n, seed, "hold_out", "to be held out", &perm, &taken, err, errlen);
    if (st != CNN_STATUS_OK) return st;
    cnn_dataset *b = cnn_data_like(ds, n);
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
    int k = 0;
    for (int i = 0; i < ds->n; i++) {
        if (taken[i]) continue;
        if (k != i) cnn_data_copy_sample(ds, (size_t)k, ds, (size_t)i);
        k++;
    }
    ds->n = k;
    cnn_free(perm);
    cnn_free(taken);
    *held = b;
    return CNN_STATUS_OK;
}

void cnn_dataset_truncate(cnn_dataset *ds, int n) {
    CNN_ASSERT(ds && n >= 0);
    /* Every array is indexed by sample, so the first n are already in place: only the count
     * changes, and cnn_dataset_free still releases the whole buffers. */
    if (ds->ids) cnn_data_shard_truncate(ds, n);
    else if (n < ds->n) ds->n = n;
}

/* FNV-1a (64 bits) over the four bytes of v, least significant first, so that the hash is
 * the same on every machine whatever its byte order. */
static uint64_t fnv_u32(uint64_t h, uint32_t v) {
    for (int b = 0; b < 4; b++) {
        h ^= (v >> (8 * b)) & 0xffu;
        h *= 0x100000001b3ULL;
    }
    return h;
}

/* FNV-1a over, in this order: n, the shape's rank and sides, classes, n_targets, which of
 * y, masks and targets the set has (bits 1, 2, 4: labels and a mask of the same numbers must
 * differ), then the labels, the masks and the targets' float bits of the first n samples,
 * each value as four bytes. The images are left out: reading them all would cost as much as
 * an epoch, and resuming needs to know the samples' count and targets, which this covers. */
uint64_t cnn_dataset_hash(const cnn_dataset *ds) {
    CNN_ASSERT(ds && ds->n >= 0);
    uint64_t h = 0xcbf29ce484222325ULL;
    /* A shard is identified by its whole set: the same hash on every rank, and for one process
     * holding the whole set (shards carry labels only). */
    h = fnv_u32(h, (uint32_t)(ds->ids ? ds->n_whole : ds->n));
    h = fnv_u32(h, (uint32_t)ds->shape.rank);
    for (int i = 0; i < ds->shape.rank; i++) h = fnv_u32(h, (uint32_t)ds->shape.dim[i]);
    h = fnv_u32(h, (uint32_t)ds->classes);
    h = fnv_u32(h, (uint32_t)ds->n_targets);
    h = fnv_u32(h, (ds->y ? 1u : 0u) | (ds->masks ? 2u : 0u) | (ds->targets ? 4u : 0u));
    size_t n = (size_t)ds->n;
    if (ds->ids)
        for (int i = 0; i < ds->n_whole; i++) h = fnv_u32(h, (uint32_t)ds->whole_y[i]);
    else if (ds->y)
        for (size_t i = 0; i < n; i++) h = fnv_u32(h, (uint32_t)ds->y[i]);
    if (ds->masks)
        for (size_t i = 0, m = n * mask_numel(ds); i < m; i++)
            h = fnv_u32(h, (uint32_t)ds->masks[i]);
    if (ds->targets)
        for (size_t i = 0, t = n * (size_t)ds->n_targets; i < t; i++) {
            uint32_t bits;
            memcpy(&bits, &ds->targets[i], sizeof bits);
            h = fnv_u32(h, bits);
        }
    return h;
}

/* The index of name among names[0..n), or -1. */
static int class_index(char *const *names, int n, const char *name) {
    for (int k = 0; k < n; k++)
        if (!strcmp(names[k], name)) return k;
    return -1;
}

/* printf-style append at *off into buf[size]; once full, further appends do nothing (the
 * message is cut, still NUL-terminated). */
static void append(char *buf, size_t size, size_t *off, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static void append(char *buf, size_t size, size_t *off, const char *fmt, ...) {
    if (*off >= size) return;
    va_list ap;
    va_start(ap, fmt);
    int k = vsnprintf(buf + *off, size - *off, fmt, ap);
    va_end(ap);
    if (k > 0) *off += (size_t)k;
}

/* Appends the names[0..n) that other[0..m) lacks, quoted, comma separated ("none" when every
 * one is there); returns how many. */
static int list_lacking(char *buf, size_t size, size_t *off, char *const *names, int n,
                        char *const *other, int m) {
    int count = 0;
    for (int k = 0; k < n; k++)
        if (class_index(other, m, names[k]) < 0)
            append(buf, size, off, "%s'%s'", count++ ? ", " : "", names[k]);
    if (!count) append(buf, size, off, "none");
    return count;
}

/* CNN_STATUS_OK when ds's labels and masks are all in [0, ds->classes): remapping through a
 * table of classes entries must not read outside it. */
static cnn_status check_labels(const cnn_dataset *ds, char *err, size_t errlen) {
    for (int i = 0; ds->ids && i < ds->n_whole; i++)
        if (ds->whole_y[i] < 0 || ds->whole_y[i] >= ds->classes)
            return cnn_set_error(err, errlen, CNN_STATUS_INVALID_ARGUMENT,
                                 "match_classes: label %d of sample %d of the whole set is "
                                 "outside [0, %d)",
                                 (int)ds->whole_y[i], i, ds->classes);
    for (int i = 0; ds->y && i < ds->n; i++)
        if (ds->y[i] < 0 || ds->y[i] >= ds->classes)
            return cnn_set_error(err, errlen, CNN_STATUS_INVALID_ARGUMENT,
                                 "match_classes: label %d of sample %d is outside [0, %d)",
                                 (int)ds->y[i], i, ds->classes);
    size_t m = ds->masks ? (size_t)ds->n * mask_numel(ds) : 0;
    for (size_t i = 0; i < m; i++)
        if (ds->masks[i] < 0 || ds->masks[i] >= ds->classes)
            return cnn_set_error(err, errlen, CNN_STATUS_INVALID_ARGUMENT,
                                 "match_classes: mask value %d of sample %zu is outside [0, %d)",
                                 (int)ds->masks[i], i / mask_numel(ds), ds->classes);
    return CNN_STATUS_OK;
}

cnn_status cnn_dataset_match_classes(cnn_dataset *ds, const cnn_dataset *ref, char *err,
                                     size_t errlen) {
    if (!ds || !ref)
        return cnn_set_error(err, errlen, CNN_STATUS_INVALID_ARGUMENT,
                             "match_classes: NULL data set");
    char msg[1024];
    size_t off = 0;
    append(msg, sizeof msg, &off, "only in this data set (%d classes): ", ds->classes);
    int extra = list_lacking(msg, sizeof msg, &off, ds->class_names, ds->classes,
                             ref->class_names, ref->classes);
    append(msg, sizeof msg, &off, "; only in the reference (%d classes): ", ref->classes);
    int missing = list_lacking(msg, sizeof msg, &off, ref->class_names, ref->classes,
                               ds->class_names, ds->classes);
    if (extra || missing)
        return cnn_set_error(err, errlen, CNN_STATUS_FORMAT,
                             "match_classes: the classes differ by name: %s", msg);
    cnn_status st = check_labels(ds, err, errlen);
    if (st != CNN_STATUS_OK) return st;
    /* Everything that can fail comes first, so that on failure ds is unchanged. */
    int32_t *map = cnn_alloc((size_t)ds->classes * sizeof *map);
    char **names = names_copy(ref->class_names, ref->classes);
    if (!map || !names) {
        cnn_free(map);
        names_free(names, ref->classes);
        return cnn_set_error(err, errlen, CNN_STATUS_NO_MEMORY,
                             "match_classes: out of memory for %d classes", ref->classes);
    }
    for (int k = 0; k < ds->classes; k++)
        map[k] = class_index(ref->class_names, ref->classes, ds->class_names[k]);
    for (int i = 0; ds->y && i < ds->n; i++) ds->y[i] = map[ds->y[i]];
    for (int i = 0; ds->ids && i < ds->n_whole; i++) ds->whole_y[i] = map[ds->whole_y[i]];
    size_t m = ds->masks ? (size_t)ds->n * mask_numel(ds) : 0;
    for (size_t i = 0; i < m; i++) ds->masks[i] = map[ds->masks[i]];
    cnn_free(map);
    names_free(ds->class_names, ds->classes);
    ds->class_names = names;
    ds->classes = ref->classes;
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

double cnn_data_channel_sum(const cnn_dataset *ds, int ch, const double *mean) {
    int c = ds->shape.dim[0];
    size_t plane = cnn_shape_numel(&ds->shape) / (size_t)c;
    double sum = 0.0;
    for (int i = 0; i < ds->n; i++) {
        size_t off = ((size_t)i * (size_t)c + (size_t)ch) * plane;
        sum = mean ? plane_sq(ds, off, plane, *mean, sum) : plane_sum(ds, off, plane, sum);
    }
    return sum;
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
        double m = count > 0 ? cnn_data_channel_sum(ds, ch, NULL) / count : 0.0;
        double sq = cnn_data_channel_sum(ds, ch, &m);
        mean[ch] = (float)m;
        std[ch] = count > 0 ? (float)sqrt(sq / count) : 0.0f;
    }
}

/*
 * shard.c - a part of a data set, for data-parallel training: rank r of N loads the samples
 * i with i % N == r (cnn_shard) and holds only those, with each one's place in the whole set
 * (ids) and the whole set's labels (whole_y, a few bytes a sample).
 *
 * What a shard knows of the whole lets every rank do, alone, what one process would do with
 * the whole set and stay in agreement with the others without a message: hold out the same
 * validation samples (the same seeded draw over the whole set, each rank keeping its part of
 * it), truncate to the same first samples, and hash the same labels (the identity a
 * checkpoint records, so that a run resumes with any number of ranks). ids stay ascending:
 * loaders write them so and every operation here keeps the order.
 */
#include "data.h"

#include <string.h>

int cnn_data_shard_size(int n_whole, cnn_shard sh) {
    if (sh.count <= 1) return n_whole;
    return n_whole > sh.index ? (n_whole - sh.index - 1) / sh.count + 1 : 0;
}

cnn_status cnn_data_shard_check(cnn_shard sh, const char *what, char *err, size_t errlen) {
    if (sh.count < 1 || sh.index < 0 || sh.index >= sh.count)
        return cnn_set_error(err, errlen, CNN_STATUS_INVALID_ARGUMENT,
                             "%s: shard %d of %d: the index must be in [0, count) and the "
                             "count at least 1",
                             what, sh.index, sh.count);
    return CNN_STATUS_OK;
}

int cnn_data_shard_slot(cnn_shard sh, int i) {
    if (sh.count <= 1) return i;
    return i % sh.count == sh.index ? i / sh.count : -1;
}

/* A shard's own arrays for ds (its n samples set): ids and the whole set's n_whole labels,
 * zeroed. 0 when memory runs out (the data set is then freed by the caller). */
static int shard_arrays(cnn_dataset *ds, int n_whole) {
    ds->n_whole = n_whole;
    ds->ids = cnn_calloc((size_t)ds->n + 1, sizeof *ds->ids);
    ds->whole_y = cnn_calloc((size_t)n_whole + 1, sizeof *ds->whole_y);
    return ds->ids && ds->whole_y;
}

cnn_dataset *cnn_data_shard_new(int n_whole, cnn_shard sh, int c, int h, int w, int classes,
                                int bytes) {
    cnn_dataset *ds = cnn_data_new(cnn_data_shard_size(n_whole, sh), c, h, w, classes, bytes);
    if (!ds || sh.count <= 1) return ds;
    if (!shard_arrays(ds, n_whole)) {
        cnn_dataset_free(ds);
        return NULL;
    }
    for (int j = 0; j < ds->n; j++) ds->ids[j] = sh.index + j * sh.count;
    return ds;
}

void cnn_data_shard_labels(cnn_dataset *ds) {
    for (int j = 0; ds->ids && j < ds->n; j++) ds->y[j] = ds->whole_y[ds->ids[j]];
}

/* The held part of a hold-out: the drawn samples perm[0..n) of the whole set, in the order
 * drawn (as cnn_dataset_hold_out orders them), this shard's among them copied from ds. */
static cnn_dataset *held_part(const cnn_dataset *ds, const int32_t *perm, int n,
                              const int32_t *local_of) {
    int mine = 0;
    for (int r = 0; r < n; r++) mine += local_of[perm[r]] >= 0;
    cnn_dataset *b = cnn_data_like(ds, mine);
    if (!b) return NULL;
    if (!shard_arrays(b, n)) {
        cnn_dataset_free(b);
        return NULL;
    }
    for (int r = 0, k = 0; r < n; r++) {
        b->whole_y[r] = ds->whole_y[perm[r]];
        int j = local_of[perm[r]];
        if (j < 0) continue;
        cnn_data_copy_sample(b, (size_t)k, ds, (size_t)j);
        b->ids[k++] = r;
    }
    return b;
}

/* The kept part, in place: the samples not taken, in their order, renumbered as places in
 * the whole set without the taken ones (before[g]: how many taken samples precede g). */
static void keep_rest(cnn_dataset *ds, const unsigned char *taken, int32_t *before) {
    int w = 0;
    for (int g = 0; g < ds->n_whole; g++) {
        before[g] = g - w;
        if (!taken[g]) ds->whole_y[w++] = ds->whole_y[g];
    }
    int k = 0;
    for (int j = 0; j < ds->n; j++) {
        int g = ds->ids[j];
        if (taken[g]) continue;
        if (k != j) cnn_data_copy_sample(ds, (size_t)k, ds, (size_t)j);
        ds->ids[k++] = g - before[g];
    }
    ds->n = k;
    ds->n_whole = w;
}

cnn_status cnn_data_shard_hold_out(cnn_dataset *ds, int n, uint64_t seed, cnn_dataset **held,
                                   char *err, size_t errlen) {
    int32_t *perm;
    unsigned char *taken;
    cnn_status st =
        cnn_data_draw(ds, n, seed, "hold_out", "to be held out", &perm, &taken, err, errlen);
    if (st != CNN_STATUS_OK) return st;
    int32_t *local_of = cnn_alloc(((size_t)ds->n_whole + 1) * sizeof *local_of);
    cnn_dataset *b = NULL;
    if (local_of) {
        for (int g = 0; g < ds->n_whole; g++) local_of[g] = -1;
        for (int j = 0; j < ds->n; j++) local_of[ds->ids[j]] = j;
        b = held_part(ds, perm, n, local_of);
    }
    if (b) keep_rest(ds, taken, local_of); /* local_of's room holds the counts now */
    cnn_free(perm);
    cnn_free(taken);
    cnn_free(local_of);
    if (!b)
        return cnn_set_error(err, errlen, CNN_STATUS_NO_MEMORY,
                             "hold_out: out of memory for %d samples", n);
    *held = b;
    return CNN_STATUS_OK;
}

cnn_dataset *cnn_data_shard_copy(const cnn_dataset *src) {
    cnn_dataset *a = cnn_data_like(src, src->n);
    if (!a) return NULL;
    if (!shard_arrays(a, src->n_whole)) {
        cnn_dataset_free(a);
        return NULL;
    }
    for (int j = 0; j < src->n; j++) cnn_data_copy_sample(a, (size_t)j, src, (size_t)j);
    memcpy(a->ids, src->ids, (size_t)src->n * sizeof *a->ids);
    memcpy(a->whole_y, src->whole_y, (size_t)src->n_whole * sizeof *a->whole_y);
    return a;
}

void cnn_data_shard_truncate(cnn_dataset *ds, int n) {
    if (n >= ds->n_whole) return;
    int k = 0;
    while (k < ds->n && ds->ids[k] < n) k++; /* ascending: the kept ones come first */
    ds->n = k;
    ds->n_whole = n;
}

cnn_status cnn_dataset_shard(const cnn_dataset *ds, cnn_shard shard, cnn_dataset **out,
                             char *err, size_t errlen) {
    if (!ds || !out)
        return cnn_set_error(err, errlen, CNN_STATUS_INVALID_ARGUMENT,
                             "shard: NULL data set or result pointer");
    *out = NULL;
    cnn_status st = cnn_data_shard_check(shard, "shard", err, errlen);
    if (st != CNN_STATUS_OK) return st;
    if (ds->ids || !ds->y || ds->masks || ds->targets || (ds->x != NULL) == (ds->pixels != NULL))
        return cnn_set_error(err, errlen, CNN_STATUS_INVALID_ARGUMENT,
                             "shard: a shard is made of a whole classification data set (labels, "
                             "no masks or targets; floats or bytes)");
    int n = cnn_data_shard_size(ds->n, shard);
    cnn_dataset *s = cnn_data_like(ds, n);
    if (!s || (shard.count > 1 && !shard_arrays(s, ds->n))) {
        cnn_dataset_free(s);
        return cnn_set_error(err, errlen, CNN_STATUS_NO_MEMORY,
                             "shard: out of memory for %d samples", n);
    }
    for (int j = 0; j < n; j++) {
        int g = shard.count > 1 ? shard.index + j * shard.count : j;
        cnn_data_copy_sample(s, (size_t)j, ds, (size_t)g);
        if (s->ids) s->ids[j] = g;
    }
    if (s->whole_y) memcpy(s->whole_y, ds->y, (size_t)ds->n * sizeof *s->whole_y);
    *out = s;
    return CNN_STATUS_OK;
}

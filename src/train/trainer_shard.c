/*
 * trainer_shard.c - data-parallel training from shards: each rank holds only its part of the
 * training set (cnn_dataset_load_*_shard), and the ranks together hold the whole set once.
 *
 * The epoch's permutation is the one a single process draws over the whole set, (seed,
 * epoch); each rank walks it and takes, in that order, the samples it holds, `local` of them
 * per step. A batch is then the ranks' next samples rather than a slice of the permutation,
 * so the run is not the one a single process makes (which samples meet in a batch depends on
 * the number of ranks), but every sample keeps the augmentation a single process gives it
 * (seeded by its place in the whole set), and the run is reproducible for a given number of
 * ranks. An epoch has as many steps as the smallest shard fills; the few samples the others
 * hold beyond it wait for the next epoch's order.
 *
 * The statistics a new run normalises with and the validation metrics of a sharded
 * validation set are sums over the ranks.
 */
#include "../data/data.h"
#include "trainer.h"

#include <math.h>
#include <string.h>

static cnn_status sum_f64(cnn_trainer *tr, double *v, size_t n) {
    const cnn_train_comm *m = tr->cfg.comm;
    char err[512] = "";
    if (m->allreduce_sum_f64(m->user, v, n, err, sizeof err))
        return cnn_trainer_fail(tr, CNN_STATUS_IO, "data parallel: rank %d of %d: %s", m->rank,
                                m->size, err);
    return CNN_STATUS_OK;
}

/* Every rank's share of the training set, to check that together they are the whole set
 * once, and the smallest. */
static cnn_status shard_sizes(cnn_trainer *tr, int *smallest) {
    const cnn_train_comm *m = tr->cfg.comm;
    double *n = cnn_calloc((size_t)m->size + 1, sizeof *n);
    if (!n) return cnn_trainer_fail(tr, CNN_STATUS_NO_MEMORY, "out of memory");
    n[m->rank] = tr->train->n;
    cnn_status st = sum_f64(tr, n, (size_t)m->size);
    double total = 0;
    *smallest = tr->train->n;
    for (int r = 0; !st && r < m->size; r++) {
        total += n[r];
        if (n[r] < *smallest) *smallest = (int)n[r];
    }
    cnn_free(n);
    if (!st && total != tr->train->n_whole)
        st = cnn_trainer_fail(
            tr, CNN_STATUS_INVALID_ARGUMENT,
            "data parallel: the %d ranks' shards hold %.0f samples together, the whole training "
            "set %d: rank r of N must load shard r of N",
            m->size, total, tr->train->n_whole);
    return st;
}

cnn_status cnn_trainer_shard_check(cnn_trainer *tr, const cnn_train_config *c,
                                   const cnn_dataset *train, const cnn_dataset *val) {
    const cnn_train_comm *m = c->comm;
    const cnn_dataset *sharded = train->ids ? train : val && val->ids ? val : NULL;
    if (sharded && (!m || !m->allreduce_sum_f64))
        return cnn_trainer_fail(tr, CNN_STATUS_INVALID_ARGUMENT,
                                "the %s set is a shard (%d of %d samples): it trains with "
                                "the other ranks (cnn_train_config.comm, with allreduce_sum_f64)",
                                sharded == train ? "training" : "validation", sharded->n,
                                sharded->n_whole);
    if (train->ids && (train->masks || train->targets))
        return cnn_trainer_fail(tr, CNN_STATUS_INVALID_ARGUMENT,
                                "a shard holds labels only: segmentation and regression sets "
                                "are loaded whole by every rank");
    return CNN_STATUS_OK;
}

cnn_status cnn_trainer_shard_setup(cnn_trainer *tr) {
    const cnn_dataset *ds = tr->train;
    if (!ds->ids) return CNN_STATUS_OK;
    int smallest = 0;
    cnn_status st = shard_sizes(tr, &smallest);
    if (st) return st;
    int steps = smallest / tr->local;
    if (steps < tr->steps) tr->steps = steps;
    if (tr->steps < 1)
        return cnn_trainer_fail(tr, CNN_STATUS_INVALID_ARGUMENT,
                                "data parallel: the smallest shard holds %d samples, fewer than "
                                "a rank's %d of each batch",
                                smallest, tr->local);
    tr->whole_perm = cnn_alloc(((size_t)ds->n_whole + 1) * sizeof *tr->whole_perm);
    tr->local_of = cnn_alloc(((size_t)ds->n_whole + 1) * sizeof *tr->local_of);
    if (!tr->whole_perm || !tr->local_of)
        return cnn_trainer_fail(tr, CNN_STATUS_NO_MEMORY, "out of memory for the permutation");
    for (int g = 0; g < ds->n_whole; g++) tr->local_of[g] = -1;
    for (int j = 0; j < ds->n; j++) tr->local_of[ds->ids[j]] = j;
    return CNN_STATUS_OK;
}

void cnn_trainer_shard_order(cnn_trainer *tr, uint64_t seed) {
    const cnn_dataset *ds = tr->train;
    cnn_permutation(ds->n_whole, seed, tr->whole_perm);
    for (int g = 0, k = 0; g < ds->n_whole; g++) {
        int j = tr->local_of[tr->whole_perm[g]];
        if (j >= 0) tr->perm[k++] = j;
    }
}

cnn_status cnn_trainer_shard_stats(cnn_trainer *tr, double *sums, size_t n) {
    return sum_f64(tr, sums, n);
}

/* A sharded validation set's metrics: the ranks' counts and sums added, the same on every
 * rank (classification and regression; segmentation sets are not sharded). */
cnn_status cnn_trainer_shard_metrics(cnn_trainer *tr, cnn_metrics *m) {
    int k = m->confusion ? m->classes : 0;
    size_t n = 4 + (size_t)k * (size_t)k;
    double *v = cnn_calloc(n, sizeof *v);
    if (!v) return cnn_trainer_fail(tr, CNN_STATUS_NO_MEMORY, "out of memory");
    v[0] = m->n;
    v[1] = m->loss * m->n;
    v[2] = nearbyint(m->top1 * m->n); /* counts: exact in a double */
    v[3] = nearbyint(m->top5 * m->n);
    for (size_t i = 0; i < (size_t)k * (size_t)k; i++) v[4 + i] = (double)m->confusion[i];
    cnn_status st = sum_f64(tr, v, n);
    if (!st) {
        m->n = (int)v[0];
        m->loss = v[0] > 0 ? v[1] / v[0] : NAN;
        m->top1 = v[0] > 0 ? v[2] / v[0] : NAN;
        m->top5 = v[0] > 0 ? v[3] / v[0] : NAN;
        for (size_t i = 0; i < (size_t)k * (size_t)k; i++) m->confusion[i] = (int64_t)v[4 + i];
    }
    cnn_free(v);
    return st;
}

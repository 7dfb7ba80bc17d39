/*
 * trainer_micro.c - data parallelism inside one process (cnn_train_config.micro_batch).
 *
 * A step's samples are cut into micro-batches of a fixed size, whatever the thread count. Each
 * runs forward, loss and backward whole, on one thread, in a replica of the network of its own
 * (its own activations; the network's parameters, read in place). Its loss gradient is its
 * part of the gradient of the whole batch's mean loss (each element scaled by 1 / the batch's
 * elements: the bits a whole-batch call gives it). The micro-batches' parameter gradients are
 * then added in micro-batch order: micro-batch 0 writes the network's gradients, micro-batch
 * k > 0 a buffer of its own, and the sum is g0 + g1 + g2 ... element by element; their losses
 * are summed in the same order. Which thread ran which micro-batch changes nothing, so the
 * results are the same bits at any thread count.
 *
 * Why: a whole-batch pass splits every layer over the threads, so each layer's output is
 * handed from the threads that wrote it to those that read it, twice per layer and step; on a
 * host whose two cores sit on two dies that hand-over costs as much as a small network's
 * arithmetic (docs/BENCHMARKS.md). Here a thread's activations stay in its core's cache, and
 * the threads meet twice a step: once the micro-batches are done, and once they are summed.
 */
#include "trainer.h"

/* Automatic micro-batches: this many samples, when the gradients (one copy per micro-batch
 * beyond the first) are no bigger than a micro-batch's activations. */
#define MICRO_AUTO 32

/* Floats of the gradient sum handed to a thread at a time. */
#define SUM_PART ((size_t)1 << 14)

/* The samples of micro-batch k and the first of them. */
static int micro_first(const cnn_micro *m, int k) { return k * m->size; }
static int micro_samples(const cnn_trainer *tr, int k) {
    int rest = tr->local - micro_first(&tr->micro, k);
    return rest < tr->micro.size ? rest : tr->micro.size;
}

/* "micro-batch k (samples a to b of the batch)", for messages. */
static const char *micro_name(const cnn_trainer *tr, int k, char *buf, size_t size) {
    int first = micro_first(&tr->micro, k);
    snprintf(buf, size, "micro-batch %d (samples %d to %d of the batch)", k, first,
             first + micro_samples(tr, k) - 1);
    return buf;
}

/* The gradient buffer micro-batch k adds into. */
static float *micro_grads(cnn_trainer *tr, int k) {
    return k == 0 ? tr->net->grads : tr->micro.grads + (size_t)(k - 1) * tr->net->n_params;
}

int cnn_train_micro_size(const cnn_net *net, int micro_batch, int batch) {
    if (!net || micro_batch < 0 || batch < 1) return 0;
    int size = micro_batch;
    if (size == 0) /* automatic */
        size = cnn_net_whole_batch_layer(net) < 0 &&
                       net->n_params * sizeof(float) <= MICRO_AUTO * cnn_net_activation_bytes(net)
                   ? MICRO_AUTO
                   : batch;
    return size < batch ? size : batch;
}

cnn_status cnn_trainer_micro_setup(cnn_trainer *tr) {
    cnn_net *net = tr->net;
    cnn_micro *m = &tr->micro;
    int whole = cnn_net_whole_batch_layer(net);
    m->size = cnn_train_micro_size(net, tr->cfg.micro_batch, tr->local);
    m->count = (tr->local + m->size - 1) / m->size;
    if (m->count == 1) return CNN_STATUS_OK;
    if (whole >= 0) {
        const cnn_node *n = net->nodes[whole];
        return cnn_trainer_fail(
            tr, CNN_STATUS_INVALID_ARGUMENT,
            "micro-batches of %d: layer '%s' (%s) needs the whole batch in each training pass; "
            "set the micro-batch to 0 (automatic) or to at least the batch (%d)",
            tr->cfg.micro_batch, n->name, n->type->name, tr->local);
    }
    if (net->n_params > SIZE_MAX / sizeof(float) / (size_t)(m->count - 1))
        return cnn_trainer_fail(tr, CNN_STATUS_NO_MEMORY,
                                "%d micro-batches of %d: %d copies of %zu gradients do not fit "
                                "in memory", m->count, m->size, m->count - 1, net->n_params);
    m->nets = cnn_calloc((size_t)m->count, sizeof *m->nets);
    m->grads = cnn_alloc((size_t)(m->count - 1) * net->n_params * sizeof *m->grads);
    m->total = cnn_calloc((size_t)m->count, sizeof *m->total);
    m->correct = cnn_calloc((size_t)m->count, sizeof *m->correct);
    m->st = cnn_calloc((size_t)m->count, sizeof *m->st);
    if (!m->nets || (net->n_params && !m->grads) || !m->total || !m->correct || !m->st)
        return cnn_trainer_fail(tr, CNN_STATUS_NO_MEMORY,
                                "out of memory for %d micro-batches of %d", m->count, m->size);
    for (int k = 0; k < m->count; k++) {
        cnn_status st = cnn_net_replica(net, m->size, &m->nets[k]);
        if (st) return cnn_trainer_fail(tr, st, "micro-batch %d: %s", k, cnn_net_last_error(net));
    }
    return CNN_STATUS_OK;
}

void cnn_trainer_micro_free(cnn_micro *m) {
    for (int k = 0; m->nets && k < m->count; k++) cnn_net_free(m->nets[k]);
    cnn_free(m->nets);
    cnn_free(m->grads);
    cnn_free(m->total);
    cnn_free(m->correct);
    cnn_free(m->st);
    *m = (cnn_micro){0};
}

/* Micro-batches [begin, end): forward, loss, backward, each in its replica. */
static void micro_run(void *arg, long begin, long end, int worker) {
    cnn_trainer *tr = arg;
    cnn_micro *m = &tr->micro;
    size_t numel = cnn_shape_numel(&tr->train->shape);
    size_t out = cnn_shape_numel(&tr->net->nodes[tr->score]->shape);
    for (long k = begin; k < end; k++) {
        cnn_net *rep = m->nets[k];
        int first = micro_first(m, (int)k), n = micro_samples(tr, (int)k);
        cnn_net_replica_bind(rep, tr->net, micro_grads(tr, (int)k));
        cnn_net_zero_grad(rep);
        cnn_status st = cnn_net_forward(rep, tr->x + (size_t)first * numel, n);
        if (!st)
            st = cnn_trainer_part_loss(tr, first, n, rep->nodes[tr->score]->y, &m->total[k],
                                       &m->correct[k]);
        if (!st)
            st = cnn_net_backward_from(rep, tr->score, tr->dz + (size_t)first * out,
                                       CNN_BACKPROP_PLAIN);
        m->st[k] = st;
    }
}

/* g0 += g1, then += g2, ...: parts of SUM_PART floats, each element's additions in order. */
static inline CNN_BODY void sum_parts_body(void *arg, long begin, long end, int worker) {
    cnn_trainer *tr = arg;
    size_t n = tr->net->n_params;
    float *restrict g = tr->net->grads;
    for (long part = begin; part < end; part++) {
        size_t a = (size_t)part * SUM_PART, b = n - a < SUM_PART ? n : a + SUM_PART;
        for (int k = 1; k < tr->micro.count; k++) {
            const float *restrict h = micro_grads(tr, k);
#pragma omp simd
            for (size_t i = a; i < b; i++) g[i] += h[i];
        }
    }
}
CNN_DISPATCH(sum_parts, (void *arg, long begin, long end, int worker), (arg, begin, end, worker))

cnn_status cnn_trainer_micro_pass(cnn_trainer *tr, double *total, int64_t *correct) {
    cnn_micro *m = &tr->micro;
    cnn_workers *pool = cnn_net_workers(tr->net);
    cnn_parallel_for(pool, tr->net->threads, m->count, micro_run, tr);
    *total = 0;
    *correct = 0;
    for (int k = 0; k < m->count; k++) {
        if (m->st[k]) { /* the first failing micro-batch's message becomes the network's */
            char name[96];
            return cnn_error(tr->net, m->st[k], "%s: %s", micro_name(tr, k, name, sizeof name),
                             cnn_net_last_error(m->nets[k]));
        }
        *total += m->total[k];
        *correct += m->correct[k];
    }
    long parts = (long)((tr->net->n_params + SUM_PART - 1) / SUM_PART);
    cnn_parallel_for(pool, tr->net->threads, parts, sum_parts, tr);
    return CNN_STATUS_OK;
}

int cnn_trainer_micro_nonfinite(cnn_trainer *tr, char *msg, size_t size) {
    for (int k = 0; k < tr->micro.count; k++) {
        char where[512], name[96];
        if (!cnn_net_find_nonfinite(tr->micro.nets[k], where, sizeof where)) continue;
        snprintf(msg, size, "%s in %s", where, micro_name(tr, k, name, sizeof name));
        return 1;
    }
    return 0;
}

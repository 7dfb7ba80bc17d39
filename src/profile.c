/*
 * profile.c - per-layer time and thread use (cnn_net_set_profiling). The network's passes
 * bracket each layer's work with cnn_prof_begin / cnn_prof_end; the thread pool counts its
 * regions and each thread's computing time while its statistics are on.
 */
#include "core/internal.h"

#include <stdlib.h>

cnn_status cnn_net_set_profiling(cnn_net *net, int on) {
    if (on) {
        cnn_layer_profile *p = cnn_calloc((size_t)net->n_nodes + 1, sizeof *p);
        if (!p) return cnn_error(net, CNN_STATUS_NO_MEMORY, "out of memory for the profile");
        cnn_free(net->prof);
        net->prof = p;
        net->n_prof = net->n_nodes;
    }
    net->profiling = on != 0;
    cnn_workers_set_stats(net->workers, net->profiling);
    return CNN_STATUS_OK;
}

cnn_layer_profile cnn_net_layer_profile(const cnn_net *net, int layer) {
    cnn_layer_profile none = {0};
    return net->prof && layer >= 0 && layer < net->n_prof ? net->prof[layer] : none;
}

void cnn_prof_begin(const cnn_net *net, cnn_prof_mark *m) {
    if (!net->profiling) return;
    cnn_workers_stats(net->workers, &m->pool);
    m->t0 = cnn_now_ns();
}

void cnn_prof_end(cnn_net *net, int layer, int backward, const cnn_prof_mark *m) {
    if (!net->profiling || layer >= net->n_prof) return;
    uint64_t t1 = cnn_now_ns();
    cnn_pool_stats s;
    cnn_workers_stats(net->workers, &s);
    cnn_pass_profile *p = backward ? &net->prof[layer].backward : &net->prof[layer].forward;
    p->calls++;
    p->regions += (long long)(s.regions - m->pool.regions);
    p->seconds += (double)(t1 - m->t0) * 1e-9;
    p->region_seconds += (double)(s.region_ns - m->pool.region_ns) * 1e-9;
    p->busy_seconds += (double)(s.busy_ns - m->pool.busy_ns) * 1e-9;
}

/*
 * quantize.c - cnn_net_quantize: an 8-bit inference copy of a network. The network is fused
 * first (cnn_net_fuse: batch norm folded into the convolutions, ReLUs in their epilogue), then
 * run in evaluation mode over calibration samples, noting the range of values each layer with
 * an 8-bit form (type->quantize, src/core/internal.h) reads; each such layer then gets the
 * hyper-parameters of its 8-bit form for that range (cnn_node_set_args). Which layers have one
 * and what it computes is theirs to say (conv2d quant=int8, kernels/qconv.h).
 */
#include "core/internal.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* Samples per calibration pass. */
#define CALIB_BATCH 32

/* The range each quantisable layer of f read over the samples: lo[i], hi[i] (0 for the
 * others), widened pass by pass. */
static cnn_status calibrate(cnn_net *f, const cnn_dataset *ds, int count, float *lo,
                            float *hi) {
    const cnn_preprocess *pp = cnn_net_preprocess(f);
    cnn_status st = cnn_check_fit(f, ds, pp, f->output);
    if (st) return st;
    int batch = count < CALIB_BATCH ? count : CALIB_BATCH;
    if ((st = cnn_net_prepare(f, batch))) return st;
    size_t numel = cnn_shape_numel(&ds->shape);
    float *x = cnn_alloc(((size_t)batch + 2) * numel * sizeof *x); /* and prep_apply's scratch */
    if (!x) return cnn_error(f, CNN_STATUS_NO_MEMORY, "out of memory for calibration samples");
    for (int start = 0; start < count && !st; start += batch) {
        int b = count - start < batch ? count - start : batch;
        /* Samples spread over the whole set, which may be sorted by class. */
        for (int i = 0; i < b; i++)
            cnn_dataset_sample(ds, (int)((long long)(start + i) * ds->n / count),
                               x + (size_t)i * numel);
        cnn_prep_apply(pp, &ds->shape, x, b, x + (size_t)batch * numel);
        if ((st = cnn_net_forward(f, x, b))) break;
        for (int l = 0; l < f->n_nodes; l++) {
            const cnn_node *n = f->nodes[l];
            if (!n->type->quantize) continue;
            const float *y = n->in[0]->y;
            size_t len = (size_t)b * cnn_node_numel(n->in[0]);
            for (size_t k = 0; k < len; k++) {
                if (y[k] < lo[l]) lo[l] = y[k]; /* NaN compares false: ignored */
                if (y[k] > hi[l]) hi[l] = y[k];
            }
        }
    }
    cnn_free(x);
    return st;
}

/* Each quantisable layer of f in its 8-bit form for its range. */
static cnn_status requantize(cnn_net *f, const float *lo, const float *hi) {
    char args[1024];
    for (int l = 0; l < f->n_nodes; l++) {
        cnn_node *n = f->nodes[l];
        if (!n->type->quantize || n->type->quantize(n, lo[l], hi[l], args, sizeof args))
            continue; /* stays float */
        cnn_status st = cnn_node_set_args(f, n, args);
        if (st) return st;
    }
    return CNN_STATUS_OK;
}

cnn_status cnn_net_quantize(const cnn_net *net, const cnn_dataset *calib, int count,
                            cnn_net **out, char *err, size_t errlen) {
    *out = NULL;
    if (count < 1 || !calib || count > calib->n)
        return cnn_set_error(err, errlen, CNN_STATUS_INVALID_ARGUMENT,
                             "calibration needs 1 to %d samples of the data set, got %d",
                             calib ? calib->n : 0, count);
    cnn_net *f;
    cnn_status st = cnn_net_fuse(net, &f, err, errlen);
    if (st) return st;
    float *lo = cnn_calloc((size_t)f->n_nodes, sizeof *lo);
    float *hi = cnn_calloc((size_t)f->n_nodes, sizeof *hi);
    st = lo && hi ? CNN_STATUS_OK
                  : cnn_error(f, CNN_STATUS_NO_MEMORY, "out of memory quantising");
    if (!st) st = calibrate(f, calib, count, lo, hi);
    if (!st) st = requantize(f, lo, hi);
    cnn_free(lo);
    cnn_free(hi);
    if (st) {
        snprintf(err, errlen, "quantising: %s", cnn_net_last_error(f));
        cnn_net_free(f);
        return st;
    }
    *out = f;
    return CNN_STATUS_OK;
}

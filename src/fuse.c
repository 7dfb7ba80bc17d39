/*
 * fuse.c - cnn_net_fuse: an inference copy of a network with each batch norm (evaluation
 * mode) folded into the convolution before it, and the ReLU after either applied by the
 * convolution itself (conv2d act=relu). Which layer absorbs which is asked of the layers: a
 * producer has `fold`, a per-channel affine map has `affine`, an activation a producer can
 * apply has `fused_act` (src/core/internal.h).
 *
 * A layer is absorbed into the one before it only when it is that layer's only reader and that
 * layer is not the network's output, so no other layer loses the value it read.
 */
#include "core/internal.h"

#include <stdlib.h>
#include <string.h>

/* How many layers read each layer's output (the network's output counts as one more). */
static int *reader_counts(const cnn_net *net) {
    int *r = cnn_calloc((size_t)net->n_nodes + 1, sizeof *r);
    if (!r) return NULL;
    for (int i = 0; i < net->n_nodes; i++)
        for (int k = 0; k < net->nodes[i]->n_in; k++) r[net->nodes[i]->in[k]->index]++;
    r[net->output]++;
    return r;
}

/* The layer that reads only node i, if i has exactly one reader; else -1. */
static int sole_reader(const cnn_net *net, const int *readers, int i) {
    if (readers[i] != 1) return -1;
    for (int j = i + 1; j < net->n_nodes; j++)
        for (int k = 0; k < net->nodes[j]->n_in; k++)
            if (net->nodes[j]->in[k]->index == i) return net->nodes[j]->n_in == 1 ? j : -1;
    return -1;
}

/* A fused layer: the producer p absorbing the affine layer a and the activation r (-1: none). */
typedef struct chain {
    int a, r;
} chain;

static chain chain_of(const cnn_net *net, const int *readers, int p) {
    chain c = {-1, -1};
    if (!net->nodes[p]->type->fold) return c;
    int next = sole_reader(net, readers, p);
    if (next >= 0 && net->nodes[next]->type->affine) {
        c.a = next;
        next = sole_reader(net, readers, next);
    }
    if (next >= 0 && net->nodes[next]->type->fused_act) c.r = next;
    return c;
}

static cnn_status fail(char *err, size_t errlen, cnn_status st, const char *msg, const char *a) {
    snprintf(err, errlen, msg, a);
    return st;
}

cnn_status cnn_net_fuse(const cnn_net *net, cnn_net **out, char *err, size_t errlen) {
    *out = NULL;
    if (net->n_nodes == 0 || net->n_inputs == 0)
        return fail(err, errlen, CNN_STATUS_STATE, "%s", "the network has no input layer");
    int n = net->n_nodes, *readers = reader_counts(net);
    int *into = cnn_calloc((size_t)n, sizeof *into); /* the layer each one became */
    chain *chains = cnn_calloc((size_t)n, sizeof *chains);
    cnn_net *f = cnn_net_new(0);
    double *scale = NULL, *shift = NULL;
    float *params = NULL;
    char args[1024], inputs[CNN_MAX_INPUTS * (CNN_NAME_MAX + 1)];
    cnn_status st = readers && into && chains && f ? CNN_STATUS_OK : CNN_STATUS_NO_MEMORY;
    for (int i = 0; i < n && !st; i++) into[i] = -1;
    for (int i = 0; i < n && !st; i++) {
        const cnn_node *nd = net->nodes[i];
        if (into[i] >= 0) continue; /* absorbed */
        chains[i] = chain_of(net, readers, i);
        inputs[0] = 0;
        for (int k = 0; k < nd->n_in; k++) {
            if (k) strcat(inputs, ",");
            strcat(inputs, net->nodes[into[nd->in[k]->index]]->name);
        }
        if (cnn_fields_print(nd->type->fields, nd->params, args, sizeof args, 0) >=
            (int)sizeof args) {
            st = fail(err, errlen, CNN_STATUS_INVALID_ARGUMENT,
                      "layer '%s': its arguments do not fit 1024 characters", nd->name);
            break;
        }
        if (chains[i].a >= 0 || chains[i].r >= 0) {
            const cnn_node *a = chains[i].a >= 0 ? net->nodes[chains[i].a] : NULL;
            int C = nd->shape.dim[0];
            free(scale), free(shift), free(params);
            scale = malloc((size_t)C * sizeof *scale);
            shift = malloc((size_t)C * sizeof *shift);
            params = malloc((nd->n_params + (size_t)C) * sizeof *params);
            if (!scale || !shift || !params) {
                st = CNN_STATUS_NO_MEMORY;
                break;
            }
            if (a)
                a->type->affine(a, net->params + a->param_off, net->state + a->state_off, scale,
                                shift);
            const char *act = chains[i].r >= 0 ? net->nodes[chains[i].r]->type->fused_act : NULL;
            if (nd->type->fold(nd, net->params + nd->param_off, a ? scale : NULL,
                               a ? shift : NULL, act, args, sizeof args, params)) {
                chains[i] = (chain){-1, -1}; /* it cannot: kept as it is */
                cnn_fields_print(nd->type->fields, nd->params, args, sizeof args, 0);
            } else {
                if (chains[i].a >= 0) into[chains[i].a] = i;
                if (chains[i].r >= 0) into[chains[i].r] = i;
            }
        }
        into[i] = i;
        if ((st = cnn_add(f, nd->type->name, nd->name, nd->n_in ? inputs : NULL, args))) {
            snprintf(err, errlen, "layer '%s': %s", nd->name, cnn_net_last_error(f));
            break;
        }
        /* The new layer's parameters and state: folded, or copied. */
        const cnn_node *m = f->nodes[f->n_nodes - 1];
        if (chains[i].a >= 0 || chains[i].r >= 0)
            memcpy(f->params + m->param_off, params, m->n_params * sizeof *params);
        else {
            if (nd->n_params)
                memcpy(f->params + m->param_off, net->params + nd->param_off,
                       nd->n_params * sizeof *f->params);
            if (nd->n_state)
                memcpy(f->state + m->state_off, net->state + nd->state_off,
                       nd->n_state * sizeof *f->state);
        }
    }
    if (!st) st = cnn_net_set_output(f, net->nodes[into[net->output]]->name);
    if (!st && net->prep.set) {
        size_t size;
        unsigned char *bytes = cnn_prep_encode(net, &size);
        st = bytes ? cnn_prep_decode(f, bytes, size, NULL) : CNN_STATUS_NO_MEMORY;
        cnn_free(bytes);
        if (st) snprintf(err, errlen, "the preprocessing: %s", cnn_net_last_error(f));
    }
    if (!st) st = cnn_net_set_threads(f, net->threads);
    if (st == CNN_STATUS_NO_MEMORY) snprintf(err, errlen, "out of memory fusing the network");
    if (!st) f->rng = net->rng;
    cnn_free(readers);
    cnn_free(into);
    cnn_free(chains);
    free(scale), free(shift), free(params);
    if (st) {
        cnn_net_free(f);
        return st;
    }
    *out = f;
    return CNN_STATUS_OK;
}

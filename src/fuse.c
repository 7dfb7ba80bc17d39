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

/* The work of one cnn_net_fuse call. */
typedef struct fuser {
    const cnn_net *net;
    cnn_net *f;        /* the copy being built */
    int *readers;      /* reader_counts(net) */
    int *into;         /* per layer of net: the layer of net it became part of, -1 before */
    char args[1024];   /* the layer being added: its arguments */
    float *params;     /* and its folded parameters, when it absorbs layers */
    char *err;
    size_t errlen;
} fuser;

/* Producer p absorbing chain c: its folded arguments into z->args and parameters into
 * z->params. 1 when it did (c's layers then map to p), 0 when it cannot (c is left alone), -1
 * when memory ran out. */
static int fold_chain(fuser *z, int p, chain c) {
    const cnn_net *net = z->net;
    const cnn_node *nd = net->nodes[p], *a = c.a >= 0 ? net->nodes[c.a] : NULL;
    int C = nd->shape.dim[0];
    double *scale = a ? malloc((size_t)C * sizeof *scale) : NULL;
    double *shift = a ? malloc((size_t)C * sizeof *shift) : NULL;
    free(z->params);
    z->params = malloc((nd->n_params + (size_t)C) * sizeof *z->params);
    int done = -1;
    if (z->params && (!a || (scale && shift))) {
        if (a)
            a->type->affine(a, net->params + a->param_off, net->state + a->state_off, scale,
                            shift);
        const char *act = c.r >= 0 ? net->nodes[c.r]->type->fused_act : NULL;
        done = nd->type->fold(nd, net->params + nd->param_off, scale, shift, act, z->args,
                              sizeof z->args, z->params) == 0;
    }
    free(scale), free(shift);
    if (done == 1) {
        if (c.a >= 0) z->into[c.a] = p;
        if (c.r >= 0) z->into[c.r] = p;
    }
    return done;
}

/* Adds layer i of net to the copy: folded with what follows it when it can, else as it is. */
static cnn_status add_layer(fuser *z, int i) {
    const cnn_net *net = z->net;
    const cnn_node *nd = net->nodes[i];
    char inputs[CNN_MAX_INPUTS * (CNN_NAME_MAX + 1)] = "";
    for (int k = 0; k < nd->n_in; k++) {
        if (k) strcat(inputs, ",");
        strcat(inputs, net->nodes[z->into[nd->in[k]->index]]->name);
    }
    if (cnn_fields_print(nd->type->fields, nd->params, z->args, sizeof z->args, 0) >=
        (int)sizeof z->args)
        return fail(z->err, z->errlen, CNN_STATUS_INVALID_ARGUMENT,
                    "layer '%s': its arguments do not fit 1024 characters", nd->name);
    chain c = chain_of(net, z->readers, i);
    int folded = c.a >= 0 || c.r >= 0 ? fold_chain(z, i, c) : 0;
    if (folded < 0) return CNN_STATUS_NO_MEMORY;
    if (!folded) cnn_fields_print(nd->type->fields, nd->params, z->args, sizeof z->args, 0);
    z->into[i] = i;
    cnn_status st = cnn_add(z->f, nd->type->name, nd->name, nd->n_in ? inputs : NULL, z->args);
    if (st) {
        snprintf(z->err, z->errlen, "layer '%s': %s", nd->name, cnn_net_last_error(z->f));
        return st;
    }
    /* The new layer's parameters and state: folded, or copied. */
    const cnn_node *m = z->f->nodes[z->f->n_nodes - 1];
    if (folded) {
        memcpy(z->f->params + m->param_off, z->params, m->n_params * sizeof *z->params);
        return CNN_STATUS_OK;
    }
    if (nd->n_params)
        memcpy(z->f->params + m->param_off, net->params + nd->param_off,
               nd->n_params * sizeof *z->f->params);
    if (nd->n_state)
        memcpy(z->f->state + m->state_off, net->state + nd->state_off,
               nd->n_state * sizeof *z->f->state);
    return CNN_STATUS_OK;
}

/* The copy's output, preprocessing, threads and random generator: net's. */
static cnn_status finish(fuser *z) {
    const cnn_net *net = z->net;
    cnn_status st = cnn_net_set_output(z->f, net->nodes[z->into[net->output]]->name);
    if (!st && net->prep.set) {
        size_t size;
        unsigned char *bytes = cnn_prep_encode(net, &size);
        st = bytes ? cnn_prep_decode(z->f, bytes, size, NULL) : CNN_STATUS_NO_MEMORY;
        cnn_free(bytes);
        if (st && st != CNN_STATUS_NO_MEMORY)
            snprintf(z->err, z->errlen, "the preprocessing: %s", cnn_net_last_error(z->f));
    }
    if (!st) st = cnn_net_set_threads(z->f, net->threads);
    if (!st) z->f->rng = net->rng;
    return st;
}

cnn_status cnn_net_fuse(const cnn_net *net, cnn_net **out, char *err, size_t errlen) {
    *out = NULL;
    if (net->n_nodes == 0 || net->n_inputs == 0)
        return fail(err, errlen, CNN_STATUS_STATE, "%s", "the network has no input layer");
    fuser z = {.net = net, .f = cnn_net_new(0), .readers = reader_counts(net),
               .into = cnn_calloc((size_t)net->n_nodes, sizeof *z.into), .err = err,
               .errlen = errlen};
    cnn_status st = z.f && z.readers && z.into ? CNN_STATUS_OK : CNN_STATUS_NO_MEMORY;
    for (int i = 0; i < net->n_nodes && !st; i++) z.into[i] = -1;
    for (int i = 0; i < net->n_nodes && !st; i++)
        if (z.into[i] < 0) st = add_layer(&z, i); /* else absorbed by a layer before it */
    if (!st) st = finish(&z);
    if (st == CNN_STATUS_NO_MEMORY) snprintf(err, errlen, "out of memory fusing the network");
    cnn_free(z.readers);
    cnn_free(z.into);
    free(z.params);
    if (st) {
        cnn_net_free(z.f);
        return st;
    }
    *out = z.f;
    return CNN_STATUS_OK;
}

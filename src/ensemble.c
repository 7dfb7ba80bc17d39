/*
 * ensemble.c - several trained networks as one: cnn_net_ensemble.
 *
 * The ensemble is an ordinary network, so everything that takes a network takes it (cnn eval,
 * cnn predict, checkpoints, ONNX, the views of cnn viz): member k's layers, renamed "mk.NAME",
 * read one shared input, and a mean layer named "ensemble" averages the members' outputs.
 *
 * The input is normalised as member 0's is. A member whose normalisation differs (models
 * trained apart hold out other validation samples, so the statistics of their training
 * samples differ) reads it through a layer of its own, mk.renorm: a 1x1 depthwise convolution
 * that maps member 0's normalised values to its own, y_k = a y_0 + b per channel with
 * a = inv_k / inv_0 and b = (m_0 - m_k) inv_k (inv = 1 / std, as the preprocessing computes
 * it; m = 0 and inv = 1 for no normalisation), equal to the member's own to rounding.
 */
#include "core/internal.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { MAX_MEMBERS = CNN_MAX_INPUTS };

static cnn_status fail(char *err, size_t errlen, cnn_status st, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static cnn_status fail(char *err, size_t errlen, cnn_status st, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
    return st;
}

/* Whether two networks' preprocessing is the same but for the normalisation (compared as the
 * bytes a checkpoint stores, so that every field counts). */
static int same_but_normalisation(const cnn_net *a, const cnn_net *b, cnn_status *st) {
    cnn_preprocess pa = *cnn_net_preprocess(a), pb = *cnn_net_preprocess(b);
    pa.mean = pa.std = pb.mean = pb.std = NULL;
    size_t na = 0, nb = 0;
    unsigned char *x = cnn_prep_bytes(&pa, &na), *y = cnn_prep_bytes(&pb, &nb);
    *st = x && y ? CNN_STATUS_OK : CNN_STATUS_NO_MEMORY;
    int same = x && y && na == nb && memcmp(x, y, na) == 0;
    cnn_free(x);
    cnn_free(y);
    return same;
}

/* Channel c's normalisation: y = (x - *m) * *inv, as the preprocessing applies it. */
static void normalisation(const cnn_net *net, int c, float *m, float *inv) {
    const cnn_preprocess *p = cnn_net_preprocess(net);
    *m = p->mean ? p->mean[c] : 0.0f;
    *inv = p->mean ? 1.0f / p->std[c] : 1.0f;
}

/* Whether member m normalises as member 0 does. */
static int same_normalisation(const cnn_net *m0, const cnn_net *m) {
    for (int c = 0; c < cnn_net_preprocess(m0)->channels; c++) {
        float a, ia, b, ib;
        normalisation(m0, c, &a, &ia);
        normalisation(m, c, &b, &ib);
        if (a != b || ia != ib) return 0;
    }
    return 1;
}

/* What the members must share: one input of one shape, outputs of one shape, the
 * preprocessing. */
static cnn_status check_members(cnn_net *const *m, int n, char *err, size_t errlen) {
    if (n < 2 || n > MAX_MEMBERS)
        return fail(err, errlen, CNN_STATUS_INVALID_ARGUMENT,
                    "an ensemble has 2 to %d members, not %d", MAX_MEMBERS, n);
    for (int k = 0; k < n; k++) {
        if (!m[k] || m[k]->n_nodes == 0)
            return fail(err, errlen, CNN_STATUS_INVALID_ARGUMENT, "member %d is empty", k);
        if (m[k]->n_inputs != 1)
            return fail(err, errlen, CNN_STATUS_SHAPE,
                        "member %d has %d inputs: an ensemble's members take one", k,
                        m[k]->n_inputs);
    }
    const cnn_node *in0 = m[0]->nodes[m[0]->inputs[0]], *out0 = m[0]->nodes[m[0]->output];
    for (int k = 1; k < n; k++) {
        const cnn_node *in = m[k]->nodes[m[k]->inputs[0]], *out = m[k]->nodes[m[k]->output];
        char a[64], b[64];
        int input = !cnn_shape_same(&in->shape, &in0->shape);
        if (input || !cnn_shape_same(&out->shape, &out0->shape))
            return fail(err, errlen, CNN_STATUS_SHAPE, "member %d's %s is %s where member 0's is %s",
                        k, input ? "input" : "output",
                        cnn_shape_str(input ? &in->shape : &out->shape, a, sizeof a),
                        cnn_shape_str(input ? &in0->shape : &out0->shape, b, sizeof b));
        cnn_status st;
        if (!same_but_normalisation(m[0], m[k], &st) && !st)
            return fail(err, errlen, CNN_STATUS_INVALID_ARGUMENT,
                        "member %d's preprocessing (task, loss, transforms, classes or test-time "
                        "views) is not member 0's", k);
        if (st) return fail(err, errlen, st, "out of memory");
        if (in->shape.rank == 1 && !same_normalisation(m[0], m[k]))
            return fail(err, errlen, CNN_STATUS_INVALID_ARGUMENT,
                        "member %d normalises its input otherwise than member 0, and a flat "
                        "input has no channels to map one to the other", k);
    }
    return CNN_STATUS_OK;
}

/* Appends to list (of size bytes) a comma if it is not empty, then the name in e of member
 * k's layer nd: "mk.NAME"; for its input layer, mk.renorm when it has one (renorm), else e's
 * input. */
static void append_name(char *list, size_t size, const cnn_net *e, const cnn_net *m, int k,
                        int renorm, const cnn_node *nd) {
    size_t at = strlen(list);
    const char *sep = at ? "," : "";
    if (nd->index != m->inputs[0])
        snprintf(list + at, size - at, "%sm%d.%s", sep, k, nd->name);
    else if (renorm)
        snprintf(list + at, size - at, "%sm%d.renorm", sep, k);
    else
        snprintf(list + at, size - at, "%s%s", sep, e->nodes[e->inputs[0]]->name);
}

/* Member k's mk.renorm: member 0's normalised input mapped to member k's, channel by channel. */
static cnn_status add_renorm(cnn_net *e, const cnn_net *m0, const cnn_net *m, int k, char *err,
                             size_t errlen) {
    const cnn_node *in = e->nodes[e->inputs[0]];
    int C = in->shape.dim[0];
    char name[32], args[64];
    snprintf(name, sizeof name, "m%d.renorm", k);
    snprintf(args, sizeof args, "out=%d kernel=1 groups=%d", C, C);
    cnn_status st = cnn_add(e, in->shape.rank == 3 ? "conv2d" : "conv1d", name, in->name, args);
    if (st) return fail(err, errlen, st, "member %d's renorm: %s", k, cnn_net_last_error(e));
    int layer = e->n_nodes - 1;
    for (int i = 0; i < 2; i++) {
        cnn_param_tensor t;
        cnn_net_param_tensor(e, layer, i, &t);
        for (int c = 0; c < C; c++) {
            float m_0, inv_0, m_k, inv_k;
            normalisation(m0, c, &m_0, &inv_0);
            normalisation(m, c, &m_k, &inv_k);
            t.data[c] = !strcmp(t.name, "weight") ? (float)((double)inv_k / inv_0)
                                                  : (float)(((double)m_0 - m_k) * inv_k);
        }
    }
    return CNN_STATUS_OK;
}

/* Member k's layers into e, named "mk.NAME"; its input is e's input, through mk.renorm when
 * it normalises otherwise than member 0. Weights and running statistics copied. */
static cnn_status add_member(cnn_net *e, const cnn_net *m0, const cnn_net *m, int k, char *err,
                             size_t errlen) {
    char args[1024], name[CNN_NAME_MAX + 8];
    char inputs[CNN_MAX_INPUTS * (CNN_NAME_MAX + 16)];
    int renorm = !same_normalisation(m0, m);
    cnn_status st = renorm ? add_renorm(e, m0, m, k, err, errlen) : CNN_STATUS_OK;
    if (st) return st;
    for (int i = 0; i < m->n_nodes; i++) {
        const cnn_node *nd = m->nodes[i];
        if (i == m->inputs[0]) continue; /* the shared input */
        snprintf(name, sizeof name, "m%d.%s", k, nd->name);
        if (strlen(name) >= CNN_NAME_MAX)
            return fail(err, errlen, CNN_STATUS_INVALID_ARGUMENT,
                        "member %d, layer '%s': its name in the ensemble, '%s', is longer than "
                        "%d characters", k, nd->name, name, CNN_NAME_MAX - 1);
        inputs[0] = 0;
        for (int j = 0; j < nd->n_in; j++)
            append_name(inputs, sizeof inputs, e, m, k, renorm, nd->in[j]);
        if (cnn_fields_print(nd->type->fields, nd->params, args, sizeof args, 0) >=
            (int)sizeof args)
            return fail(err, errlen, CNN_STATUS_INVALID_ARGUMENT,
                        "member %d, layer '%s': its arguments do not fit %zu characters", k,
                        nd->name, sizeof args - 1);
        st = cnn_add(e, nd->type->name, name, inputs, args);
        if (st)
            return fail(err, errlen, st, "member %d, layer '%s': %s", k, nd->name,
                        cnn_net_last_error(e));
        const cnn_node *c = e->nodes[e->n_nodes - 1];
        if (nd->n_params) /* (a network without parameters or state has no buffer for them) */
            memcpy(e->params + c->param_off, m->params + nd->param_off,
                   nd->n_params * sizeof *e->params);
        if (nd->n_state)
            memcpy(e->state + c->state_off, m->state + nd->state_off,
                   nd->n_state * sizeof *e->state);
    }
    return CNN_STATUS_OK;
}

/* The mean of the members' outputs, the ensemble's output; member 0's preprocessing, threads
 * and random generator. */
static cnn_status finish(cnn_net *e, cnn_net *const *m, int n, char *err, size_t errlen) {
    char inputs[MAX_MEMBERS * (CNN_NAME_MAX + 16)] = "";
    for (int k = 0; k < n; k++)
        append_name(inputs, sizeof inputs, e, m[k], k, !same_normalisation(m[0], m[k]),
                    m[k]->nodes[m[k]->output]);
    cnn_status st = cnn_add(e, "mean", "ensemble", inputs, NULL);
    if (!st) st = cnn_net_set_output(e, "ensemble");
    if (st)
        return fail(err, errlen, st, "the mean of the members' outputs: %s",
                    cnn_net_last_error(e));
    if (m[0]->prep.set) {
        size_t size;
        unsigned char *bytes = cnn_prep_encode(m[0], &size);
        st = bytes ? cnn_prep_decode(e, bytes, size, NULL) : CNN_STATUS_NO_MEMORY;
        cnn_free(bytes);
        if (st && st != CNN_STATUS_NO_MEMORY)
            snprintf(err, errlen, "the preprocessing: %s", cnn_net_last_error(e));
    }
    if (!st) st = cnn_net_set_threads(e, m[0]->threads);
    if (!st) e->rng = m[0]->rng;
    return st;
}

cnn_status cnn_net_ensemble(cnn_net *const *members, int n, cnn_net **out, char *err,
                            size_t errlen) {
    *out = NULL;
    cnn_status st = check_members(members, n, err, errlen);
    if (st) return st;
    cnn_net *e = cnn_net_new(0);
    if (!e) return fail(err, errlen, CNN_STATUS_NO_MEMORY, "out of memory");
    const cnn_node *in = members[0]->nodes[members[0]->inputs[0]];
    char args[1024];
    cnn_fields_print(in->type->fields, in->params, args, sizeof args, 0);
    st = cnn_add(e, "input", in->name, NULL, args);
    if (st) snprintf(err, errlen, "the input: %s", cnn_net_last_error(e));
    for (int k = 0; k < n && !st; k++) st = add_member(e, members[0], members[k], k, err, errlen);
    if (!st) st = finish(e, members, n, err, errlen);
    if (st == CNN_STATUS_NO_MEMORY) snprintf(err, errlen, "out of memory building the ensemble");
    if (st) {
        cnn_net_free(e);
        return st;
    }
    *out = e;
    return CNN_STATUS_OK;
}

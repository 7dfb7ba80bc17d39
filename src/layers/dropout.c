/*
 * dropout.c - inverted dropout, PyTorch's nn.Dropout. Any input shape; y has the input's shape.
 *
 *   Training, 0 < p < 1:  m_i = 1 with probability 1 - p, else 0 (one draw per element)
 *                         y = x * m / (1 - p),    dx += dy * m / (1 - p)
 *   Evaluation, or p = 0: y = x,                  dx += dy
 *
 * The mask is drawn from the network's generator one element after the other, in memory order,
 * so it depends only on the seed and the sequence of passes, never on the thread count. It is
 * kept (a byte per element) for backward. p = 0 draws nothing: it is the identity.
 */
#include "../core/internal.h"

#include <string.h>

typedef struct dropout_params {
    float p;
} dropout_params;

/* What forward leaves for backward: whether it dropped (the mode may change between forward
 * and backward), and the mask it drew. */
typedef struct dropout_saved {
    int dropped;
    unsigned char mask[];
} dropout_saved;

static const cnn_field dropout_fields[] = {
    {"p", CNN_FIELD_FLOAT, offsetof(dropout_params, p), "0.5", NULL,
     "probability of zeroing an element in training, in [0, 1)"},
    {0},
};

static cnn_status dropout_setup(cnn_net *net, cnn_node *n) {
    const dropout_params *p = n->params;
    /* p = 1 would zero everything and scale by 1/0. */
    if (!(p->p >= 0.0f && p->p < 1.0f))
        return cnn_node_error(net, n, CNN_STATUS_INVALID_ARGUMENT,
                              "p must be in [0, 1), got %g", (double)p->p);
    n->shape = n->in[0]->shape;
    return CNN_STATUS_OK;
}

static size_t dropout_saved_bytes(const cnn_node *n, int batch) {
    return sizeof(dropout_saved) + (size_t)batch * cnn_node_numel(n);
}

/* 1 / (1 - p) rounded once to float, the factor applied to kept elements. */
static float keep_scale(const dropout_params *p) { return (float)(1.0 / (1.0 - (double)p->p)); }

static void dropout_forward(cnn_node *n, const cnn_ctx *c) {
    const dropout_params *p = n->params;
    dropout_saved *sv = n->saved;
    const float *x = n->in[0]->y;
    float *y = n->y;
    size_t total = (size_t)c->batch * cnn_node_numel(n);
    sv->dropped = c->training && p->p > 0.0f;
    if (!sv->dropped) {
        memcpy(y, x, total * sizeof *y);
        return;
    }
    float scale = keep_scale(p);
    for (size_t i = 0; i < total; i++) {
        unsigned char keep = cnn_rng_uniform(c->rng) >= p->p;
        sv->mask[i] = keep;
        /* A product, as PyTorch's x * mask: a NaN or infinity dropped still gives NaN. */
        y[i] = x[i] * (keep ? scale : 0.0f);
    }
}

static void dropout_backward(cnn_node *n, const cnn_ctx *c) {
    const dropout_params *p = n->params;
    const dropout_saved *sv = n->saved;
    const float *dy = n->dy;
    float *dx = n->in[0]->dy;
    size_t total = (size_t)c->batch * cnn_node_numel(n);
    if (!sv->dropped) {
        for (size_t i = 0; i < total; i++) dx[i] += dy[i];
        return;
    }
    float scale = keep_scale(p);
    for (size_t i = 0; i < total; i++) dx[i] += dy[i] * (sv->mask[i] ? scale : 0.0f);
}

const cnn_layer_type cnn_layer_dropout = {
    .name = "dropout",
    .doc = "Inverted dropout: in training, zeroes each element with probability p and scales "
           "the others by 1/(1-p); the identity in evaluation.",
    .params_size = sizeof(dropout_params),
    .fields = dropout_fields,
    .min_inputs = 1,
    .max_inputs = 1,
    .setup = dropout_setup,
    .saved_bytes = dropout_saved_bytes,
    .forward = dropout_forward,
    .backward = dropout_backward,
    .whole_batch = 1,
};

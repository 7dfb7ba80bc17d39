/*
 * concat.c - concatenation of 2 to 8 inputs along the channels, PyTorch's torch.cat(dim=1).
 *
 *   x_k (N, C_k, P) with P the positions (1, L or H*W), the same for every input:
 *   y (N, C_0 + ... + C_{K-1}, P), y[:, O_k : O_k + C_k] = x_k with O_k = C_0 + ... + C_{k-1}
 *   dx_k += dy[:, O_k : O_k + C_k]
 *
 * All inputs must have the same rank and the same sizes after the channels. Each sample of each
 * input is one contiguous block of C_k*P floats, so both directions copy blocks.
 */
#include "../core/internal.h"

#include <limits.h>
#include <string.h>

static const cnn_field concat_fields[] = {{0}};

static cnn_status concat_setup(cnn_net *net, cnn_node *n) {
    const cnn_node *a = n->in[0];
    char sa[64], sb[64];
    long long channels = a->shape.dim[0];
    for (int k = 1; k < n->n_in; k++) {
        const cnn_node *b = n->in[k];
        if (b->shape.rank != a->shape.rank)
            return cnn_node_error(net, n, CNN_STATUS_SHAPE,
                                  "cannot concatenate '%s' %s and '%s' %s: the ranks differ "
                                  "(%d and %d)",
                                  a->name, cnn_shape_str(&a->shape, sa, sizeof sa), b->name,
                                  cnn_shape_str(&b->shape, sb, sizeof sb), a->shape.rank,
                                  b->shape.rank);
        for (int d = 1; d < a->shape.rank; d++)
            if (b->shape.dim[d] != a->shape.dim[d])
                return cnn_node_error(net, n, CNN_STATUS_SHAPE,
                                      "cannot concatenate '%s' %s and '%s' %s: the sizes after "
                                      "the channels differ",
                                      a->name, cnn_shape_str(&a->shape, sa, sizeof sa), b->name,
                                      cnn_shape_str(&b->shape, sb, sizeof sb));
        channels += b->shape.dim[0];
    }
    if (channels > INT_MAX)
        return cnn_node_error(net, n, CNN_STATUS_SHAPE, "%lld channels in all is too many",
                              channels);
    n->shape = a->shape;
    n->shape.dim[0] = (int)channels;
    return CNN_STATUS_OK;
}

/* Floats of one sample of input k. */
static size_t input_numel(const cnn_node *n, int k) { return cnn_node_numel(n->in[k]); }

/* Samples [begin, end) of the forward pass. */
static void concat_forward_range(void *arg, long begin, long end, int worker) {
    const cnn_node *n = arg;
    int K = n->n_in;
    size_t out = cnn_node_numel(n);
    for (int i = (int)begin; i < (int)end; i++) {
        float *y = n->y + (size_t)i * out;
        for (int k = 0; k < K; k++) {
            size_t len = input_numel(n, k);
            memcpy(y, n->in[k]->y + (size_t)i * len, len * sizeof *y);
            y += len;
        }
    }
}

static void concat_forward(cnn_node *n, const cnn_ctx *c) {
    cnn_parallel_for(c->workers, c->threads, c->batch, concat_forward_range, n);
}

/* Samples [begin, end) of the backward pass. One thread per sample handles every input, so an
 * input given twice is still updated by a single thread. */
static void concat_backward_range(void *arg, long begin, long end, int worker) {
    const cnn_node *n = arg;
    int K = n->n_in;
    size_t out = cnn_node_numel(n);
    for (int i = (int)begin; i < (int)end; i++) {
        const float *dy = n->dy + (size_t)i * out;
        for (int k = 0; k < K; k++) {
            size_t len = input_numel(n, k);
            float *dx = n->in[k]->dy + (size_t)i * len;
            for (size_t j = 0; j < len; j++) dx[j] += dy[j];
            dy += len;
        }
    }
}

static void concat_backward(cnn_node *n, const cnn_ctx *c) {
    cnn_parallel_for(c->workers, c->threads, c->batch, concat_backward_range, n);
}

const cnn_layer_type cnn_layer_concat = {
    .name = "concat",
    .doc = "Concatenates 2 to 8 inputs along the channels; the other sizes must match.",
    .fields = concat_fields,
    .min_inputs = 2,
    .max_inputs = CNN_MAX_INPUTS,
    .setup = concat_setup,
    .forward = concat_forward,
    .backward = concat_backward,
};

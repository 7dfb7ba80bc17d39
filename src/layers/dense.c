/*
 * dense.c - fully connected layer, PyTorch's nn.Linear.
 *
 *   x (N, IN), W (OUT, IN), b (OUT):  y = x W^T + b                      y (N, OUT)
 *   dx += dy W,   dW += dy^T x,   db += sum_n dy
 *
 * The input must be flat (rank 1): put a flatten layer before it.
 */
#include "../core/internal.h"
#include "../kernels/gemm.h"

typedef struct dense_params {
    int out;
    int bias;
    int init;
} dense_params;

static const cnn_field dense_fields[] = {
    {"out", CNN_FIELD_INT, offsetof(dense_params, out), NULL, NULL, "output features"},
    {"bias", CNN_FIELD_BOOL, offsetof(dense_params, bias), "1", NULL, "add a learned bias"},
    {"init", CNN_FIELD_ENUM, offsetof(dense_params, init), "he_normal", cnn_init_names,
     "weight initialisation"},
    {0},
};

static cnn_status dense_setup(cnn_net *net, cnn_node *n) {
    const dense_params *p = n->params;
    const cnn_shape *in = &n->in[0]->shape;
    char sh[64];
    if (in->rank != 1)
        return cnn_node_error(net, n, CNN_STATUS_SHAPE,
                              "needs a flat input (C), got %s from '%s': add a flatten layer",
                              cnn_shape_str(in, sh, sizeof sh), n->in[0]->name);
    if (p->out < 1)
        return cnn_node_error(net, n, CNN_STATUS_INVALID_ARGUMENT,
                              "out must be at least 1, got %d", p->out);
    n->shape.rank = 1;
    n->shape.dim[0] = p->out;
    n->n_params = (size_t)p->out * in->dim[0] + (p->bias ? (size_t)p->out : 0);
    return CNN_STATUS_OK;
}

static void dense_init(cnn_node *n, float *w, float *s, cnn_rng *rng) {
    (void)s;
    const dense_params *p = n->params;
    int in = n->in[0]->shape.dim[0];
    cnn_init_weights(w, (size_t)p->out * in, p->init, in, p->out, rng);
    if (p->bias)
        for (int o = 0; o < p->out; o++) w[(size_t)p->out * in + o] = 0.0f;
}

static void dense_forward(cnn_node *n, const cnn_ctx *c) {
    const dense_params *p = n->params;
    int in = n->in[0]->shape.dim[0], out = p->out;
    cnn_gemm_rows(c->reference, c->workers, c->threads, 0, 1, c->batch, out, in, 1.0f, n->in[0]->y,
                  in, n->w, in, 0.0f, n->y, out);
    if (p->bias) {
        const float *restrict b = n->w + (size_t)out * in;
        for (int i = 0; i < c->batch; i++) {
            float *restrict y = n->y + (size_t)i * out;
#pragma omp simd
            for (int o = 0; o < out; o++) y[o] += b[o];
        }
    }
}

static void dense_backward(cnn_node *n, const cnn_ctx *c) {
    const dense_params *p = n->params;
    int in = n->in[0]->shape.dim[0], out = p->out;
    if (!c->skip_dx)
        cnn_gemm_rows(c->reference, c->workers, c->threads, 0, 0, c->batch, in, out, 1.0f, n->dy,
                      out, n->w, in, c->fresh & 1 ? 0.0f : 1.0f, n->in[0]->dy, in);
    cnn_gemm_rows(c->reference, c->workers, c->threads, 1, 0, out, in, c->batch, 1.0f, n->dy, out,
                  n->in[0]->y, in, 1.0f, n->dw, in);
    if (p->bias) {
        float *restrict db = n->dw + (size_t)out * in;
        for (int i = 0; i < c->batch; i++) {
            const float *restrict dy = n->dy + (size_t)i * out;
#pragma omp simd
            for (int o = 0; o < out; o++) db[o] += dy[o];
        }
    }
}

static uint64_t dense_macs(const cnn_node *n) {
    return (uint64_t)((const dense_params *)n->params)->out * (uint64_t)n->in[0]->shape.dim[0];
}

/* PyTorch's nn.Linear: weight (out, in), bias (out). */
static int dense_tensors(const cnn_node *n, cnn_param_tensor *t) {
    const dense_params *p = n->params;
    t[0] = (cnn_param_tensor){.name = "weight", .role = CNN_PARAM_TRAINABLE, .rank = 2,
                              .dims = {p->out, n->in[0]->shape.dim[0]}};
    t[1] = (cnn_param_tensor){.name = "bias", .role = CNN_PARAM_TRAINABLE, .rank = 1,
                              .dims = {p->out}};
    return p->bias ? 2 : 1;
}

const cnn_layer_type cnn_layer_dense = {
    .name = "dense",
    .doc = "Fully connected: y = x W^T + b, W of shape (out, in). Needs a flat input.",
    .params_size = sizeof(dense_params),
    .fields = dense_fields,
    .min_inputs = 1,
    .max_inputs = 1,
    .setup = dense_setup,
    .init = dense_init,
    .forward = dense_forward,
    .backward = dense_backward,
    .writes_fresh = 1,
    .macs = dense_macs,
    .tensors = dense_tensors,
};

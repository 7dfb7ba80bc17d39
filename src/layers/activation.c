/*
 * activation.c - element-wise activations and softmax. One family, one parameter struct:
 *
 *   relu        y = max(x, 0), NaN kept (as PyTorch)   dy/dx = [x > 0]
 *   leaky_relu  y = x if x > 0 else slope * x          dy/dx = 1 or slope
 *   elu         y = x if x > 0 else alpha (e^x - 1)    dy/dx = 1 or y + alpha
 *   sigmoid     y = 1 / (1 + e^-x)                     dy/dx = y (1 - y)
 *   tanh        y = tanh x                             dy/dx = 1 - y^2
 *   softmax     y_k = e^(x_k) / sum_j e^(x_j) over the channels (dim 0) at each position,
 *               as PyTorch's softmax(dim=1); dx = y * (dy - sum_k dy_k y_k)
 *
 * Any input shape; the output has the input's shape. With the guided backpropagation rule
 * (cnn_ctx.guided) relu's backward passes dy only where x > 0 and dy > 0.
 */
#include "../core/internal.h"

#include <math.h>
#include <stddef.h>

enum { ACT_RELU, ACT_LEAKY, ACT_ELU, ACT_SIGMOID, ACT_TANH, ACT_SOFTMAX };

typedef struct act_params {
    int kind;
    float a; /* leaky_relu's slope, elu's alpha */
} act_params;

/* The element-wise loops carry "omp simd", which lets the compiler vectorise them
 * (the arrays do not overlap; the values are loaded before a select so that it becomes a
 * blend, not a branch that random signs would mispredict; a select with a multiplication in
 * one arm stays a branch, as GCC does not speculate an operation that may trap). Large tensors
 * are split over threads, which cannot change a bit: no element depends on another. Below
 * ACT_PARALLEL elements a parallel region costs more than it saves. */
#define ACT_PARALLEL (1 << 16)

/* Threads for an element-wise loop over len elements. */
static int act_threads(const cnn_ctx *c, ptrdiff_t len) {
    return len >= ACT_PARALLEL ? c->threads : 1;
}

/* Elements [begin, end) of relu's and leaky_relu's forward pass. */
static void act_forward_range(void *arg, long begin, long end, int worker) {
    const cnn_node *n = arg;
    const act_params *p = n->params;
    const float *restrict x = n->in[0]->y;
    float *restrict y = n->y;
    const float a = p->a;
    if (p->kind == ACT_RELU) { /* NaN stays NaN */
#pragma omp simd
        for (ptrdiff_t i = begin; i < end; i++) {
            float v = x[i];
            y[i] = v < 0.0f ? 0.0f : v;
        }
    } else {
#pragma omp simd
        for (ptrdiff_t i = begin; i < end; i++) {
            float v = x[i];
            y[i] = v > 0.0f ? v : a * v;
        }
    }
}

static void act_forward(cnn_node *n, const cnn_ctx *c) {
    const act_params *p = n->params;
    const float *restrict x = n->in[0]->y;
    float *restrict y = n->y;
    const float a = p->a;
    size_t total = (size_t)c->batch * cnn_node_numel(n);
    ptrdiff_t len = (ptrdiff_t)total;
    switch (p->kind) {
    case ACT_RELU:
    case ACT_LEAKY:
        cnn_parallel_for(c->workers, act_threads(c, len), len, act_forward_range, n);
        break;
    case ACT_ELU:
        for (size_t i = 0; i < total; i++) y[i] = x[i] > 0.0f ? x[i] : a * expm1f(x[i]);
        break;
    case ACT_SIGMOID:
        for (size_t i = 0; i < total; i++) y[i] = 1.0f / (1.0f + expf(-x[i]));
        break;
    case ACT_TANH:
        for (size_t i = 0; i < total; i++) y[i] = tanhf(x[i]);
        break;
    case ACT_SOFTMAX: {
        int K = n->shape.dim[0];
        size_t P = cnn_node_numel(n) / (size_t)K;
        for (size_t s = 0; s < (size_t)c->batch * P; s++) {
            size_t base = (s / P) * (size_t)K * P + s % P;
            float m = x[base];
            for (int k = 1; k < K; k++) m = fmaxf(m, x[base + k * P]);
            double sum = 0.0;
            for (int k = 0; k < K; k++) {
                float e = expf(x[base + k * P] - m);
                y[base + k * P] = e;
                sum += e;
            }
            float inv = (float)(1.0 / sum);
            for (int k = 0; k < K; k++) y[base + k * P] *= inv;
        }
        break;
    }
    }
}

/* dx = G, or dx += G when dx already holds part of this pass's gradient, for the element-wise
 * gradient expression G of d = dy[i] (loaded first, see above) and index i in [begin, end). */
#define ACT_GRAD(G)                                                                            \
    do {                                                                                       \
        if (fresh) {                                                                           \
            _Pragma("omp simd")                                                                \
            for (ptrdiff_t i = begin; i < end; i++) {                                          \
                float d = dy[i];                                                               \
                dx[i] = (G);                                                                   \
            }                                                                                  \
        } else {                                                                               \
            _Pragma("omp simd")                                                                \
            for (ptrdiff_t i = begin; i < end; i++) {                                          \
                float d = dy[i];                                                               \
                dx[i] += (G);                                                                  \
            }                                                                                  \
        }                                                                                      \
    } while (0)

typedef struct act_job {
    const cnn_node *n;
    int fresh;
} act_job;

/* Elements [begin, end) of the element-wise gradients (all kinds but softmax's and guided
 * relu's). */
static void act_backward_range(void *arg, long begin, long end, int worker) {
    const act_job *j = arg;
    const cnn_node *n = j->n;
    const act_params *p = n->params;
    const float *restrict x = n->in[0]->y, *restrict y = n->y, *restrict dy = n->dy;
    float *restrict dx = n->in[0]->dy;
    const float a = p->a;
    const int fresh = j->fresh;
    switch (p->kind) {
    case ACT_RELU: ACT_GRAD(x[i] > 0.0f ? d : 0.0f); break;
    case ACT_LEAKY: ACT_GRAD(x[i] > 0.0f ? d : a * d); break;
    case ACT_ELU: ACT_GRAD(x[i] > 0.0f ? d : (y[i] + a) * d); break;
    case ACT_SIGMOID: ACT_GRAD(d * y[i] * (1.0f - y[i])); break;
    case ACT_TANH: ACT_GRAD(d * (1.0f - y[i] * y[i])); break;
    }
}

static void act_backward(cnn_node *n, const cnn_ctx *c) {
    const act_params *p = n->params;
    const float *restrict x = n->in[0]->y, *restrict y = n->y, *restrict dy = n->dy;
    float *restrict dx = n->in[0]->dy;
    const int fresh = c->fresh & 1;
    size_t total = (size_t)c->batch * cnn_node_numel(n);
    ptrdiff_t len = (ptrdiff_t)total;
    switch (p->kind) {
    case ACT_RELU:
        if (c->guided) { /* guided backprop: only positive gradients, where x was positive */
            for (ptrdiff_t i = 0; i < len; i++) {
                float d = dy[i];
                dx[i] = (fresh ? 0.0f : dx[i]) + (x[i] > 0.0f && d > 0.0f ? d : 0.0f);
            }
            break;
        }
        /* fall through */
    case ACT_LEAKY:
    case ACT_ELU:
    case ACT_SIGMOID:
    case ACT_TANH: {
        act_job j = {n, fresh};
        cnn_parallel_for(c->workers, act_threads(c, len), len, act_backward_range, &j);
        break;
    }
    case ACT_SOFTMAX: {
        int K = n->shape.dim[0];
        size_t P = cnn_node_numel(n) / (size_t)K;
        for (size_t s = 0; s < (size_t)c->batch * P; s++) {
            size_t base = (s / P) * (size_t)K * P + s % P;
            double dot = 0.0;
            for (int k = 0; k < K; k++) dot += (double)dy[base + k * P] * y[base + k * P];
            for (int k = 0; k < K; k++) {
                size_t e = base + k * P;
                dx[e] = (fresh ? 0.0f : dx[e]) + y[e] * (dy[e] - (float)dot);
            }
        }
        break;
    }
    }
}

static cnn_status act_setup(cnn_node *n, int kind) {
    ((act_params *)n->params)->kind = kind;
    n->shape = n->in[0]->shape;
    return CNN_STATUS_OK;
}

static cnn_status relu_setup(cnn_net *net, cnn_node *n) { (void)net; return act_setup(n, ACT_RELU); }
static cnn_status leaky_setup(cnn_net *net, cnn_node *n) { (void)net; return act_setup(n, ACT_LEAKY); }
static cnn_status elu_setup(cnn_net *net, cnn_node *n) { (void)net; return act_setup(n, ACT_ELU); }
static cnn_status sigmoid_setup(cnn_net *net, cnn_node *n) { (void)net; return act_setup(n, ACT_SIGMOID); }
static cnn_status tanh_setup(cnn_net *net, cnn_node *n) { (void)net; return act_setup(n, ACT_TANH); }
static cnn_status softmax_setup(cnn_net *net, cnn_node *n) { (void)net; return act_setup(n, ACT_SOFTMAX); }

static const cnn_field no_fields[] = {{0}};
static const cnn_field leaky_fields[] = {
    {"slope", CNN_FIELD_FLOAT, offsetof(act_params, a), "0.01", NULL, "slope for x < 0"},
    {0},
};
static const cnn_field elu_fields[] = {
    {"alpha", CNN_FIELD_FLOAT, offsetof(act_params, a), "1", NULL, "alpha: the limit is -alpha"},
    {0},
};

/* What every activation type shares; each type differs by name, setup and fields. */
#define ACTIVATION_COMMON                                                                      \
    .params_size = sizeof(act_params), .min_inputs = 1, .max_inputs = 1,                      \
    .forward = act_forward, .backward = act_backward, .writes_fresh = 1

const cnn_layer_type cnn_layer_relu = {.name = "relu", .doc = "y = max(x, 0).",
                                       .fields = no_fields, .setup = relu_setup,
                                       .fused_act = "relu", ACTIVATION_COMMON};
const cnn_layer_type cnn_layer_leaky_relu = {.name = "leaky_relu",
                                             .doc = "y = x for x > 0, slope * x otherwise.",
                                             .fields = leaky_fields, .setup = leaky_setup,
                                             ACTIVATION_COMMON};
const cnn_layer_type cnn_layer_elu = {.name = "elu",
                                      .doc = "y = x for x > 0, alpha (exp(x) - 1) otherwise.",
                                      .fields = elu_fields, .setup = elu_setup,
                                      ACTIVATION_COMMON};
const cnn_layer_type cnn_layer_sigmoid = {.name = "sigmoid", .doc = "y = 1 / (1 + exp(-x)).",
                                          .fields = no_fields, .setup = sigmoid_setup,
                                          ACTIVATION_COMMON};
const cnn_layer_type cnn_layer_tanh = {.name = "tanh", .doc = "y = tanh(x).",
                                       .fields = no_fields, .setup = tanh_setup,
                                       ACTIVATION_COMMON};
const cnn_layer_type cnn_layer_softmax = {
    .name = "softmax",
    .doc = "Softmax over the channels at each position (PyTorch's softmax(dim=1)).",
    .fields = no_fields,
    .setup = softmax_setup,
    ACTIVATION_COMMON};

/*
 * add.c - element-wise sum (add) and mean (mean) of 2 to 8 inputs of the same shape: the sum
 * as residual connections use, the mean as an ensemble's output (cnn_net_ensemble).
 *
 *   x_0 .. x_{K-1} all (N, S) with S the sample shape:
 *   add:   y = x_0 + x_1 + ... + x_{K-1}             dx_k += dy
 *   mean:  y = (x_0 + x_1 + ... + x_{K-1}) / K       dx_k += dy / K
 *
 * The sum runs left to right, as PyTorch's a + b + c (and torch.stack(...).mean(0) sums, then
 * divides). An input may be given twice ("add x,x"): its gradient then receives dy twice.
 * add's act=relu applies max(y, 0) to the sum (NaN kept), as a relu layer after it would
 * (cnn_net_fuse sets it); the backward then passes dy where y > 0.
 */
#include "act_fused.h"

#include <string.h>

extern const cnn_layer_type cnn_layer_mean;

typedef struct add_params {
    int act;
} add_params;

static const cnn_field add_fields[] = {
    {"act", CNN_FIELD_ENUM, offsetof(add_params, act), "none", cnn_act_names,
     "activation applied to the sum in the layer (as a relu layer after it)"},
    {0},
};

static cnn_status add_setup(cnn_net *net, cnn_node *n) {
    const cnn_node *a = n->in[0];
    for (int k = 1; k < n->n_in; k++) {
        const cnn_node *b = n->in[k];
        if (!cnn_shape_same(&a->shape, &b->shape)) {
            char sa[64], sb[64];
            return cnn_node_error(net, n, CNN_STATUS_SHAPE,
                                  "cannot %s '%s' %s and '%s' %s: the shapes differ",
                                  n->type == &cnn_layer_mean ? "average" : "add", a->name,
                                  cnn_shape_str(&a->shape, sa, sizeof sa), b->name,
                                  cnn_shape_str(&b->shape, sb, sizeof sb));
        }
    }
    n->shape = a->shape;
    return CNN_STATUS_OK;
}

/* Elements [begin, end) of the forward pass. */
static void add_forward_range(void *arg, long begin, long end, int worker) {
    const cnn_node *n = arg;
    const add_params *p = n->params;
    int K = n->n_in;
    float *y = n->y;
    const float *x[CNN_MAX_INPUTS];
    for (int k = 0; k < K; k++) x[k] = n->in[k]->y;
    /* One loop per case, the common one (two inputs, as residual connections have) written so
     * that it vectorises: a test of p->act inside the general loop made the sums 40% slower,
     * and the relu in it twice as slow again as a relu layer after them. */
    if (K == 2) {
        const float *restrict a = x[0], *restrict b = x[1];
        float *restrict out = y;
        if (p->act == CNN_ACT_RELU) {
#pragma omp simd
            for (ptrdiff_t i = begin; i < end; i++) {
                float s = a[i] + b[i];
                out[i] = s < 0.0f ? 0.0f : s;
            }
        } else {
#pragma omp simd
            for (ptrdiff_t i = begin; i < end; i++) out[i] = a[i] + b[i];
        }
        return;
    }
    for (ptrdiff_t i = begin; i < end; i++) {
        float s = x[0][i];
        for (int k = 1; k < K; k++) s += x[k][i];
        y[i] = p->act == CNN_ACT_RELU && s < 0.0f ? 0.0f : s;
    }
}

/* With act=relu, the output gradient where the sum was positive. */
static size_t add_saved_bytes(const cnn_node *n, int batch) {
    const add_params *p = n->params;
    return cnn_act_saved_bytes(p->act, batch, cnn_node_numel(n));
}

static void add_forward(cnn_node *n, const cnn_ctx *c) {
    cnn_parallel_for(c->workers, c->threads, (long)((size_t)c->batch * cnn_node_numel(n)),
                     add_forward_range, n);
}

/* One input's gradient pass: add's and mean's (k, the mean's inputs; add ignores it). */
typedef struct add_job {
    const float *dy;
    float *d;
    int fresh;
    float k;
} add_job;

/* Elements [begin, end) of one input's gradient: d = dy, or d += dy. */
static void add_backward_range(void *arg, long begin, long end, int worker) {
    const add_job *j = arg;
    const float *restrict dy = j->dy;
    float *restrict d = j->d;
    if (j->fresh) {
#pragma omp simd
        for (ptrdiff_t i = begin; i < end; i++) d[i] = dy[i];
    } else {
#pragma omp simd
        for (ptrdiff_t i = begin; i < end; i++) d[i] += dy[i];
    }
}

static void add_backward(cnn_node *n, const cnn_ctx *c) {
    const add_params *p = n->params;
    ptrdiff_t total = (ptrdiff_t)((size_t)c->batch * cnn_node_numel(n));
    int K = n->n_in;
    const float *dy = n->dy;
    if (p->act == CNN_ACT_RELU) {
        cnn_relu_mask(c, n->y, n->dy, n->saved, (size_t)total);
        dy = n->saved;
    }
    float *dx[CNN_MAX_INPUTS];
    for (int k = 0; k < K; k++) dx[k] = n->in[k]->dy;
    /* One input after another (a barrier between them), so that an input given twice is
     * written at its first place (fresh) and added to at the second. */
    for (int k = 0; k < K; k++) {
        add_job j = {dy, dx[k], c->fresh >> k & 1, 1.0f};
        cnn_parallel_for(c->workers, c->threads, total, add_backward_range, &j);
    }
}

/* cnn_net_fuse: a relu after the sum is applied by the layer; a per-channel map is not. */
static int add_fold(const cnn_node *n, const float *w, const double *scale, const double *shift,
                    const char *act, char *args, size_t args_size, float *params) {
    const add_params *p = n->params;
    (void)w, (void)params;
    if (scale || shift || p->act != CNN_ACT_NONE || !act || cnn_act_of(act) < 0) return -1;
    add_params q = {cnn_act_of(act)};
    cnn_fields_print(add_fields, &q, args, args_size, 0);
    return 0;
}

const cnn_layer_type cnn_layer_add = {
    .name = "add",
    .doc = "Element-wise sum of 2 to 8 inputs of the same shape (residual connections).",
    .params_size = sizeof(add_params),
    .fields = add_fields,
    .min_inputs = 2,
    .max_inputs = CNN_MAX_INPUTS,
    .setup = add_setup,
    .forward = add_forward,
    .backward = add_backward,
    .saved_bytes = add_saved_bytes,
    .writes_fresh = 1,
    .fold = add_fold,
};

/* ---------------------------------------------------------------------------------------------
 * mean
 * ------------------------------------------------------------------------------------------- */

static const cnn_field mean_fields[] = {{0}};

/* Elements [begin, end) of the mean's forward pass: the sum left to right, divided by K. */
static void mean_forward_range(void *arg, long begin, long end, int worker) {
    const cnn_node *n = arg;
    int K = n->n_in;
    float k = (float)K, *y = n->y;
    const float *x[CNN_MAX_INPUTS];
    for (int i = 0; i < K; i++) x[i] = n->in[i]->y;
    for (ptrdiff_t i = begin; i < end; i++) {
        float s = x[0][i];
        for (int j = 1; j < K; j++) s += x[j][i];
        y[i] = s / k;
    }
}

static void mean_forward(cnn_node *n, const cnn_ctx *c) {
    cnn_parallel_for(c->workers, c->threads, (long)((size_t)c->batch * cnn_node_numel(n)),
                     mean_forward_range, n);
}

/* Elements [begin, end) of one input's gradient: d = dy / K, or d += dy / K. */
static void mean_backward_range(void *arg, long begin, long end, int worker) {
    const add_job *j = arg;
    const float *restrict dy = j->dy;
    float *restrict d = j->d;
    float k = j->k;
    if (j->fresh) {
#pragma omp simd
        for (ptrdiff_t i = begin; i < end; i++) d[i] = dy[i] / k;
    } else {
#pragma omp simd
        for (ptrdiff_t i = begin; i < end; i++) d[i] += dy[i] / k;
    }
}

static void mean_backward(cnn_node *n, const cnn_ctx *c) {
    ptrdiff_t total = (ptrdiff_t)((size_t)c->batch * cnn_node_numel(n));
    /* One input after another, as add's: an input given twice is written, then added to. */
    for (int k = 0; k < n->n_in; k++) {
        add_job j = {n->dy, n->in[k]->dy, c->fresh >> k & 1, (float)n->n_in};
        cnn_parallel_for(c->workers, c->threads, total, mean_backward_range, &j);
    }
}

const cnn_layer_type cnn_layer_mean = {
    .name = "mean",
    .doc = "Element-wise mean of 2 to 8 inputs of the same shape (an ensemble's scores: "
           "cnn_net_ensemble); ONNX's Mean.",
    .fields = mean_fields,
    .min_inputs = 2,
    .max_inputs = CNN_MAX_INPUTS,
    .setup = add_setup,
    .forward = mean_forward,
    .backward = mean_backward,
    .writes_fresh = 1,
};

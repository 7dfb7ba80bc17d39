/*
 * train.c - the pieces of a training loop: permutations, batch assembly (samples read as
 * floats through cnn_dataset_sample, whichever the data set's storage), learning-rate
 * schedules, gradient clipping and finding where a NaN came from.
 */
#include "../core/internal.h"

#include <math.h>
#include <string.h>

void cnn_permutation(int n, uint64_t seed, int32_t *out) {
    cnn_rng rng;
    cnn_rng_seed(&rng, seed);
    for (int i = 0; i < n; i++) out[i] = i;
    for (int i = n - 1; i > 0; i--) {
        int j = (int)cnn_rng_below(&rng, (uint32_t)i + 1);
        int32_t t = out[i];
        out[i] = out[j];
        out[j] = t;
    }
}

void cnn_dataset_batch(const cnn_dataset *ds, const int32_t *indices, int count,
                       const cnn_augment *aug, uint64_t seed, const float *mean,
                       const float *std, float *x, int32_t *y, float *scratch) {
    size_t numel = cnn_shape_numel(&ds->shape);
    int C = ds->shape.dim[0];
    /* The normalisation a network's preprocessing applies, with these statistics. */
    cnn_preprocess norm = {.channels = C, .mean = mean && std ? mean : NULL,
                           .std = mean && std ? std : NULL};
    for (int i = 0; i < count; i++) {
        int idx = indices[i];
        CNN_ASSERT(idx >= 0 && idx < ds->n);
        float *dst = x + (size_t)i * numel;
        cnn_dataset_sample(ds, idx, dst);
        if (aug)
            cnn_augment_image(aug, dst, C, ds->shape.dim[1], ds->shape.dim[2],
                              cnn_seed_mix(seed, (uint64_t)idx), scratch);
        cnn_prep_apply(&norm, &ds->shape, dst, 1, scratch);
        /* A set without labels (segmentation, regression) gives -1, which no loss accepts,
         * rather than reading through NULL. */
        if (y) y[i] = ds->y ? ds->y[idx] : -1;
    }
}

static const char *const SCHEDULE_NAMES[] = {"constant", "step", "cosine", "linear"};

const char *cnn_schedule_name(cnn_schedule_kind kind) {
    return (unsigned)kind < sizeof SCHEDULE_NAMES / sizeof *SCHEDULE_NAMES ? SCHEDULE_NAMES[kind]
                                                                           : "?";
}

int cnn_schedule_parse(const char *name) {
    for (size_t k = 0; name && k < sizeof SCHEDULE_NAMES / sizeof *SCHEDULE_NAMES; k++)
        if (!strcmp(name, SCHEDULE_NAMES[k])) return (int)k;
    return -1;
}

float cnn_schedule_lr(const cnn_schedule *s, float base_lr, int64_t step) {
    if (s->warmup_steps > 0 && step < s->warmup_steps)
        return base_lr * (float)(step + 1) / (float)s->warmup_steps;
    int64_t t = step - (s->warmup_steps > 0 ? s->warmup_steps : 0);
    switch (s->kind) {
    case CNN_SCHEDULE_STEP:
        return s->step_size > 0 ? base_lr * powf(s->gamma, (float)(t / s->step_size)) : base_lr;
    case CNN_SCHEDULE_COSINE: {
        int64_t span = s->total_steps - (s->warmup_steps > 0 ? s->warmup_steps : 0);
        if (span <= 0 || t >= span) return s->min_lr;
        double c = 0.5 * (1.0 + cos(3.141592653589793 * (double)t / (double)span));
        return (float)(s->min_lr + (base_lr - s->min_lr) * c);
    }
    case CNN_SCHEDULE_LINEAR: {
        int64_t span = s->total_steps - (s->warmup_steps > 0 ? s->warmup_steps : 0);
        if (span <= 0 || t >= span) return s->min_lr;
        double f = 1.0 - (double)t / (double)span;
        return (float)(s->min_lr + (base_lr - s->min_lr) * f);
    }
    case CNN_SCHEDULE_CONSTANT: break;
    }
    return base_lr;
}

/* Eight running sums of squares (element i goes to sum i mod 8): independent chains of
 * additions, the same bits on any machine and thread count, and a vector's lanes (the trainer
 * calls this every step: 27 us for LeNet-5's 61,706 gradients as a scalar loop). */
enum { NORM_LANES = 8 };
static inline CNN_BODY void square_sums_body(const float *restrict g, size_t n, double *part) {
    double p[NORM_LANES] = {0};
    size_t i = 0;
    for (; i + NORM_LANES <= n; i += NORM_LANES)
#pragma omp simd
        for (int k = 0; k < NORM_LANES; k++) p[k] += (double)g[i + k] * g[i + k];
    for (; i < n; i++) p[i % NORM_LANES] += (double)g[i] * g[i];
    memcpy(part, p, sizeof p);
}
CNN_DISPATCH(square_sums, (const float *restrict g, size_t n, double *part), (g, n, part))

float cnn_net_clip_grad_norm(cnn_net *net, float max_norm) {
    double part[NORM_LANES];
    square_sums(net->grads, net->n_params, part);
    double sq = ((part[0] + part[1]) + (part[2] + part[3])) + ((part[4] + part[5]) + (part[6] + part[7]));
    float norm = (float)sqrt(sq);
    /* PyTorch's rule: scale by max_norm / (norm + 1e-6) when that is below 1. */
    float coef = max_norm / (norm + 1e-6f);
    if (coef < 1.0f)
        for (size_t j = 0; j < net->n_params; j++) net->grads[j] *= coef;
    return norm;
}

/* The first non-finite value of n samples of a tensor: its sample, or -1. */
static int first_bad(const float *v, size_t numel, int batch, const char **what) {
    for (size_t i = 0; i < numel * (size_t)batch; i++)
        if (!isfinite(v[i])) {
            *what = isnan(v[i]) ? "NaN" : "an infinity";
            return (int)(i / numel);
        }
    return -1;
}

int cnn_net_find_nonfinite(const cnn_net *net, char *msg, size_t size) {
    if (!net->forward_done) return 0;
    const char *what;
    for (int i = 0; i < net->n_nodes; i++) {
        const cnn_node *n = net->nodes[i];
        int s = first_bad(n->y, cnn_node_numel(n), net->batch, &what);
        if (s >= 0) {
            snprintf(msg, size, "layer '%s' (%s): output holds %s at sample %d", n->name,
                     n->type->name, what, s);
            return 1;
        }
    }
    for (int i = net->output; i >= 0; i--) {
        const cnn_node *n = net->nodes[i];
        int s = first_bad(n->dy, cnn_node_numel(n), net->batch, &what);
        if (s >= 0) {
            snprintf(msg, size, "layer '%s' (%s): gradient holds %s at sample %d", n->name,
                     n->type->name, what, s);
            return 1;
        }
    }
    for (int i = 0; i < net->n_nodes; i++) {
        const cnn_node *n = net->nodes[i];
        for (size_t k = 0; k < n->n_params; k++)
            if (!isfinite(net->params[n->param_off + k]) || !isfinite(net->grads[n->param_off + k])) {
                snprintf(msg, size, "layer '%s' (%s): a parameter or its gradient is not finite",
                         n->name, n->type->name);
                return 1;
            }
    }
    return 0;
}

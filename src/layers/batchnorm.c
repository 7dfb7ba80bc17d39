/*
 * batchnorm.c - batch normalisation over the channels, PyTorch's nn.BatchNorm1d (inputs (C) or
 * (C, L)) and nn.BatchNorm2d (inputs (C, H, W)).
 *
 *   x (N, C, P) with P the positions of one channel (1, L or H*W), M = N*P values per channel.
 *   Training (batch statistics):
 *     mean_c = sum x / M,   var_c = sum (x - mean_c)^2 / M                      (biased)
 *     x_hat = (x - mean_c) / sqrt(var_c + eps),   y = gamma_c x_hat + beta_c     y (N, C, P)
 *     running_mean = (1 - momentum) running_mean + momentum mean_c
 *     running_var  = (1 - momentum) running_var  + momentum var_c M / (M - 1)   (unbiased)
 *     dx += gamma_c inv_std / M (M dy - sum dy - x_hat sum(dy x_hat))
 *   Evaluation (running statistics):
 *     x_hat = (x - running_mean) / sqrt(running_var + eps),   y = gamma_c x_hat + beta_c
 *     dx += dy gamma_c / sqrt(running_var + eps)
 *   Both: dgamma += sum dy x_hat,   dbeta += sum dy   (sums over N and P).
 *
 * Parameters (affine=1): gamma (C), beta (C), PyTorch's weight and bias. State: running_mean (C),
 * running_var (C). The batch mean and biased variance of the last training pass are kept for
 * cnn_net_batchnorm_stats.
 * Synchronised (a data-parallel run with sync_bn, c->sync): the sums of a channel over the
 * batch are summed over the ranks too, so the statistics and the two backward sums are those
 * of the global batch of M x ranks values (PyTorch's SyncBatchNorm); the parameter gradients
 * stay this rank's, as the trainer averages gradients over the ranks.
 *
 * Statistics are accumulated in double, each sum in LANES running sums (value k of a plane to
 * sum k mod LANES) added in a fixed order at the end: independent chains that vectorise, the
 * same bits on any machine. Channels are independent, so they are spread over the threads;
 * each channel's sums are done by one thread.
 */
#include "../core/internal.h"

#include <math.h>

typedef struct bn_params {
    float eps;
    float momentum;
    int affine;
} bn_params;

/* What forward leaves for backward: which statistics it used (the mode may change between
 * forward and backward), and per channel the mean and 1/sqrt(var + eps) it normalised with.
 * Also, for cnn_net_batchnorm_stats, the batch mean and biased variance of the last forward
 * pass in training mode (has_batch: there was one since prepare, which zeroes this). */
typedef struct bn_saved {
    int batch_stats;
    int has_batch;
    /* mean (C), inv_std (C), then batch mean (C), batch variance (C), then the sums over the
     * ranks' batches of a synchronised pass (2 C) */
    double stat[];
} bn_saved;

static const cnn_field bn_fields[] = {
    {"eps", CNN_FIELD_FLOAT, offsetof(bn_params, eps), "1e-5", NULL,
     "added to the variance before the square root; must be positive"},
    {"momentum", CNN_FIELD_FLOAT, offsetof(bn_params, momentum), "0.1", NULL,
     "weight of the batch statistics in the running averages, in [0, 1]"},
    {"affine", CNN_FIELD_BOOL, offsetof(bn_params, affine), "1", NULL,
     "learn a scale gamma and a shift beta per channel"},
    {0},
};

static cnn_status bn_setup(cnn_net *net, cnn_node *n) {
    const bn_params *p = n->params;
    const cnn_shape *in = &n->in[0]->shape;
    char sh[64];
    if (in->rank < 1 || in->rank > 3)
        return cnn_node_error(net, n, CNN_STATUS_SHAPE,
                              "needs an input (C), (C, L) or (C, H, W), got %s from '%s'",
                              cnn_shape_str(in, sh, sizeof sh), n->in[0]->name);
    /* eps = 0 would turn every constant channel (a dead ReLU, zero padding) into NaN. */
    if (!(p->eps > 0.0f) || !isfinite(p->eps))
        return cnn_node_error(net, n, CNN_STATUS_INVALID_ARGUMENT,
                              "eps must be a positive number, got %g", (double)p->eps);
    if (!(p->momentum >= 0.0f && p->momentum <= 1.0f))
        return cnn_node_error(net, n, CNN_STATUS_INVALID_ARGUMENT,
                              "momentum must be in [0, 1], got %g", (double)p->momentum);
    size_t C = (size_t)in->dim[0];
    n->shape = *in;
    n->n_params = p->affine ? 2 * C : 0;
    n->n_state = 2 * C;
    return CNN_STATUS_OK;
}

static void bn_init(cnn_node *n, float *w, float *s, cnn_rng *rng) {
    (void)rng;
    const bn_params *p = n->params;
    int C = n->shape.dim[0];
    for (int ch = 0; ch < C; ch++) {
        if (p->affine) {
            w[ch] = 1.0f;
            w[C + ch] = 0.0f;
        }
        s[ch] = 0.0f;
        s[C + ch] = 1.0f;
    }
}

static size_t bn_saved_bytes(const cnn_node *n, int batch) {
    (void)batch;
    return sizeof(bn_saved) + 6 * (size_t)n->shape.dim[0] * sizeof(double);
}

#define LANES 8

static double lanes_total(const double *s) {
    return ((s[0] + s[1]) + (s[2] + s[3])) + ((s[4] + s[5]) + (s[6] + s[7]));
}

/* Adds x[k] (f = 0) or (x[k] - mean)^2 (f = 1) to s[k mod LANES], k < P. */
static inline void lanes_add(const float *restrict x, size_t P, double mean, int f,
                             double *restrict s) {
    size_t k = 0;
    for (; k + LANES <= P; k += LANES)
        for (int l = 0; l < LANES; l++) {
            double d = x[k + l] - (f ? mean : 0.0);
            s[l] += f ? d * d : d;
        }
    for (; k < P; k++) {
        double d = x[k] - (f ? mean : 0.0);
        s[k % LANES] += f ? d * d : d;
    }
}

/* One channel's planes: x and y (N planes of P, `stride` floats apart). */
typedef struct bn_channel {
    const float *x, *dy;
    float *y, *dx;
    int N;
    size_t P, stride;
} bn_channel;

/* The channel's batch mean and sum of squared deviations. */
static inline CNN_BODY void channel_stats_body(const bn_channel *ch, double *mean, double *dev) {
    double sum[LANES] = {0}, ss[LANES] = {0};
    for (int i = 0; i < ch->N; i++) lanes_add(ch->x + (size_t)i * ch->stride, ch->P, 0.0, 0, sum);
    *mean = lanes_total(sum) / ((double)ch->N * ch->P);
    /* Two passes: the squared deviations do not cancel as sum x^2 - M mean^2 would. */
    for (int i = 0; i < ch->N; i++) lanes_add(ch->x + (size_t)i * ch->stride, ch->P, *mean, 1, ss);
    *dev = lanes_total(ss);
}
CNN_DISPATCH(channel_stats, (const bn_channel *ch, double *mean, double *dev), (ch, mean, dev))

/* y = g (x - mean) inv_std + b over the channel. */
static inline CNN_BODY void channel_normalise_body(const bn_channel *ch, double mean,
                                                   double inv_std, float g, float b) {
    for (int i = 0; i < ch->N; i++) {
        const float *restrict xc = ch->x + (size_t)i * ch->stride;
        float *restrict yc = ch->y + (size_t)i * ch->stride;
#pragma omp simd
        for (size_t k = 0; k < ch->P; k++) yc[k] = g * (float)((xc[k] - mean) * inv_std) + b;
    }
}
CNN_DISPATCH(channel_normalise,
             (const bn_channel *ch, double mean, double inv_std, float g, float b),
             (ch, mean, inv_std, g, b))

/* The channel's sums of dy and of dy x_hat. */
static inline CNN_BODY void channel_grad_sums_body(const bn_channel *ch, double mean,
                                                   double inv_std, double *sdy, double *sdyx) {
    double a[LANES] = {0}, b[LANES] = {0};
    for (int i = 0; i < ch->N; i++) {
        const float *restrict xc = ch->x + (size_t)i * ch->stride;
        const float *restrict dc = ch->dy + (size_t)i * ch->stride;
        size_t k = 0;
        for (; k + LANES <= ch->P; k += LANES)
            for (int l = 0; l < LANES; l++) {
                double xh = (xc[k + l] - mean) * inv_std;
                a[l] += dc[k + l];
                b[l] += dc[k + l] * xh;
            }
        for (; k < ch->P; k++) {
            double xh = (xc[k] - mean) * inv_std;
            a[k % LANES] += dc[k];
            b[k % LANES] += dc[k] * xh;
        }
    }
    *sdy = lanes_total(a);
    *sdyx = lanes_total(b);
}
CNN_DISPATCH(channel_grad_sums,
             (const bn_channel *ch, double mean, double inv_std, double *sdy, double *sdyx),
             (ch, mean, inv_std, sdy, sdyx))

/* dx (=, when fresh, or +=) the channel's input gradient: with batch statistics
 * k0 (M dy - sdy - x_hat sdyx), k0 = g inv_std / M (the batch mean and variance depend on every
 * x of the channel: the two sums carry that dependence back); with running ones dy g inv_std. */
static inline CNN_BODY void channel_dx_body(const bn_channel *ch, int batch_stats, int fresh,
                                            int ranks, double mean, double inv_std, double g,
                                            double sdy, double sdyx) {
    double M = (double)ch->N * ch->P * ranks, k0 = g * inv_std / M;
    float scale = (float)(g * inv_std);
    for (int i = 0; i < ch->N; i++) {
        const float *restrict xc = ch->x + (size_t)i * ch->stride;
        const float *restrict dc = ch->dy + (size_t)i * ch->stride;
        float *restrict dxc = ch->dx + (size_t)i * ch->stride;
        /* One loop per case: a select on fresh inside would keep them scalar. */
        if (batch_stats && fresh) {
#pragma omp simd
            for (size_t k = 0; k < ch->P; k++)
                dxc[k] = (float)(k0 * (M * dc[k] - sdy - (xc[k] - mean) * inv_std * sdyx));
        } else if (batch_stats) {
#pragma omp simd
            for (size_t k = 0; k < ch->P; k++)
                dxc[k] += (float)(k0 * (M * dc[k] - sdy - (xc[k] - mean) * inv_std * sdyx));
        } else if (fresh) {
#pragma omp simd
            for (size_t k = 0; k < ch->P; k++) dxc[k] = dc[k] * scale;
        } else {
#pragma omp simd
            for (size_t k = 0; k < ch->P; k++) dxc[k] += dc[k] * scale;
        }
    }
}
CNN_DISPATCH(channel_dx,
             (const bn_channel *ch, int batch_stats, int fresh, int ranks, double mean, double
              inv_std, double g, double sdy, double sdyx),
             (ch, batch_stats, fresh, ranks, mean, inv_std, g, sdy, sdyx))

static bn_channel channel_of(const cnn_node *n, int N, int ch) {
    int C = n->shape.dim[0];
    size_t P = cnn_node_numel(n) / (size_t)C, off = (size_t)ch * P;
    bn_channel c = {.x = n->in[0]->y + off, .dy = n->dy + off, .y = n->y + off,
                    .dx = n->in[0]->dy + off, .N = N, .P = P, .stride = (size_t)C * P};
    return c;
}

/* A pass over channels [begin, end): phase ALL does a whole channel with this batch's
 * statistics; a synchronised pass does SUM (the channel's sum into sums[ch]), then DEV (its sum
 * of squared deviations from the global mean into sums[C + ch]), then NORMALISE, the sums over
 * the ranks taken between the phases. Backward: ALL, or SUM (dy and dy x_hat) then DX. */
enum { PHASE_ALL, PHASE_SUM, PHASE_DEV, PHASE_NORMALISE, PHASE_DX };

typedef struct bn_job {
    cnn_node *n;
    int N, training, fresh, phase, ranks;
} bn_job;

/* The running statistics updated from a batch's mean and sum of squared deviations over M
 * values, and the statistics saved; returns inv_std. */
static double batch_statistics(cnn_node *n, int ch, double mean, double dev, double M) {
    const bn_params *p = n->params;
    int C = n->shape.dim[0];
    float *rm = n->s, *rv = n->s + C;
    bn_saved *sv = n->saved;
    double m = p->momentum, var = dev / M;
    /* PyTorch updates the running variance with the unbiased variance, and raises an error in
     * training when a channel has a single value (M = 1), where that divides by zero. Here the
     * biased variance (0) is used for M = 1 instead, so the running variance stays finite. */
    double unbiased = M > 1 ? dev / (M - 1) : var;
    rm[ch] = (float)((1.0 - m) * rm[ch] + m * mean);
    rv[ch] = (float)((1.0 - m) * rv[ch] + m * unbiased);
    sv->stat[2 * C + ch] = mean;
    sv->stat[3 * C + ch] = var;
    return 1.0 / sqrt(var + p->eps);
}

/* Channels [begin, end) of the forward pass. */
static void bn_forward_range(void *arg, long begin, long end, int worker) {
    const bn_job *j = arg;
    cnn_node *n = j->n;
    const bn_params *p = n->params;
    int C = n->shape.dim[0], N = j->N;
    double M = (double)N * (double)(cnn_node_numel(n) / (size_t)C) * j->ranks;
    bn_saved *sv = n->saved;
    double *sums = sv->stat + 4 * C;
    for (int ch = (int)begin; ch < (int)end; ch++) {
        bn_channel cc = channel_of(n, N, ch);
        double mean, inv_std;
        if (j->phase == PHASE_SUM) {
            double s[LANES] = {0};
            for (int i = 0; i < N; i++) lanes_add(cc.x + (size_t)i * cc.stride, cc.P, 0.0, 0, s);
            sums[ch] = lanes_total(s);
            continue;
        }
        if (j->phase == PHASE_DEV) {
            double s[LANES] = {0};
            for (int i = 0; i < N; i++)
                lanes_add(cc.x + (size_t)i * cc.stride, cc.P, sums[ch] / M, 1, s);
            sums[C + ch] = lanes_total(s);
            continue;
        }
        if (j->phase == PHASE_NORMALISE) {
            mean = sums[ch] / M;
            inv_std = batch_statistics(n, ch, mean, sums[C + ch], M);
        } else if (j->training) {
            double dev;
            channel_stats(&cc, &mean, &dev);
            inv_std = batch_statistics(n, ch, mean, dev, M);
        } else {
            mean = n->s[ch];
            inv_std = 1.0 / sqrt((double)n->s[C + ch] + p->eps);
        }
        sv->stat[ch] = mean;
        sv->stat[C + ch] = inv_std;
        channel_normalise(&cc, mean, inv_std, p->affine ? n->w[ch] : 1.0f,
                          p->affine ? n->w[C + ch] : 0.0f);
    }
}

/* The evaluation-mode map per channel, as bn_forward_range computes it (cnn_net_fuse). */
static void bn_affine(const cnn_node *n, const float *w, const float *s, double *scale,
                      double *shift) {
    const bn_params *p = n->params;
    int C = n->shape.dim[0];
    for (int ch = 0; ch < C; ch++) {
        double inv_std = 1.0 / sqrt((double)s[C + ch] + p->eps);
        double g = p->affine ? w[ch] : 1.0, b = p->affine ? w[C + ch] : 0.0;
        scale[ch] = g * inv_std;
        shift[ch] = b - g * inv_std * s[ch];
    }
}

static void bn_forward(cnn_node *n, const cnn_ctx *c) {
    bn_saved *sv = n->saved;
    int C = n->shape.dim[0];
    sv->batch_stats = c->training;
    bn_job j = {n, c->batch, c->training, 0, PHASE_ALL, 1};
    if (c->training && c->sync) {
        j.ranks = c->sync->ranks;
        double *sums = sv->stat + 4 * C;
        j.phase = PHASE_SUM;
        cnn_parallel_for(c->workers, c->threads, C, bn_forward_range, &j);
        cnn_batch_sync_sum(c->sync, sums, (size_t)C);
        j.phase = PHASE_DEV;
        cnn_parallel_for(c->workers, c->threads, C, bn_forward_range, &j);
        cnn_batch_sync_sum(c->sync, sums + C, (size_t)C);
        j.phase = PHASE_NORMALISE;
    }
    cnn_parallel_for(c->workers, c->threads, C, bn_forward_range, &j);
    if (c->training) sv->has_batch = 1;
}

/* Channels [begin, end) of the backward pass. */
static void bn_backward_range(void *arg, long begin, long end, int worker) {
    const bn_job *j = arg;
    cnn_node *n = j->n;
    const bn_params *p = n->params;
    int C = n->shape.dim[0], N = j->N;
    bn_saved *sv = n->saved;
    double *sums = sv->stat + 4 * C;
    int batch_stats = sv->batch_stats, fresh = j->fresh;
    for (int ch = (int)begin; ch < (int)end; ch++) {
        bn_channel cc = channel_of(n, N, ch);
        double mean = sv->stat[ch], inv_std = sv->stat[C + ch], sdy, sdyx;
        if (j->phase != PHASE_DX) {
            channel_grad_sums(&cc, mean, inv_std, &sdy, &sdyx);
            if (p->affine) {
                n->dw[ch] += (float)sdyx;
                n->dw[C + ch] += (float)sdy;
            }
        }
        if (j->phase == PHASE_SUM) {
            sums[ch] = sdy;
            sums[C + ch] = sdyx;
            continue;
        }
        if (j->phase == PHASE_DX) {
            sdy = sums[ch];
            sdyx = sums[C + ch];
        }
        channel_dx(&cc, batch_stats, fresh, j->ranks, mean, inv_std, p->affine ? n->w[ch] : 1.0,
                   sdy, sdyx);
    }
}

static void bn_backward(cnn_node *n, const cnn_ctx *c) {
    bn_job j = {n, c->batch, c->training, c->fresh & 1, PHASE_ALL, 1};
    bn_saved *sv = n->saved;
    int C = n->shape.dim[0];
    if (c->sync && sv->batch_stats) {
        j.ranks = c->sync->ranks;
        j.phase = PHASE_SUM;
        cnn_parallel_for(c->workers, c->threads, C, bn_backward_range, &j);
        cnn_batch_sync_sum(c->sync, sv->stat + 4 * C, 2 * (size_t)C);
        j.phase = PHASE_DX;
    }
    cnn_parallel_for(c->workers, c->threads, C, bn_backward_range, &j);
}

/* PyTorch's names and shapes: weight (gamma) and bias (beta) when affine, then the buffers. */
static int bn_tensors(const cnn_node *n, cnn_param_tensor *t) {
    const bn_params *p = n->params;
    int C = n->shape.dim[0], k = 0;
    if (p->affine) {
        t[k++] = (cnn_param_tensor){.name = "weight", .role = CNN_PARAM_TRAINABLE, .rank = 1,
                                    .dims = {C}};
        t[k++] = (cnn_param_tensor){.name = "bias", .role = CNN_PARAM_TRAINABLE, .rank = 1,
                                    .dims = {C}};
    }
    t[k++] = (cnn_param_tensor){.name = "running_mean", .role = CNN_PARAM_STATE, .rank = 1,
                                .dims = {C}};
    t[k++] = (cnn_param_tensor){.name = "running_var", .role = CNN_PARAM_STATE, .rank = 1,
                                .dims = {C}};
    return k;
}

extern const cnn_layer_type cnn_layer_batchnorm;

cnn_status cnn_net_batchnorm_stats(cnn_net *net, int layer, float *mean, float *var) {
    if (layer < 0 || layer >= cnn_net_layer_count(net))
        return cnn_error(net, CNN_STATUS_INVALID_ARGUMENT, "batch statistics: no layer %d",
                         layer);
    const cnn_node *n = net->nodes[layer];
    if (n->type != &cnn_layer_batchnorm)
        return cnn_error(net, CNN_STATUS_INVALID_ARGUMENT,
                         "batch statistics: layer '%s' is %s, not batchnorm", n->name,
                         n->type->name);
    /* saved lives in the arena of the last successful prepare (max_batch > 0). */
    const bn_saved *sv = net->max_batch ? n->saved : NULL;
    if (!sv || !sv->has_batch)
        return cnn_node_error(net, n, CNN_STATUS_STATE,
                              "no batch statistics: no forward pass in training mode since "
                              "the network was prepared");
    int C = n->shape.dim[0];
    for (int ch = 0; ch < C; ch++) {
        if (mean) mean[ch] = (float)sv->stat[2 * C + ch];
        if (var) var[ch] = (float)sv->stat[3 * C + ch];
    }
    return CNN_STATUS_OK;
}

const cnn_layer_type cnn_layer_batchnorm = {
    .name = "batchnorm",
    .doc = "Batch normalisation over the channels (PyTorch's BatchNorm1d for (C) and (C, L), "
           "BatchNorm2d for (C, H, W)): batch statistics in training, updating the running "
           "mean and variance; the running statistics in evaluation.",
    .params_size = sizeof(bn_params),
    .fields = bn_fields,
    .min_inputs = 1,
    .max_inputs = 1,
    .setup = bn_setup,
    .init = bn_init,
    .saved_bytes = bn_saved_bytes,
    .forward = bn_forward,
    .affine = bn_affine,
    .backward = bn_backward,
    .writes_fresh = 1,
    .tensors = bn_tensors,
    .whole_batch = 1,
};

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
 * Parameters (affine=1): gamma (C), beta (C). State: running_mean (C), running_var (C).
 * Statistics are accumulated in double. Channels are independent, so they are spread over the
 * threads; each channel's sums are done by one thread in a fixed order.
 */
#include "../core/internal.h"

#include <math.h>

typedef struct bn_params {
    float eps;
    float momentum;
    int affine;
} bn_params;

/* What forward leaves for backward: which statistics it used (the mode may change between
 * forward and backward), and per channel the mean and 1/sqrt(var + eps) it normalised with. */
typedef struct bn_saved {
    int batch_stats;
    double stat[]; /* mean (C), then inv_std (C) */
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
    return sizeof(bn_saved) + 2 * (size_t)n->shape.dim[0] * sizeof(double);
}

static void bn_forward(cnn_node *n, const cnn_ctx *c) {
    const bn_params *p = n->params;
    int C = n->shape.dim[0], N = c->batch;
    size_t P = cnn_node_numel(n) / (size_t)C, M = (size_t)N * P;
    const float *x = n->in[0]->y;
    float *y = n->y, *rm = n->s, *rv = n->s + C;
    bn_saved *sv = n->saved;
    int training = c->training;
    double m = p->momentum, eps = p->eps;
    sv->batch_stats = training;
#pragma omp parallel for num_threads(c->threads) schedule(static)
    for (int ch = 0; ch < C; ch++) {
        double mean, inv_std;
        if (training) {
            double sum = 0.0, ss = 0.0;
            for (int i = 0; i < N; i++) {
                const float *xc = x + ((size_t)i * C + ch) * P;
                for (size_t k = 0; k < P; k++) sum += xc[k];
            }
            mean = sum / (double)M;
            /* Two passes: the squared deviations do not cancel as sum x^2 - M mean^2 would. */
            for (int i = 0; i < N; i++) {
                const float *xc = x + ((size_t)i * C + ch) * P;
                for (size_t k = 0; k < P; k++) {
                    double d = xc[k] - mean;
                    ss += d * d;
                }
            }
            double var = ss / (double)M;
            inv_std = 1.0 / sqrt(var + eps);
            /* PyTorch updates the running variance with the unbiased variance, and raises an
             * error in training when a channel has a single value (M = 1), where that divides
             * by zero. Here the biased variance (0) is used for M = 1 instead, so the running
             * variance stays finite. */
            double unbiased = M > 1 ? ss / (double)(M - 1) : var;
            rm[ch] = (float)((1.0 - m) * rm[ch] + m * mean);
            rv[ch] = (float)((1.0 - m) * rv[ch] + m * unbiased);
        } else {
            mean = rm[ch];
            inv_std = 1.0 / sqrt((double)rv[ch] + eps);
        }
        sv->stat[ch] = mean;
        sv->stat[C + ch] = inv_std;
        float g = p->affine ? n->w[ch] : 1.0f, b = p->affine ? n->w[C + ch] : 0.0f;
        for (int i = 0; i < N; i++) {
            size_t off = ((size_t)i * C + ch) * P;
            for (size_t k = 0; k < P; k++)
                y[off + k] = g * (float)((x[off + k] - mean) * inv_std) + b;
        }
    }
}

static void bn_backward(cnn_node *n, const cnn_ctx *c) {
    const bn_params *p = n->params;
    int C = n->shape.dim[0], N = c->batch;
    size_t P = cnn_node_numel(n) / (size_t)C, M = (size_t)N * P;
    const float *x = n->in[0]->y, *dy = n->dy;
    float *dx = n->in[0]->dy;
    const bn_saved *sv = n->saved;
    int batch_stats = sv->batch_stats;
#pragma omp parallel for num_threads(c->threads) schedule(static)
    for (int ch = 0; ch < C; ch++) {
        double mean = sv->stat[ch], inv_std = sv->stat[C + ch];
        double sdy = 0.0, sdyx = 0.0;
        for (int i = 0; i < N; i++) {
            size_t off = ((size_t)i * C + ch) * P;
            for (size_t k = 0; k < P; k++) {
                double xh = (x[off + k] - mean) * inv_std;
                sdy += dy[off + k];
                sdyx += dy[off + k] * xh;
            }
        }
        double g = p->affine ? n->w[ch] : 1.0;
        if (p->affine) {
            n->dw[ch] += (float)sdyx;
            n->dw[C + ch] += (float)sdy;
        }
        if (batch_stats) {
            /* The batch mean and variance depend on every x of the channel: the two sums
             * carry that dependence back. */
            double k0 = g * inv_std / (double)M;
            for (int i = 0; i < N; i++) {
                size_t off = ((size_t)i * C + ch) * P;
                for (size_t k = 0; k < P; k++) {
                    double xh = (x[off + k] - mean) * inv_std;
                    dx[off + k] += (float)(k0 * ((double)M * dy[off + k] - sdy - xh * sdyx));
                }
            }
        } else {
            float scale = (float)(g * inv_std);
            for (int i = 0; i < N; i++) {
                size_t off = ((size_t)i * C + ch) * P;
                for (size_t k = 0; k < P; k++) dx[off + k] += dy[off + k] * scale;
            }
        }
    }
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
    .backward = bn_backward,
};

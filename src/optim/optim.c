/*
 * optim.c - optimisers over the network's flat parameter buffer, with PyTorch's update rules
 * (torch.optim in 1.13), so that a training run can be compared with PyTorch step by step.
 *
 *   SGD:   g = grad + wd p;  momentum: b = mu b + g (b = g on the first step);
 *          Nesterov: g = g + mu b, else g = b;  p -= lr g
 *   Adam:  g = grad + wd p;  m = b1 m + (1-b1) g;  v = b2 v + (1-b2) g^2;
 *          p -= lr / (1 - b1^t) * m / (sqrt(v) / sqrt(1 - b2^t) + eps)
 *   AdamW: p *= 1 - lr wd, then Adam with no weight decay.
 *
 * Every element is updated independently, so threads never change a bit.
 */
#include "../core/internal.h"

#include <math.h>
#include <string.h>

struct cnn_optim {
    cnn_net *net;
    cnn_optim_config cfg;
    int64_t steps;
    size_t n;     /* parameters */
    float *state; /* SGD: momentum buffer (n); Adam: m then v (2n); then the averages */
    size_t n_state;
    float *avg;   /* cfg.ema: the average of the parameters (n), then of the network's state */
    size_t n_net_state;
};

cnn_optim_config cnn_optim_defaults(cnn_optim_kind kind, float lr) {
    cnn_optim_config c = {.kind = kind, .lr = lr, .beta1 = 0.9f, .beta2 = 0.999f, .eps = 1e-8f};
    if (kind == CNN_OPTIM_ADAMW) c.weight_decay = 0.01f;
    return c;
}

cnn_optim *cnn_optim_new(cnn_net *net, const cnn_optim_config *config) {
    const cnn_optim_config *c = config;
    if (c->kind != CNN_OPTIM_SGD && c->kind != CNN_OPTIM_ADAM && c->kind != CNN_OPTIM_ADAMW) {
        cnn_error(net, CNN_STATUS_INVALID_ARGUMENT, "unknown optimiser kind %d", (int)c->kind);
        return NULL;
    }
    if (!(c->lr >= 0.0f) || !(c->momentum >= 0.0f) || !(c->weight_decay >= 0.0f) ||
        !(c->beta1 >= 0.0f && c->beta1 < 1.0f) || !(c->beta2 >= 0.0f && c->beta2 < 1.0f) ||
        !(c->eps >= 0.0f) || !(c->ema >= 0.0f && c->ema < 1.0f)) {
        cnn_error(net, CNN_STATUS_INVALID_ARGUMENT,
                  "bad optimiser setting: lr %g, momentum %g, weight decay %g, betas %g %g, "
                  "eps %g, ema %g (lr, momentum, decay and eps must be >= 0, betas and ema in "
                  "[0, 1))",
                  (double)c->lr, (double)c->momentum, (double)c->weight_decay, (double)c->beta1,
                  (double)c->beta2, (double)c->eps, (double)c->ema);
        return NULL;
    }
    if (c->nesterov && (c->kind != CNN_OPTIM_SGD || c->momentum <= 0.0f)) {
        cnn_error(net, CNN_STATUS_INVALID_ARGUMENT, "Nesterov needs SGD with momentum > 0");
        return NULL;
    }
    cnn_optim *opt = cnn_calloc(1, sizeof *opt);
    if (!opt) goto oom;
    opt->net = net;
    opt->cfg = *c;
    opt->n = cnn_net_param_count(net);
    size_t moments = c->kind == CNN_OPTIM_SGD ? (c->momentum > 0.0f ? opt->n : 0) : 2 * opt->n;
    opt->n_net_state = cnn_net_state_count(net);
    opt->n_state = moments + (c->ema > 0 ? opt->n + opt->n_net_state : 0);
    opt->state = cnn_calloc(opt->n_state ? opt->n_state : 1, sizeof(float));
    if (!opt->state) goto oom;
    if (c->ema > 0) { /* the average starts from the network as it is */
        opt->avg = opt->state + moments;
        if (opt->n) memcpy(opt->avg, cnn_net_params(net), opt->n * sizeof(float));
        if (opt->n_net_state)
            memcpy(opt->avg + opt->n, cnn_net_state(net), opt->n_net_state * sizeof(float));
    }
    return opt;
oom:
    free(opt);
    cnn_error(net, CNN_STATUS_NO_MEMORY, "out of memory for the optimiser's state");
    return NULL;
}

void cnn_optim_free(cnn_optim *opt) {
    if (!opt) return;
    cnn_free(opt->state);
    free(opt);
}

float cnn_optim_lr(const cnn_optim *opt) { return opt->cfg.lr; }
cnn_optim_config cnn_optim_get_config(const cnn_optim *opt) { return opt->cfg; }
void cnn_optim_set_lr(cnn_optim *opt, float lr) { opt->cfg.lr = lr; }
int64_t cnn_optim_steps(const cnn_optim *opt) { return opt->steps; }
void cnn_optim_set_steps(cnn_optim *opt, int64_t steps) { opt->steps = steps; }

float *cnn_optim_state(cnn_optim *opt, size_t *count) {
    *count = opt->n_state;
    return opt->state;
}

typedef struct step_job {
    cnn_optim *opt;
    float *p;
    const float *g;
    int first;
    float bc2_sqrt, step, keep, l2;
} step_job;

/* Elements [begin, end) of an SGD step with momentum, for one case of the flags: called with
 * constants, each case is a loop of its own that GCC vectorises (a select on a loop invariant
 * kept the loop scalar; multiplying by 0 or 1 instead would change a -0 or a NaN). */
static inline __attribute__((always_inline)) void
sgd_momentum(float *restrict p, float *restrict b, const float *restrict g, long begin, long end,
             float lr, float wd, float mu, int decay, int first, int nesterov) {
#pragma omp simd
    for (long i = begin; i < end; i++) {
        float d = g[i];
        if (decay) d += wd * p[i];
        float m = d;
        if (!first) m = mu * b[i] + d;
        b[i] = m;
        p[i] -= lr * (nesterov ? d + mu * m : m);
    }
}

/* Elements [begin, end) of an SGD step. */
static inline CNN_BODY void sgd_elements_body(const step_job *j, long begin, long end) {
    const cnn_optim_config *c = &j->opt->cfg;
    float lr = c->lr, wd = c->weight_decay, mu = c->momentum;
    float *p = j->p, *b = j->opt->state;
    const float *g = j->g;
    int decay = wd != 0.0f;
    if (mu == 0.0f) {
        if (decay) {
#pragma omp simd
            for (long i = begin; i < end; i++) p[i] -= lr * (g[i] + wd * p[i]);
        } else {
#pragma omp simd
            for (long i = begin; i < end; i++) p[i] -= lr * g[i];
        }
        return;
    }
#define SGD_CASE(d, f, n)                                                                      \
    case (d) | (f) << 1 | (n) << 2:                                                            \
        sgd_momentum(p, b, g, begin, end, lr, wd, mu, d, f, n);                                \
        break;
    switch (decay | j->first << 1 | (c->nesterov != 0) << 2) {
        SGD_CASE(0, 0, 0) SGD_CASE(1, 0, 0) SGD_CASE(0, 1, 0) SGD_CASE(1, 1, 0)
        SGD_CASE(0, 0, 1) SGD_CASE(1, 0, 1) SGD_CASE(0, 1, 1) SGD_CASE(1, 1, 1)
    }
#undef SGD_CASE
}
CNN_DISPATCH(sgd_elements, (const step_job *j, long begin, long end), (j, begin, end))

static void sgd_range(void *arg, long begin, long end, int worker) {
    (void)worker;
    sgd_elements(arg, begin, end);
}

static void sgd_step(cnn_optim *opt, float *p, const float *g, long n, cnn_workers *pool,
                     int threads) {
    step_job j = {.opt = opt, .p = p, .g = g, .first = opt->steps == 0};
    cnn_parallel_for(pool, threads, n, sgd_range, &j);
}

/* Elements [begin, end) of an Adam or AdamW step. */
static inline CNN_BODY void adam_elements_body(const step_job *j, long begin, long end) {
    const cnn_optim_config *c = &j->opt->cfg;
    float b1 = c->beta1, b2 = c->beta2, eps = c->eps;
    float *m = j->opt->state, *v = j->opt->state + j->opt->n, *p = j->p;
    const float *g = j->g;
    float bc2_sqrt = j->bc2_sqrt, step = j->step, keep = j->keep, l2 = j->l2;
#pragma omp simd
    for (long i = begin; i < end; i++) {
        float pi = p[i], d = g[i] + l2 * pi;
        pi *= keep;
        m[i] = b1 * m[i] + (1.0f - b1) * d;
        v[i] = b2 * v[i] + (1.0f - b2) * d * d;
        p[i] = pi - step * m[i] / (sqrtf(v[i]) / bc2_sqrt + eps);
    }
}
CNN_DISPATCH(adam_elements, (const step_job *j, long begin, long end), (j, begin, end))

static void adam_range(void *arg, long begin, long end, int worker) {
    (void)worker;
    adam_elements(arg, begin, end);
}

static void adam_step(cnn_optim *opt, float *p, const float *g, long n, cnn_workers *pool,
                      int threads) {
    const cnn_optim_config *c = &opt->cfg;
    float lr = c->lr, wd = c->weight_decay, b1 = c->beta1, b2 = c->beta2;
    int decoupled = c->kind == CNN_OPTIM_ADAMW;
    double t = (double)(opt->steps + 1);
    float bc1 = (float)(1.0 - pow(b1, t));
    step_job j = {.opt = opt, .p = p, .g = g};
    j.bc2_sqrt = (float)sqrt(1.0 - pow(b2, t));
    j.step = lr / bc1;
    /* Without branches in the loop, so that it runs in vectors: AdamW scales p by keep,
     * Adam adds l2 p to the gradient; the other factor is exactly 1 or 0. */
    j.keep = decoupled ? 1.0f - lr * wd : 1.0f;
    j.l2 = decoupled ? 0.0f : wd;
    cnn_parallel_for(pool, threads, n, adam_range, &j);
}

cnn_status cnn_optim_step(cnn_optim *opt) {
    cnn_net *net = opt->net;
    if (cnn_net_param_count(net) != opt->n)
        return cnn_error(net, CNN_STATUS_STATE,
                         "the network has %zu parameters, the optimiser was made for %zu",
                         cnn_net_param_count(net), opt->n);
    const float *g = cnn_net_grads(net);
    if (!g && opt->n) return CNN_STATUS_NO_MEMORY; /* with the network's message */
    float *p = cnn_net_params(net);
    cnn_workers *pool = cnn_net_workers(net);
    if (opt->cfg.kind == CNN_OPTIM_SGD)
        sgd_step(opt, p, g, (long)opt->n, pool, cnn_net_threads(net));
    else
        adam_step(opt, p, g, (long)opt->n, pool, cnn_net_threads(net));
    opt->steps++;
    return CNN_STATUS_OK;
}

static cnn_status check_ema(cnn_optim *opt) {
    cnn_net *net = opt->net;
    if (!opt->avg)
        return cnn_error(net, CNN_STATUS_STATE, "the optimiser keeps no average (ema 0)");
    if (cnn_net_param_count(net) != opt->n || cnn_net_state_count(net) != opt->n_net_state)
        return cnn_error(net, CNN_STATUS_STATE,
                         "the network has %zu parameters and %zu state values, the optimiser's "
                         "average was made for %zu and %zu",
                         cnn_net_param_count(net), cnn_net_state_count(net), opt->n,
                         opt->n_net_state);
    return CNN_STATUS_OK;
}

typedef struct ema_job {
    float d, e; /* avg = d avg + e value */
    float *avg;
    const float *value;
} ema_job;

/* Elements [begin, end) of the average. */
static inline CNN_BODY void ema_elements_body(const ema_job *j, long begin, long end) {
    float d = j->d, e = j->e, *restrict a = j->avg;
    const float *restrict v = j->value;
#pragma omp simd
    for (long i = begin; i < end; i++) a[i] = d * a[i] + e * v[i];
}
CNN_DISPATCH(ema_elements, (const ema_job *j, long begin, long end), (j, begin, end))

static void ema_range(void *arg, long begin, long end, int worker) {
    (void)worker;
    ema_elements(arg, begin, end);
}

cnn_status cnn_optim_update_ema(cnn_optim *opt) {
    cnn_status st = check_ema(opt);
    if (st) return st;
    cnn_net *net = opt->net;
    float d = opt->cfg.ema;
    /* The parameters over the threads as the step shared them (each thread's part still in
     * its cache), the state (batch norm's statistics, few) on this one. */
    ema_job j = {d, 1.0f - d, opt->avg, cnn_net_params(net)};
    cnn_parallel_for(cnn_net_workers(net), cnn_net_threads(net), (long)opt->n, ema_range, &j);
    ema_job js = {d, 1.0f - d, opt->avg + opt->n, cnn_net_state(net)};
    ema_elements(&js, 0, (long)opt->n_net_state);
    return CNN_STATUS_OK;
}

static void swap_floats(float *a, float *b, size_t n) {
    for (size_t i = 0; i < n; i++) {
        float t = a[i];
        a[i] = b[i];
        b[i] = t;
    }
}

cnn_status cnn_optim_swap_ema(cnn_optim *opt) {
    cnn_status st = check_ema(opt);
    if (st) return st;
    swap_floats(cnn_net_params(opt->net), opt->avg, opt->n);
    swap_floats(cnn_net_state(opt->net), opt->avg + opt->n, opt->n_net_state);
    return CNN_STATUS_OK;
}

/*
 * inspect.c - seeing inside a network: class scores, input gradients (saliency and guided
 * backpropagation), Grad-CAM, a layer's activations and their statistics, activation
 * maximisation, and the course's classic 3x3 kernels. Everything here fills caller-owned
 * arrays; the pictures are drawn elsewhere (figure.c, the cnn tool).
 *
 * All of it rests on two network operations: a forward pass of one sample in inference mode,
 * and cnn_net_backward_from a chosen layer with a chosen seed (one-hot on a class score, or
 * spread over one channel of a layer).
 */
#include "../core/internal.h"

#include <math.h>
#include <string.h>

/* ---------------------------------------------------------------------------------------------
 * One-sample passes in inference mode
 * ------------------------------------------------------------------------------------------- */

/* The modes an explanation changes and restores. */
typedef struct saved_mode {
    int training, no_input_grads;
} saved_mode;

/* Checks that the network can take one sample of one input, prepares it when it is not
 * prepared, and switches it to inference mode with input gradients; *mode receives the modes
 * to restore with end(). */
static cnn_status begin(cnn_net *net, const void *x, const char *what, saved_mode *mode) {
    *mode = (saved_mode){net->training, net->no_input_grads};
    if (!x) return cnn_error(net, CNN_STATUS_INVALID_ARGUMENT, "%s: NULL array", what);
    if (net->n_inputs != 1)
        return cnn_error(net, CNN_STATUS_INVALID_ARGUMENT,
                         "%s: the network has %d inputs; only single-input networks are "
                         "supported", what, net->n_inputs);
    if (!net->max_batch) {
        cnn_status st = cnn_net_prepare(net, 1);
        if (st) return st;
    }
    net->training = 0;
    net->no_input_grads = 0;
    return CNN_STATUS_OK;
}

static cnn_status end(cnn_net *net, saved_mode mode, cnn_status st) {
    net->training = mode.training;
    net->no_input_grads = mode.no_input_grads;
    return st;
}

static cnn_node *input_node(cnn_net *net) { return net->nodes[net->inputs[0]]; }

static cnn_status check_layer(cnn_net *net, int layer, const char *what) {
    if (layer < 0 || layer >= net->n_nodes)
        return cnn_error(net, CNN_STATUS_INVALID_ARGUMENT,
                         "%s: no layer %d (the network has layers 0 to %d)", what, layer,
                         net->n_nodes - 1);
    return CNN_STATUS_OK;
}

int cnn_net_score_layer(const cnn_net *net) {
    const cnn_node *out = net->nodes[net->output];
    if (strcmp(out->type->name, "softmax") == 0) return out->in[0]->index;
    return out->index;
}

cnn_status cnn_net_scores(cnn_net *net, const float *x, float *scores, int *top) {
    saved_mode mode;
    cnn_status st = begin(net, x, "scores", &mode);
    if (st) return st;
    if ((st = cnn_net_forward(net, x, 1))) return end(net, mode, st);
    const cnn_node *s = net->nodes[cnn_net_score_layer(net)];
    int K = s->shape.dim[0];
    size_t per = cnn_node_numel(s) / (size_t)K; /* positions per class (1 for flat scores) */
    int best = 0;
    double best_v = -INFINITY;
    for (int k = 0; k < K; k++) {
        double v = 0; /* per-pixel scores: the sum of the class's map */
        for (size_t p = 0; p < per; p++) v += s->y[(size_t)k * per + p];
        if (scores) scores[k] = (float)v;
        if (v > best_v) best_v = v, best = k;
    }
    if (top) *top = best;
    return end(net, mode, CNN_STATUS_OK);
}

/* Forward x, then back-propagates d(score of class cls)/d(everything) with the rule. The
 * score of a class with a map (per-pixel outputs) is the sum of the map. */
static cnn_status explain(cnn_net *net, const float *x, int cls, cnn_backprop_rule rule,
                          const char *what) {
    cnn_status st = cnn_net_forward(net, x, 1);
    if (st) return st;
    cnn_node *s = net->nodes[cnn_net_score_layer(net)];
    int K = s->shape.dim[0];
    if (cls < 0 || cls >= K)
        return cnn_error(net, CNN_STATUS_INVALID_ARGUMENT,
                         "%s: class %d is out of range: '%s' scores %d classes (0 to %d)", what,
                         cls, s->name, K, K - 1);
    size_t numel = cnn_node_numel(s), per = numel / (size_t)K;
    float *seed = s->dy; /* the seed is written in place: backward_from accepts that */
    memset(seed, 0, numel * sizeof(float));
    for (size_t p = 0; p < per; p++) seed[(size_t)cls * per + p] = 1.0f;
    return cnn_net_backward_from(net, s->index, seed, rule);
}

cnn_status cnn_input_gradient(cnn_net *net, const float *x, int cls, cnn_backprop_rule rule,
                              float *dx) {
    saved_mode mode;
    cnn_status st = begin(net, x, "input gradient", &mode);
    if (st) return st;
    if (!dx) return end(net, mode, cnn_error(net, CNN_STATUS_INVALID_ARGUMENT,
                                                 "input gradient: NULL output array"));
    if ((st = explain(net, x, cls, rule, "input gradient"))) return end(net, mode, st);
    const cnn_node *in = input_node(net);
    memcpy(dx, in->dy, cnn_node_numel(in) * sizeof(float));
    return end(net, mode, CNN_STATUS_OK);
}

void cnn_saliency_map(const float *dx, int channels, int height, int width, float *map) {
    size_t plane = (size_t)height * (size_t)width;
    for (size_t p = 0; p < plane; p++) {
        float m = 0.0f;
        for (int c = 0; c < channels; c++) m = fmaxf(m, fabsf(dx[(size_t)c * plane + p]));
        map[p] = m;
    }
}

/* ---------------------------------------------------------------------------------------------
 * Grad-CAM
 * ------------------------------------------------------------------------------------------- */

static int is_pointwise(const cnn_node *n) {
    static const char *const names[] = {"batchnorm", "relu", "leaky_relu", "elu",
                                        "sigmoid",   "tanh", NULL};
    for (int i = 0; names[i]; i++)
        if (strcmp(n->type->name, names[i]) == 0) return 1;
    return 0;
}

int cnn_gradcam_layer(const cnn_net *net) {
    int cur = -1;
    for (int i = 0; i < net->n_nodes; i++)
        if (strcmp(net->nodes[i]->type->name, "conv2d") == 0) cur = i;
    if (cur < 0) return -1;
    for (;;) { /* follow a sole consumer that is a batchnorm or an activation */
        int consumer = -1, consumers = 0;
        for (int j = cur + 1; j < net->n_nodes; j++)
            for (int k = 0; k < net->nodes[j]->n_in; k++)
                if (net->nodes[j]->in[k]->index == cur) consumers++, consumer = j;
        if (consumers != 1 || !is_pointwise(net->nodes[consumer])) return cur;
        cur = consumer;
    }
}

/* Resizes src (ih x iw) to dst (oh x ow) bilinearly with half-pixel centres (PyTorch's
 * align_corners=False): source coordinate (d + 0.5) * in/out - 0.5, clamped at 0. */
static void resize_bilinear(const float *src, int ih, int iw, float *dst, int oh, int ow) {
    float sy = (float)ih / (float)oh, sx = (float)iw / (float)ow;
    for (int y = 0; y < oh; y++) {
        float fy = fmaxf(((float)y + 0.5f) * sy - 0.5f, 0.0f);
        int y0 = (int)fy, y1 = y0 + 1 < ih ? y0 + 1 : ih - 1;
        float ly = fy - (float)y0;
        for (int x = 0; x < ow; x++) {
            float fx = fmaxf(((float)x + 0.5f) * sx - 0.5f, 0.0f);
            int x0 = (int)fx, x1 = x0 + 1 < iw ? x0 + 1 : iw - 1;
            float lx = fx - (float)x0;
            float top = (1 - lx) * src[y0 * iw + x0] + lx * src[y0 * iw + x1];
            float bot = (1 - lx) * src[y1 * iw + x0] + lx * src[y1 * iw + x1];
            dst[y * ow + x] = (1 - ly) * top + ly * bot;
        }
    }
}

cnn_status cnn_gradcam(cnn_net *net, const float *x, int cls, int layer, float *cam,
                       float *upsampled) {
    saved_mode mode;
    cnn_status st = begin(net, x, "Grad-CAM", &mode);
    if (st) return st;
    if ((st = check_layer(net, layer, "Grad-CAM"))) return end(net, mode, st);
    const cnn_node *a = net->nodes[layer];
    const cnn_node *in = input_node(net);
    char sh[64];
    if (a->shape.rank != 3)
        st = cnn_error(net, CNN_STATUS_SHAPE,
                       "Grad-CAM: layer '%s' is %s; it needs feature maps (C x H x W)", a->name,
                       cnn_shape_str(&a->shape, sh, sizeof sh));
    else if (layer > cnn_net_score_layer(net))
        st = cnn_error(net, CNN_STATUS_INVALID_ARGUMENT,
                       "Grad-CAM: layer '%s' comes after the class scores ('%s')", a->name,
                       net->nodes[cnn_net_score_layer(net)]->name);
    else if (!cam)
        st = cnn_error(net, CNN_STATUS_INVALID_ARGUMENT, "Grad-CAM: NULL output array");
    else if (upsampled && in->shape.rank != 3)
        st = cnn_error(net, CNN_STATUS_SHAPE,
                       "Grad-CAM: the input is %s, not an image to resize the map to",
                       cnn_shape_str(&in->shape, sh, sizeof sh));
    if (st || (st = explain(net, x, cls, CNN_BACKPROP_PLAIN, "Grad-CAM")))
        return end(net, mode, st);
    int K = a->shape.dim[0], H = a->shape.dim[1], W = a->shape.dim[2];
    size_t plane = (size_t)H * (size_t)W;
    for (size_t p = 0; p < plane; p++) cam[p] = 0.0f;
    for (int k = 0; k < K; k++) {
        const float *A = a->y + (size_t)k * plane, *dA = a->dy + (size_t)k * plane;
        double sum = 0;
        for (size_t p = 0; p < plane; p++) sum += dA[p];
        float alpha = (float)(sum / (double)plane);
        for (size_t p = 0; p < plane; p++) cam[p] += alpha * A[p];
    }
    for (size_t p = 0; p < plane; p++) cam[p] = fmaxf(cam[p], 0.0f);
    if (upsampled) resize_bilinear(cam, H, W, upsampled, in->shape.dim[1], in->shape.dim[2]);
    return end(net, mode, CNN_STATUS_OK);
}

/* ---------------------------------------------------------------------------------------------
 * Activations and their statistics
 * ------------------------------------------------------------------------------------------- */

cnn_status cnn_layer_activations(cnn_net *net, const float *x, int layer, float *out) {
    saved_mode mode;
    cnn_status st = begin(net, x, "activations", &mode);
    if (st) return st;
    if ((st = check_layer(net, layer, "activations"))) return end(net, mode, st);
    if (!out)
        return end(net, mode, cnn_error(net, CNN_STATUS_INVALID_ARGUMENT,
                                            "activations: NULL output array"));
    if ((st = cnn_net_forward(net, x, 1))) return end(net, mode, st);
    const cnn_node *n = net->nodes[layer];
    memcpy(out, n->y, cnn_node_numel(n) * sizeof(float));
    return end(net, mode, CNN_STATUS_OK);
}

cnn_status cnn_layer_stats(cnn_net *net, int layer, cnn_activation_stats *stats, int bins,
                           float *lo, float *hi, uint64_t *counts) {
    cnn_status st = check_layer(net, layer, "layer statistics");
    if (st) return st;
    if (!net->forward_done)
        return cnn_error(net, CNN_STATUS_STATE, "layer statistics without a forward pass");
    if (!stats) return cnn_error(net, CNN_STATUS_INVALID_ARGUMENT, "layer statistics: NULL stats");
    if (counts && (bins < 1 || !lo || !hi))
        return cnn_error(net, CNN_STATUS_INVALID_ARGUMENT,
                         "layer statistics: a histogram needs bins >= 1 (got %d) and a range",
                         bins);
    const cnn_node *n = net->nodes[layer];
    size_t numel = cnn_node_numel(n), count = (size_t)net->batch * numel, zeros = 0, dead = 0;
    double sum = 0, sum2 = 0;
    float mn = INFINITY, mx = -INFINITY;
    for (size_t i = 0; i < count; i++) {
        float v = n->y[i];
        sum += v;
        sum2 += (double)v * v;
        mn = fminf(mn, v);
        mx = fmaxf(mx, v);
        zeros += v == 0.0f;
    }
    for (size_t u = 0; u < numel; u++) {
        int fired = 0;
        for (int b = 0; b < net->batch && !fired; b++) fired = n->y[(size_t)b * numel + u] > 0.0f;
        dead += !fired;
    }
    double mean = sum / (double)count, var = sum2 / (double)count - mean * mean;
    *stats = (cnn_activation_stats){.count = count,
                                    .mean = mean,
                                    .std = sqrt(var > 0 ? var : 0),
                                    .min = mn,
                                    .max = mx,
                                    .zero_fraction = (double)zeros / (double)count,
                                    .dead_fraction = (double)dead / (double)numel};
    if (!counts) return CNN_STATUS_OK;
    if (!(*lo < *hi)) {
        *lo = isfinite(mn) ? mn : 0.0f;
        *hi = isfinite(mx) && mx > *lo ? mx : *lo + 1.0f;
    }
    memset(counts, 0, (size_t)bins * sizeof *counts);
    double scale = bins / ((double)*hi - (double)*lo);
    for (size_t i = 0; i < count; i++) {
        float v = n->y[i];
        if (v != v) continue; /* NaN has no bin */
        double b = ((double)v - *lo) * scale;
        int k = b < 0 ? 0 : b >= bins ? bins - 1 : (int)b;
        counts[k]++;
    }
    return CNN_STATUS_OK;
}

/* ---------------------------------------------------------------------------------------------
 * Activation maximisation
 * ------------------------------------------------------------------------------------------- */

cnn_dream_config cnn_dream_defaults(void) {
    return (cnn_dream_config){
        .steps = 200, .rate = 0.05f, .decay = 0.001f, .blur_every = 10, .noise = 0.1f, .seed = 0};
}

/* A 3x3 Gaussian blur ([1 2 1]/4 in each direction, edges repeated) of each plane in place;
 * tmp holds one plane. */
static void blur_planes(float *x, int planes, int h, int w, float *tmp) {
    for (int c = 0; c < planes; c++) {
        float *p = x + (size_t)c * h * w;
        for (int y = 0; y < h; y++)
            for (int i = 0; i < w; i++) {
                int l = i > 0 ? i - 1 : 0, r = i + 1 < w ? i + 1 : w - 1;
                tmp[y * w + i] = 0.25f * p[y * w + l] + 0.5f * p[y * w + i] + 0.25f * p[y * w + r];
            }
        for (int y = 0; y < h; y++) {
            int u = y > 0 ? y - 1 : 0, d = y + 1 < h ? y + 1 : h - 1;
            for (int i = 0; i < w; i++)
                p[y * w + i] =
                    0.25f * tmp[u * w + i] + 0.5f * tmp[y * w + i] + 0.25f * tmp[d * w + i];
        }
    }
}

/* The mean of v[0..n): a unit's activation (a channel's mean, or one element). */
static float mean_of(const float *v, size_t n) {
    double s = 0;
    for (size_t p = 0; p < n; p++) s += v[p];
    return (float)(s / (double)n);
}

cnn_status cnn_activation_maximize(cnn_net *net, int layer, int unit,
                                   const cnn_dream_config *cfg, float *x, float *before,
                                   float *after) {
    saved_mode mode;
    cnn_status st = begin(net, x, "activation maximisation", &mode);
    if (st) return st;
    if ((st = check_layer(net, layer, "activation maximisation"))) return end(net, mode, st);
    cnn_node *n = net->nodes[layer];
    const cnn_node *in = input_node(net);
    int units = n->shape.dim[0]; /* channels, or the elements of a flat layer */
    char sh[64];
    if (!cfg || cfg->steps < 0 || !(cfg->rate >= 0) || !(cfg->decay >= 0 && cfg->decay < 1) ||
        cfg->blur_every < 0 || !(cfg->noise >= 0))
        return end(net, mode,
                   cnn_error(net, CNN_STATUS_INVALID_ARGUMENT,
                             "activation maximisation: bad settings (need steps >= 0, rate >= "
                             "0, 0 <= decay < 1, blur_every >= 0, noise >= 0)"));
    if (unit < 0 || unit >= units)
        return end(net, mode,
                   cnn_error(net, CNN_STATUS_INVALID_ARGUMENT,
                             "activation maximisation: layer '%s' is %s: unit %d is out of "
                             "range 0 to %d", n->name, cnn_shape_str(&n->shape, sh, sizeof sh),
                             unit, units - 1));
    size_t numel = cnn_node_numel(n), in_numel = cnn_node_numel(in);
    /* The unit's values: one channel's positions, or one element of a flat layer. */
    size_t per = numel / (size_t)units, base = (size_t)unit * per;
    int image = in->shape.rank == 3;
    int planes = in->shape.dim[0];
    int h = image ? in->shape.dim[1] : 0, w = image ? in->shape.dim[2] : 0;
    float *tmp = image ? cnn_alloc((size_t)h * w * sizeof *tmp) : NULL;
    if (image && !tmp)
        return end(net, mode, cnn_error(net, CNN_STATUS_NO_MEMORY, "out of memory"));
    cnn_rng rng;
    cnn_rng_seed(&rng, cfg->seed);
    for (size_t i = 0; i < in_numel; i++) x[i] = cfg->noise * cnn_rng_normal(&rng);
    for (int step = 0; step <= cfg->steps; step++) {
        if ((st = cnn_net_forward(net, x, 1))) break;
        float v = mean_of(n->y + base, per);
        if (step == 0 && before) *before = v;
        if (step == cfg->steps) {
            if (after) *after = v;
            break;
        }
        memset(n->dy, 0, numel * sizeof(float));
        for (size_t p = 0; p < per; p++) n->dy[base + p] = 1.0f / (float)per;
        if ((st = cnn_net_backward_from(net, layer, n->dy, CNN_BACKPROP_PLAIN))) break;
        const float *g = in->dy;
        double ss = 0;
        for (size_t i = 0; i < in_numel; i++) ss += (double)g[i] * g[i];
        float scale = cfg->rate / (float)(sqrt(ss / (double)in_numel) + 1e-8);
        for (size_t i = 0; i < in_numel; i++) x[i] = (1.0f - cfg->decay) * (x[i] + scale * g[i]);
        if (image && cfg->blur_every && (step + 1) % cfg->blur_every == 0)
            blur_planes(x, planes, h, w, tmp);
    }
    free(tmp);
    return end(net, mode, st);
}

/* ---------------------------------------------------------------------------------------------
 * The classic kernels
 * ------------------------------------------------------------------------------------------- */

static const struct {
    const char *name;
    float k[9];
} classic[] = {
    {"identity", {0, 0, 0, 0, 1, 0, 0, 0, 0}},
    {"outline", {-1, -1, -1, -1, 8, -1, -1, -1, -1}},
    {"sobel_left", {1, 0, -1, 2, 0, -2, 1, 0, -1}},
    {"sobel_bottom", {-1, -2, -1, 0, 0, 0, 1, 2, 1}},
    {"lighten", {0, 0, 0, 0, 2, 0, 0, 0, 0}},
    {"darken", {0, 0, 0, 0, 0.5f, 0, 0, 0, 0}},
    {"sobel_right", {-1, 0, 1, -2, 0, 2, -1, 0, 1}},
    {"sobel_top", {1, 2, 1, 0, 0, 0, -1, -2, -1}},
    {"sharpen", {0, -1, 0, -1, 5, -1, 0, -1, 0}},
    {"box_blur", {1 / 9.f, 1 / 9.f, 1 / 9.f, 1 / 9.f, 1 / 9.f, 1 / 9.f, 1 / 9.f, 1 / 9.f, 1 / 9.f}},
};

int cnn_classic_kernel_count(void) { return (int)(sizeof classic / sizeof classic[0]); }

const char *cnn_classic_kernel_name(int index) {
    return index >= 0 && index < cnn_classic_kernel_count() ? classic[index].name : NULL;
}

cnn_status cnn_classic_kernel(const char *name, float k[9]) {
    for (int i = 0; name && i < cnn_classic_kernel_count(); i++)
        if (strcmp(classic[i].name, name) == 0) {
            memcpy(k, classic[i].k, sizeof classic[i].k);
            return CNN_STATUS_OK;
        }
    return CNN_STATUS_INVALID_ARGUMENT;
}

void cnn_filter3x3(const float *x, int channels, int height, int width, const float k[9],
                   float *y) {
    for (int c = 0; c < channels; c++) {
        const float *p = x + (size_t)c * height * width;
        float *q = y + (size_t)c * height * width;
        for (int i = 0; i < height; i++)
            for (int j = 0; j < width; j++) {
                float s = 0.0f;
                for (int di = -1; di <= 1; di++)
                    for (int dj = -1; dj <= 1; dj++) {
                        int a = i + di, b = j + dj;
                        if (a >= 0 && a < height && b >= 0 && b < width)
                            s += k[(di + 1) * 3 + dj + 1] * p[a * width + b];
                    }
                q[i * width + j] = s;
            }
    }
}

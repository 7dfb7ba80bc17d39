/*
 * loss.c - losses and their gradients with respect to the network output.
 *
 * Cross-entropy works on logits z of shape (N, K, P): K classes for each of P pixels (P = 1 for
 * classification), labels y (N, P). It is PyTorch's F.cross_entropy with class weights w
 * (weight=), label smoothing s (label_smoothing=), ignore_index and a reduction. For one element
 * (a sample, or a pixel of one) with label y, log p = log_softmax(z), and the coefficients
 *   c_k = (1 - s) w_y [k = y] + (s / K) w_k,      C = sum_k c_k = (1 - s) w_y + (s / K) sum_k w_k
 * its loss is  l = -sum_k c_k log p_k = C lse(z) - sum_k c_k z_k  (lse: logsumexp, computed with
 * the maximum subtracted so that logits of any size are safe), and d l / d z_k = C p_k - c_k.
 * Without weights w = 1, so C = 1 and c is the smoothed one-hot target q = (1 - s) onehot + s/K.
 * Reductions: "none" gives each l; "sum" their sum; "mean" their sum divided by D, the sum of
 * w_y over the elements that are not ignored (their count without weights), exactly as PyTorch
 * divides both its NLL and its smoothing term by that same sum. Ignored elements have loss 0
 * and gradient 0. Sums are accumulated in double.
 *
 * Mixed targets (mixup, CutMix) give element e the target m onehot(a) + (1 - m) onehot(b),
 * smoothed: c_k = (1 - s)(m [k = a] + (1 - m) [k = b]) + s / K, which sums to 1, so
 * l = lse(z) - sum_k c_k z_k and d l / d z_k = p_k - c_k; the mean divides by the count.
 */
#include "core/internal.h"

#include <math.h>

cnn_status cnn_loss_cross_entropy(const float *logits, const int32_t *labels, int count,
                                  int classes, int pixels, float *loss, float *grad) {
    return cnn_loss_cross_entropy_ex(logits, labels, count, classes, pixels, NULL, loss, grad);
}

cnn_status cnn_loss_cross_entropy_smoothed(const float *logits, const int32_t *labels,
                                           int count, int classes, int pixels, float smoothing,
                                           float *loss, float *grad) {
    cnn_ce_options o = {.reduction = CNN_REDUCTION_MEAN, .smoothing = smoothing};
    return cnn_loss_cross_entropy_ex(logits, labels, count, classes, pixels, &o, loss, grad);
}

/* Checks the options and labels and finds the mean's divisor: the sum of w_y over the
 * elements not ignored (their count without weights), and sum_k w_k into *wsum. */
static cnn_status ce_check(const int32_t *labels, size_t elems, int classes,
                           const cnn_ce_options *opt, double *wsum, double *denom) {
    const float *w = opt->weights;
    cnn_reduction red = opt->reduction;
    if (!(opt->smoothing >= 0.0f && opt->smoothing < 1.0f)) return CNN_STATUS_INVALID_ARGUMENT;
    if (red != CNN_REDUCTION_MEAN && red != CNN_REDUCTION_SUM && red != CNN_REDUCTION_NONE)
        return CNN_STATUS_INVALID_ARGUMENT;
    *wsum = 0.0;
    if (w)
        for (int k = 0; k < classes; k++) {
            if (!isfinite(w[k])) return CNN_STATUS_INVALID_ARGUMENT;
            *wsum += w[k];
        }
    if (!opt->labels_b != !opt->mix || (opt->mix && (w || opt->ignore)))
        return CNN_STATUS_INVALID_ARGUMENT;
    for (size_t i = 0; opt->mix && i < elems; i++)
        if (opt->labels_b[i] < 0 || opt->labels_b[i] >= classes ||
            !(opt->mix[i] >= 0.0f && opt->mix[i] <= 1.0f))
            return CNN_STATUS_INVALID_ARGUMENT;
    *denom = 0.0;
    for (size_t i = 0; i < elems; i++) {
        if (opt->ignore && labels[i] == opt->ignore_index) continue;
        if (labels[i] < 0 || labels[i] >= classes) return CNN_STATUS_INVALID_ARGUMENT;
        *denom += w ? (double)w[labels[i]] : 1.0;
    }
    return CNN_STATUS_OK;
}

/* log(sum_k exp z_k) of K logits `pixels` apart, with their maximum subtracted (safe for
 * logits of any size). */
static double log_sum_exp(const float *z, int classes, int pixels) {
    float m = z[0];
    for (int k = 1; k < classes; k++)
        if (z[(size_t)k * pixels] > m) m = z[(size_t)k * pixels];
    double sum = 0.0;
    for (int k = 0; k < classes; k++) sum += exp((double)z[(size_t)k * pixels] - m);
    return log(sum) + m;
}

/* One element's target: its label, and with mixed targets its partner's (b, else -1) and the
 * two shares times 1 - s; off = s / K, on = 1 - s + s / K, hit = (1 - s) w_y. */
typedef struct ce_target {
    const float *w;
    int label, b;
    double off, on, hit, ca, cb;
} ce_target;

/* c_k of the header's formulas: mixed, weighted, or the smoothed one-hot q_k. */
static inline double coef(const ce_target *t, int k) {
    if (t->b >= 0) return t->off + (k == t->label ? t->ca : 0.0) + (k == t->b ? t->cb : 0.0);
    return t->w ? t->off * t->w[k] + (k == t->label ? t->hit : 0.0)
                : (k == t->label ? t->on : t->off);
}

/* The elements' losses: their sum into *total, each into loss[] for reduction none (0 when
 * one is not finite), gradients times scale into grad (when not NULL). Labels checked. Without
 * weights the arithmetic is the plain formula's, term for term: w_y = 1.0 and C = 1.0 multiply
 * exactly, c_k is q_k as (1 - s) + s/K or s/K, and s = 0 takes lse - z_y directly. So the
 * unweighted results do not depend on the weighted code, bit for bit. Mixed targets (checked:
 * no weights, nothing ignored) have C = 1 and their own c_k. */
static int ce_elements(const float *logits, const int32_t *labels, int count, int classes,
                       int pixels, const cnn_ce_options *opt, double wsum, double scale,
                       double *total, float *loss, float *grad) {
    float smoothing = opt->smoothing;
    const float *w = opt->weights;
    cnn_reduction red = opt->reduction;
    ce_target t = {.w = w, .b = -1, .off = (double)smoothing / classes};
    t.on = 1.0 - smoothing + t.off;
    int finite = 1;
    *total = 0.0;
    for (int n = 0; n < count; n++) {
        const float *z = logits + (size_t)n * classes * pixels;
        float *g = grad ? grad + (size_t)n * classes * pixels : NULL;
        for (int p = 0; p < pixels; p++) {
            size_t e = (size_t)n * pixels + p;
            int label = t.label = labels[e];
            if (opt->ignore && label == opt->ignore_index) {
                if (g)
                    for (int k = 0; k < classes; k++) g[(size_t)k * pixels + p] = 0.0f;
                if (red == CNN_REDUCTION_NONE) loss[e] = 0.0f;
                continue;
            }
            if (opt->mix) {
                t.b = opt->labels_b[e];
                t.ca = (1.0 - smoothing) * (double)opt->mix[e];
                t.cb = (1.0 - smoothing) * (1.0 - (double)opt->mix[e]);
            }
            double lse = log_sum_exp(z + p, classes, pixels);
            double wy = w ? (double)w[label] : 1.0;
            t.hit = (1.0 - smoothing) * wy;              /* c_y - (s/K) w_y, weighted */
            double C = !w ? 1.0 : smoothing == 0.0f ? wy : t.hit + t.off * wsum;
            double l;
            if (smoothing == 0.0f && !opt->mix) {
                l = wy * (lse - z[(size_t)label * pixels + p]);
            } else {
                double zq = 0.0;
                for (int k = 0; k < classes; k++) zq += coef(&t, k) * z[(size_t)k * pixels + p];
                l = C * lse - zq;
            }
            *total += l;
            if (red == CNN_REDUCTION_NONE) {
                loss[e] = (float)l;
                if (!isfinite(loss[e])) finite = 0;
            }
            if (g)
                for (int k = 0; k < classes; k++) {
                    double sm = exp((double)z[(size_t)k * pixels + p] - lse);
                    g[(size_t)k * pixels + p] = (float)((C * sm - coef(&t, k)) * scale);
                }
        }
    }
    return finite;
}

cnn_status cnn_loss_cross_entropy_ex(const float *logits, const int32_t *labels, int count,
                                     int classes, int pixels, const cnn_ce_options *opt,
                                     float *loss, float *grad) {
    static const cnn_ce_options defaults = {.reduction = CNN_REDUCTION_MEAN};
    if (!opt) opt = &defaults;
    if (count < 1 || classes < 1 || pixels < 1) return CNN_STATUS_SHAPE;
    double wsum, denom, total;
    cnn_status st = ce_check(labels, (size_t)count * (size_t)pixels, classes, opt, &wsum, &denom);
    if (st) return st;
    cnn_reduction red = opt->reduction;
    /* The mean over nothing (all ignored, or target weights summing to 0) is NaN, and so is
     * the gradient of every element not ignored, as in PyTorch. */
    double scale = red != CNN_REDUCTION_MEAN ? 1.0 : denom != 0.0 ? 1.0 / denom : NAN;
    int finite =
        ce_elements(logits, labels, count, classes, pixels, opt, wsum, scale, &total, loss, grad);
    if (red == CNN_REDUCTION_NONE) return finite ? CNN_STATUS_OK : CNN_STATUS_NUMERIC;
    *loss = (float)(red == CNN_REDUCTION_MEAN ? total * scale : total);
    return isfinite(*loss) ? CNN_STATUS_OK : CNN_STATUS_NUMERIC;
}

cnn_status cnn_loss_ce_part(const float *logits, const int32_t *labels, int count, int classes,
                            int pixels, float smoothing, const int32_t *labels_b,
                            const float *mix, double scale, double *total, float *grad) {
    cnn_ce_options o = {.reduction = CNN_REDUCTION_SUM,
                        .smoothing = smoothing,
                        .labels_b = labels_b,
                        .mix = mix};
    double wsum, denom;
    if (count < 1 || classes < 1 || pixels < 1) return CNN_STATUS_SHAPE;
    cnn_status st = ce_check(labels, (size_t)count * (size_t)pixels, classes, &o, &wsum, &denom);
    if (st) return st;
    ce_elements(logits, labels, count, classes, pixels, &o, wsum, scale, total, NULL, grad);
    return CNN_STATUS_OK;
}

cnn_status cnn_loss_mse_part(const float *pred, const float *target, size_t count,
                             double scale, double *total, float *grad) {
    if (count == 0) return CNN_STATUS_SHAPE;
    *total = 0.0;
    for (size_t i = 0; i < count; i++) {
        double d = (double)pred[i] - target[i];
        *total += d * d;
        if (grad) grad[i] = (float)(2.0 * d * scale);
    }
    return CNN_STATUS_OK;
}

cnn_status cnn_loss_mse(const float *pred, const float *target, size_t count, float *loss,
                        float *grad) {
    double total, scale = 1.0 / (double)count;
    cnn_status st = cnn_loss_mse_part(pred, target, count, scale, &total, grad);
    if (st) return st;
    *loss = (float)(total * scale);
    return isfinite(*loss) ? CNN_STATUS_OK : CNN_STATUS_NUMERIC;
}

cnn_status cnn_loss_bce_part(const float *logits, const float *target, size_t count,
                             double scale, double *total, float *grad) {
    if (count == 0) return CNN_STATUS_SHAPE;
    for (size_t i = 0; i < count; i++)
        if (!(target[i] >= 0.0f && target[i] <= 1.0f)) return CNN_STATUS_INVALID_ARGUMENT;
    *total = 0.0;
    for (size_t i = 0; i < count; i++) {
        double x = logits[i], t = target[i];
        /* max(x, 0) - x t + log(1 + exp(-|x|)): never overflows. */
        *total += (x > 0 ? x : 0) - x * t + log1p(exp(-fabs(x)));
        if (grad) grad[i] = (float)((1.0 / (1.0 + exp(-x)) - t) * scale);
    }
    return CNN_STATUS_OK;
}

cnn_status cnn_loss_bce_logits(const float *logits, const float *target, size_t count,
                               float *loss, float *grad) {
    double total, scale = 1.0 / (double)count;
    cnn_status st = cnn_loss_bce_part(logits, target, count, scale, &total, grad);
    if (st) return st;
    *loss = (float)(total * scale);
    return isfinite(*loss) ? CNN_STATUS_OK : CNN_STATUS_NUMERIC;
}

/*
 * loss.c - losses and their gradients with respect to the network output.
 *
 * Cross-entropy works on logits of shape (N, K, P): K classes for each of P pixels (P = 1 for
 * classification). loss = mean over N*P of  logsumexp_k(z) - z_label, computed with the
 * maximum subtracted so that logits of any size are safe; d loss / d z = (softmax(z) -
 * onehot(label)) / (N*P). Sums are accumulated in double.
 */
#include "core/internal.h"

#include <math.h>

cnn_status cnn_loss_cross_entropy(const float *logits, const int32_t *labels, int count,
                                  int classes, int pixels, float *loss, float *grad) {
    return cnn_loss_cross_entropy_smoothed(logits, labels, count, classes, pixels, 0.0f, loss,
                                           grad);
}

/* With label smoothing s the target is q = (1 - s) onehot + s / K: loss = lse - sum_k q_k z_k
 * and d loss / d z = (softmax(z) - q) / (N*P). s = 0 takes the plain path, so that its bits
 * do not depend on the smoothing code. */
cnn_status cnn_loss_cross_entropy_smoothed(const float *logits, const int32_t *labels,
                                           int count, int classes, int pixels, float smoothing,
                                           float *loss, float *grad) {
    if (count < 1 || classes < 1 || pixels < 1) return CNN_STATUS_SHAPE;
    if (!(smoothing >= 0.0f && smoothing < 1.0f)) return CNN_STATUS_INVALID_ARGUMENT;
    double off = (double)smoothing / classes, on = 1.0 - smoothing + off;
    for (size_t i = 0; i < (size_t)count * (size_t)pixels; i++)
        if (labels[i] < 0 || labels[i] >= classes) return CNN_STATUS_INVALID_ARGUMENT;
    double total = 0.0;
    double scale = 1.0 / ((double)count * pixels);
    for (int n = 0; n < count; n++) {
        const float *z = logits + (size_t)n * classes * pixels;
        float *g = grad ? grad + (size_t)n * classes * pixels : NULL;
        for (int p = 0; p < pixels; p++) {
            float m = z[p];
            for (int k = 1; k < classes; k++)
                if (z[(size_t)k * pixels + p] > m) m = z[(size_t)k * pixels + p];
            double sum = 0.0;
            for (int k = 0; k < classes; k++) sum += exp((double)z[(size_t)k * pixels + p] - m);
            int label = labels[(size_t)n * pixels + p];
            double lse = log(sum) + m;
            if (smoothing == 0.0f) {
                total += lse - z[(size_t)label * pixels + p];
            } else {
                double zq = 0.0;
                for (int k = 0; k < classes; k++)
                    zq += (k == label ? on : off) * z[(size_t)k * pixels + p];
                total += lse - zq;
            }
            if (g)
                for (int k = 0; k < classes; k++) {
                    double sm = exp((double)z[(size_t)k * pixels + p] - lse);
                    double q = smoothing == 0.0f ? (double)(k == label) : (k == label ? on : off);
                    g[(size_t)k * pixels + p] = (float)((sm - q) * scale);
                }
        }
    }
    *loss = (float)(total * scale);
    return isfinite(*loss) ? CNN_STATUS_OK : CNN_STATUS_NUMERIC;
}

cnn_status cnn_loss_mse(const float *pred, const float *target, size_t count, float *loss,
                        float *grad) {
    if (count == 0) return CNN_STATUS_SHAPE;
    double total = 0.0, scale = 1.0 / (double)count;
    for (size_t i = 0; i < count; i++) {
        double d = (double)pred[i] - target[i];
        total += d * d;
        if (grad) grad[i] = (float)(2.0 * d * scale);
    }
    *loss = (float)(total * scale);
    return isfinite(*loss) ? CNN_STATUS_OK : CNN_STATUS_NUMERIC;
}

cnn_status cnn_loss_bce_logits(const float *logits, const float *target, size_t count,
                               float *loss, float *grad) {
    if (count == 0) return CNN_STATUS_SHAPE;
    for (size_t i = 0; i < count; i++)
        if (!(target[i] >= 0.0f && target[i] <= 1.0f)) return CNN_STATUS_INVALID_ARGUMENT;
    double total = 0.0, scale = 1.0 / (double)count;
    for (size_t i = 0; i < count; i++) {
        double x = logits[i], t = target[i];
        /* max(x, 0) - x t + log(1 + exp(-|x|)): never overflows. */
        total += (x > 0 ? x : 0) - x * t + log1p(exp(-fabs(x)));
        if (grad) grad[i] = (float)((1.0 / (1.0 + exp(-x)) - t) * scale);
    }
    *loss = (float)(total * scale);
    return isfinite(*loss) ? CNN_STATUS_OK : CNN_STATUS_NUMERIC;
}

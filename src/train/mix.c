/*
 * mix.c - mixup (Zhang et al. 2018) and CutMix (Yun et al. 2019): training samples blended
 * in pairs, each keeping two labels and the share of each (cnn_mix_batch). The loss reads
 * them as mixed targets (cnn_ce_options.labels_b and .mix).
 */
#include "../core/internal.h"

#include <math.h>

/* mixup: a = lam a + (1 - lam) b and b = lam b + (1 - lam) a, element by element. */
static void blend(float *a, float *b, size_t n, float lam) {
    float rest = 1.0f - lam;
    for (size_t i = 0; i < n; i++) {
        float va = a[i], vb = b[i];
        a[i] = lam * va + rest * vb;
        b[i] = lam * vb + rest * va;
    }
}

/* CutMix: a rectangle with sides sqrt(1 - lam) times the image's (rounded down), its centre
 * drawn uniformly over the pixels, clipped at the borders, swapped between a and b in every
 * channel. Returns the share of the image outside it: what each keeps of its own. */
static double cut(cnn_rng *rng, float *a, float *b, int c, int h, int w, double lam) {
    double side = sqrt(1.0 - lam);
    int ch = (int)(side * h), cw = (int)(side * w);
    int cy = (int)cnn_rng_below(rng, (uint32_t)h), cx = (int)cnn_rng_below(rng, (uint32_t)w);
    int y0 = cnn_clampi(cy - ch / 2, 0, h), y1 = cnn_clampi(cy - ch / 2 + ch, 0, h);
    int x0 = cnn_clampi(cx - cw / 2, 0, w), x1 = cnn_clampi(cx - cw / 2 + cw, 0, w);
    for (int k = 0; k < c; k++)
        for (int y = y0; y < y1; y++) {
            size_t row = ((size_t)k * h + y) * w;
            for (int x = x0; x < x1; x++) {
                float t = a[row + x];
                a[row + x] = b[row + x];
                b[row + x] = t;
            }
        }
    return 1.0 - (double)(y1 - y0) * (x1 - x0) / ((double)h * w);
}

cnn_status cnn_mix_batch(float *x, const int32_t *y, int count, const cnn_shape *shape,
                         int first, float mixup, float cutmix, uint64_t seed, int32_t *y_b,
                         float *lam) {
    if (count < 0 || count % 2 || first < 0 || first % 2 || !(mixup >= 0 && mixup < INFINITY) ||
        !(cutmix >= 0 && cutmix < INFINITY))
        return CNN_STATUS_INVALID_ARGUMENT;
    if (cutmix > 0 && shape->rank != 3) return CNN_STATUS_SHAPE;
    size_t n = cnn_shape_numel(shape);
    for (int j = 0; j < count / 2; j++) {
        int i = 2 * j;
        float *a = x + (size_t)i * n, *b = a + n;
        double share = 1.0;
        if (mixup > 0 || cutmix > 0) {
            cnn_rng rng;
            cnn_rng_seed(&rng, cnn_seed_mix(seed, (uint64_t)(first / 2 + j)));
            int use_cut = cutmix > 0 && (mixup == 0 || cnn_rng_uniform(&rng) < 0.5f);
            double alpha = use_cut ? cutmix : mixup;
            share = cnn_rng_beta(&rng, alpha, alpha);
            if (use_cut)
                share = cut(&rng, a, b, shape->dim[0], shape->dim[1], shape->dim[2], share);
            else
                blend(a, b, n, (float)share);
        }
        y_b[i] = y[i + 1];
        y_b[i + 1] = y[i];
        lam[i] = lam[i + 1] = (float)share;
    }
    return CNN_STATUS_OK;
}

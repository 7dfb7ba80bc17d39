/*
 * augment.c - random data augmentation of one (C, H, W) image in place: the transforms of
 * augment.h, and cnn_augment_image, which draws their random choices and applies the enabled
 * ones in the order of the fields of cnn_augment.
 *
 * Randomness: the seed seeds one generator, which hands every transform (enabled or not) a
 * seed of its own. A sample's augmentation is so a function of (seed, image) alone, and
 * switching one transform on or off does not change the draws of the others.
 */
#include "augment.h"

#include <errno.h>
#include <math.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

/* The largest blur radius: far beyond any image side, where a wider kernel changes nothing
 * that matters but the time it takes. */
#define BLUR_MAX_RADIUS 65536

void cnn_aug_hflip(float *x, int c, int h, int w) {
    for (size_t row = 0; row < (size_t)c * (size_t)h; row++) {
        float *p = x + row * (size_t)w;
        for (int i = 0, j = w - 1; i < j; i++, j--) {
            float t = p[i];
            p[i] = p[j];
            p[j] = t;
        }
    }
}

void cnn_aug_vflip(float *x, int c, int h, int w) {
    for (int ch = 0; ch < c; ch++) {
        float *plane = x + (size_t)ch * h * w;
        for (int i = 0, j = h - 1; i < j; i++, j--) {
            float *a = plane + (size_t)i * w, *b = plane + (size_t)j * w;
            for (int k = 0; k < w; k++) {
                float t = a[k];
                a[k] = b[k];
                b[k] = t;
            }
        }
    }
}

void cnn_aug_shift_copy(const float *src, float *dst, int c, int h, int w, int oy, int ox,
                        const float *fill) {
    for (int ch = 0; ch < c; ch++) {
        float f = fill ? fill[ch] : 0.0f;
        for (int y = 0; y < h; y++) {
            float *d = dst + ((size_t)ch * h + y) * w;
            int sy = y + oy;
            if (sy < 0 || sy >= h) {
                for (int i = 0; i < w; i++) d[i] = f;
                continue;
            }
            const float *s = src + ((size_t)ch * h + sy) * w;
            for (int i = 0; i < w; i++) {
                int sx = i + ox;
                d[i] = sx >= 0 && sx < w ? s[sx] : f;
            }
        }
    }
}

/* out[y][i] = x[y + oy][i + ox], 0 outside: the common core of padded crops and shifts. */
static void shift(float *x, int c, int h, int w, int oy, int ox, float *scratch) {
    memcpy(scratch, x, (size_t)c * h * w * sizeof *x);
    cnn_aug_shift_copy(scratch, x, c, h, w, oy, ox, NULL);
}

void cnn_aug_crop_pad(float *x, int c, int h, int w, int pad, int dy, int dx, float *scratch) {
    CNN_ASSERT(pad >= 0 && dy >= 0 && dy <= 2LL * pad && dx >= 0 && dx <= 2LL * pad);
    shift(x, c, h, w, dy - pad, dx - pad, scratch);
}

void cnn_aug_translate(float *x, int c, int h, int w, int dy, int dx, float *scratch) {
    shift(x, c, h, w, -dy, -dx, scratch);
}

void cnn_aug_resized_crop(float *x, int c, int h, int w, int top, int left, int crop_h,
                          int crop_w, float *scratch) {
    /* The first pass needs C * crop_h * W <= C*H*W floats, the result C*H*W: the two halves
     * of scratch. */
    size_t n = (size_t)c * h * w;
    cnn_resize_bilinear(x, c, h, w, top, left, crop_h, crop_w, scratch + n, h, w, scratch);
    memcpy(x, scratch + n, n * sizeof *x);
}

void cnn_aug_rot90(float *x, int c, int h, int w, int k, float *scratch) {
    k = ((k % 4) + 4) % 4;
    CNN_ASSERT(k % 2 == 0 || h == w);
    if (k == 0) return;
    size_t n = (size_t)c * h * w;
    memcpy(scratch, x, n * sizeof *x);
    for (int ch = 0; ch < c; ch++) {
        const float *s = scratch + (size_t)ch * h * w;
        float *d = x + (size_t)ch * h * w;
        for (int i = 0; i < h; i++)
            for (int j = 0; j < w; j++) {
                float v;
                if (k == 1) v = s[(size_t)j * w + (w - 1 - i)];                /* h == w */
                else if (k == 2) v = s[(size_t)(h - 1 - i) * w + (w - 1 - j)];
                else v = s[(size_t)(h - 1 - j) * w + i];                       /* h == w */
                d[(size_t)i * w + j] = v;
            }
    }
}

void cnn_aug_rotate(float *x, int c, int h, int w, float degrees, float *scratch) {
    size_t n = (size_t)c * h * w;
    memcpy(scratch, x, n * sizeof *x);
    /* Double for the coordinates, so that a quarter turn lands on pixel centres up to ~1e-15
     * and matches cnn_aug_rot90 to float precision. */
    double a = degrees * (3.14159265358979323846 / 180.0), cs = cos(a), sn = sin(a);
    double cx = (w - 1) / 2.0, cy = (h - 1) / 2.0;
    for (int y = 0; y < h; y++)
        for (int i = 0; i < w; i++) {
            double dx = i - cx, dy = y - cy;
            double sx = cx + dx * cs - dy * sn, sy = cy + dx * sn + dy * cs;
            double fx0 = floor(sx), fy0 = floor(sy);
            double fx = sx - fx0, fy = sy - fy0;
            /* Far outside (or not a number, from an infinite angle) every corner is 0: keeps
             * the int conversions below defined. */
            if (!(fx0 >= -1 && fx0 <= w && fy0 >= -1 && fy0 <= h)) {
                for (int ch = 0; ch < c; ch++) x[((size_t)ch * h + y) * w + i] = 0.0f;
                continue;
            }
            int x0 = (int)fx0, y0 = (int)fy0;
            double wt[4] = {(1 - fx) * (1 - fy), fx * (1 - fy), (1 - fx) * fy, fx * fy};
            int px[4] = {x0, x0 + 1, x0, x0 + 1}, py[4] = {y0, y0, y0 + 1, y0 + 1};
            for (int ch = 0; ch < c; ch++) {
                const float *s = scratch + (size_t)ch * h * w;
                double v = 0.0;
                for (int q = 0; q < 4; q++)
                    if (px[q] >= 0 && px[q] < w && py[q] >= 0 && py[q] < h)
                        v += wt[q] * s[(size_t)py[q] * w + px[q]];
                x[((size_t)ch * h + y) * w + i] = (float)v;
            }
        }
}

void cnn_aug_brightness(float *x, int c, int h, int w, float delta) {
    size_t n = (size_t)c * h * w;
    for (size_t k = 0; k < n; k++) x[k] += delta;
}

void cnn_aug_contrast(float *x, int c, int h, int w, float factor) {
    size_t plane = (size_t)h * w;
    for (int ch = 0; ch < c; ch++) {
        float *p = x + (size_t)ch * plane;
        double sum = 0.0;
        for (size_t k = 0; k < plane; k++) sum += p[k];
        float mean = (float)(sum / (double)plane);
        for (size_t k = 0; k < plane; k++) p[k] = mean + factor * (p[k] - mean);
    }
}

void cnn_aug_grey(float *x, int c, int h, int w) {
    if (c != 3) return;
    size_t plane = (size_t)h * w;
    float *r = x, *g = x + plane, *b = x + 2 * plane;
    for (size_t k = 0; k < plane; k++) {
        float v = 0.299f * r[k] + 0.587f * g[k] + 0.114f * b[k];
        r[k] = g[k] = b[k] = v;
    }
}

void cnn_aug_cutout(float *x, int c, int h, int w, int cy, int cx, int side) {
    int y0 = cy - side / 2, x0 = cx - side / 2, y1 = y0 + side, x1 = x0 + side;
    y0 = y0 < 0 ? 0 : y0;
    x0 = x0 < 0 ? 0 : x0;
    y1 = y1 > h ? h : y1;
    x1 = x1 > w ? w : x1;
    if (y0 >= y1 || x0 >= x1) return;
    for (int ch = 0; ch < c; ch++)
        for (int y = y0; y < y1; y++)
            memset(x + ((size_t)ch * h + y) * w + x0, 0, (size_t)(x1 - x0) * sizeof *x);
}

void cnn_aug_noise(float *x, int c, int h, int w, float std, cnn_rng *rng) {
    size_t n = (size_t)c * h * w;
    for (size_t k = 0; k < n; k++) x[k] += std * cnn_rng_normal(rng);
}

void cnn_aug_blur(float *x, int c, int h, int w, float sigma, float *scratch) {
    CNN_ASSERT(sigma > 0);
    double r3 = ceil(3.0 * sigma);
    int r = r3 > BLUR_MAX_RADIUS ? BLUR_MAX_RADIUS : (int)r3;
    double norm = 0.0, inv2s2 = 1.0 / (2.0 * (double)sigma * sigma);
    for (int t = -r; t <= r; t++) norm += exp(-(double)t * t * inv2s2);
    size_t rows = (size_t)c * h, n = rows * w;
    /* Each pass runs tap by tap over the whole image, so the kernel is computed once per tap
     * and never stored (no allocation whatever the radius). Rows: x -> scratch. */
    memset(scratch, 0, n * sizeof *scratch);
    for (int t = -r; t <= r; t++) {
        float wt = (float)(exp(-(double)t * t * inv2s2) / norm);
        for (size_t row = 0; row < rows; row++) {
            const float *s = x + row * w;
            float *d = scratch + row * w;
            for (int i = 0; i < w; i++) d[i] += wt * s[cnn_clampi(i + t, 0, w - 1)];
        }
    }
    /* Columns: scratch -> x. */
    memset(x, 0, n * sizeof *x);
    for (int t = -r; t <= r; t++) {
        float wt = (float)(exp(-(double)t * t * inv2s2) / norm);
        for (int ch = 0; ch < c; ch++)
            for (int y = 0; y < h; y++) {
                const float *s = scratch + ((size_t)ch * h + cnn_clampi(y + t, 0, h - 1)) * w;
                float *d = x + ((size_t)ch * h + y) * w;
                for (int i = 0; i < w; i++) d[i] += wt * s[i];
            }
    }
}

void cnn_aug_sobel(float *x, int c, int h, int w, float *scratch) {
    size_t n = (size_t)c * h * w;
    memcpy(scratch, x, n * sizeof *x);
    for (int ch = 0; ch < c; ch++) {
        const float *s = scratch + (size_t)ch * h * w;
        float *d = x + (size_t)ch * h * w;
        for (int y = 0; y < h; y++)
            for (int i = 0; i < w; i++) {
                /* The 3x3 neighbourhood, 0 beyond the borders. */
                float p[3][3];
                for (int a = 0; a < 3; a++)
                    for (int b = 0; b < 3; b++) {
                        int yy = y + a - 1, xx = i + b - 1;
                        p[a][b] = yy >= 0 && yy < h && xx >= 0 && xx < w
                                      ? s[(size_t)yy * w + xx]
                                      : 0.0f;
                    }
                float gx = (p[0][0] + 2 * p[1][0] + p[2][0]) - (p[0][2] + 2 * p[1][2] + p[2][2]);
                float gy = (p[0][0] + 2 * p[0][1] + p[0][2]) - (p[2][0] + 2 * p[2][1] + p[2][2]);
                d[(size_t)y * w + i] = sqrtf(gx * gx + gy * gy);
            }
    }
}

/* RandomResizedCrop's choice of window (torchvision): ten tries of an area fraction in
 * [scale, 1] and a log-uniform aspect ratio in [3/4, 4/3] that fit in the image, else the
 * central crop of the whole image with its aspect ratio clamped to that range. */
static void draw_resized_crop(cnn_rng *rng, int h, int w, float scale, int *top, int *left,
                              int *ch, int *cw) {
    double area = (double)h * w, lo = log(3.0 / 4.0), hi = log(4.0 / 3.0);
    for (int attempt = 0; attempt < 10; attempt++) {
        double target = area * (scale + (1.0 - scale) * cnn_rng_uniform(rng));
        double ratio = exp(lo + (hi - lo) * cnn_rng_uniform(rng));
        long cwl = lround(sqrt(target * ratio)), chl = lround(sqrt(target / ratio));
        if (cwl > 0 && cwl <= w && chl > 0 && chl <= h) {
            *ch = (int)chl;
            *cw = (int)cwl;
            *top = (int)cnn_rng_below(rng, (uint32_t)(h - *ch + 1));
            *left = (int)cnn_rng_below(rng, (uint32_t)(w - *cw + 1));
            return;
        }
    }
    double in_ratio = (double)w / h;
    *cw = w;
    *ch = h;
    if (in_ratio < 3.0 / 4.0) *ch = cnn_clampi((int)lround(w / (3.0 / 4.0)), 1, h);
    else if (in_ratio > 4.0 / 3.0) *cw = cnn_clampi((int)lround(h * (4.0 / 3.0)), 1, w);
    *top = (h - *ch) / 2;
    *left = (w - *cw) / 2;
}

enum {
    T_HFLIP, T_VFLIP, T_CROP_PAD, T_CROP_SCALE, T_ROT90, T_ROTATE, T_TRANSLATE, T_BRIGHTNESS,
    T_CONTRAST, T_GREY, T_CUTOUT, T_NOISE, T_BLUR, T_SOBEL,
    T_ERASE, /* after the others: adding it left their generators' seeds as they were */
    T_COUNT
};

/* Random erasing as torchvision's RandomErasing(scale=(0.02, 0.33), ratio=(0.3, 3.3),
 * value=0): up to ten draws of a rectangle's area and log aspect ratio; the first that fits
 * is set to zero, and when none fits nothing is. */
static void erase(float *x, int c, int h, int w, cnn_rng *rng) {
    const double lo = log(0.3), hi = log(3.3);
    for (int attempt = 0; attempt < 10; attempt++) {
        double area = (double)h * w * (0.02 + 0.31 * cnn_rng_uniform(rng));
        double aspect = exp(lo + (hi - lo) * cnn_rng_uniform(rng));
        int eh = (int)lround(sqrt(area * aspect)), ew = (int)lround(sqrt(area / aspect));
        if (eh < 1 || ew < 1 || eh >= h || ew >= w) continue;
        int top = (int)cnn_rng_below(rng, (uint32_t)(h - eh + 1));
        int left = (int)cnn_rng_below(rng, (uint32_t)(w - ew + 1));
        for (int ch = 0; ch < c; ch++)
            for (int y = top; y < top + eh; y++)
                memset(x + ((size_t)ch * h + y) * w + left, 0, (size_t)ew * sizeof *x);
        return;
    }
}

void cnn_augment_image(const cnn_augment *aug, float *x, int c, int h, int w, uint64_t seed,
                       float *scratch) {
    CNN_ASSERT(aug && x && scratch && c > 0 && h > 0 && w > 0);
    /* Nothing switched on (the trainer calls this for every sample): no generators to seed. */
    static const cnn_augment none;
    if (!memcmp(aug, &none, sizeof none)) return;
    cnn_rng master, r[T_COUNT];
    cnn_rng_seed(&master, seed);
    for (int t = 0; t < T_COUNT; t++) cnn_rng_seed(&r[t], cnn_rng_u64(&master));

    if (aug->hflip > 0 && cnn_rng_uniform(&r[T_HFLIP]) < aug->hflip) cnn_aug_hflip(x, c, h, w);
    if (aug->vflip > 0 && cnn_rng_uniform(&r[T_VFLIP]) < aug->vflip) cnn_aug_vflip(x, c, h, w);
    if (aug->crop_pad > 0) {
        uint32_t span = 2 * (uint32_t)aug->crop_pad + 1;
        int dy = (int)cnn_rng_below(&r[T_CROP_PAD], span);
        int dx = (int)cnn_rng_below(&r[T_CROP_PAD], span);
        cnn_aug_crop_pad(x, c, h, w, aug->crop_pad, dy, dx, scratch);
    }
    if (aug->crop_scale > 0) {
        int top, left, ch, cw;
        draw_resized_crop(&r[T_CROP_SCALE], h, w, aug->crop_scale, &top, &left, &ch, &cw);
        cnn_aug_resized_crop(x, c, h, w, top, left, ch, cw, scratch);
    }
    if (aug->rot90) {
        /* A quarter turn would change the shape of a non-square image: only half turns. */
        int k = h == w ? (int)cnn_rng_below(&r[T_ROT90], 4)
                       : 2 * (int)cnn_rng_below(&r[T_ROT90], 2);
        cnn_aug_rot90(x, c, h, w, k, scratch);
    }
    if (aug->rotate > 0) {
        float deg = (2.0f * cnn_rng_uniform(&r[T_ROTATE]) - 1.0f) * aug->rotate;
        cnn_aug_rotate(x, c, h, w, deg, scratch);
    }
    if (aug->translate > 0) {
        /* Whole pixels, uniformly in [-m, m] with m = floor(translate * side), at most the
         * side (beyond that everything is shifted out). */
        float fy = aug->translate * h, fx = aug->translate * w;
        int my = fy < h ? (int)fy : h, mx = fx < w ? (int)fx : w;
        int dy = (int)cnn_rng_below(&r[T_TRANSLATE], 2 * (uint32_t)my + 1) - my;
        int dx = (int)cnn_rng_below(&r[T_TRANSLATE], 2 * (uint32_t)mx + 1) - mx;
        if (dy || dx) cnn_aug_translate(x, c, h, w, dy, dx, scratch);
    }
    if (aug->brightness > 0)
        cnn_aug_brightness(x, c, h, w,
                           (2.0f * cnn_rng_uniform(&r[T_BRIGHTNESS]) - 1.0f) * aug->brightness);
    if (aug->contrast > 0)
        cnn_aug_contrast(x, c, h, w,
                         1.0f + (2.0f * cnn_rng_uniform(&r[T_CONTRAST]) - 1.0f) * aug->contrast);
    if (aug->grey > 0 && cnn_rng_uniform(&r[T_GREY]) < aug->grey) cnn_aug_grey(x, c, h, w);
    if (aug->cutout > 0) {
        int cy = (int)cnn_rng_below(&r[T_CUTOUT], (uint32_t)h);
        int cx = (int)cnn_rng_below(&r[T_CUTOUT], (uint32_t)w);
        cnn_aug_cutout(x, c, h, w, cy, cx, aug->cutout);
    }
    if (aug->erase > 0 && cnn_rng_uniform(&r[T_ERASE]) < aug->erase) erase(x, c, h, w, &r[T_ERASE]);
    if (aug->noise > 0) cnn_aug_noise(x, c, h, w, aug->noise, &r[T_NOISE]);
    if (aug->blur > 0) cnn_aug_blur(x, c, h, w, aug->blur, scratch);
    if (aug->sobel) cnn_aug_sobel(x, c, h, w, scratch);
}

/* ---------------------------------------------------------------------------------------------
 * Augmentations as text: one row per field of cnn_augment, with its default value when the
 * name is given alone and its range.
 * ------------------------------------------------------------------------------------------- */

static const struct aug_key {
    const char *name;
    int is_int;
    size_t off;
    double def, lo, hi;
} AUG_KEYS[] = {
    {"hflip", 0, offsetof(cnn_augment, hflip), 0.5, 0, 1},
    {"vflip", 0, offsetof(cnn_augment, vflip), 0.5, 0, 1},
    {"crop", 1, offsetof(cnn_augment, crop_pad), 4, 1, 64},
    {"resized-crop", 0, offsetof(cnn_augment, crop_scale), 0.5, 0.05, 1},
    {"rot90", 1, offsetof(cnn_augment, rot90), 1, 0, 1},
    {"rotate", 0, offsetof(cnn_augment, rotate), 10, 0, 180},
    {"translate", 0, offsetof(cnn_augment, translate), 0.1, 0, 0.5},
    {"brightness", 0, offsetof(cnn_augment, brightness), 0.2, 0, 1},
    {"contrast", 0, offsetof(cnn_augment, contrast), 0.2, 0, 1},
    {"grey", 0, offsetof(cnn_augment, grey), 0.2, 0, 1},
    {"cutout", 1, offsetof(cnn_augment, cutout), 8, 1, 1024},
    {"erase", 0, offsetof(cnn_augment, erase), 0.5, 0, 1},
    {"noise", 0, offsetof(cnn_augment, noise), 0.05, 0, 1},
    {"blur", 0, offsetof(cnn_augment, blur), 1, 0.1, 10},
    {"sobel", 1, offsetof(cnn_augment, sobel), 1, 0, 1},
};
#define N_AUG_KEYS (sizeof AUG_KEYS / sizeof AUG_KEYS[0])

static double aug_get(const cnn_augment *a, const struct aug_key *k) {
    const char *p = (const char *)a + k->off;
    return k->is_int ? *(const int *)p : *(const float *)p;
}

/* One item, name or name=value, of length len at w. */
static cnn_status aug_item(const char *w, size_t len, cnn_augment *a, char *err, size_t errlen) {
    char word[64];
    if (len >= sizeof word) len = sizeof word - 1;
    memcpy(word, w, len);
    word[len] = 0;
    char *eq = strchr(word, '=');
    const char *val = eq ? eq + 1 : NULL;
    if (eq) *eq = 0;
    for (size_t i = 0; i < N_AUG_KEYS; i++) {
        const struct aug_key *k = &AUG_KEYS[i];
        if (strcmp(word, k->name) != 0) continue;
        double v = k->def;
        if (val) {
            char *end;
            errno = 0;
            v = strtod(val, &end);
            if (!*val || *end || errno || !(v >= k->lo && v <= k->hi) || (k->is_int && v != (int)v))
                return cnn_set_error(err, errlen, CNN_STATUS_INVALID_ARGUMENT,
                                     "%s=%s: expected %s from %g to %g", word, val,
                                     k->is_int ? "an integer" : "a number", k->lo, k->hi);
        }
        char *p = (char *)a + k->off;
        if (k->is_int) *(int *)p = (int)v;
        else *(float *)p = (float)v;
        return CNN_STATUS_OK;
    }
    return cnn_set_error(err, errlen, CNN_STATUS_INVALID_ARGUMENT,
                         "unknown transform '%s' (known: hflip[=P], vflip[=P], crop=PAD, "
                         "resized-crop=MIN_AREA, rot90, rotate=DEG, translate=FRAC, "
                         "brightness=B, contrast=C, grey=P, cutout=SIZE, erase=P, noise=STD, blur=SIGMA, "
                         "sobel)",
                         word);
}

cnn_status cnn_augment_parse(const char *spec, cnn_augment *aug, char *err, size_t errlen) {
    memset(aug, 0, sizeof *aug);
    if (!spec || !*spec || !strcmp(spec, "none")) return CNN_STATUS_OK;
    for (const char *s = spec;;) {
        const char *comma = strchr(s, ',');
        size_t len = comma ? (size_t)(comma - s) : strlen(s);
        if (len == 0) {
            memset(aug, 0, sizeof *aug);
            return cnn_set_error(err, errlen, CNN_STATUS_INVALID_ARGUMENT, "%s: an empty item", spec);
        }
        cnn_status st = aug_item(s, len, aug, err, errlen);
        if (st) {
            memset(aug, 0, sizeof *aug);
            return st;
        }
        if (!comma) return CNN_STATUS_OK;
        s = comma + 1;
    }
}

/* The fewest significant digits (at most 9) that read back as the float v: 0.1, not
 * 0.100000001. */
static int float_digits(double v) {
    char t[64];
    int d = 1;
    for (; d < 9; d++) {
        snprintf(t, sizeof t, "%.*g", d, v);
        if ((float)strtod(t, NULL) == (float)v) break;
    }
    return d;
}

int cnn_augment_format(const cnn_augment *aug, char *buf, size_t size) {
    int n = 0;
    for (size_t i = 0; i < N_AUG_KEYS; i++) {
        double v = aug_get(aug, &AUG_KEYS[i]);
        if (v == 0) continue;
        int fits = (size_t)n < size;
        int m = snprintf(fits ? buf + n : NULL, fits ? size - (size_t)n : 0, "%s%s=%.*g",
                         n ? "," : "", AUG_KEYS[i].name, float_digits(v), v);
        if (m < 0) return m;
        n += m;
    }
    if (n == 0) n = snprintf(buf, size, "none");
    return n;
}

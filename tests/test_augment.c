/*
 * test_augment.c - each augmentation does what it must on images whose answer is known
 * (flips and quarter turns undo themselves, shifts move a known pixel, cutout zeroes exactly
 * its square, blur and Sobel on constants, impulses and steps), and cnn_augment_image is a
 * function of (seed, image): the same seed gives the same bits, another seed another image,
 * nothing enabled gives the image back.
 *
 * The transforms are called one by one through the library's internal header augment.h.
 * Scratch buffers are exactly the documented 2*C*H*W floats, so AddressSanitizer catches a
 * transform that uses more.
 */
#include "testlib.h"

#include "../src/data/augment.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* An image of c*h*w floats with values that tell every pixel apart (and none is 0). */
static float *image(int c, int h, int w, uint64_t seed) {
    float *x = malloc((size_t)c * h * w * sizeof *x);
    t_fill(x, (size_t)c * h * w, seed, 0.1f, 1.0f);
    return x;
}

static float *scratch_for(int c, int h, int w) {
    return malloc(2 * (size_t)c * h * w * sizeof(float));
}

static float *copy(const float *x, size_t n) {
    float *y = malloc(n * sizeof *y);
    memcpy(y, x, n * sizeof *y);
    return y;
}

static int same(const float *a, const float *b, size_t n) {
    return memcmp(a, b, n * sizeof *a) == 0;
}

static void test_flips(void) {
    int c = 2, h = 5, w = 6;
    size_t n = (size_t)c * h * w;
    float *x = image(c, h, w, 1), *x0 = copy(x, n);
    cnn_aug_hflip(x, c, h, w);
    T_CHECK(x[(1 * h + 2) * w + 0] == x0[(1 * h + 2) * w + 5], "hflip moves column 5 to 0");
    T_CHECK(x[(1 * h + 2) * w + 1] == x0[(1 * h + 2) * w + 4], "hflip moves column 4 to 1");
    T_CHECK(!same(x, x0, n), "hflip changed nothing");
    cnn_aug_hflip(x, c, h, w);
    T_CHECK(same(x, x0, n), "hflip twice is not the identity");
    cnn_aug_vflip(x, c, h, w);
    T_CHECK(x[(1 * h + 0) * w + 3] == x0[(1 * h + 4) * w + 3], "vflip moves row 4 to 0");
    T_CHECK(x[(1 * h + 2) * w + 3] == x0[(1 * h + 2) * w + 3], "vflip keeps the middle row");
    cnn_aug_vflip(x, c, h, w);
    T_CHECK(same(x, x0, n), "vflip twice is not the identity");
    free(x);
    free(x0);
}

static void test_rot90(void) {
    /* One quarter turn of [1 2 3; 4 5 6; 7 8 9]: the transpose [1 4 7; 2 5 8; 3 6 9] flipped
     * upside down. The second channel is the first plus 10. */
    float x[18] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 11, 12, 13, 14, 15, 16, 17, 18, 19};
    float want[18] = {3, 6, 9, 2, 5, 8, 1, 4, 7, 13, 16, 19, 12, 15, 18, 11, 14, 17};
    float x0[18], s[36];
    memcpy(x0, x, sizeof x);
    cnn_aug_rot90(x, 2, 3, 3, 1, s);
    T_CHECK(same(x, want, 18), "rot90 once is not transpose-then-vflip");
    float t[18];
    memcpy(t, x0, sizeof t);
    cnn_aug_rot90(t, 2, 3, 3, 3, s);
    float back[18];
    memcpy(back, x, sizeof back);
    cnn_aug_rot90(back, 2, 3, 3, 2, s); /* 1 + 2 = 3 quarter turns */
    T_CHECK(same(t, back, 18), "rot90 k=3 differs from k=1 then k=2");
    for (int i = 0; i < 3; i++) cnn_aug_rot90(x, 2, 3, 3, 1, s);
    T_CHECK(same(x, x0, 18), "rot90 four times is not the identity");
    cnn_aug_rot90(x, 2, 3, 3, -1, s);
    T_CHECK(same(x, t, 18), "rot90 k=-1 is not k=3");

    /* Half turns of a non-square image reverse each plane. */
    int c = 2, h = 3, w = 5;
    size_t n = (size_t)c * h * w;
    float *y = image(c, h, w, 2), *y0 = copy(y, n), *sc = scratch_for(c, h, w);
    cnn_aug_rot90(y, c, h, w, 2, sc);
    int ok = 1;
    for (int ch = 0; ch < c; ch++)
        for (int k = 0; k < h * w; k++)
            ok &= y[ch * h * w + k] == y0[ch * h * w + (h * w - 1 - k)];
    T_CHECK(ok, "rot90 k=2 on 3x5 is not the reversed plane");
    free(y);
    free(y0);
    free(sc);
}

static void test_rotate(void) {
    int c = 2;
    for (int side = 5; side <= 6; side++) {
        size_t n = (size_t)c * side * side;
        float *x = image(c, side, side, 3), *x0 = copy(x, n), *s = scratch_for(c, side, side);
        cnn_aug_rotate(x, c, side, side, 0.0f, s);
        T_CHECK(same(x, x0, n), "rotate by 0 is not the identity (side %d)", side);
        /* A quarter turn lands exactly on pixel centres: bilinear is exact, borders too. */
        float *r = copy(x0, n);
        cnn_aug_rot90(r, c, side, side, 1, s);
        cnn_aug_rotate(x, c, side, side, 90.0f, s);
        char what[64];
        snprintf(what, sizeof what, "rotate 90 = rot90 k=1, %dx%d", side, side);
        t_close(what, x, r, n, 1e-5, 0);
        memcpy(x, x0, n * sizeof *x);
        memcpy(r, x0, n * sizeof *x);
        cnn_aug_rot90(r, c, side, side, 3, s);
        cnn_aug_rotate(x, c, side, side, -90.0f, s);
        snprintf(what, sizeof what, "rotate -90 = rot90 k=3, %dx%d", side, side);
        t_close(what, x, r, n, 1e-5, 0);
        free(x);
        free(x0);
        free(r);
        free(s);
    }
    /* 45 degrees of a constant 7x7 image: the centre stays, the corners come from outside
     * (zero fill), and nothing exceeds the constant. */
    float x[49], s[98];
    for (int k = 0; k < 49; k++) x[k] = 0.5f;
    cnn_aug_rotate(x, 1, 7, 7, 45.0f, s);
    T_CHECK(fabsf(x[3 * 7 + 3] - 0.5f) < 1e-6f, "rotate 45: centre %g", x[24]);
    T_CHECK(x[0] == 0.0f && x[6] == 0.0f && x[42] == 0.0f && x[48] == 0.0f,
            "rotate 45: corners not zero-filled: %g %g %g %g", x[0], x[6], x[42], x[48]);
    int ok = 1;
    for (int k = 0; k < 49; k++) ok &= x[k] >= 0.0f && x[k] <= 0.5f + 1e-6f;
    T_CHECK(ok, "rotate 45 of a constant left [0, constant]");
}

static void test_translate(void) {
    int c = 2, h = 6, w = 7;
    size_t n = (size_t)c * h * w;
    float *x = image(c, h, w, 4), *x0 = copy(x, n), *s = scratch_for(c, h, w);
    int dy = 2, dx = -3;
    cnn_aug_translate(x, c, h, w, dy, dx, s);
    int ok = 1;
    for (int ch = 0; ch < c; ch++)
        for (int y = 0; y < h; y++)
            for (int i = 0; i < w; i++) {
                int sy = y - dy, sx = i - dx;
                float want = sy >= 0 && sy < h && sx >= 0 && sx < w
                                 ? x0[((size_t)ch * h + sy) * w + sx]
                                 : 0.0f;
                ok &= x[((size_t)ch * h + y) * w + i] == want;
            }
    T_CHECK(ok, "translate (2, -3) is not a shift with zero fill");

    /* Through cnn_augment_image: an impulse moves by the drawn amount, at most
     * floor(0.25 * side) in each direction, and all else stays 0. */
    cnn_augment aug = {0};
    aug.translate = 0.25f;
    int my = (int)(0.25f * h), mx = (int)(0.25f * w), moved = 0, bad = 0;
    for (uint64_t seed = 0; seed < 50; seed++) {
        memset(x, 0, n * sizeof *x);
        x[(0 * h + 3) * w + 3] = 1.0f;
        x[(1 * h + 3) * w + 3] = 2.0f;
        cnn_augment_image(&aug, x, c, h, w, seed, s);
        int found = 0, fy = -1, fx = -1;
        for (int y = 0; y < h; y++)
            for (int i = 0; i < w; i++) {
                float v0 = x[(0 * h + y) * w + i], v1 = x[(1 * h + y) * w + i];
                if (v0 == 1.0f && v1 == 2.0f) {
                    found++;
                    fy = y;
                    fx = i;
                } else if (v0 != 0.0f || v1 != 0.0f) {
                    bad++;
                }
            }
        if (found != 1 || abs(fy - 3) > my || abs(fx - 3) > mx) bad++;
        moved += fy != 3 || fx != 3;
    }
    T_CHECK(bad == 0, "translate via cnn_augment_image: %d bad outcomes", bad);
    T_CHECK(moved > 25, "translate via cnn_augment_image moved only %d of 50", moved);
    free(x);
    free(x0);
    free(s);
}

static void test_crop_pad(void) {
    int c = 2, h = 5, w = 4, pad = 2;
    size_t n = (size_t)c * h * w;
    float *x = image(c, h, w, 5), *x0 = copy(x, n), *s = scratch_for(c, h, w);
    /* The padded image, built by hand. */
    int ph = h + 2 * pad, pw = w + 2 * pad;
    float *padded = calloc((size_t)c * ph * pw, sizeof *padded);
    for (int ch = 0; ch < c; ch++)
        for (int y = 0; y < h; y++)
            for (int i = 0; i < w; i++)
                padded[((size_t)ch * ph + y + pad) * pw + i + pad] =
                    x0[((size_t)ch * h + y) * w + i];
    int ok = 1;
    for (int dy = 0; dy <= 2 * pad; dy++)
        for (int dx = 0; dx <= 2 * pad; dx++) {
            memcpy(x, x0, n * sizeof *x);
            cnn_aug_crop_pad(x, c, h, w, pad, dy, dx, s);
            for (int ch = 0; ch < c; ch++)
                for (int y = 0; y < h; y++)
                    for (int i = 0; i < w; i++)
                        ok &= x[((size_t)ch * h + y) * w + i] ==
                              padded[((size_t)ch * ph + y + dy) * pw + i + dx];
        }
    T_CHECK(ok, "crop_pad is not the window of the padded image");

    /* Through cnn_augment_image: the size is kept and the result is one of the windows. */
    cnn_augment aug = {0};
    aug.crop_pad = pad;
    int matched = 0, changed = 0;
    for (uint64_t seed = 0; seed < 20; seed++) {
        memcpy(x, x0, n * sizeof *x);
        cnn_augment_image(&aug, x, c, h, w, seed, s);
        int any = 0;
        for (int dy = 0; dy <= 2 * pad && !any; dy++)
            for (int dx = 0; dx <= 2 * pad && !any; dx++) {
                int eq = 1;
                for (int ch = 0; ch < c; ch++)
                    for (int y = 0; y < h; y++)
                        for (int i = 0; i < w; i++)
                            eq &= x[((size_t)ch * h + y) * w + i] ==
                                  padded[((size_t)ch * ph + y + dy) * pw + i + dx];
                any = eq;
            }
        matched += any;
        changed += !same(x, x0, n);
    }
    T_CHECK(matched == 20, "crop_pad via cnn_augment_image: %d of 20 are padded windows", matched);
    T_CHECK(changed > 10, "crop_pad via cnn_augment_image changed only %d of 20", changed);
    free(x);
    free(x0);
    free(s);
    free(padded);
}

/* PyTorch's F.interpolate(mode="bilinear", align_corners=False) of one plane, written
 * independently of the library: the reference for enlarging. */
static float torch_bilinear(const float *p, int h, int w, int oh, int ow, int y, int i) {
    double sy = (y + 0.5) * h / oh - 0.5, sx = (i + 0.5) * w / ow - 0.5;
    if (sy < 0) sy = 0;
    if (sx < 0) sx = 0;
    int y0 = (int)sy, x0 = (int)sx;
    int y1 = y0 + (y0 < h - 1), x1 = x0 + (x0 < w - 1);
    double ly = sy - y0, lx = sx - x0;
    return (float)((1 - ly) * ((1 - lx) * p[y0 * w + x0] + lx * p[y0 * w + x1]) +
                   ly * ((1 - lx) * p[y1 * w + x0] + lx * p[y1 * w + x1]));
}

static void test_resized_crop(void) {
    int c = 2, h = 6, w = 8;
    size_t n = (size_t)c * h * w;
    float *x = image(c, h, w, 6), *x0 = copy(x, n), *s = scratch_for(c, h, w);
    cnn_aug_resized_crop(x, c, h, w, 0, 0, h, w, s);
    T_CHECK(same(x, x0, n), "resized crop of the whole image is not the identity");
    /* The 3x5 window at (2, 1), enlarged to 6x8, against PyTorch's formula. */
    int top = 2, left = 1, ch_ = 3, cw = 5;
    float *want = malloc(n * sizeof *want), win[15];
    for (int ch = 0; ch < c; ch++) {
        for (int y = 0; y < ch_; y++)
            for (int i = 0; i < cw; i++)
                win[y * cw + i] = x0[((size_t)ch * h + top + y) * w + left + i];
        for (int y = 0; y < h; y++)
            for (int i = 0; i < w; i++)
                want[((size_t)ch * h + y) * w + i] = torch_bilinear(win, ch_, cw, h, w, y, i);
    }
    cnn_aug_resized_crop(x, c, h, w, top, left, ch_, cw, s);
    t_close("resized crop 3x5 -> 6x8 vs torch bilinear", x, want, n, 1e-6, 1e-6);

    /* Through cnn_augment_image: a constant stays constant, and the image changes. */
    cnn_augment aug = {0};
    aug.crop_scale = 0.3f;
    for (size_t k = 0; k < n; k++) x[k] = 0.25f;
    cnn_augment_image(&aug, x, c, h, w, 7, s);
    for (size_t k = 0; k < n; k++) want[k] = 0.25f;
    t_close("resized crop of a constant", x, want, n, 1e-6, 0);
    int changed = 0;
    for (uint64_t seed = 0; seed < 10; seed++) {
        memcpy(x, x0, n * sizeof *x);
        cnn_augment_image(&aug, x, c, h, w, seed, s);
        changed += !same(x, x0, n);
    }
    T_CHECK(changed >= 8, "crop_scale changed only %d of 10 images", changed);
    free(x);
    free(x0);
    free(s);
    free(want);
}

static void test_cutout(void) {
    int c = 2, h = 7, w = 9;
    size_t n = (size_t)c * h * w;
    float *x = image(c, h, w, 8), *x0 = copy(x, n);
    /* (cy, cx, side): inside, clipped top-left, clipped bottom-right, odd and even sides. */
    int cases[][3] = {{3, 4, 3}, {3, 4, 4}, {0, 0, 4}, {6, 8, 5}, {1, 7, 6}, {3, 3, 20}};
    for (size_t t = 0; t < sizeof cases / sizeof cases[0]; t++) {
        int cy = cases[t][0], cx = cases[t][1], side = cases[t][2];
        memcpy(x, x0, n * sizeof *x);
        cnn_aug_cutout(x, c, h, w, cy, cx, side);
        int y0 = cy - side / 2, x_0 = cx - side / 2;
        int ok = 1, zeros = 0;
        for (int ch = 0; ch < c; ch++)
            for (int y = 0; y < h; y++)
                for (int i = 0; i < w; i++) {
                    size_t k = ((size_t)ch * h + y) * w + i;
                    int in = y >= y0 && y < y0 + side && i >= x_0 && i < x_0 + side;
                    ok &= in ? x[k] == 0.0f : x[k] == x0[k];
                    zeros += x[k] == 0.0f;
                }
        int ry = (y0 + side > h ? h : y0 + side) - (y0 < 0 ? 0 : y0);
        int rx = (x_0 + side > w ? w : x_0 + side) - (x_0 < 0 ? 0 : x_0);
        T_CHECK(ok && zeros == c * ry * rx,
                "cutout (%d, %d) side %d: %d zeros, expected %d, others unchanged: %d", cy, cx,
                side, zeros, c * ry * rx, ok);
    }
    /* Through cnn_augment_image: zeros form one square of side 3 (or its clipped part). */
    cnn_augment aug = {0};
    aug.cutout = 3;
    float *s = scratch_for(c, h, w);
    int bad = 0;
    for (uint64_t seed = 0; seed < 30; seed++) {
        memcpy(x, x0, n * sizeof *x);
        cnn_augment_image(&aug, x, c, h, w, seed, s);
        int ymin = h, ymax = -1, xmin = w, xmax = -1, zeros = 0;
        for (int y = 0; y < h; y++)
            for (int i = 0; i < w; i++)
                if (x[(size_t)y * w + i] == 0.0f) {
                    zeros++;
                    ymin = y < ymin ? y : ymin;
                    ymax = y > ymax ? y : ymax;
                    xmin = i < xmin ? i : xmin;
                    xmax = i > xmax ? i : xmax;
                }
        int ry = ymax - ymin + 1, rx = xmax - xmin + 1;
        int full_y = ymin > 0 && ymax < h - 1, full_x = xmin > 0 && xmax < w - 1;
        if (zeros != ry * rx || ry > 3 || rx > 3 || (full_y && ry != 3) || (full_x && rx != 3))
            bad++;
    }
    T_CHECK(bad == 0, "cutout via cnn_augment_image: %d of 30 not a (clipped) 3x3 square", bad);
    free(x);
    free(x0);
    free(s);
}

static void test_colour(void) {
    int c = 3, h = 4, w = 5;
    size_t n = (size_t)c * h * w, plane = (size_t)h * w;
    float *x = image(c, h, w, 9), *x0 = copy(x, n), *want = malloc(n * sizeof *want);

    cnn_aug_brightness(x, c, h, w, 0.125f);
    for (size_t k = 0; k < n; k++) want[k] = x0[k] + 0.125f;
    t_close("brightness adds 0.125", x, want, n, 0, 0);

    memcpy(x, x0, n * sizeof *x);
    cnn_aug_contrast(x, c, h, w, 0.6f);
    for (int ch = 0; ch < c; ch++) {
        double m0 = 0, m1 = 0;
        for (size_t k = 0; k < plane; k++) {
            m0 += x0[ch * plane + k];
            m1 += x[ch * plane + k];
        }
        m0 /= (double)plane;
        m1 /= (double)plane;
        T_CHECK(fabs(m0 - m1) < 1e-6, "contrast changed channel %d's mean %g -> %g", ch, m0, m1);
        for (size_t k = 0; k < plane; k++)
            want[ch * plane + k] = (float)(m0 + 0.6 * (x0[ch * plane + k] - m0));
    }
    t_close("contrast 0.6 around the channel means", x, want, n, 1e-6, 0);

    memcpy(x, x0, n * sizeof *x);
    cnn_aug_grey(x, c, h, w);
    for (size_t k = 0; k < plane; k++) {
        float g = 0.299f * x0[k] + 0.587f * x0[plane + k] + 0.114f * x0[2 * plane + k];
        want[k] = want[plane + k] = want[2 * plane + k] = g;
    }
    t_close("grey: three equal BT.601 channels", x, want, n, 1e-7, 0);
    float one[4] = {0.1f, 0.2f, 0.3f, 0.4f}, one0[4];
    memcpy(one0, one, sizeof one);
    cnn_aug_grey(one, 1, 2, 2);
    T_CHECK(same(one, one0, 4), "grey changed a one-channel image");

    /* Through cnn_augment_image: brightness is one constant in [-b, b]. */
    cnn_augment aug = {0};
    aug.brightness = 0.2f;
    float *s = scratch_for(c, h, w);
    memcpy(x, x0, n * sizeof *x);
    cnn_augment_image(&aug, x, c, h, w, 11, s);
    float d = x[0] - x0[0];
    int ok = fabsf(d) <= 0.2f + 1e-6f && d != 0.0f;
    for (size_t k = 0; k < n; k++) ok &= fabsf((x[k] - x0[k]) - d) < 1e-6f;
    T_CHECK(ok, "brightness via cnn_augment_image is not one constant in [-0.2, 0.2] (%g)", d);
    free(x);
    free(x0);
    free(want);
    free(s);
}

static void test_noise(void) {
    int c = 3, h = 256, w = 256;
    size_t n = (size_t)c * h * w;
    float *x = calloc(n, sizeof *x);
    cnn_rng rng;
    cnn_rng_seed(&rng, 12);
    cnn_aug_noise(x, c, h, w, 0.1f, &rng);
    double sum = 0, sq = 0;
    for (size_t k = 0; k < n; k++) {
        sum += x[k];
        sq += (double)x[k] * x[k];
    }
    double mean = sum / (double)n, std = sqrt(sq / (double)n - mean * mean);
    printf("  noise: mean %.2e std %.5f (asked 0.1)\n", mean, std);
    T_CHECK(fabs(std - 0.1) < 0.005, "noise std %g, asked 0.1", std);
    /* Five standard errors of the mean. */
    T_CHECK(fabs(mean) < 5 * 0.1 / sqrt((double)n), "noise mean %g", mean);
    free(x);
}

static void test_blur(void) {
    int c = 2, h = 9, w = 11;
    size_t n = (size_t)c * h * w;
    float *x = malloc(n * sizeof *x), *want = malloc(n * sizeof *want), *s = scratch_for(c, h, w);
    for (size_t k = 0; k < n; k++) x[k] = want[k] = 0.7f;
    cnn_aug_blur(x, c, h, w, 1.5f, s);
    t_close("blur of a constant", x, want, n, 1e-6, 0);

    /* An impulse far from the borders: the sum is kept (normalised kernel), the peak is the
     * square of the centre weight, and the result is the outer product of the 1-D kernel. */
    int side = 31, mid = 15;
    float sigma = 2.0f;
    size_t m = (size_t)side * side;
    float *im = calloc(m, sizeof *im), *sc = scratch_for(1, side, side);
    im[mid * side + mid] = 1.0f;
    cnn_aug_blur(im, 1, side, side, sigma, sc);
    int r = (int)ceil(3.0 * sigma);
    double norm = 0, sum = 0;
    for (int t = -r; t <= r; t++) norm += exp(-t * t / (2.0 * sigma * sigma));
    float *outer = malloc(m * sizeof *outer);
    for (int y = 0; y < side; y++)
        for (int i = 0; i < side; i++) {
            int dy = y - mid, dx = i - mid;
            double gy = abs(dy) <= r ? exp(-dy * dy / (2.0 * sigma * sigma)) / norm : 0;
            double gx = abs(dx) <= r ? exp(-dx * dx / (2.0 * sigma * sigma)) / norm : 0;
            outer[y * side + i] = (float)(gy * gx);
            sum += im[y * side + i];
        }
    T_CHECK(fabs(sum - 1.0) < 1e-5, "blur of an impulse sums to %.8f", sum);
    t_close("blur of an impulse = outer product of the kernel", im, outer, m, 1e-7, 1e-5);
    /* Radius ceil(3 sigma): nothing beyond it. */
    T_CHECK(im[mid * side + mid + r + 1] == 0.0f && im[mid * side + mid + r] > 0.0f,
            "blur radius is not ceil(3 sigma) = %d", r);
    free(x);
    free(want);
    free(s);
    free(im);
    free(sc);
    free(outer);
}

static void test_sobel(void) {
    int c = 2, h = 6, w = 8;
    size_t n = (size_t)c * h * w;
    float *x = malloc(n * sizeof *x), *s = scratch_for(c, h, w);
    for (size_t k = 0; k < n; k++) x[k] = 0.3f;
    cnn_aug_sobel(x, c, h, w, s);
    int ok = 1, border = 0;
    for (int ch = 0; ch < c; ch++)
        for (int y = 0; y < h; y++)
            for (int i = 0; i < w; i++) {
                float v = x[((size_t)ch * h + y) * w + i];
                if (y > 0 && y < h - 1 && i > 0 && i < w - 1) ok &= v == 0.0f;
                else border += v > 0.0f;
            }
    T_CHECK(ok, "Sobel of a constant is not 0 inside");
    T_CHECK(border == c * (2 * w + 2 * h - 4), "Sobel of a constant: zero padding shows at %d "
            "of the border pixels", border);

    /* A vertical step of 0.5 between columns 3 and 4: 4 * 0.5 on both columns, 0 elsewhere
     * inside. */
    float step = 0.5f;
    for (int ch = 0; ch < c; ch++)
        for (int y = 0; y < h; y++)
            for (int i = 0; i < w; i++)
                x[((size_t)ch * h + y) * w + i] = i >= 4 ? 0.2f + step : 0.2f;
    cnn_aug_sobel(x, c, h, w, s);
    ok = 1;
    for (int ch = 0; ch < c; ch++)
        for (int y = 1; y < h - 1; y++)
            for (int i = 1; i < w - 1; i++) {
                float v = x[((size_t)ch * h + y) * w + i];
                float want = i == 3 || i == 4 ? 4 * step : 0.0f;
                ok &= fabsf(v - want) < 1e-6f;
            }
    T_CHECK(ok, "Sobel of a vertical step is not 4*step on the edge columns");

    /* Horizontal step: gy by the transposed kernel, same magnitude. */
    for (int ch = 0; ch < c; ch++)
        for (int y = 0; y < h; y++)
            for (int i = 0; i < w; i++) x[((size_t)ch * h + y) * w + i] = y >= 3 ? step : 0.0f;
    cnn_aug_sobel(x, c, h, w, s);
    T_CHECK(fabsf(x[2 * w + 4] - 4 * step) < 1e-6f && fabsf(x[3 * w + 4] - 4 * step) < 1e-6f &&
                x[1 * w + 4] == 0.0f && x[4 * w + 4] == 0.0f,
            "Sobel of a horizontal step: %g %g %g %g", x[w + 4], x[2 * w + 4], x[3 * w + 4],
            x[4 * w + 4]);
    free(x);
    free(s);
}

static cnn_augment everything(void) {
    cnn_augment a = {0};
    a.hflip = 0.5f;
    a.vflip = 0.5f;
    a.crop_pad = 2;
    a.crop_scale = 0.5f;
    a.rot90 = 1;
    a.rotate = 15.0f;
    a.translate = 0.1f;
    a.brightness = 0.1f;
    a.contrast = 0.2f;
    a.grey = 0.5f;
    a.cutout = 3;
    a.noise = 0.05f;
    a.blur = 0.8f;
    a.sobel = 1;
    return a;
}

static void test_augment_image(void) {
    /* Square and non-square, one and three channels: determinism and no memory errors. */
    int shapes[][3] = {{3, 8, 8}, {1, 6, 10}, {3, 9, 5}};
    for (size_t t = 0; t < sizeof shapes / sizeof shapes[0]; t++) {
        int c = shapes[t][0], h = shapes[t][1], w = shapes[t][2];
        size_t n = (size_t)c * h * w;
        float *x0 = image(c, h, w, 20 + t), *a = copy(x0, n), *b = copy(x0, n);
        float *d = copy(x0, n), *s = scratch_for(c, h, w);
        cnn_augment aug = everything();
        cnn_augment_image(&aug, a, c, h, w, 1234, s);
        cnn_augment_image(&aug, b, c, h, w, 1234, s);
        cnn_augment_image(&aug, d, c, h, w, 1235, s);
        T_CHECK(same(a, b, n), "%dx%dx%d: same seed, different bits", c, h, w);
        T_CHECK(!same(a, d, n), "%dx%dx%d: another seed, same image", c, h, w);
        int finite = 1;
        for (size_t k = 0; k < n; k++) finite &= isfinite(a[k]);
        T_CHECK(finite, "%dx%dx%d: non-finite values", c, h, w);

        cnn_augment off = {0};
        memcpy(a, x0, n * sizeof *a);
        cnn_augment_image(&off, a, c, h, w, 99, s);
        T_CHECK(same(a, x0, n), "%dx%dx%d: nothing enabled changed the image", c, h, w);

        /* rot90 alone: one of the four turns (of the two half turns when not square). */
        cnn_augment r = {0};
        r.rot90 = 1;
        int seen[4] = {0}, bad = 0;
        for (uint64_t seed = 0; seed < 40; seed++) {
            memcpy(a, x0, n * sizeof *a);
            cnn_augment_image(&r, a, c, h, w, seed, s);
            int which = -1;
            for (int k = 0; k < 4 && which < 0; k++) {
                if (k % 2 && h != w) continue;
                memcpy(b, x0, n * sizeof *b);
                cnn_aug_rot90(b, c, h, w, k, s);
                if (same(a, b, n)) which = k;
            }
            if (which < 0) bad++;
            else seen[which]++;
        }
        T_CHECK(!bad, "%dx%dx%d: rot90 gave %d images that are no quarter turn", c, h, w, bad);
        T_CHECK(seen[0] && seen[2] && (h != w || (seen[1] && seen[3])) &&
                    (h == w || (!seen[1] && !seen[3])),
                "%dx%dx%d: rot90 turns drawn %d %d %d %d", c, h, w, seen[0], seen[1], seen[2],
                seen[3]);

        /* Switching one transform on does not change the draws of another: hflip's choice
         * for a seed is the same with and without a little noise. */
        cnn_augment f = {0}, fn = {0};
        f.hflip = fn.hflip = 0.5f;
        fn.noise = 1e-3f;
        int agree = 1;
        for (uint64_t seed = 0; seed < 20; seed++) {
            memcpy(a, x0, n * sizeof *a);
            memcpy(b, x0, n * sizeof *b);
            cnn_augment_image(&f, a, c, h, w, seed, s);
            cnn_augment_image(&fn, b, c, h, w, seed, s);
            for (size_t k = 0; k < n; k++) agree &= fabsf(a[k] - b[k]) < 0.01f;
        }
        T_CHECK(agree, "%dx%dx%d: enabling noise changed hflip's draws", c, h, w);
        free(x0);
        free(a);
        free(b);
        free(d);
        free(s);
    }
}

int main(void) {
    test_flips();
    test_rot90();
    test_rotate();
    test_translate();
    test_crop_pad();
    test_resized_crop();
    test_cutout();
    test_colour();
    test_noise();
    test_blur();
    test_sobel();
    test_augment_image();
    return t_finish();
}

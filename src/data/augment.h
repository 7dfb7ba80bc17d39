/*
 * augment.h - the transforms behind cnn_augment_image, one function each, with their random
 * choices passed in so that each can be tested on its own. All work in place on one image x of
 * shape (C, H, W), planes one after another; `scratch` is the caller's buffer of 2*C*H*W
 * floats (cnn_augment_image's), so no transform allocates.
 *
 * Geometry: row y grows downwards, column x to the right; the centre of an image is
 * ((W - 1) / 2, (H - 1) / 2). Pixels that come from outside the image are 0.
 */
#ifndef CNN_AUGMENT_H
#define CNN_AUGMENT_H

#include "data.h"

/* Mirrors left-right: x[c][y][i] <-> x[c][y][W-1-i]. */
void cnn_aug_hflip(float *x, int c, int h, int w);

/* Mirrors top-bottom: x[c][i][:] <-> x[c][H-1-i][:]. */
void cnn_aug_vflip(float *x, int c, int h, int w);

/* Crop of the original size from the image padded by `pad` zeros on each side, its top-left
 * corner at (dy, dx) of the padded image, 0 <= dy, dx <= 2 pad:
 *   out[c][y][i] = padded[c][y + dy][i + dx] = x[c][y + dy - pad][i + dx - pad] or 0. */
void cnn_aug_crop_pad(float *x, int c, int h, int w, int pad, int dy, int dx, float *scratch);

/* The window of crop_h x crop_w pixels at (top, left) resized back to H x W (bilinear,
 * align_corners=False; see cnn_resize_bilinear). */
void cnn_aug_resized_crop(float *x, int c, int h, int w, int top, int left, int crop_h,
                          int crop_w, float *scratch);

/* Rotates by k quarter turns counter-clockwise (numpy.rot90, torch.rot90 on dims (H, W)):
 * one turn is the transpose followed by a vertical flip, out[i][j] = x[j][W-1-i]. An odd k
 * needs a square image. */
void cnn_aug_rot90(float *x, int c, int h, int w, int k, float *scratch);

/* Rotates by `degrees` counter-clockwise (as seen on the screen, torchvision's convention)
 * about the centre, sampling bilinearly; out[p] = x[centre + R(-degrees) (p - centre)], with
 * the four neighbours outside the image counted as 0. */
void cnn_aug_rotate(float *x, int c, int h, int w, float degrees, float *scratch);

/* Shifts the content by dy rows down and dx columns right: out[y][i] = x[y - dy][i - dx], 0
 * where that is outside. */
void cnn_aug_translate(float *x, int c, int h, int w, int dy, int dx, float *scratch);

/* dst = src shifted: dst[c][y][i] = src[c][y + oy][i + ox], or fill[c] (0 when fill is NULL)
 * where that is outside. src and dst do not overlap. */
void cnn_aug_shift_copy(const float *src, float *dst, int c, int h, int w, int oy, int ox,
                        const float *fill);

/* Adds delta to every value (no clamping). */
void cnn_aug_brightness(float *x, int c, int h, int w, float delta);

/* Scales each channel around its own mean: out = mean + factor (x - mean) (no clamping). */
void cnn_aug_contrast(float *x, int c, int h, int w, float factor);

/* Three channels: each becomes 0.299 R + 0.587 G + 0.114 B (ITU-R BT.601). Any other number
 * of channels: left as it is. */
void cnn_aug_grey(float *x, int c, int h, int w);

/* Sets to 0 the side x side square centred at (cy, cx) - rows cy - side/2 .. cy - side/2 +
 * side - 1, columns likewise - clipped at the borders, in every channel. */
void cnn_aug_cutout(float *x, int c, int h, int w, int cy, int cx, int side);

/* Adds std * N(0, 1) to every value, drawn from rng in memory order. */
void cnn_aug_noise(float *x, int c, int h, int w, float std, cnn_rng *rng);

/* Gaussian blur of standard deviation sigma > 0: the normalised kernel exp(-t^2 / (2 sigma^2))
 * for t = -r .. r, r = ceil(3 sigma), applied along rows then columns; pixels beyond a border
 * repeat the border pixel. */
void cnn_aug_blur(float *x, int c, int h, int w, float sigma, float *scratch);

/* Each channel replaced by its Sobel gradient magnitude sqrt(gx^2 + gy^2), with gx the
 * cross-correlation with [1 0 -1; 2 0 -2; 1 0 -1] and gy with its transpose, zero padding. */
void cnn_aug_sobel(float *x, int c, int h, int w, float *scratch);

#endif /* CNN_AUGMENT_H */

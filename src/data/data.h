/*
 * data.h - what the data loaders (idx.c, cifar.c, image.c, tasks.c, dataset.c) and the
 * augmentations (augment.c) share: data set allocation and class names, strings and lists of
 * them through the library's allocator, folder listing, image decoding (decode.c) and the
 * bilinear resampler.
 *
 * Shape letters: C channels, H height, W width; a data set holds N samples of (C, H, W).
 */
#ifndef CNN_DATA_H
#define CNN_DATA_H

#include "../core/internal.h"

#include <stddef.h>

/* A copy of s from cnn_alloc, or NULL when memory runs out. */
char *cnn_data_strdup(const char *s);

/* A data set of n samples of shape (c, h, w) with room for `classes` class names, all NULL:
 * the samples (pixels when bytes is 1, x when 0) and y are allocated and zeroed. With bytes
 * CNN_DATA_PIXELS_GIVEN the samples are bytes the caller sets into pixels itself (a buffer it
 * read them into: zeroing a second one would hold the set twice at the peak). NULL when memory
 * runs out. */
#define CNN_DATA_PIXELS_GIVEN 2
cnn_dataset *cnn_data_new(int n, int c, int h, int w, int classes, int bytes);

/* Sets the class names of ds from names[0..classes), or "0", "1", ... when names is NULL.
 * CNN_STATUS_NO_MEMORY (with a message) when a copy fails. */
cnn_status cnn_data_set_names(cnn_dataset *ds, const char *const *names, char *err,
                              size_t errlen);


/* An empty data set with src's shape, classes, class names, storage (bytes or floats) and
 * kinds of targets (labels, masks, regression targets: those src has), room for n samples;
 * not a shard (ids NULL). NULL when memory runs out. */
cnn_dataset *cnn_data_like(const cnn_dataset *src, int n);

/* Copies sample i of src with its label, mask and targets (those src has) to place j of dst,
 * a data set like src. dst may be src with j < i: the two places do not overlap. */
void cnn_data_copy_sample(cnn_dataset *dst, size_t j, const cnn_dataset *src, size_t i);

/* Checks the arguments of a split of n_second samples out of src (out of the whole set for a
 * shard) and draws them: on success *perm holds the set's n indices, of which
 * perm[0..n_second) are the seeded random sample in the order drawn, and *taken flags those
 * indices (both to cnn_free). `what` names the function in messages, `part` what the
 * n_second samples are for. */
cnn_status cnn_data_draw(const cnn_dataset *src, int n_second, uint64_t seed, const char *what,
                         const char *part, int32_t **perm, unsigned char **taken, char *err,
                         size_t errlen);

/* The sum over ds's samples of channel ch's values (mean NULL) or of their squared deviations
 * from *mean, in double, in storage order (cnn_dataset_stats's two passes; a shard's sums add
 * up over the ranks to the whole set's). */
double cnn_data_channel_sum(const cnn_dataset *ds, int ch, const double *mean);

/* Shards (shard.c). The number of samples of a whole set of n_whole in shard sh. */
int cnn_data_shard_size(int n_whole, cnn_shard sh);
/* CNN_STATUS_INVALID_ARGUMENT, naming `what`, unless 0 <= index < count. */
cnn_status cnn_data_shard_check(cnn_shard sh, const char *what, char *err, size_t errlen);
/* Where sample i of the whole set goes in shard sh, or -1 when it is not the shard's. */
int cnn_data_shard_slot(cnn_shard sh, int i);
/* cnn_data_new for shard sh of n_whole samples: ids set, whole_y zeroed (a shard of count 1
 * is a whole data set). The loader fills whole_y and the samples, then calls
 * cnn_data_shard_labels to set y from whole_y. */
cnn_dataset *cnn_data_shard_new(int n_whole, cnn_shard sh, int c, int h, int w, int classes,
                                int bytes);
void cnn_data_shard_labels(cnn_dataset *ds);
/* cnn_dataset_hold_out, cnn_dataset_split (on a copy) and cnn_dataset_truncate of a shard:
 * what the whole set's would do, restricted to the shard. */
cnn_status cnn_data_shard_hold_out(cnn_dataset *ds, int n, uint64_t seed, cnn_dataset **held,
                                   char *err, size_t errlen);
cnn_dataset *cnn_data_shard_copy(const cnn_dataset *src);
void cnn_data_shard_truncate(cnn_dataset *ds, int n);

/* A growing list of strings, all from cnn_alloc. */
typedef struct cnn_strlist {
    char **v;
    int n, cap;
} cnn_strlist;

/* Appends s, which the list then owns; 0 when s is NULL or growing fails (s is then freed),
 * so that cnn_strlist_push(l, cnn_data_strdup(x)) needs one check. */
int cnn_strlist_push(cnn_strlist *l, char *s);
void cnn_strlist_free(cnn_strlist *l);

/* dir + "/" + name, from cnn_alloc; NULL when memory runs out. */
char *cnn_data_join(const char *dir, const char *name);

/* Appends to out the names (dirs: sub-folders; otherwise .png, .jpg and .jpeg files, any
 * case) in dir, sorted by strcmp, skipping hidden entries. Errors name the folder. */
cnn_status cnn_data_list_dir(const char *dir, int dirs, cnn_strlist *out, char *err,
                             size_t errlen);

/* The size images are loaded as: 1 or 3 channels, positive sides (CNN_STATUS_INVALID_ARGUMENT
 * otherwise). `what` names the file or folder in the message. */
cnn_status cnn_data_check_size(const char *what, int channels, int height, int width,
                               char *err, size_t errlen);

/* Decoded pixels: h rows of rowbytes bytes; a row is w pixels of `channels` samples of `depth`
 * bits (16-bit samples big-endian, as PNG stores them). */
typedef struct cnn_pixels {
    unsigned char *data; /* from cnn_alloc; NULL when only the header was read */
    size_t rowbytes;
    int w, h, channels, depth;
} cnn_pixels;

/* What cnn_image_decode reads of a file. */
typedef enum cnn_decode_mode {
    /* The header only: w, h, and channels 1 (grey, with or without alpha) or 3 (colour). */
    CNN_DECODE_SIZE,
    /* PNG or JPEG as 8-bit grey (1 channel) or RGB (3): palettes expanded, grey of 1, 2 or 4
     * bits scaled to 0..255, 16 bits cut to their high byte, alpha dropped, CMYK made RGB. */
    CNN_DECODE_8BIT,
    /* PNG only, samples as stored: palette indices, 1, 2 and 4 bits unpacked but not scaled,
     * 16 bits kept; alpha dropped (1 or 3 channels). */
    CNN_DECODE_MASK,
} cnn_decode_mode;

/* Decodes the PNG or JPEG file at path (told by its first bytes) into *out, to free with
 * cnn_pixels_free; on an error, which names path, *out holds nothing. */
cnn_status cnn_image_decode(const char *path, cnn_decode_mode mode, cnn_pixels *out, char *err,
                            size_t errlen);
void cnn_pixels_free(cnn_pixels *p);

/* Resamples the window (top, left, crop_h, crop_w) of each of the C planes of src (C, src_h,
 * src_w) to dst (C, dst_h, dst_w) with a triangle (bilinear) filter, the convention of PIL's
 * Image.resize(BILINEAR) and of torchvision's resize with antialias=True:
 *   - sample centres: source coordinate of output pixel o is (o + 0.5) * scale - 0.5 with
 *     scale = crop / out, so corners are not aligned (PyTorch's align_corners=False);
 *   - when enlarging (scale <= 1) this is exactly PyTorch's F.interpolate(mode="bilinear",
 *     align_corners=False): two taps, edges clamped;
 *   - when shrinking, the triangle is widened by scale so that every source pixel counts
 *     (anti-aliasing) instead of sampling two pixels in scale.
 * Taps are limited to the window, weights renormalised there, so the result is that of
 * cropping first. tmp holds C * crop_h * dst_w floats; dst must not overlap src or tmp.
 * Weights are non-negative and the results are clamped to the window's range (float weights
 * sum to 1 only up to rounding), so values in [0, 1] stay in [0, 1]. */
void cnn_resize_bilinear(const float *src, int c, int src_h, int src_w, int top, int left,
                         int crop_h, int crop_w, float *dst, int dst_h, int dst_w, float *tmp);

#endif /* CNN_DATA_H */

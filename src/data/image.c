/*
 * image.c - image files: PNG and JPEG (decoded by decode.c) as grey or RGB floats in [0, 1],
 * bilinear resizing, and folders of images with one sub-folder per class (torchvision's
 * ImageFolder layout).
 *
 * Grey is ITU-R BT.601 luma, 0.299 R + 0.587 G + 0.114 B, computed from the 8-bit values in
 * float. An alpha channel is dropped, not composited, as PIL's convert("RGB") does.
 *
 * Shapes: an image is (C, H, W) floats, C = 1 (grey) or 3 (RGB), planes one after another.
 */
#include "data.h"

#include <dirent.h>
#include <errno.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

/* ---------------------------------------------------------------------------------------------
 * Resizing
 * ------------------------------------------------------------------------------------------- */

/* The triangle filter of bilinear interpolation. */
static double triangle(double t) {
    t = t < 0 ? -t : t;
    return t < 1.0 ? 1.0 - t : 0.0;
}

/* The source taps [*lo, *hi) of output pixel o along an axis of `in` source pixels resampled
 * to `out`, and the width fs of the triangle in source pixels (PIL's ImagingResample). */
static void axis_taps(int o, int in, int out, int *lo, int *hi, double *center, double *fs) {
    double scale = (double)in / out;
    *fs = scale > 1.0 ? scale : 1.0;
    *center = (o + 0.5) * scale;
    /* Truncation, not floor, as PIL: negative starts are clamped to 0 right after. */
    int a = (int)(*center - *fs + 0.5), b = (int)(*center + *fs + 0.5);
    *lo = a < 0 ? 0 : a;
    *hi = b > in ? in : b;
}

/* The smallest and largest values of a plane's window (crop_h rows from top, crop_w columns
 * from left; the plane is src_w wide). */
static void window_range(const float *plane, int src_w, int top, int left, int crop_h,
                         int crop_w, float *lo, float *hi) {
    *lo = *hi = plane[(size_t)top * src_w + left];
    for (int y = top; y < top + crop_h; y++)
        for (int x = left; x < left + crop_w; x++) {
            float v = plane[(size_t)y * src_w + x];
            *lo = v < *lo ? v : *lo;
            *hi = v > *hi ? v : *hi;
        }
}

void cnn_resize_bilinear(const float *src, int c, int src_h, int src_w, int top, int left,
                         int crop_h, int crop_w, float *dst, int dst_h, int dst_w, float *tmp) {
    CNN_ASSERT(top >= 0 && left >= 0 && crop_h >= 1 && crop_w >= 1 && top + crop_h <= src_h &&
               left + crop_w <= src_w && dst_h >= 1 && dst_w >= 1);
    /* Rows first: each row of the window to dst_w columns, into tmp (C, crop_h, dst_w). */
    for (int ch = 0; ch < c; ch++)
        for (int y = 0; y < crop_h; y++) {
            const float *s = src + ((size_t)ch * src_h + (size_t)(top + y)) * src_w + left;
            float *t = tmp + ((size_t)ch * crop_h + (size_t)y) * dst_w;
            for (int o = 0; o < dst_w; o++) {
                int lo, hi;
                double center, fs, acc = 0.0, wsum = 0.0;
                axis_taps(o, crop_w, dst_w, &lo, &hi, &center, &fs);
                for (int j = lo; j < hi; j++) {
                    double wt = triangle((j - center + 0.5) / fs);
                    acc += wt * s[j];
                    wsum += wt;
                }
                t[o] = (float)(acc / wsum);
            }
        }
    /* Then columns: whole rows of tmp weighted into each output row. The float weights sum to
     * 1 only up to rounding, and a sum of 1 + 2^-23 made a white image of 13 rows 1.0000001
     * when resized to 5 (found by fuzz_jpeg): the results are clamped to the window's range,
     * which an exact weighted mean never leaves. */
    for (int ch = 0; ch < c; ch++) {
        float vmin, vmax;
        window_range(src + (size_t)ch * src_h * src_w, src_w, top, left, crop_h, crop_w, &vmin,
                     &vmax);
        for (int o = 0; o < dst_h; o++) {
            int lo, hi;
            double center, fs, wsum = 0.0;
            axis_taps(o, crop_h, dst_h, &lo, &hi, &center, &fs);
            for (int j = lo; j < hi; j++) wsum += triangle((j - center + 0.5) / fs);
            float *d = dst + ((size_t)ch * dst_h + (size_t)o) * dst_w;
            for (int x = 0; x < dst_w; x++) d[x] = 0.0f;
            for (int j = lo; j < hi; j++) {
                float wt = (float)(triangle((j - center + 0.5) / fs) / wsum);
                const float *t = tmp + ((size_t)ch * crop_h + (size_t)j) * dst_w;
                for (int x = 0; x < dst_w; x++) d[x] += wt * t[x];
            }
            for (int x = 0; x < dst_w; x++) d[x] = d[x] < vmin ? vmin : d[x] > vmax ? vmax : d[x];
        }
    }
}

/* ---------------------------------------------------------------------------------------------
 * One image
 * ------------------------------------------------------------------------------------------- */

cnn_status cnn_data_check_size(const char *what, int channels, int height, int width,
                               char *err, size_t errlen) {
    if ((channels != 1 && channels != 3) || height < 1 || width < 1)
        return cnn_set_error(err, errlen, CNN_STATUS_INVALID_ARGUMENT,
                             "%s: cannot load as %dx%dx%d: channels must be 1 or 3 and the "
                             "sides positive",
                             what, channels, height, width);
    return CNN_STATUS_OK;
}

/* The decoded pixels (8-bit, 1 or 3 samples) as floats in [0, 1] into img (channels, h, w). */
static void pixels_to_floats(const cnn_pixels *px, int channels, float *img) {
    size_t plane = (size_t)px->w * (size_t)px->h;
    for (size_t k = 0; k < plane; k++) {
        const unsigned char *p = px->data + k * (size_t)px->channels;
        if (px->channels == 3 && channels == 3) {
            for (int ch = 0; ch < 3; ch++) img[ch * plane + k] = p[ch] / 255.0f;
        } else if (px->channels == 3) {
            img[k] = (0.299f * p[0] + 0.587f * p[1] + 0.114f * p[2]) / 255.0f;
        } else {
            /* Grey: replicated into every channel asked for. */
            for (int ch = 0; ch < channels; ch++) img[ch * plane + k] = p[0] / 255.0f;
        }
    }
}

cnn_status cnn_image_load(const char *path, int channels, int height, int width, float *x,
                          char *err, size_t errlen) {
    if (!path || !x)
        return cnn_set_error(err, errlen, CNN_STATUS_INVALID_ARGUMENT,
                             "image_load: NULL path or output");
    cnn_status st = cnn_data_check_size(path, channels, height, width, err, errlen);
    if (st != CNN_STATUS_OK) return st;
    cnn_pixels px;
    st = cnn_image_decode(path, CNN_DECODE_8BIT, &px, err, errlen);
    if (st != CNN_STATUS_OK) return st;
    /* The decoded image as floats (channels, h, w), then tmp for the resize's first pass. */
    int w = px.w, h = px.h;
    float *img = cnn_calloc((size_t)channels * (size_t)w * (size_t)h, sizeof(float));
    float *tmp = cnn_calloc((size_t)channels * (size_t)h * (size_t)width, sizeof(float));
    if (img && tmp) {
        pixels_to_floats(&px, channels, img);
        cnn_resize_bilinear(img, channels, h, w, 0, 0, h, w, x, height, width, tmp);
    } else {
        st = cnn_set_error(err, errlen, CNN_STATUS_NO_MEMORY,
                           "%s: out of memory for a %dx%d image", path, w, h);
    }
    cnn_pixels_free(&px);
    cnn_free(img);
    cnn_free(tmp);
    return st;
}

cnn_status cnn_image_size(const char *path, int *channels, int *height, int *width, char *err,
                          size_t errlen) {
    if (!path || !channels || !height || !width)
        return cnn_set_error(err, errlen, CNN_STATUS_INVALID_ARGUMENT,
                             "image_size: NULL path or output");
    cnn_pixels px;
    cnn_status st = cnn_image_decode(path, CNN_DECODE_SIZE, &px, err, errlen);
    if (st != CNN_STATUS_OK) return st;
    *channels = px.channels;
    *height = px.h;
    *width = px.w;
    return CNN_STATUS_OK;
}

/* ---------------------------------------------------------------------------------------------
 * Folders of images (the listing and path helpers are shared with tasks.c through data.h)
 * ------------------------------------------------------------------------------------------- */

int cnn_strlist_push(cnn_strlist *l, char *s) {
    if (!s) return 0;
    if (l->n == l->cap) {
        int cap = l->cap ? 2 * l->cap : 16;
        char **v = cnn_alloc((size_t)cap * sizeof *v);
        if (!v) {
            cnn_free(s);
            return 0;
        }
        if (l->n) memcpy(v, l->v, (size_t)l->n * sizeof *v);
        cnn_free(l->v);
        l->v = v;
        l->cap = cap;
    }
    l->v[l->n++] = s;
    return 1;
}

void cnn_strlist_free(cnn_strlist *l) {
    for (int i = 0; i < l->n; i++) cnn_free(l->v[i]);
    cnn_free(l->v);
    l->v = NULL;
    l->n = l->cap = 0;
}

static int by_name(const void *a, const void *b) {
    return strcmp(*(char *const *)a, *(char *const *)b);
}

char *cnn_data_join(const char *dir, const char *name) {
    size_t a = strlen(dir), b = strlen(name);
    char *p = cnn_alloc(a + b + 2);
    if (!p) return NULL;
    memcpy(p, dir, a);
    p[a] = '/';
    memcpy(p + a + 1, name, b + 1);
    return p;
}

static int has_image_extension(const char *name) {
    const char *dot = strrchr(name, '.');
    return dot && (!strcasecmp(dot, ".png") || !strcasecmp(dot, ".jpg") ||
                   !strcasecmp(dot, ".jpeg"));
}

cnn_status cnn_data_list_dir(const char *dir, int dirs, cnn_strlist *out, char *err,
                             size_t errlen) {
    DIR *d = opendir(dir);
    if (!d)
        return cnn_set_error(err, errlen, CNN_STATUS_IO, "%s: cannot open folder: %s", dir,
                             strerror(errno));
    int first = out->n;
    cnn_status st = CNN_STATUS_OK;
    for (;;) {
        errno = 0;
        struct dirent *e = readdir(d);
        if (!e) {
            if (errno)
                st = cnn_set_error(err, errlen, CNN_STATUS_IO, "%s: cannot read folder: %s",
                                   dir, strerror(errno));
            break;
        }
        if (e->d_name[0] == '.') continue;
        if (!dirs && !has_image_extension(e->d_name)) continue;
        char *path = cnn_data_join(dir, e->d_name);
        if (!path) {
            st = cnn_set_error(err, errlen, CNN_STATUS_NO_MEMORY, "out of memory");
            break;
        }
        struct stat sb;
        if (stat(path, &sb) != 0) {
            st = cnn_set_error(err, errlen, CNN_STATUS_IO, "%s: %s", path, strerror(errno));
            cnn_free(path);
            break;
        }
        cnn_free(path);
        if (dirs ? !S_ISDIR(sb.st_mode) : !S_ISREG(sb.st_mode)) continue;
        if (!cnn_strlist_push(out, cnn_data_strdup(e->d_name))) {
            st = cnn_set_error(err, errlen, CNN_STATUS_NO_MEMORY, "out of memory");
            break;
        }
    }
    closedir(d);
    /* readdir's order is the file system's: sorting makes labels and sample order the same
     * on every machine. */
    if (out->n > first) qsort(out->v + first, (size_t)(out->n - first), sizeof *out->v, by_name);
    return st;
}

cnn_status cnn_dataset_load_folder(const char *dir, int channels, int height, int width,
                                   cnn_dataset **out, char *err, size_t errlen) {
    cnn_shard all = {0, 1};
    return cnn_dataset_load_folder_shard(dir, channels, height, width, all, out, err, errlen);
}

cnn_status cnn_dataset_load_folder_shard(const char *dir, int channels, int height, int width,
                                         cnn_shard shard, cnn_dataset **out, char *err,
                                         size_t errlen) {
    if (!dir || !out)
        return cnn_set_error(err, errlen, CNN_STATUS_INVALID_ARGUMENT,
                             "load_folder: NULL folder or result pointer");
    *out = NULL;
    cnn_status st = cnn_data_check_size(dir, channels, height, width, err, errlen);
    if (st == CNN_STATUS_OK) st = cnn_data_shard_check(shard, dir, err, errlen);
    if (st != CNN_STATUS_OK) return st;
    cnn_strlist classes = {0}, files = {0}, names = {0};
    int *class_end = NULL; /* files of class k are files.v[class_end[k-1] .. class_end[k]) */
    cnn_dataset *ds = NULL;
    st = cnn_data_list_dir(dir, 1, &classes, err, errlen);
    if (st == CNN_STATUS_OK && classes.n == 0)
        st = cnn_set_error(err, errlen, CNN_STATUS_FORMAT,
                           "%s: no class sub-folders (expected one folder of images per "
                           "class)",
                           dir);
    if (st == CNN_STATUS_OK && !(class_end = cnn_alloc((size_t)classes.n * sizeof(int))))
        st = cnn_set_error(err, errlen, CNN_STATUS_NO_MEMORY, "out of memory");
    for (int k = 0; k < classes.n && st == CNN_STATUS_OK; k++) {
        char *sub = cnn_data_join(dir, classes.v[k]);
        if (!sub) {
            st = cnn_set_error(err, errlen, CNN_STATUS_NO_MEMORY, "out of memory");
            break;
        }
        int before = names.n;
        st = cnn_data_list_dir(sub, 0, &names, err, errlen);
        if (st == CNN_STATUS_OK && names.n == before)
            st = cnn_set_error(err, errlen, CNN_STATUS_FORMAT,
                               "%s: no .png, .jpg or .jpeg images in this class folder", sub);
        for (int i = before; i < names.n && st == CNN_STATUS_OK; i++)
            if (!cnn_strlist_push(&files, cnn_data_join(sub, names.v[i])))
                st = cnn_set_error(err, errlen, CNN_STATUS_NO_MEMORY, "out of memory");
        class_end[k] = files.n;
        cnn_free(sub);
    }
    if (st == CNN_STATUS_OK) {
        ds = cnn_data_shard_new(files.n, shard, channels, height, width, classes.n, 0);
        if (!ds)
            st = cnn_set_error(err, errlen, CNN_STATUS_NO_MEMORY,
                               "%s: out of memory for %d images of %dx%dx%d", dir, files.n,
                               channels, height, width);
    }
    if (st == CNN_STATUS_OK)
        st = cnn_data_set_names(ds, (const char *const *)classes.v, err, errlen);
    size_t numel = (size_t)channels * (size_t)height * (size_t)width;
    for (int i = 0, k = 0; i < files.n && st == CNN_STATUS_OK; i++) {
        while (i >= class_end[k]) k++;
        int slot = cnn_data_shard_slot(shard, i);
        if (ds->ids) ds->whole_y[i] = k;
        if (slot < 0) continue; /* another shard's: not decoded */
        ds->y[slot] = k;
        st = cnn_image_load(files.v[i], channels, height, width, ds->x + (size_t)slot * numel,
                            err, errlen);
    }
    cnn_strlist_free(&classes);
    cnn_strlist_free(&files);
    cnn_strlist_free(&names);
    cnn_free(class_end);
    if (st != CNN_STATUS_OK) {
        cnn_dataset_free(ds);
        return st;
    }
    *out = ds;
    return CNN_STATUS_OK;
}

/*
 * preprocess.c - what a trained network expects of its input, kept in the network: the task
 * and loss, the deterministic transforms (blur, Sobel) and the per-channel normalisation
 * applied to every image, and the class names. Checkpoints store it in their "PREP" section:
 *
 *   u32 task, u32 loss, u32 channels C, u32 normalised (0/1), f32 mean[C], f32 std[C]
 *   (present when normalised), f32 blur, u32 sobel, u32 classes K, u32 named (0/1), then
 *   when named K times: u32 length, bytes (no NUL)
 *
 * little-endian, every count checked against the section's length before use.
 */
#include "../core/internal.h"
#include "../data/augment.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const TASK_NAMES[] = {"classification", "segmentation", "regression"};
static const char *const LOSS_NAMES[] = {"cross-entropy", "pixel-cross-entropy", "mse",
                                         "bce-logits"};
#define COUNT(a) ((int)(sizeof a / sizeof a[0]))

const char *cnn_task_name(cnn_task task) {
    return (int)task >= 0 && (int)task < COUNT(TASK_NAMES) ? TASK_NAMES[task] : "unknown";
}

const char *cnn_loss_name(cnn_loss loss) {
    return (int)loss >= 0 && (int)loss < COUNT(LOSS_NAMES) ? LOSS_NAMES[loss] : "unknown";
}

static int find_name(const char *const *names, int n, const char *name) {
    for (int i = 0; name && i < n; i++)
        if (strcmp(names[i], name) == 0) return i;
    return -1;
}

int cnn_task_parse(const char *name) { return find_name(TASK_NAMES, COUNT(TASK_NAMES), name); }
int cnn_loss_parse(const char *name) { return find_name(LOSS_NAMES, COUNT(LOSS_NAMES), name); }

cnn_task cnn_loss_task(cnn_loss loss) {
    switch (loss) {
    case CNN_LOSS_SOFTMAX_CE:
        return CNN_TASK_CLASSIFICATION;
    case CNN_LOSS_PIXEL_CE:
        return CNN_TASK_SEGMENTATION;
    case CNN_LOSS_MSE:
    case CNN_LOSS_BCE_LOGITS:
        break;
    }
    return CNN_TASK_REGRESSION;
}

void cnn_prep_clear(cnn_prep *p) {
    cnn_free(p->mean);
    cnn_free(p->std);
    if (p->names)
        for (int k = 0; k < p->pub.classes; k++) cnn_free(p->names[k]);
    cnn_free(p->names);
    memset(p, 0, sizeof *p);
}

/* The classes an output shape gives a task: K of flat logits, or K channels of a map. */
static int output_classes(const cnn_net *net, cnn_task task) {
    cnn_shape o = cnn_net_output_shape(net);
    if (task == CNN_TASK_REGRESSION || o.rank < 1) return 0;
    if (task == CNN_TASK_CLASSIFICATION && o.rank != 1) return 0;
    return o.dim[0];
}

static char *copy_str(const char *s) {
    size_t n = strlen(s) + 1;
    char *c = cnn_alloc(n);
    if (c) memcpy(c, s, n);
    return c;
}

static float *copy_floats(const float *v, int n) {
    float *c = cnn_alloc((size_t)n * sizeof *c);
    if (c) memcpy(c, v, (size_t)n * sizeof *c);
    return c;
}

static cnn_status check(cnn_net *net, const cnn_preprocess *p) {
    if (net->n_inputs < 1)
        return cnn_error(net, CNN_STATUS_STATE, "preprocessing: the network has no input");
    int C = cnn_net_input_shape(net, 0).dim[0];
    if ((int)p->task < 0 || (int)p->task >= COUNT(TASK_NAMES) || (int)p->loss < 0 ||
        (int)p->loss >= COUNT(LOSS_NAMES) || cnn_loss_task(p->loss) != p->task)
        return cnn_error(net, CNN_STATUS_INVALID_ARGUMENT,
                         "preprocessing: loss %s does not go with task %s", cnn_loss_name(p->loss),
                         cnn_task_name(p->task));
    if (p->channels != C)
        return cnn_error(net, CNN_STATUS_SHAPE,
                         "preprocessing for %d channels, the network's input has %d", p->channels,
                         C);
    if ((p->mean == NULL) != (p->std == NULL))
        return cnn_error(net, CNN_STATUS_INVALID_ARGUMENT,
                         "preprocessing: mean and std go together");
    for (int c = 0; p->std && c < C; c++)
        if (!(p->std[c] > 0) || !isfinite(p->std[c]) || !isfinite(p->mean[c]))
            return cnn_error(net, CNN_STATUS_NUMERIC,
                             "preprocessing: channel %d has mean %g, std %g (std must be > 0)", c,
                             (double)p->mean[c], (double)p->std[c]);
    if (!(p->blur >= 0) || p->blur > 1000)
        return cnn_error(net, CNN_STATUS_INVALID_ARGUMENT, "preprocessing: blur sigma %g",
                         (double)p->blur);
    cnn_shape in = cnn_net_input_shape(net, 0);
    int images = p->task == CNN_TASK_CLASSIFICATION && in.rank == 3;
    if (p->hflip_tta && (!images || p->hflip_tta != 1))
        return cnn_error(net, CNN_STATUS_INVALID_ARGUMENT,
                         "preprocessing: test-time flips (hflip_tta %d) are for classifying "
                         "images: 0 or 1, a classification network with a (C, H, W) input",
                         p->hflip_tta);
    if (p->tta_shift &&
        (!images || p->tta_shift < 0 || p->tta_shift >= in.dim[1] || p->tta_shift >= in.dim[2]))
        return cnn_error(net, CNN_STATUS_INVALID_ARGUMENT,
                         "preprocessing: test-time shifts of %d pixels (tta_shift) are for "
                         "classifying images: 0, or 1 to less than the input's height and width, "
                         "a classification network with a (C, H, W) input",
                         p->tta_shift);
    if (p->tta_diagonal && (p->tta_diagonal != 1 || !p->tta_shift))
        return cnn_error(net, CNN_STATUS_INVALID_ARGUMENT,
                         "preprocessing: diagonal test-time shifts (tta_diagonal %d) are 0 or 1, "
                         "and 1 only with shifted views (tta_shift %d)",
                         p->tta_diagonal, p->tta_shift);
    int K = output_classes(net, p->task);
    char a[64];
    cnn_shape o = cnn_net_output_shape(net);
    if (p->task != CNN_TASK_REGRESSION && (K < 1 || p->classes != K))
        return cnn_error(
            net, CNN_STATUS_SHAPE, "%s with %d classes needs %s, the network's output is %s",
            cnn_task_name(p->task), p->classes,
            p->task == CNN_TASK_CLASSIFICATION ? "flat logits of that size" : "that many channels",
            cnn_shape_str(&o, a, sizeof a));
    return CNN_STATUS_OK;
}

cnn_status cnn_net_set_preprocess(cnn_net *net, const cnn_preprocess *p) {
    cnn_status st = check(net, p);
    if (st) return st;
    cnn_prep q = {.pub = *p, .set = 1};
    int ok = 1;
    if (p->mean) {
        q.mean = copy_floats(p->mean, p->channels);
        q.std = copy_floats(p->std, p->channels);
        ok = q.mean && q.std;
    }
    if (ok && p->classes > 0 && p->class_names) {
        ok = (q.names = cnn_calloc((size_t)p->classes, sizeof *q.names)) != NULL;
        for (int k = 0; ok && k < p->classes; k++)
            ok = (q.names[k] = copy_str(p->class_names[k] ? p->class_names[k] : "?")) != NULL;
    }
    if (p->task == CNN_TASK_REGRESSION) q.pub.classes = 0;
    if (!ok) {
        q.pub.classes = p->classes; /* so that clearing frees every name made */
        cnn_prep_clear(&q);
        return cnn_error(net, CNN_STATUS_NO_MEMORY, "out of memory for the preprocessing");
    }
    q.pub.mean = q.mean;
    q.pub.std = q.std;
    q.pub.class_names = (const char *const *)q.names;
    cnn_prep_clear(&net->prep);
    net->prep = q;
    return CNN_STATUS_OK;
}

const cnn_preprocess *cnn_net_preprocess(const cnn_net *net) {
    cnn_prep *p = (cnn_prep *)&net->prep; /* the defaults follow the network's current output */
    if (!p->set) {
        p->pub = (cnn_preprocess){.task = CNN_TASK_CLASSIFICATION, .loss = CNN_LOSS_SOFTMAX_CE};
        p->pub.channels = net->n_inputs ? cnn_net_input_shape(net, 0).dim[0] : 0;
        p->pub.classes = net->output >= 0 ? output_classes(net, CNN_TASK_CLASSIFICATION) : 0;
    }
    return &p->pub;
}

const char *cnn_net_class_name(const cnn_net *net, int k) {
    const cnn_preprocess *p = cnn_net_preprocess(net);
    if (k < 0 || k >= p->classes) return NULL;
    if (p->class_names) return p->class_names[k];
    snprintf((char *)net->class_name, sizeof net->class_name, "%d", k);
    return net->class_name;
}

void cnn_prep_apply(const cnn_preprocess *p, const cnn_shape *in, float *x, int n, float *scratch) {
    size_t numel = cnn_shape_numel(in);
    int C = in->dim[0], H = in->rank == 3 ? in->dim[1] : 1;
    int W = in->rank >= 2 ? in->dim[in->rank - 1] : 1;
    size_t plane = numel / (size_t)C;
    for (int i = 0; i < n; i++) {
        float *s = x + (size_t)i * numel;
        if (p->blur > 0) cnn_aug_blur(s, C, H, W, p->blur, scratch);
        if (p->sobel) cnn_aug_sobel(s, C, H, W, scratch);
        for (int c = 0; p->mean && c < C; c++) {
            float m = p->mean[c], inv = 1.0f / p->std[c];
            float *q = s + (size_t)c * plane;
#pragma omp simd
            for (size_t k = 0; k < plane; k++) q[k] = (q[k] - m) * inv;
        }
    }
}

cnn_status cnn_preprocess_images(cnn_net *net, float *x, int n) {
    const cnn_preprocess *p = cnn_net_preprocess(net);
    cnn_shape in = cnn_net_input_shape(net, 0);
    float *scratch = NULL;
    if (p->blur > 0 || p->sobel) {
        scratch = cnn_alloc(2 * cnn_shape_numel(&in) * sizeof *scratch);
        if (!scratch)
            return cnn_error(net, CNN_STATUS_NO_MEMORY, "out of memory for preprocessing");
    }
    cnn_prep_apply(p, &in, x, n, scratch);
    cnn_free(scratch);
    return CNN_STATUS_OK;
}

/* ---------------------------------------------------------------------------------------------
 * The checkpoint section
 * ------------------------------------------------------------------------------------------- */

typedef struct buf {
    unsigned char *p;
    size_t len, cap;
    int failed;
} buf;

static void put(buf *b, const void *v, size_t n) {
    if (b->failed) return;
    if (b->len + n > b->cap) {
        size_t cap = (b->cap + n) * 2;
        unsigned char *p = cnn_realloc(b->p, cap);
        if (!p) {
            b->failed = 1;
            return;
        }
        b->p = p;
        b->cap = cap;
    }
    memcpy(b->p + b->len, v, n);
    b->len += n;
}

static void put_u32(buf *b, uint32_t v) {
    unsigned char c[4] = {(unsigned char)v, (unsigned char)(v >> 8), (unsigned char)(v >> 16),
                          (unsigned char)(v >> 24)};
    put(b, c, 4);
}

static void put_f32(buf *b, float x) {
    uint32_t v;
    memcpy(&v, &x, 4);
    put_u32(b, v);
}

unsigned char *cnn_prep_encode(const cnn_net *net, size_t *size) {
    return cnn_prep_bytes(cnn_net_preprocess(net), size);
}

unsigned char *cnn_prep_bytes(const cnn_preprocess *p, size_t *size) {
    buf b = {0};
    put_u32(&b, (uint32_t)p->task);
    put_u32(&b, (uint32_t)p->loss);
    put_u32(&b, (uint32_t)p->channels);
    put_u32(&b, p->mean != NULL);
    for (int c = 0; p->mean && c < p->channels; c++) put_f32(&b, p->mean[c]);
    for (int c = 0; p->mean && c < p->channels; c++) put_f32(&b, p->std[c]);
    put_f32(&b, p->blur);
    put_u32(&b, (uint32_t)p->sobel);
    put_u32(&b, (uint32_t)p->classes);
    put_u32(&b, p->class_names != NULL);
    for (int k = 0; p->class_names && k < p->classes; k++) {
        size_t n = strlen(p->class_names[k]);
        put_u32(&b, (uint32_t)n);
        put(&b, p->class_names[k], n);
    }
    /* Added after the names, only when set: a model without them is written as before. */
    if (p->hflip_tta || p->tta_shift) put_u32(&b, (uint32_t)p->hflip_tta);
    if (p->tta_shift) put_u32(&b, (uint32_t)p->tta_shift);
    if (p->tta_diagonal) put_u32(&b, (uint32_t)p->tta_diagonal);
    if (b.failed) {
        cnn_free(b.p);
        return NULL;
    }
    *size = b.len;
    return b.p;
}

/* A reader that refuses to run past the end. */
typedef struct reader {
    const unsigned char *p;
    size_t left;
    int bad;
} reader;

static uint32_t get_u32(reader *r) {
    if (r->bad || r->left < 4) return r->bad = 1, 0;
    uint32_t v = (uint32_t)r->p[0] | (uint32_t)r->p[1] << 8 | (uint32_t)r->p[2] << 16 |
                 (uint32_t)r->p[3] << 24;
    r->p += 4;
    r->left -= 4;
    return v;
}

static float get_f32(reader *r) {
    uint32_t v = get_u32(r);
    float x;
    memcpy(&x, &v, 4);
    return x;
}

/* The preprocessing fields from the section; arrays into mean, std and names (to free). */
static cnn_status decode_section(cnn_net *net, reader *r, cnn_preprocess *p, float **mean,
                                 float **std, char ***names) {
    p->task = (cnn_task)get_u32(r);
    p->loss = (cnn_loss)get_u32(r);
    p->channels = (int)get_u32(r);
    uint32_t normalised = get_u32(r);
    if (r->bad || p->channels < 1 || p->channels > 1 << 20 ||
        (normalised && (size_t)p->channels * 8 > r->left))
        return cnn_error(net, CNN_STATUS_FORMAT, "preprocessing section: bad channel count");
    if (normalised) {
        *mean = cnn_alloc((size_t)p->channels * sizeof **mean);
        *std = cnn_alloc((size_t)p->channels * sizeof **std);
        if (!*mean || !*std) return cnn_error(net, CNN_STATUS_NO_MEMORY, "out of memory");
        for (int c = 0; c < p->channels; c++) (*mean)[c] = get_f32(r);
        for (int c = 0; c < p->channels; c++) (*std)[c] = get_f32(r);
        p->mean = *mean;
        p->std = *std;
    }
    p->blur = get_f32(r);
    p->sobel = (int)get_u32(r);
    p->classes = (int)get_u32(r);
    uint32_t named = get_u32(r);
    if (r->bad || p->classes < 0 || p->classes > 1 << 24 ||
        (named && (size_t)p->classes > r->left / 4))
        return cnn_error(net, CNN_STATUS_FORMAT, "preprocessing section: bad class count");
    if (named && p->classes > 0) {
        if (!(*names = cnn_calloc((size_t)p->classes, sizeof **names)))
            return cnn_error(net, CNN_STATUS_NO_MEMORY, "out of memory");
        for (int k = 0; k < p->classes; k++) {
            uint32_t n = get_u32(r);
            if (r->bad || n > r->left)
                return cnn_error(net, CNN_STATUS_FORMAT,
                                 "preprocessing section: class name %d runs past the end", k);
            if (!((*names)[k] = cnn_alloc((size_t)n + 1)))
                return cnn_error(net, CNN_STATUS_NO_MEMORY, "out of memory");
            memcpy((*names)[k], r->p, n);
            (*names)[k][n] = 0;
            r->p += n;
            r->left -= n;
        }
        p->class_names = (const char *const *)*names;
    }
    if (r->left >= 4) p->hflip_tta = (int)get_u32(r);
    if (r->left >= 4) p->tta_shift = (int)get_u32(r);
    if (r->left >= 4) p->tta_diagonal = (int)get_u32(r);
    if (r->left)
        return cnn_error(net, CNN_STATUS_FORMAT, "preprocessing section: %zu bytes too many",
                         r->left);
    return CNN_STATUS_OK;
}

/* The value of "key=" in metadata text into out; 0 when absent or longer than out. */
static int meta_value(const char *meta, const char *key, char *out, size_t size) {
    long n = cnn_meta_get(meta, key, out, size);
    return n >= 0 && (size_t)n < size;
}

/* n comma-separated floats. */
static int parse_floats(const char *s, float *v, int n) {
    for (int i = 0; i < n; i++) {
        char *end;
        errno = 0;
        v[i] = strtof(s, &end);
        if (end == s || errno || *end != (i == n - 1 ? '\0' : ',')) return 0;
        s = end + 1;
    }
    return 1;
}

static cnn_status decode_meta_into(cnn_net *net, const char *meta, char *text, size_t size,
                                   cnn_preprocess *p, float **mean, float **std, char ***names);

/* Checkpoints from before the PREP section: cnn train kept mean, std and the class names
 * ('|'-separated) in its metadata. */
static cnn_status decode_meta(cnn_net *net, const char *meta, cnn_preprocess *p, float **mean,
                              float **std, char ***names) {
    *p = *cnn_net_preprocess(net);
    size_t size = strlen(meta ? meta : "") + 1;
    char *text = cnn_alloc(size);
    if (!text) return cnn_error(net, CNN_STATUS_NO_MEMORY, "out of memory");
    cnn_status st = decode_meta_into(net, meta, text, size, p, mean, std, names);
    cnn_free(text);
    return st;
}

/* The number of comma-separated values in s. */
static size_t count_values(const char *s) {
    size_t n = 1;
    for (; *s; s++) n += *s == ',';
    return n;
}

static cnn_status decode_meta_into(cnn_net *net, const char *meta, char *text, size_t size,
                                   cnn_preprocess *p, float **mean, float **std, char ***names) {
    char *save = NULL;
    int C = p->channels;
    /* C comes from the definition, which may promise any number of channels: the C floats
     * are allocated only when the text holds C values. */
    if (meta_value(meta, "mean", text, size) && count_values(text) == (size_t)C) {
        if (!(*mean = cnn_alloc((size_t)C * sizeof **mean)) ||
            !(*std = cnn_alloc((size_t)C * sizeof **std)))
            return cnn_error(net, CNN_STATUS_NO_MEMORY, "out of memory");
        if (parse_floats(text, *mean, C) && meta_value(meta, "std", text, size) &&
            parse_floats(text, *std, C)) {
            p->mean = *mean;
            p->std = *std;
        }
    }
    if (p->classes > 0 && meta_value(meta, "classes", text, size)) {
        int n = 1;
        for (const char *c = text; *c; c++) n += *c == '|';
        if (n != p->classes) return CNN_STATUS_OK; /* names that do not fit: keep "0", "1", ... */
        if (!(*names = cnn_calloc((size_t)n, sizeof **names)))
            return cnn_error(net, CNN_STATUS_NO_MEMORY, "out of memory");
        char *tok = strtok_r(text, "|", &save);
        for (int k = 0; k < n; k++, tok = strtok_r(NULL, "|", &save))
            if (!((*names)[k] = copy_str(tok ? tok : "")))
                return cnn_error(net, CNN_STATUS_NO_MEMORY, "out of memory");
        p->class_names = (const char *const *)*names;
    }
    return CNN_STATUS_OK;
}

cnn_status cnn_prep_decode(cnn_net *net, const unsigned char *bytes, size_t size,
                           const char *meta) {
    cnn_preprocess p = {0};
    float *mean = NULL, *std = NULL;
    char **names = NULL;
    reader r = {bytes, size, 0};
    cnn_status st = bytes ? decode_section(net, &r, &p, &mean, &std, &names)
                          : decode_meta(net, meta, &p, &mean, &std, &names);
    if (!st) st = cnn_net_set_preprocess(net, &p);
    cnn_free(mean);
    cnn_free(std);
    for (int k = 0; names && k < p.classes; k++) cnn_free(names[k]);
    cnn_free(names);
    return st;
}

/* The shifts of test-time augmentation, the unshifted view included: none, then up, down,
 * left, right, then the diagonals. */
static const int TTA_DY[9] = {0, 1, -1, 0, 0, 1, 1, -1, -1};
static const int TTA_DX[9] = {0, 0, 0, 1, -1, 1, -1, 1, -1};

static int tta_shifts(const cnn_preprocess *p) {
    return !p->tta_shift ? 1 : p->tta_diagonal ? 9 : 5;
}

/* Views of test-time augmentation: the image (and its mirror image), each also shifted. */
static int tta_views(const cnn_preprocess *p) { return (p->hflip_tta ? 2 : 1) * tta_shifts(p); }

size_t cnn_prep_tta_floats(const cnn_preprocess *p, int count, size_t in_numel,
                           size_t out_numel) {
    if (tta_views(p) == 1) return 0;
    size_t shifts = p->tta_shift ? (size_t)count * in_numel + (size_t)p->channels : 0;
    return (size_t)count * out_numel + shifts;
}

/* View v of count samples into x: mirrored when v >= tta_shifts(p), shifted by the shift
 * v % tta_shifts(p) (TTA_DY, TTA_DX) before that. orig: the samples and after them the value
 * of a black pixel in each channel (NULL without shifts: x holds the samples, and the one
 * other view mirrors them in place). */
static void tta_view(const cnn_preprocess *p, const cnn_shape *in, const float *orig, float *x,
                     int count, int v) {
    int C = in->dim[0], H = in->dim[1], W = in->dim[2], shifts = tta_shifts(p);
    int k = v % shifts, S = p->tta_shift;
    size_t numel = cnn_shape_numel(in);
    for (int i = 0; i < count; i++) {
        float *s = x + (size_t)i * numel;
        if (orig)
            cnn_aug_shift_copy(orig + (size_t)i * numel, s, C, H, W, S * TTA_DY[k], S * TTA_DX[k],
                               orig + (size_t)count * numel);
        if (v >= shifts) cnn_aug_hflip(s, C, H, W);
    }
}

const float *cnn_prep_scores(cnn_net *net, const cnn_preprocess *p, float *x, int count,
                             int score, float *tta, cnn_status *st) {
    if ((*st = cnn_net_forward(net, x, count))) return NULL;
    const float *z = cnn_net_layer_output(net, score);
    int views = tta_views(p);
    if (views == 1) return z;
    size_t K = cnn_shape_numel(&net->nodes[score]->shape), n = (size_t)count * K;
    cnn_shape in = cnn_net_input_shape(net, 0);
    float *avg = tta, *orig = p->tta_shift ? tta + n : NULL;
    memcpy(avg, z, n * sizeof *avg);
    if (orig) {
        size_t samples = (size_t)count * cnn_shape_numel(&in);
        memcpy(orig, x, samples * sizeof *orig);
        for (int c = 0; c < in.dim[0]; c++) /* what a black pixel becomes (cnn_prep_apply) */
            orig[samples + c] = p->mean ? (0.0f - p->mean[c]) * (1.0f / p->std[c]) : 0.0f;
    }
    for (int v = 1; v < views; v++) {
        tta_view(p, &in, orig, x, count, v);
        if ((*st = cnn_net_forward(net, x, count))) return NULL;
        z = cnn_net_layer_output(net, score);
        for (size_t k = 0; k < n; k++) avg[k] += z[k];
    }
    for (size_t k = 0; k < n; k++) avg[k] /= (float)views;
    return avg;
}

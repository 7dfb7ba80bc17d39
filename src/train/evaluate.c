/*
 * evaluate.c - a network's results on a data set, in evaluation mode, for its task:
 *   classification  mean cross-entropy, top-1, top-5, the K x K confusion matrix;
 *   segmentation    mean per-pixel cross-entropy, pixel accuracy (top1), the confusion matrix
 *                   over pixels and the mean intersection over union of the classes present;
 *   regression      the mean of the loss (MSE or BCE with logits); top1 and top5 are NaN.
 * The cross-entropy is taken on the score layer (a final softmax's input), so a network that
 * ends in a softmax is scored on its logits, never softmax on softmax.
 */
#include "../core/internal.h"

#include <math.h>
#include <string.h>

/* Buffers for one batch: images, integer and float targets, preprocessing scratch, the mean
 * scores of test-time flips. */
typedef struct batch_buf {
    float *x, *scratch, *ft, *avg;
    int32_t *it;
} batch_buf;

static void batch_free(batch_buf *b) {
    cnn_free(b->avg);
    cnn_free(b->x);
    cnn_free(b->scratch);
    cnn_free(b->ft);
    cnn_free(b->it);
}

/* Fills x (preprocessed) and the targets of samples [start, start + count). */
static void load_batch(const cnn_dataset *ds, const cnn_preprocess *pp, int start, int count,
                       batch_buf *b) {
    size_t numel = cnn_shape_numel(&ds->shape), pixels = numel / (size_t)ds->shape.dim[0];
    for (int i = 0; i < count; i++) {
        cnn_dataset_sample(ds, start + i, b->x + (size_t)i * numel);
        if (pp->task == CNN_TASK_CLASSIFICATION) b->it[i] = ds->y[start + i];
        if (pp->task == CNN_TASK_SEGMENTATION)
            memcpy(b->it + (size_t)i * pixels, ds->masks + (size_t)(start + i) * pixels,
                   pixels * sizeof *b->it);
        if (pp->task == CNN_TASK_REGRESSION)
            memcpy(b->ft + (size_t)i * ds->n_targets,
                   ds->targets + (size_t)(start + i) * ds->n_targets,
                   (size_t)ds->n_targets * sizeof *b->ft);
    }
    cnn_prep_apply(pp, &ds->shape, b->x, count, b->scratch);
}

/* Top-1, top-5 and the confusion of count samples (or pixels: P per sample) of logits z. */
static void score_classes(const float *z, const int32_t *y, int count, int K, size_t P,
                          int64_t *top1, int64_t *top5, cnn_metrics *m) {
    for (int i = 0; i < count; i++)
        for (size_t p = 0; p < P; p++) {
            const float *zi = z + (size_t)i * K * P + p;
            int label = y[(size_t)i * P + p], best = 0, rank = 0;
            for (int k = 1; k < K; k++)
                if (zi[k * P] > zi[best * P]) best = k;
            /* The true class's rank: how many classes score strictly higher. */
            for (int k = 0; k < K; k++) rank += zi[k * P] > zi[label * P];
            *top1 += best == label;
            *top5 += rank < 5;
            m->confusion[(size_t)label * K + best]++;
        }
}

/* Mean over the classes with a non-empty union of TP / (TP + FP + FN). */
static double mean_iou(const int64_t *conf, int K) {
    double sum = 0;
    int present = 0;
    for (int k = 0; k < K; k++) {
        int64_t tp = conf[(size_t)k * K + k], row = 0, col = 0;
        for (int j = 0; j < K; j++) row += conf[(size_t)k * K + j], col += conf[(size_t)j * K + k];
        int64_t uni = row + col - tp;
        if (uni > 0) sum += (double)tp / (double)uni, present++;
    }
    return present ? sum / present : 0.0;
}

/* The loss of one batch on the score layer's output z. */
static cnn_status batch_loss(const cnn_preprocess *pp, const float *z, const batch_buf *b,
                             int count, int K, size_t P, size_t numel_out, float *l) {
    switch (pp->loss) {
    case CNN_LOSS_SOFTMAX_CE:
    case CNN_LOSS_PIXEL_CE:
        return cnn_loss_cross_entropy(z, b->it, count, K, (int)P, l, NULL);
    case CNN_LOSS_MSE:
        return cnn_loss_mse(z, b->ft, (size_t)count * numel_out, l, NULL);
    case CNN_LOSS_BCE_LOGITS:
        return cnn_loss_bce_logits(z, b->ft, (size_t)count * numel_out, l, NULL);
    }
    return CNN_STATUS_INVALID_ARGUMENT;
}

/* Checks that ds has the targets of the task and that they fit the score layer's shape. */
cnn_status cnn_check_fit(cnn_net *net, const cnn_dataset *ds, const cnn_preprocess *pp, int score) {
    cnn_shape out = cnn_net_layer_shape(net, score), in = cnn_net_input_shape(net, 0);
    char a[64], b[64];
    if (cnn_shape_numel(&in) != cnn_shape_numel(&ds->shape) || in.dim[0] != ds->shape.dim[0])
        return cnn_error(net, CNN_STATUS_SHAPE, "the network's input is %s, the data's %s",
                         cnn_shape_str(&in, a, sizeof a), cnn_shape_str(&ds->shape, b, sizeof b));
    size_t pixels = cnn_shape_numel(&ds->shape) / (size_t)ds->shape.dim[0];
    switch (pp->task) {
    case CNN_TASK_CLASSIFICATION:
        if (!ds->y || out.rank != 1 || out.dim[0] != ds->classes)
            return cnn_error(net, CNN_STATUS_SHAPE,
                             "classification needs labels and flat logits for the data's %d "
                             "classes; the output is %s%s",
                             ds->classes, cnn_shape_str(&out, a, sizeof a),
                             ds->y ? "" : " and the data set has no labels");
        break;
    case CNN_TASK_SEGMENTATION:
        if (!ds->masks || out.rank < 2 || out.dim[0] != ds->classes ||
            cnn_shape_numel(&out) / (size_t)out.dim[0] != pixels)
            return cnn_error(net, CNN_STATUS_SHAPE,
                             "segmentation needs masks and logits of %d classes x the image's "
                             "%s pixels; the output is %s%s",
                             ds->classes, cnn_shape_str(&ds->shape, b, sizeof b),
                             cnn_shape_str(&out, a, sizeof a), ds->masks ? "" : ", no masks");
        break;
    case CNN_TASK_REGRESSION:
        if (!ds->targets || cnn_shape_numel(&out) != (size_t)ds->n_targets)
            return cnn_error(net, CNN_STATUS_SHAPE,
                             "regression needs %d targets per sample; the output is %s",
                             ds->n_targets, cnn_shape_str(&out, a, sizeof a));
        break;
    }
    return CNN_STATUS_OK;
}

/* Allocates the batch buffers for B samples of ds (out: the score layer's size). */
static int batch_alloc(batch_buf *b, const cnn_dataset *ds, int B, size_t out,
                       const cnn_preprocess *pp) {
    size_t numel = cnn_shape_numel(&ds->shape), pixels = numel / (size_t)ds->shape.dim[0];
    size_t ints = ds->masks ? (size_t)B * pixels : (size_t)B;
    b->x = cnn_alloc((size_t)B * numel * sizeof *b->x);
    b->scratch = cnn_alloc(2 * numel * sizeof *b->scratch);
    b->it = cnn_alloc(ints * sizeof *b->it);
    b->ft = ds->targets ? cnn_alloc((size_t)B * (size_t)ds->n_targets * sizeof *b->ft) : NULL;
    size_t tta = cnn_prep_tta_floats(pp, B, numel, out);
    b->avg = tta ? cnn_alloc(tta * sizeof *b->avg) : NULL;
    return b->x && b->scratch && b->it && (!ds->targets || b->ft) && (!tta || b->avg);
}

static cnn_status run_eval(cnn_net *net, const cnn_dataset *ds, const cnn_preprocess *pp, int score,
                           batch_buf *b, cnn_metrics *m) {
    cnn_shape out = cnn_net_layer_shape(net, score);
    int K = pp->task == CNN_TASK_REGRESSION ? 0 : out.dim[0];
    size_t numel_out = cnn_shape_numel(&out), P = K ? numel_out / (size_t)K : 1;
    double loss = 0.0;
    int64_t top1 = 0, top5 = 0;
    cnn_status st = CNN_STATUS_OK;
    for (int start = 0; start < ds->n && !st; start += net->max_batch) {
        int count = ds->n - start < net->max_batch ? ds->n - start : net->max_batch;
        load_batch(ds, pp, start, count, b);
        const float *z = cnn_prep_scores(net, pp, b->x, count, score, b->avg, &st);
        if (!z) break;
        float l;
        if ((st = batch_loss(pp, z, b, count, K, P, numel_out, &l))) {
            cnn_error(net, st, "evaluation loss on samples %d to %d: %s", start, start + count - 1,
                      cnn_status_str(st));
            break;
        }
        loss += (double)l * count;
        if (K) score_classes(z, b->it, count, K, P, &top1, &top5, m);
    }
    double n = (double)ds->n * (double)P;
    m->loss = loss / ds->n;
    m->top1 = K ? (double)top1 / n : NAN;
    m->top5 = K ? (double)top5 / n : NAN;
    if (pp->task == CNN_TASK_SEGMENTATION) m->iou = mean_iou(m->confusion, K);
    return st;
}

static cnn_status evaluate(cnn_net *net, const cnn_dataset *ds, const cnn_preprocess *pp,
                           cnn_metrics *m) {
    memset(m, 0, sizeof *m);
    if (!net->max_batch) return cnn_error(net, CNN_STATUS_STATE, "evaluate before cnn_net_prepare");
    int score = pp->task == CNN_TASK_REGRESSION ? net->output : cnn_net_score_layer(net);
    cnn_status st = cnn_check_fit(net, ds, pp, score);
    if (st) return st;
    int K = pp->task == CNN_TASK_REGRESSION ? 0 : ds->classes;
    batch_buf b = {0};
    m->n = ds->n;
    m->classes = K;
    if (K) m->confusion = cnn_calloc((size_t)K * K, sizeof *m->confusion);
    size_t out = cnn_shape_numel(&net->nodes[score]->shape);
    if (!batch_alloc(&b, ds, net->max_batch, out, pp) || (K && !m->confusion)) {
        st = cnn_error(net, CNN_STATUS_NO_MEMORY, "out of memory for evaluation");
    } else {
        int was_training = net->training;
        cnn_net_set_training(net, 0);
        st = run_eval(net, ds, pp, score, &b, m);
        cnn_net_set_training(net, was_training);
    }
    batch_free(&b);
    if (st) cnn_metrics_free(m);
    return st;
}

cnn_status cnn_evaluate(cnn_net *net, const cnn_dataset *ds, const float *mean, const float *std,
                        cnn_metrics *m) {
    cnn_preprocess pp = {.task = CNN_TASK_CLASSIFICATION,
                         .loss = CNN_LOSS_SOFTMAX_CE,
                         .channels = ds->shape.dim[0],
                         .mean = mean,
                         .std = mean ? std : NULL,
                         .classes = ds->classes};
    if (!std) pp.mean = NULL;
    return evaluate(net, ds, &pp, m);
}

cnn_status cnn_evaluate_task(cnn_net *net, const cnn_dataset *ds, cnn_metrics *m) {
    return evaluate(net, ds, cnn_net_preprocess(net), m);
}

void cnn_metrics_free(cnn_metrics *m) {
    cnn_free(m->confusion);
    m->confusion = NULL;
}

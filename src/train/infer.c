/*
 * infer.c - inference for a C program: load a checkpoint, classify raw images (a buffer, or an
 * image file) with the network's stored preprocessing, free. Probabilities are the softmax of
 * the score layer (a final softmax's input), in double, so a network ending in a softmax gives
 * its own output's values.
 */
#include "../core/internal.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

cnn_status cnn_net_load(const char *path, cnn_net **net, char *err, size_t errlen) {
    return cnn_net_load_meta(path, net, NULL, err, errlen);
}

cnn_status cnn_net_load_meta(const char *path, cnn_net **net, char **meta, char *err,
                             size_t errlen) {
    int onnx = cnn_is_onnx(path) && !cnn_is_checkpoint(path);
    if (meta) *meta = NULL; /* cnn_checkpoint_load's on failure too */
    cnn_status st = onnx ? cnn_onnx_load(path, net, err, errlen)
                         : cnn_checkpoint_load(path, net, NULL, meta, err, errlen);
    if (!st && onnx && meta && !(*meta = calloc(1, 1))) {
        cnn_net_free(*net);
        *net = NULL;
        snprintf(err, errlen, "%s: out of memory", path);
        st = CNN_STATUS_NO_MEMORY;
    }
    if (st) return st;
    int threads = cnn_cpu_count();
    cnn_net_set_threads(*net, threads < 8 ? threads : 8);
    cnn_net_set_training(*net, 0);
    return CNN_STATUS_OK;
}

/* The top_k classes of one sample's scores z (K of them) and their probabilities. */
static void top_classes(const float *z, int K, int top_k, int *classes, float *probs) {
    double mx = z[0], sum = 0;
    for (int k = 1; k < K; k++) mx = z[k] > mx ? z[k] : mx;
    for (int k = 0; k < K; k++) sum += exp((double)z[k] - mx);
    for (int r = 0; r < top_k; r++) {
        /* The r-th best: the largest score below the (r-1)-th, ties by the lower index. */
        int best = -1;
        for (int k = 0; k < K; k++) {
            int taken = 0;
            for (int q = 0; q < r && !taken; q++) taken = classes[q] == k;
            if (!taken && (best < 0 || z[k] > z[best])) best = k;
        }
        classes[r] = best;
        if (probs) probs[r] = (float)(exp((double)z[best] - mx) / sum);
    }
}

static cnn_status check_classify(cnn_net *net, int n, int top_k, int *K) {
    const cnn_preprocess *p = cnn_net_preprocess(net);
    cnn_shape s = cnn_net_layer_shape(net, cnn_net_score_layer(net));
    char a[64];
    if (net->n_inputs != 1)
        return cnn_error(net, CNN_STATUS_STATE, "classify: the network has %d inputs, not 1",
                         net->n_inputs);
    if (p->task != CNN_TASK_CLASSIFICATION || s.rank != 1)
        return cnn_error(net, CNN_STATUS_STATE,
                         "classify: the network was trained for %s; its output is %s, not "
                         "class scores",
                         cnn_task_name(p->task), cnn_shape_str(&s, a, sizeof a));
    *K = s.dim[0];
    if (n < 1 || top_k < 1 || top_k > *K)
        return cnn_error(net, CNN_STATUS_INVALID_ARGUMENT,
                         "classify: %d images, top %d of %d classes: both must be at least 1, "
                         "top at most the classes",
                         n, top_k, *K);
    return CNN_STATUS_OK;
}

cnn_status cnn_classify(cnn_net *net, const float *images, int n, int top_k, int *classes,
                        float *probs) {
    int K;
    cnn_status st = check_classify(net, n, top_k, &K);
    if (st) return st;
    int B = net->max_batch ? net->max_batch : (n < 64 ? n : 64);
    if (!net->max_batch && (st = cnn_net_prepare(net, B))) return st;
    cnn_shape in = cnn_net_input_shape(net, 0);
    size_t numel = cnn_shape_numel(&in);
    float *x = cnn_alloc((size_t)B * numel * sizeof *x);
    int *best = cnn_alloc((size_t)top_k * sizeof *best);
    float *pr = cnn_alloc((size_t)top_k * sizeof *pr);
    const cnn_preprocess *pp = cnn_net_preprocess(net);
    size_t tta = cnn_prep_tta_floats(pp, B, numel, (size_t)K);
    float *avg = tta ? cnn_alloc(tta * sizeof *avg) : NULL;
    if (!x || !best || !pr || (tta && !avg))
        st = cnn_error(net, CNN_STATUS_NO_MEMORY, "classify: out of memory");
    int was_training = net->training;
    cnn_net_set_training(net, 0);
    int score = cnn_net_score_layer(net);
    for (int start = 0; !st && start < n; start += B) {
        int count = n - start < B ? n - start : B;
        memcpy(x, images + (size_t)start * numel, (size_t)count * numel * sizeof *x);
        if ((st = cnn_preprocess_images(net, x, count))) break;
        const float *z = cnn_prep_scores(net, pp, x, count, score, avg, &st);
        if (!z) break;
        for (int i = 0; i < count; i++) {
            top_classes(z + (size_t)i * K, K, top_k, best, pr);
            size_t at = (size_t)(start + i) * top_k;
            if (classes) memcpy(classes + at, best, (size_t)top_k * sizeof *best);
            if (probs) memcpy(probs + at, pr, (size_t)top_k * sizeof *pr);
        }
    }
    cnn_net_set_training(net, was_training);
    cnn_free(x);
    cnn_free(avg);
    cnn_free(best);
    cnn_free(pr);
    return st;
}

cnn_status cnn_classify_file(cnn_net *net, const char *path, int top_k, int *classes,
                             float *probs) {
    int K;
    cnn_status st = check_classify(net, 1, top_k, &K);
    if (st) return st;
    cnn_shape in = cnn_net_input_shape(net, 0);
    char a[64];
    if (in.rank != 3)
        return cnn_error(net, CNN_STATUS_SHAPE,
                         "classify %s: the network's input %s is not an "
                         "image (C, H, W)",
                         path, cnn_shape_str(&in, a, sizeof a));
    float *x = cnn_alloc(cnn_shape_numel(&in) * sizeof *x);
    if (!x) return cnn_error(net, CNN_STATUS_NO_MEMORY, "classify %s: out of memory", path);
    char err[1024];
    st = cnn_image_load(path, in.dim[0], in.dim[1], in.dim[2], x, err, sizeof err);
    if (st)
        cnn_error(net, st, "%s", err);
    else
        st = cnn_classify(net, x, 1, top_k, classes, probs);
    cnn_free(x);
    return st;
}

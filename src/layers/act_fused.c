/*
 * act_fused.c - the activation a layer applies to its own output (act=). See act_fused.h.
 */
#include "act_fused.h"

#include <string.h>

const char *const cnn_act_names[] = {"none", "relu", NULL};

int cnn_act_of(const char *name) {
    for (int k = 0; cnn_act_names[k]; k++)
        if (!strcmp(cnn_act_names[k], name)) return k;
    return -1;
}

size_t cnn_act_saved_bytes(int act, int batch, size_t numel) {
    return act == CNN_ACT_RELU ? (size_t)batch * numel * sizeof(float) : 0;
}

/* Parts of ACT_PART values, shared by the threads. */
#define ACT_PART 16384

typedef struct mask_job {
    const float *y, *dy;
    float *out;
    size_t count;
    int guided;
} mask_job;

static void mask_parts(void *arg, long begin, long end, int worker) {
    const mask_job *j = arg;
    size_t i0 = (size_t)begin * ACT_PART, i1 = (size_t)end * ACT_PART;
    const float *restrict y = j->y, *restrict dy = j->dy;
    float *restrict d = j->out;
    if (i1 > j->count) i1 = j->count;
    if (j->guided) { /* guided backpropagation: only positive gradients, as the relu layer */
#pragma omp simd
        for (size_t i = i0; i < i1; i++) d[i] = y[i] > 0.0f && dy[i] > 0.0f ? dy[i] : 0.0f;
    } else {
#pragma omp simd
        for (size_t i = i0; i < i1; i++) d[i] = y[i] > 0.0f ? dy[i] : 0.0f;
    }
}

void cnn_relu_mask(const cnn_ctx *c, const float *y, const float *dy, float *out, size_t count) {
    mask_job j = {y, dy, out, count, c->guided};
    cnn_parallel_for(c->workers, c->threads, (long)((count + ACT_PART - 1) / ACT_PART),
                     mask_parts, &j);
}

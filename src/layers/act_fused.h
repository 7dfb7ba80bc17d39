/*
 * act_fused.h - an activation a layer applies to its own output (the act= hyper-parameter of
 * conv2d and add, which cnn_net_fuse sets when it absorbs a relu layer): its names, and the
 * gradient pass such a layer runs before its own backward. One place, so that every layer with
 * act= means the same by it.
 */
#ifndef CNN_LAYERS_ACT_FUSED_H
#define CNN_LAYERS_ACT_FUSED_H

#include "../core/internal.h"

/* The act= values: "none" (CNN_ACT_NONE) and "relu" (CNN_ACT_RELU, max(y, 0) with NaN kept,
 * as the relu layer). */
enum { CNN_ACT_NONE, CNN_ACT_RELU };
extern const char *const cnn_act_names[];
/* The act= value named name, or -1. */
int cnn_act_of(const char *name);

/* Bytes a layer with act=relu keeps for its backward: its output gradient masked, batch
 * samples of numel values. */
size_t cnn_act_saved_bytes(int act, int batch, size_t numel);

/* out[i] = dy[i] where y[i] > 0 (and, with the guided rule of c, dy[i] > 0), else 0, for count
 * values, over the threads: the gradient of the values before the relu, from the layer's own
 * output y and output gradient dy, as the relu layer's backward pass gives it. */
void cnn_relu_mask(const cnn_ctx *c, const float *y, const float *dy, float *out, size_t count);

#endif

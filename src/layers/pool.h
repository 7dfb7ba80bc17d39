/*
 * pool.h - what the max pooling layers (max_pool2d, adaptive_max_pool2d) share with the layers
 * that reuse their argmax (max_unpool2d).
 */
#ifndef CNN_LAYERS_POOL_H
#define CNN_LAYERS_POOL_H

#include "../core/internal.h"

/* Is n a layer that keeps the argmax of each output (max_pool2d, adaptive_max_pool2d)? */
int cnn_node_has_argmax(const cnn_node *n);

/* The saved memory of such a layer (its type's saved_bytes): a header saying whether the last
 * forward pass kept the argmax, then the argmax of batch samples. */
size_t cnn_pool_argmax_bytes(const cnn_node *n, int batch);

/* Where the forward pass of such a layer n writes the argmax: NULL when the pass need not keep
 * it, an evaluation pass whose argmax no later layer reads (cnn_pool_argmax_read). At batch 1
 * ResNet-18's 3x3 stem pooling takes a third less time without it (0.41 -> 0.27 ms, Zen 5). */
int32_t *cnn_pool_argmax_out(cnn_node *n, const cnn_ctx *c);

/* Marks n's argmax as read by a later layer's forward pass (max_unpool2d's setup): n keeps it
 * in every pass. */
void cnn_pool_argmax_read(cnn_node *n);

/* The argmax of the last forward pass of such a layer n (ctx c of its batch), sample s at
 * s*C*OH*OW: C*OH*OW entries each, each the flat index h*W+w of the maximum in its (H, W)
 * input plane, exactly what PyTorch's return_indices gives. A pass that did not keep it
 * (cnn_pool_argmax_out) finds it here, by running n's forward pass again (the same values):
 * call it outside parallel regions. Valid until the next forward pass. */
const int32_t *cnn_pool_argmax(cnn_node *n, const cnn_ctx *c);

#endif /* CNN_LAYERS_POOL_H */

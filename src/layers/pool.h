/*
 * pool.h - what the max pooling layers (max_pool2d, adaptive_max_pool2d) share with the layers
 * that reuse their argmax (max_unpool2d).
 */
#ifndef CNN_LAYERS_POOL_H
#define CNN_LAYERS_POOL_H

#include "../core/internal.h"

/* Is n a layer that keeps the argmax of each output (max_pool2d, adaptive_max_pool2d)? */
int cnn_node_has_argmax(const cnn_node *n);

/* The argmax saved by the last forward of such a layer n for one sample: C*OH*OW entries,
 * each the flat index h*W+w of the maximum in its (H, W) input plane, exactly what PyTorch's
 * return_indices gives. Valid from n's forward until the next forward. */
const int32_t *cnn_pool_argmax(const cnn_node *n, int sample);

#endif /* CNN_LAYERS_POOL_H */

/*
 * pool.h - what max_pool2d shares with the layers that reuse its argmax (max_unpool2d).
 */
#ifndef CNN_LAYERS_POOL_H
#define CNN_LAYERS_POOL_H

#include "../core/internal.h"

/* Is n a max_pool2d layer? */
int cnn_node_is_max_pool2d(const cnn_node *n);

/* The argmax saved by the last forward of the max_pool2d layer n for one sample: C*OH*OW
 * entries, each the flat index h*W+w of the maximum in its (H, W) input plane, exactly what
 * PyTorch's return_indices gives. Valid from n's forward until the next forward. */
const int32_t *cnn_max_pool2d_indices(const cnn_node *n, int sample);

#endif /* CNN_LAYERS_POOL_H */

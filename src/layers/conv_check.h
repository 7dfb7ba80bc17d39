/*
 * conv_check.h - the hyper-parameter checks that conv2d and conv_transpose2d share: a (C, H, W)
 * input, positive sizes, and groups that divide both channel counts. One place, so that both
 * layers refuse the same mistakes with the same words.
 */
#ifndef CNN_LAYERS_CONV_CHECK_H
#define CNN_LAYERS_CONV_CHECK_H

#include "../core/internal.h"

cnn_status cnn_conv2d_check(cnn_net *net, const cnn_node *n, int out, const int kernel[2],
                            const int stride[2], const int dilation[2], int groups);

#endif

/*
 * conv_check.c - see conv_check.h.
 */
#include "conv_check.h"

cnn_status cnn_conv2d_check(cnn_net *net, const cnn_node *n, int out, const int kernel[2],
                            const int stride[2], const int dilation[2], int groups) {
    const cnn_shape *in = &n->in[0]->shape;
    char sh[64];
    if (in->rank != 3)
        return cnn_node_error(net, n, CNN_STATUS_SHAPE,
                              "needs an input (C, H, W), got %s from '%s'",
                              cnn_shape_str(in, sh, sizeof sh), n->in[0]->name);
    if (out < 1)
        return cnn_node_error(net, n, CNN_STATUS_INVALID_ARGUMENT,
                              "out must be at least 1, got %d", out);
    if (kernel[0] < 1 || kernel[1] < 1)
        return cnn_node_error(net, n, CNN_STATUS_INVALID_ARGUMENT,
                              "kernel must be positive, got %dx%d", kernel[0], kernel[1]);
    if (stride[0] < 1 || stride[1] < 1)
        return cnn_node_error(net, n, CNN_STATUS_INVALID_ARGUMENT,
                              "stride must be positive, got %dx%d", stride[0], stride[1]);
    if (dilation[0] < 1 || dilation[1] < 1)
        return cnn_node_error(net, n, CNN_STATUS_INVALID_ARGUMENT,
                              "dilation must be positive, got %dx%d", dilation[0], dilation[1]);
    if (groups < 1)
        return cnn_node_error(net, n, CNN_STATUS_INVALID_ARGUMENT,
                              "groups must be at least 1, got %d", groups);
    if (in->dim[0] % groups)
        return cnn_node_error(net, n, CNN_STATUS_SHAPE,
                              "groups %d does not divide input channels %d (input %s)", groups,
                              in->dim[0], cnn_shape_str(in, sh, sizeof sh));
    if (out % groups)
        return cnn_node_error(net, n, CNN_STATUS_INVALID_ARGUMENT,
                              "groups %d does not divide output channels %d (out)", groups, out);
    return CNN_STATUS_OK;
}

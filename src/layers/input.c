/*
 * input.c - the network's input: holds the samples given to forward, shape (C), (C, L) or
 * (C, H, W) per sample. Its gradient is d loss / d input after backward (saliency maps use it).
 */
#include "../core/internal.h"

typedef struct input_params {
    cnn_shape shape;
} input_params;

static const cnn_field input_fields[] = {
    {"shape", CNN_FIELD_SHAPE, offsetof(input_params, shape), NULL, NULL,
     "shape of one sample: C, CxL or CxHxW"},
    {0},
};

static cnn_status input_setup(cnn_net *net, cnn_node *n) {
    (void)net;
    n->shape = ((const input_params *)n->params)->shape;
    return CNN_STATUS_OK;
}

const cnn_layer_type cnn_layer_input = {
    .name = "input",
    .doc = "The network's input; its data is given to forward.",
    .params_size = sizeof(input_params),
    .fields = input_fields,
    .min_inputs = 0,
    .max_inputs = 0,
    .setup = input_setup,
};

/*
 * simple.c - the smallest complete use of libcnn: build a CNN, train it, evaluate it.
 *
 * The task is synthetic so that the example needs no data files: each 1x12x12 image is noise
 * with one bright 3x3 square somewhere; the class is the quadrant the square is in (0..3).
 * A small CNN learns it in a few hundred steps.
 *
 *   make build/examples/simple && build/examples/simple
 */
#include "cnn.h"

#include <stdio.h>
#include <stdlib.h>

#define SIZE 12
#define BATCH 32
#define CLASSES 4

/* Makes a batch of images and their labels from a simple generator of our own. */
static void make_batch(float *x, int32_t *labels, int n, uint64_t *state) {
    for (int i = 0; i < n; i++) {
        float *img = x + (size_t)i * SIZE * SIZE;
        for (int p = 0; p < SIZE * SIZE; p++) {
            *state = *state * 6364136223846793005ULL + 1442695040888963407ULL;
            img[p] = 0.2f * (float)(*state >> 40) / (float)(1 << 24);
        }
        *state = *state * 6364136223846793005ULL + 1442695040888963407ULL;
        int r = (int)((*state >> 33) % (SIZE - 2)), c = (int)((*state >> 45) % (SIZE - 2));
        for (int dr = 0; dr < 3; dr++)
            for (int dc = 0; dc < 3; dc++) img[(r + dr) * SIZE + c + dc] = 1.0f;
        /* The quadrant of the square's centre. */
        labels[i] = (r + 1 >= SIZE / 2) * 2 + (c + 1 >= SIZE / 2);
    }
}

/* Stops the program with the network's message when a call fails. */
static void check(cnn_status st, cnn_net *net, const char *what) {
    if (st == CNN_STATUS_OK) return;
    fprintf(stderr, "%s failed: %s: %s\n", what, cnn_status_str(st), cnn_net_last_error(net));
    exit(1);
}

int main(void) {
    /* 1. Build: each layer names its inputs (NULL: the previous layer) and its arguments. */
    cnn_net *net = cnn_net_new(42);
    if (!net) return 1;
    check(cnn_add(net, "input", "image", NULL, "shape=1x12x12"), net, "input");
    check(cnn_add(net, "conv2d", "conv1", NULL, "out=8 kernel=3 padding=same"), net, "conv1");
    check(cnn_add(net, "batchnorm", "bn1", NULL, NULL), net, "bn1");
    check(cnn_add(net, "relu", "relu1", NULL, NULL), net, "relu1");
    check(cnn_add(net, "max_pool2d", "pool1", NULL, "kernel=2"), net, "pool1");
    check(cnn_add(net, "conv2d", "conv2", NULL, "out=8 kernel=3 padding=same"), net, "conv2");
    check(cnn_add(net, "relu", "relu2", NULL, NULL), net, "relu2");
    check(cnn_add(net, "global_max_pool", "gmp", NULL, NULL), net, "gmp");
    check(cnn_add(net, "dense", "logits", NULL, "out=4"), net, "logits");
    printf("network: %d layers, %zu parameters\n", cnn_net_layer_count(net),
           cnn_net_param_count(net));
    for (int i = 0; i < cnn_net_layer_count(net); i++) {
        char shape[64];
        cnn_shape s = cnn_net_layer_shape(net, i);
        printf("  %-8s %-16s %-10s %6zu params\n", cnn_net_layer_name(net, i),
               cnn_net_layer_type(net, i), cnn_shape_str(&s, shape, sizeof shape),
               cnn_net_layer_param_count(net, i));
    }

    /* 2. Plan memory once for the largest batch; nothing is allocated while training. */
    check(cnn_net_prepare(net, BATCH), net, "prepare");
    cnn_optim_config cfg = cnn_optim_defaults(CNN_OPTIM_ADAM, 0.01f);
    cnn_optim *opt = cnn_optim_new(net, &cfg);
    if (!opt) check(CNN_STATUS_INVALID_ARGUMENT, net, "optimiser");

    /* 3. Train: forward, loss (which also seeds the output gradient), backward, step. */
    float x[BATCH * SIZE * SIZE];
    int32_t labels[BATCH];
    uint64_t data_state = 7;
    cnn_net_set_training(net, 1);
    for (int step = 1; step <= 300; step++) {
        float loss;
        make_batch(x, labels, BATCH, &data_state);
        cnn_net_zero_grad(net);
        check(cnn_net_forward(net, x, BATCH), net, "forward");
        check(cnn_net_loss(net, CNN_LOSS_SOFTMAX_CE, labels, &loss), net, "loss");
        check(cnn_net_backward(net), net, "backward");
        check(cnn_optim_step(opt), net, "step");
        if (step == 1 || step % 50 == 0) printf("step %3d  loss %.4f\n", step, loss);
    }

    /* 4. Evaluate on fresh images, in evaluation mode (batch norm's running statistics). */
    cnn_net_set_training(net, 0);
    int correct = 0, total = 0;
    for (int b = 0; b < 10; b++) {
        make_batch(x, labels, BATCH, &data_state);
        check(cnn_net_forward(net, x, BATCH), net, "forward");
        const float *y = cnn_net_output(net);
        for (int i = 0; i < BATCH; i++, total++) {
            int best = 0;
            for (int k = 1; k < CLASSES; k++)
                if (y[i * CLASSES + k] > y[i * CLASSES + best]) best = k;
            correct += best == labels[i];
        }
    }
    printf("accuracy on %d new images: %.1f%%\n", total, 100.0 * correct / total);

    cnn_optim_free(opt);
    cnn_net_free(net);
    return correct * 10 >= total * 9 ? 0 : 1;
}

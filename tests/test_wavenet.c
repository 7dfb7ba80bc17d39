/*
 * test_wavenet.c - a WaveNet-style stack of causal dilated 1-D convolutions (dilations 1, 2,
 * 4, 8): its outputs never depend on future inputs (perturbing the future leaves every past
 * output bit for bit as it was, and the gradient of an output reaches no later input), and it
 * learns a synthetic sequence task that needs its receptive field.
 */
#include "testlib.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define L 64
#define BATCH 16


static cnn_net *build(void) {
    cnn_net *net = cnn_net_new(3);
    const char *layers[][4] = {
        {"input", "x", NULL, "shape=1x64"},
        {"conv1d", "c1", NULL, "out=16 kernel=2 dilation=1 padding=causal"},
        {"tanh", "t1", NULL, NULL},
        {"conv1d", "c2", NULL, "out=16 kernel=2 dilation=2 padding=causal"},
        {"tanh", "t2", NULL, NULL},
        {"add", "r2", "t1,t2", NULL},
        {"conv1d", "c3", NULL, "out=16 kernel=2 dilation=4 padding=causal"},
        {"tanh", "t3", NULL, NULL},
        {"add", "r3", "r2,t3", NULL},
        {"conv1d", "c4", NULL, "out=16 kernel=2 dilation=8 padding=causal"},
        {"tanh", "t4", NULL, NULL},
        {"add", "r4", "r3,t4", NULL},
        {"conv1d", "out", NULL, "out=1 kernel=1"},
    };
    for (size_t i = 0; i < sizeof layers / sizeof layers[0]; i++)
        if (!T_OK(net, cnn_add(net, layers[i][0], layers[i][1], layers[i][2], layers[i][3]))) {
            cnn_net_free(net);
            return NULL;
        }
    return net;
}

/* The target: y[t] = 0.6 x[t-3] - 0.4 x[t-11] (0 before the start), which needs a receptive
 * field of 12 steps; the stack has 16. */
static void target(const float *x, float *y) {
    for (int n = 0; n < BATCH; n++)
        for (int t = 0; t < L; t++) {
            const float *xs = x + n * L;
            y[n * L + t] = 0.6f * (t >= 3 ? xs[t - 3] : 0) - 0.4f * (t >= 11 ? xs[t - 11] : 0);
        }
}

int main(void) {
    cnn_net *net = build();
    if (!net || !T_OK(net, cnn_net_prepare(net, BATCH))) return t_finish();
    cnn_shape out = cnn_net_output_shape(net);
    T_CHECK(out.rank == 2 && out.dim[0] == 1 && out.dim[1] == L, "output 1x%d", L);

    /* Causality: perturb everything from t0 on; outputs before t0 keep every bit. */
    float x[BATCH * L], x2[BATCH * L], y[BATCH * L], y1[BATCH * L];
    t_fill(x, BATCH * L, 1, -1, 1);
    T_OK(net, cnn_net_forward(net, x, BATCH));
    memcpy(y1, cnn_net_output(net), sizeof y1);
    for (int t0 = 1; t0 < L; t0 += 7) {
        memcpy(x2, x, sizeof x);
        for (int n = 0; n < BATCH; n++)
            for (int t = t0; t < L; t++) x2[n * L + t] += 0.5f + 0.01f * t;
        T_OK(net, cnn_net_forward(net, x2, BATCH));
        const float *y2 = cnn_net_output(net);
        int past_same = 1, future_moved = 0;
        for (int n = 0; n < BATCH; n++)
            for (int t = 0; t < L; t++) {
                if (t < t0) past_same &= memcmp(&y1[n * L + t], &y2[n * L + t], 4) == 0;
                else future_moved |= y1[n * L + t] != y2[n * L + t];
            }
        T_CHECK(past_same, "perturbing the inputs from t=%d changed an earlier output", t0);
        T_CHECK(future_moved, "perturbing the inputs from t=%d changed no output", t0);
    }
    printf("  ok perturbing the future leaves the past outputs bit for bit\n");

    /* The gradient of output t0 reaches inputs up to t0 only (and all of the 16 before it). */
    T_OK(net, cnn_net_forward(net, x, BATCH));
    float *g = cnn_net_output_grad(net);
    memset(g, 0, sizeof(float) * BATCH * L);
    const int t0 = 40;
    g[t0] = 1.0f;
    T_OK(net, cnn_net_backward(net));
    const float *dx = cnn_net_input_grad(net, 0);
    int leaks = 0, reached = 0;
    for (int t = 0; t < L; t++) {
        if (t > t0) leaks += dx[t] != 0.0f;
        if (t <= t0 && t > t0 - 16) reached += dx[t] != 0.0f;
    }
    T_CHECK(leaks == 0, "%d later inputs receive gradient from output %d", leaks, t0);
    T_CHECK(reached == 16, "only %d of the 16 inputs in the receptive field get gradient", reached);
    printf("  ok d y[%d] / d x[t] = 0 for every t > %d; the receptive field is 16\n", t0, t0);

    /* Learning: MSE against the delayed mix, Adam, fresh random sequences every step. */
    cnn_optim_config cfg = cnn_optim_defaults(CNN_OPTIM_ADAM, 0.003f);
    cnn_optim *opt = cnn_optim_new(net, &cfg);
    float first = 0, last = 0;
    cnn_net_set_training(net, 1);
    for (int step = 0; step < 600; step++) {
        float loss;
        t_fill(x, BATCH * L, 1000 + (uint64_t)step, -1, 1);
        target(x, y);
        cnn_net_zero_grad(net);
        if (!T_OK(net, cnn_net_forward(net, x, BATCH)) ||
            !T_OK(net, cnn_net_loss(net, CNN_LOSS_MSE, y, &loss)) ||
            !T_OK(net, cnn_net_backward(net)) || !T_OK(net, cnn_optim_step(opt)))
            break;
        if (step == 0) first = loss;
        last = loss;
        if (step % 100 == 0 || step == 599) printf("  step %3d  mse %.5f\n", step, (double)loss);
    }
    T_CHECK(last < 0.02f * first, "the loss went from %g to %g only", (double)first, (double)last);
    cnn_optim_free(opt);
    cnn_net_free(net);
    return t_finish();
}

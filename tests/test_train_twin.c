/*
 * test_train_twin.c - end to end against PyTorch: a small CNN trained for a few steps from the
 * same initial weights reproduces PyTorch's losses and final weights.
 *
 * The fixture tests/ref/twin_train.bin (written by tests/ref/make_fixtures.py) holds the
 * network spec, conv2d(1->4, 3x3, padding 1) -> batchnorm -> relu -> max_pool2d 2 -> flatten ->
 * dense(->10), a batch x of 8 random 1x8x8 samples with random labels, the initial parameters
 * w0 (PyTorch's parameters() order, which is the flat buffer's) and batch-norm state state0,
 * and what torch.optim.SGD (lr 0.1, no momentum) gave over 10 steps of softmax cross-entropy in
 * training mode: the loss of each step, the final parameters and the final state.
 *
 * Each step here: zero the gradients, forward in training mode, cnn_net_loss (softmax
 * cross-entropy, which seeds the output gradient), backward, then p -= lr g. The update is done
 * twice over: once by the library's optimiser (when src/optim/optim.c is there) and once written
 * out in this file, so that a wrong optimiser and a wrong network are told apart. Every loss
 * must be within 1e-4 of PyTorch's, the final parameters and state within 1e-3.
 */
#include "testlib.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define LOSS_ATOL 1e-4
#define FINAL_ATOL 1e-3

typedef struct twin {
    const char *spec;
    int batch, steps;
    float lr;
    const float *x, *w0, *state0, *losses, *w_final, *state_final;
    const int32_t *labels;
    size_t n_x, n_w, n_state;
} twin;

static const t_tensor *need(const t_fixture *fx, const char *name, int kind) {
    const t_tensor *t = t_fixture_get(fx, name);
    T_CHECK(t != NULL && t->kind == kind, "twin_train.bin: record '%s' of kind %d is missing",
            name, kind);
    return t && t->kind == kind ? t : NULL;
}

/* Reads the fixture's records into tw; returns 0 (with failed checks) if one is missing. */
static int twin_read(const t_fixture *fx, twin *tw) {
    const t_tensor *spec = need(fx, "spec", 2), *batch = need(fx, "batch", 1),
                   *steps = need(fx, "steps", 1), *lr = need(fx, "lr", 0), *x = need(fx, "x", 0),
                   *labels = need(fx, "labels", 1), *w0 = need(fx, "w0", 0),
                   *s0 = need(fx, "state0", 0), *losses = need(fx, "losses", 0),
                   *wf = need(fx, "w_final", 0), *sf = need(fx, "state_final", 0);
    if (!spec || !batch || !steps || !lr || !x || !labels || !w0 || !s0 || !losses || !wf || !sf)
        return 0;
    tw->spec = spec->data;
    tw->batch = ((const int32_t *)batch->data)[0];
    tw->steps = ((const int32_t *)steps->data)[0];
    tw->lr = ((const float *)lr->data)[0];
    tw->x = x->data;
    tw->n_x = x->count;
    tw->labels = labels->data;
    tw->w0 = w0->data;
    tw->n_w = w0->count;
    tw->state0 = s0->data;
    tw->n_state = s0->count;
    tw->losses = losses->data;
    tw->w_final = wf->data;
    tw->state_final = sf->data;
    return T_CHECK(labels->count == (size_t)tw->batch && losses->count == (size_t)tw->steps &&
                       wf->count == w0->count && sf->count == s0->count,
                   "twin_train.bin: inconsistent record sizes");
}

/* Trains a fresh network from w0; use_optim picks cnn_optim_step over the hand-written update. */
static void train(const twin *tw, int use_optim) {
    const char *how = use_optim ? "cnn_optim SGD" : "hand-written SGD";
    printf("%s: %s\n", how, tw->spec);
    cnn_net *net = t_net(tw->spec, 1);
    if (!T_CHECK(net != NULL, "cannot build '%s'", tw->spec)) return;
    cnn_optim *opt = NULL;
    cnn_shape in = cnn_net_input_shape(net, 0);
    size_t n_params = cnn_net_param_count(net);
    if (!T_CHECK(n_params == tw->n_w, "the network has %zu parameters, the fixture %zu",
                 n_params, tw->n_w) ||
        !T_CHECK(cnn_net_state_count(net) == tw->n_state,
                 "the network has %zu state values, the fixture %zu", cnn_net_state_count(net),
                 tw->n_state) ||
        !T_CHECK(tw->n_x == (size_t)tw->batch * cnn_shape_numel(&in),
                 "x has %zu values for a batch of %d", tw->n_x, tw->batch))
        goto out;
    memcpy(cnn_net_params(net), tw->w0, n_params * sizeof(float));
    memcpy(cnn_net_state(net), tw->state0, tw->n_state * sizeof(float));
    cnn_net_set_training(net, 1);
    if (!T_OK(net, cnn_net_prepare(net, tw->batch))) goto out;
    if (use_optim) {
        cnn_optim_config cfg = cnn_optim_defaults(CNN_OPTIM_SGD, tw->lr);
        opt = cnn_optim_new(net, &cfg);
        if (!T_CHECK(opt != NULL, "cnn_optim_new: %s", cnn_net_last_error(net))) goto out;
    }

    printf("  step   cnn          torch        |diff|\n");
    double worst = 0.0;
    for (int step = 0; step < tw->steps; step++) {
        float loss = NAN;
        cnn_net_zero_grad(net);
        if (!T_OK(net, cnn_net_forward(net, tw->x, tw->batch)) ||
            !T_OK(net, cnn_net_loss(net, CNN_LOSS_SOFTMAX_CE, tw->labels, &loss)) ||
            !T_OK(net, cnn_net_backward(net)))
            goto out;
        double diff = fabs((double)loss - tw->losses[step]);
        if (diff > worst || diff != diff) worst = diff;
        printf("  %4d   %.8f   %.8f   %.2e\n", step + 1, (double)loss, (double)tw->losses[step],
               diff);
        T_CHECK(diff <= LOSS_ATOL, "%s: step %d: loss %.8f, PyTorch %.8f", how, step + 1,
                (double)loss, (double)tw->losses[step]);
        if (opt) {
            if (!T_OK(net, cnn_optim_step(opt))) goto out;
        } else {
            float *p = cnn_net_params(net);
            const float *g = cnn_net_grads(net);
            for (size_t i = 0; i < n_params; i++) p[i] -= tw->lr * g[i];
        }
    }
    printf("  largest loss difference %.3g\n", worst);
    char what[64];
    snprintf(what, sizeof what, "%s: final parameters", how);
    t_close(what, cnn_net_params(net), tw->w_final, n_params, FINAL_ATOL, 0.0);
    snprintf(what, sizeof what, "%s: final batch-norm state", how);
    t_close(what, cnn_net_state(net), tw->state_final, tw->n_state, FINAL_ATOL, 0.0);
out:
    cnn_optim_free(opt);
    cnn_net_free(net);
}

int main(int argc, char **argv) {
    setvbuf(stdout, NULL, _IOLBF, 0);
    const char *path = argc > 1 ? argv[1] : "tests/ref/twin_train.bin";
    t_fixture *fx = t_fixture_load(path);
    if (!T_CHECK(fx != NULL, "cannot load %s (run from the repository root)", path))
        return t_finish();
    twin tw = {0};
    if (twin_read(fx, &tw)) {
        train(&tw, 1);
        train(&tw, 0);
    }
    t_fixture_free(fx);
    return t_finish();
}

/*
 * test_profile.c - the per-layer profiler (cnn_net_set_profiling): calls counted per layer and
 * pass, times that add up (regions within a layer's time, the threads' busy time within what
 * its regions allow), regions only when work is shared, nothing counted while off, and results
 * bit-identical with profiling on and off.
 */
#include "testlib.h"

#include <stdlib.h>
#include <string.h>

static const char *SPEC = "input x - shape=3x16x16; conv2d c x out=16 kernel=3 padding=1;"
                          "batchnorm b -; relu r -; max_pool2d p - kernel=2; flatten f -;"
                          "dense o - out=5";
enum { BATCH = 16, PASSES = 3 };

/* PASSES training steps (forward, backward from a fixed output gradient); the output and the
 * weight gradients of the last into out (params count + output values). */
static void passes(cnn_net *net, const float *x, float *out) {
    cnn_shape o = cnn_net_output_shape(net);
    size_t no = BATCH * cnn_shape_numel(&o), np = cnn_net_param_count(net);
    for (int k = 0; k < PASSES; k++) {
        T_OK(net, cnn_net_forward(net, x, BATCH));
        cnn_net_zero_grad(net);
        t_fill(cnn_net_output_grad(net), no, 7, -1, 1);
        T_OK(net, cnn_net_backward(net));
    }
    memcpy(out, cnn_net_output(net), no * sizeof *out);
    memcpy(out + no, cnn_net_grads(net), np * sizeof *out);
}

static void check_counts(cnn_net *net, int threads) {
    int conv = cnn_net_find(net, "c"), input = cnn_net_find(net, "x");
    for (int l = 0; l < cnn_net_layer_count(net); l++) {
        cnn_layer_profile p = cnn_net_layer_profile(net, l);
        const char *name = cnn_net_layer_name(net, l);
        T_CHECK(p.forward.calls == PASSES, "%d threads: layer %s: %lld forward calls", threads,
                name, p.forward.calls);
        T_CHECK(p.backward.calls == (l == input ? 0 : PASSES),
                "%d threads: layer %s: %lld backward calls", threads, name, p.backward.calls);
        const cnn_pass_profile *pp[2] = {&p.forward, &p.backward};
        for (int k = 0; k < 2; k++) {
            const cnn_pass_profile *q = pp[k];
            T_CHECK(q->seconds >= 0 && q->region_seconds <= q->seconds + 1e-9 &&
                        q->busy_seconds <= threads * q->region_seconds + 1e-6,
                    "%d threads: layer %s pass %d: %g s, %g s in regions, %g s busy", threads,
                    name, k, q->seconds, q->region_seconds, q->busy_seconds);
            if (threads == 1)
                T_CHECK(q->regions == 0 && q->region_seconds == 0 && q->busy_seconds == 0,
                        "1 thread: layer %s pass %d: %lld regions", name, k, q->regions);
        }
    }
    cnn_layer_profile c = cnn_net_layer_profile(net, conv);
    T_CHECK(c.forward.seconds > 0 && c.backward.seconds > 0, "the convolution took time");
    if (threads > 1)
        T_CHECK(c.forward.regions >= PASSES && c.forward.busy_seconds > 0 &&
                    c.backward.regions >= PASSES,
                "2 threads: the convolution shares its work: %lld + %lld regions, %g s busy",
                c.forward.regions, c.backward.regions, c.forward.busy_seconds);
}

int main(void) {
    float x[BATCH * 3 * 16 * 16];
    t_fill(x, sizeof x / sizeof *x, 3, -1, 1);
    float *plain = NULL, *profiled = NULL;
    size_t n = 0;
    for (int threads = 1; threads <= 2; threads++) {
        cnn_net *a = t_net(SPEC, 11), *b = t_net(SPEC, 11);
        if (!T_CHECK(a && b, "networks")) return t_finish();
        cnn_shape o = cnn_net_output_shape(a);
        n = BATCH * cnn_shape_numel(&o) + cnn_net_param_count(a);
        plain = realloc(plain, n * sizeof *plain);
        profiled = realloc(profiled, n * sizeof *profiled);
        for (int k = 0; k < 2; k++) {
            cnn_net *net = k ? b : a;
            T_OK(net, cnn_net_set_threads(net, threads));
            T_OK(net, cnn_net_prepare(net, BATCH));
            cnn_net_set_training(net, 1);
        }
        /* Never on: zeros. */
        cnn_layer_profile z = cnn_net_layer_profile(a, 1);
        T_CHECK(z.forward.calls == 0 && z.backward.seconds == 0, "no profile before it is on");
        passes(a, x, plain);
        T_OK(b, cnn_net_set_profiling(b, 1));
        passes(b, x, profiled);
        T_OK(b, cnn_net_set_profiling(b, 0));
        t_same_bits(threads == 1 ? "1 thread: profiled vs not" : "2 threads: profiled vs not",
                    profiled, plain, n);
        check_counts(b, threads);
        /* Off: the counts stay as they were, to read. */
        passes(b, x, profiled);
        T_CHECK(cnn_net_layer_profile(b, 1).forward.calls == PASSES, "nothing counted while off");
        /* On again: cleared. */
        T_OK(b, cnn_net_set_profiling(b, 1));
        T_CHECK(cnn_net_layer_profile(b, 1).forward.calls == 0, "turning on clears the counts");
        /* Out of range: zeros, no crash. */
        T_CHECK(cnn_net_layer_profile(b, -1).forward.calls == 0 &&
                    cnn_net_layer_profile(b, 1000).forward.calls == 0,
                "layers out of range give zeros");
        cnn_net_free(a);
        cnn_net_free(b);
    }
    free(plain);
    free(profiled);
    return t_finish();
}

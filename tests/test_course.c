/*
 * test_course.c - the course's worked examples (shared/COURSE-EXAMPLES.md), asserting the true
 * values: a reader can check each with pencil and paper. Convolution is cross-correlation, one
 * channel, no bias. Where the slides printed something else the test holds the truth (noted).
 * Each example runs through the public API, with the fast and the reference kernels.
 */
#include "testlib.h"

#include <stdio.h>
#include <string.h>

static const float IMG_A[25] = {2, 9, 11, 22, 42, 12, 43, 2,  0, 65, 9, 87, 65,
                                2, 90, 21, 21, 44, 7, 2,  45, 2, 21, 2, 0};
static const float KER_A[9] = {0, 0, 1, 1, 0, 0, 0, 0, 1};
static const float IMG_B[25] = {3, 3, 2, 1, 0, 0, 0, 1, 3, 1, 3, 1, 2,
                                2, 3, 2, 0, 0, 2, 2, 2, 0, 0, 0, 1};
static const float KER_B[9] = {0, 1, 2, 2, 2, 0, 0, 1, 2};
static const float IMG_C[25] = {1, 1, 1, 0, 0, 0, 1, 1, 1, 0, 0, 0, 1,
                                1, 1, 0, 0, 1, 1, 0, 0, 1, 1, 0, 0};
static const float KER_C[9] = {1, 0, 1, 0, 1, 0, 1, 0, 1};
static const float IMG_D[16] = {8, 5, 2, 7, 1, 6, 0, 3, 2, 4, 7, 1, 5, 1, 8, 0};
static const float IMG_E[25] = {1, 1, 2, 0, 4, 0, 1, 7, 1, 0, 0, 8, 1,
                                1, 1, 9, 0, 1, 3, 5, 0, 4, 1, 0, 0};

/* Runs a one-layer network on a one-channel size x size image and checks the output. */
static void example(const char *name, const char *layer, const char *args, int size,
                    const float *img, const float *kernel, const float *want, int out_size,
                    double atol) {
    for (int reference = 0; reference <= 1; reference++) {
        char spec[256], what[96];
        snprintf(spec, sizeof spec, "input x - shape=1x%dx%d; %s l - %s", size, size, layer, args);
        cnn_net *net = t_net(spec, 1);
        if (!T_CHECK(net != NULL, "%s", spec)) return;
        cnn_net_set_reference(net, reference);
        if (kernel) memcpy(cnn_net_params(net), kernel, 9 * sizeof(float));
        cnn_shape s = cnn_net_output_shape(net);
        T_CHECK(s.rank == 3 && s.dim[1] == out_size && s.dim[2] == out_size,
                "%s: output %dx%d, expected %dx%d", name, s.dim[1], s.dim[2], out_size, out_size);
        if (T_OK(net, cnn_net_prepare(net, 1)) && T_OK(net, cnn_net_forward(net, img, 1))) {
            snprintf(what, sizeof what, "%s (%s kernels)", name, reference ? "reference" : "fast");
            t_close(what, cnn_net_output(net), want, (size_t)out_size * out_size, atol, 0);
        }
        cnn_net_free(net);
    }
}

#define CONV(name, args, img, ker, out_size, ...)                                              \
    do {                                                                                       \
        static const float want[] = {__VA_ARGS__};                                             \
        example(name, "conv2d", args, 5, img, ker, want, out_size, 1e-4);                      \
    } while (0)

int main(void) {
    const char *c = "out=1 kernel=3 bias=0";
    char args[128];

    CONV("a_valid_s1", c, IMG_A, KER_A, 3, 88, 67, 134, 55, 94, 132, 107, 25, 134);
    snprintf(args, sizeof args, "%s padding=1", c);
    /* The slide shows 12 at row 0, column 0; the true value is 43. */
    CONV("a_same_p1_s1", args, IMG_A, KER_A, 5, 43, 4, 9, 76, 22, 96, 88, 67, 134, 0, 64, 55, 94,
         132, 2, 89, 107, 25, 134, 7, 21, 89, 9, 23, 2);
    snprintf(args, sizeof args, "%s padding=same", c);
    CONV("a_same (padding=same)", args, IMG_A, KER_A, 5, 43, 4, 9, 76, 22, 96, 88, 67, 134, 0,
         64, 55, 94, 132, 2, 89, 107, 25, 134, 7, 21, 89, 9, 23, 2);
    snprintf(args, sizeof args, "%s padding=1 stride=2", c);
    /* The slide shows 12 at row 0, column 0; the true value is 43. */
    CONV("a_p1_s2", args, IMG_A, KER_A, 3, 43, 9, 22, 64, 94, 2, 21, 9, 2);
    CONV("b_valid_s1", c, IMG_B, KER_B, 3, 12, 12, 17, 10, 17, 19, 9, 6, 14);
    /* The slide shows 2 at row 0, column 2; the true value is 4. */
    CONV("c_valid_s1", c, IMG_C, KER_C, 3, 4, 3, 4, 2, 4, 3, 2, 3, 4);
    snprintf(args, sizeof args, "%s padding=1", c);
    CONV("c_same_p1_s1", args, IMG_C, KER_C, 5, 2, 2, 3, 1, 1, 1, 4, 3, 4, 1, 1, 2, 4, 3, 3, 1,
         2, 3, 4, 1, 0, 2, 2, 1, 1);
    snprintf(args, sizeof args, "%s stride=2", c);
    CONV("c_valid_s2", args, IMG_C, KER_C, 2, 4, 4, 2, 4);
    snprintf(args, sizeof args, "%s padding=1 stride=2", c);
    CONV("c_p1_s2", args, IMG_C, KER_C, 3, 2, 3, 1, 1, 4, 3, 0, 2, 1);

    static const float max_d[] = {8, 7, 5, 8}, avg_d[] = {5, 3, 3, 4};
    example("d_maxpool_k2_s2", "max_pool2d", "kernel=2 stride=2", 4, IMG_D, NULL, max_d, 2, 0);
    example("d_avgpool_k2_s2", "avg_pool2d", "kernel=2 stride=2", 4, IMG_D, NULL, avg_d, 2, 0);
    static const float max_e[] = {8, 7, 9, 5};
    static const float avg_e[] = {2.333333f, 1.888889f, 2.666667f, 1.444444f};
    example("e_maxpool_k3_s2", "max_pool2d", "kernel=3 stride=2", 5, IMG_E, NULL, max_e, 2, 0);
    example("e_avgpool_k3_s2_extra", "avg_pool2d", "kernel=3 stride=2", 5, IMG_E, NULL, avg_e, 2,
            1e-6);

    /* Output size: floor((W + 2P - D(K-1) - 1) / S) + 1; 'same' keeps W at stride 1. */
    static const struct { int w, k, p, s, d; } sizes[] = {
        {5, 3, 0, 1, 1}, {5, 3, 1, 2, 1}, {28, 5, 2, 1, 1}, {224, 7, 3, 2, 1},
        {32, 3, 2, 1, 2}, {7, 2, 0, 3, 1}, {10, 4, 1, 2, 2},
    };
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
        char spec[256];
        snprintf(spec, sizeof spec,
                 "input x - shape=1x%dx%d; conv2d l - out=1 kernel=%d padding=%d stride=%d "
                 "dilation=%d",
                 sizes[i].w, sizes[i].w, sizes[i].k, sizes[i].p, sizes[i].s, sizes[i].d);
        cnn_net *net = t_net(spec, 1);
        if (!T_CHECK(net != NULL, "%s", spec)) continue;
        int want = (sizes[i].w + 2 * sizes[i].p - sizes[i].d * (sizes[i].k - 1) - 1) / sizes[i].s + 1;
        cnn_shape s = cnn_net_output_shape(net);
        T_CHECK(s.dim[1] == want && s.dim[2] == want, "%s: got %d, formula gives %d", spec,
                s.dim[2], want);
        cnn_net_free(net);
    }
    for (int k = 1; k <= 6; k++) {
        char spec[256];
        snprintf(spec, sizeof spec, "input x - shape=1x9x8; conv2d l - out=1 kernel=%d padding=same", k);
        cnn_net *net = t_net(spec, 1);
        if (!T_CHECK(net != NULL, "%s", spec)) continue;
        cnn_shape s = cnn_net_output_shape(net);
        T_CHECK(s.dim[1] == 9 && s.dim[2] == 8, "same padding, kernel %d: %dx%d", k, s.dim[1],
                s.dim[2]);
        cnn_net_free(net);
    }
    return t_finish();
}

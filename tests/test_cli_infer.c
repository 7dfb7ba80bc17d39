/*
 * test_cli_infer.c - `cnn infer`: a network run on .npy arrays writes exactly the values the
 * library's forward pass gives (the output and any layer, a definition file and a checkpoint,
 * one input and two inputs by name, with and without the stored preprocessing), and every
 * mistake is refused with a message naming it.
 */
#include "testlib.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static char tool[4096], dir[] = "/tmp/cnn_infer_XXXXXX", out[1 << 14];

static int run(const char *args) { return t_run_tool(tool, dir, args, out, sizeof out); }

static void expect(const char *args, int code, const char *frag) {
    int got = run(args);
    T_CHECK(got == code && (!frag || strstr(out, frag)), "cnn %s: exit %d (want %d), output:\n%s",
            args, got, code, out);
}

static const char *at(const char *name) {
    static char p[4][4200];
    static int k;
    k = (k + 1) % 4;
    snprintf(p[k], sizeof p[k], "%s/%s", dir, name);
    return p[k];
}

static void save(const char *name, const float *v, int ndim, const int64_t *dims) {
    cnn_array a = {.ndim = ndim, .data = (float *)v};
    memcpy(a.dims, dims, (size_t)ndim * sizeof *dims);
    char err[512];
    T_CHECK(cnn_npy_write(at(name), &a, err, sizeof err) == 0, "%s", err);
}

/* The values of the .npy file name equal n floats of want, bit for bit. */
static void same_as(const char *name, const float *want, size_t n, const char *what) {
    cnn_array a;
    char err[512];
    if (!T_CHECK(cnn_npy_read(at(name), &a, err, sizeof err) == 0, "%s: %s", what, err)) return;
    size_t count = 1;
    for (int d = 0; d < a.ndim; d++) count *= (size_t)a.dims[d];
    if (T_CHECK(count == n, "%s: %zu values, want %zu", what, count, n))
        t_same_bits(what, a.data, want, n);
    cnn_array_free(&a);
}

static const char *NET = "x = input shape=2x5x5\nc = conv2d out=3 kernel=3 padding=1\n"
                         "r = relu\nf = flatten\nd = dense out=4\n";

static void one_input(void) {
    FILE *f = fopen(at("net.txt"), "w");
    fputs(NET, f);
    fclose(f);
    float x[3 * 50];
    t_fill(x, 150, 7, -1, 1);
    save("x.npy", x, 4, (int64_t[]){3, 2, 5, 5});
    expect("infer net.txt --input x.npy --output y.npy --output c=conv.npy --seed 9", 0,
           "wrote conv.npy: layer 'c', (3, 3, 5, 5)");
    char err[512];
    cnn_net *net = NULL;
    T_CHECK(cnn_net_from_text(NET, "net", 9, &net, err, sizeof err) == 0, "%s", err);
    if (!net || !T_OK(net, cnn_net_prepare(net, 3)) || !T_OK(net, cnn_net_forward(net, x, 3))) return;
    same_as("y.npy", cnn_net_output(net), 12, "the output");
    same_as("conv.npy", cnn_net_layer_output(net, cnn_net_find(net, "c")), 225, "layer c");
    /* A checkpoint with a normalisation: --preprocess applies it, no flag leaves the input. */
    float mean[2] = {0.5f, -0.25f}, sd[2] = {2, 0.5f};
    cnn_preprocess p = {.task = CNN_TASK_CLASSIFICATION, .loss = CNN_LOSS_SOFTMAX_CE,
                        .channels = 2, .mean = mean, .std = sd, .classes = 4};
    T_OK(net, cnn_net_set_preprocess(net, &p));
    T_CHECK(cnn_checkpoint_save(at("m.ckpt"), net, NULL, NULL, err, sizeof err) == 0, "%s", err);
    expect("infer m.ckpt --input x.npy --output raw.npy", 0, "wrote raw.npy");
    same_as("raw.npy", cnn_net_output(net), 12, "checkpoint without --preprocess");
    float xn[150];
    memcpy(xn, x, sizeof xn);
    T_OK(net, cnn_preprocess_images(net, xn, 3));
    T_OK(net, cnn_net_forward(net, xn, 3));
    expect("infer m.ckpt --input x.npy --output pre.npy --preprocess", 0, "wrote pre.npy");
    same_as("pre.npy", cnn_net_output(net), 12, "checkpoint with --preprocess");
    cnn_net_free(net);
}

static void two_inputs(void) {
    FILE *f = fopen(at("two.txt"), "w");
    fputs("a = input shape=4\nb = input shape=4\ns = add(a, b)\nd = dense out=2\n", f);
    fclose(f);
    float a[8] = {1, 2, 3, 4, 5, 6, 7, 8}, b[8] = {-1, 0.5f, 2, 0, 1, 1, 1, 1};
    save("a.npy", a, 2, (int64_t[]){2, 4});
    save("b.npy", b, 2, (int64_t[]){2, 4});
    expect("infer two.txt --input b=b.npy --input a=a.npy --output s=sum.npy", 0, "wrote sum.npy");
    float sum[8];
    for (int i = 0; i < 8; i++) sum[i] = a[i] + b[i];
    same_as("sum.npy", sum, 8, "a + b by name");
    expect("infer two.txt --input a.npy", 1, "several inputs: give NAME=FILE");
    expect("infer two.txt --input a=a.npy", 1, "give each with --input NAME=FILE");
    expect("infer two.txt --input a=a.npy --input a=b.npy", 1, "given twice");
    save("a3.npy", a, 2, (int64_t[]){1, 8});
    expect("infer two.txt --input a=a.npy --input b=a3.npy", 1, "expected (N, 4)");
}

static void refusals(void) {
    float z[3 * 2 * 5 * 4] = {0};
    save("wrong.npy", z, 4, (int64_t[]){3, 2, 5, 4});
    expect("infer net.txt --input wrong.npy", 1, "wrong.npy: expected (N, 2x5x5)");
    expect("infer net.txt --input nope=x.npy", 1, "no input layer of that name");
    expect("infer net.txt --input x.npy --output nosuch=z.npy", 1, "no layer named 'nosuch'");
    expect("infer net.txt --input missing.npy", 1, "missing.npy: cannot open");
    expect("infer net.txt --input net.txt", 1, "not a float32 .npy array");
    expect("infer net.txt", 2, "at least one --input");
    expect("infer nosuch.txt --input x.npy", 1, "nosuch.txt");
    expect("infer net.txt --input x.npy --output /nonexistent/y.npy", 1, "/nonexistent/y.npy");
}

int main(int argc, char **argv) {
    (void)argc;
    if (!t_tool_path(argv[0], tool, sizeof tool) || !mkdtemp(dir)) return t_finish();
    one_input();
    two_inputs();
    refusals();
    t_remove_tree(dir);
    return t_finish();
}

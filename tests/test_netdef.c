/*
 * test_netdef.c - the text format for networks: reading, the errors it gives (with
 * source:line:column), and the round trip text -> network -> text -> network.
 */
#include "testlib.h"

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *LENET =
    "# LeNet-5 for 28x28 inputs\n"
    "x  = input shape=1x28x28\n"
    "c1 = conv2d out=6 kernel=5 padding=2   # 6x28x28\n"
    "r1 = relu\n"
    "p1 = max_pool2d kernel=2\n"
    "c2 = conv2d out=16 kernel=5\n"
    "\n"
    "r2 = relu\n"
    "p2 = max_pool2d kernel=2\n"
    "f  = flatten\n"
    "d1 = dense out=120\n"
    "a1 = relu\n"
    "d2 = dense out=84\n"
    "a2 = relu\n"
    "d3 = dense out=10\n";

static const char *RESIDUAL =
    "x     = input shape=8x6x6\n"
    "conv1 = conv2d out=8 kernel=3 padding=1 bias=0\n"
    "bn1   = batchnorm\n"
    "relu1 = relu\n"
    "conv2 = conv2d out=8 kernel=3 padding=1 bias=0\n"
    "bn2   = batchnorm\n"
    "sum   = add(bn2, x)\n"
    "out   = relu\n"
    "b1 = conv2d(out) out=4 kernel=1\n"
    "b2 = conv2d(out) out=4 kernel=3 padding=same\n"
    "pool = max_pool2d(out) kernel=3 stride=1 padding=1\n"
    "b3 = conv2d out=4 kernel=1\n"
    "inception = concat(b1, b2, b3)\n";

static void expect_error(const char *text, const char *where, const char *frag) {
    cnn_net *net = NULL;
    char err[1024] = "";
    cnn_status st = cnn_net_from_text(text, "net.txt", 1, &net, err, sizeof err);
    T_CHECK(st != CNN_STATUS_OK && net == NULL, "accepted: %s", text);
    T_CHECK(strncmp(err, where, strlen(where)) == 0, "error '%s' does not start with '%s'", err, where);
    T_CHECK(strstr(err, frag) != NULL, "error '%s' lacks '%s'", err, frag);
    printf("  ok %s\n", err);
    cnn_net_free(net);
}

static void roundtrip(const char *text, size_t params) {
    cnn_net *a = NULL, *b = NULL;
    char err[1024];
    if (!T_OK(NULL, cnn_net_from_text(text, "a", 1, &a, err, sizeof err))) {
        fprintf(stderr, "%s\n", err);
        return;
    }
    T_CHECK(params == 0 || cnn_net_param_count(a) == params, "parameters %zu, expected %zu",
            cnn_net_param_count(a), params);
    char *t1 = cnn_net_to_text(a);
    T_CHECK(t1 != NULL, "to_text");
    if (T_OK(NULL, cnn_net_from_text(t1, "b", 1, &b, err, sizeof err))) {
        char *t2 = cnn_net_to_text(b);
        T_CHECK(strcmp(t1, t2) == 0, "text differs after a round trip:\n%s\n---\n%s", t1, t2);
        T_CHECK(cnn_net_layer_count(a) == cnn_net_layer_count(b), "layer count");
        for (int i = 0; i < cnn_net_layer_count(a) && i < cnn_net_layer_count(b); i++) {
            cnn_shape sa = cnn_net_layer_shape(a, i), sb = cnn_net_layer_shape(b, i);
            T_CHECK(memcmp(&sa, &sb, sizeof sa) == 0, "shape of layer %d", i);
        }
        T_CHECK(cnn_net_param_count(a) == cnn_net_param_count(b), "parameter count");
        T_CHECK(cnn_net_param_count(a) == 0 ||
                    memcmp(cnn_net_params(a), cnn_net_params(b), cnn_net_param_count(a) * 4) == 0,
                "same seed, same weights");
        free(t2);
    } else {
        fprintf(stderr, "%s\n%s\n", err, t1);
    }
    printf("%s", t1);
    free(t1);
    cnn_net_free(a);
    cnn_net_free(b);
}

/* The fuzzer's seed corpus: every file is a valid network that round-trips. */
static void corpus(void) {
    const char *dir = "fuzz/corpus/netdef";
    DIR *d = opendir(dir);
    if (!T_CHECK(d != NULL, "cannot open %s (run from the repository root)", dir)) return;
    int n = 0;
    for (struct dirent *e; (e = readdir(d));) {
        if (e->d_name[0] == '.') continue;
        char path[512], err[1024];
        snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        cnn_net *net = NULL;
        if (T_CHECK(cnn_net_load_text(path, 1, &net, err, sizeof err) == CNN_STATUS_OK, "%s", err)) {
            char *text = cnn_net_to_text(net);
            roundtrip(text, cnn_net_param_count(net));
            free(text);
        }
        cnn_net_free(net);
        n++;
    }
    closedir(d);
    T_CHECK(n > 0, "no corpus files in %s", dir);
}

/* A network read from text has the weights and state of the same layers added one by one
 * with cnn_add (read, the parameters are allocated once, at their final size, then each layer
 * is initialised in order from the same generator). */
static void same_as_added(void) {
    static const char *const layers[][4] = {
        {"input", "x", NULL, "shape=3x12x12"},   {"conv2d", "c", "x", "out=8 kernel=3"},
        {"batchnorm", "b", "c", NULL},           {"relu", "r", "b", NULL},
        {"conv2d", "d", "r", "out=8 kernel=3 padding=1 groups=2"},
        {"add", "s", "r,d", NULL},               {"global_avg_pool", "g", "s", NULL},
        {"dense", "o", "g", "out=5"},
    };
    const char *text = "x = input shape=3x12x12\nc = conv2d out=8 kernel=3\nb = batchnorm\n"
                       "r = relu\nd = conv2d out=8 kernel=3 padding=1 groups=2\ns = add(r, d)\n"
                       "g = global_avg_pool\no = dense out=5\n";
    char err[1024];
    cnn_net *read = NULL, *added = cnn_net_new(5);
    T_OK(NULL, cnn_net_from_text(text, "net.txt", 5, &read, err, sizeof err));
    for (size_t i = 0; i < sizeof layers / sizeof layers[0]; i++)
        T_OK(added, cnn_add(added, layers[i][0], layers[i][1], layers[i][2], layers[i][3]));
    if (read) {
        size_t np = cnn_net_param_count(read), ns = cnn_net_state_count(read);
        T_CHECK(np == cnn_net_param_count(added) && ns == cnn_net_state_count(added) && np > 0 && ns > 0,
                "sizes: %zu and %zu parameters, %zu and %zu state values", np,
                cnn_net_param_count(added), ns, cnn_net_state_count(added));
        T_CHECK(np == cnn_net_param_count(added) &&
                    !memcmp(cnn_net_params(read), cnn_net_params(added), np * sizeof(float)),
                "read and added: other weights from the same seed");
        T_CHECK(ns == cnn_net_state_count(added) &&
                    !memcmp(cnn_net_state(read), cnn_net_state(added), ns * sizeof(float)),
                "read and added: other state from the same seed");
    }
    cnn_net_free(read);
    cnn_net_free(added);
}

int main(void) {
    corpus();
    same_as_added();
    roundtrip(LENET, 61706);
    roundtrip(RESIDUAL, 0);
    /* Blanks between the type and its inputs. */
    roundtrip("x = input shape=1x8x8\np = max_pool2d kernel=2\nr = relu\n"
              "u = max_unpool2d  (r, p)\n", 0);

    expect_error("x = input shape=1x8x8\nc = conv2d out=2 kernel=3 strid=2\n", "net.txt:2:27:",
                 "unknown key 'strid'");
    expect_error("x = input shape=1x8x8\nc = conv2d out=2\n", "net.txt:2:", "missing required key 'kernel'");
    expect_error("x = input shape=1x8x8\nc = conv2d out=2 kernel=3x\n", "net.txt:2:25:",
                 "bad value '3x' for 'kernel'");
    expect_error("x = input shape=1x8x8\nc = convolution out=2\n", "net.txt:2:5:",
                 "unknown layer type 'convolution'");
    expect_error("x = input shape=1x8x8\nc = conv2d(y) out=2 kernel=3\n", "net.txt:2:12:",
                 "undefined input 'y'");
    expect_error("x = input shape=1x8x8\na = add(x, b)\nb = relu(a)\n", "net.txt:2:12:",
                 "defined later, at line 3");
    expect_error("x = input shape=1x8x8\nc = conv2d out=2 kernel=9\n", "net.txt:2:1:",
                 "conv2d 'c'");
    expect_error("x = input shape=1x8x8\nc = conv2d(x out=2 kernel=3\n", "net.txt:2:14:",
                 "expected ',' or ')'");
    expect_error("x = input shape=1x8x8\n= relu\n", "net.txt:2:1:", "expected a layer type");
    expect_error("x = input shape=1x8x8\nc = \n", "net.txt:2:", "expected a layer type after '='");
    expect_error("# nothing\n\n", "net.txt:", "no layers");
    expect_error("r = relu\n", "net.txt:1:1:", "no input");
    expect_error("x = input shape=1x8x8\nc = conv2d out=2 kernel=3 out=4\n", "net.txt:2:", "given twice");
    expect_error("x = input shape=1x8x8\nx = relu\n", "net.txt:2:1:", "already taken");

    cnn_net *net = NULL;
    char err[512];
    T_CHECK(cnn_net_load_text("/nonexistent/net.txt", 1, &net, err, sizeof err) == CNN_STATUS_IO &&
                strstr(err, "/nonexistent/net.txt"), "missing file: %s", err);
    return t_finish();
}

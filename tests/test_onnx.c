/*
 * test_onnx.c - ONNX in and out (src/onnx/):
 *   - every zoo model exports and imports back to the same network (names, types, arguments,
 *     shapes, inputs) with the same parameters and state, and bit-identical outputs; a deeper
 *     model that only repeats the blocks of a smaller one (tests/zoo_families.txt) is left
 *     out, saying so, unless CNN_ONNX_CHECK_ALL=1;
 *   - the models PyTorch 1.13 exported (tests/ref/onnx/, made by make_onnx_fixtures.py) import
 *     and reproduce PyTorch's outputs within 1e-4 relative, 1e-5 absolute;
 *   - the preprocessing travels in the metadata;
 *   - what cnn cannot represent, damaged files and external data leaving the model's folder
 *     are refused with a message naming the node or the problem.
 *
 *   CNN_TEST_LIGHT=1  (the sanitizer pass) round-trips only the zoo models under 5 million
 *                     parameters.
 */
#include "testlib.h"
#include "../src/onnx/model.h"

#include <dirent.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static char dir[] = "/tmp/cnn_onnx_XXXXXX";

static const char *at(const char *name) {
    static char p[4][4200];
    static int k;
    k = (k + 1) % 4;
    snprintf(p[k], sizeof p[k], "%s/%s", dir, name);
    return p[k];
}

/* ---------------------------------------------------------------------------------------------
 * Export then import: the same network
 * ------------------------------------------------------------------------------------------- */

/* Batch norm's running statistics away from 0 and 1, so that they matter. */
static void random_state(cnn_net *net, uint64_t seed) {
    for (int l = 0; l < cnn_net_layer_count(net); l++)
        for (int k = 0; k < cnn_net_param_tensor_count(net, l); k++) {
            cnn_param_tensor t;
            cnn_net_param_tensor(net, l, k, &t);
            if (!strcmp(t.name, "running_mean")) t_fill(t.data, t.count, seed + (uint64_t)l, -0.2f, 0.2f);
            if (!strcmp(t.name, "running_var")) t_fill(t.data, t.count, seed + (uint64_t)l, 0.5f, 1.5f);
        }
}

/* A layer's arguments without its weight initialisation: "init=" is a training setting that
 * ONNX has no place for (the weights themselves travel), so an imported layer has the default
 * init. Removes " init=..." from args in place. */
static void drop_init(char *args) {
    char *p = strstr(args, "init=");
    if (!p) return;
    char *end = strchr(p, ' ');
    if (p > args && p[-1] == ' ') p--;
    memmove(p, end ? end : p + strlen(p), strlen(end ? end : p + strlen(p)) + 1);
}

static void same_network(cnn_net *a, cnn_net *b, const char *what) {
    T_CHECK(cnn_net_layer_count(a) == cnn_net_layer_count(b), "%s: %d layers, imported %d", what,
            cnn_net_layer_count(a), cnn_net_layer_count(b));
    if (cnn_net_layer_count(a) != cnn_net_layer_count(b)) return;
    for (int l = 0; l < cnn_net_layer_count(a); l++) {
        char x[512], y[512];
        cnn_net_layer_args(a, l, x, sizeof x);
        cnn_net_layer_args(b, l, y, sizeof y);
        const char *init = strstr(y, "init=");
        T_CHECK(!init || !strncmp(init, "init=he_normal", 14), "%s: layer %d imports with %s", what,
                l, init);
        drop_init(x);
        drop_init(y);
        cnn_shape sa = cnn_net_layer_shape(a, l), sb = cnn_net_layer_shape(b, l);
        int same = !strcmp(cnn_net_layer_name(a, l), cnn_net_layer_name(b, l)) &&
                   !strcmp(cnn_net_layer_type(a, l), cnn_net_layer_type(b, l)) && !strcmp(x, y) &&
                   !memcmp(&sa, &sb, sizeof sa) &&
                   cnn_net_layer_input_count(a, l) == cnn_net_layer_input_count(b, l);
        for (int k = 0; same && k < cnn_net_layer_input_count(a, l); k++)
            same = cnn_net_layer_input(a, l, k) == cnn_net_layer_input(b, l, k);
        if (!T_CHECK(same, "%s: layer %d: %s %s (%s) became %s %s (%s)", what, l,
                     cnn_net_layer_type(a, l), cnn_net_layer_name(a, l), x,
                     cnn_net_layer_type(b, l), cnn_net_layer_name(b, l), y))
            return;
    }
    T_CHECK(cnn_net_output_layer(a) == cnn_net_output_layer(b), "%s: output layer", what);
    T_CHECK(cnn_net_param_count(a) == cnn_net_param_count(b) &&
                cnn_net_state_count(a) == cnn_net_state_count(b), "%s: parameter counts", what);
    if (cnn_net_param_count(a) == cnn_net_param_count(b))
        t_same_bits(what, cnn_net_params(b), cnn_net_params(a), cnn_net_param_count(a));
    if (cnn_net_state_count(a) == cnn_net_state_count(b))
        t_same_bits(what, cnn_net_state(b), cnn_net_state(a), cnn_net_state_count(a));
}

/* Forward passes of both networks on the same batch of 2 give the same bits. */
static void same_outputs(cnn_net *a, cnn_net *b, const char *what) {
    const int N = 2;
    size_t total = 0;
    int n_in = cnn_net_input_count(a);
    for (int i = 0; i < n_in; i++) {
        cnn_shape s = cnn_net_input_shape(a, i);
        total += N * cnn_shape_numel(&s);
    }
    float *x = malloc(total * sizeof *x);
    const float *xs[8];
    t_fill(x, total, 3, -1, 1);
    for (int i = 0, off = 0; i < n_in; i++) {
        cnn_shape s = cnn_net_input_shape(a, i);
        xs[i] = x + off;
        off += N * (int)cnn_shape_numel(&s);
    }
    T_OK(a, cnn_net_prepare(a, N));
    T_OK(b, cnn_net_prepare(b, N));
    T_OK(a, cnn_net_forward_multi(a, xs, n_in, N));
    T_OK(b, cnn_net_forward_multi(b, xs, n_in, N));
    cnn_shape o = cnn_net_output_shape(a);
    t_same_bits(what, cnn_net_output(b), cnn_net_output(a), N * cnn_shape_numel(&o));
    free(x);
}

static int channels_of(const char *model) {
    return !strcmp(model, "lenet5") || !strcmp(model, "vgg_small") || !strcmp(model, "small_unet") ||
                   !strcmp(model, "unet")
               ? 1
               : 3;
}

/* The smaller zoo model whose blocks the model name repeats (tests/zoo_families.txt), in
 * base; 0 when it has none. */
static int family_of(const char *name, char *base, size_t size) {
    FILE *f = fopen("tests/zoo_families.txt", "r");
    if (!T_CHECK(f != NULL, "tests/zoo_families.txt: cannot open")) return 0;
    char line[256], model[128], smaller[128];
    int found = 0;
    while (!found && fgets(line, sizeof line, f))
        if (line[0] != '#' && sscanf(line, "%127s %127s", model, smaller) == 2 &&
            !strcmp(model, name)) {
            snprintf(base, size, "%s", smaller);
            found = 1;
        }
    fclose(f);
    return found;
}

static void zoo_round_trips(int light) {
    static const int sizes[] = {32, 64, 96, 128, 224};
    int all = t_env_flag("CNN_ONNX_CHECK_ALL");
    for (int m = 0; m < cnn_model_count(); m++) {
        const char *name = cnn_model_name(m);
        cnn_net *net = NULL, *back = NULL;
        char err[2048], base[128];
        if (!all && family_of(name, base, sizeof base)) {
            int c, h, w, k;
            T_CHECK(cnn_model_standard_input(base, &c, &h, &w, &k) == CNN_STATUS_OK,
                    "%s: its family model %s is not in the zoo", name, base);
            printf("  -- %-18s not round-tripped (the blocks of %s; CNN_ONNX_CHECK_ALL=1 does it)\n",
                   name, base);
            continue;
        }
        int c = channels_of(name);
        for (size_t s = 0; s < sizeof sizes / sizeof sizes[0] && !net; s++)
            if (cnn_model_build(name, c, sizes[s], sizes[s], 10, 7, &net, err, sizeof err)) net = NULL;
        if (!T_CHECK(net != NULL, "%s: no size builds: %s", name, err)) continue;
        if (light && cnn_net_param_count(net) > 5000000) {
            printf("  -- %-18s not round-tripped (CNN_TEST_LIGHT=1)\n", name);
            cnn_net_free(net);
            continue;
        }
        random_state(net, 11);
        const char *path = at("zoo.onnx");
        if (T_CHECK(cnn_onnx_save(path, net, err, sizeof err) == 0, "%s: export: %s", name, err) &&
            T_CHECK(cnn_onnx_load(path, &back, err, sizeof err) == 0, "%s: import: %s", name, err)) {
            same_network(net, back, name);
            same_outputs(net, back, name);
            printf("  ok %-18s %zu parameters\n", name, cnn_net_param_count(net));
        }
        cnn_net_free(back);
        cnn_net_free(net);
    }
}

/* Layers outside the zoo: 1-D convolutions, causal and same padding, the poolings with
 * padding, dilation and ceil mode, adaptive poolings, upsampling, dropout, every activation. */
static void layers_round_trip(void) {
    static const char *const specs[] = {
        "input x - shape=3x17x15; conv2d c - out=4 kernel=3x2 stride=2x1 padding=1:0x2:1 dilation=1x2 groups=1;"
        " leaky_relu a - slope=0.2; max_pool2d p - kernel=3 stride=2 padding=1 dilation=1 ceil_mode=1;"
        " avg_pool2d q - kernel=2 stride=1 padding=1 count_include_pad=0 ceil_mode=1; elu e - alpha=0.7;"
        " l2_pool2d l - kernel=2 stride=2; conv_transpose2d t - out=6 kernel=3 stride=2 padding=1:0x0:1"
        " output_padding=1 groups=2; sigmoid s -; upsample u - scale=2x3; adaptive_avg_pool2d g - out=1;"
        " flatten f -; dropout d - p=0.25; dense o - out=5; softmax sm -",
        "input x - shape=4x21; conv1d a - out=6 kernel=3 padding=causal dilation=2; tanh t -;"
        " conv1d b - out=6 kernel=4 padding=same groups=3 bias=0; batchnorm n - eps=1e-3 momentum=0.2;"
        " add r a,n; mean v r,a,n; global_max_pool g -; dense o - out=3",
        "input x - shape=2x8x8; conv2d a - out=4 kernel=3 padding=same; max_pool2d p - kernel=2;"
        " conv2d b - out=4 kernel=1; max_unpool2d u b,p; concat k u,a; adaptive_max_pool2d m - out=1;"
        " global_avg_pool g -; dense o - out=2",
    };
    for (size_t k = 0; k < sizeof specs / sizeof specs[0]; k++) {
        char what[32], err[2048];
        snprintf(what, sizeof what, "layers %zu", k);
        cnn_net *net = t_net(specs[k], 5), *back = NULL;
        if (!T_CHECK(net != NULL, "%s: spec", what)) continue;
        random_state(net, 2);
        if (T_CHECK(cnn_onnx_save(at("layers.onnx"), net, err, sizeof err) == 0, "%s: %s", what, err) &&
            T_CHECK(cnn_onnx_load(at("layers.onnx"), &back, err, sizeof err) == 0, "%s: %s", what, err)) {
            same_network(net, back, what);
            same_outputs(net, back, what);
        }
        cnn_net_free(back);
        cnn_net_free(net);
    }
}

/* ---------------------------------------------------------------------------------------------
 * PyTorch's exports
 * ------------------------------------------------------------------------------------------- */

static cnn_array load_npy(const char *path) {
    cnn_array a = {0};
    char err[512];
    T_CHECK(cnn_npy_read(path, &a, err, sizeof err) == 0, "%s", err);
    return a;
}

static void pytorch_case(const char *ref, const char *name) {
    char path[4300], err[2048];
    cnn_net *net = NULL;
    snprintf(path, sizeof path, "%s/%s.onnx", ref, name);
    cnn_status st = cnn_onnx_load(path, &net, err, sizeof err);
    if (!strcmp(name, "lppool")) {
        /* LPPool2d leaves PyTorch as Pow, AveragePool, Sign, Abs, Relu, Mul: refused by name. */
        T_CHECK(st != 0 && strstr(err, "(Pow): operator Pow is not supported"), "lppool: %s",
                st ? err : "imported");
        cnn_net_free(net);
        return;
    }
    if (!T_CHECK(st == 0, "%s: %s", name, err)) return;
    snprintf(path, sizeof path, "%s/%s.in.npy", ref, name);
    cnn_array in = load_npy(path);
    snprintf(path, sizeof path, "%s/%s.out.npy", ref, name);
    cnn_array want = load_npy(path);
    int N = in.data ? (int)in.dims[0] : 0;
    cnn_shape o = cnn_net_output_shape(net);
    if (in.data && want.data && T_OK(net, cnn_net_prepare(net, N)) &&
        T_OK(net, cnn_net_forward(net, in.data, N))) {
        size_t n = (size_t)N * cnn_shape_numel(&o), want_n = 1;
        for (int d = 0; d < want.ndim; d++) want_n *= (size_t)want.dims[d];
        if (T_CHECK(n == want_n, "%s: %zu outputs, PyTorch %zu", name, n, want_n))
            t_close(name, cnn_net_output(net), want.data, n, 1e-5, 1e-4);
    }
    cnn_array_free(&in);
    cnn_array_free(&want);
    cnn_net_free(net);
}

static void pytorch_fixtures(const char *ref) {
    char folder[4200];
    snprintf(folder, sizeof folder, "%s/onnx", ref);
    DIR *d = opendir(folder);
    if (!T_CHECK(d != NULL, "no %s (run from the repository root or set CNN_REF_DIR)", folder)) return;
    struct dirent *e;
    int cases = 0;
    while ((e = readdir(d))) {
        size_t len = strlen(e->d_name);
        if (len < 6 || strcmp(e->d_name + len - 5, ".onnx")) continue;
        char name[256];
        snprintf(name, sizeof name, "%.*s", (int)(len - 5), e->d_name);
        pytorch_case(folder, name);
        cases++;
    }
    closedir(d);
    T_CHECK(cases >= 20, "only %d PyTorch cases in %s", cases, folder);
    printf("  %d models exported by PyTorch\n", cases);
}

/* ---------------------------------------------------------------------------------------------
 * Hand-made models: what must be refused
 * ------------------------------------------------------------------------------------------- */

/* A model of one graph input "x" (N, 2, 4, 4), nodes given, output "y". */
typedef struct mini {
    onnx_model m;
    onnx_node nodes[4];
    onnx_tensor inits[4];
    onnx_value in, out;
    onnx_attr attrs[4][4];
    const char *ins[4][4], *outs[4][2];
} mini;

static void mini_init(mini *k, int opset) {
    memset(k, 0, sizeof *k);
    k->m.ir_version = 7;
    k->m.opset = opset;
    k->m.producer_name = k->m.producer_version = k->m.graph_name = "test";
    k->in = (onnx_value){.name = "x", .elem_type = ONNX_FLOAT, .rank = 4, .dims = {-1, 2, 4, 4}};
    k->out = (onnx_value){.name = "y", .elem_type = ONNX_FLOAT, .rank = -1};
    k->m.inputs = &k->in;
    k->m.outputs = &k->out;
    k->m.n_inputs = k->m.n_outputs = 1;
    k->m.nodes = k->nodes;
    k->m.inits = k->inits;
}

static onnx_node *mini_node(mini *k, const char *name, const char *op, const char *in0,
                            const char *in1, const char *out) {
    int i = k->m.n_nodes++;
    onnx_node *n = &k->nodes[i];
    n->name = name;
    n->op_type = op;
    n->domain = "";
    k->ins[i][0] = in0;
    k->ins[i][1] = in1;
    k->outs[i][0] = out;
    n->inputs = k->ins[i];
    n->n_inputs = in1 ? 2 : 1;
    n->outputs = k->outs[i];
    n->n_outputs = 1;
    n->attrs = k->attrs[i];
    return n;
}

static void mini_attr_int(mini *k, onnx_node *n, const char *name, int64_t v) {
    n->attrs[n->n_attrs++] = (onnx_attr){.name = name, .type = ONNX_ATTR_INT, .i = v};
}

/* Writes the model, reads it back with cnn_onnx_read: the status, the message in err. */
static cnn_status mini_read(mini *k, char *err, size_t errlen) {
    size_t size;
    uint8_t *bytes = onnx_model_write(&k->m, &size);
    cnn_net *net = NULL;
    cnn_status st = cnn_onnx_read(bytes, size, "mini", &net, err, errlen);
    cnn_net_free(net);
    cnn_free(bytes);
    return st;
}

static void expect_refusal(mini *k, const char *frag, const char *what) {
    char err[2048] = "";
    cnn_status st = mini_read(k, err, sizeof err);
    T_CHECK(st != 0 && strstr(err, frag) && !strncmp(err, "mini: ", 6),
            "%s: status %d, message '%s' (want '%s')", what, st, err, frag);
}

/* Concat of one input is that input; of more than 8 (DenseNet's), a chain of concat layers. */
static void concat_counts(void) {
    static const char *xs[12] = {"x", "x", "x", "x", "x", "x", "x", "x", "x", "x", "x", "x"};
    for (int count = 1; count <= 12; count += 11) {
        mini k;
        mini_init(&k, 13);
        onnx_node *n = mini_node(&k, "cat", "Concat", "x", NULL, "y");
        n->inputs = xs;
        n->n_inputs = count;
        mini_attr_int(&k, n, "axis", 1);
        size_t size;
        uint8_t *bytes = onnx_model_write(&k.m, &size);
        cnn_net *net = NULL;
        char err[2048];
        if (T_CHECK(cnn_onnx_read(bytes, size, "cat", &net, err, sizeof err) == 0, "%s", err)) {
            cnn_shape o = cnn_net_output_shape(net);
            T_CHECK(o.dim[0] == 2 * count, "Concat of %d: %d channels", count, o.dim[0]);
            T_CHECK(cnn_net_layer_count(net) == (count == 1 ? 1 : 3), "Concat of %d: %d layers",
                    count, cnn_net_layer_count(net));
        }
        cnn_net_free(net);
        cnn_free(bytes);
    }
}

static void refusals(void) {
    mini k;
    char err[2048];
    mini_init(&k, 13);
    mini_node(&k, "r", "Relu", "x", NULL, "y");
    T_CHECK(mini_read(&k, err, sizeof err) == 0, "a Relu model: %s", err);

    mini_init(&k, 13);
    mini_node(&k, "hs", "HardSwish", "x", NULL, "y");
    expect_refusal(&k, "node 'hs' (HardSwish): operator HardSwish is not supported", "unknown op");

    mini_init(&k, 13);
    mini_attr_int(&k, mini_node(&k, "sm", "Softmax", "x", NULL, "y"), "axis", 2);
    expect_refusal(&k, "node 'sm' (Softmax): softmax over axis 2", "softmax axis");

    mini_init(&k, 11); /* before 13: over C*H*W flattened, not cnn's softmax */
    mini_node(&k, "sm", "Softmax", "x", NULL, "y");
    expect_refusal(&k, "node 'sm' (Softmax)", "softmax opset 11 on 4-D");

    mini_init(&k, 13);
    mini_attr_int(&k, mini_node(&k, "f", "Flatten", "x", NULL, "y"), "axis", 2);
    expect_refusal(&k, "node 'f' (Flatten): axis 2", "flatten axis");

    mini_init(&k, 13);
    mini_node(&k, "a", "Relu", "z", NULL, "y");
    expect_refusal(&k, "input 'z' is not given by any earlier node", "undefined input");

    mini_init(&k, 13);
    mini_node(&k, "c", "Conv", "x", "x", "y");
    expect_refusal(&k, "node 'c' (Conv): input 2 ('x') must be a constant", "conv weight computed");

    mini_init(&k, 18);
    mini_node(&k, "r", "Relu", "x", NULL, "y");
    expect_refusal(&k, "operator set 18", "opset 18");

    mini_init(&k, 13);
    k.in.dims[2] = -1;
    mini_node(&k, "r", "Relu", "x", NULL, "y");
    expect_refusal(&k, "graph input 'x' has no fixed size in dimension 2", "symbolic H");

    /* A weight whose dims claim 2^30 elements but hold 16 bytes: refused before allocating. */
    mini_init(&k, 13);
    float w[4] = {1, 2, 3, 4};
    k.inits[0] = (onnx_tensor){.name = "w", .data_type = ONNX_FLOAT, .rank = 4,
                               .dims = {1024, 1024, 32, 32}, .count = 4, .f = w};
    k.m.n_inits = 1;
    mini_node(&k, "c", "Conv", "x", "w", "y");
    expect_refusal(&k, "tensor 'w' of 1073741824 elements holds 4 values", "lying dims");
}

/* Truncations and byte flips of a real model never crash and always say what is wrong. */
static void damaged_files(const char *ref) {
    char path[4200];
    snprintf(path, sizeof path, "%s/onnx/resnet_small_op13.onnx", ref);
    FILE *f = fopen(path, "rb");
    if (!T_CHECK(f != NULL, "%s", path)) return;
    static uint8_t bytes[1 << 16], copy[1 << 16];
    size_t size = fread(bytes, 1, sizeof bytes, f);
    fclose(f);
    int refused = 0, tries = 0;
    for (size_t cut = 0; cut < size; cut += size / 97 + 1, tries++) {
        cnn_net *net = NULL;
        char err[2048] = "";
        cnn_status st = cnn_onnx_read(bytes, cut, "cut", &net, err, sizeof err);
        refused += st != 0;
        T_CHECK(st != 0 ? !strncmp(err, "cut: ", 5) && !net : net != NULL, "cut at %zu: %s", cut, err);
        cnn_net_free(net);
    }
    T_CHECK(refused == tries, "%d of %d truncated files were refused", refused, tries);
    for (size_t k = 0; k < 400; k++) {
        memcpy(copy, bytes, size);
        copy[(k * 7919) % size] ^= (uint8_t)(1u << (k % 8));
        cnn_net *net = NULL;
        char err[2048] = "";
        cnn_status st = cnn_onnx_read(copy, size, "flip", &net, err, sizeof err);
        T_CHECK(st != 0 ? !strncmp(err, "flip: ", 6) && !net : net != NULL, "flip %zu: %s", k, err);
        cnn_net_free(net);
    }
}

/* Inputs the fuzzer found (fuzz/regressions/onnx/): read without a crash, refused or not. */
static void fuzz_regressions(void) {
    DIR *d = opendir("fuzz/regressions/onnx");
    if (!T_CHECK(d != NULL, "no fuzz/regressions/onnx (run from the repository root)")) return;
    struct dirent *e;
    while ((e = readdir(d))) {
        if (e->d_name[0] == '.') continue;
        char path[4200], err[2048];
        snprintf(path, sizeof path, "fuzz/regressions/onnx/%s", e->d_name);
        FILE *f = fopen(path, "rb");
        static uint8_t bytes[1 << 17];
        size_t n = f ? fread(bytes, 1, sizeof bytes, f) : 0;
        if (f) fclose(f);
        cnn_net *net = NULL;
        cnn_status st = cnn_onnx_read(bytes, n, "fuzz", &net, err, sizeof err);
        T_CHECK(st == 0 ? net != NULL : !net && !strncmp(err, "fuzz: ", 6), "%s: %s", path, err);
        cnn_net_free(net);
    }
    closedir(d);
}

/* Weights in a file beside the model (tests/ref/onnx_ext/, make_onnx_ext.py): read from the
 * model's folder only. Each model is copied into a folder of its own with w.bin, and a
 * secret.bin outside it. */
static void external_data(const char *ref) {
    static const struct {
        const char *model, *frag;
    } cases[] = {
        {"ok", NULL},
        {"up", "'../secret.bin' leaves the model's folder"},
        {"abs", "'/etc/passwd' leaves the model's folder"},
        {"link", "'link.bin' resolves outside the model's folder"},
        {"missing", "cannot open external data"},
        {"short", "length 8 do not hold its 16 bytes"},
    };
    float w[4] = {0.5f, -1, 2, 0.25f};
    FILE *f = fopen(at("secret.bin"), "wb");
    fwrite(w, sizeof w, 1, f);
    fclose(f);
    mkdir(at("ext"), 0700);
    f = fopen(at("ext/w.bin"), "wb");
    fwrite(w, sizeof w, 1, f);
    fclose(f);
    T_CHECK(symlink("../secret.bin", at("ext/link.bin")) == 0, "symlink");
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        char cmd[9000], err[2048] = "";
        snprintf(cmd, sizeof cmd, "cp %s/onnx_ext/%s.onnx %s", ref, cases[c].model, at("ext/m.onnx"));
        if (!T_CHECK(system(cmd) == 0, "%s", cmd)) continue;
        cnn_net *net = NULL;
        cnn_status st = cnn_onnx_load(at("ext/m.onnx"), &net, err, sizeof err);
        if (!cases[c].frag) {
            cnn_param_tensor t;
            if (T_CHECK(st == 0, "external data (%s): %s", cases[c].model, err) &&
                T_OK(net, cnn_net_find_param(net, "c.weight", &t)))
                t_same_bits("external weight", t.data, w, 4);
        } else {
            T_CHECK(st != 0 && strstr(err, cases[c].frag), "external data (%s): %s", cases[c].model,
                    st ? err : "loaded");
        }
        cnn_net_free(net);
    }
}

/* ---------------------------------------------------------------------------------------------
 * Preprocessing and export refusals
 * ------------------------------------------------------------------------------------------- */

static void preprocessing(void) {
    cnn_net *net = t_net("input x - shape=2x6x6; conv2d c - out=3 kernel=3; global_avg_pool g -", 1), *back = NULL;
    float mean[2] = {0.25f, 0.5f}, std[2] = {0.125f, 2};
    const char *names[3] = {"cat", "dog", "bird"};
    cnn_preprocess p = *cnn_net_preprocess(net);
    p.mean = mean;
    p.std = std;
    p.classes = 3;
    p.class_names = names;
    char err[2048];
    T_OK(net, cnn_net_set_preprocess(net, &p));
    if (T_CHECK(cnn_onnx_save(at("prep.onnx"), net, err, sizeof err) == 0, "%s", err) &&
        T_CHECK(cnn_onnx_load(at("prep.onnx"), &back, err, sizeof err) == 0, "%s", err)) {
        const cnn_preprocess *q = cnn_net_preprocess(back);
        T_CHECK(q->mean && q->std && q->mean[1] == 0.5f && q->std[0] == 0.125f, "mean and std");
        T_CHECK(q->classes == 3 && !strcmp(cnn_net_class_name(back, 2), "bird"), "class names");
    }
    cnn_net_free(back);
    cnn_net_free(net);
}

/* Adaptive pooling with bins of one size leaves as MaxPool or AveragePool, and comes back as
 * that pooling: another layer type, the same values. */
static void adaptive_equal_bins(void) {
    char err[2048];
    cnn_net *net = t_net("input x - shape=2x8x6; adaptive_max_pool2d m - out=4x3; conv2d c - out=2 "
                         "kernel=1; adaptive_avg_pool2d a - out=2x1", 4), *back = NULL;
    if (T_CHECK(cnn_onnx_save(at("ad.onnx"), net, err, sizeof err) == 0, "%s", err) &&
        T_CHECK(cnn_onnx_load(at("ad.onnx"), &back, err, sizeof err) == 0, "%s", err)) {
        T_CHECK(!strcmp(cnn_net_layer_type(back, 1), "max_pool2d") &&
                    !strcmp(cnn_net_layer_type(back, 3), "avg_pool2d"), "adaptive to plain pooling");
        same_outputs(net, back, "adaptive pooling, equal bins");
    }
    cnn_net_free(back);
    cnn_net_free(net);
}

/* A ceil-mode pooling whose last window PyTorch drops (it would start in the padding) leaves
 * with ceil_mode=0, the sizes ONNX's rule then gives, and comes back the same in values. */
static void ceil_dropped_window(void) {
    char err[2048], args[256];
    cnn_net *net = t_net("input x - shape=2x10x10; max_pool2d p - kernel=2 stride=3 padding=1 "
                         "ceil_mode=1", 4), *back = NULL;
    cnn_shape s = cnn_net_output_shape(net);
    T_CHECK(s.dim[1] == 4 && s.dim[2] == 4, "PyTorch's rule drops the fifth window");
    if (T_CHECK(cnn_onnx_save(at("ceil.onnx"), net, err, sizeof err) == 0, "%s", err) &&
        T_CHECK(cnn_onnx_load(at("ceil.onnx"), &back, err, sizeof err) == 0, "%s", err)) {
        cnn_net_layer_args(back, 1, args, sizeof args);
        T_CHECK(strstr(args, "ceil_mode=0") != NULL, "exported as ceil_mode=0: %s", args);
        same_outputs(net, back, "ceil mode, dropped window");
    }
    cnn_net_free(back);
    cnn_net_free(net);
}

static void export_refusals(void) {
    char err[2048];
    cnn_net *net = t_net("input x - shape=2x5x5; adaptive_avg_pool2d a - out=3", 1);
    T_CHECK(cnn_onnx_save(at("no.onnx"), net, err, sizeof err) != 0 &&
                strstr(err, "adaptive_avg_pool2d 'a': from 5x5 to 3x3"),
            "uneven adaptive pooling: %s", err);
    T_CHECK(access(at("no.onnx"), F_OK) != 0, "a refused export writes nothing");
    cnn_net_free(net);
    net = t_net("input x - shape=1x2x2; input i - shape=1x2x2; max_unpool2d u x,i size=4x4", 1);
    T_CHECK(cnn_onnx_save(at("no.onnx"), net, err, sizeof err) != 0 &&
                strstr(err, "max_unpool2d 'u': the indices form"),
            "unpooling by given indices: %s", err);
    cnn_net_free(net);
}

int main(void) {
    if (!mkdtemp(dir)) return 1;
    int light = t_env_flag("CNN_TEST_LIGHT");
    const char *ref = getenv("CNN_REF_DIR") ? getenv("CNN_REF_DIR") : "tests/ref";
    refusals();
    concat_counts();
    damaged_files(ref);
    fuzz_regressions();
    external_data(ref);
    preprocessing();
    export_refusals();
    adaptive_equal_bins();
    ceil_dropped_window();
    layers_round_trip();
    pytorch_fixtures(ref);
    zoo_round_trips(light);
    char cmd[4300];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    if (system(cmd) != 0) printf("could not remove %s\n", dir);
    return t_finish();
}

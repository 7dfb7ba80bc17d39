/*
 * test_ref.c - every layer and loss against PyTorch, on the fixtures in tests/ref/ (written by
 * tests/ref/make_fixtures.py; see tests/ref/README.md for their records).
 *
 * A layer fixture holds a network spec (the last layer is the one under test), the inputs, the
 * parameters and batch-norm state before the pass, and what PyTorch computed: the output, the
 * state after the pass, for a random upstream gradient dy the gradients of the inputs and
 * of the parameters, and for a max pooling its indices (return_indices), which must equal
 * cnn_net_pool_indices exactly. The network is built with t_net, given the same parameters
 * and state, and run forward and backward; every tensor is compared with
 * |got - want| <= atol + rtol |want|: atol 1e-5, rtol 1e-4 for forward results, atol 1e-4,
 * rtol 1e-3 for gradients. Each case runs twice, with the fast kernels and with the reference
 * kernels (cnn_net_set_reference).
 *
 * A loss fixture holds logits (or predictions), labels (or targets), the mean loss and its
 * gradient; the loss is checked through the public cnn_loss_* function and through
 * cnn_net_loss on a network that is just an input layer.
 *
 * Training-twin fixtures ("type" train) belong to test_train_twin and explanation fixtures
 * ("type" viz) to test_viz; here they are only checked to load.
 *
 *   test_ref [WORD]   runs the fixtures whose file name contains WORD (all by default).
 * The fixture directory is tests/ref (run from the repository root) or $CNN_REF_DIR. A fixture
 * that does not parse, or no fixture at all, is a failure.
 */
#include "testlib.h"

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define FWD_ATOL 1e-5
#define FWD_RTOL 1e-4
#define BWD_ATOL 1e-4
#define BWD_RTOL 1e-3

/* The fixture being run, for the labels of checks. */
static const char *g_case;

static const t_tensor *need(const t_fixture *fx, const char *name, int kind) {
    const t_tensor *t = t_fixture_get(fx, name);
    T_CHECK(t != NULL && t->kind == kind, "%s: record '%s' of kind %d is missing", g_case, name,
            kind);
    return t && t->kind == kind ? t : NULL;
}

/* A one-element int32 record. */
static int need_int(const t_fixture *fx, const char *name, int *v) {
    const t_tensor *t = need(fx, name, 1);
    if (!t || !T_CHECK(t->count == 1, "%s: '%s' has %zu elements, expected 1", g_case, name,
                       t->count))
        return 0;
    *v = ((const int32_t *)t->data)[0];
    return 1;
}

/* t_close with the case and tensor as label. */
static int close_to(const char *what, const float *got, const float *want, size_t n,
                    double atol, double rtol) {
    char label[160];
    snprintf(label, sizeof label, "%s: %s", g_case, what);
    return t_close(label, got, want, n, atol, rtol);
}

/* Checks that a float record has n elements; returns its data or NULL. */
static const float *need_f32(const t_fixture *fx, const char *name, size_t n) {
    const t_tensor *t = need(fx, name, 0);
    if (!t) return NULL;
    if (!T_CHECK(t->count == n, "%s: '%s' has %zu elements, the network needs %zu", g_case,
                 name, t->count, n))
        return NULL;
    return t->data;
}

/* The "indices" record (int32, like y) against cnn_net_pool_indices of the last layer. */
static void check_indices(const t_fixture *fx, cnn_net *net, size_t out_n, const char *sfx) {
    const t_tensor *t = need(fx, "indices", 1);
    if (!t || !T_CHECK(t->count == out_n, "%s: 'indices' has %zu elements, the output %zu",
                       g_case, t->count, out_n))
        return;
    int64_t *got = malloc(out_n * sizeof *got);
    if (T_OK(net, cnn_net_pool_indices(net, cnn_net_layer_count(net) - 1, got))) {
        const int32_t *want = t->data;
        size_t bad = 0, first = 0;
        for (size_t i = 0; i < out_n; i++)
            if (got[i] != want[i] && !bad++) first = i;
        T_CHECK(bad == 0, "%s: indices%s: %zu of %zu differ, the first at %zu: %lld, PyTorch %d",
                g_case, sfx, bad, out_n, first, bad ? (long long)got[first] : 0LL,
                bad ? want[first] : 0);
        if (!bad) printf("  ok indices%s n=%zu, all equal\n", sfx, out_n);
    }
    free(got);
}

static void run_layer(const t_fixture *fx) {
    const t_tensor *spec_t = need(fx, "spec", 2);
    int training, batch;
    if (!spec_t || !need_int(fx, "training", &training) || !need_int(fx, "batch", &batch)) return;
    const char *spec = spec_t->data;
    printf("  spec: %s (training %d, batch %d)\n", spec, training, batch);
    cnn_net *net = t_net(spec, 1);
    if (!T_CHECK(net != NULL, "%s: cannot build '%s'", g_case, spec)) return;
    cnn_net_set_training(net, training);
    if (!T_OK(net, cnn_net_prepare(net, batch))) goto out;

    /* Inputs: exactly one record x<i> per input layer. */
    int n_in = cnn_net_input_count(net);
    const float *xs[8] = {0};
    size_t in_n[8] = {0};
    char key[32];
    for (int i = 0; i < n_in; i++) {
        cnn_shape s = cnn_net_input_shape(net, i);
        in_n[i] = (size_t)batch * cnn_shape_numel(&s);
        snprintf(key, sizeof key, "x%d", i);
        if (!(xs[i] = need_f32(fx, key, in_n[i]))) goto out;
    }
    snprintf(key, sizeof key, "x%d", n_in);
    if (!T_CHECK(t_fixture_get(fx, key) == NULL, "%s: the fixture has more inputs than the "
                 "network's %d", g_case, n_in))
        goto out;

    /* Parameters and state, in the flat buffers' order (PyTorch's parameters() order). */
    size_t n_params = cnn_net_param_count(net), n_state = cnn_net_state_count(net);
    const float *w = NULL, *dw = NULL, *state = NULL, *state_after = NULL;
    if (n_params || t_fixture_get(fx, "w"))
        if (!(w = need_f32(fx, "w", n_params)) || !(dw = need_f32(fx, "dw", n_params))) goto out;
    if (n_state || t_fixture_get(fx, "state"))
        if (!(state = need_f32(fx, "state", n_state)) ||
            !(state_after = need_f32(fx, "state_after", n_state)))
            goto out;
    cnn_shape os = cnn_net_output_shape(net);
    size_t out_n = (size_t)batch * cnn_shape_numel(&os);
    const float *y = need_f32(fx, "y", out_n);
    const float *dy = need_f32(fx, "dy", out_n);
    if (!y || !dy) goto out;

    /* The fast kernels, then the reference kernels, each from the fixture's parameters. */
    for (int reference = 0; reference < 2; reference++) {
        const char *sfx = reference ? " (reference)" : "";
        char what[48];
        cnn_net_set_reference(net, reference);
        if (w) memcpy(cnn_net_params(net), w, n_params * sizeof(float));
        if (state) memcpy(cnn_net_state(net), state, n_state * sizeof(float));

        if (!T_OK(net, cnn_net_forward_multi(net, xs, n_in, batch))) goto out;
        snprintf(what, sizeof what, "y%s", sfx);
        close_to(what, cnn_net_output(net), y, out_n, FWD_ATOL, FWD_RTOL);
        snprintf(what, sizeof what, "state_after%s", sfx);
        if (state_after)
            close_to(what, cnn_net_state(net), state_after, n_state, FWD_ATOL, FWD_RTOL);
        if (t_fixture_get(fx, "indices")) check_indices(fx, net, out_n, sfx);

        /* Backward from PyTorch's upstream gradient. */
        memcpy(cnn_net_output_grad(net), dy, out_n * sizeof(float));
        cnn_net_zero_grad(net);
        if (!T_OK(net, cnn_net_backward(net))) goto out;
        for (int i = 0; i < n_in; i++) {
            snprintf(key, sizeof key, "dx%d", i);
            const float *dx = need_f32(fx, key, in_n[i]);
            snprintf(what, sizeof what, "%s%s", key, sfx);
            if (dx) close_to(what, cnn_net_input_grad(net, i), dx, in_n[i], BWD_ATOL, BWD_RTOL);
        }
        snprintf(what, sizeof what, "dw%s", sfx);
        if (dw) close_to(what, cnn_net_grads(net), dw, n_params, BWD_ATOL, BWD_RTOL);
    }
out:
    cnn_net_free(net);
}

/* The loss through cnn_net_loss: a network that is only an input of the logits' shape. */
static void loss_via_net(const t_tensor *z, cnn_loss kind, const void *target, float want_loss,
                         const float *want_grad) {
    char spec[96];
    int n = snprintf(spec, sizeof spec, "input x - shape=%d", z->dims[1]);
    for (int d = 2; d < z->ndim; d++) n += snprintf(spec + n, sizeof spec - n, "x%d", z->dims[d]);
    cnn_net *net = t_net(spec, 1);
    if (!T_CHECK(net != NULL, "%s: cannot build '%s'", g_case, spec)) return;
    float loss = 0.0f;
    if (T_OK(net, cnn_net_prepare(net, z->dims[0])) &&
        T_OK(net, cnn_net_forward(net, z->data, z->dims[0])) &&
        T_OK(net, cnn_net_loss(net, kind, target, &loss))) {
        close_to("cnn_net_loss: loss", &loss, &want_loss, 1, FWD_ATOL, FWD_RTOL);
        close_to("cnn_net_loss: output grad", cnn_net_output_grad(net), want_grad, z->count,
                 FWD_ATOL, FWD_RTOL);
    }
    cnn_net_free(net);
}

static void run_loss(const t_fixture *fx, const char *type) {
    int ce = strcmp(type, "loss_ce") == 0, pixel = strcmp(type, "loss_pixel_ce") == 0;
    int mse = strcmp(type, "loss_mse") == 0;
    const t_tensor *z = need(fx, mse ? "pred" : "logits", 0);
    const t_tensor *target = need(fx, ce || pixel ? "labels" : "target", ce || pixel ? 1 : 0);
    const t_tensor *want_loss = need(fx, "loss", 0), *want_grad = need(fx, "grad", 0);
    if (!z || !target || !want_loss || !want_grad) return;
    if (!T_CHECK(want_loss->count == 1 && want_grad->count == z->count && z->ndim >= 2,
                 "%s: inconsistent record sizes", g_case))
        return;
    float *grad = calloc(z->count, sizeof(float));
    float loss = 0.0f;
    cnn_status st;
    cnn_loss kind;
    if (ce || pixel) {
        int count = z->dims[0], classes = z->dims[1];
        int pixels = (int)(z->count / ((size_t)count * classes));
        if (!T_CHECK(target->count == (size_t)count * pixels, "%s: %zu labels for %d x %d "
                     "pixels", g_case, target->count, count, pixels))
            goto out;
        st = cnn_loss_cross_entropy(z->data, target->data, count, classes, pixels, &loss, grad);
        kind = ce ? CNN_LOSS_SOFTMAX_CE : CNN_LOSS_PIXEL_CE;
    } else {
        if (!T_CHECK(target->count == z->count, "%s: target and prediction sizes differ", g_case))
            goto out;
        st = mse ? cnn_loss_mse(z->data, target->data, z->count, &loss, grad)
                 : cnn_loss_bce_logits(z->data, target->data, z->count, &loss, grad);
        kind = mse ? CNN_LOSS_MSE : CNN_LOSS_BCE_LOGITS;
    }
    if (!T_OK(NULL, st)) goto out;
    close_to("loss", &loss, want_loss->data, 1, FWD_ATOL, FWD_RTOL);
    close_to("grad", grad, want_grad->data, z->count, FWD_ATOL, FWD_RTOL);
    loss_via_net(z, kind, target->data, *(const float *)want_loss->data, want_grad->data);
out:
    free(grad);
}

static void run_fixture(const char *path) {
    t_fixture *fx = t_fixture_load(path);
    if (!T_CHECK(fx != NULL, "%s: the fixture does not parse", g_case)) return;
    const char *type = t_fixture_str(fx, "type");
    if (!T_CHECK(type != NULL, "%s: no 'type' record", g_case)) goto out;
    if (strcmp(type, "layer") == 0) run_layer(fx);
    else if (!strcmp(type, "loss_ce") || !strcmp(type, "loss_pixel_ce") ||
             !strcmp(type, "loss_mse") || !strcmp(type, "loss_bce"))
        run_loss(fx, type);
    else if (strcmp(type, "train") == 0) printf("  (training twin: run by test_train_twin)\n");
    else if (strcmp(type, "viz") == 0) printf("  (explanations: run by test_viz)\n");
    else T_CHECK(0, "%s: unknown fixture type '%s'", g_case, type);
out:
    t_fixture_free(fx);
}

static int cmp_str(const void *a, const void *b) {
    return strcmp(*(char *const *)a, *(char *const *)b);
}

int main(int argc, char **argv) {
    setvbuf(stdout, NULL, _IOLBF, 0); /* keeps the log in order with the failures on stderr */
    const char *filter = argc > 1 ? argv[1] : NULL;
    const char *dir = getenv("CNN_REF_DIR") ? getenv("CNN_REF_DIR") : "tests/ref";
    DIR *d = opendir(dir);
    if (!T_CHECK(d != NULL, "cannot open the fixture directory %s (run from the repository "
                 "root or set CNN_REF_DIR)", dir))
        return t_finish();
    char **names = NULL;
    size_t n = 0, cap = 0;
    for (struct dirent *e; (e = readdir(d));) {
        size_t len = strlen(e->d_name);
        if (len < 5 || strcmp(e->d_name + len - 4, ".bin") != 0) continue;
        if (filter && !strstr(e->d_name, filter)) continue;
        if (n == cap) {
            cap = cap ? 2 * cap : 64;
            char **grown = realloc(names, cap * sizeof *names);
            if (!grown) break;
            names = grown;
        }
        names[n++] = strdup(e->d_name);
    }
    closedir(d);
    T_CHECK(n > 0, "no fixtures in %s%s%s", dir, filter ? " matching " : "", filter ? filter : "");
    qsort(names, n, sizeof *names, cmp_str);

    char **failed = calloc(n + 1, sizeof *failed);
    size_t n_failed = 0;
    for (size_t i = 0; i < n; i++) {
        char path[4096];
        snprintf(path, sizeof path, "%s/%s", dir, names[i]);
        g_case = names[i];
        printf("case %s\n", names[i]);
        int before = t_failures;
        run_fixture(path);
        if (t_failures != before) failed[n_failed++] = names[i];
    }
    printf("%zu fixtures, %zu passed, %zu failed\n", n, n - n_failed, n_failed);
    for (size_t i = 0; i < n_failed; i++) printf("  FAILED %s\n", failed[i]);
    for (size_t i = 0; i < n; i++) free(names[i]);
    free(names);
    free(failed);
    return t_finish();
}

/*
 * fuzz_onnx.c - libFuzzer target for the ONNX reader and importer (src/onnx/).
 *
 * Any input must either be refused with a message that starts with the source's name
 * ("fuzz: ..."), leaving no network, or give a network whose definition text reads back to
 * the same layers and parameter count and which runs one sample when its activations are
 * small (under 16 MB). Anything else - a crash, a sanitizer report, a leak, an abort below -
 * is a bug.
 *
 *   make fuzz FUZZ_TARGET=onnx     builds build-fuzz/fuzz_onnx and runs it (FUZZ_SECONDS)
 */
#include "cnn.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void check_text(cnn_net *net) {
    char *text = cnn_net_to_text(net), err[1024];
    if (!text) abort();
    cnn_net *again = NULL;
    if (cnn_net_from_text(text, "written", 1, &again, err, sizeof err) != CNN_STATUS_OK) {
        fprintf(stderr, "the imported network's text does not read back: %s\n%s", err, text);
        abort();
    }
    if (cnn_net_layer_count(net) != cnn_net_layer_count(again) ||
        cnn_net_param_count(net) != cnn_net_param_count(again))
        abort();
    cnn_net_free(again);
    free(text);
}

/* One sample of zeros through the network, when that is cheap. */
static void run_once(cnn_net *net) {
    if (cnn_net_activation_bytes(net) > (16u << 20) || cnn_net_macs(net) > 50000000) return;
    size_t in = 0;
    for (int i = 0; i < cnn_net_input_count(net); i++) {
        cnn_shape s = cnn_net_input_shape(net, i);
        in += cnn_shape_numel(&s);
    }
    float *x = calloc(in + 1, sizeof *x);
    const float *xs[8];
    if (!x) return;
    for (int i = 0, at = 0; i < cnn_net_input_count(net) && i < 8; i++) {
        cnn_shape s = cnn_net_input_shape(net, i);
        xs[i] = x + at;
        at += (int)cnn_shape_numel(&s);
    }
    if (cnn_net_prepare(net, 1) == CNN_STATUS_OK)
        cnn_net_forward_multi(net, xs, cnn_net_input_count(net), 1);
    free(x);
}

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size) {
    cnn_net *net = NULL;
    char err[2048] = "";
    cnn_status st = cnn_onnx_read(data, size, "fuzz", &net, err, sizeof err);
    if (st != CNN_STATUS_OK) {
        if (net != NULL || strncmp(err, "fuzz:", 5) != 0) {
            fprintf(stderr, "refusal without a proper message: '%s'\n", err);
            abort();
        }
        return 0;
    }
    check_text(net);
    run_once(net);
    cnn_net_free(net);
    return 0;
}

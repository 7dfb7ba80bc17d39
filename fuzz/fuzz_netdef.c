/*
 * fuzz_netdef.c - libFuzzer target for the network definition reader (src/io/netdef.c).
 *
 * Any input must either be refused with a message in the source:line:column form, or give a
 * network whose written text (cnn_net_to_text) reads back to the same layers and parameter
 * count. Anything else - a crash, a sanitizer report, a leak, an abort below - is a bug.
 *
 * Sizes in the input are limited to 64: a valid network of a few huge layers is not a bug but
 * takes seconds to initialise, which would only slow the search down. The limit keeps every
 * network small while leaving all of the grammar and every layer type reachable.
 *
 *   make fuzz                      builds build-fuzz/fuzz_netdef and runs it (FUZZ_SECONDS)
 */
#include "cnn.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int sizes_small(const char *s) {
    for (; *s; s++) {
        if (!isdigit((unsigned char)*s)) continue;
        long v = 0;
        while (isdigit((unsigned char)*s)) {
            v = v * 10 + (*s++ - '0');
            if (v > 64) return 0;
        }
        if (!*s) break;
    }
    return 1;
}

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size) {
    char *text = malloc(size + 1);
    if (!text) return 0;
    memcpy(text, data, size);
    text[size] = 0;
    if (!sizes_small(text)) {
        free(text);
        return 0;
    }
    cnn_net *net = NULL;
    char err[1024] = "";
    cnn_status st = cnn_net_from_text(text, "fuzz", 1, &net, err, sizeof err);
    if (st != CNN_STATUS_OK) {
        /* A refusal must say where: "fuzz:LINE:COL: ..." or "fuzz: ...". */
        if (net != NULL || strncmp(err, "fuzz:", 5) != 0) abort();
        free(text);
        return 0;
    }
    char *again = cnn_net_to_text(net);
    if (!again) abort();
    cnn_net *net2 = NULL;
    if (cnn_net_from_text(again, "written", 1, &net2, err, sizeof err) != CNN_STATUS_OK) {
        fprintf(stderr, "the written text does not read back: %s\n%s", err, again);
        abort();
    }
    if (cnn_net_layer_count(net) != cnn_net_layer_count(net2) ||
        cnn_net_param_count(net) != cnn_net_param_count(net2))
        abort();
    for (int i = 0; i < cnn_net_layer_count(net); i++) {
        cnn_shape a = cnn_net_layer_shape(net, i), b = cnn_net_layer_shape(net2, i);
        if (memcmp(&a, &b, sizeof a) != 0) abort();
    }
    cnn_net_free(net2);
    free(again);
    cnn_net_free(net);
    free(text);
    return 0;
}

/*
 * fuzz_checkpoint.c - libFuzzer target for the checkpoint reader (src/io/checkpoint.c, with
 * the definition reader and the preprocessing section it calls).
 *
 * Any input must either be refused with a message that starts with the file's path, leaving
 * no network, optimiser or metadata, or give a network that saves and loads back to the same
 * layers, parameters, state, optimiser state and metadata, bit for bit. Anything else - a
 * crash, a sanitizer report, a leak, an allocation beyond libFuzzer's limit (a small file
 * that costs gigabytes), an abort below - is a bug.
 *
 * Every input is given a correct checksum when it ends as a checkpoint does (an "END "
 * section of 4 bytes): the search then reaches the sections' contents instead of stopping at
 * the CRC, which no mutation would ever match. Sizes in the definition are not limited (as
 * fuzz_netdef.c limits them): a checkpoint must cost what its bytes hold, whatever it
 * promises.
 *
 *   make fuzz FUZZ_TARGET=checkpoint    builds build-fuzz/fuzz_checkpoint and runs it
 */
#include "fuzz_files.h"

#include <zlib.h>

/* The stored checksum of a file that ends with an END section, made right. */
static void fix_checksum(unsigned char *d, size_t n) {
    static const unsigned char end[12] = {'E', 'N', 'D', ' ', 4, 0, 0, 0, 0, 0, 0, 0};
    if (n < 12 + 16 || memcmp(d + n - 16, end, 12) != 0) return;
    uint32_t crc = (uint32_t)crc32(crc32(0L, Z_NULL, 0), d, (uInt)(n - 16));
    for (int i = 0; i < 4; i++) d[n - 4 + i] = (unsigned char)(crc >> (8 * i));
}

static int same_floats(const float *a, const float *b, size_t n) {
    return n == 0 || memcmp(a, b, n * sizeof *a) == 0;
}

/* Saves what was loaded and loads it back: the same network, bit for bit. */
static void round_trip(cnn_net *net, cnn_optim *opt, const char *meta) {
    const char *again_path = fuzz_path(1, "again.ckpt");
    char err[2048];
    if (cnn_checkpoint_save(again_path, net, opt, meta, err, sizeof err)) {
        fprintf(stderr, "a loaded checkpoint does not save: %s\n", err);
        abort();
    }
    cnn_net *net2 = NULL;
    cnn_optim *opt2 = NULL;
    char *meta2 = NULL;
    if (cnn_checkpoint_load(again_path, &net2, &opt2, &meta2, err, sizeof err)) {
        fprintf(stderr, "a saved checkpoint does not load back: %s\n", err);
        abort();
    }
    size_t np = cnn_net_param_count(net), ns = cnn_net_state_count(net), k1 = 0, k2 = 0;
    if (cnn_net_layer_count(net2) != cnn_net_layer_count(net) ||
        cnn_net_param_count(net2) != np || cnn_net_state_count(net2) != ns ||
        !same_floats(cnn_net_params(net2), cnn_net_params(net), np) ||
        !same_floats(cnn_net_state(net2), cnn_net_state(net), ns) || strcmp(meta2, meta) != 0 ||
        !opt != !opt2)
        abort();
    if (opt) {
        float *s1 = cnn_optim_state(opt, &k1), *s2 = cnn_optim_state(opt2, &k2);
        if (k1 != k2 || !same_floats(s1, s2, k1) || cnn_optim_steps(opt) != cnn_optim_steps(opt2))
            abort();
    }
    free(meta2);
    cnn_optim_free(opt2);
    cnn_net_free(net2);
}

static int fuzz_checkpoint(const uint8_t *data, size_t size) {
    unsigned char *d = malloc(size ? size : 1);
    if (!d) return 0;
    memcpy(d, data, size);
    fix_checksum(d, size);
    const char *path = fuzz_path(0, "fuzz.ckpt");
    fuzz_write(path, d, size);
    free(d);
    cnn_net *net = NULL;
    cnn_optim *opt = NULL;
    char *meta = NULL, err[2048] = "";
    cnn_status st = cnn_checkpoint_load(path, &net, &opt, &meta, err, sizeof err);
    if (st != CNN_STATUS_OK) {
        if (net || opt || meta) abort();
        fuzz_check_refusal(err);
        return 0;
    }
    if (!net || !meta) abort();
    /* What cnn summary and the loaders of the tool read of a network. */
    char *text = cnn_net_to_text(net);
    if (!text) abort();
    free(text);
    int classes = cnn_net_preprocess(net)->classes;
    for (int k = 0; k < classes && k < 64; k++)
        if (!cnn_net_class_name(net, k)) abort();
    round_trip(net, opt, meta);
    free(meta);
    cnn_optim_free(opt);
    cnn_net_free(net);
    return 1;
}

#ifndef FUZZ_NO_MAIN
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    fuzz_checkpoint(data, size);
    return 0;
}
#endif

/*
 * make_corpus.c - writes the seed corpora of the file readers' fuzz targets: small valid
 * files of each kind, in the input layout each target reads (fuzz_checkpoint.c, fuzz_idx.c,
 * fuzz_cifar.c say how an input is cut into files).
 *
 *   make fuzz-corpus      builds this into build/ and writes fuzz/corpus/{checkpoint,idx,cifar}/
 *
 * The checkpoints are written by the library itself (one kind is written by hand: version 1,
 * which the library reads but no longer writes), so the seeds follow the format exactly.
 * tests/test_fuzz_regressions.c checks that every seed still loads.
 */
#include "cnn.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <zlib.h>

static int failures;

static void fail(const char *what, const char *why) {
    fprintf(stderr, "make_corpus: %s: %s\n", what, why);
    failures++;
}

static void write_file(const char *path, const void *d, size_t n) {
    FILE *f = fopen(path, "wb");
    if (!f || (n && fwrite(d, 1, n, f) != n) || fclose(f) != 0) fail(path, "cannot write");
}

/* ---------------------------------------------------------------------------------------------
 * Checkpoints
 * ------------------------------------------------------------------------------------------- */

static cnn_net *net_of(const char *text) {
    cnn_net *net = NULL;
    char err[1024];
    if (cnn_net_from_text(text, "seed", 1, &net, err, sizeof err)) fail("definition", err);
    return net;
}

static void save(const char *path, cnn_net *net, cnn_optim *opt, const char *meta) {
    char err[1024];
    if (net && cnn_checkpoint_save(path, net, opt, meta, err, sizeof err)) fail(path, err);
}

/* A version-1 checkpoint (no PREP section; preprocessing in the metadata), by hand. */
static void save_v1(const char *path, cnn_net *net, const char *meta) {
    unsigned char buf[4096];
    size_t n = 0;
#define PUT(p, k) (memcpy(buf + n, (p), (k)), n += (k))
#define PUT_U64(v) do { uint64_t x_ = (v); for (int i_ = 0; i_ < 8; i_++) buf[n++] = (unsigned char)(x_ >> (8 * i_)); } while (0)
    char *def = cnn_net_to_text(net);
    size_t np = cnn_net_param_count(net) * sizeof(float);
    if (!def || strlen(def) + np + strlen(meta) + 200 > sizeof buf) {
        fail(path, "too large for a seed");
        free(def);
        return;
    }
    PUT("CNNCKPT1", 8);
    PUT("\1\0\0\0", 4);
    PUT("DEFN", 4);
    PUT_U64(strlen(def));
    PUT(def, strlen(def));
    PUT("PARM", 4);
    PUT_U64(np);
    PUT(cnn_net_params(net), np);
    PUT("STAT", 4);
    PUT_U64(0);
    uint64_t rng[4];
    cnn_net_get_rng(net, rng);
    PUT("RNG ", 4);
    PUT_U64(32);
    for (int i = 0; i < 4; i++) PUT_U64(rng[i]);
    PUT("META", 4);
    PUT_U64(strlen(meta));
    PUT(meta, strlen(meta));
    uint32_t crc = (uint32_t)crc32(crc32(0L, Z_NULL, 0), buf, (uInt)n);
    PUT("END ", 4);
    PUT_U64(4);
    for (int i = 0; i < 4; i++) buf[n++] = (unsigned char)(crc >> (8 * i));
#undef PUT
#undef PUT_U64
    write_file(path, buf, n);
    free(def);
}

static void checkpoints(void) {
    /* Dense layers, batch norm state, Adam with steps taken, metadata. */
    cnn_net *a = net_of("x = input shape=6\nd = dense out=4\nb = batchnorm\nr = relu\n"
                        "o = dense out=3\n");
    cnn_optim_config adam = cnn_optim_defaults(CNN_OPTIM_ADAM, 0.01f);
    cnn_optim *oa = a ? cnn_optim_new(a, &adam) : NULL;
    if (oa) cnn_optim_set_steps(oa, 3);
    save("fuzz/corpus/checkpoint/dense_adam.ckpt", a, oa, "epoch=3\nclasses=a,b,c\n");
    cnn_optim_free(oa);
    cnn_net_free(a);

    /* Convolution and pooling, SGD with momentum, preprocessing with names. */
    cnn_net *c = net_of("x = input shape=1x6x6\nc = conv2d out=2 kernel=3 padding=1\n"
                        "p = max_pool2d kernel=2\nf = flatten\nd = dense out=3\n");
    if (c) {
        static const float mean[1] = {0.25f}, std[1] = {0.5f};
        static const char *const names[3] = {"cat", "dog", "bird"};
        cnn_preprocess pp = *cnn_net_preprocess(c);
        pp.mean = mean;
        pp.std = std;
        pp.blur = 0.5f;
        pp.class_names = names;
        if (cnn_net_set_preprocess(c, &pp)) fail("preprocessing", cnn_net_last_error(c));
    }
    cnn_optim_config sgd = cnn_optim_defaults(CNN_OPTIM_SGD, 0.1f);
    sgd.momentum = 0.9f;
    cnn_optim *oc = c ? cnn_optim_new(c, &sgd) : NULL;
    save("fuzz/corpus/checkpoint/conv_sgd_prep.ckpt", c, oc, NULL);
    cnn_optim_free(oc);
    cnn_net_free(c);

    /* Branches and merges, no optimiser. */
    cnn_net *b = net_of("x = input shape=2x4x4\na = conv2d out=2 kernel=1\n"
                        "b = conv2d(x) out=2 kernel=3 padding=same\ns = add(a, b)\n"
                        "c = concat(s, x)\nu = upsample scale=2\ng = global_avg_pool\n");
    save("fuzz/corpus/checkpoint/branches.ckpt", b, NULL, "note=no optimiser\n");
    cnn_net_free(b);

    /* Version 1: the preprocessing in the metadata. */
    cnn_net *v = net_of("x = input shape=1x2x2\nf = flatten\nd = dense out=2\n");
    if (v) save_v1("fuzz/corpus/checkpoint/v1.ckpt", v, "mean=0.5\nstd=0.25\nclasses=yes|no\n");
    cnn_net_free(v);
}

/* ---------------------------------------------------------------------------------------------
 * IDX pairs: two bytes (little-endian) of the image file's length, the image file, the labels
 * ------------------------------------------------------------------------------------------- */

static size_t be32(unsigned char *p, uint32_t v) {
    p[0] = (unsigned char)(v >> 24);
    p[1] = (unsigned char)(v >> 16);
    p[2] = (unsigned char)(v >> 8);
    p[3] = (unsigned char)v;
    return 4;
}

/* src as a gzip stream into dst; its length. */
static size_t gzip(const unsigned char *src, size_t n, unsigned char *dst, size_t cap) {
    z_stream z = {0};
    if (deflateInit2(&z, 9, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) != Z_OK) return 0;
    z.next_in = (unsigned char *)src;
    z.avail_in = (uInt)n;
    z.next_out = dst;
    z.avail_out = (uInt)cap;
    int r = deflate(&z, Z_FINISH);
    size_t out = z.total_out;
    deflateEnd(&z);
    return r == Z_STREAM_END ? out : 0;
}

static void idx_pair(const char *path, int n, int h, int w, const unsigned char *labels,
                     int gz) {
    unsigned char im[1024], lb[256], out[4096];
    size_t ni = be32(im, 0x803);
    ni += be32(im + ni, (uint32_t)n);
    ni += be32(im + ni, (uint32_t)h);
    ni += be32(im + ni, (uint32_t)w);
    for (int i = 0; i < n * h * w; i++) im[ni++] = (unsigned char)(i * 37);
    size_t nl = be32(lb, 0x801);
    nl += be32(lb + nl, (uint32_t)n);
    memcpy(lb + nl, labels, (size_t)n);
    nl += (size_t)n;
    unsigned char gi[2048], gl[1024];
    const unsigned char *pi = im, *pl = lb;
    if (gz) {
        ni = gzip(im, ni, gi, sizeof gi);
        nl = gzip(lb, nl, gl, sizeof gl);
        pi = gi;
        pl = gl;
        if (!ni || !nl) fail(path, "gzip");
    }
    out[0] = (unsigned char)ni;
    out[1] = (unsigned char)(ni >> 8);
    memcpy(out + 2, pi, ni);
    memcpy(out + 2 + ni, pl, nl);
    write_file(path, out, 2 + ni + nl);
}

static void idx(void) {
    static const unsigned char three[3] = {0, 1, 9}, twelve[2] = {12, 3};
    idx_pair("fuzz/corpus/idx/plain", 3, 4, 4, three, 0);
    idx_pair("fuzz/corpus/idx/gzip", 3, 4, 4, three, 1);
    idx_pair("fuzz/corpus/idx/label12", 2, 3, 5, twelve, 0);
}

/* ---------------------------------------------------------------------------------------------
 * CIFAR-10: a flag byte (odd: two bytes of the names file's length, then the names file),
 * then the batch
 * ------------------------------------------------------------------------------------------- */

static void cifar(const char *path, int records, const char *names) {
    enum { RECORD = 1 + 3 * 32 * 32 };
    static unsigned char out[3 + 256 + 2 * RECORD];
    size_t n = 0, len = names ? strlen(names) : 0;
    out[n++] = names ? 1 : 0;
    if (names) {
        out[n++] = (unsigned char)len;
        out[n++] = (unsigned char)(len >> 8);
        memcpy(out + n, names, len);
        n += len;
    }
    for (int r = 0; r < records; r++) {
        out[n++] = (unsigned char)(3 + 6 * r);
        for (int k = 0; k < RECORD - 1; k++) out[n++] = (unsigned char)(k * 7 + r);
    }
    write_file(path, out, n);
}

int main(void) {
    mkdir("fuzz/corpus/checkpoint", 0755);
    mkdir("fuzz/corpus/idx", 0755);
    mkdir("fuzz/corpus/cifar", 0755);
    checkpoints();
    idx();
    cifar("fuzz/corpus/cifar/one", 1, NULL);
    cifar("fuzz/corpus/cifar/two_named", 2,
          "plane\ncar\nbird\ncat\ndeer\n\ndog\nfrog\nhorse\nship\ntruck\n");
    return failures != 0;
}

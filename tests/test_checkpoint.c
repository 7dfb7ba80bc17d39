/*
 * test_checkpoint.c - checkpoints: an exact round trip of everything training needs, and
 * refusal of every kind of damaged file with a message naming it; a failed save leaves the
 * previous checkpoint whole.
 */
#include "testlib.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static char dir[] = "/tmp/cnn_ckpt_XXXXXX";

static unsigned char *slurp(const char *path, size_t *n) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    long len = ftell(f);
    fseek(f, 0, SEEK_SET);
    unsigned char *d = malloc((size_t)len);
    *n = fread(d, 1, (size_t)len, f);
    fclose(f);
    return d;
}

static void spit(const char *path, const unsigned char *d, size_t n) {
    FILE *f = fopen(path, "wb");
    fwrite(d, 1, n, f);
    fclose(f);
}

static void expect_refused(const char *path, const char *frag) {
    cnn_net *net = NULL;
    char err[1024] = "";
    cnn_status st = cnn_checkpoint_load(path, &net, NULL, NULL, err, sizeof err);
    T_CHECK(st != CNN_STATUS_OK && net == NULL, "damaged file accepted (%s)", frag);
    T_CHECK(strstr(err, path) != NULL && strstr(err, frag) != NULL, "message '%s' lacks the path or '%s'",
            err, frag);
    printf("  ok refused: %s\n", err);
    cnn_net_free(net);
}

/* cnn_meta_get: whole keys only, the length of the value, cut to the buffer, -1 when absent. */
static void meta_lines(void) {
    const char *meta = "a=1\nkey=hello\nke=no\nlast=end";
    char buf[16];
    T_CHECK(cnn_meta_get(meta, "key", buf, sizeof buf) == 5 && !strcmp(buf, "hello"), "key");
    T_CHECK(cnn_meta_get(meta, "ke", buf, sizeof buf) == 2 && !strcmp(buf, "no"), "a prefix");
    T_CHECK(cnn_meta_get(meta, "last", buf, sizeof buf) == 3 && !strcmp(buf, "end"), "last line");
    T_CHECK(cnn_meta_get(meta, "key", buf, 3) == 5 && !strcmp(buf, "he"), "cut to the buffer");
    T_CHECK(cnn_meta_get(meta, "k", buf, sizeof buf) == -1, "absent");
}

int main(void) {
    meta_lines();
    if (!mkdtemp(dir)) return 1;
    char path[256], other[256];
    snprintf(path, sizeof path, "%s/model.ckpt", dir);
    snprintf(other, sizeof other, "%s/bad.ckpt", dir);

    /* A network with parameters, state, and an optimiser that has taken steps. */
    cnn_net *net = t_net("input x - shape=6; dense d - out=4; batchnorm b -; relu r -; dense o - out=3", 5);
    cnn_optim_config cfg = cnn_optim_defaults(CNN_OPTIM_ADAM, 0.01f);
    cnn_optim *opt = cnn_optim_new(net, &cfg);
    T_OK(net, cnn_net_prepare(net, 4));
    cnn_net_set_training(net, 1);
    float x[24];
    int32_t labels[4] = {0, 1, 2, 1};
    t_fill(x, 24, 9, -1, 1);
    for (int step = 0; step < 3; step++) {
        float loss;
        cnn_net_zero_grad(net);
        T_OK(net, cnn_net_forward(net, x, 4));
        T_OK(net, cnn_net_loss(net, CNN_LOSS_SOFTMAX_CE, labels, &loss));
        T_OK(net, cnn_net_backward(net));
        T_OK(net, cnn_optim_step(opt));
    }
    char err[1024];
    T_CHECK(cnn_checkpoint_save(path, net, opt, "epoch=3\nclasses=a,b,c\n", err, sizeof err) == 0, "%s", err);

    cnn_net *back = NULL;
    cnn_optim *back_opt = NULL;
    char *meta = NULL;
    if (T_CHECK(cnn_checkpoint_load(path, &back, &back_opt, &meta, err, sizeof err) == 0, "%s", err)) {
        size_t n = cnn_net_param_count(net);
        T_CHECK(cnn_net_param_count(back) == n, "param count");
        t_same_bits("parameters", cnn_net_params(back), cnn_net_params(net), n);
        t_same_bits("state", cnn_net_state(back), cnn_net_state(net), cnn_net_state_count(net));
        uint64_t r1[4], r2[4];
        cnn_net_get_rng(net, r1);
        cnn_net_get_rng(back, r2);
        T_CHECK(memcmp(r1, r2, sizeof r1) == 0, "generator state");
        T_CHECK(back_opt && cnn_optim_steps(back_opt) == 3, "optimiser steps");
        size_t k1, k2;
        float *s1 = cnn_optim_state(opt, &k1), *s2 = cnn_optim_state(back_opt, &k2);
        T_CHECK(k1 == k2, "optimiser state size");
        t_same_bits("optimiser state", s2, s1, k1);
        cnn_optim_config c2 = cnn_optim_get_config(back_opt);
        T_CHECK(c2.kind == CNN_OPTIM_ADAM && c2.lr == 0.01f && c2.beta2 == 0.999f, "optimiser config");
        T_CHECK(meta && strcmp(meta, "epoch=3\nclasses=a,b,c\n") == 0, "meta");
        /* One more identical step on both gives identical parameters. */
        for (int k = 0; k < 2; k++) {
            cnn_net *m = k ? back : net;
            cnn_optim *o = k ? back_opt : opt;
            float loss;
            T_OK(m, cnn_net_prepare(m, 4));
            cnn_net_set_training(m, 1);
            cnn_net_zero_grad(m);
            T_OK(m, cnn_net_forward(m, x, 4));
            T_OK(m, cnn_net_loss(m, CNN_LOSS_SOFTMAX_CE, labels, &loss));
            T_OK(m, cnn_net_backward(m));
            T_OK(m, cnn_optim_step(o));
        }
        t_same_bits("parameters after one more step", cnn_net_params(back), cnn_net_params(net), n);
    }
    free(meta);
    cnn_optim_free(back_opt);
    cnn_net_free(back);

    /* No temporary file is left behind. */
    char tmp[300];
    snprintf(tmp, sizeof tmp, "%s.tmp.%ld", path, (long)getpid());
    T_CHECK(access(tmp, F_OK) != 0, "temporary file left behind");

    /* Damage of every kind is refused. */
    size_t n;
    unsigned char *good = slurp(path, &n);
    spit(other, good, n / 2);
    expect_refused(other, "truncated");
    spit(other, good, 10);
    expect_refused(other, "magic");
    unsigned char *bad = malloc(n);
    memcpy(bad, good, n);
    bad[n / 2] ^= 0x40;
    spit(other, bad, n);
    expect_refused(other, "checksum mismatch");
    memcpy(bad, good, n);
    bad[0] = 'X';
    spit(other, bad, n);
    expect_refused(other, "magic");
    memcpy(bad, good, n);
    bad[8] = 9;
    spit(other, bad, n);
    expect_refused(other, "version 9");
    spit(other, (const unsigned char *)"", 0);
    expect_refused(other, "magic");
    snprintf(other, sizeof other, "%s/missing.ckpt", dir);
    expect_refused(other, "cannot open");
    free(bad);

    /* A save that fails (its temporary name is taken by a directory) leaves the old file. */
    mkdir(tmp, 0700);
    T_CHECK(cnn_checkpoint_save(path, net, opt, NULL, err, sizeof err) == CNN_STATUS_IO &&
                strstr(err, "cannot"), "save over a blocked temporary: %s", err);
    rmdir(tmp);
    size_t n2;
    unsigned char *still = slurp(path, &n2);
    T_CHECK(still && n2 == n && memcmp(still, good, n) == 0, "the previous checkpoint is intact");
    free(still);
    free(good);

    cnn_optim_free(opt);
    cnn_net_free(net);
    t_remove_tree(dir); /* the files the refusals above wrote too */
    return t_finish();
}

/*
 * test_threads.c - two networks used from two threads of one program at the same time: each
 * trains with its own trainer (2 threads inside each network, so the thread pools of both run
 * at once) and then classifies; the results equal, bit for bit, those of the same two runs done
 * one after the other. Nothing in libcnn is shared between networks but what is read-only or
 * set once (the layer registry, OpenBLAS's one-thread setting).
 */
#include "testlib.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

/* n images of 1x12x12: class k (of 3) is a bright column 3k + 1 over noise. */
static cnn_dataset *columns(int n, uint64_t seed) {
    cnn_dataset *ds = calloc(1, sizeof *ds);
    static char *names[] = {"left", "middle", "right"};
    ds->n = n;
    ds->shape = (cnn_shape){3, {1, 12, 12}};
    ds->classes = 3;
    ds->x = malloc((size_t)n * 144 * sizeof(float));
    ds->y = malloc((size_t)n * sizeof(int32_t));
    ds->class_names = names;
    t_fill(ds->x, (size_t)n * 144, seed, 0, 0.4f);
    for (int i = 0; i < n; i++) {
        ds->y[i] = i % 3;
        for (int r = 1; r < 11; r++) ds->x[(size_t)i * 144 + r * 12 + 3 * (i % 3) + 1] = 1.0f;
    }
    return ds;
}

typedef struct job {
    const char *spec;     /* the network */
    uint64_t seed;
    const cnn_dataset *train;
    float *params;        /* after training (a copy) */
    size_t n_params;
    int classes[30];      /* cnn_classify of the first 30 training images */
    int ok;
} job;

static const char *const SPECS[2] = {
    "input x - shape=1x12x12; conv2d c x out=8 kernel=3 padding=1; batchnorm b -; relu r -;"
    "max_pool2d p - kernel=2; conv2d c2 - out=8 kernel=3 padding=1; relu r2 -; flatten f -;"
    "dropout d - p=0.2; dense o - out=3",
    "input x - shape=1x12x12; conv2d c x out=16 kernel=5 padding=2; relu r -;"
    "avg_pool2d p - kernel=2; flatten f -; dense h - out=16; relu r2 -; dense o - out=3"};

static void *run_job(void *arg) {
    job *j = arg;
    cnn_net *net = t_net(j->spec, j->seed);
    cnn_train_config cfg = cnn_train_defaults();
    cfg.epochs = 6;
    cfg.batch = 16;
    cfg.threads = 2;
    cfg.seed = j->seed;
    cfg.augment = (cnn_augment){.crop_pad = 1}; /* no flips: they would swap columns */
    cnn_trainer *t = NULL;
    char err[1024];
    j->ok = net && cnn_trainer_new(net, j->train, NULL, &cfg, &t, err, sizeof err) == 0 &&
            cnn_trainer_run(t) == 0 &&
            cnn_classify(net, j->train->x, 30, 1, j->classes, NULL) == 0;
    if (j->ok) {
        j->n_params = cnn_net_param_count(net);
        j->params = malloc(j->n_params * sizeof *j->params);
        memcpy(j->params, cnn_net_params(net), j->n_params * sizeof *j->params);
    }
    cnn_trainer_free(t);
    cnn_net_free(net);
    return NULL;
}

int main(void) {
    cnn_dataset *data = columns(240, 1);
    job seq[2], par[2];
    for (int k = 0; k < 2; k++) {
        seq[k] = (job){.spec = SPECS[k], .seed = 5 + (uint64_t)k, .train = data};
        par[k] = seq[k];
        run_job(&seq[k]);
    }
    pthread_t th[2];
    for (int k = 0; k < 2; k++) pthread_create(&th[k], NULL, run_job, &par[k]);
    for (int k = 0; k < 2; k++) pthread_join(th[k], NULL);
    for (int k = 0; k < 2; k++) {
        T_CHECK(seq[k].ok && par[k].ok, "network %d trains alone and beside the other", k);
        if (seq[k].ok && par[k].ok && T_CHECK(seq[k].n_params == par[k].n_params, "sizes"))
            t_same_bits(k ? "network 1: concurrent vs sequential" : "network 0: concurrent vs sequential",
                        par[k].params, seq[k].params, seq[k].n_params);
        T_CHECK(!memcmp(seq[k].classes, par[k].classes, sizeof seq[k].classes),
                "network %d classifies the same in both runs", k);
        int correct = 0;
        for (int i = 0; i < 30; i++) correct += seq[k].classes[i] == data->y[i];
        T_CHECK(correct >= 24, "network %d learnt the task: %d of 30", k, correct);
        free(seq[k].params);
        free(par[k].params);
    }
    free(data->x);
    free(data->y);
    free(data);
    return t_finish();
}

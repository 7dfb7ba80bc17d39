/*
 * mpi_trainer.c - data-parallel training over MPI (include/cnn_mpi.h), run by tests/test_mpi.sh
 * as `mpirun -np N build/tests/mpi_trainer`:
 *   - after every step all ranks hold the same parameters and state, bit for bit (hashes
 *     gathered from every rank);
 *   - N ranks with a global batch B end 20 steps with the weights of one process with batch B
 *     (rank 0 trains that process too), within REL_TOL relative to the largest weight: the
 *     gradient of B samples is summed in another order (per rank, then over the ranks; the
 *     kernels sum over the batch inside their products), so the bits differ;
 *   - with sync_bn, a batch-norm network on N ranks also ends within REL_TOL of one process
 *     (each rank's own statistics, the default, give another model: the difference is
 *     printed, not bounded);
 *   - mixup and CutMix (samples mixed in pairs, each rank its share's) give one process's run;
 *   - gradients summed in buckets during backward (on the sums' thread) give the same bits as
 *     one sum after it;
 *   - micro-batches on each rank (cnn_train_config.micro_batch: buckets asked for, one sum
 *     after the micro-batches' instead) keep the ranks' weights identical and end within
 *     REL_TOL of one process;
 *   - sharded data (each rank holds its part of the training and validation sets): identical
 *     weights after every step, the whole set's normalisation and validation metrics;
 *   - a batch that the ranks cannot share evenly is refused.
 * Prints one line per check on rank 0; the exit code of every rank is the result.
 */
#include "cnn_mpi.h"
#include "testlib.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define REL_TOL 1e-5

static int rank, size;

static uint64_t fnv(const void *p, size_t n, uint64_t h) {
    const unsigned char *b = p;
    for (size_t i = 0; i < n; i++) h = (h ^ b[i]) * 1099511628211ULL;
    return h;
}

typedef struct watch {
    cnn_net *net;
    int steps, differ;
} watch;

/* After each step: every rank's hash of its parameters and state, gathered and compared. */
static int after_step(void *user, const cnn_train_progress *p) {
    watch *w = user;
    uint64_t h = fnv(cnn_net_params(w->net), cnn_net_param_count(w->net) * sizeof(float),
                     1469598103934665603ULL);
    h = fnv(cnn_net_state(w->net), cnn_net_state_count(w->net) * sizeof(float), h);
    uint64_t all[64];
    MPI_Allgather(&h, 1, MPI_UINT64_T, all, 1, MPI_UINT64_T, MPI_COMM_WORLD);
    for (int r = 1; r < size && r < 64; r++) w->differ += all[r] != all[0];
    w->steps++;
    return 0;
}

static cnn_train_config config(void) {
    cnn_train_config cfg = cnn_train_defaults();
    cfg.epochs = 1;
    cfg.batch = 16;
    cfg.threads = 1;
    cfg.seed = 5;
    cfg.augment.crop_pad = 1;
    cfg.optim = cnn_optim_defaults(CNN_OPTIM_SGD, 0.05f);
    cfg.optim.momentum = 0.9f;
    cfg.schedule = CNN_SCHEDULE_CONSTANT;
    return cfg;
}

/* Trains spec for one epoch of 20 steps: with comm, data parallel; returns the parameters. */
static size_t bucket_bytes = 0;
static int micro_batch = 0;
static float mix = 0; /* mixup and CutMix's alpha (0: off) */

static float *train(const char *spec, const cnn_train_comm *comm, int sync_bn,
                    const cnn_dataset *tr, size_t *n, int *differ, int *steps) {
    cnn_net *net = t_net(spec, 3);
    cnn_train_config cfg = config();
    watch w = {.net = net};
    cfg.comm = comm;
    cfg.sync_bn = sync_bn;
    cfg.bucket_bytes = bucket_bytes;
    cfg.micro_batch = micro_batch;
    cfg.mixup = cfg.cutmix = mix;
    if (comm) {
        cfg.on_step = after_step;
        cfg.user = &w;
    }
    cnn_trainer *t = NULL;
    char err[1024];
    float *p = NULL;
    if (T_CHECK(cnn_trainer_new(net, tr, NULL, &cfg, &t, err, sizeof err) == 0, "new: %s", err) &&
        T_CHECK(cnn_trainer_run(t) == 0, "run: %s", cnn_trainer_last_error(t))) {
        *n = cnn_net_param_count(net);
        p = malloc(*n * sizeof *p);
        memcpy(p, cnn_net_params(net), *n * sizeof *p);
    }
    if (differ) *differ = w.differ;
    if (steps) *steps = w.steps;
    cnn_trainer_free(t);
    cnn_net_free(net);
    return p;
}

static void compare(const char *what, const char *spec, const cnn_train_comm *comm, int sync_bn,
                    const cnn_dataset *tr, int with_single) {
    size_t n = 0, m = 0;
    int differ = 0, steps = 0;
    float *dp = train(spec, comm, sync_bn, tr, &n, &differ, &steps);
    T_CHECK(steps == 20 && differ == 0, "%s: %d of %d steps left ranks with different weights",
            what, differ, steps);
    if (rank == 0 && with_single) {
        float *one = train(spec, NULL, 0, tr, &m, NULL, NULL);
        double worst = 0, scale = 0;
        for (size_t k = 0; dp && one && k < n && m == n; k++) {
            worst = fmax(worst, fabs((double)dp[k] - one[k]));
            scale = fmax(scale, fabs((double)one[k]));
        }
        /* with_single 2: each rank's own batch norm statistics make another model: the
         * difference is shown, not bounded. */
        T_CHECK(dp && one && m == n && (with_single == 2 || worst <= REL_TOL * scale),
                "%s: %d ranks vs one process after 20 steps: max difference %.3g (%.3g of the "
                "largest weight, tolerance %g)", what, size, worst, worst / scale, REL_TOL);
        printf("  %-34s %d ranks vs 1 process after 20 steps: max |diff| %.3g (%.2g relative)\n",
               what, size, worst, worst / scale);
        free(one);
    } else if (rank == 0) {
        printf("  %-34s %d ranks: identical weights after each of %d steps\n", what, size, steps);
    }
    free(dp);
}

/* Sharded data: each rank holds shard `rank` of the training set and of the validation set
 * held out of it. All ranks keep the same weights after every step; the normalisation is the
 * whole set's statistics; validation metrics are the whole validation set's (evaluated by
 * rank 0 alone with the same network). */
static void sharded(const cnn_train_comm *comm, const cnn_dataset *whole) {
    char err[1024];
    cnn_dataset *train = NULL, *val = NULL, *whole_train = NULL, *whole_val = NULL;
    cnn_shard sh = {rank, size};
    T_OK(NULL, cnn_dataset_shard(whole, sh, &train, err, sizeof err));
    T_OK(NULL, cnn_dataset_hold_out(train, 64, 9, &val, err, sizeof err));
    T_OK(NULL, cnn_dataset_split(whole, 64, 9, &whole_train, &whole_val, err, sizeof err));
    cnn_net *net = t_net("input x - shape=1x8x8; conv2d c1 x out=6 kernel=3 padding=1 bias=0;"
                         "batchnorm b1 -; relu r1 -; flatten f -; dense logits - out=4", 3);
    cnn_train_config cfg = config();
    watch w = {.net = net};
    cfg.comm = comm;
    cfg.on_step = after_step;
    cfg.user = &w;
    cnn_trainer *t = NULL;
    if (!T_CHECK(val && whole_val &&
                     cnn_trainer_new(net, train, val, &cfg, &t, err, sizeof err) == 0,
                 "sharded: new: %s", err) ||
        !T_CHECK(cnn_trainer_run(t) == 0, "sharded: run: %s", cnn_trainer_last_error(t)))
        goto done;
    /* 256 training samples: 16 steps of 16, or as many as the smallest shard fills. */
    int smallest = 0, whole_steps = whole_train ? whole_train->n / cfg.batch : 0;
    MPI_Allreduce(&train->n, &smallest, 1, MPI_INT, MPI_MIN, MPI_COMM_WORLD);
    int steps = smallest / (cfg.batch / size) < whole_steps ? smallest / (cfg.batch / size)
                                                             : whole_steps;
    T_CHECK(w.steps == steps && w.differ == 0,
            "sharded: %d of %d steps (expected %d) left ranks with different weights", w.differ,
            w.steps, steps);
    float mean, std;
    cnn_dataset_stats(whole_train, &mean, &std);
    const cnn_preprocess *p = cnn_net_preprocess(net);
    T_CHECK(fabsf(p->mean[0] - mean) <= 1e-6f * mean && fabsf(p->std[0] - std) <= 1e-6f * std,
            "sharded: normalised by mean %.9g std %.9g, the whole set's are %.9g %.9g",
            (double)p->mean[0], (double)p->std[0], (double)mean, (double)std);
    cnn_train_progress last = cnn_trainer_last(t);
    if (rank == 0) {
        cnn_metrics m;
        T_OK(net, cnn_evaluate_task(net, whole_val, &m));
        T_CHECK(m.n == 64 && last.val_accuracy == m.top1 && fabs(last.val_loss - m.loss) <= 1e-6 * m.loss,
                "sharded validation: accuracy %.6f loss %.9g, the whole set's %.6f %.9g",
                last.val_accuracy, last.val_loss, m.top1, m.loss);
        printf("  %-34s %d ranks: identical weights after each of %d steps; the whole set's "
               "mean/std and validation (%d samples, top-1 %.4f)\n",
               "sharded data", size, w.steps, m.n, m.top1);
        cnn_metrics_free(&m);
    }
done:
    cnn_trainer_free(t);
    cnn_net_free(net);
    cnn_dataset_free(train);
    cnn_dataset_free(val);
    cnn_dataset_free(whole_train);
    cnn_dataset_free(whole_val);
}

int main(int argc, char **argv) {
    int provided;
    MPI_Init_thread(&argc, &argv, MPI_THREAD_SERIALIZED, &provided);
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    MPI_Comm_size(MPI_COMM_WORLD, &size);
    cnn_train_comm comm;
    char err[512];
    if (cnn_mpi_comm(MPI_COMM_WORLD, &comm, err, sizeof err)) {
        fprintf(stderr, "rank %d: %s\n", rank, err);
        MPI_Abort(MPI_COMM_WORLD, 1);
    }
    cnn_dataset *tr = t_bars(320, 9);
    const char *lenet = "input x - shape=1x8x8; conv2d c1 x out=6 kernel=3 padding=1; relu r1 -;"
                        "max_pool2d p1 - kernel=2; conv2d c2 - out=8 kernel=3; relu r2 -;"
                        "flatten f -; dense d1 - out=16; relu r3 -; dense logits - out=4";
    compare("LeNet-like (no batch norm)", lenet, &comm, 0, tr, 1);
    micro_batch = 4;
    bucket_bytes = 256;
    compare("LeNet-like, micro-batches of 4", lenet, &comm, 0, tr, 1);
    micro_batch = 0;
    bucket_bytes = 0;
    mix = 0.5f; /* the pairs' shares depend on their places in the global batch, not the rank */
    compare("LeNet-like, mixup and CutMix", lenet, &comm, 0, tr, 1);
    mix = 0;
    const char *bn = "input x - shape=1x8x8; conv2d c1 x out=6 kernel=3 padding=1 bias=0;"
                     "batchnorm b1 -; relu r1 -; flatten f -; dense logits - out=4";
    compare("batch norm, each rank's statistics", bn, &comm, 0, tr, 2);
    compare("batch norm, sync_bn", bn, &comm, 1, tr, 1);
    /* Buckets of 256 bytes (a dozen per step, started during backward) against one sum. */
    if (size > 1) {
        const char *net = "input x - shape=1x8x8; conv2d c1 x out=6 kernel=3 padding=1; relu r1 -;"
                          "conv2d c2 - out=4 kernel=3; batchnorm b - ; flatten f -;"
                          "dense d1 - out=8; dense logits - out=4";
        size_t n1 = 0, n2 = 0;
        int differ = 0, steps = 0;
        T_CHECK(comm.start_sum && comm.wait_sums, "MPI_THREAD_SERIALIZED: sums on a thread");
        bucket_bytes = 0;
        float *one = train(net, &comm, 1, tr, &n1, NULL, NULL);
        bucket_bytes = 256;
        float *many = train(net, &comm, 1, tr, &n2, &differ, &steps);
        bucket_bytes = 0;
        T_CHECK(one && many && n1 == n2 && !memcmp(one, many, n1 * sizeof *one) && !differ,
                "buckets during backward: other weights than one sum after it");
        if (rank == 0) printf("  %-34s the same bits as one sum after backward\n", "256-byte buckets");
        free(one);
        free(many);
    }
    sharded(&comm, tr);
    /* A batch the ranks cannot share. */
    if (size > 1) {
        cnn_net *net = t_net("input x - shape=1x8x8; flatten f -; dense d - out=4", 1);
        cnn_train_config cfg = config();
        cfg.batch = 16 * size + 1;
        cfg.comm = &comm;
        cnn_trainer *t = NULL;
        T_CHECK(cnn_trainer_new(net, tr, NULL, &cfg, &t, err, sizeof err) != 0 &&
                    strstr(err, "the batch must be a multiple of the number of ranks"),
                "an uneven batch: %s", t ? "accepted" : err);
        cnn_trainer_free(t);
        cnn_net_free(net);
    }
    t_free_dataset(tr);
    cnn_mpi_comm_free(&comm);
    int failures = t_failures, all = 0;
    MPI_Allreduce(&failures, &all, 1, MPI_INT, MPI_SUM, MPI_COMM_WORLD);
    if (rank == 0) printf("rank 0: ");
    int status = t_finish();
    MPI_Finalize();
    return all ? 1 : status;
}

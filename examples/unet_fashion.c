/*
 * unet_fashion.c - semantic segmentation with a U-Net: on Fashion-MNIST, label every pixel as
 * garment (1) or background (0) and train the zoo's small_unet with per-pixel cross-entropy;
 * report the mean intersection-over-union of the two classes on the 10,000 test images.
 *
 *   build/examples/unet_fashion [EPOCHS] [THREADS]      (defaults 2 and 1)
 *
 * The mask is the garment's pixels: those brighter than 0.1 (Fashion-MNIST's backgrounds are
 * 0). Without the data set (Debian's dataset-fashion-mnist) the program says so and exits 0,
 * so that it can run as part of the examples anywhere.
 */
#include "cnn.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define DIR "/usr/share/datasets/fashion-mnist"
#define BATCH 32
#define PIX (28 * 28)

/* The garment masks of every sample of ds, read as floats (cnn_dataset_sample: the data set
 * keeps Fashion-MNIST's bytes). */
static void masks(const cnn_dataset *ds, int32_t *m) {
    float x[PIX];
    for (int i = 0; i < ds->n; i++) {
        cnn_dataset_sample(ds, i, x);
        for (int p = 0; p < PIX; p++) m[(size_t)i * PIX + p] = x[p] > 0.1f;
    }
}

static void fail(cnn_net *net, const char *what) {
    fprintf(stderr, "unet_fashion: %s: %s\n", what, net ? cnn_net_last_error(net) : "");
    exit(1);
}

int main(int argc, char **argv) {
    int epochs = argc > 1 ? atoi(argv[1]) : 2, threads = argc > 2 ? atoi(argv[2]) : 1;
    if (epochs < 1 || threads < 1) {
        fprintf(stderr, "usage: unet_fashion [EPOCHS] [THREADS]\n");
        return 2;
    }
    if (access(DIR, R_OK) != 0) {
        printf("unet_fashion: %s is missing (apt-get install dataset-fashion-mnist): skipped\n", DIR);
        return 0;
    }
    char err[1024];
    cnn_dataset *train = NULL, *test = NULL;
    if (cnn_dataset_load_mnist_dir(DIR, 1, &train, err, sizeof err) ||
        cnn_dataset_load_mnist_dir(DIR, 0, &test, err, sizeof err)) {
        fprintf(stderr, "unet_fashion: %s\n", err);
        return 1;
    }
    int32_t *mtrain = malloc((size_t)train->n * PIX * sizeof *mtrain);
    int32_t *mtest = malloc((size_t)test->n * PIX * sizeof *mtest);
    float *x = malloc((size_t)BATCH * PIX * sizeof *x);
    int32_t *y = malloc((size_t)BATCH * PIX * sizeof *y), *perm = malloc((size_t)train->n * sizeof *perm);
    if (!mtrain || !mtest || !x || !y || !perm) fail(NULL, "out of memory");
    masks(train, mtrain);
    masks(test, mtest);

    cnn_net *net = NULL;
    if (cnn_model_build("small_unet", 1, 28, 28, 2, 1, &net, err, sizeof err)) {
        fprintf(stderr, "unet_fashion: %s\n", err);
        return 1;
    }
    if (cnn_net_set_threads(net, threads) || cnn_net_prepare(net, BATCH)) fail(net, "prepare");
    cnn_optim_config cfg = cnn_optim_defaults(CNN_OPTIM_ADAM, 0.003f);
    cnn_optim *opt = cnn_optim_new(net, &cfg);
    if (!opt) fail(net, "optimiser");
    printf("small_unet: %zu parameters; %d training and %d test images, %d epochs\n",
           cnn_net_param_count(net), train->n, test->n, epochs);

    clock_t t0 = clock();
    for (int e = 0; e < epochs; e++) {
        cnn_permutation(train->n, 100 + (uint64_t)e, perm);
        cnn_net_set_training(net, 1);
        double sum = 0;
        int batches = train->n / BATCH;
        for (int b = 0; b < batches; b++) {
            for (int i = 0; i < BATCH; i++) {
                int k = perm[b * BATCH + i];
                cnn_dataset_sample(train, k, x + (size_t)i * PIX);
                memcpy(y + (size_t)i * PIX, mtrain + (size_t)k * PIX, PIX * sizeof *y);
            }
            float loss;
            cnn_net_zero_grad(net);
            if (cnn_net_forward(net, x, BATCH) || cnn_net_loss(net, CNN_LOSS_PIXEL_CE, y, &loss) ||
                cnn_net_backward(net) || cnn_optim_step(opt))
                fail(net, "training step");
            sum += loss;
        }
        printf("epoch %d: mean per-pixel cross-entropy %.4f\n", e + 1, sum / batches);
        fflush(stdout);
    }
    double secs = (double)(clock() - t0) / CLOCKS_PER_SEC;

    /* Mean IoU over the two classes, counted over all test pixels. */
    cnn_net_set_training(net, 0);
    long long inter[2] = {0, 0}, uni[2] = {0, 0};
    for (int start = 0; start < test->n; start += BATCH) {
        int count = test->n - start < BATCH ? test->n - start : BATCH;
        for (int i = 0; i < count; i++) cnn_dataset_sample(test, start + i, x + (size_t)i * PIX);
        if (cnn_net_forward(net, x, count)) fail(net, "forward");
        const float *z = cnn_net_output(net);
        for (int i = 0; i < count; i++)
            for (int p = 0; p < PIX; p++) {
                int pred = z[(size_t)i * 2 * PIX + PIX + p] > z[(size_t)i * 2 * PIX + p];
                int truth = mtest[(size_t)(start + i) * PIX + p];
                for (int c = 0; c < 2; c++) {
                    inter[c] += pred == c && truth == c;
                    uni[c] += pred == c || truth == c;
                }
            }
    }
    double iou0 = (double)inter[0] / uni[0], iou1 = (double)inter[1] / uni[1];
    printf("test IoU: background %.4f, garment %.4f, mean %.4f (training %.0f s of CPU time)\n",
           iou0, iou1, (iou0 + iou1) / 2, secs);
    cnn_optim_free(opt);
    cnn_net_free(net);
    cnn_dataset_free(train);
    cnn_dataset_free(test);
    free(mtrain);
    free(mtest);
    free(x);
    free(y);
    free(perm);
    return (iou0 + iou1) / 2 >= 0.9 ? 0 : 1;
}

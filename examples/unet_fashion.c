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
#include <unistd.h>

#define DIR "/usr/share/datasets/fashion-mnist"
#define PIX (28 * 28)

/* Turns a Fashion-MNIST set into a segmentation set: masks of the garment's pixels (those
 * brighter than 0.1, read as floats through cnn_dataset_sample), two classes. */
static int to_masks(cnn_dataset *ds, char *err, size_t errlen) {
    static const char *const names[] = {"background", "garment"};
    float x[PIX];
    if (!(ds->masks = malloc((size_t)ds->n * PIX * sizeof *ds->masks)))
        return snprintf(err, errlen, "out of memory"), 1;
    for (int i = 0; i < ds->n; i++) {
        cnn_dataset_sample(ds, i, x);
        for (int p = 0; p < PIX; p++) ds->masks[(size_t)i * PIX + p] = x[p] > 0.1f;
    }
    return cnn_dataset_set_classes(ds, 2, names, err, errlen) != CNN_STATUS_OK;
}

static int on_epoch(void *user, const cnn_train_progress *p) {
    (void)user;
    printf("epoch %d: mean per-pixel cross-entropy %.4f, pixel accuracy %.2f%%, %.0f img/s\n",
           p->epoch, p->loss, 100 * p->accuracy, p->images_per_sec);
    fflush(stdout);
    return 0;
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
    cnn_net *net = NULL;
    cnn_trainer *tr = NULL;
    cnn_train_config cfg = cnn_train_defaults();
    cfg.loss = CNN_LOSS_PIXEL_CE;
    cfg.optim = cnn_optim_defaults(CNN_OPTIM_ADAM, 0.003f);
    cfg.schedule = CNN_SCHEDULE_CONSTANT;
    cfg.augment = (cnn_augment){.hflip = 0.5f}; /* the masks flip with the images */
    cfg.batch = 32;
    cfg.epochs = epochs;
    cfg.threads = threads;
    cfg.on_epoch = on_epoch;
    if (cnn_dataset_load_mnist_dir(DIR, 1, &train, err, sizeof err) ||
        cnn_dataset_load_mnist_dir(DIR, 0, &test, err, sizeof err) ||
        to_masks(train, err, sizeof err) || to_masks(test, err, sizeof err) ||
        cnn_model_build("small_unet", 1, 28, 28, 2, 1, &net, err, sizeof err) ||
        cnn_trainer_new(net, train, NULL, &cfg, &tr, err, sizeof err) || cnn_trainer_run(tr)) {
        fprintf(stderr, "unet_fashion: %s\n", tr ? cnn_trainer_last_error(tr) : err);
        return 1;
    }
    printf("small_unet: %zu parameters; %d training and %d test images, %d epochs\n",
           cnn_net_param_count(net), train->n, test->n, epochs);
    cnn_metrics m;
    if (cnn_evaluate_task(net, test, &m)) {
        fprintf(stderr, "unet_fashion: %s\n", cnn_net_last_error(net));
        return 1;
    }
    int64_t *c = m.confusion; /* [true][predicted] pixels */
    double iou0 = (double)c[0] / (double)(c[0] + c[1] + c[2]);
    double iou1 = (double)c[3] / (double)(c[3] + c[1] + c[2]);
    printf("test IoU: background %.4f, garment %.4f, mean %.4f\n", iou0, iou1, m.iou);
    int ok = m.iou >= 0.9;
    cnn_metrics_free(&m);
    cnn_trainer_free(tr);
    cnn_net_free(net);
    cnn_dataset_free(train);
    cnn_dataset_free(test);
    return ok ? 0 : 1;
}

/* train_lenet5.c - LeNet-5 on Fashion-MNIST with the trainer: train_lenet5 [EPOCHS [OUT]] */
#include "cnn.h"

#include <stdio.h>
#include <stdlib.h>

int main(int argc, char **argv) {
    char err[1024];
    cnn_dataset *train, *val;
    cnn_net *net;
    cnn_trainer *tr = NULL;
    cnn_train_config cfg = cnn_train_defaults(); /* AdamW, cosine schedule, flips */
    cfg.epochs = argc > 1 ? atoi(argv[1]) : 10;
    cfg.checkpoint = argc > 2 ? argv[2] : "lenet5.ckpt";
    if (cnn_dataset_load_mnist_dir("/usr/share/datasets/fashion-mnist", 1, &train, err, sizeof err) ||
        cnn_dataset_hold_out(train, 5000, 1, &val, err, sizeof err) ||
        cnn_model_build("lenet5", 1, 28, 28, 10, 1, &net, err, sizeof err) ||
        cnn_trainer_new(net, train, val, &cfg, &tr, err, sizeof err) || cnn_trainer_run(tr))
        return fprintf(stderr, "%s\n", tr ? cnn_trainer_last_error(tr) : err), 1;
    printf("validation accuracy %.2f%%\n", 100 * cnn_trainer_last(tr).val_accuracy);
    cnn_trainer_free(tr);
    cnn_net_free(net);
    cnn_dataset_free(train);
    cnn_dataset_free(val);
    return 0;
}

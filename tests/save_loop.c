/*
 * save_loop.c - saves one checkpoint over and over, for tests/test_kill_saves.sh, which kills
 * it with SIGKILL at random moments and checks that the checkpoint always loads.
 *
 *   save_loop PATH MB [COUNT]
 *
 * The network is a dense layer of about MB megabytes of parameters with an Adam optimiser
 * (whose state doubles what a save writes), so that nearly all of the program's time is spent
 * inside cnn_checkpoint_save. Each save changes the parameters a little (a save is not a copy
 * of the last one) and ends with the line "saved N" on stdout. COUNT saves, or forever.
 */
#include "cnn.h"

#include <stdio.h>
#include <stdlib.h>

int main(int argc, char **argv) {
    if (argc < 3) {
        fprintf(stderr, "usage: save_loop PATH MB [COUNT]\n");
        return 2;
    }
    const char *path = argv[1];
    long mb = strtol(argv[2], NULL, 10), count = argc > 3 ? strtol(argv[3], NULL, 10) : 0;
    if (mb < 1 || mb > 1024 || count < 0) {
        fprintf(stderr, "save_loop: MB from 1 to 1024, COUNT from 0 (forever)\n");
        return 2;
    }
    /* 512 inputs, OUT outputs: 2 KB of weights per output. */
    char def[128], err[1024];
    snprintf(def, sizeof def, "x = input shape=512\nd = dense out=%ld\n", mb * 512);
    cnn_net *net = NULL;
    if (cnn_net_from_text(def, "save_loop", 1, &net, err, sizeof err)) {
        fprintf(stderr, "save_loop: %s\n", err);
        return 1;
    }
    cnn_optim_config cfg = cnn_optim_defaults(CNN_OPTIM_ADAM, 0.001f);
    cnn_optim *opt = cnn_optim_new(net, &cfg);
    if (!opt) {
        fprintf(stderr, "save_loop: %s\n", cnn_net_last_error(net));
        return 1;
    }
    float *w = cnn_net_params(net);
    for (long n = 1; count == 0 || n <= count; n++) {
        w[n % (long)cnn_net_param_count(net)] += 1.0f;
        if (cnn_checkpoint_save(path, net, opt, "save_loop=1\n", err, sizeof err)) {
            fprintf(stderr, "save_loop: %s\n", err);
            return 1;
        }
        printf("saved %ld\n", n);
        fflush(stdout);
    }
    cnn_optim_free(opt);
    cnn_net_free(net);
    return 0;
}

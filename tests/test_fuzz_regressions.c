/*
 * test_fuzz_regressions.c - the file readers' fuzz targets, replayed: every input of
 * fuzz/regressions/{checkpoint,idx,cifar,plan} (what the fuzzer found, fixed since) and of
 * their seed corpora fuzz/corpus/{checkpoint,idx,cifar,plan} goes through the target's own checks (the
 * fuzz files are included here), which abort on any broken promise, in a child process whose
 * peak memory must stay under the fuzzer's limit for one allocation; under the sanitizers
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
#include "../fuzz/fuzz_plan.c"
#include "testlib.h"

#include <dirent.h>

typedef int (*target_fn)(const uint8_t *data, size_t size);

/* One input for a child: the target and the bytes. */
typedef struct replay_job {
    target_fn fn;
    const uint8_t *bytes;
    size_t n;
} replay_job;

/* In the child: 0 when the input was read, 1 when refused (a broken promise aborts). */
static int replay_one(const void *arg) {
    const replay_job *j = arg;
    return j->fn(j->bytes, j->n) ? 0 : 1;
}

/* Replays every file of folder through fn, each in a child process whose peak memory must
 * stay under limit_mb (what the fuzzer allows one allocation: a regression of a small file
 * that costs gigabytes fails here too). Returns how many files, and how many were read in
 * *read. */
static int replay(const char *folder, target_fn fn, double limit_mb, int *read) {
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
        replay_job job = {fn, bytes, n};
        double peak = 0, base = 0;
        int r = t_in_child(replay_one, &job, 60, &peak, &base);
        printf("  %s (%zu bytes): %s, peak %.1f MB\n", path, n,
               r == 0 ? "read" : r == 1 ? "refused" : "CRASHED", peak);
        T_CHECK(r == 0 || r == 1, "%s: the target's checks failed (see above)", path);
        T_CHECK(peak < t_peak_limit(limit_mb, base), "%s: peak %.1f MB", path, peak);
        *read += r == 0;
        files++;
    }
    closedir(d);
    return files;
}

static void target(const char *name, target_fn fn, double limit_mb) {
    char folder[64];
    int read = 0;
    snprintf(folder, sizeof folder, "fuzz/corpus/%s", name);
    int seeds = replay(folder, fn, limit_mb, &read);
    T_CHECK(seeds > 0 && read == seeds, "%s: %d of %d seeds read", name, read, seeds);
    snprintf(folder, sizeof folder, "fuzz/regressions/%s", name);
    int found = replay(folder, fn, limit_mb, &read);
    printf("%s: %d seeds read, %d regressions replayed (%d of them read)\n", name, seeds, found,
           read);
}

int main(void) {
    /* The targets' private folder, made here so that the children (which end with _exit)
     * share it and this process removes it at exit. */
    fuzz_path(0, "start");
    /* The limits of the Makefile's FUZZ_MALLOC_MB_NAME. */
    target("checkpoint", fuzz_checkpoint, 64);
    target("idx", fuzz_idx, 256);
    target("cifar", fuzz_cifar, 64);
    target("plan", fuzz_plan, 64);
    return t_finish();
}

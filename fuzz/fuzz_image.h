/*
 * fuzz_image.h - the body of the libFuzzer targets for the image decoders, fuzz_png.c and
 * fuzz_jpeg.c (src/data/decode.c, through cnn_image_size and cnn_image_load). The two differ
 * by their seed corpus, fuzz/corpus/png or fuzz/corpus/jpeg (written by
 * `build/tests/test_images --corpus fuzz/corpus`: the test's good and hostile files).
 *
 * Each input is written to a memory file (memfd) and read through its /proc/self/fd path, as
 * a file on disk is. It must either be refused with a message that starts with that path, or
 * have a size of 1 or 3 channels and positive sides within the pixel limit and load to floats
 * in [0, 1]; a file that loads must also give its size. Anything else - a crash, a sanitizer
 * report, a leak, an abort below - is a bug.
 *
 * The pixel limit is set to a megapixel (CNN_MAX_IMAGE_PIXELS=1048576): a bigger image only
 * takes longer to decode, it reaches no other code, and the limit itself is reached anyway.
 */
#define _GNU_SOURCE
#include "cnn.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#define FUZZ_MAX_PIXELS 1048576

static int memfd = -1;
static char path[64];

int LLVMFuzzerInitialize(int *argc, char ***argv) {
    (void)argc;
    (void)argv;
    setenv("CNN_MAX_IMAGE_PIXELS", "1048576", 1);
    memfd = memfd_create("fuzz-image", 0);
    if (memfd < 0) {
        perror("memfd_create");
        abort();
    }
    snprintf(path, sizeof path, "/proc/self/fd/%d", memfd);
    return 0;
}

/* A refusal names the file first: "PATH: ...". */
static void check_refusal(const char *what, const char *err) {
    size_t n = strlen(path);
    if (strncmp(err, path, n) != 0 || err[n] != ':') {
        fprintf(stderr, "%s: a refusal without the file's name: '%s'\n", what, err);
        abort();
    }
}

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size) {
    if (ftruncate(memfd, 0) != 0 || pwrite(memfd, data, size, 0) != (ssize_t)size) abort();
    char err[1024] = "";
    int c = 0, h = 0, w = 0;
    cnn_status size_st = cnn_image_size(path, &c, &h, &w, err, sizeof err);
    if (size_st != CNN_STATUS_OK) check_refusal("cnn_image_size", err);
    else if ((c != 1 && c != 3) || h < 1 || w < 1 || (double)h * w > FUZZ_MAX_PIXELS) abort();
    /* Grey or colour, as the last byte says; an odd size, so that the resize works too. */
    enum { H = 5, W = 7 };
    int channels = size && (data[size - 1] & 1) ? 1 : 3;
    float x[3 * H * W];
    err[0] = 0;
    if (cnn_image_load(path, channels, H, W, x, err, sizeof err) != CNN_STATUS_OK) {
        check_refusal("cnn_image_load", err);
        return 0;
    }
    if (size_st != CNN_STATUS_OK) {
        fprintf(stderr, "cnn_image_load read a file whose size cnn_image_size refused\n");
        abort();
    }
    for (int k = 0; k < channels * H * W; k++)
        if (!(x[k] >= 0.0f && x[k] <= 1.0f)) {
            fprintf(stderr, "pixel %d is %.9g, not in [0, 1]\n", k, x[k]);
            abort();
        }
    return 0;
}

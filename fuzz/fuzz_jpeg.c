/*
 * fuzz_jpeg.c - libFuzzer target for the JPEG decoder (libjpeg-turbo through
 * src/data/decode.c), seeded with fuzz/corpus/jpeg; the checks are in fuzz_image.h.
 *
 *   make fuzz FUZZ_TARGET=jpeg     builds build-fuzz/fuzz_jpeg and runs it (FUZZ_SECONDS)
 */
#include "fuzz_image.h"

/*
 * fuzz_png.c - libFuzzer target for the PNG decoder (libpng through src/data/decode.c),
 * seeded with fuzz/corpus/png; the checks are in fuzz_image.h.
 *
 *   make fuzz FUZZ_TARGET=png      builds build-fuzz/fuzz_png and runs it (FUZZ_SECONDS)
 */
#include "fuzz_image.h"

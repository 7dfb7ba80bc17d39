/*
 * test_npy.c - .npy files: arrays written by NumPy (tests/ref/npy/, made by make_npy.py) read
 * back exactly; what cnn writes is byte for byte what NumPy writes; other types, Fortran order,
 * big-endian values, truncated or padded data and foreign files are refused with a message.
 */
#include "testlib.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static char dir[] = "/tmp/cnn_npy_XXXXXX";

static unsigned char *slurp(const char *path, size_t *n) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    unsigned char *d = malloc(1 << 16);
    *n = fread(d, 1, 1 << 16, f);
    fclose(f);
    return d;
}

static void refused(const char *path, const char *frag) {
    cnn_array a;
    char err[512] = "";
    T_CHECK(cnn_npy_read(path, &a, err, sizeof err) != 0 && a.data == NULL && strstr(err, frag) &&
                strstr(err, path),
            "%s refused with '%s': %s", path, frag, err);
}

int main(void) {
    if (!mkdtemp(dir)) return 1;
    char err[512], path[4200];
    cnn_array a;
    T_CHECK(cnn_npy_read("tests/ref/npy/a234.npy", &a, err, sizeof err) == 0, "%s", err);
    T_CHECK(a.ndim == 3 && a.dims[0] == 2 && a.dims[1] == 3 && a.dims[2] == 4, "shape (2, 3, 4)");
    int exact = 1;
    for (int i = 0; a.data && i < 24; i++) exact &= a.data[i] == (float)i / 8 - 1;
    T_CHECK(exact, "values arange(24) / 8 - 1");
    /* Written back: the same bytes as NumPy's file. */
    snprintf(path, sizeof path, "%s/back.npy", dir);
    T_CHECK(cnn_npy_write(path, &a, err, sizeof err) == 0, "%s", err);
    size_t n1 = 0, n2 = 0;
    unsigned char *ours = slurp(path, &n1), *theirs = slurp("tests/ref/npy/a234.npy", &n2);
    T_CHECK(ours && theirs && n1 == n2 && !memcmp(ours, theirs, n1), "written as NumPy writes");
    free(ours);
    free(theirs);
    cnn_array_free(&a);
    T_CHECK(cnn_npy_read("tests/ref/npy/scalar.npy", &a, err, sizeof err) == 0 && a.ndim == 0 &&
                a.data[0] == 3.5f, "a 0-d array: %s", err);
    cnn_array_free(&a);
    /* One dimension, "(5,)" as Python writes it, round trip. */
    float v[5] = {1, -2, 3.25f, 0, 1e-30f};
    cnn_array w = {.ndim = 1, .dims = {5}, .data = v};
    snprintf(path, sizeof path, "%s/v.npy", dir);
    T_CHECK(cnn_npy_write(path, &w, err, sizeof err) == 0 &&
                cnn_npy_read(path, &a, err, sizeof err) == 0 && a.ndim == 1 && a.dims[0] == 5 &&
                !memcmp(a.data, v, sizeof v), "1-D round trip: %s", err);
    ours = slurp(path, &n1);
    T_CHECK(ours && n1 == 128 + 20 && !memcmp(ours + 60, "(5,)", 4), "1-D header as NumPy's");
    free(ours);
    cnn_array_free(&a);
    refused("tests/ref/npy/f64.npy", "float32");
    refused("tests/ref/npy/fortran.npy", "Fortran");
    refused("tests/ref/npy/big_endian.npy", "little-endian");
    refused("tests/ref/npy/missing.npy", "cannot open");
    refused("tests/ref/README.md", "magic");
    /* The data must be exactly what the shape gives: one value short, one too many. */
    size_t n = 0;
    unsigned char *d = slurp("tests/ref/npy/a234.npy", &n);
    snprintf(path, sizeof path, "%s/short.npy", dir);
    FILE *f = fopen(path, "wb");
    fwrite(d, 1, n - 4, f);
    fclose(f);
    refused(path, "the shape gives 96 bytes of data, the file holds 92");
    snprintf(path, sizeof path, "%s/long.npy", dir);
    f = fopen(path, "wb");
    fwrite(d, 1, n, f);
    fwrite(d, 1, 4, f);
    fclose(f);
    refused(path, "holds 100");
    /* A shape that claims far more than the file: refused before allocating. */
    memcpy(d + 60, "(99999999, 99999999, 4)", 23);
    snprintf(path, sizeof path, "%s/huge.npy", dir);
    f = fopen(path, "wb");
    fwrite(d, 1, n, f);
    fclose(f);
    refused(path, "the shape gives");
    free(d);
    t_remove_tree(dir);
    return t_finish();
}

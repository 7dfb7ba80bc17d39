/*
 * test_data.c - the data set loaders on small files written here into a temporary folder:
 * IDX plain and gzipped (zlib), CIFAR-10 batches, folders of PNG and JPEG images (written with
 * stb_image_write). Values and labels read back exactly; every damaged file (truncated, bad
 * magic, counts that disagree, a label out of range, a wrong size, an undecodable image) gives
 * a non-OK status and a message that names the file. 8-bit files load as bytes (pixels) and
 * read back through cnn_dataset_sample and cnn_dataset_batch as exactly byte / 255.0f, the bits
 * the loaders stored as floats before; image folders load as floats. Then the split is a seeded
 * partition (copying, or moving with cnn_dataset_hold_out, which gives the same parts), the
 * statistics are right and the same for bytes as for the equivalent floats, and resizing
 * matches PIL and PyTorch.
 *
 * When /usr/share/datasets/fashion-mnist holds Fashion-MNIST, its two parts are loaded and
 * checked too; otherwise that part is skipped with a note.
 */
#include "testlib.h"

#include <dirent.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include <stb/stb_image_write.h>

#define FASHION_DIR "/usr/share/datasets/fashion-mnist"

/* Writes an IDX file: big-endian magic and sizes, then the data; gzipped when gz. */
static void write_idx(const char *path, int gz, uint32_t magic, const uint32_t *dims, int ndim,
                      const unsigned char *data, size_t n) {
    unsigned char head[16];
    size_t hn = 4 + 4 * (size_t)ndim;
    uint32_t words[4] = {magic, dims[0], ndim > 1 ? dims[1] : 0, ndim > 2 ? dims[2] : 0};
    for (int i = 0; i <= ndim; i++)
        for (int b = 0; b < 4; b++) head[4 * i + b] = (unsigned char)(words[i] >> (24 - 8 * b));
    if (!gz) {
        unsigned char *all = malloc(hn + n + 1);
        memcpy(all, head, hn);
        if (n) memcpy(all + hn, data, n);
        t_write_bytes(path, all, hn + n);
        free(all);
        return;
    }
    gzFile f = gzopen(path, "wb");
    if (!f || gzwrite(f, head, (unsigned)hn) != (int)hn ||
        (n && gzwrite(f, data, (unsigned)n) != (int)n) || gzclose(f) != Z_OK) {
        fprintf(stderr, "cannot write %s\n", path);
        exit(2);
    }
}

/* The status is not OK and the message holds every fragment given. */
static void expect_fail(cnn_status st, const char *err, const char *what, const char *frag1,
                        const char *frag2) {
    T_CHECK(st != CNN_STATUS_OK, "%s: accepted", what);
    T_CHECK(!frag1 || strstr(err, frag1), "%s: message '%s' lacks '%s'", what, err,
            frag1 ? frag1 : "");
    T_CHECK(!frag2 || strstr(err, frag2), "%s: message '%s' lacks '%s'", what, err,
            frag2 ? frag2 : "");
    printf("  ok %s: [%s] %s\n", what, cnn_status_str(st), err);
}

/* ---------------------------------------------------------------------------------------------
 * IDX
 * ------------------------------------------------------------------------------------------- */

enum { IDX_N = 6, IDX_H = 3, IDX_W = 4 };
static unsigned char idx_pixels[IDX_N * IDX_H * IDX_W];
static const unsigned char idx_labels[IDX_N] = {0, 3, 9, 1, 7, 5};

/* ds holds the bytes bytes[0 .. ds->n * numel) as pixels, not floats, and reads back as the
 * floats byte / 255.0f bit for bit, one sample at a time (cnn_dataset_sample) and in a batch
 * (cnn_dataset_batch, in reverse order, with the labels). */
static void check_bytes(const cnn_dataset *ds, const unsigned char *bytes, const char *what) {
    if (!T_CHECK(ds->pixels != NULL && ds->x == NULL, "%s: not stored as bytes", what)) return;
    size_t numel = cnn_shape_numel(&ds->shape), total = (size_t)ds->n * numel;
    T_CHECK(!memcmp(ds->pixels, bytes, total), "%s: stored bytes differ from the file's", what);
    float *want = malloc(total * sizeof *want), *got = malloc(total * sizeof *got);
    float *batch = malloc(total * sizeof *batch), *scratch = malloc(2 * numel * sizeof *scratch);
    int32_t *idx = malloc((size_t)ds->n * sizeof *idx), *y = malloc((size_t)ds->n * sizeof *y);
    for (size_t k = 0; k < total; k++) want[k] = bytes[k] / 255.0f;
    for (int i = 0; i < ds->n; i++) {
        cnn_dataset_sample(ds, i, got + (size_t)i * numel);
        idx[i] = ds->n - 1 - i;
    }
    char name[160];
    snprintf(name, sizeof name, "%s: cnn_dataset_sample against byte / 255.0f", what);
    t_same_bits(name, got, want, total);
    cnn_dataset_batch(ds, idx, ds->n, NULL, 0, NULL, NULL, batch, y, scratch);
    int ok = 1;
    for (int i = 0; i < ds->n; i++) {
        ok &= !memcmp(batch + (size_t)i * numel, want + (size_t)idx[i] * numel,
                      numel * sizeof(float));
        ok &= y[i] == ds->y[idx[i]];
    }
    T_CHECK(ok, "%s: cnn_dataset_batch differs from byte / 255.0f or the labels", what);
    free(want);
    free(got);
    free(batch);
    free(scratch);
    free(idx);
    free(y);
}

/* Checks ds against the pixels and labels written. */
static void check_idx(const cnn_dataset *ds, const unsigned char *labels, const char *what) {
    if (!T_CHECK(ds != NULL, "%s: no data set", what)) return;
    T_CHECK(ds->n == IDX_N && ds->shape.rank == 3 && ds->shape.dim[0] == 1 &&
                ds->shape.dim[1] == IDX_H && ds->shape.dim[2] == IDX_W,
            "%s: n %d shape %dx%dx%d", what, ds->n, ds->shape.dim[0], ds->shape.dim[1],
            ds->shape.dim[2]);
    if (ds->n == IDX_N) check_bytes(ds, idx_pixels, what);
    int ok = 1;
    for (int i = 0; i < IDX_N; i++) ok &= ds->y[i] == labels[i];
    T_CHECK(ok, "%s: labels differ", what);
}

static void test_idx(void) {
    for (int k = 0; k < IDX_N * IDX_H * IDX_W; k++) idx_pixels[k] = (unsigned char)(k * 37 + 11);
    idx_pixels[5] = 0;
    idx_pixels[6] = 255;
    uint32_t idims[3] = {IDX_N, IDX_H, IDX_W}, ldims[1] = {IDX_N};
    size_t np = sizeof idx_pixels;
    write_idx(t_at("img.idx"), 0, 0x803, idims, 3, idx_pixels, np);
    write_idx(t_at("lab.idx"), 0, 0x801, ldims, 1, idx_labels, IDX_N);
    write_idx(t_at("img.idx.gz"), 1, 0x803, idims, 3, idx_pixels, np);
    write_idx(t_at("lab.idx.gz"), 1, 0x801, ldims, 1, idx_labels, IDX_N);

    char err[512] = "";
    cnn_dataset *ds = NULL;
    T_OK(NULL, cnn_dataset_load_idx(t_at("img.idx"), t_at("lab.idx"), &ds, err, sizeof err));
    check_idx(ds, idx_labels, "plain IDX");
    T_CHECK(ds && ds->classes == 10 && !strcmp(ds->class_names[0], "0") &&
                !strcmp(ds->class_names[9], "9"),
            "plain IDX: classes %d", ds ? ds->classes : -1);
    cnn_dataset_free(ds);
    ds = NULL;
    T_OK(NULL, cnn_dataset_load_idx(t_at("img.idx.gz"), t_at("lab.idx.gz"), &ds, err, sizeof err));
    check_idx(ds, idx_labels, "gzipped IDX");
    cnn_dataset_free(ds);

    /* Labels beyond 9: classes follows the labels. */
    const unsigned char big[IDX_N] = {0, 12, 3, 4, 5, 6};
    write_idx(t_at("lab12.idx"), 0, 0x801, ldims, 1, big, IDX_N);
    ds = NULL;
    T_OK(NULL, cnn_dataset_load_idx(t_at("img.idx"), t_at("lab12.idx"), &ds, err, sizeof err));
    check_idx(ds, big, "IDX with label 12");
    T_CHECK(ds && ds->classes == 13 && !strcmp(ds->class_names[12], "12"),
            "IDX with label 12: classes %d", ds ? ds->classes : -1);
    cnn_dataset_free(ds);

    /* Damaged files. */
    cnn_status st;
    write_idx(t_at("short.idx"), 0, 0x803, idims, 3, idx_pixels, np - 7);
    ds = (cnn_dataset *)1;
    st = cnn_dataset_load_idx(t_at("short.idx"), t_at("lab.idx"), &ds, err, sizeof err);
    expect_fail(st, err, "truncated images", "short.idx", "truncated");
    T_CHECK(ds == NULL, "a failed load left *out set");
    write_idx(t_at("short.idx.gz"), 1, 0x803, idims, 3, idx_pixels, np - 7);
    st = cnn_dataset_load_idx(t_at("short.idx.gz"), t_at("lab.idx.gz"), &ds, err, sizeof err);
    expect_fail(st, err, "truncated gzipped images", "short.idx.gz", "truncated");
    write_idx(t_at("lshort.idx"), 0, 0x801, ldims, 1, idx_labels, IDX_N - 1);
    st = cnn_dataset_load_idx(t_at("img.idx"), t_at("lshort.idx"), &ds, err, sizeof err);
    expect_fail(st, err, "truncated labels", "lshort.idx", "truncated");
    t_write_bytes(t_at("head.idx"), "\0\0\x08\x03\0\0", 6);
    st = cnn_dataset_load_idx(t_at("head.idx"), t_at("lab.idx"), &ds, err, sizeof err);
    expect_fail(st, err, "truncated header", "head.idx", "header");

    /* A gzip stream cut in the middle: zlib's reason is part of the message. */
    FILE *f = fopen(t_at("img.idx.gz"), "rb");
    unsigned char gzbuf[4096];
    size_t gzn = f ? fread(gzbuf, 1, sizeof gzbuf, f) : 0;
    if (f) fclose(f);
    t_write_bytes(t_at("cut.idx.gz"), gzbuf, gzn - 12);
    st = cnn_dataset_load_idx(t_at("cut.idx.gz"), t_at("lab.idx.gz"), &ds, err, sizeof err);
    expect_fail(st, err, "cut gzip stream", "cut.idx.gz", "gzip");

    /* A wrong CRC in the gzip trailer: the data is all there, the check fails at its end. */
    f = fopen(t_at("lab.idx.gz"), "rb");
    gzn = f ? fread(gzbuf, 1, sizeof gzbuf, f) : 0;
    if (f) fclose(f);
    gzbuf[gzn - 8] ^= 0x55;
    t_write_bytes(t_at("crc.idx.gz"), gzbuf, gzn);
    st = cnn_dataset_load_idx(t_at("img.idx.gz"), t_at("crc.idx.gz"), &ds, err, sizeof err);
    expect_fail(st, err, "gzip CRC error", "crc.idx.gz", "gzip");

    write_idx(t_at("magic.idx"), 0, 0x801, idims, 3, idx_pixels, np);
    st = cnn_dataset_load_idx(t_at("magic.idx"), t_at("lab.idx"), &ds, err, sizeof err);
    expect_fail(st, err, "bad image magic", "magic.idx", "magic");
    st = cnn_dataset_load_idx(t_at("img.idx"), t_at("img.idx"), &ds, err, sizeof err);
    expect_fail(st, err, "images given as labels", "img.idx", "magic");
    write_idx(t_at("lmagic.idx"), 0, 0x803, ldims, 1, idx_labels, IDX_N);
    st = cnn_dataset_load_idx(t_at("img.idx"), t_at("lmagic.idx"), &ds, err, sizeof err);
    expect_fail(st, err, "bad label magic", "lmagic.idx", "magic");

    uint32_t l5[1] = {IDX_N - 1};
    write_idx(t_at("lab5.idx"), 0, 0x801, l5, 1, idx_labels, IDX_N - 1);
    st = cnn_dataset_load_idx(t_at("img.idx"), t_at("lab5.idx"), &ds, err, sizeof err);
    expect_fail(st, err, "mismatched counts", "img.idx", "lab5.idx");

    unsigned char more[IDX_N * IDX_H * IDX_W + 3];
    memcpy(more, idx_pixels, np);
    more[np] = more[np + 1] = more[np + 2] = 1;
    write_idx(t_at("long.idx"), 0, 0x803, idims, 3, more, np + 3);
    st = cnn_dataset_load_idx(t_at("long.idx"), t_at("lab.idx"), &ds, err, sizeof err);
    expect_fail(st, err, "trailing data", "long.idx", "more data");

    uint32_t zero[3] = {0, IDX_H, IDX_W};
    write_idx(t_at("zero.idx"), 0, 0x803, zero, 3, idx_pixels, 0);
    st = cnn_dataset_load_idx(t_at("zero.idx"), t_at("lab.idx"), &ds, err, sizeof err);
    expect_fail(st, err, "no images", "zero.idx", NULL);

    st = cnn_dataset_load_idx(t_at("missing.idx"), t_at("lab.idx"), &ds, err, sizeof err);
    expect_fail(st, err, "missing file", "missing.idx", NULL);
    T_CHECK(st == CNN_STATUS_IO, "missing file: status %s", cnn_status_str(st));
}

static void test_mnist_dir(void) {
    uint32_t idims[3] = {IDX_N, IDX_H, IDX_W}, ldims[1] = {IDX_N};
    size_t np = sizeof idx_pixels;
    /* Fashion: training files gzipped, test files plain. */
    t_make_dir("Fashion-mini");
    write_idx(t_at("Fashion-mini/train-images-idx3-ubyte.gz"), 1, 0x803, idims, 3, idx_pixels, np);
    write_idx(t_at("Fashion-mini/train-labels-idx1-ubyte.gz"), 1, 0x801, ldims, 1, idx_labels,
              IDX_N);
    write_idx(t_at("Fashion-mini/t10k-images-idx3-ubyte"), 0, 0x803, idims, 3, idx_pixels, np);
    write_idx(t_at("Fashion-mini/t10k-labels-idx1-ubyte"), 0, 0x801, ldims, 1, idx_labels, IDX_N);
    char err[512] = "";
    for (int train = 0; train <= 1; train++) {
        cnn_dataset *ds = NULL;
        T_OK(NULL, cnn_dataset_load_mnist_dir(t_at("Fashion-mini"), train, &ds, err, sizeof err));
        check_idx(ds, idx_labels, train ? "fashion train" : "fashion test");
        T_CHECK(ds && ds->classes == 10 && !strcmp(ds->class_names[0], "T-shirt/top") &&
                    !strcmp(ds->class_names[9], "Ankle boot"),
                "Fashion-MNIST class names");
        cnn_dataset_free(ds);
    }
    /* Digits: names are the digits; a label of 10 is an error naming the label file. */
    t_make_dir("digits");
    const unsigned char bad[IDX_N] = {0, 1, 2, 10, 4, 5};
    write_idx(t_at("digits/train-images-idx3-ubyte"), 0, 0x803, idims, 3, idx_pixels, np);
    write_idx(t_at("digits/train-labels-idx1-ubyte"), 0, 0x801, ldims, 1, idx_labels, IDX_N);
    write_idx(t_at("digits/t10k-images-idx3-ubyte"), 0, 0x803, idims, 3, idx_pixels, np);
    write_idx(t_at("digits/t10k-labels-idx1-ubyte.gz"), 1, 0x801, ldims, 1, bad, IDX_N);
    cnn_dataset *ds = NULL;
    T_OK(NULL, cnn_dataset_load_mnist_dir(t_at("digits"), 1, &ds, err, sizeof err));
    check_idx(ds, idx_labels, "digits train");
    T_CHECK(ds && !strcmp(ds->class_names[7], "7"), "digit class names");
    cnn_dataset_free(ds);
    cnn_status st = cnn_dataset_load_mnist_dir(t_at("digits"), 0, &ds, err, sizeof err);
    expect_fail(st, err, "MNIST label 10", "t10k-labels-idx1-ubyte.gz", "label 10");
    t_make_dir("nothing");
    st = cnn_dataset_load_mnist_dir(t_at("nothing"), 1, &ds, err, sizeof err);
    expect_fail(st, err, "MNIST folder without files", "train-images-idx3-ubyte", NULL);
}

/* ---------------------------------------------------------------------------------------------
 * CIFAR-10
 * ------------------------------------------------------------------------------------------- */

enum { REC = 3073 };

static unsigned char cifar_byte(int record, int k) { return (unsigned char)(record * 31 + k * 7); }

/* Writes records first .. first+count-1 with label (record * 3) % 10. */
static void write_cifar(const char *path, int first, int count) {
    unsigned char *b = malloc((size_t)count * REC);
    for (int r = 0; r < count; r++) {
        b[(size_t)r * REC] = (unsigned char)(((first + r) * 3) % 10);
        for (int k = 0; k < 3072; k++) b[(size_t)r * REC + 1 + k] = cifar_byte(first + r, k);
    }
    t_write_bytes(path, b, (size_t)count * REC);
    free(b);
}

static void test_cifar(void) {
    t_make_dir("cifar");
    write_cifar(t_at("cifar/data_batch_1.bin"), 0, 3);
    write_cifar(t_at("cifar/data_batch_2.bin"), 3, 2);
    const char *paths[2];
    char p1[512], p2[512], err[512] = "";
    snprintf(p1, sizeof p1, "%s", t_at("cifar/data_batch_1.bin"));
    snprintf(p2, sizeof p2, "%s", t_at("cifar/data_batch_2.bin"));
    paths[0] = p1;
    paths[1] = p2;
    cnn_dataset *ds = NULL;
    T_OK(NULL, cnn_dataset_load_cifar10(paths, 2, &ds, err, sizeof err));
    if (T_CHECK(ds != NULL, "no CIFAR data set")) {
        T_CHECK(ds->n == 5 && ds->shape.dim[0] == 3 && ds->shape.dim[1] == 32 &&
                    ds->shape.dim[2] == 32 && ds->classes == 10,
                "CIFAR: n %d classes %d", ds->n, ds->classes);
        int ok = 1;
        unsigned char bytes[5 * 3072];
        for (int r = 0; r < 5; r++) {
            ok &= ds->y[r] == (r * 3) % 10;
            for (int k = 0; k < 3072; k++) bytes[r * 3072 + k] = cifar_byte(r, k);
        }
        T_CHECK(ok, "CIFAR: labels differ");
        if (ds->n == 5) check_bytes(ds, bytes, "CIFAR");
        T_CHECK(!strcmp(ds->class_names[0], "airplane") && !strcmp(ds->class_names[9], "truck"),
                "CIFAR default names");

        /* Statistics, against a direct computation from the bytes. */
        float mean[3], std[3];
        cnn_dataset_stats(ds, mean, std);
        for (int c = 0; c < 3; c++) {
            double s = 0, sq = 0;
            for (int r = 0; r < 5; r++)
                for (int k = c * 1024; k < (c + 1) * 1024; k++) s += cifar_byte(r, k) / 255.0;
            double m = s / 5120;
            for (int r = 0; r < 5; r++)
                for (int k = c * 1024; k < (c + 1) * 1024; k++)
                    sq += (cifar_byte(r, k) / 255.0 - m) * (cifar_byte(r, k) / 255.0 - m);
            T_CHECK(fabs(mean[c] - m) < 1e-6 && fabs(std[c] - sqrt(sq / 5120)) < 1e-6,
                    "stats channel %d: %g %g, expected %g %g", c, mean[c], std[c], m,
                    sqrt(sq / 5120));
        }
    }
    cnn_dataset_free(ds);

    /* Class names from batches.meta.txt, blank lines ignored. */
    const char *meta = "zero\none\ntwo\nthree\nfour\nfive\nsix\nseven\neight\nnine\n\n";
    t_write_bytes(t_at("cifar/batches.meta.txt"), meta, strlen(meta));
    ds = NULL;
    T_OK(NULL, cnn_dataset_load_cifar10(paths, 1, &ds, err, sizeof err));
    T_CHECK(ds && ds->n == 3 && !strcmp(ds->class_names[0], "zero") &&
                !strcmp(ds->class_names[9], "nine"),
            "CIFAR names from batches.meta.txt");
    cnn_dataset_free(ds);
    const char *meta9 = "a\nb\nc\nd\ne\nf\ng\nh\ni\n";
    t_write_bytes(t_at("cifar/batches.meta.txt"), meta9, strlen(meta9));
    cnn_status st = cnn_dataset_load_cifar10(paths, 1, &ds, err, sizeof err);
    expect_fail(st, err, "CIFAR meta with 9 names", "batches.meta.txt", NULL);
    unlink(t_at("cifar/batches.meta.txt"));

    /* Damaged files. */
    unsigned char *b = malloc(2 * REC + 5);
    memset(b, 1, 2 * REC + 5);
    t_write_bytes(t_at("cifar/odd.bin"), b, 2 * REC + 5);
    const char *odd[2] = {p1, t_at("cifar/odd.bin")};
    st = cnn_dataset_load_cifar10(odd, 2, &ds, err, sizeof err);
    char size_str[32];
    snprintf(size_str, sizeof size_str, "%d", 2 * REC + 5);
    expect_fail(st, err, "CIFAR file of a wrong size", "odd.bin", size_str);
    b[REC] = 10;
    t_write_bytes(t_at("cifar/label10.bin"), b, 2 * REC);
    const char *l10[1] = {t_at("cifar/label10.bin")};
    st = cnn_dataset_load_cifar10(l10, 1, &ds, err, sizeof err);
    expect_fail(st, err, "CIFAR label 10", "label10.bin", "label 10");
    t_write_bytes(t_at("cifar/empty.bin"), b, 0);
    const char *empty[1] = {t_at("cifar/empty.bin")};
    st = cnn_dataset_load_cifar10(empty, 1, &ds, err, sizeof err);
    expect_fail(st, err, "empty CIFAR file", "empty.bin", NULL);
    const char *missing[1] = {t_at("cifar/none.bin")};
    st = cnn_dataset_load_cifar10(missing, 1, &ds, err, sizeof err);
    expect_fail(st, err, "missing CIFAR file", "none.bin", NULL);
    free(b);
}

/* ---------------------------------------------------------------------------------------------
 * Images
 * ------------------------------------------------------------------------------------------- */

/* A 4x6 grey image and the same resized by PIL (Image.resize BILINEAR on mode "F" of
 * pixels / 255), which anti-aliases when shrinking. */
static const unsigned char grey46[24] = {10,  200, 30,  40,  250, 60,  70,  80,
                                         190, 100, 110, 0,   130, 140, 150, 255,
                                         20,  180, 90,  50,  210, 220, 230, 120};
static const float pil_2x3[6] = {0.38895559f, 0.45763305f, 0.40456185f,
                                 0.43297321f, 0.69292718f, 0.54461783f};
static const float pil_3x2[6] = {0.37352943f, 0.44215685f, 0.51348042f,
                                 0.44117647f, 0.51446080f, 0.70098037f};

static void write_png(const char *path, int w, int h, int comp, const unsigned char *px) {
    if (!stbi_write_png(path, w, h, comp, px, w * comp)) {
        fprintf(stderr, "cannot write %s\n", path);
        exit(2);
    }
}

static void test_image_resize(void) {
    write_png(t_at("grey.png"), 6, 4, 1, grey46);
    char err[512] = "";
    float x[4 * 6 * 3], want[12 * 10 * 3];
    T_OK(NULL, cnn_image_load(t_at("grey.png"), 1, 4, 6, x, err, sizeof err));
    int ok = 1;
    for (int k = 0; k < 24; k++) ok &= x[k] == grey46[k] / 255.0f;
    T_CHECK(ok, "grey PNG at its own size is not byte / 255");
    T_OK(NULL, cnn_image_load(t_at("grey.png"), 1, 2, 3, x, err, sizeof err));
    t_close("grey 4x6 -> 2x3 vs PIL bilinear", x, pil_2x3, 6, 1e-6, 0);
    T_OK(NULL, cnn_image_load(t_at("grey.png"), 1, 3, 2, x, err, sizeof err));
    t_close("grey 4x6 -> 3x2 vs PIL bilinear", x, pil_3x2, 6, 1e-6, 0);

    /* Enlarging: PyTorch's F.interpolate(bilinear, align_corners=False), written out. */
    float big[12 * 10];
    T_OK(NULL, cnn_image_load(t_at("grey.png"), 1, 10, 12, big, err, sizeof err));
    for (int y = 0; y < 10; y++)
        for (int i = 0; i < 12; i++) {
            double sy = (y + 0.5) * 4 / 10 - 0.5, sx = (i + 0.5) * 6 / 12 - 0.5;
            sy = sy < 0 ? 0 : sy;
            sx = sx < 0 ? 0 : sx;
            int y0 = (int)sy, x0 = (int)sx, y1 = y0 < 3 ? y0 + 1 : y0, x1 = x0 < 5 ? x0 + 1 : x0;
            double ly = sy - y0, lx = sx - x0;
#define P(r, c) (grey46[(r) * 6 + (c)] / 255.0)
            want[y * 12 + i] = (float)((1 - ly) * ((1 - lx) * P(y0, x0) + lx * P(y0, x1)) +
                                       ly * ((1 - lx) * P(y1, x0) + lx * P(y1, x1)));
#undef P
        }
    t_close("grey 4x6 -> 10x12 vs torch bilinear", big, want, 120, 1e-6, 0);

    /* A white image of 13 rows shrunk to 5: the float weights of a tap summed to 1 + 2^-23 and
     * made it 1.0000001 (found by fuzz_jpeg); the result stays within the source's range. */
    const unsigned char white[13] = {255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255,
                                     255};
    write_png(t_at("white.png"), 1, 13, 1, white);
    T_OK(NULL, cnn_image_load(t_at("white.png"), 1, 5, 7, x, err, sizeof err));
    float top = 0;
    for (int k = 0; k < 35; k++) top = x[k] > top ? x[k] : top;
    T_CHECK(top == 1.0f, "white 13x1 -> 5x7: %.9g, not 1", top);

    /* A grey file asked for as RGB: three equal planes. */
    T_OK(NULL, cnn_image_load(t_at("grey.png"), 3, 4, 6, x, err, sizeof err));
    ok = 1;
    for (int k = 0; k < 24; k++) ok &= x[k] == x[24 + k] && x[k] == x[48 + k];
    T_CHECK(ok, "grey PNG as RGB: planes differ");

    /* RGBA: alpha dropped; to grey by BT.601. */
    unsigned char rgba[2 * 3 * 4];
    for (int k = 0; k < 6; k++) {
        rgba[4 * k] = (unsigned char)(40 * k);
        rgba[4 * k + 1] = (unsigned char)(255 - 30 * k);
        rgba[4 * k + 2] = (unsigned char)(17 * k + 3);
        rgba[4 * k + 3] = (unsigned char)(k * 50);
    }
    write_png(t_at("rgba.png"), 3, 2, 4, rgba);
    T_OK(NULL, cnn_image_load(t_at("rgba.png"), 3, 2, 3, x, err, sizeof err));
    ok = 1;
    for (int k = 0; k < 6; k++)
        for (int c = 0; c < 3; c++) ok &= x[c * 6 + k] == rgba[4 * k + c] / 255.0f;
    T_CHECK(ok, "RGBA PNG as RGB: planes are not R, G, B / 255");
    T_OK(NULL, cnn_image_load(t_at("rgba.png"), 1, 2, 3, x, err, sizeof err));
    for (int k = 0; k < 6; k++)
        want[k] = (0.299f * rgba[4 * k] + 0.587f * rgba[4 * k + 1] + 0.114f * rgba[4 * k + 2]) /
                  255.0f;
    t_close("RGBA PNG as grey: BT.601", x, want, 6, 1e-6, 0);

    /* JPEG: a flat colour survives compression within two levels. */
    unsigned char flat[8 * 8 * 3];
    for (int k = 0; k < 64; k++) {
        flat[3 * k] = 200;
        flat[3 * k + 1] = 100;
        flat[3 * k + 2] = 50;
    }
    if (!stbi_write_jpg(t_at("flat.jpg"), 8, 8, 3, flat, 100)) {
        fprintf(stderr, "cannot write flat.jpg\n");
        exit(2);
    }
    float xj[3 * 8 * 8];
    T_OK(NULL, cnn_image_load(t_at("flat.jpg"), 3, 8, 8, xj, err, sizeof err));
    ok = 1;
    for (int k = 0; k < 64; k++)
        ok &= fabsf(xj[k] - 200 / 255.0f) < 2.5f / 255 &&
              fabsf(xj[64 + k] - 100 / 255.0f) < 2.5f / 255 &&
              fabsf(xj[128 + k] - 50 / 255.0f) < 2.5f / 255;
    T_CHECK(ok, "JPEG flat colour: %g %g %g", xj[0] * 255, xj[64] * 255, xj[128] * 255);

    cnn_status st = cnn_image_load(t_at("grey.png"), 2, 4, 6, x, err, sizeof err);
    expect_fail(st, err, "two channels asked", "grey.png", NULL);
    t_write_bytes(t_at("text.png"), "hello, not an image", 19);
    st = cnn_image_load(t_at("text.png"), 1, 4, 6, x, err, sizeof err);
    expect_fail(st, err, "text named .png", "text.png", "not a PNG or JPEG");
}

/* Writes a w x h RGB PNG whose every pixel is (v, 255 - v, v / 2). */
static void write_flat_png(const char *rel, int w, int h, unsigned char v) {
    unsigned char *px = malloc((size_t)w * h * 3);
    for (int k = 0; k < w * h; k++) {
        px[3 * k] = v;
        px[3 * k + 1] = (unsigned char)(255 - v);
        px[3 * k + 2] = v / 2;
    }
    write_png(t_at(rel), w, h, 3, px);
    free(px);
}

static void test_folder(void) {
    /* Classes "ant" < "bee" < "cat" whatever order they are made in; inside each, files
     * sorted; hidden files, other extensions and nested folders skipped. */
    t_make_dir("imgs");
    t_make_dir("imgs/cat");
    t_make_dir("imgs/ant");
    t_make_dir("imgs/bee");
    t_make_dir("imgs/bee/nested");
    write_flat_png("imgs/cat/b.png", 5, 4, 10);
    write_flat_png("imgs/cat/a.PNG", 8, 8, 20);
    write_flat_png("imgs/ant/z.png", 4, 4, 30);
    write_flat_png("imgs/bee/m.png", 3, 6, 40);
    write_flat_png("imgs/bee/nested/q.png", 3, 6, 99);
    t_write_bytes(t_at("imgs/bee/.hidden.png"), "junk", 4);
    t_write_bytes(t_at("imgs/bee/notes.txt"), "junk", 4);
    t_write_bytes(t_at("imgs/README"), "top-level files are not classes", 31);
    unsigned char flat[6 * 6 * 3];
    for (int k = 0; k < 36; k++) {
        flat[3 * k] = 50;
        flat[3 * k + 1] = 205;
        flat[3 * k + 2] = 25;
    }
    if (!stbi_write_jpg(t_at("imgs/ant/y.jpeg"), 6, 6, 3, flat, 100)) exit(2);

    char err[512] = "";
    cnn_dataset *ds = NULL;
    T_OK(NULL, cnn_dataset_load_folder(t_at("imgs"), 3, 4, 4, &ds, err, sizeof err));
    if (T_CHECK(ds != NULL, "no folder data set")) {
        T_CHECK(ds->n == 5 && ds->classes == 3 && ds->shape.dim[0] == 3 &&
                    ds->shape.dim[1] == 4 && ds->shape.dim[2] == 4,
                "folder: n %d classes %d", ds->n, ds->classes);
        T_CHECK(!strcmp(ds->class_names[0], "ant") && !strcmp(ds->class_names[1], "bee") &&
                    !strcmp(ds->class_names[2], "cat"),
                "folder: class names");
        /* Expected order: ant/y.jpeg, ant/z.png, bee/m.png, cat/a.PNG, cat/b.png (the
         * extension's case does not matter). Flat images stay flat when resized. */
        const int labels[5] = {0, 0, 1, 2, 2};
        const int values[5] = {50, 30, 40, 20, 10};
        int n = ds->n < 5 ? ds->n : 5, ok = 1;
        for (int i = 0; i < n; i++) {
            ok &= ds->y[i] == labels[i];
            float r = values[i] / 255.0f, g = (255 - values[i]) / 255.0f;
            const float *x = ds->x + (size_t)i * 48;
            float tol = i == 0 ? 2.5f / 255 : 1e-6f; /* JPEG is lossy */
            for (int k = 0; k < 16; k++) ok &= fabsf(x[k] - r) < tol && fabsf(x[16 + k] - g) < tol;
        }
        T_CHECK(ok, "folder: labels or pixels in the wrong order");
        /* Resized images are not exact bytes: a folder stays floats, read back as they are. */
        T_CHECK(ds->x != NULL && ds->pixels == NULL, "folder: not stored as floats");
        float sample[48];
        cnn_dataset_sample(ds, 3, sample);
        T_CHECK(!memcmp(sample, ds->x + 3 * 48, sizeof sample), "folder: cnn_dataset_sample");
    }
    cnn_dataset_free(ds);

    /* Grey: BT.601 of the flat colour. */
    ds = NULL;
    T_OK(NULL, cnn_dataset_load_folder(t_at("imgs"), 1, 2, 2, &ds, err, sizeof err));
    if (ds && ds->n == 5) {
        float want = (0.299f * 40 + 0.587f * 215 + 0.114f * 20) / 255.0f;
        T_CHECK(fabsf(ds->x[2 * 4] - want) < 1e-6f, "folder grey: %g, expected %g", ds->x[8],
                want);
    }
    cnn_dataset_free(ds);

    /* Errors. */
    cnn_status st;
    t_make_dir("noclass");
    t_write_bytes(t_at("noclass/a.png"), "x", 1);
    st = cnn_dataset_load_folder(t_at("noclass"), 3, 4, 4, &ds, err, sizeof err);
    expect_fail(st, err, "folder without class folders", "noclass", NULL);
    t_make_dir("emptyclass");
    t_make_dir("emptyclass/a");
    t_make_dir("emptyclass/b");
    write_flat_png("emptyclass/a/x.png", 4, 4, 1);
    t_write_bytes(t_at("emptyclass/b/x.txt"), "x", 1);
    st = cnn_dataset_load_folder(t_at("emptyclass"), 3, 4, 4, &ds, err, sizeof err);
    expect_fail(st, err, "class folder without images", "emptyclass/b", NULL);
    t_make_dir("garbage");
    t_make_dir("garbage/a");
    write_flat_png("garbage/a/good.png", 4, 4, 1);
    t_write_bytes(t_at("garbage/a/junk.png"), "not a png at all", 16);
    st = cnn_dataset_load_folder(t_at("garbage"), 3, 4, 4, &ds, err, sizeof err);
    expect_fail(st, err, "undecodable .png", "junk.png", NULL);
    /* A real PNG cut short: stb's reason is in the message. */
    t_make_dir("cut");
    t_make_dir("cut/a");
    write_flat_png("cut/a/whole.png", 16, 16, 77);
    FILE *f = fopen(t_at("cut/a/whole.png"), "rb");
    unsigned char buf[4096];
    size_t n = f ? fread(buf, 1, sizeof buf, f) : 0;
    if (f) fclose(f);
    t_write_bytes(t_at("cut/a/part.png"), buf, n / 2);
    st = cnn_dataset_load_folder(t_at("cut"), 3, 4, 4, &ds, err, sizeof err);
    expect_fail(st, err, "truncated .png", "part.png", "cannot decode");
    st = cnn_dataset_load_folder(t_at("none"), 3, 4, 4, &ds, err, sizeof err);
    expect_fail(st, err, "missing folder", "none", NULL);
    st = cnn_dataset_load_folder(t_at("imgs"), 3, 0, 4, &ds, err, sizeof err);
    expect_fail(st, err, "height 0", "imgs", NULL);
}

/* ---------------------------------------------------------------------------------------------
 * Split and statistics
 * ------------------------------------------------------------------------------------------- */

/* Loads a fresh copy of a data set: the IDX pair, or when images is NULL the folder dir. */
static cnn_dataset *load_fresh(const char *images, const char *labels, const char *dir) {
    char err[512] = "";
    cnn_dataset *ds = NULL;
    if (images) T_OK(NULL, cnn_dataset_load_idx(images, labels, &ds, err, sizeof err));
    else T_OK(NULL, cnn_dataset_load_folder(dir, 3, 4, 4, &ds, err, sizeof err));
    return ds;
}

/* a and b hold the same samples (bytes or floats, the same storage) and labels. */
static int same_set(const cnn_dataset *a, const cnn_dataset *b) {
    size_t numel = cnn_shape_numel(&a->shape);
    if (a->n != b->n || (a->pixels == NULL) != (b->pixels == NULL) || a->classes != b->classes)
        return 0;
    if (a->n == 0) return 1;
    int same = a->pixels ? !memcmp(a->pixels, b->pixels, (size_t)a->n * numel)
                         : !memcmp(a->x, b->x, (size_t)a->n * numel * sizeof(float));
    return same && !memcmp(a->y, b->y, (size_t)a->n * sizeof(int32_t));
}

/* cnn_dataset_hold_out gives the parts cnn_dataset_split gives, for several sizes and seeds,
 * also when applied again to what it left; a refused hold-out leaves the data set as it was.
 * The data set is the IDX pair images/labels, or when images is NULL the folder dir. */
static void check_hold_out(const char *images, const char *labels, const char *dir) {
    const char *what = images ? "bytes" : "floats";
    cnn_dataset *src = load_fresh(images, labels, dir);
    if (!src) return;
    int N = src->n;
    const int sizes[] = {N / 3, 0, N, 1, N - 1};
    char err[512] = "";
    for (size_t t = 0; t < sizeof sizes / sizeof sizes[0]; t++) {
        uint64_t seed = 7 + t;
        cnn_dataset *a = NULL, *b = NULL, *held = NULL, *ds = load_fresh(images, labels, dir);
        T_OK(NULL, cnn_dataset_split(src, sizes[t], seed, &a, &b, err, sizeof err));
        T_OK(NULL, cnn_dataset_hold_out(ds, sizes[t], seed, &held, err, sizeof err));
        if (a && b && ds && held) {
            T_CHECK(same_set(ds, a), "hold_out of %d (%s): what is left differs from the split's "
                    "first part", sizes[t], what);
            T_CHECK(same_set(held, b), "hold_out of %d (%s): the held samples differ from the "
                    "split's second part", sizes[t], what);
            T_CHECK(held->classes == src->classes &&
                        !strcmp(held->class_names[held->classes - 1],
                                src->class_names[src->classes - 1]),
                    "hold_out keeps the class names");
            /* Again, on what is left: a data set from hold_out is one it accepts. */
            cnn_dataset *a2 = NULL, *b2 = NULL, *held2 = NULL;
            int n2 = ds->n / 2;
            T_OK(NULL, cnn_dataset_split(ds, n2, 99, &a2, &b2, err, sizeof err));
            T_OK(NULL, cnn_dataset_hold_out(ds, n2, 99, &held2, err, sizeof err));
            T_CHECK(a2 && b2 && held2 && same_set(ds, a2) && same_set(held2, b2),
                    "hold_out of what hold_out left (%s)", what);
            cnn_dataset_free(a2);
            cnn_dataset_free(b2);
            cnn_dataset_free(held2);
        }
        cnn_dataset_free(a);
        cnn_dataset_free(b);
        cnn_dataset_free(held);
        cnn_dataset_free(ds);
    }
    /* Refused: the data set is untouched, nothing is returned. */
    cnn_dataset *ds = load_fresh(images, labels, dir), *held = (cnn_dataset *)1;
    if (ds) {
        cnn_status st = cnn_dataset_hold_out(ds, N + 1, 1, &held, err, sizeof err);
        expect_fail(st, err, "hold_out of more than all", "hold_out", NULL);
        T_CHECK(held == NULL && same_set(ds, src), "a refused hold_out changed the data set");
        held = (cnn_dataset *)1;
        st = cnn_dataset_hold_out(ds, -1, 1, &held, err, sizeof err);
        expect_fail(st, err, "hold_out of -1", "-1", NULL);
        T_CHECK(held == NULL && same_set(ds, src), "a refused hold_out changed the data set");
        st = cnn_dataset_hold_out(NULL, 1, 1, &held, err, sizeof err);
        expect_fail(st, err, "hold_out of NULL", "NULL", NULL);
    }
    cnn_dataset_free(ds);
    cnn_dataset_free(src);
}

/* ds (bytes) against its float twin made by hand, x filled from cnn_dataset_sample: the same
 * statistics bit for bit, and the same batches bit for bit, with augmentation and
 * normalisation, which is what keeps seeded training results unchanged by the storage. */
static void check_float_twin(const cnn_dataset *ds) {
    size_t numel = cnn_shape_numel(&ds->shape), total = (size_t)ds->n * numel;
    cnn_dataset twin = *ds;
    twin.pixels = NULL;
    twin.x = malloc(total * sizeof(float));
    for (int i = 0; i < ds->n; i++) cnn_dataset_sample(ds, i, twin.x + (size_t)i * numel);
    float mean[3], std[3], tmean[3], tstd[3];
    int C = ds->shape.dim[0];
    cnn_dataset_stats(ds, mean, std);
    cnn_dataset_stats(&twin, tmean, tstd);
    t_same_bits("stats mean: bytes against floats", mean, tmean, (size_t)C);
    t_same_bits("stats std: bytes against floats", std, tstd, (size_t)C);

    cnn_augment aug = {.hflip = 0.5f, .crop_pad = 1, .brightness = 0.1f, .noise = 0.05f};
    int count = ds->n < 16 ? ds->n : 16;
    int32_t idx[16], y[16], ty[16];
    for (int i = 0; i < count; i++) idx[i] = (i * 7 + 3) % ds->n;
    float *x = malloc((size_t)count * numel * sizeof *x);
    float *tx = malloc((size_t)count * numel * sizeof *tx);
    float *scratch = malloc(2 * numel * sizeof *scratch);
    cnn_dataset_batch(ds, idx, count, &aug, 42, mean, std, x, y, scratch);
    cnn_dataset_batch(&twin, idx, count, &aug, 42, tmean, tstd, tx, ty, scratch);
    t_same_bits("augmented, normalised batch: bytes against floats", x, tx,
                (size_t)count * numel);
    T_CHECK(!memcmp(y, ty, (size_t)count * sizeof *y), "batch labels: bytes against floats");
    free(x);
    free(tx);
    free(scratch);
    free(twin.x);
}

static void test_split(void) {
    /* 40 images whose first pixel is their index: each sample can be told apart. */
    enum { N = 40 };
    unsigned char px[N * 2 * 2], lab[N];
    for (int i = 0; i < N; i++) {
        for (int k = 0; k < 4; k++) px[i * 4 + k] = (unsigned char)(k == 0 ? i : 200 + k);
        lab[i] = (unsigned char)(i % 10);
    }
    uint32_t idims[3] = {N, 2, 2}, ldims[1] = {N};
    write_idx(t_at("split-img.idx"), 0, 0x803, idims, 3, px, sizeof px);
    write_idx(t_at("split-lab.idx"), 0, 0x801, ldims, 1, lab, N);
    char err[512] = "";
    cnn_dataset *ds = NULL;
    T_OK(NULL,
         cnn_dataset_load_idx(t_at("split-img.idx"), t_at("split-lab.idx"), &ds, err, sizeof err));
    if (!ds) return;

    cnn_dataset *a = NULL, *b = NULL, *a2 = NULL, *b2 = NULL, *a3 = NULL, *b3 = NULL;
    T_OK(NULL, cnn_dataset_split(ds, 12, 7, &a, &b, err, sizeof err));
    T_OK(NULL, cnn_dataset_split(ds, 12, 7, &a2, &b2, err, sizeof err));
    T_OK(NULL, cnn_dataset_split(ds, 12, 8, &a3, &b3, err, sizeof err));
    if (a && b && a2 && b2 && a3 && b3) {
        T_CHECK(a->n == 28 && b->n == 12, "split sizes %d %d", a->n, b->n);
        T_CHECK(a->pixels && !a->x && b->pixels && !b->x, "split of bytes: parts are not bytes");
        int seen[N] = {0}, ok = 1, prev = -1, in_order = 1;
        for (int i = 0; i < a->n; i++) {
            int id = a->pixels[i * 4];
            seen[id]++;
            in_order &= id > prev;
            prev = id;
            ok &= a->y[i] == id % 10 && a->pixels[i * 4 + 1] == 201;
        }
        for (int i = 0; i < b->n; i++) {
            int id = b->pixels[i * 4];
            seen[id]++;
            ok &= b->y[i] == id % 10 && b->pixels[i * 4 + 3] == 203;
        }
        int once = 1;
        for (int i = 0; i < N; i++) once &= seen[i] == 1;
        T_CHECK(once, "split is not a partition");
        T_CHECK(in_order, "split: the first part is not in the original order");
        T_CHECK(ok, "split: labels or pixels do not travel with their samples");
        T_CHECK(!memcmp(b->pixels, b2->pixels, 12 * 4) &&
                    !memcmp(b->y, b2->y, 12 * sizeof(int32_t)) &&
                    !memcmp(a->pixels, a2->pixels, 28 * 4),
                "split with the same seed differs");
        T_CHECK(memcmp(b->pixels, b3->pixels, 12 * 4) != 0,
                "split with another seed gives the same sample");
        T_CHECK(a->classes == 10 && b->classes == 10 && !strcmp(b->class_names[3], "3"),
                "split keeps the class names");
    }
    cnn_dataset_free(a);
    cnn_dataset_free(b);
    cnn_dataset_free(a2);
    cnn_dataset_free(b2);
    cnn_dataset_free(a3);
    cnn_dataset_free(b3);

    a = b = NULL;
    T_OK(NULL, cnn_dataset_split(ds, 0, 1, &a, &b, err, sizeof err));
    T_CHECK(a && b && a->n == N && b->n == 0 && !memcmp(a->pixels, ds->pixels, N * 4),
            "split of 0: everything in the first part, in order");
    cnn_dataset_free(a);
    cnn_dataset_free(b);
    T_OK(NULL, cnn_dataset_split(ds, N, 1, &a, &b, err, sizeof err));
    T_CHECK(a && b && a->n == 0 && b->n == N, "split of all");
    cnn_dataset_free(a);
    cnn_dataset_free(b);
    cnn_status st = cnn_dataset_split(ds, N + 1, 1, &a, &b, err, sizeof err);
    expect_fail(st, err, "split of more than all", "41", NULL);
    st = cnn_dataset_split(ds, -1, 1, &a, &b, err, sizeof err);
    expect_fail(st, err, "split of -1", "-1", NULL);
    T_CHECK(a == NULL && b == NULL, "failed split left results set");

    check_hold_out(t_at("split-img.idx"), t_at("split-lab.idx"), NULL);
    check_float_twin(ds);

    /* Statistics of a known set: first pixels 0..39, the others constant. */
    float mean, std;
    cnn_dataset_stats(ds, &mean, &std);
    double s = 0, sq = 0;
    for (int i = 0; i < N * 4; i++) s += px[i] / 255.0;
    double m = s / (N * 4);
    for (int i = 0; i < N * 4; i++) sq += (px[i] / 255.0 - m) * (px[i] / 255.0 - m);
    T_CHECK(fabs(mean - m) < 1e-6 && fabs(std - sqrt(sq / (N * 4))) < 1e-6,
            "stats: %g %g, expected %g %g", mean, std, m, sqrt(sq / (N * 4)));
    cnn_dataset_free(ds);
    cnn_dataset_free(NULL);

    /* A data set of floats (the folder of images of test_folder) splits and holds out too, and
     * its parts stay floats. */
    ds = load_fresh(NULL, NULL, t_at("imgs"));
    if (!ds) return;
    a = b = NULL;
    T_OK(NULL, cnn_dataset_split(ds, 2, 5, &a, &b, err, sizeof err));
    T_CHECK(a && b && a->n == ds->n - 2 && b->n == 2 && a->x && !a->pixels && b->x && !b->pixels,
            "split of floats: parts are not floats");
    if (a && b) {
        /* Every sample of the parts is one of the original's, with its label. */
        int ok = 1;
        for (int i = 0; i < a->n + b->n; i++) {
            const cnn_dataset *part = i < a->n ? a : b;
            int j = i < a->n ? i : i - a->n, found = 0;
            for (int k = 0; k < ds->n && !found; k++)
                found = !memcmp(part->x + (size_t)j * 48, ds->x + (size_t)k * 48,
                                48 * sizeof(float)) &&
                        part->y[j] == ds->y[k];
            ok &= found;
        }
        T_CHECK(ok, "split of floats: a sample or label does not come from the original");
    }
    cnn_dataset_free(a);
    cnn_dataset_free(b);
    float fmean[3], fstd[3];
    cnn_dataset_stats(ds, fmean, fstd);
    T_CHECK(fmean[0] > 0 && fmean[0] < 1 && fstd[0] >= 0, "stats of floats: %g %g",
            (double)fmean[0], (double)fstd[0]);
    cnn_dataset_free(ds);
    check_hold_out(NULL, NULL, t_at("imgs"));
}


/* ---------------------------------------------------------------------------------------------
 * The real Fashion-MNIST, when installed
 * ------------------------------------------------------------------------------------------- */

static void test_fashion(void) {
    struct stat sb;
    if (stat(FASHION_DIR, &sb) != 0) {
        printf("  note: %s not found, Fashion-MNIST checks skipped\n", FASHION_DIR);
        return;
    }
    char err[512] = "";
    for (int train = 1; train >= 0; train--) {
        cnn_dataset *ds = NULL;
        T_OK(NULL, cnn_dataset_load_mnist_dir(FASHION_DIR, train, &ds, err, sizeof err));
        if (!T_CHECK(ds != NULL, "Fashion-MNIST: %s", err)) continue;
        int want = train ? 60000 : 10000;
        T_CHECK(ds->n == want && ds->shape.dim[0] == 1 && ds->shape.dim[1] == 28 &&
                    ds->shape.dim[2] == 28 && ds->classes == 10,
                "Fashion-MNIST %s: n %d", train ? "train" : "test", ds->n);
        int count[10] = {0}, ok = 1;
        for (int i = 0; i < ds->n; i++) {
            if (ds->y[i] >= 0 && ds->y[i] < 10) count[ds->y[i]]++;
            else ok = 0;
        }
        for (int k = 0; k < 10; k++) ok &= count[k] == want / 10;
        T_CHECK(ok, "Fashion-MNIST %s: classes are not %d each", train ? "train" : "test",
                want / 10);
        T_CHECK(!strcmp(ds->class_names[9], "Ankle boot"), "Fashion-MNIST names");
        T_CHECK(ds->pixels && !ds->x, "Fashion-MNIST is not kept as bytes");
        if (!train) check_float_twin(ds); /* 31 MB of floats: the test part is enough */
        float mean, std;
        cnn_dataset_stats(ds, &mean, &std);
        printf("  Fashion-MNIST %s: %d images, mean %.4f std %.4f\n", train ? "train" : "test",
               ds->n, mean, std);
        /* The published training-set statistics. */
        if (train)
            T_CHECK(fabsf(mean - 0.2860f) < 5e-4f && fabsf(std - 0.3530f) < 5e-4f,
                    "Fashion-MNIST train stats %g %g", mean, std);
        cnn_dataset_free(ds);
    }
}

/* A loaded IDX set costs its bytes once: the images read are the data set's own buffer, not
 * copied into a second one (a copy held Fashion-MNIST's 47 MB twice at the peak of every
 * training run). Measured as the peak resident memory of a child that loads 40,000 gzipped
 * 28x28 images (31 MB). */
#define BIG_N 40000
static int load_big(const void *arg) {
    (void)arg;
    cnn_dataset *ds = NULL;
    char err[512];
    cnn_status st = cnn_dataset_load_idx(t_at("big.idx.gz"), t_at("big_lab.idx.gz"), &ds, err,
                                         sizeof err);
    int ok = st == CNN_STATUS_OK && ds && ds->n == BIG_N;
    if (!ok) fprintf(stderr, "load_big: %s\n", err);
    cnn_dataset_free(ds);
    return !ok;
}

static void test_idx_memory(void) {
    size_t np = (size_t)BIG_N * 784;
    unsigned char *pix = malloc(np), *lab = malloc(BIG_N);
    for (size_t i = 0; i < np; i++) pix[i] = (unsigned char)(i * 2654435761u >> 24);
    for (int i = 0; i < BIG_N; i++) lab[i] = (unsigned char)(i % 10);
    uint32_t idims[3] = {BIG_N, 28, 28}, ldims[1] = {BIG_N};
    write_idx(t_at("big.idx.gz"), 1, 0x803, idims, 3, pix, np);
    write_idx(t_at("big_lab.idx.gz"), 1, 0x801, ldims, 1, lab, BIG_N);
    free(pix);
    free(lab);
    double peak = 0, base = 0, data_mb = np / 1048576.0;
    int r = t_in_child(load_big, NULL, 60, &peak, &base);
    double limit = base + 1.3 * data_mb + 12;
    printf("  IDX of %d images (%.1f MB): peak %.1f MB, %.1f MB above the %.1f MB before\n", BIG_N,
           data_mb, peak, peak - base, base);
    T_CHECK(r == 0, "loading the big IDX set (child exit %d)", r);
    T_CHECK(peak < t_peak_limit(limit, base),
            "loading %.1f MB of images peaked %.1f MB above the process's %.1f MB: a second "
            "copy?", data_mb, peak - base, base);
    remove(t_at("big.idx.gz"));
    remove(t_at("big_lab.idx.gz"));
}

int main(void) {
    t_scratch_make("data");
    test_idx();
    test_idx_memory();
    test_mnist_dir();
    test_cifar();
    test_image_resize();
    test_folder();
    test_split();
    test_fashion();
    t_scratch_remove();
    return t_finish();
}

/*
 * test_data_tasks.c - the data sets of segmentation and regression, on small files written
 * here into a temporary folder: PNG masks (8-bit with stb_image_write; 16-bit, palette and
 * 1-bit with libpng) read back exactly, resized by nearest neighbour as computed by hand;
 * classes inferred from the masks or named by classes.txt; CSV targets exact, image paths
 * relative to the CSV's folder; every damaged input (a mask value out of range, an image
 * without its mask, a colour mask, a bad CSV line, a missing image, a mask over the pixel
 * limit) refused with a message naming the file and the place. Then split and hold_out keep masks and targets with their
 * samples, truncation, the hash, renumbering classes by name (cnn_dataset_match_classes), and
 * every allocation of the loaders failing in turn.
 */
#include "testlib.h"
#include "../src/core/internal.h"

#include <math.h>
#include <png.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <stb/stb_image_write.h>

static void write_text(const char *rel, const char *text) {
    FILE *f = fopen(t_at(rel), "wb");
    if (!f || fputs(text, f) < 0 || fclose(f) != 0) {
        perror(t_at(rel));
        exit(2);
    }
}

static void write_png(const char *rel, int w, int h, int comp, const unsigned char *px) {
    if (!stbi_write_png(t_at(rel), w, h, comp, px, w * comp)) {
        fprintf(stderr, "cannot write %s\n", t_at(rel));
        exit(2);
    }
}

/* A w x h grey image of value v everywhere (v identifies the sample after a split). */
static void write_flat(const char *rel, int w, int h, unsigned char v) {
    unsigned char px[64 * 64];
    memset(px, v, (size_t)w * h);
    write_png(rel, w, h, 1, px);
}

/* A PNG through libpng, for what stb_image_write cannot write: 16-bit grey, palette, 1-bit.
 * rows: h rows of rowbytes packed bytes, as PNG stores them (16 bits big-endian). */
static void write_png_lib(const char *rel, int w, int h, int depth, int type,
                          const unsigned char *rows, size_t rowbytes) {
    FILE *f = fopen(t_at(rel), "wb");
    png_structp png = png_create_write_struct(PNG_LIBPNG_VER_STRING, NULL, NULL, NULL);
    png_infop info = png ? png_create_info_struct(png) : NULL;
    if (!f || !info || setjmp(png_jmpbuf(png))) {
        fprintf(stderr, "cannot write %s\n", t_at(rel));
        exit(2);
    }
    png_init_io(png, f);
    png_set_IHDR(png, info, (png_uint_32)w, (png_uint_32)h, depth, type, PNG_INTERLACE_NONE,
                 PNG_COMPRESSION_TYPE_DEFAULT, PNG_FILTER_TYPE_DEFAULT);
    /* A palette whose colours are not their indices: a reader that expanded it would see
     * other numbers. */
    png_color palette[4] = {{200, 10, 10}, {10, 200, 10}, {10, 10, 200}, {90, 90, 90}};
    if (type == PNG_COLOR_TYPE_PALETTE) png_set_PLTE(png, info, palette, 4);
    png_write_info(png, info);
    for (int y = 0; y < h; y++) png_write_row(png, (png_bytep)(rows + (size_t)y * rowbytes));
    png_write_end(png, NULL);
    png_destroy_write_struct(&png, &info);
    fclose(f);
}

/* The status is OK; prints the message when not. */
static int ok(cnn_status st, const char *err, const char *what) {
    return T_CHECK(st == CNN_STATUS_OK, "%s: [%s] %s", what, cnn_status_str(st), err);
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

/* Sample i of ds equals the image file loaded alone (the loaders use cnn_image_load). */
static int same_image(const cnn_dataset *ds, int i, const char *path) {
    size_t numel = cnn_shape_numel(&ds->shape);
    float x[3 * 64 * 64], got[3 * 64 * 64];
    char err[256];
    if (cnn_image_load(path, ds->shape.dim[0], ds->shape.dim[1], ds->shape.dim[2], x, err,
                       sizeof err) != CNN_STATUS_OK)
        return 0;
    cnn_dataset_sample(ds, i, got);
    return !memcmp(x, got, numel * sizeof *x);
}

/* A segmentation tree root/{images,masks} of n 2x2 images "iK.png", image K flat grey 20 K,
 * its mask masks[4K .. 4K+4); root/classes.txt holds classes_txt unless NULL. */
static void seg_tree(const char *root, const char *classes_txt, int n,
                     const unsigned char *masks) {
    char rel[256];
    t_make_dir(root);
    snprintf(rel, sizeof rel, "%s/images", root);
    t_make_dir(rel);
    snprintf(rel, sizeof rel, "%s/masks", root);
    t_make_dir(rel);
    for (int k = 0; k < n; k++) {
        snprintf(rel, sizeof rel, "%s/images/i%d.png", root, k);
        write_flat(rel, 2, 2, (unsigned char)(20 * k));
        snprintf(rel, sizeof rel, "%s/masks/i%d.png", root, k);
        write_png(rel, 2, 2, 1, masks + 4 * k);
    }
    if (classes_txt) {
        snprintf(rel, sizeof rel, "%s/classes.txt", root);
        write_text(rel, classes_txt);
    }
}

/* Loads root/images with root/masks as 1x2x2 (classes 0: from the masks or classes.txt). */
static cnn_status load_tree(const char *root, int classes, cnn_dataset **ds, char *err,
                            size_t errlen) {
    char images[512], masks[512];
    snprintf(images, sizeof images, "%s/images", t_at(root));
    snprintf(masks, sizeof masks, "%s/masks", t_at(root));
    return cnn_dataset_load_segmentation(images, masks, 1, 2, 2, classes, ds, err, errlen);
}

/* The sample index K of a sample written by seg_tree or the CSV tests: flat grey 20 K. */
static int sample_id(const cnn_dataset *ds, int i) {
    float x[3 * 64 * 64];
    cnn_dataset_sample(ds, i, x);
    return (int)lroundf(x[0] * 255.0f / 20.0f);
}

/* ---------------------------------------------------------------------------------------------
 * Segmentation
 * ------------------------------------------------------------------------------------------- */

/* Mask a: 4 wide, 3 high, value 4 y + x (0..11). To 3 wide, 2 high by nearest neighbour, the
 * source of output o is floor((o + 0.5) in / out): rows 0, 2 (from 0.75, 2.25), columns 0, 2, 3
 * (from 0.67, 2, 3.33). Mask b: 2 wide, 1 high, {5, 7}: rows 0, 0; columns 0, 1, 1 (0.33, 1,
 * 1.67). Mask c: 3x2 as is, holding the largest value, 13. */
static const unsigned char mask_a[12] = {0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11};
static const unsigned char mask_b[2] = {5, 7};
static const unsigned char mask_c[6] = {1, 13, 0, 4, 4, 4};
static const int32_t want_masks[3 * 6] = {0, 2, 3, 8, 10, 11, 5, 7, 7, 5, 7, 7,
                                          1, 13, 0, 4, 4, 4};

static void test_segmentation_masks(void) {
    t_make_dir("seg");
    t_make_dir("seg/images");
    t_make_dir("seg/masks");
    unsigned char rgb[4 * 3 * 3];
    for (int k = 0; k < 36; k++) rgb[k] = (unsigned char)(k * 7);
    write_png("seg/images/a.png", 4, 3, 3, rgb);
    write_flat("seg/images/b.png", 2, 1, 90);
    write_png("seg/images/c.png", 3, 2, 3, rgb);
    write_text("seg/images/notes.txt", "not an image");
    write_png("seg/masks/a.png", 4, 3, 1, mask_a);
    write_png("seg/masks/b.png", 2, 1, 1, mask_b);
    write_png("seg/masks/c.png", 3, 2, 1, mask_c);
    write_png("seg/masks/unused.png", 3, 2, 1, mask_c); /* a mask without an image: ignored */

    char err[512] = "";
    cnn_dataset *ds = NULL;
    cnn_status st = cnn_dataset_load_segmentation(t_at("seg/images"), t_at("seg/masks"), 1, 2, 3, 0,
                                                  &ds, err, sizeof err);
    if (ok(st, err, "segmentation") && T_CHECK(ds != NULL, "no data set")) {
        T_CHECK(ds->n == 3 && ds->shape.dim[0] == 1 && ds->shape.dim[1] == 2 &&
                    ds->shape.dim[2] == 3,
                "segmentation: n %d shape %dx%dx%d", ds->n, ds->shape.dim[0], ds->shape.dim[1],
                ds->shape.dim[2]);
        T_CHECK(ds->y == NULL && ds->masks != NULL && ds->targets == NULL && ds->x != NULL,
                "segmentation: y must be NULL and masks set");
        int same = ds->masks && ds->n == 3;
        for (int k = 0; same && k < 18; k++) same &= ds->masks[k] == want_masks[k];
        T_CHECK(same, "masks (nearest neighbour) differ from the hand computation");
        if (ds->masks)
            for (int k = 0; k < 18; k++) printf("%d%s", ds->masks[k], k % 6 == 5 ? " | " : " ");
        printf("\n");
        T_CHECK(ds->classes == 14 && !strcmp(ds->class_names[0], "0") &&
                    !strcmp(ds->class_names[13], "13"),
                "classes from the masks: %d", ds->classes);
        T_CHECK(same_image(ds, 0, t_at("seg/images/a.png")) &&
                    same_image(ds, 2, t_at("seg/images/c.png")),
                "segmentation images differ from cnn_image_load");
    }
    cnn_dataset_free(ds);

    /* classes given: more than the masks use. */
    ds = NULL;
    st = cnn_dataset_load_segmentation(t_at("seg/images"), t_at("seg/masks"), 3, 2, 3, 20, &ds, err,
                                       sizeof err);
    if (ok(st, err, "segmentation, 20 classes"))
        T_CHECK(ds && ds->classes == 20 && ds->shape.dim[0] == 3 &&
                    !strcmp(ds->class_names[19], "19") && !memcmp(ds->masks, want_masks, 18 * 4),
                "20 classes: classes %d", ds ? ds->classes : -1);
    cnn_dataset_free(ds);

    /* A value of mask a (5 at x=1, y=1) out of 5 classes: the file and the pixel. */
    ds = NULL;
    st = cnn_dataset_load_segmentation(t_at("seg/images"), t_at("seg/masks"), 1, 2, 3, 5, &ds, err,
                                       sizeof err);
    expect_fail(st, err, "mask value >= classes", "masks/a.png", "pixel (x=1, y=1) holds 5");
    T_CHECK(ds == NULL, "a failed load leaves *out NULL");
}

/* 16-bit grey (a value over 255), palette indices and 1-bit grey: the stored numbers. */
static void test_mask_formats(void) {
    t_make_dir("deep");
    t_make_dir("deep/images");
    t_make_dir("deep/masks");
    for (int k = 0; k < 4; k++) {
        char rel[64];
        snprintf(rel, sizeof rel, "deep/images/m%d.png", k);
        write_flat(rel, 2, 2, 50);
    }
    /* 0, 300, 2, 1 as big-endian 16-bit samples. */
    const unsigned char grey16[8] = {0x00, 0x00, 0x01, 0x2c, 0x00, 0x02, 0x00, 0x01};
    write_png_lib("deep/masks/m0.png", 2, 2, 16, PNG_COLOR_TYPE_GRAY, grey16, 4);
    const unsigned char pal[4] = {3, 0, 1, 2};
    write_png_lib("deep/masks/m1.png", 2, 2, 8, PNG_COLOR_TYPE_PALETTE, pal, 2);
    const unsigned char bits[2] = {0x80, 0xc0}; /* rows 1 0, 1 1 */
    write_png_lib("deep/masks/m2.png", 2, 2, 1, PNG_COLOR_TYPE_GRAY, bits, 1);
    const unsigned char rgb_grey[12] = {4, 4, 4, 0, 0, 0, 9, 9, 9, 2, 2, 2};
    write_png("deep/masks/m3.png", 2, 2, 3, rgb_grey);
    char err[512] = "";
    cnn_dataset *ds = NULL;
    cnn_status st = load_tree("deep", 0, &ds, err, sizeof err);
    const int32_t want[16] = {0, 300, 2, 1, 3, 0, 1, 2, 1, 0, 1, 1, 4, 0, 9, 2};
    if (ok(st, err, "16-bit, palette, 1-bit and RGB grey masks") && ds) {
        T_CHECK(!memcmp(ds->masks, want, sizeof want), "masks of other formats differ");
        T_CHECK(ds->classes == 301, "classes %d from a 16-bit mask", ds->classes);
    }
    cnn_dataset_free(ds);

    /* A colour mask: the pixel whose channels differ. */
    const unsigned char rgb[12] = {4, 4, 4, 0, 0, 0, 9, 8, 9, 2, 2, 2};
    write_png("deep/masks/m3.png", 2, 2, 3, rgb);
    ds = NULL;
    st = load_tree("deep", 0, &ds, err, sizeof err);
    expect_fail(st, err, "colour mask", "masks/m3.png", "pixel (x=0, y=1) is a colour");
    /* Not a PNG, then a truncated one. */
    write_text("deep/masks/m3.png", "not a png at all");
    st = load_tree("deep", 0, &ds, err, sizeof err);
    expect_fail(st, err, "mask not a PNG", "masks/m3.png", "cannot read as a PNG mask");
    write_png_lib("deep/masks/m3.png", 2, 2, 8, PNG_COLOR_TYPE_PALETTE, pal, 2);
    if (truncate(t_at("deep/masks/m3.png"), 40) != 0) exit(2);
    st = load_tree("deep", 0, &ds, err, sizeof err);
    expect_fail(st, err, "truncated mask", "masks/m3.png", NULL);
    T_CHECK(ds == NULL, "a failed load leaves *out NULL");
    /* Masks are within the images' pixel limit: 3 x 2 is over 5 pixels, not over 6 (the
     * images are 2 x 2). */
    const unsigned char six[6] = {0, 1, 2, 2, 1, 0};
    write_png("deep/masks/m3.png", 3, 2, 1, six);
    setenv("CNN_MAX_IMAGE_PIXELS", "5", 1);
    st = load_tree("deep", 0, &ds, err, sizeof err);
    expect_fail(st, err, "mask over the pixel limit", "masks/m3.png", "3x2 is 6 pixels");
    setenv("CNN_MAX_IMAGE_PIXELS", "6", 1);
    st = load_tree("deep", 0, &ds, err, sizeof err);
    unsetenv("CNN_MAX_IMAGE_PIXELS");
    ok(st, err, "a mask at the pixel limit");
    cnn_dataset_free(ds);
}

static void test_segmentation_errors(void) {
    const unsigned char m[8] = {0, 1, 1, 0, 2, 2, 0, 0};
    char err[512] = "";
    cnn_dataset *ds = NULL;
    seg_tree("nomask", NULL, 2, m);
    if (unlink(t_at("nomask/masks/i1.png")) != 0) exit(2);
    cnn_status st = load_tree("nomask", 0, &ds, err, sizeof err);
    expect_fail(st, err, "image without a mask", "images/i1.png", "no mask");

    seg_tree("twice", NULL, 2, m);
    write_flat("twice/images/i1.jpg.png", 2, 2, 0); /* base "i1.jpg": another mask, fine */
    write_png("twice/masks/i1.jpg.png", 2, 2, 1, m);
    unsigned char rgb[12] = {0};
    if (!stbi_write_jpg(t_at("twice/images/i0.jpg"), 2, 2, 3, rgb, 90)) exit(2);
    st = load_tree("twice", 0, &ds, err, sizeof err);
    expect_fail(st, err, "two images, one base name", "i0.jpg", "i0.png");

    st = cnn_dataset_load_segmentation(t_at("nomask/images"), t_at("none"), 1, 2, 2, 0, &ds, err,
                                       sizeof err);
    expect_fail(st, err, "no folder of masks", "none", NULL);
    t_make_dir("empty");
    st = cnn_dataset_load_segmentation(t_at("empty"), t_at("nomask/masks"), 1, 2, 2, 0, &ds, err,
                                       sizeof err);
    expect_fail(st, err, "no images", "empty", "no .png");
    st = load_tree("nomask", -1, &ds, err, sizeof err);
    expect_fail(st, err, "negative classes", "-1 classes", NULL);
    st = cnn_dataset_load_segmentation(t_at("nomask/images"), t_at("nomask/masks"), 2, 2, 2, 0, &ds,
                                       err, sizeof err);
    expect_fail(st, err, "two channels", "channels must be 1 or 3", NULL);
    T_CHECK(ds == NULL, "a failed load leaves *out NULL");
}

static void test_class_names(void) {
    const unsigned char m[8] = {0, 1, 1, 0, 2, 2, 0, 0};
    char err[512] = "";
    cnn_dataset *ds = NULL;
    /* CRLF, blanks around a name and empty lines at the end are fine. */
    seg_tree("named", "background\r\n  cat \ndog\n\n\n", 2, m);
    cnn_status st = load_tree("named", 0, &ds, err, sizeof err);
    if (ok(st, err, "classes.txt") && ds)
        T_CHECK(ds->classes == 3 && !strcmp(ds->class_names[0], "background") &&
                    !strcmp(ds->class_names[1], "cat") && !strcmp(ds->class_names[2], "dog"),
                "classes.txt names: %d classes", ds->classes);
    cnn_dataset_free(ds);
    ds = NULL;
    /* A trailing slash on images_dir: the parent is still the tree's root. */
    char images[512], masks[512];
    snprintf(images, sizeof images, "%s", t_at("named/images/"));
    snprintf(masks, sizeof masks, "%s", t_at("named/masks"));
    st = cnn_dataset_load_segmentation(images, masks, 1, 2, 2, 0, &ds, err, sizeof err);
    if (ok(st, err, "classes.txt, images_dir with a slash") && ds)
        T_CHECK(ds->classes == 3 && !strcmp(ds->class_names[2], "dog"), "trailing slash");
    cnn_dataset_free(ds);
    ds = NULL;
    /* More names than the masks use: the names decide. */
    write_text("named/classes.txt", "background\ncat\ndog\nemu\n");
    st = load_tree("named", 0, &ds, err, sizeof err);
    if (ok(st, err, "classes.txt with an unused class") && ds)
        T_CHECK(ds->classes == 4 && !strcmp(ds->class_names[3], "emu"), "unused class");
    cnn_dataset_free(ds);
    ds = NULL;
    st = load_tree("named", 3, &ds, err, sizeof err);
    expect_fail(st, err, "classes.txt against classes", "names 4 classes", "3 were asked");
    write_text("named/classes.txt", "background\ncat\n");
    st = load_tree("named", 0, &ds, err, sizeof err);
    expect_fail(st, err, "mask beyond classes.txt", "masks/i1.png", "holds 2");
    write_text("named/classes.txt", "background\n\ncat\ndog\n");
    st = load_tree("named", 0, &ds, err, sizeof err);
    expect_fail(st, err, "empty line in classes.txt", "classes.txt:2:", "empty class name");
    write_text("named/classes.txt", "background\ncat\ncat\n");
    st = load_tree("named", 0, &ds, err, sizeof err);
    expect_fail(st, err, "repeated class", "classes.txt:3:", "'cat' named twice");
    T_CHECK(ds == NULL, "a failed load leaves *out NULL");
}

/* ---------------------------------------------------------------------------------------------
 * Regression
 * ------------------------------------------------------------------------------------------- */

static void test_csv(void) {
    t_make_dir("reg");
    t_make_dir("reg/img");
    for (int k = 0; k < 10; k++) {
        char rel[64];
        snprintf(rel, sizeof rel, "reg/img/p%d.png", k);
        write_flat(rel, 3, 3, (unsigned char)(20 * k));
    }
    /* CRLF, blanks around fields, a blank line, an absolute path; the paths are relative to
     * the CSV's folder, not to the current one. */
    char text[1024];
    snprintf(text, sizeof text,
             "image,age,score\n"
             "img/p0.png,1.5,-2\r\n"
             "\n"
             " img/p1.png , 3e2,\t0.25 \n"
             "%s,7,-0\n",
             t_at("reg/img/p2.png"));
    write_text("reg/data.csv", text);
    char err[512] = "";
    cnn_dataset *ds = NULL;
    cnn_status st = cnn_dataset_load_csv(t_at("reg/data.csv"), 1, 2, 2, &ds, err, sizeof err);
    const float want[6] = {1.5f, -2.0f, 300.0f, 0.25f, 7.0f, -0.0f};
    if (ok(st, err, "CSV") && T_CHECK(ds != NULL, "no data set")) {
        T_CHECK(ds->n == 3 && ds->n_targets == 2 && ds->y == NULL && ds->masks == NULL &&
                    ds->classes == 0 && ds->class_names != NULL,
                "CSV: n %d n_targets %d classes %d", ds->n, ds->n_targets, ds->classes);
        T_CHECK(ds->targets && ds->n == 3 && !memcmp(ds->targets, want, sizeof want),
                "CSV targets are not exact");
        T_CHECK(ds->n == 3 && same_image(ds, 1, t_at("reg/img/p1.png")) && sample_id(ds, 2) == 2,
                "CSV images");
        /* Batches of a set without labels: y gets -1, not a read through NULL. */
        float x[3 * 4], scratch[8];
        int32_t idx[3] = {2, 0, 1}, y[3] = {5, 5, 5};
        cnn_dataset_batch(ds, idx, 3, NULL, 0, NULL, NULL, x, y, scratch);
        T_CHECK(y[0] == -1 && y[2] == -1 && fabsf(x[0] - 40 / 255.0f) < 1e-6f,
                "batch of a regression set");
        cnn_dataset_batch(ds, idx, 3, NULL, 0, NULL, NULL, x, NULL, scratch);
    }
    cnn_dataset_free(ds);
}

/* Each bad CSV file: the file, the line and what is wrong. */
static void test_csv_errors(void) {
    char err[512] = "";
    cnn_dataset *ds = NULL;
    cnn_status st;
    struct {
        const char *name, *text, *frag1, *frag2;
    } bad[] = {
        {"columns.csv", "image,a,b\nimg/p0.png,1,2\nimg/p1.png,3\n", "columns.csv:3:",
         "2 columns, the header has 3"},
        {"number.csv", "image,a,b\nimg/p0.png,1,abc\n", "number.csv:2:",
         "column 3: 'abc' is not a finite number"},
        {"trail.csv", "image,a\nimg/p0.png,1.5x\n", "trail.csv:2:", "'1.5x'"},
        {"nan.csv", "image,a\nimg/p0.png,nan\n", "nan.csv:2:", "'nan'"},
        {"empty.csv", "image,a\nimg/p0.png,\n", "empty.csv:2:", "''"},
        {"noimage.csv", "image,a\nimg/p0.png,1\n\nimg/none.png,2\n", "noimage.csv:4:",
         "img/none.png"},
        {"nopath.csv", "image,a\n ,2\n", "nopath.csv:2:", "empty image path"},
        {"header.csv", "image\nimg/p0.png\n", "header.csv:1:", "needs IMAGE"},
        {"blank.csv", "", "blank.csv:1:", "header"},
        {"nosamples.csv", "image,a\n\n", "nosamples.csv", "no samples"},
    };
    for (size_t k = 0; k < sizeof bad / sizeof bad[0]; k++) {
        char rel[64];
        snprintf(rel, sizeof rel, "reg/%s", bad[k].name);
        write_text(rel, bad[k].text);
        st = cnn_dataset_load_csv(t_at(rel), 1, 2, 2, &ds, err, sizeof err);
        expect_fail(st, err, bad[k].name, bad[k].frag1, bad[k].frag2);
        T_CHECK(ds == NULL, "a failed load leaves *out NULL");
    }
    st = cnn_dataset_load_csv(t_at("reg/absent.csv"), 1, 2, 2, &ds, err, sizeof err);
    expect_fail(st, err, "no CSV file", "absent.csv", "cannot open");
}

/* ---------------------------------------------------------------------------------------------
 * Split, hold_out, truncate, hash
 * ------------------------------------------------------------------------------------------- */

/* Every sample of part carries its own targets: sample K (image 20 K) has mask all K
 * (segmentation) or targets K, 10 K + 0.5 (regression); counts[K] counts the samples seen. */
static int carried(const cnn_dataset *part, int *counts) {
    int good = 1;
    for (int i = 0; i < part->n; i++) {
        int id = sample_id(part, i);
        if (id < 0 || id >= 10) return 0;
        counts[id]++;
        if (part->masks)
            for (int p = 0; p < 4; p++) good &= part->masks[i * 4 + p] == id;
        if (part->targets)
            good &= part->targets[2 * i] == (float)id &&
                    part->targets[2 * i + 1] == 10.0f * id + 0.5f;
    }
    return good;
}

/* split(ds, 4) and hold_out(ds, 4) with one seed: a partition whose samples keep their
 * masks or targets, and the same parts both ways. */
static void check_split(cnn_dataset *ds, const char *what) {
    char err[512] = "";
    cnn_dataset *a = NULL, *b = NULL, *held = NULL;
    if (!ok(cnn_dataset_split(ds, 4, 3, &a, &b, err, sizeof err), err, what)) return;
    int counts[10] = {0};
    T_CHECK(carried(a, counts) && carried(b, counts), "%s: split loses masks or targets", what);
    int once = 1;
    for (int k = 0; k < 10; k++) once &= counts[k] == 1;
    T_CHECK(once && a->n == 6 && b->n == 4, "%s: split is not a partition", what);
    T_CHECK((a->masks != NULL) == (ds->masks != NULL) &&
                (a->targets != NULL) == (ds->targets != NULL) && a->y == NULL &&
                b->y == NULL && b->n_targets == ds->n_targets,
            "%s: the parts are not of the same kind", what);
    if (ok(cnn_dataset_hold_out(ds, 4, 3, &held, err, sizeof err), err, what)) {
        int counts2[10] = {0};
        T_CHECK(carried(ds, counts2) && carried(held, counts2),
                "%s: hold_out loses masks or targets", what);
        size_t mb = ds->masks ? 4 * sizeof(int32_t) : 0, tb = ds->targets ? 2 * sizeof(float) : 0;
        T_CHECK(ds->n == 6 && held->n == 4 &&
                    (!mb || (!memcmp(ds->masks, a->masks, 6 * mb) &&
                             !memcmp(held->masks, b->masks, 4 * mb))) &&
                    (!tb || (!memcmp(ds->targets, a->targets, 6 * tb) &&
                             !memcmp(held->targets, b->targets, 4 * tb))),
                "%s: hold_out differs from split", what);
    }
    cnn_dataset_free(a);
    cnn_dataset_free(b);
    cnn_dataset_free(held);
}

static void test_split_truncate_hash(void) {
    unsigned char m[40];
    for (int k = 0; k < 40; k++) m[k] = (unsigned char)(k / 4);
    seg_tree("ten", NULL, 10, m);
    char err[512] = "";
    cnn_dataset *seg = NULL, *seg2 = NULL, *reg = NULL, *reg2 = NULL;
    ok(load_tree("ten", 0, &seg, err, sizeof err), err, "ten masks");
    ok(load_tree("ten", 0, &seg2, err, sizeof err), err, "ten masks again");
    char csv[2048] = "image,k,tenk\n";
    for (int k = 0; k < 10; k++)
        snprintf(csv + strlen(csv), sizeof csv - strlen(csv), "../ten/images/i%d.png,%d,%d.5\n",
                 k, k, 10 * k);
    write_text("reg/ten.csv", csv);
    ok(cnn_dataset_load_csv(t_at("reg/ten.csv"), 1, 2, 2, &reg, err, sizeof err), err, "ten rows");
    ok(cnn_dataset_load_csv(t_at("reg/ten.csv"), 1, 2, 2, &reg2, err, sizeof err), err,
       "ten rows again");
    if (!seg || !seg2 || !reg || !reg2) goto out;
    int counts[10] = {0};
    T_CHECK(carried(seg, counts) && carried(reg, counts), "the loaded sets are not as written");

    /* The hash: equal for equal sets, different when one target changes. */
    T_CHECK(cnn_dataset_hash(seg) == cnn_dataset_hash(seg2), "equal masks, different hashes");
    T_CHECK(cnn_dataset_hash(reg) == cnn_dataset_hash(reg2), "equal targets, different hashes");
    T_CHECK(cnn_dataset_hash(seg) != cnn_dataset_hash(reg), "masks and targets hash the same");
    uint64_t h = cnn_dataset_hash(seg2);
    seg2->masks[37] = 3;
    T_CHECK(cnn_dataset_hash(seg2) != h, "a changed mask pixel keeps the hash");
    seg2->masks[37] = 9;
    T_CHECK(cnn_dataset_hash(seg2) == h, "the hash depends on something else");
    h = cnn_dataset_hash(reg2);
    reg2->targets[13] = 60.25f;
    T_CHECK(cnn_dataset_hash(reg2) != h, "a changed target keeps the hash");

    /* Truncation keeps the first samples and changes the hash. */
    h = cnn_dataset_hash(seg2);
    cnn_dataset_truncate(seg2, 3);
    T_CHECK(seg2->n == 3 && sample_id(seg2, 2) == 2 && seg2->masks[8] == 2,
            "truncate: n %d", seg2->n);
    T_CHECK(cnn_dataset_hash(seg2) != h, "truncation keeps the hash");
    cnn_dataset_truncate(seg2, 5);
    T_CHECK(seg2->n == 3, "truncate to more samples than held grows the set");

    check_split(seg, "segmentation");
    check_split(reg, "regression");
out:
    cnn_dataset_free(seg);
    cnn_dataset_free(seg2);
    cnn_dataset_free(reg);
    cnn_dataset_free(reg2);
}

/* A classification set where labels change: two equal hand-made sets, then one label. */
static void test_hash_labels(void) {
    int32_t y1[4] = {0, 1, 2, 1}, y2[4] = {0, 1, 2, 1};
    float x[4 * 2] = {0};
    char *names[3] = {"a", "b", "c"};
    cnn_dataset a = {.n = 4, .shape = {.rank = 3, .dim = {1, 1, 2}}, .classes = 3, .x = x,
                     .y = y1, .class_names = names};
    cnn_dataset b = a;
    b.y = y2;
    T_CHECK(cnn_dataset_hash(&a) == cnn_dataset_hash(&b), "equal labels, different hashes");
    y2[3] = 2;
    T_CHECK(cnn_dataset_hash(&a) != cnn_dataset_hash(&b), "a changed label keeps the hash");
    y2[3] = 1;
    b.n = 3;
    T_CHECK(cnn_dataset_hash(&a) != cnn_dataset_hash(&b), "n is not in the hash");
}

/* ---------------------------------------------------------------------------------------------
 * Matching classes by name
 * ------------------------------------------------------------------------------------------- */

/* ds (ant bee cat) to ref (cat ant bee); then a set of ref's tree to ref_seg (bee cat ant). */
static void check_remap(cnn_dataset *ds, const cnn_dataset *ref, const cnn_dataset *ref_seg) {
    char err[512] = "";
    /* ant 0 -> 1, bee 1 -> 2, cat 2 -> 0, the names in the reference's order. */
    if (ok(cnn_dataset_match_classes(ds, ref, err, sizeof err), err, "match_classes")) {
        const int32_t want[6] = {1, 1, 2, 2, 0, 0};
        T_CHECK(!memcmp(ds->y, want, sizeof want), "labels not remapped: %d %d %d %d %d %d",
                ds->y[0], ds->y[1], ds->y[2], ds->y[3], ds->y[4], ds->y[5]);
        T_CHECK(ds->classes == 3 && !strcmp(ds->class_names[0], "cat") &&
                    !strcmp(ds->class_names[1], "ant") && !strcmp(ds->class_names[2], "bee"),
                "names are not the reference's");
    }
    /* Masks: ref (cat ant bee) to ref_seg (bee cat ant): cat 0 -> 1, ant 1 -> 2, bee 2 -> 0. */
    cnn_dataset *seg = NULL;
    ok(load_tree("ref", 0, &seg, err, sizeof err), err, "segmentation set");
    if (seg && ok(cnn_dataset_match_classes(seg, ref_seg, err, sizeof err), err, "masks")) {
        const int32_t want[8] = {1, 2, 0, 1, 0, 0, 2, 1};
        T_CHECK(!memcmp(seg->masks, want, sizeof want), "masks not remapped");
        T_CHECK(!strcmp(seg->class_names[0], "bee") && !strcmp(seg->class_names[2], "ant"),
                "mask names are not the reference's");
    }
    cnn_dataset_free(seg);
}

static void test_match_classes(void) {
    /* A folder set: classes ant, bee, cat by folder order, two images each. */
    t_make_dir("fold");
    const char *cls[3] = {"ant", "bee", "cat"};
    for (int c = 0; c < 3; c++) {
        char rel[64];
        snprintf(rel, sizeof rel, "fold/%s", cls[c]);
        t_make_dir(rel);
        for (int k = 0; k < 2; k++) {
            snprintf(rel, sizeof rel, "fold/%s/%d.png", cls[c], k);
            write_flat(rel, 2, 2, (unsigned char)(20 * c));
        }
    }
    /* References whose classes.txt orders the names otherwise, or differs. */
    const unsigned char m[8] = {0, 1, 2, 0, 2, 2, 1, 0};
    seg_tree("ref", "cat\nant\nbee\n", 2, m);
    seg_tree("ref_extra", "cat\nant\nemu\n", 2, m);
    seg_tree("ref_more", "cat\nant\nbee\nemu\n", 2, m);
    seg_tree("ref_seg", "bee\ncat\nant\n", 2, m);
    char err[512] = "";
    cnn_dataset *ds = NULL, *ref = NULL, *extra = NULL, *more = NULL, *ref_seg = NULL;
    ok(cnn_dataset_load_folder(t_at("fold"), 1, 2, 2, &ds, err, sizeof err), err, "folder");
    ok(load_tree("ref", 0, &ref, err, sizeof err), err, "reference");
    ok(load_tree("ref_extra", 0, &extra, err, sizeof err), err, "reference with emu");
    ok(load_tree("ref_more", 0, &more, err, sizeof err), err, "reference with 4 classes");
    ok(load_tree("ref_seg", 0, &ref_seg, err, sizeof err), err, "segmentation reference");
    if (!ds || !ref || !extra || !more || !ref_seg) goto out;

    /* Rejected: bee against emu; emu missing. ds is unchanged. */
    cnn_status st = cnn_dataset_match_classes(ds, extra, err, sizeof err);
    expect_fail(st, err, "an extra and a missing class", "this data set (3 classes): 'bee'",
                "reference (3 classes): 'emu'");
    T_CHECK(st == CNN_STATUS_FORMAT, "extra class: status %s", cnn_status_str(st));
    st = cnn_dataset_match_classes(ds, more, err, sizeof err);
    expect_fail(st, err, "a missing class", "this data set (3 classes): none",
                "reference (4 classes): 'emu'");
    T_CHECK(st == CNN_STATUS_FORMAT, "missing class: status %s", cnn_status_str(st));
    st = cnn_dataset_match_classes(more, ds, err, sizeof err);
    expect_fail(st, err, "an extra class", "this data set (4 classes): 'emu'", NULL);
    T_CHECK(ds->classes == 3 && !strcmp(ds->class_names[0], "ant") && ds->y[0] == 0 &&
                ds->y[5] == 2,
            "a refused match changed the data set");

    check_remap(ds, ref, ref_seg);
out:
    cnn_dataset_free(ds);
    cnn_dataset_free(ref);
    cnn_dataset_free(extra);
    cnn_dataset_free(more);
    cnn_dataset_free(ref_seg);
}

/* ---------------------------------------------------------------------------------------------
 * Running out of memory
 * ------------------------------------------------------------------------------------------- */

/* Loads (and splits, holds out, matches) with its n-th allocation failing, n = 1, 2, ...
 * until nothing fails: each failure must come back as a status with a message and *out NULL;
 * the sanitizer build's leak checker sees that none leaks. */
static void test_out_of_memory(void) {
    write_text("named/classes.txt", "background\ncat\ndog\n");
    int failures = 0, bad = 0;
    for (long n = 1; n < 10000; n++) {
        char err[512] = "";
        cnn_dataset *seg = NULL, *reg = NULL, *a = NULL, *b = NULL, *held = NULL;
        cnn_fail_alloc_after(n);
        cnn_status st = load_tree("named", 0, &seg, err, sizeof err);
        if (!st) st = cnn_dataset_load_csv(t_at("reg/ten.csv"), 1, 2, 2, &reg, err, sizeof err);
        if (!st) st = cnn_dataset_split(reg, 3, 1, &a, &b, err, sizeof err);
        if (!st) st = cnn_dataset_hold_out(seg, 1, 1, &held, err, sizeof err);
        if (!st) st = cnn_dataset_match_classes(held, seg, err, sizeof err);
        long left = cnn_fail_alloc_after(0);
        if (st) {
            failures++;
            bad += !err[0] || (st != CNN_STATUS_NO_MEMORY);
            if (getenv("ALLOC_DEBUG")) fprintf(stderr, "%ld: %s\n", n, err);
        }
        cnn_dataset_free(seg);
        cnn_dataset_free(reg);
        cnn_dataset_free(a);
        cnn_dataset_free(b);
        cnn_dataset_free(held);
        if (!st) {
            T_CHECK(left > 0, "allocation %ld did not fail and yet nothing failed", n);
            break;
        }
    }
    T_CHECK(failures > 10, "only %d allocations could fail", failures);
    T_CHECK(bad == 0, "%d failures without a message or not as out of memory", bad);
    printf("  ok %d allocation failures reported\n", failures);
}

int main(void) {
    t_scratch_make("tasks");
    test_segmentation_masks();
    test_mask_formats();
    test_segmentation_errors();
    test_class_names();
    test_csv();
    test_csv_errors();
    test_split_truncate_hash();
    test_hash_labels();
    test_match_classes();
    test_out_of_memory();
    t_scratch_remove();
    return t_finish();
}

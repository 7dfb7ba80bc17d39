/*
 * test_images.c - image files written here into a temporary folder (PNGs with libpng or chunk
 * by chunk, JPEGs with libjpeg).
 *
 * Every kind of PNG (grey of 1 to 16 bits, grey and alpha, RGB, RGBA, palettes of 1 to 8 bits,
 * transparency, Adam7 interlacing, ancillary chunks) and of JPEG (grey, 4:2:0, 4:2:2, 4:4:0,
 * 4:4:4, progressive, restart markers, RGB, CMYK, YCCK) decodes through cnn_image_load to the
 * floats that the library's stb_image path gave before (stb_image decodes the same file here,
 * converted as cnn_image_load converts): PNG bit for bit, JPEG within a few levels of 255 (two
 * IDCTs and upsamplers; the largest difference is printed).
 *
 * Hostile files (stb_image's out-of-bounds JPEG, sizes far beyond what the file holds, zero
 * sizes, files cut short, bad CRCs, a chunk longer than the file, missing image data, a
 * marker inside entropy-coded data, 704 scans, two colour components, not images at all):
 * each is refused with a message naming it and saying what is wrong, in a child process that
 * must end normally (no crash, no sanitizer report) and whose peak resident memory must grow
 * by less than 64 MB; then again in this process, so that LeakSanitizer checks the error
 * paths. Against the library's former stb_image decoding, 18 of these 20 fail: six for what
 * matters (out of bounds under UBSan; accepted in 11 GB and in 5 GB; bad CRCs and 704 scans
 * accepted) and twelve for stb's terser reasons ("outofdata", an empty one).
 *
 * The pixel limit: CNN_MAX_IMAGE_PIXELS at its boundary, for PNG and JPEG, by cnn_image_load
 * and cnn_image_size, and its bad values.
 *
 * The inputs the fuzzers found (fuzz/regressions/png, fuzz/regressions/jpeg) pass the
 * fuzzers' checks.
 *
 * `test_images --corpus DIR` also copies the files of at most 32 KB, good and hostile, into
 * DIR/png and DIR/jpeg: the fuzzers' seed corpus (fuzz/corpus).
 */
#include "testlib.h"

#include <dirent.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include <zlib.h>

#include <jpeglib.h>
#include <png.h>
#include <stb/stb_image.h>
#include <stb/stb_image_write.h>

/* The whole file, malloc'ed, its length in *n. */
static unsigned char *read_bytes(const char *path, size_t *n) {
    FILE *f = fopen(path, "rb");
    long size = f && fseek(f, 0, SEEK_END) == 0 ? ftell(f) : -1;
    unsigned char *b = size >= 0 ? malloc((size_t)size + 1) : NULL;
    if (!b || fseek(f, 0, SEEK_SET) != 0 || fread(b, 1, (size_t)size, f) != (size_t)size) {
        perror(path);
        exit(2);
    }
    fclose(f);
    *n = (size_t)size;
    return b;
}

/* A deterministic picture: smooth gradients, an edge and some noise, so that JPEG's IDCT and
 * upsampling have work to do. Sample c of pixel (x, y), in [0, 256). */
static int picture(int x, int y, int c) {
    uint32_t hsh = (uint32_t)x * 73856093u ^ (uint32_t)y * 19349663u ^ (uint32_t)c * 83492791u;
    hsh = (hsh ^ (hsh >> 13)) * 0x5bd1e995u;
    int v = (x * 255 / 36 * (c + 1) + y * 7 + 60 * c) % 256 + (int)((hsh >> 24) % 24) - 12;
    if (x > 20 && y > 11) v = 255 - v;
    return v < 0 ? 0 : v > 255 ? 255 : v;
}

/* ---------------------------------------------------------------------------------------------
 * Writing PNGs: with libpng, and chunk by chunk for the damaged ones
 * ------------------------------------------------------------------------------------------- */

typedef struct png_spec {
    const char *name;
    int depth, type, interlace;
    int trans;  /* a tRNS chunk (a transparent colour, or alpha for palette entries) */
    int chunks; /* ancillary chunks before and after the image: tEXt, zTXt, gAMA, sBIT */
} png_spec;

static const png_spec good_pngs[] = {
    {"grey8.png", 8, PNG_COLOR_TYPE_GRAY, 0, 0, 0},
    {"grey1.png", 1, PNG_COLOR_TYPE_GRAY, 0, 0, 0},
    {"grey2.png", 2, PNG_COLOR_TYPE_GRAY, 0, 0, 0},
    {"grey4.png", 4, PNG_COLOR_TYPE_GRAY, 0, 0, 0},
    {"grey16.png", 16, PNG_COLOR_TYPE_GRAY, 0, 0, 0},
    {"greya8.png", 8, PNG_COLOR_TYPE_GRAY_ALPHA, 0, 0, 0},
    {"greya16.png", 16, PNG_COLOR_TYPE_GRAY_ALPHA, 0, 0, 0},
    {"rgb8.png", 8, PNG_COLOR_TYPE_RGB, 0, 0, 0},
    {"rgb16.png", 16, PNG_COLOR_TYPE_RGB, 0, 0, 0},
    {"rgba8.png", 8, PNG_COLOR_TYPE_RGB_ALPHA, 0, 0, 0},
    {"rgba16.png", 16, PNG_COLOR_TYPE_RGB_ALPHA, 0, 0, 0},
    {"pal8.png", 8, PNG_COLOR_TYPE_PALETTE, 0, 0, 0},
    {"pal4.png", 4, PNG_COLOR_TYPE_PALETTE, 0, 0, 0},
    {"pal2.png", 2, PNG_COLOR_TYPE_PALETTE, 0, 0, 0},
    {"pal1.png", 1, PNG_COLOR_TYPE_PALETTE, 0, 0, 0},
    {"pal8-trns.png", 8, PNG_COLOR_TYPE_PALETTE, 0, 1, 0},
    {"grey8-trns.png", 8, PNG_COLOR_TYPE_GRAY, 0, 1, 0},
    {"grey16-trns.png", 16, PNG_COLOR_TYPE_GRAY, 0, 1, 0},
    {"rgb8-trns.png", 8, PNG_COLOR_TYPE_RGB, 0, 1, 0},
    {"rgb8-adam7.png", 8, PNG_COLOR_TYPE_RGB, 1, 0, 0},
    {"grey2-adam7.png", 2, PNG_COLOR_TYPE_GRAY, 1, 0, 0},
    {"pal4-adam7.png", 4, PNG_COLOR_TYPE_PALETTE, 1, 1, 0},
    {"rgba16-adam7.png", 16, PNG_COLOR_TYPE_RGB_ALPHA, 1, 0, 0},
    {"rgb8-chunks.png", 8, PNG_COLOR_TYPE_RGB, 0, 0, 1},
};

/* Sample c of pixel (x, y) of a PNG of `depth` bits: the picture, scaled to the depth (16
 * bits: a low byte of its own, which the decoders drop). */
static unsigned png_sample(const png_spec *s, int x, int y, int c) {
    unsigned v = (unsigned)picture(x, y, c);
    if (s->type == PNG_COLOR_TYPE_PALETTE) return v % (1u << s->depth);
    if (s->depth == 16) return v << 8 | (unsigned)picture(y, x, c + 1);
    return v >> (8 - s->depth);
}

/* Writes the PNG s describes, w x h. */
static void write_png(const char *path, const png_spec *s, int w, int h) {
    FILE *f = fopen(path, "wb");
    png_structp png = png_create_write_struct(PNG_LIBPNG_VER_STRING, NULL, NULL, NULL);
    png_infop info = png ? png_create_info_struct(png) : NULL;
    int spp = s->type == PNG_COLOR_TYPE_GRAY_ALPHA ? 2
              : s->type == PNG_COLOR_TYPE_RGB      ? 3
              : s->type == PNG_COLOR_TYPE_RGB_ALPHA ? 4
                                                    : 1;
    size_t bps = s->depth == 16 ? 2 : 1; /* bytes a sample, depths below 8 unpacked */
    size_t rowbytes = (size_t)w * spp * bps;
    unsigned char *rows = malloc(rowbytes * h);
    if (!f || !info || !rows || setjmp(png_jmpbuf(png))) {
        fprintf(stderr, "cannot write %s\n", path);
        exit(2);
    }
    png_init_io(png, f);
    png_set_IHDR(png, info, (png_uint_32)w, (png_uint_32)h, s->depth, s->type,
                 s->interlace ? PNG_INTERLACE_ADAM7 : PNG_INTERLACE_NONE,
                 PNG_COMPRESSION_TYPE_DEFAULT, PNG_FILTER_TYPE_DEFAULT);
    png_color palette[256];
    png_byte alphas[256];
    for (int k = 0; k < 256; k++) {
        palette[k] = (png_color){(png_byte)(k * 7), (png_byte)(255 - k), (png_byte)(k * k / 255)};
        alphas[k] = (png_byte)(k * 3);
    }
    if (s->type == PNG_COLOR_TYPE_PALETTE) png_set_PLTE(png, info, palette, 1 << s->depth);
    png_color_16 colour = {.gray = (png_uint_16)png_sample(s, 3, 4, 0),
                           .red = (png_uint_16)picture(3, 4, 0),
                           .green = (png_uint_16)picture(3, 4, 1),
                           .blue = (png_uint_16)picture(3, 4, 2)};
    if (s->trans)
        png_set_tRNS(png, info, alphas, s->type == PNG_COLOR_TYPE_PALETTE ? 1 << s->depth : 0,
                     &colour);
    png_text text[2] = {{.compression = PNG_TEXT_COMPRESSION_NONE, .key = "Comment",
                         .text = "plain text"},
                        {.compression = PNG_TEXT_COMPRESSION_zTXt, .key = "Description",
                         .text = "compressed text, skipped unread by the decoder"}};
    png_color_8 sbit = {.red = 5, .green = 6, .blue = 5, .gray = 5};
    if (s->chunks) {
        png_set_text(png, info, text, 2);
        png_set_gAMA(png, info, 0.2); /* a gamma that would change every pixel if applied */
        png_set_sBIT(png, info, &sbit);
    }
    png_write_info(png, info);
    if (s->depth < 8) png_set_packing(png);
    for (int y = 0; y < h; y++)
        for (int x = 0; x < w; x++)
            for (int c = 0; c < spp; c++) {
                unsigned v = png_sample(s, x, y, c);
                unsigned char *p = rows + y * rowbytes + (size_t)(x * spp + c) * bps;
                if (bps == 2) *p++ = (unsigned char)(v >> 8);
                *p = (unsigned char)v;
            }
    png_bytep *ptrs = malloc((size_t)h * sizeof *ptrs);
    for (int y = 0; y < h; y++) ptrs[y] = rows + y * rowbytes;
    png_write_image(png, ptrs);
    if (s->chunks) png_set_text(png, info, text, 1); /* after the image too */
    png_write_end(png, s->chunks ? info : NULL);
    png_destroy_write_struct(&png, &info);
    fclose(f);
    free(rows);
    free(ptrs);
}

/* A growing byte buffer, for files assembled chunk by chunk. */
typedef struct bytes {
    unsigned char *p;
    size_t n, cap;
} bytes;

static void put(bytes *b, const void *data, size_t n) {
    if (b->n + n > b->cap) {
        b->cap = 2 * (b->n + n);
        b->p = realloc(b->p, b->cap);
        if (!b->p) exit(2);
    }
    memcpy(b->p + b->n, data, n);
    b->n += n;
}

static void put32(bytes *b, uint32_t v) {
    unsigned char be[4] = {(unsigned char)(v >> 24), (unsigned char)(v >> 16),
                           (unsigned char)(v >> 8), (unsigned char)v};
    put(b, be, 4);
}

/* A PNG chunk: length, type, data, and the CRC of type and data (plus crc_xor, to damage it). */
static void chunk(bytes *b, const char *type, const void *data, uint32_t n, uint32_t crc_xor) {
    put32(b, n);
    put(b, type, 4);
    put(b, data, n);
    uLong crc = crc32(crc32(0, Z_NULL, 0), (const Bytef *)type, 4);
    put32(b, (uint32_t)crc32(crc, data, n) ^ crc_xor);
}

/* The signature and an IHDR of w x h, 8-bit grey (or `type`), not interlaced. */
static void png_start(bytes *b, uint32_t w, uint32_t h, int type) {
    static const unsigned char sig[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};
    put(b, sig, 8);
    unsigned char ihdr[13] = {(unsigned char)(w >> 24), (unsigned char)(w >> 16),
                              (unsigned char)(w >> 8), (unsigned char)w,
                              (unsigned char)(h >> 24), (unsigned char)(h >> 16),
                              (unsigned char)(h >> 8), (unsigned char)h, 8, (unsigned char)type,
                              0, 0, 0};
    chunk(b, "IHDR", ihdr, 13, 0);
}

/* An IDAT of `rows` rows of w zero bytes (filter byte 0 each), and IEND. Zeros deflate about
 * 1000 to 1, so 30000 x 30000 pixels take 873 KB. */
static void png_zero_rows(bytes *b, uint32_t w, uint32_t rows) {
    z_stream z = {0};
    unsigned char *row = calloc(w + 1, 1);
    bytes idat = {0};
    unsigned char out[65536];
    if (!row || deflateInit2(&z, 9, Z_DEFLATED, 15, 9, Z_RLE) != Z_OK) exit(2);
    for (uint32_t y = 0; y <= rows; y++) {
        z.next_in = row;
        z.avail_in = y < rows ? w + 1 : 0;
        int ret;
        do {
            z.next_out = out;
            z.avail_out = sizeof out;
            ret = deflate(&z, y < rows ? Z_NO_FLUSH : Z_FINISH);
            put(&idat, out, sizeof out - z.avail_out);
        } while (z.avail_in || (y == rows && ret != Z_STREAM_END));
    }
    deflateEnd(&z);
    chunk(b, "IDAT", idat.p, (uint32_t)idat.n, 0);
    chunk(b, "IEND", "", 0, 0);
    free(idat.p);
    free(row);
}

/* ---------------------------------------------------------------------------------------------
 * Writing JPEGs (libjpeg; its default error handler exits, which is right for the test's own
 * files)
 * ------------------------------------------------------------------------------------------- */

typedef struct jpeg_spec {
    const char *name;
    int components;            /* of the samples given: 1, 2 (refused), 3 or 4 (CMYK) */
    J_COLOR_SPACE in, space;   /* the samples' colour space, and the file's */
    int quality, h_samp, v_samp; /* the first component's sampling (1 or 2) */
    int progressive, restart;  /* jpeg_simple_progression; restart interval in MCU rows */
} jpeg_spec;

static const jpeg_spec good_jpegs[] = {
    {"grey.jpg", 1, JCS_GRAYSCALE, JCS_GRAYSCALE, 90, 1, 1, 0, 0},
    {"rgb420.jpg", 3, JCS_RGB, JCS_YCbCr, 75, 2, 2, 0, 0},
    {"rgb422.jpg", 3, JCS_RGB, JCS_YCbCr, 85, 2, 1, 0, 0},
    {"rgb440.jpg", 3, JCS_RGB, JCS_YCbCr, 85, 1, 2, 0, 0},
    {"rgb444.jpg", 3, JCS_RGB, JCS_YCbCr, 95, 1, 1, 0, 0},
    {"rgb444-q100.jpg", 3, JCS_RGB, JCS_YCbCr, 100, 1, 1, 0, 0},
    {"progressive.jpg", 3, JCS_RGB, JCS_YCbCr, 80, 2, 2, 1, 0},
    {"grey-progressive.jpg", 1, JCS_GRAYSCALE, JCS_GRAYSCALE, 80, 1, 1, 1, 0},
    {"restart.jpg", 3, JCS_RGB, JCS_YCbCr, 80, 2, 2, 0, 1},
    {"rgb-coded.jpg", 3, JCS_RGB, JCS_RGB, 90, 1, 1, 0, 0},
    {"cmyk.jpg", 4, JCS_CMYK, JCS_CMYK, 90, 1, 1, 0, 0},
    {"ycck.jpg", 4, JCS_CMYK, JCS_YCCK, 90, 2, 2, 0, 0},
};

/* Writes px (h rows of w pixels of s->components samples) as the JPEG s describes; with a
 * scan script when scans is not NULL. */
static void write_jpeg(const char *path, const unsigned char *px, int w, int h,
                       const jpeg_spec *s, const jpeg_scan_info *scans, int n_scans) {
    struct jpeg_compress_struct c;
    struct jpeg_error_mgr e;
    c.err = jpeg_std_error(&e);
    jpeg_create_compress(&c);
    FILE *f = fopen(path, "wb");
    if (!f) {
        perror(path);
        exit(2);
    }
    jpeg_stdio_dest(&c, f);
    c.image_width = (JDIMENSION)w;
    c.image_height = (JDIMENSION)h;
    c.input_components = s->components;
    c.in_color_space = s->in;
    jpeg_set_defaults(&c);
    jpeg_set_colorspace(&c, s->space);
    jpeg_set_quality(&c, s->quality, TRUE);
    c.comp_info[0].h_samp_factor = s->h_samp;
    c.comp_info[0].v_samp_factor = s->v_samp;
    if (s->progressive) jpeg_simple_progression(&c);
    if (scans) {
        c.scan_info = scans;
        c.num_scans = n_scans;
    }
    c.restart_in_rows = s->restart;
    jpeg_start_compress(&c, TRUE);
    while (c.next_scanline < c.image_height) {
        JSAMPROW row = (JSAMPROW)(px + (size_t)c.next_scanline * w * s->components);
        jpeg_write_scanlines(&c, &row, 1);
    }
    jpeg_finish_compress(&c);
    jpeg_destroy_compress(&c);
    fclose(f);
}

/* The picture as w x h pixels of n samples, malloc'ed. */
static unsigned char *picture_pixels(int w, int h, int n) {
    unsigned char *px = malloc((size_t)w * h * n);
    for (int y = 0; y < h; y++)
        for (int x = 0; x < w; x++)
            for (int c = 0; c < n; c++)
                px[((size_t)y * w + x) * n + c] = (unsigned char)picture(x, y, c);
    return px;
}

/* ---------------------------------------------------------------------------------------------
 * Good files against stb_image
 * ------------------------------------------------------------------------------------------- */

/* What cnn_image_load gave when it decoded with stb_image: the file through stbi_load, each
 * pixel converted as cnn_image_load converts, at the image's own size (where the resize is
 * the identity). NULL when stb cannot read the file. */
static float *stb_floats(const char *path, int channels, int *w, int *h) {
    int comp = 0;
    unsigned char *pix = stbi_load(path, w, h, &comp, 0);
    if (!pix) return NULL;
    size_t plane = (size_t)*w * *h;
    float *x = malloc((size_t)channels * plane * sizeof *x);
    for (size_t k = 0; k < plane; k++) {
        const unsigned char *p = pix + k * comp;
        if (comp >= 3 && channels == 3)
            for (int ch = 0; ch < 3; ch++) x[ch * plane + k] = p[ch] / 255.0f;
        else if (comp >= 3)
            x[k] = (0.299f * p[0] + 0.587f * p[1] + 0.114f * p[2]) / 255.0f;
        else
            for (int ch = 0; ch < channels; ch++) x[ch * plane + k] = p[0] / 255.0f;
    }
    stbi_image_free(pix);
    return x;
}

/* path loads as grey and as RGB at its own size to what stb_image gives: bit for bit when
 * exact, else within tol_levels / 255, column skip_x aside (-1: none). Returns the largest
 * difference in levels of 255. */
static double against_stb(const char *path, int exact, double tol_levels, int skip_x) {
    const char *name = strrchr(path, '/') ? strrchr(path, '/') + 1 : path;
    int sw = 0, sh = 0, sc = 0, c = 0, h = 0, w = 0;
    char err[512] = "";
    T_CHECK(stbi_info(path, &sw, &sh, &sc), "%s: stb_image cannot read it", name);
    T_OK(NULL, cnn_image_size(path, &c, &h, &w, err, sizeof err));
    T_CHECK(c == (sc >= 3 ? 3 : 1) && h == sh && w == sw,
            "%s: cnn_image_size %dx%dx%d, stb_image %dx%d with %d samples", name, c, h, w, sh,
            sw, sc);
    double worst = 0;
    for (int channels = 1; channels <= 3; channels += 2) {
        float *want = stb_floats(path, channels, &sw, &sh);
        float *got = malloc((size_t)channels * sw * sh * sizeof *got);
        cnn_status st = cnn_image_load(path, channels, sh, sw, got, err, sizeof err);
        T_CHECK(st == CNN_STATUS_OK && want, "%s as %d channels: %s", name, channels, err);
        if (st == CNN_STATUS_OK && want) {
            size_t n = (size_t)channels * sw * sh;
            for (size_t k = 0; k < n; k++)
                if ((int)(k % (size_t)sw) != skip_x)
                    worst = fmax(worst, fabs((double)got[k] - want[k]) * 255);
            if (exact)
                T_CHECK(!memcmp(got, want, n * sizeof *got), "%s as %d channels: not the bits "
                        "stb_image gave (largest difference %.3g levels)", name, channels, worst);
        }
        free(want);
        free(got);
    }
    T_CHECK(worst <= tol_levels, "%s: %.3g levels from stb_image, more than %g", name, worst,
            tol_levels);
    printf("  ok %-22s %3dx%-3d %s, largest difference from stb_image %.3g levels\n", name, sw,
           sh, sc >= 3 ? "colour" : "grey", worst);
    return worst;
}

/* The largest difference between libjpeg-turbo's and stb_image's decoding of a JPEG that we
 * accept, in levels of 255: their IDCTs (both 12-bit integer LL&M, rounded differently),
 * their fancy upsampling and their colour conversion constants differ in the last bits. */
#define JPEG_TOLERANCE 4.0

/* Column x of the JPEG at path, decoded by cnn_image_load as RGB, is nearer the pixels it
 * was made from (src, w x h RGB) than stb_image's decoding of it. */
static void closer_than_stb(const char *path, const unsigned char *src, int w, int h, int x) {
    int sw, sh;
    float *theirs = stb_floats(path, 3, &sw, &sh), *ours = malloc(3 * (size_t)w * h * sizeof *ours);
    char err[512] = "";
    T_OK(NULL, cnn_image_load(path, 3, h, w, ours, err, sizeof err));
    double e_ours = 0, e_theirs = 0;
    for (int y = 0; y < h && theirs; y++)
        for (int c = 0; c < 3; c++) {
            size_t k = ((size_t)c * h + y) * w + x;
            double want = src[((size_t)y * w + x) * 3 + c];
            e_ours += fabs(ours[k] * 255 - want);
            e_theirs += fabs(theirs[k] * 255 - want);
        }
    T_CHECK(theirs && e_ours < e_theirs, "%s, column %d: %.1f levels from the source in all, "
            "stb_image %.1f", path, x, e_ours, e_theirs);
    printf("  ok %s, column %d: %.1f levels from the source in all, stb_image %.1f\n",
           strrchr(path, '/') + 1, x, e_ours, e_theirs);
    free(theirs);
    free(ours);
}

enum { W = 37, H = 23 }; /* odd sides: partial MCUs, partial Adam7 passes, padding bits */
/* The first pixel of the last chroma pair in a 4:2:2 row of W pixels. */
enum { LAST_422 = 2 * ((W + 1) / 2 - 1) };

static void test_good(void) {
    for (size_t i = 0; i < sizeof good_pngs / sizeof *good_pngs; i++) {
        write_png(t_at(good_pngs[i].name), &good_pngs[i], W, H);
        against_stb(t_at(good_pngs[i].name), 1, 0, -1);
    }
    write_png(t_at("one-pixel.png"), &good_pngs[0], 1, 1);
    against_stb(t_at("one-pixel.png"), 1, 0, -1);

    double worst = 0;
    for (size_t i = 0; i < sizeof good_jpegs / sizeof *good_jpegs; i++) {
        const jpeg_spec *s = &good_jpegs[i];
        unsigned char *px = picture_pixels(W, H, s->components);
        write_jpeg(t_at(s->name), px, W, H, s, NULL, 0);
        /* stb_image 2.27 upsamples the last two chroma samples of a 4:2:2 row with swapped
         * weights (stbi__resample_row_h_2), so that column is checked on its own below. */
        int h2v1 = s->h_samp == 2 && s->v_samp == 1;
        worst = fmax(worst, against_stb(t_at(s->name), 0, JPEG_TOLERANCE, h2v1 ? LAST_422 : -1));
        if (h2v1) closer_than_stb(t_at(s->name), px, W, H, LAST_422);
        free(px);
    }
    /* The JPEGs the library's other tests write, with stb_image_write. */
    unsigned char *px = picture_pixels(W, H, 3);
    T_CHECK(stbi_write_jpg(t_at("stb-written.jpg"), W, H, 3, px, 90) != 0, "stbi_write_jpg");
    worst = fmax(worst, against_stb(t_at("stb-written.jpg"), 0, JPEG_TOLERANCE, -1));
    free(px);

    /* A photograph (docs/img/chelsea.png, the tests run from the repository's root), and
     * JPEGs made from it. */
    int w, h, comp;
    unsigned char *cat = stbi_load("docs/img/chelsea.png", &w, &h, &comp, 3);
    if (!cat) {
        printf("  note: docs/img/chelsea.png not found, the photograph's checks skipped\n");
    } else {
        against_stb("docs/img/chelsea.png", 1, 0, -1);
        const jpeg_spec photo[] = {
            {"chelsea420.jpg", 3, JCS_RGB, JCS_YCbCr, 75, 2, 2, 0, 0},
            {"chelsea444.jpg", 3, JCS_RGB, JCS_YCbCr, 92, 1, 1, 0, 0},
            {"chelsea-progressive.jpg", 3, JCS_RGB, JCS_YCbCr, 85, 2, 2, 1, 0},
        };
        for (size_t i = 0; i < sizeof photo / sizeof *photo; i++) {
            write_jpeg(t_at(photo[i].name), cat, w, h, &photo[i], NULL, 0);
            worst = fmax(worst, against_stb(t_at(photo[i].name), 0, JPEG_TOLERANCE, -1));
        }
        stbi_image_free(cat);
    }
    printf("  JPEG: largest difference between libjpeg-turbo and stb_image %.3g levels of 255\n",
           worst);

    /* A wide progressive JPEG: libjpeg's whole-image buffers and row buffers within what the
     * library lets it allocate. */
    const jpeg_spec wide = {"wide.jpg", 3, JCS_RGB, JCS_YCbCr, 70, 2, 2, 1, 0};
    unsigned char *strip = picture_pixels(16000, 8, 3);
    write_jpeg(t_at("wide.jpg"), strip, 16000, 8, &wide, NULL, 0);
    free(strip);
    float x[3 * 4 * 40];
    char err[512] = "";
    T_OK(NULL, cnn_image_load(t_at("wide.jpg"), 3, 4, 40, x, err, sizeof err));
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
 * Hostile files
 * ------------------------------------------------------------------------------------------- */

/* What loading a file did, as a child process reports it. */
typedef struct outcome {
    cnn_status size_st, load_st;
    char size_err[512], load_err[512];
    long growth_kb; /* how much the peak resident memory grew while loading */
} outcome;

/* cnn_image_size, then cnn_image_load as 3 x 8 x 8, of path. */
static void load_once(const char *path, outcome *o) {
    int c, h, w;
    float x[3 * 8 * 8];
    o->size_st = cnn_image_size(path, &c, &h, &w, o->size_err, sizeof o->size_err);
    o->load_st = cnn_image_load(path, 3, 8, 8, x, o->load_err, sizeof o->load_err);
}

/* Runs load_once(path) in a child process, which reports *o through a pipe. A forked child's
 * peak resident memory starts at what it holds, so the growth of ru_maxrss is the peak of the
 * load. 0, or -1 with how the child ended in how (a signal, a sanitizer's exit code). */
static int load_in_child(const char *path, outcome *o, char *how, size_t n) {
    int fd[2];
    if (pipe(fd) != 0) exit(2);
    fflush(stdout);
    fflush(stderr);
    pid_t pid = fork();
    if (pid < 0) exit(2);
    if (pid == 0) {
        close(fd[0]);
        struct rusage before, after;
        getrusage(RUSAGE_SELF, &before);
        memset(o, 0, sizeof *o);
        load_once(path, o);
        getrusage(RUSAGE_SELF, &after);
        o->growth_kb = after.ru_maxrss - before.ru_maxrss;
        _exit(write(fd[1], o, sizeof *o) == (ssize_t)sizeof *o ? 0 : 3);
    }
    close(fd[1]);
    size_t got = 0;
    ssize_t r;
    while (got < sizeof *o && (r = read(fd[0], (char *)o + got, sizeof *o - got)) > 0)
        got += (size_t)r;
    close(fd[0]);
    int ws = 0;
    while (waitpid(pid, &ws, 0) < 0 && errno == EINTR) continue;
    if (WIFSIGNALED(ws)) snprintf(how, n, "killed by signal %d", WTERMSIG(ws));
    else if (WEXITSTATUS(ws) != 0 || got != sizeof *o)
        snprintf(how, n, "exit code %d", WEXITSTATUS(ws));
    else return 0;
    return -1;
}

/* The peak memory a hostile file may cost. */
#define HOSTILE_KB (64 << 10)

/* The file `name` is refused by cnn_image_load with a message naming it and holding `why`,
 * in a child that ends normally and whose peak memory grows by less than HOSTILE_KB; then
 * the same in this process, for LeakSanitizer. cnn_image_size may accept the file (its header
 * can be sound) or refuse it naming it. */
static void expect_hostile(const char *name, const char *why) {
    outcome o;
    char how[64];
    if (!T_CHECK(load_in_child(t_at(name), &o, how, sizeof how) == 0, "%s: the child was %s", name,
                 how))
        return;
    expect_fail(o.load_st, o.load_err, name, name, why);
    T_CHECK(o.size_st == CNN_STATUS_OK || strstr(o.size_err, name), "%s: cnn_image_size: %s",
            name, o.size_err);
    printf("     peak memory +%.1f MB\n", o.growth_kb / 1024.0);
    if (T_CHECK(o.growth_kb < HOSTILE_KB, "%s: the load's peak memory grew by %ld KB", name,
                o.growth_kb))
        load_once(t_at(name), &o);
}

/* Rewrites the size in the frame header (SOFn) of the JPEG at path. */
static void set_jpeg_size(const char *path, int w, int h) {
    size_t n;
    unsigned char *b = read_bytes(path, &n);
    for (size_t i = 2; i + 9 < n && b[i] == 0xff; i += 2 + (size_t)(b[i + 2] << 8 | b[i + 3]))
        if (b[i + 1] >= 0xc0 && b[i + 1] <= 0xc2) {
            b[i + 5] = (unsigned char)(h >> 8), b[i + 6] = (unsigned char)h;
            b[i + 7] = (unsigned char)(w >> 8), b[i + 8] = (unsigned char)w;
            t_write_bytes(path, b, n);
            free(b);
            return;
        }
    fprintf(stderr, "%s: no frame header\n", path);
    exit(2);
}

/* The first n bytes of file `from` as file `to`, with byte k xor-ed with x (k < n, or -1). */
static void derive(const char *from, const char *to, size_t n, long k, unsigned char x) {
    size_t len;
    unsigned char *b = read_bytes(t_at(from), &len);
    if (k >= 0) b[k] ^= x;
    t_write_bytes(t_at(to), b, n < len ? n : len);
    free(b);
}

/* A progressive grey JPEG of more scans than libjpeg-turbo's 500 yet a valid progression:
 * every coefficient, the DC one included, by successive approximation from bit 10 down (11
 * scans each, 704 in all). */
static void write_many_scans(const char *path) {
    static jpeg_scan_info scans[64 * 11];
    int n = 0;
    for (int k = 0; k < 64; k++)
        for (int al = 10; al >= 0; al--)
            scans[n++] = (jpeg_scan_info){1, {0}, k, k, al == 10 ? 0 : al + 1, al};
    const jpeg_spec grey = {"scans", 1, JCS_GRAYSCALE, JCS_GRAYSCALE, 90, 1, 1, 0, 0};
    unsigned char *px = picture_pixels(16, 16, 1);
    write_jpeg(path, px, 16, 16, &grey, scans, n);
    free(px);
}

static void test_hostile(void) {
    /* stb_image 2.27 wrote out of bounds on this one (nothings/stb #1289: UBSan, index 257
     * out of bounds in stbi__build_huffman): a DHT marker whose length runs past the file. */
    t_write_bytes(t_at("stb1289.jpg"), "\xff\xd8\xff\xc4\xff\x00\x00\xa4\xa4", 9);
    expect_hostile("stb1289.jpg", "cannot decode JPEG: Premature end of JPEG file");

    /* Too many pixels for what the file holds: 873 KB of zeros that are 30000 x 30000 pixels
     * (4.5 GB to load as grey before the limit), a JPEG frame header saying 20000 x 20000
     * (whose decoder would fill all of it) or 65500 x 65500 (JPEG's largest), PNG's largest
     * sides. */
    bytes b = {0};
    png_start(&b, 30000, 30000, 0);
    png_zero_rows(&b, 30000, 30000);
    t_write_bytes(t_at("huge.png"), b.p, b.n);
    b.n = 0;
    expect_hostile("huge.png", "30000x30000 is 900000000 pixels, more than the 67108864");
    png_start(&b, 0x7fffffff, 0x7fffffff, 2);
    png_zero_rows(&b, 16, 1);
    t_write_bytes(t_at("sides.png"), b.p, b.n);
    b.n = 0;
    expect_hostile("sides.png", "2147483647x2147483647 is");
    const jpeg_spec grey = {"grey", 1, JCS_GRAYSCALE, JCS_GRAYSCALE, 90, 1, 1, 0, 0};
    unsigned char *px = picture_pixels(64, 64, 3);
    write_jpeg(t_at("huge.jpg"), px, 16, 16, &grey, NULL, 0);
    set_jpeg_size(t_at("huge.jpg"), 20000, 20000);
    expect_hostile("huge.jpg", "20000x20000 is 400000000 pixels");
    derive("huge.jpg", "sides.jpg", SIZE_MAX, -1, 0);
    set_jpeg_size(t_at("sides.jpg"), 65500, 65500);
    expect_hostile("sides.jpg", "65500x65500 is 4290250000 pixels");

    /* No pixels at all. */
    png_start(&b, 0, 16, 0);
    png_zero_rows(&b, 0, 16);
    t_write_bytes(t_at("zero.png"), b.p, b.n);
    b.n = 0;
    expect_hostile("zero.png", "Image width is zero in IHDR");
    derive("huge.jpg", "zero.jpg", SIZE_MAX, -1, 0);
    set_jpeg_size(t_at("zero.jpg"), 16, 0);
    expect_hostile("zero.jpg", "Empty JPEG image");

    /* Cut short, and damaged: CRCs, a chunk longer than the file, too little image data, a
     * marker in the middle of a JPEG's entropy-coded data. */
    const png_spec rgb = {"rgb", 8, PNG_COLOR_TYPE_RGB, 0, 0, 0};
    write_png(t_at("good.png"), &rgb, 64, 64);
    size_t png_n, jpeg_n;
    free(read_bytes(t_at("good.png"), &png_n));
    derive("good.png", "cut.png", png_n / 2, -1, 0);
    expect_hostile("cut.png", "cannot decode PNG: the file ends early (truncated)");
    derive("good.png", "signature.png", 8, -1, 0);
    expect_hostile("signature.png", "the file ends early");
    derive("good.png", "ihdr-crc.png", png_n, 29, 0x01);
    expect_hostile("ihdr-crc.png", "IHDR: CRC error");
    derive("good.png", "idat-crc.png", png_n, (long)png_n - 13, 0x80);
    expect_hostile("idat-crc.png", "IDAT: CRC error");
    png_start(&b, 16, 16, 0);
    put32(&b, 0x7ffffff0);
    put(&b, "tEXt", 4);
    t_write_bytes(t_at("long-chunk.png"), b.p, b.n);
    b.n = 0;
    expect_hostile("long-chunk.png", "chunk data is too large");
    png_start(&b, 64, 64, 0);
    png_zero_rows(&b, 64, 32);
    t_write_bytes(t_at("short-idat.png"), b.p, b.n);
    b.n = 0;
    expect_hostile("short-idat.png", "Not enough image data");
    free(b.p);

    const jpeg_spec colour = {"colour", 3, JCS_RGB, JCS_YCbCr, 90, 2, 2, 0, 0};
    write_jpeg(t_at("good.jpg"), px, 64, 64, &colour, NULL, 0);
    free(px);
    free(read_bytes(t_at("good.jpg"), &jpeg_n));
    derive("good.jpg", "cut.jpg", jpeg_n / 2, -1, 0);
    expect_hostile("cut.jpg", "cannot decode JPEG: Premature end of JPEG file");
    derive("good.jpg", "no-eoi.jpg", jpeg_n - 2, -1, 0);
    expect_hostile("no-eoi.jpg", "Premature end of JPEG file");
    unsigned char *jpeg = read_bytes(t_at("good.jpg"), &jpeg_n);
    memcpy(jpeg + jpeg_n - 200, "\xff\xd3", 2); /* a restart marker where none may be */
    t_write_bytes(t_at("marker.jpg"), jpeg, jpeg_n);
    free(jpeg);
    expect_hostile("marker.jpg", "Corrupt JPEG data");

    /* What the decoders refuse by design: more than 500 scans, two colour components. */
    write_many_scans(t_at("scans.jpg"));
    expect_hostile("scans.jpg", "more than 500 scans");
    const jpeg_spec two = {"two", 2, JCS_UNKNOWN, JCS_UNKNOWN, 90, 1, 1, 0, 0};
    px = picture_pixels(16, 16, 2);
    write_jpeg(t_at("two.jpg"), px, 16, 16, &two, NULL, 0);
    free(px);
    expect_hostile("two.jpg", "2 colour components");

    /* Not images. */
    t_write_bytes(t_at("empty.png"), "", 0);
    expect_hostile("empty.png", "not a PNG or JPEG file");
    t_write_bytes(t_at("text.jpg"), "hello, not an image\n", 20);
    expect_hostile("text.jpg", "not a PNG or JPEG file");
}

/* ---------------------------------------------------------------------------------------------
 * What the fuzzers found
 * ------------------------------------------------------------------------------------------- */

/* Every file of fuzz/regressions/png and fuzz/regressions/jpeg (the tests run from the
 * repository's root) passes fuzz_image.h's checks: refused with a message naming it, or loaded
 * (as 5 x 7, grey when its last byte is odd) to floats in [0, 1], with its size read too. */
static void test_regressions(void) {
    const char *dirs[2] = {"fuzz/regressions/png", "fuzz/regressions/jpeg"};
    int n = 0;
    for (int i = 0; i < 2; i++) {
        DIR *d = opendir(dirs[i]);
        struct dirent *e;
        while (d && (e = readdir(d))) {
            if (e->d_name[0] == '.') continue;
            char path[512], err[512] = "";
            snprintf(path, sizeof path, "%s/%s", dirs[i], e->d_name);
            size_t len;
            unsigned char *b = read_bytes(path, &len);
            int channels = len && (b[len - 1] & 1) ? 1 : 3, c, h, w;
            free(b);
            float x[3 * 5 * 7];
            n++;
            cnn_status size_st = cnn_image_size(path, &c, &h, &w, err, sizeof err);
            cnn_status st = cnn_image_load(path, channels, 5, 7, x, err, sizeof err);
            if (st != CNN_STATUS_OK) {
                T_CHECK(strstr(err, path) == err, "%s: a refusal without its name: %s", path, err);
                continue;
            }
            T_CHECK(size_st == CNN_STATUS_OK, "%s loads, yet cnn_image_size refuses it", path);
            float lo = 0, hi = 1;
            for (int k = 0; k < channels * 35; k++) {
                lo = x[k] < lo ? x[k] : lo;
                hi = x[k] > hi ? x[k] : hi;
            }
            T_CHECK(lo == 0 && hi == 1, "%s: pixels from %.9g to %.9g", path, lo, hi);
        }
        if (d) closedir(d);
    }
    printf("  ok %d inputs found by the fuzzers pass their checks\n", n);
}

/* ---------------------------------------------------------------------------------------------
 * The pixel limit
 * ------------------------------------------------------------------------------------------- */

/* Loads path with the limit CNN_MAX_IMAGE_PIXELS=limit (NULL: unset). */
static cnn_status load_with_limit(const char *limit, const char *path, char *err, size_t n) {
    if (limit) setenv("CNN_MAX_IMAGE_PIXELS", limit, 1);
    else unsetenv("CNN_MAX_IMAGE_PIXELS");
    float x[3 * 4 * 4];
    cnn_status st = cnn_image_load(path, 3, 4, 4, x, err, n);
    unsetenv("CNN_MAX_IMAGE_PIXELS");
    return st;
}

static void test_limit(void) {
    /* 10 x 10 is within a limit of 100 pixels; 10 x 11 and 11 x 10 are not, refused from the
     * header by cnn_image_size as by cnn_image_load. */
    const jpeg_spec rgb = {"rgb", 3, JCS_RGB, JCS_YCbCr, 90, 2, 2, 0, 0};
    const png_spec *grey = &good_pngs[0];
    const int sides[3][2] = {{10, 10}, {10, 11}, {11, 10}};
    char err[512] = "", name[64], want[64];
    for (int i = 0; i < 3; i++)
        for (int jpeg = 0; jpeg <= 1; jpeg++) {
            int w = sides[i][0], h = sides[i][1];
            snprintf(name, sizeof name, "%dx%d.%s", w, h, jpeg ? "jpg" : "png");
            unsigned char *px = picture_pixels(w, h, 3);
            if (jpeg) write_jpeg(t_at(name), px, w, h, &rgb, NULL, 0);
            else write_png(t_at(name), grey, w, h);
            free(px);
            cnn_status st = load_with_limit("100", t_at(name), err, sizeof err);
            if (i == 0) {
                T_CHECK(st == CNN_STATUS_OK, "%s within a limit of 100 pixels: %s", name, err);
                continue;
            }
            snprintf(want, sizeof want, "%dx%d is 110 pixels, more than the 100", w, h);
            expect_fail(st, err, "over the pixel limit", name, want);
            T_CHECK(st == CNN_STATUS_FORMAT && strstr(err, "CNN_MAX_IMAGE_PIXELS"),
                    "%s: [%s] %s", name, cnn_status_str(st), err);
            int c, hh, ww;
            setenv("CNN_MAX_IMAGE_PIXELS", "100", 1);
            st = cnn_image_size(t_at(name), &c, &hh, &ww, err, sizeof err);
            unsetenv("CNN_MAX_IMAGE_PIXELS");
            expect_fail(st, err, "cnn_image_size over the pixel limit", name, want);
            T_OK(NULL, load_with_limit(NULL, t_at(name), err, sizeof err));
            T_OK(NULL, load_with_limit("1099511627776", t_at(name), err, sizeof err));
        }

    /* Anything but a whole number from 1 to 2^40 is an error naming the variable and its
     * value, never a silent default. */
    const char *bad[] = {"", "abc", "0", "-5", "+5", " 5", "5 ", "12x", "1e6", "0x10",
                         "1099511627777", "18446744073709551616"};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        cnn_status st = load_with_limit(bad[i], t_at("10x10.png"), err, sizeof err);
        snprintf(want, sizeof want, "CNN_MAX_IMAGE_PIXELS is '%s'", bad[i]);
        expect_fail(st, err, "a bad CNN_MAX_IMAGE_PIXELS", "10x10.png", want);
        T_CHECK(st == CNN_STATUS_INVALID_ARGUMENT, "CNN_MAX_IMAGE_PIXELS='%s': %s", bad[i],
                cnn_status_str(st));
    }
}

/* ---------------------------------------------------------------------------------------------
 * Main
 * ------------------------------------------------------------------------------------------- */

/* Copies the files of the temporary folder of at most 32 KB into dir/png and dir/jpeg, by
 * extension: the fuzzers' seed corpus. */
static void write_corpus(const char *dir) {
    char sub[2][512];
    snprintf(sub[0], sizeof sub[0], "%s/png", dir);
    snprintf(sub[1], sizeof sub[1], "%s/jpeg", dir);
    for (int i = 0; i < 2; i++)
        if (mkdir(sub[i], 0755) != 0 && errno != EEXIST) {
            perror(sub[i]);
            exit(2);
        }
    DIR *d = opendir(t_at("."));
    struct dirent *e;
    int written = 0;
    while (d && (e = readdir(d))) {
        const char *dot = strrchr(e->d_name, '.');
        int jpeg = dot && !strcmp(dot, ".jpg");
        if (!dot || (!jpeg && strcmp(dot, ".png"))) continue;
        size_t n;
        unsigned char *b = read_bytes(t_at(e->d_name), &n);
        char path[1024];
        snprintf(path, sizeof path, "%s/%s", sub[jpeg], e->d_name);
        if (n <= 32768) {
            t_write_bytes(path, b, n);
            written++;
        }
        free(b);
    }
    if (d) closedir(d);
    printf("  %d files of the corpus written into %s\n", written, dir);
}

int main(int argc, char **argv) {
    const char *corpus = argc == 3 && !strcmp(argv[1], "--corpus") ? argv[2] : NULL;
    if (argc > 1 && !corpus) {
        fprintf(stderr, "usage: test_images [--corpus DIR]\n");
        return 2;
    }
    t_scratch_make("images");
    test_good();
    test_hostile();
    test_regressions();
    test_limit();
    if (corpus) write_corpus(corpus);
    t_scratch_remove();
    return t_finish();
}

/*
 * decode.c - PNG and JPEG files to pixels, with libpng and libjpeg-turbo: the decoders that
 * browsers and image tools rely on and that have been fuzzed for years (stb_image 2.27, used
 * before, writes out of bounds on hostile JPEGs: nothings/stb #1289, #1291).
 *
 * Hostile files cost little. The image's size is read from its header and refused above the
 * pixel limit (CNN_MAX_IMAGE_PIXELS, 2^26 = 64 megapixels unless set) before anything is
 * allocated for its pixels; past that check neither decoder allocates more than the header
 * promises (libpng: ancillary chunks skipped unread, a chunk held at most 8 MB; libjpeg: its
 * whole-image buffers bounded by the size, at most 500 scans).
 *
 * A damaged file is an error that names the file and says what the decoder found, never a
 * crash and never an exit. libpng and libjpeg report errors by calling a function that must
 * not return; ours longjmps back to the one setjmp of each decoder. What the decoders allocated
 * is freed by their destroy functions; what we allocate lives in the reader's struct, not in
 * locals, which a longjmp may leave stale.
 *
 * Pixels: h rows of rowbytes bytes; a row is w pixels of `channels` samples of `depth` bits
 * (16-bit samples big-endian, as PNG stores them).
 */
#include "data.h"

#include <errno.h>
#include <limits.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <jpeglib.h>
/* After jpeglib.h, whose configuration says whether arithmetic coding (and its warning) is in. */
#include <jerror.h>
#include <png.h>

/* The pixel limit unless CNN_MAX_IMAGE_PIXELS says otherwise: 64 megapixels, an 8192 x 8192
 * photograph, whose floats alone take 768 MB in colour. */
#define DEFAULT_MAX_PIXELS (UINT64_C(1) << 26)
/* The largest limit CNN_MAX_IMAGE_PIXELS may set: a terapixel, more than any machine holds,
 * and small enough that no size computed from it overflows. */
#define LARGEST_MAX_PIXELS (UINT64_C(1) << 40)

/* The most libpng holds in memory of one chunk: its default, set so that another build of
 * libpng behaves the same. Only a palette and its transparency are held here: ancillary
 * chunks are skipped unread whatever their length (a 9 MB text chunk costs nothing), and
 * image data is inflated as it streams in. */
#define PNG_CHUNK_MAX (8u << 20)

/* The pixel limit: CNN_MAX_IMAGE_PIXELS when it is set, a whole number from 1 to
 * LARGEST_MAX_PIXELS (anything else is an error, not a silent default). Read at every call,
 * so that a program may change it between loads. */
static cnn_status max_pixels(const char *path, uint64_t *max, char *err, size_t errlen) {
    const char *s = getenv("CNN_MAX_IMAGE_PIXELS");
    *max = DEFAULT_MAX_PIXELS;
    if (!s) return CNN_STATUS_OK;
    char *end = NULL;
    errno = 0;
    /* strtoull alone would accept blanks, a sign and an empty string. */
    unsigned long long v = *s >= '0' && *s <= '9' ? strtoull(s, &end, 10) : 0;
    if (!end || *end || errno || v < 1 || v > LARGEST_MAX_PIXELS)
        return cnn_set_error(err, errlen, CNN_STATUS_INVALID_ARGUMENT,
                             "%s: the environment variable CNN_MAX_IMAGE_PIXELS is '%s', not a "
                             "number of pixels from 1 to %llu",
                             path, s, (unsigned long long)LARGEST_MAX_PIXELS);
    *max = v;
    return CNN_STATUS_OK;
}

/* 0 when a w x h image is within the limit max; else 1 with the message into why. */
static int too_many_pixels(uint64_t w, uint64_t h, uint64_t max, char *why, size_t n) {
    if (h == 0 || w <= max / h) return 0;
    snprintf(why, n,
             "%llux%llu is %.0f pixels, more than the %llu an image may have (the environment "
             "variable CNN_MAX_IMAGE_PIXELS raises the limit)",
             (unsigned long long)w, (unsigned long long)h, (double)w * (double)h,
             (unsigned long long)max);
    return 1;
}

void cnn_pixels_free(cnn_pixels *p) {
    cnn_free(p->data);
    memset(p, 0, sizeof *p);
}

/* ---------------------------------------------------------------------------------------------
 * PNG (libpng)
 * ------------------------------------------------------------------------------------------- */

/* One PNG being read. */
typedef struct png_reader {
    png_structp png;
    png_infop info;
    FILE *f;
    png_bytep *rows;   /* h pointers into the pixels, for png_read_image */
    int out_of_memory; /* an allocation failed: the error is CNN_STATUS_NO_MEMORY */
    char warning[128]; /* the first warning, which often says what the error is about */
    char why[384];
} png_reader;

static void png_on_error(png_structp png, png_const_charp msg) {
    png_reader *r = png_get_error_ptr(png);
    if (r->warning[0]) snprintf(r->why, sizeof r->why, "%s (%s)", msg, r->warning);
    else snprintf(r->why, sizeof r->why, "%s", msg);
    png_longjmp(png, 1);
}

/* A warning does not stop the read, and the library prints nothing: the first is kept for
 * the message of an error that may follow ("Invalid IHDR data" comes after "Image width is
 * zero in IHDR"; "chunk data is too large" before the file ends). */
static void png_on_warning(png_structp png, png_const_charp msg) {
    png_reader *r = png_get_error_ptr(png);
    if (!r->warning[0]) snprintf(r->warning, sizeof r->warning, "%s", msg);
}

/* libpng allocates through the library's allocator, so that tests can make it fail. */
static png_voidp png_on_alloc(png_structp png, png_alloc_size_t n) {
    void *p = cnn_alloc(n);
    if (!p) ((png_reader *)png_get_mem_ptr(png))->out_of_memory = 1;
    return p;
}

static void png_on_free(png_structp png, png_voidp p) {
    (void)png;
    cnn_free(p);
}

/* libpng's own reader says only "Read Error" for a file that ends early. */
static void png_on_read(png_structp png, png_bytep data, size_t n) {
    png_reader *r = png_get_io_ptr(png);
    if (fread(data, 1, n, r->f) != n)
        png_error(png, ferror(r->f) ? strerror(errno) : "the file ends early (truncated)");
}

/* Asks libpng for the samples that `mode` wants; out gets their channels, depth and row
 * length. */
static void png_transform(png_reader *r, cnn_decode_mode mode, cnn_pixels *out) {
    int type = png_get_color_type(r->png, r->info), depth = png_get_bit_depth(r->png, r->info);
    if (mode == CNN_DECODE_MASK) {
        if (depth < 8) png_set_packing(r->png);
    } else {
        if (type == PNG_COLOR_TYPE_PALETTE) png_set_palette_to_rgb(r->png);
        if (type == PNG_COLOR_TYPE_GRAY && depth < 8) png_set_expand_gray_1_2_4_to_8(r->png);
        /* The high byte, as stb_image took it (png_set_scale_16 would round). */
        if (depth == 16) png_set_strip_16(r->png);
    }
    /* An alpha channel, and the one a palette with transparency expands to, is dropped. */
    png_set_strip_alpha(r->png);
    png_set_interlace_handling(r->png);
    png_read_update_info(r->png, r->info);
    out->channels = png_get_channels(r->png, r->info);
    out->depth = png_get_bit_depth(r->png, r->info);
    out->rowbytes = png_get_rowbytes(r->png, r->info);
    CNN_ASSERT((out->channels == 1 || out->channels == 3) &&
               (out->depth == 8 || (mode == CNN_DECODE_MASK && out->depth == 16)));
}

/* Reads the PNG at r->f into out as `mode` asks, its size already checked against max (from
 * the IHDR). 0, or -1 with r->why. */
static int png_read(png_reader *r, cnn_decode_mode mode, uint64_t max, cnn_pixels *out) {
    if (setjmp(png_jmpbuf(r->png))) return -1;
    png_set_read_fn(r->png, r, png_on_read);
    /* libpng's limits on each side (1,000,000 by default) become the pixel limit, which a
     * long strip may reach. */
    png_uint_32 side = max < PNG_UINT_31_MAX ? (png_uint_32)max : PNG_UINT_31_MAX;
    png_set_user_limits(r->png, side, side);
    png_set_chunk_malloc_max(r->png, PNG_CHUNK_MAX);
    /* Ancillary chunks (text, ICC profiles, EXIF, ...) are skipped unread: nothing here uses
     * them, and compressed ones would be inflated into memory. */
    png_set_keep_unknown_chunks(r->png, PNG_HANDLE_CHUNK_NEVER, NULL, -1);
    png_read_info(r->png, r->info);
    out->w = (int)png_get_image_width(r->png, r->info);
    out->h = (int)png_get_image_height(r->png, r->info);
    out->channels = png_get_color_type(r->png, r->info) & PNG_COLOR_MASK_COLOR ? 3 : 1;
    if (mode == CNN_DECODE_SIZE) return 0;
    png_transform(r, mode, out);
    out->data = cnn_alloc(out->rowbytes * (size_t)out->h);
    r->rows = cnn_alloc((size_t)out->h * sizeof *r->rows);
    if (!out->data || !r->rows) {
        r->out_of_memory = 1;
        snprintf(r->why, sizeof r->why, "out of memory for %dx%d pixels", out->w, out->h);
        return -1;
    }
    for (int y = 0; y < out->h; y++) r->rows[y] = out->data + (size_t)y * out->rowbytes;
    png_read_image(r->png, r->rows);
    png_read_end(r->png, NULL);
    return 0;
}

static cnn_status png_decode(const char *path, FILE *f, cnn_decode_mode mode, uint64_t max,
                             cnn_pixels *out, char *err, size_t errlen) {
    png_reader r = {.f = f};
    r.png = png_create_read_struct_2(PNG_LIBPNG_VER_STRING, &r, png_on_error, png_on_warning,
                                     &r, png_on_alloc, png_on_free);
    r.info = r.png ? png_create_info_struct(r.png) : NULL;
    const char *what = mode == CNN_DECODE_MASK ? "cannot read as a PNG mask" : "cannot decode PNG";
    cnn_status st = CNN_STATUS_OK;
    if (!r.info)
        st = cnn_set_error(err, errlen, CNN_STATUS_NO_MEMORY, "%s: out of memory", path);
    else if (png_read(&r, mode, max, out) != 0)
        st = cnn_set_error(err, errlen, r.out_of_memory ? CNN_STATUS_NO_MEMORY : CNN_STATUS_FORMAT,
                           "%s: %s: %s", path, what, r.why);
    if (r.png) png_destroy_read_struct(&r.png, r.info ? &r.info : NULL, NULL);
    cnn_free(r.rows);
    return st;
}

/* ---------------------------------------------------------------------------------------------
 * JPEG (libjpeg-turbo)
 * ------------------------------------------------------------------------------------------- */

/* A progressive JPEG has about ten scans; a hostile one may have thousands, each a pass over
 * the whole image. libjpeg-turbo's own tools stop at 500 (TJFLAG_LIMITSCANS, djpeg -maxscans). */
#define MAX_SCANS 500

/* One JPEG being read. */
typedef struct jpeg_reader {
    struct jpeg_decompress_struct d;
    struct jpeg_error_mgr jerr;
    struct jpeg_progress_mgr progress;
    jmp_buf jump;
    unsigned char *cmyk; /* one row of CMYK samples, converted to RGB into the pixels */
    cnn_status st;       /* the error when jpeg_read fails */
    int too_big;         /* why is the pixel limit's message, not libjpeg's */
    char why[256 + JMSG_LENGTH_MAX];
} jpeg_reader;

static void jpeg_on_error(j_common_ptr c) {
    jpeg_reader *r = c->client_data;
    (*c->err->format_message)(c, r->why);
    if (c->err->msg_code == JERR_OUT_OF_MEMORY) r->st = CNN_STATUS_NO_MEMORY;
    longjmp(r->jump, 1);
}

/* Warnings after which libjpeg goes on with grey or garbage where data was missing or wrong
 * are errors here, so that a damaged image never reaches a network (a file cut short is one).
 * The other warnings (stray bytes between markers, an unknown JFIF version or Adobe transform,
 * a bad ICC profile) leave every pixel as encoded, and trace messages (level >= 0) are only
 * that: both are dropped, as the library prints nothing. */
static void jpeg_on_message(j_common_ptr c, int level) {
    int code = c->err->msg_code;
    if (level < 0 && (code == JWRN_JPEG_EOF || code == JWRN_HIT_MARKER ||
                      code == JWRN_MUST_RESYNC || code == JWRN_HUFF_BAD_CODE ||
                      code == JWRN_ARITH_BAD_CODE || code == JWRN_BOGUS_PROGRESSION))
        jpeg_on_error(c);
}

static void jpeg_on_progress(j_common_ptr c) {
    jpeg_reader *r = c->client_data;
    if (r->d.input_scan_number <= MAX_SCANS) return;
    snprintf(r->why, sizeof r->why, "more than %d scans", MAX_SCANS);
    longjmp(r->jump, 1);
}

/* Adobe's CMYK, which libjpeg returns as stored: inverted (255 is no ink). Each of R, G, B is
 * (255 - ink) (255 - black) / 255, the stored values' product / 255, rounded exactly by
 * Blinn's (t + (t >> 8)) >> 8 with t = x y + 128, as stb_image did. */
static void cmyk_to_rgb(const unsigned char *cmyk, unsigned char *rgb, int w) {
    for (int x = 0; x < w; x++, cmyk += 4, rgb += 3)
        for (int ch = 0; ch < 3; ch++) {
            unsigned t = (unsigned)cmyk[ch] * cmyk[3] + 128;
            rgb[ch] = (unsigned char)((t + (t >> 8)) >> 8);
        }
}

/* The header of the JPEG: out's size and channels (1 grey, 3 colour or CMYK). 0, or -1 with
 * r->why for a number of components that is none of those. */
static int jpeg_header(jpeg_reader *r, cnn_pixels *out) {
    jpeg_read_header(&r->d, TRUE);
    int n = r->d.num_components;
    out->w = (int)r->d.image_width;
    out->h = (int)r->d.image_height;
    out->channels = n >= 3 ? 3 : 1;
    if (n == 1 || n == 3 || n == 4) return 0;
    snprintf(r->why, sizeof r->why, "%d colour components (grey has 1, colour 3, CMYK 4)", n);
    return -1;
}

/* What libjpeg may hold for an image of the header's size: libjpeg consults it when it places
 * its whole-image coefficient buffers (progressive and multi-scan files), which take 2 bytes a
 * sample with each side padded to whole MCUs (at most 32 pixels), and counts in what it has
 * allocated before, row buffers of a few dozen rows. Without a backing store (Debian's build
 * has none), a file that needs more is an error. */
static long jpeg_memory_bound(const struct jpeg_decompress_struct *d) {
    uint64_t w = d->image_width + UINT64_C(64), h = d->image_height + UINT64_C(64);
    uint64_t n = (uint64_t)d->num_components;
    uint64_t bytes = 2 * w * h * n + 256 * w * n + (UINT64_C(1) << 20);
    return bytes > LONG_MAX ? LONG_MAX : (long)bytes;
}

/* Reads the JPEG at f into out as 8-bit grey or RGB, refusing images over max pixels. 0, or
 * -1 with r->why and r->st. */
static int jpeg_read(jpeg_reader *r, FILE *f, cnn_decode_mode mode, uint64_t max,
                     cnn_pixels *out) {
    if (setjmp(r->jump)) return -1;
    jpeg_create_decompress(&r->d);
    jpeg_stdio_src(&r->d, f);
    if (jpeg_header(r, out) != 0) return -1;
    r->too_big = too_many_pixels((uint64_t)out->w, (uint64_t)out->h, max, r->why, sizeof r->why);
    if (r->too_big) return -1;
    if (mode == CNN_DECODE_SIZE) return 0;
    int n = r->d.num_components;
    r->d.out_color_space = n == 1 ? JCS_GRAYSCALE : n == 3 ? JCS_RGB : JCS_CMYK;
    r->d.mem->max_memory_to_use = jpeg_memory_bound(&r->d);
    r->progress.progress_monitor = jpeg_on_progress;
    r->d.progress = &r->progress;
    jpeg_start_decompress(&r->d);
    out->depth = 8;
    out->rowbytes = (size_t)out->w * (size_t)out->channels;
    out->data = cnn_alloc(out->rowbytes * (size_t)out->h);
    if (n == 4) r->cmyk = cnn_alloc(4 * (size_t)out->w);
    if (!out->data || (n == 4 && !r->cmyk)) {
        r->st = CNN_STATUS_NO_MEMORY;
        snprintf(r->why, sizeof r->why, "out of memory for %dx%d pixels", out->w, out->h);
        return -1;
    }
    /* A stdio source never suspends, so every call makes progress (djpeg's loop). */
    while (r->d.output_scanline < r->d.output_height) {
        unsigned char *dst = out->data + (size_t)r->d.output_scanline * out->rowbytes;
        JSAMPROW row = n == 4 ? r->cmyk : dst;
        if (jpeg_read_scanlines(&r->d, &row, 1) == 1 && n == 4) cmyk_to_rgb(r->cmyk, dst, out->w);
    }
    jpeg_finish_decompress(&r->d);
    return 0;
}

static cnn_status jpeg_decode(const char *path, FILE *f, cnn_decode_mode mode, uint64_t max,
                              cnn_pixels *out, char *err, size_t errlen) {
    jpeg_reader r;
    memset(&r, 0, sizeof r);
    r.d.err = jpeg_std_error(&r.jerr);
    r.jerr.error_exit = jpeg_on_error;
    r.jerr.emit_message = jpeg_on_message;
    r.d.client_data = &r;
    r.st = CNN_STATUS_FORMAT;
    cnn_status st = CNN_STATUS_OK;
    if (jpeg_read(&r, f, mode, max, out) != 0)
        st = cnn_set_error(err, errlen, r.st, "%s: %s%s", path,
                           r.too_big ? "" : "cannot decode JPEG: ", r.why);
    jpeg_destroy_decompress(&r.d);
    cnn_free(r.cmyk);
    return st;
}

/* ---------------------------------------------------------------------------------------------
 * Files
 * ------------------------------------------------------------------------------------------- */

static int is_png(const unsigned char *b, size_t n) {
    static const unsigned char sig[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};
    return n >= 8 && memcmp(b, sig, 8) == 0;
}

/* JPEG's start-of-image marker and the first byte of the next marker. */
static int is_jpeg(const unsigned char *b, size_t n) {
    return n >= 3 && b[0] == 0xff && b[1] == 0xd8 && b[2] == 0xff;
}

static uint32_t be32(const unsigned char *b) {
    return (uint32_t)b[0] << 24 | (uint32_t)b[1] << 16 | (uint32_t)b[2] << 8 | b[3];
}

cnn_status cnn_image_decode(const char *path, cnn_decode_mode mode, cnn_pixels *out, char *err,
                            size_t errlen) {
    memset(out, 0, sizeof *out);
    uint64_t max;
    cnn_status st = max_pixels(path, &max, err, errlen);
    if (st != CNN_STATUS_OK) return st;
    FILE *f = fopen(path, "rb");
    if (!f)
        return cnn_set_error(err, errlen, CNN_STATUS_IO, "%s: cannot open: %s", path,
                             strerror(errno));
    /* The format is told by the first bytes, not by the file's name; a PNG's size too, from
     * its IHDR (the first chunk, or libpng refuses the file), before libpng sees the file. */
    unsigned char head[24];
    size_t got = fread(head, 1, sizeof head, f);
    int png = is_png(head, got), jpeg = !png && mode != CNN_DECODE_MASK && is_jpeg(head, got);
    char why[256];
    if (ferror(f))
        st = cnn_set_error(err, errlen, CNN_STATUS_IO, "%s: read error: %s", path,
                           strerror(errno));
    else if (!png && !jpeg)
        st = cnn_set_error(err, errlen, CNN_STATUS_FORMAT, "%s: %s", path,
                           mode == CNN_DECODE_MASK ? "cannot read as a PNG mask: not a PNG file"
                                                   : "not a PNG or JPEG file");
    else if (fseek(f, 0, SEEK_SET) != 0)
        st = cnn_set_error(err, errlen, CNN_STATUS_IO, "%s: cannot seek: %s", path,
                           strerror(errno));
    else if (png && got == sizeof head && !memcmp(head + 12, "IHDR", 4) &&
             too_many_pixels(be32(head + 16), be32(head + 20), max, why, sizeof why))
        st = cnn_set_error(err, errlen, CNN_STATUS_FORMAT, "%s: %s", path, why);
    else if (png)
        st = png_decode(path, f, mode, max, out, err, errlen);
    else
        st = jpeg_decode(path, f, mode, max, out, err, errlen);
    fclose(f);
    if (st != CNN_STATUS_OK) cnn_pixels_free(out);
    return st;
}

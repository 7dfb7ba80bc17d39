/*
 * test_canvas.c - the picture code (src/viz): the font has a distinct, non-empty glyph for
 * every printable ASCII character and text is as wide as documented; exact drawing sets
 * exactly the pixels it should (a diagonal line, rectangles clipped at the borders, glyphs,
 * blits); viridis gets lighter monotonically; a PNG reads back with the same pixels, a failed
 * save names the file and leaves no temporary file; nice ticks; plots of edge cases (one
 * point, constant and NaN series) render; a training CSV becomes a PNG of the documented size
 * and every kind of malformed CSV is an error naming file:line.
 *
 * Files go to a fresh directory under /tmp, removed at the end. PNGs are read back with
 * stb_image, a decoder independent of the libpng writer.
 */
#include "testlib.h"

#include "../src/viz/canvas.h"
#include "../src/viz/plot.h"

#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <stb/stb_image.h>

static char dir[] = "/tmp/cnn_canvas_XXXXXX";

#define BG 0x102030u
#define FG 0xf0e0d0u

/* The number of pixels of c that are not the background. */
static int count_set(const cnn_canvas *c, uint32_t bg) {
    int n = 0;
    for (int y = 0; y < c->height; y++)
        for (int x = 0; x < c->width; x++) n += cnn_canvas_get(c, x, y) != bg;
    return n;
}

static int exists(const char *path) { return access(path, F_OK) == 0; }

/* Writes text to the file at path (a failed check if it cannot). */
static void write_file(const char *path, const char *text) {
    FILE *f = fopen(path, "w");
    T_CHECK(f != NULL, "cannot create %s", path);
    if (!f) return;
    fputs(text, f);
    T_CHECK(fclose(f) == 0, "cannot write %s", path);
}

static void test_font(void) {
    int n = CNN_FONT_LAST - CNN_FONT_FIRST + 1;
    T_CHECK(n == 95, "%d glyphs for printable ASCII", n);
    for (int i = 0; i < n; i++) {
        int ch = CNN_FONT_FIRST + i, bits = 0, stray = 0;
        for (int r = 0; r < CNN_FONT_H; r++) {
            bits |= cnn_font_glyphs[i][r];
            stray |= cnn_font_glyphs[i][r] & ~0x1f;
        }
        if (ch == ' ')
            T_CHECK(bits == 0, "space is not blank");
        else
            T_CHECK(bits != 0, "glyph '%c' is empty", ch);
        T_CHECK(stray == 0, "glyph '%c' has bits outside its 5 columns", ch);
        for (int j = 0; j < i; j++)
            T_CHECK(memcmp(cnn_font_glyphs[i], cnn_font_glyphs[j], CNN_FONT_H) != 0,
                    "glyphs '%c' and '%c' are identical", ch, CNN_FONT_FIRST + j);
        T_CHECK(memcmp(cnn_font_glyphs[i], cnn_font_missing, CNN_FONT_H) != 0,
                "glyph '%c' looks like the missing-character box", ch);
    }
}

static void test_text(void) {
    T_CHECK(cnn_canvas_text_width("", 1) == 0, "empty text has width");
    T_CHECK(cnn_canvas_text_width("abc", 1) == 3 * 6 - 1, "width %d",
            cnn_canvas_text_width("abc", 1));
    T_CHECK(cnn_canvas_text_width("abc", 3) == 3 * (3 * 6 - 1), "width %d",
            cnn_canvas_text_width("abc", 3));
    T_CHECK(cnn_canvas_text_width("ab\ncdef\nx", 1) == 4 * 6 - 1, "widest line %d",
            cnn_canvas_text_width("ab\ncdef\nx", 1));
    /* One box per code point, whatever its UTF-8 length, and per malformed byte. */
    T_CHECK(cnn_canvas_text_width("a\xc3\xa9z", 1) == 3 * 6 - 1, "2-byte UTF-8 %d",
            cnn_canvas_text_width("a\xc3\xa9z", 1));
    T_CHECK(cnn_canvas_text_width("\xe2\x82\xac\xf0\x9f\x98\x80", 2) == 2 * (2 * 6 - 1),
            "3- and 4-byte UTF-8 %d", cnn_canvas_text_width("\xe2\x82\xac\xf0\x9f\x98\x80", 2));
    T_CHECK(cnn_canvas_text_width("\x80\xff", 1) == 2 * 6 - 1, "malformed bytes %d",
            cnn_canvas_text_width("\x80\xff", 1));
    T_CHECK(cnn_canvas_text_height(2) == 18, "height %d", cnn_canvas_text_height(2));

    /* The pixels of "A" at scale 2 are the glyph's bits, each a 2 x 2 block. */
    cnn_canvas *c = cnn_canvas_new(20, 24, BG);
    int w = cnn_canvas_text(c, 3, 2, 2, FG, "A");
    T_CHECK(w == 10, "text returned width %d", w);
    const uint8_t *g = cnn_font_glyphs['A' - CNN_FONT_FIRST];
    int wrong = 0, set = 0;
    for (int y = 0; y < c->height; y++)
        for (int x = 0; x < c->width; x++) {
            int gx = (x - 3) / 2, gy = (y - 2) / 2;
            int on = x >= 3 && y >= 2 && gx < CNN_FONT_W && gy < CNN_FONT_H &&
                     (g[gy] & (0x10 >> gx));
            wrong += (cnn_canvas_get(c, x, y) == FG) != on;
            set += on;
        }
    T_CHECK(wrong == 0 && set > 0, "%d pixels of 'A' wrong", wrong);

    /* Upward text: glyph row r is column x + r, glyph column k is row y - 1 - k. */
    cnn_canvas_fill_rect(c, 0, 0, c->width, c->height, BG);
    cnn_canvas_text_up(c, 2, 12, 1, FG, "I");
    g = cnn_font_glyphs['I' - CNN_FONT_FIRST];
    wrong = 0;
    for (int r = 0; r < CNN_FONT_H; r++)
        for (int k = 0; k < CNN_FONT_W; k++)
            wrong += (cnn_canvas_get(c, 2 + r, 12 - 1 - k) == FG) != !!(g[r] & (0x10 >> k));
    T_CHECK(wrong == 0, "%d pixels of upward 'I' wrong", wrong);
    T_CHECK(count_set(c, BG) == 11, "upward 'I' set %d pixels", count_set(c, BG));

    /* Text partly and wholly off the canvas is clipped, not a crash. */
    cnn_canvas_text(c, -7, -5, 3, FG, "clip me");
    cnn_canvas_text(c, INT_MAX - 10, INT_MAX - 10, 1, FG, "far away");
    cnn_canvas_text_up(c, INT_MIN + 5, 3, 4, FG, "far away");
    cnn_canvas_free(c);
}

static void test_lines(void) {
    cnn_canvas *c = cnn_canvas_new(12, 12, BG);
    for (int way = 0; way < 2; way++) {
        cnn_canvas_fill_rect(c, 0, 0, 12, 12, BG);
        if (way == 0)
            cnn_canvas_line(c, 0, 0, 9, 9, 1, FG);
        else
            cnn_canvas_line(c, 9, 9, 0, 0, 1, FG);
        int wrong = 0;
        for (int y = 0; y < 12; y++)
            for (int x = 0; x < 12; x++)
                wrong += (cnn_canvas_get(c, x, y) == FG) != (x == y && x <= 9);
        T_CHECK(wrong == 0, "line (0,0)-(9,9) direction %d: %d pixels wrong", way, wrong);
    }
    /* A line with both ends far outside still draws its visible part, and quickly. */
    cnn_canvas_fill_rect(c, 0, 0, 12, 12, BG);
    cnn_canvas_line(c, -1000000000, 5, 1000000000, 5, 1, FG);
    int row = 0;
    for (int x = 0; x < 12; x++) row += cnn_canvas_get(c, x, 5) == FG;
    T_CHECK(row == 12 && count_set(c, BG) == 12, "far horizontal line: %d of row, %d in all",
            row, count_set(c, BG));
    cnn_canvas_fill_rect(c, 0, 0, 12, 12, BG);
    cnn_canvas_line(c, INT_MIN, INT_MIN, INT_MAX, INT_MAX, 1, FG);
    cnn_canvas_line(c, -50, 30, 40, 60, 1, FG); /* misses the canvas entirely */
    int diag = 0;
    for (int x = 0; x < 12; x++) diag += cnn_canvas_get(c, x, x) == FG;
    T_CHECK(diag >= 11, "extreme diagonal drew %d of the diagonal", diag);
    /* Thick strokes: the middle of the stroke is the full colour, far pixels untouched. */
    cnn_canvas_fill_rect(c, 0, 0, 12, 12, BG);
    cnn_canvas_line(c, 1, 6, 10, 6, 3, FG);
    T_CHECK(cnn_canvas_get(c, 5, 6) == FG, "thick line centre %06x", cnn_canvas_get(c, 5, 6));
    T_CHECK(cnn_canvas_get(c, 5, 1) == BG && cnn_canvas_get(c, 5, 11) == BG,
            "thick line too thick");
    cnn_canvas_line(c, -2000000000, -7, 2000000000, 20, 4, FG);
    cnn_canvas_free(c);
}

static void test_rects(void) {
    cnn_canvas *c = cnn_canvas_new(10, 8, BG);
    cnn_canvas_fill_rect(c, -3, -2, 6, 5, FG); /* visible part: x 0..2, y 0..2 */
    int wrong = 0;
    for (int y = 0; y < 8; y++)
        for (int x = 0; x < 10; x++) wrong += (cnn_canvas_get(c, x, y) == FG) != (x < 3 && y < 3);
    T_CHECK(wrong == 0, "rectangle clipped at the top-left: %d pixels wrong", wrong);
    cnn_canvas_fill_rect(c, 0, 0, 10, 8, BG);
    cnn_canvas_fill_rect(c, 8, 6, 100, 100, FG); /* visible part: x 8..9, y 6..7 */
    wrong = 0;
    for (int y = 0; y < 8; y++)
        for (int x = 0; x < 10; x++)
            wrong += (cnn_canvas_get(c, x, y) == FG) != (x >= 8 && y >= 6);
    T_CHECK(wrong == 0, "rectangle clipped at the bottom-right: %d pixels wrong", wrong);
    cnn_canvas_fill_rect(c, 0, 0, 10, 8, BG);
    cnn_canvas_fill_rect(c, INT_MAX - 1, 0, INT_MAX, 5, FG);
    cnn_canvas_fill_rect(c, INT_MIN, INT_MIN, INT_MAX, INT_MAX, FG);
    cnn_canvas_fill_rect(c, 2, 2, 0, 3, FG);
    cnn_canvas_fill_rect(c, 2, 2, -4, 3, FG);
    T_CHECK(count_set(c, BG) == 0, "rectangles outside or empty drew %d pixels",
            count_set(c, BG));
    cnn_canvas_fill_rect(c, INT_MIN, INT_MIN + 1, INT_MAX, INT_MAX, FG);
    cnn_canvas_fill_rect(c, -5, -5, INT_MAX, INT_MAX, FG);
    T_CHECK(count_set(c, BG) == 80, "a huge rectangle covered %d of 80", count_set(c, BG));
    cnn_canvas_fill_rect(c, 0, 0, 10, 8, BG);
    cnn_canvas_frame(c, 1, 1, 4, 3, FG);
    T_CHECK(count_set(c, BG) == 10 && cnn_canvas_get(c, 2, 2) == BG, "frame set %d pixels",
            count_set(c, BG));
    cnn_canvas_put(c, -1, 0, FG);
    cnn_canvas_put(c, 10, 0, FG);
    T_CHECK(cnn_canvas_get(c, -1, 0) == 0 && cnn_canvas_get(c, 0, 8) == 0, "get outside");
    cnn_canvas_free(c);

    T_CHECK(cnn_canvas_new(0, 5, BG) == NULL, "zero width accepted");
    T_CHECK(cnn_canvas_new(5, -1, BG) == NULL, "negative height accepted");
    T_CHECK(cnn_canvas_new(1 << 20, 1 << 20, BG) == NULL, "2^40 pixels accepted");
    cnn_canvas_free(NULL);
}

/* Relative luminance of 8-bit sRGB (linearised, as WCAG defines it). */
static double luminance(const uint8_t rgb[3]) {
    double lin[3];
    for (int k = 0; k < 3; k++) {
        double v = rgb[k] / 255.0;
        lin[k] = v <= 0.04045 ? v / 12.92 : pow((v + 0.055) / 1.055, 2.4);
    }
    return 0.2126 * lin[0] + 0.7152 * lin[1] + 0.0722 * lin[2];
}

static void test_colormap(void) {
    /* Viridis only gets lighter. At fine steps rounding each channel to 8 bits can make a
     * neighbour a hair darker (a blue code lost before a green one is gained), so fine steps
     * may drop by less than 1e-3 of white's luminance, far below what an eye sees, while at
     * 64 steps every colour is strictly lighter than the one before. */
    uint8_t prev[3], cur[3];
    int drops = 0, coarse_drops = 0;
    double worst = 0.0;
    cnn_colormap(0.0f, prev);
    for (int i = 1; i <= 1000; i++) {
        cnn_colormap(i / 1000.0f, cur);
        double d = luminance(cur) - luminance(prev);
        worst = d < worst ? d : worst;
        drops += d < -1e-3;
        memcpy(prev, cur, 3);
    }
    cnn_colormap(0.0f, prev);
    for (int i = 1; i <= 64; i++) {
        cnn_colormap(i / 64.0f, cur);
        coarse_drops += !(luminance(cur) > luminance(prev));
        memcpy(prev, cur, 3);
    }
    T_CHECK(drops == 0, "viridis luminance drops by more than rounding %d times (worst %g)",
            drops, worst);
    T_CHECK(coarse_drops == 0, "viridis at 64 steps is not strictly lighter %d times",
            coarse_drops);
    uint8_t lo[3], hi[3], m[3];
    cnn_colormap(0.0f, lo);
    cnn_colormap(1.0f, hi);
    T_CHECK(lo[0] == 68 && lo[1] == 1 && lo[2] == 84, "viridis(0) %d %d %d", lo[0], lo[1], lo[2]);
    T_CHECK(hi[0] == 253 && hi[1] == 231 && hi[2] == 37, "viridis(1) %d %d %d", hi[0], hi[1],
            hi[2]);
    T_CHECK(luminance(hi) > 10 * luminance(lo), "viridis spans too little lightness");
    cnn_colormap(0.5f, m); /* matplotlib: #21918c */
    T_CHECK(abs(m[0] - 0x21) <= 2 && abs(m[1] - 0x91) <= 2 && abs(m[2] - 0x8c) <= 2,
            "viridis(0.5) %02x%02x%02x", m[0], m[1], m[2]);
    cnn_colormap(-3.0f, m);
    T_CHECK(!memcmp(m, lo, 3), "t < 0 not clamped");
    cnn_colormap(7.0f, m);
    T_CHECK(!memcmp(m, hi, 3), "t > 1 not clamped");
    cnn_colormap(NAN, m);
    T_CHECK(m[0] == 128 && m[1] == 128 && m[2] == 128, "NaN is not grey");
}

static void test_blits(void) {
    cnn_canvas *c = cnn_canvas_new(8, 6, BG);
    float v[6] = {0.0f, 0.5f, 1.0f, -1.0f, 2.0f, NAN};
    cnn_canvas_blit_gray(c, 1, 1, v, 3, 2, 0.0f, 1.0f, 2);
    T_CHECK(cnn_canvas_get(c, 1, 1) == 0x000000 && cnn_canvas_get(c, 2, 2) == 0x000000,
            "lo is not black");
    T_CHECK(cnn_canvas_get(c, 3, 1) == 0x808080, "middle grey %06x", cnn_canvas_get(c, 3, 1));
    T_CHECK(cnn_canvas_get(c, 6, 2) == 0xffffff, "hi is not white");
    T_CHECK(cnn_canvas_get(c, 1, 3) == 0x000000 && cnn_canvas_get(c, 4, 4) == 0xffffff,
            "values outside [lo, hi] not clamped");
    T_CHECK(cnn_canvas_get(c, 6, 4) == 0xff0000, "NaN not red");
    T_CHECK(cnn_canvas_get(c, 0, 0) == BG && cnn_canvas_get(c, 7, 5) == BG,
            "blit outside its blocks");
    cnn_canvas_blit_gray(c, 6, 4, v, 3, 2, 0.0f, 1.0f, 5); /* clipped at the corner */

    float rgb[3 * 2] = {1, 0, 0, 0.5f, 0, 1}; /* (3, 1, 2): pixel 0 red, pixel 1 (0, .5, 1) */
    cnn_canvas_blit_rgb(c, 0, 0, rgb, 2, 1, 0.0f, 1.0f, 1);
    T_CHECK(cnn_canvas_get(c, 0, 0) == 0xff0000, "rgb pixel 0 %06x", cnn_canvas_get(c, 0, 0));
    T_CHECK(cnn_canvas_get(c, 1, 0) == 0x0080ff, "rgb pixel 1 %06x", cnn_canvas_get(c, 1, 0));

    cnn_canvas_fill_rect(c, 0, 0, 8, 6, 0x646464);
    float h[3] = {0.0f, 1.0f, NAN};
    cnn_canvas_blit_heat(c, 0, 0, h, 3, 1, 0.0f, 1.0f, 1, 1.0f);
    cnn_canvas_blit_heat(c, 0, 1, h, 3, 1, 0.0f, 1.0f, 1, 0.5f);
    uint8_t m[3];
    cnn_colormap(1.0f, m);
    uint32_t top = (uint32_t)m[0] << 16 | (uint32_t)m[1] << 8 | m[2];
    T_CHECK(cnn_canvas_get(c, 1, 0) == top, "opaque heat %06x", cnn_canvas_get(c, 1, 0));
    uint32_t half = cnn_canvas_get(c, 1, 1);
    int ok = 1;
    for (int k = 0; k < 3; k++) {
        int got = (half >> (16 - 8 * k)) & 0xff, want = (m[k] + 100 + 1) / 2;
        ok &= abs(got - want) <= 1;
    }
    T_CHECK(ok, "half-blended heat %06x over grey 100", half);
    T_CHECK(cnn_canvas_get(c, 2, 0) == 0x646464 && cnn_canvas_get(c, 2, 1) == 0x646464,
            "NaN heat is not transparent");

    float lo, hi, some[5] = {NAN, 3.0f, -2.0f, INFINITY, 0.5f};
    cnn_minmax(some, 5, &lo, &hi);
    T_CHECK(lo == -2.0f && hi == 3.0f, "minmax %g %g", lo, hi);
    cnn_minmax(some, 1, &lo, &hi);
    T_CHECK(lo == 0.0f && hi == 0.0f, "minmax of nothing finite %g %g", lo, hi);
    cnn_canvas_free(c);

    /* The colour bar runs from the top colour of the map down to the bottom one. */
    c = cnn_canvas_new(80, 120, 0xffffff);
    cnn_canvas_colorbar(c, 10, 15, 12, 100, -1.0f, 1.0f, "value");
    cnn_colormap(0.0f, m);
    uint32_t bottom = (uint32_t)m[0] << 16 | (uint32_t)m[1] << 8 | m[2];
    T_CHECK(cnn_canvas_get(c, 15, 15) == top, "colour bar top %06x", cnn_canvas_get(c, 15, 15));
    T_CHECK(cnn_canvas_get(c, 15, 114) == bottom, "colour bar bottom %06x",
            cnn_canvas_get(c, 15, 114));
    int labels = 0;
    for (int y = 0; y < 120; y++)
        for (int x = 30; x < 80; x++) labels += cnn_canvas_get(c, x, y) != 0xffffff;
    T_CHECK(labels > 50, "colour bar has no tick labels");
    cnn_canvas_colorbar(c, 10, 15, 12, 100, 2.0f, 2.0f, NULL); /* an empty range */
    cnn_canvas_free(c);
}

static void test_ticks(void) {
    double first, last, step;
    step = cnn_nice_ticks(0.0, 1.0, 5, 0.0, &first, &last);
    T_CHECK(fabs(step - 0.2) < 1e-12 && first == 0.0 && fabs(last - 1.0) < 1e-12,
            "ticks of [0, 1]: step %g from %g to %g", step, first, last);
    step = cnn_nice_ticks(0.03, 2.31, 5, 0.0, &first, &last);
    T_CHECK(step == 0.5 && first == 0.0 && last == 2.5, "ticks of [0.03, 2.31]: %g %g %g", step,
            first, last);
    step = cnn_nice_ticks(1.0, 3.0, 6, 1.0, &first, &last);
    T_CHECK(step == 1.0 && first == 1.0 && last == 3.0, "integer ticks of [1, 3]: %g %g %g", step,
            first, last);
    step = cnn_nice_ticks(-7e-5, 3e-4, 4, 0.0, &first, &last);
    T_CHECK(fabs(step - 1e-4) < 1e-18 && fabs(first + 1e-4) < 1e-18 && fabs(last - 3e-4) < 1e-18,
            "ticks of [-7e-5, 3e-4]: %g %g %g", step, first, last);
    char buf[32];
    cnn_tick_label(0.6000000000000001, 0.2, buf, sizeof buf);
    T_CHECK(!strcmp(buf, "0.6"), "label '%s'", buf);
    cnn_tick_label(-1e-17, 0.05, buf, sizeof buf);
    T_CHECK(!strcmp(buf, "0.00"), "label of -0: '%s'", buf);
    cnn_tick_label(40.0, 10.0, buf, sizeof buf);
    T_CHECK(!strcmp(buf, "40"), "label '%s'", buf);
    cnn_tick_label(1.5e7, 5e6, buf, sizeof buf);
    T_CHECK(!strcmp(buf, "1.5e+07"), "label '%s'", buf);
}

static void test_png(void) {
    char path[256], tmp[300];
    snprintf(path, sizeof path, "%s/pattern.png", dir);
    snprintf(tmp, sizeof tmp, "%s.tmp.%ld", path, (long)getpid());
    cnn_canvas *c = cnn_canvas_new(37, 23, 0);
    for (int y = 0; y < 23; y++)
        for (int x = 0; x < 37; x++)
            cnn_canvas_put(c, x, y, ((uint32_t)(x * 7) << 16) | ((uint32_t)(y * 11) << 8) |
                                        (uint32_t)((x * y * 13) & 0xff));
    char err[512] = "";
    cnn_status st = cnn_canvas_save_png(c, path, err, sizeof err);
    T_CHECK(st == CNN_STATUS_OK, "save: %s", err);
    T_CHECK(!exists(tmp), "temporary file left behind");
    int w = 0, h = 0, n = 0;
    unsigned char *img = stbi_load(path, &w, &h, &n, 3);
    T_CHECK(img && w == 37 && h == 23, "read back %dx%d", w, h);
    if (img && w == 37 && h == 23)
        T_CHECK(memcmp(img, c->pixels, 37 * 23 * 3) == 0, "pixels differ after a round trip");
    stbi_image_free(img);

    /* Saving again replaces the picture. */
    cnn_canvas_fill_rect(c, 0, 0, 37, 23, 0x123456);
    st = cnn_canvas_save_png(c, path, err, sizeof err);
    img = stbi_load(path, &w, &h, &n, 3);
    T_CHECK(st == CNN_STATUS_OK && img && img[0] == 0x12 && img[1] == 0x34 && img[2] == 0x56,
            "second save did not replace the picture");
    stbi_image_free(img);

    /* A directory that does not exist: an error naming the file, nothing created. */
    char bad[300];
    snprintf(bad, sizeof bad, "%s/no_such_dir/pic.png", dir);
    err[0] = 0;
    st = cnn_canvas_save_png(c, bad, err, sizeof err);
    T_CHECK(st == CNN_STATUS_IO, "save into a missing directory: %s", cnn_status_str(st));
    T_CHECK(strstr(err, "no_such_dir/pic.png") != NULL, "message does not name the file: %s",
            err);
    printf("  missing directory: %s\n", err);

    /* The temporary file is created but cannot be renamed over a directory: the old content
     * stays and the temporary file goes. */
    char sub[300], subtmp[340], inner[340];
    snprintf(sub, sizeof sub, "%s/adir", dir);
    snprintf(subtmp, sizeof subtmp, "%s.tmp.%ld", sub, (long)getpid());
    snprintf(inner, sizeof inner, "%s/keep", sub);
    T_CHECK(mkdir(sub, 0700) == 0, "mkdir %s", sub);
    write_file(inner, "x");
    err[0] = 0;
    st = cnn_canvas_save_png(c, sub, err, sizeof err);
    T_CHECK(st == CNN_STATUS_IO, "save over a directory: %s", cnn_status_str(st));
    T_CHECK(strstr(err, sub) != NULL, "message does not name the file: %s", err);
    T_CHECK(!exists(subtmp), "temporary file left behind after a failed rename");
    T_CHECK(exists(inner), "the directory lost its content");
    printf("  rename failure: %s\n", err);
    unlink(inner);
    rmdir(sub);

    st = cnn_canvas_save_png(c, "", err, sizeof err);
    T_CHECK(st == CNN_STATUS_INVALID_ARGUMENT, "empty path accepted");
    cnn_canvas_free(c);
    unlink(path);
}

/* The size of a PNG, or -1 x -1. */
static void png_size(const char *path, int *w, int *h) {
    int n;
    *w = *h = -1;
    if (!stbi_info(path, w, h, &n)) *w = *h = -1;
}

static void test_plots(void) {
    char path[256], err[512];
    snprintf(path, sizeof path, "%s/plot.png", dir);
    double x1[1] = {3}, y1[1] = {0.25};
    double xs[6] = {1, 2, 3, 4, 5, 6};
    double flat[6] = {2, 2, 2, 2, 2, 2};
    double holes[6] = {1.0, NAN, 0.8, INFINITY, 0.5, NAN};
    double none[6] = {NAN, NAN, NAN, NAN, NAN, NAN};
    cnn_plot_series a[4] = {{"one point", 1, x1, y1},
                            {"flat", 6, xs, flat},
                            {"holes", 6, xs, holes},
                            {"nothing", 6, xs, none}};
    cnn_plot_panel panels[3] = {{"single", "epoch", "loss", 1, a},
                                {"edge cases", "x", NULL, 4, a},
                                {NULL, NULL, NULL, 0, NULL}};
    cnn_plot p = {.n_panels = 3, .panels = panels, .width = 900, .height = 300};
    cnn_status st = cnn_plot_lines(&p, path, err, sizeof err);
    T_CHECK(st == CNN_STATUS_OK, "edge-case plot: %s", err);
    int w, h;
    png_size(path, &w, &h);
    T_CHECK(w == 900 && h == 300, "edge-case plot is %dx%d", w, h);

    cnn_canvas *c = NULL;
    p.title = "a title";
    p.width = p.height = 0;
    p.n_panels = 1;
    p.panels = &panels[1];
    st = cnn_plot_render(&p, &c, err, sizeof err);
    T_CHECK(st == CNN_STATUS_OK && c && c->width == CNN_PLOT_PANEL_W &&
                c->height == CNN_PLOT_PANEL_H,
            "default size: %s", err);
    /* Series colours appear: blue (first) and orange (second) somewhere. */
    int blue = 0, orange = 0;
    for (int y = 0; c && y < c->height; y++)
        for (int x = 0; x < c->width; x++) {
            blue += cnn_canvas_get(c, x, y) == 0x1f77b4;
            orange += cnn_canvas_get(c, x, y) == 0xff7f0e;
        }
    T_CHECK(blue > 10 && orange > 10, "series colours missing: %d blue, %d orange", blue, orange);
    cnn_canvas_free(c);

    p.n_panels = 0;
    st = cnn_plot_render(&p, &c, err, sizeof err);
    T_CHECK(st == CNN_STATUS_INVALID_ARGUMENT && c == NULL, "no panels accepted");
    cnn_plot_series broken = {"broken", 3, NULL, flat};
    cnn_plot_panel bp = {"t", NULL, NULL, 1, &broken};
    cnn_plot q = {.n_panels = 1, .panels = &bp};
    st = cnn_plot_render(&q, &c, err, sizeof err);
    T_CHECK(st == CNN_STATUS_INVALID_ARGUMENT && strstr(err, "broken"), "NULL x accepted: %s",
            err);
    q.panels = &panels[0];
    q.width = 100;
    st = cnn_plot_render(&q, &c, err, sizeof err);
    T_CHECK(st == CNN_STATUS_INVALID_ARGUMENT, "a 100-pixel panel accepted");
    unlink(path);
}

static void test_training_csv(void) {
    char csv[256], png[256], err[512];
    snprintf(csv, sizeof csv, "%s/log.csv", dir);
    snprintf(png, sizeof png, "%s/log.png", dir);
    write_file(csv, "epoch,train_loss,train_acc,val_loss,val_acc,lr,seconds\n"
                    "1,2.1,0.31,1.9,0.35,0.1,12.5\n"
                    "2,1.4,0.55,1.3,0.58,0.1,12.1\n"
                    "3,0.9,0.71,1.0,0.69,0.05,12.0\n"
                    "4,0.7,0.78,0.95,0.72,0.05,11.9\n");
    cnn_status st = cnn_plot_training_csv(csv, png, err, sizeof err);
    T_CHECK(st == CNN_STATUS_OK, "training plot: %s", err);
    int w, h;
    png_size(png, &w, &h);
    T_CHECK(w == 2 * CNN_PLOT_PANEL_W && h == CNN_PLOT_PANEL_H, "training plot is %dx%d", w, h);
    unlink(png);

    /* No validation set, a diverged loss, CRLF line ends, one epoch. */
    const char *fine[] = {
        "epoch,train_loss,train_acc,val_loss,val_acc,lr,seconds\n1,2.3,0.1,,,0.1,3\n2,1.9,0.2,,,0.1,3\n",
        "epoch,train_loss,train_acc,val_loss,val_acc,lr,seconds\n1,2.3,0.1,2.2,0.1,0.1,3\n2,nan,0.1,nan,0.1,0.1,3\n",
        "epoch,train_loss,train_acc,val_loss,val_acc,lr,seconds\r\n1,2.3,0.1,2.2,0.15,0.1,3\r\n\r\n",
    };
    for (int i = 0; i < 3; i++) {
        write_file(csv, fine[i]);
        st = cnn_plot_training_csv(csv, png, err, sizeof err);
        T_CHECK(st == CNN_STATUS_OK, "good CSV %d: %s", i, err);
        T_CHECK(exists(png), "good CSV %d: no PNG", i);
        unlink(png);
    }

    struct {
        const char *text;
        int line;
    } bad[] = {
        {"epoch,loss,acc\n1,2,0.5\n", 1},
        {"", 1},
        {"epoch,train_loss,train_acc,val_loss,val_acc,lr,seconds\n", 1},
        {"epoch,train_loss,train_acc,val_loss,val_acc,lr,seconds\n1,2.3,0.1,2.2,0.1,0.1\n", 2},
        {"epoch,train_loss,train_acc,val_loss,val_acc,lr,seconds\n1,2.3,0.1,2.2,0.1,0.1,3,4\n", 2},
        {"epoch,train_loss,train_acc,val_loss,val_acc,lr,seconds\n1,2.3,0.1,2.2,0.1,0.1,3\n"
         "2,2.x,0.1,2.2,0.1,0.1,3\n", 3},
        {"epoch,train_loss,train_acc,val_loss,val_acc,lr,seconds\n1,2.3,0.1,2.2,0.1,0.1,3\n"
         "2,2.1,0.1,2.2,0.1,fast,3\n", 3},
        {"epoch,train_loss,train_acc,val_loss,val_acc,lr,seconds\n1,2.3,45.5,2.2,0.1,0.1,3\n", 2},
        {"epoch,train_loss,train_acc,val_loss,val_acc,lr,seconds\n1,,0.1,2.2,0.1,0.1,3\n", 2},
        {"epoch,train_loss,train_acc,val_loss,val_acc,lr,seconds\n\n1,2,0.1,2.2,0.1,0.1,3\n"
         "nan,2,0.1,2.2,0.1,0.1,3\n", 4},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        write_file(csv, bad[i].text);
        err[0] = 0;
        st = cnn_plot_training_csv(csv, png, err, sizeof err);
        char where[300];
        snprintf(where, sizeof where, "%s:%d:", csv, bad[i].line);
        T_CHECK(st == CNN_STATUS_FORMAT, "bad CSV %zu accepted (%s)", i, cnn_status_str(st));
        T_CHECK(strstr(err, where) != NULL, "bad CSV %zu: '%s' does not name %s", i, err, where);
        T_CHECK(!exists(png), "bad CSV %zu wrote a picture", i);
        printf("  bad CSV %zu: %s\n", i, err);
    }

    char missing[300];
    snprintf(missing, sizeof missing, "%s/absent.csv", dir);
    st = cnn_plot_training_csv(missing, png, err, sizeof err);
    T_CHECK(st == CNN_STATUS_IO && strstr(err, "absent.csv"), "missing CSV: %s", err);
    unlink(csv);
}

int main(void) {
    if (!mkdtemp(dir)) {
        perror("mkdtemp");
        return 1;
    }
    test_font();
    test_text();
    test_lines();
    test_rects();
    test_colormap();
    test_blits();
    test_ticks();
    test_png();
    test_plots();
    test_training_csv();
    if (rmdir(dir) != 0) T_CHECK(0, "files left in %s", dir);
    return t_finish();
}

/*
 * test_figure.c - figures and histograms (src/viz/figure.c): a figure's PNG has the size the
 * layout in figure.c's header gives, with every value block of every panel the right grey at
 * the right place; smaller panels are centred in their cells; the automatic zoom and columns;
 * heat maps alone and blended over grey and RGB images; a panel's own range when lo == hi;
 * the colour bar when asked for; labels cut to their cell; multi-line and very long titles;
 * every invalid figure and histogram is refused with a message naming the entry; histogram
 * bars are as tall as their counts (a count of 1 still shows); all zero counts draw no bar; a
 * save into a missing directory fails with CNN_STATUS_IO and leaves nothing behind.
 *
 * Files go to a fresh directory under /tmp, removed at the end. PNGs are read back with
 * stb_image, a decoder independent of the libpng writer.
 */
#include "testlib.h"

#include "../src/viz/canvas.h"

#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <stb/stb_image.h>

static char dir[] = "/tmp/cnn_figure_XXXXXX";

/* The layout constants documented in figure.c. */
#define MARGIN 12
#define TITLE_BAND (2 * CNN_FONT_H + 10) /* a one-line title and the gap under it */
#define GAP 12
#define LABEL_BAND (4 + CNN_FONT_H)
#define BAR_GAP 20
#define BAR_W 14
#define HIST_W 300
#define HIST_H 200
#define HIST_GAP 16

#define WHITE 0xffffffu
#define FRAME 0x555555u
#define INK 0x222222u
#define BAR 0x1f77b4u

static int exists(const char *path) { return access(path, F_OK) == 0; }

static uint32_t gray(float t) {
    uint32_t g = (uint32_t)(t * 255.0f + 0.5f);
    return g << 16 | g << 8 | g;
}

static uint32_t viridis(float t) {
    uint8_t m[3];
    cnn_colormap(t, m);
    return (uint32_t)m[0] << 16 | (uint32_t)m[1] << 8 | m[2];
}

/* over blended with alpha of top, as the canvas blends (each channel rounded). */
static uint32_t blend(uint32_t under, uint32_t top, float alpha) {
    uint32_t out = 0;
    for (int k = 2; k >= 0; k--) {
        float p = (float)((under >> (8 * k)) & 0xff), s = (float)((top >> (8 * k)) & 0xff);
        out = out << 8 | (uint32_t)(uint8_t)(p + (s - p) * alpha + 0.5f);
    }
    return out;
}

/* Each channel of a and b within tol. */
static int near_rgb(uint32_t a, uint32_t b, int tol) {
    for (int k = 0; k < 3; k++) {
        int d = (int)((a >> (8 * k)) & 0xff) - (int)((b >> (8 * k)) & 0xff);
        if (d > tol || d < -tol) return 0;
    }
    return 1;
}

/* Pixels of the w x h block at (x, y) that are not rgb. */
static int block_wrong(const cnn_canvas *c, int x, int y, int w, int h, uint32_t rgb) {
    int wrong = 0;
    for (int j = y; j < y + h; j++)
        for (int i = x; i < x + w; i++) wrong += cnn_canvas_get(c, i, j) != rgb;
    return wrong;
}

/* Pixels of the 1-pixel outline of the w x h box at (x, y) that are not rgb. */
static int frame_wrong(const cnn_canvas *c, int x, int y, int w, int h, uint32_t rgb) {
    return block_wrong(c, x, y, w, 1, rgb) + block_wrong(c, x, y + h - 1, w, 1, rgb) +
           block_wrong(c, x, y, 1, h, rgb) + block_wrong(c, x + w - 1, y, 1, h, rgb);
}

/* Pixels of colour rgb in the w x h block at (x, y). */
static int count_rgb(const cnn_canvas *c, int x, int y, int w, int h, uint32_t rgb) {
    int n = 0;
    for (int j = y; j < y + h; j++)
        for (int i = x; i < x + w; i++) n += cnn_canvas_get(c, i, j) == rgb;
    return n;
}

/* ---------------------------------------------------------------------------------------------
 * Figures
 * ------------------------------------------------------------------------------------------- */

/* A panel without an image under it. */
static cnn_panel panel(cnn_panel_kind kind, const float *values, int height, int width, float lo,
                       float hi, const char *label) {
    return (cnn_panel){.kind = kind, .values = values, .height = height, .width = width,
                       .lo = lo, .hi = hi, .label = label};
}

/* Three 4 x 4 grey panels, saved and read back: the documented size, every value block of the
 * right grey in the right place, frames, labels. */
static void test_gray_grid(void) {
    float v[3][16];
    for (int k = 0; k < 3; k++)
        for (int j = 0; j < 16; j++) v[k][j] = (float)(k * 16 + j) / 47.0f;
    cnn_panel p[3] = {panel(CNN_PANEL_GRAY, v[0], 4, 4, 0.0f, 1.0f, "first"),
                      panel(CNN_PANEL_GRAY, v[1], 4, 4, 0.0f, 1.0f, "second"),
                      panel(CNN_PANEL_GRAY, v[2], 4, 4, 0.0f, 1.0f, "third")};
    cnn_figure fig = {.title = "three"};
    char path[256], tmp[300], err[512] = "";
    snprintf(path, sizeof path, "%s/gray.png", dir);
    snprintf(tmp, sizeof tmp, "%s.tmp.%ld", path, (long)getpid());
    cnn_status st = cnn_figure_save(path, &fig, p, 3, err, sizeof err);
    T_CHECK(st == CNN_STATUS_OK, "gray figure: %s", err);
    T_CHECK(!exists(tmp), "temporary file left behind");

    /* zoom round(96 / 4) = 24, 2 columns (ceil sqrt 3), 2 rows; a cell is 98 x (98 + 13). */
    int zoom = 24, cw = 4 * zoom + 2, ch = 4 * zoom + 2 + LABEL_BAND;
    int gx = MARGIN, gy = MARGIN + TITLE_BAND;
    int want_w = 2 * MARGIN + 2 * cw + GAP, want_h = gy + 2 * ch + GAP + MARGIN;
    int w = 0, h = 0, n = 0;
    unsigned char *img = stbi_load(path, &w, &h, &n, 3);
    T_CHECK(img && w == want_w && h == want_h, "figure is %d x %d, layout says %d x %d", w, h,
            want_w, want_h);
    if (!img || w != want_w || h != want_h) {
        stbi_image_free(img);
        unlink(path);
        return;
    }
    cnn_canvas c = {w, h, img};
    for (int k = 0; k < 3; k++) {
        int x = gx + (k % 2) * (cw + GAP), y = gy + (k / 2) * (ch + GAP);
        int wrong = frame_wrong(&c, x, y, cw, 4 * zoom + 2, FRAME);
        T_CHECK(wrong == 0, "panel %d: %d frame pixels wrong", k, wrong);
        for (int j = 0; j < 4; j++)
            for (int i = 0; i < 4; i++) {
                uint32_t want = gray(v[k][j * 4 + i]);
                wrong = block_wrong(&c, x + 1 + i * zoom, y + 1 + j * zoom, zoom, zoom, want);
                T_CHECK(wrong == 0, "panel %d value (%d, %d): %d pixels not %06x (one is %06x)",
                        k, j, i, wrong, want,
                        cnn_canvas_get(&c, x + 1 + i * zoom, y + 1 + j * zoom));
            }
        int ink = count_rgb(&c, x, y + 4 * zoom + 2, cw, LABEL_BAND, INK);
        T_CHECK(ink > 20, "panel %d: no label under it (%d ink pixels)", k, ink);
    }
    /* The empty fourth cell and the gaps stay white; the title is there. */
    int x4 = gx + cw + GAP, y4 = gy + ch + GAP;
    T_CHECK(block_wrong(&c, x4, y4, cw, ch, WHITE) == 0, "the empty cell is not white");
    T_CHECK(block_wrong(&c, gx + cw, gy, GAP, 2 * ch + GAP, WHITE) == 0, "the gap is not white");
    T_CHECK(count_rgb(&c, 0, MARGIN, w, 2 * CNN_FONT_H, INK) > 50, "no title");
    stbi_image_free(img);
    unlink(path);
}

/* Panels of different sizes: cells of the largest, smaller panels centred; columns beyond n
 * are clamped; no label band without labels; an explicit zoom. */
static void test_sizes(void) {
    float big[16], small[4] = {0.0f, 1.0f, 1.0f, 0.0f};
    for (int j = 0; j < 16; j++) big[j] = 0.5f;
    cnn_panel p[2] = {panel(CNN_PANEL_GRAY, big, 4, 4, 0.0f, 1.0f, NULL),
                      panel(CNN_PANEL_GRAY, small, 2, 2, 0.0f, 1.0f, "")};
    cnn_figure fig = {.columns = 5, .zoom = 10};
    cnn_canvas *c = NULL;
    char err[512] = "";
    cnn_status st = cnn_figure_render(&fig, p, 2, &c, err, sizeof err);
    T_CHECK(st == CNN_STATUS_OK && c, "sizes: %s", err);
    if (!c) return;
    int cw = 42;
    T_CHECK(c->width == 2 * MARGIN + 2 * cw + GAP && c->height == 2 * MARGIN + cw,
            "two panels in one row are %d x %d", c->width, c->height);
    int x1 = MARGIN + cw + GAP;
    /* The 20-pixel panel sits 10 pixels in, framed. */
    T_CHECK(frame_wrong(c, x1 + 10, MARGIN + 10, 22, 22, FRAME) == 0, "small panel's frame");
    T_CHECK(block_wrong(c, x1 + 11, MARGIN + 11, 10, 10, 0x000000) == 0 &&
                block_wrong(c, x1 + 21, MARGIN + 11, 10, 10, 0xffffff) == 0 &&
                block_wrong(c, x1 + 11, MARGIN + 21, 10, 10, 0xffffff) == 0,
            "small panel's values");
    T_CHECK(block_wrong(c, x1, MARGIN, cw, 10, WHITE) == 0, "white above the small panel");
    T_CHECK(block_wrong(c, MARGIN + 1, MARGIN + 1, 40, 40, gray(0.5f)) == 0, "big panel");
    cnn_canvas_free(c);

    /* The automatic zoom: round(96 / largest side), at least 1; columns ceil(sqrt(n)). */
    static float many[1000]; /* the largest case: 10 x 100 */
    struct {
        int h, w, n, zoom, cols;
    } cases[] = {{28, 28, 1, 3, 1}, {5, 5, 9, 19, 3}, {3, 3, 10, 32, 4},
                 {10, 100, 2, 1, 2}, {200, 3, 5, 1, 3}, {1, 1, 4, 96, 2}};
    cnn_panel q[10];
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
        for (int i = 0; i < cases[k].n; i++)
            q[i] = panel(CNN_PANEL_GRAY, many, cases[k].h, cases[k].w, 0.0f, 0.0f, NULL);
        cnn_figure f = {0};
        st = cnn_figure_render(&f, q, cases[k].n, &c, err, sizeof err);
        int cols = cases[k].cols, rows = (cases[k].n + cols - 1) / cols;
        int want_w = 2 * MARGIN + cols * (cases[k].w * cases[k].zoom + 2 + GAP) - GAP;
        int want_h = 2 * MARGIN + rows * (cases[k].h * cases[k].zoom + 2 + GAP) - GAP;
        T_CHECK(st == CNN_STATUS_OK && c && c->width == want_w && c->height == want_h,
                "%d panels of %d x %d: %d x %d, want %d x %d (zoom %d, %d columns): %s",
                cases[k].n, cases[k].h, cases[k].w, c ? c->width : -1, c ? c->height : -1,
                want_w, want_h, cases[k].zoom, cols, st ? err : "");
        cnn_canvas_free(c);
    }
}

/* Heat maps: alone (alpha ignored), blended over grey and over RGB; NaN shows the image;
 * lo == hi takes the panel's own range; RGB panels. */
static void test_heat_and_rgb(void) {
    float heat[4] = {0.0f, 1.0f, 0.25f, NAN};
    float under_gray[4] = {1.0f, 1.0f, 0.0f, 0.5f};
    float under_rgb[12] = {1, 0, 0, 1, /* R */ 0, 1, 0, 1, /* G */ 0, 0, 1, 1 /* B */};
    float own[4] = {10.0f, 20.0f, 15.0f, 12.5f};
    cnn_panel p[4] = {
        {CNN_PANEL_HEAT, heat, 2, 2, 0.0f, 1.0f, "alone", .alpha = 0.0f},
        {CNN_PANEL_HEAT, heat, 2, 2, 0.0f, 1.0f, "over grey", under_gray, 1, 0.0f, 1.0f, 0.5f},
        {CNN_PANEL_HEAT, heat, 2, 2, 0.0f, 1.0f, "over rgb", under_rgb, 3, 0.0f, 0.0f, 0.25f},
        panel(CNN_PANEL_GRAY, own, 2, 2, 3.0f, 3.0f, "own range"),
    };
    cnn_figure fig = {.columns = 4, .zoom = 8};
    cnn_canvas *c = NULL;
    char err[512] = "";
    cnn_status st = cnn_figure_render(&fig, p, 4, &c, err, sizeof err);
    T_CHECK(st == CNN_STATUS_OK && c, "heat: %s", err);
    if (!c) return;
    int cw = 2 * 8 + 2;
    /* The centre of value (j, i) of panel k. */
#define AT(k, j, i) MARGIN + (k) * (cw + GAP) + 1 + (i) * 8 + 4, MARGIN + 1 + (j) * 8 + 4
    const float t[4] = {0.0f, 1.0f, 0.25f, 0.0f};
    for (int q = 0; q < 3; q++) {
        uint32_t got = cnn_canvas_get(c, AT(0, q / 2, q % 2));
        T_CHECK(got == viridis(t[q]), "heat alone at %d: %06x, want %06x", q, got,
                viridis(t[q]));
        uint32_t want = blend(gray(under_gray[q]), viridis(t[q]), 0.5f);
        got = cnn_canvas_get(c, AT(1, q / 2, q % 2));
        T_CHECK(near_rgb(got, want, 1), "heat over grey at %d: %06x, want %06x", q, got, want);
        uint32_t rgb = (under_rgb[q] > 0 ? 0xff0000u : 0) | (under_rgb[4 + q] > 0 ? 0xff00u : 0) |
                       (under_rgb[8 + q] > 0 ? 0xffu : 0);
        want = blend(rgb, viridis(t[q]), 0.25f);
        got = cnn_canvas_get(c, AT(2, q / 2, q % 2));
        T_CHECK(near_rgb(got, want, 1), "heat over rgb at %d: %06x, want %06x", q, got, want);
    }
    /* NaN: the heat alone leaves the background, over an image the image. */
    T_CHECK(cnn_canvas_get(c, AT(0, 1, 1)) == WHITE, "NaN heat alone: %06x",
            cnn_canvas_get(c, AT(0, 1, 1)));
    T_CHECK(cnn_canvas_get(c, AT(1, 1, 1)) == gray(0.5f), "NaN heat over grey: %06x",
            cnn_canvas_get(c, AT(1, 1, 1)));
    T_CHECK(cnn_canvas_get(c, AT(2, 1, 1)) == 0xffffffu, "NaN heat over rgb: %06x",
            cnn_canvas_get(c, AT(2, 1, 1)));
    /* lo == hi: [10, 20]. */
    T_CHECK(cnn_canvas_get(c, AT(3, 0, 0)) == 0x000000u &&
                cnn_canvas_get(c, AT(3, 0, 1)) == 0xffffffu &&
                cnn_canvas_get(c, AT(3, 1, 0)) == gray(0.5f),
            "own range: %06x %06x %06x", cnn_canvas_get(c, AT(3, 0, 0)),
            cnn_canvas_get(c, AT(3, 0, 1)), cnn_canvas_get(c, AT(3, 1, 0)));
    cnn_canvas_free(c);

    /* An RGB panel, and a constant one (own range empty: mid grey). */
    float planes[3 * 2] = {1, 0, /* R */ 0.5f, 0, /* G */ 0, 1 /* B */};
    float flat[2] = {7.0f, 7.0f};
    cnn_panel r[2] = {panel(CNN_PANEL_RGB, planes, 1, 2, 0.0f, 1.0f, NULL),
                      panel(CNN_PANEL_GRAY, flat, 1, 2, 0.0f, 0.0f, NULL)};
    cnn_figure f2 = {.columns = 2, .zoom = 4};
    st = cnn_figure_render(&f2, r, 2, &c, err, sizeof err);
    T_CHECK(st == CNN_STATUS_OK && c, "rgb: %s", err);
    if (!c) return;
    T_CHECK(cnn_canvas_get(c, MARGIN + 2, MARGIN + 2) == 0xff8000u &&
                cnn_canvas_get(c, MARGIN + 6, MARGIN + 2) == 0x0000ffu,
            "rgb panel: %06x %06x", cnn_canvas_get(c, MARGIN + 2, MARGIN + 2),
            cnn_canvas_get(c, MARGIN + 6, MARGIN + 2));
    T_CHECK(cnn_canvas_get(c, MARGIN + 10 + GAP + 2, MARGIN + 2) == gray(0.5f),
            "constant panel: %06x", cnn_canvas_get(c, MARGIN + 10 + GAP + 2, MARGIN + 2));
    cnn_canvas_free(c);
#undef AT
}

/* The colour bar: right of the grid, the top of the scale's colour at the top, the bottom's
 * at the bottom, only when asked for. */
static void test_colorbar(void) {
    float v[64];
    for (int j = 0; j < 64; j++) v[j] = (float)j / 63.0f * 2.0f - 1.0f;
    cnn_panel p[4];
    for (int k = 0; k < 4; k++)
        p[k] = panel(CNN_PANEL_HEAT, v, 8, 8, -1.0f, 1.0f, "map");
    cnn_figure fig = {.title = "with a scale", .scale_label = "units", .scale_lo = -1.0f,
                      .scale_hi = 1.0f};
    cnn_canvas *c = NULL, *plain = NULL;
    char err[512] = "";
    cnn_status st = cnn_figure_render(&fig, p, 4, &c, err, sizeof err);
    T_CHECK(st == CNN_STATUS_OK && c, "colour bar: %s", err);
    fig.scale_label = NULL;
    st = cnn_figure_render(&fig, p, 4, &plain, err, sizeof err);
    T_CHECK(st == CNN_STATUS_OK && plain, "no colour bar: %s", err);
    if (!c || !plain) {
        cnn_canvas_free(c);
        cnn_canvas_free(plain);
        return;
    }
    /* zoom 12: cells 98 x 111, a 2 x 2 grid of 208 x 234 pixels; the bar from 12 below the
     * grid's top to the last row's frames: 234 - 13 - 12 - 1 = 208 pixels tall. */
    int cw = 98, ch = 98 + LABEL_BAND, gw = 2 * cw + GAP, gh = 2 * ch + GAP;
    int gy = MARGIN + TITLE_BAND;
    int bx = MARGIN + gw + BAR_GAP, by = gy + CNN_FONT_LINE + 1, bh = gh - LABEL_BAND - 13;
    T_CHECK(plain->width == 2 * MARGIN + gw && plain->height == gy + gh + MARGIN,
            "without a bar: %d x %d", plain->width, plain->height);
    T_CHECK(c->width > plain->width + BAR_GAP + BAR_W && c->height == plain->height,
            "with a bar: %d x %d", c->width, c->height);
    T_CHECK(block_wrong(c, bx, by, BAR_W, 1, viridis(1.0f)) == 0, "top of the bar: %06x",
            cnn_canvas_get(c, bx, by));
    T_CHECK(block_wrong(c, bx, by + bh - 1, BAR_W, 1, viridis(0.0f)) == 0,
            "bottom of the bar: %06x", cnn_canvas_get(c, bx, by + bh - 1));
    T_CHECK(frame_wrong(c, bx - 1, by - 1, BAR_W + 2, bh + 2, 0x333333u) == 0,
            "the bar's frame is not where the layout puts it");
    T_CHECK(count_rgb(c, bx, gy, c->width - bx, CNN_FONT_LINE, 0x333333u) > 20,
            "no scale label");
    /* The grids are the same. */
    int same = 1;
    for (int y = 0; y < c->height && same; y++)
        for (int x = MARGIN; x < MARGIN + gw; x++)
            if (y >= gy && cnn_canvas_get(c, x, y) != cnn_canvas_get(plain, x, y)) same = 0;
    T_CHECK(same, "the bar moved the grid");
    cnn_canvas_free(c);
    cnn_canvas_free(plain);
}

/* Labels are cut to their cell with "...", first line only, whatever their bytes. */
static void test_labels(void) {
    float v[80] = {0};
    const char *labels[] = {
        "a rather long label for a small panel", "two\nlines",
        "\xc3\xa9t\xc3\xa9 \xe2\x82\xac\xe2\x82\xac\xe2\x82\xac\xff\x80 and more", "x"};
    for (size_t k = 0; k < sizeof labels / sizeof labels[0]; k++) {
        cnn_panel p = panel(CNN_PANEL_GRAY, v, 4, 20, 0.0f, 1.0f, labels[k]);
        cnn_figure fig = {.zoom = 2};
        cnn_canvas *c = NULL;
        char err[512] = "";
        cnn_status st = cnn_figure_render(&fig, &p, 1, &c, err, sizeof err);
        T_CHECK(st == CNN_STATUS_OK && c, "label %zu: %s", k, err);
        if (!c) continue;
        /* One 42 x 10 cell, one label line. */
        int cw = 42, top = MARGIN + 10;
        T_CHECK(c->width == 2 * MARGIN + cw && c->height == top + LABEL_BAND + MARGIN,
                "label %zu: %d x %d", k, c->width, c->height);
        int inside = count_rgb(c, MARGIN, top, cw, LABEL_BAND, INK);
        int all = count_rgb(c, 0, 0, c->width, c->height, INK);
        T_CHECK(inside > 0 && inside == all, "label %zu: %d of %d ink pixels in its cell", k,
                inside, all);
        cnn_canvas_free(c);
    }
    /* Titles: each line 2 * CNN_FONT_LINE below the last, the widest line deciding the width;
     * a very long line is cut to 1600 pixels instead of making the picture absurdly wide. */
    static char longest[3000];
    memset(longest, 'w', sizeof longest - 1);
    struct {
        const char *title;
        int width, height;
    } titles[] = {{"one\ntwo\nthree", 2 * MARGIN + (5 * CNN_FONT_ADVANCE - 1) * 2,
                   MARGIN + 2 * CNN_FONT_H + 4 * CNN_FONT_LINE + 10 + 10 + MARGIN},
                  {longest, 2 * MARGIN + 1600, MARGIN + TITLE_BAND + 10 + MARGIN}};
    for (int k = 0; k < 2; k++) {
        cnn_panel p = panel(CNN_PANEL_GRAY, v, 4, 20, 0.0f, 1.0f, NULL);
        cnn_figure fig = {.zoom = 2, .title = titles[k].title};
        cnn_canvas *c = NULL;
        char err[512] = "";
        cnn_status st = cnn_figure_render(&fig, &p, 1, &c, err, sizeof err);
        T_CHECK(st == CNN_STATUS_OK && c && c->width == titles[k].width &&
                    c->height == titles[k].height,
                "title %d: %d x %d, want %d x %d %s", k, c ? c->width : -1, c ? c->height : -1,
                titles[k].width, titles[k].height, err);
        /* The last title line is drawn, right above the gap over the grid. */
        if (c)
            T_CHECK(count_rgb(c, 0, c->height - MARGIN - 10 - TITLE_BAND, c->width,
                              2 * CNN_FONT_H, INK) > 20,
                    "title %d: no last line", k);
        cnn_canvas_free(c);
    }
}

/* Every invalid figure is refused with INVALID_ARGUMENT, a message naming the panel, and no
 * file. */
static void test_figure_errors(void) {
    static float v[16], u[48];
    char path[256], err[512];
    snprintf(path, sizeof path, "%s/bad.png", dir);
    const cnn_panel good = panel(CNN_PANEL_GRAY, v, 4, 4, 0.0f, 1.0f, "good");
    const cnn_panel heat = {CNN_PANEL_HEAT, v, 4, 4, 0.0f, 1.0f, "heat", u, 1, 0.0f, 1.0f, 0.5f};
    struct {
        const char *what;
        cnn_panel p;
        const char *says;
    } bad[16];
    int nb = 0;
#define BAD(desc, base, field, value, word)                                                    \
    do {                                                                                       \
        bad[nb].what = desc;                                                                   \
        bad[nb].p = base;                                                                      \
        bad[nb].p.field = value;                                                               \
        bad[nb].says = word;                                                                   \
        nb++;                                                                                  \
    } while (0)
    BAD("unknown kind", good, kind, (cnn_panel_kind)7, "kind");
    BAD("negative kind", good, kind, (cnn_panel_kind)-1, "kind");
    BAD("NULL values", good, values, NULL, "values");
    BAD("height 0", good, height, 0, "height");
    BAD("width -3", good, width, -3, "width");
    BAD("width 20000", good, width, 20000, "width");
    BAD("height INT_MAX", good, height, INT_MAX, "height");
    BAD("lo NaN", good, lo, NAN, "lo");
    BAD("hi inf", good, hi, INFINITY, "hi");
    BAD("lo > hi", good, lo, 2.0f, "lo");
    BAD("under on grey", heat, kind, CNN_PANEL_GRAY, "heat");
    BAD("under_channels 2", heat, under_channels, 2, "channels");
    BAD("alpha 0", heat, alpha, 0.0f, "alpha");
    BAD("alpha 1.5", heat, alpha, 1.5f, "alpha");
    BAD("alpha NaN", heat, alpha, NAN, "alpha");
    BAD("under_lo -inf", heat, under_lo, -INFINITY, "under_lo");
#undef BAD
    cnn_figure fig = {.title = "bad"};
    for (int k = 0; k < nb; k++) {
        cnn_panel p[3] = {good, heat, bad[k].p};
        err[0] = 0;
        cnn_status st = cnn_figure_save(path, &fig, p, 3, err, sizeof err);
        T_CHECK(st == CNN_STATUS_INVALID_ARGUMENT, "%s accepted (%s)", bad[k].what,
                cnn_status_str(st));
        T_CHECK(strstr(err, "panels[2]") && strstr(err, bad[k].says),
                "%s: '%s' does not name panels[2] and '%s'", bad[k].what, err, bad[k].says);
        T_CHECK(!exists(path), "%s: a picture was written", bad[k].what);
        printf("  %s: %s\n", bad[k].what, err);
    }
    /* Without a label the panel is still named. */
    cnn_panel anon[2] = {good, good};
    anon[1].label = NULL;
    anon[1].values = NULL;
    cnn_status st = cnn_figure_save(path, &fig, anon, 2, err, sizeof err);
    T_CHECK(st == CNN_STATUS_INVALID_ARGUMENT && strstr(err, "panels[1]"), "anonymous: %s", err);

    /* Heat without an image under it: alpha and under_channels do not matter. */
    cnn_panel alone = heat;
    alone.under = NULL;
    alone.under_channels = 0;
    alone.alpha = NAN;
    st = cnn_figure_save(path, &fig, &alone, 1, err, sizeof err);
    T_CHECK(st == CNN_STATUS_OK && exists(path), "heat alone refused: %s", err);
    unlink(path);

    /* The figure itself. */
    cnn_panel p[2] = {good, good};
    struct {
        const char *what;
        const char *path;
        cnn_figure fig;
        const cnn_panel *panels;
        int n;
        const char *says;
    } whole[] = {
        {"n = 0", path, {0}, p, 0, "0 panels"},
        {"n = -1", path, {0}, p, -1, "-1 panels"},
        {"NULL panels", path, {0}, NULL, 2, "no panel"},
        {"NULL path", NULL, {0}, p, 2, "path"},
        {"empty path", "", {0}, p, 2, "path"},
        {"negative columns", path, {.columns = -1}, p, 2, "columns"},
        {"negative zoom", path, {.zoom = -2}, p, 2, "zoom"},
        {"NaN scale", path, {.scale_label = "s", .scale_lo = NAN}, p, 2, "scale"},
        {"scale lo > hi", path, {.scale_label = "s", .scale_lo = 1, .scale_hi = 0}, p, 2,
         "scale"},
        {"zoom 100000", path, {.zoom = 100000}, p, 2, "limit"},
        {"zoom INT_MAX", path, {.zoom = INT_MAX}, p, 2, "limit"},
        {"too many columns of pixels", path, {.zoom = 4000, .columns = 2}, p, 2, "limit"},
    };
    for (size_t k = 0; k < sizeof whole / sizeof whole[0]; k++) {
        err[0] = 0;
        st = cnn_figure_save(whole[k].path, &whole[k].fig, whole[k].panels, whole[k].n, err,
                             sizeof err);
        T_CHECK(st == CNN_STATUS_INVALID_ARGUMENT && strstr(err, whole[k].says),
                "%s: %s, '%s'", whole[k].what, cnn_status_str(st), err);
        T_CHECK(!exists(path), "%s: a picture was written", whole[k].what);
        printf("  %s: %s\n", whole[k].what, err);
    }
    st = cnn_figure_save(path, NULL, p, 2, err, sizeof err);
    T_CHECK(st == CNN_STATUS_INVALID_ARGUMENT && strstr(err, "figure"), "NULL figure: %s", err);
    /* A panel as large as allowed, too large a picture: refused before any value is read. */
    cnn_panel huge = panel(CNN_PANEL_GRAY, v, 16384, 16384, 0.0f, 1.0f, NULL);
    st = cnn_figure_save(path, &fig, &huge, 1, err, sizeof err);
    T_CHECK(st == CNN_STATUS_INVALID_ARGUMENT && strstr(err, "limit"), "huge panel: %s", err);
    cnn_canvas dummy, *c = &dummy;
    st = cnn_figure_render(&fig, p, 0, &c, err, sizeof err);
    T_CHECK(st == CNN_STATUS_INVALID_ARGUMENT && c == NULL, "a failed render leaves *out set");
    T_CHECK(!exists(path), "a picture was written");
}

/* ---------------------------------------------------------------------------------------------
 * Histograms
 * ------------------------------------------------------------------------------------------- */

/* The heights of the bars of a one-histogram canvas, left to right: runs of columns holding
 * the bar colour, each measured in its middle column. Returns the number of bars. */
static int bar_heights(const cnn_canvas *c, int *heights, int max) {
    int n = 0, x = 0;
    while (x < c->width && n < max) {
        if (!count_rgb(c, x, 0, 1, c->height, BAR)) {
            x++;
            continue;
        }
        int start = x;
        while (x < c->width && count_rgb(c, x, 0, 1, c->height, BAR)) x++;
        heights[n++] = count_rgb(c, (start + x - 1) / 2, 0, 1, c->height, BAR);
    }
    return n;
}

static void test_histograms(void) {
    uint64_t counts[4] = {1, 2, 4, 8}, zeros[5] = {0};
    cnn_histogram h = {"doubling", -1.0f, 1.0f, 4, counts, "mean 0.4"};
    cnn_canvas *c = NULL;
    char err[512] = "";
    cnn_status st = cnn_histograms_render(NULL, &h, 1, 0, &c, err, sizeof err);
    T_CHECK(st == CNN_STATUS_OK && c, "histogram: %s", err);
    if (c) {
        T_CHECK(c->width == 2 * MARGIN + HIST_W && c->height == 2 * MARGIN + HIST_H,
                "one histogram: %d x %d", c->width, c->height);
        int hs[8];
        int n = bar_heights(c, hs, 8);
        T_CHECK(n == 4, "%d bars, want 4", n);
        for (int k = 0; n == 4 && k < 4; k++) {
            double want = hs[3] * (double)counts[k] / 8.0;
            T_CHECK(fabs(hs[k] - want) <= 1.0, "bar %d: %d pixels, want %.1f", k, hs[k], want);
        }
        T_CHECK(n == 4 && hs[3] > 100, "the tallest bar is %d pixels", n == 4 ? hs[3] : -1);
        T_CHECK(count_rgb(c, 0, 0, c->width, c->height, INK) > 100, "no text");
        cnn_canvas_free(c);
    }

    /* A count of 1 beside 100000 still shows (one pixel), an empty bin does not. */
    uint64_t skew[3] = {1, 0, 100000};
    cnn_histogram sk = {"skewed", 0.0f, 3.0f, 3, skew, NULL};
    st = cnn_histograms_render(NULL, &sk, 1, 0, &c, err, sizeof err);
    T_CHECK(st == CNN_STATUS_OK && c, "skewed histogram: %s", err);
    if (c) {
        int hs[8];
        int n = bar_heights(c, hs, 8);
        T_CHECK(n == 2 && hs[0] == 1 && hs[1] > 100, "skewed: %d bars, %d and %d pixels", n,
                hs[0], n > 1 ? hs[1] : -1);
        cnn_canvas_free(c);
    }

    /* All zero: no bar, no division by zero. Huge counts and many bins: no overflow. */
    uint64_t huge[3] = {UINT64_MAX, 0, UINT64_MAX / 2};
    static uint64_t many[4096];
    for (int i = 0; i < 4096; i++) many[i] = (uint64_t)(i % 7);
    cnn_histogram odd[3] = {{"zeros", 0.0f, 1.0f, 5, zeros, NULL},
                            {"huge", -3e38f, 3e38f, 3, huge, "big"},
                            {NULL, 1e-7f, 1.0000001e-7f, 4096, many, NULL}};
    for (int k = 0; k < 3; k++) {
        st = cnn_histograms_render("odd", &odd[k], 1, 0, &c, err, sizeof err);
        T_CHECK(st == CNN_STATUS_OK && c, "odd histogram %d: %s", k, err);
        if (!c) continue;
        int bars = count_rgb(c, 0, 0, c->width, c->height, BAR);
        T_CHECK(k == 0 ? bars == 0 : bars > 0, "odd histogram %d: %d bar pixels", k, bars);
        /* Long tick labels stay inside the cell. */
        int outside = count_rgb(c, 0, 0, MARGIN, c->height, INK) +
                      count_rgb(c, MARGIN + HIST_W, 0, MARGIN, c->height, INK);
        T_CHECK(outside == 0, "odd histogram %d: %d ink pixels outside the cell", k, outside);
        cnn_canvas_free(c);
    }

    /* The grid: up to 3 a row, saved and read back at the documented size. */
    char path[256], tmp[300];
    snprintf(path, sizeof path, "%s/hist.png", dir);
    snprintf(tmp, sizeof tmp, "%s.tmp.%ld", path, (long)getpid());
    cnn_histogram four[4] = {h, h, odd[0], h};
    struct {
        int columns, cols, rows;
    } grids[] = {{0, 3, 2}, {1, 1, 4}, {2, 2, 2}, {9, 4, 1}};
    for (size_t k = 0; k < sizeof grids / sizeof grids[0]; k++) {
        st = cnn_histograms_save(path, "four histograms", four, 4, grids[k].columns, err,
                                 sizeof err);
        T_CHECK(st == CNN_STATUS_OK, "histograms: %s", err);
        T_CHECK(!exists(tmp), "temporary file left behind");
        int w = 0, hh = 0, n = 0;
        int want_w = 2 * MARGIN + grids[k].cols * (HIST_W + HIST_GAP) - HIST_GAP;
        int want_h = MARGIN + TITLE_BAND + grids[k].rows * (HIST_H + HIST_GAP) - HIST_GAP + MARGIN;
        T_CHECK(stbi_info(path, &w, &hh, &n) && w == want_w && hh == want_h,
                "%d columns: %d x %d, want %d x %d", grids[k].columns, w, hh, want_w, want_h);
        unlink(path);
    }

    /* Invalid histograms: named, refused, no file. */
    struct {
        const char *what;
        cnn_histogram h;
        const char *says;
    } bad[] = {
        {"0 bins", {"b", 0.0f, 1.0f, 0, counts, NULL}, "bins"},
        {"4097 bins", {"b", 0.0f, 1.0f, 4097, counts, NULL}, "bins"},
        {"-1 bins", {"b", 0.0f, 1.0f, -1, counts, NULL}, "bins"},
        {"NULL counts", {"b", 0.0f, 1.0f, 4, NULL, NULL}, "counts"},
        {"lo NaN", {"b", NAN, 1.0f, 4, counts, NULL}, "range"},
        {"hi inf", {"b", 0.0f, INFINITY, 4, counts, NULL}, "range"},
        {"lo == hi", {"b", 1.0f, 1.0f, 4, counts, NULL}, "range"},
        {"lo > hi", {"b", 2.0f, 1.0f, 4, counts, NULL}, "range"},
    };
    for (size_t k = 0; k < sizeof bad / sizeof bad[0]; k++) {
        cnn_histogram two[2] = {h, bad[k].h};
        err[0] = 0;
        st = cnn_histograms_save(path, "t", two, 2, 0, err, sizeof err);
        T_CHECK(st == CNN_STATUS_INVALID_ARGUMENT && strstr(err, "h[1]") &&
                    strstr(err, bad[k].says),
                "%s: %s, '%s'", bad[k].what, cnn_status_str(st), err);
        T_CHECK(!exists(path), "%s: a picture was written", bad[k].what);
        printf("  %s: %s\n", bad[k].what, err);
    }
    st = cnn_histograms_save(path, "t", &h, 0, 0, err, sizeof err);
    T_CHECK(st == CNN_STATUS_INVALID_ARGUMENT, "no histograms accepted");
    st = cnn_histograms_save(path, "t", NULL, 1, 0, err, sizeof err);
    T_CHECK(st == CNN_STATUS_INVALID_ARGUMENT, "NULL histograms accepted");
    st = cnn_histograms_save(path, "t", &h, 1, -1, err, sizeof err);
    T_CHECK(st == CNN_STATUS_INVALID_ARGUMENT && strstr(err, "columns"), "columns -1: %s", err);
    st = cnn_histograms_save(NULL, "t", &h, 1, 0, err, sizeof err);
    T_CHECK(st == CNN_STATUS_INVALID_ARGUMENT && strstr(err, "path"), "NULL path: %s", err);
    /* Thousands in one row: too wide a picture. */
    static cnn_histogram lots[4000];
    for (int i = 0; i < 4000; i++) lots[i] = h;
    st = cnn_histograms_save(path, "t", lots, 4000, 4000, err, sizeof err);
    T_CHECK(st == CNN_STATUS_INVALID_ARGUMENT && strstr(err, "limit"), "4000 in a row: %s",
            err);
    T_CHECK(!exists(path), "a picture was written");
}

/* A save into a directory that does not exist: CNN_STATUS_IO naming the file, no file and no
 * temporary file. */
static void test_io_errors(void) {
    float v[4] = {0, 1, 2, 3};
    uint64_t counts[2] = {3, 4};
    cnn_panel p = panel(CNN_PANEL_GRAY, v, 2, 2, 0.0f, 0.0f, "p");
    cnn_figure fig = {.title = "io"};
    cnn_histogram h = {"h", 0.0f, 1.0f, 2, counts, NULL};
    char path[256], tmp[300], err[512] = "";
    snprintf(path, sizeof path, "%s/no_such_dir/fig.png", dir);
    snprintf(tmp, sizeof tmp, "%s.tmp.%ld", path, (long)getpid());
    cnn_status st = cnn_figure_save(path, &fig, &p, 1, err, sizeof err);
    T_CHECK(st == CNN_STATUS_IO && strstr(err, "no_such_dir/fig.png"), "figure: %s, '%s'",
            cnn_status_str(st), err);
    T_CHECK(!exists(path) && !exists(tmp), "figure: files left behind");
    printf("  figure into a missing directory: %s\n", err);
    err[0] = 0;
    st = cnn_histograms_save(path, NULL, &h, 1, 0, err, sizeof err);
    T_CHECK(st == CNN_STATUS_IO && strstr(err, "no_such_dir/fig.png"), "histograms: %s, '%s'",
            cnn_status_str(st), err);
    T_CHECK(!exists(path) && !exists(tmp), "histograms: files left behind");
}

int main(void) {
    if (!mkdtemp(dir)) {
        perror("mkdtemp");
        return 1;
    }
    test_gray_grid();
    test_sizes();
    test_heat_and_rgb();
    test_colorbar();
    test_labels();
    test_figure_errors();
    test_histograms();
    test_io_errors();
    if (rmdir(dir) != 0) T_CHECK(0, "files left in %s", dir);
    return t_finish();
}

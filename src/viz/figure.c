/*
 * figure.c - figures (a titled grid of image panels: grey, RGB or heat maps, the heat
 * optionally blended over an image, with labels and a colour scale) and histograms (a grid of
 * bar charts), drawn on the canvas (canvas.h) and saved as PNG. Filters, feature maps,
 * saliency and Grad-CAM pictures are figures; activation statistics are histograms.
 *
 * Figure layout, in pixels, from the top left (the tests check it):
 *   - a margin of MARGIN (12) on every side;
 *   - the title, when not NULL or "", at scale 2 (2 * CNN_FONT_H = 18 pixels a line, lines
 *     2 * CNN_FONT_LINE apart), each line centred, lines wider than MAX_TITLE_W (1600) cut
 *     with "..."; the grid starts TITLE_GAP (10) below it, or at the top margin without one;
 *   - zoom: fig->zoom, or when 0 the integer nearest to 96 / (the largest panel height or
 *     width, in values), at least 1;
 *   - every cell has the size of the largest panel: PW = (largest width) * zoom and
 *     PH = (largest height) * zoom, plus a 1-pixel frame on each side, then, when any panel
 *     has a label, LABEL_GAP (4) and one text line (CNN_FONT_H = 9): a cell is PW + 2 wide
 *     and PH + 2 (+ 13) tall; cells are GAP (12) apart both ways;
 *   - columns: fig->columns (at most n), or when 0 ceil(sqrt(n)); panels fill rows left to
 *     right, top to bottom; a smaller panel is centred in its cell's image area (its frame
 *     drawn around it), and labels are centred under the image area, on the first line of
 *     the label only, cut with "..." where wider than the cell;
 *   - the colour bar, when fig->scale_label is not NULL: BAR_GAP (20) right of the grid, its
 *     label at the grid's top, the bar BAR_W (14) wide from CNN_FONT_LINE + 1 below the grid's
 *     top to the bottom of the last row's frames (at least MIN_BAR_H, at most MAX_BAR_H), tick
 *     labels right of it; its label is cut to MAX_SCALE_LABEL_W (160);
 *   - the picture is 2 * MARGIN wider than the grid plus the bar (or the title when it is
 *     wider; the grid is then centred) and MARGIN taller than where the grid (or the bar)
 *     ends.
 *
 * Value ranges: lo == hi means the panel's own smallest and largest finite values
 * (cnn_minmax; over all three planes for RGB); the same rule applies to under_lo and
 * under_hi. A range with nothing in it (a constant panel) draws mid grey or the middle colour.
 * NaN values are drawn red in grey and RGB panels and leave the image under a heat map
 * visible.
 *
 * Histogram layout: the same margin and title; cells of HIST_W x HIST_H (300 x 200) pixels,
 * HIST_GAP (16) apart, columns (0: min(n, 3)). In a cell: the histogram's title on top, the
 * plot area with the y axis (counts, "nice" integer ticks from 0 to at least the largest
 * count, light grid lines) on the left and the x axis (nice ticks between lo and hi) below,
 * one filled bar per bin (a non-zero count is at least 1 pixel tall), and the note under the
 * x tick labels. Titles and notes are cut with "..." to the cell's width.
 *
 * Nothing here trusts the caller's sizes: every size is checked, the picture's size is
 * computed in 64-bit arithmetic and refused above the canvas's limit, and every error names
 * the offending panel (panels[i] / h[i], 0-based as in the caller's array).
 */
#include "canvas.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#define BACKGROUND 0xffffffu
#define INK 0x222222u      /* text */
#define AXIS 0x555555u     /* panel frames, axes, tick marks */
#define GRID 0xe6e6e6u     /* histogram grid lines */
#define BAR 0x1f77b4u      /* histogram bars: the first colour of plot.c's palette */

#define MARGIN 12
#define TITLE_GAP 10
#define GAP 12
#define LABEL_GAP 4
#define BAR_GAP 20
#define BAR_W 14
#define MIN_BAR_H 64
#define MAX_BAR_H 400
#define MAX_TITLE_W 1600   /* a title widens the picture up to this; longer lines are cut */
#define MAX_SCALE_LABEL_W 160 /* the colour bar's label is cut to this */
#define TARGET_PANEL 96    /* automatic zoom: panels about this many pixels across */
#define MAX_PANEL_SIDE 16384 /* values along a panel's height or width */
#define TICK_LEN 4

#define HIST_W 300
#define HIST_H 200
#define HIST_GAP 16
#define HIST_MAX_BINS 4096

/* The canvas refuses pictures above CNN_CANVAS_MAX_PIXELS; checking first gives a message
 * instead of an allocation failure. Each side is bounded too, so that products stay small. */
#define MAX_SIDE (1LL << 20)

/* Room for one line of a label, title or note after fitting it to its width. */
#define TEXT_BUF 512

/* ---------------------------------------------------------------------------------------------
 * Text that fits
 * ------------------------------------------------------------------------------------------- */

/* Bytes of the character starting at s as the font counts characters (canvas.c): one for
 * ASCII and for a malformed byte, a whole UTF-8 sequence otherwise. s[0] is not NUL. */
static size_t char_len(const char *s) {
    const unsigned char *p = (const unsigned char *)s;
    size_t n = 1;
    if (p[0] >= 0xc0 && p[0] < 0xf8) {
        int extra = p[0] < 0xe0 ? 1 : p[0] < 0xf0 ? 2 : 3;
        for (int k = 0; k < extra && (p[n] & 0xc0) == 0x80; k++) n++;
    }
    return n;
}

/* The first line of s (may be NULL) in buf[TEXT_BUF], cut to at most max_w pixels at this
 * scale: when it does not fit, as many characters as fit followed by "...". Returns buf. */
static const char *fit_text(const char *s, int max_w, int scale, char *buf) {
    buf[0] = 0;
    if (!s || max_w <= 0) return buf;
    /* n characters take (n * ADVANCE - 1) * scale pixels. */
    long fit = ((long)max_w / scale + 1) / CNN_FONT_ADVANCE;
    long chars = 0;
    size_t bytes = 0;
    while (s[bytes] && s[bytes] != '\n') {
        bytes += char_len(s + bytes);
        chars++;
    }
    if (chars <= fit && bytes < TEXT_BUF) {
        memcpy(buf, s, bytes);
        buf[bytes] = 0;
        return buf;
    }
    long keep = fit > 3 ? fit - 3 : 0;
    size_t at = 0;
    for (long k = 0; k < keep; k++) {
        size_t len = char_len(s + at);
        if (at + len + 4 > TEXT_BUF) break;
        at += len;
    }
    memcpy(buf, s, at);
    long dots = fit < 3 ? fit : 3;
    for (long k = 0; k < dots; k++) buf[at++] = '.';
    buf[at] = 0;
    return buf;
}

/* Lines in s ('\n' separated); 0 for NULL or "". */
static int line_count(const char *s) {
    if (!cnn_has_text(s)) return 0;
    int n = 1;
    for (; *s; s++) n += *s == '\n';
    return n;
}

/* Height of a title drawn at scale 2 (0 without one). */
static long title_height(const char *title) {
    int lines = line_count(title);
    return lines ? 2L * CNN_FONT_H + (lines - 1) * 2L * CNN_FONT_LINE : 0;
}

/* The grid's top: below the title and TITLE_GAP, or at the margin. */
static long grid_top(const char *title) {
    return cnn_has_text(title) ? MARGIN + title_height(title) + TITLE_GAP : MARGIN;
}

/* Checks that a width x height picture can be drawn. */
static cnn_status check_picture(const char *what, long long width, long long height, char *err,
                                size_t errlen) {
    if (width > MAX_SIDE || height > MAX_SIDE || width * height > CNN_CANVAS_MAX_PIXELS)
        return cnn_set_error(err, errlen, CNN_STATUS_INVALID_ARGUMENT,
                             "%s: the picture would be %lld x %lld pixels, more than the limit "
                             "of %lld pixels (and %lld a side); draw fewer or smaller panels "
                             "(or fewer title lines)",
                             what, width, height, CNN_CANVAS_MAX_PIXELS, MAX_SIDE);
    return CNN_STATUS_OK;
}

/* A new white canvas, or CNN_STATUS_NO_MEMORY. */
static cnn_status new_canvas(const char *what, long long width, long long height,
                             cnn_canvas **out, char *err, size_t errlen) {
    *out = cnn_canvas_new((int)width, (int)height, BACKGROUND);
    if (!*out)
        return cnn_set_error(err, errlen, CNN_STATUS_NO_MEMORY,
                             "%s: out of memory for a %lld x %lld picture", what, width, height);
    return CNN_STATUS_OK;
}

/* Width a title (scale 2) asks for: its widest line, at most MAX_TITLE_W. */
static long long title_width(const char *title) {
    if (!cnn_has_text(title)) return 0;
    int w = cnn_canvas_text_width(title, 2);
    return w < MAX_TITLE_W ? w : MAX_TITLE_W;
}

/* Draws the title from the top margin, each line centred across the picture and cut with
 * "..." to the picture's width inside the margins. */
static void draw_title(cnn_canvas *c, const char *title) {
    if (!cnn_has_text(title)) return;
    char buf[TEXT_BUF];
    int y = MARGIN;
    for (const char *line = title; line; y += 2 * CNN_FONT_LINE) {
        fit_text(line, c->width - 2 * MARGIN, 2, buf);
        cnn_canvas_text(c, (c->width - cnn_canvas_text_width(buf, 2)) / 2, y, 2, INK, buf);
        line = strchr(line, '\n');
        if (line) line++;
    }
}

/* ---------------------------------------------------------------------------------------------
 * Figures: checks
 * ------------------------------------------------------------------------------------------- */

/* How errors name entry i of the caller's array: "panels[2] ('conv1 #3')", or "panels[2]"
 * when it has no label. */
static const char *entry_name(const char *array, int i, const char *label, char *buf) {
    char text[TEXT_BUF];
    fit_text(label, 40 * CNN_FONT_ADVANCE, 1, text);
    if (text[0])
        snprintf(buf, TEXT_BUF, "%s[%d] ('%s')", array, i, text);
    else
        snprintf(buf, TEXT_BUF, "%s[%d]", array, i);
    return buf;
}

/* A range [lo, hi] of a panel: both finite and lo <= hi. */
static cnn_status check_range(const char *name, const char *lo_name, float lo,
                              const char *hi_name, float hi, char *err, size_t errlen) {
    if (!isfinite(lo) || !isfinite(hi) || lo > hi)
        return cnn_set_error(err, errlen, CNN_STATUS_INVALID_ARGUMENT,
                             "figure: %s: %s %g and %s %g must be finite with %s <= %s (equal: "
                             "the values' own range)",
                             name, lo_name, (double)lo, hi_name, (double)hi, lo_name, hi_name);
    return CNN_STATUS_OK;
}

/* Everything about panel i that could make drawing it fail or read outside its arrays (as
 * far as sizes tell). */
static cnn_status check_panel(const cnn_panel *p, int i, char *err, size_t errlen) {
    char label[TEXT_BUF];
    entry_name("panels", i, p->label, label);
    if (p->kind != CNN_PANEL_GRAY && p->kind != CNN_PANEL_RGB && p->kind != CNN_PANEL_HEAT)
        return cnn_set_error(err, errlen, CNN_STATUS_INVALID_ARGUMENT,
                             "figure: %s: unknown kind %d (gray %d, rgb %d, heat %d)", label, (int)p->kind, CNN_PANEL_GRAY, CNN_PANEL_RGB,
                             CNN_PANEL_HEAT);
    if (!p->values)
        return cnn_set_error(err, errlen, CNN_STATUS_INVALID_ARGUMENT,
                             "figure: %s: no values", label);
    if (p->height < 1 || p->width < 1 || p->height > MAX_PANEL_SIDE ||
        p->width > MAX_PANEL_SIDE)
        return cnn_set_error(err, errlen, CNN_STATUS_INVALID_ARGUMENT,
                             "figure: %s: %d x %d values; height and width must be 1 to %d",
                             label, p->height, p->width, MAX_PANEL_SIDE);
    cnn_status st = check_range(label, "lo", p->lo, "hi", p->hi, err, errlen);
    if (st != CNN_STATUS_OK) return st;
    if (!p->under) return CNN_STATUS_OK;
    if (p->kind != CNN_PANEL_HEAT)
        return cnn_set_error(err, errlen, CNN_STATUS_INVALID_ARGUMENT,
                             "figure: %s: an image under the values is only for heat panels",
                             label);
    if (p->under_channels != 1 && p->under_channels != 3)
        return cnn_set_error(err, errlen, CNN_STATUS_INVALID_ARGUMENT,
                             "figure: %s: the image under the heat map has %d channels; 1 "
                             "(grey) or 3 (RGB)",
                             label, p->under_channels);
    if (!(p->alpha > 0.0f && p->alpha <= 1.0f))
        return cnn_set_error(err, errlen, CNN_STATUS_INVALID_ARGUMENT,
                             "figure: %s: alpha %g; the heat's opacity over an image must be "
                             "in (0, 1]",
                             label, (double)p->alpha);
    return check_range(label, "under_lo", p->under_lo, "under_hi", p->under_hi, err, errlen);
}

/* ---------------------------------------------------------------------------------------------
 * Figures: layout and drawing
 * ------------------------------------------------------------------------------------------- */

/* Where everything goes; all in pixels of the picture. */
typedef struct figure_layout {
    int zoom, columns, rows;
    long long pw, ph;       /* the image area of a cell, without the frame */
    long long cw, ch;       /* a cell: frame included, label line included */
    long long label_band;   /* LABEL_GAP + a text line when there are labels, else 0 */
    long long grid_x, grid_y, grid_w, grid_h;
    int bar;                /* draw the colour bar */
    long long bar_x, bar_y, bar_h, bar_block_w, bar_block_h;
    long long width, height;
} figure_layout;

/* Width of the colour bar's widest tick label. */
static int colorbar_ticks_width(float lo, float hi, int h) {
    double ticks[101], step;
    int n = cnn_colorbar_ticks(lo, hi, h, ticks, 101, &step), widest = 0;
    char buf[32];
    for (int k = 0; k < n; k++) {
        cnn_tick_label(ticks[k], step, buf, sizeof buf);
        int w = cnn_canvas_text_width(buf, 1);
        widest = w > widest ? w : widest;
    }
    return widest;
}

/* Lays out a checked figure (see the header of this file); refuses a picture above the
 * canvas's limit. */
static cnn_status layout_figure(const cnn_figure *fig, const cnn_panel *panels, int n,
                                figure_layout *L, char *err, size_t errlen) {
    memset(L, 0, sizeof *L);
    int max_w = 0, max_h = 0, labels = 0;
    for (int i = 0; i < n; i++) {
        max_w = panels[i].width > max_w ? panels[i].width : max_w;
        max_h = panels[i].height > max_h ? panels[i].height : max_h;
        labels |= cnn_has_text(panels[i].label);
    }
    int side = max_w > max_h ? max_w : max_h;
    L->zoom = fig->zoom > 0 ? fig->zoom : (TARGET_PANEL + side / 2) / side;
    if (L->zoom < 1) L->zoom = 1;
    if (fig->columns > 0)
        L->columns = fig->columns < n ? fig->columns : n;
    else {
        L->columns = (int)ceil(sqrt((double)n));
        while ((long long)L->columns * L->columns < n) L->columns++; /* rounding in sqrt */
    }
    L->rows = (int)(((long long)n + L->columns - 1) / L->columns);

    L->pw = (long long)max_w * L->zoom;
    L->ph = (long long)max_h * L->zoom;
    if (L->pw + 2 > MAX_SIDE || L->ph + 2 > MAX_SIDE)
        return cnn_set_error(err, errlen, CNN_STATUS_INVALID_ARGUMENT,
                             "figure: panels of up to %d x %d values at zoom %d would be %lld x "
                             "%lld pixels each, more than the limit of %lld a side; use a "
                             "smaller zoom",
                             max_h, max_w, L->zoom, L->ph, L->pw, MAX_SIDE);
    L->label_band = labels ? LABEL_GAP + CNN_FONT_H : 0;
    L->cw = L->pw + 2;
    L->ch = L->ph + 2 + L->label_band;
    L->grid_w = L->columns * (L->cw + GAP) - GAP;
    L->grid_h = L->rows * (L->ch + GAP) - GAP;
    L->grid_y = grid_top(fig->title);

    long long content_w = L->grid_w, content_h = L->grid_h;
    L->bar = fig->scale_label != NULL;
    if (L->bar) {
        /* From just under the label line to the bottom of the last row's frames. */
        long long h = L->grid_h - L->label_band - (CNN_FONT_LINE + 1) - 1;
        L->bar_h = h < MIN_BAR_H ? MIN_BAR_H : h > MAX_BAR_H ? MAX_BAR_H : h;
        int ticks = colorbar_ticks_width(fig->scale_lo, fig->scale_hi, (int)L->bar_h);
        char label[TEXT_BUF];
        long long label_w =
            cnn_canvas_text_width(fit_text(fig->scale_label, MAX_SCALE_LABEL_W, 1, label), 1);
        long long w = BAR_W + 6 + ticks;
        L->bar_block_w = label_w > w ? label_w : w;
        /* The label line, the bar in its frame, half a tick label hanging below. */
        L->bar_block_h = CNN_FONT_LINE + 1 + L->bar_h + 1 + CNN_FONT_ASCENT / 2 + 1;
        content_w += BAR_GAP + L->bar_block_w;
        content_h = L->bar_block_h > content_h ? L->bar_block_h : content_h;
    }
    long long title_w = title_width(fig->title);
    L->width = 2 * MARGIN + (title_w > content_w ? title_w : content_w);
    L->height = L->grid_y + content_h + MARGIN;
    L->grid_x = (L->width - content_w) / 2;
    L->bar_x = L->grid_x + L->grid_w + BAR_GAP;
    L->bar_y = L->grid_y + CNN_FONT_LINE + 1;
    return check_picture("figure", L->width, L->height, err, errlen);
}

/* The range to draw values with: [lo, hi], or the values' own when lo == hi. */
static void panel_range(const float *v, size_t count, float lo, float hi, float *a, float *b) {
    if (lo == hi)
        cnn_minmax(v, count, a, b);
    else {
        *a = lo;
        *b = hi;
    }
}

/* Draws panel p with its image's top-left corner at (x, y). */
static void draw_panel_image(cnn_canvas *c, const cnn_panel *p, int x, int y, int zoom) {
    size_t plane = (size_t)p->height * p->width;
    float lo, hi;
    switch (p->kind) {
    case CNN_PANEL_GRAY:
        panel_range(p->values, plane, p->lo, p->hi, &lo, &hi);
        cnn_canvas_blit_gray(c, x, y, p->values, p->width, p->height, lo, hi, zoom);
        break;
    case CNN_PANEL_RGB:
        panel_range(p->values, 3 * plane, p->lo, p->hi, &lo, &hi);
        cnn_canvas_blit_rgb(c, x, y, p->values, p->width, p->height, lo, hi, zoom);
        break;
    case CNN_PANEL_HEAT: {
        float alpha = 1.0f;
        if (p->under) {
            panel_range(p->under, plane * p->under_channels, p->under_lo, p->under_hi, &lo, &hi);
            if (p->under_channels == 3)
                cnn_canvas_blit_rgb(c, x, y, p->under, p->width, p->height, lo, hi, zoom);
            else
                cnn_canvas_blit_gray(c, x, y, p->under, p->width, p->height, lo, hi, zoom);
            alpha = p->alpha;
        }
        panel_range(p->values, plane, p->lo, p->hi, &lo, &hi);
        cnn_canvas_blit_heat(c, x, y, p->values, p->width, p->height, lo, hi, zoom, alpha);
        break;
    }
    }
}

/* Draws the figure on a new canvas (*out, the caller frees it). Internal, for the tests and
 * for callers that add to the picture: cnn_figure_save is this and a PNG. */
cnn_status cnn_figure_render(const cnn_figure *fig, const cnn_panel *panels, int n,
                             cnn_canvas **out, char *err, size_t errlen) {
    if (!out)
        return cnn_set_error(err, errlen, CNN_STATUS_INVALID_ARGUMENT,
                             "figure: no output canvas");
    *out = NULL;
    if (!fig)
        return cnn_set_error(err, errlen, CNN_STATUS_INVALID_ARGUMENT, "figure: no figure");
    if (n < 1 || !panels)
        return cnn_set_error(err, errlen, CNN_STATUS_INVALID_ARGUMENT,
                             "figure: %d panels%s; at least one is needed", n,
                             panels ? "" : " and no panel array");
    if (fig->columns < 0 || fig->zoom < 0)
        return cnn_set_error(err, errlen, CNN_STATUS_INVALID_ARGUMENT,
                             "figure: columns %d and zoom %d must not be negative (0: "
                             "automatic)",
                             fig->columns, fig->zoom);
    if (fig->scale_label && (!isfinite(fig->scale_lo) || !isfinite(fig->scale_hi) ||
                             fig->scale_lo > fig->scale_hi))
        return cnn_set_error(err, errlen, CNN_STATUS_INVALID_ARGUMENT,
                             "figure: the colour scale's range [%g, %g] must be finite with "
                             "scale_lo <= scale_hi",
                             (double)fig->scale_lo, (double)fig->scale_hi);
    for (int i = 0; i < n; i++) {
        cnn_status st = check_panel(&panels[i], i, err, errlen);
        if (st != CNN_STATUS_OK) return st;
    }
    figure_layout L;
    cnn_status st = layout_figure(fig, panels, n, &L, err, errlen);
    if (st != CNN_STATUS_OK) return st;
    cnn_canvas *c;
    st = new_canvas("figure", L.width, L.height, &c, err, errlen);
    if (st != CNN_STATUS_OK) return st;

    draw_title(c, fig->title);
    char buf[TEXT_BUF];
    for (int i = 0; i < n; i++) {
        const cnn_panel *p = &panels[i];
        int cx = (int)(L.grid_x + (i % L.columns) * (L.cw + GAP));
        int cy = (int)(L.grid_y + (i / L.columns) * (L.ch + GAP));
        int w = p->width * L.zoom, h = p->height * L.zoom;
        int x = cx + 1 + (int)(L.pw - w) / 2, y = cy + 1 + (int)(L.ph - h) / 2;
        draw_panel_image(c, p, x, y, L.zoom);
        cnn_canvas_frame(c, x - 1, y - 1, w + 2, h + 2, AXIS);
        if (cnn_has_text(p->label)) {
            fit_text(p->label, (int)L.cw, 1, buf);
            cnn_canvas_text(c, cx + ((int)L.cw - cnn_canvas_text_width(buf, 1)) / 2,
                            cy + (int)L.ph + 2 + LABEL_GAP, 1, INK, buf);
        }
    }
    if (L.bar)
        cnn_canvas_colorbar(c, (int)L.bar_x, (int)L.bar_y, BAR_W, (int)L.bar_h, fig->scale_lo,
                            fig->scale_hi, fit_text(fig->scale_label, MAX_SCALE_LABEL_W, 1, buf));
    *out = c;
    return CNN_STATUS_OK;
}

/* Renders the figure and writes it as a PNG (atomically, see cnn_canvas_save_png). */
cnn_status cnn_figure_save(const char *path, const cnn_figure *fig, const cnn_panel *panels,
                           int n, char *err, size_t errlen) {
    if (!cnn_has_text(path))
        return cnn_set_error(err, errlen, CNN_STATUS_INVALID_ARGUMENT, "figure: no path");
    cnn_canvas *c;
    cnn_status st = cnn_figure_render(fig, panels, n, &c, err, errlen);
    if (st != CNN_STATUS_OK) return st;
    st = cnn_canvas_save_png(c, path, err, errlen);
    cnn_canvas_free(c);
    return st;
}

/* ---------------------------------------------------------------------------------------------
 * Histograms
 * ------------------------------------------------------------------------------------------- */

/* Everything about histogram i that could make drawing it fail (as far as sizes tell). */
static cnn_status check_histogram(const cnn_histogram *h, int i, char *err, size_t errlen) {
    char title[TEXT_BUF];
    entry_name("h", i, h->title, title);
    if (h->bins < 1 || h->bins > HIST_MAX_BINS)
        return cnn_set_error(err, errlen, CNN_STATUS_INVALID_ARGUMENT,
                             "histograms: %s: %d bins; 1 to %d", title, h->bins,
                             HIST_MAX_BINS);
    if (!h->counts)
        return cnn_set_error(err, errlen, CNN_STATUS_INVALID_ARGUMENT,
                             "histograms: %s: no counts", title);
    if (!isfinite(h->lo) || !isfinite(h->hi) || !(h->lo < h->hi))
        return cnn_set_error(err, errlen, CNN_STATUS_INVALID_ARGUMENT,
                             "histograms: %s: the range [%g, %g] must be finite with lo < hi",
                             title, (double)h->lo, (double)h->hi);
    return CNN_STATUS_OK;
}

/* The ticks of an axis: labelled values first + k * step for k = 0 .. count - 1. */
typedef struct ticks {
    double first, step;
    int count;
} ticks;

/* Ticks of [lo, hi] about `target` intervals apart (steps of at least min_step when it is
 * positive), keeping only those inside the range; with `enclose`, the range is widened to the
 * enclosing ticks instead (*hi is updated). */
static ticks make_ticks(double lo, double *hi, int target, double min_step, int enclose) {
    double first, last;
    ticks t;
    t.step = cnn_nice_ticks(lo, *hi, target, min_step, &first, &last);
    if (enclose) *hi = last;
    double eps = t.step * 1e-6;
    t.first = first < lo - eps ? ceil(lo / t.step - 1e-6) * t.step : first;
    t.count = 0;
    while (t.count < 1000 && t.first + t.count * t.step <= *hi + eps) t.count++;
    return t;
}

/* The widest tick label of t. */
static int ticks_width(const ticks *t) {
    char buf[48];
    int widest = 0;
    for (int k = 0; k < t->count; k++) {
        cnn_tick_label(t->first + k * t->step, t->step, buf, sizeof buf);
        int w = cnn_canvas_text_width(buf, 1);
        widest = w > widest ? w : widest;
    }
    return widest;
}

/* Draws s (at most HIST_W wide) at height y, centred over the plot area [ax, ax + aw) but
 * kept inside the cell [x0, x0 + HIST_W). */
static void cell_text(cnn_canvas *c, const char *s, int x0, int ax, int aw, int y) {
    int w = cnn_canvas_text_width(s, 1);
    int x = ax + (aw - w) / 2;
    if (x + w > x0 + HIST_W) x = x0 + HIST_W - w;
    if (x < x0) x = x0;
    cnn_canvas_text(c, x, y, 1, INK, s);
}

/* Draws histogram h in the HIST_W x HIST_H cell at (x0, y0). */
static void draw_histogram(cnn_canvas *c, const cnn_histogram *h, int x0, int y0) {
    char buf[TEXT_BUF], lab[48];
    uint64_t top = 0;
    for (int i = 0; i < h->bins; i++) top = h->counts[i] > top ? h->counts[i] : top;

    /* The y axis: counts from 0 to the tick enclosing the largest (1 when all are 0). */
    double ymax = top > 0 ? (double)top : 1.0;
    ticks ty = make_ticks(0.0, &ymax, 4, 1.0, 1);
    int left = ticks_width(&ty) + 4 + TICK_LEN + 1 + 4;
    int title_band = CNN_FONT_H + 6;
    int bottom_band = 1 + TICK_LEN + 3 + CNN_FONT_H + 6 + CNN_FONT_H;
    int ax = x0 + left, ay = y0 + title_band;
    int aw = HIST_W - left - 16, ah = HIST_H - title_band - bottom_band;

    /* The x axis: nice ticks inside [lo, hi], as many as fit without their labels touching. */
    double lo = h->lo, hi = h->hi;
    ticks tx;
    for (int target = aw / 60; ; target--) {
        tx = make_ticks(lo, &hi, target < 1 ? 1 : target, 0.0, 0);
        double spacing = tx.step / (hi - lo) * aw;
        if (target <= 1 || ticks_width(&tx) + 8 <= spacing) break;
    }
    if (tx.count < 2) {
        /* A range too narrow for two nice ticks: its two ends, labelled as precisely as the
         * range needs. */
        tx.first = lo;
        tx.step = hi - lo;
        tx.count = 2;
    }

    for (int k = 0; k < ty.count; k++) {
        double v = ty.first + k * ty.step;
        int py = ay + ah - (int)lround(v / ymax * ah);
        cnn_canvas_fill_rect(c, ax, py, aw, 1, GRID);
    }
    for (int i = 0; i < h->bins; i++) {
        if (!h->counts[i]) continue;
        int bx0 = ax + (int)((long)i * aw / h->bins);
        int bx1 = ax + (int)((long)(i + 1) * aw / h->bins);
        if (bx1 - bx0 >= 4) bx1--; /* a white line between wide bars */
        if (bx1 <= bx0) bx1 = bx0 + 1;
        int bh = (int)lround((double)h->counts[i] / ymax * ah);
        if (bh < 1) bh = 1;
        cnn_canvas_fill_rect(c, bx0, ay + ah - bh, bx1 - bx0, bh, BAR);
    }
    cnn_canvas_frame(c, ax - 1, ay - 1, aw + 2, ah + 2, AXIS);

    for (int k = 0; k < ty.count; k++) {
        double v = ty.first + k * ty.step;
        int py = ay + ah - (int)lround(v / ymax * ah);
        cnn_canvas_fill_rect(c, ax - 1 - TICK_LEN, py, TICK_LEN, 1, AXIS);
        cnn_tick_label(v, ty.step, lab, sizeof lab);
        cnn_canvas_text(c, ax - 1 - TICK_LEN - 4 - cnn_canvas_text_width(lab, 1),
                        py - CNN_FONT_ASCENT / 2, 1, INK, lab);
    }
    for (int k = 0; k < tx.count; k++) {
        double v = tx.first + k * tx.step;
        int px = ax + (int)lround((v - lo) / (hi - lo) * aw);
        if (px > ax + aw) px = ax + aw;
        cnn_canvas_fill_rect(c, px, ay + ah + 1, 1, TICK_LEN, AXIS);
        cnn_tick_label(v, tx.step, lab, sizeof lab);
        /* Centred under the tick, but the labels at the ends stay inside the cell. */
        int w = cnn_canvas_text_width(lab, 1), lx = px - w / 2;
        lx = lx + w > x0 + HIST_W ? x0 + HIST_W - w : lx;
        lx = lx < x0 ? x0 : lx;
        cnn_canvas_text(c, lx, ay + ah + 1 + TICK_LEN + 3, 1, INK, lab);
    }

    fit_text(h->title, HIST_W, 1, buf);
    cell_text(c, buf, x0, ax, aw, y0);
    fit_text(h->note, HIST_W, 1, buf);
    cell_text(c, buf, x0, ax, aw, ay + ah + 1 + TICK_LEN + 3 + CNN_FONT_H + 6);
}

/* Draws the histograms on a new canvas (*out, the caller frees it). Internal, for the tests:
 * cnn_histograms_save is this and a PNG. */
cnn_status cnn_histograms_render(const char *title, const cnn_histogram *h, int n, int columns,
                                 cnn_canvas **out, char *err, size_t errlen) {
    if (!out)
        return cnn_set_error(err, errlen, CNN_STATUS_INVALID_ARGUMENT,
                             "histograms: no output canvas");
    *out = NULL;
    if (n < 1 || !h)
        return cnn_set_error(err, errlen, CNN_STATUS_INVALID_ARGUMENT,
                             "histograms: %d histograms%s; at least one is needed", n,
                             h ? "" : " and no array");
    if (columns < 0)
        return cnn_set_error(err, errlen, CNN_STATUS_INVALID_ARGUMENT,
                             "histograms: columns %d must not be negative (0: up to 3)",
                             columns);
    for (int i = 0; i < n; i++) {
        cnn_status st = check_histogram(&h[i], i, err, errlen);
        if (st != CNN_STATUS_OK) return st;
    }
    int cols = columns > 0 ? columns : 3;
    cols = cols < n ? cols : n;
    long long rows = ((long long)n + cols - 1) / cols;
    long long grid_w = cols * (long long)(HIST_W + HIST_GAP) - HIST_GAP;
    long long grid_h = rows * (HIST_H + HIST_GAP) - HIST_GAP;
    long long title_w = title_width(title);
    long long width = 2 * MARGIN + (title_w > grid_w ? title_w : grid_w);
    long long height = grid_top(title) + grid_h + MARGIN;
    cnn_status st = check_picture("histograms", width, height, err, errlen);
    if (st != CNN_STATUS_OK) return st;
    cnn_canvas *c;
    st = new_canvas("histograms", width, height, &c, err, errlen);
    if (st != CNN_STATUS_OK) return st;

    draw_title(c, title);
    long long gx = (width - grid_w) / 2, gy = grid_top(title);
    for (int i = 0; i < n; i++)
        draw_histogram(c, &h[i], (int)(gx + (i % cols) * (HIST_W + HIST_GAP)),
                       (int)(gy + (i / cols) * (long long)(HIST_H + HIST_GAP)));
    *out = c;
    return CNN_STATUS_OK;
}

/* Renders the histograms and writes them as a PNG (atomically, see cnn_canvas_save_png). */
cnn_status cnn_histograms_save(const char *path, const char *title, const cnn_histogram *h,
                               int n, int columns, char *err, size_t errlen) {
    if (!cnn_has_text(path))
        return cnn_set_error(err, errlen, CNN_STATUS_INVALID_ARGUMENT, "histograms: no path");
    cnn_canvas *c;
    cnn_status st = cnn_histograms_render(title, h, n, columns, &c, err, errlen);
    if (st != CNN_STATUS_OK) return st;
    st = cnn_canvas_save_png(c, path, err, errlen);
    cnn_canvas_free(c);
    return st;
}

/*
 * canvas.h - pictures for people: an RGB canvas with rectangles, lines, markers, text in an
 * embedded bitmap font, greyscale / RGB / heat-map blits of float arrays, a perceptual colour
 * map with a colour bar, and PNG output through libpng. The training-log plots (plot.c) and the
 * visualisations of filters and feature maps draw on it. Internal: not in the public header.
 *
 * Coordinates are pixels, x to the right and y down, (0, 0) the top-left pixel. Every drawing
 * call clips to the canvas, so callers may draw partly or wholly outside it. Colours are
 * 0xRRGGBB. Shapes of blitted arrays: a grey or heat image is H rows of W floats, an RGB image
 * is three such planes one after another (C, H, W) with C = 3.
 */
#ifndef CNN_VIZ_CANVAS_H
#define CNN_VIZ_CANVAS_H

#include "../core/internal.h"

#include <stddef.h>
#include <stdint.h>

/* The font: glyphs of CNN_FONT_W x CNN_FONT_H pixels, CNN_FONT_ASCENT rows above the baseline
 * (capitals and digits) and the rest for descenders; characters advance CNN_FONT_ADVANCE
 * pixels and lines CNN_FONT_LINE pixels, times the scale. */
#define CNN_FONT_W 5
#define CNN_FONT_H 9
#define CNN_FONT_ASCENT 7
#define CNN_FONT_ADVANCE 6
#define CNN_FONT_LINE 11
#define CNN_FONT_FIRST 0x20 /* ' ' */
#define CNN_FONT_LAST 0x7e  /* '~' */

/* Rows of each printable ASCII glyph, cnn_font_glyphs[ch - CNN_FONT_FIRST][row]; bit 4 of a
 * row byte is the leftmost column. */
extern const uint8_t cnn_font_glyphs[CNN_FONT_LAST - CNN_FONT_FIRST + 1][CNN_FONT_H];
/* Drawn for every character the font has no glyph for (a box). */
extern const uint8_t cnn_font_missing[CNN_FONT_H];

/* The most pixels a canvas may have: beyond any plot or filter grid, and small enough that
 * width * height * 3 never overflows. */
#define CNN_CANVAS_MAX_PIXELS (1LL << 28)

typedef struct cnn_canvas {
    int width, height;
    uint8_t *pixels; /* height rows of width RGB triples, row-major, from cnn_alloc */
} cnn_canvas;

/* A width x height canvas filled with the background colour, or NULL when a size is not
 * positive, the picture would exceed 2^28 pixels, or memory runs out. */
cnn_canvas *cnn_canvas_new(int width, int height, uint32_t background);
/* Accepts NULL. */
void cnn_canvas_free(cnn_canvas *c);

/* One pixel: set (ignored outside the canvas) and read (0 outside). */
void cnn_canvas_put(cnn_canvas *c, int x, int y, uint32_t rgb);
uint32_t cnn_canvas_get(const cnn_canvas *c, int x, int y);

/* The w x h rectangle with top-left corner (x, y), filled; its 1-pixel outline. */
void cnn_canvas_fill_rect(cnn_canvas *c, int x, int y, int w, int h, uint32_t rgb);
void cnn_canvas_frame(cnn_canvas *c, int x, int y, int w, int h, uint32_t rgb);

/* A line from (x0, y0) to (x1, y1), both ends included. thickness <= 1: the exact 1-pixel
 * Bresenham line (unblended, so tests can check pixels). thickness > 1: an antialiased stroke
 * of that width with round ends, blended over what is there. */
void cnn_canvas_line(cnn_canvas *c, int x0, int y0, int x1, int y1, int thickness,
                     uint32_t rgb);

/* Plot markers centred on (x, y), about `size` pixels across, antialiased. */
typedef enum cnn_marker {
    CNN_MARKER_CIRCLE,
    CNN_MARKER_SQUARE,
    CNN_MARKER_TRIANGLE,
    CNN_MARKER_DIAMOND,
    CNN_MARKER_COUNT
} cnn_marker;
void cnn_canvas_marker(cnn_canvas *c, int x, int y, int size, cnn_marker shape, uint32_t rgb);

/* Text from (x, y), the top-left corner of its first character cell, in the bitmap font
 * magnified by the integer scale (>= 1). '\n' starts a new line below x. The string is
 * UTF-8; code points outside printable ASCII (and malformed bytes) are drawn as a box, one
 * per code point, so the width stays predictable. Returns the width drawn (the widest line). */
int cnn_canvas_text(cnn_canvas *c, int x, int y, int scale, uint32_t rgb, const char *s);
/* The same text turned a quarter turn counter-clockwise, reading upwards, as a y-axis label:
 * (x, y) is the bottom-left corner of the first character's cell, the text occupies
 * cnn_canvas_text_height(scale) columns to the right of x and extends upwards from y. One line
 * only ('\n' is drawn as a box). */
int cnn_canvas_text_up(cnn_canvas *c, int x, int y, int scale, uint32_t rgb, const char *s);
/* Width in pixels of the widest line of s at this scale: characters * CNN_FONT_ADVANCE - 1,
 * times the scale (the gap after the last character is not counted); 0 for "". */
int cnn_canvas_text_width(const char *s, int scale);
/* Height of one line of glyphs including descenders, CNN_FONT_H * scale. */
int cnn_canvas_text_height(int scale);

/* values (h rows of w floats) as grey at (x, y), each value a zoom x zoom block: lo is black,
 * hi white, values between linearly, outside clamped. NaN is drawn red so it stands out.
 * When hi <= lo every finite value is mid grey. */
void cnn_canvas_blit_gray(cnn_canvas *c, int x, int y, const float *values, int w, int h,
                          float lo, float hi, int zoom);
/* Three planes (R, G, B) of h x w floats mapped from [lo, hi] to [0, 255] each, as above. */
void cnn_canvas_blit_rgb(cnn_canvas *c, int x, int y, const float *planes, int w, int h,
                         float lo, float hi, int zoom);
/* values through the colour map, lo to hi, blended over the canvas with opacity alpha in
 * [0, 1] (1: opaque; 0.5: half the heat, half the image drawn before). NaN leaves the canvas
 * as it was. */
void cnn_canvas_blit_heat(cnn_canvas *c, int x, int y, const float *values, int w, int h,
                          float lo, float hi, int zoom, float alpha);

/* The smallest and largest finite values of x[0..n); both 0 when there are none. */
void cnn_minmax(const float *x, size_t n, float *lo, float *hi);

/* The perceptual colour map viridis (matplotlib's, sampled every 8th of its 256 entries and
 * interpolated linearly): dark blue at t = 0 through green to yellow at 1, lightness rising
 * monotonically, readable in grey and by colour-blind readers. t is clamped to [0, 1]; NaN
 * gives mid grey. */
void cnn_colormap(float t, uint8_t rgb[3]);

/* A vertical colour scale: the w x h bar at (x, y) runs from hi at the top to lo at the
 * bottom, framed, with "nice" tick values labelled to its right and the label (may be NULL)
 * above it. The tick labels need about cnn_canvas_text_width("-0.000") + 8 pixels right of the
 * bar and the label CNN_FONT_LINE pixels above it. */
void cnn_canvas_colorbar(cnn_canvas *c, int x, int y, int w, int h, float lo, float hi,
                         const char *label);

/* The tick values of such a colour bar, h pixels tall, for [lo, hi] (at most max of them, in
 * v) and the step their labels are written with (*step, for cnn_tick_label); returns how
 * many. A range with nothing to divide has the one tick lo. */
int cnn_colorbar_ticks(float lo, float hi, int h, double *v, int max, double *step);

/* Writes the canvas as an 8-bit RGB PNG. The picture goes to "path.tmp.PID" first and is
 * renamed over path once complete, so an interrupted or failed save never destroys an older
 * picture, and no temporary file is left behind on failure. On failure returns CNN_STATUS_IO
 * (or CNN_STATUS_INVALID_ARGUMENT, CNN_STATUS_NO_MEMORY) with a message naming the file in
 * err. */
cnn_status cnn_canvas_save_png(const cnn_canvas *c, const char *path, char *err,
                               size_t errlen);

/* The figures and histograms of cnn.h (figure.c) drawn on a new canvas (*out, the caller
 * frees it) instead of saved: cnn_figure_save and cnn_histograms_save are these and a PNG. */
cnn_status cnn_figure_render(const cnn_figure *fig, const cnn_panel *panels, int n,
                             cnn_canvas **out, char *err, size_t errlen);
cnn_status cnn_histograms_render(const char *title, const cnn_histogram *h, int n, int columns,
                                 cnn_canvas **out, char *err, size_t errlen);

/* ---------------------------------------------------------------------------------------------
 * Shared by the viz files
 * ------------------------------------------------------------------------------------------- */

/* Whether s is a text to draw: not NULL and not empty (titles, labels and names are
 * optional). */
static inline int cnn_has_text(const char *s) { return s && *s; }

/* "Nice" ticks for the range [lo, hi]: a step of 1, 2 or 5 times a power of ten giving about
 * `target` intervals (at least min_step when min_step > 0). Returns the step and sets *first
 * and *last to the multiples of the step that enclose the range. lo < hi, both finite. */
double cnn_nice_ticks(double lo, double hi, int target, double min_step, double *first,
                      double *last);
/* A tick value as text with the decimals the step needs ("0.25", "40", "1e+06"); -0 is "0". */
void cnn_tick_label(double v, double step, char *buf, size_t size);

#endif /* CNN_VIZ_CANVAS_H */

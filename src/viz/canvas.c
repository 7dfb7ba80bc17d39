/*
 * canvas.c - the RGB canvas: rectangles, lines, markers, bitmap text, blits of float arrays
 * (grey, RGB, heat map), the viridis colour map and colour bar, nice tick values, and PNG
 * output through libpng. See canvas.h for the conventions.
 *
 * Two kinds of drawing: exact ones (pixels, rectangles, 1-pixel lines, text, blits) set whole
 * pixels, so tests can check them bit for bit; strokes wider than a pixel and markers are
 * antialiased, each pixel blended by the fraction of it the shape covers, because a plot's
 * curves look ragged without it. Pixel (i, j) is treated as the unit square centred on (i, j).
 */
#include "canvas.h"

#include <errno.h>
#include <math.h>
#include <png.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* ---------------------------------------------------------------------------------------------
 * The canvas and exact drawing
 * ------------------------------------------------------------------------------------------- */

cnn_canvas *cnn_canvas_new(int width, int height, uint32_t background) {
    if (width <= 0 || height <= 0 || (long long)width * height > CNN_CANVAS_MAX_PIXELS) return NULL;
    cnn_canvas *c = cnn_alloc(sizeof *c);
    if (!c) return NULL;
    c->width = width;
    c->height = height;
    c->pixels = cnn_alloc((size_t)width * height * 3);
    if (!c->pixels) {
        cnn_free(c);
        return NULL;
    }
    cnn_canvas_fill_rect(c, 0, 0, width, height, background);
    return c;
}

void cnn_canvas_free(cnn_canvas *c) {
    if (!c) return;
    cnn_free(c->pixels);
    cnn_free(c);
}

static inline uint8_t *pixel_at(const cnn_canvas *c, int x, int y) {
    return c->pixels + ((size_t)y * c->width + x) * 3;
}

static inline int inside(const cnn_canvas *c, long x, long y) {
    return x >= 0 && y >= 0 && x < c->width && y < c->height;
}

/* A coordinate computed in long, brought back to int without wrapping: anything this far out
 * is off the canvas either way. */
static inline int coord(long v) {
    const long far = 1L << 30;
    return (int)(v < -far ? -far : v > far ? far : v);
}

void cnn_canvas_put(cnn_canvas *c, int x, int y, uint32_t rgb) {
    if (!inside(c, x, y)) return;
    uint8_t *p = pixel_at(c, x, y);
    p[0] = (uint8_t)(rgb >> 16);
    p[1] = (uint8_t)(rgb >> 8);
    p[2] = (uint8_t)rgb;
}

uint32_t cnn_canvas_get(const cnn_canvas *c, int x, int y) {
    if (!inside(c, x, y)) return 0;
    const uint8_t *p = pixel_at(c, x, y);
    return (uint32_t)p[0] << 16 | (uint32_t)p[1] << 8 | p[2];
}

/* Blends rgb over pixel (x, y) with opacity a in [0, 1]. */
static void blend(cnn_canvas *c, long x, long y, uint32_t rgb, float a) {
    if (!inside(c, x, y) || !(a > 0.0f)) return;
    if (a > 1.0f) a = 1.0f;
    uint8_t *p = pixel_at(c, (int)x, (int)y);
    for (int k = 0; k < 3; k++) {
        float src = (float)((rgb >> (16 - 8 * k)) & 0xff);
        p[k] = (uint8_t)(p[k] + (src - p[k]) * a + 0.5f);
    }
}

/* Clips [x, x + w) to [0, limit) in long arithmetic, so that huge sizes cannot overflow. */
static void clip_span(long x, long w, long limit, int *lo, int *hi) {
    long a = x < 0 ? 0 : x, b = x + w > limit ? limit : x + w;
    *lo = (int)a;
    *hi = (int)(b < a ? a : b);
}

void cnn_canvas_fill_rect(cnn_canvas *c, int x, int y, int w, int h, uint32_t rgb) {
    if (w <= 0 || h <= 0) return;
    int x0, x1, y0, y1;
    clip_span(x, w, c->width, &x0, &x1);
    clip_span(y, h, c->height, &y0, &y1);
    for (int j = y0; j < y1; j++)
        for (int i = x0; i < x1; i++) cnn_canvas_put(c, i, j, rgb);
}

void cnn_canvas_frame(cnn_canvas *c, int x, int y, int w, int h, uint32_t rgb) {
    if (w <= 0 || h <= 0) return;
    cnn_canvas_fill_rect(c, x, y, w, 1, rgb);
    cnn_canvas_fill_rect(c, x, coord((long)y + h - 1), w, 1, rgb);
    cnn_canvas_fill_rect(c, x, y, 1, h, rgb);
    cnn_canvas_fill_rect(c, coord((long)x + w - 1), y, 1, h, rgb);
}

/* ---------------------------------------------------------------------------------------------
 * Lines and markers
 * ------------------------------------------------------------------------------------------- */

/* Liang-Barsky: clips the segment to [xmin, xmax] x [ymin, ymax]; 0 when nothing is left. */
static int clip_segment(double *x0, double *y0, double *x1, double *y1, double xmin,
                        double ymin, double xmax, double ymax) {
    double dx = *x1 - *x0, dy = *y1 - *y0, t0 = 0.0, t1 = 1.0;
    double p[4] = {-dx, dx, -dy, dy};
    double q[4] = {*x0 - xmin, xmax - *x0, *y0 - ymin, ymax - *y0};
    for (int k = 0; k < 4; k++) {
        if (p[k] == 0.0) {
            if (q[k] < 0.0) return 0;
            continue;
        }
        double t = q[k] / p[k];
        if (p[k] < 0.0) {
            if (t > t1) return 0;
            if (t > t0) t0 = t;
        } else {
            if (t < t0) return 0;
            if (t < t1) t1 = t;
        }
    }
    double ax = *x0 + t0 * dx, ay = *y0 + t0 * dy;
    *x1 = *x0 + t1 * dx;
    *y1 = *y0 + t1 * dy;
    *x0 = ax;
    *y0 = ay;
    return 1;
}

/* An antialiased capsule: the points within radius r of the segment, each pixel blended by
 * how much of it lies inside (1 - distance past the edge, for a half-pixel ramp). */
static void stroke(cnn_canvas *c, double x0, double y0, double x1, double y1, double r,
                   uint32_t rgb) {
    double pad = r + 1.0;
    double bx0 = fmin(x0, x1) - pad, bx1 = fmax(x0, x1) + pad;
    double by0 = fmin(y0, y1) - pad, by1 = fmax(y0, y1) + pad;
    int i0 = bx0 < 0 ? 0 : (int)floor(bx0), i1 = bx1 >= c->width ? c->width - 1 : (int)ceil(bx1);
    int j0 = by0 < 0 ? 0 : (int)floor(by0), j1 = by1 >= c->height ? c->height - 1 : (int)ceil(by1);
    double dx = x1 - x0, dy = y1 - y0, len2 = dx * dx + dy * dy;
    for (int j = j0; j <= j1; j++)
        for (int i = i0; i <= i1; i++) {
            double t = len2 > 0.0 ? ((i - x0) * dx + (j - y0) * dy) / len2 : 0.0;
            t = t < 0.0 ? 0.0 : t > 1.0 ? 1.0 : t;
            double ex = i - (x0 + t * dx), ey = j - (y0 + t * dy);
            double cover = r + 0.5 - sqrt(ex * ex + ey * ey);
            if (cover > 0.0) blend(c, i, j, rgb, (float)(cover > 1.0 ? 1.0 : cover));
        }
}

void cnn_canvas_line(cnn_canvas *c, int x0, int y0, int x1, int y1, int thickness,
                     uint32_t rgb) {
    if (thickness > 1) {
        /* Only the part near the canvas matters; clipping first keeps the scan small when an
         * end lies far outside. */
        double ax = x0, ay = y0, bx = x1, by = y1, m = thickness + 2.0;
        if (!clip_segment(&ax, &ay, &bx, &by, -m, -m, c->width + m, c->height + m)) return;
        stroke(c, ax, ay, bx, by, thickness / 2.0, rgb);
        return;
    }
    /* Bresenham, plotting every pixel and letting put() clip, which keeps the path exact. An
     * end far outside the canvas would make that loop long (and the differences overflow),
     * so such a segment is first cut down to the canvas plus a margin. */
    long far = 2L * (c->width + c->height);
    if (x0 < -far || y0 < -far || x1 < -far || y1 < -far || x0 > c->width + far ||
        x1 > c->width + far || y0 > c->height + far || y1 > c->height + far) {
        double ax = x0, ay = y0, bx = x1, by = y1;
        if (!clip_segment(&ax, &ay, &bx, &by, -1.0, -1.0, c->width, c->height)) return;
        x0 = (int)lround(ax);
        y0 = (int)lround(ay);
        x1 = (int)lround(bx);
        y1 = (int)lround(by);
    }
    int dx = x1 > x0 ? x1 - x0 : x0 - x1, sx = x0 < x1 ? 1 : -1;
    int dy = y1 > y0 ? y0 - y1 : y1 - y0, sy = y0 < y1 ? 1 : -1;
    int e = dx + dy;
    for (;;) {
        cnn_canvas_put(c, x0, y0, rgb);
        if (x0 == x1 && y0 == y1) break;
        int e2 = 2 * e;
        if (e2 >= dy) {
            e += dy;
            x0 += sx;
        }
        if (e2 <= dx) {
            e += dx;
            y0 += sy;
        }
    }
}

void cnn_canvas_marker(cnn_canvas *c, int x, int y, int size, cnn_marker shape, uint32_t rgb) {
    if (size < 1) size = 1;
    double r = size / 2.0;
    /* Each shape is a convex region given by its signed distance d (negative inside): the
     * circle exactly, the polygons by the largest distance past one of their edges. The
     * polygons are sized so that their areas come close to the circle's and no series looks
     * heavier than another. */
    static const double tri_n[3][2] = {{0.0, 1.0}, {0.8660254, -0.5}, {-0.8660254, -0.5}};
    int reach = (int)ceil(r * 1.4) + 1;
    for (int j = -reach; j <= reach; j++)
        for (int i = -reach; i <= reach; i++) {
            double d;
            switch (shape) {
            case CNN_MARKER_SQUARE:
                d = (abs(i) > abs(j) ? abs(i) : abs(j)) - r * 0.89;
                break;
            case CNN_MARKER_TRIANGLE: {
                /* Centred on its centroid; inradius 0.67 r, so its circumradius is 1.35 r. */
                double m = -1e9;
                for (int k = 0; k < 3; k++) m = fmax(m, i * tri_n[k][0] + j * tri_n[k][1]);
                d = m - r * 0.67;
                break;
            }
            case CNN_MARKER_DIAMOND:
                d = (abs(i) + abs(j)) * 0.70710678 - r * 0.89;
                break;
            default:
                d = sqrt((double)i * i + (double)j * j) - r;
                break;
            }
            double cover = 0.5 - d;
            if (cover > 0.0) blend(c, (long)x + i, (long)y + j, rgb, (float)(cover > 1.0 ? 1.0 : cover));
        }
}

/* ---------------------------------------------------------------------------------------------
 * Text
 * ------------------------------------------------------------------------------------------- */

/* The glyph of the next character of s, advancing *s past it; NULL at '\n'. Bytes that are
 * not printable ASCII are decoded as UTF-8 far enough to skip one whole code point (or one
 * malformed byte), which gets the box. */
static const uint8_t *next_glyph(const char **s) {
    const unsigned char *p = (const unsigned char *)*s;
    unsigned b = *p++;
    const uint8_t *g = cnn_font_missing;
    if (b == '\n')
        g = NULL;
    else if (b >= CNN_FONT_FIRST && b <= CNN_FONT_LAST)
        g = cnn_font_glyphs[b - CNN_FONT_FIRST];
    else if (b >= 0xc0 && b < 0xf8) {
        int extra = b < 0xe0 ? 1 : b < 0xf0 ? 2 : 3;
        for (int k = 0; k < extra && (*p & 0xc0) == 0x80; k++) p++;
    }
    *s = (const char *)p;
    return g;
}

/* Draws one glyph whose cell starts at (x, y); up: turned counter-clockwise, the cell
 * starting at (x, y) and running upwards (see cnn_canvas_text_up). */
static void draw_glyph(cnn_canvas *c, long x, long y, int scale, uint32_t rgb,
                       const uint8_t *rows, int up) {
    for (int r = 0; r < CNN_FONT_H; r++)
        for (int k = 0; k < CNN_FONT_W; k++) {
            if (!(rows[r] & (0x10 >> k))) continue;
            long px = up ? x + (long)r * scale : x + (long)k * scale;
            long py = up ? y - (long)(k + 1) * scale : y + (long)r * scale;
            if (px < -scale || py < -scale || px > c->width || py > c->height) continue;
            cnn_canvas_fill_rect(c, coord(px), coord(py), scale, scale, rgb);
        }
}

int cnn_canvas_text_width(const char *s, int scale) {
    if (scale < 1) scale = 1;
    long widest = 0, n = 0;
    while (*s) {
        if (next_glyph(&s))
            n++;
        else
            n = 0;
        long w = (n * CNN_FONT_ADVANCE - 1) * scale;
        if (n && w > widest) widest = w;
    }
    return widest > 1L << 30 ? 1 << 30 : (int)widest;
}

int cnn_canvas_text_height(int scale) { return CNN_FONT_H * (scale < 1 ? 1 : scale); }

int cnn_canvas_text(cnn_canvas *c, int x, int y, int scale, uint32_t rgb, const char *s) {
    if (scale < 1) scale = 1;
    int width = cnn_canvas_text_width(s, scale);
    long cx = x, cy = y;
    while (*s) {
        const uint8_t *g = next_glyph(&s);
        if (!g) {
            cx = x;
            cy += (long)CNN_FONT_LINE * scale;
            continue;
        }
        draw_glyph(c, cx, cy, scale, rgb, g, 0);
        cx += (long)CNN_FONT_ADVANCE * scale;
    }
    return width;
}

int cnn_canvas_text_up(cnn_canvas *c, int x, int y, int scale, uint32_t rgb, const char *s) {
    if (scale < 1) scale = 1;
    long n = 0, along = y;
    while (*s) {
        const uint8_t *g = next_glyph(&s);
        draw_glyph(c, x, along, scale, rgb, g ? g : cnn_font_missing, 1);
        along -= (long)CNN_FONT_ADVANCE * scale;
        n++;
    }
    long w = n ? (n * CNN_FONT_ADVANCE - 1) * scale : 0;
    return w > 1L << 30 ? 1 << 30 : (int)w;
}

/* ---------------------------------------------------------------------------------------------
 * Blits and the colour map
 * ------------------------------------------------------------------------------------------- */

/* v mapped from [lo, hi] to [0, 1], clamped; 0.5 when the range is empty or not finite.
 * v is finite. */
static float unit(float v, float lo, float hi) {
    if (!(hi > lo) || !isfinite(hi - lo)) return 0.5f;
    float t = (v - lo) / (hi - lo);
    return t < 0.0f ? 0.0f : t > 1.0f ? 1.0f : t;
}

static uint8_t to_byte(float t) { return (uint8_t)(t * 255.0f + 0.5f); }

#define NAN_RGB 0xff0000u

void cnn_canvas_blit_gray(cnn_canvas *c, int x, int y, const float *values, int w, int h,
                          float lo, float hi, int zoom) {
    if (zoom < 1) zoom = 1;
    for (int j = 0; j < h; j++)
        for (int i = 0; i < w; i++) {
            float v = values[(size_t)j * w + i];
            uint32_t rgb = NAN_RGB;
            if (isfinite(v)) {
                uint32_t g = to_byte(unit(v, lo, hi));
                rgb = g << 16 | g << 8 | g;
            }
            cnn_canvas_fill_rect(c, coord((long)x + (long)i * zoom),
                                 coord((long)y + (long)j * zoom), zoom, zoom, rgb);
        }
}

void cnn_canvas_blit_rgb(cnn_canvas *c, int x, int y, const float *planes, int w, int h,
                         float lo, float hi, int zoom) {
    if (zoom < 1) zoom = 1;
    size_t plane = (size_t)w * h;
    for (int j = 0; j < h; j++)
        for (int i = 0; i < w; i++) {
            size_t at = (size_t)j * w + i;
            uint32_t rgb = 0;
            for (int k = 0; k < 3; k++) {
                float v = planes[k * plane + at];
                if (!isfinite(v)) {
                    rgb = NAN_RGB;
                    break;
                }
                rgb = rgb << 8 | to_byte(unit(v, lo, hi));
            }
            cnn_canvas_fill_rect(c, coord((long)x + (long)i * zoom),
                                 coord((long)y + (long)j * zoom), zoom, zoom, rgb);
        }
}

void cnn_canvas_blit_heat(cnn_canvas *c, int x, int y, const float *values, int w, int h,
                          float lo, float hi, int zoom, float alpha) {
    if (zoom < 1) zoom = 1;
    if (!(alpha > 0.0f)) return;
    if (alpha > 1.0f) alpha = 1.0f;
    for (int j = 0; j < h; j++)
        for (int i = 0; i < w; i++) {
            float v = values[(size_t)j * w + i];
            if (!isfinite(v)) continue;
            uint8_t m[3];
            cnn_colormap(unit(v, lo, hi), m);
            uint32_t rgb = (uint32_t)m[0] << 16 | (uint32_t)m[1] << 8 | m[2];
            long bx = (long)x + (long)i * zoom, by = (long)y + (long)j * zoom;
            if (alpha >= 1.0f) {
                cnn_canvas_fill_rect(c, coord(bx), coord(by), zoom, zoom, rgb);
                continue;
            }
            int x0, x1, y0, y1;
            clip_span(bx, zoom, c->width, &x0, &x1);
            clip_span(by, zoom, c->height, &y0, &y1);
            for (int py = y0; py < y1; py++)
                for (int px = x0; px < x1; px++) blend(c, px, py, rgb, alpha);
        }
}

void cnn_minmax(const float *x, size_t n, float *lo, float *hi) {
    float a = INFINITY, b = -INFINITY;
    for (size_t i = 0; i < n; i++)
        if (isfinite(x[i])) {
            a = x[i] < a ? x[i] : a;
            b = x[i] > b ? x[i] : b;
        }
    *lo = a > b ? 0.0f : a;
    *hi = a > b ? 0.0f : b;
}

/* Viridis at every 8th entry of matplotlib's 256-entry table (and the last), as 8-bit sRGB:
 * {entry, R, G, B}, entry / 255 being the position. Linear interpolation between these stays
 * within about 1/255 of the full table. */
static const uint8_t viridis[33][4] = {
    {0, 68, 1, 84},      {8, 71, 13, 96},     {16, 72, 24, 106},   {24, 72, 35, 116},
    {32, 71, 45, 123},   {40, 69, 55, 129},   {48, 66, 64, 134},   {56, 62, 73, 137},
    {64, 59, 82, 139},   {72, 55, 91, 141},   {80, 51, 99, 141},   {88, 47, 107, 142},
    {96, 44, 114, 142},  {104, 41, 122, 142}, {112, 38, 130, 142}, {120, 35, 137, 142},
    {128, 33, 145, 140}, {136, 31, 152, 139}, {144, 31, 160, 136}, {152, 34, 167, 133},
    {160, 40, 174, 128}, {168, 50, 182, 122}, {176, 63, 188, 115}, {184, 78, 195, 107},
    {192, 94, 201, 98},  {200, 112, 207, 87}, {208, 132, 212, 75}, {216, 152, 216, 62},
    {224, 173, 220, 48}, {232, 194, 223, 35}, {240, 216, 226, 25}, {248, 236, 229, 27},
    {255, 253, 231, 37},
};

void cnn_colormap(float t, uint8_t rgb[3]) {
    if (t != t) {
        rgb[0] = rgb[1] = rgb[2] = 128;
        return;
    }
    float pos = (t < 0.0f ? 0.0f : t > 1.0f ? 1.0f : t) * 255.0f;
    int k = (int)(pos / 8.0f);
    if (k > 31) k = 31;
    const uint8_t *a = viridis[k], *b = viridis[k + 1];
    float f = (pos - a[0]) / (float)(b[0] - a[0]);
    for (int i = 0; i < 3; i++) rgb[i] = (uint8_t)(a[i + 1] + (b[i + 1] - a[i + 1]) * f + 0.5f);
}

/* ---------------------------------------------------------------------------------------------
 * Ticks and the colour bar
 * ------------------------------------------------------------------------------------------- */

double cnn_nice_ticks(double lo, double hi, int target, double min_step, double *first,
                      double *last) {
    if (target < 1) target = 1;
    double raw = (hi - lo) / target;
    if (!(raw > 1e-300) || !isfinite(raw)) {
        /* No usable range (the callers widen a zero range before asking): one step. */
        *first = lo;
        *last = hi > lo ? hi : lo + 1.0;
        return *last - *first;
    }
    double mag = pow(10.0, floor(log10(raw)));
    double f = raw / mag;
    /* The nearest of 1, 2, 5, 10 on a log scale. */
    double step = (f < 1.41 ? 1.0 : f < 3.16 ? 2.0 : f < 7.07 ? 5.0 : 10.0) * mag;
    if (min_step > 0.0 && step < min_step) step = min_step;
    /* The tolerance keeps 0.30000000000000004 / 0.1 from starting a tick too early. */
    *first = floor(lo / step + 1e-9) * step;
    *last = ceil(hi / step - 1e-9) * step;
    return step;
}

void cnn_tick_label(double v, double step, char *buf, size_t size) {
    if (!isfinite(v) || !(step > 0.0) || !isfinite(step)) {
        snprintf(buf, size, "%g", v);
        return;
    }
    if (fabs(v) < step * 1e-6) v = 0.0;
    int decimals = step >= 1.0 ? 0 : (int)ceil(-log10(step) - 1e-9);
    if (fabs(v) < 1e7 && decimals <= 9) {
        snprintf(buf, size, "%.*f", decimals, v);
        return;
    }
    /* Very large or very fine: scientific, with as many digits as tell ticks apart. */
    int digits = v == 0.0 ? 0 : (int)floor(log10(fabs(v))) - (int)floor(log10(step));
    digits = digits < 0 ? 0 : digits > 9 ? 9 : digits;
    snprintf(buf, size, "%.*e", digits, v);
}

int cnn_colorbar_ticks(float lo, float hi, int h, double *v, int max, double *step) {
    if (!(hi > lo) || !isfinite(hi - lo)) {
        *step = 1e-3;
        v[0] = lo;
        return max > 0;
    }
    double first, last;
    int target = h / 40 < 2 ? 2 : h / 40, n = 0;
    *step = cnn_nice_ticks(lo, hi, target, 0.0, &first, &last);
    for (int k = 0; k <= 100 && n < max; k++) {
        double t = first + k * *step;
        if (t > hi + *step * 1e-6) break;
        if (t >= lo - *step * 1e-6) v[n++] = t;
    }
    return n;
}

void cnn_canvas_colorbar(cnn_canvas *c, int x, int y, int w, int h, float lo, float hi,
                         const char *label) {
    if (w < 1 || h < 1) return;
    for (int j = 0; j < h; j++) {
        uint8_t m[3];
        cnn_colormap(h > 1 ? 1.0f - (float)j / (float)(h - 1) : 1.0f, m);
        cnn_canvas_fill_rect(c, x, y + j, w, 1, (uint32_t)m[0] << 16 | (uint32_t)m[1] << 8 | m[2]);
    }
    const uint32_t ink = 0x333333;
    cnn_canvas_frame(c, x - 1, y - 1, w + 2, h + 2, ink);
    if (label) cnn_canvas_text(c, x, y - 1 - CNN_FONT_LINE, 1, ink, label);
    double ticks[101], step;
    int n = cnn_colorbar_ticks(lo, hi, h, ticks, 101, &step);
    int divided = hi > lo && isfinite(hi - lo);
    char buf[32];
    for (int k = 0; k < n; k++) {
        /* Nothing to divide: the one label in the middle. */
        int ty = divided ? y + (int)lround((h - 1) * (hi - ticks[k]) / ((double)hi - lo))
                         : y + h / 2;
        cnn_canvas_line(c, x + w + 1, ty, x + w + 3, ty, 1, ink);
        cnn_tick_label(ticks[k], step, buf, sizeof buf);
        cnn_canvas_text(c, x + w + 6, ty - CNN_FONT_ASCENT / 2, 1, ink, buf);
    }
}

/* ---------------------------------------------------------------------------------------------
 * PNG output
 * ------------------------------------------------------------------------------------------- */

/* libpng reports errors by calling this and expects it not to return: the message is kept
 * for the caller and control goes back to the setjmp in write_png. */
static void png_error_fn(png_structp png, png_const_charp msg) {
    char *buf = png_get_error_ptr(png);
    snprintf(buf, 256, "%s", msg);
    png_longjmp(png, 1);
}

/* Warnings are dropped: the library prints nothing, and a warning does not stop the write. */
static void png_warning_fn(png_structp png, png_const_charp msg) {
    (void)png;
    (void)msg;
}

/* Writes c to f; 0 on success, -1 with a message in msg[256]. Kept apart from the caller so
 * that nothing the longjmp skips over is a local that changes after setjmp. */
static int write_png(const cnn_canvas *c, FILE *f, char *msg) {
    png_structp png = png_create_write_struct(PNG_LIBPNG_VER_STRING, msg, png_error_fn,
                                              png_warning_fn);
    if (!png) {
        snprintf(msg, 256, "out of memory");
        return -1;
    }
    png_infop info = png_create_info_struct(png);
    if (!info) {
        png_destroy_write_struct(&png, NULL);
        snprintf(msg, 256, "out of memory");
        return -1;
    }
    if (setjmp(png_jmpbuf(png))) {
        png_destroy_write_struct(&png, &info);
        return -1;
    }
    png_init_io(png, f);
    png_set_IHDR(png, info, (png_uint_32)c->width, (png_uint_32)c->height, 8, PNG_COLOR_TYPE_RGB,
                 PNG_INTERLACE_NONE, PNG_COMPRESSION_TYPE_DEFAULT, PNG_FILTER_TYPE_DEFAULT);
    png_write_info(png, info);
    for (int y = 0; y < c->height; y++) png_write_row(png, pixel_at(c, 0, y));
    png_write_end(png, NULL);
    png_destroy_write_struct(&png, &info);
    return 0;
}

cnn_status cnn_canvas_save_png(const cnn_canvas *c, const char *path, char *err,
                               size_t errlen) {
    if (!c || !path || !*path)
        return cnn_set_error(err, errlen, CNN_STATUS_INVALID_ARGUMENT,
                             "save png: no canvas or no path");
    char tmp[4200], msg[256] = "";
    FILE *f = cnn_atomic_open(path, tmp, sizeof tmp, err, errlen);
    if (!f) return CNN_STATUS_IO;
    if (write_png(c, f, msg) != 0) {
        cnn_atomic_close(f, tmp, path, 1, err, errlen);
        return cnn_set_error(err, errlen, CNN_STATUS_IO, "%s: cannot write PNG: %s", path, msg);
    }
    return cnn_atomic_close(f, tmp, path, 0, err, errlen);
}

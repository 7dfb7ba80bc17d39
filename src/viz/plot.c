/*
 * plot.c - line plots on the canvas (see plot.h) and the training-log reader that feeds them.
 *
 * A panel is laid out from the outside in: the title on top, the x tick labels and x label at
 * the bottom, then the y ticks (whose labels' width decides the left margin) and the y label
 * on the left; what remains is the plot area. Axis limits are the outermost "nice" ticks
 * around the data, so grid lines meet the frame and every tick is labelled.
 *
 * Colours are matplotlib's default cycle (Tableau 10), whose first colours stay apart for
 * colour-blind readers; the markers differ per series as well, so the series also separate in
 * grey.
 */
#include "plot.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const uint32_t palette[10] = {0x1f77b4, 0xff7f0e, 0x2ca02c, 0xd62728, 0x9467bd,
                                     0x8c564b, 0xe377c2, 0x7f7f7f, 0xbcbd22, 0x17becf};

#define INK 0x222222    /* text */
#define AXIS 0x555555   /* frame and tick marks */
#define GRID 0xe6e6e6   /* grid lines */
#define LEGEND_EDGE 0xc8c8c8
#define BACKGROUND 0xffffff
#define TICK_LEN 4
#define LINE_WIDTH 2
#define MARKER_SIZE 7
/* Beyond this a value is treated like NaN: a range of +-1e308 would overflow. */
#define MAX_ABS 1e300
#define MIN_PANEL_W 160
#define MIN_PANEL_H 120
#define MAX_SIZE 16384

/* A point is drawn when both coordinates are finite and not absurdly large; NaN fails the
 * comparisons. */
static int usable(double x, double y) { return fabs(x) <= MAX_ABS && fabs(y) <= MAX_ABS; }

/* ---------------------------------------------------------------------------------------------
 * Axes
 * ------------------------------------------------------------------------------------------- */

typedef struct axis {
    double lo, hi; /* limits: the first and last tick */
    double step;
    int ticks;
} axis;

/* The range of the usable points of a panel along x (which = 0) or y (1). Returns 0 when
 * there is none. *integers: every usable value is an integer. */
static int data_range(const cnn_plot_panel *pp, int which, double *lo, double *hi,
                      int *integers) {
    int have = 0;
    *integers = 1;
    *lo = INFINITY;
    *hi = -INFINITY;
    for (int s = 0; s < pp->n_series; s++) {
        const cnn_plot_series *sr = &pp->series[s];
        for (int i = 0; i < sr->n; i++) {
            if (!usable(sr->x[i], sr->y[i])) continue;
            double v = which ? sr->y[i] : sr->x[i];
            *lo = fmin(*lo, v);
            *hi = fmax(*hi, v);
            if (v != floor(v)) *integers = 0;
            have = 1;
        }
    }
    return have;
}

/* Limits and ticks for data in [lo, hi], about `target` intervals. A single value (one point,
 * a constant series) gets a range around it, since a zero range has no scale. */
static void make_axis(axis *a, int have, double lo, double hi, int target, int integers) {
    if (!have) {
        lo = 0.0;
        hi = 1.0;
    }
    /* Differences below a millionth of the values are rounding, not a trend to show. */
    if (hi - lo <= 1e-6 * fmax(fabs(lo), fabs(hi)) || hi - lo < 1e-250) {
        double d = integers ? 1.0 : lo != 0.0 ? fabs(lo) * 0.1 : 1.0;
        lo -= d;
        hi += d;
    }
    double first, last;
    a->step = cnn_nice_ticks(lo, hi, target, integers ? 1.0 : 0.0, &first, &last);
    a->lo = first;
    a->hi = last;
    a->ticks = (int)lround((last - first) / a->step) + 1;
}

/* The plot area of a panel: pixels [x, x + w) x [y, y + h), and its axes. */
typedef struct area {
    int x, y, w, h;
    axis ax, ay;
} area;

static int to_pixel(double p) {
    if (p != p) p = 0.0;
    p = p < -1e6 ? -1e6 : p > 1e6 ? 1e6 : p;
    return (int)lround(p);
}

static int map_x(const area *a, double v) {
    return to_pixel(a->x + (v - a->ax.lo) / (a->ax.hi - a->ax.lo) * (a->w - 1));
}

static int map_y(const area *a, double v) {
    return to_pixel(a->y + a->h - 1 - (v - a->ay.lo) / (a->ay.hi - a->ay.lo) * (a->h - 1));
}

/* ---------------------------------------------------------------------------------------------
 * Curves and the legend
 * ------------------------------------------------------------------------------------------- */

/* Markers go on every point while they have room (about 12 pixels each), and always on a
 * point with no usable neighbour, which would otherwise not show at all. */
static int wants_marker(const cnn_plot_series *sr, int i, int dense) {
    if (!dense) return 1;
    int left = i > 0 && usable(sr->x[i - 1], sr->y[i - 1]);
    int right = i + 1 < sr->n && usable(sr->x[i + 1], sr->y[i + 1]);
    return !left && !right;
}

static int usable_count(const cnn_plot_series *sr) {
    int n = 0;
    for (int i = 0; i < sr->n; i++) n += usable(sr->x[i], sr->y[i]);
    return n;
}

static void draw_series(cnn_canvas *c, const area *a, const cnn_plot_series *sr, int k) {
    uint32_t rgb = palette[k % 10];
    int dense = usable_count(sr) > a->w / 12;
    for (int i = 0; i + 1 < sr->n; i++)
        if (usable(sr->x[i], sr->y[i]) && usable(sr->x[i + 1], sr->y[i + 1]))
            cnn_canvas_line(c, map_x(a, sr->x[i]), map_y(a, sr->y[i]), map_x(a, sr->x[i + 1]),
                            map_y(a, sr->y[i + 1]), LINE_WIDTH, rgb);
    for (int i = 0; i < sr->n; i++)
        if (usable(sr->x[i], sr->y[i]) && wants_marker(sr, i, dense))
            cnn_canvas_marker(c, map_x(a, sr->x[i]), map_y(a, sr->y[i]), MARKER_SIZE,
                              (cnn_marker)(k % CNN_MARKER_COUNT), rgb);
}

/* How much of the curves a box (x, y, w, h) would hide: curve samples every 2 pixels and
 * markers inside it, with a margin of a marker's radius. */
static long covered(const area *a, const cnn_plot_panel *pp, int x, int y, int w, int h) {
    int m = MARKER_SIZE / 2 + 2;
    long hits = 0;
    for (int s = 0; s < pp->n_series; s++) {
        const cnn_plot_series *sr = &pp->series[s];
        for (int i = 0; i < sr->n; i++) {
            if (!usable(sr->x[i], sr->y[i])) continue;
            int x0 = map_x(a, sr->x[i]), y0 = map_y(a, sr->y[i]);
            int x1 = x0, y1 = y0;
            if (i + 1 < sr->n && usable(sr->x[i + 1], sr->y[i + 1])) {
                x1 = map_x(a, sr->x[i + 1]);
                y1 = map_y(a, sr->y[i + 1]);
            }
            int n = (abs(x1 - x0) > abs(y1 - y0) ? abs(x1 - x0) : abs(y1 - y0)) / 2 + 1;
            for (int t = 0; t <= n; t++) {
                long px = x0 + (long)(x1 - x0) * t / n, py = y0 + (long)(y1 - y0) * t / n;
                hits += px >= x - m && px < x + w + m && py >= y - m && py < y + h + m;
            }
        }
    }
    return hits;
}

static void draw_legend(cnn_canvas *c, const area *a, const cnn_plot_panel *pp, int scale) {
    int entries = 0, name_w = 0;
    for (int s = 0; s < pp->n_series; s++) {
        const cnn_plot_series *sr = &pp->series[s];
        if (!cnn_has_text(sr->name) || !usable_count(sr)) continue;
        entries++;
        int w = cnn_canvas_text_width(sr->name, scale);
        name_w = w > name_w ? w : name_w;
    }
    if (!entries) return;
    int row = CNN_FONT_LINE * scale + 4, sample = 24;
    int w = 8 + sample + 6 + name_w + 8, h = 6 + entries * row - 4 + 6;
    int inset = 8;
    int left = a->x + inset, right = a->x + a->w - inset - w;
    int top = a->y + inset, bottom = a->y + a->h - inset - h, middle = a->y + (a->h - h) / 2;
    /* Corners first, the upper right preferred on a tie as the usual place. */
    const int spots[6][2] = {{right, top},    {left, top},     {right, bottom},
                             {left, bottom},  {right, middle}, {left, middle}};
    int best = 0;
    long best_hits = -1;
    for (int k = 0; k < 6; k++) {
        long hits = covered(a, pp, spots[k][0], spots[k][1], w, h);
        if (best_hits < 0 || hits < best_hits) {
            best = k;
            best_hits = hits;
        }
    }
    int bx = spots[best][0], by = spots[best][1];
    cnn_canvas_fill_rect(c, bx, by, w, h, BACKGROUND);
    cnn_canvas_frame(c, bx, by, w, h, LEGEND_EDGE);
    int y = by + 6;
    for (int s = 0; s < pp->n_series; s++) {
        const cnn_plot_series *sr = &pp->series[s];
        if (!cnn_has_text(sr->name) || !usable_count(sr)) continue;
        uint32_t rgb = palette[s % 10];
        int cy = y + (CNN_FONT_ASCENT * scale) / 2;
        cnn_canvas_line(c, bx + 8, cy, bx + 8 + sample, cy, LINE_WIDTH, rgb);
        cnn_canvas_marker(c, bx + 8 + sample / 2, cy, MARKER_SIZE, (cnn_marker)(s % CNN_MARKER_COUNT),
                          rgb);
        cnn_canvas_text(c, bx + 8 + sample + 6, y, scale, INK, sr->name);
        y += row;
    }
}

/* ---------------------------------------------------------------------------------------------
 * Panels and the whole plot
 * ------------------------------------------------------------------------------------------- */

static cnn_status draw_panel(cnn_canvas *c, const cnn_plot_panel *pp, int index, int px, int py,
                             int pw, int ph, int scale, char *err, size_t errlen) {
    int text_h = CNN_FONT_H * scale;
    int title_h = cnn_has_text(pp->title) ? 2 * text_h + 18 : 12;
    int bottom_h = 1 + TICK_LEN + 4 + text_h + (cnn_has_text(pp->xlabel) ? 7 + text_h : 0) + 10;
    area a;
    a.y = py + title_h;
    a.h = ph - title_h - bottom_h;

    double lo, hi;
    int integers;
    int have = data_range(pp, 1, &lo, &hi, &integers);
    make_axis(&a.ay, have, lo, hi, a.h / 50 < 2 ? 2 : a.h / 50, 0);
    char buf[48];
    int label_w = 0;
    for (int k = 0; k < a.ay.ticks; k++) {
        cnn_tick_label(a.ay.lo + k * a.ay.step, a.ay.step, buf, sizeof buf);
        int w = cnn_canvas_text_width(buf, scale);
        label_w = w > label_w ? w : label_w;
    }
    int left_h = 10 + (cnn_has_text(pp->ylabel) ? text_h + 8 : 0) + label_w + 4 + TICK_LEN + 1;
    a.x = px + left_h;
    a.w = pw - left_h - 18;
    if (a.w < 32 || a.h < 32)
        return cnn_set_error(err, errlen, CNN_STATUS_INVALID_ARGUMENT,
                             "plot: panel %d: %d x %d pixels leave no room for the curves at "
                             "text scale %d",
                             index + 1, pw, ph, scale);
    have = data_range(pp, 0, &lo, &hi, &integers);
    make_axis(&a.ax, have, lo, hi, a.w / 70 < 2 ? 2 : a.w / 70, integers);

    /* Grid, frame, ticks and their labels. */
    for (int k = 0; k < a.ax.ticks; k++) {
        int tx = map_x(&a, a.ax.lo + k * a.ax.step);
        cnn_canvas_fill_rect(c, tx, a.y, 1, a.h, GRID);
    }
    for (int k = 0; k < a.ay.ticks; k++) {
        int ty = map_y(&a, a.ay.lo + k * a.ay.step);
        cnn_canvas_fill_rect(c, a.x, ty, a.w, 1, GRID);
    }
    cnn_canvas_frame(c, a.x - 1, a.y - 1, a.w + 2, a.h + 2, AXIS);
    for (int k = 0; k < a.ax.ticks; k++) {
        double v = a.ax.lo + k * a.ax.step;
        int tx = map_x(&a, v);
        cnn_canvas_fill_rect(c, tx, a.y + a.h + 1, 1, TICK_LEN, AXIS);
        cnn_tick_label(v, a.ax.step, buf, sizeof buf);
        cnn_canvas_text(c, tx - cnn_canvas_text_width(buf, scale) / 2,
                        a.y + a.h + 1 + TICK_LEN + 4, scale, INK, buf);
    }
    for (int k = 0; k < a.ay.ticks; k++) {
        double v = a.ay.lo + k * a.ay.step;
        int ty = map_y(&a, v);
        cnn_canvas_fill_rect(c, a.x - 1 - TICK_LEN, ty, TICK_LEN, 1, AXIS);
        cnn_tick_label(v, a.ay.step, buf, sizeof buf);
        cnn_canvas_text(c, a.x - 1 - TICK_LEN - 4 - cnn_canvas_text_width(buf, scale),
                        ty - (CNN_FONT_ASCENT * scale) / 2, scale, INK, buf);
    }

    for (int s = 0; s < pp->n_series; s++) draw_series(c, &a, &pp->series[s], s);
    draw_legend(c, &a, pp, scale);

    if (cnn_has_text(pp->title))
        cnn_canvas_text(c, a.x + (a.w - cnn_canvas_text_width(pp->title, 2 * scale)) / 2,
                        py + 10, 2 * scale, INK, pp->title);
    if (cnn_has_text(pp->xlabel))
        cnn_canvas_text(c, a.x + (a.w - cnn_canvas_text_width(pp->xlabel, scale)) / 2,
                        a.y + a.h + 1 + TICK_LEN + 4 + text_h + 7, scale, INK, pp->xlabel);
    if (cnn_has_text(pp->ylabel))
        cnn_canvas_text_up(c, px + 10, a.y + (a.h + cnn_canvas_text_width(pp->ylabel, scale)) / 2,
                           scale, INK, pp->ylabel);
    return CNN_STATUS_OK;
}

static cnn_status check_plot(const cnn_plot *p, char *err, size_t errlen) {
    if (!p || p->n_panels < 1 || p->n_panels > CNN_PLOT_MAX_PANELS || !p->panels)
        return cnn_set_error(err, errlen, CNN_STATUS_INVALID_ARGUMENT,
                             "plot: needs 1 to %d panels", CNN_PLOT_MAX_PANELS);
    for (int i = 0; i < p->n_panels; i++) {
        const cnn_plot_panel *pp = &p->panels[i];
        if (pp->n_series < 0 || (pp->n_series > 0 && !pp->series))
            return cnn_set_error(err, errlen, CNN_STATUS_INVALID_ARGUMENT,
                                 "plot: panel %d: no series array for %d series", i + 1,
                                 pp->n_series);
        for (int s = 0; s < pp->n_series; s++) {
            const cnn_plot_series *sr = &pp->series[s];
            if (sr->n < 0 || (sr->n > 0 && (!sr->x || !sr->y)))
                return cnn_set_error(err, errlen, CNN_STATUS_INVALID_ARGUMENT,
                                     "plot: panel %d, series %d ('%s'): %d points without x "
                                     "and y arrays",
                                     i + 1, s + 1, cnn_has_text(sr->name) ? sr->name : "",
                                     sr->n);
        }
    }
    return CNN_STATUS_OK;
}

cnn_status cnn_plot_render(const cnn_plot *p, cnn_canvas **out, char *err, size_t errlen) {
    if (!out)
        return cnn_set_error(err, errlen, CNN_STATUS_INVALID_ARGUMENT, "plot: no output canvas");
    *out = NULL;
    cnn_status st = check_plot(p, err, errlen);
    if (st != CNN_STATUS_OK) return st;
    int scale = p->text_scale > 0 ? p->text_scale : 1;
    int width = p->width > 0 ? p->width : CNN_PLOT_PANEL_W * p->n_panels;
    int height = p->height > 0 ? p->height : CNN_PLOT_PANEL_H;
    int band = cnn_has_text(p->title) ? 2 * CNN_FONT_H * scale + 14 : 0;
    int pw = width / p->n_panels, ph = height - band;
    if (width > MAX_SIZE || height > MAX_SIZE || scale > 16 || pw < MIN_PANEL_W ||
        ph < MIN_PANEL_H)
        return cnn_set_error(err, errlen, CNN_STATUS_INVALID_ARGUMENT,
                             "plot: %d x %d pixels for %d panel(s) at text scale %d: each "
                             "panel needs %d x %d to %d x %d",
                             width, height, p->n_panels, scale, MIN_PANEL_W, MIN_PANEL_H,
                             MAX_SIZE, MAX_SIZE);
    cnn_canvas *c = cnn_canvas_new(width, height, BACKGROUND);
    if (!c)
        return cnn_set_error(err, errlen, CNN_STATUS_NO_MEMORY,
                             "plot: out of memory for a %d x %d picture", width, height);
    if (band)
        cnn_canvas_text(c, (width - cnn_canvas_text_width(p->title, 2 * scale)) / 2, 12,
                        2 * scale, INK, p->title);
    for (int i = 0; i < p->n_panels; i++) {
        /* The last panel takes the pixels the division left over. */
        int w = i + 1 == p->n_panels ? width - i * pw : pw;
        st = draw_panel(c, &p->panels[i], i, i * pw, band, w, ph, scale, err, errlen);
        if (st != CNN_STATUS_OK) {
            cnn_canvas_free(c);
            return st;
        }
    }
    *out = c;
    return CNN_STATUS_OK;
}

cnn_status cnn_plot_lines(const cnn_plot *p, const char *path, char *err, size_t errlen) {
    cnn_canvas *c;
    cnn_status st = cnn_plot_render(p, &c, err, errlen);
    if (st != CNN_STATUS_OK) return st;
    st = cnn_canvas_save_png(c, path, err, errlen);
    cnn_canvas_free(c);
    return st;
}

/* ---------------------------------------------------------------------------------------------
 * The training log
 * ------------------------------------------------------------------------------------------- */

enum { COL_EPOCH, COL_TRAIN_LOSS, COL_TRAIN_ACC, COL_VAL_LOSS, COL_VAL_ACC, COL_LR, COL_SECONDS,
       N_COLS };
static const char *const col_names[N_COLS] = {"epoch",   "train_loss", "train_acc", "val_loss",
                                              "val_acc", "lr",         "seconds"};

/* The rows read so far: n rows of N_COLS values, NaN for an empty field. */
typedef struct csv_log {
    double *v;
    int n, cap;
    int has_val_loss, has_val_acc; /* a non-empty field in the column */
} csv_log;

static char *trim(char *s) {
    while (*s == ' ' || *s == '\t') s++;
    size_t n = strlen(s);
    while (n && (s[n - 1] == ' ' || s[n - 1] == '\t' || s[n - 1] == '\r' || s[n - 1] == '\n'))
        s[--n] = 0;
    return s;
}

/* Parses one data line into row[N_COLS]. */
static cnn_status parse_row(char *line, const char *path, long lineno, double *row, csv_log *log,
                            char *err, size_t errlen) {
    int fields = 1;
    for (const char *q = line; *q; q++) fields += *q == ',';
    if (fields != N_COLS)
        return cnn_set_error(err, errlen, CNN_STATUS_FORMAT,
                             "%s:%ld: %d fields, expected %d (%s)", path, lineno, fields, N_COLS,
                             CNN_TRAINING_CSV_HEADER);
    char *field = line;
    for (int k = 0; k < N_COLS; k++) {
        char *comma = strchr(field, ',');
        if (comma) *comma = 0;
        char *text = trim(field);
        field = comma ? comma + 1 : field + strlen(field);
        if (!*text) {
            if (k != COL_VAL_LOSS && k != COL_VAL_ACC)
                return cnn_set_error(err, errlen, CNN_STATUS_FORMAT, "%s:%ld: %s is empty",
                                     path, lineno, col_names[k]);
            row[k] = NAN;
            continue;
        }
        char *end;
        double v = strtod(text, &end);
        if (end == text || *end)
            return cnn_set_error(err, errlen, CNN_STATUS_FORMAT,
                                 "%s:%ld: %s: '%s' is not a number", path, lineno,
                                 col_names[k], text);
        if ((k == COL_TRAIN_ACC || k == COL_VAL_ACC) && (v < 0.0 || v > 1.0))
            return cnn_set_error(err, errlen, CNN_STATUS_FORMAT,
                                 "%s:%ld: %s: %s is not a fraction in [0, 1]", path, lineno,
                                 col_names[k], text);
        if (k == COL_EPOCH && !isfinite(v))
            return cnn_set_error(err, errlen, CNN_STATUS_FORMAT,
                                 "%s:%ld: epoch: '%s' is not a finite number", path, lineno,
                                 text);
        if (k == COL_VAL_LOSS) log->has_val_loss = 1;
        if (k == COL_VAL_ACC) log->has_val_acc = 1;
        row[k] = v;
    }
    return CNN_STATUS_OK;
}

/* Room for one more row; CNN_STATUS_NO_MEMORY when there is none. */
static cnn_status grow(csv_log *log, const char *path, char *err, size_t errlen) {
    if (log->n < log->cap) return CNN_STATUS_OK;
    int cap = log->cap ? 2 * log->cap : 64;
    double *v = cap > 0 && cap < (1 << 24) ? cnn_alloc((size_t)cap * N_COLS * sizeof *v) : NULL;
    if (!v)
        return cnn_set_error(err, errlen, CNN_STATUS_NO_MEMORY, "%s: out of memory at %d rows",
                             path, log->n);
    if (log->n) memcpy(v, log->v, (size_t)log->n * N_COLS * sizeof *v);
    cnn_free(log->v);
    log->v = v;
    log->cap = cap;
    return CNN_STATUS_OK;
}

static cnn_status read_log(FILE *f, const char *path, csv_log *log, char *err, size_t errlen) {
    char line[1024];
    long lineno = 0;
    int header = 0;
    while (fgets(line, sizeof line, f)) {
        lineno++;
        size_t len = strlen(line);
        if (len == sizeof line - 1 && line[len - 1] != '\n' && !feof(f))
            return cnn_set_error(err, errlen, CNN_STATUS_FORMAT,
                                 "%s:%ld: line longer than %zu characters", path, lineno,
                                 sizeof line - 2);
        char *text = line;
        /* A byte-order mark, as spreadsheet programs write, is not part of the header. */
        if (lineno == 1 && !strncmp(text, "\xef\xbb\xbf", 3)) text += 3;
        text = trim(text);
        if (!header) {
            if (strcmp(text, CNN_TRAINING_CSV_HEADER) != 0)
                return cnn_set_error(err, errlen, CNN_STATUS_FORMAT,
                                     "%s:%ld: expected the header '%s', found '%.80s'", path,
                                     lineno, CNN_TRAINING_CSV_HEADER, text);
            header = 1;
            continue;
        }
        if (!*text) continue;
        cnn_status st = grow(log, path, err, errlen);
        if (st != CNN_STATUS_OK) return st;
        st = parse_row(text, path, lineno, log->v + (size_t)log->n * N_COLS, log, err, errlen);
        if (st != CNN_STATUS_OK) return st;
        log->n++;
    }
    if (ferror(f))
        return cnn_set_error(err, errlen, CNN_STATUS_IO, "%s: read error: %s", path,
                             strerror(errno));
    if (!header)
        return cnn_set_error(err, errlen, CNN_STATUS_FORMAT,
                             "%s:1: empty file, expected the header '%s'", path,
                             CNN_TRAINING_CSV_HEADER);
    if (!log->n)
        return cnn_set_error(err, errlen, CNN_STATUS_FORMAT, "%s:%ld: no epochs after the header",
                             path, lineno);
    return CNN_STATUS_OK;
}

cnn_status cnn_plot_training_csv(const char *csv_path, const char *png_path, char *err,
                                 size_t errlen) {
    if (!csv_path || !png_path)
        return cnn_set_error(err, errlen, CNN_STATUS_INVALID_ARGUMENT,
                             "plot training log: no CSV or no PNG path");
    FILE *f = fopen(csv_path, "r");
    if (!f)
        return cnn_set_error(err, errlen, CNN_STATUS_IO, "%s: cannot open: %s", csv_path,
                             strerror(errno));
    csv_log log = {0};
    cnn_status st = read_log(f, csv_path, &log, err, errlen);
    fclose(f);
    if (st != CNN_STATUS_OK) {
        cnn_free(log.v);
        return st;
    }
    /* Columns as separate arrays, accuracies in percent. */
    int n = log.n;
    double *cols = cnn_alloc((size_t)n * 5 * sizeof *cols);
    if (!cols) {
        cnn_free(log.v);
        return cnn_set_error(err, errlen, CNN_STATUS_NO_MEMORY, "%s: out of memory", csv_path);
    }
    double *x = cols, *tl = cols + n, *ta = cols + 2 * n, *vl = cols + 3 * n, *va = cols + 4 * n;
    for (int i = 0; i < n; i++) {
        const double *r = log.v + (size_t)i * N_COLS;
        x[i] = r[COL_EPOCH];
        tl[i] = r[COL_TRAIN_LOSS];
        ta[i] = 100.0 * r[COL_TRAIN_ACC];
        vl[i] = r[COL_VAL_LOSS];
        va[i] = 100.0 * r[COL_VAL_ACC];
    }
    cnn_plot_series loss[2] = {{"train", n, x, tl}, {"validation", n, x, vl}};
    cnn_plot_series acc[2] = {{"train", n, x, ta}, {"validation", n, x, va}};
    cnn_plot_panel panels[2] = {
        {"Loss", "epoch", "loss", log.has_val_loss ? 2 : 1, loss},
        {"Accuracy", "epoch", "accuracy (%)", log.has_val_acc ? 2 : 1, acc},
    };
    const char *base = strrchr(csv_path, '/');
    cnn_plot p = {.title = base ? base + 1 : csv_path, .n_panels = 2, .panels = panels};
    st = cnn_plot_lines(&p, png_path, err, errlen);
    cnn_free(cols);
    cnn_free(log.v);
    return st;
}

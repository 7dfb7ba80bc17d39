/*
 * plot.h - line plots as PNG pictures: one or more panels side by side, each with a title,
 * axes with "nice" ticks (steps of 1, 2 or 5 times a power of ten), axis labels, several
 * series with distinct colours and markers, and a legend placed where it covers the least of
 * the curves. The training log (loss and accuracy per epoch) is the first user:
 * cnn_plot_training_csv reads the CSV the trainer writes and draws it. Internal: not in the
 * public header.
 *
 * Data rules: points whose x or y is NaN or infinite (or beyond +-1e300) are skipped and break
 * the line there; a series with no finite point is left out of the legend; a single point or a
 * constant series gets a range around its value instead of a zero range; when every x is an
 * integer (epochs) the x ticks are integers.
 */
#ifndef CNN_VIZ_PLOT_H
#define CNN_VIZ_PLOT_H

#include "canvas.h"

#define CNN_PLOT_MAX_PANELS 4
/* The size of a picture whose width or height is left 0: this much per panel. */
#define CNN_PLOT_PANEL_W 480
#define CNN_PLOT_PANEL_H 360

typedef struct cnn_plot_series {
    const char *name; /* the legend text; NULL or "": not in the legend */
    int n;            /* points */
    const double *x, *y;
} cnn_plot_series;

typedef struct cnn_plot_panel {
    const char *title;  /* above the panel; may be NULL */
    const char *xlabel; /* under the x axis, e.g. "epoch"; may be NULL */
    const char *ylabel; /* beside the y axis, reading upwards; may be NULL */
    int n_series;       /* series i is drawn in colour i of the palette, marker i % 4 */
    const cnn_plot_series *series;
} cnn_plot_panel;

typedef struct cnn_plot {
    const char *title; /* above all panels; may be NULL */
    int n_panels;      /* 1 to CNN_PLOT_MAX_PANELS, left to right */
    const cnn_plot_panel *panels;
    int width, height; /* the whole picture; 0: CNN_PLOT_PANEL_W per panel, CNN_PLOT_PANEL_H */
    int text_scale;    /* magnification of the font for ticks and labels, titles twice it; 0: 1 */
} cnn_plot;

/* Draws the plot on a new canvas (*out; the caller frees it). Returns
 * CNN_STATUS_INVALID_ARGUMENT with a message for a malformed plot (no panels, NULL arrays,
 * panels smaller than 160 x 120 pixels), CNN_STATUS_NO_MEMORY when memory runs out. */
cnn_status cnn_plot_render(const cnn_plot *p, cnn_canvas **out, char *err, size_t errlen);

/* Renders the plot and saves it as a PNG at path (see cnn_canvas_save_png). */
cnn_status cnn_plot_lines(const cnn_plot *p, const char *path, char *err, size_t errlen);

/* The header a training log must start with, then one line per epoch. Accuracies are
 * fractions in [0, 1]; val_loss and val_acc may be empty (no validation set); a value may be
 * "nan" (a diverged loss), which is skipped in the plot. */
#define CNN_TRAINING_CSV_HEADER "epoch,train_loss,train_acc,val_loss,val_acc,lr,seconds"

/* Reads the training log at csv_path and draws two panels to png_path: the loss (train and
 * validation) on the left and the accuracy in percent on the right, against the epoch, under
 * the CSV's file name. Errors in the CSV (another header, a field that is not a number, a
 * wrong number of fields, an accuracy outside [0, 1], no epochs) return CNN_STATUS_FORMAT
 * with "file:line: what" in err; file errors return CNN_STATUS_IO naming the file. */
cnn_status cnn_plot_training_csv(const char *csv_path, const char *png_path, char *err,
                                 size_t errlen);

#endif /* CNN_VIZ_PLOT_H */

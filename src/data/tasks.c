/*
 * tasks.c - data sets for the tasks other than classification: segmentation (a folder of
 * images and a folder of PNG masks whose values are class indices) and regression (a CSV file
 * of image paths and float targets). Both leave y NULL and fill masks or targets instead (see
 * dataset.c); images load as floats through cnn_image_load, as image folders do.
 *
 * Masks are decoded as stored (decode.c's CNN_DECODE_MASK), not as images are: a mask's
 * numbers are classes and must come back exactly, where an image's 1-, 2- and 4-bit grey is
 * scaled to 0..255, 16 bits cut to 8 and palettes expanded to colours. They are within the
 * images' pixel limit (CNN_MAX_IMAGE_PIXELS) too.
 *
 * Shapes: an image (C, H, W) floats; a mask (H, W) int32 class indices.
 */
#include "data.h"

#include <errno.h>
#include <math.h>
#include <string.h>
#include <sys/stat.h>

/* Refused before anything is allocated for them: no real data set comes near these. */
#define MAX_CLASSES 65536                 /* a 16-bit mask holds at most 65536 classes */
#define MAX_CLASSES_BYTES (16L << 20)     /* classes.txt */
#define MAX_CSV_BYTES (1L << 30)          /* also keeps the rows below INT_MAX */
#define MAX_TARGETS 65536                 /* floats per CSV row */

/* ---------------------------------------------------------------------------------------------
 * Text files and paths
 * ------------------------------------------------------------------------------------------- */

/* The whole of a text file, NUL-terminated, from cnn_alloc into *out (to cnn_free), its
 * length in *len. A file over max bytes is refused before it is read. */
static cnn_status read_text(const char *path, long max, char **out, size_t *len, char *err,
                            size_t errlen) {
    *out = NULL;
    FILE *f = fopen(path, "rb");
    if (!f)
        return cnn_set_error(err, errlen, CNN_STATUS_IO, "%s: cannot open: %s", path,
                             strerror(errno));
    long size = fseek(f, 0, SEEK_END) == 0 ? ftell(f) : -1;
    cnn_status st = CNN_STATUS_OK;
    char *text = NULL;
    if (size < 0 || fseek(f, 0, SEEK_SET) != 0)
        st = cnn_set_error(err, errlen, CNN_STATUS_IO, "%s: cannot find its size: %s", path,
                           strerror(errno));
    else if (size > max)
        st = cnn_set_error(err, errlen, CNN_STATUS_FORMAT,
                           "%s: %ld bytes, more than the %ld this file may have", path, size,
                           max);
    else if (!(text = cnn_alloc((size_t)size + 1)))
        st = cnn_set_error(err, errlen, CNN_STATUS_NO_MEMORY, "%s: out of memory for %ld bytes",
                           path, size);
    else if (fread(text, 1, (size_t)size, f) != (size_t)size)
        st = cnn_set_error(err, errlen, CNN_STATUS_IO, "%s: read error or changed while read",
                           path);
    fclose(f);
    if (st != CNN_STATUS_OK) {
        cnn_free(text);
        return st;
    }
    text[size] = 0;
    *out = text;
    *len = (size_t)size;
    return CNN_STATUS_OK;
}

/* The next line of the text at *p (end: the text's terminating NUL), NUL-terminated in place
 * without its "\n" or "\r\n", *p moved past it; NULL after the last line. */
static char *next_line(char **p, char *end) {
    if (*p >= end) return NULL;
    char *line = *p, *nl = memchr(line, '\n', (size_t)(end - line));
    if (nl) *nl = 0;
    *p = nl ? nl + 1 : end;
    size_t n = strlen(line);
    if (n && line[n - 1] == '\r') line[n - 1] = 0;
    return line;
}

/* s without leading and trailing blanks (spaces and tabs), in place. */
static char *trim(char *s) {
    while (*s == ' ' || *s == '\t') s++;
    size_t n = strlen(s);
    while (n && (s[n - 1] == ' ' || s[n - 1] == '\t')) s[--n] = 0;
    return s;
}

/* The folder that holds path, a file or folder (trailing slashes ignored), from cnn_alloc:
 * "." for a bare name. Lexical, so that the parent of a symbolic link is the folder the
 * user named; a path ending in "." or ".." gets "/.." appended instead. */
static char *parent_of(const char *path) {
    size_t n = strlen(path);
    while (n > 1 && path[n - 1] == '/') n--;
    size_t name = n;
    while (name > 0 && path[name - 1] != '/') name--;
    size_t len = n - name;
    if ((len == 1 && path[name] == '.') || (len == 2 && !strncmp(path + name, "..", 2)))
        return cnn_data_join(path, "..");
    if (name == 0) return cnn_data_strdup(".");
    while (name > 1 && path[name - 1] == '/') name--;
    char *p = cnn_alloc(name + 1);
    if (!p) return NULL;
    memcpy(p, path, name);
    p[name] = 0;
    return p;
}

/* ---------------------------------------------------------------------------------------------
 * Masks
 * ------------------------------------------------------------------------------------------- */

/* Sample k of a decoded row (16-bit samples are big-endian in PNG). */
static int32_t mask_sample(const cnn_pixels *m, const unsigned char *row, size_t k) {
    return m->depth == 16 ? (int32_t)(row[2 * k] << 8 | row[2 * k + 1]) : row[k];
}

/* The decoded mask as h x w values into v: one channel as is; three (a colour PNG) only when
 * they agree, as in a grey image saved as RGB. */
static cnn_status mask_values(const cnn_pixels *m, const char *path, int32_t *v, char *err,
                              size_t errlen) {
    for (size_t y = 0; y < (size_t)m->h; y++)
        for (size_t x = 0; x < (size_t)m->w; x++) {
            const unsigned char *row = m->data + y * m->rowbytes;
            size_t k = (size_t)m->channels * x;
            int32_t a = mask_sample(m, row, k);
            if (m->channels == 3 &&
                (mask_sample(m, row, k + 1) != a || mask_sample(m, row, k + 2) != a))
                return cnn_set_error(err, errlen, CNN_STATUS_FORMAT,
                                     "%s: pixel (x=%zu, y=%zu) is a colour, not a grey class "
                                     "index (masks are grey or palette PNGs)",
                                     path, x, y);
            v[y * (size_t)m->w + x] = a;
        }
    return CNN_STATUS_OK;
}

/* Reads the PNG mask at path: *values (to cnn_free) holds *h x *w class values. */
static cnn_status read_mask(const char *path, int32_t **values, int *h, int *w, char *err,
                            size_t errlen) {
    *values = NULL;
    cnn_pixels m;
    cnn_status st = cnn_image_decode(path, CNN_DECODE_MASK, &m, err, errlen);
    if (st != CNN_STATUS_OK) return st;
    if (!(*values = cnn_alloc((size_t)m.w * (size_t)m.h * sizeof **values)))
        st = cnn_set_error(err, errlen, CNN_STATUS_NO_MEMORY, "%s: out of memory", path);
    else
        st = mask_values(&m, path, *values, err, errlen);
    *h = m.h;
    *w = m.w;
    cnn_pixels_free(&m);
    if (st != CNN_STATUS_OK) {
        cnn_free(*values);
        *values = NULL;
    }
    return st;
}

/* The source pixel of output pixel o along an axis of `in` pixels resampled to `out`: the
 * one whose extent holds the output pixel's centre, floor((o + 0.5) * in / out), in integers
 * so that it is exact. The centres are those of the bilinear image resize, so each mask
 * pixel stays over its image pixel (PIL's NEAREST and PyTorch's "nearest-exact" also do so). */
static size_t nearest_src(int o, int in, int out) {
    return (size_t)(((2 * (int64_t)o + 1) * in) / (2 * (int64_t)out));
}

/* Reads the mask at path into dst (height x width, nearest neighbour). Every value of the
 * file, kept by the resize or not, must be below classes (when classes > 0); *max is raised
 * to the largest. */
static cnn_status load_mask(const char *path, int height, int width, int classes, int32_t *dst,
                            int32_t *max, char *err, size_t errlen) {
    int32_t *v;
    int h = 0, w = 0;
    cnn_status st = read_mask(path, &v, &h, &w, err, errlen);
    if (st != CNN_STATUS_OK) return st;
    for (size_t k = 0; k < (size_t)h * (size_t)w && st == CNN_STATUS_OK; k++) {
        if (classes > 0 && v[k] >= classes)
            st = cnn_set_error(err, errlen, CNN_STATUS_FORMAT,
                               "%s: pixel (x=%zu, y=%zu) holds %d, not a class in [0, %d)",
                               path, k % (size_t)w, k / (size_t)w, (int)v[k], classes);
        if (v[k] > *max) *max = v[k];
    }
    for (int y = 0; y < height && st == CNN_STATUS_OK; y++)
        for (int x = 0; x < width; x++)
            dst[(size_t)y * width + x] =
                v[nearest_src(y, h, height) * (size_t)w + nearest_src(x, w, width)];
    cnn_free(v);
    return st;
}

/* ---------------------------------------------------------------------------------------------
 * Segmentation
 * ------------------------------------------------------------------------------------------- */

/* Characters of name before its extension (its last '.'). */
static size_t base_len(const char *name) {
    const char *dot = strrchr(name, '.');
    return dot ? (size_t)(dot - name) : strlen(name);
}

static int by_base(const void *a, const void *b) {
    const char *x = *(char *const *)a, *y = *(char *const *)b;
    size_t lx = base_len(x), ly = base_len(y);
    int c = memcmp(x, y, lx < ly ? lx : ly);
    return c ? c : (lx > ly) - (lx < ly);
}

/* Two images with the same base name (a.png, a.jpg) would share one mask, a.png: an error
 * naming both rather than a silent duplicate. */
static cnn_status check_bases(const char *dir, const cnn_strlist *files, char *err,
                              size_t errlen) {
    char **v = cnn_alloc((size_t)files->n * sizeof *v);
    if (!v) return cnn_set_error(err, errlen, CNN_STATUS_NO_MEMORY, "out of memory");
    if (files->n) memcpy(v, files->v, (size_t)files->n * sizeof *v);
    qsort(v, (size_t)files->n, sizeof *v, by_base);
    cnn_status st = CNN_STATUS_OK;
    for (int i = 1; i < files->n && st == CNN_STATUS_OK; i++)
        if (!by_base(&v[i - 1], &v[i]))
            st = cnn_set_error(err, errlen, CNN_STATUS_FORMAT,
                               "%s: images %s and %s have the same base name, so one mask "
                               "would serve both",
                               dir, v[i - 1], v[i]);
    cnn_free(v);
    return st;
}

/* Appends to names the lines of classes.txt in the parent of images_dir, trimmed; nothing
 * when there is no such file. Line k names class k, so an empty line before the last name
 * (it would shift the classes after it), a repeated name or too many names is an error with
 * file:line; empty lines at the end are ignored. */
static cnn_status read_class_names(const char *images_dir, cnn_strlist *names, char *err,
                                   size_t errlen) {
    char *parent = parent_of(images_dir), *path = parent ? cnn_data_join(parent, "classes.txt")
                                                         : NULL;
    cnn_free(parent);
    if (!path) return cnn_set_error(err, errlen, CNN_STATUS_NO_MEMORY, "out of memory");
    struct stat sb;
    char *text = NULL;
    size_t len = 0;
    cnn_status st = CNN_STATUS_OK;
    if (stat(path, &sb) == 0) st = read_text(path, MAX_CLASSES_BYTES, &text, &len, err, errlen);
    char *p = text, *line;
    int blank = 0; /* the first empty line since the last name */
    for (int no = 1; text && st == CNN_STATUS_OK && (line = next_line(&p, text + len)); no++) {
        line = trim(line);
        if (!*line) {
            if (!blank) blank = no;
            continue;
        }
        if (blank)
            st = cnn_set_error(err, errlen, CNN_STATUS_FORMAT, "%s:%d: empty class name", path,
                               blank);
        else if (names->n == MAX_CLASSES)
            st = cnn_set_error(err, errlen, CNN_STATUS_FORMAT, "%s:%d: more than %d classes",
                               path, no, MAX_CLASSES);
        for (int k = 0; k < names->n && st == CNN_STATUS_OK; k++)
            if (!strcmp(names->v[k], line))
                st = cnn_set_error(err, errlen, CNN_STATUS_FORMAT,
                                   "%s:%d: class '%s' named twice", path, no, line);
        if (st == CNN_STATUS_OK && !cnn_strlist_push(names, cnn_data_strdup(line)))
            st = cnn_set_error(err, errlen, CNN_STATUS_NO_MEMORY, "out of memory");
    }
    cnn_free(text);
    cnn_free(path);
    return st;
}

/* A data set of n float images of (c, h, w) without labels (y NULL) and one class for now. */
static cnn_dataset *unlabelled_new(int n, int c, int h, int w) {
    cnn_dataset *ds = cnn_data_new(n, c, h, w, 1, 0);
    if (ds) {
        cnn_free(ds->y);
        ds->y = NULL;
    }
    return ds;
}

/* Loads image `name` of images_dir and its mask (the same base name + ".png" in masks_dir)
 * as sample i of ds. */
static cnn_status load_pair(const char *images_dir, const char *masks_dir, const char *name,
                            cnn_dataset *ds, int i, int classes, int32_t *max, char *err,
                            size_t errlen) {
    int c = ds->shape.dim[0], h = ds->shape.dim[1], w = ds->shape.dim[2];
    size_t base = base_len(name);
    char *image = cnn_data_join(images_dir, name), *mask_name = cnn_alloc(base + 5);
    if (mask_name) snprintf(mask_name, base + 5, "%.*s.png", (int)base, name);
    char *mask = mask_name ? cnn_data_join(masks_dir, mask_name) : NULL;
    cnn_status st = CNN_STATUS_OK;
    struct stat sb;
    if (!image || !mask)
        st = cnn_set_error(err, errlen, CNN_STATUS_NO_MEMORY, "out of memory");
    else if (stat(mask, &sb) != 0 && errno == ENOENT)
        st = cnn_set_error(err, errlen, CNN_STATUS_FORMAT, "%s: no mask (expected %s)", image,
                           mask);
    else
        st = cnn_image_load(image, c, h, w, ds->x + (size_t)i * c * h * w, err, errlen);
    if (st == CNN_STATUS_OK)
        st = load_mask(mask, h, w, classes, ds->masks + (size_t)i * h * w, max, err, errlen);
    cnn_free(image);
    cnn_free(mask_name);
    cnn_free(mask);
    return st;
}

/* The images of images_dir, as a data set of their count with room for masks. */
static cnn_status segmentation_new(const char *images_dir, int c, int h, int w,
                                   cnn_strlist *files, cnn_dataset **out, char *err,
                                   size_t errlen) {
    *out = NULL;
    cnn_status st = cnn_data_list_dir(images_dir, 0, files, err, errlen);
    if (st == CNN_STATUS_OK && files->n == 0)
        st = cnn_set_error(err, errlen, CNN_STATUS_FORMAT, "%s: no .png, .jpg or .jpeg images",
                           images_dir);
    if (st == CNN_STATUS_OK) st = check_bases(images_dir, files, err, errlen);
    if (st != CNN_STATUS_OK) return st;
    size_t plane = (size_t)h * (size_t)w;
    cnn_dataset *ds = unlabelled_new(files->n, c, h, w);
    if (ds && plane <= SIZE_MAX / sizeof(int32_t) / (size_t)files->n)
        ds->masks = cnn_calloc((size_t)files->n * plane, sizeof(int32_t));
    if (!ds || !ds->masks) {
        cnn_dataset_free(ds);
        return cnn_set_error(err, errlen, CNN_STATUS_NO_MEMORY,
                             "%s: out of memory for %d images of %dx%dx%d and their masks",
                             images_dir, files->n, c, h, w);
    }
    *out = ds;
    return CNN_STATUS_OK;
}

cnn_status cnn_dataset_load_segmentation(const char *images_dir, const char *masks_dir,
                                         int channels, int height, int width, int classes,
                                         cnn_dataset **out, char *err, size_t errlen) {
    if (!images_dir || !masks_dir || !out)
        return cnn_set_error(err, errlen, CNN_STATUS_INVALID_ARGUMENT,
                             "load_segmentation: NULL folder or result pointer");
    *out = NULL;
    cnn_status st = cnn_data_check_size(images_dir, channels, height, width, err, errlen);
    if (st != CNN_STATUS_OK) return st;
    if (classes < 0 || classes > MAX_CLASSES)
        return cnn_set_error(err, errlen, CNN_STATUS_INVALID_ARGUMENT,
                             "%s: %d classes: must be in [0, %d] (0: from the masks)",
                             images_dir, classes, MAX_CLASSES);
    struct stat sb;
    int why = stat(masks_dir, &sb) != 0 ? errno : S_ISDIR(sb.st_mode) ? 0 : ENOTDIR;
    if (why)
        return cnn_set_error(err, errlen, CNN_STATUS_IO, "%s: cannot open the folder of masks: %s",
                             masks_dir, strerror(why));
    cnn_strlist files = {0}, names = {0};
    cnn_dataset *ds = NULL;
    st = read_class_names(images_dir, &names, err, errlen);
    if (st == CNN_STATUS_OK && classes && names.n && names.n != classes)
        st = cnn_set_error(err, errlen, CNN_STATUS_INVALID_ARGUMENT,
                           "%s: classes.txt beside it names %d classes, %d were asked",
                           images_dir, names.n, classes);
    int known = classes ? classes : names.n; /* 0: the masks tell */
    if (st == CNN_STATUS_OK)
        st = segmentation_new(images_dir, channels, height, width, &files, &ds, err, errlen);
    int32_t max = 0;
    for (int i = 0; i < files.n && st == CNN_STATUS_OK; i++)
        st = load_pair(images_dir, masks_dir, files.v[i], ds, i, known, &max, err, errlen);
    if (st == CNN_STATUS_OK)
        st = cnn_dataset_set_classes(ds, known ? known : max + 1,
                                  names.n ? (const char *const *)names.v : NULL, err, errlen);
    cnn_strlist_free(&files);
    cnn_strlist_free(&names);
    if (st != CNN_STATUS_OK) {
        cnn_dataset_free(ds);
        return st;
    }
    *out = ds;
    return CNN_STATUS_OK;
}

/* ---------------------------------------------------------------------------------------------
 * Regression from a CSV file
 * ------------------------------------------------------------------------------------------- */

/* The rows read so far: arrays grown together, from cnn_realloc. */
typedef struct csv_rows {
    char **paths;   /* n image fields, pointing into the file's text */
    int *lines;     /* their line numbers */
    float *targets; /* n x n_targets */
    int n, cap, n_targets;
} csv_rows;

/* Room for one more row; 0 when memory runs out (the rows stay as they were). */
static int rows_grow(csv_rows *r) {
    if (r->n < r->cap) return 1;
    size_t cap = r->cap ? 2 * (size_t)r->cap : 64;
    if (cap > INT32_MAX || cap > SIZE_MAX / sizeof(float) / (size_t)r->n_targets) return 0;
    char **p = cnn_realloc(r->paths, cap * sizeof *p);
    if (p) r->paths = p;
    int *l = p ? cnn_realloc(r->lines, cap * sizeof *l) : NULL;
    if (l) r->lines = l;
    float *t = l ? cnn_realloc(r->targets, cap * (size_t)r->n_targets * sizeof *t) : NULL;
    if (!t) return 0;
    r->targets = t;
    r->cap = (int)cap;
    return 1;
}

/* Fields of a line separated by commas (no quoting), NUL-terminated and trimmed in place,
 * into f[0..max); returns how many the line has (more than max: the rest are not stored). */
static int split_fields(char *line, char **f, int max) {
    int n = 0;
    for (char *s = line;; n++) {
        char *comma = strchr(s, ',');
        if (comma) *comma = 0;
        if (n < max) f[n] = trim(s);
        if (!comma) return n + 1;
        s = comma + 1;
    }
}

/* Parses one data line of `columns` fields into the next row. */
static cnn_status parse_row(const char *csv, int no, char *line, int columns, csv_rows *r,
                            char **fields, char *err, size_t errlen) {
    int n = split_fields(line, fields, columns);
    if (n != columns)
        return cnn_set_error(err, errlen, CNN_STATUS_FORMAT,
                             "%s:%d: %d columns, the header has %d", csv, no, n, columns);
    if (!*fields[0])
        return cnn_set_error(err, errlen, CNN_STATUS_FORMAT, "%s:%d: empty image path", csv, no);
    if (!rows_grow(r))
        return cnn_set_error(err, errlen, CNN_STATUS_NO_MEMORY, "%s:%d: out of memory", csv, no);
    float *t = r->targets + (size_t)r->n * (size_t)r->n_targets;
    for (int k = 1; k < columns; k++) {
        char *end;
        t[k - 1] = strtof(fields[k], &end);
        if (!*fields[k] || *end || !isfinite(t[k - 1]))
            return cnn_set_error(err, errlen, CNN_STATUS_FORMAT,
                                 "%s:%d: column %d: '%s' is not a finite number", csv, no,
                                 k + 1, fields[k]);
    }
    r->paths[r->n] = fields[0];
    r->lines[r->n++] = no;
    return CNN_STATUS_OK;
}

/* Reads the rows of the CSV text: the header's column count (an image and at least one
 * target), then every non-blank line. */
static cnn_status parse_csv(const char *csv, char *text, size_t len, csv_rows *r, char *err,
                            size_t errlen) {
    char *p = text, *end = text + len, *header = next_line(&p, end);
    int columns = header ? split_fields(header, NULL, 0) : 0;
    if (columns < 2 || columns - 1 > MAX_TARGETS)
        return cnn_set_error(err, errlen, CNN_STATUS_FORMAT,
                             "%s:1: the header has %d columns: it needs IMAGE and 1 to %d "
                             "targets",
                             csv, columns, MAX_TARGETS);
    r->n_targets = columns - 1;
    char **fields = cnn_alloc((size_t)columns * sizeof *fields);
    if (!fields) return cnn_set_error(err, errlen, CNN_STATUS_NO_MEMORY, "out of memory");
    cnn_status st = CNN_STATUS_OK;
    char *line;
    for (int no = 2; st == CNN_STATUS_OK && (line = next_line(&p, end)); no++)
        if (*trim(line)) st = parse_row(csv, no, line, columns, r, fields, err, errlen);
    cnn_free(fields);
    if (st == CNN_STATUS_OK && r->n == 0)
        st = cnn_set_error(err, errlen, CNN_STATUS_FORMAT, "%s: no samples after the header",
                           csv);
    return st;
}

/* Loads the image of row i, its path relative to dir unless absolute, as sample i of ds;
 * an error is prefixed with csv:line. */
static cnn_status load_row_image(const char *csv, const char *dir, const csv_rows *r, int i,
                                 cnn_dataset *ds, char *err, size_t errlen) {
    const char *field = r->paths[i];
    char *path = field[0] == '/' ? cnn_data_strdup(field) : cnn_data_join(dir, field);
    if (!path) return cnn_set_error(err, errlen, CNN_STATUS_NO_MEMORY, "out of memory");
    char why[512];
    size_t numel = cnn_shape_numel(&ds->shape);
    cnn_status st = cnn_image_load(path, ds->shape.dim[0], ds->shape.dim[1], ds->shape.dim[2],
                                   ds->x + (size_t)i * numel, why, sizeof why);
    cnn_free(path);
    if (st != CNN_STATUS_OK)
        return cnn_set_error(err, errlen, st, "%s:%d: %s", csv, r->lines[i], why);
    return CNN_STATUS_OK;
}

cnn_status cnn_dataset_load_csv(const char *csv_path, int channels, int height, int width,
                                cnn_dataset **out, char *err, size_t errlen) {
    if (!csv_path || !out)
        return cnn_set_error(err, errlen, CNN_STATUS_INVALID_ARGUMENT,
                             "load_csv: NULL path or result pointer");
    *out = NULL;
    cnn_status st = cnn_data_check_size(csv_path, channels, height, width, err, errlen);
    if (st != CNN_STATUS_OK) return st;
    char *text = NULL, *dir = NULL;
    size_t len = 0;
    csv_rows rows = {0};
    cnn_dataset *ds = NULL;
    st = read_text(csv_path, MAX_CSV_BYTES, &text, &len, err, errlen);
    if (st == CNN_STATUS_OK) st = parse_csv(csv_path, text, len, &rows, err, errlen);
    if (st == CNN_STATUS_OK && !(dir = parent_of(csv_path)))
        st = cnn_set_error(err, errlen, CNN_STATUS_NO_MEMORY, "out of memory");
    if (st == CNN_STATUS_OK && !(ds = unlabelled_new(rows.n, channels, height, width)))
        st = cnn_set_error(err, errlen, CNN_STATUS_NO_MEMORY,
                           "%s: out of memory for %d images of %dx%dx%d", csv_path, rows.n,
                           channels, height, width);
    if (st == CNN_STATUS_OK) st = cnn_dataset_set_classes(ds, 0, NULL, err, errlen);
    for (int i = 0; i < rows.n && st == CNN_STATUS_OK; i++)
        st = load_row_image(csv_path, dir, &rows, i, ds, err, errlen);
    if (st == CNN_STATUS_OK) {
        /* The rows' buffer becomes the data set's: its spare capacity is not worth a copy. */
        ds->targets = rows.targets;
        ds->n_targets = rows.n_targets;
        rows.targets = NULL;
    }
    cnn_free(rows.paths);
    cnn_free(rows.lines);
    cnn_free(rows.targets);
    cnn_free(text);
    cnn_free(dir);
    if (st != CNN_STATUS_OK) {
        cnn_dataset_free(ds);
        return st;
    }
    *out = ds;
    return CNN_STATUS_OK;
}

/*
 * idx.c - MNIST-style IDX files: an image file and a label file, plain or gzip-compressed.
 *
 * Format (big-endian 32-bit integers):
 *   images  magic 0x00000803 (two zero bytes, type 0x08 = unsigned byte, 3 dimensions),
 *           N, H, W, then N*H*W pixel bytes, row-major;
 *   labels  magic 0x00000801 (1 dimension), N, then N label bytes.
 * zlib's gzread reads both plain and gzip-compressed files, so one path handles both.
 *
 * Every promise of a header is checked: the magic numbers, non-zero sizes, equal counts in
 * the two files, exactly the promised number of bytes (a short file is truncated, a longer
 * one does not match its header). Samples come out as (1, H, W) bytes, the data set's pixels
 * (cnn_dataset_sample reads them as pixel / 255).
 */
#include "data.h"

#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <string.h>
#include <unistd.h>
#include <zlib.h>

#define IDX_IMAGES_MAGIC 0x00000803u
#define IDX_LABELS_MAGIC 0x00000801u
/* Far beyond any IDX image data set, and keeps H*W and the shape in int. */
#define IDX_MAX_SIDE 65535u

/* One open IDX file with its path for messages. */
typedef struct idx_file {
    const char *path;
    gzFile f;
    uint32_t dims[3];
} idx_file;

/* Reads up to want bytes, fewer only at the end of the data or on an error; returns how many.
 * gzread takes an unsigned length and returns an int, hence the chunks. */
static size_t read_up_to(gzFile f, void *buf, size_t want) {
    size_t got = 0;
    while (got < want) {
        size_t chunk = want - got < (1u << 30) ? want - got : (1u << 30);
        int r = gzread(f, (unsigned char *)buf + got, (unsigned)chunk);
        if (r <= 0) break;
        got += (size_t)r;
    }
    return got;
}

/* zlib's reason for a failed or short read (a corrupt or cut gzip stream), as " (...)", or ""
 * when the data simply ended. zlib prefixes its message with the path, which the caller's
 * message already starts with. */
static const char *gz_reason(gzFile f, const char *path, char *buf, size_t size) {
    int code = Z_OK;
    const char *msg = gzerror(f, &code);
    if (code == Z_OK || code == Z_STREAM_END || !msg || !*msg) return "";
    size_t len = strlen(path);
    if (!strncmp(msg, path, len) && !strncmp(msg + len, ": ", 2)) msg += len + 2;
    snprintf(buf, size, " (gzip: %s)", msg);
    return buf;
}

/* Whether a short read came from a damaged gzip stream rather than the data ending (a cut
 * gzip stream ends early too, and counts as truncated). */
static int gz_damaged(gzFile f) {
    int code = Z_OK;
    gzerror(f, &code);
    return code != Z_OK && code != Z_STREAM_END && code != Z_BUF_ERROR;
}

static uint32_t be32(const unsigned char *p) {
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | (uint32_t)p[3];
}

/* Opens path and reads its header: the magic number `magic` and ndim sizes. */
static cnn_status idx_open(idx_file *file, const char *path, uint32_t magic, int ndim,
                           char *err, size_t errlen) {
    file->path = path;
    errno = 0;
    file->f = gzopen(path, "rb");
    if (!file->f)
        return cnn_set_error(err, errlen, CNN_STATUS_IO, "%s: cannot open: %s", path,
                             errno ? strerror(errno) : "out of memory");
    /* A larger buffer than zlib's 8 KiB default: the pixel data is read in one sweep. */
    gzbuffer(file->f, 1u << 17);
    unsigned char head[16];
    size_t want = 4 + 4 * (size_t)ndim, got = read_up_to(file->f, head, want);
    char why[160];
    if (got < want)
        return cnn_set_error(err, errlen, CNN_STATUS_FORMAT, "%s: %s header: %zu of %zu bytes%s",
                             path, gz_damaged(file->f) ? "damaged" : "truncated", got, want,
                             gz_reason(file->f, path, why, sizeof why));
    uint32_t m = be32(head);
    if (m != magic)
        return cnn_set_error(err, errlen, CNN_STATUS_FORMAT,
                             "%s: bad magic number 0x%08x, expected 0x%08x (IDX %s: unsigned "
                             "bytes, %d dimension%s)",
                             path, (unsigned)m, (unsigned)magic, ndim == 1 ? "labels" : "images",
                             ndim, ndim == 1 ? "" : "s");
    for (int i = 0; i < ndim; i++) file->dims[i] = be32(head + 4 + 4 * i);
    return CNN_STATUS_OK;
}

/* After the promised data: the file must end here, and a gzip stream must end cleanly (its
 * CRC is checked only when the reader reaches the end). */
static cnn_status idx_expect_end(idx_file *file, const char *what, char *err, size_t errlen) {
    unsigned char extra;
    char why[160];
    if (read_up_to(file->f, &extra, 1) != 0)
        return cnn_set_error(err, errlen, CNN_STATUS_FORMAT,
                             "%s: more data than the header's %s", file->path, what);
    if (*gz_reason(file->f, file->path, why, sizeof why))
        return cnn_set_error(err, errlen, CNN_STATUS_FORMAT, "%s: damaged after the %s%s",
                             file->path, what, why);
    return CNN_STATUS_OK;
}

#define READ_PIECE ((size_t)1 << 16)

/* Room for `need` bytes in *mine (capacity *cap, at most `most`), doubling. */
static int grow(unsigned char **mine, size_t *cap, size_t need, size_t most) {
    if (need <= *cap) return 1;
    size_t more = *cap ? *cap * 2 : READ_PIECE;
    more = more < need ? need : more > most ? most : more;
    unsigned char *p = cnn_realloc(*mine, more);
    if (!p) return 0;
    *mine = p;
    *cap = more;
    return 1;
}

/* Reads `count` records of `size` bytes from file, keeping those of shard sh (all for a whole
 * set) in *out, one after another. The file is read in pieces of READ_PIECE bytes and the
 * buffer kept grows with what has arrived: a header's count and sizes are only promises, and a
 * short file must cost what it holds, not what it promises (even one record may be promised
 * at gigabytes). *got receives the bytes read; fewer than count * size means the data ended
 * early. */
static cnn_status read_records(idx_file *file, size_t count, size_t size, cnn_shard sh,
                               unsigned char **out, size_t *got, char *err, size_t errlen) {
    size_t total = count * size; /* count < 2^31, size < 2^32: no overflow */
    size_t most = (size_t)cnn_data_shard_size((int)count, sh) * size, cap = 0, pos = 0;
    unsigned char *piece = cnn_alloc(READ_PIECE), *mine = NULL;
    if (!piece) return cnn_set_error(err, errlen, CNN_STATUS_NO_MEMORY, "out of memory");
    cnn_status st = CNN_STATUS_OK;
    while (pos < total && st == CNN_STATUS_OK) {
        size_t want = total - pos < READ_PIECE ? total - pos : READ_PIECE;
        size_t n = read_up_to(file->f, piece, want);
        for (size_t i = 0; i < n && st == CNN_STATUS_OK;) {
            size_t at = pos + i, off = at % size, run = size - off < n - i ? size - off : n - i;
            int slot = cnn_data_shard_slot(sh, (int)(at / size));
            size_t dst = (size_t)slot * size + off;
            if (slot >= 0 && !grow(&mine, &cap, dst + run, most))
                st = cnn_set_error(err, errlen, CNN_STATUS_NO_MEMORY,
                                   "%s: out of memory for %zu bytes of records", file->path,
                                   dst + run);
            else if (slot >= 0)
                memcpy(mine + dst, piece + i, run);
            i += run;
        }
        pos += n;
        if (n < want) break;
    }
    cnn_free(piece);
    *got = pos;
    if (st != CNN_STATUS_OK) {
        cnn_free(mine);
        return st;
    }
    *out = mine;
    return CNN_STATUS_OK;
}

/* The message for data that ended before the header's promise: cut, or a damaged stream. */
static cnn_status short_data(idx_file *file, const char *promise, size_t got, size_t per,
                             const char *unit, char *err, size_t errlen) {
    char why[160];
    int bad = gz_damaged(file->f);
    return cnn_set_error(err, errlen, CNN_STATUS_FORMAT, "%s: %s: header promises %s, %s %zu bytes (%zu whole %s)%s",
                         file->path, bad ? "damaged" : "truncated", promise,
                         bad ? "read" : "file holds", got, got / per, unit,
                         gz_reason(file->f, file->path, why, sizeof why));
}

/* The labels: n bytes, each below fixed_classes when that is above 0. */
static cnn_status read_labels(idx_file *lb, uint32_t n, int fixed_classes, unsigned char **out,
                              char *err, size_t errlen) {
    size_t got;
    char what[96];
    cnn_shard all = {0, 1};
    cnn_status st = read_records(lb, n, 1, all, out, &got, err, errlen);
    snprintf(what, sizeof what, "%u labels", (unsigned)n);
    if (st == CNN_STATUS_OK && got < n) st = short_data(lb, what, got, 1, "labels", err, errlen);
    if (st == CNN_STATUS_OK) st = idx_expect_end(lb, what, err, errlen);
    for (uint32_t i = 0; st == CNN_STATUS_OK && fixed_classes > 0 && i < n; i++)
        if ((*out)[i] >= fixed_classes)
            st = cnn_set_error(err, errlen, CNN_STATUS_FORMAT,
                               "%s: label %d of sample %u is not below %d", lb->path,
                               (*out)[i], (unsigned)i, fixed_classes);
    if (st != CNN_STATUS_OK) {
        cnn_free(*out);
        *out = NULL;
    }
    return st;
}

/* Loads shard sh of the pair. fixed_classes > 0: labels must be below it and classes is it;
 * 0: classes is 10 or one more than the largest label, whichever is larger. Nothing is
 * allocated for more samples than the files hold. */
static cnn_status load_pair(const char *images_path, const char *labels_path,
                            int fixed_classes, cnn_shard sh, cnn_dataset **out, char *err,
                            size_t errlen) {
    if (!images_path || !labels_path || !out)
        return cnn_set_error(err, errlen, CNN_STATUS_INVALID_ARGUMENT,
                             "load_idx: NULL path or result pointer");
    *out = NULL;
    idx_file im = {0}, lb = {0};
    cnn_dataset *ds = NULL;
    unsigned char *labels = NULL, *pixels = NULL;
    char what[96];
    cnn_status st = cnn_data_shard_check(sh, images_path, err, errlen);
    if (st == CNN_STATUS_OK) st = idx_open(&im, images_path, IDX_IMAGES_MAGIC, 3, err, errlen);
    if (st == CNN_STATUS_OK) st = idx_open(&lb, labels_path, IDX_LABELS_MAGIC, 1, err, errlen);
    if (st != CNN_STATUS_OK) goto done;

    uint32_t n = im.dims[0], h = im.dims[1], w = im.dims[2];
    if (n == 0 || n > INT_MAX || h == 0 || h > IDX_MAX_SIDE || w == 0 || w > IDX_MAX_SIDE) {
        st = cnn_set_error(err, errlen, CNN_STATUS_FORMAT,
                           "%s: header promises %u images of %ux%u: expected 1 to %d images "
                           "of sides 1 to %u",
                           images_path, (unsigned)n, (unsigned)h, (unsigned)w, INT_MAX,
                           IDX_MAX_SIDE);
        goto done;
    }
    if (lb.dims[0] != n) {
        st = cnn_set_error(err, errlen, CNN_STATUS_FORMAT,
                           "%s holds %u images but %s holds %u labels", images_path,
                           (unsigned)n, labels_path, (unsigned)lb.dims[0]);
        goto done;
    }
    /* Labels first: they are small, and they decide the number of classes. */
    if ((st = read_labels(&lb, n, fixed_classes, &labels, err, errlen)) != CNN_STATUS_OK)
        goto done;
    size_t size = (size_t)h * w, got;
    if ((st = read_records(&im, n, size, sh, &pixels, &got, err, errlen)) != CNN_STATUS_OK)
        goto done;
    snprintf(what, sizeof what, "%u images of %ux%u (%zu bytes)", (unsigned)n, (unsigned)h,
             (unsigned)w, (size_t)n * size);
    if (got < (size_t)n * size) {
        st = short_data(&im, what, got, size, "images", err, errlen);
        goto done;
    }
    if ((st = idx_expect_end(&im, what, err, errlen)) != CNN_STATUS_OK) goto done;

    int classes = fixed_classes > 0 ? fixed_classes : 10;
    for (uint32_t i = 0; i < n; i++)
        if (labels[i] >= classes) classes = labels[i] + 1;
    /* The images read are the data set's own: no second buffer (an empty shard read none and
     * gets an empty one). */
    if (!pixels) pixels = cnn_calloc(1, 1);
    ds = pixels ? cnn_data_shard_new((int)n, sh, 1, (int)h, (int)w, classes,
                                     CNN_DATA_PIXELS_GIVEN)
                : NULL;
    if (!ds) {
        st = cnn_set_error(err, errlen, CNN_STATUS_NO_MEMORY,
                           "%s: out of memory for %u images of %ux%u", images_path,
                           (unsigned)n, (unsigned)h, (unsigned)w);
        goto done;
    }
    ds->pixels = pixels;
    pixels = NULL;
    if (ds->ids) {
        for (uint32_t i = 0; i < n; i++) ds->whole_y[i] = labels[i];
        cnn_data_shard_labels(ds);
    } else {
        for (uint32_t i = 0; i < n; i++) ds->y[i] = labels[i];
    }
    st = cnn_data_set_names(ds, NULL, err, errlen);

done:
    if (im.f) gzclose(im.f);
    if (lb.f) gzclose(lb.f);
    cnn_free(labels);
    cnn_free(pixels);
    if (st != CNN_STATUS_OK) {
        cnn_dataset_free(ds);
        return st;
    }
    *out = ds;
    return CNN_STATUS_OK;
}

cnn_status cnn_dataset_load_idx(const char *images_path, const char *labels_path,
                                cnn_dataset **out, char *err, size_t errlen) {
    cnn_shard all = {0, 1};
    return load_pair(images_path, labels_path, 0, all, out, err, errlen);
}

cnn_status cnn_dataset_load_idx_shard(const char *images_path, const char *labels_path,
                                      cnn_shard shard, cnn_dataset **out, char *err,
                                      size_t errlen) {
    return load_pair(images_path, labels_path, 0, shard, out, err, errlen);
}

/* dir/name or dir/name.gz, whichever exists (the plain file first: it reads faster); NULL
 * and a message when neither does or memory runs out. The result is from cnn_alloc. */
static char *find_file(const char *dir, const char *name, cnn_status *st, char *err,
                       size_t errlen) {
    size_t size = strlen(dir) + strlen(name) + 8;
    char *path = cnn_alloc(size);
    if (!path) {
        *st = cnn_set_error(err, errlen, CNN_STATUS_NO_MEMORY, "out of memory");
        return NULL;
    }
    snprintf(path, size, "%s/%s", dir, name);
    if (access(path, F_OK) == 0) return path;
    snprintf(path, size, "%s/%s.gz", dir, name);
    if (access(path, F_OK) == 0) return path;
    cnn_free(path);
    *st = cnn_set_error(err, errlen, CNN_STATUS_IO, "%s: found neither %s nor %s.gz", dir,
                        name, name);
    return NULL;
}

/* Whether s contains "fashion" in any case: Fashion-MNIST's files are named like MNIST's, so
 * the folder's name is what tells them apart. */
static int mentions_fashion(const char *s) {
    static const char word[] = "fashion";
    for (; *s; s++) {
        size_t k = 0;
        while (word[k] && tolower((unsigned char)s[k]) == word[k]) k++;
        if (!word[k]) return 1;
    }
    return 0;
}

cnn_status cnn_dataset_load_mnist_dir(const char *dir, int train, cnn_dataset **out, char *err,
                                      size_t errlen) {
    cnn_shard all = {0, 1};
    return cnn_dataset_load_mnist_dir_shard(dir, train, all, out, err, errlen);
}

cnn_status cnn_dataset_load_mnist_dir_shard(const char *dir, int train, cnn_shard shard,
                                            cnn_dataset **out, char *err, size_t errlen) {
    static const char *const fashion[10] = {"T-shirt/top", "Trouser", "Pullover", "Dress",
                                            "Coat",        "Sandal",  "Shirt",    "Sneaker",
                                            "Bag",         "Ankle boot"};
    if (!dir || !out)
        return cnn_set_error(err, errlen, CNN_STATUS_INVALID_ARGUMENT,
                             "load_mnist_dir: NULL folder or result pointer");
    *out = NULL;
    const char *prefix = train ? "train" : "t10k";
    char images_name[64], labels_name[64];
    snprintf(images_name, sizeof images_name, "%s-images-idx3-ubyte", prefix);
    snprintf(labels_name, sizeof labels_name, "%s-labels-idx1-ubyte", prefix);
    cnn_status st = CNN_STATUS_OK;
    char *images = find_file(dir, images_name, &st, err, errlen);
    char *labels = images ? find_file(dir, labels_name, &st, err, errlen) : NULL;
    cnn_dataset *ds = NULL;
    /* MNIST and Fashion-MNIST have ten classes: a larger label means a damaged file. */
    if (images && labels) st = load_pair(images, labels, 10, shard, &ds, err, errlen);
    if (st == CNN_STATUS_OK && mentions_fashion(dir))
        st = cnn_data_set_names(ds, fashion, err, errlen);
    cnn_free(images);
    cnn_free(labels);
    if (st != CNN_STATUS_OK) {
        cnn_dataset_free(ds);
        return st;
    }
    *out = ds;
    return CNN_STATUS_OK;
}

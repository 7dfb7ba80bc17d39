/*
 * npy.c - NumPy's .npy files of float32 arrays, so that scripts and other tools can hand
 * tensors to cnn and check its outputs.
 *
 * The format (numpy.lib.format, versions 1.0 to 3.0):
 *   "\x93NUMPY", u8 major, u8 minor, header length (u16 little-endian in 1.0, u32 in 2.0 and
 *   3.0), then the header: a Python dict literal such as
 *     {'descr': '<f4', 'fortran_order': False, 'shape': (2, 3, 4), }
 *   padded with spaces to a multiple of 64 bytes in all (magic to the end of the header) and
 *   ending in '\n'; then the values, C order. Only little-endian float32 in C order is read:
 *   anything else is refused with a message saying what the file holds. The data must be
 *   exactly the size the shape gives, checked before anything is allocated. Written as 1.0
 *   (2.0 for a header over 65535 bytes), atomically.
 */
#include "../core/internal.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#define NPY_MAGIC "\x93NUMPY"
#define NPY_MAX_HEADER (1 << 20)

static cnn_status bad(char *err, size_t errlen, const char *path, const char *what) {
    return cnn_set_error(err, errlen, CNN_STATUS_FORMAT, "%s: not a float32 .npy array: %s",
                         path, what);
}

/* The value after 'key': in the header, or NULL. */
static const char *after_key(const char *h, const char *key) {
    const char *k = strstr(h, key);
    if (!k) return NULL;
    k = strchr(k + strlen(key), ':');
    if (!k) return NULL;
    while (*++k == ' ') {}
    return k;
}

/* The shape tuple "(2, 3, 4)", "(5,)" or "()" into a. */
static cnn_status parse_shape(const char *s, cnn_array *a, const char *path, char *err,
                              size_t errlen) {
    if (!s || *s != '(') return bad(err, errlen, path, "no shape in the header");
    a->ndim = 0;
    for (s++;;) {
        while (*s == ' ' || *s == ',') s++;
        if (*s == ')') return CNN_STATUS_OK;
        char *end;
        errno = 0;
        long long d = strtoll(s, &end, 10);
        if (end == s || errno || d < 0)
            return bad(err, errlen, path, "a dimension of the shape is not a count");
        if (a->ndim == CNN_ARRAY_MAX_DIMS)
            return bad(err, errlen, path, "more than 8 dimensions");
        a->dims[a->ndim++] = (int64_t)d;
        s = end;
    }
}

/* Reads the header of an opened file; on success the file is at the data and *data_bytes
 * holds the size the shape gives. */
static cnn_status read_header(FILE *f, const char *path, cnn_array *a, size_t *data_bytes,
                              char *err, size_t errlen) {
    unsigned char pre[12];
    if (fread(pre, 1, 10, f) != 10 || memcmp(pre, NPY_MAGIC, 6) != 0)
        return bad(err, errlen, path, "no .npy magic number at the start");
    int major = pre[6];
    size_t hlen = (size_t)pre[8] | (size_t)pre[9] << 8;
    if (major == 2 || major == 3) {
        if (fread(pre + 10, 1, 2, f) != 2) return bad(err, errlen, path, "truncated header");
        hlen |= (size_t)pre[10] << 16 | (size_t)pre[11] << 24;
    } else if (major != 1) {
        return bad(err, errlen, path, "an unknown format version");
    }
    if (hlen == 0 || hlen > NPY_MAX_HEADER) return bad(err, errlen, path, "a header too large");
    char *h = cnn_alloc(hlen + 1);
    if (!h) return cnn_set_error(err, errlen, CNN_STATUS_NO_MEMORY, "%s: out of memory", path);
    cnn_status st = CNN_STATUS_OK;
    if (fread(h, 1, hlen, f) != hlen) st = bad(err, errlen, path, "truncated header");
    h[st ? 0 : hlen] = 0;
    const char *descr = st ? NULL : after_key(h, "'descr'");
    const char *order = st ? NULL : after_key(h, "'fortran_order'");
    if (!st && (!descr || strncmp(descr, "'<f4'", 5) != 0))
        st = bad(err, errlen, path, "its values are not little-endian float32 ('<f4'): save "
                 "it with .astype(numpy.float32)");
    if (!st && (!order || strncmp(order, "False", 5) != 0))
        st = bad(err, errlen, path, "it is in Fortran order: save numpy.ascontiguousarray(a)");
    if (!st) st = parse_shape(after_key(h, "'shape'"), a, path, err, errlen);
    cnn_free(h);
    if (st) return st;
    size_t n = 1;
    for (int d = 0; d < a->ndim; d++) {
        if (a->dims[d] && n > SIZE_MAX / 4 / (size_t)a->dims[d])
            return bad(err, errlen, path, "a shape too large");
        n *= (size_t)a->dims[d];
    }
    *data_bytes = n * sizeof(float);
    return CNN_STATUS_OK;
}

cnn_status cnn_npy_read(const char *path, cnn_array *out, char *err, size_t errlen) {
    memset(out, 0, sizeof *out);
    FILE *f = fopen(path, "rb");
    if (!f) return cnn_set_error(err, errlen, CNN_STATUS_IO, "%s: cannot open: %s", path,
                                 strerror(errno));
    size_t bytes = 0;
    cnn_array a = {0};
    cnn_status st = read_header(f, path, &a, &bytes, err, errlen);
    long at = st ? 0 : ftell(f), size = -1;
    if (!st && fseek(f, 0, SEEK_END) == 0) size = ftell(f);
    if (!st && (size < 0 || at < 0 || (size_t)(size - at) != bytes))
        st = cnn_set_error(err, errlen, CNN_STATUS_FORMAT,
                           "%s: the shape gives %zu bytes of data, the file holds %ld", path,
                           bytes, size < 0 ? -1L : size - at);
    if (!st && (a.data = cnn_alloc(bytes ? bytes : 1)) == NULL)
        st = cnn_set_error(err, errlen, CNN_STATUS_NO_MEMORY, "%s: out of memory for %zu bytes",
                           path, bytes);
    if (!st && (fseek(f, at, SEEK_SET) != 0 || fread(a.data, 1, bytes, f) != bytes))
        st = cnn_set_error(err, errlen, CNN_STATUS_IO, "%s: read error", path);
    fclose(f);
    if (st) {
        cnn_free(a.data);
        return st;
    }
    *out = a;
    return CNN_STATUS_OK;
}

cnn_status cnn_npy_write(const char *path, const cnn_array *a, char *err, size_t errlen) {
    if (a->ndim < 0 || a->ndim > CNN_ARRAY_MAX_DIMS)
        return cnn_set_error(err, errlen, CNN_STATUS_INVALID_ARGUMENT,
                             "%s: %d dimensions (0 to 8)", path, a->ndim);
    char h[512];
    int n = snprintf(h, sizeof h, "{'descr': '<f4', 'fortran_order': False, 'shape': (");
    size_t count = 1;
    for (int d = 0; d < a->ndim; d++) { /* as Python prints a tuple: (5,) or (2, 3) */
        n += snprintf(h + n, sizeof h - (size_t)n, "%lld%s", (long long)a->dims[d],
                      d < a->ndim - 1 ? ", " : a->ndim == 1 ? "," : "");
        count *= (size_t)a->dims[d];
    }
    n += snprintf(h + n, sizeof h - (size_t)n, "), }");
    /* Spaces, then '\n', so that magic + version + length + header is a multiple of 64. */
    size_t total = (10 + (size_t)n + 1 + 63) / 64 * 64, hlen = total - 10;
    memset(h + n, ' ', hlen - (size_t)n - 1);
    h[hlen - 1] = '\n';
    unsigned char pre[10] = {0x93, 'N', 'U', 'M', 'P', 'Y', 1, 0, (unsigned char)hlen,
                             (unsigned char)(hlen >> 8)};
    char tmp[4200];
    FILE *f = cnn_atomic_open(path, tmp, sizeof tmp, err, errlen);
    if (!f) return CNN_STATUS_IO;
    int failed = fwrite(pre, 1, 10, f) != 10 || fwrite(h, 1, hlen, f) != hlen ||
                 (count && fwrite(a->data, sizeof(float), count, f) != count);
    return cnn_atomic_close(f, tmp, path, failed, err, errlen);
}

void cnn_array_free(cnn_array *a) {
    if (!a) return;
    cnn_free(a->data);
    a->data = NULL;
}

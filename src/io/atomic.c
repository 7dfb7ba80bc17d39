/*
 * atomic.c - files replaced whole or not at all: written to PATH.tmp.PID beside the target,
 * flushed to disk, then renamed over it, so that an interrupted save leaves the previous file
 * as it was. Every message names the target, not the temporary file.
 */
#include "../core/internal.h"

#include <errno.h>
#include <string.h>
#include <unistd.h>

FILE *cnn_atomic_open(const char *path, char *tmp, size_t tmp_size, char *err, size_t errlen) {
    if ((size_t)snprintf(tmp, tmp_size, "%s.tmp.%ld", path, (long)getpid()) >= tmp_size) {
        cnn_set_error(err, errlen, CNN_STATUS_INVALID_ARGUMENT, "%s: path too long", path);
        return NULL;
    }
    FILE *f = fopen(tmp, "wb");
    if (!f)
        cnn_set_error(err, errlen, CNN_STATUS_IO, "%s: cannot write: %s", path, strerror(errno));
    return f;
}

cnn_status cnn_atomic_close(FILE *f, const char *tmp, const char *path, int failed, char *err,
                            size_t errlen) {
    int saved = errno;
    if (!failed && (ferror(f) || fflush(f) != 0 || fsync(fileno(f)) != 0))
        failed = 1, saved = errno;
    if (fclose(f) != 0 && !failed) failed = 1, saved = errno;
    if (!failed && rename(tmp, path) != 0) failed = 1, saved = errno;
    if (!failed) return CNN_STATUS_OK;
    unlink(tmp);
    return cnn_set_error(err, errlen, CNN_STATUS_IO,
                         "%s: cannot write: %s (the previous file, if any, is unchanged)", path,
                         saved ? strerror(saved) : "write error");
}

cnn_status cnn_write_file_atomic(const char *path, const void *data, size_t size, char *err,
                                 size_t errlen) {
    char tmp[4200];
    FILE *f = cnn_atomic_open(path, tmp, sizeof tmp, err, errlen);
    if (!f) return CNN_STATUS_IO;
    int failed = size && fwrite(data, 1, size, f) != size;
    return cnn_atomic_close(f, tmp, path, failed, err, errlen);
}

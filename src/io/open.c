/*
 * open.c - opening a file the library reads whole (a checkpoint, a definition, a data set
 * file) only when it is a regular file.
 *
 * A folder opens for reading on Linux and then reports a length of 2^63 - 1 to fseek/ftell,
 * which a reader took for the size to allocate; a FIFO blocks in open() until a writer comes,
 * so the program hangs. The file is opened without blocking and looked at through its
 * descriptor (fstat, not stat then open, which another process could race), and anything but
 * a regular file is refused with a message that says what it is.
 */
#include "../core/internal.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* "a directory", "a FIFO (named pipe)", ...: what a non-regular file is, for messages. */
static const char *kind_of(mode_t mode) {
    if (S_ISDIR(mode)) return "a directory";
    if (S_ISFIFO(mode)) return "a FIFO (named pipe)";
    if (S_ISCHR(mode)) return "a character device";
    if (S_ISBLK(mode)) return "a block device";
    if (S_ISSOCK(mode)) return "a socket";
    return "a special file";
}

cnn_status cnn_open_regular(const char *path, const char *what, FILE **out, size_t *size,
                            char *err, size_t errlen) {
    *out = NULL;
    int fd = open(path, O_RDONLY | O_NONBLOCK | O_NOCTTY | O_CLOEXEC);
    if (fd < 0) {
        int e = errno;
        cnn_set_error(err, errlen, CNN_STATUS_IO, "%s: cannot open: %s", path, strerror(e));
        errno = e; /* for callers to whom a missing file is no error */
        return CNN_STATUS_IO;
    }
    struct stat sb;
    if (fstat(fd, &sb) != 0) {
        int e = errno;
        close(fd);
        return cnn_set_error(err, errlen, CNN_STATUS_IO, "%s: cannot read: %s", path,
                             strerror(e));
    }
    if (!S_ISREG(sb.st_mode)) {
        close(fd);
        return cnn_set_error(err, errlen, CNN_STATUS_IO, "%s: is %s, not %s", path,
                             kind_of(sb.st_mode), what);
    }
    /* Reads of a regular file never block; the flag only mattered for open(). */
    int flags = fcntl(fd, F_GETFL);
    if (flags != -1) fcntl(fd, F_SETFL, flags & ~O_NONBLOCK);
    FILE *f = fdopen(fd, "rb");
    if (!f) {
        int e = errno;
        close(fd);
        return cnn_set_error(err, errlen, e == ENOMEM ? CNN_STATUS_NO_MEMORY : CNN_STATUS_IO,
                             "%s: cannot open: %s", path, strerror(e));
    }
    if (size) *size = (size_t)sb.st_size;
    *out = f;
    return CNN_STATUS_OK;
}

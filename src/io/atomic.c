/*
 * atomic.c - files replaced whole or not at all: written to PATH.tmp.PID beside the target,
 * flushed to disk, renamed over it, and the folder flushed too (the rename lives in the
 * folder: without that, a power cut after the save returns may bring back the old file, or
 * none). An interrupted save leaves the previous file as it was, and its temporary file,
 * which the next save of the same path removes once its process is gone. Every message names
 * the target, not the temporary file.
 */
#include "../core/internal.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* Splits path into its folder (".", "/" or the part before the last '/', into dir) and its
 * last name (returned, a pointer into path). 0 when the folder does not fit in dir. */
static const char *split_path(const char *path, char *dir, size_t size) {
    const char *slash = strrchr(path, '/');
    if (!slash) return snprintf(dir, size, ".") < (int)size ? path : NULL;
    size_t len = slash == path ? 1 : (size_t)(slash - path);
    if (len >= size) return NULL;
    memcpy(dir, path, len);
    dir[len] = 0;
    return slash + 1;
}

/* The PID in a temporary file's name "BASE.tmp.PID", or 0 when name is not exactly of that
 * form: base, ".tmp.", then a positive decimal number as %ld writes it (no sign, no leading
 * zero) that fits a pid_t. */
static long temp_pid(const char *name, const char *base) {
    size_t n = strlen(base);
    if (strncmp(name, base, n) != 0 || strncmp(name + n, ".tmp.", 5) != 0) return 0;
    const char *d = name + n + 5;
    if (*d < '1' || *d > '9') return 0;
    long pid = 0;
    for (; *d; d++) {
        if (*d < '0' || *d > '9' || pid > (0x7fffffffL - 9) / 10) return 0;
        pid = pid * 10 + (*d - '0');
    }
    return pid;
}

/* Removes the temporary files of earlier saves of path whose process is gone (kill(pid, 0)
 * says ESRCH): a save killed between creating its temporary file and renaming it leaves one,
 * and nothing else would ever remove it. Only regular files named exactly PATH.tmp.PID are
 * touched, never a link, a folder or another target's file, nor one of a live process (EPERM:
 * it exists, under another user) or of this one. Best effort: a file that cannot be removed
 * does not stop the save. (A PID is only meaningful on this machine and in this PID
 * namespace: a folder shared with another host or container could hold a live save's file
 * whose PID is free here. Saving the same path from two machines at once is a race anyway.) */
static void remove_stale_temps(const char *path) {
    char dir[4200];
    const char *base = split_path(path, dir, sizeof dir);
    if (!base || !*base) return;
    DIR *d = opendir(dir);
    if (!d) return;
    int fd = dirfd(d);
    struct dirent *e;
    while ((e = readdir(d))) {
        long pid = temp_pid(e->d_name, base);
        struct stat sb;
        if (pid == 0 || pid == (long)getpid()) continue;
        if (kill((pid_t)pid, 0) == 0 || errno != ESRCH) continue;
        if (fstatat(fd, e->d_name, &sb, AT_SYMLINK_NOFOLLOW) == 0 && S_ISREG(sb.st_mode))
            unlinkat(fd, e->d_name, 0);
    }
    closedir(d);
}

/* Flushes the folder of path to disk, so that the rename into it is durable. Returns 0 or
 * the errno of the failure. A folder that cannot be opened for reading (permissions) or a
 * file system that cannot sync folders (EINVAL) leave nothing to do, as PostgreSQL and
 * SQLite do it. */
static int sync_folder(const char *path) {
    char dir[4200];
    if (!split_path(path, dir, sizeof dir)) return ENAMETOOLONG;
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0) return errno == EACCES ? 0 : errno;
    int e = fsync(fd) == 0 || errno == EINVAL ? 0 : errno;
    close(fd);
    return e;
}

FILE *cnn_atomic_open(const char *path, char *tmp, size_t tmp_size, char *err, size_t errlen) {
    if ((size_t)snprintf(tmp, tmp_size, "%s.tmp.%ld", path, (long)getpid()) >= tmp_size) {
        cnn_set_error(err, errlen, CNN_STATUS_INVALID_ARGUMENT, "%s: path too long", path);
        return NULL;
    }
    /* Before writing: on a full disk the space of dead saves is what this one needs. */
    remove_stale_temps(path);
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
    if (!failed) {
        int e = sync_folder(path);
        if (!e) return CNN_STATUS_OK;
        return cnn_set_error(err, errlen, CNN_STATUS_IO,
                             "%s: written, but its folder could not be flushed to disk: %s (the "
                             "new file may not survive a power cut)",
                             path, strerror(e));
    }
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

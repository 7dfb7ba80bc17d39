/*
 * test_atomic.c - saves that survive interruptions (src/io/atomic.c): the folder is flushed
 * to disk after the rename, and a save removes the temporary files that earlier saves of the
 * same path left when they were killed (their process gone), and nothing else: not a live
 * process's, not another target's, not a name that only resembles ours, not a folder or a
 * link.
 *
 * fsync is wrapped here (the program's definition wins over the C library's for libcnn.a's
 * calls too): each call on the watched folder is counted when the renamed file is already in
 * place, which only a flush after the rename sees.
 */
#define _DEFAULT_SOURCE /* syscall */
#include "testlib.h"
#include "../src/core/internal.h" /* cnn_write_file_atomic */

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

static char dir[] = "/tmp/cnn_atomic_XXXXXX";
static char target[256];
static ino_t watched = 0;
static int folder_syncs_after_rename = 0;

int fsync(int fd) {
    struct stat sb, tb;
    char tmp[300];
    snprintf(tmp, sizeof tmp, "%s.tmp.%ld", target, (long)getpid());
    if (watched && fstat(fd, &sb) == 0 && S_ISDIR(sb.st_mode) && sb.st_ino == watched &&
        stat(target, &tb) == 0 && access(tmp, F_OK) != 0)
        folder_syncs_after_rename++;
    return (int)syscall(SYS_fsync, fd);
}

static int exists(const char *path) {
    struct stat sb;
    return lstat(path, &sb) == 0;
}

static void touch(const char *path) {
    FILE *f = fopen(path, "w");
    T_CHECK(f && fputs("partial", f) >= 0 && fclose(f) == 0, "cannot create %s", path);
}

/* The PID of a process that has exited (and been waited for): no process has it now, barring
 * reuse within the moment. */
static long dead_pid(void) {
    pid_t pid = fork();
    if (pid == 0) _exit(0);
    waitpid(pid, NULL, 0);
    return (long)pid;
}

static cnn_net *small_net(void) {
    return t_net("input x - shape=4; dense d - out=3", 1);
}

static void folder_flushed(void) {
    struct stat sb;
    T_CHECK(stat(dir, &sb) == 0, "stat %s", dir);
    watched = sb.st_ino;
    cnn_net *net = small_net();
    char err[1024];
    folder_syncs_after_rename = 0;
    T_CHECK(cnn_checkpoint_save(target, net, NULL, NULL, err, sizeof err) == 0, "%s", err);
    T_CHECK(folder_syncs_after_rename == 1, "the folder was flushed %d times after the rename",
            folder_syncs_after_rename);
    folder_syncs_after_rename = 0;
    T_CHECK(cnn_write_file_atomic(target, "x", 1, err, sizeof err) == 0, "%s", err);
    T_CHECK(folder_syncs_after_rename == 1, "cnn_write_file_atomic: %d flushes of the folder",
            folder_syncs_after_rename);
    watched = 0;
    cnn_net_free(net);
}

static void stale_temporaries(void) {
    long dead = dead_pid(), dead2 = dead_pid(), live = (long)getppid();
    char stale[300], stale2[300], alive[300], mine[300], other[300], folder[300], link[300];
    char decoys[5][300];
    snprintf(stale, sizeof stale, "%s.tmp.%ld", target, dead);
    snprintf(stale2, sizeof stale2, "%s.tmp.%ld", target, dead2);
    snprintf(alive, sizeof alive, "%s.tmp.%ld", target, live);
    snprintf(other, sizeof other, "%s/other.ckpt.tmp.%ld", dir, dead);
    snprintf(folder, sizeof folder, "%s.tmp.%ld", target, dead + 100000);
    snprintf(link, sizeof link, "%s.tmp.%ld", target, dead + 200000);
    snprintf(decoys[0], sizeof decoys[0], "%s.tmp.%ldx", target, dead);
    snprintf(decoys[1], sizeof decoys[1], "%s.tmp.0%ld", target, dead);
    snprintf(decoys[2], sizeof decoys[2], "%s.tmpx.%ld", target, dead);
    snprintf(decoys[3], sizeof decoys[3], "%s.tmp.-%ld", target, dead);
    snprintf(decoys[4], sizeof decoys[4], "%s.tmp.99999999999", target);
    touch(stale);
    touch(stale2);
    touch(alive);
    touch(other);
    for (int i = 0; i < 5; i++) touch(decoys[i]);
    T_CHECK(mkdir(folder, 0700) == 0, "mkdir %s", folder);
    T_CHECK(symlink(other, link) == 0, "symlink %s", link);
    T_CHECK(kill((pid_t)dead, 0) != 0 && errno == ESRCH, "PID %ld was reused", dead);

    cnn_net *net = small_net();
    char err[1024];
    T_CHECK(cnn_checkpoint_save(target, net, NULL, NULL, err, sizeof err) == 0, "%s", err);
    T_CHECK(!exists(stale) && !exists(stale2), "a dead save's temporary file is left: %s",
            exists(stale) ? stale : stale2);
    T_CHECK(exists(alive), "a live process's temporary file was removed: %s", alive);
    T_CHECK(exists(other), "another target's temporary file was removed: %s", other);
    T_CHECK(exists(folder), "a folder of the temporary name was removed");
    T_CHECK(exists(link) && exists(other), "a link of the temporary name was removed");
    for (int i = 0; i < 5; i++) T_CHECK(exists(decoys[i]), "%s was removed", decoys[i]);
    snprintf(mine, sizeof mine, "%s.tmp.%ld", target, (long)getpid());
    T_CHECK(!exists(mine), "the save's own temporary file is left");
    cnn_net *back = NULL;
    T_CHECK(cnn_checkpoint_load(target, &back, NULL, NULL, err, sizeof err) == 0, "%s", err);
    cnn_net_free(back);
    cnn_net_free(net);
}

int main(void) {
    if (!mkdtemp(dir)) return 1;
    snprintf(target, sizeof target, "%s/model.ckpt", dir);
    folder_flushed();
    stale_temporaries();
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    if (system(cmd) != 0) printf("could not remove %s\n", dir);
    return t_finish();
}

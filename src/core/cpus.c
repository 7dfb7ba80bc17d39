/*
 * cpus.c - how many processors this process may use: the CPUs of its affinity mask, bounded
 * by the CPU quota of its cgroup (v2 cpu.max "QUOTA PERIOD", or v1 cfs_quota_us/cfs_period_us)
 * when one is set, as a container runtime sets it. The default thread count of the trainer.
 */
#define _GNU_SOURCE
#include "internal.h"

#include <sched.h>
#include <stdio.h>

/* The quota in CPUs (rounded up), or 0 when there is none or it cannot be read. */
static int cgroup_quota(void) {
    long long quota = -1, period = 0;
    FILE *f = fopen("/sys/fs/cgroup/cpu.max", "r");
    if (f) {
        char q[32];
        if (fscanf(f, "%31s %lld", q, &period) == 2 && q[0] != 'm') sscanf(q, "%lld", &quota);
        fclose(f);
    } else if ((f = fopen("/sys/fs/cgroup/cpu/cpu.cfs_quota_us", "r"))) {
        if (fscanf(f, "%lld", &quota) != 1) quota = -1;
        fclose(f);
        if ((f = fopen("/sys/fs/cgroup/cpu/cpu.cfs_period_us", "r"))) {
            if (fscanf(f, "%lld", &period) != 1) period = 0;
            fclose(f);
        }
    }
    if (quota <= 0 || period <= 0) return 0;
    return (int)((quota + period - 1) / period);
}

int cnn_cpu_count(void) {
    int n = 1;
    cpu_set_t set;
    if (sched_getaffinity(0, sizeof set, &set) == 0) n = CPU_COUNT(&set);
    int q = cgroup_quota();
    if (q > 0 && q < n) n = q;
    return n > 0 ? n : 1;
}

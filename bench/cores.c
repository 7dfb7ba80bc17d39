/*
 * cores.c - how far apart the machine's first two processors are: the round trip of a cache
 * line between two threads pinned to them (one writes a flag, the other answers), in ns.
 *
 * On the shared hosts of this project the hypervisor moves a VM's two virtual processors
 * between physical cores: at one moment they share a core complex (round trip about 120 ns
 * on the Zen 5 host), at another they sit on different dies (about 450 ns), and data one
 * thread wrote costs the other four times as much to read. 2-thread timings follow it, so
 * bench/run.sh records this figure beside them (docs/BENCHMARKS.md, "Where the second thread
 * went").
 *
 *   cores [--trips N]     prints RESULT workload=cores framework=host threads=2
 *                         layout=roundtrip value=NS unit=ns (median of 5 runs of N trips)
 */
#define _GNU_SOURCE
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static _Alignas(64) _Atomic long flag;
static long trips = 200000;
static int cpus[2];

static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

static int pin(int cpu) {
    cpu_set_t set;
    CPU_ZERO(&set);
    CPU_SET(cpu, &set);
    return pthread_setaffinity_np(pthread_self(), sizeof set, &set);
}

/* The other side: answers each odd value with the next even one. */
static void *answer(void *arg) {
    (void)arg;
    (void)pin(cpus[1]); /* checked by the caller before it starts this thread */
    for (long i = 0; i < trips; i++) {
        while (atomic_load_explicit(&flag, memory_order_acquire) != 2 * i + 1) {}
        atomic_store_explicit(&flag, 2 * i + 2, memory_order_release);
    }
    return NULL;
}

static int cmp(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

int main(int argc, char **argv) {
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--trips") && i + 1 < argc && atol(argv[i + 1]) > 0) {
            trips = atol(argv[++i]);
        } else {
            fprintf(stderr, "usage: cores [--trips N]\n");
            return 2;
        }
    }
    cpu_set_t set;
    if (sched_getaffinity(0, sizeof set, &set)) {
        perror("cores: sched_getaffinity");
        return 1;
    }
    int found = 0;
    for (int c = 0; c < CPU_SETSIZE && found < 2; c++)
        if (CPU_ISSET(c, &set)) cpus[found++] = c;
    if (found < 2) {
        fprintf(stderr, "cores: this process may run on one processor only\n");
        return 1;
    }
    if (pin(cpus[1]) || pin(cpus[0])) {
        fprintf(stderr, "cores: cannot pin a thread to processors %d and %d\n", cpus[0], cpus[1]);
        return 1;
    }
    double ns[5];
    for (int r = 0; r < 5; r++) {
        atomic_store(&flag, 0);
        pthread_t t;
        if (pthread_create(&t, NULL, answer, NULL)) {
            fprintf(stderr, "cores: cannot start a thread\n");
            return 1;
        }
        double t0 = now();
        for (long i = 0; i < trips; i++) {
            atomic_store_explicit(&flag, 2 * i + 1, memory_order_release);
            while (atomic_load_explicit(&flag, memory_order_acquire) != 2 * i + 2) {}
        }
        ns[r] = (now() - t0) / (double)trips * 1e9;
        pthread_join(t, NULL);
    }
    qsort(ns, 5, sizeof *ns, cmp);
    printf("INFO cores processors %d and %d, round trips %.0f-%.0f ns\n", cpus[0], cpus[1], ns[0],
           ns[4]);
    printf("RESULT workload=cores framework=host threads=2 layout=roundtrip value=%.0f unit=ns\n",
           ns[2]);
    return 0;
}

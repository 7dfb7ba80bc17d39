/*
 * test_workers.c - the library's thread pool (src/core/workers.c) and each thread's scratch.
 *
 * - cnn_parallel_for runs every index of its range exactly once, for ranges shorter and
 *   longer than the chunks, and longer than the 65535 units the claim word counts, at 2 to 4
 *   threads, call after call.
 * - Chunks are guided: none larger than 1/(2 x threads) of the range, the last ones small (at 2
 *   threads a range of 1000 has one of at most 16, where 16 equal chunks are 63 long), and
 *   few of them (at most 40 there, where chunks of one index would be 1000).
 * - The calling thread claims chunks from the front of the range and the workers from the
 *   back, so that the caller's indices are a prefix: loops laid out in the same order (the
 *   rows of a map, layer after layer) then give each thread the same part each time, and
 *   what it wrote stays in its core's cache. The test also checks that the workers did take
 *   part (a prefix of everything would prove nothing).
 * - A prepared network's scratch: each thread's part on pages of its own, as large as every
 *   layer asks for, the shared part too.
 */
#include "testlib.h"
#include "../src/core/internal.h"

#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

enum { MAX_N = 150000 };

typedef struct loop {
    _Atomic int runs[MAX_N];
    int owner[MAX_N];
    int spin;                 /* work per index, so that the workers wake up in time to take part */
    _Atomic int calls;        /* chunks run */
    _Atomic long largest;     /* the largest chunk's length */
    _Atomic long smallest;    /* the smallest's */
} loop;

/* *x = v if v is larger (sign 1) or smaller (sign -1) than *x. */
static void keep_extreme(_Atomic long *x, long v, int sign) {
    long seen = atomic_load(x);
    while (sign * (v - seen) > 0 && !atomic_compare_exchange_weak(x, &seen, v)) {
    }
}

static void record(void *arg, long begin, long end, int worker) {
    loop *l = arg;
    atomic_fetch_add(&l->calls, 1);
    keep_extreme(&l->largest, end - begin, 1);
    keep_extreme(&l->smallest, end - begin, -1);
    for (long i = begin; i < end; i++) {
        atomic_fetch_add(&l->runs[i], 1);
        l->owner[i] = worker;
        volatile double x = 1.0;
        for (int k = 0; k < l->spin; k++) x = x * 1.000001 + 1e-9;
    }
}

static void ranges(void) {
    static const long sizes[] = {1, 2, 3, 7, 16, 17, 100, 1000, 65535, 65536, MAX_N};
    loop *l = malloc(sizeof *l);
    for (int threads = 2; threads <= 4; threads++) {
        cnn_workers *pool = cnn_workers_new(threads);
        T_CHECK(pool != NULL, "a pool of %d threads", threads);
        if (!pool) continue;
        int once = 1, prefix = 1, workers_ran = 0, guided = 1;
        for (int rep = 0; rep < 200; rep++)
            for (size_t s = 0; s < sizeof sizes / sizeof *sizes; s++) {
                long n = sizes[s];
                if (n > 1000 && rep >= 4) continue; /* long ranges: a few calls are enough */
                memset(l, 0, sizeof *l);
                l->spin = n >= 100 && n <= 1000 ? 2000 : 0;
                l->smallest = n;
                cnn_parallel_for(pool, threads, n, record, l);
                if (n >= 2 * threads && atomic_load(&l->largest) > n / (2 * threads)) guided = 0;
                if (n == 1000 && threads == 2 &&
                    (atomic_load(&l->calls) > 40 || atomic_load(&l->smallest) > 16))
                    guided = 0;
                long first_worker = n; /* the first index a worker ran */
                for (long i = 0; i < n; i++) {
                    if (atomic_load(&l->runs[i]) != 1) once = 0;
                    if (l->owner[i] != 0 && first_worker == n) first_worker = i;
                    if (l->owner[i] == 0 && first_worker < n) prefix = 0;
                }
                if (first_worker < n) workers_ran++;
            }
        T_CHECK(once, "%d threads: every index ran exactly once", threads);
        T_CHECK(prefix, "%d threads: the caller's indices are a prefix of the range", threads);
        T_CHECK(workers_ran > 0, "%d threads: the workers ran some chunks", threads);
        T_CHECK(guided, "%d threads: chunks at most 1/(2 x threads) of the range, the last small, "
                "and few", threads);
        cnn_workers_free(pool);
    }
    free(l);
}

/* The scratch of a network with convolutions of several kinds (direct, Winograd, im2col,
 * transposed). */
static void scratch_of(cnn_net *net, const char *what) {
    T_CHECK(net->thread_stride % 4096 == 0 && net->thread_stride >= net->thread_work_size,
            "%s: each thread's part on pages of its own (%zu bytes apart, %zu used)", what,
            net->thread_stride, net->thread_work_size);
    int fits = 1, used = 0;
    for (int i = 0; i < net->n_nodes; i++) {
        const cnn_node *n = net->nodes[i];
        if (!n->type->work_bytes) continue;
        cnn_work w = n->type->work_bytes(n, net->max_batch);
        if (w.shared > net->work_size || w.each > net->thread_work_size) fits = 0;
        if (w.each) used = 1;
    }
    T_CHECK(fits, "%s: every layer's scratch fits", what);
    T_CHECK(used && net->thread_work_size > 0, "%s: some layer has per-thread scratch", what);
}

static void network_scratch(void) {
    const char *spec = "input x - shape=3x16x16;"
                       "conv2d c1 - out=6 kernel=5 padding=2;"    /* direct */
                       "conv2d c2 - out=32 kernel=3 padding=1;"   /* Winograd */
                       "conv2d c3 - out=16 kernel=3 stride=2;"    /* im2col */
                       "conv_transpose2d t - out=8 kernel=2 stride=2;"
                       "flatten f -; dense d - out=3";
    cnn_net *net = t_net(spec, 1);
    if (!T_CHECK(net != NULL, "building '%s'", spec)) return;
    T_OK(net, cnn_net_set_threads(net, 3));
    T_OK(net, cnn_net_prepare(net, 8));
    scratch_of(net, "float32, 3 threads, batch 8");
    T_OK(net, cnn_net_prepare(net, 1));
    scratch_of(net, "float32, 3 threads, batch 1");
    cnn_net_free(net);
}

int main(void) {
    ranges();
    network_scratch();
    return t_finish();
}

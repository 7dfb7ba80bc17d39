/*
 * workers.c - the library's own thread pool: threads-1 worker threads per network plus the
 * calling thread, sharing out the ranges of cnn_parallel_for. See internal.h.
 *
 * Why not OpenMP (docs/BENCHMARKS.md, "Two threads beside a busy process"): libgomp splits a
 * loop statically and spins at its barriers, so beside a busy process the thread that shares
 * a core holds everyone up while the other spins and keeps its own core from looking idle;
 * its passive policy sleeps at once and pays a wake-up at each of the many short regions of a
 * training step. Here the range is cut into chunks claimed one by one, the caller's from the
 * front and the workers' from the back, so a thread that runs takes over the chunks of one
 * that does not, and the caller waits only for chunks already claimed; waiting spins for a
 * few microseconds, then sleeps. Claiming from both ends keeps a thread's part of a loop about
 * the same from one loop to the next (internal.h, cnn_parallel_for). Chunks shrink as the range
 * runs out (guided, as OpenMP calls it): each claim takes 1/(POOL_GUIDE x threads) of what is
 * left, and no less than 1/(POOL_FINEST x threads) of the range. Large first chunks keep claims
 * few where regions are short (batch 1: a few microseconds each); small last ones keep a thread
 * from waiting long for the other's last chunk where they are long (training: a region of 36
 * Winograd products cut into 12 equal chunks of 3 left one thread idle for 1.5 products on
 * average).
 *
 * The job is published like a seqlock. `claim` holds generation << 32 | units claimed from the
 * back << 16 | units claimed from the front, a unit being one iteration, or as many as keep
 * the range within 65535 units: the generation is odd while the caller writes the job's fields,
 * even once they are valid. A worker reads the fields after an even generation, then claims a
 * chunk by compare-and-swap of the word it read; the swap succeeds only if the job is still the
 * same, and then the fields it read are that job's (the caller's release fence before it writes
 * new fields pairs with the worker's acquire fence before its swap). The caller writes new
 * fields only once every claimed unit is done (`done`), so a claimed chunk's fields stay valid
 * while it runs.
 *
 * Which thread runs a chunk never changes its arithmetic: results are those of one thread.
 */
#define _DEFAULT_SOURCE /* syscall() */
#include "internal.h"

#include <limits.h>
#include <pthread.h>
#include <stdatomic.h>
#ifdef __linux__
#include <linux/futex.h>
#include <sys/syscall.h>
#include <unistd.h>
#endif
#include <sched.h>
#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#define cpu_relax() _mm_pause()
#elif defined(__aarch64__)
#define cpu_relax() __asm__ __volatile__("yield")
#else
#define cpu_relax() ((void)0)
#endif

#include <time.h>

/* Polls before a waiting thread sleeps: about 7 microseconds at the 27 ns a pause takes on
 * the AMD EPYC of docs/BENCHMARKS.md (5 at the 18 ns of the Zen 5 host). Long enough to
 * bridge the gap between two parallel loops of a training step, short enough that a thread
 * beside a busy process gives its core back soon. */
#define POOL_SPIN 256
/* Then polls between sched_yield calls for this long before sleeping: a thread that sleeps
 * leaves its processor idle, and on a virtual machine an idle processor may be halted, so
 * waking it costs the host a wake-up too. On the Zen 5 host of docs/BENCHMARKS.md, at times,
 * so much that at batch 1 the second thread ran few of the chunks ("Where the second thread
 * went": its share of the regions' work 0.55, 0.95 with this). Yielding gives the processor
 * to any other thread that wants it, so a busy process beside ours loses nothing. */
#define POOL_YIELD_NS 200000
/* A claim takes 1/(POOL_GUIDE x threads) of the units left, and no fewer than 1/(POOL_FINEST x
 * threads) of the range's units (nor than one). Measured on the Zen 5 host, ResNet-18 at 2
 * threads: equal chunks, 8 per thread, left the threads waiting 5.9% of a CIFAR training step;
 * 32 per thread, 4.7%, but cost the 224x224 batch-1 pass 2.7% in claims (docs/BENCHMARKS.md). */
#define POOL_GUIDE 2
#define POOL_FINEST 32
/* Units a range is counted in, at most: they fill 16 bits of the claim word. */
#define POOL_MAX_UNITS 0xffffL

/* How a range of n iterations is counted: `unit` iterations to a unit, `units` of them (at most
 * POOL_MAX_UNITS), and the fewest units a claim takes at `threads` threads. */
typedef struct pool_split {
    long unit;
    uint32_t units, least;
} pool_split;

static pool_split split_of(long n, int threads) {
    pool_split s;
    s.unit = (n + POOL_MAX_UNITS - 1) / POOL_MAX_UNITS;
    s.units = (uint32_t)((n + s.unit - 1) / s.unit);
    s.least = s.units / ((uint32_t)threads * POOL_FINEST);
    if (s.least < 1) s.least = 1;
    return s;
}

struct cnn_workers {
    int threads; /* the caller and threads-1 workers */
    pthread_t *tid;
    int started; /* workers created */
    /* The job (see the header comment). */
    _Atomic uint64_t claim;
    _Atomic(cnn_range_fn) fn;
    _Atomic(void *) arg;
    _Atomic long n;             /* iterations, counted in units as split_of says */
    _Atomic int job_threads;
    _Atomic int done;           /* units finished; the caller sleeps on it */
    _Atomic int caller_waiting; /* the caller sleeps on done: wake it */
    /* Workers sleep on bell, rung once per job; sleepers counts them. */
    _Atomic int bell, sleepers;
    _Atomic int stop;
    atomic_flag busy; /* a job runs: a nested call runs inline, as nested OpenMP did */
    /* Statistics (cnn_workers_set_stats): per thread, the time spent in chunks, each in its
     * own cache line; the caller reads them after a job's `done` count has covered them. */
    _Atomic int stats;
    struct {
        uint64_t ns;
        char pad[56];
    } *busy_ns;
    uint64_t regions, region_ns; /* the caller's */
};

uint64_t cnn_now_ns(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (uint64_t)t.tv_sec * 1000000000u + (uint64_t)t.tv_nsec;
}

typedef struct worker_start {
    cnn_workers *workers;
    int id;
} worker_start;

static void futex_wait(_Atomic int *addr, int expected) {
#ifdef __linux__
    syscall(SYS_futex, (int *)addr, FUTEX_WAIT_PRIVATE, expected, NULL, NULL, 0);
#else
    (void)addr, (void)expected;
    sched_yield();
#endif
}

static void futex_wake(_Atomic int *addr, int count) {
#ifdef __linux__
    syscall(SYS_futex, (int *)addr, FUTEX_WAKE_PRIVATE, count, NULL, NULL, 0);
#else
    (void)addr, (void)count;
#endif
}

/* Polls *addr while it holds `value` (poll_while) or until it holds `value` (poll_until):
 * POOL_SPIN pauses, then sched_yield calls for POOL_YIELD_NS. Returns the last value read. */
static int poll(_Atomic int *addr, int value, int until) {
    int v = atomic_load_explicit(addr, memory_order_acquire);
    for (int k = 0; (v == value) != until && k < POOL_SPIN; k++) {
        cpu_relax();
        v = atomic_load_explicit(addr, memory_order_acquire);
    }
    if ((v == value) == until) return v;
    uint64_t end = cnn_now_ns() + POOL_YIELD_NS;
    do {
        sched_yield();
        v = atomic_load_explicit(addr, memory_order_acquire);
    } while ((v == value) != until && cnn_now_ns() < end);
    return v;
}
static int poll_while(_Atomic int *addr, int value) { return poll(addr, value, 0); }
static int poll_until(_Atomic int *addr, int value) { return poll(addr, value, 1); }

/* Claims and runs chunks of the current job as worker `id` until none is left (or the job is
 * over, or being replaced). */
static void run_chunks(cnn_workers *p, int id) {
    uint64_t w = atomic_load_explicit(&p->claim, memory_order_acquire);
    for (;;) {
        uint32_t gen = (uint32_t)(w >> 32), front = (uint32_t)w & 0xffffu,
                 back = ((uint32_t)w >> 16) & 0xffffu;
        if (gen & 1) return; /* being written: the bell rings again when it is ready */
        cnn_range_fn fn = atomic_load_explicit(&p->fn, memory_order_relaxed);
        void *arg = atomic_load_explicit(&p->arg, memory_order_relaxed);
        long n = atomic_load_explicit(&p->n, memory_order_relaxed);
        int threads = atomic_load_explicit(&p->job_threads, memory_order_relaxed);
        atomic_thread_fence(memory_order_acquire);
        if (id >= threads) return;
        pool_split s = split_of(n, threads);
        uint32_t units = s.units;
        if (front + back >= units) return;
        uint32_t left = units - front - back, k = left / (POOL_GUIDE * (uint32_t)threads);
        if (k < s.least) k = s.least;
        if (k > left) k = left;
        /* The caller claims from the front, the workers from the back. Neither count passes
         * `units`, so neither addition carries into the field above it. */
        uint64_t next = id == 0 ? w + k : w + ((uint64_t)k << 16);
        if (!atomic_compare_exchange_weak_explicit(&p->claim, &w, next, memory_order_acq_rel,
                                                   memory_order_acquire))
            continue; /* w now holds the current word */
        uint32_t first = id == 0 ? front : units - back - k;
        long begin = (long)first * s.unit, end = (long)(first + k) * s.unit;
        if (end > n) end = n;
        if (atomic_load_explicit(&p->stats, memory_order_relaxed)) {
            uint64_t t0 = cnn_now_ns();
            fn(arg, begin, end, id);
            p->busy_ns[id].ns += cnn_now_ns() - t0;
        } else {
            fn(arg, begin, end, id);
        }
        w = next; /* the word as this claim left it: a guess, the swap checks it */
        if (atomic_fetch_add_explicit(&p->done, (int)k, memory_order_acq_rel) + (int)k ==
                (int)units &&
            atomic_load(&p->caller_waiting))
            futex_wake(&p->done, 1);
    }
}

static void *worker_main(void *arg) {
    worker_start *ws = arg;
    cnn_workers *p = ws->workers;
    int id = ws->id, seen = 0;
    cnn_free(ws);
    for (;;) {
        int b = poll_while(&p->bell, seen);
        if (b == seen) {
            atomic_fetch_add(&p->sleepers, 1);
            while ((b = atomic_load(&p->bell)) == seen) futex_wait(&p->bell, seen);
            atomic_fetch_sub(&p->sleepers, 1);
        }
        seen = b;
        if (atomic_load(&p->stop)) return NULL;
        run_chunks(p, id);
    }
}

cnn_workers *cnn_workers_new(int threads) {
    CNN_ASSERT(threads >= 2);
    cnn_workers *p = cnn_calloc(1, sizeof *p);
    if (!p) return NULL;
    p->threads = threads;
    atomic_flag_clear(&p->busy);
    p->tid = cnn_calloc((size_t)threads - 1, sizeof *p->tid);
    p->busy_ns = cnn_calloc((size_t)threads, sizeof *p->busy_ns);
    if (!p->tid || !p->busy_ns) {
        cnn_free(p->tid);
        cnn_free(p->busy_ns);
        cnn_free(p);
        return NULL;
    }
    for (int id = 1; id < threads; id++) {
        worker_start *ws = cnn_alloc(sizeof *ws);
        if (!ws) break;
        *ws = (worker_start){p, id};
        if (pthread_create(&p->tid[id - 1], NULL, worker_main, ws)) {
            cnn_free(ws);
            break;
        }
        p->started++;
    }
    if (p->started < threads - 1) {
        cnn_workers_free(p);
        return NULL;
    }
    return p;
}

void cnn_workers_free(cnn_workers *p) {
    if (!p) return;
    atomic_store(&p->stop, 1);
    atomic_fetch_add(&p->bell, 1);
    futex_wake(&p->bell, INT_MAX);
    for (int k = 0; k < p->started; k++) pthread_join(p->tid[k], NULL);
    cnn_free(p->tid);
    cnn_free(p->busy_ns);
    cnn_free(p);
}

void cnn_workers_set_stats(cnn_workers *p, int on) {
    if (!p) return;
    for (int k = 0; k < p->threads; k++) p->busy_ns[k].ns = 0;
    p->regions = p->region_ns = 0;
    /* Workers are between jobs: they read the flag only inside a job published later, whose
     * release fence orders this store before it. */
    atomic_store_explicit(&p->stats, on != 0, memory_order_relaxed);
}

void cnn_workers_stats(const cnn_workers *p, cnn_pool_stats *out) {
    *out = (cnn_pool_stats){0};
    if (!p) return;
    out->regions = p->regions;
    out->region_ns = p->region_ns;
    for (int k = 0; k < p->threads; k++) out->busy_ns += p->busy_ns[k].ns;
}

int cnn_workers_threads(const cnn_workers *p) { return p ? p->threads : 1; }

void cnn_parallel_for(cnn_workers *p, int threads, long n, cnn_range_fn fn, void *arg) {
    if (n <= 0) return;
    if (!p || threads > p->threads) threads = p ? p->threads : 1;
    if (threads <= 1 || n == 1 || atomic_flag_test_and_set(&p->busy)) {
        fn(arg, 0, n, 0);
        return;
    }
    int stats = atomic_load_explicit(&p->stats, memory_order_relaxed);
    uint64_t t0 = stats ? cnn_now_ns() : 0;
    int units = (int)split_of(n, threads).units;

    /* Publish: odd generation, fields, even generation; then ring. */
    uint64_t w = atomic_load_explicit(&p->claim, memory_order_relaxed);
    uint64_t gen = (w >> 32) & 0xffffffffu;
    atomic_store_explicit(&p->claim, ((gen + 1) & 0xffffffffu) << 32, memory_order_relaxed);
    atomic_thread_fence(memory_order_release);
    atomic_store_explicit(&p->fn, fn, memory_order_relaxed);
    atomic_store_explicit(&p->arg, arg, memory_order_relaxed);
    atomic_store_explicit(&p->n, n, memory_order_relaxed);
    atomic_store_explicit(&p->job_threads, threads, memory_order_relaxed);
    atomic_store_explicit(&p->done, 0, memory_order_relaxed);
    atomic_store_explicit(&p->claim, ((gen + 2) & 0xffffffffu) << 32, memory_order_release);
    atomic_fetch_add(&p->bell, 1);
    if (atomic_load(&p->sleepers)) futex_wake(&p->bell, INT_MAX);

    run_chunks(p, 0);

    /* Wait for the chunks the workers claimed. */
    int d = atomic_load_explicit(&p->done, memory_order_acquire);
    if (d != units) d = poll_until(&p->done, units);
    if (d != units) {
        atomic_store(&p->caller_waiting, 1);
        while ((d = atomic_load(&p->done)) != units) futex_wait(&p->done, d);
        atomic_store(&p->caller_waiting, 0);
    }
    if (stats) {
        p->regions++;
        p->region_ns += cnn_now_ns() - t0;
    }
    atomic_flag_clear(&p->busy);
}

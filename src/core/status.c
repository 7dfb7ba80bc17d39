/*
 * status.c - status names, error messages, logging, allocation and the assertion handler.
 */
#define _DEFAULT_SOURCE /* madvise, MADV_HUGEPAGE */
#include "internal.h"

#include <string.h>
#include <sys/mman.h>

/* Blocks of at least HUGE_ALLOC_MIN bytes (a network's activations, its scratch, its weights, a
 * dataset) start on a 2 MiB boundary and ask the kernel for transparent huge pages, which
 * Debian gives only on request (transparent_hugepage=madvise). On the Zen 5 host of
 * docs/BENCHMARKS.md the 1.2 GB of activations of ResNet-18 CIFAR training at batch 64 took
 * 3.4-4.5 s to clear in 4 KiB pages (a fault each, dear on that virtual machine), 0.6-1.3 s
 * in huge ones; fewer pages also means fewer TLB misses while training. Where huge pages are
 * unavailable the advice does nothing. */
#define HUGE_PAGE ((size_t)2 << 20)
#define HUGE_ALLOC_MIN ((size_t)4 << 20)

const char *cnn_status_str(cnn_status status) {
    switch (status) {
    case CNN_STATUS_OK: return "ok";
    case CNN_STATUS_INVALID_ARGUMENT: return "invalid argument";
    case CNN_STATUS_SHAPE: return "shape error";
    case CNN_STATUS_NO_MEMORY: return "out of memory";
    case CNN_STATUS_IO: return "i/o error";
    case CNN_STATUS_FORMAT: return "format error";
    case CNN_STATUS_STATE: return "invalid state";
    case CNN_STATUS_NUMERIC: return "numeric error";
    }
    return "unknown status";
}

const char *cnn_version(void) { return CNN_VERSION_STRING; }

static cnn_status verror(cnn_net *net, cnn_status status, const char *prefix, const char *fmt,
                         va_list ap) {
    if (!net) return status;
    size_t off = 0;
    if (prefix) {
        snprintf(net->err, sizeof net->err, "%s", prefix);
        off = strlen(net->err);
    }
    vsnprintf(net->err + off, sizeof net->err - off, fmt, ap);
    if (net->log) net->log(net->log_user, CNN_LOG_ERROR, net->err);
    return status;
}

cnn_status cnn_error(cnn_net *net, cnn_status status, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    verror(net, status, NULL, fmt, ap);
    va_end(ap);
    return status;
}

cnn_status cnn_node_error(cnn_net *net, const cnn_node *n, cnn_status status, const char *fmt,
                          ...) {
    char prefix[CNN_NAME_MAX + 48];
    snprintf(prefix, sizeof prefix, "%s '%s': ", n->type->name, n->name);
    va_list ap;
    va_start(ap, fmt);
    verror(net, status, prefix, fmt, ap);
    va_end(ap);
    return status;
}

cnn_status cnn_set_error(char *err, size_t errlen, cnn_status status, const char *fmt, ...) {
    if (err && errlen) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err, errlen, fmt, ap);
        va_end(ap);
    }
    return status;
}

void cnn_assert_fail(const char *cond, const char *file, int line) {
    fprintf(stderr, "cnn: internal error: assertion '%s' failed at %s:%d\n", cond, file, line);
    abort();
}

/* Allocations left before the one that fails (0: none fails). */
static long fail_countdown;

long cnn_fail_alloc_after(long n) {
    return __atomic_exchange_n(&fail_countdown, n > 0 ? n : 0, __ATOMIC_SEQ_CST);
}

/* Whether this allocation is the one the test hook fails. */
static int injected_failure(void) {
    long left = __atomic_load_n(&fail_countdown, __ATOMIC_SEQ_CST);
    while (left > 0)
        if (__atomic_compare_exchange_n(&fail_countdown, &left, left - 1, 0, __ATOMIC_SEQ_CST,
                                        __ATOMIC_SEQ_CST))
            return left == 1;
    return 0;
}

void *cnn_alloc(size_t bytes) {
    if (injected_failure()) return NULL;
    if (bytes == 0) bytes = 1;
    size_t rounded = (bytes + CNN_ALIGN - 1) / CNN_ALIGN * CNN_ALIGN;
    if (rounded < bytes) return NULL;
    if (rounded < HUGE_ALLOC_MIN) return aligned_alloc(CNN_ALIGN, rounded);
    size_t whole = (rounded + HUGE_PAGE - 1) / HUGE_PAGE * HUGE_PAGE;
    if (whole < rounded) return NULL;
    void *p = aligned_alloc(HUGE_PAGE, whole);
#ifdef MADV_HUGEPAGE
    if (p) madvise(p, whole, MADV_HUGEPAGE); /* advice: a failure changes nothing */
#endif
    return p;
}

void *cnn_calloc(size_t count, size_t size) {
    if (size && count > SIZE_MAX / size) return NULL;
    size_t bytes = count * size;
    void *p = cnn_alloc(bytes);
    if (p && bytes) memset(p, 0, bytes);
    return p;
}

void *cnn_realloc(void *p, size_t bytes) {
    if (injected_failure()) return NULL;
    return realloc(p, bytes ? bytes : 1);
}

void cnn_free(void *p) { free(p); }

size_t cnn_shape_numel(const cnn_shape *shape) {
    size_t n = 1;
    for (int i = 0; i < shape->rank; i++) n *= (size_t)shape->dim[i];
    return n;
}

int cnn_shape_same(const cnn_shape *a, const cnn_shape *b) {
    if (a->rank != b->rank) return 0;
    for (int d = 0; d < a->rank; d++)
        if (a->dim[d] != b->dim[d]) return 0;
    return 1;
}

char *cnn_shape_str(const cnn_shape *shape, char *buf, size_t size) {
    if (!size) return buf;
    buf[0] = 0;
    size_t off = 0;
    for (int i = 0; i < shape->rank && off < size; i++) {
        int k = snprintf(buf + off, size - off, i ? "x%d" : "%d", shape->dim[i]);
        if (k < 0) break;
        off += (size_t)k;
    }
    return buf;
}

/*
 * isa.c - which instruction sets the kernels use. Detected once from the CPU; a test lowers it
 * (cnn_isa_set) to run the baseline code of every dispatched function on a host that has more,
 * so that each path is checked on every host. See CNN_DISPATCH in internal.h.
 */
#include "internal.h"

#include <stdatomic.h>

static int detect(void) {
#if defined(__GNUC__) && defined(__x86_64__)
    /* What the CPU model code found at start-up: cheap, and safe from any thread. */
    if (!__builtin_cpu_supports("avx2") || !__builtin_cpu_supports("fma")) return CNN_ISA_BASELINE;
#if !defined(__clang__) /* clang 14 knows neither name here */
    /* The 8-bit dot products on 256-bit vectors: AVX-VNNI's VEX form, or AVX-512's with VL. */
    if (__builtin_cpu_supports("avxvnni") ||
        (__builtin_cpu_supports("avx512vnni") && __builtin_cpu_supports("avx512vl")))
        return CNN_ISA_VNNI;
#endif
    return CNN_ISA_AVX2;
#endif
    return CNN_ISA_BASELINE;
}

/* -1 until first asked. */
static _Atomic int level = -1;

int cnn_isa_detected(void) { return detect(); }

int cnn_isa(void) {
    int l = atomic_load_explicit(&level, memory_order_relaxed);
    if (l < 0) {
        l = detect();
        atomic_store_explicit(&level, l, memory_order_relaxed);
    }
    return l;
}

int cnn_isa_set(int isa) {
    int d = detect();
    int l = isa < CNN_ISA_BASELINE ? CNN_ISA_BASELINE : isa > d ? d : isa;
    atomic_store_explicit(&level, l, memory_order_relaxed);
    return l;
}

/*
 * isa.c - which instruction sets the kernels use. Detected once from the CPU; a test lowers it
 * (cnn_isa_set) to run the baseline code of every dispatched function on a host that has more,
 * so that each path is checked on every host. See CNN_DISPATCH in internal.h.
 */
#include "internal.h"
#include "../kernels/gemm.h" /* cnn_sgemm512_available */

#include <stdatomic.h>
#include <string.h>

static int detect(void) {
#if defined(__GNUC__) && defined(__x86_64__)
    /* What the CPU model code found at start-up: cheap, and safe from any thread. */
    if (!__builtin_cpu_supports("avx2") || !__builtin_cpu_supports("fma")) return CNN_ISA_BASELINE;
#if !defined(__clang__) /* clang 14 knows neither name here */
    /* The 8-bit dot products on 256-bit vectors: AVX-VNNI's VEX form, or AVX-512's with VL. */
    int avx512 = __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
                 __builtin_cpu_supports("avx512dq") && __builtin_cpu_supports("avx512vl");
    if (avx512 && __builtin_cpu_supports("avx512vnni") && cnn_sgemm512_available())
        return CNN_ISA_AVX512;
    if (__builtin_cpu_supports("avxvnni") || (avx512 && __builtin_cpu_supports("avx512vnni")))
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

static const char *const names[] = {"baseline", "avx2", "vnni", "avx512"};

const char *cnn_isa_name(int isa) {
    return isa >= CNN_ISA_BASELINE && isa <= CNN_ISA_TOP ? names[isa] : "?";
}

int cnn_isa_parse(const char *name) {
    for (int i = CNN_ISA_BASELINE; i <= CNN_ISA_TOP; i++)
        if (strcmp(name, names[i]) == 0) return i;
    return -1;
}

const char *cnn_isa_cpu(void) { return cnn_isa_name(cnn_isa_detected()); }

const char *cnn_isa_in_force(void) { return cnn_isa_name(cnn_isa()); }

cnn_status cnn_isa_limit(const char *name) {
    int isa = name ? cnn_isa_parse(name) : -1;
    if (isa < 0) return CNN_STATUS_INVALID_ARGUMENT;
    cnn_isa_set(isa);
    return CNN_STATUS_OK;
}

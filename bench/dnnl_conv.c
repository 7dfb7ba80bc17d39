/*
 * dnnl_conv - the oneDNN side of benchmark workload 4 (bench/run.sh drives it): one 3x3
 * convolution, 64 -> 64 channels on 56x56, padding 1, stride 1, no bias, batch 1 and 8, in
 * float32 through oneDNN's C API (Debian's libdnnl-dev, oneDNN 2.x, OpenMP runtime).
 *
 *   build/bench/dnnl_conv [--threads T] [--runs R] [--conv-seconds S] [--layout nchw|blocked]
 *
 *   forward          one forward_inference convolution primitive, GFLOP/s
 *   forward+backward forward_training, then backward data (input gradient) and backward
 *                    weights (weight gradient), GFLOP/s over the three
 * FLOPs: 2*N*OC*OH*OW*IC*KH*KW per forward, 3x that for forward + backward.
 *
 * --layout nchw: activations nchw, weights oihw (the layout cnn and PyTorch's default use).
 * --layout blocked: every tensor in the layout the primitive prefers (format "any"; on AVX2
 * typically 8-channel blocks, aBcd8b), each primitive with its own preferred layouts; the
 * reorders a network would need between them are not timed, so this is oneDNN's best case.
 *
 * Algorithm: dnnl_convolution_auto. Threads: omp_set_num_threads(T) before anything is created.
 * Timing as bench/cnn_bench.c: warm-up for at least 2 calls and S/2 seconds, which sets how many
 * calls fill S seconds; R repetitions of that many calls; the median. Prints, per case,
 *   INFO dnnl conv-b1-fwd: fwd jit:avx2 src aBcd8b wei ABcd8a8b dst aBcd8b
 *   RESULT workload=conv-b1-fwd framework=dnnl threads=1 layout=blocked value=V unit=GFLOP/s reps=...
 * Any failure prints the call that failed and oneDNN's status, and exits 1.
 */
#define _POSIX_C_SOURCE 200809L
#include <dnnl.h>
#include <dnnl_debug.h>
#include <math.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "timing.h"

#define MAX_RUNS 1000

#define DN(call)                                                                               \
    do {                                                                                       \
        dnnl_status_t s_ = (call);                                                             \
        if (s_ != dnnl_success) {                                                              \
            fprintf(stderr, "dnnl_conv: %s failed: %s (line %d)\n", #call, dnnl_status2str(s_), \
                    __LINE__);                                                                 \
            exit(1);                                                                           \
        }                                                                                      \
    } while (0)


static dnnl_engine_t engine;
static dnnl_stream_t stream;

/* A blocked layout in oneDNN's letter notation: dimensions from outermost (largest stride)
 * to innermost, a capital letter for a blocked dimension, then the inner blocks ("aBcd8b"). */
static void fmt_str(const dnnl_memory_desc_t *md, char *buf, size_t size) {
    if (md->format_kind != dnnl_blocked) {
        snprintf(buf, size, "%s", dnnl_fmt_kind2str(md->format_kind));
        return;
    }
    const dnnl_blocking_desc_t *b = &md->format_desc.blocking;
    int order[DNNL_MAX_NDIMS], nd = md->ndims, blocked[DNNL_MAX_NDIMS] = {0};
    for (int i = 0; i < nd; i++) order[i] = i;
    for (int i = 0; i < nd; i++) /* stable sort by decreasing stride */
        for (int j = i + 1; j < nd; j++)
            if (b->strides[order[j]] > b->strides[order[i]]) {
                int t = order[i];
                order[i] = order[j];
                order[j] = t;
            }
    for (int k = 0; k < b->inner_nblks; k++) blocked[b->inner_idxs[k]] = 1;
    size_t len = 0;
    for (int i = 0; i < nd && len + 1 < size; i++)
        buf[len++] = (char)((blocked[order[i]] ? 'A' : 'a') + order[i]);
    buf[len] = '\0';
    for (int k = 0; k < b->inner_nblks && len + 1 < size; k++) {
        int w = snprintf(buf + len, size - len, "%lld%c", (long long)b->inner_blks[k],
                         'a' + (int)b->inner_idxs[k]);
        if (w < 0 || (size_t)w >= size - len) break;
        len += (size_t)w;
    }
}

static const dnnl_memory_desc_t *query_md(const_dnnl_primitive_desc_t pd, dnnl_query_t what) {
    const dnnl_memory_desc_t *md = dnnl_primitive_desc_query_md(pd, what, 0);
    if (!md) {
        fprintf(stderr, "dnnl_conv: primitive descriptor has no memory descriptor %d\n", (int)what);
        exit(1);
    }
    return md;
}

/* A memory object for md filled with random values in [-1, 1). */
static dnnl_memory_t random_memory(const dnnl_memory_desc_t *md, unsigned *seed) {
    dnnl_memory_t m;
    void *p;
    DN(dnnl_memory_create(&m, md, engine, DNNL_MEMORY_ALLOCATE));
    DN(dnnl_memory_get_data_handle(m, &p));
    size_t n = dnnl_memory_desc_get_size(md) / sizeof(float);
    float *f = p;
    for (size_t i = 0; i < n; i++) {
        *seed = *seed * 1103515245u + 12345u;
        f[i] = (float)((*seed >> 8) & 0xFFFF) / 32768.0f - 1.0f;
    }
    return m;
}

static const char *impl(const_dnnl_primitive_desc_t pd) {
    const char *s = NULL;
    DN(dnnl_primitive_desc_query(pd, dnnl_query_impl_info_str, 0, &s));
    return s ? s : "?";
}

typedef struct step {
    dnnl_primitive_t prim;
    int nargs;
    dnnl_exec_arg_t args[4];
} step;

static void run_steps(const step *s, int n) {
    for (int i = 0; i < n; i++) DN(dnnl_primitive_execute(s[i].prim, stream, s[i].nargs, s[i].args));
    DN(dnnl_stream_wait(stream));
}

int main(int argc, char **argv) {
    int threads = 1, runs = 3, blocked = 0;
    double conv_seconds = 0.3;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        char *end = NULL;
        if (!v) goto usage;
        if (!strcmp(a, "--threads")) threads = (int)strtol(v, &end, 10);
        else if (!strcmp(a, "--runs")) runs = (int)strtol(v, &end, 10);
        else if (!strcmp(a, "--conv-seconds")) conv_seconds = strtod(v, &end);
        else if (!strcmp(a, "--layout")) {
            if (!strcmp(v, "nchw")) blocked = 0;
            else if (!strcmp(v, "blocked")) blocked = 1;
            else goto usage;
            i++;
            continue;
        } else goto usage;
        if (*v == '\0' || *end != '\0') goto usage;
        i++;
    }
    if (threads < 1 || threads > 256 || runs < 1 || runs > MAX_RUNS ||
        !(conv_seconds > 0 && conv_seconds < 3600))
        goto usage;

    omp_set_num_threads(threads);
    DN(dnnl_engine_create(&engine, dnnl_cpu, 0));
    DN(dnnl_stream_create(&stream, engine, dnnl_stream_default_flags));

    const int C = 64, H = 56, W = 56, K = 3;
    static const int batches[2] = {1, 8};
    unsigned seed = 1;
    for (int bi = 0; bi < 2; bi++) {
        int n = batches[bi];
        dnnl_dims_t xd = {n, C, H, W}, wd = {C, C, K, K};
        dnnl_dims_t strides = {1, 1}, pad = {1, 1};
        dnnl_memory_desc_t x_md, w_md, y_md;
        dnnl_format_tag_t act = blocked ? dnnl_format_tag_any : dnnl_nchw;
        dnnl_format_tag_t wt = blocked ? dnnl_format_tag_any : dnnl_oihw;
        DN(dnnl_memory_desc_init_by_tag(&x_md, 4, xd, dnnl_f32, act));
        DN(dnnl_memory_desc_init_by_tag(&w_md, 4, wd, dnnl_f32, wt));
        DN(dnnl_memory_desc_init_by_tag(&y_md, 4, xd, dnnl_f32, act));

        for (int backward = 0; backward < 2; backward++) {
            step steps[3];
            int nsteps = 0;
            dnnl_primitive_desc_t pds[3];
            dnnl_memory_t mems[9];
            int nmems = 0;
            char info[512], f1[32], f2[32], f3[32];
            size_t il = 0;

            /* forward */
            dnnl_convolution_desc_t fd;
            DN(dnnl_convolution_forward_desc_init(
                &fd, backward ? dnnl_forward_training : dnnl_forward_inference,
                dnnl_convolution_auto, &x_md, &w_md, NULL, &y_md, strides, pad, pad));
            DN(dnnl_primitive_desc_create(&pds[0], &fd, NULL, engine, NULL));
            const dnnl_memory_desc_t *fx = query_md(pds[0], dnnl_query_src_md);
            const dnnl_memory_desc_t *fw = query_md(pds[0], dnnl_query_weights_md);
            const dnnl_memory_desc_t *fy = query_md(pds[0], dnnl_query_dst_md);
            step *s = &steps[nsteps++];
            DN(dnnl_primitive_create(&s->prim, pds[0]));
            s->nargs = 3;
            s->args[0] = (dnnl_exec_arg_t){DNNL_ARG_SRC, mems[nmems++] = random_memory(fx, &seed)};
            s->args[1] = (dnnl_exec_arg_t){DNNL_ARG_WEIGHTS, mems[nmems++] = random_memory(fw, &seed)};
            s->args[2] = (dnnl_exec_arg_t){DNNL_ARG_DST, mems[nmems++] = random_memory(fy, &seed)};
            fmt_str(fx, f1, sizeof f1);
            fmt_str(fw, f2, sizeof f2);
            fmt_str(fy, f3, sizeof f3);
            il += (size_t)snprintf(info + il, sizeof info - il, "fwd %s src %s wei %s dst %s",
                                   impl(pds[0]), f1, f2, f3);

            if (backward) {
                /* input gradient */
                dnnl_convolution_desc_t bd;
                DN(dnnl_convolution_backward_data_desc_init(&bd, dnnl_convolution_auto, &x_md,
                                                            &w_md, &y_md, strides, pad, pad));
                DN(dnnl_primitive_desc_create(&pds[1], &bd, NULL, engine, pds[0]));
                const dnnl_memory_desc_t *dx = query_md(pds[1], dnnl_query_diff_src_md);
                const dnnl_memory_desc_t *bw = query_md(pds[1], dnnl_query_weights_md);
                const dnnl_memory_desc_t *dy = query_md(pds[1], dnnl_query_diff_dst_md);
                s = &steps[nsteps++];
                DN(dnnl_primitive_create(&s->prim, pds[1]));
                s->nargs = 3;
                s->args[0] = (dnnl_exec_arg_t){DNNL_ARG_DIFF_DST, mems[nmems++] = random_memory(dy, &seed)};
                s->args[1] = (dnnl_exec_arg_t){DNNL_ARG_WEIGHTS, mems[nmems++] = random_memory(bw, &seed)};
                s->args[2] = (dnnl_exec_arg_t){DNNL_ARG_DIFF_SRC, mems[nmems++] = random_memory(dx, &seed)};
                fmt_str(dy, f1, sizeof f1);
                fmt_str(bw, f2, sizeof f2);
                fmt_str(dx, f3, sizeof f3);
                il += (size_t)snprintf(info + il, sizeof info - il,
                                       "; bwd-data %s diff_dst %s wei %s diff_src %s", impl(pds[1]),
                                       f1, f2, f3);

                /* weight gradient */
                dnnl_convolution_desc_t wdsc;
                DN(dnnl_convolution_backward_weights_desc_init(&wdsc, dnnl_convolution_auto, &x_md,
                                                               &w_md, NULL, &y_md, strides, pad,
                                                               pad));
                DN(dnnl_primitive_desc_create(&pds[2], &wdsc, NULL, engine, pds[0]));
                const dnnl_memory_desc_t *wx = query_md(pds[2], dnnl_query_src_md);
                const dnnl_memory_desc_t *dw = query_md(pds[2], dnnl_query_diff_weights_md);
                const dnnl_memory_desc_t *wy = query_md(pds[2], dnnl_query_diff_dst_md);
                s = &steps[nsteps++];
                DN(dnnl_primitive_create(&s->prim, pds[2]));
                s->nargs = 3;
                s->args[0] = (dnnl_exec_arg_t){DNNL_ARG_SRC, mems[nmems++] = random_memory(wx, &seed)};
                s->args[1] = (dnnl_exec_arg_t){DNNL_ARG_DIFF_DST, mems[nmems++] = random_memory(wy, &seed)};
                s->args[2] = (dnnl_exec_arg_t){DNNL_ARG_DIFF_WEIGHTS, mems[nmems++] = random_memory(dw, &seed)};
                fmt_str(wx, f1, sizeof f1);
                fmt_str(wy, f2, sizeof f2);
                fmt_str(dw, f3, sizeof f3);
                snprintf(info + il, sizeof info - il, "; bwd-weights %s src %s diff_dst %s diff_wei %s",
                         impl(pds[2]), f1, f2, f3);
            }

            char name[64];
            snprintf(name, sizeof name, "conv-b%d-%s", n, backward ? "fwdbwd" : "fwd");
            printf("INFO dnnl %s threads=%d layout=%s: %s\n", name, threads,
                   blocked ? "blocked" : "nchw", info);

            double flops = 2.0 * n * C * H * W * C * K * K * (backward ? 3 : 1);
            int calls = 0;
            double t0 = now(), el;
            do {
                run_steps(steps, nsteps);
                calls++;
                el = now() - t0;
            } while (calls < 2 || el < conv_seconds / 2);
            int per = (int)ceil(conv_seconds / (el / calls));
            if (per < 1) per = 1;
            double reps[MAX_RUNS], v[MAX_RUNS];
            for (int r = 0; r < runs; r++) {
                t0 = now();
                for (int i = 0; i < per; i++) run_steps(steps, nsteps);
                reps[r] = flops * per / (now() - t0) / 1e9;
            }
            /* a finite result: the first output element of the last primitive */
            void *p;
            DN(dnnl_memory_get_data_handle(steps[nsteps - 1].args[2].memory, &p));
            if (!isfinite(*(float *)p)) {
                fprintf(stderr, "dnnl_conv: %s: result not finite\n", name);
                return 1;
            }
            memcpy(v, reps, sizeof(double) * (size_t)runs);
            printf("RESULT workload=%s framework=dnnl threads=%d layout=%s value=%.4g unit=GFLOP/s "
                   "reps=", name, threads, blocked ? "blocked" : "nchw", median(v, runs));
            for (int r = 0; r < runs; r++) printf("%s%.4g", r ? "," : "", reps[r]);
            printf("\n");
            fflush(stdout);

            for (int i = 0; i < nsteps; i++) {
                DN(dnnl_primitive_destroy(steps[i].prim));
                DN(dnnl_primitive_desc_destroy(pds[i]));
            }
            for (int i = 0; i < nmems; i++) DN(dnnl_memory_destroy(mems[i]));
        }
    }
    DN(dnnl_stream_destroy(stream));
    DN(dnnl_engine_destroy(engine));
    return 0;

usage:
    fprintf(stderr, "usage: dnnl_conv [--threads T] [--runs R] [--conv-seconds S] "
                    "[--layout nchw|blocked]\n");
    return 2;
}

/*
 * internal.h - what the library's files share and users never see: the network and layer
 * structures, the layer-type interface, hyper-parameter descriptors, the random generator and
 * the error helpers.
 *
 * Shape letters used throughout: N batch, C channels, H height, W width, L length (1-D),
 * OC output channels, KH/KW kernel height/width, G groups.
 */
#ifndef CNN_INTERNAL_H
#define CNN_INTERNAL_H

#include "cnn.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CNN_MAX_INPUTS 8
#define CNN_NAME_MAX 64
#define CNN_ALIGN 64

/* Invariant checks stay on in release builds: a broken invariant is a bug, not bad input. */
#define CNN_ASSERT(cond)                                                                       \
    do {                                                                                       \
        if (!(cond)) cnn_assert_fail(#cond, __FILE__, __LINE__);                               \
    } while (0)
_Noreturn void cnn_assert_fail(const char *cond, const char *file, int line);

/* The instruction sets the kernels may use (src/core/isa.c): detected from the CPU at the first
 * call; cnn_isa_set lowers it (never above what the CPU has) so that a test runs the baseline
 * code on any host (or the AVX2 code on a VNNI host), and returns the level now in force. Set
 * it before preparing networks: the direct convolution kernels need AVX2, and a network's
 * scratch is planned for the paths its shapes take at prepare time. Each level has what the one
 * below it has. */
enum {
    CNN_ISA_BASELINE,
    CNN_ISA_AVX2,  /* x86-64-v3: AVX2 and FMA */
    CNN_ISA_VNNI,  /* AVX2 and the 8-bit dot products (AVX-VNNI, or AVX-512 VNNI with VL) */
    CNN_ISA_AVX512 /* AVX-512 F, BW, DQ, VL and VNNI (Ice Lake, Zen 4 and later): the float
                      products of sgemm512.c instead of OpenBLAS */
};
#define CNN_ISA_TOP CNN_ISA_AVX512
int cnn_isa(void);
int cnn_isa_detected(void);
int cnn_isa_set(int isa);
/* "baseline", "avx2", "vnni", "avx512"; -1 for another name. */
const char *cnn_isa_name(int isa);
int cnn_isa_parse(const char *name);

/* A loop-heavy function compiled twice, for x86-64-v3 (AVX2 and FMA: 8 floats a vector) and for
 * the baseline, cnn_isa() choosing at each call. Write the body once as
 *     static inline CNN_BODY void name_body(params) { ... }
 * and then CNN_DISPATCH(name, (params), (args)) defines `static void name(params)`. The
 * library is built with -std=c11, where GCC does not contract a * b + c into a fused
 * multiply-add, so both give the same bits (test_kernels checks it path by path). */
#if defined(__GNUC__) && !defined(__clang__) && defined(__x86_64__)
#define CNN_BODY __attribute__((always_inline))
#define CNN_DISPATCH(name, params, args)                                                      \
    __attribute__((target("arch=x86-64-v3"))) static void name##_v3 params { name##_body args; } \
    static void name##_base params { name##_body args; }                                        \
    static void name params {                                                                 \
        if (cnn_isa() >= CNN_ISA_AVX2)                                                        \
            name##_v3 args;                                                                   \
        else                                                                                  \
            name##_base args;                                                                 \
    }
#else
#define CNN_BODY
#define CNN_DISPATCH(name, params, args)                                                      \
    static void name params { name##_body args; }
#endif

/* dst[0 .. n) = x[a .. a+n), `fill` where a + j is outside x[0 .. len): one row of a padded
 * copy (the kernels' zero padding, max pooling's -inf). */
static inline void cnn_padded_copy(float *restrict dst, const float *restrict x, long long len,
                                   long long a, int n, float fill) {
    long long j0 = a < 0 ? -a : 0, j1 = len - a;
    if (j1 > n) j1 = n;
    if (j0 > j1) j0 = j1;
    for (long long j = 0; j < j0; j++) dst[j] = fill;
    if (j1 > j0) memcpy(dst + j0, x + a + j0, (size_t)(j1 - j0) * sizeof *dst);
    for (long long j = j1; j < n; j++) dst[j] = fill;
}

/* ---------------------------------------------------------------------------------------------
 * Random numbers: xoshiro256** seeded by splitmix64. Owned by a network, never global.
 * ------------------------------------------------------------------------------------------- */

typedef struct cnn_rng {
    uint64_t s[4];
} cnn_rng;

void cnn_rng_seed(cnn_rng *rng, uint64_t seed);
uint64_t cnn_rng_u64(cnn_rng *rng);
float cnn_rng_uniform(cnn_rng *rng);              /* [0, 1) with 24 random bits */
float cnn_rng_normal(cnn_rng *rng);               /* standard normal (Box-Muller) */
uint32_t cnn_rng_below(cnn_rng *rng, uint32_t n); /* uniform integer in [0, n) */
double cnn_rng_beta(cnn_rng *rng, double a, double b); /* Beta(a, b), a, b > 0 */

/* ---------------------------------------------------------------------------------------------
 * Hyper-parameter descriptors. Each layer type describes the fields of its private parameter
 * struct once; parsing "key=value" arguments, printing them back, defaults and help texts all
 * come from that one table.
 * ------------------------------------------------------------------------------------------- */

typedef enum cnn_field_kind {
    CNN_FIELD_INT,   /* int */
    CNN_FIELD_INT2,  /* int[2] (height, width): "3" or "3x2" */
    CNN_FIELD_FLOAT, /* float */
    CNN_FIELD_BOOL,  /* int 0/1: "0", "1", "true", "false" */
    CNN_FIELD_ENUM,  /* int: index into choices */
    CNN_FIELD_PAD,   /* cnn_pad: "valid", "same", "causal", "1", "1x2" or "1:2x0:1" */
    CNN_FIELD_SHAPE  /* cnn_shape: "1x28x28" */
} cnn_field_kind;

typedef struct cnn_field {
    const char *key;
    cnn_field_kind kind;
    size_t offset;
    const char *def;              /* default as text; NULL: the key is required */
    const char *const *choices;   /* CNN_FIELD_ENUM: NULL-terminated names */
    const char *doc;
} cnn_field;

enum { CNN_PAD_EXPLICIT, CNN_PAD_VALID, CNN_PAD_SAME, CNN_PAD_CAUSAL };

/* CNN_PAD_EXPLICIT: zeros before and after each axis, written per axis "P" (both sides) or
 * "B:A" (before:after), rows then columns ("1", "1x2", "1:2x0:1"); a 1-D layer reads one axis
 * (left, right). */
typedef struct cnn_pad {
    int mode;
    int top, bottom, left, right;
} cnn_pad;

/* Parses args into p, applying defaults first. On error returns CNN_STATUS_INVALID_ARGUMENT,
 * writes a message to err and the 0-based column in args of the offending word to *col. */
cnn_status cnn_fields_parse(const cnn_field *fields, void *p, const char *args, char *err,
                            size_t errlen, int *col);
/* Writes the fields as "key=value" separated by spaces (all of them, or with skip_defaults only
 * those whose value differs from the default); returns the length needed. */
int cnn_fields_print(const cnn_field *fields, const void *p, char *buf, size_t size,
                     int skip_defaults);
/* Writes a help text for the fields; returns the length needed. */
int cnn_fields_doc(const cnn_field *fields, char *buf, size_t size);

/* Initialisation schemes, shared by every layer with weights. */
enum {
    CNN_INIT_HE_NORMAL,
    CNN_INIT_HE_UNIFORM,
    CNN_INIT_XAVIER_NORMAL,
    CNN_INIT_XAVIER_UNIFORM,
    CNN_INIT_TORCH_DEFAULT
};
extern const char *const cnn_init_names[];
/* Fills w[0..n) by the scheme for the given fans. */
void cnn_init_weights(float *w, size_t n, int scheme, int fan_in, int fan_out, cnn_rng *rng);

/* ---------------------------------------------------------------------------------------------
 * Layers and the network
 * ------------------------------------------------------------------------------------------- */

typedef struct cnn_node cnn_node;
typedef struct cnn_ctx cnn_ctx;

/* ---------------------------------------------------------------------------------------------
 * Threads (src/core/workers.c): a pool per network, threads-1 workers plus the calling thread.
 * ------------------------------------------------------------------------------------------- */

typedef struct cnn_workers cnn_workers;

/* Scratch a layer needs during a call (its type's work_bytes): `shared` bytes that any thread
 * may use, and `each` bytes that thread w alone uses (cnn_thread_work). A network keeps each
 * thread's part at the same address for all its layers, apart from the others' by whole
 * pages, so that what a thread writes there stays in its core's cache from layer to layer:
 * one buffer cut anew by each layer had each thread write, in one layer, lines that the other
 * wrote in the last, and on a host whose two cores are far apart every such line moved
 * between them (docs/BENCHMARKS.md, "Where the second thread went": an 8-bit ResNet-18 at
 * batch 1 was no faster at 2 threads than at 1). */
typedef struct cnn_work {
    size_t shared, each;
} cnn_work;
/* The larger of a and b, field by field: for a call that takes one of two paths. */
static inline cnn_work cnn_work_max(cnn_work a, cnn_work b) {
    return (cnn_work){a.shared > b.shared ? a.shared : b.shared,
                      a.each > b.each ? a.each : b.each};
}
/* Runs iterations [begin, end) of a loop; worker, in [0, threads), is the thread running
 * them: an index into per-thread scratch (the caller is worker 0). */
typedef void (*cnn_range_fn)(void *arg, long begin, long end, int worker);

/* A pool of threads-1 (>= 1) worker threads; NULL when memory or threads run out. */
cnn_workers *cnn_workers_new(int threads);
void cnn_workers_free(cnn_workers *pool);
/* Calls fn over [0, n) in chunks claimed by the calling thread and up to threads-1 of the
 * pool's workers, and returns when all are done. Chunks shrink as the range runs out (large
 * first claims, small last ones: workers.c). The caller claims chunks from the front of
 * the range, the workers from the back, until they meet: with two threads, loops laid out in
 * the same order (the rows of a map, layer after layer) give each thread about the same part
 * each time, so what it wrote is in its own cache when it reads it. Where they meet depends
 * on the threads' pace, so any iteration may run on any worker: each iteration's arithmetic
 * must not depend on which, nor on how the range was cut (per-thread scratch is indexed by
 * worker). With pool NULL,
 * threads <= 1, n == 1, or from inside a running fn (nested, as nested OpenMP regions were),
 * fn(arg, 0, n, 0) runs on the calling thread with no synchronisation at all. */
void cnn_parallel_for(cnn_workers *pool, int threads, long n, cnn_range_fn fn, void *arg);
/* What a pool measures while its statistics are on (cnn_workers_set_stats), for the profiler:
 * regions are calls of cnn_parallel_for that shared work between threads; region_ns their wall
 * time on the calling thread; busy_ns the time all threads spent running their chunks. Work
 * that runs inline (one thread, one iteration, nested calls) is not a region. */
typedef struct cnn_pool_stats {
    uint64_t regions, region_ns, busy_ns;
} cnn_pool_stats;
/* Turns the statistics on (clearing them) or off. Costs two clock readings per chunk while
 * on, nothing while off. Call from the thread that calls cnn_parallel_for, between calls. */
void cnn_workers_set_stats(cnn_workers *pool, int on);
/* The statistics so far (zeros for a NULL pool). Same thread as cnn_parallel_for. */
void cnn_workers_stats(const cnn_workers *pool, cnn_pool_stats *out);
/* CLOCK_MONOTONIC in nanoseconds. */
uint64_t cnn_now_ns(void);
/* The network's pool for its thread count, started by cnn_net_prepare (which reports a failure
 * to start it); NULL for one thread or before prepare, when work runs on the calling thread. */
cnn_workers *cnn_net_workers(cnn_net *net);

/* One layer type: its hyper-parameters and its operations. Every function receives the node,
 * whose params point to the parsed hyper-parameter struct. */
typedef struct cnn_layer_type {
    const char *name;
    const char *doc;
    size_t params_size;
    const cnn_field *fields; /* terminated by an entry with key NULL */
    int min_inputs, max_inputs;
    /* Checks hyper-parameters against the input shapes; sets n->shape, n->n_params and
     * n->n_state. Reports errors with cnn_node_error. */
    cnn_status (*setup)(cnn_net *net, cnn_node *n);
    /* Initialises parameters w[0..n_params) and state s[0..n_state). NULL: nothing to do. */
    void (*init)(cnn_node *n, float *w, float *s, cnn_rng *rng);
    /* Bytes this layer keeps from forward to backward for a batch (e.g. pooling indices).
     * NULL: none. */
    size_t (*saved_bytes)(const cnn_node *n, int batch);
    /* Scratch needed during one forward or backward call (cnn_work), reused by all layers.
     * NULL: none. */
    cnn_work (*work_bytes)(const cnn_node *n, int batch);
    /* Checks this pass's input values that shapes cannot vouch for (indices given by the
     * caller) before forward; an error names the layer and the value. NULL: nothing. */
    cnn_status (*check)(cnn_net *net, const cnn_node *n, int batch);
    void (*forward)(cnn_node *n, const cnn_ctx *c);
    /* Adds into the input gradients (in[i]->dy) and the parameter gradients (dw); with
     * writes_fresh set, writes (=) instead the input gradients whose bit is set in c->fresh. */
    void (*backward)(cnn_node *n, const cnn_ctx *c);
    /* Whether backward honours c->fresh; for the other layers the graph clears a fresh input
     * gradient before their backward. */
    int writes_fresh;
    /* Training passes need the whole batch at once: the layer computes statistics over the
     * batch (batch norm) or draws from the network's one random stream in order (dropout).
     * The trainer's micro-batches (cnn_train_config.micro_batch) cannot split such a network. */
    int whole_batch;
    /* Multiply-adds of one sample's forward pass. NULL: counted as 0. */
    uint64_t (*macs)(const cnn_node *n);
    /* Describes the layer's tensors (cnn_net_param_tensor, src/params.c): fills name, role,
     * rank and dims of each into t (room for CNN_LAYER_MAX_TENSORS) and returns how many, in
     * the order they lie in the layer's slices: its trainable tensors, in PyTorch's
     * parameters() order, fill n_params, and its state tensors fill n_state. NULL: the layer
     * has neither parameters nor state. */
    int (*tensors)(const cnn_node *n, cnn_param_tensor *t);
    /* Inference fusion (cnn_net_fuse, src/fuse.c). A layer that is a per-channel affine map
     * of its input in evaluation mode (batch norm) gives it: y[c] = scale[c] x[c] + shift[c],
     * from its parameters w and state s. */
    void (*affine)(const cnn_node *n, const float *w, const float *s, double *scale,
                   double *shift);
    /* A layer that a producer can apply in itself: its name as the producer's act= value. */
    const char *fused_act;
    /* A producer (conv2d) that can absorb what follows it: writes into args the hyper-
     * parameters of the layer that computes act(scale y + shift) from its input, y being its
     * own output (scale and shift may be NULL: none; act NULL: none), and the parameters of
     * that layer, from its own w, into params (room for n_params + its output channels).
     * Returns 0, or -1 when it cannot (it applies an activation already). */
    int (*fold)(const cnn_node *n, const float *w, const double *scale, const double *shift,
                const char *act, char *args, size_t args_size, float *params);
    /* A layer with an 8-bit form (cnn_net_quantize, src/quantize.c): writes into args its
     * hyper-parameters for inputs quantised over the range [lo, hi] seen in calibration.
     * Returns 0, or -1 when it cannot (its sums would not fit 32 bits). */
    int (*quantize)(const cnn_node *n, float lo, float hi, char *args, size_t args_size);
} cnn_layer_type;

#define CNN_LAYER_MAX_TENSORS 8

struct cnn_node {
    const cnn_layer_type *type;
    char name[CNN_NAME_MAX];
    int index;
    int n_in;
    cnn_node *in[CNN_MAX_INPUTS];
    void *params;       /* the layer's hyper-parameter struct (type->params_size bytes) */
    cnn_shape shape;    /* output shape of one sample */
    size_t n_params, param_off; /* slice of net->params / net->grads */
    size_t n_state, state_off;  /* slice of net->state */
    /* Set by cnn_net_prepare: */
    float *y, *dy;      /* output and its gradient, max_batch samples */
    void *saved;        /* saved_bytes(max_batch) bytes kept from forward to backward */
    float *w, *dw, *s;  /* views into the flat buffers (refreshed by prepare) */
    int dy_written;     /* backward: dy holds this pass's gradient (or its first part) */
    int argmax_read;    /* a later layer's forward reads this max pooling's argmax (pool.h) */
};

/* Batch statistics summed over the ranks of a data-parallel run (cfg.sync_bn): the sum the
 * trainer installs with cnn_net_set_batch_sync; the first failure of a pass is kept here and
 * ends the pass with its message. */
typedef struct cnn_batch_sync {
    cnn_status (*sum)(void *user, double *values, size_t count, char *err, size_t errlen);
    void *user;
    int ranks;
    cnn_status status;
    char err[256];
} cnn_batch_sync;
/* Installs (sum non-NULL) or removes the sum batch norm uses in training passes. */
void cnn_net_set_batch_sync(cnn_net *net, const cnn_batch_sync *sync);
/* For layers: sums count doubles over the ranks in place; on failure records it in sync. */
void cnn_batch_sync_sum(cnn_batch_sync *sync, double *values, size_t count);

/* Called during backward passes after each layer's (the layers go from the last down to 0),
 * with its index: that layer's parameter gradients are final. NULL removes it. */
typedef void (*cnn_layer_done_fn)(void *user, int layer);
void cnn_net_set_backward_hook(cnn_net *net, cnn_layer_done_fn fn, void *user);

/* What a layer's forward and backward may use besides its node. */
struct cnn_ctx {
    cnn_net *net;
    int batch;     /* samples in this pass (<= max_batch) */
    int training;
    int threads;
    cnn_workers *workers; /* the network's threads (NULL: one) */
    int reference; /* use the reference kernels */
    void *work;    /* the shared scratch of work_bytes: work_size bytes */
    size_t work_size;
    /* Each thread's own scratch: thread_work_size bytes for worker w at cnn_thread_work. */
    char *thread_work;
    size_t thread_work_size, thread_stride;
    cnn_rng *rng;  /* the network's generator (dropout) */
    int guided;    /* backward: relu passes only positive gradients (guided backprop) */
    /* backward: this layer's inputs are all input layers and their gradient is not wanted
     * (cnn_net_set_input_grads(net, 0)): layers that can skip computing it do */
    int skip_dx;
    /* backward: bit k set when in[k]->dy holds nothing of this pass yet; a layer whose type
     * has writes_fresh writes every element of it (=) rather than adding. An input given twice
     * has its bit only at its first place, and the layer handles its inputs in order of k. */
    unsigned fresh;
    cnn_batch_sync *sync; /* training with cfg.sync_bn: sum batch statistics over the ranks */
};

/* The context of a pass of net at its current batch (forward, backward, or a layer's work
 * between passes, such as cnn_net_pool_indices finding an argmax). */
cnn_ctx cnn_net_ctx(cnn_net *net);

/* Worker w's own scratch (cnn_work's `each`): the same address in every layer's calls. */
static inline void *cnn_thread_work(const cnn_ctx *c, int worker) {
    return c->thread_work + (size_t)worker * c->thread_stride;
}

/* A network's preprocessing (cnn_net_set_preprocess): the public view points into the
 * copies this owns. Unset (set == 0): cnn_net_preprocess describes the defaults. */
typedef struct cnn_prep {
    cnn_preprocess pub;
    float *mean, *std; /* channels each, or NULL */
    char **names;      /* pub.classes names, or NULL */
    int set;
} cnn_prep;

struct cnn_net {
    cnn_node **nodes;
    int n_nodes, cap_nodes;
    /* Names to layers in O(1) (cnn_net_find): open addressing with linear probing over
     * name_slots (a power of two, twice cap_nodes), each slot a layer index + 1 or 0 (empty).
     * Layers are never removed, so slots are only ever filled. */
    int *name_index;
    int name_slots;
    /* Per layer type (registry order), where the search for a free automatic name "type_K"
     * starts: names are never freed, so the first free K of a type only grows. */
    int *auto_next;
    /* Set while a checkpoint's definition is read: layers get their sizes and offsets but no
     * parameter or state memory, which cnn_net_alloc_params makes once the file is known to
     * hold that many values. */
    int defer_params;
    /* A replica (cnn_net_replica): params, grads and state are another's, never freed here. */
    int replica;
    int output;          /* index of the output node */
    int inputs[CNN_MAX_INPUTS], n_inputs;
    float *params, *grads, *state;
    size_t n_params, n_state;
    size_t cap_params, cap_grads, cap_state; /* allocated lengths */
    cnn_rng rng;
    int threads, reference, training;
    /* Counts the times the weights may have changed: every cnn_net_params, cnn_net_state and
     * cnn_net_prepare call. Layers that keep what they derive from their weights between
     * passes without comparing the weights (quantised convolutions) remake it when it moves. */
    uint64_t weights_gen;
    cnn_workers *workers;     /* threads-1 workers, started by cnn_net_prepare */
    int no_input_grads;       /* cnn_net_set_input_grads(net, 0) */
    int max_batch, batch;     /* prepared capacity and the batch of the last forward */
    int forward_done;
    void *arena;              /* all activations, gradients and saved tensors */
    void *work;               /* the layers' scratch (cnn_work): the shared part, then each
                               * thread's, thread_stride bytes apart */
    size_t work_size, thread_work_size, thread_stride;
    cnn_log_fn log;
    void *log_user;
    cnn_prep prep;
    cnn_batch_sync sync;      /* sync.sum NULL: none */
    cnn_layer_profile *prof;  /* cnn_net_set_profiling: n_prof layers' counts, NULL: off */
    int n_prof, profiling;
    cnn_layer_done_fn layer_done; /* cnn_net_set_backward_hook */
    void *layer_done_user;
    char class_name[16]; /* cnn_net_class_name of a network without names */
    char err[1024];
};

/* The most parameters (and, apart, state values) a network may have: the byte counts of
 * its flat buffers, and of a checkpoint's sections, then never overflow a size_t. */
#define CNN_MAX_VALUES (SIZE_MAX / 16)

/* The profiler's bracket around one layer's forward or backward work (src/profile.c): begin
 * notes the clock and the pool's counts when profiling is on, end adds the difference to the
 * layer's counts. */
typedef struct cnn_prof_mark {
    uint64_t t0;
    cnn_pool_stats pool;
} cnn_prof_mark;
void cnn_prof_begin(const cnn_net *net, cnn_prof_mark *m);
void cnn_prof_end(cnn_net *net, int layer, int backward, const cnn_prof_mark *m);

/* Makes room for `layers` layers (nodes and the name index) at once; NO_MEMORY with the
 * network's message when memory runs out. */
cnn_status cnn_net_reserve_layers(cnn_net *net, int layers);

/* A network whose layers were added with defer_params set: allocates its flat buffers at
 * their final sizes, zeroed (the weights are not initialised: the caller fills them), and
 * clears defer_params. NO_MEMORY with the network's message when memory runs out. */
cnn_status cnn_net_alloc_params(cnn_net *net);

/* The gradient buffer, made (zeroed) at its first need: backward passes, cnn_net_grads, a
 * trainer. Networks used only for inference never hold one (as much memory as their
 * parameters). NO_MEMORY or STATE (a replica, a deferred network) with the network's message. */
cnn_status cnn_net_need_grads(cnn_net *net);

/* cnn_net_from_text without parameter memory (defer_params set): the layers, their shapes
 * and sizes, for a reader that checks what a file holds before allocating what it promises. */
cnn_status cnn_net_plan_text(const char *text, const char *source, cnn_net **out, char *err,
                             size_t errlen);

/* Replicas: networks with another's layers for passes run side by side on parts of a batch
 * (the trainer's micro-batches, src/train/trainer_micro.c). A replica has its own activations
 * for up to max_batch samples and runs on one thread; it owns no parameters, gradients or
 * state: cnn_net_replica_bind points it at net's parameters and state (read by its passes,
 * never written: no layer of a network that needs the whole batch may be in it) and at a
 * gradient buffer of net's n_params floats, which its backward passes add into. Bind before
 * each pass: net's buffers move when layers are added. Free it with cnn_net_free. */
cnn_status cnn_net_replica(cnn_net *net, int max_batch, cnn_net **out);
void cnn_net_replica_bind(cnn_net *rep, const cnn_net *net, float *grads);
/* The first layer whose type has whole_batch set, or -1. */
int cnn_net_whole_batch_layer(const cnn_net *net);

/* Opens path for reading (*out, "rb") when it is a regular file, and its length into *size
 * (when size is not NULL). A folder, a FIFO, a device or a socket is refused at once, with
 * "PATH: is a directory, not WHAT" (what: "a checkpoint", ...); a FIFO never blocks the
 * caller (src/io/open.c). When open() fails, errno is still its error (ENOENT: missing). */
cnn_status cnn_open_regular(const char *path, const char *what, FILE **out, size_t *size,
                            char *err, size_t errlen);

/* Atomic files (src/io/atomic.c): cnn_atomic_open creates the temporary file beside path
 * (its name into tmp); cnn_atomic_close flushes it to disk and renames it over path, or, when
 * failed is set or anything fails, removes it and reports with path's name. */
FILE *cnn_atomic_open(const char *path, char *tmp, size_t tmp_size, char *err, size_t errlen);
cnn_status cnn_atomic_close(FILE *f, const char *tmp, const char *path, int failed, char *err,
                            size_t errlen);
cnn_status cnn_write_file_atomic(const char *path, const void *data, size_t size, char *err,
                                 size_t errlen);

/* Losses over part of a batch (src/loss.c), for the trainer's micro-batches: the sum of the
 * part's losses (in double) into *total, and each element's gradient times scale into grad
 * (when not NULL) - for a mean over a whole batch of D elements, scale = 1 / D gives each
 * gradient the bits the whole batch's call gives it. cnn_loss_cross_entropy_smoothed,
 * cnn_loss_mse and cnn_loss_bce_logits are these over the whole batch with scale 1 / D and the
 * loss (float)(total * scale). labels_b and mix: mixed targets as cnn_ce_options's (NULL:
 * none). SHAPE for an empty part; INVALID_ARGUMENT for a label outside
 * [0, classes), smoothing outside [0, 1) or a BCE target outside [0, 1]. */
cnn_status cnn_loss_ce_part(const float *logits, const int32_t *labels, int count, int classes,
                            int pixels, float smoothing, const int32_t *labels_b,
                            const float *mix, double scale, double *total, float *grad);
cnn_status cnn_loss_mse_part(const float *pred, const float *target, size_t count,
                             double scale, double *total, float *grad);
cnn_status cnn_loss_bce_part(const float *logits, const float *target, size_t count,
                             double scale, double *total, float *grad);

/* A well-mixed 64-bit value from two (src/core/rng.c): every seed derived from another. */
uint64_t cnn_seed_mix(uint64_t a, uint64_t b);

/* Preprocessing in checkpoints (src/train/preprocess.c): the "PREP" section's bytes, a buffer
 * to free (NULL when memory runs out); and the network's preprocessing from those bytes, or
 * from the metadata of a checkpoint written before the section existed (its mean=, std= and
 * classes= lines; bytes NULL). Errors go to the network's message. */
unsigned char *cnn_prep_encode(const cnn_net *net, size_t *size);
/* The same bytes for a preprocessing given as the public struct (compare two for equality). */
unsigned char *cnn_prep_bytes(const cnn_preprocess *p, size_t *size);
cnn_status cnn_prep_decode(cnn_net *net, const unsigned char *bytes, size_t size,
                           const char *meta);
/* Applies p to n samples x of shape in: blur, Sobel, normalisation (scratch: 2 samples'
 * floats, used only by blur and Sobel). */
/* Runs count preprocessed samples x forward and returns the score layer's outputs for them:
 * the layer's own, or with test-time augmentation (p->hflip_tta, p->tta_shift,
 * p->tta_diagonal) the mean of those of each view (x then holds the last view, and tta,
 * cnn_prep_tta_floats of room, the mean and the views' source). NULL after an error (*st set). */
const float *cnn_prep_scores(cnn_net *net, const cnn_preprocess *p, float *x, int count,
                             int score, float *tta, cnn_status *st);
/* Floats of the tta buffer of cnn_prep_scores for count samples of in_numel floats each and
 * scores of out_numel: 0 without test-time augmentation. */
size_t cnn_prep_tta_floats(const cnn_preprocess *p, int count, size_t in_numel,
                           size_t out_numel);
void cnn_prep_apply(const cnn_preprocess *p, const cnn_shape *in, float *x, int n,
                    float *scratch);
/* Whether ds fits the network for the task of pp, the loss read at layer score (the output,
 * or a final softmax's input): input shape, targets of the task, output shape. A mismatch is
 * CNN_STATUS_SHAPE with the network's message naming the shapes (src/train/evaluate.c). */
cnn_status cnn_check_fit(cnn_net *net, const cnn_dataset *ds, const cnn_preprocess *pp,
                         int score);
/* Frees the copies the network holds. */
void cnn_prep_clear(cnn_prep *p);

/* Sets the network's error message (printf-style), logs it, returns status. */
cnn_status cnn_error(cnn_net *net, cnn_status status, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* The same, prefixed with the layer's type and name: "conv2d 'c1': ..." */
cnn_status cnn_node_error(cnn_net *net, const cnn_node *n, cnn_status status, const char *fmt,
                          ...) __attribute__((format(printf, 4, 5)));

/* For functions that report into a caller's buffer instead of a network (loaders, pictures,
 * the zoo): writes the printf-style message into err (when err and errlen are non-zero;
 * always NUL-terminated) and returns status, so that they can `return cnn_set_error(...)`. */
cnn_status cnn_set_error(char *err, size_t errlen, cnn_status status, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* Whether two shapes are the same: rank and every size. */
int cnn_shape_same(const cnn_shape *a, const cnn_shape *b);

/* The number of elements of one sample of the node's output. */
static inline size_t cnn_node_numel(const cnn_node *n) { return cnn_shape_numel(&n->shape); }

/* v limited to [lo, hi]. */
static inline int cnn_clampi(int v, int lo, int hi) { return v < lo ? lo : v > hi ? hi : v; }

/* cnn_add, also giving the 0-based column in args of a bad key or value (-1 when the error is
 * not in args), for readers of network files. */
cnn_status cnn_add_at(cnn_net *net, const char *type, const char *name, const char *inputs,
                      const char *args, int *err_col);

/* Gives layer n new hyper-parameters (all of them, as cnn_add takes them) that keep its
 * output shape and its parameter and state sizes, its values untouched; the network is then
 * unprepared (cnn_net_prepare again). On error n is as it was (src/graph.c). */
cnn_status cnn_node_set_args(cnn_net *net, cnn_node *n, const char *args);

/* Registry (src/layers/registry.c). */
const cnn_layer_type *cnn_layer_find(const char *name);
int cnn_layer_count(void);
const cnn_layer_type *cnn_layer_at(int index);

/* Every allocation of the library goes through these (aligned to CNN_ALIGN; NULL when memory
 * runs out or the size overflows, checked by the callers); free() releases them. Blocks of 4 MiB
 * and more are rounded up to whole 2 MiB pages and advised to be backed by huge pages
 * (status.c). */
void *cnn_alloc(size_t bytes);
void *cnn_calloc(size_t count, size_t size);
void *cnn_realloc(void *p, size_t bytes); /* p's contents kept; not aligned; p kept on NULL */
void cnn_free(void *p);
/* Test hook: the n-th allocation from now (n >= 1) fails, as if memory had run out; 0 turns
 * it off. Returns how many allocations the previous setting still had to go before its failure
 * (0: it fired, or was off). Global on purpose, for tests only (tests/test_alloc.c): it lets a
 * test fail every allocation of an operation in turn and check that each failure is reported
 * and leaks nothing. */
long cnn_fail_alloc_after(long n);

#endif /* CNN_INTERNAL_H */
